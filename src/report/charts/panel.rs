//! What a chart shows, before it is drawn: a [`Spec`] of [`Panel`]s (with
//! their lines, stacked bands, reference line or state timeline lanes) and
//! a legend, with the heights they take; and where the fault labels go.

use std::borrow::Cow;

use plotters::style::RGBColor;

use super::CHARTS;
use super::data::Data;
use super::style::{
    BAND_ROW_H, CAPTION_H, FAULT, FAULT_SIZE, LANE_H, LEGEND_ROW_H, LEGEND_SIZE, MAX_NAME,
    STRIP_PAD, TEXT, TITLE_H, WIDTH, X_LABEL_AREA, fit, plot_left, plot_right, text_width,
};

pub(super) struct Line {
    pub(super) colour: RGBColor,
    pub(super) width: u32,
    pub(super) segments: Vec<Vec<(f64, f64)>>,
}

impl Line {
    pub(super) fn new(colour: RGBColor, width: u32, segments: Vec<Vec<(f64, f64)>>) -> Line {
        Line {
            colour,
            width,
            segments,
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
    pub(super) fn line(label: &'static str, colour: RGBColor) -> Legend {
        Legend {
            label: Cow::Borrowed(label),
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
    pub(super) fn legend_rows(&self, data: &Data<'_>) -> Vec<Vec<&Legend>> {
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

    pub(super) fn panel_heights(&self) -> Vec<u32> {
        let uniform = self.panel_height();
        self.panels.iter().map(|p| p.height(uniform)).collect()
    }

    pub(super) fn size(&self, data: &Data<'_>) -> (u32, u32) {
        (
            WIDTH,
            self.header_height(data) + self.panel_heights().iter().sum::<u32>(),
        )
    }

    pub(super) fn header_height(&self, data: &Data<'_>) -> u32 {
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
pub(super) fn fault_lanes(data: &Data<'_>) -> (Vec<(usize, String, usize)>, usize) {
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
pub(super) fn label_left(start_px: i32, text_w: i32) -> i32 {
    (start_px + 4)
        .min(plot_right() - text_w - 2)
        .max(plot_left())
}
