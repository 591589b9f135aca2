//! A scenario's named policy compiled into the patterns' own objects.
//!
//! Each piece of a policy (retry, budget, breaker, bulkhead, rate limit,
//! hedge) is built by its pattern's constructor or checked by its pattern's
//! `validate`, so what is accepted here is exactly what the pattern accepts:
//! a [`ConfigError`] becomes a diagnostic at the JSON path of the field, and
//! validation and run time cannot disagree. The objects built are kept as
//! *prototypes*: the world makes the state of each scope unit from them
//! ([`Breaker::fresh`], [`Bulkhead::fresh`], or a clone of a pattern that is
//! plain data), which cannot fail.

use std::time::Duration;

use super::diagnostic::JsonPath;
use super::model::{
    BackoffSpec, BalancerKind, BudgetSpec, EjectionRule, FallbackOn, JitterKind, Policy,
    PolicyScope, RateLimitSpec, RetryOutcome, WindowKind,
};
use crate::kernel::SimDuration;
use crate::patterns::breaker::{
    Breaker, BreakerConfig, OpenWait, RateRule, SlidingWindow, TripRule,
};
use crate::patterns::budget::{
    AdaptiveThrottle, AdaptiveThrottleConfig, GrpcRetryThrottle, RetryBudget, RetryBudgetConfig,
};
use crate::patterns::bulkhead::{Bulkhead, BulkheadConfig};
use crate::patterns::discovery::balance::{
    BalancerConfig, MaglevConfig, P2cLoad, PeakEwmaConfig, RingHashConfig,
};
use crate::patterns::discovery::outlier::{MaxEjectionRule, SuccessRateConfig};
use crate::patterns::discovery::{OutlierConfig, PanicThreshold, ZoneAwareConfig};
use crate::patterns::hedge::{HedgeConfig, HedgeDelay, Hedger};
use crate::patterns::rate_limit::{Rate, TokenBucket};
use crate::patterns::retry::{Backoff, Jitter, RetryPolicy};
use crate::patterns::{ConfigError, Outcome, OutcomeSet};

pub(super) type Problems = Vec<(JsonPath, String)>;

fn duration(d: SimDuration) -> Duration {
    Duration::from_nanos(d.as_nanos())
}

/// A retry limiter, as built from a `budget`.
#[derive(Clone, Debug)]
pub enum Limiter {
    /// Finagle-style retry budget.
    Tps(RetryBudget),
    /// gRPC retry throttling.
    Grpc(GrpcRetryThrottle),
    /// Google SRE adaptive throttling (applies to every attempt).
    Adaptive(AdaptiveThrottle),
}

/// A named policy, compiled: its settings and a validated prototype of each
/// of its patterns. Made only by [`super::compile()`].
#[derive(Debug)]
pub struct CompiledPolicy {
    timeout: Option<SimDuration>,
    deadline: Option<SimDuration>,
    retry: Option<RetryPolicy>,
    limiter: Option<Limiter>,
    breaker: Option<Breaker>,
    bulkhead: Option<Bulkhead>,
    rate_limit: Option<TokenBucket>,
    hedger: Option<Hedger>,
    cancel_losers: bool,
    scope: PolicyScope,
    balancer: Option<BalancerConfig>,
    outlier: Option<OutlierConfig>,
    panic: PanicThreshold,
    zone_aware: Option<ZoneAwareConfig>,
    /// Set once names are resolved (`compile`).
    pub(super) fallback: Option<CompiledFallback>,
}

/// A policy's fallback, its names resolved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompiledFallback {
    /// What it answers.
    pub answer: FallbackAnswer,
    /// The failures that fall back: bit `i` for [`FallbackOn`] number `i`
    /// in declaration order.
    pub on: u16,
}

