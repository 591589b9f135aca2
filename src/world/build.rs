//! Building the world from a compiled scenario: services and their
//! instances, the edges (routes first, then one per caller, callee, policy
//! and timeout) with the pattern state of each scope unit, the network, the
//! clients and the fault timeline; and scheduling the first events.
//!
//! Nothing here can fail: [`Compiled`] carries every name resolved to an
//! index and every policy's patterns built and validated.

use std::collections::{BTreeMap, VecDeque};

use crate::kernel::{Kernel, RngStreams, SimDuration, SimTime};
use crate::metrics::{ClosedWindow, EdgeStats, RouteStats, ServiceStats};
use crate::scenario::{CallTarget, Compiled, FallbackAnswer};

use super::balance::Balancer;
use super::behaviour::Behaviour;
use super::client::Clients;
use super::credential::CredentialGuard;
use super::discovery::{Discovery, UnitView};
use super::draws::Draws;
use super::fallback::{EdgeFallback, FallbackTo};
use super::faults;
use super::gateway::GatewayModel;
use super::lifecycle::InstanceState;
use super::limiter::LimiterModel;
use super::network::Network;
use super::policy::{EdgeState, PolicyModel};
use super::registry::Registry;
use super::slab::Slab;
use super::{CallSpec, EdgeInfo, EdgeModel, Event, Instance, RowSink, ServiceModel, World};

