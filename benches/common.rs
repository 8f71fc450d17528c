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

/// ViT-Tiny, batch 64 of 28×28 images with patch 4: 64 × (49 patches + CLS) tokens.
pub const VIT_TOKENS: usize = 64 * 50;

/// One GEMM shape `C[m,n] = op(A)·op(B)`.
#[derive(Clone, Debug)]
pub struct Shape {
    pub name: String,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub trans_a: bool,
    pub trans_b: bool,
}

impl Shape {
    fn new(name: impl Into<String>, m: usize, k: usize, n: usize) -> Shape {
        Shape {
            name: name.into(),
            m,
            k,
            n,
            trans_a: false,
            trans_b: false,
        }
    }

    /// Contiguous parameters (α = 1, β = 0).
    pub fn params(&self) -> GemmParams {
        let mut p = GemmParams::new(self.m, self.n, self.k);
        if self.trans_a {
            p = p.trans_a();
        }
        if self.trans_b {
            p = p.trans_b();
        }
        p
    }

    /// 2·m·n·k, so criterion reports FLOP/s (ops/s for integer kernels).
    pub fn ops(&self) -> u64 {
        2 * (self.m * self.k * self.n) as u64
    }
}

/// The four ViT-Tiny linears at batch 64 (forward).
pub fn vit() -> Vec<Shape> {
    [
        ("vit_qkv", 192, 576),
        ("vit_proj", 192, 192),
        ("vit_mlp_up", 192, 768),
        ("vit_mlp_down", 768, 192),
    ]
    .into_iter()
    .map(|(name, k, n)| Shape::new(name, VIT_TOKENS, k, n))
    .collect()
}

/// ViT forward shapes, each followed by its backward GEMMs `dW = Xᵀ·dY` and `dX = dY·Wᵀ`, then
/// squares 128..1024.
pub fn f32_shapes() -> Vec<Shape> {
    let mut v = Vec::new();
    for s in vit() {
        let mut dw = Shape::new(format!("{}.dW", s.name), s.k, s.m, s.n);
        dw.trans_a = true;
        let mut dx = Shape::new(format!("{}.dX", s.name), s.m, s.n, s.k);
        dx.trans_b = true;
        v.extend([s, dw, dx]);
    }
    v.extend([128, 256, 512, 1024].map(|s| Shape::new(format!("sq{s}"), s, s, s)));
    v
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
