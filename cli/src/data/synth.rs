//! `inkling data synth`: the synthetic doodles written as `<class>.npy`, `.ndjson` or `.bin` files.

use std::time::Instant;

use rayon::prelude::*;

use inkling::data::formats::{bin, ndjson, npy, parquet};
use inkling::data::synth::{ClassSelection, SyntheticDoodles};
use inkling::data::{Bitmap, BitmapSource, Drawing, IMAGE_PIXELS};

use super::source::{DirFormat, Source};
use super::{Result, SynthArgs};

/// Runs `inkling data synth`.
pub fn run(args: &SynthArgs) -> Result<()> {
    let format = match args.format.as_str() {
        "npy" => DirFormat::Npy,
        "ndjson" => DirFormat::Ndjson,
        "bin" => DirFormat::Bin,
        "parquet" => DirFormat::Parquet,
        other => {
            return Err(format!("--format {other:?}: expected npy, parquet, ndjson or bin").into());
        }
    };
    if args.samples_per_class == 0 {
        return Err("--samples-per-class must be at least 1".into());
    }
    let classes = Source::Synthetic.select(args.classes.as_deref(), None)?;
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let start = Instant::now();
    let mut bytes = 0u64;
    for (label, name) in classes.iter().enumerate() {
        // One class per set: a sample depends on (seed, class, index) only, so this is the same
        // drawing as in a set of all classes.
        let set = SyntheticDoodles::new(
            args.seed,
            args.samples_per_class,
            ClassSelection::Names(vec![name.clone()]),
        )?;
        let path = args.out.join(format!("{name}.{}", format.ext()));
        match format {
            DirFormat::Npy | DirFormat::Parquet => {
                let rows = (0..set.len())
                    .into_par_iter()
                    .map(|i| {
                        let mut b: Bitmap = [0; IMAGE_PIXELS];
                        set.read(i, &mut b).map(|_| b)
                    })
                    .collect::<inkling::data::Result<Vec<Bitmap>>>()?;
                if format == DirFormat::Parquet {
                    let label = u32::try_from(label).map_err(|_| "more than u32::MAX classes")?;
                    parquet::write_parquet(&path, name, label, &rows)?;
                } else {
                    npy::write_npy(&path, &rows)?;
                }
            }
            DirFormat::Ndjson | DirFormat::Bin => {
                let drawings = (0..set.len())
                    .into_par_iter()
                    .map(|i| set.drawing(i))
                    .collect::<inkling::data::Result<Vec<Drawing>>>()?;
                if format == DirFormat::Bin {
                    bin::write_bin(&path, &drawings)?;
                } else {
                    ndjson::write_ndjson(&path, &drawings)?;
                }
            }
        }
        bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!("{}", path.display());
    }
    eprintln!(
        "wrote {} classes × {} drawings ({}, seed {}) to {}: {bytes} bytes in {:.2} s",
        classes.len(),
        args.samples_per_class,
        format.describe(),
        args.seed,
        args.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
