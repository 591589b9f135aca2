use super::*;

/// Heap entries and slab slots are copied on every event: keep them small
/// (a 216-byte call record once cost 10% of an M/M/1 run in memmove).
#[test]
fn hot_records_stay_small() {
    let event = std::mem::size_of::<Event>();
    assert!(event <= 16, "Event: {event}");
    // 56 since a job knows its request: its slab slot (generation and
    // tag included) is then one 64-byte cache line.
    let job = std::mem::size_of::<Job>();
    assert!(job <= 56, "Job: {job}");
    let slot = std::mem::size_of::<Option<Job>>() + 4;
    assert!(slot <= 64, "a job's slab slot: {slot}");
    let call = std::mem::size_of::<calls::CallState>();
    assert!(call <= 128, "CallState: {call}");
}

/// The size estimate (`scenario/size.rs`) is an upper bound: none of its
/// constants is smaller than the records it stands for, with their slab
/// slot and the heap entry of an event or timer each.
#[test]
fn the_size_estimate_covers_the_records() {
    use crate::scenario::size::*;
    use std::mem::size_of;
    let entry = 40; // a heap entry: (time, seq) key and a 16-byte event
    let slot = |record: usize| (record + 8) as u64;
    let (have, bound) = (slot(size_of::<Job>()) + entry, JOB_BYTES);
    assert!(have <= bound, "JOB_BYTES: {have} > {bound}");
    let (have, bound) = (
        slot(size_of::<calls::AttemptState>()) + entry,
        ATTEMPT_BYTES,
    );
    assert!(have <= bound, "ATTEMPT_BYTES: {have} > {bound}");
    let retry = size_of::<crate::patterns::retry::RetryState>();
    let (have, bound) = (
        slot(size_of::<calls::CallState>()) + slot(retry) + entry,
        CALL_BYTES,
    );
    assert!(have <= bound, "CALL_BYTES: {have} > {bound}");
    let (have, bound) = (slot(size_of::<RequestContext>()), REQUEST_BYTES);
    assert!(have <= bound, "REQUEST_BYTES: {have} > {bound}");
    let (have, bound) = (
        size_of::<crate::scenario::compile::RateLimiter>() as u64,
        LIMITER_BYTES,
    );
    assert!(have <= bound, "LIMITER_BYTES: {have} > {bound}");
    let (have, bound) = (
        size_of::<crate::metrics::InstanceRow>() as u64,
        INSTANCE_ROW_BYTES,
    );
    assert!(have <= bound, "an instance row: {have} > {bound}");
    let (have, bound) = (size_of::<Instance>() as u64 + 32, INSTANCE_BYTES);
    assert!(have <= bound, "INSTANCE_BYTES: {have} > {bound}");
    let (have, bound) = (
        size_of::<EdgeModel>() as u64 + size_of::<EdgeStats>() as u64,
        ENTITY_BYTES,
    );
    assert!(have <= bound, "ENTITY_BYTES: {have} > {bound}");
    let (have, bound) = (size_of::<ServiceModel>() as u64, ENTITY_BYTES);
    assert!(have <= bound, "ENTITY_BYTES: {have} > {bound}");
    let (have, bound) = (
        size_of::<crate::metrics::WindowRow>() as u64,
        SERIES_ROW_BYTES,
    );
    assert!(have <= bound, "SERIES_ROW_BYTES: {have} > {bound}");
    let (have, bound) = (size_of::<policy::EdgeState>() as u64, UNIT_BYTES);
    assert!(have <= bound, "UNIT_BYTES: {have} > {bound}");
    let (have, bound) = (
        size_of::<(SimTime, SimTime, crate::metrics::autoscale::AutoscaleRow)>() as u64,
        AUTOSCALE_ROW_BYTES,
    );
    assert!(have <= bound, "AUTOSCALE_ROW_BYTES: {have} > {bound}");
    let (have, bound) = (
        size_of::<crate::metrics::autoscale::ScaleDecision>() as u64,
        DECISION_BYTES,
    );
    assert!(have <= bound, "DECISION_BYTES: {have} > {bound}");
    let (have, bound) = (
        size_of::<crate::metrics::autoscale::CapacityEpisode>() as u64,
        EPISODE_BYTES,
    );
    assert!(have <= bound, "EPISODE_BYTES: {have} > {bound}");
}
