//! The committed reports in reports/ must match a fresh run of every bundled
//! scenario, so they never go stale. Regenerate them with
//! `for f in scenarios/*.json; do cargo run --release -- run "$f" --quiet; done`.

use std::path::Path;

use meshsim::report;
use meshsim::scenario;
use meshsim::world;

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
        // The instances' series is streamed only (it is not kept for
        // charts): record it while running.
        let instances = Shared::default();
        let mut csv = report::timeseries::CsvRecorder::new(
            Shared::default(),
            Shared::default(),
            Shared::default(),
        )
        .with_instances(instances.clone());
        let outcome = world::run_streaming(&scenario, scenario.scenario().seed, None, &mut csv);
        csv.finish().expect("a buffer never fails");
        let (summary, _) = report::files(&scenario, scenario.scenario().seed, &outcome);
        let committed_path = Path::new("reports")
            .join(&scenario.scenario().name)
            .join("summary.json");
        let committed = std::fs::read_to_string(&committed_path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run `cargo run --release -- run {}`",
                committed_path.display(),
                path.display()
            )
        });
        assert!(
            committed == summary.to_json(),
            "{} is stale: run `cargo run --release -- run {}` and commit the result",
            committed_path.display(),
            path.display()
        );
        // Every time-series file, and no file of the old layout.
        let report = Path::new("reports").join(&scenario.scenario().name);
        for (name, fresh) in report::timeseries::to_csv(&outcome) {
            let series_path = report.join(name);
            let series = std::fs::read_to_string(&series_path)
                .unwrap_or_else(|e| panic!("{}: {e}", series_path.display()));
            assert!(
                series == fresh,
                "{} is stale: regenerate it with `cargo run --release -- run {}`",
                series_path.display(),
                path.display()
            );
        }
        let instances_path = report.join(report::timeseries::INSTANCES.name);
        if world::reports_instances(&scenario) {
            let fresh = String::from_utf8(instances.0.borrow().clone()).expect("UTF-8");
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
                "{}: this scenario reports no instances",
                instances_path.display()
            );
        }
        assert!(
            !report.join("timeseries.csv").exists(),
            "{}: timeseries.csv is from before series/: regenerate the report",
            report.display()
        );
    }
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
