//! How much memory a compiled scenario's world can take, estimated before it
//! runs, so that a scenario past a limit is refused with the figures instead
//! of dying by an allocation abort minutes into its run.
//!
//! The estimate is an upper bound by construction, made of what the world
//! holds (`world/`, `metrics/`):
//!
//! - per service and per route, their statistics (two latency histograms
//!   each, the larger part), and per service-to-service edge its statistics
//!   and the pattern state of each scope unit (a breaker's window, a
//!   bulkhead's waiting queue);
//! - per instance, its record and the jobs it may hold: its workers and a
//!   full queue (`concurrency + queue_capacity`);
//! - the network: a dense matrix over the services and the clients;
//! - the faults, and the bounded copy of the time series kept for charts
//!   (and, per autoscaled service, its autoscaler's rows, decisions and
//!   shortfalls, each bounded);
//! - the requests in flight: at most `max_requests_in_flight` (or the
//!   closed-loop population, if smaller), each holding at most as many jobs,
//!   attempts and calls as its call tree has at once: a service's own job,
//!   plus the largest of its call steps, a step being the sum over its
//!   parallel calls of `1 + max_hedges` times the callee's tree.
//!
//! The constants are the sizes of the world's records, rounded up; a test in
//! `world/` checks that none is smaller than the record it stands for.

use std::fmt;

use crate::metrics::LatencyHistogram;

use super::{Compiled, RequirementKind, Scenario};

/// Bytes of one job at an instance, with its share of the event queue.
pub const JOB_BYTES: u64 = 128;
/// Bytes of one attempt record, with its timer's share of the event queue.
pub const ATTEMPT_BYTES: u64 = 192;
/// Bytes of one call record with its retry state.
pub const CALL_BYTES: u64 = 272;
/// Bytes of one client request's context.
pub const REQUEST_BYTES: u64 = 64;
/// Bytes of one gateway rate limiter.
pub const LIMITER_BYTES: u64 = 128;
/// Bytes of one cached token answer: its 32-byte slot (key, answer, LRU
/// links) and up to four 4-byte index positions (the index is the next
/// power of two at or above twice the capacity).
pub const CACHED_TOKEN_BYTES: u64 = 64;
/// Bytes of an instance's own record (192 since an instance carries its
/// autoscaler's meter: 176 measured).
pub const INSTANCE_BYTES: u64 = 192;
/// Bytes of a service's, route's or edge's fixed records, without its
/// histograms.
pub const ENTITY_BYTES: u64 = 640;
/// Bytes of one cell of the network's dense matrices.
pub const NETWORK_PAIR_BYTES: u64 = 128;
/// Bytes of one fault, its window and its place in reports.
pub const FAULT_BYTES: u64 = 256;
/// Bytes of one row of the time series kept for charts.
pub const SERIES_ROW_BYTES: u64 = 320;
/// Bytes of one instance row kept for the per-instance chart.
pub const INSTANCE_ROW_BYTES: u64 = 64;
/// Bytes of one autoscaler row kept for the autoscaling chart, with its
/// window (`(SimTime, SimTime, AutoscaleRow)`).
pub const AUTOSCALE_ROW_BYTES: u64 = 80;
/// Bytes of one autoscaler decision kept for summary.json.
pub const DECISION_BYTES: u64 = 64;
/// Bytes of one shortfall of ready capacity kept for summary.json.
pub const EPISODE_BYTES: u64 = 40;
/// Bytes of a scope unit's pattern state, without its windows and queues.
pub const UNIT_BYTES: u64 = 1024;
/// Bytes of one window kept by a sliding requirement's span: twice its
/// record, as the ring may grow by doubling (checked against the judge's
/// record by a test in `report::requirements`).
pub const REQUIREMENT_WINDOW_BYTES: u64 = 96;

/// Bytes of one saga in flight, without its log's records and its trace:
/// its machine in memory (with its slab slot), its payload and its entry in
/// the live sagas.
pub const SAGA_BYTES: u64 = 2048;
/// Bytes of one record of a saga's log, or one effect of its trace.
pub const SAGA_RECORD_BYTES: u64 = 24;

