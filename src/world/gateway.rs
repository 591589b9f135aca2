//! The gateway behaviour: a service that, once its own work is done, runs
//! the patterns' gateway decisions on each request in their fixed order
//! (`patterns::gateway`): route (404) → credential (401; under remote
//! validation a call to the auth service first, unless a fresh answer is
//! cached) → the route's `allow` (403) → rate limit (429: its buckets in
//! each instance, or a check with its rate limit service, `limiter.rs`) →
//! split → forward, and answers with what the backend answered
//! ([`Status::proxied`]: its own timeout 504, its own refusals 503).
//!
//! A gateway job keeps its progress in the job's two counters: `step` is
//! its route and `pending` its backend from the forward to the backend's
//! answer, or [`AWAITING_AUTH`] while the auth service is asked,
//! [`AWAITING_LIMIT`] while the rate limit service is.
//!
//! The credential invariant is checked apart from the gateway that
//! enforces it, at the backends (`credential.rs`): the gateway only marks
//! what it verified or forwarded fail-open (`RequestContext::admitted`).

use super::status::wait_of;
use crate::kernel::{Kernel, SimTime};
use crate::patterns::gateway::Status as Refusal;
use crate::patterns::gateway::aggregate::{Aggregation, AggregationPlan};
use crate::patterns::gateway::auth::{Authenticator, Credential, RemoteAnswer, Verdict};
use crate::patterns::gateway::split::Split;
use crate::scenario::compile::RateLimiter;
use crate::scenario::{CompiledGateway, TokenKind};

use super::behaviour::Behaviour;
use super::calls::Parent;
use super::draws;
use super::request::{ADMITTED_FAIL_OPEN, ADMITTED_VERIFIED, RequestContext};
use super::slab::Key;
use super::{Event, Reply, Status, World};

mod aggregation;

/// A gateway job's `pending` while it waits for the auth service.
const AWAITING_AUTH: u16 = u16::MAX;
/// A gateway job's `pending` while its aggregation's branches are out.
const AGGREGATING: u16 = u16::MAX - 1;
/// A gateway job's `pending` while the rate limit service is asked.
const AWAITING_LIMIT: u16 = u16::MAX - 2;

/// A gateway service's decisions and what it counted.
pub(super) struct GatewayModel {
    /// Its routes, in the file's order.
    routes: Vec<GatewayRouteModel>,
    /// Its credential check (none: every request is forwarded).
    auth: Option<AuthModel>,
    /// For each route of the workload, the gateway route its requests
    /// take (none: 404).
    route_of: Vec<Option<u16>>,
    /// Requests no route matched (404).
    not_found: u64,
    /// Requests whose client had already given up when the gateway came to
    /// route them (or to forward them after the auth service answered):
    /// not forwarded (a downstream reset, as Envoy propagates a client's
    /// disconnect), answered 503 to nobody.
    client_gone: u64,
    /// The aggregations in progress, by job: at most the jobs its instances
    /// hold (those of a crashed instance are dropped when it restarts).
    aggregations: std::collections::BTreeMap<Key, Aggregation>,
}

/// A gateway's credential check: one `Authenticator` per instance (its
/// token cache is process memory, lost on a restart), and the edge to the
/// auth service under remote validation.
struct AuthModel {
    /// Per instance (numbered within the service).
    per_instance: Vec<Authenticator>,
    /// What an instance starts with: an empty cache.
    prototype: Authenticator,
    /// The edge to the auth service (none: local validation).
    edge: Option<u32>,
    counts: AuthCounts,
}

/// What a gateway's credential check did, for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthCounts {
    /// Whether the auth service validates tokens (else the gateway does).
    pub remote: bool,
    /// Calls made to the auth service.
    pub remote_checks: u64,
    /// Decisions a fresh cached answer made.
    pub cache_hits: u64,
    /// Requests forwarded on a stale cached answer while the auth service
    /// could not be reached (fail-open).
    pub forwarded_fail_open: u64,
    /// Requests refused (403 or 503) because the auth service could not be
    /// reached and nothing cached admitted them.
    pub refused_on_error: u64,
}

/// A route of a gateway.
struct GatewayRouteModel {
    name: String,
    /// The backends' service names.
    backends: Vec<String>,
    /// The edge to each backend.
    edges: Vec<u32>,
    split: Split,
    /// An aggregation route's plan (`edges` are its branches').
    plan: Option<AggregationPlan>,
    /// The weights in the file, which a `split` fault's end restores.
    base: Vec<u32>,
    sticky: bool,
    /// By credential class, whether the route admits it (none: all).
    allow: Option<Vec<bool>>,
    /// Its local rate limit, if it has one.
    limit: Option<RouteLimit>,
    /// Its global rate limit, if it has one.
    global_limit: Option<GlobalRouteLimit>,
    counts: GatewayRouteCounts,
}

