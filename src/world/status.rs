//! One status vocabulary for the whole project: what a reply says, or what
//! a caller decided without one.
//!
//! Every component speaks it: a service's reply, a gateway's refusal, a
//! caller's own timeout or breaker. The first group is what a callee (or a
//! gateway in front of it) answers, named after the HTTP status a real
//! service would send; the second is what a caller concludes on its own,
//! without a reply. A [`Reply`] adds what a status line carries besides the
//! code: a retry-after hint and a "partial" flag (an aggregation that
//! answered with some parts missing).
//!
//! Today's model produces these, mapped from what it did before the
//! vocabulary existed (the docs keep the same table, in docs/scenarios.md):
//!
//! | status | HTTP | produced by | counted as |
//! |---|---|---|---|
//! | `Ok` | 200 | a job that finished its steps | `successes` |
//! | `Internal` | 500 | the service's own error, or a failed required call | `errors` (`dependency` at the service) |
//! | `Unavailable` | 503 | a full queue, a service's `shed`, a stopping instance, a gateway's policy refusal | `rejected` |
//! | `Timeout` | – | an attempt's timeout or the deadline | `timeouts` |
//! | `BreakerOpen` | – | an open circuit breaker | `breaker_open` |
//! | `BulkheadFull` | – | a full bulkhead, or a wait that ran out | `bulkhead_full` |
//! | `Throttled` | – | adaptive throttling | `throttled` |
//! | `RateLimited` | – | the caller's outgoing rate limit | `rate_limited` |
//!
//! | `Unauthorized` | 401 | a gateway's credential check | `errors` |
//! | `Forbidden` | 403 | a gateway route's `allow` | `errors` |
//! | `NotFound` | 404 | a gateway without a matching route | `errors` |
//! | `TooManyRequests` | 429 | a service's or a gateway route's `rate_limit` | `rejected` |
//! | `GatewayTimeout` | 504 | a gateway's timed-out call to its backend | `timeouts` |
//!
//! The last five are counted with the kind the right-hand column says, and
//! each also on its own (`Counts::unauthorized` ...), so that a caller's
//! counts give every status (`Counts::statuses`).

use crate::kernel::SimDuration;
use crate::patterns;

/// What a reply says, or what the caller decided without one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Status {
    /// 200: the request was served.
    Ok,
    /// 401: no valid credential.
    Unauthorized,
    /// 403: a credential without the right to this.
    Forbidden,
    /// 404: no route or no such thing.
    NotFound,
    /// 429: too many requests from this client (see [`Reply::retry_after`]).
    TooManyRequests,
    /// 500: the callee's own error, or a required dependency failed.
    Internal,
    /// 503: unavailable or shed (a full queue).
    Unavailable,
    /// 504: a gateway's upstream did not answer in time.
    GatewayTimeout,
    /// The caller's own: no reply in time (attempt timeout or deadline).
    Timeout,
    /// The caller's own: its circuit breaker is open.
    BreakerOpen,
    /// The caller's own: its bulkhead is full, or the wait for it ran out.
    BulkheadFull,
    /// The caller's own: adaptive throttling refused the attempt.
    Throttled,
    /// The caller's own: its outgoing rate limit refused the attempt.
    RateLimited,
}

impl Status {
    /// Every status, in declaration order.
    pub const ALL: [Status; 13] = [
        Status::Ok,
        Status::Unauthorized,
        Status::Forbidden,
        Status::NotFound,
        Status::TooManyRequests,
        Status::Internal,
        Status::Unavailable,
        Status::GatewayTimeout,
        Status::Timeout,
        Status::BreakerOpen,
        Status::BulkheadFull,
        Status::Throttled,
        Status::RateLimited,
    ];

    /// The HTTP status code a real service would send; `None` for the
    /// caller's own outcomes, which are never on the wire.
    pub fn http_code(self) -> Option<u16> {
        Some(match self {
            Status::Ok => 200,
            Status::Unauthorized => 401,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::TooManyRequests => 429,
            Status::Internal => 500,
            Status::Unavailable => 503,
            Status::GatewayTimeout => 504,
            Status::Timeout
            | Status::BreakerOpen
            | Status::BulkheadFull
            | Status::Throttled
            | Status::RateLimited => return None,
        })
    }

