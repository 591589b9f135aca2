//! The optional `explore` section of a scenario file: the bounds within
//! which `meshsim explore` draws each seed's random faults (which kinds,
//! on which services, how many, when, how long, how strong) and the bound
//! of its liveness phase. `run` ignores it; `validate` checks it. Without
//! the section, explore uses [`ExploreSpec::default`], checked the same way
//! when explore starts.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kernel::SimDuration;
use crate::scenario::diagnostic::JsonPath;

use super::Scenario;

/// The most seeds one exploration runs.
pub const MAX_EXPLORE_SEEDS: u32 = 100_000;
/// The seeds explored when neither `--seeds` nor the section says.
pub const DEFAULT_EXPLORE_SEEDS: u32 = 100;
/// The most faults drawn for one seed.
pub const MAX_EXPLORE_FAULTS: u32 = 100;
/// Good windows in a row that make a recovery (the recovery measure's;
/// the liveness phase must leave room for them).
const RECOVERY_WINDOWS: u64 = crate::metrics::recovery::RECOVERY_WINDOWS as u64;

/// A kind of fault explore may draw.
#[derive(
    Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq, PartialOrd, Ord,
)]
#[serde(rename_all = "snake_case")]
pub enum ExploreKind {
    /// Crash one instance, or every instance, of a service that is neither
    /// a saga orchestrator nor a broker; it restarts when the fault ends.
    Crash,
    /// Stop one instance, or every instance, gracefully (a drain).
    Stop,
    /// Cut the network between two random groups of services.
    Partition,
    /// Multiply a service's (or one instance's) service time.
    Slowdown,
    /// Add latency to a service's (or one instance's) handling, or to a
    /// link between a caller and a callee.
    Latency,
    /// A burst of errors at a service (or one instance).
    Errors,
    /// Lose messages on a link between a caller and a callee, or everywhere.
    Loss,
    /// Take a discovered service's registry down.
    RegistryOutage,
    /// Crash an instance (or every instance) of a saga orchestrator.
    OrchestratorCrash,
    /// Crash an instance (or every instance) of a broker.
    BrokerCrash,
}

impl ExploreKind {
    /// Every kind, in the order of the schema.
    pub const ALL: [ExploreKind; 10] = [
        ExploreKind::Crash,
        ExploreKind::Stop,
        ExploreKind::Partition,
        ExploreKind::Slowdown,
        ExploreKind::Latency,
        ExploreKind::Errors,
        ExploreKind::Loss,
        ExploreKind::RegistryOutage,
        ExploreKind::OrchestratorCrash,
        ExploreKind::BrokerCrash,
    ];

    /// Its name in files.
    pub fn as_str(self) -> &'static str {
        match self {
            ExploreKind::Crash => "crash",
            ExploreKind::Stop => "stop",
            ExploreKind::Partition => "partition",
            ExploreKind::Slowdown => "slowdown",
            ExploreKind::Latency => "latency",
            ExploreKind::Errors => "errors",
            ExploreKind::Loss => "loss",
            ExploreKind::RegistryOutage => "registry_outage",
            ExploreKind::OrchestratorCrash => "orchestrator_crash",
            ExploreKind::BrokerCrash => "broker_crash",
        }
    }

    /// The services of `scenario` (among `allowed`, by name) a fault of
    /// this kind can hit, in name order; for `partition` and `loss`, the
    /// services that may be on either side.
    pub fn targets<'a>(self, scenario: &'a Scenario, allowed: &[String]) -> Vec<&'a str> {
        scenario
            .services
            .iter()
            .filter(|(name, _)| allowed.is_empty() || allowed.contains(name))
            .filter(|(_, s)| match self {
                ExploreKind::Crash | ExploreKind::Stop => s.saga.is_none() && s.broker.is_none(),
                ExploreKind::RegistryOutage => s.discovery.is_some(),
                ExploreKind::OrchestratorCrash => s.saga.is_some(),
                ExploreKind::BrokerCrash => s.broker.is_some(),
                _ => true,
            })
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// Whether `scenario` has something for this kind to hit.
    pub fn applies(self, scenario: &Scenario, allowed: &[String]) -> bool {
        let n = self.targets(scenario, allowed).len();
        match self {
            ExploreKind::Partition => n >= 2,
            _ => n >= 1,
        }
    }
}