/// What a fallback answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FallbackAnswer {
    /// A static, degraded success at once.
    Static,
    /// The last good answer of the calling scope unit (per request key,
    /// up to `keys` of them, when set), if no older than `max_age`; else
    /// the failure stands.
    Cached {
        /// The oldest answer it serves.
        max_age: SimDuration,
        /// Keys kept per unit (none: one answer per unit).
        keys: Option<u32>,
    },
    /// A call to another service, with its own policy and timeout.
    Call {
        /// The service called.
        service: u32,
        /// Its policy (which has no fallback).
        policy: Option<u16>,
        /// Its per-attempt timeout, if the fallback sets one.
        timeout: Option<SimDuration>,
    },
}

impl CompiledFallback {
    /// Whether a failure `on` falls back.
    pub fn falls_back(&self, on: FallbackOn) -> bool {
        self.on & (1 << on as u16) != 0
    }

    /// The mask of `on`, or of the default (every failure but 401, 403 and
    /// 404) without it.
    pub fn mask(on: Option<&[FallbackOn]>) -> u16 {
        use FallbackOn::*;
        const DEFAULT: [FallbackOn; 9] = [
            TooManyRequests,
            Internal,
            Unavailable,
            GatewayTimeout,
            Timeout,
            BreakerOpen,
            BulkheadFull,
            Throttled,
            RateLimited,
        ];
        on.unwrap_or(&DEFAULT)
            .iter()
            .fold(0, |mask, o| mask | (1 << *o as u16))
    }
}

impl CompiledPolicy {
    /// Its fallback, if it has one.
    pub fn fallback(&self) -> Option<&CompiledFallback> {
        self.fallback.as_ref()
    }
    /// Its zone-aware routing, if it sets it.
    pub fn zone_aware(&self) -> Option<ZoneAwareConfig> {
        self.zone_aware
    }
    /// Per-attempt timeout.
    pub fn timeout(&self) -> Option<SimDuration> {
        self.timeout
    }
    /// Overall deadline of a call.
    pub fn deadline(&self) -> Option<SimDuration> {
        self.deadline
    }
    /// The validated retry policy.
    pub fn retry(&self) -> Option<&RetryPolicy> {
        self.retry.as_ref()
    }
    /// Whether a call that ends cancels its hedged attempts still in flight.
    pub fn cancel_losers(&self) -> bool {
        self.cancel_losers
    }
    /// Who shares the state.
    pub fn scope(&self) -> PolicyScope {
        self.scope
    }
    /// Whether the policy has a circuit breaker.
    pub fn has_breaker(&self) -> bool {
        self.breaker.is_some()
    }
    /// Whether the policy has a retry budget or throttle.
    pub fn has_limiter(&self) -> bool {
        self.limiter.is_some()
    }
    /// The balancer of the edges it is on, if it sets one.
    pub fn balancer(&self) -> Option<BalancerConfig> {
        self.balancer
    }
    /// The outlier detection of the edges it is on, if any.
    pub fn outlier(&self) -> Option<OutlierConfig> {
        self.outlier
    }
    /// Its panic threshold (Envoy's 50% unless it sets one).
    pub fn panic(&self) -> PanicThreshold {
        self.panic
    }
    /// Whether the policy keeps any state per scope unit.
    pub fn stateful(&self) -> bool {
        self.balancer.is_some()
            || self.outlier.is_some()
            || self.limiter.is_some()
            || self.breaker.is_some()
            || self.bulkhead.is_some()
            || self.rate_limit.is_some()
            || self.hedger.is_some()
            || policy_caches(self.fallback.as_ref())
    }
    /// A closed breaker for one more scope unit.
    pub fn fresh_breaker(&self) -> Option<Breaker> {
        self.breaker.as_ref().map(Breaker::fresh)
    }
    /// An empty bulkhead for one more scope unit.
    pub fn fresh_bulkhead(&self) -> Option<Bulkhead> {
        self.bulkhead.as_ref().map(Bulkhead::fresh)
    }
    /// A retry limiter for one more scope unit (the prototype is unused, so
    /// a clone is a fresh one).
    pub fn fresh_limiter(&self) -> Option<Limiter> {
        self.limiter.clone()
    }
    /// A full token bucket for one more scope unit.
    pub fn fresh_rate_limit(&self) -> Option<TokenBucket> {
        self.rate_limit
    }
    /// A hedger with no samples for one more scope unit.
    pub fn fresh_hedger(&self) -> Option<Hedger> {
        self.hedger.clone()
    }
}

