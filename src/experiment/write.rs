//! The text of a comparison: compare.csv (one row per variant × seed, every
//! key metric), compare.md and index.html (the statistics and the
//! conclusions in words), and the table the command prints. Nothing here
//! depends on the wall clock or on the order runs finished.

use std::fmt::Write;

use super::Comparison;
use super::metrics::{Better, METRICS, Unit};
use super::runs::{Results, RunRow};
use super::stats::Interval;

/// compare.csv: `variant,seed,completed` then one column per metric, a row
/// per run in variant then seed order.
pub fn csv(c: &Comparison) -> String {
    let mut out = String::from("variant,seed,completed");
    for m in METRICS {
        out.push(',');
        out.push_str(m.name);
    }
    out.push_str(",failed_requirements\n");
    for (v, name) in c.names.iter().enumerate() {
        for (s, seed) in c.seeds.iter().enumerate() {
            let row = &c.results.rows[v][s];
            let _ = write!(out, "{},{seed},{}", csv_field(name), row.completed);
            for (m, value) in METRICS.iter().zip(&row.values) {
                out.push(',');
                out.push_str(&m.unit.csv(*value));
            }
            // The indices of the requirements it failed (in the scenario's
            // order), separated by spaces: compare.md names them.
            out.push(',');
            let failed: Vec<String> = row.failed_requirements.iter().map(u16::to_string).collect();
            out.push_str(&failed.join(" "));
            out.push('\n');
        }
    }
    out
}

/// The variant names, seeds and rows of a compare.csv that [`csv`] wrote:
/// with them, [`crate::experiment::Comparison::new`] rebuilds the whole
/// report (its rows are rounded as compare.csv writes them).
pub fn parse_csv(text: &str) -> Result<(Vec<String>, Vec<u64>, Results), String> {
    let mut lines = text.lines();
    let header = lines.next().ok_or("an empty compare.csv")?;
    let expected = csv(&Comparison {
        scenario: String::new(),
        names: Vec::new(),
        seeds: Vec::new(),
        results: Results { rows: Vec::new() },
        analysis: Vec::new(),
        command: String::new(),
        requirements: Vec::new(),
    });
    if header != expected.trim_end() {
        return Err(format!(
            "the header `{header}` is not `{}`",
            expected.trim_end()
        ));
    }
    let mut names: Vec<String> = Vec::new();
    let mut seeds: Vec<u64> = Vec::new();
    let mut rows: Vec<Vec<RunRow>> = Vec::new();
    for (n, line) in lines.enumerate() {
        let bad = |what: &str| format!("line {}: {what}", n + 2);
        let (name, rest) = if let Some(quoted) = line.strip_prefix('"') {
            let mut name = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '"' {
                    if quoted[i + 1..].starts_with('"') {
                        name.push('"');
                        chars.next();
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    name.push(c);
                }
            }
            let end = end.ok_or_else(|| bad("an unclosed quote"))?;
            (
                name,
                quoted[end..]
                    .strip_prefix(',')
                    .ok_or_else(|| bad("no comma after the name"))?,
            )
        } else {
            let (name, rest) = line.split_once(',').ok_or_else(|| bad("no fields"))?;
            (name.to_string(), rest)
        };
        let fields: Vec<&str> = rest.split(',').collect();
        if fields.len() != 3 + METRICS.len() {
            return Err(bad("the wrong number of fields"));
        }
        let seed: u64 = fields[0].parse().map_err(|_| bad("a bad seed"))?;
        let completed = match fields[1] {
            "true" => true,
            "false" => false,
            _ => return Err(bad("`completed` is not true or false")),
        };
        let failed_requirements = fields[2 + METRICS.len()]
            .split_whitespace()
            .map(|i| i.parse::<u16>().map_err(|_| bad("a bad requirement index")))
            .collect::<Result<Vec<u16>, String>>()?;
        let values = fields[2..2 + METRICS.len()]
            .iter()
            .map(|f| f.parse::<f64>().map_err(|_| bad("a bad number")))
            .collect::<Result<Vec<f64>, String>>()?;
        if names.last() != Some(&name) {
            names.push(name);
            rows.push(Vec::new());
        }
        if names.len() == 1 {
            seeds.push(seed);
        }
        let row = rows.last_mut().expect("a variant");
        if seeds.get(row.len()) != Some(&seed) {
            return Err(bad(
                "seeds out of order: every variant runs the first's seeds",
            ));
        }
        row.push(RunRow {
            values,
            completed,
            failed_requirements,
        });
    }
    if rows.iter().any(|r| r.len() != seeds.len()) {
        return Err("a variant lacks some seeds".to_string());
    }
    Ok((names, seeds, Results { rows }))
}

