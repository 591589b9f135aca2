//! A run's [`Trace`] as Chrome trace-event JSON (the "JSON Object Format"
//! that Perfetto and chrome://tracing open), for `meshsim replay --trace`.
//!
//! **Layout.** Each kept request is a process of its own (named
//! `request #ID ROUTE: STATUS`, sorted by id), so a viewer folds and
//! unfolds requests one by one. Its spans are complete events (`"ph":
//! "X"`): a call on an edge with a policy (`cat: "call"`), each attempt of
//! it (`"attempt"`: first, retry n or hedge n, with the instance it went
//! to), and the work that attempt became at the instance, queue included
//! (`"server"`), under which that work's own calls hang, and a saga an
//! orchestrator started for the request (`"saga"`), with its calls. A viewer needs the
//! spans of one thread strictly nested, and a request's are not (a hedge
//! overlaps the attempt it races; a gateway calls its backends in
//! parallel), so each span is put on the first lane (thread) of its request
//! where it nests, its parent's lane first: the first lane is the request itself,
//! the others are what ran beside it. A retry or a hedge is linked to the
//! attempt it follows by a flow arrow (`cat: "attempt"`); a refusal by an
//! open breaker, a full bulkhead, a rate limit or a throttle, and a retry
//! the budget denied, are instants on their call. A failed request ends in
//! a zero-length `failed: STATUS` slice, linked by a flow arrow (from the
//! fault's start) from every fault active at some moment while it ran
//! that touches it: a service it reached, a link both of whose ends it
//! reached, a partition two of whose sides it reached (its names also in
//! the slice's `faults` argument). A request's lanes are threads 1, 2, ….
//!
//! Faults are spans on a `faults` process (a thread each); breaker
//! transitions and outlier ejections are instants on a `breakers` and an
//! `ejections` process, a thread per edge, within the filter's window.
//! `otherData` says what the trace kept, and whether it is a sample.
//!
//! Time is the run's virtual time in microseconds with nanosecond decimals,
//! written from integers: the file depends only on (scenario, seed,
//! filter), byte for byte.

use std::fmt::Write;

pub mod command;

use crate::kernel::SimTime;
use crate::scenario::{Compiled, FaultTarget};
use crate::world::trace::{
    AttemptOf, InstantKind, MarkKind, NO_SPAN, RequestTrace, SagaEnd, Span, SpanEnd, SpanKind,
    Trace,
};
use crate::world::{RunOutcome, Status};

/// The process of the faults' spans.
const FAULTS_PID: u64 = 1;
/// The process of breaker transitions.
const BREAKERS_PID: u64 = 2;
/// The process of outlier ejections.
const EJECTIONS_PID: u64 = 3;
/// The first request's process.
const FIRST_REQUEST_PID: u64 = 10;

/// A request's thread for `lane`: from 1, since Perfetto before v52 merged
/// a process's thread 0 into its thread 1 (perfetto#2278), which would
/// put lane 0's slices over lane 1's.
fn tid(lane: u32) -> u64 {
    u64::from(lane) + 1
}

/// A timestamp or duration in microseconds, from nanoseconds.
fn micros(ns: u64) -> String {
    format!("{}.{:03}", ns / 1000, ns % 1000)
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

/// Names for the run's entities.
struct Names<'a> {
    run: &'a RunOutcome,
    /// Per instance (world-wide index), its service and index within it.
    instances: Vec<(u32, u32)>,
}

impl Names<'_> {
    fn instance(&self, instance: u32) -> String {
        match self.instances.get(instance as usize) {
            Some(&(service, local)) => {
                format!("{}#{local}", self.run.service_names[service as usize])
            }
            None => "no instance".to_string(),
        }
    }

    fn edge(&self, edge: u32) -> &str {
        &self.run.edges[edge as usize].name
    }

    fn service_of(&self, instance: u32) -> Option<u32> {
        self.instances.get(instance as usize).map(|&(s, _)| s)
    }
}

fn ending_name(ending: SpanEnd) -> &'static str {
    match ending {
        SpanEnd::Status(s) => s.name(),
        SpanEnd::Cancelled => "cancelled",
        SpanEnd::Dropped => "dropped",
        SpanEnd::Expired => "expired",
        SpanEnd::Open => "unfinished",
        SpanEnd::Saga(SagaEnd::Completed) => "completed",
        SpanEnd::Saga(SagaEnd::Compensated) => "compensated",
        SpanEnd::Saga(SagaEnd::DeadLettered) => "dead_lettered",
    }
}