/// A message in a partition's log and the track that follows its event
/// (`world/broker/`): 16 bytes of log entry, and a `BTreeMap` entry of a
/// track with its key and the tree's share of a node.
pub const EVENT_BYTES: u64 = 112;
/// An outbox table's entry: its id and its slot.
pub const OUTBOX_ENTRY_BYTES: u64 = 16;
/// A dedupe window's id: the ring's and the index's (at least twice as
/// many slots as ids, 16 bytes each).
pub const DEDUPE_ENTRY_BYTES: u64 = 48;

/// A saga followed by choreography (`world/broker/choreo.rs`): its record
/// in a `BTreeMap` with its key and the tree's share of a node, and its
/// place in the queue of sagas to forget.
pub const CHOREOGRAPHY_SAGA_BYTES: u64 = 128;
/// What each step's ledger keeps of a saga followed: its decision and its
/// effect, two `BTreeMap` entries keyed by (saga, step).
pub const CHOREOGRAPHY_STEP_BYTES: u64 = 128;

/// The default limit on the estimate: 4 GiB (raise it with `--max-memory`).
pub const DEFAULT_LIMIT: u64 = 4 << 30;

/// The estimate, with its parts in a fixed order.
#[derive(Clone, Debug, PartialEq)]
pub struct SizeEstimate {
    /// (what, bytes), largest first.
    pub parts: Vec<(String, u64)>,
    /// The memory of one request in flight, and the bound on them.
    per_request: u64,
    requests: u64,
}

impl SizeEstimate {
    /// What to change to fit within `limit`: the `max_requests_in_flight`
    /// that would do it, when the requests in flight are the largest part.
    pub fn fix(&self, limit: u64) -> String {
        let others = self
            .total()
            .saturating_sub(self.requests.saturating_mul(self.per_request));
        let fits = limit.saturating_sub(others) / self.per_request.max(1);
        let requests_first = self
            .parts
            .first()
            .is_some_and(|(what, _)| what.contains("requests in flight"));
        if requests_first && fits >= 1 {
            format!(
                "set \"max_requests_in_flight\": {fits} (or less) in the scenario, or raise the limit with --max-memory"
            )
        } else {
            "make it smaller, or raise the limit with --max-memory".to_string()
        }
    }

    /// The whole estimate in bytes (saturating).
    pub fn total(&self) -> u64 {
        self.parts
            .iter()
            .fold(0u64, |sum, (_, bytes)| sum.saturating_add(*bytes))
    }
}

impl fmt::Display for SizeEstimate {
    /// `about 5.3 GiB: requests in flight 4.1 GiB (...), routes 1.0 GiB (...)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "about {}", bytes(self.total()))?;
        let shown: Vec<String> = self
            .parts
            .iter()
            .filter(|(_, b)| *b > 0)
            .take(3)
            .map(|(what, b)| format!("{what}: {}", bytes(*b)))
            .collect();
        if !shown.is_empty() {
            write!(f, " ({})", shown.join("; "))?;
        }
        Ok(())
    }
}

/// A byte count for people: `512 B`, `3.2 KiB`, `1.5 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Reads a size such as `4GiB`, `512MiB`, `2G`, `1e9` (bytes) for
/// `--max-memory`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("a size such as `8GiB` or `512MiB`, got `{text}`"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "p" | "pb" | "pib" => 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`: use B, KiB, MiB, GiB, TiB or PiB"
            ));
        }
    };
    let total = value * scale;
    if !(total.is_finite() && total >= 1.0) {
        return Err(format!("a size of at least 1 byte, got `{text}`"));
    }
    Ok(if total >= u64::MAX as f64 {
        u64::MAX
    } else {
        total as u64
    })
}

