//! `inkling quantize --method qat` and `inkling train --qat` end to end on a tiny model trained on
//! the built-in synthetic doodles: the report's figures, the files written, and a run stopped
//! and resumed that exports the same bytes as one run straight through.

mod common;

use common::{inkling, ok, Scratch};

/// A 1-block ViT trained for one epoch; returns its best checkpoint.
fn tiny_checkpoint(dir: &Scratch) -> String {
    let out = dir.s("float");
    ok(&[
        "train",
        "--depth",
        "1",
        "--width",
        "16",
        "--heads",
        "2",
        "--mlp-dim",
        "32",
        "--classes",
        "3",
        "--samples-per-class",
        "30",
        "--epochs",
        "1",
        "--batch-size",
        "12",
        "--threads",
        "1",
        "--out",
        &out,
    ]);
    format!("{out}/best.safetensors")
}

fn qat(ck: &str, out: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "quantize",
        "--method",
        "qat",
        "--checkpoint",
        ck,
        "--calibration-samples",
        "16",
        "--epochs",
        "2",
        "--lr",
        "1e-4",
        "--batch-size",
        "8",
        "--threads",
        "1",
        "--json",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    ok(&args)
}

#[test]
fn qat_writes_its_model_report_and_checkpoint_and_resumes_exactly() {
    let dir = Scratch::new("qat");
    let ck = tiny_checkpoint(&dir);
    let straight = dir.s("a/model_qat.tflite");
    let r: serde_json::Value = serde_json::from_str(qat(&ck, &straight, &[]).trim()).unwrap();
    for k in ["float_top1", "ptq_top1", "qat_top1"] {
        let v = r[k].as_f64().unwrap_or_else(|| panic!("{k} in {r}"));
        assert!((0.0..=1.0).contains(&v), "{k} = {v}");
    }
    assert_eq!(r["eval_samples"], 18);
    assert_eq!(r["epoch_seconds"].as_array().unwrap().len(), 2);
    assert!(r["int8_bytes"].as_u64().unwrap() < r["float_bytes"].as_u64().unwrap());
    for f in ["model_qat.report.json", "qat_last.safetensors"] {
        assert!(dir.path("a").join(f).exists(), "{f}");
    }
    let log = std::fs::read_to_string(dir.path("a/qat_log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 2, "{log}");

    // Stopped after 3 of the 2·9 steps, then resumed: the same file, byte for byte.
    let resumed = dir.s("b/model_qat.tflite");
    assert!(qat(&ck, &resumed, &["--stop-after-steps", "3"])
        .trim()
        .is_empty());
    assert!(!dir.path("b/model_qat.tflite").exists());
    let last = dir.s("b/qat_last.safetensors");
    qat(&ck, &resumed, &["--resume-from", &last]);
    assert_eq!(
        std::fs::read(&straight).unwrap(),
        std::fs::read(&resumed).unwrap(),
        "resumed QAT exports what the straight run exported"
    );

    // `train --qat` runs the same fine-tuning.
    let out = dir.s("c");
    ok(&[
        "train",
        "--qat",
        &ck,
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--threads",
        "1",
        "--out",
        &out,
    ]);
    assert!(dir.path("c/model_qat.tflite").exists());

    // A checkpoint that is not a QAT one is refused with its name.
    let bad = inkling(&[
        "quantize",
        "--method",
        "qat",
        "--checkpoint",
        &ck,
        "--resume-from",
        &ck,
        "--threads",
        "1",
    ]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("not a QAT checkpoint"), "{err}");
}
