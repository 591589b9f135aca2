//! Reports of a run: `summary.json`, the time series `series/routes.csv`,
//! `series/services.csv` and `series/edges.csv` (streamed while the run goes
//! on), `breakers.csv`, the printed table, the charts and `index.html`.
//! Everything written to files depends only on (scenario, seed).

pub mod charts;
pub mod html;
pub mod output;
pub mod summary;
pub mod table;
pub mod timeseries;

pub use summary::Summary;

use crate::scenario::Compiled;
use crate::world::RunOutcome;

/// The reproducible files of a run made after it, by name: `summary.json`
/// and, when a policy has a circuit breaker, `breakers.csv`.
/// (The time series is streamed during the run: see
/// [`timeseries::CsvRecorder`] and [`crate::world::run_streaming`].)
pub fn files(compiled: &Compiled, seed: u64, run: &RunOutcome) -> (Summary, output::Files) {
    let summary = Summary::new(compiled, seed, run);
    let mut files = vec![("summary.json".to_string(), summary.to_json().into_bytes())];
    if run.edges.iter().any(|e| e.has_breaker) {
        files.push((
            "breakers.csv".to_string(),
            timeseries::breakers_csv(run).into_bytes(),
        ));
    }
    (summary, files)
}
