//! A tiny HTTP/1.1 file server on 127.0.0.1 for the download tests: one request per connection,
//! `Range: bytes=N-`, optional `x-goog-hash`, and deliberately misbehaving variants. It accepts a
//! bounded number of connections and stops by itself (at that count, on `finish`, or after 20 s).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

/// One file the server serves, and how it misbehaves.
#[derive(Clone, Default)]
pub(super) struct Served {
    pub(super) body: Vec<u8>,
    /// Answer `Range` requests with 206/416 (else ignore the header and send 200 with everything).
    pub(super) honor_range: bool,
    /// Send `x-goog-hash: crc32c=…, md5=…` with the MD5 of these bytes (the real body's: `Some(body)`).
    pub(super) md5_of: Option<Vec<u8>>,
    /// Announce the full length but close the connection after this many body bytes.
    pub(super) cut_after: Option<usize>,
    /// Extra header lines, each ending in `\r\n`.
    pub(super) headers: String,
}

/// The running server; `base` is its URL with a trailing `/`.
pub(super) struct TestServer {
    pub(super) base: String,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Serves `files` (keyed by URL path, e.g. `/numpy_bitmap/cat.npy`) for at most `max_connections`.
    pub(super) fn start(files: HashMap<String, Served>, max_connections: usize) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stop2, log2) = (stop.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut served = 0;
            while served < max_connections && !stop2.load(Ordering::Relaxed) {
                if Instant::now() > deadline {
                    break;
                }
                match listener.accept() {
                    Ok((stream, _)) => {
                        served += 1;
                        if let Some(line) = answer(stream, &files) {
                            log2.lock().unwrap().push(line);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => break,
                }
            }
        });
        TestServer {
            base,
            stop,
            log,
            thread: Some(thread),
        }
    }

    /// Stops the server and returns one line per request: `METHOD PATH [RANGE]`.
    pub(super) fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        let log = self.log.lock().unwrap().clone();
        log
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads one request and answers it; returns the log line.
fn answer(mut stream: TcpStream, files: &HashMap<String, Served>) -> Option<String> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).ok()?;
    let mut lines = head.lines();
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    // `bytes=N-` or `bytes=N-M` (M inclusive).
    let range: Option<(u64, Option<u64>)> = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if !k.eq_ignore_ascii_case("range") {
            return None;
        }
        let (a, b) = v.trim().strip_prefix("bytes=")?.split_once('-')?;
        let end = if b.is_empty() {
            None
        } else {
            Some(b.parse().ok()?)
        };
        Some((a.parse().ok()?, end))
    });
    let line = match range {
        Some((r, None)) => format!("{method} {path} bytes={r}-"),
        Some((r, Some(e))) => format!("{method} {path} bytes={r}-{e}"),
        None => format!("{method} {path}"),
    };
    let range_end = range.and_then(|(_, e)| e);
    let range = range.map(|(r, _)| r);
    let Some(file) = files.get(&path) else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return Some(line);
    };
    let len = file.body.len();
    let mut extra = file.headers.clone();
    if let Some(bytes) = &file.md5_of {
        let digest: [u8; 16] = Md5::digest(bytes).into();
        extra += &format!(
            "x-goog-hash: crc32c=n03x6A==, md5={}\r\n",
            base64_encode(&digest)
        );
    }
    let (status, body, content_range) = match range {
        Some(r) if file.honor_range && r as usize >= len => (
            "416 Range Not Satisfiable",
            &[][..],
            format!("bytes */{len}"),
        ),
        Some(r) if file.honor_range => {
            let last = range_end.map_or(len - 1, |e| (e as usize).min(len - 1));
            (
                "206 Partial Content",
                &file.body[r as usize..=last],
                format!("bytes {r}-{last}/{len}"),
            )
        }
        _ => ("200 OK", &file.body[..], String::new()),
    };
    if !content_range.is_empty() {
        extra.push_str(&format!("Content-Range: {content_range}\r\n"));
    }
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(header.as_bytes());
    if method == "GET" {
        let sent = file.cut_after.map_or(body.len(), |c| c.min(body.len()));
        let _ = stream.write_all(&body[..sent]);
    }
    let _ = stream.flush();
    Some(line)
}

/// Standard padded base64, for the `x-goog-hash` header.
pub(super) fn base64_encode(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