/// Each span's lane: the first where it nests (its parent's first), so
/// that every lane's spans are strictly nested.
///
/// The spans are placed in the order they start (a span before its
/// children on a tie: a child never starts before its parent), not the
/// order they were opened: a server span opens when its attempt is sent
/// but starts when it arrives, and a lane's stack forgets the spans that
/// ended before the latest start it has seen, so a span placed out of
/// start order could land on a lane beside a span it overlaps.
fn lanes(spans: &[Span]) -> (Vec<u32>, u32) {
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by_key(|&i| (spans[i].start, i));
    let mut stacks: Vec<Vec<(SimTime, SimTime)>> = Vec::new();
    let mut lane_of = vec![u32::MAX; spans.len()];
    for i in order {
        let span = &spans[i];
        let preferred = match span.parent {
            NO_SPAN => 0,
            p => lane_of[p as usize],
        };
        debug_assert!(preferred != u32::MAX, "a parent is placed first");
        let fits = |stack: &mut Vec<(SimTime, SimTime)>| {
            while stack.last().is_some_and(|&(_, end)| end <= span.start) {
                stack.pop();
            }
            stack
                .last()
                .is_none_or(|&(start, end)| start <= span.start && span.end <= end)
        };
        let lane = if stacks.get_mut(preferred as usize).is_some_and(fits) {
            preferred
        } else {
            match stacks.iter_mut().position(fits) {
                Some(lane) => lane as u32,
                None => {
                    stacks.push(Vec::new());
                    stacks.len() as u32 - 1
                }
            }
        };
        stacks[lane as usize].push((span.start, span.end));
        lane_of[i] = lane;
    }
    (lane_of, stacks.len() as u32)
}

/// Whether `fault` touches a request whose attempts reached `services`
/// (the clients' node, or any node beyond the services, reaches every
/// request).
fn touches(fault: &FaultTarget, services: &[u32], instances: &[(u32, u32)], nodes: u32) -> bool {
    let reached = |s: u32| s >= nodes || services.binary_search(&s).is_ok();
    // A fault of one instance touches a request that reached it, or that
    // called its service without reaching any of its instances (refused
    // before it was sent, or lost on the way): what it met may be that
    // instance's doing (a breaker its failures opened).
    let instance_of = |service: u32, instance: Option<u32>| match instance {
        None => services.binary_search(&service).is_ok(),
        Some(i) => {
            instances.binary_search(&(service, i)).is_ok()
                || (services.binary_search(&service).is_ok()
                    && !instances.iter().any(|&(s, _)| s == service))
        }
    };
    match fault {
        FaultTarget::Crash { service, instance }
        | FaultTarget::Stop { service, instance }
        | FaultTarget::ServiceLatency {
            service, instance, ..
        }
        | FaultTarget::Errors {
            service, instance, ..
        }
        | FaultTarget::Slowdown {
            service, instance, ..
        } => instance_of(*service, *instance),
        FaultTarget::RegistryOutage { service }
        | FaultTarget::ScaleLimit { service, .. }
        | FaultTarget::MetricsOutage { service }
        | FaultTarget::SlowBoot { service, .. }
        | FaultTarget::Split { service, .. } => services.binary_search(service).is_ok(),
        // A link is on the request's way only if it reached both ends (a
        // link from the clients to one service does not touch the requests
        // that never called it).
        FaultTarget::LinkLatency { a, b, .. }
        | FaultTarget::Loss {
            link: Some((a, b)), ..
        } => reached(*a) && reached(*b),
        // A partition, only a request that reached two of its sides.
        FaultTarget::Partition { groups } => {
            groups
                .iter()
                .filter(|g| g.iter().any(|&s| reached(s)))
                .count()
                >= 2
        }
        FaultTarget::Loss { link: None, .. } | FaultTarget::ZoneOutage { .. } => true,
    }
}

/// The writer of the events.
struct Out {
    text: String,
    first: bool,
    flows: u64,
}

impl Out {
    fn event(&mut self, body: &str) {
        if !self.first {
            self.text.push_str(",\n");
        }
        self.first = false;
        self.text.push('{');
        self.text.push_str(body);
        self.text.push('}');
    }

    fn meta(&mut self, pid: u64, tid: Option<u64>, what: &str, args: &str) {
        let tid = tid.map_or(String::new(), |t| format!(",\"tid\":{t}"));
        self.event(&format!(
            "\"name\":\"{what}\",\"ph\":\"M\",\"pid\":{pid}{tid},\"args\":{{{args}}}"
        ));
    }

