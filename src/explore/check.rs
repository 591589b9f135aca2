//! What a run under explore's chaos must not do: the safety properties
//! (checked over the whole run, chaos included) and the liveness ones
//! (checked after every fault has healed), read from the run's outcome
//! and its summary.
//!
//! SLO requirements are not among them: under random faults a route's
//! success rate drops by design, and judging it would report every seed.

use crate::kernel::SimTime;
use crate::report::Summary;
use crate::world::{Invariant, RunOutcome};

/// When a property is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Over the whole run, faults active or not.
    Safety,
    /// After the faults heal: the system must come back.
    Liveness,
}

impl Phase {
    /// Its name in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Safety => "safety",
            Phase::Liveness => "liveness",
        }
    }
}

/// A property explore checks; the order is the order of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Property {
    /// A saga's effects agree with how it ended (the world stops the run
    /// where they do not).
    SagaOutcome,
    /// Every stateful service's total moved by what the sagas account for.
    Conservation,
    /// No request with a bad credential got past a gateway that checks.
    Credential,
    /// Every event a producer committed was applied or dead-lettered.
    LostEvents,
    /// No event was applied twice by a consumer group.
    DuplicateEffects,
    /// No saga was parked for an operator (dead-lettered), by an
    /// orchestrator or a choreography.
    DeadLettered,
    /// No choreographed saga lost an event it needed (stuck for good).
    ChoreographyStranded,
    /// The run covered its whole duration (no event budget reached, time
    /// never froze).
    Completed,
    /// After each fault ends, the routes are back near their baseline
    /// within `recover_within` (never: metastable).
    Recovery,
    /// Every saga that started before the faults healed has ended by the
    /// end of the run.
    SagasEnd,
}

impl Property {
    /// Every property, in report order.
    pub const ALL: [Property; 10] = [
        Property::SagaOutcome,
        Property::Conservation,
        Property::Credential,
        Property::LostEvents,
        Property::DuplicateEffects,
        Property::DeadLettered,
        Property::ChoreographyStranded,
        Property::Completed,
        Property::Recovery,
        Property::SagasEnd,
    ];

    /// Its name in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Property::SagaOutcome => "saga_outcome",
            Property::Conservation => "conservation",
            Property::Credential => "credential",
            Property::LostEvents => "lost_events",
            Property::DuplicateEffects => "duplicate_effects",
            Property::DeadLettered => "dead_lettered",
            Property::ChoreographyStranded => "choreography_stranded",
            Property::Completed => "completed",
            Property::Recovery => "recovery",
            Property::SagasEnd => "sagas_end",
        }
    }

    /// When it is checked.
    pub fn phase(self) -> Phase {
        match self {
            Property::Recovery | Property::SagasEnd => Phase::Liveness,
            _ => Phase::Safety,
        }
    }

    /// What it says, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Property::SagaOutcome => "every saga's effects agree with how it ended",
            Property::Conservation => {
                "every stateful service's total moved only by what the sagas account for"
            }
            Property::Credential => {
                "no request with a bad credential got past a gateway that checks credentials"
            }
            Property::LostEvents => "every committed event was applied or dead-lettered",
            Property::DuplicateEffects => "no event took effect twice",
            Property::DeadLettered => "no saga was dead-lettered",
            Property::ChoreographyStranded => "no choreographed saga lost an event",
            Property::Completed => "the run covered its whole duration",
            Property::Recovery => "after each fault, the routes came back within recover_within",
            Property::SagasEnd => "every saga started before the faults healed ended",
        }
    }
}

/// A property a run broke.
#[derive(Clone, Debug, PartialEq)]
pub struct Broken {
    /// Which.
    pub property: Property,
    /// When, if the run says (the violation's time).
    pub at: Option<SimTime>,
    /// What happened, in words.
    pub detail: String,
}

/// The liveness phase's parameters.
#[derive(Clone, Copy, Debug)]
pub struct Liveness {
    /// When every fault has ended (drawn ones by `heal_by`; the scenario's
    /// own may end later).
    pub healed_at: SimTime,
    /// Whether some fault lasts to the end of the run (then nothing heals,
    /// and the sagas' check is skipped).
    pub never_heals: bool,
    /// How long recovery may take.
    pub recover_within: crate::kernel::SimDuration,
}

