//! Finding the seed that breaks a design: `meshsim explore`, and the same
//! from Rust.
//!
//! Each seed runs the scenario with a random fault schedule drawn on top
//! of its own faults ([`generate`]: swarm testing within the bounds of the
//! scenario's `explore` section), and its outcome is checked ([`check`]):
//! the **safety** properties over the whole run (saga outcomes,
//! conservation, credentials, lost and duplicated events, dead-lettered
//! and stranded sagas, a run that did not complete), then, as in
//! TigerBeetle's VOPR, a **liveness** phase: every drawn fault has healed
//! by `heal_by`, and the routes must be back near their baseline within
//! `recover_within` of each fault's end (a failure to come back is
//! metastability found by search), and every saga started before the
//! faults healed must have ended. A failing case can be shrunk
//! ([`shrink`]) to a minimal schedule that still breaks the same property.
//!
//! The library entry point is [`Explorer`]: load a scenario, draw a seed's
//! schedule or write one, run it and read what broke.
//!
//! ```
//! use meshsim::explore::Explorer;
//! use meshsim::scenario::{CrashFault, Fault};
//! use meshsim::kernel::SimDuration;
//! use proptest::prelude::*;
//!
//! let compiled = meshsim::scenario::load("scenarios/saga-checkout.json".as_ref())?;
//! let explorer = Explorer::new(&compiled)?;
//!
//! // One seed of `meshsim explore`: its drawn faults on top of the file's.
//! let outcome = explorer.run(1, &explorer.case(1))?;
//! assert!(outcome.passed(), "{:?}", outcome.broken);
//!
//! // A property test of the design: whenever the orchestrator's first
//! // instance crashes, and for however long, every saga completes or is
//! // compensated and conservation holds.
//! let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(3));
//! runner
//!     .run(&(20_000u64..80_000, 100u64..10_000), |(at_ms, for_ms)| {
//!         let mut faults = explorer.own_faults().to_vec();
//!         faults.push(Fault {
//!             at: SimDuration::from_millis(at_ms),
//!             lasts: Some(SimDuration::from_millis(for_ms)),
//!             crash: Some(CrashFault { service: "checkout".into(), instance: Some(0) }),
//!             ..Fault::default()
//!         });
//!         let outcome = explorer.run(7, &faults).expect("a valid schedule");
//!         prop_assert!(outcome.passed(), "{:?}", outcome.broken);
//!         Ok(())
//!     })
//!     .expect("the saga survives every crash");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Architecture Invariant:** a seed's schedule and outcome depend only
//! on (scenario, seed): the schedule's draws have a stream of their own,
//! results are stored by seed, never in the order threads finish, so any
//! `--jobs` writes the same bytes.

pub mod check;
pub mod command;
pub mod generate;
pub mod report;
pub mod shrink;

use crate::kernel::{SimDuration, SimTime};
use crate::report::Summary;
use crate::scenario::{self, Compiled, ExploreKind, ExploreSpec, Fault, JsonPath, Scenario};
use crate::world;

pub use check::{Broken, Phase, Property};

/// A scenario prepared for exploration: its model, the bounds of its
/// drawn faults, and what those faults can hit.
#[derive(Clone, Debug)]
pub struct Explorer {
    scenario: Scenario,
    spec: ExploreSpec,
    kinds: Vec<ExploreKind>,
    links: Vec<(String, String)>,
}

/// A problem with exploring a scenario, for people.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ExploreError(pub String);

/// What one run of a case came to.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// The properties it broke, in report order (empty: it passed).
    pub broken: Vec<Broken>,
    /// What it did that the scenario allows (dead-lettered sagas, unless
    /// `explore.dead_letters` is `fail`): reported, not failures.
    pub noted: Vec<Broken>,
    /// The run's summary, as `meshsim run` would write it.
    pub summary: Summary,
}

impl Outcome {
    /// Whether every property held.
    pub fn passed(&self) -> bool {
        self.broken.is_empty()
    }

    /// Whether it broke `property` (allowed or not).
    pub fn broke(&self, property: Property) -> bool {
        self.broken
            .iter()
            .chain(&self.noted)
            .any(|b| b.property == property)
    }
}

impl Explorer {
    /// Prepares `compiled` (its `explore` section, or the defaults, which
    /// are checked against it here).
    pub fn new(compiled: &Compiled) -> Result<Explorer, ExploreError> {
        let scenario = compiled.scenario().clone();
        let spec = scenario.explore.clone().unwrap_or_default();
        let problems = spec.problems(&JsonPath::root().key("explore"), &scenario);
        if let Some((path, message)) = problems.first() {
            let section = if scenario.explore.is_some() {
                ""
            } else {
                " (the defaults, for want of an `explore` section)"
            };
            return Err(ExploreError(format!("{path}{section}: {message}")));
        }
        let kinds = spec.kinds_for(&scenario);
        let allowed =
            |name: &str| spec.services.is_empty() || spec.services.iter().any(|s| s == name);
        let names: Vec<&String> = scenario.services.keys().collect();
        let mut links = Vec::new();
        for (i, from) in names.iter().enumerate() {
            let mut callees: Vec<u32> = compiled
                .calls(i)
                .iter()
                .flatten()
                .map(|c| c.service)
                .collect();
            if let Some(Some(saga)) = compiled.sagas().get(i) {
                callees.extend(saga.steps.iter().map(|s| s.call.service));
            }
            callees.sort_unstable();
            callees.dedup();
            for to in callees {
                let to = names[to as usize];
                if to != *from && allowed(from) && allowed(to) {
                    links.push(((*from).clone(), to.clone()));
                }
            }
        }
        Ok(Explorer {
            scenario,
            spec,
            kinds,
            links,
        })
    }

