//! Resilience policies on edges, checked end to end on small scenarios
//! built in the test: what a user reads in summary.json, in the time series
//! and in the breaker log must agree with what each policy promises.
//!
//! Every scenario is built from a JSON value (the same text a user would
//! write), parsed and validated by `meshsim::scenario::parse`, run with
//! `meshsim::world::run` and summarised with `meshsim::report::Summary`.
//! Every run also goes through [`check_conservation`], so every scenario in
//! this file doubles as a bookkeeping check.
//!
//! Seeds are fixed: a failure is a change of behaviour, not bad luck. Where a
//! check is statistical its tolerance is written as a number of standard
//! errors computed from the model (at least 4), so shortening a run cannot
//! silently turn it into a coin toss.
//!
//! Conventions of the scenarios: unless a test says otherwise the network
//! has zero latency (so a request reaches its callee at the instant it is
//! sent), a "front" service with no work of its own and effectively
//! unbounded workers is the caller when a policy sits on a
//! service-to-service edge, and "back" is the dependency. Run lengths are
//! never a multiple of the window when events can fall exactly on the end
//! of the run (constant arrivals): see
//! `time_series_rows_add_up_to_the_totals_at_the_horizon`.

use meshsim::metrics::{EntityKind, WindowRow};
use meshsim::report::Summary;
use meshsim::report::summary::{EdgeSummary, Failures, RouteSummary, ServiceSummary};
use meshsim::report::timeseries;
use meshsim::scenario::{self, Compiled};
use meshsim::world::{self, RunOutcome};
use serde_json::{Value, json};

// ----- helpers -------------------------------------------------------------

/// A tolerance must be at least this many standard errors.
const MIN_SIGMAS: f64 = 4.0;

/// Parses a scenario given as a JSON value, failing with the diagnostics.
fn scenario(value: Value) -> Compiled {
    let name = value["name"].as_str().unwrap_or("policies").to_string();
    let text = serde_json::to_string_pretty(&value).expect("a JSON value prints");
    scenario::parse(&text, &name).unwrap_or_else(|e| panic!("{name} does not load:\n{e}\n{text}"))
}

/// A finished run and its summary.
struct Run {
    outcome: RunOutcome,
    summary: Summary,
}

/// Runs `scenario` with its own seed and checks the bookkeeping.
fn simulate(scenario: &Compiled) -> Run {
    let seed = scenario.scenario().seed;
    let outcome = world::run(scenario, seed, None);
    let summary = Summary::new(scenario, seed, &outcome);
    assert!(
        summary.completed,
        "{}: the run stopped early ({})",
        scenario.scenario().name,
        summary.stop_reason
    );
    let run = Run { outcome, summary };
    check_conservation(&scenario.scenario().name, &run);
    run
}

impl Run {
    fn route(&self, name: &str) -> &RouteSummary {
        &self.summary.routes[name]
    }
    fn service(&self, name: &str) -> &ServiceSummary {
        &self.summary.services[name]
    }
    fn edge(&self, name: &str) -> &EdgeSummary {
        self.summary.edges.get(name).unwrap_or_else(|| {
            panic!(
                "no edge `{name}` (edges: {:?})",
                self.summary.edges.keys().collect::<Vec<_>>()
            )
        })
    }
    /// The time-series rows of one entity, in time order.
    fn rows(&self, kind: EntityKind, name: &str) -> Vec<&WindowRow> {
        let rows: Vec<&WindowRow> = self
            .outcome
            .rows
            .iter()
            .filter(|r| r.kind == kind && timeseries::entity_name(&self.outcome, r) == name)
            .collect();
        assert!(
            !rows.is_empty(),
            "no time-series rows for {kind:?} `{name}`"
        );
        rows
    }
}

/// All failures a caller (route or edge) reports.
fn caller_failures(f: &Failures) -> u64 {
    f.error
        + f.rejected
        + f.timeout.unwrap_or(0)
        + f.breaker_open.unwrap_or(0)
        + f.bulkhead_full.unwrap_or(0)
        + f.throttled.unwrap_or(0)
        + f.rate_limited.unwrap_or(0)
}

/// All failures a service reports.
fn service_failures(f: &Failures) -> u64 {
    f.error
        + f.rejected
        + f.dropped.unwrap_or(0)
        + f.dependency.unwrap_or(0)
        + f.expired.unwrap_or(0)
        + f.cancelled.unwrap_or(0)
}

/// Conservation, exact:
/// * every route: requests = successes + every failure reason + in flight
///   at the end;
/// * every service: requests = successes + every failure reason + requests
///   in the system at the end (the last time-series row is taken at the end
///   of the run);
/// * every edge: successes + failures ≤ calls (the rest are in flight);
/// * routes and edges: attempts − retries − hedges ≤ calls (`attempts`
///   counts attempts *sent*: a first attempt refused locally by a breaker,
///   a bulkhead, a rate limit or a throttle is not one);
/// * the time series (routes, services, edges) adds up to the totals.
fn check_conservation(label: &str, run: &Run) {
    for (name, r) in &run.summary.routes {
        let accounted = r.successes + caller_failures(&r.failures) + r.in_flight_at_end;
        assert_eq!(
            r.requests, accounted,
            "{label}: route {name}: requests {} ≠ successes {} + failures {:?} + in flight {}",
            r.requests, r.successes, r.failures, r.in_flight_at_end
        );
        let first = r.attempts.attempts - r.attempts.retries - r.attempts.hedges;
        assert!(
            first <= r.requests,
            "{label}: route {name}: more first attempts than requests: {:?}",
            r.attempts
        );
        let rows = run.rows(EntityKind::Route, name);
        let sum = |f: fn(&WindowRow) -> u64| rows.iter().map(|r| f(r)).sum::<u64>();
        assert_eq!(
            sum(|r| r.counts.requests),
            r.requests,
            "{label}: route {name} series"
        );
        assert_eq!(
            sum(|r| r.counts.successes),
            r.successes,
            "{label}: route {name} series"
        );
        assert_eq!(
            sum(|r| r.counts.attempts),
            r.attempts.attempts,
            "{label}: route {name} series attempts"
        );
        assert_eq!(
            rows.last().expect("rows").in_flight,
            r.in_flight_at_end,
            "{label}: route {name}: last row's in flight"
        );
    }
    for (name, s) in &run.summary.services {
        let rows = run.rows(EntityKind::Service, name);
        let in_system = rows.last().expect("rows").in_flight;
        let accounted = s.successes + service_failures(&s.failures) + in_system;
        assert_eq!(
            s.requests, accounted,
            "{label}: service {name}: requests {} ≠ successes {} + failures {:?} + in system {in_system}",
            s.requests, s.successes, s.failures
        );
        let sum = |f: fn(&WindowRow) -> u64| rows.iter().map(|r| f(r)).sum::<u64>();
        assert_eq!(
            sum(|r| r.counts.requests),
            s.requests,
            "{label}: service {name} series"
        );
        assert_eq!(
            sum(|r| r.counts.calls),
            s.calls,
            "{label}: service {name} series calls"
        );
    }
    for (name, e) in &run.summary.edges {
        assert!(
            e.successes + caller_failures(&e.failures) <= e.calls,
            "{label}: edge {name}: more outcomes than calls: {} + {:?} > {}",
            e.successes,
            e.failures,
            e.calls
        );
        let first = e.attempts.attempts - e.attempts.retries - e.attempts.hedges;
        assert!(
            first <= e.calls,
            "{label}: edge {name}: more first attempts than calls: {:?}",
            e.attempts
        );
        let rows = run.rows(EntityKind::Edge, name);
        let sum = |f: fn(&WindowRow) -> u64| rows.iter().map(|r| f(r)).sum::<u64>();
        assert_eq!(
            sum(|r| r.counts.requests),
            e.calls,
            "{label}: edge {name} series calls"
        );
        assert_eq!(
            sum(|r| r.counts.attempts),
            e.attempts.attempts,
            "{label}: edge {name} series attempts"
        );
        assert_eq!(
            sum(|r| r.counts.successes),
            e.successes,
            "{label}: edge {name} series"
        );
    }
}

/// Asserts `|measured − expected| ≤ tolerance` and that the tolerance is at
/// least [`MIN_SIGMAS`] standard errors `se`.
fn assert_close(what: &str, measured: f64, expected: f64, tolerance: f64, se: f64) {
    eprintln!(
        "{what}: measured {measured:.5}, expected {expected:.5}, tolerance {tolerance:.5} \
         (standard error {se:.5})"
    );
    assert!(
        tolerance >= MIN_SIGMAS * se,
        "{what}: tolerance {tolerance} is under {MIN_SIGMAS} standard errors ({se})"
    );
    assert!(
        (measured - expected).abs() <= tolerance,
        "{what}: measured {measured}, expected {expected} ± {tolerance}"
    );
}

/// Seconds as a duration string with nanosecond precision.
fn secs(s: f64) -> String {
    format!("{}ns", (s * 1e9).round() as u64)
}

/// A caller service with no work of its own and (effectively) unbounded
/// workers, calling `back` with `policy`.
fn front(instances: u32, policy: &str) -> Value {
    json!({
        "instances": instances,
        "concurrency": 100000,
        "queue_capacity": 100000,
        "service_time": {"constant": "0"},
        "calls": [{"service": "back", "policy": policy}]
    })
}

// ----- 1. retries ----------------------------------------------------------