/// A gateway route's global rate limit: the edge of its checks, and the
/// answer when the rate limit service cannot give one.
struct GlobalRouteLimit {
    edge: u32,
    /// Under `failure_mode_deny`: the refusal (else: forward).
    deny: Option<Status>,
}

/// What a gateway route's global rate limit did, for reports (Envoy's
/// counters of its rate limit filter).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GlobalLimitCounts {
    /// The rate limit service.
    pub service: String,
    /// Checks the route made: one per request it took (a retried check is
    /// one).
    pub checks: u64,
    /// Answered under the limit.
    pub ok: u64,
    /// Answered over the limit: refused with 429.
    pub over_limit: u64,
    /// Ended without an answer (an error, a timeout, a refusal).
    pub error: u64,
    /// Of `error`: forwarded (`failure_mode_deny` false).
    pub failure_mode_allowed: u64,
    /// Of `error`: refused with `status_on_error` (`failure_mode_deny`).
    pub failure_mode_denied: u64,
}

/// A gateway route's rate limiters: per instance, one per client (or one
/// for the route), instance-major. Process memory: full again on a restart.
struct RouteLimit {
    limiters: Vec<RateLimiter>,
    prototype: RateLimiter,
    /// Limiters per instance: the clients, or 1.
    keys: usize,
}

/// What a gateway route did, for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GatewayRouteCounts {
    /// Requests the route matched.
    pub requests: u64,
    /// Refused with 401: the credential was missing, invalid or expired.
    pub unauthorized: u64,
    /// Refused with 403: the credential's class is not in `allow`.
    pub forbidden: u64,
    /// Refused because the auth service could not be reached (403 or 503).
    pub auth_unavailable: u64,
    /// Refused with 429 by the route's rate limit (local or global).
    pub rate_limited: u64,
    /// Its global rate limit's counts, if it has one.
    pub global_limit: Option<GlobalLimitCounts>,
    /// Forwarded, per backend (the route's order).
    pub forwarded: Vec<u64>,
    /// What the forwarded requests were answered, per backend and status
    /// (`Status::ALL`'s order).
    pub answered: Vec<[u64; Status::ALL.len()]>,
    /// Whether it is an aggregation (its backends are branches).
    pub aggregate: bool,
    /// Aggregations answered partial (an optional branch failed or timed
    /// out).
    pub partial: u64,
    /// Aggregations failed by a critical branch.
    pub aggregate_failed: u64,
    /// Per branch: the partial responses it caused (it failed or timed out,
    /// optional), and the failures (critical).
    pub caused_partial: Vec<u64>,
    /// Per branch: the aggregations its failure failed.
    pub caused_failure: Vec<u64>,
}

/// What a gateway did in a run, for reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayOutcome {
    /// The gateway service.
    pub service: String,
    /// Per route: its name, its backends' names and what it counted.
    pub routes: Vec<(String, Vec<String>, GatewayRouteCounts)>,
    /// Requests no route matched (404).
    pub not_found: u64,
    /// Requests not forwarded because their client had given up.
    pub client_gone: u64,
    /// Its credential check's counts, if it checks credentials.
    pub auth: Option<AuthCounts>,
}

