//! The callee's side: instances with a FIFO queue in front of workers, jobs
//! that do their local work, then what the service's behaviour does with
//! them (`behaviour.rs`), and the reply.

use crate::kernel::Kernel;
use crate::kernel::dist::bernoulli;

use super::autoscale::observe;
use super::draws::Message;
use super::slab::Key;
use super::status::counts_outcome;
use super::trace::SpanEnd;
use super::{Event, Job, JobState, Reply, Status, World};

impl World<'_> {
    /// A request message reaches its instance.
    pub(super) fn deliver(&mut self, kernel: &mut Kernel<Event>, job_key: Key) {
        let now = kernel.now();
        if self.guard.is_some() {
            self.check_credential(now, job_key);
        }

        let Some(job) = self.jobs.get_mut(job_key) else {
            return;
        };
        job.arrived = now;
        let instance_index = job.instance;
        let instance = &mut self.instances[instance_index as usize];
        let service = instance.service;
        let model = &self.services[service as usize];
        let stats = &mut self.service_stats[service as usize];
        stats.window.requests += 1;
        // By phase, a request and its outcome count when it ends, in the
        // phase of its arrival (`phases.rs`): one phase lookup per job.
        let phases = &mut self.phases;
        if instance.crashes > 0 {
            stats.window.dropped += 1;
            phases.count_service(service, now, |p| p.counts.dropped += 1);
            self.jobs.remove(job_key);
            if let Some(tracer) = self.trace.as_deref_mut() {
                tracer.job_end(job_key, now, now, SpanEnd::Dropped);
            }
            return;
        }
        if job.cancelled {
            // The caller's cancellation overtook the request.
            stats.window.cancelled += 1;
            phases.count_service(service, now, |p| p.counts.cancelled += 1);
            self.jobs.remove(job_key);
            if let Some(tracer) = self.trace.as_deref_mut() {
                tracer.job_end(job_key, now, now, SpanEnd::Cancelled);
            }
            return;
        }
        if instance.state.refuses() {
            // Draining or stopped: refused at once, as a closed listener is.
            stats.window.rejected += 1;
            phases.count_service(service, now, |p| p.counts.rejected += 1);
            let job = self.jobs.remove(job_key).expect("live");
            if let Some(tracer) = self.trace.as_deref_mut() {
                tracer.job_end(job_key, now, now, SpanEnd::Status(Status::Unavailable));
            }
            self.reply(kernel, service, &job, Status::Unavailable);
            return;
        }
        if !self.admission.is_empty()
            && let Some(bucket) = &mut self.admission[instance_index as usize]
            && let Err(after) = bucket.try_acquire(now.as_nanos())
        {
            // Over its admission limit: 429 at once, with the wait until
            // its next token, before the queue (Envoy's local rate limit).
            stats.window.rejected += 1;
            stats.window.too_many_requests += 1;
            phases.count_service(service, now, |p| {
                p.counts.rejected += 1;
                p.counts.too_many_requests += 1;
            });
            let job = self.jobs.remove(job_key).expect("live");
            if let Some(tracer) = self.trace.as_deref_mut() {
                tracer.job_end(job_key, now, now, SpanEnd::Status(Status::TooManyRequests));
            }
            let reply =
                Reply::of(Status::TooManyRequests).with_retry_after(super::status::wait_of(after));
            self.send_reply(kernel, service, &job, reply);
            return;
        }
        if let Some(shed) = &mut self.shed
            && shed.sheds(instance_index, now, instance.queue.len(), instance.busy)
        {
            // Shed: 503 at once, before the queue, as a full queue refuses.
            stats.window.rejected += 1;
            phases.count_service(service, now, |p| p.counts.rejected += 1);
            let job = self.jobs.remove(job_key).expect("live");
            if let Some(tracer) = self.trace.as_deref_mut() {
                tracer.job_end(job_key, now, now, SpanEnd::Status(Status::Unavailable));
            }
            self.reply(kernel, service, &job, Status::Unavailable);
            return;
        }
        if instance.busy < model.concurrency {
            job.state = JobState::Busy;
            self.start_job(kernel, job_key);
        } else if instance.queue.len() < model.queue_capacity as usize {
            stats.in_queue.increment(now);
            job.state = JobState::Queued;
            observe(&mut self.meters, instance_index, instance, now);
            instance.queue.push_back(job_key);
            if let Some(shed) = &mut self.shed {
                // Shedding starts as the queue reaches its watermark, not
                // at the next arrival.
                shed.queue_length(instance_index, now, instance.queue.len());
            }
        } else {
            stats.window.rejected += 1;
            phases.count_service(service, now, |p| p.counts.rejected += 1);
            let job = self.jobs.remove(job_key).expect("live");
            if let Some(tracer) = self.trace.as_deref_mut() {
                tracer.job_end(job_key, now, now, SpanEnd::Status(Status::Unavailable));
            }
            self.reply(kernel, service, &job, Status::Unavailable);
        }
    }

    /// Gives a worker to a job; a job whose propagated deadline has passed is
    /// dropped instead (its caller has given up), and the next one is tried.
    fn start_job(&mut self, kernel: &mut Kernel<Event>, mut job_key: Key) {
        let now = kernel.now();
        loop {
            let job = self.jobs.get_mut(job_key).expect("starting a live job");
            let instance_index = job.instance;
            let instance = &mut self.instances[instance_index as usize];
            let service = instance.service as usize;
            let stats = &mut self.service_stats[service];
            let expired = now >= job.deadline;
            if expired || job.cancelled {
                if expired {
                    stats.window.expired += 1;
                } else {
                    stats.window.cancelled += 1;
                }
                self.phases
                    .count_service(service as u32, job.arrived, |p| match expired {
                        true => p.counts.expired += 1,
                        false => p.counts.cancelled += 1,
                    });
                stats.departures += 1;
                stats.sojourn_ns += u128::from((now - job.arrived).as_nanos());
                observe(&mut self.meters, job.instance, instance, now);
                if let Some(tracer) = self.trace.as_deref_mut() {
                    let ending = if expired {
                        SpanEnd::Expired
                    } else {
                        SpanEnd::Cancelled
                    };
                    tracer.job_end(job_key, job.arrived, now, ending);
                }
                self.jobs.remove(job_key);
                let next = instance.queue.pop_front();
                if let Some(shed) = &mut self.shed {
                    shed.queue_length(instance_index, now, instance.queue.len());
                }
                match next {
                    Some(next) => {
                        stats.in_queue.decrement(now);
                        job_key = next;
                        continue;
                    }
                    None => return,
                }
            }
            job.state = JobState::Busy;
            observe(&mut self.meters, job.instance, instance, now);
            instance.busy += 1;
            debug_assert!(instance.busy <= self.services[service].concurrency);
            stats.busy.increment(now);
            stats.queue_wait.record(now - job.arrived);
            let model = &self.services[service];
            let mut work = if job.origin == super::Origin::Probe {
                // A check's own work (none: a worker for no time).
                self.discovery.registries[service]
                    .as_ref()
                    .and_then(|r| r.check_work())
                    .map_or(crate::kernel::SimDuration::ZERO, |w| {
                        w.sample(&mut self.draws.service_time(job.draw))
                    })
            } else {
                model
                    .service_time
                    .sample(&mut self.draws.service_time(job.draw))
            };
            // The instance's own speed and the faults acting on it.
            if instance.slowdown != 1.0 {
                work = work.mul_f64(instance.slowdown);
            }
            work = work.saturating_add(instance.added_latency);
            kernel.schedule_in(work, Event::LocalDone(job_key));
            return;
        }
    }

    pub(super) fn local_done(&mut self, kernel: &mut Kernel<Event>, job_key: Key) {
        let Some(job) = self.jobs.get(job_key) else {
            return; // The instance crashed meanwhile.
        };
        if job.origin != super::Origin::Call {
            return self.local_done_otherwise(kernel, job_key);
        }
        let error_rate = self.instances[job.instance as usize].error_rate;
        // Keyed, so skipping the draw at rate 0 shifts nothing.
        if error_rate > 0.0 && bernoulli(&mut self.draws.error(job.draw), error_rate) {
            self.finish_job(kernel, job_key, Status::Internal, false);
        } else {
            self.behave(kernel, job_key);
        }
    }

    /// [`local_done`](Self::local_done) for a job no call sent.
    #[inline(never)]
    fn local_done_otherwise(&mut self, kernel: &mut Kernel<Event>, job_key: Key) {
        let job = self.jobs.get(job_key).expect("live");
        match job.origin {
            super::Origin::Call => unreachable!("a call's job is done in line"),
            // A check does no more than answer.
            super::Origin::Probe => self.finish_job(kernel, job_key, Status::Ok, false),
            super::Origin::Delivery => {
                let error_rate = self.instances[job.instance as usize].error_rate;
                if error_rate > 0.0 && bernoulli(&mut self.draws.error(job.draw), error_rate) {
                    self.finish_job(kernel, job_key, Status::Internal, false);
                } else if self.seen_before(job_key) {
                    // An idempotent consumer's table has it: skipped.
                    self.finish_job(kernel, job_key, Status::Ok, false);
                } else {
                    self.behave(kernel, job_key);
                }
            }
        }
    }

    /// A caller's cancellation reached the job's instance: a job not yet
    /// started is dropped when it would start (or on arrival, if the
    /// cancellation overtook it); a job in service runs on, and its reply is
    /// ignored by the caller.
    pub(super) fn cancel_job(&mut self, job_key: Key) {
        if let Some(job) = self.jobs.get_mut(job_key)
            && job.state != JobState::Busy
        {
            job.cancelled = true;
        }
    }

    /// Ends a job: frees its worker, starts the next queued job, replies.
    pub(super) fn finish_job(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        outcome: Status,
        dependency: bool,
    ) {
        self.finish_job_with(kernel, job_key, Reply::of(outcome), dependency);
    }

    /// Ends a job with `reply` (a status with a retry-after, say).
    pub(super) fn finish_job_with(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        reply: Reply,
        dependency: bool,
    ) {
        let outcome = reply.status;
        let now = kernel.now();
        let job = self.jobs.remove(job_key).expect("finishing a live job");
        if let Some(tracer) = self.trace.as_deref_mut() {
            tracer.job_end(job_key, job.arrived, now, SpanEnd::Status(outcome));
        }
        // Work done for a caller that has given up: wasted.
        let late = match outcome {
            Status::Ok if self.late_possible && job.origin == super::Origin::Call => {
                self.late_success(&job)
            }
            _ => None,
        };
        if let Some(Some(edge)) = late {
            self.edge_stats[edge as usize].completed_for_nobody += 1;
        }
        let instance = &mut self.instances[job.instance as usize];
        let service = instance.service;
        observe(&mut self.meters, job.instance, instance, now);
        instance.busy -= 1;
        let next = instance.queue.pop_front();
        if next.is_some()
            && let Some(shed) = &mut self.shed
        {
            shed.queue_length(job.instance, now, instance.queue.len());
        }
        let stats = &mut self.service_stats[service as usize];
        let sojourn = now - job.arrived;
        stats.busy.decrement(now);
        stats.departures += 1;
        stats.sojourn_ns += u128::from(sojourn.as_nanos());
        stats
            .window_latency
            .record_with_total(&mut stats.latency, sojourn);
        let count = |counts: &mut crate::metrics::Counts| match (outcome, dependency) {
            (Status::Ok, _) => {
                counts.successes += 1;
                counts.late_successes += u64::from(late.is_some());
            }
            (_, true) => counts.dependency += 1,
            // Its own answer, by the status vocabulary: a gateway's 401, 403
            // and 404 are errors and its 429 a refusal, each with its
            // sub-count, as its callers count them.
            _ => counts_outcome(counts, outcome),
        };
        count(&mut stats.window);
        self.phases.count_service(service, job.arrived, |p| {
            count(&mut p.counts);
            p.latency.record(sojourn);
        });
        if let Some(next) = next {
            stats.in_queue.decrement(now);
            self.start_job(kernel, next);
        }
        if self.instances[job.instance as usize].state == super::InstanceState::Draining {
            // A draining instance stops once its last job is done.
            self.refresh_state(kernel, job.instance);
        }
        self.send_reply(kernel, service, &job, reply);
    }

    /// Sends the reply to `job` from a service to its caller's node (the
    /// caller may have given up on the attempt already).
    #[inline]
    fn reply(&mut self, kernel: &mut Kernel<Event>, from_service: u32, job: &Job, outcome: Status) {
        self.send_reply(kernel, from_service, job, Reply::of(outcome));
    }

    /// Sends `reply` (a status with its hints) to `job`'s caller.
    #[inline]
    fn send_reply(
        &mut self,
        kernel: &mut Kernel<Event>,
        from_service: u32,
        job: &Job,
        reply: Reply,
    ) {
        match job.origin {
            super::Origin::Call => {}
            super::Origin::Probe => {
                return self.probe_reply(kernel, from_service, job, reply.status == Status::Ok);
            }
            super::Origin::Delivery => return self.message_handled(kernel, job, reply),
        }
        let attempt = job.attempt;
        let sent = match self.zones.as_deref() {
            None => self.network.transmit(
                from_service as usize,
                job.caller as usize,
                Message::Reply,
                job.draw,
            ),
            Some(zones) => {
                let zone = zones.instance[job.instance as usize];
                self.transmit_zoned(
                    (from_service, zone),
                    (job.caller, job.caller_zone),
                    Message::Reply,
                    job.draw,
                )
            }
        };
        match sent {
            Some(delay) if delay.is_zero() => self.attempt_done(kernel, attempt, reply),
            Some(delay) => kernel.schedule_in(delay, Event::Reply { attempt, reply }),
            None => {}
        }
    }

    /// Crashes an instance: its queued and in-service requests vanish without
    /// a reply; callers learn of it only through their timeouts. Requests
    /// still on the network arrive later and find it down (or restarted).
    pub(super) fn crash(&mut self, kernel: &mut Kernel<Event>, instance_index: u32) {
        let now = kernel.now();
        let instance = &mut self.instances[instance_index as usize];
        instance.crashes += 1;
        if instance.crashes > 1 {
            return;
        }
        if instance.state != super::InstanceState::Stopped {
            // A stopped instance (one an autoscaler holds) has no process
            // to lose: it is only kept down.
            self.crash_started(instance_index, now);
        }
        let instance = &mut self.instances[instance_index as usize];
        let service = instance.service as usize;
        let queued = instance.queue.len() as u64;
        observe(&mut self.meters, instance_index, instance, now);
        instance.queue.clear();
        if let Some(shed) = &mut self.shed {
            shed.queue_length(instance_index, now, 0);
        }
        let instance = &mut self.instances[instance_index as usize];
        let busy = u64::from(instance.busy);
        instance.busy = 0;
        let doomed = self
            .jobs
            .keys_where(|j| j.instance == instance_index && j.state != JobState::InTransit);
        debug_assert_eq!(
            doomed.len() as u64,
            queued + busy,
            "every job at an instance is queued or busy"
        );
        // The calls its work had in flight die with the process.
        if busy > 0 {
            self.abandon_calls_of(kernel, &doomed);
        }
        for key in doomed {
            let job = self.jobs.remove(key).expect("listed as live");
            if let Some(tracer) = self.trace.as_deref_mut() {
                tracer.job_end(key, job.arrived, now, SpanEnd::Dropped);
            }
            let stats = &mut self.service_stats[service];
            self.phases
                .count_service(service as u32, job.arrived, |p| p.counts.dropped += 1);
            stats.departures += 1;
            stats.sojourn_ns += u128::from((now - job.arrived).as_nanos());
        }
        let stats = &mut self.service_stats[service];
        stats.window.dropped += queued + busy;
        stats.in_queue.subtract(now, queued);
        stats.busy.subtract(now, busy);
        self.refresh_state(kernel, instance_index);
    }
}
