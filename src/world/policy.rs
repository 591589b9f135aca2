//! Policy stacks on edges: a compiled policy ([`CompiledPolicy`], built by
//! the compile step with the patterns' own constructors) and the per-edge
//! state (one per calling instance, or one per calling service) that the
//! world drives with virtual time.
//!
//! The composition order is fixed: deadline ∘ retry(budget) ∘ breaker ∘
//! bulkhead ∘ per-attempt timeout ∘ call (see `patterns` for the reasons).

use crate::kernel::{SimDuration, SimTime, TimerId};
use crate::patterns::breaker::Breaker;
use crate::patterns::bulkhead::Bulkhead;
use crate::patterns::discovery::{
    Balancer, BalancerConfig, OutlierConfig, OutlierDetector, PanicThreshold,
};
use crate::patterns::hedge::Hedger;
use crate::patterns::rate_limit::TokenBucket;
use crate::patterns::retry::RetryPolicy;
pub use crate::scenario::Limiter;
use crate::scenario::{CompiledPolicy, PolicyScope};

use super::slab::Key;

/// A compiled policy as the world uses it: its settings, and prototypes of
/// its patterns from which the state of each scope unit is made.
#[derive(Debug)]
pub struct PolicyModel {
    /// Per-attempt timeout.
    pub timeout: Option<SimDuration>,
    /// Overall deadline of a call.
    pub deadline: Option<SimDuration>,
    /// Retry settings.
    pub retry: Option<RetryPolicy>,
    /// A call that ends cancels its hedged attempts still in flight.
    pub cancel_losers: bool,
    /// Who shares the state.
    pub scope: PolicyScope,
    stateful: bool,
    breaker: Option<Breaker>,
    bulkhead: Option<Bulkhead>,
    limiter: Option<Limiter>,
    rate_limit: Option<TokenBucket>,
    hedger: Option<Hedger>,
    balancer: Option<BalancerConfig>,
    outlier: Option<OutlierConfig>,
    /// The panic threshold of its balancers.
    pub panic: PanicThreshold,
    /// Its zone-aware routing (`discovery.rs`), if it sets it.
    pub zone_aware: Option<crate::patterns::discovery::ZoneAwareConfig>,
    /// Its fallback, if it has one.
    pub fallback: Option<crate::scenario::CompiledFallback>,
}

impl PolicyModel {
    /// The world's copy of a compiled policy.
    pub fn new(policy: &CompiledPolicy) -> PolicyModel {
        PolicyModel {
            timeout: policy.timeout(),
            deadline: policy.deadline(),
            retry: policy.retry().copied(),
            cancel_losers: policy.cancel_losers(),
            scope: policy.scope(),
            stateful: policy.stateful(),
            breaker: policy.fresh_breaker(),
            bulkhead: policy.fresh_bulkhead(),
            limiter: policy.fresh_limiter(),
            rate_limit: policy.fresh_rate_limit(),
            hedger: policy.fresh_hedger(),
            balancer: policy.balancer(),
            outlier: policy.outlier(),
            panic: policy.panic(),
            zone_aware: policy.zone_aware(),
            fallback: policy.fallback().copied(),
        }
    }

    /// Whether the policy picks instances with a balancer of its own (an
    /// outlier detector needs one: it acts through the balancer's choice).
    pub fn has_balancer(&self) -> bool {
        self.balancer.is_some() || self.outlier.is_some()
    }

    /// Whether the policy has a circuit breaker.
    pub fn has_breaker(&self) -> bool {
        self.breaker.is_some()
    }

    /// Who shares the state, and whether there is any to share.
    pub fn scoped_units(&self, instances: u32) -> u32 {
        match self.scope {
            PolicyScope::Service => 1,
            PolicyScope::Instance => instances,
        }
    }

    /// Fresh state for one scope unit of an edge to a callee with `hosts`
    /// instances, made from the validated prototypes (so it cannot fail:
    /// validation bounds `hosts` far below the balancers' `MAX_HOSTS`).
    pub fn new_state(&self, hosts: u32, now: SimTime) -> EdgeState {
        EdgeState {
            balancer: self
                .balancer
                .or(self.outlier.map(|_| BalancerConfig::RoundRobin))
                .map(|config| new_balancer(config, hosts)),
            outlier: self.outlier.map(|config| {
                let mut detector = OutlierDetector::new(config, hosts, now.as_nanos())
                    .expect("validated by the compile step");
                // Every instance is in the pool until a view says otherwise.
                (0..hosts).for_each(|h| detector.add_host(h));
                Box::new(detector)
            }),
            breaker: self.breaker.as_ref().map(Breaker::fresh),
            bulkhead: self.bulkhead.as_ref().map(Bulkhead::fresh),
            bulkhead_timer: None,
            limiter: self.limiter.clone(),
            rate_limit: self.rate_limit,
            hedger: self.hedger.clone(),
            last_success: None,
            key_cache: match self.fallback.map(|f| f.answer) {
                Some(crate::scenario::FallbackAnswer::Cached {
                    keys: Some(keys), ..
                }) => Some(Box::new(KeyCache::new(keys as usize))),
                _ => None,
            },
        }
    }