/// The statuses but `Ok` that route `r` can end with: 500 and 503 always;
/// its own timeout with a `timeout` or a policy's timeout or deadline;
/// its policy's local refusals (and its fallback call's); 429 when some
/// service limits its rate; and every gateway status when some service is
/// a gateway.
fn route_statuses(scenario: &crate::scenario::Scenario, r: usize) -> u64 {
    let workload = &scenario.workload;
    let route = &workload.routes[r];
    let policy = route
        .policy
        .as_ref()
        .or(workload.policy.as_ref())
        .and_then(|p| scenario.policies.get(p));
    // A fallback call's own refusals end the route's requests too.
    let fallback = policy
        .and_then(|p| p.fallback.as_ref()?.policy.as_ref())
        .and_then(|p| scenario.policies.get(p));
    let either = |has: fn(&crate::scenario::Policy) -> bool| {
        policy.is_some_and(has) || fallback.is_some_and(has)
    };
    let gateways = scenario.services.values().any(|s| s.gateway.is_some());
    let limited = scenario.services.values().any(|s| s.rate_limit.is_some());
    let own = [
        route.timeout.or(workload.timeout).is_some()
            || either(|p| p.timeout.is_some() || p.deadline.is_some()),
        either(|p| p.breaker.is_some()),
        either(|p| p.bulkhead.is_some()),
        either(|p| p.budget.is_some()),
        either(|p| p.rate_limit.is_some()),
    ];
    let gateway = if gateways { 5 } else { u64::from(limited) };
    2 + own.iter().filter(|o| **o).count() as u64 + gateway
}

