//! `meshsim replay --trace`: the trace has one span per attempt (checked
//! against the run's own counts), tracing changes nothing in the run, the
//! Chrome JSON is valid with every thread's slices strictly nested and
//! every flow bound, the filters keep exactly what they say, a sample is
//! the bottom-k of the ids' hashes and says so, failed requests are linked
//! to the faults active when they failed, and the command refuses bad
//! flags with exit code 2 before writing anything.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use meshsim::kernel::SimTime;
use meshsim::report::{Summary, trace::chrome_json};
use meshsim::scenario::{self, Compiled};
use meshsim::world::trace::{
    MAX_TRACE_LIMIT, RequestTrace, SpanEnd, SpanKind, Trace, TraceFilter, run_traced, sample_hash,
};
use meshsim::world::{self, Status};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_meshsim");

/// A bundled scenario, shortened to `duration` and with every fault moved
/// by `shift` seconds earlier (none before 0), so that the test profile
/// runs it in a moment.
fn bundled(name: &str, duration: &str, shift: f64) -> Compiled {
    let text = std::fs::read_to_string(format!("scenarios/{name}.json")).expect("bundled");
    let mut value: Value = serde_json::from_str(&text).expect("JSON");
    value["duration"] = Value::String(duration.to_string());
    let seconds = |t: &Value| -> f64 {
        t.as_str()
            .expect("a time")
            .trim_end_matches('s')
            .parse()
            .expect("seconds")
    };
    let end = seconds(&value["duration"]);
    if let Some(faults) = value["faults"].as_array_mut() {
        for fault in faults.iter_mut() {
            let at = (seconds(&fault["at"]) - shift).max(0.0);
            fault["at"] = Value::String(format!("{at}s"));
        }
        // Those that would start after the end are left out.
        faults.retain(|f| seconds(&f["at"]) < end);
    }
    scenario::parse(&value.to_string(), &format!("{name}.json")).expect("valid")
}

fn everything() -> TraceFilter {
    TraceFilter {
        limit: MAX_TRACE_LIMIT,
        ..TraceFilter::default()
    }
}

fn attempts(trace: &Trace) -> u64 {
    trace
        .requests
        .iter()
        .flat_map(|r| &r.spans)
        .filter(|s| matches!(s.kind, SpanKind::Attempt { .. }))
        .count() as u64
}

/// Scenarios whose every call is made for a client request, a saga it
/// started included (no producer or consumer works on its own).
fn cases() -> Vec<(&'static str, Compiled)> {
    vec![
        (
            "retry-storm-fixed",
            bundled("retry-storm-fixed", "8s", 28.0),
        ),
        ("hedging", bundled("hedging", "5s", 28.0)),
        (
            "failover-ejection",
            bundled("failover-ejection", "34s", 0.0),
        ),
        ("gateway", bundled("gateway", "45s", 0.0)),
        // Sagas: their calls hang under the saga, across the
        // orchestrator's crash at 80 s and its recovery.
        ("saga-checkout", bundled("saga-checkout", "90s", 0.0)),
    ]
}

