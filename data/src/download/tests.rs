//! Download tests: everything against the in-test server on 127.0.0.1, nothing else is contacted.

use std::collections::HashMap;
use std::path::Path;

use super::fetch::base64_decode;
use super::test_server::{base64_encode, Served, TestServer};
use super::*;
use crate::scratch::scratch;

/// Deterministic, non-repeating bytes (a small LCG), so a misplaced byte changes the file.
fn bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

fn served(body: &[u8]) -> Served {
    Served {
        body: body.to_vec(),
        honor_range: true,
        md5_of: Some(body.to_vec()),
        cut_after: None,
        headers: String::new(),
    }
}

fn one(path: &str, s: Served) -> HashMap<String, Served> {
    HashMap::from([(path.to_string(), s)])
}

/// Progress calls seen: (class, done, total).
type Calls = Vec<(String, u64, Option<u64>)>;

/// Fetches `class` as `.npy` into `dir`, recording every progress call.
fn fetch(base: &str, class: &str, dir: &Path) -> (Result<Fetched>, Calls) {
    let mut calls = Vec::new();
    let r = Downloader::new(base).fetch_class(
        DownloadFormat::Npy,
        class,
        dir,
        None,
        &mut |c: &str, d, t| calls.push((c.to_string(), d, t)),
    );
    (r, calls)
}

fn part_of(path: &Path) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".part");
    s.into()
}

#[test]
fn full_download_verifies_md5_and_reports_progress() {
    let dir = scratch("dl-full");
    let body = bytes(200_000, 1);
    let server = TestServer::start(one("/numpy_bitmap/cat.npy", served(&body)), 4);
    let (r, calls) = fetch(&server.base, "cat", &dir);
    let got = r.unwrap();
    assert_eq!(server.finish(), ["GET /numpy_bitmap/cat.npy"]);
    assert_eq!(got.path, dir.join("numpy_bitmap/cat.npy"));
    assert_eq!(std::fs::read(&got.path).unwrap(), body);
    assert_eq!(
        (got.bytes, got.skipped, got.md5_verified),
        (200_000, false, true)
    );
    assert_eq!(got.format, DownloadFormat::Npy);
    assert!(!part_of(&got.path).exists());
    assert_eq!(calls.first(), Some(&("cat".into(), 0, Some(200_000))));
    assert_eq!(calls.last(), Some(&("cat".into(), 200_000, Some(200_000))));
    assert!(
        calls.windows(2).all(|w| w[0].1 <= w[1].1),
        "progress never goes back"
    );
}

#[test]
fn resumes_a_partial_part_file_with_a_range_request() {
    let dir = scratch("dl-resume");
    let body = bytes(100_000, 2);
    let target = class_path(&dir, DownloadFormat::Npy, "cat");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(part_of(&target), &body[..30_000]).unwrap();
    let server = TestServer::start(one("/numpy_bitmap/cat.npy", served(&body)), 4);
    let (r, calls) = fetch(&server.base, "cat", &dir);
    let got = r.unwrap();
    assert_eq!(server.finish(), ["GET /numpy_bitmap/cat.npy bytes=30000-"]);
    assert_eq!(std::fs::read(&target).unwrap(), body);
    // The MD5 covers the whole file: the resumed bytes were hashed too.
    assert!(got.md5_verified);
    assert_eq!(calls.first(), Some(&("cat".into(), 30_000, Some(100_000))));
    assert!(!part_of(&target).exists());
}

#[test]
fn server_ignoring_range_restarts_the_part_file() {
    let dir = scratch("dl-norange");
    let body = bytes(50_000, 3);
    let target = class_path(&dir, DownloadFormat::Npy, "cat");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    // Stale bytes that would corrupt the file if appended to.
    std::fs::write(part_of(&target), bytes(20_000, 99)).unwrap();
    let s = Served {
        honor_range: false,
        ..served(&body)
    };
    let server = TestServer::start(one("/numpy_bitmap/cat.npy", s), 4);
    let got = fetch(&server.base, "cat", &dir).0.unwrap();
    assert_eq!(server.finish(), ["GET /numpy_bitmap/cat.npy bytes=20000-"]);
    assert_eq!(std::fs::read(&target).unwrap(), body);
    assert_eq!(got.bytes, 50_000);
}

