//! Writing a report directory whole or not at all, so that a report never
//! mixes two runs.
//!
//! - **One writer per report.** [`Staging::new`] takes a lock file beside
//!   the target, `.NAME.lock` (created with `create_new`, holding the
//!   process id). A second run on the same target fails at once (no
//!   waiting), naming the lock and its holder; the CLI exits with 2. A lock
//!   whose process is dead (no `/proc/PID` on Linux) is taken over; on other
//!   systems a lock cannot be judged stale and must be deleted by hand. (Two
//!   runs taking over the same stale lock at the same instant can both win:
//!   the one window left.)
//! - **Built beside the target.** Every file is written into a staging
//!   directory `.NAME.partial-PID` in the target's parent (the same file
//!   system, so renames are atomic). Staging and `.NAME.old-PID` directories
//!   left by dead processes are removed by the next run on that target.
//! - **Swapped in whole.** On commit, the staging directory replaces the
//!   target in one step: on Linux, `renameat2(RENAME_EXCHANGE)` swaps the two
//!   directories atomically, then the old one is removed. Elsewhere (or on a
//!   file system without exchange) the target is renamed to `.NAME.old-PID`
//!   and the staging directory to the target: for that instant the target is
//!   absent, never mixed. A failure at any step before the swap leaves the
//!   target exactly as it was; dropped without a commit, a `Staging` removes
//!   its directory and its lock.
//! - **Files meshsim did not write are kept.** Before the swap, every file of
//!   the old target that is not a report file meshsim writes (see
//!   [`stale_candidates`]; `summary.json` and `series/*.csv`) is carried
//!   into the staging directory by a hard link (a copy where links fail),
//!   keeping its relative path: notes or a `.gitkeep` survive a new run.
//!   Report files of an earlier run that this one did not write are dropped
//!   (with `remove_stale`) or carried over (without).
//! - **A manifest, written last.** Every report holds `manifest.json`: the
//!   files of the run with their sizes and FNV-1a hashes, and the run's
//!   identity. It is the check for a reader that cannot rely on the swap.
//! - **A mount point cannot be swapped, so it is written in place.** When
//!   the target is a mount point (a container's bind mount) or otherwise on
//!   another file system than its parent, the rename fails (`EXDEV`/`EBUSY`).
//!   The commit then removes the manifest first, puts each file in place by
//!   a rename inside the target (never half-written), removes the earlier
//!   run's report files that this one did not write, and writes the manifest
//!   last. A failure on the way leaves the directory without a manifest: it
//!   may mix two runs, and says so by the manifest's absence.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Files to write, by name, with their contents.
pub type Files = Vec<(String, Vec<u8>)>;

/// The bytes meshsim adds to a report directory's name to name its staging
/// directory (`.NAME.partial-PID`, with a process id of at most 10 digits);
/// the longest of the names it builds beside the target.
pub const NAME_BYTES_ADDED: usize = ".".len() + ".partial-".len() + 10;

// The scenario name, which names the default report directory, leaves room
// for the staging directory's name within a file name's 255 bytes.
const _: () = assert!(crate::scenario::validate::MAX_NAME_BYTES + NAME_BYTES_ADDED <= 255);

/// Report files a previous run may have left in a report directory that
/// this run does not write: with `remove_stale`, they are not carried over,
/// so a report never mixes two runs.
pub fn stale_candidates() -> Vec<String> {
    // `timeseries.csv`: the single time-series file of earlier versions,
    // replaced by `series/*.csv`.
    let mut names = vec![
        "breakers.csv".to_string(),
        "timeseries.csv".to_string(),
        super::timeseries::INSTANCES.name.to_string(),
        super::timeseries::BALANCE.name.to_string(),
        super::timeseries::AUTOSCALE.name.to_string(),
        super::timeseries::SAGAS.name.to_string(),
        super::timeseries::GROUPS.name.to_string(),
        super::timeseries::LAG.name.to_string(),
        super::timeseries::STATUSES.name.to_string(),
    ];
    for (stem, _) in super::charts::CHARTS {
        names.push(format!("charts/{stem}.svg"));
        names.push(format!("charts/{stem}.png"));
    }
    names.push("index.html".to_string());
    names
}

/// The file that names the files of one run and is written last: a reader
/// trusts a report directory only when it is there and its files match it.
pub const MANIFEST: &str = "manifest.json";

