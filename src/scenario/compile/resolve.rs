//! Name resolution for the compile step: every service, policy, route,
//! client, link and fault of a [`Scenario`] named by the file becomes an
//! index, or a problem with its path (a second net behind validation, so
//! that a gap between the two is an error and never a panic).

use super::*;

pub(super) struct Resolver<'a> {
    pub(super) scenario: &'a Scenario,
    /// The service names, sorted (the order of the indices).
    pub(super) names: Vec<&'a str>,
    /// The zone names, sorted (empty when no service has zones).
    pub(super) zones: &'a [String],
    pub(super) problems: Problems,
}

impl Resolver<'_> {
    pub(super) fn service(&mut self, path: JsonPath, name: &str) -> u32 {
        match self.names.binary_search(&name) {
            Ok(i) => i as u32,
            Err(_) => {
                self.problems
                    .push((path, format!("unknown service `{name}`")));
                0
            }
        }
    }

    /// An instance of `service`, checked against its count.
    fn instance(&mut self, path: JsonPath, service: &str, instance: Option<u32>) -> Option<u32> {
        let instances = self.scenario.services.get(service).map_or(0, |s| s.slots());
        if instance.is_some_and(|i| i >= instances) {
            self.problems
                .push((path, format!("`{service}` has no such instance")));
        }
        instance
    }

    pub(super) fn policy(&mut self, path: JsonPath, name: Option<&str>) -> Option<u16> {
        let name = name?;
        match self.scenario.policies.keys().position(|n| n == name) {
            Some(i) if i <= MAX_POLICIES => Some(i as u16),
            _ => {
                self.problems
                    .push((path, format!("unknown policy `{name}`")));
                None
            }
        }
    }

    /// Each policy's fallback, its service and policy resolved.
    pub(super) fn fallbacks(&mut self, policies: &mut [CompiledPolicy]) {
        for ((name, policy), compiled) in self.scenario.policies.iter().zip(policies) {
            let Some(f) = &policy.fallback else {
                continue;
            };
            let path = JsonPath::root().key("policies").key(name).key("fallback");
            let answer = match (&f.service, f.cached) {
                (Some(service), _) => FallbackAnswer::Call {
                    service: self.service(path.key("service"), service),
                    policy: self.policy(path.key("policy"), f.policy.as_deref()),
                    timeout: f.timeout,
                },
                (None, Some(max_age)) => FallbackAnswer::Cached {
                    max_age,
                    keys: f.cache_keys,
                },
                (None, None) => FallbackAnswer::Static,
            };
            compiled.fallback = Some(CompiledFallback {
                answer,
                on: CompiledFallback::mask(f.on.as_deref()),
            });
        }
    }

    pub(super) fn routes(&mut self) -> Vec<RouteTarget> {
        let workload = &self.scenario.workload;
        let path = JsonPath::root().key("workload").key("routes");
        workload
            .routes
            .iter()
            .enumerate()
            .map(|(i, route)| {
                let route_path = path.index(i);
                let policy_path = if route.policy.is_some() {
                    route_path.key("policy")
                } else {
                    JsonPath::root().key("workload").key("policy")
                };
                RouteTarget {
                    service: self.service(route_path.key("service"), &route.service),
                    policy: self.policy(
                        policy_path,
                        route.policy.as_deref().or(workload.policy.as_deref()),
                    ),
                    give_up_after: route.timeout.or(workload.timeout),
                }
            })
            .collect()
    }

    /// The clients (the implicit one, or the declared ones) and the
    /// credential classes they use.
    pub(super) fn clients(&mut self) -> (Vec<ClientTarget>, Vec<String>) {
        let workload = &self.scenario.workload;
        let route_weights: Vec<f64> = workload.routes.iter().map(|r| r.weight).collect();
        let Some(declared) = &workload.clients else {
            let implicit = ClientTarget {
                name: IMPLICIT_CLIENT.to_string(),
                arrivals: workload.arrivals.clone(),
                schedule: workload.schedule.clone(),
                users: workload.users.as_ref().map(|u| u.count),
                weights: route_weights,
                credential: 0,
                token: TokenKind::Missing,
                token_expires_at: None,
            };
            return (vec![implicit], vec![NO_CREDENTIAL.to_string()]);
        };
        let credentials: Vec<String> = declared
            .iter()
            .map(|c| c.credential.as_deref().unwrap_or(NO_CREDENTIAL).to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let path = JsonPath::root().key("workload").key("clients");
        let route_names: Vec<&str> = workload
            .routes
            .iter()
            .map(|r| r.name.as_deref().unwrap_or(&r.service))
            .collect();
        let clients = declared
            .iter()
            .enumerate()
            .map(|(i, client)| {
                let weights = match &client.routes {
                    None => route_weights.clone(),
                    Some(shares) => {
                        let mut weights = vec![0.0; route_names.len()];
                        for (name, weight) in shares {
                            match route_names.iter().position(|r| r == name) {
                                Some(route) => weights[route] = *weight,
                                None => self.problems.push((
                                    path.index(i).key("routes").key(name),
                                    format!("unknown route `{name}`"),
                                )),
                            }
                        }
                        weights
                    }
                };
                let credential = client.credential.as_deref().unwrap_or(NO_CREDENTIAL);
                let token = client.token.unwrap_or(if credential == NO_CREDENTIAL {
                    TokenKind::Missing
                } else {
                    TokenKind::Valid
                });
                ClientTarget {
                    name: client.name.clone(),
                    arrivals: client.arrivals.clone(),
                    schedule: client.schedule.clone(),
                    users: client.users.as_ref().map(|u| u.count),
                    weights,
                    credential: credentials
                        .iter()
                        .position(|c| c == credential)
                        .map_or(0, |c| c as u16),
                    token,
                    token_expires_at: client.token_expires_at,
                }
            })
            .collect();
        (clients, credentials)
    }

    pub(super) fn calls(&mut self) -> Vec<Vec<Vec<CallTarget>>> {
        let scenario = self.scenario;
        scenario
            .services
            .iter()
            .map(|(name, service)| {
                let path = JsonPath::root().key("services").key(name).key("calls");
                service
                    .calls
                    .iter()
                    .enumerate()
                    .map(|(i, step)| {
                        // A single call is a group of one.
                        let group: Vec<(JsonPath, Call)> = match (&step.service, &step.parallel) {
                            (Some(target), None) => vec![(
                                path.index(i),
                                Call {
                                    service: target.clone(),
                                    probability: step.probability.unwrap_or(1.0),
                                    optional: step.optional.unwrap_or(false),
                                    timeout: step.timeout,
                                    policy: step.policy.clone(),
                                },
                            )],
                            (None, Some(group)) => group
                                .iter()
                                .enumerate()
                                .map(|(k, c)| (path.index(i).key("parallel").index(k), c.clone()))
                                .collect(),
                            _ => {
                                self.problems.push((
                                    path.index(i),
                                    "a call step needs exactly one of `service` and `parallel`"
                                        .into(),
                                ));
                                Vec::new()
                            }
                        };
                        group
                            .into_iter()
                            .map(|(call_path, call)| CallTarget {
                                service: self.service(call_path.key("service"), &call.service),
                                policy: self
                                    .policy(call_path.key("policy"), call.policy.as_deref()),
                                probability: call.probability,
                                optional: call.optional,
                                timeout: call.timeout,
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    pub(super) fn links(&mut self) -> Vec<(u32, u32)> {
        let path = JsonPath::root().key("network").key("links");
        self.scenario
            .network
            .links
            .iter()
            .enumerate()
            .map(|(i, link)| {
                (
                    self.service(path.index(i).key("from"), &link.from),
                    self.service(path.index(i).key("to"), &link.to),
                )
            })
            .collect()
    }

    pub(super) fn faults(&mut self) -> Vec<FaultTarget> {
        let scenario = self.scenario;
        let mut out = Vec::new();
        for (i, f) in scenario.faults.iter().enumerate() {
            let path = JsonPath::root().key("faults").index(i);
            let target = if let Some(c) = &f.crash {
                let p = path.key("crash");
                FaultTarget::Crash {
                    service: self.service(p.key("service"), &c.service),
                    instance: self.instance(p.key("instance"), &c.service, c.instance),
                }
            } else if let Some(c) = &f.stop {
                let p = path.key("stop");
                FaultTarget::Stop {
                    service: self.service(p.key("service"), &c.service),
                    instance: self.instance(p.key("instance"), &c.service, c.instance),
                }
            } else if let Some(l) = &f.latency {
                let p = path.key("latency");
                match (&l.service, &l.link) {
                    (Some(s), None) => FaultTarget::ServiceLatency {
                        service: self.service(p.key("service"), s),
                        instance: self.instance(p.key("instance"), s, l.instance),
                        add: l.add,
                    },
                    (None, Some(link)) => FaultTarget::LinkLatency {
                        a: self.service(p.key("link").key("from"), &link.from),
                        b: self.service(p.key("link").key("to"), &link.to),
                        add: l.add,
                    },
                    _ => {
                        self.problems.push((
                            p,
                            "added latency goes on a `service` or on a `link`: give exactly one"
                                .into(),
                        ));
                        continue;
                    }
                }
            } else if let Some(e) = &f.errors {
                let p = path.key("errors");
                FaultTarget::Errors {
                    service: self.service(p.key("service"), &e.service),
                    instance: self.instance(p.key("instance"), &e.service, e.instance),
                    rate: e.rate,
                }
            } else if let Some(p) = &f.partition {
                let between = path.key("partition").key("between");
                FaultTarget::Partition {
                    groups: p
                        .between
                        .iter()
                        .enumerate()
                        .map(|(g, group)| {
                            group
                                .iter()
                                .enumerate()
                                .map(|(k, s)| self.service(between.index(g).index(k), s))
                                .collect()
                        })
                        .collect(),
                }
            } else if let Some(s) = &f.slowdown {
                let p = path.key("slowdown");
                FaultTarget::Slowdown {
                    service: self.service(p.key("service"), &s.service),
                    instance: self.instance(p.key("instance"), &s.service, s.instance),
                    factor: s.factor,
                }
            } else if let Some(l) = &f.loss {
                let link = path.key("loss").key("link");
                FaultTarget::Loss {
                    link: l.link.as_ref().map(|k| {
                        (
                            self.service(link.key("from"), &k.from),
                            self.service(link.key("to"), &k.to),
                        )
                    }),
                    rate: l.rate,
                }
            } else if let Some(r) = &f.registry_outage {
                FaultTarget::RegistryOutage {
                    service: self.service(path.key("registry_outage").key("service"), &r.service),
                }
            } else if let Some(l) = &f.scale_limit {
                FaultTarget::ScaleLimit {
                    service: self.service(path.key("scale_limit").key("service"), &l.service),
                    instances: l.instances,
                }
            } else if let Some(m) = &f.metrics_outage {
                FaultTarget::MetricsOutage {
                    service: self.service(path.key("metrics_outage").key("service"), &m.service),
                }
            } else if let Some(b) = &f.slow_boot {
                FaultTarget::SlowBoot {
                    service: self.service(path.key("slow_boot").key("service"), &b.service),
                    factor: b.factor,
                }
            } else if let Some(z) = &f.zone_outage {
                // A zone no service has hits nothing (and is warned about).
                let zone = self
                    .zones
                    .binary_search(&z.zone)
                    .map_or(super::zones::NO_ZONE, |i| i as super::zones::ZoneId);
                FaultTarget::ZoneOutage { zone }
            } else if let Some(s) = &f.split {
                let p = path.key("split");
                let service = self.service(p.key("service"), &s.service);
                let route = self
                    .scenario
                    .services
                    .get(&s.service)
                    .and_then(|g| g.gateway.as_ref())
                    .and_then(|g| g.routes.iter().position(|r| r.name == s.route));
                let Some(route) = route else {
                    self.problems
                        .push((p.key("route"), format!("no gateway route `{}`", s.route)));
                    continue;
                };
                let backends = &self.scenario.services[&s.service]
                    .gateway
                    .as_ref()
                    .expect("found above")
                    .routes[route]
                    .backends;
                FaultTarget::Split {
                    service,
                    route: route as u16,
                    weights: backends
                        .iter()
                        .map(|b| s.weights.get(&b.service).copied().unwrap_or(0))
                        .collect(),
                }
            } else {
                self.problems
                    .push((path, "a fault needs exactly one kind".into()));
                continue;
            };
            out.push(target);
        }
        out
    }
}
