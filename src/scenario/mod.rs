//! Scenario files: the serde model, loading with precise diagnostics, and the
//! meaning checks. A scenario that loads is safe to build into a world: every
//! reference resolves, every number is in range.
//!
//! **Architecture Invariant:** no input, however malformed, makes this module
//! panic; every problem becomes a [`Diagnostic`] with a path and a position.

pub mod diagnostic;
mod duration;
pub mod load;
pub mod model;
pub mod validate;

pub use diagnostic::{Diagnostic, JsonPath, ScenarioError};
pub use load::{load, parse};
pub use model::*;

/// The JSON Schema of scenario files, for editors.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Scenario);
    serde_json::to_value(&schema).expect("a schema is plain JSON")
}
