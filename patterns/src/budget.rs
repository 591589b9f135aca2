//! Retry limiters: what keeps a fleet of retrying clients from multiplying load on a
//! backend that is already failing.
//!
//! Four mechanisms, each mirroring its source:
//!
//! - [`RetryBudget`]: **Finagle `RetryBudget`** / **tower `TpsBudget`** (repository
//!   tower-rs/tower, `tower/src/retry/budget/tps_budget.rs`): each request deposits,
//!   each retry withdraws; retries may be at most `percent_can_retry` of the requests
//!   of the last `ttl`, plus `min_retries_per_sec · ttl`. Defaults ttl 10 s, 10 per
//!   second, 20%.
//! - [`GrpcRetryThrottle`]: **gRPC retry throttling** (grpc/proposal
//!   `A6-client-retries.md`): tokens start at `max_tokens`, a failed RPC costs 1, a
//!   successful one adds `token_ratio`, and no retry (or hedge) is sent while tokens
//!   `<= max_tokens / 2`.
//! - [`AwsRetryQuota`]: the **AWS SDK standard mode** retry quota (smithy-lang/smithy-rs,
//!   `rust-runtime/aws-smithy-runtime/src/client/retries/token_bucket.rs`): 500 tokens,
//!   a retry costs 5 (10 after a timeout), a success on the first try refunds 1, and a
//!   successful retry returns its cost.
//! - [`AdaptiveThrottle`]: **Google SRE client-side adaptive throttling** ("Handling
//!   Overload", *Site Reliability Engineering*, ch. 21): reject locally with
//!   probability `max(0, (requests − K · accepts) / (requests + 1))` over the last
//!   ~2 minutes, K = 2.
//!
//! All arithmetic that decides is in integers (milli-tokens, per-mille), so a decision
//! never depends on float rounding; the adaptive throttle's draw is the one float.

use std::time::Duration;

use rand::RngCore;

use super::ring::SlotRing;
use super::{ConfigError, Nanos, Outcome, nanos_of, unit_f64};

/// A [`RetryBudget`]'s configuration. The default is Finagle's and tower's: ttl 10 s,
/// 10 retries per second, 20% of requests, 10 buckets per ttl.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::budget::{RetryBudget, RetryBudgetConfig};
///
/// let start = Instant::now();
/// let config = RetryBudgetConfig { min_retries_per_sec: 0, ..RetryBudgetConfig::default() };
/// let mut budget = RetryBudget::new(config)?;
/// let now = start.elapsed().as_nanos() as u64;
/// for _ in 0..10 {
///     budget.deposit(now);
/// }
/// assert!(budget.try_withdraw(now)); // 20% of 10 requests: two retries
/// assert!(budget.try_withdraw(now));
/// assert!(!budget.try_withdraw(now));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryBudgetConfig {
    /// How long a deposit counts (Finagle: 1 s to 60 s).
    pub ttl: Duration,
    /// Retries allowed per second even with no requests: a reserve of
    /// `min_retries_per_sec · ttl` per ttl.
    pub min_retries_per_sec: u32,
    /// Retries allowed per request, in `[0, 1000]` (0.2 = one retry per 5 requests),
    /// used to 3 decimal places.
    pub percent_can_retry: f64,
    /// Time buckets per ttl (tower uses 10): the resolution of expiry.
    pub buckets: u32,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        RetryBudgetConfig {
            ttl: Duration::from_secs(10),
            min_retries_per_sec: 10,
            percent_can_retry: 0.2,
            buckets: 10,
        }
    }
}

/// What one time slot of a [`RetryBudget`] counts.
#[derive(Clone, Copy, Debug, Default)]
struct BudgetBucket {
    deposits: u64,
    withdrawals: u64,
}

