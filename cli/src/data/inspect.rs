//! `inkling data inspect PATH`: what a file or class directory holds, with a checksum.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use inkling::data::formats::bin::BinReader;
use inkling::data::formats::ndjson::NdjsonReader;
use inkling::data::formats::npy::NpyBitmaps;
use inkling::data::{Drawing, Error};

use super::source::{ClassDir, DirFormat};
use super::{fnv1a, InspectArgs, Result, FNV_OFFSET};

/// Runs `inkling data inspect`.
pub fn run(args: &InspectArgs) -> Result<()> {
    let path = &args.path;
    if path.is_dir() {
        return inspect_dir(path);
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let text = match ext {
        "npy" => npy_report(path)?,
        "parquet" => parquet_report(path)?,
        "bin" => strokes_report(path, DirFormat::Bin)?.text(),
        "ndjson" => strokes_report(path, DirFormat::Ndjson)?.text(),
        _ if !path.exists() => {
            return Err(Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
            )
            .into())
        }
        _ => {
            return Err(format!(
                "{}: unknown format (expected .npy, .parquet, .bin, .ndjson or a directory)",
                path.display()
            )
            .into())
        }
    };
    print!("{text}");
    Ok(())
}

/// Header, shape, checksum and ink statistics of one `.npy`.
fn npy_report(path: &Path) -> Result<String> {
    let f = NpyBitmaps::open(path)?;
    let h = f.header();
    let data = f.data();
    let (sum, nonzero) = data.iter().fold((0u64, 0u64), |(s, n), &v| {
        (s + u64::from(v), n + u64::from(v != 0))
    });
    let px = data.len().max(1) as f64;
    Ok(format!(
        "{}\n  format:       numpy_bitmap .npy, version {}.{}, uint8, C order\n  \
         shape:        {:?}\n  rows:         {}\n  data offset:  {} bytes\n  \
         data bytes:   {}\n  checksum:     fnv1a64:{:016x} (pixel data)\n  \
         mean pixel:   {:.2} / 255\n  ink coverage: {:.2} % of pixels non-zero\n",
        path.display(),
        h.version.0,
        h.version.1,
        h.shape,
        f.len(),
        h.data_offset,
        data.len(),
        fnv1a(FNV_OFFSET, data),
        sum as f64 / px,
        100.0 * nonzero as f64 / px,
    ))
}

/// Rows, label, word, checksum and ink statistics of one Parquet class file.
fn parquet_report(path: &Path) -> Result<String> {
    let f = inkling::data::formats::parquet::ParquetBitmaps::open(path)?;
    let (mut hash, mut sum, mut nonzero) = (FNV_OFFSET, 0u64, 0u64);
    for i in 0..f.len() {
        let row = f.get(i)?;
        hash = fnv1a(hash, row);
        for &v in row.iter() {
            sum += u64::from(v);
            nonzero += u64::from(v != 0);
        }
    }
    let px = (f.len() * inkling::data::IMAGE_PIXELS).max(1) as f64;
    Ok(format!(
        "{}\n  format:       Parquet, one class, 28×28 uint8 images\n  rows:         {}\n  \
         label:        {}\n  word:         {}\n  checksum:     fnv1a64:{:016x} (pixel data)\n  \
         mean pixel:   {:.2} / 255\n  ink coverage: {:.2} % of pixels non-zero\n",
        path.display(),
        f.len(),
        f.label().map_or("-".to_string(), |l| l.to_string()),
        f.word().unwrap_or("-"),
        hash,
        sum as f64 / px,
        100.0 * nonzero as f64 / px,
    ))
}

/// Counts over a stroke file.
#[derive(Default)]
struct StrokeStats {
    path: String,
    format: &'static str,
    bytes: u64,
    checksum: u64,
    drawings: u64,
    strokes: u64,
    points: u64,
    recognized: u64,
    countries: BTreeMap<String, u64>,
    words: BTreeMap<String, u64>,
}

