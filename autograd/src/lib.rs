//! Tensors with contiguous f32 storage and a reverse-mode autograd tape (see DESIGN.md, Autograd).
//!
//! Ops are coarse (a linear layer is one node, one GEMM) so that each is a fast kernel call and a
//! node the quantization tracer and exporters map one to one. Parameters are [`Param`]s with stable
//! ids; `loss.backward()` returns [`Gradients`] keyed by them.

pub use inkling_kernels as kernels;

mod buffer;
mod error;
pub mod gradcheck;
pub mod ops;
mod param;
pub mod profile;
mod tape;
mod tensor;
mod trace;

pub use buffer::{memory_stats, release_pool, reset_peak, MemoryStats};
pub use error::{Error, Result};
pub use ops::{Activation, Op, OpKind, Saved};
pub use param::{Param, ParamId};
pub use tape::{clear_tape, grad_enabled, no_grad, tape_len, Gradients};
pub use tensor::{numel, Tensor};
pub use trace::{trace, Trace, TraceEntry};

impl Tensor {
    /// Backpropagates from this scalar and consumes the tape.
    pub fn backward(&self) -> Result<Gradients> {
        tape::backward(self, None)
    }

    /// Backpropagates from this tensor seeded with `seed` (∂L/∂self) and consumes the tape.
    pub fn backward_with(&self, seed: Tensor) -> Result<Gradients> {
        tape::backward(self, Some(seed))
    }
}
