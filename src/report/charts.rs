//! Charts of a run, as SVG and PNG: route latency, route throughput against
//! failures, service queues and service outcomes, and what the resilience
//! policies did (retry amplification, attempts behind the calls, circuit
//! breaker states) over virtual time, with the fault windows shaded on every
//! chart.
//!
//! Text is drawn with the DejaVu Sans font bundled in `assets/fonts/` (see
//! its licence there), so PNGs render the same on a machine without any
//! system font. The same [`RunOutcome`] always gives the same bytes.

use std::borrow::Cow;
use std::fs;
use std::io;
use std::path::Path;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, FontTransform, register_font};

use super::output::Files;
use crate::metrics::{Counts, EntityKind, WindowRow};
use crate::world::{FaultWindow, RunOutcome};

/// DejaVu Sans (Bitstream Vera licence, assets/fonts/LICENSE-DejaVu.txt).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// The family every chart asks for; SVG viewers use their own sans-serif.
const FAMILY: &str = "sans-serif";

/// The charts this module can draw, in the order they are returned: file
/// stem under `charts/` and a title for reports.
pub const CHARTS: [(&str, &str); 7] = [
    (
        "latency",
        "End-to-end latency of successful requests, per route",
    ),
    ("throughput", "Route throughput and failures"),
    (
        "service_queues",
        "Requests in system and queued, per service",
    ),
    (
        "service_outcomes",
        "Service requests, successes and failures",
    ),
    (
        "amplification",
        "Retry amplification: requests reaching a service per call made to it",
    ),
    (
        "attempts",
        "Attempts behind the calls of each route and edge",
    ),
    ("breakers", "Circuit-breaker states"),
];

/// The title of a chart file such as `charts/latency.svg`, if it is one of
/// [`CHARTS`].
pub fn title_of(file: &str) -> Option<&'static str> {
    let stem = Path::new(file).file_stem()?.to_str()?;
    CHARTS.iter().find(|(s, _)| *s == stem).map(|(_, t)| *t)
}

/// Makes the bundled font available to plotters under `sans-serif`, once per
/// process. [`render`] calls it; call it yourself only to draw with plotters
/// elsewhere.
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let ok = register_font(FAMILY, FontStyle::Normal, FONT).is_ok();
        assert!(ok, "the bundled DejaVu Sans font is a valid TrueType font");
    });
}

/// Renders every chart that has something to draw, as `charts/<name>.svg`
/// and `charts/<name>.png` (names from [`CHARTS`], in that order, SVG before
/// PNG). An empty run gives no file. The PNG encoder writes to a file, so each
/// PNG passes through a private temporary directory; only that can fail.
pub fn render(run: &RunOutcome) -> io::Result<Files> {
    register_fonts();
    let data = Data::new(run);
    let mut files = Vec::new();
    for spec in data.charts() {
        let size = spec.size(&data);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
            draw(&root, &spec, &data, Target { bitmap: false }).map_err(io::Error::other)?;
            root.present().map_err(io::Error::other)?;
        }
        files.push((format!("charts/{}.svg", spec.name), svg.into_bytes()));
        let png = png(size, |root| {
            draw(root, &spec, &data, Target { bitmap: true })
        })?;
        files.push((format!("charts/{}.png", spec.name), png));
    }
    Ok(files)
}

/// Draws with a PNG backend and returns the encoded file. plotters encodes
/// PNGs only into a file, so the file goes into a fresh private directory.
fn png<F>(size: (u32, u32), draw: F) -> io::Result<Vec<u8>>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), String>,
{
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // create_dir fails if the directory exists: nobody else's file is used.
    // A leftover of a crashed process with the same id is stepped over.
    let mut attempts = 0;
    let dir = loop {
        let dir = std::env::temp_dir().join(format!(
            "meshsim-chart-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        match fs::create_dir(&dir) {
            Ok(()) => break dir,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 100 => {
                attempts += 1;
            }
            Err(e) => return Err(e),
        }
    };
    let path = dir.join("chart.png");
    let result = (|| {
        {
            let root = BitMapBackend::new(&path, size).into_drawing_area();
            draw(&root).map_err(io::Error::other)?;
            root.present().map_err(io::Error::other)?;
        }
        fs::read(&path)
    })();
    let _ = fs::remove_dir_all(&dir);
    result
}

// ---------------------------------------------------------------------------
// Palette (Okabe & Ito, colour-blind safe) and layout.

const BLACK_OI: RGBColor = RGBColor(0, 0, 0);
const ORANGE: RGBColor = RGBColor(230, 159, 0);
const SKY_BLUE: RGBColor = RGBColor(86, 180, 233);
const GREEN: RGBColor = RGBColor(0, 158, 115);
const BLUE: RGBColor = RGBColor(0, 114, 178);
const VERMILLION: RGBColor = RGBColor(213, 94, 0);
const PURPLE: RGBColor = RGBColor(204, 121, 167);
const YELLOW: RGBColor = RGBColor(240, 228, 66);
/// A closed breaker: Okabe–Ito's bluish green, lightened, so that the
/// states that matter stand out.
const PALE_GREEN: RGBColor = RGBColor(178, 224, 211);
/// Fault shading and bars.
const FAULT: RGBColor = RGBColor(120, 120, 120);
const GRID: RGBColor = RGBColor(225, 225, 225);
const TEXT: RGBColor = RGBColor(30, 30, 30);
const NOTE: RGBColor = RGBColor(90, 90, 90);

const WIDTH: u32 = 1200;
const MARGIN_LEFT: u32 = 12;
const MARGIN_RIGHT: u32 = 36;
const Y_LABEL_AREA: u32 = 84;
const X_LABEL_AREA: u32 = 48;
const TITLE_H: u32 = 42;
/// Room above each panel for its caption.
const CAPTION_H: u32 = 32;
const LEGEND_ROW_H: u32 = 26;
const LANE_H: u32 = 22;
/// Height of one breaker's band in a state timeline.
const BAND_ROW_H: u32 = 26;
/// More breakers than this are shown as counts per edge, not one band each.
const MAX_BANDS: u32 = 24;
/// The most panels a chart of the resilience policies shows: the rest are
/// named in a note.
const MAX_PANELS: usize = 24;
/// Pixels per column of a state timeline.
const COLUMN_PX: i32 = 2;
const STRIP_PAD: u32 = 8;
const TITLE_SIZE: f64 = 22.0;
const CAPTION_SIZE: f64 = 17.0;
const LEGEND_SIZE: f64 = 15.0;
const LABEL_SIZE: f64 = 14.0;
const TICK_SIZE: f64 = 13.0;
const FAULT_SIZE: f64 = 13.0;
/// Longest name shown in a caption or fault label, in characters.
const MAX_NAME: usize = 60;

fn font(size: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), size, FontStyle::Normal)
}

fn plot_left() -> i32 {
    (MARGIN_LEFT + Y_LABEL_AREA) as i32
}

fn plot_right() -> i32 {
    (WIDTH - MARGIN_RIGHT) as i32
}

/// Time resolution of state timelines: columns of [`COLUMN_PX`] pixels
/// across the time axis, so that the shortest state shown is still visible
/// and the size of a file is bounded whatever the number of transitions.
fn columns() -> usize {
    ((plot_right() - plot_left()) / COLUMN_PX).max(1) as usize
}

/// A scenario name for a caption, cut to [`MAX_NAME`] characters.
fn short(name: &str) -> String {
    if name.chars().count() <= MAX_NAME {
        return name.to_string();
    }
    let mut cut: String = name.chars().take(MAX_NAME - 1).collect();
    cut.push('…');
    cut
}

fn text_width(text: &str, size: f64) -> i32 {
    font(size).box_size(text).map_or(0, |(w, _)| w as i32)
}

/// `text`, cut with an ellipsis to at most `max_chars` characters and
/// `max_px` pixels wide.
fn fit(text: &str, size: f64, max_chars: usize, max_px: i32) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let mut cut = chars.len() > max_chars;
    chars.truncate(max_chars);
    loop {
        let mut s: String = chars.iter().collect();
        if cut {
            s.push('…');
        }
        if chars.is_empty() || text_width(&s, size) <= max_px {
            return s;
        }
        chars.pop();
        cut = true;
    }
}

// ---------------------------------------------------------------------------
// Data: the run's rows split by entity, as plain numbers.

/// One window of one entity.
#[derive(Clone, Copy)]
struct Window<'a> {
    start: f64,
    end: f64,
    row: &'a WindowRow,
}

impl Window<'_> {
    fn secs(&self) -> f64 {
        self.end - self.start
    }

    fn rate(&self, count: u64) -> f64 {
        if self.secs() > 0.0 {
            count as f64 / self.secs()
        } else {
            0.0
        }
    }
}

