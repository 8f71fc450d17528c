//! A directory of numpy_bitmap files, one `<class>.npy` per class, as one labelled [`BitmapSource`].

use std::path::{Path, PathBuf};

use super::NpyBitmaps;
use crate::error::{Error, Result};
use crate::types::{Bitmap, BitmapSource};

/// Classes in name order (label = index), samples concatenated class by class, each class
/// memory-mapped.
#[derive(Debug)]
pub struct NpyDataset {
    dir: PathBuf,
    names: Vec<String>,
    files: Vec<NpyBitmaps>,
    /// Rows taken from each file (all of them, or the cap).
    counts: Vec<usize>,
    /// `starts[c]` = index of class `c`'s first sample; one more entry holding the total.
    starts: Vec<usize>,
}

impl NpyDataset {
    /// Opens `<dir>/<class>.npy` for every class (`None`: every `.npy` in `dir`); labels follow the
    /// class names sorted by name, whatever order `classes` lists them in.
    pub fn open_dir(dir: impl AsRef<Path>, classes: Option<&[String]>) -> Result<NpyDataset> {
        Self::open_dir_capped(dir, classes, None)
    }

    /// Like [`NpyDataset::open_dir`], taking at most `per_class` leading rows from each file (fewer
    /// when a file has fewer; see [`NpyDataset::class_counts`]).
    pub fn open_dir_capped(
        dir: impl AsRef<Path>,
        classes: Option<&[String]>,
        per_class: Option<usize>,
    ) -> Result<NpyDataset> {
        let dir = dir.as_ref();
        let available = list_classes(dir)?;
        if available.is_empty() {
            return Err(Error::format(dir, "directory", "no .npy files in it"));
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
            .map(|n| NpyBitmaps::open(dir.join(format!("{n}.npy"))))
            .collect::<Result<Vec<_>>>()?;
        let counts: Vec<usize> = files
            .iter()
            .map(|f| per_class.map_or(f.len(), |cap| cap.min(f.len())))
            .collect();
        let mut starts = Vec::with_capacity(counts.len() + 1);
        let mut total = 0usize;
        for &c in &counts {
            starts.push(total);
            total = total
                .checked_add(c)
                .ok_or_else(|| Error::Invalid("dataset size overflows".into()))?;
        }
        starts.push(total);
        Ok(NpyDataset {
            dir: dir.to_path_buf(),
            names,
            files,
            counts,
            starts,
        })
    }

    /// The directory this was opened from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Samples taken from each class, in label order.
    pub fn class_counts(&self) -> &[usize] {
        &self.counts
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

impl BitmapSource for NpyDataset {
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

/// Class names of the `*.npy` files in `dir`, sorted.
fn list_classes(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.extension().is_some_and(|e| e == "npy") && path.is_file() {
            let stem = path.file_stem().and_then(|s| s.to_str()).ok_or_else(|| {
                Error::format(&path, "file name", "class name is not valid UTF-8")
            })?;
            names.push(stem.to_string());
        }
    }
    names.sort();
    Ok(names)
}
