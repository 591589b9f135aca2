//! The result tables of the page: routes, declared clients, services, and
//! the edges between services with what their policies did (attempts,
//! retries, hedges, local refusals, breakers), and the fault timeline; with
//! the cells they share and
//! the columns of refusals left out when none happened.

use std::fmt::Write;

use super::escape;
use crate::metrics::LatencySummary;
use crate::report::summary::{Attempts, BreakerSummary, Failures, Summary};

/// Writes a table like [`table`], without those of the `optional` columns
/// whose cells are all zero or empty (a local refusal that never happened),
/// and says so below the table when it left one out.
fn table_without_zeros(
    out: &mut String,
    header: &[&str],
    rows: &[Vec<String>],
    text_columns: &[usize],
    optional: &[usize],
) {
    let keep: Vec<usize> = (0..header.len())
        .filter(|i| {
            !optional.contains(i)
                || rows
                    .iter()
                    .any(|r| r.get(*i).is_some_and(|c| c != "0" && c != "–"))
        })
        .collect();
    let kept_header: Vec<&str> = keep.iter().map(|&i| header[i]).collect();
    let kept_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| keep.iter().filter_map(|&i| r.get(i).cloned()).collect())
        .collect();
    let kept_text: Vec<usize> = keep
        .iter()
        .enumerate()
        .filter(|(_, i)| text_columns.contains(i))
        .map(|(k, _)| k)
        .collect();
    table(out, &kept_header, &kept_rows, &kept_text);
    let left_out: Vec<&str> = (0..header.len())
        .filter(|i| !keep.contains(i))
        .map(|i| header[i])
        .collect();
    if !left_out.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"note\">Not shown, none in this run: {}.</p>",
            left_out.join(", ")
        );
    }
}

