//! The time-series files beside the one-row-per-entity ones of each kind:
//! `series/instances.csv` and `series/balance.csv` (balanced or discovered
//! services), `series/autoscale.csv` (autoscaled services) and
//! `series/statuses.csv` (each route by status), with their row writers.

use std::fmt::Write;

use super::{SeriesFile, csv_field};
use crate::metrics::WindowRow;

/// `series/instances.csv`: each instance of a service whose callers balance
/// over it or discover it: its traffic, and its pool membership. Written
/// only for scenarios that have such a service.
pub const INSTANCES: SeriesFile = SeriesFile {
    name: "series/instances.csv",
    header: "t_start_s,t_end_s,service,instance,requests,successes,failures,in_flight_at_end,registered_at_end,in_pools_at_end,ejected_by_at_end",
};

/// `series/balance.csv`: each service of [`INSTANCES`] as a whole, per
/// window: how evenly its callers spread their attempts over its instances
/// (the busiest's attempts ÷ the mean, see
/// [`crate::metrics::instances::PoolRow`]) and how many instances were
/// registered, in a pool and ejected. Its own file because its rows are
/// per service, not per instance; written when [`INSTANCES`] is.
pub const BALANCE: SeriesFile = SeriesFile {
    name: "series/balance.csv",
    header: "t_start_s,t_end_s,service,instances,requests,request_imbalance,registered_at_end,in_pool_at_end,ejected_at_end",
};

/// `series/autoscale.csv`: each autoscaled service, per window: the count
/// its autoscaler last decided, its instances by state at the window's end,
/// the metric at the last sync (empty when none) and the requests that
/// reached it in the window (the load). Written only for scenarios with an
/// autoscaled service.
pub const AUTOSCALE: SeriesFile = SeriesFile {
    name: "series/autoscale.csv",
    header: "t_start_s,t_end_s,service,desired,starting,ready,not_ready,down,draining,metric,requests",
};

/// `series/sagas.csv`: each saga orchestrator, per window: the sagas it
/// started, the requests refused with a full log, the sagas that ended
/// each way, those resumed from a log after a restart, the compensation
/// calls made, and the sagas running at the window's end. Written only for
/// scenarios with an orchestrator.
pub const SAGAS: SeriesFile = SeriesFile {
    name: "series/sagas.csv",
    header: "t_start_s,t_end_s,orchestrator,started,refused,completed,compensated,dead_lettered,recovered,compensation_calls,running_at_end",
};

/// Whether a run of `compiled` writes [`SAGAS`]: some service has a `saga`.
pub fn writes_sagas(compiled: &crate::scenario::Compiled) -> bool {
    compiled.has_sagas()
}

/// One CSV line (with its newline) of [`SAGAS`], for `row` of the window
/// `[start, end)`, its orchestrator named `service`.
pub fn write_saga_row(
    out: &mut String,
    start: crate::kernel::SimTime,
    end: crate::kernel::SimTime,
    service: &str,
    row: &crate::metrics::saga::SagaRow,
) {
    let _ = writeln!(
        out,
        "{:.6},{:.6},{},{},{},{},{},{},{},{},{}",
        start.as_secs_f64(),
        end.as_secs_f64(),
        csv_field(service),
        row.started,
        row.refused,
        row.completed,
        row.compensated,
        row.dead_lettered,
        row.recovered,
        row.compensation_calls,
        row.running,
    );
}

/// `series/statuses.csv`: the requests of each route that ended in the
/// window, by [status](crate::world::Status) (its own file, so that the
/// routes' file keeps its columns): a gateway's 401, 403, 404, 429 and 504
/// apart from the 500s, 503s and timeouts they are counted with in
/// [`ROUTES`](super::ROUTES). Written for every run.
pub const STATUSES: SeriesFile = SeriesFile {
    name: "series/statuses.csv",
    header: "t_start_s,t_end_s,route,ok,unauthorized,forbidden,not_found,too_many_requests,internal,unavailable,gateway_timeout,timeout,breaker_open,bulkhead_full,throttled,rate_limited",
};

/// One CSV line (with its newline) of [`STATUSES`], for the route row `row`
/// of the route named `route`.
pub fn write_statuses_row(out: &mut String, route: &str, row: &WindowRow) {
    let _ = write!(
        out,
        "{:.6},{:.6},{}",
        row.start.as_secs_f64(),
        row.end.as_secs_f64(),
        csv_field(route),
    );
    for n in row.counts.statuses() {
        let _ = write!(out, ",{n}");
    }
    out.push('\n');
}

/// Whether a run of `compiled` writes [`AUTOSCALE`]: some service has
/// `autoscale`.
pub fn writes_autoscale(compiled: &crate::scenario::Compiled) -> bool {
    compiled.autoscale().iter().any(Option::is_some)
}

/// One CSV line (with its newline) of [`AUTOSCALE`], for `row` of the
/// window `[start, end)`, its service named `service`. The metric is empty
/// when there was none.
pub fn write_autoscale_row(
    out: &mut String,
    start: crate::kernel::SimTime,
    end: crate::kernel::SimTime,
    service: &str,
    row: &crate::metrics::autoscale::AutoscaleRow,
) {
    let _ = write!(
        out,
        "{:.6},{:.6},{},{},{},{},{},{},{},",
        start.as_secs_f64(),
        end.as_secs_f64(),
        csv_field(service),
        row.desired,
        row.starting,
        row.ready,
        row.not_ready,
        row.down,
        row.draining,
    );
    if let Some(v) = row.metric.filter(|v| v.is_finite()) {
        let _ = write!(out, "{v:.6}");
    }
    let _ = writeln!(out, ",{}", row.requests);
}

/// One CSV line (with its newline) of [`BALANCE`], for `pool` of the window
/// `[start, end)`, its service named `service`. The imbalance is empty when
/// no attempt was sent.
pub fn write_pool_row(
    out: &mut String,
    start: crate::kernel::SimTime,
    end: crate::kernel::SimTime,
    service: &str,
    pool: &crate::metrics::instances::PoolRow,
) {
    let _ = write!(
        out,
        "{:.6},{:.6},{},{},{}",
        start.as_secs_f64(),
        end.as_secs_f64(),
        csv_field(service),
        pool.instances,
        pool.requests,
    );
    out.push(',');
    if let Some(v) = pool.imbalance {
        let _ = write!(out, "{v:.6}");
    }
    let _ = writeln!(
        out,
        ",{},{},{}",
        pool.registered, pool.in_pool, pool.ejected
    );
}

/// One CSV line (with its newline) of `series/instances.csv`, for `row` of
/// the window `[start, end)`, its service named `service`.
pub fn write_instance_row(
    out: &mut String,
    start: crate::kernel::SimTime,
    end: crate::kernel::SimTime,
    service: &str,
    row: &crate::metrics::InstanceRow,
) {
    let _ = writeln!(
        out,
        "{:.6},{:.6},{},{},{},{},{},{},{},{},{}",
        start.as_secs_f64(),
        end.as_secs_f64(),
        csv_field(service),
        row.instance,
        row.requests,
        row.successes,
        row.failures,
        row.in_flight,
        u8::from(row.registered),
        row.in_pools,
        row.ejected_by,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statuses_columns_are_the_vocabulary_in_its_order() {
        let names: Vec<&str> = crate::world::Status::ALL.iter().map(|s| s.name()).collect();
        let header = format!("t_start_s,t_end_s,route,{}", names.join(","));
        assert_eq!(STATUSES.header, header);
    }
}
