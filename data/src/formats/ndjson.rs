//! Quick, Draw! ndjson drawings (`simplified` and `raw`): one JSON object a line.
//!
//! `simplified` strokes are `[[x…],[y…]]` with integer coordinates 0–255; `raw` strokes are
//! `[[x…],[y…],[t…]]` with float coordinates (screen pixels, which may be negative) and milliseconds. The reader streams line by line over
//! a `BufReader` (never the whole file); a bad line is an error naming the file, the line and what is
//! wrong. The writer writes the `simplified` layout, atomically.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::types::{Drawing, Stroke};

/// `key_id` is a string of digits in Google's files; a bare number is accepted too.
#[derive(Deserialize)]
#[serde(untagged)]
enum KeyId {
    Text(String),
    Number(u64),
}

/// One line as serde sees it; checked and converted by [`convert`].
#[derive(Deserialize)]
struct Line {
    word: String,
    countrycode: String,
    timestamp: String,
    recognized: bool,
    key_id: KeyId,
    // serde_json narrows an out-of-range number to inf here, which `coords` then rejects.
    drawing: Vec<Vec<Vec<f32>>>,
}

/// Longest line accepted by default: far above any real drawing (the largest `raw` lines are a few
/// hundred KB), low enough that a corrupt file cannot make the reader buffer gigabytes.
pub const MAX_LINE_BYTES: u64 = 16 << 20;

/// Streams the drawings of an ndjson file, one `Result<Drawing>` per non-blank line; after the first
/// error it yields nothing more.
pub struct NdjsonReader<R = BufReader<File>> {
    reader: R,
    path: PathBuf,
    line_no: usize,
    buf: Vec<u8>,
    /// The first blank line seen: allowed only if nothing but blank lines follows it.
    blank_at: Option<usize>,
    max_line: u64,
    done: bool,
}

impl NdjsonReader<BufReader<File>> {
    /// Opens `path` for streaming (64 KiB buffer).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        Ok(Self::from_reader(
            BufReader::with_capacity(1 << 16, file),
            path,
        ))
    }
}

impl<R: BufRead> NdjsonReader<R> {
    /// Streams from any buffered reader; `name` is the path errors report.
    pub fn from_reader(reader: R, name: impl Into<PathBuf>) -> Self {
        NdjsonReader {
            reader,
            path: name.into(),
            line_no: 0,
            buf: Vec::new(),
            blank_at: None,
            max_line: MAX_LINE_BYTES,
            done: false,
        }
    }

    /// Sets the longest line accepted (default [`MAX_LINE_BYTES`]); a longer one is an error.
    pub fn with_max_line_bytes(mut self, max: u64) -> Self {
        self.max_line = max;
        self
    }

    fn next_line(&mut self) -> Option<Result<Drawing>> {
        loop {
            self.buf.clear();
            let cap = self.max_line.saturating_add(1);
            let n = match (&mut self.reader)
                .take(cap)
                .read_until(b'\n', &mut self.buf)
            {
                Ok(n) => n,
                Err(e) => return Some(Err(Error::io(&self.path, e))),
            };
            if n == 0 {
                return None;
            }
            self.line_no += 1;
            let body = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
            if body.len() as u64 > self.max_line {
                return Some(Err(Error::format(
                    &self.path,
                    format!("line {}", self.line_no),
                    format!("line longer than {} bytes", self.max_line),
                )));
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                self.blank_at.get_or_insert(self.line_no);
                continue;
            }
            if let Some(blank) = self.blank_at {
                return Some(Err(Error::format(
                    &self.path,
                    format!("line {blank}"),
                    format!("blank line followed by a drawing on line {}", self.line_no),
                )));
            }
            let at = self.line_no;
            return Some(
                parse_line(&self.buf)
                    .map_err(|what| Error::format(&self.path, format!("line {at}"), what)),
            );
        }
    }
}

impl<R: BufRead> Iterator for NdjsonReader<R> {
    type Item = Result<Drawing>;