/// Every property `run` (summarised as `summary`) broke, in report order.
pub fn check(run: &RunOutcome, summary: &Summary, liveness: &Liveness) -> Vec<Broken> {
    let mut broken = Vec::new();
    if let Some(cause) = &run.stop_cause {
        let property = match cause.invariant {
            Some(Invariant::SagaOutcome) => Some(Property::SagaOutcome),
            Some(Invariant::Conservation) => Some(Property::Conservation),
            Some(Invariant::Credential) => Some(Property::Credential),
            None => None,
        };
        let detail = format!("{}: {}", cause.entity, cause.cause);
        broken.push(Broken {
            property: property.unwrap_or(Property::Completed),
            at: Some(cause.at),
            detail,
        });
        // The run stopped: what follows would judge a truncated run.
        return broken;
    }
    if !summary.completed {
        broken.push(Broken {
            property: Property::Completed,
            at: Some(run.end),
            detail: format!(
                "the run stopped at {:.3} s ({}): results are incomplete",
                run.end.as_secs_f64(),
                summary.stop_reason
            ),
        });
        return broken;
    }
    if let Some(events) = &summary.events {
        let groups = |f: &dyn Fn(&crate::report::summary::GroupSummary) -> u64| {
            events
                .groups
                .iter()
                .filter(|(_, g)| f(g) > 0)
                .map(|(name, g)| format!("{name}: {}", f(g)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if events.lost > 0 {
            broken.push(Broken {
                property: Property::LostEvents,
                at: None,
                detail: format!("{} events lost ({})", events.lost, groups(&|g| g.lost)),
            });
        }
        if events.duplicate_effects > 0 {
            broken.push(Broken {
                property: Property::DuplicateEffects,
                at: None,
                detail: format!(
                    "{} events took effect more than once ({})",
                    events.duplicate_effects,
                    groups(&|g| g.duplicate_effects)
                ),
            });
        }
    }
    let mut dead = Vec::new();
    for (service, saga) in &summary.sagas {
        if saga.dead_lettered.total > 0 {
            let first = saga
                .dead_lettered_sagas
                .first()
                .map(|s| format!("; the first, saga {}: {}", s.saga, s.why))
                .unwrap_or_default();
            dead.push(format!(
                "{} sagas of `{service}` dead-lettered{first}",
                saga.dead_lettered.total
            ));
        }
    }
    let mut stranded = Vec::new();
    if let Some(events) = &summary.events {
        for (name, c) in &events.choreographies {
            if c.running_dead_lettered > 0 {
                dead.push(format!(
                    "{} sagas of choreography `{name}` stuck on a dead-lettered event",
                    c.running_dead_lettered
                ));
            }
            if c.running_lost > 0 {
                stranded.push(format!(
                    "{} sagas of choreography `{name}` stuck on a lost event",
                    c.running_lost
                ));
            }
        }
    }
    if !dead.is_empty() {
        broken.push(Broken {
            property: Property::DeadLettered,
            at: None,
            detail: dead.join("; "),
        });
    }
    if !stranded.is_empty() {
        broken.push(Broken {
            property: Property::ChoreographyStranded,
            at: None,
            detail: stranded.join("; "),
        });
    }
    let bound = liveness.recover_within;
    let late: Vec<String> = summary
        .recovery
        .faults
        .iter()
        .filter_map(|f| match (f.status, f.time_to_recover_s) {
            ("not_recovered", _) => Some(format!(
                "fault {} ({} {}) never recovered: metastable",
                f.fault, f.kind, f.target
            )),
            ("recovered", Some(t)) if t > bound.as_secs_f64() => Some(format!(
                "fault {} ({} {}) took {t} s to recover, more than {}",
                f.fault,
                f.kind,
                f.target,
                bound.in_seconds()
            )),
            _ => None,
        })
        .collect();
    if !late.is_empty() {
        let at = summary
            .recovery
            .faults
            .iter()
            .filter(|f| f.status == "not_recovered")
            .filter_map(|f| summary.faults.get(f.fault).and_then(|w| w.end_s))
            .map(|s| SimTime::from_nanos((s * 1e9).round() as u64))
            .next();
        broken.push(Broken {
            property: Property::Recovery,
            at,
            detail: late.join("; "),
        });
    }
    if !liveness.never_heals {
        let stuck: Vec<String> = run
            .sagas
            .iter()
            .filter_map(|o| {
                let since = o.stuck_since?;
                (since < liveness.healed_at).then(|| {
                    format!(
                        "{} sagas of `{}` still running at the end; the oldest started at {:.3} s, before the faults healed at {:.3} s",
                        o.stuck,
                        o.service,
                        since.as_secs_f64(),
                        liveness.healed_at.as_secs_f64()
                    )
                })
            })
            .collect();
        if !stuck.is_empty() {
            broken.push(Broken {
                property: Property::SagasEnd,
                at: None,
                detail: stuck.join("; "),
            });
        }
    }
    broken
}
