//! The `meshsim` command line: run, validate, compare, explore and describe
//! scenarios (`compare`'s own glue is in `meshsim::experiment::command`,
//! `merge`'s in `meshsim::experiment::merge`, `explore`'s in
//! `meshsim::explore::command`).
//!
//! Exit codes, one table for every command (see [`EXIT_CODES`]): 0 success;
//! 1 a check failed (an invariant was violated, and the run stopped there;
//! or a requirement of the scenario was not met);
//! 2 bad input or usage, or an output that cannot be written; 3 the run did
//! not complete (it hit its event budget, or virtual time froze) or cannot
//! start (its world could need more memory than `--max-memory`).
//!
//! Nothing here panics on output: everything is printed through [`Console`],
//! whose writes return errors instead of panicking as `println!` does. A
//! closed pipe (`meshsim run ... | head -1`) ends the printing quietly and
//! leaves the exit code as the command made it (0 after a good run, as
//! `yes | head` ends without a message): the report is written before
//! anything is printed, so nothing is lost but the text the reader did not
//! want. Any other output error (a full disk: `>/dev/full`) is reported on
//! stderr, if stderr still works, and the exit code becomes 2.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use meshsim::report;
use meshsim::scenario::{self, Compiled};
use meshsim::world;

/// The exit codes of every command, printed by `--help`.
const EXIT_CODES: &str = "Exit codes:
  0  success
  1  a check failed: an invariant was violated (the run stops there), or
     the run did not meet one of the scenario's requirements; for
     explore, some seed broke a property
  2  bad input or usage, or an output that cannot be written
  3  the run did not complete (event budget exhausted, or time froze), or
     cannot start: its world could need more memory than --max-memory

Scenario format, outputs and limits: docs/scenarios.md";

/// Exit code 2: bad input or usage, or an output that cannot be written.
const BAD_INPUT: u8 = 2;
/// Exit code 1: a check failed (an invariant was violated, or a
/// requirement was not met).
const CHECK_FAILED: u8 = 1;
/// Exit code 3: the run did not complete.
const INCOMPLETE: u8 = 3;

