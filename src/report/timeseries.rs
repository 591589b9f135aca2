//! `timeseries.csv`: one row per window per route and per service (tidy
//! data, ready for a dataframe or a spreadsheet). Columns are documented in
//! docs/scenarios.md; empty cells mean "not applicable" or "no data".

use std::fmt::Write;

use crate::metrics::{EntityKind, WindowRow};
use crate::world::RunOutcome;

/// The header row.
pub const HEADER: &str = "t_start_s,t_end_s,kind,name,requests,successes,errors,rejected,timeouts,dropped,dependency,latency_ms_p50,latency_ms_p99,in_flight,queue_length";

/// Quotes a field if it needs it (RFC 4180).
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn optional(out: &mut String, value: Option<f64>) {
    if let Some(v) = value {
        let _ = write!(out, "{v:.3}");
    }
}

/// The name of a row's entity.
pub fn entity_name<'a>(run: &'a RunOutcome, row: &WindowRow) -> &'a str {
    match row.kind {
        EntityKind::Route => &run.route_names[row.entity as usize],
        EntityKind::Service => &run.service_names[row.entity as usize],
    }
}

/// The whole CSV text.
pub fn to_csv(run: &RunOutcome) -> String {
    let mut out = String::with_capacity(64 * (run.rows.len() + 1));
    out.push_str(HEADER);
    out.push('\n');
    for row in &run.rows {
        let c = &row.counts;
        let route = row.kind == EntityKind::Route;
        let _ = write!(
            out,
            "{:.6},{:.6},{},{},{},{},{},{},",
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
        if route {
            let _ = write!(out, "{},,,", c.timeouts);
        } else {
            let _ = write!(out, ",{},{},", c.dropped, c.dependency);
        }
        optional(&mut out, row.latency_ms_p50);
        out.push(',');
        optional(&mut out, row.latency_ms_p99);
        let _ = write!(out, ",{},", row.in_flight);
        if let Some(q) = row.queue_length {
            let _ = write!(out, "{q}");
        }
        out.push('\n');
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
