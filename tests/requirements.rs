//! A scenario's `requirements`: checked with located errors, judged over
//! the run's windows (sliding spans, the fault exclusion) and over its
//! summary, listed in summary.json, and turned into exit code 1 by
//! `meshsim run`.
//!
//! The scenario is deterministic to the request: constant arrivals at
//! 100/s (one every 10 ms, the first at 10 ms), a constant 1 ms service,
//! and an error fault that fails every attempt from 10 s to 15 s. So each
//! 1 s window ends 100 requests (99 in the first), all successes except in
//! the five fault windows, where each request's 3 attempts all fail. The
//! figures below follow from that by hand.

use std::process::Command;

use meshsim::report::{self, requirements::Judge, requirements::RequirementSummary};
use meshsim::scenario;
use meshsim::world;
use serde_json::{Value, json};

fn scenario(requirements: Value) -> Value {
    json!({
        "name": "req", "duration": "30s", "window": "1s",
        "policies": {"retrying": {
            "timeout": "100ms",
            "retry": {"max_attempts": 3, "backoff": {"constant": "1ms"}, "jitter": "none"},
            "budget": {"tps": {"retry_percent": 1000}}
        }},
        "services": {"api": {"concurrency": 10, "service_time": {"constant": "1ms"}}},
        "workload": {"arrivals": {"constant": {"rate": 100}},
                     "routes": [{"name": "checkout", "service": "api", "timeout": "1s",
                                 "policy": "retrying"}]},
        "faults": [{"at": "10s", "for": "5s", "errors": {"service": "api", "rate": 1}}],
        "requirements": requirements
    })
}

/// The verdicts of a run of `scenario(requirements)`.
fn verdicts(requirements: Value) -> Vec<RequirementSummary> {
    let compiled = scenario::parse(&scenario(requirements).to_string(), "t.json").expect("valid");
    assert_eq!(compiled.warnings(), [], "a sound scenario");
    let mut judge = Judge::new(&compiled);
    let outcome = world::run_streaming(&compiled, 1, None, &mut judge);
    let (summary, files) = report::judged_files(&compiled, 1, &outcome, &mut judge);
    // summary.json carries what the summary holds.
    let json: Value = serde_json::from_slice(&files[0].1).expect("summary.json");
    assert_eq!(
        json["requirements"].as_array().map(Vec::len),
        Some(summary.requirements.len())
    );
    summary.requirements
}

fn one(requirement: Value) -> RequirementSummary {
    verdicts(json!([requirement])).remove(0)
}

fn errors(requirements: Value) -> Vec<String> {
    match scenario::parse(&scenario(requirements).to_string(), "t.json") {
        Ok(_) => Vec::new(),
        Err(e) => e
            .diagnostics
            .iter()
            .map(|d| format!("{}: {}", d.path, d.message))
            .collect(),
    }
}

#[test]
fn a_sliding_success_rate_fails_in_the_windows_that_hold_the_fault() {
    let v = one(json!({"success": {"route": "checkout", "at_least_percent": 99, "over": "5s"}}));
    assert!(!v.passed);
    assert_eq!(
        v.requirement,
        "success of route `checkout` ≥ 99% over every 5s window"
    );
    // 30 windows make 26 spans of 5; the 9 that start at 6 s to 14 s hold a
    // fault window. The first, 6–11 s, holds 400 successes of 500; the
    // worst, 10–15 s, none.
    assert_eq!(v.windows_judged, Some(26));
    assert_eq!(v.windows_failed, Some(9));
    let first = v.first_failed_window.as_ref().expect("a failed span");
    assert_eq!((first.start_s, first.end_s, first.value), (6.0, 11.0, 80.0));
    let worst = v.worst_window.as_ref().expect("a worst span");
    assert_eq!((worst.start_s, worst.end_s, worst.value), (10.0, 15.0, 0.0));
    assert_eq!(v.value, Some(0.0));
    assert_eq!(v.bound, Some(99.0));
    assert_eq!(v.unit, "%");
    assert_eq!(
        v.detail,
        "failed in 9 of 26 windows; first 6–11 s: 80.000% < 99.000%; worst 10–15 s: 0.000%"
    );
}

