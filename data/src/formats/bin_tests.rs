//! Tests of the `.bin` stroke reader and writer.

use super::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

use crate::scratch::scratch;

fn stroke(xs: &[u8], ys: &[u8]) -> Stroke {
    Stroke {
        x: xs.iter().map(|&v| f32::from(v)).collect(),
        y: ys.iter().map(|&v| f32::from(v)).collect(),
        t: None,
    }
}

fn random_drawings(seed: u64, n: usize) -> Vec<Drawing> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let strokes = (0..rng.gen_range(0..6))
                .map(|_| {
                    let k = rng.gen_range(0..40);
                    let xs: Vec<u8> = (0..k).map(|_| rng.gen()).collect();
                    let ys: Vec<u8> = (0..k).map(|_| rng.gen()).collect();
                    stroke(&xs, &ys)
                })
                .collect();
            Drawing {
                word: String::new(),
                countrycode: ["US", "GB", "DE", "ZZ"][rng.gen_range(0..4)].to_string(),
                timestamp: rng.gen(),
                recognized: rng.gen(),
                key_id: rng.gen(),
                strokes,
            }
        })
        .collect()
}

fn read_all(bytes: &[u8]) -> Vec<Result<Drawing>> {
    BinReader::new("mem.bin", bytes).collect()
}

#[test]
fn round_trip_is_exact() {
    let dir = scratch("rt");
    let p = dir.join("cat.bin");
    let drawings = random_drawings(1, 50);
    write_bin(&p, &drawings).unwrap();
    let back: Vec<Drawing> = BinReader::open(&p).unwrap().collect::<Result<_>>().unwrap();
    assert_eq!(back, drawings);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "temp file left behind"
    );
}

#[test]
fn known_bytes_decode() {
    let mut b = Vec::new();
    b.extend_from_slice(&0x0102_0304_0506_0708u64.to_le_bytes());
    b.extend_from_slice(b"US");
    b.push(1);
    b.extend_from_slice(&1_490_000_000u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&3u16.to_le_bytes());
    b.extend_from_slice(&[0, 128, 255, 10, 20, 30]);
    let d = read_all(&b).pop().unwrap().unwrap();
    assert_eq!(d.key_id, 0x0102_0304_0506_0708);
    assert_eq!(d.countrycode, "US");
    assert!(d.recognized);
    assert_eq!(d.timestamp, 1_490_000_000);
    assert_eq!(d.strokes, vec![stroke(&[0, 128, 255], &[10, 20, 30])]);
    let mut enc = Vec::new();
    encode_drawing(&d, &mut enc).unwrap();
    assert_eq!(enc, b);
}

#[test]
fn zero_strokes_and_max_size_stroke() {
    let empty = Drawing {
        countrycode: "FR".into(),
        key_id: 7,
        ..Drawing::default()
    };
    let xs: Vec<u8> = (0..65535u32).map(|i| (i % 256) as u8).collect();
    let ys: Vec<u8> = (0..65535u32).map(|i| (i / 256) as u8).collect();
    let big = Drawing {
        countrycode: "JP".into(),
        strokes: vec![stroke(&xs, &ys), stroke(&[], &[])],
        ..Drawing::default()
    };
    let mut b = Vec::new();
    encode_drawing(&empty, &mut b).unwrap();
    assert_eq!(b.len(), RECORD_HEAD);
    encode_drawing(&big, &mut b).unwrap();
    let back: Vec<Drawing> = read_all(&b).into_iter().collect::<Result<_>>().unwrap();
    assert_eq!(back, vec![empty, big]);

    let too_many = Drawing {
        countrycode: "JP".into(),
        strokes: vec![stroke(&[1; 65536], &[1; 65536])],
        ..Drawing::default()
    };
    let e = encode_drawing(&too_many, &mut Vec::new()).unwrap_err();
    assert!(e.contains("65536 points (at most 65535)"), "{e}");
}

