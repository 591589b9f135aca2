//! docs/scenarios.md cannot silently drift from the code: every property in
//! the JSON Schema of scenario files, every field of summary.json and every
//! column of the series/*.csv files must appear in it, in backquotes.

use std::collections::BTreeSet;

use serde_json::Value;

fn docs() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/scenarios.md");
    std::fs::read_to_string(path).expect("read docs/scenarios.md")
}

/// The names in `names` that the docs never mention as `name`.
fn undocumented(names: &BTreeSet<String>) -> Vec<String> {
    let docs = docs();
    names
        .iter()
        .filter(|name| !docs.contains(&format!("`{name}`")))
        .cloned()
        .collect()
}

/// Every key of every `properties` object in a JSON Schema, wherever it is:
/// at the top level, in `$defs`, and inside `oneOf` variants (the kinds of
/// distributions and arrival processes are properties of their variant).
fn property_names(schema: &Value, out: &mut BTreeSet<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                out.extend(properties.keys().cloned());
            }
            for value in map.values() {
                property_names(value, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| property_names(v, out)),
        _ => {}
    }
}

#[test]
fn every_scenario_field_is_documented() {
    let schema = meshsim::scenario::json_schema();
    let defs = schema["$defs"]
        .as_object()
        .expect("schemars puts the types in $defs");
    for def in ["Service", "CallStep", "Distribution", "Workload", "Fault"] {
        assert!(defs.contains_key(def), "no {def} in $defs");
    }
    let mut names = BTreeSet::new();
    property_names(&schema, &mut names);
    // A sample of what the walk must find, from every level of the model.
    for name in [
        "name",
        "queue_capacity",
        "parallel",
        "lognormal",
        "std_dev",
        "percentiles",
        "links",
        "poisson",
        "ramp_to",
        "think_time",
        "weight",
        "instance",
        "between",
        "factor",
        "for",
    ] {
        assert!(names.contains(name), "the schema walk missed `{name}`");
    }
    let missing = undocumented(&names);
    assert!(
        missing.is_empty(),
        "scenario fields missing from docs/scenarios.md (write each as `name`): {missing:?}"
    );
}

#[test]
fn every_timeseries_column_is_documented() {
    // Every file a run may write, `series/clients.csv` and the files of
    // balanced, discovered and autoscaled services, sagas and consumer
    // groups included.
    use meshsim::report::timeseries::{
        ALL_FILES, AUTOSCALE, BALANCE, GROUPS, INSTANCES, LAG, SAGAS, STATUSES,
    };
    let columns: BTreeSet<String> = ALL_FILES
        .iter()
        .chain([
            &INSTANCES, &BALANCE, &AUTOSCALE, &SAGAS, &GROUPS, &LAG, &STATUSES,
        ])
        .flat_map(|f| f.header.split(','))
        .map(String::from)
        .collect();
    assert!(columns.len() > 10, "{columns:?}");
    let missing = undocumented(&columns);
    assert!(
        missing.is_empty(),
        "series/*.csv columns missing from docs/scenarios.md: {missing:?}"
    );
}

/// Every key of a summary.json, except the route, service and edge names that
/// key the `routes`, `services` and `edges` maps.
fn summary_fields(value: &Value, names: &BTreeSet<String>, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                if !names.contains(key) {
                    out.insert(key.clone());
                }
                summary_fields(value, names, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| summary_fields(v, names, out)),
        _ => {}
    }
}

#[test]
fn every_summary_field_is_documented() {
    // A short run of the bundled shop: it has routes, services and faults,
    // so every kind of entry appears in its summary.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/shop.json");
    let scenario = meshsim::scenario::load(std::path::Path::new(path)).expect("shop loads");
    let outcome = meshsim::world::run(&scenario, scenario.scenario().seed, Some(20_000));
    let summary =
        meshsim::report::summary::Summary::new(&scenario, scenario.scenario().seed, &outcome);
    let json: Value = serde_json::from_str(&summary.to_json()).expect("summary.json is JSON");
    let mut names: BTreeSet<String> = scenario.scenario().services.keys().cloned().collect();
    names.extend(outcome.route_names.iter().cloned());
    names.extend(
        outcome
            .edges
            .iter()
            .filter(|e| !e.is_route)
            .map(|e| e.name.clone()),
    );
    let mut fields = BTreeSet::new();
    summary_fields(&json, &names, &mut fields);
    // And a workload with `clients`, whose summary has a `clients` map.
    let text = r#"{"name": "clients", "duration": "1s",
        "services": {"s": {"service_time": {"constant": "1ms"}}},
        "workload": {"routes": [{"service": "s"}],
                     "clients": [{"name": "mobile", "arrivals": {"poisson": {"rate": 100}},
                                  "credential": "user"}]}}"#;
    let scenario = meshsim::scenario::parse(text, "clients.json").expect("valid");
    let outcome = meshsim::world::run(&scenario, 1, None);
    let summary = meshsim::report::summary::Summary::new(&scenario, 1, &outcome);
    let json: Value = serde_json::from_str(&summary.to_json()).expect("summary.json is JSON");
    let mut names: BTreeSet<String> = ["s", "mobile"].map(String::from).into();
    names.extend(outcome.route_names.iter().cloned());
    summary_fields(&json, &names, &mut fields);
    for field in ["clients", "credential"] {
        assert!(fields.contains(field), "the walk missed `{field}`");
    }
    // And an autoscaled service that scales, whose summary has an
    // `autoscale` block with its `changes`.
    let text = r#"{"name": "autoscaled", "duration": "40s",
        "services": {"s": {"instances": 1, "concurrency": 1, "service_time": {"constant": "9ms"},
                           "discovery": {"health_check": {"interval": "1s", "timeout": "500ms"}},
                           "autoscale": {"target": {"utilization_percent": 50}, "max_instances": 3}}},
        "workload": {"arrivals": {"poisson": {"rate": 100}}, "routes": [{"service": "s"}]}}"#;
    let scenario = meshsim::scenario::parse(text, "autoscaled.json").expect("valid");
    let outcome = meshsim::world::run(&scenario, 1, None);
    let summary = meshsim::report::summary::Summary::new(&scenario, 1, &outcome);
    let json: Value = serde_json::from_str(&summary.to_json()).expect("summary.json is JSON");
    let mut names: BTreeSet<String> = ["s"].map(String::from).into();
    names.extend(outcome.route_names.iter().cloned());
    summary_fields(&json, &names, &mut fields);
    for field in ["autoscale", "time_to_capacity", "recommendation"] {
        assert!(fields.contains(field), "the walk missed `{field}`");
    }
    for field in [
        "format",
        "littles_law",
        "p999",
        "dependency",
        "timeout",
        "end_s",
    ] {
        assert!(fields.contains(field), "the walk missed `{field}`");
    }
    let missing = undocumented(&fields);
    assert!(
        missing.is_empty(),
        "summary.json fields missing from docs/scenarios.md: {missing:?}"
    );
}
