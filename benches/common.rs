//! Shapes, data and result checks shared by the bench modules.

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;
use inkling::kernels::gemm::GemmParams;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Few, long samples: each iteration is a whole GEMM of milliseconds, so criterion's defaults (100
/// samples, 5 s) would make the suite take most of an hour.
pub fn configure(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
}

/// The four ViT-Tiny linears (forward).
pub fn vit() -> Vec<crate::shapes::Shape> {
    crate::shapes::forward()
        .into_iter()
        .filter(|s| s.name.starts_with("vit_"))
        .collect()
}

/// `len` values uniform in [-1, 1) from a seeded generator.
pub fn f32s(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

/// `len` values uniform in `lo..=hi` from a seeded generator.
pub fn i8s(len: usize, lo: i8, hi: i8, seed: u64) -> Vec<i8> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.gen_range(lo..=hi)).collect()
}

/// Positions of C to check: the corners (edge tiles) and 256 random ones.
pub fn positions(m: usize, n: usize) -> Vec<(usize, usize)> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut v = vec![(0, 0), (0, n - 1), (m - 1, 0), (m - 1, n - 1)];
    v.extend((0..256).map(|_| (rng.gen_range(0..m), rng.gen_range(0..n))));
    v
}

/// Panics unless `c = op(a)·op(b)` at sampled positions, within `(k+1)·ε·Σ|a·b|` of an f64 dot
/// product (the rounding bound of any f32 summation order).
pub fn check_sgemm(what: &str, p: &GemmParams, a: &[f32], b: &[f32], c: &[f32]) {
    for (i, j) in positions(p.m, p.n) {
        let (mut exact, mut mag) = (0f64, 0f64);
        for l in 0..p.k {
            let av = if p.trans_a {
                a[l * p.lda + i]
            } else {
                a[i * p.lda + l]
            };
            let bv = if p.trans_b {
                b[j * p.ldb + l]
            } else {
                b[l * p.ldb + j]
            };
            let prod = av as f64 * bv as f64;
            exact += prod;
            mag += prod.abs();
        }
        let tol = (p.k as f64 + 1.0) * f32::EPSILON as f64 * mag;
        let got = c[i * p.ldc + j] as f64;
        assert!(
            (got - exact).abs() <= tol,
            "{what}: C[{i},{j}] of {}x{}x{} is {got}, expected {exact} ± {tol:e}",
            p.m,
            p.k,
            p.n
        );
    }
}
