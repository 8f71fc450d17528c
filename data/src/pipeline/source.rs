//! Sources the pipeline builds on: an in-memory set, a [`Subset`] view, and the per-class cap.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::types::{Bitmap, BitmapSource};

/// A shared reference to a source is a source (so views and loaders can borrow or share one).
impl<T: BitmapSource + ?Sized> BitmapSource for &T {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn class_names(&self) -> &[String] {
        (**self).class_names()
    }
    fn label(&self, i: usize) -> Result<u32> {
        (**self).label(i)
    }
    fn read(&self, i: usize, out: &mut Bitmap) -> Result<u32> {
        (**self).read(i, out)
    }
}

/// An `Arc` of a source is a source (the loader's worker thread holds one).
impl<T: BitmapSource + ?Sized> BitmapSource for Arc<T> {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn class_names(&self) -> &[String] {
        (**self).class_names()
    }
    fn label(&self, i: usize) -> Result<u32> {
        (**self).label(i)
    }
    fn read(&self, i: usize, out: &mut Bitmap) -> Result<u32> {
        (**self).read(i, out)
    }
}

fn out_of_range(i: usize, len: usize) -> Error {
    Error::Invalid(format!(
        "sample index {i} out of range (the source has {len} samples)"
    ))
}

/// Bitmaps and labels held in memory (tests, small converted sets, what a CLI preview built).
#[derive(Clone, Debug)]
pub struct InMemory {
    class_names: Vec<String>,
    bitmaps: Vec<Bitmap>,
    labels: Vec<u32>,
}

impl InMemory {
    /// A source over `samples`; errors when a label is not below `class_names.len()`.
    pub fn new(class_names: Vec<String>, samples: Vec<(Bitmap, u32)>) -> Result<Self> {
        let mut bitmaps = Vec::with_capacity(samples.len());
        let mut labels = Vec::with_capacity(samples.len());
        for (i, (bitmap, label)) in samples.into_iter().enumerate() {
            if label as usize >= class_names.len() {
                return Err(Error::Invalid(format!(
                    "sample {i}: label {label} but only {} classes",
                    class_names.len()
                )));
            }
            bitmaps.push(bitmap);
            labels.push(label);
        }
        Ok(InMemory {
            class_names,
            bitmaps,
            labels,
        })
    }
}

impl BitmapSource for InMemory {
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn class_names(&self) -> &[String] {
        &self.class_names
    }
    fn label(&self, i: usize) -> Result<u32> {
        self.labels
            .get(i)
            .copied()
            .ok_or_else(|| out_of_range(i, self.labels.len()))
    }
    fn read(&self, i: usize, out: &mut Bitmap) -> Result<u32> {
        let (Some(bitmap), Some(&label)) = (self.bitmaps.get(i), self.labels.get(i)) else {
            return Err(out_of_range(i, self.labels.len()));
        };
        out.copy_from_slice(bitmap);
        Ok(label)
    }
}

/// A view of some samples of a source, in the given order: sample `i` of the view is sample
/// `indices[i]` of the source.
#[derive(Clone, Debug)]
pub struct Subset<S> {
    source: S,
    indices: Vec<usize>,
}

impl<S: BitmapSource> Subset<S> {
    /// The view of `indices` of `source`; errors when an index is out of range.
    pub fn new(source: S, indices: Vec<usize>) -> Result<Self> {
        check_indices(&source, &indices)?;
        Ok(Subset { source, indices })
    }

    /// The indices into the underlying source.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The underlying source.
    pub fn source(&self) -> &S {
        &self.source
    }

    fn map(&self, i: usize) -> Result<usize> {
        self.indices
            .get(i)
            .copied()
            .ok_or_else(|| out_of_range(i, self.indices.len()))
    }
}

impl<S: BitmapSource> BitmapSource for Subset<S> {
    fn len(&self) -> usize {
        self.indices.len()
    }
    fn class_names(&self) -> &[String] {
        self.source.class_names()
    }
    fn label(&self, i: usize) -> Result<u32> {
        self.source.label(self.map(i)?)
    }
    fn read(&self, i: usize, out: &mut Bitmap) -> Result<u32> {
        self.source.read(self.map(i)?, out)
    }
}

/// Errors unless every index is below `source.len()`.
pub(crate) fn check_indices(source: &dyn BitmapSource, indices: &[usize]) -> Result<()> {
    let len = source.len();
    match indices.iter().find(|&&i| i >= len) {
        Some(&i) => Err(out_of_range(i, len)),
        None => Ok(()),
    }
}

/// The label of sample `i`, checked against the number of classes.
pub(crate) fn checked_label(source: &dyn BitmapSource, i: usize) -> Result<usize> {
    let label = source.label(i)?;
    let classes = source.class_names().len();
    if label as usize >= classes {
        return Err(Error::Invalid(format!(
            "sample {i}: label {label} but the source has {classes} classes"
        )));
    }
    Ok(label as usize)
}

/// `indices` grouped by class (one list per class, each in the order of `indices`).
pub(crate) fn by_class(source: &dyn BitmapSource, indices: &[usize]) -> Result<Vec<Vec<usize>>> {
    check_indices(source, indices)?;
    let mut groups = vec![Vec::new(); source.class_names().len()];
    for &i in indices {
        let label = checked_label(source, i)?;
        if let Some(group) = groups.get_mut(label) {
            group.push(i);
        }
    }
    Ok(groups)
}

/// The first `cap` samples of each class among `indices`, keeping the order of `indices`
/// (`--samples-per-class`). A class with fewer keeps all it has; [`crate::pipeline::ClassCounts`]
/// shows such classes.
pub fn cap_per_class(
    source: &dyn BitmapSource,
    indices: &[usize],
    cap: usize,
) -> Result<Vec<usize>> {
    check_indices(source, indices)?;
    let mut taken = vec![0usize; source.class_names().len()];
    let mut out = Vec::new();
    for &i in indices {
        let label = checked_label(source, i)?;
        if let Some(t) = taken.get_mut(label) {
            if *t < cap {
                *t += 1;
                out.push(i);
            }
        }
    }
    Ok(out)
}
