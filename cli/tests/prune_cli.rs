//! `inkling train --init-from / --prune-* / --teacher` end to end on tiny synthetic runs: the
//! sparsity reaches the target and stays there, resuming a pruned or distilled run is exact, and
//! `inkling eval` reads a pruned checkpoint unchanged.

mod common;

use common::{inkling, ok, Scratch};
use inkling::autograd::Tensor;
use inkling::nn::checkpoint::Checkpoint;

/// 3 synthetic classes, 96 training drawings, 6 steps per epoch at batch 16.
const DATA: [&str; 10] = [
    "--classes",
    "3",
    "--samples-per-class",
    "40",
    "--batch-size",
    "16",
    "--seed",
    "3",
    "--threads",
    "1",
];

/// A tiny ViT (width 16, 2 heads) trained for 2 epochs: the starting point and the teacher.
fn base(dir: &Scratch) -> String {
    let out = dir.s("base");
    let mut a = vec![
        "train",
        "--depth",
        "1",
        "--width",
        "16",
        "--heads",
        "2",
        "--mlp-dim",
        "32",
        "--epochs",
        "2",
        "--out",
        &out,
    ];
    a.extend(DATA);
    ok(&a);
    format!("{out}/best.safetensors")
}

/// 2 epochs from `ck` pruning to 50 % by `kind`, masks updated at steps 0, 2, 4 and 6 of 12.
fn gradual<'a>(ck: &'a str, kind: &'a str) -> [&'a str; 12] {
    [
        "--init-from",
        ck,
        "--epochs",
        "2",
        "--prune-sparsity",
        "0.5",
        "--prune-kind",
        kind,
        "--prune-end-epoch",
        "1",
        "--prune-updates",
        "3",
    ]
}

fn run(extra: &[&str]) -> String {
    let mut a = vec!["train"];
    a.extend(DATA);
    a.extend(extra);
    ok(&a)
}

