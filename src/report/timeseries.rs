//! `timeseries.csv`: one row per window per route, per service and per
//! service-to-service edge (tidy data, ready for a dataframe or a
//! spreadsheet); and `breakers.csv`, every circuit-breaker transition.
//! Columns are documented in docs/scenarios.md; empty cells mean "not
//! applicable" or "no data".

use std::fmt::Write;

use crate::metrics::{EntityKind, WindowRow};
use crate::world::RunOutcome;

/// The header row.
pub const HEADER: &str = "t_start_s,t_end_s,kind,name,requests,successes,errors,rejected,timeouts,dropped,dependency,expired,breaker_open,bulkhead_full,throttled,rate_limited,attempts,retries,hedges,retries_denied,calls,latency_ms_p50,latency_ms_p99,in_flight,queue_length,breakers_open";

/// Quotes a field if it needs it (RFC 4180).
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The name of a row's entity.
pub fn entity_name<'a>(run: &'a RunOutcome, row: &WindowRow) -> &'a str {
    match row.kind {
        EntityKind::Route => &run.route_names[row.entity as usize],
        EntityKind::Service => &run.service_names[row.entity as usize],
        EntityKind::Edge => &run.edges[row.entity as usize].name,
    }
}

/// Appends `,value` when the column applies to this kind, `,` otherwise.
fn cell(out: &mut String, applies: bool, value: u64) {
    out.push(',');
    if applies {
        let _ = write!(out, "{value}");
    }
}

fn float_cell(out: &mut String, value: Option<f64>) {
    out.push(',');
    if let Some(v) = value {
        let _ = write!(out, "{v:.3}");
    }
}

/// The whole CSV text.
pub fn to_csv(run: &RunOutcome) -> String {
    let mut out = String::with_capacity(128 * (run.rows.len() + 1));
    out.push_str(HEADER);
    out.push('\n');
    for row in &run.rows {
        let c = &row.counts;
        let (caller_side, service) = match row.kind {
            EntityKind::Route | EntityKind::Edge => (true, false),
            EntityKind::Service => (false, true),
        };
        let route = row.kind == EntityKind::Route;
        let _ = write!(
            out,
            "{:.6},{:.6},{},{},{},{},{},{}",
            row.start.as_secs_f64(),
            row.end.as_secs_f64(),
            row.kind.as_str(),
            csv_field(entity_name(run, row)),
            c.requests,
            c.successes,
            c.errors,
            c.rejected,
        );
        // Columns that do not apply to this kind of entity stay empty.
        cell(&mut out, caller_side, c.timeouts);
        cell(&mut out, service, c.dropped);
        cell(&mut out, service, c.dependency);
        cell(&mut out, service, c.expired);
        cell(&mut out, caller_side, c.breaker_open);
        cell(&mut out, caller_side, c.bulkhead_full);
        cell(&mut out, caller_side, c.throttled);
        cell(&mut out, caller_side, c.rate_limited);
        cell(&mut out, caller_side, c.attempts);
        cell(&mut out, caller_side, c.retries);
        cell(&mut out, caller_side, c.hedges);
        cell(&mut out, caller_side, c.retries_denied);
        cell(&mut out, service, c.calls);
        float_cell(&mut out, row.latency_ms_p50);
        float_cell(&mut out, row.latency_ms_p99);
        cell(&mut out, route || service, row.in_flight);
        out.push(',');
        if let Some(q) = row.queue_length {
            let _ = write!(out, "{q}");
        }
        out.push(',');
        if let Some(b) = row.breakers_open {
            let _ = write!(out, "{b}");
        }
        out.push('\n');
    }
    out
}

/// `breakers.csv`: every circuit-breaker transition, in time order.
pub fn breakers_csv(run: &RunOutcome) -> String {
    let mut out = String::from("t_s,edge,instance,from,to\n");
    for e in &run.breaker_events {
        let _ = writeln!(
            out,
            "{:.6},{},{},{},{}",
            e.at.as_secs_f64(),
            csv_field(&run.edges[e.edge as usize].name),
            e.unit,
            e.from,
            e.to
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(csv_field("orders"), "orders");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
