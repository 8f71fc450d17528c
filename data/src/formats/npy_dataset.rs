//! A directory of numpy_bitmap files, one `<class>.npy` per class, as one labelled
//! [`crate::BitmapSource`]; each class is memory-mapped.

use std::path::Path;

use super::NpyBitmaps;
use crate::error::Result;
use crate::formats::class_dir::{ClassDir, ClassFile};
use crate::types::Bitmap;

/// Classes in name order (label = index), samples concatenated class by class.
pub type NpyDataset = ClassDir<NpyBitmaps>;

impl ClassFile for NpyBitmaps {
    fn row(&self, i: usize) -> Result<&Bitmap> {
        self.get(i)
    }
}

impl ClassDir<NpyBitmaps> {
    /// Opens `<dir>/<class>.npy` for every class (`None`: every `.npy` in `dir`); labels follow the
    /// class names sorted by name, whatever order `classes` lists them in.
    pub fn open_dir(dir: impl AsRef<Path>, classes: Option<&[String]>) -> Result<NpyDataset> {
        Self::open_dir_capped(dir, classes, None)
    }

    /// Like [`NpyDataset::open_dir`], taking at most `per_class` leading rows from each file (fewer
    /// when a file has fewer; see [`ClassDir::class_counts`]).
    pub fn open_dir_capped(
        dir: impl AsRef<Path>,
        classes: Option<&[String]>,
        per_class: Option<usize>,
    ) -> Result<NpyDataset> {
        ClassDir::open(dir.as_ref(), "npy", classes, |path| {
            let file = NpyBitmaps::open(path)?;
            let rows = per_class.map_or(file.len(), |cap| cap.min(file.len()));
            Ok((file, rows))
        })
    }
}
