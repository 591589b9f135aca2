//! The `gateways` block of summary.json (what each gateway's routes
//! matched, refused and forwarded to each backend, and what each backend
//! answered) and the `credential_check` block (the credential invariant:
//! deliveries checked, and violations).

use super::*;
use crate::world::{CredentialCheck, GatewayOutcome, LimiterOutcome, Status};

/// A gateway in summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct GatewaySummary {
    /// Its credential check, if it has one.
    pub auth: Option<AuthSummary>,
    /// Requests no route matched, answered 404.
    pub not_found: u64,
    /// Requests not forwarded because their client had already given up.
    pub client_gone: u64,
    /// Per route, by name.
    pub routes: BTreeMap<String, GatewayRouteSummary>,
}

/// A gateway's credential check in summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct AuthSummary {
    /// `local` (the gateway verifies tokens) or `remote` (the auth
    /// service does, with a cache per gateway instance).
    pub validation: &'static str,
    /// Calls made to the auth service.
    pub remote_checks: u64,
    /// Decisions a fresh cached answer made.
    pub cache_hits: u64,
    /// Requests forwarded on a stale cached answer while the auth service
    /// could not be reached (fail-open).
    pub forwarded_fail_open: u64,
    /// Requests refused because the auth service could not be reached and
    /// nothing cached admitted them.
    pub refused_on_error: u64,
}

/// A gateway route in summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct GatewayRouteSummary {
    /// Requests it matched.
    pub requests: u64,
    /// Refused with 401 (a missing, invalid or expired credential).
    pub unauthorized: u64,
    /// Refused with 403 (a credential class the route does not allow).
    pub forbidden: u64,
    /// Refused (403 or 503) because the auth service could not be reached.
    pub auth_unavailable: u64,
    /// Refused with 429 by the route's rate limit (local, or global: its
    /// `global_limit.over_limit`).
    pub rate_limited: u64,
    /// Its global rate limit's checks, when the limit is kept by a rate
    /// limit service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_limit: Option<GlobalLimitSummary>,
    /// For an aggregation route (its backends are its branches): responses
    /// answered partial (an optional branch failed or timed out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial: Option<u64>,
    /// For an aggregation route: responses failed by a critical branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregate_failed: Option<u64>,
    /// Per backend, by service name.
    pub backends: BTreeMap<String, BackendSummary>,
}

/// A gateway route's global rate limit in summary.json (the counters of
/// Envoy's rate limit filter).
#[derive(Clone, Debug, Serialize)]
pub struct GlobalLimitSummary {
    /// The rate limit service.
    pub service: String,
    /// Checks made: one per request the route took (a retried check is
    /// one; the rate limit service's `checks` counts each attempt it
    /// decided).
    pub checks: u64,
    /// Answered under the limit: forwarded.
    pub ok: u64,
    /// Answered over the limit: refused with 429 and the service's
    /// retry-after.
    pub over_limit: u64,
    /// Ended without an answer: an error, a timeout or a refusal.
    pub error: u64,
    /// Of `error`: forwarded anyway (`failure_mode_deny` false).
    pub failure_mode_allowed: u64,
    /// Of `error`: refused with `status_on_error` (`failure_mode_deny`).
    pub failure_mode_denied: u64,
}

/// A rate limit service in summary.json: what it decided, per gateway
/// route whose limit it keeps.
#[derive(Clone, Debug, Serialize)]
pub struct LimitServiceSummary {
    /// Buckets it keeps (a route's: one per client, or one).
    pub buckets: u64,
    /// Checks it decided: every one it served, including those whose
    /// gateway had stopped waiting (each spends a token).
    pub checks: u64,
    /// Of `checks`: over the limit.
    pub over_limit: u64,
    /// Per-client checks answered without a bucket: sent after their client
    /// had given up, with no client to charge.
    pub unkeyed: u64,
    /// Per gateway, per route: its checks and how many were over the
    /// limit.
    pub routes: BTreeMap<String, BTreeMap<String, LimitRouteSummary>>,
}

/// A gateway route's checks at its rate limit service.
#[derive(Clone, Debug, Serialize)]
pub struct LimitRouteSummary {
    /// Checks decided.
    pub checks: u64,
    /// Of them, over the limit.
    pub over_limit: u64,
}

/// A backend of a gateway route in summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct BackendSummary {
    /// Requests forwarded to it.
    pub forwarded: u64,
    /// Its share of the route's forwarded requests (0 when none was).
    pub share: f64,
    /// What the gateway answered for them, by status (statuses with a
    /// count only): the backend's answer, its own timeout as
    /// `gateway_timeout`, its policy's refusals as `unavailable`.
    pub answered: BTreeMap<&'static str, u64>,
    /// For a branch of an aggregation: the partial responses it caused
    /// (optional) and the failed ones (critical).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caused_partial: Option<u64>,
    /// For a branch of an aggregation: the responses its failure failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caused_failure: Option<u64>,
}

