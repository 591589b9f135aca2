//! The first hour with meshsim: the mistakes a newcomer makes in a first
//! scenario file get a message that says what to write instead, at the
//! right line and column (issue 13).

use meshsim::scenario::{ScenarioError, parse};

/// The one problem of `source`: its position and message.
fn problem(source: &str) -> (Option<(usize, usize)>, String) {
    let error: ScenarioError = match parse(source, "first.json") {
        Ok(_) => panic!("accepted:\n{source}"),
        Err(e) => e,
    };
    assert_eq!(error.diagnostics.len(), 1, "{error}");
    let d = &error.diagnostics[0];
    (d.position, d.message.clone())
}

/// A valid scenario with `service` as the body of its only service.
fn with_service(service: &str) -> String {
    format!(
        r#"{{
  "name": "first",
  "duration": "10s",
  "services": {{
    "web": {service}
  }},
  "workload": {{"arrivals": {{"poisson": {{"rate": 10}}}}, "routes": [{{"service": "web"}}]}}
}}"#
    )
}

#[test]
fn the_template_is_valid() {
    parse(
        &with_service(r#"{"service_time": {"constant": "1ms"}}"#),
        "t.json",
    )
    .unwrap();
}

#[test]
fn a_bare_number_for_a_duration_suggests_a_unit() {
    for value in [r#""250""#, "250"] {
        let source = with_service(
            r#"{"service_time": {"constant": "1ms"}, "calls": [], "queue_capacity": 5,
      "error_rate": 0}"#,
        )
        .replace(
            r#""routes": [{"service": "web"}]"#,
            &format!(r#""routes": [{{"service": "web", "timeout": {value}}}]"#),
        );
        let (position, message) = problem(&source);
        assert!(
            message.contains(r#"did you mean "250ms" (or "250s")?"#),
            "{value}: {message}"
        );
        assert_eq!(position.map(|p| p.0), Some(8), "{value}: {message}");
    }
}

#[test]
fn a_decimal_duration_without_a_unit_is_explained_too() {
    let source = with_service(r#"{"service_time": {"constant": "1.5"}}"#);
    let (_, message) = problem(&source);
    assert!(message.contains(r#"did you mean "1.5ms""#), "{message}");
}

#[test]
fn a_yaml_file_is_recognised() {
    let (position, message) = problem("# my first scenario\nname: shop\nduration: 10s\n");
    assert!(
        message.contains("meshsim reads JSON, and this looks like YAML"),
        "{message}"
    );
    assert_eq!(position, Some((2, 1)));
    let (_, message) = problem("---\nname: shop\n");
    assert!(message.contains("looks like YAML"), "{message}");
    // JSON that is merely broken is not called YAML.
    let (_, message) = problem("{\"name\": shop}");
    assert!(!message.contains("YAML"), "{message}");
}

#[test]
fn an_empty_file_says_what_a_scenario_is() {
    for source in ["", "   \n\n", "\u{feff}\n"] {
        let (position, message) = problem(source);
        assert!(
            message
                .ends_with("the file is empty: a scenario is a JSON object, see docs/scenarios.md"),
            "{message}"
        );
        assert_eq!(position, Some((1, 1)));
    }
}

#[test]
fn a_trailing_comma_is_reported_where_it_is() {
    // The comma ends line 2 (column 18); serde_json would point at line 3.
    let source = "{\n  \"name\": \"first\",\n}\n";
    let (position, message) = problem(source);
    assert!(message.contains("trailing comma"), "{message}");
    assert!(message.contains("remove it"), "{message}");
    assert_eq!(position, Some((2, 18)));
    // In an array, with blank lines between the comma and the bracket.
    let source = "{\"name\": \"first\", \"faults\": [\n  {\"at\": \"1s\"},\n\n  ]}";
    let (position, message) = problem(source);
    assert!(message.contains("trailing comma"), "{message}");
    assert_eq!(position, Some((2, 15)));
}

#[test]
fn a_missing_service_time_gets_an_example() {
    let (position, message) = problem(&with_service(r#"{"instances": 2}"#));
    assert!(
        message.contains(r#"missing field `service_time`: for example "service_time": {"exponential": {"mean": "5ms"}}"#),
        "{message}"
    );
    assert_eq!(position, Some((5, 5)), "at the service's name");
}

#[test]
fn an_error_rate_given_as_a_percent_is_refused() {
    let (position, message) = problem(&with_service(
        r#"{"service_time": {"constant": "1ms"}, "error_rate": 50}"#,
    ));
    assert_eq!(
        message,
        "a probability must be between 0 and 1, got 50; for 50% write 0.5"
    );
    assert_eq!(position, Some((5, 50)), "at the key");
}

/// Running a bundled scenario with another seed replaces its committed
/// report in `reports/<name>/`; `run` says so, and how to put it back
/// (after which `cargo test` would otherwise fail on the committed reports).
/// With `--out`, or over a report that was not of the scenario's own seed,
/// there is nothing to say.
#[test]
fn another_seed_over_the_default_report_says_how_to_put_it_back() {
    let dir = std::env::temp_dir().join(format!("meshsim-first-hour-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("seeded.json"),
        r#"{"name": "seeded", "duration": "1s", "seed": 4,
            "services": {"web": {"service_time": {"constant": "1ms"}}},
            "workload": {"arrivals": {"poisson": {"rate": 10}}, "routes": [{"service": "web"}]}}"#,
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_meshsim"))
            .args(["run", "seeded.json", "--quiet", "--no-charts"])
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let note = "note: this replaced the report of the scenario's own seed 4 in reports/seeded/ \
                with one of --seed 9; `meshsim run seeded.json --seed 4` puts it back \
                (for a bundled scenario, so does `git checkout reports/seeded`)";
    assert!(!run(&[]).contains("note:"));
    assert!(run(&["--seed", "9"]).contains(note));
    // Now it holds seed 9: replacing that says nothing, nor does --out.
    assert!(!run(&["--seed", "10"]).contains("note:"));
    assert!(!run(&["--seed", "9", "--out", "elsewhere"]).contains("note:"));
    let _ = std::fs::remove_dir_all(&dir);
}