/// The world's size for `compiled`.
pub fn estimate(compiled: &Compiled) -> SizeEstimate {
    let scenario = compiled.scenario();
    let services = scenario.services.len() as u64;
    let routes = scenario.workload.routes.len() as u64;
    let histograms = LatencyHistogram::bytes_for(3) + LatencyHistogram::bytes_for(2);
    let entity = ENTITY_BYTES + histograms;
    let mut parts: Vec<(String, u64)> = Vec::new();

    parts.push((
        format!(
            "{services} services and {routes} routes × {} of statistics",
            bytes(entity)
        ),
        (services + routes).saturating_mul(entity),
    ));
    // Each route's latency by status: a histogram of 2 digits for each
    // status but `Ok` that it can end with, allocated at its first request.
    let statuses: u64 = (0..scenario.workload.routes.len())
        .map(|r| route_statuses(scenario, r))
        .sum();
    parts.push((
        format!(
            "{statuses} statuses over {routes} routes × {} of latency by status (at most)",
            bytes(LatencyHistogram::bytes_for(2))
        ),
        statuses.saturating_mul(LatencyHistogram::bytes_for(2)),
    ));

    // Instances and the jobs they can hold.
    let mut instances = 0u64;
    let mut held = 0u64;
    for s in scenario.services.values() {
        instances += u64::from(s.slots());
        let per_instance = u64::from(s.concurrency) + u64::from(s.queue_capacity);
        held = held.saturating_add(u64::from(s.slots()).saturating_mul(per_instance));
    }
    parts.push((
        format!("{instances} instances"),
        instances.saturating_mul(INSTANCE_BYTES),
    ));
    parts.push((
        format!("jobs their workers and full queues can hold ({held})"),
        held.saturating_mul(JOB_BYTES + 8),
    ));

    // Edges and the pattern state of their scope units.
    let mut edges = 0u64;
    let mut unit_bytes = 0u64;
    let instances_of: Vec<u32> = scenario.services.values().map(|s| s.slots()).collect();
    for (i, s) in scenario.services.values().enumerate() {
        for call in compiled.calls(i).iter().flatten() {
            edges += 1;
            if let Some(p) = call.policy {
                let policy = &compiled.policies()[p as usize];
                let units = if policy.stateful() && policy.scope() == super::PolicyScope::Instance {
                    u64::from(s.slots())
                } else {
                    1
                };
                unit_bytes = unit_bytes.saturating_add(units.saturating_mul(unit_state_bytes(
                    scenario,
                    p,
                    instances_of[call.service as usize],
                )));
            }
        }
    }
    for route in compiled.routes() {
        if let Some(p) = route.policy {
            let hosts = instances_of[route.service as usize];
            unit_bytes = unit_bytes.saturating_add(unit_state_bytes(scenario, p, hosts));
        }
    }
    parts.push((
        format!("{edges} service edges"),
        edges.saturating_mul(ENTITY_BYTES),
    ));
    parts.push(("policy state of the scope units".to_string(), unit_bytes));

    let nodes = services + 1;
    parts.push((
        format!("the network ({nodes} × {nodes} pairs)"),
        nodes
            .saturating_mul(nodes)
            .saturating_mul(NETWORK_PAIR_BYTES),
    ));
    let faults = scenario.faults.len() as u64;
    parts.push((
        format!("{faults} faults"),
        faults.saturating_mul(FAULT_BYTES),
    ));
    let rows_per_window = services + routes + edges;
    let kept_rows = (crate::metrics::series::ROW_BUDGET as u64)
        .max(crate::metrics::series::MIN_WINDOWS as u64 * rows_per_window);
    parts.push((
        "time series kept for charts".to_string(),
        kept_rows.saturating_mul(SERIES_ROW_BYTES),
    ));
    // The instance rows kept for the per-instance chart: only when some edge
    // is balanced (the world reports instances then), and never more than
    // their budget.
    if scenario.policies.values().any(|p| p.balancer.is_some()) {
        parts.push((
            "instance rows kept for charts".to_string(),
            (crate::metrics::instances::INSTANCE_ROW_BUDGET as u64)
                .saturating_mul(INSTANCE_ROW_BYTES),
        ));
    }

    // What each autoscaler keeps for reports: its rows for the chart, its
    // decisions and its shortfalls, each up to its bound
    // (`metrics::autoscale`).
    let autoscaled = compiled.autoscale().iter().flatten().count() as u64;
    if autoscaled > 0 {
        use crate::metrics::autoscale::{AUTOSCALE_ROW_BUDGET, MAX_DECISIONS, MAX_EPISODES};
        let per_autoscaler = (AUTOSCALE_ROW_BUDGET as u64 * AUTOSCALE_ROW_BYTES)
            .saturating_add(MAX_DECISIONS as u64 * DECISION_BYTES)
            .saturating_add(MAX_EPISODES as u64 * EPISODE_BYTES);
        parts.push((
            format!("{autoscaled} autoscalers' rows, decisions and shortfalls kept for reports"),
            autoscaled.saturating_mul(per_autoscaler),
        ));
    }

    // The windows each sliding requirement keeps: its span, and never more
    // than the run has.
    let run_windows = (scenario.duration.as_nanos() / scenario.window.as_nanos().max(1)).max(1);
    let spans: u64 = compiled
        .requirements()
        .iter()
        .filter_map(|r| match &r.kind {
            RequirementKind::Success { span, .. }
            | RequirementKind::Latency { span, .. }
            | RequirementKind::Amplification { span, .. } => *span,
            RequirementKind::NoInvariantViolated
            | RequirementKind::TimeToRecover { .. }
            | RequirementKind::NotMetastable => None,
        })
        .map(|span| span.windows.min(run_windows))
        .fold(0u64, u64::saturating_add);
    if spans > 0 {
        parts.push((
            format!("{spans} windows kept by the requirements' spans"),
            spans.saturating_mul(REQUIREMENT_WINDOW_BYTES),
        ));
    }

    // Requests in flight and their call trees.
    let cap = scenario
        .max_requests_in_flight
        .unwrap_or(super::validate::DEFAULT_MAX_REQUESTS_IN_FLIGHT);
    let cap = match &scenario.workload.users {
        Some(users) => cap.min(u64::from(users.count)),
        None => cap,
    };
    let mut memo: Vec<Option<u64>> = vec![None; scenario.services.len()];
    let widest = compiled
        .routes()
        .iter()
        .map(|r| tree(compiled, r.service as usize, &mut memo))
        .max()
        .unwrap_or(1);
    let per_request =
        REQUEST_BYTES.saturating_add(widest.saturating_mul(JOB_BYTES + ATTEMPT_BYTES + CALL_BYTES));
    parts.push((
        format!(
            "{cap} requests in flight × {} (up to {widest} jobs at once per request)",
            bytes(per_request)
        ),
        cap.saturating_mul(per_request),
    ));

    // Gateways: per instance, each route's rate limiters (one per client,
    // or one) and the token cache (its capacity, allocated up front).
    let mut gateway_bytes = 0u64;
    for (i, s) in scenario.services.values().enumerate() {
        let Some(g) = compiled.gateways().get(i).and_then(Option::as_ref) else {
            continue;
        };
        let buckets = |r: &crate::scenario::compile::CompiledRouteLimit| {
            if r.per_client {
                compiled.clients().len() as u64
            } else {
                1
            }
        };
        let limits = g.routes.iter().filter_map(|r| r.rate_limit.as_ref());
        let per_instance_limiters: u64 = limits
            .clone()
            .filter(|r| r.global.is_none())
            .map(buckets)
            .sum();
        // A global limit's buckets are its rate limit service's, once.
        gateway_bytes = gateway_bytes.saturating_add(
            limits
                .filter(|r| r.global.is_some())
                .map(buckets)
                .sum::<u64>()
                .saturating_mul(LIMITER_BYTES),
        );
        let cache = s
            .gateway
            .as_ref()
            .and_then(|g| g.auth.as_ref())
            .filter(|a| a.service.is_some())
            .map_or(0, |a| u64::from(a.cache_capacity.unwrap_or(100)));
        let per_instance = per_instance_limiters
            .saturating_mul(LIMITER_BYTES)
            .saturating_add(cache.saturating_mul(CACHED_TOKEN_BYTES));
        gateway_bytes =
            gateway_bytes.saturating_add(per_instance.saturating_mul(u64::from(s.slots())));
    }
    if gateway_bytes > 0 {
        parts.push((
            "gateways' rate limiters and token caches".to_string(),
            gateway_bytes,
        ));
    }

    // Each orchestrator instance's log holds at most `sagas_in_flight_max`
    // sagas, each with its plan's bound on records, and each of them a
    // machine in memory and a trace of its effects.
    let mut saga_bytes = 0u64;
    for (saga, s) in compiled.sagas().iter().zip(scenario.services.values()) {
        let Some(saga) = saga else {
            continue;
        };
        let per_saga = SAGA_BYTES.saturating_add(
            (saga.plan.records_max() as u64 + saga.plan.calls_max() as u64)
                .saturating_mul(SAGA_RECORD_BYTES),
        );
        saga_bytes = saga_bytes.saturating_add(
            per_saga
                .saturating_mul(saga.sagas_in_flight_max as u64)
                .saturating_mul(u64::from(s.slots())),
        );
    }
    let balances: u64 = scenario
        .services
        .values()
        .filter_map(|s| s.state.as_ref())
        .map(|state| u64::from(state.keys) * 8)
        .sum();
    if saga_bytes.saturating_add(balances) > 0 {
        parts.push((
            "sagas in flight and the stateful services' balances".to_string(),
            saga_bytes.saturating_add(balances),
        ));
    }

    // A broker's partitions hold at most `retention_messages` each, and
    // each message held is followed by a track until it ends; outboxes and
    // dedupe windows are sized at their capacity.
    let events = compiled.events();
    let mut event_bytes = 0u64;
    for topic in &events.topics {
        event_bytes = event_bytes.saturating_add(
            u64::from(topic.partitions)
                .saturating_mul(u64::from(topic.retention_messages))
                .saturating_mul(EVENT_BYTES),
        );
    }
    for publisher in &events.publishers {
        if publisher.mode == crate::scenario::model::PublishMode::Outbox {
            event_bytes = event_bytes.saturating_add(
                (publisher.outbox_capacity as u64).saturating_mul(OUTBOX_ENTRY_BYTES + EVENT_BYTES),
            );
        }
    }
    for group in &events.groups {
        if group.idempotent {
            event_bytes = event_bytes
                .saturating_add((group.dedupe_window as u64).saturating_mul(DEDUPE_ENTRY_BYTES));
        }
        // Its staleness over the run and over the window, and the rows kept
        // for its chart (with their windows).
        let row = std::mem::size_of::<crate::metrics::events::GroupRow>() as u64 + 16;
        event_bytes = event_bytes
            .saturating_add(crate::metrics::LatencyHistogram::bytes_for(3))
            .saturating_add(crate::metrics::LatencyHistogram::bytes_for(2))
            .saturating_add(crate::metrics::events::GROUP_ROW_BUDGET as u64 * row);
    }
    // A choreography follows at most `sagas_max` sagas, each with what
    // every step's ledger keeps of it; and the ledgers' balances.
    for c in &events.choreographies {
        let per_saga = CHOREOGRAPHY_SAGA_BYTES
            .saturating_add((c.steps.len() as u64).saturating_mul(CHOREOGRAPHY_STEP_BYTES));
        event_bytes = event_bytes.saturating_add((c.sagas_max as u64).saturating_mul(per_saga));
        for step in &c.steps {
            event_bytes = event_bytes.saturating_add(u64::from(step.keys) * 8);
        }
    }
    if event_bytes > 0 {
        parts.push((
            "the brokers' logs, the outboxes, the dedupe windows and the choreographies' sagas"
                .to_string(),
            event_bytes,
        ));
    }

    parts.sort_by_key(|p| std::cmp::Reverse(p.1));
    SizeEstimate {
        parts,
        per_request,
        requests: cap,
    }
}

