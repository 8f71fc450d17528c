//! One resumable, verified, atomic HTTP download: bytes accumulate in `<target>.part` across runs
//! (continued with `Range: bytes=<len>-`), the result is checked against the server's size and, when
//! the server sends `x-goog-hash: md5=…`, its MD5, and only then synced and renamed over the target.
//!
//! Google Cloud Storage's `x-goog-hash` describes the whole object, also on a 206 answer, so on resume
//! the bytes already in the part file are hashed first and the check covers the whole file.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use ureq::http::{HeaderMap, StatusCode};

use super::Progress;
use crate::error::{Error, Result};
use crate::formats::npy::{encode_header, NpyHeader, MAX_HEADER_LEN};
use crate::types::IMAGE_PIXELS;

/// What [`fetch_file`] did.
pub(super) struct Outcome {
    pub(super) bytes: u64,
    pub(super) skipped: bool,
    pub(super) md5_verified: bool,
}

/// Downloads `url` (the file of `class`) to `target`; see the module doc.
pub(super) fn fetch_file(
    agent: &ureq::Agent,
    url: &str,
    class: &str,
    target: &Path,
    progress: &mut Progress<'_>,
) -> Result<Outcome> {
    if let Some(bytes) = already_complete(agent, url, class, target)? {
        progress(class, bytes, Some(bytes));
        return Ok(Outcome {
            bytes,
            skipped: true,
            md5_verified: false,
        });
    }
    let part = part_path(target);
    let mut have = match std::fs::metadata(&part) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(Error::io(&part, e)),
    };
    // At most two requests: a resume attempt, then (if the part turns out to be stale) a fresh start.
    for _ in 0..2 {
        let mut request = agent.get(url);
        if have > 0 {
            request = request.header("Range", format!("bytes={have}-"));
        }
        let mut response = request.call().map_err(|e| network(url, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let (start, total) = match status {
            StatusCode::OK => (0, content_length(url, &headers)?),
            StatusCode::PARTIAL_CONTENT => match content_range(url, &headers)? {
                (Some(first), total) if first == have => (have, total),
                // A range we did not ask for: trust nothing in the part file.
                _ => {
                    remove_if_present(&part)?;
                    have = 0;
                    continue;
                }
            },
            StatusCode::RANGE_NOT_SATISFIABLE if have > 0 => {
                if let (None, Some(total)) = content_range(url, &headers)? {
                    if total == have {
                        // The previous run got every byte but stopped before the rename.
                        let expected = served_md5(url, &headers)?;
                        let md5_verified = match expected {
                            Some(want) => {
                                check_md5(url, &part, want, hash_file(&part, Md5::new())?)?;
                                true
                            }
                            None => false,
                        };
                        publish(&part, target)?;
                        progress(class, have, Some(have));
                        return Ok(Outcome {
                            bytes: have,
                            skipped: false,
                            md5_verified,
                        });
                    }
                }
                remove_if_present(&part)?;
                have = 0;
                continue;
            }
            StatusCode::NOT_FOUND => {
                return Err(Error::Invalid(format!(
                    "class {class:?}: {url}: HTTP 404 Not Found (no such file on the server)"
                )))
            }
            other => {
                return Err(Error::Invalid(format!(
                    "class {class:?}: {url}: unexpected HTTP status {other}"
                )))
            }
        };
        let expected = served_md5(url, &headers)?;
        let file = if start == 0 {
            File::create(&part)
        } else {
            OpenOptions::new().append(true).open(&part)
        }
        .map_err(|e| Error::io(&part, e))?;
        let hasher = match (expected, start) {
            (Some(_), 0) => Some(Md5::new()),
            (Some(_), _) => Some(hash_file(&part, Md5::new())?),
            (None, _) => None,
        };
        let mut body = response.body_mut().as_reader();
        let (done, hasher) = stream(
            url, class, &part, file, &mut body, start, total, hasher, progress,
        )?;
        let md5_verified = match (expected, hasher) {
            (Some(want), Some(h)) => {
                check_md5(url, &part, want, h)?;
                true
            }
            _ => false,
        };
        publish(&part, target)?;
        return Ok(Outcome {
            bytes: done,
            skipped: false,
            md5_verified,
        });
    }
    Err(Error::Invalid(format!(
        "class {class:?}: {url}: the server's answers to range requests are inconsistent; \
         giving up (delete {} to start over)",
        part.display()
    )))
}

/// `<target>.part`, the resumable temporary next to the target (same directory: the rename is atomic).
fn part_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_os_string();
    name.push(".part");
    PathBuf::from(name)
}

