//! Issue 12, "Reliability": the real `meshsim` binary where the world around
//! it fails — a reader that leaves, a full disk, two runs on one report, a
//! report that fails half-way — and scenarios that would print control
//! characters or freeze virtual time. One regression test per reproducer.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_meshsim");
const FILE: &str = "scenario.json";

/// A fresh, empty directory for one case (tests run on parallel threads).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "meshsim-reliability-{}-{}",
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

    /// A directory with `scenario` written as `scenario.json`.
    fn with(scenario: &str) -> TempDir {
        let dir = TempDir::new();
        std::fs::write(dir.path().join(FILE), scenario).expect("write the scenario");
        dir
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn meshsim(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run the meshsim binary")
}

/// A small scenario: one service, 2 s at 200 requests per second.
fn scenario(name: &str, workload: &str) -> String {
    format!(
        r#"{{
  "name": "{name}",
  "duration": "2s",
  "services": {{"front": {{"service_time": {{"exponential": {{"mean": "1ms"}}}}}}}},
  "workload": {{{workload}, "routes": [{{"service": "front"}}]}}
}}
"#
    )
}

const POISSON: &str = r#""arrivals": {"poisson": {"rate": 200}}"#;

fn small() -> String {
    scenario("small", POISSON)
}

fn no_panic(out: &Output) {
    assert_ne!(out.status.code(), Some(101), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
}

/// Bug: `meshsim run ... | head -1` panicked ("failed printing to stdout:
/// Broken pipe", exit 101). A reader that leaves ends the printing quietly.
#[test]
fn a_closed_stdout_ends_quietly() {
    let dir = TempDir::with(&small());
    for args in [
        &["run", FILE, "--out", "out", "--no-charts"][..],
        &["schema"],
        &["validate", FILE],
        &["--help"],
    ] {
        let mut child = Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start meshsim");
        // Close the read end before anything is printed.
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    // The report was written before anything was printed.
    assert!(dir.path().join("out/summary.json").is_file());
}

/// Bug: `>/dev/full` and `2>/dev/full` panicked. A full stdout is an error
/// (exit 2) with a message on stderr; a full stderr is an error without one.
#[cfg(target_os = "linux")]
#[test]
fn a_full_stdout_or_stderr_is_an_error_not_a_panic() {
    let dir = TempDir::with(&small());
    let full = || Stdio::from(std::fs::File::create("/dev/full").expect("/dev/full"));
    for args in [
        &["run", FILE, "--out", "out", "--no-charts"][..],
        &["schema"],
        &["validate", FILE],
    ] {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .stdout(full())
            .output()
            .unwrap();
        no_panic(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("error: cannot write to stdout: No space left on device"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // Nothing is printed to stderr on success, so a full stderr is harmless…
    let out = Command::new(BIN)
        .args(["validate", FILE])
        .current_dir(dir.path())
        .stderr(full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // …until there is something to say: a bad file still exits with 2.
    std::fs::write(dir.path().join("bad.json"), "{").unwrap();
    for args in [
        &["validate", "bad.json"][..],
        &["run", "bad.json"],
        &["frobnicate"],
    ] {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .stderr(full())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

/// Exit code 3 (was 1): the run stopped at its event budget. The report is
/// written and marked incomplete.
#[test]
fn an_incomplete_run_exits_with_3() {
    let dir = TempDir::with(&small());
    let out = meshsim(
        dir.path(),
        &[
            "run",
            FILE,
            "--event-budget",
            "10",
            "--out",
            "out",
            "--quiet",
        ],
    );
    no_panic(&out);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("the run stopped at its event budget (10 events)"),
        "{}",
        text(&out.stderr)
    );
    let summary = std::fs::read_to_string(dir.path().join("out/summary.json")).unwrap();
    assert!(summary.contains("\"completed\": false"), "{summary}");
}

#[test]
fn help_lists_the_exit_codes() {
    let dir = TempDir::new();
    for args in [&["--help"][..], &["run", "--help"]] {
        let out = meshsim(dir.path(), args);
        assert_eq!(out.status.code(), Some(0));
        let help = text(&out.stdout);
        for line in [
            "  0  success",
            "  2  bad input or usage",
            "  3  the run did not complete",
            "docs/scenarios.md",
        ] {
            assert!(help.contains(line), "{args:?}: {line:?} in {help}");
        }
    }
}

/// Two runs on one `--out` mixed their files. A second writer is refused at
/// once (exit 2) naming the lock; the report of the first stays whole.
#[test]
fn a_second_writer_on_one_report_is_refused() {
    let dir = TempDir::with(&small());
    let out = meshsim(dir.path(), &["run", FILE, "--out", "out", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary = std::fs::read(dir.path().join("out/summary.json")).unwrap();
    // A live process (this test) holds the lock.
    std::fs::write(
        dir.path().join(".out.lock"),
        format!("{}\n", std::process::id()),
    )
    .unwrap();
    let out = meshsim(
        dir.path(),
        &["run", FILE, "--out", "out", "--quiet", "--seed", "9"],
    );
    no_panic(&out);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(".out.lock is held"), "{stderr}");
    assert!(
        stderr.contains(&format!("process {}", std::process::id())),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("out/summary.json")).unwrap(),
        summary
    );
    // Released, the next run replaces the report whole and leaves nothing
    // beside it but the scenario.
    std::fs::remove_file(dir.path().join(".out.lock")).unwrap();
    let out = meshsim(
        dir.path(),
        &["run", FILE, "--out", "out", "--quiet", "--seed", "9"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, vec!["out".to_string(), FILE.to_string()]);
}

/// `meshsim validate` on `contents`: exit code 2 and the message.
fn refused(contents: &str) -> String {
    let dir = TempDir::with(contents);
    let out = meshsim(dir.path(), &["validate", FILE]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    text(&out.stderr)
}

/// Names with control characters or Unicode noncharacters are refused with
/// their place, and a name printed back never carries ESC or BEL.
#[test]
fn control_characters_and_noncharacters_in_names_are_refused_and_escaped() {
    for (bad, code) in [
        ("\\u001b[31m", "U+001B"),
        ("\\u0007", "U+0007"),
        ("\\ufffe", "U+FFFE"),
        ("\\ufdd0", "U+FDD0"),
        ("\\ud83f\\udfff", "U+1FFFF"),
    ] {
        let service = format!("b{bad}");
        let contents = format!(
            r#"{{"name": "x", "duration": "1s",
  "services": {{"{service}": {{"service_time": {{"constant": "1ms"}}}}}},
  "workload": {{"arrivals": {{"poisson": {{"rate": 10}}}}, "routes": [{{"service": "c{bad}", "name": "r{bad}", "policy": "p{bad}"}}]}},
  "policies": {{"q{bad}": {{"timeout": "1s"}}}}
}}"#
        );
        let stderr = refused(&contents);
        for what in ["a service name", "a route name", "a policy name"] {
            assert!(
                stderr.contains(&format!(
                    "{what} must be free of control characters and Unicode noncharacters: {code} at character 2"
                )),
                "{what} {code}: {stderr}"
            );
        }
        assert!(stderr.contains("scenario.json:2:16: services["), "{stderr}");
        assert!(stderr.contains("unknown service `c"), "{stderr}");
        assert!(stderr.contains("unknown policy `p"), "{stderr}");
        for raw in ['\u{1b}', '\u{7}', '\u{fffe}', '\u{fdd0}', '\u{1ffff}'] {
            assert!(!stderr.contains(raw), "{raw:?} printed raw: {stderr:?}");
        }
    }
}

/// Rates whose gap between arrivals rounds to 0 ns, and users who never
/// think, would freeze virtual time: refused, with the reason.
#[test]
fn zero_gaps_between_requests_are_refused() {
    let stderr = refused(&scenario(
        "x",
        r#""arrivals": {"constant": {"rate": 1e12}}"#,
    ));
    assert!(
        stderr.contains("workload.arrivals.constant.rate: a rate of 1000000000000 per second puts arrivals 0.001 ns apart, which rounds to 0 ns"),
        "{stderr}"
    );
    let stderr = refused(&scenario(
        "x",
        r#""arrivals": {"poisson": {"rate": 10}}, "schedule": [{"at": "0s", "rate": 1e300, "for": "1s"}, {"at": "1s", "ramp_to": 2e9, "over": "1s"}]"#,
    ));
    assert!(
        stderr.contains(
            "workload.schedule[0].rate: a rate of 1e300 per second puts arrivals 1e-291 ns apart"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("workload.schedule[1].ramp_to: a rate of 2000000000 per second"),
        "{stderr}"
    );
    for think in [
        r#"{"constant": "0s"}"#,
        r#"{"uniform": {"min": "0s", "max": "1us"}}"#,
    ] {
        let stderr = refused(&scenario(
            "x",
            &format!(r#""users": {{"count": 10, "think_time": {think}}}"#),
        ));
        assert!(
            stderr.contains("workload.users.think_time: the think time's mean is"),
            "{stderr}"
        );
        assert!(stderr.contains("virtual time stand still"), "{stderr}");
    }
    // A 1 GHz constant rate and a 1us think time are still allowed.
    for workload in [
        r#""arrivals": {"constant": {"rate": 1e9}}"#,
        r#""users": {"count": 1, "think_time": {"constant": "1us"}}"#,
    ] {
        let dir = TempDir::with(&scenario("x", workload));
        let out = meshsim(dir.path(), &["validate", FILE]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{workload}: {}",
            text(&out.stderr)
        );
    }
}

/// Numbers print readably (`-1e-300`, not 300 digits), and the scenario name
/// fits a file name with the staging directory's prefix and suffix.
#[test]
fn numbers_print_short_and_names_fit_a_file_name() {
    let stderr = refused(&scenario(
        "x",
        r#""arrivals": {"poisson": {"rate": -1e-300}}"#,
    ));
    assert!(stderr.contains("got -1e-300\n"), "{stderr}");
    let stderr = refused(&scenario(&"n".repeat(236), POISSON));
    assert!(
        stderr.contains("name: the name is 236 bytes long")
            && stderr.contains("a file name holds at most 235"),
        "{stderr}"
    );
    // The longest name runs, and its report is written.
    let dir = TempDir::with(&scenario(&"n".repeat(235), POISSON));
    let out = meshsim(dir.path(), &["run", FILE, "--quiet", "--no-charts"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        dir.path()
            .join("reports")
            .join("n".repeat(235))
            .join("summary.json")
            .is_file()
    );
}

/// Bug: valid files exhausted memory and died by allocation abort. Now the
/// world's size is estimated before it is built: past `--max-memory` the
/// scenario is refused (exit 3) with the estimate and a fix, by `validate`
/// and by `run`, before anything is written.
#[test]
fn a_world_too_large_for_memory_is_refused_before_it_runs() {
    // Four levels of ten parallel calls: 11,111 jobs per request.
    let mut services = String::new();
    for level in 0..4 {
        let calls = vec![format!(r#"{{"service": "s{}"}}"#, level + 1); 10].join(",");
        services.push_str(&format!(
            r#""s{level}": {{"concurrency": 100000, "service_time": {{"constant": "1ms"}},
                "calls": [{{"parallel": [{calls}]}}]}},"#
        ));
    }
    services.push_str(r#""s4": {"concurrency": 100000, "service_time": {"constant": "1ms"}}"#);
    let fan_out = format!(
        r#"{{"name": "fanout", "duration": "1s", "services": {{{services}}},
            "workload": {{"arrivals": {{"poisson": {{"rate": 10}}}}, "routes": [{{"service": "s0"}}]}}}}"#
    );
    // A queue that could hold four billion jobs.
    let queue = scenario("queue", POISSON).replace(
        r#""service_time""#,
        r#""queue_capacity": 4294967295, "service_time""#,
    );
    for (contents, names, fix) in [
        (
            &fan_out,
            "1000000 requests in flight",
            "\"max_requests_in_flight\": ",
        ),
        (&queue, "full queues", "make it smaller"),
    ] {
        let dir = TempDir::with(contents);
        for args in [vec!["validate", FILE], vec!["run", FILE, "--out", "out"]] {
            let out = meshsim(dir.path(), &args);
            no_panic(&out);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
            assert!(stderr.contains("past the limit of 4.0 GiB"), "{stderr}");
            assert!(stderr.contains(names), "{stderr}");
            assert!(stderr.contains(fix), "{stderr}");
            assert!(!dir.path().join("out").exists(), "nothing is written");
        }
        // A higher limit lets it through.
        let out = meshsim(dir.path(), &["validate", FILE, "--max-memory", "1PiB"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("memory at most"));
    }
    // A size that cannot be read is a usage error.
    let dir = TempDir::with(&small());
    let out = meshsim(dir.path(), &["validate", FILE, "--max-memory", "lots"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("a size such as `8GiB`"));
}

/// Bug: a FIFO with no writer made `validate` block for ever. Now a FIFO is
/// opened without waiting: with no writer it reads as empty (a located
/// error, exit 2, at once); with a writer (`<(cat file)`) it is read whole.
#[cfg(target_os = "linux")]
#[test]
fn a_fifo_without_a_writer_does_not_block() {
    let dir = TempDir::new();
    let fifo = dir.path().join("pipe.json");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    let mut child = Command::new(BIN)
        .args(["validate", "pipe.json"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start meshsim");
    // It must end by itself; give it ten seconds before calling it a hang.
    let mut waited = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if waited >= 100 {
            let _ = child.kill();
            panic!("validate blocked on a FIFO without a writer");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("pipe.json"), "{stderr}");
    // With a writer, the scenario is read whole.
    let writer = {
        let fifo = fifo.clone();
        let text = small();
        std::thread::spawn(move || std::fs::write(fifo, text))
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    let out = meshsim(dir.path(), &["validate", "pipe.json"]);
    writer.join().unwrap().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// Bug: a dangling `--out` symbolic link gave a misleading "File exists".
#[cfg(unix)]
#[test]
fn a_dangling_out_link_is_named_as_such() {
    let dir = TempDir::with(&small());
    std::os::unix::fs::symlink(dir.path().join("nowhere"), dir.path().join("out"))
        .expect("a symbolic link");
    let out = meshsim(dir.path(), &["run", FILE, "--out", "out", "--quiet"]);
    no_panic(&out);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("symbolic link to"), "{stderr}");
    assert!(stderr.contains("which does not exist"), "{stderr}");
}

/// Issue 12: a generated scenario of 20,000 routes. Each route keeps its
/// own statistics (about 210 KiB of histograms and counters), so the
/// estimate is past the default 4 GiB: `validate` and `run` refuse it
/// before building the world (exit 3), naming the parts that add up, and
/// write nothing.
#[test]
fn twenty_thousand_routes_are_refused_by_the_memory_estimate_with_its_parts() {
    let routes: Vec<String> = (0..20_000)
        .map(|i| format!(r#"{{"service": "s", "name": "r{i}"}}"#))
        .collect();
    let contents = format!(
        r#"{{"name": "routes", "duration": "10s",
            "services": {{"s": {{"service_time": {{"constant": "1ms"}}}}}},
            "workload": {{"arrivals": {{"poisson": {{"rate": 1000}}}}, "routes": [{}]}}}}"#,
        routes.join(",")
    );
    let dir = TempDir::with(&contents);
    for args in [vec!["validate", FILE], vec!["run", FILE, "--out", "out"]] {
        let out = meshsim(dir.path(), &args);
        no_panic(&out);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        for part in [
            "20000 routes × 210.8 KiB of statistics: 4.0 GiB",
            "40000 statuses over 20000 routes × 26.1 KiB of latency by status",
            "1000000 requests in flight",
            "past the limit of 4.0 GiB",
            "raise the limit with --max-memory",
        ] {
            assert!(stderr.contains(part), "{args:?}: {part}: {stderr}");
        }
        assert!(!dir.path().join("out").exists(), "nothing is written");
    }
}

/// Issue 12: a full disk, end to end. Without root a test cannot mount a
/// small filesystem, but an unprivileged user and mount namespace can
/// (`unshare --user --map-root-user --mount`): a 100 KiB tmpfs holds a
/// report without charts (28 KiB), not one with them (268 KiB). The run that fills it exits
/// with 2 and says so, and the report already there is left as it was
/// (the writer stages beside it and swaps only on success). Where
/// namespaces are not allowed (some CI kernels) the test says it skipped.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_fails_the_run_and_keeps_the_previous_report() {
    let dir = TempDir::with(&small());
    let mount = dir.path().join("disk");
    std::fs::create_dir(&mount).unwrap();
    let script = format!(
        "mount -t tmpfs -o size=100k tmpfs {mount} || exit 97
         cd {mount}
         {bin} run {file} --out out --quiet --no-charts || exit 98
         sha=$(sha256sum out/summary.json)
         {bin} run {file} --out out --quiet --seed 3
         echo \"exit=$?\"
         [ \"$(sha256sum out/summary.json)\" = \"$sha\" ] && echo same-report
         ls -A",
        mount = mount.display(),
        bin = BIN,
        file = dir.path().join(FILE).display(),
    );
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", &script])
        .output();
    let out = match out {
        Ok(out) if out.status.code() != Some(97) && !text(&out.stderr).contains("unshare:") => out,
        _ => {
            eprintln!("skipped: no unprivileged mount namespace (unshare) here");
            return;
        }
    };
    no_panic(&out);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(stdout.contains("exit=2"), "{stdout}{stderr}");
    assert!(
        stderr.contains("error: cannot write the report to out: No space left on device"),
        "{stderr}"
    );
    assert!(stdout.contains("same-report"), "{stdout}");
    // Nothing but the report: no staging directory or lock left behind.
    let listed: Vec<&str> = stdout
        .lines()
        .filter(|l| !l.starts_with("exit=") && !l.starts_with("wrote ") && *l != "same-report")
        .collect();
    assert_eq!(listed, ["out"], "{stdout}");
}
