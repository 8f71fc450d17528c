//! FULLY_CONNECTED with int4 weights and float32 activations (weight-only 4-bit): weights packed once
//! (TFLite INT4 layout), then the kernels' `f32_qc4w_gemm` per call.
//!
//! LiteRT's XNNPACK delegate runs this op as qd8-f32-qc4w: it quantizes each input row to int8 on the
//! fly. The kernel here multiplies the float rows by the dequantized weights instead (see
//! `inkling_kernels::qgemm::f32_int4`), so the two differ by that per-row activation rounding; the
//! interop test states the tolerance (`quant/tests/wq4.rs`).

use inkling_kernels::qgemm::f32_int4::{f32_qc4w_gemm, Qc4Weights};
use inkling_kernels::qgemm::int4::{int4_bytes, pack_int4};
use inkling_kernels::KernelSet;

use crate::graph::{Act, Quant};
use crate::{Error, Result};

/// A weight-only int4 linear layer `y[M,N] = act(x[M,K]·Ŵᵀ + b)`, Ŵ the dequantized weights.
#[derive(Clone, Debug)]
pub struct Int4Linear {
    ks: KernelSet,
    w: Qc4Weights,
    bias: Option<Vec<f32>>,
    act: Act,
}

fn bad(node: &str, what: impl Into<String>) -> Error {
    Error::Graph {
        node: node.to_string(),
        what: what.into(),
    }
}

impl Int4Linear {
    /// Packs `values` (`[n, k]`, each in [−8, 7]) with per-channel or blockwise scales `quant`.
    ///
    /// Errors (naming `node`) on lengths that do not match, values out of range, a bias that is not
    /// N long, or a quantization that is neither per-channel along axis 0 nor blockwise.
    pub fn new(
        node: &str,
        values: &[i8],
        (n, k): (usize, usize),
        quant: &Quant,
        bias: Option<&[f32]>,
        act: Act,
    ) -> Result<Int4Linear> {
        let count = n
            .checked_mul(k)
            .ok_or_else(|| bad(node, format!("weights {n}×{k} overflow")))?;
        if values.len() != count {
            return Err(bad(
                node,
                format!(
                    "int4 weights hold {} values, [{n}, {k}] needs {count}",
                    values.len()
                ),
            ));
        }
        if let Some(b) = bias {
            if b.len() != n {
                return Err(bad(
                    node,
                    format!("bias has {} values for {n} channels", b.len()),
                ));
            }
        }
        let mut packed = vec![0u8; int4_bytes(count)];
        pack_int4(values, &mut packed)?;
        let w = match quant {
            Quant::PerChannel { scales, axis: 0 } => {
                Qc4Weights::per_channel(&packed, n, k, scales)?
            }
            Quant::Blockwise { scales, block_size } => {
                if *block_size == 0 || !k.is_multiple_of(*block_size) {
                    return Err(bad(
                        node,
                        format!("block size {block_size} does not divide K = {k}"),
                    ));
                }
                Qc4Weights::blockwise(&packed, n, k, *block_size, scales)?
            }
            other => {
                return Err(bad(
                    node,
                    format!(
                        "int4 weights need per-channel (axis 0) or blockwise scales, not {other:?}"
                    ),
                ))
            }
        };
        Ok(Int4Linear {
            ks: *inkling_kernels::init()?,
            w,
            bias: bias.map(<[f32]>::to_vec),
            act,
        })
    }

    /// Input channels K.
    pub fn k(&self) -> usize {
        self.w.k()
    }

    /// Runs `m` rows of `x` (`[m, K]`) into `out` (`[m, N]`).
    pub fn run(&self, x: &[f32], m: usize, out: &mut [f32]) -> Result<()> {
        let (n, k) = (self.w.n(), self.w.k());
        f32_qc4w_gemm(&self.ks, m, x, k, &self.w, self.bias.as_deref(), out, n)?;
        match self.act {
            Act::None => {}
            Act::Relu => out.iter_mut().for_each(|v| *v = v.max(0.0)),
            Act::Relu6 => out.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0)),
        }
        Ok(())
    }
}
