//! A service's `gateway` built into the patterns' objects: its route table
//! (`patterns::gateway::routes`, which refuses a route no request can
//! reach), each route's split (`patterns::gateway::split`) and backends as
//! resolved calls, and, for every route of the workload, the gateway route
//! its requests take, decided once here by the table itself (a route's
//! requests all have one method and path).

use std::time::Duration;

use super::*;
use crate::patterns::gateway::Status as Refusal;
use crate::patterns::gateway::aggregate::{AggregationPlan, Criticality};
use crate::patterns::gateway::auth::{Authenticator, FailureMode, RemoteValidation, Validation};
use crate::patterns::gateway::routes::{Method, MethodMatch, Route, RouteTable};
use crate::patterns::gateway::split::Split;
use crate::patterns::rate_limit::{Gcra, RetryAfter};
use crate::scenario::model::{GatewayAuth, GatewaySpec, HttpMethod};
use crate::scenario::model::{LimitAlgorithm, LimitScope, RateLimitSpec};
use crate::scenario::policy::token_bucket;

/// The most routes a gateway has (the patterns' route table's bound).
pub const MAX_GATEWAY_ROUTES: usize = crate::patterns::gateway::routes::MAX_ROUTES;
/// The most backends a gateway route has (the patterns' split's bound).
pub const MAX_GATEWAY_BACKENDS: usize = crate::patterns::gateway::split::MAX_BACKENDS;

/// A gateway, compiled.
#[derive(Clone, Debug)]
pub struct CompiledGateway {
    /// Its routes, in the file's order.
    pub routes: Vec<CompiledGatewayRoute>,
    /// Its credential check, if it has one.
    pub auth: Option<CompiledAuth>,
    /// For each route of the workload (file order), the gateway route its
    /// requests take, by index; none: no route matches (404).
    pub route_of: Vec<Option<u16>>,
}

/// A gateway's credential check, compiled.
#[derive(Clone, Debug)]
pub struct CompiledAuth {
    /// The patterns' check as each gateway instance starts it (an empty
    /// cache).
    pub authenticator: Authenticator,
    /// The call to the auth service (none: local validation).
    pub service: Option<CallTarget>,
}

/// A gateway route, compiled.
#[derive(Clone, Debug)]
pub struct CompiledGatewayRoute {
    /// Its name.
    pub name: String,
    /// Its backends, as calls (policy and per-attempt timeout resolved).
    pub backends: Vec<CallTarget>,
    /// Its split between the backends, at the file's weights (a split of
    /// one for an aggregation, never used).
    pub split: Split,
    /// For an aggregation route, its plan: `backends` are then its
    /// branches, all called at once.
    pub aggregate: Option<AggregationPlan>,
    /// Assign by the request's key instead of at random.
    pub sticky: bool,
    /// By credential class (an index into [`Compiled::credentials`]),
    /// whether the route admits it; none: every class.
    pub allow: Option<Vec<bool>>,
    /// Its rate limit, if it has one.
    pub rate_limit: Option<CompiledRouteLimit>,
}

/// A gateway route's rate limit, compiled.
#[derive(Clone, Debug)]
pub struct CompiledRouteLimit {
    /// A bucket as it starts (full).
    pub prototype: RateLimiter,
    /// A bucket per client (else one for the route).
    pub per_client: bool,
    /// Kept by a rate limit service (none: in each gateway instance).
    pub global: Option<GlobalLimit>,
}

/// The call a global rate limit makes for each request, and what it does
/// when the rate limit service cannot answer.
#[derive(Clone, Debug)]
pub struct GlobalLimit {
    /// The call to the rate limit service (its per-attempt timeout 20 ms
    /// unless the file or the policy sets one).
    pub call: CallTarget,
    /// Refuse when the service cannot answer (else forward).
    pub deny_on_error: bool,
    /// The refusal's status under `deny_on_error`: 500 or 503.
    pub status_on_error: u16,
}

/// The rate limit service's answer time the gateway waits for by default
/// (Envoy's `timeout` of its rate limit filter).
pub const DEFAULT_LIMIT_TIMEOUT: SimDuration = SimDuration::from_millis(20);

