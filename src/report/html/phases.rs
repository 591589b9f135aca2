//! The page's section on the fault timeline's consequences: the metastable
//! flag, each fault's time to recover (or why it has none), and every
//! route's and service's outcomes by phase (definitions in docs/scenarios.md,
//! "Phases and recovery").

use std::fmt::Write;

use super::escape;
use crate::metrics::LatencySummary;
use crate::report::summary::Summary;

/// A percentile cell: 3 decimals, `*` when it rests on too few samples.
fn percentile(latency: &LatencySummary, name: &str, value: f64) -> String {
    let thin = latency.too_few_samples.contains(&name);
    format!("{value:.3}{}", if thin { "*" } else { "" })
}

/// Writes a plain table (cells already escaped); column 0 and
/// `text_columns` left-aligned.
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>], text_columns: &[usize]) {
    out.push_str("<div class=\"scroll\"><table>\n<thead><tr>");
    for (i, h) in header.iter().enumerate() {
        let class = if text_columns.contains(&i) {
            " class=\"text\""
        } else {
            ""
        };
        let _ = write!(out, "<th{class}>{h}</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let class = if text_columns.contains(&i) {
                " class=\"text\""
            } else {
                ""
            };
            let _ = write!(out, "<td{class}>{cell}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table></div>\n");
}

/// The "Recovery and phases" section; nothing for a run of one phase
/// without faults.
pub(super) fn phases_section(out: &mut String, s: &Summary) {
    if s.phases.len() < 2 && s.recovery.faults.is_empty() {
        return;
    }
    out.push_str("<h2>Recovery and phases</h2>\n");
    let r = &s.recovery;
    if s.metastable {
        out.push_str(
            "<p class=\"incomplete\">Metastable: a fault ended and the system did not \
             recover by the end of the run.</p>\n",
        );
    }
    let _ = writeln!(
        out,
        "<p class=\"note\">Recovered: every route back within {} point of its success ratio \
         before the fault and its p99 within {}% (or {} ms) of it, for {} windows in a row; \
         time to recover runs from the fault's end to the first of those windows. A request \
         counts in the phase it was sent in (a service's, the phase it arrived in). \
         <code>*</code>: a percentile from fewer than 10 samples above it.</p>",
        r.success_tolerance * 100.0,
        ((r.p99_ratio - 1.0) * 100.0).round(),
        r.p99_floor_ms,
        r.windows
    );
    if !r.faults.is_empty() {
        let rows: Vec<Vec<String>> = r
            .faults
            .iter()
            .map(|f| {
                let outcome = match (f.status, f.reason) {
                    ("not_recovered", _) => "<b>not recovered</b>".to_string(),
                    (_, Some(reason)) => format!("not measurable: {}", reason.replace('_', " ")),
                    (status, None) => status.replace('_', " "),
                };
                vec![
                    (f.fault + 1).to_string(),
                    escape(f.kind),
                    escape(&f.target),
                    outcome,
                    f.time_to_recover_s
                        .map_or_else(|| "–".to_string(), |t| format!("{t:.3}")),
                ]
            })
            .collect();
        table(
            out,
            &["#", "kind", "target", "recovery", "time to recover s"],
            &rows,
            &[1, 2, 3],
        );
    }
    if s.phases.len() < 2 {
        return;
    }
    let mut rows = Vec::new();
    for (i, phase) in s.phases.iter().enumerate() {
        let entities = phase
            .routes
            .iter()
            .map(|(n, o)| (format!("route {n}"), o))
            .chain(phase.services.iter().map(|(n, o)| (n.clone(), o)));
        for (k, (name, o)) in entities.enumerate() {
            let first = k == 0;
            let l = &o.latency_ms;
            rows.push(vec![
                if first {
                    (i + 1).to_string()
                } else {
                    String::new()
                },
                if first {
                    escape(&phase.label)
                } else {
                    String::new()
                },
                if first {
                    format!("{:.1}", phase.start_s)
                } else {
                    String::new()
                },
                if first {
                    format!("{:.1}", phase.end_s)
                } else {
                    String::new()
                },
                escape(&name),
                o.requests.to_string(),
                format!("{:.2}", o.success_ratio * 100.0),
                o.late_successes
                    .map_or_else(|| "–".to_string(), |n| n.to_string()),
                percentile(l, "p50", l.p50),
                percentile(l, "p99", l.p99),
            ]);
        }
    }
    table(
        out,
        &[
            "phase",
            "what",
            "from s",
            "to s",
            "route / service",
            "requests",
            "ok %",
            "late",
            "p50 ms",
            "p99 ms",
        ],
        &rows,
        &[1, 4],
    );
}
