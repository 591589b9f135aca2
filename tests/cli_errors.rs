//! What users see when a scenario file is wrong: the real `meshsim` binary on
//! deliberately broken files. Every case must exit with code 2, never panic,
//! and name the file, the line and column, the JSON path and what was
//! expected; `meshsim run` on a broken file must write nothing at all.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_meshsim");

/// The name every broken file is written under, so that fragments such as
/// `"scenario.json:5:16: services.front.instances: ..."` check the file name,
/// the position and the path in one go.
const FILE: &str = "scenario.json";

/// A fresh, empty directory for one case (tests run on parallel threads).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "meshsim-cli-errors-{}-{}",
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

    /// The names of everything in the directory, sorted.
    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .expect("list the temporary directory")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn meshsim(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run the meshsim binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts that `meshsim validate` and `meshsim run` both reject `contents`
/// (written as `scenario.json`) with exit code 2, without a panic, with a
/// message naming the file that contains every fragment, and that `run`
/// writes nothing. Returns the message.
fn check_bytes(contents: &[u8], fragments: &[&str]) -> String {
    let dir = TempDir::new();
    std::fs::write(dir.path().join(FILE), contents).expect("write the scenario");
    let validate = meshsim(dir.path(), &["validate", FILE]);
    let stderr = text(&validate.stderr);
    assert_eq!(
        validate.status.code(),
        Some(2),
        "`meshsim validate` should exit with 2\nstderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "a panic:\n{stderr}");
    assert!(
        validate.stdout.is_empty(),
        "nothing on stdout: {}",
        text(&validate.stdout)
    );
    assert!(
        stderr.starts_with(&format!("error: {FILE}: ")),
        "the message names the file:\n{stderr}"
    );
    for fragment in fragments {
        assert!(
            stderr.contains(fragment),
            "expected {fragment:?} in:\n{stderr}"
        );
    }
    // One line per problem, each naming the file, and as many as announced.
    let problems: Vec<&str> = stderr.lines().skip(1).collect();
    assert!(!problems.is_empty(), "no problem listed:\n{stderr}");
    for line in &problems {
        assert!(
            line.starts_with(&format!("  {FILE}")),
            "{line:?} in:\n{stderr}"
        );
    }
    assert_eq!(announced(&stderr), problems.len(), "{stderr}");

    // `run` reports the same problems and writes nothing, neither into the
    // default `reports/<name>/` nor into `--out`.
    let run = meshsim(dir.path(), &["run", FILE]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run.stderr));
    assert_eq!(text(&run.stderr), stderr, "`run` and `validate` agree");
    let run = meshsim(dir.path(), &["run", FILE, "--out", "out"]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run.stderr));
    assert_eq!(
        dir.entries(),
        vec![FILE.to_string()],
        "run left files behind"
    );
    stderr
}

fn check(contents: &str, fragments: &[&str]) -> String {
    check_bytes(contents.as_bytes(), fragments)
}

/// The count in the first line, "<file>: N problem(s) found".
fn announced(stderr: &str) -> usize {
    let first = stderr.lines().next().unwrap_or_default();
    let words: Vec<&str> = first.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| w.starts_with("problem"))
        .unwrap_or_else(|| panic!("no problem count in {first:?}"));
    words[at - 1].parse().expect("a count")
}

const FRONT: &str = r#"    "front": {"service_time": {"constant": "1ms"}, "calls": [{"service": "back", "timeout": "100ms"}]},"#;
const BACK: &str =
    r#"    "back": {"instances": 2, "service_time": {"exponential": {"mean": "2ms"}}}"#;
const WORKLOAD: &str =
    r#"  "workload": {"arrivals": {"poisson": {"rate": 10}}, "routes": [{"service": "front"}]}"#;

/// A small valid scenario, laid out so that positions are easy to check:
/// line 5 is the `front` service, line 6 `back`, line 8 the workload and,
/// if there are faults, line 10 the first fault, line 11 the second...
/// Policies come last, one per line: without faults, line 10 is the first
/// policy, line 11 the second...
struct Doc<'a> {
    front: &'a str,
    back: &'a str,
    workload: &'a str,
    faults: &'a [&'a str],
    /// Members of `policies`, such as `"    \"p\": {\"timeout\": \"1s\"}"`.
    policies: &'a [&'a str],
}

const DOC: Doc<'static> = Doc {
    front: FRONT,
    back: BACK,
    workload: WORKLOAD,
    faults: &[],
    policies: &[],
};

impl Doc<'_> {
    fn text(&self) -> String {
        let faults = if self.faults.is_empty() {
            String::new()
        } else {
            format!(",\n  \"faults\": [\n{}\n  ]", self.faults.join(",\n"))
        };
        let policies = if self.policies.is_empty() {
            String::new()
        } else {
            format!(",\n  \"policies\": {{\n{}\n  }}", self.policies.join(",\n"))
        };
        format!(
            "{{\n  \"name\": \"broken\",\n  \"duration\": \"10s\",\n  \"services\": {{\n{}\n{}\n  }},\n{}{faults}{policies}\n}}\n",
            self.front, self.back, self.workload
        )
    }
}