#[derive(Parser)]
#[command(
    name = "meshsim",
    version,
    about = "A deterministic discrete-event simulator for microservice systems",
    long_about = "meshsim simulates services, networks, workloads and faults in virtual time. \
                  The same scenario and seed give byte-identical results on every machine.",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and write its report: summary.json, the time series
    /// (series/*.csv), breakers.csv (when there are breakers), the charts and
    /// index.html.
    #[command(after_help = EXIT_CODES)]
    Run {
        /// The scenario file (JSON), or `-` for standard input.
        scenario: PathBuf,
        /// Override the scenario's seed (a whole number, 0 to 18446744073709551615).
        #[arg(long, allow_negative_numbers = true, value_parser = parse_seed)]
        seed: Option<u64>,
        /// Where to write the report [default: reports/<scenario name>/].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Stop after this many events (the run is then marked incomplete).
        #[arg(long)]
        event_budget: Option<u64>,
        /// Print only the wall-clock line, not the summary tables.
        #[arg(long, short)]
        quiet: bool,
        /// Skip the charts and index.html (summary.json and series/*.csv only).
        #[arg(long)]
        no_charts: bool,
        /// Treat warnings as errors: refuse to run a scenario that has any.
        #[arg(long)]
        deny_warnings: bool,
        /// Refuse a scenario whose world could need more memory than this
        /// (an estimate made before the run, printed when it is refused).
        #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = scenario::size::parse_bytes)]
        max_memory: u64,
        /// Run the scenario twice (on two threads) and compare the runs
        /// event by event instead of writing a report: exit 0 if every
        /// event is the same, 1 with the first that differs.
        #[arg(long, conflicts_with_all = ["out", "no_charts"])]
        check_determinism: bool,
    },
    /// Check a scenario and report every problem and warning found.
    Validate {
        /// The scenario file (JSON), or `-` for standard input.
        scenario: PathBuf,
        /// Treat warnings as errors (exit code 2).
        #[arg(long)]
        deny_warnings: bool,
        /// Refuse a scenario whose world could need more memory than this
        /// (exit code 3), as `run` would.
        #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = scenario::size::parse_bytes)]
        max_memory: u64,
    },
    /// Compare settings over seeds: run every variant of a scenario (each
    /// combination of the --vary values, or each file given) on the same K
    /// seeds, and write compare.csv, compare.md and index.html with 95%
    /// confidence intervals, paired differences against the first variant
    /// and charts [default directory: reports/<scenario name>/compare/].
    #[command(after_help = EXIT_CODES)]
    Compare {
        /// The scenario (varied with --vary or by its `compare` section), or
        /// several whole alternative files, the first the baseline.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// PATH=V1,V2,... sets a scenario field to each value in turn, e.g.
        /// policies.standard.retry.max_attempts=1,2,3, or PATH=[...] with a
        /// JSON array; a segment with dots is quoted, as in
        /// 'services."a.b".instances=1,2' (single quotes for the shell).
        /// Repeat it to vary several settings (every combination is run).
        #[arg(long, value_name = "PATH=VALUES")]
        vary: Vec<String>,
        /// Seeds per variant, 2 or more (seed i is the scenario's seed + i)
        /// [default: the `compare` section's, or 10].
        #[arg(long)]
        seeds: Option<u32>,
        /// Runs at once [default: the number of cores]; the files written
        /// are the same for any number.
        #[arg(long)]
        jobs: Option<usize>,
        /// Where to write the comparison [default: reports/<scenario name>/compare/].
        #[arg(long)]
        out: Option<PathBuf>,
        /// No table and no progress bar: only the line of what was written.
        #[arg(long, short)]
        quiet: bool,
        /// Treat warnings as errors: refuse a variant that has any.
        #[arg(long)]
        deny_warnings: bool,
        /// Refuse a comparison whose worlds run at once could need more
        /// memory than this (--jobs of them).
        #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = scenario::size::parse_bytes)]
        max_memory: u64,
        /// Run only the I-th of N slices of the runs (1-based; run i, which
        /// is variant × seeds + seed number, is in slice i % N + 1) and
        /// write shard.json for `meshsim merge` instead of the report
        /// [default directory: reports/<scenario name>/compare/shard-I-of-N/].
        #[arg(long, value_name = "I/N", value_parser = meshsim::experiment::shard::Shard::parse)]
        shard: Option<meshsim::experiment::shard::Shard>,
    },
    /// Merge the shard.json files of `compare --shard I/N` run on many
    /// machines into the report the unsharded compare writes (the same
    /// files, table and exit code) [default directory:
    /// reports/<scenario name>/compare/].
    #[command(after_help = EXIT_CODES)]
    Merge {
        /// Every shard's directory (or its shard.json), one per slice.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Where to write the comparison [default: reports/<scenario name>/compare/].
        #[arg(long)]
        out: Option<PathBuf>,
        /// No table: only the line of what was written.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Replay one seed of a scenario and write a trace of its requests in
    /// the Chrome trace-event format (open it in https://ui.perfetto.dev or
    /// chrome://tracing): a span per call, attempt and server per hop,
    /// retries and hedges linked to the attempts they follow, refusals as
    /// instants, faults on their own track and each failed request linked
    /// to the faults active while it ran that touch it. Without a filter a
    /// long run's trace is a sample of --limit requests, and says so. A
    /// saga a request started is in its trace, with its calls; work no
    /// client request asked for (publishes, broker deliveries, health
    /// checks) is not.
    #[command(after_help = EXIT_CODES)]
    Replay {
        /// The scenario file (JSON), or `-` for standard input.
        scenario: PathBuf,
        /// The seed to replay [default: the scenario's].
        #[arg(long, allow_negative_numbers = true, value_parser = parse_seed)]
        seed: Option<u64>,
        /// Where to write the trace (JSON).
        #[arg(long, value_name = "FILE")]
        trace: PathBuf,
        /// Only the requests of this route (by name).
        #[arg(long)]
        route: Option<String>,
        /// Only requests still running at or after this time (e.g. 10s).
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Only requests sent at or before this time (e.g. 20s).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// Only the requests that failed.
        #[arg(long)]
        failed: bool,
        /// Only the request with this id (ids are in the trace's process
        /// names: `request #ID`).
        #[arg(long, value_name = "ID")]
        request: Option<u64>,
        /// Keep at most this many requests (a uniform sample by a hash of
        /// their id when more match), 1 to 100000.
        #[arg(long, default_value_t = world::trace::DEFAULT_TRACE_LIMIT)]
        limit: usize,
        /// Stop after this many events.
        #[arg(long)]
        event_budget: Option<u64>,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
        /// Refuse a scenario whose world could need more memory than this.
        #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = scenario::size::parse_bytes)]
        max_memory: u64,
    },
    /// Find the seed that breaks a design: run many seeds, each with random
    /// faults drawn on top of the scenario's own (within its `explore`
    /// section's bounds), check the safety properties (saga outcomes,
    /// conservation, credentials, lost and duplicated events, dead-lettered
    /// sagas) and, after the faults heal, liveness (recovery within a
    /// bound, every saga ended); write each property's first failing seed
    /// as a scenario file with the command that replays it
    /// [default directory: reports/<scenario name>/explore/].
    #[command(after_help = EXIT_CODES)]
    Explore(meshsim::explore::command::Args),
    /// Print the JSON Schema of scenario files (for editors).
    Schema,
}

