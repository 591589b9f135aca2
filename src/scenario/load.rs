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
    "$schema",
    "name",
    "description",
    "duration",
    "window",
    "seed",
    "event_budget",
    "max_requests_in_flight",
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
            let (position, message) = explain_syntax(source, &e);
            return Err(single(file, Some(position), message));
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

/// The position and message of a syntax error, with what a newcomer most
/// likely did: an empty file, a YAML file, a trailing comma (reported where
/// the comma is, not at the token after it, where serde_json stops).
fn explain_syntax(source: &str, e: &serde_json::Error) -> ((usize, usize), String) {
    let message = strip_position(&e.to_string());
    if source.trim().is_empty() {
        return (
            (1, 1),
            format!(
                "malformed JSON: {message}: the file is empty: a scenario is a JSON object, see docs/scenarios.md"
            ),
        );
    }
    let position = if e.line() > 0 {
        syntax_error_offset(source, e.line(), e.column())
    } else {
        0
    };
    if let Some(line) = looks_like_yaml(source) {
        return (
            (line, 1),
            format!(
                "malformed JSON: {message}; meshsim reads JSON, and this looks like YAML: write the scenario as a JSON object (see docs/scenarios.md)"
            ),
        );
    }
    if message.starts_with("trailing comma") {
        // serde_json stops at the `}` or `]` after the comma.
        let comma = source[..position]
            .trim_end()
            .strip_suffix(',')
            .map(str::len);
        if let Some(comma) = comma {
            return (
                line_column(source, comma),
                "malformed JSON: a trailing comma: JSON allows no comma after the last member of an object or array; remove it".into(),
            );
        }
    }
    (
        line_column(source, position),
        format!("malformed JSON: {message}"),
    )
}

/// The line of the first non-blank, non-comment line if it reads as YAML
/// (`---`, or a `key: value` with an unquoted key), which JSON never does.
fn looks_like_yaml(source: &str) -> Option<usize> {
    let (index, line) = source
        .lines()
        .enumerate()
        .find(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))?;
    let line = line.trim();
    if line == "---" || line.starts_with("--- ") {
        return Some(index + 1);
    }
    let (key, rest) = line.split_once(':')?;
    let key_ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let rest_ok = rest.is_empty() || rest.starts_with(' ');
    (key_ok && rest_ok).then_some(index + 1)
}

/// serde_json's position of a syntax error (1-based line, column counted in
/// bytes, 0 at the very start of a line) as a byte offset into `source`, on
/// a character boundary.
fn syntax_error_offset(source: &str, line: usize, column: usize) -> usize {
    let line_start: usize = source
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let mut offset = (line_start + column.saturating_sub(1)).min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
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
        // Editors attach a schema with `"$schema"`; it means nothing to a run.
        if let Some(v) = object.get("$schema") {
            let _: Option<String> = self.typed(v, root.key("$schema"));
        }
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
        let max_requests_in_flight: Option<Option<u64>> = match object.get("max_requests_in_flight")
        {
            Some(v) => self.typed(v, root.key("max_requests_in_flight")),
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
            max_requests_in_flight: max_requests_in_flight?,
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
    if let Some(hint) = duration_hint(message) {
        return format!("{message}; {hint}");
    }
    if let Some(example) = MISSING_EXAMPLES
        .iter()
        .find(|(field, _)| message == format!("missing field `{field}`"))
        .map(|(_, example)| example)
    {
        return format!("{message}: for example {example}");
    }
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

/// An example for each required field whose absence is easy to hit.
const MISSING_EXAMPLES: &[(&str, &str)] = &[
    (
        "service_time",
        r#""service_time": {"exponential": {"mean": "5ms"}} (the time a worker spends on a request)"#,
    ),
    (
        "routes",
        r#""routes": [{"service": "frontend"}] (where the requests enter)"#,
    ),
    ("service", r#""service": "inventory" (a service, by name)"#),
    ("at", r#""at": "20s" (when it starts)"#),
];

/// A number, or a string of digits, where a duration was expected: say
/// which string to write instead.
fn duration_hint(message: &str) -> Option<String> {
    let number = if message.contains("expected a duration string") {
        // invalid type: integer `250`, expected a duration string ...
        message
            .strip_prefix("invalid type: ")?
            .split('`')
            .nth(1)?
            .to_string()
    } else {
        // invalid duration "250": a number needs a unit ...
        let rest = message.strip_prefix("invalid duration \"")?;
        let (number, _) = rest.split_once('"')?;
        let number = number.trim();
        let digits = !number.is_empty() && number.chars().all(|c| c.is_ascii_digit() || c == '.');
        if !digits {
            return None;
        }
        number.to_string()
    };
    number.parse::<f64>().ok()?;
    Some(format!(
        "a duration is a string with its unit: did you mean \"{number}ms\" (or \"{number}s\")?"
    ))
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
