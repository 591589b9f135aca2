//! `meshsim::scenario::parse` never panics, whatever it is given: arbitrary
//! text, arbitrary JSON, and random mutations of a real scenario. Every error
//! it returns has at least one diagnostic, every diagnostic says something,
//! and every position points inside the text.
//!
//! A mutated scenario that still loads is also run for a few thousand events:
//! a scenario that passes the checks must be safe to build into a world.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Value};

use meshsim::scenario::{Compiled, ScenarioError, json_schema, parse};

/// Cases per property: the whole file stays within a few seconds. A failing
/// case is saved beside this file, in `scenario_fuzz.proptest-regressions`,
/// and replayed first by every later run: commit that file with the fix, so
/// the input that broke `parse` stays in the corpus.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 192,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// Checks the contract of `parse` on `text`; returns the scenario if it loaded.
fn check(text: &str) -> Option<Compiled> {
    match parse(text, "fuzz.json") {
        Ok(scenario) => Some(scenario),
        Err(error) => {
            check_error(text, &error);
            None
        }
    }
}

fn check_error(text: &str, error: &ScenarioError) {
    assert_eq!(error.file, "fuzz.json");
    assert!(
        !error.diagnostics.is_empty(),
        "an error without diagnostics"
    );
    let lines: Vec<&str> = text.split('\n').collect();
    for d in &error.diagnostics {
        assert!(
            !d.message.trim().is_empty(),
            "an empty message at {}",
            d.path
        );
        if let Some((line, column)) = d.position {
            assert!(
                (1..=lines.len()).contains(&line),
                "{}: line {line} of {}: {}",
                d.path,
                lines.len(),
                d.message
            );
            // At most one past the last character (the end of the text).
            let width = lines[line - 1].chars().count();
            assert!(
                (1..=width + 1).contains(&column),
                "{}: column {column} of a {width}-character line: {}",
                d.path,
                d.message
            );
        }
    }
    // Rendering the error for the user must not panic either.
    assert!(error.to_string().contains("fuzz.json"));
}

/// Runs a loaded scenario briefly: compiling it into a world and handling a
/// few thousand events must not panic.
fn run_briefly(compiled: &Compiled) {
    let scenario = compiled.scenario();
    // Keep big populations and huge instance counts quick to build.
    let users = scenario.workload.users.as_ref().map_or(0, |u| u.count);
    let instances: u64 = scenario
        .services
        .values()
        .map(|s| u64::from(s.instances))
        .sum();
    if users <= 10_000 && instances <= 10_000 {
        let _ = meshsim::world::run(compiled, scenario.seed, Some(3_000));
    }
}

/// Every property name in the scenario schema: field names and variant
/// names, so that random objects often look like parts of a scenario.
fn schema_names() -> Vec<String> {
    fn walk(value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Object(properties)) = map.get("properties") {
                    out.extend(properties.keys().cloned());
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut names = BTreeSet::new();
    walk(&json_schema(), &mut names);
    assert!(names.len() > 40, "too few names in the schema: {names:?}");
    names.extend(["p0", "p50", "p100", "orders", "payments"].map(String::from));
    names.into_iter().collect()
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(schema_names()),
        1 => "[a-z_\"\\\\é\\n ]{0,8}",
    ]
}

/// Values that sit on the edges of what a scenario accepts.
fn edge_value() -> impl Strategy<Value = Value> {
    select(vec![
        Value::Null,
        Value::Bool(true),
        Value::from(0),
        Value::from(1),
        Value::from(-1),
        Value::from(0.5),
        Value::from(1.5),
        Value::from(-0.0),
        Value::from(1e308),
        Value::from(5e-324),
        Value::from(u64::MAX),
        Value::from(i64::MIN),
        Value::from(u64::from(u32::MAX) + 1),
        Value::from(""),
        Value::from("0"),
        Value::from("1ms"),
        Value::from("1ns"),
        Value::from("1.5"),
        Value::from("5 parsecs"),
        Value::from("5000000h"),
        Value::from("99999999999999h"),
        Value::from("orders"),
        Value::from("inventory"),
        Value::from("nowhere"),
        Value::Array(vec![]),
        Value::Object(Map::new()),
    ])
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => edge_value(),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(Value::from), // non-finite becomes null
        1 => "[0-9]{1,4}(\\.[0-9]{1,3})?(h|m|s|ms|us|µs|ns)".prop_map(Value::from),
        1 => key().prop_map(Value::from),
    ]
}

/// Arbitrary JSON, biased towards scenario-like shapes.
fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A top-level object with the required members, whose values are random:
/// gets past the first checks far more often than an arbitrary value.
fn scenario_like() -> impl Strategy<Value = Value> {
    (
        json_value(),
        json_value(),
        proptest::collection::btree_map(key(), json_value(), 0..4),
        json_value(),
        proptest::option::of(json_value()),
    )
        .prop_map(|(services, workload, extra, duration, faults)| {
            let mut object: Map<String, Value> = extra.into_iter().collect();
            object.insert("name".into(), Value::from("fuzz"));
            object.insert("duration".into(), duration);
            object.insert("services".into(), services);
            object.insert("workload".into(), workload);
            if let Some(faults) = faults {
                object.insert("faults".into(), faults);
            }
            Value::Object(object)
        })
}

