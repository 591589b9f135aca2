//! An API gateway's decisions, sans-IO: which route a request takes, which backend of
//! a split serves it, whether its credential lets it through, when a fan-out
//! response is complete, and when the gateway sheds load.
//!
//! The gateway of meshsim's world is a simulated entity with its own instances,
//! workers and queue; what it *decides* lives here, told the time and knowing
//! nothing of the simulator, so the world runs this logic rather than re-deriving it
//! (and a real gateway could run it too). One concept per file:
//!
//! - [`routes`]: a route table, by method and path prefix on segment boundaries,
//!   longest prefix first (Envoy's `path_separated_prefix`, Kong's and AWS API
//!   Gateway's most-specific-route rule).
//! - [`split`]: a weighted split of a route between backends (canary, strangler fig),
//!   per request or sticky by a key, re-weighted at runtime (Envoy's
//!   `weighted_clusters` and runtime fractions).
//! - [`auth`]: credential checks, local or by a remote auth service with a token
//!   cache, failing open or closed when that service is unreachable (Envoy's
//!   `jwt_authn` and `ext_authz`, OAuth 2.0 token introspection).
//! - [`aggregate`]: a fan-out response of critical and optional branches: success,
//!   partial, or failed at once with the rest to cancel.
//! - [`shed`]: server-side load shedding by queue length (with hysteresis) and
//!   concurrency, answered with 503.
//!
//! Per-client and per-route rate limits are the [`rate_limit`](crate::rate_limit)
//! module's limiters, one per key, held by the world.
//!
//! # Order of the decisions
//!
//! The world applies them to each request in one fixed order, as Envoy's HTTP
//! connection manager does (overload actions before any filter; the route resolved
//! before the filters that read it; authentication before rate limiting, so that an
//! unauthenticated flood cannot spend a client's quota; the cluster picked last, by
//! the router):
//!
//! ```text
//! shed (503) → route (404) → auth (401/403) → rate limit (429) → split → forward or aggregate
//! ```
//!
//! Each step that refuses answers with a [`Status`] and the request goes no further.

pub mod aggregate;
pub mod auth;
pub mod routes;
pub mod shed;
pub mod split;
mod token_cache;

/// A gateway's own refusals, named after the HTTP status it answers with.
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::gateway::Status;
///
/// let start = Instant::now();
/// assert_eq!(Status::Unauthorized.http_code(), 401);
/// assert_eq!(Status::Unavailable.http_code(), 503);
/// let _now = start.elapsed().as_nanos() as u64;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// 401: no credential, or one that is not valid (malformed, forged, expired).
    Unauthorized,
    /// 403: the request is denied (by default also Envoy `ext_authz`'s answer when
    /// the auth service cannot be reached, see [`auth::RemoteValidation`]).
    Forbidden,
    /// 404: no route matches the request.
    NotFound,
    /// 503: the gateway sheds the request.
    Unavailable,
}

impl Status {
    /// The HTTP status code.
    pub const fn http_code(self) -> u16 {
        match self {
            Status::Unauthorized => 401,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::Unavailable => 503,
        }
    }
}

/// The SplitMix64 finalizer (Steele, Lea and Flood, "Fast splittable pseudorandom
/// number generators", 2014): a fixed bijective mixer of 64-bit keys, so that a key
/// lands in the same place on every run, platform and version. Its values are pinned
/// by a test.
pub(crate) const fn mix64(key: u64) -> u64 {
    let mut z = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix64_is_splitmix64_and_pinned() {
        // SplitMix64 seeded with 0 outputs 0xE220A8397B1DCDAF first: its first output
        // is the finalizer of 0 + γ, which is mix64(0).
        assert_eq!(mix64(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(mix64(1), mix64(1));
        assert_ne!(mix64(1), mix64(2));
    }

    #[test]
    fn status_codes() {
        let codes = [
            Status::Unauthorized,
            Status::Forbidden,
            Status::NotFound,
            Status::Unavailable,
        ]
        .map(Status::http_code);
        assert_eq!(codes, [401, 403, 404, 503]);
    }
}
