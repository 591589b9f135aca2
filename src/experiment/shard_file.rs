//! `shard.json`, what `meshsim compare --shard I/N` writes and `meshsim
//! merge` reads: what was compared (scenario, variants, seeds, the
//! reproducing command, each variant's requirement names, a fingerprint of
//! it all), the slicing, and one row per run of the slice at its run index.
//!
//! Each metric value is stored as the 16 hex digits of its `f64::to_bits`:
//! a decimal float read back by serde_json is not guaranteed to be the same
//! `f64`, and JSON has no NaN or infinity; the bits are exact, so the merged
//! report is byte-for-byte the unsharded one.

use serde::{Deserialize, Serialize};

use super::metrics::METRICS;
use super::runs::RunRow;
use super::shard::Shard;

/// The file's name in a shard's directory.
pub const FILE: &str = "shard.json";
/// The `format` tag of every shard file.
pub const FORMAT: &str = "meshsim-compare-shard";
/// The layout's version: a merge reads only its own.
pub const FORMAT_VERSION: u32 = 1;

/// The whole file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] of the meshsim that wrote it.
    pub format_version: u32,
    /// The version of the meshsim that wrote it.
    pub meshsim: String,
    /// The fingerprint of what was compared (16 hex digits; see
    /// `command.rs`'s `fingerprint`).
    pub fingerprint: String,
    /// Which slice.
    pub shard: Slice,
    /// Runs in the whole comparison (variants × seeds).
    pub total_runs: usize,
    /// The baseline scenario's name.
    pub scenario: String,
    /// The variants' names, the baseline first.
    pub variants: Vec<String>,
    /// The seeds, the same for every variant.
    pub seeds: Vec<u64>,
    /// The unsharded command that reproduces the comparison.
    pub command: String,
    /// Per variant, its requirements' names.
    pub requirements: Vec<Vec<String>>,
    /// The names of the metrics, in the order of each row's `values`.
    pub metrics: Vec<String>,
    /// The slice's runs, in run-index order.
    pub rows: Vec<Row>,
}

/// `shard.index` of `shard.count`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slice {
    /// 1 to `count`.
    pub index: u32,
    /// The number of slices.
    pub count: u32,
}

/// One run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// Its run index: variant × K + seed number.
    pub run: usize,
    /// Whether it covered its whole duration.
    pub completed: bool,
    /// The requirements it failed, by index.
    pub failed_requirements: Vec<u16>,
    /// The metrics' values: each `f64::to_bits` as 16 hex digits.
    pub values: Vec<String>,
}

/// The fields read before the rest, so that a file of another layout is
/// refused by its version rather than by a field it lacks.
#[derive(Deserialize)]
pub struct Header {
    /// The `format` tag, if any.
    pub format: Option<String>,
    /// The `format_version`, if any.
    pub format_version: Option<u32>,
    /// The meshsim version, if any.
    pub meshsim: Option<String>,
}

/// `row`, stored exactly.
pub fn row(run: usize, row: &RunRow) -> Row {
    Row {
        run,
        completed: row.completed,
        failed_requirements: row.failed_requirements.clone(),
        values: row
            .values
            .iter()
            .map(|v| format!("{:016x}", v.to_bits()))
            .collect(),
    }
}

/// The names of [`METRICS`].
pub fn metric_names() -> Vec<String> {
    METRICS.iter().map(|m| m.name.to_string()).collect()
}

impl ShardFile {
    /// The file's bytes: pretty JSON and a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("plain JSON");
        bytes.push(b'\n');
        bytes
    }

    /// The slice, checked.
    pub fn shard(&self) -> Result<Shard, String> {
        Shard::parse(&format!("{}/{}", self.shard.index, self.shard.count))
            .map_err(|e| format!("its `shard` is not a slice: {e}"))
    }
}

impl Row {
    /// The run's row, the values decoded; an error says which is wrong.
    pub fn decode(&self) -> Result<RunRow, String> {
        let values = self
            .values
            .iter()
            .map(|v| {
                if v.len() == 16 {
                    u64::from_str_radix(v, 16).ok().map(f64::from_bits)
                } else {
                    None
                }
                .ok_or_else(|| {
                    format!(
                        "run {}: the value `{v}` is not 16 hex digits (an f64's bits)",
                        self.run
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(RunRow {
            values,
            completed: self.completed,
            failed_requirements: self.failed_requirements.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_exactly_even_nan_and_infinities() {
        let values = vec![
            0.1 + 0.2,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            f64::MIN_POSITIVE / 3.0,
            1e300,
        ];
        let run = RunRow {
            values: values.clone(),
            completed: false,
            failed_requirements: vec![2],
        };
        let stored = row(5, &run);
        let text = serde_json::to_string(&stored).unwrap();
        let back: Row = serde_json::from_str(&text).unwrap();
        let decoded = back.decode().unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&decoded.values), bits(&values));
        assert!(!decoded.completed);
        assert_eq!(decoded.failed_requirements, [2]);
    }

    #[test]
    fn a_bad_value_is_named() {
        let mut bad = row(
            3,
            &RunRow {
                values: vec![1.0],
                completed: true,
                failed_requirements: vec![],
            },
        );
        bad.values[0] = "1.0".to_string();
        let e = bad.decode().unwrap_err();
        assert!(e.contains("run 3") && e.contains("`1.0`"), "{e}");
    }
}