#[test]
fn there_is_one_span_per_attempt_and_tracing_changes_nothing() {
    for (name, compiled) in cases() {
        let seed = compiled.scenario().seed;
        let (outcome, trace) = run_traced(&compiled, seed, None, everything());
        let plain = world::run(&compiled, seed, None);
        let traced_summary = Summary::new(&compiled, seed, &outcome);
        let plain_summary = Summary::new(&compiled, seed, &plain);
        assert_eq!(
            traced_summary.to_json(),
            plain_summary.to_json(),
            "{name}: tracing must not change the run"
        );
        let sent = traced_summary
            .routes
            .values()
            .map(|r| r.requests)
            .sum::<u64>();
        let capped = traced_summary
            .routes
            .values()
            .map(|r| r.failures.capped.unwrap_or(0))
            .sum::<u64>();
        assert_eq!(trace.counts.requests, sent - capped, "{name}: admitted");
        assert_eq!(trace.counts.matched, sent - capped, "{name}: every request");
        assert_eq!(trace.counts.kept, trace.counts.matched, "{name}");
        assert_eq!(trace.counts.sampled_out, 0, "{name}");
        assert_eq!(trace.counts.spans_dropped, 0, "{name}");
        let expected: u64 = traced_summary
            .routes
            .values()
            .map(|r| r.attempts.attempts)
            .chain(traced_summary.edges.values().map(|e| e.attempts.attempts))
            .sum();
        assert!(expected > 1000, "{name}: {expected}");
        assert_eq!(attempts(&trace), expected, "{name}: one span per attempt");
        for request in &trace.requests {
            check_tree(name, request);
            // A span still open at the end of the run, of a request that
            // ended long before: a hook that was missed (a span that never
            // closes keeps its request, whole, until the end).
            if let Some((at, _)) = request.ended
                && request.spans.iter().any(|s| s.ending == SpanEnd::Open)
            {
                assert!(
                    (outcome.end - at).as_nanos() < 2_000_000_000,
                    "{name}: #{} ended at {at:?} with a span open at the end {:?}",
                    request.id,
                    outcome.end
                );
            }
        }
    }
}

/// Parents come first and are of the right kind; an attempt follows an
/// earlier attempt of its own call.
fn check_tree(name: &str, request: &RequestTrace) {
    for (i, span) in request.spans.iter().enumerate() {
        assert!(span.start <= span.end, "{name}: #{} {span:?}", request.id);
        let parent = (span.parent != u32::MAX).then(|| &request.spans[span.parent as usize]);
        if let Some(p) = parent {
            assert!((span.parent as usize) < i);
            assert!(p.start <= span.start, "{name}: #{} {span:?}", request.id);
        }
        match (span.kind, parent.map(|p| p.kind)) {
            (SpanKind::Server { .. }, Some(SpanKind::Attempt { .. })) => {}
            (SpanKind::Server { .. }, other) => panic!("{name}: a server under {other:?}"),
            (SpanKind::Saga { .. }, Some(SpanKind::Server { .. })) => {}
            (SpanKind::Saga { .. }, other) => panic!("{name}: a saga under {other:?}"),
            (SpanKind::Call { .. } | SpanKind::Attempt { .. }, Some(SpanKind::Saga { .. })) => {}
            (_, None | Some(SpanKind::Server { .. })) => {}
            (SpanKind::Attempt { .. }, Some(SpanKind::Call { .. })) => {}
            (kind, other) => panic!("{name}: {kind:?} under {other:?}"),
        }
        if span.after != u32::MAX {
            let before = &request.spans[span.after as usize];
            assert!((span.after as usize) < i);
            assert_eq!(before.parent, span.parent, "{name}: the same call");
            assert!(matches!(before.kind, SpanKind::Attempt { .. }));
        }
    }
    let mut marks = request.marks.iter().map(|m| m.at);
    let mut last = SimTime::ZERO;
    assert!(marks.all(|at| std::mem::replace(&mut last, at) <= at));
}

/// A complete event: its start and end (ns) and category.
type Slice = (i64, i64, String);

