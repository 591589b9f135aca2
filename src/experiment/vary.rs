//! Setting a field of a scenario by path, on its JSON before it is loaded:
//! `--vary policies.standard.retry.max_attempts=1,3,5`.
//!
//! A variant is the scenario's JSON with each varied path set to one of its
//! values, then loaded and compiled as `run` would (so its warnings and
//! errors are the same). The path is walked on the JSON value and, beside
//! it, on the JSON Schema of scenario files (`meshsim schema`), so that a
//! field the file leaves out but the schema allows (an optional setting) can
//! be set, and a field that exists nowhere is refused at once, naming the
//! fields that exist at the point where the path failed. What the schema
//! cannot judge (a value of the wrong type, a new entry of a map) is left to
//! the loader, whose located error the caller prefixes with the variant.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::scenario::VaryPath;
use crate::scenario::diagnostic::did_you_mean;

/// One `--vary` argument: a path and the values to try, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Vary {
    /// Where.
    pub path: VaryPath,
    /// What, in order; the first is the baseline's.
    pub values: Vec<Value>,
}

/// The values of `PATH=VALUES`: a JSON array (`[1,3,5]`, `[{"constant":
/// "1ms"}, ...]`), or comma-separated scalars, each read as JSON if it
/// parses as JSON and as a string otherwise (`1,3,5`; `2s,5s`; `true,false`).
pub fn parse_values(text: &str) -> Result<Vec<Value>, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('[') {
        return match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Array(values)) if !values.is_empty() => Ok(values),
            Ok(_) => Err("an empty array: give at least one value to try".to_string()),
            Err(e) => Err(format!(
                "`{trimmed}` starts as a JSON array but is not one ({e}): write values as [1,3,5] or 1,3,5"
            )),
        };
    }
    let values: Vec<Value> = text
        .split(',')
        .map(|piece| {
            let piece = piece.trim();
            serde_json::from_str(piece).unwrap_or_else(|_| Value::String(piece.to_string()))
        })
        .collect();
    if text.trim().is_empty() || values.iter().any(|v| v == &Value::String(String::new())) {
        return Err(format!(
            "`{text}` has an empty value: write values separated by commas, e.g. 1,3,5"
        ));
    }
    Ok(values)
}

/// Parses `PATH=VALUES` (the `=` is the first one outside quotes).
pub fn parse_vary(text: &str) -> Result<Vary, String> {
    let mut quoted = false;
    let mut escaped = false;
    let split = text.char_indices().find(|&(_, c)| {
        if escaped {
            escaped = false;
            return false;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '=' if !quoted => return true,
            _ => {}
        }
        false
    });
    let Some((at, _)) = split else {
        // An `=` inside an unclosed quote: the quote is the mistake.
        if let Err(e) = VaryPath::parse(text)
            && e.contains("not closed")
        {
            return Err(e);
        }
        return Err(format!(
            "`--vary {text}` has no `=`: write PATH=V1,V2,..., e.g. --vary policies.standard.retry.max_attempts=1,2,3"
        ));
    };
    let (path, values) = (&text[..at], &text[at + 1..]);
    let path = VaryPath::parse(path)?;
    let values = parse_values(values).map_err(|e| format!("in `--vary {text}`: {e}"))?;
    Ok(Vary { path, values })
}

