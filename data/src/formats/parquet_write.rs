//! Writing one Parquet class file: required `image` FIXED_LEN_BYTE_ARRAY(784), `label` INT64 and
//! `word` UTF-8 columns, snappy-compressed like pandas' default, published atomically.

use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Compression, LogicalType, Repetition, Type as PhysicalType};
use parquet::data_type::{
    ByteArray, ByteArrayType, FixedLenByteArray, FixedLenByteArrayType, Int64Type,
};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnPath, Type};

use super::ParquetColumns;
use crate::atomic::AtomicFile;
use crate::error::{Error, Result};
use crate::types::{Bitmap, IMAGE_PIXELS};

/// Rows per row group: ~50 MB of pixels, so a reader's working set stays bounded while a whole
/// Quick, Draw! class (≈ 100–300k rows) needs only a few groups.
const ROWS_PER_GROUP: usize = 65_536;

/// Writes `rows` as `path` with the default column names, `word` and `label` in every row.
pub fn write_parquet(
    path: impl AsRef<Path>,
    word: &str,
    label: u32,
    rows: &[Bitmap],
) -> Result<()> {
    write_parquet_with(
        path,
        &ParquetColumns::default(),
        word,
        label,
        rows,
        ROWS_PER_GROUP,
    )
}

/// Like [`write_parquet`] with chosen column names and rows per row group (≥ 1).
pub fn write_parquet_with(
    path: impl AsRef<Path>,
    columns: &ParquetColumns,
    word: &str,
    label: u32,
    rows: &[Bitmap],
    rows_per_group: usize,
) -> Result<()> {
    let path = path.as_ref();
    if rows_per_group == 0 {
        return Err(Error::Invalid(
            "rows per row group must be at least 1".into(),
        ));
    }
    let distinct = [&columns.image, &columns.label, &columns.word];
    if distinct.iter().any(|n| n.is_empty())
        || columns.image == columns.label
        || columns.image == columns.word
        || columns.label == columns.word
    {
        return Err(Error::Invalid(format!(
            "Parquet column names must be distinct and non-empty: {columns:?}"
        )));
    }
    let bytes = encode(columns, word, label, rows, rows_per_group)
        .map_err(|e| Error::Invalid(format!("{}: encoding Parquet: {e}", path.display())))?;
    // The whole file is built in memory (the rows already are), so the atomic writer needs no
    // `Write + Send` adapter: one write, sync, rename.
    let mut file = AtomicFile::create(path)?;
    file.write_all(&bytes)?;
    file.commit()
}

fn encode(
    columns: &ParquetColumns,
    word: &str,
    label: u32,
    rows: &[Bitmap],
    rows_per_group: usize,
) -> parquet::errors::Result<Vec<u8>> {
    let image_len = i32::try_from(IMAGE_PIXELS)
        .map_err(|e| parquet::errors::ParquetError::General(e.to_string()))?;
    let fields = vec![
        Arc::new(
            Type::primitive_type_builder(&columns.image, PhysicalType::FIXED_LEN_BYTE_ARRAY)
                .with_repetition(Repetition::REQUIRED)
                .with_length(image_len)
                .build()?,
        ),
        Arc::new(
            Type::primitive_type_builder(&columns.label, PhysicalType::INT64)
                .with_repetition(Repetition::REQUIRED)
                .build()?,
        ),
        Arc::new(
            Type::primitive_type_builder(&columns.word, PhysicalType::BYTE_ARRAY)
                .with_repetition(Repetition::REQUIRED)
                .with_logical_type(Some(LogicalType::String))
                .build()?,
        ),
    ];
    let schema = Arc::new(
        Type::group_type_builder("schema")
            .with_fields(fields)
            .build()?,
    );
    let image_path = ColumnPath::from(columns.image.as_str());
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(rows_per_group))
        // Pixels never repeat whole rows often enough for a dictionary, and min/max of a 784-byte
        // blob says nothing; the word and label columns are constant and dictionary-encode to ~nothing.
        .set_column_dictionary_enabled(image_path.clone(), false)
        .set_column_statistics_enabled(image_path, EnabledStatistics::None)
        .build();
    let mut writer = SerializedFileWriter::new(Vec::new(), schema, Arc::new(props))?;
    let label = i64::from(label);
    for chunk in rows.chunks(rows_per_group) {
        let mut group = writer.next_row_group()?;
        let mut n = 0;
        while let Some(mut col) = group.next_column()? {
            match n {
                0 => {
                    let values: Vec<FixedLenByteArray> = chunk
                        .iter()
                        .map(|r| FixedLenByteArray::from(r.to_vec()))
                        .collect();
                    col.typed::<FixedLenByteArrayType>()
                        .write_batch(&values, None, None)?;
                }
                1 => {
                    col.typed::<Int64Type>()
                        .write_batch(&vec![label; chunk.len()], None, None)?;
                }
                _ => {
                    let values = vec![ByteArray::from(word.as_bytes().to_vec()); chunk.len()];
                    col.typed::<ByteArrayType>()
                        .write_batch(&values, None, None)?;
                }
            }
            col.close()?;
            n += 1;
        }
        group.close()?;
    }
    writer.into_inner()
}
