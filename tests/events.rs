//! Event-driven messaging in the world: a broker's partition logs,
//! producers that publish through an outbox or after the commit, and
//! consumer groups that read at least once.
//!
//! What a user relies on: the outbox loses no event through a broker
//! outage while naive publishing loses exactly the events whose publish gave
//! up; a non-idempotent consumer applies a redelivered event again while an
//! idempotent one skips it; each partition is applied in order; the same
//! seed gives the same numbers; a misused broker is refused at its path;
//! and a backlog drains at the consumers' capacity minus the arrival rate.

use meshsim::report::Summary;
use meshsim::report::summary::{EventsSummary, GroupSummary};
use meshsim::scenario;
use meshsim::world;
use serde_json::{Value, json};

/// One producer (`mode`) at 100 orders a second for `duration`, a broker of
/// `brokers` instances with one 4-partition topic, and two groups: an
/// idempotent `projector` and a `billing` that is not; with `faults`.
fn pipeline(mode: &str, duration: &str, faults: Value) -> Value {
    let consumer = |group: &str, idempotent: bool| {
        json!({"instances": 2, "concurrency": 4, "service_time": {"exponential": {"mean": "5ms"}},
               "consume": [{"topic": "orders", "group": group, "idempotent": idempotent,
                            "max_poll_records": 50, "session_timeout": "5s",
                            "rebalance_pause": "1s", "commit_timeout": "5s"}]})
    };
    json!({
        "name": "events", "duration": duration, "window": "1s",
        "network": {"latency": {"exponential": {"mean": "1ms"}}},
        "services": {
            "orders": {"instances": 2, "concurrency": 16,
                       "service_time": {"exponential": {"mean": "2ms"}},
                       "publish": {"topic": "orders", "mode": mode, "timeout": "200ms",
                                   "outbox": if mode == "outbox" {
                                       json!({"poll_interval": "50ms", "max_in_flight": 1})
                                   } else { json!({"capacity": 100000, "poll_interval": "100ms", "max_in_flight": 1}) }}},
            "broker": {"instances": 2, "concurrency": 32,
                       "service_time": {"exponential": {"mean": "500us"}},
                       "broker": {"topics": {"orders": {"partitions": 4}}}},
            "projector": consumer("read-model", true),
            "billing": consumer("billing", false)
        },
        "workload": {"arrivals": {"poisson": {"rate": 100}},
                     "routes": [{"name": "order", "service": "orders", "method": "POST",
                                 "path": "/orders", "keys": 500, "timeout": "2s"}]},
        "faults": faults
    })
}

fn summary(value: &Value, seed: u64) -> Summary {
    let compiled =
        scenario::parse(&value.to_string(), "events.json").unwrap_or_else(|e| panic!("{e}"));
    let outcome = world::run(&compiled, seed, None);
    Summary::new(&compiled, seed, &outcome)
}

fn events(s: &Summary) -> &EventsSummary {
    s.events
        .as_ref()
        .expect("a run with a broker reports its events")
}

fn group<'a>(s: &'a Summary, name: &str) -> &'a GroupSummary {
    &events(s).groups[&format!("orders/{name}")]
}

fn refused(value: &Value) -> String {
    match scenario::parse(&value.to_string(), "events.json") {
        Ok(_) => panic!("compiled, but should not have: {value:#}"),
        Err(e) => e.to_string(),
    }
}

/// Arrivals stop at 20 s and the run lasts 40 s, so everything committed
/// can be read by the end.
fn drained(mode: &str, faults: Value) -> Value {
    let mut v = pipeline(mode, "40s", faults);
    v["workload"]["schedule"] = json!([{"at": "20s", "rate": 0}]);
    v
}

