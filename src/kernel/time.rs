//! Virtual time: integer nanoseconds in two newtypes.
//!
//! [`SimTime`] is an instant on the simulation clock (nanoseconds since the
//! start of the run); [`SimDuration`] is a span. Both are `u64` nanoseconds, so
//! arithmetic is exact and identical on every machine; a run of 584 years fits.
//! Floating point may be used to *sample* a duration, but it is rounded to
//! whole nanoseconds (see [`SimDuration::from_nanos_f64`]) before it touches
//! the clock.
//!
//! Human durations ("250ms", "1.5s", "2m", "1h30m", "750us") are parsed by
//! [`SimDuration::parse`] and printed by `Display` in the shortest exact form.
//! We parse them ourselves rather than with `humantime` because that crate has
//! no fractions ("1.5s"), and a duration here must convert to nanoseconds
//! exactly, with no float in between.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// Nanoseconds per unit, longest first, with the unit names we accept.
const UNITS: &[(&str, u64)] = &[
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("µs", 1_000),
    ("ns", 1),
];

/// An instant of virtual time, in nanoseconds since the run started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(u64);

/// A span of virtual time, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(u64);

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// The largest representable instant; used as "never".
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// The instant `nanos` nanoseconds after the start.
    pub const fn from_nanos(nanos: u64) -> Self {
        SimTime(nanos)
    }

    /// Nanoseconds since the start.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Seconds since the start, for reporting only.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// The span from `earlier` to `self`; zero if `earlier` is later.
    pub fn saturating_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, saturating at [`SimTime::MAX`] instead of wrapping.
    pub fn saturating_add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}

impl SimDuration {
    /// No time at all.
    pub const ZERO: SimDuration = SimDuration(0);
    /// The longest representable span.
    pub const MAX: SimDuration = SimDuration(u64::MAX);

    /// A span of `nanos` nanoseconds.
    pub const fn from_nanos(nanos: u64) -> Self {
        SimDuration(nanos)
    }
    /// A span of `micros` microseconds.
    pub const fn from_micros(micros: u64) -> Self {
        SimDuration(micros * 1_000)
    }
    /// A span of `millis` milliseconds.
    pub const fn from_millis(millis: u64) -> Self {
        SimDuration(millis * 1_000_000)
    }
    /// A span of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        SimDuration(secs * 1_000_000_000)
    }

    /// Rounds a sampled, non-negative float of nanoseconds to the clock's
    /// resolution. NaN and negative values become zero, values past the
    /// range saturate: a distribution can never move time backwards.
    pub fn from_nanos_f64(nanos: f64) -> Self {
        if nanos.is_nan() || nanos <= 0.0 {
            SimDuration(0)
        } else if nanos >= u64::MAX as f64 {
            SimDuration(u64::MAX)
        } else {
            // x + 0.5 truncated: round-half-up, without a libm call.
            SimDuration((nanos + 0.5) as u64)
        }
    }

    /// The span in nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// The span in seconds, for reporting and for rates.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// The span in milliseconds, for reporting.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
    /// Whether this is the empty span.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
    /// `self + other`, saturating.
    pub fn saturating_add(self, other: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(other.0))
    }
    /// `self * factor` for a non-negative factor, rounded to nanoseconds.
    pub fn mul_f64(self, factor: f64) -> SimDuration {
        SimDuration::from_nanos_f64(self.0 as f64 * factor)
    }

    /// Parses a human duration: one or more `<number><unit>` parts, such as
    /// `"250ms"`, `"1.5s"`, `"2m"`, `"1h30m"`, `"0"`. Units: `h`, `m`, `s`,
    /// `ms`, `us` (or `µs`), `ns`. A fraction must come to whole nanoseconds.
    pub fn parse(text: &str) -> Result<SimDuration, DurationParseError> {
        let err = |reason: &'static str| DurationParseError {
            input: text.to_string(),
            reason,
        };
        let s = text.trim();
        if s.is_empty() {
            return Err(err("it is empty"));
        }
        if s == "0" {
            return Ok(SimDuration::ZERO);
        }
        let mut rest = s;
        let mut total: u64 = 0;
        while !rest.is_empty() {
            let digits_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(|| err("a number needs a unit (h, m, s, ms, us, ns)"))?;
            if digits_end == 0 {
                return Err(err("expected a number such as 250 or 1.5"));
            }
            let number = &rest[..digits_end];
            rest = &rest[digits_end..];
            let unit_end = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let unit = &rest[..unit_end];
            rest = &rest[unit_end..];
            let scale = UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, scale)| *scale)
                .ok_or_else(|| err("unknown unit: use h, m, s, ms, us or ns"))?;
            let (whole, frac) = match number.split_once('.') {
                Some((w, f)) => (w, f),
                None => (number, ""),
            };
            if whole.is_empty() && frac.is_empty() || frac.contains('.') {
                return Err(err("expected a number such as 250 or 1.5"));
            }
            let whole: u64 = if whole.is_empty() {
                0
            } else {
                whole.parse().map_err(|_| err("the number is too large"))?
            };
            let mut nanos = whole
                .checked_mul(scale)
                .ok_or_else(|| err("the duration is too large"))?;
            // Exact decimal fraction: frac digits / 10^len * scale.
            let mut place = scale;
            for digit in frac.bytes() {
                let d = u64::from(digit - b'0');
                if !place.is_multiple_of(10) {
                    if d != 0 {
                        return Err(err("finer than one nanosecond"));
                    }
                    continue;
                }
                place /= 10;
                nanos = nanos
                    .checked_add(d * place)
                    .ok_or_else(|| err("the duration is too large"))?;
            }
            total = total
                .checked_add(nanos)
                .ok_or_else(|| err("the duration is too large"))?;
        }
        Ok(SimDuration(total))
    }
}

