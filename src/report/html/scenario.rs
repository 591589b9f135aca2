//! The scenario section of the page, before the results: the services and
//! their calls, the workload (arrivals or users, the rate schedule, the
//! named clients, the routes), the policies in words and the faults, every
//! name escaped.

use std::fmt::Write;

use super::escape;
use crate::scenario::{Arrivals, BudgetSpec, CallStep, Policy, RateChange, Scenario, Users};

/// The scenario before the results: services and their calls, the
/// workload, the policies and the faults, every name escaped.
pub(super) fn scenario_section(out: &mut String, scenario: &Scenario) {
    out.push_str("<h2>Scenario</h2>\n<h3>Services and their calls</h3>\n<ul class=\"scenario\">\n");
    for (name, service) in &scenario.services {
        let _ = write!(
            out,
            "<li><b>{}</b>: {} instance{} × {} worker{}, queue {}, service time <code>{}</code>",
            escape(name),
            service.instances,
            plural(u64::from(service.instances)),
            service.concurrency,
            plural(u64::from(service.concurrency)),
            service.queue_capacity,
            escape(&json(&service.service_time)),
        );
        if service.error_rate > 0.0 {
            let _ = write!(out, ", error rate {}", service.error_rate);
        }
        if !service.calls.is_empty() {
            let steps: Vec<String> = service.calls.iter().map(call_step).collect();
            let _ = write!(out, "; then calls {}", steps.join(", then "));
        }
        out.push_str("</li>\n");
    }
    out.push_str("</ul>\n<h3>Workload</h3>\n<ul class=\"scenario\">\n");
    let w = &scenario.workload;
    if let Some(text) = load(w.arrivals.as_ref(), w.users.as_ref()) {
        let _ = writeln!(out, "<li>{text}</li>");
    }
    for change in &w.schedule {
        let _ = writeln!(out, "<li>{}</li>", rate_change(change));
    }
    for client in w.clients.iter().flatten() {
        let name = escape(&client.name);
        let mix = match &client.routes {
            None => "the routes' own weights".to_string(),
            Some(weights) => {
                let total: f64 = weights.values().sum();
                let shares: Vec<String> = weights
                    .iter()
                    .filter(|(_, w)| **w > 0.0)
                    .map(|(route, w)| format!("{} {:.1}%", escape(route), w / total * 100.0))
                    .collect();
                shares.join(", ")
            }
        };
        let _ = writeln!(
            out,
            "<li>client <b>{name}</b>, credential <code>{}</code>: {}; routes: {mix}</li>",
            escape(client.credential.as_deref().unwrap_or("none")),
            load(client.arrivals.as_ref(), client.users.as_ref()).unwrap_or_default(),
        );
        for change in &client.schedule {
            let _ = writeln!(out, "<li>client <b>{name}</b> {}</li>", rate_change(change));
        }
    }
    let total: f64 = w.routes.iter().map(|r| r.weight).sum();
    for route in &w.routes {
        let name = route.name.as_deref().unwrap_or(&route.service);
        let mut text = format!("route <b>{}</b> → {}", escape(name), escape(&route.service));
        if w.clients.is_none() {
            // With clients, each client's own mix is listed above.
            let _ = write!(text, ", {:.1}% of requests", route.weight / total * 100.0);
        }
        if let Some(t) = route.timeout.or(w.timeout) {
            let _ = write!(text, ", timeout {t}");
        }
        if let Some(p) = route.policy.as_deref().or(w.policy.as_deref()) {
            let _ = write!(text, ", policy {}", escape(p));
        }
        let _ = writeln!(out, "<li>{text}</li>");
    }
    out.push_str("</ul>\n");
    if !scenario.policies.is_empty() {
        out.push_str("<h3>Policies</h3>\n<ul class=\"scenario\">\n");
        for (name, policy) in &scenario.policies {
            let _ = writeln!(
                out,
                "<li><b>{}</b>: {}</li>",
                escape(name),
                policy_pieces(policy)
            );
        }
        out.push_str("</ul>\n");
    }
    if !scenario.faults.is_empty() {
        out.push_str("<h3>Faults</h3>\n<ul class=\"scenario\">\n");
        for fault in &scenario.faults {
            let mut kind = serde_json::to_value(fault).unwrap_or_default();
            if let Some(map) = kind.as_object_mut() {
                map.retain(|k, v| k != "at" && k != "for" && !v.is_null());
            }
            let until = fault.lasts.map_or_else(
                || "the end of the run".to_string(),
                |d| format!("{}", fault.at.saturating_add(d)),
            );
            let _ = writeln!(
                out,
                "<li>from {} to {}: <code>{}</code></li>",
                fault.at,
                until,
                escape(&kind.to_string())
            );
        }
        out.push_str("</ul>\n");
    }
}

