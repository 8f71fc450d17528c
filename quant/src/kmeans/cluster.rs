//! One-dimensional k-means: k-means++ seeding, then Lloyd iterations on the sorted values, where
//! every cluster is a contiguous run (so an iteration costs O(k log n), not O(nk)).

use crate::nn::layers::mix64;

/// Most Lloyd iterations (1-D k-means converges long before on weight distributions).
const MAX_ITERATIONS: usize = 300;

/// The result of clustering.
#[derive(Clone, Debug, PartialEq)]
pub struct Clusters {
    /// Centroids, ascending (fewer than asked when the data has fewer distinct values).
    pub centroids: Vec<f32>,
    /// Lloyd iterations run until the assignment stopped changing.
    pub iterations: usize,
}

impl Clusters {
    /// Index of the centroid nearest to `v` (ties go to the lower one).
    pub fn nearest(&self, v: f32) -> usize {
        let c = &self.centroids;
        // Centroids are sorted, so the nearest is one side of the first midpoint v lies below.
        let mut lo = 0;
        let mut hi = c.len().saturating_sub(1);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if v <= 0.5 * (c[mid] + c[mid + 1]) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }
}

/// A SplitMix64 stream of uniform numbers in [0, 1).
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        (mix64(self.0) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Clusters `x` into at most `k` ≥ 1 groups (k-means++ seeded by `seed`, then Lloyd until the
/// assignment is stable). NaNs must not be present (weights are finite).
pub fn kmeans_1d(x: &[f32], k: usize, seed: u64) -> Clusters {
    let mut sorted = x.to_vec();
    sorted.sort_by(f32::total_cmp);
    if sorted.is_empty() || k == 0 {
        return Clusters {
            centroids: Vec::new(),
            iterations: 0,
        };
    }
    let mut centroids = plus_plus(&sorted, k, seed);
    let mut prefix = Vec::with_capacity(sorted.len() + 1);
    prefix.push(0f64);
    for &v in &sorted {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + v as f64);
    }
    let mut bounds = Vec::new();
    let mut iterations = 0;
    while iterations < MAX_ITERATIONS {
        // Cluster i holds sorted[bounds[i] .. bounds[i + 1]].
        let mut b = vec![0];
        for w in centroids.windows(2) {
            let mid = 0.5 * (w[0] + w[1]);
            b.push(sorted.partition_point(|&v| v <= mid));
        }
        b.push(sorted.len());
        if b == bounds {
            break;
        }
        iterations += 1;
        for (c, r) in centroids.iter_mut().zip(b.windows(2)) {
            if r[1] > r[0] {
                *c = ((prefix[r[1]] - prefix[r[0]]) / (r[1] - r[0]) as f64) as f32;
            }
        }
        // Means of consecutive runs stay ascending; sorting guards against rounding ties.
        centroids.sort_by(f32::total_cmp);
        bounds = b;
    }
    // Drop centroids no value is nearest to (duplicates of a few-valued layer).
    let used: Vec<f32> = centroids
        .iter()
        .zip(bounds.windows(2))
        .filter(|(_, r)| r[1] > r[0])
        .map(|(&c, _)| c)
        .collect();
    Clusters {
        centroids: if used.is_empty() { centroids } else { used },
        iterations,
    }
}

/// k-means++ (Arthur & Vassilvitskii): the first centroid uniformly, each next one with
/// probability proportional to the squared distance to the nearest chosen; stops early when every
/// value already is a centroid. Returns them ascending.
fn plus_plus(sorted: &[f32], k: usize, seed: u64) -> Vec<f32> {
    let mut rng = Uniform(seed);
    let n = sorted.len();
    let first = sorted[((rng.next() * n as f64) as usize).min(n - 1)];
    let mut chosen = vec![first];
    let mut d2: Vec<f64> = sorted.iter().map(|&v| sq(v, first)).collect();
    while chosen.len() < k {
        let total: f64 = d2.iter().sum();
        if total <= 0.0 {
            break;
        }
        let mut r = rng.next() * total;
        // The last value with positive weight, in case rounding leaves r past the end.
        let mut pick = d2.iter().rposition(|&d| d > 0.0).unwrap_or(0);
        for (i, &d) in d2.iter().enumerate() {
            if r < d {
                pick = i;
                break;
            }
            r -= d;
        }
        let c = sorted[pick];
        chosen.push(c);
        for (d, &v) in d2.iter_mut().zip(sorted) {
            *d = d.min(sq(v, c));
        }
    }
    chosen.sort_by(f32::total_cmp);
    chosen
}

fn sq(a: f32, b: f32) -> f64 {
    let d = a as f64 - b as f64;
    d * d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_separated_clusters_and_assigns_to_them() {
        // Three tight groups around -5, 0.5 and 7, uneven sizes, interleaved.
        let centres = [-5.0f32, 0.5, 7.0];
        let x: Vec<f32> = (0..600)
            .map(|i| {
                let c = centres[[0, 1, 1, 2, 2, 2][i % 6]];
                c + ((i * 37 % 101) as f32 / 101.0 - 0.5) * 0.2
            })
            .collect();
        let c = kmeans_1d(&x, 3, 42);
        assert_eq!(c.centroids.len(), 3);
        for (got, want) in c.centroids.iter().zip(centres) {
            assert!((got - want).abs() < 0.02, "{:?}", c.centroids);
        }
        assert_eq!(c.nearest(-4.9), 0);
        assert_eq!(c.nearest(0.4), 1);
        assert_eq!(c.nearest(100.0), 2);
        // Same seed, same result.
        assert_eq!(kmeans_1d(&x, 3, 42), c);
    }

    #[test]
    fn few_distinct_values_give_exactly_those_centroids() {
        let x = [1.0f32, 3.0, 1.0, 3.0, 2.0, 2.0];
        let c = kmeans_1d(&x, 16, 0);
        assert_eq!(c.centroids, vec![1.0, 2.0, 3.0]);
        assert_eq!(kmeans_1d(&[], 4, 0).centroids, Vec::<f32>::new());
    }
}
