//! BATCH_MATMUL int8: XNNPACK's `batch_matrix_multiply_nc_qs8` (the qs8-qc8w GEMM with B packed per
//! call), so requantization is FULLY_CONNECTED's with one channel scale `f32(f32(s_a·s_b) / s_y)`.
//! XNNPACK (and so LiteRT's delegate) only takes a right-hand input with zero point 0.

use inkling_kernels::qgemm::{pack_qs8_weights, qs8_gemm, Requant};

use super::binary::Operand;
use super::requant::{check_conv_scales, check_qparams, output_bounds, quant_err, requant, Clamp};
use super::{check_len, numel, shape_err};
use crate::{QParams, Result};

const OP: &str = "BATCH_MATMUL";

/// Sizes of a batched product `[B, M, K] × [B, K, N]` (or `[B, N, K]` with `adj_y`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchMatmulShape {
    /// Batch count B of the output (and of A).
    pub batch: usize,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    /// B is stored transposed, `[B, N, K]`.
    pub adj_y: bool,
    /// B has a single batch shared by every batch of A.
    pub broadcast_b: bool,
}

impl BatchMatmulShape {
    /// Reads the sizes from A `[..., M, K]` and B `[..., K, N]` (`[..., N, K]` with `adj_y`); B's
    /// leading dimensions must equal A's or all be 1.
    pub fn from_shapes(a: &[usize], b: &[usize], adj_y: bool) -> Result<BatchMatmulShape> {
        if a.len() < 2 || b.len() < 2 {
            return Err(shape_err(
                OP,
                format!("operands {a:?} and {b:?} need rank ≥ 2"),
            ));
        }
        let (ra, rb) = (a.len() - 2, b.len() - 2);
        let (m, k) = (a[ra], a[ra + 1]);
        let (kb, n) = if adj_y {
            (b[rb + 1], b[rb])
        } else {
            (b[rb], b[rb + 1])
        };
        let batch = numel(OP, &a[..ra])?;
        let batch_b = numel(OP, &b[..rb])?;
        if kb != k || !(batch_b == 1 || a[..ra].ends_with(&b[..rb]) && batch_b == batch) {
            return Err(shape_err(
                OP,
                format!("cannot multiply {a:?} by {b:?} (adj_y {adj_y})"),
            ));
        }
        Ok(BatchMatmulShape {
            batch,
            m,
            k,
            n,
            adj_y,
            broadcast_b: batch_b == 1 && batch > 1,
        })
    }
}

