//! The quantized cases: int8 GEMM (requantized and int32 out) per ISA table, and f32 × int4
//! weight-only GEMM, each timed interleaved with our f32 GEMM on the same shape. Each result is
//! checked first: exactly (int8) or within f32 rounding (int4 against its dequantized weights).

use inkling::kernels::gemm::{sgemm, Epilogue};
use inkling::kernels::qgemm::f32_int4::{f32_qc4w_gemm, Qc4Weights};
use inkling::kernels::qgemm::int4::{int4_bytes, pack_int4};
use inkling::kernels::qgemm::{pack_qs8_weights, qs8_gemm, qs8_gemm_i32, Requant};
use inkling::kernels::KernelSet;

use super::data::{check_positions, check_sgemm};
use super::f32::Operands;
use super::shapes::Shape;
use super::timing::Timing;
use super::Result;
use crate::rng::SplitMix;

/// Activation zero point: not 0, so the zero-point correction is exercised.
const ZP_X: i8 = 3;

/// Rates of the two variants of a quantized case and of our f32 GEMM on the same shape.
pub struct QRates {
    /// The two variants, G(FL)OP/s.
    pub variants: [f64; 2],
    /// Our f32 GEMM `C[M,N] = A[M,K]·B[K,N]`, same threads, timed interleaved with the variants.
    pub f32: f64,
}

/// Times `variants` and our f32 GEMM on `f32_ks` at shape `s` with interleaved samples.
fn with_f32(
    f32_ks: &KernelSet,
    s: &Shape,
    timing: &Timing,
    variants: [&mut dyn FnMut() -> Result<()>; 2],
) -> Result<QRates> {
    let p = s.params();
    let Operands { a, b, mut c } = Operands::new(s);
    let epi = Epilogue::default();
    sgemm(f32_ks, &p, &a, &b, &mut c, &epi)?;
    check_sgemm("inkling sgemm", &p, &a, &b, &c)?;
    let [v0, v1] = variants;
    let r = timing.rates(
        s.ops(),
        &mut [v0, v1, &mut || Ok(sgemm(f32_ks, &p, &a, &b, &mut c, &epi)?)],
    )?;
    Ok(QRates {
        variants: [r[0], r[1]],
        f32: r[2],
    })
}

/// GOP/s of `qs8_gemm` (int8 out, XNNPACK requantization) and `qs8_gemm_i32` (int32 out, what
/// onnxruntime's MatMulInteger computes) on table `ks`; the f32 reference runs on `f32_ks`.
pub fn qs8(ks: &KernelSet, f32_ks: &KernelSet, s: &Shape, timing: &Timing) -> Result<QRates> {
    let (m, k, n) = (s.m, s.k, s.n);
    let mut rng = SplitMix::new(0x18 ^ (m * 31 + k * 17 + n) as u64);
    let x: Vec<i8> = (0..m * k).map(|_| rng.next_u64() as i8).collect();
    let w: Vec<i8> = (0..n * k)
        .map(|_| (rng.below(255) as i32 - 127) as i8)
        .collect();
    let bias: Vec<i32> = (0..n).map(|_| rng.below(20001) as i32 - 10000).collect();
    // Scales that map a typical accumulator (√K·74·73) to about ±40, so outputs are not all clamped.
    let typical = (k.max(1) as f32).sqrt() * 74.0 * 73.0;
    let scales = (0..n)
        .map(|c| 40.0 / typical * (0.5 + (c % 7) as f32 / 7.0))
        .collect();
    let rq = Requant::from_scales(scales, -5, -128, 127)?;
    let packed = pack_qs8_weights(ks, &w, n, k, k)?;
    let (mut y8, mut y32) = (vec![0i8; m * n], vec![0i32; m * n]);
    let b = Some(bias.as_slice());
    qs8_gemm(ks, m, &x, k, ZP_X, &packed, b, &rq, &mut y8, n)?;
    qs8_gemm_i32(ks, m, &x, k, ZP_X, &packed, b, &mut y32, n)?;
    for (i, j) in check_positions(m, n, 11) {
        let acc = (0..k).fold(bias[j], |acc, l| {
            acc.wrapping_add((x[i * k + l] as i32 - ZP_X as i32) * w[j * k + l] as i32)
        });
        let (got32, got8, want8) = (y32[i * n + j], y8[i * n + j], rq.apply(acc, j)?);
        if got32 != acc || got8 != want8 {
            return Err(format!(
                "{}: wrong result at Y[{i},{j}] of {m}x{k}x{n}: int32 {got32} (expected {acc}), \
                 int8 {got8} (expected {want8})",
                ks.qgemm.name
            )
            .into());
        }
    }
    let mut int8_out = || Ok(qs8_gemm(ks, m, &x, k, ZP_X, &packed, b, &rq, &mut y8, n)?);
    let mut int32_out = || Ok(qs8_gemm_i32(ks, m, &x, k, ZP_X, &packed, b, &mut y32, n)?);
    with_f32(f32_ks, s, timing, [&mut int8_out, &mut int32_out])
}

/// GFLOP/s of f32 × int4 weight-only GEMM with per-channel scales and with blocks of 32 along K.
pub fn qc4w(ks: &KernelSet, s: &Shape, timing: &Timing) -> Result<QRates> {
    const BLOCK: usize = 32;
    let (m, k, n) = (s.m, s.k, s.n);
    let mut rng = SplitMix::new(0x14 ^ (m * 31 + k * 17 + n) as u64);
    let x = rng.f32s(m * k);
    let q: Vec<i8> = (0..n * k).map(|_| rng.below(16) as i8 - 8).collect();
    let mut packed = vec![0u8; int4_bytes(q.len())];
    pack_int4(&q, &mut packed)?;
    let per_channel: Vec<f32> = (0..n).map(|_| 0.01 + 0.01 * rng.f32().abs()).collect();
    let per_block: Vec<f32> = (0..n * k.div_ceil(BLOCK))
        .map(|_| 0.01 + 0.01 * rng.f32().abs())
        .collect();
    let wc = Qc4Weights::per_channel(&packed, n, k, &per_channel)?;
    let wb = Qc4Weights::blockwise(&packed, n, k, BLOCK, &per_block)?;
    // Y = X·Wᵀ is an f32 GEMM with B = the dequantized [N, K] weights, used transposed.
    let p = inkling::kernels::gemm::GemmParams::new(m, n, k).trans_b();
    let mut y = vec![0f32; m * n];
    for (what, w) in [("f32_qc4w_gemm", &wc), ("f32_qb4w_gemm", &wb)] {
        f32_qc4w_gemm(ks, m, &x, k, w, None, &mut y, n)?;
        check_sgemm(what, &p, &x, &w.dequantize(), &y)?;
    }
    let mut y2 = y.clone();
    with_f32(
        ks,
        s,
        timing,
        [
            &mut || Ok(f32_qc4w_gemm(ks, m, &x, k, &wc, None, &mut y, n)?),
            &mut || Ok(f32_qc4w_gemm(ks, m, &x, k, &wb, None, &mut y2, n)?),
        ],
    )
}
