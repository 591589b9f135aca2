//! Policy stacks on edges: a scenario's named policies compiled into the
//! configurations of [`crate::patterns`], and the per-edge state (one per
//! calling instance, or one per calling service) that the world drives with
//! virtual time.
//!
//! The composition order is fixed: deadline ∘ retry(budget) ∘ breaker ∘
//! bulkhead ∘ per-attempt timeout ∘ call (see `patterns` for the reasons).

use std::collections::VecDeque;
use std::time::Duration;

use crate::kernel::{SimDuration, TimerId};
use crate::patterns::breaker::{
    Breaker, BreakerConfig, OpenWait, RateRule, SlidingWindow, TripRule,
};
use crate::patterns::budget::{
    AdaptiveThrottle, AdaptiveThrottleConfig, GrpcRetryThrottle, RetryBudget, RetryBudgetConfig,
};
use crate::patterns::bulkhead::{Bulkhead, BulkheadConfig, Ticket};
use crate::patterns::hedge::{HedgeConfig, HedgeDelay, Hedger};
use crate::patterns::rate_limit::{Rate, TokenBucket};
use crate::patterns::retry::{Backoff, Jitter, RetryPolicy};
use crate::patterns::{Outcome, OutcomeSet};
use crate::scenario::{BackoffSpec, BudgetSpec, Policy, PolicyScope};

use super::slab::Key;

fn duration(d: SimDuration) -> Duration {
    Duration::from_nanos(d.as_nanos())
}

/// A scenario policy, compiled.
#[derive(Clone, Debug)]
pub struct PolicyModel {
    /// Per-attempt timeout.
    pub timeout: Option<SimDuration>,
    /// Overall deadline of a call.
    pub deadline: Option<SimDuration>,
    /// Retry settings.
    pub retry: Option<RetryPolicy>,
    budget: Option<BudgetSpec>,
    breaker: Option<BreakerConfig>,
    bulkhead: Option<BulkheadConfig>,
    rate_limit: Option<(Rate, u64)>,
    hedge: Option<HedgeConfig>,
    /// A call that ends cancels its hedged attempts still in flight.
    pub cancel_losers: bool,
    /// Who shares the state.
    pub scope: PolicyScope,
}

fn outcome_named(name: &str) -> Option<Outcome> {
    match name {
        "error" => Some(Outcome::Error),
        "timeout" => Some(Outcome::Timeout),
        "rejected" => Some(Outcome::Rejected),
        "breaker_open" => Some(Outcome::BreakerOpen),
        _ => None,
    }
}

