//! What a service does with a request once its own work is done: its
//! *behaviour*, a closed enum dispatched by `match` (no `Box<dyn>` on the
//! hot path).
//!
//! Today's one behaviour is the pipeline: call steps made in order, each a
//! group of calls in parallel with the worker held, failing fast on a
//! required call, then the reply. Later issues add variants beside it: a
//! store (a database per service), a saga orchestrator, a broker and its
//! consumers, the gateway. Each variant owns its own per-job progress and
//! answers the same two inputs: the local work is done (`behave`), and a
//! downstream call has ended (`child_done`).
//!
//! Messages are request/reply, plus one-way messages that need no answer:
//! today the caller's cancellation of a losing hedge (`Event::Cancel`, its
//! own network draws as `Message::Cancel`); heartbeats and broker
//! deliveries will be more of them.

use crate::kernel::dist::bernoulli;
use crate::kernel::{Kernel, SimTime};

use super::calls::Parent;
use super::draws;
use super::slab::Key;
use super::{Event, Reply, Status, World};

/// What a service does after its local work.
pub(super) enum Behaviour {
    /// The call steps, in order (`ServiceModel::steps`: outside the enum,
    /// so that the hot path reads them without matching).
    Pipeline,
    /// An API gateway: route, check the credential, split, forward
    /// (`gateway.rs`).
    Gateway(Box<super::gateway::GatewayModel>),
    /// A rate limit service: answer a gateway's check from the shared
    /// bucket of its descriptor (`limiter.rs`).
    Limiter(Box<super::limiter::LimiterModel>),
    /// A saga orchestrator: each request starts a saga (`saga.rs`; the
    /// index is its orchestrator's in `World::sagas`).
    Orchestrator(u16),
    /// A stateful service: apply a saga's action or compensation to its
    /// ledger (`saga.rs`; the index is its store's).
    Store(u16),
    /// A message broker: append a published event to its partition
    /// (`broker/`).
    Broker,
}