#[test]
fn wrong_md5_is_an_error_and_leaves_no_file() {
    let dir = scratch("dl-md5");
    let body = bytes(10_000, 4);
    let s = Served {
        md5_of: Some(b"other bytes".to_vec()),
        ..served(&body)
    };
    let server = TestServer::start(one("/numpy_bitmap/cat.npy", s), 4);
    let err = fetch(&server.base, "cat", &dir).0.unwrap_err().to_string();
    server.finish();
    assert!(err.contains("/numpy_bitmap/cat.npy"), "{err}");
    assert!(err.contains("md5"), "{err}");
    let target = class_path(&dir, DownloadFormat::Npy, "cat");
    assert!(!target.exists());
    assert!(
        !part_of(&target).exists(),
        "bad bytes must not be resumed from"
    );
}

#[test]
fn transcoded_object_is_checked_by_size_only() {
    // GCS serving a gzip-stored object decompressed: its x-goog-hash is of the stored bytes.
    let dir = scratch("dl-transcode");
    let body = bytes(6_000, 12);
    let s = Served {
        md5_of: Some(b"the gzip bytes".to_vec()),
        headers: "x-goog-stored-content-encoding: gzip\r\n".into(),
        ..served(&body)
    };
    let server = TestServer::start(one("/numpy_bitmap/cat.npy", s), 4);
    let got = fetch(&server.base, "cat", &dir).0.unwrap();
    server.finish();
    assert!(!got.md5_verified);
    assert_eq!(std::fs::read(&got.path).unwrap(), body);
}

#[test]
fn short_body_is_an_error_then_the_next_run_resumes() {
    let dir = scratch("dl-short");
    let body = bytes(80_000, 5);
    let s = Served {
        cut_after: Some(25_000),
        ..served(&body)
    };
    let server = TestServer::start(one("/numpy_bitmap/cat.npy", s), 4);
    let err = fetch(&server.base, "cat", &dir).0.unwrap_err().to_string();
    let url = format!("{}numpy_bitmap/cat.npy", server.base);
    server.finish();
    assert!(err.contains(&url), "{err}");
    assert!(err.contains("cut short"), "{err}");
    let target = class_path(&dir, DownloadFormat::Npy, "cat");
    assert!(!target.exists());
    assert_eq!(std::fs::read(part_of(&target)).unwrap(), &body[..25_000]);

    let server = TestServer::start(one("/numpy_bitmap/cat.npy", served(&body)), 4);
    let got = fetch(&server.base, "cat", &dir).0.unwrap();
    assert_eq!(server.finish(), ["GET /numpy_bitmap/cat.npy bytes=25000-"]);
    assert!(got.md5_verified);
    assert_eq!(std::fs::read(&target).unwrap(), body);
}

#[test]
fn not_found_names_the_class_and_url() {
    let dir = scratch("dl-404");
    let server = TestServer::start(HashMap::new(), 4);
    let err = fetch(&server.base, "dog", &dir).0.unwrap_err().to_string();
    let base = server.base.clone();
    server.finish();
    assert!(err.contains("\"dog\""), "{err}");
    assert!(
        err.contains(&format!("{base}numpy_bitmap/dog.npy")),
        "{err}"
    );
    assert!(err.contains("404"), "{err}");
    assert!(!class_path(&dir, DownloadFormat::Npy, "dog").exists());
}

#[test]
fn complete_file_is_skipped_after_a_head_request() {
    let dir = scratch("dl-skip");
    let body = bytes(4_000, 6);
    let target = class_path(&dir, DownloadFormat::Npy, "cat");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(&target, &body).unwrap();
    let server = TestServer::start(one("/numpy_bitmap/cat.npy", served(&body)), 4);
    let (r, calls) = fetch(&server.base, "cat", &dir);
    let got = r.unwrap();
    assert_eq!(server.finish(), ["HEAD /numpy_bitmap/cat.npy"]);
    assert!(got.skipped);
    assert_eq!(calls, [("cat".to_string(), 4_000, Some(4_000))]);

    // A target of the wrong size is downloaded again (and replaced atomically).
    std::fs::write(&target, &body[..100]).unwrap();
    let server = TestServer::start(one("/numpy_bitmap/cat.npy", served(&body)), 4);
    let got = fetch(&server.base, "cat", &dir).0.unwrap();
    assert_eq!(
        server.finish(),
        ["HEAD /numpy_bitmap/cat.npy", "GET /numpy_bitmap/cat.npy"]
    );
    assert!(!got.skipped);
    assert_eq!(std::fs::read(&target).unwrap(), body);
}

