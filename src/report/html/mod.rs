//! `index.html`: one self-contained page per run, with the scenario (its
//! services and calls, workload, policies and faults) before the results,
//! the summary tables (routes, services, the edges between services and what
//! their policies did), the fault timeline, every chart with a caption that
//! says what to look for, and the command that reproduces the run. No
//! network access: the style is inline, and [`page`] inlines the SVG charts
//! too, so the file alone can be mailed or pasted into a design review.
//! Every string that comes from a scenario is HTML-escaped (the SVG charts
//! escape their own labels: see `charts_of_a_nasty_run_escape_names_too`).

use std::fmt::Write;

use super::charts;
use super::summary::{Attempts, BreakerSummary, Failures, Summary};
use crate::metrics::LatencySummary;
use crate::scenario::{Arrivals, BudgetSpec, CallStep, Policy, Scenario};

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
pre { background: #f4f4f4; border: 1px solid #ddd; padding: .6rem .8rem; overflow-x: auto;
  white-space: pre-wrap; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: .92rem; }
th, td { padding: .25rem .45rem; border-bottom: 1px solid #e4e4e4; }
th { background: #f4f4f4; text-align: right; vertical-align: bottom; font-size: .8rem;
  min-width: 3.5rem; }
td { text-align: right; white-space: nowrap; font-size: .82rem; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
td.text { white-space: normal; font-size: .9rem; min-width: 8rem; }
ul.scenario { padding-left: 1.2rem; margin: .3rem 0; }
ul.scenario li { margin: .15rem 0; }
ul.scenario code, p code { font-size: .85rem; background: #f4f4f4; padding: 0 .2rem; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .3rem; }
.chart svg { width: 100%; height: auto; border: 1px solid #e4e4e4; }
tbody tr:nth-child(even) { background: #fafafa; }
figure { margin: 1.2rem 0 2rem; }
figure img { width: 100%; height: auto; border: 1px solid #e4e4e4; }
figcaption { color: #555; font-size: .9rem; margin-top: .3rem; }
p.note { color: #555; font-size: .9rem; margin: .3rem 0 0; }
";

/// The whole `index.html`, self-contained: `scenario` is the scenario that
/// was run (shown before the results), `command` the command line that
/// reproduces the run (see [`reproduce_command`]), `charts` the chart files
/// as [`charts::render`] returns them, names and bytes: each SVG is inlined
/// into the page, with a link to its PNG; a chart with only a PNG is shown
/// by relative path.
pub fn page(
    summary: &Summary,
    scenario: &Scenario,
    command: &str,
    charts: &[(String, Vec<u8>)],
) -> String {
    build(
        summary,
        &scenario.description,
        Some(scenario),
        command,
        Charts::Inline(charts),
    )
}

/// The whole `index.html` from the chart files' names only: as [`page`], but
/// without the scenario section, and with each chart shown from its SVG (or
/// its PNG when there is no SVG) by relative path, not inlined.
pub fn index(
    summary: &Summary,
    description: &str,
    command: &str,
    chart_files: &[String],
) -> String {
    build(
        summary,
        description,
        None,
        command,
        Charts::Linked(chart_files),
    )
}

/// Where the charts of a page come from.
enum Charts<'a> {
    /// Names and bytes, as [`charts::render`] returns them: SVGs are inlined.
    Inline(&'a [(String, Vec<u8>)]),
    /// Names only: every chart by relative path.
    Linked(&'a [String]),
}

fn build(
    summary: &Summary,
    description: &str,
    scenario: Option<&Scenario>,
    command: &str,
    charts: Charts,
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
    if let Some(scenario) = scenario {
        scenario_section(&mut out, scenario);
    }
    routes(&mut out, summary);
    services(&mut out, summary);
    edges(&mut out, summary);
    faults(&mut out, summary);
    match charts {
        Charts::Inline(files) => {
            let names: Vec<String> = files.iter().map(|(name, _)| name.clone()).collect();
            charts_section(&mut out, &names, |name| {
                files
                    .iter()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, bytes)| std::str::from_utf8(bytes).ok())
            });
        }
        Charts::Linked(names) => charts_section(&mut out, names, |_| None),
    }
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

fn charts_section<'b>(
    out: &mut String,
    files: &[String],
    svg_text: impl Fn(&str) -> Option<&'b str>,
) {
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
            (Some(svg), png) => figure(out, svg, svg_text(svg), png.map(String::as_str)),
            (None, Some(png)) => figure(out, png, None, None),
            (None, None) => continue,
        }
        shown.push(stem);
    }
    if shown.is_empty() {
        out.push_str("<h2>Charts</h2>\n<p>No charts: nothing to draw.</p>\n");
    }
}

/// What to look for in each chart, by file stem (see [`charts::CHARTS`]).
const CAPTIONS: &[(&str, &str)] = &[
    (
        "latency",
        "Look for the p99 rising in a shaded fault window, and whether it falls back once the fault ends: a tail that stays high afterwards is a backlog that has not drained.",
    ),
    (
        "throughput",
        "Successes should follow the offered rate; a gap that opens in a fault and stays open after it is a system that does not recover on its own (a metastable failure).",
    ),
    (
        "service_queues",
        "A queue that keeps growing means more arrives than the workers can serve; one that stays long after a fault is a backlog still being worked off.",
    ),
    (
        "service_outcomes",
        "Which service fails, and how: its own errors, a dependency that failed, or requests rejected at a full queue.",
    ),
    (
        "amplification",
        "Above 1, a service receives more requests than its callers make calls: retries and hedges multiply the load, just when it struggles.",
    ),
    (
        "attempts",
        "Attempts per call above 1 are retries and hedges; a jump in a fault that no retry budget caps is how a retry storm starts.",
    ),
    (
        "breakers",
        "When each circuit breaker opened, probed (half-open) and closed again: an opening should follow a fault, and closing come soon after it ends.",
    ),
];

fn figure(out: &mut String, file: &str, svg: Option<&str>, png: Option<&str>) {
    let title = charts::title_of(file).unwrap_or(file);
    let _ = writeln!(out, "<h2>{}</h2>\n<figure>", escape(title));
    match svg {
        // Our own charts' SVG, whose labels are escaped when drawn; an XML
        // declaration has no place inside HTML.
        Some(svg) => {
            let svg = match svg.find("<svg") {
                Some(start) => &svg[start..],
                None => svg,
            };
            let _ = writeln!(
                out,
                "<div class=\"chart\" role=\"img\" aria-label=\"{}\">\n{}\n</div>",
                escape(title),
                svg.trim_end()
            );
        }
        None => {
            let _ = writeln!(
                out,
                "<img src=\"{}\" alt=\"{}\" loading=\"lazy\">",
                escape(file),
                escape(title)
            );
        }
    }
    out.push_str("<figcaption>");
    let stem = std::path::Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("");
    if let Some((_, caption)) = CAPTIONS.iter().find(|(s, _)| *s == stem) {
        let _ = write!(out, "{caption} ");
    }
    out.push_str("Shaded: fault windows.");
    if let Some(png) = png {
        let _ = write!(out, " Also as <a href=\"{}\">PNG</a>.", escape(png));
    }
    out.push_str("</figcaption>\n</figure>\n");
}

/// The scenario before the results: services and their calls, the
/// workload, the policies and the faults, every name escaped.
fn scenario_section(out: &mut String, scenario: &Scenario) {
    out.push_str("<h2>Scenario</h2>\n<h3>Services and their calls</h3>\n<ul class=\"scenario\">\n");
    for (name, service) in &scenario.services {
        let _ = write!(
            out,
            "<li><b>{}</b>: {} instance{} × {} worker{}, queue {}, service time <code>{}</code>",
            escape(name),
            service.instances,
            plural(u64::from(service.instances)),
            service.concurrency,
            plural(u64::from(service.concurrency)),
            service.queue_capacity,
            escape(&json(&service.service_time)),
        );
        if service.error_rate > 0.0 {
            let _ = write!(out, ", error rate {}", service.error_rate);
        }
        if !service.calls.is_empty() {
            let steps: Vec<String> = service.calls.iter().map(call_step).collect();
            let _ = write!(out, "; then calls {}", steps.join(", then "));
        }
        out.push_str("</li>\n");
    }
    out.push_str("</ul>\n<h3>Workload</h3>\n<ul class=\"scenario\">\n");
    let w = &scenario.workload;
    match (&w.arrivals, &w.users) {
        (Some(Arrivals::Poisson { rate }), _) => {
            let _ = writeln!(out, "<li>Poisson arrivals at {rate} requests/s</li>");
        }
        (Some(Arrivals::Constant { rate }), _) => {
            let _ = writeln!(out, "<li>Evenly spaced arrivals at {rate} requests/s</li>");
        }
        (None, Some(users)) => {
            let _ = writeln!(
                out,
                "<li>{} users, each thinking <code>{}</code> between a reply and its next request</li>",
                users.count,
                escape(&json(&users.think_time))
            );
        }
        (None, None) => {}
    }
    for change in &w.schedule {
        let text = match (change.rate, change.lasts, change.ramp_to, change.over) {
            (Some(rate), Some(lasts), _, _) => format!("at {}: {rate}/s for {lasts}", change.at),
            (Some(rate), None, _, _) => format!("at {}: {rate}/s from then on", change.at),
            (None, _, Some(to), Some(over)) => {
                format!("at {}: ramp to {to}/s over {over}", change.at)
            }
            _ => format!("at {}", change.at),
        };
        let _ = writeln!(out, "<li>{text}</li>");
    }
    let total: f64 = w.routes.iter().map(|r| r.weight).sum();
    for route in &w.routes {
        let name = route.name.as_deref().unwrap_or(&route.service);
        let mut text = format!(
            "route <b>{}</b> → {}, {:.1}% of requests",
            escape(name),
            escape(&route.service),
            route.weight / total * 100.0
        );
        if let Some(t) = route.timeout.or(w.timeout) {
            let _ = write!(text, ", timeout {t}");
        }
        if let Some(p) = route.policy.as_deref().or(w.policy.as_deref()) {
            let _ = write!(text, ", policy {}", escape(p));
        }
        let _ = writeln!(out, "<li>{text}</li>");
    }
    out.push_str("</ul>\n");
    if !scenario.policies.is_empty() {
        out.push_str("<h3>Policies</h3>\n<ul class=\"scenario\">\n");
        for (name, policy) in &scenario.policies {
            let _ = writeln!(
                out,
                "<li><b>{}</b>: {}</li>",
                escape(name),
                policy_pieces(policy)
            );
        }
        out.push_str("</ul>\n");
    }
    if !scenario.faults.is_empty() {
        out.push_str("<h3>Faults</h3>\n<ul class=\"scenario\">\n");
        for fault in &scenario.faults {
            let mut kind = serde_json::to_value(fault).unwrap_or_default();
            if let Some(map) = kind.as_object_mut() {
                map.retain(|k, v| k != "at" && k != "for" && !v.is_null());
            }
            let until = fault.lasts.map_or_else(
                || "the end of the run".to_string(),
                |d| format!("{}", fault.at.saturating_add(d)),
            );
            let _ = writeln!(
                out,
                "<li>from {} to {}: <code>{}</code></li>",
                fault.at,
                until,
                escape(&kind.to_string())
            );
        }
        out.push_str("</ul>\n");
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A value in compact JSON, as the scenario file writes it.
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// One call step in words, escaped.
fn call_step(step: &CallStep) -> String {
    let one = |service: &str,
               probability: f64,
               optional: bool,
               timeout: Option<crate::kernel::SimDuration>,
               policy: Option<&str>| {
        let mut text = escape(service);
        let mut notes = Vec::new();
        if probability < 1.0 {
            notes.push(format!("p = {probability}"));
        }
        if optional {
            notes.push("optional".to_string());
        }
        if let Some(t) = timeout {
            notes.push(format!("timeout {t}"));
        }
        if let Some(p) = policy {
            notes.push(format!("policy {}", escape(p)));
        }
        if !notes.is_empty() {
            let _ = write!(text, " ({})", notes.join(", "));
        }
        text
    };
    match (&step.service, &step.parallel) {
        (Some(service), _) => one(
            service,
            step.probability.unwrap_or(1.0),
            step.optional.unwrap_or(false),
            step.timeout,
            step.policy.as_deref(),
        ),
        (None, Some(group)) => {
            let calls: Vec<String> = group
                .iter()
                .map(|c| {
                    one(
                        &c.service,
                        c.probability,
                        c.optional,
                        c.timeout,
                        c.policy.as_deref(),
                    )
                })
                .collect();
            format!("in parallel [{}]", calls.join(" ‖ "))
        }
        (None, None) => String::new(),
    }
}

/// The pieces of a policy in words, outermost first.
fn policy_pieces(policy: &Policy) -> String {
    let mut pieces = Vec::new();
    if let Some(d) = policy.deadline {
        pieces.push(format!("deadline {d}"));
    }
    if let Some(r) = &policy.retry {
        pieces.push(format!("retry up to {} attempts", r.max_attempts));
    }
    if let Some(b) = &policy.budget {
        pieces.push(match b {
            BudgetSpec::Tps { retry_percent, .. } => format!("retry budget {retry_percent}%"),
            BudgetSpec::TokenBucket { max_tokens, .. } => {
                format!("retry throttling ({max_tokens} tokens)")
            }
            BudgetSpec::Adaptive { k, .. } => format!("adaptive throttling (K = {k})"),
        });
    }
    if let Some(b) = &policy.breaker {
        pieces.push(match b.consecutive_failures {
            Some(n) => format!("breaker after {n} consecutive failures"),
            None => format!("breaker at {}% failures", b.failure_rate_percent),
        });
    }
    if let Some(b) = &policy.bulkhead {
        pieces.push(format!("bulkhead of {}", b.max_concurrent));
    }
    if let Some(r) = &policy.rate_limit {
        pieces.push(format!("rate limit {}/s", r.rate));
    }
    if let Some(h) = &policy.hedge {
        pieces.push(match (h.delay, h.percentile) {
            (Some(d), _) => format!("hedge after {d}"),
            (None, Some(q)) => format!("hedge at p{q}"),
            _ => "hedge".to_string(),
        });
    }
    if let Some(t) = policy.timeout {
        pieces.push(format!("timeout {t} per attempt"));
    }
    if pieces.is_empty() {
        "nothing (an empty policy)".to_string()
    } else {
        pieces.join(" ∘ ")
    }
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
    fn the_page_inlines_its_charts_and_shows_the_scenario_escaped() {
        let (scenario, run) = nasty_run();
        let summary = Summary::new(&scenario, scenario.scenario().seed, &run);
        let files = charts::render(&run).unwrap();
        let html = page(
            &summary,
            scenario.scenario(),
            &reproduce_command("scenarios/<x>.json", 3),
            &files,
        );
        assert!(!html.contains(NASTY), "a raw name");
        assert!(!html.contains("<script"), "a raw name");
        assert!(!html.contains("<i>"), "a raw policy name");
        assert!(!html.contains("<b>route"), "a raw route name");
        // Every SVG inline, none by path; PNGs linked.
        let svgs = files.iter().filter(|(n, _)| n.ends_with(".svg")).count();
        assert!(svgs >= 4);
        assert_eq!(html.matches("<svg").count(), svgs);
        assert!(!html.contains("<img "));
        assert!(!html.contains("<?xml"));
        assert!(html.contains("<a href=\"charts/latency.png\">PNG</a>"));
        assert!(!html.contains("http://") || html.matches("http://").count() == svgs);
        // The scenario comes before the results.
        let scenario_at = html.find("<h2>Scenario</h2>").expect("a scenario section");
        assert!(scenario_at < html.find("<h2>Routes</h2>").unwrap());
        for text in [
            "<b>&lt;script&gt;alert(1)&lt;/script&gt;</b>: 2 instances × 2 workers, queue 10",
            "then calls db (policy &lt;i&gt;p&lt;/i&gt;)",
            "Poisson arrivals at 50 requests/s",
            "route <b>&lt;b&gt;route&lt;/b&gt;</b> → &lt;script&gt;alert(1)&lt;/script&gt;, 100.0% of requests",
            "<b>&lt;i&gt;p&lt;/i&gt;</b>: retry up to 2 attempts ∘ breaker at 20% failures ∘ timeout 50ms per attempt",
            "from 1s to 2s: <code>{&quot;crash&quot;:",
        ] {
            assert!(html.contains(text), "{text}");
        }
        // One caption per chart.
        assert_eq!(html.matches("<figcaption>").count(), svgs);
        assert!(html.contains("a retry storm starts"));
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
