//! `inkling bench data`: loader throughput (normalized f32 batches from memory-mapped `.npy`, with
//! and without augmentation, per thread count), rasterization drawings/s on one core and ndjson
//! parse MB/s on one core.
//!
//! Real files are used when the shared Quick, Draw! slice is found (`--data`, `$INKLING_QUICKDRAW`,
//! `../shared/data/quickdraw` from the working directory or the repository); otherwise synthetic
//! files are written to a temporary directory first. The header says which.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use inkling::data::formats::ndjson::{self, NdjsonReader};
use inkling::data::formats::npy::{self, NpyDataset};
use inkling::data::pipeline::{Augment, Augmentation, Loader, LoaderConfig, Schedule};
use inkling::data::raster::{RasterConfig, Rasterizer};
use inkling::data::synth::{ClassSelection, SyntheticDoodles};
use inkling::data::{Bitmap, BitmapSource, Drawing, IMAGE_PIXELS};
use inkling::kernels::{cpu_features, cpu_model};

use super::report::json_str;
use super::timing::median;
use super::Result;

/// Options of `inkling bench data`.
#[derive(clap::Args, Debug)]
pub struct DataArgs {
    /// Thread counts for the loader, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Print one JSON object on stdout (the CPU header goes to stderr).
    #[arg(long)]
    json: bool,
    /// Small data and short samples, for smoke tests; the figures are noisy.
    #[arg(long)]
    quick: bool,
    /// The Quick, Draw! directory (with `bitmap/` and `simplified/`); default: $INKLING_QUICKDRAW,
    /// else `../shared/data/quickdraw` when present.
    #[arg(long)]
    data: Option<PathBuf>,
}

/// Batch size of the loader measurements.
const BATCH: usize = 256;

struct Plan {
    samples: usize,
    min_sample: Duration,
    /// Synthetic rows per class when no real bitmaps are found (12 classes).
    synth_rows: usize,
    /// Synthetic drawings for the raster and ndjson figures when no real strokes are found.
    synth_drawings: usize,
}

/// Removes the temporary directory when the run ends, however it ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `inkling bench data`.
pub fn run(args: &DataArgs) -> Result<()> {
    let plan = if args.quick {
        Plan {
            samples: 3,
            min_sample: Duration::from_millis(20),
            synth_rows: 64,
            synth_drawings: 120,
        }
    } else {
        Plan {
            samples: 5,
            min_sample: Duration::from_millis(300),
            synth_rows: 1250,
            synth_drawings: 3000,
        }
    };
    let mut counts = args.threads.clone();
    counts.sort_unstable();
    counts.dedup();
    if counts.is_empty() || counts[0] == 0 {
        return Err("--threads needs positive thread counts, e.g. --threads 1,2".into());
    }
    let tmp = TempDir(std::env::temp_dir().join(format!(
        "inkling-bench-data-{}-{}",
        std::process::id(),
        rand_seed()
    )));
    let qd = quickdraw_dir(args.data.as_deref());

    // Inputs first (so that generating them is not in any figure), then the header saying which.
    let bitmap_dir = qd.as_ref().map(|d| d.join("bitmap")).filter(|d| d.is_dir());
    let (npy_dir, npy_what) = match bitmap_dir {
        Some(d) => {
            let what = format!("{} (shared numpy_bitmap files)", d.display());
            (d, what)
        }
        None => {
            let d = tmp.0.join("bitmap");
            std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
            write_synthetic_npy(&d, plan.synth_rows)?;
            let what = format!(
                "temporary synthetic .npy files in {} (no Quick, Draw! bitmaps found)",
                d.display()
            );
            (d, what)
        }
    };
    let set = Arc::new(NpyDataset::open_dir(&npy_dir, None)?);
    let simplified = qd
        .as_ref()
        .map(|d| d.join("simplified"))
        .filter(|d| d.is_dir());
    let (ndjson_bytes, drawings, strokes_what) =
        stroke_inputs(simplified.as_deref(), &tmp.0, &plan)?;

    let cpu = cpu_model();
    let features = cpu_features();
    let header = [
        format!("CPU:        {cpu}"),
        format!("SIMD:       {}", features.join(" ")),
        format!(
            "Bitmaps:    {npy_what}: {} classes, {} rows, memory-mapped",
            set.class_names().len(),
            set.len()
        ),
        format!(
            "Loader:     batches of {BATCH} normalized f32 (invert, mean 0.5, std 0.5, 28×28 NCHW), \
             shuffled, prefetch 4; augmentation: rotation ±15°, translation ±10 %, scale ±15 %, \
             shear ±10°, stroke width ±50 % at full strength"
        ),
        format!("Strokes:    {strokes_what}"),
        format!(
            "Timing:     median of {} samples of ≥ {} ms each after one warm-up epoch{}",
            plan.samples,
            plan.min_sample.as_millis(),
            if args.quick { " (--quick: noisy)" } else { "" }
        ),
    ];
    for l in &header {
        if args.json {
            eprintln!("{l}");
        } else {
            println!("{l}");
        }
    }
    let mut stdout = std::io::stdout().lock();
    if !args.json {
        writeln!(stdout, "\nthreads  augmentation   samples/s")?;
    }

    let mut rows = Vec::new();
    for &t in &counts {
        let pool = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(t).build()?);
        for augmented in [false, true] {
            let rate = loader_rate(&set, &pool, augmented, &plan)?;
            if !args.json {
                writeln!(
                    stdout,
                    "{t:>7}  {:<12} {:>11.0}",
                    if augmented { "on" } else { "off" },
                    rate
                )?;
                stdout.flush()?;
            }
            rows.push((t, augmented, rate));
        }
    }
    let raster = raster_rate(&drawings, &plan);
    let ndjson_mb = ndjson_rate(&ndjson_bytes, &plan)?;
    if !args.json {
        writeln!(
            stdout,
            "\nrasterize (1 thread): {raster:.0} drawings/s\nndjson parse (1 thread): {ndjson_mb:.1} MB/s"
        )?;
    }

    let top = counts.last().copied().unwrap_or(1);
    let pick = |aug: bool| rows.iter().find(|r| r.0 == top && r.1 == aug).map(|r| r.2);
    let json = format!(
        concat!(
            "{{\"cpu\":{},\"simd\":[{}],\"bitmaps\":{},\"strokes\":{},\"batch_size\":{},",
            "\"threads\":{},\"samples_per_s\":{},\"samples_per_s_augmented\":{},",
            "\"raster_drawings_per_s\":{},\"ndjson_mb_per_s\":{},\"loader\":[{}],\"quick\":{}}}"
        ),
        json_str(&cpu),
        features
            .iter()
            .map(|f| json_str(f))
            .collect::<Vec<_>>()
            .join(","),
        json_str(&npy_what),
        json_str(&strokes_what),
        BATCH,
        top,
        num(pick(false)),
        num(pick(true)),
        num(Some(raster)),
        num(Some(ndjson_mb)),
        rows.iter()
            .map(|(t, a, r)| format!(
                "{{\"threads\":{t},\"augmented\":{a},\"samples_per_s\":{}}}",
                num(Some(*r))
            ))
            .collect::<Vec<_>>()
            .join(","),
        args.quick
    );
    if args.json {
        writeln!(stdout, "{json}")?;
    }
    Ok(())
}

