//! Running every variant on every seed, in parallel, keeping only each run's
//! metrics.
//!
//! Threads, not a pool: `std::thread::scope` with one atomic index into the
//! list of runs. Runs are coarse (milliseconds to seconds each) and
//! independent, so the only scheduling that matters is "the next free
//! thread takes the next run", which an atomic counter gives with no
//! dependency; a work-stealing pool (rayon) would add a crate for nothing
//! it can do better here. Each result is stored at its run's index
//! (variant × seeds + seed), so the results, and every file made from them,
//! are the same whatever the number of threads and whichever finishes
//! first. [`run_some`] runs a subset of those indices (a shard's slice)
//! the same way.
//!
//! Memory: a thread holds one world at a time and drops it after the run,
//! keeping a row of [`super::metrics::METRICS`] values (a hundred bytes);
//! the caller bounds the threads × the world's estimated size.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::report::Summary;
use crate::report::requirements::Judge;
use crate::scenario::Compiled;
use crate::world;

use super::metrics;

/// One variant: a name and the compiled scenario it runs.
pub struct Variant {
    /// How tables and files name it (`max_attempts=1`, or a file's name).
    pub name: String,
    /// What it runs.
    pub compiled: Compiled,
}

/// What one run leaves: its metrics and whether it completed.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    /// The values of [`metrics::METRICS`], in order.
    pub values: Vec<f64>,
    /// Whether the run covered its whole duration (summary.json's
    /// `completed`).
    pub completed: bool,
    /// The scenario's requirements that the run failed, by index (at most
    /// `MAX_REQUIREMENTS`, 1,000, so 16 bits hold one).
    pub failed_requirements: Vec<u16>,
}

/// The rows of every run, indexed by variant then seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Results {
    /// `rows[v][s]`: variant `v` on seed number `s`.
    pub rows: Vec<Vec<RunRow>>,
}

impl Results {
    /// The results of `variants` × `k` runs from their rows in run-index
    /// order (variant by variant, seed by seed).
    pub fn from_rows(rows: impl IntoIterator<Item = RunRow>, variants: usize, k: usize) -> Results {
        let mut rows = rows.into_iter();
        let rows = (0..variants)
            .map(|_| rows.by_ref().take(k).collect())
            .collect();
        Results { rows }
    }

    /// The values of metric `m` of variant `v`, seed by seed.
    pub fn column(&self, v: usize, m: usize) -> Vec<f64> {
        self.rows[v].iter().map(|r| r.values[m]).collect()
    }
}

/// Runs each of `variants` on each of `seeds` with up to `jobs` threads
/// (at least one), calling `done` after each run (from the thread that ran
/// it: a progress bar). The results do not depend on `jobs`.
pub fn run_all(
    variants: &[Variant],
    seeds: &[u64],
    jobs: usize,
    done: &(dyn Fn() + Sync),
) -> Results {
    let total = variants.len() * seeds.len();
    let all: Vec<usize> = (0..total).collect();
    let rows = run_some(variants, seeds, &all, jobs, done);
    Results::from_rows(
        rows.into_iter().map(|(_, row)| row),
        variants.len(),
        seeds.len(),
    )
}

/// Runs only the runs numbered `indices` (run `i` is variant `i / K` on
/// seed number `i % K`, K = `seeds.len()`; a shard's slice, see
/// [`super::shard`]) with up to `jobs` threads; each row comes back with
/// its run index, in the order of `indices`, whatever the threads did.
pub fn run_some(
    variants: &[Variant],
    seeds: &[u64],
    indices: &[usize],
    jobs: usize,
    done: &(dyn Fn() + Sync),
) -> Vec<(usize, RunRow)> {
    let total = indices.len();
    let next = AtomicUsize::new(0);
    let threads = jobs.clamp(1, total.max(1));
    let mut slots: Vec<Option<RunRow>> = vec![None; total];
    let finished: Vec<Vec<(usize, RunRow)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let slot = next.fetch_add(1, Ordering::Relaxed);
                        if slot >= total {
                            break;
                        }
                        let i = indices[slot];
                        let (v, s) = (i / seeds.len(), i % seeds.len());
                        mine.push((slot, one_run(&variants[v].compiled, seeds[s])));
                        done();
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a run does not panic"))
            .collect()
    });
    for (slot, row) in finished.into_iter().flatten() {
        slots[slot] = Some(row);
    }
    indices
        .iter()
        .zip(slots)
        .map(|(&i, row)| (i, row.expect("every run ran")))
        .collect()
}

/// One run, summarised and reduced to its metrics.
pub fn one_run(compiled: &Compiled, seed: u64) -> RunRow {
    let mut judge = Judge::new(compiled);
    let outcome = world::run_streaming(compiled, seed, None, &mut judge);
    let summary = Summary::new(compiled, seed, &outcome);
    let failed_requirements = judge
        .verdicts(compiled, &summary)
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.passed)
        .map(|(i, _)| i as u16)
        .collect();
    RunRow {
        values: metrics::row(&summary),
        completed: summary.completed,
        failed_requirements,
    }
}