#[test]
fn complete_part_file_is_published_on_416() {
    let dir = scratch("dl-416");
    let body = bytes(3_000, 7);
    let target = class_path(&dir, DownloadFormat::Npy, "cat");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(part_of(&target), &body).unwrap();
    let server = TestServer::start(one("/numpy_bitmap/cat.npy", served(&body)), 4);
    let got = fetch(&server.base, "cat", &dir).0.unwrap();
    assert_eq!(server.finish(), ["GET /numpy_bitmap/cat.npy bytes=3000-"]);
    assert_eq!((got.bytes, got.md5_verified), (3_000, true));
    assert_eq!(std::fs::read(&target).unwrap(), body);
    assert!(!part_of(&target).exists());
}

#[test]
fn spaced_class_names_are_percent_encoded_in_the_url_only() {
    assert_eq!(
        class_url(DEFAULT_BASE_URL, DownloadFormat::Npy, "The Eiffel Tower"),
        "https://storage.googleapis.com/quickdraw_dataset/full/numpy_bitmap/The%20Eiffel%20Tower.npy"
    );
    assert_eq!(
        class_url("http://m/", DownloadFormat::Ndjson, "teddy-bear"),
        "http://m/simplified/teddy-bear.ndjson"
    );
    assert_eq!(
        class_url("http://m/", DownloadFormat::Bin, "cat"),
        "http://m/binary/cat.bin"
    );
    assert_eq!(
        class_url("http://m/", DownloadFormat::Raw, "cat"),
        "http://m/raw/cat.ndjson"
    );
    let dir = scratch("dl-space");
    let body = bytes(1_000, 8);
    let server = TestServer::start(
        one("/simplified/The%20Eiffel%20Tower.ndjson", served(&body)),
        4,
    );
    let got = Downloader::new(&server.base)
        .fetch_class(
            DownloadFormat::Ndjson,
            "The Eiffel Tower",
            &dir,
            None,
            &mut |_: &str, _, _| {},
        )
        .unwrap();
    server.finish();
    assert_eq!(got.path, dir.join("simplified/The Eiffel Tower.ndjson"));
    assert_eq!(std::fs::read(&got.path).unwrap(), body);
}

#[test]
fn parquet_fetches_npy_for_conversion() {
    assert_eq!(DownloadFormat::Parquet.source(), DownloadFormat::Npy);
    let dir = scratch("dl-parquet");
    let body = bytes(2_000, 9);
    let server = TestServer::start(
        HashMap::from([
            ("/numpy_bitmap/cat.npy".to_string(), served(&body)),
            ("/numpy_bitmap/dog.npy".to_string(), served(&body[..500])),
        ]),
        4,
    );
    let got = Downloader::new(&server.base)
        .fetch_all(
            &["cat", "dog"],
            DownloadFormat::Parquet,
            &dir,
            None,
            &mut |_: &str, _, _| {},
        )
        .unwrap();
    server.finish();
    let summary: Vec<_> = got
        .iter()
        .map(|f| (f.class.as_str(), f.format, f.bytes))
        .collect();
    assert_eq!(
        summary,
        [
            ("cat", DownloadFormat::Npy, 2_000),
            ("dog", DownloadFormat::Npy, 500)
        ]
    );
}