/// The target's size when it exists and a HEAD request says the server's file has that size.
fn already_complete(
    agent: &ureq::Agent,
    url: &str,
    class: &str,
    target: &Path,
) -> Result<Option<u64>> {
    let len = match std::fs::metadata(target) {
        Ok(m) if m.is_file() => m.len(),
        Ok(_) => return Err(Error::Invalid(format!("{}: not a file", target.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(target, e)),
    };
    let response = agent.head(url).call().map_err(|e| network(url, e))?;
    match response.status() {
        StatusCode::OK => {
            Ok(content_length(url, response.headers())?.filter(|&total| total == len))
        }
        StatusCode::NOT_FOUND => Err(Error::Invalid(format!(
            "class {class:?}: {url}: HTTP 404 Not Found (no such file on the server)"
        ))),
        // Some servers refuse HEAD; the GET that follows will tell.
        _ => Ok(None),
    }
}

/// Copies the body into the part file from byte `start`, reporting progress; checks the final size.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename the arguments.
fn stream(
    url: &str,
    class: &str,
    part: &Path,
    mut file: File,
    body: &mut impl Read,
    start: u64,
    total: Option<u64>,
    mut hasher: Option<Md5>,
    progress: &mut Progress<'_>,
) -> Result<(u64, Option<Md5>)> {
    let mut buf = vec![0u8; 1 << 16];
    let mut done = start;
    progress(class, done, total);
    let cut_short = |done: u64, why: String| {
        let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
        Error::format(
            url,
            format!("byte {done}"),
            format!(
                "download cut short after {done}{of} bytes ({why}); {} kept, run again to resume",
                part.display()
            ),
        )
    };
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Keep what arrived so the next run resumes from it.
                file.sync_all().map_err(|e| Error::io(part, e))?;
                return Err(cut_short(done, e.to_string()));
            }
        };
        let chunk = buf.get(..n).unwrap_or(&[]);
        file.write_all(chunk).map_err(|e| Error::io(part, e))?;
        if let Some(h) = hasher.as_mut() {
            h.update(chunk);
        }
        done = done.saturating_add(n as u64);
        if total.is_some_and(|t| done > t) {
            drop(file);
            remove_if_present(part)?;
            return Err(Error::format(
                url,
                format!("byte {done}"),
                format!(
                    "more bytes than the announced {:?}; part file deleted",
                    total
                ),
            ));
        }
        progress(class, done, total);
    }
    file.sync_all().map_err(|e| Error::io(part, e))?;
    if let Some(t) = total {
        if done != t {
            return Err(cut_short(done, "connection closed".into()));
        }
    }
    Ok((done, hasher))
}

/// Renames the finished, synced part file over the target.
fn publish(part: &Path, target: &Path) -> Result<()> {
    std::fs::rename(part, target).map_err(|e| Error::io(target, e))
}

/// Removes a file if present.
pub(super) fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Feeds the whole of `path` into `hasher`.
fn hash_file(path: &Path, mut hasher: Md5) -> Result<Md5> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(hasher);
        }
        hasher.update(buf.get(..n).unwrap_or(&[]));
    }
}

/// Compares the digest with the server's; a mismatch deletes the part file (its bytes are bad).
fn check_md5(url: &str, part: &Path, want: [u8; 16], hasher: Md5) -> Result<()> {
    let got: [u8; 16] = hasher.finalize().into();
    if got == want {
        return Ok(());
    }
    remove_if_present(part)?;
    Err(Error::format(
        url,
        "md5",
        format!(
            "downloaded bytes hash to {}, the server's x-goog-hash says {}; part file deleted",
            hex(&got),
            hex(&want)
        ),
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn network(url: &str, e: ureq::Error) -> Error {
    Error::io(url, std::io::Error::other(e))
}

fn header_str<'h>(url: &str, headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| Error::format(url, name, "header is not ASCII")),
    }
}

/// `Content-Length`, if sent.
fn content_length(url: &str, headers: &HeaderMap) -> Result<Option<u64>> {
    header_str(url, headers, "content-length")?
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| Error::format(url, "content-length", format!("not a size: {s:?}")))
        })
        .transpose()
}

