//! Charts of a run, as SVG and PNG: route latency, route throughput against
//! the offered load and failures, service queues and service outcomes,
//! what the resilience policies did (retry amplification, attempts behind
//! the calls, circuit breaker states), how a balanced service's load
//! spread over its instances, what an autoscaled service ran, how sagas
//! ended, and how far each consumer group lagged, over virtual time, with
//! the fault windows and
//! the workload's schedule changes marked on every chart.
//!
//! Text is drawn with the DejaVu Sans font bundled in `assets/fonts/` (see
//! its licence there), so PNGs render the same on a machine without any
//! system font. The same [`RunOutcome`] and scenario always give the same
//! bytes. Every chart is 1200 px wide and at most 4000 px tall, whatever the
//! scenario (see `style::MAX_HEIGHT`). Names from the scenario reach the SVG
//! only as text, which the SVG backend escapes (tested with hostile names).
//!
//! The module is split by concern: `style.rs` holds the palette, sizes and
//! text fitting; `data.rs` the run's rows as plain numbers and the series
//! drawn from them; `plan.rs` what the scenario asked for (offered rate,
//! schedule changes, which edges retry); `breakers.rs` the circuit-breaker
//! state timelines; `builders/` turns the data into the description of
//! each chart; `panel.rs` holds that description (panels, lines, bands,
//! lanes, legend, strips); `drawing.rs` draws it with plotters, and
//! `bearing.rs` places the glyphs of PNG text.

mod bearing;
mod breakers;
mod builders;
mod data;
mod drawing;
#[cfg(test)]
mod fixtures;
mod panel;
mod plan;
pub(crate) mod style;

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::output::Files;
use crate::scenario::Scenario;
use crate::world::RunOutcome;
use data::Data;
use drawing::{Target, draw};
use plan::Plan;

/// DejaVu Sans (Bitstream Vera licence, assets/fonts/LICENSE-DejaVu.txt).
const FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
/// The family every chart asks for; SVG viewers use their own sans-serif.
const FAMILY: &str = "sans-serif";

