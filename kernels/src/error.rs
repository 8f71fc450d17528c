//! The kernels crate's error type.

/// Everything a safe kernel entry point can reject.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A slice is shorter than the dimensions and leading dimensions require.
    #[error("{op}: {what} needs at least {needed} elements, got {got}")]
    TooShort {
        op: &'static str,
        what: &'static str,
        needed: usize,
        got: usize,
    },
    /// Dimensions that must agree do not.
    #[error("{op}: {what}")]
    BadShape { op: &'static str, what: String },
    /// A buffer the dimensions call for cannot be allocated.
    #[error("{op}: cannot allocate {what} of {len} elements")]
    OutOfMemory {
        op: &'static str,
        what: &'static str,
        len: usize,
    },
    /// `INKLING_ISA` named an ISA that does not exist.
    #[error("INKLING_ISA={0:?} is not one of scalar, avx2, avx512vnni, neon, neon-dotprod")]
    UnknownIsa(String),
    /// An ISA was asked for that this CPU cannot run.
    #[error("ISA {isa} is not supported by this CPU ({cpu}); available: {available}")]
    IsaUnavailable {
        isa: &'static str,
        cpu: String,
        available: String,
    },
}

/// Result alias for the kernels crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Checks that `got >= needed`, naming the operand in the error.
pub(crate) fn check_len(
    op: &'static str,
    what: &'static str,
    needed: usize,
    got: usize,
) -> Result<()> {
    if got < needed {
        return Err(Error::TooShort {
            op,
            what,
            needed,
            got,
        });
    }
    Ok(())
}

/// Elements a row-major `rows × cols` matrix with leading dimension `ld` spans (0 when empty).
///
/// Errors when `ld < cols` (rows would overlap) or the span overflows `usize`.
pub(crate) fn span(
    op: &'static str,
    what: &str,
    rows: usize,
    cols: usize,
    ld: usize,
) -> Result<usize> {
    if ld < cols {
        return Err(Error::BadShape {
            op,
            what: format!(
                "leading dimension of {what} ({ld}) is smaller than its row length ({cols})"
            ),
        });
    }
    if rows == 0 || cols == 0 {
        return Ok(0);
    }
    (rows - 1)
        .checked_mul(ld)
        .and_then(|v| v.checked_add(cols))
        .ok_or_else(|| Error::BadShape {
            op,
            what: format!("{what} of {rows}×{cols} with leading dimension {ld} overflows usize"),
        })
}

/// Checks that a slice of `len` elements holds the `rows × cols` matrix `what` with leading
/// dimension `ld`; returns the span.
pub(crate) fn check_matrix(
    op: &'static str,
    what: &'static str,
    (rows, cols, ld): (usize, usize, usize),
    len: usize,
) -> Result<usize> {
    let need = span(op, what, rows, cols, ld)?;
    check_len(op, what, need, len)?;
    Ok(need)
}

/// `len` copies of `value`, or [`Error::OutOfMemory`] instead of an abort when the dimensions ask for
/// more memory than there is.
pub(crate) fn try_vec<T: Clone>(
    op: &'static str,
    what: &'static str,
    len: usize,
    value: T,
) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| Error::OutOfMemory { op, what, len })?;
    v.resize(len, value);
    Ok(v)
}