impl GatewayModel {
    /// A gateway as compiled with `instances` instances: its routes'
    /// backends on `edges` (per route, per backend), its auth service's
    /// call on `auth_edge`, and its global rate limits' checks on
    /// `limit_edges` (one per route that has one, in route order).
    pub(super) fn new(
        compiled: &CompiledGateway,
        edges: Vec<Vec<u32>>,
        auth_edge: Option<u32>,
        limit_edges: Vec<u32>,
        instances: u32,
        clients: usize,
        service_names: &[&String],
    ) -> GatewayModel {
        let mut limit_edges = limit_edges.into_iter();
        let routes =
            compiled
                .routes
                .iter()
                .zip(edges)
                .map(|(r, edges)| GatewayRouteModel {
                    global_limit: r
                        .rate_limit
                        .as_ref()
                        .and_then(|l| l.global.as_ref())
                        .map(|g| GlobalRouteLimit {
                            edge: limit_edges.next().expect("an edge per global limit"),
                            deny: g.deny_on_error.then_some(if g.status_on_error == 503 {
                                Status::Unavailable
                            } else {
                                Status::Internal
                            }),
                        }),
                    counts: GatewayRouteCounts {
                        global_limit: r.rate_limit.as_ref().and_then(|l| l.global.as_ref()).map(
                            |g| GlobalLimitCounts {
                                service: service_names[g.call.service as usize].clone(),
                                ..GlobalLimitCounts::default()
                            },
                        ),
                        forwarded: vec![0; edges.len()],
                        answered: vec![[0; Status::ALL.len()]; edges.len()],
                        aggregate: r.aggregate.is_some(),
                        caused_partial: vec![0; edges.len()],
                        caused_failure: vec![0; edges.len()],
                        ..GatewayRouteCounts::default()
                    },
                    plan: r.aggregate,
                    name: r.name.clone(),
                    backends: r
                        .backends
                        .iter()
                        .map(|b| service_names[b.service as usize].clone())
                        .collect(),
                    edges,
                    split: r.split,
                    base: r.split.weights().to_vec(),
                    sticky: r.sticky,
                    allow: r.allow.clone(),
                    limit: r
                        .rate_limit
                        .as_ref()
                        .filter(|l| l.global.is_none())
                        .map(|l| {
                            let keys = if l.per_client { clients } else { 1 };
                            RouteLimit {
                                limiters: vec![l.prototype; keys * instances as usize],
                                prototype: l.prototype,
                                keys,
                            }
                        }),
                })
                .collect();
        GatewayModel {
            routes,
            auth: compiled.auth.as_ref().map(|a| AuthModel {
                per_instance: vec![a.authenticator.clone(); instances as usize],
                prototype: a.authenticator.clone(),
                edge: auth_edge,
                counts: AuthCounts {
                    remote: auth_edge.is_some(),
                    ..AuthCounts::default()
                },
            }),
            route_of: compiled.route_of.clone(),
            not_found: 0,
            client_gone: 0,
            aggregations: std::collections::BTreeMap::new(),
        }
    }

    /// The name of route `route`.
    pub(super) fn route_name(&self, route: u16) -> &str {
        &self.routes[route as usize].name
    }

    /// Drops the aggregations whose job is gone (a crash dropped it).
    pub(super) fn forget_aggregations(&mut self, alive: impl Fn(Key) -> bool) {
        self.aggregations.retain(|job, _| alive(*job));
    }

    /// A restarted instance starts with an empty token cache and full rate
    /// limiters.
    pub(super) fn restart(&mut self, unit: u32) {
        if let Some(auth) = &mut self.auth {
            auth.per_instance[unit as usize] = auth.prototype.clone();
        }
        for limit in self.routes.iter_mut().filter_map(|r| r.limit.as_mut()) {
            let start = unit as usize * limit.keys;
            limit.limiters[start..start + limit.keys].fill(limit.prototype);
        }
    }
}

fn credential(token: TokenKind) -> Credential {
    match token {
        TokenKind::Valid => Credential::Valid,
        TokenKind::Missing => Credential::Missing,
        TokenKind::Invalid => Credential::Invalid,
        TokenKind::Expired => Credential::Expired,
    }
}

fn refusal(status: Refusal) -> Status {
    match status {
        Refusal::Unauthorized => Status::Unauthorized,
        Refusal::Forbidden => Status::Forbidden,
        Refusal::NotFound => Status::NotFound,
        Refusal::Unavailable => Status::Unavailable,
    }
}

