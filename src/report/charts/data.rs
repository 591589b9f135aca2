//! The run's rows split by entity, as plain numbers ([`Data`], [`Window`]),
//! and the series drawn from them: lines at midpoints or in steps, stacked
//! bands, and the sums and selections that choose what a chart shows.

use plotters::style::RGBColor;

use super::panel::Band;
use super::plan::Plan;
use super::style::{MAX_PANELS, MAX_SERIES};
use crate::metrics::{Counts, EntityKind, WindowRow};
use crate::world::{FaultWindow, RunOutcome};

/// One window of one entity.
#[derive(Clone, Copy)]
pub(super) struct Window<'a> {
    pub(super) start: f64,
    pub(super) end: f64,
    pub(super) row: &'a WindowRow,
}

impl Window<'_> {
    fn secs(&self) -> f64 {
        self.end - self.start
    }

    pub(super) fn rate(&self, count: u64) -> f64 {
        if self.secs() > 0.0 {
            count as f64 / self.secs()
        } else {
            0.0
        }
    }
}

pub(super) struct Data<'a> {
    pub(super) run: &'a RunOutcome,
    /// What the scenario asked for: offered rate, schedule, retrying edges.
    pub(super) plan: &'a Plan,
    /// End of the time axis, seconds (never zero).
    pub(super) x_max: f64,
    /// Nothing happened: no window and no virtual time.
    pub(super) empty: bool,
    pub(super) routes: Vec<Vec<Window<'a>>>,
    pub(super) services: Vec<Vec<Window<'a>>>,
    /// By edge index; routes' attempts are in their route rows, so their
    /// entries stay empty.
    edges: Vec<Vec<Window<'a>>>,
    /// Faults clipped to the time axis: (start, end, label).
    pub(super) faults: Vec<(f64, f64, String)>,
    /// The workload's schedule changes clipped to the time axis: (start,
    /// end, label, whether it is a step).
    pub(super) load: Vec<(f64, f64, String, bool)>,
    /// The time axis description: says so when each point merges several
    /// windows (a run longer than the charts keep at full resolution).
    pub(super) time_desc: String,
}

impl<'a> Data<'a> {
    pub(super) fn new(run: &'a RunOutcome, plan: &'a Plan) -> Data<'a> {
        let mut routes = vec![Vec::new(); run.route_names.len()];
        let mut services = vec![Vec::new(); run.service_names.len()];
        let mut edges = vec![Vec::new(); run.edges.len()];
        let mut x_max = run.end.as_secs_f64();
        for row in &run.rows {
            let w = Window {
                start: row.start.as_secs_f64(),
                end: row.end.as_secs_f64(),
                row,
            };
            x_max = x_max.max(w.end);
            let list = match row.kind {
                EntityKind::Route => routes.get_mut(row.entity as usize),
                EntityKind::Service => services.get_mut(row.entity as usize),
                EntityKind::Edge => edges.get_mut(row.entity as usize),
                // No chart shows clients yet: their rows are in clients.csv.
                EntityKind::Client => None,
            };
            if let Some(list) = list {
                list.push(w);
            }
        }
        for list in routes
            .iter_mut()
            .chain(services.iter_mut())
            .chain(edges.iter_mut())
        {
            list.sort_by(|a, b| a.start.total_cmp(&b.start));
        }
        let empty = !(x_max > 0.0 && x_max.is_finite());
        if empty {
            x_max = 1.0;
        }
        let faults = run
            .faults
            .iter()
            .filter_map(|f| fault_span(f, x_max))
            .collect();
        let load = plan
            .changes
            .iter()
            .filter(|c| c.start < x_max)
            .map(|c| (c.start, c.end.min(x_max), c.label.clone(), c.step))
            .collect();
        Data {
            run,
            plan,
            x_max,
            empty,
            routes,
            services,
            edges,
            faults,
            load,
            time_desc: match run.rows_merged {
                0 | 1 => "time (s)".to_string(),
                k => format!("time (s); each point merges {k} windows"),
            },
        }
    }

    /// The windows of the caller's side of `edge`: a route's own rows (which
    /// carry its attempt counters), else the edge's rows.
    pub(super) fn caller_windows(&self, edge: usize) -> &[Window<'a>] {
        let is_route = self
            .run
            .edges
            .get(edge)
            .map_or(edge < self.routes.len(), |e| e.is_route);
        let list = if is_route {
            self.routes.get(edge)
        } else {
            self.edges.get(edge)
        };
        list.map_or(&[], Vec::as_slice)
    }

    /// Every caller edge by index: routes (even without edge information),
    /// then the service edges.
    pub(super) fn caller_edges(&self) -> impl Iterator<Item = usize> + '_ {
        let routes = self.routes.len();
        (0..routes).chain(
            self.run
                .edges
                .iter()
                .enumerate()
                .filter(|(_, e)| !e.is_route)
                .map(|(i, _)| i),
        )
    }

    /// The callee of caller edge `edge`.
    pub(super) fn callee(&self, edge: usize) -> Option<u32> {
        match self.run.edges.get(edge) {
            Some(e) => Some(e.callee),
            None => self.run.route_services.get(edge).copied(),
        }
    }
}

