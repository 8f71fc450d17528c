//! numpy_bitmap `.npy` files: a memory-mapped reader of `(N, 784)` uint8 rows (never read whole), a
//! writer (version 1.0, 64-byte aligned, atomic), and [`NpyDataset`], one file per class.

#[path = "npy_dataset.rs"]
mod dataset;
#[path = "npy_header.rs"]
mod header;
#[cfg(test)]
#[path = "npy_tests.rs"]
mod tests;

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::{Error, Result};
use crate::types::{Bitmap, IMAGE_PIXELS};

use crate::atomic::AtomicFile;
pub use dataset::NpyDataset;
pub use header::{encode_header, NpyHeader, MAX_HEADER_LEN, NPY_MAGIC};

/// A validated, memory-mapped numpy_bitmap file: `len()` rows of 784 bytes.
#[derive(Debug)]
pub struct NpyBitmaps {
    path: PathBuf,
    map: Mmap,
    header: NpyHeader,
}

impl NpyBitmaps {
    /// Maps `path` and validates its header and that the data is exactly `N × 784` bytes.
    pub fn open(path: impl AsRef<Path>) -> Result<NpyBitmaps> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if file_len == 0 {
            return Err(Error::format(path, "header", "file is empty"));
        }
        // SAFETY: the mapping is only read, and every access is bounds-checked against its length.
        // Its contents are undefined if another process truncates or rewrites the file while it is
        // mapped; the datasets are read-only inputs and our own writers replace files by rename
        // (a new inode), never in place.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let header = NpyHeader::parse(path, &map)?;
        check_data_len(path, &header, map.len())?;
        Ok(NpyBitmaps {
            path: path.to_path_buf(),
            map,
            header,
        })
    }

    /// The file this was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The validated header.
    pub fn header(&self) -> &NpyHeader {
        &self.header
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.header.rows
    }

    /// Whether the file has no rows.
    pub fn is_empty(&self) -> bool {
        self.header.rows == 0
    }

    /// Row `i` as a bitmap; an error when `i >= len()`.
    pub fn get(&self, i: usize) -> Result<&Bitmap> {
        self.row(i).ok_or_else(|| {
            Error::Invalid(format!(
                "{}: row {i} out of range ({} rows)",
                self.path.display(),
                self.len()
            ))
        })
    }

    /// Row `i`, or `None` when `i >= len()`.
    pub fn row(&self, i: usize) -> Option<&Bitmap> {
        if i >= self.header.rows {
            return None;
        }
        // Cannot overflow given the data length validated at open; checked anyway, it costs nothing.
        let start = i
            .checked_mul(IMAGE_PIXELS)?
            .checked_add(self.header.data_offset)?;
        self.map
            .get(start..start.checked_add(IMAGE_PIXELS)?)?
            .try_into()
            .ok()
    }

    /// All pixel data, `len() × 784` bytes, row-major.
    pub fn data(&self) -> &[u8] {
        self.map.get(self.header.data_offset..).unwrap_or(&[])
    }
}

/// The data after the header must be exactly `rows × 784` bytes: shorter is truncation, longer is a
/// header that disagrees with the file (both would otherwise silently drop or invent samples).
fn check_data_len(path: &Path, header: &NpyHeader, file_len: usize) -> Result<()> {
    let expected = header.data_len().ok_or_else(|| {
        Error::format(
            path,
            "header",
            format!("shape {:?} overflows", header.shape),
        )
    })?;
    let actual = file_len.saturating_sub(header.data_offset);
    if actual != expected {
        let kind = if actual < expected {
            "truncated"
        } else {
            "trailing data"
        };
        return Err(Error::format(
            path,
            format!("data (byte {})", header.data_offset),
            format!(
                "{kind}: shape {:?} needs {expected} bytes of uint8 data, the file has {actual}",
                header.shape
            ),
        ));
    }
    Ok(())
}

/// Streams exactly `rows` bitmaps into a new `.npy` file (version 1.0, data at byte 128 for small N);
/// nothing appears at the target until [`NpyWriter::finish`] succeeds.
pub struct NpyWriter {
    out: AtomicFile,
    path: PathBuf,
    expected: usize,
    written: usize,
}

impl NpyWriter {
    /// Starts writing `rows` bitmaps to `path`.
    pub fn create(path: impl AsRef<Path>, rows: usize) -> Result<NpyWriter> {
        let path = path.as_ref();
        let mut out = AtomicFile::create(path)?;
        out.write_all(&encode_header(rows))?;
        Ok(NpyWriter {
            out,
            path: path.to_path_buf(),
            expected: rows,
            written: 0,
        })
    }

    /// Appends one bitmap; an error past the row count given to `create`.
    pub fn push(&mut self, row: &Bitmap) -> Result<()> {
        if self.written >= self.expected {
            return Err(Error::Invalid(format!(
                "{}: more than the {} rows declared",
                self.path.display(),
                self.expected
            )));
        }
        self.out.write_all(row)?;
        self.written += 1;
        Ok(())
    }

    /// Publishes the file; an error (and no file) when fewer rows than declared were pushed.
    pub fn finish(self) -> Result<()> {
        if self.written != self.expected {
            return Err(Error::Invalid(format!(
                "{}: {} rows written, {} declared",
                self.path.display(),
                self.written,
                self.expected
            )));
        }
        self.out.commit()
    }
}

/// Writes `rows` to `path` as a `(N, 784)` uint8 `.npy`, atomically.
pub fn write_npy(path: impl AsRef<Path>, rows: &[Bitmap]) -> Result<()> {
    let mut w = NpyWriter::create(path, rows.len())?;
    for row in rows {
        w.push(row)?;
    }
    w.finish()
}