/// The most jobs a request entering `service` holds at once: its own, plus
/// the widest of its call steps (steps run one after another; the calls of
/// a parallel step, and their hedges, at once). Validation refuses call
/// cycles, so the recursion ends.
fn tree(compiled: &Compiled, service: usize, memo: &mut Vec<Option<u64>>) -> u64 {
    if let Some(known) = memo[service] {
        return known;
    }
    // A guard against a cycle that validation let through: count nothing.
    memo[service] = Some(1);
    let mut widest = 0u64;
    // A gateway holds one call at a time: the auth service's, then the
    // backend's.
    if let Some(g) = compiled.gateways().get(service).and_then(Option::as_ref) {
        let auth = g.auth.as_ref().and_then(|a| a.service.as_ref());
        for call in g.routes.iter().flat_map(|r| &r.backends).chain(auth) {
            let copies = call
                .policy
                .and_then(|p| compiled.scenario().policies.values().nth(p as usize))
                .and_then(|p| p.hedge.as_ref())
                .map_or(1, |h| 1 + u64::from(h.max_hedges));
            let below = tree(compiled, call.service as usize, memo);
            widest = widest.max(copies.saturating_mul(below));
        }
    }
    for step in compiled.calls(service) {
        let mut width = 0u64;
        for call in step {
            let copies = call
                .policy
                .and_then(|p| compiled.scenario().policies.values().nth(p as usize))
                .and_then(|p| p.hedge.as_ref())
                .map_or(1, |h| 1 + u64::from(h.max_hedges));
            let below = tree(compiled, call.service as usize, memo);
            width = width.saturating_add(copies.saturating_mul(below));
        }
        widest = widest.max(width);
    }
    let total = 1u64.saturating_add(widest);
    memo[service] = Some(total);
    total
}

