//! The compile step: a [`Scenario`] (the serde model of a file, or one built
//! in code) becomes a [`Compiled`] scenario, the only thing a world can be
//! built from. Parse, don't validate: a `Compiled` can be made only by
//! [`compile`], which runs the meaning checks of [`super::validate`], builds
//! every policy with its patterns' own constructors ([`super::policy`]),
//! resolves every name to an index, and collects [`Warning`]s.
//!
//! **Invariant:** [`compile`] never panics; whatever a `Scenario` holds, it
//! returns a `Compiled` whose indices all resolve and whose patterns are all
//! built, or every problem found, each with its JSON path.

use super::diagnostic::{Diagnostic, JsonPath};
use super::discovery::{CompiledDiscovery, compile_discovery};
use super::model::{Arrivals, Call, RateChange, Scenario, TokenKind};
use super::policy::{
    CompiledFallback, CompiledPolicy, FallbackAnswer, Problems, compile_policy, token_bucket,
};
use super::sampler::Samplers;
use super::validate::validate;
use super::warnings::{Warning, warnings};
use crate::kernel::SimDuration;
use crate::patterns::gateway::shed::ShedConfig;
use crate::patterns::rate_limit::TokenBucket;

/// Upper bound on a route's path, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;

/// Upper bound on named policies (the world numbers them in 16 bits).
pub const MAX_POLICIES: usize = u16::MAX as usize;

/// A route, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteTarget {
    /// The entry service's index (services are numbered in name order).
    pub service: u32,
    /// The clients' policy (the route's, else the workload's), by index
    /// (policies are numbered in name order).
    pub policy: Option<u16>,
    /// The client gives up on a request after this long (the route's
    /// timeout, else the workload's).
    pub give_up_after: Option<SimDuration>,
}

/// The name of the one implicit client of a workload without `clients`. A
/// declared client of this name draws exactly as the implicit one (see
/// `world/draws.rs`), so a workload rewritten as a single client named
/// `default` runs as before.
pub const IMPLICIT_CLIENT: &str = "default";

/// The credential class of a client that names none.
pub const NO_CREDENTIAL: &str = "none";

/// A client of the workload, resolved: the implicit one (a workload without
/// `clients`) or a declared one.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientTarget {
    /// Its name ([`IMPLICIT_CLIENT`] for the implicit client).
    pub name: String,
    /// Its open-loop arrival process, if it has one.
    pub arrivals: Option<Arrivals>,
    /// The changes to its open-loop rate.
    pub schedule: Vec<RateChange>,
    /// Its closed-loop users, if it has them (their think time is in
    /// [`Samplers::think`], by client index).
    pub users: Option<u32>,
    /// Its weight of each route, by route index (file order): zero or
    /// more, at least one positive.
    pub weights: Vec<f64>,
    /// Its credential class, an index into [`Compiled::credentials`].
    pub credential: u16,
    /// What is true of its token.
    pub token: TokenKind,
    /// When its valid token expires (none: never in the run).
    pub token_expires_at: Option<SimDuration>,
}

/// One downstream call of a service, resolved (a single call is a group of
/// one).
#[derive(Clone, Debug, PartialEq)]
pub struct CallTarget {
    /// The callee's index.
    pub service: u32,
    /// The call's policy, by index.
    pub policy: Option<u16>,
    /// Probability that the call is made.
    pub probability: f64,
    /// A failure of the call does not fail the request.
    pub optional: bool,
    /// The call's own per-attempt timeout.
    pub timeout: Option<SimDuration>,
}