/// `y[b] = requant((A[b] − zp_a)·B[b])` with B symmetric (zero point 0), output `[B, M, N]`.
///
/// Errors when B's zero point is not 0, on wrong lengths, invalid qparams or a scale ≥ 256.
pub fn batch_matmul(
    a: Operand,
    b: Operand,
    adj_y: bool,
    y_q: QParams,
    clamp: Clamp,
    out: &mut [i8],
) -> Result<()> {
    let s = BatchMatmulShape::from_shapes(a.shape, b.shape, adj_y)?;
    let (m, k, n) = (s.m, s.k, s.n);
    check_qparams(OP, "input A", a.q)?;
    check_qparams(OP, "input B", b.q)?;
    if b.q.zero_point != 0 {
        return Err(quant_err(
            OP,
            format!(
                "input B zero point {} must be 0 (XNNPACK qs8 BATCH_MATMUL)",
                b.q.zero_point
            ),
        ));
    }
    check_len(OP, "input A", numel(OP, a.shape)?, a.data.len())?;
    check_len(OP, "input B", numel(OP, b.shape)?, b.data.len())?;
    check_len(OP, "output", numel(OP, &[s.batch, m, n])?, out.len())?;
    if k == 0 {
        return Err(shape_err(OP, "K = 0 (XNNPACK rejects empty products)"));
    }
    let scale = check_conv_scales(OP, a.q.scale, &[b.q.scale], y_q.scale)?[0];
    let (lo, hi) = output_bounds(OP, y_q, clamp)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    let ks = inkling_kernels::init()?;
    let rq = Requant::from_scales(vec![scale; n], y_q.zero_point as i8, clamp.min, clamp.max)?;
    // The packed GEMM needs weights in [−127, 127]; a B holding −128 takes the scalar loop, whose
    // integer sums and requantization are the same.
    let gemm = !b.data.contains(&i8::MIN);
    let b_of = |i: usize| &b.data[if s.broadcast_b { 0 } else { i * k * n }..][..k * n];
    // B `[K, N]` (or `[N, K]` with adj_y) packed as FULLY_CONNECTED's `[N, K]` filter; `bt` is the
    // caller's scratch for the transpose.
    let pack = |bi: &[i8], bt: &mut Vec<i8>| {
        let w = if adj_y {
            bi
        } else {
            bt.resize(n * k, 0);
            for (kk, row) in bi.chunks_exact(n).enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    bt[j * k + kk] = v;
                }
            }
            &bt[..]
        };
        pack_qs8_weights(ks, w, n, k, k)
    };
    // A broadcast B is packed once and shared read-only by every batch.
    let shared = match gemm && s.broadcast_b {
        true => Some(pack(b_of(0), &mut Vec::new())?),
        false => None,
    };
    let one = |bt: &mut Vec<i8>, (i, yi): (usize, &mut [i8])| -> Result<()> {
        let ai = &a.data[i * m * k..][..m * k];
        let bi = b_of(i);
        if !gemm {
            let zp_y = y_q.zero_point;
            scalar_batch(ai, a.q.zero_point, bi, s, scale, (lo, hi), zp_y, yi);
            return Ok(());
        }
        let own;
        let w = match &shared {
            Some(w) => w,
            None => {
                own = pack(bi, bt)?;
                &own
            }
        };
        qs8_gemm(ks, m, ai, k, a.q.zero_point as i8, w, None, &rq, yi, n)?;
        Ok(())
    };
    // Batches (attention heads) are independent and each GEMM is too small to split, so threads take
    // whole batches; every batch computes the same integers whichever thread runs it.
    let threads = inkling_kernels::threads::num_threads();
    let work = s
        .batch
        .saturating_mul(m)
        .saturating_mul(n)
        .saturating_mul(k);
    if threads > 1 && s.batch > 1 && work >= PAR_MACS {
        use rayon::prelude::*;
        inkling_kernels::threads::install(threads, || {
            out.par_chunks_mut(m * n)
                .enumerate()
                .try_for_each_init(Vec::new, one)
        })
    } else {
        let mut bt = Vec::new();
        (out.chunks_mut(m * n).enumerate()).try_for_each(|job| one(&mut bt, job))
    }
}

/// Work (MACs over all batches) below which running batches on several threads does not pay: as for
/// the GEMM's own split (about 13 µs to hand work to the pool), so ViT-Tiny's 3 heads of
/// 50×64×50 (~20 µs in all, mostly packing B) stay on one thread.
#[cfg(not(test))]
const PAR_MACS: usize = 1 << 23;
/// Tests use small shapes, so every multi-batch product takes the threaded path.
#[cfg(test)]
const PAR_MACS: usize = 1;

/// One batch by the definition: `Σ_k (a − zp_a)·b` in wrapping int32, then [`requant`].
#[allow(clippy::too_many_arguments)]
fn scalar_batch(
    a: &[i8],
    zp_a: i32,
    b: &[i8],
    s: BatchMatmulShape,
    scale: f32,
    (lo, hi): (f32, f32),
    zp_y: i32,
    y: &mut [i8],
) {
    let (k, n) = (s.k, s.n);
    for (row, yr) in a.chunks_exact(k).zip(y.chunks_exact_mut(n)) {
        for (j, dst) in yr.iter_mut().enumerate() {
            let acc = row.iter().enumerate().fold(0i32, |acc, (kk, &av)| {
                let bv = if s.adj_y {
                    b[j * k + kk]
                } else {
                    b[kk * n + j]
                };
                acc.wrapping_add((av as i32 - zp_a) * bv as i32)
            });
            *dst = requant(acc, scale, lo, hi, zp_y);
        }
    }
}
