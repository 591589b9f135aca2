//! The credential invariant, checked apart from the gateways that enforce
//! it, where it matters: at every delivery to a service that is neither a
//! gateway, an auth service nor a rate limit service, in a world where some
//! gateway checks credentials ([`CredentialGuard`]). A missing or invalid
//! token there is a violation; so is an expired one, unless a gateway
//! verified it while it was still valid or forwarded it fail-open (counted
//! apart); the run stops naming the request: a gateway that forwarded it, or
//! a route of the workload that bypasses the gateways.

use crate::kernel::SimTime;
use crate::scenario::{Compiled, TokenKind};

use super::World;
use super::request::{ADMITTED_FAIL_OPEN, ADMITTED_VERIFIED};
use super::slab::Key;

/// The run's check that no request with a missing, invalid or expired
/// token reaches a service that is neither a gateway, an auth service nor a
/// rate limit service.
pub(super) struct CredentialGuard {
    /// Per service, whether it is a gateway, an auth service or a rate
    /// limit service (not checked: an auth service is asked about tokens
    /// that are not valid, a rate limit service about requests it holds no
    /// data for).
    exempt: Vec<bool>,
    counts: CredentialCheck,
}

/// The credential invariant as a run checked it, for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialCheck {
    /// Deliveries to services that are neither gateways, auth services nor
    /// rate limit services, checked.
    pub checked: u64,
    /// Deliveries of orphan work (the client request had ended), which
    /// carry no token to read.
    pub unchecked: u64,
    /// Deliveries of an expired token that a gateway forwarded on a stale
    /// cached answer (fail-open): allowed, counted apart.
    pub forwarded_fail_open: u64,
    /// Deliveries of a request whose token was missing or invalid, or
    /// expired and never verified while valid nor forwarded fail-open: 0,
    /// or the run stopped on them.
    pub violations: u64,
}

impl CredentialGuard {
    /// The guard of a world where some gateway checks credentials.
    pub(super) fn new(compiled: &Compiled) -> Option<Box<CredentialGuard>> {
        compiled.checks_credentials().then(|| {
            let mut exempt: Vec<bool> = compiled.gateways().iter().map(Option::is_some).collect();
            for auth in compiled
                .gateways()
                .iter()
                .flatten()
                .filter_map(|g| g.auth.as_ref())
            {
                if let Some(call) = &auth.service {
                    exempt[call.service as usize] = true;
                }
            }
            // A rate limit service is asked about requests before any
            // credential check downstream has seen them: it holds no data.
            for limit in compiled
                .gateways()
                .iter()
                .flatten()
                .flat_map(|g| &g.routes)
                .filter_map(|r| r.rate_limit.as_ref()?.global.as_ref())
            {
                exempt[limit.call.service as usize] = true;
            }
            Box::new(CredentialGuard {
                exempt,
                counts: CredentialCheck::default(),
            })
        })
    }
}

impl World<'_> {
    /// The credential invariant, at the delivery of `job_key` to a service
    /// that is neither a gateway, an auth service nor a rate limit service:
    /// its request's token is valid, or was verified while valid, or was
    /// forwarded fail-open;
    /// otherwise the run stops naming the request. Out of line, so that the
    /// delivery of a world without auth stays small enough to inline.
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
        if job.origin != super::Origin::Call || guard.exempt[service as usize] {
            return;
        }
        let Some(context) = self.requests.get(job.request).copied() else {
            guard.counts.unchecked += 1;
            return;
        };
        guard.counts.checked += 1;
        let (_, token, expires_at) = self.clients.credential(context.client, now);
        let fine = match token {
            TokenKind::Valid => true,
            TokenKind::Missing | TokenKind::Invalid => false,
            // Expired on its way here, after a gateway verified it; or
            // forwarded on a stale answer during an outage.
            TokenKind::Expired => {
                let fail_open = context.admitted & ADMITTED_FAIL_OPEN != 0;
                guard.counts.forwarded_fail_open += u64::from(fail_open);
                fail_open
                    || (expires_at != SimTime::MAX && context.admitted & ADMITTED_VERIFIED != 0)
            }
        };
        if fine {
            return;
        }
        guard.counts.violations += 1;
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
        self.violate(
            now,
            crate::world::stop::Invariant::Credential,
            entity,
            cause,
        );
    }

    /// The credential invariant's counts (none: no gateway checks them).
    pub(super) fn credential_check(&self) -> Option<CredentialCheck> {
        self.guard.as_deref().map(|g| g.counts.clone())
    }
}
