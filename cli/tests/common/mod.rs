//! Helpers shared by the CLI integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs the `inkling` binary.
pub fn inkling(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inkling"))
        .args(args)
        .env_remove("COLUMNS")
        .output()
        .expect("running inkling")
}

/// Runs `inkling`, asserts success and returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = inkling(args);
    assert!(
        out.status.success(),
        "inkling {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A fresh scratch directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "inkling-cli-test-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    pub fn s(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Trains a one-block ViT of `width` (MLP 2·width, 2 heads) for one epoch on 40 synthetic doodles
/// of each of 3 classes into `dir/run`; returns the best checkpoint's path.
pub fn train_tiny_vit(dir: &Scratch, width: usize) -> String {
    let out = dir.s("run");
    let (w, mlp) = (width.to_string(), (2 * width).to_string());
    ok(&[
        "train",
        "--model",
        "vit-small-doodle",
        "--depth",
        "1",
        "--width",
        &w,
        "--heads",
        "2",
        "--mlp-dim",
        &mlp,
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
        &out,
    ]);
    format!("{out}/best.safetensors")
}
