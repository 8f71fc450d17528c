//! Where drawings come from: the synthetic set or a directory with one file per class.

use std::path::{Path, PathBuf};

use inkling::data::formats::bin::BinReader;
use inkling::data::formats::ndjson::NdjsonReader;
use inkling::data::formats::npy::NpyDataset;
use inkling::data::formats::parquet::{ParquetColumns, ParquetDataset};
use inkling::data::raster::{RasterConfig, Rasterizer};
use inkling::data::synth::{ClassSelection, SyntheticDoodles, CLASS_NAMES};
use inkling::data::{Bitmap, BitmapSource, Drawing, Error, IMAGE_PIXELS};

use super::Result;
use crate::rng::SplitMix;

/// The per-class file formats a directory source may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirFormat {
    /// numpy_bitmap `.npy` (bitmaps).
    Npy,
    /// `simplified` / `raw` ndjson (strokes, rasterized here).
    Ndjson,
    /// Google's binary `.bin` (strokes, rasterized here).
    Bin,
    /// Parquet, one file per class (bitmaps).
    Parquet,
}

impl DirFormat {
    /// The file extension.
    pub fn ext(self) -> &'static str {
        match self {
            DirFormat::Npy => "npy",
            DirFormat::Ndjson => "ndjson",
            DirFormat::Bin => "bin",
            DirFormat::Parquet => "parquet",
        }
    }
    /// Whether files of this format hold bitmaps (rather than strokes to rasterize).
    pub fn is_bitmaps(self) -> bool {
        matches!(self, DirFormat::Npy | DirFormat::Parquet)
    }

    /// What the format is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            DirFormat::Npy => "numpy_bitmap .npy",
            DirFormat::Ndjson => "ndjson strokes",
            DirFormat::Bin => "binary .bin strokes",
            DirFormat::Parquet => "Parquet bitmaps",
        }
    }
}

/// A directory of `<class>.<ext>` files of one format, classes sorted by name (= label order).
#[derive(Clone, Debug)]
pub struct ClassDir {
    /// The directory.
    pub dir: PathBuf,
    /// The format its class files have (`.npy`, then `.parquet`, `.ndjson`, `.bin` when several are
    /// present).
    pub format: DirFormat,
    /// (class name, file), sorted by name.
    pub classes: Vec<(String, PathBuf)>,
}

impl ClassDir {
    /// Scans `dir`; an error naming it when it holds no `.npy`, `.ndjson` or `.bin` file.
    pub fn scan(dir: &Path) -> Result<ClassDir> {
        let mut found: [Vec<(String, PathBuf)>; 4] = Default::default();
        let formats = [
            DirFormat::Npy,
            DirFormat::Parquet,
            DirFormat::Ndjson,
            DirFormat::Bin,
        ];
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let path = entry.map_err(|e| Error::io(dir, e))?.path();
            let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
                continue;
            };
            let Some(slot) = formats.iter().position(|f| f.ext() == ext) else {
                continue;
            };
            if !path.is_file() {
                continue;
            }
            let stem = path.file_stem().and_then(|s| s.to_str()).ok_or_else(|| {
                Error::format(&path, "file name", "class name is not valid UTF-8")
            })?;
            found[slot].push((stem.to_string(), path.clone()));
        }
        for (format, mut classes) in formats.into_iter().zip(found) {
            if !classes.is_empty() {
                classes.sort();
                return Ok(ClassDir {
                    dir: dir.to_path_buf(),
                    format,
                    classes,
                });
            }
        }
        Err(Error::format(
            dir,
            "directory",
            "no .npy, .parquet, .ndjson or .bin files in it",
        )
        .into())
    }

    /// The file of class `name`; an unknown-class error (with a near name as a hint) otherwise.
    pub fn file(&self, name: &str) -> Result<&Path> {
        self.classes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.as_path())
            .ok_or_else(|| {
                let hint = self
                    .classes
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name) || n.starts_with(name))
                    .map(|(n, _)| n.clone());
                Error::UnknownClass {
                    name: name.to_string(),
                    hint,
                }
                .into()
            })
    }
}

