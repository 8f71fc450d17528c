//! The `inkling` command.

mod bench;

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
}

#[derive(Subcommand)]
enum BenchWhat {
    /// Time the GEMM kernels against this CPU's measured peak and the `gemm` / `matrixmultiply`
    /// crates, back to back in the same run.
    Kernels(bench::KernelsArgs),
}

fn main() {
    let cli = Cli::parse();
    // A bad INKLING_ISA is reported here, before any kernel runs.
    let ks = match inkling::kernels::init() {
        Ok(ks) => ks,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let result = match cli.command {
        Command::Bench {
            what: BenchWhat::Kernels(args),
        } => bench::kernels(ks, &args),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