/// A dependency that fails each attempt independently with probability p,
/// retried on error up to n attempts: a call fails only if all n attempts
/// fail, so the success ratio is 1 − pⁿ, and the number of attempts A is a
/// geometric variable truncated at n: E[A] = Σ_{k<n} pᵏ = (1 − pⁿ)/(1 − p),
/// E[A²] = Σ_{k=1..n} (2k − 1)·p^{k−1}. The callee sees every attempt, so its
/// `amplification` (requests ÷ calls) is the caller's attempts per call.
#[test]
fn retries_on_errors_follow_the_truncated_geometric_law() {
    for (p, n) in [(0.3f64, 3u32), (0.5, 2), (0.2, 5)] {
        let name = format!("retry-p{p}-n{n}");
        let s = scenario(json!({
            "name": name,
            "duration": "10s",
            "window": "1s",
            "seed": 7,
            "policies": {"retry": {"retry": {
                "max_attempts": n, "retry_on": ["error"],
                "backoff": {"constant": "1ms"}, "jitter": "none"
            }}},
            "services": {
                "front": front(1, "retry"),
                "back": {"concurrency": 100000, "service_time": {"constant": "1ms"}, "error_rate": p}
            },
            "workload": {
                "arrivals": {"poisson": {"rate": 2000}},
                "routes": [{"name": "api", "service": "front"}]
            }
        }));
        let run = simulate(&s);
        let edge = run.edge("front->back [retry]");
        let back = run.service("back");
        let route = run.route("api");
        let finished = edge.successes + caller_failures(&edge.failures);
        let calls = finished as f64;

        // Success ratio: a binomial proportion.
        let q = p.powi(n as i32);
        let ratio = edge.successes as f64 / calls;
        let se = (q * (1.0 - q) / calls).sqrt();
        assert_close(
            &format!("{name}: success ratio"),
            ratio,
            1.0 - q,
            5.0 * se,
            se,
        );
        // The route sees the same calls (the front fails with its dependency).
        assert_eq!(
            route.successes, edge.successes,
            "{name}: route and edge successes"
        );
        assert_eq!(route.requests, edge.calls, "{name}: one call per request");
        assert_eq!(route.failures.error, edge.failures.error, "{name}: errors");
        assert_eq!(
            edge.failures.error,
            finished - edge.successes,
            "{name}: only errors"
        );

        // Attempts per call: mean of a truncated geometric variable.
        let mean: f64 = (0..n).map(|k| p.powi(k as i32)).sum();
        assert!((mean - (1.0 - q) / (1.0 - p)).abs() < 1e-12);
        let second: f64 = (1..=n)
            .map(|k| f64::from(2 * k - 1) * p.powi(k as i32 - 1))
            .sum();
        let se = ((second - mean * mean) / calls).sqrt();
        let per_call = edge.attempts.attempts as f64 / edge.calls as f64;
        assert_close(
            &format!("{name}: attempts per call"),
            per_call,
            mean,
            5.0 * se,
            se,
        );
        assert_eq!(edge.attempts.per_call, (per_call * 1e6).round() / 1e6);
        assert_eq!(edge.attempts.retries, edge.attempts.attempts - edge.calls);
        assert_eq!(edge.attempts.hedges, 0);
        assert_eq!(
            edge.attempts.retries_denied, 0,
            "{name}: no budget, no denial"
        );

        // Amplification, exactly: every attempt reaches the callee at once.
        assert_eq!(
            back.calls, edge.calls,
            "{name}: the callee counts the calls"
        );
        assert_eq!(
            back.requests, edge.attempts.attempts,
            "{name}: every attempt arrives"
        );
        let amplification = back.requests as f64 / back.calls as f64;
        assert_eq!(back.amplification, (amplification * 1e6).round() / 1e6);
        assert_eq!(back.amplification, edge.attempts.per_call);
        // The front is called once per request: no amplification.
        assert_eq!(run.service("front").amplification, 1.0);
    }
}

// ----- 2. backoff timing ----------------------------------------------------

/// Backoff delays, measured on calls that fail exactly twice and then
/// succeed. The dependency takes exactly 100 ms; a call starts every 0.5 s,
/// and an error fault window [start − 50 ms, start + 250 ms) around each
/// start makes its first two attempts fail (they end at +100 ms and at
/// +200 ms + first delay ≤ +240 ms) and its third succeed (it ends at
/// +300 ms or later). So each call's latency is exactly 300 ms + d₁ + d₂,
/// and each 0.5 s window of the time series holds exactly one call, whose
/// latency its p50 gives exactly (one value: the histogram's quantile is
/// clamped to the exact maximum).
#[test]
fn backoff_delays_stay_within_their_schedule() {
    struct Case {
        name: &'static str,
        backoff: Value,
        jitter: &'static str,
        /// Bounds of d₁ + d₂, ms.
        extra: (f64, f64),
        /// E[d₁ + d₂] and its standard deviation per call, ms.
        mean: Option<(f64, f64)>,
    }
    let exponential = json!({"exponential": {"base": "20ms", "multiplier": 2, "cap": "40ms"}});
    let cases = [
        // Constant 20 ms, no jitter: two backoffs, exactly 40 ms.
        Case {
            name: "constant",
            backoff: json!({"constant": "20ms"}),
            jitter: "none",
            extra: (40.0, 40.0),
            mean: None,
        },
        // Linear: 10 ms then 35 ms.
        Case {
            name: "linear",
            backoff: json!({"linear": {"initial": "10ms", "increment": "25ms", "cap": "1s"}}),
            jitter: "none",
            extra: (45.0, 45.0),
            mean: None,
        },
        // Exponential 20 ms × 2 capped at 40 ms: 20 ms then 40 ms.
        Case {
            name: "exponential",
            backoff: exponential.clone(),
            jitter: "none",
            extra: (60.0, 60.0),
            mean: None,
        },
        // Full jitter: d₁ ~ U[0, 20], d₂ ~ U[0, 40]; mean 30, variance
        // (20² + 40²)/12.
        Case {
            name: "exponential-full",
            backoff: exponential.clone(),
            jitter: "full",
            extra: (0.0, 60.0),
            mean: Some((30.0, (2000.0f64 / 12.0).sqrt())),
        },
        // Equal jitter: d₁ ~ U[10, 20], d₂ ~ U[20, 40]: never earlier than
        // half the schedule.
        Case {
            name: "exponential-equal",
            backoff: exponential.clone(),
            jitter: "equal",
            extra: (30.0, 60.0),
            mean: Some((45.0, (500.0f64 / 12.0).sqrt())),
        },
        // Decorrelated (AWS): each sleep is min(cap, U[base, 3 · previous
        // sleep]), the first previous being the base, so d₁, d₂ ∈ [20, 40].
        // d₁ = min(40, U[20, 60]): E = 35. Given d₁ = x, E[d₂] =
        // (120x − 1000)/(3x − 20) = 40 − 200/(3x − 20), averaged over d₁
        // (density 1/40 on [20, 40), an atom ½ at 40):
        // (800 − (200/3)·ln 2.5)/40 + ½ · 38. The standard deviation of the
        // sum is at most 20 (each term lies in a range of 20: Popoviciu).
        Case {
            name: "exponential-decorrelated",
            backoff: exponential,
            jitter: "decorrelated",
            extra: (40.0, 80.0),
            mean: Some((
                35.0 + (800.0 - 200.0 / 3.0 * 2.5f64.ln()) / 40.0 + 19.0,
                20.0,
            )),
        },
    ];
    const CALLS: usize = 200;
    const SERVICE_MS: f64 = 100.0;
    for case in cases {
        let faults: Vec<Value> = (1..=CALLS)
            .map(|k| {
                json!({"at": secs(0.5 * k as f64 - 0.05), "for": "300ms",
                       "errors": {"service": "back", "rate": 1.0}})
            })
            .collect();
        let s = scenario(json!({
            "name": format!("backoff-{}", case.name),
            "duration": secs(0.5 * CALLS as f64 + 0.45),
            "window": "500ms",
            "policies": {"retry": {"retry": {
                "max_attempts": 3, "retry_on": ["error"],
                "backoff": case.backoff, "jitter": case.jitter
            }}},
            "services": {"back": {"concurrency": 10, "service_time": {"constant": "100ms"}}},
            "workload": {
                "arrivals": {"constant": {"rate": 2}},
                "routes": [{"name": "api", "service": "back", "policy": "retry"}]
            },
            "faults": faults
        }));
        let run = simulate(&s);
        let route = run.route("api");
        assert_eq!(route.requests, CALLS as u64, "{}", case.name);
        assert_eq!(
            route.successes, CALLS as u64,
            "{}: every call succeeds",
            case.name
        );
        assert_eq!(
            route.attempts.retries,
            2 * CALLS as u64,
            "{}: two retries each",
            case.name
        );
        let extras: Vec<f64> = run
            .rows(EntityKind::Route, "api")
            .iter()
            .filter(|r| r.counts.successes > 0)
            .map(|r| {
                assert_eq!(r.counts.successes, 1, "{}: one call per window", case.name);
                r.latency_ms_p50.expect("a latency") - 3.0 * SERVICE_MS
            })
            .collect();
        assert_eq!(extras.len(), CALLS);
        let min = extras.iter().copied().fold(f64::INFINITY, f64::min);
        let max = extras.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = extras.iter().sum::<f64>() / CALLS as f64;
        eprintln!(
            "{}: d1 + d2 in [{min:.3}, {max:.3}] ms, mean {mean:.3} (allowed [{}, {}])",
            case.name, case.extra.0, case.extra.1
        );
        // 1 µs: the histogram's unit.
        let (lo, hi) = case.extra;
        assert!(
            min >= lo - 1e-3 && max <= hi + 1e-3,
            "{}: a retry came earlier or later than its backoff allows: \
             d1 + d2 in [{min}, {max}], allowed [{lo}, {hi}]",
            case.name
        );
        assert!(
            route.latency_ms.max <= 3.0 * SERVICE_MS + hi + 1e-3,
            "{}: max latency {}",
            case.name,
            route.latency_ms.max
        );
        if lo == hi {
            assert!(
                max - min < 1e-3,
                "{}: no jitter, yet latencies vary",
                case.name
            );
        } else {
            // Jitter spreads the delays over most of the allowed range
            // (200 draws of a continuous law).
            assert!(
                max - min >= 0.5 * (hi - lo),
                "{}: jitter too narrow: [{min}, {max}] in [{lo}, {hi}]",
                case.name
            );
        }
        if let Some((expected, sd)) = case.mean {
            let se = sd / (CALLS as f64).sqrt();
            assert_close(
                &format!("{}: mean of d1 + d2 (ms)", case.name),
                mean,
                expected,
                5.0 * se,
                se,
            );
        }
    }
}