fn stderr_of(args: &[&str]) -> String {
    let out = inkling(args);
    assert!(!out.status.success(), "inkling {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.data().iter().map(|v| v.to_bits()).collect()
}

#[test]
fn gradual_global_pruning_reaches_the_target_and_eval_reads_the_checkpoint() {
    let dir = Scratch::new("prune");
    let ck = base(&dir);
    let out = dir.s("pruned");
    run(&[&gradual(&ck, "l1-global")[..], &["--out", &out]].concat());
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path("pruned").join("sparsity.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["kind"], "l1-global");
    assert_eq!(report["total"]["sparsity"], 0.5, "{report}");
    let layers = report["layers"].as_array().unwrap();
    let head = layers.iter().find(|l| l["name"] == "head.weight").unwrap();
    assert_eq!(head["zeros"], 0, "the head is not pruned by default");
    // The log records the sparsity of each epoch; both end at the target (reached at epoch 1).
    let log = std::fs::read_to_string(dir.path("pruned").join("log.jsonl")).unwrap();
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["sparsity"], 0.5, "{line}");
    }
    // The best checkpoint holds the masks and zero weights where they say.
    let best = Checkpoint::load(dir.path("pruned").join("best.safetensors")).unwrap();
    let mask = best
        .get("prune_mask.blocks.0.mlp.fc1.weight")
        .expect("mask saved");
    let w = best.get("blocks.0.mlp.fc1.weight").unwrap();
    assert!(mask.data().contains(&0.0));
    for (&m, &v) in mask.data().iter().zip(w.data()) {
        assert!(m == 1.0 || v == 0.0);
    }
    assert!(best.metadata["inkling.recipe"].contains("\"prune\""));
    let best = dir.path("pruned").join("best.safetensors");
    let e: serde_json::Value = serde_json::from_str(
        ok(&[
            "eval",
            "--checkpoint",
            &best.to_string_lossy(),
            "--split",
            "val",
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    assert_eq!(e["n"], 24);
}

/// Runs `args` once without a stop and once stopped after `stop` steps and resumed (in `a` and
/// `b` under `dir`), and returns both last checkpoints, asserting they are bit-identical.
fn run_and_resume(dir: &Scratch, args: &[&str], stop: &str) -> Checkpoint {
    let (a, b) = (dir.s("a"), dir.s("b"));
    run(&[args, &["--out", &a]].concat());
    run(&[args, &["--out", &b, "--stop-after-steps", stop]].concat());
    let last = dir.path("b").join("last.safetensors");
    ok(&[
        "train",
        "--resume-from",
        &last.to_string_lossy(),
        "--out",
        &b,
        "--threads",
        "1",
    ]);
    let ca = Checkpoint::load(dir.path("a").join("last.safetensors")).unwrap();
    let cb = Checkpoint::load(last).unwrap();
    assert_eq!(ca.tensors.len(), cb.tensors.len());
    for ((na, ta), (nb, tb)) in ca.tensors.iter().zip(&cb.tensors) {
        assert_eq!(na, nb);
        assert_eq!(bits(ta), bits(tb), "{na} differs after resuming");
    }
    assert_eq!(ca.metadata["inkling.recipe"], cb.metadata["inkling.recipe"]);
    ca
}

#[test]
fn resuming_a_pruned_run_is_bit_identical() {
    let dir = Scratch::new("prune-resume");
    let ck = base(&dir);
    // The run stops at step 3, between mask updates, and resumes.
    let a = run_and_resume(&dir, &gradual(&ck, "l1"), "3");
    assert!(a.tensors.iter().any(|(n, _)| n.starts_with("prune_mask.")));
    assert!(dir.path("b").join("sparsity.json").is_file());
}

#[test]
fn structured_kinds_zero_whole_heads_and_channels() {
    let dir = Scratch::new("prune-structured");
    let ck = base(&dir);
    for (kind, out) in [("heads", "h"), ("mlp", "m")] {
        run(&[
            "--init-from",
            &ck,
            "--epochs",
            "1",
            "--prune-sparsity",
            "0.5",
            "--prune-kind",
            kind,
            "--out",
            &dir.s(out),
        ]);
    }
    let zeros = |out: &str, name: &str| {
        let c = Checkpoint::load(dir.path(out).join("last.safetensors")).unwrap();
        let t = c.get(name).unwrap().clone();
        t.data().iter().filter(|&&v| v == 0.0).count()
    };
    // One of the 2 heads: half of qkv (48×16) and of proj's columns (16×16).
    assert_eq!(zeros("h", "blocks.0.attn.qkv.weight"), 384);
    assert_eq!(zeros("h", "blocks.0.attn.proj.weight"), 128);
    assert_eq!(zeros("h", "blocks.0.mlp.fc1.weight"), 0);
    // 16 of 32 channels: fc1 rows (16×16) and fc2 columns (16×16).
    assert_eq!(zeros("m", "blocks.0.mlp.fc1.weight"), 256);
    assert_eq!(zeros("m", "blocks.0.mlp.fc2.weight"), 256);
    assert_eq!(zeros("m", "blocks.0.attn.qkv.weight"), 0);
}

#[test]
fn distilled_student_trains_and_resumes_exactly() {
    let dir = Scratch::new("distill");
    let teacher = base(&dir);
    let student = [
        "--depth",
        "1",
        "--width",
        "8",
        "--heads",
        "2",
        "--mlp-dim",
        "16",
        "--epochs",
        "2",
    ];
    let kd = [
        "--teacher",
        &teacher,
        "--kd-temperature",
        "4",
        "--kd-alpha",
        "0.7",
    ];
    let a = run_and_resume(&dir, &[&student[..], &kd].concat(), "8");
    assert!(a.metadata["inkling.recipe"].contains("\"distill\""));
    assert!(a.metadata["inkling.model"].contains("\"width\":8"));
    // The soft-target loss differs from plain training from the same seed.
    run(&[&student[..], &["--out", &dir.s("plain")]].concat());
    let plain = Checkpoint::load(dir.path("plain").join("last.safetensors")).unwrap();
    assert!(!plain.metadata["inkling.recipe"].contains("distill"));
    let w = |c: &Checkpoint| bits(c.get("head.weight").unwrap());
    assert_ne!(w(&a), w(&plain));
}

#[test]
fn bad_compression_flags_are_clear_errors() {
    let dir = Scratch::new("prune-errors");
    let ck = base(&dir);
    let out = dir.s("x");
    let e = stderr_of(&["train", "--init-from", &ck, "--depth", "2", "--out", &out]);
    assert!(e.contains("--depth"), "{e}");
    let e = stderr_of(&["train", "--prune-sparsity", "1.5", "--out", &out]);
    assert!(e.contains("--prune-sparsity 1.5"), "{e}");
    let e = stderr_of(&[
        "train",
        "--prune-sparsity",
        "0.5",
        "--prune-kind",
        "l3",
        "--out",
        &out,
    ]);
    assert!(e.contains("l1-global"), "{e}");
    let e = stderr_of(&[
        "train",
        "--prune-sparsity",
        "0.5",
        "--prune-end-epoch",
        "30",
        "--epochs",
        "2",
        "--out",
        &out,
    ]);
    assert!(e.contains("≤ epochs"), "{e}");
    let e = stderr_of(&["train", "--teacher", &ck, "--kd-alpha", "2", "--out", &out]);
    assert!(e.contains("--kd-alpha 2"), "{e}");
    // A teacher and a start point trained on other classes.
    let mut a = vec!["train", "--classes", "4", "--teacher", &ck, "--out", &out];
    a.extend(&DATA[2..]);
    let e = stderr_of(&a);
    assert!(e.contains("--teacher") && e.contains("classes"), "{e}");
    let mut a = vec!["train", "--classes", "4", "--init-from", &ck, "--out", &out];
    a.extend(&DATA[2..]);
    let e = stderr_of(&a);
    assert!(e.contains("--init-from") && e.contains("classes"), "{e}");
}
