//! `inkling quantize --method rtn|awq|gptq` end to end on a tiny model trained one epoch on the
//! built-in synthetic doodles: each method writes its `.tflite` and report, mixed precision keeps
//! the layers it says, and impossible settings are clear errors.

mod common;

use common::{inkling, ok, Scratch};

fn train(dir: &Scratch) -> String {
    common::train_tiny_vit(dir, 32)
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[test]
fn four_bit_methods_write_models_and_reports() {
    let dir = Scratch::new("wq");
    let ck = train(&dir);
    let quantize = |extra: &[&str]| {
        let mut args = vec![
            "quantize",
            "--checkpoint",
            &ck,
            "--calibration-samples",
            "24",
            "--eval-samples",
            "30",
            "--json",
            "--threads",
            "1",
        ];
        args.extend_from_slice(extra);
        json(&ok(&args))
    };
    for (method, extra) in [
        ("rtn", vec![]),
        ("awq", vec!["--block", "32"]),
        ("gptq", vec!["--act-order", "--damp", "0.05"]),
    ] {
        let mut args = vec!["--method", method];
        args.extend(extra);
        let r = quantize(&args);
        assert_eq!(r["method"], method);
        let out = r["out"].as_str().unwrap();
        assert!(out.ends_with(&format!("model_{method}.tflite")), "{out}");
        assert!(std::path::Path::new(out).exists());
        assert!(std::path::Path::new(&out.replace(".tflite", ".report.json")).exists());
        assert!(r["int4_bytes"].as_u64().unwrap() < r["float_bytes"].as_u64().unwrap());
        for k in ["float_top1", "int4_top1"] {
            assert!((0.0..=1.0).contains(&r[k].as_f64().unwrap()), "{k}: {r}");
        }
        // q, k, v, proj, fc1, fc2 of the one block; the head stays out.
        let layers = r["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 6, "{layers:?}");
        assert!(layers.iter().all(|l| l["sqnr_db"].as_f64().unwrap() > 3.0));
        if method == "awq" {
            assert_eq!(r["block"], 32);
            assert_eq!(r["awq"].as_array().unwrap().len(), 4);
        }
    }
    // Static int8 activations with the 2 most sensitive layers kept (in int8).
    let out = dir.s("mixed.tflite");
    let r = quantize(&[
        "--method",
        "gptq",
        "--act",
        "int8",
        "--keep-sensitive",
        "2",
        "--out",
        &out,
    ]);
    let kept = r["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kept"] == true)
        .count();
    assert_eq!(kept, 2);
    assert!(!r["int8_layers"].as_array().unwrap().is_empty());
    assert!(std::path::Path::new(&out).exists());

    // Blocks of 64 do not divide the 32 input channels of q/k/v: an error naming the layer.
    let bad = inkling(&[
        "quantize",
        "--checkpoint",
        &ck,
        "--method",
        "rtn",
        "--block",
        "64",
        "--calibration-samples",
        "8",
        "--threads",
        "1",
    ]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("qkv") && err.contains("64"), "{err}");
    let bad = inkling(&["quantize", "--checkpoint", &ck, "--method", "int3"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("int3"));
}
