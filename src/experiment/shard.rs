//! Slicing a command's runs over many machines: `--shard I/N` (1-based, as
//! Playwright's and Jest's `--shard=1/3`), and the fingerprint that tells
//! whether two slices belong to one computation.
//!
//! Any command whose work is a fixed list of independent runs, numbered
//! `0..total` in an order every machine computes alike, can be sharded
//! with this module: `compare` numbers its runs variant × K + seed number
//! (as `runs.rs` stores them); a future `explore` would number its points
//! the same way. Each machine parses the same `--shard I/N` it was given
//! by its scheduler ([`Shard::parse`]), checks it against the number of
//! runs ([`Shard::check`]), runs the indices [`Shard::contains`] accepts
//! and writes them with their run index and a [`Fingerprint`] of what was
//! computed; merging checks the fingerprints match and that every slice
//! 1..=N is there once.
//!
//! **Striped, not blocked:** shard I takes every run index `i` with
//! `i % N == I - 1`. Runs of one variant (or one region of a search) tend to
//! cost alike, and blocks would give one machine all of the slowest
//! variant; stripes give every shard a mix of variants, so shards finish at
//! about the same time. Slices differ in size by one run at most.

use std::fmt;

/// One slice of N: the `index`-th (1-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which slice, 1 to `count`.
    pub index: u32,
    /// How many slices.
    pub count: u32,
}

impl Shard {
    /// Parses `I/N` with 1 ≤ I ≤ N; the error says what is wrong, for
    /// people (a Kubernetes Indexed Job's index is 0-based, and the message
    /// for `0/N` says how to write it).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let form = "--shard takes I/N, the I-th of N slices (1-based), e.g. --shard 2/3";
        let Some((i, n)) = text.split_once('/') else {
            return Err(format!("`{text}`: {form}"));
        };
        let number = |part: &str, what: &str| {
            part.trim()
                .parse::<u32>()
                .map_err(|_| format!("`{text}`: the {what} `{part}` is not a whole number; {form}"))
        };
        let (index, count) = (number(i, "slice")?, number(n, "number of slices")?);
        if count == 0 {
            return Err(format!(
                "`{text}`: there must be at least one slice; {form}"
            ));
        }
        if index == 0 {
            return Err(format!(
                "`{text}`: slices are numbered from 1 to {count}; a Kubernetes Indexed Job's 0-based index is written $((JOB_COMPLETION_INDEX + 1))/{count}"
            ));
        }
        if index > count {
            return Err(format!(
                "`{text}`: slice {index} of {count} does not exist (slices are numbered 1 to {count})"
            ));
        }
        Ok(Shard { index, count })
    }

    /// Refuses a slicing of `total` runs into more slices than runs (some
    /// shard would have nothing to do: most likely a mistake).
    pub fn check(&self, total: usize) -> Result<(), String> {
        if self.count as usize > total {
            return Err(format!(
                "--shard {self}: {} slices of {total} run{} would leave some empty; use at most {total} slices",
                self.count,
                if total == 1 { "" } else { "s" }
            ));
        }
        Ok(())
    }

    /// Whether run `run_index` (0-based) is in this slice.
    pub fn contains(&self, run_index: usize) -> bool {
        run_index % self.count as usize == (self.index - 1) as usize
    }

    /// The run indices of this slice, in order, out of `total`.
    pub fn runs(&self, total: usize) -> Vec<usize> {
        (self.index as usize - 1..total)
            .step_by(self.count as usize)
            .collect()
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A stable 64-bit FNV-1a hash of a canonical description of what a sharded
/// command computes (never `std`'s `DefaultHasher`, whose output may change
/// between Rust versions). Every part is written with its length first, so
/// `("ab", "c")` and `("a", "bc")` differ.
#[derive(Clone, Debug)]
pub struct Fingerprint(crate::report::output::Fnv);

impl Fingerprint {
    /// An empty description.
    pub fn new() -> Fingerprint {
        Fingerprint(crate::report::output::Fnv::new())
    }

    /// Adds one part.
    pub fn part(&mut self, bytes: &[u8]) -> &mut Fingerprint {
        self.0.write(&(bytes.len() as u64).to_le_bytes());
        self.0.write(bytes);
        self
    }

    /// The hash, as 16 hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0.finish())
    }
}

impl Default for Fingerprint {
    fn default() -> Fingerprint {
        Fingerprint::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_one_based_slices() {
        assert_eq!(Shard::parse("1/3"), Ok(Shard { index: 1, count: 3 }));
        assert_eq!(Shard::parse("3/3"), Ok(Shard { index: 3, count: 3 }));
        assert_eq!(Shard::parse("1/1"), Ok(Shard { index: 1, count: 1 }));
        assert_eq!(Shard::parse("2/3").unwrap().to_string(), "2/3");
    }

    #[test]
    fn refuses_what_is_not_a_slice() {
        let zero = Shard::parse("0/3").unwrap_err();
        assert!(zero.contains("$((JOB_COMPLETION_INDEX + 1))/3"), "{zero}");
        assert!(Shard::parse("4/3").unwrap_err().contains("does not exist"));
        assert!(Shard::parse("0/0").unwrap_err().contains("at least one"));
        assert!(Shard::parse("x/3").unwrap_err().contains("`x`"));
        assert!(Shard::parse("3").is_err());
        assert!(Shard::parse("-1/3").is_err());
        assert!(Shard::parse("1/3/4").is_err());
    }

    #[test]
    fn slices_are_striped_and_cover_every_run_once() {
        let total = 40;
        let shards: Vec<Shard> = (1..=3).map(|i| Shard { index: i, count: 3 }).collect();
        for i in 0..total {
            assert_eq!(shards.iter().filter(|s| s.contains(i)).count(), 1, "{i}");
        }
        assert_eq!(shards[0].runs(total).len(), 14);
        assert_eq!(shards[1].runs(total).len(), 13);
        assert_eq!(shards[2].runs(total).len(), 13);
        assert_eq!(shards[1].runs(7), [1, 4]);
        for s in &shards {
            assert!(s.runs(total).iter().all(|&i| s.contains(i)));
        }
    }

    #[test]
    fn more_slices_than_runs_are_refused() {
        let s = Shard { index: 1, count: 7 };
        assert!(s.check(7).is_ok());
        assert!(s.check(6).unwrap_err().contains("at most 6 slices"));
    }

    #[test]
    fn the_hash_is_fnv1a_64() {
        let mut fnv = crate::report::output::Fnv::new();
        assert_eq!(fnv.finish(), 0xcbf2_9ce4_8422_2325);
        fnv.write(b"a");
        assert_eq!(fnv.finish(), 0xaf63_dc4c_8601_ec8c);
        let mut fnv = crate::report::output::Fnv::new();
        fnv.write(b"foobar");
        assert_eq!(fnv.finish(), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_fingerprint_separates_its_parts() {
        let ab_c = Fingerprint::new().part(b"ab").part(b"c").hex();
        let a_bc = Fingerprint::new().part(b"a").part(b"bc").hex();
        assert_ne!(ab_c, a_bc);
        assert_eq!(ab_c, Fingerprint::new().part(b"ab").part(b"c").hex());
        assert_eq!(ab_c.len(), 16);
    }
}
