//! Durations in scenario files are strings such as `"250ms"` or `"1.5s"`.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::kernel::SimDuration;

/// The grammar accepted by [`SimDuration::parse`], for editors.
pub const DURATION_PATTERN: &str = r"^\s*(0|((\d+(\.\d*)?|\.\d+)(h|m|s|ms|us|µs|ns))+)\s*$";

impl Serialize for SimDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SimDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = SimDuration;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration string such as \"250ms\", \"1.5s\" or \"2m\"")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<SimDuration, E> {
                SimDuration::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(DurationVisitor)
    }
}

impl JsonSchema for SimDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration: a number and a unit (h, m, s, ms, us, ns), e.g. \"250ms\", \"1.5s\", \"1h30m\", or \"0\".",
            "examples": ["250ms", "1.5s", "2m"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_strings() {
        let d: SimDuration = serde_json::from_str("\"1.5s\"").unwrap();
        assert_eq!(d, SimDuration::from_millis(1500));
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"1.5s\"");
        let err = serde_json::from_str::<SimDuration>("250").unwrap_err();
        assert!(err.to_string().contains("duration string"), "{err}");
        let err = serde_json::from_str::<SimDuration>("\"5 parsecs\"").unwrap_err();
        assert!(err.to_string().contains("invalid duration"), "{err}");
    }
}
