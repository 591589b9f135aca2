//! Orchestrated sagas in the world: stateful services whose balances only
//! sagas change, an orchestrator that runs each saga from a durable log,
//! and the invariants checked as each saga ends.
//!
//! What a user of it relies on: an idempotent design holds every invariant
//! through outages, lost replies and orchestrator crashes (every saga ends
//! completed or compensated, and quantity is conserved); a design that is
//! not idempotent is caught, with the saga, the step and the state; a crash
//! resumes every saga from the log, and one that stays down leaves its
//! sagas stuck with the reason; a full log refuses; and a scenario that
//! misuses sagas is refused with the path.

use meshsim::report::Summary;
use meshsim::report::summary::{SagaSummary, StateSummary};
use meshsim::scenario;
use meshsim::world;
use serde_json::{Value, json};

/// A four-step checkout (order, stock, payment as the pivot, shipping as a
/// retriable step) at 50 sagas a second for `duration`, every call with a
/// 250 ms timeout, with `faults`.
fn checkout(duration: &str, faults: Value) -> Value {
    let store = |keys: u32, initial: i64| {
        json!({"instances": 2, "concurrency": 8, "service_time": {"exponential": {"mean": "2ms"}},
               "state": {"keys": keys, "initial": initial}})
    };
    json!({
        "name": "saga", "duration": duration, "window": "1s",
        "network": {"latency": {"exponential": {"mean": "1ms"}}},
        "services": {
            "checkout": {"instances": 2, "concurrency": 16, "service_time": {"constant": "500us"},
                "saga": {
                    "backoff": {"exponential": {"base": "100ms", "multiplier": 2, "cap": "1s"}},
                    "compensation_attempts_max": 20,
                    "steps": [
                        {"name": "create_order", "service": "orders", "delta": 1, "timeout": "250ms"},
                        {"name": "reserve_stock", "service": "inventory", "delta": -1, "timeout": "250ms"},
                        {"name": "charge_payment", "service": "payments", "kind": "pivot",
                         "delta": -40, "decline": 0.05, "timeout": "250ms"},
                        {"name": "ship", "service": "shipping", "kind": "retriable", "delta": 1,
                         "timeout": "250ms"}
                    ]}},
            "orders": store(1, 0),
            "inventory": store(50, 100),
            "payments": store(50, 10_000),
            "shipping": store(1, 0)
        },
        "workload": {"arrivals": {"poisson": {"rate": 50}},
                     "routes": [{"name": "checkout", "service": "checkout", "method": "POST",
                                 "path": "/checkout", "keys": 50, "timeout": "2s"}]},
        "faults": faults
    })
}

fn summary(value: &Value, seed: u64) -> Summary {
    let compiled =
        scenario::parse(&value.to_string(), "saga.json").unwrap_or_else(|e| panic!("{e}"));
    let outcome = world::run(&compiled, seed, None);
    Summary::new(&compiled, seed, &outcome)
}

fn bundled(name: &str) -> Summary {
    let path = format!("{}/scenarios/{name}", env!("CARGO_MANIFEST_DIR"));
    let compiled = scenario::load(std::path::Path::new(&path)).unwrap_or_else(|e| panic!("{e}"));
    let seed = compiled.scenario().seed;
    let outcome = world::run(&compiled, seed, None);
    Summary::new(&compiled, seed, &outcome)
}

fn sagas(s: &Summary) -> &SagaSummary {
    &s.sagas["checkout"]
}

fn refused(value: &Value) -> String {
    match scenario::parse(&value.to_string(), "saga.json") {
        Ok(_) => panic!("compiled, but should not have: {value:#}"),
        Err(e) => e.to_string(),
    }
}

/// Every saga is accounted for, and every stateful service's total moved
/// by exactly what the sagas account for.
fn assert_accounted(s: &Summary) {
    let x = sagas(s);
    assert_eq!(
        x.started,
        x.completed + x.compensated + x.dead_lettered.total + x.stuck,
        "every saga started ends one way or is still running: {x:#?}"
    );
    for (name, state) in &s.state {
        assert_eq!(
            state.total - state.initial_total,
            state.moved_by_ended + state.moved_by_running,
            "conservation at {name}: {state:#?}"
        );
    }
}

fn violation(s: &Summary) -> String {
    match &s.stop_cause {
        Some(cause) => cause.cause.clone(),
        None => panic!("no invariant was violated: {:#?}", s.sagas),
    }
}

