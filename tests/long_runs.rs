//! Runs with more windows than the charts keep: the `series/*.csv` files
//! must still have every window (they are streamed), their rows must add up
//! to the summary's totals, and the in-memory copy for charts must be
//! bounded and merged without losing a count.

use std::process::Command;

use meshsim::metrics::{EntityKind, each_row};
use meshsim::report::{self, timeseries};
use meshsim::scenario;
use meshsim::world;

const BIN: &str = env!("CARGO_BIN_EXE_meshsim");

/// M/M/1 with a client route and a policy-less call, at 1 ms windows for
/// 6 s: 6,000 windows of 4 rows (route, two services, one edge).
const SCENARIO: &str = r#"{
  "name": "long",
  "duration": "6s",
  "window": "1ms",
  "seed": 5,
  "services": {
    "front": {"service_time": {"exponential": {"mean": "200us"}},
              "calls": [{"service": "back"}]},
    "back": {"service_time": {"exponential": {"mean": "500us"}}}
  },
  "workload": {"arrivals": {"poisson": {"rate": 1000}}, "routes": [{"service": "front"}]}
}"#;

const WINDOWS: usize = 6_000;

/// Streams a run of `scenario` into the three files, as the CLI does.
fn stream(scenario: &scenario::Compiled) -> (world::RunOutcome, [(String, u64); 3]) {
    let mut csv = timeseries::CsvRecorder::new(Vec::new(), Vec::new(), Vec::new());
    let run = world::run_streaming(scenario, scenario.scenario().seed, None, &mut csv);
    let (files, clients) = csv.finish().expect("a Vec never fails");
    assert!(clients.is_none(), "no clients declared, no clients.csv");
    let files = files.map(|(bytes, rows)| (String::from_utf8(bytes).unwrap(), rows));
    (run, files)
}

/// The sum of one column over a file's rows.
fn column_sum(file: &timeseries::SeriesFile, text: &str, column: &str) -> u64 {
    let index = file
        .header
        .split(',')
        .position(|c| c == column)
        .unwrap_or_else(|| panic!("no column {column} in {}", file.name));
    text.lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            cells[index]
                .parse::<u64>()
                .unwrap_or_else(|e| panic!("{}: {column} in {l:?}: {e}", file.name))
        })
        .sum()
}

#[test]
fn every_window_is_streamed_and_the_chart_copy_is_bounded() {
    let scenario = scenario::parse(SCENARIO, "long.json").expect("valid");
    let mut names = Vec::new();
    world::run_streaming(
        &scenario,
        scenario.scenario().seed,
        None,
        &mut each_row(|name, row| {
            if row.start.as_nanos() == 0 {
                names.push(name.to_string());
            }
        }),
    );
    assert_eq!(
        names,
        ["front", "back", "front", "front->back"],
        "route, services by name, edges"
    );
    let (run, files) = stream(&scenario);
    // One route, two services, one edge: every window in each file.
    for ((file, (text, rows)), entities) in timeseries::FILES.iter().zip(&files).zip([1, 2, 1]) {
        assert_eq!(*rows as usize, WINDOWS * entities, "{}", file.name);
        assert_eq!(
            text.lines().count(),
            1 + WINDOWS * entities,
            "{}",
            file.name
        );
        assert_eq!(text.lines().next(), Some(file.header));
    }

    // The streamed rows add up to the run's totals, column by column.
    let [(routes, _), (services, _), (edges, _)] = &files;
    let route = &run.routes[0].total;
    assert!(route.requests > 5_000, "{}", route.requests);
    let f = &timeseries::ROUTES;
    assert_eq!(column_sum(f, routes, "requests"), route.requests);
    assert_eq!(column_sum(f, routes, "successes"), route.successes);
    assert_eq!(column_sum(f, routes, "timeout"), route.timeouts);
    assert_eq!(
        column_sum(f, routes, "attempts"),
        run.edge_stats[0].total.attempts
    );
    let f = &timeseries::SERVICES;
    let service_total: u64 = run.services.iter().map(|s| s.total.requests).sum();
    assert_eq!(column_sum(f, services, "requests"), service_total);
    let calls: u64 = run.services.iter().map(|s| s.total.calls).sum();
    assert_eq!(column_sum(f, services, "calls"), calls);
    let f = &timeseries::EDGES;
    assert_eq!(
        column_sum(f, edges, "calls"),
        run.edge_stats[1].total.requests
    );
    assert_eq!(
        column_sum(f, edges, "successes"),
        run.edge_stats[1].total.successes
    );
    let route_total = route.requests;
    let per_window = names.len();

    // The copy kept for charts: merged (6,000 windows > 2,048), bounded,
    // contiguous, and with the same totals.
    assert!(run.rows_merged > 1, "{}", run.rows_merged);
    assert!(run.rows.len() <= 2_048 * per_window, "{}", run.rows.len());
    let kept: u64 = run
        .rows
        .iter()
        .filter(|r| r.kind == EntityKind::Route)
        .map(|r| r.counts.requests)
        .sum();
    assert_eq!(kept, route_total);
    let routes: Vec<_> = run
        .rows
        .iter()
        .filter(|r| r.kind == EntityKind::Route)
        .collect();
    assert_eq!(routes.first().unwrap().start.as_nanos(), 0);
    assert_eq!(routes.last().unwrap().end, run.end);
    assert!(routes.windows(2).all(|w| w[0].end == w[1].start));
}

