//! `inkling export`: a checkpoint as a `.tflite` file (float32, or int8 through `quantize`).

use std::path::PathBuf;

use inkling::quant::export::{to_tflite, write_file};

use crate::data::Result;
use crate::quantize::{self, float_graph, QuantizeArgs};
use crate::trained;

/// Options of `inkling export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// A checkpoint written by `inkling train`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// File format: tflite.
    #[arg(long, default_value = "tflite")]
    pub format: String,
    /// float32, or int8 (post-training quantization with `inkling quantize`'s defaults).
    #[arg(long, default_value = "float32")]
    pub precision: String,
    /// Output file (default: model_<precision>.tflite beside the checkpoint).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Runs `inkling export`.
pub fn run(args: &ExportArgs) -> Result<()> {
    if args.format != "tflite" {
        return Err(format!(
            "--format {:?}: only tflite is available (ExecuTorch .pte is not written yet)",
            args.format
        )
        .into());
    }
    match args.precision.as_str() {
        "int8" => quantize::run(&QuantizeArgs {
            checkpoint: args.checkpoint.clone(),
            method: "int8".into(),
            alpha: "auto".into(),
            bits: None,
            observer: "minmax".into(),
            calibration_samples: inkling::data::pipeline::DEFAULT_CALIBRATION_SAMPLES,
            eval_samples: None,
            out: args.out.clone(),
            json: false,
            threads: args.threads,
            qat: Default::default(),
            wq: Default::default(),
        }),
        "float32" | "f32" => {
            trained::set_threads(args.threads)?;
            let mut t = trained::load(&args.checkpoint)?;
            let (g, info) = float_graph(&mut t)?;
            let bytes = to_tflite(&g, &info)?;
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| args.checkpoint.with_file_name("model_float32.tflite"));
            write_file(&out, &bytes)?;
            println!(
                "wrote {} ({:.2} MB, float32, {} ops)",
                out.display(),
                bytes.len() as f64 / 1e6,
                g.nodes.len()
            );
            Ok(())
        }
        p => Err(format!("--precision {p:?}: expected float32 or int8").into()),
    }
}
