use super::*;

fn positions(source: &str) -> Vec<Option<(usize, usize)>> {
    let error = parse(source, "t.json").expect_err("a broken scenario");
    error.diagnostics.iter().map(|d| d.position).collect()
}

#[test]
fn syntax_errors_are_located_in_characters() {
    // The second comma is the 11th character (the 13th byte).
    assert_eq!(positions("{\"n\u{e9}\u{e9}\": 1,,}"), vec![Some((1, 11))]);
    // serde_json says column 0 at the start of a line.
    assert_eq!(positions(""), vec![Some((1, 1))]);
    assert_eq!(positions("{\"a\": \n"), vec![Some((2, 1))]);
}

#[test]
fn repeated_keys_are_problems() {
    let source = r#"{"name": "a", "name": "b", "duration": "1s",
        "services": {"s": {"service_time": {"constant": "1ms"}}},
        "workload": {"arrivals": {"poisson": {"rate": 1}}, "routes": [{"service": "s"}]}}"#;
    let error = parse(source, "t.json").expect_err("a repeated key");
    assert_eq!(error.diagnostics.len(), 1, "{error}");
    assert_eq!(error.diagnostics[0].path.to_string(), "name");
    assert_eq!(error.diagnostics[0].position, Some((1, 15)));
}

/// Every section broken in its structure: one problem each, and nothing
/// from the placeholders that stand in for them while the rest is
/// checked (they are valid, refer to nothing and limit nothing).
#[test]
fn placeholders_add_no_problems_of_their_own() {
    let source = r#"{"name": 7, "description": [], "duration": "long", "window": 1,
        "seed": -1, "event_budget": "x", "max_requests_in_flight": {},
        "services": {"a": {"service_time": {"constant": "1ms"}, "calls": [{"service": "b", "policy": "p"}]},
                     "b": {"instances": "two"}},
        "policies": {"p": {"retry": 3}},
        "network": {"latency": 5},
        "workload": {"arrivals": {}, "routes": []},
        "faults": [{"at": "1s", "crash": 3}, {"at": "2s", "crash": {"service": "b", "instance": 9}}]}"#;
    let error = parse(source, "t.json").expect_err("broken everywhere");
    let paths: Vec<String> = error
        .diagnostics
        .iter()
        .map(|d| d.path.to_string())
        .collect();
    assert_eq!(
        paths,
        [
            "name",
            "description",
            "duration",
            "window",
            "seed",
            "event_budget",
            "max_requests_in_flight",
            "services.b.instances",
            "policies.p.retry",
            "network.latency",
            "workload.arrivals",
            "faults[0].crash",
        ],
        "{error}"
    );
    // Not an object of services: nothing to resolve names in, so only
    // structure is reported.
    let source = r#"{"name": "x", "duration": "1s", "services": [],
        "workload": {"arrivals": {"poisson": {"rate": 1}}, "routes": [{"service": "nowhere"}]}}"#;
    let error = parse(source, "t.json").expect_err("no services");
    assert_eq!(error.diagnostics.len(), 1, "{error}");
}

#[test]
fn a_place_that_names_what_could_not_be_read_is_not_checked() {
    let value: Value = serde_json::from_str(
        r#"{"faults": [{"crash": {"service": "b", "instance": 3}}, {"crash": {"service": "c", "instance": 3}}],
            "services": {"a": {"calls": [{"service": "b"}]}}}"#,
    )
    .unwrap();
    let mut unread = Unread::default();
    unread.add_named(JsonPath::root().key("services").key("b"), "b");
    let path = |p: &str| {
        let mut path = JsonPath::root();
        for part in p.split('.') {
            path = match part.parse::<usize>() {
                Ok(i) => path.index(i),
                Err(_) => path.key(part),
            };
        }
        path
    };
    assert!(unread.explains(&value, &path("services.b.instances")));
    assert!(unread.explains(&value, &path("faults.0.crash.instance")));
    assert!(unread.explains(&value, &path("services.a.calls.0.service")));
    assert!(unread.explains(&value, &path("services.a.calls.0")));
    assert!(!unread.explains(&value, &path("faults.1.crash.instance")));
    assert!(!unread.explains(&value, &path("services.a")));
    assert!(!unread.explains(&value, &path("nowhere.at.all")));
}

#[test]
fn unknown_fields_get_a_suggestion() {
    let m = explain("unknown field `concurency`, expected one of `instances`, `concurrency`");
    assert!(m.ends_with("did you mean `concurrency`?"), "{m}");
    let m = explain("unknown variant `expo`, expected one of `exponential`, `constant`");
    assert!(m.contains("did you mean `exponential`?"), "{m}");
    assert_eq!(explain("invalid type: string"), "invalid type: string");
    let m = explain("unknown variant `1ms`, expected one of `constant`, `uniform`");
    assert!(m.contains("{\"constant\": \"1ms\"}"), "{m}");
}