// ----- 3. retry budgets -----------------------------------------------------

/// A dependency that always fails, retried up to 3 attempts on error with a
/// 1 ms constant backoff, clients at a constant rate: the retry wish is
/// 2 per call, the budget decides.
fn always_failing(name: &str, rate: f64, duration: &str, window: &str, budget: Value) -> Compiled {
    scenario(json!({
        "name": name,
        "duration": duration,
        "window": window,
        "policies": {"budgeted": {
            "retry": {"max_attempts": 3, "retry_on": ["error"],
                      "backoff": {"constant": "1ms"}, "jitter": "none"},
            "budget": budget
        }},
        "services": {"back": {"concurrency": 1000, "service_time": {"constant": "1ms"},
                              "error_rate": 1.0}},
        "workload": {
            "arrivals": {"constant": {"rate": rate}},
            "routes": [{"name": "api", "service": "back", "policy": "budgeted"}]
        }
    }))
}

/// Finagle-style budget: at every retry, the retries of the trailing ttl
/// are at most min_retries_per_sec·ttl + retry_percent/100 · deposits of
/// that ttl. Cut the run into D/ttl consecutive ttl windows; the retries of
/// one window are at most those of the trailing ttl of its last retry, so
/// over the run retries ≤ Σ (min·ttl + p·deposits of a ttl-long interval).
/// With constant arrivals at rate λ a ttl-long interval holds at most
/// λ·ttl + 1 requests, so
/// retries ≤ min·D + p·λ·D + p·D/ttl = min·D + p·calls + p·(D/ttl + 1):
/// the slack p·(D/ttl + 1) (< 3 retries here) is the boundary effect of
/// cutting the run into windows. The budget must also be *used*: deposits
/// count only while their whole slot (ttl/10) is inside the window, so at
/// least ~90 % of the percentage part is available; we ask for 80 % of the
/// bound.
#[test]
fn tps_retry_budget_caps_retries_over_the_run() {
    const RATE: f64 = 100.0;
    const DURATION_S: f64 = 20.0;
    for (ttl_s, min_per_sec, percent) in [(1.0, 5u32, 10.0), (10.0, 5, 10.0), (2.0, 0, 25.0)] {
        let name = format!("tps-ttl{ttl_s}-min{min_per_sec}-pct{percent}");
        let s = always_failing(
            &name,
            RATE,
            &secs(DURATION_S),
            "3s",
            json!({"tps": {"retry_percent": percent, "min_retries_per_sec": min_per_sec,
                           "ttl": secs(ttl_s)}}),
        );
        let run = simulate(&s);
        let route = run.route("api");
        let a = &route.attempts;
        let p = percent / 100.0;
        let calls = route.requests as f64;
        let bound =
            f64::from(min_per_sec) * DURATION_S + p * calls + p * (DURATION_S / ttl_s + 1.0);
        eprintln!(
            "{name}: {} calls, {} retries (bound {bound:.1}), {} denied, {} successes",
            route.requests, a.retries, a.retries_denied, route.successes
        );
        assert_eq!(route.successes, 0, "{name}: the dependency always fails");
        assert!(
            a.retries as f64 <= bound,
            "{name}: {} retries exceed the budget {bound}",
            a.retries
        );
        assert!(
            a.retries as f64 >= 0.8 * bound,
            "{name}: only {} retries of a budget of {bound}",
            a.retries
        );
        // Without the budget every call would retry twice.
        assert!(a.retries < route.requests, "{name}: the budget bites");
        // Each call asks until refused or out of attempts: at most one
        // refusal per call, and a call with 2 retries was never refused.
        let finished = route.requests - route.in_flight_at_end;
        assert!(a.retries_denied > 0, "{name}: retries_denied");
        assert!(
            a.retries_denied <= finished,
            "{name}: one refusal per call at most"
        );
        assert!(
            2 * a.retries_denied + a.retries >= 2 * finished,
            "{name}: a call that was not refused retried twice"
        );
        // The same totals per window in the time series.
        let rows = run.rows(EntityKind::Route, "api");
        assert_eq!(
            rows.iter().map(|r| r.counts.retries_denied).sum::<u64>(),
            a.retries_denied
        );
        assert_eq!(
            rows.iter().map(|r| r.counts.retries).sum::<u64>(),
            a.retries
        );
    }
}

/// gRPC retry throttling (A6): tokens start at max_tokens, each failed
/// attempt costs one, a success returns token_ratio, and no retry is sent
/// while tokens ≤ max_tokens/2. Calls here never overlap (one every 100 ms,
/// each over in 5 ms), so the exact count of retries follows from replaying
/// that rule: once the tokens fall to half, retries stop for good (nothing
/// ever succeeds to refill them).
#[test]
fn grpc_token_bucket_stops_retries_at_half_the_tokens() {
    for max_tokens in [10u32, 100, 7] {
        let name = format!("token-bucket-{max_tokens}");
        let s = always_failing(
            &name,
            10.0,
            "20.05s",
            "1s",
            json!({"token_bucket": {"max_tokens": max_tokens, "token_ratio": 0.1}}),
        );
        let run = simulate(&s);
        let route = run.route("api");
        let a = &route.attempts;
        // Replay of the rule, in milli-tokens as gRPC specifies.
        let (mut tokens, mut retries, mut denied) = (u64::from(max_tokens) * 1000, 0u64, 0u64);
        let full = u64::from(max_tokens) * 1000;
        let mut last_retrying_call = None;
        for call in 0..route.requests {
            tokens = tokens.saturating_sub(1000);
            let mut attempts = 1;
            while attempts < 3 {
                if 2 * tokens > full {
                    retries += 1;
                    attempts += 1;
                    tokens = tokens.saturating_sub(1000);
                    last_retrying_call = Some(call);
                } else {
                    denied += 1;
                    break;
                }
            }
        }
        eprintln!(
            "{name}: {} calls, {} retries (replay {retries}), {} denied (replay {denied})",
            route.requests, a.retries, a.retries_denied
        );
        assert_eq!(route.in_flight_at_end, 0, "{name}");
        assert_eq!(a.retries, retries, "{name}: retries");
        assert_eq!(a.retries_denied, denied, "{name}: denials");
        assert!(
            a.retries <= u64::from(max_tokens) / 2,
            "{name}: at most half the tokens"
        );
        // And they stop for good: the last retry is in the 1 s window of the
        // last call that the replay lets retry (call i starts at (i + 1)·100
        // ms and retries 2 ms and 4 ms later).
        let rows = run.rows(EntityKind::Route, "api");
        let last_retry = rows.iter().rposition(|r| r.counts.retries > 0);
        let expected = last_retrying_call.map(|i| ((i as usize + 1) * 100 + 2) / 1000);
        eprintln!("{name}: last retry in window {last_retry:?}, replay {expected:?}");
        assert_eq!(
            last_retry, expected,
            "{name}: retries must stop once the tokens have fallen to half"
        );
    }
}

// ----- 4. circuit breaker ---------------------------------------------------