    /// A flow arrow from the slice at (`from`, `at`) to the one enclosing
    /// (`to`, `to_at`); both slices of category `cat`.
    fn flow(&mut self, cat: &str, name: &str, from: (u64, u64, u64), to: (u64, u64, u64)) {
        self.flows += 1;
        let id = self.flows;
        self.event(&format!(
            "\"name\":{},\"cat\":\"{cat}\",\"ph\":\"s\",\"id\":{id},\"ts\":{},\"pid\":{},\"tid\":{}",
            quoted(name),
            micros(from.2),
            from.0,
            from.1
        ));
        self.event(&format!(
            "\"name\":{},\"cat\":\"{cat}\",\"ph\":\"f\",\"bp\":\"e\",\"id\":{id},\"ts\":{},\"pid\":{},\"tid\":{}",
            quoted(name),
            micros(to.2),
            to.0,
            to.1
        ));
    }
}

/// The trace of `run` as Chrome trace-event JSON.
pub fn chrome_json(compiled: &Compiled, seed: u64, run: &RunOutcome, trace: &Trace) -> String {
    let mut instances = Vec::new();
    for (service, counts) in run.instances.counts.iter().enumerate() {
        for local in 0..counts.len() as u32 {
            instances.push((service as u32, local));
        }
    }
    let names = Names { run, instances };
    let in_window = |at: SimTime| {
        trace.filter.from.is_none_or(|f| at >= f) && trace.filter.until.is_none_or(|u| at <= u)
    };
    // Breaker transitions, within the window, at most MAX_INSTANTS.
    let in_window_breakers = run
        .breaker_events
        .iter()
        .filter(|b| in_window(b.at))
        .count();
    let breakers: Vec<_> = run
        .breaker_events
        .iter()
        .filter(|b| in_window(b.at))
        .take(crate::world::trace::MAX_INSTANTS)
        .collect();
    // The header first, and the events after it in the same string: the
    // trace is held once.
    let mut out = Out {
        text: header(
            compiled,
            seed,
            run,
            trace,
            in_window_breakers - breakers.len(),
        ),
        first: true,
        flows: 0,
    };
    let end = run.end.as_nanos();
    // Faults.
    out.meta(FAULTS_PID, None, "process_name", "\"name\":\"faults\"");
    out.meta(FAULTS_PID, None, "process_sort_index", "\"sort_index\":0");
    let fault_name = |i: usize| {
        let f = &run.faults[i];
        format!("fault {}: {} {}", i + 1, f.kind, f.target)
    };
    for (i, f) in run.faults.iter().enumerate() {
        let tid = i as u64 + 1;
        out.meta(
            FAULTS_PID,
            Some(tid),
            "thread_name",
            &format!("\"name\":{}", quoted(&fault_name(i))),
        );
        if f.start.as_nanos() > end {
            continue;
        }
        let stop = f.end.map_or(end, |e| e.as_nanos().min(end));
        out.event(&format!(
            "\"name\":{},\"cat\":\"fault\",\"ph\":\"X\",\"ts\":{},\"dur\":{},\"pid\":{FAULTS_PID},\"tid\":{tid},\"args\":{{\"ends\":\"{}\"}}",
            quoted(&format!("{} {}", f.kind, f.target)),
            micros(f.start.as_nanos()),
            micros(stop - f.start.as_nanos()),
            if f.end.is_some() { "in the run" } else { "after the run" }
        ));
    }
    if !breakers.is_empty() {
        out.meta(BREAKERS_PID, None, "process_name", "\"name\":\"breakers\"");
        out.meta(BREAKERS_PID, None, "process_sort_index", "\"sort_index\":1");
        let mut named: Vec<u32> = breakers.iter().map(|b| b.edge).collect();
        named.sort_unstable();
        named.dedup();
        for &edge in &named {
            out.meta(
                BREAKERS_PID,
                Some(u64::from(edge) + 1),
                "thread_name",
                &format!("\"name\":{}", quoted(names.edge(edge))),
            );
        }
        for b in &breakers {
            out.event(&format!(
                "\"name\":\"{} -> {}\",\"cat\":\"breaker\",\"ph\":\"i\",\"s\":\"t\",\"ts\":{},\"pid\":{BREAKERS_PID},\"tid\":{},\"args\":{{\"unit\":{}}}",
                b.from,
                b.to,
                micros(b.at.as_nanos()),
                b.edge + 1,
                b.unit
            ));
        }
    }
    if !trace.instants.is_empty() {
        out.meta(
            EJECTIONS_PID,
            None,
            "process_name",
            "\"name\":\"ejections\"",
        );
        out.meta(
            EJECTIONS_PID,
            None,
            "process_sort_index",
            "\"sort_index\":2",
        );
        let mut named: Vec<u32> = trace
            .instants
            .iter()
            .map(|i| match i.kind {
                InstantKind::Ejected { edge, .. } => edge,
            })
            .collect();
        named.sort_unstable();
        named.dedup();
        for &edge in &named {
            out.meta(
                EJECTIONS_PID,
                Some(u64::from(edge) + 1),
                "thread_name",
                &format!("\"name\":{}", quoted(names.edge(edge))),
            );
        }
        for i in &trace.instants {
            let InstantKind::Ejected {
                edge,
                unit,
                instance,
            } = i.kind;
            out.event(&format!(
                "\"name\":{},\"cat\":\"ejection\",\"ph\":\"i\",\"s\":\"t\",\"ts\":{},\"pid\":{EJECTIONS_PID},\"tid\":{},\"args\":{{\"unit\":{unit}}}",
                quoted(&format!("ejected {}", names.instance(instance))),
                micros(i.at.as_nanos()),
                edge + 1
            ));
        }
    }
    let nodes = run.service_names.len() as u32;
    for (ordinal, request) in trace.requests.iter().enumerate() {
        let pid = FIRST_REQUEST_PID + ordinal as u64;
        write_request(&mut out, pid, request, &names, compiled, nodes, &fault_name);
    }
    out.text.push_str("\n]}\n");
    out.text
}

