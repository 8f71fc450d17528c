//! Tests of the Parquet class-file reader, writer and directory dataset.

use super::*;
use crate::scratch::{random_rows, scratch};
use crate::types::BitmapSource;
use parquet::data_type::{ByteArray, ByteArrayType, FixedLenByteArray, FixedLenByteArrayType};
use parquet::data_type::{Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::sync::Arc;

/// One column's values for [`write_raw`]; `None` entries are nulls (the column must be optional).
enum Col {
    Flba(Vec<Option<Vec<u8>>>),
    Bytes(Vec<Option<Vec<u8>>>),
    I64(Vec<Option<i64>>),
    I32(Vec<Option<i32>>),
}

/// Splits optional values into (present values, definition levels).
fn levels<T: Clone>(v: &[Option<T>]) -> (Vec<T>, Vec<i16>) {
    let defs = v.iter().map(|x| i16::from(x.is_some())).collect();
    (v.iter().flatten().cloned().collect(), defs)
}

/// A Parquet file with any schema, one row group, written by the parquet crate (to build files the
/// way other tools do, and bad ones).
fn write_raw(path: &Path, schema: &str, cols: Vec<Col>) {
    let schema = Arc::new(parse_message_type(schema).unwrap());
    let props = Arc::new(WriterProperties::builder().build());
    let file = std::fs::File::create(path).unwrap();
    let mut w = SerializedFileWriter::new(file, schema, props).unwrap();
    let mut g = w.next_row_group().unwrap();
    let mut cols = cols.into_iter();
    while let Some(mut c) = g.next_column().unwrap() {
        match cols.next().unwrap() {
            Col::Flba(v) => {
                let (vals, defs) = levels(&v);
                let vals: Vec<_> = vals.into_iter().map(FixedLenByteArray::from).collect();
                c.typed::<FixedLenByteArrayType>()
                    .write_batch(&vals, Some(&defs), None)
                    .unwrap();
            }
            Col::Bytes(v) => {
                let (vals, defs) = levels(&v);
                let vals: Vec<_> = vals.into_iter().map(ByteArray::from).collect();
                c.typed::<ByteArrayType>()
                    .write_batch(&vals, Some(&defs), None)
                    .unwrap();
            }
            Col::I64(v) => {
                let (vals, defs) = levels(&v);
                c.typed::<Int64Type>()
                    .write_batch(&vals, Some(&defs), None)
                    .unwrap();
            }
            Col::I32(v) => {
                let (vals, defs) = levels(&v);
                c.typed::<Int32Type>()
                    .write_batch(&vals, Some(&defs), None)
                    .unwrap();
            }
        }
        c.close().unwrap();
    }
    g.close().unwrap();
    w.close().unwrap();
}

/// The schema pyarrow writes for a pandas frame {image: bytes, label: int64, word: str}.
const PYARROW_SCHEMA: &str = "message schema {
    optional binary image;
    optional int64 label;
    optional binary word (STRING);
}";

fn some_bytes(rows: &[Bitmap]) -> Vec<Option<Vec<u8>>> {
    rows.iter().map(|r| Some(r.to_vec())).collect()
}

