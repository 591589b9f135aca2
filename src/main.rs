//! The `meshsim` command line: run, validate and describe scenarios.
//!
//! Exit codes: 0 success; 1 the run did not complete (it hit its event
//! budget); 2 bad input or usage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use meshsim::report;
use meshsim::scenario::{self, Compiled};
use meshsim::world;

#[derive(Parser)]
#[command(
    name = "meshsim",
    version,
    about = "A deterministic discrete-event simulator for microservice systems",
    long_about = "meshsim simulates services, networks, workloads and faults in virtual time. \
                  The same scenario and seed give byte-identical results on every machine."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and write summary.json and timeseries.csv.
    Run {
        /// The scenario file (JSON).
        scenario: PathBuf,
        /// Override the scenario's seed.
        #[arg(long)]
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
        /// Skip the charts and index.html (summary.json and timeseries.csv only).
        #[arg(long)]
        no_charts: bool,
        /// Treat warnings as errors: refuse to run a scenario that has any.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Check a scenario and report every problem and warning found.
    Validate {
        /// The scenario file (JSON).
        scenario: PathBuf,
        /// Treat warnings as errors (exit code 2).
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Print the JSON Schema of scenario files (for editors).
    Schema,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            scenario,
            seed,
            out,
            event_budget,
            quiet,
            no_charts,
            deny_warnings,
        } => run(
            &scenario,
            seed,
            out,
            event_budget,
            quiet,
            !no_charts,
            deny_warnings,
        ),
        Command::Validate {
            scenario,
            deny_warnings,
        } => match load(&scenario, deny_warnings) {
            Some(compiled) => {
                let s = compiled.scenario();
                let n = compiled.warnings().len();
                let warnings = match n {
                    0 => String::new(),
                    1 => ", 1 warning".to_string(),
                    n => format!(", {n} warnings"),
                };
                println!(
                    "{}: ok ({} services, {} routes, {} faults{warnings})",
                    scenario.display(),
                    s.services.len(),
                    s.workload.routes.len(),
                    s.faults.len()
                );
                ExitCode::SUCCESS
            }
            None => ExitCode::from(2),
        },
        Command::Schema => {
            let schema = scenario::json_schema();
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).expect("plain JSON")
            );
            ExitCode::SUCCESS
        }
    }
}

/// Loads and compiles a scenario, printing its problems or its warnings to
/// stderr; `None` if it has problems, or warnings and `deny_warnings`.
fn load(path: &std::path::Path, deny_warnings: bool) -> Option<Compiled> {
    match scenario::load(path) {
        Ok(compiled) => {
            let file = path.display().to_string();
            for warning in compiled.warnings() {
                eprint!("{}", warning.render(&file));
            }
            let n = compiled.warnings().len();
            if deny_warnings && n > 0 {
                eprintln!(
                    "error: {file}: {n} warning{} denied by --deny-warnings",
                    if n == 1 { "" } else { "s" }
                );
                return None;
            }
            Some(compiled)
        }
        Err(e) => {
            eprint!("error: {e}");
            None
        }
    }
}

fn run(
    path: &std::path::Path,
    seed: Option<u64>,
    out: Option<PathBuf>,
    event_budget: Option<u64>,
    quiet: bool,
    charts: bool,
    deny_warnings: bool,
) -> ExitCode {
    let Some(compiled) = load(path, deny_warnings) else {
        return ExitCode::from(2);
    };
    let scenario = compiled.scenario();
    if event_budget == Some(0) {
        eprintln!("error: --event-budget must be at least 1");
        return ExitCode::from(2);
    }
    let seed = seed.unwrap_or(scenario.seed);
    let dir = out.unwrap_or_else(|| PathBuf::from("reports").join(&scenario.name));
    let cannot_write = |e: std::io::Error| {
        eprintln!("error: cannot write the report to {}: {e}", dir.display());
        ExitCode::from(2)
    };
    // Every file goes to a temporary directory first and is renamed into
    // place only when all are written: an error leaves `dir` as it was.
    let mut staging = match report::output::Staging::new(&dir) {
        Ok(staging) => staging,
        Err(e) => return cannot_write(e),
    };
    let series = match staging.create("timeseries.csv") {
        Ok(file) => file,
        Err(e) => return cannot_write(e),
    };
    let mut csv = report::timeseries::CsvStream::new(std::io::BufWriter::new(series));
    // Wall-clock time is measured here, in the CLI only, and printed to
    // stdout; it never reaches a report file.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let outcome = world::run_streaming(&compiled, seed, event_budget, &mut |name, row| {
        csv.row(name, row)
    });
    let wall = started.elapsed().as_secs_f64();
    if let Err(e) = csv.finish() {
        return cannot_write(e);
    }
    let (summary, mut files) = report::files(&compiled, seed, &outcome);
    if charts {
        let pictures = match report::charts::render(&outcome) {
            Ok(pictures) => pictures,
            Err(e) => {
                eprintln!("error: cannot render the charts: {e}");
                return ExitCode::from(2);
            }
        };
        let names: Vec<String> = pictures.iter().map(|(name, _)| name.clone()).collect();
        let mut command = report::html::reproduce_command(&path.display().to_string(), seed);
        if let Some(budget) = event_budget {
            command.push_str(&format!(" --event-budget {budget}"));
        }
        let html = report::html::index(&summary, &scenario.description, &command, &names);
        files.extend(pictures);
        files.push(("index.html".to_string(), html.into_bytes()));
    }
    for (name, bytes) in &files {
        if let Err(e) = staging.write(name, bytes) {
            return cannot_write(e);
        }
    }
    let written = staging.names().len();
    if let Err(e) = staging.commit(true) {
        return cannot_write(e);
    }
    if !quiet {
        print!("{}", report::table::render(&summary));
        println!();
    }
    println!(
        "wrote {} files to {}/  ({:.3}s wall clock, {:.2}M events/s)",
        written,
        dir.display(),
        wall,
        outcome.events as f64 / wall.max(1e-9) / 1e6
    );
    if !summary.completed {
        eprintln!(
            "error: the run stopped at its event budget ({} events) at {:.3}s of {:.3}s: results are incomplete; raise event_budget or --event-budget",
            outcome.events,
            outcome.end.as_secs_f64(),
            scenario.duration.as_secs_f64()
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