/// The charts this module can draw, in the order they are returned: file
/// stem under `charts/` and a title for reports.
pub const CHARTS: [(&str, &str); 11] = [
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
    (
        "instances",
        "Load per instance, its imbalance and the pool, with the instances' faults",
    ),
    (
        "autoscale",
        "Autoscaled instances: the count decided, the instances by state, and the load",
    ),
    (
        "sagas",
        "Sagas: how they ended, how many were running, and the compensations",
    ),
    (
        "lag",
        "Consumer lag and staleness, per group, with the faults shaded",
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
/// PNG). `scenario` is the scenario `run` ran: its workload gives the
/// offered rate and the schedule changes marked on the time axis, its
/// policies which edges retry or hedge. An empty run gives no file. Every
/// chart is 1200 px wide and at most 4000 px tall, whatever the scenario.
/// The PNG encoder writes to a file, so each PNG passes through a private
/// temporary directory; only that can fail.
pub fn render(run: &RunOutcome, scenario: &Scenario) -> io::Result<Files> {
    render_plan(run, &Plan::new(scenario, run))
}

fn render_plan(run: &RunOutcome, plan: &Plan) -> io::Result<Files> {
    register_fonts();
    let data = Data::new(run, plan);
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
    use super::fixtures::{names, outcome, render, resilient, transition};
    use super::*;
    use crate::kernel::{SimDuration, SimTime};
    use crate::metrics::{Counts, EntityKind};
    use crate::world::FaultWindow;
    use std::collections::BTreeMap;

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

    /// `svg` is made of the elements plotters writes, with every `<` a tag's
    /// and every `&` an entity's, in text and in attribute values alike: no
    /// name from a scenario can open a tag or break out of an attribute.
    fn assert_well_formed(name: &str, svg: &str) {
        const TAGS: [&str; 8] = [
            "svg", "text", "rect", "polygon", "polyline", "circle", "line", "path",
        ];
        const ENTITIES: [&str; 5] = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"];
        let mut rest = svg;
        while let Some(at) = rest.find(['<', '&']) {
            let here = &rest[at..];
            if let Some(after) = here.strip_prefix('&') {
                assert!(
                    ENTITIES.iter().any(|e| here.starts_with(e)),
                    "{name}: a bare & at {:?}",
                    here.chars().take(40).collect::<String>()
                );
                rest = after;
                continue;
            }
            let tag = here[1..].trim_start_matches('/');
            let tag_name: String = tag.chars().take_while(char::is_ascii_alphabetic).collect();
            assert!(
                TAGS.contains(&tag_name.as_str()),
                "{name}: an unexpected tag at {:?}",
                here.chars().take(40).collect::<String>()
            );
            // Inside the tag, quoted values hold no `<` and no `>`.
            let end = here.find('>').expect("a closed tag");
            let inside = &here[1..end];
            assert!(!inside.contains('<'), "{name}: {inside}");
            assert_eq!(inside.matches('"').count() % 2, 0, "{name}: {inside}");
            rest = &here[end..];
        }
    }

    #[test]
    fn faults_beyond_the_run_and_odd_names_are_harmless() {
        let long = "x".repeat(500);
        let odd = "a&b \"c\" 'd' </text><script>";
        let mut run = outcome(4, true, &["<script>alert(1)</script>", &long, odd]);
        run.route_names = vec![odd.to_string()];
        run.faults.push(FaultWindow {
            kind: "crash",
            target: format!("{odd} instance 0"),
            start: SimTime::ZERO,
            end: None,
        });
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
            assert_well_formed(name, text);
            assert!(text.contains("a&amp;b &quot;c&quot;"), "{name}");
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
        assert!(svg("charts/amplification.svg").contains("requests ÷ calls"));
        assert!(
            svg("charts/breakers.svg").contains("orders-&gt;payments [p]: 2 breakers, opened once")
        );
        assert!(svg("charts/breakers.svg").contains("instance 1"));
        assert!(
            svg("charts/attempts.svg").contains("route checkout (client-&gt;orders, policy p)")
        );
    }

    /// A chart's size is bounded whatever the scenario: thousands of routes,
    /// services and edges with breakers, hundreds of faults at once and a
    /// long schedule give charts [`style::WIDTH`] wide and at most
    /// [`style::MAX_HEIGHT`] tall, and the SVGs say so.
    #[test]
    fn no_scenario_makes_a_chart_wider_or_taller_than_the_maximum() {
        let services: Vec<String> = (0..2_000).map(|i| format!("service-{i}")).collect();
        let services: Vec<&str> = services.iter().map(String::as_str).collect();
        let mut run = resilient(4, 3);
        let base = outcome(4, true, &services);
        run.service_names = base.service_names;
        run.service_workers = base.service_workers;
        run.rows.retain(|r| r.kind != EntityKind::Service);
        run.rows.extend(
            base.rows
                .into_iter()
                .filter(|r| r.kind == EntityKind::Service)
                .map(|mut r| {
                    r.counts.calls = r.counts.requests / 2;
                    r
                }),
        );
        let routes = 3_000_u32;
        run.route_names = (0..routes).map(|r| format!("route-{r}")).collect();
        run.route_services = (0..routes).map(|r| r % 2_000).collect();
        let template: Vec<_> = run
            .rows
            .iter()
            .filter(|r| r.kind == EntityKind::Route)
            .cloned()
            .collect();
        for r in 1..routes {
            for row in &template {
                let mut row = row.clone();
                row.entity = r;
                let c = &mut row.counts;
                c.requests += u64::from(r % 97);
                c.bulkhead_full = 1;
                c.throttled = 1;
                run.rows.push(row);
            }
        }
        run.edges = (0..routes)
            .map(|r| fixtures::edge(&format!("client->s{r}"), r % 2_000, true, 1))
            .chain((0..1_500).map(|e| fixtures::edge(&format!("a->b{e}"), e % 2_000, false, 3)))
            .collect();
        run.breaker_transitions = vec![BTreeMap::new(); run.edges.len()];
        let edge_rows: Vec<_> = run
            .rows
            .iter()
            .filter(|r| r.kind == EntityKind::Edge)
            .cloned()
            .collect();
        for e in 0..1_500 {
            for row in &edge_rows {
                let mut row = row.clone();
                row.entity = routes + e;
                run.rows.push(row);
            }
        }
        for i in 0..300_u64 {
            run.faults.push(FaultWindow {
                kind: "latency",
                target: format!("service-{i} +{i}ms"),
                start: SimTime::from_nanos(1_000_000_000 + i),
                end: Some(SimTime::from_nanos(3_000_000_000)),
            });
        }
        let mut plan = Plan::unknown();
        plan.changes = (0..200)
            .map(|i| plan::LoadChange {
                start: f64::from(i) * 0.01,
                end: f64::from(i) * 0.01 + 0.005,
                label: format!("load ×{i} for 5ms ({i}00/s)"),
                step: i % 2 == 0,
            })
            .collect();
        register_fonts();
        let data = Data::new(&run, &plan);
        let specs = data.charts();
        let drawn: Vec<&str> = specs.iter().map(|s| s.name).collect();
        assert_eq!(
            drawn.len(),
            7,
            "every chart has something to draw: {drawn:?}"
        );
        for spec in &specs {
            let (width, height) = spec.size(&data);
            assert_eq!(width, style::WIDTH, "{}", spec.name);
            assert!(height <= style::MAX_HEIGHT, "{}: {height} px", spec.name);
            assert!(
                spec.legend
                    .iter()
                    .any(|l| l.label.contains("faults not labelled")),
                "{}",
                spec.name
            );
        }
        for (name, bytes) in render_plan(&run, &plan).unwrap() {
            if let Some(stem) = name.strip_suffix(".svg") {
                let text = String::from_utf8(bytes).unwrap();
                let head = &text[..text.find('>').unwrap()];
                let size = |attr: &str| -> u32 {
                    let at = head.find(&format!("{attr}=\"")).unwrap() + attr.len() + 2;
                    head[at..].split('"').next().unwrap().parse().unwrap()
                };
                assert_eq!(size("width"), style::WIDTH, "{stem}");
                assert!(size("height") <= style::MAX_HEIGHT, "{stem}");
            }
        }
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