#[test]
fn a_broker_outage_loses_nothing_through_the_outbox() {
    let outage = json!([{"at": "5s", "for": "5s", "crash": {"service": "broker"}}]);
    let s = summary(&drained("outbox", outage), 1);
    let e = events(&s);
    let p = &e.publishers["orders"];
    assert!(p.committed > 1500, "{p:?}");
    assert!(p.send_failures > 0, "the outage failed publishes: {p:?}");
    assert_eq!(p.unpublished, 0, "{p:?}");
    assert_eq!(p.in_outbox_at_end, 0, "the relay caught up: {p:?}");
    assert!(
        p.in_outbox_max > 400,
        "the outage's events waited in the outbox: {p:?}"
    );
    assert_eq!(e.lost, 0);
    for name in ["read-model", "billing"] {
        let g = group(&s, name);
        assert_eq!(
            g.applied, p.committed,
            "{name}: every committed event applied once: {g:?}"
        );
        assert_eq!(g.lost, 0, "{name}");
        assert_eq!(g.pending_at_end, 0, "{name}");
        assert_eq!(g.order_violations, 0, "{name}");
        // The events of the outage waited in the outbox: staler, not lost.
        assert!(g.staleness_ms.p99 > 3000.0, "{name}: {g:?}");
        assert_eq!(g.lag_at_end, 0, "{name}");
    }
}

#[test]
fn a_broker_outage_loses_the_naive_publishes_that_gave_up() {
    let outage = json!([{"at": "5s", "for": "5s", "crash": {"service": "broker"}}]);
    let s = summary(&drained("naive", outage), 1);
    let e = events(&s);
    let p = &e.publishers["orders"];
    // About 5 s × 100/s of publishes failed, and each is an event lost.
    assert!(p.unpublished > 300, "{p:?}");
    assert!(p.unpublished <= p.send_failures, "{p:?}");
    for name in ["read-model", "billing"] {
        let g = group(&s, name);
        assert_eq!(g.lost, p.unpublished, "{name}: {g:?}");
        assert_eq!(
            g.applied + g.lost,
            p.committed,
            "{name}: every event applied or lost: {g:?}"
        );
        assert_eq!(g.pending_at_end, 0, "{name}");
    }
    assert_eq!(e.lost, 2 * p.unpublished);
}

#[test]
fn a_producer_crash_loses_naive_publishes_in_flight_but_not_outbox_ones() {
    // The producer buffers each event for 200 ms before its publish: about
    // 10 are in the crashed instance's buffer.
    let faults = json!([{"at": "5s", "for": "1s", "crash": {"service": "orders", "instance": 0}}]);
    let mut v = drained("naive", faults.clone());
    v["services"]["orders"]["publish"]["linger"] = json!("200ms");
    let naive = summary(&v, 3);
    let lost = events(&naive).publishers["orders"].unpublished;
    assert!(
        lost >= 3,
        "a crash between the commit and the publish loses the event: {lost}"
    );
    assert_eq!(events(&naive).groups["orders/billing"].lost, lost);
    let _ = faults;
    // The outbox's relay runs on instance 0: with the broker slow, it has
    // sends in flight when it crashes, and restarts on instance 1.
    let slow = json!([
        {"at": "4s", "for": "3s", "latency": {"service": "broker", "add": "100ms"}},
        {"at": "5s", "for": "1s", "crash": {"service": "orders", "instance": 0}}
    ]);
    let outbox = summary(&drained("outbox", slow), 3);
    let e = events(&outbox);
    let p = &e.publishers["orders"];
    assert!(
        p.resent > 0,
        "the restarted relay sent again what was in flight: {p:?}"
    );
    assert_eq!(p.unpublished, 0);
    assert_eq!(e.lost, 0);
}

#[test]
fn a_consumer_crash_redelivers_and_only_the_idempotent_consumer_skips_duplicates() {
    // Right after a broker outage the groups have a backlog, so each
    // member is in the middle of a full batch when it crashes (on five
    // seeds).
    let faults = json!([
        {"at": "3s", "for": "2s", "crash": {"service": "broker"}},
        {"at": "5200ms", "for": "3s", "crash": {"service": "projector", "instance": 0}},
        {"at": "5200ms", "for": "3s", "crash": {"service": "billing", "instance": 0}}
    ]);
    let mut v = drained("outbox", faults);
    // Slow handlers: each batch of the backlog takes about a second.
    for consumer in ["projector", "billing"] {
        v["services"][consumer]["service_time"] = json!({"exponential": {"mean": "20ms"}});
    }
    for seed in 1..=5 {
        let s = summary(&v, seed);
        duplicates_only_without_dedupe(&s);
    }
}