/// A dependency that fails every call from 5 s to 10 s, behind a breaker
/// (count window of 20, trip at 50 %, at least 10 calls, 1 s open, 3
/// half-open probes). Three caller instances at a constant 300 calls per
/// second in all (round robin: 100 each). With `instance` scope each caller
/// has its own breaker, with `service` scope they share one.
///
/// Expected, per breaker (calls at rate r, each answered in 1 ms):
/// * before 5 s, 20 successes fill the window, so the breaker opens on
///   the 10th failure: at 5 s + 9/r at the earliest (+ 1 ms of service),
///   5 s + 10/r + 1 ms at the latest;
/// * while open every call fails locally with `breaker_open` and the
///   callee sees nothing but probes: at most 3 per half-open period, one
///   period per 1 s open wait;
/// * it goes half-open on the first call after 1 s open (lazily, as
///   resilience4j without automatic transition): between 1 s and
///   1 s + 1/r + 1 ns after it opened;
/// * after 10 s the next probes succeed and it closes, within 1 s + 4/r
///   + 3 ms of the end of the fault; nothing fails after that.
#[test]
fn breaker_opens_in_the_fault_fails_fast_probes_and_closes() {
    const WAIT_S: f64 = 1.0;
    const PROBES: u64 = 3;
    const FAULT: (f64, f64) = (5.0, 10.0);
    for (scope, breakers) in [("service", 1u32), ("instance", 3)] {
        let name = format!("breaker-{scope}");
        let s = scenario(json!({
            "name": name,
            "duration": "15.05s",
            "window": "100ms",
            "policies": {"guarded": {
                "breaker": {"window": "count", "window_size": 20, "failure_rate_percent": 50,
                            "minimum_calls": 10, "wait_in_open": secs(WAIT_S),
                            "half_open_calls": PROBES},
                "scope": scope
            }},
            "services": {
                "front": front(3, "guarded"),
                "back": {"instances": 2, "concurrency": 1000, "service_time": {"constant": "1ms"}}
            },
            "workload": {
                "arrivals": {"constant": {"rate": 300}},
                "routes": [{"name": "api", "service": "front"}]
            },
            "faults": [{"at": secs(FAULT.0), "for": secs(FAULT.1 - FAULT.0),
                        "errors": {"service": "back", "rate": 1.0}}]
        }));
        let run = simulate(&s);
        let edge_name = "front->back [guarded]";
        let edge = run.edge(edge_name);
        let summary = edge.breakers.as_ref().expect("a breaker summary");
        assert_eq!(summary.count, breakers, "{name}: breakers.count");
        assert_eq!(summary.open_at_end, 0, "{name}: all closed at the end");
        let rate = 300.0 / f64::from(breakers); // calls per second per breaker
        let edge_index = run
            .outcome
            .edges
            .iter()
            .position(|e| e.name == edge_name)
            .expect("the edge") as u32;
        assert!(
            run.outcome
                .breaker_events
                .iter()
                .all(|e| e.edge == edge_index)
        );
        assert_eq!(run.summary.breaker_events_dropped, 0);
        let mut probes_bound = 0u64;
        for unit in 0..breakers {
            let events: Vec<(f64, &str, &str)> = run
                .outcome
                .breaker_events
                .iter()
                .filter(|e| e.unit == unit)
                .map(|e| (e.at.as_secs_f64(), e.from, e.to))
                .collect();
            eprintln!("{name}: breaker {unit}: {events:?}");
            let (opened, from, to) = events[0];
            assert_eq!(
                (from, to),
                ("closed", "open"),
                "{name}/{unit}: first transition"
            );
            let earliest = FAULT.0 + 9.0 / rate;
            let latest = FAULT.0 + 10.0 / rate + 0.001 + 1e-9;
            assert!(
                (earliest..=latest).contains(&opened),
                "{name}/{unit}: opened at {opened}, expected in [{earliest}, {latest}]"
            );
            // Open → half-open only after the wait, on the next call.
            for pair in events.windows(2) {
                let ((t0, _, to0), (t1, from1, to1)) = (pair[0], pair[1]);
                assert_eq!(to0, from1, "{name}/{unit}: transitions chain");
                if to1 == "half_open" {
                    assert_eq!(to0, "open");
                    let waited = t1 - t0;
                    assert!(
                        waited >= WAIT_S && waited <= WAIT_S + 1.0 / rate + 1e-6,
                        "{name}/{unit}: half-open {waited} s after opening"
                    );
                }
                if to0 == "half_open" {
                    // Probes fail during the fault and succeed after it.
                    let expected = if t1 < FAULT.1 { "open" } else { "closed" };
                    assert_eq!(to1, expected, "{name}/{unit}: half-open at {t0} → {to1}");
                }
            }
            let (closed, from, to) = *events.last().expect("events");
            assert_eq!(
                (from, to),
                ("half_open", "closed"),
                "{name}/{unit}: last transition"
            );
            assert!(
                closed > FAULT.1 && closed <= FAULT.1 + WAIT_S + 4.0 / rate + 0.003,
                "{name}/{unit}: closed at {closed}"
            );
            assert_eq!(
                events.iter().filter(|e| e.2 == "open").count(),
                events.iter().filter(|e| e.2 == "half_open").count(),
                "{name}/{unit}: every opening ends in a half-open period"
            );
            // Half-open periods while the fault lasts: at most one per wait.
            let periods = ((FAULT.1 - opened) / WAIT_S).ceil() as u64 + 1;
            probes_bound += PROBES * periods;
        }
        // Transition counts in the summary agree with the log.
        for (key, n) in &summary.transitions {
            let logged = run
                .outcome
                .breaker_events
                .iter()
                .filter(|e| format!("{}->{}", e.from, e.to) == *key)
                .count() as u64;
            assert_eq!(*n, logged, "{name}: transitions[{key}]");
        }
        assert_eq!(summary.transitions["closed->open"], u64::from(breakers));
        assert_eq!(
            summary.transitions["half_open->closed"],
            u64::from(breakers)
        );

        // While open: fail fast, and the callee sees only probes.
        let in_span = |r: &&&WindowRow, from: f64, to: f64| {
            r.start.as_secs_f64() >= from - 1e-9 && r.end.as_secs_f64() <= to + 1e-9
        };
        let back = run.rows(EntityKind::Service, "back");
        let edge_rows = run.rows(EntityKind::Edge, edge_name);
        let open_span = (FAULT.0 + 0.1, FAULT.1);
        let reached: u64 = back
            .iter()
            .filter(|r| in_span(r, open_span.0, open_span.1))
            .map(|r| r.counts.requests)
            .sum();
        let calls: u64 = edge_rows
            .iter()
            .filter(|r| in_span(r, open_span.0, open_span.1))
            .map(|r| r.counts.requests)
            .sum();
        let fast: u64 = edge_rows
            .iter()
            .filter(|r| in_span(r, open_span.0, open_span.1))
            .map(|r| r.counts.breaker_open)
            .sum();
        eprintln!(
            "{name}: 5.1–10 s: {calls} calls, {reached} reached the callee \
             (probe bound {probes_bound}), {fast} failed fast"
        );
        assert!(reached >= 1, "{name}: probes are sent");
        assert!(
            reached <= probes_bound,
            "{name}: only probes reach the callee"
        );
        assert_eq!(fast + reached, calls, "{name}: the rest fail fast");
        assert!(edge.failures.breaker_open >= Some(fast));
        // breakers_open in the series: all open in the middle of the fault,
        // none at the end.
        let mid = edge_rows
            .iter()
            .find(|r| r.end.as_secs_f64() > 7.5)
            .expect("a row");
        assert!(mid.breakers_open.is_some_and(|n| n <= u64::from(breakers)));
        for r in edge_rows
            .iter()
            .filter(|r| r.start.as_secs_f64() >= FAULT.1 + WAIT_S + 0.1)
        {
            assert_eq!(r.breakers_open, Some(0), "{name}: row at {:?}", r.start);
            assert_eq!(
                r.counts.successes, r.counts.requests,
                "{name}: healthy again"
            );
        }
    }
}

// ----- 5. bulkhead ----------------------------------------------------------

/// A bulkhead of k = 5 attempts in flight per calling instance (two
/// instances) in front of a dependency that takes 100 ms and has workers to
/// spare, offered 300 calls per second: 30 in flight wanted, 10 allowed.
/// With no attempt timeout a bulkhead slot is held exactly while the
/// request is in the callee (zero network latency), so the callee never
/// has more than k · instances = 10 requests in its system: checked at the
/// end of each of the 1 000 windows of 10 ms, and on the time average. It
/// saturates (the bound is reached) and turns calls away (`bulkhead_full`).
/// A bounded wait (50 ms, 20 waiters) admits some of those: fewer
/// `bulkhead_full`, more successes, same bound.
#[test]
fn bulkhead_bounds_the_callees_load_and_a_wait_admits_some_waiters() {
    const K: u64 = 5;
    const INSTANCES: u64 = 2;
    let mut results = Vec::new();
    for (label, bulkhead) in [
        ("no-wait", json!({"max_concurrent": K})),
        (
            "wait",
            json!({"max_concurrent": K, "max_wait": "50ms", "max_waiting": 20}),
        ),
    ] {
        let name = format!("bulkhead-{label}");
        let s = scenario(json!({
            "name": name,
            "duration": "10.005s",
            "window": "10ms",
            "policies": {"bounded": {"bulkhead": bulkhead}},
            "services": {
                "front": front(INSTANCES as u32, "bounded"),
                "back": {"concurrency": 1000, "service_time": {"constant": "100ms"}}
            },
            "workload": {
                "arrivals": {"poisson": {"rate": 300}},
                "routes": [{"name": "api", "service": "front"}]
            }
        }));
        let run = simulate(&s);
        let edge = run.edge("front->back [bounded]");
        let back = run.service("back");
        let samples: Vec<u64> = run
            .rows(EntityKind::Service, "back")
            .iter()
            .map(|r| r.in_flight)
            .collect();
        let peak = samples.iter().copied().max().unwrap_or(0);
        let full = edge.failures.bulkhead_full.unwrap_or(0);
        eprintln!(
            "{name}: {} calls, {} successes, {full} bulkhead_full; callee in system: \
             peak of {} samples {peak}, mean {}",
            edge.calls,
            edge.successes,
            samples.len(),
            back.mean_in_system
        );
        assert!(
            peak <= K * INSTANCES,
            "{name}: {peak} requests in the callee"
        );
        assert_eq!(peak, K * INSTANCES, "{name}: the bulkhead saturates");
        assert!(back.mean_in_system <= (K * INSTANCES) as f64);
        assert!(full > 0, "{name}: bulkhead_full under overload");
        assert_eq!(
            back.requests, edge.attempts.attempts,
            "{name}: only admitted attempts arrive"
        );
        assert_eq!(
            edge.successes + full,
            edge.successes + caller_failures(&edge.failures),
            "{name}: the only failure is bulkhead_full"
        );
        results.push((full, edge.successes));
    }
    let ((full_no_wait, ok_no_wait), (full_wait, ok_wait)) = (results[0], results[1]);
    assert!(
        full_wait < full_no_wait && ok_wait > ok_no_wait,
        "a bounded wait admits waiters: bulkhead_full {full_no_wait} → {full_wait}, \
         successes {ok_no_wait} → {ok_wait}"
    );
}

// ----- 6. deadlines ---------------------------------------------------------

