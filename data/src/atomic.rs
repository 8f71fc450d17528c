//! Atomic file creation shared by every writer (`.npy`, `.bin`, ndjson): write a hidden temporary sibling,
//! `sync_all`, then rename over the target, so a crash leaves the old file or the new one, never half.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// A file being written under a temporary name next to its target; [`AtomicFile::commit`] publishes
/// it, dropping it uncommitted removes the temporary file.
pub(crate) struct AtomicFile {
    target: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates the temporary sibling of `target` (same directory, so the rename cannot cross devices).
    pub(crate) fn create(target: &Path) -> Result<AtomicFile> {
        // Unique per process and per call, so two writers of the same target never share a temp file.
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = target
            .file_name()
            .ok_or_else(|| Error::Invalid(format!("{}: not a file path", target.display())))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.{n}.tmp", std::process::id()));
        let tmp = target.with_file_name(tmp_name);
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(AtomicFile {
            target: target.to_path_buf(),
            tmp,
            out: Some(BufWriter::with_capacity(1 << 16, file)),
        })
    }

    /// Appends `bytes`.
    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        match self.out.as_mut() {
            Some(out) => out.write_all(bytes).map_err(|e| Error::io(&self.tmp, e)),
            None => Err(Error::Invalid(format!(
                "{}: write after commit",
                self.target.display()
            ))),
        }
    }

    /// Flushes, syncs and renames the temporary file over the target.
    pub(crate) fn commit(mut self) -> Result<()> {
        let out = self
            .out
            .take()
            .ok_or_else(|| Error::Invalid(format!("{}: committed twice", self.target.display())))?;
        let done = out
            .into_inner()
            .map_err(|e| Error::io(&self.tmp, e.into_error()))
            .and_then(|file| file.sync_all().map_err(|e| Error::io(&self.tmp, e)))
            .and_then(|()| {
                std::fs::rename(&self.tmp, &self.target).map_err(|e| Error::io(&self.target, e))
            });
        if done.is_err() {
            // The target is untouched; only the temporary has to go.
            let _ = std::fs::remove_file(&self.tmp);
        }
        done
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            // Not committed: the half-written temporary must not linger. Nothing to report from drop.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
