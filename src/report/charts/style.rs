//! The look of every chart: the colour-blind safe palette, sizes and layout
//! constants, the font, and the helpers that fit and format text.

use plotters::style::{FontDesc, FontFamily, FontStyle, RGBColor};

use super::FAMILY;

// Palette (Okabe & Ito, colour-blind safe) and layout.

pub(super) const BLACK_OI: RGBColor = RGBColor(0, 0, 0);
pub(super) const ORANGE: RGBColor = RGBColor(230, 159, 0);
pub(super) const SKY_BLUE: RGBColor = RGBColor(86, 180, 233);
pub(crate) const GREEN: RGBColor = RGBColor(0, 158, 115);
pub(crate) const BLUE: RGBColor = RGBColor(0, 114, 178);
pub(crate) const VERMILLION: RGBColor = RGBColor(213, 94, 0);
pub(super) const PURPLE: RGBColor = RGBColor(204, 121, 167);
pub(super) const YELLOW: RGBColor = RGBColor(240, 228, 66);
/// The gateway's statuses, each a shade of the kind it is counted with
/// (errors vermillion, rejections orange, timeouts purple), so that the
/// split of a band reads as a split: 401 and 403 darker and lighter
/// vermillion, 404 a brown, 429 a dark ochre, 504 a dark purple.
pub(super) const UNAUTHORIZED: RGBColor = RGBColor(140, 45, 0);
pub(super) const FORBIDDEN: RGBColor = RGBColor(240, 160, 120);
pub(super) const NOT_FOUND: RGBColor = RGBColor(120, 85, 60);
pub(super) const TOO_MANY: RGBColor = RGBColor(150, 95, 0);
pub(super) const GATEWAY_TIMEOUT: RGBColor = RGBColor(120, 50, 100);
/// A closed breaker: Okabe–Ito's bluish green, lightened, so that the
/// states that matter stand out.
pub(super) const PALE_GREEN: RGBColor = RGBColor(178, 224, 211);
/// Instances out of every caller's pool: a mid grey, darker than the
/// fault shading.
pub(super) const OUT_OF_POOL: RGBColor = RGBColor(165, 165, 165);
/// Fault shading and bars.
pub(super) const FAULT: RGBColor = RGBColor(120, 120, 120);
/// Schedule changes (spikes, steps, ramps): an ochre outside the data
/// palette, so a change of load is never read as a series.
pub(super) const LOAD: RGBColor = RGBColor(170, 120, 20);
pub(crate) const GRID: RGBColor = RGBColor(225, 225, 225);
pub(crate) const TEXT: RGBColor = RGBColor(30, 30, 30);
pub(super) const NOTE: RGBColor = RGBColor(90, 90, 90);

pub(crate) const WIDTH: u32 = 1200;
pub(super) const MARGIN_LEFT: u32 = 12;
pub(super) const MARGIN_RIGHT: u32 = 36;
pub(super) const Y_LABEL_AREA: u32 = 84;
pub(super) const X_LABEL_AREA: u32 = 48;
pub(super) const TITLE_H: u32 = 42;
/// Room above each panel for its caption.
pub(super) const CAPTION_H: u32 = 32;
pub(super) const LEGEND_ROW_H: u32 = 26;
pub(super) const LANE_H: u32 = 22;
/// Height of one breaker's band in a state timeline.
pub(super) const BAND_ROW_H: u32 = 26;
/// More breakers than this are shown as counts per edge, not one band each.
pub(super) const MAX_BANDS: u32 = 24;
/// The most panels a chart of the resilience policies shows: the rest are
/// named in a note.
pub(super) const MAX_PANELS: usize = 12;
/// The most lanes of labels in a strip above the panels (faults, schedule
/// changes); more at once are drawn as bars without labels, and counted in
/// a note.
pub(super) const MAX_LANES: usize = 6;
/// The tallest a chart can be, whatever the scenario: the panels, lanes and
/// legend items that can grow with it are all capped (12 panels of 240 px,
/// 2 strips of 6 lanes, a legend of at most a dozen rows: about 3,600 px).
/// Every chart is [`WIDTH`] wide.
pub(super) const MAX_HEIGHT: u32 = 4_000;

/// The most entities a chart of one panel per route or service shows on
/// their own (the busiest); the rest are folded into one "other" panel.
pub(super) const MAX_SERIES: usize = 8;
/// Pixels per column of a state timeline.
const COLUMN_PX: i32 = 2;
pub(super) const STRIP_PAD: u32 = 8;
pub(super) const TITLE_SIZE: f64 = 22.0;
pub(super) const CAPTION_SIZE: f64 = 17.0;
pub(super) const LEGEND_SIZE: f64 = 15.0;
pub(super) const LABEL_SIZE: f64 = 14.0;
pub(super) const TICK_SIZE: f64 = 13.0;
pub(super) const FAULT_SIZE: f64 = 13.0;
/// Longest name shown in a caption or fault label, in characters.
pub(super) const MAX_NAME: usize = 60;

pub(super) fn font(size: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), size, FontStyle::Normal)
}

pub(super) fn plot_left() -> i32 {
    (MARGIN_LEFT + Y_LABEL_AREA) as i32
}

pub(super) fn plot_right() -> i32 {
    (WIDTH - MARGIN_RIGHT) as i32
}

/// Time resolution of state timelines: columns of [`COLUMN_PX`] pixels
/// across the time axis, so that the shortest state shown is still visible
/// and the size of a file is bounded whatever the number of transitions.
pub(super) fn columns() -> usize {
    ((plot_right() - plot_left()) / COLUMN_PX).max(1) as usize
}

/// A scenario name for a caption, cut to [`MAX_NAME`] characters.
pub(super) fn short(name: &str) -> String {
    if name.chars().count() <= MAX_NAME {
        return name.to_string();
    }
    let mut cut: String = name.chars().take(MAX_NAME - 1).collect();
    cut.push('…');
    cut
}

pub(super) fn text_width(text: &str, size: f64) -> i32 {
    font(size).box_size(text).map_or(0, |(w, _)| w as i32)
}

/// `text`, cut with an ellipsis to at most `max_chars` characters and
/// `max_px` pixels wide.
pub(super) fn fit(text: &str, size: f64, max_chars: usize, max_px: i32) -> String {
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

/// A tick label: whole numbers without decimals, others with at most three.
pub(super) fn tick(v: f64) -> String {
    if v == v.round() {
        return format!("{v:.0}");
    }
    let text = format!("{v:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::super::register_fonts;
    use super::*;

    #[test]
    fn cuts_long_text_to_fit() {
        register_fonts();
        let s = fit(&"w".repeat(300), 13.0, 60, 200);
        assert!(s.ends_with('…'));
        assert!(text_width(&s, 13.0) <= 200);
        assert_eq!(fit("short", 13.0, 60, 200), "short");
    }
}
