//! The scenario file, as serde types. Every struct denies unknown fields, so a
//! misspelt setting is an error rather than a silently ignored default.
//! `docs/scenarios.md` documents each field; `meshsim schema` prints the JSON
//! Schema derived from these types, so the two cannot drift apart silently
//! (a test checks that every field in the schema is documented).
//!
//! Shapes that are "one of several" (a call step, a fault, a schedule entry)
//! are structs of optional fields checked by [`crate::scenario::validate`], rather than
//! untagged enums, because serde can only say "did not match any variant" for
//! those, while we can say exactly which field is missing or extra.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kernel::SimDuration;

mod autoscale;
mod compare;
mod discovery;
mod events;
mod explore;
mod fault;
mod gateway;
mod policy;
mod requirements;
mod saga;
pub use autoscale::*;
pub use compare::*;
pub use discovery::*;
pub use events::*;
pub use explore::*;
pub use fault::*;
pub use gateway::*;
pub use policy::*;
pub use requirements::*;
pub use saga::*;

fn one() -> u32 {
    1
}
fn default_queue_capacity() -> u32 {
    1000
}
fn default_window() -> SimDuration {
    SimDuration::from_secs(1)
}
fn default_probability() -> f64 {
    1.0
}
fn default_weight() -> f64 {
    1.0
}
fn default_seed() -> u64 {
    1
}

/// A whole scenario: the system, its workload and its failures.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name; the default report directory is `reports/<name>/`.
    pub name: String,
    /// What the scenario shows, in a sentence or two.
    #[serde(default)]
    pub description: String,
    /// How much virtual time to simulate, e.g. `"120s"`.
    pub duration: SimDuration,
    /// Width of one time-series window, e.g. `"1s"`.
    #[serde(default = "default_window")]
    pub window: SimDuration,
    /// The master seed; `--seed` overrides it.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Stop after this many events and mark the run incomplete.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub event_budget: Option<u64>,
    /// The bound on client requests in flight at once (default 1,000,000):
    /// past it a new request is refused and counted as `capped`, so that
    /// requests that never end (no client timeout, a dependency that never
    /// answers) cannot exhaust memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100_000_000))]
    pub max_requests_in_flight: Option<u64>,
    /// The services, by name.
    pub services: BTreeMap<String, Service>,
    /// Named resilience policies, attached to routes and calls with `policy`.
    #[serde(default)]
    pub policies: BTreeMap<String, Policy>,
    /// Latency, loss and per-link overrides between services.
    #[serde(default)]
    pub network: Network,
    /// Who sends requests, how many, and where.
    pub workload: Workload,
    /// A timeline of failures: at most 10,000.
    #[serde(default)]
    #[schemars(length(max = 10000))]
    pub faults: Vec<Fault>,
    /// What the run must meet (success rates, latencies, amplification,
    /// invariants): `meshsim run` exits with 1 when one fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requirements: Vec<Requirement>,
    /// An experiment over this scenario, run by `meshsim compare FILE`
    /// (`run` ignores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<CompareSpec>,
    /// The bounds of the random faults `meshsim explore FILE` draws and of
    /// its liveness phase (`run` ignores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explore: Option<ExploreSpec>,
    /// Sagas by choreography over events, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub choreographies: BTreeMap<String, ChoreographySpec>,
}

