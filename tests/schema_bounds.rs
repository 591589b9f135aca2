//! The JSON Schema (`meshsim schema`) and the meaning checks agree on every
//! numeric bound: for each field below, a value out of range is refused by
//! validation *and* by the schema's `minimum`, `maximum`,
//! `exclusiveMinimum` or `exclusiveMaximum`, and a value in range is
//! accepted by both. An editor checking against the schema therefore flags
//! what `meshsim validate` would, and a bound changed on one side only fails
//! here.
//!
//! Bounds the schema cannot say are left to validation: durations longer
//! than zero (a duration is a pattern-checked string), bounds between fields
//! (`cap` ≥ `base`, `p99` > `median`) and a time window's 86400 seconds.

use serde_json::{Value, json};

/// A scenario in which every field below is present with a valid value.
fn base() -> Value {
    json!({
        "name": "bounds",
        "duration": "60s",
        "event_budget": 1_000_000_000u64,
        "services": {
            "a": {
                "instances": 2, "concurrency": 2, "queue_capacity": 10,
                "service_time": {"pareto": {"scale": "1ms", "shape": 2}},
                "error_rate": 0.01,
                "boot_time": {"pareto": {"scale": "1s", "shape": 2}},
                "calls": [
                    {"service": "b", "probability": 0.5, "policy": "p"},
                    {"parallel": [{"service": "b", "probability": 0.5}]}
                ]
            },
            "b": {"service_time": {"lognormal": {"mean": "1ms", "sigma": 0.5}},
                  "instance_slowdown": [3]}
        },
        "policies": {
            "p": {
                "timeout": "100ms",
                "retry": {"max_attempts": 3,
                          "backoff": {"exponential": {"base": "1ms", "multiplier": 2, "cap": "10ms"}}},
                "budget": {"tps": {"retry_percent": 20}},
                "breaker": {"window_size": 50, "failure_rate_percent": 50,
                            "slow_call_rate_percent": 100, "minimum_calls": 10,
                            "wait_multiplier": 1, "half_open_calls": 5}
            },
            "limits": {
                "bulkhead": {"max_concurrent": 4, "max_wait": "1ms", "max_waiting": 4},
                "rate_limit": {"rate": 100, "burst": 10}
            },
            "hedged": {"hedge": {"percentile": 95, "max_hedges": 1}},
            "tokens": {"budget": {"token_bucket": {"max_tokens": 10, "token_ratio": 0.1}}},
            "adaptive": {"budget": {"adaptive": {"k": 2}}}
        },
        "network": {"loss": 0.001, "links": [{"from": "a", "to": "b", "loss": 0.001}]},
        "workload": {
            "arrivals": {"poisson": {"rate": 10}},
            "schedule": [{"at": "10s", "rate": 20}, {"at": "20s", "ramp_to": 5, "over": "5s"}],
            "routes": [{"service": "a", "weight": 1}],
            "timeout": "1s"
        },
        "faults": [
            {"at": "1s", "for": "1s", "errors": {"service": "b", "rate": 0.5}},
            {"at": "2s", "for": "1s", "loss": {"rate": 0.1}},
            {"at": "3s", "for": "1s", "slowdown": {"service": "b", "factor": 2}}
        ]
    })
}

/// `base` with a closed-loop workload instead of arrivals.
fn explored() -> Value {
    let mut scenario = base();
    scenario["explore"] = json!({
        "seeds": 10, "faults_max": 2, "slowdown_max": 5, "errors_max": 0.5, "loss_max": 0.5
    });
    scenario
}

fn closed() -> Value {
    let mut scenario = base();
    scenario["workload"] = json!({
        "users": {"count": 10, "think_time": {"constant": "10ms"}},
        "routes": [{"service": "a"}],
        "timeout": "1s"
    });
    scenario
}

/// `base` with two routes and named clients, one open-loop and one
/// closed-loop.
fn clients() -> Value {
    let mut scenario = base();
    scenario["workload"] = json!({
        "routes": [{"name": "r1", "service": "a"}, {"name": "r2", "service": "b"}],
        "timeout": "1s",
        "clients": [
            {"name": "web", "arrivals": {"poisson": {"rate": 10}}, "routes": {"r1": 1, "r2": 1}},
            {"name": "bots", "users": {"count": 10, "think_time": {"constant": "10ms"}}}
        ]
    });
    scenario
}

