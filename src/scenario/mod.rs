//! Scenario files: the serde model, loading with precise diagnostics, the
//! meaning checks, and the compile step that turns a [`Scenario`] into the
//! [`Compiled`] model a world is built from: every reference resolved, every
//! number in range, every policy built by its patterns' own constructors,
//! every distribution compiled for sampling, and the warnings.
//!
//! **Architecture Invariant:** no input, however malformed, makes this module
//! panic; every problem becomes a [`Diagnostic`] with a path and a position.

pub mod compile;
pub mod diagnostic;
pub mod discovery;
mod duration;
pub mod load;
pub mod model;
pub mod policy;
pub mod sampler;
pub mod size;
pub mod validate;
pub mod warnings;

pub use compile::{
    AmplificationTarget, CallTarget, ClientTarget, Compiled, CompiledRequirement, FaultTarget,
    RequirementKind, RouteTarget, Span, compile,
};
pub use compile::{CompiledGateway, CompiledGatewayRoute};
pub use compile::{CompiledZones, MAX_ZONES, NO_ZONE, ZoneId};
pub use diagnostic::{Diagnostic, JsonPath, ScenarioError};
pub use discovery::{CompiledDiscovery, CompiledHealth, CompiledReadiness};
pub use load::{load, parse};
pub use model::*;
pub use policy::{CompiledFallback, CompiledPolicy, FallbackAnswer, Limiter};
pub use sampler::{Sampler, Samplers};
pub use warnings::Warning;

/// The JSON Schema of scenario files, for editors: every bound and choice
/// that validation enforces on a single number is declared in it
/// (`tests/schema_bounds.rs` checks the two agree). A top-level `"$schema"`
/// string is allowed, the way editors attach a schema to a file; meshsim
/// ignores it, so it is not part of [`Scenario`].
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Scenario);
    let mut value = serde_json::to_value(&schema).expect("a schema is plain JSON");
    if let Some(properties) = value
        .get_mut("properties")
        .and_then(serde_json::Value::as_object_mut)
    {
        properties.insert(
            "$schema".to_string(),
            serde_json::json!({
                "description": "Where editors find this schema, e.g. \"./meshsim.schema.json\" (written by `meshsim schema > meshsim.schema.json`); meshsim ignores it.",
                "type": "string"
            }),
        );
    }
    value
}
