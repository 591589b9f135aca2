//! The gateways section of the page: per gateway, one row per route and
//! backend with the figures of its `gateways` block in summary.json (what
//! the route matched and refused, and what each backend was sent and
//! answered), its credential check, and the credential invariant. Nothing
//! for a run without a gateway.

use std::fmt::Write;

use super::escape;
use super::tables::table;
use crate::report::summary::Summary;

pub(super) fn gateways(out: &mut String, s: &Summary) {
    if s.gateways.is_empty() {
        return;
    }
    out.push_str("<h2>Gateways</h2>\n");
    for (name, g) in &s.gateways {
        let _ = writeln!(out, "<h3>gateway {}</h3>", escape(name));
        let mut rows = Vec::new();
        for (route, r) in &g.routes {
            for (backend, b) in &r.backends {
                let ok = b.answered.get("ok").copied().unwrap_or(0);
                rows.push(vec![
                    escape(route),
                    r.requests.to_string(),
                    r.unauthorized.to_string(),
                    r.forbidden.to_string(),
                    r.auth_unavailable.to_string(),
                    r.rate_limited.to_string(),
                    escape(backend),
                    b.forwarded.to_string(),
                    format!("{:.2}", 100.0 * b.share),
                    ok.to_string(),
                    (b.answered.values().sum::<u64>() - ok).to_string(),
                ]);
            }
        }
        table(
            out,
            &[
                "route",
                "requests",
                "401",
                "403",
                "auth unavailable",
                "429",
                "backend",
                "forwarded",
                "share %",
                "answered ok",
                "answered otherwise",
            ],
            &rows,
            &[0, 6],
        );
        let _ = writeln!(
            out,
            "<p>{} not routed (404); {} not forwarded because the client had given up.</p>",
            g.not_found, g.client_gone
        );
        for (route, r) in &g.routes {
            if let Some(l) = &r.global_limit {
                let _ = writeln!(
                    out,
                    "<p>The rate limit of route {}, kept by {}: {} checks, {} under the limit, {} over it (429), {} without an answer ({} forwarded, {} refused).</p>",
                    escape(route),
                    escape(&l.service),
                    l.checks,
                    l.ok,
                    l.over_limit,
                    l.error,
                    l.failure_mode_allowed,
                    l.failure_mode_denied
                );
            }
        }
        if let Some(a) = &g.auth {
            let _ = writeln!(
                out,
                "<p>Credentials checked {}: {} calls to the auth service, {} answered from the cache, {} forwarded fail-open, {} refused because the auth service could not be reached.</p>",
                if a.validation == "remote" {
                    "by the auth service"
                } else {
                    "by the gateway"
                },
                a.remote_checks,
                a.cache_hits,
                a.forwarded_fail_open,
                a.refused_on_error
            );
        }
    }
    for (name, l) in &s.rate_limit_services {
        let _ = writeln!(
            out,
            "<p>Rate limit service {}: {} buckets, {} checks decided ({} over the limit), {} answered without a bucket.</p>",
            escape(name),
            l.buckets,
            l.checks,
            l.over_limit,
            l.unkeyed
        );
    }
    if let Some(c) = &s.credential_check {
        let _ = writeln!(
            out,
            "<p>Credential invariant: {} deliveries to backends checked ({} of orphan work unchecked), {} expired tokens forwarded fail-open, {} violations.</p>",
            c.checked, c.unchecked, c.forwarded_fail_open, c.violations
        );
    }
}
