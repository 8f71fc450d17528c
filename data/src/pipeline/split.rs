//! Deterministic stratified train/val/test split and the per-class counts report.

use std::fmt;

use crate::error::{Error, Result};
use crate::types::BitmapSource;

use super::rng;
use super::source::{by_class, check_indices, checked_label};

/// Fractions of each class that go to train, validation and test (non-negative, summing to 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplitFractions {
    /// Training fraction.
    pub train: f64,
    /// Validation fraction.
    pub val: f64,
    /// Test fraction.
    pub test: f64,
}

impl Default for SplitFractions {
    /// 0.8 / 0.1 / 0.1.
    fn default() -> Self {
        SplitFractions {
            train: 0.8,
            val: 0.1,
            test: 0.1,
        }
    }
}

/// Indices into a source, per set, each sorted ascending.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// Training indices.
    pub train: Vec<usize>,
    /// Validation indices.
    pub val: Vec<usize>,
    /// Test indices.
    pub test: Vec<usize>,
}

/// Rounds half up; `x` is a non-negative sample count no larger than `cap`.
fn round_count(x: f64, cap: usize) -> usize {
    let r = (x + 0.5).floor();
    if r <= 0.0 {
        0
    } else if r >= cap as f64 {
        cap
    } else {
        r as usize
    }
}

/// Splits `indices` of `source` class by class: each class's samples are shuffled by
/// (`seed`, class) and cut at `round(n·train)` and `round(n·(train+val))` (half up), so each set of
/// each class is within one sample of its exact share and the three sets are disjoint and cover
/// `indices`. Sequential and keyed by the seed only: the same on every thread count.
pub fn stratified_split(
    source: &dyn BitmapSource,
    indices: &[usize],
    fractions: SplitFractions,
    seed: u64,
) -> Result<Split> {
    let SplitFractions { train, val, test } = fractions;
    let ok = |f: f64| f.is_finite() && f >= 0.0;
    if !(ok(train) && ok(val) && ok(test)) || ((train + val + test) - 1.0).abs() > 1e-6 {
        return Err(Error::Invalid(format!(
            "split fractions {train}/{val}/{test} must be non-negative and sum to 1"
        )));
    }
    let mut split = Split::default();
    for (class, mut members) in by_class(source, indices)?.into_iter().enumerate() {
        rng::shuffle(
            &mut rng::stream(seed, rng::SPLIT, class as u64, 0),
            &mut members,
        );
        let n = members.len();
        let b1 = round_count(n as f64 * train, n);
        let b2 = round_count(n as f64 * (train + val), n).max(b1);
        split
            .train
            .extend_from_slice(members.get(..b1).unwrap_or_default());
        split
            .val
            .extend_from_slice(members.get(b1..b2).unwrap_or_default());
        split
            .test
            .extend_from_slice(members.get(b2..).unwrap_or_default());
    }
    split.train.sort_unstable();
    split.val.sort_unstable();
    split.test.sort_unstable();
    Ok(split)
}

/// Samples per class in named sets of indices (what `inkling data` prints).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassCounts {
    /// Class names, in label order.
    pub class_names: Vec<String>,
    /// Set names, e.g. "train", "val", "test".
    pub sets: Vec<String>,
    /// `counts[class][set]`.
    pub counts: Vec<Vec<usize>>,
}

impl ClassCounts {
    /// Counts the samples of each class in each of `sets` (name, indices into `source`).
    pub fn new(source: &dyn BitmapSource, sets: &[(&str, &[usize])]) -> Result<Self> {
        let classes = source.class_names().len();
        let mut counts = vec![vec![0usize; sets.len()]; classes];
        for (s, (_, indices)) in sets.iter().enumerate() {
            check_indices(source, indices)?;
            for &i in indices.iter() {
                let label = checked_label(source, i)?;
                if let Some(c) = counts.get_mut(label).and_then(|row| row.get_mut(s)) {
                    *c += 1;
                }
            }
        }
        Ok(ClassCounts {
            class_names: source.class_names().to_vec(),
            sets: sets.iter().map(|(name, _)| name.to_string()).collect(),
            counts,
        })
    }

    /// Total per set.
    pub fn totals(&self) -> Vec<usize> {
        let mut totals = vec![0; self.sets.len()];
        for row in &self.counts {
            for (t, c) in totals.iter_mut().zip(row) {
                *t += c;
            }
        }
        totals
    }
}

impl fmt::Display for ClassCounts {
    /// One row per class and a total row, columns aligned.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name_w = self
            .class_names
            .iter()
            .map(|n| n.len())
            .chain(["class".len(), "total".len()])
            .max()
            .unwrap_or(5);
        write!(f, "{:<name_w$}", "class")?;
        for s in &self.sets {
            write!(f, " {:>9}", s)?;
        }
        writeln!(f)?;
        for (name, row) in self.class_names.iter().zip(&self.counts) {
            write!(f, "{name:<name_w$}")?;
            for c in row {
                write!(f, " {c:>9}")?;
            }
            writeln!(f)?;
        }
        write!(f, "{:<name_w$}", "total")?;
        for t in self.totals() {
            write!(f, " {t:>9}")?;
        }
        writeln!(f)
    }
}
