//! The `meshsim compare` command, from its arguments to its exit code: the
//! variants are made and loaded (every problem reported before anything
//! runs, so a bad path or value writes nothing), the runs made in parallel
//! with a progress bar on a terminal, the report written whole through
//! [`crate::report::output::Staging`], and the table printed.
//!
//! The CLI (src/main.rs) parses the flags and hands over a [`Sink`] for
//! stdout and stderr; exit codes are the CLI's: 2 bad input, 3 a run that
//! did not complete or a comparison that could need more memory than
//! `--max-memory`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::report;
use crate::scenario::{self, Compiled, VaryPath};

use super::shard::{Fingerprint, Shard};
use super::shard_file::{self, ShardFile};
use super::vary::{self, Vary};
use super::{Comparison, Results, Variant, runs};

/// Exit code 2: bad input or usage, or an output that cannot be written.
const BAD_INPUT: u8 = 2;
/// Exit code 3: a run did not complete, or the runs could need too much
/// memory.
const INCOMPLETE: u8 = 3;

/// Where the command prints.
pub trait Sink {
    /// To stdout.
    fn out(&mut self, text: &str);
    /// To stderr.
    fn err(&mut self, text: &str);
}

/// The arguments of `meshsim compare`.
pub struct Args {
    /// One scenario (varied by `vary` or its `compare` section), or several
    /// whole alternatives, the first the baseline.
    pub scenarios: Vec<PathBuf>,
    /// `PATH=V1,V2,...`, as typed.
    pub vary: Vec<String>,
    /// Seeds per variant.
    pub seeds: Option<u32>,
    /// Threads (default: every core).
    pub jobs: Option<usize>,
    /// The report directory.
    pub out: Option<PathBuf>,
    /// No table and no progress bar.
    pub quiet: bool,
    /// Refuse variants with warnings.
    pub deny_warnings: bool,
    /// The bound on the memory of the worlds run at once.
    pub max_memory: u64,
    /// Run only this slice of the runs and write its shard.json (for
    /// `meshsim merge`) instead of the report.
    pub shard: Option<Shard>,
}

/// An error for people, with its exit code.
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) code: u8,
}

pub(crate) fn bad(message: String) -> Failure {
    Failure {
        message,
        code: BAD_INPUT,
    }
}

/// Runs `meshsim compare`; the exit code.
pub fn compare(args: Args, sink: &mut dyn Sink) -> u8 {
    match try_compare(&args, sink) {
        Ok(code) => code,
        Err(f) => {
            sink.err(&f.message);
            if !f.message.ends_with('\n') {
                sink.err("\n");
            }
            f.code
        }
    }
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

fn read(path: &Path) -> Result<String, Failure> {
    if path.as_os_str() == "-" {
        return Err(bad(
            "error: compare reads its scenarios from files (its variants are made from the file's text): save it to a file first".to_string(),
        ));
    }
    std::fs::read_to_string(path).map_err(|e| {
        bad(format!(
            "error: {}: cannot read the file: {e}",
            path.display()
        ))
    })
}

/// Loads `text` as `run` does; its warnings go to stderr unless the
/// baseline (`seen`) already had them.
fn load(
    text: &str,
    file: &str,
    label: Option<&str>,
    seen: &[String],
    deny_warnings: bool,
    sink: &mut dyn Sink,
) -> Result<Compiled, Failure> {
    match scenario::parse(text, file) {
        Ok(compiled) => {
            let mut fresh = 0;
            for warning in compiled.warnings() {
                let key = format!("{}: {}", warning.path, warning.message);
                if !seen.contains(&key) {
                    fresh += 1;
                    let shown = match label {
                        Some(label) => format!("variant `{label}` of {file}"),
                        None => file.to_string(),
                    };
                    // Positions belong to the baseline's text, not a variant's.
                    let mut warning = warning.clone();
                    if label.is_some() {
                        warning.position = None;
                    }
                    sink.err(&warning.render(&shown));
                }
            }
            if deny_warnings && fresh > 0 {
                return Err(bad(format!(
                    "error: {}: {fresh} warning{} denied by --deny-warnings",
                    label.unwrap_or(file),
                    if fresh == 1 { "" } else { "s" }
                )));
            }
            Ok(compiled)
        }
        Err(mut e) => {
            if let Some(label) = label {
                // The positions would be in the variant's text, which no
                // one has seen: the JSON path says where.
                for d in &mut e.diagnostics {
                    d.position = None;
                }
                e.file = format!("variant `{label}` of {file}");
            }
            Err(bad(format!("error: {e}")))
        }
    }
}

fn warning_keys(compiled: &Compiled) -> Vec<String> {
    compiled
        .warnings()
        .iter()
        .map(|w| format!("{}: {}", w.path, w.message))
        .collect()
}

/// The names of the varied settings: each path's last segment when those
/// are unique, the whole paths otherwise.
fn setting_names(vary: &[Vary]) -> Vec<String> {
    let last: Vec<String> = vary
        .iter()
        .map(|v| VaryPath(v.path.0[v.path.0.len() - 1..].to_vec()).to_string())
        .collect();
    let mut sorted = last.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() == last.len() {
        last
    } else {
        vary.iter().map(|v| v.path.to_string()).collect()
    }
}

/// Every combination of the values, the first `vary`'s slowest: indices.
fn combinations(vary: &[Vary]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new()];
    for v in vary {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                (0..v.values.len()).map(move |i| {
                    let mut next = prefix.clone();
                    next.push(i);
                    next
                })
            })
            .collect();
    }
    out
}

