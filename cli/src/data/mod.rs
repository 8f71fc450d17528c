//! `inkling data …`: inspect files, list classes, view drawings, write the synthetic set.
//!
//! A "source" is either the built-in synthetic doodles (`--source synthetic`, the default, so every
//! command works on a fresh machine) or a directory with one file per class (`<class>.npy`,
//! `<class>.ndjson` or `<class>.bin`).

mod convert;
mod download;
mod inspect;
pub mod source;
mod synth;
mod view;

pub(crate) use view::atomic_write;

use std::path::PathBuf;

pub use source::Source;

/// Errors of the data commands (the data crate's errors name the file and the offset).
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The `inkling data` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum DataCmd {
    /// Describe a `.npy`, `.bin` or `.ndjson` file or a directory of them: format, shape, classes,
    /// counts, a checksum.
    Inspect(InspectArgs),
    /// Show drawings as a grid: block characters in the terminal (one row per class) and a PNG.
    View(ViewArgs),
    /// Print the class names of a source, one per line, in label order.
    ListClasses(ListArgs),
    /// Write the synthetic doodles to a directory, one file per class.
    Synth(SynthArgs),
    /// Download class files from Google's Quick, Draw! bucket (or a mirror): resumable, size and
    /// MD5 checked, atomic.
    Download(DownloadArgs),
    /// Convert a class directory (`.npy`, `.ndjson`, `.bin`) or the synthetic set to `.npy` or
    /// Parquet, one file per class (strokes are rasterized like the numpy_bitmap set).
    Convert(ConvertArgs),
}

/// Options of `inkling data convert`.
#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// `synthetic` or a directory of `<class>.npy` / `.ndjson` / `.bin` files.
    #[arg(long)]
    pub source: String,
    /// Directory to write `<class>.npy` or `<class>.parquet` into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// `npy` or `parquet`.
    #[arg(long, default_value = "parquet")]
    pub format: String,
    /// Class names (comma-separated) or a count N (the first N); default: all.
    #[arg(long)]
    pub classes: Option<String>,
    /// At most this many drawings per class, the first ones in file order (synthetic: default 1000).
    #[arg(long)]
    pub samples_per_class: Option<usize>,
}

/// Options of `inkling data download`.
#[derive(clap::Args, Debug)]
pub struct DownloadArgs {
    /// Class names, comma-separated, in Google's spelling (e.g. "cat,The Eiffel Tower").
    #[arg(long, conflicts_with = "num_classes")]
    pub classes: Option<String>,
    /// The first N of the 345 classes, in Google's order.
    #[arg(long)]
    pub num_classes: Option<usize>,
    /// npy (numpy_bitmap), ndjson (simplified), raw, bin, or parquet (fetches npy to convert).
    #[arg(long, default_value = "npy")]
    pub format: String,
    /// Directory to download into (files land in <out>/<bucket folder>/<class>.<ext>).
    #[arg(long, default_value = "quickdraw")]
    pub out: PathBuf,
    /// Base URL of the bucket or a mirror (default: $INKLING_QUICKDRAW_URL, else Google's).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Keep only the first K drawings per class (npy: a Range request for the header and K rows,
    /// rewritten as a K-row file; ndjson/raw: K lines; bin: K records; parquet: K rows of the npy).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub samples_per_class: Option<u64>,
}

/// Options of `inkling data inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// A `.npy`, `.bin` or `.ndjson` file, or a directory of one of them.
    pub path: PathBuf,
}

/// Options of `inkling data view`.
#[derive(clap::Args, Debug)]
pub struct ViewArgs {
    /// `synthetic` or a directory of `<class>.npy` / `.ndjson` / `.bin` files.
    #[arg(long, default_value = "synthetic")]
    pub source: String,
    /// Class names (comma-separated) or a count N (the first N in label order); default: the first 8.
    #[arg(long)]
    pub classes: Option<String>,
    /// Drawings per class.
    #[arg(long, default_value_t = 4)]
    pub num_samples: usize,
    /// Black ink on white (what the model sees after preprocessing) instead of white on black.
    #[arg(long)]
    pub invert_colors: bool,
    /// Also write the grid as a PNG here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Pixels per bitmap pixel in the PNG.
    #[arg(long, default_value_t = 2)]
    pub scale: usize,
    /// Seed: of the synthetic set, or of which rows are picked from `.npy` files.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Terminal width to wrap at (default: $COLUMNS, else 120).
    #[arg(long)]
    pub width: Option<usize>,
}

/// Options of `inkling data list-classes`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// `synthetic` or a directory of `<class>.npy` / `.ndjson` / `.bin` files.
    #[arg(long, default_value = "synthetic")]
    pub source: String,
}

/// Options of `inkling data synth`.
#[derive(clap::Args, Debug)]
pub struct SynthArgs {
    /// Directory to write `<class>.<format>` files into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// `npy` or `parquet` (28×28 bitmaps), `ndjson` (simplified strokes) or `bin` (Google's binary
    /// strokes).
    #[arg(long, default_value = "npy")]
    pub format: String,
    /// Drawings per class.
    #[arg(long, default_value_t = 1000)]
    pub samples_per_class: usize,
    /// Class names (comma-separated) or a count N (the first N); default: all.
    #[arg(long)]
    pub classes: Option<String>,
    /// Seed of the synthetic set.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Runs one `inkling data` subcommand.
pub fn run(cmd: &DataCmd) -> Result<()> {
    match cmd {
        DataCmd::Inspect(a) => inspect::run(a),
        DataCmd::View(a) => view::run(a),
        DataCmd::ListClasses(a) => list_classes(a),
        DataCmd::Synth(a) => synth::run(a),
        DataCmd::Download(a) => download::run(a),
        DataCmd::Convert(a) => convert::run(a),
    }
}

fn list_classes(args: &ListArgs) -> Result<()> {
    let source = Source::parse(&args.source)?;
    let names = source.class_names()?;
    eprintln!("{} classes in {}", names.len(), source.describe());
    let mut out = String::new();
    for n in &names {
        out.push_str(n);
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}

/// FNV-1a (64-bit) of `bytes`, continuing from `hash` (start with [`FNV_OFFSET`]).
pub fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// FNV-1a's starting value.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
    }
}
