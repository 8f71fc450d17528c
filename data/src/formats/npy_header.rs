//! The `.npy` preamble and header (NEP 1, `numpy.lib.format`): magic, version, header length, and the
//! Python dict literal `{'descr': …, 'fortran_order': …, 'shape': (…), }`, checked strictly for a
//! numpy_bitmap file: uint8, C order, `(N, 784)`, `(N, 28, 28)` or `(N, 1, 784)`.

use std::path::Path;

use crate::error::{Error, Result};
use crate::types::{IMAGE_PIXELS, IMAGE_SIDE};

/// The `.npy` magic string.
pub const NPY_MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Longest header accepted; numpy's own limit for reading is 10,000 bytes, real headers are ~118.
pub const MAX_HEADER_LEN: usize = 64 * 1024;

/// What a validated numpy_bitmap header says about the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    /// Format version (major, minor): (1, 0), (2, 0) or (3, 0).
    pub version: (u8, u8),
    /// The shape as written in the header (one of the three accepted forms).
    pub shape: Vec<usize>,
    /// Number of 784-byte rows (the shape's first dimension).
    pub rows: usize,
    /// Byte offset of the first row in the file.
    pub data_offset: usize,
}

impl NpyHeader {
    /// Parses and validates the preamble and header at the start of `bytes` (the whole file or at least
    /// its head); `path` only names the file in errors. Does not check the data length.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<NpyHeader> {
        let bad = |what: String| Error::format(path, "header", what);
        let magic = bytes.get(..6).ok_or_else(|| {
            bad(format!(
                "file is {} bytes, too short for the .npy magic",
                bytes.len()
            ))
        })?;
        if magic != NPY_MAGIC {
            return Err(bad(format!(
                "bad magic {magic:02x?}, expected \\x93NUMPY (not a .npy file)"
            )));
        }
        let (major, minor) = match bytes.get(6..8) {
            Some(&[a, b]) => (a, b),
            _ => return Err(bad("file ends inside the version bytes".into())),
        };
        let (len_size, utf8) = match (major, minor) {
            (1, 0) => (2, false),
            (2, 0) => (4, false),
            (3, 0) => (4, true),
            _ => {
                return Err(bad(format!(
                    "unsupported .npy version {major}.{minor} (1.0, 2.0 and 3.0 are known)"
                )))
            }
        };
        let len_end = 8 + len_size;
        let header_len = match bytes.get(8..len_end) {
            Some(&[a, b]) => usize::from(u16::from_le_bytes([a, b])),
            Some(&[a, b, c, d]) => usize::try_from(u32::from_le_bytes([a, b, c, d]))
                .map_err(|_| bad("header length does not fit in memory".into()))?,
            _ => return Err(bad("file ends inside the header length".into())),
        };
        if header_len > MAX_HEADER_LEN {
            return Err(bad(format!(
                "header length {header_len} exceeds the {MAX_HEADER_LEN}-byte limit"
            )));
        }
        let data_offset = len_end + header_len;
        let raw = bytes.get(len_end..data_offset).ok_or_else(|| {
            bad(format!(
                "header length {header_len} runs past the end of the file ({} bytes)",
                bytes.len()
            ))
        })?;
        let text =
            std::str::from_utf8(raw).map_err(|e| bad(format!("header is not valid UTF-8: {e}")))?;
        if !utf8 && !text.is_ascii() {
            return Err(bad(format!(
                "version {major}.{minor} header must be ASCII (UTF-8 needs version 3.0)"
            )));
        }
        let fields = parse_dict(text).map_err(|what| bad(format!("header dict: {what}")))?;
        let (rows, shape) = check_fields(&fields).map_err(bad)?;
        Ok(NpyHeader {
            version: (major, minor),
            shape,
            rows,
            data_offset,
        })
    }

    /// Bytes of pixel data the header promises (`rows × 784`), or `None` when that overflows.
    pub fn data_len(&self) -> Option<usize> {
        self.rows.checked_mul(IMAGE_PIXELS)
    }
}

/// A value in the header dict: the only literal kinds numpy writes there.
#[derive(Debug, PartialEq)]
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
}