/// A service: identical instances, each a FIFO queue in front of workers.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Number of instances; callers spread requests over them round robin.
    #[schemars(range(min = 1, max = crate::scenario::validate::MAX_INSTANCES))]
    #[serde(default = "one")]
    pub instances: u32,
    /// Workers per instance: requests handled at once. A worker stays busy
    /// while the request waits for its downstream calls.
    #[schemars(range(min = 1))]
    #[serde(default = "one")]
    pub concurrency: u32,
    /// Requests that may wait per instance; a request arriving at a full queue
    /// is rejected at once.
    #[schemars(range(min = 1))]
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: u32,
    /// Time a worker spends on the request itself, before downstream calls.
    pub service_time: Distribution,
    /// Probability that handling fails with an error (before any calls).
    #[schemars(range(min = 0.0, max = 1.0))]
    #[serde(default)]
    pub error_rate: f64,
    /// Per-instance multipliers of the service time, one per instance (3
    /// means instance i is three times slower): a gray failure, or mixed
    /// hardware. Empty (the default): every instance at full speed.
    #[schemars(extend("items" = {"type": "number", "exclusiveMinimum": 0}))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instance_slowdown: Vec<f64>,
    /// How long an instance takes to boot when it restarts after a crash or
    /// a graceful stop: it refuses requests (503) until then. Without it a
    /// restart is instantaneous. Instances present at the start of the run
    /// are ready at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_time: Option<Distribution>,
    /// How long an instance goes on serving after a graceful stop (a
    /// `stop` fault, or an autoscaler's scale-down) has deregistered it,
    /// before it refuses new work and drains: Kubernetes' `preStop` sleep,
    /// which lets callers' views drop it first. Without it, at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_delay: Option<SimDuration>,
    /// Downstream calls, made in order after the local work.
    #[serde(default)]
    pub calls: Vec<CallStep>,
    /// How callers discover its instances and learn of their health:
    /// without it, they call every instance, up or down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoverySpec>,
    /// A horizontal autoscaler that sets the number of running instances
    /// between its bounds, as Kubernetes' does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<AutoscaleSpec>,
    /// The zones its instances run in, spread round robin: instance `i` is
    /// in `zones[i mod len]`. Empty (the default): no zone.
    #[schemars(extend("items" = {"type": "string", "minLength": 1}))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
    /// An admission limit on each instance, as Envoy's local rate limit
    /// filter: a token bucket per instance, and a request that finds it
    /// empty is answered 429 at once, with a retry-after of the time until
    /// its next token. None (the default): no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
    /// Server-side load shedding on each instance: an arriving request is
    /// answered 503 at once, before the queue, while the queue is past its
    /// high watermark (until it drains to the low one) or while
    /// `max_concurrency` requests are in service. None (the default): a
    /// request is refused only by a full queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shed: Option<ShedSpec>,
    /// Makes the service an API gateway: after its own work it routes each
    /// request by method and path, checks its credential and forwards it to
    /// a backend of the route's split. A gateway has no `calls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewaySpec>,
    /// Makes the service stateful: a balance per key (stock per item,
    /// money per account) that sagas' actions and compensations change.
    /// A stateful service has no `calls`, and only sagas call it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateSpec>,
    /// Makes the service a saga orchestrator: each request it serves starts
    /// a saga of these steps. An orchestrator has no `calls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saga: Option<SagaSpec>,
    /// Makes the service a message broker with these topics: publishing
    /// reaches it, and it delivers to the consumer groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker: Option<BrokerSpec>,
    /// Each request the service handles successfully commits an event for
    /// a topic, through a transactional outbox or published after the
    /// commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<PublishSpec>,
    /// The consumer groups its instances are members of: each event
    /// delivered to it is handled as a request is (its service time, its
    /// calls), then committed.
    #[schemars(length(max = 32))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consume: Vec<ConsumeSpec>,
}

impl Service {
    /// The instances it may ever run: `autoscale.max_instances` for an
    /// autoscaled service (those beyond `instances` start stopped), else
    /// `instances`. Everything sized per instance is sized by this.
    pub fn slots(&self) -> u32 {
        self.autoscale
            .as_ref()
            .map_or(self.instances, |a| a.max_instances.max(self.instances))
    }
}

/// When an instance sheds load (`Service::shed`), as Envoy's overload
/// manager stops accepting requests past a watermark.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShedSpec {
    /// Shedding starts when the queue holds this many requests or more; at
    /// most `queue_capacity`. None: only `max_concurrency` sheds (one of
    /// the two is needed).
    #[schemars(range(min = 1))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_high: Option<u32>,
    /// Shedding stops when the queue has drained to this many or fewer;
    /// below `queue_high` (the default, `queue_high − 1`, is a plain
    /// threshold). The gap keeps a queue that hovers at the threshold from
    /// flapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_low: Option<u32>,
    /// Also shed while this many requests are in service on the instance;
    /// at most `concurrency`. None (the default): no cap but the workers.
    #[schemars(range(min = 1))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
}

