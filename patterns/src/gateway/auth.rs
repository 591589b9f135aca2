//! A gateway's credential check: forward the request, refuse it with 401 or 403, or
//! ask the auth service first.
//!
//! Each request carries a [`Credential`] of one of four classes. Two ways to check it:
//!
//! - **Local** ([`Validation::Local`]), as Envoy's `jwt_authn` filter verifying a JWT
//!   against keys it holds (`envoy/extensions/filters/http/jwt_authn/v3/config.proto`;
//!   the statuses in `source/extensions/filters/http/jwt_authn/`): a missing token is
//!   401 (`Jwt is missing`), a malformed or forged one 401 (`Jwt verification
//!   fails`), an expired one 401 (`Jwt is expired`); a valid one is forwarded.
//! - **Remote** ([`Validation::Remote`]), as Envoy's `ext_authz` filter or an OAuth 2.0
//!   token introspection endpoint (RFC 7662) for opaque tokens: the gateway sees only
//!   whether a token is present (missing is 401 at once, never asked about); for any
//!   other it asks the auth service ([`Verdict::NeedRemote`]) unless a fresh answer
//!   for the token is cached, and the owner reports the answer
//!   ([`Authenticator::handle_remote_answer`]). An inactive token is 401 (RFC 6750
//!   `invalid_token`); an active one is forwarded and its answer cached for
//!   `cache_ttl`, but never past the token's own expiry, which the answer carries (RFC
//!   7662's `exp`), so a cached answer cannot outlive the token.
//!
//! The mapping, in one place: 401 for every credential that is missing, invalid or
//! expired (Envoy's `jwt_authn`, RFC 6750); 403 only when the auth service cannot be
//! reached and the check fails closed (Envoy `ext_authz`'s `status_on_error`, 403 by
//! default; [`RemoteValidation::status_on_error`] may make it 503). A 403 for a valid
//! token that lacks a permission (`ext_authz` denial, `jwt_authn`'s audiences) needs
//! permissions per route, which the credential classes do not carry.
//!
//! # When the auth service is unreachable
//!
//! [`FailureMode::Closed`] refuses every token without a fresh cached answer.
//! [`FailureMode::Open`] (Envoy's `failure_mode_allow`, narrowed) forwards only a token
//! whose last answer was *active* and is still in the cache, fresh or stale by at most
//! `max_stale` (HTTP's `stale-if-error`, RFC 5861); every such request is a
//! [`Verdict::ForwardFailOpen`] and counted apart. It is the one way an expired token
//! reaches a backend: one that was active when last asked about and has expired since.
//! Missing and invalid tokens are never forwarded, in any mode and any interleaving of
//! outages and cache states (a property test below).
//!
//! # Bounds
//!
//! The cache holds at most `cache_capacity` answers (at most [`MAX_CACHE_CAPACITY`]),
//! allocated at construction; when it is full the least recently used answer is
//! evicted (Envoy's `jwt_cache_config` is an LRU of 100 by default), stale or not, so a
//! token evicted during an outage is refused even under fail-open. Answers are cached
//! by `token_key`, which must identify the token (meshsim uses the client's token id):
//! two tokens with one key would share an answer.
//!
//! Simplified on purpose: requests for the same token while a remote check is under
//! way each ask again (no coalescing, as `ext_authz`); negative answers are cached for
//! `cache_ttl` like positive ones; no clock skew, audiences, scopes or key rotation.

use std::time::Duration;

use super::Status;
use super::token_cache::{Answer, TokenCache};
use crate::{ConfigError, Nanos, nanos_of};

/// The most answers a token cache may hold (a meshsim bound).
pub const MAX_CACHE_CAPACITY: usize = 1 << 20;

/// The class of a request's credential: what is true of the token it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Credential {
    /// A genuine token within its lifetime.
    Valid,
    /// No token at all.
    Missing,
    /// A token that is not genuine: malformed, forged, or revoked.
    Invalid,
    /// A genuine token past its expiry.
    Expired,
}

/// What to do when the auth service cannot be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureMode {
    /// Refuse every token without a fresh cached answer.
    Closed,
    /// Forward a token whose cached answer was active, up to `max_stale` past its
    /// freshness (`Duration::MAX`: as long as it stays in the cache).
    Open {
        /// How long past its freshness an active answer still admits.
        max_stale: Duration,
    },
}

/// Remote validation with a token cache.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::gateway::Status;
/// use meshsim_patterns::gateway::auth::{FailureMode, RemoteValidation};
///
/// let start = Instant::now();
/// let config = RemoteValidation::default();
/// assert_eq!(config.cache_capacity, 100);
/// assert_eq!(config.failure_mode, FailureMode::Closed);
/// assert_eq!(config.status_on_error, Status::Forbidden);
/// let _now = start.elapsed().as_nanos() as u64;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteValidation {
    /// How long an answer is used without asking again (meshsim's default 30 s; a
    /// positive answer never past the token's expiry); at least 1 ns.
    pub cache_ttl: Duration,
    /// How many answers are kept (Envoy's `jwt_cache_size`, 100); 1 to
    /// [`MAX_CACHE_CAPACITY`].
    pub cache_capacity: usize,
    /// What an unreachable auth service means.
    pub failure_mode: FailureMode,
    /// The refusal when the auth service cannot be reached and nothing cached admits
    /// the token: [`Status::Forbidden`] (Envoy's default) or [`Status::Unavailable`].
    pub status_on_error: Status,
}

