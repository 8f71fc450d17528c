//! Fetching the real Quick, Draw! files from Google's public `quickdraw_dataset` bucket (or a mirror):
//! the library side of `inkling data download`.
//!
//! Layout: a class's file is `<base>/<folder>/<class>.<ext>` remotely (class names percent-encoded,
//! `The%20Eiffel%20Tower`) and `<dir>/<folder>/<class>.<ext>` locally (names kept as they are), with
//! the bucket's folders: `numpy_bitmap/` (`.npy`), `simplified/` (`.ndjson`), `binary/` (`.bin`) and
//! `raw/` (`.ndjson`).
//!
//! Every file is downloaded resumably, checked and published atomically (see `fetch.rs`): bytes go to
//! `<file>.part`, a rerun continues it with a `Range` request, the size is checked against the server's
//! and the MD5 against its `x-goog-hash` header when it sends one, and only then is the part file
//! synced and renamed to its final name. A file that is already complete is skipped.
//!
//! Two options are deliberately not handled here:
//! - **Parquet** has no Google source. [`DownloadFormat::Parquet`] fetches the `.npy` files and the
//!   returned [`Fetched`] list names them ([`Fetched::path`]); converting them is the converter's job.
//! - **Samples per class** ([`Downloader::fetch_class`], `--samples-per-class K`): only a
//!   prefix is fetched. For `.npy` a `Range: bytes=0-N` request covers the header and K rows (reading
//!   stops there even if the server ignores `Range` and sends everything) and the header is rewritten
//!   to say K rows, so the file is a valid, complete `.npy` of K drawings; `.ndjson` keeps the first K
//!   lines and `.bin` the first K records. Fewer in the file than K gives the whole file. A capped
//!   file is marked by a `<file>.capped` sidecar (`<K> <kept>`): a rerun with the same K skips it,
//!   another K or a full download replaces it, and a full download never takes it for complete. It
//!   is not MD5-checked (the server's hash covers the whole object) nor resumed (it is small).

mod classes;
mod fetch;
#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use classes::{select_classes, ClassChoice, CLASSES, NUM_CLASSES};

use crate::error::{Error, Result};

/// Google's bucket, the default download source.
pub const DEFAULT_BASE_URL: &str = "https://storage.googleapis.com/quickdraw_dataset/full/";

/// Environment variable naming a mirror of the bucket (overridden by an explicit base URL).
pub const BASE_URL_ENV: &str = "INKLING_QUICKDRAW_URL";

/// The file formats `inkling data download` can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DownloadFormat {
    /// `numpy_bitmap/<class>.npy`: 28×28 uint8 bitmaps.
    Npy,
    /// `simplified/<class>.ndjson`: simplified strokes.
    Ndjson,
    /// `binary/<class>.bin`: simplified strokes in Google's binary records.
    Bin,
    /// `raw/<class>.ndjson`: the original strokes with timings.
    Raw,
    /// Not in the bucket: downloads [`DownloadFormat::Npy`] for the caller to convert.
    Parquet,
}

impl DownloadFormat {
    /// Parses a `--format` value: `npy`, `ndjson` (or `simplified`), `bin` (or `binary`), `raw`, `parquet`.
    pub fn parse(s: &str) -> Result<DownloadFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "npy" | "numpy_bitmap" => Ok(DownloadFormat::Npy),
            "ndjson" | "simplified" => Ok(DownloadFormat::Ndjson),
            "bin" | "binary" => Ok(DownloadFormat::Bin),
            "raw" => Ok(DownloadFormat::Raw),
            "parquet" => Ok(DownloadFormat::Parquet),
            _ => Err(Error::Invalid(format!(
                "unknown download format {s:?}: expected npy, ndjson, bin, raw or parquet"
            ))),
        }
    }

    /// The format actually fetched from the bucket: itself, except Parquet which comes from `.npy`.
    pub fn source(self) -> DownloadFormat {
        match self {
            DownloadFormat::Parquet => DownloadFormat::Npy,
            other => other,
        }
    }

    /// The bucket folder (and local subdirectory) holding this format's files.
    pub fn folder(self) -> &'static str {
        match self.source() {
            DownloadFormat::Ndjson => "simplified",
            DownloadFormat::Bin => "binary",
            DownloadFormat::Raw => "raw",
            _ => "numpy_bitmap",
        }
    }

    /// The file extension of this format's files, without the dot.
    pub fn extension(self) -> &'static str {
        match self.source() {
            DownloadFormat::Ndjson | DownloadFormat::Raw => "ndjson",
            DownloadFormat::Bin => "bin",
            _ => "npy",
        }
    }
}

/// The base URL to use: `flag` if given, else `$INKLING_QUICKDRAW_URL` if set and non-empty, else
/// [`DEFAULT_BASE_URL`]; always ending in `/`.
pub fn base_url(flag: Option<&str>) -> String {
    resolve_base_url(flag, std::env::var(BASE_URL_ENV).ok())
}

/// [`base_url`] with the environment passed in, so it can be tested without touching the process env.
fn resolve_base_url(flag: Option<&str>, env: Option<String>) -> String {
    let chosen = match (flag, env) {
        (Some(f), _) if !f.trim().is_empty() => f.trim().to_string(),
        (_, Some(e)) if !e.trim().is_empty() => e.trim().to_string(),
        _ => DEFAULT_BASE_URL.to_string(),
    };
    if chosen.ends_with('/') {
        chosen
    } else {
        chosen + "/"
    }
}

/// The URL of `class`'s file in `format` under `base` (which ends in `/`, see [`base_url`]).
pub fn class_url(base: &str, format: DownloadFormat, class: &str) -> String {
    format!(
        "{base}{}/{}.{}",
        format.folder(),
        percent_encode(class),
        format.extension()
    )
}