/// `Content-Range: bytes <first>-<last>/<total>` (or `bytes */<total>` on 416) as (first, total);
/// a total of `*` is `None`.
fn content_range(url: &str, headers: &HeaderMap) -> Result<(Option<u64>, Option<u64>)> {
    let bad = |s: &str| Error::format(url, "content-range", format!("malformed: {s:?}"));
    let Some(s) = header_str(url, headers, "content-range")? else {
        return Err(Error::format(url, "content-range", "missing"));
    };
    let rest = s.strip_prefix("bytes ").ok_or_else(|| bad(s))?;
    let (range, total) = rest.split_once('/').ok_or_else(|| bad(s))?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse::<u64>().map_err(|_| bad(s))?),
    };
    let first = match range.trim() {
        "*" => None,
        r => {
            let (first, last) = r.split_once('-').ok_or_else(|| bad(s))?;
            let first = first.trim().parse::<u64>().map_err(|_| bad(s))?;
            let last = last.trim().parse::<u64>().map_err(|_| bad(s))?;
            if last < first || total.is_some_and(|t| last >= t) {
                return Err(bad(s));
            }
            Some(first)
        }
    };
    Ok((first, total))
}

/// The MD5 the served bytes must have: `x-goog-hash`'s, unless GCS says it transcoded the stored
/// object (`x-goog-stored-content-encoding: gzip` served decompressed), when the hash describes the
/// stored bytes, not ours, and only the size can be checked.
fn served_md5(url: &str, headers: &HeaderMap) -> Result<Option<[u8; 16]>> {
    match header_str(url, headers, "x-goog-stored-content-encoding")? {
        Some(enc) if !enc.eq_ignore_ascii_case("identity") => Ok(None),
        _ => expected_md5(url, headers),
    }
}

/// The MD5 from `x-goog-hash: crc32c=…, md5=<base64>` (possibly over several header lines), if any.
fn expected_md5(url: &str, headers: &HeaderMap) -> Result<Option<[u8; 16]>> {
    for value in headers.get_all("x-goog-hash") {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            if let Some(b64) = item.trim().strip_prefix("md5=") {
                let bytes = base64_decode(b64.trim()).ok_or_else(|| {
                    Error::format(url, "x-goog-hash", format!("md5 is not base64: {b64:?}"))
                })?;
                let digest: [u8; 16] = bytes.try_into().map_err(|_| {
                    Error::format(url, "x-goog-hash", format!("md5 is not 16 bytes: {b64:?}"))
                })?;
                return Ok(Some(digest));
            }
        }
    }
    Ok(None)
}

/// Standard base64 (with `=` padding optional); `None` on any other character.
pub(super) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// How much of a file a capped download keeps (see [`fetch_capped`]).
#[derive(Clone, Copy, Debug)]
pub(super) enum Cap {
    /// The `.npy` header and the first K rows; the header is rewritten to say K rows.
    NpyRows(u64),
    /// The first K non-blank lines of an `.ndjson` file.
    Lines(u64),
    /// The first K records of a `.bin` file.
    BinRecords(u64),
}

/// `<target>.capped.part`: a capped download's temporary, apart from a full download's `.part` so
/// neither clobbers the other's resumable bytes.
pub(super) fn capped_part_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_os_string();
    name.push(".capped.part");
    PathBuf::from(name)
}

/// `<target>.capped`: the sidecar marking a published file as a capped prefix. It holds
/// `<requested K> <kept>`; a file without one is a whole file (checked by size against the server).
pub(super) fn sidecar_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_os_string();
    name.push(".capped");
    PathBuf::from(name)
}

/// The sidecar's `(requested, kept)`, `None` when there is none (or it is unreadable garbage).
pub(super) fn read_sidecar(target: &Path) -> Result<Option<(u64, u64)>> {
    let side = sidecar_path(target);
    let text = match std::fs::read_to_string(&side) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&side, e)),
    };
    let mut it = text.split_whitespace().map(str::parse::<u64>);
    Ok(match (it.next(), it.next()) {
        (Some(Ok(k)), Some(Ok(kept))) => Some((k, kept)),
        _ => None,
    })
}

/// What [`fetch_capped`] did.
pub(super) struct CappedOutcome {
    pub(super) bytes: u64,
    pub(super) kept: u64,
    pub(super) skipped: bool,
}

