use super::*;
use crate::scenario;

fn compiled(json: &str) -> Compiled {
    scenario::parse(json, "size.json").expect("valid")
}

#[test]
fn a_route_is_sized_for_the_statuses_it_can_end_with() {
    let with = |route: &str, extra: &str| {
        let c = compiled(&format!(
            r#"{{"name": "s", "duration": "1s",
                "services": {{"a": {{"service_time": {{"constant": "1ms"}}}}{extra}}},
                "policies": {{"p": {{"timeout": "10ms", "breaker": {{}}}}}},
                "workload": {{"arrivals": {{"poisson": {{"rate": 1}}}}, "routes": [{route}]}}}}"#
        ));
        route_statuses(c.scenario(), 0)
    };
    // 500 and 503, then its own timeout, then its breaker.
    assert_eq!(with(r#"{"service": "a"}"#, ""), 2);
    assert_eq!(with(r#"{"service": "a", "timeout": "1s"}"#, ""), 3);
    assert_eq!(with(r#"{"service": "a", "policy": "p"}"#, ""), 4);
    // A gateway anywhere: its five statuses.
    let gateway = r#", "g": {"service_time": {"constant": "1ms"},
        "gateway": {"routes": [{"name": "r", "prefix": "/", "backends": [{"service": "a"}]}]}}"#;
    assert_eq!(with(r#"{"service": "g"}"#, gateway), 7);
}

#[test]
fn sizes_read_and_print_for_people() {
    assert_eq!(parse_bytes("4GiB"), Ok(4 << 30));
    assert_eq!(parse_bytes("512 MiB"), Ok(512 << 20));
    assert_eq!(parse_bytes("1.5k"), Ok(1536));
    assert_eq!(parse_bytes("1e9"), Ok(1_000_000_000));
    assert!(parse_bytes("lots").is_err());
    assert!(parse_bytes("5 parsecs").is_err());
    assert!(parse_bytes("0").is_err());
    assert_eq!(bytes(512), "512 B");
    assert_eq!(bytes(3 << 29), "1.5 GiB");
}

#[test]
fn a_call_tree_counts_parallel_calls_and_hedges_at_once() {
    // front: a step calling a and b in parallel, then a step calling c
    // hedged once; a calls d. The widest step: a (2 jobs) + b (1) = 3.
    let c = compiled(
        r#"{"name": "t", "duration": "1s",
        "policies": {"h": {"hedge": {"delay": "1ms", "max_hedges": 1}}},
        "services": {
          "front": {"service_time": {"constant": "1ms"}, "calls": [
             {"parallel": [{"service": "a"}, {"service": "b"}]},
             {"service": "c", "policy": "h"}]},
          "a": {"service_time": {"constant": "1ms"}, "calls": [{"service": "d"}]},
          "b": {"service_time": {"constant": "1ms"}},
          "c": {"service_time": {"constant": "1ms"}},
          "d": {"service_time": {"constant": "1ms"}}},
        "workload": {"arrivals": {"poisson": {"rate": 10}}, "routes": [{"service": "front"}]}}"#,
    );
    let front = c
        .scenario()
        .services
        .keys()
        .position(|k| k == "front")
        .unwrap();
    let mut memo = vec![None; 5];
    assert_eq!(tree(&c, front, &mut memo), 4);
}

/// `levels` levels of ten parallel calls each.
fn fan_out(levels: usize) -> Compiled {
    let mut services = String::new();
    for level in 0..levels {
        let calls: Vec<String> = (0..10)
            .map(|_| format!(r#"{{"service": "s{}"}}"#, level + 1))
            .collect();
        services.push_str(&format!(
            r#""s{level}": {{"service_time": {{"constant": "1ms"}}, "calls": [{{"parallel": [{}]}}]}},"#,
            calls.join(",")
        ));
    }
    services.push_str(&format!(
        r#""s{levels}": {{"service_time": {{"constant": "1ms"}}}}"#
    ));
    compiled(&format!(
        r#"{{"name": "t", "duration": "1s", "services": {{{services}}},
           "workload": {{"arrivals": {{"poisson": {{"rate": 10}}}}, "routes": [{{"service": "s0"}}]}}}}"#
    ))
}

#[test]
fn a_deep_fan_out_is_estimated_without_overflow() {
    // 10^10 jobs per request: no bound on requests in flight fits.
    let e = estimate(&fan_out(10));
    assert!(e.total() > DEFAULT_LIMIT, "{e}");
    assert!(e.parts[0].0.contains("requests in flight"), "{e}");
    assert!(e.fix(DEFAULT_LIMIT).starts_with("make it smaller"));
}

#[test]
fn the_fix_names_a_bound_on_requests_in_flight_that_fits() {
    // 11,111 jobs per request.
    let c = fan_out(4);
    let e = estimate(&c);
    assert!(e.parts[0].0.contains("up to 11111 jobs"), "{e}");
    let fix = e.fix(DEFAULT_LIMIT);
    let n: u64 = fix
        .split("\"max_requests_in_flight\": ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{fix}"));
    let mut scenario = c.into_scenario();
    scenario.max_requests_in_flight = Some(n);
    let fits = estimate(&scenario::compile(scenario.clone()).expect("valid"));
    assert!(fits.total() <= DEFAULT_LIMIT, "{fits}");
    scenario.max_requests_in_flight = Some(n + 1);
    let past = estimate(&scenario::compile(scenario).expect("valid"));
    assert!(past.total() > DEFAULT_LIMIT, "{past}");
}

#[test]
fn the_windows_of_the_requirements_spans_are_counted() {
    // A 10 s span of 1 ms windows in a 100 s run keeps 10,000 windows;
    // a span longer than the run keeps only the run's 100,000.
    let c = compiled(
        r#"{"name": "t", "duration": "100s", "window": "1ms",
        "services": {"s": {"service_time": {"constant": "1ms"}}},
        "workload": {"arrivals": {"poisson": {"rate": 10}}, "routes": [{"service": "s", "name": "r"}]},
        "requirements": [{"success": {"route": "r", "at_least_percent": 99, "over": "10s"}},
                         {"amplification": {"route": "r", "at_most": 2, "over": "100s"}}]}"#,
    );
    let e = estimate(&c);
    let part = e
        .parts
        .iter()
        .find(|p| p.0.contains("requirements' spans"))
        .unwrap_or_else(|| panic!("{e}"));
    assert_eq!(part.0, "110000 windows kept by the requirements' spans");
    assert_eq!(part.1, 110_000 * REQUIREMENT_WINDOW_BYTES);
}

#[test]
fn each_autoscaler_counts_what_it_keeps_for_reports() {
    use crate::metrics::autoscale::{AUTOSCALE_ROW_BUDGET, MAX_DECISIONS, MAX_EPISODES};
    let service = r#"{"service_time": {"constant": "1ms"},
        "discovery": {"health_check": {"interval": "1s", "timeout": "500ms"}, "refresh": "1s"},
        "autoscale": {"target": {"utilization_percent": 60}, "max_instances": 4}}"#;
    let c = compiled(&format!(
        r#"{{"name": "t", "duration": "10s",
        "services": {{"a": {service}, "b": {service}, "c": {{"service_time": {{"constant": "1ms"}}}}}},
        "workload": {{"arrivals": {{"poisson": {{"rate": 10}}}}, "routes": [{{"service": "a"}}]}}}}"#
    ));
    let e = estimate(&c);
    let part = e
        .parts
        .iter()
        .find(|p| p.0.contains("autoscalers"))
        .unwrap_or_else(|| panic!("{e}"));
    assert_eq!(
        part.0,
        "2 autoscalers' rows, decisions and shortfalls kept for reports"
    );
    let each = AUTOSCALE_ROW_BUDGET as u64 * AUTOSCALE_ROW_BYTES
        + MAX_DECISIONS as u64 * DECISION_BYTES
        + MAX_EPISODES as u64 * EPISODE_BYTES;
    assert_eq!(part.1, 2 * each);
    // Without autoscale, no such part.
    let plain = compiled(
        r#"{"name": "t", "duration": "1s",
        "services": {"s": {"service_time": {"constant": "1ms"}}},
        "workload": {"arrivals": {"poisson": {"rate": 10}}, "routes": [{"service": "s"}]}}"#,
    );
    assert!(
        !estimate(&plain)
            .parts
            .iter()
            .any(|p| p.0.contains("autoscalers"))
    );
}

#[test]
fn a_small_scenario_is_far_below_the_limit() {
    let c = compiled(
        r#"{"name": "t", "duration": "1s",
        "services": {"s": {"service_time": {"constant": "1ms"}}},
        "workload": {"arrivals": {"poisson": {"rate": 10}}, "routes": [{"service": "s"}]}}"#,
    );
    let e = estimate(&c);
    assert!(e.total() < 1 << 30, "{e}");
    assert!(e.to_string().starts_with("about "), "{e}");
}

#[test]
fn a_huge_queue_is_named() {
    let c = compiled(
        r#"{"name": "t", "duration": "1s",
        "services": {"s": {"service_time": {"constant": "1ms"}, "queue_capacity": 4294967295}},
        "workload": {"arrivals": {"poisson": {"rate": 10}}, "routes": [{"service": "s"}]}}"#,
    );
    let e = estimate(&c);
    assert!(e.total() > DEFAULT_LIMIT, "{e}");
    assert!(e.parts[0].0.contains("queues"), "{e}");
}
