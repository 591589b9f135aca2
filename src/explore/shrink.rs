//! Shrinking a failing case: the smallest fault schedule, found by delta
//! debugging (Zeller and Hildebrandt, "Simplifying and Isolating
//! Failure-Inducing Input", TSE 2002), that still breaks the same property
//! on the same seed.
//!
//! In order, each pass keeping a candidate only if it still fails:
//! 1. **fewer faults**: no faults at all, then ddmin's removal of chunks
//!    (halves, quarters, ... single faults);
//! 2. **shorter**: each fault's length halved while it still fails (a
//!    fault that lasts to the end is given one first);
//! 3. **weaker**: each fault's intensity halved toward none (a slowdown's
//!    factor toward 1, a rate or an added latency toward 0, a crash of
//!    every instance to one instance, a partition's larger side made
//!    smaller);
//! 4. **later**: each fault moved later by half of the room before the
//!    chaos window's end.
//!
//! The measure is (number of faults, total fault time): passes 1 and 2
//! only lower it, 3 and 4 leave it as it is, so it never grows. Keyed
//! randomness makes this work: removing a fault leaves every other draw of
//! the run where it was, so the candidate differs from the case only by
//! what was removed. Shrinking is sequential, so the schedule found and the
//! number of runs it took are the same on any machine; it stops at
//! `budget` runs and says so.

use crate::kernel::SimDuration;
use crate::scenario::Fault;

use super::{Explorer, Property};

/// What shrinking found.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The smallest schedule found that still breaks the property.
    pub faults: Vec<Fault>,
    /// The runs it took.
    pub runs: usize,
    /// Whether it stopped at its budget (the schedule may shrink further).
    pub budget_reached: bool,
}

/// The measure shrinking lowers: (faults, total fault time in ns), a fault
/// without `for` counting until the end of a run of `duration`.
pub fn measure(faults: &[Fault], duration: SimDuration) -> (usize, u64) {
    let total = faults
        .iter()
        .map(|f| match f.lasts {
            Some(lasts) => lasts.as_nanos(),
            None => duration.as_nanos().saturating_sub(f.at.as_nanos()),
        })
        .fold(0u64, u64::saturating_add);
    (faults.len(), total)
}

struct Search<'a> {
    explorer: &'a Explorer,
    seed: u64,
    property: Property,
    budget: usize,
    runs: usize,
}

impl Search<'_> {
    /// Whether `faults` still breaks the property (false once the budget
    /// is spent, or for a schedule that does not validate).
    fn fails(&mut self, faults: &[Fault]) -> bool {
        if self.runs >= self.budget {
            return false;
        }
        self.runs += 1;
        self.explorer
            .run(self.seed, faults)
            .is_ok_and(|o| o.broke(self.property))
    }
}

/// Shrinks `faults`, which break `property` on `seed`, with at most
/// `budget` runs.
pub fn shrink(
    explorer: &Explorer,
    seed: u64,
    faults: Vec<Fault>,
    property: Property,
    budget: usize,
) -> Shrunk {
    let mut search = Search {
        explorer,
        seed,
        property,
        budget,
        runs: 0,
    };
    let duration = explorer.scenario().duration;
    let mut faults = fewer(&mut search, faults);
    faults = shorter(&mut search, faults, duration);
    faults = weaker(&mut search, faults);
    faults = later(&mut search, faults, explorer, duration);
    Shrunk {
        faults,
        runs: search.runs,
        budget_reached: search.runs >= search.budget,
    }
}

/// ddmin's removal loop: try dropping each of n chunks; on success keep the
/// rest and coarsen, else refine until chunks are single faults.
fn fewer(search: &mut Search<'_>, mut faults: Vec<Fault>) -> Vec<Fault> {
    if !faults.is_empty() && search.fails(&[]) {
        return Vec::new();
    }
    let mut n = 2usize;
    while faults.len() >= 2 {
        let chunk = faults.len().div_ceil(n);
        let mut removed = false;
        let mut start = 0;
        while start < faults.len() {
            let end = (start + chunk).min(faults.len());
            let candidate: Vec<Fault> = faults[..start]
                .iter()
                .chain(&faults[end..])
                .cloned()
                .collect();
            if search.fails(&candidate) {
                faults = candidate;
                n = (n - 1).max(2);
                removed = true;
                break;
            }
            start = end;
        }
        if !removed {
            if n >= faults.len() {
                break;
            }
            n = (n * 2).min(faults.len());
        }
        if search.runs >= search.budget {
            break;
        }
    }
    faults
}

/// Each fault's length halved while the case still fails (whole
/// milliseconds, at least one).
fn shorter(search: &mut Search<'_>, mut faults: Vec<Fault>, duration: SimDuration) -> Vec<Fault> {
    const MS: u64 = 1_000_000;
    for i in 0..faults.len() {
        loop {
            let now = match faults[i].lasts {
                Some(l) => l.as_nanos(),
                None => duration.as_nanos().saturating_sub(faults[i].at.as_nanos()),
            };
            let half = (now / 2 / MS) * MS;
            if half < MS {
                break;
            }
            let mut candidate = faults.clone();
            candidate[i].lasts = Some(SimDuration::from_nanos(half));
            if !search.fails(&candidate) {
                break;
            }
            faults = candidate;
        }
    }
    faults
}