/// Whether `name` (a relative path with `/`) is a file meshsim writes into
/// a report directory (`series/clients.csv` among them: a run without
/// declared clients drops an earlier run's).
fn is_report_file(name: &str) -> bool {
    name == MANIFEST
        || name == "summary.json"
        || name == "explore.json"
        || name == "explore.md"
        || (name.starts_with("failures/seed-") && name.ends_with(".json"))
        || super::timeseries::ALL_FILES.iter().any(|f| f.name == name)
        || stale_candidates().iter().any(|n| n == name)
}

/// Writes `files` as the whole report in `dir` (created if needed); files of
/// an earlier report that this one does not write are removed, other files
/// kept.
pub fn write_report(dir: &Path, files: &Files) -> io::Result<()> {
    let mut staging = Staging::new(dir)?;
    for (name, bytes) in files {
        staging.write(name, bytes)?;
    }
    staging.commit(true)
}

/// Writes `files` into `dir` (created if needed), keeping every other file.
pub fn write_all(dir: &Path, files: &Files) -> io::Result<()> {
    let mut staging = Staging::new(dir)?;
    for (name, bytes) in files {
        staging.write(name, bytes)?;
    }
    staging.commit(false)
}

/// Where a test makes a [`Staging`] fail.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Fault {
    /// Creating the file of this name fails.
    Create(&'static str),
    /// The commit fails after the old files were carried over, just before
    /// the swap.
    BeforeSwap,
    /// The swap fails as it does at a mount point (`EXDEV`).
    MountPoint,
    /// The swap fails as at a mount point, and writing in place then fails
    /// after this many files.
    InPlaceAfter(usize),
}

/// A report being written: files go into a staging directory beside the
/// target (some of them streamed while the run goes on), and
/// [`Staging::commit`] swaps it for the target. Dropped without a commit, it
/// removes the staging directory and leaves the target as it was. See the
/// module doc for the guarantees.
pub struct Staging {
    dir: PathBuf,
    staging: PathBuf,
    names: Vec<String>,
    /// Held until the commit or the drop.
    _lock: Lock,
    #[cfg(test)]
    pub(crate) fault: Option<Fault>,
}

