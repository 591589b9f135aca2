//! `meshsim explore`: it finds the violation a fragile saga hides and none
//! in the correct one over the same seeds; shrinking keeps the property
//! broken and never grows the measure; the replay command it prints
//! reproduces the failure; the liveness phase finds a metastable trigger;
//! the drawn schedules stay within their bounds and always validate; the
//! report is the same for any --jobs.

use std::path::{Path, PathBuf};
use std::process::Command;

use meshsim::explore::command::run_seeds;
use meshsim::explore::shrink::{measure, shrink};
use meshsim::explore::{Explorer, Property};
use proptest::prelude::*;

fn explorer(file: &str) -> Explorer {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    let compiled = meshsim::scenario::load(&path).expect("a bundled scenario loads");
    Explorer::new(&compiled).expect("explorable")
}

fn explorer_of(json: &serde_json::Value) -> Explorer {
    let compiled = meshsim::scenario::parse(&json.to_string(), "test.json").expect("valid");
    Explorer::new(&compiled).expect("explorable")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshsim-explore-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn meshsim() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_meshsim"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

#[test]
fn explore_finds_the_fragile_saga_and_passes_the_correct_one_on_the_same_seeds() {
    let fragile = explorer("saga-checkout-fragile.json");
    let seeds = fragile.seeds(12);
    assert_eq!(seeds, (1..=12).collect::<Vec<u64>>());
    let results = run_seeds(&fragile, &seeds, 2, &|| {}).expect("valid schedules");
    let broken: Vec<u64> = results
        .iter()
        .filter(|r| r.broken.iter().any(|b| b.property == Property::SagaOutcome))
        .map(|r| r.seed)
        .collect();
    // The scenario's own crash at 80 s breaks seeds 5 and 10 alone; the
    // drawn faults on top may break more.
    for seed in [5, 10] {
        assert!(broken.contains(&seed), "seed {seed} not found: {broken:?}");
    }
    for r in &results {
        for b in &r.broken {
            assert_eq!(b.property, Property::SagaOutcome, "seed {}: {b:?}", r.seed);
            assert!(b.detail.contains("took effect 2 times"), "{}", b.detail);
        }
    }

    let correct = explorer("saga-checkout.json");
    let results = run_seeds(&correct, &seeds, 2, &|| {}).expect("valid schedules");
    let drawn: usize = results.iter().map(|r| r.drawn).sum();
    assert!(drawn >= 12, "every seed draws a fault: {drawn}");
    for r in &results {
        assert!(r.broken.is_empty(), "seed {}: {:?}", r.seed, r.broken);
    }
    // The faults are hard enough to matter: some seed parks sagas for an
    // operator, which saga-checkout allows (explore.dead_letters).
    assert!(
        results
            .iter()
            .any(|r| r.noted.iter().any(|b| b.property == Property::DeadLettered)),
        "no seed dead-lettered a saga"
    );
}

#[test]
fn shrinking_keeps_the_property_broken_and_never_grows_the_measure() {
    let fragile = explorer("saga-checkout-fragile.json");
    let duration = fragile.scenario().duration;
    for seed in [5, 10] {
        let case = fragile.case(seed);
        let before = fragile.run(seed, &case).expect("valid");
        assert!(before.broke(Property::SagaOutcome));
        let shrunk = shrink(&fragile, seed, case.clone(), Property::SagaOutcome, 200);
        assert!(shrunk.runs <= 200);
        let after = fragile.run(seed, &shrunk.faults).expect("valid");
        assert!(
            after.broke(Property::SagaOutcome),
            "seed {seed}: the shrunk schedule no longer fails: {:?}",
            shrunk.faults
        );
        let (m0, m1) = (measure(&case, duration), measure(&shrunk.faults, duration));
        assert!(m1 <= m0, "seed {seed}: the measure grew: {m0:?} → {m1:?}");
        assert!(
            shrunk.faults.len() < case.len(),
            "seed {seed}: nothing was removed from {} faults",
            case.len()
        );
        // The one fault that matters is a crash of the orchestrator.
        assert!(
            shrunk
                .faults
                .iter()
                .any(|f| f.crash.as_ref().is_some_and(|c| c.service == "checkout")),
            "{:?}",
            shrunk.faults
        );
    }
}

#[test]
fn the_printed_replay_command_reproduces_the_failure_and_any_jobs_write_the_same_files() {
    let (a, b) = (scratch("jobs1"), scratch("jobs2"));
    let explore = |dir: &Path, jobs: &str| {
        meshsim()
            .args([
                "explore",
                "scenarios/saga-checkout-fragile.json",
                "--seeds",
                "12",
            ])
            .args(["--shrink", "--jobs", jobs, "--out"])
            .arg(dir)
            .output()
            .expect("meshsim runs")
    };
    let first = explore(&a, "1");
    assert_eq!(first.status.code(), Some(1), "{first:?}");
    let second = explore(&b, "2");
    assert_eq!(second.status.code(), Some(1));
    let names = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("failures"))
            .expect("failures/")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&a), names(&b));
    let report = |dir: &Path| std::fs::read_to_string(dir.join("explore.json")).unwrap();
    assert_eq!(
        report(&a).replace(&a.display().to_string(), "DIR"),
        report(&b).replace(&b.display().to_string(), "DIR")
    );
    // Each example's printed replay command reproduces its failure.
    let stdout = String::from_utf8(first.stdout).unwrap();
    let json: serde_json::Value = serde_json::from_str(&report(&a)).unwrap();
    let mut replayed = 0;
    for p in json["properties"].as_array().unwrap() {
        let property = p["property"].as_str().unwrap();
        let Some(example) = p.get("example") else {
            continue;
        };
        let mut cases = vec![example];
        cases.extend(example.get("shrunk"));
        for case in cases {
            let command = case["replay"].as_str().unwrap();
            assert!(
                stdout.contains(command),
                "{command} is not printed:\n{stdout}"
            );
            let file = command.strip_prefix("meshsim run ").expect("a run command");
            assert!(Path::new(file).starts_with(&a), "{file}");
            let out = scratch(&format!("replay-{replayed}"));
            let run = meshsim()
                .args(["run", file, "--no-charts", "--quiet", "--out"])
                .arg(&out)
                .output()
                .expect("meshsim runs");
            let stderr = String::from_utf8_lossy(&run.stderr);
            let summary: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(out.join("summary.json")).expect("a summary"),
            )
            .unwrap();
            match property {
                "saga_outcome" => {
                    assert_eq!(run.status.code(), Some(1), "{file}: {stderr}");
                    assert!(
                        stderr.contains("saga invariant violated"),
                        "{file}: {stderr}"
                    );
                }
                "dead_lettered" => {
                    let dead = summary["sagas"]["checkout"]["dead_lettered"]["total"]
                        .as_u64()
                        .unwrap();
                    assert!(dead > 0, "{file}: no saga dead-lettered");
                }
                other => panic!("an unexpected property: {other}"),
            }
            replayed += 1;
            let _ = std::fs::remove_dir_all(&out);
        }
    }
    assert!(
        replayed >= 2,
        "the saga_outcome case and its shrunk case: {stdout}"
    );
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