/// A CSV field, quoted (RFC 4180) when it holds a comma, a quote or a line
/// break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// A signed difference in the metric's unit (points for percentages).
fn signed(unit: Unit, x: f64) -> String {
    let shown = unit.show(x.abs());
    if shown.chars().all(|c| c == '0' || c == '.') {
        shown
    } else if x < 0.0 {
        format!("−{shown}")
    } else {
        format!("+{shown}")
    }
}

fn interval(unit: Unit, i: &Interval) -> String {
    format!("{} to {}", signed(unit, i.low()), signed(unit, i.high()))
}

fn diff_unit(unit: Unit) -> &'static str {
    match unit {
        Unit::Percent => " points",
        Unit::Ms => " ms",
        Unit::PerSec => "/s",
        Unit::Seconds => " s",
        Unit::Ratio | Unit::Count => "",
    }
}

/// How variant `v` stands against the baseline on metric `m`: "better",
/// "worse" or "no significant difference".
fn verdict(c: &Comparison, m: usize, v: usize) -> &'static str {
    let a = &c.analysis[m];
    if !a.significant(v) {
        return "no significant difference";
    }
    let up = a.paired[v].mean > 0.0;
    match (METRICS[m].better, up) {
        (Better::Higher, true) | (Better::Lower, false) => "better",
        _ => "worse",
    }
}

/// On how many seeds variant `v` did strictly better (`better`) or
/// strictly worse than the baseline on metric `m`.
fn seeds_counted(c: &Comparison, m: usize, v: usize, better: bool) -> usize {
    let (base, this) = (c.results.column(0, m), c.results.column(v, m));
    base.iter()
        .zip(&this)
        .filter(|(b, t)| {
            let higher = match METRICS[m].better {
                Better::Higher => t > b,
                Better::Lower => t < b,
            };
            let lower = match METRICS[m].better {
                Better::Higher => t < b,
                Better::Lower => t > b,
            };
            if better { higher } else { lower }
        })
        .count()
}

fn narrowing(c: &Comparison, m: usize, v: usize) -> String {
    match c.analysis[m].narrowing(v) {
        None => "—".to_string(),
        Some(x) if x.is_infinite() => "exact (the same on every seed)".to_string(),
        Some(x) => format!("{x:.1}×"),
    }
}

fn header(c: &Comparison) -> String {
    let runs = c.names.len() * c.seeds.len();
    format!(
        "{} variants × {} seeds = {runs} runs of `{}`; seeds {} to {} (seed i is the same world for every variant). \
         Intervals are 95% Student t ({} degrees of freedom); differences are paired by seed against the baseline, `{}`, \
         and Welch's unpaired interval is given beside them.",
        c.names.len(),
        c.seeds.len(),
        c.scenario,
        c.seeds[0],
        c.seeds[c.seeds.len() - 1],
        c.seeds.len() - 1,
        c.names[0]
    )
}