/// Every thread's complete events strictly nested; every flow's two ends
/// at the start of a slice of their thread and category (DevTools binds a
/// flow event only to a slice of the same category, pid, tid and ts;
/// Perfetto to the slice enclosing it), and no request thread 0 (which
/// Perfetto before v52 merged into thread 1).
fn check_chrome(json: &str) -> Value {
    let value: Value = serde_json::from_str(json).expect("valid JSON");
    let events = value["traceEvents"].as_array().expect("traceEvents");
    let ts = |e: &Value| (e["ts"].as_f64().unwrap() * 1000.0).round() as i64;
    let mut slices: BTreeMap<(u64, u64), Vec<Slice>> = BTreeMap::new();
    for e in events.iter().filter(|e| e["ph"] == "X") {
        let start = ts(e);
        let end = start + (e["dur"].as_f64().unwrap() * 1000.0).round() as i64;
        let key = (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
        let cat = e["cat"].as_str().unwrap().to_string();
        slices.entry(key).or_default().push((start, end, cat));
    }
    for (key, list) in &mut slices {
        assert!(key.1 > 0, "{key:?}: thread 0");
        list.sort_by_key(|&(s, e, _)| (s, std::cmp::Reverse(e)));
        let mut stack: Vec<(i64, i64)> = Vec::new();
        for &(s, e, _) in list.iter() {
            while stack
                .last()
                .is_some_and(|&(_, end)| end <= s && !(end == s && e == s))
            {
                stack.pop();
            }
            if let Some(&(ps, pe)) = stack.last() {
                assert!(
                    ps <= s && e <= pe,
                    "{key:?}: [{s}, {e}] overlaps [{ps}, {pe}]"
                );
            }
            stack.push((s, e));
        }
    }
    let mut flows: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for e in events.iter().filter(|e| e["ph"] == "s" || e["ph"] == "f") {
        flows.entry(e["id"].as_u64().unwrap()).or_default().push(e);
    }
    for (id, ends) in &flows {
        assert_eq!(ends.len(), 2, "flow {id}");
        assert_eq!(ends[0]["ph"], "s");
        assert_eq!(ends[1]["ph"], "f");
        for end in ends {
            let key = (end["pid"].as_u64().unwrap(), end["tid"].as_u64().unwrap());
            let at = ts(end);
            let cat = end["cat"].as_str().unwrap();
            assert!(
                slices[&key].iter().any(|(s, _, c)| c == cat && *s == at),
                "flow {id} is bound to no slice: {end}"
            );
        }
    }
    value
}

#[test]
fn the_chrome_json_is_valid_nested_and_linked() {
    for (name, compiled) in cases() {
        let seed = compiled.scenario().seed;
        let (outcome, trace) = run_traced(&compiled, seed, None, everything());
        let json = chrome_json(&compiled, seed, &outcome, &trace);
        let value = check_chrome(&json);
        let events = value["traceEvents"].as_array().unwrap();
        let count = |cat: &str| {
            events
                .iter()
                .filter(|e| e["ph"] == "X" && e["cat"] == cat)
                .count() as u64
        };
        assert_eq!(count("attempt"), attempts(&trace), "{name}");
        assert_eq!(value["otherData"]["sampled"], false, "{name}");
        let processes = events
            .iter()
            .filter(|e| e["name"] == "process_name")
            .filter(|e| e["args"]["name"].as_str().unwrap().starts_with("request #"))
            .count() as u64;
        assert_eq!(
            processes, trace.counts.kept,
            "{name}: a process per request"
        );
        // Retries and hedges are linked to the attempts they follow.
        let linked = events
            .iter()
            .filter(|e| e["ph"] == "s" && e["cat"] == "attempt")
            .count();
        let followers = trace
            .requests
            .iter()
            .flat_map(|r| &r.spans)
            .filter(|s| s.after != u32::MAX)
            .count();
        assert_eq!(linked, followers, "{name}");
        if name == "hedging" {
            assert!(
                events
                    .iter()
                    .any(|e| e["name"].as_str().is_some_and(|n| n.starts_with("hedge 1")))
            );
        }
        if name == "retry-storm-fixed" {
            assert!(
                events
                    .iter()
                    .any(|e| e["name"].as_str().is_some_and(|n| n.starts_with("retry 1")))
            );
            assert!(
                events.iter().any(|e| e["cat"] == "breaker"),
                "breaker transitions"
            );
        }
        if name == "failover-ejection" {
            assert!(events.iter().any(|e| e["cat"] == "ejection"), "ejections");
        }
        if name == "saga-checkout" {
            // Every saga the run started is in its request's trace, and
            // ends as the run counted it.
            let summary = Summary::new(&compiled, seed, &outcome);
            let sagas = summary.sagas.values().next().expect("an orchestrator");
            let spans: Vec<&Value> = events.iter().filter(|e| e["cat"] == "saga").collect();
            assert_eq!(spans.len() as u64, sagas.started);
            let ended =
                |how: &str| spans.iter().filter(|e| e["args"]["ended"] == how).count() as u64;
            assert_eq!(ended("completed"), sagas.completed);
            assert_eq!(ended("compensated"), sagas.compensated);
        }
    }
}

#[test]
fn failed_requests_are_linked_to_the_faults_active_when_they_failed() {
    // Faults from 2 s to 22 s on the backend.
    let compiled = bundled("retry-storm-fixed", "8s", 28.0);
    let seed = compiled.scenario().seed;
    let (outcome, trace) = run_traced(&compiled, seed, None, everything());
    let value = check_chrome(&chrome_json(&compiled, seed, &outcome, &trace));
    let events = value["traceEvents"].as_array().unwrap();
    let failures: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("failed: "))
        })
        .collect();
    let failed = trace
        .requests
        .iter()
        .filter(|r| r.ended.is_some_and(|(_, s)| s != Status::Ok))
        .count();
    assert_eq!(failures.len(), failed);
    let (during, outside): (Vec<&Value>, Vec<&Value>) = failures
        .iter()
        .partition(|e| e["ts"].as_f64().unwrap() >= 2e6);
    assert!(during.len() > 10, "{}", during.len());
    for e in &during {
        let faults = e["args"]["faults"].as_array().unwrap();
        assert_eq!(faults.len(), 2, "both faults are on the backend: {e}");
    }
    for e in &outside {
        assert!(e["args"]["faults"].as_array().unwrap().is_empty(), "{e}");
    }
    let arrows = events
        .iter()
        .filter(|e| e["ph"] == "f" && e["cat"] == "fault")
        .count();
    assert_eq!(arrows, 2 * during.len());
}

