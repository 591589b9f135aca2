//! An aggregation route's fan-out: one request to the gateway, several branches to
//! backends in parallel, one response when enough of them are in.
//!
//! This is the API-composition pattern (Richardson, *Microservices Patterns*, ch. 7;
//! the Backend-for-Frontend gateways of Netflix and SoundCloud), with the degradation
//! rule that GraphQL gateways apply to nullable fields (Apollo Federation answers
//! with `data` and `errors` when an optional subgraph fails): each branch is
//! **critical** or **optional**.
//!
//! - A critical branch that fails or times out fails the whole response **at once**:
//!   the tracker says so on that outcome, and which branches are still pending, for
//!   the owner to cancel.
//! - Otherwise the response completes when every branch has reported: a **success**
//!   if all succeeded, else a **partial** response that names the optional branches
//!   that failed and those that timed out (for the metrics: which branch caused it).
//!
//! Each branch's own timeout and policy stack are the owner's (the world runs an
//! ordinary edge per branch); a timeout is reported here as an outcome like any
//! other, so a slow optional branch delays the response by at most its timeout.
//!
//! Simplified on purpose: no whole-response deadline of its own (the request's
//! deadline covers it), no "return early when only optional branches remain"
//! policy, and a branch reports once: a second report for it (a reply after its
//! timeout) is ignored, as is any report after completion.
//!
//! Memory is a handful of bit sets, so an aggregation is `Copy` and starting one per
//! request allocates nothing; the plan is validated once per route
//! ([`MAX_BRANCHES`]).

use std::time::Duration;

use crate::{ConfigError, Nanos};

/// The most branches an aggregation may have (one bit each of a `u32`).
pub const MAX_BRANCHES: usize = 32;

/// Whether a branch's failure fails the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Criticality {
    /// Its failure fails the whole response.
    Critical,
    /// Its failure is dropped and the response marked partial.
    Optional,
}

/// What became of one branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BranchOutcome {
    /// It answered successfully.
    Success,
    /// It answered with an error, or its policy stack gave up on it.
    Failed,
    /// Its timeout fired first.
    TimedOut,
}

/// A set of branches, by index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BranchSet(u32);

impl BranchSet {
    /// The empty set.
    pub const EMPTY: BranchSet = BranchSet(0);

    /// Whether `branch` is in the set.
    pub const fn contains(self, branch: usize) -> bool {
        branch < MAX_BRANCHES && self.0 & (1 << branch) != 0
    }

    /// How many branches are in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The branches in the set, in increasing order.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..MAX_BRANCHES).filter(move |&branch| self.contains(branch))
    }

    const fn with(self, branch: usize) -> BranchSet {
        BranchSet(self.0 | 1 << branch)
    }

    const fn minus(self, other: BranchSet) -> BranchSet {
        BranchSet(self.0 & !other.0)
    }

    const fn union(self, other: BranchSet) -> BranchSet {
        BranchSet(self.0 | other.0)
    }
}

/// How an aggregated response ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// Every branch succeeded.
    Success,
    /// Every critical branch succeeded and some optional ones did not.
    Partial {
        /// Optional branches that failed.
        failed: BranchSet,
        /// Optional branches that timed out.
        timed_out: BranchSet,
    },
    /// A critical branch failed or timed out.
    Failed {
        /// The first critical branch that did.
        branch: usize,
        /// How it ended ([`BranchOutcome::Failed`] or [`BranchOutcome::TimedOut`]).
        outcome: BranchOutcome,
        /// The branches still pending then, to cancel.
        cancel: BranchSet,
    },
}

/// A route's fan-out, validated once: how many branches and which are critical.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::gateway::aggregate::{
///     AggregationPlan, BranchOutcome, BranchSet, Completion, Criticality,
/// };
///
/// let start = Instant::now();
/// let ms = 1_000_000;
/// // A dashboard: profile and orders are critical, recommendations optional.
/// let plan = AggregationPlan::new(&[
///     Criticality::Critical,
///     Criticality::Critical,
///     Criticality::Optional,
/// ])?;
/// let now = start.elapsed().as_nanos() as u64;
/// let mut response = plan.start(now);
/// assert_eq!(response.handle_outcome(now + 20 * ms, 0, BranchOutcome::Success), None);
/// assert_eq!(response.handle_outcome(now + 30 * ms, 2, BranchOutcome::TimedOut), None);
/// let done = response.handle_outcome(now + 45 * ms, 1, BranchOutcome::Success);
/// assert!(matches!(done, Some(Completion::Partial { .. })));
/// if let Some(Completion::Partial { timed_out, .. }) = done {
///     assert!(timed_out.contains(2));
/// }
/// assert_eq!(response.latency(), Some(Duration::from_millis(45)));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AggregationPlan {
    all: BranchSet,
    critical: BranchSet,
}