/// Clients → front → back, where back has one worker (exponential 1 ms
/// service, μ = 1000/s) and a deep queue; 500 requests per second, with a
/// spike to 3000/s from 2 s to 3 s, which leaves a backlog of ~2000 requests
/// (2 s of work) that drains at μ − λ = 500/s.
///
/// * With a client timeout of 20 ms and no deadline, nothing travels with
///   the request: back never expires anything, and works through the whole
///   backlog for clients that have long given up (its queue wait exceeds a
///   second).
/// * With a policy deadline of 20 ms on the route, the deadline travels
///   through front (whose call to back has no policy of its own) to back,
///   which skips the requests whose deadline has passed (`expired` > 0) and
///   never starts one too late: its longest queue wait is at most 20 ms.
///   It completes fewer requests, is busy less of the time, and more of
///   what it completes reaches a client in time.
#[test]
fn deadlines_propagate_and_the_callee_skips_expired_work() {
    let build = |label: &str, timeout: Option<&str>, policy: Option<&str>| {
        let mut workload = json!({
            "arrivals": {"poisson": {"rate": 500}},
            "schedule": [{"at": "2s", "rate": 3000, "for": "1s"}],
            "routes": [{"name": "api", "service": "front"}]
        });
        if let Some(t) = timeout {
            workload["timeout"] = json!(t);
        }
        if let Some(p) = policy {
            workload["policy"] = json!(p);
        }
        scenario(json!({
            "name": format!("deadline-{label}"),
            "duration": "10.5s",
            "window": "1s",
            "seed": 3,
            "policies": {"deadline": {"deadline": "20ms"}},
            "services": {
                "front": {"concurrency": 100000, "queue_capacity": 100000,
                          "service_time": {"constant": "0"}, "calls": [{"service": "back"}]},
                "back": {"concurrency": 1, "queue_capacity": 100000,
                         "service_time": {"exponential": {"mean": "1ms"}}}
            },
            "workload": workload
        }))
    };
    let timeout_only = simulate(&build("timeout-only", Some("20ms"), None));
    let deadline = simulate(&build("propagated", None, Some("deadline")));
    let report = |label: &str, run: &Run| {
        let back = run.service("back");
        let route = run.route("api");
        eprintln!(
            "{label}: back {} requests, {} successes, {} expired, utilisation {}, \
             queue wait max {} ms; route {} successes of {}, {} timeouts",
            back.requests,
            back.successes,
            back.failures.expired.unwrap_or(0),
            back.utilisation,
            back.queue_wait_ms.max,
            route.successes,
            route.requests,
            route.failures.timeout.unwrap_or(0)
        );
    };
    report("timeout only", &timeout_only);
    report("deadline", &deadline);
    let (a, b) = (timeout_only.service("back"), deadline.service("back"));
    // A client timeout does not propagate.
    assert_eq!(
        a.failures.expired,
        Some(0),
        "a route timeout must not propagate"
    );
    assert!(
        a.queue_wait_ms.max > 1000.0,
        "without a deadline the backlog is worked off"
    );
    // A deadline does, through a hop without a policy.
    let expired = b.failures.expired.unwrap_or(0);
    assert!(expired > 500, "expired {expired}");
    assert!(
        b.queue_wait_ms.max <= 20.0,
        "back started a request {} ms after it was sent, past its 20 ms deadline",
        b.queue_wait_ms.max
    );
    // Less work, less busy time: the saving is the expired requests' work,
    // 1 ms each on average. The two runs draw their service times in
    // different orders, so their busy times differ by noise too: a sum of
    // ~7700 (resp. ~5600) exponential 1 ms service times has a standard
    // deviation of 88 (resp. 75) ms, under 6 % of the ~2 s saved together:
    // tolerance 20 %.
    assert!(b.successes + b.failures.error < a.successes + a.failures.error);
    let saved_s = (a.utilisation - b.utilisation) * 10.5;
    let expected_s = expired as f64 * 1e-3;
    eprintln!("busy time saved {saved_s:.3} s, expired work {expected_s:.3} s");
    assert!(
        (saved_s / expected_s - 1.0).abs() <= 0.2,
        "busy time drops by the expired work: saved {saved_s} s, expired {expected_s} s"
    );
    // Useful work: the share of back's completions that reach a client.
    let useful =
        |run: &Run| run.route("api").successes as f64 / run.service("back").successes as f64;
    eprintln!(
        "useful share of back's completions: timeout only {:.3}, deadline {:.3}",
        useful(&timeout_only),
        useful(&deadline)
    );
    // With the deadline the only waste is requests started shortly before
    // their deadline that finish after it (12 % here, all in the backlog);
    // without it two thirds of back's work is for clients who have left.
    assert!(useful(&deadline) > 0.8 && useful(&timeout_only) < 0.5);
    assert!(deadline.route("api").successes > timeout_only.route("api").successes);
}

// ----- 7. hedging -----------------------------------------------------------

/// The survival function of a log-normal law with median `median` and
/// shape `sigma`.
fn lognormal_survival(x: f64, median: f64, sigma: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    0.5 * libm::erfc((x / median).ln() / (sigma * std::f64::consts::SQRT_2))
}

