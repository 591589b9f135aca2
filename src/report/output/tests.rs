use super::*;

#[test]
fn writes_every_file_and_leaves_no_staging_behind() {
    let root = std::env::temp_dir().join(format!("meshsim-output-test-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let dir = root.join("report");
    let files = vec![
        ("a.txt".to_string(), b"one".to_vec()),
        ("sub/b.txt".to_string(), b"two".to_vec()),
    ];
    write_all(&dir, &files).unwrap();
    assert_eq!(fs::read(dir.join("a.txt")).unwrap(), b"one");
    assert_eq!(fs::read(dir.join("sub/b.txt")).unwrap(), b"two");
    only_the_report_is_left(&root);
}

/// Nothing but the report directory is left in `root` (no temporary
/// directory), and `root` is removed.
fn only_the_report_is_left(root: &Path) {
    let leftovers: Vec<_> = fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("report")]);
    fs::remove_dir_all(root).unwrap();
}

/// Bug: an abandoned report (the run or a later file failed) left its
/// target directory behind, empty, where there was none.
#[test]
fn an_abandoned_report_creates_no_directory() {
    let root = std::env::temp_dir().join(format!("meshsim-output-fresh-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    let dir = root.join("report");
    {
        let mut staging = Staging::new(&dir).unwrap();
        let mut file = staging.create("timeseries.csv").unwrap();
        file.write_all(b"half a series").unwrap();
    }
    assert!(!dir.exists(), "the target was created");
    assert_eq!(fs::read_dir(&root).unwrap().count(), 0, "leftovers");
    // A file where the directory should be is refused at once.
    fs::write(&dir, b"a file").unwrap();
    assert!(Staging::new(&dir).is_err());
    fs::remove_file(&dir).unwrap();
    // Committed, it is created.
    let mut staging = Staging::new(&dir).unwrap();
    staging.write("a.txt", b"one").unwrap();
    staging.commit(true).unwrap();
    assert_eq!(fs::read(dir.join("a.txt")).unwrap(), b"one");
    only_the_report_is_left(&root);
}

#[test]
fn an_abandoned_report_changes_nothing() {
    let root = std::env::temp_dir().join(format!("meshsim-output-abandon-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let dir = root.join("report");
    write_all(&dir, &vec![("a.txt".to_string(), b"old".to_vec())]).unwrap();
    {
        let mut staging = Staging::new(&dir).unwrap();
        let mut file = staging.create("a.txt").unwrap();
        file.write_all(b"half of a new").unwrap();
        // Dropped here, as when the run or a later file fails.
    }
    assert_eq!(fs::read(dir.join("a.txt")).unwrap(), b"old");
    only_the_report_is_left(&root);
}

/// Every file under `dir`, by relative path, with its contents.
fn snapshot(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, rel: &str, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{rel}{}", entry.file_name().to_string_lossy());
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), &format!("{name}/"), out);
            } else {
                out.insert(name, fs::read(entry.path()).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, "", &mut out);
    out
}

fn fresh_root(test: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("meshsim-output-{test}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    root
}

fn old_report(dir: &Path) {
    let files = vec![
        ("summary.json".to_string(), b"old summary".to_vec()),
        ("timeseries.csv".to_string(), b"old series".to_vec()),
        ("charts/latency.svg".to_string(), b"old chart".to_vec()),
    ];
    write_report(dir, &files).unwrap();
}

/// Bug: the commit renamed files into the target one by one, so a
/// failure in the middle left a report mixing two runs. A failure at any
/// step before the swap leaves exactly the previous report.
#[test]
fn a_failure_between_two_files_leaves_the_previous_report() {
    for fault in [
        Fault::Create("summary.json"),
        Fault::Create("charts/latency.svg"),
        Fault::BeforeSwap,
    ] {
        let root = fresh_root("fault");
        let dir = root.join("report");
        old_report(&dir);
        fs::write(dir.join("notes.txt"), b"mine").unwrap();
        let before = snapshot(&dir);
        let result = (|| {
            let mut staging = Staging::new(&dir)?;
            staging.fault = Some(fault);
            staging.write("timeseries.csv", b"new series")?;
            staging.write("summary.json", b"new summary")?;
            staging.write("charts/latency.svg", b"new chart")?;
            staging.commit(true)
        })();
        assert!(result.is_err(), "{fault:?}");
        assert_eq!(snapshot(&dir), before, "{fault:?}");
        only_the_report_is_left(&root);
    }
}

/// The manifest of `dir`, as (name, bytes) pairs, and its run identity.
fn read_manifest(dir: &Path) -> (Vec<(String, u64)>, String) {
    let text = fs::read_to_string(dir.join(MANIFEST)).expect("a manifest");
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let files = value["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let name = f["name"].as_str().unwrap().to_string();
            let bytes = f["bytes"].as_u64().unwrap();
            // Every file it names is there, whole.
            assert_eq!(
                fs::metadata(dir.join(&name)).unwrap().len(),
                bytes,
                "{name}"
            );
            (name, bytes)
        })
        .collect();
    (files, value["run"].as_str().unwrap().to_string())
}

#[test]
fn every_report_has_a_manifest_of_its_own_files() {
    let root = fresh_root("manifest");
    let dir = root.join("report");
    old_report(&dir);
    fs::write(dir.join("notes.txt"), b"mine").unwrap();
    let (files, first) = read_manifest(&dir);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["charts/latency.svg", "summary.json", "timeseries.csv"]
    );
    // Another run with other contents is another run.
    write_report(&dir, &vec![("summary.json".to_string(), b"new".to_vec())]).unwrap();
    let (files, second) = read_manifest(&dir);
    assert_eq!(files, [("summary.json".to_string(), 3)]);
    assert_ne!(first, second);
    only_the_report_is_left(&root);
}

/// Bug: `--out` at a mount point (a container's bind mount) always failed
/// after the run ("Invalid cross-device link"). Now the report is written
/// in place, file by file, with the manifest removed first and written
/// last.
#[test]
fn at_a_mount_point_the_report_is_written_in_place_manifest_last() {
    let root = fresh_root("mount");
    let dir = root.join("report");
    old_report(&dir);
    fs::write(dir.join("notes.txt"), b"mine").unwrap();
    let mut staging = Staging::new(&dir).unwrap();
    staging.fault = Some(Fault::MountPoint);
    staging.write("summary.json", b"new summary").unwrap();
    staging.write("charts/latency.svg", b"new chart").unwrap();
    staging.commit(true).unwrap();
    let after = snapshot(&dir);
    assert_eq!(after["summary.json"], b"new summary");
    assert_eq!(after["charts/latency.svg"], b"new chart");
    assert_eq!(after["notes.txt"], b"mine", "other files are kept");
    assert!(
        !after.contains_key("timeseries.csv"),
        "the old run's file is gone"
    );
    let (files, _) = read_manifest(&dir);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["charts/latency.svg", "summary.json"]);
    assert_eq!(after.len(), 4, "{:?}", after.keys().collect::<Vec<_>>());
    only_the_report_is_left(&root);
    // A failure half-way leaves no manifest: the directory says it is not
    // one run.
    for n in 0..2 {
        let root = fresh_root("mount-fail");
        let dir = root.join("report");
        old_report(&dir);
        let mut staging = Staging::new(&dir).unwrap();
        staging.fault = Some(Fault::InPlaceAfter(n));
        staging.write("summary.json", b"new summary").unwrap();
        staging.write("charts/latency.svg", b"new chart").unwrap();
        assert!(staging.commit(true).is_err());
        assert!(!dir.join(MANIFEST).exists(), "after {n} files");
        only_the_report_is_left(&root);
    }
}