/// Maps a pattern's configuration error to the scenario's field: `fields`
/// pairs the pattern's field names with the scenario's, under `piece`.
fn pattern_problem(
    piece: &JsonPath,
    error: ConfigError,
    fields: &[(&str, &str)],
) -> (JsonPath, String) {
    match fields.iter().find(|(theirs, _)| *theirs == error.field) {
        Some((_, ours)) => {
            let path = ours.split('.').fold(piece.clone(), |p, k| p.key(k));
            let name = ours.rsplit('.').next().unwrap_or(ours);
            (path, format!("{name} {}", error.reason))
        }
        None => (
            piece.clone(),
            format!("the {}'s {} {}", error.pattern, error.field, error.reason),
        ),
    }
}

/// The pattern's configuration of a balancer kind, with the pattern's
/// defaults (Envoy's ring and Maglev table sizes, tower's peak-EWMA decay).
pub fn balancer_config(kind: BalancerKind) -> BalancerConfig {
    match kind {
        BalancerKind::RoundRobin => BalancerConfig::RoundRobin,
        BalancerKind::Random => BalancerConfig::Random,
        BalancerKind::LeastOutstanding => BalancerConfig::LeastOutstanding,
        BalancerKind::P2c => BalancerConfig::PowerOfTwo(P2cLoad::Outstanding),
        BalancerKind::P2cPeakEwma => {
            BalancerConfig::PowerOfTwo(P2cLoad::PeakEwma(PeakEwmaConfig::default()))
        }
        BalancerKind::RingHash => BalancerConfig::RingHash(RingHashConfig::default()),
        BalancerKind::Maglev => BalancerConfig::Maglev(MaglevConfig::default()),
    }
}

fn outcome(o: RetryOutcome) -> Outcome {
    match o {
        RetryOutcome::Error => Outcome::Error,
        RetryOutcome::Timeout => Outcome::Timeout,
        RetryOutcome::Rejected => Outcome::Rejected,
        RetryOutcome::BreakerOpen => Outcome::BreakerOpen,
    }
}

pub(crate) fn backoff(spec: &BackoffSpec) -> Backoff {
    match spec {
        BackoffSpec::Constant(d) => Backoff::Constant(duration(*d)),
        BackoffSpec::Linear {
            initial,
            increment,
            cap,
        } => Backoff::Linear {
            initial: duration(*initial),
            increment: duration(*increment),
            cap: duration(*cap),
        },
        BackoffSpec::Exponential {
            base,
            multiplier,
            cap,
        } => Backoff::Exponential {
            base: duration(*base),
            multiplier: *multiplier,
            cap: duration(*cap),
        },
    }
}

fn backoff_kind(spec: &BackoffSpec) -> &'static str {
    match spec {
        BackoffSpec::Constant(_) => "constant",
        BackoffSpec::Linear { .. } => "linear",
        BackoffSpec::Exponential { .. } => "exponential",
    }
}