#[test]
fn the_windows_after_a_fault_starts_can_be_left_out() {
    let v = one(json!({"name": "checkout stays up",
        "success": {"route": "checkout", "at_least_percent": 99, "over": "5s",
                    "except_after_fault": "5s"}}));
    // Windows 10–15 s are left out: the span made of them alone has nothing
    // to judge (25 of 26 spans judged), every other span is all successes.
    assert!(v.passed, "{v:?}");
    assert_eq!(v.name, "checkout stays up");
    assert_eq!(
        v.requirement,
        "success of route `checkout` ≥ 99% over every 5s window, except 5s after a fault starts"
    );
    assert_eq!(v.windows_judged, Some(25));
    assert_eq!(v.windows_failed, Some(0));
    assert_eq!(v.first_failed_window, None);
    assert_eq!(v.value, Some(100.0));
    // A shorter exclusion leaves the fault's last second in: 14–15 s fails.
    let v = one(
        json!({"success": {"route": "checkout", "at_least_percent": 99, "over": "1s",
                                   "except_after_fault": "4s"}}),
    );
    assert!(!v.passed);
    assert_eq!(v.windows_failed, Some(1));
    let first = v.first_failed_window.expect("one");
    assert_eq!((first.start_s, first.end_s, first.value), (14.0, 15.0, 0.0));
}

#[test]
fn whole_run_requirements_are_judged_from_the_summary() {
    let v = verdicts(json!([
        {"success": {"route": "checkout", "at_least_percent": 80}},
        {"success": {"route": "checkout", "at_least_percent": 90}},
        {"latency": {"route": "checkout", "quantile": 99, "at_most": "2ms"}},
        {"latency": {"route": "checkout", "quantile": 50, "at_most": "500us"}},
        {"amplification": {"route": "checkout", "at_most": 1.2}},
        {"no_invariant_violated": true}
    ]));
    let passed: Vec<bool> = v.iter().map(|v| v.passed).collect();
    assert_eq!(passed, [true, false, true, false, false, true]);
    // 2,499 successes of 2,999 requests (the 500 of the fault windows fail).
    assert_eq!(v[0].value, Some(83.3278));
    assert_eq!(v[0].detail, "83.328% over the whole run ≥ 80.000%");
    assert_eq!(v[1].detail, "83.328% over the whole run < 90.000%");
    assert_eq!(v[2].value, Some(1.0));
    assert_eq!(v[3].detail, "1.000 ms over the whole run > 0.500 ms");
    // (2,500 + 3 × 500) attempts per 3,000 requests (one in flight at the end).
    assert_eq!(v[4].value, Some(1.333333));
    assert_eq!(v[4].unit, "attempts/call");
    assert_eq!(v[5].detail, "no invariant was violated");
    for verdict in &v {
        assert_eq!(verdict.worst_window, None, "whole run: no window");
        assert_eq!(verdict.windows_judged, None);
    }
}

#[test]
fn amplification_and_latency_can_be_judged_window_by_window() {
    let v = verdicts(json!([
        {"amplification": {"service": "api", "at_most": 1.2, "over": "2s"}},
        {"latency": {"route": "checkout", "quantile": 99, "at_most": "500us", "per_window": true}}
    ]));
    let (service, latency) = (&v[0], &v[1]);
    // 29 spans of 2 windows; 3 attempts per call in the fault: the first
    // failing span, 9–11 s, holds 100 + 300 attempts for 200 calls.
    assert_eq!(service.windows_judged, Some(29));
    assert_eq!(service.windows_failed, Some(6));
    let first = service.first_failed_window.as_ref().expect("failed");
    assert_eq!((first.start_s, first.end_s, first.value), (9.0, 11.0, 2.0));
    let worst = service.worst_window.as_ref().expect("worst");
    assert_eq!((worst.start_s, worst.end_s, worst.value), (10.0, 12.0, 3.0));
    // A window's p99 is 1 ms; the 5 fault windows have no success to measure.
    assert_eq!(latency.windows_judged, Some(25));
    assert_eq!(latency.windows_failed, Some(25));
    assert_eq!(latency.value, Some(1.0));
}