/// A Finagle / tower TPS retry budget: over every trailing `ttl`, retries are at most
/// `min_retries_per_sec · ttl + percent_can_retry · requests`.
///
/// Call [`deposit`](Self::deposit) once per original request and
/// [`try_withdraw`](Self::try_withdraw) before each retry; a `false` means do not
/// retry.
///
/// **Exactness.** tower counts deposits and withdrawals in the same ~10 slots, so both
/// expire together and the allowance can be exceeded over a trailing window that
/// straddles a slot boundary. Here the two expire differently, on purpose: deposits
/// count only while their whole slot is inside the trailing ttl (they may expire up to
/// one slot early), withdrawals count until their slot has entirely left it (up to one
/// slot late). So at the moment of every retry the guarantee holds exactly: the
/// retries of the trailing `ttl` (this one included) are at most
/// `min_retries_per_sec · ttl + percent_can_retry · requests of that ttl`. The price
/// is at most one slot's worth of conservatism.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::budget::{RetryBudget, RetryBudgetConfig};
///
/// let start = Instant::now();
/// let mut budget = RetryBudget::new(RetryBudgetConfig {
///     ttl: Duration::from_secs(1),
///     min_retries_per_sec: 5,
///     percent_can_retry: 1.0,
///     buckets: 10,
/// })?;
/// let now = start.elapsed().as_nanos() as u64;
/// // The reserve: 5 retries per second with no requests at all (tower's `tps_reserve`).
/// let allowed = (0..10).filter(|_| budget.try_withdraw(now)).count();
/// assert_eq!(allowed, 5);
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RetryBudget {
    config: RetryBudgetConfig,
    slot_nanos: u64,
    /// Slots a deposit counts for: floor(ttl / slot).
    deposit_slots: u64,
    /// Slots a withdrawal counts for, beyond its own: ceil(ttl / slot).
    withdraw_slots: u64,
    /// 1000 · min_retries_per_sec · ttl in seconds.
    reserve_milli: u128,
    permille: u128,
    ring: SlotRing<BudgetBucket>,
    last_now: Nanos,
}

