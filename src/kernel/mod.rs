//! The discrete-event kernel: virtual time, the event queue with cancellable
//! timers, named random streams, and the run loop.
//!
//! **Architecture Invariant:** only the kernel advances time, and it never
//! moves backwards. The kernel knows nothing of services, requests or
//! patterns: it runs any [`Model`] whose events are plain data.

pub mod dist;
pub mod heap;
pub mod queue;
pub mod rng;
pub mod sim;
pub mod time;

pub use queue::{EventQueue, TimerId};
pub use rng::{ChaCha8Rng, DrawKey, KeyedRng, KeyedStream, RngStreams};
pub use sim::{Control, DEFAULT_EVENTS_PER_INSTANT, Kernel, Model, RunLimits, StopReason};
pub use time::{DurationParseError, SimDuration, SimTime};