#[test]
fn a_run_stopped_on_a_violated_invariant_fails_its_requirement() {
    // No invariant exists yet (the saga and broker issues add them): the
    // verdict is read from the summary, so a stopped one is made by hand.
    let text = scenario(json!([{"no_invariant_violated": true}])).to_string();
    let compiled = scenario::parse(&text, "t.json").expect("valid");
    let mut judge = Judge::new(&compiled);
    let outcome = world::run_streaming(&compiled, 1, Some(1000), &mut judge);
    let mut summary = report::summary::Summary::new(&compiled, 1, &outcome);
    summary.stop_reason = "stopped";
    summary.stop_cause = Some(report::summary::StopCauseSummary {
        at_s: 1.5,
        entity: "service `api`".to_string(),
        cause: "stock went negative".to_string(),
    });
    let v = judge.verdicts(&compiled, &summary).remove(0);
    assert!(!v.passed);
    assert_eq!(
        v.detail,
        "the run stopped at 1.500000 s: service `api`: stock went negative"
    );
}

#[test]
fn an_incomplete_run_judges_its_one_partial_span() {
    // 500 events end the run within its first seconds: a 10 s span never
    // fills, and is judged once over the windows there were.
    let text = scenario(
        json!([{"success": {"route": "checkout", "at_least_percent": 99,
                                             "over": "10s"}}]),
    )
    .to_string();
    let compiled = scenario::parse(&text, "t.json").expect("valid");
    let mut judge = Judge::new(&compiled);
    let outcome = world::run_streaming(&compiled, 1, Some(500), &mut judge);
    let summary = report::summary::Summary::new(&compiled, 1, &outcome);
    assert!(!summary.completed);
    let v = judge.verdicts(&compiled, &summary).remove(0);
    assert!(v.passed, "{v:?}");
    assert_eq!(v.windows_judged, Some(1));
    assert!(
        v.detail.ends_with(", the run shorter than the span)"),
        "{}",
        v.detail
    );
}