#[test]
fn base_url_comes_from_flag_then_env_then_google() {
    assert_eq!(resolve_base_url(None, None), DEFAULT_BASE_URL);
    assert_eq!(resolve_base_url(None, Some(" ".into())), DEFAULT_BASE_URL);
    assert_eq!(
        resolve_base_url(None, Some("http://mirror/qd".into())),
        "http://mirror/qd/"
    );
    assert_eq!(
        resolve_base_url(Some("http://flag/"), Some("http://mirror/".into())),
        "http://flag/"
    );

    // The only test that touches the process environment; everything else passes URLs explicitly.
    let dir = scratch("dl-env");
    let body = bytes(1_500, 10);
    let server = TestServer::start(one("/binary/cat.bin", served(&body)), 4);
    std::env::set_var(BASE_URL_ENV, &server.base);
    let got = download(
        &ClassChoice::Names(vec!["cat".into()]),
        DownloadFormat::Bin,
        &dir,
        None,
        None,
        &mut |_: &str, _, _| {},
    );
    std::env::remove_var(BASE_URL_ENV);
    let log = server.finish();
    let got = got.unwrap();
    assert_eq!(log, ["GET /binary/cat.bin"]);
    assert_eq!(got.len(), 1);
    assert_eq!(std::fs::read(dir.join("binary/cat.bin")).unwrap(), body);
}

#[test]
fn unknown_class_gets_a_hint_and_nothing_is_fetched() {
    let err = download(
        &ClassChoice::Names(vec!["cat".into(), "elefant".into()]),
        DownloadFormat::Npy,
        Path::new("/nonexistent-inkling-dir"),
        // Never contacted: the names are checked first.
        Some("http://127.0.0.1:9/"),
        None,
        &mut |_: &str, _, _| {},
    )
    .unwrap_err();
    match err {
        Error::UnknownClass { name, hint } => {
            assert_eq!(name, "elefant");
            assert_eq!(hint.as_deref(), Some("elephant"));
        }
        other => panic!("expected UnknownClass, got {other}"),
    }
}

#[test]
fn fetch_class_accepts_only_canonical_names() {
    let dir = scratch("dl-names");
    // Never contacted: the name is checked first.
    let d = Downloader::new("http://127.0.0.1:9");
    assert_eq!(d.base(), "http://127.0.0.1:9/");
    let mut quiet = |_: &str, _, _| {};
    for bad in ["../../etc/passwd", "cat/../dog", ""] {
        let err = d.fetch_class(DownloadFormat::Npy, bad, &dir, None, &mut quiet);
        assert!(matches!(err, Err(Error::UnknownClass { .. })), "{bad:?}");
    }
    assert_eq!(std::fs::read_dir(&*dir).unwrap().count(), 0);
}

#[test]
fn class_selection_by_name_and_count() {
    let names = |v: &[&str]| ClassChoice::Names(v.iter().map(|s| s.to_string()).collect());
    assert_eq!(
        select_classes(&names(&["dog", "the eiffel tower", "dog"])).unwrap(),
        ["dog", "The Eiffel Tower"]
    );
    assert_eq!(
        select_classes(&ClassChoice::First(3)).unwrap(),
        ["aircraft carrier", "airplane", "alarm clock"]
    );
    assert_eq!(select_classes(&ClassChoice::First(345)).unwrap().len(), 345);
    assert!(matches!(
        select_classes(&ClassChoice::First(0)),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        select_classes(&ClassChoice::First(346)),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        select_classes(&names(&[])),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn class_list_is_in_googles_order() {
    // categories.txt order: case and punctuation ignored, so "cello" < "cell phone", "tent" <
    // "The Eiffel Tower" < "tiger", "trumpet" < "t-shirt".
    let key = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    assert!(
        CLASSES.windows(2).all(|w| key(w[0]) < key(w[1])),
        "sorted, no duplicates"
    );
    let pos = |n: &str| CLASSES.iter().position(|c| *c == n).unwrap();
    assert!(pos("cello") + 1 == pos("cell phone"));
    assert!(pos("tent") + 1 == pos("The Eiffel Tower"));
    assert!(pos("trumpet") + 1 == pos("t-shirt"));
    assert_eq!(CLASSES[0], "aircraft carrier");
    assert_eq!(CLASSES[NUM_CLASSES - 1], "zigzag");

    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/quickdraw/simplified"
    );
    let Ok(entries) = std::fs::read_dir(shared) else {
        eprintln!("skipping the shared-file check: {shared} is absent");
        return;
    };
    let mut on_disk: Vec<String> = entries
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".ndjson")
                .map(String::from)
        })
        .collect();
    on_disk.push("zigzag".into()); // its shared source file was empty (SOURCES.md)
    on_disk.sort();
    let mut ours: Vec<String> = CLASSES.iter().map(|c| c.to_string()).collect();
    ours.sort();
    assert_eq!(on_disk, ours);
}

