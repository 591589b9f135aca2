//! The `meshsim replay SCENARIO --seed N --trace FILE` command, from its
//! arguments to its exit code: the filter made from the flags (every
//! problem reported before anything runs), one traced run, the trace
//! written whole (a temporary file in the same directory, renamed into
//! place: never half a file), and a line saying what it kept.
//!
//! The CLI (src/main.rs) loads the scenario, parses the flags and hands
//! over a [`Sink`] for stdout and stderr; exit codes are the CLI's: 2 bad
//! input or an output that cannot be written, 3 a run that did not
//! complete (the trace is still written: it shows where the run stopped).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::experiment::command::Sink;
use crate::kernel::{SimDuration, SimTime};
use crate::scenario::Compiled;
use crate::world::trace::{MAX_TRACE_LIMIT, TraceFilter, run_traced};

/// Exit code 2: bad input or usage, or an output that cannot be written.
const BAD_INPUT: u8 = 2;
/// Exit code 3: the run did not complete.
const INCOMPLETE: u8 = 3;
/// Exit code 1: the run stopped at a violated invariant.
const CHECK_FAILED: u8 = 1;

/// The arguments of `meshsim replay`.
pub struct Args {
    /// The seed (default: the scenario's).
    pub seed: Option<u64>,
    /// Where the trace goes.
    pub trace: PathBuf,
    /// Only this route's requests (by name).
    pub route: Option<String>,
    /// Only requests still running at or after this time (`"10s"`).
    pub from: Option<String>,
    /// Only requests sent at or before this time.
    pub until: Option<String>,
    /// Only failed requests.
    pub failed: bool,
    /// Only this request.
    pub request: Option<u64>,
    /// At most this many requests.
    pub limit: usize,
    /// Stop after this many events.
    pub event_budget: Option<u64>,
}

fn time(flag: &str, text: &str) -> Result<SimTime, String> {
    serde_json::from_value::<SimDuration>(serde_json::Value::String(text.to_string()))
        .map(|d| SimTime::ZERO + d)
        .map_err(|_| {
            format!(
                "error: {flag} {text}: expected a time since the start of the run, such as 10s, 1.5s or 250ms"
            )
        })
}

/// The filter the flags ask for, checked against `compiled`.
pub fn filter(compiled: &Compiled, args: &Args) -> Result<TraceFilter, String> {
    let scenario = compiled.scenario();
    let route = match &args.route {
        None => None,
        Some(name) => {
            let names: Vec<String> = scenario
                .workload
                .routes
                .iter()
                .map(|r| r.name().to_string())
                .collect();
            match names.iter().position(|n| n == name) {
                Some(i) => Some(i as u32),
                None => {
                    return Err(format!(
                        "error: --route {name}: the scenario has no such route; its routes: {}",
                        names.join(", ")
                    ));
                }
            }
        }
    };
    let from = args
        .from
        .as_deref()
        .map(|t| time("--from", t))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|t| time("--until", t))
        .transpose()?;
    if let (Some(f), Some(u)) = (from, until)
        && f > u
    {
        return Err(format!(
            "error: --from {} is after --until {}: the window is empty",
            args.from.as_deref().unwrap_or_default(),
            args.until.as_deref().unwrap_or_default()
        ));
    }
    if args.limit == 0 || args.limit > MAX_TRACE_LIMIT {
        return Err(format!(
            "error: --limit {}: a trace keeps 1 to {MAX_TRACE_LIMIT} requests",
            args.limit
        ));
    }
    Ok(TraceFilter {
        route,
        from,
        until,
        failed_only: args.failed,
        request: args.request,
        limit: args.limit,
    })
}

/// Writes `bytes` to `path` whole: a temporary file beside it, synced,
/// then renamed over it.
fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Runs `meshsim replay` on `compiled`; the exit code.
pub fn replay(compiled: &Compiled, args: &Args, sink: &mut dyn Sink) -> u8 {
    let filter = match filter(compiled, args) {
        Ok(f) => f,
        Err(message) => {
            sink.err(&format!("{message}\n"));
            return BAD_INPUT;
        }
    };
    let seed = args.seed.unwrap_or(compiled.scenario().seed);
    let (outcome, trace) = run_traced(compiled, seed, args.event_budget, filter);
    let json = super::chrome_json(compiled, seed, &outcome, &trace);
    if let Err(e) = write_whole(&args.trace, json.as_bytes()) {
        sink.err(&format!(
            "error: cannot write the trace to {}: {e}\n",
            args.trace.display()
        ));
        return BAD_INPUT;
    }
    let c = &trace.counts;
    let spans: usize = trace.requests.iter().map(|r| r.spans.len()).sum();
    sink.out(&format!(
        "wrote {}: {} request{} ({spans} spans) of {} that matched, of {} sent; open it in https://ui.perfetto.dev or chrome://tracing\n",
        args.trace.display(),
        c.kept,
        if c.kept == 1 { "" } else { "s" },
        c.matched,
        c.requests,
    ));
    if c.sampled_out > 0 {
        sink.err(&format!(
            "note: the trace is a sample: {} of the {} requests that matched (at most --limit {}, chosen by a hash of their id); narrow it with --route, --from, --until, --failed or --request, or raise --limit\n",
            c.kept, c.matched, trace.filter.limit
        ));
    }
    if c.spans_dropped > 0 {
        sink.err(&format!(
            "note: {} spans past {} in one request were left out\n",
            c.spans_dropped,
            crate::world::trace::MAX_SPANS_PER_REQUEST
        ));
    }
    if !outcome.stop.completed() {
        let why = match &outcome.stop_cause {
            Some(cause) => format!("{}: {}", cause.entity, cause.cause),
            None => format!("its event budget ({} events)", outcome.events),
        };
        sink.err(&format!(
            "error: the run stopped at {:.6}s of {:.3}s: {why}; the trace shows it up to there\n",
            outcome.end.as_secs_f64(),
            compiled.scenario().duration.as_secs_f64()
        ));
        return if outcome.stop == crate::kernel::StopReason::Stopped {
            CHECK_FAILED
        } else {
            INCOMPLETE
        };
    }
    0
}
