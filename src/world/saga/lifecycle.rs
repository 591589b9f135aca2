//! An orchestrator instance's process and its sagas: lost with the
//! process, rebuilt from the durable log by the restart hook.

use super::*;

impl World<'_> {
    /// The process of orchestrator instance `instance` is gone (crashed or
    /// stopped): its sagas in memory, their timers and their calls go with
    /// it; their log stays.
    pub(in crate::world) fn sagas_lost(&mut self, kernel: &mut Kernel<Event>, instance: u32) {
        let service = self.instances[instance as usize].service;
        let Some(Behaviour::Orchestrator(o)) =
            self.sagas.as_deref().and_then(|s| s.behaviour_of(service))
        else {
            return;
        };
        let sagas = self.sagas_mut();
        let orchestrator = &mut sagas.orchestrators[o as usize];
        let own = &mut orchestrator.instances[(instance - orchestrator.first_instance) as usize];
        let runs: Vec<Key> = std::mem::take(&mut own.runs).into_values().collect();
        for &run in &runs {
            let r = sagas.runs.remove(run).expect("an instance's run is live");
            if let Some((timer, _)) = r.timer {
                kernel.cancel(timer);
            }
        }
        self.abandon_saga_calls(kernel, &runs);
    }

    /// Orchestrator instance `instance` is ready again: every unfinished
    /// saga in its log is rebuilt and resumes.
    pub(in crate::world) fn sagas_recover(&mut self, kernel: &mut Kernel<Event>, instance: u32) {
        let service = self.instances[instance as usize].service;
        let Some(Behaviour::Orchestrator(o)) =
            self.sagas.as_deref().and_then(|s| s.behaviour_of(service))
        else {
            return;
        };
        let now = kernel.now();
        let orchestrator = &self.sagas.as_deref().expect("sagas").orchestrators[o as usize];
        let slot = (instance - orchestrator.first_instance) as usize;
        if !orchestrator.instances[slot].runs.is_empty() {
            // A new process holds no saga of the old one's.
            self.sagas_lost(kernel, instance);
        }
        let sagas = self.sagas_mut();
        let orchestrator = &mut sagas.orchestrators[o as usize];
        let own = &mut orchestrator.instances[slot];
        let rebuilt = recover(&mut own.log, now.as_nanos());
        orchestrator.counts.recovered += rebuilt.len() as u64;
        let mut keys = Vec::with_capacity(rebuilt.len());
        for saga in rebuilt {
            let id = saga.id();
            let own = &mut sagas.orchestrators[o as usize].instances[slot];
            let payload = own.payloads[&id];
            let run = sagas.runs.insert(Run {
                orchestrator: o,
                instance,
                saga,
                payload,
                timer: None,
            });
            sagas.orchestrators[o as usize].instances[slot]
                .runs
                .insert(id, run);
            keys.push(run);
        }
        for run in keys {
            self.saga_drive(kernel, run);
        }
    }
}
