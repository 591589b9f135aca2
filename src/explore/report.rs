//! explore's report: explore.json (for machines), explore.md and the
//! printed text (for people), from the seeds' results. Everything here
//! depends only on the scenario, the seeds and their outcomes: no wall
//! clock, no thread count.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::experiment::stats::wilson;
use crate::kernel::SimTime;

use super::{Broken, Explorer, Property};

/// What one seed came to.
#[derive(Clone, Debug)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Faults drawn for it.
    pub drawn: usize,
    /// The properties it broke.
    pub broken: Vec<Broken>,
    /// What it did that the scenario allows.
    pub noted: Vec<Broken>,
}

/// A case as written to a file.
#[derive(Clone, Debug, Serialize)]
pub struct CaseFile {
    /// The file, relative to the report directory.
    pub file: String,
    /// The command that replays it.
    pub replay: String,
    /// Its faults.
    pub faults: usize,
    /// Their total time, seconds.
    pub fault_time_s: f64,
}

/// A shrunk case.
#[derive(Clone, Debug, Serialize)]
pub struct ShrunkCase {
    /// The written case.
    #[serde(flatten)]
    pub case: CaseFile,
    /// The runs shrinking took.
    pub runs: usize,
    /// Whether it stopped at its budget.
    pub budget_reached: bool,
    /// The faults left, in words.
    pub schedule: Vec<String>,
}

/// The first failing seed of a property.
#[derive(Clone, Debug, Serialize)]
pub struct Example {
    /// The seed.
    pub seed: u64,
    /// When it broke, seconds, if the run says.
    pub at_s: Option<f64>,
    /// What happened.
    pub detail: String,
    /// Its case, as written.
    #[serde(flatten)]
    pub case: CaseFile,
    /// The shrunk case (with `--shrink`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shrunk: Option<ShrunkCase>,
}

/// One property over every seed.
#[derive(Clone, Debug, Serialize)]
pub struct PropertyReport {
    /// Its name.
    pub property: &'static str,
    /// `safety` or `liveness`.
    pub phase: &'static str,
    /// What it says.
    pub description: &'static str,
    /// `held`, `failed`, or `allowed` (broken on some seed, and the
    /// scenario allows it).
    pub verdict: &'static str,
    /// Seeds that broke it (an allowed property's count no failure).
    pub failed: usize,
    /// The first of them (at most [`SEEDS_LISTED`]).
    pub seeds: Vec<u64>,
    /// The first failing seed, written as a case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<Example>,
}

/// Seeds listed per property.
pub const SEEDS_LISTED: usize = 50;

/// One seed's row in explore.json.
#[derive(Clone, Debug, Serialize)]
pub struct SeedRow {
    /// The seed.
    pub seed: u64,
    /// Faults drawn.
    pub drawn: usize,
    /// The properties it broke.
    pub broken: Vec<&'static str>,
    /// The properties it broke that the scenario allows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<&'static str>,
}

/// The bounds faults were drawn within.
#[derive(Clone, Debug, Serialize)]
pub struct Bounds {
    /// The kinds drawn from.
    pub kinds: Vec<&'static str>,
    /// The services they may hit (empty: every one).
    pub services: Vec<String>,
    /// Most faults per seed.
    pub faults_max: u32,
    /// No drawn fault starts before, seconds.
    pub from_s: f64,
    /// Every drawn fault has ended by, seconds.
    pub heal_by_s: f64,
    /// Shortest and longest fault, seconds.
    pub length_s: [f64; 2],
    /// The liveness bound, seconds.
    pub recover_within_s: f64,
}

/// explore.json.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// What this file is.
    pub format: &'static str,
    /// Its version.
    pub format_version: u32,
    /// meshsim's version.
    pub meshsim_version: &'static str,
    /// The scenario's name.
    pub scenario: String,
    /// The command that reproduces this report.
    pub command: String,
    /// The first seed; the others follow it.
    pub first_seed: u64,
    /// Seeds run.
    pub seeds: usize,
    /// Seeds that broke some property.
    pub failed: usize,
    /// failed ÷ seeds.
    pub failure_rate: f64,
    /// Its 95% Wilson interval.
    pub failure_rate_95: [f64; 2],
    /// What faults were drawn within.
    pub bounds: Bounds,
    /// Per property, in order.
    pub properties: Vec<PropertyReport>,
    /// Per seed.
    pub runs: Vec<SeedRow>,
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Seconds of `t`, rounded to the microsecond.
pub(super) fn secs(t: SimTime) -> f64 {
    round6(t.as_secs_f64())
}