fn duplicates_only_without_dedupe(s: &Summary) {
    let (projector, billing) = (group(s, "read-model"), group(s, "billing"));
    assert!(
        projector.redelivered > 0 && billing.redelivered > 0,
        "{projector:?} {billing:?}"
    );
    assert_eq!(projector.duplicate_effects, 0, "{projector:?}");
    assert!(projector.deduplicated > 0, "{projector:?}");
    assert!(billing.duplicate_effects > 0, "{billing:?}");
    assert_eq!(billing.deduplicated, 0);
    // A duplicate effect is a redelivery of an event already applied: one
    // for one, as no handler fails here.
    assert_eq!(
        billing.duplicate_effects, billing.redelivered_applied,
        "{billing:?}"
    );
    assert_eq!(
        projector.deduplicated, projector.redelivered_applied,
        "{projector:?}"
    );
    assert!(
        billing.duplicate_effects <= billing.redelivered,
        "{billing:?}"
    );
    for g in [projector, billing] {
        assert_eq!(g.order_violations, 0, "{g:?}");
        assert_eq!(g.lost, 0);
        // Two joins at the start, and the crashed member's return (its 3 s
        // are shorter than the 5 s session, so the crash itself does not
        // rebalance).
        assert!(g.rebalances >= 3, "{g:?}");
    }
}

#[test]
fn a_failing_handler_retries_then_dead_letters() {
    let mut v = drained(
        "outbox",
        json!([{"at": "5s", "for": "2s", "errors": {"service": "billing", "rate": 1.0}}]),
    );
    v["services"]["billing"]["consume"][0]["max_attempts"] = json!(3);
    let s = summary(&v, 1);
    let billing = group(&s, "billing");
    assert!(billing.dead_lettered > 0, "{billing:?}");
    assert_eq!(
        billing.handler_failures,
        billing.retries + billing.dead_lettered
    );
    assert_eq!(billing.lost, 0, "a dead-lettered event is not lost");
    assert_eq!(
        billing.applied + billing.dead_lettered,
        events(&s).publishers["orders"].committed,
        "{billing:?}"
    );
}

#[test]
fn the_same_seed_gives_the_same_events() {
    let faults = json!([{"at": "3s", "for": "2s", "crash": {"service": "broker"}},
                        {"at": "6s", "for": "2s", "crash": {"service": "billing", "instance": 1}}]);
    let v = pipeline("naive", "12s", faults);
    let a = serde_json::to_string(&summary(&v, 9)).unwrap();
    let b = serde_json::to_string(&summary(&v, 9)).unwrap();
    assert_eq!(a, b);
    let c = serde_json::to_string(&summary(&v, 10)).unwrap();
    assert_ne!(a, c, "another seed gives other numbers");
}

#[test]
fn misused_messaging_is_refused_at_the_path() {
    let base = pipeline("outbox", "5s", json!([]));
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Mutation, &str, &str)> = vec![
        (
            Box::new(|v| v["workload"]["routes"][0]["service"] = json!("broker")),
            "workload.routes[0].service",
            "is a broker",
        ),
        (
            Box::new(|v| v["services"]["orders"]["publish"]["timeout"] = Value::Null),
            "services.orders.publish.timeout",
            "a publish needs a timeout",
        ),
        (
            Box::new(|v| v["services"]["orders"]["publish"]["topic"] = json!("order")),
            "services.orders.publish.topic",
            "did you mean `orders`",
        ),
        (
            Box::new(|v| v["services"]["billing"]["consume"][0]["group"] = json!("read-model")),
            "services.projector.consume[0].group",
            "a group is one subscriber",
        ),
        (
            Box::new(|v| {
                v["services"]["broker"]["broker"]["topics"]["orders"]["partitions"] = json!(0)
            }),
            "services.broker.broker.topics.orders.partitions",
            "between 1 and 1024",
        ),
        (
            Box::new(|v| v["services"]["broker"]["calls"] = json!([{"service": "billing"}])),
            "services.broker.calls",
            "makes no calls",
        ),
    ];
    for (mutate, path, words) in cases {
        let mut v = base.clone();
        mutate(&mut v);
        let message = refused(&v);
        assert!(
            message.contains(path) && message.contains(words),
            "{path}: {message}"
        );
    }
}

