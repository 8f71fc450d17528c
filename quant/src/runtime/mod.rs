//! Executes a graph: float32 ops, and int8 ops with XNNPACK's arithmetic.

pub mod float;
pub mod int8;
