use super::*;
use std::io::Cursor;

const SIMPLE: &str = r#"{"word":"cat","countrycode":"US","timestamp":"2017-03-02 23:25:10.07453 UTC","recognized":true,"key_id":"5201136883597312","drawing":[[[0,10,255],[5,6,7]],[[3],[4]]]}"#;
const RAW: &str = r#"{"word":"cat","countrycode":"GB","timestamp":"2017-01-27 20:10:04.51908 UTC","recognized":false,"key_id":"42","drawing":[[[1.5,600.25],[2,3],[0,17.5]]]}"#;

fn read_all(text: &str) -> Vec<Result<Drawing>> {
    NdjsonReader::from_reader(Cursor::new(text.as_bytes().to_vec()), "mem.ndjson").collect()
}

fn err_of(text: &str) -> String {
    let all = read_all(text);
    let e = all
        .into_iter()
        .find_map(|r| r.err())
        .expect("expected an error");
    e.to_string()
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "inkling-ndjson-{}-{}-{name}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ))
}

#[test]
fn parses_simplified_and_raw() {
    let d = read_all(SIMPLE).remove(0).unwrap();
    assert_eq!(d.word, "cat");
    assert_eq!(d.countrycode, "US");
    assert!(d.recognized);
    assert_eq!(d.key_id, 5_201_136_883_597_312);
    // 2017-03-02 23:25:10 UTC
    assert_eq!(d.timestamp, 1_488_497_110);
    assert_eq!(d.strokes.len(), 2);
    assert_eq!(d.strokes[0].x, vec![0.0, 10.0, 255.0]);
    assert_eq!(d.strokes[0].y, vec![5.0, 6.0, 7.0]);
    assert_eq!(d.strokes[0].t, None);
    let r = read_all(RAW).remove(0).unwrap();
    assert_eq!(r.key_id, 42);
    assert_eq!(r.strokes[0].x, vec![1.5, 600.25]);
    assert_eq!(r.strokes[0].t, Some(vec![0.0, 17.5]));
    // Raw coordinates may be negative (strokes leaving the canvas).
    let neg = read_all(&RAW.replace("[2,3]", "[-2,3]")).remove(0).unwrap();
    assert_eq!(neg.strokes[0].y, vec![-2.0, 3.0]);
}

#[test]
fn blank_trailing_lines_are_fine_but_not_in_the_middle() {
    let text = format!("{SIMPLE}\n{RAW}\n\n  \n");
    let all = read_all(&text);
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|r| r.is_ok()));
    let e = err_of(&format!("{SIMPLE}\n\n{RAW}\n"));
    assert!(
        e.contains("mem.ndjson: line 2") && e.contains("blank"),
        "{e}"
    );
}

#[test]
fn timestamps() {
    assert_eq!(parse_timestamp("1970-01-01 00:00:00 UTC"), Ok(0));
    assert_eq!(
        parse_timestamp("2000-02-29 12:00:00.5 UTC"),
        Ok(951_825_600)
    );
    assert_eq!(parse_timestamp("2106-02-07 06:28:15 UTC"), Ok(u32::MAX));
    for bad in [
        "2017-02-29 00:00:00 UTC",
        "2017-13-01 00:00:00 UTC",
        "2017-01-01 24:00:00 UTC",
        "1969-12-31 23:59:59 UTC",
        "2106-02-07 06:28:16 UTC",
        "2017-01-01",
        "2017-01-01 00:00:0x UTC",
        "yesterday",
    ] {
        assert!(parse_timestamp(bad).is_err(), "{bad}");
    }
    for t in [0, 1, 951_825_600, 1_488_497_110, u32::MAX] {
        assert_eq!(parse_timestamp(&format_timestamp(t)), Ok(t));
    }
}

