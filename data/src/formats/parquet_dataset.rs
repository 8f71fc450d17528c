//! A directory of Parquet class files, one `<class>.parquet` per class, as one labelled
//! [`BitmapSource`] (the Parquet twin of `NpyDataset`).

use std::path::{Path, PathBuf};

use super::{ParquetBitmaps, ParquetColumns};
use crate::error::{Error, Result};
use crate::types::{Bitmap, BitmapSource};

/// Classes in name order (label = index), samples concatenated class by class, each class file
/// decoded into memory. Only the selected classes' files are opened.
#[derive(Debug)]
pub struct ParquetDataset {
    dir: PathBuf,
    names: Vec<String>,
    files: Vec<ParquetBitmaps>,
    /// `starts[c]` = index of class `c`'s first sample; one more entry holding the total.
    starts: Vec<usize>,
}

impl ParquetDataset {
    /// Opens `<dir>/<class>.parquet` for every class (`None`: every `.parquet` in `dir`); labels
    /// follow the class names sorted by name, whatever order `classes` lists them in.
    pub fn open_dir(dir: impl AsRef<Path>, classes: Option<&[String]>) -> Result<ParquetDataset> {
        Self::open_dir_with(dir, classes, None, &ParquetColumns::default())
    }

    /// Like [`ParquetDataset::open_dir`], reading at most `per_class` leading rows of each file
    /// (fewer when a file has fewer; see [`ParquetDataset::class_counts`]) with the given columns.
    pub fn open_dir_with(
        dir: impl AsRef<Path>,
        classes: Option<&[String]>,
        per_class: Option<usize>,
        columns: &ParquetColumns,
    ) -> Result<ParquetDataset> {
        let dir = dir.as_ref();
        let available = list_classes(dir)?;
        if available.is_empty() {
            return Err(Error::format(dir, "directory", "no .parquet files in it"));
        }
        let mut names = match classes {
            None => available,
            Some([]) => return Err(Error::Invalid("empty class list".into())),
            Some(wanted) => {
                for name in wanted {
                    if !available.contains(name) {
                        return Err(Error::UnknownClass {
                            name: name.clone(),
                            hint: crate::names::closest(name, &available),
                        });
                    }
                }
                wanted.to_vec()
            }
        };
        names.sort();
        if let Some(dup) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::Invalid(format!("class {:?} listed twice", dup[0])));
        }
        let files = names
            .iter()
            .map(|n| {
                ParquetBitmaps::open_with(dir.join(format!("{n}.parquet")), columns, per_class)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut starts = Vec::with_capacity(files.len() + 1);
        let mut total = 0usize;
        for f in &files {
            starts.push(total);
            total = total
                .checked_add(f.len())
                .ok_or_else(|| Error::Invalid("dataset size overflows".into()))?;
        }
        starts.push(total);
        Ok(ParquetDataset {
            dir: dir.to_path_buf(),
            names,
            files,
            starts,
        })
    }

    /// The directory this was opened from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Samples taken from each class, in label order.
    pub fn class_counts(&self) -> Vec<usize> {
        self.files.iter().map(ParquetBitmaps::len).collect()
    }

    /// The class files, in label order (their stored `word`/`label` values are informational:
    /// labels here follow the sorted file names).
    pub fn files(&self) -> &[ParquetBitmaps] {
        &self.files
    }

    /// (class, row within its file) of sample `i`, or `None` out of range.
    fn locate(&self, i: usize) -> Option<(usize, usize)> {
        if i >= self.len() {
            return None;
        }
        // First class whose start is past i, minus one: the class holding i (empty classes skipped).
        let class = self.starts.partition_point(|&s| s <= i).checked_sub(1)?;
        Some((class, i - self.starts.get(class)?))
    }

    fn out_of_range(&self, i: usize) -> Error {
        Error::Invalid(format!(
            "{}: sample {i} out of range ({} samples)",
            self.dir.display(),
            self.len()
        ))
    }
}

impl BitmapSource for ParquetDataset {
    fn len(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    fn class_names(&self) -> &[String] {
        &self.names
    }

    fn label(&self, i: usize) -> Result<u32> {
        let (class, _) = self.locate(i).ok_or_else(|| self.out_of_range(i))?;
        u32::try_from(class).map_err(|_| Error::Invalid("more than u32::MAX classes".into()))
    }

    fn read(&self, i: usize, out: &mut Bitmap) -> Result<u32> {
        let (class, row) = self.locate(i).ok_or_else(|| self.out_of_range(i))?;
        let file = self.files.get(class).ok_or_else(|| self.out_of_range(i))?;
        out.copy_from_slice(file.get(row)?);
        u32::try_from(class).map_err(|_| Error::Invalid("more than u32::MAX classes".into()))
    }
}

/// Class names of the `*.parquet` files in `dir`, sorted; only names are listed, nothing is opened.
fn list_classes(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.extension().is_some_and(|e| e == "parquet") && path.is_file() {
            let stem = path.file_stem().and_then(|s| s.to_str()).ok_or_else(|| {
                Error::format(&path, "file name", "class name is not valid UTF-8")
            })?;
            names.push(stem.to_string());
        }
    }
    names.sort();
    Ok(names)
}