fn state<'a>(s: &'a Summary, service: &str) -> &'a StateSummary {
    &s.state[service]
}

#[test]
fn the_bundled_checkout_holds_every_invariant_through_an_outage_lost_replies_and_a_crash() {
    let s = bundled("saga-checkout.json");
    assert!(
        s.completed,
        "the run reached its horizon: {:?}",
        s.stop_cause
    );
    assert_accounted(&s);
    let x = sagas(&s);
    assert_eq!(x.dead_lettered.total, 0, "{x:#?}");
    // The payment outage compensates the sagas caught in it, the crash
    // leaves sagas in the log that the restart resumes.
    assert!(x.completed > 9_000 && x.compensated > 1_000, "{x:#?}");
    assert!(x.recovered > 0, "{x:#?}");
    // Only the sagas of the last moments are still running at the end.
    assert!(x.stuck < 10, "{x:#?}");
    for stuck in &x.stuck_sagas {
        assert!(stuck.why.contains("started at 119."), "{}", stuck.why);
    }
    // Lost replies: reservations retried (answered without a second
    // effect), compensations of reservations that never arrived (nothing
    // to undo), and late reservations refused after their compensation.
    let inventory = state(&s, "inventory");
    assert!(inventory.duplicates > 0, "{inventory:#?}");
    assert!(inventory.no_ops > 0, "{inventory:#?}");
    assert!(inventory.compensation_duplicates > 0, "{inventory:#?}");
    assert!(inventory.fenced > 0, "{inventory:#?}");
    let reserve = &x.steps[1];
    assert_eq!(reserve.name, "reserve_stock");
    assert!(reserve.unknown > 0, "{reserve:#?}");
    // Every completed saga shipped once; every order that stands is a
    // completed saga's or a running one's.
    // (From the ledgers' own totals, not the sagas' accounting.)
    let shipping = state(&s, "shipping");
    assert_eq!(
        shipping.total,
        x.completed as i64 + shipping.moved_by_running,
        "{shipping:#?}"
    );
    let orders = state(&s, "orders");
    assert_eq!(orders.total, x.completed as i64 + orders.moved_by_running);
    assert_eq!(orders.applied - orders.undone, orders.total as u64);
    // A declined payment is the business rule's, not a failure.
    assert!(
        x.steps[2].rejected > 0 && x.steps[2].failed > 0,
        "{:#?}",
        x.steps[2]
    );
}

#[test]
fn a_compensation_that_is_not_idempotent_is_caught_with_the_saga_the_step_and_the_state() {
    let s = bundled("saga-checkout-broken.json");
    assert!(!s.completed);
    let cause = violation(&s);
    assert!(
        cause.starts_with("saga invariant violated: saga "),
        "{cause}"
    );
    assert!(
        cause.contains("step 1 `reserve_stock` at `inventory` (key ")
            && cause.contains("whose balance is now"),
        "{cause}"
    );
    assert!(
        cause.contains("undone reserve_stock, undone reserve_stock"),
        "{cause}"
    );
}

