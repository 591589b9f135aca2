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
    let mut staging = Staging::new(dir)?;
    for (name, bytes) in files {
        staging.write(name, bytes)?;
    }
    staging.commit(true)
}

/// Writes `files` into `dir` (created if needed), atomically per file.
pub fn write_all(dir: &Path, files: &Files) -> io::Result<()> {
    let mut staging = Staging::new(dir)?;
    for (name, bytes) in files {
        staging.write(name, bytes)?;
    }
    staging.commit(false)
}

/// A report being written: files go into a temporary directory beside the
/// target (some of them streamed while the run goes on), and
/// [`Staging::commit`] renames them all into place. Dropped without a
/// commit, it removes the temporary directory and leaves the target as it
/// was.
pub struct Staging {
    dir: PathBuf,
    staging: PathBuf,
    names: Vec<String>,
}

impl Staging {
    /// Starts a report for `dir` (created by the commit if needed; its
    /// parent is created now, to hold the temporary directory on the same
    /// file system).
    pub fn new(dir: &Path) -> io::Result<Staging> {
        // Refuse at once a target that cannot become a directory, rather
        // than after a long run.
        if dir.exists() && !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "it exists and is not a directory",
            ));
        }
        let staging = staging_dir(dir);
        if let Some(parent) = staging.parent() {
            fs::create_dir_all(parent)?;
        }
        // A leftover from a crashed run with the same process id.
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir_all(&staging)?;
        Ok(Staging {
            dir: dir.to_path_buf(),
            staging,
            names: Vec::new(),
        })
    }

    /// Creates the file `name` (a relative path) in the temporary directory,
    /// to be written by the caller and renamed into place by the commit.
    pub fn create(&mut self, name: &str) -> io::Result<fs::File> {
        let path = self.staging.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let file = fs::File::create(&path)?;
        self.names.push(name.to_string());
        Ok(file)
    }

    /// Writes the whole file `name`.
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let mut file = self.create(name)?;
        file.write_all(bytes)?;
        file.sync_all()
    }

    /// Names of the files written so far.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Renames every file into place (each rename is atomic); with
    /// `remove_stale`, then removes the report files of an earlier run that
    /// this one did not write ([`stale_candidates`]).
    pub fn commit(self, remove_stale: bool) -> io::Result<()> {
        for name in &self.names {
            // Streamed files were flushed by their writers; make them durable
            // before they replace anything.
            fs::File::open(self.staging.join(name))?.sync_all()?;
        }
        for name in &self.names {
            let target = self.dir.join(name);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::rename(self.staging.join(name), target)?;
        }
        if remove_stale {
            for name in stale_candidates() {
                if !self.names.contains(&name) {
                    match fs::remove_file(self.dir.join(&name)) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.staging);
    }
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
        let root =
            std::env::temp_dir().join(format!("meshsim-output-fresh-{}", std::process::id()));
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
        let root =
            std::env::temp_dir().join(format!("meshsim-output-abandon-{}", std::process::id()));
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
}