/// The file's start: `otherData`, what the trace kept, and the opening of
/// `traceEvents`.
fn header(
    compiled: &Compiled,
    seed: u64,
    run: &RunOutcome,
    trace: &Trace,
    breakers_dropped: usize,
) -> String {
    let c = &trace.counts;
    let sampled = c.sampled_out > 0;
    let note = if sampled {
        format!(
            "a sample: {} of the {} requests that matched, those with the smallest hash of their id (raise --limit, or narrow with --route, --from, --until, --failed or --request)",
            c.kept, c.matched
        )
    } else {
        format!("every request that matched ({})", c.matched)
    };
    let mut text = String::from("{\"displayTimeUnit\":\"ms\",\n\"otherData\":{");
    let _ = write!(
        text,
        "\"scenario\":{},\"seed\":{seed},\"meshsim\":\"{}\",\"time\":\"virtual time of the run, in microseconds\",\"requests\":{},\"matched\":{},\"kept\":{},\"sampled\":{sampled},\"spans_dropped\":{},\"instants_dropped\":{},\"breaker_events_dropped\":{},\"breaker_instants_dropped\":{breakers_dropped},\"not_traced\":\"work no client request asked for: publishes, deliveries, choreography steps, health checks\",\"note\":{}",
        quoted(&compiled.scenario().name),
        env!("CARGO_PKG_VERSION"),
        c.requests,
        c.matched,
        c.kept,
        c.spans_dropped,
        c.instants_dropped,
        run.breaker_events_dropped,
        quoted(&note),
    );
    text.push_str("},\n\"traceEvents\":[\n");
    text
}