/// The t with survival(t) = p, for a decreasing survival function, by
/// bisection on [lo, hi].
fn quantile_of(survival: impl Fn(f64) -> f64, p: f64, mut lo: f64, mut hi: f64) -> f64 {
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if survival(mid) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// A heavy-tailed dependency: log-normal with median 5 ms and p99 100 ms
/// (σ = ln 20 / z₀.₉₉ = 1.288; p90 = 26.0 ms), with workers to spare, so a
/// call's latency is its service time X. A hedge after D = p90 gives
/// T = min(X₁, D + X₂): P(T > t) = S(t) for t < D (the median does not
/// move) and S(t)·S(t − D) beyond, whose 99th percentile is ≈ 40 ms instead
/// of 100 ms; and a hedge is sent for the calls still unanswered at D, 10 %
/// of them. A hedge at the observed 90th percentile (`percentile`, which
/// reads a histogram at most 1/16 above the true value) should behave
/// alike with 9–10 % of hedges; it cuts the tail as much, but hedges
/// at most 10 %.
///
/// Tolerances, for 20 000 calls: the hedge ratio is binomial (standard
/// error 0.21 %; tolerance 1 %); a p99 has a relative standard error of
/// √(0.99·0.01/N)/(f(p99)·p99), computed from the density: 3.4 % without
/// hedging, 1.5 % with: tolerance 15 %. The p99 must at least drop by
/// 40 % (theory: 59 %).
#[test]
fn hedging_at_the_p90_cuts_the_tail_for_a_tenth_more_attempts() {
    const MEDIAN_MS: f64 = 5.0;
    const P99_MS: f64 = 100.0;
    const Z90: f64 = 1.281_551_565_544_600_4;
    const Z99: f64 = 2.326_347_874_040_840_8;
    const N: f64 = 20_000.0;
    let sigma = (P99_MS / MEDIAN_MS).ln() / Z99;
    let p90 = MEDIAN_MS * (Z90 * sigma).exp();
    let survival = |t: f64| lognormal_survival(t, MEDIAN_MS, sigma);
    let hedged_survival = |t: f64| survival(t) * survival(t - p90);
    let hedged_p99 = quantile_of(hedged_survival, 0.01, 0.0, 1e4);
    // Standard errors of the two p99s, from the densities (numerically).
    let density = |f: &dyn Fn(f64) -> f64, t: f64| (f(t - 1e-3) - f(t + 1e-3)) / 2e-3;
    let se_p99 = |f: &dyn Fn(f64) -> f64, t: f64| (0.99 * 0.01 / N).sqrt() / density(f, t) / t;
    let se_plain = se_p99(&survival, P99_MS);
    let se_hedged = se_p99(&hedged_survival, hedged_p99);
    eprintln!(
        "σ {sigma:.4}, p90 {p90:.3} ms, hedged p99 {hedged_p99:.3} ms; relative standard \
         errors of the p99s: {se_plain:.4}, {se_hedged:.4}"
    );
    let build = |label: &str, hedge: Option<Value>| {
        let mut policy = json!({});
        if let Some(h) = hedge {
            policy["hedge"] = h;
        }
        scenario(json!({
            "name": format!("hedge-{label}"),
            "duration": "10s",
            "window": "1s",
            "seed": 5,
            "policies": {"p": policy},
            "services": {"back": {"instances": 2, "concurrency": 100000,
                                  "service_time": {"lognormal": {"median": "5ms", "p99": "100ms"}}}},
            "workload": {
                "arrivals": {"poisson": {"rate": N / 10.0}},
                "routes": [{"name": "api", "service": "back", "policy": "p"}]
            }
        }))
    };
    let plain = simulate(&build("none", None));
    let fixed = simulate(&build("fixed", Some(json!({"delay": secs(p90 / 1e3)}))));
    let observed = simulate(&build("percentile", Some(json!({"percentile": 90}))));
    let base = plain.route("api");
    eprintln!(
        "no hedge: p50 {} ms, p99 {} ms",
        base.latency_ms.p50, base.latency_ms.p99
    );
    assert_close(
        "no hedge: p99 / theory",
        base.latency_ms.p99 / P99_MS,
        1.0,
        0.15,
        se_plain,
    );
    assert_eq!(base.attempts.hedges, 0);
    for (label, run, ratio_range) in [
        ("fixed delay at p90", &fixed, (0.09, 0.11)),
        // At most 0.10 plus noise: the estimate is never below the true p90
        // (see `observed_percentile_hedge_delay_hedges_at_most_the_tail`).
        ("observed p90", &observed, (0.07, 0.108)),
    ] {
        let route = run.route("api");
        let calls = route.requests as f64;
        let hedge_ratio = route.attempts.hedges as f64 / calls;
        eprintln!(
            "{label}: p50 {} ms, p99 {} ms (theory {hedged_p99:.2}), hedges {} of {} calls \
             ({hedge_ratio:.4})",
            route.latency_ms.p50, route.latency_ms.p99, route.attempts.hedges, route.requests
        );
        assert!(
            (ratio_range.0..=ratio_range.1).contains(&hedge_ratio),
            "{label}: hedges are {hedge_ratio} of calls, expected in {ratio_range:?}"
        );
        assert!(
            route.latency_ms.p99 <= 0.6 * base.latency_ms.p99,
            "{label}: p99 {} ms vs {} ms without hedging",
            route.latency_ms.p99,
            base.latency_ms.p99
        );
        assert!(
            (route.latency_ms.p50 / base.latency_ms.p50 - 1.0).abs() < 0.05,
            "{label}: the median moved: {} vs {}",
            route.latency_ms.p50,
            base.latency_ms.p50
        );
        assert_eq!(route.successes, route.requests - route.in_flight_at_end);
        // Every hedge reaches the callee too: amplification = 1 + hedges.
        let back = run.service("back");
        assert_eq!(back.requests, route.attempts.attempts);
        if label.starts_with("fixed") {
            assert_close(
                &format!("{label}: hedges per call"),
                hedge_ratio,
                0.1,
                0.01,
                (0.09 / calls).sqrt(),
            );
            assert_close(
                &format!("{label}: p99 / theory"),
                route.latency_ms.p99 / hedged_p99,
                1.0,
                0.15,
                se_hedged,
            );
        }
    }
}

// ----- 8. rate limit --------------------------------------------------------

/// An outgoing token bucket of r = 50/s with a burst of 10, offered 200
/// calls per second for 10 s (Poisson). A token bucket that starts full
/// admits at most burst + r·T over any span T, and when it is always in
/// demand it admits at least r·T (it refills at r and is never left full
/// for long: the gap between calls is 5 ms on average, the refill time of
/// a token 20 ms). Refused calls fail with `rate_limited` and never reach
/// the callee. Per scope: each of two calling instances has its own bucket
/// (`instance`), or they share one (`service`).
#[test]
fn rate_limit_caps_attempts_reaching_the_callee() {
    const RATE: f64 = 50.0;
    const BURST: f64 = 10.0;
    const SECONDS: f64 = 10.0;
    for (scope, buckets) in [("instance", 2.0), ("service", 1.0)] {
        let name = format!("rate-limit-{scope}");
        let s = scenario(json!({
            "name": name,
            "duration": secs(SECONDS),
            "window": "1s",
            "policies": {"limited": {"rate_limit": {"rate": RATE, "burst": BURST as u32}, "scope": scope}},
            "services": {
                "front": front(2, "limited"),
                "back": {"concurrency": 1000, "service_time": {"constant": "1ms"}}
            },
            "workload": {
                "arrivals": {"poisson": {"rate": 200}},
                "routes": [{"name": "api", "service": "front"}]
            }
        }));
        let run = simulate(&s);
        let edge = run.edge("front->back [limited]");
        let back = run.service("back");
        let limited = edge.failures.rate_limited.unwrap_or(0);
        let upper = buckets * (BURST + RATE * SECONDS);
        let lower = buckets * RATE * SECONDS * 0.98;
        eprintln!(
            "{name}: {} calls, {} reached the callee (allowed {lower:.0}–{upper:.0}), \
             {limited} rate_limited",
            edge.calls, back.requests
        );
        assert!(
            (back.requests as f64) <= upper && (back.requests as f64) >= lower,
            "{name}: {} attempts reached the callee",
            back.requests
        );
        assert_eq!(back.requests, edge.attempts.attempts);
        let finished = edge.successes + caller_failures(&edge.failures);
        assert_eq!(
            limited,
            finished - edge.successes,
            "{name}: every failure is rate_limited"
        );
        assert_eq!(back.requests, edge.successes + (edge.calls - finished));
        // Per 1 s window: at most burst + r per bucket.
        for row in run.rows(EntityKind::Service, "back") {
            assert!(row.counts.requests as f64 <= buckets * (BURST + RATE));
        }
    }
}

/// A service's own admission limit (`rate_limit` on the service, Envoy's
/// local rate limit): a token bucket per instance of rate r and burst b
/// admits at most b + r·t of any interval of length t, and refuses the rest
/// with 429 before its queue; each of 2 instances has its own bucket.
#[test]
fn a_services_admission_limit_admits_at_most_burst_plus_rate_per_instance() {
    const RATE: f64 = 50.0;
    const BURST: f64 = 10.0;
    const SECONDS: f64 = 10.0;
    let s = scenario(json!({
        "name": "admission-limit",
        "duration": secs(SECONDS),
        "window": "1s",
        "services": {
            "back": {"instances": 2, "concurrency": 1000, "service_time": {"constant": "1ms"},
                     "rate_limit": {"rate": RATE, "burst": BURST as u32}}
        },
        "workload": {
            "arrivals": {"poisson": {"rate": 300}},
            "routes": [{"name": "api", "service": "back"}]
        }
    }));
    let run = simulate(&s);
    let back = run.service("back");
    let api = run.route("api");
    let admitted = back.requests - back.failures.rejected;
    let upper = 2.0 * (BURST + RATE * SECONDS);
    let lower = 2.0 * RATE * SECONDS * 0.98;
    eprintln!(
        "admission: {} requests, {admitted} admitted (allowed {lower:.0}–{upper:.0}), {} refused",
        back.requests, back.failures.rejected
    );
    assert!((admitted as f64) <= upper && (admitted as f64) >= lower);
    assert!(
        back.failures.rejected > 1_000,
        "300/s offered against 100/s"
    );
    // The caller sees every refusal as a rejection, and nothing else fails.
    assert_eq!(api.failures.rejected, back.failures.rejected);
    assert_eq!(caller_failures(&api.failures), back.failures.rejected);
    for row in run.rows(EntityKind::Service, "back") {
        let admitted = row.counts.requests - row.counts.rejected;
        assert!(
            admitted as f64 <= 2.0 * (BURST + RATE),
            "{admitted} in one window"
        );
    }
}

/// A 429's retry-after against the backoff: a client retrying refusals after
/// 1 ms hits the same empty bucket again, while one that honours the hint
/// waits for the next token. Same seed, same arrivals (common random
/// numbers): honouring the hint ends fewer than half as many requests
/// refused, and sends fewer attempts into refusals. Not many fewer (measured
/// 1,580 against 1,734 at 90/s offered to 100/s): every client refused in
/// the same gap is told the same next-token instant, and they race for it,
/// the herd that jitter on a retry-after would break.
#[test]
fn honouring_retry_after_cuts_the_429s_against_ignoring_it() {
    let run_with = |honour: bool| {
        simulate(&scenario(json!({
            "name": format!("retry-after-{honour}"),
            "duration": "20s",
            "window": "1s",
            "policies": {"retry": {"retry": {
                "max_attempts": 4, "retry_on": ["rejected"],
                "backoff": {"constant": "1ms"}, "jitter": "none",
                "honour_retry_after": honour
            }}},
            "services": {
                "back": {"concurrency": 1000, "service_time": {"constant": "1ms"},
                         "rate_limit": {"rate": 100, "burst": 2}}
            },
            "workload": {
                "arrivals": {"poisson": {"rate": 90}},
                "routes": [{"name": "api", "service": "back", "policy": "retry"}]
            }
        })))
    };
    let (honoured, ignored) = (run_with(true), run_with(false));
    let refusals = |run: &Run| run.service("back").failures.rejected;
    let failed = |run: &Run| run.route("api").failures.rejected;
    eprintln!(
        "429s: honoured {} (requests failed {}), ignored {} (requests failed {})",
        refusals(&honoured),
        failed(&honoured),
        refusals(&ignored),
        failed(&ignored)
    );
    assert_eq!(
        honoured.route("api").requests,
        ignored.route("api").requests,
        "common random numbers: the same arrivals"
    );
    assert!(refusals(&ignored) > 100, "the limit must bite");
    assert!(refusals(&honoured) < refusals(&ignored));
    assert!(
        2 * failed(&honoured) < failed(&ignored),
        "honouring retry-after must at least halve the requests refused"
    );
}

// ----- 9. adaptive throttling -----------------------------------------------

/// Google SRE adaptive throttling (K = 2, 10 s window) on a route to a
/// dependency that is healthy for 5 s and then down for good (a crash: every
/// attempt times out after 10 ms). The client rejects locally with
/// probability max(0, (requests − K·accepts)/(requests + 1)) over the
/// trailing window. With λ the request rate, at time t ∈ [10, 15] the
/// window holds 10λ requests and (15 − t)λ accepts (those of [t − 10, 5)),
/// so the probability is (t − 10)/5: nothing is throttled before 10 s, then
/// a share growing linearly to (almost) everything at 15 s. Per 1 s window
/// of 500 requests the measured share has a standard error ≤ 2.3 %; the
/// throttle's 120 buckets of 83 ms add a bias of less than 1 %: tolerance
/// 10 %.
///
/// By the SRE book's definition an *error reply* is an accept (the backend
/// accepted the request), so a dependency that answers with errors is never
/// throttled; checked too.
#[test]
fn adaptive_throttling_sheds_a_growing_share_when_the_callee_is_down() {
    const RATE: f64 = 500.0;
    let build = |label: &str, faults: Value, error_rate: f64| {
        scenario(json!({
            "name": format!("adaptive-{label}"),
            "duration": "20.5s",
            "window": "1s",
            "seed": 9,
            "policies": {"throttled": {"timeout": "10ms",
                                       "budget": {"adaptive": {"k": 2, "window": "10s"}}}},
            "services": {"back": {"concurrency": 1000, "service_time": {"constant": "1ms"},
                                  "error_rate": error_rate}},
            "workload": {
                "arrivals": {"poisson": {"rate": RATE}},
                "routes": [{"name": "api", "service": "back", "policy": "throttled"}]
            },
            "faults": faults
        }))
    };
    let run = simulate(&build(
        "crash",
        json!([{"at": "5s", "crash": {"service": "back"}}]),
        0.0,
    ));
    let route = run.route("api");
    let back = run.service("back");
    let throttled = route.failures.throttled.unwrap_or(0);
    eprintln!(
        "crash: {} calls, {throttled} throttled, {} reached the callee",
        route.requests, back.requests
    );
    assert!(throttled > 0);
    assert_eq!(
        back.requests,
        route.requests - throttled,
        "throttled calls are not sent"
    );
    assert!(back.requests < route.requests);
    let rows = run.rows(EntityKind::Route, "api");
    let mut previous = 0.0;
    for (i, row) in rows.iter().enumerate() {
        let share = row.counts.throttled as f64 / row.counts.requests as f64;
        let mid = i as f64 + 0.5;
        let expected = ((mid - 10.0) / 5.0).clamp(0.0, 1.0);
        eprintln!("  window {i}: {share:.3} throttled (model {expected:.3})");
        if mid < 9.0 {
            assert_eq!(
                row.counts.throttled, 0,
                "window {i}: nothing to throttle yet"
            );
        } else if mid < 20.0 {
            assert!(
                (share - expected).abs() <= 0.10,
                "window {i}: throttled share {share}, model {expected}"
            );
            assert!(share >= previous - 0.05, "window {i}: the share must grow");
        }
        previous = share;
    }

    let errors = simulate(&build("errors", json!([]), 1.0));
    let route = errors.route("api");
    assert_eq!(route.successes, 0);
    assert_eq!(
        route.failures.throttled,
        Some(0),
        "error replies are accepts: nothing to throttle"
    );
}

// ----- 10. determinism and conservation -------------------------------------

/// Every policy at once, on two hops, with faults: the scenario for the
/// determinism and conservation checks.
fn everything(seed: u64) -> Compiled {
    scenario(json!({
        "name": "everything",
        "duration": "12.5s",
        "window": "1s",
        "seed": seed,
        "policies": {
            "client": {
                "deadline": "300ms",
                "retry": {"max_attempts": 3, "retry_on": ["error", "timeout"],
                          "backoff": {"exponential": {"base": "10ms", "multiplier": 2, "cap": "80ms"}},
                          "jitter": "full"},
                "budget": {"tps": {"retry_percent": 20, "min_retries_per_sec": 5, "ttl": "5s"}}
            },
            "edge": {
                "timeout": "50ms",
                "retry": {"max_attempts": 2, "retry_on": ["error", "timeout", "rejected"],
                          "backoff": {"exponential": {"base": "5ms", "multiplier": 2, "cap": "40ms"}},
                          "jitter": "decorrelated"},
                "budget": {"token_bucket": {"max_tokens": 50, "token_ratio": 0.2}},
                "breaker": {"window": "count", "window_size": 20, "failure_rate_percent": 50,
                            "minimum_calls": 10, "wait_in_open": "500ms", "half_open_calls": 3},
                "bulkhead": {"max_concurrent": 8, "max_wait": "20ms", "max_waiting": 10},
                "rate_limit": {"rate": 300, "burst": 20},
                "hedge": {"percentile": 95},
                "scope": "instance"
            },
            "cache": {
                "timeout": "20ms",
                "budget": {"adaptive": {"k": 2, "window": "5s"}}
            }
        },
        "services": {
            "front": {"instances": 2, "concurrency": 64, "queue_capacity": 200,
                      "service_time": {"exponential": {"mean": "1ms"}},
                      "calls": [
                          {"parallel": [
                              {"service": "back", "policy": "edge"},
                              {"service": "cache", "policy": "cache", "optional": true,
                               "probability": 0.5}
                          ]}
                      ]},
            "back": {"instances": 3, "concurrency": 4, "queue_capacity": 50,
                     "service_time": {"lognormal": {"median": "4ms", "p99": "40ms"}},
                     "error_rate": 0.01},
            "cache": {"instances": 1, "concurrency": 8, "queue_capacity": 20,
                      "service_time": {"exponential": {"mean": "2ms"}}}
        },
        "network": {"latency": {"exponential": {"mean": "200us"}}, "loss": 0.001},
        "workload": {
            "arrivals": {"poisson": {"rate": 400}},
            "routes": [{"name": "api", "service": "front", "policy": "client"}]
        },
        "faults": [
            {"at": "3s", "for": "2s", "errors": {"service": "back", "rate": 0.6}},
            {"at": "6s", "for": "1s", "latency": {"service": "back", "add": "30ms"}},
            {"at": "8s", "for": "1s", "crash": {"service": "back", "instance": 0}},
            {"at": "9.5s", "for": "1s", "crash": {"service": "cache"}}
        ]
    }))
}

/// The same scenario with policies twice: byte-identical summary.json,
/// timeseries.csv and breakers.csv; another seed gives other numbers (the
/// policies' randomness — jitter, throttling — is seeded, not absent).
#[test]
fn policies_are_deterministic() {
    let files = |seed: u64| {
        let s = everything(seed);
        let run = simulate(&s);
        (
            run.summary.to_json(),
            timeseries::to_csv(&run.outcome),
            timeseries::breakers_csv(&run.outcome),
        )
    };
    let (first, second, other) = (files(17), files(17), files(18));
    assert!(first.0 == second.0, "summary.json differs between two runs");
    assert!(
        first.1 == second.1,
        "timeseries.csv differs between two runs"
    );
    assert!(first.2 == second.2, "breakers.csv differs between two runs");
    assert_ne!(first.0, other.0, "seeds 17 and 18 gave the same summary");
    // The scenario exercises what it claims to.
    let s = everything(17);
    let run = simulate(&s);
    let edge = run.edge("front->back [edge]");
    let route = run.route("api");
    assert!(edge.attempts.retries > 0 && edge.attempts.hedges > 0);
    assert!(
        edge.breakers
            .as_ref()
            .is_some_and(|b| b.transitions.contains_key("closed->open"))
    );
    assert!(route.attempts.retries > 0 && route.attempts.retries_denied > 0);
    for reason in [
        &edge.failures.breaker_open,
        &edge.failures.bulkhead_full,
        &edge.failures.rate_limited,
    ] {
        assert!(reason.is_some_and(|n| n > 0), "{:?}", edge.failures);
    }
}

/// Conservation (see [`check_conservation`]) holds in the bundled retry
/// storm scenarios too, with and without their protections; and the fixed
/// one keeps its promises: fewer attempts per call, and nothing started
/// past a deadline while the plain one has no deadline to enforce.
#[test]
fn conservation_holds_in_the_bundled_retry_storms() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let load =
        |file: &str| scenario::load(&dir.join(file)).unwrap_or_else(|e| panic!("{file}:\n{e}"));
    let storm = simulate(&load("retry-storm.json"));
    let fixed = simulate(&load("retry-storm-fixed.json"));
    let amplification = |run: &Run| run.service("backend").amplification;
    eprintln!(
        "backend amplification: storm {}, fixed {}; expired: storm {:?}, fixed {:?}",
        amplification(&storm),
        amplification(&fixed),
        storm.service("backend").failures.expired,
        fixed.service("backend").failures.expired
    );
    assert!(amplification(&fixed) < amplification(&storm));
    assert_eq!(storm.service("backend").failures.expired, Some(0));
    assert!(fixed.route("api").successes > storm.route("api").successes);
}