#[test]
fn the_cli_writes_the_whole_series_of_a_long_run() {
    let dir = std::env::temp_dir().join(format!("meshsim-long-runs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("long.json");
    std::fs::write(&file, SCENARIO).unwrap();
    let out = dir.join("report");
    let output = Command::new(BIN)
        .arg("run")
        .arg(&file)
        .arg("--quiet")
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run meshsim");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The same run through the library gives the same bytes.
    let scenario = scenario::parse(SCENARIO, "long.json").unwrap();
    let (run, files) = stream(&scenario);
    for (file, (text, _)) in timeseries::FILES.iter().zip(&files) {
        let written = std::fs::read_to_string(out.join(file.name)).unwrap();
        assert!(written == *text, "{} differs from the library's", file.name);
    }
    assert_eq!(files[0].0.lines().count(), 1 + WINDOWS);
    let (summary, _) = report::files(&scenario, scenario.scenario().seed, &run);
    assert_eq!(
        std::fs::read_to_string(out.join("summary.json")).unwrap(),
        summary.to_json()
    );
    assert!(out.join("charts/latency.png").exists());
    // Nothing is left beside the report (the temporary directory is gone).
    let mut entries: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, ["long.json", "report"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Regression: a run that goes idle at a window boundary (or stops at its
/// event budget there) after counting events at that instant. The window
/// that closed at the boundary does not hold them, and no later row was
/// written, so the time series (streamed and kept) missed them while the
/// summary counted them; now a zero-width last window holds them.
///
/// Constant arrivals every 100 ms stop after the one at 2.0 s (a window
/// boundary); the backend answers at once; nothing is left to do, so the
/// run goes idle at 2.0 s, just after the window [1 s, 2 s] closed.
const IDLE_AT_A_BOUNDARY: &str = r#"{
  "name": "idle", "duration": "2.5s", "window": "1s",
  "services": {"back": {"service_time": {"constant": "0s"}}},
  "workload": {"arrivals": {"constant": {"rate": 10}},
               "schedule": [{"at": "2.05s", "rate": 0}],
               "routes": [{"service": "back"}]}
}"#;

/// Runs [`IDLE_AT_A_BOUNDARY`]: the stop reason, the route's total requests,
/// and the requests in its streamed and in its kept rows.
fn requests_by_source(budget: Option<u64>) -> (world::RunOutcome, u64, u64, u64) {
    let scenario = scenario::parse(IDLE_AT_A_BOUNDARY, "idle.json").expect("valid");
    let mut streamed = 0u64;
    let run = world::run_streaming(
        &scenario,
        scenario.scenario().seed,
        budget,
        &mut each_row(|_, row| {
            if row.kind == EntityKind::Route {
                streamed += row.counts.requests;
            }
        }),
    );
    let total: u64 = run.routes.iter().map(|r| r.total.requests).sum();
    let kept: u64 = run
        .rows
        .iter()
        .filter(|r| r.kind == EntityKind::Route)
        .map(|r| r.counts.requests)
        .sum();
    (run, total, streamed, kept)
}

#[test]
fn a_run_idle_at_a_window_boundary_streams_every_count() {
    let (run, total, streamed, kept) = requests_by_source(None);
    assert_eq!(run.stop, meshsim::kernel::StopReason::Idle);
    assert_eq!(total, 20);
    assert_eq!(streamed, total, "the streamed rows add up to the summary");
    assert_eq!(kept, total, "the chart rows add up to the summary");
}

/// The same at the event budget: 2 events per request (its arrival, the end
/// of its service), and the window event at 1 s comes before the arrival
/// at 1 s, the 20th event.
#[test]
fn a_run_stopped_by_its_budget_at_a_window_boundary_streams_every_count() {
    let (run, total, streamed, kept) = requests_by_source(Some(20));
    assert_eq!(run.stop, meshsim::kernel::StopReason::EventBudget);
    assert_eq!(total, 10);
    assert_eq!(streamed, total, "the streamed rows add up to the summary");
    assert_eq!(kept, total, "the chart rows add up to the summary");
}

/// Regression: a run whose traffic stopped before its horizon once ended
/// at its last window boundary, so `duration_s`, goodput and every time
/// average depended on the window width (window 1 s gave 59 s and goodput
/// 33.0/s, window 30 s gave 30 s and 65.0/s, for the same 1,949 successes).
/// An idle system is still observed: the run ends at its horizon.
#[test]
fn an_idle_run_is_observed_to_its_horizon_whatever_the_window() {
    let mut results = Vec::new();
    for window in ["1s", "7s", "30s"] {
        let text = format!(
            r#"{{
  "name": "idle", "duration": "60s", "window": "{window}", "seed": 3,
  "services": {{"s": {{"service_time": {{"constant": "1ms"}}}}}},
  "workload": {{"arrivals": {{"poisson": {{"rate": 100}}}},
               "schedule": [{{"at": "20s", "rate": 0}}],
               "routes": [{{"service": "s"}}]}}
}}"#
        );
        let scenario = scenario::parse(&text, "idle.json").expect("valid");
        let seed = scenario.scenario().seed;
        let run = world::run(&scenario, seed, None);
        let (summary, _) = report::files(&scenario, seed, &run);
        let json: serde_json::Value = serde_json::from_str(&summary.to_json()).unwrap();
        assert_eq!(json["duration_s"], 60.0, "window {window}");
        let successes = run.routes[0].total.successes;
        assert!((1_800..2_200).contains(&successes), "{successes}");
        // The last window ends at the horizon too.
        let series = timeseries::to_csv(&run);
        assert_eq!(series[0].0, "series/routes.csv");
        let last = series[0].1.lines().last().unwrap().to_string();
        assert_eq!(last.split(',').nth(1), Some("60.000000"), "{last}");
        results.push((successes, json["services"]["s"]["utilisation"].clone()));
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
}
