//! A directory with one file per class (`<class>.<ext>`) seen as one labelled [`BitmapSource`]: the part
//! the `.npy` and Parquet datasets share (class listing and selection, labels, sample lookup).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::types::{Bitmap, BitmapSource};

/// A class file that hands out its rows by index.
pub trait ClassFile: Send + Sync {
    /// Row `i`, or an error naming the file when it is out of range or bad.
    fn row(&self, i: usize) -> Result<&Bitmap>;
}

/// Classes in name order (label = index), samples concatenated class by class. Only the selected
/// classes' files are opened.
#[derive(Debug)]
pub struct ClassDir<F> {
    dir: PathBuf,
    names: Vec<String>,
    files: Vec<F>,
    /// Rows taken from each file (all of them, or a cap).
    counts: Vec<usize>,
    /// `starts[c]` = index of class `c`'s first sample; one more entry holding the total.
    starts: Vec<usize>,
}

impl<F: ClassFile> ClassDir<F> {
    /// Opens `<dir>/<class>.<ext>` for every selected class (`None`: every `.<ext>` file) through
    /// `open`, which returns the file and how many of its rows to use. Labels follow the sorted class
    /// names, whatever order `classes` lists them in; an unknown class is an error with a hint.
    pub(crate) fn open(
        dir: &Path,
        ext: &str,
        classes: Option<&[String]>,
        open: impl Fn(&Path) -> Result<(F, usize)>,
    ) -> Result<ClassDir<F>> {
        let available = list_classes(dir, ext)?;
        if available.is_empty() {
            return Err(Error::format(
                dir,
                "directory",
                format!("no .{ext} files in it"),
            ));
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
        let (files, counts): (Vec<F>, Vec<usize>) = names
            .iter()
            .map(|n| open(&dir.join(format!("{n}.{ext}"))))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .unzip();
        let mut starts = Vec::with_capacity(counts.len() + 1);
        let mut total = 0usize;
        for &c in &counts {
            starts.push(total);
            total = total
                .checked_add(c)
                .ok_or_else(|| Error::Invalid("dataset size overflows".into()))?;
        }
        starts.push(total);
        Ok(ClassDir {
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

    /// The class files, in label order.
    pub fn files(&self) -> &[F] {
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

impl<F: ClassFile> BitmapSource for ClassDir<F> {
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
        out.copy_from_slice(file.row(row)?);
        u32::try_from(class).map_err(|_| Error::Invalid("more than u32::MAX classes".into()))
    }
}

/// Class names of the `*.<ext>` files in `dir`, sorted; nothing is opened.
fn list_classes(dir: &Path, ext: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.extension().is_some_and(|e| e == ext) && path.is_file() {
            let stem = path.file_stem().and_then(|s| s.to_str()).ok_or_else(|| {
                Error::format(&path, "file name", "class name is not valid UTF-8")
            })?;
            names.push(stem.to_string());
        }
    }
    names.sort();
    Ok(names)
}
