//! `inkling train`, `inkling eval` and `inkling bench train` end to end on tiny synthetic runs.

mod common;

use common::{inkling, ok, Scratch};
use inkling::nn::checkpoint::Checkpoint;

/// A tiny ViT on 3 synthetic classes: 96 training drawings, 6 steps per epoch at batch 16.
fn tiny(out: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
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
        "2",
        "--batch-size",
        "16",
        "--seed",
        "3",
        "--threads",
        "1",
        "--out",
        out,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // A flag in `extra` replaces the default one.
    for pair in extra.chunks(2) {
        if let Some(i) = v.iter().position(|a| a == pair[0]) {
            v.drain(i..i + 2);
        }
    }
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn run_ok(args: &[String]) -> String {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&a)
}

fn stderr_of(args: &[&str]) -> String {
    let out = inkling(args);
    assert!(!out.status.success(), "inkling {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn resumed_run_is_bit_identical_to_an_uninterrupted_one() {
    let dir = Scratch::new("resume");
    run_ok(&tiny(&dir.s("a"), &[]));
    // Stop in the middle of epoch 2, then resume from the checkpoint left behind.
    run_ok(&tiny(&dir.s("b"), &["--stop-after-steps", "8"]));
    let stopped = Checkpoint::load(dir.path("b").join("last.safetensors")).unwrap();
    assert!(stopped.metadata["inkling.position"].contains("\"batch\":2"));
    ok(&[
        "train",
        "--resume-from",
        &dir.path("b").join("last.safetensors").to_string_lossy(),
        "--out",
        &dir.s("b"),
        "--threads",
        "1",
    ]);
    let a = Checkpoint::load(dir.path("a").join("last.safetensors")).unwrap();
    let b = Checkpoint::load(dir.path("b").join("last.safetensors")).unwrap();
    assert_eq!(a.tensors.len(), b.tensors.len());
    assert!(a.tensors.iter().any(|(n, _)| n.starts_with("optimizer.")));
    for ((na, ta), (nb, tb)) in a.tensors.iter().zip(&b.tensors) {
        assert_eq!(na, nb);
        let bits = |t: &inkling::autograd::Tensor| {
            t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        assert_eq!(bits(ta), bits(tb), "{na} differs after resuming");
    }
    assert_eq!(
        a.metadata["inkling.position"],
        b.metadata["inkling.position"]
    );
    // The same seed and thread count give the same run: the log figures match line by line
    // except timing.
    let log = |d: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(dir.path(d).join("log.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (la, lb) = (log("a"), log("b"));
    assert_eq!(la.len(), 2);
    assert_eq!(lb.len(), 2);
    assert_eq!(la[1]["val_acc"], lb[1]["val_acc"]);
    assert_eq!(la[1]["val_loss"], lb[1]["val_loss"]);
    for key in [
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "val_top3",
        "lr",
        "images_per_s",
    ] {
        assert!(la[0][key].is_number(), "log lacks {key}: {}", la[0]);
    }
    assert!(dir.path("a").join("best.safetensors").is_file());
}

#[test]
fn eval_reports_json_and_matches_classes_by_name() {
    let dir = Scratch::new("eval");
    run_ok(&tiny(&dir.s("run"), &[]));
    let ck = dir.path("run").join("best.safetensors");
    let ck = ck.to_string_lossy();
    let out = ok(&[
        "eval",
        "--checkpoint",
        &ck,
        "--samples-per-class",
        "20",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["n"], 60);
    let top1 = v["top1"].as_f64().unwrap();
    let top3 = v["top3"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&top1) && top3 >= top1, "{v}");
    assert_eq!(top3, 1.0, "3 classes: top-3 is always right");
    assert_eq!(v["per_class"].as_array().unwrap().len(), 3);
    // The validation split of the run.
    let val = ok(&["eval", "--checkpoint", &ck, "--split", "val", "--json"]);
    let v: serde_json::Value = serde_json::from_str(val.trim()).unwrap();
    assert_eq!(v["n"], 24);
    // A directory with two of the classes, written in another order, evaluates by name.
    let classes: Vec<String> = serde_json::from_str(
        &Checkpoint::load(dir.path("run").join("best.safetensors"))
            .unwrap()
            .metadata["inkling.classes"],
    )
    .unwrap();
    let subset = format!("{},{}", classes[2], classes[0]);
    ok(&[
        "data",
        "synth",
        "--out",
        &dir.s("sub"),
        "--classes",
        &subset,
        "--samples-per-class",
        "10",
        "--seed",
        "3",
    ]);
    let out = ok(&[
        "eval",
        "--checkpoint",
        &ck,
        "--data",
        &dir.s("sub"),
        "--json",
        "--out",
        &dir.s("report"),
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["n"], 20);
    let per_class = v["per_class"].as_array().unwrap();
    let support =
        |name: &str| per_class.iter().find(|c| c["name"] == name).unwrap()["support"].clone();
    assert_eq!(support(&classes[0]), 10);
    assert_eq!(support(&classes[1]), 0);
    assert_eq!(support(&classes[2]), 10);
    for f in [
        "eval.json",
        "eval.md",
        "per_class_accuracy.svg",
        "per_class_accuracy.png",
        "confusion_worst.svg",
        "confusion_worst.png",
    ] {
        assert!(dir.path("report").join(f).is_file(), "{f} missing");
    }
}

#[test]
fn bad_input_is_a_clear_error_and_overwrites_nothing() {
    let dir = Scratch::new("bad");
    let err = stderr_of(&["train", "--no-such-flag"]);
    assert!(err.contains("--no-such-flag"), "{err}");
    let err = stderr_of(&["train", "--optimizer", "adam", "--out", &dir.s("x")]);
    assert!(err.contains("adamw, lamb or sgd"), "{err}");
    let err = stderr_of(&["train", "--classes", "400", "--out", &dir.s("x")]);
    assert!(err.contains("--classes 400"), "{err}");
    std::fs::create_dir_all(dir.path("empty")).unwrap();
    let err = stderr_of(&["train", "--data", &dir.s("empty"), "--out", &dir.s("x")]);
    assert!(err.contains("empty") && err.contains("no .npy"), "{err}");
    // Damaged checkpoints.
    std::fs::write(dir.path("junk.safetensors"), b"not a checkpoint at all").unwrap();
    let err = stderr_of(&["eval", "--checkpoint", &dir.s("junk.safetensors")]);
    assert!(err.contains("junk.safetensors"), "{err}");
    // A run that diverges stops naming the step and leaves no checkpoint behind.
    let err = stderr_of(
        &tiny(
            &dir.s("nan"),
            &["--lr", "1e30", "--optimizer", "sgd", "--momentum", "0"],
        )
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    assert!(
        err.contains("step") && (err.contains("NaN") || err.contains("inf")),
        "{err}"
    );
    assert!(!dir.path("nan").join("last.safetensors").exists());
}

#[test]
fn eval_rejects_a_checkpoint_of_another_architecture() {
    let dir = Scratch::new("arch");
    run_ok(&tiny(&dir.s("run"), &["--epochs", "1"]));
    let path = dir.path("run").join("last.safetensors");
    let mut ck = Checkpoint::load(&path).unwrap();
    let model = ck.metadata["inkling.model"].replace("\"depth\":1", "\"depth\":2");
    assert_ne!(model, ck.metadata["inkling.model"]);
    ck.metadata.insert("inkling.model".into(), model);
    let other = dir.path("other.safetensors");
    ck.save(&other).unwrap();
    let err = stderr_of(&["eval", "--checkpoint", &other.to_string_lossy()]);
    assert!(
        err.contains("other.safetensors") && err.contains("blocks.1"),
        "{err}"
    );
}

#[test]
fn bench_train_json_has_the_keys() {
    let out = ok(&[
        "bench",
        "train",
        "--model",
        "vit-small-doodle",
        "--batch-size",
        "8",
        "--classes",
        "5",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    for key in ["img_s", "ms_per_step", "peak_rss_mb", "peak_step_mb"] {
        assert!(v[key].as_f64().unwrap() > 0.0, "{key}: {v}");
    }
}