impl Default for RemoteValidation {
    fn default() -> Self {
        RemoteValidation {
            cache_ttl: Duration::from_secs(30),
            cache_capacity: 100,
            failure_mode: FailureMode::Closed,
            status_on_error: Status::Forbidden,
        }
    }
}

/// How a gateway checks credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validation {
    /// At the gateway itself (a JWT and its keys): never asks anyone.
    Local,
    /// By the auth service, with a cache.
    Remote(RemoteValidation),
}

/// What the auth service answered about a token, or that it could not be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteAnswer {
    /// The token is active until `expires_at` (exclusive).
    Active {
        /// The token's expiry (RFC 7662 `exp`).
        expires_at: Nanos,
    },
    /// The token is not active: invalid, revoked or expired.
    Inactive,
    /// No answer: the call failed or timed out.
    Unreachable,
}

/// What to do with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Forward it: the credential was verified (locally, by the auth service, or by a
    /// fresh cached answer).
    Forward,
    /// Forward it on a stale cached answer because the auth service is unreachable and
    /// the check fails open.
    ForwardFailOpen,
    /// Refuse it with this status.
    Reject(Status),
    /// Ask the auth service, then report with
    /// [`Authenticator::handle_remote_answer`].
    NeedRemote,
}

impl Verdict {
    /// Whether the request goes to a backend.
    pub const fn forwards(self) -> bool {
        matches!(self, Verdict::Forward | Verdict::ForwardFailOpen)
    }
}

/// What an [`Authenticator`] has decided so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthCounts {
    /// Requests forwarded on a verified credential.
    pub forwarded: u64,
    /// Requests forwarded on a stale answer during an outage (fail-open).
    pub forwarded_fail_open: u64,
    /// Requests refused with 401.
    pub unauthorized: u64,
    /// Requests refused because the auth service could not be reached.
    pub refused_on_error: u64,
    /// Decisions that asked the auth service.
    pub remote_checks: u64,
    /// Decisions answered by a fresh cached answer.
    pub cache_hits: u64,
    /// Answers evicted from a full cache.
    pub cache_evictions: u64,
}

#[derive(Clone, Copy, Debug)]
struct Remote {
    ttl: Nanos,
    max_stale: Option<Nanos>,
    status_on_error: Status,
}

/// A gateway's credential check (see the module documentation).
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::gateway::Status;
/// use meshsim_patterns::gateway::auth::{
///     Authenticator, Credential, FailureMode, RemoteAnswer, RemoteValidation, Validation, Verdict,
/// };
///
/// let start = Instant::now();
/// let sec = 1_000_000_000;
/// let config = RemoteValidation {
///     failure_mode: FailureMode::Open { max_stale: Duration::from_secs(300) },
///     ..RemoteValidation::default()
/// };
/// let mut auth = Authenticator::new(Validation::Remote(config))?;
/// let now = start.elapsed().as_nanos() as u64;
/// let token = 7;
///
/// assert_eq!(auth.decide(now, Credential::Missing, 0), Verdict::Reject(Status::Unauthorized));
/// // First sight of the token: ask; the answer is cached for 30 s.
/// assert_eq!(auth.decide(now, Credential::Valid, token), Verdict::NeedRemote);
/// let active = RemoteAnswer::Active { expires_at: now + 3600 * sec };
/// assert_eq!(auth.handle_remote_answer(now, token, active), Verdict::Forward);
/// assert_eq!(auth.decide(now + sec, Credential::Valid, token), Verdict::Forward);
/// // 40 s later the answer is stale and the auth service is down: fail open.
/// let later = now + 40 * sec;
/// assert_eq!(auth.decide(later, Credential::Valid, token), Verdict::NeedRemote);
/// assert_eq!(
///     auth.handle_remote_answer(later, token, RemoteAnswer::Unreachable),
///     Verdict::ForwardFailOpen
/// );
/// assert_eq!(auth.counts().forwarded_fail_open, 1);
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Authenticator {
    remote: Option<(Remote, TokenCache)>,
    counts: AuthCounts,
    last_now: Nanos,
}

