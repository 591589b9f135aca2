//! Every JSON example in README.md and docs/*.md compiles, so the front door
//! never shows a scenario that `meshsim validate` refuses.
//!
//! The convention, for whoever writes the docs:
//!
//! - A fenced block is JSON when its info string is `json`, or when it has no
//!   info string and its first non-blank character is `{` or `"`.
//! - A whole scenario (an object with `"name"` and `"services"`) must compile
//!   as it is printed, with `meshsim::scenario::parse`.
//! - A fragment is embedded in a minimal scenario (services `orders`,
//!   `inventory`, `payments` and `pricing`; an open-loop workload entering
//!   `orders`) at its place and must compile there: members such as
//!   `"policies": {...}` or `"schedule": [...]` go where their key belongs
//!   (top level, the workload, or the service `orders`); an object with `at`
//!   is a fault; an object with one key naming a distribution kind is a
//!   service time.
//! - A block that must not be checked is marked by an HTML comment on the
//!   line just before its fence (invisible when the markdown is rendered):
//!   `<!-- not-a-scenario -->` for JSON that is no scenario (an excerpt of
//!   summary.json), `<!-- invalid: why -->` for an example of a mistake. An
//!   `invalid` block must still be refused, so it cannot become valid unseen.
//!
//! A failure names the file and the line of the block's fence.

use serde_json::{Map, Value, json};

const FILES: &[&str] = &[
    "README.md",
    "docs/scenarios.md",
    "docs/architecture.md",
    "docs/performance.md",
];

#[derive(Debug, PartialEq)]
enum Mark {
    Check,
    NotAScenario,
    Invalid,
}

struct Block {
    line: usize,
    text: String,
    mark: Mark,
}

/// The JSON blocks of a markdown text, with the line of their fence.
fn json_blocks(markdown: &str) -> Vec<Block> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let info = info.trim();
        let fence = i;
        let mut body = Vec::new();
        i += 1;
        while i < lines.len() && !lines[i].trim_start().starts_with("```") {
            body.push(lines[i]);
            i += 1;
        }
        i += 1;
        let text = body.join("\n");
        let first = text.trim_start().chars().next();
        let is_json = info.split_whitespace().next() == Some("json")
            || (info.is_empty() && matches!(first, Some('{' | '"')));
        if !is_json {
            continue;
        }
        let before = lines[..fence]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map_or("", |l| l.trim());
        let mark = if before.starts_with("<!-- not-a-scenario") {
            Mark::NotAScenario
        } else if before.starts_with("<!-- invalid") {
            Mark::Invalid
        } else {
            Mark::Check
        };
        blocks.push(Block {
            line: fence + 1,
            text,
            mark,
        });
    }
    blocks
}

fn minimal() -> Value {
    let service = json!({"service_time": {"constant": "1ms"}});
    json!({
        "name": "docs-example",
        "duration": "60s",
        "services": {
            "orders": service,
            "inventory": service,
            "payments": service,
            "pricing": service,
        },
        "workload": {
            "arrivals": {"poisson": {"rate": 10}},
            "routes": [{"service": "orders"}],
        },
    })
}

const TOP_LEVEL: &[&str] = &[
    "description",
    "duration",
    "window",
    "seed",
    "event_budget",
    "services",
    "policies",
    "network",
    "workload",
    "faults",
];
const WORKLOAD: &[&str] = &[
    "arrivals", "schedule", "users", "routes", "timeout", "policy",
];
const SERVICE: &[&str] = &[
    "instances",
    "concurrency",
    "queue_capacity",
    "service_time",
    "error_rate",
    "calls",
    "discovery",
    "autoscale",
];
const DISTRIBUTIONS: &[&str] = &[
    "constant",
    "uniform",
    "exponential",
    "normal",
    "lognormal",
    "pareto",
    "empirical",
];

