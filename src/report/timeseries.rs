//! The time series of a run, one CSV file per kind of entity:
//! `series/routes.csv`, `series/services.csv` and `series/edges.csv`, one
//! row per window per entity (tidy data, ready for a dataframe or a
//! spreadsheet), and `series/clients.csv` when the workload declares
//! `clients`; `series/instances.csv` (per instance) and
//! `series/balance.csv` (per service: imbalance and pool) when some
//! service is balanced over or discovered; `series/autoscale.csv` (per
//! autoscaled service: its instances and load) when some service is
//! autoscaled; `series/sagas.csv` (per saga orchestrator) when some
//! service is one; `series/groups.csv` (per consumer group) and
//! `series/lag.csv` (per group and partition) when some service consumes a
//! topic; `series/statuses.csv`, each route's requests by status; and
//! `breakers.csv`, every circuit-breaker transition.
//!
//! Each file has only the columns of its kind, named as in summary.json,
//! and every count is an integer in every row; only the latency
//! percentiles may be empty (nothing completed in the window). A new kind
//! of entity adds a file, never a column to an existing one. Columns are
//! documented in docs/scenarios.md.

use std::fmt::Write;
use std::io;

use crate::metrics::{ClosedWindow, Counts, EntityKind, Recorder, SeriesNames, WindowRow};
use crate::world::RunOutcome;

/// One time-series file: its path in the report and its header row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeriesFile {
    /// The path in the report directory, with `/`.
    pub name: &'static str,
    /// The header row (without its newline).
    pub header: &'static str,
}

/// `series/routes.csv`: what each route's clients saw.
pub const ROUTES: SeriesFile = SeriesFile {
    name: "series/routes.csv",
    header: "t_start_s,t_end_s,route,requests,successes,error,rejected,timeout,breaker_open,bulkhead_full,throttled,rate_limited,attempts,retries,hedges,retries_denied,capped,latency_ms_p50,latency_ms_p99,in_flight_at_end,breakers_open_at_end",
};

/// `series/services.csv`: what happened at each service, summed over its
/// instances.
pub const SERVICES: SeriesFile = SeriesFile {
    name: "series/services.csv",
    header: "t_start_s,t_end_s,service,requests,successes,error,rejected,dropped,dependency,expired,cancelled,calls,latency_ms_p50,latency_ms_p99,in_system_at_end,in_queue_at_end",
};

/// `series/edges.csv`: each service-to-service edge, summed over the
/// calling instances.
pub const EDGES: SeriesFile = SeriesFile {
    name: "series/edges.csv",
    header: "t_start_s,t_end_s,edge,calls,successes,error,rejected,timeout,breaker_open,bulkhead_full,throttled,rate_limited,attempts,retries,hedges,retries_denied,dropped,breakers_open_at_end",
};

/// `series/clients.csv`: what each declared client saw, over every route it
/// sends to; written only when the workload declares `clients`.
pub const CLIENTS: SeriesFile = SeriesFile {
    name: "series/clients.csv",
    header: "t_start_s,t_end_s,client,requests,successes,error,rejected,timeout,breaker_open,bulkhead_full,throttled,rate_limited,capped,latency_ms_p50,latency_ms_p99,in_flight_at_end",
};

mod beside;
pub use beside::{
    AUTOSCALE, BALANCE, GROUPS, INSTANCES, LAG, SAGAS, STATUSES, group_names, write_autoscale_row,
    write_group_row, write_instance_row, write_lag_row, write_pool_row, write_saga_row,
    write_statuses_row, writes_autoscale, writes_events, writes_sagas,
};

/// Every time-series file, in the order of [`EntityKind`].
pub const FILES: [SeriesFile; 3] = [ROUTES, SERVICES, EDGES];

/// Every time-series file a run may write, in the order of [`EntityKind`]:
/// [`FILES`], then [`CLIENTS`].
pub const ALL_FILES: [SeriesFile; 4] = [ROUTES, SERVICES, EDGES, CLIENTS];

