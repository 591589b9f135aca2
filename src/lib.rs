//! meshsim: a deterministic discrete-event simulator for microservice systems.
//!
//! See `docs/architecture.md` for the layers and the rules that keep runs
//! deterministic.

#![warn(missing_docs)]

pub mod experiment;
pub mod explore;
pub mod kernel;
pub mod metrics;
pub mod report;
pub mod scenario;
pub mod world;

/// The resilience patterns, a crate of their own (`meshsim-patterns`, in `patterns/`)
/// that knows nothing of the simulator; re-exported so that `crate::patterns::...`
/// and `meshsim::patterns::...` paths keep working.
pub use meshsim_patterns as patterns;
