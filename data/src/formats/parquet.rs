//! Parquet class files, the converted layout of the reference PyTorch project: one `<class>.parquet`
//! per class, one row per drawing, with the 28×28 uint8 image in a binary column and the class in an
//! integer `label` and/or a UTF-8 `word` column.
//!
//! Read with the parquet crate's low-level column readers (no arrow, to keep compile time down). The
//! image column may be FIXED_LEN_BYTE_ARRAY(784) (what [`write_parquet`] writes) or BYTE_ARRAY (what
//! pyarrow writes for a `bytes` column); either way every value must be exactly 784 bytes. Columns
//! may be required or optional (pandas writes optional ones), but a null value is an error.

#[path = "parquet_dataset.rs"]
mod dataset;
#[cfg(test)]
#[path = "parquet_tests.rs"]
mod tests;
#[path = "parquet_write.rs"]
mod write;

use std::fs::File;
use std::path::{Path, PathBuf};

use parquet::basic::{ConvertedType, Type as PhysicalType};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::DataType;
use parquet::errors::ParquetError;
use parquet::file::reader::{FileReader, RowGroupReader};
use parquet::file::serialized_reader::SerializedFileReader;
use parquet::schema::types::ColumnDescriptor;

use crate::error::{Error, Result};
use crate::types::{Bitmap, IMAGE_PIXELS};

pub use dataset::ParquetDataset;
pub use write::{write_parquet, write_parquet_with};

/// Records decoded per `read_records` call: bounds the temporary buffers, not the file size.
const BATCH: usize = 4096;

/// The column names a Parquet class file is read and written with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParquetColumns {
    /// The image column (784 bytes per row); default `"image"`.
    pub image: String,
    /// The integer class index column (INT32 or INT64, 0..=u32::MAX); default `"label"`.
    pub label: String,
    /// The class name column (UTF-8 BYTE_ARRAY); default `"word"`.
    pub word: String,
}

impl Default for ParquetColumns {
    fn default() -> Self {
        ParquetColumns {
            image: "image".into(),
            label: "label".into(),
            word: "word".into(),
        }
    }
}

/// The rows of one Parquet class file, decoded into memory (Parquet pages are compressed, so
/// unlike `.npy` there is nothing to map).
#[derive(Debug)]
pub struct ParquetBitmaps {
    path: PathBuf,
    /// `len × 784` bytes, row-major.
    pixels: Vec<u8>,
    /// The file's `label` value when it has the column (the same in every row).
    label: Option<u32>,
    /// The file's `word` value when it has the column (the same in every row).
    word: Option<String>,
}

impl ParquetBitmaps {
    /// Reads every row of `path` with the default column names; see [`ParquetBitmaps::open_with`].
    pub fn open(path: impl AsRef<Path>) -> Result<ParquetBitmaps> {
        Self::open_with(path, &ParquetColumns::default(), None)
    }

    /// Reads the leading `max_rows` rows of `path` (all when `None`), validating that every image is
    /// exactly 784 non-null bytes and that `label`/`word`, where present, hold one value for the whole
    /// file (a file is one class). At least one of the two must be present.
    pub fn open_with(
        path: impl AsRef<Path>,
        columns: &ParquetColumns,
        max_rows: Option<usize>,
    ) -> Result<ParquetBitmaps> {
        let path = path.as_ref();
        // The decoder is not audited against hostile files; a panic inside it becomes an error
        // naming the file rather than taking the process down.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            read_file(path, columns, max_rows)
        }))
        .unwrap_or_else(|panic| {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown cause");
            Err(Error::format(
                path,
                "file",
                format!("corrupt Parquet file (decoder failed: {why})"),
            ))
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.pixels.len() / IMAGE_PIXELS
    }

    /// Whether the file has no rows.
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    /// The file's `label` value, when it has that column and at least one row.
    pub fn label(&self) -> Option<u32> {
        self.label
    }

    /// The file's `word` value, when it has that column and at least one row.
    pub fn word(&self) -> Option<&str> {
        self.word.as_deref()
    }

    /// Row `i`, or an error naming the file when `i` is out of range.
    pub fn get(&self, i: usize) -> Result<&Bitmap> {
        i.checked_mul(IMAGE_PIXELS)
            .and_then(|start| self.pixels.get(start..start.checked_add(IMAGE_PIXELS)?))
            .and_then(|row| row.try_into().ok())
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{}: row {i} out of range ({} rows)",
                    self.path.display(),
                    self.len()
                ))
            })
    }
}

