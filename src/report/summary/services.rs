//! The `services` block of summary.json: each service's requests and
//! outcomes, its own answers by status, latency, utilisation and Little's
//! law, and the blocks of what it runs (instances, autoscaler, shedding).

use super::*;

/// A service in summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceSummary {
    /// Requests that reached an instance.
    pub requests: u64,
    /// Successful replies.
    pub successes: u64,
    /// Of the successes, those completed after their caller had given up
    /// (the attempt timed out or was cancelled, the call or the client
    /// request had ended): work done for nobody.
    pub late_successes: u64,
    /// Successes per second of virtual time.
    pub throughput_per_sec: f64,
    /// Successes someone still waited for, per second: (successes −
    /// late_successes) per second.
    pub goodput_per_sec: f64,
    /// Failures by reason.
    pub failures: Failures,
    /// Its own answers, by status (only the statuses seen): a queue or
    /// admission refusal is `unavailable` or `too_many_requests`, its own
    /// error `internal`, a gateway's refusals their own statuses. A failure
    /// passed on from a dependency is `failures.dependency`, and work
    /// dropped, expired or cancelled is not an answer.
    pub statuses: Vec<StatusSummary>,
    /// Time from arrival at an instance to the reply, of answered requests, ms.
    pub latency_ms: LatencySummary,
    /// Time waiting in the queue of requests that started service, ms.
    pub queue_wait_ms: LatencySummary,
    /// Busy workers ÷ all workers, time-averaged. For an autoscaled
    /// service, all workers are its mean instances (`autoscale.mean_instances`)
    /// × its concurrency, not its `max_instances` slots.
    pub utilisation: f64,
    /// Time-average number of requests in the system (queued or in service).
    pub mean_in_system: f64,
    /// Time-average number of requests queued.
    pub mean_in_queue: f64,
    /// Little's law check: L against λ·W.
    pub littles_law: LittlesLaw,
    /// Logical calls addressed to this service by its callers.
    pub calls: u64,
    /// Retry amplification: requests reaching the service ÷ calls made to it
    /// (0 when it was never called). Retries and hedges raise it above 1;
    /// calls refused by the caller (open breaker, full bulkhead...) or lost on
    /// the network lower it below 1.
    pub amplification: f64,
    /// Its instances' lifecycle transitions, by `from->to` (e.g.
    /// `ready->crashed`, `crashed->starting`, `starting->ready`).
    pub instance_transitions: BTreeMap<String, u64>,
    /// Its instances one by one, when its callers balance over them or
    /// discover them (left out otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<InstancesSummary>,
    /// What its autoscaler did, for a service with `autoscale` (left out
    /// otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<AutoscaleSummary>,
    /// What its load shedding did, for a service with `shed` (left out
    /// otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shed: Option<ShedSummary>,
}

/// L = λW for one service: L the time-average number in the system, λ the
/// rate of departures, W their mean time in the system.
#[derive(Clone, Debug, Serialize)]
pub struct LittlesLaw {
    /// Time-average number in the system.
    pub l: f64,
    /// Departures per second.
    pub lambda_per_sec: f64,
    /// Mean time in the system of departures, ms.
    pub w_ms: f64,
    /// |L − λW| ÷ L (0 when L is 0).
    pub relative_error: f64,
}

/// Each service's summary, by name.
pub(super) fn services_summary(
    compiled: &Compiled,
    run: &RunOutcome,
    elapsed: f64,
) -> BTreeMap<String, ServiceSummary> {
    let scenario = compiled.scenario();
    let per_sec = |n: u64| per_second(n, elapsed);
    run.service_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let stats = &run.services[i];
            let c = stats.total;
            let l = stats.mean_in_system_until(run.end);
            let lambda = if elapsed > 0.0 {
                stats.departures as f64 / elapsed
            } else {
                0.0
            };
            let w_s = if stats.departures > 0 {
                stats.sojourn_ns as f64 / stats.departures as f64 / 1e9
            } else {
                0.0
            };
            let relative_error = if l > 0.0 {
                (l - lambda * w_s).abs() / l
            } else {
                0.0
            };
            let autoscale = run.autoscale.get(i).and_then(Option::as_ref);
            // An autoscaled service's workers are those of the instances
            // it ran on average, not of all its slots
            // (`service_workers` is `max_instances` × concurrency).
            let busy = stats.busy.mean_until(run.end);
            let utilisation = match autoscale {
                Some(outcome) => {
                    let concurrency = scenario.services.get(name).map_or(0, |s| s.concurrency);
                    let workers = mean_instances(outcome, elapsed) * f64::from(concurrency);
                    if workers > 0.0 { busy / workers } else { 0.0 }
                }
                None => busy / run.service_workers[i] as f64,
            };
            let summary = ServiceSummary {
                requests: c.requests,
                successes: c.successes,
                late_successes: c.late_successes,
                throughput_per_sec: per_sec(c.successes),
                goodput_per_sec: per_sec(c.successes - c.late_successes),
                failures: Failures::service(&c),
                statuses: statuses(&c),
                latency_ms: stats.latency.summary(),
                queue_wait_ms: stats.queue_wait.summary(),
                utilisation: round6(utilisation),
                mean_in_system: round6(l),
                mean_in_queue: round6(stats.in_queue.mean_until(run.end)),
                littles_law: LittlesLaw {
                    l: round6(l),
                    lambda_per_sec: round6(lambda),
                    w_ms: round3(w_s * 1e3),
                    relative_error: round6(relative_error),
                },
                calls: c.calls,
                amplification: if c.calls > 0 {
                    round6(c.requests as f64 / c.calls as f64)
                } else {
                    0.0
                },
                instance_transitions: run
                    .instance_transitions
                    .get(i)
                    .into_iter()
                    .flatten()
                    .map(|((from, to), n)| (format!("{}->{}", from.name(), to.name()), *n))
                    .collect(),
                instances: run
                    .instances
                    .reported
                    .get(i)
                    .copied()
                    .unwrap_or(false)
                    .then(|| instances_summary(run, i)),
                autoscale: autoscale.map(|outcome| autoscale_summary(outcome, elapsed)),
                shed: run.shed.get(i).and_then(Option::as_ref).map(shed_summary),
            };
            (name.clone(), summary)
        })
        .collect()
}
