//! The events section of the page: each producer (what it committed, what
//! it lost), each consumer group (what it applied, twice, late or never,
//! its lag and staleness), the read-your-writes checks, and each saga by
//! choreography with one row per step and its ledger. Nothing for a run
//! without a broker.

use std::fmt::Write;

use super::escape;
use super::tables::table;
use crate::report::summary::Summary;

pub(super) fn events(out: &mut String, s: &Summary) {
    let Some(e) = &s.events else {
        return;
    };
    out.push_str("<h2>Events</h2>\n");
    let _ = writeln!(
        out,
        "<p>{} events lost (committed by their producer, and never applied by a group nor sent to its dead-letter topic); {} duplicate effects (an event applied again).</p>",
        e.lost, e.duplicate_effects
    );
    let rows: Vec<Vec<String>> = e
        .publishers
        .iter()
        .map(|(service, p)| {
            vec![
                escape(service),
                escape(&p.topic),
                p.mode.to_string(),
                p.committed.to_string(),
                p.refused_full.to_string(),
                p.unpublished.to_string(),
                p.resent.to_string(),
                p.in_outbox_max.to_string(),
            ]
        })
        .collect();
    table(
        out,
        &[
            "producer",
            "topic",
            "mode",
            "committed",
            "refused (outbox full)",
            "never published (lost)",
            "resent",
            "most in the outbox",
        ],
        &rows,
        &[0, 1, 2],
    );
    let rows: Vec<Vec<String>> = e
        .groups
        .iter()
        .map(|(name, g)| {
            vec![
                escape(name),
                escape(&g.service),
                if g.idempotent { "yes" } else { "no" }.to_string(),
                g.applied.to_string(),
                g.redelivered.to_string(),
                g.duplicate_effects.to_string(),
                g.dead_lettered.to_string(),
                g.lost.to_string(),
                g.lag_max.to_string(),
                format!("{:.1}", g.staleness_ms.p50),
                format!("{:.1}", g.staleness_ms.p99),
            ]
        })
        .collect();
    table(
        out,
        &[
            "topic/group",
            "service",
            "idempotent",
            "applied",
            "redelivered",
            "duplicate effects",
            "dead-lettered",
            "lost",
            "most lag",
            "staleness p50 (ms)",
            "staleness p99 (ms)",
        ],
        &rows,
        &[0, 1, 2],
    );
    for (route, r) in &e.read_your_writes {
        let _ = writeln!(
            out,
            "<p>Route {} reads each write back from {} ({}): {} of {} reads ({:.1}%) did not find it (a read-your-writes violation).</p>",
            escape(route),
            escape(&r.read_route),
            escape(&r.group),
            r.stale_reads,
            r.reads,
            r.stale_share * 100.0
        );
    }
    for (name, c) in &e.choreographies {
        let _ = writeln!(
            out,
            "<h3>choreography {} (topic {}, started by {})</h3>",
            escape(name),
            escape(&c.topic),
            escape(&c.start)
        );
        let _ = writeln!(
            out,
            "<p>{} sagas started ({} refused): {} completed, {} compensated, {} still running at the end ({} waiting on an event a step lost, {} on one it dead-lettered). {} broke an invariant; {} effects came after their saga had ended. Every ledger conserved: {}. A saga took {:.1} ms at the median and {:.1} ms at p99 from its start to its end.</p>",
            c.started,
            c.refused,
            c.completed,
            c.compensated,
            c.running_at_end,
            c.running_lost,
            c.running_dead_lettered,
            c.violations,
            c.late_effects,
            if c.conserved { "yes" } else { "no" },
            c.duration_ms.p50,
            c.duration_ms.p99
        );
        let rows: Vec<Vec<String>> = c
            .steps
            .iter()
            .map(|st| {
                vec![
                    escape(&st.name),
                    escape(&st.service),
                    st.applied.to_string(),
                    st.failed.to_string(),
                    st.duplicate_effects.to_string(),
                    st.duplicates.to_string(),
                    st.undone.to_string(),
                    st.initial.to_string(),
                    st.total.to_string(),
                    (st.initial + st.accounted + st.in_flight).to_string(),
                    if st.conserved { "yes" } else { "no" }.to_string(),
                ]
            })
            .collect();
        table(
            out,
            &[
                "step",
                "service",
                "applied",
                "refused",
                "applied again",
                "duplicates caught",
                "undone",
                "balance at start",
                "at end",
                "as the sagas account for",
                "conserved",
            ],
            &rows,
            &[0, 1, 10],
        );
        for v in &c.violations_listed {
            let _ = writeln!(out, "<p>{}.</p>", escape(v));
        }
    }
}
