//! The requirements section of `index.html`: each requirement of the
//! scenario, met or failed, with the value measured and, for a sliding one,
//! the worst window and the first that failed. Left out of a run whose
//! scenario states none.

use std::fmt::Write;

use super::escape;
use crate::report::requirements::WindowSummary;
use crate::report::summary::Summary;

fn span(w: Option<&WindowSummary>) -> String {
    w.map_or_else(
        || "–".to_string(),
        |w| format!("{:.3}–{:.3} s: {}", w.start_s, w.end_s, w.value),
    )
}

pub(super) fn requirements_section(out: &mut String, s: &Summary) {
    if s.requirements.is_empty() {
        return;
    }
    let failed = s.requirements.iter().filter(|r| !r.passed).count();
    let _ = writeln!(
        out,
        "<h2>Requirements</h2>\n<p>{} of {} met{}.</p>",
        s.requirements.len() - failed,
        s.requirements.len(),
        if failed > 0 {
            ": <span class=\"incomplete\"><code>meshsim run</code> exits with 1</span>"
        } else {
            ""
        }
    );
    out.push_str(
        "<div class=\"scroll\"><table>\n<thead><tr><th class=\"text\">requirement</th>\
         <th class=\"text\">verdict</th><th>value</th><th>bound</th>\
         <th class=\"text\">worst window</th><th class=\"text\">first failed</th>\
         <th class=\"text\">detail</th></tr></thead>\n<tbody>\n",
    );
    for r in &s.requirements {
        let name = if r.name == r.requirement {
            escape(&r.requirement)
        } else {
            format!("{}<br>{}", escape(&r.name), escape(&r.requirement))
        };
        let verdict = if r.passed {
            "met".to_string()
        } else {
            "<span class=\"incomplete\">failed</span>".to_string()
        };
        let number =
            |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v} {}", r.unit));
        let _ = writeln!(
            out,
            "<tr><td class=\"text\">{name}</td><td class=\"text\">{verdict}</td><td>{}</td><td>{}</td>\
             <td class=\"text\">{}</td><td class=\"text\">{}</td><td class=\"text\">{}</td></tr>",
            escape(&number(r.value)),
            escape(&number(r.bound)),
            escape(&span(r.worst_window.as_ref())),
            escape(&span(r.first_failed_window.as_ref())),
            escape(&r.detail)
        );
    }
    out.push_str("</tbody></table></div>\n");
}
