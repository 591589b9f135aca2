//! The `meshsim merge` command: the shard.json files of a comparison run as
//! `compare --shard I/N` on many machines, checked to belong together and
//! made into the report the unsharded `compare` writes (the same files,
//! byte for byte, the same table and the same exit code).
//!
//! Everything is checked before anything is written: every file read and
//! of this meshsim's shard format, all written by one meshsim version, of
//! one fingerprint (the same scenario, variants and seeds) and one N, every
//! slice 1..=N there once, each holding exactly its runs. A refusal exits
//! with 2 and says which file and what differs.

use std::path::{Path, PathBuf};

use super::command::{Failure, Sink, bad, report};
use super::runs::{Results, RunRow};
use super::shard::Shard;
use super::shard_file::{self, Header, ShardFile};
use super::{Comparison, metrics};

/// The arguments of `meshsim merge`.
pub struct Args {
    /// The shards' directories (or their shard.json files).
    pub shards: Vec<PathBuf>,
    /// The report directory (by default `reports/<scenario name>/compare/`).
    pub out: Option<PathBuf>,
    /// No table: only the line of what was written.
    pub quiet: bool,
}

/// Runs `meshsim merge`; the exit code.
pub fn merge(args: Args, sink: &mut dyn Sink) -> u8 {
    match try_merge(&args, sink) {
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

/// One shard read: where from, and its content.
struct Read {
    path: PathBuf,
    file: ShardFile,
    shard: Shard,
}

/// The shard file named by `given`: itself, or the shard.json in it.
fn file_of(given: &Path) -> PathBuf {
    if given.is_dir() {
        given.join(shard_file::FILE)
    } else {
        given.to_path_buf()
    }
}

/// Reads `path` far enough to know its format and versions.
fn header(path: &Path) -> Result<(String, Header), Failure> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(format!("error: {shown}: cannot read the shard file: {e}")))?;
    let header: Header = serde_json::from_str(&text)
        .map_err(|e| bad(format!("error: {shown}: a malformed shard file: {e}")))?;
    if header.format.as_deref() != Some(shard_file::FORMAT) {
        return Err(bad(format!(
            "error: {shown}: not a shard file (no `\"format\": \"{}\"`); shards are the shard.json files `meshsim compare --shard I/N` writes",
            shard_file::FORMAT
        )));
    }
    if header.format_version != Some(shard_file::FORMAT_VERSION) {
        return Err(bad(format!(
            "error: {shown}: shard format version {} (written by meshsim {}), but this meshsim {} reads version {}: merge with the meshsim that wrote the shards",
            header
                .format_version
                .map_or("(none)".to_string(), |v| v.to_string()),
            header.meshsim.as_deref().unwrap_or("(unknown)"),
            env!("CARGO_PKG_VERSION"),
            shard_file::FORMAT_VERSION
        )));
    }
    Ok((text, header))
}

/// Every shard read and checked against the first; in slice order.
fn read_all(given: &[PathBuf]) -> Result<Vec<Read>, Failure> {
    if given.is_empty() {
        return Err(bad(
            "error: name the shards' directories: meshsim merge DIR1 DIR2 ...".to_string(),
        ));
    }
    let paths: Vec<PathBuf> = given.iter().map(|g| file_of(g)).collect();
    let mut texts = Vec::new();
    for path in &paths {
        let (text, header) = header(path)?;
        texts.push((text, header.meshsim.unwrap_or_default()));
    }
    let (first, version) = (&paths[0], &texts[0].1);
    for (path, (_, v)) in paths.iter().zip(&texts).skip(1) {
        if v != version {
            return Err(bad(format!(
                "error: {} was written by meshsim {v}, {} by {version}: merge shards of one meshsim version",
                path.display(),
                first.display()
            )));
        }
    }
    let mut read = Vec::new();
    for (path, (text, _)) in paths.iter().zip(&texts) {
        let file: ShardFile = serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "error: {}: a malformed shard file: {e}",
                path.display()
            ))
        })?;
        let shard = file
            .shard()
            .map_err(|e| bad(format!("error: {}: {e}", path.display())))?;
        read.push(Read {
            path: path.clone(),
            file,
            shard,
        });
    }
    let one = &read[0];
    for r in &read[1..] {
        if r.file.fingerprint != one.file.fingerprint {
            return Err(bad(format!(
                "error: {} is of another comparison than {} (fingerprint {} against {}: the scenario, its variants or its seeds differ)",
                r.path.display(),
                one.path.display(),
                r.file.fingerprint,
                one.file.fingerprint
            )));
        }
        if r.shard.count != one.shard.count {
            return Err(bad(format!(
                "error: {} is sliced in {}, {} in {}: merge the shards of one slicing",
                one.path.display(),
                one.shard.count,
                r.path.display(),
                r.shard.count
            )));
        }
        let same = |a: &ShardFile, b: &ShardFile| {
            (
                &a.scenario,
                &a.variants,
                &a.seeds,
                &a.requirements,
                a.total_runs,
            ) == (
                &b.scenario,
                &b.variants,
                &b.seeds,
                &b.requirements,
                b.total_runs,
            )
        };
        if !same(&r.file, &one.file) {
            return Err(bad(format!(
                "error: {} has the fingerprint of {} but not its scenario, variants, seeds or requirements: was it edited?",
                r.path.display(),
                one.path.display()
            )));
        }
        if r.file.command != one.file.command {
            return Err(bad(format!(
                "error: {} was made by `{}`, {} by `{}`: the report names one command; run every shard with the same one",
                r.path.display(),
                r.file.command,
                one.path.display(),
                one.file.command
            )));
        }
    }
    let n = one.shard.count;
    let mut by_slice: Vec<Vec<&Read>> = vec![Vec::new(); n as usize];
    for r in &read {
        by_slice[(r.shard.index - 1) as usize].push(r);
    }
    for (i, shards) in by_slice.iter().enumerate() {
        if shards.len() > 1 {
            let dirs: Vec<String> = shards.iter().map(|r| shown_dir(&r.path)).collect();
            return Err(bad(format!(
                "error: shard {}/{n} given twice ({})",
                i + 1,
                dirs.join(", ")
            )));
        }
    }
    let missing: Vec<String> = (1..=n)
        .filter(|i| by_slice[(i - 1) as usize].is_empty())
        .map(|i| format!("{i}/{n}"))
        .collect();
    if !missing.is_empty() {
        let mut given: Vec<&Read> = read.iter().collect();
        given.sort_by_key(|r| r.shard.index);
        let given: Vec<String> = given.iter().map(|r| r.shard.to_string()).collect();
        return Err(bad(format!(
            "error: shard{} {} {} missing (given: {})",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            if missing.len() == 1 { "is" } else { "are" },
            given.join(", ")
        )));
    }
    read.sort_by_key(|r| r.shard.index);
    Ok(read)
}