/// The conclusions in words, one line per variant and metric.
/// The requirements' verdicts, a line per variant that has requirements:
/// met on every seed, or which failed on how many seeds (the first five
/// seeds named, so a line stays short).
pub fn requirement_lines(c: &Comparison) -> Vec<String> {
    let failed = c.failed_requirements();
    let k = c.seeds.len();
    let mut out = Vec::new();
    for (v, name) in c.names.iter().enumerate() {
        let stated = c.requirements.get(v).map_or(0, Vec::len);
        if failed[v].is_empty() {
            if stated > 0 {
                out.push(format!(
                    "`{name}`: every requirement ({stated}) met on all {k} seeds"
                ));
            }
            continue;
        }
        for (requirement, seeds) in &failed[v] {
            let mut shown: Vec<String> = seeds.iter().take(5).map(u64::to_string).collect();
            if seeds.len() > 5 {
                shown.push("…".to_string());
            }
            out.push(format!(
                "`{name}`: requirement `{requirement}` FAILED on {} of {k} seeds ({})",
                seeds.len(),
                shown.join(", ")
            ));
        }
    }
    out
}

fn conclusions(c: &Comparison) -> Vec<String> {
    let mut out = Vec::new();
    for v in 1..c.names.len() {
        for (m, metric) in METRICS.iter().enumerate() {
            let a = &c.analysis[m];
            let p = &a.paired[v];
            let word = verdict(c, m, v);
            let line = if word == "no significant difference" {
                format!(
                    "`{}`: {}: no significant difference from the baseline ({}{}, 95% CI {})",
                    c.names[v],
                    metric.title,
                    signed(metric.unit, p.mean),
                    diff_unit(metric.unit),
                    interval(metric.unit, p)
                )
            } else {
                format!(
                    "`{}`: {}: {word} than the baseline by {}{} (95% CI {}; {word} on {} of {} seeds)",
                    c.names[v],
                    metric.title,
                    metric.unit.show(p.mean.abs()),
                    diff_unit(metric.unit),
                    interval(metric.unit, p),
                    seeds_counted(c, m, v, word == "better"),
                    c.seeds.len()
                )
            };
            out.push(line);
        }
    }
    out
}

/// The table `meshsim compare` prints: per metric, each variant's mean and
/// interval, and its paired difference from the baseline.
pub fn table(c: &Comparison) -> String {
    let width = c
        .names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(8, 40);
    let mut out = format!("compare {}: {}\n", c.scenario, plain(&header(c)));
    for (m, metric) in METRICS.iter().enumerate() {
        let a = &c.analysis[m];
        let _ = writeln!(
            out,
            "\n{}{}, {} is better",
            metric.title,
            unit_note(metric.unit),
            better(metric.better)
        );
        let _ = writeln!(
            out,
            "  {:<width$}  {:>22}  {:>34}  {:>10}",
            "variant", "mean ± 95%", "vs baseline, paired 95% CI", "narrower"
        );
        for (v, name) in c.names.iter().enumerate() {
            let mean = format!(
                "{} ± {}{}",
                metric.unit.show(a.means[v].mean),
                metric.unit.show(a.means[v].half_width),
                if v == a.best { " *" } else { "  " }
            );
            let diff = if v == 0 {
                "baseline".to_string()
            } else {
                format!(
                    "{} [{}] {}",
                    signed(metric.unit, a.paired[v].mean),
                    interval(metric.unit, &a.paired[v]).replace(" to ", ", "),
                    short(verdict(c, m, v))
                )
            };
            let _ = writeln!(
                out,
                "  {:<width$}  {:>22}  {:>34}  {:>10}",
                cut(name, width),
                mean,
                diff,
                if v == 0 {
                    String::new()
                } else {
                    narrowing(c, m, v).replace(" (the same on every seed)", "")
                }
            );
        }
    }
    out.push_str("\n* best mean; `narrower`: how many times narrower the paired interval is than Welch's unpaired one\n");
    let verdicts = requirement_lines(c);
    if !verdicts.is_empty() {
        out.push_str("\nrequirements\n");
        for line in verdicts {
            let _ = writeln!(out, "  {}", plain(&line));
        }
    }
    // Columns padded to their width leave spaces at the ends of lines.
    out.lines().map(|l| format!("{}\n", l.trim_end())).collect()
}

