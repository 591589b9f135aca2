//! `index.html`: one self-contained page per run, with the scenario, the
//! summary tables (routes, services, the edges between services and what
//! their policies did), the fault timeline, every chart and the command that
//! reproduces the run. No network access: the style is inline and charts are
//! referenced by relative path. Every string that comes from a scenario is
//! HTML-escaped.

use std::fmt::Write;

use super::charts;
use super::summary::{Attempts, BreakerSummary, Failures, Summary};
use crate::metrics::LatencySummary;

/// `text` with `& < > " '` replaced by entities: safe in element content and
/// in quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `word` quoted for a POSIX shell if it needs it.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The command line that reproduces a run: `meshsim run <scenario> --seed
/// <seed>`, the path quoted for a POSIX shell when needed. Pass the scenario
/// path as the user gave it (relative paths keep reports identical across
/// machines).
pub fn reproduce_command(scenario_path: &str, seed: u64) -> String {
    format!("meshsim run {} --seed {seed}", shell_word(scenario_path))
}

const STYLE: &str = "\
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif;
  margin: 0 auto; max-width: 1240px; padding: 1.5rem; color: #1e1e1e; line-height: 1.45; }
h1 { margin: 0 0 .25rem; font-size: 1.7rem; }
h2 { margin: 2rem 0 .6rem; font-size: 1.25rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
p.description { margin: .25rem 0 1rem; max-width: 60rem; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .15rem 1rem; margin: 0; }
dl.facts dt { color: #555; }
dl.facts dd { margin: 0; }
.incomplete { color: #b00; font-weight: bold; }
pre { background: #f4f4f4; border: 1px solid #ddd; padding: .6rem .8rem; overflow-x: auto; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: .92rem; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid #e4e4e4; white-space: nowrap; }
th { background: #f4f4f4; text-align: right; }
td { text-align: right; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
td.text { white-space: normal; }
tbody tr:nth-child(even) { background: #fafafa; }
figure { margin: 1.2rem 0 2rem; }
figure img { width: 100%; height: auto; border: 1px solid #e4e4e4; }
figcaption { color: #555; font-size: .9rem; margin-top: .3rem; }
p.note { color: #555; font-size: .9rem; margin: .3rem 0 0; }
";

/// The whole `index.html`. `description` is the scenario's description,
/// `command` the command line that reproduces the run (see
/// [`reproduce_command`]), `chart_files` the names of the chart files written
/// beside it (as [`charts::render`] returns them): each chart is shown from
/// its SVG, or its PNG when there is no SVG, by relative path.
pub fn index(
    summary: &Summary,
    description: &str,
    command: &str,
    chart_files: &[String],
) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let name = escape(&summary.scenario);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>meshsim: {name}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n\
         <h1>{name}</h1>\n"
    );
    if !description.is_empty() {
        let _ = writeln!(out, "<p class=\"description\">{}</p>", escape(description));
    }
    facts(&mut out, summary);
    let _ = writeln!(
        out,
        "<h2>Reproduce</h2>\n<pre><code>{}</code></pre>",
        escape(command)
    );
    routes(&mut out, summary);
    services(&mut out, summary);
    edges(&mut out, summary);
    faults(&mut out, summary);
    charts_section(&mut out, chart_files);
    out.push_str("</body>\n</html>\n");
    out
}

fn facts(out: &mut String, s: &Summary) {
    out.push_str("<dl class=\"facts\">\n");
    let mut fact = |name: &str, value: String| {
        let _ = writeln!(out, "<dt>{name}</dt><dd>{value}</dd>");
    };
    fact("seed", s.seed.to_string());
    fact("simulated", format!("{:.3} s", s.duration_s));
    fact("window", format!("{} s", s.window_s));
    fact("events", s.events_processed.to_string());
    fact(
        "stopped",
        if s.completed {
            format!("{} (complete)", s.stop_reason)
        } else {
            format!(
                "<span class=\"incomplete\">{}: incomplete run</span>",
                s.stop_reason
            )
        },
    );
    fact(
        "network",
        format!(
            "{} messages, {} lost, {} partitioned",
            s.network.messages, s.network.lost, s.network.partitioned
        ),
    );
    fact("meshsim", escape(s.meshsim_version));
    out.push_str("</dl>\n");
}

/// Writes a table like [`table`], without those of the `optional` columns
/// whose cells are all zero or empty (a local refusal that never happened),
/// and says so below the table when it left one out.
fn table_without_zeros(
    out: &mut String,
    header: &[&str],
    rows: &[Vec<String>],
    text_columns: &[usize],
    optional: &[usize],
) {
    let keep: Vec<usize> = (0..header.len())
        .filter(|i| {
            !optional.contains(i)
                || rows
                    .iter()
                    .any(|r| r.get(*i).is_some_and(|c| c != "0" && c != "–"))
        })
        .collect();
    let kept_header: Vec<&str> = keep.iter().map(|&i| header[i]).collect();
    let kept_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| keep.iter().filter_map(|&i| r.get(i).cloned()).collect())
        .collect();
    let kept_text: Vec<usize> = keep
        .iter()
        .enumerate()
        .filter(|(_, i)| text_columns.contains(i))
        .map(|(k, _)| k)
        .collect();
    table(out, &kept_header, &kept_rows, &kept_text);
    let left_out: Vec<&str> = (0..header.len())
        .filter(|i| !keep.contains(i))
        .map(|i| header[i])
        .collect();
    if !left_out.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"note\">Not shown, none in this run: {}.</p>",
            left_out.join(", ")
        );
    }
}

/// Writes a table: `header` cells (the first left-aligned), then rows whose
/// cells are already escaped; `text_columns` are left-aligned.
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>], text_columns: &[usize]) {
    out.push_str("<div class=\"scroll\"><table>\n<thead><tr>");
    for (i, h) in header.iter().enumerate() {
        if text_columns.contains(&i) {
            let _ = write!(out, "<th class=\"text\">{h}</th>");
        } else {
            let _ = write!(out, "<th>{h}</th>");
        }
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            if text_columns.contains(&i) {
                let _ = write!(out, "<td class=\"text\">{cell}</td>");
            } else {
                let _ = write!(out, "<td>{cell}</td>");
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table></div>\n");
}

fn ms(v: f64) -> String {
    format!("{v:.3}")
}

fn latency_cells(l: &LatencySummary) -> [String; 5] {
    if l.count == 0 {
        return std::array::from_fn(|_| "–".to_string());
    }
    [ms(l.p50), ms(l.p90), ms(l.p99), ms(l.p999), ms(l.max)]
}

fn failure(value: Option<u64>) -> String {
    value.map_or_else(|| "–".to_string(), |v| v.to_string())
}

/// Columns of the local refusals of a caller (route or edge), in this
/// order: breaker open, bulkhead full, throttled, rate limited.
const REFUSALS: [&str; 4] = ["breaker open", "bulkhead full", "throttled", "rate limited"];

fn refusal_cells(f: &Failures) -> [String; 4] {
    [
        failure(f.breaker_open),
        failure(f.bulkhead_full),
        failure(f.throttled),
        failure(f.rate_limited),
    ]
}

fn attempt_cells(a: &Attempts) -> [String; 5] {
    [
        a.attempts.to_string(),
        a.retries.to_string(),
        a.hedges.to_string(),
        a.retries_denied.to_string(),
        format!("{:.2}", a.per_call),
    ]
}

/// A breaker state for people: `half_open` → `half-open`.
fn state(name: &str) -> String {
    name.replace('_', "-")
}

/// The breakers of a route or an edge in words: how many, how many open at
/// the end, and the transitions by kind.
fn breaker_cell(b: Option<&BreakerSummary>) -> String {
    let Some(b) = b else {
        return "–".to_string();
    };
    let mut text = format!("{} breaker{}", b.count, if b.count == 1 { "" } else { "s" });
    if b.open_at_end > 0 {
        let _ = write!(text, ", {} open at the end", b.open_at_end);
    }
    if b.transitions.is_empty() {
        text.push_str(", never opened");
    } else {
        let list: Vec<String> = b
            .transitions
            .iter()
            .map(|(kind, n)| match kind.split_once("->") {
                Some((from, to)) => format!(
                    "{}&nbsp;→&nbsp;{}&nbsp;{n}",
                    escape(&state(from)),
                    escape(&state(to))
                ),
                None => format!("{}&nbsp;{n}", escape(kind)),
            })
            .collect();
        let _ = write!(text, ": {}", list.join(", "));
    }
    text
}

fn routes(out: &mut String, s: &Summary) {
    out.push_str("<h2>Routes</h2>\n");
    if s.routes.is_empty() {
        out.push_str("<p>No routes.</p>\n");
        return;
    }
    let rows: Vec<Vec<String>> = s
        .routes
        .iter()
        .map(|(name, r)| {
            let Failures {
                error,
                rejected,
                timeout,
                ..
            } = &r.failures;
            let mut row = vec![
                escape(name),
                escape(&r.service),
                r.requests.to_string(),
                format!("{:.2}", r.success_ratio * 100.0),
                error.to_string(),
                rejected.to_string(),
                failure(*timeout),
            ];
            row.extend(refusal_cells(&r.failures));
            row.extend(attempt_cells(&r.attempts));
            row.extend([
                r.in_flight_at_end.to_string(),
                format!("{:.1}", r.goodput_per_sec),
            ]);
            row.extend(latency_cells(&r.latency_ms));
            row.push(breaker_cell(r.breakers.as_ref()));
            row
        })
        .collect();
    let mut header = vec![
        "route",
        "entry service",
        "requests",
        "ok %",
        "errors",
        "rejected",
        "timeouts",
    ];
    header.extend(REFUSALS);
    header.extend([
        "attempts",
        "retries",
        "hedges",
        "retries denied",
        "attempts / request",
        "in flight at end",
        "goodput /s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "circuit breakers",
    ]);
    // Local refusals, hedges, denied retries and breakers: only when some
    // route has them.
    table_without_zeros(out, &header, &rows, &[0, 1, 23], &[7, 8, 9, 10, 13, 14, 23]);
}

fn services(out: &mut String, s: &Summary) {
    out.push_str("<h2>Services</h2>\n");
    if s.services.is_empty() {
        out.push_str("<p>No services.</p>\n");
        return;
    }
    let rows: Vec<Vec<String>> = s
        .services
        .iter()
        .map(|(name, v)| {
            let f = &v.failures;
            let wait = if v.queue_wait_ms.count == 0 {
                "–".to_string()
            } else {
                ms(v.queue_wait_ms.p99)
            };
            let (p50, p99) = if v.latency_ms.count == 0 {
                ("–".to_string(), "–".to_string())
            } else {
                (ms(v.latency_ms.p50), ms(v.latency_ms.p99))
            };
            let amplification = if v.calls == 0 {
                "–".to_string()
            } else {
                format!("{:.2}", v.amplification)
            };
            vec![
                escape(name),
                v.calls.to_string(),
                v.requests.to_string(),
                amplification,
                v.successes.to_string(),
                f.error.to_string(),
                failure(f.dependency),
                f.rejected.to_string(),
                failure(f.dropped),
                failure(f.expired),
                failure(f.cancelled),
                format!("{:.1}", v.utilisation * 100.0),
                format!("{:.3}", v.mean_in_system),
                format!("{:.3}", v.mean_in_queue),
                p50,
                p99,
                wait,
            ]
        })
        .collect();
    table_without_zeros(
        out,
        &[
            "service",
            "calls to it",
            "requests",
            "amplification",
            "ok",
            "errors",
            "dependency failed",
            "rejected",
            "dropped",
            "deadline expired",
            "cancelled (hedge lost)",
            "utilisation %",
            "L (mean in system)",
            "Lq (mean queued)",
            "p50 ms",
            "p99 ms",
            "queue wait p99 ms",
        ],
        &rows,
        &[0],
        &[9, 10],
    );
    out.push_str(
        "<p class=\"note\">Amplification: requests reaching the service ÷ calls made to it \
         (above 1: retries and hedges; below 1: calls refused or lost on the way).</p>\n",
    );
}

fn edges(out: &mut String, s: &Summary) {
    out.push_str("<h2>Edges</h2>\n");
    if s.edges.is_empty() {
        out.push_str("<p>No service calls another.</p>\n");
        return;
    }
    let rows: Vec<Vec<String>> = s
        .edges
        .iter()
        .map(|(name, e)| {
            let f = &e.failures;
            let mut row = vec![
                escape(name),
                e.policy.as_deref().map_or_else(|| "–".to_string(), escape),
                e.calls.to_string(),
                e.successes.to_string(),
                f.error.to_string(),
                f.rejected.to_string(),
                failure(f.timeout),
            ];
            row.extend(refusal_cells(f));
            row.extend(attempt_cells(&e.attempts));
            row.push(breaker_cell(e.breakers.as_ref()));
            row
        })
        .collect();
    let mut header = vec![
        "edge", "policy", "calls", "ok", "errors", "rejected", "timeouts",
    ];
    header.extend(REFUSALS);
    header.extend([
        "attempts",
        "retries",
        "hedges",
        "retries denied",
        "attempts / call",
        "circuit breakers",
    ]);
    table_without_zeros(out, &header, &rows, &[0, 1, 16], &[7, 8, 9, 10]);
}

fn faults(out: &mut String, s: &Summary) {
    out.push_str("<h2>Fault timeline</h2>\n");
    if s.faults.is_empty() {
        out.push_str("<p>No faults.</p>\n");
        return;
    }
    let rows: Vec<Vec<String>> = s
        .faults
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (end, lasted) = match f.end_s {
                Some(end) => (format!("{end:.3}"), format!("{:.3}", end - f.start_s)),
                None => ("end of run".to_string(), "–".to_string()),
            };
            vec![
                (i + 1).to_string(),
                escape(f.kind),
                escape(&f.target),
                format!("{:.3}", f.start_s),
                end,
                lasted,
            ]
        })
        .collect();
    table(
        out,
        &["#", "kind", "target", "start s", "end s", "lasted s"],
        &rows,
        &[1, 2],
    );
}

fn charts_section(out: &mut String, files: &[String]) {
    // One picture per chart: the SVG, else the PNG.
    let mut shown: Vec<&str> = Vec::new();
    for file in files {
        let Some((stem, _)) = file.rsplit_once('.') else {
            continue;
        };
        if shown.contains(&stem) {
            continue;
        }
        let svg = files.iter().find(|f| **f == format!("{stem}.svg"));
        let png = files.iter().find(|f| **f == format!("{stem}.png"));
        match (svg, png) {
            (Some(svg), png) => figure(out, svg, png.map(String::as_str)),
            (None, Some(png)) => figure(out, png, None),
            (None, None) => continue,
        }
        shown.push(stem);
    }
    if shown.is_empty() {
        out.push_str("<h2>Charts</h2>\n<p>No charts: nothing to draw.</p>\n");
    }
}

fn figure(out: &mut String, file: &str, png: Option<&str>) {
    let title = charts::title_of(file).unwrap_or(file);
    let _ = write!(
        out,
        "<h2>{}</h2>\n<figure>\n<img src=\"{}\" alt=\"{}\" loading=\"lazy\">\n<figcaption>",
        escape(title),
        escape(file),
        escape(title)
    );
    if let Some(png) = png {
        let _ = write!(out, "Also as <a href=\"{}\">PNG</a>. ", escape(png));
    }
    out.push_str("Shaded: fault windows.</figcaption>\n</figure>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;
    use crate::world;

    const NASTY: &str = "<script>alert(1)</script>";

    fn nasty_run() -> (scenario::Compiled, world::RunOutcome) {
        let source = r#"{
            "name": "xss",
            "description": "Watch <img src=x onerror=alert(2)> & \"quotes\"",
            "duration": "3s",
            "window": "1s",
            "seed": 3,
            "policies": {
                "<i>p</i>": {
                    "timeout": "50ms",
                    "retry": {"max_attempts": 2, "retry_on": ["error"], "backoff": {"constant": "1ms"}},
                    "breaker": {"window": "count", "window_size": 10, "minimum_calls": 5,
                                "failure_rate_percent": 20, "wait_in_open": "200ms", "half_open_calls": 2}
                }
            },
            "services": {
                "<script>alert(1)</script>": {
                    "instances": 2,
                    "concurrency": 2,
                    "queue_capacity": 10,
                    "service_time": {"constant": "1ms"},
                    "calls": [{"service": "db", "policy": "<i>p</i>"}]
                },
                "db": {
                    "instances": 1,
                    "concurrency": 4,
                    "service_time": {"constant": "1ms"},
                    "error_rate": 0.4
                }
            },
            "workload": {
                "arrivals": {"poisson": {"rate": 50}},
                "routes": [{"name": "<b>route</b>", "service": "<script>alert(1)</script>"}]
            },
            "faults": [
                {"at": "1s", "for": "1s", "crash": {"service": "<script>alert(1)</script>", "instance": 0}}
            ]
        }"#;
        let scenario = scenario::parse(source, "xss.json").expect("a valid scenario");
        let run = world::run(&scenario, scenario.scenario().seed, None);
        (scenario, run)
    }

    fn nasty_summary() -> (Summary, String) {
        let (scenario, run) = nasty_run();
        let summary = Summary::new(&scenario, scenario.scenario().seed, &run);
        (summary, scenario.scenario().description.clone())
    }

    #[test]
    fn escapes_every_scenario_string() {
        let (summary, description) = nasty_summary();
        let files = vec![
            "charts/latency.svg".to_string(),
            "charts/latency.png".to_string(),
        ];
        let html = index(
            &summary,
            &description,
            &reproduce_command("scenarios/<x>.json", 3),
            &files,
        );
        assert!(!html.contains(NASTY), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; instance 0"));
        assert!(html.contains("&lt;b&gt;route&lt;/b&gt;"));
        assert!(html.contains("Watch &lt;img src=x onerror=alert(2)&gt; &amp; &quot;quotes&quot;"));
        assert!(html.contains("meshsim run &#39;scenarios/&lt;x&gt;.json&#39; --seed 3"));
        // The edge, its policy and its breakers.
        assert!(!html.contains("<i>"), "{html}");
        assert!(html.contains("<h2>Edges</h2>"));
        assert!(html.contains(
            "<td class=\"text\">&lt;script&gt;alert(1)&lt;/script&gt;-&gt;db [&lt;i&gt;p&lt;/i&gt;]</td>\
             <td class=\"text\">&lt;i&gt;p&lt;/i&gt;</td>"
        ));
        assert!(html.contains("<td class=\"text\">2 breakers"), "{html}");
        assert!(html.contains("closed&nbsp;→&nbsp;open&nbsp;"), "{html}");
    }

    #[test]
    fn the_tables_show_attempts_amplification_and_only_refusals_that_happened() {
        let (summary, description) = nasty_summary();
        let html = index(&summary, &description, "meshsim run x.json --seed 3", &[]);
        for column in [
            "<th>attempts</th>",
            "<th>retries</th>",
            "<th>attempts / request</th>",
            "<th>attempts / call</th>",
            "<th>calls to it</th>",
            "<th>amplification</th>",
            "<th>breaker open</th>",
            "<th class=\"text\">circuit breakers</th>",
        ] {
            assert!(html.contains(column), "{column}");
        }
        assert!(!html.contains("<th>rate limited</th>"));
        assert!(!html.contains("<th>bulkhead full</th>"));
        assert!(html.contains("Not shown, none in this run: breaker open, bulkhead full"));
        assert!(
            html.contains("Not shown, none in this run: bulkhead full, throttled, rate limited.")
        );
        assert!(html.contains("<p>No charts: nothing to draw.</p>"));
    }

    #[test]
    fn shows_each_chart_once_by_its_svg() {
        let (summary, description) = nasty_summary();
        let files: Vec<String> = [
            "charts/latency.svg",
            "charts/latency.png",
            "charts/throughput.png",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let html = index(
            &summary,
            &description,
            "meshsim run x.json --seed 3",
            &files,
        );
        assert_eq!(html.matches("<img ").count(), 2);
        assert!(html.contains("<img src=\"charts/latency.svg\""));
        assert!(html.contains("<a href=\"charts/latency.png\">PNG</a>"));
        assert!(html.contains("<img src=\"charts/throughput.png\""));
        assert!(html.contains("Route throughput and failures"));
        assert!(html.contains("<h2>Fault timeline</h2>"));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    #[test]
    fn charts_of_a_nasty_run_escape_names_too() {
        let (_, run) = nasty_run();
        assert!(run.faults[0].target.contains(NASTY));
        let files = charts::render(&run).unwrap();
        assert!(!files.is_empty());
        let mut named = Vec::new();
        for (name, bytes) in files {
            if name.ends_with(".svg") {
                let text = String::from_utf8(bytes).unwrap();
                assert!(!text.contains(NASTY), "{name}");
                assert!(!text.contains("<i>"), "{name}");
                if text.contains("&lt;script&gt;") {
                    named.push(name);
                }
            }
        }
        for chart in ["latency", "throughput", "attempts", "breakers"] {
            assert!(
                named.contains(&format!("charts/{chart}.svg")),
                "{chart}: {named:?}"
            );
        }
    }

    #[test]
    fn quotes_the_command_only_when_needed() {
        assert_eq!(
            reproduce_command("scenarios/shop.json", 7),
            "meshsim run scenarios/shop.json --seed 7"
        );
        assert_eq!(
            reproduce_command("my scenarios/it's.json", 1),
            r"meshsim run 'my scenarios/it'\''s.json' --seed 1"
        );
    }
}