fn err_text(r: Result<ParquetBitmaps>) -> String {
    match r {
        Ok(b) => panic!("expected an error, read {} rows", b.len()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn round_trip_is_exact_across_row_groups() {
    let dir = scratch("pq-round-trip");
    let rows = random_rows(1, 300);
    let path = dir.join("cat.parquet");
    write_parquet_with(&path, &ParquetColumns::default(), "cat", 7, &rows, 128).unwrap();
    let back = ParquetBitmaps::open(&path).unwrap();
    assert_eq!(back.len(), 300);
    assert_eq!(back.word(), Some("cat"));
    assert_eq!(back.label(), Some(7));
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(back.get(i).unwrap(), r, "row {i}");
    }
    assert!(back.get(300).is_err());
    // The capped read takes the leading rows, also when the cap ends inside a row group.
    let head = ParquetBitmaps::open_with(&path, &ParquetColumns::default(), Some(130)).unwrap();
    assert_eq!(head.len(), 130);
    assert_eq!(head.get(129).unwrap(), &rows[129]);
    // Only the final file is left: no temporaries.
    let names: Vec<_> = std::fs::read_dir(&*dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("cat.parquet")]);
}

#[test]
fn empty_class_file_round_trips() {
    let dir = scratch("pq-empty");
    let path = dir.join("none.parquet");
    write_parquet(&path, "none", 0, &[]).unwrap();
    let back = ParquetBitmaps::open(&path).unwrap();
    assert!(back.is_empty());
    assert_eq!(back.word(), None);
}

#[test]
fn custom_column_names() {
    let dir = scratch("pq-columns");
    let cols = ParquetColumns {
        image: "pixels".into(),
        label: "y".into(),
        word: "class".into(),
    };
    let rows = random_rows(2, 5);
    let path = dir.join("dog.parquet");
    write_parquet_with(&path, &cols, "dog", 3, &rows, 2).unwrap();
    let back = ParquetBitmaps::open_with(&path, &cols, None).unwrap();
    assert_eq!(
        (back.len(), back.label(), back.word()),
        (5, Some(3), Some("dog"))
    );
    let e = err_text(ParquetBitmaps::open(&path));
    assert!(
        e.contains("no image column \"image\"") && e.contains("pixels"),
        "{e}"
    );
    assert!(write_parquet_with(&path, &cols, "dog", 3, &rows, 0).is_err());
}

#[test]
fn reads_a_pyarrow_style_file() {
    // Optional BYTE_ARRAY image, INT64 label and STRING word, dictionary-encoded, as pandas writes.
    let dir = scratch("pq-pyarrow");
    let rows = random_rows(3, 20);
    let path = dir.join("cat.parquet");
    write_raw(
        &path,
        PYARROW_SCHEMA,
        vec![
            Col::Bytes(some_bytes(&rows)),
            Col::I64(vec![Some(4); 20]),
            Col::Bytes(vec![Some(b"cat".to_vec()); 20]),
        ],
    );
    let back = ParquetBitmaps::open(&path).unwrap();
    assert_eq!(
        (back.len(), back.label(), back.word()),
        (20, Some(4), Some("cat"))
    );
    assert_eq!(back.get(19).unwrap(), &rows[19]);
}

#[test]
fn label_only_and_word_only_files_read() {
    let dir = scratch("pq-one-label");
    let rows = random_rows(4, 3);
    let a = dir.join("a.parquet");
    write_raw(
        &a,
        "message m { required fixed_len_byte_array(784) image; required int32 label; }",
        vec![Col::Flba(some_bytes(&rows)), Col::I32(vec![Some(9); 3])],
    );
    let back = ParquetBitmaps::open(&a).unwrap();
    assert_eq!((back.label(), back.word()), (Some(9), None));
    let b = dir.join("b.parquet");
    write_raw(
        &b,
        "message m { required binary image; required binary word (UTF8); }",
        vec![
            Col::Bytes(some_bytes(&rows)),
            Col::Bytes(vec![Some(b"b".to_vec()); 3]),
        ],
    );
    let back = ParquetBitmaps::open(&b).unwrap();
    assert_eq!((back.label(), back.word()), (None, Some("b")));
    assert_eq!(back.get(2).unwrap(), &rows[2]);
    // pyarrow's uint32: INT32 annotated unsigned, so 3e9 is stored as a negative i32.
    let c = dir.join("c.parquet");
    let big = i32::from_ne_bytes(3_000_000_000u32.to_ne_bytes());
    write_raw(
        &c,
        "message m { required binary image; required int32 label (UINT_32); }",
        vec![Col::Bytes(some_bytes(&rows)), Col::I32(vec![Some(big); 3])],
    );
    assert_eq!(
        ParquetBitmaps::open(&c).unwrap().label(),
        Some(3_000_000_000)
    );
}

#[test]
fn a_783_byte_image_names_file_group_and_row() {
    let dir = scratch("pq-783");
    let mut rows = some_bytes(&random_rows(5, 6));
    rows[4] = Some(vec![0; 783]);
    let path = dir.join("cat.parquet");
    write_raw(
        &path,
        PYARROW_SCHEMA,
        vec![
            Col::Bytes(rows),
            Col::I64(vec![Some(0); 6]),
            Col::Bytes(vec![Some(b"cat".to_vec()); 6]),
        ],
    );
    let e = err_text(ParquetBitmaps::open(&path));
    assert!(e.contains("cat.parquet"), "{e}");
    assert!(e.contains("row group 0, row 4"), "{e}");
    assert!(e.contains("783 bytes"), "{e}");
}

#[test]
fn null_image_and_bad_labels_are_errors() {
    let dir = scratch("pq-nulls");
    let rows = random_rows(6, 3);
    let words = || Col::Bytes(vec![Some(b"cat".to_vec()); 3]);
    let null_image = dir.join("null.parquet");
    let mut images = some_bytes(&rows);
    images[1] = None;
    write_raw(
        &null_image,
        PYARROW_SCHEMA,
        vec![Col::Bytes(images), Col::I64(vec![Some(0); 3]), words()],
    );
    let e = err_text(ParquetBitmaps::open(&null_image));
    assert!(
        e.contains("null.parquet") && e.contains("row 1") && e.contains("null"),
        "{e}"
    );

    let negative = dir.join("negative.parquet");
    write_raw(
        &negative,
        PYARROW_SCHEMA,
        vec![
            Col::Bytes(some_bytes(&rows)),
            Col::I64(vec![Some(0), Some(-1), Some(0)]),
            words(),
        ],
    );
    let e = err_text(ParquetBitmaps::open(&negative));
    assert!(e.contains("row 1") && e.contains("label -1"), "{e}");

    let mixed = dir.join("mixed.parquet");
    write_raw(
        &mixed,
        PYARROW_SCHEMA,
        vec![
            Col::Bytes(some_bytes(&rows)),
            Col::I64(vec![Some(0); 3]),
            Col::Bytes(vec![
                Some(b"cat".to_vec()),
                Some(b"cat".to_vec()),
                Some(b"dog".to_vec()),
            ]),
        ],
    );
    let e = err_text(ParquetBitmaps::open(&mixed));
    assert!(
        e.contains("row 2") && e.contains("\"dog\"") && e.contains("one class"),
        "{e}"
    );
}

#[test]
fn wrong_column_types_are_errors() {
    let dir = scratch("pq-types");
    let rows = random_rows(7, 2);
    let cases: Vec<(&str, &str, Vec<Col>, &str)> = vec![
        (
            "short_flba",
            "message m { required fixed_len_byte_array(100) image; required int64 label; }",
            vec![
                Col::Flba(vec![Some(vec![0; 100]); 2]),
                Col::I64(vec![Some(0); 2]),
            ],
            "FIXED_LEN_BYTE_ARRAY(100)",
        ),
        (
            "int_image",
            "message m { required int32 image; required int64 label; }",
            vec![Col::I32(vec![Some(0); 2]), Col::I64(vec![Some(0); 2])],
            "is INT32; expected FIXED_LEN_BYTE_ARRAY(784)",
        ),
        (
            "string_label",
            "message m { required binary image; required binary label; }",
            vec![
                Col::Bytes(some_bytes(&rows)),
                Col::Bytes(vec![Some(b"1".to_vec()); 2]),
            ],
            "expected INT32 or INT64",
        ),
        (
            "int_word",
            "message m { required binary image; required int64 word; }",
            vec![Col::Bytes(some_bytes(&rows)), Col::I64(vec![Some(0); 2])],
            "expected BYTE_ARRAY",
        ),
        (
            "no_label",
            "message m { required binary image; required int64 other; }",
            vec![Col::Bytes(some_bytes(&rows)), Col::I64(vec![Some(0); 2])],
            "neither a \"label\" nor a \"word\" column",
        ),
    ];
    for (name, schema, cols, want) in cases {
        let path = dir.join(format!("{name}.parquet"));
        write_raw(&path, schema, cols);
        let e = err_text(ParquetBitmaps::open(&path));
        assert!(
            e.contains(&format!("{name}.parquet")) && e.contains(want),
            "{name}: {e}"
        );
    }
}

#[test]
fn corrupt_files_are_errors_naming_the_file() {
    let dir = scratch("pq-corrupt");
    let good = dir.join("good.parquet");
    write_parquet(&good, "cat", 0, &random_rows(8, 50)).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    let mut random = vec![0u8; 5000];
    rng.fill(&mut random[..]);
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), vec![]),
        ("truncated".into(), bytes[..bytes.len() / 2].to_vec()),
        ("no_footer".into(), bytes[..bytes.len() - 8].to_vec()),
        ("random".into(), random),
        ("text".into(), b"key,word\n1,cat\n".repeat(20)),
    ];
    // Damage inside the data pages and the footer, keeping the magic numbers: a deterministic
    // sweep of byte flips must never panic and never return wrong-length data.
    for k in 0..40 {
        let mut b = bytes.clone();
        let at = 4 + (k * 7919) % (b.len() - 8);
        b[at] ^= 0xa5;
        cases.push((format!("flip{k}"), b));
    }
    for (name, b) in cases {
        let path = dir.join(format!("{name}.parquet"));
        std::fs::write(&path, &b).unwrap();
        match ParquetBitmaps::open(&path) {
            // A flip in pixel bytes of an uncompressed-looking region may still decode; then
            // the shape must be intact.
            Ok(back) => assert!(name.starts_with("flip") && back.len() == 50, "{name}"),
            Err(e) => {
                let e = e.to_string();
                assert!(e.contains(&format!("{name}.parquet")), "{name}: {e}");
            }
        }
    }
}