impl RetryBudget {
    /// An empty budget (only the reserve is available).
    pub fn new(config: RetryBudgetConfig) -> Result<RetryBudget, ConfigError> {
        let error = |field, reason| Err(ConfigError::new("retry_budget", field, reason));
        if !(0.0..=1000.0).contains(&config.percent_can_retry) {
            return error("percent_can_retry", "must be in [0, 1000]");
        }
        if config.buckets == 0 || config.buckets > 1000 {
            return error("buckets", "must be in 1..=1000");
        }
        let ttl = nanos_of(config.ttl);
        if ttl < u64::from(config.buckets) {
            return error("ttl", "must be at least one nanosecond per bucket");
        }
        let slot_nanos = ttl / u64::from(config.buckets);
        let deposit_slots = ttl / slot_nanos;
        let withdraw_slots = ttl.div_ceil(slot_nanos);
        Ok(RetryBudget {
            config,
            slot_nanos,
            deposit_slots,
            withdraw_slots,
            reserve_milli: u128::from(config.min_retries_per_sec) * u128::from(ttl) / 1_000_000,
            permille: (config.percent_can_retry * 1000.0).round() as u128,
            ring: SlotRing::new(withdraw_slots as usize + 1),
            last_now: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RetryBudgetConfig {
        &self.config
    }

    fn bucket(&mut self, now: Nanos) -> &mut BudgetBucket {
        debug_assert!(now >= self.last_now, "time went backwards");
        self.last_now = self.last_now.max(now);
        self.ring.slot_mut(now / self.slot_nanos)
    }

    /// `(deposits, withdrawals)` that count at `now`.
    fn counted(&self, now: Nanos) -> (u64, u64) {
        let slot = now / self.slot_nanos;
        let mut deposits = 0;
        let mut withdrawals = 0;
        // The ring holds withdraw_slots + 1 slots, so every age counted here is live.
        for (age, bucket) in self.ring.aged(slot) {
            if age < self.deposit_slots {
                deposits += bucket.deposits;
            }
            if age <= self.withdraw_slots {
                withdrawals += bucket.withdrawals;
            }
        }
        (deposits, withdrawals)
    }

    /// Records one original request.
    pub fn deposit(&mut self, now: Nanos) {
        self.bucket(now).deposits += 1;
    }

    /// Asks for one retry: `true` (and it is counted) if the budget allows it.
    pub fn try_withdraw(&mut self, now: Nanos) -> bool {
        self.bucket(now);
        let (deposits, withdrawals) = self.counted(now);
        let allowance = self.reserve_milli + self.permille * u128::from(deposits);
        if 1000 * (u128::from(withdrawals) + 1) <= allowance {
            self.bucket(now).withdrawals += 1;
            true
        } else {
            false
        }
    }

    /// Retries the budget would allow at `now` if asked one after another.
    pub fn balance(&self, now: Nanos) -> u64 {
        let (deposits, withdrawals) = self.counted(now);
        let allowance = (self.reserve_milli + self.permille * u128::from(deposits)) / 1000;
        u64::try_from(allowance.saturating_sub(u128::from(withdrawals))).unwrap_or(u64::MAX)
    }
}

/// gRPC A6 retry throttling, per client channel.
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::budget::GrpcRetryThrottle;
///
/// let start = Instant::now();
/// let mut throttle = GrpcRetryThrottle::new(10, 0.1)?;
/// // Tokens 10: each failure costs 1; retries stop at <= 5.
/// for _ in 0..4 {
///     throttle.on_failure();
/// }
/// assert!(throttle.allows_retry()); // 6 > 5
/// throttle.on_failure();
/// assert!(!throttle.allows_retry()); // 5 <= 5
/// throttle.on_success();
/// assert!(throttle.allows_retry()); // 5.1 > 5
/// let _now = start.elapsed().as_nanos() as u64;
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrpcRetryThrottle {
    max_milli: u64,
    ratio_milli: u64,
    tokens_milli: u64,
}

impl GrpcRetryThrottle {
    /// Full, with `max_tokens` in `1..=1000` and `token_ratio > 0` (used to 3 decimal
    /// places, as A6 specifies).
    pub fn new(max_tokens: u32, token_ratio: f64) -> Result<GrpcRetryThrottle, ConfigError> {
        if max_tokens == 0 || max_tokens > 1000 {
            return Err(ConfigError::new(
                "grpc_retry_throttle",
                "max_tokens",
                "must be in 1..=1000",
            ));
        }
        let ratio_milli = (token_ratio * 1000.0).round();
        if !(1.0..=1_000_000.0).contains(&ratio_milli) {
            return Err(ConfigError::new(
                "grpc_retry_throttle",
                "token_ratio",
                "must be in [0.001, 1000]",
            ));
        }
        let max_milli = u64::from(max_tokens) * 1000;
        Ok(GrpcRetryThrottle {
            max_milli,
            ratio_milli: ratio_milli as u64,
            tokens_milli: max_milli,
        })
    }

    /// A failed RPC (a retryable status, or pushback): −1 token, floored at 0.
    pub fn on_failure(&mut self) {
        self.tokens_milli = self.tokens_milli.saturating_sub(1000);
    }

    /// A successful RPC: +`token_ratio`, capped at `max_tokens`.
    pub fn on_success(&mut self) {
        self.tokens_milli = (self.tokens_milli + self.ratio_milli).min(self.max_milli);
    }

    /// Whether a retry or a hedge may be sent: tokens `> max_tokens / 2`.
    pub fn allows_retry(&self) -> bool {
        2 * self.tokens_milli > self.max_milli
    }

    /// The token count.
    pub fn tokens(&self) -> f64 {
        self.tokens_milli as f64 / 1000.0
    }
}

/// An [`AwsRetryQuota`]'s configuration; the default is the AWS SDK standard mode.
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::budget::{AwsRetryQuota, AwsRetryQuotaConfig};
///
/// let start = Instant::now();
/// let quota = AwsRetryQuota::new(AwsRetryQuotaConfig { capacity: 20, ..AwsRetryQuotaConfig::default() });
/// assert_eq!(quota.available(), 20);
/// let _now = start.elapsed().as_nanos() as u64;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AwsRetryQuotaConfig {
    /// Initial and maximum tokens (500).
    pub capacity: u32,
    /// Cost of a retry after an error (5).
    pub retry_cost: u32,
    /// Cost of a retry after a timeout (10).
    pub timeout_retry_cost: u32,
    /// Refund when a request succeeds on its first attempt (1).
    pub no_retry_increment: u32,
}

impl Default for AwsRetryQuotaConfig {
    fn default() -> Self {
        AwsRetryQuotaConfig {
            capacity: 500,
            retry_cost: 5,
            timeout_retry_cost: 10,
            no_retry_increment: 1,
        }
    }
}

/// Tokens taken for one retry; give it back to [`AwsRetryQuota::on_success`] if the
/// retry succeeds. A retry that fails keeps its cost spent (drop the lease).
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::Outcome;
/// use meshsim_patterns::budget::{AwsRetryQuota, AwsRetryQuotaConfig};
///
/// let start = Instant::now();
/// let mut quota = AwsRetryQuota::new(AwsRetryQuotaConfig::default());
/// let lease = quota.try_acquire(Outcome::Timeout).unwrap();
/// assert_eq!(lease.cost(), 10);
/// quota.on_success(Some(lease)); // the retry succeeded: its cost returns
/// assert_eq!(quota.available(), 500);
/// let _now = start.elapsed().as_nanos() as u64;
/// ```
#[derive(Debug, PartialEq, Eq)]
#[must_use = "give the lease back with on_success if the retry succeeds"]
pub struct QuotaLease {
    cost: u32,
}

impl QuotaLease {
    /// Tokens it holds.
    pub fn cost(&self) -> u32 {
        self.cost
    }
}

/// The AWS SDK standard-mode retry quota, per client.
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::Outcome;
/// use meshsim_patterns::budget::{AwsRetryQuota, AwsRetryQuotaConfig};
///
/// let start = Instant::now();
/// let mut quota = AwsRetryQuota::new(AwsRetryQuotaConfig::default());
/// // 100 failed retries drain the 500 tokens...
/// for _ in 0..100 {
///     let lease = quota.try_acquire(Outcome::Error).unwrap();
///     drop(lease); // the retry failed too
/// }
/// assert!(quota.try_acquire(Outcome::Error).is_none());
/// // ...and first-try successes refill them one at a time.
/// for _ in 0..5 {
///     quota.on_success(None);
/// }
/// assert!(quota.try_acquire(Outcome::Error).is_some());
/// let _now = start.elapsed().as_nanos() as u64;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AwsRetryQuota {
    config: AwsRetryQuotaConfig,
    tokens: u32,
}

impl AwsRetryQuota {
    /// A full quota.
    pub fn new(config: AwsRetryQuotaConfig) -> AwsRetryQuota {
        AwsRetryQuota {
            config,
            tokens: config.capacity,
        }
    }

