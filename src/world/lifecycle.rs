//! The lifecycle of an instance: starting, ready, not ready, draining,
//! stopped, crashed.
//!
//! The state is derived from what is acting on the instance (crash faults,
//! graceful stops, the work it still holds), so overlapping faults compose:
//! a crash during a drain is a crash, and the end of the crash finds the
//! drain still active. Every change is counted per service, by (from, to).
//! A restart (crashed or stopped → ready) passes through `Starting`, where
//! later issues add a boot time, and runs the restart hook
//! ([`World::on_ready`]) where they register the instance or recover its
//! log.
//!
//! What each state means for a request that reaches the instance:
//!
//! | state | a request that arrives |
//! |---|---|
//! | `Ready` | is queued or served |
//! | `Starting`, `NotReady` | (not produced yet: come with boot times and readiness checks) |
//! | `Draining` | is refused with 503 `Unavailable`; queued and in-service work finishes |
//! | `Stopped` | is refused with 503 `Unavailable` |
//! | `Crashed` | vanishes: no reply (the caller learns through its timeout) |

use crate::kernel::SimTime;

use super::World;

/// Where an instance is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InstanceState {
    /// Booting: not yet serving.
    Starting,
    /// Serving.
    Ready,
    /// Up but failing its readiness check (not produced yet).
    NotReady,
    /// Stopping gracefully: refuses new work, finishes what it holds.
    Draining,
    /// Stopped gracefully.
    Stopped,
    /// Crashed: everything it held is lost.
    Crashed,
}

impl InstanceState {
    /// The state's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            InstanceState::Starting => "starting",
            InstanceState::Ready => "ready",
            InstanceState::NotReady => "not_ready",
            InstanceState::Draining => "draining",
            InstanceState::Stopped => "stopped",
            InstanceState::Crashed => "crashed",
        }
    }

    /// Whether a request that arrives is refused with 503.
    pub(super) fn refuses(self) -> bool {
        matches!(self, InstanceState::Draining | InstanceState::Stopped)
    }
}

impl World<'_> {
    /// Brings an instance's state up to date with what acts on it, counting
    /// the transition (and running the restart hook on a restart).
    pub(super) fn refresh_state(&mut self, now: SimTime, index: u32) {
        let instance = &self.instances[index as usize];
        let next = if instance.crashes > 0 {
            InstanceState::Crashed
        } else if instance.stops > 0 {
            if instance.busy > 0 || !instance.queue.is_empty() {
                InstanceState::Draining
            } else {
                InstanceState::Stopped
            }
        } else {
            InstanceState::Ready
        };
        let previous = instance.state;
        if next == previous {
            return;
        }
        let service = instance.service as usize;
        self.instances[index as usize].state = next;
        let transitions = &mut self.services[service].transitions;
        let restart = next == InstanceState::Ready
            && matches!(previous, InstanceState::Crashed | InstanceState::Stopped);
        if restart {
            // Booting takes no time yet: the instance passes through Starting.
            *transitions
                .entry((previous, InstanceState::Starting))
                .or_insert(0) += 1;
            *transitions
                .entry((InstanceState::Starting, next))
                .or_insert(0) += 1;
            self.on_ready(now, index);
        } else {
            *transitions.entry((previous, next)).or_insert(0) += 1;
        }
    }

    /// The restart hook: an instance has become ready again. Nothing to do
    /// yet; discovery registers the instance here, and stateful services
    /// recover their durable state.
    pub(super) fn on_ready(&mut self, _now: SimTime, index: u32) {
        debug_assert_eq!(self.instances[index as usize].state, InstanceState::Ready);
    }

    /// Starts a graceful stop of an instance.
    pub(super) fn stop_instance(&mut self, now: SimTime, index: u32) {
        self.instances[index as usize].stops += 1;
        self.refresh_state(now, index);
    }

    /// Ends a graceful stop of an instance.
    pub(super) fn resume_instance(&mut self, now: SimTime, index: u32) {
        let instance = &mut self.instances[index as usize];
        debug_assert!(
            instance.stops > 0,
            "resumed an instance that was not stopped"
        );
        instance.stops -= 1;
        self.refresh_state(now, index);
    }

    /// Ends a crash of an instance: it restarts empty once no crash is left.
    pub(super) fn recover_instance(&mut self, now: SimTime, index: u32) {
        let instance = &mut self.instances[index as usize];
        debug_assert!(
            instance.crashes > 0,
            "recovered an instance that was not down"
        );
        instance.crashes -= 1;
        self.refresh_state(now, index);
    }
}
