//! The `instances` block of a service in summary.json: its instances one
//! by one as their callers balanced over or discovered them (shares, load
//! imbalance, each crash's detection), its registry's deregistrations, and
//! the share of keys a hashing balancer moved when its view changed.

use super::*;

/// A service's instances one by one, as their callers saw them.
#[derive(Clone, Debug, Serialize)]
pub struct InstancesSummary {
    /// The most loaded instance's load ÷ the mean load over the instances
    /// (1 is an even spread; 0 when nothing was sent). Load is the
    /// time-average number of attempts in flight to the instance: a slow
    /// instance given an equal share of requests is more loaded.
    pub load_imbalance: f64,
    /// The same ratio for the requests sent (shares of traffic).
    pub request_imbalance: f64,
    /// The same ratio window by window (`series/balance.csv`): its mean
    /// and maximum over the windows in which attempts were sent to the
    /// service (none when there was none).
    pub request_imbalance_windows: Option<WindowImbalanceSummary>,
    /// Per instance, in index order.
    pub each: Vec<InstanceSummary>,
    /// Every crash of one of its instances, in time order.
    pub crashes: Vec<CrashSummary>,
    /// What its registry did, for a service with `discovery`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistrySummary>,
    /// Per edge to it with a hashing balancer whose membership changed:
    /// the share of keys that moved (left out when there is none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub key_movement: Vec<KeyMovementSummary>,
}

/// A service's request imbalance over the run's windows.
#[derive(Clone, Debug, Serialize)]
pub struct WindowImbalanceSummary {
    /// Windows in which attempts were sent to it.
    pub windows: u64,
    /// The mean of their imbalances.
    pub mean: f64,
    /// The largest.
    pub max: f64,
    /// The start of the first window with the largest, seconds.
    pub max_at_s: f64,
}

/// How the keys of an edge's hashing balancers moved when their view of
/// the instances changed, measured over 4,096 keys at each change.
#[derive(Clone, Debug, Serialize)]
pub struct KeyMovementSummary {
    /// The edge.
    pub edge: String,
    /// Membership changes, over all its scope units.
    pub changes: u64,
    /// The mean share of keys that moved at a change.
    pub moved_share_mean: f64,
    /// The largest share that moved at one change.
    pub moved_share_max: f64,
}

/// A discovered service's registry, as it worked.
#[derive(Clone, Debug, Serialize)]
pub struct RegistrySummary {
    /// Checks that failed, and renewals lost on the way.
    pub checks_failed: u64,
    /// Checks and renewals lost because the registry was down.
    pub lost_in_outage: u64,
    /// Callers' view refreshes that succeeded.
    pub refreshes: u64,
    /// Refreshes that failed (lost on the network, or the registry down).
    pub refreshes_failed: u64,
    /// Instances deregistered by the reaper (`deregister_critical_after`).
    pub deregistrations: Vec<DeregistrationSummary>,
    /// Deregistrations not listed (beyond 10,000).
    pub deregistrations_dropped: u64,
}

/// One instance deregistered by the reaper.
#[derive(Clone, Debug, Serialize)]
pub struct DeregistrationSummary {
    /// The instance (within the service).
    pub instance: u32,
    /// When its check last became critical, seconds.
    pub critical_since_s: f64,
    /// When it was deregistered, seconds.
    pub at_s: f64,
}

/// One crash, and how long its callers took to stop sending to it.
#[derive(Clone, Debug, Serialize)]
pub struct CrashSummary {
    /// The instance (within the service).
    pub instance: u32,
    /// When it crashed, seconds.
    pub at_s: f64,
    /// When it restarted, seconds (none: still down at the end).
    pub restarted_s: Option<f64>,
    /// Whether its callers had stopped sending to it before it restarted
    /// (or the run ended).
    pub detected: bool,
    /// From the crash to the last attempt sent to it, seconds; none when
    /// not detected.
    pub detection_s: Option<f64>,
    /// Attempts to it that failed while it was down.
    pub errors: u64,
}

/// One instance in summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct InstanceSummary {
    /// Attempts its callers sent to it (lost ones included).
    pub requests: u64,
    /// Its share of the service's requests.
    pub share: f64,
    /// Attempts it answered with success.
    pub successes: u64,
    /// Attempts that ended otherwise (errors, refusals, timeouts, drops).
    pub failures: u64,
    /// Time-average attempts in flight to it.
    pub load: f64,
    /// The zone it runs in (absent for a service without zones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

fn max_over_mean(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let n = values.clone().count().max(1) as f64;
    let total: f64 = values.clone().sum();
    let max = values.fold(0.0, f64::max);
    if total > 0.0 {
        round6(max / (total / n))
    } else {
        0.0
    }
}

pub(super) fn instances_summary(run: &RunOutcome, service: usize) -> InstancesSummary {
    let (counts, load) = (&run.instances.counts[service], &run.instances.load[service]);
    let total: u64 = counts.iter().map(|c| c.requests).sum();
    InstancesSummary {
        crashes: run
            .instances
            .crashes
            .iter()
            .filter(|c| c.service as usize == service)
            .map(|c| CrashSummary {
                instance: c.instance,
                at_s: secs(c.at),
                restarted_s: c.restarted.map(secs),
                detected: c.detected,
                detection_s: c.detection_time().map(|d| round6(d.as_secs_f64())),
                errors: c.errors,
            })
            .collect(),
        registry: run.instances.registries[service]
            .as_ref()
            .map(|r| RegistrySummary {
                checks_failed: r.checks_failed,
                lost_in_outage: r.lost_in_outage,
                refreshes: r.refreshes,
                refreshes_failed: r.refreshes_failed,
                deregistrations: r
                    .deregistrations
                    .iter()
                    .map(|d| DeregistrationSummary {
                        instance: d.instance,
                        critical_since_s: secs(d.critical_since),
                        at_s: secs(d.at),
                    })
                    .collect(),
                deregistrations_dropped: r.deregistrations_dropped,
            }),
        key_movement: run
            .instances
            .key_movement
            .iter()
            .zip(&run.edges)
            .filter(|(_, e)| e.callee as usize == service)
            .filter_map(|(m, e)| m.map(|m| (m, e)))
            .map(|(m, e)| KeyMovementSummary {
                edge: e.name.clone(),
                changes: m.changes,
                moved_share_mean: round6(m.moved_share_sum / m.changes.max(1) as f64),
                moved_share_max: round6(m.moved_share_max),
            })
            .collect(),
        load_imbalance: max_over_mean(load.iter().copied()),
        request_imbalance: max_over_mean(counts.iter().map(|c| c.requests as f64)),
        request_imbalance_windows: run.instances.series.imbalance.get(service).and_then(
            |over_time| {
                Some(WindowImbalanceSummary {
                    windows: over_time.windows,
                    mean: round6(over_time.mean()?),
                    max: round6(over_time.max),
                    max_at_s: secs(over_time.max_at),
                })
            },
        ),
        each: counts
            .iter()
            .zip(load)
            .enumerate()
            .map(|(i, (c, &load))| InstanceSummary {
                zone: run
                    .zones
                    .as_ref()
                    .and_then(|z| z.of_instance[service].get(i))
                    .filter(|z| !z.is_empty())
                    .cloned(),
                requests: c.requests,
                share: if total > 0 {
                    round6(c.requests as f64 / total as f64)
                } else {
                    0.0
                },
                successes: c.successes,
                failures: c.failures,
                load: round6(load),
            })
            .collect(),
    }
}