    /// Tokens available.
    pub fn available(&self) -> u32 {
        self.tokens
    }

    /// Before retrying an attempt that ended with `failed`: the lease for the retry,
    /// or `None` if the quota cannot pay for it (do not retry).
    pub fn try_acquire(&mut self, failed: Outcome) -> Option<QuotaLease> {
        let cost = if failed == Outcome::Timeout {
            self.config.timeout_retry_cost
        } else {
            self.config.retry_cost
        };
        if self.tokens < cost {
            return None;
        }
        self.tokens -= cost;
        Some(QuotaLease { cost })
    }

    /// A request succeeded: on a retry (`Some(lease)`) the lease's cost returns; on
    /// its first attempt (`None`) `no_retry_increment` is added. Capped at capacity.
    pub fn on_success(&mut self, lease: Option<QuotaLease>) {
        let refund = lease.map_or(self.config.no_retry_increment, |lease| lease.cost);
        self.tokens = self.tokens.saturating_add(refund).min(self.config.capacity);
    }
}

/// An [`AdaptiveThrottle`]'s configuration: the SRE book's K = 2 over 2 minutes,
/// counted in 120 one-second buckets.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::budget::{AdaptiveThrottle, AdaptiveThrottleConfig};
///
/// let start = Instant::now();
/// let config = AdaptiveThrottleConfig { k: 1.5, ..AdaptiveThrottleConfig::default() };
/// let throttle = AdaptiveThrottle::new(config)?;
/// assert_eq!(throttle.reject_probability(start.elapsed().as_nanos() as u64), 0.0);
/// assert_eq!(config.window, Duration::from_secs(120));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveThrottleConfig {
    /// The window of requests and accepts (about 2 minutes).
    pub window: Duration,
    /// Buckets per window.
    pub buckets: u32,
    /// The multiplier K: requests may exceed accepts K-fold before rejection starts
    /// (at least 1; 2 in the SRE book).
    pub k: f64,
}

impl Default for AdaptiveThrottleConfig {
    fn default() -> Self {
        AdaptiveThrottleConfig {
            window: Duration::from_secs(120),
            buckets: 120,
            k: 2.0,
        }
    }
}

/// What one time slot of an [`AdaptiveThrottle`] counts.
#[derive(Clone, Copy, Debug, Default)]
struct ThrottleBucket {
    requests: u64,
    accepts: u64,
}