/// A value as a variant's name shows it: a string bare, anything else as
/// compact JSON.
pub fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Sets `path` in `scenario` (a scenario's JSON) to `value`. `schema` is
/// the JSON Schema of scenario files. Fails, naming the valid fields or
/// indices where the path goes wrong, when it leads nowhere.
pub fn set(
    scenario: &mut Value,
    schema: &Value,
    path: &VaryPath,
    value: Value,
) -> Result<(), String> {
    let mut here = scenario;
    let mut nodes = vec![schema];
    let last = path.0.len() - 1;
    for (i, segment) in path.0.iter().enumerate() {
        let at = if i == 0 {
            "the top level".to_string()
        } else {
            format!("`{}`", path.prefix(i))
        };
        let candidates = expand(schema, &nodes);
        match here {
            Value::Object(object) => {
                let declared = properties(&candidates);
                let is_map = candidates.iter().any(|n| map_values(n).is_some());
                let next_nodes: Vec<&Value> = candidates
                    .iter()
                    .filter_map(|n| {
                        n.get("properties")
                            .and_then(|p| p.get(segment))
                            .or_else(|| map_values(n))
                    })
                    .collect();
                if !object.contains_key(segment) {
                    let known = declared.contains(segment.as_str());
                    let fits = known || (is_map && i == last);
                    if !fits {
                        let mut valid: BTreeSet<&str> = declared.iter().copied().collect();
                        valid.extend(object.keys().map(String::as_str));
                        // `a.b.instances` for the key `a.b`: say how to quote it.
                        let rest = path.0[i..].join(".");
                        let dotted = valid.iter().find(|k| {
                            k.contains('.') && (rest == **k || rest.starts_with(&format!("{k}.")))
                        });
                        let hint = match dotted {
                            Some(k) => format!(
                                " (a key with dots is quoted: `{}`)",
                                VaryPath(
                                    path.0[..i]
                                        .iter()
                                        .cloned()
                                        .chain([k.to_string()])
                                        .chain(
                                            rest[k.len()..]
                                                .split('.')
                                                .filter(|s| !s.is_empty())
                                                .map(str::to_string)
                                        )
                                        .collect()
                                )
                            ),
                            None => did_you_mean(segment, valid.iter().copied())
                                .map(|s| format!(" (did you mean `{s}`?)"))
                                .unwrap_or_default(),
                        };
                        let what = if is_map && declared.is_empty() {
                            "entries"
                        } else {
                            "fields"
                        };
                        return Err(format!(
                            "the path `{path}` fails at `{segment}`: {at} has no `{segment}`{hint}; its {what}: {}",
                            list(valid.iter().copied())
                        ));
                    }
                    object.insert(
                        segment.clone(),
                        if i == last {
                            Value::Null
                        } else {
                            Value::Object(serde_json::Map::new())
                        },
                    );
                }
                here = object.get_mut(segment).expect("present or inserted");
                nodes = next_nodes;
            }
            Value::Array(items) => {
                let len = items.len();
                let range = if len == 0 {
                    "it is empty".to_string()
                } else {
                    format!("its indices are 0 to {}", len - 1)
                };
                let index = match segment.parse::<usize>() {
                    Ok(index) if index < len => index,
                    Ok(index) => {
                        return Err(format!(
                            "the path `{path}` fails at `{segment}`: {at} is an array of {len}, so index {index} is past its end; {range}"
                        ));
                    }
                    Err(_) => {
                        return Err(format!(
                            "the path `{path}` fails at `{segment}`: {at} is an array, indexed by number; {range}"
                        ));
                    }
                };
                nodes = candidates.iter().filter_map(|n| n.get("items")).collect();
                here = &mut items[index];
            }
            scalar => {
                return Err(format!(
                    "the path `{path}` fails at `{segment}`: {at} is {} ({}), which has no fields",
                    kind(scalar),
                    scalar
                ));
            }
        }
    }
    *here = value;
    Ok(())
}

fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The schema of a map's values, if `node` is the schema of a map.
fn map_values(node: &Value) -> Option<&Value> {
    node.get("additionalProperties").filter(|v| v.is_object())
}

/// The declared fields of `nodes` (any of them).
fn properties<'s>(nodes: &[&'s Value]) -> BTreeSet<&'s str> {
    nodes
        .iter()
        .filter_map(|n| n.get("properties").and_then(Value::as_object))
        .flat_map(|p| p.keys().map(String::as_str))
        .collect()
}

