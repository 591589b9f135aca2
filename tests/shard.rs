//! `meshsim compare --shard I/N` and `meshsim merge`: the shards of a
//! comparison, run with any number of threads each and merged in any
//! order, give byte for byte the files, the table and the exit code of the
//! unsharded compare; merge refuses shards that do not belong together
//! (another comparison, another slicing, a duplicate, a missing slice,
//! another version, an edited or malformed file) with exit code 2, writing
//! nothing; and a bad `--shard` is refused before anything runs. Slicing
//! and the fingerprint's hash are tested beside the code, in
//! src/experiment/shard.rs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_meshsim");

/// A fresh, empty directory for one case (tests run on parallel threads).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "meshsim-shard-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write a scenario");
        path.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn meshsim(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run meshsim")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A light M/M/1 (ρ = 0.1, p99 near 5 ms) over 5 s, with a requirement
/// that the variant five times slower fails on every seed (as in
/// tests/compare.rs): the merge must give its exit code 1 too.
fn light() -> String {
    serde_json::json!({
        "name": "light", "duration": "5s", "seed": 3,
        "services": {"server": {"concurrency": 1, "queue_capacity": 1000,
            "service_time": {"exponential": {"mean": "1ms"}}}},
        "workload": {"arrivals": {"poisson": {"rate": 100}}, "routes": [{"service": "server"}]},
        "requirements": [
            {"name": "fast", "latency": {"route": "server", "quantile": 99, "at_most": "10ms"}}
        ]
    })
    .to_string()
}

const VARY: &str = "services.server.service_time.exponential.mean=\"1ms\",\"5ms\"";

/// `compare light.json` on `seeds` seeds (2 variants), with `extra`.
fn compare(dir: &TempDir, seeds: &str, extra: &[&str]) -> Output {
    let mut args = vec!["compare", "light.json", "--vary", VARY, "--seeds", seeds];
    args.extend_from_slice(extra);
    meshsim(dir.path(), &args)
}

/// Every file under `dir`, by relative path, with its bytes.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).expect("read a directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                out.push((name, std::fs::read(&path).expect("read a file")));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The printed text but its last line (the wall clock, or what was merged).
fn table(o: &Output) -> String {
    let text = stdout(o);
    let mut lines: Vec<&str> = text.lines().collect();
    lines.pop();
    lines.join("\n")
}

/// Shards `1..=n` of `compare light.json --seeds seeds` into `s1`, `s2`...
fn shards(dir: &TempDir, seeds: &str, n: u32) {
    for i in 1..=n {
        let (shard, out) = (format!("{i}/{n}"), format!("s{i}"));
        // Another number of threads on each: the rows must not care.
        let jobs = (1 + i % 2).to_string();
        let o = compare(
            dir,
            seeds,
            &["--shard", &shard, "--out", &out, "--jobs", &jobs],
        );
        assert_eq!(o.status.code(), Some(0), "shard {shard}: {}", stderr(&o));
    }
}

#[test]
fn three_shards_merge_into_the_unsharded_report_byte_for_byte() {
    let dir = TempDir::new();
    dir.write("light.json", &light());
    // 2 variants × 4 seeds = 8 runs: slices of 3, 3 and 2.
    let whole = compare(&dir, "4", &["--out", "whole", "--jobs", "2"]);
    assert_eq!(whole.status.code(), Some(1), "{}", stderr(&whole));
    shards(&dir, "4", 3);
    for (i, runs) in [(1, 3), (2, 3), (3, 2)] {
        let shard = tree(&dir.path().join(format!("s{i}")));
        let names: Vec<&str> = shard.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["manifest.json", "shard.json"],
            "only the shard file"
        );
        let file: serde_json::Value = serde_json::from_slice(&shard[1].1).unwrap();
        assert_eq!(file["rows"].as_array().unwrap().len(), runs, "{file}");
        assert_eq!(file["format_version"], 1);
        assert_eq!(file["meshsim"], env!("CARGO_PKG_VERSION"));
        assert!(
            !file["command"].as_str().unwrap().contains("--shard"),
            "{file}"
        );
    }
    // Any order; a directory or its shard.json.
    let merged = meshsim(
        dir.path(),
        &["merge", "s3", "s1/shard.json", "s2/", "--out", "merged"],
    );
    assert_eq!(merged.status.code(), Some(1), "{}", stderr(&merged));
    assert_eq!(stderr(&merged), stderr(&whole), "the same verdicts");
    assert_eq!(table(&merged), table(&whole), "the same table");
    assert!(
        stdout(&merged).ends_with("(8 runs merged from 3 shards)\n"),
        "{}",
        stdout(&merged)
    );
    let (whole, merged) = (
        tree(&dir.path().join("whole")),
        tree(&dir.path().join("merged")),
    );
    let names = |t: &[(String, Vec<u8>)]| t.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&merged), names(&whole));
    assert!(names(&whole).contains(&"compare.csv".to_string()));
    for ((name, a), (_, b)) in whole.iter().zip(&merged) {
        assert!(
            a == b,
            "{name} differs between the merged and the unsharded"
        );
    }
}