/// A scenario that compiled: read-only, with its policies built, its names
/// resolved and its warnings. Made only by [`compile`].
#[derive(Debug)]
pub struct Compiled {
    scenario: Scenario,
    policies: Vec<CompiledPolicy>,
    routes: Vec<RouteTarget>,
    clients: Vec<ClientTarget>,
    credentials: Vec<String>,
    calls: Vec<Vec<Vec<CallTarget>>>,
    /// Each service's gateway, by index (none: not a gateway).
    gateways: Vec<Option<CompiledGateway>>,
    links: Vec<(u32, u32)>,
    faults: Vec<FaultTarget>,
    samplers: Samplers,
    discovery: Vec<Option<CompiledDiscovery>>,
    autoscale: Vec<Option<CompiledAutoscale>>,
    zones: Option<CompiledZones>,
    /// Each service's admission limit, by index (none: no limit).
    admission: Vec<Option<TokenBucket>>,
    /// Each service's load shedding, by index (none: it does not shed).
    shed: Vec<Option<ShedConfig>>,
    /// Each service's saga, by index (none: not an orchestrator).
    sagas: Vec<Option<CompiledSaga>>,
    /// Topics, producers and consumer groups.
    events: CompiledEvents,
    requirements: Vec<CompiledRequirement>,
    warnings: Vec<Warning>,
}

impl Compiled {
    /// The zones (none when no service has zones: nothing is zoned).
    pub fn zones(&self) -> Option<&CompiledZones> {
        self.zones.as_ref()
    }

    /// Each service's admission limit (`rate_limit`), by index: the bucket
    /// each of its instances starts with (none: no limit).
    pub fn admission(&self) -> &[Option<TokenBucket>] {
        &self.admission
    }

    /// Each service's saga, by index (none: not an orchestrator).
    pub fn sagas(&self) -> &[Option<CompiledSaga>] {
        &self.sagas
    }

    /// The scenario's messaging: topics, producers, consumer groups.
    pub fn events(&self) -> &CompiledEvents {
        &self.events
    }

    /// Whether some service is a saga orchestrator.
    pub fn has_sagas(&self) -> bool {
        self.sagas.iter().any(Option::is_some)
    }

    /// Each service's load shedding (`shed`), by index, as the patterns'
    /// shedder takes it (none: it does not shed).
    pub fn shed(&self) -> &[Option<ShedConfig>] {
        &self.shed
    }

    /// Each service's discovery, by index (none: callers use every instance).
    pub fn discovery(&self) -> &[Option<CompiledDiscovery>] {
        &self.discovery
    }

    /// Each service's autoscaler, by index (none: a fixed number of
    /// instances).
    pub fn autoscale(&self) -> &[Option<CompiledAutoscale>] {
        &self.autoscale
    }

    /// The scenario, as it was given.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }
    /// The scenario, to change it and compile it again.
    pub fn into_scenario(self) -> Scenario {
        self.scenario
    }
    /// The policies, in name order (a policy index points here).
    pub fn policies(&self) -> &[CompiledPolicy] {
        &self.policies
    }
    /// The routes, in file order.
    pub fn routes(&self) -> &[RouteTarget] {
        &self.routes
    }
    /// The clients: the one implicit client, or the declared ones in file
    /// order (a client index points here).
    pub fn clients(&self) -> &[ClientTarget] {
        &self.clients
    }
    /// Whether the workload declares its `clients` (reports then show
    /// them; the implicit client has no figures of its own, they are the
    /// routes').
    pub fn clients_declared(&self) -> bool {
        self.scenario.workload.clients.is_some()
    }
    /// The credential classes the clients use, sorted and distinct (a
    /// credential index points here).
    pub fn credentials(&self) -> &[String] {
        &self.credentials
    }
    /// The call steps of the service with index `service` (name order), each
    /// a group of calls.
    pub fn calls(&self, service: usize) -> &[Vec<CallTarget>] {
        self.calls.get(service).map_or(&[], Vec::as_slice)
    }
    /// Each service's gateway, by index (none: not a gateway).
    pub fn gateways(&self) -> &[Option<CompiledGateway>] {
        &self.gateways
    }
    /// Whether some gateway checks credentials (then no request with a
    /// missing or invalid token may reach a service that is not a gateway).
    pub fn checks_credentials(&self) -> bool {
        self.gateways.iter().flatten().any(|g| g.auth.is_some())
    }
    /// The ends of each network link, in file order.
    pub fn links(&self) -> &[(u32, u32)] {
        &self.links
    }
    /// The faults, in file order.
    pub fn faults(&self) -> &[FaultTarget] {
        &self.faults
    }
    /// Every distribution, compiled for sampling.
    pub fn samplers(&self) -> &Samplers {
        &self.samplers
    }
    /// The requirements the run must meet, in file order.
    pub fn requirements(&self) -> &[CompiledRequirement] {
        &self.requirements
    }
    /// What looks wrong but is not an error, in a fixed order.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
    /// Fills in the positions of the warnings from the file's text.
    pub(super) fn locate_warnings(&mut self, locate: impl Fn(&JsonPath) -> Option<(usize, usize)>) {
        for w in &mut self.warnings {
            w.position = locate(&w.path);
        }
    }
}