/// The bounds of `meshsim explore`'s random faults and its liveness
/// phase. Every field has a default; the section may be absent.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExploreSpec {
    /// Seeds explored (`--seeds` overrides): seed i is the scenario's seed
    /// + i.
    #[serde(default = "default_seeds")]
    #[schemars(range(min = 1, max = MAX_EXPLORE_SEEDS))]
    pub seeds: u32,
    /// The kinds of fault that may be drawn; each seed enables a random
    /// subset of them (swarm testing). Default: every kind the scenario has
    /// a target for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<ExploreKind>,
    /// The services faults may hit. Default: every service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// The most faults drawn for one seed (each seed draws 1 to this many).
    #[serde(default = "default_faults_max")]
    #[schemars(range(min = 1, max = MAX_EXPLORE_FAULTS))]
    pub faults_max: u32,
    /// No drawn fault starts before this. Default: a tenth of the run, and
    /// at least 10 windows (recovery is judged against the windows before
    /// a fault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<SimDuration>,
    /// Every drawn fault has ended by this time; the liveness phase runs
    /// from here to the end. Default: the run's end − `recover_within` −
    /// 3 windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heal_by: Option<SimDuration>,
    /// The shortest drawn fault.
    #[serde(default = "default_length_min")]
    pub length_min: SimDuration,
    /// The longest drawn fault.
    #[serde(default = "default_length_max")]
    pub length_max: SimDuration,
    /// The liveness bound: after each fault ends, the routes must be back
    /// within tolerance of their baseline within this long.
    #[serde(default = "default_recover_within")]
    pub recover_within: SimDuration,
    /// The strongest slowdown factor drawn (from 2 up to this).
    #[serde(default = "default_slowdown_max")]
    #[schemars(range(min = 2.0, max = 1000.0))]
    pub slowdown_max: f64,
    /// The most latency a fault adds (from 10 ms, or this if less, up to
    /// this).
    #[serde(default = "default_latency_max")]
    pub latency_max: SimDuration,
    /// The highest error rate of an error burst (from a tenth of it up to
    /// this).
    #[serde(default = "default_rate_max")]
    #[schemars(extend("exclusiveMinimum" = 0), range(max = 1.0))]
    pub errors_max: f64,
    /// The highest loss rate drawn (from a tenth of it up to this).
    #[serde(default = "default_loss_max")]
    #[schemars(extend("exclusiveMinimum" = 0), range(max = 1.0))]
    pub loss_max: f64,
    /// Whether a dead-lettered saga fails its seed: `allowed` (the
    /// default: parking a saga for an operator is the saga's declared way
    /// to fail safely, and the invariants still check that it left only
    /// what it reported; explore counts the seeds that did) or `fail` (a
    /// design that must never need an operator).
    #[serde(default)]
    pub dead_letters: DeadLetters,
}

/// What explore makes of a dead-lettered saga.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetters {
    /// Counted and reported, not a failure.
    #[default]
    Allowed,
    /// A failure of the seed.
    Fail,
}

fn default_seeds() -> u32 {
    DEFAULT_EXPLORE_SEEDS
}
fn default_faults_max() -> u32 {
    4
}
fn default_length_min() -> SimDuration {
    SimDuration::from_secs(1)
}
fn default_length_max() -> SimDuration {
    SimDuration::from_secs(20)
}
fn default_recover_within() -> SimDuration {
    SimDuration::from_secs(30)
}
fn default_slowdown_max() -> f64 {
    10.0
}
fn default_latency_max() -> SimDuration {
    SimDuration::from_millis(500)
}
fn default_rate_max() -> f64 {
    1.0
}
fn default_loss_max() -> f64 {
    0.5
}

impl Default for ExploreSpec {
    fn default() -> Self {
        ExploreSpec {
            seeds: default_seeds(),
            kinds: Vec::new(),
            services: Vec::new(),
            faults_max: default_faults_max(),
            from: None,
            heal_by: None,
            length_min: default_length_min(),
            length_max: default_length_max(),
            recover_within: default_recover_within(),
            slowdown_max: default_slowdown_max(),
            latency_max: default_latency_max(),
            errors_max: default_rate_max(),
            loss_max: default_loss_max(),
            dead_letters: DeadLetters::Allowed,
        }
    }
}

impl ExploreSpec {
    /// When drawn faults may start, and when they must all have ended: the
    /// section's `from` and `heal_by`, or their defaults for `scenario`.
    pub fn chaos(&self, scenario: &Scenario) -> (SimDuration, SimDuration) {
        let (duration, window) = (scenario.duration.as_nanos(), scenario.window.as_nanos());
        let from = self.from.map(SimDuration::as_nanos).unwrap_or_else(|| {
            let tenth = duration / 10;
            tenth.max(window.saturating_mul(10))
        });
        let heal_by = self.heal_by.map(SimDuration::as_nanos).unwrap_or_else(|| {
            duration
                .saturating_sub(self.recover_within.as_nanos())
                .saturating_sub(window.saturating_mul(RECOVERY_WINDOWS))
        });
        (
            SimDuration::from_nanos(from),
            SimDuration::from_nanos(heal_by),
        )
    }

    /// The kinds explore draws from: the section's, or every kind with a
    /// target in `scenario`.
    pub fn kinds_for(&self, scenario: &Scenario) -> Vec<ExploreKind> {
        if self.kinds.is_empty() {
            ExploreKind::ALL
                .into_iter()
                .filter(|k| k.applies(scenario, &self.services))
                .collect()
        } else {
            self.kinds.clone()
        }
    }