fn try_compare(args: &Args, sink: &mut dyn Sink) -> Result<u8, Failure> {
    let Some(first) = args.scenarios.first() else {
        return Err(bad("error: name a scenario to compare".to_string()));
    };
    if args.scenarios.len() > 1 && !args.vary.is_empty() {
        return Err(bad(
            "error: --vary changes one scenario; with several files, each file is a variant (the first the baseline): give one or the other".to_string(),
        ));
    }
    let file = first.display().to_string();
    let text = read(first)?;
    let baseline = load(&text, &file, None, &[], args.deny_warnings, sink)?;
    let seen = warning_keys(&baseline);
    let section = baseline.scenario().compare.clone();
    let base_seed = baseline.scenario().seed;
    let name = baseline.scenario().name.clone();
    let k = args
        .seeds
        .or(section.as_ref().map(|s| s.seeds))
        .unwrap_or(scenario::DEFAULT_SEEDS);
    if k < 2 {
        return Err(bad(format!(
            "error: --seeds {k}: a comparison needs at least 2 seeds for its confidence intervals (Student t with K − 1 degrees of freedom)\n  fix: --seeds 10 (more seeds, narrower intervals)"
        )));
    }
    if k > scenario::MAX_SEEDS {
        return Err(bad(format!(
            "error: --seeds {k}: at most {} seeds",
            scenario::MAX_SEEDS
        )));
    }
    let mut command = format!("meshsim compare {}", shell_word(&file));
    let variants = if args.scenarios.len() > 1 {
        file_variants(args, baseline, &seen, &mut command, sink)?
    } else {
        drop(baseline);
        let context = Baseline {
            file: &file,
            text: &text,
            section: section.as_ref(),
            seen: &seen,
        };
        varied_variants(args, &context, &mut command, sink)?
    };
    if args.seeds.is_some()
        || section.is_none()
        || args.scenarios.len() > 1
        || !args.vary.is_empty()
    {
        command.push_str(&format!(" --seeds {k}"));
    }
    if let Some(problem) = scenario::too_many(variants.len() as u64, u64::from(k)) {
        return Err(bad(format!("error: {problem}")));
    }
    let total = variants.len() * k as usize;
    if let Some(shard) = &args.shard {
        shard.check(total).map_err(|e| bad(format!("error: {e}")))?;
    }
    // The runs to make: a shard's slice, or all.
    let slice = args.shard.map(|s| s.runs(total));
    let count = slice.as_ref().map_or(total, Vec::len);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = args.jobs.unwrap_or(cores).clamp(1, count);
    // Each thread holds one world at a time: the largest variant's, at most.
    let (largest, size) = variants
        .iter()
        .map(|v| scenario::size::estimate(&v.compiled).total())
        .enumerate()
        .max_by_key(|&(_, s)| s)
        .expect("at least one variant");
    if size.saturating_mul(jobs as u64) > args.max_memory {
        return Err(Failure {
            message: format!(
                "error: {jobs} runs at once, each of whose worlds could need {} (variant `{}`), could need {}, past the limit of {}\n  fix: --jobs {} (or raise --max-memory)",
                scenario::size::bytes(size),
                variants[largest].name,
                scenario::size::bytes(size.saturating_mul(jobs as u64)),
                scenario::size::bytes(args.max_memory),
                (args.max_memory / size.max(1)).max(1)
            ),
            code: INCOMPLETE,
        });
    }
    let seeds: Vec<u64> = (0..u64::from(k))
        .map(|i| base_seed.wrapping_add(i))
        .collect();
    let dir = args.out.clone().unwrap_or_else(|| {
        let dir = PathBuf::from("reports").join(&name).join("compare");
        match &args.shard {
            Some(s) => dir.join(format!("shard-{}-of-{}", s.index, s.count)),
            None => dir,
        }
    });
    let cannot_write = |e: std::io::Error| {
        bad(format!(
            "error: cannot write the comparison to {}: {e}",
            dir.display()
        ))
    };
    let staging = report::output::Staging::new(&dir).map_err(cannot_write)?;
    let bar = if args.quiet || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(count as u64)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs  {elapsed} (eta {eta})")
            .expect("a valid template"),
    );
    // Wall-clock time is measured here and printed to stdout only.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let indices = slice.unwrap_or_else(|| (0..total).collect());
    let rows = runs::run_some(&variants, &seeds, &indices, jobs, &|| bar.inc(1));
    let wall = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let names: Vec<String> = variants.iter().map(|v| v.name.clone()).collect();
    let requirements: Vec<Vec<String>> = variants
        .iter()
        .map(|v| {
            v.compiled
                .requirements()
                .iter()
                .map(|r| r.name.clone())
                .collect()
        })
        .collect();
    let speed = format!(
        "{count} runs in {wall:.2}s wall clock, {:.1} runs/s on {jobs} thread{}",
        count as f64 / wall.max(1e-9),
        if jobs == 1 { "" } else { "s" }
    );
    if let Some(shard) = args.shard {
        let file = ShardFile {
            format: shard_file::FORMAT.to_string(),
            format_version: shard_file::FORMAT_VERSION,
            meshsim: env!("CARGO_PKG_VERSION").to_string(),
            fingerprint: fingerprint(&variants, &seeds),
            shard: shard_file::Slice {
                index: shard.index,
                count: shard.count,
            },
            total_runs: total,
            scenario: name,
            variants: names,
            seeds,
            command,
            requirements,
            metrics: shard_file::metric_names(),
            rows: rows
                .iter()
                .map(|(i, row)| shard_file::row(*i, row))
                .collect(),
        };
        drop(variants);
        let written = Written {
            staging,
            dir: &dir,
            default_dir: args.out.is_none(),
            speed: &speed,
        };
        return write_shard(shard, &file, written, sink);
    }
    let results = Results::from_rows(
        rows.into_iter().map(|(_, row)| row),
        variants.len(),
        k as usize,
    );
    drop(variants);
    let comparison =
        Comparison::new(name, names, seeds, results, command).with_requirements(requirements);
    report(&comparison, staging, &dir, args.quiet, &speed, sink)
}

