//! `.tflite` → graph: the small ViT (float and int8) round-trips through `to_tflite` and
//! `from_tflite` with bit-identical session outputs; hand-built hostile models are rejected by
//! name; thousands of seeded corruptions of the int8 file never panic the reader or the session.

mod common;

use common::{input, vit_graphs as graphs};
use inkling_quant::export::tflite::{
    write_model, BuiltinOp, BuiltinOptions, ModelDef, OperatorCode, OperatorDef, SubGraphDef,
    TensorDef, TensorType,
};
use inkling_quant::export::{from_tflite, to_tflite, ModelInfo};
use inkling_quant::graph::{DType, Graph, Op};
use inkling_quant::runtime::{Buf, Data, Session};
use inkling_quant::Error;

fn info(precision: &str) -> ModelInfo {
    ModelInfo {
        classes: (0..10).map(|i| format!("class{i}")).collect(),
        input_shape: vec![1, 28, 28, 1],
        invert: true,
        mean: 0.5,
        std: 0.25,
        precision: precision.into(),
    }
}

/// Elements as bit patterns, so equality is bit for bit (NaN included).
fn bits(b: &Buf) -> Vec<u32> {
    match &b.data {
        Data::F32(v) => v.iter().map(|x| x.to_bits()).collect(),
        Data::I8(v) => v.iter().map(|&x| x as u8 as u32).collect(),
        Data::I32(v) => v.iter().map(|&x| x as u32).collect(),
    }
}

#[test]
fn vit_round_trips_bit_exactly() {
    let (g, q) = graphs();
    for (orig, precision) in [(&g, "float32"), (&q, "int8")] {
        let bytes = to_tflite(orig, &info(precision)).unwrap();
        let (back, back_info) = from_tflite(&bytes).unwrap();
        assert_eq!(back_info, Some(info(precision)));
        assert_eq!(back.op_counts(), orig.op_counts());
        // Shapes, permutations, axes and slice bounds live in the op, not as node inputs.
        for n in &back.nodes {
            if matches!(
                n.op,
                Op::Reshape { .. } | Op::Transpose { .. } | Op::Mean { .. } | Op::Slice { .. }
            ) {
                assert_eq!(n.inputs.len(), 1, "{}: {:?}", n.name, n.op);
            }
        }
        let (a, b) = (Session::new(orig).unwrap(), Session::new(&back).unwrap());
        for seed in 0..3 {
            let ya = a.run(vec![input(seed)]).unwrap();
            let yb = b.run(vec![input(seed)]).unwrap();
            assert_eq!(ya.len(), 1);
            assert_eq!(ya[0].shape, yb[0].shape);
            assert_eq!(ya[0].dtype(), yb[0].dtype());
            assert_eq!(bits(&ya[0]), bits(&yb[0]), "{precision} seed {seed}");
        }
        // And the file read back writes the same file again.
        assert!(to_tflite(&back, &info(precision)).unwrap() == bytes);
    }
}

/// A one-operator model: float32 input tensor 0 of `shape`, extra tensors after it, output last.
fn one_op(
    code: i32,
    options: BuiltinOptions,
    shape: &[i32],
    extra: Vec<(TensorDef, Vec<u8>)>,
    out_shape: &[i32],
) -> Vec<u8> {
    let mut tensors = vec![TensorDef::new("x", shape, TensorType::F32, 0)];
    let mut buffers = vec![Vec::new()];
    for (mut t, data) in extra {
        if !data.is_empty() {
            buffers.push(data);
            t.buffer = (buffers.len() - 1) as u32;
        }
        tensors.push(t);
    }
    tensors.push(TensorDef::new("y", out_shape, TensorType::F32, 0));
    let n = tensors.len() as i32;
    let m = ModelDef {
        operator_codes: vec![OperatorCode { code, version: 1 }],
        subgraphs: vec![SubGraphDef {
            name: "main".into(),
            inputs: vec![0],
            outputs: vec![n - 1],
            operators: vec![OperatorDef {
                opcode_index: 0,
                inputs: (0..n - 1).collect(),
                outputs: vec![n - 1],
                options,
            }],
            tensors,
        }],
        buffers,
        ..ModelDef::default()
    };
    write_model(&m).unwrap()
}

fn i32_const(name: &str, v: &[i32]) -> (TensorDef, Vec<u8>) {
    (
        TensorDef::new(name, &[v.len() as i32], TensorType::I32, 0),
        v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    )
}