impl StrokeStats {
    fn add(&mut self, d: &Drawing) {
        self.drawings += 1;
        self.strokes += d.strokes.len() as u64;
        self.points += d.strokes.iter().map(|s| s.x.len() as u64).sum::<u64>();
        self.recognized += u64::from(d.recognized);
        *self.countries.entry(d.countrycode.clone()).or_default() += 1;
        if !d.word.is_empty() {
            *self.words.entry(d.word.clone()).or_default() += 1;
        }
    }

    fn text(&self) -> String {
        let mut top: Vec<(&String, &u64)> = self.countries.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let top: Vec<String> = top
            .iter()
            .take(5)
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        let mut s = format!(
            "{}\n  format:       {}\n  bytes:        {}\n  checksum:     fnv1a64:{:016x} (whole file)\n  \
             drawings:     {}\n  strokes:      {}\n  points:       {}\n  recognized:   {}\n  \
             countries:    {} distinct (top: {})\n",
            self.path,
            self.format,
            self.bytes,
            self.checksum,
            self.drawings,
            self.strokes,
            self.points,
            self.recognized,
            self.countries.len(),
            top.join(", ")
        );
        if !self.words.is_empty() {
            let words: Vec<String> = self.words.iter().map(|(w, n)| format!("{w} {n}")).collect();
            s.push_str(&format!("  words:        {}\n", words.join(", ")));
        }
        s
    }
}

/// Streams a `.bin` or `.ndjson` file; the first bad record is the error.
fn strokes_report(path: &Path, format: DirFormat) -> Result<StrokeStats> {
    let mut st = StrokeStats {
        path: path.display().to_string(),
        format: match format {
            DirFormat::Bin => "binary .bin strokes",
            _ => "ndjson strokes",
        },
        ..Default::default()
    };
    let iter: Box<dyn Iterator<Item = inkling::data::Result<Drawing>>> = match format {
        DirFormat::Bin => Box::new(BinReader::open(path)?),
        _ => Box::new(NdjsonReader::open(path)?),
    };
    for d in iter {
        st.add(&d?);
    }
    let (bytes, checksum) = file_checksum(path)?;
    st.bytes = bytes;
    st.checksum = checksum;
    Ok(st)
}

/// (length, FNV-1a) of a whole file, streamed.
fn file_checksum(path: &Path) -> Result<(u64, u64)> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = vec![0u8; 1 << 16];
    let (mut len, mut hash) = (0u64, FNV_OFFSET);
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok((len, hash));
        }
        len += n as u64;
        hash = fnv1a(hash, &buf[..n]);
    }
}

/// One line per class file and a total; every file is validated (the first bad one is the error).
fn inspect_dir(dir: &Path) -> Result<()> {
    let cd = ClassDir::scan(dir)?;
    let mut out = format!(
        "{}\n  format:   {} (one file per class)\n  classes:  {}\n",
        dir.display(),
        cd.format.describe(),
        cd.classes.len()
    );
    let unit = if cd.format == DirFormat::Npy {
        "rows"
    } else {
        "drawings"
    };
    let width = cd.classes.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let mut total = 0u64;
    let mut combined = FNV_OFFSET;
    for (name, path) in &cd.classes {
        let (count, checksum) = match cd.format {
            DirFormat::Npy => {
                let f = NpyBitmaps::open(path)?;
                (f.len() as u64, fnv1a(FNV_OFFSET, f.data()))
            }
            format => {
                let st = strokes_report(path, format)?;
                (st.drawings, st.checksum)
            }
        };
        total += count;
        combined = fnv1a(combined, &checksum.to_le_bytes());
        out.push_str(&format!(
            "  {name:<width$}  {count:>9} {unit}  fnv1a64:{checksum:016x}\n"
        ));
    }
    out.push_str(&format!(
        "  total:    {total} {unit}\n  checksum: fnv1a64:{combined:016x} (of the per-file checksums, in name order)\n"
    ));
    print!("{out}");
    Ok(())
}