fn write_request(
    out: &mut Out,
    pid: u64,
    request: &RequestTrace,
    names: &Names<'_>,
    compiled: &Compiled,
    nodes: u32,
    fault_name: &dyn Fn(usize) -> String,
) {
    let run = names.run;
    let status = request
        .ended
        .map_or("unfinished", |(_, status)| status.name());
    let route = &run.route_names[request.route as usize];
    out.meta(
        pid,
        None,
        "process_name",
        &format!(
            "\"name\":{}",
            quoted(&format!("request #{} {route}: {status}", request.id))
        ),
    );
    out.meta(
        pid,
        None,
        "process_sort_index",
        &format!("\"sort_index\":{pid}"),
    );
    let (lane_of, lanes) = lanes(&request.spans);
    for lane in 0..lanes.max(1) {
        let name = if lane == 0 {
            "request".to_string()
        } else {
            format!("in parallel {lane}")
        };
        out.meta(
            pid,
            Some(tid(lane)),
            "thread_name",
            &format!("\"name\":\"{name}\""),
        );
    }
    for (i, span) in request.spans.iter().enumerate() {
        let tid = tid(lane_of[i]);
        let (cat, name, mut args) = match span.kind {
            SpanKind::Call { edge } => (
                "call",
                format!("call {}", names.edge(edge)),
                format!("\"edge\":{}", quoted(names.edge(edge))),
            ),
            SpanKind::Attempt {
                edge,
                of,
                n,
                instance,
                lost,
            } => {
                let to = names.instance(instance);
                let what = match (span.parent, of) {
                    (_, AttemptOf::Retry) => format!("retry {n}"),
                    (_, AttemptOf::Hedge) => format!("hedge {n}"),
                    (p, AttemptOf::First)
                        if p != NO_SPAN
                            && matches!(request.spans[p as usize].kind, SpanKind::Call { .. }) =>
                    {
                        "attempt".to_string()
                    }
                    _ => names.edge(edge).to_string(),
                };
                let lost = if lost { " (lost)" } else { "" };
                (
                    "attempt",
                    format!("{what} -> {to}{lost}"),
                    format!(
                        "\"edge\":{},\"attempt\":\"{}\",\"instance\":{},\"lost\":{}",
                        quoted(names.edge(edge)),
                        match of {
                            AttemptOf::First => "first",
                            AttemptOf::Retry => "retry",
                            AttemptOf::Hedge => "hedge",
                        },
                        quoted(&to),
                        !lost.is_empty()
                    ),
                )
            }
            SpanKind::Server { instance } => (
                "server",
                names.instance(instance),
                format!(
                    "\"service\":{}",
                    quoted(
                        &names
                            .service_of(instance)
                            .map_or(String::new(), |s| run.service_names[s as usize].clone())
                    )
                ),
            ),
            SpanKind::Saga { instance } => (
                "saga",
                format!("saga (started by {})", names.instance(instance)),
                format!("\"orchestrator\":{}", quoted(&names.instance(instance))),
            ),
        };
        let _ = write!(args, ",\"ended\":\"{}\"", ending_name(span.ending));
        out.event(&format!(
            "\"name\":{},\"cat\":\"{cat}\",\"ph\":\"X\",\"ts\":{},\"dur\":{},\"pid\":{pid},\"tid\":{tid},\"args\":{{{args}}}",
            quoted(&name),
            micros(span.start.as_nanos()),
            micros((span.end - span.start).as_nanos()),
        ));
        if span.after != NO_SPAN {
            let before = &request.spans[span.after as usize];
            out.flow(
                "attempt",
                "after",
                (
                    pid,
                    self::tid(lane_of[span.after as usize]),
                    before.start.as_nanos(),
                ),
                (pid, tid, span.start.as_nanos()),
            );
        }
    }
    for mark in &request.marks {
        let tid = tid(lane_of[mark.span as usize]);
        let name = match mark.kind {
            MarkKind::Refused(status, of) => format!(
                "{} ({} refused)",
                status.name(),
                match of {
                    AttemptOf::First => "attempt",
                    AttemptOf::Retry => "retry",
                    AttemptOf::Hedge => "hedge",
                }
            ),
            // A hedge is withdrawn from the same budget (or throttle).
            MarkKind::RetryDenied(of) => format!(
                "{} denied (retry budget)",
                if of == AttemptOf::Hedge {
                    "hedge"
                } else {
                    "retry"
                }
            ),
        };
        out.event(&format!(
            "\"name\":{},\"cat\":\"policy\",\"ph\":\"i\",\"s\":\"t\",\"ts\":{},\"pid\":{pid},\"tid\":{tid}",
            quoted(&name),
            micros(mark.at.as_nanos()),
        ));
    }
    let Some((at, status)) = request.ended.filter(|(_, s)| *s != Status::Ok) else {
        return;
    };
    // The instances its attempts reached, as (service, index in it).
    let mut reached: Vec<(u32, u32)> = request
        .spans
        .iter()
        .filter_map(|s| match s.kind {
            SpanKind::Attempt { instance, .. } if instance != u32::MAX => {
                names.instances.get(instance as usize).copied()
            }
            _ => None,
        })
        .collect();
    reached.sort_unstable();
    reached.dedup();
    // The failure, and the faults active while the request ran (a crash
    // that dropped its work and was over by the time its timeout fired is
    // still its cause) that touch it.
    let linked: Vec<usize> = run
        .faults
        .iter()
        .enumerate()
        .filter(|(_, f)| f.start <= at && f.end.is_none_or(|e| request.sent < e))
        .filter(|&(i, _)| {
            compiled
                .faults()
                .get(i)
                .is_some_and(|t| touches(t, &request.services, &reached, nodes))
        })
        .map(|(i, _)| i)
        .collect();
    let faults: Vec<String> = linked.iter().map(|&i| quoted(&fault_name(i))).collect();
    out.event(&format!(
        "\"name\":{},\"cat\":\"fault\",\"ph\":\"X\",\"ts\":{},\"dur\":0,\"pid\":{pid},\"tid\":{},\"args\":{{\"status\":\"{}\",\"faults\":[{}]}}",
        quoted(&format!("failed: {}", status.name())),
        micros(at.as_nanos()),
        tid(0),
        status.name(),
        faults.join(",")
    ));
    for i in linked {
        // From the fault's span, at its start (DevTools binds a flow only to
        // a slice of its category, thread and timestamp), to the failure.
        out.flow(
            "fault",
            "during",
            (FAULTS_PID, i as u64 + 1, run.faults[i].start.as_nanos()),
            (pid, tid(0), at.as_nanos()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(parent: u32, start: u64, end: u64) -> Span {
        Span {
            kind: SpanKind::Server { instance: 0 },
            parent,
            start: SimTime::from_nanos(start),
            end: SimTime::from_nanos(end),
            ending: SpanEnd::Open,
            after: NO_SPAN,
        }
    }

    #[test]
    fn spans_that_overlap_without_nesting_go_to_other_lanes() {
        // A call, its attempt, a hedge racing it (overlapping the attempt,
        // not within it), a retry after both, and a child outliving its
        // parent.
        let spans = [
            span(NO_SPAN, 0, 100),
            span(0, 0, 40),
            span(0, 20, 60),
            span(0, 60, 90),
            span(3, 70, 120),
        ];
        let (lanes, count) = lanes(&spans);
        // The hedge's lane is free again when the late child starts.
        assert_eq!(lanes, [0, 0, 1, 0, 1]);
        assert_eq!(count, 2);
    }

    #[test]
    fn a_server_span_that_starts_late_does_not_unseat_an_earlier_one() {
        // A call, its first attempt (timed out at 100), that attempt's work
        // opened when it was sent but arriving at 150 and outliving the
        // call, and a hedge opened after it, sent at 50, which overlaps the
        // first attempt: it must not share the first attempt's lane.
        let spans = [
            span(NO_SPAN, 0, 300),
            span(0, 0, 100),
            span(1, 150, 400),
            span(0, 50, 300),
        ];
        let (lanes, count) = lanes(&spans);
        assert_eq!(lanes, [0, 0, 2, 1]);
        assert_eq!(count, 3);
    }

    #[test]
    fn a_link_or_a_partition_touches_only_the_requests_that_crossed_it() {
        // Services 0, 1, 2; node 3 is the clients'.
        let link = |a, b| FaultTarget::LinkLatency {
            a,
            b,
            add: crate::kernel::SimDuration::ZERO,
        };
        assert!(touches(&link(3, 0), &[0], &[], 3));
        assert!(!touches(&link(3, 1), &[0], &[], 3), "never called 1");
        assert!(touches(&link(0, 1), &[0, 1], &[], 3));
        assert!(!touches(&link(0, 1), &[0, 2], &[], 3));
        let partition = FaultTarget::Partition {
            groups: vec![vec![0, 2], vec![1]],
        };
        assert!(!touches(&partition, &[0, 2], &[], 3), "one side only");
        assert!(touches(&partition, &[0, 1], &[], 3));
    }

    #[test]
    fn an_instance_fault_touches_the_requests_that_reached_that_instance() {
        let crash = |instance| FaultTarget::Crash {
            service: 1,
            instance,
        };
        // Reached instance 0 of service 1 only.
        let reached = [(0, 0), (1, 0)];
        assert!(touches(&crash(Some(0)), &[0, 1], &reached, 3));
        assert!(
            !touches(&crash(Some(2)), &[0, 1], &reached, 3),
            "another instance"
        );
        assert!(
            touches(&crash(None), &[0, 1], &reached, 3),
            "every instance"
        );
        // Called service 1 but reached none of it (its breaker was open).
        assert!(touches(&crash(Some(2)), &[0, 1], &[(0, 0)], 3));
        assert!(
            !touches(&crash(Some(2)), &[0], &[(0, 0)], 3),
            "never called 1"
        );
    }

    #[test]
    fn micros_are_written_from_integers() {
        assert_eq!(micros(0), "0.000");
        assert_eq!(micros(1_234_567), "1234.567");
        assert_eq!(micros(999), "0.999");
    }
}