/// One step of a service's downstream calls: either a single call
/// (`service`, ...) or a `parallel` group whose calls are made at once.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CallStep {
    /// The service to call (for a single call).
    #[serde(default)]
    pub service: Option<String>,
    /// Calls made concurrently; the step ends when all have answered.
    #[serde(default)]
    pub parallel: Option<Vec<Call>>,
    /// Probability that this call is made at all (single call only).
    #[schemars(range(min = 0.0, max = 1.0))]
    #[serde(default)]
    pub probability: Option<f64>,
    /// If true, a failure of this call does not fail the request.
    #[serde(default)]
    pub optional: Option<bool>,
    /// Give up on the call after this long (single call only).
    #[serde(default)]
    pub timeout: Option<SimDuration>,
    /// The resilience policy of this call, by name (single call only).
    #[serde(default)]
    pub policy: Option<String>,
}

/// A call inside a parallel group.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// The service to call.
    pub service: String,
    /// Probability that this call is made at all.
    #[schemars(range(min = 0.0, max = 1.0))]
    #[serde(default = "default_probability")]
    pub probability: f64,
    /// If true, a failure of this call does not fail the request.
    #[serde(default)]
    pub optional: bool,
    /// Give up on the call after this long; without it the caller waits for
    /// the reply however long it takes (as many HTTP clients do by default).
    #[serde(default)]
    pub timeout: Option<SimDuration>,
    /// The resilience policy of this call, by name.
    #[serde(default)]
    pub policy: Option<String>,
}

/// A distribution of durations (service times, latencies, think times).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Distribution {
    /// Always this long.
    Constant(SimDuration),
    /// Uniform between `min` and `max`.
    Uniform {
        /// Smallest value.
        min: SimDuration,
        /// Largest value.
        max: SimDuration,
    },
    /// Exponential (memoryless) with this mean.
    Exponential {
        /// The mean.
        mean: SimDuration,
    },
    /// Normal, truncated at zero (negative draws are drawn again).
    Normal {
        /// The mean before truncation.
        mean: SimDuration,
        /// The standard deviation before truncation.
        std_dev: SimDuration,
    },
    /// Log-normal, given either by `median` and `p99` (as read off a
    /// dashboard) or by `mean` and the shape `sigma`.
    Lognormal(LognormalParams),
    /// Pareto (heavy-tailed) with minimum `scale` and tail index `shape`.
    Pareto {
        /// The minimum value.
        scale: SimDuration,
        /// The tail index alpha (> 0); the mean is finite only above 1.
        #[schemars(extend("exclusiveMinimum" = 0))]
        shape: f64,
    },
    /// An empirical distribution: observed `samples`, or `percentiles`.
    Empirical(EmpiricalParams),
}

/// Log-normal parameters: exactly one of the pairs (`median`, `p99`) and
/// (`mean`, `sigma`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LognormalParams {
    /// The median (50th percentile).
    #[serde(default)]
    pub median: Option<SimDuration>,
    /// The 99th percentile; must exceed the median.
    #[serde(default)]
    pub p99: Option<SimDuration>,
    /// The mean.
    #[serde(default)]
    pub mean: Option<SimDuration>,
    /// The shape: standard deviation of the underlying normal (> 0).
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = 10))]
    #[serde(default)]
    pub sigma: Option<f64>,
}

/// Empirical parameters: exactly one of `samples` and `percentiles`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EmpiricalParams {
    /// Observed values, drawn uniformly.
    #[serde(default)]
    pub samples: Option<Vec<SimDuration>>,
    /// Percentiles such as `{"p0": "1ms", "p50": "8ms", "p99": "40ms",
    /// "p100": "90ms"}`; values between them are interpolated linearly.
    /// `p0` and `p100` are required.
    #[serde(default)]
    pub percentiles: Option<BTreeMap<String, SimDuration>>,
}