/// Compiles the policy at `path`. `skip(piece)` says whether the meaning
/// checks already found a problem in that piece: its pattern is then not
/// built (the problem is reported once, and a value out of range is never
/// allocated).
pub(super) fn compile_policy(
    path: &JsonPath,
    policy: &Policy,
    skip: &dyn Fn(&JsonPath) -> bool,
) -> Result<CompiledPolicy, Problems> {
    let mut problems = Problems::new();
    let retry = policy.retry.as_ref().and_then(|r| {
        let piece = path.key("retry");
        if skip(&piece) {
            return None;
        }
        let compiled = RetryPolicy {
            max_attempts: r.max_attempts,
            retry_on: r
                .retry_on
                .iter()
                .map(|o| outcome(*o))
                .fold(OutcomeSet::EMPTY, OutcomeSet::with),
            backoff: backoff(&r.backoff),
            jitter: match r.jitter {
                JitterKind::None => Jitter::None,
                JitterKind::Full => Jitter::Full,
                JitterKind::Equal => Jitter::Equal,
                JitterKind::Decorrelated => Jitter::Decorrelated,
            },
            honour_retry_after: r.honour_retry_after,
            retry_after_jitter: r.retry_after_jitter.map_or(Duration::ZERO, Into::into),
        };
        let kind = backoff_kind(&r.backoff);
        let cap = format!("backoff.{kind}.cap");
        let multiplier = format!("backoff.{kind}.multiplier");
        match compiled.validate() {
            Ok(()) => Some(compiled),
            Err(e) => {
                let (at, message) = pattern_problem(
                    &piece,
                    e,
                    &[
                        ("max_attempts", "max_attempts"),
                        ("retry_on", "retry_on"),
                        ("jitter", "jitter"),
                        ("backoff.cap", &cap),
                        ("backoff.multiplier", &multiplier),
                    ],
                );
                problems.push((at, message));
                None
            }
        }
    });
    let limiter = policy.budget.as_ref().and_then(|b| {
        let piece = path.key("budget");
        if skip(&piece) {
            return None;
        }
        let built = match b {
            BudgetSpec::Tps {
                retry_percent,
                min_retries_per_sec,
                ttl,
            } => RetryBudget::new(RetryBudgetConfig {
                ttl: duration(*ttl),
                min_retries_per_sec: *min_retries_per_sec,
                // Finagle's percentCanRetry is a fraction.
                percent_can_retry: *retry_percent / 100.0,
                ..RetryBudgetConfig::default()
            })
            .map(Limiter::Tps)
            .map_err(|e| {
                pattern_problem(
                    &piece.key("tps"),
                    e,
                    &[("percent_can_retry", "retry_percent"), ("ttl", "ttl")],
                )
            }),
            BudgetSpec::TokenBucket {
                max_tokens,
                token_ratio,
            } => GrpcRetryThrottle::new(*max_tokens, *token_ratio)
                .map(Limiter::Grpc)
                .map_err(|e| {
                    pattern_problem(
                        &piece.key("token_bucket"),
                        e,
                        &[("max_tokens", "max_tokens"), ("token_ratio", "token_ratio")],
                    )
                }),
            BudgetSpec::Adaptive { k, window } => AdaptiveThrottle::new(AdaptiveThrottleConfig {
                window: duration(*window),
                k: *k,
                ..AdaptiveThrottleConfig::default()
            })
            .map(Limiter::Adaptive)
            .map_err(|e| {
                pattern_problem(
                    &piece.key("adaptive"),
                    e,
                    &[("k", "k"), ("window", "window")],
                )
            }),
        };
        built.map_err(|p| problems.push(p)).ok()
    });
    let breaker = policy.breaker.as_ref().and_then(|b| {
        let piece = path.key("breaker");
        if skip(&piece) {
            return None;
        }
        let trip = match b.consecutive_failures {
            Some(fail_max) => TripRule::ConsecutiveFailures { fail_max },
            None => TripRule::Rate(RateRule {
                window: match b.window {
                    WindowKind::Time => SlidingWindow::TimeBased {
                        seconds: b.window_size,
                    },
                    WindowKind::Count => SlidingWindow::CountBased {
                        calls: b.window_size,
                    },
                },
                failure_rate_threshold: b.failure_rate_percent,
                slow_call_rate_threshold: b.slow_call_rate_percent,
                slow_call_duration_threshold: duration(b.slow_call_duration),
                minimum_number_of_calls: b.minimum_calls,
                permitted_calls_in_half_open: b.half_open_calls,
            }),
        };
        let wait_in_open = if b.wait_multiplier > 1.0 {
            OpenWait::Exponential {
                initial: duration(b.wait_in_open),
                multiplier: b.wait_multiplier,
                // By default the wait stops growing after ten trips. Repeated
                // multiplication, as the breaker grows its wait, rather than
                // `powi`, whose result may differ in the last bit between
                // platforms and builds.
                max: duration(b.max_wait_in_open.unwrap_or_else(|| {
                    let growth = (0..10).fold(1.0, |acc: f64, _| acc * b.wait_multiplier);
                    b.wait_in_open.mul_f64(growth)
                })),
            }
        } else {
            OpenWait::Fixed(duration(b.wait_in_open))
        };
        let config = BreakerConfig {
            trip,
            wait_in_open,
            max_wait_in_half_open: b
                .max_wait_in_half_open
                .map(duration)
                .unwrap_or(Duration::ZERO),
            ..BreakerConfig::default()
        };
        Breaker::new(config)
            .map_err(|e| {
                problems.push(pattern_problem(
                    &piece,
                    e,
                    &[
                        ("failure_rate_threshold", "failure_rate_percent"),
                        ("slow_call_rate_threshold", "slow_call_rate_percent"),
                        ("window", "window_size"),
                        ("minimum_number_of_calls", "minimum_calls"),
                        ("permitted_calls_in_half_open", "half_open_calls"),
                        ("fail_max", "consecutive_failures"),
                        ("wait_in_open", "wait_in_open"),
                        ("wait_in_open.initial", "wait_in_open"),
                        ("wait_in_open.multiplier", "wait_multiplier"),
                        ("wait_in_open.max", "max_wait_in_open"),
                    ],
                ))
            })
            .ok()
    });
    let bulkhead = policy.bulkhead.as_ref().and_then(|b| {
        let piece = path.key("bulkhead");
        if skip(&piece) {
            return None;
        }
        Bulkhead::new(BulkheadConfig {
            max_concurrent: b.max_concurrent,
            max_waiting: b.max_waiting.unwrap_or(0),
            max_wait: b.max_wait.map(duration).unwrap_or(Duration::ZERO),
        })
        .map_err(|e| {
            problems.push(pattern_problem(
                &piece,
                e,
                &[
                    ("max_concurrent", "max_concurrent"),
                    ("max_waiting", "max_waiting"),
                ],
            ))
        })
        .ok()
    });
    let rate_limit = policy.rate_limit.as_ref().and_then(|r| {
        let piece = path.key("rate_limit");
        if skip(&piece) {
            return None;
        }
        token_bucket(r, &piece).map_err(|p| problems.push(p)).ok()
    });
    let hedger = policy.hedge.as_ref().and_then(|h| {
        let piece = path.key("hedge");
        if skip(&piece) {
            return None;
        }
        let delay = match (h.delay, h.percentile) {
            (Some(d), None) => HedgeDelay::Fixed(duration(d)),
            (None, Some(percentile)) => HedgeDelay::Percentile {
                percentile,
                min_samples: 20,
                max_samples: 1000,
            },
            (Some(_), Some(_)) => {
                problems.push((
                    piece,
                    "a hedge takes `delay` or `percentile`, not both".into(),
                ));
                return None;
            }
            (None, None) => {
                problems.push((piece, "a hedge needs either `delay` or `percentile`".into()));
                return None;
            }
        };
        Hedger::new(HedgeConfig {
            delay,
            max_hedges: h.max_hedges,
        })
        .map_err(|e| {
            problems.push(pattern_problem(
                &piece,
                e,
                &[("max_hedges", "max_hedges"), ("percentile", "percentile")],
            ))
        })
        .ok()
    });
    let outlier = policy.outlier_detection.as_ref().and_then(|o| {
        let piece = path.key("outlier_detection");
        if skip(&piece) {
            return None;
        }
        let config = OutlierConfig {
            interval: duration(o.interval),
            base_ejection_time: duration(o.base_ejection_time),
            max_ejection_time: duration(o.max_ejection_time),
            max_ejection_percent: o.max_ejection_percent,
            max_ejection_rule: match o.max_ejection_rule {
                EjectionRule::AfterCount => MaxEjectionRule::AfterCount {
                    always_eject_one_host: false,
                },
                EjectionRule::AfterCountOrOne => MaxEjectionRule::AfterCount {
                    always_eject_one_host: true,
                },
                EjectionRule::BeforeCount => MaxEjectionRule::BeforeCount,
            },
            consecutive_5xx: o.consecutive_5xx,
            consecutive_gateway_failure: o.consecutive_gateway_failure,
            success_rate: o.success_rate.as_ref().map(|r| SuccessRateConfig {
                minimum_hosts: r.minimum_hosts,
                request_volume: r.request_volume,
                // Envoy's factor is in thousandths.
                stdev_factor: (r.stdev_factor * 1000.0).round().clamp(0.0, 1e9) as u32,
            }),
        };
        match config.validate() {
            Ok(()) => Some(config),
            Err(e) => {
                problems.push(pattern_problem(
                    &piece,
                    e,
                    &[
                        ("interval", "interval"),
                        ("base_ejection_time", "base_ejection_time"),
                        ("max_ejection_time", "max_ejection_time"),
                        ("max_ejection_percent", "max_ejection_percent"),
                        ("consecutive_5xx", "consecutive_5xx"),
                        ("consecutive_gateway_failure", "consecutive_gateway_failure"),
                    ],
                ));
                None
            }
        }
    });
    let panic = match policy.panic_threshold.map(PanicThreshold::new) {
        None => PanicThreshold::default(),
        Some(Ok(panic)) => panic,
        Some(Err(e)) => {
            problems.push((
                path.key("panic_threshold"),
                format!("panic_threshold {}", e.reason),
            ));
            PanicThreshold::default()
        }
    };
    let mut balancer = policy.balancer.map(balancer_config);
    let zone_aware = policy.zone_aware.and_then(|spec| {
        let p = path.key("zone_aware");
        if let Some(BalancerConfig::RingHash(_) | BalancerConfig::Maglev(_)) = balancer {
            // As Envoy: its hashing balancers are not zone aware.
            problems.push((
                p,
                "zone_aware works with round_robin, random, least_outstanding and p2c, not with a hashing balancer".to_string(),
            ));
            return None;
        }
        match ZoneAwareConfig::new(spec.routing_enabled, spec.min_cluster_size) {
            Ok(config) => {
                // Zone awareness picks within a balanced edge's pool.
                balancer.get_or_insert(BalancerConfig::RoundRobin);
                Some(config)
            }
            Err(e) => {
                problems.push((p.key(e.field), format!("{} {}", e.field, e.reason)));
                None
            }
        }
    });
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(CompiledPolicy {
        fallback: None,
        outlier,
        panic,
        zone_aware,
        timeout: policy.timeout,
        deadline: policy.deadline,
        retry,
        limiter,
        breaker,
        bulkhead,
        rate_limit,
        hedger,
        cancel_losers: policy.hedge.as_ref().is_some_and(|h| h.cancel_losers),
        scope: policy.scope,
        balancer,
    })
}

/// A token bucket of `r.rate` tokens a second and `r.burst`, built by the
/// pattern's own constructor (a caller's outgoing limit, or a service's
/// admission limit); its problem is at `piece`.
pub(super) fn token_bucket(
    r: &RateLimitSpec,
    piece: &JsonPath,
) -> Result<TokenBucket, (JsonPath, String)> {
    let per = SimDuration::from_nanos_f64(1e9 / r.rate).as_nanos().max(1);
    let rate = Rate {
        tokens: 1,
        per: Duration::from_nanos(per),
    };
    TokenBucket::new(rate, u64::from(r.burst)).map_err(|e| {
        pattern_problem(
            piece,
            e,
            &[
                ("rate.tokens", "rate"),
                ("rate.per", "rate"),
                ("burst", "burst"),
            ],
        )
    })
}

/// Whether a fallback keeps the last good answer's time per scope unit.
fn policy_caches(fallback: Option<&CompiledFallback>) -> bool {
    matches!(
        fallback,
        Some(CompiledFallback {
            answer: FallbackAnswer::Cached { .. },
            ..
        })
    )
}