impl<'s> World<'s> {
    /// Builds the world of a compiled scenario; also returns the edges for
    /// reports. It cannot fail: every name was resolved and every pattern
    /// built by [`crate::scenario::compile()`].
    pub fn new(
        compiled: &Compiled,
        streams: &RngStreams,
        sink: &'s mut RowSink<'s>,
    ) -> (World<'s>, Vec<EdgeInfo>) {
        let scenario = compiled.scenario();
        let samplers = compiled.samplers();
        let service_names: Vec<&String> = scenario.services.keys().collect();
        let policy_names: Vec<&String> = scenario.policies.keys().collect();
        let policies: Vec<PolicyModel> = compiled.policies().iter().map(PolicyModel::new).collect();
        // Every instance a service may run: an autoscaled one has all its
        // slots, those beyond `instances` held stopped (`autoscale.rs`).
        let instances_of: Vec<u32> = scenario.services.values().map(|s| s.slots()).collect();
        let discovered: Vec<bool> = compiled.discovery().iter().map(Option::is_some).collect();
        let mut edges: Vec<EdgeModel> = Vec::new();
        let mut infos: Vec<EdgeInfo> = Vec::new();
        let workload = &scenario.workload;
        // Routes are edges 0..R, one per route, from the clients.
        for (route, target) in workload.routes.iter().zip(compiled.routes()) {
            let policy = target.policy;
            let model = policy.map(|p| &policies[p as usize]);
            let callee = target.service;
            let name = route.name.clone().unwrap_or_else(|| route.service.clone());
            edges.push(EdgeModel {
                caller: None,
                callee,
                policy,
                attempt_timeout: model.and_then(|p| p.timeout),
                give_up_after: target.give_up_after,
                balanced: model.is_some_and(PolicyModel::has_balancer)
                    || discovered[callee as usize],
                units: edge_units(
                    model,
                    1,
                    instances_of[callee as usize],
                    discovered[callee as usize],
                ),
                fallback: None,
                fallback_of: None,
            });
            infos.push(EdgeInfo {
                // Several routes may enter one service: name the route too.
                name: if name == route.service {
                    format!("client->{}", route.service)
                } else {
                    format!("client->{} [{name}]", route.service)
                },
                callee,
                policy: policy.map(|p| policy_names[p as usize].clone()),
                is_route: true,
                has_breaker: model.is_some_and(|p| p.has_breaker()),
                units: model.map_or(0, |p| p.units(1)),
                fallback_of: None,
            });
        }
        // Service edges: one per (caller, callee, policy), shared by every
        // call spec with that triple.
        let mut edge_of: BTreeMap<(u32, u32, Option<u16>, Option<SimDuration>), u32> =
            BTreeMap::new();
        let mut services = Vec::new();
        let mut instances = Vec::new();
        // Per service, the edge of each of its saga's steps (empty: not an
        // orchestrator).
        let mut saga_edges: Vec<Vec<u32>> = Vec::new();
        // Per service, its publish call's edge (none: it does not publish).
        let mut publish_edges: Vec<Option<u32>> = Vec::new();
        for (i, (name, s)) in scenario.services.iter().enumerate() {
            let caller = i as u32;
            let mut steps = Vec::new();
            // A gateway's routes' backends are its calls (it has no
            // `calls`): one group per route, each backend an edge.
            let gateway = compiled.gateways()[i].as_ref();
            // Under remote validation, the auth service's call is one group
            // more, after the routes'.
            let auth_call: Option<Vec<CallTarget>> = gateway
                .and_then(|g| g.auth.as_ref()?.service.clone())
                .map(|c| vec![c]);
            // Under a global rate limit, each such route's call to its rate
            // limit service is one group more, after the auth call's.
            let limit_calls: Vec<Vec<CallTarget>> = gateway
                .iter()
                .flat_map(|g| &g.routes)
                .filter_map(|r| Some(vec![r.rate_limit.as_ref()?.global.as_ref()?.call.clone()]))
                .collect();
            // An orchestrator's saga steps are its calls, one group each.
            let saga_calls: Vec<Vec<CallTarget>> = compiled.sagas()[i]
                .iter()
                .flat_map(|saga| saga.steps.iter().map(|step| vec![step.call.clone()]))
                .collect();
            // A producer's publish call is one group more, the last.
            let publish_call: Option<Vec<CallTarget>> = compiled
                .events()
                .publishers
                .iter()
                .find(|p| p.service == caller)
                .map(|p| vec![p.call.clone()]);
            let groups = compiled
                .calls(i)
                .iter()
                .chain(
                    gateway
                        .into_iter()
                        .flat_map(|g| g.routes.iter().map(|r| &r.backends)),
                )
                .chain(auth_call.iter())
                .chain(limit_calls.iter())
                .chain(saga_calls.iter())
                .chain(publish_call.iter());
            let pipeline_steps = compiled.calls(i).len();
            for (g, group) in groups.enumerate() {
                // A gateway route's name tells its edges apart.
                let route_name = g
                    .checked_sub(pipeline_steps)
                    .and_then(|r| Some(gateway?.routes.get(r)?.name.as_str()));
                let mut specs = Vec::new();
                for &CallTarget {
                    service: callee,
                    policy,
                    probability,
                    optional,
                    timeout,
                } in group
                {
                    let target = service_names[callee as usize];
                    let policy_name = policy.map(|p| policy_names[p as usize]);
                    let model = policy.map(|p| &policies[p as usize]);
                    let attempt_timeout = timeout.or(model.and_then(|p| p.timeout));
                    let key = (caller, callee, policy, attempt_timeout);
                    let edge = match edge_of.get(&key) {
                        Some(edge) => *edge,
                        None => {
                            let edge = edges.len() as u32;
                            let mut edge_name = format!("{name}->{target}");
                            if infos.iter().any(|e| e.name == edge_name) || policy_name.is_some() {
                                if let Some(p) = &policy_name {
                                    edge_name = format!("{edge_name} [{p}]");
                                }
                                if let Some(route) = route_name
                                    && infos.iter().any(|e| e.name == edge_name)
                                {
                                    edge_name = format!("{edge_name} [route {route}]");
                                }
                                let base = edge_name.clone();
                                let mut n = 2;
                                while infos.iter().any(|e| e.name == edge_name) {
                                    edge_name = format!("{base} #{n}");
                                    n += 1;
                                }
                            }
                            let states = edge_units(
                                model,
                                s.slots(),
                                instances_of[callee as usize],
                                discovered[callee as usize],
                            );
                            let units = states.len() as u32;
                            edges.push(EdgeModel {
                                caller: Some(caller),
                                callee,
                                policy,
                                attempt_timeout,
                                give_up_after: None,
                                balanced: model.is_some_and(PolicyModel::has_balancer)
                                    || discovered[callee as usize],
                                units: states,
                                fallback: None,
                                fallback_of: None,
                            });
                            infos.push(EdgeInfo {
                                name: edge_name,
                                callee,
                                policy: policy_name.cloned(),
                                is_route: false,
                                has_breaker: model.is_some_and(|p| p.has_breaker()),
                                units,
                                fallback_of: None,
                            });
                            edge_of.insert(key, edge);
                            edge
                        }
                    };
                    specs.push(CallSpec {
                        edge,
                        probability,
                        optional,
                    });
                }
                steps.push(specs);
            }
            publish_edges.push(
                publish_call
                    .is_some()
                    .then(|| steps.pop().expect("the publish call")[0].edge),
            );
            let own_saga_edges: Vec<u32> = steps
                .split_off(steps.len() - saga_calls.len())
                .iter()
                .map(|group| group[0].edge)
                .collect();
            saga_edges.push(own_saga_edges);
            let autoscaled = compiled.autoscale()[i].is_some();
            services.push(ServiceModel {
                first_instance: instances.len() as u32,
                instances: s.slots(),
                concurrency: s.concurrency,
                queue_capacity: s.queue_capacity,
                service_time: samplers.service_times[i].clone(),
                base_error_rate: s.error_rate,
                boot_time: samplers.boot_times[i].clone(),
                boot_factor: 1.0,
                shutdown_delay: s.shutdown_delay.filter(|d| !d.is_zero()),
                transitions: BTreeMap::new(),
                behaviour: match gateway {
                    None => match LimiterModel::new(compiled, caller) {
                        Some(limiter) => Behaviour::Limiter(Box::new(limiter)),
                        None => Behaviour::Pipeline,
                    },
                    Some(g) => {
                        let mut edges: Vec<Vec<u32>> = std::mem::take(&mut steps)
                            .iter()
                            .map(|s: &Vec<CallSpec>| s.iter().map(|c| c.edge).collect())
                            .collect();
                        let limit_edges: Vec<u32> = edges
                            .split_off(edges.len() - limit_calls.len())
                            .into_iter()
                            .map(|group| group[0])
                            .collect();
                        let auth_edge = auth_call.is_some().then(|| edges.pop().expect("auth")[0]);
                        Behaviour::Gateway(Box::new(GatewayModel::new(
                            g,
                            edges,
                            auth_edge,
                            limit_edges,
                            s.slots(),
                            compiled.clients().len(),
                            &service_names,
                        )))
                    }
                },
                steps,
                balancer: Balancer::round_robin(),
                admission: compiled.admission()[i],
            });
            for n in 0..s.slots() as usize {
                let base_slowdown = s.instance_slowdown.get(n).copied().unwrap_or(1.0);
                // A slot beyond the autoscaler's first count starts held:
                // stopped, its one stop the controller's.
                let held = n >= s.instances as usize;
                instances.push(Instance {
                    service: caller,
                    state: if held {
                        InstanceState::Stopped
                    } else {
                        InstanceState::Ready
                    },
                    crashes: 0,
                    stops: u16::from(held),
                    lingering: 0,
                    early_resumes: 0,
                    booting: false,
                    restarts: 0,
                    busy: 0,
                    queue: VecDeque::new(),
                    base_slowdown,
                    slowdown: base_slowdown,
                    added_latency: SimDuration::ZERO,
                    error_rate: s.error_rate,
                    metered: autoscaled,
                });
            }
        }
        fallback_edges(
            &mut edges,
            &mut infos,
            &policies,
            &policy_names,
            &service_names,
            &instances_of,
            &discovered,
        );
        let client_node = services.len() as u32;
        let links: Vec<_> = scenario
            .network
            .links
            .iter()
            .zip(compiled.links())
            .zip(&samplers.links)
            .map(|((l, &(from, to)), latency)| {
                (from as usize, to as usize, latency.clone(), l.loss)
            })
            .collect();
        let network = Network::new(
            services.len() + 1,
            samplers.network.clone(),
            scenario.network.loss,
            &links,
            streams,
        );
        // Each route's method, path and key count; paths interned in order.
        let mut paths: Vec<String> = Vec::new();
        let route_requests = workload
            .routes
            .iter()
            .map(|r| {
                let path = r.request_path();
                let index = match paths.iter().position(|p| *p == path) {
                    Some(i) => i,
                    None => {
                        paths.push(path);
                        paths.len() - 1
                    }
                };
                (r.request_method(), index as u32, r.keys)
            })
            .collect();
        let faults = faults::effects(compiled.faults());
        let mut balanced_callee = vec![false; services.len()];
        for edge in edges.iter().filter(|e| e.balanced) {
            balanced_callee[edge.callee as usize] = true;
        }
        let registries: Vec<Option<Registry>> = compiled
            .discovery()
            .iter()
            .zip(&services)
            .map(|(d, s)| {
                d.as_ref()
                    .map(|d| Registry::new(d, s.first_instance, s.instances))
            })
            .collect();
        // Every scope unit of an edge to a discovered service has its own
        // view of the registry.
        let stagger = streams.keyed("discovery/stagger");
        let view_units: Vec<Vec<UnitView>> = edges
            .iter()
            .enumerate()
            .map(|(edge, e)| match &compiled.discovery()[e.callee as usize] {
                Some(d) => {
                    let hosts = instances_of[e.callee as usize];
                    (0..e.units.len() as u32)
                        .map(|unit| {
                            let key = (edge as u32, unit, 0);
                            UnitView::new(d.cache, hosts, SimTime::ZERO, stagger, key)
                        })
                        .collect()
                }
                None => Vec::new(),
            })
            .collect();
        let phases = super::phases::PhaseTracker::new(
            &super::phases::phases_of(scenario),
            workload.routes.len(),
            services.len(),
        );
        let pair_edges = super::phases::pair_edges(&edges, services.len() as u32);
        let late_possible = super::phases::late_possible(&edges, compiled.faults());
        let meters = if compiled.autoscale().iter().any(Option::is_some) {
            vec![super::autoscale::Meter::default(); instances.len()]
        } else {
            Vec::new()
        };
        let admission = if compiled.admission().iter().any(Option::is_some) {
            instances
                .iter()
                .map(|i| compiled.admission()[i.service as usize])
                .collect()
        } else {
            Vec::new()
        };
        let shed = super::shed::Shedders::new(
            compiled,
            &instances.iter().map(|i| i.service).collect::<Vec<_>>(),
        );
        let zones = compiled.zones().map(|z| {
            let routers = edges
                .iter()
                .map(|e| zone_router(&policies, e, z, &instances_of))
                .collect();
            let of = services
                .iter()
                .enumerate()
                .flat_map(|(s, m)| (0..m.instances).map(move |n| (s, n)));
            Box::new(super::zones::Zones::new(z, of, routers, streams))
        });
        let limiters = services
            .iter()
            .any(|s| matches!(s.behaviour, Behaviour::Limiter(_)));
        let first_instances: Vec<u32> = services.iter().map(|s| s.first_instance).collect();
        let sagas = super::saga::Sagas::new(compiled, streams, &saga_edges, &first_instances);
        if let Some(sagas) = &sagas {
            for (i, service) in services.iter_mut().enumerate() {
                if let Some(behaviour) = sagas.behaviour_of(i as u32) {
                    service.behaviour = behaviour;
                }
            }
        }
        let messaging =
            super::broker::Messaging::new(compiled, &publish_edges, streams, SimTime::ZERO);
        if let Some(m) = &messaging {
            for (i, service) in services.iter_mut().enumerate() {
                if m.is_broker(i as u32) {
                    service.behaviour = Behaviour::Broker;
                }
            }
        }
        let world = World {
            sagas: sagas.map(Box::new),
            messaging: messaging.map(Box::new),
            trace: None,
            zones,
            phases,
            pair_edges,
            late_possible,
            limiters,
            service_stats: (0..services.len())
                .map(|_| ServiceStats::default())
                .collect(),
            route_stats: (0..workload.routes.len())
                .map(|_| RouteStats::default())
                .collect(),
            edge_stats: (0..edges.len()).map(|_| EdgeStats::default()).collect(),
            breaker_transitions: (0..edges.len()).map(|_| BTreeMap::new()).collect(),
            breaker_events: Vec::new(),
            breaker_events_dropped: 0,
            services,
            instances,
            policies,
            edges,
            draws: Draws::new(streams),
            clients: Clients::new(compiled, streams),
            meters,
            admission,
            autoscalers: compiled
                .autoscale()
                .iter()
                .zip(scenario.services.values())
                .map(|(a, s)| {
                    a.as_ref()
                        .map(|a| super::autoscale::Autoscaler::new(a, s.slots(), s.instances))
                })
                .collect(),
            discovery: {
                let mut discovery =
                    Discovery::new(streams, &instances_of, &balanced_callee, registries);
                discovery.key_movement = vec![None; view_units.len()];
                discovery.views = view_units;
                discovery
            },
            network,
            client_node,
            faults,
            fault_times: scenario
                .faults
                .iter()
                .map(|f| {
                    let start = SimTime::ZERO + f.at;
                    (start, f.lasts.map(|lasts| start.saturating_add(lasts)))
                })
                .collect(),
            jobs: Slab::default(),
            calls: Slab::default(),
            attempts: Slab::default(),
            retries: Slab::default(),
            requests: Slab::default(),
            requests_sent: 0,
            requests_capped: 0,
            max_requests: scenario
                .max_requests_in_flight
                .unwrap_or(super::DEFAULT_MAX_REQUESTS_IN_FLIGHT)
                as usize,
            route_requests,
            paths,
            // A row per route, per service and per service-to-service edge
            // (routes are the first edges).
            closing: ClosedWindow {
                rows: Vec::with_capacity(scenario.services.len() + infos.len()),
                ..ClosedWindow::default()
            },
            sink,
            route_names: workload
                .routes
                .iter()
                .map(|r| r.name.clone().unwrap_or_else(|| r.service.clone()))
                .collect(),
            service_names: scenario.services.keys().cloned().collect(),
            edge_names: infos.iter().map(|e| e.name.clone()).collect(),
            window: scenario.window,
            window_start: SimTime::ZERO,
            violation: None,
            guard: CredentialGuard::new(compiled),
            shed,
            duration: scenario.duration,
        };
        (world, infos)
    }