#[test]
fn bad_requirements_are_located_errors() {
    let check = |requirement: Value, expected: &str| {
        let found = errors(json!([requirement]));
        assert!(
            found.iter().any(|f| f == expected),
            "no {expected:?} in {found:?}"
        );
    };
    check(
        json!({"success": {"route": "chekout", "at_least_percent": 99}}),
        "requirements[0].success.route: unknown route `chekout`; did you mean `checkout`? (routes: checkout)",
    );
    check(
        json!({"success": {"route": "checkout", "at_least_percent": 99, "over": "2.5s"}}),
        "requirements[0].success.over: 2.5s is not a whole number of windows of 1s: the time series measures whole windows, so use 2s or 3s (or change `window`)",
    );
    check(
        json!({"success": {"route": "checkout", "at_least_percent": 99, "over": "500ms"}}),
        "requirements[0].success.over: 500ms is not a whole number of windows of 1s: the time series measures whole windows, so use at least one window, 1s (or change `window`)",
    );
    check(
        json!({"success": {"route": "checkout", "at_least_percent": 99, "over": "31s"}}),
        "requirements[0].success.over: 31s is longer than the run (30s): no window of it fits",
    );
    check(
        json!({"success": {"route": "checkout", "at_least_percent": 99, "except_after_fault": "5s"}}),
        "requirements[0].success.except_after_fault: `except_after_fault` leaves windows out of a sliding span: it needs `over`",
    );
    check(
        json!({"success": {"route": "checkout", "at_least_percent": 101}}),
        "requirements[0].success.at_least_percent: a success rate is a percent above 0 and at most 100, got 101",
    );
    check(
        json!({"latency": {"route": "checkout", "quantile": 95, "at_most": "1s"}}),
        "requirements[0].latency.quantile: quantile 95 is not measured: use one of 50, 90, 99, 99.9 (summary.json keeps these)",
    );
    check(
        json!({"latency": {"route": "checkout", "quantile": 90, "at_most": "1s", "per_window": true}}),
        "requirements[0].latency.quantile: quantile 90 is not measured: use one of 50, 99 (the time series keeps these per window)",
    );
    check(
        json!({"amplification": {"edge": {"from": "api", "to": "api"}, "at_most": 1}}),
        "requirements[0].amplification.edge: `api` makes no call to `api`: there is no such edge",
    );
    check(
        json!({"amplification": {"service": "api", "route": "checkout", "at_most": 1}}),
        "requirements[0].amplification: amplification is of exactly one of `route`, `service` and `edge`",
    );
    check(
        json!({"no_invariant_violated": false}),
        "requirements[0].no_invariant_violated: `false` requires nothing: write `true`, or leave the requirement out",
    );
    check(
        json!({"no_invariant_violated": true, "success": {"route": "checkout", "at_least_percent": 99}}),
        "requirements[0]: a requirement has exactly one kind, this one has success and no_invariant_violated: split it into several requirements",
    );
    check(
        json!({}),
        "requirements[0]: a requirement needs exactly one kind: success, latency, amplification, no_invariant_violated, time_to_recover, not_metastable",
    );
    // A typo in a field is a structural error with the allowed names.
    let found = errors(json!([{"succes": {}}]));
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("requirements[0].succes: unknown field `succes`")),
        "{found:?}"
    );
}

#[test]
fn the_schema_has_the_requirements_section() {
    let schema = scenario::json_schema();
    assert!(schema["properties"]["requirements"].is_object(), "{schema}");
    for def in [
        "Requirement",
        "SuccessRequirement",
        "LatencyRequirement",
        "AmplificationRequirement",
    ] {
        assert!(schema["$defs"][def].is_object(), "no {def} in $defs");
    }
}

#[test]
fn every_requirement_field_of_summary_json_is_documented() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/scenarios.md"))
        .expect("docs");
    let v = one(json!({"success": {"route": "checkout", "at_least_percent": 99, "over": "5s"}}));
    let json = serde_json::to_value(&v).expect("plain data");
    let mut fields: Vec<String> = json.as_object().expect("object").keys().cloned().collect();
    fields.extend(["start_s", "end_s"].map(String::from));
    for field in fields {
        assert!(
            docs.contains(&format!("`{field}`")),
            "`{field}` undocumented"
        );
    }
}

fn write(dir: &std::path::Path, requirements: Value) -> std::path::PathBuf {
    let path = dir.join("req.json");
    std::fs::write(&path, scenario(requirements).to_string()).expect("write");
    path
}

