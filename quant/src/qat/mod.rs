//! Quantization-aware training (QAT): fine-tune a trained float model while it sees the int8
//! rounding it will be exported with, then convert it through the same path as PTQ.
//!
//! - The model trained is the *prepared float graph* (`passes::prepare`: BatchNorm folded into
//!   its convolutions, LayerNorm and attention lowered), run as autograd ops by [`interp`] at
//!   any batch size; its constants are the parameters.
//! - Fake quantization goes exactly where [`crate::ptq::convert`] quantizes, because both read
//!   one [`crate::ptq::QuantPlan`]: per-tensor asymmetric int8 on every value an int8 node reads
//!   or writes (shared parameters across data-movement ops, symmetric BATCH_MATMUL right-hand
//!   sides, 1/256 softmax outputs), per-channel symmetric [−127, 127] on int8 layers' weights.
//!   Float islands (LayerNorm, softmax, GELU) stay float; biases stay float (int32 at convert).
//! - Gradients pass straight through the rounding (STE); activation ranges follow moving-average
//!   min/max observers from the calibrated ranges and freeze after a number of batches; with
//!   [`QatConfig::lsq`] activation scales are learned instead ([`inkling_autograd::ops::fake_quant_lsq`]).
//! - After training, [`QatModel::convert`] writes the trained constants back into the float graph
//!   and calls PTQ's `convert` with the observers' ranges: a QAT model exports like a PTQ one.

mod interp;
mod model;

pub use model::{QatConfig, QatModel};