/// stdout and stderr, written through `io::Write`, so an error is a value and
/// never a panic. The first error on a stream is kept and later writes to
/// that stream are skipped; [`Console::finish`] turns the errors into the
/// exit code.
struct Console {
    stdout_error: Option<io::Error>,
    stderr_error: Option<io::Error>,
}

impl Console {
    fn new() -> Console {
        Console {
            stdout_error: None,
            stderr_error: None,
        }
    }

    /// Prints `text` to stdout (flushed at once: a line may be all a reader
    /// wants, and an error should be seen where it happens).
    fn out(&mut self, text: &str) {
        if self.stdout_error.is_none() {
            let mut stdout = io::stdout().lock();
            if let Err(e) = stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
            {
                self.stdout_error = Some(e);
            }
        }
    }

    /// Prints `text` to stderr.
    fn err(&mut self, text: &str) {
        if self.stderr_error.is_none() {
            let mut stderr = io::stderr().lock();
            if let Err(e) = stderr
                .write_all(text.as_bytes())
                .and_then(|()| stderr.flush())
            {
                self.stderr_error = Some(e);
            }
        }
    }

    /// The exit code of a command that would exit with `code`: a broken
    /// pipe changes nothing (the reader left; see the module doc); any other
    /// output error is reported on stderr if it works and makes a success
    /// exit with 2 (a failing command keeps its own code).
    fn finish(mut self, code: u8) -> ExitCode {
        let mut failed = false;
        if let Some(e) = self.stdout_error.take()
            && e.kind() != io::ErrorKind::BrokenPipe
        {
            self.err(&format!("error: cannot write to stdout: {e}\n"));
            failed = true;
        }
        if let Some(e) = &self.stderr_error
            && e.kind() != io::ErrorKind::BrokenPipe
        {
            failed = true;
        }
        ExitCode::from(if failed && code == 0 { BAD_INPUT } else { code })
    }
}

impl meshsim::experiment::command::Sink for Console {
    fn out(&mut self, text: &str) {
        Console::out(self, text);
    }

    fn err(&mut self, text: &str) {
        Console::err(self, text);
    }
}