/// Hedges that lose are cancelled (gRPC, Envoy, Finagle): the caller gives
/// back their resources at once and tells the callee, which drops the jobs
/// still queued or on the wire when the cancellation arrives. A queueing
/// backend (2 single-worker instances at ρ = 0.7 before hedging) with 1 ms
/// network hops. Without cancellation every loser is served, and the extra
/// work saturates the backend.
#[test]
fn losing_hedges_are_cancelled_at_the_callee() {
    let build = |cancel: bool| {
        scenario(json!({
            "name": format!("hedge-cancel-{cancel}"),
            "duration": "20s",
            "window": "1s",
            "seed": 11,
            "network": {"latency": {"constant": "1ms"}},
            "policies": {"p": {"hedge": {"delay": "8ms", "max_hedges": 2, "cancel_losers": cancel}}},
            "services": {"back": {"instances": 2, "concurrency": 1, "queue_capacity": 1000,
                                  "service_time": {"exponential": {"mean": "2ms"}}}},
            "workload": {
                "arrivals": {"poisson": {"rate": 700}},
                "routes": [{"name": "api", "service": "back", "policy": "p"}]
            }
        }))
    };
    let cancelling = simulate(&build(true));
    let running_on = simulate(&build(false));
    let (c, r) = (cancelling.service("back"), running_on.service("back"));
    eprintln!(
        "cancel: {} requests, {} cancelled, {} served, utilisation {}; \
         run on: {} requests, {} served, utilisation {}",
        c.requests,
        c.failures.cancelled.unwrap(),
        c.successes,
        c.utilisation,
        r.requests,
        r.successes,
        r.utilisation
    );
    assert_eq!(r.failures.cancelled, Some(0));
    let cancelled = c.failures.cancelled.unwrap();
    let hedges = cancelling.route("api").attempts.hedges;
    assert!(hedges > 100, "{hedges} hedges");
    assert!(
        cancelled > hedges / 10 && cancelled < hedges,
        "{cancelled} jobs cancelled for {hedges} hedges"
    );
    // Cancelled jobs are not served: less work for the same traffic.
    assert!(c.successes + cancelled <= c.requests);
    assert!(
        c.utilisation < r.utilisation,
        "{} vs {}",
        c.utilisation,
        r.utilisation
    );
    // With cancellation every request is answered. Without it, the losers'
    // work pushes the backend to saturation: hedges beget queueing, which
    // begets more hedges.
    let route = cancelling.route("api");
    assert_eq!(route.successes + route.in_flight_at_end, route.requests);
    assert!(r.utilisation > 0.99, "{}", r.utilisation);
    assert!(running_on.route("api").success_ratio < route.success_ratio);
}

// ----- bugs found: today's behaviour, pinned -------------------------------