/// Downloads only a prefix of `url` (the file of `class`) to `target`, as `cap` says, and records the
/// cap in `target`'s sidecar. A capped file is never resumed (it is small) and never MD5-checked (the
/// server's hash is of the whole object); a rerun with the same cap skips it, any other cap or a full
/// download replaces it. For `.npy` it asks for `Range: bytes=0-N` and stops reading after the header
/// and K rows either way, so a server ignoring `Range` (200, whole body) works too.
pub(super) fn fetch_capped(
    agent: &ureq::Agent,
    url: &str,
    class: &str,
    target: &Path,
    cap: Cap,
    progress: &mut Progress<'_>,
) -> Result<CappedOutcome> {
    let k = match cap {
        Cap::NpyRows(k) | Cap::Lines(k) | Cap::BinRecords(k) => k,
    };
    if target.is_file() {
        if let Some((want, kept)) = read_sidecar(target)? {
            if want == k {
                let bytes = std::fs::metadata(target)
                    .map_err(|e| Error::io(target, e))?
                    .len();
                progress(class, bytes, Some(bytes));
                return Ok(CappedOutcome {
                    bytes,
                    kept,
                    skipped: true,
                });
            }
        }
    }
    let mut request = agent.get(url);
    if let Cap::NpyRows(k) = cap {
        // Preamble (≤ 12 bytes) + the longest header accepted + K rows; reading stops at what is needed.
        let end = (12 + MAX_HEADER_LEN as u64)
            .saturating_add(k.saturating_mul(IMAGE_PIXELS as u64))
            .saturating_sub(1);
        request = request.header("Range", format!("bytes=0-{end}"));
    }
    let mut response = request.call().map_err(|e| network(url, e))?;
    match response.status() {
        StatusCode::OK => {}
        StatusCode::PARTIAL_CONTENT => {
            if content_range(url, response.headers())?.0 != Some(0) {
                return Err(Error::format(
                    url,
                    "content-range",
                    "the server answered a range that does not start at byte 0",
                ));
            }
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            return Err(Error::format(
                url,
                "byte 0",
                "the file on the server is empty",
            ))
        }
        StatusCode::NOT_FOUND => {
            return Err(Error::Invalid(format!(
                "class {class:?}: {url}: HTTP 404 Not Found (no such file on the server)"
            )))
        }
        other => {
            return Err(Error::Invalid(format!(
                "class {class:?}: {url}: unexpected HTTP status {other}"
            )))
        }
    }
    let part = capped_part_path(target);
    let file = File::create(&part).map_err(|e| Error::io(&part, e))?;
    let mut out = std::io::BufWriter::new(file);
    let mut body = std::io::BufReader::new(response.body_mut().as_reader());
    let copied = copy_prefix(url, class, &mut body, &mut out, cap, progress).and_then(|r| {
        let file = out
            .into_inner()
            .map_err(|e| Error::io(&part, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&part, e))?;
        Ok(r)
    });
    let (bytes, kept) = match copied {
        Ok(r) => r,
        Err(e) => {
            remove_if_present(&part)?;
            return Err(e);
        }
    };
    // Sidecar off first: a crash before it is rewritten leaves a file taken for whole, which the
    // size check against the server then rejects.
    remove_if_present(&sidecar_path(target))?;
    publish(&part, target)?;
    let side = sidecar_path(target);
    std::fs::write(&side, format!("{k} {kept}\n")).map_err(|e| Error::io(&side, e))?;
    progress(class, bytes, Some(bytes));
    Ok(CappedOutcome {
        bytes,
        kept,
        skipped: false,
    })
}

