//! The charts of the page: one figure per chart (its SVG inlined or linked,
//! else its PNG), with a title and a caption that says what to look for.
//! (Named `figures`, not `charts`, so as not to hide `report::charts`, whose
//! files it shows.)

use std::fmt::Write;

use super::escape;
use crate::report::charts;

/// The charts section: one figure per chart of `files`. `schedule`: the
/// workload has a rate schedule, whose changes the charts mark (the captions
/// say how).
pub(super) fn charts_section<'b>(
    out: &mut String,
    files: &[String],
    svg_text: impl Fn(&str) -> Option<&'b str>,
    schedule: bool,
) {
    // One picture per chart: the SVG, else the PNG.
    let mut shown: Vec<&str> = Vec::new();
    for file in files {
        let Some((stem, _)) = file.rsplit_once('.') else {
            continue;
        };
        if shown.contains(&stem) {
            continue;
        }
        let svg = files.iter().find(|f| **f == format!("{stem}.svg"));
        let png = files.iter().find(|f| **f == format!("{stem}.png"));
        match (svg, png) {
            (Some(svg), png) => figure(out, svg, svg_text(svg), png.map(String::as_str), schedule),
            (None, Some(png)) => figure(out, png, None, None, schedule),
            (None, None) => continue,
        }
        shown.push(stem);
    }
    if shown.is_empty() {
        out.push_str("<h2>Charts</h2>\n<p>No charts: nothing to draw.</p>\n");
    }
}

/// What to look for in each chart, by file stem (see [`charts::CHARTS`]).
const CAPTIONS: &[(&str, &str)] = &[
    (
        "latency",
        "Look for the p99 rising in a shaded fault window, and whether it falls back once the fault ends: a tail that stays high afterwards is a backlog that has not drained.",
    ),
    (
        "throughput",
        "Successes (green) should follow the offered rate (dashed: the workload's rate and schedule; a closed loop has none, its users wait for replies); a gap that opens in a fault and stays open after it is a system that does not recover on its own (a metastable failure).",
    ),
    (
        "service_queues",
        "A queue that keeps growing means more arrives than the workers can serve; one that stays long after a fault is a backlog still being worked off.",
    ),
    (
        "service_outcomes",
        "Which service fails, and how: its own errors, a dependency that failed, or requests rejected at a full queue.",
    ),
    (
        "amplification",
        "Only services called through a policy that retries or hedges. Above 1, a service receives more requests than its callers make calls: retries and hedges multiply the load, just when it struggles. Below 1 is not retrying: calls refused by the caller's breaker, bulkhead or limits, or lost on the network.",
    ),
    (
        "attempts",
        "Attempts per call above 1 are retries and hedges; a jump in a fault that no retry budget caps is how a retry storm starts.",
    ),
    (
        "breakers",
        "When each circuit breaker opened, probed (half-open) and closed again: an opening should follow a fault, and closing come soon after it ends.",
    ),
    (
        "instances",
        "Per balanced or discovered service, each instance's share of the attempts (dashed: an even share), the imbalance (the busiest instance's attempts ÷ the mean; 1 is even) and how many instances its callers could choose (ejected in vermillion, out of every pool in grey). After a crash, look for how long the crashed instance keeps its share: that is the time its callers take to stop sending to it; a slow instance that keeps an even share under round robin is the gray failure that power of two choices or outlier ejection should move traffic away from. Only the faults of that service and its instances are shaded on its panels.",
    ),
    (
        "autoscale",
        "Per autoscaled service, the count its autoscaler decided (the black step) over the instances it ran at each window's end, by state (ready in green, starting in blue, draining in orange), and below it the load that drove the decisions. Look for the lag between a rise in load and the ready instances catching up with the decided count: the boot time and the sync period add up to it, and in that gap the instances that are ready carry the load alone. A count that rises and falls with every sync is flapping (a stabilization window damps it); one that stays flat in a shaded metrics outage or scale limit is the autoscaler blind or refused. Only the faults of that service and its instances are shaded on its panels.",
    ),
    (
        "sagas",
        "Per saga orchestrator, the sagas that ended each second (completed in green, compensated in orange, dead-lettered in vermillion) against those started (dashed), and below it the sagas running at each window's end with the compensation calls made. In a fault (shaded), look for compensations replacing completions, and for the running count: it rises while sagas wait on retries and falls back once the fault ends; one that stays up is sagas stuck behind a participant or an orchestrator that is down. Dead-lettered sagas are a failure of the design: their state needs an operator.",
    ),
    (
        "lag",
        "Per consumer group, its lag at each window's end (the messages not yet committed, over its partitions; dashed, its highest partition's), and below it the staleness of the events it applied in each window, from their commit to their application (p50 in orange, p99 in vermillion, in seconds). In a broker outage (shaded) nothing reaches the log and nothing is applied (the staleness line breaks; an outbox keeps its events meanwhile); when the broker returns, the lag jumps and then falls in a straight line at the group's capacity minus the arrival rate, and the staleness peaks as the oldest events are applied. A lag that never falls is a group slower than its producers; a highest partition far above the total's share is a hot key or a stuck member; a line that breaks is a window where nothing was applied.",
    ),
];

fn figure(out: &mut String, file: &str, svg: Option<&str>, png: Option<&str>, schedule: bool) {
    let title = charts::title_of(file).unwrap_or(file);
    let _ = writeln!(out, "<h2>{}</h2>\n<figure>", escape(title));
    match svg {
        // Our own charts' SVG, whose labels are escaped when drawn; an XML
        // declaration has no place inside HTML.
        Some(svg) => {
            let svg = match svg.find("<svg") {
                Some(start) => &svg[start..],
                None => svg,
            };
            let _ = writeln!(
                out,
                "<div class=\"chart\" role=\"img\" aria-label=\"{}\">\n{}\n</div>",
                escape(title),
                svg.trim_end()
            );
        }
        None => {
            let _ = writeln!(
                out,
                "<img src=\"{}\" alt=\"{}\" loading=\"lazy\">",
                escape(file),
                escape(title)
            );
        }
    }
    out.push_str("<figcaption>");
    let stem = std::path::Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("");
    if let Some((_, caption)) = CAPTIONS.iter().find(|(s, _)| *s == stem) {
        let _ = write!(out, "{caption} ");
    }
    if schedule {
        out.push_str(
            "Shaded grey: fault windows; ochre: the workload's spikes and ramps, a dashed ochre line a step of its rate.",
        );
    } else {
        out.push_str("Shaded: fault windows.");
    }
    if let Some(png) = png {
        let _ = write!(out, " Also as <a href=\"{}\">PNG</a>.", escape(png));
    }
    out.push_str("</figcaption>\n</figure>\n");
}
