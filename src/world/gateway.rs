//! The gateway behaviour: a service that, once its own work is done, runs
//! the patterns' gateway decisions on each request in their fixed order
//! (`patterns::gateway`): route (404) → credential (401) → the route's
//! `allow` (403) → split → forward, and answers with what the backend
//! answered ([`Status::proxied`]: its own timeout 504, its own refusals
//! 503).
//!
//! A gateway job keeps its decision in the job's two counters: `step` is
//! its route and `pending` its backend, from the forward to the backend's
//! answer (a gateway makes one call per request).
//!
//! The credential invariant is checked apart from the gateway that
//! enforces it, where it matters: at every delivery to a service that is
//! not a gateway, in a world where some gateway checks credentials
//! ([`CredentialGuard`]). A request whose token is missing, invalid or
//! expired there is a violation, and the run stops naming it: a gateway
//! that forwarded it, or a route of the workload that bypasses the
//! gateways.

use crate::kernel::{Kernel, SimTime};
use crate::patterns::gateway::Status as Refusal;
use crate::patterns::gateway::auth::{Authenticator, Credential, Validation, Verdict};
use crate::patterns::gateway::split::Split;
use crate::scenario::{Compiled, CompiledGateway, TokenKind};

use super::behaviour::Behaviour;
use super::calls::Parent;
use super::draws;
use super::slab::Key;
use super::{Event, Status, World};

/// A gateway service's decisions and what it counted.
pub(super) struct GatewayModel {
    /// Its routes, in the file's order.
    routes: Vec<GatewayRouteModel>,
    /// Its credential check (none: every request is forwarded).
    auth: Option<Authenticator>,
    /// For each route of the workload, the gateway route its requests
    /// take (none: 404).
    route_of: Vec<Option<u16>>,
    /// Requests no route matched (404).
    not_found: u64,
    /// Requests whose client had already given up when the gateway came to
    /// route them: not forwarded (a downstream reset, as Envoy propagates
    /// a client's disconnect), answered 503 to nobody.
    client_gone: u64,
}

/// A route of a gateway.
struct GatewayRouteModel {
    name: String,
    /// The backends' service names.
    backends: Vec<String>,
    /// The edge to each backend.
    edges: Vec<u32>,
    split: Split,
    /// The weights in the file, which a `split` fault's end restores.
    base: Vec<u32>,
    sticky: bool,
    /// By credential class, whether the route admits it (none: all).
    allow: Option<Vec<bool>>,
    counts: GatewayRouteCounts,
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
    /// Forwarded, per backend (the route's order).
    pub forwarded: Vec<u64>,
    /// What the forwarded requests were answered, per backend and status
    /// (`Status::ALL`'s order).
    pub answered: Vec<[u64; Status::ALL.len()]>,
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
    /// Whether it checks credentials.
    pub auth: bool,
}

/// The run's check that no request with a missing, invalid or expired
/// token reaches a service that is not a gateway.
pub(super) struct CredentialGuard {
    /// Per service, whether it is a gateway (not checked).
    gateway: Vec<bool>,
    /// Deliveries checked.
    checked: u64,
    /// Deliveries whose client request had already ended: their token
    /// cannot be read.
    unchecked: u64,
    /// Deliveries of a request whose token was not valid (the run stops
    /// after the first one's event).
    violations: u64,
}

/// The credential invariant as a run checked it, for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialCheck {
    /// Deliveries to services that are not gateways, checked.
    pub checked: u64,
    /// Deliveries of orphan work (the client request had ended), which
    /// carry no token to read.
    pub unchecked: u64,
    /// Deliveries of a request whose token was missing, invalid or
    /// expired: 0, or the run stopped on them.
    pub violations: u64,
}

impl GatewayModel {
    /// A gateway as compiled, its routes' backends on `edges` (per route,
    /// per backend).
    pub(super) fn new(
        compiled: &CompiledGateway,
        edges: Vec<Vec<u32>>,
        service_names: &[&String],
    ) -> GatewayModel {
        let routes = compiled
            .routes
            .iter()
            .zip(edges)
            .map(|(r, edges)| GatewayRouteModel {
                counts: GatewayRouteCounts {
                    forwarded: vec![0; edges.len()],
                    answered: vec![[0; Status::ALL.len()]; edges.len()],
                    ..GatewayRouteCounts::default()
                },
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
            })
            .collect();
        GatewayModel {
            routes,
            auth: compiled
                .auth
                .then(|| Authenticator::new(Validation::Local).expect("local validation")),
            route_of: compiled.route_of.clone(),
            not_found: 0,
            client_gone: 0,
        }
    }
}

