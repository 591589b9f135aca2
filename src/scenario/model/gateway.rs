//! A service's `gateway`, as serde types: its routes (method and path
//! prefix, the backends of a weighted split, the calls' timeout and policy,
//! the credential classes allowed) and its credential check (meaning in
//! `docs/scenarios.md`, checks and the patterns' objects in
//! `compile/gateway.rs`, run by `world/gateway.rs`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::HttpMethod;
use crate::kernel::SimDuration;

fn one() -> u32 {
    1
}

/// What a gateway service does with a request once its own work (its
/// `service_time`) is done: it matches a route, checks the credential and
/// forwards the request to one backend of the route's split, answering
/// with what the backend answered. A gateway has no `calls`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GatewaySpec {
    /// The routes, matched by method and path prefix: the longest matching
    /// prefix wins, then the first declared. A request no route matches is
    /// answered 404.
    #[schemars(length(min = 1, max = crate::scenario::compile::MAX_GATEWAY_ROUTES))]
    pub routes: Vec<GatewayRoute>,
    /// The credential check; without it every request is forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<GatewayAuth>,
}

/// A route of a gateway.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GatewayRoute {
    /// The route's name in reports and faults; unique in its gateway.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The path prefix it matches, on segment boundaries: `/v1/orders`
    /// matches `/v1/orders` and `/v1/orders/7`, not `/v1/ordersx`; `/`
    /// matches every path.
    pub prefix: String,
    /// The method it matches; without it, every method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<HttpMethod>,
    /// The services it forwards to, each with its weight: one backend, or a
    /// weighted split (a canary, a strangler fig). Exactly one of
    /// `backends` and `aggregate`.
    #[schemars(length(max = crate::scenario::compile::MAX_GATEWAY_BACKENDS))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<Backend>,
    /// Fan out to several services at once and answer once every branch
    /// has (API composition): a critical branch that fails fails the
    /// response at once; an optional one is dropped and the response is
    /// marked partial.
    #[schemars(length(max = crate::scenario::compile::MAX_GATEWAY_BACKENDS))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aggregate: Vec<Branch>,
    /// Assign each request by its key (the route's `keys`, else its
    /// closed-loop user, else its client) instead of at random, so a
    /// customer stays on one side of the split while the weights hold.
    #[serde(default)]
    pub sticky: bool,
    /// Give up on the backend's reply after this long (per attempt, as a
    /// call's `timeout`), answering 504.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<SimDuration>,
    /// The resilience policy of the calls to the backends, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The credential classes this route admits (needs `auth`); a valid
    /// credential of another class is answered 403. Without it, every
    /// class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    /// A rate limit on the route: per client (a bucket for each client) or
    /// for the whole route; in each gateway instance (local), or shared by
    /// all of them in a rate limit `service` (global). A request over it is
    /// answered 429 with a retry-after of the wait until it would conform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<GatewayRateLimit>,
}

/// A gateway route's rate limit.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GatewayRateLimit {
    /// Requests a second, sustained.
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub rate: f64,
    /// Requests at once above the rate (the bucket's size).
    #[schemars(range(min = 1))]
    pub burst: u32,
    /// What is limited: each `client` on its own (the default), or the
    /// whole `route`.
    #[serde(default)]
    pub per: LimitScope,
    /// `token_bucket` (the default: Envoy's local rate limit) or `gcra`
    /// (the generic cell rate algorithm, as the `governor` crate and
    /// redis-cell implement it).
    #[serde(default)]
    pub algorithm: LimitAlgorithm,
    /// The rate limit service that keeps the buckets, shared by every
    /// instance of every gateway that names it (Envoy's global rate limit):
    /// each request is checked by a call to it, after the credential
    /// check. Without it the limit is local: a bucket per gateway
    /// instance, so N instances admit N times the rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Give up on the rate limit service's answer after this long (per
    /// attempt); 20 ms by default, as Envoy's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<SimDuration>,
    /// The resilience policy of the calls to the rate limit service, by
    /// name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// When the rate limit service cannot be reached (an error, a
    /// timeout, a refusal), refuse the request with `status_on_error`;
    /// false (the default, Envoy's): forward it, counted as allowed on
    /// failure.
    #[serde(default)]
    pub failure_mode_deny: bool,
    /// With `failure_mode_deny`: the answer, 500 (the default, Envoy's) or
    /// 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_on_error: Option<u16>,
}

/// What a gateway rate limit counts.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LimitScope {
    /// Each client of the workload has its own bucket.
    #[default]
    Client,
    /// One bucket for the route.
    Route,
}

/// How a gateway rate limit decides.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LimitAlgorithm {
    /// A token bucket refilled continuously.
    #[default]
    TokenBucket,
    /// The generic cell rate algorithm (a virtual scheduling of
    /// theoretical arrival times).
    Gcra,
}

/// A branch of an aggregation route.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    /// The service it calls.
    pub service: String,
    /// Its failure drops it from the response (marked partial) instead of
    /// failing the response.
    #[serde(default)]
    pub optional: bool,
    /// Give up on it after this long (per attempt, as a call's `timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<SimDuration>,
    /// Its resilience policy, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

/// A backend of a gateway route.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Backend {
    /// The service.
    pub service: String,
    /// Its share of the route's requests, relative to the other backends'
    /// (0 or more, at least one positive).
    #[serde(default = "one")]
    pub weight: u32,
}

/// A gateway's credential check: local (`{}`: the gateway verifies a token
/// itself, as a JWT filter does), or by an auth `service` over the network
/// with a cache of its answers (token introspection, Envoy's `ext_authz`).
/// Either way a missing, invalid or expired token is answered 401.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GatewayAuth {
    /// The auth service that validates tokens; without it, validation is
    /// local.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Give up on the auth service's answer after this long (per attempt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<SimDuration>,
    /// The resilience policy of the calls to the auth service, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// How long an answer is used without asking again (never past the
    /// token's own expiry); 30 s by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_ttl: Option<SimDuration>,
    /// How many answers each gateway instance keeps (least recently used
    /// evicted); 100 by default, as Envoy's JWT cache.
    #[schemars(range(min = 1, max = 1_048_576))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_capacity: Option<u32>,
    /// When the auth service cannot be reached, forward a token whose last
    /// answer was active and is still cached (stale by at most
    /// `max_stale`); false (the default): refuse it.
    #[serde(default)]
    pub fail_open: bool,
    /// With `fail_open`: how long past its freshness a cached answer still
    /// admits; without it, as long as it stays in the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stale: Option<SimDuration>,
    /// The answer when the auth service cannot be reached and nothing
    /// cached admits the token: 403 (the default, Envoy's) or 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_on_error: Option<u16>,
}

/// What is true of the token a client's requests carry.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A genuine token within its lifetime.
    Valid,
    /// No token at all.
    Missing,
    /// A token that is not genuine: malformed, forged or revoked.
    Invalid,
    /// A genuine token past its expiry.
    Expired,
}

impl TokenKind {
    /// The name as written in a scenario.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Valid => "valid",
            TokenKind::Missing => "missing",
            TokenKind::Invalid => "invalid",
            TokenKind::Expired => "expired",
        }
    }
}

/// A change of a gateway route's split on the fault timeline (a canary
/// shifted from 5% to 50%); with `for`, the weights before it come back
/// when it ends.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SplitFault {
    /// The gateway service.
    pub service: String,
    /// The route, by name.
    pub route: String,
    /// The new weight of each backend, by service name; a backend left out
    /// gets 0; at least one positive.
    pub weights: BTreeMap<String, u32>,
}
