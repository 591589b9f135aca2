//! Circuit-breaker states over time: each breaker's timeline of states, cut
//! into columns of a state timeline, or counted per state for an edge with
//! many breakers.

use plotters::style::RGBColor;

use super::data::Layers;
use super::style::{BLUE, ORANGE, PALE_GREEN, PURPLE, SKY_BLUE, VERMILLION, columns};
use crate::world::RunOutcome;

/// Breaker states: name in the run, legend label, colour, and precedence
/// when several share one column of a timeline (the rarer, more important
/// state wins).
pub(super) const STATES: [(&str, &str, RGBColor, u8); 6] = [
    ("closed", "closed", PALE_GREEN, 0),
    ("open", "open", VERMILLION, 4),
    ("half_open", "half-open", ORANGE, 5),
    ("forced_open", "forced open", PURPLE, 6),
    ("disabled", "disabled", SKY_BLUE, 2),
    ("metrics_only", "metrics only", BLUE, 3),
];

fn state_info(name: &str) -> (RGBColor, u8) {
    STATES
        .iter()
        .find(|(n, ..)| *n == name)
        .map_or((PALE_GREEN, 0), |(_, _, colour, rank)| (*colour, *rank))
}

pub(super) fn is_open(state: &str) -> bool {
    state == "open" || state == "forced_open"
}

/// The state of each breaker of `edge` over `[0, until]`, as (start, end,
/// state) spans in time order. A breaker starts in the state its first
/// transition leaves (closed when it has none).
pub(super) fn unit_timelines(
    run: &RunOutcome,
    edge: usize,
    units: u32,
    until: f64,
) -> Vec<Vec<(f64, f64, &'static str)>> {
    let n = units as usize;
    let mut spans: Vec<Vec<(f64, f64, &'static str)>> = vec![Vec::new(); n];
    let mut state: Vec<Option<&'static str>> = vec![None; n];
    let mut since = vec![0.0_f64; n];
    for event in run
        .breaker_events
        .iter()
        .filter(|e| e.edge as usize == edge)
    {
        let u = event.unit as usize;
        if u >= n {
            continue;
        }
        let at = event.at.as_secs_f64().clamp(since[u], until.max(since[u]));
        let current = *state[u].get_or_insert(event.from);
        if at > since[u] {
            spans[u].push((since[u], at, current));
        }
        state[u] = Some(event.to);
        since[u] = at;
    }
    for u in 0..n {
        if until > since[u] {
            spans[u].push((since[u], until, state[u].unwrap_or("closed")));
        }
    }
    spans
}

/// A timeline cut into [`columns`] over `[0, x_max]`, each showing the
/// most important state it contains (a short half-open probe shows even
/// between two open spans), merged into runs of one colour and ending at
/// `until`.
pub(super) fn raster(
    spans: &[(f64, f64, &'static str)],
    x_max: f64,
    until: f64,
) -> Vec<(f64, f64, RGBColor)> {
    let count = columns();
    let dt = x_max / count as f64;
    let mut columns: Vec<Option<(u8, RGBColor)>> = vec![None; count];
    for &(start, end, state) in spans {
        if end <= start {
            continue;
        }
        let (colour, rank) = state_info(state);
        let first = ((start / dt).floor() as usize).min(count - 1);
        let last = ((end / dt).ceil() as usize).clamp(first + 1, count);
        for column in &mut columns[first..last] {
            if column.is_none_or(|(r, _)| r < rank) {
                *column = Some((rank, colour));
            }
        }
    }
    let mut runs: Vec<(f64, f64, RGBColor)> = Vec::new();
    for (i, column) in columns.iter().enumerate() {
        let Some((_, colour)) = column else { continue };
        let (start, end) = (i as f64 * dt, ((i + 1) as f64 * dt).min(until));
        if end <= start {
            break;
        }
        match runs.last_mut() {
            Some(last) if last.2 == *colour && last.1 >= start => last.1 = end,
            _ => runs.push((start, end, *colour)),
        }
    }
    runs
}

/// The time-averaged number of breakers open, half-open and forced open, in
/// [`columns`] over `[0, x_max]` up to `until`, adjacent equal columns
/// merged: the spans and one layer per state (bottom to top).
pub(super) fn state_counts(
    timelines: &[Vec<(f64, f64, &'static str)>],
    x_max: f64,
    until: f64,
) -> (Vec<(f64, f64)>, Layers) {
    const STACKED: [&str; 3] = ["open", "half_open", "forced_open"];
    let bins = columns();
    let dt = x_max / bins as f64;
    let mut sums = vec![[0.0_f64; 3]; bins];
    for &(start, end, state) in timelines.iter().flatten() {
        let Some(k) = STACKED.iter().position(|s| *s == state) else {
            continue;
        };
        if end <= start {
            continue;
        }
        let first = ((start / dt).floor() as usize).min(bins - 1);
        let last = ((end / dt).ceil() as usize).clamp(first + 1, bins);
        for (b, sum) in sums.iter_mut().enumerate().take(last).skip(first) {
            let (b0, b1) = (b as f64 * dt, (b + 1) as f64 * dt);
            sum[k] += (end.min(b1) - start.max(b0)).max(0.0);
        }
    }
    let mut spans: Vec<(f64, f64)> = Vec::new();
    let mut values: Vec<[f64; 3]> = Vec::new();
    for (b, sum) in sums.iter().enumerate() {
        let (start, end) = (b as f64 * dt, ((b + 1) as f64 * dt).min(until));
        if end <= start {
            break;
        }
        let mean = sum.map(|s| s / (end - start));
        match (spans.last_mut(), values.last()) {
            (Some(last), Some(v)) if *v == mean => last.1 = end,
            _ => {
                spans.push((start, end));
                values.push(mean);
            }
        }
    }
    let layers = STACKED
        .iter()
        .enumerate()
        .map(|(k, state)| (state_info(state).0, values.iter().map(|v| v[k]).collect()))
        .collect();
    (spans, layers)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::resilient;
    use super::*;

    #[test]
    fn timelines_start_closed_and_show_short_probes() {
        let run = resilient(4, 2);
        let spans = unit_timelines(&run, 1, 2, 4.0);
        assert_eq!(
            spans[0],
            [
                (0.0, 0.5, "closed"),
                (0.5, 1.5, "open"),
                (1.5, 1.51, "half_open"),
                (1.51, 4.0, "closed")
            ]
        );
        assert_eq!(spans[1], [(0.0, 4.0, "closed")]);
        // A 10 ms probe is far below a pixel but still gets a column.
        let drawn = raster(&spans[0], 4.0, 4.0);
        let colours: Vec<RGBColor> = drawn.iter().map(|s| s.2).collect();
        assert_eq!(colours, [PALE_GREEN, VERMILLION, ORANGE, PALE_GREEN]);
        assert_eq!(drawn.last().unwrap().1, 4.0);
        // The route's breaker was forced open.
        let route = unit_timelines(&run, 0, 1, 4.0);
        assert_eq!(route[0], [(0.0, 1.7, "closed"), (1.7, 4.0, "forced_open")]);
    }
}