/// The fault made weaker by one step, if it can be.
fn weakened(fault: &Fault) -> Option<Fault> {
    let mut f = fault.clone();
    if let Some(c) = f.crash.as_mut().or(f.stop.as_mut()) {
        if c.instance.is_some() {
            return None;
        }
        c.instance = Some(0);
    } else if let Some(s) = f.slowdown.as_mut() {
        let factor = super::generate::round_to(1.0 + (s.factor - 1.0) / 2.0, 0.1);
        if factor >= s.factor || factor <= 1.0 {
            return None;
        }
        s.factor = factor;
    } else if let Some(e) = f.errors.as_mut() {
        let rate = super::generate::round_to(e.rate / 2.0, 0.01);
        if rate >= e.rate || rate <= 0.0 {
            return None;
        }
        e.rate = rate;
    } else if let Some(l) = f.loss.as_mut() {
        let rate = super::generate::round_to(l.rate / 2.0, 0.01);
        if rate >= l.rate || rate <= 0.0 {
            return None;
        }
        l.rate = rate;
    } else if let Some(l) = f.latency.as_mut() {
        let half = (l.add.as_nanos() / 2 / 1_000_000) * 1_000_000;
        if half == 0 {
            return None;
        }
        l.add = SimDuration::from_nanos(half);
    } else if let Some(p) = f.partition.as_mut() {
        // Drop one service from the largest group, keeping each non-empty.
        let largest = (0..p.between.len()).max_by_key(|&g| p.between[g].len())?;
        if p.between[largest].len() < 2 {
            return None;
        }
        p.between[largest].pop();
    } else {
        return None;
    }
    Some(f)
}

/// Each fault weakened step by step while the case still fails.
fn weaker(search: &mut Search<'_>, mut faults: Vec<Fault>) -> Vec<Fault> {
    for i in 0..faults.len() {
        while let Some(w) = weakened(&faults[i]) {
            let mut candidate = faults.clone();
            candidate[i] = w;
            if !search.fails(&candidate) {
                break;
            }
            faults = candidate;
        }
    }
    faults
}

/// Each fault moved later by half its room (to the chaos window's end, or
/// the run's for a fault that ends past it) while the case still fails.
fn later(
    search: &mut Search<'_>,
    mut faults: Vec<Fault>,
    explorer: &Explorer,
    duration: SimDuration,
) -> Vec<Fault> {
    const MS: u64 = 1_000_000;
    let (_, heal_by) = explorer.chaos();
    for i in 0..faults.len() {
        let Some(lasts) = faults[i].lasts else {
            continue;
        };
        loop {
            let end = faults[i].at.saturating_add(lasts).as_nanos();
            let limit = if end <= heal_by.as_nanos() {
                heal_by.as_nanos()
            } else {
                duration.as_nanos().saturating_sub(1)
            };
            let step = (limit.saturating_sub(end) / 2 / MS) * MS;
            if step < MS {
                break;
            }
            let mut candidate = faults.clone();
            candidate[i].at = SimDuration::from_nanos(faults[i].at.as_nanos() + step);
            if !search.fails(&candidate) {
                break;
            }
            faults = candidate;
        }
    }
    faults
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{CrashFault, SlowdownFault};

    fn crash(at_s: u64, for_s: Option<u64>) -> Fault {
        Fault {
            at: SimDuration::from_secs(at_s),
            lasts: for_s.map(SimDuration::from_secs),
            crash: Some(CrashFault {
                service: "s".into(),
                instance: None,
            }),
            ..Fault::default()
        }
    }

    #[test]
    fn the_measure_counts_faults_then_their_time() {
        let d = SimDuration::from_secs(100);
        assert_eq!(measure(&[], d), (0, 0));
        assert_eq!(
            measure(&[crash(10, Some(5)), crash(90, None)], d),
            (2, 15_000_000_000)
        );
    }

    #[test]
    fn weakening_steps_toward_nothing_and_stops() {
        let all = crash(1, Some(1));
        let one = weakened(&all).expect("every instance → one");
        assert_eq!(one.crash.as_ref().unwrap().instance, Some(0));
        assert!(
            weakened(&one).is_none(),
            "one instance is the weakest crash"
        );
        let mut slow = Fault {
            slowdown: Some(SlowdownFault {
                service: "s".into(),
                instance: None,
                factor: 9.0,
            }),
            ..Fault::default()
        };
        let mut factors = Vec::new();
        while let Some(w) = weakened(&slow) {
            factors.push(w.slowdown.as_ref().unwrap().factor);
            slow = w;
        }
        assert_eq!(factors[..4], [5.0, 3.0, 2.0, 1.5]);
        assert!(factors.windows(2).all(|w| w[1] < w[0]), "{factors:?}");
        assert!(factors.iter().all(|&f| f > 1.0), "{factors:?}");
    }
}