#[test]
fn malformed_lines_name_file_line_and_problem() {
    let cases: [(&str, &str); 14] = [
        (&SIMPLE.replace("[0,10,255]", "[0,10,256]"), "above 255"),
        (&RAW.replace("[0,17.5]", "[0,1e39]"), "not finite"),
        ("{\"word\":", "bad JSON"),
        (
            &SIMPLE.replace("\"word\":\"cat\",", ""),
            "missing field `word`",
        ),
        (
            &SIMPLE.replace("[5,6,7]", "[5,6]"),
            "x has 3 points but y has 2",
        ),
        (&SIMPLE.replace("[0,10,255]", "[0,-10,255]"), "negative"),
        (&SIMPLE.replace("[0,10,255]", "[0,1e300,255]"), "not finite"),
        (
            &SIMPLE.replace("[[[0,10,255],[5,6,7]],[[3],[4]]]", "[]"),
            "empty drawing",
        ),
        (&SIMPLE.replace("[[3],[4]]", "[[],[]]"), "no points"),
        (&SIMPLE.replace("[[3],[4]]", "[[3]]"), "1 arrays"),
        (
            &SIMPLE.replace("[[3],[4]]", "[[3],[4],[5]]"),
            "stroke 0 has 2",
        ),
        (&RAW.replace("[0,17.5]", "[0]"), "t has 1 values"),
        (&SIMPLE.replace("5201136883597312", "52x"), "key_id"),
        (&SIMPLE.replace("2017-03-02", "2017-03-32"), "no such date"),
    ];
    for (line, want) in cases {
        let e = err_of(&format!("{SIMPLE}\n{line}\n{SIMPLE}\n"));
        assert!(e.starts_with("mem.ndjson: line 2: "), "{e}");
        assert!(e.contains(want), "{e} (wanted {want})");
    }
    // An over-long line is refused without reading it whole.
    let long: Vec<_> = NdjsonReader::from_reader(Cursor::new(format!("{SIMPLE}\n{SIMPLE}\n")), "m")
        .with_max_line_bytes(SIMPLE.len() as u64)
        .collect();
    assert!(long[0].is_ok() && long[1].is_ok());
    let long: Vec<_> =
        NdjsonReader::from_reader(Cursor::new(format!("{SIMPLE}\n{SIMPLE} \n")), "m")
            .with_max_line_bytes(SIMPLE.len() as u64)
            .collect();
    let e = long[1].as_ref().unwrap_err().to_string();
    assert!(e.contains("m: line 2: line longer than"), "{e}");
    // Iteration stops after the first error.
    let all = read_all(&format!("{{\n{SIMPLE}\n"));
    assert_eq!(all.len(), 1);
    // Invalid UTF-8 is bad JSON, not a panic.
    let mut bytes = SIMPLE.as_bytes().to_vec();
    bytes[10] = 0xff;
    let r: Vec<_> = NdjsonReader::from_reader(Cursor::new(bytes), "x").collect();
    assert!(r[0].as_ref().is_err());
}

#[test]
fn write_then_read_round_trips_and_is_atomic() {
    let drawings: Vec<Drawing> = read_all(&format!("{SIMPLE}\n{SIMPLE}\n"))
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let mut d2 = drawings[1].clone();
    d2.word = "say \"hi\"\n".into();
    d2.timestamp = 0;
    let all = vec![drawings[0].clone(), d2];
    let path = tmp("rt.ndjson");
    write_ndjson(&path, &all).unwrap();
    let back: Vec<Drawing> = NdjsonReader::open(&path)
        .unwrap()
        .collect::<Result<_>>()
        .unwrap();
    assert_eq!(back, all);
    // A raw drawing rounds to integers; out-of-range coordinates are refused and leave no file.
    let raw = read_all(RAW).remove(0).unwrap();
    let bad = tmp("bad.ndjson");
    let e = write_ndjson(&bad, [&raw]).unwrap_err().to_string();
    assert!(e.contains("drawing 0") && e.contains("0–255"), "{e}");
    assert!(!bad.exists());
    let dir = path.parent().unwrap();
    let prefix = format!(".{}", path.file_name().unwrap().to_string_lossy());
    let leftovers = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .count();
    assert_eq!(leftovers, 0);
    std::fs::remove_file(&path).unwrap();
    let e = NdjsonReader::open(&path).err().unwrap().to_string();
    assert!(e.contains("rt.ndjson"), "{e}");
}

/// Every shared ndjson file (simplified and raw) parses.
#[test]
fn shared_files_parse() {
    let root = crate::raster::quickdraw_dir();
    let Some(root) = root else {
        eprintln!("skipping: ../shared/data/quickdraw is absent");
        return;
    };
    let mut n = 0;
    for sub in ["simplified", "raw"] {
        let Ok(dir) = std::fs::read_dir(root.join(sub)) else {
            continue;
        };
        for entry in dir.filter_map(|e| e.ok()) {
            for d in NdjsonReader::open(entry.path()).unwrap() {
                let d = d.unwrap();
                assert!(!d.strokes.is_empty());
                n += 1;
            }
        }
    }
    eprintln!("parsed {n} shared drawings");
    assert!(n > 0);
}
