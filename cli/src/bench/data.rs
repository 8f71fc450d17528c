//! Deterministic benchmark data and the result checks run before timing.

use inkling::kernels::gemm::GemmParams;

use super::Result;
use crate::rng::SplitMix;

/// Positions checked per result: the four corners plus this many random ones.
const CHECKED: usize = 256;

/// The positions of C that the checks compare: corners first (edge tiles), then random ones.
pub fn check_positions(m: usize, n: usize, seed: u64) -> Vec<(usize, usize)> {
    if m == 0 || n == 0 {
        return Vec::new();
    }
    let mut rng = SplitMix::new(seed);
    let mut out = vec![(0, 0), (0, n - 1), (m - 1, 0), (m - 1, n - 1)];
    out.extend((0..CHECKED).map(|_| (rng.below(m), rng.below(n))));
    out
}

/// Element (i, l) of op(A) and (l, j) of op(B) under `p`'s transposes and leading dimensions.
fn op_a(p: &GemmParams, a: &[f32], i: usize, l: usize) -> f32 {
    if p.trans_a {
        a[l * p.lda + i]
    } else {
        a[i * p.lda + l]
    }
}
fn op_b(p: &GemmParams, b: &[f32], l: usize, j: usize) -> f32 {
    if p.trans_b {
        b[j * p.ldb + l]
    } else {
        b[l * p.ldb + j]
    }
}

/// Checks `c = op(a)·op(b)` (α = 1, β = 0, no epilogue) at sampled positions against an f64 dot
/// product, within the rounding bound of any f32 summation order: `(k+1)·ε·Σ|a·b|`.
pub fn check_sgemm(what: &str, p: &GemmParams, a: &[f32], b: &[f32], c: &[f32]) -> Result<()> {
    for (i, j) in check_positions(p.m, p.n, 7) {
        let (mut exact, mut mag) = (0f64, 0f64);
        for l in 0..p.k {
            let prod = op_a(p, a, i, l) as f64 * op_b(p, b, l, j) as f64;
            exact += prod;
            mag += prod.abs();
        }
        let tol = (p.k as f64 + 1.0) * f32::EPSILON as f64 * mag;
        let got = c[i * p.ldc + j] as f64;
        // Written so that a NaN result fails too.
        let within = (got - exact).abs() <= tol;
        if !within {
            return Err(format!(
                "{what}: wrong result at C[{i},{j}] of {}x{}x{}: {got} vs {exact} (tolerance {tol:e})",
                p.m, p.k, p.n
            )
            .into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(p: &GemmParams, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut c = vec![0f32; p.m * p.ldc];
        for i in 0..p.m {
            for j in 0..p.n {
                c[i * p.ldc + j] = (0..p.k).map(|l| op_a(p, a, i, l) * op_b(p, b, l, j)).sum();
            }
        }
        c
    }

    #[test]
    fn the_check_accepts_a_correct_product_and_rejects_a_wrong_or_nan_one() {
        let mut rng = SplitMix::new(1);
        for p in [
            GemmParams::new(7, 5, 13),
            GemmParams::new(7, 5, 13).trans_a(),
            GemmParams::new(7, 5, 13).trans_b(),
        ] {
            let (a, b) = (rng.f32s(7 * 13), rng.f32s(13 * 5));
            let mut c = naive(&p, &a, &b);
            check_sgemm("naive", &p, &a, &b, &c).unwrap();
            // The last corner is always checked: an edge-tile error cannot slip through.
            c[(p.m - 1) * p.ldc + p.n - 1] += 1e-3;
            assert!(check_sgemm("off", &p, &a, &b, &c).is_err());
            c[(p.m - 1) * p.ldc + p.n - 1] = f32::NAN;
            assert!(check_sgemm("nan", &p, &a, &b, &c).is_err());
        }
    }
}
