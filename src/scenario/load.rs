//! Reading a scenario file: JSON syntax, then structure (serde, section by
//! section so that one wrong service does not hide the problems of another),
//! then meaning and compilation ([`super::compile()`]), of every section
//! whose structure is sound: a section that could not be read stands in as a
//! valid placeholder, and the meaning problems in it, or at a place that
//! names it, are left out, so that no message is an effect of another
//! (no "unknown service `b`" because `b` had a typo). Every problem found is
//! reported, each with its JSON path, line and column; so is every warning.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::compile::{Compiled, compile};
use super::diagnostic::{
    Diagnostic, JsonPath, ScenarioError, Segment, did_you_mean, duplicate_keys, line_column,
    locate_nearest,
};
use super::model::{CompareSpec, Fault, Network, Policy, Requirement, Scenario, Service, Workload};
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
    "requirements",
    "compare",
    "explore",
    "choreographies",
];

/// Reads, checks and compiles the scenario file at `path`.
pub fn load(path: &std::path::Path) -> Result<Compiled, ScenarioError> {
    let file = path.display().to_string();
    match read(path) {
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

/// Reads a scenario file. A FIFO (a named pipe, or `<(...)` in a shell) is
/// opened without waiting for a writer: with none, it reads as empty
/// instead of blocking for ever; with one, it is read to its end.
fn read(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    #[cfg(target_os = "linux")]
    {
        use std::io::Read;
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        use std::os::unix::io::AsRawFd;
        if std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo()) {
            let mut fifo = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)?;
            // SAFETY: `fifo` owns a valid descriptor for the whole call;
            // F_GETFL/F_SETFL only read and set its status flags.
            let blocking = unsafe {
                let fd = fifo.as_raw_fd();
                let flags = libc::fcntl(fd, libc::F_GETFL);
                flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) >= 0
            };
            if !blocking {
                return Err(std::io::Error::last_os_error());
            }
            let mut bytes = Vec::new();
            fifo.read_to_end(&mut bytes)?;
            return Ok(bytes);
        }
    }
    std::fs::read(path)
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
        unread: Unread::default(),
    };
    let scenario = sections.read(&value);
    diagnostics.append(&mut sections.diagnostics);
    let unread = sections.unread;
    // A scenario with a structural problem is still compiled, so that the
    // meaning problems of every section that could be read are reported in
    // the same run: the sections that could not be read stand in as valid
    // placeholders, and what is found in them, or at a place that names
    // them, is left out (it would be an effect of what could not be read).
    let compiled = scenario.map(compile);
    let compiled = match compiled {
        Some(Ok(compiled)) if diagnostics.is_empty() && unread.is_empty() => Some(compiled),
        Some(Ok(_)) | None => None,
        Some(Err(found)) => {
            diagnostics.extend(
                found
                    .into_iter()
                    .filter(|d| !unread.explains(&value, &d.path))
                    .map(|d| Diagnostic {
                        position: d.position.or_else(|| locate_nearest(source, &d.path)),
                        ..d
                    }),
            );
            None
        }
    };
    match compiled {
        Some(mut compiled) => {
            compiled.locate_warnings(|path| locate_nearest(source, path));
            Ok(compiled)
        }
        None => {
            debug_assert!(!diagnostics.is_empty(), "a refused scenario says why");
            diagnostics.sort_by_key(|d| d.position.unwrap_or((usize::MAX, 0)));
            Err(ScenarioError {
                file: file.to_string(),
                diagnostics,
            })
        }
    }
}

/// What could not be read: the sections whose structure failed (a service,
/// a policy, a fault, the workload, the network, a top-level field), by
/// path, and the names of the services and policies among them.
#[derive(Default)]
struct Unread {
    paths: Vec<JsonPath>,
    names: BTreeSet<String>,
}

impl Unread {
    fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    fn add(&mut self, path: JsonPath) {
        self.paths.push(path);
    }

    fn add_named(&mut self, path: JsonPath, name: &str) {
        self.paths.push(path);
        self.names.insert(name.to_string());
    }