    /// Schedules the first arrivals, the users, the faults, the windows and
    /// the registries' checks, heartbeats and sweeps.
    pub fn start(&mut self, kernel: &mut Kernel<Event>) {
        self.start_registries(kernel);
        self.start_autoscalers(kernel);
        self.start_clients(kernel);
        if self.messaging.is_some() {
            // Every instance running at the start joins its groups and
            // places its relay.
            for i in 0..self.instances.len() as u32 {
                if self.instances[i as usize].state == InstanceState::Ready {
                    self.messaging_ready(kernel, i);
                }
            }
        }
        for (i, (start, end)) in self.fault_times.iter().enumerate() {
            kernel.schedule_at(*start, Event::Fault(i as u32, true));
            if let Some(end) = end {
                kernel.schedule_at(*end, Event::Fault(i as u32, false));
            }
        }
        // Window boundaries strictly inside the run; the last window is closed
        // by `finish` at the horizon, after every event at that instant.
        if self.window < self.duration {
            kernel.schedule_at(SimTime::ZERO + self.window, Event::Window);
        }
    }
}

/// The zone-aware router of an edge whose policy sets `zone_aware` into a
/// zoned callee: its local cluster is the calling service's instances per
/// zone or, for a route, the callee's own (clients in a zone are taken to be
/// that zone's share of a fleet spread like the callee: with every instance
/// healthy, every pick stays local).
fn zone_router(
    policies: &[PolicyModel],
    edge: &EdgeModel,
    zones: &crate::scenario::CompiledZones,
    instances_of: &[u32],
) -> Option<crate::patterns::discovery::ZoneRouter> {
    let config = policies[edge.policy? as usize].zone_aware?;
    if zones.services[edge.callee as usize].is_empty() {
        return None;
    }
    let local = edge.caller.unwrap_or(edge.callee) as usize;
    let mut per_zone = vec![0u32; zones.names.len()];
    for n in 0..instances_of[local] {
        let z = zones.of_instance(local, n);
        if z != crate::scenario::NO_ZONE {
            per_zone[usize::from(z)] += 1;
        }
    }
    Some(crate::patterns::discovery::ZoneRouter::new(
        config, &per_zone,
    ))
}