/// One edit at a random place in a document.
#[derive(Clone, Debug)]
enum Edit {
    Replace(Value),
    Delete,
    Insert(String, Value),
}

#[derive(Clone, Debug)]
struct Mutation {
    depth: usize,
    route: Vec<Index>,
    edit: Edit,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let value = prop_oneof![3 => edge_value(), 1 => json_value()];
    let edit = prop_oneof![
        3 => value.clone().prop_map(Edit::Replace),
        2 => Just(Edit::Delete),
        2 => (key(), value).prop_map(|(k, v)| Edit::Insert(k, v)),
    ];
    (
        0usize..7,
        proptest::collection::vec(any::<Index>(), 7),
        edit,
    )
        .prop_map(|(depth, route, edit)| Mutation { depth, route, edit })
}

impl Mutation {
    fn apply(&self, root: &mut Value) {
        let node = reach(root, &self.route[..self.depth]);
        let choice = self.route[self.depth.min(self.route.len() - 1)];
        match (&self.edit, node) {
            (Edit::Replace(value), node) => *node = value.clone(),
            (Edit::Delete, Value::Object(map)) if !map.is_empty() => {
                let key = map.keys().nth(choice.index(map.len())).cloned();
                if let Some(key) = key {
                    map.remove(&key);
                }
            }
            (Edit::Delete, Value::Array(items)) if !items.is_empty() => {
                items.remove(choice.index(items.len()));
            }
            (Edit::Insert(key, value), Value::Object(map)) => {
                map.insert(key.clone(), value.clone());
            }
            (Edit::Insert(_, value), Value::Array(items)) => {
                items.insert(choice.index(items.len() + 1), value.clone());
            }
            _ => {}
        }
    }
}

/// The node at the end of `route`, stopping early at a leaf or an empty
/// container.
fn reach<'a>(node: &'a mut Value, route: &[Index]) -> &'a mut Value {
    let Some((choice, rest)) = route.split_first() else {
        return node;
    };
    let len = match &*node {
        Value::Object(map) => map.len(),
        Value::Array(items) => items.len(),
        _ => 0,
    };
    if len == 0 {
        return node;
    }
    let i = choice.index(len);
    let child = match node {
        Value::Object(map) => map.values_mut().nth(i).expect("in range"),
        Value::Array(items) => &mut items[i],
        _ => unreachable!("a container"),
    };
    reach(child, rest)
}

fn shop() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/shop.json");
    let text = std::fs::read_to_string(path).expect("read scenarios/shop.json");
    serde_json::from_str(&text).expect("shop.json is JSON")
}

/// Renders a value as a person might have written it.
fn render(value: &Value, pretty: bool) -> String {
    if pretty {
        serde_json::to_string_pretty(value).expect("plain JSON")
    } else {
        serde_json::to_string(value).expect("plain JSON")
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn json_like_text_never_panics(text in "[\\[\\]{}\":,.0-9a-z_ \\n\\t\\\\é-]{0,200}") {
        check(&text);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value(), pretty in any::<bool>()) {
        check(&render(&value, pretty));
    }

    #[test]
    fn scenario_like_json_never_panics(value in scenario_like(), pretty in any::<bool>()) {
        if let Some(scenario) = check(&render(&value, pretty)) {
            run_briefly(&scenario);
        }
    }

    #[test]
    fn mutated_scenarios_never_panic(
        mutations in proptest::collection::vec(mutation(), 1..4),
        pretty in any::<bool>(),
    ) {
        let mut value = shop();
        for m in &mutations {
            m.apply(&mut value);
        }
        let text = render(&value, pretty);
        if let Some(scenario) = check(&text) {
            run_briefly(&scenario);
        }
        // A truncated or spliced file: cut the text at a character boundary.
        let cut = text.char_indices().map(|(i, _)| i).nth(text.len() / 3).unwrap_or(0);
        check(&text[..cut]);
    }
}

#[test]
fn the_unmutated_scenario_loads() {
    let text = render(&shop(), true);
    assert!(check(&text).is_some());
}

#[test]
fn nasty_inputs_do_not_panic() {
    let deep_array = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200));
    let services_deep = format!(
        "{{\"name\": \"x\", \"duration\": \"1s\", \"services\": {{\"a\": {}0{}}}, \"workload\": {{}}}}",
        "[".repeat(120),
        "]".repeat(120)
    );
    let many_problems = format!(
        "{{\"name\": \"x\", \"duration\": \"1s\", \"services\": {{{}}}, \"workload\": {{}}}}",
        (0..500)
            .map(|i| format!("\"s{i}\": {{\"instances\": -1}}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    for text in [
        "",
        " ",
        "\n\n\n",
        "\u{feff}{}",
        "{",
        "}",
        "nul",
        "null",
        "\"\\ud800\"",
        "{\"a\": \"\\ud83d\"}",
        "{\"\\u0000\": 1}",
        "1e999",
        "-",
        "{\"name\": 1e400}",
        "{\"duration\": \"\\u00b5s\"}",
        "{\"duration\": \"1\u{b5}s\", \"x\": }",
        "{\"services\": {\"\u{e9}\\n\\\"\": {\"service_time\": {}}}}",
        "\r\n{\r\n\"a\"\r\n:\r\n}",
        &deep_array,
        &deep_object,
        &services_deep,
        &many_problems,
    ] {
        check(text);
    }
}