/// The network between services (and between the clients and the services).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// One-way latency of every message without a link override.
    #[serde(default = "zero_latency")]
    pub latency: Distribution,
    /// Probability that a message is lost. A lost message is never
    /// delivered; the caller finds out only through its timeout.
    #[schemars(range(min = 0.0, max = 1.0))]
    #[serde(default)]
    pub loss: f64,
    /// Overrides for pairs of services, in both directions.
    #[serde(default)]
    pub links: Vec<Link>,
    /// Latency between zones: a message whose two ends are both in a zone
    /// takes its zone pair's latency instead of its link's or the global
    /// one (fault latency and loss still apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zones: Option<ZoneLatency>,
}

/// The one-way latency of messages between zones.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ZoneLatency {
    /// Between two ends in the same zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_zone: Option<Distribution>,
    /// Between two ends in different zones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_zone: Option<Distribution>,
    /// Overrides for pairs of zones, in both directions (a pair of one zone
    /// with itself overrides `same_zone` for it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pairs: Vec<ZonePair>,
}

/// The latency between two zones, in both directions.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ZonePair {
    /// One zone.
    pub from: String,
    /// The other zone.
    pub to: String,
    /// One-way latency between them.
    pub latency: Distribution,
}

fn zero_latency() -> Distribution {
    Distribution::Constant(SimDuration::ZERO)
}

impl Default for Network {
    fn default() -> Self {
        Network {
            latency: zero_latency(),
            loss: 0.0,
            links: Vec::new(),
            zones: None,
        }
    }
}

/// A per-pair network override; it applies in both directions.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// One end (a service name).
    pub from: String,
    /// The other end (a service name).
    pub to: String,
    /// One-way latency on this link.
    #[serde(default)]
    pub latency: Option<Distribution>,
    /// Loss probability on this link.
    #[schemars(range(min = 0.0, max = 1.0))]
    #[serde(default)]
    pub loss: Option<f64>,
}

/// The clients: open-loop arrivals or closed-loop users, and where they go.
/// Either one implicit client (`arrivals` with `schedule`, or `users`) or
/// several named `clients`, each with its own.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Open loop: requests arrive at a rate whatever the system does.
    #[serde(default)]
    pub arrivals: Option<Arrivals>,
    /// Changes to the open-loop rate over time.
    #[serde(default)]
    pub schedule: Vec<RateChange>,
    /// Closed loop: a fixed population of users, each waiting for its reply
    /// and then thinking before the next request.
    #[serde(default)]
    pub users: Option<Users>,
    /// Named clients, each with its own arrivals or users, its own mix of
    /// the routes and a credential class. With it, `arrivals`, `schedule`
    /// and `users` stay out of the workload; without it, they make the one
    /// implicit client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = crate::scenario::validate::MAX_CLIENTS))]
    pub clients: Option<Vec<Client>>,
    /// The entry points and how the requests are spread over them.
    pub routes: Vec<Route>,
    /// The client gives up on a request after this long (per route override).
    #[serde(default)]
    pub timeout: Option<SimDuration>,
    /// The clients' resilience policy, by name (per route override).
    #[serde(default)]
    pub policy: Option<String>,
}

/// A named client of the workload: its own arrival process (open loop) or
/// population (closed loop), its own shares of the routes, and the
/// credential class its requests carry.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// The client's name in reports; unique among the clients. Its random
    /// draws are keyed by it, so adding, removing or reordering other
    /// clients leaves its requests' numbers unchanged.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Open loop: this client's arrival process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrivals: Option<Arrivals>,
    /// Changes to this client's open-loop rate over time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<RateChange>,
    /// Closed loop: this client's population of users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Users>,
    /// This client's share of each route, by route name: a weight of zero
    /// or more, at least one positive; a route left out gets none. Without
    /// it, the routes' own `weight`s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("additionalProperties" = {"type": "number", "format": "double", "minimum": 0}))]
    pub routes: Option<BTreeMap<String, f64>>,
    /// The credential class its requests carry (e.g. `"user"`,
    /// `"admin"`): what a gateway route's `allow` lists; `"none"` by
    /// default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub credential: Option<String>,
    /// What is true of the token its requests carry, which a gateway's
    /// `auth` checks: `missing` for the class `"none"`, else `valid` by
    /// default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenKind>,
    /// A `valid` token expires at this time of the run: expired from then
    /// on. Without it, valid for the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<SimDuration>,
    /// The zone this client's requests come from (one some service has);
    /// overrides its routes' `zone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub zone: Option<String>,
}