/// ` (%)`, ` (ms)`...: the unit after a metric's title, if it has one.
fn unit_note(unit: Unit) -> String {
    match unit.suffix().trim() {
        "" => String::new(),
        suffix => format!(" ({suffix})"),
    }
}

fn short(verdict: &str) -> &str {
    match verdict {
        "no significant difference" => "n.s.",
        other => other,
    }
}

fn better(b: Better) -> &'static str {
    match b {
        Better::Higher => "higher",
        Better::Lower => "lower",
    }
}

fn cut(name: &str, width: usize) -> String {
    if name.chars().count() <= width {
        name.to_string()
    } else {
        let cut: String = name.chars().take(width - 1).collect();
        format!("{cut}…")
    }
}

/// Markdown's backquotes taken out, for the terminal.
pub(super) fn plain(text: &str) -> String {
    text.replace('`', "")
}

/// compare.md.
pub fn markdown(c: &Comparison) -> String {
    let mut out = format!("# Comparison: {}\n\n", c.scenario);
    let _ = writeln!(out, "Reproduce: `{}`\n", c.command);
    let _ = writeln!(out, "{}\n", header(c));
    let _ = writeln!(out, "## Conclusions\n");
    for line in conclusions(c) {
        let _ = writeln!(out, "- {line}");
    }
    let verdicts = requirement_lines(c);
    if !verdicts.is_empty() {
        let _ = writeln!(out, "\n## Requirements\n");
        for line in verdicts {
            let _ = writeln!(out, "- {line}");
        }
    }
    let _ = writeln!(out, "\n## Metrics\n");
    for (m, metric) in METRICS.iter().enumerate() {
        let a = &c.analysis[m];
        let _ = writeln!(
            out,
            "### {}{}, {} is better\n",
            metric.title,
            unit_note(metric.unit),
            better(metric.better)
        );
        out.push_str("| variant | mean | 95% CI | Δ vs baseline (paired) | 95% CI of Δ | Welch 95% CI of Δ | paired narrower by | verdict |\n");
        out.push_str("|---|---:|---:|---:|---:|---:|---:|---|\n");
        for (v, name) in c.names.iter().enumerate() {
            let mean = if v == a.best {
                format!("**{}** (best)", metric.unit.show(a.means[v].mean))
            } else {
                metric.unit.show(a.means[v].mean)
            };
            let ci = format!(
                "{} to {}",
                metric.unit.show(a.means[v].low()),
                metric.unit.show(a.means[v].high())
            );
            if v == 0 {
                let _ = writeln!(
                    out,
                    "| `{}` | {mean} | {ci} | baseline | | | | |",
                    md_cell(name)
                );
            } else {
                let _ = writeln!(
                    out,
                    "| `{}` | {mean} | {ci} | {} | {} | {} | {} | {} |",
                    md_cell(name),
                    signed(metric.unit, a.paired[v].mean),
                    interval(metric.unit, &a.paired[v]),
                    interval(metric.unit, &a.welch[v]),
                    narrowing(c, m, v),
                    verdict(c, m, v)
                );
            }
        }
        out.push('\n');
    }
    out.push_str("Charts: `charts/<metric>.svg` (each metric by variant) and `charts/pareto.svg` (availability against p99). Every run's figures: `compare.csv`.\n");
    out
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('`', "'")
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Markdown's `code` as HTML's, on escaped text.
fn code(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in esc(text).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// index.html: the conclusions, the tables and the charts (inlined), one
/// self-contained page.
pub fn html(c: &Comparison, charts: &[(String, String, String)]) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
    );
    let _ = writeln!(
        out,
        "<title>meshsim compare: {}</title>\n<style>\nbody {{ font-family: sans-serif; max-width: 1240px; margin: 1.5em auto; padding: 0 1em; color: #1e1e1e; }}\ntable {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}\nth, td {{ border-bottom: 1px solid #e1e1e1; padding: 0.25em 0.7em; text-align: right; }}\nth:first-child, td:first-child {{ text-align: left; }}\ntd.best {{ font-weight: bold; color: #009e73; }}\nfigure {{ margin: 1em 0; }}\nfigure svg {{ max-width: 100%; height: auto; }}\ncode {{ background: #f4f4f4; padding: 0 0.2em; }}\n</style>\n</head>\n<body>",
        esc(&c.scenario)
    );
    let _ = writeln!(out, "<h1>Comparison: {}</h1>", esc(&c.scenario));
    let _ = writeln!(out, "<p>Reproduce: <code>{}</code></p>", esc(&c.command));
    let _ = writeln!(out, "<p>{}</p>", code(&header(c)));
    let _ = writeln!(out, "<h2>Conclusions</h2>\n<ul>");
    for line in conclusions(c) {
        let _ = writeln!(out, "<li>{}</li>", code(&line));
    }
    let _ = writeln!(out, "</ul>");
    let verdicts = requirement_lines(c);
    if !verdicts.is_empty() {
        let _ = writeln!(out, "<h2>Requirements</h2>\n<ul>");
        for line in verdicts {
            let _ = writeln!(out, "<li>{}</li>", code(&line));
        }
        let _ = writeln!(out, "</ul>");
    }
    let _ = writeln!(out, "<h2>Metrics</h2>");
    for (m, metric) in METRICS.iter().enumerate() {
        let a = &c.analysis[m];
        let _ = writeln!(
            out,
            "<h3>{}{}, {} is better</h3>\n<table>\n<tr><th>variant</th><th>mean</th><th>95% CI</th><th>Δ vs baseline (paired)</th><th>95% CI of Δ</th><th>Welch 95% CI of Δ</th><th>paired narrower by</th><th>verdict</th></tr>",
            esc(metric.title),
            esc(&unit_note(metric.unit)),
            better(metric.better)
        );
        for (v, name) in c.names.iter().enumerate() {
            let class = if v == a.best { " class=\"best\"" } else { "" };
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td{class}>{}</td><td>{} to {}</td>",
                esc(name),
                metric.unit.show(a.means[v].mean),
                metric.unit.show(a.means[v].low()),
                metric.unit.show(a.means[v].high())
            );
            if v == 0 {
                out.push_str("<td>baseline</td><td></td><td></td><td></td><td></td></tr>\n");
            } else {
                let _ = writeln!(
                    out,
                    "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    signed(metric.unit, a.paired[v].mean),
                    interval(metric.unit, &a.paired[v]),
                    interval(metric.unit, &a.welch[v]),
                    esc(&narrowing(c, m, v)),
                    verdict(c, m, v)
                );
            }
        }
        out.push_str("</table>\n");
    }
    let _ = writeln!(out, "<h2>Charts</h2>");
    for (name, title, svg) in charts {
        // The SVG's own XML declaration has no place inside HTML.
        let body = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
        let _ = writeln!(
            out,
            "<figure>\n{body}\n<figcaption>{} (<code>{}</code>)</figcaption>\n</figure>",
            esc(title),
            esc(name)
        );
    }
    out.push_str("<p>Every run's figures are in <code>compare.csv</code>.</p>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("a=1"), "a=1");
        assert_eq!(csv_field("a=1, b=2"), "\"a=1, b=2\"");
        assert_eq!(csv_field("x=\"y\""), "\"x=\"\"y\"\"\"");
    }

    #[test]
    fn differences_are_signed() {
        assert_eq!(signed(Unit::Percent, 0.0123), "+1.23");
        assert_eq!(signed(Unit::Ms, -2.5), "−2.50");
        assert_eq!(signed(Unit::Ms, 0.0), "0.00");
        assert_eq!(signed(Unit::Ms, -0.001), "0.00");
    }

    #[test]
    fn html_escapes_names() {
        assert_eq!(code("a `<b>` c"), "a <code>&lt;b&gt;</code> c");
    }
}