/// The time-series files of a run: [`FILES`], and [`CLIENTS`] when the
/// workload declares `clients`.
pub fn files_for(clients_declared: bool) -> &'static [SeriesFile] {
    if clients_declared { &ALL_FILES } else { &FILES }
}

/// The file of a kind of entity.
pub fn file_of(kind: EntityKind) -> SeriesFile {
    match kind {
        EntityKind::Route => ROUTES,
        EntityKind::Service => SERVICES,
        EntityKind::Edge => EDGES,
        EntityKind::Client => CLIENTS,
    }
}

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
        EntityKind::Client => &run.client_names[row.entity as usize],
    }
}

fn float_cell(out: &mut String, value: Option<f64>) {
    out.push(',');
    if let Some(v) = value {
        let _ = write!(out, "{v:.3}");
    }
}

/// The text of every time-series file of the run, by name (in
/// [`files_for`] order, then [`STATUSES`]), from the rows kept in memory (every row, unless
/// the run had more windows than charts keep: see
/// [`crate::metrics::series`]). The CLI streams the whole series instead,
/// with [`CsvRecorder`].
pub fn to_csv(run: &RunOutcome) -> Vec<(&'static str, String)> {
    let kinds = files_for(!run.client_names.is_empty());
    let mut files: Vec<(&'static str, String)> = kinds
        .iter()
        .map(|f| (f.name, format!("{}\n", f.header)))
        .collect();
    let mut statuses = format!("{}\n", STATUSES.header);
    for row in &run.rows {
        let index = kinds.iter().position(|f| *f == file_of(row.kind));
        if let Some(index) = index {
            write_row(&mut files[index].1, entity_name(run, row), row);
        }
        if row.kind == EntityKind::Route {
            write_statuses_row(&mut statuses, entity_name(run, row), row);
        }
    }
    files.push((STATUSES.name, statuses));
    files
}

/// Writes one CSV file line by line as the windows close, so that a run of
/// any length needs no more memory than one window. The first write error
/// is kept (later lines are dropped) and returned by [`CsvStream::finish`].
pub struct CsvStream<W: io::Write> {
    out: W,
    line: String,
    error: Option<io::Error>,
    rows: u64,
}

impl<W: io::Write> CsvStream<W> {
    /// A stream that has written `header` (and a newline) to `out`.
    pub fn new(out: W, header: &str) -> Self {
        let mut stream = CsvStream {
            out,
            line: String::with_capacity(256),
            error: None,
            rows: 0,
        };
        stream.put(&format!("{header}\n"));
        stream
    }

    /// Appends one line, already formatted (with its newline).
    pub fn line(&mut self, text: &str) {
        self.put(text);
        self.rows += 1;
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

    /// The first write error, if any.
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    /// Flushes, and returns the writer and the number of rows, or the first
    /// error.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.flush()?;
        Ok((self.out, self.rows))
    }
}

/// The [`Recorder`] that writes the time-series files as the windows close:
/// each row to the file of its kind, with its entity's name.
pub struct CsvRecorder<W: io::Write> {
    /// In [`FILES`] order.
    streams: [CsvStream<W>; 3],
    /// [`CLIENTS`], for a workload that declares `clients`.
    clients: Option<CsvStream<W>>,
    /// [`INSTANCES`], when the run has instances to report.
    instances: Option<CsvStream<W>>,
    /// [`BALANCE`], likewise.
    balance: Option<CsvStream<W>>,
    /// [`AUTOSCALE`], when some service is autoscaled.
    autoscale: Option<CsvStream<W>>,
    /// [`SAGAS`], when some service is a saga orchestrator.
    sagas: Option<CsvStream<W>>,
    /// [`GROUPS`], when some service consumes a topic.
    groups: Option<CsvStream<W>>,
    /// [`LAG`], likewise.
    lag: Option<CsvStream<W>>,
    /// Each group's topic and name, by group index.
    group_names: Vec<(String, String)>,
    /// [`STATUSES`].
    statuses: Option<CsvStream<W>>,
    names: SeriesNames,
    line: String,
}

/// What [`CsvRecorder::finish`] returns: each writer with its number of
/// rows, in [`FILES`] order, and [`CLIENTS`]'s if it was written.
pub type Finished<W> = ([(W, u64); 3], Option<(W, u64)>);

impl<W: io::Write> CsvRecorder<W> {
    /// A recorder writing [`ROUTES`], [`SERVICES`] and [`EDGES`] to these
    /// writers (their headers are written at once).
    pub fn new(routes: W, services: W, edges: W) -> Self {
        CsvRecorder {
            streams: [
                CsvStream::new(routes, ROUTES.header),
                CsvStream::new(services, SERVICES.header),
                CsvStream::new(edges, EDGES.header),
            ],
            clients: None,
            instances: None,
            balance: None,
            autoscale: None,
            sagas: None,
            groups: None,
            lag: None,
            group_names: Vec::new(),
            statuses: None,
            names: SeriesNames::default(),
            line: String::new(),
        }
    }

    /// The recorder writing [`CLIENTS`] to `clients` too (its header at
    /// once): for a run whose workload declares `clients`, the only runs
    /// with client rows.
    pub fn with_clients(mut self, clients: W) -> Self {
        self.clients = Some(CsvStream::new(clients, CLIENTS.header));
        self
    }

    /// Also writes [`INSTANCES`] to `out` (its header at once).
    #[must_use]
    pub fn with_instances(mut self, out: W) -> Self {
        self.instances = Some(CsvStream::new(out, INSTANCES.header));
        self
    }

    /// Also writes [`BALANCE`] to `out` (its header at once): for a run
    /// that writes [`INSTANCES`].
    #[must_use]
    pub fn with_balance(mut self, out: W) -> Self {
        self.balance = Some(CsvStream::new(out, BALANCE.header));
        self
    }

    /// Also writes [`AUTOSCALE`] to `out` (its header at once): for a run
    /// with an autoscaled service ([`writes_autoscale`]).
    #[must_use]
    pub fn with_autoscale(mut self, out: W) -> Self {
        self.autoscale = Some(CsvStream::new(out, AUTOSCALE.header));
        self
    }

    /// Also writes [`SAGAS`] to `out` (its header at once): for a run with
    /// a saga orchestrator ([`writes_sagas`]).
    #[must_use]
    pub fn with_sagas(mut self, out: W) -> Self {
        self.sagas = Some(CsvStream::new(out, SAGAS.header));
        self
    }

    /// Also writes [`GROUPS`] to `out` (its header at once): for a run with
    /// a consumer group ([`writes_events`]); `names` is each group's topic
    /// and name ([`group_names`]).
    #[must_use]
    pub fn with_groups(mut self, out: W, names: Vec<(String, String)>) -> Self {
        self.groups = Some(CsvStream::new(out, GROUPS.header));
        self.group_names = names;
        self
    }

    /// Also writes [`LAG`] to `out` (its header at once): for a run with a
    /// consumer group, `names` as for [`CsvRecorder::with_groups`].
    #[must_use]
    pub fn with_lag(mut self, out: W, names: Vec<(String, String)>) -> Self {
        self.lag = Some(CsvStream::new(out, LAG.header));
        self.group_names = names;
        self
    }

    /// Also writes [`STATUSES`] to `out` (its header at once).
    #[must_use]
    pub fn with_statuses(mut self, out: W) -> Self {
        self.statuses = Some(CsvStream::new(out, STATUSES.header));
        self
    }

    /// The first write error, with the name of its file.
    pub fn error(&self) -> Option<(&'static str, &io::Error)> {
        FILES
            .iter()
            .zip(&self.streams)
            .chain(self.clients.iter().map(|c| (&CLIENTS, c)))
            .find_map(|(file, stream)| stream.error().map(|e| (file.name, e)))
            .or_else(|| {
                self.instances
                    .as_ref()
                    .and_then(|s| s.error().map(|e| (INSTANCES.name, e)))
            })
            .or_else(|| {
                self.balance
                    .as_ref()
                    .and_then(|s| s.error().map(|e| (BALANCE.name, e)))
            })
            .or_else(|| {
                self.autoscale
                    .as_ref()
                    .and_then(|s| s.error().map(|e| (AUTOSCALE.name, e)))
            })
            .or_else(|| {
                self.sagas
                    .as_ref()
                    .and_then(|s| s.error().map(|e| (SAGAS.name, e)))
            })
            .or_else(|| {
                self.groups
                    .as_ref()
                    .and_then(|s| s.error().map(|e| (GROUPS.name, e)))
            })
            .or_else(|| {
                self.lag
                    .as_ref()
                    .and_then(|s| s.error().map(|e| (LAG.name, e)))
            })
            .or_else(|| {
                self.statuses
                    .as_ref()
                    .and_then(|s| s.error().map(|e| (STATUSES.name, e)))
            })
    }

    /// Flushes every file; returns each writer and its number of rows, or
    /// the first error with the name of its file. [`INSTANCES`],
    /// [`BALANCE`], [`AUTOSCALE`], [`SAGAS`], [`GROUPS`], [`LAG`] and
    /// [`STATUSES`], if written, are flushed too (and their writers
    /// dropped).
    pub fn finish(self) -> Result<Finished<W>, (&'static str, io::Error)> {
        if let Some(instances) = self.instances {
            instances.finish().map_err(|e| (INSTANCES.name, e))?;
        }
        if let Some(balance) = self.balance {
            balance.finish().map_err(|e| (BALANCE.name, e))?;
        }
        if let Some(autoscale) = self.autoscale {
            autoscale.finish().map_err(|e| (AUTOSCALE.name, e))?;
        }
        if let Some(sagas) = self.sagas {
            sagas.finish().map_err(|e| (SAGAS.name, e))?;
        }
        if let Some(groups) = self.groups {
            groups.finish().map_err(|e| (GROUPS.name, e))?;
        }
        if let Some(lag) = self.lag {
            lag.finish().map_err(|e| (LAG.name, e))?;
        }
        if let Some(statuses) = self.statuses {
            statuses.finish().map_err(|e| (STATUSES.name, e))?;
        }
        let [routes, services, edges] = self.streams;
        let finish =
            |file: SeriesFile, stream: CsvStream<W>| stream.finish().map_err(|e| (file.name, e));
        let files = [
            finish(ROUTES, routes)?,
            finish(SERVICES, services)?,
            finish(EDGES, edges)?,
        ];
        let clients = self.clients.map(|c| finish(CLIENTS, c)).transpose()?;
        Ok((files, clients))
    }
}

impl<W: io::Write> Recorder for CsvRecorder<W> {
    fn start(&mut self, names: &SeriesNames) {
        self.names = names.clone();
    }

    fn window(&mut self, window: &ClosedWindow) {
        for row in &window.rows {
            let stream = match row.kind {
                EntityKind::Route => &mut self.streams[0],
                EntityKind::Service => &mut self.streams[1],
                EntityKind::Edge => &mut self.streams[2],
                EntityKind::Client => match &mut self.clients {
                    Some(stream) => stream,
                    None => {
                        debug_assert!(false, "client rows without `with_clients`");
                        continue;
                    }
                },
            };
            stream.row(self.names.of(row), row);
            if row.kind == EntityKind::Route
                && let Some(stream) = &mut self.statuses
            {
                self.line.clear();
                write_statuses_row(&mut self.line, self.names.of(row), row);
                stream.line(&self.line);
            }
        }
        if let Some(stream) = &mut self.instances {
            for row in &window.instances {
                self.line.clear();
                let service = &self.names.services[row.service as usize];
                write_instance_row(&mut self.line, window.start, window.end, service, row);
                stream.line(&self.line);
            }
        }
        if let Some(stream) = &mut self.balance {
            for pool in crate::metrics::instances::pool_rows(&window.instances) {
                self.line.clear();
                let service = &self.names.services[pool.service as usize];
                write_pool_row(&mut self.line, window.start, window.end, service, &pool);
                stream.line(&self.line);
            }
        }
        if let Some(stream) = &mut self.autoscale {
            for row in &window.autoscale {
                self.line.clear();
                let service = &self.names.services[row.service as usize];
                write_autoscale_row(&mut self.line, window.start, window.end, service, row);
                stream.line(&self.line);
            }
        }
        if let Some(stream) = &mut self.sagas {
            for row in &window.sagas {
                self.line.clear();
                let service = &self.names.services[row.service as usize];
                write_saga_row(&mut self.line, window.start, window.end, service, row);
                stream.line(&self.line);
            }
        }
        if let Some(stream) = &mut self.groups {
            for row in &window.groups {
                self.line.clear();
                let (topic, group) = &self.group_names[row.group as usize];
                write_group_row(
                    &mut self.line,
                    (window.start, window.end),
                    (topic, group),
                    row,
                );
                stream.line(&self.line);
            }
        }
        if let Some(stream) = &mut self.lag {
            for row in &window.partitions {
                self.line.clear();
                let (topic, group) = &self.group_names[row.group as usize];
                write_lag_row(
                    &mut self.line,
                    (window.start, window.end),
                    (topic, group),
                    row,
                );
                stream.line(&self.line);
            }
        }
    }
}

/// One CSV line (with its newline) for `row` of the entity `name`, in the
/// columns of its kind's file.
pub fn write_row(out: &mut String, name: &str, row: &WindowRow) {
    let c = &row.counts;
    let _ = write!(
        out,
        "{:.6},{:.6},{}",
        row.start.as_secs_f64(),
        row.end.as_secs_f64(),
        csv_field(name),
    );
    match row.kind {
        EntityKind::Route => {
            let _ = write!(out, ",{}", c.requests);
            caller_cells(out, c);
            let _ = write!(out, ",{}", c.capped);
            float_cell(out, row.latency_ms_p50);
            float_cell(out, row.latency_ms_p99);
            let _ = write!(out, ",{},{}", row.in_flight, row.breakers_open.unwrap_or(0));
        }
        EntityKind::Service => {
            let _ = write!(
                out,
                ",{},{},{},{},{},{},{},{},{}",
                c.requests,
                c.successes,
                c.errors,
                c.rejected,
                c.dropped,
                c.dependency,
                c.expired,
                c.cancelled,
                c.calls,
            );
            float_cell(out, row.latency_ms_p50);
            float_cell(out, row.latency_ms_p99);
            let _ = write!(out, ",{},{}", row.in_flight, row.queue_length.unwrap_or(0));
        }
        EntityKind::Edge => {
            // An edge's `requests` are the calls made on it (summary.json's
            // `calls`).
            let _ = write!(out, ",{}", c.requests);
            caller_cells(out, c);
            let _ = write!(out, ",{},{}", c.dropped, row.breakers_open.unwrap_or(0));
        }
        EntityKind::Client => {
            let _ = write!(
                out,
                ",{},{},{},{},{},{},{},{},{},{}",
                c.requests,
                c.successes,
                c.errors,
                c.rejected,
                c.timeouts,
                c.breaker_open,
                c.bulkhead_full,
                c.throttled,
                c.rate_limited,
                c.capped,
            );
            float_cell(out, row.latency_ms_p50);
            float_cell(out, row.latency_ms_p99);
            let _ = write!(out, ",{}", row.in_flight);
        }
    }
    out.push('\n');
}

/// The caller's columns of routes and edges, from `successes` to
/// `retries_denied`.
fn caller_cells(out: &mut String, c: &Counts) {
    let _ = write!(
        out,
        ",{},{},{},{},{},{},{},{},{},{},{},{}",
        c.successes,
        c.errors,
        c.rejected,
        c.timeouts,
        c.breaker_open,
        c.bulkhead_full,
        c.throttled,
        c.rate_limited,
        c.attempts,
        c.retries,
        c.hedges,
        c.retries_denied,
    );
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
mod tests;