    /// Its name in reports, e.g. `"too_many_requests"`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Unauthorized => "unauthorized",
            Status::Forbidden => "forbidden",
            Status::NotFound => "not_found",
            Status::TooManyRequests => "too_many_requests",
            Status::Internal => "internal",
            Status::Unavailable => "unavailable",
            Status::GatewayTimeout => "gateway_timeout",
            Status::Timeout => "timeout",
            Status::BreakerOpen => "breaker_open",
            Status::BulkheadFull => "bulkhead_full",
            Status::Throttled => "throttled",
            Status::RateLimited => "rate_limited",
        }
    }

    /// What a gateway answers its own caller when its call to a backend
    /// ended so: the backend's own answer passes through; its own timeout
    /// is 504, and its own refusals (an open breaker, a full bulkhead, a
    /// throttle or rate limit) are 503, as Envoy answers an overflow.
    pub fn proxied(self) -> Status {
        match self {
            Status::Timeout => Status::GatewayTimeout,
            Status::BreakerOpen
            | Status::BulkheadFull
            | Status::Throttled
            | Status::RateLimited => Status::Unavailable,
            answered => answered,
        }
    }

    /// Whether the callee (or a gateway) answered, as opposed to the caller
    /// deciding on its own.
    pub fn is_reply(self) -> bool {
        self.http_code().is_some()
    }

    /// The status as the resilience patterns classify it. Overload answers
    /// and the caller's own refusals (other than an open breaker) are
    /// rejections; a client error (4xx other than 429) is an error, which a
    /// policy may or may not retry.
    pub fn as_pattern(self) -> patterns::Outcome {
        match self {
            Status::Ok => patterns::Outcome::Success,
            Status::Unauthorized | Status::Forbidden | Status::NotFound | Status::Internal => {
                patterns::Outcome::Error
            }
            Status::Timeout | Status::GatewayTimeout => patterns::Outcome::Timeout,
            Status::BreakerOpen => patterns::Outcome::BreakerOpen,
            Status::TooManyRequests
            | Status::Unavailable
            | Status::BulkheadFull
            | Status::Throttled
            | Status::RateLimited => patterns::Outcome::Rejected,
        }
    }
}

/// A [`Reply`] flag: some parts of an aggregated answer are missing.
const PARTIAL: u8 = 1;
/// A [`Reply`] flag: a rate limit service says the request is over its
/// limit.
const OVER_LIMIT: u8 = 2;
/// A [`Reply`] flag: a stateful service's business rule refused a saga's
/// action (insufficient stock, a declined payment, or an action that came
/// after its own compensation).
const REFUSED: u8 = 4;
/// A [`Reply`] flag: a failed call that sent more than one attempt (a
/// retry or a hedge), any of which may have taken effect.
const UNSURE: u8 = 8;

/// A reply as it travels back: 4 bytes, so that a reply event stays 16.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// What it says.
    pub status: Status,
    /// [`PARTIAL`], [`OVER_LIMIT`], [`REFUSED`] and [`UNSURE`].
    flags: u8,
    /// A retry-after hint in milliseconds (0: none), saturating at 65.535 s.
    retry_after_ms: u16,
}

impl Reply {
    /// A reply with `status` and nothing else.
    pub const fn of(status: Status) -> Reply {
        Reply {
            status,
            flags: 0,
            retry_after_ms: 0,
        }
    }

    /// This reply with a retry-after hint, rounded up to whole milliseconds
    /// and capped at 65.535 s (servers send seconds; a longer hint than that
    /// is a "come back later" the caller treats as its cap).
    #[must_use]
    pub fn with_retry_after(self, after: SimDuration) -> Reply {
        let ms = after.as_nanos().div_ceil(1_000_000);
        Reply {
            retry_after_ms: u16::try_from(ms).unwrap_or(u16::MAX),
            ..self
        }
    }

    /// This reply, marked partial.
    #[must_use]
    pub fn partial(self) -> Reply {
        Reply {
            flags: self.flags | PARTIAL,
            ..self
        }
    }

    /// Some parts of an aggregated answer are missing.
    pub fn is_partial(self) -> bool {
        self.flags & PARTIAL != 0
    }

    /// This reply, a rate limit service's verdict that the request is over
    /// its limit (a successful call's answer: the call neither failed nor
    /// is retried; the gateway refuses the request with 429).
    #[must_use]
    pub fn over_limit(self) -> Reply {
        Reply {
            flags: self.flags | OVER_LIMIT,
            ..self
        }
    }

    /// A rate limit service's verdict: over the limit.
    pub fn is_over_limit(self) -> bool {
        self.flags & OVER_LIMIT != 0
    }

    /// This reply, a business rule's refusal of a saga's action (a
    /// successful call's answer, as a 409 is one the policy does not retry:
    /// the participant decided, and the saga compensates).
    #[must_use]
    pub fn refused(self) -> Reply {
        Reply {
            flags: self.flags | REFUSED,
            ..self
        }
    }

    /// A business rule refused a saga's action.
    pub fn is_refused(self) -> bool {
        self.flags & REFUSED != 0
    }

    /// This failed reply, marked as one whose call sent more than one
    /// attempt: its outcome is unknown, not a definite failure.
    #[must_use]
    pub fn unsure(self) -> Reply {
        Reply {
            flags: self.flags | UNSURE,
            ..self
        }
    }

    /// A failure whose call sent more than one attempt.
    pub fn is_unsure(self) -> bool {
        self.flags & UNSURE != 0
    }

    /// The retry-after hint, if the reply carries one.
    pub fn retry_after(self) -> Option<SimDuration> {
        (self.retry_after_ms > 0).then(|| SimDuration::from_millis(u64::from(self.retry_after_ms)))
    }
}

