//! The resilience policies of a scenario file: named stacks of timeout,
//! deadline, retry, budget, breaker, bulkhead, rate limit and hedge, as
//! serde types (their meaning is checked in `validate/policies.rs` and they
//! are built into patterns in `scenario/policy.rs`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kernel::SimDuration;

/// A named resilience policy, attached to routes and calls with `"policy"`.
/// Its pieces compose in one fixed order, outermost first:
/// deadline ∘ retry(budget) ∘ breaker ∘ bulkhead ∘ per-attempt timeout ∘ call
/// (see `patterns` for why).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Give up on one attempt after this long.
    #[serde(default)]
    pub timeout: Option<SimDuration>,
    /// Give up on the whole call (every attempt and backoff) after this long.
    /// The remaining time travels with the request: downstream calls inherit
    /// it, and an instance does not start work whose deadline has passed.
    #[serde(default)]
    pub deadline: Option<SimDuration>,
    /// Retry failed attempts.
    #[serde(default)]
    pub retry: Option<RetrySpec>,
    /// Limit retries (and, for `adaptive`, all requests) to protect the callee.
    #[serde(default)]
    pub budget: Option<BudgetSpec>,
    /// A circuit breaker in front of the callee.
    #[serde(default)]
    pub breaker: Option<BreakerSpec>,
    /// Bound the attempts in flight at once.
    #[serde(default)]
    pub bulkhead: Option<BulkheadSpec>,
    /// A token bucket on outgoing calls.
    #[serde(default)]
    pub rate_limit: Option<RateLimitSpec>,
    /// Send a second attempt when the first is slow.
    #[serde(default)]
    pub hedge: Option<HedgeSpec>,
    /// Who shares the state of the breaker, bulkhead, budget and rate limit:
    /// each calling instance its own (`instance`, the default, as a client
    /// library does), or every instance of the calling service one (`service`).
    #[serde(default)]
    pub scope: PolicyScope,
    /// How the caller picks an instance of the callee; without it, round
    /// robin over every instance (one rotation per callee, shared by all
    /// its callers, as before balancers were per edge). The balancer's
    /// state belongs to the scope unit (calling instance or service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balancer: Option<BalancerKind>,
    /// Envoy's outlier detection: eject instances that fail in a row from
    /// the balancer's choice, for longer each time (per scope unit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierSpec>,
    /// Envoy's panic threshold, in percent: when fewer of the view's
    /// instances than this are healthy (not ejected), the balancer ignores
    /// health and uses them all (0 disables; 50 by default).
    #[schemars(range(min = 0.0, max = 100.0))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panic_threshold: Option<f64>,
    /// Envoy's zone-aware routing: a caller in a zone prefers the callee's
    /// instances in its zone, and spills over when that zone has fewer
    /// healthy instances than its share. It needs a balanced edge: without
    /// a `balancer`, round robin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_aware: Option<ZoneAwareSpec>,
    /// What a call does when it has failed after the whole stack (its
    /// retries spent, its breaker open...), as Hystrix, resilience4j and
    /// Polly offer: call another service, or answer a degraded success
    /// (static, or the last good answer while it is fresh enough). The
    /// caller sees a success; the call's edge still counts its failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackSpec>,
}

/// A policy's fallback: exactly one of `service`, `static` and `cached`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FallbackSpec {
    /// Call this service instead (the global recommendations instead of the
    /// personal ones): a call of its own, through `policy`, with the time
    /// left of the failed call's deadline. Its success is a degraded one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The policy of the call to `service`; it must have no `fallback` of
    /// its own (one level of fallback, so a chain always ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// A per-attempt timeout for the call to `service` (else its policy's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<SimDuration>,
    /// Answer a static, degraded success at once (a default value, an empty
    /// list): `true`.
    #[serde(default, rename = "static", skip_serializing_if = "Option::is_none")]
    pub static_answer: Option<bool>,
    /// Answer the last good answer, if the calling scope unit had a success
    /// on this edge no longer ago than this (a cache of the last response);
    /// otherwise the failure stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached: Option<SimDuration>,
    /// With `cached`: keep the last good answer per request key (the
    /// route's `keys`, else the closed-loop user), up to this many keys per
    /// calling scope unit, the least recently answered evicted, so a
    /// request is answered only with its own key's last answer (a product
    /// page, not the last page anyone saw). A request without a key uses
    /// the unit's last answer. Without it: one answer per unit.
    #[schemars(range(min = 1, max = 1_048_576))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_keys: Option<u32>,
    /// The failures that fall back. The default: every failure but the
    /// request's own 401, 403 and 404, which a fallback would only hide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<Vec<FallbackOn>>,
}