struct Data<'a> {
    run: &'a RunOutcome,
    /// End of the time axis, seconds (never zero).
    x_max: f64,
    /// Nothing happened: no window and no virtual time.
    empty: bool,
    routes: Vec<Vec<Window<'a>>>,
    services: Vec<Vec<Window<'a>>>,
    /// By edge index; routes' attempts are in their route rows, so their
    /// entries stay empty.
    edges: Vec<Vec<Window<'a>>>,
    /// Faults clipped to the time axis: (start, end, label).
    faults: Vec<(f64, f64, String)>,
}

impl<'a> Data<'a> {
    fn new(run: &'a RunOutcome) -> Data<'a> {
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
        Data {
            run,
            x_max,
            empty,
            routes,
            services,
            edges,
            faults,
        }
    }

    fn charts(&self) -> Vec<Spec> {
        [
            self.latency(),
            self.throughput(),
            self.service_queues(),
            self.service_outcomes(),
            self.amplification(),
            self.attempts(),
            self.breakers(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn latency(&self) -> Option<Spec> {
        let panels = self
            .routes
            .iter()
            .enumerate()
            .filter_map(|(i, windows)| {
                let p50 = midpoints(windows, |r| r.latency_ms_p50);
                let p99 = midpoints(windows, |r| r.latency_ms_p99);
                if p50.is_empty() && p99.is_empty() {
                    return None;
                }
                Some(Panel {
                    title: format!("route {}", self.run.route_names[i]),
                    log: true,
                    bands: Vec::new(),
                    lines: vec![Line::new(VERMILLION, 2, p99), Line::new(BLUE, 2, p50)],
                    ..Panel::default()
                })
            })
            .collect();
        Spec::new(
            0,
            "latency (ms, log scale)",
            vec![
                Legend::line("p50 (median)", BLUE),
                Legend::line("p99", VERMILLION),
            ],
            panels,
        )
    }

    fn throughput(&self) -> Option<Spec> {
        let panels = self
            .routes
            .iter()
            .enumerate()
            .filter(|(_, w)| !w.is_empty())
            .map(|(i, windows)| Panel {
                title: format!("route {}", self.run.route_names[i]),
                log: false,
                bands: stack(
                    windows,
                    &[
                        (VERMILLION, |r| r.counts.errors),
                        (ORANGE, |r| r.counts.rejected),
                        (PURPLE, |r| r.counts.timeouts),
                        (SKY_BLUE, |r| r.counts.breaker_open),
                        (BLUE, |r| r.counts.bulkhead_full),
                        (YELLOW, |r| r.counts.throttled),
                        (BLACK_OI, |r| r.counts.rate_limited),
                    ],
                ),
                lines: vec![Line::new(
                    GREEN,
                    2,
                    vec![steps(windows, |w| w.rate(w.row.counts.successes))],
                )],
                ..Panel::default()
            })
            .collect();
        Spec::new(
            1,
            "requests/s",
            vec![
                Legend::line("successes/s", GREEN),
                Legend::area("errors/s", VERMILLION),
                Legend::area("rejected/s", ORANGE),
                Legend::area("timeouts/s", PURPLE),
                Legend::area("breaker open/s", SKY_BLUE),
                Legend::area("bulkhead full/s", BLUE),
                Legend::area("throttled/s", YELLOW),
                Legend::area("rate limited/s", BLACK_OI),
            ],
            panels,
        )
    }

    fn service_queues(&self) -> Option<Spec> {
        let panels = self
            .services
            .iter()
            .enumerate()
            .filter(|(_, w)| !w.is_empty())
            .map(|(i, windows)| {
                let in_system = windows
                    .iter()
                    .map(|w| (w.end, w.row.in_flight as f64))
                    .collect();
                let queued = windows
                    .iter()
                    .map(|w| (w.end, w.row.queue_length.unwrap_or(0) as f64))
                    .collect();
                Panel {
                    title: format!(
                        "service {} ({} workers)",
                        self.run.service_names[i],
                        self.run.service_workers.get(i).copied().unwrap_or(0)
                    ),
                    log: false,
                    bands: Vec::new(),
                    lines: vec![
                        Line::new(BLUE, 2, vec![in_system]),
                        Line::new(ORANGE, 2, vec![queued]),
                    ],
                    ..Panel::default()
                }
            })
            .collect();
        Spec::new(
            2,
            "requests",
            vec![
                Legend::line("in system (queued + in service)", BLUE),
                Legend::line("queued", ORANGE),
                Legend::note("sampled at the end of each window"),
            ],
            panels,
        )
    }

    fn service_outcomes(&self) -> Option<Spec> {
        let panels = self
            .services
            .iter()
            .enumerate()
            .filter(|(_, w)| !w.is_empty())
            .map(|(i, windows)| Panel {
                title: format!("service {}", self.run.service_names[i]),
                log: false,
                bands: stack(
                    windows,
                    &[
                        (VERMILLION, |r| r.counts.errors),
                        (SKY_BLUE, |r| r.counts.dependency),
                        (PURPLE, |r| r.counts.dropped),
                        (ORANGE, |r| r.counts.rejected),
                        (BLUE, |r| r.counts.expired),
                    ],
                ),
                lines: vec![
                    Line::new(
                        BLACK_OI,
                        1,
                        vec![steps(windows, |w| w.rate(w.row.counts.requests))],
                    ),
                    Line::new(
                        GREEN,
                        2,
                        vec![steps(windows, |w| w.rate(w.row.counts.successes))],
                    ),
                ],
                ..Panel::default()
            })
            .collect();
        Spec::new(
            3,
            "requests/s",
            vec![
                Legend::line("requests/s", BLACK_OI),
                Legend::line("successes/s", GREEN),
                Legend::area("errors/s", VERMILLION),
                Legend::area("dependency failed/s", SKY_BLUE),
                Legend::area("dropped (crash)/s", PURPLE),
                Legend::area("rejected/s", ORANGE),
                Legend::area("deadline expired/s", BLUE),
            ],
            panels,
        )
    }

    // ----- resilience ------------------------------------------------------

    /// The windows of the caller's side of `edge`: a route's own rows (which
    /// carry its attempt counters), else the edge's rows.
    fn caller_windows(&self, edge: usize) -> &[Window<'a>] {
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
    fn caller_edges(&self) -> impl Iterator<Item = usize> + '_ {
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
    fn callee(&self, edge: usize) -> Option<u32> {
        match self.run.edges.get(edge) {
            Some(e) => Some(e.callee),
            None => self.run.route_services.get(edge).copied(),
        }
    }

    /// A caption for caller edge `edge`: `route api (client->frontend,
    /// policy p)` or `frontend->backend [p]`.
    fn edge_title(&self, edge: usize) -> String {
        let info = self.run.edges.get(edge);
        let is_route = info.map_or(edge < self.routes.len(), |e| e.is_route);
        if is_route {
            let route = short(self.run.route_names.get(edge).map_or("?", String::as_str));
            match info {
                Some(e) => match &e.policy {
                    Some(p) => format!("route {route} ({}, policy {})", short(&e.name), short(p)),
                    None => format!("route {route} ({})", short(&e.name)),
                },
                None => format!("route {route}"),
            }
        } else {
            info.map_or_else(|| format!("edge {edge}"), |e| short(&e.name))
        }
    }

    /// Service panels of `requests ÷ calls` per window: one per service that
    /// is called at all and whose callers' policies retried, hedged or
    /// refused something, or whose requests differ from its calls by more
    /// than 1% over the run (a lossy network). Elsewhere the ratio is 1 and
    /// a panel would show a flat line. At most [`MAX_PANELS`], those furthest
    /// from 1.
    fn amplification(&self) -> Option<Spec> {
        let candidates: Vec<(usize, f64)> = self
            .services
            .iter()
            .enumerate()
            .filter_map(|(s, windows)| {
                let calls = total(windows, |c| c.calls);
                if calls == 0 {
                    return None;
                }
                let overall = total(windows, |c| c.requests) as f64 / calls as f64;
                let shaped = self
                    .caller_edges()
                    .filter(|&e| self.callee(e) == Some(s as u32))
                    .any(|e| total(self.caller_windows(e), policy_acted) > 0);
                (shaped || (overall - 1.0).abs() > 0.01).then_some((s, overall))
            })
            .collect();
        let scores: Vec<f64> = candidates
            .iter()
            .map(|(_, overall)| overall.max(1e-9).ln().abs())
            .collect();
        let kept = top(&scores);
        let panels = kept
            .iter()
            .map(|&k| {
                let (s, overall) = candidates[k];
                let ratio = segments(&self.services[s], |w| {
                    let c = &w.row.counts;
                    (c.calls > 0).then(|| c.requests as f64 / c.calls as f64)
                });
                Panel {
                    title: format!(
                        "service {}: {} requests per call over the run",
                        short(&self.run.service_names[s]),
                        ratio_text(overall)
                    ),
                    lines: vec![Line::new(BLUE, 2, ratio)],
                    reference: Some(1.0),
                    min_top: 1.25,
                    ..Panel::default()
                }
            })
            .collect();
        let mut legend = vec![
            Legend::line("requests reaching the service ÷ calls made to it", BLUE),
            Legend::dashed("1: every call sent once", NOTE),
        ];
        if kept.len() < candidates.len() {
            legend.push(Legend::note(format!(
                "{} more services not shown (closest to 1)",
                candidates.len() - kept.len()
            )));
        }
        Spec::new(4, "attempts ÷ calls", legend, panels)
    }

    /// Per route and edge whose policy retried or hedged (or was refused a
    /// retry): its attempts per second by kind, stacked, against its calls.
    /// At most [`MAX_PANELS`], those with the most retries and hedges.
    fn attempts(&self) -> Option<Spec> {
        let candidates: Vec<(usize, u64)> = self
            .caller_edges()
            .filter_map(|e| {
                let extra = total(self.caller_windows(e), |c| {
                    c.retries + c.hedges + c.retries_denied
                });
                (extra > 0).then_some((e, extra))
            })
            .collect();
        let scores: Vec<f64> = candidates.iter().map(|(_, n)| *n as f64).collect();
        let kept = top(&scores);
        let mut refused = false;
        let panels: Vec<Panel> = kept
            .iter()
            .map(|&k| {
                let e = candidates[k].0;
                let windows = self.caller_windows(e);
                refused |= total(windows, |c| {
                    c.breaker_open + c.bulkhead_full + c.throttled + c.rate_limited
                }) > 0;
                let calls = total(windows, |c| c.requests);
                let attempts = total(windows, |c| c.attempts);
                let per_call = if calls > 0 {
                    format!(
                        ": {} attempts per call",
                        ratio_text(attempts as f64 / calls as f64)
                    )
                } else {
                    String::new()
                };
                let mut lines = vec![Line::new(
                    BLACK_OI,
                    1,
                    vec![steps(windows, |w| w.rate(w.row.counts.requests))],
                )];
                if let Some(denied) = active(windows, |c| c.retries_denied) {
                    lines.push(Line::new(
                        VERMILLION,
                        2,
                        vec![steps(denied, |w| w.rate(w.row.counts.retries_denied))],
                    ));
                }
                Panel {
                    title: format!("{}{per_call}", self.edge_title(e)),
                    bands: stack(
                        windows,
                        &[
                            (SKY_BLUE, |r| {
                                let c = &r.counts;
                                c.attempts.saturating_sub(c.retries + c.hedges)
                            }),
                            (ORANGE, |r| r.counts.retries),
                            (PURPLE, |r| r.counts.hedges),
                        ],
                    ),
                    lines,
                    ..Panel::default()
                }
            })
            .collect();
        let mut legend = vec![
            Legend::area("first attempts/s", SKY_BLUE),
            Legend::area("retries/s", ORANGE),
            Legend::area("hedges/s", PURPLE),
            Legend::line("calls/s", BLACK_OI),
            Legend::line("retries denied by a budget or throttle/s", VERMILLION),
        ];
        if refused {
            legend.push(Legend::note(
                "calls/s above first attempts/s: calls refused locally",
            ));
        }
        if kept.len() < candidates.len() {
            legend.push(Legend::note(format!(
                "{} more routes and edges not shown (fewest retries and hedges)",
                candidates.len() - kept.len()
            )));
        }
        Spec::new(5, "attempts/s", legend, panels)
    }

    /// The end of what is known about breakers: the run's end, or the last
    /// recorded transition when later ones were dropped.
    fn breakers_known_until(&self) -> f64 {
        if self.run.breaker_events_dropped == 0 {
            return self.x_max;
        }
        self.run
            .breaker_events
            .last()
            .map_or(0.0, |e| e.at.as_secs_f64())
            .clamp(0.0, self.x_max)
    }

    /// One panel per edge with a circuit breaker: one band per breaker,
    /// coloured by state, while the chart has at most [`MAX_BANDS`] bands;
    /// the edges beyond that, the number of their breakers in each state.
    /// At most [`MAX_PANELS`] edges, those whose breakers opened most.
    fn breakers(&self) -> Option<Spec> {
        if self.empty {
            return None;
        }
        let candidates: Vec<(usize, u64)> = (0..self.run.edges.len())
            .filter(|&e| self.run.edges[e].has_breaker && self.run.edges[e].units > 0)
            .map(|e| {
                let opened = self
                    .run
                    .breaker_transitions
                    .get(e)
                    .into_iter()
                    .flatten()
                    .filter(|((from, to), _)| is_open(to) && !is_open(from))
                    .map(|(_, n)| n)
                    .sum();
                (e, opened)
            })
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let scores: Vec<f64> = candidates.iter().map(|(_, n)| *n as f64).collect();
        let kept = top(&scores);
        let known = self.breakers_known_until();
        let mut bands_left = MAX_BANDS;
        let mut counted = 0_u64;
        let panels = kept
            .iter()
            .map(|&k| {
                let (e, opened) = candidates[k];
                let info = &self.run.edges[e];
                let title = format!(
                    "{}: {} breaker{}, {}",
                    self.edge_title(e),
                    info.units,
                    if info.units == 1 { "" } else { "s" },
                    match opened {
                        0 => "never opened".to_string(),
                        1 => "opened once".to_string(),
                        n => format!("opened {n} times"),
                    }
                );
                let timelines = unit_timelines(self.run, e, info.units, known);
                if info.units <= bands_left {
                    bands_left -= info.units;
                    let lanes = timelines
                        .iter()
                        .enumerate()
                        .map(|(u, spans)| Lane {
                            label: if info.is_route {
                                "clients".to_string()
                            } else if info.units == 1 {
                                "shared".to_string()
                            } else {
                                format!("instance {u}")
                            },
                            spans: raster(spans, self.x_max, known),
                        })
                        .collect();
                    Panel {
                        title,
                        lanes,
                        ..Panel::default()
                    }
                } else {
                    counted += u64::from(info.units);
                    let (spans, layers) = state_counts(&timelines, self.x_max, known);
                    Panel {
                        title,
                        bands: stack_spans(&spans, layers),
                        reference: Some(f64::from(info.units)),
                        min_top: f64::from(info.units),
                        ..Panel::default()
                    }
                }
            })
            .collect();
        let mut legend: Vec<Legend> = STATES
            .iter()
            .map(|(_, label, colour, _)| Legend::area(label, *colour))
            .collect();
        if counted > 0 {
            legend.push(Legend::dashed("all breakers of the edge", NOTE));
            legend.push(Legend::note(format!(
                "{counted} breakers shown as counts: how many are in each state, time-averaged"
            )));
        }
        if kept.len() < candidates.len() {
            legend.push(Legend::note(format!(
                "{} more edges with breakers not shown (fewest openings)",
                candidates.len() - kept.len()
            )));
        }
        if self.run.breaker_events_dropped > 0 {
            legend.push(Legend::note(format!(
                "{} later transitions not recorded: states after {} s unknown",
                self.run.breaker_events_dropped,
                tick((known * 1000.0).round() / 1000.0)
            )));
        }
        Spec::new(6, "breakers", legend, panels)
    }
}

/// The indices of the [`MAX_PANELS`] highest scores (the earlier one on a
/// tie), in their original order.
fn top(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.truncate(MAX_PANELS);
    order.sort_unstable();
    order
}

/// The windows from one before the first where `count` is not zero to one
/// after the last: a line of rare events, without a long run along zero.
fn active<'w, 'a>(
    windows: &'w [Window<'a>],
    count: impl Fn(&Counts) -> u64,
) -> Option<&'w [Window<'a>]> {
    let first = windows.iter().position(|w| count(&w.row.counts) > 0)?;
    let last = windows.iter().rposition(|w| count(&w.row.counts) > 0)?;
    Some(&windows[first.saturating_sub(1)..(last + 2).min(windows.len())])
}

/// The sum of one count over windows.
fn total(windows: &[Window<'_>], count: impl Fn(&Counts) -> u64) -> u64 {
    windows.iter().map(|w| count(&w.row.counts)).sum()
}

/// What a policy does to the number of requests reaching a service:
/// retries, hedges, denied retries and local refusals.
fn policy_acted(c: &Counts) -> u64 {
    c.retries
        + c.hedges
        + c.retries_denied
        + c.breaker_open
        + c.bulkhead_full
        + c.throttled
        + c.rate_limited
}

/// A ratio for a caption: two decimals.
fn ratio_text(v: f64) -> String {
    format!("{v:.2}")
}

/// Breaker states: name in the run, legend label, colour, and precedence
/// when several share one column of a timeline (the rarer, more important
/// state wins).
const STATES: [(&str, &str, RGBColor, u8); 6] = [
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

fn is_open(state: &str) -> bool {
    state == "open" || state == "forced_open"
}

/// The state of each breaker of `edge` over `[0, until]`, as (start, end,
/// state) spans in time order. A breaker starts in the state its first
/// transition leaves (closed when it has none).
fn unit_timelines(
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
fn raster(spans: &[(f64, f64, &'static str)], x_max: f64, until: f64) -> Vec<(f64, f64, RGBColor)> {
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
fn state_counts(
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

fn fault_span(f: &FaultWindow, x_max: f64) -> Option<(f64, f64, String)> {
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
fn midpoints(windows: &[Window<'_>], value: fn(&WindowRow) -> Option<f64>) -> Vec<Vec<(f64, f64)>> {
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
fn steps(windows: &[Window<'_>], value: impl Fn(&Window<'_>) -> f64) -> Vec<(f64, f64)> {
    let mut points = Vec::with_capacity(windows.len() * 2);
    for w in windows {
        let v = value(w);
        points.push((w.start, v));
        points.push((w.end, v));
    }
    points
}

/// A per-window value as a step line, split where a window has none.
fn segments(
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
type Layers = Vec<(RGBColor, Vec<f64>)>;

/// Rates stacked bottom to top in the given order, as bands.
fn stack(windows: &[Window<'_>], layers: &[Layer]) -> Vec<Band> {
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
fn stack_spans(spans: &[(f64, f64)], layers: Layers) -> Vec<Band> {
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

// ---------------------------------------------------------------------------
// Chart description.

struct Line {
    colour: RGBColor,
    width: u32,
    segments: Vec<Vec<(f64, f64)>>,
}

impl Line {
    fn new(colour: RGBColor, width: u32, segments: Vec<Vec<(f64, f64)>>) -> Line {
        Line {
            colour,
            width,
            segments,
        }
    }
}

struct Band {
    colour: RGBColor,
    /// The highest point of the band.
    top: f64,
    /// Closed outlines (top edge, then bottom edge back), one per stretch
    /// of windows where the band is not empty.
    polygons: Vec<Vec<(f64, f64)>>,
}

/// One row of a state timeline: a label left of the plot and coloured
/// (start, end, colour) spans.
struct Lane {
    label: String,
    spans: Vec<(f64, f64, RGBColor)>,
}

#[derive(Default)]
struct Panel {
    title: String,
    /// A logarithmic y axis (latency), else linear from zero.
    log: bool,
    bands: Vec<Band>,
    lines: Vec<Line>,
    /// A dashed horizontal line at this value.
    reference: Option<f64>,
    /// The linear y axis reaches at least this high.
    min_top: f64,
    /// Rows of a state timeline, top to bottom. A panel with lanes has no y
    /// scale: its bands and lines are not drawn.
    lanes: Vec<Lane>,
}

impl Panel {
    /// The y range of a logarithmic panel: from the power of ten at or below
    /// the smallest positive value to a little above the largest.
    fn log_range(&self) -> Option<(f64, f64)> {
        if !self.log {
            return None;
        }
        let values = || {
            self.lines
                .iter()
                .flat_map(|l| l.segments.iter().flatten())
                .map(|p| p.1)
                .filter(|v| *v > 0.0 && v.is_finite())
        };
        let min = values().fold(f64::INFINITY, f64::min);
        let max = values().fold(0.0_f64, f64::max);
        if !min.is_finite() {
            return Some((1.0, 10.0));
        }
        let low = 10f64.powf(min.log10().floor());
        let high = (max * 1.5).max(low * 10.0);
        Some((low, high))
    }

    fn y_max(&self) -> f64 {
        let lines = self.lines.iter().flat_map(|l| l.segments.iter().flatten());
        let bands = self.bands.iter().map(|b| b.top);
        let max = lines
            .map(|p| p.1)
            .chain(bands)
            .chain(self.reference)
            .chain([self.min_top])
            .filter(|v| v.is_finite())
            .fold(0.0_f64, f64::max);
        if max > 0.0 { max * 1.08 } else { 1.0 }
    }

    /// The panel's height in pixels: `uniform` for a plot, or enough for its
    /// lanes.
    fn height(&self, uniform: u32) -> u32 {
        if self.lanes.is_empty() {
            uniform
        } else {
            CAPTION_H + 4 + X_LABEL_AREA + 8 + BAND_ROW_H * self.lanes.len() as u32
        }
    }
}

enum Mark {
    Line,
    /// A dashed reference line.
    Dashed,
    Area,
    Note,
}

struct Legend {
    label: Cow<'static, str>,
    colour: RGBColor,
    mark: Mark,
}

impl Legend {
    fn line(label: &'static str, colour: RGBColor) -> Legend {
        Legend {
            label: Cow::Borrowed(label),
            colour,
            mark: Mark::Line,
        }
    }

    fn dashed(label: &'static str, colour: RGBColor) -> Legend {
        Legend {
            label: Cow::Borrowed(label),
            colour,
            mark: Mark::Dashed,
        }
    }

    fn area(label: &'static str, colour: RGBColor) -> Legend {
        Legend {
            label: Cow::Borrowed(label),
            colour,
            mark: Mark::Area,
        }
    }

    fn note(label: impl Into<Cow<'static, str>>) -> Legend {
        Legend {
            label: label.into(),
            colour: TEXT,
            mark: Mark::Note,
        }
    }

    fn width(&self) -> i32 {
        let swatch = if matches!(self.mark, Mark::Note) {
            0
        } else {
            30
        };
        swatch + text_width(&self.label, LEGEND_SIZE) + 24
    }
}

struct Spec {
    name: &'static str,
    title: &'static str,
    y_desc: &'static str,
    legend: Vec<Legend>,
    panels: Vec<Panel>,
}

impl Spec {
    fn new(
        index: usize,
        y_desc: &'static str,
        legend: Vec<Legend>,
        panels: Vec<Panel>,
    ) -> Option<Spec> {
        if panels.is_empty() {
            return None;
        }
        let (name, title) = CHARTS[index];
        // An area or line nobody drew (a failure reason that never
        // happened) is left out of the legend.
        let mut legend = legend;
        legend.retain(|item| {
            panels.iter().any(|p| match item.mark {
                Mark::Area => {
                    p.bands.iter().any(|b| b.colour == item.colour)
                        || p.lanes
                            .iter()
                            .any(|l| l.spans.iter().any(|s| s.2 == item.colour))
                }
                Mark::Line => p.lines.iter().any(|l| l.colour == item.colour),
                Mark::Dashed => p.reference.is_some(),
                Mark::Note => true,
            })
        });
        Some(Spec {
            name,
            title,
            y_desc,
            legend,
            panels,
        })
    }

    fn panel_height(&self) -> u32 {
        if self.panels.len() <= 3 { 300 } else { 240 }
    }

    /// The legend items in rows that fit the width, fault swatch included.
    fn legend_rows(&self, data: &Data<'_>) -> Vec<Vec<&Legend>> {
        static FAULT_LEGEND: Legend = Legend {
            label: Cow::Borrowed("fault active"),
            colour: FAULT,
            mark: Mark::Area,
        };
        let mut items: Vec<&Legend> = self.legend.iter().collect();
        if !data.faults.is_empty() {
            items.push(&FAULT_LEGEND);
        }
        let mut rows: Vec<Vec<&Legend>> = Vec::new();
        let mut x = plot_left();
        for item in items {
            let w = item.width();
            if rows.is_empty() || (x + w > plot_right() && x > plot_left()) {
                rows.push(Vec::new());
                x = plot_left();
            }
            if let Some(row) = rows.last_mut() {
                row.push(item);
            }
            x += w;
        }
        rows
    }

    fn panel_heights(&self) -> Vec<u32> {
        let uniform = self.panel_height();
        self.panels.iter().map(|p| p.height(uniform)).collect()
    }

    fn size(&self, data: &Data<'_>) -> (u32, u32) {
        (
            WIDTH,
            self.header_height(data) + self.panel_heights().iter().sum::<u32>(),
        )
    }

    fn header_height(&self, data: &Data<'_>) -> u32 {
        let legend = LEGEND_ROW_H * self.legend_rows(data).len() as u32;
        let lanes = fault_lanes(data).1;
        let strip = if lanes > 0 {
            LANE_H * lanes as u32 + 2 * STRIP_PAD
        } else {
            0
        };
        TITLE_H + legend + strip + 6
    }
}

/// Fault labels and the lane of each, so that no two labels overlap; and the
/// number of lanes.
fn fault_lanes(data: &Data<'_>) -> (Vec<(usize, String, usize)>, usize) {
    let span = f64::from(plot_right() - plot_left());
    let px = |x: f64| plot_left() + (x / data.x_max * span).round() as i32;
    let mut order: Vec<usize> = (0..data.faults.len()).collect();
    order.sort_by(|&a, &b| data.faults[a].0.total_cmp(&data.faults[b].0));
    // Rightmost occupied pixel of each lane.
    let mut lanes: Vec<i32> = Vec::new();
    let mut placed = Vec::new();
    for i in order {
        let (start, end, label) = &data.faults[i];
        let label = fit(label, FAULT_SIZE, MAX_NAME, plot_right() - plot_left() - 8);
        let left = px(*start);
        let text_left = label_left(left, text_width(&label, FAULT_SIZE));
        let from = left.min(text_left);
        let to = px(*end).max(text_left + text_width(&label, FAULT_SIZE) + 4);
        let lane = match lanes.iter().position(|&right| right + 6 < from) {
            Some(l) => l,
            None => {
                lanes.push(i32::MIN);
                lanes.len() - 1
            }
        };
        lanes[lane] = to;
        placed.push((i, label, lane));
    }
    (placed, lanes.len())
}

/// Where a fault label starts: just right of the fault's start, moved left
/// if it would run off the plot.
fn label_left(start_px: i32, text_w: i32) -> i32 {
    (start_px + 4)
        .min(plot_right() - text_w - 2)
        .max(plot_left())
}

// ---------------------------------------------------------------------------
// Drawing.

fn err<E: std::fmt::Display>(e: E) -> String {
    format!("cannot draw a chart: {e}")
}

/// A tick label: whole numbers without decimals, others with at most three.
fn tick(v: f64) -> String {
    if v == v.round() {
        return format!("{v:.0}");
    }
    let text = format!("{v:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// How a piece of text is drawn: size, colour, anchor and direction.
#[derive(Clone, Copy)]
struct Label {
    size: f64,
    colour: RGBColor,
    h: HPos,
    v: VPos,
    /// Reads bottom to top (a y-axis description).
    vertical: bool,
}

impl Label {
    fn new(size: f64, h: HPos, v: VPos) -> Label {
        Label {
            size,
            colour: TEXT,
            h,
            v,
            vertical: false,
        }
    }
}

/// Where the drawing goes: PNG text is placed glyph by glyph (see
/// [`Bearing`]); SVG text is left to the viewer.
#[derive(Clone, Copy)]
struct Target {
    bitmap: bool,
}

impl Target {
    /// Draws `text` anchored at `(x, y)` of `area`.
    fn text<DB: DrawingBackend>(
        self,
        area: &DrawingArea<DB, Shift>,
        text: &str,
        label: Label,
        (x, y): (i32, i32),
    ) -> Result<(), String> {
        let transform = if label.vertical {
            FontTransform::Rotate270
        } else {
            FontTransform::None
        };
        let desc = font(label.size).transform(transform);
        let bearing = if self.bitmap { Bearing::get() } else { None };
        let Some(bearing) = bearing else {
            let style = desc.color(&label.colour).pos(Pos::new(label.h, label.v));
            return area.draw_text(text, &style, (x, y)).map_err(err);
        };
        let size = |t: &str| {
            font(label.size)
                .box_size(t)
                .map_or((0, 0), |(w, h)| (w as i32, h as i32))
        };
        let (w, h) = size(text);
        let dx = match label.h {
            HPos::Left => 0,
            HPos::Right => -w,
            HPos::Center => -w / 2,
        };
        let dy = match label.v {
            VPos::Top => 0,
            VPos::Center => -h / 2,
            VPos::Bottom => -h,
        };
        let style = desc
            .color(&label.colour)
            .pos(Pos::new(HPos::Left, VPos::Top));
        for (i, c) in text.char_indices() {
            if c.is_whitespace() {
                continue;
            }
            let along = dx + size(&text[..i]).0 + bearing.offset(c, label.size);
            let at = if label.vertical {
                (x + dy, y - along)
            } else {
                (x + along, y + dy)
            };
            area.draw_text(&text[i..i + c.len_utf8()], &style, at)
                .map_err(err)?;
        }
        Ok(())
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &Spec,
    data: &Data<'_>,
    target: Target,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(err)?;
    let header_h = spec.header_height(data);
    let (header, body) = root.split_vertically(header_h);

    // Title, centred on the plots.
    target.text(
        &header,
        spec.title,
        Label::new(TITLE_SIZE, HPos::Center, VPos::Top),
        ((plot_left() + plot_right()) / 2, 10),
    )?;

    // Legend rows.
    let mut y = TITLE_H as i32;
    for row in spec.legend_rows(data) {
        let mut x = plot_left();
        let mid = y + (LEGEND_ROW_H / 2) as i32;
        for item in row {
            let mut label = Label::new(LEGEND_SIZE, HPos::Left, VPos::Center);
            let text_x = match item.mark {
                Mark::Line => {
                    header
                        .draw(&PathElement::new(
                            vec![(x, mid), (x + 22, mid)],
                            item.colour.stroke_width(3),
                        ))
                        .map_err(err)?;
                    x + 30
                }
                Mark::Dashed => {
                    header
                        .draw(&DashedPathElement::new(
                            vec![(x, mid), (x + 22, mid)],
                            5,
                            3,
                            item.colour.stroke_width(2),
                        ))
                        .map_err(err)?;
                    x + 30
                }
                Mark::Area => {
                    // As the areas are drawn.
                    let style = if item.colour == FAULT {
                        item.colour.mix(0.25).filled()
                    } else {
                        item.colour.mix(0.85).filled()
                    };
                    header
                        .draw(&Rectangle::new([(x, mid - 7), (x + 22, mid + 7)], style))
                        .map_err(err)?;
                    x + 30
                }
                Mark::Note => {
                    label.colour = NOTE;
                    x
                }
            };
            target.text(&header, &item.label, label, (text_x, mid))?;
            x += item.width();
        }
        y += LEGEND_ROW_H as i32;
    }

    // Fault strip: one bar per fault, labels in lanes, same x scale as the
    // panels below.
    let (labels, lanes) = fault_lanes(data);
    if lanes > 0 {
        let strip_h = LANE_H * lanes as u32 + 2 * STRIP_PAD;
        let strip = header.clone().shrink((0, y), (WIDTH, strip_h));
        let chart = ChartBuilder::on(&strip)
            .margin_left(MARGIN_LEFT)
            .margin_right(MARGIN_RIGHT)
            .margin_top(STRIP_PAD)
            .margin_bottom(STRIP_PAD)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(0.0..data.x_max, 0.0..lanes as f64)
            .map_err(err)?;
        chart
            .plotting_area()
            .draw(&Rectangle::new(
                [(0.0, 0.0), (data.x_max, lanes as f64)],
                RGBColor(246, 246, 246).filled(),
            ))
            .map_err(err)?;
        let (_, py) = chart.plotting_area().get_pixel_range();
        target.text(
            root,
            "faults",
            Label::new(LABEL_SIZE, HPos::Right, VPos::Center),
            (plot_left() - 10, (py.start + py.end) / 2),
        )?;
        for (i, label, lane) in labels {
            let (start, end, _) = &data.faults[i];
            let top = (lanes - lane) as f64 - 0.1;
            let bottom = (lanes - lane - 1) as f64 + 0.1;
            chart
                .plotting_area()
                .draw(&Rectangle::new(
                    [(*start, top), (*end, bottom)],
                    FAULT.mix(0.35).filled(),
                ))
                .map_err(err)?;
            let (left, _) = chart.backend_coord(&(*start, top));
            let (_, mid) = chart.backend_coord(&(*start, (top + bottom) / 2.0));
            let text_x = label_left(left, text_width(&label, FAULT_SIZE));
            target.text(
                root,
                &label,
                Label::new(FAULT_SIZE, HPos::Left, VPos::Center),
                (text_x, mid),
            )?;
        }
    }

    // Panels, top to bottom.
    let mut rest = body;
    for (panel, height) in spec.panels.iter().zip(spec.panel_heights()) {
        let (area, below) = rest.split_vertically(height);
        if panel.lanes.is_empty() {
            draw_panel(&area, panel, spec.y_desc, data, target)?;
        } else {
            draw_lanes(&area, panel, data, target)?;
        }
        rest = below;
    }
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    y_desc: &str,
    data: &Data<'_>,
    target: Target,
) -> Result<(), String> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin_left(MARGIN_LEFT)
        .margin_right(MARGIN_RIGHT)
        .margin_top(CAPTION_H)
        .margin_bottom(4)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA);
    let x = 0.0..data.x_max;
    match panel.log_range() {
        Some((low, high)) => {
            let chart = builder
                .build_cartesian_2d(x, Log125 { low, high })
                .map_err(err)?;
            panel_contents(area, chart, panel, y_desc, data, target, (low, high))
        }
        None => {
            let high = panel.y_max();
            let chart = builder.build_cartesian_2d(x, 0.0..high).map_err(err)?;
            panel_contents(area, chart, panel, y_desc, data, target, (0.0, high))
        }
    }
}

/// A logarithmic axis from `low` to `high` (both positive) with ticks at 1, 2
/// and 5 times powers of ten, or at powers of ten alone when those are too
/// many.
#[derive(Clone)]
struct Log125 {
    low: f64,
    high: f64,
}

impl Ranged for Log125 {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        // Values at or below zero pin to well below the axis.
        let v = value.max(self.low * 1e-3);
        let f = (v.ln() - self.low.ln()) / (self.high.ln() - self.low.ln());
        let px = f64::from(limit.0) + f * f64::from(limit.1 - limit.0);
        px.round().clamp(-1e6, 1e6) as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        let max = hint.max_num_points();
        let first = self.low.log10().floor() as i32;
        let last = self.high.log10().ceil() as i32;
        for multiples in [&[1.0, 2.0, 5.0][..], &[1.0][..]] {
            let points: Vec<f64> = (first..=last)
                .flat_map(|e| multiples.iter().map(move |m| m * 10f64.powi(e)))
                .filter(|v| *v >= self.low * (1.0 - 1e-9) && *v <= self.high)
                .collect();
            if points.len() <= max {
                return points;
            }
        }
        Vec::new()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.low..self.high
    }
}

/// Caption, axes, fault shading, bands and lines of one panel, on either y
/// scale.
fn panel_contents<DB: DrawingBackend, Y: Ranged<ValueType = f64> + ValueFormatter<f64>>(
    outer: &DrawingArea<DB, Shift>,
    mut chart: ChartContext<'_, DB, Cartesian2d<RangedCoordf64, Y>>,
    panel: &Panel,
    y_desc: &str,
    data: &Data<'_>,
    target: Target,
    (low, high): (f64, f64),
) -> Result<(), String> {
    chart
        .configure_mesh()
        .x_labels(12)
        .y_labels(8)
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .label_style(font(TICK_SIZE).color(&TEXT))
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(RGBColor(120, 120, 120).stroke_width(1))
        .draw()
        .map_err(err)?;
    frame(outer, chart.plotting_area(), &panel.title, y_desc, target)?;
    let area = chart.plotting_area();
    for (start, end, _) in &data.faults {
        area.draw(&Rectangle::new(
            [(*start, low), (*end, high)],
            FAULT.mix(0.18).filled(),
        ))
        .map_err(err)?;
    }
    for band in &panel.bands {
        for polygon in &band.polygons {
            area.draw(&Polygon::new(
                polygon.clone(),
                band.colour.mix(0.85).filled(),
            ))
            .map_err(err)?;
        }
    }
    if let Some(y) = panel.reference {
        area.draw(&DashedPathElement::new(
            [(0.0, y), (data.x_max, y)],
            6,
            4,
            NOTE.stroke_width(2),
        ))
        .map_err(err)?;
    }
    for line in &panel.lines {
        let style = line.colour.stroke_width(line.width);
        for segment in &line.segments {
            if segment.len() == 1 {
                area.draw(&Circle::new(segment[0], 3, line.colour.filled()))
                    .map_err(err)?;
            } else {
                area.draw(&PathElement::new(segment.clone(), style))
                    .map_err(err)?;
            }
        }
    }
    Ok(())
}

/// A panel's caption above its plot area, the time axis description below
/// and `y_desc` (if any) along the left, in the panel's own coordinates.
fn frame<DB: DrawingBackend, X: CoordTranslate>(
    outer: &DrawingArea<DB, Shift>,
    plot: &DrawingArea<DB, X>,
    title: &str,
    y_desc: &str,
    target: Target,
) -> Result<(), String> {
    let (base_x, base_y) = outer.get_base_pixel();
    let (px, py) = plot.get_pixel_range();
    let (left, right) = (px.start - base_x, px.end - base_x);
    let (top, bottom) = (py.start - base_y, py.end - base_y);
    let caption = fit(title, CAPTION_SIZE, 2 * MAX_NAME + 40, right - left);
    target.text(
        outer,
        &caption,
        Label::new(CAPTION_SIZE, HPos::Center, VPos::Bottom),
        ((left + right) / 2, top - 8),
    )?;
    target.text(
        outer,
        "time (s)",
        Label::new(LABEL_SIZE, HPos::Center, VPos::Top),
        ((left + right) / 2, bottom + 28),
    )?;
    if !y_desc.is_empty() {
        let mut vertical = Label::new(LABEL_SIZE, HPos::Center, VPos::Top);
        vertical.vertical = true;
        target.text(
            outer,
            y_desc,
            vertical,
            (MARGIN_LEFT as i32, (top + bottom) / 2),
        )?;
    }
    Ok(())
}

/// A state timeline: one labelled row per lane, coloured spans along it,
/// fault windows shaded behind and showing between the rows.
fn draw_lanes<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    data: &Data<'_>,
    target: Target,
) -> Result<(), String> {
    let n = panel.lanes.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .margin_left(MARGIN_LEFT)
        .margin_right(MARGIN_RIGHT)
        .margin_top(CAPTION_H)
        .margin_bottom(4)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(0.0..data.x_max, 0.0..n)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels(12)
        .y_labels(0)
        .disable_y_mesh()
        .x_label_formatter(&|v| tick(*v))
        .label_style(font(TICK_SIZE).color(&TEXT))
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(RGBColor(120, 120, 120).stroke_width(1))
        .draw()
        .map_err(err)?;
    frame(area, chart.plotting_area(), &panel.title, "", target)?;
    let plot = chart.plotting_area();
    for (start, end, _) in &data.faults {
        plot.draw(&Rectangle::new(
            [(*start, 0.0), (*end, n)],
            FAULT.mix(0.18).filled(),
        ))
        .map_err(err)?;
    }
    let (base_x, base_y) = area.get_base_pixel();
    let (px, _) = plot.get_pixel_range();
    let label_right = px.start - base_x - 8;
    for (i, lane) in panel.lanes.iter().enumerate() {
        let top = n - i as f64 - 0.15;
        let bottom = n - i as f64 - 0.85;
        for &(start, end, colour) in &lane.spans {
            plot.draw(&Rectangle::new(
                [(start, top), (end, bottom)],
                colour.mix(0.85).filled(),
            ))
            .map_err(err)?;
        }
        let (_, mid) = chart.backend_coord(&(0.0, n - i as f64 - 0.5));
        let label = fit(&lane.label, TICK_SIZE, 20, label_right - MARGIN_LEFT as i32);
        target.text(
            area,
            &label,
            Label::new(TICK_SIZE, HPos::Right, VPos::Center),
            (label_right, mid - base_y),
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Glyph placement for bitmaps.
//
// plotters 0.3.7 draws each glyph's ink at the pen position, dropping the
// glyph's left side bearing, so letters sit unevenly ("parti tion"). Our own
// text in PNGs (titles, legends, captions, axis and fault labels) is drawn one
// glyph at a time, each moved right by its bearing, read from the bundled
// font's `hmtx` table. Tick labels (digits, whose bearings barely differ) and
// characters outside the table keep plotters' placement.

/// Side bearings of the bundled font, in font units.
struct Bearing {
    /// Ascender − descender (`hhea`): ab_glyph scales a font so that this
    /// height is the requested pixel size.
    height: f64,
    /// (first char, last char, idDelta, offset of its idRangeOffset word) of
    /// each segment of the format-4 `cmap` subtable.
    segments: Vec<(u32, u32, u16, usize)>,
    /// Left side bearing of each glyph.
    lsb: Vec<i16>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

impl Bearing {
    fn get() -> Option<&'static Bearing> {
        static BEARING: std::sync::OnceLock<Option<Bearing>> = std::sync::OnceLock::new();
        BEARING.get_or_init(|| Bearing::parse(FONT)).as_ref()
    }

    fn parse(b: &[u8]) -> Option<Bearing> {
        let table = |tag: &[u8; 4]| {
            (0..usize::from(u16_at(b, 4)?))
                .map(|i| 12 + 16 * i)
                .find(|&r| b.get(r..r + 4) == Some(&tag[..]))
                .and_then(|r| u32_at(b, r + 8).map(|o| o as usize))
        };
        let hhea = table(b"hhea")?;
        let height =
            f64::from(u16_at(b, hhea + 4)? as i16) - f64::from(u16_at(b, hhea + 6)? as i16);
        let metrics = usize::from(u16_at(b, hhea + 34)?);
        let glyphs = usize::from(u16_at(b, table(b"maxp")? + 4)?);
        let hmtx = table(b"hmtx")?;
        let lsb = (0..glyphs)
            .map(|g| {
                let at = if g < metrics {
                    hmtx + 4 * g + 2
                } else {
                    hmtx + 4 * metrics + 2 * (g - metrics)
                };
                u16_at(b, at).map(|v| v as i16)
            })
            .collect::<Option<Vec<i16>>>()?;
        let cmap = table(b"cmap")?;
        let sub = (0..usize::from(u16_at(b, cmap + 2)?))
            .map(|i| cmap + 4 + 8 * i)
            .find(|&r| u16_at(b, r) == Some(3) && u16_at(b, r + 2) == Some(1))
            .and_then(|r| u32_at(b, r + 4))
            .map(|o| cmap + o as usize)?;
        if u16_at(b, sub)? != 4 {
            return None;
        }
        let n = usize::from(u16_at(b, sub + 6)? / 2);
        let ends = sub + 14;
        let starts = ends + 2 * n + 2;
        let deltas = starts + 2 * n;
        let offsets = deltas + 2 * n;
        let segments = (0..n)
            .map(|i| {
                Some((
                    u32::from(u16_at(b, starts + 2 * i)?),
                    u32::from(u16_at(b, ends + 2 * i)?),
                    u16_at(b, deltas + 2 * i)?,
                    offsets + 2 * i,
                ))
            })
            .collect::<Option<Vec<_>>>()?;
        (height > 0.0).then_some(Bearing {
            height,
            segments,
            lsb,
        })
    }

    fn glyph(&self, c: char) -> Option<usize> {
        let c = u32::from(c);
        let &(first, _, delta, range_at) = self
            .segments
            .iter()
            .find(|&&(first, last, _, _)| first <= c && c <= last)?;
        let range = usize::from(u16_at(FONT, range_at)?);
        let id = if range == 0 {
            (c as u16).wrapping_add(delta)
        } else {
            let g = u16_at(FONT, range_at + range + 2 * (c - first) as usize)?;
            if g == 0 {
                return None;
            }
            g.wrapping_add(delta)
        };
        Some(usize::from(id))
    }

    /// How far right of the pen the ink of `c` starts at `size` pixels,
    /// as ab_glyph rounds it.
    fn offset(&self, c: char, size: f64) -> i32 {
        self.glyph(c)
            .and_then(|g| self.lsb.get(g))
            .map_or(0, |&lsb| {
                (f64::from(lsb) * size / self.height).floor() as i32
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{SimDuration, SimTime, StopReason};
    use crate::metrics::BreakerEvent;
    use crate::world::EdgeInfo;
    use crate::world::network::NetworkStats;
    use std::collections::BTreeMap;

    fn row(kind: EntityKind, entity: u32, i: u64, counts: Counts, p50: Option<f64>) -> WindowRow {
        WindowRow {
            start: SimTime::from_nanos(i * 1_000_000_000),
            end: SimTime::from_nanos((i + 1) * 1_000_000_000),
            kind,
            entity,
            counts,
            latency_ms_p50: p50,
            latency_ms_p99: p50.map(|v| v * 3.0),
            in_flight: i % 5,
            queue_length: (kind == EntityKind::Service).then_some(i % 3),
            breakers_open: None,
        }
    }

    fn outcome(windows: u64, successes: bool, names: &[&str]) -> RunOutcome {
        let mut rows = Vec::new();
        for i in 0..windows {
            let c = Counts {
                requests: 100 + i,
                successes: if successes { 90 } else { 0 },
                errors: 3,
                rejected: i % 2,
                timeouts: 1,
                dropped: 2,
                dependency: 1,
                ..Counts::default()
            };
            rows.push(row(
                EntityKind::Route,
                0,
                i,
                c,
                successes.then_some(10.0 + i as f64),
            ));
            for s in 0..names.len() as u32 {
                rows.push(row(EntityKind::Service, s, i, c, Some(5.0)));
            }
        }
        RunOutcome {
            stop: StopReason::Horizon,
            end: SimTime::from_nanos(windows * 1_000_000_000),
            events: 0,
            service_names: names.iter().map(|s| s.to_string()).collect(),
            route_names: vec!["checkout".into()],
            route_services: vec![0],
            routes: Vec::new(),
            services: Vec::new(),
            service_workers: vec![4; names.len()],
            edges: Vec::new(),
            edge_stats: Vec::new(),
            breaker_events: Vec::new(),
            breaker_events_dropped: 0,
            breaker_transitions: Vec::new(),
            rows,
            network: NetworkStats::default(),
            faults: vec![
                FaultWindow {
                    kind: "crash",
                    target: format!("{} instance 0", names[0]),
                    start: SimTime::from_nanos(1_000_000_000),
                    end: Some(SimTime::from_nanos(3_000_000_000)),
                },
                FaultWindow {
                    kind: "latency",
                    target: "everything +5ms".into(),
                    start: SimTime::from_nanos(2_000_000_000),
                    end: None,
                },
            ],
        }
    }

    fn names(files: &Files) -> Vec<&str> {
        files.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn renders_every_chart_as_svg_and_png() {
        let files = render(&outcome(10, true, &["orders", "payments"])).unwrap();
        assert_eq!(
            names(&files),
            [
                "charts/latency.svg",
                "charts/latency.png",
                "charts/throughput.svg",
                "charts/throughput.png",
                "charts/service_queues.svg",
                "charts/service_queues.png",
                "charts/service_outcomes.svg",
                "charts/service_outcomes.png",
            ]
        );
        for (name, bytes) in &files {
            if name.ends_with(".png") {
                assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name}");
            } else {
                let text = std::str::from_utf8(bytes).unwrap();
                assert!(text.starts_with("<svg"), "{name}");
                assert!(text.contains("time (s)"), "{name}");
                assert!(text.contains("crash: orders instance 0"), "{name}");
            }
        }
        assert!(files.iter().all(|(n, _)| title_of(n).is_some()));
    }

    #[test]
    fn the_same_run_gives_the_same_bytes() {
        let run = outcome(30, true, &["orders", "payments"]);
        assert_eq!(render(&run).unwrap(), render(&run).unwrap());
    }

    #[test]
    fn a_route_without_successes_has_no_latency_chart() {
        let files = render(&outcome(5, false, &["orders"])).unwrap();
        let names = names(&files);
        assert!(!names.contains(&"charts/latency.svg"));
        assert!(names.contains(&"charts/throughput.png"));
    }

    #[test]
    fn a_single_window_and_an_empty_run_do_not_panic() {
        let files = render(&outcome(1, true, &["orders"])).unwrap();
        assert_eq!(files.len(), 8);
        let mut empty = outcome(0, true, &["orders"]);
        empty.end = SimTime::ZERO;
        assert!(render(&empty).unwrap().is_empty());
        // All-zero counts and no latency at all.
        let mut zeros = outcome(3, false, &["orders"]);
        for r in &mut zeros.rows {
            r.counts = Counts::default();
            r.latency_ms_p50 = None;
            r.latency_ms_p99 = None;
        }
        assert_eq!(render(&zeros).unwrap().len(), 6);
    }

    #[test]
    fn faults_beyond_the_run_and_odd_names_are_harmless() {
        let long = "x".repeat(500);
        let mut run = outcome(4, true, &["<script>alert(1)</script>", &long]);
        run.faults.push(FaultWindow {
            kind: "partition",
            target: long.clone(),
            start: SimTime::ZERO + SimDuration::from_nanos_f64(9e9),
            end: None,
        });
        let files = render(&run).unwrap();
        for (name, bytes) in files.iter().filter(|(n, _)| n.ends_with(".svg")) {
            let text = std::str::from_utf8(bytes).unwrap();
            assert!(!text.contains("<script>"), "{name}");
        }
    }

    #[test]
    fn cuts_long_text_to_fit() {
        register_fonts();
        let s = fit(&"w".repeat(300), 13.0, 60, 200);
        assert!(s.ends_with('…'));
        assert!(text_width(&s, 13.0) <= 200);
        assert_eq!(fit("short", 13.0, 60, 200), "short");
    }

    // ----- resilience charts -------------------------------------------------

    fn edge(name: &str, callee: u32, is_route: bool, units: u32) -> EdgeInfo {
        EdgeInfo {
            name: name.to_string(),
            callee,
            policy: Some("p".into()),
            is_route,
            has_breaker: units > 0,
            units: units.max(1),
        }
    }

    fn transition(
        at_ms: u64,
        edge: u32,
        unit: u32,
        from: &'static str,
        to: &'static str,
    ) -> BreakerEvent {
        BreakerEvent {
            at: SimTime::from_nanos(at_ms * 1_000_000),
            edge,
            unit,
            from,
            to,
        }
    }

    /// `outcome` with a route (edge 0) into `orders` and an edge
    /// `orders->payments` (edge 1) with `units` breakers (none when 0):
    /// retries, hedges, denied retries and local refusals in every window,
    /// and amplification at `payments`.
    fn resilient(windows: u64, units: u32) -> RunOutcome {
        let mut run = outcome(windows, true, &["orders", "payments"]);
        run.edges = vec![
            edge("client->orders", 0, true, units.min(1)),
            edge("orders->payments [p]", 1, false, units),
        ];
        for r in &mut run.rows {
            let i = r.start.as_nanos() / 1_000_000_000;
            match (r.kind, r.entity) {
                (EntityKind::Route, _) => {
                    r.counts.attempts = 110 + i;
                    r.counts.retries = 10;
                    r.counts.breaker_open = i % 3;
                    r.counts.rate_limited = 1;
                    r.breakers_open = Some(0);
                }
                (EntityKind::Service, 1) => {
                    r.counts.calls = 50;
                    r.counts.requests = 50 + 5 * i;
                }
                _ => {}
            }
        }
        for i in 0..windows {
            let counts = Counts {
                requests: 50,
                successes: 45,
                attempts: 50 + 5 * i,
                retries: 4 * i,
                hedges: i,
                retries_denied: i % 2,
                ..Counts::default()
            };
            let mut r = row(EntityKind::Edge, 1, i, counts, None);
            r.breakers_open = (units > 0).then_some(0);
            run.rows.push(r);
        }
        if units > 0 && windows > 0 {
            run.breaker_events = vec![
                transition(500, 1, 0, "closed", "open"),
                transition(1_500, 1, 0, "open", "half_open"),
                transition(1_510, 1, 0, "half_open", "closed"),
                transition(1_700, 0, 0, "closed", "forced_open"),
            ];
            let mut one = BTreeMap::new();
            one.insert(("closed", "open"), 1);
            run.breaker_transitions = vec![BTreeMap::new(), one];
        } else {
            run.breaker_transitions = vec![BTreeMap::new(); 2];
        }
        run
    }

    fn legend(spec: &Spec) -> Vec<String> {
        spec.legend.iter().map(|l| l.label.to_string()).collect()
    }

    #[test]
    fn resilience_charts_render_and_give_the_same_bytes_twice() {
        let run = resilient(12, 2);
        let files = render(&run).unwrap();
        let names = names(&files);
        for chart in ["amplification", "attempts", "breakers"] {
            assert!(
                names.contains(&format!("charts/{chart}.svg").as_str()),
                "{names:?}"
            );
            assert!(
                names.contains(&format!("charts/{chart}.png").as_str()),
                "{names:?}"
            );
        }
        assert!(files.iter().all(|(n, _)| title_of(n).is_some()));
        assert_eq!(files, render(&run).unwrap());
        let svg = |name: &str| {
            let (_, bytes) = files.iter().find(|(n, _)| n == name).unwrap();
            String::from_utf8(bytes.clone()).unwrap()
        };
        assert!(svg("charts/amplification.svg").contains("attempts ÷ calls"));
        assert!(
            svg("charts/breakers.svg").contains("orders-&gt;payments [p]: 2 breakers, opened once")
        );
        assert!(svg("charts/breakers.svg").contains("instance 1"));
        assert!(
            svg("charts/attempts.svg").contains("route checkout (client-&gt;orders, policy p)")
        );
    }

    #[test]
    fn local_refusals_join_the_route_stack_only_when_they_happen() {
        let run = resilient(6, 0);
        let data = Data::new(&run);
        let labels = legend(&data.throughput().unwrap());
        assert!(labels.contains(&"breaker open/s".to_string()), "{labels:?}");
        assert!(labels.contains(&"rate limited/s".to_string()), "{labels:?}");
        assert!(
            !labels.contains(&"bulkhead full/s".to_string()),
            "{labels:?}"
        );
        assert!(!labels.contains(&"throttled/s".to_string()), "{labels:?}");
        let plain = outcome(6, true, &["orders"]);
        let labels = legend(&Data::new(&plain).throughput().unwrap());
        assert!(!labels.iter().any(|l| l.contains("breaker")), "{labels:?}");
    }

    #[test]
    fn runs_without_policies_or_breakers_have_no_resilience_charts() {
        // No edges at all.
        let files = render(&outcome(5, true, &["orders", "payments"])).unwrap();
        assert!(names(&files).iter().all(|n| !n.contains("amplification")
            && !n.contains("attempts")
            && !n.contains("breakers")));
        // Edges with policies but no breaker: no breaker chart.
        let files = render(&resilient(5, 0)).unwrap();
        let names = names(&files);
        assert!(names.contains(&"charts/amplification.png"));
        assert!(!names.iter().any(|n| n.contains("breakers")), "{names:?}");
        // Calls made but the policy did nothing and every call arrived once.
        let mut quiet = resilient(5, 0);
        for r in &mut quiet.rows {
            r.counts.retries = 0;
            r.counts.hedges = 0;
            r.counts.retries_denied = 0;
            r.counts.breaker_open = 0;
            r.counts.rate_limited = 0;
            if r.kind == EntityKind::Service {
                r.counts.requests = r.counts.calls;
            }
        }
        let data = Data::new(&quiet);
        assert!(data.amplification().is_none());
        assert!(data.attempts().is_none());
    }

    #[test]
    fn a_breaker_that_never_transitions_is_one_closed_band() {
        let mut run = resilient(4, 1);
        run.breaker_events.clear();
        run.breaker_transitions = vec![BTreeMap::new(); 2];
        let data = Data::new(&run);
        let spec = data.breakers().unwrap();
        assert_eq!(spec.panels.len(), 2);
        for panel in &spec.panels {
            assert!(
                panel.title.ends_with("1 breaker, never opened"),
                "{}",
                panel.title
            );
            assert_eq!(panel.lanes.len(), 1);
            assert_eq!(panel.lanes[0].spans, vec![(0.0, 4.0, PALE_GREEN)]);
        }
        assert_eq!(spec.panels[0].lanes[0].label, "clients");
        assert_eq!(spec.panels[1].lanes[0].label, "shared");
        assert_eq!(legend(&spec), ["closed"]);
        assert_eq!(render(&run).unwrap(), render(&run).unwrap());
    }

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

    #[test]
    fn many_breakers_are_counted_per_edge() {
        let mut run = resilient(8, 30);
        run.breaker_events
            .push(transition(2_000, 1, 29, "closed", "open"));
        run.breaker_events
            .push(transition(2_000, 1, 28, "closed", "open"));
        let data = Data::new(&run);
        let spec = data.breakers().unwrap();
        // The route's single breaker still gets its band; the 30 of the edge
        // are counted.
        assert_eq!(spec.panels[0].lanes.len(), 1);
        assert!(spec.panels[1].lanes.is_empty());
        assert_eq!(spec.panels[1].reference, Some(30.0));
        let top = spec.panels[1]
            .bands
            .iter()
            .map(|b| b.top)
            .fold(0.0, f64::max);
        assert!((top - 2.0).abs() < 1e-9, "{top}");
        assert!(
            legend(&spec)
                .iter()
                .any(|l| l.starts_with("30 breakers shown as counts"))
        );
        assert_eq!(render(&run).unwrap(), render(&run).unwrap());
    }

    #[test]
    fn dropped_transitions_are_said_and_not_drawn() {
        let mut run = resilient(8, 2);
        run.breaker_events_dropped = 7;
        let data = Data::new(&run);
        let spec = data.breakers().unwrap();
        assert!(
            legend(&spec)
                .iter()
                .any(|l| l.starts_with("7 later transitions not recorded"))
        );
        let end = spec.panels[1].lanes[0].spans.last().unwrap().1;
        assert!((end - 1.7).abs() < 1e-9, "{end}");
    }

    #[test]
    fn resilience_charts_survive_a_single_window_and_odd_data() {
        let files = render(&resilient(1, 2)).unwrap();
        assert!(names(&files).contains(&"charts/breakers.png"));
        // Events for units and edges that do not exist, out of order, at
        // the very end; an edge row for an unknown edge.
        let mut odd = resilient(3, 2);
        odd.breaker_events
            .push(transition(2_500, 1, 99, "closed", "open"));
        odd.breaker_events
            .push(transition(100, 1, 1, "closed", "open"));
        odd.breaker_events
            .push(transition(3_000, 1, 1, "open", "half_open"));
        odd.breaker_events
            .push(transition(9_000, 7, 0, "closed", "open"));
        let mut stray = odd.rows[0].clone();
        stray.kind = EntityKind::Edge;
        stray.entity = 40;
        odd.rows.push(stray);
        assert_eq!(render(&odd).unwrap(), render(&odd).unwrap());
        // Zero-length run with edges.
        let mut empty = resilient(0, 2);
        empty.end = SimTime::ZERO;
        assert!(render(&empty).unwrap().is_empty());
    }

    #[test]
    fn many_panels_are_capped_with_a_note() {
        let mut run = resilient(3, 0);
        run.breaker_transitions = vec![BTreeMap::new(); 42];
        for i in 0..40 {
            run.edges.push(edge(&format!("e{i}"), 1, false, 1));
        }
        let data = Data::new(&run);
        let spec = data.breakers().unwrap();
        assert_eq!(spec.panels.len(), MAX_PANELS);
        assert!(
            legend(&spec)
                .iter()
                .any(|l| l.starts_with("16 more edges with breakers not shown"))
        );
    }
}