#[test]
fn truncation_names_record_and_offset() {
    let drawings = random_drawings(2, 3);
    let mut full = Vec::new();
    let mut starts = Vec::new();
    for d in &drawings {
        starts.push(full.len());
        encode_drawing(d, &mut full).unwrap();
    }
    let mut with_stroke = drawings[2].clone();
    with_stroke.strokes = vec![stroke(&[1, 2, 3, 4], &[5, 6, 7, 8])];
    let s2 = starts[2];
    full.truncate(s2);
    encode_drawing(&with_stroke, &mut full).unwrap();

    // Mid-header of record 2.
    let cut = s2 + 5;
    let r = read_all(&full[..cut]);
    assert_eq!(r.len(), 3);
    assert!(r[0].is_ok() && r[1].is_ok());
    let msg = r[2].as_ref().unwrap_err().to_string();
    assert_eq!(
        msg,
        format!(
            "mem.bin: record 2 (byte {s2}): record cut short: file ends at byte {cut} in the record header (12 more bytes needed)"
        )
    );
    // Mid-stroke: header (17) + n_points (2) + 3 of the 8 coordinate bytes.
    let cut = s2 + 17 + 2 + 3;
    let msg = read_all(&full[..cut])
        .pop()
        .unwrap()
        .unwrap_err()
        .to_string();
    assert_eq!(
        msg,
        format!(
            "mem.bin: record 2 (byte {s2}): record cut short: file ends at byte {cut} in stroke 0's coordinates (5 more bytes needed)"
        )
    );
    // Inside a point count.
    let cut = s2 + 18;
    let msg = read_all(&full[..cut])
        .pop()
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("in stroke 0's point count (1 more bytes needed)"),
        "{msg}"
    );
    // Every cut point: either a clean end at a record boundary or an error, never a panic.
    for cut in 0..full.len() {
        let r = read_all(&full[..cut]);
        let boundary = starts.contains(&cut) || cut == 0;
        assert_eq!(r.iter().all(|x| x.is_ok()), boundary, "cut {cut}");
    }
    // And from a file, named by path.
    let dir = scratch("trunc");
    let p = dir.join("dog.bin");
    std::fs::write(&p, &full[..s2 + 3]).unwrap();
    let msg = BinReader::open(&p)
        .unwrap()
        .last()
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(msg.contains("dog.bin: record 2 (byte "), "{msg}");
}

#[test]
fn non_ascii_countrycode_is_rejected() {
    let mut b = vec![0u8; RECORD_HEAD];
    b[8] = 0xC3;
    b[9] = 0xA9;
    let msg = read_all(&b).pop().unwrap().unwrap_err().to_string();
    assert!(
        msg.contains("record 0 (byte 0): countrycode bytes [c3, a9] are not ASCII"),
        "{msg}"
    );
}

#[test]
fn writer_rejects_bad_drawings_and_writes_nothing() {
    let dir = scratch("wbad");
    let p = dir.join("x.bin");
    let ok = random_drawings(3, 2);
    let cases: Vec<(Drawing, &str)> = vec![
        (
            Drawing {
                countrycode: "USA".into(),
                ..Drawing::default()
            },
            "countrycode \"USA\" is not 2 bytes",
        ),
        (
            Drawing {
                countrycode: "é".into(),
                ..Drawing::default()
            },
            "is not ASCII",
        ),
        (
            Drawing {
                countrycode: "US".into(),
                strokes: vec![Stroke {
                    x: vec![1.0, 256.0],
                    y: vec![0.0, 0.0],
                    t: None,
                }],
                ..Drawing::default()
            },
            "stroke 0 point 1: x = 256 is outside 0-255",
        ),
        (
            Drawing {
                countrycode: "US".into(),
                strokes: vec![Stroke {
                    x: vec![1.0],
                    y: vec![-1.0],
                    t: None,
                }],
                ..Drawing::default()
            },
            "stroke 0 point 0: y = -1 is outside 0-255",
        ),
        (
            Drawing {
                countrycode: "US".into(),
                strokes: vec![Stroke {
                    x: vec![f32::NAN],
                    y: vec![0.0],
                    t: None,
                }],
                ..Drawing::default()
            },
            "x = NaN is outside 0-255",
        ),
        (
            Drawing {
                countrycode: "US".into(),
                strokes: vec![Stroke {
                    x: vec![1.0],
                    y: vec![],
                    t: None,
                }],
                ..Drawing::default()
            },
            "stroke 0 has 1 x and 0 y coordinates",
        ),
    ];
    for (bad, want) in cases {
        let all = [ok[0].clone(), ok[1].clone(), bad];
        let msg = write_bin(&p, &all).unwrap_err().to_string();
        assert!(
            msg.contains(want) && msg.contains("drawing 2"),
            "expected {want:?} in {msg:?}"
        );
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "file left behind"
        );
    }
    // Fractional coordinates round to the nearest integer.
    let mut d = ok[0].clone();
    d.strokes = vec![Stroke {
        x: vec![0.4, 254.6],
        y: vec![3.5, 7.0],
        t: None,
    }];
    write_bin(&p, [&d]).unwrap();
    let back = BinReader::open(&p).unwrap().next().unwrap().unwrap();
    assert_eq!(back.strokes, vec![stroke(&[0, 255], &[4, 7])]);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = StdRng::seed_from_u64(4);
    for _ in 0..2000 {
        let n = rng.gen_range(0..200);
        let b: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
        let _ = read_all(&b);
    }
}