    /// The scenario, as loaded.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The bounds of the drawn faults.
    pub fn spec(&self) -> &ExploreSpec {
        &self.spec
    }

    /// The kinds of fault drawn from.
    pub fn kinds(&self) -> &[ExploreKind] {
        &self.kinds
    }

    /// The caller–callee pairs a link fault may hit, in name order.
    pub fn links(&self) -> &[(String, String)] {
        &self.links
    }

    /// When drawn faults may start, and by when they have all ended.
    pub fn chaos(&self) -> (SimDuration, SimDuration) {
        self.spec.chaos(&self.scenario)
    }

    /// The scenario's own faults.
    pub fn own_faults(&self) -> &[Fault] {
        &self.scenario.faults
    }

    /// The `count` seeds explore runs: the scenario's seed + 0, 1, ...
    pub fn seeds(&self, count: u32) -> Vec<u64> {
        (0..u64::from(count))
            .map(|i| self.scenario.seed.wrapping_add(i))
            .collect()
    }

    /// The faults drawn for `seed` (not the scenario's own).
    pub fn draw(&self, seed: u64) -> Vec<Fault> {
        generate::draw(self, seed)
    }

    /// The whole schedule of `seed`: the scenario's own faults, then the
    /// drawn ones.
    pub fn case(&self, seed: u64) -> Vec<Fault> {
        let mut faults = self.scenario.faults.clone();
        faults.extend(self.draw(seed));
        faults
    }

    /// The scenario with `faults` as its timeline and `seed` as its seed:
    /// what a failing case is written as.
    pub fn scenario_with(&self, seed: u64, faults: &[Fault]) -> Scenario {
        let mut scenario = self.scenario.clone();
        scenario.faults = faults.to_vec();
        scenario.seed = seed;
        scenario
    }

    /// Compiles the scenario with `faults` as its timeline.
    pub fn compile(&self, seed: u64, faults: &[Fault]) -> Result<Compiled, ExploreError> {
        scenario::compile(self.scenario_with(seed, faults)).map_err(|problems| {
            let first = problems
                .first()
                .map(|d| format!("{}: {}", d.path, d.message))
                .unwrap_or_default();
            ExploreError(format!(
                "the fault schedule of seed {seed} is not valid: {first}"
            ))
        })
    }

    /// Runs `seed` with `faults` as the timeline (the scenario's own
    /// faults are replaced: pass [`Explorer::case`] for explore's) and
    /// checks every property. An error only for a schedule that does not
    /// validate.
    pub fn run(&self, seed: u64, faults: &[Fault]) -> Result<Outcome, ExploreError> {
        let compiled = self.compile(seed, faults)?;
        Ok(self.run_compiled(&compiled, seed))
    }

    /// [`Explorer::run`] on a scenario already compiled with its schedule.
    pub fn run_compiled(&self, compiled: &Compiled, seed: u64) -> Outcome {
        let run = world::run(compiled, seed, None);
        let summary = Summary::new(compiled, seed, &run);
        let all = check::check(&run, &summary, &self.liveness(&compiled.scenario().faults));
        let (noted, broken) = all.into_iter().partition(|b| self.allows(b.property));
        Outcome {
            seed,
            broken,
            noted,
            summary,
        }
    }

    /// Whether the scenario allows what `property` forbids (then a seed
    /// that breaks it is noted, not failed).
    pub fn allows(&self, property: Property) -> bool {
        property == Property::DeadLettered
            && self.spec.dead_letters == scenario::DeadLetters::Allowed
    }

    /// The liveness phase of a run with `faults`: when they have all
    /// ended, and whether one never does.
    pub fn liveness(&self, faults: &[Fault]) -> check::Liveness {
        let (_, heal_by) = self.chaos();
        let duration = self.scenario.duration;
        let mut healed = heal_by.as_nanos();
        let mut never_heals = false;
        for f in faults {
            match f.lasts {
                Some(lasts) if f.at.saturating_add(lasts) < duration => {
                    healed = healed.max(f.at.saturating_add(lasts).as_nanos());
                }
                _ => never_heals = true,
            }
        }
        check::Liveness {
            healed_at: SimTime::from_nanos(healed),
            never_heals,
            recover_within: self.spec.recover_within,
        }
    }
}