    /// Whether a meaning problem at `path` may come from what could not be
    /// read: it lies in an unread section, or at a place that names an
    /// unread service or policy (the value at `path`, a member of it, or a
    /// member of the object it belongs to: `{"service": "b", "instance":
    /// 3}` says nothing true about `b`'s instances when `b` was not read).
    fn explains(&self, value: &Value, path: &JsonPath) -> bool {
        if self.paths.iter().any(|p| path.0.starts_with(&p.0)) {
            return true;
        }
        if self.names.is_empty() {
            return false;
        }
        let names = |v: &Value| match v {
            Value::String(s) => self.names.contains(s),
            Value::Object(o) => o
                .values()
                .any(|v| matches!(v, Value::String(s) if self.names.contains(s))),
            _ => false,
        };
        let parent = JsonPath(path.0[..path.0.len().saturating_sub(1)].to_vec());
        [at(value, path), at(value, &parent)]
            .into_iter()
            .flatten()
            .any(names)
    }
}

/// The value at `path` in `value`, if there is one.
fn at<'v>(value: &'v Value, path: &JsonPath) -> Option<&'v Value> {
    path.0.iter().try_fold(value, |v, segment| match segment {
        Segment::Key(key) => v.get(key.as_str()),
        Segment::Index(i) => v.get(*i),
    })
}

/// Valid stand-ins for sections that could not be read, so that the others
/// can be checked: each refers to nothing and limits nothing.
mod placeholder {
    use serde_json::json;

    use crate::kernel::SimDuration;
    use crate::scenario::model::{Fault, Policy, Requirement, Service, Workload};
    use crate::scenario::validate::MAX_INSTANCES;

