//! Reading a scenario file: JSON syntax, then structure (serde, section by
//! section so that one wrong service does not hide the problems of another),
//! then meaning and compilation ([`super::compile()`]). Every problem found is
//! reported, each with its JSON path, line and column; so is every warning.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::compile::{Compiled, compile};
use super::diagnostic::{
    Diagnostic, JsonPath, ScenarioError, Segment, did_you_mean, duplicate_keys, line_column,
    locate_nearest,
};
use super::model::{Fault, Network, Policy, Scenario, Service, Workload};
use crate::kernel::SimDuration;

/// The top-level members of a scenario file.
const TOP_LEVEL: &[&str] = &[
    "name",
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

/// Reads, checks and compiles the scenario file at `path`.
pub fn load(path: &std::path::Path) -> Result<Compiled, ScenarioError> {
    let file = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(source) => parse(&source, &file),
            Err(e) => Err(single(
                &file,
                None,
                format!(
                    "the file is not UTF-8 text (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            )),
        },
        Err(e) => Err(single(&file, None, format!("cannot read the file: {e}"))),
    }
}

fn single(file: &str, position: Option<(usize, usize)>, message: String) -> ScenarioError {
    ScenarioError {
        file: file.to_string(),
        diagnostics: vec![Diagnostic {
            path: JsonPath::root(),
            position,
            message,
        }],
    }
}

/// Parses, checks and compiles a scenario from its text; `file` names it in
/// messages. The warnings of the result carry their positions.
pub fn parse(source: &str, file: &str) -> Result<Compiled, ScenarioError> {
    // Editors on some systems write a byte-order mark; JSON has no use for it.
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let value: Value = match serde_json::from_str(source) {
        Ok(value) => value,
        Err(e) => {
            let message = strip_position(&e.to_string());
            let position =
                (e.line() > 0).then(|| syntax_error_position(source, e.line(), e.column()));
            return Err(single(file, position, format!("malformed JSON: {message}")));
        }
    };
    let mut diagnostics: Vec<Diagnostic> = duplicate_keys(source)
        .into_iter()
        .map(|(path, offset)| {
            let key = match path.0.last() {
                Some(Segment::Key(key)) => key.clone(),
                _ => String::new(),
            };
            Diagnostic {
                path,
                position: Some(line_column(source, offset)),
                message: format!(
                    "`{key}` appears more than once in this object; only the last would be used: remove or rename the others"
                ),
            }
        })
        .collect();
    let mut sections = Sections {
        source,
        diagnostics: Vec::new(),
    };
    let scenario = sections.read(&value);
    diagnostics.append(&mut sections.diagnostics);
    // A scenario with a structural problem (a repeated key) is still
    // compiled, so that its meaning problems are reported in the same run.
    let compiled = scenario.map(compile);
    let compiled = match compiled {
        Some(Ok(compiled)) if diagnostics.is_empty() => Some(compiled),
        Some(Ok(_)) | None => None,
        Some(Err(found)) => {
            diagnostics.extend(found.into_iter().map(|d| Diagnostic {
                position: d.position.or_else(|| locate_nearest(source, &d.path)),
                ..d
            }));
            None
        }
    };
    match compiled {
        Some(mut compiled) => {
            compiled.locate_warnings(|path| locate_nearest(source, path));
            Ok(compiled)
        }
        None => {
            diagnostics.sort_by_key(|d| d.position.unwrap_or((usize::MAX, 0)));
            Err(ScenarioError {
                file: file.to_string(),
                diagnostics,
            })
        }
    }
}

/// serde_json's position of a syntax error (1-based line, column counted in
/// bytes, 0 at the very start of a line) as our 1-based line and column
/// counted in characters, as everywhere else.
fn syntax_error_position(source: &str, line: usize, column: usize) -> (usize, usize) {
    let line_start: usize = source
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let mut offset = (line_start + column.saturating_sub(1)).min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    line_column(source, offset)
}

/// serde_json appends " at line L column C"; we show positions ourselves.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

struct Sections<'s> {
    source: &'s str,
    diagnostics: Vec<Diagnostic>,
}

impl Sections<'_> {
    fn problem(&mut self, path: JsonPath, message: String) {
        let position = locate_nearest(self.source, &path);
        self.diagnostics.push(Diagnostic {
            path,
            position,
            message,
        });
    }

    /// Deserializes `value` (found at `path`) as `T`, recording any error.
    fn typed<T: DeserializeOwned>(&mut self, value: &Value, path: JsonPath) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(t) => Some(t),
            Err(e) => {
                let mut full = path;
                for segment in e.path().iter() {
                    match segment {
                        serde_path_to_error::Segment::Seq { index } => {
                            full.0.push(Segment::Index(*index))
                        }
                        serde_path_to_error::Segment::Map { key } => {
                            full.0.push(Segment::Key(key.clone()))
                        }
                        serde_path_to_error::Segment::Enum { variant } => {
                            full.0.push(Segment::Key(variant.clone()))
                        }
                        serde_path_to_error::Segment::Unknown => {}
                    }
                }
                let message = explain(&e.into_inner().to_string());
                self.problem(full, message);
                None
            }
        }
    }

    fn required<'v>(
        &mut self,
        object: &'v serde_json::Map<String, Value>,
        key: &str,
        what: &str,
    ) -> Option<&'v Value> {
        let value = object.get(key);
        if value.is_none() {
            self.problem(JsonPath::root(), format!("missing field `{key}`: {what}"));
        }
        value
    }

    fn read(&mut self, value: &Value) -> Option<Scenario> {
        let Value::Object(object) = value else {
            self.problem(
                JsonPath::root(),
                "a scenario must be a JSON object with `name`, `duration`, `services` and `workload`".into(),
            );
            return None;
        };
        for key in object.keys() {
            if !TOP_LEVEL.contains(&key.as_str()) {
                let hint = did_you_mean(key, TOP_LEVEL.iter().copied())
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                self.problem(
                    JsonPath::root().key(key),
                    format!(
                        "unknown field `{key}`{hint} (expected one of {})",
                        TOP_LEVEL.join(", ")
                    ),
                );
            }
        }
        let root = JsonPath::root();
        let name: Option<String> = self
            .required(object, "name", "the scenario's name, e.g. \"shop-crash\"")
            .and_then(|v| self.typed(v, root.key("name")));
        let description: Option<String> = match object.get("description") {
            Some(v) => self.typed(v, root.key("description")),
            None => Some(String::new()),
        };
        let duration: Option<SimDuration> = self
            .required(
                object,
                "duration",
                "how much virtual time to simulate, e.g. \"120s\"",
            )
            .and_then(|v| self.typed(v, root.key("duration")));
        let window: Option<SimDuration> = match object.get("window") {
            Some(v) => self.typed(v, root.key("window")),
            None => Some(SimDuration::from_secs(1)),
        };
        let seed: Option<u64> = match object.get("seed") {
            Some(v) => self.typed(v, root.key("seed")),
            None => Some(1),
        };
        let event_budget: Option<Option<u64>> = match object.get("event_budget") {
            Some(v) => self.typed(v, root.key("event_budget")),
            None => Some(None),
        };
        let services = match self.required(object, "services", "an object of services by name") {
            Some(Value::Object(services)) => {
                let mut out = std::collections::BTreeMap::new();
                let mut ok = true;
                for (service_name, service) in services {
                    match self.typed::<Service>(service, root.key("services").key(service_name)) {
                        Some(s) => {
                            out.insert(service_name.clone(), s);
                        }
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            Some(_) => {
                self.problem(
                    root.key("services"),
                    "expected an object of services by name".into(),
                );
                None
            }
            None => None,
        };
        let policies = match object.get("policies") {
            Some(Value::Object(policies)) => {
                let mut out = std::collections::BTreeMap::new();
                let mut ok = true;
                for (policy_name, policy) in policies {
                    match self.typed::<Policy>(policy, root.key("policies").key(policy_name)) {
                        Some(p) => {
                            out.insert(policy_name.clone(), p);
                        }
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            Some(_) => {
                self.problem(
                    root.key("policies"),
                    "expected an object of policies by name".into(),
                );
                None
            }
            None => Some(std::collections::BTreeMap::new()),
        };
        let network: Option<Network> = match object.get("network") {
            Some(v) => self.typed(v, root.key("network")),
            None => Some(Network::default()),
        };
        let workload: Option<Workload> = self
            .required(
                object,
                "workload",
                "the clients: `arrivals` or `users`, and `routes`",
            )
            .and_then(|v| self.typed(v, root.key("workload")));
        let faults = match object.get("faults") {
            Some(Value::Array(faults)) => {
                let mut out = Vec::new();
                let mut ok = true;
                for (i, fault) in faults.iter().enumerate() {
                    match self.typed::<Fault>(fault, root.key("faults").index(i)) {
                        Some(f) => out.push(f),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            Some(_) => {
                self.problem(root.key("faults"), "expected an array of faults".into());
                None
            }
            None => Some(Vec::new()),
        };
        Some(Scenario {
            name: name?,
            description: description?,
            duration: duration?,
            window: window?,
            seed: seed?,
            event_budget: event_budget?,
            services: services?,
            policies: policies?,
            network: network?,
            workload: workload?,
            faults: faults?,
        })
    }
}

/// Adds a "did you mean" to serde's unknown-field and unknown-variant
/// messages, which list the expected names in backquotes.
fn explain(message: &str) -> String {
    if message.contains("expected map with a single key") {
        // serde's words for an externally tagged enum given several kinds.
        return format!(
            "{message}: give exactly one kind, such as {{\"exponential\": {{...}}}} for a distribution or {{\"tps\": {{...}}}} for a budget"
        );
    }
    let unknown = message.starts_with("unknown field") || message.starts_with("unknown variant");
    if !unknown {
        return message.to_string();
    }
    let quoted: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let Some((word, candidates)) = quoted.split_first() else {
        return message.to_string();
    };
    if candidates.contains(&"constant") && SimDuration::parse(word).is_ok() {
        return format!(
            "{message}; a distribution is an object such as {{\"constant\": \"{word}\"}} or {{\"exponential\": {{\"mean\": \"{word}\"}}}}"
        );
    }
    // `retry_on` names outcomes; the caller's own refusals have none.
    if candidates.contains(&"breaker_open")
        && ["bulkhead_full", "rate_limited", "throttled"].contains(word)
    {
        return format!("{message}; the caller's own refusals count as `rejected`");
    }
    match did_you_mean(word, candidates.iter().copied()) {
        Some(best) => format!("{message}; did you mean `{best}`?"),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
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
}