/// `pipeline` with write-then-read clients: each order's client reads its
/// order back from the projector's read model `after` later.
fn reading_back(after: &str, faults: Value) -> Value {
    let mut v = pipeline("outbox", "20s", faults);
    v["workload"]["routes"][0]["then_read"] = json!({"route": "my-orders", "after": after});
    v["workload"]["routes"].as_array_mut().unwrap().push(
        json!({"name": "my-orders", "service": "projector", "weight": 0.01,
                      "keys": 500, "timeout": "2s"}),
    );
    v
}

#[test]
fn a_read_right_after_a_write_can_miss_it_and_one_later_does_not() {
    let reads = |s: &Summary| events(s).read_your_writes["order"].clone();
    let soon = summary(&reading_back("1ms", json!([])), 4);
    let r = reads(&soon);
    assert!(r.reads > 1000, "{r:?}");
    // The event's trip (relay poll of 50 ms, broker, delivery, 5 ms
    // handler) is longer than 1 ms: most reads miss their own write.
    assert!(r.stale_share > 0.5, "{r:?}");
    let late = summary(&reading_back("2s", json!([])), 4);
    let r = reads(&late);
    assert!(r.reads > 1000, "{r:?}");
    assert_eq!(r.stale_reads, 0, "{r:?}");
    // During a broker outage, reads 2 s after their write miss it.
    let outage = json!([{"at": "5s", "for": "5s", "crash": {"service": "broker"}}]);
    let r = reads(&summary(&reading_back("2s", outage), 4));
    assert!(r.stale_reads > 200, "{r:?}");
    assert_eq!(r.read_route, "my-orders");
    assert_eq!(r.group, "orders/read-model");
}

#[test]
fn a_read_back_must_read_a_read_model_of_the_write() {
    let mut v = reading_back("1ms", json!([]));
    v["workload"]["routes"][1]["service"] = json!("broker2");
    v["services"]["broker2"] = json!({"service_time": {"constant": "1ms"}});
    let message = refused(&v);
    assert!(
        message.contains("workload.routes[0].then_read")
            && message.contains("does not consume topic `orders`"),
        "{message}"
    );
    let mut v = reading_back("1ms", json!([]));
    v["workload"]["routes"][0]["then_read"]["route"] = json!("my-order");
    let message = refused(&v);
    assert!(message.contains("did you mean `my-orders`"), "{message}");
}

/// Every event committed for a topic is, for each group, applied,
/// dead-lettered, lost or still pending: nothing vanishes from the
/// accounts.
fn accounted(s: &Summary) {
    let e = events(s);
    let committed: u64 = e.publishers.values().map(|p| p.committed).sum();
    for (name, g) in &e.groups {
        assert_eq!(
            g.applied + g.dead_lettered_events + g.lost + g.pending_at_end,
            committed,
            "{name}: {g:?}"
        );
    }
}

