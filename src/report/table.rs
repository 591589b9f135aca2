//! The compact, aligned summary printed after a run: routes, clients,
//! services and edges, then the run by phase, each fault's recovery and the
//! metastable flag. A percentile computed from too few samples (see
//! `metrics::histogram::MIN_TAIL_SAMPLES`) is marked with `*`.

use std::fmt::Write;

use super::summary::Summary;

/// Renders the summary as aligned text tables.
pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {}  seed {}  {:.1}s simulated  {} events{}",
        summary.scenario,
        summary.seed,
        summary.duration_s,
        summary.events_processed,
        match (&summary.stop_cause, summary.completed) {
            (_, true) => String::new(),
            (Some(c), false) => format!(
                "  INCOMPLETE: stopped at {:.6}s: {}: {}",
                c.at_s, c.entity, c.cause
            ),
            (None, false) => "  INCOMPLETE: event budget exhausted".to_string(),
        }
    );
    if summary.requests_capped > 0 {
        // Loud: the run went on, but requests piled up that never ended.
        let causes: Vec<&str> = summary
            .warnings
            .iter()
            .filter(|w| w.message.contains("no timeout"))
            .map(|w| w.path.as_str())
            .collect();
        let cause = if causes.is_empty() {
            "; look for callers without a timeout and dependencies that never answer".to_string()
        } else {
            format!("; likely cause, no timeout at: {}", causes.join(", "))
        };
        let _ = writeln!(
            out,
            "WARNING: {} client requests refused at max_requests_in_flight ({}): requests in flight piled up and never ended{cause}",
            summary.requests_capped, summary.max_requests_in_flight
        );
    }
    let mut rows = vec![vec![
        "route".to_string(),
        "requests".into(),
        "ok %".into(),
        "error".into(),
        "rejected".into(),
        "timeout".into(),
        "refused".into(),
        "att/call".into(),
        "p50 ms".into(),
        "p99 ms".into(),
        "p99.9 ms".into(),
        "max ms".into(),
    ]];
    for (name, r) in &summary.routes {
        let f = &r.failures;
        rows.push(vec![
            name.clone(),
            r.requests.to_string(),
            format!("{:.2}", r.success_ratio * 100.0),
            r.failures.error.to_string(),
            r.failures.rejected.to_string(),
            r.failures.timeout.unwrap_or(0).to_string(),
            refused(f).to_string(),
            format!("{:.2}", r.attempts.per_call),
            percentile(&r.latency_ms, "p50"),
            percentile(&r.latency_ms, "p99"),
            percentile(&r.latency_ms, "p999"),
            format!("{:.3}", r.latency_ms.max),
        ]);
    }
    out.push('\n');
    aligned(&mut out, &rows);
    statuses(&mut out, summary);
    degraded(&mut out, summary);
    if !summary.clients.is_empty() {
        let mut rows = vec![vec![
            "client".to_string(),
            "credential".into(),
            "requests".into(),
            "ok %".into(),
            "error".into(),
            "rejected".into(),
            "timeout".into(),
            "refused".into(),
            "p50 ms".into(),
            "p99 ms".into(),
        ]];
        for (name, c) in &summary.clients {
            let f = &c.failures;
            rows.push(vec![
                name.clone(),
                c.credential.clone(),
                c.requests.to_string(),
                format!("{:.2}", c.success_ratio * 100.0),
                f.error.to_string(),
                f.rejected.to_string(),
                f.timeout.unwrap_or(0).to_string(),
                refused(f).to_string(),
                percentile(&c.latency_ms, "p50"),
                percentile(&c.latency_ms, "p99"),
            ]);
        }
        out.push('\n');
        aligned(&mut out, &rows);
    }
    let mut rows = vec![vec![
        "service".to_string(),
        "requests".into(),
        "ok".into(),
        "late".into(),
        "error".into(),
        "dependency".into(),
        "rejected".into(),
        "dropped".into(),
        "expired".into(),
        "cancelled".into(),
        "ampl".into(),
        "util %".into(),
        "L".into(),
        "Lq".into(),
        "p50 ms".into(),
        "p99 ms".into(),
    ]];
    for (name, s) in &summary.services {
        rows.push(vec![
            name.clone(),
            s.requests.to_string(),
            s.successes.to_string(),
            s.late_successes.to_string(),
            s.failures.error.to_string(),
            s.failures.dependency.unwrap_or(0).to_string(),
            s.failures.rejected.to_string(),
            s.failures.dropped.unwrap_or(0).to_string(),
            s.failures.expired.unwrap_or(0).to_string(),
            s.failures.cancelled.unwrap_or(0).to_string(),
            format!("{:.2}", s.amplification),
            format!("{:.1}", s.utilisation * 100.0),
            format!("{:.3}", s.mean_in_system),
            format!("{:.3}", s.mean_in_queue),
            percentile(&s.latency_ms, "p50"),
            percentile(&s.latency_ms, "p99"),
        ]);
    }
    out.push('\n');
    aligned(&mut out, &rows);
    if !summary.edges.is_empty() {
        let mut rows = vec![vec![
            "edge".to_string(),
            "calls".into(),
            "ok %".into(),
            "error".into(),
            "rejected".into(),
            "timeout".into(),
            "refused".into(),
            "retries".into(),
            "denied".into(),
            "hedges".into(),
            "att/call".into(),
            "breaker trips".into(),
            "in flight".into(),
            "for nobody".into(),
            "call p99 ms".into(),
            "att p99 ms".into(),
        ]];
        for (name, e) in &summary.edges {
            let f = &e.failures;
            let trips: u64 = e
                .breakers
                .as_ref()
                .map(|b| {
                    b.transitions
                        .iter()
                        .filter(|(k, _)| k.ends_with("->open"))
                        .map(|(_, n)| n)
                        .sum()
                })
                .unwrap_or(0);
            rows.push(vec![
                name.clone(),
                e.calls.to_string(),
                format!(
                    "{:.2}",
                    if e.calls > 0 {
                        e.successes as f64 * 100.0 / e.calls as f64
                    } else {
                        0.0
                    }
                ),
                f.error.to_string(),
                f.rejected.to_string(),
                f.timeout.unwrap_or(0).to_string(),
                refused(f).to_string(),
                e.attempts.retries.to_string(),
                e.attempts.retries_denied.to_string(),
                e.attempts.hedges.to_string(),
                format!("{:.2}", e.attempts.per_call),
                trips.to_string(),
                e.in_flight_at_end.to_string(),
                e.completed_for_nobody
                    .map_or_else(|| "-".to_string(), |n| n.to_string()),
                percentile(&e.call_latency_ms, "p99"),
                percentile(&e.attempt_latency_ms, "p99"),
            ]);
        }
        out.push('\n');
        aligned(&mut out, &rows);
    }
    sagas(&mut out, summary);
    phases(&mut out, summary);
    recovery(&mut out, summary);
    if !summary.requirements.is_empty() {
        out.push('\n');
        out.push_str(&super::requirements::render(&summary.requirements));
    }
    out
}