/// A JSON number rounded to 0.1, or `null` when absent or not finite.
fn num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{}", (v * 10.0).round() / 10.0),
        _ => "null".into(),
    }
}

/// Some bits that differ between runs, for a unique temporary name.
fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The Quick, Draw! directory: the flag, `$INKLING_QUICKDRAW`, `../shared/data/quickdraw` from the
/// working directory, or the one next to this repository.
fn quickdraw_dir(flag: Option<&Path>) -> Option<PathBuf> {
    if let Some(f) = flag {
        return Some(f.to_path_buf());
    }
    if let Some(env) = std::env::var_os("INKLING_QUICKDRAW").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(env));
    }
    [
        PathBuf::from("../shared/data/quickdraw"),
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/quickdraw"
        )),
    ]
    .into_iter()
    .find(|d| d.is_dir())
}

/// The 12 synthetic classes, `rows` each, as `<class>.npy` in `dir`.
fn write_synthetic_npy(dir: &Path, rows: usize) -> Result<()> {
    let set = SyntheticDoodles::new(0, rows, ClassSelection::All)?;
    let n = set.class_names().len();
    let bitmaps = (0..set.len())
        .into_par_iter()
        .map(|i| {
            let mut b: Bitmap = [0; IMAGE_PIXELS];
            set.read(i, &mut b).map(|_| b)
        })
        .collect::<inkling::data::Result<Vec<Bitmap>>>()?;
    for (label, name) in set.class_names().iter().enumerate() {
        // Labels are interleaved: class `label` is every n-th sample.
        let class: Vec<Bitmap> = bitmaps.iter().skip(label).step_by(n).copied().collect();
        npy::write_npy(dir.join(format!("{name}.npy")), &class)?;
    }
    Ok(())
}

