//! Charts of a run, as SVG and PNG: route latency, route throughput against
//! failures, service queues and service outcomes over virtual time, with the
//! fault windows shaded on every chart.
//!
//! Text is drawn with the DejaVu Sans font bundled in `assets/fonts/` (see
//! its licence there), so PNGs render the same on a machine without any
//! system font. The same [`RunOutcome`] always gives the same bytes.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, FontTransform, register_font};

use super::output::Files;
use crate::metrics::{EntityKind, WindowRow};
use crate::world::{FaultWindow, RunOutcome};

/// DejaVu Sans (Bitstream Vera licence, assets/fonts/LICENSE-DejaVu.txt).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// The family every chart asks for; SVG viewers use their own sans-serif.
const FAMILY: &str = "sans-serif";

/// The charts this module can draw, in the order they are returned: file
/// stem under `charts/` and a title for reports.
pub const CHARTS: [(&str, &str); 4] = [
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
    routes: Vec<Vec<Window<'a>>>,
    services: Vec<Vec<Window<'a>>>,
    /// Faults clipped to the time axis: (start, end, label).
    faults: Vec<(f64, f64, String)>,
}

impl<'a> Data<'a> {
    fn new(run: &'a RunOutcome) -> Data<'a> {
        let mut routes = vec![Vec::new(); run.route_names.len()];
        let mut services = vec![Vec::new(); run.service_names.len()];
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
                EntityKind::Edge => None,
            };
            if let Some(list) = list {
                list.push(w);
            }
        }
        for list in routes.iter_mut().chain(services.iter_mut()) {
            list.sort_by(|a, b| a.start.total_cmp(&b.start));
        }
        if !(x_max > 0.0 && x_max.is_finite()) {
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
            routes,
            services,
            faults,
        }
    }

    fn charts(&self) -> Vec<Spec> {
        [
            self.latency(),
            self.throughput(),
            self.service_queues(),
            self.service_outcomes(),
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
                    ],
                ),
                lines: vec![Line::new(
                    GREEN,
                    2,
                    vec![steps(windows, |w| w.rate(w.row.counts.successes))],
                )],
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
            ],
            panels,
        )
    }
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

/// A stacked band: its colour and the count it shows.
type Layer = (RGBColor, fn(&WindowRow) -> u64);

/// Rates stacked bottom to top in the given order, as bands. A band is
/// drawn only where it has some thickness, so an empty reason leaves no
/// hairline along the axis.
fn stack(windows: &[Window<'_>], layers: &[Layer]) -> Vec<Band> {
    let mut below = vec![0.0; windows.len()];
    let mut bands = Vec::new();
    for (colour, count) in layers {
        let above: Vec<f64> = windows
            .iter()
            .zip(&below)
            .map(|(w, b)| b + w.rate(count(w.row)))
            .collect();
        let mut polygons = Vec::new();
        let mut run: Vec<usize> = Vec::new();
        for i in 0..=windows.len() {
            let thick = i < windows.len() && above[i] > below[i];
            if thick {
                run.push(i);
                continue;
            }
            if run.is_empty() {
                continue;
            }
            let upper = run
                .iter()
                .flat_map(|&j| [(windows[j].start, above[j]), (windows[j].end, above[j])]);
            let lower = run
                .iter()
                .rev()
                .flat_map(|&j| [(windows[j].end, below[j]), (windows[j].start, below[j])]);
            polygons.push(upper.chain(lower).collect());
            run.clear();
        }
        if !polygons.is_empty() {
            bands.push(Band {
                colour: *colour,
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

struct Panel {
    title: String,
    /// A logarithmic y axis (latency), else linear from zero.
    log: bool,
    bands: Vec<Band>,
    lines: Vec<Line>,
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
        let max = lines.map(|p| p.1).chain(bands).fold(0.0_f64, f64::max);
        if max > 0.0 && max.is_finite() {
            max * 1.08
        } else {
            1.0
        }
    }
}

enum Mark {
    Line,
    Area,
    Note,
}

struct Legend {
    label: &'static str,
    colour: RGBColor,
    mark: Mark,
}

impl Legend {
    fn line(label: &'static str, colour: RGBColor) -> Legend {
        Legend {
            label,
            colour,
            mark: Mark::Line,
        }
    }

    fn area(label: &'static str, colour: RGBColor) -> Legend {
        Legend {
            label,
            colour,
            mark: Mark::Area,
        }
    }

    fn note(label: &'static str) -> Legend {
        Legend {
            label,
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
        swatch + text_width(self.label, LEGEND_SIZE) + 24
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
        // An area nobody drew (a failure reason that never happened) is left
        // out of the legend.
        let mut legend = legend;
        legend.retain(|item| {
            !matches!(item.mark, Mark::Area)
                || panels
                    .iter()
                    .any(|p| p.bands.iter().any(|b| b.colour == item.colour))
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
            label: "fault active",
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

    fn size(&self, data: &Data<'_>) -> (u32, u32) {
        (
            WIDTH,
            self.header_height(data) + self.panel_height() * self.panels.len() as u32,
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
            target.text(&header, item.label, label, (text_x, mid))?;
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

    // Panels.
    let panels = body.split_evenly((spec.panels.len(), 1));
    for (area, panel) in panels.iter().zip(&spec.panels) {
        draw_panel(area, panel, spec.y_desc, data, target)?;
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
    // Caption and axis descriptions, in the panel's own coordinates.
    let (base_x, base_y) = outer.get_base_pixel();
    let (px, py) = chart.plotting_area().get_pixel_range();
    let (left, right) = (px.start - base_x, px.end - base_x);
    let (top, bottom) = (py.start - base_y, py.end - base_y);
    let caption = fit(&panel.title, CAPTION_SIZE, MAX_NAME + 20, right - left);
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
    let mut vertical = Label::new(LABEL_SIZE, HPos::Center, VPos::Top);
    vertical.vertical = true;
    target.text(
        outer,
        y_desc,
        vertical,
        (MARGIN_LEFT as i32, (top + bottom) / 2),
    )?;
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
    use crate::metrics::Counts;
    use crate::world::network::NetworkStats;

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
}