impl Authenticator {
    /// A credential check by `validation`.
    pub fn new(validation: Validation) -> Result<Authenticator, ConfigError> {
        let remote = match validation {
            Validation::Local => None,
            Validation::Remote(config) => {
                let error = |field, reason| Err(ConfigError::new("gateway.auth", field, reason));
                if config.cache_ttl.is_zero() {
                    return error("cache_ttl", "must be positive");
                }
                if config.cache_capacity == 0 || config.cache_capacity > MAX_CACHE_CAPACITY {
                    return error("cache_capacity", "must be between 1 and 1048576");
                }
                if !matches!(
                    config.status_on_error,
                    Status::Forbidden | Status::Unavailable
                ) {
                    return error("status_on_error", "must be 403 or 503");
                }
                let max_stale = match config.failure_mode {
                    FailureMode::Closed => None,
                    FailureMode::Open { max_stale } => Some(nanos_of(max_stale)),
                };
                let remote = Remote {
                    ttl: nanos_of(config.cache_ttl),
                    max_stale,
                    status_on_error: config.status_on_error,
                };
                Some((remote, TokenCache::new(config.cache_capacity)))
            }
        };
        Ok(Authenticator {
            remote,
            counts: AuthCounts::default(),
            last_now: 0,
        })
    }

    /// What has been decided so far.
    pub fn counts(&self) -> AuthCounts {
        let mut counts = self.counts;
        if let Some((_, cache)) = &self.remote {
            counts.cache_evictions = cache.evictions();
        }
        counts
    }

    /// How many answers the cache holds (0 for local validation).
    pub fn cached(&self) -> usize {
        self.remote.as_ref().map_or(0, |(_, cache)| cache.len())
    }

    /// The decision at `now` for a request carrying `credential`, whose token (if it
    /// has one) is identified by `token_key`. Under remote validation only whether a
    /// token is present is seen here; the rest is the auth service's to say.
    pub fn decide(&mut self, now: Nanos, credential: Credential, token_key: u64) -> Verdict {
        self.advance(now);
        let verdict = match (&mut self.remote, credential) {
            (_, Credential::Missing) => Verdict::Reject(Status::Unauthorized),
            (None, Credential::Valid) => Verdict::Forward,
            (None, Credential::Invalid | Credential::Expired) => {
                Verdict::Reject(Status::Unauthorized)
            }
            (Some((_, cache)), _) => match cache.get(token_key) {
                Some(answer) if now < answer.fresh_until => {
                    self.counts.cache_hits += 1;
                    fresh_verdict(answer)
                }
                _ => Verdict::NeedRemote,
            },
        };
        self.count(verdict);
        verdict
    }

    /// The auth service's `answer` about `token_key`, reported at `now` for a request
    /// that [`Authenticator::decide`] sent to it; returns that request's verdict
    /// (never [`Verdict::NeedRemote`]). An answer is cached; an unreachable service
    /// changes nothing in the cache.
    ///
    /// # Panics
    ///
    /// In debug builds, under local validation (which never asks).
    pub fn handle_remote_answer(
        &mut self,
        now: Nanos,
        token_key: u64,
        answer: RemoteAnswer,
    ) -> Verdict {
        self.advance(now);
        let Some((remote, cache)) = &mut self.remote else {
            debug_assert!(false, "a remote answer under local validation");
            return Verdict::Reject(Status::Forbidden);
        };
        let verdict = match answer {
            RemoteAnswer::Active { expires_at } => {
                let answer = Answer {
                    allowed: true,
                    fresh_until: now.saturating_add(remote.ttl).min(expires_at),
                };
                cache.insert(token_key, answer);
                // Active when the service looked, but expired by the time its answer
                // came back: refused, like any expired token.
                if now < expires_at {
                    Verdict::Forward
                } else {
                    Verdict::Reject(Status::Unauthorized)
                }
            }
            RemoteAnswer::Inactive => {
                let answer = Answer {
                    allowed: false,
                    fresh_until: now.saturating_add(remote.ttl),
                };
                cache.insert(token_key, answer);
                Verdict::Reject(Status::Unauthorized)
            }
            RemoteAnswer::Unreachable => match cache.get(token_key) {
                // Another request's answer may have arrived meanwhile.
                Some(answer) if now < answer.fresh_until => fresh_verdict(answer),
                Some(answer)
                    if answer.allowed
                        && remote.max_stale.is_some_and(|max_stale| {
                            now < answer.fresh_until.saturating_add(max_stale)
                        }) =>
                {
                    Verdict::ForwardFailOpen
                }
                _ => Verdict::Reject(remote.status_on_error),
            },
        };
        self.count(verdict);
        verdict
    }

    fn advance(&mut self, now: Nanos) {
        debug_assert!(now >= self.last_now, "time went backwards");
        self.last_now = self.last_now.max(now);
    }

    fn count(&mut self, verdict: Verdict) {
        let counts = &mut self.counts;
        match verdict {
            Verdict::Forward => counts.forwarded += 1,
            Verdict::ForwardFailOpen => counts.forwarded_fail_open += 1,
            Verdict::Reject(Status::Unauthorized) => counts.unauthorized += 1,
            Verdict::Reject(_) => counts.refused_on_error += 1,
            Verdict::NeedRemote => counts.remote_checks += 1,
        }
    }
}

fn fresh_verdict(answer: Answer) -> Verdict {
    if answer.allowed {
        Verdict::Forward
    } else {
        Verdict::Reject(Status::Unauthorized)
    }
}

#[cfg(test)]
mod tests;
