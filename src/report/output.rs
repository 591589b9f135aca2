//! Writing a report directory all or nothing: every file is first written
//! into a fresh temporary directory beside the target, then renamed into
//! place one by one (a rename within a file system is atomic). A failure
//! before the renames leaves the target untouched; no reader ever sees a
//! half-written file.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Files to write, by name, with their contents.
pub type Files = Vec<(String, Vec<u8>)>;

/// Files a previous run may have left in a report directory that this run
/// does not write: removed after a successful write, so a report never mixes
/// two runs. Only these names are touched; other files in `dir` are kept.
pub fn stale_candidates() -> Vec<String> {
    let mut names = vec!["breakers.csv".to_string()];
    for (stem, _) in super::charts::CHARTS {
        names.push(format!("charts/{stem}.svg"));
        names.push(format!("charts/{stem}.png"));
    }
    names.push("index.html".to_string());
    names
}

/// Writes `files` into `dir` (created if needed), atomically per file, then
/// removes the report files of an earlier run that this one did not write.
pub fn write_report(dir: &Path, files: &Files) -> io::Result<()> {
    write_all(dir, files)?;
    for name in stale_candidates() {
        if !files.iter().any(|(written, _)| *written == name) {
            match fs::remove_file(dir.join(&name)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Writes `files` into `dir` (created if needed), atomically per file.
pub fn write_all(dir: &Path, files: &Files) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let staging = staging_dir(dir);
    fs::create_dir_all(&staging)?;
    let result = (|| {
        for (name, bytes) in files {
            let path = staging.join(name);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            let mut file = fs::File::create(&path)?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        for (name, _) in files {
            let target = dir.join(name);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::rename(staging.join(name), target)?;
        }
        Ok(())
    })();
    let _ = fs::remove_dir_all(&staging);
    result
}

fn staging_dir(dir: &Path) -> PathBuf {
    let name = dir
        .file_name()
        .map_or_else(|| "report".into(), |n| n.to_string_lossy().into_owned());
    let parent = dir.parent().unwrap_or(Path::new("."));
    parent.join(format!(".{name}.partial-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
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
        let leftovers: Vec<_> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("report")]);
        fs::remove_dir_all(&root).unwrap();
    }
}
