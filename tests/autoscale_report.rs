//! What an autoscaled run reports, end to end: summary.json's `autoscale`
//! block (and its utilisation over the instances run, not the slots),
//! `series/autoscale.csv`, the chart and the page's table; and that a run
//! without an autoscaler gets none of them.

use meshsim::report;
use meshsim::scenario;
use meshsim::world;

/// `front` (called by the route) calling `back`, both autoscaled between 2
/// and 4 instances of 4 workers, and a plain `audit` called by `back`: 60 s
/// of 1 s windows at `rate` requests per second, each taking `service`
/// at `front` and 1 ms elsewhere.
fn scenario(rate: u32, service: &str, autoscaled: bool) -> scenario::Compiled {
    let scaling = |max: u32| {
        if autoscaled {
            format!(
                r#", "boot_time": {{"constant": "5s"}},
                   "discovery": {{"health_check": {{"interval": "1s", "timeout": "500ms"}}, "refresh": "1s"}},
                   "autoscale": {{"target": {{"utilization_percent": 60}}, "min_instances": 2, "max_instances": {max}}}"#
            )
        } else {
            String::new()
        }
    };
    let source = format!(
        r#"{{"name": "autoscaled", "duration": "60s", "window": "1s", "seed": 5,
            "services": {{
              "front": {{"instances": 2, "concurrency": 4, "queue_capacity": 500,
                         "service_time": {{"constant": "{service}"}},
                         "calls": [{{"service": "back"}}]{front}}},
              "back": {{"instances": 2, "concurrency": 4, "service_time": {{"constant": "1ms"}},
                        "calls": [{{"service": "audit"}}]{back}}},
              "audit": {{"instances": 1, "concurrency": 4, "service_time": {{"constant": "1ms"}}}}
            }},
            "workload": {{"arrivals": {{"poisson": {{"rate": {rate}}}}},
                          "routes": [{{"service": "front"}}], "timeout": "5s"}}}}"#,
        front = scaling(4),
        back = scaling(4),
    );
    scenario::parse(&source, "autoscaled.json").unwrap_or_else(|e| panic!("{e}"))
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
/// `series/autoscale.csv` (empty when the CLI would not write it).
struct Written {
    summary: serde_json::Value,
    charts: Vec<String>,
    page: String,
    csv: String,
}

fn run(compiled: &scenario::Compiled) -> Written {
    let autoscale = Shared::default();
    let mut csv = report::timeseries::CsvRecorder::new(
        Shared::default(),
        Shared::default(),
        Shared::default(),
    );
    if report::timeseries::writes_autoscale(compiled) {
        csv = csv.with_autoscale(autoscale.clone());
    }
    let seed = compiled.scenario().seed;
    let outcome = world::run_streaming(compiled, seed, None, &mut csv);
    csv.finish().expect("a buffer never fails");
    let (summary, _) = report::files(compiled, seed, &outcome);
    let charts = report::charts::render(&outcome, compiled.scenario()).unwrap();
    let page = report::html::page(
        &summary,
        compiled.scenario(),
        "meshsim run autoscaled.json",
        &charts,
    );
    Written {
        summary: serde_json::from_str(&summary.to_json()).unwrap(),
        charts: charts.into_iter().map(|(n, _)| n).collect(),
        page,
        csv: String::from_utf8(autoscale.0.borrow().clone()).unwrap(),
    }
}

