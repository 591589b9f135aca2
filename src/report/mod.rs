//! Reports of a run: `summary.json`, `timeseries.csv`, the printed table, and
//! (with the charts feature of the report issue) pictures. Everything written
//! to files depends only on (scenario, seed).

pub mod charts;
pub mod html;
pub mod output;
pub mod summary;
pub mod table;
pub mod timeseries;

pub use summary::Summary;

use crate::scenario::Scenario;
use crate::world::RunOutcome;

/// The reproducible files of a run, by name: `summary.json`,
/// `timeseries.csv` and, when a policy has a circuit breaker, `breakers.csv`.
pub fn files(scenario: &Scenario, seed: u64, run: &RunOutcome) -> (Summary, output::Files) {
    let summary = Summary::new(scenario, seed, run);
    let mut files = vec![
        ("summary.json".to_string(), summary.to_json().into_bytes()),
        (
            "timeseries.csv".to_string(),
            timeseries::to_csv(run).into_bytes(),
        ),
    ];
    if run.edges.iter().any(|e| e.has_breaker) {
        files.push((
            "breakers.csv".to_string(),
            timeseries::breakers_csv(run).into_bytes(),
        ));
    }
    (summary, files)
}