/// A limiter's retry-after as a duration, saturating (584 years).
pub(super) fn wait_of(after: crate::patterns::rate_limit::RetryAfter) -> SimDuration {
    SimDuration::from_nanos(u64::try_from(after.0.as_nanos()).unwrap_or(u64::MAX))
}

/// Counts a call's outcome as its caller saw it: each status under its
/// kind (`errors`, `rejected`, `timeouts`, ...), and the gateway's statuses
/// also under their own counter, so that [`Counts::statuses`](crate::metrics::Counts::statuses) has each.
pub(super) fn counts_outcome(counts: &mut crate::metrics::Counts, outcome: Status) {
    match outcome {
        Status::Ok => counts.successes += 1,
        Status::Internal => counts.errors += 1,
        Status::Unauthorized => {
            counts.errors += 1;
            counts.unauthorized += 1;
        }
        Status::Forbidden => {
            counts.errors += 1;
            counts.forbidden += 1;
        }
        Status::NotFound => {
            counts.errors += 1;
            counts.not_found += 1;
        }
        Status::Unavailable => counts.rejected += 1,
        Status::TooManyRequests => {
            counts.rejected += 1;
            counts.too_many_requests += 1;
        }
        Status::Timeout => counts.timeouts += 1,
        Status::GatewayTimeout => {
            counts.timeouts += 1;
            counts.gateway_timeout += 1;
        }
        Status::BreakerOpen => counts.breaker_open += 1,
        Status::BulkheadFull => counts.bulkhead_full += 1,
        Status::Throttled => counts.throttled += 1,
        Status::RateLimited => counts.rate_limited += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fallback_names_the_failures_in_the_vocabulary_order() {
        // `EdgeFallback::covers` reads bit `status - 1` of the mask built
        // over `FallbackOn`'s declaration order.
        use crate::scenario::{CompiledFallback, FallbackAnswer, FallbackOn};
        for (i, status) in Status::ALL.iter().enumerate().skip(1) {
            let on: FallbackOn = serde_json::from_value(serde_json::json!(status.name()))
                .unwrap_or_else(|e| panic!("{}: {e}", status.name()));
            assert_eq!(on as usize, i - 1, "{}", status.name());
            let fallback = CompiledFallback {
                answer: FallbackAnswer::Static,
                on: CompiledFallback::mask(Some(&[on])),
            };
            assert!(fallback.falls_back(on));
        }
    }

    #[test]
    fn a_gateway_passes_answers_through_and_turns_its_own_outcomes_into_504_and_503() {
        for status in Status::ALL {
            let proxied = status.proxied();
            assert!(proxied.is_reply(), "{status:?} proxied is on the wire");
            if status.is_reply() {
                assert_eq!(proxied, status, "an answer passes through");
            }
        }
        assert_eq!(Status::Timeout.proxied(), Status::GatewayTimeout);
        assert_eq!(Status::BreakerOpen.proxied(), Status::Unavailable);
        assert_eq!(Status::RateLimited.proxied(), Status::Unavailable);
    }

    #[test]
    fn every_status_has_its_own_name() {
        let mut names: Vec<&str> = Status::ALL.iter().map(|s| s.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Status::ALL.len());
    }

    #[test]
    fn a_reply_is_four_bytes() {
        assert_eq!(std::mem::size_of::<Reply>(), 4);
    }

    #[test]
    fn replies_carry_a_retry_after_and_their_flags() {
        let plain = Reply::of(Status::TooManyRequests);
        assert_eq!(plain.retry_after(), None);
        assert!(!plain.is_partial() && !plain.is_over_limit());
        let hinted = plain.with_retry_after(SimDuration::from_micros(1_500));
        assert_eq!(hinted.retry_after(), Some(SimDuration::from_millis(2)));
        let capped = plain.with_retry_after(SimDuration::from_secs(3_600));
        assert_eq!(capped.retry_after(), Some(SimDuration::from_millis(65_535)));
        let both = Reply::of(Status::Ok).partial().over_limit();
        assert!(both.is_partial() && both.is_over_limit());
        assert!(!Reply::of(Status::Ok).over_limit().is_partial());
    }

    #[test]
    fn only_replies_have_http_codes_and_the_patterns_see_each_status() {
        for status in Status::ALL {
            let code = status.http_code();
            assert_eq!(code.is_some(), status.is_reply(), "{status:?}");
            let expected = match code {
                Some(200) => patterns::Outcome::Success,
                Some(429 | 503) => patterns::Outcome::Rejected,
                Some(504) => patterns::Outcome::Timeout,
                Some(_) => patterns::Outcome::Error,
                None => status.as_pattern(),
            };
            assert_eq!(status.as_pattern(), expected, "{status:?}");
        }
        assert_eq!(Status::Timeout.as_pattern(), patterns::Outcome::Timeout);
        assert_eq!(
            Status::BreakerOpen.as_pattern(),
            patterns::Outcome::BreakerOpen
        );
        assert_eq!(
            Status::BulkheadFull.as_pattern(),
            patterns::Outcome::Rejected
        );
    }
}
