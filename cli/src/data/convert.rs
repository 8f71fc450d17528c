//! `inkling data convert`: a class directory (`.npy`, `.ndjson` or `.bin` per class; strokes are
//! rasterized like the numpy_bitmap set) or the synthetic set, written as `.npy` or Parquet per class.

use std::path::Path;

use inkling::data::formats::npy::NpyBitmaps;
use inkling::data::formats::parquet::{ParquetBitmaps, ParquetColumns};
use inkling::data::formats::{npy, parquet};
use inkling::data::raster::{RasterConfig, Rasterizer};
use inkling::data::Bitmap;

use super::source::{first_drawings, DirFormat, Source};
use super::{ConvertArgs, Result};

/// Runs `inkling data convert`.
pub fn run(args: &ConvertArgs) -> Result<()> {
    let to_parquet = match args.format.as_str() {
        "npy" => false,
        "parquet" => true,
        other => return Err(format!("--format {other:?}: expected npy or parquet").into()),
    };
    let source = Source::parse(&args.source)?;
    let classes = source.select(args.classes.as_deref(), None)?;
    let cap = args.samples_per_class.unwrap_or(usize::MAX);
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    for (label, name) in classes.iter().enumerate() {
        let rows = class_rows(&source, name, cap)?;
        let ext = if to_parquet { "parquet" } else { "npy" };
        let path = args.out.join(format!("{name}.{ext}"));
        let label = u32::try_from(label).map_err(|_| "more than u32::MAX classes")?;
        if to_parquet {
            parquet::write_parquet(&path, name, label, &rows)?;
        } else {
            npy::write_npy(&path, &rows)?;
        }
        println!("{name:<24} {:>8} drawings  {}", rows.len(), path.display());
    }
    Ok(())
}

/// The first `cap` bitmaps of class `name`, in file order (strokes rasterized).
fn class_rows(source: &Source, name: &str, cap: usize) -> Result<Vec<Bitmap>> {
    match source {
        Source::Synthetic => {
            let n = if cap == usize::MAX { 1000 } else { cap };
            let (mut rows, _) = source.samples(&[name.to_string()], n, 0)?;
            Ok(rows.pop().unwrap_or_default())
        }
        Source::Dir(dir) => {
            let path: &Path = dir
                .classes
                .iter()
                .find(|(c, _)| c == name)
                .map(|(_, p)| p.as_path())
                .ok_or_else(|| format!("class {name:?} not in {}", dir.dir.display()))?;
            match dir.format {
                DirFormat::Npy => {
                    let file = NpyBitmaps::open(path)?;
                    (0..file.len().min(cap))
                        .map(|i| Ok(*file.get(i)?))
                        .collect()
                }
                DirFormat::Parquet => {
                    let limit = (cap != usize::MAX).then_some(cap);
                    let file = ParquetBitmaps::open_with(path, &ParquetColumns::default(), limit)?;
                    (0..file.len()).map(|i| Ok(*file.get(i)?)).collect()
                }
                DirFormat::Ndjson | DirFormat::Bin => {
                    let mut raster = Rasterizer::new(RasterConfig::default());
                    let drawings = first_drawings(dir.format, path, cap)?;
                    Ok(drawings
                        .iter()
                        .map(|d| {
                            let mut b = [0u8; 784];
                            raster.draw(&d.strokes, &mut b);
                            b
                        })
                        .collect())
                }
            }
        }
    }
}
