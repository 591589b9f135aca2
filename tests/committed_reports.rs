//! The committed reports in reports/ must match a fresh run of every bundled
//! scenario, so they never go stale. Regenerate them with
//! `for f in scenarios/*.json; do cargo run --release -- run "$f" --quiet; done`.
//!
//! A failure says what differs: a report written with another `--seed`
//! (running a bundled scenario with `--seed 7` rewrites its committed
//! report) is named as such, with the two ways back; any other difference
//! names the first line that differs.

use std::path::Path;

use meshsim::report;
use meshsim::scenario;
use meshsim::world;

/// The `seed` of a summary.json, if it has one.
fn seed_of(summary: &str) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_str(summary).ok()?;
    value.get("seed")?.as_u64()
}

/// Why `committed` (the file at `path`, in `report`) is not `fresh`, the
/// file a run of `scenario` with its own `seed` writes.
fn stale(
    path: &Path,
    report: &Path,
    scenario: &Path,
    seed: u64,
    committed: &str,
    fresh: &str,
) -> String {
    let restore = format!(
        "run `cargo run --release -- run {}` to restore it, or `git checkout {}`",
        scenario.display(),
        report.display()
    );
    if let Some(other) = seed_of(committed).filter(|s| *s != seed) {
        return format!(
            "{} was written with --seed {other}; the committed report is for the scenario's seed {seed}: {restore}",
            report.display()
        );
    }
    let first = committed
        .lines()
        .zip(fresh.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b);
    let what = match first {
        Some((i, (was, now))) => format!(
            "line {} differs: committed `{}`, a fresh run `{}`",
            i + 1,
            was.trim(),
            now.trim()
        ),
        None => format!(
            "the committed file has {} lines, a fresh run {}",
            committed.lines().count(),
            fresh.lines().count()
        ),
    };
    format!(
        "{} is stale ({what}): if meshsim's output changed on purpose, run `cargo run --release -- run {}` and commit the result; if not, {restore}",
        path.display(),
        scenario.display()
    )
}

#[test]
fn committed_summaries_match_a_fresh_run() {
    let mut paths: Vec<_> = std::fs::read_dir("scenarios")
        .expect("scenarios/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 2, "the bundled scenarios are missing");
    for path in paths {
        let scenario = scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let seed = scenario.scenario().seed;
        // The instances' series is streamed only (it is not kept for
        // charts): record it while running.
        let instances = Shared::default();
        let balance = Shared::default();
        let autoscale = Shared::default();
        let sagas = Shared::default();
        let groups = Shared::default();
        let lag = Shared::default();
        let names = report::timeseries::group_names(&scenario);
        let mut csv = report::timeseries::CsvRecorder::new(
            Shared::default(),
            Shared::default(),
            Shared::default(),
        )
        .with_instances(instances.clone())
        .with_balance(balance.clone())
        .with_autoscale(autoscale.clone())
        .with_sagas(sagas.clone())
        .with_groups(groups.clone(), names.clone())
        .with_lag(lag.clone(), names);
        // A workload with declared clients streams their rows too (checked
        // below through `to_csv`, as every series file is).
        if scenario.scenario().workload.clients.is_some() {
            csv = csv.with_clients(Shared::default());
        }
        let outcome = world::run_streaming(&scenario, seed, None, &mut csv);
        csv.finish().expect("a buffer never fails");
        let (summary, _) = report::files(&scenario, seed, &outcome);
        let report = Path::new("reports").join(&scenario.scenario().name);
        let committed_path = report.join("summary.json");
        let committed = std::fs::read_to_string(&committed_path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run `cargo run --release -- run {}`",
                committed_path.display(),
                path.display()
            )
        });
        let fresh = summary.to_json();
        assert!(
            committed == fresh,
            "{}",
            stale(&committed_path, &report, &path, seed, &committed, &fresh)
        );
        // Every time-series file, and no file of the old layout.
        for (name, fresh) in report::timeseries::to_csv(&outcome) {
            let series_path = report.join(name);
            let series = std::fs::read_to_string(&series_path)
                .unwrap_or_else(|e| panic!("{}: {e}", series_path.display()));
            assert!(
                series == fresh,
                "{}",
                stale(&series_path, &report, &path, seed, &series, &fresh)
            );
        }
        let instances_reported = world::reports_instances(&scenario);
        let autoscaled = report::timeseries::writes_autoscale(&scenario);
        let orchestrated = report::timeseries::writes_sagas(&scenario);
        let consumed = report::timeseries::writes_events(&scenario);
        for (file, written, reported) in [
            (
                report::timeseries::INSTANCES,
                &instances,
                instances_reported,
            ),
            (report::timeseries::BALANCE, &balance, instances_reported),
            (report::timeseries::AUTOSCALE, &autoscale, autoscaled),
            (report::timeseries::SAGAS, &sagas, orchestrated),
            (report::timeseries::GROUPS, &groups, consumed),
            (report::timeseries::LAG, &lag, consumed),
        ] {
            let instances_path = report.join(file.name);
            if reported {
                let fresh = String::from_utf8(written.0.borrow().clone()).expect("UTF-8");
                let series = std::fs::read_to_string(&instances_path)
                    .unwrap_or_else(|e| panic!("{}: {e}", instances_path.display()));
                assert!(
                    series == fresh,
                    "{} is stale: regenerate it with `cargo run --release -- run {}`",
                    instances_path.display(),
                    path.display()
                );
            } else {
                assert!(
                    !instances_path.exists(),
                    "{}: this scenario writes no such file",
                    instances_path.display()
                );
            }
        }
        assert!(
            !report.join("timeseries.csv").exists(),
            "{}: timeseries.csv is from before series/: regenerate the report",
            report.display()
        );
    }
}

/// The messages themselves: a report of another seed is called that, not
/// stale; any other difference names its first line.
#[test]
fn a_report_of_another_seed_is_named_as_such() {
    let (path, report, scenario) = (
        Path::new("reports/shop/summary.json"),
        Path::new("reports/shop"),
        Path::new("scenarios/shop.json"),
    );
    let message = stale(
        path,
        report,
        scenario,
        1,
        "{\n  \"seed\": 7,\n  \"events\": 3\n}\n",
        "{\n  \"seed\": 1,\n  \"events\": 4\n}\n",
    );
    assert_eq!(
        message,
        "reports/shop was written with --seed 7; the committed report is for the scenario's seed 1: \
         run `cargo run --release -- run scenarios/shop.json` to restore it, or `git checkout reports/shop`"
    );
    let message = stale(
        path,
        report,
        scenario,
        1,
        "{\n  \"seed\": 1,\n  \"events\": 3\n}\n",
        "{\n  \"seed\": 1,\n  \"events\": 4\n}\n",
    );
    assert!(
        message.starts_with(
            "reports/shop/summary.json is stale (line 3 differs: committed `\"events\": 3`, a fresh run `\"events\": 4`)"
        ),
        "{message}"
    );
    // A CSV has no seed: only the summary can say which seed wrote it.
    let message = stale(path, report, scenario, 1, "t,a\n1,2\n", "t,a\n1,3\n");
    assert!(message.contains("line 2 differs"), "{message}");
}

/// A writer into a buffer the test keeps.
#[derive(Clone, Default)]
struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