/// The entities of a chart with one panel per entity: the [`MAX_SERIES`]
/// with the most traffic, and the rest folded into one "other" series, so a
/// run with thousands of entities still draws at most `MAX_SERIES + 1`.
pub(super) struct Busiest {
    /// The entities shown on their own, in index order.
    pub(super) kept: Vec<usize>,
    /// How many entities were folded into `other`.
    pub(super) folded: usize,
    /// Their rows added up window by window (empty if none were folded).
    other: Vec<WindowRow>,
}

impl Busiest {
    /// The busiest of `lists` (windows per entity) by total `traffic`.
    pub(super) fn new(lists: &[Vec<Window<'_>>], traffic: impl Fn(&Counts) -> u64) -> Busiest {
        let scores: Vec<u64> = lists.iter().map(|w| total(w, &traffic)).collect();
        let mut order: Vec<usize> = (0..lists.len()).collect();
        order.sort_by(|&a, &b| scores[b].cmp(&scores[a]).then(a.cmp(&b)));
        let rest = order.split_off(MAX_SERIES.min(order.len()));
        order.sort_unstable();
        let mut other: Vec<WindowRow> = Vec::new();
        for &e in &rest {
            for (k, w) in lists[e].iter().enumerate() {
                match other.get_mut(k) {
                    Some(row) => crate::metrics::series::merge_entities(row, w.row),
                    None => other.push(w.row.clone()),
                }
            }
        }
        Busiest {
            kept: order,
            folded: rest.len(),
            other,
        }
    }

    /// The windows of the "other" series.
    pub(super) fn other(&self) -> Vec<Window<'_>> {
        self.other
            .iter()
            .map(|row| Window {
                start: row.start.as_secs_f64(),
                end: row.end.as_secs_f64(),
                row,
            })
            .collect()
    }
}

/// The indices of the [`MAX_PANELS`] highest scores (the earlier one on a
/// tie), in their original order.
pub(super) fn top(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.truncate(MAX_PANELS);
    order.sort_unstable();
    order
}

/// The windows from one before the first where `count` is not zero to one
/// after the last: a line of rare events, without a long run along zero.
pub(super) fn active<'w, 'a>(
    windows: &'w [Window<'a>],
    count: impl Fn(&Counts) -> u64,
) -> Option<&'w [Window<'a>]> {
    let first = windows.iter().position(|w| count(&w.row.counts) > 0)?;
    let last = windows.iter().rposition(|w| count(&w.row.counts) > 0)?;
    Some(&windows[first.saturating_sub(1)..(last + 2).min(windows.len())])
}