/// `nodes` with every `$ref` followed and every `anyOf`/`oneOf`/`allOf`
/// opened: the schemas a value at this point may match.
fn expand<'s>(root: &'s Value, nodes: &[&'s Value]) -> Vec<&'s Value> {
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = nodes.to_vec();
    // Bounded: a schema that refers to itself is walked at most this far.
    let mut budget = 256;
    while let Some(node) = stack.pop() {
        budget -= 1;
        if budget == 0 {
            break;
        }
        if let Some(target) = node
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/"))
        {
            let mut found = Some(root);
            for part in target.split('/') {
                found = found.and_then(|f| f.get(part));
            }
            if let Some(found) = found {
                stack.push(found);
            }
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(Value::Array(options)) = node.get(key) {
                stack.extend(options.iter());
            }
        }
        out.push(node);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scenario() -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/shop.json"))
                .unwrap(),
        )
        .unwrap()
    }

    fn set_text(path: &str, value: Value) -> Result<Value, String> {
        let mut s = scenario();
        let schema = crate::scenario::json_schema();
        set(&mut s, &schema, &VaryPath::parse(path).unwrap(), value)?;
        Ok(s)
    }

    #[test]
    fn values_parse_as_json_or_strings() {
        assert_eq!(
            parse_values("1,3,5").unwrap(),
            [json!(1), json!(3), json!(5)]
        );
        assert_eq!(parse_values("2s, 5s").unwrap(), [json!("2s"), json!("5s")]);
        assert_eq!(
            parse_values("true,null,0.5").unwrap(),
            [json!(true), json!(null), json!(0.5)]
        );
        assert_eq!(
            parse_values("[{\"constant\": \"1ms\"}, 2]").unwrap(),
            [json!({"constant": "1ms"}), json!(2)]
        );
        assert!(parse_values("1,,2").unwrap_err().contains("empty value"));
        assert!(parse_values("[]").unwrap_err().contains("empty array"));
        assert!(parse_values("[1,").unwrap_err().contains("not one"));
    }

    #[test]
    fn the_equals_sign_splits_outside_quotes() {
        let v = parse_vary("services.\"a=b\".instances=1,2").unwrap();
        assert_eq!(v.path.0, ["services", "a=b", "instances"]);
        assert_eq!(v.values, [json!(1), json!(2)]);
        assert!(parse_vary("a.b").unwrap_err().contains("no `=`"));
    }

    #[test]
    fn an_existing_field_is_replaced() {
        let s = set_text("policies.standard.retry.max_attempts", json!(5)).unwrap();
        assert_eq!(s["policies"]["standard"]["retry"]["max_attempts"], json!(5));
        let s = set_text("faults.1.errors.rate", json!(0.1)).unwrap();
        assert_eq!(s["faults"][1]["errors"]["rate"], json!(0.1));
    }

    #[test]
    fn an_optional_field_the_file_leaves_out_can_be_set() {
        // `hedge` is not in shop.json's policy, `error_rate` not in inventory.
        let s = set_text("services.inventory.error_rate", json!(0.01)).unwrap();
        assert_eq!(s["services"]["inventory"]["error_rate"], json!(0.01));
        let s = set_text("policies.standard.hedge", json!({"delay": "50ms"})).unwrap();
        assert_eq!(s["policies"]["standard"]["hedge"], json!({"delay": "50ms"}));
    }

    #[test]
    fn an_unknown_field_names_the_valid_ones() {
        let e = set_text("policies.standard.retry.max_attemps", json!(1)).unwrap_err();
        assert!(e.starts_with("the path `policies.standard.retry.max_attemps` fails at `max_attemps`: `policies.standard.retry` has no `max_attemps` (did you mean `max_attempts`?); its fields: "), "{e}");
        assert!(e.contains("`backoff`"), "{e}");
        let e = set_text("services.inventori.instances", json!(1)).unwrap_err();
        assert!(e.contains("`services` has no `inventori` (did you mean `inventory`?); its entries: `inventory`, `orders`, `payments`, `pricing`"), "{e}");
    }

    #[test]
    fn array_indices_are_checked() {
        let e = set_text("faults.9.for", json!("1s")).unwrap_err();
        assert!(
            e.contains(
                "`faults` is an array of 4, so index 9 is past its end; its indices are 0 to 3"
            ),
            "{e}"
        );
        let e = set_text("faults.first.for", json!("1s")).unwrap_err();
        assert!(e.contains("`faults` is an array, indexed by number"), "{e}");
    }

    #[test]
    fn a_scalar_has_no_fields() {
        let e = set_text("seed.x", json!(1)).unwrap_err();
        assert!(
            e.contains("`seed` is a number (7), which has no fields"),
            "{e}"
        );
    }
}