#[test]
fn default_directories_and_the_merge_hint() {
    let dir = TempDir::new();
    dir.write("light.json", &light());
    let o = compare(&dir, "2", &["--shard", "2/2"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 1, "one line: {}", stdout(&o));
    assert!(
        stdout(&o).starts_with(
            "wrote shard 2/2 (2 of 4 runs) to reports/light/compare/shard-2-of-2/shard.json"
        ),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("meshsim merge reports/light/compare/shard-*-of-2/"),
        "{}",
        stdout(&o)
    );
    let o = compare(&dir, "2", &["--shard", "1/2", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = meshsim(
        dir.path(),
        &[
            "merge",
            "reports/light/compare/shard-1-of-2",
            "reports/light/compare/shard-2-of-2",
            "--quiet",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));
    let compare_dir = dir.path().join("reports/light/compare");
    assert!(compare_dir.join("compare.csv").is_file());
    // The shards' directories inside it are kept.
    assert!(compare_dir.join("shard-1-of-2/shard.json").is_file());
}

/// Runs `merge` with `args` (into `out`), expecting exit 2, nothing
/// written, and each of `wanted` in the message.
fn refused(dir: &TempDir, args: &[&str], wanted: &[&str]) {
    let mut all = vec!["merge"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", "out"]);
    let o = meshsim(dir.path(), &all);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    for w in wanted {
        assert!(err.contains(w), "{args:?}: `{w}` not in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        !dir.path().join("out").exists(),
        "{args:?}: wrote something"
    );
}

#[test]
fn merge_refuses_shards_that_do_not_belong_together() {
    let dir = TempDir::new();
    dir.write("light.json", &light());
    shards(&dir, "3", 3);
    let o = compare(&dir, "4", &["--shard", "1/3", "--out", "seeds4"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = compare(&dir, "3", &["--shard", "1/2", "--out", "half"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(dir.path().join("s2/shard.json")).unwrap();
    let edit = |name: &str, from: &str, to: &str| {
        assert!(text.contains(from), "{from} in {text}");
        std::fs::create_dir_all(dir.path().join(name)).unwrap();
        std::fs::write(
            dir.path().join(name).join("shard.json"),
            text.replacen(from, to, 1),
        )
        .unwrap();
    };
    let version = format!("\"meshsim\": \"{}\"", env!("CARGO_PKG_VERSION"));
    edit("old", &version, "\"meshsim\": \"0.0.1\"");
    edit("format", "\"format_version\": 1", "\"format_version\": 9");
    edit("broken", "\"rows\": [", "\"rows\": [,");
    edit("rows", "\"run\": 1,", "\"run\": 2,");
    edit(
        "bits",
        "\"values\": [\n        \"",
        "\"values\": [\n        \"x",
    );

    refused(
        &dir,
        &["s1", "seeds4", "s3"],
        &[
            "seeds4/shard.json is of another comparison than s1/shard.json (fingerprint ",
            "the scenario, its variants or its seeds differ",
        ],
    );
    refused(
        &dir,
        &["s1", "s2", "half"],
        &["s1/shard.json is sliced in 3, half/shard.json in 2"],
    );
    refused(
        &dir,
        &["s1", "s2", "s3", "s1/shard.json"],
        &["shard 1/3 given twice (s1/, s1/)"],
    );
    refused(
        &dir,
        &["s1", "s3"],
        &["shard 2/3 is missing (given: 1/3, 3/3)"],
    );
    refused(
        &dir,
        &["s1", "old", "s3"],
        &["old/shard.json was written by meshsim 0.0.1, s1/shard.json by "],
    );
    refused(
        &dir,
        &["s1", "format", "s3"],
        &[
            "format/shard.json: shard format version 9",
            "reads version 1",
        ],
    );
    refused(
        &dir,
        &["s1", "broken", "s3"],
        &[
            "broken/shard.json: a malformed shard file: ",
            " line ",
            " column ",
        ],
    );
    refused(
        &dir,
        &["s1", "rows", "s3"],
        &["rows/shard.json: its rows are not exactly the runs of shard 2/3"],
    );
    refused(
        &dir,
        &["s1", "bits", "s3"],
        &["bits/shard.json: run 1: the value `x", "not 16 hex digits"],
    );
    refused(
        &dir,
        &["s1", "nowhere", "s3"],
        &["nowhere: cannot read the shard file"],
    );
    refused(&dir, &["light.json"], &["light.json: not a shard file"]);
    // The same comparison, typed another way: the report could name only one.
    let o = meshsim(
        dir.path(),
        &[
            "compare",
            "./light.json",
            "--vary",
            VARY,
            "--seeds",
            "3",
            "--shard",
            "2/3",
            "--out",
            "typed",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    refused(
        &dir,
        &["s1", "typed", "s3"],
        &[
            "typed/shard.json was made by `meshsim compare ./light.json",
            "run every shard with the same one",
        ],
    );
    // The good ones still merge.
    let o = meshsim(dir.path(), &["merge", "s1", "s2", "s3", "--out", "out"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn a_bad_shard_is_refused_before_anything_runs() {
    let dir = TempDir::new();
    dir.write("light.json", &light());
    for (shard, wanted) in [
        ("0/3", "$((JOB_COMPLETION_INDEX + 1))/3"),
        ("4/3", "slice 4 of 3 does not exist"),
        ("0/0", "at least one slice"),
        ("x/3", "`x` is not a whole number"),
        ("3", "--shard takes I/N"),
        // 2 variants × 2 seeds: 4 runs.
        (
            "5/5",
            "5 slices of 4 runs would leave some empty; use at most 4 slices",
        ),
    ] {
        let o = compare(&dir, "2", &["--shard", shard, "--out", "out"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{shard}: {err}");
        assert!(err.contains(wanted), "{shard}: `{wanted}` not in {err}");
        assert!(!dir.path().join("out").exists(), "{shard}");
    }
}

#[test]
fn a_shard_with_a_run_that_did_not_complete_exits_3_and_so_does_the_merge() {
    let dir = TempDir::new();
    let mut value: serde_json::Value = serde_json::from_str(&light()).unwrap();
    value["event_budget"] = serde_json::json!(200);
    dir.write("light.json", &value.to_string());
    let whole = compare(&dir, "2", &["--out", "whole"]);
    assert_eq!(whole.status.code(), Some(3), "{}", stderr(&whole));
    for i in 1..=2 {
        let o = compare(
            &dir,
            "2",
            &["--shard", &format!("{i}/2"), "--out", &format!("s{i}")],
        );
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("of this shard did not complete"),
            "{}",
            stderr(&o)
        );
    }
    let merged = meshsim(dir.path(), &["merge", "s1", "s2", "--out", "merged"]);
    assert_eq!(merged.status.code(), Some(3), "{}", stderr(&merged));
    assert_eq!(stderr(&merged), stderr(&whole));
    assert_eq!(
        tree(&dir.path().join("merged")),
        tree(&dir.path().join("whole"))
    );
}
