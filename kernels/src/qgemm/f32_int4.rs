//! Weight-only int4 GEMM: f32 activations × int4 weights (per-channel or blockwise scales) → f32.
//!
//! Chosen scheme: dequantize a slab of output channels to f32 (≤ 256 KiB, so it stays in L2) and run
//! the f32 GEMM on it. The dequantization costs N·K per call against M·N·K multiply-adds, and the
//! result is as accurate as an f32 GEMM on the dequantized weights. Quantizing the activations on the
//! fly and using the int8 kernels would be faster on VNNI but adds a per-row activation rounding error
//! that callers of a "weight-only" GEMM do not expect.

use super::bad;
use super::int4::{int4_bytes, nibble};
use crate::error::{check_len, check_matrix, Result};
use crate::gemm::{sgemm, Epilogue, GemmParams};
use crate::KernelSet;

/// int4 weights `[N, K]` (TFLite INT4 layout) with one f32 scale per channel or per block of K.
#[derive(Clone, Debug)]
pub struct Qc4Weights {
    n: usize,
    k: usize,
    block: usize,
    blocks: usize,
    data: Vec<u8>,
    scales: Vec<f32>,
}

impl Qc4Weights {
    /// Per-channel: `w[c, k] = q[c, k]·scales[c]`; `packed` holds ⌈N·K/2⌉ bytes, `scales` N values.
    pub fn per_channel(packed: &[u8], n: usize, k: usize, scales: &[f32]) -> Result<Qc4Weights> {
        Qc4Weights::build("Qc4Weights::per_channel", packed, n, k, k.max(1), scales)
    }

    /// Blockwise along K: `w[c, k] = q[c, k]·scales[c·⌈K/block⌉ + k/block]` (TFLite uses 32, 64, 128).
    ///
    /// Errors when `block` is 0, `packed` is short, or `scales` does not hold N·⌈K/block⌉ values.
    pub fn blockwise(
        packed: &[u8],
        n: usize,
        k: usize,
        block: usize,
        scales: &[f32],
    ) -> Result<Qc4Weights> {
        const OP: &str = "Qc4Weights::blockwise";
        if block == 0 {
            return Err(bad(OP, "block size 0".to_string()));
        }
        Qc4Weights::build(OP, packed, n, k, block, scales)
    }

    fn build(
        op: &'static str,
        packed: &[u8],
        n: usize,
        k: usize,
        block: usize,
        scales: &[f32],
    ) -> Result<Qc4Weights> {
        let count = n
            .checked_mul(k)
            .ok_or_else(|| bad(op, format!("{n}×{k} overflows")))?;
        let need = int4_bytes(count);
        check_len(op, "packed", need, packed.len())?;
        let blocks = k.div_ceil(block).max(1);
        if Some(scales.len()) != n.checked_mul(blocks) {
            return Err(bad(
                op,
                format!("{} scales for {n} channels × {blocks} blocks", scales.len()),
            ));
        }
        if let Some(s) = scales.iter().find(|s| !s.is_finite()) {
            return Err(bad(op, format!("scale {s} is not finite")));
        }
        Ok(Qc4Weights {
            n,
            k,
            block,
            blocks,
            data: packed[..need].to_vec(),
            scales: scales.to_vec(),
        })
    }

    /// Output channels N.
    pub fn n(&self) -> usize {
        self.n
    }
    /// Input channels K.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Dequantizes channels `c0..c0 + out.len()/K` into `out` (row-major `[·, K]`).
    fn dequantize_into(&self, c0: usize, out: &mut [f32]) {
        let k = self.k;
        for (dc, row) in out.chunks_exact_mut(k).enumerate() {
            let c = c0 + dc;
            let scales = &self.scales[c * self.blocks..][..self.blocks];
            for (kk, o) in row.iter_mut().enumerate() {
                *o = nibble(&self.data, c * k + kk) as f32 * scales[kk / self.block];
            }
        }
    }

    /// The dequantized weights `[N, K]`.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.n * self.k];
        if self.k > 0 {
            self.dequantize_into(0, &mut out);
        }
        out
    }
}

/// `Y[M,N] = X[M,K]·Wᵀ + bias` with f32 X (leading dimension `ldx`) and int4 W, f32 Y (`ldy`).
///
/// Errors when a slice is too short, a leading dimension is below its row length, or `bias` does not
/// hold N values.
#[allow(clippy::too_many_arguments)]
pub fn f32_qc4w_gemm(
    ks: &KernelSet,
    m: usize,
    x: &[f32],
    ldx: usize,
    w: &Qc4Weights,
    bias: Option<&[f32]>,
    y: &mut [f32],
    ldy: usize,
) -> Result<()> {
    const OP: &str = "f32_qc4w_gemm";
    let (n, k) = (w.n, w.k);
    if ldx < k || ldy < n {
        return Err(bad(OP, format!("ldx {ldx} < K {k} or ldy {ldy} < N {n}")));
    }
    check_matrix(OP, "X", (m, k, ldx), x.len())?;
    check_matrix(OP, "Y", (m, n, ldy), y.len())?;
    if let Some(b) = bias {
        if b.len() != n {
            return Err(bad(
                OP,
                format!("bias has {} values for {n} channels", b.len()),
            ));
        }
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    // Channels per slab: 256 KiB of f32 weights, at least 16 so each GEMM call has some width.
    let slab = (64 * 1024 / k.max(1)).clamp(16, n.max(16));
    let mut buf = vec![0f32; slab.min(n) * k];
    for c0 in (0..n).step_by(slab) {
        let nc = slab.min(n - c0);
        let wb = &mut buf[..nc * k];
        if k > 0 {
            w.dequantize_into(c0, wb);
        }
        let p = GemmParams::new(m, nc, k).trans_b().ld(ldx, k, ldy);
        let epi = Epilogue {
            bias: bias.map(|b| &b[c0..c0 + nc]),
            ..Epilogue::default()
        };
        sgemm(ks, &p, x, wb, &mut y[c0..], &epi)?;
    }
    Ok(())
}
