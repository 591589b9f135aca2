//! The charts of a comparison, as SVG: each key metric by variant (the mean
//! with its 95% interval bar, the best variant and the baseline marked), and
//! availability against p99 latency as a scatter with the Pareto front
//! (the variants no other beats on both) joined and filled.
//!
//! The look is report/charts': the same font (registered through
//! [`crate::report::charts::register_fonts`]), the same Okabe–Ito palette
//! and grey grid, 1200 px wide. The same results always give the same bytes.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use plotters::style::{FontDesc, FontFamily, FontStyle};

use super::Comparison;
use super::metrics::{Better, METRICS, Unit};

// The palette of report/charts/style.rs (Okabe & Ito, colour-blind safe).
// The run report's palette (Okabe and Ito) and width, so both reports look
// alike.
use crate::report::charts::style::{BLUE, GREEN, GRID, TEXT, VERMILLION, WIDTH};
const AXIS: RGBColor = RGBColor(120, 120, 120);
const HEIGHT: u32 = 440;
/// Longest variant name on an axis, in characters.
const MAX_LABEL: usize = 28;

fn font(size: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name("sans-serif"), size, FontStyle::Normal)
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A variant's name cut to fit under its column.
fn label(name: &str, room: usize) -> String {
    let room = room.clamp(4, MAX_LABEL);
    if name.chars().count() <= room {
        name.to_string()
    } else {
        let cut: String = name.chars().take(room - 1).collect();
        format!("{cut}…")
    }
}

/// The files `charts/<metric>.svg` for every metric, then
/// `charts/pareto.svg`, each with its title.
pub fn render(c: &Comparison) -> Result<Vec<(String, String, String)>, String> {
    crate::report::charts::register_fonts();
    let mut out = Vec::new();
    for (m, metric) in METRICS.iter().enumerate() {
        let title = format!(
            "{} by variant ({}; {} is better), mean and 95% interval over {} seeds",
            metric.title,
            unit_name(metric.unit),
            match metric.better {
                Better::Higher => "higher",
                Better::Lower => "lower",
            },
            c.seeds.len()
        );
        let svg = by_variant(c, m, &title)?;
        out.push((format!("charts/{}.svg", metric.name), title, svg));
    }
    let title = format!(
        "Availability against p99 latency, means over {} seeds with 95% intervals; the Pareto front joined",
        c.seeds.len()
    );
    out.push((
        "charts/pareto.svg".to_string(),
        title.clone(),
        pareto(c, &title)?,
    ));
    Ok(out)
}

fn unit_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Percent => "%",
        Unit::Ms => "ms",
        Unit::Ratio => "ratio",
        Unit::PerSec => "per second",
        Unit::Seconds => "s",
        Unit::Count => "count per run",
    }
}

/// A value on the chart's axis: percentages as percent.
fn scaled(unit: Unit, v: f64) -> f64 {
    if unit == Unit::Percent { v * 100.0 } else { v }
}

/// A y range holding every interval, with a little room.
fn padded(low: f64, high: f64) -> Range<f64> {
    let span = (high - low).abs();
    let pad = if span > 0.0 {
        span * 0.08
    } else {
        low.abs().max(1.0) * 0.05
    };
    (low - pad)..(high + pad)
}

/// The variants as a categorical axis: variant i at i, ticks at whole
/// numbers (every k-th when they are too many to label).
#[derive(Clone)]
struct Variants {
    n: usize,
}

impl Ranged for Variants {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let f = (value + 0.5) / self.n as f64;
        (f64::from(limit.0) + f * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        let step = self.n.div_ceil(hint.max_num_points().max(1)).max(1);
        (0..self.n).step_by(step).map(|i| i as f64).collect()
    }

    fn range(&self) -> Range<f64> {
        -0.5..self.n as f64 - 0.5
    }
}

