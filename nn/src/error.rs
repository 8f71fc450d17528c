//! The nn crate's error type.

use std::path::PathBuf;

/// Everything layers, optimizers and checkpoints can reject.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor op failed.
    #[error(transparent)]
    Autograd(#[from] inkling_autograd::Error),
    /// A configuration value is invalid.
    #[error("{what}")]
    Config { what: String },
    /// A checkpoint file is damaged, from another model, or unreadable.
    #[error("checkpoint {path}: {what}")]
    Checkpoint { path: PathBuf, what: String },
    /// Evaluation input is inconsistent (logit/label lengths, label range, NaN logits) or a
    /// training log line does not parse.
    #[error("{op}: {what}")]
    Metrics { op: &'static str, what: String },
    /// Saved tensors (weights, optimizer state) do not fit what they are loaded into.
    #[error("{what}")]
    Mismatch { what: String },
    /// Training produced a non-finite value (loss or gradient) at an optimizer step.
    #[error("step {step}: {what}; stopping (the last good checkpoint is kept)")]
    NonFinite { step: u64, what: String },
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Result alias for the nn crate.
pub type Result<T> = std::result::Result<T, Error>;

/// The first few of `names` joined by commas, with a count of the rest (for error messages).
pub(crate) fn list(names: &[&str]) -> String {
    const SHOW: usize = 8;
    let mut s = names
        .iter()
        .take(SHOW)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOW {
        s.push_str(&format!(" and {} more", names.len() - SHOW));
    }
    s
}