/// A light load: nothing scales (the metric is under its target, and
/// `min_instances` holds the count at 2), so each autoscaler syncs at 0 s
/// and every 15 s before the horizon, runs 2 instances throughout, and its
/// service's utilisation is over those 2, not its 4 slots.
#[test]
fn an_autoscaler_that_never_scales_reports_its_syncs_and_cost() {
    let w = run(&scenario(100, "10ms", true));
    for name in ["front", "back"] {
        let service = &w.summary["services"][name];
        let a = &service["autoscale"];
        assert!(a.is_object(), "{name}: {service}");
        // 60 s / 15 s: at 0, 15, 30 and 45 s; the run ends at the horizon
        // before a sync there (the world's behaviour today: the kernel
        // stops at `duration` without handling what is due at it). The
        // first has no metric yet (no window measured).
        assert_eq!(a["syncs"], 60 / 15, "{name}: {a}");
        assert_eq!(a["syncs_without_metric"], 1, "{name}: {a}");
        assert_eq!(a["scale_ups"], 0, "{name}: {a}");
        assert_eq!(a["scale_downs"], 0, "{name}: {a}");
        assert_eq!(a["started"], 0, "{name}: {a}");
        assert_eq!(a["stopped"], 0, "{name}: {a}");
        assert_eq!(a["changes"], serde_json::json!([]), "{name}: {a}");
        assert_eq!(
            (
                &a["min_instances"],
                &a["max_instances"],
                &a["initial_instances"]
            ),
            (&2.into(), &4.into(), &2.into()),
            "{name}: {a}"
        );
        // 2 instances × 60 s, exactly: they never change.
        assert_eq!(a["instance_seconds"], 120.0, "{name}: {a}");
        assert_eq!(a["mean_instances"], 2.0, "{name}: {a}");
        assert_eq!(a["peak_desired"], 2, "{name}: {a}");
        assert_eq!(a["peak_ready"], 2, "{name}: {a}");
        let ttc = &a["time_to_capacity"];
        assert_eq!(ttc["shortfalls"], 0, "{name}: {ttc}");
        assert!(ttc["mean_s"].is_null(), "{name}: {ttc}");
        assert_eq!(ttc["open_at_end"], 0, "{name}: {ttc}");
    }
    // Utilisation over the 2 instances run × 4 workers: the requests in
    // service (in the system, not queued: each holds a worker, also while
    // it waits for `back`) ÷ 8, not ÷ the 16 workers of the 4 slots. The
    // three figures are each rounded to 6 decimals, hence 1e-5.
    let front = &w.summary["services"]["front"];
    let utilisation = front["utilisation"].as_f64().unwrap();
    let in_service =
        front["mean_in_system"].as_f64().unwrap() - front["mean_in_queue"].as_f64().unwrap();
    assert!(
        (utilisation - in_service / 8.0).abs() < 1e-5,
        "{utilisation} against {in_service} in service: busy ÷ (2 instances × 4 workers)"
    );
    // The plain service has no block.
    assert!(w.summary["services"]["audit"].get("autoscale").is_none());
    // One row per window per autoscaled service, in service order.
    let lines: Vec<&str> = w.csv.lines().collect();
    assert_eq!(lines[0], report::timeseries::AUTOSCALE.header);
    assert_eq!(lines.len(), 1 + 60 * 2, "{}", w.csv);
    let services: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(2).unwrap())
        .collect();
    assert!(services.chunks(2).all(|pair| pair == ["back", "front"]));
    // Window 10 s to 11 s of `front`: 2 decided, 2 ready, none starting,
    // not ready, down or draining, and about 100 requests (Poisson: ±4
    // standard deviations is 60 to 140).
    let row: Vec<&str> = lines[1 + 2 * 10 + 1].split(',').collect();
    assert_eq!(
        &row[..9],
        [
            "10.000000",
            "11.000000",
            "front",
            "2",
            "0",
            "2",
            "0",
            "0",
            "0"
        ]
    );
    // The metric is the 0 s sync's: none (it measured no window yet).
    assert_eq!(row[9], "", "{row:?}");
    let requests: u64 = row[10].parse().unwrap();
    // From the 15 s sync on, its metric: utilisation in percent, under the
    // 60 % target.
    let row: Vec<&str> = lines[1 + 2 * 20 + 1].split(',').collect();
    let metric: f64 = row[9].parse().unwrap();
    assert!(metric > 0.0 && metric < 60.0, "{row:?}");
    assert!((60..=140).contains(&requests), "{requests}: Poisson 100/s");
    // The chart and the page's table.
    assert!(w.charts.contains(&"charts/autoscale.svg".to_string()));
    assert!(w.charts.contains(&"charts/autoscale.png".to_string()));
    assert!(w.page.contains("<h2>Autoscaling</h2>"));
    assert!(w.page.contains("<h3>service front</h3>"));
    assert!(w.page.contains("The count never changed"));
    assert!(w.page.contains("Autoscaled instances: the count decided"));
}

/// A load past the target: the autoscalers add instances, each change is
/// listed, the starts match them, and the shortfalls last at least the
/// 5 s boot.
#[test]
fn an_autoscaler_that_scales_up_lists_its_changes() {
    // 2 × 4 workers at 150/s of 40 ms each: 6 of 8 busy, 75 % > 60 %.
    let w = run(&scenario(150, "40ms", true));
    let a = &w.summary["services"]["front"]["autoscale"];
    let changes = a["changes"].as_array().unwrap();
    assert!(!changes.is_empty(), "{a}");
    assert_eq!(a["scale_ups"], changes.len(), "{a}");
    assert_eq!(a["decisions_dropped"], 0, "{a}");
    let mut added = 0;
    for c in changes {
        let (from, to) = (c["from"].as_u64().unwrap(), c["to"].as_u64().unwrap());
        assert!(to > from && to <= 4, "{c}");
        added += to - from;
        assert!(c["metric"].as_f64().unwrap() > 60.0, "{c}");
        assert!(c["reason"].is_string(), "{c}");
    }
    assert_eq!(a["started"], added, "{a}");
    let last = changes.last().unwrap();
    assert_eq!(a["peak_desired"], last["to"], "{a}");
    let ttc = &a["time_to_capacity"];
    let ended = ttc["shortfalls"].as_u64().unwrap();
    assert!(ended >= 1, "{ttc}");
    assert!(
        ttc["mean_s"].as_f64().unwrap() >= 5.0,
        "{ttc}: the boot time"
    );
    assert!(a["instance_seconds"].as_f64().unwrap() > 120.0, "{a}");
    // The CSV's last row of `front` has the last decided count.
    let last_row = w
        .csv
        .lines()
        .rev()
        .find(|l| l.split(',').nth(2) == Some("front"))
        .unwrap();
    assert_eq!(
        last_row.split(',').nth(3).unwrap(),
        last["to"].to_string(),
        "{last_row}"
    );
    let front_section = w.page.split("<h3>service front</h3>").nth(1).unwrap();
    let front_note = front_section.split("</p>").next().unwrap();
    assert!(
        front_note.contains(&format!("{} changes of the count", changes.len())),
        "{front_note}"
    );
}

/// No autoscaler: no block, no file, no chart, no section.
#[test]
fn a_run_without_an_autoscaler_reports_none_of_it() {
    let compiled = scenario(100, "10ms", false);
    assert!(!report::timeseries::writes_autoscale(&compiled));
    let w = run(&compiled);
    for name in ["front", "back", "audit"] {
        assert!(
            w.summary["services"][name].get("autoscale").is_none(),
            "{name}"
        );
    }
    assert!(w.csv.is_empty());
    assert!(!w.charts.iter().any(|c| c.contains("autoscale")));
    assert!(!w.page.contains("Autoscaling"));
}
