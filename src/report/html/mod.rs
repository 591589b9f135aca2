//! `index.html`: one self-contained page per run, with the scenario (its
//! services and calls, workload, policies and faults) before the results,
//! the summary tables (routes, services, the edges between services and what
//! their policies did), the fault timeline, every chart with a caption that
//! says what to look for, and the command that reproduces the run. No
//! network access: the style is inline, and [`page`] inlines the SVG charts
//! too, so the file alone can be mailed or pasted into a design review.
//! Every string that comes from a scenario is HTML-escaped (the SVG charts
//! escape their own labels: see `charts_of_a_nasty_run_escape_names_too`).
//!
//! The page skeleton, its style and the public functions are here; the
//! scenario section is in `scenario.rs`, the verdicts on the scenario's
//! requirements in `requirements.rs`, the result tables in `tables.rs` (the
//! autoscalers' in `autoscale.rs`, the gateways' in `gateway.rs`), the charts
//! and their captions in `figures.rs`.

mod autoscale;
mod events;
mod figures;
mod gateway;
mod phases;
mod requirements;
mod saga;
mod scenario;
mod tables;

use std::fmt::Write;

use super::summary::Summary;
use crate::scenario::Scenario;
use figures::charts_section;
use requirements::requirements_section;
use scenario::scenario_section;
use tables::{clients, edges, faults, routes, services};

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

/// The page's style. The main column never scrolls sideways at laptop width
/// (1280 px) or wider, and nothing in it needs its own scrollbar
/// (`tests/page_layout.rs` checks this in a headless browser): tables fit
/// by tight cells and headers that wrap, and tighter still with 19 columns
/// or more (a route table with retries, hedges and refusals); names and
/// code wrap anywhere they must (a scenario name can be 235 characters
/// without a space); the charts scale to the column, which widens on wide
/// screens. `.scroll` stays as a last resort only: a route table with every
/// optional column (24) and seven-digit counts still needs it below about
/// 1,450 px.
const STYLE: &str = "\
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif;
  margin: 0 auto; max-width: 1240px; padding: 1.5rem; color: #1e1e1e; line-height: 1.45;
  overflow-wrap: anywhere; }
h1 { margin: 0 0 .25rem; font-size: 1.7rem; }
h2 { margin: 2rem 0 .6rem; font-size: 1.25rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
p.description { margin: .25rem 0 1rem; max-width: 60rem; }
dl.facts { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .15rem 1rem; margin: 0; }
dl.facts dt { color: #555; }
dl.facts dd { margin: 0; }
.incomplete { color: #b00; font-weight: bold; }
pre { background: #f4f4f4; border: 1px solid #ddd; padding: .6rem .8rem; overflow-x: auto;
  white-space: pre-wrap; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: .92rem;
  overflow-wrap: normal; }
th, td { padding: .2rem .3rem; border-bottom: 1px solid #e4e4e4; }
th { background: #f4f4f4; text-align: right; vertical-align: bottom; font-size: .75rem; }
td { text-align: right; white-space: nowrap; font-size: .8rem; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
td.text { white-space: normal; font-size: .85rem; min-width: 5rem; overflow-wrap: anywhere; }
table:has(th:nth-child(19)) th, table:has(th:nth-child(19)) td { padding: .15rem .22rem; }
table:has(th:nth-child(19)) th { font-size: .7rem; }
table:has(th:nth-child(19)) td { font-size: .72rem; }
table:has(th:nth-child(21)) th, table:has(th:nth-child(21)) td { padding: .12rem .16rem; }
table:has(th:nth-child(21)) th { font-size: .66rem; }
table:has(th:nth-child(21)) td { font-size: .68rem; }
@media (min-width: 1700px) { body { max-width: 1560px; } }
ul.scenario { padding-left: 1.2rem; margin: .3rem 0; }
ul.scenario li { margin: .15rem 0; }
ul.scenario code, p code { font-size: .85rem; background: #f4f4f4; padding: 0 .2rem; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .3rem; }
.chart svg { display: block; box-sizing: border-box; width: 100%; height: auto;
  border: 1px solid #e4e4e4; }
tbody tr:nth-child(even) { background: #fafafa; }
figure { margin: 1.2rem 0 2rem; }
figure img { box-sizing: border-box; width: 100%; height: auto; border: 1px solid #e4e4e4; }
figcaption { color: #555; font-size: .9rem; margin-top: .3rem; }
p.note { color: #555; font-size: .9rem; margin: .3rem 0 0; }
";

/// The whole `index.html`, self-contained: `scenario` is the scenario that
/// was run (shown before the results), `command` the command line that
/// reproduces the run (see [`reproduce_command`]), `charts` the chart files
/// as [`charts::render`](super::charts::render) returns them, names and
/// bytes: each SVG is inlined into the page, with a link to its PNG; a chart
/// with only a PNG is shown by relative path.
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
    /// Names and bytes, as [`charts::render`](super::charts::render) returns
    /// them: SVGs are inlined.
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
    requirements_section(&mut out, summary);
    routes(&mut out, summary);
    clients(&mut out, summary);
    services(&mut out, summary);
    autoscale::autoscaling(&mut out, summary);
    gateway::gateways(&mut out, summary);
    saga::sagas(&mut out, summary);
    events::events(&mut out, summary);
    edges(&mut out, summary);
    faults(&mut out, summary);
    phases::phases_section(&mut out, summary);
    let schedule = scenario.is_some_and(|s| !s.workload.schedule.is_empty());
    match charts {
        Charts::Inline(files) => {
            let names: Vec<String> = files.iter().map(|(name, _)| name.clone()).collect();
            let svg_text = |name: &str| {
                files
                    .iter()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, bytes)| std::str::from_utf8(bytes).ok())
            };
            charts_section(&mut out, &names, svg_text, schedule);
        }
        Charts::Linked(names) => charts_section(&mut out, names, |_| None, schedule),
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

#[cfg(test)]
mod tests;