#[test]
fn format_names_and_base64() {
    assert_eq!(DownloadFormat::parse("NPY").unwrap(), DownloadFormat::Npy);
    assert_eq!(
        DownloadFormat::parse("ndjson").unwrap(),
        DownloadFormat::Ndjson
    );
    assert_eq!(
        DownloadFormat::parse("binary").unwrap(),
        DownloadFormat::Bin
    );
    assert_eq!(
        DownloadFormat::parse("parquet").unwrap(),
        DownloadFormat::Parquet
    );
    assert!(DownloadFormat::parse("png").is_err());
    // MD5 of the empty string, as GCS would send it.
    let empty = base64_decode("1B2M2Y8AsgTpgAmY7PhCfg==").unwrap();
    assert_eq!(
        empty,
        [
            0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04, 0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8,
            0x42, 0x7e
        ]
    );
    for n in 0..8 {
        let b = bytes(n, 11);
        assert_eq!(base64_decode(&base64_encode(&b)).unwrap(), b);
    }
    assert!(base64_decode("a*b").is_none());
}

/// A `.npy` of `rows` distinct bitmaps (numpy's own header layout).
fn npy_file(rows: usize, seed: u32) -> Vec<u8> {
    let mut out = crate::formats::npy::encode_header(rows);
    out.extend(bytes(rows * crate::IMAGE_PIXELS, seed));
    out
}

fn capped(
    base: &str,
    format: DownloadFormat,
    class: &str,
    dir: &Path,
    k: usize,
) -> Result<Fetched> {
    Downloader::new(base).fetch_class(format, class, dir, Some(k), &mut |_: &str, _, _| {})
}

fn check_npy_prefix(path: &Path, full: &[u8], k: usize) {
    let npy = crate::formats::npy::NpyBitmaps::open(path).unwrap();
    assert_eq!(npy.len(), k);
    let off = crate::formats::npy::NpyHeader::parse(Path::new("full"), full)
        .unwrap()
        .data_offset;
    assert_eq!(npy.data(), &full[off..off + k * crate::IMAGE_PIXELS]);
}

#[test]
fn capped_npy_uses_a_range_request_and_keeps_k_rows() {
    let dir = scratch("dl-cap-npy");
    let full = npy_file(50, 7);
    let server = TestServer::start(one("/numpy_bitmap/cat.npy", served(&full)), 4);
    let got = capped(&server.base, DownloadFormat::Npy, "cat", &dir, 5).unwrap();
    let log = server.finish();
    let end = 12 + crate::formats::npy::MAX_HEADER_LEN + 5 * crate::IMAGE_PIXELS - 1;
    assert_eq!(log, [format!("GET /numpy_bitmap/cat.npy bytes=0-{end}")]);
    check_npy_prefix(&got.path, &full, 5);
    assert_eq!(
        (got.samples, got.md5_verified, got.skipped),
        (Some(5), false, false)
    );
    assert!(!fetch::capped_part_path(&got.path).exists());

    // Same cap again: skipped without a request. A full download then replaces the capped file.
    let server = TestServer::start(one("/numpy_bitmap/cat.npy", served(&full)), 4);
    let again = capped(&server.base, DownloadFormat::Npy, "cat", &dir, 5).unwrap();
    assert!(again.skipped);
    let whole = fetch(&server.base, "cat", &dir).0.unwrap();
    assert_eq!(server.finish(), ["GET /numpy_bitmap/cat.npy"]);
    assert!(whole.md5_verified && !whole.skipped);
    assert_eq!(std::fs::read(&whole.path).unwrap(), full);
    assert!(!fetch::sidecar_path(&whole.path).exists());
}

