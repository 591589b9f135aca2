//! Warnings: what is allowed but probably not meant, found by the compile
//! step. Each has the JSON path of what it is about, a message with the
//! numbers behind it, and a one-line fix. A warning never stops a run
//! (unless the CLI is given `--deny-warnings`); summary.json lists them.
//!
//! The checks run in a fixed order (waits, load, discovery, ejection, then
//! policy by policy in name order, then the base rates and the
//! requirements), so the list is deterministic. One file per family:
//! `waits.rs` (waits nothing bounds), `flow.rs` (the call graph's expected
//! flow) and `load.rs` (overload along it), `discovery.rs` (discovery and
//! outlier detection), `policies.rs` (retries, budgets, unused policies),
//! `breakers.rs` (breakers that cannot open, and the retries around them),
//! `values.rs` (percents and fractions in the wrong unit), `zones.rs` (zones
//! nothing is in, zone awareness that cannot engage).

mod breakers;
mod discovery;
mod flow;
mod gateway;
mod load;
mod policies;
mod values;
mod waits;
mod zones;

use super::compile::ClientTarget;
use super::diagnostic::JsonPath;
use super::model::Scenario;
use super::policy::CompiledPolicy;

/// Something a scenario allows but probably does not mean.
#[derive(Clone, Debug, PartialEq)]
pub struct Warning {
    /// What it is about.
    pub path: JsonPath,
    /// 1-based line and column in the file, when loaded from one.
    pub position: Option<(usize, usize)>,
    /// What is wrong, with the numbers behind it.
    pub message: String,
    /// One line: what to change.
    pub fix: String,
}

impl Warning {
    /// The warning for people, located in `file` as errors are: a
    /// `warning:` line with the position, the path and the message, then
    /// the fix on a line of its own.
    pub fn render(&self, file: &str) -> String {
        let at = match self.position {
            Some((line, column)) => format!("{file}:{line}:{column}"),
            None => file.to_string(),
        };
        format!(
            "warning: {at}: {}: {}\n  fix: {}\n",
            self.path, self.message, self.fix
        )
    }
}

struct Lints<'a> {
    scenario: &'a Scenario,
    policies: &'a [CompiledPolicy],
    clients: &'a [ClientTarget],
    /// Each service's gateway, by index (for the expected flow through it).
    gateways: &'a [Option<super::compile::CompiledGateway>],
    out: Vec<Warning>,
}

/// Every warning for a scenario that compiled (`policies` are its compiled
/// policies, in name order; `clients` its resolved clients).
pub(super) fn warnings(
    scenario: &Scenario,
    policies: &[CompiledPolicy],
    clients: &[ClientTarget],
    gateways: &[Option<super::compile::CompiledGateway>],
    zones: Option<&super::compile::CompiledZones>,
) -> Vec<Warning> {
    let mut lints = Lints {
        scenario,
        policies,
        clients,
        gateways,
        out: Vec::new(),
    };
    lints.unbounded_waits();
    lints.overload();
    lints.discovery();
    lints.ejection();
    lints.policies();
    lints.fractions();
    lints.requirement_percents();
    lints.zones(zones);
    lints.gateway_bypass();
    lints.out
}

impl Lints<'_> {
    fn warn(&mut self, path: JsonPath, message: String, fix: impl Into<String>) {
        self.out.push(Warning {
            path,
            position: None,
            message,
            fix: fix.into(),
        });
    }

    fn policy(&self, name: Option<&str>) -> Option<&CompiledPolicy> {
        let index = self
            .scenario
            .policies
            .keys()
            .position(|n| Some(n.as_str()) == name)?;
        self.policies.get(index)
    }
}
