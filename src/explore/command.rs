//! The `meshsim explore` command, from its arguments to its exit code: the
//! scenario loaded and its `explore` bounds checked (a problem writes
//! nothing), every seed run in parallel with a progress bar on a terminal,
//! each property's first failing seed written as a scenario file (and,
//! with `--shrink`, shrunk), every written case run again to check that
//! it reproduces, and the report written whole through
//! [`crate::report::output::Staging`].
//!
//! Exit codes: 0 every property held on every seed; 1 some seed broke one;
//! 2 bad input or an output that cannot be written; 3 a written case did
//! not reproduce (a bug in meshsim), or the runs could need more memory
//! than `--max-memory`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::experiment::command::{Failure, Sink, bad};
use crate::report::output::Staging;
use crate::scenario::{self, Fault, RecoveryRequirement, Requirement};

use super::report::{CaseFile, Example, Report, SeedResult, ShrunkCase, secs};
use super::{Explorer, Property, shrink};

/// The most runs shrinking one case may take.
pub const SHRINK_RUNS_MAX: usize = 300;

/// The arguments of `meshsim explore`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The scenario file (JSON).
    pub scenario: PathBuf,
    /// Seeds to run (seed i is the scenario's seed + i) [default: the
    /// `explore` section's, or 100].
    #[arg(long)]
    pub seeds: Option<u32>,
    /// Runs at once [default: the number of cores]; the files written are
    /// the same for any number.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Where to write the report (default: `reports/<scenario name>/explore/`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Shrink each property's first failing case to a minimal fault
    /// schedule that still breaks it (delta debugging: fewer faults, then
    /// shorter, weaker, later), and write it beside the case.
    #[arg(long)]
    pub shrink: bool,
    /// No progress bar and no report text: only the headline and what was
    /// written.
    #[arg(long, short)]
    pub quiet: bool,
    /// Treat warnings as errors.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Refuse an exploration whose worlds run at once could need more
    /// memory than this (--jobs of them).
    #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = scenario::size::parse_bytes)]
    pub max_memory: u64,
}