/// Where a column sits in the file and what it is.
struct Found {
    index: usize,
    descr: std::sync::Arc<ColumnDescriptor>,
}

fn find_column(reader: &SerializedFileReader<File>, name: &str) -> Option<Found> {
    let schema = reader.metadata().file_metadata().schema_descr();
    (0..schema.num_columns())
        .map(|index| (index, schema.column(index)))
        .find(|(_, d)| d.path().parts().len() == 1 && d.name() == name)
        .map(|(index, descr)| Found { index, descr })
}

fn read_file(
    path: &Path,
    columns: &ParquetColumns,
    max_rows: Option<usize>,
) -> Result<ParquetBitmaps> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = SerializedFileReader::new(file)
        .map_err(|e| Error::format(path, "footer", format!("not a readable Parquet file: {e}")))?;
    let all_names = || {
        let schema = reader.metadata().file_metadata().schema_descr();
        (0..schema.num_columns())
            .map(|i| schema.column(i).path().string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let image = find_column(&reader, &columns.image).ok_or_else(|| {
        Error::format(
            path,
            "schema",
            format!(
                "no image column {:?} (columns: {})",
                columns.image,
                all_names()
            ),
        )
    })?;
    check_flat(path, &image.descr)?;
    match (image.descr.physical_type(), image.descr.type_length()) {
        (PhysicalType::BYTE_ARRAY, _) => {}
        (PhysicalType::FIXED_LEN_BYTE_ARRAY, len) if usize::try_from(len) == Ok(IMAGE_PIXELS) => {}
        (t, len) => {
            let shown = if t == PhysicalType::FIXED_LEN_BYTE_ARRAY {
                format!("FIXED_LEN_BYTE_ARRAY({len})")
            } else {
                t.to_string()
            };
            return Err(Error::format(
                path,
                format!("column {:?}", columns.image),
                format!("is {shown}; expected FIXED_LEN_BYTE_ARRAY({IMAGE_PIXELS}) or BYTE_ARRAY"),
            ));
        }
    }
    let label = find_column(&reader, &columns.label);
    if let Some(l) = &label {
        check_flat(path, &l.descr)?;
        if !matches!(
            l.descr.physical_type(),
            PhysicalType::INT32 | PhysicalType::INT64
        ) {
            return Err(Error::format(
                path,
                format!("column {:?}", columns.label),
                format!("is {}; expected INT32 or INT64", l.descr.physical_type()),
            ));
        }
    }
    let word = find_column(&reader, &columns.word);
    if let Some(w) = &word {
        check_flat(path, &w.descr)?;
        if w.descr.physical_type() != PhysicalType::BYTE_ARRAY {
            return Err(Error::format(
                path,
                format!("column {:?}", columns.word),
                format!(
                    "is {}; expected BYTE_ARRAY (UTF-8)",
                    w.descr.physical_type()
                ),
            ));
        }
    }
    if label.is_none() && word.is_none() {
        return Err(Error::format(
            path,
            "schema",
            format!(
                "neither a {:?} nor a {:?} column (columns: {})",
                columns.label,
                columns.word,
                all_names()
            ),
        ));
    }

    let total = usize::try_from(reader.metadata().file_metadata().num_rows())
        .map_err(|_| Error::format(path, "footer", "negative row count"))?;
    let in_groups = reader
        .metadata()
        .row_groups()
        .iter()
        .try_fold(0usize, |sum, g| {
            usize::try_from(g.num_rows())
                .ok()
                .and_then(|n| sum.checked_add(n))
        });
    if in_groups != Some(total) {
        return Err(Error::format(
            path,
            "footer",
            format!("row groups do not add up to the file's {total} rows"),
        ));
    }
    let wanted = max_rows.map_or(total, |m| m.min(total));
    let bytes = wanted
        .checked_mul(IMAGE_PIXELS)
        .ok_or_else(|| Error::format(path, "footer", format!("{total} rows overflow memory")))?;
    // The row count is the file's claim: reserve no more than the file could plausibly decode to
    // (doodles compress well under 8×), and let a larger honest file grow the buffer.
    let file_len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    let plausible = usize::try_from(file_len.saturating_mul(8)).unwrap_or(usize::MAX);
    let mut out = ParquetBitmaps {
        path: path.to_path_buf(),
        pixels: Vec::with_capacity(bytes.min(plausible)),
        label: None,
        word: None,
    };
    let mut first_row = 0usize;
    for g in 0..reader.num_row_groups() {
        if first_row >= wanted {
            break;
        }
        let group = reader
            .get_row_group(g)
            .map_err(|e| pq_err(path, format!("row group {g}"), e))?;
        let group_rows = usize::try_from(group.metadata().num_rows())
            .map_err(|_| Error::format(path, format!("row group {g}"), "negative row count"))?;
        let rows = group_rows.min(wanted - first_row);
        let at = Place {
            path,
            group: g,
            first_row,
        };
        read_images(&at, &*group, &image, rows, &mut out.pixels)?;
        if let Some(l) = &label {
            read_labels(&at, &*group, l, rows, &mut out.label)?;
        }
        if let Some(w) = &word {
            read_words(&at, &*group, w, rows, &mut out.word)?;
        }
        first_row = first_row
            .checked_add(rows)
            .ok_or_else(|| Error::format(path, "footer", "row count overflows"))?;
    }
    if first_row != wanted {
        return Err(Error::format(
            path,
            "footer",
            format!("row groups hold {first_row} rows but the footer says {total}"),
        ));
    }
    Ok(out)
}

/// Rejects nested and repeated columns: every column of the layout is a top-level scalar.
fn check_flat(path: &Path, d: &ColumnDescriptor) -> Result<()> {
    if d.max_rep_level() != 0 || d.path().parts().len() != 1 {
        return Err(Error::format(
            path,
            format!("column {:?}", d.path().string()),
            "is nested or repeated; expected a top-level scalar column",
        ));
    }
    Ok(())
}

/// A row group being read, for error messages.
struct Place<'a> {
    path: &'a Path,
    group: usize,
    /// File row index of the group's first row.
    first_row: usize,
}