/// Google SRE client-side adaptive throttling.
///
/// [`try_send`](Self::try_send) counts a request and decides whether to reject it
/// locally; [`record_accept`](Self::record_accept) counts a request the backend
/// accepted (answered other than with an overload rejection). The window is the
/// current bucket and the `buckets − 1` before it.
///
/// ```
/// use std::time::Instant;
/// use rand::SeedableRng;
/// use meshsim_patterns::budget::{AdaptiveThrottle, AdaptiveThrottleConfig};
///
/// let start = Instant::now();
/// let mut throttle = AdaptiveThrottle::new(AdaptiveThrottleConfig::default())?;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let now = start.elapsed().as_nanos() as u64;
/// // A healthy backend accepts everything: nothing is rejected locally.
/// for _ in 0..100 {
///     assert!(throttle.try_send(now, &mut rng));
///     throttle.record_accept(now);
/// }
/// // A backend that rejects everything: the probability climbs towards 1.
/// for _ in 0..1000 {
///     let _ = throttle.try_send(now, &mut rng);
/// }
/// assert!(throttle.reject_probability(now) > 0.8);
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct AdaptiveThrottle {
    config: AdaptiveThrottleConfig,
    slot_nanos: u64,
    ring: SlotRing<ThrottleBucket>,
    last_now: Nanos,
}

impl AdaptiveThrottle {
    /// An empty throttle (rejects nothing).
    pub fn new(config: AdaptiveThrottleConfig) -> Result<AdaptiveThrottle, ConfigError> {
        let error = |field, reason| Err(ConfigError::new("adaptive_throttle", field, reason));
        if !(config.k.is_finite() && config.k >= 1.0) {
            return error("k", "must be finite and at least 1");
        }
        if config.buckets == 0 || config.buckets > 10_000 {
            return error("buckets", "must be in 1..=10000");
        }
        let window = nanos_of(config.window);
        if window < u64::from(config.buckets) {
            return error("window", "must be at least one nanosecond per bucket");
        }
        Ok(AdaptiveThrottle {
            config,
            slot_nanos: window / u64::from(config.buckets),
            ring: SlotRing::new(config.buckets as usize),
            last_now: 0,
        })
    }

    fn bucket(&mut self, now: Nanos) -> &mut ThrottleBucket {
        debug_assert!(now >= self.last_now, "time went backwards");
        self.last_now = self.last_now.max(now);
        self.ring.slot_mut(now / self.slot_nanos)
    }

    /// `(requests, accepts)` in the window at `now`.
    pub fn counts(&self, now: Nanos) -> (u64, u64) {
        self.ring
            .window(now / self.slot_nanos)
            .fold((0, 0), |(r, a), bucket| {
                (r + bucket.requests, a + bucket.accepts)
            })
    }

    /// `max(0, (requests − K · accepts) / (requests + 1))` at `now`.
    pub fn reject_probability(&self, now: Nanos) -> f64 {
        let (requests, accepts) = self.counts(now);
        let excess = requests as f64 - self.config.k * accepts as f64;
        (excess / (requests as f64 + 1.0)).max(0.0)
    }

    /// Counts one request and decides: `true` = send it, `false` = reject it locally.
    /// The probability is computed from the window before this request is counted.
    pub fn try_send(&mut self, now: Nanos, rng: &mut impl RngCore) -> bool {
        self.bucket(now);
        let probability = self.reject_probability(now);
        self.bucket(now).requests += 1;
        // No draw when nothing can be rejected, so a healthy client uses no randomness.
        probability <= 0.0 || unit_f64(rng) >= probability
    }