/// Regression: the observed-percentile hedge delay once halved its counts
/// by integer division every 1 000 samples, emptying the single-sample tail
/// buckets, so a p99 hedge fired on 1.7% of calls. With generations instead
/// of halving, the hedged share is close to 100 − percentile per cent.
///
/// FIXME: it is not at most 1%, as this test once asserted on one seed
/// (seed 5 gave 1.22%). Measured on seeds 1–8 with the build before keyed
/// randomness and with this one alike, a p99 hedge fires on 1.22–1.46% of
/// calls: the empirical p99 of a window of at most 1 000 samples exceeds the
/// true one with expected probability about 1.1%, and the histogram's 1/16
/// buckets add a little; the rest is not yet explained. The bound below
/// (a mean over four seeds, 80 000 calls, binomial standard error 0.04%)
/// is 1.6%: it catches the halving bug's 1.7% and anything worse.
#[test]
fn observed_percentile_hedge_delay_hedges_about_the_tail() {
    let (mut hedges, mut requests) = (0u64, 0u64);
    for seed in [1, 2, 3, 4] {
        let s = scenario(json!({
            "name": "hedge-p99",
            "duration": "10s",
            "window": "1s",
            "seed": seed,
            "policies": {"p": {"hedge": {"percentile": 99}}},
            "services": {"back": {"instances": 2, "concurrency": 100000,
                                  "service_time": {"lognormal": {"median": "5ms", "p99": "100ms"}}}},
            "workload": {
                "arrivals": {"poisson": {"rate": 2000}},
                "routes": [{"name": "api", "service": "back", "policy": "p"}]
            }
        }));
        let run = simulate(&s);
        let route = run.route("api");
        hedges += route.attempts.hedges;
        requests += route.requests;
    }
    let share = hedges as f64 / requests as f64;
    assert!(
        (0.008..=0.016).contains(&share),
        "hedged share {share} ({hedges} hedges for {requests} calls): a p99 hedge should fire on about 1% of calls"
    );
}

/// Regression: `retry_on` once accepted `bulkhead_full` and `rate_limited`
/// but silently ignored them. Now only `error`, `timeout`, `rejected` and
/// `breaker_open` are accepted (an enum: a clear error otherwise), and, as documented,
/// the caller's own refusals (bulkhead full, rate limited) count as
/// `rejected`: `"retry_on": ["rejected"]` retries them.
#[test]
fn retry_on_rejected_covers_local_refusals_and_other_names_are_errors() {
    for name in ["rate_limited", "bulkhead_full"] {
        let text = json!({
            "name": "bad", "duration": "1s",
            "policies": {"p": {"retry": {"retry_on": [name]}}},
            "services": {"back": {"service_time": {"constant": "1ms"}}},
            "workload": {"arrivals": {"poisson": {"rate": 10}},
                         "routes": [{"service": "back", "policy": "p"}]}
        })
        .to_string();
        let error = meshsim::scenario::parse(&text, "bad.json").expect_err(name);
        assert!(
            error
                .to_string()
                .contains(&format!("unknown variant `{name}`")),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .contains("the caller's own refusals count as `rejected`"),
            "{error}"
        );
    }
    for (label, limiter) in [
        (
            "rate-limit",
            json!({"rate_limit": {"rate": 10, "burst": 1}}),
        ),
        ("bulkhead", json!({"bulkhead": {"max_concurrent": 1}})),
    ] {
        let mut policy = limiter;
        policy["retry"] = json!({"max_attempts": 3, "retry_on": ["rejected"],
                                 "backoff": {"constant": "1ms"}, "jitter": "none"});
        let s = scenario(json!({
            "name": format!("retry-on-{label}"),
            "duration": "10.05s",
            "window": "1s",
            "policies": {"p": policy},
            "services": {"back": {"concurrency": 1000, "service_time": {"constant": "50ms"}}},
            "workload": {
                "arrivals": {"poisson": {"rate": 100}},
                "routes": [{"name": "api", "service": "back", "policy": "p"}]
            }
        }));
        let run = simulate(&s);
        let route = run.route("api");
        let refused =
            route.failures.rate_limited.unwrap_or(0) + route.failures.bulkhead_full.unwrap_or(0);
        assert!(refused > 0, "{label}: the limiter refuses calls");
        assert_eq!(
            run.service("back").failures.rejected,
            0,
            "{label}: the callee never rejects"
        );
        assert!(
            route.attempts.retries > 0,
            "{label}: local refusals count as `rejected` and are retried"
        );
    }
}

/// Regression: events at exactly the end of the run once missed the time
/// series (the last window closed at the horizon before the events of that
/// instant). The last window is now closed after every event of the run.
#[test]
fn time_series_rows_add_up_to_the_totals_at_the_horizon() {
    let s = scenario(json!({
        "name": "horizon",
        "duration": "1s",
        "window": "1s",
        "services": {"back": {"service_time": {"constant": "0"}}},
        "workload": {
            "arrivals": {"constant": {"rate": 10}},
            "routes": [{"name": "api", "service": "back"}]
        }
    }));
    let outcome = world::run(&s, s.scenario().seed, None);
    let summary = Summary::new(&s, s.scenario().seed, &outcome);
    let run = Run { outcome, summary };
    let in_rows: u64 = run
        .rows(EntityKind::Route, "api")
        .iter()
        .map(|r| r.counts.requests)
        .sum();
    let total = run.route("api").requests;
    eprintln!("summary: {total} requests; time series: {in_rows}");
    assert_eq!(total, 10);
    assert_eq!(in_rows, total, "the rows must add up to the summary");
}

/// Regression: a hedge refused by the budget was rescheduled every `delay`
/// for as long as the first attempt was in flight: with a 1 µs delay, ten
/// requests to a 100 ms backend made ~900 000 events.
#[test]
fn a_refused_hedge_is_not_rescheduled() {
    let s = scenario(json!({
        "name": "hedge-storm", "duration": "1.05s", "window": "1s",
        "policies": {"p": {"hedge": {"delay": "1us"},
                           "budget": {"tps": {"retry_percent": 0, "min_retries_per_sec": 0}}}},
        "services": {"back": {"concurrency": 100, "service_time": {"constant": "100ms"}}},
        "workload": {"arrivals": {"constant": {"rate": 10}},
                     "routes": [{"name": "api", "service": "back", "policy": "p"}]}
    }));
    let outcome = world::run(&s, s.scenario().seed, None);
    let summary = Summary::new(&s, s.scenario().seed, &outcome);
    let route = &summary.routes["api"];
    // One refused hedge per call at most, and a handful of events per call.
    assert!(
        route.attempts.retries_denied <= route.requests,
        "{:?}",
        route.attempts
    );
    assert!(
        outcome.events < 1_000,
        "{} events for {} calls",
        outcome.events,
        route.requests
    );
}

/// Regression: when the first attempt failed while a hedge waited for a
/// bulkhead slot and that wait expired, the call never ended (533 of 600
/// requests were still in flight at the end, with no timeouts).
#[test]
fn a_call_whose_hedge_wait_expires_still_ends() {
    let s = scenario(json!({
        "name": "hedge-wait", "duration": "2.05s", "window": "1s",
        "policies": {"p": {"hedge": {"delay": "1ms"},
                           "bulkhead": {"max_concurrent": 1, "max_wait": "5ms", "max_waiting": 10}}},
        "services": {"back": {"concurrency": 100, "service_time": {"constant": "3ms"}, "error_rate": 1.0}},
        "workload": {"arrivals": {"poisson": {"rate": 300}},
                     "routes": [{"name": "api", "service": "back", "policy": "p", "timeout": "100ms"}]}
    }));
    let run = simulate(&s);
    let route = run.route("api");
    // Every call ends within 100 ms, so only calls of the last 100 ms may be
    // in flight at the end: ~30 at 300/s; 60 is far beyond noise.
    assert!(
        route.in_flight_at_end <= 60,
        "{} still in flight of {}",
        route.in_flight_at_end,
        route.requests
    );
}

/// Regression: a call without a policy inherited an expired deadline and was
/// sent anyway (the fast path skipped the check the general path makes).
#[test]
fn an_expired_inherited_deadline_is_not_sent_on_a_plain_edge() {
    let s = scenario(json!({
        "name": "plain-deadline", "duration": "2.05s", "window": "1s",
        "policies": {"d": {"deadline": "5ms"}},
        "services": {
            "front": {"concurrency": 1000, "service_time": {"constant": "10ms"},
                      "calls": [{"service": "back"}]},
            "back": {"concurrency": 1000, "service_time": {"constant": "1ms"}}
        },
        "workload": {"arrivals": {"poisson": {"rate": 100}},
                     "routes": [{"name": "api", "service": "front", "policy": "d"}]}
    }));
    let run = simulate(&s);
    assert_eq!(
        run.service("back").requests,
        0,
        "expired requests reached back"
    );
    assert!(run.service("front").requests > 100);
}

/// Bug: when a winning hedge ended a call that had another hedge waiting for
/// a bulkhead slot, the slot freed by cancelling a loser went to that very
/// waiter (the call was already gone), was dropped, and the next waiter was
/// only admitted into the bulkhead's internal queue, which nothing polls:
/// its call was never sent.
///
/// Timeline (bulkhead of 2, hedge after 6 ms, max 2 hedges; jobs starting
/// before 11 ms take 1.05 s, later ones 50 ms): C arrives at 10 ms (A1, slow),
/// hedges at 16 ms (H1, fast); W arrives at 20 ms and waits; C's second hedge
/// waits behind W at 22 ms; X arrives at 30 ms and waits. At 66 ms H1 wins:
/// W gets H1's slot, and cancelling A1 frees the slot X should get.
#[test]
fn a_cancelled_loser_does_not_strand_the_next_bulkhead_waiter() {
    let s = scenario(json!({
        "name": "hedge-bulkhead-cancel", "duration": "2s", "window": "1s",
        "policies": {"p": {"hedge": {"delay": "6ms", "max_hedges": 2},
                           "bulkhead": {"max_concurrent": 2, "max_wait": "10s", "max_waiting": 10}}},
        "services": {"back": {"concurrency": 100, "service_time": {"constant": "50ms"}}},
        "faults": [{"at": "0s", "for": "11ms", "latency": {"service": "back", "add": "1s"}}],
        "workload": {"arrivals": {"constant": {"rate": 100}},
                     "schedule": [{"at": "35ms", "rate": 0}],
                     "routes": [{"name": "api", "service": "back", "policy": "p"}]}
    }));
    let run = simulate(&s);
    let route = run.route("api");
    assert_eq!(route.requests, 3);
    assert_eq!(
        route.successes, 3,
        "{} of 3 calls ended, {} still in flight after 2 s",
        route.successes, route.in_flight_at_end
    );
}
