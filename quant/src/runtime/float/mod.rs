//! Float32 ops of the runtime, computed as XNNPACK computes them (the float islands of an int8 graph).
//!
//! Each op repeats the f32 operations of the XNNPACK micro-kernel that LiteRT 2.3's delegate picks, in the
//! same order, with `f32::mul_add` where the kernel uses FMA, so that the following QUANTIZE rounds the
//! same values. Where XNNPACK's result depends on the CPU (summation order, hardware estimates), the op
//! takes an [`Isa`]. GELU, SOFTMAX and MEAN run on the kernels crate's `xnn` family (SIMD twins of the
//! same arithmetic, bit for bit). Measured agreement with LiteRT: `quant/tests/float_golden.rs`.

use inkling_kernels::xnn::SumOrder;
use inkling_kernels::{Isa as KIsa, KernelSet};

mod binary;
mod gelu;
mod reduce;
mod shape;
mod softmax;
mod sqrt;
mod unary;

pub use crate::runtime::broadcast::broadcast_shape;
pub use binary::{binary, binary_into, BinaryOp};
pub use gelu::gelu;
pub use reduce::mean;
pub use softmax::softmax;
pub use sqrt::{rsqrt, rsqrt_with, sqrt, sqrt_with};
pub use unary::hard_swish;

/// The x86 kernel family whose arithmetic an op reproduces: XNNPACK picks kernels per CPU, and sums
/// (MEAN, SOFTMAX) group their terms by vector width and accumulator count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F kernels (e.g. Zen 4): 16 lanes.
    Avx512f,
    /// AVX / AVX2+FMA kernels (e.g. Zen 3): 8 lanes.
    Avx2,
}

impl Isa {
    /// The kernels' name for this summation order.
    fn order(self) -> SumOrder {
        match self {
            Isa::Avx512f => SumOrder::Avx512f,
            Isa::Avx2 => SumOrder::Avx2,
        }
    }
}

/// What LiteRT's XNNPACK path does with subnormals: every subnormal input or result is a signed zero
/// (FTZ/DAZ). The ops apply this to their inputs and to each result that can be subnormal.
pub(crate) use inkling_kernels::xnn::ftz;

/// The process-wide kernel table, or the scalar one when `INKLING_ISA` is bad (an error its callers
/// report at startup): every table gives the float islands the same bits.
fn table() -> KernelSet {
    match inkling_kernels::init() {
        Ok(ks) => *ks,
        Err(_) => KernelSet::for_isa(KIsa::Scalar).expect("the scalar table runs on every CPU"),
    }
}