#[test]
fn a_commit_replaces_the_report_whole_and_keeps_other_files() {
    let root = fresh_root("swap");
    let dir = root.join("report");
    old_report(&dir);
    fs::write(dir.join("index.html"), b"old index").unwrap();
    fs::write(dir.join("notes.txt"), b"mine").unwrap();
    fs::write(dir.join("charts/mine.txt"), b"also mine").unwrap();
    let mut staging = Staging::new(&dir).unwrap();
    staging.write("summary.json", b"new summary").unwrap();
    staging.write("timeseries.csv", b"new series").unwrap();
    staging.commit(true).unwrap();
    let mut after = snapshot(&dir);
    // (Checked in `every_report_has_a_manifest_of_its_own_files`.)
    after.remove(MANIFEST).expect("a manifest");
    let expected: std::collections::BTreeMap<String, Vec<u8>> = [
        ("charts/mine.txt", &b"also mine"[..]),
        ("notes.txt", b"mine"),
        ("summary.json", b"new summary"),
        ("timeseries.csv", b"new series"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_vec()))
    .collect();
    assert_eq!(after, expected);
    // Without `remove_stale`, the old report files stay too.
    write_all(&dir, &vec![("summary.json".to_string(), b"third".to_vec())]).unwrap();
    assert_eq!(snapshot(&dir).len(), 5, "the four and a new manifest");
    only_the_report_is_left(&root);
}

#[test]
fn a_second_writer_is_refused_and_a_dead_ones_leftovers_are_taken_over() {
    let root = fresh_root("lock");
    let dir = root.join("report");
    let first = Staging::new(&dir).unwrap();
    let Err(e) = Staging::new(&dir) else {
        panic!("a second writer was let in");
    };
    assert_eq!(e.kind(), io::ErrorKind::ResourceBusy);
    let message = e.to_string();
    assert!(message.contains(".report.lock"), "{message}");
    assert!(
        message.contains(&format!("process {}", std::process::id())),
        "{message}"
    );
    drop(first);
    assert!(!root.join(".report.lock").exists());
    if cfg!(target_os = "linux") {
        // A process id above the kernel's maximum (2^22) is never alive.
        let dead = 4_000_000_000u32;
        fs::write(root.join(".report.lock"), format!("{dead}\n")).unwrap();
        fs::create_dir_all(root.join(format!(".report.partial-{dead}/charts"))).unwrap();
        fs::create_dir_all(root.join(format!(".report.old-{dead}"))).unwrap();
        let mut staging = Staging::new(&dir).unwrap();
        staging.write("summary.json", b"new").unwrap();
        staging.commit(true).unwrap();
        only_the_report_is_left(&root);
    }
}