/// The scenario text to compile for a block, or why it cannot be placed.
fn scenario_text(block: &str) -> Result<String, String> {
    let trimmed = block.trim();
    let value: Value = if trimmed.starts_with('"') {
        serde_json::from_str(&format!("{{{trimmed}}}"))
    } else {
        serde_json::from_str(trimmed)
    }
    .map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(members) = value else {
        return Err("neither an object nor object members".into());
    };
    if !trimmed.starts_with('"') && members.contains_key("name") && members.contains_key("services")
    {
        // A whole scenario: compiled as printed, so positions are the block's.
        return Ok(block.to_string());
    }
    let mut scenario = minimal();
    if !trimmed.starts_with('"') {
        if members.contains_key("at") {
            scenario["faults"] = json!([Value::Object(members)]);
        } else if members.len() == 1
            && DISTRIBUTIONS.contains(&members.keys().next().unwrap().as_str())
        {
            scenario["services"]["orders"]["service_time"] = Value::Object(members);
        } else {
            return Err("an object that is neither a scenario, a fault nor a distribution".into());
        }
        return Ok(scenario.to_string());
    }
    for (key, value) in members {
        let place: &mut Map<String, Value> = if TOP_LEVEL.contains(&key.as_str()) {
            scenario.as_object_mut().unwrap()
        } else if WORKLOAD.contains(&key.as_str()) {
            scenario["workload"].as_object_mut().unwrap()
        } else if SERVICE.contains(&key.as_str()) {
            scenario["services"]["orders"].as_object_mut().unwrap()
        } else {
            return Err(format!("no place for a member `{key}`"));
        };
        place.insert(key, value);
    }
    Ok(scenario.to_string())
}

#[test]
fn every_json_example_in_the_docs_compiles() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in FILES {
        let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
        let markdown = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        for block in json_blocks(&markdown) {
            let at = format!("{file}:{}", block.line);
            if block.mark == Mark::NotAScenario {
                continue;
            }
            let compiled = scenario_text(&block.text)
                .and_then(|text| meshsim::scenario::parse(&text, file).map_err(|e| e.to_string()));
            match (&block.mark, compiled) {
                (Mark::Check, Ok(_)) | (Mark::Invalid, Err(_)) => checked += 1,
                (Mark::Check, Err(e)) => failures.push(format!(
                    "{at}: this JSON example does not compile (fix it, or mark it with <!-- invalid: why --> or <!-- not-a-scenario --> on the line before the fence):\n{e}"
                )),
                (Mark::Invalid, Ok(_)) => failures.push(format!(
                    "{at}: marked <!-- invalid --> but compiles: remove the mark"
                )),
                (Mark::NotAScenario, _) => unreachable!("skipped above"),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // README has a scenario and a policies fragment; scenarios.md several.
    assert!(
        checked >= 9,
        "only {checked} examples found: is the block finder broken?"
    );
}

#[test]
fn the_block_finder_reads_marks_and_untagged_json() {
    let markdown = "text\n\n```json\n{\"a\": 1}\n```\n\n<!-- invalid: a typo -->\n```json\n{}\n```\n\
                    <!-- not-a-scenario -->\n\n```\n{\"format\": 1}\n```\n```sh\ncargo test\n```\n";
    let blocks = json_blocks(markdown);
    let found: Vec<(usize, &Mark)> = blocks.iter().map(|b| (b.line, &b.mark)).collect();
    assert_eq!(
        found,
        vec![
            (3, &Mark::Check),
            (8, &Mark::Invalid),
            (13, &Mark::NotAScenario)
        ]
    );
}

#[test]
fn fragments_land_where_they_belong() {
    let cases = [
        r#""schedule": [{"at": "10s", "rate": 20}]"#,
        r#""calls": [{"service": "inventory", "timeout": "100ms"}]"#,
        r#""policies": {"p": {}}"#,
        r#"{"at": "1s", "crash": {"service": "pricing"}}"#,
        r#"{"exponential": {"mean": "5ms"}}"#,
    ];
    for case in cases {
        let text = scenario_text(case).unwrap_or_else(|e| panic!("{case}: {e}"));
        if let Err(e) = meshsim::scenario::parse(&text, "t.json") {
            panic!("{case}: {e}");
        }
    }
    assert!(scenario_text(r#""nonsense": 1"#).is_err());
    let bad = scenario_text(r#""calls": [{"service": "nowhere"}]"#).unwrap();
    assert!(meshsim::scenario::parse(&bad, "t.json").is_err());
}
