//! The `inkling` command.

mod bench;
mod data;
mod eval;
mod export;
mod images;
mod infer;
mod pipeline;
mod plot;
mod profile;
mod qat;
mod quantize;
mod quantize_kmeans;
mod quantize_smooth;
mod quantize_wq;
mod report;
mod rng;
mod train;
mod trained;

use clap::{Parser, Subcommand};

/// Inkling: train, compress and export doodle classifiers on CPUs.
#[derive(Parser)]
#[command(name = "inkling", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure performance on this machine.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// Look at, list and generate Quick, Draw! data.
    Data {
        #[command(subcommand)]
        what: data::DataCmd,
    },
    /// Train a model (default: a small ViT on the built-in synthetic doodles).
    Train(Box<train::TrainArgs>),
    /// Evaluate a checkpoint: top-1/top-3, per-class precision/recall/F1, confusion of the worst
    /// classes (text, JSON, Markdown, plots).
    Eval(eval::EvalArgs),
    /// Post-training int8 quantization of a checkpoint into a `.tflite` (LiteRT + XNNPACK), with
    /// a per-layer error report and float vs int8 top-1.
    Quantize(quantize::QuantizeArgs),
    /// Write a checkpoint as a `.tflite` file (float32, or int8 via quantize).
    Export(export::ExportArgs),
    /// Run a `.tflite` file with Inkling's runtime: top-1 on data, or batch-1 latency.
    Infer(infer::InferArgs),
    /// Compare every compression method on one checkpoint (same calibration set and split):
    /// accuracy, size, latency (ours and LiteRT), peak memory; report.md, report.json and plots.
    Report(Box<report::ReportArgs>),
    /// The main job: train, compress with every method, export, and write the report.
    Pipeline(Box<pipeline::PipelineArgs>),
}

#[derive(Subcommand)]
enum BenchWhat {
    /// Time the GEMM kernels against this CPU's measured peak and the `gemm` / `matrixmultiply`
    /// crates, back to back in the same run.
    Kernels(bench::KernelsArgs),
    /// Time the data pipeline: loader batches from memory-mapped `.npy` (with and without
    /// augmentation), rasterization and ndjson parsing.
    Data(bench::DataArgs),
    /// Time training steps (forward, backward, AdamW) of a model on synthetic inputs, optionally
    /// next to PyTorch in the same run.
    Train(bench::TrainBenchArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench {
            what: BenchWhat::Kernels(args),
        } => {
            // A bad INKLING_ISA is reported here, before any kernel runs.
            let ks = match inkling::kernels::init() {
                Ok(ks) => ks,
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(2);
                }
            };
            bench::kernels(ks, &args)
        }
        Command::Bench {
            what: BenchWhat::Data(args),
        } => bench::data(&args),
        Command::Bench {
            what: BenchWhat::Train(args),
        } => bench::train(&args),
        Command::Data { what } => data::run(&what),
        Command::Train(args) => train::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Quantize(args) => quantize::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Infer(args) => infer::run(&args),
        Command::Report(args) => report::run(&args).map(|r| report::print_summary(&r, &args)),
        Command::Pipeline(args) => pipeline::run(&args),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