/// Runs `meshsim explore`; the exit code.
pub fn explore(args: &Args, sink: &mut dyn Sink) -> u8 {
    match try_explore(args, sink) {
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

/// Exit code 3: a case did not reproduce, or too much memory.
const INCOMPLETE: u8 = 3;

fn try_explore(args: &Args, sink: &mut dyn Sink) -> Result<u8, Failure> {
    let file = args.scenario.display().to_string();
    let text = std::fs::read_to_string(&args.scenario)
        .map_err(|e| bad(format!("error: {file}: cannot read the file: {e}")))?;
    let compiled = scenario::parse(&text, &file).map_err(|e| bad(format!("error: {e}")))?;
    for warning in compiled.warnings() {
        sink.err(&warning.render(&file));
    }
    if args.deny_warnings && !compiled.warnings().is_empty() {
        return Err(bad(format!(
            "error: {file}: {} warning(s) denied by --deny-warnings",
            compiled.warnings().len()
        )));
    }
    let explorer = Explorer::new(&compiled).map_err(|e| bad(format!("error: {file}: {e}")))?;
    let count = args.seeds.unwrap_or(explorer.spec().seeds);
    if !(1..=scenario::MAX_EXPLORE_SEEDS).contains(&count) {
        return Err(bad(format!(
            "error: --seeds {count}: 1 to {} seeds",
            scenario::MAX_EXPLORE_SEEDS
        )));
    }
    let seeds = explorer.seeds(count);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = args.jobs.unwrap_or(cores).clamp(1, seeds.len());
    let size = scenario::size::estimate(&compiled).total();
    drop(compiled);
    if size.saturating_mul(jobs as u64) > args.max_memory {
        return Err(Failure {
            message: format!(
                "error: {jobs} runs at once, each of whose worlds could need {}, could need {}, past the limit of {}\n  fix: --jobs {} (or raise --max-memory)",
                scenario::size::bytes(size),
                scenario::size::bytes(size.saturating_mul(jobs as u64)),
                scenario::size::bytes(args.max_memory),
                (args.max_memory / size.max(1)).max(1)
            ),
            code: INCOMPLETE,
        });
    }
    let name = explorer.scenario().name.clone();
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join(&name).join("explore"));
    let cannot_write = |e: std::io::Error| {
        bad(format!(
            "error: cannot write the report to {}: {e}",
            dir.display()
        ))
    };
    let mut staging = Staging::new(&dir).map_err(cannot_write)?;
    let mut command = format!("meshsim explore {}", shell_word(&file));
    if args.seeds.is_some() || explorer.scenario().explore.is_none() {
        command.push_str(&format!(" --seeds {count}"));
    }
    if args.shrink {
        command.push_str(" --shrink");
    }
    if let Some(out) = &args.out {
        command.push_str(&format!(
            " --out {}",
            shell_word(&out.display().to_string())
        ));
    }

    let bar = if args.quiet || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(seeds.len() as u64)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} seeds  {elapsed} (eta {eta})",
        )
        .expect("a valid template"),
    );
    // Wall-clock time is measured here and printed to stdout only.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let results = run_seeds(&explorer, &seeds, jobs, &|| bar.inc(1)).map_err(|e| Failure {
        message: format!("error: {e} (a bug in meshsim's fault generator)"),
        code: INCOMPLETE,
    })?;
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();

    // Each property's first failing seed, written (and shrunk).
    let mut examples = BTreeMap::new();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut unreproduced = Vec::new();
    let shown_dir = dir.display().to_string();
    for property in Property::ALL {
        let Some((result, broken)) = results.iter().find_map(|r| {
            r.broken
                .iter()
                .chain(&r.noted)
                .find(|b| b.property == property)
                .map(|b| (r, b))
        }) else {
            continue;
        };
        let seed = result.seed;
        let faults = explorer.case(seed);
        let (case, bytes) = case_file(&explorer, &shown_dir, seed, &faults, property, "");
        if !reproduces(&explorer, &bytes, seed, property) {
            unreproduced.push(case.file.clone());
        }
        if !files.iter().any(|(f, _)| *f == case.file) {
            files.push((case.file.clone(), bytes));
        }
        let shrunk = if args.shrink {
            let s = shrink::shrink(&explorer, seed, faults.clone(), property, SHRINK_RUNS_MAX);
            let suffix = format!("-{}-shrunk", property.as_str());
            let (case, bytes) =
                case_file(&explorer, &shown_dir, seed, &s.faults, property, &suffix);
            if !reproduces(&explorer, &bytes, seed, property) {
                unreproduced.push(case.file.clone());
            }
            files.push((case.file.clone(), bytes));
            Some(ShrunkCase {
                case,
                runs: s.runs,
                budget_reached: s.budget_reached,
                schedule: s.faults.iter().map(describe).collect(),
            })
        } else {
            None
        };
        examples.insert(
            property,
            Example {
                seed,
                at_s: broken.at.map(secs),
                detail: broken.detail.clone(),
                case,
                shrunk,
            },
        );
    }
    let report = Report::new(&explorer, command, &results, examples);
    files.push(("explore.json".to_string(), report.json()));
    files.push(("explore.md".to_string(), report.markdown().into_bytes()));
    for (name, bytes) in &files {
        staging.write(name, bytes).map_err(cannot_write)?;
    }
    staging.commit(true).map_err(cannot_write)?;
    if args.quiet {
        sink.out(&format!("{}\n", report.headline()));
    } else {
        sink.out(&report.text());
    }
    sink.out(&format!(
        "wrote {} files to {}/  ({} seeds in {wall:.2}s wall clock, {:.1} runs/s on {jobs} thread{})\n",
        files.len(),
        dir.display(),
        seeds.len(),
        seeds.len() as f64 / wall.max(1e-9),
        if jobs == 1 { "" } else { "s" }
    ));
    if !unreproduced.is_empty() {
        sink.err(&format!(
            "error: a written case did not break its property again when run from its file (a bug in meshsim): {}\n",
            unreproduced.join(", ")
        ));
        return Ok(INCOMPLETE);
    }
    Ok(if report.failed > 0 { 1 } else { 0 })
}

