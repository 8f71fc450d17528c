//! `inkling quantize --method smoothquant | kmeans` end to end on a tiny model trained on the
//! built-in synthetic doodles: the sweep is reported whole and the chosen α is its best point.

mod common;

use common::{ok, Scratch};

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[test]
fn smoothquant_sweeps_alpha_and_kmeans_shares_weights() {
    let dir = Scratch::new("smooth_kmeans");
    let run = dir.s("run");
    ok(&[
        "train",
        "--model",
        "vit-small-doodle",
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
        "40",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--seed",
        "3",
        "--threads",
        "1",
        "--out",
        &run,
    ]);
    let ck = format!("{run}/best.safetensors");
    let r = json(&ok(&[
        "quantize",
        "--checkpoint",
        &ck,
        "--method",
        "smoothquant",
        "--alpha",
        "auto",
        "--calibration-samples",
        "24",
        "--out",
        &dir.s("sq.tflite"),
        "--json",
        "--threads",
        "1",
    ]));
    let sweep = r["sweep"].as_array().unwrap();
    let alphas: Vec<f64> = sweep.iter().map(|p| p["alpha"].as_f64().unwrap()).collect();
    assert_eq!(alphas.len(), 7, "{r}");
    assert_eq!(alphas[0], 0.0);
    assert_eq!(r["held_out_samples"], 6);
    let mse = |p: &serde_json::Value| p["held_out_mse"].as_f64().unwrap();
    let best = sweep
        .iter()
        .min_by(|a, b| mse(a).total_cmp(&mse(b)))
        .unwrap();
    assert_eq!(r["chosen_alpha"], best["alpha"]);
    assert_eq!(r["int8_top1"], best["val_top1"]);
    assert_eq!(r["ptq_top1"], sweep[0]["val_top1"]);
    assert!(std::path::Path::new(&dir.s("sq.report.json")).exists());

    let fixed = json(&ok(&[
        "quantize",
        "--checkpoint",
        &ck,
        "--method",
        "smoothquant",
        "--alpha",
        "0.5",
        "--calibration-samples",
        "24",
        "--eval-samples",
        "30",
        "--out",
        &dir.s("sq5.tflite"),
        "--json",
        "--threads",
        "1",
    ]));
    assert_eq!(fixed["chosen_alpha"], 0.5);
    assert_eq!(fixed["smoothing"]["smoothed"].as_array().unwrap().len(), 3);

    let k = json(&ok(&[
        "quantize",
        "--checkpoint",
        &ck,
        "--method",
        "kmeans",
        "--bits",
        "3",
        "--eval-samples",
        "30",
        "--out",
        &dir.s("km.tflite"),
        "--json",
        "--threads",
        "1",
    ]));
    let layers = k["layers"].as_array().unwrap();
    assert!(!layers.is_empty());
    assert!(
        layers.iter().all(|l| l["clusters"].as_u64().unwrap() <= 8),
        "{k}"
    );
    assert!(k["compressed_bytes"].as_u64().unwrap() < k["params_bytes"].as_u64().unwrap());
    assert!(k["kmeans_top1"].as_f64().is_some());
}