/// Where a shard's file goes, and what to say of its runs.
struct Written<'a> {
    staging: report::output::Staging,
    dir: &'a Path,
    /// Whether `dir` is the default one (the merge hint then names the
    /// shards' default directories).
    default_dir: bool,
    speed: &'a str,
}

/// Writes a shard's `file`, prints where and how to merge, and says which
/// of its runs did not complete: exit code 3 if one did not, else 0
/// (requirements are judged by the merge, on the whole).
fn write_shard(
    shard: Shard,
    file: &ShardFile,
    written: Written<'_>,
    sink: &mut dyn Sink,
) -> Result<u8, Failure> {
    let Written {
        mut staging,
        dir,
        default_dir,
        speed,
    } = written;
    let cannot_write = |e: std::io::Error| {
        bad(format!(
            "error: cannot write the shard to {}: {e}",
            dir.display()
        ))
    };
    staging
        .write(shard_file::FILE, &file.to_bytes())
        .map_err(cannot_write)?;
    staging.commit(true).map_err(cannot_write)?;
    let dirs = if default_dir {
        format!(
            "{}/",
            PathBuf::from("reports")
                .join(&file.scenario)
                .join("compare")
                .join(format!("shard-*-of-{}", shard.count))
                .display()
        )
    } else {
        "DIR1 DIR2 ... (one per shard)".to_string()
    };
    sink.out(&format!(
        "wrote shard {shard} ({} of {} runs) to {}  ({speed}); when every shard is done: meshsim merge {dirs}\n",
        file.rows.len(),
        file.total_runs,
        dir.join(shard_file::FILE).display()
    ));
    let incomplete: Vec<String> = file
        .rows
        .iter()
        .filter(|r| !r.completed)
        .map(|r| {
            let (v, s) = (r.run / file.seeds.len(), r.run % file.seeds.len());
            format!("`{}` seed {}", file.variants[v], file.seeds[s])
        })
        .collect();
    if !incomplete.is_empty() {
        sink.err(&format!(
            "error: {} run{} of this shard did not complete (event budget, or time froze): {}\n",
            incomplete.len(),
            if incomplete.len() == 1 { "" } else { "s" },
            incomplete.join(", ")
        ));
        return Ok(INCOMPLETE);
    }
    Ok(0)
}

