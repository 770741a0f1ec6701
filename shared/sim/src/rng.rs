//! The seed's generator (SplitMix64): everything the simulation chooses comes from it.

/// SplitMix64's step.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
/// Keeps stream 0 of [`Rng::derive`] apart from the seed itself (the digits of pi).
const STREAM_OFFSET: u64 = 0x243F_6A88_85A3_08D3;

/// SplitMix64's finaliser: a bijection that spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A tiny seeded generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The generator of one of a seed's many streams (a proposal's, a worker's): the seed and
    /// the stream's number mixed, so that two streams are not one sequence shifted. (SplitMix64's
    /// state only moves by its constant, so `Rng::new(seed ^ n * GAMMA)` for n = 1, 2, ... gives
    /// streams that repeat each other a few steps apart: `buendel chaos` once drew the same
    /// command id for two proposals' commands.)
    pub fn derive(seed: u64, stream: u64) -> Self {
        Self(mix(seed ^ mix(stream.wrapping_add(STREAM_OFFSET))))
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GAMMA);
        mix(self.0)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        self.next_u64() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn derived_streams_draw_no_number_twice_where_xored_seeds_repeat_each_other() {
        let draws = |mut rng: Rng| (0..64).map(move |_| rng.next_u64());
        let mut seen = HashSet::new();
        for stream in 0..2_000u64 {
            for number in draws(Rng::derive(11, stream)) {
                assert!(seen.insert(number), "stream {stream} repeats a number");
            }
        }
        // The old way: streams of `seed ^ (n + 1) * GAMMA` overlap.
        let mut old = HashSet::new();
        let repeated = (0..2_000u64)
            .flat_map(|n| draws(Rng::new(11 ^ (n + 1).wrapping_mul(GAMMA))))
            .filter(|number| !old.insert(*number))
            .count();
        assert!(repeated > 0, "the xored streams overlap");
    }
}
