//! The sagas section of the page: per orchestrator, how its sagas ended,
//! one row per step with what its calls came to, its durations and the
//! sagas still running; then one row per stateful service with its
//! balances and what moved them (conservation). Nothing for a run without
//! sagas.

use std::fmt::Write;

use super::escape;
use super::tables::table;
use crate::report::summary::Summary;

pub(super) fn sagas(out: &mut String, s: &Summary) {
    if s.sagas.is_empty() {
        return;
    }
    out.push_str("<h2>Sagas</h2>\n");
    for (name, x) in &s.sagas {
        let _ = writeln!(out, "<h3>orchestrator {}</h3>", escape(name));
        let d = &x.dead_lettered;
        let _ = writeln!(
            out,
            "<p>{} sagas started ({} refused with a full log): {} completed, {} compensated, {} dead-lettered ({} by a compensation that kept failing, {} by a pivot whose outcome stayed unknown, {} by a retriable step that kept failing), {} still running at the end; {} resumed from the log after a restart. They made {} action calls and {} compensation calls.</p>",
            x.started,
            x.refused,
            x.completed,
            x.compensated,
            d.total,
            d.compensation_exhausted,
            d.pivot_uncertain,
            d.retriable_exhausted,
            x.stuck,
            x.recovered,
            x.action_calls,
            x.compensation_calls
        );
        let _ = writeln!(
            out,
            "<p>A saga took {:.1} ms at the median and {:.1} ms at p99 from start to end; a compensated one took {:.1} ms at the median and {:.1} ms at p99 from the failure that turned it back to its last compensation.</p>",
            x.duration_ms.p50,
            x.duration_ms.p99,
            x.time_to_compensate_ms.p50,
            x.time_to_compensate_ms.p99
        );
        let rows: Vec<Vec<String>> = x
            .steps
            .iter()
            .map(|st| {
                vec![
                    escape(&st.name),
                    escape(&st.service),
                    st.applied.to_string(),
                    st.rejected.to_string(),
                    st.failed.to_string(),
                    st.unknown.to_string(),
                    st.compensated.to_string(),
                    st.compensation_failed.to_string(),
                ]
            })
            .collect();
        table(
            out,
            &[
                "step",
                "service",
                "applied",
                "rejected",
                "failed",
                "unknown outcome",
                "compensated",
                "compensation failed",
            ],
            &rows,
            &[0, 1],
        );
        for dead in &x.dead_lettered_sagas {
            let _ = writeln!(
                out,
                "<p>Saga {} was dead-lettered: {}.</p>",
                dead.saga,
                escape(&dead.why)
            );
        }
        for stuck in &x.stuck_sagas {
            let _ = writeln!(
                out,
                "<p>Saga {} is still running: {}.</p>",
                stuck.saga,
                escape(&stuck.why)
            );
        }
    }
    if s.state.is_empty() {
        return;
    }
    let rows: Vec<Vec<String>> = s
        .state
        .iter()
        .map(|(name, st)| {
            vec![
                escape(name),
                st.initial_total.to_string(),
                st.total.to_string(),
                st.moved_by_ended.to_string(),
                st.moved_by_running.to_string(),
                st.applied.to_string(),
                st.undone.to_string(),
                st.duplicates.to_string(),
                st.rejected.to_string(),
                st.fenced.to_string(),
                st.no_ops.to_string(),
                st.compensation_duplicates.to_string(),
            ]
        })
        .collect();
    out.push_str(
        "<p>Conservation: each stateful service's total moved by exactly what the sagas that ended account for plus what the sagas still running hold.</p>\n",
    );
    table(
        out,
        &[
            "stateful service",
            "total at start",
            "total at end",
            "moved by ended sagas",
            "moved by running sagas",
            "applied",
            "undone",
            "duplicates",
            "rejected",
            "fenced",
            "nothing to undo",
            "compensation repeats",
        ],
        &rows,
        &[0],
    );
}