/// A failure a fallback can answer: a status of the vocabulary.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FallbackOn {
    /// 401.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 429.
    TooManyRequests,
    /// 500.
    Internal,
    /// 503.
    Unavailable,
    /// 504.
    GatewayTimeout,
    /// The caller's own timeout or deadline.
    Timeout,
    /// An open circuit breaker.
    BreakerOpen,
    /// A full bulkhead.
    BulkheadFull,
    /// Adaptive throttling.
    Throttled,
    /// The outgoing rate limit.
    RateLimited,
}

/// Zone-aware routing (Envoy's `zone_aware_lb_config`, with its defaults).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ZoneAwareSpec {
    /// The percentage of picks that are zone aware (the others use every
    /// healthy instance).
    #[schemars(range(min = 0, max = 100))]
    #[serde(default = "hundred")]
    pub routing_enabled: u32,
    /// The fewest healthy instances in the caller's pool for zone
    /// awareness to engage.
    #[serde(default = "six")]
    pub min_cluster_size: u32,
}

fn hundred() -> u32 {
    100
}
fn six() -> u32 {
    6
}

fn some_five() -> Option<u32> {
    Some(5)
}
fn ten_percent() -> u32 {
    10
}
fn ten_seconds() -> SimDuration {
    SimDuration::from_secs(10)
}
fn thirty_seconds() -> SimDuration {
    SimDuration::from_secs(30)
}
fn three_hundred_seconds() -> SimDuration {
    SimDuration::from_secs(300)
}

/// Outlier detection (Envoy's `outlier_detection`, with its defaults).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutlierSpec {
    /// Consecutive 5xx (errors, 503s, gateway timeouts and the caller's
    /// own attempt timeouts) that eject an instance; `null` disables.
    #[schemars(range(min = 1))]
    #[serde(default = "some_five")]
    pub consecutive_5xx: Option<u32>,
    /// Consecutive gateway failures (503, 504 and attempt timeouts) that
    /// eject an instance; off unless given.
    #[schemars(range(min = 1))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_gateway_failure: Option<u32>,
    /// Success-rate ejection against the pool's mean; off unless given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_rate: Option<SuccessRateSpec>,
    /// Time between ejection sweeps: un-ejections happen only then.
    #[serde(default = "ten_seconds")]
    pub interval: SimDuration,
    /// An ejection lasts this long times the instance's ejection count.
    #[serde(default = "thirty_seconds")]
    pub base_ejection_time: SimDuration,
    /// The longest ejection.
    #[serde(default = "three_hundred_seconds")]
    pub max_ejection_time: SimDuration,
    /// The largest share of the view's instances ejected at once, percent.
    #[schemars(range(min = 0, max = 100))]
    #[serde(default = "ten_percent")]
    pub max_ejection_percent: u32,
    /// How `max_ejection_percent` is applied, as Envoy versions did.
    #[serde(default)]
    pub max_ejection_rule: EjectionRule,
}

/// Success-rate ejection settings (Envoy's `success_rate_*`).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SuccessRateSpec {
    /// At least this many instances with enough requests.
    #[serde(default = "five")]
    pub minimum_hosts: u32,
    /// Requests an instance needs in the interval to count.
    #[serde(default = "hundred")]
    pub request_volume: u32,
    /// Eject below mean − factor × σ (Envoy: 1.9).
    #[schemars(range(min = 0.0))]
    #[serde(default = "one_point_nine")]
    pub stdev_factor: f64,
}