/// The fingerprint of a comparison: every variant's name and its compiled
/// scenario as canonical JSON (the model serializes with its maps sorted),
/// then the seeds. Two shards with the same one ran the same comparison.
pub(crate) fn fingerprint(variants: &[Variant], seeds: &[u64]) -> String {
    let mut f = Fingerprint::new();
    f.part(b"meshsim compare");
    f.part(&(variants.len() as u64).to_le_bytes());
    for v in variants {
        let json = serde_json::to_vec(v.compiled.scenario()).expect("plain JSON");
        f.part(v.name.as_bytes()).part(&json);
    }
    f.part(&(seeds.len() as u64).to_le_bytes());
    for seed in seeds {
        f.part(&seed.to_le_bytes());
    }
    f.hex()
}

/// Writes `comparison`'s files through `staging` into `dir`, prints the
/// table (unless `quiet`) and the line of what was written (`detail` in
/// its parentheses), and says on stderr what did not complete or failed:
/// the exit code. Shared by `compare` and `merge`, so a merged report is
/// the unsharded one.
pub(crate) fn report(
    comparison: &Comparison,
    mut staging: report::output::Staging,
    dir: &Path,
    quiet: bool,
    detail: &str,
    sink: &mut dyn Sink,
) -> Result<u8, Failure> {
    let cannot_write = |e: std::io::Error| {
        bad(format!(
            "error: cannot write the comparison to {}: {e}",
            dir.display()
        ))
    };
    let files = comparison
        .files()
        .map_err(|e| bad(format!("error: cannot render the charts: {e}")))?;
    for (file, bytes) in &files {
        staging.write(file, bytes).map_err(cannot_write)?;
    }
    let written = staging.names().len();
    staging.commit(true).map_err(cannot_write)?;
    if !quiet {
        sink.out(&super::write::table(comparison));
        sink.out("\n");
    }
    sink.out(&format!(
        "wrote {written} files to {}/  ({detail})\n",
        dir.display(),
    ));
    let incomplete: Vec<String> = comparison
        .results
        .rows
        .iter()
        .enumerate()
        .flat_map(|(v, rows)| {
            rows.iter()
                .zip(&comparison.seeds)
                .filter(|(r, _)| !r.completed)
                .map(move |(_, seed)| (v, *seed))
        })
        .map(|(v, seed)| format!("`{}` seed {seed}", comparison.names[v]))
        .collect();
    if !incomplete.is_empty() {
        sink.err(&format!(
            "error: {} run{} did not complete (event budget, or time froze): {}; their rows are marked `completed = false` in compare.csv and the statistics include them as they stopped\n",
            incomplete.len(),
            if incomplete.len() == 1 { "" } else { "s" },
            incomplete.join(", ")
        ));
        return Ok(INCOMPLETE);
    }
    let failed: usize = comparison.failed_requirements().iter().map(Vec::len).sum();
    if failed > 0 {
        for line in super::write::requirement_lines(comparison)
            .iter()
            .filter(|l| l.contains("FAILED"))
        {
            sink.err(&format!("error: {}\n", super::write::plain(line)));
        }
        return Ok(REQUIREMENT_FAILED);
    }
    Ok(0)
}

