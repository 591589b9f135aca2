//! Hedged requests: when an attempt is slow, send another and take the first reply.
//!
//! It mirrors **Dean & Barroso, "The Tail at Scale"** (Communications of the ACM 56(2),
//! 2013): "defer sending a secondary request until the first request has been
//! outstanding for more than the 95th-percentile expected latency for this class of
//! requests", and the hedging policy of **gRPC A6** (grpc/proposal
//! `A6-client-retries.md`): `maxAttempts` in total, a further attempt every
//! `hedgingDelay` while no reply has arrived, the first reply wins and the other
//! attempts are cancelled.
//!
//! [`Hedger`] holds the policy and, for a percentile delay, a bounded log-linear
//! latency histogram (976 counters in each of two generations, 16 sub-buckets per
//! power of two, so a percentile is at most 1/16 above the true value and never above
//! the largest latency seen); it rests on the latest `max_samples/2` to `max_samples`
//! samples, so the estimate follows a changing backend. [`HedgedCall`] is the state of one request: when the next hedge is due
//! ([`HedgedCall::poll_timeout`]) and who won.

use std::time::Duration;

use super::{ConfigError, Nanos, nanos_of};

const SUB_BITS: u32 = 4;
const SUB_BUCKETS: usize = 1 << SUB_BITS;
/// Exact buckets 0..16, then 16 sub-buckets for each power of two from 2^4 to 2^63.
const BUCKETS: usize = SUB_BUCKETS * (64 - SUB_BITS as usize + 1);

/// When to send a hedge.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::hedge::{HedgeConfig, HedgeDelay, Hedger};
///
/// let start = Instant::now();
/// let hedger = Hedger::new(HedgeConfig { delay: HedgeDelay::Fixed(Duration::from_millis(10)), max_hedges: 1 })?;
/// assert_eq!(hedger.hedge_delay(), Some(Duration::from_millis(10)));
/// let _call = hedger.start(start.elapsed().as_nanos() as u64);
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HedgeDelay {
    /// A fixed delay (gRPC `hedgingDelay`).
    Fixed(Duration),
    /// A percentile of the latencies recorded so far (The Tail at Scale: the 95th).
    Percentile {
        /// The percentile, in `(0, 100]`.
        percentile: f64,
        /// No hedging until this many latencies have been recorded.
        min_samples: u32,
        /// The estimate rests on the latest `max_samples/2` to `max_samples`
        /// latencies, to forget old ones (at least 2).
        max_samples: u32,
    },
}

/// A hedging policy. The default: one hedge at the observed 95th percentile, after
/// 20 samples, over the latest 500 to 1000.
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::hedge::{HedgeConfig, Hedger};
///
/// let start = Instant::now();
/// let hedger = Hedger::new(HedgeConfig::default())?;
/// assert_eq!(hedger.hedge_delay(), None); // no samples yet
/// let _now = start.elapsed().as_nanos() as u64;
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HedgeConfig {
    /// When to send each hedge.
    pub delay: HedgeDelay,
    /// Extra attempts at most (gRPC `maxAttempts − 1`); 0 disables hedging.
    pub max_hedges: u32,
}

impl Default for HedgeConfig {
    fn default() -> Self {
        HedgeConfig {
            delay: HedgeDelay::Percentile {
                percentile: 95.0,
                min_samples: 20,
                max_samples: 1000,
            },
            max_hedges: 1,
        }
    }
}

/// A bounded log-linear histogram of latencies in nanoseconds.
#[derive(Clone, Debug)]
///
/// It forgets by generations, not by halving: samples go into the current
/// generation; when it holds half of `max_samples`, it becomes the previous
/// one and the one before is dropped. A percentile uses both, so it always
/// rests on between `max_samples/2` and `max_samples` of the latest samples.
/// (Halving every count with integer division, as a first version did,
/// emptied the buckets that held one sample — most of the tail — and biased
/// high percentiles low: a p99 hedge fired on 1.8% of calls.)
struct LatencyHistogram {
    counts: Vec<u32>,
    previous: Vec<u32>,
    /// Samples in the current generation.
    current_total: u64,
    /// Samples in both generations.
    total: u64,
    max_current: Nanos,
    max_previous: Nanos,
}