impl Place<'_> {
    /// "row group G, row R (file row F)" for row `r` of the group.
    fn row(&self, r: usize) -> String {
        format!(
            "row group {}, row {r} (file row {})",
            self.group,
            self.first_row.saturating_add(r)
        )
    }

    fn column(&self, name: &str) -> String {
        format!("row group {}, column {name:?}", self.group)
    }
}

fn pq_err(path: &Path, at: String, e: ParquetError) -> Error {
    // Only snappy is compiled in (compile time); say so rather than calling a zstd file corrupt.
    let hint = if e.to_string().contains("Disabled feature") {
        " (this build reads uncompressed and snappy Parquet only; rewrite with compression='snappy')"
    } else {
        ""
    };
    Error::format(path, at, format!("cannot decode Parquet data: {e}{hint}"))
}

/// Reads `rows` records of a flat column, calling `each(row, value)` for every one; a null or a
/// missing record is an error naming the row.
fn read_column<T: DataType>(
    at: &Place,
    name: &str,
    mut reader: ColumnReaderImpl<T>,
    max_def: i16,
    rows: usize,
    mut each: impl FnMut(usize, &T::T) -> Result<()>,
) -> Result<()> {
    let mut values = Vec::with_capacity(BATCH.min(rows));
    let mut defs = Vec::with_capacity(BATCH.min(rows));
    let mut done = 0usize;
    while done < rows {
        values.clear();
        defs.clear();
        let want = BATCH.min(rows - done);
        let (records, n_values, _) = reader
            .read_records(want, Some(&mut defs), None, &mut values)
            .map_err(|e| pq_err(at.path, at.column(name), e))?;
        if records == 0 {
            return Err(Error::format(
                at.path,
                at.row(done),
                format!("column {name:?} ends early: {done} of {rows} rows"),
            ));
        }
        if n_values != records || values.len() != records {
            // Some records are null: find the first for the message.
            let null = defs.iter().position(|&d| d < max_def).unwrap_or(0);
            return Err(Error::format(
                at.path,
                at.row(done.saturating_add(null)),
                format!("column {name:?} is null"),
            ));
        }
        for (k, v) in values.iter().enumerate() {
            each(done + k, v)?;
        }
        done += records;
    }
    Ok(())
}

