//! `timeseries.csv`: one row per window per route, per service and per
//! service-to-service edge (tidy data, ready for a dataframe or a
//! spreadsheet); and `breakers.csv`, every circuit-breaker transition.
//! Columns are documented in docs/scenarios.md; empty cells mean "not
//! applicable" or "no data".

use std::fmt::Write;

use crate::metrics::{EntityKind, WindowRow};
use crate::world::RunOutcome;

/// The header row.
pub const HEADER: &str = "t_start_s,t_end_s,kind,name,requests,successes,errors,rejected,timeouts,dropped,dependency,expired,cancelled,breaker_open,bulkhead_full,throttled,rate_limited,attempts,retries,hedges,retries_denied,calls,latency_ms_p50,latency_ms_p99,in_flight,queue_length,breakers_open";

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

/// The CSV text of the rows kept in memory (every row, unless the run had
/// more windows than charts keep: see [`crate::metrics::series`]). The CLI
/// streams the whole series instead, with [`CsvStream`].
pub fn to_csv(run: &RunOutcome) -> String {
    let mut out = String::with_capacity(128 * (run.rows.len() + 1));
    out.push_str(HEADER);
    out.push('\n');
    for row in &run.rows {
        write_row(&mut out, entity_name(run, row), row);
    }
    out
}

/// Writes `timeseries.csv` row by row as the windows close, so that a run
/// of any length needs no more memory than one window. The first write
/// error is kept (later rows are dropped) and returned by
/// [`CsvStream::finish`].
pub struct CsvStream<W: std::io::Write> {
    out: W,
    line: String,
    error: Option<std::io::Error>,
    rows: u64,
}

impl<W: std::io::Write> CsvStream<W> {
    /// A stream that has written the header to `out`.
    pub fn new(out: W) -> Self {
        let mut stream = CsvStream {
            out,
            line: String::with_capacity(256),
            error: None,
            rows: 0,
        };
        stream.put(&format!("{HEADER}\n"));
        stream
    }

    /// Appends one row.
    pub fn row(&mut self, name: &str, row: &WindowRow) {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        write_row(&mut line, name, row);
        self.put(&line);
        self.line = line;
        self.rows += 1;
    }

    fn put(&mut self, text: &str) {
        if self.error.is_none()
            && let Err(e) = self.out.write_all(text.as_bytes())
        {
            self.error = Some(e);
        }
    }

    /// Flushes, and returns the writer and the number of rows, or the first
    /// error.
    pub fn finish(mut self) -> std::io::Result<(W, u64)> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.flush()?;
        Ok((self.out, self.rows))
    }
}

/// One CSV line (with its newline) for `row` of the entity `name`.
pub fn write_row(out: &mut String, name: &str, row: &WindowRow) {
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
        csv_field(name),
        c.requests,
        c.successes,
        c.errors,
        c.rejected,
    );
    // Columns that do not apply to this kind of entity stay empty.
    cell(out, caller_side, c.timeouts);
    cell(out, service, c.dropped);
    cell(out, service, c.dependency);
    cell(out, service, c.expired);
    cell(out, service, c.cancelled);
    cell(out, caller_side, c.breaker_open);
    cell(out, caller_side, c.bulkhead_full);
    cell(out, caller_side, c.throttled);
    cell(out, caller_side, c.rate_limited);
    cell(out, caller_side, c.attempts);
    cell(out, caller_side, c.retries);
    cell(out, caller_side, c.hedges);
    cell(out, caller_side, c.retries_denied);
    cell(out, service, c.calls);
    float_cell(out, row.latency_ms_p50);
    float_cell(out, row.latency_ms_p99);
    cell(out, route || service, row.in_flight);
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
