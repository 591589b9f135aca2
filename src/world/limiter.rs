//! The rate limit service's behaviour (Envoy's global rate limit, as
//! lyft/ratelimit serves it): a service that, once its own work is done,
//! answers a gateway's check from the bucket of the request's descriptor —
//! (gateway, route, client), or (gateway, route) for a limit on the whole
//! route — with "ok" or "over the limit, retry after …".
//!
//! The buckets are the service's, shared by all its instances (a store
//! behind them, as lyft/ratelimit keeps its counters in Redis): a crash of
//! an instance loses the checks it held, not the counts, and every instance
//! of every gateway that names the service draws on the same buckets. That
//! is what a global limit buys over a local one — N gateway instances do
//! not admit N times the rate — and what it costs is a call per request,
//! with its latency and its failures (`failure_mode_deny`).
//!
//! A check's descriptor is stamped on its job when the gateway sends it
//! ([`World::limit_descriptor`]): the gateway's job says the route, the
//! request's context the client. A check whose gateway gave up on it (its
//! timeout fired) is still decided when it is served and still spends a
//! token, as a real limiter's counter does; a per-client check sent after
//! its client had gone (a retry of an orphan) has no client to charge and is
//! answered without a bucket, counted apart (a per-route one is charged).

use crate::kernel::{Kernel, SimDuration};
use crate::scenario::Compiled;
use crate::scenario::compile::RateLimiter;

use super::behaviour::Behaviour;
use super::calls::{Owner, Parent};
use super::slab::Key;
use super::{Event, Reply, Status, World};

/// A limiter job's `step` when its descriptor is unknown.
pub(super) const NO_GROUP: u16 = u16::MAX;
/// A limiter job's `pending` when the request's client is unknown.
pub(super) const NO_CLIENT: u16 = u16::MAX;

/// A rate limit service's buckets and what it decided.
pub(super) struct LimiterModel {
    /// One group per gateway route whose limit it keeps, in the order of
    /// the services and their routes.
    groups: Vec<LimitGroup>,
    /// Checks answered without a bucket: their client was unknown.
    unkeyed: u64,
}

/// The buckets of one gateway route's limit.
struct LimitGroup {
    gateway: u32,
    route: u16,
    /// One per client, or one for the route.
    buckets: Vec<RateLimiter>,
    per_client: bool,
    checks: u64,
    over_limit: u64,
}

/// What a rate limit service decided, for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LimiterOutcome {
    /// The rate limit service.
    pub service: String,
    /// Per gateway route whose limit it keeps: the gateway, the route, the
    /// checks it decided and how many of them were over the limit.
    pub routes: Vec<(String, String, u64, u64)>,
    /// Buckets it keeps.
    pub buckets: u64,
    /// Per-client checks answered "ok" without a bucket, because they were
    /// sent after their client had given up (no client to charge).
    pub unkeyed: u64,
}

impl LimiterModel {
    /// The model of `service` if some gateway route's limit names it.
    pub(super) fn new(compiled: &Compiled, service: u32) -> Option<LimiterModel> {
        let clients = compiled.clients().len().max(1);
        let mut groups = Vec::new();
        for (gateway, g) in compiled.gateways().iter().enumerate() {
            for (route, r) in g.iter().flat_map(|g| g.routes.iter().enumerate()) {
                let Some(limit) = &r.rate_limit else {
                    continue;
                };
                if limit.global.as_ref().map(|g| g.call.service) != Some(service) {
                    continue;
                }
                let keys = if limit.per_client { clients } else { 1 };
                groups.push(LimitGroup {
                    gateway: gateway as u32,
                    route: route as u16,
                    buckets: vec![limit.prototype; keys],
                    per_client: limit.per_client,
                    checks: 0,
                    over_limit: 0,
                });
            }
        }
        (!groups.is_empty()).then_some(LimiterModel { groups, unkeyed: 0 })
    }

    /// The group of `gateway`'s `route`.
    fn group_of(&self, gateway: u32, route: u16) -> u16 {
        self.groups
            .iter()
            .position(|g| g.gateway == gateway && g.route == route)
            .map_or(NO_GROUP, |g| g as u16)
    }

    /// One check at `now`: admitted, or the wait until it would be.
    fn check(&mut self, group: u16, client: u16, now: u64) -> Result<(), SimDuration> {
        let Some(g) = self.groups.get_mut(group as usize) else {
            self.unkeyed += 1;
            return Ok(());
        };
        let key = match (g.per_client, client) {
            (false, _) => 0,
            (true, NO_CLIENT) => {
                self.unkeyed += 1;
                return Ok(());
            }
            (true, client) => usize::from(client),
        };
        g.checks += 1;
        g.buckets[key].try_acquire(now).map_err(|after| {
            g.over_limit += 1;
            super::status::wait_of(after)
        })
    }
}