#[test]
fn retention_loses_what_a_lagging_group_had_not_read() {
    // One partition that keeps 50 messages, read by one slow member: after
    // a crash, the backlog outgrows the log.
    let mut v = drained(
        "outbox",
        json!([{"at": "5s", "for": "3s", "crash": {"service": "billing", "instance": 0}}]),
    );
    v["services"]["broker"]["broker"]["topics"]["orders"] =
        json!({"partitions": 1, "retention_messages": 50});
    v["services"]["billing"]["instances"] = json!(1);
    v["services"]["billing"]["concurrency"] = json!(1);
    v["services"]["billing"]["service_time"] = json!({"constant": "8ms"});
    let s = summary(&v, 5);
    let billing = group(&s, "billing");
    assert!(billing.lost > 100, "{billing:?}");
    // The other group, faster and not crashed, loses less.
    assert!(group(&s, "read-model").lost < billing.lost);
    assert!(events(&s).topics["orders"].deleted > 0);
    accounted(&s);
    // And under the other faults of this file.
    let faults = json!([{"at": "3s", "for": "2s", "crash": {"service": "broker"}},
                        {"at": "5200ms", "for": "3s", "crash": {"service": "billing", "instance": 0}},
                        {"at": "6s", "for": "1s", "crash": {"service": "orders", "instance": 1}}]);
    accounted(&summary(&drained("naive", faults.clone()), 2));
    accounted(&summary(&drained("outbox", faults), 2));
}

#[test]
fn a_graceful_stop_flushes_the_naive_buffer_and_finishes_its_publishes() {
    let mut v = drained(
        "naive",
        json!([{"at": "5s", "for": "2s", "stop": {"service": "orders", "instance": 0}}]),
    );
    v["services"]["orders"]["publish"]["linger"] = json!("200ms");
    let s = summary(&v, 3);
    let e = events(&s);
    assert_eq!(
        e.publishers["orders"].unpublished, 0,
        "{:?}",
        e.publishers["orders"]
    );
    assert_eq!(e.lost, 0);
    accounted(&s);
}

#[test]
fn the_default_relay_keeps_up_one_event_at_a_time() {
    // One send in flight (the default), a poll every 100 ms: after each
    // acknowledgement the poll under way sends the next, so the relay is
    // not limited to one event per poll.
    let mut v = drained("outbox", json!([]));
    v["services"]["orders"]["publish"]["outbox"] = json!({});
    let s = summary(&v, 1);
    let p = &events(&s).publishers["orders"];
    assert_eq!(p.in_outbox_at_end, 0, "{p:?}");
    assert_eq!(p.sends, p.committed, "{p:?}");
    assert!(p.in_outbox_max < 100, "{p:?}");
    assert!(group(&s, "billing").staleness_ms.p50 < 120.0);
}

/// After a broker outage, a group's lag drains at its capacity minus the
/// arrival rate (deliverable 7). The events of the outage wait in the
/// outbox and reach the log as soon as the broker is back, so the lag peaks
/// then; from there it falls by what the consumers apply a second less
/// what keeps arriving. Evenly spaced arrivals, and Poisson ones on three
/// seeds.
#[test]
fn lag_after_a_broker_outage_drains_at_capacity_minus_arrivals() {
    let rate = 200.0;
    let constant = json!({"constant": {"rate": rate}});
    let poisson = json!({"poisson": {"rate": rate}});
    for (arrivals, seed) in [
        (constant, 1),
        (poisson.clone(), 1),
        (poisson.clone(), 2),
        (poisson, 3),
    ] {
        drains_at_capacity_minus_arrivals(rate, arrivals, seed);
    }
}