fn by_variant(c: &Comparison, m: usize, title: &str) -> Result<String, String> {
    let metric = &METRICS[m];
    let analysis = &c.analysis[m];
    let n = c.names.len();
    let (low, high) = analysis
        .means
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), i| {
            (
                l.min(scaled(metric.unit, i.low())),
                h.max(scaled(metric.unit, i.high())),
            )
        });
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, font(17.0).color(&TEXT))
            .margin(12)
            .margin_right(36)
            .x_label_area_size(48)
            .y_label_area_size(84)
            .build_cartesian_2d(Variants { n }, padded(low, high))
            .map_err(err)?;
        let room = (1000 / n.max(1)) / 8;
        let names = &c.names;
        chart
            .configure_mesh()
            .x_labels(n.min(12))
            .y_labels(8)
            .x_label_formatter(&|x| {
                let i = x.round() as usize;
                names.get(i).map(|s| label(s, room)).unwrap_or_default()
            })
            .y_desc(unit_name(metric.unit))
            .label_style(font(13.0).color(&TEXT))
            .bold_line_style(GRID.stroke_width(1))
            .light_line_style(TRANSPARENT)
            .axis_style(AXIS.stroke_width(1))
            .draw()
            .map_err(err)?;
        // The baseline's mean, across the chart: the eye compares with it.
        let base = scaled(metric.unit, analysis.means[0].mean);
        chart
            .draw_series(DashedLineSeries::new(
                [(-0.5, base), (n as f64 - 0.5, base)],
                6,
                4,
                AXIS.stroke_width(1),
            ))
            .map_err(err)?;
        for (v, interval) in analysis.means.iter().enumerate() {
            let colour = if v == analysis.best {
                GREEN
            } else if analysis.significant(v) {
                VERMILLION
            } else {
                BLUE
            };
            let (lo, mid, hi) = (
                scaled(metric.unit, interval.low()),
                scaled(metric.unit, interval.mean),
                scaled(metric.unit, interval.high()),
            );
            chart
                .draw_series([ErrorBar::new_vertical(
                    v as f64,
                    lo,
                    mid,
                    hi,
                    colour.stroke_width(2),
                    14,
                )])
                .map_err(err)?;
            chart
                .draw_series([Circle::new((v as f64, mid), 5, colour.filled())])
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// The variants on the Pareto front of (p99 lower, success higher): no
/// other variant is at least as good on both and better on one.
pub fn pareto_front(points: &[(f64, f64)]) -> Vec<bool> {
    points
        .iter()
        .map(|&(p99, ok)| {
            !points
                .iter()
                .any(|&(q, o)| q <= p99 && o >= ok && (q < p99 || o > ok))
        })
        .collect()
}

fn pareto(c: &Comparison, title: &str) -> Result<String, String> {
    let success = METRICS.iter().position(|m| m.name == "success_rate");
    let p99 = METRICS.iter().position(|m| m.name == "p99_ms");
    let (Some(success), Some(p99)) = (success, p99) else {
        unreachable!("both metrics are in the table");
    };
    let (xs, ys) = (&c.analysis[p99].means, &c.analysis[success].means);
    let points: Vec<(f64, f64)> = xs.iter().zip(ys).map(|(x, y)| (x.mean, y.mean)).collect();
    let front = pareto_front(&points);
    let (x_low, x_high) = xs.iter().fold((f64::MAX, f64::MIN), |(l, h), i| {
        (l.min(i.low()), h.max(i.high()))
    });
    let (y_low, y_high) = ys.iter().fold((f64::MAX, f64::MIN), |(l, h), i| {
        (l.min(i.low() * 100.0), h.max(i.high() * 100.0))
    });
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, font(17.0).color(&TEXT))
            .margin(12)
            .margin_right(36)
            .x_label_area_size(48)
            .y_label_area_size(84)
            .build_cartesian_2d(padded(x_low, x_high), padded(y_low, y_high))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(10)
            .y_labels(8)
            .x_desc("p99 latency, ms (slowest route; lower is better)")
            .y_desc("success rate, % (higher is better)")
            .label_style(font(13.0).color(&TEXT))
            .bold_line_style(GRID.stroke_width(1))
            .light_line_style(TRANSPARENT)
            .axis_style(AXIS.stroke_width(1))
            .draw()
            .map_err(err)?;
        let mut on_front: Vec<(f64, f64)> = points
            .iter()
            .zip(&front)
            .filter(|(_, f)| **f)
            .map(|(&(x, y), _)| (x, y * 100.0))
            .collect();
        on_front.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        chart
            .draw_series(LineSeries::new(on_front, GREEN.stroke_width(2)))
            .map_err(err)?
            .label("Pareto front")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], GREEN.stroke_width(2)));
        for (v, ((x, y), &on)) in xs.iter().zip(ys).zip(&front).enumerate() {
            let colour = if on { GREEN } else { BLUE };
            let (px, py) = (x.mean, y.mean * 100.0);
            chart
                .draw_series([ErrorBar::new_vertical(
                    px,
                    y.low() * 100.0,
                    py,
                    y.high() * 100.0,
                    colour.stroke_width(1),
                    8,
                )])
                .map_err(err)?;
            chart
                .draw_series([ErrorBar::new_horizontal(
                    py,
                    x.low(),
                    px,
                    x.high(),
                    colour.stroke_width(1),
                    8,
                )])
                .map_err(err)?;
            let style = if on {
                colour.filled()
            } else {
                colour.stroke_width(2)
            };
            chart
                .draw_series([Circle::new((px, py), 6, style)])
                .map_err(err)?;
            // The name beside the point, up and to the right of its marker.
            chart
                .draw_series([EmptyElement::at((px, py))
                    + Text::new(
                        label(&c.names[v], MAX_LABEL),
                        (10, -20),
                        font(13.0).color(&TEXT),
                    )])
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .label_font(font(13.0).color(&TEXT))
            .border_style(AXIS)
            .background_style(WHITE)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pareto_front_keeps_the_undominated() {
        // (p99, success): b dominates c; a and b trade off; d equals b.
        let points = [(10.0, 0.9), (20.0, 0.99), (25.0, 0.98), (20.0, 0.99)];
        assert_eq!(pareto_front(&points), [true, true, false, true]);
    }

    #[test]
    fn long_names_are_cut() {
        assert_eq!(label("abcdef", 4), "abc…");
        assert_eq!(label("ab", 4), "ab");
    }
}
