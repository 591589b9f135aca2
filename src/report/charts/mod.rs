//! Charts of a run, as SVG and PNG: route latency, route throughput against
//! failures, service queues and service outcomes, and what the resilience
//! policies did (retry amplification, attempts behind the calls, circuit
//! breaker states) over virtual time, with the fault windows shaded on every
//! chart.
//!
//! Text is drawn with the DejaVu Sans font bundled in `assets/fonts/` (see
//! its licence there), so PNGs render the same on a machine without any
//! system font. The same [`RunOutcome`] always gives the same bytes.
//!
//! The module is split by concern: `style.rs` holds the palette, sizes and
//! text fitting; `data.rs` the run's rows as plain numbers and the series
//! drawn from them; `breakers.rs` the circuit-breaker state timelines;
//! `builders.rs` turns the data into the description of each chart;
//! `panel.rs` holds that description (panels, lines, bands, lanes, legend);
//! `drawing.rs` draws it with plotters, and `bearing.rs` places the glyphs
//! of PNG text.

mod bearing;
mod breakers;
mod builders;
mod data;
mod drawing;
#[cfg(test)]
mod fixtures;
mod panel;
mod style;

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::output::Files;
use crate::world::RunOutcome;
use data::Data;
use drawing::{Target, draw};

/// DejaVu Sans (Bitstream Vera licence, assets/fonts/LICENSE-DejaVu.txt).
const FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
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

#[cfg(test)]
mod tests {
    use super::fixtures::{names, outcome, resilient, transition};
    use super::*;
    use crate::kernel::{SimDuration, SimTime};
    use crate::metrics::{Counts, EntityKind};
    use crate::world::FaultWindow;

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
}
