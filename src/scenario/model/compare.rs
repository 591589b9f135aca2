//! The optional `compare` section of a scenario file: an experiment a team
//! commits beside the system it is about (`meshsim compare FILE` runs it;
//! `run` ignores it; `validate` checks it), and the syntax of the paths it
//! and `--vary` use to address a field of the scenario.
//!
//! A path is dot-separated segments, each a bare word or a quoted string
//! (for a key with dots: `services."a.b".instances`); a segment made of
//! digits is an array index where the value is an array. Paths are resolved
//! against the scenario's JSON by the experiment layer, which knows the
//! file; here only their syntax and the section's bounds are checked.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::scenario::diagnostic::JsonPath;

/// The most seeds of one comparison (each variant runs on every one).
pub const MAX_SEEDS: u32 = 1_000;
/// The most variants of one comparison (the product of the `vary` lists,
/// or the files given): past a hundred no table or chart stays readable.
pub const MAX_VARIANTS: usize = 100;
/// The most runs of one comparison, variants × seeds: at a second a run on
/// one core, about three hours; each run keeps only its row of metrics (a
/// hundred bytes), so memory is never the limit, time is.
pub const MAX_RUNS: u64 = 10_000;
/// The seeds of a comparison that does not say (`--seeds`, or the
/// section's `seeds`).
pub const DEFAULT_SEEDS: u32 = 10;

/// An experiment over this scenario: the settings to vary and on how many
/// seeds, run by `meshsim compare FILE`; the command line's `--vary` and
/// `--seeds` override it.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CompareSpec {
    /// Seeds per variant (2 or more, for a confidence interval); seed i is
    /// the scenario's seed + i, the same world for every variant.
    #[serde(default = "default_seeds")]
    #[schemars(range(min = 2, max = MAX_SEEDS))]
    pub seeds: u32,
    /// The settings to vary, by path (e.g.
    /// `"policies.standard.retry.max_attempts": [1, 2, 3]`), each with the
    /// values to try; the variants are every combination, the first values
    /// making the baseline. Paths are taken in alphabetical order.
    #[serde(default)]
    pub vary: BTreeMap<String, Vec<serde_json::Value>>,
}

fn default_seeds() -> u32 {
    DEFAULT_SEEDS
}

impl CompareSpec {
    /// Every problem of the section, with its path: seeds out of range, a
    /// path that does not parse, an empty list of values, too many
    /// variants or runs.
    pub fn problems(&self, at: &JsonPath) -> Vec<(JsonPath, String)> {
        let mut problems = Vec::new();
        if !(2..=MAX_SEEDS).contains(&self.seeds) {
            problems.push((
                at.key("seeds"),
                format!(
                    "a comparison needs 2 to {MAX_SEEDS} seeds for its confidence intervals, got {}",
                    self.seeds
                ),
            ));
        }
        let mut variants: u64 = 1;
        for (path, values) in &self.vary {
            let here = at.key("vary").key(path);
            if let Err(e) = VaryPath::parse(path) {
                problems.push((here.clone(), e));
            }
            if values.is_empty() {
                problems.push((here, "give at least one value to try".to_string()));
            }
            variants = variants.saturating_mul(values.len().max(1) as u64);
        }
        if let Some(problem) = too_many(variants, u64::from(self.seeds)) {
            problems.push((at.key("vary"), problem));
        }
        problems
    }
}

/// Why `variants` × `seeds` runs are too many, if they are.
pub fn too_many(variants: u64, seeds: u64) -> Option<String> {
    if variants > MAX_VARIANTS as u64 {
        return Some(format!(
            "{variants} variants is more than the {MAX_VARIANTS} a comparison may have: vary fewer settings or fewer values at once"
        ));
    }
    let runs = variants.saturating_mul(seeds);
    (runs > MAX_RUNS).then(|| {
        format!(
            "{variants} variants × {seeds} seeds = {runs} runs, more than the {MAX_RUNS} a comparison may make: use fewer seeds or variants"
        )
    })
}

/// A path to a field of a scenario, parsed: its segments, unquoted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaryPath(pub Vec<String>);