/// `synthetic` or a class directory.
#[derive(Clone, Debug)]
pub enum Source {
    /// The built-in procedural doodles.
    Synthetic,
    /// A directory with one file per class.
    Dir(ClassDir),
}

impl Source {
    /// Parses `--source`: `synthetic` or a directory path.
    pub fn parse(spec: &str) -> Result<Source> {
        if spec == "synthetic" {
            return Ok(Source::Synthetic);
        }
        let dir = Path::new(spec);
        if !dir.is_dir() {
            return Err(format!("--source {spec:?} is neither `synthetic` nor a directory").into());
        }
        Ok(Source::Dir(ClassDir::scan(dir)?))
    }

    /// A few words on what this is.
    pub fn describe(&self) -> String {
        match self {
            Source::Synthetic => "the built-in synthetic doodles".into(),
            Source::Dir(d) => format!("{} ({})", d.dir.display(), d.format.describe()),
        }
    }

    /// All class names, in label order.
    pub fn class_names(&self) -> Result<Vec<String>> {
        Ok(match self {
            Source::Synthetic => CLASS_NAMES.iter().map(|s| s.to_string()).collect(),
            Source::Dir(d) => d.classes.iter().map(|(n, _)| n.clone()).collect(),
        })
    }

    /// Resolves `--classes` (names, or a count N = the first N in label order; `None`: the first
    /// `default_count`, or all when `default_count` is `None`) into class names.
    pub fn select(&self, spec: Option<&str>, default_count: Option<usize>) -> Result<Vec<String>> {
        let all = self.class_names()?;
        let take = |n: usize| -> Result<Vec<String>> {
            if n == 0 || n > all.len() {
                return Err(
                    format!("--classes {n}: the source has 1 to {} classes", all.len()).into(),
                );
            }
            Ok(all.iter().take(n).cloned().collect())
        };
        match spec.map(str::trim) {
            None => take(default_count.unwrap_or(all.len()).min(all.len())),
            Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => take(s.parse()?),
            Some(s) => {
                let names: Vec<String> = s
                    .split(',')
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty())
                    .collect();
                if names.is_empty() {
                    return Err("--classes is empty".into());
                }
                for (i, n) in names.iter().enumerate() {
                    if names[..i].contains(n) {
                        return Err(format!("class {n:?} listed twice").into());
                    }
                    if !all.contains(n) {
                        return Err(match self {
                            Source::Synthetic => {
                                // The synthetic set's own check gives the "did you mean" hint.
                                SyntheticDoodles::new(0, 1, ClassSelection::Names(vec![n.clone()]))
                                    .err()
                                    .map(Into::into)
                                    .unwrap_or_else(|| format!("unknown class {n:?}").into())
                            }
                            Source::Dir(d) => d
                                .file(n)
                                .err()
                                .unwrap_or_else(|| format!("unknown class {n:?}").into()),
                        });
                    }
                }
                Ok(names)
            }
        }
    }

    /// Up to `n` bitmaps of each class in `classes` (all of them unless the class has fewer; the
    /// returned notes say so): the synthetic set's first `n` for `seed`, `n` rows of a `.npy` picked
    /// with `seed`, or the first `n` drawings of a stroke file, rasterized.
    pub fn samples(
        &self,
        classes: &[String],
        n: usize,
        seed: u64,
    ) -> Result<(Vec<Vec<Bitmap>>, Vec<String>)> {
        let mut notes = Vec::new();
        let mut out = Vec::with_capacity(classes.len());
        match self {
            Source::Synthetic => {
                let set = SyntheticDoodles::new(seed, n, ClassSelection::Names(classes.to_vec()))?;
                for label in 0..classes.len() {
                    let mut rows = Vec::with_capacity(n);
                    for k in 0..n {
                        let mut b = [0u8; IMAGE_PIXELS];
                        set.read(k * classes.len() + label, &mut b)?;
                        rows.push(b);
                    }
                    out.push(rows);
                }
            }
            Source::Dir(d) if d.format.is_bitmaps() => {
                let (set, counts) = open_bitmap_dir(d, Some(classes), None)?;
                // The dataset sorts classes by name; map each requested class to its label.
                let names = set.class_names().to_vec();
                let mut starts = vec![0usize];
                for &c in &counts {
                    starts.push(starts.last().copied().unwrap_or(0) + c);
                }
                let mut rng = SplitMix::new(seed);
                for name in classes {
                    let label = names.iter().position(|x| x == name).unwrap_or(0);
                    let count = counts.get(label).copied().unwrap_or(0);
                    let picked = pick(&mut rng, count, n);
                    if picked.len() < n {
                        notes.push(format!("{name}: only {count} rows, showing all of them"));
                    }
                    let mut rows = Vec::with_capacity(picked.len());
                    for row in picked {
                        let mut b = [0u8; IMAGE_PIXELS];
                        set.read(starts[label] + row, &mut b)?;
                        rows.push(b);
                    }
                    out.push(rows);
                }
            }
            Source::Dir(d) => {
                let mut raster = Rasterizer::new(RasterConfig::default());
                for name in classes {
                    let drawings = first_drawings(d.format, d.file(name)?, n)?;
                    if drawings.len() < n {
                        notes.push(format!(
                            "{name}: only {} drawings, showing all of them",
                            drawings.len()
                        ));
                    }
                    let rows = drawings
                        .iter()
                        .map(|dr| {
                            let mut b = [0u8; IMAGE_PIXELS];
                            raster.draw(&dr.strokes, &mut b);
                            b
                        })
                        .collect();
                    out.push(rows);
                }
            }
        }
        Ok((out, notes))
    }
}