    fn next(&mut self) -> Option<Result<Drawing>> {
        if self.done {
            return None;
        }
        let item = self.next_line();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

/// Parses one ndjson line (simplified or raw) into a drawing; the error says what is wrong.
pub fn parse_line(line: &[u8]) -> std::result::Result<Drawing, String> {
    let parsed: Line = serde_json::from_slice(line).map_err(|e| format!("bad JSON: {e}"))?;
    convert(parsed)
}

fn convert(line: Line) -> std::result::Result<Drawing, String> {
    let key_id = match line.key_id {
        KeyId::Number(n) => n,
        KeyId::Text(s) => s
            .parse::<u64>()
            .map_err(|_| format!("key_id {s:?} is not a string of digits fitting in u64"))?,
    };
    let timestamp = parse_timestamp(&line.timestamp)?;
    if line.drawing.is_empty() {
        return Err("empty drawing (no strokes)".into());
    }
    let layout = line.drawing[0].len();
    let mut strokes = Vec::with_capacity(line.drawing.len());
    for (s, arrays) in line.drawing.into_iter().enumerate() {
        if arrays.len() != 2 && arrays.len() != 3 {
            return Err(format!(
                "stroke {s} has {} arrays (expected [x, y] or [x, y, t])",
                arrays.len()
            ));
        }
        if arrays.len() != layout {
            return Err(format!(
                "stroke {s} has {} arrays but stroke 0 has {layout}",
                arrays.len()
            ));
        }
        let mut it = arrays.into_iter();
        let (x, y, t) = (it.next(), it.next(), it.next());
        let (x, y) = (x.unwrap_or_default(), y.unwrap_or_default());
        if x.len() != y.len() {
            return Err(format!(
                "stroke {s}: x has {} points but y has {}",
                x.len(),
                y.len()
            ));
        }
        if x.is_empty() {
            return Err(format!("stroke {s} has no points"));
        }
        // Raw drawings (with times) are in screen pixels and do go negative off the canvas edge.
        let simplified = t.is_none();
        let x = coords(x, s, "x", simplified)?;
        let y = coords(y, s, "y", simplified)?;
        let t = match t {
            None => None,
            Some(t) => {
                if t.len() != x.len() {
                    return Err(format!(
                        "stroke {s}: t has {} values but x has {}",
                        t.len(),
                        x.len()
                    ));
                }
                Some(coords(t, s, "t", false)?)
            }
        };
        strokes.push(Stroke { x, y, t });
    }
    Ok(Drawing {
        word: line.word,
        countrycode: line.countrycode,
        timestamp,
        recognized: line.recognized,
        key_id,
        strokes,
    })
}

/// Checks that every value is finite and, for the simplified layout, within 0–255.
fn coords(
    v: Vec<f32>,
    stroke: usize,
    axis: &str,
    simplified: bool,
) -> std::result::Result<Vec<f32>, String> {
    for (i, &c) in v.iter().enumerate() {
        if !c.is_finite() {
            return Err(format!(
                "stroke {stroke}: {axis}[{i}] is not finite (or beyond f32)"
            ));
        } else if simplified && c < 0.0 {
            return Err(format!("stroke {stroke}: {axis}[{i}] = {c} is negative"));
        } else if simplified && c > 255.0 {
            return Err(format!("stroke {stroke}: {axis}[{i}] = {c} is above 255"));
        }
    }
    Ok(v)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a count of days since 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `"2017-03-02 23:25:10.07453 UTC"` (fraction and " UTC" optional) → Unix seconds (fraction dropped).
pub fn parse_timestamp(s: &str) -> std::result::Result<u32, String> {
    let bad = |why: &str| format!("timestamp {s:?}: {why}");
    let t = s.strip_suffix(" UTC").unwrap_or(s);
    let (date, time) = t
        .split_once(' ')
        .ok_or_else(|| bad("expected \"YYYY-MM-DD HH:MM:SS[.frac] UTC\""))?;
    let num = |part: &str, what: &str| -> std::result::Result<i64, String> {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) || part.len() > 4 {
            return Err(bad(&format!("bad {what} {part:?}")));
        }
        part.parse::<i64>()
            .map_err(|_| bad(&format!("bad {what} {part:?}")))
    };
    let mut dp = date.split('-');
    let (y, mo, d) = match (dp.next(), dp.next(), dp.next(), dp.next()) {
        (Some(y), Some(m), Some(d), None) => (num(y, "year")?, num(m, "month")?, num(d, "day")?),
        _ => return Err(bad("date is not YYYY-MM-DD")),
    };
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.is_empty() {
        return Err(bad("bad fraction of a second"));
    }
    let mut tp = hms.split(':');
    let (h, mi, sec) = match (tp.next(), tp.next(), tp.next(), tp.next()) {
        (Some(h), Some(m), Some(s), None) => {
            (num(h, "hour")?, num(m, "minute")?, num(s, "second")?)
        }
        _ => return Err(bad("time is not HH:MM:SS")),
    };
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return Err(bad("no such date"));
    }
    // 60 admits a leap second.
    if h > 23 || mi > 59 || sec > 60 {
        return Err(bad("no such time of day"));
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec;
    u32::try_from(secs).map_err(|_| bad("outside 1970–2106 (u32 Unix seconds)"))
}

/// Formats Unix seconds the way Google's ndjson does (without the fraction).
pub fn format_timestamp(unix: u32) -> String {
    let secs = i64::from(unix);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let tod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
}

/// Writes one drawing as a `simplified` line (no newline). Coordinates are rounded to integers and
/// must lie in 0–255 (the simplified layout); times are dropped.
fn write_line(out: &mut impl Write, d: &Drawing) -> std::result::Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    let js = |e: serde_json::Error| e.to_string();
    out.write_all(b"{\"word\":").map_err(io)?;
    serde_json::to_writer(&mut *out, &d.word).map_err(js)?;
    out.write_all(b",\"countrycode\":").map_err(io)?;
    serde_json::to_writer(&mut *out, &d.countrycode).map_err(js)?;
    write!(
        out,
        ",\"timestamp\":\"{}\",\"recognized\":{},\"key_id\":\"{}\",\"drawing\":[",
        format_timestamp(d.timestamp),
        d.recognized,
        d.key_id
    )
    .map_err(io)?;
    if d.strokes.is_empty() {
        return Err("empty drawing (no strokes)".into());
    }
    for (s, stroke) in d.strokes.iter().enumerate() {
        if stroke.x.len() != stroke.y.len() || stroke.x.is_empty() {
            return Err(format!(
                "stroke {s}: x has {} points and y {}",
                stroke.x.len(),
                stroke.y.len()
            ));
        }
        if s > 0 {
            out.write_all(b",").map_err(io)?;
        }
        for (a, axis) in [&stroke.x, &stroke.y].into_iter().enumerate() {
            out.write_all(if a == 0 { b"[[" } else { b",[" })
                .map_err(io)?;
            for (i, &c) in axis.iter().enumerate() {
                let r = c.round();
                if !(0.0..=255.0).contains(&r) {
                    return Err(format!(
                        "stroke {s}: coordinate {c} is outside 0–255 (the simplified layout)"
                    ));
                }
                if i > 0 {
                    out.write_all(b",").map_err(io)?;
                }
                write!(out, "{}", r as u8).map_err(io)?;
            }
            out.write_all(b"]").map_err(io)?;
        }
        out.write_all(b"]").map_err(io)?;
    }
    out.write_all(b"]}").map_err(io)
}

/// Writes `drawings` to `path` in the `simplified` ndjson layout, atomically (temp file in the same
/// directory, `sync_all`, rename); a drawing that does not fit the layout is an error naming it.
pub fn write_ndjson<'a>(
    path: impl AsRef<Path>,
    drawings: impl IntoIterator<Item = &'a Drawing>,
) -> Result<()> {
    let path = path.as_ref();
    let name = path
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("{}: not a file path", path.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        for (i, d) in drawings.into_iter().enumerate() {
            write_line(&mut out, d).map_err(|what| {
                Error::format(path, format!("drawing {i} (line {})", i + 1), what)
            })?;
            out.write_all(b"\n").map_err(|e| Error::io(&tmp, e))?;
        }
        let file = out
            .into_inner()
            .map_err(|e| Error::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if result.is_err() {
        // Best effort: the error being returned matters more than a failed cleanup.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests;