/// Why a duration string could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason}")]
pub struct DurationParseError {
    /// The text as given.
    pub input: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

impl std::str::FromStr for SimDuration {
    type Err = DurationParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SimDuration::parse(s)
    }
}

impl SimDuration {
    /// The duration in seconds, exact (up to nine decimals, trailing zeros
    /// dropped): `130s`, `0.25s`, `90s`. For messages that compare two
    /// durations, which read badly in two units ("130s ... 2m").
    pub fn in_seconds(self) -> String {
        let (whole, nanos) = (self.0 / 1_000_000_000, self.0 % 1_000_000_000);
        if nanos == 0 {
            format!("{whole}s")
        } else {
            let frac = format!("{nanos:09}");
            format!("{whole}.{}s", frac.trim_end_matches('0'))
        }
    }
}

impl fmt::Display for SimDuration {
    /// The shortest exact form in one unit: `250ms`, `1.5s`, `2m`, `0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n == 0 {
            return f.write_str("0");
        }
        // Prefer the largest of h, m, s, ms, us, ns that shows the value with
        // at most 3 decimals and no loss.
        for (name, scale) in UNITS.iter().filter(|(name, _)| *name != "µs") {
            let scale = *scale;
            if n >= scale || scale == 1 {
                let whole = n / scale;
                let rem = n % scale;
                if rem == 0 {
                    return write!(f, "{whole}{name}");
                }
                // Only seconds and below take fractions; 90s stays "90s".
                if (1_000..=1_000_000_000).contains(&scale) {
                    for decimals in 1..=3u32 {
                        let step = scale / 10u64.pow(decimals);
                        if rem.is_multiple_of(step) {
                            let frac = rem / step;
                            return write!(
                                f,
                                "{whole}.{frac:0width$}{name}",
                                width = decimals as usize
                            );
                        }
                    }
                }
            }
        }
        write!(f, "{n}ns")
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}", SimDuration(self.0))
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, rhs: SimDuration) -> SimTime {
        SimTime(
            self.0
                .checked_add(rhs.0)
                .expect("virtual time overflowed u64 nanoseconds"),
        )
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, rhs: SimDuration) {
        *self = *self + rhs;
    }
}

impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    /// The span between two instants. Panics (a meshsim bug) if `rhs` is later.
    fn sub(self, rhs: SimTime) -> SimDuration {
        SimDuration(
            self.0
                .checked_sub(rhs.0)
                .expect("time went backwards: subtracted a later instant"),
        )
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, rhs: SimDuration) -> SimDuration {
        SimDuration(
            self.0
                .checked_add(rhs.0)
                .expect("duration overflowed u64 nanoseconds"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, nanos: u64) {
        assert_eq!(
            SimDuration::parse(text),
            Ok(SimDuration(nanos)),
            "parsing {text:?}"
        );
    }

    #[test]
    fn in_seconds_compares_two_durations_in_one_unit() {
        let d = |text: &str| text.parse::<SimDuration>().unwrap();
        assert_eq!(d("2m").in_seconds(), "120s");
        assert_eq!(d("130s").in_seconds(), "130s");
        assert_eq!(d("250ms").in_seconds(), "0.25s");
        assert_eq!(d("1ns").in_seconds(), "0.000000001s");
        assert_eq!(SimDuration::ZERO.in_seconds(), "0s");
    }

    #[test]
    fn parses_human_durations_exactly() {
        check("0", 0);
        check("250ms", 250_000_000);
        check("1.5s", 1_500_000_000);
        check("2m", 120_000_000_000);
        check("1h30m", 5_400_000_000_000);
        check("750us", 750_000);
        check("750µs", 750_000);
        check("42ns", 42);
        check("0.001ms", 1_000);
        check(".5s", 500_000_000);
        check(" 3s ", 3_000_000_000);
        check("1.000000001s", 1_000_000_001);
    }

    #[test]
    fn rejects_malformed_durations_with_a_reason() {
        for bad in [
            "",
            "ms",
            "10",
            "10 s",
            "1.5",
            "1..5s",
            "-1s",
            "1x",
            "1.5ns",
            "99999999999999h",
        ] {
            let error = SimDuration::parse(bad).expect_err(bad);
            assert!(!error.reason.is_empty());
        }
    }

    #[test]
    fn prints_the_shortest_exact_form() {
        let cases: &[(u64, &str)] = &[
            (0, "0"),
            (250_000_000, "250ms"),
            (1_500_000_000, "1.5s"),
            (120_000_000_000, "2m"),
            (90_000_000_000, "90s"),
            (3_600_000_000_000, "1h"),
            (1_234_000, "1.234ms"),
            (1_234_567, "1234.567us"),
            (7, "7ns"),
        ];
        for (nanos, text) in cases {
            assert_eq!(SimDuration(*nanos).to_string(), *text);
        }
    }

    #[test]
    fn printing_then_parsing_round_trips() {
        for nanos in [
            1,
            999,
            1_000,
            1_500,
            2_000_000,
            61_000_000_000,
            7_777_777_777,
        ] {
            let d = SimDuration(nanos);
            assert_eq!(SimDuration::parse(&d.to_string()), Ok(d), "{d}");
        }
    }

    #[test]
    fn float_conversion_never_goes_negative() {
        assert_eq!(SimDuration::from_nanos_f64(-5.0), SimDuration::ZERO);
        assert_eq!(SimDuration::from_nanos_f64(f64::NAN), SimDuration::ZERO);
        assert_eq!(SimDuration::from_nanos_f64(1.5), SimDuration(2));
        assert_eq!(SimDuration::from_nanos_f64(1e300), SimDuration::MAX);
    }
}
