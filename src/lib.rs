//! Inkling: train small vision models on Quick, Draw! doodles on CPUs, compress them and export them for
//! phones. This facade re-exports the workspace crates.

pub use inkling_autograd as autograd;
pub use inkling_data as data;
pub use inkling_kernels as kernels;
pub use inkling_nn as nn;
pub use inkling_quant as quant;