#[test]
fn the_fragile_checkout_passes_its_own_seed_and_ships_twice_under_another_crash_timing() {
    let s = bundled("saga-checkout-fragile.json");
    assert!(s.completed, "{:?}", s.stop_cause);
    assert_accounted(&s);
    let path = format!(
        "{}/scenarios/saga-checkout-fragile.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let compiled = scenario::load(std::path::Path::new(&path)).expect("loads");
    // The same scenario, seed 5: the crash catches a ship call applied
    // whose reply went to the dead process.
    let outcome = world::run(&compiled, 5, None);
    let cause = outcome.stop_cause.expect("seed 5 ships twice").cause;
    assert!(
        cause.contains("step 3 `ship` at `shipping`") && cause.contains("took effect 2 times"),
        "{cause}"
    );
}

#[test]
fn an_action_that_is_not_idempotent_applies_twice_when_its_reply_is_lost() {
    let mut v = checkout(
        "20s",
        json!([{"at": "2s", "for": "10s",
                "loss": {"link": ["checkout", "inventory"], "rate": 0.3}}]),
    );
    v["services"]["checkout"]["saga"]["steps"][1]["idempotent"] = json!(false);
    let cause = violation(&summary(&v, 1));
    assert!(cause.contains("`reserve_stock`"), "{cause}");
    assert!(
        cause.contains("took effect 2 times") || cause.contains("took effect twice"),
        "{cause}"
    );
    // The same faults with the default idempotent steps hold.
    v["services"]["checkout"]["saga"]["steps"][1]["idempotent"] = json!(true);
    let s = summary(&v, 1);
    assert!(s.completed, "{:?}", s.stop_cause);
    assert_accounted(&s);
    assert!(state(&s, "inventory").duplicates > 0);
}

#[test]
fn a_late_action_after_its_compensation_is_caught_when_nothing_fences_it() {
    // Inventory's first instance is 100 times slower while payments fail:
    // reservations queued there time out, their saga retries elsewhere,
    // then compensates; the queued reservation arrives after.
    let faults = json!([
        {"at": "2s", "for": "8s", "errors": {"service": "payments", "rate": 1.0}},
        {"at": "3s", "for": "4s", "slowdown": {"service": "inventory", "instance": 0, "factor": 100}}
    ]);
    let v = checkout("15s", faults.clone());
    let s = summary(&v, 1);
    assert!(s.completed, "{:?}", s.stop_cause);
    assert_accounted(&s);
    assert!(
        state(&s, "inventory").fenced > 0,
        "{:#?}",
        state(&s, "inventory")
    );
    // One attempt per action: the saga gives up on the first timeout and
    // compensates, and the queued reservation lands after its saga ended.
    let mut broken = v.clone();
    broken["services"]["checkout"]["saga"]["steps"][1]["idempotent"] = json!(false);
    broken["services"]["checkout"]["saga"]["action_attempts_max"] = json!(1);
    let cause = violation(&summary(&broken, 1));
    assert!(
        cause.contains("step 1 `reserve_stock` was applied at `inventory`")
            && cause.contains("a late action"),
        "{cause}"
    );
}

#[test]
fn an_orchestrator_crash_resumes_every_saga_from_its_log() {
    // A slow inventory keeps sagas in flight when the one orchestrator
    // crashes for 3 s.
    let mut v = checkout(
        "20s",
        json!([{"at": "5s", "for": "3s", "crash": {"service": "checkout"}}]),
    );
    v["services"]["checkout"]["instances"] = json!(1);
    v["services"]["inventory"]["service_time"] = json!({"constant": "200ms"});
    v["services"]["inventory"]["concurrency"] = json!(64);
    let s = summary(&v, 3);
    assert!(s.completed, "{:?}", s.stop_cause);
    assert_accounted(&s);
    let x = sagas(&s);
    assert!(x.recovered >= 2, "sagas in flight at the crash: {x:#?}");
    assert_eq!(x.dead_lettered.total, 0);
    // Every resumed saga ended: only those of the run's last second run on.
    assert!(
        x.stuck_sagas
            .iter()
            .all(|st| st.why.starts_with("started at 19.")),
        "{:#?}",
        x.stuck_sagas
    );
    // The calls lost with the process count as unknown outcomes and are
    // retried, answered without a second effect.
    assert!(state(&s, "inventory").duplicates + state(&s, "orders").duplicates > 0);
}

#[test]
fn an_orchestrator_that_stays_down_leaves_its_sagas_stuck_with_the_reason() {
    let mut v = checkout(
        "10s",
        json!([{"at": "5s", "for": "1h", "crash": {"service": "checkout"}}]),
    );
    v["services"]["checkout"]["instances"] = json!(1);
    v["services"]["inventory"]["service_time"] = json!({"constant": "50ms"});
    v["services"]["inventory"]["concurrency"] = json!(64);
    let s = summary(&v, 1);
    assert!(s.completed);
    assert_accounted(&s);
    let x = sagas(&s);
    assert!(x.stuck > 0, "{x:#?}");
    assert!(
        x.stuck_sagas.iter().all(|st| st
            .why
            .contains("its orchestrator instance checkout#0 is down")),
        "{:#?}",
        x.stuck_sagas
    );
    // What they hold is counted as theirs, not lost.
    assert!(state(&s, "orders").moved_by_running > 0);
}

#[test]
fn a_graceful_stop_of_an_orchestrator_resumes_its_sagas_when_it_starts_again() {
    let mut v = checkout(
        "15s",
        json!([{"at": "5s", "for": "2s", "stop": {"service": "checkout", "instance": 0}}]),
    );
    v["services"]["inventory"]["service_time"] = json!({"constant": "200ms"});
    v["services"]["inventory"]["concurrency"] = json!(64);
    let s = summary(&v, 2);
    assert!(s.completed, "{:?}", s.stop_cause);
    assert_accounted(&s);
    assert!(sagas(&s).recovered > 0, "{:#?}", sagas(&s));
}

#[test]
fn parallel_compensation_holds_the_invariants() {
    let mut v = checkout(
        "15s",
        json!([{"at": "2s", "for": "5s", "errors": {"service": "payments", "rate": 1.0}},
               {"at": "3s", "for": "5s", "loss": {"rate": 0.1}}]),
    );
    v["services"]["checkout"]["saga"]["parallel_compensation"] = json!(true);
    let s = summary(&v, 4);
    assert!(s.completed, "{:?}", s.stop_cause);
    assert_accounted(&s);
    assert!(sagas(&s).compensated > 0);
}

#[test]
fn a_full_log_refuses_a_saga_with_503() {
    let mut v = checkout("5s", json!([]));
    v["services"]["checkout"]["saga"]["sagas_in_flight_max"] = json!(2);
    v["services"]["inventory"]["service_time"] = json!({"constant": "100ms"});
    v["services"]["inventory"]["concurrency"] = json!(64);
    let s = summary(&v, 1);
    let x = sagas(&s);
    assert!(x.refused > 0, "{x:#?}");
    let route = &s.routes["checkout"];
    let unavailable = route
        .statuses
        .iter()
        .find(|st| st.status == "unavailable")
        .map_or(0, |st| st.count);
    assert_eq!(unavailable, x.refused);
    assert_accounted(&s);
}

#[test]
fn the_same_seed_gives_the_same_sagas() {
    let v = checkout(
        "10s",
        json!([{"at": "2s", "for": "3s", "loss": {"rate": 0.2}},
               {"at": "4s", "for": "1s", "crash": {"service": "checkout", "instance": 1}}]),
    );
    let a = serde_json::to_string(&summary(&v, 9)).expect("serializes");
    let b = serde_json::to_string(&summary(&v, 9)).expect("serializes");
    assert_eq!(a, b);
}

#[test]
fn misused_sagas_are_refused_at_the_path() {
    let base = checkout("5s", json!([]));

    let mut v = base.clone();
    v["workload"]["routes"][0]["service"] = json!("inventory");
    let e = refused(&v);
    assert!(
        e.contains("workload.routes[0].service: `inventory` is a stateful service"),
        "{e}"
    );

    let mut v = base.clone();
    v["services"]["checkout"]["saga"]["steps"][0]
        .as_object_mut()
        .unwrap()
        .remove("timeout");
    let e = refused(&v);
    assert!(
        e.contains("services.checkout.saga.steps[0].timeout: a saga step's calls need a timeout"),
        "{e}"
    );

    let mut v = base.clone();
    v["services"]["checkout"]["saga"]["steps"][0]["kind"] = json!("retriable");
    let e = refused(&v);
    assert!(e.contains("services.checkout.saga.steps[1].kind: must be compensatable steps, then at most one pivot, then retriable steps"), "{e}");

    let mut v = base.clone();
    v["services"]["checkout"]["saga"]["steps"][3]["service"] = json!("checkout");
    let e = refused(&v);
    assert!(
        e.contains("services.checkout.saga.steps[3].service: `checkout` has no `state`"),
        "{e}"
    );

    let mut v = base.clone();
    v["services"]["checkout"]["saga"]["steps"][1]["delta"] = json!(0);
    assert!(refused(&v).contains("services.checkout.saga.steps[1].delta"));

    let mut v = base.clone();
    v["policies"] = json!({"safe": {"timeout": "100ms", "fallback": {"static": true}}});
    v["services"]["checkout"]["saga"]["steps"][2]["policy"] = json!("safe");
    v["services"]["checkout"]["saga"]["steps"][2]
        .as_object_mut()
        .unwrap()
        .remove("timeout");
    let e = refused(&v);
    assert!(
        e.contains("services.checkout.saga.steps[2].policy: policy `safe` has a fallback"),
        "{e}"
    );

    let mut v = base.clone();
    v["services"]["orders"]["calls"] = json!([{"service": "payments"}]);
    let e = refused(&v);
    assert!(
        e.contains("services.orders.calls: a stateful service"),
        "{e}"
    );
    assert!(
        e.contains("services.orders.calls[0].service: `payments` is a stateful service"),
        "{e}"
    );

    let mut v = base.clone();
    v["services"]["gw"] = json!({"service_time": {"constant": "100us"},
        "gateway": {"routes": [{"name": "all", "prefix": "/",
            "rate_limit": {"rate": 10, "burst": 1, "service": "inventory"},
            "backends": [{"service": "checkout"}]}]}});
    let e = refused(&v);
    assert!(
        e.contains(
            "services.gw.gateway.routes[0].rate_limit.service: `inventory` is a stateful service"
        ),
        "{e}"
    );

    let mut v = base.clone();
    v["services"]["checkout"]["saga"]["steps"][1]["name"] = json!("create_order");
    assert!(refused(&v).contains("services.checkout.saga.steps[1].name: a second step named"));
}

#[test]
fn a_retried_attempt_refused_locally_after_a_timeout_is_still_an_unknown_outcome() {
    // The step's policy retries timeouts, and its rate limit refuses the
    // retries: the call ends "rate limited" with its first attempt
    // unanswered, which may still be applied. A correct design must
    // compensate it, and hold the invariants.
    let mut v = checkout(
        "10s",
        json!([{"at": "1s", "for": "5s", "errors": {"service": "payments", "rate": 1.0}}]),
    );
    v["policies"] = json!({"step": {"timeout": "20ms",
        "retry": {"max_attempts": 3, "backoff": {"constant": "1ms"}, "retry_on": ["timeout"]},
        "rate_limit": {"rate": 5, "burst": 1}}});
    for step in v["services"]["checkout"]["saga"]["steps"]
        .as_array_mut()
        .unwrap()
    {
        step.as_object_mut().unwrap().remove("timeout");
        step["policy"] = json!("step");
    }
    v["services"]["inventory"]["service_time"] = json!({"constant": "30ms"});
    let s = summary(&v, 1);
    assert!(s.completed, "{:?}", s.stop_cause);
    assert_accounted(&s);
    let reserve = &sagas(&s).steps[1];
    assert!(reserve.unknown > 0, "{reserve:#?}");
}

#[test]
fn a_stop_that_ends_while_the_orchestrator_drains_restarts_it_with_one_copy_of_each_saga() {
    // The orchestrator's own work is slow, so a 50 ms stop ends while it
    // is still draining: the drain ends in a restart that never passed
    // through Stopped.
    let mut v = checkout(
        "10s",
        json!([{"at": "3s", "for": "50ms", "stop": {"service": "checkout", "instance": 0}}]),
    );
    v["services"]["checkout"]["service_time"] = json!({"constant": "300ms"});
    v["services"]["checkout"]["concurrency"] = json!(64);
    let s = summary(&v, 1);
    assert!(s.completed, "{:?}", s.stop_cause);
    assert_accounted(&s);
    assert!(sagas(&s).recovered > 0, "{:#?}", sagas(&s));
}

#[test]
fn a_dead_lettered_pivot_may_still_take_effect_late() {
    // A slow payment service and a pivot timeout below its service time:
    // the pivot's outcome stays unknown, the saga is dead-lettered with
    // the pivot left, and the pivot's attempts apply later, as its ending
    // allows.
    let mut v = checkout("10s", json!([]));
    v["services"]["payments"]["service_time"] = json!({"constant": "400ms"});
    v["services"]["payments"]["concurrency"] = json!(128);
    v["services"]["checkout"]["saga"]["action_attempts_max"] = json!(2);
    v["services"]["checkout"]["saga"]["steps"][2]["timeout"] = json!("100ms");
    let s = summary(&v, 1);
    assert!(s.completed, "{:?}", s.stop_cause);
    assert_accounted(&s);
    assert!(
        sagas(&s).dead_lettered.pivot_uncertain > 0,
        "{:#?}",
        sagas(&s)
    );
    // Each is listed with why and what it may have left standing.
    let dead = &sagas(&s).dead_lettered_sagas;
    assert!(!dead.is_empty());
    assert!(
        dead[0].why.starts_with(
            "the outcome of the pivot `charge_payment` stayed unknown; it may have left standing: "
        ) && dead[0]
            .why
            .contains("`charge_payment` (-40 at `payments` key "),
        "{}",
        dead[0].why
    );
    // Charges the orchestrator never heard of took effect after its sagas
    // ended.
    assert!(
        state(&s, "payments").applied > sagas(&s).steps[2].applied,
        "{:#?}",
        state(&s, "payments")
    );
}
