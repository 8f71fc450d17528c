//! Executes a graph: float32 ops, and int8 ops with XNNPACK's arithmetic.

pub(crate) mod broadcast;
mod exec;
pub mod float;
mod float_ref;
pub mod int4;
pub mod int8;
mod int8_exec;
mod layout;
mod tensor;

pub use exec::Session;
pub(crate) use float_ref::f32_out;
pub use tensor::{Buf, Data};

/// Runs one float32 node on float32 operands (constant folding).
pub(crate) fn run_node_f32(node: &crate::graph::Node, xs: &[&Buf]) -> crate::Result<Buf> {
    float_ref::run(node, xs, None)
}