impl World<'_> {
    /// The local work of a job is done, without an error: run the service's
    /// behaviour. The pipeline is tested first and the rest is out of line,
    /// so that a plain service's job pays one comparison (a five-way match
    /// here was no longer inlined: +1.9% instructions on M/M/1).
    #[inline]
    pub(super) fn behave(&mut self, kernel: &mut Kernel<Event>, job_key: Key) {
        let Some(job) = self.jobs.get(job_key) else {
            return;
        };
        let service = self.instances[job.instance as usize].service as usize;
        if matches!(self.services[service].behaviour, Behaviour::Pipeline) {
            self.run_steps(kernel, job_key);
        } else {
            self.behave_otherwise(kernel, job_key, service);
        }
    }

    /// [`behave`](Self::behave) for every behaviour but the pipeline.
    #[inline(never)]
    fn behave_otherwise(&mut self, kernel: &mut Kernel<Event>, job_key: Key, service: usize) {
        match self.services[service].behaviour {
            Behaviour::Pipeline => self.run_steps(kernel, job_key),
            Behaviour::Gateway(_) => self.gateway_request(kernel, job_key),
            Behaviour::Limiter(_) => self.limit_check(kernel, job_key),
            Behaviour::Orchestrator(o) => self.saga_start(kernel, job_key, o),
            Behaviour::Store(s) => self.store_request(kernel, job_key, s),
            Behaviour::Broker => self.broker_append(kernel, job_key),
        }
    }

    /// Makes the calls of the job's current step; finishes the job when no
    /// step is left.
    pub(super) fn run_steps(&mut self, kernel: &mut Kernel<Event>, job_key: Key) {
        loop {
            let job = self.jobs.get(job_key).expect("running a live job");
            let (step, instance, deadline) = (job.step as usize, job.instance, job.deadline);
            let deadline = (deadline != SimTime::MAX).then_some(deadline);
            let job_draw = job.draw;
            let service = self.instances[instance as usize].service;
            let Some(calls) = self.services[service as usize].steps.get(step) else {
                if self.messaging.is_some() {
                    return self.pipeline_done(kernel, job_key, service);
                }
                self.finish_job(kernel, job_key, Status::Ok, false);
                return;
            };
            // Decide first, then call: a call may end synchronously (a
            // zero-latency rejection, a local refusal) and must find
            // `pending` already set.
            let mut chosen = Chosen::default();
            for (i, call) in calls.iter().enumerate() {
                let key = draws::downstream_call(job_draw, step as u16, i as u16);
                if call.probability >= 1.0 || bernoulli(&mut self.draws.call(key), call.probability)
                {
                    chosen.push(i as u16);
                }
            }
            if chosen.is_empty() {
                self.jobs.get_mut(job_key).expect("live").step += 1;
                continue;
            }
            self.jobs.get_mut(job_key).expect("live").pending = chosen.len() as u16;
            for i in chosen.iter() {
                // A synchronous failure may already have finished the job.
                if self.jobs.get(job_key).is_none() {
                    return;
                }
                let spec = &self.services[service as usize].steps[step][i as usize];
                let (edge, optional) = (spec.edge, spec.optional);
                let key = draws::downstream_call(job_draw, step as u16, i);
                self.start_call(kernel, Parent::Job(job_key), key, edge, deadline, optional);
            }
            return;
        }
    }

    /// A pipeline's job has made all its calls, in a world with a broker:
    /// a producer commits its event with it (a full outbox fails the job).
    #[inline(never)]
    fn pipeline_done(&mut self, kernel: &mut Kernel<Event>, job_key: Key, service: u32) {
        self.check_read(job_key, service);
        let publisher = self
            .messaging
            .as_deref()
            .and_then(|m| m.publisher_of(service));
        let committed = match publisher {
            Some(p) => match self.choreography_role(job_key, service) {
                Some(role) => self.choreography_job(kernel, job_key, p, role),
                None => self.commit_event(kernel, job_key, p, None),
            },
            None => true,
        };
        let status = if committed {
            Status::Ok
        } else {
            Status::Unavailable
        };
        self.finish_job(kernel, job_key, status, false);
    }

    /// A downstream call of a job, on `edge`, has ended: the behaviour
    /// decides.
    pub(super) fn child_done(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        reply: Reply,
        optional: bool,
        edge: u32,
    ) {
        let Some(job) = self.jobs.get(job_key) else {
            return; // The job already failed or its instance crashed.
        };
        let service = self.instances[job.instance as usize].service as usize;
        match self.services[service].behaviour {
            Behaviour::Pipeline => self.step_call_done(kernel, job_key, reply.status, optional),
            Behaviour::Gateway(_) => self.gateway_answer(kernel, job_key, reply, edge),
            Behaviour::Limiter(_) => unreachable!("a rate limit service calls nothing"),
            Behaviour::Orchestrator(_) | Behaviour::Store(_) => {
                unreachable!("a saga's calls are the saga's, and a stateful service calls nothing")
            }
            Behaviour::Broker => unreachable!("a broker calls nothing"),
        }
    }

    /// A call of the pipeline's current step has ended: fail fast on a
    /// required call that failed, or go on once the whole step is done.
    fn step_call_done(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        outcome: Status,
        optional: bool,
    ) {
        let Some(job) = self.jobs.get_mut(job_key) else {
            return; // The job already failed or its instance crashed.
        };
        if outcome != Status::Ok && !optional {
            // Fail fast, as an await-all that rejects on the first failure.
            self.finish_job(kernel, job_key, Status::Internal, true);
            return;
        }
        job.pending -= 1;
        if job.pending == 0 {
            job.step += 1;
            self.run_steps(kernel, job_key);
        }
    }
}

/// A small list of call indices that allocates only past 16 entries, so that
/// choosing the calls of a step costs nothing on the hot path.
#[derive(Default)]
struct Chosen {
    inline: [u16; 16],
    len: usize,
    spill: Vec<u16>,
}

impl Chosen {
    fn push(&mut self, value: u16) {
        if self.len < self.inline.len() {
            self.inline[self.len] = value;
        } else {
            self.spill.push(value);
        }
        self.len += 1;
    }
    fn len(&self) -> usize {
        self.len
    }
    fn is_empty(&self) -> bool {
        self.len == 0
    }
    fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.inline[..self.len.min(self.inline.len())]
            .iter()
            .copied()
            .chain(self.spill.iter().copied())
    }
}