#[test]
fn filters_keep_what_they_say() {
    let compiled = bundled("hedging", "5s", 28.0);
    let seed = compiled.scenario().seed;
    let (_, all) = run_traced(&compiled, seed, None, everything());
    let ids = |t: &Trace| t.requests.iter().map(|r| r.id).collect::<Vec<_>>();
    // A route.
    let (_, one_route) = run_traced(
        &compiled,
        seed,
        None,
        TraceFilter {
            route: Some(1),
            ..everything()
        },
    );
    let expected: Vec<u64> = all
        .requests
        .iter()
        .filter(|r| r.route == 1)
        .map(|r| r.id)
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(ids(&one_route), expected);
    assert_eq!(
        one_route.requests,
        all.requests
            .iter()
            .filter(|r| r.route == 1)
            .cloned()
            .collect::<Vec<_>>(),
        "a filtered request is traced exactly as in the whole trace"
    );
    // A window: running at some point between 2 s and 3 s.
    let (from, until) = (
        SimTime::from_nanos(2_000_000_000),
        SimTime::from_nanos(3_000_000_000),
    );
    let (_, window) = run_traced(
        &compiled,
        seed,
        None,
        TraceFilter {
            from: Some(from),
            until: Some(until),
            ..everything()
        },
    );
    let expected: Vec<u64> = all
        .requests
        .iter()
        .filter(|r| r.sent <= until && r.ended.is_none_or(|(at, _)| at >= from))
        .map(|r| r.id)
        .collect();
    assert!(expected.len() > 1000 && expected.len() < all.requests.len() / 2);
    assert_eq!(ids(&window), expected);
    // One request.
    let id = all.requests[all.requests.len() / 2].id;
    let (_, one) = run_traced(
        &compiled,
        seed,
        None,
        TraceFilter {
            request: Some(id),
            ..everything()
        },
    );
    assert_eq!(ids(&one), [id]);
    assert_eq!(one.counts.matched, 1);
    // Failed ones, in a run with failures.
    let storm = bundled("retry-storm-fixed", "8s", 28.0);
    let seed = storm.scenario().seed;
    let (outcome, all) = run_traced(&storm, seed, None, everything());
    let (_, failed) = run_traced(
        &storm,
        seed,
        None,
        TraceFilter {
            failed_only: true,
            ..everything()
        },
    );
    let summary = Summary::new(&storm, seed, &outcome);
    let route = summary.routes.values().next().unwrap();
    let expected_failed = route.requests
        - route.successes
        - route.in_flight_at_end
        - route.failures.capped.unwrap_or(0);
    assert!(expected_failed > 10);
    assert_eq!(
        failed.counts.kept, expected_failed,
        "every failed request, by the run's counts"
    );
    let expected: Vec<u64> = all
        .requests
        .iter()
        .filter(|r| r.ended.is_some_and(|(_, s)| s != Status::Ok))
        .map(|r| r.id)
        .collect();
    assert_eq!(ids(&failed), expected);
}

