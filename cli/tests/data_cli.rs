//! `inkling data …` and `inkling bench data` end to end, on small files each test writes (and on the
//! shared Quick, Draw! slice when present).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{inkling, ok, Scratch};

use inkling::data::formats::{bin, ndjson, npy};
use inkling::data::{Bitmap, Drawing, Stroke, IMAGE_PIXELS};

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Row `k` of a test class: the top `k + 1` image rows inked at `value`.
fn rows(n: usize, value: u8) -> Vec<Bitmap> {
    (0..n)
        .map(|k| {
            let mut b = [0u8; IMAGE_PIXELS];
            b[..28 * (k + 1)].fill(value);
            b
        })
        .collect()
}

fn drawing(points: usize, cc: &str, word: &str) -> Drawing {
    Drawing {
        word: word.into(),
        countrycode: cc.into(),
        timestamp: 1_490_000_000,
        recognized: true,
        key_id: 42,
        strokes: vec![Stroke {
            x: (0..points).map(|i| (i * 10) as f32).collect(),
            y: (0..points).map(|i| (i * 5) as f32).collect(),
            t: None,
        }],
    }
}

#[test]
fn inspect_npy_reports_shape_checksum_and_ink() {
    let dir = Scratch::new("inspect-npy");
    let data = rows(3, 255);
    npy::write_npy(dir.path("cat.npy"), &data).unwrap();
    let out = ok(&["data", "inspect", &dir.s("cat.npy")]);
    assert!(out.contains("version 1.0"), "{out}");
    assert!(out.contains("shape:        [3, 784]"), "{out}");
    assert!(out.contains("rows:         3\n"), "{out}");
    let flat: Vec<u8> = data.iter().flatten().copied().collect();
    assert!(
        out.contains(&format!("fnv1a64:{:016x}", fnv1a(&flat))),
        "{out}"
    );
    // 28 + 56 + 84 inked pixels of 3 × 784, all at 255.
    let ink = 168.0 / 2352.0;
    assert!(
        out.contains(&format!("mean pixel:   {:.2} / 255", 255.0 * ink)),
        "{out}"
    );
    assert!(
        out.contains(&format!("ink coverage: {:.2} %", 100.0 * ink)),
        "{out}"
    );
}

#[test]
fn inspect_and_list_a_class_directory() {
    let dir = Scratch::new("inspect-dir");
    npy::write_npy(dir.path("dog.npy"), &rows(2, 9)).unwrap();
    npy::write_npy(dir.path("cat.npy"), &rows(5, 7)).unwrap();
    let out = ok(&["data", "inspect", &dir.0.to_string_lossy()]);
    assert!(out.contains("classes:  2"), "{out}");
    assert!(out.contains("cat          5 rows"), "{out}");
    assert!(out.contains("dog          2 rows"), "{out}");
    assert!(out.contains("total:    7 rows"), "{out}");
    let list = ok(&["data", "list-classes", "--source", &dir.0.to_string_lossy()]);
    assert_eq!(list, "cat\ndog\n");
    let synth = ok(&["data", "list-classes"]);
    assert!(synth.lines().count() >= 10, "{synth}");
    assert!(synth.lines().any(|l| l == "circle"), "{synth}");
}