/// One client's load in words: its arrival process or its users.
fn load(arrivals: Option<&Arrivals>, users: Option<&Users>) -> Option<String> {
    match (arrivals, users) {
        (Some(Arrivals::Poisson { rate }), _) => {
            Some(format!("Poisson arrivals at {rate} requests/s"))
        }
        (Some(Arrivals::Constant { rate }), _) => {
            Some(format!("Evenly spaced arrivals at {rate} requests/s"))
        }
        (None, Some(users)) => Some(format!(
            "{} users, each thinking <code>{}</code> between a reply and its next request",
            users.count,
            escape(&json(&users.think_time))
        )),
        (None, None) => None,
    }
}

/// A change of the open-loop rate in words.
fn rate_change(change: &RateChange) -> String {
    match (change.rate, change.lasts, change.ramp_to, change.over) {
        (Some(rate), Some(lasts), _, _) => format!("at {}: {rate}/s for {lasts}", change.at),
        (Some(rate), None, _, _) => format!("at {}: {rate}/s from then on", change.at),
        (None, _, Some(to), Some(over)) => {
            format!("at {}: ramp to {to}/s over {over}", change.at)
        }
        _ => format!("at {}", change.at),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A value in compact JSON, as the scenario file writes it.
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// One call step in words, escaped.
fn call_step(step: &CallStep) -> String {
    let one = |service: &str,
               probability: f64,
               optional: bool,
               timeout: Option<crate::kernel::SimDuration>,
               policy: Option<&str>| {
        let mut text = escape(service);
        let mut notes = Vec::new();
        if probability < 1.0 {
            notes.push(format!("p = {probability}"));
        }
        if optional {
            notes.push("optional".to_string());
        }
        if let Some(t) = timeout {
            notes.push(format!("timeout {t}"));
        }
        if let Some(p) = policy {
            notes.push(format!("policy {}", escape(p)));
        }
        if !notes.is_empty() {
            let _ = write!(text, " ({})", notes.join(", "));
        }
        text
    };
    match (&step.service, &step.parallel) {
        (Some(service), _) => one(
            service,
            step.probability.unwrap_or(1.0),
            step.optional.unwrap_or(false),
            step.timeout,
            step.policy.as_deref(),
        ),
        (None, Some(group)) => {
            let calls: Vec<String> = group
                .iter()
                .map(|c| {
                    one(
                        &c.service,
                        c.probability,
                        c.optional,
                        c.timeout,
                        c.policy.as_deref(),
                    )
                })
                .collect();
            format!("in parallel [{}]", calls.join(" ‖ "))
        }
        (None, None) => String::new(),
    }
}

/// The pieces of a policy in words, outermost first.
fn policy_pieces(policy: &Policy) -> String {
    let mut pieces = Vec::new();
    if let Some(d) = policy.deadline {
        pieces.push(format!("deadline {d}"));
    }
    if let Some(r) = &policy.retry {
        pieces.push(format!("retry up to {} attempts", r.max_attempts));
    }
    if let Some(b) = &policy.budget {
        pieces.push(match b {
            BudgetSpec::Tps { retry_percent, .. } => format!("retry budget {retry_percent}%"),
            BudgetSpec::TokenBucket { max_tokens, .. } => {
                format!("retry throttling ({max_tokens} tokens)")
            }
            BudgetSpec::Adaptive { k, .. } => format!("adaptive throttling (K = {k})"),
        });
    }
    if let Some(b) = &policy.breaker {
        pieces.push(match b.consecutive_failures {
            Some(n) => format!("breaker after {n} consecutive failures"),
            None => format!("breaker at {}% failures", b.failure_rate_percent),
        });
    }
    if let Some(b) = &policy.bulkhead {
        pieces.push(format!("bulkhead of {}", b.max_concurrent));
    }
    if let Some(r) = &policy.rate_limit {
        pieces.push(format!("rate limit {}/s", r.rate));
    }
    if let Some(h) = &policy.hedge {
        pieces.push(match (h.delay, h.percentile) {
            (Some(d), _) => format!("hedge after {d}"),
            (None, Some(q)) => format!("hedge at p{q}"),
            _ => "hedge".to_string(),
        });
    }
    if let Some(t) = policy.timeout {
        pieces.push(format!("timeout {t} per attempt"));
    }
    if pieces.is_empty() {
        "nothing (an empty policy)".to_string()
    } else {
        pieces.join(" ∘ ")
    }
}
