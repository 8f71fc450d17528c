//! The data crate's error type: every variant names the file and where in it things went wrong.

use std::path::PathBuf;

/// Everything the data crate can reject.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file's content is not what its format requires.
    #[error("{path}: {at}: {what}")]
    Format {
        path: PathBuf,
        /// Where: e.g. "header", "line 17", "record 3 (byte 1234)".
        at: String,
        what: String,
    },
    /// A class name that the dataset does not have.
    #[error("unknown class {name:?}{}", hint.as_ref().map(|h| format!(" (did you mean {h:?}?)")).unwrap_or_default())]
    UnknownClass { name: String, hint: Option<String> },
    /// Arguments that do not make sense together.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// A format error at `at` in `path`.
    pub fn format(
        path: impl Into<PathBuf>,
        at: impl Into<String>,
        what: impl Into<String>,
    ) -> Error {
        Error::Format {
            path: path.into(),
            at: at.into(),
            what: what.into(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias for the data crate.
pub type Result<T> = std::result::Result<T, Error>;
