//! `inkling quantize --method kmeans`: k-means weight sharing (2^bits values per layer) written as a
//! float32 `.tflite` file, with top-1 and the size a codebook format would take.
//!
//! The `.tflite` file stores the shared weights dequantized, so it is as large as the float one;
//! `compressed_bytes` is b bits per weight index plus a float32 codebook per layer (the rest of
//! the model float32), what a format with codebooks (or a zip of the file) would store.

use std::path::Path;

use inkling::quant::export::{to_tflite, write_file};
use inkling::quant::kmeans::{compressed_bytes, kmeans_share, KmeansLayer};

use crate::data::Result;
use crate::quantize::{inputs, top1, write_report, Inputs, QuantizeArgs};
use crate::trained;

/// What `--method kmeans` produced, for the report.
#[derive(serde::Serialize)]
struct Report {
    checkpoint: String,
    out: String,
    method: &'static str,
    bits: u32,
    seed: u64,
    eval_samples: usize,
    float_top1: Option<f64>,
    kmeans_top1: Option<f64>,
    /// The float32 `.tflite` file of the original weights.
    float_bytes: usize,
    /// The written `.tflite` file (shared weights stored as float32).
    tflite_bytes: usize,
    /// Every constant as float32 (the float model's parameter bytes).
    params_bytes: usize,
    /// Shared layers as b-bit indices plus a float32 codebook, everything else float32.
    compressed_bytes: usize,
    layers: Vec<KmeansLayer>,
}

/// Runs `inkling quantize --method kmeans`.
pub fn run(args: &QuantizeArgs) -> Result<()> {
    let bits = args.bits.unwrap_or(4);
    if !(1..=8).contains(&bits) {
        return Err(format!("--bits {bits}: k-means sharing takes 1 to 8 bits").into());
    }
    let path = &args.checkpoint;
    let Inputs {
        graph: g,
        info,
        val,
        seed,
        ..
    } = inputs(args, false)?;
    let (shared, layers) = trained::in_pool(|| kmeans_share(&g, bits, seed))??;
    let (float_top1, kmeans_top1) = if val.is_empty() {
        (None, None)
    } else {
        (
            Some(top1(&g, &val, "float top-1")?),
            Some(top1(&shared, &val, &format!("{bits}-bit top-1"))?),
        )
    };
    let float_bytes = to_tflite(&g, &info)?.len();
    let bytes = to_tflite(&shared, &info)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| path.with_file_name(format!("model_kmeans{bits}.tflite")));
    write_file(&out, &bytes)?;
    let report = Report {
        checkpoint: path.display().to_string(),
        out: out.display().to_string(),
        method: "kmeans",
        bits,
        seed,
        eval_samples: val.len(),
        float_top1,
        kmeans_top1,
        float_bytes,
        tflite_bytes: bytes.len(),
        params_bytes: compressed_bytes(&g, &[]),
        compressed_bytes: compressed_bytes(&shared, &layers),
        layers,
    };
    write_report(&report, &out, args.json, print_report)
}

fn print_report(r: &Report, report_path: &Path) {
    println!(
        "wrote {} ({:.2} MB: shared weights stored as float32) | {} bits: {:.2} MB as indices + codebooks, {:.3}× the {:.2} MB of float32 parameters",
        r.out,
        r.tflite_bytes as f64 / 1e6,
        r.bits,
        r.compressed_bytes as f64 / 1e6,
        r.compressed_bytes as f64 / r.params_bytes.max(1) as f64,
        r.params_bytes as f64 / 1e6
    );
    if let (Some(f), Some(k)) = (r.float_top1, r.kmeans_top1) {
        println!(
            "top-1 on {} validation images: float {:.2}% | k-means {} bits {:.2}% ({:+.2} points)",
            r.eval_samples,
            100.0 * f,
            r.bits,
            100.0 * k,
            100.0 * (k - f)
        );
    }
    let mut worst: Vec<&KmeansLayer> = r.layers.iter().collect();
    worst.sort_by(|a, b| a.sqnr_db.total_cmp(&b.sqnr_db));
    println!(
        "layers with the lowest weight SQNR (all {} in {}):",
        r.layers.len(),
        report_path.display()
    );
    for l in worst.iter().take(6) {
        println!(
            "  {:<36} {:<16} {:3} clusters {:6.1} dB",
            l.name, l.op, l.clusters, l.sqnr_db
        );
    }
}