/// The credential invariant in summary.json: no request with a missing,
/// invalid or expired token reaches a service that is not a gateway.
#[derive(Clone, Debug, Serialize)]
pub struct CredentialCheckSummary {
    /// Deliveries to services that are not gateways, checked.
    pub checked: u64,
    /// Deliveries of orphan work (their client request had ended), which
    /// carry no token to read.
    pub unchecked: u64,
    /// Deliveries of an expired token forwarded fail-open: allowed,
    /// counted apart.
    pub forwarded_fail_open: u64,
    /// Deliveries that broke it (the run stopped on the first: see
    /// `stop_cause`).
    pub violations: u64,
}

pub(super) fn gateways_summary(gateways: &[GatewayOutcome]) -> BTreeMap<String, GatewaySummary> {
    gateways
        .iter()
        .map(|g| {
            let routes = g
                .routes
                .iter()
                .map(|(name, backends, counts)| {
                    let forwarded: u64 = counts.forwarded.iter().sum();
                    let backends = backends
                        .iter()
                        .enumerate()
                        .map(|(b, backend)| {
                            let answered = Status::ALL
                                .iter()
                                .zip(&counts.answered[b])
                                .filter(|(_, n)| **n > 0)
                                .map(|(s, n)| (s.name(), *n))
                                .collect();
                            // An aggregation calls every branch for each
                            // request it fans out.
                            let share = if counts.aggregate && counts.forwarded[b] > 0 {
                                1.0
                            } else if forwarded > 0 {
                                round6(counts.forwarded[b] as f64 / forwarded as f64)
                            } else {
                                0.0
                            };
                            let aggregate = counts.aggregate;
                            let summary = BackendSummary {
                                forwarded: counts.forwarded[b],
                                share,
                                answered,
                                caused_partial: aggregate.then_some(counts.caused_partial[b]),
                                caused_failure: aggregate.then_some(counts.caused_failure[b]),
                            };
                            (backend.clone(), summary)
                        })
                        .collect();
                    let route = GatewayRouteSummary {
                        requests: counts.requests,
                        unauthorized: counts.unauthorized,
                        forbidden: counts.forbidden,
                        auth_unavailable: counts.auth_unavailable,
                        rate_limited: counts.rate_limited,
                        global_limit: counts.global_limit.as_ref().map(|g| GlobalLimitSummary {
                            service: g.service.clone(),
                            checks: g.checks,
                            ok: g.ok,
                            over_limit: g.over_limit,
                            error: g.error,
                            failure_mode_allowed: g.failure_mode_allowed,
                            failure_mode_denied: g.failure_mode_denied,
                        }),
                        partial: counts.aggregate.then_some(counts.partial),
                        aggregate_failed: counts.aggregate.then_some(counts.aggregate_failed),
                        backends,
                    };
                    (name.clone(), route)
                })
                .collect();
            let summary = GatewaySummary {
                auth: g.auth.as_ref().map(|a| AuthSummary {
                    validation: if a.remote { "remote" } else { "local" },
                    remote_checks: a.remote_checks,
                    cache_hits: a.cache_hits,
                    forwarded_fail_open: a.forwarded_fail_open,
                    refused_on_error: a.refused_on_error,
                }),
                not_found: g.not_found,
                client_gone: g.client_gone,
                routes,
            };
            (g.service.clone(), summary)
        })
        .collect()
}

pub(super) fn limit_services_summary(
    limiters: &[LimiterOutcome],
) -> BTreeMap<String, LimitServiceSummary> {
    limiters
        .iter()
        .map(|l| {
            let mut routes: BTreeMap<String, BTreeMap<String, LimitRouteSummary>> = BTreeMap::new();
            for (gateway, route, checks, over_limit) in &l.routes {
                let summary = LimitRouteSummary {
                    checks: *checks,
                    over_limit: *over_limit,
                };
                routes
                    .entry(gateway.clone())
                    .or_default()
                    .insert(route.clone(), summary);
            }
            let summary = LimitServiceSummary {
                buckets: l.buckets,
                checks: l.routes.iter().map(|r| r.2).sum(),
                over_limit: l.routes.iter().map(|r| r.3).sum(),
                unkeyed: l.unkeyed,
                routes,
            };
            (l.service.clone(), summary)
        })
        .collect()
}

pub(super) fn credential_check_summary(check: &CredentialCheck) -> CredentialCheckSummary {
    CredentialCheckSummary {
        checked: check.checked,
        unchecked: check.unchecked,
        forwarded_fail_open: check.forwarded_fail_open,
        violations: check.violations,
    }
}
