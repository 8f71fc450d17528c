//! Tensors with contiguous f32 storage and a reverse-mode autograd tape (see DESIGN.md, Autograd).
//!
//! Filled by the training issue; it links the kernels crate so the dependency graph is fixed from the start.

pub use inkling_kernels as kernels;