impl VaryPath {
    /// Parses `services."a.b".instances`: segments separated by dots, a
    /// segment quoted with `"` when it holds dots or quotes (`\"` and `\\`
    /// inside quotes).
    pub fn parse(text: &str) -> Result<VaryPath, String> {
        let mut segments = Vec::new();
        let mut chars = text.chars().peekable();
        loop {
            let mut segment = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => match chars.next() {
                            Some(c @ ('"' | '\\')) => segment.push(c),
                            _ => {
                                return Err(format!(
                                    "in the path `{text}`, a quoted segment allows only \\\" and \\\\ as escapes"
                                ));
                            }
                        },
                        c => segment.push(c),
                    }
                }
                if !closed {
                    return Err(format!(
                        "in the path `{text}`, a quote is not closed: write a segment with dots as \"a.b\""
                    ));
                }
                match chars.peek() {
                    None | Some('.') => {}
                    Some(c) => {
                        return Err(format!(
                            "in the path `{text}`, `{c}` after a quoted segment: segments are separated by dots"
                        ));
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == '.' {
                        break;
                    }
                    if c == '"' {
                        return Err(format!(
                            "in the path `{text}`, a quote inside a segment: quote the whole segment, as `services.\"a.b\".instances`"
                        ));
                    }
                    segment.push(c);
                    chars.next();
                }
                if segment.is_empty() {
                    return Err(format!(
                        "the path `{text}` has an empty segment: write fields separated by single dots, e.g. `policies.standard.retry.max_attempts`"
                    ));
                }
            }
            segments.push(segment);
            match chars.next() {
                None => break,
                Some('.') => {}
                Some(_) => unreachable!("a segment ends at a dot or the end"),
            }
        }
        Ok(VaryPath(segments))
    }

    /// The first `n` segments, as they would be written.
    pub fn prefix(&self, n: usize) -> String {
        VaryPath(self.0[..n].to_vec()).to_string()
    }
}

impl fmt::Display for VaryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            let plain = !segment.is_empty() && !segment.contains(['.', '"', '\\', '=']);
            if plain {
                f.write_str(segment)?;
            } else {
                write!(
                    f,
                    "\"{}\"",
                    segment.replace('\\', "\\\\").replace('"', "\\\"")
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Vec<String> {
        VaryPath::parse(text).expect("parses").0
    }

    #[test]
    fn paths_parse_into_segments() {
        assert_eq!(
            parsed("policies.standard.retry.max_attempts"),
            ["policies", "standard", "retry", "max_attempts"]
        );
        assert_eq!(
            parsed("services.\"a.b\".instances"),
            ["services", "a.b", "instances"]
        );
        assert_eq!(parsed("faults.0.for"), ["faults", "0", "for"]);
        assert_eq!(parsed("\"x\\\"y\""), ["x\"y"]);
    }

    #[test]
    fn bad_paths_say_what_is_wrong() {
        for (text, expected) in [
            ("a..b", "empty segment"),
            ("", "empty segment"),
            ("a.", "empty segment"),
            ("a.\"b", "not closed"),
            ("a.\"b\"c", "after a quoted segment"),
            ("a.b\"c\"", "quote inside a segment"),
            ("\"a\\n\"", "escapes"),
        ] {
            let e = VaryPath::parse(text).expect_err(text);
            assert!(e.contains(expected), "{text}: {e}");
        }
    }

    #[test]
    fn a_path_prints_back_as_it_parses() {
        for text in ["a.b.c", "services.\"a.b\".instances", "\"x\\\"y\".z"] {
            assert_eq!(VaryPath::parse(text).unwrap().to_string(), text);
        }
    }

    proptest::proptest! {
        /// Any segments (dots, quotes, backslashes, `=` included) print as a
        /// path that parses back to the same segments.
        #[test]
        fn a_printed_path_parses_back_to_its_segments(
            segments in proptest::collection::vec("[a-z0-9._=\\\\\"]{1,6}", 1..5)
        ) {
            let path = VaryPath(segments.clone());
            proptest::prop_assert_eq!(VaryPath::parse(&path.to_string()), Ok(path));
        }
    }

    #[test]
    fn the_section_is_checked() {
        let spec: CompareSpec = serde_json::from_value(serde_json::json!({
            "seeds": 1, "vary": {"a..b": [1], "c": []}
        }))
        .unwrap();
        let problems = spec.problems(&JsonPath::root().key("compare"));
        let text: Vec<String> = problems.iter().map(|(p, m)| format!("{p}: {m}")).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(text[0].starts_with("compare.seeds: a comparison needs 2"));
        assert!(text[1].contains("empty segment"));
        assert!(text[2].contains("at least one value"));
    }

    #[test]
    fn runs_are_bounded() {
        assert!(too_many(100, 100).is_none());
        assert!(too_many(101, 2).unwrap().contains("101 variants"));
        assert!(too_many(50, 201).unwrap().contains("10050 runs"));
    }
}
