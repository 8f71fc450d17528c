//! A directory of Parquet class files, one `<class>.parquet` per class, as one labelled
//! [`crate::BitmapSource`] (the Parquet twin of `NpyDataset`); each class file is decoded into memory.

use std::path::Path;

use super::{ParquetBitmaps, ParquetColumns};
use crate::error::Result;
use crate::formats::class_dir::{ClassDir, ClassFile};
use crate::types::Bitmap;

/// Classes in name order (label = index), samples concatenated class by class. Only the selected
/// classes' files are opened.
pub type ParquetDataset = ClassDir<ParquetBitmaps>;

impl ClassFile for ParquetBitmaps {
    fn row(&self, i: usize) -> Result<&Bitmap> {
        self.get(i)
    }
}

impl ClassDir<ParquetBitmaps> {
    /// Opens `<dir>/<class>.parquet` for every class (`None`: every `.parquet` in `dir`); labels
    /// follow the class names sorted by name, whatever order `classes` lists them in.
    pub fn open_dir(dir: impl AsRef<Path>, classes: Option<&[String]>) -> Result<ParquetDataset> {
        Self::open_dir_with(dir, classes, None, &ParquetColumns::default())
    }

    /// Like [`ParquetDataset::open_dir`], reading at most `per_class` leading rows of each file
    /// (fewer when a file has fewer; see [`ClassDir::class_counts`]) with the given columns. The
    /// stored `word`/`label` values are informational: labels follow the sorted file names.
    pub fn open_dir_with(
        dir: impl AsRef<Path>,
        classes: Option<&[String]>,
        per_class: Option<usize>,
        columns: &ParquetColumns,
    ) -> Result<ParquetDataset> {
        ClassDir::open(dir.as_ref(), "parquet", classes, |path| {
            let file = ParquetBitmaps::open_with(path, columns, per_class)?;
            let rows = file.len();
            Ok((file, rows))
        })
    }
}