impl Staging {
    /// Starts a report for `dir` (created by the commit if needed; its
    /// parent is created now, to hold the lock and the staging directory on
    /// the same file system). Fails if another run holds the lock.
    pub fn new(dir: &Path) -> io::Result<Staging> {
        // Refuse at once a target that cannot become a directory, rather
        // than after a long run: a symbolic link to nothing would otherwise
        // end in a misleading "File exists".
        if fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) && !dir.exists() {
            let to =
                fs::read_link(dir).map_or_else(|_| "?".to_string(), |t| t.display().to_string());
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "it is a symbolic link to {to}, which does not exist: create that directory, or remove the link"
                ),
            ));
        }
        if dir.exists() && !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "it exists and is not a directory",
            ));
        }
        // Swap the real directory, so that `--out .` or a symbolic link to
        // a directory is replaced where it is.
        let dir = if dir.exists() {
            fs::canonicalize(dir)?
        } else {
            std::path::absolute(dir)?
        };
        let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a report directory needs a parent directory",
            ));
        };
        let name = name.to_string_lossy().into_owned();
        fs::create_dir_all(parent)?;
        let lock = Lock::acquire(parent.join(format!(".{name}.lock")))?;
        sweep(parent, &name);
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        // A leftover from a crashed run with the same process id.
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir(&staging)?;
        Ok(Staging {
            dir: dir.clone(),
            staging,
            names: Vec::new(),
            _lock: lock,
            #[cfg(test)]
            fault: None,
        })
    }

    /// Creates the file `name` (a relative path) in the staging directory,
    /// to be written by the caller.
    pub fn create(&mut self, name: &str) -> io::Result<fs::File> {
        #[cfg(test)]
        if matches!(self.fault, Some(Fault::Create(fault)) if fault == name) {
            return Err(io::Error::other("injected fault"));
        }
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

    /// Carries the files of the old target that are kept into the staging
    /// directory (with `remove_stale`, report files of an earlier run that
    /// this one did not write are not), then swaps the staging directory for
    /// the target and removes the old one.
    pub fn commit(self, remove_stale: bool) -> io::Result<()> {
        for name in &self.names {
            // Streamed files were flushed by their writers; make them durable
            // before they replace anything.
            fs::File::open(self.staging.join(name))?.sync_all()?;
        }
        if self.dir.is_dir() {
            self.carry_over(Path::new(""), remove_stale)?;
        }
        let manifest = manifest(&self.staging, &self.names)?;
        fs::write(self.staging.join(MANIFEST), &manifest)?;
        #[cfg(test)]
        if self.fault == Some(Fault::BeforeSwap) {
            return Err(io::Error::other("injected fault"));
        }
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        #[cfg(test)]
        let swapped = {
            let mount_point =
                matches!(self.fault, Some(Fault::MountPoint | Fault::InPlaceAfter(_)));
            if mount_point && self.dir.is_dir() {
                Err(io::Error::from(io::ErrorKind::CrossesDevices))
            } else {
                swap(&self.staging, &self.dir)
            }
        };
        #[cfg(not(test))]
        let swapped = swap(&self.staging, &self.dir);
        let old = match swapped {
            Ok(old) => old,
            Err(e) if at_mount_point(&e) && self.dir.is_dir() => {
                return self.commit_in_place(remove_stale, &manifest);
            }
            Err(e) => return Err(e),
        };
        if let Some(old) = old {
            // Best effort: the report is in place; a leftover is removed by
            // the next run.
            let _ = fs::remove_dir_all(old);
        }
        if let Ok(parent) = fs::File::open(parent) {
            let _ = parent.sync_all();
        }
        // The lock goes with `self`, after the staging path.
        Ok(())
    }

    /// The commit where the target cannot be swapped (a mount point, as a
    /// container's bind mount is): the manifest is removed first, each file
    /// is put in place by a rename within the target (a copy then a rename:
    /// no file is ever half-written), report files of the earlier run that
    /// this one did not write are removed (with `remove_stale`), and the
    /// manifest is written last. While it is absent the directory is being
    /// written; once it is there, it names exactly the files of this run.
    fn commit_in_place(&self, remove_stale: bool, manifest: &[u8]) -> io::Result<()> {
        remove_if_there(&self.dir.join(MANIFEST))?;
        sync_dir(&self.dir);
        let temporary = |name: &str| {
            let path = self.dir.join(name);
            let file = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            path.with_file_name(format!(".{file}.partial-{}", std::process::id()))
        };
        for (n, name) in self.names.iter().enumerate() {
            #[cfg(test)]
            if self.fault == Some(Fault::InPlaceAfter(n)) {
                return Err(io::Error::other("injected fault"));
            }
            let _ = n;
            let to = self.dir.join(name);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent)?;
            }
            let tmp = temporary(name);
            fs::copy(self.staging.join(name), &tmp)?;
            fs::File::open(&tmp)?.sync_all()?;
            fs::rename(&tmp, &to)?;
        }
        if remove_stale {
            for name in stale_candidates() {
                if !self.names.contains(&name) {
                    remove_if_there(&self.dir.join(&name))?;
                }
            }
        }
        let tmp = temporary(MANIFEST);
        fs::write(&tmp, manifest)?;
        fs::File::open(&tmp)?.sync_all()?;
        fs::rename(&tmp, self.dir.join(MANIFEST))?;
        sync_dir(&self.dir);
        Ok(())
    }

    /// Links every kept file under `relative` in the target into the staging
    /// directory.
    fn carry_over(&self, relative: &Path, remove_stale: bool) -> io::Result<()> {
        for entry in fs::read_dir(self.dir.join(relative))? {
            let entry = entry?;
            let rel = relative.join(entry.file_name());
            let name = rel
                .to_string_lossy()
                .replace(std::path::MAIN_SEPARATOR, "/");
            let to = self.staging.join(&rel);
            if entry.file_type()?.is_dir() {
                fs::create_dir_all(&to)?;
                self.carry_over(&rel, remove_stale)?;
                continue;
            }
            // The old manifest never: it names the old run.
            if name == MANIFEST
                || self.names.contains(&name)
                || (remove_stale && is_report_file(&name))
            {
                continue;
            }
            if fs::hard_link(entry.path(), &to).is_err() {
                fs::copy(entry.path(), &to)?;
            }
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // After a commit the staging path is gone or holds the old report
        // (after an exchange), which `commit` removed already.
        let _ = fs::remove_dir_all(&self.staging);
    }
}

/// The lock file of one report directory, removed when dropped.
struct Lock {
    path: PathBuf,
}

