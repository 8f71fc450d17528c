//! The quant crate's error type.

use std::path::PathBuf;

/// Everything tracing, quantization, the runtime and the exporters can reject.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor op failed while tracing or in the float reference.
    #[error(transparent)]
    Autograd(#[from] inkling_autograd::Error),
    /// A model failed (tracing, calibration forward passes).
    #[error(transparent)]
    Nn(#[from] inkling_nn::Error),
    /// A kernel rejected its operands.
    #[error(transparent)]
    Kernel(#[from] inkling_kernels::Error),
    /// A graph is malformed or an op's operands do not fit it (names the node).
    #[error("{node}: {what}")]
    Graph { node: String, what: String },
    /// The graph uses something the runtime or an exporter cannot express.
    #[error("{node}: {what}")]
    Unsupported { node: String, what: String },
    /// Quantization parameters are invalid or violate a runtime constraint.
    #[error("{node}: {what}")]
    Quant { node: String, what: String },
    /// A model file is damaged, truncated or not of the expected kind.
    #[error("{what}")]
    Format { what: String },
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Result alias for the quant crate.
pub type Result<T> = std::result::Result<T, Error>;

/// A [`Error::Format`] from anything printable.
pub(crate) fn format_err(what: impl Into<String>) -> Error {
    Error::Format { what: what.into() }
}