fn five() -> u32 {
    5
}
fn one_point_nine() -> f64 {
    1.9
}

/// How `max_ejection_percent` limits an ejection.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EjectionRule {
    /// Envoy ≥ 1.28: the share after the ejection may not exceed the maximum
    /// (with 10% a pool of fewer than 10 ejects nothing).
    #[default]
    AfterCount,
    /// Envoy ≥ 1.31 with `always_eject_one_host`: as `after_count`, but one
    /// ejection is always allowed when none is active.
    AfterCountOrOne,
    /// Envoy ≤ 1.26: the share before the ejection must be below the maximum,
    /// so one more host than the maximum can go (3 of 3 with 67%).
    BeforeCount,
}

/// A load-balancing policy (see `patterns::discovery::balance`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BalancerKind {
    /// Each instance of the caller's view in turn, from a random start.
    RoundRobin,
    /// Uniformly at random.
    Random,
    /// The fewest requests in flight from this scope unit (a full scan).
    LeastOutstanding,
    /// Power of two choices: two at random, the one with fewer requests in
    /// flight.
    P2c,
    /// Power of two choices by tower's peak-EWMA cost (latency estimate ×
    /// requests in flight).
    P2cPeakEwma,
    /// Envoy's ring hash on the request key (routes with `keys`).
    RingHash,
    /// Envoy's Maglev table on the request key.
    Maglev,
}

impl BalancerKind {
    /// Its name in the scenario file.
    pub fn name(self) -> &'static str {
        match self {
            BalancerKind::RoundRobin => "round_robin",
            BalancerKind::Random => "random",
            BalancerKind::LeastOutstanding => "least_outstanding",
            BalancerKind::P2c => "p2c",
            BalancerKind::P2cPeakEwma => "p2c_peak_ewma",
            BalancerKind::RingHash => "ring_hash",
            BalancerKind::Maglev => "maglev",
        }
    }
}

/// Who shares a policy's state.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PolicyScope {
    /// One state per calling instance.
    #[default]
    Instance,
    /// One state per calling service.
    Service,
}

fn default_attempts() -> u32 {
    3
}

/// Retry settings.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in total, the first included (2 = one retry). At most 10.
    #[schemars(range(min = 1, max = crate::scenario::validate::MAX_ATTEMPTS))]
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Which outcomes are retried: `error`, `timeout`, `rejected`,
    /// `breaker_open`. The caller's own refusals (bulkhead full, rate limited,
    /// throttled) count as `rejected`.
    #[serde(default = "default_retry_on")]
    pub retry_on: Vec<RetryOutcome>,
    /// The delay before each retry.
    #[serde(default = "default_backoff")]
    pub backoff: BackoffSpec,
    /// How the delay is randomised: `none`, `full`, `equal`, `decorrelated`.
    #[serde(default)]
    pub jitter: JitterKind,
    /// Whether a callee's retry-after hint (a 429's) replaces the backoff
    /// before the next retry, as the AWS SDKs and gRPC do (`true`), or is
    /// ignored (`false`: the backoff applies). A hint never moves a retry
    /// past the call's deadline.
    #[serde(default = "yes")]
    pub honour_retry_after: bool,
    /// When honouring a retry-after, wait it plus a uniform draw up to
    /// this: clients that a shared limiter refused together then come back
    /// spread out instead of as a herd. None (the default): the hint
    /// exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_jitter: Option<SimDuration>,
}

fn yes() -> bool {
    true
}

/// An outcome a retry policy can retry.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RetryOutcome {
    /// An error reply.
    Error,
    /// No reply in time.
    Timeout,
    /// Refused: a full queue at the callee, or the caller's own bulkhead,
    /// rate limit or throttle.
    Rejected,
    /// Refused locally by an open circuit breaker.
    BreakerOpen,
}

/// How a retry's delay is randomised (Brooker's jitters).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum JitterKind {
    /// Wait the backoff's delay exactly.
    None,
    /// Uniform between 0 and the delay.
    #[default]
    Full,
    /// Half the delay plus a uniform share of the other half.
    Equal,
    /// Uniform between the first delay and 3 times the previous sleep.
    Decorrelated,
}