/// An arrival process.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Arrivals {
    /// Poisson arrivals (exponential gaps) at `rate` per second.
    Poisson {
        /// Requests per second.
        #[schemars(extend("exclusiveMinimum" = 0))]
        rate: f64,
    },
    /// Evenly spaced arrivals at `rate` per second.
    Constant {
        /// Requests per second.
        #[schemars(extend("exclusiveMinimum" = 0))]
        rate: f64,
    },
}

/// A change of the open-loop rate: a step (`rate`), a spike (`rate` with
/// `for`), or a linear ramp (`ramp_to` with `over`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateChange {
    /// When the change starts.
    pub at: SimDuration,
    /// The new rate per second (a step).
    #[schemars(range(min = 0.0))]
    #[serde(default)]
    pub rate: Option<f64>,
    /// With `rate`: go back to the previous rate after this long (a spike).
    #[serde(default, rename = "for")]
    pub lasts: Option<SimDuration>,
    /// The rate per second to reach at the end of a ramp.
    #[schemars(range(min = 0.0))]
    #[serde(default)]
    pub ramp_to: Option<f64>,
    /// How long the ramp takes.
    #[serde(default)]
    pub over: Option<SimDuration>,
}

/// A closed-loop population.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Users {
    /// Number of users.
    #[schemars(range(min = 1, max = crate::scenario::validate::MAX_USERS))]
    pub count: u32,
    /// Pause between a reply and the user's next request.
    pub think_time: Distribution,
}

/// An entry point of the system.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The route's name in reports; defaults to the service name.
    #[serde(default)]
    pub name: Option<String>,
    /// The service that receives the requests.
    pub service: String,
    /// Relative share of the requests.
    #[schemars(extend("exclusiveMinimum" = 0))]
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// Client timeout for this route; overrides the workload's.
    #[serde(default)]
    pub timeout: Option<SimDuration>,
    /// The clients' resilience policy on this route, by name; overrides the
    /// workload's.
    #[serde(default)]
    pub policy: Option<String>,
    /// The requests' method; `GET` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<HttpMethod>,
    /// The requests' path, starting with `/`; `/<route name>` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Each request carries a key drawn uniformly from this many (1 or
    /// more): a customer or an order id, for hashing and sagas.
    #[schemars(range(min = 1, max = 4_294_967_295u64))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<u64>,
    /// The zone its clients run in (one some service has): zone pair
    /// latency and zone-aware routing apply to its requests. None by
    /// default: the clients are in no zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub zone: Option<String>,
    /// Write-then-read clients: after each success of this route (a write
    /// whose service publishes an event), the same client reads it back on
    /// another route from a read model, and a read that comes before the
    /// read model has the write is counted (a read-your-writes violation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then_read: Option<ThenReadSpec>,
}

impl Route {
    /// The route's name: its `name`, else its service's.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.service)
    }

    /// The method of its requests: `method`, else `GET`.
    pub fn request_method(&self) -> HttpMethod {
        self.method.unwrap_or(HttpMethod::Get)
    }

    /// The path of its requests: `path`, else `/<route name>`.
    pub fn request_path(&self) -> String {
        self.path
            .clone()
            .unwrap_or_else(|| format!("/{}", self.name()))
    }
}

/// An HTTP method.
#[derive(
    Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl HttpMethod {
    /// The method as it is written, e.g. `"GET"`.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}
