//! Seeded, named random streams.
//!
//! Every consumer of randomness (arrivals, each service's service times, the
//! network, fault draws, jitter...) draws from its own [`ChaCha8Rng`], whose
//! 256-bit key is derived from `(master seed, stream name)`. Adding a component
//! or a stream therefore never shifts the numbers any other component draws,
//! which is what makes runs comparable across settings (common random
//! numbers) and stable across versions.
//!
//! Draws whose order depends on the behaviour of the system (a service
//! time, a network delay, an error decision) do not come from a sequence at
//! all: they are *keyed* by what they are about. A [`KeyedStream`] (one per
//! kind of draw, derived like a named stream) and a [`DrawKey`] (the
//! structural identity of the thing drawn for: a request's call path and
//! attempt) give a short-lived [`KeyedRng`] whose numbers depend on nothing
//! else, so turning on a retry or injecting a fault leaves every unrelated
//! draw unchanged, whatever order the events then run in.
//!
//! The derivation is FNV-1a-64 over a domain tag, the seed and the name,
//! expanded to 32 bytes with SplitMix64. Both are fully specified integer
//! algorithms, so the output is fixed forever and on every platform; the
//! golden values in the tests pin it. (`DefaultHasher` is explicitly allowed
//! to change between Rust releases, so it must never be used here.)
//! ChaCha8 is named rather than `StdRng`/`SmallRng`, which rand documents as
//! non-portable across versions.

use rand::SeedableRng;
pub use rand_chacha::ChaCha8Rng;

/// Domain separation, so these keys never coincide with another use of FNV.
const DOMAIN: &[u8] = b"meshsim/stream/v1";
/// The domain of [`DrawKey::named`], apart from the streams'.
const NAMED_DOMAIN: &[u8] = b"meshsim/key-name/v1";

fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in *part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator, so ("ab", "c") and ("a", "bc") differ.
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The 32-byte ChaCha key of stream `name` under `master_seed`.
pub fn stream_key(master_seed: u64, name: &str) -> [u8; 32] {
    let mut state = fnv1a64(&[DOMAIN, &master_seed.to_le_bytes(), name.as_bytes()]);
    let mut key = [0u8; 32];
    for chunk in key.chunks_exact_mut(8) {
        chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    key
}

/// SplitMix64's increment: 2^64 / φ, odd.
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// Stafford's "Mix13" finaliser, SplitMix64's output function: a bijection
/// of `u64` with full avalanche (every input bit flips each output bit with
/// probability about 1/2).
#[inline(always)]
const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What a keyed draw is about: a 64-bit structural identity, such as "the
/// 7th request of client 2" or "the second retry of the call that step 1 of
/// that request's job made to `inventory`".
///
/// Keys are built from a root by [`DrawKey::child`]; each step mixes fully,
/// so sibling and cousin keys are unrelated 64-bit values, and the path
/// `root → a → b` differs from `root → b → a`. Two distinct paths share a key
/// with probability 2^-64 per pair; a collision would only make two draws of
/// one run equal, never wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DrawKey(u64);

impl DrawKey {
    /// The root of a family of keys, e.g. one per kind of request source.
    pub const fn root(tag: u64) -> DrawKey {
        DrawKey(mix64(tag ^ 0x6d65_7368_7369_6d31)) // "meshsim1"
    }

    /// The `n`-th child of this key.
    #[inline]
    #[must_use]
    pub const fn child(self, n: u64) -> DrawKey {
        DrawKey(mix64(self.0 ^ mix64(n.wrapping_add(GAMMA))))
    }

    /// The child of this key named `name` (a client, say): FNV-1a-64 of the
    /// name under its own domain tag, then [`DrawKey::child`]. The key
    /// depends on the name alone, never on a position in a list, so adding
    /// or reordering named things leaves every other name's key unchanged.
    #[must_use]
    pub fn named(self, name: &str) -> DrawKey {
        self.child(fnv1a64(&[NAMED_DOMAIN, name.as_bytes()]))
    }

    /// The key as a number (for golden tests and diagnostics).
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

/// One kind of keyed draw under one master seed, e.g. "service times".
///
/// `stream.rng(key)` gives the draws for `key`: the same (seed, stream,
/// key) always gives the same numbers, whatever else the run draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyedStream(u64);

impl KeyedStream {
    /// The draws about `key`.
    #[inline(always)]
    pub fn rng(self, key: DrawKey) -> KeyedRng {
        KeyedRng {
            state: self.0 ^ key.0,
        }
    }
}

/// A short-lived generator for the draws about one key: SplitMix64 started
/// at `stream ^ key`.
///
/// SplitMix64 (Steele, Lea and Flood, 2014; Java's `SplittableRandom`)
/// passes BigCrush; its state walks a Weyl sequence of period 2^64, and the
/// few draws made for a key (one to a few dozen) start at a point that is,
/// like the key, a uniformly mixed 64-bit value, so the windows of two keys
/// overlap with probability about (draws per key) / 2^64. It costs one
/// multiply-xorshift per draw and no set-up: measured against a ChaCha8
/// stream seeded per key, which spends a 256-byte block on every key, see
/// docs/architecture.md.
#[derive(Clone, Debug)]
pub struct KeyedRng {
    state: u64,
}

impl rand::RngCore for KeyedRng {
    #[inline(always)]
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix64(self.state)
    }

    #[inline]
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// The source of every random stream in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngStreams {
    master_seed: u64,
}

impl RngStreams {
    /// Streams derived from `master_seed`.
    pub fn new(master_seed: u64) -> Self {
        RngStreams { master_seed }
    }

    /// The master seed.
    pub fn master_seed(&self) -> u64 {
        self.master_seed
    }

    /// The stream called `name`: the same name always gives the same stream.
    /// Use stable, descriptive names such as `"service/orders/time"`.
    pub fn stream(&self, name: &str) -> ChaCha8Rng {
        ChaCha8Rng::from_seed(stream_key(self.master_seed, name))
    }

    /// The keyed stream called `name` (a namespace apart from
    /// [`RngStreams::stream`]'s names).
    pub fn keyed(&self, name: &str) -> KeyedStream {
        let key = stream_key(self.master_seed, &format!("keyed/{name}"));
        KeyedStream(u64::from_le_bytes(
            key[..8].try_into().expect("a key is 32 bytes"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    fn draws(rng: &mut ChaCha8Rng, n: usize) -> Vec<u64> {
        (0..n).map(|_| rng.next_u64()).collect()
    }

    #[test]
    fn key_derivation_is_pinned_forever() {
        // Golden values: if this test fails, every published result changes.
        // Never update them; add a new DOMAIN version instead.
        let mut rng = RngStreams::new(7).stream("arrivals");
        let first = rng.next_u64();
        let key = stream_key(7, "arrivals");
        assert_eq!(
            u64::from_le_bytes(key[..8].try_into().unwrap()),
            GOLDEN_KEY_WORD,
            "stream key derivation changed"
        );
        assert_eq!(first, GOLDEN_FIRST_DRAW, "ChaCha8 output changed");
    }

    const GOLDEN_KEY_WORD: u64 = 3_499_178_663_977_254_589;
    const GOLDEN_FIRST_DRAW: u64 = 7_340_421_530_844_093_441;

    #[test]
    fn keyed_derivation_is_pinned_forever() {
        // Golden values, as above: the keys and draws of every run hang on
        // these. Never update them; add a new name or root instead.
        let key = DrawKey::root(1).child(7).child(0);
        let mut rng = RngStreams::new(7).keyed("service/time").rng(key);
        let got = [key.as_u64(), rng.next_u64(), rng.next_u64()];
        assert_eq!(got, GOLDEN_KEYED, "keyed derivation changed");
    }

    const GOLDEN_KEYED: [u64; 3] = [
        13_796_711_025_593_251_920,
        14_725_602_263_445_938_901,
        10_249_278_419_150_491_087,
    ];

    #[test]
    fn named_keys_are_pinned_forever() {
        // Golden value, as above: a named client's draws hang on it.
        let key = DrawKey::root(4).named("mobile");
        assert_eq!(key.as_u64(), GOLDEN_NAMED, "named key derivation changed");
        assert_ne!(key, DrawKey::root(4).named("mobile2"));
        assert_ne!(key, DrawKey::root(5).named("mobile"));
        assert_ne!(DrawKey::root(4).named(""), DrawKey::root(4));
    }

    const GOLDEN_NAMED: u64 = 5_930_428_466_676_229_292;

    #[test]
    fn keyed_draws_depend_only_on_stream_and_key() {
        let streams = RngStreams::new(3);
        let time = streams.keyed("time");
        let key = DrawKey::root(0).child(41);
        let first = draws_keyed(time, key, 4);
        // Other keys and other streams drawn in between change nothing.
        let _ = draws_keyed(time, DrawKey::root(0).child(40), 100);
        let _ = draws_keyed(streams.keyed("network"), key, 100);
        assert_eq!(first, draws_keyed(time, key, 4));
        assert_ne!(first, draws_keyed(streams.keyed("network"), key, 4));
        assert_ne!(first, draws_keyed(time, DrawKey::root(0).child(42), 4));
        assert_ne!(first, draws_keyed(RngStreams::new(4).keyed("time"), key, 4));
    }

    fn draws_keyed(stream: KeyedStream, key: DrawKey, n: usize) -> Vec<u64> {
        let mut rng = stream.rng(key);
        (0..n).map(|_| rng.next_u64()).collect()
    }

    #[test]
    fn child_keys_are_ordered_paths() {
        let root = DrawKey::root(5);
        assert_ne!(root.child(1).child(2), root.child(2).child(1));
        assert_ne!(root.child(0), root);
        assert_ne!(DrawKey::root(5), DrawKey::root(6));
    }

    #[test]
    fn keyed_draws_of_sequential_keys_are_uniform_and_uncorrelated() {
        // First draws of keys 0..n (the arrival counter's shape): a chi-square
        // test of the top 4 bits (15 degrees of freedom; 37.7 is its 0.999
        // quantile), and the lag-1 correlation of the floats (sd 1/sqrt(n),
        // so 5 sd = 0.005 at n = 1e6).
        let stream = RngStreams::new(11).keyed("t");
        let root = DrawKey::root(9);
        let n = 1_000_000u64;
        let mut bins = [0u64; 16];
        let (mut sum_xy, mut sum_x, mut previous) = (0.0f64, 0.0f64, 0.5f64);
        for i in 0..n {
            let value = stream.rng(root.child(i)).next_u64();
            bins[(value >> 60) as usize] += 1;
            let x = (value >> 11) as f64 / (1u64 << 53) as f64;
            sum_xy += (x - 0.5) * (previous - 0.5);
            sum_x += x;
            previous = x;
        }
        let expected = n as f64 / 16.0;
        let chi2: f64 = bins
            .iter()
            .map(|&b| (b as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 37.7, "chi-square {chi2}");
        assert!(
            (sum_x / n as f64 - 0.5).abs() < 0.002,
            "mean {}",
            sum_x / n as f64
        );
        // Var(U) = 1/12: the correlation is sum_xy / (n / 12).
        let correlation = sum_xy / (n as f64 / 12.0);
        assert!(correlation.abs() < 0.005, "lag-1 correlation {correlation}");
    }

    #[test]
    fn same_seed_and_name_give_the_same_stream() {
        let streams = RngStreams::new(42);
        assert_eq!(
            draws(&mut streams.stream("a"), 16),
            draws(&mut streams.stream("a"), 16)
        );
    }

    #[test]
    fn names_and_seeds_separate_streams() {
        let a = draws(&mut RngStreams::new(1).stream("a"), 4);
        let b = draws(&mut RngStreams::new(1).stream("b"), 4);
        let a2 = draws(&mut RngStreams::new(2).stream("a"), 4);
        assert_ne!(a, b);
        assert_ne!(a, a2);
        assert_ne!(stream_key(1, "ab"), stream_key(1, "a"));
    }

    #[test]
    fn adding_a_stream_leaves_the_others_unchanged() {
        let streams = RngStreams::new(9);
        let alone = {
            let mut x = streams.stream("service/x");
            draws(&mut x, 100)
        };
        let interleaved = {
            let mut x = streams.stream("service/x");
            let mut y = streams.stream("service/y");
            let mut out = Vec::new();
            for _ in 0..100 {
                out.push(x.next_u64());
                y.next_u64();
                y.next_u64();
            }
            out
        };
        assert_eq!(alone, interleaved);
    }
}
