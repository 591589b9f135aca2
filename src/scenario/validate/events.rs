//! The meaning checks of event-driven messaging: a broker's topics, a
//! producer's `publish` and a consumer's `consume`, what each service may
//! be, and that only publishing reaches a broker.

use std::collections::BTreeMap;

use super::gateway::call_sites;
use super::{Checker, JsonPath, bad_name, shown};
use crate::kernel::SimDuration;
use crate::scenario::model::{BrokerSpec, ConsumeSpec, PublishMode, PublishSpec, Service};

/// Upper bound on a topic's partitions (each has a log and, per group, a
/// cursor).
pub const MAX_TOPIC_PARTITIONS: u32 = 1024;
/// Upper bound on a partition's `retention_messages`.
pub const MAX_RETENTION_MESSAGES: u32 = 1 << 24;
/// Upper bound on the consumer groups of a topic (the world keeps each
/// event's state per group in 32 bits).
pub const MAX_GROUPS_PER_TOPIC: usize = 32;

impl Checker<'_> {
    pub(super) fn broker(&mut self, name: &str, service: &Service, broker: &BrokerSpec) {
        let path = JsonPath::root().key("services").key(name);
        let what = "a broker stores and delivers the events published to it";
        if !service.calls.is_empty() {
            self.problem(path.key("calls"), format!("{what}: it makes no calls"));
        }
        for (field, present) in [
            ("gateway", service.gateway.is_some()),
            ("state", service.state.is_some()),
            ("saga", service.saga.is_some()),
            ("publish", service.publish.is_some()),
            ("consume", !service.consume.is_empty()),
        ] {
            if present {
                self.problem(
                    path.key(field),
                    format!(
                        "{what}: it cannot also have `{field}` (put that on a service of its own)"
                    ),
                );
            }
        }
        let path = path.key("broker").key("topics");
        if broker.topics.is_empty() {
            self.problem(path.clone(), "a broker has at least one topic");
        }
        for (topic, spec) in &broker.topics {
            let at = path.key(topic);
            if let Some(why) = bad_name(topic) {
                self.problem(at.clone(), format!("a topic name {why}"));
            }
            if spec.partitions == 0 || spec.partitions > MAX_TOPIC_PARTITIONS {
                self.problem(
                    at.key("partitions"),
                    format!("partitions must be between 1 and {MAX_TOPIC_PARTITIONS}"),
                );
            }
            if spec.retention.is_zero() {
                self.problem(
                    at.key("retention"),
                    "a retention must be longer than 0: a message must be kept until its groups can read it",
                );
            }
            if spec.retention_messages == 0 || spec.retention_messages > MAX_RETENTION_MESSAGES {
                self.problem(
                    at.key("retention_messages"),
                    format!(
                        "retention_messages must be between 1 and {MAX_RETENTION_MESSAGES}: it is what bounds a partition's log"
                    ),
                );
            }
            let brokers = self
                .scenario
                .services
                .iter()
                .filter(|(_, s)| {
                    s.broker
                        .as_ref()
                        .is_some_and(|b| b.topics.contains_key(topic))
                })
                .count();
            if brokers > 1 {
                self.problem(
                    at,
                    format!(
                        "topic `{}` is on {brokers} brokers: a topic name is unique",
                        shown(topic)
                    ),
                );
            }
        }
    }

    /// The broker of `topic`, if some service has it.
    fn topic_exists(&mut self, path: JsonPath, topic: &str) -> bool {
        let known: Vec<&str> = self
            .scenario
            .services
            .values()
            .filter_map(|s| s.broker.as_ref())
            .flat_map(|b| b.topics.keys().map(String::as_str))
            .collect();
        if known.contains(&topic) {
            return true;
        }
        let hint = crate::scenario::diagnostic::did_you_mean(topic, known.iter().copied())
            .map(|s| format!("; did you mean `{}`?", shown(s)))
            .unwrap_or_default();
        let listed = if known.is_empty() {
            "no service has a `broker`".to_string()
        } else {
            format!(
                "topics: {}",
                known
                    .iter()
                    .map(|t| shown(t))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        self.problem(
            path,
            format!("unknown topic `{}`{hint} ({listed})", shown(topic)),
        );
        false
    }

    /// What a producer or consumer may not also be.
    fn plain_handler(&mut self, path: &JsonPath, service: &Service, what: &str) {
        for (field, present) in [
            ("gateway", service.gateway.is_some()),
            ("state", service.state.is_some()),
            ("saga", service.saga.is_some()),
        ] {
            if present {
                self.problem(
                    path.key(field),
                    format!("{what}, so it cannot have `{field}` (its handler is its own work and calls)"),
                );
            }
        }
    }

    pub(super) fn publish(&mut self, name: &str, service: &Service, publish: &PublishSpec) {
        let path = JsonPath::root().key("services").key(name);
        self.plain_handler(
            &path,
            service,
            "a producer commits an event with each request it handles",
        );
        let at = path.key("publish");
        self.topic_exists(at.key("topic"), &publish.topic);
        self.policy_ref(&at, publish.policy.as_deref(), publish.timeout.is_some());
        let policy = publish
            .policy
            .as_ref()
            .and_then(|p| self.scenario.policies.get(p));
        let timed = publish.timeout.is_some()
            || policy.is_some_and(|p| p.timeout.is_some() || p.deadline.is_some());
        if !timed {
            self.problem(
                at.key("timeout"),
                "a publish needs a timeout (its own, or its policy's timeout or deadline): a lost acknowledgement would hold the event forever, as a producer's `delivery.timeout.ms` bounds it",
            );
        }
        if policy.is_some_and(|p| p.fallback.is_some()) {
            self.problem(
                at.key("policy"),
                format!(
                    "policy `{}` has a fallback: a fallback would answer a failed publish as acknowledged, and the event would be lost unseen",
                    shown(publish.policy.as_deref().unwrap_or_default())
                ),
            );
        }
        let outbox = &publish.outbox;
        let o = at.key("outbox");
        if publish.mode == PublishMode::Outbox {
            if outbox.capacity == 0 || outbox.capacity > 1 << 24 {
                self.problem(o.key("capacity"), "capacity must be between 1 and 16777216");
            }
            if outbox.poll_interval.is_zero() {
                self.problem(
                    o.key("poll_interval"),
                    "the relay's poll_interval must be longer than 0",
                );
            }
            if outbox.max_in_flight == 0 || outbox.max_in_flight > 65_536 {
                self.problem(
                    o.key("max_in_flight"),
                    "max_in_flight must be between 1 and 65536",
                );
            } else if outbox.max_in_flight > outbox.capacity {
                self.problem(
                    o.key("max_in_flight"),
                    format!(
                        "max_in_flight ({}) is more than the table holds (capacity {})",
                        outbox.max_in_flight, outbox.capacity
                    ),
                );
            }
            if publish.linger != SimDuration::from_millis(5) {
                self.problem(
                    at.key("linger"),
                    "`linger` is a naive producer's buffering: with `mode: outbox` the relay's `poll_interval` says when events go",
                );
            }
        } else if outbox != &crate::scenario::model::OutboxSpec::default() {
            self.problem(
                o,
                "`outbox` configures the transactional outbox: with `mode: naive` there is none",
            );
        }
    }

    pub(super) fn consume(&mut self, name: &str, service: &Service, consume: &[ConsumeSpec]) {
        let path = JsonPath::root().key("services").key(name);
        self.plain_handler(
            &path,
            service,
            "a consumer handles each event it is delivered",
        );
        for (i, c) in consume.iter().enumerate() {
            let at = path.key("consume").index(i);
            self.topic_exists(at.key("topic"), &c.topic);
            if let Some(why) = bad_name(&c.group) {
                self.problem(at.key("group"), format!("a group name {why}"));
            }
            if c.max_attempts == 0 || c.max_attempts > 1000 {
                self.problem(
                    at.key("max_attempts"),
                    "max_attempts must be between 1 and 1000",
                );
            }
            if c.dedupe_window == 0 || c.dedupe_window > 1 << 24 {
                self.problem(
                    at.key("dedupe_window"),
                    "dedupe_window must be between 1 and 16777216",
                );
            }
            if c.max_poll_records == 0 || c.max_poll_records > 100_000 {
                self.problem(
                    at.key("max_poll_records"),
                    "max_poll_records must be between 1 and 100000",
                );
            }
            for (field, value) in [
                ("session_timeout", c.session_timeout),
                ("commit_timeout", c.commit_timeout),
            ] {
                if value.is_zero() {
                    self.problem(at.key(field), format!("{field} must be longer than 0"));
                }
            }
        }
    }

    /// Each route's `then_read`: the write's service publishes, the read
    /// route exists and its service reads that topic (in the group named,
    /// or its only one).
    pub(super) fn then_reads(&mut self) {
        let scenario = self.scenario;
        for (i, route) in scenario.workload.routes.iter().enumerate() {
            let Some(read) = &route.then_read else {
                continue;
            };
            let at = JsonPath::root()
                .key("workload")
                .key("routes")
                .index(i)
                .key("then_read");
            let Some(topic) = scenario
                .services
                .get(&route.service)
                .and_then(|s| s.publish.as_ref())
                .map(|p| p.topic.as_str())
            else {
                self.problem(
                    at,
                    format!(
                        "`then_read` reads a write's event back, but `{}` publishes none (give it `publish`)",
                        shown(&route.service)
                    ),
                );
                continue;
            };
            let Some(target) = scenario
                .workload
                .routes
                .iter()
                .find(|r| r.name() == read.route)
            else {
                let names: Vec<&str> = scenario.workload.routes.iter().map(|r| r.name()).collect();
                let hint =
                    crate::scenario::diagnostic::did_you_mean(&read.route, names.iter().copied())
                        .map(|s| format!("; did you mean `{}`?", shown(s)))
                        .unwrap_or_default();
                self.problem(
                    at.key("route"),
                    format!("unknown route `{}`{hint}", shown(&read.route)),
                );
                continue;
            };
            if target.then_read.is_some() {
                self.problem(
                    at.key("route"),
                    format!(
                        "route `{}` has a `then_read` itself: a read is not read back",
                        shown(&read.route)
                    ),
                );
            }
            let groups: Vec<&str> = scenario
                .services
                .get(&target.service)
                .map(|s| {
                    s.consume
                        .iter()
                        .filter(|c| c.topic == topic)
                        .map(|c| c.group.as_str())
                        .collect()
                })
                .unwrap_or_default();
            let ok = match &read.group {
                Some(g) => groups.contains(&g.as_str()),
                None => groups.len() == 1,
            };
            if !ok {
                let why = match (&read.group, groups.len()) {
                    (_, 0) => format!(
                        "`{}` (route `{}`'s service) does not consume topic `{}`: it has no read model of these writes",
                        shown(&target.service),
                        shown(&read.route),
                        shown(topic)
                    ),
                    (None, _) => format!(
                        "`{}` reads topic `{}` in groups {}: say which with `group`",
                        shown(&target.service),
                        shown(topic),
                        groups
                            .iter()
                            .map(|g| format!("`{}`", shown(g)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    (Some(g), _) => format!(
                        "`{}` has no group `{}` on topic `{}`",
                        shown(&target.service),
                        shown(g),
                        shown(topic)
                    ),
                };
                self.problem(at, why);
            }
        }
    }

    /// Across services: a group is one subscriber of one topic; a topic has
    /// a bounded number of groups; only publishing reaches a broker.
    pub(super) fn messaging_across_services(&mut self) {
        let scenario = self.scenario;
        let mut groups: BTreeMap<(&str, &str), &str> = BTreeMap::new();
        let mut per_topic: BTreeMap<&str, usize> = BTreeMap::new();
        for (name, service) in &scenario.services {
            for (i, c) in service.consume.iter().enumerate() {
                let at = JsonPath::root()
                    .key("services")
                    .key(name)
                    .key("consume")
                    .index(i);
                match groups.get(&(c.topic.as_str(), c.group.as_str())) {
                    Some(first) => self.problem(
                        at.key("group"),
                        format!(
                            "`{}` already consumes `{}` as group `{}`: a group is one subscriber, so two services in it would each see only the partitions they were given (Eventuate's shared subscriber id); give this one a group of its own",
                            shown(first),
                            shown(&c.topic),
                            shown(&c.group)
                        ),
                    ),
                    None => {
                        groups.insert((c.topic.as_str(), c.group.as_str()), name.as_str());
                        let n = per_topic.entry(c.topic.as_str()).or_default();
                        *n += 1;
                        if *n > MAX_GROUPS_PER_TOPIC {
                            self.problem(
                                at.key("group"),
                                format!(
                                    "topic `{}` has more than {MAX_GROUPS_PER_TOPIC} consumer groups",
                                    shown(&c.topic)
                                ),
                            );
                        }
                    }
                }
            }
        }
        let brokers: Vec<&str> = scenario
            .services
            .iter()
            .filter(|(_, s)| s.broker.is_some())
            .map(|(n, _)| n.as_str())
            .collect();
        if brokers.is_empty() {
            return;
        }
        let refuse = |c: &mut Self, path: JsonPath, name: &str| {
            c.problem(
                path,
                format!(
                    "`{}` is a broker: it is reached by publishing (a service's `publish`), not called",
                    shown(name)
                ),
            );
        };
        for (i, route) in scenario.workload.routes.iter().enumerate() {
            if brokers.contains(&route.service.as_str()) {
                let path = JsonPath::root().key("workload").key("routes").index(i);
                refuse(self, path.key("service"), &route.service);
            }
        }
        for (name, service) in &scenario.services {
            let path = JsonPath::root().key("services").key(name);
            for (at, callee) in call_sites(&path, service) {
                if brokers.contains(&callee) {
                    refuse(self, at, callee);
                }
            }
            if let Some(g) = &service.gateway {
                for (i, route) in g.routes.iter().enumerate() {
                    if let Some(limit) =
                        route.rate_limit.as_ref().and_then(|l| l.service.as_deref())
                        && brokers.contains(&limit)
                    {
                        let at = path
                            .key("gateway")
                            .key("routes")
                            .index(i)
                            .key("rate_limit")
                            .key("service");
                        refuse(self, at, limit);
                    }
                }
            }
        }
        for (name, policy) in &scenario.policies {
            if let Some(service) = policy.fallback.as_ref().and_then(|f| f.service.as_deref())
                && brokers.contains(&service)
            {
                let path = JsonPath::root().key("policies").key(name).key("fallback");
                refuse(self, path.key("service"), service);
            }
        }
    }
}

impl Checker<'_> {
    /// Each choreography: its topic, its starter and its steps' services,
    /// each of which reads the topic in one group and publishes to it; one
    /// choreography per topic and per service.
    pub(super) fn choreographies(&mut self) {
        let scenario = self.scenario;
        let mut topics: BTreeMap<&str, &str> = BTreeMap::new();
        let mut services: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, c) in &scenario.choreographies {
            let path = JsonPath::root().key("choreographies").key(name);
            if let Some(why) = bad_name(name) {
                self.problem(path.clone(), format!("a choreography name {why}"));
            }
            let topic_known = self.topic_exists(path.key("topic"), &c.topic);
            if let Some(first) = topics.insert(c.topic.as_str(), name.as_str()) {
                self.problem(
                    path.key("topic"),
                    format!(
                        "topic `{}` already carries choreography `{}`: one saga's events per topic, so that a participant knows what each event is",
                        shown(&c.topic),
                        shown(first)
                    ),
                );
            }
            if c.steps.is_empty() || c.steps.len() > 16 {
                self.problem(path.key("steps"), "a choreography has 1 to 16 steps");
            }
            if c.sagas_max == 0 || c.sagas_max > 1 << 20 {
                self.problem(
                    path.key("sagas_max"),
                    "sagas_max must be between 1 and 1048576: it bounds the sagas followed",
                );
            }
            if c.retention.is_zero() {
                self.problem(
                    path.key("retention"),
                    "a retention must be longer than 0: the participants remember a saga until its last events can arrive",
                );
            }
            let mut members = vec![(path.key("start"), c.start.as_str(), None)];
            for (i, step) in c.steps.iter().enumerate() {
                members.push((
                    path.key("steps").index(i).key("service"),
                    &step.service,
                    Some(i),
                ));
            }
            for (at, service_name, step) in members {
                let Some(service) = scenario.services.get(service_name) else {
                    self.problem(at, format!("unknown service `{}`", shown(service_name)));
                    continue;
                };
                if let Some(first) = services.insert(service_name, name.as_str()) {
                    self.problem(
                        at.clone(),
                        format!(
                            "`{}` is already in choreography `{}`: a service takes one part in one choreography",
                            shown(service_name),
                            shown(first)
                        ),
                    );
                }
                if topic_known && service.publish.as_ref().is_none_or(|p| p.topic != c.topic) {
                    self.problem(
                        at.clone(),
                        format!(
                            "`{}` must publish to `{}` (its `publish`): that is how it tells the others what it did",
                            shown(service_name),
                            shown(&c.topic)
                        ),
                    );
                }
                if step.is_none() && !service.consume.is_empty() {
                    self.problem(
                        at.clone(),
                        format!(
                            "`{}` starts choreography `{}`, so it consumes nothing (its `consume`): each event it handled would commit an event of its own onto the saga's topic",
                            shown(service_name),
                            shown(name)
                        ),
                    );
                }
                if step.is_some() && topic_known {
                    let reads = service
                        .consume
                        .iter()
                        .filter(|g| g.topic == c.topic)
                        .count();
                    if reads != 1 || service.consume.len() != 1 {
                        self.problem(
                            at,
                            format!(
                                "`{}` must consume `{}` in exactly one group, and nothing else (its `consume`): it reacts to the saga's events",
                                shown(service_name),
                                shown(&c.topic)
                            ),
                        );
                    }
                }
            }
            let mut names: BTreeMap<&str, usize> = BTreeMap::new();
            for (i, step) in c.steps.iter().enumerate() {
                let at = path.key("steps").index(i);
                if step.name.is_empty() {
                    self.problem(at.key("name"), "a step has a name");
                } else if let Some(first) = names.insert(step.name.as_str(), i) {
                    self.problem(
                        at.key("name"),
                        format!(
                            "step {first} is already named `{}`: step names are unique",
                            shown(&step.name)
                        ),
                    );
                }
                if step.delta == 0 {
                    self.problem(
                        at.key("delta"),
                        "a step's action changes its balance: delta is not 0",
                    );
                } else if step.delta.unsigned_abs() > u64::from(u32::MAX) {
                    self.problem(
                        at.key("delta"),
                        format!("delta must be between -{0} and {0}", u32::MAX),
                    );
                }
                if step.keys == 0 || step.keys > super::MAX_STATE_KEYS {
                    self.problem(
                        at.key("keys"),
                        format!("keys must be between 1 and {}", super::MAX_STATE_KEYS),
                    );
                }
                if step.initial < 0 || step.initial > i64::from(u32::MAX) {
                    self.problem(
                        at.key("initial"),
                        format!("initial must be between 0 and {}", u32::MAX),
                    );
                }
                if !(0.0..=1.0).contains(&step.decline) {
                    self.problem(at.key("decline"), "decline is a probability in [0, 1]");
                }
            }
        }
    }
}
