//! The two ways a breaker decides to trip: resilience4j's failure and slow-call rates
//! over a sliding window, or pybreaker's consecutive failures; and the verdict of a
//! window against its thresholds.

use super::{RateRule, TransitionReason};
use crate::Nanos;
use crate::window::{ClosedWindow, CountWindow, Tally};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    BelowMinimum,
    Below,
    Exceeded(TransitionReason),
}

#[derive(Clone, Debug)]
pub(super) enum Mode {
    Rate {
        rule: RateRule,
        slow_nanos: Nanos,
        closed: ClosedWindow,
        closed_minimum: u32,
        half_open: CountWindow,
        half_open_minimum: u32,
        /// In open: whether the breaker came from half-open, whose window then keeps
        /// receiving stale results (as resilience4j's `OpenState` keeps the metrics of
        /// the state it came from).
        open_window_is_half_open: bool,
    },
    Consecutive {
        fail_max: u32,
        failures: u32,
    },
}

impl Mode {
    pub(super) fn rates(tally: Tally, minimum: u32) -> (Option<f64>, Option<f64>) {
        if tally.calls == 0 || tally.calls < minimum {
            return (None, None);
        }
        let calls = f64::from(tally.calls);
        (
            Some(f64::from(tally.failed) * 100.0 / calls),
            Some(f64::from(tally.slow) * 100.0 / calls),
        )
    }

    /// resilience4j `CircuitBreakerMetrics.checkIfThresholdsExceeded`.
    pub(super) fn verdict(rule: &RateRule, tally: Tally, minimum: u32) -> Verdict {
        match Mode::rates(tally, minimum) {
            (Some(failure_rate), Some(slow_rate)) => {
                if failure_rate >= rule.failure_rate_threshold {
                    Verdict::Exceeded(TransitionReason::FailureRateExceeded)
                } else if slow_rate >= rule.slow_call_rate_threshold {
                    Verdict::Exceeded(TransitionReason::SlowCallRateExceeded)
                } else {
                    Verdict::Below
                }
            }
            _ => Verdict::BelowMinimum,
        }
    }
}