/// (base, field path as validation prints it, values out of range, values in range)
type Case = (fn() -> Value, &'static str, &'static [f64], &'static [f64]);

const CASES: &[Case] = &[
    (base, "event_budget", &[0.0], &[1.0]),
    (
        base,
        "services.a.instances",
        &[0.0, 100_001.0],
        &[1.0, 1000.0],
    ),
    (base, "services.a.concurrency", &[0.0], &[1.0]),
    (base, "services.a.queue_capacity", &[0.0], &[1.0]),
    (
        base,
        "services.a.error_rate",
        &[-0.1, 1.5, 50.0],
        &[0.0, 1.0],
    ),
    (
        base,
        "services.b.instance_slowdown[0]",
        &[0.0, -1.0],
        &[0.5, 3.0],
    ),
    (base, "services.a.boot_time.pareto.shape", &[0.0], &[2.0]),
    (
        base,
        "services.a.service_time.pareto.shape",
        &[0.0, -1.0],
        &[0.5],
    ),
    (
        base,
        "services.b.service_time.lognormal.sigma",
        &[0.0, 10.5],
        &[10.0],
    ),
    (
        base,
        "services.a.calls[0].probability",
        &[-0.5, 2.0],
        &[0.0, 1.0],
    ),
    (
        base,
        "services.a.calls[1].parallel[0].probability",
        &[1.01],
        &[1.0],
    ),
    (base, "network.loss", &[-0.1, 1.1], &[0.0, 1.0]),
    (base, "network.links[0].loss", &[1.1], &[1.0]),
    (
        base,
        "workload.arrivals.poisson.rate",
        &[0.0, -5.0],
        &[0.001],
    ),
    (base, "workload.schedule[0].rate", &[-1.0], &[0.0]),
    (base, "workload.schedule[1].ramp_to", &[-1.0], &[0.0]),
    (closed, "workload.users.count", &[0.0, 10_000_001.0], &[1.0]),
    (base, "workload.routes[0].weight", &[0.0, -1.0], &[0.01]),
    (
        clients,
        "workload.clients[0].routes.r1",
        &[-1.0, -0.001],
        &[0.0, 0.5],
    ),
    (
        clients,
        "workload.clients[0].arrivals.poisson.rate",
        &[0.0, -5.0],
        &[0.001],
    ),
    (
        clients,
        "workload.clients[1].users.count",
        &[0.0, 10_000_001.0],
        &[1.0],
    ),
    (
        explored,
        "explore.seeds",
        &[0.0, 100_001.0],
        &[1.0, 100_000.0],
    ),
    (explored, "explore.faults_max", &[0.0, 101.0], &[1.0, 100.0]),
    (
        explored,
        "explore.slowdown_max",
        &[1.9, 1000.5],
        &[2.0, 1000.0],
    ),
    (explored, "explore.errors_max", &[0.0, 1.1], &[0.01, 1.0]),
    (explored, "explore.loss_max", &[0.0, 1.1], &[0.01, 1.0]),
    (base, "faults[0].errors.rate", &[1.5], &[1.0]),
    (base, "faults[1].loss.rate", &[-0.5], &[0.0]),
    (base, "faults[2].slowdown.factor", &[0.0], &[0.5]),
    (
        base,
        "policies.p.retry.max_attempts",
        &[0.0, 11.0],
        &[1.0, 10.0],
    ),
    (
        base,
        "policies.p.retry.backoff.exponential.multiplier",
        &[0.5, 101.0],
        &[1.0, 100.0],
    ),
    (
        base,
        "policies.p.budget.tps.retry_percent",
        &[-1.0, 1001.0],
        &[0.0, 1000.0],
    ),
    (
        base,
        "policies.tokens.budget.token_bucket.max_tokens",
        &[0.0, 1001.0],
        &[1.0, 1000.0],
    ),
    (
        base,
        "policies.tokens.budget.token_bucket.token_ratio",
        &[0.0, 1001.0],
        &[0.001],
    ),
    (base, "policies.adaptive.budget.adaptive.k", &[0.5], &[1.0]),
    (
        base,
        "policies.p.breaker.window_size",
        &[0.0, 100_001.0],
        &[1.0, 100_000.0],
    ),
    (
        base,
        "policies.p.breaker.failure_rate_percent",
        &[0.0, 101.0],
        &[0.5, 100.0],
    ),
    (
        base,
        "policies.p.breaker.slow_call_rate_percent",
        &[0.0, 100.5],
        &[100.0],
    ),
    (base, "policies.p.breaker.minimum_calls", &[0.0], &[1.0]),
    (
        base,
        "policies.p.breaker.wait_multiplier",
        &[0.9, 101.0],
        &[1.0, 100.0],
    ),
    (
        base,
        "policies.p.breaker.half_open_calls",
        &[0.0, 100_001.0],
        &[1.0],
    ),
    (
        base,
        "policies.limits.bulkhead.max_concurrent",
        &[0.0],
        &[1.0],
    ),
    (
        base,
        "policies.limits.bulkhead.max_waiting",
        &[0.0, 1_000_001.0],
        &[1.0],
    ),
    (base, "policies.limits.rate_limit.rate", &[0.0], &[0.5]),
    (
        base,
        "policies.hedged.hedge.percentile",
        &[0.0, 100.0],
        &[0.5, 99.9],
    ),
    (
        base,
        "policies.hedged.hedge.max_hedges",
        &[0.0, 5.0],
        &[1.0, 4.0],
    ),
];

#[derive(Clone, Debug)]
enum Segment {
    Key(String),
    Index(usize),
}

fn segments(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut pieces = part.split('[');
        let key = pieces.next().unwrap();
        if !key.is_empty() {
            out.push(Segment::Key(key.to_string()));
        }
        for index in pieces {
            out.push(Segment::Index(index.trim_end_matches(']').parse().unwrap()));
        }
    }
    out
}