impl AggregationPlan {
    /// A plan of one branch per entry of `branches`: 1 to [`MAX_BRANCHES`].
    pub fn new(branches: &[Criticality]) -> Result<AggregationPlan, ConfigError> {
        let error = |reason| Err(ConfigError::new("gateway.aggregate", "branches", reason));
        if branches.is_empty() {
            return error("must list at least 1 branch");
        }
        if branches.len() > MAX_BRANCHES {
            return error("must list at most 32 branches");
        }
        let mut plan = AggregationPlan {
            all: BranchSet::EMPTY,
            critical: BranchSet::EMPTY,
        };
        for (branch, criticality) in branches.iter().enumerate() {
            plan.all = plan.all.with(branch);
            if *criticality == Criticality::Critical {
                plan.critical = plan.critical.with(branch);
            }
        }
        Ok(plan)
    }

    /// How many branches.
    pub fn branches(&self) -> usize {
        self.all.len()
    }

    /// The critical branches.
    pub fn critical(&self) -> BranchSet {
        self.critical
    }

    /// One response's fan-out, started at `now` with every branch pending.
    pub fn start(&self, now: Nanos) -> Aggregation {
        Aggregation {
            plan: *self,
            succeeded: BranchSet::EMPTY,
            failed: BranchSet::EMPTY,
            timed_out: BranchSet::EMPTY,
            started_at: now,
            last_now: now,
            completion: None,
        }
    }
}

/// One response's fan-out in progress (see the module documentation and
/// [`AggregationPlan`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Aggregation {
    plan: AggregationPlan,
    succeeded: BranchSet,
    failed: BranchSet,
    timed_out: BranchSet,
    started_at: Nanos,
    last_now: Nanos,
    completion: Option<(Nanos, Completion)>,
}

impl Aggregation {
    /// Branch `branch` ended with `outcome` at `now`. Returns the response's
    /// completion if this outcome completes it, `None` otherwise (also for a second
    /// report of a branch, or any report after completion, which are ignored).
    ///
    /// # Panics
    ///
    /// If `branch` is not one of the plan's branches.
    pub fn handle_outcome(
        &mut self,
        now: Nanos,
        branch: usize,
        outcome: BranchOutcome,
    ) -> Option<Completion> {
        debug_assert!(now >= self.last_now, "time went backwards");
        self.last_now = self.last_now.max(now);
        assert!(
            self.plan.all.contains(branch),
            "branch {branch} is not in the plan"
        );
        if self.completion.is_some() || !self.pending().contains(branch) {
            return None;
        }
        match outcome {
            BranchOutcome::Success => self.succeeded = self.succeeded.with(branch),
            BranchOutcome::Failed => self.failed = self.failed.with(branch),
            BranchOutcome::TimedOut => self.timed_out = self.timed_out.with(branch),
        }
        let completion = if outcome != BranchOutcome::Success && self.plan.critical.contains(branch)
        {
            Completion::Failed {
                branch,
                outcome,
                cancel: self.pending(),
            }
        } else if self.pending().is_empty() {
            if self.succeeded == self.plan.all {
                Completion::Success
            } else {
                Completion::Partial {
                    failed: self.failed,
                    timed_out: self.timed_out,
                }
            }
        } else {
            return None;
        };
        self.completion = Some((now, completion));
        Some(completion)
    }

    /// How the response ended, once it has.
    pub fn poll_completion(&self) -> Option<Completion> {
        self.completion.map(|(_, completion)| completion)
    }

    /// The branches that have not reported (after completion: those that had not).
    pub fn pending(&self) -> BranchSet {
        let reported = self.succeeded.union(self.failed).union(self.timed_out);
        self.plan.all.minus(reported)
    }

    /// When the fan-out started.
    pub fn started_at(&self) -> Nanos {
        self.started_at
    }

    /// When the response completed.
    pub fn completed_at(&self) -> Option<Nanos> {
        self.completion.map(|(at, _)| at)
    }