fn main() -> ExitCode {
    let mut console = Console::new();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help, version and usage errors; clap's own printing returns
            // its error, which counts as an error on that stream.
            let code = u8::try_from(e.exit_code()).unwrap_or(BAD_INPUT);
            if let Err(error) = e.print() {
                if e.use_stderr() {
                    console.stderr_error = Some(error);
                } else {
                    console.stdout_error = Some(error);
                }
            }
            return console.finish(code);
        }
    };
    let code = match cli.command {
        Command::Run {
            scenario,
            seed,
            out,
            event_budget,
            quiet,
            no_charts,
            deny_warnings,
            max_memory,
            check_determinism,
        } => run(
            &mut console,
            &scenario,
            seed,
            out,
            event_budget,
            quiet,
            !no_charts,
            (deny_warnings, max_memory, check_determinism),
        ),
        Command::Validate {
            scenario,
            deny_warnings,
            max_memory,
        } => match load(&mut console, &scenario, deny_warnings, max_memory) {
            Ok(compiled) => {
                let s = compiled.scenario();
                let n = compiled.warnings().len();
                let warnings = match n {
                    0 => String::new(),
                    1 => ", 1 warning".to_string(),
                    n => format!(", {n} warnings"),
                };
                console.out(&format!(
                    "{}: ok ({} services, {} routes, {} faults{warnings}; memory at most {})\n",
                    scenario.display(),
                    s.services.len(),
                    s.workload.routes.len(),
                    s.faults.len(),
                    scenario::size::bytes(scenario::size::estimate(&compiled).total())
                ));
                0
            }
            Err(code) => code,
        },
        Command::Compare {
            scenarios,
            vary,
            seeds,
            jobs,
            out,
            quiet,
            deny_warnings,
            max_memory,
            shard,
        } => meshsim::experiment::command::compare(
            meshsim::experiment::command::Args {
                scenarios,
                vary,
                seeds,
                jobs,
                out,
                quiet,
                deny_warnings,
                max_memory,
                shard,
            },
            &mut console,
        ),
        Command::Explore(args) => meshsim::explore::command::explore(&args, &mut console),
        Command::Replay {
            scenario,
            seed,
            trace,
            route,
            from,
            until,
            failed,
            request,
            limit,
            event_budget,
            deny_warnings,
            max_memory,
        } => match load(&mut console, &scenario, deny_warnings, max_memory) {
            Ok(compiled) => {
                let args = report::trace::command::Args {
                    seed,
                    trace,
                    route,
                    from,
                    until,
                    failed,
                    request,
                    limit,
                    event_budget,
                };
                report::trace::command::replay(&compiled, &args, &mut console)
            }
            Err(code) => code,
        },
        Command::Merge { shards, out, quiet } => meshsim::experiment::merge::merge(
            meshsim::experiment::merge::Args { shards, out, quiet },
            &mut console,
        ),
        Command::Schema => {
            let schema = scenario::json_schema();
            console.out(&format!(
                "{}\n",
                serde_json::to_string_pretty(&schema).expect("plain JSON")
            ));
            0
        }
    };
    console.finish(code)
}

/// A seed: clap's own message for `-1` would suggest `-- -1`, wrong here.
fn parse_seed(text: &str) -> Result<u64, String> {
    text.parse::<u64>().map_err(|_| {
        format!(
            "a seed is a whole number from 0 to {}, got `{text}`",
            u64::MAX
        )
    })
}

/// Loads and compiles a scenario, printing its problems or its warnings to
/// stderr. The exit code instead if it has problems, or warnings and
/// `deny_warnings` (2), or its world could need more than `max_memory` (3).
fn load(
    console: &mut Console,
    path: &std::path::Path,
    deny_warnings: bool,
    max_memory: u64,
) -> Result<Compiled, u8> {
    // `-` reads the scenario from standard input, as Unix tools do.
    let loaded = if path.as_os_str() == "-" {
        let mut text = String::new();
        match std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
            Ok(_) => scenario::parse(&text, "-"),
            Err(e) => {
                console.err(&format!("error: -: cannot read standard input: {e}\n"));
                return Err(BAD_INPUT);
            }
        }
    } else {
        scenario::load(path)
    };
    match loaded {
        Ok(compiled) => {
            let file = path.display().to_string();
            for warning in compiled.warnings() {
                console.err(&warning.render(&file));
            }
            let n = compiled.warnings().len();
            if deny_warnings && n > 0 {
                console.err(&format!(
                    "error: {file}: {n} warning{} denied by --deny-warnings\n",
                    if n == 1 { "" } else { "s" }
                ));
                return Err(BAD_INPUT);
            }
            let size = scenario::size::estimate(&compiled);
            if size.total() > max_memory {
                console.err(&format!(
                    "error: {file}: its world could need {size}, past the limit of {}\n  fix: {}\n",
                    scenario::size::bytes(max_memory),
                    size.fix(max_memory)
                ));
                return Err(INCOMPLETE);
            }
            Ok(compiled)
        }
        Err(e) => {
            console.err(&format!("error: {e}"));
            Err(BAD_INPUT)
        }
    }
}

/// The report's time-series files, written as the windows close. A write
/// error is printed at once and stops the run after that window (the
/// recorder's `failure`); no report is written.
struct Streaming<'c> {
    csv: report::timeseries::CsvRecorder<io::BufWriter<std::fs::File>>,
    console: &'c mut Console,
    dir: &'c std::path::Path,
    reported: bool,
}

