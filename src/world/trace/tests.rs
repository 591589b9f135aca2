//! Unit tests of the tracer.

use super::*;

/// A request past its bound keeps what it has; a span past it is
/// counted, and so is everything under it, and none is kept.
#[test]
fn what_is_past_a_requests_bound_is_counted_with_everything_below_it() {
    let mut keys = super::super::slab::Slab::default();
    let mut tracer = Tracer::new(TraceFilter::default());
    tracer.live.insert(
        7,
        RequestTrace {
            id: 7,
            route: 0,
            client: 0,
            sent: SimTime::ZERO,
            ended: None,
            spans: Vec::new(),
            marks: Vec::new(),
            spans_dropped: 0,
            services: Vec::new(),
            open: 0,
            keys: Vec::new(),
        },
    );
    let call = |edge| fresh(SpanKind::Call { edge }, SimTime::ZERO);
    let mut last = None;
    for _ in 0..MAX_SPANS_PER_REQUEST {
        let key = keys.insert(());
        last = tracer.open(Anchor::Root(7), call(0), Table::Call, key);
        assert!(last.is_some());
    }
    // Past the bound: a call, an attempt under it, a job under that.
    let over = keys.insert(());
    assert!(
        tracer
            .open(Anchor::Span(last.unwrap()), call(1), Table::Call, over)
            .is_none()
    );
    let dropped = tracer.calls[&over];
    assert_eq!(dropped.span, NO_SPAN);
    let attempt = keys.insert(());
    assert!(
        tracer
            .open(Anchor::Span(dropped), call(2), Table::Attempt, attempt)
            .is_none()
    );
    let job = keys.insert(());
    let below = tracer.attempts[&attempt];
    assert!(
        tracer
            .open(Anchor::Span(below), call(3), Table::Job, job)
            .is_none()
    );
    assert_eq!(tracer.counts.spans_dropped, 3);
    assert_eq!(tracer.live[&7].spans_dropped, 3);
    assert_eq!(tracer.live[&7].spans.len(), MAX_SPANS_PER_REQUEST);
    // Their ends change nothing, and the request closes with its spans.
    tracer.close(Table::Job, job, SimTime::ZERO, SpanEnd::Dropped);
    tracer.close(Table::Attempt, attempt, SimTime::ZERO, SpanEnd::Dropped);
    assert_eq!(tracer.live[&7].open as usize, MAX_SPANS_PER_REQUEST);
    let trace = tracer.finish(SimTime::from_nanos(1), 1);
    assert_eq!(trace.requests[0].spans.len(), MAX_SPANS_PER_REQUEST);
    assert_eq!(trace.counts.spans_dropped, 3);
}

#[test]
fn the_sample_hash_is_fixed_forever() {
    // SplitMix64's first outputs from a state of 0 (Vigna's reference).
    assert_eq!(sample_hash(0), 0xe220_a839_7b1d_cdaf);
    assert_ne!(sample_hash(1), sample_hash(2));
}

#[test]
fn the_filter_judges_a_request_at_its_start_and_its_end() {
    let at = SimTime::from_nanos;
    let f = TraceFilter {
        route: Some(1),
        from: Some(at(100)),
        until: Some(at(200)),
        failed_only: true,
        request: None,
        limit: 10,
    };
    assert!(f.admits_start(7, 1, at(200)));
    assert!(!f.admits_start(7, 0, at(150)), "another route");
    assert!(!f.admits_start(7, 1, at(201)), "sent after the window");
    assert!(f.admits_end(Some((at(100), Status::Internal)), at(1000)));
    assert!(!f.admits_end(Some((at(99), Status::Internal)), at(1000)));
    assert!(!f.admits_end(Some((at(150), Status::Ok)), at(1000)));
    assert!(!f.admits_end(None, at(1000)), "still running is not failed");
    let one = TraceFilter {
        request: Some(3),
        ..TraceFilter::default()
    };
    assert!(one.admits_start(3, 0, at(5)) && !one.admits_start(4, 0, at(5)));
    assert!(one.admits_end(None, at(1000)));
}
