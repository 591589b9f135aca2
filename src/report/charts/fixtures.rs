//! Runs made up for the tests of the chart modules: routes and services with
//! failures and faults, and the same with resilience policies and breakers.

use std::collections::BTreeMap;

use super::super::output::Files;
use super::plan::Plan;
use crate::kernel::{SimTime, StopReason};
use crate::metrics::{BreakerEvent, Counts, EntityKind, InstanceRow, WindowRow};
use crate::world::network::NetworkStats;
use crate::world::{EdgeInfo, FaultWindow, RunOutcome};

fn row(kind: EntityKind, entity: u32, i: u64, counts: Counts, p50: Option<f64>) -> WindowRow {
    WindowRow {
        start: SimTime::from_nanos(i * 1_000_000_000),
        end: SimTime::from_nanos((i + 1) * 1_000_000_000),
        kind,
        entity,
        counts,
        latency_ms_p50: p50,
        latency_ms_p99: p50.map(|v| v * 3.0),
        in_flight: i % 5,
        queue_length: (kind == EntityKind::Service).then_some(i % 3),
        breakers_open: None,
    }
}

pub(super) fn outcome(windows: u64, successes: bool, names: &[&str]) -> RunOutcome {
    let mut rows = Vec::new();
    for i in 0..windows {
        let c = Counts {
            requests: 100 + i,
            successes: if successes { 90 } else { 0 },
            errors: 3,
            rejected: i % 2,
            timeouts: 1,
            dropped: 2,
            dependency: 1,
            ..Counts::default()
        };
        rows.push(row(
            EntityKind::Route,
            0,
            i,
            c,
            successes.then_some(10.0 + i as f64),
        ));
        for s in 0..names.len() as u32 {
            rows.push(row(EntityKind::Service, s, i, c, Some(5.0)));
        }
    }
    RunOutcome {
        stop: StopReason::Horizon,
        stop_cause: None,
        instance_transitions: Vec::new(),
        requests_capped: 0,
        max_requests_in_flight: 1_000_000,
        end: SimTime::from_nanos(windows * 1_000_000_000),
        events: 0,
        service_names: names.iter().map(|s| s.to_string()).collect(),
        route_names: vec!["checkout".into()],
        route_services: vec![0],
        routes: Vec::new(),
        client_names: Vec::new(),
        clients: Vec::new(),
        services: Vec::new(),
        service_workers: vec![4; names.len()],
        edges: Vec::new(),
        edge_stats: Vec::new(),
        breaker_events: Vec::new(),
        breaker_events_dropped: 0,
        breaker_transitions: Vec::new(),
        rows,
        rows_merged: 1,
        network: NetworkStats::default(),
        instances: Default::default(),
        autoscale: vec![None; names.len()],
        zones: None,
        faults: vec![
            FaultWindow {
                kind: "crash",
                target: format!("{} instance 0", names[0]),
                start: SimTime::from_nanos(1_000_000_000),
                end: Some(SimTime::from_nanos(3_000_000_000)),
            },
            FaultWindow {
                kind: "latency",
                target: "everything +5ms".into(),
                start: SimTime::from_nanos(2_000_000_000),
                end: None,
            },
        ],
        phases: Vec::new(),
        route_phases: Vec::new(),
        service_phases: Vec::new(),
        recovery: Vec::new(),
        edge_attributable: Vec::new(),
        gateways: Vec::new(),
        credential_check: None,
        shed: Vec::new(),
        limiters: Vec::new(),
        sagas: Vec::new(),
        stores: Vec::new(),
        messaging: None,
    }
}

/// The charts of `run` as [`super::render`] draws them, without a scenario:
/// no offered rate, no schedule, every edge one that may retry.
pub(super) fn render(run: &RunOutcome) -> std::io::Result<Files> {
    super::render_plan(run, &Plan::unknown())
}

pub(super) fn names(files: &Files) -> Vec<&str> {
    files.iter().map(|(n, _)| n.as_str()).collect()
}

