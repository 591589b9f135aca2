//! Experiments over many runs: `meshsim compare`, which runs variants of a
//! scenario (settings changed by path, or whole alternative files) on the
//! same K seeds and says, with 95% confidence intervals, which is better.
//!
//! The layer sits above `report` (a run's [`crate::report::Summary`] is what
//! its metrics are read from) and below the CLI. Pieces: `vary.rs` sets a
//! field of a scenario's JSON by path; `runs.rs` runs every variant on every
//! seed in parallel and keeps only each run's metrics; `metrics.rs` is the
//! table of key metrics; `stats.rs` the means, Student-t intervals, paired
//! and Welch differences; `analysis.rs` the conclusions; `write.rs` the
//! files (compare.csv, compare.md, index.html) and the printed table;
//! `charts.rs` the SVG charts; `command.rs` the `compare` command itself
//! (variants made and loaded, runs, report, printing). Beside it,
//! `determinism.rs`: `run --check-determinism`, two runs of one seed
//! compared event by event. For a comparison spread over many machines:
//! `shard.rs`, the slicing of a command's runs (`--shard I/N`, striped by
//! run index) and the fingerprint of what was computed, meant for any
//! command made of independent runs; `shard_file.rs`, shard.json (a slice's
//! rows, every value's exact bits); `merge.rs`, `meshsim merge`, which
//! checks the shards belong together and writes the unsharded report.
//!
//! **Architecture Invariant:** everything written depends only on the
//! variants, the seeds and the metrics: results are stored by (variant,
//! seed) index, never in the order runs finish, so any number of threads
//! gives the same bytes; wall-clock figures reach only stdout.

pub mod analysis;
pub mod charts;
pub mod command;
pub mod determinism;
pub mod merge;
pub mod metrics;
pub mod runs;
pub mod shard;
pub mod shard_file;
pub mod stats;
pub mod vary;
pub mod write;

pub use analysis::{MetricAnalysis, analyse};
pub use runs::{Results, RunRow, Variant, run_all};

/// A finished comparison: what ran and what it found.
pub struct Comparison {
    /// The baseline scenario's name.
    pub scenario: String,
    /// The variants' names; the first is the baseline.
    pub names: Vec<String>,
    /// The seeds, the same for every variant.
    pub seeds: Vec<u64>,
    /// Every run's metrics.
    pub results: Results,
    /// Per metric of [`metrics::METRICS`], the statistics.
    pub analysis: Vec<MetricAnalysis>,
    /// The command that reproduces it.
    pub command: String,
    /// Per variant, the names of its scenario's requirements (what the
    /// indices of [`RunRow::failed_requirements`] point to); empty when
    /// they are not known (a report rebuilt from compare.csv alone).
    pub requirements: Vec<Vec<String>>,
}

impl Comparison {
    /// Analyses `results` (`names.len()` variants × `seeds.len()` seeds, two
    /// seeds or more).
    pub fn new(
        scenario: String,
        names: Vec<String>,
        seeds: Vec<u64>,
        results: Results,
        command: String,
    ) -> Comparison {
        assert!(seeds.len() >= 2, "intervals need two seeds or more");
        assert_eq!(names.len(), results.rows.len());
        let analysis = analyse(&results);
        Comparison {
            scenario,
            names,
            seeds,
            results,
            analysis,
            command,
            requirements: Vec::new(),
        }
    }

    /// The same, with each variant's requirement names (for the report's
    /// verdicts).
    pub fn with_requirements(mut self, requirements: Vec<Vec<String>>) -> Comparison {
        self.requirements = requirements;
        self
    }

    /// Per variant, the requirements failed on some seed: (requirement
    /// name, the seeds it failed on), in the scenario's order.
    pub fn failed_requirements(&self) -> Vec<Vec<(String, Vec<u64>)>> {
        self.results
            .rows
            .iter()
            .enumerate()
            .map(|(v, rows)| {
                let mut failed: std::collections::BTreeMap<u16, Vec<u64>> = Default::default();
                for (row, seed) in rows.iter().zip(&self.seeds) {
                    for &r in &row.failed_requirements {
                        failed.entry(r).or_default().push(*seed);
                    }
                }
                failed
                    .into_iter()
                    .map(|(r, seeds)| {
                        let name = self
                            .requirements
                            .get(v)
                            .and_then(|names| names.get(usize::from(r)))
                            .cloned()
                            .unwrap_or_else(|| format!("requirement {r}"));
                        (name, seeds)
                    })
                    .collect()
            })
            .collect()
    }

    /// The files of the report: compare.csv, compare.md, the charts and
    /// index.html.
    pub fn files(&self) -> Result<crate::report::output::Files, String> {
        let charts = charts::render(self)?;
        let mut files = vec![
            ("compare.csv".to_string(), write::csv(self).into_bytes()),
            ("compare.md".to_string(), write::markdown(self).into_bytes()),
        ];
        files.push((
            "index.html".to_string(),
            write::html(self, &charts).into_bytes(),
        ));
        files.extend(
            charts
                .into_iter()
                .map(|(name, _, svg)| (name, svg.into_bytes())),
        );
        Ok(files)
    }
}
