//! Opening `--data` for training and evaluation: the synthetic set or a class directory of any
//! supported format, as one labelled bitmap source (strokes are rasterized once, up front).

use std::sync::Arc;

use rayon::prelude::*;

use inkling::data::pipeline::InMemory;
use inkling::data::raster::rasterize;
use inkling::data::synth::{ClassSelection, SyntheticDoodles};
use inkling::data::{Bitmap, BitmapSource};

use crate::data::source::{first_drawings, open_bitmap_dir, Source};
use crate::data::Result;

/// Drawings per class of the synthetic set when `--samples-per-class` is not given.
pub const SYNTHETIC_DEFAULT_PER_CLASS: usize = 600;

/// A labelled source and a few words on where it came from.
pub struct Dataset {
    /// The samples; labels index `source.class_names()`.
    pub source: Arc<dyn BitmapSource>,
    /// For messages.
    pub describe: String,
}

/// Opens `data` (`synthetic` or a directory) restricted to `classes` (names in any order), at most
/// `per_class` drawings of each (the leading ones; synthetic: exactly that many, default
/// [`SYNTHETIC_DEFAULT_PER_CLASS`]). Errors name the path and what is wrong; a class with no drawing
/// is an error.
pub fn open(
    source: &Source,
    classes: &[String],
    per_class: Option<usize>,
    seed: u64,
) -> Result<Dataset> {
    if per_class == Some(0) {
        return Err("--samples-per-class must be at least 1".into());
    }
    let set: Arc<dyn BitmapSource> = match source {
        Source::Synthetic => Arc::new(SyntheticDoodles::new(
            seed,
            per_class.unwrap_or(SYNTHETIC_DEFAULT_PER_CLASS),
            ClassSelection::Names(classes.to_vec()),
        )?),
        Source::Dir(d) if d.format.is_bitmaps() => {
            let (set, _) = open_bitmap_dir(d, Some(classes), per_class)?;
            Arc::from(set)
        }
        Source::Dir(d) => {
            let mut names = classes.to_vec();
            names.sort();
            let per_class = per_class.unwrap_or(usize::MAX);
            let rows: Vec<Vec<Bitmap>> = names
                .par_iter()
                .map(|name| -> std::result::Result<Vec<Bitmap>, String> {
                    let path = d.file(name).map_err(|e| e.to_string())?;
                    let drawings =
                        first_drawings(d.format, path, per_class).map_err(|e| e.to_string())?;
                    Ok(drawings.iter().map(rasterize).collect())
                })
                .collect::<std::result::Result<_, String>>()?;
            let mut samples = Vec::new();
            for (label, class_rows) in rows.into_iter().enumerate() {
                let label = u32::try_from(label).map_err(|_| "more than u32::MAX classes")?;
                samples.extend(class_rows.into_iter().map(|b| (b, label)));
            }
            Arc::new(InMemory::new(names, samples)?)
        }
    };
    let mut counts = vec![0usize; set.class_names().len()];
    for i in 0..set.len() {
        counts[set.label(i)? as usize] += 1;
    }
    if let Some(c) = counts.iter().position(|&n| n == 0) {
        return Err(format!(
            "{}: class {:?} has no drawings",
            source.describe(),
            set.class_names()[c]
        )
        .into());
    }
    Ok(Dataset {
        describe: format!(
            "{}: {} classes, {} drawings",
            source.describe(),
            counts.len(),
            set.len()
        ),
        source: set,
    })
}