    /// How many scope units an edge from a caller with `instances`
    /// instances needs.
    pub fn units(&self, instances: u32) -> u32 {
        match (self.stateful, self.scope) {
            (false, _) | (_, PolicyScope::Service) => 1,
            (true, PolicyScope::Instance) => instances,
        }
    }
}

/// A balancer over `hosts` instances, its table (for the hashing ones)
/// over every instance: the caller's static list, until a view says
/// otherwise. Cannot fail: validation bounds instances far below the
/// balancers' `MAX_HOSTS`.
pub fn new_balancer(config: BalancerConfig, hosts: u32) -> Box<Balancer> {
    let mut balancer =
        Balancer::new(config, hosts).expect("instances are validated below MAX_HOSTS");
    let all: Vec<u32> = (0..hosts).collect();
    balancer.rebuild(&all);
    Box::new(balancer)
}

impl EdgeState {
    /// The state of a unit on an edge without a policy: nothing but,
    /// towards a discovered service, a round robin over the unit's view.
    pub fn bare(hosts: u32) -> EdgeState {
        EdgeState {
            breaker: None,
            bulkhead: None,
            bulkhead_timer: None,
            limiter: None,
            rate_limit: None,
            hedger: None,
            balancer: Some(new_balancer(BalancerConfig::RoundRobin, hosts)),
            outlier: None,
            last_success: None,
            key_cache: None,
        }
    }
}

/// The pattern state of one scope unit of an edge.
#[derive(Debug)]
pub struct EdgeState {
    /// The circuit breaker.
    pub breaker: Option<Breaker>,
    /// The bulkhead; it remembers which call each waiting ticket is for.
    pub bulkhead: Option<Bulkhead<Key>>,
    /// The pending wake-up for expiring bulkhead waits.
    pub bulkhead_timer: Option<TimerId>,
    /// The retry limiter.
    pub limiter: Option<Limiter>,
    /// The outgoing token bucket.
    pub rate_limit: Option<TokenBucket>,
    /// The hedging delay estimator.
    pub hedger: Option<Hedger>,
    /// The unit's own load balancer over the callee's instances (host ids
    /// are instance indices within the callee); none: the callee's shared
    /// round robin.
    /// Boxed: the enum is large, and most units have none.
    pub balancer: Option<Box<Balancer>>,
    /// The unit's outlier detector over the callee's instances.
    pub outlier: Option<Box<OutlierDetector>>,
    /// When the unit's last call on the edge succeeded: the age of the
    /// answer a `cached` fallback would give.
    pub last_success: Option<SimTime>,
    /// With a `cached` fallback's `cache_keys`: when each request key's
    /// last call succeeded. Boxed: most units have none.
    pub key_cache: Option<Box<KeyCache>>,
}

/// The last success of each of at most `capacity` request keys, the least
/// recently answered evicted first (ordered maps, so nothing depends on a
/// hash order).
#[derive(Debug)]
pub struct KeyCache {
    /// Per key: when it last succeeded, and the sequence number of that
    /// success.
    at: std::collections::BTreeMap<u64, (SimTime, u64)>,
    /// Keys by the sequence number of their last success, oldest first.
    order: std::collections::BTreeMap<u64, u64>,
    capacity: usize,
    next: u64,
}

impl KeyCache {
    /// An empty cache of `capacity` keys (at least 1).
    pub fn new(capacity: usize) -> KeyCache {
        KeyCache {
            at: std::collections::BTreeMap::new(),
            order: std::collections::BTreeMap::new(),
            capacity: capacity.max(1),
            next: 0,
        }
    }

    /// `key` succeeded at `now`: it becomes the most recent, and the least
    /// recent leaves if the cache is over its capacity.
    pub fn record(&mut self, key: u64, now: SimTime) {
        if let Some((_, seq)) = self.at.insert(key, (now, self.next)) {
            self.order.remove(&seq);
        }
        self.order.insert(self.next, key);
        self.next += 1;
        if self.at.len() > self.capacity
            && let Some((_, oldest)) = self.order.pop_first()
        {
            self.at.remove(&oldest);
        }
    }

    /// When `key` last succeeded, if it is still kept.
    pub fn last_success(&self, key: u64) -> Option<SimTime> {
        self.at.get(&key).map(|(at, _)| *at)
    }

    /// Keys kept.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// Whether it keeps none.
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }
}
