//! Data pipeline: normalized f32 batches from memory-mapped `.npy` through the loader (with and without
//! augmentation), stroke rasterization, and ndjson parsing. Uses `../shared/data/quickdraw` when it is
//! there, else synthetic doodles written to a temporary directory first.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{Criterion, Throughput};
use inkling::data::formats::ndjson::{parse_line, write_ndjson, NdjsonReader};
use inkling::data::formats::npy::{write_npy, NpyDataset};
use inkling::data::pipeline::{Augment, Augmentation, Loader, LoaderConfig, Schedule};
use inkling::data::raster::{RasterConfig, Rasterizer};
use inkling::data::synth::{ClassSelection, SyntheticDoodles};
use inkling::data::{Bitmap, BitmapSource, Drawing};

use crate::common::configure;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/quickdraw")
}

/// A directory of `.npy` classes: the shared real files, or 6 synthetic classes × 2,500 written once.
fn npy_dir() -> PathBuf {
    let real = shared().join("bitmap");
    if real.is_dir() {
        return real;
    }
    let dir = std::env::temp_dir().join(format!("inkling-bench-npy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let synth = SyntheticDoodles::new(1, 2500, ClassSelection::First(6)).unwrap();
    for (c, name) in synth.class_names().iter().enumerate() {
        let rows: Vec<Bitmap> = (0..synth.len())
            .filter(|&i| synth.label(i).unwrap() as usize == c)
            .map(|i| {
                let mut b = [0u8; 784];
                synth.read(i, &mut b).unwrap();
                b
            })
            .collect();
        write_npy(dir.join(format!("{name}.npy")), &rows).unwrap();
    }
    dir
}

/// Simplified drawings: the shared ndjson files, or synthetic ones.
fn drawings() -> Vec<Drawing> {
    let dir = shared().join("simplified");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut out = Vec::new();
        for e in entries.flatten().take(60) {
            out.extend(NdjsonReader::open(e.path()).unwrap().map(|d| d.unwrap()));
        }
        if !out.is_empty() {
            return out;
        }
    }
    let synth = SyntheticDoodles::new(2, 200, ClassSelection::All).unwrap();
    (0..synth.len())
        .map(|i| synth.drawing(i).unwrap())
        .collect()
}

fn loader(c: &mut Criterion) {
    let source: Arc<dyn BitmapSource> = Arc::new(NpyDataset::open_dir(npy_dir(), None).unwrap());
    let n = source.len();
    let mut g = c.benchmark_group("data_loader");
    configure(&mut g);
    g.throughput(Throughput::Elements(n as u64));
    for threads in [1usize, 2] {
        let pool = Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap(),
        );
        for augmented in [false, true] {
            let config = LoaderConfig {
                augmentation: augmented.then(|| Augmentation {
                    augment: Augment::default(),
                    schedule: Schedule::Constant(1.0),
                }),
                ..LoaderConfig::default()
            };
            let l = Loader::new(source.clone(), (0..n).collect(), config)
                .unwrap()
                .with_pool(pool.clone());
            let name = format!(
                "npy_{}{}t",
                if augmented { "augmented_" } else { "" },
                threads
            );
            g.bench_function(name, |b| {
                b.iter(|| {
                    let epoch = l.epoch(0).unwrap();
                    let mut seen = 0;
                    for batch in epoch {
                        let batch = batch.unwrap();
                        seen += batch.labels.len();
                    }
                    assert_eq!(seen, n);
                })
            });
        }
    }
    g.finish();
}

fn raster(c: &mut Criterion) {
    let drawings = drawings();
    let mut r = Rasterizer::new(RasterConfig::default());
    let mut out = [0u8; 784];
    r.draw(&drawings[0].strokes, &mut out);
    assert!(out.iter().any(|&p| p > 0), "rasterizer drew nothing");
    let mut g = c.benchmark_group("data_raster");
    configure(&mut g);
    g.throughput(Throughput::Elements(drawings.len() as u64));
    g.bench_function("drawings_1t", |b| {
        b.iter(|| {
            for d in &drawings {
                r.draw(&d.strokes, &mut out);
            }
        })
    });
    g.finish();
}

fn ndjson(c: &mut Criterion) {
    let drawings = drawings();
    let path = std::env::temp_dir().join(format!("inkling-bench-{}.ndjson", std::process::id()));
    write_ndjson(&path, &drawings).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let lines: Vec<&[u8]> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        parse_line(lines[0]).unwrap().strokes.len(),
        drawings[0].strokes.len()
    );
    let mut g = c.benchmark_group("data_ndjson");
    configure(&mut g);
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("parse_1t", |b| {
        b.iter(|| {
            for l in &lines {
                parse_line(l).unwrap();
            }
        })
    });
    g.finish();
}

criterion::criterion_group!(benches, loader, raster, ndjson);