fn diagnostics(problems: Problems) -> Vec<Diagnostic> {
    problems
        .into_iter()
        .map(|(path, message)| Diagnostic {
            path,
            position: None,
            message,
        })
        .collect()
}

/// Compiles `scenario`, or returns every problem found (without positions:
/// [`super::parse`] adds them from the file's text).
pub fn compile(scenario: Scenario) -> Result<Compiled, Vec<Diagnostic>> {
    let mut problems = validate(&scenario);
    if scenario.policies.len() > MAX_POLICIES {
        problems.push((
            JsonPath::root().key("policies"),
            format!(
                "{} policies: at most {MAX_POLICIES} are supported",
                scenario.policies.len()
            ),
        ));
    }
    let mut policies = Vec::new();
    let mut policy_problems = Problems::new();
    for (name, policy) in &scenario.policies {
        let path = JsonPath::root().key("policies").key(name);
        let skip = |piece: &JsonPath| problems.iter().any(|(p, _)| p.0.starts_with(&piece.0));
        match compile_policy(&path, policy, &skip) {
            Ok(compiled) => policies.push(compiled),
            Err(mut found) => policy_problems.append(&mut found),
        }
    }
    problems.append(&mut policy_problems);
    // The checks that need a built object (a route's path and keys, a
    // distribution's sampler, a registry's configuration) run whatever else
    // was found, so that one pass reports every problem; a problem at or
    // under a place already reported is an effect of it and is dropped.
    let mut built = route_shape_problems(&scenario);
    let samplers = Samplers::compile(&scenario)
        .map_err(|mut found| built.append(&mut found))
        .ok();
    let discovery = compile_discovery(&scenario)
        .map_err(|mut found| built.append(&mut found))
        .ok();
    let autoscale = compile_autoscale(&scenario)
        .map_err(|mut found| built.append(&mut found))
        .ok();
    let zones = compile_zones(&scenario)
        .map_err(|mut found| built.append(&mut found))
        .ok();
    let admission = compile_admission(&scenario)
        .map_err(|mut found| built.append(&mut found))
        .ok();
    let saga_plans = compile_saga_plans(&scenario)
        .map_err(|mut found| built.append(&mut found))
        .ok();
    built.retain(|(path, _)| {
        !problems
            .iter()
            .any(|(p, _)| path.0.starts_with(&p.0) || p.0.starts_with(&path.0))
    });
    problems.append(&mut built);
    let (
        Some(samplers),
        Some(discovery),
        Some(autoscale),
        Some(zones),
        Some((admission, shed)),
        Some(saga_plans),
        true,
    ) = (
        samplers,
        discovery,
        autoscale,
        zones,
        admission,
        saga_plans,
        problems.is_empty(),
    )
    else {
        return Err(diagnostics(problems));
    };
    let mut resolver = Resolver {
        scenario: &scenario,
        names: scenario.services.keys().map(String::as_str).collect(),
        zones: zones.as_ref().map_or(&[], |z| z.names.as_slice()),
        problems: Problems::new(),
    };
    resolver.fallbacks(&mut policies);
    let routes = resolver.routes();
    let (clients, credentials) = resolver.clients();
    let calls = resolver.calls();
    let gateways = resolver.gateways(&credentials);
    let sagas = resolver.sagas(&saga_plans);
    let events = resolver.events();
    let links = resolver.links();
    let faults = resolver.faults();
    let requirements = compile_requirements(&scenario, &mut resolver.problems);
    if !resolver.problems.is_empty() {
        // Validation resolves every name first: this is a second net, so
        // that a gap between the two is an error and never a panic.
        return Err(diagnostics(resolver.problems));
    }
    let warnings = warnings(&scenario, &policies, &clients, &gateways, zones.as_ref());
    Ok(Compiled {
        scenario,
        policies,
        routes,
        clients,
        credentials,
        calls,
        gateways,
        links,
        faults,
        samplers,
        discovery,
        autoscale,
        zones,
        admission,
        shed,
        sagas,
        events,
        requirements,
        warnings,
    })
}

