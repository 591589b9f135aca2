//! Drawing a [`Spec`] with plotters: title, legend, the strips of schedule
//! changes and faults, then each
//! panel as a plot on a linear or logarithmic scale or as a state timeline.
//! Text goes through [`Target`], which places PNG glyphs itself.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::FontTransform;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::bearing::Bearing;
use super::data::Data;
use super::panel::{Mark, Panel, Spec, label_left, strips};
use super::style::{
    CAPTION_H, CAPTION_SIZE, FAULT, FAULT_SIZE, GRID, LABEL_SIZE, LEGEND_ROW_H, LEGEND_SIZE, LOAD,
    MARGIN_LEFT, MARGIN_RIGHT, MAX_NAME, NOTE, STRIP_PAD, TEXT, TICK_SIZE, TITLE_H, TITLE_SIZE,
    WIDTH, X_LABEL_AREA, Y_LABEL_AREA, fit, font, plot_left, plot_right, text_width, tick,
};

fn err<E: std::fmt::Display>(e: E) -> String {
    format!("cannot draw a chart: {e}")
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
pub(super) struct Target {
    pub(super) bitmap: bool,
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

pub(super) fn draw<DB: DrawingBackend>(
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
                    let style = if item.colour == FAULT || item.colour == LOAD {
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

    // Strips (schedule changes, then faults): one bar per item, labels in
    // lanes, same x scale as the panels below.
    for strip in strips(data) {
        let lanes = strip.lanes;
        let strip_h = strip.height();
        let area = header.clone().shrink((0, y), (WIDTH, strip_h));
        let chart = ChartBuilder::on(&area)
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
            strip.name,
            Label::new(LABEL_SIZE, HPos::Right, VPos::Center),
            (plot_left() - 10, (py.start + py.end) / 2),
        )?;
        for (start, end, label, lane) in &strip.bars {
            let top = (lanes - lane) as f64 - 0.1;
            let bottom = (lanes - lane - 1) as f64 + 0.1;
            chart
                .plotting_area()
                .draw(&Rectangle::new(
                    [(*start, top), (*end, bottom)],
                    strip.colour.mix(0.35).filled(),
                ))
                .map_err(err)?;
            if label.is_empty() {
                continue;
            }
            let (left, _) = chart.backend_coord(&(*start, top));
            let (_, mid) = chart.backend_coord(&(*start, (top + bottom) / 2.0));
            let text_x = label_left(left, text_width(label, FAULT_SIZE));
            target.text(
                root,
                label,
                Label::new(FAULT_SIZE, HPos::Left, VPos::Center),
                (text_x, mid),
            )?;
        }
        y += strip_h as i32;
    }

    // Panels, top to bottom.
    let mut rest = body;
    for (panel, height) in spec.panels.iter().zip(spec.panel_heights()) {
        let (area, below) = rest.split_vertically(height);
        if panel.lanes.is_empty() {
            draw_panel(
                &area,
                panel,
                panel.y_desc.unwrap_or(spec.y_desc),
                data,
                target,
            )?;
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
    let labels = (panel.title.as_str(), data.time_desc.as_str(), y_desc);
    frame(outer, chart.plotting_area(), labels, target)?;
    let area = chart.plotting_area();
    shade(area, data, panel.faults.as_deref(), (low, high))?;
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
            } else if line.dashed {
                area.draw(&DashedPathElement::new(segment.clone(), 7, 4, style))
                    .map_err(err)?;
            } else {
                area.draw(&PathElement::new(segment.clone(), style))
                    .map_err(err)?;
            }
        }
    }
    Ok(())
}

/// The fault windows (`faults`, else every fault of the run) and the
/// schedule's spikes and ramps shaded across a plot from `low` to `high`,
/// and its steps as dashed vertical lines.
fn shade<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    area: &DrawingArea<DB, Cartesian2d<RangedCoordf64, Y>>,
    data: &Data<'_>,
    faults: Option<&[(f64, f64)]>,
    (low, high): (f64, f64),
) -> Result<(), String> {
    for (start, end, _, step) in &data.load {
        if *step {
            area.draw(&DashedPathElement::new(
                [(*start, low), (*start, high)],
                5,
                4,
                LOAD.mix(0.8).stroke_width(2),
            ))
            .map_err(err)?;
        } else {
            area.draw(&Rectangle::new(
                [(*start, low), (*end, high)],
                LOAD.mix(0.12).filled(),
            ))
            .map_err(err)?;
        }
    }
    let every: Vec<(f64, f64)>;
    let faults = match faults {
        Some(faults) => faults,
        None => {
            every = data.faults.iter().map(|(s, e, _)| (*s, *e)).collect();
            &every
        }
    };
    for (start, end) in faults {
        area.draw(&Rectangle::new(
            [(*start, low), (*end, high)],
            FAULT.mix(0.18).filled(),
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// A panel's caption (`title`) above its plot area, the time axis
/// description below and `y_desc` (if any) along the left, in the panel's
/// own coordinates.
fn frame<DB: DrawingBackend, X: CoordTranslate>(
    outer: &DrawingArea<DB, Shift>,
    plot: &DrawingArea<DB, X>,
    (title, time_desc, y_desc): (&str, &str, &str),
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
        time_desc,
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
    let labels = (panel.title.as_str(), data.time_desc.as_str(), "");
    frame(area, chart.plotting_area(), labels, target)?;
    let plot = chart.plotting_area();
    shade(plot, data, panel.faults.as_deref(), (0.0, n))?;
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