impl Lock {
    fn acquire(path: PathBuf) -> io::Result<Lock> {
        let pid = std::process::id();
        // Two tries: the second after taking over a stale lock.
        for _ in 0..2 {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    let written = writeln!(file, "{pid}").and_then(|()| file.sync_all());
                    let lock = Lock { path };
                    written?;
                    return Ok(lock);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let holder = fs::read_to_string(&path)
                        .ok()
                        .and_then(|text| text.trim().parse::<u32>().ok());
                    // A lock without a process id is being written, or was
                    // left by a crash between its creation and its write.
                    let stale = match holder {
                        Some(holder) => holder != pid && !alive(holder),
                        None => fs::metadata(&path)
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|t| t.elapsed().ok())
                            .is_some_and(|age| age.as_secs() >= 10),
                    };
                    if stale {
                        match fs::remove_file(&path) {
                            Ok(()) => continue,
                            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                            Err(e) => return Err(e),
                        }
                    }
                    let who = holder.map_or_else(
                        || "another meshsim".to_string(),
                        |p| format!("another meshsim (process {p})"),
                    );
                    return Err(io::Error::new(
                        io::ErrorKind::ResourceBusy,
                        format!(
                            "{who} is writing this report: {} is held (if no meshsim is running, delete it)",
                            path.display()
                        ),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::ResourceBusy,
            format!("{} keeps being taken by another meshsim", path.display()),
        ))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Only our own: a lock taken over by another run after ours was
        // judged stale is theirs.
        let ours = fs::read_to_string(&self.path)
            .is_ok_and(|text| text.trim() == std::process::id().to_string());
        if ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Whether process `pid` exists. Only Linux can tell (`/proc/PID`); elsewhere
/// every process is assumed alive, so nothing of another run is touched.
fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// Removes the staging and old directories of report `name` left in
/// `parent` by dead processes. Called with the lock held.
fn sweep(parent: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let prefixes = [format!(".{name}.partial-"), format!(".{name}.old-")];
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let pid = prefixes
            .iter()
            .find_map(|prefix| file_name.strip_prefix(prefix.as_str()))
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !alive(pid)
        {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Puts `staging` in place of `target`; returns where the old target now
/// is, to be removed, if there was one.
fn swap(staging: &Path, target: &Path) -> io::Result<Option<PathBuf>> {
    if !target.exists() {
        fs::rename(staging, target)?;
        return Ok(None);
    }
    #[cfg(target_os = "linux")]
    match exchange(staging, target) {
        // The old report is now where the staging directory was.
        Ok(()) => return Ok(Some(staging.to_path_buf())),
        // No exchange on this kernel or file system: the portable way.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {}
        Err(e) => return Err(e),
    }
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let old = target.with_file_name(format!(".{name}.old-{}", std::process::id()));
    let _ = fs::remove_dir_all(&old);
    fs::rename(target, &old)?;
    if let Err(e) = fs::rename(staging, target) {
        // Put the old report back.
        let _ = fs::rename(&old, target);
        return Err(e);
    }
    Ok(Some(old))
}

/// Exchanges two paths atomically (`renameat2` with `RENAME_EXCHANGE`).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both paths are valid NUL-terminated strings that outlive the
    // call; the system call only reads them. Called through `syscall` so
    // that a C library without the wrapper (glibc < 2.28) works too.
    let result = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether a swap failed because the target is a mount point (or otherwise
/// on another file system than its parent).
fn at_mount_point(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::CrossesDevices | io::ErrorKind::ResourceBusy
    )
}

fn remove_if_there(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Best effort: makes a directory's entries durable.
fn sync_dir(dir: &Path) {
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
}

/// The manifest of the files `names` in `dir`: each with its size and its
/// FNV-1a 64-bit hash, and the run's identity (the hash of them all), as
/// JSON with the files in name order.
fn manifest(dir: &Path, names: &[String]) -> io::Result<Vec<u8>> {
    let mut names: Vec<&String> = names.iter().collect();
    names.sort();
    let mut files = Vec::new();
    let mut run = Fnv::new();
    for name in names {
        let bytes = fs::read(dir.join(name))?;
        let mut hash = Fnv::new();
        hash.write(&bytes);
        run.write(name.as_bytes());
        run.write(&hash.0.to_le_bytes());
        files.push(serde_json::json!({
            "name": name,
            "bytes": bytes.len(),
            "fnv1a64": format!("{:016x}", hash.0),
        }));
    }
    let manifest = serde_json::json!({
        "format": 1,
        "run": format!("{:016x}", run.0),
        "files": files,
    });
    let mut text = serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?;
    text.push(b'\n');
    Ok(text)
}

/// FNV-1a, 64 bits: a fixed, dependency-free content hash for the manifest
/// and for a shard's fingerprint (`experiment::shard`): not a defence
/// against tampering, a check against mixing.
#[derive(Clone, Debug)]
pub struct Fnv(u64);

impl Fnv {
    /// The hash of nothing (FNV's offset basis).
    pub fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    /// Adds `bytes`.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv::new()
    }
}

#[cfg(test)]
mod tests;