#[test]
fn a_long_run_is_sampled_by_the_hash_of_its_ids_and_says_so() {
    let compiled = bundled("hedging", "5s", 28.0);
    let seed = compiled.scenario().seed;
    let (_, all) = run_traced(&compiled, seed, None, everything());
    let (outcome, sample) = run_traced(
        &compiled,
        seed,
        None,
        TraceFilter {
            limit: 100,
            ..TraceFilter::default()
        },
    );
    assert_eq!(sample.counts.kept, 100);
    assert_eq!(sample.counts.matched, all.counts.matched);
    assert_eq!(sample.counts.sampled_out, all.counts.matched - 100);
    let mut by_hash: Vec<u64> = all.requests.iter().map(|r| r.id).collect();
    by_hash.sort_by_key(|&id| (sample_hash(id), id));
    let mut expected = by_hash[..100].to_vec();
    expected.sort_unstable();
    let kept: Vec<u64> = sample.requests.iter().map(|r| r.id).collect();
    assert_eq!(kept, expected, "the 100 smallest hashes");
    for r in &sample.requests {
        let whole = all.requests.iter().find(|a| a.id == r.id).unwrap();
        assert_eq!(r, whole, "a sampled request is traced whole");
    }
    let value = check_chrome(&chrome_json(&compiled, seed, &outcome, &sample));
    assert_eq!(value["otherData"]["sampled"], true);
    assert!(
        value["otherData"]["note"]
            .as_str()
            .unwrap()
            .contains("a sample")
    );
}

/// A fresh directory for one case.
fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshsim-trace-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_command_writes_the_same_trace_twice_and_refuses_bad_flags() {
    let dir = temp("cli");
    let file = dir.join("t.json");
    let replay = |extra: &[&str]| {
        Command::new(BIN)
            .args(["replay", "scenarios/mm1.json", "--seed", "4", "--trace"])
            .arg(&file)
            .args(extra)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("runs")
    };
    let out = replay(&["--until", "2s", "--limit", "300"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("wrote ") && stdout.contains("300 requests"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("note: the trace is a sample"));
    let first = std::fs::read(&file).unwrap();
    let value = check_chrome(std::str::from_utf8(&first).unwrap());
    assert_eq!(value["otherData"]["seed"], 4);
    assert_eq!(
        replay(&["--until", "2s", "--limit", "300"]).status.code(),
        Some(0)
    );
    assert_eq!(std::fs::read(&file).unwrap(), first, "byte-identical");
    std::fs::remove_file(&file).unwrap();
    for (flags, says) in [
        (&["--route", "nope"][..], "no such route"),
        (&["--limit", "0"][..], "--limit 0"),
        (
            &["--from", "3s", "--until", "1s"][..],
            "the window is empty",
        ),
        (&["--from", "soon"][..], "--from soon"),
    ] {
        let out = replay(flags);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{flags:?}: {stderr}");
        assert!(!file.exists(), "{flags:?}: nothing written");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
