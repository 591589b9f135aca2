//! Event-driven messaging, compiled: topics on their brokers, producers with
//! their publish call, and consumer groups, every name resolved to an index.

use super::CallTarget;
use super::resolve::Resolver;
use crate::kernel::SimDuration;
use crate::scenario::diagnostic::JsonPath;
use crate::scenario::model::PublishMode;

/// A topic of a broker.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledTopic {
    /// Its name.
    pub name: String,
    /// The broker service's index.
    pub broker: u32,
    /// Its partitions.
    pub partitions: u32,
    /// How long a message is kept.
    pub retention: SimDuration,
    /// The messages a partition keeps at most.
    pub retention_messages: u32,
    /// Its consumer groups, by index into [`CompiledEvents::groups`].
    pub groups: Vec<u32>,
}

/// A producer: a service that commits an event with each request.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledPublisher {
    /// The service's index.
    pub service: u32,
    /// The topic's index.
    pub topic: u32,
    /// Outbox or naive.
    pub mode: PublishMode,
    /// The publish call to the topic's broker.
    pub call: CallTarget,
    /// The outbox's table, poll interval and sends in flight.
    pub outbox_capacity: usize,
    /// How often the relay polls.
    pub poll_interval: SimDuration,
    /// Sends in flight at most.
    pub max_in_flight: usize,
    /// A naive producer's buffering before a publish is sent.
    pub linger: SimDuration,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledGroup {
    /// Its name.
    pub name: String,
    /// The topic's index.
    pub topic: u32,
    /// The consuming service's index: its instances are the members.
    pub service: u32,
    /// The handler deduplicates by event id.
    pub idempotent: bool,
    /// The ids it remembers.
    pub dedupe_window: usize,
    /// Handler attempts before the dead-letter topic.
    pub max_attempts: u32,
    /// The wait before a handler's retry.
    pub retry_backoff: SimDuration,
    /// Messages per delivery at most.
    pub max_poll_records: u32,
    /// How long a crashed member keeps its partitions.
    pub session_timeout: SimDuration,
    /// How long a rebalance stops the group.
    pub rebalance_pause: SimDuration,
    /// How long the broker waits for a delivery's commit.
    pub commit_timeout: SimDuration,
}

/// A write route's read back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompiledThenRead {
    /// The read route's index.
    pub route: u32,
    /// The wait after the write's answer.
    pub after: SimDuration,
    /// The group whose read model it reads, by index.
    pub group: u32,
}

/// A saga by choreography.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledChoreography {
    /// Its name.
    pub name: String,
    /// Its topic's index.
    pub topic: u32,
    /// The service whose requests begin a saga.
    pub start: u32,
    /// Its steps in order.
    pub steps: Vec<CompiledChoreographyStep>,
    /// The sagas followed at once, at most.
    pub sagas_max: usize,
    /// How long an ended saga is remembered.
    pub retention: SimDuration,
}

/// One step of a choreography.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledChoreographyStep {
    /// Its name.
    pub name: String,
    /// Its service's index.
    pub service: u32,
    /// The group in which its service reads the topic, by index into
    /// [`CompiledEvents::groups`].
    pub group: u32,
    /// What its action adds to a balance.
    pub delta: i64,
    /// Its ledger's keys.
    pub keys: u32,
    /// Each key's opening balance.
    pub initial: i64,
    /// The probability that its business rule refuses.
    pub decline: f64,
}

/// Every topic, producer and group of a scenario (all empty without a
/// broker).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompiledEvents {
    /// The topics, brokers in service order, each broker's in name order.
    pub topics: Vec<CompiledTopic>,
    /// The producers, in service order.
    pub publishers: Vec<CompiledPublisher>,
    /// The groups, in service order, each service's in its `consume` order.
    pub groups: Vec<CompiledGroup>,
    /// Per workload route, its read back (empty without a broker).
    pub then_read: Vec<Option<CompiledThenRead>>,
    /// The choreographies, in name order.
    pub choreographies: Vec<CompiledChoreography>,
}

impl CompiledEvents {
    /// Whether some service is a broker.
    pub fn any(&self) -> bool {
        !self.topics.is_empty()
    }

    /// The index of the topic called `name`.
    pub fn topic(&self, name: &str) -> Option<u32> {
        self.topics
            .iter()
            .position(|t| t.name == name)
            .map(|i| i as u32)
    }
}