/// The exit code of a comparison in which some variant failed a
/// requirement on some seed (the CLI's "a check failed").
const REQUIREMENT_FAILED: u8 = 1;

/// The variants of `compare A.json B.json ...`: each file, named by its
/// stem (by its path when two stems are the same); `baseline` is the first,
/// already loaded.
fn file_variants(
    args: &Args,
    baseline: Compiled,
    seen: &[String],
    command: &mut String,
    sink: &mut dyn Sink,
) -> Result<Vec<Variant>, Failure> {
    let mut baseline = Some(baseline);
    let mut variants = Vec::new();
    for path in &args.scenarios[1..] {
        command.push(' ');
        command.push_str(&shell_word(&path.display().to_string()));
    }
    let mut names = Vec::new();
    for path in &args.scenarios {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        names.push(stem);
    }
    let unique = {
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        sorted.len() == names.len()
    };
    for (i, path) in args.scenarios.iter().enumerate() {
        let name = if unique {
            names[i].clone()
        } else {
            path.display().to_string()
        };
        let compiled = if let Some(baseline) = baseline.take() {
            baseline
        } else {
            let other = path.display().to_string();
            load(&read(path)?, &other, None, seen, args.deny_warnings, sink)?
        };
        variants.push(Variant { name, compiled });
    }
    Ok(variants)
}

/// What the variants of one scenario are made from.
struct Baseline<'a> {
    /// The file, as named.
    file: &'a str,
    /// Its text.
    text: &'a str,
    /// Its `compare` section.
    section: Option<&'a scenario::CompareSpec>,
    /// The warnings already printed for it.
    seen: &'a [String],
}