fn message(r: Result<(Graph, Option<ModelInfo>), Error>) -> String {
    match r {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn hostile_and_unsupported_models_are_rejected_by_name() {
    // A shape of 2^62 elements is refused before anything is allocated.
    let big = i32::MAX;
    let e = message(from_tflite(&one_op(
        BuiltinOp::LOGISTIC,
        BuiltinOptions::None,
        &[big, big],
        vec![],
        &[big, big],
    )));
    assert!(
        e.contains("tensor 0 \"x\"") && e.contains("elements"),
        "{e}"
    );
    // An output shape the op does not produce.
    let e = message(from_tflite(&one_op(
        BuiltinOp::LOGISTIC,
        BuiltinOptions::None,
        &[2, 3],
        vec![],
        &[3, 2],
    )));
    assert!(
        e.contains("operator 0 (LOGISTIC") && e.contains("[2, 3]"),
        "{e}"
    );
    // A strided slice with a mask.
    let slice = |mask: i32, strides: &[i32]| {
        one_op(
            BuiltinOp::STRIDED_SLICE,
            BuiltinOptions::StridedSlice {
                begin_mask: mask,
                end_mask: 0,
                ellipsis_mask: 0,
                new_axis_mask: 0,
                shrink_axis_mask: 0,
                offset: false,
            },
            &[4, 6],
            vec![
                i32_const("b", &[1, 2]),
                i32_const("e", &[3, 6]),
                i32_const("s", strides),
            ],
            &[2, 4],
        )
    };
    let e = message(from_tflite(&slice(1, &[1, 1])));
    assert!(e.contains("STRIDED_SLICE") && e.contains("mask"), "{e}");
    let e = message(from_tflite(&slice(0, &[1, 2])));
    assert!(e.contains("STRIDED_SLICE") && e.contains("strides"), "{e}");
    let (g, _) = from_tflite(&slice(0, &[1, 1])).unwrap();
    assert_eq!(
        g.nodes[0].op,
        Op::Slice {
            begin: vec![1, 2],
            size: vec![2, 4]
        }
    );
    assert_eq!(g.nodes[0].inputs.len(), 1);
    // Softmax with beta ≠ 1, a transpose whose perm is not a permutation.
    let e = message(from_tflite(&one_op(
        BuiltinOp::SOFTMAX,
        BuiltinOptions::Softmax { beta: 2.0 },
        &[2, 3],
        vec![],
        &[2, 3],
    )));
    assert!(e.contains("SOFTMAX") && e.contains("beta"), "{e}");
    let e = message(from_tflite(&one_op(
        BuiltinOp::TRANSPOSE,
        BuiltinOptions::Transpose,
        &[2, 3],
        vec![i32_const("perm", &[0, 0])],
        &[2, 2],
    )));
    assert!(e.contains("TRANSPOSE") && e.contains("permutation"), "{e}");
}

/// splitmix64: a seeded, dependency-free generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One random damage: flipped bits, a truncation, or a u32 overwritten with a random or
/// boundary value (offsets, lengths and dimensions are u32/i32 in FlatBuffers).
/// Half the damage lands in the first 16 KiB, where the tables are (the rest is mostly weights).
fn corrupt(rng: &mut Rng, good: &[u8]) -> Vec<u8> {
    let mut b = good.to_vec();
    let span = if rng.below(2) == 0 {
        b.len().min(16 << 10)
    } else {
        b.len()
    };
    match rng.below(4) {
        0 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(span);
                b[i] ^= 1 << rng.below(8);
            }
        }
        1 => b.truncate(rng.below(b.len())),
        _ => {
            let i = rng.below(span - 4);
            let v: u32 = match rng.below(6) {
                0 => 0,
                1 => u32::MAX,
                2 => i32::MAX as u32,
                3 => 1 << rng.below(32),
                4 => rng.below(64) as u32,
                _ => rng.next() as u32,
            };
            b[i..i + 4].copy_from_slice(&v.to_le_bytes());
        }
    }
    b
}

fn zeros(g: &Graph) -> Vec<Buf> {
    g.inputs
        .iter()
        .map(|&v| {
            let v = g.value(v);
            let n: usize = v.shape.iter().product();
            let data = match v.dtype {
                DType::I8 => Data::I8(vec![0; n]),
                DType::I32 => Data::I32(vec![0; n]),
                _ => Data::F32(vec![0.0; n]),
            };
            Buf {
                shape: v.shape.clone(),
                data,
            }
        })
        .collect()
}

#[test]
fn corrupted_int8_files_never_panic() {
    let (_, q) = graphs();
    let good = to_tflite(&q, &info("int8")).unwrap();
    // INKLING_FUZZ_ITERS / INKLING_FUZZ_SEED run longer or other campaigns by hand.
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let iters = env("INKLING_FUZZ_ITERS", 3000);
    let mut rng = Rng(env("INKLING_FUZZ_SEED", 0x1A4B_11D6));
    let (mut read, mut ran) = (0, 0);
    for _ in 0..iters {
        let bytes = corrupt(&mut rng, &good);
        let Ok((g, _)) = from_tflite(&bytes) else {
            continue;
        };
        read += 1;
        let Ok(s) = Session::new(&g) else {
            continue;
        };
        if s.run(zeros(&g)).is_ok() {
            ran += 1;
        }
    }
    println!("{read} of {iters} damaged files read, {ran} ran");
    // The damage must reach the session sometimes (weights, names, scales are not structure).
    assert!(ran > 100, "{read} read, {ran} ran");
}