fn set(scenario: &mut Value, path: &str, value: Value) {
    let mut node = scenario;
    for segment in segments(path) {
        node = match segment {
            Segment::Key(key) => node.get_mut(&key),
            Segment::Index(i) => node.get_mut(i),
        }
        .unwrap_or_else(|| panic!("{path}: not in the base scenario"));
    }
    *node = value;
}

/// A number as JSON: integers without a fraction, so that integer fields
/// read them.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

fn resolve<'s>(root: &'s Value, node: &'s Value) -> &'s Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.trim_start_matches("#/$defs/");
            resolve(root, &root["$defs"][name])
        }
        None => node,
    }
}

/// The schema of the value at `path`: through `$ref`s, `properties`,
/// maps (`additionalProperties`), arrays (`items`) and the branches of
/// `anyOf`/`oneOf` (options and enums).
fn field<'s>(root: &'s Value, node: &'s Value, path: &[Segment]) -> Option<&'s Value> {
    let node = resolve(root, node);
    let Some((first, rest)) = path.split_first() else {
        return Some(node);
    };
    for branches in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = node.get(branches) {
            return branches.iter().find_map(|b| field(root, b, path));
        }
    }
    let next = match first {
        Segment::Key(key) => node
            .get("properties")
            .and_then(|p| p.get(key))
            .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))?,
        Segment::Index(_) => node.get("items")?,
    };
    field(root, next, rest)
}

/// Whether `schema` allows the number `x` by its numeric keywords.
fn schema_allows(schema: &Value, x: f64) -> bool {
    let bound = |k: &str| schema.get(k).and_then(Value::as_f64);
    bound("minimum").is_none_or(|m| x >= m)
        && bound("maximum").is_none_or(|m| x <= m)
        && bound("exclusiveMinimum").is_none_or(|m| x > m)
        && bound("exclusiveMaximum").is_none_or(|m| x < m)
}

#[test]
fn the_base_scenarios_are_valid() {
    for scenario in [base(), closed(), clients()] {
        if let Err(e) = meshsim::scenario::parse(&scenario.to_string(), "base.json") {
            panic!("{e}");
        }
    }
}

#[test]
fn the_schema_declares_every_bound_that_validation_enforces() {
    let schema = meshsim::scenario::json_schema();
    let mut failures = Vec::new();
    for (make, path, bad, good) in CASES {
        let Some(field_schema) = field(&schema, &schema, &segments(path)) else {
            failures.push(format!("{path}: not found in the schema"));
            continue;
        };
        for (x, ok) in bad
            .iter()
            .map(|x| (x, false))
            .chain(good.iter().map(|x| (x, true)))
        {
            let mut scenario = make();
            set(&mut scenario, path, number(*x));
            let refused = meshsim::scenario::parse(&scenario.to_string(), "t.json").err();
            if ok {
                if let Some(e) = &refused {
                    failures.push(format!(
                        "{path} = {x}: validation refuses a value in range: {e}"
                    ));
                }
                if !schema_allows(field_schema, *x) {
                    failures.push(format!(
                        "{path} = {x}: the schema refuses a value in range: {field_schema}"
                    ));
                }
            } else {
                match &refused {
                    None => failures.push(format!("{path} = {x}: validation accepts it")),
                    Some(e) if !e.diagnostics.iter().any(|d| d.path.to_string() == *path) => {
                        failures.push(format!("{path} = {x}: refused, but not at this path: {e}"))
                    }
                    Some(_) => {}
                }
                if schema_allows(field_schema, *x) {
                    failures.push(format!(
                        "{path} = {x}: the schema allows it: {field_schema}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_schema_key_is_accepted_and_must_be_a_string() {
    let mut scenario = base();
    scenario["$schema"] = json!("./meshsim.schema.json");
    if let Err(e) = meshsim::scenario::parse(&scenario.to_string(), "t.json") {
        panic!("{e}");
    }
    let schema = meshsim::scenario::json_schema();
    assert_eq!(schema["properties"]["$schema"]["type"], "string");
    scenario["$schema"] = json!(3);
    let error = meshsim::scenario::parse(&scenario.to_string(), "t.json").unwrap_err();
    assert_eq!(
        error.diagnostics[0].path.to_string(),
        r#"["$schema"]"#,
        "{error}"
    );
}
