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
        if summary.completed {
            ""
        } else {
            "  INCOMPLETE: event budget exhausted"
        }
    );
    let mut rows = vec![vec![
        "route".to_string(),
        "requests".into(),
        "ok %".into(),
        "error".into(),
        "rejected".into(),
        "timeout".into(),
        "p50 ms".into(),
        "p99 ms".into(),
        "p99.9 ms".into(),
        "max ms".into(),
    ]];
    for (name, r) in &summary.routes {
        rows.push(vec![
            name.clone(),
            r.requests.to_string(),
            format!("{:.2}", r.success_ratio * 100.0),
            r.failures.error.to_string(),
            r.failures.rejected.to_string(),
            r.failures.timeout.unwrap_or(0).to_string(),
            format!("{:.3}", r.latency_ms.p50),
            format!("{:.3}", r.latency_ms.p99),
            format!("{:.3}", r.latency_ms.p999),
            format!("{:.3}", r.latency_ms.max),
        ]);
    }
    out.push('\n');
    aligned(&mut out, &rows);
    let mut rows = vec![vec![
        "service".to_string(),
        "requests".into(),
        "ok".into(),
        "error".into(),
        "dependency".into(),
        "rejected".into(),
        "dropped".into(),
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
            format!("{:.1}", s.utilisation * 100.0),
            format!("{:.3}", s.mean_in_system),
            format!("{:.3}", s.mean_in_queue),
            format!("{:.3}", s.latency_ms.p50),
            format!("{:.3}", s.latency_ms.p99),
        ]);
    }
    out.push('\n');
    aligned(&mut out, &rows);
    out
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
