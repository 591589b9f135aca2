//! A service's `discovery` section compiled into the patterns' own
//! configurations: a Consul health check ([`HealthCheckConfig`]) or a
//! Eureka lease registry ([`LeaseConfig`]), and the callers' cache
//! ([`CachedViewConfig`]), each checked by its pattern's `validate`, so
//! what is accepted here is exactly what the pattern accepts; a
//! [`ConfigError`](crate::patterns::ConfigError) becomes a diagnostic at
//! the scenario's field.

use std::time::Duration;

use super::diagnostic::JsonPath;
use super::model::{DiscoverySpec, ReadinessSpec, Scenario};
use super::policy::Problems;
use super::sampler::Sampler;
use crate::kernel::SimDuration;
use crate::patterns::discovery::{
    CachedViewConfig, HealthCheckConfig, HealthStatus, LeaseConfig, ReadinessConfig,
};

fn duration(d: SimDuration) -> Duration {
    Duration::from_nanos(d.as_nanos())
}

/// How a service's instances are checked.
#[derive(Clone, Debug)]
pub enum CompiledHealth {
    /// Active checks: the check's configuration (initial status passing:
    /// instances present at the start are warm) and the work a check takes.
    Checks {
        /// The pattern's configuration.
        config: HealthCheckConfig,
        /// The work at the instance (none: no time, a worker still needed).
        work: Option<Sampler>,
    },
    /// TTL leases renewed by heartbeats.
    Leases(LeaseConfig),
}

/// When an instance reports itself not ready, compiled.
#[derive(Clone, Debug)]
pub struct CompiledReadiness {
    /// The probe's period and thresholds (the pattern's configuration).
    pub config: ReadinessConfig,
    /// A probe fails while more than this many requests wait in the queue.
    pub queue_above: Option<u32>,
    /// A probe fails while one of these services (by index) has no
    /// instance up.
    pub dependencies: Vec<u32>,
}

/// A service's discovery, compiled.
#[derive(Clone, Debug)]
pub struct CompiledDiscovery {
    /// The service whose network node the registry sits at.
    pub registry: u32,
    /// How instances are checked.
    pub health: CompiledHealth,
    /// The callers' cache.
    pub cache: CachedViewConfig,
    /// The instances' readiness probe, if they have one.
    pub readiness: Option<CompiledReadiness>,
}