    /// Counts one request the backend accepted.
    pub fn record_accept(&mut self, now: Nanos) {
        self.bucket(now).accepts += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const MS: u64 = 1_000_000;
    const SEC: u64 = 1_000_000_000;

    fn budget(ttl_secs: u64, min_per_sec: u32, percent: f64) -> RetryBudget {
        RetryBudget::new(RetryBudgetConfig {
            ttl: Duration::from_secs(ttl_secs),
            min_retries_per_sec: min_per_sec,
            percent_can_retry: percent,
            buckets: 10,
        })
        .unwrap()
    }

    #[test]
    fn tower_tps_budget_test_sequences() {
        // tower tps_budget.rs `tps_empty`: no reserve, no deposits.
        assert!(!budget(1, 0, 1.0).try_withdraw(0));
        // `tps_leaky`: a deposit expires after the ttl.
        let mut b = budget(1, 0, 1.0);
        b.deposit(0);
        assert!(!b.try_withdraw(3 * SEC));
        // `tps_slots`: 50%, two deposits allow one retry 901 ms later; after a blank
        // slate, deposits at 2.902 s, 3.203 s and 4.004 s: the first has expired, the
        // second and third allow one retry.
        let mut b = budget(1, 0, 0.5);
        b.deposit(0);
        b.deposit(0);
        assert!(b.try_withdraw(901 * MS));
        b.deposit(2_902 * MS);
        b.deposit(3_203 * MS);
        b.deposit(4_004 * MS);
        assert!(b.try_withdraw(4_004 * MS));
        assert!(!b.try_withdraw(4_004 * MS));
        // `tps_reserve`: min 5 per second over 1 s: five retries, not six.
        let mut b = budget(1, 5, 1.0);
        assert_eq!((0..6).filter(|_| b.try_withdraw(0)).count(), 5);
    }

    #[test]
    fn finagle_defaults_allow_twenty_percent_plus_the_reserve() {
        let mut b = RetryBudget::new(RetryBudgetConfig::default()).unwrap();
        for _ in 0..1000 {
            b.deposit(0);
        }
        // 10/s * 10 s reserve + 20% of 1000.
        assert_eq!(b.balance(0), 300);
        assert_eq!((0..400).filter(|_| b.try_withdraw(SEC)).count(), 300);
        // At 10 s the deposits have expired; the withdrawals made at 1 s count until
        // their whole slot has left the trailing ttl, at 12 s.
        assert_eq!(b.balance(10 * SEC), 0);
        assert_eq!(b.balance(11 * SEC + 1), 0);
        assert_eq!(b.balance(12 * SEC), 100); // only the reserve is left
    }

    #[test]
    fn grpc_a6_throttle_sequence() {
        // A6: maxTokens 10, tokenRatio 0.1; "if token_count is less than or equal to
        // max_tokens / 2, then RPCs will not be retried".
        let mut throttle = GrpcRetryThrottle::new(10, 0.1).unwrap();
        let mut allowed = Vec::new();
        for _ in 0..6 {
            throttle.on_failure();
            allowed.push(throttle.allows_retry());
        }
        assert_eq!(allowed, [true, true, true, true, false, false]);
        assert_eq!(throttle.tokens(), 4.0);
        for _ in 0..10 {
            throttle.on_success();
        }
        assert_eq!(throttle.tokens(), 5.0); // 4 + 10 * 0.1, exactly (milli-tokens)
        assert!(!throttle.allows_retry());
        throttle.on_success();
        assert!(throttle.allows_retry());
        for _ in 0..1000 {
            throttle.on_success();
        }
        assert_eq!(throttle.tokens(), 10.0); // capped
        for _ in 0..100 {
            throttle.on_failure();
        }
        assert_eq!(throttle.tokens(), 0.0); // floored
        assert_eq!(
            GrpcRetryThrottle::new(0, 0.1).unwrap_err().field,
            "max_tokens"
        );
        assert_eq!(
            GrpcRetryThrottle::new(10, 0.0).unwrap_err().field,
            "token_ratio"
        );
    }

    #[test]
    fn aws_standard_quota_sequence() {
        let mut quota = AwsRetryQuota::new(AwsRetryQuotaConfig::default());
        let lease = quota.try_acquire(Outcome::Error).unwrap();
        assert_eq!(quota.available(), 495);
        quota.on_success(Some(lease)); // a successful retry returns its cost
        assert_eq!(quota.available(), 500);
        quota.on_success(None); // first-try success: capped at capacity
        assert_eq!(quota.available(), 500);
        let timeout = quota.try_acquire(Outcome::Timeout).unwrap();
        assert_eq!(timeout.cost(), 10);
        drop(timeout); // failed again: spent
        assert_eq!(quota.available(), 490);
        quota.on_success(None);
        assert_eq!(quota.available(), 491);
        // Drain: 49 timeout retries of 10 leave 1, which pays for nothing.
        for _ in 0..49 {
            let _spent = quota.try_acquire(Outcome::Timeout).unwrap();
        }
        assert_eq!(quota.available(), 1);
        assert!(quota.try_acquire(Outcome::Error).is_none());
        assert_eq!(quota.available(), 1);
    }

    #[test]
    fn adaptive_throttle_probability_is_the_sre_formula() {
        let mut throttle = AdaptiveThrottle::new(AdaptiveThrottleConfig::default()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        // 10 requests, 2 accepts: (10 - 2*2) / 11.
        for i in 0..10 {
            throttle.try_send(0, &mut rng);
            if i < 2 {
                throttle.record_accept(0);
            }
        }
        assert_eq!(throttle.counts(0), (10, 2));
        assert!((throttle.reject_probability(0) - 6.0 / 11.0).abs() < 1e-12);
        // Accepts >= requests / K: zero.
        throttle.record_accept(0);
        throttle.record_accept(0);
        throttle.record_accept(0);
        assert_eq!(throttle.reject_probability(0), 0.0);
        // The window forgets after 2 minutes.
        assert_eq!(throttle.counts(120 * SEC), (0, 0));
        assert_eq!(throttle.counts(119 * SEC), (10, 5));
    }

    #[test]
    fn adaptive_throttle_rejection_rate_matches_the_probability() {
        // Requests with no accepts: the reject probability after n requests is
        // n/(n+1). Over requests 1000..=2999 it is about 0.9993; the expected number
        // of sends among 2000 is ~1.3 (we allow up to 10, a wide margin). Before that,
        // over the first 1000, the expected number sent is sum 1/(n+1) ~ ln(1001) ~ 7.5.
        let mut throttle = AdaptiveThrottle::new(AdaptiveThrottleConfig::default()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let sent_early = (0..1000)
            .filter(|_| throttle.try_send(SEC, &mut rng))
            .count();
        let sent_late = (0..2000)
            .filter(|_| throttle.try_send(SEC, &mut rng))
            .count();
        assert!((2..=20).contains(&sent_early), "{sent_early}");
        assert!(sent_late <= 10, "{sent_late}");
        let error = AdaptiveThrottle::new(AdaptiveThrottleConfig {
            k: 0.5,
            ..AdaptiveThrottleConfig::default()
        });
        assert_eq!(error.unwrap_err().field, "k");
    }

    #[derive(Clone, Debug)]
    enum Op {
        Deposit,
        Withdraw,
        Advance(u32),
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// At every admitted retry, the retries of the trailing ttl (it included) are
        /// at most min_retries_per_sec * ttl + percent_can_retry * requests of that ttl.
        #[test]
        fn tps_budget_never_exceeds_its_allowance_over_any_ttl_window(
            ttl_secs in 1..4u64,
            min_per_sec in 0..4u32,
            permille in prop_oneof![Just(0u64), Just(100), Just(200), Just(500), Just(1000), Just(2500)],
            buckets in 1..12u32,
            ops in proptest::collection::vec(
                prop_oneof![
                    3 => Just(Op::Deposit),
                    4 => Just(Op::Withdraw),
                    2 => (0..700u32).prop_map(Op::Advance),
                ],
                1..300,
            ),
        ) {
            let mut budget = RetryBudget::new(RetryBudgetConfig {
                ttl: Duration::from_secs(ttl_secs),
                min_retries_per_sec: min_per_sec,
                percent_can_retry: permille as f64 / 1000.0,
                buckets,
            }).unwrap();
            let ttl = ttl_secs * SEC;
            let mut now = 0u64;
            let mut deposits: Vec<u64> = Vec::new();
            let mut withdrawals: Vec<u64> = Vec::new();
            for op in ops {
                match op {
                    Op::Deposit => {
                        budget.deposit(now);
                        deposits.push(now);
                    }
                    Op::Withdraw => {
                        if budget.try_withdraw(now) {
                            withdrawals.push(now);
                            let from = now.saturating_sub(ttl);
                            let in_window = |t: &&u64| **t > from || (now < ttl);
                            let w = withdrawals.iter().filter(in_window).count() as u64;
                            let d = deposits.iter().filter(in_window).count() as u64;
                            // 1000 * w <= 1000 * min * ttl_secs + permille * d, exactly.
                            prop_assert!(
                                1000 * w <= 1000 * u64::from(min_per_sec) * ttl_secs + permille * d,
                                "{w} retries, {d} requests in ({from}, {now}]"
                            );
                        }
                    }
                    Op::Advance(ms) => now += u64::from(ms) * MS,
                }
            }
        }
    }
}