impl Resolver<'_> {
    /// The scenario's messaging (validated: every topic exists).
    pub(super) fn events(&mut self) -> CompiledEvents {
        let scenario = self.scenario;
        let mut events = CompiledEvents::default();
        for (i, service) in scenario.services.values().enumerate() {
            let Some(broker) = &service.broker else {
                continue;
            };
            for (name, topic) in &broker.topics {
                events.topics.push(CompiledTopic {
                    name: name.clone(),
                    broker: i as u32,
                    partitions: topic.partitions,
                    retention: topic.retention,
                    retention_messages: topic.retention_messages,
                    groups: Vec::new(),
                });
            }
        }
        for (i, (name, service)) in scenario.services.iter().enumerate() {
            let path = JsonPath::root().key("services").key(name);
            if let Some(p) = &service.publish {
                let at = path.key("publish");
                let Some(topic) = events.topic(&p.topic) else {
                    self.problems
                        .push((at.key("topic"), format!("unknown topic `{}`", p.topic)));
                    continue;
                };
                let broker = events.topics[topic as usize].broker;
                events.publishers.push(CompiledPublisher {
                    service: i as u32,
                    topic,
                    mode: p.mode,
                    call: CallTarget {
                        service: broker,
                        policy: self.policy(at.key("policy"), p.policy.as_deref()),
                        probability: 1.0,
                        optional: false,
                        timeout: p.timeout,
                    },
                    outbox_capacity: p.outbox.capacity as usize,
                    poll_interval: p.outbox.poll_interval,
                    max_in_flight: p.outbox.max_in_flight as usize,
                    linger: p.linger,
                });
            }
            for (k, c) in service.consume.iter().enumerate() {
                let Some(topic) = events.topic(&c.topic) else {
                    self.problems.push((
                        path.key("consume").index(k).key("topic"),
                        format!("unknown topic `{}`", c.topic),
                    ));
                    continue;
                };
                let group = events.groups.len() as u32;
                events.topics[topic as usize].groups.push(group);
                events.groups.push(CompiledGroup {
                    name: c.group.clone(),
                    topic,
                    service: i as u32,
                    idempotent: c.idempotent,
                    dedupe_window: c.dedupe_window as usize,
                    max_attempts: c.max_attempts,
                    retry_backoff: c.retry_backoff,
                    max_poll_records: c.max_poll_records,
                    session_timeout: c.session_timeout,
                    rebalance_pause: c.rebalance_pause,
                    commit_timeout: c.commit_timeout,
                });
            }
        }
        let routes = &scenario.workload.routes;
        let names: Vec<&str> = scenario.services.keys().map(String::as_str).collect();
        events.then_read = routes
            .iter()
            .map(|r| {
                let read = r.then_read.as_ref()?;
                let target = routes.iter().position(|t| t.name() == read.route)?;
                let service = names.binary_search(&routes[target].service.as_str()).ok()? as u32;
                let writer = names.binary_search(&r.service.as_str()).ok()? as u32;
                let topic = events
                    .publishers
                    .iter()
                    .find(|p| p.service == writer)?
                    .topic;
                let group = events.groups.iter().position(|g| {
                    g.service == service
                        && g.topic == topic
                        && read.group.as_ref().is_none_or(|n| *n == g.name)
                })? as u32;
                Some(CompiledThenRead {
                    route: target as u32,
                    after: read.after,
                    group,
                })
            })
            .collect();
        if events.topics.is_empty() {
            events.then_read.clear();
        }
        for (name, c) in &scenario.choreographies {
            let path = JsonPath::root().key("choreographies").key(name);
            let (Some(topic), Ok(start)) = (
                events.topic(&c.topic),
                names.binary_search(&c.start.as_str()),
            ) else {
                self.problems
                    .push((path, "an unknown topic or service".to_string()));
                continue;
            };
            let mut steps = Vec::new();
            for (i, step) in c.steps.iter().enumerate() {
                let service = names.binary_search(&step.service.as_str()).ok();
                let group = service.and_then(|s| {
                    events
                        .groups
                        .iter()
                        .position(|g| g.service == s as u32 && g.topic == topic)
                });
                let (Some(service), Some(group)) = (service, group) else {
                    self.problems.push((
                        path.key("steps").index(i).key("service"),
                        "a step's service consumes the topic".to_string(),
                    ));
                    continue;
                };
                steps.push(CompiledChoreographyStep {
                    name: step.name.clone(),
                    service: service as u32,
                    group: group as u32,
                    delta: step.delta,
                    keys: step.keys,
                    initial: step.initial,
                    decline: step.decline,
                });
            }
            events.choreographies.push(CompiledChoreography {
                name: name.clone(),
                topic,
                start: start as u32,
                steps,
                sagas_max: c.sagas_max as usize,
                retention: c.retention,
            });
        }
        events
    }
}