fn default_retry_on() -> Vec<RetryOutcome> {
    vec![RetryOutcome::Error, RetryOutcome::Timeout]
}
fn default_backoff() -> BackoffSpec {
    BackoffSpec::Exponential {
        base: SimDuration::from_millis(25),
        multiplier: default_multiplier(),
        cap: SimDuration::from_millis(250),
    }
}
fn default_multiplier() -> f64 {
    2.0
}

/// A backoff schedule.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum BackoffSpec {
    /// The same delay every time.
    Constant(SimDuration),
    /// `min(cap, initial + increment · n)`.
    Linear {
        /// Before the first retry.
        initial: SimDuration,
        /// Added per further retry.
        increment: SimDuration,
        /// The largest delay.
        cap: SimDuration,
    },
    /// `min(cap, base · multiplier^n)`.
    Exponential {
        /// Before the first retry.
        base: SimDuration,
        /// Growth per retry (≥ 1).
        #[serde(default = "default_multiplier")]
        #[schemars(range(min = 1.0, max = 100.0))]
        multiplier: f64,
        /// The largest delay.
        cap: SimDuration,
    },
}

/// A retry limiter: exactly one kind.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum BudgetSpec {
    /// Finagle/Linkerd retry budget: retries may be at most
    /// `retry_percent` % of requests over `ttl`, plus
    /// `min_retries_per_sec` (Finagle's `percentCanRetry` = retry_percent/100).
    Tps {
        /// Retries allowed per 100 requests.
        #[serde(default = "default_retry_percent")]
        #[schemars(range(min = 0.0, max = 1000.0))]
        retry_percent: f64,
        /// Retries allowed per second regardless of traffic.
        #[serde(default = "default_min_retries")]
        min_retries_per_sec: u32,
        /// How long a request's deposit lasts.
        #[serde(default = "default_ttl")]
        ttl: SimDuration,
    },
    /// gRPC retry throttling: failures cost a token, successes return
    /// `token_ratio`; no retries while tokens ≤ `max_tokens`/2.
    TokenBucket {
        /// Bucket size.
        #[serde(default = "default_max_tokens")]
        #[schemars(range(min = 1, max = 1000))]
        max_tokens: u32,
        /// Tokens returned per success.
        #[serde(default = "default_token_ratio")]
        #[schemars(range(min = 0.001, max = 1000.0))]
        token_ratio: f64,
    },
    /// Google SRE client-side adaptive throttling: reject locally with
    /// probability max(0, (requests − k·accepts)/(requests + 1)).
    Adaptive {
        /// The multiplier K (2 in the SRE book).
        #[serde(default = "default_k")]
        #[schemars(range(min = 1.0))]
        k: f64,
        /// The window over which requests and accepts are counted.
        #[serde(default = "default_adaptive_window")]
        window: SimDuration,
    },
}

fn default_retry_percent() -> f64 {
    20.0
}
fn default_min_retries() -> u32 {
    10
}
fn default_ttl() -> SimDuration {
    SimDuration::from_secs(10)
}
fn default_max_tokens() -> u32 {
    100
}
fn default_token_ratio() -> f64 {
    0.1
}
fn default_k() -> f64 {
    2.0
}
fn default_adaptive_window() -> SimDuration {
    SimDuration::from_secs(120)
}

