//! The time-series files beside the one-row-per-entity ones of each kind:
//! `series/instances.csv` and `series/balance.csv` (balanced or discovered
//! services), `series/autoscale.csv` (autoscaled services),
//! `series/sagas.csv` (saga orchestrators), `series/groups.csv` and
//! `series/lag.csv` (consumer groups, and their partitions) and
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

/// `series/groups.csv`: each consumer group, per window: what it delivered
/// (for the first time, and again), applied (for the first time, and
/// again), skipped as duplicates, failed in its handler, sent to the
/// dead-letter topic, the commits that timed out and the rebalances; its
/// lag over its partitions, its highest partition's lag and its members at
/// the window's end; and the staleness (commit to first application) of
/// the events applied in the window, p50 and p99 (empty when none was).
/// Written only for scenarios with a consumer group.
pub const GROUPS: SeriesFile = SeriesFile {
    name: "series/groups.csv",
    header: "t_start_s,t_end_s,topic,group,delivered,redelivered,applied,duplicate_effects,deduplicated,handler_failures,dead_lettered,commit_timeouts,rebalances,lag_at_end,partition_lag_max_at_end,members_at_end,staleness_ms_p50,staleness_ms_p99",
};

/// `series/lag.csv`: each partition of each consumer group's topic, per
/// window: its end offset, the group's committed offset and the lag at the
/// window's end. Its own file because its rows are per partition; written
/// when [`GROUPS`] is.
pub const LAG: SeriesFile = SeriesFile {
    name: "series/lag.csv",
    header: "t_start_s,t_end_s,topic,group,partition,end_offset,committed_offset,lag_at_end",
};

/// Whether a run of `compiled` writes [`GROUPS`] and [`LAG`]: some service
/// consumes a topic.
pub fn writes_events(compiled: &crate::scenario::Compiled) -> bool {
    !compiled.events().groups.is_empty()
}

/// Each consumer group's topic and name, by group index: what names a row
/// of [`GROUPS`] and [`LAG`].
pub fn group_names(compiled: &crate::scenario::Compiled) -> Vec<(String, String)> {
    let events = compiled.events();
    events
        .groups
        .iter()
        .map(|g| (events.topics[g.topic as usize].name.clone(), g.name.clone()))
        .collect()
}

/// One CSV line (with its newline) of [`GROUPS`], for `row` of the window
/// `[start, end)`, its group `group` of topic `topic`. The percentiles are
/// empty when nothing was applied.
pub fn write_group_row(
    out: &mut String,
    (start, end): (crate::kernel::SimTime, crate::kernel::SimTime),
    (topic, group): (&str, &str),
    row: &crate::metrics::events::GroupRow,
) {
    let _ = write!(
        out,
        "{:.6},{:.6},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        start.as_secs_f64(),
        end.as_secs_f64(),
        csv_field(topic),
        csv_field(group),
        row.delivered,
        row.redelivered,
        row.applied,
        row.duplicate_effects,
        row.deduplicated,
        row.handler_failures,
        row.dead_lettered,
        row.commit_timeouts,
        row.rebalances,
        row.lag,
        row.partition_lag_max,
        row.members,
    );
    for p in [row.staleness_ms_p50, row.staleness_ms_p99] {
        out.push(',');
        if let Some(v) = p.filter(|v| v.is_finite()) {
            let _ = write!(out, "{v:.3}");
        }
    }
    out.push('\n');
}

/// One CSV line (with its newline) of [`LAG`], for `row` of the window
/// `[start, end)`, its group `group` of topic `topic`.
pub fn write_lag_row(
    out: &mut String,
    (start, end): (crate::kernel::SimTime, crate::kernel::SimTime),
    (topic, group): (&str, &str),
    row: &crate::metrics::events::PartitionRow,
) {
    let _ = writeln!(
        out,
        "{:.6},{:.6},{},{},{},{},{},{}",
        start.as_secs_f64(),
        end.as_secs_f64(),
        csv_field(topic),
        csv_field(group),
        row.partition,
        row.end_offset,
        row.committed,
        row.lag,
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
    fn a_group_row_has_a_cell_per_column_and_empty_percentiles_when_nothing_was_applied() {
        use crate::kernel::SimTime;
        use crate::metrics::events::{GroupRow, PartitionRow};
        let window = (
            SimTime::from_nanos(1_000_000_000),
            SimTime::from_nanos(2_000_000_000),
        );
        let mut row = GroupRow {
            group: 0,
            delivered: 7,
            applied: 6,
            lag: 40,
            partition_lag_max: 25,
            members: 2,
            staleness_ms_p50: Some(12.5),
            staleness_ms_p99: Some(80.0),
            ..GroupRow::default()
        };
        let mut out = String::new();
        write_group_row(&mut out, window, ("orders", "read,model"), &row);
        assert_eq!(
            out,
            "1.000000,2.000000,orders,\"read,model\",7,0,6,0,0,0,0,0,0,40,25,2,12.500,80.000\n"
        );
        row.staleness_ms_p50 = None;
        row.staleness_ms_p99 = None;
        out.clear();
        write_group_row(&mut out, window, ("orders", "billing"), &row);
        assert!(out.ends_with(",40,25,2,,\n"), "{out}");
        assert_eq!(
            out.trim_end().split(',').count(),
            GROUPS.header.split(',').count()
        );
        out.clear();
        let partition = PartitionRow {
            group: 0,
            partition: 3,
            end_offset: 120,
            committed: 100,
            lag: 20,
        };
        write_lag_row(&mut out, window, ("orders", "billing"), &partition);
        assert_eq!(out, "1.000000,2.000000,orders,billing,3,120,100,20\n");
        assert_eq!(
            out.trim_end().split(',').count(),
            LAG.header.split(',').count()
        );
    }

    #[test]
    fn the_statuses_columns_are_the_vocabulary_in_its_order() {
        let names: Vec<&str> = crate::world::Status::ALL.iter().map(|s| s.name()).collect();
        let header = format!("t_start_s,t_end_s,route,{}", names.join(","));
        assert_eq!(STATUSES.header, header);
    }
}