/// (ndjson bytes, drawings, description): every `simplified/*.ndjson` when present, else synthetic
/// drawings written through the ndjson writer.
fn stroke_inputs(
    simplified: Option<&Path>,
    tmp: &Path,
    plan: &Plan,
) -> Result<(Vec<u8>, Vec<Drawing>, String)> {
    if let Some(dir) = simplified {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "ndjson"))
            .collect();
        files.sort();
        if !files.is_empty() {
            let mut bytes = Vec::new();
            for f in &files {
                let b = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
                bytes.extend_from_slice(&b);
                if !bytes.ends_with(b"\n") {
                    bytes.push(b'\n');
                }
            }
            let drawings = parse_all(&bytes)?;
            let what = format!(
                "{} ({} files, {} drawings, {:.2} MB; parsed from memory)",
                dir.display(),
                files.len(),
                drawings.len(),
                bytes.len() as f64 / 1e6
            );
            return Ok((bytes, drawings, what));
        }
    }
    let set = SyntheticDoodles::new(1, plan.synth_drawings.div_ceil(12), ClassSelection::All)?;
    let drawings = (0..set.len())
        .into_par_iter()
        .map(|i| set.drawing(i))
        .collect::<inkling::data::Result<Vec<Drawing>>>()?;
    std::fs::create_dir_all(tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let path = tmp.join("synthetic.ndjson");
    ndjson::write_ndjson(&path, &drawings)?;
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let what = format!(
        "{} synthetic drawings, written as {:.2} MB of simplified ndjson (no Quick, Draw! \
         simplified/ found); parsed from memory",
        drawings.len(),
        bytes.len() as f64 / 1e6
    );
    Ok((bytes, drawings, what))
}

fn parse_all(bytes: &[u8]) -> Result<Vec<Drawing>> {
    Ok(NdjsonReader::from_reader(bytes, "<memory>").collect::<inkling::data::Result<Vec<_>>>()?)
}

/// Median samples/s of the loader over `set` in `pool`.
fn loader_rate(
    set: &Arc<NpyDataset>,
    pool: &Arc<rayon::ThreadPool>,
    augmented: bool,
    plan: &Plan,
) -> Result<f64> {
    let config = LoaderConfig {
        batch_size: BATCH,
        augmentation: augmented.then_some(Augmentation {
            augment: Augment::default(),
            schedule: Schedule::Constant(1.0),
        }),
        ..LoaderConfig::default()
    };
    let source: Arc<dyn BitmapSource> = set.clone();
    let loader = Loader::new(source, (0..set.len()).collect(), config)?.with_pool(pool.clone());
    let mut epoch = 0usize;
    let run_epoch = |epoch: usize| -> Result<usize> {
        let mut n = 0usize;
        let mut check = 0f32;
        let mut it = loader.epoch(epoch)?;
        while let Some(batch) = it.next() {
            let batch = batch?;
            n += batch.labels.len();
            // Touch the output so the work cannot be skipped.
            check += batch.images.first().copied().unwrap_or(0.0);
            it.recycle(batch);
        }
        std::hint::black_box(check);
        Ok(n)
    };
    run_epoch(epoch)?;
    let mut rates = Vec::with_capacity(plan.samples);
    for _ in 0..plan.samples {
        let t = Instant::now();
        let mut n = 0usize;
        while t.elapsed() < plan.min_sample {
            epoch += 1;
            n += run_epoch(epoch)?;
        }
        rates.push(n as f64 / t.elapsed().as_secs_f64());
    }
    Ok(median(rates))
}

/// Median drawings/s of one rasterizer on this thread.
fn raster_rate(drawings: &[Drawing], plan: &Plan) -> f64 {
    if drawings.is_empty() {
        return f64::NAN;
    }
    let mut r = Rasterizer::new(RasterConfig::default());
    let mut out: Bitmap = [0; IMAGE_PIXELS];
    let mut rates = Vec::with_capacity(plan.samples);
    for d in drawings.iter().take(64) {
        r.draw(&d.strokes, &mut out);
    }
    let mut k = 0usize;
    for _ in 0..plan.samples {
        let t = Instant::now();
        let mut n = 0usize;
        while t.elapsed() < plan.min_sample {
            for _ in 0..16 {
                let d = &drawings[k % drawings.len()];
                r.draw(&d.strokes, &mut out);
                std::hint::black_box(&out);
                k += 1;
                n += 1;
            }
        }
        rates.push(n as f64 / t.elapsed().as_secs_f64());
    }
    median(rates)
}

/// Median MB/s (10⁶ bytes) of parsing `bytes` into drawings on this thread.
fn ndjson_rate(bytes: &[u8], plan: &Plan) -> Result<f64> {
    parse_all(bytes)?;
    let mut rates = Vec::with_capacity(plan.samples);
    for _ in 0..plan.samples {
        let t = Instant::now();
        let mut n = 0usize;
        while t.elapsed() < plan.min_sample {
            std::hint::black_box(parse_all(bytes)?.len());
            n += bytes.len();
        }
        rates.push(n as f64 / 1e6 / t.elapsed().as_secs_f64());
    }
    Ok(median(rates))
}