#[test]
fn capped_npy_from_a_server_ignoring_range() {
    let dir = scratch("dl-cap-norange");
    let full = npy_file(40, 8);
    let s = Served {
        honor_range: false,
        ..served(&full)
    };
    let server = TestServer::start(one("/numpy_bitmap/cat.npy", s), 4);
    let got = capped(&server.base, DownloadFormat::Npy, "cat", &dir, 3).unwrap();
    server.finish();
    check_npy_prefix(&got.path, &full, 3);
    assert_eq!(got.samples, Some(3));
}

#[test]
fn cap_larger_than_the_file_keeps_everything() {
    let dir = scratch("dl-cap-big");
    let full = npy_file(4, 9);
    let server = TestServer::start(one("/numpy_bitmap/cat.npy", served(&full)), 4);
    let got = capped(&server.base, DownloadFormat::Npy, "cat", &dir, 1000).unwrap();
    server.finish();
    check_npy_prefix(&got.path, &full, 4);
    assert_eq!(std::fs::read(&got.path).unwrap(), full);
    assert_eq!(got.samples, Some(4));

    let nd = b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}".to_vec();
    let server = TestServer::start(one("/simplified/cat.ndjson", served(&nd)), 4);
    let got = capped(&server.base, DownloadFormat::Ndjson, "cat", &dir, 10).unwrap();
    server.finish();
    assert_eq!(got.samples, Some(3));
    assert_eq!(std::fs::read(&got.path).unwrap(), [&nd[..], b"\n"].concat());
}

#[test]
fn capped_ndjson_keeps_k_lines() {
    let dir = scratch("dl-cap-ndjson");
    let nd: String = (0..100)
        .map(|i| format!("{{\"key_id\":\"{i}\"}}\n"))
        .collect();
    let server = TestServer::start(one("/simplified/cat.ndjson", served(nd.as_bytes())), 4);
    let got = capped(&server.base, DownloadFormat::Ndjson, "cat", &dir, 7).unwrap();
    assert_eq!(server.finish(), ["GET /simplified/cat.ndjson"]);
    let text = std::fs::read_to_string(&got.path).unwrap();
    let want: String = nd.lines().take(7).map(|l| format!("{l}\n")).collect();
    assert_eq!(text, want);
    assert_eq!(got.samples, Some(7));
    assert_eq!(
        fetch::read_sidecar(&got.path).unwrap(),
        Some((7, 7)),
        "the cap is recorded next to the file"
    );
}

/// One `.bin` record with `strokes` strokes of `i + 1` points each.
fn bin_record(i: u8, strokes: u16) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&u64::from(i).to_le_bytes());
    r.extend_from_slice(b"US");
    r.push(1);
    r.extend_from_slice(&1_500_000_000u32.to_le_bytes());
    r.extend_from_slice(&strokes.to_le_bytes());
    for s in 0..strokes {
        let n = u16::from(i) + 1;
        r.extend_from_slice(&n.to_le_bytes());
        r.extend((0..n).map(|p| (p as u8).wrapping_add(s as u8)));
        r.extend((0..n).map(|p| (p as u8).wrapping_mul(3)));
    }
    r
}

#[test]
fn capped_bin_keeps_k_records() {
    let dir = scratch("dl-cap-bin");
    let records: Vec<Vec<u8>> = (0..20u8)
        .map(|i| bin_record(i, u16::from(i % 3) + 1))
        .collect();
    let full = records.concat();
    let server = TestServer::start(one("/binary/cat.bin", served(&full)), 4);
    let got = capped(&server.base, DownloadFormat::Bin, "cat", &dir, 6).unwrap();
    server.finish();
    assert_eq!(std::fs::read(&got.path).unwrap(), records[..6].concat());
    assert_eq!(got.samples, Some(6));
    let read: Vec<_> = crate::formats::bin::BinReader::open(&got.path)
        .unwrap()
        .collect::<Result<Vec<_>>>()
        .unwrap();
    assert_eq!(read.len(), 6);
    assert_eq!(read[5].key_id, 5);
}

#[test]
fn zero_cap_is_rejected() {
    let dir = scratch("dl-cap-zero");
    let err = capped("http://127.0.0.1:9/", DownloadFormat::Npy, "cat", &dir, 0).unwrap_err();
    assert!(err.to_string().contains("at least 1"), "{err}");
}