impl World<'_> {
    fn gateway_mut(&mut self, service: u32) -> &mut GatewayModel {
        match &mut self.services[service as usize].behaviour {
            Behaviour::Gateway(g) => g,
            Behaviour::Pipeline
            | Behaviour::Limiter(_)
            | Behaviour::Orchestrator(_)
            | Behaviour::Store(_)
            | Behaviour::Broker => {
                unreachable!("a gateway job at a gateway")
            }
        }
    }

    /// A gateway job's local work is done: route, check, split, forward.
    pub(super) fn gateway_request(&mut self, kernel: &mut Kernel<Event>, job_key: Key) {
        let now = kernel.now();
        let job = self.jobs.get(job_key).expect("a live job");
        let instance = job.instance;
        let service = self.instances[instance as usize].service;
        let unit = instance - self.services[service as usize].first_instance;
        let Some(context) = self.requests.get(job.request).copied() else {
            self.gateway_mut(service).client_gone += 1;
            return self.finish_job(kernel, job_key, Status::Unavailable, false);
        };
        let (_, token, _) = self.clients.credential(context.client, now);
        let gateway = self.gateway_mut(service);
        let Some(route) = gateway.route_of[context.route as usize] else {
            gateway.not_found += 1;
            return self.finish_job(kernel, job_key, Status::NotFound, false);
        };
        gateway.routes[route as usize].counts.requests += 1;
        let Some(auth) = &mut gateway.auth else {
            return self.limit(kernel, job_key, service, route, &context);
        };
        let verdict = auth.per_instance[unit as usize].decide(
            now.as_nanos(),
            credential(token),
            context.token_key(),
        );
        match verdict {
            Verdict::NeedRemote => {
                auth.counts.remote_checks += 1;
                let edge = auth.edge.expect("remote validation has an auth edge");
                // The auth call's draws are its own (step 1), apart from the
                // backend call's (step 0).
                self.ask(kernel, job_key, route, AWAITING_AUTH, 1, edge);
            }
            verdict => {
                // Under remote validation, any decision made without asking
                // is a fresh cached answer (active or not), unless there was
                // no token to ask about.
                if auth.edge.is_some() && token != TokenKind::Missing {
                    auth.counts.cache_hits += 1;
                }
                self.admitted(kernel, job_key, service, route, verdict);
            }
        }
    }

    /// The credential check's `verdict` on a gateway job: refuse it, or
    /// check the route's `allow` and forward it.
    fn admitted(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        service: u32,
        route: u16,
        verdict: Verdict,
    ) {
        let now = kernel.now();
        let request = self.jobs.get(job_key).expect("a live job").request;
        let Some(context) = self.requests.get_mut(request) else {
            // The client gave up while the auth service was asked.
            self.gateway_mut(service).client_gone += 1;
            return self.finish_job(kernel, job_key, Status::Unavailable, false);
        };
        let flag = match verdict {
            Verdict::Forward => ADMITTED_VERIFIED,
            Verdict::ForwardFailOpen => ADMITTED_FAIL_OPEN,
            Verdict::Reject(_) | Verdict::NeedRemote => 0,
        };
        context.admitted |= flag;
        let context = *context;
        let (class, _, _) = self.clients.credential(context.client, now);
        let gateway = self.gateway_mut(service);
        let counts = &mut gateway.routes[route as usize].counts;
        match verdict {
            Verdict::Forward | Verdict::ForwardFailOpen => {}
            Verdict::Reject(Refusal::Unauthorized) => {
                counts.unauthorized += 1;
                return self.finish_job(kernel, job_key, Status::Unauthorized, false);
            }
            Verdict::Reject(status) => {
                counts.auth_unavailable += 1;
                if let Some(auth) = &mut gateway.auth {
                    auth.counts.refused_on_error += 1;
                }
                return self.finish_job(kernel, job_key, refusal(status), false);
            }
            Verdict::NeedRemote => unreachable!("a verdict after the answer"),
        }
        if verdict == Verdict::ForwardFailOpen
            && let Some(auth) = &mut gateway.auth
        {
            auth.counts.forwarded_fail_open += 1;
        }
        if gateway.routes[route as usize]
            .allow
            .as_ref()
            .is_some_and(|allow| !allow[class as usize])
        {
            gateway.routes[route as usize].counts.forbidden += 1;
            return self.finish_job(kernel, job_key, Status::Forbidden, false);
        }
        self.limit(kernel, job_key, service, route, &context);
    }

    /// The route's rate limit (after authentication, so that requests
    /// refused 401 or 403 spend no client's quota), then the forward. A
    /// global limit asks the rate limit service and goes on when it answers
    /// ([`World::limit_answer`]).
    fn limit(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        service: u32,
        route: u16,
        context: &RequestContext,
    ) {
        let route_model = &mut self.gateway_mut(service).routes[route as usize];
        if let Some(global) = &route_model.global_limit {
            let edge = global.edge;
            if let Some(counts) = &mut route_model.counts.global_limit {
                counts.checks += 1;
            }
            // The check's draws are its own (step 2), apart from the auth
            // call's and the backend's.
            return self.ask(kernel, job_key, route, AWAITING_LIMIT, 2, edge);
        }
        self.admit(kernel, job_key, service, route, context);
    }

    /// Asks a service on the gateway's behalf (the auth service, the rate
    /// limit service) for the job's request: the job waits in `awaiting`
    /// on `route`, and the call's draws are keyed by `step` of the job's.
    fn ask(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        route: u16,
        awaiting: u16,
        step: u16,
        edge: u32,
    ) {
        let job = self.jobs.get_mut(job_key).expect("a live job");
        job.step = route;
        job.pending = awaiting;
        let deadline = (job.deadline != SimTime::MAX).then_some(job.deadline);
        let key = draws::downstream_call(job.draw, step, 0);
        self.start_call(kernel, Parent::Job(job_key), key, edge, deadline, false);
    }

    /// The route's local rate limit, if it has one; then the forward.
    fn admit(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        service: u32,
        route: u16,
        context: &RequestContext,
    ) {
        let instance = self.jobs.get(job_key).expect("a live job").instance;
        let unit = (instance - self.services[service as usize].first_instance) as usize;
        let now = kernel.now().as_nanos();
        let route_model = &mut self.gateway_mut(service).routes[route as usize];
        if let Some(limit) = &mut route_model.limit {
            let key = if limit.keys == 1 {
                0
            } else {
                usize::from(context.client)
            };
            if let Err(after) = limit.limiters[unit * limit.keys + key].try_acquire(now) {
                route_model.counts.rate_limited += 1;
                let reply = Reply::of(Status::TooManyRequests).with_retry_after(wait_of(after));
                return self.finish_job_with(kernel, job_key, reply, false);
            }
        }
        if route_model.plan.is_some() {
            return self.fan_out(kernel, job_key, service, route);
        }
        self.forward(kernel, job_key, service, route, context);
    }

    /// Splits and forwards a gateway job to its route's backend.
    fn forward(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        service: u32,
        route: u16,
        context: &RequestContext,
    ) {
        let job = self.jobs.get(job_key).expect("a live job");
        let (deadline, job_draw) = (job.deadline, job.draw);
        let draws = self.draws;
        let route_model = &mut self.gateway_mut(service).routes[route as usize];
        let backend = if route_model.split.backends() == 1 {
            0
        } else if route_model.sticky {
            // By the request's key, else its user, else its client: apart
            // in the high bits, so that key 3 and user 3 differ.
            let key = match (context.key(), context.user()) {
                (Some(key), _) => key,
                (None, Some(user)) => (1 << 40) | u64::from(user),
                (None, None) => (2 << 40) | u64::from(context.client),
            };
            route_model.split.pick_sticky(key)
        } else {
            route_model.split.pick(&mut draws.split(job_draw))
        };
        route_model.counts.forwarded[backend] += 1;
        let edge = route_model.edges[backend];
        let job = self.jobs.get_mut(job_key).expect("live");
        job.step = route;
        job.pending = backend as u16;
        let deadline = (deadline != SimTime::MAX).then_some(deadline);
        // One call per request, keyed alike whichever backend serves it, so
        // that a re-weighted split leaves the backends' draws where they
        // were (common random numbers across canary weights).
        let key = draws::downstream_call(job_draw, 0, 0);
        self.start_call(kernel, Parent::Job(job_key), key, edge, deadline, false);
    }

    /// A gateway's call has ended: the auth service's answer (then the
    /// check goes on), or the backend's (then the gateway answers with it).
    pub(super) fn gateway_answer(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        reply: Reply,
        edge: u32,
    ) {
        let outcome = reply.status;
        let job = self.jobs.get(job_key).expect("a live job");
        let (route, pending, instance) = (job.step, job.pending, job.instance);
        let service = self.instances[instance as usize].service;
        if pending == AGGREGATING {
            return self.branch_answer(kernel, job_key, service, route, outcome, edge);
        }
        if pending == AWAITING_AUTH {
            return self.auth_answer(kernel, job_key, service, instance, route, outcome);
        }
        if pending == AWAITING_LIMIT {
            return self.limit_answer(kernel, job_key, service, route, reply);
        }
        let answer = outcome.proxied();
        let counts = &mut self.gateway_mut(service).routes[route as usize].counts;
        counts.answered[pending as usize][answer as usize] += 1;
        // A backend's 429 goes back with its retry-after, as a proxy passes
        // the header through.
        let mut back = Reply::of(answer);
        if let (Status::TooManyRequests, Some(after)) = (answer, reply.retry_after()) {
            back = back.with_retry_after(after);
        }
        self.finish_job_with(kernel, job_key, back, answer != Status::Ok);
    }

    /// The rate limit service answered a gateway job's check (or could not
    /// be reached): over the limit, 429 with its retry-after; under it, or
    /// unreachable under `failure_mode_deny` false, the forward; else the
    /// refusal.
    fn limit_answer(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        service: u32,
        route: u16,
        reply: Reply,
    ) {
        let request = self.jobs.get(job_key).expect("a live job").request;
        let route_model = &mut self.gateway_mut(service).routes[route as usize];
        let deny = route_model.global_limit.as_ref().and_then(|g| g.deny);
        let counts = &mut route_model.counts;
        let global = counts.global_limit.as_mut().expect("a global limit");
        match reply.status {
            Status::Ok if reply.is_over_limit() => {
                global.over_limit += 1;
                counts.rate_limited += 1;
                let mut back = Reply::of(Status::TooManyRequests);
                if let Some(after) = reply.retry_after() {
                    back = back.with_retry_after(after);
                }
                return self.finish_job_with(kernel, job_key, back, false);
            }
            Status::Ok => global.ok += 1,
            _ => {
                global.error += 1;
                if let Some(refusal) = deny {
                    global.failure_mode_denied += 1;
                    return self.finish_job(kernel, job_key, refusal, false);
                }
                global.failure_mode_allowed += 1;
            }
        }
        let Some(context) = self.requests.get(request).copied() else {
            // The client gave up while the rate limit service was asked.
            self.gateway_mut(service).client_gone += 1;
            return self.finish_job(kernel, job_key, Status::Unavailable, false);
        };
        self.admit(kernel, job_key, service, route, &context);
    }

    /// The auth service answered a gateway job's token check (or could not
    /// be reached): what it says is the token's truth when the answer comes
    /// back, active until the token's expiry or not active.
    fn auth_answer(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        service: u32,
        instance: u32,
        route: u16,
        outcome: Status,
    ) {
        let now = kernel.now();
        let request = self.jobs.get(job_key).expect("a live job").request;
        let Some(context) = self.requests.get(request).copied() else {
            self.gateway_mut(service).client_gone += 1;
            return self.finish_job(kernel, job_key, Status::Unavailable, false);
        };
        let (_, token, expires_at) = self.clients.credential(context.client, now);
        let answer = match (outcome, token) {
            (Status::Ok, TokenKind::Valid) => RemoteAnswer::Active {
                expires_at: expires_at.as_nanos(),
            },
            (Status::Ok, _) => RemoteAnswer::Inactive,
            _ => RemoteAnswer::Unreachable,
        };
        let unit = instance - self.services[service as usize].first_instance;
        let auth = self.gateway_mut(service).auth.as_mut().expect("asked");
        let verdict = auth.per_instance[unit as usize].handle_remote_answer(
            now.as_nanos(),
            context.token_key(),
            answer,
        );
        self.admitted(kernel, job_key, service, route, verdict);
    }

    /// A `split` fault starts or ends: the route takes the weights of the
    /// latest-starting split fault still active on it, else its own.
    pub(super) fn apply_split_faults(&mut self, now: SimTime, service: u32, route: u16) {
        let mut weights: Option<&[u32]> = None;
        let mut latest = SimTime::ZERO;
        for (i, (fault, active)) in self.faults.iter().enumerate() {
            if let crate::scenario::FaultTarget::Split {
                service: s,
                route: r,
                weights: w,
            } = fault
                && *active
                && *s == service
                && *r == route
                && (weights.is_none() || self.fault_times[i].0 >= latest)
            {
                latest = self.fault_times[i].0;
                weights = Some(w);
            }
        }
        let weights = weights.map(<[u32]>::to_vec);
        let route_model = &mut self.gateway_mut(service).routes[route as usize];
        let weights = weights.unwrap_or_else(|| route_model.base.clone());
        route_model
            .split
            .set_weights(now.as_nanos(), &weights)
            .expect("validated: one weight per backend, one positive");
    }

    /// What each gateway did, by service.
    pub(super) fn gateway_outcomes(&self) -> Vec<GatewayOutcome> {
        self.services
            .iter()
            .enumerate()
            .filter_map(|(s, model)| {
                let Behaviour::Gateway(g) = &model.behaviour else {
                    return None;
                };
                Some(GatewayOutcome {
                    service: self.service_names[s].clone(),
                    routes: g
                        .routes
                        .iter()
                        .map(|r| (r.name.clone(), r.backends.clone(), r.counts.clone()))
                        .collect(),
                    not_found: g.not_found,
                    client_gone: g.client_gone,
                    auth: g.auth.as_ref().map(|a| a.counts.clone()),
                })
            })
            .collect()
    }
}
