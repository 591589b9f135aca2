//! A gateway's aggregation routes (API composition): every branch called
//! at once, each with its own timeout and policy, and the patterns'
//! `Aggregation` deciding when the response is complete — a success, a
//! success marked partial (an optional branch failed), or the failure of a
//! critical branch, the branches still out abandoned.

use crate::kernel::{Kernel, SimTime};
use crate::patterns::gateway::aggregate::{BranchOutcome, Completion};

use super::super::calls::Parent;
use super::super::draws;
use super::super::slab::Key;
use super::super::{Event, Reply, Status, World};
use super::AGGREGATING;

impl World<'_> {
    /// Calls every branch of an aggregation route at once.
    pub(super) fn fan_out(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        service: u32,
        route: u16,
    ) {
        let now = kernel.now();
        let job = self.jobs.get_mut(job_key).expect("a live job");
        job.step = route;
        job.pending = AGGREGATING;
        let (deadline, job_draw) = (job.deadline, job.draw);
        let deadline = (deadline != SimTime::MAX).then_some(deadline);
        let gateway = self.gateway_mut(service);
        let route_model = &mut gateway.routes[route as usize];
        let plan = route_model.plan.expect("an aggregation route");
        for count in &mut route_model.counts.forwarded {
            *count += 1;
        }
        gateway
            .aggregations
            .insert(job_key, plan.start(now.as_nanos()));
        for branch in 0..plan.branches() {
            // A branch that fails at once (a local refusal) may already
            // have ended the aggregation.
            if self.jobs.get(job_key).is_none() {
                return;
            }
            let edge = self.gateway_mut(service).routes[route as usize].edges[branch];
            let key = draws::downstream_call(job_draw, 0, branch as u16);
            self.start_call(kernel, Parent::Job(job_key), key, edge, deadline, false);
        }
    }

    /// A branch of an aggregating job has ended: the patterns' aggregation
    /// decides whether the response is complete.
    pub(super) fn branch_answer(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        service: u32,
        route: u16,
        outcome: Status,
        edge: u32,
    ) {
        let now = kernel.now().as_nanos();
        let gateway = self.gateway_mut(service);
        let route_model = &mut gateway.routes[route as usize];
        let Some(branch) = route_model.edges.iter().position(|e| *e == edge) else {
            return;
        };
        route_model.counts.answered[branch][outcome.proxied() as usize] += 1;
        let reported = match outcome {
            Status::Ok => BranchOutcome::Success,
            Status::Timeout | Status::GatewayTimeout => BranchOutcome::TimedOut,
            _ => BranchOutcome::Failed,
        };
        let Some(aggregation) = gateway.aggregations.get_mut(&job_key) else {
            return;
        };
        let Some(completion) = aggregation.handle_outcome(now, branch, reported) else {
            return;
        };
        gateway.aggregations.remove(&job_key);
        let counts = &mut gateway.routes[route as usize].counts;
        match completion {
            Completion::Success => self.finish_job(kernel, job_key, Status::Ok, false),
            Completion::Partial { failed, timed_out } => {
                counts.partial += 1;
                for b in failed.iter().chain(timed_out.iter()) {
                    counts.caused_partial[b] += 1;
                }
                self.finish_job_with(kernel, job_key, Reply::of(Status::Ok).partial(), false);
            }
            Completion::Failed { branch, .. } => {
                // The branches still out are abandoned: their answers find
                // the job gone (as a pipeline's fail-fast leaves its calls).
                counts.aggregate_failed += 1;
                counts.caused_failure[branch] += 1;
                self.finish_job(kernel, job_key, outcome.proxied(), true);
            }
        }
    }
}
