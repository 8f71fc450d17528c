//! SmoothQuant (Xiao et al., 2023): migrate activation outliers into weights before int8 PTQ.
//!
//! A FULLY_CONNECTED input whose channel `j` has outliers is divided by a per-channel factor `s_j`
//! and the layer's weight column `W[:, j]` multiplied by it: `(x/s)·(W·diag(s))ᵀ = x·Wᵀ`. The
//! division is folded into the per-channel affine that writes the input (a lowered LayerNorm's
//! `MUL(γ)` and `ADD(β)`), so the smoothed graph has the same ops and computes the same function;
//! only its per-tensor activation ranges are flatter. Recalibrate after smoothing.

mod fold;
mod sites;
mod stats;

pub use fold::{factors, smooth, SkippedSite, SmoothSummary, SmoothedSite};
pub use stats::{channel_max, ChannelStats};