impl meshsim::metrics::Recorder for Streaming<'_> {
    fn start(&mut self, names: &meshsim::metrics::SeriesNames) {
        self.csv.start(names);
    }

    fn window(&mut self, window: &meshsim::metrics::ClosedWindow) {
        self.csv.window(window);
        if !self.reported
            && let Some((name, e)) = self.csv.error()
        {
            self.reported = true;
            self.console.err(&format!(
                "error: cannot write {}: {e}; the run stops, and no report will be written\n",
                self.dir.join(name).display()
            ));
        }
    }

    fn failure(&self) -> Option<String> {
        self.csv
            .error()
            .map(|(name, e)| format!("cannot write {name}: {e}"))
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    console: &mut Console,
    path: &std::path::Path,
    seed: Option<u64>,
    out: Option<PathBuf>,
    event_budget: Option<u64>,
    quiet: bool,
    charts: bool,
    (deny_warnings, max_memory, check_determinism): (bool, u64, bool),
) -> u8 {
    let compiled = match load(console, path, deny_warnings, max_memory) {
        Ok(compiled) => compiled,
        Err(code) => return code,
    };
    let scenario = compiled.scenario();
    if event_budget == Some(0) {
        console.err("error: --event-budget must be at least 1\n");
        return BAD_INPUT;
    }
    let seed = seed.unwrap_or(scenario.seed);
    if check_determinism {
        use meshsim::experiment::determinism::{Check, check};
        return match check(&compiled, seed, event_budget) {
            Check::Identical { events } => {
                console.out(&format!(
                    "deterministic: scenario {}  seed {seed}  {events} events, the same in both runs\n",
                    scenario.name
                ));
                0
            }
            Check::Diverged(divergence) => {
                console.err(&format!(
                    "not deterministic: scenario {}  seed {seed}: {divergence}\n",
                    scenario.name
                ));
                CHECK_FAILED
            }
        };
    }
    // A report of another seed replacing the default directory's is worth a
    // note: the bundled scenarios' reports are committed, and tests compare
    // them with a run of the scenario's own seed.
    let replaces_own_seed = out.is_none() && seed != scenario.seed;
    let dir = out.unwrap_or_else(|| PathBuf::from("reports").join(&scenario.name));
    let replaces_own_seed = replaces_own_seed
        && std::fs::read_to_string(dir.join("summary.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|summary| summary.get("seed").and_then(serde_json::Value::as_u64))
            == Some(scenario.seed);
    let cannot_write = |console: &mut Console, e: std::io::Error| {
        console.err(&format!(
            "error: cannot write the report to {}: {e}\n",
            dir.display()
        ));
        BAD_INPUT
    };
    // Every file goes to a staging directory first, which replaces `dir`
    // whole when all are written: an error leaves `dir` as it was.
    let mut staging = match report::output::Staging::new(&dir) {
        Ok(staging) => staging,
        Err(e) => return cannot_write(console, e),
    };
    let mut writers = Vec::with_capacity(4);
    for file in report::timeseries::files_for(compiled.clients_declared()) {
        match staging.create(file.name) {
            Ok(f) => writers.push(io::BufWriter::new(f)),
            Err(e) => return cannot_write(console, e),
        }
    }
    let clients = (writers.len() > 3).then(|| writers.pop()).flatten();
    let [routes, services, edges] = <[_; 3]>::try_from(writers).expect("three files");
    let mut csv = report::timeseries::CsvRecorder::new(routes, services, edges);
    if let Some(clients) = clients {
        csv = csv.with_clients(clients);
    }
    if world::reports_instances(&compiled) {
        match staging.create(report::timeseries::INSTANCES.name) {
            Ok(f) => csv = csv.with_instances(io::BufWriter::new(f)),
            Err(e) => return cannot_write(console, e),
        }
        match staging.create(report::timeseries::BALANCE.name) {
            Ok(f) => csv = csv.with_balance(io::BufWriter::new(f)),
            Err(e) => return cannot_write(console, e),
        }
    }
    match staging.create(report::timeseries::STATUSES.name) {
        Ok(f) => csv = csv.with_statuses(io::BufWriter::new(f)),
        Err(e) => return cannot_write(console, e),
    }
    if report::timeseries::writes_autoscale(&compiled) {
        match staging.create(report::timeseries::AUTOSCALE.name) {
            Ok(f) => csv = csv.with_autoscale(io::BufWriter::new(f)),
            Err(e) => return cannot_write(console, e),
        }
    }
    if report::timeseries::writes_sagas(&compiled) {
        match staging.create(report::timeseries::SAGAS.name) {
            Ok(f) => csv = csv.with_sagas(io::BufWriter::new(f)),
            Err(e) => return cannot_write(console, e),
        }
    }
    if report::timeseries::writes_events(&compiled) {
        let names = report::timeseries::group_names(&compiled);
        match staging.create(report::timeseries::GROUPS.name) {
            Ok(f) => csv = csv.with_groups(io::BufWriter::new(f), names.clone()),
            Err(e) => return cannot_write(console, e),
        }
        match staging.create(report::timeseries::LAG.name) {
            Ok(f) => csv = csv.with_lag(io::BufWriter::new(f), names),
            Err(e) => return cannot_write(console, e),
        }
    }
    let mut streaming = Streaming {
        csv,
        console: &mut *console,
        dir: &dir,
        reported: false,
    };
    let mut judge = report::requirements::Judge::new(&compiled);
    // Wall-clock time is measured here, in the CLI only, and printed to
    // stdout; it never reaches a report file.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let outcome = world::run_streaming(
        &compiled,
        seed,
        event_budget,
        &mut (&mut streaming, &mut judge),
    );
    let wall = started.elapsed().as_secs_f64();
    let Streaming { csv, reported, .. } = streaming;
    if let Err((_, e)) = csv.finish() {
        if reported {
            return BAD_INPUT;
        }
        return cannot_write(console, e);
    }
    let (summary, mut files) = report::judged_files(&compiled, seed, &outcome, &mut judge);
    if charts {
        let pictures = match report::charts::render(&outcome, scenario) {
            Ok(pictures) => pictures,
            Err(e) => {
                console.err(&format!("error: cannot render the charts: {e}\n"));
                return BAD_INPUT;
            }
        };
        let mut command = report::html::reproduce_command(&path.display().to_string(), seed);
        if let Some(budget) = event_budget {
            command.push_str(&format!(" --event-budget {budget}"));
        }
        let html = report::html::page(&summary, scenario, &command, &pictures);
        files.extend(pictures);
        files.push(("index.html".to_string(), html.into_bytes()));
    }
    for (name, bytes) in &files {
        if let Err(e) = staging.write(name, bytes) {
            return cannot_write(console, e);
        }
    }
    let written = staging.names().len();
    if let Err(e) = staging.commit(true) {
        return cannot_write(console, e);
    }
    if !quiet {
        console.out(&format!("{}\n", report::table::render(&summary)));
    }
    console.out(&format!(
        "wrote {} files to {}/  ({:.3}s wall clock, {:.2}M events/s)\n",
        written,
        dir.display(),
        wall,
        outcome.events as f64 / wall.max(1e-9) / 1e6
    ));
    // The verdicts: all in the table; with --quiet the count only. Failures
    // go to stderr whatever the flags, each with its window and value.
    let failed: Vec<_> = summary.requirements.iter().filter(|r| !r.passed).collect();
    if quiet && !summary.requirements.is_empty() {
        console.out(&format!(
            "requirements: {} of {} met\n",
            summary.requirements.len() - failed.len(),
            summary.requirements.len()
        ));
    }
    for r in &failed {
        console.err(&format!(
            "error: requirement failed: {}: {}\n",
            if r.name == r.requirement {
                r.requirement.clone()
            } else {
                format!("{} ({})", r.name, r.requirement)
            },
            r.detail
        ));
    }
    if replaces_own_seed {
        console.out(&format!(
            "note: this replaced the report of the scenario's own seed {} in {}/ with one of --seed {seed}; `{}` puts it back (for a bundled scenario, so does `git checkout {}`)\n",
            scenario.seed,
            dir.display(),
            report::html::reproduce_command(&path.display().to_string(), scenario.seed),
            dir.display()
        ));
    }
    if !summary.completed {
        let message = match &outcome.stop_cause {
            Some(cause) => format!(
                "error: the run stopped at {:.6}s of {:.3}s: {}: {}: results are incomplete\n",
                cause.at.as_secs_f64(),
                scenario.duration.as_secs_f64(),
                cause.entity,
                cause.cause
            ),
            None => format!(
                "error: the run stopped at its event budget ({} events) at {:.3}s of {:.3}s: results are incomplete; raise event_budget or --event-budget\n",
                outcome.events,
                outcome.end.as_secs_f64(),
                scenario.duration.as_secs_f64()
            ),
        };
        console.err(&message);
        return if outcome.stop == meshsim::kernel::StopReason::Stopped {
            CHECK_FAILED
        } else {
            INCOMPLETE
        };
    }
    if !failed.is_empty() {
        return CHECK_FAILED;
    }
    0
}
