//! The compact, aligned summary printed after a run.

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
            format!("{:.3}", r.latency_ms.p50),
            format!("{:.3}", r.latency_ms.p99),
            format!("{:.3}", r.latency_ms.p999),
            format!("{:.3}", r.latency_ms.max),
        ]);
    }
    out.push('\n');
    aligned(&mut out, &rows);
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
                format!("{:.3}", c.latency_ms.p50),
                format!("{:.3}", c.latency_ms.p99),
            ]);
        }
        out.push('\n');
        aligned(&mut out, &rows);
    }
    let mut rows = vec![vec![
        "service".to_string(),
        "requests".into(),
        "ok".into(),
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
            format!("{:.3}", s.latency_ms.p50),
            format!("{:.3}", s.latency_ms.p99),
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
            ]);
        }
        out.push('\n');
        aligned(&mut out, &rows);
    }
    if !summary.requirements.is_empty() {
        out.push('\n');
        out.push_str(&super::requirements::render(&summary.requirements));
    }
    out
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
