//! Google's binary `.bin` stroke format (the `binary/` folder, one file per class), streamed record by
//! record. A record, little-endian: key_id u64, countrycode 2 ASCII bytes, recognized u8, timestamp
//! u32, n_strokes u16, then per stroke n_points u16, `x[n_points]` u8, `y[n_points]` u8.

#[cfg(test)]
#[path = "bin_tests.rs"]
mod tests;

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};

use crate::atomic::AtomicFile;
use crate::error::{Error, Result};
use crate::types::{Drawing, Stroke};

/// Bytes before the strokes: key_id 8 + countrycode 2 + recognized 1 + timestamp 4 + n_strokes 2.
const RECORD_HEAD: usize = 17;

/// Reads drawings one record at a time from a `.bin` stream (a file through a [`BufReader`], or any
/// reader); yields an error and then stops at the first bad record.
pub struct BinReader<R: Read = BufReader<File>> {
    path: PathBuf,
    input: R,
    /// Index of the next record.
    record: u64,
    /// Byte offset of the next unread byte.
    offset: u64,
    done: bool,
}

impl BinReader<BufReader<File>> {
    /// Opens `path` for streaming.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        Ok(BinReader::new(
            path,
            BufReader::with_capacity(1 << 16, file),
        ))
    }
}

impl<R: Read> BinReader<R> {
    /// Streams records from `input`; `path` only names the source in errors.
    pub fn new(path: impl Into<PathBuf>, input: R) -> Self {
        BinReader {
            path: path.into(),
            input,
            record: 0,
            offset: 0,
            done: false,
        }
    }

    /// Fills `buf` completely; returns how many bytes were read before end of file.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut got = 0;
        while let Some(rest) = buf.get_mut(got..).filter(|r| !r.is_empty()) {
            match self.input.read(rest) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(&self.path, e)),
            }
        }
        self.offset += got as u64;
        Ok(got)
    }

    /// Reads exactly `buf.len()` bytes of `what` in a record that started at `start`.
    fn exact(&mut self, buf: &mut [u8], start: u64, what: &str) -> Result<()> {
        let got = self.fill(buf)?;
        if got < buf.len() {
            return Err(self.truncated(start, what, buf.len() - got));
        }
        Ok(())
    }

    fn truncated(&self, start: u64, what: &str, missing: usize) -> Error {
        Error::format(
            &self.path,
            format!("record {} (byte {start})", self.record),
            format!(
                "record cut short: file ends at byte {} in {what} ({missing} more bytes needed)",
                self.offset
            ),
        )
    }

    /// The next record, `Ok(None)` at a clean end of file.
    fn next_record(&mut self) -> Result<Option<Drawing>> {
        let start = self.offset;
        let mut head = [0u8; RECORD_HEAD];
        let got = self.fill(&mut head)?;
        if got == 0 {
            return Ok(None);
        }
        if got < RECORD_HEAD {
            return Err(self.truncated(start, "the record header", RECORD_HEAD - got));
        }
        let [k0, k1, k2, k3, k4, k5, k6, k7, c0, c1, rec, t0, t1, t2, t3, s0, s1] = head;
        let key_id = u64::from_le_bytes([k0, k1, k2, k3, k4, k5, k6, k7]);
        if !c0.is_ascii() || !c1.is_ascii() {
            return Err(Error::format(
                &self.path,
                format!("record {} (byte {start})", self.record),
                format!("countrycode bytes {:02x?} are not ASCII", [c0, c1]),
            ));
        }
        let countrycode: String = [char::from(c0), char::from(c1)].iter().collect();
        let timestamp = u32::from_le_bytes([t0, t1, t2, t3]);
        let n_strokes = u16::from_le_bytes([s0, s1]);
        let mut strokes = Vec::with_capacity(usize::from(n_strokes));
        let mut coords = Vec::new();
        for s in 0..n_strokes {
            let mut n = [0u8; 2];
            self.exact(&mut n, start, &format!("stroke {s}'s point count"))?;
            let n_points = usize::from(u16::from_le_bytes(n));
            // x then y; the bytes are read before anything is sized by them beyond 128 KiB.
            coords.resize(2 * n_points, 0);
            self.exact(&mut coords, start, &format!("stroke {s}'s coordinates"))?;
            let (xs, ys) = coords.split_at(n_points);
            strokes.push(Stroke {
                x: xs.iter().map(|&v| f32::from(v)).collect(),
                y: ys.iter().map(|&v| f32::from(v)).collect(),
                t: None,
            });
        }
        self.record += 1;
        Ok(Some(Drawing {
            word: String::new(),
            countrycode,
            timestamp,
            recognized: rec != 0,
            key_id,
            strokes,
        }))
    }
}