pub(super) fn edge(name: &str, callee: u32, is_route: bool, units: u32) -> EdgeInfo {
    EdgeInfo {
        name: name.to_string(),
        callee,
        policy: Some("p".into()),
        is_route,
        has_breaker: units > 0,
        units: units.max(1),
        fallback_of: None,
    }
}

pub(super) fn transition(
    at_ms: u64,
    edge: u32,
    unit: u32,
    from: &'static str,
    to: &'static str,
) -> BreakerEvent {
    BreakerEvent {
        at: SimTime::from_nanos(at_ms * 1_000_000),
        edge,
        unit,
        from,
        to,
    }
}

/// `outcome` with a route (edge 0) into `orders` and an edge
/// `orders->payments` (edge 1) with `units` breakers (none when 0):
/// retries, hedges, denied retries and local refusals in every window,
/// and amplification at `payments`.
pub(super) fn resilient(windows: u64, units: u32) -> RunOutcome {
    let mut run = outcome(windows, true, &["orders", "payments"]);
    run.edges = vec![
        edge("client->orders", 0, true, units.min(1)),
        edge("orders->payments [p]", 1, false, units),
    ];
    for r in &mut run.rows {
        let i = r.start.as_nanos() / 1_000_000_000;
        match (r.kind, r.entity) {
            (EntityKind::Route, _) => {
                r.counts.attempts = 110 + i;
                r.counts.retries = 10;
                r.counts.breaker_open = i % 3;
                r.counts.rate_limited = 1;
                r.breakers_open = Some(0);
            }
            (EntityKind::Service, 1) => {
                r.counts.calls = 50;
                r.counts.requests = 50 + 5 * i;
            }
            _ => {}
        }
    }
    for i in 0..windows {
        let counts = Counts {
            requests: 50,
            successes: 45,
            attempts: 50 + 5 * i,
            retries: 4 * i,
            hedges: i,
            retries_denied: i % 2,
            ..Counts::default()
        };
        let mut r = row(EntityKind::Edge, 1, i, counts, None);
        r.breakers_open = (units > 0).then_some(0);
        run.rows.push(r);
    }
    if units > 0 && windows > 0 {
        run.breaker_events = vec![
            transition(500, 1, 0, "closed", "open"),
            transition(1_500, 1, 0, "open", "half_open"),
            transition(1_510, 1, 0, "half_open", "closed"),
            transition(1_700, 0, 0, "closed", "forced_open"),
        ];
        let mut one = BTreeMap::new();
        one.insert(("closed", "open"), 1);
        run.breaker_transitions = vec![BTreeMap::new(), one];
    } else {
        run.breaker_transitions = vec![BTreeMap::new(); 2];
    }
    run
}

/// `outcome` for `orders` and `payments` with `instances` instances of
/// `orders` reported one by one: 10 attempts to each per window, except
/// instance 0 (crashed from 1 s to 3 s by the first fault), which gets
/// none in windows 1 and 2 and is out of every pool at the end of window 2;
/// instance 1 is ejected by one caller at the end of window 3.
pub(super) fn balanced(windows: u64, instances: u32) -> RunOutcome {
    let mut run = outcome(windows, true, &["orders", "payments"]);
    let mut series = crate::metrics::instances::InstanceSeries::default();
    for w in 0..windows {
        let rows: Vec<InstanceRow> = (0..instances)
            .map(|i| {
                let down = i == 0 && (1..3).contains(&w);
                let gone = i == 0 && w == 2;
                let ejected = i == 1 && w == 3;
                InstanceRow {
                    service: 0,
                    instance: i,
                    requests: if down { 0 } else { 10 },
                    successes: if down { 0 } else { 10 },
                    registered: !gone,
                    in_pools: u32::from(!gone && !ejected),
                    ejected_by: u32::from(ejected),
                    ..InstanceRow::default()
                }
            })
            .collect();
        series.push_window(
            SimTime::from_nanos(w * 1_000_000_000),
            SimTime::from_nanos((w + 1) * 1_000_000_000),
            &rows,
        );
    }
    run.instances.series = series.finish();
    run
}