fn column_reader(at: &Place, group: &dyn RowGroupReader, c: &Found) -> Result<ColumnReader> {
    group
        .get_column_reader(c.index)
        .map_err(|e| pq_err(at.path, at.column(c.descr.name()), e))
}

fn read_images(
    at: &Place,
    group: &dyn RowGroupReader,
    c: &Found,
    rows: usize,
    pixels: &mut Vec<u8>,
) -> Result<()> {
    let name = c.descr.name();
    let max_def = c.descr.max_def_level();
    let mut push = |r: usize, bytes: &[u8]| {
        if bytes.len() != IMAGE_PIXELS {
            return Err(Error::format(
                at.path,
                at.row(r),
                format!(
                    "image in column {name:?} is {} bytes; expected {IMAGE_PIXELS} (28×28 uint8)",
                    bytes.len()
                ),
            ));
        }
        pixels.extend_from_slice(bytes);
        Ok(())
    };
    match column_reader(at, group, c)? {
        ColumnReader::FixedLenByteArrayColumnReader(r) => {
            read_column(at, name, r, max_def, rows, |i, v| push(i, v.data()))
        }
        ColumnReader::ByteArrayColumnReader(r) => {
            read_column(at, name, r, max_def, rows, |i, v| push(i, v.data()))
        }
        _ => Err(Error::format(
            at.path,
            at.column(name),
            "not a binary column",
        )),
    }
}

/// Checks that `value` equals the file's value so far (the first row sets it).
fn same_in_every_row<V: PartialEq + std::fmt::Debug + Clone>(
    at: &Place,
    name: &str,
    r: usize,
    seen: &mut Option<V>,
    value: V,
) -> Result<()> {
    match seen {
        None => *seen = Some(value),
        Some(first) if *first == value => {}
        Some(first) => {
            return Err(Error::format(
                at.path,
                at.row(r),
                format!(
                    "column {name:?} is {value:?} but earlier rows have {first:?}; \
                     a class file holds one class"
                ),
            ))
        }
    }
    Ok(())
}

fn read_labels(
    at: &Place,
    group: &dyn RowGroupReader,
    c: &Found,
    rows: usize,
    seen: &mut Option<u32>,
) -> Result<()> {
    let name = c.descr.name();
    let max_def = c.descr.max_def_level();
    let unsigned = c.descr.converted_type() == ConvertedType::UINT_32;
    let mut check = |r: usize, v: i64| {
        let label = u32::try_from(v).map_err(|_| {
            Error::format(
                at.path,
                at.row(r),
                format!("label {v} in column {name:?} is not in 0..=4294967295"),
            )
        })?;
        same_in_every_row(at, name, r, seen, label)
    };
    match column_reader(at, group, c)? {
        // pyarrow stores uint32 as INT32 annotated unsigned: reinterpret the bits, do not sign-extend.
        ColumnReader::Int32ColumnReader(r) if unsigned => {
            read_column(at, name, r, max_def, rows, |i, &v| {
                check(i, i64::from(u32::from_ne_bytes(v.to_ne_bytes())))
            })
        }
        ColumnReader::Int32ColumnReader(r) => {
            read_column(at, name, r, max_def, rows, |i, &v| check(i, i64::from(v)))
        }
        ColumnReader::Int64ColumnReader(r) => {
            read_column(at, name, r, max_def, rows, |i, &v| check(i, v))
        }
        _ => Err(Error::format(
            at.path,
            at.column(name),
            "not an integer column",
        )),
    }
}

fn read_words(
    at: &Place,
    group: &dyn RowGroupReader,
    c: &Found,
    rows: usize,
    seen: &mut Option<String>,
) -> Result<()> {
    let name = c.descr.name();
    let max_def = c.descr.max_def_level();
    match column_reader(at, group, c)? {
        ColumnReader::ByteArrayColumnReader(r) => {
            read_column(at, name, r, max_def, rows, |i, v| {
                let word = std::str::from_utf8(v.data()).map_err(|_| {
                    Error::format(at.path, at.row(i), format!("column {name:?} is not UTF-8"))
                })?;
                match seen {
                    // Compare before allocating: the word repeats in every row.
                    Some(first) if first == word => Ok(()),
                    _ => same_in_every_row(at, name, i, seen, word.to_string()),
                }
            })
        }
        _ => Err(Error::format(
            at.path,
            at.column(name),
            "not a BYTE_ARRAY column",
        )),
    }
}