    /// From start to completion.
    pub fn latency(&self) -> Option<Duration> {
        self.completed_at()
            .map(|at| Duration::from_nanos(at - self.started_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BranchOutcome::{Failed, Success, TimedOut};
    use Criticality::{Critical, Optional};
    use proptest::prelude::*;

    fn set(branches: &[usize]) -> BranchSet {
        branches
            .iter()
            .fold(BranchSet::EMPTY, |set, &branch| set.with(branch))
    }

    /// Feeds `reports` (time, branch, outcome) in order and returns each report's
    /// result.
    fn run(
        branches: &[Criticality],
        reports: &[(Nanos, usize, BranchOutcome)],
    ) -> Vec<Option<Completion>> {
        let mut response = AggregationPlan::new(branches).unwrap().start(0);
        reports
            .iter()
            .map(|&(at, branch, outcome)| response.handle_outcome(at, branch, outcome))
            .collect()
    }

    #[test]
    fn all_successes_complete_with_the_last_one() {
        let results = run(
            &[Critical, Optional, Critical],
            &[(5, 1, Success), (7, 0, Success), (9, 2, Success)],
        );
        assert_eq!(results, [None, None, Some(Completion::Success)]);
    }

    #[test]
    fn latency_is_the_slowest_branch_when_all_succeed() {
        let plan = AggregationPlan::new(&[Critical, Critical, Critical]).unwrap();
        let mut response = plan.start(1_000);
        response.handle_outcome(1_030, 2, Success);
        response.handle_outcome(1_050, 1, Success);
        response.handle_outcome(1_090, 0, Success);
        assert_eq!(response.latency(), Some(Duration::from_nanos(90)));
        assert_eq!(response.completed_at(), Some(1_090));
        assert_eq!(response.started_at(), 1_000);
    }

    #[test]
    fn a_failed_critical_branch_fails_at_once_and_names_the_pending_to_cancel() {
        let results = run(
            &[Critical, Critical, Optional, Optional],
            &[(1, 2, Success), (2, 1, TimedOut), (3, 0, Success)],
        );
        assert_eq!(
            results,
            [
                None,
                Some(Completion::Failed {
                    branch: 1,
                    outcome: TimedOut,
                    cancel: set(&[0, 3]),
                }),
                None, // after completion: ignored
            ]
        );
    }

    #[test]
    fn failed_optional_branches_make_a_partial_response_naming_them() {
        let results = run(
            &[Optional, Critical, Optional, Optional],
            &[
                (1, 0, Failed),
                (2, 3, TimedOut),
                (3, 2, Success),
                (4, 1, Success),
            ],
        );
        assert_eq!(
            results[3],
            Some(Completion::Partial {
                failed: set(&[0]),
                timed_out: set(&[3]),
            })
        );
        assert_eq!(results[..3], [None, None, None]);
    }

    #[test]
    fn a_second_report_of_a_branch_is_ignored() {
        let plan = AggregationPlan::new(&[Critical, Optional]).unwrap();
        let mut response = plan.start(0);
        assert_eq!(response.handle_outcome(1, 1, TimedOut), None);
        // The late reply after the timeout changes nothing.
        assert_eq!(response.handle_outcome(2, 1, Success), None);
        assert_eq!(response.pending(), set(&[0]));
        assert_eq!(
            response.handle_outcome(3, 0, Success),
            Some(Completion::Partial {
                failed: BranchSet::EMPTY,
                timed_out: set(&[1]),
            })
        );
        assert_eq!(response.poll_completion(), response.poll_completion());
        assert!(response.poll_completion().is_some());
    }

    #[test]
    #[should_panic(expected = "branch 2 is not in the plan")]
    fn a_branch_outside_the_plan_is_a_bug() {
        let mut response = AggregationPlan::new(&[Critical, Optional])
            .unwrap()
            .start(0);
        response.handle_outcome(0, 2, Success);
    }

    #[test]
    fn bad_plans_are_config_errors() {
        let reason = |branches: &[Criticality]| AggregationPlan::new(branches).unwrap_err().reason;
        assert_eq!(reason(&[]), "must list at least 1 branch");
        assert_eq!(reason(&[Optional; 33]), "must list at most 32 branches");
        let plan = AggregationPlan::new(&[Optional; 32]).unwrap();
        assert_eq!(plan.branches(), 32);
        assert!(plan.critical().is_empty());
        assert_eq!(plan.start(0).pending().len(), 32);
        assert_eq!(plan.start(0).pending().iter().last(), Some(31));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Against the rule read directly: the response completes exactly at the first
        /// failing critical report (failed, with the rest pending) or else at the last
        /// report (success or partial, naming the optional branches that did not
        /// succeed); nothing completes twice.
        #[test]
        fn completion_follows_the_first_critical_failure_or_the_last_report(
            criticality in prop::collection::vec(any::<bool>(), 1..8),
            outcomes in prop::collection::vec(0u8..3, 8),
            order in Just((0..8).collect::<Vec<usize>>()).prop_shuffle(),
        ) {
            let branches: Vec<Criticality> = criticality
                .iter()
                .map(|&c| if c { Critical } else { Optional })
                .collect();
            let n = branches.len();
            let outcome = |b: usize| [Success, Failed, TimedOut][usize::from(outcomes[b])];
            let order: Vec<usize> = order.into_iter().filter(|&b| b < n).collect();
            let mut response = AggregationPlan::new(&branches).unwrap().start(0);
            let first_critical_failure = order
                .iter()
                .position(|&b| branches[b] == Critical && outcome(b) != Success);
            for (step, &b) in order.iter().enumerate() {
                let result = response.handle_outcome(step as Nanos, b, outcome(b));
                let expected = match first_critical_failure {
                    Some(at) if at == step => Some(Completion::Failed {
                        branch: b,
                        outcome: outcome(b),
                        cancel: set(&order[step + 1..]),
                    }),
                    Some(_) => None,
                    None if step + 1 == n => {
                        let of = |o| set(&(0..n).filter(|&b| outcome(b) == o).collect::<Vec<_>>());
                        if of(Success).len() == n {
                            Some(Completion::Success)
                        } else {
                            Some(Completion::Partial { failed: of(Failed), timed_out: of(TimedOut) })
                        }
                    }
                    None => None,
                };
                prop_assert_eq!(result, expected, "step {}", step);
            }
            prop_assert!(response.poll_completion().is_some());
        }
    }
}