impl<R: Read> Iterator for BinReader<R> {
    type Item = Result<Drawing>;

    fn next(&mut self) -> Option<Result<Drawing>> {
        if self.done {
            return None;
        }
        match self.next_record() {
            Ok(Some(d)) => Some(Ok(d)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                // The stream position is lost inside a bad record; stop rather than misread the rest.
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Appends the `.bin` record of `d` to `out`: coordinates must be finite and within 0–255 (rounded
/// to the nearest integer), at most 65,535 strokes and points per stroke, x and y of equal length,
/// countrycode exactly 2 ASCII bytes; `word` and timings are not stored by the format.
pub fn encode_drawing(d: &Drawing, out: &mut Vec<u8>) -> std::result::Result<(), String> {
    let cc = d.countrycode.as_bytes();
    let &[c0, c1] = cc else {
        return Err(format!("countrycode {:?} is not 2 bytes", d.countrycode));
    };
    if !c0.is_ascii() || !c1.is_ascii() {
        return Err(format!("countrycode {:?} is not ASCII", d.countrycode));
    }
    let n_strokes = u16::try_from(d.strokes.len())
        .map_err(|_| format!("{} strokes (at most 65535)", d.strokes.len()))?;
    out.extend_from_slice(&d.key_id.to_le_bytes());
    out.extend_from_slice(&[c0, c1, u8::from(d.recognized)]);
    out.extend_from_slice(&d.timestamp.to_le_bytes());
    out.extend_from_slice(&n_strokes.to_le_bytes());
    for (s, stroke) in d.strokes.iter().enumerate() {
        if stroke.x.len() != stroke.y.len() {
            return Err(format!(
                "stroke {s} has {} x and {} y coordinates",
                stroke.x.len(),
                stroke.y.len()
            ));
        }
        let n = u16::try_from(stroke.x.len())
            .map_err(|_| format!("stroke {s} has {} points (at most 65535)", stroke.x.len()))?;
        out.extend_from_slice(&n.to_le_bytes());
        for (axis, vals) in [("x", &stroke.x), ("y", &stroke.y)] {
            for (p, &v) in vals.iter().enumerate() {
                let r = v.round();
                if !(0.0..=255.0).contains(&r) {
                    return Err(format!(
                        "stroke {s} point {p}: {axis} = {v} is outside 0-255"
                    ));
                }
                // In 0..=255 and integral, so the conversion is exact.
                out.push(r as u8);
            }
        }
    }
    Ok(())
}

/// Writes `drawings` to `path` in `.bin` format, atomically; an error naming the drawing when one
/// cannot be encoded (see [`encode_drawing`]), in which case no file is written.
pub fn write_bin<'a>(
    path: impl AsRef<Path>,
    drawings: impl IntoIterator<Item = &'a Drawing>,
) -> Result<()> {
    let path = path.as_ref();
    let mut out = AtomicFile::create(path)?;
    let mut buf = Vec::new();
    for (i, d) in drawings.into_iter().enumerate() {
        buf.clear();
        encode_drawing(d, &mut buf)
            .map_err(|what| Error::Invalid(format!("{}: drawing {i}: {what}", path.display())))?;
        out.write_all(&buf)?;
    }
    out.commit()
}