impl Report {
    /// The report of `results` (in seed order), with the written cases of
    /// each property's first failing seed.
    pub fn new(
        explorer: &Explorer,
        command: String,
        results: &[SeedResult],
        mut examples: BTreeMap<Property, Example>,
    ) -> Report {
        let spec = explorer.spec();
        let (from, heal_by) = explorer.chaos();
        let failed = results.iter().filter(|r| !r.broken.is_empty()).count();
        let n = results.len();
        let (lo, hi) = wilson(failed as u64, n as u64);
        let properties = Property::ALL
            .iter()
            .map(|&p| {
                let seeds: Vec<u64> = results
                    .iter()
                    .filter(|r| r.broken.iter().chain(&r.noted).any(|b| b.property == p))
                    .map(|r| r.seed)
                    .collect();
                let verdict = match (seeds.is_empty(), explorer.allows(p)) {
                    (true, _) => "held",
                    (false, false) => "failed",
                    (false, true) => "allowed",
                };
                PropertyReport {
                    verdict,
                    property: p.as_str(),
                    phase: p.phase().as_str(),
                    description: p.describe(),
                    failed: seeds.len(),
                    seeds: seeds.into_iter().take(SEEDS_LISTED).collect(),
                    example: examples.remove(&p),
                }
            })
            .collect();
        Report {
            format: "meshsim-explore",
            format_version: 1,
            meshsim_version: env!("CARGO_PKG_VERSION"),
            scenario: explorer.scenario().name.clone(),
            command,
            first_seed: results.first().map_or(explorer.scenario().seed, |r| r.seed),
            seeds: n,
            failed,
            failure_rate: round6(if n == 0 {
                0.0
            } else {
                failed as f64 / n as f64
            }),
            failure_rate_95: [round6(lo), round6(hi)],
            bounds: Bounds {
                kinds: explorer.kinds().iter().map(|k| k.as_str()).collect(),
                services: spec.services.clone(),
                faults_max: spec.faults_max,
                from_s: round6(from.as_secs_f64()),
                heal_by_s: round6(heal_by.as_secs_f64()),
                length_s: [
                    round6(spec.length_min.as_secs_f64()),
                    round6(spec.length_max.as_secs_f64()),
                ],
                recover_within_s: round6(spec.recover_within.as_secs_f64()),
            },
            properties,
            runs: results
                .iter()
                .map(|r| SeedRow {
                    seed: r.seed,
                    drawn: r.drawn,
                    broken: r.broken.iter().map(|b| b.property.as_str()).collect(),
                    allowed: r.noted.iter().map(|b| b.property.as_str()).collect(),
                })
                .collect(),
        }
    }

    /// explore.json's bytes.
    pub fn json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("plain JSON");
        bytes.push(b'\n');
        bytes
    }

    /// The headline: seeds, failures, the rate and its interval.
    pub fn headline(&self) -> String {
        let pct = |x: f64| format!("{:.1}%", x * 100.0);
        format!(
            "explore {}: {} seed{} ({}..={}), {} failed: {} (95% Wilson interval {}–{})",
            self.scenario,
            self.seeds,
            if self.seeds == 1 { "" } else { "s" },
            self.first_seed,
            self.first_seed
                .wrapping_add(self.seeds.saturating_sub(1) as u64),
            self.failed,
            pct(self.failure_rate),
            pct(self.failure_rate_95[0]),
            pct(self.failure_rate_95[1]),
        )
    }

    /// The text printed after the runs (and the body of explore.md).
    pub fn text(&self) -> String {
        let mut out = format!("{}\n", self.headline());
        if self.properties.iter().all(|p| p.failed == 0) {
            let held: Vec<&str> = self.properties.iter().map(|p| p.description).collect();
            out.push_str(&format!(
                "every property held on every seed: {}\n",
                held.join("; ")
            ));
            return out;
        }
        for p in &self.properties {
            let verdict = match p.verdict {
                "failed" => "FAILED",
                "allowed" => "allowed (explore.dead_letters), seen",
                other => other,
            };
            let seeds = if p.failed == 0 {
                String::new()
            } else {
                let shown: Vec<String> = p.seeds.iter().take(10).map(u64::to_string).collect();
                let more = if p.failed > shown.len() { ", ..." } else { "" };
                format!(
                    " on {} seed{} ({}{more})",
                    p.failed,
                    if p.failed == 1 { "" } else { "s" },
                    shown.join(", ")
                )
            };
            out.push_str(&format!(
                "  {:<8} {:<21} {verdict}{seeds}: {}\n",
                p.phase, p.property, p.description
            ));
            if let Some(e) = &p.example {
                let at = e.at_s.map(|t| format!(" at {t:.3} s")).unwrap_or_default();
                out.push_str(&format!("    seed {}{at}: {}\n", e.seed, e.detail));
                out.push_str(&format!(
                    "    replay ({} fault{}): {}\n",
                    e.case.faults,
                    if e.case.faults == 1 { "" } else { "s" },
                    e.case.replay
                ));
                if let Some(s) = &e.shrunk {
                    let budget = if s.budget_reached {
                        ", stopped at its budget"
                    } else {
                        ""
                    };
                    out.push_str(&format!(
                        "    shrunk to {} fault{} ({:.3} s of faults, from {:.3} s) in {} runs{budget}: {}\n",
                        s.case.faults,
                        if s.case.faults == 1 { "" } else { "s" },
                        s.case.fault_time_s,
                        e.case.fault_time_s,
                        s.runs,
                        s.case.replay
                    ));
                    for line in &s.schedule {
                        out.push_str(&format!("      {line}\n"));
                    }
                }
            }
        }
        out
    }

    /// explore.md.
    pub fn markdown(&self) -> String {
        let b = &self.bounds;
        let mut out = format!("# {}\n\n```\n{}```\n\n", self.headline(), self.text());
        out.push_str(&format!(
            "Reproduce this report: `{}`\n\nFaults drawn per seed: 1 to {} of a random subset of {}, on {}, starting at {} s or later and ended by {} s, each lasting {} s to {} s; the liveness phase asks for recovery within {} s of each fault's end.\n",
            self.command,
            b.faults_max,
            b.kinds.join(", "),
            if b.services.is_empty() {
                "every service".to_string()
            } else {
                b.services.join(", ")
            },
            b.from_s,
            b.heal_by_s,
            b.length_s[0],
            b.length_s[1],
            b.recover_within_s
        ));
        out
    }
}
