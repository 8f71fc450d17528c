//! The quantized cases: int8 GEMM (requantized and int32 out) per ISA table, and f32 × int4
//! weight-only GEMM. Each result is checked exactly (int8) or within f32 rounding (int4) first.

use inkling::kernels::gemm::GemmParams;
use inkling::kernels::qgemm::f32_int4::{f32_qc4w_gemm, Qc4Weights};
use inkling::kernels::qgemm::int4::{int4_bytes, pack_int4};
use inkling::kernels::qgemm::{pack_qs8_weights, qs8_gemm, qs8_gemm_i32, Requant};
use inkling::kernels::KernelSet;

use super::data::{check_positions, check_sgemm, Rng};
use super::shapes::Shape;
use super::timing::Timing;
use super::Result;

/// Activation zero point: not 0, so the zero-point correction is exercised.
const ZP_X: i8 = 3;

/// GOP/s of `qs8_gemm` (int8 out, XNNPACK requantization) and `qs8_gemm_i32` (int32 out, what
/// onnxruntime's MatMulInteger computes), interleaved.
pub fn qs8(ks: &KernelSet, s: &Shape, timing: &Timing) -> Result<(f64, f64)> {
    let (m, k, n) = (s.m, s.k, s.n);
    let mut rng = Rng::new(0x18 ^ (m * 31 + k * 17 + n) as u64);
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
    let mut y8 = vec![0i8; m * n];
    let mut y32 = vec![0i32; m * n];
    qs8_gemm(ks, m, &x, k, ZP_X, &packed, Some(&bias), &rq, &mut y8, n)?;
    qs8_gemm_i32(ks, m, &x, k, ZP_X, &packed, Some(&bias), &mut y32, n)?;
    for (i, j) in check_positions(m, n, 11) {
        let acc = (0..k).fold(bias[j], |acc, l| {
            acc.wrapping_add((x[i * k + l] as i32 - ZP_X as i32) * w[j * k + l] as i32)
        });
        if y32[i * n + j] != acc || y8[i * n + j] != rq.apply(acc, j) {
            return Err(format!(
                "{}: wrong result at Y[{i},{j}] of {m}x{k}x{n}: i32 {} (expected {acc}), int8 {} \
                 (expected {})",
                ks.qgemm.name,
                y32[i * n + j],
                y8[i * n + j],
                rq.apply(acc, j)
            )
            .into());
        }
    }
    let r = timing.rates(
        s.ops(),
        &mut [
            &mut || {
                Ok(qs8_gemm(
                    ks,
                    m,
                    &x,
                    k,
                    ZP_X,
                    &packed,
                    Some(&bias),
                    &rq,
                    &mut y8,
                    n,
                )?)
            },
            &mut || {
                Ok(qs8_gemm_i32(
                    ks,
                    m,
                    &x,
                    k,
                    ZP_X,
                    &packed,
                    Some(&bias),
                    &mut y32,
                    n,
                )?)
            },
        ],
    )?;
    Ok((r[0], r[1]))
}

/// GFLOP/s of f32 × int4 weight-only GEMM with per-channel scales and with blocks of 32 along K,
/// interleaved.
pub fn qc4w(ks: &KernelSet, s: &Shape, timing: &Timing) -> Result<(f64, f64)> {
    const BLOCK: usize = 32;
    let (m, k, n) = (s.m, s.k, s.n);
    let mut rng = Rng::new(0x14 ^ (m * 31 + k * 17 + n) as u64);
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
    let (mut y, mut y2) = (vec![0f32; m * n], vec![0f32; m * n]);
    // Y = X·Wᵀ is an f32 GEMM with B = the dequantized [N, K] weights, used transposed.
    let p = GemmParams::new(m, n, k).trans_b();
    for (what, w) in [("f32_qc4w_gemm", &wc), ("f32_qb4w_gemm", &wb)] {
        f32_qc4w_gemm(ks, m, &x, k, w, None, &mut y, n)?;
        check_sgemm(what, &p, &x, &w.dequantize(), &y)?;
    }
    let r = timing.rates(
        s.ops(),
        &mut [
            &mut || Ok(f32_qc4w_gemm(ks, m, &x, k, &wc, None, &mut y, n)?),
            &mut || Ok(f32_qc4w_gemm(ks, m, &x, k, &wb, None, &mut y2, n)?),
        ],
    )?;
    Ok((r[0], r[1]))
}