/// Copies the capped prefix of `body` to `out`; returns (bytes written, samples kept).
fn copy_prefix(
    url: &str,
    class: &str,
    body: &mut impl BufRead,
    out: &mut impl Write,
    cap: Cap,
    progress: &mut Progress<'_>,
) -> Result<(u64, u64)> {
    let io = |e: std::io::Error| Error::io(url, e);
    match cap {
        Cap::NpyRows(k) => {
            let mut head = vec![0u8; 12];
            read_exact(url, body, &mut head, "the .npy preamble")?;
            let (len_end, header_len) = match (head[6], head[7]) {
                (1, _) => (10, usize::from(u16::from_le_bytes([head[8], head[9]]))),
                _ => (
                    12,
                    u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize,
                ),
            };
            if header_len > MAX_HEADER_LEN {
                // Let the parser name the problem.
                NpyHeader::parse(Path::new(url), &head)?;
            }
            let need = (len_end + header_len).saturating_sub(head.len());
            let at = head.len();
            head.resize(at + need, 0);
            read_exact(url, body, &mut head[at..], "the .npy header")?;
            let header = NpyHeader::parse(Path::new(url), &head)?;
            // Bytes past the header that were already read (a v1 header read 2 bytes too many).
            let extra = head.get(header.data_offset..).unwrap_or(&[]).to_vec();
            let rows = (header.rows as u64).min(k);
            let encoded = encode_header(rows as usize);
            out.write_all(&encoded).map_err(io)?;
            let data = rows * IMAGE_PIXELS as u64;
            let total = encoded.len() as u64 + data;
            let mut done = encoded.len() as u64;
            let first = extra.len().min(data as usize);
            out.write_all(&extra[..first]).map_err(io)?;
            done += first as u64;
            let mut buf = vec![0u8; 1 << 16];
            while done < total {
                let want = ((total - done) as usize).min(buf.len());
                let n = match body.read(&mut buf[..want]) {
                    Ok(0) => {
                        return Err(Error::format(
                            url,
                            format!("byte {done}"),
                            format!(
                                "file ends inside row {} of the {rows} its header promises",
                                (done - encoded.len() as u64) / IMAGE_PIXELS as u64
                            ),
                        ))
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(io(e)),
                };
                out.write_all(&buf[..n]).map_err(io)?;
                done += n as u64;
                progress(class, done, Some(total));
            }
            Ok((total, rows))
        }
        Cap::Lines(k) => {
            let (mut kept, mut bytes) = (0u64, 0u64);
            let mut line = Vec::new();
            while kept < k {
                line.clear();
                let n = body.read_until(b'\n', &mut line).map_err(io)?;
                if n == 0 {
                    break;
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                out.write_all(&line).map_err(io)?;
                if !line.ends_with(b"\n") {
                    out.write_all(b"\n").map_err(io)?;
                    bytes += 1;
                }
                bytes += n as u64;
                kept += 1;
                progress(class, bytes, None);
            }
            Ok((bytes, kept))
        }
        Cap::BinRecords(k) => {
            let (mut kept, mut bytes) = (0u64, 0u64);
            let mut record = Vec::new();
            while kept < k {
                record.clear();
                record.resize(BIN_RECORD_HEAD, 0);
                let got = read_some(body, &mut record).map_err(io)?;
                if got == 0 {
                    break;
                }
                if got < BIN_RECORD_HEAD {
                    return Err(bin_cut(url, kept));
                }
                let n_strokes = u16::from_le_bytes([record[15], record[16]]);
                for _ in 0..n_strokes {
                    let mut n = [0u8; 2];
                    if read_some(body, &mut n).map_err(io)? < 2 {
                        return Err(bin_cut(url, kept));
                    }
                    record.extend_from_slice(&n);
                    let points = 2 * usize::from(u16::from_le_bytes(n));
                    let at = record.len();
                    record.resize(at + points, 0);
                    if read_some(body, &mut record[at..]).map_err(io)? < points {
                        return Err(bin_cut(url, kept));
                    }
                }
                out.write_all(&record).map_err(io)?;
                bytes += record.len() as u64;
                kept += 1;
                progress(class, bytes, None);
            }
            Ok((bytes, kept))
        }
    }
}

/// Size of a `.bin` record's fixed head: key_id u64, countrycode 2, recognized u8, timestamp u32,
/// n_strokes u16.
const BIN_RECORD_HEAD: usize = 17;

fn bin_cut(url: &str, kept: u64) -> Error {
    Error::format(
        url,
        format!("record {kept}"),
        "record cut short: the file ends inside it",
    )
}

/// Fills as much of `buf` as the reader has; returns how much (less than `buf.len()` only at EOF).
fn read_some(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn read_exact(url: &str, r: &mut impl Read, buf: &mut [u8], what: &str) -> Result<()> {
    let got = read_some(r, buf).map_err(|e| Error::io(url, e))?;
    if got < buf.len() {
        return Err(Error::format(
            url,
            "header",
            format!("file ends inside {what}"),
        ));
    }
    Ok(())
}
