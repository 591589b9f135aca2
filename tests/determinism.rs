//! Same scenario + same seed = byte-identical reports; another seed, other
//! numbers. Checked through the library and through the real binary.

use std::path::Path;
use std::process::Command;

use meshsim::report;
use meshsim::scenario;
use meshsim::world;

/// summary.json and every time-series file, by name.
fn report_bytes(path: &str, seed: u64) -> (String, Vec<(&'static str, String)>) {
    let scenario = scenario::load(Path::new(path)).expect("bundled scenarios are valid");
    let outcome = world::run(&scenario, seed, None);
    let (summary, _) = report::files(&scenario, seed, &outcome);
    (summary.to_json(), report::timeseries::to_csv(&outcome))
}

#[test]
fn same_seed_gives_byte_identical_reports() {
    for path in ["scenarios/shop.json", "scenarios/mm1.json"] {
        let first = report_bytes(path, 42);
        let second = report_bytes(path, 42);
        assert!(
            first.0 == second.0,
            "{path}: summary.json differs between two runs with seed 42"
        );
        for ((name, a), (_, b)) in first.1.iter().zip(&second.1) {
            assert!(
                a == b,
                "{path}: {name} differs between two runs with seed 42"
            );
        }
    }
}

#[test]
fn another_seed_gives_other_numbers() {
    let a = report_bytes("scenarios/shop.json", 1);
    let b = report_bytes("scenarios/shop.json", 2);
    assert_ne!(a.0, b.0, "seeds 1 and 2 gave the same summary");
    assert_ne!(a.1, b.1, "seeds 1 and 2 gave the same time series");
}

#[test]
fn the_binary_writes_identical_files_twice() {
    let root = std::env::temp_dir().join(format!("meshsim-determinism-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let mut outputs = Vec::new();
    for run in ["a", "b"] {
        let out = root.join(run);
        let status = Command::new(env!("CARGO_BIN_EXE_meshsim"))
            .args([
                "run",
                "scenarios/shop.json",
                "--seed",
                "9",
                "--quiet",
                "--out",
            ])
            .arg(&out)
            .status()
            .expect("the binary runs");
        assert!(status.success(), "meshsim run failed: {status}");
        let summary = std::fs::read(out.join("summary.json")).expect("summary.json written");
        let series: Vec<Vec<u8>> = report::timeseries::FILES
            .iter()
            .map(|f| std::fs::read(out.join(f.name)).expect("series files written"))
            .collect();
        outputs.push((summary, series));
    }
    assert!(
        outputs[0] == outputs[1],
        "two runs of the binary with --seed 9 wrote different files"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

/// Adding a service that nobody calls must not change what the others draw:
/// every component has its own named random stream.
#[test]
fn an_unrelated_service_does_not_shift_the_others() {
    let text = std::fs::read_to_string("scenarios/shop.json").unwrap();
    let base = scenario::parse(&text, "shop.json").unwrap();
    let mut extended = base.scenario().clone();
    let mut idle = extended.services["pricing"].clone();
    idle.calls.clear();
    extended.services.insert("zz-idle".to_string(), idle);
    let extended = scenario::compile(extended).expect("an idle service is valid");
    let a = world::run(&base, 3, None);
    let b = world::run(&extended, 3, None);
    for (i, name) in a.service_names.iter().enumerate() {
        let j = b.service_names.iter().position(|n| n == name).unwrap();
        assert_eq!(
            a.services[i].total, b.services[j].total,
            "{name} changed when an idle service was added"
        );
    }
    assert_eq!(a.routes[0].total, b.routes[0].total);
}
