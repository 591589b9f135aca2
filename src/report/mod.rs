//! Reports of a run: `summary.json`, the time series `series/routes.csv`,
//! `series/services.csv` and `series/edges.csv` (streamed while the run goes
//! on), `breakers.csv`, the printed table, the charts and `index.html`.
//! Everything written to files depends only on (scenario, seed).

pub mod charts;
pub mod html;
pub mod output;
pub mod requirements;
pub mod summary;
pub mod table;
pub mod timeseries;
pub mod trace;

pub use summary::Summary;

use crate::scenario::Compiled;
use crate::world::RunOutcome;

/// The reproducible files of a run made after it, by name: `summary.json`
/// and, when a policy has a circuit breaker, `breakers.csv`.
/// (The time series is streamed during the run: see
/// [`timeseries::CsvRecorder`] and [`crate::world::run_streaming`].)
///
/// The verdicts on the scenario's requirements are left out: they need the
/// windows as they closed, and [`judged_files`] takes them from a
/// [`requirements::Judge`] that recorded the run.
pub fn files(compiled: &Compiled, seed: u64, run: &RunOutcome) -> (Summary, output::Files) {
    summary_files(Summary::new(compiled, seed, run), run)
}

/// As [`files`], with the verdicts of `judge` (handed to the world as a
/// recorder of this run) on the scenario's requirements in summary.json.
pub fn judged_files(
    compiled: &Compiled,
    seed: u64,
    run: &RunOutcome,
    judge: &mut requirements::Judge,
) -> (Summary, output::Files) {
    let mut summary = Summary::new(compiled, seed, run);
    summary.requirements = judge.verdicts(compiled, &summary);
    summary_files(summary, run)
}

fn summary_files(summary: Summary, run: &RunOutcome) -> (Summary, output::Files) {
    let mut files = vec![("summary.json".to_string(), summary.to_json().into_bytes())];
    if run.edges.iter().any(|e| e.has_breaker) {
        files.push((
            "breakers.csv".to_string(),
            timeseries::breakers_csv(run).into_bytes(),
        ));
    }
    (summary, files)
}
