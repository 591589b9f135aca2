//! The per-instance chart and the imbalance over time, end to end: a short
//! run of a discovered service with a crash and a slowdown gets the chart
//! (on the page, with its caption), `series/balance.csv`'s figures and the
//! summary's imbalance by window; a run without a balancer or discovery
//! gets none of them.

use meshsim::report;
use meshsim::scenario;
use meshsim::world;

/// Three instances of `back` behind `front`, discovered by active checks,
/// instance 0 crashed from 4 s to 8 s and instance 2 slowed from 10 s to
/// 14 s; `discovery: false` makes `back` a plain service.
fn scenario(discovery: bool) -> scenario::Compiled {
    let discovery = if discovery {
        r#", "discovery": {"health_check": {"interval": "1s", "timeout": "500ms",
             "failures_before_critical": 2}, "refresh": "1s"}"#
    } else {
        ""
    };
    let policy = if discovery.is_empty() {
        r#"{"timeout": "250ms"}"#
    } else {
        r#"{"timeout": "250ms", "balancer": "round_robin"}"#
    };
    let source = format!(
        r#"{{"name": "chart", "duration": "16s", "window": "1s", "seed": 3,
            "policies": {{"backend": {policy}}},
            "services": {{
              "front": {{"instances": 1, "concurrency": 64, "service_time": {{"constant": "100us"}},
                         "calls": [{{"service": "back", "policy": "backend"}}]}},
              "back": {{"instances": 3, "concurrency": 4, "queue_capacity": 50,
                        "service_time": {{"exponential": {{"mean": "2ms"}}}}{discovery}}}
            }},
            "workload": {{"arrivals": {{"poisson": {{"rate": 300}}}},
                          "routes": [{{"service": "front"}}], "timeout": "2s"}},
            "faults": [
              {{"at": "4s", "for": "4s", "crash": {{"service": "back", "instance": 0}}}},
              {{"at": "10s", "for": "4s", "slowdown": {{"service": "back", "instance": 2, "factor": 6}}}}
            ]}}"#
    );
    scenario::parse(&source, "chart.json").unwrap_or_else(|e| panic!("{e}"))
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

/// What a run writes: the summary's JSON, the chart files, the page and
/// `series/balance.csv`.
fn run(compiled: &scenario::Compiled) -> (serde_json::Value, Vec<String>, String, String) {
    let balance = Shared::default();
    let mut csv = report::timeseries::CsvRecorder::new(
        Shared::default(),
        Shared::default(),
        Shared::default(),
    )
    .with_balance(balance.clone());
    let seed = compiled.scenario().seed;
    let outcome = world::run_streaming(compiled, seed, None, &mut csv);
    csv.finish().expect("a buffer never fails");
    let (summary, _) = report::files(compiled, seed, &outcome);
    let charts = report::charts::render(&outcome, compiled.scenario()).unwrap();
    let page = report::html::page(
        &summary,
        compiled.scenario(),
        "meshsim run chart.json",
        &charts,
    );
    let json = serde_json::from_str(&summary.to_json()).unwrap();
    let balance = String::from_utf8(balance.0.borrow().clone()).unwrap();
    (
        json,
        charts.into_iter().map(|(n, _)| n).collect(),
        page,
        balance,
    )
}

#[test]
fn a_discovered_service_gets_the_instance_chart_on_the_page() {
    let (summary, charts, page, balance) = run(&scenario(true));
    assert!(
        charts.contains(&"charts/instances.svg".to_string()),
        "{charts:?}"
    );
    assert!(
        charts.contains(&"charts/instances.png".to_string()),
        "{charts:?}"
    );
    assert!(page.contains("Load per instance, its imbalance and the pool"));
    assert!(page.contains("how long the crashed instance keeps its share"));
    let windows = &summary["services"]["back"]["instances"]["request_imbalance_windows"];
    // Every window had attempts; round robin spreads them evenly except
    // while instance 0 is down and still held by the callers' views or out
    // of them (then the two others share: 1.5 at most, and a little more
    // for the Poisson arrivals' odd counts).
    assert_eq!(windows["windows"], 16, "{windows}");
    let (mean, max) = (
        windows["mean"].as_f64().unwrap(),
        windows["max"].as_f64().unwrap(),
    );
    assert!(mean > 1.0 && mean < max, "{windows}");
    assert!((1.45..=1.6).contains(&max), "{windows}");
    let at = windows["max_at_s"].as_f64().unwrap();
    assert!(
        (4.0..12.0).contains(&at),
        "the largest imbalance is in the crash: {windows}"
    );
    // The summary's figures are those of series/balance.csv's column.
    let column = report::timeseries::BALANCE
        .header
        .split(',')
        .position(|c| c == "request_imbalance")
        .unwrap();
    let values: Vec<f64> = balance
        .lines()
        .skip(1)
        .filter_map(|line| line.split(',').nth(column)?.parse().ok())
        .collect();
    assert_eq!(values.len(), 16);
    let csv_mean = values.iter().sum::<f64>() / values.len() as f64;
    let csv_max = values.iter().copied().fold(0.0, f64::max);
    // Both rounded to 6 decimals.
    assert!((csv_mean - mean).abs() < 2e-6, "{csv_mean} against {mean}");
    assert!((csv_max - max).abs() < 2e-6, "{csv_max} against {max}");
}

#[test]
fn a_plain_service_gets_no_instance_chart() {
    let (summary, charts, page, balance) = run(&scenario(false));
    assert_eq!(balance.lines().count(), 1, "the header alone: {balance}");
    assert!(
        !charts.iter().any(|n| n.contains("instances")),
        "{charts:?}"
    );
    assert!(!page.contains("Load per instance"));
    assert!(summary["services"]["back"]["instances"].is_null());
}