/// The directory of a shard file, as given (`a/` for `a/shard.json`).
fn shown_dir(path: &Path) -> String {
    match path.parent() {
        Some(p) if path.file_name() == Some(std::ffi::OsStr::new(shard_file::FILE)) => {
            format!("{}/", p.display())
        }
        _ => path.display().to_string(),
    }
}

/// The whole comparison's rows from the shards, each checked to hold
/// exactly its slice.
fn results(read: &[Read]) -> Result<Results, Failure> {
    let one = &read[0].file;
    let (variants, k, total) = (one.variants.len(), one.seeds.len(), one.total_runs);
    let whole = |what: String| bad(format!("error: {}: {what}", read[0].path.display()));
    if k < 2 || k > crate::scenario::MAX_SEEDS as usize {
        return Err(whole(format!(
            "{k} seeds: a comparison has 2 to {}",
            crate::scenario::MAX_SEEDS
        )));
    }
    if variants == 0 || variants * k != total || one.requirements.len() != variants {
        return Err(whole(format!(
            "{variants} variants × {k} seeds with {} requirement lists is not its {total} runs",
            one.requirements.len()
        )));
    }
    if one.metrics != shard_file::metric_names() {
        return Err(whole(format!(
            "its metrics ({}) are not this meshsim's ({})",
            one.metrics.join(", "),
            shard_file::metric_names().join(", ")
        )));
    }
    read[0]
        .shard
        .check(total)
        .map_err(|e| whole(format!("shard.json: {e}")))?;
    let mut slots: Vec<Option<RunRow>> = vec![None; total];
    for r in read {
        let runs: Vec<usize> = r.file.rows.iter().map(|row| row.run).collect();
        if runs != r.shard.runs(total) {
            return Err(bad(format!(
                "error: {}: its rows are not exactly the runs of shard {} of {total} runs (every {}th run from run {}); was it edited?",
                r.path.display(),
                r.shard,
                r.shard.count,
                r.shard.index - 1
            )));
        }
        for row in &r.file.rows {
            let decoded = row
                .decode()
                .map_err(|e| bad(format!("error: {}: {e}", r.path.display())))?;
            if decoded.values.len() != metrics::METRICS.len() {
                return Err(bad(format!(
                    "error: {}: run {} has {} values for {} metrics",
                    r.path.display(),
                    row.run,
                    decoded.values.len(),
                    metrics::METRICS.len()
                )));
            }
            slots[row.run] = Some(decoded);
        }
    }
    let rows = slots.into_iter().map(|r| r.expect("every slice checked"));
    Ok(Results::from_rows(rows, variants, k))
}

fn try_merge(args: &Args, sink: &mut dyn Sink) -> Result<u8, Failure> {
    let read = read_all(&args.shards)?;
    let results = results(&read)?;
    let n = read.len();
    let file = read.into_iter().next().expect("one shard at least").file;
    let plain = {
        let mut parts = Path::new(&file.scenario).components();
        matches!(parts.next(), Some(std::path::Component::Normal(_))) && parts.next().is_none()
    };
    let dir = match &args.out {
        Some(out) => out.clone(),
        None if plain => PathBuf::from("reports")
            .join(&file.scenario)
            .join("compare"),
        None => {
            return Err(bad(format!(
                "error: the scenario's name `{}` cannot name a directory: give --out DIR",
                file.scenario
            )));
        }
    };
    let staging = crate::report::output::Staging::new(&dir).map_err(|e| {
        bad(format!(
            "error: cannot write the comparison to {}: {e}",
            dir.display()
        ))
    })?;
    let total = file.total_runs;
    let comparison = Comparison::new(
        file.scenario,
        file.variants,
        file.seeds,
        results,
        file.command,
    )
    .with_requirements(file.requirements);
    let detail = format!(
        "{total} runs merged from {n} shard{}",
        if n == 1 { "" } else { "s" }
    );
    report(&comparison, staging, &dir, args.quiet, &detail, sink)
}