impl World<'_> {
    /// The descriptor of a check sent to `service` for `attempt`, as a
    /// job's (`step`, `pending`): the group of the gateway route whose job
    /// made the call, and the request's client; (0, 0) for a job to any
    /// other service.
    pub(super) fn limit_descriptor(&self, attempt: Key, request: Key, service: u32) -> (u16, u16) {
        let Behaviour::Limiter(model) = &self.services[service as usize].behaviour else {
            return (0, 0);
        };
        let parent = self.attempts.get(attempt).and_then(|a| match a.owner {
            Owner::Direct { parent, .. } => Some(parent),
            Owner::Call(call) => self.calls.get(call).map(|c| c.parent),
        });
        let group = match parent {
            Some(Parent::Job(job)) => self.jobs.get(job).map_or(NO_GROUP, |job| {
                let gateway = self.instances[job.instance as usize].service;
                model.group_of(gateway, job.step)
            }),
            _ => NO_GROUP,
        };
        let client = self.requests.get(request).map_or(NO_CLIENT, |c| c.client);
        (group, client)
    }

    /// A rate limit service's job is done with its own work: decide it from
    /// the bucket its descriptor names.
    pub(super) fn limit_check(&mut self, kernel: &mut Kernel<Event>, job_key: Key) {
        let job = self.jobs.get(job_key).expect("a live job");
        let (group, client) = (job.step, job.pending);
        let service = self.instances[job.instance as usize].service;
        let Behaviour::Limiter(model) = &mut self.services[service as usize].behaviour else {
            unreachable!("a limit check at a rate limit service");
        };
        let reply = match model.check(group, client, kernel.now().as_nanos()) {
            Ok(()) => Reply::of(Status::Ok),
            Err(after) => Reply::of(Status::Ok).over_limit().with_retry_after(after),
        };
        self.finish_job_with(kernel, job_key, reply, false);
    }

    /// What each rate limit service decided, by service.
    pub(super) fn limiter_outcomes(&self) -> Vec<LimiterOutcome> {
        let route_name = |gateway: u32, route: u16| match &self.services[gateway as usize].behaviour
        {
            Behaviour::Gateway(g) => g.route_name(route).to_string(),
            _ => String::new(),
        };
        self.services
            .iter()
            .enumerate()
            .filter_map(|(s, model)| {
                let Behaviour::Limiter(l) = &model.behaviour else {
                    return None;
                };
                Some(LimiterOutcome {
                    service: self.service_names[s].clone(),
                    routes: l
                        .groups
                        .iter()
                        .map(|g| {
                            (
                                self.service_names[g.gateway as usize].clone(),
                                route_name(g.gateway, g.route),
                                g.checks,
                                g.over_limit,
                            )
                        })
                        .collect(),
                    buckets: l.groups.iter().map(|g| g.buckets.len() as u64).sum(),
                    unkeyed: l.unkeyed,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patterns::rate_limit::Gcra;
    use std::time::Duration;

    fn model(per_client: bool) -> LimiterModel {
        let gcra = Gcra::new(Duration::from_millis(10), 2).expect("valid");
        LimiterModel {
            groups: vec![LimitGroup {
                gateway: 0,
                route: 0,
                buckets: vec![RateLimiter::Gcra(gcra); if per_client { 3 } else { 1 }],
                per_client,
                checks: 0,
                over_limit: 0,
            }],
            unkeyed: 0,
        }
    }

    #[test]
    fn one_bucket_per_client_and_a_wait_when_over() {
        let mut m = model(true);
        assert_eq!(m.check(0, 1, 0), Ok(()));
        assert_eq!(m.check(0, 1, 0), Ok(()));
        // The third at once is over a burst of 2: it would conform 10 ms on.
        assert_eq!(m.check(0, 1, 0), Err(SimDuration::from_millis(10)));
        // Another client's bucket is full.
        assert_eq!(m.check(0, 2, 0), Ok(()));
        assert_eq!((m.groups[0].checks, m.groups[0].over_limit), (4, 1));
    }

    #[test]
    fn a_route_bucket_is_shared_and_an_unknown_client_is_not_charged() {
        let mut route = model(false);
        assert_eq!(route.check(0, 0, 0), Ok(()));
        assert_eq!(route.check(0, NO_CLIENT, 0), Ok(()));
        assert!(route.check(0, 2, 0).is_err());
        let mut per_client = model(true);
        assert_eq!(per_client.check(0, NO_CLIENT, 0), Ok(()));
        assert_eq!(per_client.check(NO_GROUP, 0, 0), Ok(()));
        assert_eq!(per_client.unkeyed, 2);
        assert_eq!(per_client.groups[0].checks, 0);
        assert_eq!(per_client.group_of(0, 0), 0);
        assert_eq!(per_client.group_of(0, 1), NO_GROUP);
    }
}