impl CredentialGuard {
    /// The guard of a world where some gateway checks credentials.
    pub(super) fn new(compiled: &Compiled) -> Option<Box<CredentialGuard>> {
        compiled.checks_credentials().then(|| {
            Box::new(CredentialGuard {
                gateway: compiled.gateways().iter().map(Option::is_some).collect(),
                checked: 0,
                unchecked: 0,
                violations: 0,
            })
        })
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
            Behaviour::Pipeline => unreachable!("a gateway job at a gateway"),
        }
    }

    /// A gateway job's local work is done: route, check, split, forward.
    pub(super) fn gateway_request(&mut self, kernel: &mut Kernel<Event>, job_key: Key) {
        let now = kernel.now();
        let job = self.jobs.get(job_key).expect("a live job");
        let (instance, deadline, job_draw) = (job.instance, job.deadline, job.draw);
        let service = self.instances[instance as usize].service;
        let Some(context) = self.requests.get(job.request).copied() else {
            self.gateway_mut(service).client_gone += 1;
            return self.finish_job(kernel, job_key, Status::Unavailable, false);
        };
        let (class, token) = self.clients.credential(context.client);
        let draws = self.draws;
        let gateway = self.gateway_mut(service);
        let Some(route) = gateway.route_of[context.route as usize] else {
            gateway.not_found += 1;
            return self.finish_job(kernel, job_key, Status::NotFound, false);
        };
        let r = route as usize;
        gateway.routes[r].counts.requests += 1;
        if let Some(auth) = &mut gateway.auth {
            // The token's key is its client's: one token per client.
            match auth.decide(now.as_nanos(), credential(token), u64::from(context.client)) {
                Verdict::Forward | Verdict::ForwardFailOpen => {}
                Verdict::Reject(status) => {
                    gateway.routes[r].counts.unauthorized += 1;
                    return self.finish_job(kernel, job_key, refusal(status), false);
                }
                Verdict::NeedRemote => unreachable!("local validation asks no one"),
            }
            if gateway.routes[r]
                .allow
                .as_ref()
                .is_some_and(|allow| !allow[class as usize])
            {
                gateway.routes[r].counts.forbidden += 1;
                return self.finish_job(kernel, job_key, Status::Forbidden, false);
            }
        }
        let route_model = &gateway.routes[r];
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
        let route_model = &mut gateway.routes[r];
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

    /// A gateway's call to a backend has ended: answer with what it
    /// answered.
    pub(super) fn gateway_answer(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        outcome: Status,
    ) {
        let job = self.jobs.get(job_key).expect("a live job");
        let (route, backend) = (job.step as usize, job.pending as usize);
        let service = self.instances[job.instance as usize].service;
        let answer = outcome.proxied();
        let counts = &mut self.gateway_mut(service).routes[route].counts;
        counts.answered[backend][answer as usize] += 1;
        self.finish_job(kernel, job_key, answer, answer != Status::Ok);
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

    /// The credential invariant, at the delivery of `job_key` to a service
    /// that is not a gateway: its request's token is valid, or the run
    /// stops naming the request. Out of line, so that the delivery of a
    /// world without auth stays small enough to inline.
    #[cold]
    #[inline(never)]
    pub(super) fn check_credential(&mut self, now: SimTime, job_key: Key) {
        let Some(guard) = self.guard.as_deref_mut() else {
            return;
        };
        let Some(job) = self.jobs.get(job_key) else {
            return;
        };
        let service = self.instances[job.instance as usize].service;
        if job.probe || guard.gateway[service as usize] {
            return;
        }
        let Some(context) = self.requests.get(job.request).copied() else {
            guard.unchecked += 1;
            return;
        };
        guard.checked += 1;
        let (_, token) = self.clients.credential(context.client);
        if token == TokenKind::Valid {
            return;
        }
        guard.violations += 1;
        let (client, class) = self.clients.name_and_credential(context.client);
        let (method, path) = self.method_and_path(&context);
        let cause = format!(
            "credential invariant violated: request {} ({} {path} from client `{client}`, class `{class}`) reached `{}` with a{} {} token; no gateway that checks credentials stopped it",
            context.id,
            method.as_str(),
            self.service_names[service as usize],
            if token == TokenKind::Invalid || token == TokenKind::Expired {
                "n"
            } else {
                ""
            },
            token.as_str(),
        );
        let entity = format!("service {}", self.service_names[service as usize]);
        self.violate(now, entity, cause);
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
                    auth: g.auth.is_some(),
                })
            })
            .collect()
    }

    /// The credential invariant's counts (none: no gateway checks them).
    pub(super) fn credential_check(&self) -> Option<CredentialCheck> {
        self.guard.as_deref().map(|g| CredentialCheck {
            checked: g.checked,
            unchecked: g.unchecked,
            violations: g.violations,
        })
    }
}
