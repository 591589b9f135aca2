//! The network between nodes (the services, and the clients as one more
//! node): a latency distribution and a loss probability per ordered pair,
//! plus what the active faults add (latency, loss, partitions).
//!
//! A lost message is simply never delivered; only the sender's timeout can
//! notice. Partitions lose every message between their groups.
//!
//! A message's loss and delay are keyed draws (see `draws.rs`): each kind of
//! message has its own loss and delay streams, and the key is the attempt
//! the message is about, so they do not depend on what else was sent.

use crate::kernel::dist::bernoulli;
use crate::kernel::{DrawKey, KeyedStream, RngStreams, SimDuration};

use super::draws::Message;
use crate::scenario::Sampler;

/// Message counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetworkStats {
    /// Messages sent.
    pub messages: u64,
    /// Lost at random (loss probability).
    pub lost: u64,
    /// Lost to a partition.
    pub partitioned: u64,
}

/// Per-pair network state. Pairs are stored densely, `from * nodes + to`.
pub struct Network {
    nodes: usize,
    samplers: Vec<Sampler>,
    pair_sampler: Vec<u16>,
    pair_loss: Vec<f64>,
    extra_latency: Vec<SimDuration>,
    extra_loss: Vec<f64>,
    blocked: Vec<bool>,
    /// Zero latency, no loss and no faults anywhere: send is free.
    trivial: bool,
    base_trivial: bool,
    /// Loss and delay streams, by [`Message`].
    loss: [KeyedStream; 3],
    delay: [KeyedStream; 3],
    /// Counts since the start.
    pub stats: NetworkStats,
}

impl Network {
    /// A network of `nodes` nodes where every pair uses `default` latency and
    /// `loss`; `links` override pairs (both directions).
    pub fn new(
        nodes: usize,
        default: Sampler,
        loss: f64,
        links: &[(usize, usize, Option<Sampler>, Option<f64>)],
        streams: &RngStreams,
    ) -> Self {
        let pairs = nodes * nodes;
        let mut samplers = vec![default];
        let mut pair_sampler = vec![0u16; pairs];
        let mut pair_loss = vec![loss; pairs];
        for (a, b, latency, link_loss) in links {
            if let Some(latency) = latency {
                samplers.push(latency.clone());
                let id = u16::try_from(samplers.len() - 1).expect("fewer than 65536 links");
                pair_sampler[a * nodes + b] = id;
                pair_sampler[b * nodes + a] = id;
            }
            if let Some(l) = link_loss {
                pair_loss[a * nodes + b] = *l;
                pair_loss[b * nodes + a] = *l;
            }
        }
        let base_trivial =
            samplers.iter().all(Sampler::is_zero) && pair_loss.iter().all(|l| *l == 0.0);
        Network {
            nodes,
            samplers,
            pair_sampler,
            pair_loss,
            extra_latency: vec![SimDuration::ZERO; pairs],
            extra_loss: vec![0.0; pairs],
            blocked: vec![false; pairs],
            trivial: base_trivial,
            base_trivial,
            loss: ["request", "reply", "cancel"]
                .map(|m| streams.keyed(&format!("network/{m}/loss"))),
            delay: ["request", "reply", "cancel"]
                .map(|m| streams.keyed(&format!("network/{m}/delay"))),
            stats: NetworkStats::default(),
        }
    }

    /// The one-way delay of a `message` about `key` from `from` to `to`, or
    /// `None` if it is lost.
    #[inline]
    pub fn transmit(
        &mut self,
        from: usize,
        to: usize,
        message: Message,
        key: DrawKey,
    ) -> Option<SimDuration> {
        self.stats.messages += 1;
        if self.trivial {
            return Some(SimDuration::ZERO);
        }
        self.send(from, to, message, key, None)
    }

    /// [`transmit`](Self::transmit), with the base latency drawn from
    /// `latency` (a zone pair's sampler and stream) instead of the pair's
    /// when one is given; loss, partitions and fault latency as for any
    /// message.
    pub fn transmit_with(
        &mut self,
        from: usize,
        to: usize,
        message: Message,
        key: DrawKey,
        latency: Option<(&Sampler, KeyedStream)>,
    ) -> Option<SimDuration> {
        self.stats.messages += 1;
        if self.trivial && latency.is_none() {
            return Some(SimDuration::ZERO);
        }
        self.send(from, to, message, key, latency)
    }

    #[inline]
    fn send(
        &mut self,
        from: usize,
        to: usize,
        message: Message,
        key: DrawKey,
        latency: Option<(&Sampler, KeyedStream)>,
    ) -> Option<SimDuration> {
        let pair = from * self.nodes + to;
        if self.blocked[pair] {
            self.stats.partitioned += 1;
            return None;
        }
        let base_loss = self.pair_loss[pair];
        let extra_loss = self.extra_loss[pair];
        if base_loss > 0.0 || extra_loss > 0.0 {
            let p = 1.0 - (1.0 - base_loss) * (1.0 - extra_loss);
            if bernoulli(&mut self.loss[message as usize].rng(key), p) {
                self.stats.lost += 1;
                return None;
            }
        }
        let base = match latency {
            Some((sampler, stream)) => sampler.sample(&mut stream.rng(key)),
            None => self.samplers[self.pair_sampler[pair] as usize]
                .sample(&mut self.delay[message as usize].rng(key)),
        };
        Some(base.saturating_add(self.extra_latency[pair]))
    }

    /// Clears every fault effect, before re-applying the active ones.
    pub fn clear_faults(&mut self) {
        self.extra_latency.fill(SimDuration::ZERO);
        self.extra_loss.fill(0.0);
        self.blocked.fill(false);
        self.trivial = self.base_trivial;
    }

    /// Adds latency to a pair, both directions.
    pub fn add_latency(&mut self, a: usize, b: usize, add: SimDuration) {
        for pair in [a * self.nodes + b, b * self.nodes + a] {
            self.extra_latency[pair] = self.extra_latency[pair].saturating_add(add);
        }
        self.trivial = false;
    }

    /// Adds loss to a pair (both directions), or to every pair.
    pub fn add_loss(&mut self, link: Option<(usize, usize)>, rate: f64) {
        let combine = |l: &mut f64| *l = 1.0 - (1.0 - *l) * (1.0 - rate);
        match link {
            Some((a, b)) => {
                combine(&mut self.extra_loss[a * self.nodes + b]);
                combine(&mut self.extra_loss[b * self.nodes + a]);
            }
            None => self.extra_loss.iter_mut().for_each(combine),
        }
        self.trivial = false;
    }

    /// Blocks every message between different groups.
    pub fn partition(&mut self, groups: &[Vec<usize>]) {
        for (i, g) in groups.iter().enumerate() {
            for h in &groups[i + 1..] {
                for a in g {
                    for b in h {
                        self.blocked[a * self.nodes + b] = true;
                        self.blocked[b * self.nodes + a] = true;
                    }
                }
            }
        }
        self.trivial = false;
    }
}
