//! A stateful service's side of a saga: the message stamped on a job when
//! it is sent, the action or compensation applied to the ledger when the
//! job is served, and an effect that lands after its saga ended.

use super::*;

impl World<'_> {
    /// A stateful service's job is done with its own work: apply the
    /// action or compensation its message says, and answer.
    pub(in crate::world) fn store_request(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        s: u16,
    ) {
        let now = kernel.now();
        let sagas = self.sagas.as_deref_mut().expect("sagas");
        let tag = sagas.tags.get(job_key.index()).copied().unwrap_or_default();
        if tag.ordinal == NO_SAGA {
            // No saga sent it (validation keeps other callers away).
            return self.finish_job(kernel, job_key, Status::Internal, false);
        }
        let model = &sagas.orchestrators[tag.orchestrator as usize].steps[usize::from(tag.step)];
        let (delta, step) = (model.delta, usize::from(tag.step));
        debug_assert_eq!(model.store, s, "a message reaches its step's service");
        let declined = !tag.compensation
            && model.decline > 0.0
            && bernoulli(
                &mut sagas.decline.rng(tag.draw.child(u64::from(tag.step))),
                model.decline,
            );
        let (idempotence, compensation_idempotence) = (model.idempotence, model.compensation);
        let store = &mut sagas.stores[s as usize];
        while let Some(&(until, ordinal)) = store.to_forget.front()
            && until <= now
        {
            store.ledger.forget(ordinal);
            store.to_forget.pop_front();
        }
        let action = Action {
            saga: tag.ordinal,
            step,
            key: (tag.key % store.keys) as usize,
            delta,
        };
        let (reply, effect) = if tag.compensation {
            match store
                .ledger
                .compensate_with(&action, compensation_idempotence)
            {
                CompensationReply::Undone => {
                    store.counts.undone += 1;
                    (Reply::of(Status::Ok), Some(EffectKind::Undone))
                }
                CompensationReply::NoOp => {
                    store.counts.no_ops += 1;
                    (Reply::of(Status::Ok), None)
                }
                CompensationReply::Duplicate => {
                    store.counts.compensation_duplicates += 1;
                    (Reply::of(Status::Ok), None)
                }
                CompensationReply::Unavailable => (Reply::of(Status::Unavailable), None),
            }
        } else if declined {
            store.counts.rejected += 1;
            (Reply::of(Status::Ok).refused(), None)
        } else {
            match store.ledger.apply_with(&action, idempotence) {
                ActionReply::Applied => {
                    store.counts.applied += 1;
                    (Reply::of(Status::Ok), Some(EffectKind::Applied))
                }
                ActionReply::Duplicate => {
                    store.counts.duplicates += 1;
                    (Reply::of(Status::Ok), None)
                }
                ActionReply::Rejected => {
                    store.counts.rejected += 1;
                    (Reply::of(Status::Ok).refused(), None)
                }
                ActionReply::Refused => {
                    store.counts.fenced += 1;
                    (Reply::of(Status::Ok).refused(), None)
                }
                ActionReply::Unavailable => (Reply::of(Status::Unavailable), None),
            }
        };
        if let Some(kind) = effect {
            let signed = match kind {
                EffectKind::Applied => delta,
                EffectKind::Undone => -delta,
            };
            match sagas.live.get_mut(&tag.ordinal) {
                Some(live) => {
                    live.trace.push((step, kind));
                    store.live_net += signed;
                }
                None => {
                    // Its saga has ended. A dead-lettered saga may see a step
                    // it reported as left take effect late; any other late
                    // effect makes what the saga reported untrue.
                    store.accounted += signed;
                    let o = usize::from(tag.orchestrator);
                    let plan = sagas.orchestrators[o].plan;
                    let dead = sagas.dead.get_mut(&tag.ordinal).map(|dead| {
                        dead.trace.push((step, kind));
                        let verdict = check_saga(dead.id, &plan, dead.ending, &dead.trace);
                        (verdict, dead.key, dead.ending, dead.trace.clone())
                    });
                    let store_service = store.service;
                    let cause =
                        match dead {
                            Some((Ok(()), ..)) => None,
                            Some((Err(violation), key, ending, trace)) => Some(
                                self.saga_violation(o, tag.ordinal, key, ending, &trace, violation),
                            ),
                            None => {
                                let service = &self.service_names[store_service as usize];
                                Some(self.late_effect(tag, kind, service))
                            }
                        };
                    if let Some(cause) = cause {
                        let service = self.sagas_mut().stores[s as usize].service;
                        let service = self.service_names[service as usize].clone();
                        self.violate(
                            now,
                            crate::world::stop::Invariant::SagaOutcome,
                            service,
                            cause,
                        );
                    }
                }
            }
        }
        self.finish_job_with(kernel, job_key, reply, false);
    }

    /// The message of an effect of a saga that had already ended.
    pub(super) fn late_effect(&self, tag: Tag, kind: EffectKind, service: &str) -> String {
        let sagas = self.sagas.as_deref().expect("sagas");
        let model = &sagas.orchestrators[tag.orchestrator as usize].steps[usize::from(tag.step)];
        let ended = sagas
            .recent
            .iter()
            .find(|(n, _)| *n == tag.ordinal)
            .map_or("ended".to_string(), |&(_, e)| {
                format!("ended {}", ending_name(e))
            });
        format!(
            "saga invariant violated: saga {} had {ended}, and then step {} `{}` {} at `{service}` (key {}): a late {} that nothing will undo",
            tag.ordinal,
            tag.step,
            model.name,
            match kind {
                EffectKind::Applied => "was applied",
                EffectKind::Undone => "was undone",
            },
            tag.key % sagas.stores[model.store as usize].keys,
            match kind {
                EffectKind::Applied => "action (a retry or a slow request overtaken)",
                EffectKind::Undone => "compensation",
            }
        )
    }

    /// Stamps the message of a job sent to a stateful service, from the saga
    /// call behind `attempt`.
    pub(in crate::world) fn stamp_saga_job(&mut self, job: Key, attempt: Key) {
        let parent = self.attempts.get(attempt).and_then(|a| match a.owner {
            crate::world::calls::Owner::Direct { parent, .. } => Some(parent),
            crate::world::calls::Owner::Call(call) => self.calls.get(call).map(|c| c.parent),
        });
        let sagas = self.sagas.as_deref_mut().expect("sagas");
        // Validation lets only saga steps call a stateful service; a job
        // without a saga behind it gets the tag that says so.
        let tag = match parent {
            Some(Parent::Saga { run, call }) => match sagas.runs.get(run) {
                Some(r) => Tag {
                    ordinal: r.payload.ordinal,
                    draw: r.payload.draw,
                    key: r.payload.key,
                    orchestrator: r.orchestrator,
                    step: call.step() as u8,
                    compensation: call.compensation(),
                },
                None => Tag::default(),
            },
            _ => Tag::default(),
        };
        let index = job.index();
        if sagas.tags.len() <= index {
            sagas.tags.resize(index + 1, Tag::default());
        }
        sagas.tags[index] = tag;
    }
}
