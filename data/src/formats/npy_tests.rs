//! Tests of the `.npy` reader, writer and directory dataset.

use super::*;
use crate::types::BitmapSource;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::path::PathBuf;

use crate::scratch::{random_rows, scratch, Scratch};

/// A `.npy` file by hand: `version`, the dict text (padded to 64 with a newline), then `data`.
fn raw_npy(version: (u8, u8), dict: &str, data: &[u8]) -> Vec<u8> {
    let len_size = if version.0 == 1 { 2 } else { 4 };
    let unpadded = 8 + len_size + dict.len() + 1;
    let total = unpadded.div_ceil(64) * 64;
    let hlen = total - 8 - len_size;
    let mut out = NPY_MAGIC.to_vec();
    out.extend_from_slice(&[version.0, version.1]);
    if len_size == 2 {
        out.extend_from_slice(&(hlen as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(hlen as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

fn dict(descr: &str, fortran: &str, shape: &str) -> String {
    format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}")
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The error text of opening `bytes` as a `.npy`.
fn open_err(bytes: &[u8]) -> String {
    let dir = scratch("bad");
    let p = write_file(&dir, "bad.npy", bytes);
    let msg = match NpyBitmaps::open(&p) {
        Ok(_) => panic!("accepted a bad file"),
        Err(e) => e.to_string(),
    };
    assert!(
        msg.contains("bad.npy"),
        "error does not name the file: {msg}"
    );
    msg
}

#[test]
fn round_trip_is_exact_and_aligned() {
    let dir = scratch("rt");
    let rows = random_rows(1, 37);
    let p = dir.join("x.npy");
    write_npy(&p, &rows).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let f = NpyBitmaps::open(&p).unwrap();
    assert_eq!(f.header().data_offset % 64, 0);
    assert_eq!(f.header().data_offset, 128);
    assert_eq!(bytes.len(), 128 + 37 * 784);
    assert_eq!(f.header().version, (1, 0));
    assert_eq!(f.header().shape, vec![37, 784]);
    assert_eq!(f.len(), 37);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(f.get(i).unwrap(), r);
    }
    assert!(f.get(37).is_err());
    assert!(f.row(usize::MAX).is_none());
    // The header is the one numpy writes (and no temp files are left behind).
    assert!(bytes.starts_with(
        b"\x93NUMPY\x01\x00\x76\x00{'descr': '|u1', 'fortran_order': False, 'shape': (37, 784), }"
    ));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
}

#[test]
fn empty_round_trip() {
    let dir = scratch("empty");
    let p = dir.join("e.npy");
    write_npy(&p, &[]).unwrap();
    let f = NpyBitmaps::open(&p).unwrap();
    assert!(f.is_empty());
    assert!(f.get(0).is_err());
}

#[test]
fn writer_rejects_wrong_row_count_and_leaves_no_file() {
    let dir = scratch("wcount");
    let p = dir.join("w.npy");
    let rows = random_rows(2, 3);
    let mut w = NpyWriter::create(&p, 2).unwrap();
    w.push(&rows[0]).unwrap();
    w.push(&rows[1]).unwrap();
    assert!(w
        .push(&rows[2])
        .unwrap_err()
        .to_string()
        .contains("more than the 2 rows"));
    // Dropped without finish: nothing published, the temporary removed.
    drop(w);
    let mut w = NpyWriter::create(&p, 3).unwrap();
    w.push(&rows[0]).unwrap();
    let e = w.finish().unwrap_err().to_string();
    assert!(e.contains("1 rows written, 3 declared"), "{e}");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "temp file left behind"
    );
}

#[test]
fn every_version_and_shape_and_descr_is_read() {
    let dir = scratch("variants");
    let rows = random_rows(3, 4);
    let data: Vec<u8> = rows.iter().flatten().copied().collect();
    let shapes = ["(4, 784)", "(4, 28, 28)", "(4, 1, 784)", "(4,784,)"];
    let mut k = 0;
    for version in [(1, 0), (2, 0), (3, 0)] {
        for shape in shapes {
            for descr in ["|u1", "<u1", ">u1", "u1"] {
                let p = write_file(
                    &dir,
                    &format!("v{k}.npy"),
                    &raw_npy(version, &dict(descr, "False", shape), &data),
                );
                k += 1;
                let f = NpyBitmaps::open(&p).unwrap();
                assert_eq!(f.header().version, version);
                assert_eq!(f.len(), 4);
                assert_eq!(f.get(3).unwrap(), &rows[3]);
            }
        }
    }
    // Double quotes, reordered keys, 16-byte alignment (old numpy) and a UTF-8 v3 header pad.
    let d = "{\"shape\": (4, 784), \"fortran_order\": False, \"descr\": \"|u1\"}";
    let mut bytes = NPY_MAGIC.to_vec();
    bytes.extend_from_slice(&[1, 0]);
    let hdr = format!("{d}{}\n", " ".repeat((16 - (10 + d.len() + 1) % 16) % 16));
    bytes.extend_from_slice(&(hdr.len() as u16).to_le_bytes());
    bytes.extend_from_slice(hdr.as_bytes());
    bytes.extend_from_slice(&data);
    let p = write_file(&dir, "old.npy", &bytes);
    assert_eq!(NpyBitmaps::open(&p).unwrap().get(0).unwrap(), &rows[0]);
    let p = write_file(
        &dir,
        "utf8.npy",
        &raw_npy(
            (3, 0),
            &format!("{} ", dict("|u1", "False", "(4, 784)")).replace("} ", "}\u{a0}"),
            &data,
        ),
    );
    assert_eq!(NpyBitmaps::open(&p).unwrap().len(), 4);
}

#[test]
fn bad_headers_are_named() {
    let data = vec![0u8; 2 * 784];
    let good = dict("|u1", "False", "(2, 784)");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"\x93NUMPX\x01\x00".to_vec(), "bad magic"),
        (b"\x93NU".to_vec(), "too short for the .npy magic"),
        (
            raw_npy((4, 0), &good, &data),
            "unsupported .npy version 4.0",
        ),
        (
            raw_npy((1, 1), &good, &data),
            "unsupported .npy version 1.1",
        ),
        (
            raw_npy((1, 0), &dict("<f4", "False", "(2, 784)"), &data),
            "dtype \"<f4\" is not uint8",
        ),
        (
            raw_npy((1, 0), &dict("|i1", "False", "(2, 784)"), &data),
            "dtype \"|i1\" is not uint8",
        ),
        (
            raw_npy((1, 0), &dict("|u1", "True", "(2, 784)"), &data),
            "fortran_order is True",
        ),
        (
            raw_npy((1, 0), &dict("|u1", "False", "(2, 785)"), &data),
            "shape [2, 785] is not (N, 784)",
        ),
        (
            raw_npy((1, 0), &dict("|u1", "False", "(2, 27, 28)"), &data),
            "shape [2, 27, 28]",
        ),
        (
            raw_npy((1, 0), &dict("|u1", "False", "(1568,)"), &data),
            "shape [1568]",
        ),
        (
            raw_npy((1, 0), &dict("|u1", "False", "(-2, 784)"), &data),
            "bad dimension",
        ),
        (
            raw_npy((1, 0), &dict("|u1", "Maybe", "(2, 784)"), &data),
            "unexpected value \"Maybe\"",
        ),
        (
            raw_npy((1, 0), "['descr', 'shape']", &data),
            "not a Python dict literal",
        ),
        (
            raw_npy((1, 0), "{'descr': '|u1', 'shape': (2, 784)}", &data),
            "no \"fortran_order\" key",
        ),
        (
            raw_npy((1, 0), &good.replace("}", "'extra': 1}"), &data),
            "unexpected value",
        ),
        (
            raw_npy((1, 0), &good.replace("}", "'x': True}"), &data),
            "unexpected key \"x\"",
        ),
        (
            raw_npy((1, 0), &format!("{good} junk"), &data),
            "unexpected text after the dict",
        ),
        (
            raw_npy((1, 0), "{'descr': '|u1'", &data),
            "expected ',' or '}'",
        ),
        (
            raw_npy((2, 0), &format!("{good}\u{e9}"), &data),
            "must be ASCII",
        ),
    ];
    for (bytes, want) in cases {
        let msg = open_err(&bytes);
        assert!(msg.contains(want), "expected {want:?} in {msg:?}");
        assert!(msg.contains(": header: "), "{msg}");
    }
}

#[test]
fn header_length_past_eof_and_over_cap() {
    let mut b = NPY_MAGIC.to_vec();
    b.extend_from_slice(&[1, 0, 0x00, 0x10]); // 4096 bytes of header, file ends at once
    b.extend_from_slice(b"{'descr'");
    let msg = open_err(&b);
    assert!(
        msg.contains("header length 4096 runs past the end of the file (18 bytes)"),
        "{msg}"
    );
    let mut b = NPY_MAGIC.to_vec();
    b.extend_from_slice(&[2, 0, 0, 0, 0, 0x80]); // 2 GiB header
    let msg = open_err(&b);
    assert!(msg.contains("exceeds the 65536-byte limit"), "{msg}");
    let msg = open_err(b"\x93NUMPY\x01\x00\x05");
    assert!(msg.contains("file ends inside the header length"), "{msg}");
    let msg = open_err(b"\x93NUMPY\x03");
    assert!(msg.contains("inside the version bytes"), "{msg}");
}

#[test]
fn data_length_must_match_exactly() {
    let good = dict("|u1", "False", "(3, 784)");
    let msg = open_err(&raw_npy((1, 0), &good, &vec![7u8; 3 * 784 - 1]));
    assert!(msg.contains("data (byte 128)"), "{msg}");
    assert!(
        msg.contains("truncated: shape [3, 784] needs 2352 bytes of uint8 data, the file has 2351"),
        "{msg}"
    );
    let msg = open_err(&raw_npy((1, 0), &good, &vec![7u8; 3 * 784 + 5]));
    assert!(
        msg.contains(
            "trailing data: shape [3, 784] needs 2352 bytes of uint8 data, the file has 2357"
        ),
        "{msg}"
    );
    let huge = dict("|u1", "False", &format!("({}, 784)", u64::MAX / 100));
    let msg = open_err(&raw_npy((1, 0), &huge, &[]));
    assert!(
        msg.contains("overflows") || msg.contains("truncated"),
        "{msg}"
    );
    let msg = open_err(&[]);
    assert!(msg.contains("file is empty"), "{msg}");
}

#[test]
fn header_parser_never_panics_on_random_bytes() {
    let mut rng = StdRng::seed_from_u64(9);
    let base = raw_npy((1, 0), &dict("|u1", "False", "(1, 784)"), &[0u8; 784]);
    for _ in 0..3000 {
        let mut b = base.clone();
        let n = rng.gen_range(1..6);
        for _ in 0..n {
            let i = rng.gen_range(0..b.len().min(140));
            b[i] = rng.gen();
        }
        b.truncate(rng.gen_range(0..=b.len()));
        let _ = NpyHeader::parse(Path::new("fuzz.npy"), &b);
    }
}

fn class_dir(name: &str, classes: &[(&str, usize)]) -> (Scratch, Vec<Vec<Bitmap>>) {
    let dir = scratch(name);
    let mut all = Vec::new();
    for (k, &(c, n)) in classes.iter().enumerate() {
        let rows = random_rows(100 + k as u64, n);
        write_npy(dir.join(format!("{c}.npy")), &rows).unwrap();
        all.push(rows);
    }
    (dir, all)
}

#[test]
fn dataset_concatenates_classes_in_name_order() {
    // Written out of order, with an empty class and a non-.npy file that must be ignored.
    let (dir, rows) = class_dir("ds", &[("zebra", 3), ("cat", 2), ("empty", 0), ("dog", 4)]);
    std::fs::write(dir.join("notes.txt"), "x").unwrap();
    let ds = NpyDataset::open_dir(&dir, None).unwrap();
    assert_eq!(ds.class_names(), ["cat", "dog", "empty", "zebra"]);
    assert_eq!(ds.class_counts(), [2, 4, 0, 3]);
    assert_eq!(ds.len(), 9);
    let expect: Vec<(u32, &Bitmap)> = rows[1]
        .iter()
        .map(|r| (0, r))
        .chain(rows[3].iter().map(|r| (1, r)))
        .chain(rows[0].iter().map(|r| (3, r)))
        .collect();
    let mut out = [0u8; IMAGE_PIXELS];
    for (i, (label, row)) in expect.iter().enumerate() {
        assert_eq!(ds.read(i, &mut out).unwrap(), *label);
        assert_eq!(ds.label(i).unwrap(), *label);
        assert_eq!(&&out, row);
    }
    assert!(ds
        .read(9, &mut out)
        .unwrap_err()
        .to_string()
        .contains("sample 9 out of range (9 samples)"));
    assert!(ds.label(usize::MAX).is_err());
}

#[test]
fn dataset_subset_cap_and_errors() {
    let (dir, rows) = class_dir("sub", &[("apple", 5), ("banana", 2), ("cat", 3)]);
    let want = vec!["cat".to_string(), "apple".to_string()];
    let ds = NpyDataset::open_dir_capped(&dir, Some(&want), Some(3)).unwrap();
    assert_eq!(ds.class_names(), ["apple", "cat"]);
    assert_eq!(ds.class_counts(), [3, 3]);
    let mut out = [0u8; IMAGE_PIXELS];
    assert_eq!(ds.read(3, &mut out).unwrap(), 1);
    assert_eq!(out, rows[2][0]);
    assert_eq!(ds.read(2, &mut out).unwrap(), 0);
    assert_eq!(out, rows[0][2]);

    let e = NpyDataset::open_dir(&dir, Some(&["bananna".to_string()])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown class \"bananna\" (did you mean \"banana\"?)"
    );
    let e = NpyDataset::open_dir(&dir, Some(&["spaceship".to_string()])).unwrap_err();
    assert_eq!(e.to_string(), "unknown class \"spaceship\"");
    let e = NpyDataset::open_dir(&dir, Some(&["cat".into(), "cat".into()])).unwrap_err();
    assert!(e.to_string().contains("listed twice"), "{e}");
    assert!(NpyDataset::open_dir(&dir, Some(&[])).is_err());

    let empty = scratch("emptydir");
    let e = NpyDataset::open_dir(&empty, None).unwrap_err().to_string();
    assert!(e.contains("no .npy files") && e.contains("emptydir"), "{e}");
    let e = NpyDataset::open_dir(empty.join("missing"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing"), "{e}");

    // A bad file among the classes is reported by name, not skipped.
    std::fs::write(dir.join("broken.npy"), b"\x93NUMPY\x01\x00").unwrap();
    let e = NpyDataset::open_dir(&dir, None).unwrap_err().to_string();
    assert!(e.contains("broken.npy"), "{e}");
}

/// Where the shared Quick, Draw! slice is; `INKLING_QUICKDRAW` overrides (e.g. from a worktree).
fn quickdraw_dir() -> PathBuf {
    std::env::var_os("INKLING_QUICKDRAW").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/data/quickdraw"
            ))
        },
        PathBuf::from,
    )
}