/// The first `n` drawings of a stroke file (fewer when it has fewer); a bad record is an error.
pub fn first_drawings(format: DirFormat, path: &Path, n: usize) -> Result<Vec<Drawing>> {
    let iter: Box<dyn Iterator<Item = inkling::data::Result<Drawing>>> = match format {
        DirFormat::Ndjson => Box::new(NdjsonReader::open(path)?),
        DirFormat::Bin => Box::new(BinReader::open(path)?),
        DirFormat::Npy | DirFormat::Parquet => {
            return Err(format!("{}: not a stroke file", path.display()).into())
        }
    };
    Ok(iter.take(n).collect::<inkling::data::Result<Vec<_>>>()?)
}

/// `min(n, count)` distinct row numbers below `count`, in increasing order (partial Fisher–Yates).
fn pick(rng: &mut SplitMix, count: usize, n: usize) -> Vec<usize> {
    if n >= count {
        return (0..count).collect();
    }
    if count <= 1 << 20 {
        let mut all: Vec<usize> = (0..count).collect();
        for i in 0..n {
            let j = i + rng.below(count - i);
            all.swap(i, j);
        }
        all.truncate(n);
        all.sort_unstable();
        return all;
    }
    // Huge classes: rejection sampling keeps memory at O(n).
    let mut picked: Vec<usize> = Vec::with_capacity(n);
    while picked.len() < n {
        let r = rng.below(count);
        if !picked.contains(&r) {
            picked.push(r);
        }
    }
    picked.sort_unstable();
    picked
}

/// Opens the `.npy` or Parquet files of a class directory (`classes`: a subset; `per_class`: a cap on
/// leading rows) as one source, with the rows used per class in label (sorted name) order.
pub fn open_bitmap_dir(
    d: &ClassDir,
    classes: Option<&[String]>,
    per_class: Option<usize>,
) -> Result<(Box<dyn BitmapSource>, Vec<usize>)> {
    Ok(match d.format {
        DirFormat::Npy => {
            let set = NpyDataset::open_dir_capped(&d.dir, classes, per_class)?;
            let counts = set.class_counts().to_vec();
            (Box::new(set), counts)
        }
        DirFormat::Parquet => {
            let set = ParquetDataset::open_dir_with(
                &d.dir,
                classes,
                per_class,
                &ParquetColumns::default(),
            )?;
            let counts = set.class_counts().to_vec();
            (Box::new(set), counts)
        }
        f => return Err(format!("{}: {} are not bitmaps", d.dir.display(), f.describe()).into()),
    })
}
