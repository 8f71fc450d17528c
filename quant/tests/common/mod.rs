//! Helpers shared by the integration tests: `.npy` writing and the LiteRT checker.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use inkling_autograd::Tensor;
use inkling_nn::models::vit::{Vit, VitConfig};
use inkling_quant::graph::Graph;
use inkling_quant::ptq::{convert, Calibrator, ObserverKind};
use inkling_quant::runtime::Buf;
use inkling_quant::{passes, trace};

/// Element types the tests write as `.npy` and as raw little-endian buffers.
pub trait NpyElem: Copy {
    /// The elements as a runtime tensor of `shape`.
    fn buf(shape: &[usize], data: &[Self]) -> Buf;
    /// Little-endian bytes of one element.
    fn le(self) -> Vec<u8>;
}
impl NpyElem for f32 {
    fn buf(shape: &[usize], data: &[f32]) -> Buf {
        Buf::f32(shape, data.to_vec())
    }
    fn le(self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
}
impl NpyElem for i8 {
    fn buf(shape: &[usize], data: &[i8]) -> Buf {
        Buf::i8(shape, data.to_vec())
    }
    fn le(self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
}

/// Writes `data` of `shape` as a C-order `.npy` (the crate's writer).
pub fn write_npy<T: NpyElem>(path: &Path, shape: &[usize], data: &[T]) {
    write_buf(path, &T::buf(shape, data));
}

/// Writes a runtime tensor as `.npy`.
pub fn write_buf(path: &Path, b: &Buf) {
    inkling_quant::export::npy::write_npy(path, b).unwrap();
}

/// `shared/tools/litert_check.py` in the nearest ancestor of the crate that has it.
pub fn checker() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("shared/tools/litert_check.py"))
        .find(|p| p.exists())
}

/// A fresh directory for LiteRT cases, or None (with a message) when `INKLING_LITERT_PYTHON` is unset.
pub fn litert_dir(name: &str) -> Option<PathBuf> {
    if std::env::var("INKLING_LITERT_PYTHON").is_err() {
        println!("skipped: set INKLING_LITERT_PYTHON to a python with ai-edge-litert");
        return None;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Some(dir)
}

/// Runs `litert_check.py DIR --partitions 1 ARGS` and returns its log; panics when it fails.
pub fn litert_check(dir: &Path, args: &[&str]) -> String {
    let python = std::env::var("INKLING_LITERT_PYTHON").unwrap();
    let script = checker().expect("shared/tools/litert_check.py not found above the crate");
    let out = Command::new(&python)
        .arg(&script)
        .arg(dir)
        .args(["--partitions", "1"])
        .args(lsb_allowance())
        .args(args)
        .output()
        .expect("could not start INKLING_LITERT_PYTHON");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{log}");
    assert!(out.status.success(), "litert_check failed:\n{log}");
    log
}

/// A 2-block ViT (width 64, 2 heads, 10 classes) with seeded random weights.
pub fn small_vit() -> Vit {
    let cfg = VitConfig {
        image_size: 28,
        in_chans: 1,
        patch: 4,
        width: 64,
        depth: 2,
        heads: 2,
        mlp_dim: 128,
        classes: 10,
        dropout: 0.0,
        qkv_bias: true,
    };
    Vit::new(cfg, 7).unwrap()
}

/// A deterministic pseudo-random 28×28 image in [-1, 1).
pub fn image(seed: u32) -> Tensor {
    let data = (0..784)
        .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    Tensor::new(&[1, 1, 28, 28], data).unwrap()
}

/// `image(seed)` as a runtime input `[1, 28, 28, 1]`.
pub fn input(seed: u32) -> Buf {
    Buf::f32(&[1, 28, 28, 1], image(seed).data().to_vec())
}

/// The small ViT traced and prepared (float), and converted to int8 after MinMax calibration on
/// 16 images.
pub fn vit_graphs() -> (Graph, Graph) {
    let mut m = small_vit();
    let g = passes::prepare(trace(&mut m, &image(1)).unwrap()).unwrap();
    let mut cal = Calibrator::new(&g, ObserverKind::MinMax).unwrap();
    for s in 0..16 {
        cal.observe(input(100 + s)).unwrap();
    }
    let q = convert(&g, &cal.ranges()).unwrap();
    (g, q)
}

/// Bit-exactness of the float islands (sum order, rsqrt estimate) was verified against LiteRT on an
/// AVX-512 CPU only; elsewhere (e.g. Zen 3, whose XNNPACK kernels are the 8-lane ones) an int8 output
/// may round 1 LSB apart until that is measured there too.
pub fn lsb_allowance() -> Vec<&'static str> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        return Vec::new();
    }
    println!("note: not an AVX-512 CPU: int8 outputs may differ from LiteRT by 1 LSB");
    vec!["--max-lsb", "1"]
}