/// FNV-1a over all rows.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn real_bitmap_files() {
    let dir = quickdraw_dir().join("bitmap");
    if !dir.is_dir() {
        eprintln!("skipping real_bitmap_files: {} is absent", dir.display());
        return;
    }
    let ds = NpyDataset::open_dir(&dir, None).unwrap();
    assert_eq!(
        ds.class_names(),
        ["apple", "bicycle", "cat", "diamond", "eye", "fish"]
    );
    assert_eq!(ds.class_counts(), [2500; 6]);
    for name in ds.class_names() {
        let p = dir.join(format!("{name}.npy"));
        let a = NpyBitmaps::open(&p).unwrap();
        let b = NpyBitmaps::open(&p).unwrap();
        assert_eq!(a.header().shape, vec![2500, 784], "{name}");
        assert_eq!(a.len(), 2500);
        let (lo, hi) = a
            .data()
            .iter()
            .fold((255u8, 0u8), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        assert_eq!((lo, hi), (0, 255), "{name}: pixel range");
        assert_eq!(
            fnv(a.data()),
            fnv(b.data()),
            "{name}: checksum differs between opens"
        );
        let sum: u64 = a.data().iter().map(|&v| u64::from(v)).sum();
        let mean = sum as f64 / a.data().len() as f64;
        // White strokes on black: mostly background.
        assert!((5.0..80.0).contains(&mean), "{name}: mean pixel {mean}");
    }
}