/// Where `class`'s file in `format` lands under the download directory `dir`.
pub fn class_path(dir: &Path, format: DownloadFormat, class: &str) -> PathBuf {
    dir.join(format.folder())
        .join(format!("{class}.{}", format.extension()))
}

/// Percent-encodes a URL path segment: every byte but RFC 3986's unreserved characters.
fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What happened to one class's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The class name (canonical spelling).
    pub class: String,
    /// The format fetched (for Parquet requests: [`DownloadFormat::Npy`]).
    pub format: DownloadFormat,
    /// The local file, complete.
    pub path: PathBuf,
    /// Where it came from.
    pub url: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// True when it was already complete and nothing was downloaded.
    pub skipped: bool,
    /// True when the server sent an MD5 (`x-goog-hash`) and the bytes matched it.
    pub md5_verified: bool,
    /// For a capped download: how many drawings the file holds (at most the cap).
    pub samples: Option<u64>,
}

/// Progress callback: `(class, bytes_done, bytes_total)`, total `None` while the server has not said.
/// Called as bytes arrive (per buffer of up to 64 KiB), so a bar should throttle its own redraws.
pub type Progress<'a> = dyn FnMut(&str, u64, Option<u64>) + 'a;

/// A blocking HTTP client bound to one base URL.
pub struct Downloader {
    agent: ureq::Agent,
    base: String,
}

impl Downloader {
    /// A client for `base` (normalised to end in `/`; see [`base_url`] for the flag/env/default rule).
    pub fn new(base: &str) -> Downloader {
        let base = resolve_base_url(Some(base), None);
        // Loopback (tests, local mirrors) never goes through a proxy from the environment.
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| base.starts_with(p));
        let mut config = ureq::Agent::config_builder()
            // Statuses are handled by hand: 206/416 drive resuming, 404 names the class.
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(60)));
        if loopback {
            config = config.proxy(None);
        }
        Downloader {
            agent: config.build().into(),
            base,
        }
    }

    /// The base URL in use (ends in `/`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Fetches `class`'s file (a name of [`CLASSES`], else [`Error::UnknownClass`]) in `format` into
    /// `dir` (creating its folder), resuming a `.part` file and skipping a file that is already complete.
    /// Two processes must not fetch the same file into the same `dir` at once (they share the `.part`).
    /// With `samples_per_class` = `Some(K)`, only the first K drawings are kept (see the module doc;
    /// 0 is an error).
    pub fn fetch_class(
        &self,
        format: DownloadFormat,
        class: &str,
        dir: &Path,
        samples_per_class: Option<usize>,
        progress: &mut Progress<'_>,
    ) -> Result<Fetched> {
        if samples_per_class == Some(0) {
            return Err(Error::Invalid(
                "samples per class must be at least 1".into(),
            ));
        }
        // Only canonical names: they are safe path components, and a typo gets its hint here.
        let class = select_classes(&ClassChoice::Names(vec![class.to_string()]))?
            .first()
            .copied()
            .ok_or_else(|| Error::Invalid(format!("no class in {class:?}")))?;
        let format = format.source();
        let url = class_url(&self.base, format, class);
        let path = class_path(dir, format, class);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let (bytes, skipped, md5_verified, samples) = match samples_per_class {
            Some(k) => {
                let k = k as u64;
                let cap = match format {
                    DownloadFormat::Ndjson | DownloadFormat::Raw => fetch::Cap::Lines(k),
                    DownloadFormat::Bin => fetch::Cap::BinRecords(k),
                    _ => fetch::Cap::NpyRows(k),
                };
                let o = fetch::fetch_capped(&self.agent, &url, class, &path, cap, progress)?;
                (o.bytes, o.skipped, false, Some(o.kept))
            }
            None => {
                // A capped file is never a complete one: drop it (file first, then its sidecar)
                // and fetch whole.
                let sidecar = fetch::sidecar_path(&path);
                if sidecar.exists() {
                    fetch::remove_if_present(&path)?;
                    fetch::remove_if_present(&sidecar)?;
                }
                let o = fetch::fetch_file(&self.agent, &url, class, &path, progress)?;
                (o.bytes, o.skipped, o.md5_verified, None)
            }
        };
        Ok(Fetched {
            class: class.to_string(),
            format,
            path,
            url,
            bytes,
            skipped,
            md5_verified,
            samples,
        })
    }

    /// Fetches every class of `classes` in turn (see [`Downloader::fetch_class`]); stops at the first
    /// error, leaving finished files in place and the failed one's `.part` for the next run.
    pub fn fetch_all(
        &self,
        classes: &[&str],
        format: DownloadFormat,
        dir: &Path,
        samples_per_class: Option<usize>,
        progress: &mut Progress<'_>,
    ) -> Result<Vec<Fetched>> {
        classes
            .iter()
            .map(|class| self.fetch_class(format, class, dir, samples_per_class, progress))
            .collect()
    }
}

/// Downloads `choice`'s classes in `format` into `dir` from `base` (a flag value; `None` = env or
/// Google, see [`base_url`]) and returns the files fetched, in class order; `samples_per_class` caps
/// each class as in [`Downloader::fetch_class`] (for Parquet, the `.npy` files fetched for conversion).
pub fn download(
    choice: &ClassChoice,
    format: DownloadFormat,
    dir: &Path,
    base: Option<&str>,
    samples_per_class: Option<usize>,
    progress: &mut Progress<'_>,
) -> Result<Vec<Fetched>> {
    let classes = select_classes(choice)?;
    Downloader::new(&base_url(base)).fetch_all(&classes, format, dir, samples_per_class, progress)
}
