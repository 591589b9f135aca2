//! Discovery and outlier-detection settings that cannot do what they seem
//! to, for the fleets they are used on.

use std::collections::BTreeSet;

use super::Lints;
use crate::scenario::diagnostic::JsonPath;

impl Lints<'_> {
    /// Discovery settings that cannot do what they seem to: checks that
    /// never run twice, leases that expire between renewals, caches staler
    /// than the lease, self-preservation that keeps a single crash, a
    /// readiness probe on a shared dependency (it empties the pool), a
    /// reaper delay below Consul's minimum (raised silently otherwise), and
    /// graceful stops that refuse callers before their views drop the
    /// instance (a shutdown delay shorter than the refresh).
    pub(super) fn discovery(&mut self) {
        let scenario = self.scenario;
        let run = scenario.duration;
        for (name, service) in &scenario.services {
            let Some(d) = &service.discovery else {
                continue;
            };
            let path = JsonPath::root().key("services").key(name).key("discovery");
            // A stopping instance deregisters at once; callers drop it at
            // their next refresh. Until then, without a shutdown delay that
            // covers it, it refuses them with 503 (Kubernetes' preStop).
            let stops = service.autoscale.is_some()
                || scenario
                    .faults
                    .iter()
                    .any(|f| f.stop.as_ref().is_some_and(|s| s.service == *name));
            let delay = service.shutdown_delay.unwrap_or_default();
            if stops && delay < d.refresh {
                let why = if service.autoscale.is_some() {
                    "each scale-down"
                } else {
                    "each `stop`"
                };
                self.warn(
                    JsonPath::root()
                        .key("services")
                        .key(name)
                        .key("shutdown_delay"),
                    format!(
                        "{why} deregisters an instance of `{name}` that stops serving {}, while callers refresh their view every {}: until they do, it refuses them with 503",
                        if delay.is_zero() {
                            "at once".to_string()
                        } else {
                            format!("after {delay}")
                        },
                        d.refresh
                    ),
                    format!(
                        "set \"shutdown_delay\" to at least the refresh ({}), as a Kubernetes preStop sleep does",
                        d.refresh
                    ),
                );
            }
            if let Some(check) = &d.health_check
                && check.interval >= run
            {
                self.warn(
                    path.key("health_check").key("interval"),
                    format!(
                        "checks every {} in a run of {}: no instance is checked more than once, so a crash is never detected",
                        check.interval, run
                    ),
                    "use an interval well below the run's duration",
                );
            }
            if d.refresh >= run {
                self.warn(
                    path.key("refresh"),
                    format!(
                        "callers refresh their view every {} in a run of {}: they never learn of a change",
                        d.refresh, run
                    ),
                    "use a refresh well below the run's duration",
                );
            }
            if let Some(readiness) = &d.readiness
                && !readiness.dependencies.is_empty()
            {
                self.warn(
                    path.key("readiness").key("dependencies"),
                    format!(
                        "every instance of `{name}` is not ready while {} is down: the whole pool leaves at once, and callers fail fast with no instance to call until it returns",
                        readiness
                            .dependencies
                            .iter()
                            .map(|d| format!("`{d}`"))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                    "probe only what is the instance's own (queue_above), and guard a shared dependency with a timeout and a breaker (Kubernetes: readiness probes should not check shared dependencies)",
                );
            }
            if let Some(check) = &d.health_check
                && let Some(after) = check.deregister_critical_after
                && after < crate::kernel::SimDuration::from_secs(60)
            {
                self.warn(
                    path.key("health_check").key("deregister_critical_after"),
                    format!(
                        "deregister_critical_after {after} is raised to 1m, Consul's minimum, and the reaper runs every 30s: a critical instance is deregistered 1m to 1m30s after it became critical"
                    ),
                    "write 1m or more, so the file says what happens",
                );
            }
            let Some(beat) = &d.heartbeat else {
                continue;
            };
            if beat.renewal_interval >= beat.lease_duration {
                self.warn(
                    path.key("heartbeat").key("renewal_interval"),
                    format!(
                        "renewals every {} for a lease of {}: every lease expires between renewals and live instances are evicted",
                        beat.renewal_interval, beat.lease_duration
                    ),
                    "renew several times per lease (Eureka: every 30s for 90s)",
                );
            }
            if d.refresh > beat.lease_duration {
                self.warn(
                    path.key("refresh"),
                    format!(
                        "callers refresh every {}, longer than the lease of {}: after an eviction they keep calling the dead instance for up to {} more",
                        d.refresh, beat.lease_duration, d.refresh
                    ),
                    "refresh at most once per lease duration",
                );
            }
            let n = f64::from(service.instances);
            if beat.self_preservation && (n - 1.0) / n < beat.renewal_percent_threshold {
                self.warn(
                    path.key("heartbeat").key("self_preservation"),
                    format!(
                        "with {} instances one crash takes renewals to {:.0}%, below the threshold of {:.0}%: self-preservation stops evictions and the crashed instance stays registered",
                        service.instances,
                        100.0 * (n - 1.0) / n,
                        100.0 * beat.renewal_percent_threshold
                    ),
                    "set \"self_preservation\": false, lower renewal_percent_threshold, or run more instances (Eureka's own advice for small fleets)",
                );
            }
        }
    }

    /// Outlier detection that cannot work for the pool it is used on: a
    /// `max_ejection_percent` that ejects nothing, or everything; a panic
    /// threshold that the most ejections allowed already cross, so that
    /// ejection "does nothing" (Envoy issues #2671, #27066, #28304).
    pub(super) fn ejection(&mut self) {
        let scenario = self.scenario;
        // (policy, callee instances) pairs in use, each once, in order.
        let mut uses: BTreeSet<(String, u32)> = BTreeSet::new();
        let instances = |name: &str| scenario.services.get(name).map(|s| s.instances);
        let workload_policy = scenario.workload.policy.as_deref();
        for route in &scenario.workload.routes {
            if let (Some(p), Some(n)) = (
                route.policy.as_deref().or(workload_policy),
                instances(&route.service),
            ) {
                uses.insert((p.to_string(), n));
            }
        }
        for service in scenario.services.values() {
            for step in &service.calls {
                if let (Some(p), Some(n)) = (
                    step.policy.as_deref(),
                    step.service.as_deref().and_then(instances),
                ) {
                    uses.insert((p.to_string(), n));
                }
                for call in step.parallel.iter().flatten() {
                    if let (Some(p), Some(n)) = (call.policy.as_deref(), instances(&call.service)) {
                        uses.insert((p.to_string(), n));
                    }
                }
            }
        }
        for (name, n) in uses {
            let Some(compiled) = self.policy(Some(&name)) else {
                continue;
            };
            let Some(config) = compiled.outlier() else {
                continue;
            };
            let panic = compiled.panic().percent();
            let percent = config.max_ejection_percent;
            let rule = config.max_ejection_rule;
            let mut most = 0;
            while most < n && rule.allows(most, n, percent) {
                most += 1;
            }
            let path = JsonPath::root()
                .key("policies")
                .key(&name)
                .key("outlier_detection")
                .key("max_ejection_percent");
            if most == 0 {
                self.warn(
                    path,
                    format!(
                        "max_ejection_percent {percent} of {n} instances ejects none: the share after an ejection, 100/{n}%, is above it (Envoy ≥ 1.28 counts the candidate)"
                    ),
                    format!(
                        "raise max_ejection_percent to at least {} for this pool",
                        100_u32.div_ceil(n)
                    ),
                );
                continue;
            }
            if most == n {
                self.warn(
                    path.clone(),
                    format!(
                        "max_ejection_percent {percent} lets all {n} instances be ejected: {}",
                        if panic > 0.0 {
                            "the panic threshold then sends to every instance anyway".to_string()
                        } else {
                            "with no panic threshold the pool empties and every call fails (no healthy upstream)".to_string()
                        }
                    ),
                    "keep max_ejection_percent below 100 × (instances − 1) / instances",
                );
            }
            let healthy_with = |k: u32| 100.0 * f64::from(n - k) / f64::from(n);
            if let Some(k) = (1..=most).find(|&k| healthy_with(k) < panic) {
                let healthy = healthy_with(k);
                self.warn(
                    JsonPath::root().key("policies").key(&name).key("panic_threshold"),
                    format!(
                        "with {k} of {n} instances ejected {healthy:.0}% are healthy, below the panic threshold of {panic}%: the balancer then ignores ejection and sends to every instance",
                    ),
                    "lower panic_threshold (0 disables it) or max_ejection_percent, or run more instances",
                );
            }
        }
    }
}