/// The discovery of every service (by index), or every problem found.
/// Names were resolved by validation; an unknown one is still a problem,
/// never a panic.
pub(super) fn compile_discovery(
    scenario: &Scenario,
) -> Result<Vec<Option<CompiledDiscovery>>, Problems> {
    let names: Vec<&str> = scenario.services.keys().map(String::as_str).collect();
    let mut problems = Problems::new();
    let mut out = Vec::new();
    for (i, (name, service)) in scenario.services.iter().enumerate() {
        let Some(spec) = &service.discovery else {
            out.push(None);
            continue;
        };
        let path = JsonPath::root().key("services").key(name).key("discovery");
        out.push(compile_one(&path, spec, i as u32, &names, &mut problems));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn compile_one(
    path: &JsonPath,
    spec: &DiscoverySpec,
    own: u32,
    names: &[&str],
    problems: &mut Problems,
) -> Option<CompiledDiscovery> {
    let registry = match &spec.registry {
        None => own,
        Some(name) => match names.binary_search(&name.as_str()) {
            Ok(i) => i as u32,
            Err(_) => {
                problems.push((
                    path.key("registry"),
                    format!("unknown registry service `{name}`"),
                ));
                return None;
            }
        },
    };
    let cache = CachedViewConfig {
        refresh_interval: duration(spec.refresh),
        ..CachedViewConfig::default()
    };
    if let Err(e) = cache.validate() {
        problems.push((path.key("refresh"), format!("refresh {}", e.reason)));
    }
    let health = match (&spec.health_check, &spec.heartbeat) {
        (Some(check), None) => {
            let piece = path.key("health_check");
            let config = HealthCheckConfig {
                timeout: duration(check.timeout),
                success_before_passing: check.successes_before_passing,
                failures_before_critical: check.failures_before_critical,
                initial_status: HealthStatus::Passing,
                deregister_critical_after: check.deregister_critical_after.map(duration),
                ..HealthCheckConfig::consul(duration(check.interval))
            };
            if check.failures_before_critical == 0 {
                problems.push((
                    piece.key("failures_before_critical"),
                    "failures_before_critical must be at least 1".into(),
                ));
            }
            if check.successes_before_passing == 0 {
                problems.push((
                    piece.key("successes_before_passing"),
                    "successes_before_passing must be at least 1".into(),
                ));
            }
            if let Err(e) = config.validate() {
                let field = match e.field {
                    "interval" | "timeout" | "deregister_critical_after" => e.field,
                    _ => "",
                };
                let at = if field.is_empty() {
                    piece.clone()
                } else {
                    piece.key(field)
                };
                problems.push((at, format!("{} {}", e.field, e.reason)));
            }
            let work = match &check.service_time {
                None => None,
                Some(d) => match Sampler::new(d) {
                    Ok(s) => Some(s),
                    Err(reason) => {
                        problems.push((piece.key("service_time"), reason.to_string()));
                        None
                    }
                },
            };
            CompiledHealth::Checks { config, work }
        }
        (None, Some(beat)) => {
            let piece = path.key("heartbeat");
            let config = LeaseConfig {
                lease_duration: duration(beat.lease_duration),
                renewal_interval: duration(beat.renewal_interval),
                renewal_percent_threshold: beat.renewal_percent_threshold,
                self_preservation: beat.self_preservation,
                eviction_interval: duration(beat.eviction_interval),
                ..LeaseConfig::default()
            };
            if let Err(e) = config.validate() {
                let at = match e.field {
                    "lease_duration"
                    | "renewal_interval"
                    | "renewal_percent_threshold"
                    | "eviction_interval" => piece.key(e.field),
                    _ => piece.clone(),
                };
                problems.push((at, format!("{} {}", e.field, e.reason)));
            }
            CompiledHealth::Leases(config)
        }
        _ => {
            problems.push((
                path.clone(),
                "discovery needs exactly one of `health_check` and `heartbeat`".into(),
            ));
            return None;
        }
    };
    let readiness = spec
        .readiness
        .as_ref()
        .and_then(|r| compile_readiness(&path.key("readiness"), r, own, names, problems));
    Some(CompiledDiscovery {
        registry,
        health,
        cache,
        readiness,
    })
}

fn compile_readiness(
    path: &JsonPath,
    spec: &ReadinessSpec,
    own: u32,
    names: &[&str],
    problems: &mut Problems,
) -> Option<CompiledReadiness> {
    let config = ReadinessConfig {
        period: duration(spec.interval),
        failure_threshold: spec.failure_threshold,
        success_threshold: spec.success_threshold,
    };
    let mut ok = true;
    if let Err(e) = config.validate() {
        let field = if e.field == "period" {
            "interval"
        } else {
            e.field
        };
        problems.push((path.key(field), format!("{field} {}", e.reason)));
        ok = false;
    }
    if spec.queue_above.is_none() && spec.dependencies.is_empty() {
        problems.push((
            path.clone(),
            "readiness needs `queue_above` or `dependencies` (or both): what makes an \
             instance not ready"
                .into(),
        ));
        ok = false;
    }
    let mut dependencies = Vec::new();
    for (i, name) in spec.dependencies.iter().enumerate() {
        match names.binary_search(&name.as_str()) {
            Ok(index) if index as u32 == own => {
                problems.push((
                    path.key("dependencies").index(i),
                    format!("`{name}` is this service: a dependency is another service"),
                ));
                ok = false;
            }
            Ok(index) => dependencies.push(index as u32),
            Err(_) => {
                problems.push((
                    path.key("dependencies").index(i),
                    format!("unknown dependency service `{name}`"),
                ));
                ok = false;
            }
        }
    }
    ok.then_some(CompiledReadiness {
        config,
        queue_above: spec.queue_above,
        dependencies,
    })
}
