//! The autoscaling section of the page: one small table per autoscaled
//! service with the figures of its `autoscale` block in summary.json (its
//! bounds, what its syncs decided, the instances' cost and the time to
//! get ready capacity), and a line on the changes of the count. Nothing
//! for a run without an autoscaled service.

use std::fmt::Write;

use super::escape;
use super::tables::table;
use crate::report::summary::{AutoscaleSummary, Summary};

fn seconds(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_string(), |v| format!("{v:.1}"))
}

pub(super) fn autoscaling(out: &mut String, s: &Summary) {
    let scaled: Vec<(&String, &AutoscaleSummary)> = s
        .services
        .iter()
        .filter_map(|(name, v)| v.autoscale.as_ref().map(|a| (name, a)))
        .collect();
    if scaled.is_empty() {
        return;
    }
    out.push_str("<h2>Autoscaling</h2>\n");
    for (name, a) in scaled {
        let _ = writeln!(out, "<h3>service {}</h3>", escape(name));
        let t = &a.time_to_capacity;
        let row = vec![
            format!("{}–{}", a.min_instances, a.max_instances),
            a.initial_instances.to_string(),
            a.syncs.to_string(),
            a.scale_ups.to_string(),
            a.scale_downs.to_string(),
            a.syncs_without_metric.to_string(),
            a.rate_limited.to_string(),
            a.bounded.to_string(),
            a.starts_refused.to_string(),
            a.started.to_string(),
            a.stopped.to_string(),
            format!("{:.1}", a.instance_seconds),
            format!("{:.2}", a.mean_instances),
            a.peak_desired.to_string(),
            a.peak_ready.to_string(),
            t.shortfalls.to_string(),
            seconds(t.mean_s),
            seconds(t.max_s),
            t.open_at_end.to_string(),
        ];
        table(
            out,
            &[
                "instances (min–max)",
                "at start",
                "syncs",
                "scale-ups",
                "scale-downs",
                "without metric",
                "rate limited",
                "bounded",
                "starts refused",
                "started",
                "stopped",
                "instance-seconds",
                "mean instances",
                "peak decided",
                "peak ready",
                "shortfalls ended",
                "time to capacity mean s",
                "time to capacity max s",
                "shortfalls open at end",
            ],
            &[row],
            &[],
        );
        let changes = match (a.changes.first(), a.changes.last()) {
            (Some(first), Some(last)) => format!(
                "{} changes of the count, from {} at {:.1} s to {} at {:.1} s",
                a.changes.len(),
                first.from,
                first.at_s,
                last.to,
                last.at_s
            ),
            _ => "The count never changed".to_string(),
        };
        let dropped = if a.decisions_dropped > 0 {
            format!(" ({} later decisions not kept)", a.decisions_dropped)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "<p class=\"note\">{changes}{dropped}; each with its metric and reason in summary.json. \
             Time to capacity: from a sync that decided more instances than were ready until that \
             many were.</p>"
        );
    }
}