#[test]
fn bad_files_exit_non_zero_naming_the_file() {
    let dir = Scratch::new("bad");
    // A valid header whose data is cut short.
    npy::write_npy(dir.path("cut.npy"), &rows(2, 1)).unwrap();
    let bytes = std::fs::read(dir.path("cut.npy")).unwrap();
    std::fs::write(dir.path("cut.npy"), &bytes[..bytes.len() - 100]).unwrap();
    std::fs::write(dir.path("junk.npy"), b"not numpy at all").unwrap();
    let mut record = Vec::new();
    bin::encode_drawing(&drawing(4, "US", ""), &mut record).unwrap();
    std::fs::write(dir.path("cut.bin"), &record[..record.len() - 3]).unwrap();
    std::fs::write(dir.path("bad.ndjson"), b"{\"word\": \"cat\"\n").unwrap();
    for (file, what) in [
        ("cut.npy", "truncated"),
        ("junk.npy", "magic"),
        ("cut.bin", "record 0"),
        ("bad.ndjson", "line 1"),
    ] {
        let out = inkling(&["data", "inspect", &dir.s(file)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file}: {err}");
        assert!(err.contains(&dir.s(file)), "{file}: {err}");
        assert!(err.contains(what), "{file}: {err}");
        assert!(!err.contains("panicked"), "{file}: {err}");
    }
    // A directory with a bad file in it fails too, naming that file.
    let out = inkling(&["data", "inspect", &dir.0.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cut.npy"));
    let empty = Scratch::new("empty");
    let out = inkling(&["data", "inspect", &empty.0.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no .npy"));
}

#[test]
fn inspect_stroke_files() {
    let dir = Scratch::new("strokes");
    let ds = [
        drawing(3, "US", "cat"),
        drawing(5, "US", "cat"),
        drawing(2, "GB", "cat"),
    ];
    bin::write_bin(dir.path("cat.bin"), &ds).unwrap();
    ndjson::write_ndjson(dir.path("cat.ndjson"), &ds).unwrap();
    for file in ["cat.bin", "cat.ndjson"] {
        let out = ok(&["data", "inspect", &dir.s(file)]);
        assert!(out.contains("drawings:     3\n"), "{out}");
        assert!(out.contains("strokes:      3\n"), "{out}");
        assert!(out.contains("points:       10\n"), "{out}");
        assert!(
            out.contains("countries:    2 distinct (top: US 2, GB 1)"),
            "{out}"
        );
        let bytes = std::fs::read(dir.path(file)).unwrap();
        assert!(
            out.contains(&format!("fnv1a64:{:016x}", fnv1a(&bytes))),
            "{out}"
        );
    }
}

#[test]
fn view_draws_blocks_and_a_png() {
    let dir = Scratch::new("view");
    npy::write_npy(dir.path("bar.npy"), &rows(1, 255)).unwrap();
    let png = dir.s("grid.png");
    let args = [
        "data",
        "view",
        "--source",
        &dir.0.to_string_lossy(),
        "--num-samples",
        "1",
        "--out",
        &png,
        "--scale",
        "1",
    ];
    let out = ok(&args);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[1], "bar (row 0)", "{out}");
    // Image row 0 inked, row 1 not: the first terminal line is all upper half blocks.
    assert_eq!(lines[2], "▀".repeat(28), "{out}");
    assert_eq!(lines[3], "", "{out}");
    assert!(out.contains("30×30 px"), "{out}");
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (30, 30));
    // Gap, then the inked first row, then background.
    assert_eq!((buf[0], buf[30 + 1], buf[2 * 30 + 1]), (128, 255, 0));

    let inv = ok(&[&args[..], &["--invert-colors"]].concat());
    assert!(inv.lines().nth(3).unwrap().chars().all(|c| c == '█'));
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    reader.next_frame(&mut buf).unwrap();
    assert_eq!((buf[30 + 1], buf[2 * 30 + 1]), (0, 255));
}

#[test]
fn view_of_the_synthetic_set_is_deterministic() {
    let a = ok(&[
        "data",
        "view",
        "--classes",
        "star,house",
        "--num-samples",
        "2",
    ]);
    assert!(
        a.contains("star (row 0)") && a.contains("house (row 1)"),
        "{a}"
    );
    // Header + 2 × (label + 14 lines).
    assert_eq!(a.lines().count(), 1 + 2 * 15, "{a}");
    assert!(a.contains('█'), "{a}");
    let b = ok(&[
        "data",
        "view",
        "--classes",
        "star,house",
        "--num-samples",
        "2",
    ]);
    assert_eq!(a, b);
    let c = ok(&[
        "data",
        "view",
        "--classes",
        "star,house",
        "--num-samples",
        "2",
        "--seed",
        "7",
    ]);
    assert_ne!(a, c);
    let out = inkling(&["data", "view", "--classes", "no-such-class"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-class"));
}

#[test]
fn synth_writes_every_format() {
    let dir = Scratch::new("synth");
    for format in ["npy", "bin", "ndjson"] {
        let out = ok(&[
            "data",
            "synth",
            "--out",
            &dir.0.to_string_lossy(),
            "--format",
            format,
            "--samples-per-class",
            "3",
            "--classes",
            "circle,star",
            "--seed",
            "5",
        ]);
        assert_eq!(out.lines().count(), 2, "{out}");
    }
    let circle = npy::NpyBitmaps::open(dir.path("circle.npy")).unwrap();
    assert_eq!(circle.len(), 3);
    assert!(circle.data().iter().any(|&v| v > 200), "no ink");
    let from_bin: Vec<Drawing> = bin::BinReader::open(dir.path("star.bin"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let from_ndjson: Vec<Drawing> = ndjson::NdjsonReader::open(dir.path("star.ndjson"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(from_bin.len(), 3);
    assert_eq!(from_ndjson.len(), 3);
    // Same drawings in both stroke formats.
    for (b, n) in from_bin.iter().zip(&from_ndjson) {
        assert_eq!(b.strokes, n.strokes);
        assert_eq!(n.word, "star");
    }
    let out = ok(&["data", "inspect", &dir.0.to_string_lossy()]);
    assert!(out.contains("total:    6 rows"), "{out}");
}

#[test]
fn bench_data_quick_json_has_the_keys() {
    let out = Command::new(env!("CARGO_BIN_EXE_inkling"))
        .args(["bench", "data", "--quick", "--json"])
        // Synthetic inputs whatever is on this machine: a nonexistent data directory.
        .args(["--data", "/nonexistent/inkling-test"])
        .output()
        .expect("running inkling");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("CPU:") && stderr.contains("synthetic"),
        "{stderr}"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for key in [
        "samples_per_s",
        "samples_per_s_augmented",
        "raster_drawings_per_s",
        "ndjson_mb_per_s",
    ] {
        let x = v[key].as_f64().unwrap_or_else(|| panic!("{key}: {stdout}"));
        assert!(x > 0.0 && x.is_finite(), "{key}: {stdout}");
    }
    assert!(v["cpu"].is_string(), "{stdout}");
    assert_eq!(v["loader"].as_array().unwrap().len(), 4, "{stdout}");
}

/// The shared slice: `$INKLING_QUICKDRAW` or `../shared/data/quickdraw` from the repository root.
fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("INKLING_QUICKDRAW")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/quickdraw").into()
        });
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: {} is absent", dir.display());
        None
    }
}

#[test]
fn shared_slice_inspects_and_views() {
    let Some(dir) = shared() else { return };
    let bitmap = dir.join("bitmap");
    let out = ok(&["data", "inspect", &bitmap.to_string_lossy()]);
    assert!(out.contains("classes:  6"), "{out}");
    assert!(out.contains("total:    15000 rows"), "{out}");
    let cat = ok(&["data", "inspect", &bitmap.join("cat.npy").to_string_lossy()]);
    let file = std::fs::read(bitmap.join("cat.npy")).unwrap();
    let data = &file[file.len() - 2500 * IMAGE_PIXELS..];
    assert!(
        cat.contains(&format!("fnv1a64:{:016x}", fnv1a(data))),
        "{cat}"
    );
    let simplified = dir.join("simplified");
    let cat = ok(&[
        "data",
        "inspect",
        &simplified.join("cat.ndjson").to_string_lossy(),
    ]);
    assert!(cat.contains("drawings:     20\n"), "{cat}");
    assert!(cat.contains("words:        cat 20"), "{cat}");
    let view = ok(&[
        "data",
        "view",
        "--source",
        &simplified.to_string_lossy(),
        "--classes",
        "cat,fish",
        "--num-samples",
        "2",
    ]);
    assert!(
        view.contains("cat (row 0)") && view.contains("fish (row 1)"),
        "{view}"
    );
    assert!(Path::new(&simplified).is_dir());
}

#[test]
fn convert_npy_to_parquet_is_exact_and_caps() {
    let dir = Scratch::new("convert");
    let src = dir.path("npy");
    std::fs::create_dir_all(&src).unwrap();
    let rows = |seed: u8, n: usize| -> Vec<Bitmap> {
        (0..n)
            .map(|i| std::array::from_fn(|p| (p as u8).wrapping_mul(seed).wrapping_add(i as u8)))
            .collect()
    };
    npy::write_npy(src.join("cat.npy"), &rows(3, 5)).unwrap();
    npy::write_npy(src.join("dog.npy"), &rows(7, 4)).unwrap();
    let out = ok(&[
        "data",
        "convert",
        "--source",
        &dir.s("npy"),
        "--out",
        &dir.s("pq"),
    ]);
    assert!(out.contains("cat") && out.contains("dog"), "{out}");
    let ds =
        inkling::data::formats::parquet::ParquetDataset::open_dir(dir.path("pq"), None).unwrap();
    assert_eq!(ds.class_counts(), [5, 4]);
    // `inspect` reads the Parquet file: rows, word and the same pixel checksum as the .npy.
    let report = ok(&[
        "data",
        "inspect",
        &dir.path("pq").join("cat.parquet").to_string_lossy(),
    ]);
    let npy_report = ok(&["data", "inspect", &src.join("cat.npy").to_string_lossy()]);
    let checksum = |r: &str| {
        r.lines()
            .find(|l| l.contains("checksum"))
            .unwrap()
            .to_string()
    };
    assert!(
        report.contains("rows:         5") && report.contains("word:         cat"),
        "{report}"
    );
    assert_eq!(checksum(&report), checksum(&npy_report));
    // Every pixel of every row survives the conversion.
    let cat =
        inkling::data::formats::parquet::ParquetBitmaps::open(dir.path("pq").join("cat.parquet"))
            .unwrap();
    for (i, want) in rows(3, 5).iter().enumerate() {
        assert_eq!(cat.get(i).unwrap(), want);
    }
    // A capped conversion from strokes rasterizes the first drawings.
    let capped = inkling(&[
        "data",
        "convert",
        "--source",
        &dir.s("npy"),
        "--out",
        &dir.s("cap"),
        "--format",
        "npy",
        "--samples-per-class",
        "2",
        "--classes",
        "dog",
    ]);
    assert!(capped.status.success());
    assert_eq!(
        npy::NpyBitmaps::open(dir.path("cap").join("dog.npy"))
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn synth_parquet_converts_back_to_the_same_npy() {
    let dir = Scratch::new("synthpq");
    let synth = |format: &str, out: &str| {
        ok(&[
            "data",
            "synth",
            "--out",
            &dir.s(out),
            "--format",
            format,
            "--samples-per-class",
            "4",
            "--classes",
            "circle,star",
            "--seed",
            "9",
        ])
    };
    synth("parquet", "pq");
    synth("npy", "npy");
    // A Parquet directory is a source like any other: convert reads it, list-classes sees it.
    ok(&[
        "data",
        "convert",
        "--source",
        &dir.s("pq"),
        "--out",
        &dir.s("back"),
        "--format",
        "npy",
    ]);
    for class in ["circle", "star"] {
        let want = npy::NpyBitmaps::open(dir.path("npy").join(format!("{class}.npy"))).unwrap();
        let got = npy::NpyBitmaps::open(dir.path("back").join(format!("{class}.npy"))).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got.data(), want.data(), "{class}");
    }
    let classes = ok(&["data", "list-classes", "--source", &dir.s("pq")]);
    assert_eq!(classes.lines().collect::<Vec<_>>(), ["circle", "star"]);
}
