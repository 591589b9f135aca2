//! What a chart shows, before it is drawn: a [`Spec`] of [`Panel`]s (with
//! their lines, stacked bands, reference line or state timeline lanes) and
//! a legend, with the heights they take; and the strips above the panels
//! (schedule changes and faults) with the lane of each label.

use std::borrow::Cow;

use plotters::style::RGBColor;

use super::CHARTS;
use super::data::Data;
use super::style::{
    BAND_ROW_H, CAPTION_H, FAULT, FAULT_SIZE, LANE_H, LEGEND_ROW_H, LEGEND_SIZE, LOAD, MAX_HEIGHT,
    MAX_LANES, MAX_NAME, STRIP_PAD, TEXT, TITLE_H, WIDTH, X_LABEL_AREA, fit, plot_left, plot_right,
    text_width,
};

pub(super) struct Line {
    pub(super) colour: RGBColor,
    pub(super) width: u32,
    pub(super) segments: Vec<Vec<(f64, f64)>>,
    /// Drawn dashed: something planned (the offered rate), not measured.
    pub(super) dashed: bool,
}

impl Line {
    pub(super) fn new(colour: RGBColor, width: u32, segments: Vec<Vec<(f64, f64)>>) -> Line {
        Line {
            colour,
            width,
            segments,
            dashed: false,
        }
    }

    pub(super) fn dashed(colour: RGBColor, width: u32, segments: Vec<Vec<(f64, f64)>>) -> Line {
        Line {
            dashed: true,
            ..Line::new(colour, width, segments)
        }
    }
}

pub(super) struct Band {
    pub(super) colour: RGBColor,
    /// The highest point of the band.
    pub(super) top: f64,
    /// Closed outlines (top edge, then bottom edge back), one per stretch
    /// of windows where the band is not empty.
    pub(super) polygons: Vec<Vec<(f64, f64)>>,
}

/// One row of a state timeline: a label left of the plot and coloured
/// (start, end, colour) spans.
pub(super) struct Lane {
    pub(super) label: String,
    pub(super) spans: Vec<(f64, f64, RGBColor)>,
}

#[derive(Default)]
pub(super) struct Panel {
    pub(super) title: String,
    /// A logarithmic y axis (latency), else linear from zero.
    pub(super) log: bool,
    pub(super) bands: Vec<Band>,
    pub(super) lines: Vec<Line>,
    /// A dashed horizontal line at this value.
    pub(super) reference: Option<f64>,
    /// The linear y axis reaches at least this high.
    pub(super) min_top: f64,
    /// Rows of a state timeline, top to bottom. A panel with lanes has no y
    /// scale: its bands and lines are not drawn.
    pub(super) lanes: Vec<Lane>,
    /// The y axis description, when not the chart's.
    pub(super) y_desc: Option<&'static str>,
    /// The fault windows shaded (start, end, seconds), when not every
    /// fault of the run: the per-instance chart shades only the faults of
    /// the panel's service.
    pub(super) faults: Option<Vec<(f64, f64)>>,
}