impl PolicyModel {
    /// Compiles a validated policy.
    pub fn new(policy: &Policy) -> PolicyModel {
        let retry = policy.retry.as_ref().map(|r| RetryPolicy {
            max_attempts: r.max_attempts,
            retry_on: r
                .retry_on
                .iter()
                .filter_map(|o| outcome_named(o))
                .fold(OutcomeSet::EMPTY, OutcomeSet::with),
            backoff: match &r.backoff {
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
            },
            jitter: match r.jitter.as_str() {
                "none" => Jitter::None,
                "equal" => Jitter::Equal,
                "decorrelated" => Jitter::Decorrelated,
                _ => Jitter::Full,
            },
            honour_retry_after: true,
        });
        let breaker = policy.breaker.as_ref().map(|b| {
            let trip = match b.consecutive_failures {
                Some(fail_max) => TripRule::ConsecutiveFailures { fail_max },
                None => TripRule::Rate(RateRule {
                    window: if b.window == "time" {
                        SlidingWindow::TimeBased {
                            seconds: b.window_size,
                        }
                    } else {
                        SlidingWindow::CountBased {
                            calls: b.window_size,
                        }
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
                    max: duration(
                        b.max_wait_in_open
                            .unwrap_or(b.wait_in_open.mul_f64(b.wait_multiplier.powi(10))),
                    ),
                }
            } else {
                OpenWait::Fixed(duration(b.wait_in_open))
            };
            BreakerConfig {
                trip,
                wait_in_open,
                max_wait_in_half_open: b
                    .max_wait_in_half_open
                    .map(duration)
                    .unwrap_or(Duration::ZERO),
                ..BreakerConfig::default()
            }
        });
        PolicyModel {
            timeout: policy.timeout,
            deadline: policy.deadline,
            retry,
            budget: policy.budget.clone(),
            breaker,
            bulkhead: policy.bulkhead.as_ref().map(|b| BulkheadConfig {
                max_concurrent: b.max_concurrent,
                max_waiting: b.max_waiting.unwrap_or(0),
                max_wait: b.max_wait.map(duration).unwrap_or(Duration::ZERO),
            }),
            rate_limit: policy.rate_limit.as_ref().map(|r| {
                let per = SimDuration::from_nanos_f64(1e9 / r.rate).as_nanos().max(1);
                (
                    Rate {
                        tokens: 1,
                        per: Duration::from_nanos(per),
                    },
                    u64::from(r.burst),
                )
            }),
            hedge: policy.hedge.as_ref().map(|h| HedgeConfig {
                delay: match (h.delay, h.percentile) {
                    (Some(d), _) => HedgeDelay::Fixed(duration(d)),
                    (None, Some(percentile)) => HedgeDelay::Percentile {
                        percentile,
                        min_samples: 20,
                        max_samples: 1000,
                    },
                    (None, None) => unreachable!("validated: a hedge has a delay or a percentile"),
                },
                max_hedges: h.max_hedges,
            }),
            cancel_losers: policy.hedge.as_ref().is_some_and(|h| h.cancel_losers),
            scope: policy.scope,
        }
    }

    /// Whether the policy has a circuit breaker.
    pub fn has_breaker(&self) -> bool {
        self.breaker.is_some()
    }

    /// Whether the policy keeps any state per scope unit.
    fn stateful(&self) -> bool {
        self.budget.is_some()
            || self.breaker.is_some()
            || self.bulkhead.is_some()
            || self.rate_limit.is_some()
            || self.hedge.is_some()
    }

    /// Fresh state for one scope unit.
    pub fn new_state(&self) -> EdgeState {
        let expect = |what: &str| format!("validated {what} configuration");
        EdgeState {
            breaker: self
                .breaker
                .map(|c| Breaker::new(c).unwrap_or_else(|e| panic!("{}: {e}", expect("breaker")))),
            bulkhead: self.bulkhead.map(|c| {
                Bulkhead::new(c).unwrap_or_else(|e| panic!("{}: {e}", expect("bulkhead")))
            }),
            waiting: VecDeque::new(),
            bulkhead_timer: None,
            limiter: self.budget.as_ref().map(|b| match b {
                BudgetSpec::Tps {
                    retry_percent,
                    min_retries_per_sec,
                    ttl,
                } => Limiter::Tps(
                    RetryBudget::new(RetryBudgetConfig {
                        ttl: duration(*ttl),
                        min_retries_per_sec: *min_retries_per_sec,
                        // Finagle's percentCanRetry is a fraction.
                        percent_can_retry: *retry_percent / 100.0,
                        ..RetryBudgetConfig::default()
                    })
                    .unwrap_or_else(|e| panic!("{}: {e}", expect("budget"))),
                ),
                BudgetSpec::TokenBucket {
                    max_tokens,
                    token_ratio,
                } => Limiter::Grpc(
                    GrpcRetryThrottle::new(*max_tokens, *token_ratio)
                        .unwrap_or_else(|e| panic!("{}: {e}", expect("token bucket"))),
                ),
                BudgetSpec::Adaptive { k, window } => Limiter::Adaptive(
                    AdaptiveThrottle::new(AdaptiveThrottleConfig {
                        window: duration(*window),
                        k: *k,
                        ..AdaptiveThrottleConfig::default()
                    })
                    .unwrap_or_else(|e| panic!("{}: {e}", expect("adaptive throttle"))),
                ),
            }),
            rate_limit: self.rate_limit.map(|(rate, burst)| {
                TokenBucket::new(rate, burst)
                    .unwrap_or_else(|e| panic!("{}: {e}", expect("rate limit")))
            }),
            hedger: self
                .hedge
                .map(|c| Hedger::new(c).unwrap_or_else(|e| panic!("{}: {e}", expect("hedge")))),
        }
    }

    /// How many scope units an edge from a caller with `instances`
    /// instances needs.
    pub fn units(&self, instances: u32) -> u32 {
        match (self.stateful(), self.scope) {
            (false, _) | (_, PolicyScope::Service) => 1,
            (true, PolicyScope::Instance) => instances,
        }
    }
}

/// A retry limiter.
#[derive(Debug)]
pub enum Limiter {
    /// Finagle-style retry budget.
    Tps(RetryBudget),
    /// gRPC retry throttling.
    Grpc(GrpcRetryThrottle),
    /// Google SRE adaptive throttling (applies to every attempt).
    Adaptive(AdaptiveThrottle),
}

/// The pattern state of one scope unit of an edge.
#[derive(Debug)]
pub struct EdgeState {
    /// The circuit breaker.
    pub breaker: Option<Breaker>,
    /// The bulkhead.
    pub bulkhead: Option<Bulkhead>,
    /// Calls waiting for a bulkhead slot, in ticket order.
    pub waiting: VecDeque<(Ticket, Key)>,
    /// The pending wake-up for expiring bulkhead waits.
    pub bulkhead_timer: Option<TimerId>,
    /// The retry limiter.
    pub limiter: Option<Limiter>,
    /// The outgoing token bucket.
    pub rate_limit: Option<TokenBucket>,
    /// The hedging delay estimator.
    pub hedger: Option<Hedger>,
}
