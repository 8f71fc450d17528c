//! The autograd crate's error type.

/// Everything a tensor op or the tape can reject.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two shapes that must agree (or broadcast) do not.
    #[error("{op}: shapes {lhs:?} and {rhs:?} do not match")]
    ShapeMismatch {
        op: &'static str,
        lhs: Vec<usize>,
        rhs: Vec<usize>,
    },
    /// A shape or attribute is invalid for the op.
    #[error("{op}: {what}")]
    BadShape { op: &'static str, what: String },
    /// `backward` was called on a tensor that is not a scalar and no seed gradient was given.
    #[error("backward needs a scalar loss or a seed gradient, got shape {0:?}")]
    NotScalar(Vec<usize>),
    /// `backward` was called on a tensor that the tape did not record.
    #[error("backward: the tensor was not recorded on the tape (no input needs a gradient, or no_grad was on)")]
    NotRecorded,
    /// A kernel rejected its arguments.
    #[error(transparent)]
    Kernel(#[from] inkling_kernels::Error),
}

/// Result alias for the autograd crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Returns `Error::BadShape` for `op` with a formatted message.
#[macro_export]
macro_rules! bail_shape {
    ($op:expr, $($arg:tt)*) => {
        return Err($crate::Error::BadShape { op: $op, what: format!($($arg)*) })
    };
}