#[test]
fn the_template_is_valid() {
    let dir = TempDir::new();
    std::fs::write(dir.path().join(FILE), DOC.text()).unwrap();
    let out = meshsim(dir.path(), &["validate", FILE]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let faults = Doc {
        faults: &[
            r#"    {"at": "1s", "for": "2s", "crash": {"service": "back", "instance": 1}}"#,
            r#"    {"at": "2s", "errors": {"service": "front", "rate": 0.5}}"#,
        ],
        ..DOC
    };
    std::fs::write(dir.path().join(FILE), faults.text()).unwrap();
    let out = meshsim(dir.path(), &["validate", FILE]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let policies = Doc {
        front: FRONT_WITH_POLICY,
        policies: &[STANDARD, FAST],
        ..DOC
    };
    std::fs::write(dir.path().join(FILE), policies.text()).unwrap();
    let out = meshsim(dir.path(), &["validate", FILE]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn malformed_json_gives_line_and_column() {
    // The second comma on line 3 is column 21.
    check(
        "{\n  \"name\": \"broken\",\n  \"duration\": \"10s\",,\n}\n",
        &["scenario.json:3:21: (top level): malformed JSON: key must be a string"],
    );
    // An unclosed object: the end of the file.
    check(
        "{\n  \"name\": \"broken\",\n",
        &["scenario.json:3:1: (top level): malformed JSON: EOF while parsing a value"],
    );
    // Columns count characters, not bytes.
    check(
        "{\"name\": \"d\u{e9}j\u{e0}-vu\" \"duration\": \"1s\"}",
        &["scenario.json:1:20: (top level): malformed JSON: expected `,` or `}`"],
    );
    check("", &["scenario.json:1:1: (top level): malformed JSON: EOF"]);
    check(
        "[1, 2]",
        &["scenario.json:1:1: (top level): a scenario must be a JSON object"],
    );
}

#[test]
fn non_utf8_files_are_refused() {
    check_bytes(
        b"{\"name\": \"caf\xe9\"}",
        &["scenario.json: (top level): the file is not UTF-8 text (invalid byte at offset 13)"],
    );
}

#[test]
fn a_wrong_type_names_what_was_expected() {
    check(
        &Doc {
            back: r#"    "back": {"instances": "two", "service_time": {"exponential": {"mean": "2ms"}}}"#,
            ..DOC
        }
        .text(),
        &[
            r#"scenario.json:6:14: services.back.instances: invalid type: string "two", expected u32"#,
        ],
    );
    check(
        &Doc {
            workload: r#"  "workload": {"arrivals": {"poisson": {"rate": "fast"}}, "routes": [{"service": "front"}]}"#,
            ..DOC
        }
        .text(),
        &[
            r#"scenario.json:8:41: workload.arrivals.poisson.rate: invalid type: string "fast", expected f64"#,
        ],
    );
}

#[test]
fn unknown_fields_and_variants_get_a_suggestion() {
    check(
        &Doc {
            back: r#"    "back": {"concurency": 4, "service_time": {"exponential": {"mean": "2ms"}}}"#,
            ..DOC
        }
        .text(),
        &[
            "scenario.json:6:14: services.back.concurency: unknown field `concurency`, expected one of",
            "did you mean `concurrency`?",
        ],
    );
    check(
        &Doc {
            back: r#"    "back": {"service_time": {"exponental": {"mean": "2ms"}}}"#,
            ..DOC
        }
        .text(),
        &[
            "scenario.json:6:14: services.back.service_time: unknown variant `exponental`",
            "did you mean `exponential`?",
        ],
    );
    check(
        &DOC.text().replace("\"duration\"", "\"duraton\""),
        &[
            "scenario.json:3:3: duraton: unknown field `duraton`; did you mean `duration`?",
            "scenario.json:1:1: (top level): missing field `duration`",
        ],
    );
}

#[test]
fn unknown_services_get_a_suggestion() {
    check(
        &DOC.text()
            .replace(r#"[{"service": "back""#, r#"[{"service": "bakc""#),
        &[
            "scenario.json:5:63: services.front.calls[0].service: unknown service `bakc`; did you mean `back`? (services: back, front)",
        ],
    );
    check(
        &Doc {
            workload: r#"  "workload": {"arrivals": {"poisson": {"rate": 10}}, "routes": [{"service": "frnt"}]}"#,
            ..DOC
        }
        .text(),
        &["scenario.json:8:67: workload.routes[0].service: unknown service `frnt`; did you mean `front`?"],
    );
}

#[test]
fn probabilities_must_be_between_0_and_1() {
    check(
        &Doc {
            front: r#"    "front": {"service_time": {"constant": "1ms"}, "error_rate": -0.1, "calls": [{"service": "back", "probability": 1.5}]},"#,
            ..DOC
        }
        .text(),
        &[
            "scenario.json:5:52: services.front.error_rate: a probability must be between 0 and 1, got -0.1",
            "scenario.json:5:102: services.front.calls[0].probability: a probability must be between 0 and 1, got 1.5",
        ],
    );
    check(
        &Doc {
            faults: &[r#"    {"at": "1s", "loss": {"rate": 2}}"#],
            ..DOC
        }
        .text(),
        &["scenario.json:10:27: faults[0].loss.rate: a probability must be between 0 and 1, got 2"],
    );
}

#[test]
fn rates_must_be_positive() {
    for (rate, shown) in [("0", "0"), ("-5", "-5"), ("1e400", "")] {
        let workload = WORKLOAD.replace(r#""rate": 10"#, &format!(r#""rate": {rate}"#));
        let doc = Doc {
            workload: &workload,
            ..DOC
        }
        .text();
        if shown.is_empty() {
            // Too large for a float: serde_json refuses it as it parses.
            check(
                &doc,
                &["scenario.json:8:", "malformed JSON: number out of range"],
            );
        } else {
            check(
                &doc,
                &[&format!(
                    "scenario.json:8:41: workload.arrivals.poisson.rate: a rate must be a positive number per second, got {shown}"
                )],
            );
        }
    }
    check(
        &Doc {
            workload: r#"  "workload": {"arrivals": {"constant": {"rate": 10}}, "schedule": [{"at": "1s", "rate": -1}], "routes": [{"service": "front"}]}"#,
            ..DOC
        }
        .text(),
        &["scenario.json:8:82: workload.schedule[0].rate: a rate must be zero or more per second, got -1"],
    );
}

#[test]
fn capacities_and_durations_must_be_above_zero() {
    check(
        &Doc {
            back: r#"    "back": {"instances": 0, "concurrency": 0, "queue_capacity": 0, "service_time": {"exponential": {"mean": "0"}}}"#,
            ..DOC
        }
        .text(),
        &[
            "scenario.json:6:14: services.back.instances: instances must be between 1 and 100000",
            "scenario.json:6:30: services.back.concurrency: concurrency must be at least 1 worker",
            "scenario.json:6:48: services.back.queue_capacity: queue_capacity must be at least 1",
            "scenario.json:6:102: services.back.service_time.exponential.mean: must be longer than zero",
        ],
    );
    check(
        &Doc {
            front: &FRONT.replace("100ms", "0"),
            ..DOC
        }
        .text()
        .replace(r#""10s""#, r#""0""#),
        &[
            "scenario.json:3:3: duration: must be longer than zero",
            "scenario.json:5:82: services.front.calls[0].timeout: must be longer than zero",
        ],
    );
    check(
        &Doc {
            back: r#"    "back": {"instances": -2, "service_time": {"exponential": {"mean": "2ms"}}}"#,
            ..DOC
        }
        .text(),
        &["scenario.json:6:14: services.back.instances: invalid value: integer `-2`, expected u32"],
    );
}

#[test]
fn bad_duration_strings_say_why() {
    check(
        &DOC.text().replace(r#""10s""#, r#""5 parsecs""#),
        &[
            r#"scenario.json:3:3: duration: invalid duration "5 parsecs": unknown unit: use h, m, s, ms, us or ns"#,
        ],
    );
    check(
        &Doc {
            front: &FRONT.replace("100ms", "1.5"),
            ..DOC
        }
        .text(),
        &[
            r#"scenario.json:5:82: services.front.calls[0].timeout: invalid duration "1.5": a number needs a unit"#,
        ],
    );
    check(
        &DOC.text().replace(r#""10s""#, "10"),
        &[
            r#"scenario.json:3:3: duration: invalid type: integer `10`, expected a duration string such as "250ms""#,
        ],
    );
}

#[test]
fn call_graph_cycles_are_refused() {
    check(
        &Doc {
            back: r#"    "back": {"service_time": {"constant": "1ms"}, "calls": [{"service": "front"}]}"#,
            ..DOC
        }
        .text(),
        &[
            "scenario.json:6:51: services.back.calls: the call graph has a cycle: back -> front -> back",
        ],
    );
    // A service calling itself, from inside a parallel group.
    check(
        &Doc {
            back: r#"    "back": {"service_time": {"constant": "1ms"}, "calls": [{"parallel": [{"service": "back"}]}]}"#,
            ..DOC
        }
        .text(),
        &["services.back.calls: the call graph has a cycle: back -> back"],
    );
}

#[test]
fn faults_are_checked() {
    check(
        &Doc {
            faults: &[
                r#"    {"at": "1s", "crash": {"service": "back", "instance": 2}}"#,
                r#"    {"at": "1s", "crash": {"service": "back"}, "errors": {"service": "back", "rate": 0.5}}"#,
                r#"    {"at": "1s", "for": "1s"}"#,
                r#"    {"at": "20s", "slowdown": {"service": "back", "factor": 0}}"#,
            ],
            ..DOC
        }
        .text(),
        &[
            "scenario.json:10:47: faults[0].crash.instance: `back` has 2 instance(s), numbered from 0; there is no instance 2",
            "scenario.json:11:5: faults[1]: a fault has exactly one kind, this one has crash and errors: split it into several faults",
            "scenario.json:12:5: faults[2]: a fault needs exactly one kind: crash, latency, errors, partition, slowdown, loss",
            "scenario.json:13:6: faults[3].at: starts at 20s but the run ends at 10s",
            "scenario.json:13:51: faults[3].slowdown.factor: the factor must be a positive number, got 0",
        ],
    );
    check(
        &Doc {
            faults: &[
                r#"    {"at": "1s", "partition": {"between": [["front"], ["back", "frontt"]]}}"#,
            ],
            ..DOC
        }
        .text(),
        &[
            "scenario.json:10:64: faults[0].partition.between[1][1]: unknown service `frontt`; did you mean `front`?",
        ],
    );
}

/// Each mistake in `workload.clients`, in the one-line workload of line 8.
#[test]
fn clients_are_checked() {
    const ROUTES: &str = r#""routes": [{"service": "front"}]"#;
    const POISSON: &str = r#""arrivals": {"poisson": {"rate": 5}}"#;
    const USERS: &str = r#""users": {"count": 2, "think_time": {"constant": "1s"}}"#;
    let with = |clients: &str| format!(r#"  "workload": {{{ROUTES}, "clients": [{clients}]}}"#);
    let cases = [
        (
            format!(
                r#"  "workload": {{"arrivals": {{"poisson": {{"rate": 10}}}}, {ROUTES}, "clients": [{{"name": "web", {POISSON}}}]}}"#
            ),
            "scenario.json:8:16: workload.arrivals: with `clients`, each client has its own `arrivals`, `schedule` or `users`: move `arrivals` into a client",
        ),
        (
            with(&format!(
                r#"{{"name": "web", {POISSON}, "routes": {{"frnot": 1}}}}"#
            )),
            "scenario.json:8:127: workload.clients[0].routes.frnot: unknown route `frnot`; did you mean `front`? (routes: front)",
        ),
        (
            with(&format!(
                r#"{{"name": "web", {USERS}}}, {{"name": "web", {POISSON}}}"#
            )),
            "scenario.json:8:137: workload.clients[1].name: a second client named `web`: client names must be unique",
        ),
        (
            with(r#"{"name": "web"}"#),
            "scenario.json:8:62: workload.clients[0]: a client needs `arrivals` (open loop) or `users` (closed loop)",
        ),
        (
            with(&format!(r#"{{"name": "web", {POISSON}, {USERS}}}"#)),
            "scenario.json:8:62: workload.clients[0]: choose one for the client: open-loop `arrivals` or closed-loop `users`, not both",
        ),
        (
            with(&format!(
                r#"{{"name": "web", {POISSON}, "routes": {{"front": 0}}}}"#
            )),
            "scenario.json:8:116: workload.clients[0].routes: no route has a positive weight: give at least one route a weight above zero (a route left out has none)",
        ),
        (
            with(&format!(
                r#"{{"name": "web", {POISSON}, "routes": {{"front": -2}}}}"#
            )),
            "scenario.json:8:127: workload.clients[0].routes.front: a weight must be zero or more, got -2",
        ),
        (
            with(""),
            "scenario.json:8:50: workload.clients: `clients` needs at least one client",
        ),
        (
            with(&format!(
                r#"{{"name": "web", {POISSON}, "credentail": "user"}}"#
            )),
            "scenario.json:8:116: workload.clients[0].credentail: unknown field `credentail`, expected one of `name`, `arrivals`, `schedule`, `users`, `routes`, `credential`, `token`, `token_expires_at`, `zone`; did you mean `credential`?",
        ),
    ];
    for (workload, expected) in &cases {
        let stderr = check(&Doc { workload, ..DOC }.text(), &[expected]);
        assert_eq!(announced(&stderr), 1, "{stderr}");
    }
    // And a valid one is valid.
    let dir = TempDir::new();
    let valid = with(&format!(
        r#"{{"name": "web", {POISSON}, "credential": "user"}}, {{"name": "bots", {USERS}, "routes": {{"front": 1}}}}"#
    ));
    std::fs::write(
        dir.path().join(FILE),
        Doc {
            workload: &valid,
            ..DOC
        }
        .text(),
    )
    .unwrap();
    let out = meshsim(dir.path(), &["validate", FILE]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

// ----- policies ---------------------------------------------------------
//
// Without faults, line 10 is the first policy and line 11 the second.

/// `front` calling `back` through the `standard` policy.
const FRONT_WITH_POLICY: &str = r#"    "front": {"service_time": {"constant": "1ms"}, "calls": [{"service": "back", "policy": "standard"}]},"#;
/// Two valid policies.
const STANDARD: &str = r#"    "standard": {"timeout": "100ms", "retry": {"max_attempts": 2}}"#;
const FAST: &str = r#"    "fast": {"deadline": "50ms"}"#;

#[test]
fn unknown_policies_get_a_suggestion() {
    check(
        &Doc {
            front: &FRONT_WITH_POLICY.replace("standard", "standrad"),
            policies: &[STANDARD, FAST],
            ..DOC
        }
        .text(),
        &[
            "scenario.json:5:82: services.front.calls[0].policy: unknown policy `standrad`; did you mean `standard`? (policies: fast, standard)",
        ],
    );
    // Inside a parallel group, and on a route.
    check(
        &Doc {
            front: r#"    "front": {"service_time": {"constant": "1ms"}, "calls": [{"parallel": [{"service": "back", "policy": "fsat"}]}]},"#,
            workload: r#"  "workload": {"arrivals": {"poisson": {"rate": 10}}, "routes": [{"service": "front", "policy": "standart"}]}"#,
            policies: &[STANDARD, FAST],
            ..DOC
        }
        .text(),
        &[
            "scenario.json:5:96: services.front.calls[0].parallel[0].policy: unknown policy `fsat`; did you mean `fast`?",
            "scenario.json:8:87: workload.routes[0].policy: unknown policy `standart`; did you mean `standard`?",
        ],
    );
    // The workload's default policy, with no policies at all.
    check(
        &Doc {
            workload: r#"  "workload": {"arrivals": {"poisson": {"rate": 10}}, "routes": [{"service": "front"}], "policy": "client"}"#,
            ..DOC
        }
        .text(),
        &["scenario.json:8:89: workload.policy: unknown policy `client` (policies: none are defined)"],
    );
}

#[test]
fn a_parallel_group_takes_policies_on_its_calls() {
    check(
        &Doc {
            front: r#"    "front": {"service_time": {"constant": "1ms"}, "calls": [{"parallel": [{"service": "back"}], "policy": "standard"}]},"#,
            policies: &[STANDARD],
            ..DOC
        }
        .text(),
        &[
            "scenario.json:5:98: services.front.calls[0].policy: `policy` belongs on each call inside `parallel`, not on the group",
        ],
    );
}

#[test]
fn a_call_and_its_policy_cannot_both_set_a_timeout() {
    check(
        &Doc {
            front: r#"    "front": {"service_time": {"constant": "1ms"}, "calls": [{"service": "back", "timeout": "1s", "policy": "standard"}]},"#,
            policies: &[STANDARD],
            ..DOC
        }
        .text(),
        &[
            "scenario.json:5:82: services.front.calls[0].timeout: both this call and its policy `standard` set a timeout: keep one",
        ],
    );
    check(
        &Doc {
            front: r#"    "front": {"service_time": {"constant": "1ms"}, "calls": [{"parallel": [{"service": "back", "timeout": "1s", "policy": "standard"}]}]},"#,
            policies: &[STANDARD],
            ..DOC
        }
        .text(),
        &[
            "scenario.json:5:96: services.front.calls[0].parallel[0].timeout: both this call and its policy `standard` set a timeout: keep one",
        ],
    );
    // A route's timeout is the client giving up, not a per-attempt timeout:
    // it goes with a policy timeout. So does a call timeout with a policy
    // that has none.
    let dir = TempDir::new();
    let doc = Doc {
        front: r#"    "front": {"service_time": {"constant": "1ms"}, "calls": [{"service": "back", "timeout": "1s", "policy": "fast"}]},"#,
        workload: r#"  "workload": {"arrivals": {"poisson": {"rate": 10}}, "routes": [{"service": "front", "timeout": "1s", "policy": "standard"}]}"#,
        policies: &[STANDARD, FAST],
        ..DOC
    };
    std::fs::write(dir.path().join(FILE), doc.text()).unwrap();
    let out = meshsim(dir.path(), &["validate", FILE]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn retry_settings_are_checked() {
    for attempts in ["0", "11"] {
        check(
            &Doc {
                front: FRONT_WITH_POLICY,
                policies: &[&STANDARD.replace(
                    r#""max_attempts": 2"#,
                    &format!(r#""max_attempts": {attempts}"#),
                )],
                ..DOC
            }
            .text(),
            &[
                "scenario.json:10:48: policies.standard.retry.max_attempts: max_attempts must be between 1 and 10 (the first attempt included)",
            ],
        );
    }
    // Outcomes and jitters are enums: a typo is a structural error that
    // lists the allowed values.
    check(
        &Doc {
            front: FRONT_WITH_POLICY,
            policies: &[r#"    "standard": {"retry": {"retry_on": ["error", "timout"]}}"#],
            ..DOC
        }
        .text(),
        &[
            "scenario.json:10:50: policies.standard.retry.retry_on[1]: unknown variant `timout`, expected one of `error`, `timeout`, `rejected`, `breaker_open`; did you mean `timeout`?",
        ],
    );
    check(
        &Doc {
            front: FRONT_WITH_POLICY,
            policies: &[r#"    "standard": {"retry": {"jitter": "fulll"}}"#],
            ..DOC
        }
        .text(),
        &[
            "policies.standard.retry.jitter: unknown variant `fulll`, expected one of `none`, `full`, `equal`, `decorrelated`; did you mean `full`?",
        ],
    );
    // Decorrelated jitter from a zero first delay would never wait.
    check(
        &Doc {
            front: FRONT_WITH_POLICY,
            policies: &[
                r#"    "standard": {"retry": {"backoff": {"constant": "0s"}, "jitter": "decorrelated"}}"#,
            ],
            ..DOC
        }
        .text(),
        &[
            "scenario.json:10:59: policies.standard.retry.jitter: decorrelated jitter needs a backoff whose first delay is above zero",
        ],
    );
    // The caller's own refusals are retried as `rejected`; they have no
    // names of their own in `retry_on`.
    check(
        &Doc {
            front: FRONT_WITH_POLICY,
            policies: &[
                r#"    "standard": {"retry": {"retry_on": ["rejected", "bulkhead_full"]}}"#,
            ],
            ..DOC
        }
        .text(),
        &[
            "scenario.json:10:53: policies.standard.retry.retry_on[1]: unknown variant `bulkhead_full`, expected one of `error`, `timeout`, `rejected`, `breaker_open`; the caller's own refusals count as `rejected`",
        ],
    );
}

#[test]
fn breaker_percentages_are_checked() {
    for (rate, shown) in [("0", "0"), ("150", "150")] {
        check(
            &Doc {
                front: FRONT_WITH_POLICY,
                policies: &[&format!(
                    r#"    "standard": {{"breaker": {{"failure_rate_percent": {rate}}}}}"#
                )],
                ..DOC
            }
            .text(),
            &[&format!(
                "scenario.json:10:30: policies.standard.breaker.failure_rate_percent: a percentage must be in (0, 100], got {shown}"
            )],
        );
    }
}

#[test]
fn hedges_and_bulkheads_need_consistent_settings() {
    check(
        &Doc {
            front: FRONT_WITH_POLICY,
            policies: &[r#"    "standard": {"hedge": {"delay": "10ms", "percentile": 95}}"#],
            ..DOC
        }
        .text(),
        &[
            "scenario.json:10:18: policies.standard.hedge: a hedge takes `delay` or `percentile`, not both",
        ],
    );
    check(
        &Doc {
            front: FRONT_WITH_POLICY,
            policies: &[
                r#"    "standard": {"bulkhead": {"max_concurrent": 4, "max_wait": "10ms"}}"#,
            ],
            ..DOC
        }
        .text(),
        &[
            "scenario.json:10:18: policies.standard.bulkhead: a bounded wait needs both `max_wait` and `max_waiting`",
        ],
    );
}

#[test]
fn a_budget_has_exactly_one_kind() {
    // One of several kinds is a serde enum: two kinds are a structural error.
    check(
        &Doc {
            front: FRONT_WITH_POLICY,
            policies: &[
                r#"    "standard": {"budget": {"tps": {"retry_percent": 10}, "adaptive": {"k": 2}}}"#,
            ],
            ..DOC
        }
        .text(),
        &[
            "scenario.json:10:18: policies.standard.budget: invalid value: map, expected map with a single key",
        ],
    );
    check(
        &Doc {
            front: FRONT_WITH_POLICY,
            policies: &[r#"    "standard": {"budget": {"adaptve": {"k": 2}}}"#],
            ..DOC
        }
        .text(),
        &[
            "scenario.json:10:18: policies.standard.budget: unknown variant `adaptve`, expected one of `tps`, `token_bucket`, `adaptive`; did you mean `adaptive`?",
        ],
    );
}

#[test]
fn every_policy_problem_is_reported_in_one_run() {
    // Meaning problems in two policies, a call and the workload, all at once
    // and in file order.
    let stderr = check(
        &Doc {
            front: r#"    "front": {"service_time": {"constant": "1ms"}, "calls": [{"service": "back", "timeout": "1s", "policy": "slow"}]},"#,
            workload: r#"  "workload": {"arrivals": {"poisson": {"rate": 10}}, "routes": [{"service": "front"}], "policy": "fsat"}"#,
            policies: &[
                r#"    "fast": {"timeout": "0", "retry": {"max_attempts": 11, "retry_on": ["error", "timeout"], "jitter": "full"}}"#,
                r#"    "slow": {"timeout": "1s", "breaker": {"window": "count", "failure_rate_percent": 150}, "bulkhead": {"max_concurrent": 0, "max_waiting": 5}, "hedge": {"delay": "10ms", "percentile": 95}}"#,
            ],
            ..DOC
        }
        .text(),
        &[
            "error: scenario.json: 8 problems found",
            "scenario.json:5:82: services.front.calls[0].timeout: both this call and its policy `slow` set a timeout: keep one",
            "scenario.json:8:89: workload.policy: unknown policy `fsat`; did you mean `fast`? (policies: fast, slow)",
            "scenario.json:10:14: policies.fast.timeout: must be longer than zero",
            "scenario.json:10:40: policies.fast.retry.max_attempts:",
            "scenario.json:11:62: policies.slow.breaker.failure_rate_percent: a percentage must be in (0, 100], got 150",
            "scenario.json:11:92: policies.slow.bulkhead: a bounded wait needs both `max_wait` and `max_waiting`",
            "scenario.json:11:105: policies.slow.bulkhead.max_concurrent: max_concurrent must be at least 1",
            "scenario.json:11:145: policies.slow.hedge: a hedge takes `delay` or `percentile`, not both",
        ],
    );
    let lines: Vec<&str> = stderr.lines().skip(1).collect();
    assert_eq!(lines.len(), 8, "{stderr}");

    // A misspelt choice is structural: it stops only its own policy, and
    // one in each policy is reported in the same run, with the meaning
    // problems of the rest (the call names a policy `standard` that this
    // file does not have).
    check(
        &Doc {
            front: FRONT_WITH_POLICY,
            policies: &[
                r#"    "fast": {"retry": {"jitter": "fulll"}}"#,
                r#"    "slow": {"breaker": {"window": "counts"}}"#,
            ],
            ..DOC
        }
        .text(),
        &[
            "error: scenario.json: 3 problems found",
            "scenario.json:5:82: services.front.calls[0].policy: unknown policy `standard` (policies: fast, slow)",
            "scenario.json:10:24: policies.fast.retry.jitter: unknown variant `fulll`, expected one of `none`, `full`, `equal`, `decorrelated`; did you mean `full`?",
            "scenario.json:11:26: policies.slow.breaker.window: unknown variant `counts`, expected `count` or `time`; did you mean `count`?",
        ],
    );

    // Structural problems in different policies do not hide each other,
    // nor a structural problem in a service.
    check(
        &Doc {
            back: r#"    "back": {"service_time": {"constant": "2ms"}, "policy": "fast"}"#,
            policies: &[
                r#"    "fast": {"budget": {"tps": {}, "token_bucket": {}}}"#,
                r#"    "slow": {"retry": {"max_attemps": 2}, "scope": "global"}"#,
            ],
            ..DOC
        }
        .text(),
        &[
            "error: scenario.json: 3 problems found",
            "scenario.json:6:51: services.back.policy: unknown field `policy`",
            "scenario.json:10:14: policies.fast.budget: invalid value: map, expected map with a single key",
            "scenario.json:11:24: policies.slow.retry.max_attemps: unknown field `max_attemps`",
            "did you mean `max_attempts`?",
        ],
    );
}

/// Regression: these values once passed `meshsim validate` but the patterns
/// refused them when `meshsim run` built them, which then panicked
/// ("validated ... configuration", exit code 101). Validation now applies
/// the patterns' own bounds.
#[test]
fn policy_values_the_patterns_refuse_are_caught_by_validation() {
    for (policy, path) in [
        (
            r#"{"retry": {}, "budget": {"token_bucket": {"max_tokens": 5000}}}"#,
            "policies.standard.budget.token_bucket.max_tokens: ",
        ),
        (
            r#"{"retry": {}, "budget": {"token_bucket": {"token_ratio": 0.0001}}}"#,
            "policies.standard.budget.token_bucket.token_ratio: ",
        ),
        (
            r#"{"retry": {}, "budget": {"token_bucket": {"token_ratio": 5000}}}"#,
            "policies.standard.budget.token_bucket.token_ratio: ",
        ),
        (
            r#"{"breaker": {"window": "time", "window_size": 90000}}"#,
            "policies.standard.breaker.window_size: ",
        ),
        (
            r#"{"bulkhead": {"max_concurrent": 2, "max_wait": "10ms", "max_waiting": 2000000}}"#,
            "policies.standard.bulkhead.max_waiting: ",
        ),
    ] {
        let member = format!(r#"    "standard": {policy}"#);
        check(
            &Doc {
                front: FRONT_WITH_POLICY,
                policies: &[&member],
                ..DOC
            }
            .text(),
            &["scenario.json:10:", path],
        );
    }
}

#[test]
fn a_missing_file_is_reported() {
    let dir = TempDir::new();
    for command in ["validate", "run"] {
        let out = meshsim(dir.path(), &[command, "no-such-file.json"]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.contains("no-such-file.json: (top level): cannot read the file"),
            "{stderr}"
        );
    }
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
}

#[test]
fn repeated_keys_are_reported_where_they_repeat() {
    check(
        &Doc {
            back: r#"    "front": {"service_time": {"constant": "5ms"}}"#,
            ..DOC
        }
        .text(),
        &["scenario.json:6:5: services.front: `front` appears more than once in this object"],
    );
}

#[test]
fn defaulted_values_point_at_their_object() {
    // `window` defaults to 1s, longer than this run; the problem is located
    // at the object that lacks it.
    check(
        &DOC.text().replace(r#""10s""#, r#""500ms""#),
        &["scenario.json:1:1: window: the window is longer than the whole run"],
    );
}

#[test]
fn problems_found_while_building_are_reported_with_the_others() {
    // A route's path and keys and a distribution's sampler are checked while
    // the scenario is built; they used to be reported only once every other
    // problem was fixed, so a user met them one run too late.
    check(
        &Doc {
            back: r#"    "back": {"instances": 0, "service_time": {"lognormal": {"median": "5ms", "p99": "1ms"}}}"#,
            workload: r#"  "workload": {"arrivals": {"poisson": {"rate": 10}}, "routes": [{"service": "front", "path": "orders", "keys": 0}]}"#,
            ..DOC
        }
        .text(),
        &[
            "error: scenario.json: 4 problems found",
            "services.back.instances:",
            "services.back.service_time.lognormal.p99: p99 (1ms) must be larger than the median (5ms)",
            "workload.routes[0].path: a path starts with `/`",
            "workload.routes[0].keys: keys must be between 1 and 4294967295",
        ],
    );
}

#[test]
fn every_problem_is_reported_in_one_run() {
    // Meaning problems in two services, the network, the workload and two
    // faults: all of them at once, in file order.
    let stderr = check(
        &Doc {
            front: r#"    "front": {"service_time": {"constant": "1ms"}, "error_rate": 2, "calls": [{"service": "bck"}]},"#,
            back: r#"    "back": {"instances": 2, "concurrency": 0, "service_time": {"uniform": {"min": "5ms", "max": "1ms"}}}"#,
            workload: r#"  "workload": {"arrivals": {"poisson": {"rate": 0}}, "routes": [{"service": "front", "weight": -1}]}"#,
            faults: &[
                r#"    {"at": "1s", "crash": {"service": "back", "instance": 7}}"#,
                r#"    {"at": "1s", "latency": {"service": "frnt", "add": "0"}}"#,
            ],
            ..DOC
        }
        .text(),
        &[
            "error: scenario.json: 9 problems found",
            "scenario.json:5:52: services.front.error_rate:",
            "scenario.json:5:80: services.front.calls[0].service: unknown service `bck`",
            "scenario.json:6:30: services.back.concurrency:",
            "scenario.json:6:65: services.back.service_time.uniform: min (5ms) is larger than max (1ms)",
            "scenario.json:8:41: workload.arrivals.poisson.rate:",
            "scenario.json:8:86: workload.routes[0].weight: a weight must be a positive number, got -1",
            "scenario.json:10:47: faults[0].crash.instance:",
            "scenario.json:11:30: faults[1].latency.service: unknown service `frnt`; did you mean `front`?",
            "scenario.json:11:49: faults[1].latency.add: must be longer than zero",
        ],
    );
    let lines: Vec<&str> = stderr.lines().skip(1).collect();
    assert_eq!(lines.len(), 9, "{stderr}");

    // Structural problems in different sections do not hide each other
    // either: one per service, the workload and each fault.
    check(
        &Doc {
            front: r#"    "front": {"servicetime": {"constant": "1ms"}},"#,
            back: r#"    "back": {"service_time": {"constant": "5 parsecs"}}"#,
            workload: r#"  "workload": {"arrivals": {"poison": {"rate": 10}}, "routes": [{"service": "front"}]}"#,
            faults: &[
                r#"    {"at": "1s", "crash": {"service": "back", "instance": "0"}}"#,
                r#"    {"at": "soon", "errors": {"service": "back", "rate": 0.5}}"#,
            ],
            ..DOC
        }
        .text(),
        &[
            "error: scenario.json: 5 problems found",
            "scenario.json:5:15: services.front.servicetime: unknown field `servicetime`",
            "did you mean `service_time`?",
            r#"scenario.json:6:31: services.back.service_time.constant: invalid duration "5 parsecs""#,
            "scenario.json:8:16: workload.arrivals: unknown variant `poison`",
            "did you mean `poisson`?",
            r#"scenario.json:10:47: faults[0].crash.instance: invalid type: string "0", expected u32"#,
            r#"scenario.json:11:6: faults[1].at: invalid duration "soon""#,
        ],
    );
}

/// Structure is checked section by section, and the meaning of every
/// section whose structure is sound is checked in the same run: a typo in
/// one service, `instances: 0` in another, an unknown route service and a
/// fault after the end are four problems, reported together (issue 13).
/// What names the service that could not be read is not checked against
/// it: no "unknown service `front`", no "no instance 5" (its instances were
/// never read).
#[test]
fn meaning_problems_are_reported_beside_structural_ones() {
    let stderr = check(
        &Doc {
            front: r#"    "front": {"concurency": 4, "service_time": {"constant": "1ms"}, "calls": [{"service": "back"}]},"#,
            back: r#"    "back": {"instances": 0, "service_time": {"exponential": {"mean": "2ms"}}}"#,
            workload: r#"  "workload": {"arrivals": {"poisson": {"rate": 10}}, "routes": [{"service": "front"}, {"service": "paymnts"}]}"#,
            faults: &[
                r#"    {"at": "30s", "crash": {"service": "back"}}"#,
                r#"    {"at": "1s", "crash": {"service": "front", "instance": 5}}"#,
                r#"    {"at": "1s", "latency": {"service": "frnt", "add": "1ms"}}"#,
            ],
            ..DOC
        }
        .text(),
        &[
            "error: scenario.json: 5 problems found",
            "scenario.json:5:15: services.front.concurency: unknown field `concurency`",
            "did you mean `concurrency`?",
            "scenario.json:6:14: services.back.instances: instances must be between 1 and 100000",
            "scenario.json:8:89: workload.routes[1].service: unknown service `paymnts`",
            "scenario.json:10:6: faults[0].at: starts at 30s but the run ends at 10s",
            "scenario.json:12:30: faults[2].latency.service: unknown service `frnt`; did you mean `front`?",
        ],
    );
    assert!(!stderr.contains("faults[1]"), "{stderr}");
    assert!(!stderr.contains("unknown service `front`"), "{stderr}");

    // A section of the wrong type, a policy with a typo and a top-level
    // typo: the rest is still checked, and what names the policy is not.
    let stderr = check(
        &Doc {
            front: r#"    "front": {"service_time": {"constant": "1ms"}, "calls": [{"service": "back", "policy": "p"}]},"#,
            back: r#"    "back": {"instances": 2, "service_time": {"constant": "1ms"}, "error_rate": 3}"#,
            faults: &[r#"    {"at": "1s", "crash": {"service": "bak"}}"#],
            policies: &[r#"    "p": {"retry": {"max_attempts": 2, "jitter": "ful"}}"#],
            ..DOC
        }
        .text()
        .replace(r#""name": "broken","#, r#""name": "broken", "netwrok": {},"#),
        &[
            "error: scenario.json: 4 problems found",
            "scenario.json:2:21: netwrok: unknown field `netwrok`; did you mean `network`?",
            "scenario.json:6:67: services.back.error_rate: a probability must be between 0 and 1, got 3",
            "scenario.json:10:28: faults[0].crash.service: unknown service `bak`; did you mean `back`?",
            "scenario.json:13:40: policies.p.retry.jitter: unknown variant `ful`",
        ],
    );
    assert!(!stderr.contains("unknown policy"), "{stderr}");
}

#[test]
fn every_bundled_scenario_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("the scenarios directory") {
        let path = entry.expect("an entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let out = meshsim(&dir, &["validate", path.to_str().expect("a UTF-8 path")]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).contains(": ok ("),
            "{}",
            text(&out.stdout)
        );
        seen += 1;
    }
    assert!(seen >= 2, "found only {seen} bundled scenarios");
}

#[test]
fn the_documented_policy_example_runs() {
    // tests/data/policy-example.json is the worked example of the Policies
    // section of docs/scenarios.md, verbatim: it must stay valid and run.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join("tests/data/policy-example.json"))
        .expect("read the example");
    let docs = std::fs::read_to_string(root.join("docs/scenarios.md")).expect("read the docs");
    assert!(
        docs.contains(&format!("```json\n{example}```")),
        "docs/scenarios.md no longer shows tests/data/policy-example.json verbatim"
    );
    let dir = TempDir::new();
    std::fs::write(dir.path().join(FILE), &example).unwrap();
    let out = meshsim(
        dir.path(),
        &["run", FILE, "--no-charts", "--quiet", "--out", "out"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut written: Vec<String> = std::fs::read_dir(dir.path().join("out"))
        .expect("the report directory")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    written.sort();
    assert_eq!(
        written,
        ["breakers.csv", "manifest.json", "series", "summary.json"],
        "a policy with a breaker writes breakers.csv"
    );
}

#[test]
fn schema_prints_valid_json() {
    let dir = TempDir::new();
    let out = meshsim(dir.path(), &["schema"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let schema: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("`meshsim schema` prints JSON");
    for field in ["name", "duration", "services", "workload", "faults"] {
        assert!(
            schema["properties"].get(field).is_some(),
            "no `{field}` in the schema's properties"
        );
    }
    assert!(
        schema["$defs"].get("Service").is_some(),
        "no Service in $defs"
    );
    assert!(dir.entries().is_empty());
}

#[test]
fn bad_usage_exits_with_2_and_writes_nothing() {
    let dir = TempDir::new();
    std::fs::write(dir.path().join(FILE), DOC.text()).unwrap();
    let out = meshsim(
        dir.path(),
        &["run", FILE, "--event-budget", "0", "--out", "out"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--event-budget must be at least 1"));
    for args in [&[][..], &["frobnicate"][..], &["run"][..]] {
        let out = meshsim(dir.path(), args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!text(&out.stderr).contains("panicked"));
    }
    assert_eq!(dir.entries(), vec![FILE.to_string()]);
}

/// A valid scenario with one warning: policy `spare` is never used.
fn with_a_warning() -> String {
    Doc {
        policies: &[r#"    "spare": {"timeout": "1s"}"#],
        ..DOC
    }
    .text()
}

#[test]
fn warnings_are_printed_but_not_fatal() {
    let dir = TempDir::new();
    std::fs::write(dir.path().join(FILE), with_a_warning()).unwrap();
    let out = meshsim(dir.path(), &["validate", FILE]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr,
        "warning: scenario.json:10:5: policies.spare: policy `spare` is defined but no route or call uses it\n  fix: attach it with \"policy\": \"spare\" on a route or a call, or delete it\n"
    );
    assert!(
        text(&out.stdout)
            .contains(": ok (2 services, 1 routes, 0 faults, 1 warning; memory at most "),
        "{}",
        text(&out.stdout)
    );
    // `run` prints the same warning, runs, and lists it in summary.json.
    let out = meshsim(
        dir.path(),
        &["run", FILE, "--quiet", "--no-charts", "--out", "out"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), stderr);
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["format"], meshsim::report::summary::SUMMARY_FORMAT);
    assert_eq!(
        summary["warnings"],
        serde_json::json!([{
            "path": "policies.spare",
            "message": "policy `spare` is defined but no route or call uses it",
            "fix": "attach it with \"policy\": \"spare\" on a route or a call, or delete it"
        }])
    );
}

#[test]
fn deny_warnings_refuses_and_writes_nothing() {
    let dir = TempDir::new();
    std::fs::write(dir.path().join(FILE), with_a_warning()).unwrap();
    for args in [
        &["validate", FILE, "--deny-warnings"][..],
        &["run", FILE, "--deny-warnings"],
        &["run", FILE, "--deny-warnings", "--out", "out"],
    ] {
        let out = meshsim(dir.path(), args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.starts_with("warning: scenario.json:10:5: policies.spare: "),
            "{stderr}"
        );
        assert!(
            stderr.ends_with("error: scenario.json: 1 warning denied by --deny-warnings\n"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
        assert_eq!(
            dir.entries(),
            vec![FILE.to_string()],
            "{args:?} wrote files"
        );
    }
    // Without warnings, --deny-warnings changes nothing.
    std::fs::write(dir.path().join(FILE), DOC.text()).unwrap();
    let out = meshsim(dir.path(), &["validate", FILE, "--deny-warnings"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

/// A negative seed gets a message about seeds, not clap's "use '-- -1'".
#[test]
fn a_negative_seed_is_explained() {
    let output = Command::new(BIN)
        .args(["run", "scenarios/mm1.json", "--seed", "-1", "--out"])
        .arg(std::env::temp_dir().join("meshsim-negative-seed"))
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("a seed is a whole number from 0 to"),
        "{stderr}"
    );
    assert!(!stderr.contains("-- -1"), "{stderr}");
}

/// `-` reads the scenario from standard input.
#[test]
fn a_scenario_can_come_from_standard_input() {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(["validate", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let scenario = std::fs::read("scenarios/mm1.json").unwrap();
    child.stdin.take().unwrap().write_all(&scenario).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).starts_with("-: ok"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn more_faults_than_the_bound_are_refused_at_the_list() {
    let faults: Vec<serde_json::Value> = (0..10_001)
        .map(|_| serde_json::json!({"at": "1s", "for": "1s", "crash": {"service": "s"}}))
        .collect();
    let scenario = serde_json::json!({
        "name": "many", "duration": "10s",
        "services": {"s": {"service_time": {"constant": "1ms"}}},
        "workload": {"arrivals": {"poisson": {"rate": 10}}, "routes": [{"service": "s"}]},
        "faults": faults
    });
    let error = meshsim::scenario::parse(&scenario.to_string(), "many.json")
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("faults: 10001 faults: a scenario has at most 10000"),
        "{error}"
    );
}
