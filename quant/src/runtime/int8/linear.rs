//! FULLY_CONNECTED int8: weights packed once, then XNNPACK's qs8-qc8w GEMM per call.

use inkling_kernels::qgemm::{pack_qs8_weights, qs8_gemm, Qs8Weights, Requant};
use inkling_kernels::KernelSet;

use super::requant::{channel_scales, check_conv_scales, check_qparams, quant_err, Clamp};
use super::{check_len, numel};
use crate::{QParams, Result};

const OP: &str = "FULLY_CONNECTED";

/// An int8 linear layer `y[M,N] = requant(Σ_k (x[m,k] − zp_x)·w[n,k] + bias[n])` with per-channel
/// symmetric weights (TFLite FULLY_CONNECTED, filter `[N, K]`, bias at scale `s_x·s_w[n]`).
#[derive(Clone, Debug)]
pub struct Int8Linear {
    ks: KernelSet,
    w: Qs8Weights,
    bias: Option<Vec<i32>>,
    w_scales: Vec<f32>,
}

impl Int8Linear {
    /// Packs `w` (`[n, k]` row-major, values in [−127, 127]) for the process-wide kernel table.
    ///
    /// `w_scales` holds N per-channel scales, or one per-tensor scale (the delegate repeats it).
    /// Errors on lengths that do not match `n`, `k`, a weight of −128, or a bad scale.
    pub fn new(
        w: &[i8],
        n: usize,
        k: usize,
        bias: Option<&[i32]>,
        w_scales: &[f32],
    ) -> Result<Int8Linear> {
        Int8Linear::with_kernels(*inkling_kernels::init()?, w, n, k, bias, w_scales)
    }

    /// As [`Int8Linear::new`], for a given kernel table (tests compare ISAs with it).
    pub fn with_kernels(
        ks: KernelSet,
        w: &[i8],
        n: usize,
        k: usize,
        bias: Option<&[i32]>,
        w_scales: &[f32],
    ) -> Result<Int8Linear> {
        check_len(OP, "weights", numel(OP, &[n, k])?, w.len())?;
        let w_scales = channel_scales(OP, w_scales, n)?;
        if let Some(b) = bias {
            check_len(OP, "bias", n, b.len())?;
        }
        if let Some(i) = w.iter().position(|&v| v == i8::MIN) {
            return Err(quant_err(
                OP,
                format!(
                    "weight [{}, {}] is -128; symmetric int8 weights are in [-127, 127]",
                    i / k,
                    i % k
                ),
            ));
        }
        Ok(Int8Linear {
            ks,
            w: pack_qs8_weights(&ks, w, n, k, k)?,
            bias: bias.map(<[i32]>::to_vec),
            w_scales,
        })
    }

    /// Output channels N.
    pub fn n(&self) -> usize {
        self.w.n()
    }

    /// Input channels K.
    pub fn k(&self) -> usize {
        self.w.k()
    }

    /// Runs `m` rows: `x` is `[m, K]` at `x_q`, `out` is `[m, N]` at `y_q`, clamped to `clamp`.
    ///
    /// Errors on wrong lengths, invalid qparams, or a requantization scale outside (0, 256).
    pub fn run(
        &self,
        x: &[i8],
        m: usize,
        x_q: QParams,
        y_q: QParams,
        clamp: Clamp,
        out: &mut [i8],
    ) -> Result<()> {
        let (n, k) = (self.n(), self.k());
        check_qparams(OP, "input", x_q)?;
        check_qparams(OP, "output", y_q)?;
        check_len(OP, "input", numel(OP, &[m, k])?, x.len())?;
        check_len(OP, "output", numel(OP, &[m, n])?, out.len())?;
        let scales = check_conv_scales(OP, x_q.scale, &self.w_scales, y_q.scale)?;
        let rq = Requant::from_scales(scales, y_q.zero_point as i8, clamp.min, clamp.max)?;
        qs8_gemm(
            &self.ks,
            m,
            x,
            k,
            x_q.zero_point as i8,
            &self.w,
            self.bias.as_deref(),
            &rq,
            out,
            n,
        )?;
        Ok(())
    }
}
