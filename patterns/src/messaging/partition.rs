//! Which partition of a topic a keyed message goes to: Kafka's default
//! partitioner for a message with a key, `toPositive(murmur2(key)) % partitions`
//! (`org.apache.kafka.common.utils.Utils.murmur2`, seed `0x9747b28c`), so a key
//! lands where a Kafka producer would put it, and every message of one key lands in
//! one partition: the ordering a consumer can rely on is per partition, hence per
//! key.
//!
//! A message without a key is not placed here: Kafka spreads those by its own
//! batching (the sticky partitioner), which a simulation states as it likes.

use crate::ConfigError;

/// The most partitions a topic has here (Kafka's own limit is far higher; a
/// simulated topic's partitions each hold a queue, so they are bounded).
pub const MAX_PARTITIONS: u32 = 1 << 16;

/// Kafka's 32-bit murmur2 hash of `data`, exactly as the Java client computes it
/// (`Utils.murmur2`): the same value for the same bytes on every platform.
///
/// ```
/// use meshsim_patterns::messaging::murmur2;
///
/// // Kafka's own test values (UtilsTest).
/// assert_eq!(murmur2(b"21"), -973_932_308);
/// assert_eq!(murmur2(b"foobar"), -790_332_482);
/// ```
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java's `int` length: a key longer than 2 GiB is not a message key.
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = blocks.remainder();
    // Java's switch falls through: 3 bytes add the third, then the second, then
    // the first and multiply.
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// A topic's partitioning of keyed messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partitioner {
    partitions: u32,
}

impl Partitioner {
    /// A topic of `partitions` partitions (1 to [`MAX_PARTITIONS`]).
    pub fn new(partitions: u32) -> Result<Partitioner, ConfigError> {
        if partitions == 0 || partitions > MAX_PARTITIONS {
            return Err(ConfigError::new(
                "partitioner",
                "partitions",
                "must be between 1 and 65536",
            ));
        }
        Ok(Partitioner { partitions })
    }

    /// The topic's partitions.
    pub fn partitions(self) -> u32 {
        self.partitions
    }

    /// The partition of a message whose key is `key`: Kafka's
    /// `toPositive(murmur2(key)) % partitions`, where `toPositive` clears the
    /// sign bit (it does not negate).
    ///
    /// ```
    /// use meshsim_patterns::messaging::Partitioner;
    ///
    /// let topic = Partitioner::new(12).unwrap();
    /// // Every message of a key goes to one partition.
    /// assert_eq!(topic.partition(b"order-7"), topic.partition(b"order-7"));
    /// assert!(topic.partition(b"order-8") < 12);
    /// ```
    pub fn partition(self, key: &[u8]) -> u32 {
        (murmur2(key) as u32 & 0x7fff_ffff) % self.partitions
    }

    /// The partition of a message keyed by the number `key`, as a Kafka
    /// producer with a string serializer sends it: its decimal digits.
    pub fn partition_of_number(self, key: u64) -> u32 {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut n = key;
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.partition(&digits[at..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_test_values() {
        // Kafka's UtilsTest.testMurmur2, and the values librdkafka and the Kafka
        // clients of other languages check against it.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, hash) in cases {
            assert_eq!(murmur2(key), hash, "{}", String::from_utf8_lossy(key));
        }
        // Every tail length (0 to 3 bytes past the last block).
        for (key, hash) in [
            (&b"1"[..], -1_993_445_489),
            (b"12", 126_087_238),
            (b"123", -267_702_483),
            (b"1234", -1_614_185_708),
            (b"12345", -1_188_365_604),
        ] {
            assert_eq!(murmur2(key), hash, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn a_key_has_one_partition_and_the_sign_bit_is_cleared_not_negated() {
        let topic = Partitioner::new(7).unwrap();
        // murmur2("21") is negative: clearing the sign bit gives
        // 1173551340, and 1173551340 % 7 = 5 (negating would give 4).
        assert_eq!((-973_932_308_i32 as u32) & 0x7fff_ffff, 1_173_551_340);
        assert_eq!(topic.partition(b"21"), 1_173_551_340 % 7);
        assert_eq!(topic.partition_of_number(21), topic.partition(b"21"));
        assert_eq!(topic.partition_of_number(0), topic.partition(b"0"));
        assert_eq!(
            topic.partition_of_number(u64::MAX),
            topic.partition(b"18446744073709551615")
        );
        let one = Partitioner::new(1).unwrap();
        assert!((0..100).all(|k| one.partition_of_number(k) == 0));
    }

    #[test]
    fn keys_spread_evenly_over_the_partitions() {
        // 12,000 keys over 12 partitions: each gets 1,000 ± a few standard
        // deviations (sd ≈ 30 for a uniform spread); the chi-square statistic
        // stays below its 99.9th percentile for 11 degrees of freedom (31.3).
        let topic = Partitioner::new(12).unwrap();
        let mut counts = [0u32; 12];
        for key in 0..12_000u64 {
            counts[topic.partition_of_number(key) as usize] += 1;
        }
        let chi2: f64 = counts
            .iter()
            .map(|&c| (f64::from(c) - 1_000.0).powi(2) / 1_000.0)
            .sum();
        assert!(chi2 < 31.3, "{counts:?}: chi2 {chi2}");
    }

    #[test]
    fn partitions_are_bounded() {
        assert_eq!(Partitioner::new(0).unwrap_err().field, "partitions");
        assert!(Partitioner::new(MAX_PARTITIONS + 1).is_err());
        assert_eq!(
            Partitioner::new(MAX_PARTITIONS).unwrap().partitions(),
            MAX_PARTITIONS
        );
    }
}