/// Circuit-breaker settings, with resilience4j's names and defaults.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BreakerSpec {
    /// `count` (the last `window_size` calls) or `time` (the last
    /// `window_size` seconds).
    #[serde(default)]
    pub window: WindowKind,
    /// Calls or seconds, by `window`: at most 100000 calls, or 86400 seconds
    /// (a day) for a time window.
    #[schemars(range(min = 1, max = 100_000))]
    #[serde(default = "default_window_size")]
    pub window_size: u32,
    /// Trip when the failure rate reaches this percentage.
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = 100))]
    #[serde(default = "default_failure_rate")]
    pub failure_rate_percent: f64,
    /// Calls slower than this (strictly) are slow.
    #[serde(default = "default_slow_call_duration")]
    pub slow_call_duration: SimDuration,
    /// Trip when the slow-call rate reaches this percentage.
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = 100))]
    #[serde(default = "default_slow_call_rate")]
    pub slow_call_rate_percent: f64,
    /// No rate is computed below this many calls in the window.
    #[schemars(range(min = 1))]
    #[serde(default = "default_minimum_calls")]
    pub minimum_calls: u32,
    /// How long it stays open before letting probes through.
    #[serde(default = "default_wait_in_open")]
    pub wait_in_open: SimDuration,
    /// Multiply the open wait by this on each consecutive trip (1 = fixed).
    #[schemars(range(min = 1.0, max = 100.0))]
    #[serde(default = "default_open_multiplier")]
    pub wait_multiplier: f64,
    /// The longest open wait when it grows.
    #[serde(default)]
    pub max_wait_in_open: Option<SimDuration>,
    /// Probes let through in half-open; their results decide.
    #[schemars(range(min = 1, max = 100_000))]
    #[serde(default = "default_half_open_calls")]
    pub half_open_calls: u32,
    /// Force half-open back to open after this long (0 = wait for probes).
    #[serde(default)]
    pub max_wait_in_half_open: Option<SimDuration>,
    /// Instead of rates: trip after this many consecutive failures
    /// (pybreaker/Hystrix style); one probe in half-open.
    #[serde(default)]
    pub consecutive_failures: Option<u32>,
}

/// The kind of a breaker's sliding window.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// The last `window_size` attempts.
    #[default]
    Count,
    /// The attempts of the last `window_size` seconds.
    Time,
}

fn default_window_size() -> u32 {
    100
}
fn default_failure_rate() -> f64 {
    50.0
}
fn default_slow_call_duration() -> SimDuration {
    SimDuration::from_secs(60)
}
fn default_slow_call_rate() -> f64 {
    100.0
}
fn default_minimum_calls() -> u32 {
    100
}
fn default_wait_in_open() -> SimDuration {
    SimDuration::from_secs(60)
}
fn default_open_multiplier() -> f64 {
    1.0
}
fn default_half_open_calls() -> u32 {
    10
}

/// A bulkhead: at most `max_concurrent` attempts in flight; others wait up to
/// `max_wait` in a queue of `max_waiting`, then are rejected.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BulkheadSpec {
    /// Attempts in flight at once.
    #[schemars(range(min = 1))]
    pub max_concurrent: u32,
    /// How long an attempt may wait for a slot; without it (and
    /// `max_waiting`), a full bulkhead rejects at once.
    #[serde(default)]
    pub max_wait: Option<SimDuration>,
    /// How many attempts may wait.
    #[schemars(range(min = 1, max = crate::patterns::bulkhead::MAX_WAITING))]
    #[serde(default)]
    pub max_waiting: Option<u32>,
}

/// A token bucket on outgoing calls.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Tokens per second.
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub rate: f64,
    /// Bucket size.
    pub burst: u32,
}

/// Hedged requests: after `delay` (or the `percentile` of latencies seen so
/// far), send another attempt; keep the first reply.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HedgeSpec {
    /// A fixed delay before the hedge.
    #[serde(default)]
    pub delay: Option<SimDuration>,
    /// Or: this percentile (e.g. 95) of the latencies observed so far.
    #[schemars(extend("exclusiveMinimum" = 0, "exclusiveMaximum" = 100))]
    #[serde(default)]
    pub percentile: Option<f64>,
    /// Extra attempts at most.
    #[schemars(range(min = 1, max = crate::scenario::validate::MAX_HEDGES))]
    #[serde(default = "default_max_hedges")]
    pub max_hedges: u32,
    /// When one attempt succeeds, cancel the others still in flight (as
    /// gRPC, Envoy and Finagle do); `false` lets them run to completion.
    #[serde(default = "default_cancel_losers")]
    pub cancel_losers: bool,
}

fn default_cancel_losers() -> bool {
    true
}

fn default_max_hedges() -> u32 {
    1
}