    /// Every problem of the section for `scenario`, with its path (`at`):
    /// a number out of range, an unknown service, a kind with nothing to
    /// hit, a chaos window that is empty or leaves no room for the
    /// liveness phase.
    pub fn problems(&self, at: &JsonPath, scenario: &Scenario) -> Vec<(JsonPath, String)> {
        let mut problems = Vec::new();
        let mut problem = |path: JsonPath, message: String| problems.push((path, message));
        if !(1..=MAX_EXPLORE_SEEDS).contains(&self.seeds) {
            problem(
                at.key("seeds"),
                format!("1 to {MAX_EXPLORE_SEEDS} seeds, got {}", self.seeds),
            );
        }
        if !(1..=MAX_EXPLORE_FAULTS).contains(&self.faults_max) {
            problem(
                at.key("faults_max"),
                format!(
                    "1 to {MAX_EXPLORE_FAULTS} faults per seed, got {}",
                    self.faults_max
                ),
            );
        }
        for (i, name) in self.services.iter().enumerate() {
            if !scenario.services.contains_key(name) {
                problem(
                    at.key("services").index(i),
                    format!("no service is called `{name}`"),
                );
            } else if self.services[..i].contains(name) {
                problem(
                    at.key("services").index(i),
                    format!("`{name}` is listed twice"),
                );
            }
        }
        for (i, kind) in self.kinds.iter().enumerate() {
            let here = at.key("kinds").index(i);
            if self.kinds[..i].contains(kind) {
                problem(here, format!("`{}` is listed twice", kind.as_str()));
            } else if !kind.applies(scenario, &self.services) {
                let why = match kind {
                    ExploreKind::Partition => "fewer than two services it may hit",
                    ExploreKind::RegistryOutage => "no service it may hit has `discovery`",
                    ExploreKind::OrchestratorCrash => "no service it may hit has a `saga`",
                    ExploreKind::BrokerCrash => "no service it may hit is a `broker`",
                    _ => {
                        "no service it may hit (orchestrators and brokers have kinds of their own)"
                    }
                };
                problem(
                    here,
                    format!("`{}` has nothing to hit: {why}; remove it", kind.as_str()),
                );
            }
        }
        if self.kinds.is_empty() && self.kinds_for(scenario).is_empty() {
            problem(
                at.key("services"),
                "no kind of fault has a service to hit".to_string(),
            );
        }
        for (key, d) in [
            ("length_min", self.length_min),
            ("length_max", self.length_max),
            ("recover_within", self.recover_within),
            ("latency_max", self.latency_max),
        ] {
            if d.as_nanos() == 0 {
                problem(at.key(key), "must be longer than zero".to_string());
            }
        }
        if self.length_min > self.length_max {
            problem(
                at.key("length_min"),
                format!(
                    "{} is longer than length_max ({})",
                    self.length_min.in_seconds(),
                    self.length_max.in_seconds()
                ),
            );
        }
        if !(self.slowdown_max >= 2.0 && self.slowdown_max <= 1000.0) {
            problem(
                at.key("slowdown_max"),
                format!("2 to 1000, got {}", self.slowdown_max),
            );
        }
        for (key, rate) in [("errors_max", self.errors_max), ("loss_max", self.loss_max)] {
            if !(rate > 0.0 && rate <= 1.0) {
                problem(
                    at.key(key),
                    format!("a probability above 0 and at most 1, got {rate}"),
                );
            }
        }
        let (from, heal_by) = self.chaos(scenario);
        let room = from.as_nanos().saturating_add(self.length_min.as_nanos());
        if room > heal_by.as_nanos() {
            problem(
                at.key(if self.heal_by.is_some() {
                    "heal_by"
                } else {
                    "from"
                }),
                format!(
                    "no room for a fault: faults start at {} at the earliest, last {} at least and must end by {} (the end of the run, {}, less recover_within, {}, and 3 windows for the liveness phase); shorten recover_within or length_min, or lengthen the run",
                    from.in_seconds(),
                    self.length_min.in_seconds(),
                    heal_by.in_seconds(),
                    scenario.duration.in_seconds(),
                    self.recover_within.in_seconds()
                ),
            );
        }
        let liveness_end = heal_by
            .as_nanos()
            .saturating_add(self.recover_within.as_nanos())
            .saturating_add(scenario.window.as_nanos().saturating_mul(RECOVERY_WINDOWS));
        if self.heal_by.is_some() && liveness_end > scenario.duration.as_nanos() {
            problem(
                at.key("heal_by"),
                format!(
                    "the liveness phase needs recover_within ({}) and 3 windows after {}, past the end of the run ({})",
                    self.recover_within.in_seconds(),
                    heal_by.in_seconds(),
                    scenario.duration.in_seconds()
                ),
            );
        }
        problems
    }
}