impl LatencyHistogram {
    fn new() -> LatencyHistogram {
        LatencyHistogram {
            counts: vec![0; BUCKETS],
            previous: vec![0; BUCKETS],
            current_total: 0,
            total: 0,
            max_current: 0,
            max_previous: 0,
        }
    }

    fn index(value: Nanos) -> usize {
        if value < SUB_BUCKETS as u64 {
            return value as usize;
        }
        let exponent = 63 - value.leading_zeros();
        let shift = exponent - SUB_BITS;
        let mantissa = (value >> shift) as usize; // in 16..32
        (shift as usize + 1) * SUB_BUCKETS + (mantissa - SUB_BUCKETS)
    }

    /// The largest value that falls in bucket `index`.
    fn upper(index: usize) -> Nanos {
        if index < SUB_BUCKETS {
            return index as u64;
        }
        let shift = index / SUB_BUCKETS - 1;
        let mantissa = (SUB_BUCKETS + index % SUB_BUCKETS) as u128;
        u64::try_from(((mantissa + 1) << shift) - 1).unwrap_or(u64::MAX)
    }

    fn record(&mut self, value: Nanos, max_samples: u64) {
        self.counts[LatencyHistogram::index(value)] += 1;
        self.current_total += 1;
        self.total += 1;
        self.max_current = self.max_current.max(value);
        if self.current_total >= (max_samples / 2).max(1) {
            std::mem::swap(&mut self.counts, &mut self.previous);
            self.counts.fill(0);
            self.total = self.current_total;
            self.current_total = 0;
            self.max_previous = self.max_current;
            self.max_current = 0;
        }
    }

    /// The nearest-rank percentile, as its bucket's upper bound (never above the
    /// largest value seen).
    fn percentile(&self, percentile: f64) -> Option<Nanos> {
        if self.total == 0 {
            return None;
        }
        // percentile · total first: exact for integral percentiles, unlike 0.95 · total.
        let rank = (percentile * self.total as f64 / 100.0).ceil() as u64;
        let rank = rank.clamp(1, self.total);
        let max_seen = self.max_current.max(self.max_previous);
        let mut seen = 0;
        for (index, (count, previous)) in self.counts.iter().zip(&self.previous).enumerate() {
            seen += u64::from(*count) + u64::from(*previous);
            if seen >= rank {
                return Some(LatencyHistogram::upper(index).min(max_seen));
            }
        }
        unreachable!("the counts sum to the total")
    }
}

/// The hedging policy of one edge and what it has learned of latencies.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::hedge::{HedgeConfig, HedgeDelay, Hedger};
///
/// let start = Instant::now();
/// let mut hedger = Hedger::new(HedgeConfig {
///     delay: HedgeDelay::Percentile { percentile: 95.0, min_samples: 10, max_samples: 10_000 },
///     max_hedges: 1,
/// })?;
/// for ms in 1..=100 {
///     hedger.record_latency(Duration::from_millis(ms));
/// }
/// let delay = hedger.hedge_delay().unwrap();
/// // The 95th of 1..=100 ms, within the histogram's 1/16 resolution.
/// assert!(delay >= Duration::from_millis(95) && delay <= Duration::from_millis(100));
/// let call = hedger.start(start.elapsed().as_nanos() as u64);
/// assert!(call.poll_timeout().is_some());
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Hedger {
    config: HedgeConfig,
    histogram: LatencyHistogram,
}