#[test]
fn run_exits_1_listing_each_failed_requirement_with_its_window() {
    let dir = std::env::temp_dir().join(format!("meshsim-req-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = write(
        &dir,
        json!([
            {"name": "checkout stays up",
             "success": {"route": "checkout", "at_least_percent": 99, "over": "5s"}},
            {"latency": {"route": "checkout", "quantile": 99, "at_most": "2ms"}}
        ]),
    );
    let out = dir.join("report");
    let run = Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(["run", "--no-charts", "--out"])
        .arg(&out)
        .arg(&file)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "error: requirement failed: checkout stays up (success of route `checkout` ≥ 99% over every 5s window): failed in 9 of 26 windows; first 6–11 s: 80.000% < 99.000%; worst 10–15 s: 0.000%\n"
    );
    assert!(stdout.contains("requirements: 1 of 2 met\n"), "{stdout}");
    assert!(
        stdout.contains("  ok     p99 latency of route `checkout` ≤ 2ms over the whole run: 1.000 ms over the whole run ≤ 2.000 ms\n"),
        "{stdout}"
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("written"))
            .expect("JSON");
    let r = &summary["requirements"];
    assert_eq!(r[0]["name"], "checkout stays up");
    assert_eq!(r[0]["passed"], false);
    assert_eq!(r[0]["value"], 0.0);
    assert_eq!(r[0]["bound"], 99.0);
    assert_eq!(
        r[0]["worst_window"],
        json!({"start_s": 10.0, "end_s": 15.0, "value": 0.0})
    );
    assert_eq!(
        r[0]["first_failed_window"],
        json!({"start_s": 6.0, "end_s": 11.0, "value": 80.0})
    );
    assert_eq!(r[1]["passed"], true);
    assert_eq!(r[1]["value"], 1.0);

    // Met: exit 0, and --quiet says only how many.
    let file = write(
        &dir,
        json!([{"success": {"route": "checkout", "at_least_percent": 99, "over": "5s",
                            "except_after_fault": "5s"}}]),
    );
    let run = Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(["run", "--no-charts", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(run.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.ends_with("requirements: 1 of 1 met\n"), "{stdout}");
    assert_eq!(String::from_utf8_lossy(&run.stderr), "");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_scenario_without_requirements_has_no_requirements_in_summary_json() {
    let text = scenario(json!([])).to_string();
    let compiled = scenario::parse(&text, "t.json").expect("valid");
    let outcome = world::run(&compiled, 1, Some(1000));
    let (_, files) = report::files(&compiled, 1, &outcome);
    let json: Value = serde_json::from_slice(&files[0].1).expect("JSON");
    assert!(json.get("requirements").is_none());
}

#[test]
fn the_table_and_the_page_show_each_verdict() {
    let text = scenario(json!([
        {"name": "checkout <stays> up",
         "success": {"route": "checkout", "at_least_percent": 99, "over": "5s"}},
        {"latency": {"route": "checkout", "quantile": 99, "at_most": "2ms"}}
    ]))
    .to_string();
    let compiled = scenario::parse(&text, "t.json").expect("valid");
    let mut judge = Judge::new(&compiled);
    let outcome = world::run_streaming(&compiled, 1, None, &mut judge);
    let (summary, _) = report::judged_files(&compiled, 1, &outcome, &mut judge);
    let table = report::table::render(&summary);
    assert!(
        table.ends_with(
            "requirements: 1 of 2 met\n  FAILED checkout <stays> up (success of route `checkout` ≥ 99% over every 5s window): failed in 9 of 26 windows; first 6–11 s: 80.000% < 99.000%; worst 10–15 s: 0.000%\n  ok     p99 latency of route `checkout` ≤ 2ms over the whole run: 1.000 ms over the whole run ≤ 2.000 ms\n"
        ),
        "{table}"
    );
    let page = report::html::page(&summary, compiled.scenario(), "meshsim run t.json", &[]);
    assert!(
        page.contains("<h2>Requirements</h2>\n<p>1 of 2 met: "),
        "{page}"
    );
    // Names are escaped; the failed span is shown with its value.
    assert!(page.contains("checkout &lt;stays&gt; up<br>"), "{page}");
    assert!(page.contains("6.000–11.000 s: 80"), "{page}");
    assert!(!page.contains("<stays>"));
}

#[test]
fn the_requirements_memory_is_bounded() {
    // Eleven spans of a million windows each: 11 million windows to keep.
    let mut s = scenario(json!([]));
    s["duration"] = json!("1000000s");
    s["faults"] = json!([]);
    let span =
        json!({"success": {"route": "checkout", "at_least_percent": 99, "over": "1000000s"}});
    s["requirements"] = Value::Array(vec![span.clone(); 11]);
    let found = match scenario::parse(&s.to_string(), "t.json") {
        Ok(_) => Vec::new(),
        Err(e) => e
            .diagnostics
            .iter()
            .map(|d| format!("{}: {}", d.path, d.message))
            .collect(),
    };
    assert_eq!(
        found,
        [
            "requirements: the sliding requirements keep 11000000 windows in all: at most 10000000 (each keeps its span's windows); use fewer or shorter spans, or a wider `window`"
        ]
    );
    s["requirements"] = Value::Array(vec![span; 10]);
    assert!(scenario::parse(&s.to_string(), "t.json").is_ok());
    let whole = json!({"no_invariant_violated": true});
    let found = errors(Value::Array(vec![whole; 1001]));
    assert_eq!(
        found,
        ["requirements: 1001 requirements: at most 1000 are supported"]
    );
}

#[test]
fn time_to_recover_and_not_metastable_pass_when_the_errors_stop_at_once() {
    // The errors end at 15 s and the next window, 15–16 s, is all
    // successes again: recovered at once, the run is not metastable.
    let v = verdicts(json!([
        {"time_to_recover": {"at_most": "2s"}},
        {"not_metastable": true}
    ]));
    assert_eq!(
        v[0].requirement,
        "every measurable fault recovers within 2s"
    );
    assert!(v[0].passed, "{v:?}");
    assert_eq!(v[0].value, Some(0.0));
    assert_eq!(v[0].bound, Some(2.0));
    assert_eq!(
        v[0].detail,
        "longest: 0 s after fault 0 (errors: api error rate 1, at 10 s) ≤ 2 s"
    );
    assert!(v[1].passed, "{v:?}");
    assert_eq!(
        v[1].detail,
        "every measurable fault recovered by the end of the run"
    );
}

/// `file` from scenarios/ with `requirements`, run on its own seed.
fn bundled_verdicts(file: &str, requirements: Value) -> Vec<RequirementSummary> {
    let path = format!("{}/scenarios/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut value: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("bundled")).expect("json");
    value["requirements"] = requirements;
    let compiled = scenario::parse(&value.to_string(), file).expect("valid");
    let seed = compiled.scenario().seed;
    let mut judge = Judge::new(&compiled);
    let outcome = world::run_streaming(&compiled, seed, None, &mut judge);
    report::judged_files(&compiled, seed, &outcome, &mut judge)
        .0
        .requirements
}

#[test]
fn the_retry_storm_fails_both_recovery_requirements_and_its_fix_meets_them() {
    let requirements = json!([
        {"time_to_recover": {"at_most": "20s"}},
        {"not_metastable": true}
    ]);
    let storm = bundled_verdicts("retry-storm.json", requirements.clone());
    assert!(!storm[0].passed, "{storm:?}");
    assert!(storm[0].detail.contains("(metastable)"), "{storm:?}");
    assert!(!storm[1].passed, "{storm:?}");
    assert!(
        storm[1].detail.starts_with("metastable: not recovered"),
        "{storm:?}"
    );
    let fixed = bundled_verdicts("retry-storm-fixed.json", requirements);
    assert!(fixed[0].passed, "{fixed:?}");
    assert!(fixed[0].value.is_some_and(|t| t <= 20.0), "{fixed:?}");
    assert!(fixed[1].passed, "{fixed:?}");
}

#[test]
fn a_recovery_requirement_that_requires_nothing_is_refused() {
    let found = errors(json!([
        {"not_metastable": false},
        {"time_to_recover": {"at_most": "0s"}}
    ]));
    assert_eq!(
        found,
        [
            "requirements[0].not_metastable: `false` requires nothing: write `true`, or leave the requirement out",
            "requirements[1].time_to_recover.at_most: a recovery takes at least one window: use a bound above zero",
        ]
    );
}