/// The scope units of an edge from a caller with `callers` instances to a
/// callee with `hosts`: as the policy says (none without one, one for a
/// policy that keeps no state); towards a discovered service, a unit per
/// scope unit of the policy's scope (per calling instance without a
/// policy) whatever else it keeps, each with a balancer (round robin when
/// the policy names none) for its view.
/// Gives each edge whose policy has a fallback its [`EdgeFallback`], and
/// each fallback that calls a service an edge of its own, after every other
/// edge (from the same caller, with the fallback's policy and timeout; one
/// per edge that falls back, so that its calls' ends can be told as that
/// edge's).
fn fallback_edges(
    edges: &mut Vec<EdgeModel>,
    infos: &mut Vec<EdgeInfo>,
    policies: &[PolicyModel],
    policy_names: &[&String],
    service_names: &[&String],
    instances_of: &[u32],
    discovered: &[bool],
) {
    for e in 0..edges.len() {
        let Some(fallback) = edges[e].policy.and_then(|p| policies[p as usize].fallback) else {
            continue;
        };
        let to = match fallback.answer {
            FallbackAnswer::Static => FallbackTo::Static,
            FallbackAnswer::Cached { max_age, .. } => FallbackTo::Cached(max_age),
            FallbackAnswer::Call {
                service,
                policy,
                timeout,
            } => {
                let caller = edges[e].caller;
                let model = policy.map(|p| &policies[p as usize]);
                let callers = caller.map_or(1, |c| instances_of[c as usize]);
                let units = edge_units(
                    model,
                    callers,
                    instances_of[service as usize],
                    discovered[service as usize],
                );
                let edge = edges.len() as u32;
                let from = caller.map_or("client", |c| service_names[c as usize].as_str());
                let base = format!(
                    "{from}->{} [fallback for {}]",
                    service_names[service as usize], service_names[edges[e].callee as usize]
                );
                let mut name = base.clone();
                let mut n = 2;
                while infos.iter().any(|i| i.name == name) {
                    name = format!("{base} #{n}");
                    n += 1;
                }
                infos.push(EdgeInfo {
                    name,
                    callee: service,
                    policy: policy.map(|p| policy_names[p as usize].clone()),
                    is_route: false,
                    has_breaker: model.is_some_and(|p| p.has_breaker()),
                    units: units.len() as u32,
                    fallback_of: Some(e as u32),
                });
                edges.push(EdgeModel {
                    caller,
                    callee: service,
                    policy,
                    attempt_timeout: timeout.or(model.and_then(|p| p.timeout)),
                    give_up_after: None,
                    balanced: model.is_some_and(PolicyModel::has_balancer)
                        || discovered[service as usize],
                    units,
                    fallback: None,
                    fallback_of: Some(e as u32),
                });
                FallbackTo::Call(edge)
            }
        };
        edges[e].fallback = Some(EdgeFallback {
            to,
            on: fallback.on,
        });
    }
}

fn edge_units(
    policy: Option<&PolicyModel>,
    callers: u32,
    hosts: u32,
    discovered: bool,
) -> Vec<EdgeState> {
    let count = match (policy, discovered) {
        (None, false) => 0,
        (None, true) => callers,
        (Some(p), false) => p.units(callers),
        (Some(p), true) => p.scoped_units(callers),
    };
    (0..count)
        .map(|_| {
            let mut state = match policy {
                Some(p) => p.new_state(hosts, SimTime::ZERO),
                None => EdgeState::bare(hosts),
            };
            if discovered && state.balancer.is_none() {
                state.balancer = EdgeState::bare(hosts).balancer;
            }
            state
        })
        .collect()
}