#[test]
fn dataset_labels_follow_sorted_names() {
    let dir = scratch("pq-dataset");
    let cat = random_rows(10, 3);
    let ant = random_rows(11, 2);
    write_parquet(dir.join("cat.parquet"), "cat", 5, &cat).unwrap();
    write_parquet(dir.join("ant.parquet"), "ant", 9, &ant).unwrap();
    std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
    let ds = ParquetDataset::open_dir(&*dir, None).unwrap();
    assert_eq!(ds.class_names(), &["ant".to_string(), "cat".to_string()]);
    assert_eq!(ds.len(), 5);
    assert_eq!(ds.class_counts(), vec![2, 3]);
    let mut out = [0u8; IMAGE_PIXELS];
    assert_eq!(ds.read(1, &mut out).unwrap(), 0);
    assert_eq!(out, ant[1]);
    assert_eq!(ds.read(4, &mut out).unwrap(), 1);
    assert_eq!(out, cat[2]);
    assert_eq!(ds.label(2).unwrap(), 1);
    assert!(ds.read(5, &mut out).is_err());
    let capped =
        ParquetDataset::open_dir_with(&*dir, None, Some(2), &ParquetColumns::default()).unwrap();
    assert_eq!(capped.class_counts(), vec![2, 2]);
}

#[test]
fn class_subset_does_not_open_other_files() {
    let dir = scratch("pq-subset");
    let cat = random_rows(12, 4);
    write_parquet(dir.join("cat.parquet"), "cat", 0, &cat).unwrap();
    std::fs::write(dir.join("other.parquet"), b"garbage, not parquet").unwrap();
    let ds = ParquetDataset::open_dir(&*dir, Some(&["cat".to_string()])).unwrap();
    assert_eq!((ds.len(), ds.class_names().len()), (4, 1));
    // Opening everything does reach the garbage file, and says which one it is.
    let e = ParquetDataset::open_dir(&*dir, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("other.parquet"), "{e}");
}

#[test]
fn unknown_class_empty_dir_and_bad_lists() {
    let dir = scratch("pq-unknown");
    let e = ParquetDataset::open_dir(&*dir, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no .parquet files"), "{e}");
    write_parquet(dir.join("cat.parquet"), "cat", 0, &random_rows(13, 1)).unwrap();
    match ParquetDataset::open_dir(&*dir, Some(&["cta".to_string()])) {
        Err(Error::UnknownClass { name, hint }) => {
            assert_eq!((name.as_str(), hint.as_deref()), ("cta", Some("cat")))
        }
        other => panic!("expected UnknownClass, got {other:?}"),
    }
    assert!(ParquetDataset::open_dir(&*dir, Some(&[])).is_err());
    let twice = ["cat".to_string(), "cat".to_string()];
    assert!(ParquetDataset::open_dir(&*dir, Some(&twice)).is_err());
    assert!(ParquetDataset::open_dir(dir.join("missing"), None).is_err());
}
