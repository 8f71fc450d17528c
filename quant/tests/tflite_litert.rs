//! Interop: models written by `write_model` load and run in the real LiteRT interpreter under
//! XNNPACK, with the outputs computed here.
//!
//! Needs `INKLING_LITERT_PYTHON` = a python with `ai-edge-litert` (e.g. /work/venvs/litert/bin/python);
//! without it the test prints why and passes.

mod common;

use std::path::Path;

use common::{write_npy, NpyElem};

use inkling_quant::export::tflite::{
    write_model, ActivationFn, BuiltinOp, BuiltinOptions, ModelDef, OperatorCode, OperatorDef,
    Quantization, SubGraphDef, TensorDef, TensorType,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn quant(scale: Vec<f32>, zero_point: Vec<i64>) -> Option<Quantization> {
    Some(Quantization {
        scale,
        zero_point,
        ..Quantization::default()
    })
}

fn fc_options() -> BuiltinOptions {
    BuiltinOptions::FullyConnected {
        fused_activation: ActivationFn::None,
        keep_num_dims: false,
        asymmetric_quantize_inputs: false,
    }
}

fn op(opcode_index: u32, inputs: &[i32], outputs: &[i32], options: BuiltinOptions) -> OperatorDef {
    OperatorDef {
        opcode_index,
        inputs: inputs.to_vec(),
        outputs: outputs.to_vec(),
        options,
    }
}

fn bytes_of<T: NpyElem>(v: &[T]) -> Vec<u8> {
    v.iter().flat_map(|x| x.le()).collect()
}

const B: usize = 2;
const K: usize = 8;
const N: usize = 4;

/// x[B,K] f32 → FULLY_CONNECTED (const f32 W[N,K], b[N]) → SOFTMAX(beta 1) → y[B,N].
fn float_case(dir: &Path, rng: &mut StdRng) {
    let x: Vec<f32> = (0..B * K).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let w: Vec<f32> = (0..N * K).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let b: Vec<f32> = (0..N).map(|_| rng.gen_range(-0.5..0.5)).collect();
    let mut y = Vec::new();
    for r in 0..B {
        let logits: Vec<f64> = (0..N)
            .map(|c| {
                let dot: f64 = (0..K)
                    .map(|k| x[r * K + k] as f64 * w[c * K + k] as f64)
                    .sum();
                dot + b[c] as f64
            })
            .collect();
        let max = logits.iter().cloned().fold(f64::MIN, f64::max);
        let e: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        y.extend(e.iter().map(|v| (v / sum) as f32));
    }
    let (bi, ki, ni) = (B as i32, K as i32, N as i32);
    let m = ModelDef {
        description: "inkling float FC + softmax".into(),
        operator_codes: vec![
            OperatorCode {
                code: BuiltinOp::FULLY_CONNECTED,
                version: 1,
            },
            OperatorCode {
                code: BuiltinOp::SOFTMAX,
                version: 1,
            },
        ],
        subgraphs: vec![SubGraphDef {
            name: "main".into(),
            tensors: vec![
                TensorDef::new("x", &[bi, ki], TensorType::F32, 0),
                TensorDef::new("w", &[ni, ki], TensorType::F32, 1),
                TensorDef::new("b", &[ni], TensorType::F32, 2),
                TensorDef::new("logits", &[bi, ni], TensorType::F32, 0),
                TensorDef::new("y", &[bi, ni], TensorType::F32, 0),
            ],
            inputs: vec![0],
            outputs: vec![4],
            operators: vec![
                op(0, &[0, 1, 2], &[3], fc_options()),
                op(1, &[3], &[4], BuiltinOptions::Softmax { beta: 1.0 }),
            ],
        }],
        buffers: vec![vec![], bytes_of(&w), bytes_of(&b)],
        ..ModelDef::default()
    };
    std::fs::write(dir.join("fc_softmax_f32.tflite"), write_model(&m).unwrap()).unwrap();
    write_npy(&dir.join("fc_softmax_f32.in0.npy"), &[B, K], &x);
    write_npy(&dir.join("fc_softmax_f32.out0.npy"), &[B, N], &y);
}

/// x[B,K] f32 → QUANTIZE → FULLY_CONNECTED int8 (per-channel W, int32 bias) → DEQUANTIZE → y,
/// with the output computed by XNNPACK's formulas (tflite.md section 2).
fn int8_case(dir: &Path, rng: &mut StdRng) {
    let (s_x, zp_x) = (0.05f32, 3i32);
    let (s_y, zp_y) = (0.2f32, -5i32);
    let s_w: Vec<f32> = (0..N).map(|c| 0.01 * (c + 1) as f32).collect();
    let s_b: Vec<f32> = s_w.iter().map(|s| s_x * s).collect();
    let x: Vec<f32> = (0..B * K).map(|_| rng.gen_range(-3.0..3.0)).collect();
    let w: Vec<i8> = (0..N * K).map(|_| rng.gen_range(-127..=127)).collect();
    let bias: Vec<i32> = (0..N).map(|_| rng.gen_range(-2000..=2000)).collect();
    // QUANTIZE in XNNPACK: multiply by f32(1/scale), round half to even, add zp, clamp.
    let inv = 1.0f32 / s_x;
    let qx: Vec<i32> = x
        .iter()
        .map(|v| ((v * inv).round_ties_even() as i32 + zp_x).clamp(-128, 127))
        .collect();
    let mut y = Vec::new();
    for r in 0..B {
        for c in 0..N {
            let acc: i32 = (0..K)
                .map(|k| (qx[r * K + k] - zp_x) * i32::from(w[c * K + k]))
                .sum::<i32>()
                + bias[c];
            let scale = (s_x * s_w[c]) / s_y;
            let q = ((acc as f32 * scale).round_ties_even() as i32 + zp_y).clamp(-128, 127);
            // DEQUANTIZE: (q - zp) * scale in f32.
            y.push((q - zp_y) as f32 * s_y);
        }
    }
    let (bi, ki, ni) = (B as i32, K as i32, N as i32);
    let mut t = vec![
        TensorDef::new("x", &[bi, ki], TensorType::F32, 0),
        TensorDef::new("xq", &[bi, ki], TensorType::I8, 0),
        TensorDef::new("w", &[ni, ki], TensorType::I8, 1),
        TensorDef::new("b", &[ni], TensorType::I32, 2),
        TensorDef::new("yq", &[bi, ni], TensorType::I8, 0),
        TensorDef::new("y", &[bi, ni], TensorType::F32, 0),
    ];
    t[1].quant = quant(vec![s_x], vec![i64::from(zp_x)]);
    t[2].quant = quant(s_w.clone(), vec![0; N]);
    t[3].quant = quant(s_b, vec![0; N]);
    t[4].quant = quant(vec![s_y], vec![i64::from(zp_y)]);
    let m = ModelDef {
        operator_codes: vec![
            OperatorCode {
                code: BuiltinOp::QUANTIZE,
                version: 1,
            },
            OperatorCode {
                code: BuiltinOp::FULLY_CONNECTED,
                version: 4,
            },
            OperatorCode {
                code: BuiltinOp::DEQUANTIZE,
                version: 2,
            },
        ],
        subgraphs: vec![SubGraphDef {
            name: "main".into(),
            tensors: t,
            inputs: vec![0],
            outputs: vec![5],
            operators: vec![
                op(0, &[0], &[1], BuiltinOptions::Quantize),
                op(1, &[1, 2, 3], &[4], fc_options()),
                op(2, &[4], &[5], BuiltinOptions::Dequantize),
            ],
        }],
        buffers: vec![
            vec![],
            bytes_of(&w),
            bias.iter().flat_map(|b| b.to_le_bytes()).collect(),
        ],
        ..ModelDef::default()
    };
    std::fs::write(dir.join("fc_int8.tflite"), write_model(&m).unwrap()).unwrap();
    write_npy(&dir.join("fc_int8.in0.npy"), &[B, K], &x);
    write_npy(&dir.join("fc_int8.out0.npy"), &[B, N], &y);
}

/// `shared/tools/litert_check.py`, in the first ancestor of the crate that has it (the main
/// checkout's `../shared`, also found from worktrees nested deeper).
#[test]
fn litert_runs_written_models_under_xnnpack() {
    let Some(dir) = common::litert_dir("tflite_litert") else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(11);
    float_case(&dir, &mut rng);
    int8_case(&dir, &mut rng);
    let log = common::litert_check(&dir, &[]);
    assert!(log.contains("2/2 models passed"), "{log}");
}