/// Writes a table: `header` cells (the first left-aligned), then rows whose
/// cells are already escaped; `text_columns` are left-aligned.
pub(super) fn table(
    out: &mut String,
    header: &[&str],
    rows: &[Vec<String>],
    text_columns: &[usize],
) {
    out.push_str("<div class=\"scroll\"><table>\n<thead><tr>");
    for (i, h) in header.iter().enumerate() {
        if text_columns.contains(&i) {
            let _ = write!(out, "<th class=\"text\">{h}</th>");
        } else {
            let _ = write!(out, "<th>{h}</th>");
        }
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            if text_columns.contains(&i) {
                let _ = write!(out, "<td class=\"text\">{cell}</td>");
            } else {
                let _ = write!(out, "<td>{cell}</td>");
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table></div>\n");
}

fn ms(v: f64) -> String {
    format!("{v:.3}")
}

fn latency_cells(l: &LatencySummary) -> [String; 5] {
    if l.count == 0 {
        return std::array::from_fn(|_| "–".to_string());
    }
    [ms(l.p50), ms(l.p90), ms(l.p99), ms(l.p999), ms(l.max)]
}

fn failure(value: Option<u64>) -> String {
    value.map_or_else(|| "–".to_string(), |v| v.to_string())
}

/// Columns of the local refusals of a caller (route or edge), in this
/// order: breaker open, bulkhead full, throttled, rate limited.
const REFUSALS: [&str; 4] = ["breaker open", "bulkhead full", "throttled", "rate limited"];

fn refusal_cells(f: &Failures) -> [String; 4] {
    [
        failure(f.breaker_open),
        failure(f.bulkhead_full),
        failure(f.throttled),
        failure(f.rate_limited),
    ]
}

fn attempt_cells(a: &Attempts) -> [String; 5] {
    [
        a.attempts.to_string(),
        a.retries.to_string(),
        a.hedges.to_string(),
        a.retries_denied.to_string(),
        format!("{:.2}", a.per_call),
    ]
}

/// A breaker state for people: `half_open` → `half-open`.
fn state(name: &str) -> String {
    name.replace('_', "-")
}

/// The breakers of a route or an edge in words: how many, how many open at
/// the end, and the transitions by kind.
fn breaker_cell(b: Option<&BreakerSummary>) -> String {
    let Some(b) = b else {
        return "–".to_string();
    };
    let mut text = format!("{} breaker{}", b.count, if b.count == 1 { "" } else { "s" });
    if b.open_at_end > 0 {
        let _ = write!(text, ", {} open at the end", b.open_at_end);
    }
    if b.transitions.is_empty() {
        text.push_str(", never opened");
    } else {
        let list: Vec<String> = b
            .transitions
            .iter()
            .map(|(kind, n)| match kind.split_once("->") {
                Some((from, to)) => format!(
                    "{}&nbsp;→&nbsp;{}&nbsp;{n}",
                    escape(&state(from)),
                    escape(&state(to))
                ),
                None => format!("{}&nbsp;{n}", escape(kind)),
            })
            .collect();
        let _ = write!(text, ": {}", list.join(", "));
    }
    text
}

/// The routes, in two tables that each fit the page's column at 1280 px
/// (one table of all 24 columns needed about 1450 px): what became of the
/// requests, then what the policies did and how long requests took.
pub(super) fn routes(out: &mut String, s: &Summary) {
    out.push_str("<h2>Routes</h2>\n");
    if s.routes.is_empty() {
        out.push_str("<p>No routes.</p>\n");
        return;
    }
    let outcomes: Vec<Vec<String>> = s
        .routes
        .iter()
        .map(|(name, r)| {
            let Failures {
                error,
                rejected,
                timeout,
                ..
            } = &r.failures;
            let mut row = vec![
                escape(name),
                escape(&r.service),
                r.requests.to_string(),
                format!("{:.2}", r.success_ratio * 100.0),
                error.to_string(),
                rejected.to_string(),
                failure(*timeout),
            ];
            row.extend(refusal_cells(&r.failures));
            row.extend([
                r.in_flight_at_end.to_string(),
                format!("{:.1}", r.goodput_per_sec),
            ]);
            row
        })
        .collect();
    let mut header = vec![
        "route",
        "entry service",
        "requests",
        "ok %",
        "errors",
        "rejected",
        "timeouts",
    ];
    header.extend(REFUSALS);
    header.extend(["in flight at end", "goodput /s"]);
    out.push_str("<h3>Outcomes</h3>\n");
    // Local refusals only when some route has them.
    table_without_zeros(out, &header, &outcomes, &[0, 1], &[7, 8, 9, 10]);
    let latency: Vec<Vec<String>> = s
        .routes
        .iter()
        .map(|(name, r)| {
            let mut row = vec![escape(name)];
            row.extend(attempt_cells(&r.attempts));
            row.extend(latency_cells(&r.latency_ms));
            row.push(breaker_cell(r.breakers.as_ref()));
            row
        })
        .collect();
    let header = [
        "route",
        "attempts",
        "retries",
        "hedges",
        "retries denied",
        "attempts / request",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "circuit breakers",
    ];
    out.push_str("<h3>Attempts and latency</h3>\n");
    // Hedges, denied retries and breakers: only when some route has them.
    table_without_zeros(out, &header, &latency, &[0, 11], &[3, 4, 11]);
    statuses(out, s);
}

/// Each route's requests by status, with their latency: one row per route
/// and status seen (the routes' `statuses` in summary.json).
fn statuses(out: &mut String, s: &Summary) {
    let mut rows = Vec::new();
    for (name, r) in &s.routes {
        let ended: u64 = r.statuses.iter().map(|st| st.count).sum();
        for st in &r.statuses {
            let mut row = vec![
                escape(name),
                escape(st.status),
                st.http.map_or("–".to_string(), |c| c.to_string()),
                st.count.to_string(),
                format!("{:.2}", 100.0 * st.count as f64 / ended.max(1) as f64),
            ];
            match &st.latency_ms {
                Some(l) => row.extend([ms(l.p50), ms(l.p99), ms(l.max)]),
                None => row.extend(["–".to_string(), "–".to_string(), "–".to_string()]),
            }
            rows.push(row);
        }
    }
    out.push_str("<h3>By status</h3>\n");
    table(
        out,
        &[
            "route", "status", "HTTP", "requests", "share %", "p50 ms", "p99 ms", "max ms",
        ],
        &rows,
        &[0, 1],
    );
}

/// The declared clients (nothing for a workload without `clients`).
pub(super) fn clients(out: &mut String, s: &Summary) {
    if s.clients.is_empty() {
        return;
    }
    out.push_str("<h2>Clients</h2>\n");
    let rows: Vec<Vec<String>> = s
        .clients
        .iter()
        .map(|(name, c)| {
            let f = &c.failures;
            let mut row = vec![
                escape(name),
                escape(&c.credential),
                c.requests.to_string(),
                format!("{:.2}", c.success_ratio * 100.0),
                f.error.to_string(),
                f.rejected.to_string(),
                failure(f.timeout),
            ];
            row.extend(refusal_cells(f));
            row.extend([
                c.in_flight_at_end.to_string(),
                format!("{:.1}", c.goodput_per_sec),
            ]);
            row.extend(latency_cells(&c.latency_ms));
            row
        })
        .collect();
    let mut header = vec![
        "client",
        "credential",
        "requests",
        "ok %",
        "errors",
        "rejected",
        "timeouts",
    ];
    header.extend(REFUSALS);
    header.extend([
        "in flight at end",
        "goodput /s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
    ]);
    // Local refusals only when some client has them.
    table_without_zeros(out, &header, &rows, &[0, 1], &[7, 8, 9, 10]);
}

pub(super) fn services(out: &mut String, s: &Summary) {
    out.push_str("<h2>Services</h2>\n");
    if s.services.is_empty() {
        out.push_str("<p>No services.</p>\n");
        return;
    }
    let rows: Vec<Vec<String>> = s
        .services
        .iter()
        .map(|(name, v)| {
            let f = &v.failures;
            let wait = if v.queue_wait_ms.count == 0 {
                "–".to_string()
            } else {
                ms(v.queue_wait_ms.p99)
            };
            let (p50, p99) = if v.latency_ms.count == 0 {
                ("–".to_string(), "–".to_string())
            } else {
                (ms(v.latency_ms.p50), ms(v.latency_ms.p99))
            };
            let amplification = if v.calls == 0 {
                "–".to_string()
            } else {
                format!("{:.2}", v.amplification)
            };
            vec![
                escape(name),
                v.calls.to_string(),
                v.requests.to_string(),
                amplification,
                v.successes.to_string(),
                f.error.to_string(),
                failure(f.dependency),
                f.rejected.to_string(),
                failure(f.dropped),
                failure(f.expired),
                failure(f.cancelled),
                format!("{:.1}", v.utilisation * 100.0),
                format!("{:.3}", v.mean_in_system),
                format!("{:.3}", v.mean_in_queue),
                p50,
                p99,
                wait,
            ]
        })
        .collect();
    table_without_zeros(
        out,
        &[
            "service",
            "calls to it",
            "requests",
            "amplification",
            "ok",
            "errors",
            "dependency failed",
            "rejected",
            "dropped",
            "deadline expired",
            "cancelled (hedge lost)",
            "utilisation %",
            "L (mean in system)",
            "Lq (mean queued)",
            "p50 ms",
            "p99 ms",
            "queue wait p99 ms",
        ],
        &rows,
        &[0],
        &[9, 10],
    );
    out.push_str(
        "<p class=\"note\">Amplification: requests reaching the service ÷ calls made to it \
         (above 1: retries and hedges; below 1: calls refused or lost on the way).</p>\n",
    );
}

pub(super) fn edges(out: &mut String, s: &Summary) {
    out.push_str("<h2>Edges</h2>\n");
    if s.edges.is_empty() {
        out.push_str("<p>No service calls another.</p>\n");
        return;
    }
    let rows: Vec<Vec<String>> = s
        .edges
        .iter()
        .map(|(name, e)| {
            let f = &e.failures;
            let mut row = vec![
                escape(name),
                e.policy.as_deref().map_or_else(|| "–".to_string(), escape),
                e.calls.to_string(),
                e.successes.to_string(),
                f.error.to_string(),
                f.rejected.to_string(),
                failure(f.timeout),
                failure(f.dropped),
            ];
            row.extend(refusal_cells(f));
            row.extend(attempt_cells(&e.attempts));
            row.push(breaker_cell(e.breakers.as_ref()));
            row
        })
        .collect();
    let mut header = vec![
        "edge",
        "policy",
        "calls",
        "ok",
        "errors",
        "rejected",
        "timeouts",
        "lost with the caller",
    ];
    header.extend(REFUSALS);
    header.extend([
        "attempts",
        "retries",
        "hedges",
        "retries denied",
        "attempts / call",
        "circuit breakers",
    ]);
    table_without_zeros(out, &header, &rows, &[0, 1, 17], &[7, 8, 9, 10, 11]);
}

pub(super) fn faults(out: &mut String, s: &Summary) {
    out.push_str("<h2>Fault timeline</h2>\n");
    if s.faults.is_empty() {
        out.push_str("<p>No faults.</p>\n");
        return;
    }
    let rows: Vec<Vec<String>> = s
        .faults
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (end, lasted) = match f.end_s {
                Some(end) => (format!("{end:.3}"), format!("{:.3}", end - f.start_s)),
                None => ("end of run".to_string(), "–".to_string()),
            };
            vec![
                (i + 1).to_string(),
                escape(f.kind),
                escape(&f.target),
                format!("{:.3}", f.start_s),
                end,
                lasted,
            ]
        })
        .collect();
    table(
        out,
        &["#", "kind", "target", "start s", "end s", "lasted s"],
        &rows,
        &[1, 2],
    );
}
