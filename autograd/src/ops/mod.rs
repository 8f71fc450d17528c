//! Differentiable ops: the [`Op`] trait, the public [`OpKind`] enum the tracer reads, and [`apply`].
//!
//! One op per file, forward and backward side by side, with its gradient check in the same file.

use std::time::Instant;

use crate::{profile, tape, Result, Tensor};

mod linear;

pub use linear::linear;

/// The activation a fused op applies to its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Activation {
    /// Identity.
    #[default]
    None,
    /// max(x, 0).
    Relu,
    /// GELU, exact erf form.
    Gelu,
}

/// What an op node computes, with its attributes. The quantization issue's tracer turns a tape of
/// these into its graph; exporters map each to runtime ops.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum OpKind {
    /// `y = act(x·Wᵀ + b)`, x `[.., in]`, W `[out, in]`, b `[out]` (optional).
    Linear {
        /// Fused activation.
        activation: Activation,
        /// Whether a bias input is present.
        bias: bool,
    },
}

impl OpKind {
    /// A short stable name (profiles, error messages).
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Linear { .. } => "linear",
        }
    }
}

/// Tensors an op keeps from forward for its backward; dropped as soon as backward has run.
#[derive(Debug, Default)]
pub struct Saved {
    tensors: Vec<Tensor>,
    recording: bool,
}

impl Saved {
    /// Keeps `t` for backward (a no-op when nothing is recorded, so inference frees at once).
    pub fn push(&mut self, t: &Tensor) {
        if self.recording {
            self.tensors.push(t.detach());
        }
    }

    /// Whether this forward is being recorded (ops skip work only backward needs otherwise).
    pub fn recording(&self) -> bool {
        self.recording
    }

    /// The saved tensors in push order.
    pub fn into_vec(self) -> Vec<Tensor> {
        self.tensors
    }

    /// A saved set for calling an op's forward directly (tests).
    pub fn for_test() -> Saved {
        Saved {
            tensors: Vec::new(),
            recording: true,
        }
    }
}

/// One differentiable op: its attributes live in the implementing struct.
pub trait Op: std::fmt::Debug + 'static {
    /// The op's kind and attributes.
    fn kind(&self) -> OpKind;
    /// Computes the output from the inputs, saving what backward needs.
    fn forward(&self, xs: &[&Tensor], save: &mut Saved) -> Result<Tensor>;
    /// Gradients of the inputs from the output gradient; `None` where `needs[i]` is false.
    fn backward(&self, gy: &Tensor, saved: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>>;
}

/// Runs `op` on `xs` and records it on the tape when an input is tracked and recording is on.
pub fn apply(op: impl Op, xs: &[&Tensor]) -> Result<Tensor> {
    let recording = tape::should_record(xs);
    let mut saved = Saved {
        tensors: Vec::new(),
        recording,
    };
    let t0 = profile::enabled().then(Instant::now);
    let mut y = op.forward(xs, &mut saved)?;
    if let Some(t0) = t0 {
        profile::add(op.kind().name(), profile::Pass::Forward, t0.elapsed());
    }
    y.node = None;
    if recording {
        let node = tape::record(Box::new(op), xs, saved, y.shape());
        y.node = Some(node);
    }
    Ok(y)
}

/// Errors unless `x` has rank `r`.
pub(crate) fn expect_rank(op: &'static str, x: &Tensor, r: usize) -> Result<()> {
    if x.rank() != r {
        crate::bail_shape!(op, "expected rank {r}, got shape {:?}", x.shape());
    }
    Ok(())
}