    fn from<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
        serde_json::from_value(value).expect("a placeholder is a valid section")
    }

    /// As many instances as a service may have, so that no reference to
    /// one of its instances is refused for want of them.
    pub(super) fn service() -> Service {
        from(json!({"instances": MAX_INSTANCES, "service_time": {"constant": "1ms"}}))
    }

    pub(super) fn policy() -> Policy {
        from(json!({}))
    }

    /// Clients of `service` at 1 request/s.
    pub(super) fn workload(service: &str) -> Workload {
        from(json!({"arrivals": {"poisson": {"rate": 1}}, "routes": [{"service": service}]}))
    }

    /// A fault that does nothing, at the unread fault's place in the list
    /// (so that the faults after it keep their paths).
    pub(super) fn fault() -> Fault {
        from(json!({"at": "0s", "loss": {"rate": 0}}))
    }

    /// A requirement that refers to nothing.
    pub(super) fn requirement() -> Requirement {
        from(json!({"no_invariant_violated": true}))
    }

    /// A run as long as `window` allows (as many windows as a run may
    /// have), so that no fault or schedule change is refused as starting
    /// after the end of a run whose length could not be read.
    pub(super) fn duration(window: Option<SimDuration>) -> SimDuration {
        let window = window.unwrap_or(SimDuration::from_secs(1));
        SimDuration::from_nanos(
            window
                .as_nanos()
                .saturating_mul(crate::scenario::validate::MAX_WINDOWS),
        )
    }

    /// One window for the whole run.
    pub(super) fn window(duration: Option<SimDuration>) -> SimDuration {
        duration
            .filter(|d| !d.is_zero())
            .unwrap_or(SimDuration::from_secs(1))
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
    unread: Unread,
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

    /// `read`, or the placeholder for what could not be read at `path`
    /// (recorded as unread).
    fn or_unread<T>(
        &mut self,
        read: Option<T>,
        path: JsonPath,
        placeholder: impl FnOnce() -> T,
    ) -> T {
        read.unwrap_or_else(|| {
            self.unread.add(path);
            placeholder()
        })
    }

    /// The scenario in `value`, every section read separately; a section
    /// whose structure fails is reported and replaced by a placeholder
    /// (and recorded in `unread`), so that the meaning of the others can
    /// still be checked. `None` only when there is no object of services
    /// (or, if given, of policies) to resolve names in.
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
        let name = self.or_unread(name, root.key("name"), || "unread".to_string());
        let description: Option<String> = match object.get("description") {
            Some(v) => self.typed(v, root.key("description")),
            None => Some(String::new()),
        };
        let description = self.or_unread(description, root.key("description"), String::new);
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
        let (duration, window) = (
            self.or_unread(duration, root.key("duration"), || {
                placeholder::duration(window)
            }),
            self.or_unread(window, root.key("window"), || placeholder::window(duration)),
        );
        let seed: Option<u64> = match object.get("seed") {
            Some(v) => self.typed(v, root.key("seed")),
            None => Some(1),
        };
        let seed = self.or_unread(seed, root.key("seed"), || 1);
        let event_budget: Option<Option<u64>> = match object.get("event_budget") {
            Some(v) => self.typed(v, root.key("event_budget")),
            None => Some(None),
        };
        let event_budget = self.or_unread(event_budget, root.key("event_budget"), || None);
        let max_requests_in_flight: Option<Option<u64>> = match object.get("max_requests_in_flight")
        {
            Some(v) => self.typed(v, root.key("max_requests_in_flight")),
            None => Some(None),
        };
        let max_requests_in_flight = self.or_unread(
            max_requests_in_flight,
            root.key("max_requests_in_flight"),
            || None,
        );
        let services = match self.required(object, "services", "an object of services by name") {
            Some(Value::Object(services)) => {
                let mut out = std::collections::BTreeMap::new();
                for (service_name, service) in services {
                    let path = root.key("services").key(service_name);
                    let service = match self.typed::<Service>(service, path.clone()) {
                        Some(s) => s,
                        None => {
                            self.unread.add_named(path, service_name);
                            placeholder::service()
                        }
                    };
                    out.insert(service_name.clone(), service);
                }
                Some(out)
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
                for (policy_name, policy) in policies {
                    let path = root.key("policies").key(policy_name);
                    let policy = match self.typed::<Policy>(policy, path.clone()) {
                        Some(p) => p,
                        None => {
                            self.unread.add_named(path, policy_name);
                            placeholder::policy()
                        }
                    };
                    out.insert(policy_name.clone(), policy);
                }
                Some(out)
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
        let network = self.or_unread(network, root.key("network"), Network::default);
        let workload: Option<Workload> = self
            .required(
                object,
                "workload",
                "the clients: `arrivals` or `users`, and `routes`",
            )
            .and_then(|v| self.typed(v, root.key("workload")));
        let first_service = services
            .as_ref()
            .and_then(|s| s.keys().next().cloned())
            .unwrap_or_default();
        let workload = self.or_unread(workload, root.key("workload"), || {
            placeholder::workload(&first_service)
        });
        let faults = match object.get("faults") {
            Some(Value::Array(faults)) => {
                let mut out = Vec::with_capacity(faults.len());
                for (i, fault) in faults.iter().enumerate() {
                    let path = root.key("faults").index(i);
                    let fault = self.typed::<Fault>(fault, path.clone());
                    out.push(self.or_unread(fault, path, placeholder::fault));
                }
                out
            }
            Some(_) => {
                self.problem(root.key("faults"), "expected an array of faults".into());
                self.unread.add(root.key("faults"));
                Vec::new()
            }
            None => Vec::new(),
        };
        let requirements = match object.get("requirements") {
            Some(Value::Array(requirements)) => {
                let mut out = Vec::with_capacity(requirements.len());
                for (i, requirement) in requirements.iter().enumerate() {
                    let path = root.key("requirements").index(i);
                    let requirement = self.typed::<Requirement>(requirement, path.clone());
                    out.push(self.or_unread(requirement, path, placeholder::requirement));
                }
                out
            }
            Some(_) => {
                self.problem(
                    root.key("requirements"),
                    "expected an array of requirements".into(),
                );
                self.unread.add(root.key("requirements"));
                Vec::new()
            }
            None => Vec::new(),
        };
        let compare: Option<Option<CompareSpec>> = match object.get("compare") {
            Some(v) => self.typed(v, root.key("compare")).map(Some),
            None => Some(None),
        };
        let compare = self.or_unread(compare, root.key("compare"), || None);
        let explore: Option<Option<crate::scenario::ExploreSpec>> = match object.get("explore") {
            Some(v) => self.typed(v, root.key("explore")).map(Some),
            None => Some(None),
        };
        let explore = self.or_unread(explore, root.key("explore"), || None);
        let choreographies = match object.get("choreographies") {
            Some(v) => self.typed(v, root.key("choreographies")),
            None => Some(std::collections::BTreeMap::new()),
        };
        let choreographies = self.or_unread(
            choreographies,
            root.key("choreographies"),
            std::collections::BTreeMap::new,
        );
        Some(Scenario {
            choreographies,
            compare,
            explore,
            name,
            description,
            duration,
            window,
            seed,
            event_budget,
            max_requests_in_flight,
            services: services?,
            policies: policies?,
            network,
            workload,
            faults,
            requirements,
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
mod tests;