impl Panel {
    /// The y range of a logarithmic panel: from the power of ten at or below
    /// the smallest positive value to a little above the largest.
    pub(super) fn log_range(&self) -> Option<(f64, f64)> {
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

    pub(super) fn y_max(&self) -> f64 {
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

pub(super) enum Mark {
    Line,
    /// A dashed reference line.
    Dashed,
    Area,
    Note,
}

pub(super) struct Legend {
    pub(super) label: Cow<'static, str>,
    pub(super) colour: RGBColor,
    pub(super) mark: Mark,
}

impl Legend {
    pub(super) fn line(label: impl Into<Cow<'static, str>>, colour: RGBColor) -> Legend {
        Legend {
            label: label.into(),
            colour,
            mark: Mark::Line,
        }
    }

    pub(super) fn dashed(label: &'static str, colour: RGBColor) -> Legend {
        Legend {
            label: Cow::Borrowed(label),
            colour,
            mark: Mark::Dashed,
        }
    }

    pub(super) fn area(label: &'static str, colour: RGBColor) -> Legend {
        Legend {
            label: Cow::Borrowed(label),
            colour,
            mark: Mark::Area,
        }
    }

    pub(super) fn note(label: impl Into<Cow<'static, str>>) -> Legend {
        Legend {
            label: label.into(),
            colour: TEXT,
            mark: Mark::Note,
        }
    }

    pub(super) fn width(&self) -> i32 {
        let swatch = if matches!(self.mark, Mark::Note) {
            0
        } else {
            30
        };
        swatch + text_width(&self.label, LEGEND_SIZE) + 24
    }
}

pub(super) struct Spec {
    pub(super) name: &'static str,
    pub(super) title: &'static str,
    pub(super) y_desc: &'static str,
    pub(super) legend: Vec<Legend>,
    pub(super) panels: Vec<Panel>,
}

impl Spec {
    pub(super) fn new(
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
                Mark::Line => p.lines.iter().any(|l| l.colour == item.colour && !l.dashed),
                Mark::Dashed => {
                    p.reference.is_some()
                        || p.lines.iter().any(|l| l.colour == item.colour && l.dashed)
                }
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
    pub(super) fn legend_rows(&self, data: &Data<'_>) -> Vec<Vec<&Legend>> {
        static FAULT_LEGEND: Legend = Legend {
            label: Cow::Borrowed("fault active"),
            colour: FAULT,
            mark: Mark::Area,
        };
        static LOAD_LEGEND: Legend = Legend {
            label: Cow::Borrowed("load change (spike, ramp; dashed: step)"),
            colour: LOAD,
            mark: Mark::Area,
        };
        let mut items: Vec<&Legend> = self.legend.iter().collect();
        if !data.load.is_empty() {
            items.push(&LOAD_LEGEND);
        }
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

    pub(super) fn panel_heights(&self) -> Vec<u32> {
        let uniform = self.panel_height();
        self.panels.iter().map(|p| p.height(uniform)).collect()
    }

    /// The image's size: [`WIDTH`] wide, and as tall as its header and
    /// panels, which is at most [`MAX_HEIGHT`] because everything that can
    /// grow with a scenario is capped (panels, lanes, legend items).
    pub(super) fn size(&self, data: &Data<'_>) -> (u32, u32) {
        let height = self.header_height(data) + self.panel_heights().iter().sum::<u32>();
        debug_assert!(height <= MAX_HEIGHT, "{}: {height} px tall", self.name);
        (WIDTH, height)
    }

    pub(super) fn header_height(&self, data: &Data<'_>) -> u32 {
        let legend = LEGEND_ROW_H * self.legend_rows(data).len() as u32;
        let strips: u32 = strips(data).iter().map(Strip::height).sum();
        TITLE_H + legend + strips + 6
    }
}

/// A strip above the panels, on their time axis: the workload's schedule
/// changes (`load`) or the faults, one bar each, labels in lanes so that no
/// two overlap.
pub(super) struct Strip {
    /// Written left of the strip.
    pub(super) name: &'static str,
    pub(super) colour: RGBColor,
    /// (start, end, label, lane); the label is empty for a bar past
    /// [`MAX_LANES`] lanes, drawn in the lane that frees up first.
    pub(super) bars: Vec<(f64, f64, String, usize)>,
    pub(super) lanes: usize,
    /// Bars drawn without a label, for want of a lane.
    pub(super) unlabelled: usize,
}

impl Strip {
    pub(super) fn height(&self) -> u32 {
        LANE_H * self.lanes as u32 + 2 * STRIP_PAD
    }
}

/// The strips of a chart, top to bottom: schedule changes, then faults;
/// a strip with nothing on the time axis is left out.
pub(super) fn strips(data: &Data<'_>) -> Vec<Strip> {
    let load: Vec<(f64, f64, &str)> = data
        .load
        .iter()
        .map(|(start, end, label, _)| (*start, *end, label.as_str()))
        .collect();
    let faults: Vec<(f64, f64, &str)> = data
        .faults
        .iter()
        .map(|(start, end, label)| (*start, *end, label.as_str()))
        .collect();
    [("load", LOAD, load), ("faults", FAULT, faults)]
        .into_iter()
        .filter(|(_, _, items)| !items.is_empty())
        .map(|(name, colour, items)| lanes(name, colour, &items, data.x_max))
        .collect()
}

/// Places `items` (start, end, label) in lanes: each in the first lane
/// free from its label's left to its bar's or label's right, at most
/// [`MAX_LANES`] lanes (thousands of faults at once must not make a chart
/// thousands of lanes tall).
fn lanes(name: &'static str, colour: RGBColor, items: &[(f64, f64, &str)], x_max: f64) -> Strip {
    let span = f64::from(plot_right() - plot_left());
    let px = |x: f64| plot_left() + (x / x_max * span).round() as i32;
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| items[a].0.total_cmp(&items[b].0));
    // Rightmost occupied pixel of each lane.
    let mut lanes: Vec<i32> = Vec::new();
    let mut bars = Vec::with_capacity(items.len());
    let mut unlabelled = 0;
    for i in order {
        let (start, end, label) = items[i];
        let label = fit(label, FAULT_SIZE, MAX_NAME, plot_right() - plot_left() - 8);
        let left = px(start);
        let text_left = label_left(left, text_width(&label, FAULT_SIZE));
        let from = left.min(text_left);
        let to = px(end).max(text_left + text_width(&label, FAULT_SIZE) + 4);
        let free = lanes.iter().position(|&right| right + 6 < from);
        let (lane, label, to) = match free {
            Some(l) => (l, label, to),
            None if lanes.len() < MAX_LANES => {
                lanes.push(i32::MIN);
                (lanes.len() - 1, label, to)
            }
            None => {
                unlabelled += 1;
                let first_free = (0..lanes.len()).min_by_key(|&l| lanes[l]).unwrap_or(0);
                (first_free, String::new(), px(end))
            }
        };
        lanes[lane] = lanes[lane].max(to);
        bars.push((start, end, label, lane));
    }
    Strip {
        name,
        colour,
        bars,
        lanes: lanes.len(),
        unlabelled,
    }
}

/// Where a fault label starts: just right of the fault's start, moved left
/// if it would run off the plot.
pub(super) fn label_left(start_px: i32, text_w: i32) -> i32 {
    (start_px + 4)
        .min(plot_right() - text_w - 2)
        .max(plot_left())
}
