//! A small portable RNG keyed by (seed, domain, a, b), so every random choice of the pipeline is a pure
//! function of its key: the same on every platform, rand version and thread count.

/// SplitMix64 (Steele et al.): tiny, fast, and good enough for shuffles and augmentation parameters.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

/// SplitMix64's output function: a strong 64-bit mixer used to derive independent streams.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Domains keep the streams of different jobs apart for the same seed.
pub(crate) const SPLIT: u64 = 0x5350_4c49_5400_0001;
pub(crate) const CALIBRATION: u64 = 0x4341_4c49_4200_0002;
pub(crate) const SHUFFLE: u64 = 0x5348_5546_4600_0003;
pub(crate) const AUGMENT: u64 = 0x4155_474d_0000_0004;
pub(crate) const STROKES: u64 = 0x5354_524b_0000_0005;

/// The stream for key (seed, domain, a, b).
pub(crate) fn stream(seed: u64, domain: u64, a: u64, b: u64) -> SplitMix64 {
    let h = mix(mix(mix(seed ^ domain).wrapping_add(a)).wrapping_add(b));
    SplitMix64(h)
}

impl SplitMix64 {
    /// Next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `0..n` (`n > 0`); Lemire's multiply, whose bias (< n / 2^64) is irrelevant here.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in [-1, 1).
    pub(crate) fn symmetric(&mut self) -> f32 {
        // 24 bits: exactly representable in f32.
        let u = (self.next_u64() >> 40) as f32 / (1u32 << 24) as f32;
        2.0 * u - 1.0
    }
}

/// Fisher–Yates shuffle driven by `rng`.
pub(crate) fn shuffle<T>(rng: &mut SplitMix64, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i + 1);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_keyed_and_reproducible() {
        let a: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(1, SPLIT, 2, 3), |r, _: u64| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(1, SPLIT, 2, 3), |r, _: u64| Some(r.next_u64()))
            .collect();
        let c: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream(1, SPLIT, 2, 4), |r, _: u64| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut r = stream(7, SHUFFLE, 0, 0);
        for _ in 0..1000 {
            assert!(r.below(5) < 5);
            let s = r.symmetric();
            assert!((-1.0..1.0).contains(&s));
        }
        let mut v: Vec<u32> = (0..100).collect();
        shuffle(&mut stream(3, SHUFFLE, 0, 0), &mut v);
        let mut sorted = v.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(v, sorted);
    }
}