/// retry-storm without its own faults: the drawn ones must find its
/// metastable trigger; the fixed design (a retry budget) must recover from
/// the same faults.
#[test]
fn the_liveness_phase_finds_a_metastable_trigger() {
    let storm = |file: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(file);
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        json["faults"] = serde_json::json!([]);
        json["explore"] = serde_json::json!({
            "kinds": ["errors", "latency", "slowdown"],
            "services": ["backend"]
        });
        explorer_of(&json)
    };
    let broken = storm("retry-storm.json");
    let seeds = broken.seeds(3);
    let results = run_seeds(&broken, &seeds, 2, &|| {}).expect("valid");
    let found: Vec<&str> = results
        .iter()
        .flat_map(|r| &r.broken)
        .filter(|b| b.property == Property::Recovery)
        .map(|b| b.detail.as_str())
        .collect();
    assert!(
        !found.is_empty(),
        "no seed found the retry storm: {results:?}"
    );
    assert!(found.iter().any(|d| d.contains("metastable")), "{found:?}");
    let fixed = storm("retry-storm-fixed.json");
    let results = run_seeds(&fixed, &seeds, 2, &|| {}).expect("valid");
    for r in &results {
        assert!(r.broken.is_empty(), "seed {}: {:?}", r.seed, r.broken);
    }
}

#[test]
fn bad_bounds_are_refused_with_their_path_and_nothing_is_written() {
    let dir = scratch("bad");
    let file = dir.with_extension("json");
    let mut json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/saga-checkout.json"),
        )
        .unwrap(),
    )
    .unwrap();
    json["explore"] = serde_json::json!({"services": ["checkout", "nope"]});
    std::fs::write(&file, json.to_string()).unwrap();
    let out = meshsim()
        .arg("explore")
        .arg(&file)
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("explore.services[1]"), "{stderr}");
    assert!(stderr.contains("no service is called `nope`"), "{stderr}");
    assert!(!dir.exists(), "nothing is written");
    // A run too short for a liveness phase, with the default bounds.
    json["explore"] = serde_json::Value::Null;
    json.as_object_mut().unwrap().remove("explore");
    json["duration"] = serde_json::json!("20s");
    json["faults"] = serde_json::json!([]);
    std::fs::write(&file, json.to_string()).unwrap();
    let out = meshsim()
        .arg("explore")
        .arg(&file)
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("explore.from"), "{stderr}");
    assert!(stderr.contains("no room for a fault"), "{stderr}");
    assert!(!dir.exists(), "nothing is written");
    let _ = std::fs::remove_file(&file);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every drawn schedule lies within the bounds and compiles, and the
    /// same seed always draws the same schedule.
    #[test]
    fn drawn_schedules_stay_within_their_bounds_and_validate(seed in any::<u64>()) {
        thread_local! {
            static EXPLORERS: Vec<Explorer> = ["saga-checkout.json", "shop.json", "failover-ejection.json", "events.json"]
                .iter()
                .map(|f| explorer(f))
                .collect();
        }
        EXPLORERS.with(|explorers| -> Result<(), TestCaseError> {
            for e in explorers {
                let drawn = e.draw(seed);
                prop_assert_eq!(&drawn, &e.draw(seed));
                let spec = e.spec();
                prop_assert!(!drawn.is_empty() && drawn.len() <= spec.faults_max as usize);
                let (from, heal_by) = e.chaos();
                for f in &drawn {
                    let lasts = f.lasts.expect("a drawn fault ends");
                    prop_assert!(f.at >= from, "{:?} starts before {:?}", f, from);
                    prop_assert!(f.at.saturating_add(lasts) <= heal_by, "{:?} ends after {:?}", f, heal_by);
                    prop_assert!(lasts >= spec.length_min && lasts <= spec.length_max);
                }
                prop_assert!(drawn.windows(2).all(|w| w[0].at <= w[1].at), "in time order");
                let compiled = e.compile(seed, &e.case(seed));
                prop_assert!(compiled.is_ok(), "{}", compiled.err().unwrap());
            }
            Ok(())
        })?;
    }
}