/// The variants of `compare FILE --vary ...` (or of its `compare` section):
/// every combination of the values, each set on the file's JSON and loaded.
fn varied_variants(
    args: &Args,
    base: &Baseline<'_>,
    command: &mut String,
    sink: &mut dyn Sink,
) -> Result<Vec<Variant>, Failure> {
    let (file, section, seen) = (base.file, base.section, base.seen);
    let mut variants = Vec::new();
    let vary: Vec<Vary> = if args.vary.is_empty() {
        let spec = section.as_ref().filter(|s| !s.vary.is_empty()).ok_or_else(|| {
            bad(format!(
                "error: nothing to compare in {file}: give --vary PATH=V1,V2,... (e.g. --vary policies.NAME.retry.max_attempts=1,3), several scenario files, or a `compare` section in the file"
            ))
        })?;
        spec.vary
            .iter()
            .map(|(path, values)| {
                VaryPath::parse(path)
                    .map(|path| Vary {
                        path,
                        values: values.clone(),
                    })
                    .map_err(|e| bad(format!("error: {file}: compare.vary: {e}")))
            })
            .collect::<Result<_, _>>()?
    } else {
        let mut parsed = Vec::new();
        for text in &args.vary {
            command.push_str(&format!(" --vary {}", shell_word(text)));
            parsed.push(vary::parse_vary(text).map_err(|e| bad(format!("error: {e}")))?);
        }
        parsed
    };
    let combinations = combinations(&vary);
    if let Some(problem) = scenario::too_many(
        combinations.len() as u64,
        u64::from(args.seeds.unwrap_or(2)),
    ) {
        return Err(bad(format!("error: {problem}")));
    }
    let value: Value =
        serde_json::from_str(base.text).map_err(|e| bad(format!("error: {file}: {e}")))?;
    let schema = scenario::json_schema();
    let names = setting_names(&vary);
    for combination in &combinations {
        let mut varied = value.clone();
        let mut name = Vec::new();
        for ((v, &i), setting) in vary.iter().zip(combination).zip(&names) {
            vary::set(&mut varied, &schema, &v.path, v.values[i].clone())
                .map_err(|e| bad(format!("error: --vary {}: {e}", v.path)))?;
            name.push(format!("{setting}={}", vary::shown(&v.values[i])));
        }
        let name = name.join(", ");
        let varied_text = serde_json::to_string_pretty(&varied).expect("plain JSON");
        let compiled = load(
            &varied_text,
            file,
            Some(&name),
            seen,
            args.deny_warnings,
            sink,
        )?;
        variants.push(Variant { name, compiled });
    }
    Ok(variants)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn combinations_vary_the_last_setting_fastest() {
        let vary = [
            Vary {
                path: VaryPath::parse("a").unwrap(),
                values: vec![json!(1), json!(2)],
            },
            Vary {
                path: VaryPath::parse("b").unwrap(),
                values: vec![json!("x"), json!("y"), json!("z")],
            },
        ];
        let c = combinations(&vary);
        assert_eq!(c.len(), 6);
        assert_eq!(c[0], [0, 0]);
        assert_eq!(c[1], [0, 1]);
        assert_eq!(c[5], [1, 2]);
    }

    #[test]
    fn the_fingerprint_is_of_the_scenario_not_its_text() {
        let text = r#"{"name": "t", "duration": "1s",
            "services": {"s": {"service_time": {"constant": "1ms"}}},
            "workload": {"arrivals": {"poisson": {"rate": 10}}, "routes": [{"service": "s"}]}}"#;
        let variant = |text: &str, name: &str| Variant {
            name: name.to_string(),
            compiled: scenario::parse(text, "t.json").expect("valid"),
        };
        let print = |texts: &[(&str, &str)], seeds: &[u64]| {
            let variants: Vec<Variant> = texts.iter().map(|(t, n)| variant(t, n)).collect();
            fingerprint(&variants, seeds)
        };
        let base = print(&[(text, "a")], &[1, 2]);
        assert_eq!(base.len(), 16);
        let reformatted: Value = serde_json::from_str(text).unwrap();
        let reformatted = serde_json::to_string_pretty(&reformatted).unwrap();
        assert_eq!(print(&[(&reformatted, "a")], &[1, 2]), base);
        assert_ne!(print(&[(text, "b")], &[1, 2]), base, "another name");
        assert_ne!(print(&[(text, "a")], &[1, 3]), base, "other seeds");
        let slower = text.replace("\"1ms\"", "\"2ms\"");
        assert_ne!(print(&[(&slower, "a")], &[1, 2]), base, "another setting");
        assert_ne!(print(&[(text, "a"), (text, "a")], &[1, 2]), base);
    }

    #[test]
    fn settings_are_named_by_their_last_segment_when_unique() {
        let v = |p: &str| Vary {
            path: VaryPath::parse(p).unwrap(),
            values: vec![json!(1)],
        };
        assert_eq!(
            setting_names(&[
                v("policies.a.retry.max_attempts"),
                v("services.b.instances")
            ]),
            ["max_attempts", "instances"]
        );
        assert_eq!(
            setting_names(&[v("services.a.instances"), v("services.b.instances")]),
            ["services.a.instances", "services.b.instances"]
        );
    }
}