/// One row per saga orchestrator: how its sagas ended and how long they
/// took; nothing without one.
fn sagas(out: &mut String, summary: &Summary) {
    if summary.sagas.is_empty() {
        return;
    }
    let mut rows = vec![
        [
            "saga",
            "started",
            "completed",
            "compensated",
            "dead-lettered",
            "running",
            "recovered",
            "refused",
            "p50 ms",
            "p99 ms",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for (name, x) in &summary.sagas {
        rows.push(vec![
            name.clone(),
            x.started.to_string(),
            x.completed.to_string(),
            x.compensated.to_string(),
            x.dead_lettered.total.to_string(),
            x.stuck.to_string(),
            x.recovered.to_string(),
            x.refused.to_string(),
            percentile(&x.duration_ms, "p50"),
            percentile(&x.duration_ms, "p99"),
        ]);
    }
    out.push('\n');
    aligned(out, &rows);
}

/// A percentile (`p50`, `p99`...) with 3 decimals, marked `*` when it rests
/// on too few samples.
fn percentile(latency: &crate::metrics::LatencySummary, name: &str) -> String {
    let value = match name {
        "p50" => latency.p50,
        "p90" => latency.p90,
        "p99" => latency.p99,
        _ => latency.p999,
    };
    let thin = latency.too_few_samples.contains(&name);
    format!("{value:.3}{}", if thin { "*" } else { "" })
}

/// The run by phase, when it has more than one: the phases listed with
/// their spans and what they are (numbered from 1, as faults are), then a table of each phase's routes and
/// services (labels can be long: a column of them would widen every row).
fn phases(out: &mut String, summary: &Summary) {
    if summary.phases.len() < 2 {
        return;
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "phases (a request counts in the phase it was sent in):"
    );
    for (i, phase) in summary.phases.iter().enumerate() {
        let span = format!("{:.1}-{:.1} s", phase.start_s, phase.end_s);
        let number = i + 1;
        let _ = writeln!(
            out,
            "{number:>3}  {span:<15}  {}{}",
            phase.label,
            if phase.merged {
                " (and every later phase)"
            } else {
                ""
            }
        );
    }
    let mut rows = vec![vec![
        "phase".to_string(),
        "route/service".into(),
        "requests".into(),
        "ok %".into(),
        "late".into(),
        "p50 ms".into(),
        "p99 ms".into(),
    ]];
    for (i, phase) in summary.phases.iter().enumerate() {
        let entities = phase
            .routes
            .iter()
            .map(|(n, o)| (format!("route {n}"), o))
            .chain(phase.services.iter().map(|(n, o)| (n.clone(), o)));
        for (k, (name, o)) in entities.enumerate() {
            rows.push(vec![
                if k == 0 {
                    (i + 1).to_string()
                } else {
                    String::new()
                },
                name,
                o.requests.to_string(),
                format!("{:.2}", o.success_ratio * 100.0),
                o.late_successes
                    .map_or_else(|| "-".to_string(), |n| n.to_string()),
                percentile(&o.latency_ms, "p50"),
                percentile(&o.latency_ms, "p99"),
            ]);
        }
    }
    out.push('\n');
    aligned(out, &rows);
}

/// One line per fault: its time to recover, or why it has none; and the
/// metastable flag, loud.
fn recovery(out: &mut String, summary: &Summary) {
    if summary.recovery.faults.is_empty() {
        return;
    }
    out.push('\n');
    for f in &summary.recovery.faults {
        let what = match (f.status, f.time_to_recover_s, f.reason) {
            ("recovered", Some(t), _) => format!("recovered {t:.1}s after it ended"),
            ("not_recovered", _, _) => "NOT RECOVERED by the end of the run".to_string(),
            (_, _, Some(reason)) => format!("not measurable ({})", reason.replace('_', " ")),
            _ => f.status.to_string(),
        };
        let _ = writeln!(
            out,
            "fault #{} ({} {}): {what}",
            f.fault + 1,
            f.kind,
            f.target
        );
    }
    if summary.metastable {
        let _ = writeln!(
            out,
            "METASTABLE: the system did not recover after a fault ended (back within {} point of its success ratio and {}% or {} ms of its p99 for {} windows)",
            summary.recovery.success_tolerance * 100.0,
            ((summary.recovery.p99_ratio - 1.0) * 100.0).round(),
            summary.recovery.p99_floor_ms,
            summary.recovery.windows
        );
    }
}

/// The routes' degraded successes (a fallback answered), when some route
/// had one.
fn degraded(out: &mut String, summary: &Summary) {
    if summary.routes.values().all(|r| r.degraded == 0) {
        return;
    }
    let mut rows = vec![vec![
        "route".to_string(),
        "ok".into(),
        "degraded".into(),
        "of ok %".into(),
    ]];
    for (name, r) in &summary.routes {
        rows.push(vec![
            name.clone(),
            r.successes.to_string(),
            r.degraded.to_string(),
            format!(
                "{:.2}",
                100.0 * r.degraded as f64 / r.successes.max(1) as f64
            ),
        ]);
    }
    out.push_str("\ndegraded successes: a fallback answered for a failed call on the way\n");
    aligned(out, &rows);
}

/// The routes' requests by status, when some route saw a status that the
/// table above counts with others (401, 403 and 404 with the errors, 429
/// with the rejections, 504 with the timeouts): a column per status seen.
fn statuses(out: &mut String, summary: &Summary) {
    const GROUPED: [&str; 5] = [
        "unauthorized",
        "forbidden",
        "not_found",
        "too_many_requests",
        "gateway_timeout",
    ];
    let seen = |status: &str| {
        summary
            .routes
            .values()
            .any(|r| r.statuses.iter().any(|s| s.status == status))
    };
    if !GROUPED.iter().any(|s| seen(s)) {
        return;
    }
    let columns: Vec<(&str, Option<u16>)> = crate::world::Status::ALL
        .iter()
        .filter(|s| seen(s.name()))
        .map(|s| (s.name(), s.http_code()))
        .collect();
    let mut rows = vec![
        std::iter::once("route by status".to_string())
            .chain(columns.iter().map(|(name, http)| match http {
                Some(code) => code.to_string(),
                None => (*name).to_string(),
            }))
            .collect::<Vec<_>>(),
    ];
    for (name, r) in &summary.routes {
        let count = |status: &str| {
            r.statuses
                .iter()
                .find(|s| s.status == status)
                .map_or(0, |s| s.count)
        };
        rows.push(
            std::iter::once(name.clone())
                .chain(columns.iter().map(|(status, _)| count(status).to_string()))
                .collect(),
        );
    }
    out.push('\n');
    aligned(out, &rows);
}

/// Calls refused locally: open breaker, full bulkhead, throttle, rate limit.
fn refused(f: &super::summary::Failures) -> u64 {
    f.breaker_open.unwrap_or(0)
        + f.bulkhead_full.unwrap_or(0)
        + f.throttled.unwrap_or(0)
        + f.rate_limited.unwrap_or(0)
        + f.capped.unwrap_or(0)
}

/// Left-aligns the first column and right-aligns the numbers.
fn aligned(out: &mut String, rows: &[Vec<String>]) {
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        for (c, cell) in row.iter().enumerate() {
            if c == 0 {
                let _ = write!(out, "{cell:<width$}", width = widths[c]);
            } else {
                let _ = write!(out, "  {cell:>width$}", width = widths[c]);
            }
        }
        out.push('\n');
    }
}