impl Hedger {
    /// A hedger with no latency samples yet.
    pub fn new(config: HedgeConfig) -> Result<Hedger, ConfigError> {
        if config.max_hedges > 100 {
            return Err(ConfigError::new(
                "hedge",
                "max_hedges",
                "must be at most 100",
            ));
        }
        if let HedgeDelay::Percentile {
            percentile,
            max_samples,
            ..
        } = config.delay
        {
            if !(percentile > 0.0 && percentile <= 100.0) {
                return Err(ConfigError::new(
                    "hedge",
                    "percentile",
                    "must be in (0, 100]",
                ));
            }
            if max_samples < 2 {
                return Err(ConfigError::new(
                    "hedge",
                    "max_samples",
                    "must be at least 2",
                ));
            }
        }
        Ok(Hedger {
            config,
            histogram: LatencyHistogram::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HedgeConfig {
        &self.config
    }

    /// The delay after which a hedge is sent, or `None` if hedging is off (no hedges
    /// allowed, or too few samples for a percentile).
    pub fn hedge_delay(&self) -> Option<Duration> {
        if self.config.max_hedges == 0 {
            return None;
        }
        match self.config.delay {
            HedgeDelay::Fixed(delay) => Some(delay),
            HedgeDelay::Percentile {
                percentile,
                min_samples,
                ..
            } => {
                if self.histogram.total < u64::from(min_samples) {
                    return None;
                }
                self.histogram
                    .percentile(percentile)
                    .map(Duration::from_nanos)
            }
        }
    }

    /// Records one attempt's latency (from send to reply).
    pub fn record_latency(&mut self, latency: Duration) {
        if let HedgeDelay::Percentile { max_samples, .. } = self.config.delay {
            self.histogram
                .record(nanos_of(latency), u64::from(max_samples));
        }
    }

    /// The hedging state of a request whose first attempt is sent at `now`, with the
    /// current hedge delay.
    pub fn start(&self, now: Nanos) -> HedgedCall {
        HedgedCall {
            started_at: now,
            delay: self.hedge_delay().map(nanos_of),
            max_hedges: self.config.max_hedges,
            sent: 1,
            winner: None,
            stopped: false,
        }
    }
}

/// What a reply means for a hedged request.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::hedge::{HedgeConfig, HedgeDelay, Hedger, Reply};
///
/// let start = Instant::now();
/// let hedger = Hedger::new(HedgeConfig { delay: HedgeDelay::Fixed(Duration::ZERO), max_hedges: 1 })?;
/// let now = start.elapsed().as_nanos() as u64;
/// let mut call = hedger.start(now);
/// assert_eq!(call.handle_timeout(now), Some(1)); // send attempt 1 at once
/// assert_eq!(call.on_reply(1), Reply::Won { cancel: 1 });
/// assert_eq!(call.on_reply(0), Reply::Late);
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The first reply: use it, and cancel the other `cancel` attempts sent.
    Won {
        /// How many other attempts were sent (all of them are to be cancelled).
        cancel: u32,
    },
    /// Another attempt already won: discard this reply.
    Late,
}

/// The hedging state of one request: attempts are numbered 0 (the primary), 1, 2...
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::hedge::{HedgeConfig, HedgeDelay, Hedger, Reply};
///
/// let start = Instant::now();
/// let hedger = Hedger::new(HedgeConfig { delay: HedgeDelay::Fixed(Duration::from_millis(5)), max_hedges: 2 })?;
/// let t0 = start.elapsed().as_nanos() as u64;
/// let mut call = hedger.start(t0);
/// let ms = 1_000_000;
/// assert_eq!(call.poll_timeout(), Some(t0 + 5 * ms));
/// assert_eq!(call.handle_timeout(t0 + 5 * ms), Some(1)); // first hedge
/// assert_eq!(call.poll_timeout(), Some(t0 + 10 * ms)); // gRPC: every hedgingDelay
/// assert_eq!(call.on_reply(0), Reply::Won { cancel: 1 }); // the primary answered first
/// assert_eq!(call.poll_timeout(), None);
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HedgedCall {
    started_at: Nanos,
    delay: Option<Nanos>,
    max_hedges: u32,
    sent: u32,
    winner: Option<u32>,
    stopped: bool,
}

impl HedgedCall {
    /// Attempts sent so far, the primary included.
    pub fn attempts_sent(&self) -> u32 {
        self.sent
    }

    /// The attempt whose reply won, if one has.
    pub fn winner(&self) -> Option<u32> {
        self.winner
    }

    /// When the next hedge is due: `started_at + k · delay` for hedge `k`, while no
    /// reply has arrived and hedges remain.
    pub fn poll_timeout(&self) -> Option<Nanos> {
        if self.stopped || self.winner.is_some() || self.sent > self.max_hedges {
            return None;
        }
        let delay = self.delay?;
        Some(
            self.started_at
                .saturating_add(delay.saturating_mul(u64::from(self.sent))),
        )
    }

    /// If a hedge is due at `now`: `Some(attempt number)` to send now. Call again
    /// while it returns `Some` (several may be due after a long pause). A spurious call
    /// returns `None`.
    pub fn handle_timeout(&mut self, now: Nanos) -> Option<u32> {
        let due = self.poll_timeout()?;
        if now < due {
            return None;
        }
        self.sent += 1;
        Some(self.sent - 1)
    }

    /// Sends no more hedges: one was refused (gRPC: "if throttled, no further
    /// hedged requests are sent"; a refused hedge retried every delay would
    /// only add load), or the request moved on to a retry. The attempts
    /// already sent still count, and a reply can still win.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use meshsim_patterns::hedge::{HedgeConfig, HedgeDelay, Hedger};
    ///
    /// let start = Instant::now();
    /// let hedger = Hedger::new(HedgeConfig { delay: HedgeDelay::Fixed(Duration::from_millis(5)), max_hedges: 3 })?;
    /// let t0 = start.elapsed().as_nanos() as u64;
    /// let mut call = hedger.start(t0);
    /// assert_eq!(call.handle_timeout(t0 + 5_000_000), Some(1));
    /// call.stop(); // hedge 1 was refused by the retry budget
    /// assert_eq!(call.poll_timeout(), None);
    /// assert_eq!(call.handle_timeout(t0 + 10_000_000), None);
    /// assert_eq!(call.attempts_sent(), 2);
    /// # Ok::<(), meshsim_patterns::ConfigError>(())
    /// ```
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// A reply from `attempt` arrived: the first one wins.
    pub fn on_reply(&mut self, attempt: u32) -> Reply {
        debug_assert!(
            attempt < self.sent,
            "a reply from attempt {attempt} never sent"
        );
        if self.winner.is_some() {
            return Reply::Late;
        }
        self.winner = Some(attempt);
        Reply::Won {
            cancel: self.sent - 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn histogram_buckets_are_contiguous_and_tight() {
        let mut previous_upper = None;
        for index in 0..BUCKETS {
            let upper = LatencyHistogram::upper(index);
            if let Some(previous) = previous_upper {
                assert!(upper > previous, "bucket {index}");
                assert_eq!(LatencyHistogram::index(previous + 1), index);
            }
            assert_eq!(LatencyHistogram::index(upper), index);
            previous_upper = Some(upper);
        }
        assert_eq!(previous_upper, Some(u64::MAX));
        // Relative width at most 1/16.
        for value in [17u64, 1_000, 123_456_789, u64::MAX / 3] {
            let upper = LatencyHistogram::upper(LatencyHistogram::index(value));
            assert!(upper - value <= value / 16, "{value} -> {upper}");
        }
    }

    #[test]
    fn percentile_is_nearest_rank_within_resolution() {
        let mut histogram = LatencyHistogram::new();
        for value in 1..=15u64 {
            histogram.record(value, u64::MAX);
        }
        // Exact below 16: the nearest-rank 50th of 1..=15 is the 8th value.
        assert_eq!(histogram.percentile(50.0), Some(8));
        assert_eq!(histogram.percentile(100.0), Some(15));
        assert_eq!(histogram.percentile(0.1), Some(1));
        let mut histogram = LatencyHistogram::new();
        for _ in 0..99 {
            histogram.record(10 * MS, u64::MAX);
        }
        histogram.record(500 * MS, u64::MAX);
        let p95 = histogram.percentile(95.0).unwrap();
        assert!((10 * MS..=10 * MS + 10 * MS / 16).contains(&p95), "{p95}");
        assert_eq!(histogram.percentile(100.0), Some(500 * MS));
    }

    #[test]
    fn percentile_delay_waits_for_samples_and_follows_a_shift() {
        let mut hedger = Hedger::new(HedgeConfig {
            delay: HedgeDelay::Percentile {
                percentile: 95.0,
                min_samples: 5,
                max_samples: 100,
            },
            max_hedges: 1,
        })
        .unwrap();
        for _ in 0..4 {
            hedger.record_latency(Duration::from_millis(10));
        }
        assert_eq!(hedger.hedge_delay(), None);
        hedger.record_latency(Duration::from_millis(10));
        assert_eq!(hedger.hedge_delay(), Some(Duration::from_millis(10)));
        // The backend slows down to 40 ms: generations forget the old latencies.
        for _ in 0..400 {
            hedger.record_latency(Duration::from_millis(40));
        }
        let delay = hedger.hedge_delay().unwrap();
        assert!(delay >= Duration::from_millis(40), "{delay:?}");
        assert!(hedger.histogram.total < 100);
    }

    #[test]
    fn hedges_are_sent_every_delay_up_to_the_maximum() {
        let hedger = Hedger::new(HedgeConfig {
            delay: HedgeDelay::Fixed(Duration::from_millis(10)),
            max_hedges: 2,
        })
        .unwrap();
        let mut call = hedger.start(100 * MS);
        assert_eq!(call.handle_timeout(109 * MS), None);
        // A long pause: both hedges are due, one per call.
        assert_eq!(call.handle_timeout(150 * MS), Some(1));
        assert_eq!(call.handle_timeout(150 * MS), Some(2));
        assert_eq!(call.handle_timeout(150 * MS), None);
        assert_eq!(call.poll_timeout(), None);
        assert_eq!(call.attempts_sent(), 3);
        assert_eq!(call.on_reply(2), Reply::Won { cancel: 2 });
        assert_eq!(call.on_reply(0), Reply::Late);
        assert_eq!(call.winner(), Some(2));
    }

    #[test]
    fn no_hedging_without_hedges_or_samples() {
        let hedger = Hedger::new(HedgeConfig {
            delay: HedgeDelay::Fixed(Duration::from_millis(1)),
            max_hedges: 0,
        })
        .unwrap();
        assert_eq!(hedger.hedge_delay(), None);
        assert_eq!(hedger.start(0).poll_timeout(), None);
        let hedger = Hedger::new(HedgeConfig::default()).unwrap();
        let mut call = hedger.start(0);
        assert_eq!(call.handle_timeout(u64::MAX), None);
        assert_eq!(call.on_reply(0), Reply::Won { cancel: 0 });
        let bad = |delay| {
            Hedger::new(HedgeConfig {
                delay,
                max_hedges: 1,
            })
            .unwrap_err()
            .field
        };
        let percentile = |percentile, max_samples| HedgeDelay::Percentile {
            percentile,
            min_samples: 1,
            max_samples,
        };
        assert_eq!(bad(percentile(0.0, 10)), "percentile");
        assert_eq!(bad(percentile(f64::NAN, 10)), "percentile");
        assert_eq!(bad(percentile(50.0, 1)), "max_samples");
    }
}