/// The sum of one count over windows.
pub(super) fn total(windows: &[Window<'_>], count: impl Fn(&Counts) -> u64) -> u64 {
    windows.iter().map(|w| count(&w.row.counts)).sum()
}

/// A fault's (start, end, label) on a time axis ending at `x_max`, if it
/// starts within it.
pub(super) fn fault_span(f: &FaultWindow, x_max: f64) -> Option<(f64, f64, String)> {
    let start = f.start.as_secs_f64();
    let end = f.end.map_or(x_max, |e| e.as_secs_f64()).min(x_max);
    if start >= x_max || end < start {
        return None;
    }
    let label = if f.target.is_empty() {
        f.kind.to_string()
    } else {
        format!("{}: {}", f.kind, f.target)
    };
    Some((start, end, label))
}

/// Latency-like values at window midpoints, split where a window has none.
pub(super) fn midpoints(
    windows: &[Window<'_>],
    value: fn(&WindowRow) -> Option<f64>,
) -> Vec<Vec<(f64, f64)>> {
    let mut segments = Vec::new();
    let mut current = Vec::new();
    for w in windows {
        match value(w.row).filter(|v| v.is_finite()) {
            Some(v) => current.push(((w.start + w.end) / 2.0, v)),
            None => {
                if !current.is_empty() {
                    segments.push(std::mem::take(&mut current));
                }
            }
        }
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

/// A per-window value as a step line: flat over each window.
pub(super) fn steps(windows: &[Window<'_>], value: impl Fn(&Window<'_>) -> f64) -> Vec<(f64, f64)> {
    let mut points = Vec::with_capacity(windows.len() * 2);
    for w in windows {
        let v = value(w);
        points.push((w.start, v));
        points.push((w.end, v));
    }
    points
}

/// A per-window value as a step line, split where a window has none.
pub(super) fn segments(
    windows: &[Window<'_>],
    value: impl Fn(&Window<'_>) -> Option<f64>,
) -> Vec<Vec<(f64, f64)>> {
    let mut segments = Vec::new();
    let mut current = Vec::new();
    for w in windows {
        match value(w).filter(|v| v.is_finite()) {
            Some(v) => {
                current.push((w.start, v));
                current.push((w.end, v));
            }
            None => {
                if !current.is_empty() {
                    segments.push(std::mem::take(&mut current));
                }
            }
        }
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

/// A stacked band: its colour and the count it shows.
type Layer = (RGBColor, fn(&WindowRow) -> u64);

/// Stacked bands as values: a colour and one value per time span each.
pub(super) type Layers = Vec<(RGBColor, Vec<f64>)>;

/// Rates stacked bottom to top in the given order, as bands.
pub(super) fn stack(windows: &[Window<'_>], layers: &[Layer]) -> Vec<Band> {
    let spans: Vec<(f64, f64)> = windows.iter().map(|w| (w.start, w.end)).collect();
    let layers = layers
        .iter()
        .map(|(colour, count)| {
            (
                *colour,
                windows.iter().map(|w| w.rate(count(w.row))).collect(),
            )
        })
        .collect();
    stack_spans(&spans, layers)
}

/// Values over time spans, stacked bottom to top in the given order, as
/// bands. A band is drawn only where it has some thickness, so an empty
/// reason leaves no hairline along the axis.
pub(super) fn stack_spans(spans: &[(f64, f64)], layers: Layers) -> Vec<Band> {
    let mut below = vec![0.0; spans.len()];
    let mut bands = Vec::new();
    for (colour, values) in layers {
        let above: Vec<f64> = below
            .iter()
            .enumerate()
            .map(|(i, b)| {
                b + values
                    .get(i)
                    .copied()
                    .filter(|v| v.is_finite())
                    .unwrap_or(0.0)
            })
            .collect();
        let mut polygons = Vec::new();
        let mut run: Vec<usize> = Vec::new();
        for i in 0..=spans.len() {
            let thick = i < spans.len() && above[i] > below[i];
            if thick {
                run.push(i);
                continue;
            }
            if run.is_empty() {
                continue;
            }
            let upper = run
                .iter()
                .flat_map(|&j| [(spans[j].0, above[j]), (spans[j].1, above[j])]);
            let lower = run
                .iter()
                .rev()
                .flat_map(|&j| [(spans[j].1, below[j]), (spans[j].0, below[j])]);
            polygons.push(upper.chain(lower).collect());
            run.clear();
        }
        if !polygons.is_empty() {
            bands.push(Band {
                colour,
                top: above.iter().copied().fold(0.0, f64::max),
                polygons,
            });
        }
        below = above;
    }
    bands
}