fn drains_at_capacity_minus_arrivals(rate: f64, arrivals: Value, seed: u64) {
    let (partitions, members, concurrency) = (4u32, 2u32, 4u32);
    let (handler_ms, latency_ms, batch) = (10.0, 1.0, 50u32);
    let v = json!({
        "name": "drain", "duration": "70s", "window": "1s",
        "network": {"latency": {"constant": format!("{latency_ms}ms")}},
        "services": {
            "orders": {"instances": 2, "concurrency": 16, "service_time": {"constant": "1ms"},
                       "publish": {"topic": "orders", "mode": "outbox", "timeout": "200ms",
                                   "outbox": {"poll_interval": "10ms", "max_in_flight": 64}}},
            "broker": {"instances": 2, "concurrency": 64, "service_time": {"constant": "200us"},
                       "broker": {"topics": {"orders": {"partitions": partitions}}}},
            "billing": {"instances": members, "concurrency": concurrency,
                        "service_time": {"constant": format!("{handler_ms}ms")},
                        "consume": [{"topic": "orders", "group": "billing",
                                     "max_poll_records": batch}]}
        },
        "workload": {"arrivals": arrivals,
                     "routes": [{"name": "order", "service": "orders", "method": "POST",
                                 "path": "/orders", "keys": 10000, "timeout": "2s"}]},
        "faults": [{"at": "10s", "for": "20s", "crash": {"service": "broker"}}]
    });
    let compiled = scenario::parse(&v.to_string(), "drain.json").unwrap_or_else(|e| panic!("{e}"));
    let outcome = world::run(&compiled, seed, None);
    let g = &outcome.messaging.as_ref().expect("a broker").groups[0];
    assert_eq!(g.rows_merged, 1);
    // The lag at each window's end.
    let lag: Vec<(f64, f64)> = g
        .rows
        .iter()
        .map(|(_, end, r)| (end.as_secs_f64(), r.lag as f64))
        .collect();
    // The capacity: each partition has one batch out at a time, its
    // messages handled one after another, so the parallelism is the
    // partitions (at most one per worker), and each batch also waits for
    // its delivery and its commit to cross the network.
    let parallel = f64::from(partitions.min(members * concurrency));
    let per_batch_s = (f64::from(batch) * handler_ms + 2.0 * latency_ms) / 1e3;
    let capacity = parallel * f64::from(batch) / per_batch_s;
    let expected = capacity - rate;
    let (peak_at, peak) = lag
        .iter()
        .copied()
        .fold((0.0, 0.0), |m, p| if p.1 > m.1 { p } else { m });
    // About the outage's arrivals (20 s × the rate).
    assert!(
        peak > 0.8 * 20.0 * rate,
        "peak {peak} at {peak_at}: {lag:?}"
    );
    // From two seconds after the peak until the lag is down to a tenth of
    // it (past that, partitions empty one by one and the slope flattens).
    let drain: Vec<(f64, f64)> = lag
        .iter()
        .copied()
        .filter(|&(t, _)| t >= peak_at + 2.0)
        .take_while(|&(_, l)| l > 0.1 * peak)
        .collect();
    assert!(drain.len() >= 8, "{drain:?}");
    let n = drain.len() as f64;
    let (mt, ml) = (
        drain.iter().map(|p| p.0).sum::<f64>() / n,
        drain.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let slope = drain.iter().map(|p| (p.0 - mt) * (p.1 - ml)).sum::<f64>()
        / drain.iter().map(|p| (p.0 - mt).powi(2)).sum::<f64>();
    let drains = -slope;
    assert!(
        (drains - expected).abs() <= 0.15 * expected,
        "{arrivals} seed {seed}: lag drains at {drains:.1}/s, expected {expected:.1}/s (capacity {capacity:.1} − arrivals {rate}): {drain:?}"
    );
    eprintln!(
        "{arrivals} seed {seed}: lag drains at {drains:.2}/s, expected {expected:.2}/s; peak {peak} at {peak_at}s"
    );
    // It drained: nothing is left but what is being handled.
    assert!(lag.last().expect("rows").1 < 0.05 * peak, "{lag:?}");
}

/// The order check can fail: a relay with 16 events in flight lets their
/// publishes race (the broker's instances append them as they arrive), so
/// the log leaves the producer's commit order and the groups apply events
/// of a key out of it; with one in flight the order holds, on the same
/// seed.
#[test]
fn a_relay_with_events_in_flight_reorders_and_one_at_a_time_does_not() {
    let mut racing = pipeline("outbox", "20s", json!([]));
    racing["services"]["orders"]["publish"]["outbox"]["max_in_flight"] = json!(16);
    let s = summary(&racing, 4);
    for name in ["read-model", "billing"] {
        let g = group(&s, name);
        assert!(g.order_violations > 0, "{name}: {g:?}");
        assert!(g.order_violations < g.applied, "{name}: {g:?}");
        assert_eq!(g.lost, 0);
    }
    let s = summary(&pipeline("outbox", "20s", json!([])), 4);
    for name in ["read-model", "billing"] {
        assert_eq!(group(&s, name).order_violations, 0, "{name}");
    }
}