/// A route's `path` and `keys` out of their ranges.
fn route_shape_problems(scenario: &Scenario) -> Problems {
    let mut problems = Problems::new();
    let routes = JsonPath::root().key("workload").key("routes");
    for (i, route) in scenario.workload.routes.iter().enumerate() {
        let route_path = routes.index(i);
        if let Some(p) = &route.path
            && (!p.starts_with('/')
                || p.len() > MAX_PATH_BYTES
                || p.chars().any(|c| c.is_control() || c.is_whitespace()))
        {
            problems.push((
                route_path.key("path"),
                format!(
                    "a path starts with `/`, has no spaces or control characters and at most {MAX_PATH_BYTES} bytes, e.g. \"/v1/orders\""
                ),
            ));
        }
        if route
            .keys
            .is_some_and(|n| n == 0 || n > u64::from(u32::MAX))
        {
            problems.push((
                route_path.key("keys"),
                "keys must be between 1 and 4294967295".to_string(),
            ));
        }
    }
    problems
}

mod admission;
mod autoscale;
mod events;
mod gateway;
mod requirements;
mod resolve;
mod saga;
mod targets;
mod zones;
use admission::compile_admission;
use autoscale::compile_autoscale;
pub use autoscale::{AutoscaleMetric, CompiledAutoscale};
pub use events::{
    CompiledChoreography, CompiledChoreographyStep, CompiledEvents, CompiledGroup,
    CompiledPublisher, CompiledThenRead, CompiledTopic,
};
pub use gateway::{
    CompiledAuth, CompiledGateway, CompiledGatewayRoute, CompiledRouteLimit, DEFAULT_LIMIT_TIMEOUT,
    GlobalLimit, MAX_GATEWAY_BACKENDS, MAX_GATEWAY_ROUTES, RateLimiter,
};
use requirements::compile_requirements;
pub use requirements::{AmplificationTarget, CompiledRequirement, RequirementKind, Span};
use resolve::Resolver;
use saga::compile_saga_plans;
pub use saga::{CompiledSaga, CompiledSagaStep};
pub use targets::FaultTarget;
use zones::compile_zones;
pub use zones::{CompiledZones, MAX_ZONES, NO_ZONE, ZoneId};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::*;
    use crate::scenario::validate::{MAX_CLIENTS, MAX_USERS};

    /// A valid scenario, built in code: `front` calls `back` with a timeout.
    fn base() -> Scenario {
        serde_json::from_str(
            r#"{"name": "t", "duration": "1s",
                "services": {
                    "front": {"service_time": {"constant": "1ms"},
                              "calls": [{"service": "back", "timeout": "100ms"}]},
                    "back": {"service_time": {"exponential": {"mean": "2ms"}}}},
                "workload": {"arrivals": {"poisson": {"rate": 10}},
                             "routes": [{"service": "front", "timeout": "1s"}]}}"#,
        )
        .expect("structurally valid")
    }

    fn errors(scenario: Scenario) -> Vec<String> {
        match compile(scenario) {
            Ok(_) => Vec::new(),
            Err(found) => found
                .iter()
                .map(|d| format!("{}: {}", d.path, d.message))
                .collect(),
        }
    }

    fn with_policy(mut s: Scenario, policy: Policy) -> Scenario {
        s.policies.insert("p".into(), policy);
        s.workload.routes[0].policy = Some("p".into());
        s
    }

    fn assert_one(found: &[String], prefix: &str) {
        assert!(
            found.iter().any(|f| f.starts_with(prefix)),
            "no {prefix:?} in {found:?}"
        );
    }

    #[test]
    fn a_valid_scenario_compiles_with_its_names_resolved() {
        let compiled = compile(base()).expect("valid");
        assert_eq!(compiled.routes()[0].service, 1, "front is second by name");
        assert_eq!(compiled.calls(1)[0][0].service, 0, "front calls back");
        assert!(compiled.calls(0).is_empty());
        assert!(compiled.calls(99).is_empty());
        assert!(compiled.warnings().is_empty(), "{:?}", compiled.warnings());
    }

    #[test]
    fn hand_built_invalid_scenarios_are_errors_not_panics() {
        let mut s = base();
        s.services.get_mut("front").unwrap().calls[0].service = Some("nowhere".into());
        assert_one(
            &errors(s),
            "services.front.calls[0].service: unknown service `nowhere`",
        );

        for rate in [0.0, 150.0, f64::NAN] {
            let breaker: BreakerSpec = serde_json::from_str("{}").unwrap();
            let s = with_policy(
                base(),
                Policy {
                    breaker: Some(BreakerSpec {
                        failure_rate_percent: rate,
                        ..breaker
                    }),
                    ..Policy::default()
                },
            );
            assert_one(&errors(s), "policies.p.breaker.failure_rate_percent: ");
        }

        let s = with_policy(
            base(),
            Policy {
                hedge: Some(HedgeSpec {
                    delay: None,
                    percentile: None,
                    max_hedges: 1,
                    cancel_losers: true,
                }),
                ..Policy::default()
            },
        );
        assert_one(
            &errors(s),
            "policies.p.hedge: a hedge needs either `delay` or `percentile`",
        );

        let mut s = base();
        s.faults.push(Fault {
            crash: Some(CrashFault {
                service: "ghost".into(),
                instance: None,
            }),
            ..Fault::default()
        });
        s.faults.push(Fault::default());
        let found = errors(s);
        assert_one(&found, "faults[0].crash.service: unknown service `ghost`");
        assert_one(&found, "faults[1]: a fault needs exactly one kind");
    }

    #[test]
    fn a_patterns_own_check_is_a_diagnostic_at_the_scenario_field() {
        // Called without the meaning checks, as if they had missed these:
        // the patterns' constructors still refuse them, at the right path.
        let path = JsonPath::root().key("policies").key("p");
        let policy: Policy = serde_json::from_str(
            r#"{"bulkhead": {"max_concurrent": 1, "max_wait": "1s", "max_waiting": 2000000},
                "breaker": {"consecutive_failures": 0},
                "retry": {"max_attempts": 0},
                "budget": {"token_bucket": {"max_tokens": 0}}}"#,
        )
        .unwrap();
        let problems = compile_policy(&path, &policy, &|_| false).expect_err("refused");
        let found: Vec<String> = problems.iter().map(|(p, m)| format!("{p}: {m}")).collect();
        assert_eq!(
            found,
            [
                "policies.p.retry.max_attempts: max_attempts must be in 1..=1000",
                "policies.p.budget.token_bucket.max_tokens: max_tokens must be in 1..=1000",
                "policies.p.breaker.consecutive_failures: consecutive_failures must be at least 1",
                "policies.p.bulkhead.max_waiting: max_waiting must be at most 1 000 000",
            ]
        );
    }

    #[test]
    fn fresh_patterns_do_not_share_state() {
        let policy: Policy = serde_json::from_str(
            r#"{"breaker": {"consecutive_failures": 1, "wait_in_open": "1s"},
                "bulkhead": {"max_concurrent": 1}}"#,
        )
        .unwrap();
        let path = JsonPath::root();
        let compiled = compile_policy(&path, &policy, &|_| false).expect("valid");
        let mut first = compiled.fresh_breaker().expect("a breaker");
        let permit = first.try_acquire(0).expect("closed");
        first.record(
            permit,
            crate::patterns::Outcome::Error,
            std::time::Duration::ZERO,
            1,
        );
        assert!(first.try_acquire(2).is_err(), "one failure opens it");
        let mut second = compiled.fresh_breaker().expect("a breaker");
        assert!(second.try_acquire(2).is_ok(), "a fresh breaker is closed");
        let mut bulkhead = compiled.fresh_bulkhead().expect("a bulkhead");
        let _held = bulkhead.try_enter(0, ());
        assert_eq!(bulkhead.in_use(), 1);
        assert_eq!(compiled.fresh_bulkhead().unwrap().in_use(), 0);
    }

    /// `base` with two routes (`front`, and `slow` into `back`) and these
    /// clients instead of the workload's own arrivals.
    fn with_clients(clients: serde_json::Value) -> Scenario {
        let mut s = base();
        s.workload.arrivals = None;
        s.workload.routes.push(Route {
            name: Some("slow".into()),
            weight: 3.0,
            ..s.workload.routes[0].clone()
        });
        s.workload.routes[1].service = "back".into();
        s.workload.clients = Some(serde_json::from_value(clients).expect("structurally valid"));
        s
    }

    #[test]
    fn clients_compile_to_weights_by_route_and_credential_indices() {
        let implicit = compile(base()).expect("valid");
        assert!(!implicit.clients_declared());
        assert_eq!(implicit.clients().len(), 1);
        assert_eq!(implicit.clients()[0].name, IMPLICIT_CLIENT);
        assert_eq!(implicit.clients()[0].weights, [1.0]);
        assert_eq!(implicit.credentials(), [NO_CREDENTIAL]);
        let compiled = compile(with_clients(serde_json::json!([
            {"name": "web", "arrivals": {"poisson": {"rate": 5}}, "credential": "user"},
            {"name": "mobile", "users": {"count": 3, "think_time": {"constant": "1s"}},
             "routes": {"slow": 2}},
            {"name": "admin", "arrivals": {"constant": {"rate": 1}}, "credential": "admin",
             "routes": {"front": 0.5, "slow": 0}}
        ])))
        .expect("valid");
        assert!(compiled.clients_declared());
        let clients = compiled.clients();
        let names: Vec<&str> = clients.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["web", "mobile", "admin"], "file order");
        // The routes' own weights by default; a route left out gets none.
        assert_eq!(clients[0].weights, [1.0, 3.0]);
        assert_eq!(clients[1].weights, [0.0, 2.0]);
        assert_eq!(clients[2].weights, [0.5, 0.0]);
        assert_eq!(clients[1].users, Some(3));
        assert!(clients[1].arrivals.is_none());
        // Credential classes sorted and distinct; `none` when unnamed.
        assert_eq!(compiled.credentials(), ["admin", "none", "user"]);
        let credentials: Vec<u16> = clients.iter().map(|c| c.credential).collect();
        assert_eq!(credentials, [2, 1, 0]);
        assert!(compiled.samplers().think[0].is_none());
        assert!(compiled.samplers().think[1].is_some());
    }

    #[test]
    fn bad_clients_are_errors_at_their_paths() {
        let check = |clients: serde_json::Value, expected: &str| {
            let found = errors(with_clients(clients));
            assert_one(&found, expected);
        };
        let poisson = serde_json::json!({"poisson": {"rate": 5}});
        check(
            serde_json::json!([{"name": "a", "arrivals": poisson, "routes": {"frnt": 1}}]),
            "workload.clients[0].routes.frnt: unknown route `frnt`; did you mean `front`? (routes: front, slow)",
        );
        check(
            serde_json::json!([{"name": "a", "arrivals": poisson}, {"name": "a", "arrivals": poisson}]),
            "workload.clients[1].name: a second client named `a`: client names must be unique",
        );
        check(
            serde_json::json!([{"name": "a"}]),
            "workload.clients[0]: a client needs `arrivals` (open loop) or `users` (closed loop)",
        );
        check(
            serde_json::json!([{"name": "a", "arrivals": poisson,
                                "users": {"count": 1, "think_time": {"constant": "1s"}}}]),
            "workload.clients[0]: choose one for the client: open-loop `arrivals` or closed-loop `users`, not both",
        );
        check(
            serde_json::json!([{"name": "a", "arrivals": poisson, "routes": {"front": 0, "slow": 0}}]),
            "workload.clients[0].routes: no route has a positive weight",
        );
        check(
            serde_json::json!([{"name": "a", "arrivals": poisson, "routes": {}}]),
            "workload.clients[0].routes: no route has a positive weight",
        );
        check(
            serde_json::json!([{"name": "a", "arrivals": poisson, "routes": {"front": -1, "slow": 1}}]),
            "workload.clients[0].routes.front: a weight must be zero or more, got -1",
        );
        check(
            serde_json::json!([{"name": "a", "arrivals": {"poisson": {"rate": 0}}}]),
            "workload.clients[0].arrivals.poisson.rate: a rate must be a positive number per second, got 0",
        );
        check(
            serde_json::json!([{"name": "a", "users": {"count": 1, "think_time": {"constant": "1s"}},
                                "schedule": [{"at": "0s", "rate": 2}]}]),
            "workload.clients[0].schedule: a rate schedule applies to open-loop `arrivals`",
        );
        check(
            serde_json::json!([{"name": "", "arrivals": poisson}]),
            "workload.clients[0].name: a client name must not be empty",
        );
        check(
            serde_json::json!([{"name": "a", "arrivals": poisson, "credential": "us\u{1b}er"}]),
            "workload.clients[0].credential: a credential class must be free of control characters",
        );
        check(
            serde_json::json!([]),
            "workload.clients: `clients` needs at least one client",
        );
        let many: Vec<serde_json::Value> = (0..=MAX_CLIENTS)
            .map(|i| serde_json::json!({"name": format!("c{i}"), "arrivals": poisson}))
            .collect();
        check(
            serde_json::Value::Array(many),
            "workload.clients: 1025 clients: at most 1024 are supported",
        );
        let users =
            |count: u32| serde_json::json!({"count": count, "think_time": {"constant": "1s"}});
        check(
            serde_json::json!([{"name": "a", "users": users(MAX_USERS)}, {"name": "b", "users": users(1)}]),
            "workload.clients: the clients' users add up to 10000001: at most 10000000 in all",
        );
        // The workload's own load stays out when clients are declared.
        let mut s = with_clients(serde_json::json!([{"name": "a", "arrivals": poisson}]));
        s.workload.arrivals = Some(Arrivals::Poisson { rate: 1.0 });
        s.workload.schedule = vec![serde_json::from_str(r#"{"at": "0s", "rate": 2}"#).unwrap()];
        let found = errors(s);
        for field in ["arrivals", "schedule"] {
            assert_one(
                &found,
                &format!(
                    "workload.{field}: with `clients`, each client has its own `arrivals`, `schedule` or `users`: move `{field}` into a client"
                ),
            );
        }
        // At most the bound is fine.
        let bound: Vec<serde_json::Value> = (0..MAX_CLIENTS)
            .map(|i| serde_json::json!({"name": format!("c{i}"), "arrivals": poisson}))
            .collect();
        assert_eq!(
            errors(with_clients(serde_json::Value::Array(bound))),
            Vec::<String>::new()
        );
    }
}