/// A scope unit's pattern state for policy `p` (name order): its records,
/// a breaker's window, a bulkhead's waiting queue, and a balancer's state
/// over the callee's `hosts` instances (with a hashing balancer's table).
fn unit_state_bytes(scenario: &Scenario, p: u16, hosts: u32) -> u64 {
    let Some(policy) = scenario.policies.values().nth(p as usize) else {
        return UNIT_BYTES;
    };
    let window = policy
        .breaker
        .as_ref()
        .map_or(0, |b| u64::from(b.window_size) * 16);
    let waiting = policy
        .bulkhead
        .as_ref()
        .and_then(|b| b.max_waiting)
        .map_or(0, |w| u64::from(w) * 32);
    let hosts = u64::from(hosts);
    let balancer = match policy.balancer {
        None => 0,
        Some(super::BalancerKind::RingHash) => hosts * 24 + 16 * hosts.max(1024),
        Some(super::BalancerKind::Maglev) => hosts * 24 + 4 * 65_537,
        Some(_) => hosts * 24,
    };
    // A `cached` fallback's answers per key: two ordered-map entries each.
    let keys = policy
        .fallback
        .as_ref()
        .filter(|f| f.cached.is_some())
        .and_then(|f| f.cache_keys)
        .map_or(0, |k| u64::from(k) * KEY_CACHE_ENTRY_BYTES);
    UNIT_BYTES + window + waiting + balancer + keys
}

/// A `cached` fallback's memory per request key: an entry in each of two
/// B-tree maps (key to time and sequence, sequence to key), with their
/// nodes' overhead.
pub const KEY_CACHE_ENTRY_BYTES: u64 = 96;

#[cfg(test)]
mod tests;