/// A gateway route's rate limiter, as the patterns build it.
#[derive(Clone, Copy, Debug)]
pub enum RateLimiter {
    /// A token bucket (Envoy's local rate limit).
    TokenBucket(TokenBucket),
    /// The generic cell rate algorithm.
    Gcra(Gcra),
}

impl RateLimiter {
    /// One request at `now`: admitted, or the wait until one would be.
    pub fn try_acquire(&mut self, now: u64) -> Result<(), RetryAfter> {
        match self {
            RateLimiter::TokenBucket(b) => b.try_acquire(now),
            RateLimiter::Gcra(g) => g.try_acquire(now),
        }
    }
}

fn method(m: HttpMethod) -> Method {
    match m {
        HttpMethod::Get => Method::Get,
        HttpMethod::Post => Method::Post,
        HttpMethod::Put => Method::Put,
        HttpMethod::Patch => Method::Patch,
        HttpMethod::Delete => Method::Delete,
    }
}

impl Resolver<'_> {
    /// Each service's gateway, compiled (none for a service that is not
    /// one); `credentials` are the classes the clients use, sorted.
    pub(super) fn gateways(&mut self, credentials: &[String]) -> Vec<Option<CompiledGateway>> {
        let scenario = self.scenario;
        scenario
            .services
            .iter()
            .map(|(name, service)| {
                let spec = service.gateway.as_ref()?;
                let path = JsonPath::root().key("services").key(name).key("gateway");
                self.gateway(&path, spec, credentials)
            })
            .collect()
    }

    fn gateway(
        &mut self,
        path: &JsonPath,
        spec: &GatewaySpec,
        credentials: &[String],
    ) -> Option<CompiledGateway> {
        let declared: Vec<Route<'_>> = spec
            .routes
            .iter()
            .map(|r| Route {
                method: r
                    .method
                    .map_or(MethodMatch::Any, |m| MethodMatch::Only(method(m))),
                prefix: &r.prefix,
            })
            .collect();
        let table = match RouteTable::new(&declared) {
            Ok(table) => table,
            Err(e) => {
                self.problems
                    .push((path.key("routes"), e.reason.to_string()));
                return None;
            }
        };
        let mut routes = Vec::with_capacity(spec.routes.len());
        for (i, r) in spec.routes.iter().enumerate() {
            let p = path.key("routes").index(i);
            let policy = self.policy(p.key("policy"), r.policy.as_deref());
            let backends = r
                .backends
                .iter()
                .enumerate()
                .map(|(k, b)| CallTarget {
                    service: self.service(p.key("backends").index(k).key("service"), &b.service),
                    policy,
                    probability: 1.0,
                    optional: false,
                    timeout: r.timeout,
                })
                .collect();
            let mut aggregate = None;
            let mut backends = backends;
            if !r.aggregate.is_empty() {
                backends = r
                    .aggregate
                    .iter()
                    .enumerate()
                    .map(|(k, b)| CallTarget {
                        service: self
                            .service(p.key("aggregate").index(k).key("service"), &b.service),
                        policy: self.policy(
                            p.key("aggregate").index(k).key("policy"),
                            b.policy.as_deref(),
                        ),
                        probability: 1.0,
                        optional: b.optional,
                        timeout: b.timeout,
                    })
                    .collect();
                let criticality: Vec<Criticality> = r
                    .aggregate
                    .iter()
                    .map(|b| {
                        if b.optional {
                            Criticality::Optional
                        } else {
                            Criticality::Critical
                        }
                    })
                    .collect();
                match AggregationPlan::new(&criticality) {
                    Ok(plan) => aggregate = Some(plan),
                    Err(e) => {
                        self.problems
                            .push((p.key("aggregate"), e.reason.to_string()));
                        return None;
                    }
                }
            }
            let weights: Vec<u32> = if aggregate.is_some() {
                vec![1]
            } else {
                r.backends.iter().map(|b| b.weight).collect()
            };
            let split = match Split::new(&weights) {
                Ok(split) => split,
                Err(e) => {
                    self.problems
                        .push((p.key("backends"), format!("weights {}", e.reason)));
                    return None;
                }
            };
            let allow = r.allow.as_ref().map(|classes| {
                credentials
                    .iter()
                    .map(|c| classes.iter().any(|a| a == c))
                    .collect()
            });
            let rate_limit = match &r.rate_limit {
                None => None,
                Some(l) => {
                    let piece = p.key("rate_limit");
                    let built = match l.algorithm {
                        LimitAlgorithm::TokenBucket => token_bucket(
                            &RateLimitSpec {
                                rate: l.rate,
                                burst: l.burst,
                            },
                            &piece,
                        )
                        .map(RateLimiter::TokenBucket),
                        LimitAlgorithm::Gcra => {
                            let per = SimDuration::from_nanos_f64(1e9 / l.rate).as_nanos().max(1);
                            Gcra::new(Duration::from_nanos(per), l.burst)
                                .map(RateLimiter::Gcra)
                                .map_err(|e| (piece.clone(), e.to_string()))
                        }
                    };
                    let global = l.service.as_ref().map(|service| {
                        let policy = self.policy(piece.key("policy"), l.policy.as_deref());
                        let policy_timeout = l
                            .policy
                            .as_ref()
                            .and_then(|p| self.scenario.policies.get(p))
                            .and_then(|p| p.timeout);
                        GlobalLimit {
                            call: CallTarget {
                                service: self.service(piece.key("service"), service),
                                policy,
                                probability: 1.0,
                                optional: false,
                                timeout: l.timeout.or(if policy_timeout.is_some() {
                                    None
                                } else {
                                    Some(DEFAULT_LIMIT_TIMEOUT)
                                }),
                            },
                            deny_on_error: l.failure_mode_deny,
                            status_on_error: l.status_on_error.unwrap_or(500),
                        }
                    });
                    match built {
                        Ok(prototype) => Some(CompiledRouteLimit {
                            prototype,
                            per_client: l.per == LimitScope::Client,
                            global,
                        }),
                        Err(problem) => {
                            self.problems.push(problem);
                            return None;
                        }
                    }
                }
            };
            routes.push(CompiledGatewayRoute {
                name: r.name.clone(),
                backends,
                split,
                aggregate,
                sticky: r.sticky,
                allow,
                rate_limit,
            });
        }
        let route_of = self
            .scenario
            .workload
            .routes
            .iter()
            .map(|r| {
                table
                    .route(method(r.request_method()), &r.request_path())
                    .map(|id| id.0)
            })
            .collect();
        let auth = match &spec.auth {
            None => None,
            Some(a) => Some(self.auth(&path.key("auth"), a)?),
        };
        Some(CompiledGateway {
            routes,
            auth,
            route_of,
        })
    }

    fn auth(&mut self, path: &JsonPath, auth: &GatewayAuth) -> Option<CompiledAuth> {
        let validation = match &auth.service {
            None => Validation::Local,
            Some(_) => {
                let defaults = RemoteValidation::default();
                Validation::Remote(RemoteValidation {
                    cache_ttl: auth
                        .cache_ttl
                        .map_or(defaults.cache_ttl, |d| Duration::from_nanos(d.as_nanos())),
                    cache_capacity: auth
                        .cache_capacity
                        .map_or(defaults.cache_capacity, |c| c as usize),
                    failure_mode: if auth.fail_open {
                        FailureMode::Open {
                            max_stale: auth
                                .max_stale
                                .map_or(Duration::MAX, |d| Duration::from_nanos(d.as_nanos())),
                        }
                    } else {
                        FailureMode::Closed
                    },
                    status_on_error: match auth.status_on_error {
                        Some(503) => Refusal::Unavailable,
                        _ => Refusal::Forbidden,
                    },
                })
            }
        };
        let authenticator = match Authenticator::new(validation) {
            Ok(a) => a,
            Err(e) => {
                self.problems.push((path.clone(), e.to_string()));
                return None;
            }
        };
        let service = auth.service.as_ref().map(|s| CallTarget {
            service: self.service(path.key("service"), s),
            policy: self.policy(path.key("policy"), auth.policy.as_deref()),
            probability: 1.0,
            optional: false,
            timeout: auth.timeout,
        });
        Some(CompiledAuth {
            authenticator,
            service,
        })
    }
}