/// Checks the three required keys (no others) and returns (rows, shape).
fn check_fields(fields: &[(String, Value)]) -> std::result::Result<(usize, Vec<usize>), String> {
    for key in fields.iter().map(|(k, _)| k) {
        if !matches!(key.as_str(), "descr" | "fortran_order" | "shape") {
            return Err(format!("unexpected key {key:?} in header"));
        }
    }
    let get = |key: &str| {
        let mut found = fields.iter().filter(|(k, _)| k == key);
        match (found.next(), found.next()) {
            (Some((_, v)), None) => Ok(v),
            (None, _) => Err(format!("header has no {key:?} key")),
            (Some(_), Some(_)) => Err(format!("header has {key:?} twice")),
        }
    };
    match get("descr")? {
        Value::Str(d) if matches!(d.as_str(), "|u1" | "<u1" | ">u1" | "u1") => {}
        Value::Str(d) => {
            return Err(format!(
                "dtype {d:?} is not uint8 ('|u1'); numpy_bitmap files hold uint8 pixels"
            ))
        }
        other => return Err(format!("descr must be a dtype string, found {other:?}")),
    }
    match get("fortran_order")? {
        Value::Bool(false) => {}
        Value::Bool(true) => {
            return Err("fortran_order is True; only C-order (row-major) arrays are read".into())
        }
        other => {
            return Err(format!(
                "fortran_order must be True or False, found {other:?}"
            ))
        }
    }
    let dims = match get("shape")? {
        Value::Tuple(dims) => dims,
        other => return Err(format!("shape must be a tuple, found {other:?}")),
    };
    let shape: Vec<usize> = dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("dimension {d} does not fit in memory")))
        .collect::<std::result::Result<_, _>>()?;
    let side = IMAGE_SIDE;
    match shape.as_slice() {
        &[n, IMAGE_PIXELS] | &[n, 1, IMAGE_PIXELS] => Ok((n, shape)),
        &[n, a, b] if a == side && b == side => Ok((n, shape)),
        _ => Err(format!(
            "shape {shape:?} is not (N, 784), (N, 28, 28) or (N, 1, 784) of 28x28 bitmaps"
        )),
    }
}

/// Parses a Python dict literal with string keys; trailing whitespace (the padding) is allowed.
fn parse_dict(text: &str) -> std::result::Result<Vec<(String, Value)>, String> {
    let mut p = Parser { s: text, pos: 0 };
    p.ws();
    p.expect('{', "header is not a Python dict literal (no '{')")?;
    let mut fields = Vec::new();
    loop {
        p.ws();
        if p.eat('}') {
            break;
        }
        let key = p.string()?;
        p.ws();
        p.expect(':', "expected ':' after a key")?;
        p.ws();
        let value = p.value()?;
        fields.push((key, value));
        p.ws();
        if p.eat(',') {
            continue;
        }
        p.ws();
        p.expect('}', "expected ',' or '}' after a value")?;
        break;
    }
    let rest = p.s.get(p.pos..).unwrap_or("");
    if !rest.trim().is_empty() {
        return Err(format!(
            "unexpected text after the dict at character {}",
            p.pos
        ));
    }
    Ok(fields)
}

/// A cursor over the header text; every method checks bounds through `get`.
struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos..).and_then(|r| r.chars().next())
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, what: &str) -> std::result::Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("{what} at character {}", self.pos))
        }
    }

    /// A quoted string without escapes (numpy never writes any in these fields).
    fn string(&mut self) -> std::result::Result<String, String> {
        let at = self.pos;
        let quote = match self.bump() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(format!("expected a quoted string at character {at}")),
        };
        let mut out = String::new();
        loop {
            match self.bump() {
                Some(c) if c == quote => return Ok(out),
                Some('\\') => return Err(format!("escape in string at character {at}")),
                Some(c) => out.push(c),
                None => return Err(format!("unterminated string at character {at}")),
            }
        }
    }

    fn value(&mut self) -> std::result::Result<Value, String> {
        let at = self.pos;
        match self.peek() {
            Some('\'' | '"') => self.string().map(Value::Str),
            Some('(') => self.tuple().map(Value::Tuple),
            Some(c) if c.is_ascii_alphabetic() => {
                let word = self.word();
                match word {
                    "True" => Ok(Value::Bool(true)),
                    "False" => Ok(Value::Bool(false)),
                    _ => Err(format!("unexpected value {word:?} at character {at}")),
                }
            }
            _ => Err(format!("unexpected value at character {at}")),
        }
    }

    fn word(&mut self) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
            self.bump();
        }
        self.s.get(start..self.pos).unwrap_or("")
    }

    /// `(a, b, …)` of non-negative integers; `(n,)` and `()` too.
    fn tuple(&mut self) -> std::result::Result<Vec<u64>, String> {
        self.expect('(', "expected '('")?;
        let mut dims = Vec::new();
        loop {
            self.ws();
            if self.eat(')') {
                return Ok(dims);
            }
            let at = self.pos;
            let digits = self.word();
            let dim: u64 = digits
                .strip_suffix('L') // Python 2 longs
                .unwrap_or(digits)
                .parse()
                .map_err(|_| format!("bad dimension {digits:?} at character {at}"))?;
            dims.push(dim);
            self.ws();
            if self.eat(',') {
                continue;
            }
            self.expect(')', "expected ',' or ')' in shape")?;
            return Ok(dims);
        }
    }
}

/// The version 1.0 header numpy would write for `rows` bitmaps, padded so the data starts at a
/// multiple of 64 bytes: preamble + dict + spaces + newline.
pub fn encode_header(rows: usize) -> Vec<u8> {
    let dict =
        format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({rows}, {IMAGE_PIXELS}), }}");
    // 10 = magic (6) + version (2) + u16 length; +1 for the newline.
    let unpadded = 10 + dict.len() + 1;
    let total = unpadded.div_ceil(64) * 64;
    let header_len = total - 10;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(NPY_MAGIC);
    out.extend_from_slice(&[1, 0]);
    // A usize-formatted row count is at most 20 digits, so the header is far below u16::MAX.
    let len16 = u16::try_from(header_len).unwrap_or(u16::MAX);
    out.extend_from_slice(&len16.to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out
}