/// Runs every seed's case with up to `jobs` threads; results in seed order.
pub fn run_seeds(
    explorer: &Explorer,
    seeds: &[u64],
    jobs: usize,
    done: &(dyn Fn() + Sync),
) -> Result<Vec<SeedResult>, super::ExploreError> {
    let next = AtomicUsize::new(0);
    let threads = jobs.clamp(1, seeds.len().max(1));
    let finished: Vec<Vec<(usize, Result<SeedResult, super::ExploreError>)>> =
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= seeds.len() {
                                break;
                            }
                            let seed = seeds[i];
                            let drawn = explorer.draw(seed);
                            let mut faults = explorer.own_faults().to_vec();
                            faults.extend(drawn.iter().cloned());
                            let result = explorer.run(seed, &faults).map(|o| SeedResult {
                                seed,
                                drawn: drawn.len(),
                                broken: o.broken,
                                noted: o.noted,
                            });
                            mine.push((i, result));
                            done();
                        }
                        mine
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("a run does not panic"))
                .collect()
        });
    let mut slots: Vec<Option<Result<SeedResult, super::ExploreError>>> =
        (0..seeds.len()).map(|_| None).collect();
    for (i, r) in finished.into_iter().flatten() {
        slots[i] = Some(r);
    }
    slots
        .into_iter()
        .map(|r| r.expect("every seed ran"))
        .collect()
}

/// A case as a scenario file: the scenario with `faults` as its timeline,
/// `seed` as its seed, named for the seed, and the requirement that
/// reproduces the property's failure where one can (an invariant, a
/// recovery bound; the SLOs are left out, as explore does not judge them).
fn case_file(
    explorer: &Explorer,
    dir: &str,
    seed: u64,
    faults: &[Fault],
    property: Property,
    suffix: &str,
) -> (CaseFile, Vec<u8>) {
    let own = explorer.own_faults().len();
    let mut scenario = explorer.scenario_with(seed, faults);
    let name = format!("{}-seed-{seed}{suffix}", scenario.name);
    if name.len() <= scenario::validate::MAX_NAME_BYTES {
        scenario.name = name;
    }
    scenario.description = format!(
        "meshsim explore: seed {seed} of `{}` breaks `{}` ({}). Faults {}: the scenario's own faults are the first {own} of them (or fewer, if shrunk), the rest were drawn by explore. {}",
        explorer.scenario().name,
        property.as_str(),
        property.describe(),
        faults.len(),
        scenario.description
    );
    let mut requirements = vec![Requirement {
        name: Some("explore: no invariant violated".to_string()),
        no_invariant_violated: Some(true),
        ..Requirement::default()
    }];
    if property == Property::Recovery {
        requirements.push(Requirement {
            name: Some("explore: recovery within recover_within".to_string()),
            time_to_recover: Some(RecoveryRequirement {
                at_most: explorer.spec().recover_within,
            }),
            ..Requirement::default()
        });
    }
    scenario.requirements = requirements;
    scenario.compare = None;
    let mut bytes = serde_json::to_vec_pretty(&scenario).expect("plain JSON");
    bytes.push(b'\n');
    let file = format!("failures/seed-{seed}{suffix}.json");
    let (count, time) = shrink::measure(faults, explorer.scenario().duration);
    let case = CaseFile {
        replay: format!("meshsim run {}", shell_word(&format!("{dir}/{file}"))),
        file,
        faults: count,
        fault_time_s: (time as f64 / 1e9 * 1e6).round() / 1e6,
    };
    (case, bytes)
}

/// Whether the case in `bytes`, loaded as `meshsim run` loads it, breaks
/// `property` again.
fn reproduces(explorer: &Explorer, bytes: &[u8], seed: u64, property: Property) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    match scenario::parse(text, "case.json") {
        Ok(compiled) => explorer.run_compiled(&compiled, seed).broke(property),
        Err(_) => false,
    }
}

/// A fault in a line of words.
pub fn describe(f: &Fault) -> String {
    let at = f.at.in_seconds();
    let lasts = f
        .lasts
        .map(|l| format!(" for {}", l.in_seconds()))
        .unwrap_or_else(|| " to the end".to_string());
    let json = serde_json::to_value(f).expect("plain JSON");
    let what: Vec<String> = json
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| *k != "at" && *k != "for" && !v.is_null())
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    format!("at {at}{lasts}: {}", what.join(", "))
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
