//! meshsim: a deterministic discrete-event simulator for microservice systems.
//!
//! See `docs/architecture.md` for the layers and the rules that keep runs
//! deterministic.

#![warn(missing_docs)]

pub mod kernel;
pub mod metrics;
pub mod patterns;
pub mod report;
pub mod scenario;
pub mod world;
