//! Round trips, layout, validation and corruption tests for the `.tflite` writer and reader.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::export::flatbuf::{Builder, Field};
use crate::export::flatread::{Reader, Table};
use crate::Error;

fn per_tensor(scale: f32, zp: i64) -> Option<Quantization> {
    Some(Quantization {
        scale: vec![scale],
        zero_point: vec![zp],
        ..Quantization::default()
    })
}

/// Every options variant, each on an op that takes it.
fn all_options() -> Vec<(i32, BuiltinOptions)> {
    use ActivationFn as A;
    use BuiltinOptions as O;
    vec![
        (
            BuiltinOp::CONV_2D,
            O::Conv2D {
                padding: Padding::Valid,
                stride_w: 2,
                stride_h: 3,
                fused_activation: A::Relu6,
                dilation_w: 1,
                dilation_h: 2,
            },
        ),
        (
            BuiltinOp::DEPTHWISE_CONV_2D,
            O::DepthwiseConv2D {
                padding: Padding::Same,
                stride_w: 1,
                stride_h: 1,
                depth_multiplier: 4,
                fused_activation: A::Relu,
                dilation_w: 3,
                dilation_h: 1,
            },
        ),
        (
            BuiltinOp::AVERAGE_POOL_2D,
            O::Pool2D {
                padding: Padding::Valid,
                stride_w: 2,
                stride_h: 2,
                filter_width: 7,
                filter_height: 5,
                fused_activation: A::Tanh,
            },
        ),
        (
            BuiltinOp::FULLY_CONNECTED,
            O::FullyConnected {
                fused_activation: A::None,
                keep_num_dims: true,
                asymmetric_quantize_inputs: false,
            },
        ),
        (BuiltinOp::SOFTMAX, O::Softmax { beta: 0.0 }),
        (
            BuiltinOp::CONCATENATION,
            O::Concatenation {
                axis: -1,
                fused_activation: A::ReluN1To1,
            },
        ),
        (
            BuiltinOp::ADD,
            O::Add {
                fused_activation: A::SignBit,
                pot_scale_int16: false,
            },
        ),
        (
            BuiltinOp::RESHAPE,
            O::Reshape {
                new_shape: vec![1, -1, 192],
            },
        ),
        (
            BuiltinOp::MUL,
            O::Mul {
                fused_activation: A::Relu,
            },
        ),
        (BuiltinOp::TRANSPOSE, O::Transpose),
        (BuiltinOp::MEAN, O::Reducer { keep_dims: true }),
        (
            BuiltinOp::SUB,
            O::Sub {
                fused_activation: A::None,
                pot_scale_int16: true,
            },
        ),
        (
            BuiltinOp::STRIDED_SLICE,
            O::StridedSlice {
                begin_mask: 1,
                end_mask: 2,
                ellipsis_mask: 4,
                new_axis_mask: 8,
                shrink_axis_mask: 16,
                offset: true,
            },
        ),
        (BuiltinOp::DEQUANTIZE, O::Dequantize),
        (BuiltinOp::SQUARED_DIFFERENCE, O::SquaredDifference),
        (BuiltinOp::QUANTIZE, O::Quantize),
        (BuiltinOp::HARD_SWISH, O::HardSwish),
        (
            BuiltinOp::BATCH_MATMUL,
            O::BatchMatMul {
                adj_x: false,
                adj_y: true,
                asymmetric_quantize_inputs: true,
            },
        ),
        (BuiltinOp::GELU, O::Gelu { approximate: true }),
        (BuiltinOp::LOGISTIC, O::None),
        (BuiltinOp::RSQRT, O::None),
    ]
}

/// A model with every dtype (each with a constant buffer), every options variant, per-tensor,
/// per-channel and blockwise quantization, metadata and a signature.
fn sample_model() -> ModelDef {
    let mut m = ModelDef {
        description: "inkling test model".into(),
        ..ModelDef::default()
    };
    let mut tensors = Vec::new();
    for (i, dtype) in TensorType::ALL.into_iter().enumerate() {
        let shape = [2, 3];
        let len = dtype.buffer_len(6).unwrap();
        m.buffers
            .push((0..len).map(|b| (b * 7 + i) as u8).collect());
        tensors.push(TensorDef::new(format!("c{i}"), &shape, dtype, i as u32 + 1));
    }
    tensors[6].quant = Some(Quantization {
        scale: vec![0.5, 0.25],
        zero_point: vec![0, 0],
        quantized_dimension: 0,
        blockwise: None,
    });
    tensors[7].quant = Some(Quantization {
        scale: vec![],
        zero_point: vec![],
        quantized_dimension: 0,
        blockwise: Some(Blockwise {
            scales: 1,
            zero_points: -1,
            block_size: 32,
        }),
    });
    let mut x = TensorDef::new("x", &[1, 8], TensorType::I8, 0);
    x.quant = per_tensor(0.02, -3);
    tensors.push(x);
    tensors.push(TensorDef::new("y", &[1, 8], TensorType::F32, 0));
    let (x, y) = (tensors.len() as i32 - 2, tensors.len() as i32 - 1);
    let mut operators = Vec::new();
    for (code, options) in all_options() {
        operators.push(OperatorDef {
            opcode_index: m.operator_codes.len() as u32,
            inputs: vec![x, -1, 0],
            outputs: vec![y],
            options,
        });
        m.operator_codes.push(OperatorCode { code, version: 2 });
    }
    m.subgraphs.push(SubGraphDef {
        name: "main".into(),
        tensors,
        inputs: vec![x],
        outputs: vec![y],
        operators,
    });
    m.buffers.push(b"1.14.0\0\0\0\0\0\0\0\0\0\0".to_vec());
    m.metadata
        .push(("min_runtime_version".into(), m.buffers.len() as u32 - 1));
    m.signatures.push(SignatureDef {
        key: "serving_default".into(),
        inputs: vec![("x".into(), x as u32)],
        outputs: vec![("y".into(), y as u32)],
        subgraph_index: 0,
    });
    m
}

fn minimal_model() -> ModelDef {
    let mut m = ModelDef::default();
    m.operator_codes.push(OperatorCode {
        code: BuiltinOp::LOGISTIC,
        version: 1,
    });
    m.subgraphs.push(SubGraphDef {
        tensors: vec![
            TensorDef::new("", &[1, 4], TensorType::F32, 0),
            TensorDef::new("", &[1, 4], TensorType::F32, 0),
        ],
        inputs: vec![0],
        outputs: vec![1],
        operators: vec![OperatorDef {
            opcode_index: 0,
            inputs: vec![0],
            outputs: vec![1],
            options: BuiltinOptions::None,
        }],
        ..SubGraphDef::default()
    });
    m
}

#[test]
fn round_trips_every_option_and_dtype() {
    for m in [sample_model(), minimal_model()] {
        let bytes = write_model(&m).unwrap();
        assert_eq!(&bytes[4..8], b"TFL3");
        assert_eq!(read_model(&bytes).unwrap(), m);
    }
}

#[test]
fn writes_version_3_and_both_opcode_fields() {
    let bytes = write_model(&sample_model()).unwrap();
    let r = Reader::new(&bytes);
    let root = r.root(FILE_IDENTIFIER, "Model").unwrap();
    assert_eq!(root.scalar(0, "version", 0u32).unwrap(), 3);
    let codes = root.tables(1, "operator_codes", "OperatorCode").unwrap();
    let fields = |c: &Table| {
        (
            c.scalar(0, "deprecated", -1i8).unwrap(),
            c.scalar(3, "builtin", -1i32).unwrap(),
        )
    };
    let all: Vec<(i8, i32)> = codes.iter().map(fields).collect();
    assert!(all.contains(&(127, 150)), "GELU: {all:?}");
    assert!(all.contains(&(9, 9)), "FULLY_CONNECTED: {all:?}");
    assert!(all.contains(&(126, 126)), "BATCH_MATMUL: {all:?}");
}

#[test]
fn softmax_beta_zero_is_still_written() {
    let bytes = write_model(&sample_model()).unwrap();
    let r = Reader::new(&bytes);
    let root = r.root(FILE_IDENTIFIER, "Model").unwrap();
    let sg = &root.tables(2, "subgraphs", "SubGraph").unwrap()[0];
    let ops = sg.tables(3, "operators", "Operator").unwrap();
    let softmax = ops
        .iter()
        .find(|o| o.scalar(3, "type", 0u8).unwrap() == 9)
        .unwrap();
    let opts = softmax
        .table(4, "options", "SoftmaxOptions")
        .unwrap()
        .unwrap();
    // A sentinel default of NaN is only returned when the field is absent.
    assert_eq!(opts.scalar(0, "beta", f32::NAN).unwrap(), 0.0);
}

#[test]
fn aligns_buffer_data_to_16_and_int64_vectors_to_8() {
    let bytes = write_model(&sample_model()).unwrap();
    assert_eq!(bytes.len() % 16, 0);
    let r = Reader::new(&bytes);
    let root = r.root(FILE_IDENTIFIER, "Model").unwrap();
    let mut data_spans = 0;
    for b in root.tables(4, "buffers", "Buffer").unwrap() {
        if let Some((start, n)) = b.vector_span(0, "data", 1).unwrap() {
            assert_eq!(start % 16, 0, "Buffer.data of {n} bytes at {start}");
            data_spans += 1;
        }
    }
    assert_eq!(data_spans, TensorType::ALL.len() + 1);
    let sg = &root.tables(2, "subgraphs", "SubGraph").unwrap()[0];
    let mut zp_vectors = 0;
    for t in sg.tables(0, "tensors", "Tensor").unwrap() {
        if let Some(q) = t.table(4, "quantization", "Q").unwrap() {
            let (start, _) = q.vector_span(3, "zero_point", 8).unwrap().unwrap();
            assert_eq!(start % 8, 0);
            zp_vectors += 1;
        }
    }
    assert_eq!(zp_vectors, 3);
}

#[test]
fn builder_lays_out_strings_vectors_and_shared_vtables() {
    let mut b = Builder::new();
    let s = b.string("ab");
    let t1 = b.table(&[(0, Field::I8(1)), (1, Field::Ref(s))]);
    let t2 = b.table(&[(0, Field::I8(2)), (1, Field::Ref(s))]);
    let v = b.refs(&[t1, t2]);
    let root = b.table(&[(0, Field::Ref(v)), (2, Field::I64(-5))]);
    let bytes = b.finish(root, Some(b"TEST")).unwrap();
    assert_eq!(bytes.len() % 8, 0);
    let r = Reader::new(&bytes);
    let root = r.root(b"TEST", "Root").unwrap();
    assert_eq!(root.scalar(2, "big", 0i64).unwrap(), -5);
    assert_eq!(root.scalar(1, "absent", 42i32).unwrap(), 42);
    let items = root.tables(0, "items", "Item").unwrap();
    let got: Vec<(i8, Option<&str>)> = items
        .iter()
        .map(|t| (t.scalar(0, "k", 0i8).unwrap(), t.string(1, "s").unwrap()))
        .collect();
    assert_eq!(got, vec![(1, Some("ab")), (2, Some("ab"))]);
    // The string is stored once, NUL-terminated, and both items point at it.
    let (start, n) = items[0].vector_span(1, "s", 1).unwrap().unwrap();
    assert_eq!((&bytes[start..start + n + 1], n), (&b"ab\0"[..], 2));
    assert_eq!(items[1].vector_span(1, "s", 1).unwrap(), Some((start, n)));
    // Equal vtables are written once: the two items' 8-byte vtables (len 8, obj len, 2 slots)
    // (i8 at 11, uoffset at 4, 12-byte table) collapse into one copy.
    let vt = [8u8, 0, 12, 0, 11, 0, 4, 0];
    assert_eq!(
        bytes.windows(8).filter(|w| *w == vt).count(),
        1,
        "{bytes:?}"
    );
}

fn graph_error(m: &ModelDef) -> String {
    match write_model(m) {
        Err(Error::Graph { node, what }) => format!("{node}: {what}"),
        other => panic!("expected a Graph error, got {other:?}"),
    }
}

#[test]
fn writer_rejects_inconsistent_models() {
    type Edit = fn(&mut ModelDef);
    let cases: Vec<(Edit, &str)> = vec![
        (|m| m.version = 2, "version is 2"),
        (|m| m.buffers.clear(), "has no buffers"),
        (|m| m.buffers[0] = vec![1], "buffer 0: holds 1 bytes"),
        (|m| m.subgraphs[0].tensors[0].buffer = 99, "buffer index 99"),
        (
            |m| m.buffers[1].push(0),
            "buffer 1 holds 25 bytes but shape [2, 3] of F32 needs Some(24)",
        ),
        (
            |m| {
                m.subgraphs[0].tensors[8]
                    .quant
                    .as_mut()
                    .unwrap()
                    .scale
                    .push(1.0)
            },
            "2 scales but 1 zero points",
        ),
        (
            |m| {
                m.subgraphs[0].tensors[6]
                    .quant
                    .as_mut()
                    .unwrap()
                    .quantized_dimension = 1
            },
            "per-axis scales do not fit quantized_dimension 1",
        ),
        (
            |m| m.subgraphs[0].operators[2].inputs[2] = 77,
            "tensor index 77",
        ),
        (
            |m| m.subgraphs[0].outputs[0] = -1,
            "outputs: tensor index -1",
        ),
        (
            |m| m.subgraphs[0].operators[1].opcode_index = 500,
            "opcode index 500",
        ),
        (|m| m.metadata[0].1 = 1000, "buffer index 1000"),
        (|m| m.signatures[0].outputs[0].1 = 1000, "tensor index 1000"),
        (
            |m| m.subgraphs[0].tensors[0].shape[0] = -1,
            "negative dimension",
        ),
        (
            |m| m.subgraphs[0].operators[4].options = BuiltinOptions::None,
            "operator 4 (SOFTMAX): needs Softmax options",
        ),
        (
            |m| m.subgraphs[0].operators[0].options = BuiltinOptions::Quantize,
            "operator 0 (CONV_2D): options Quantize do not belong",
        ),
        (|m| m.subgraphs.clear(), "has no subgraphs"),
    ];
    for (edit, want) in cases {
        let mut m = sample_model();
        edit(&mut m);
        let msg = graph_error(&m);
        assert!(msg.contains(want), "{msg:?} should contain {want:?}");
    }
}

/// A one-tensor, one-op model written by hand, to give the reader what our writer never emits.
fn raw_model(tensor_type: i8, options_type: u8) -> Vec<u8> {
    let mut b = Builder::new();
    let empty = b.table(&[]);
    let buffers = b.refs(&[empty]);
    let shape = b.vector(&[1i32]);
    let t = b.table(&[(0, Field::Ref(shape)), (1, Field::I8(tensor_type))]);
    let tensors = b.refs(&[t]);
    let io = b.vector(&[0i32]);
    let opts = b.table(&[]);
    let op = b.table(&[
        (1, Field::Ref(io)),
        (2, Field::Ref(io)),
        (3, Field::U8(options_type)),
        (4, Field::Ref(opts)),
    ]);
    let ops = b.refs(&[op]);
    let sg = b.table(&[(0, Field::Ref(tensors)), (3, Field::Ref(ops))]);
    let sgs = b.refs(&[sg]);
    let code = b.table(&[(0, Field::I8(9)), (3, Field::I32(9))]);
    let codes = b.refs(&[code]);
    let root = b.table(&[
        (0, Field::U32(3)),
        (1, Field::Ref(codes)),
        (2, Field::Ref(sgs)),
        (4, Field::Ref(buffers)),
    ]);
    b.finish(root, Some(FILE_IDENTIFIER)).unwrap()
}

fn format_error(bytes: &[u8]) -> String {
    match read_model(bytes) {
        Err(Error::Format { what }) => what,
        other => panic!("expected a Format error, got {other:?}"),
    }
}

#[test]
fn reader_names_what_it_cannot_read() {
    assert!(read_model(&raw_model(0, 8)).is_ok());
    let msg = format_error(&raw_model(55, 8));
    assert!(msg.contains("tensor 0: tensor type 55"), "{msg}");
    let msg = format_error(&raw_model(0, 200));
    assert!(
        msg.contains("operator 0 (FULLY_CONNECTED): builtin options type 200"),
        "{msg}"
    );
    let msg = format_error(b"short");
    assert!(msg.contains("too short"), "{msg}");
    let mut bytes = write_model(&minimal_model()).unwrap();
    bytes[4..8].copy_from_slice(b"TFL2");
    assert!(format_error(&bytes).contains("file identifier"));
    let bytes = write_model(&minimal_model()).unwrap();
    let msg = format_error(&bytes[..bytes.len() - 8]);
    assert!(
        msg.contains("past the end") || msg.contains("outside"),
        "{msg}"
    );
}

#[test]
fn corrupted_files_never_panic() {
    let good = write_model(&sample_model()).unwrap();
    let mut rng = StdRng::seed_from_u64(0x7f1e);
    let (mut ok, mut err) = (0, 0);
    for i in 0..6000 {
        let mut bytes = good.clone();
        match i % 4 {
            0 => {
                for _ in 0..rng.gen_range(1..4) {
                    let at = rng.gen_range(0..bytes.len());
                    bytes[at] ^= 1 << rng.gen_range(0..8);
                }
            }
            1 => bytes.truncate(rng.gen_range(0..good.len())),
            2 => {
                let at = rng.gen_range(0..bytes.len() - 4) & !3;
                let v: u32 = match rng.gen_range(0..3) {
                    0 => rng.gen(),
                    1 => rng.gen_range(0..good.len() as u32),
                    _ => u32::MAX - rng.gen_range(0..16),
                };
                bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
            _ => {
                let at = rng.gen_range(0..bytes.len());
                bytes[at] = rng.gen();
                let at = rng.gen_range(0..bytes.len() - 2) & !1;
                bytes[at..at + 2].copy_from_slice(&rng.gen::<u16>().to_le_bytes());
            }
        }
        match read_model(&bytes) {
            Ok(_) => ok += 1,
            Err(Error::Format { .. }) => err += 1,
            Err(e) => panic!("unexpected error kind {e:?}"),
        }
    }
    // Both outcomes occur: corruption in data bytes is harmless, in structure it is caught.
    assert!(ok > 100 && err > 1000, "ok {ok}, err {err}");
}

#[test]
fn shared_offsets_cannot_multiply_work() {
    // 20000 buffer entries all pointing at one 64 KiB Buffer: a 144 KiB file that would expand
    // to 1.3 GB if every entry were copied.
    let mut b = Builder::new();
    let data = b.bytes(&vec![0u8; 1 << 16], 16);
    let buf = b.table(&[(0, Field::Ref(data))]);
    let buffers = b.refs(&vec![buf; 20000]);
    let sg = b.table(&[]);
    let sgs = b.refs(&[sg]);
    let root = b.table(&[
        (0, Field::U32(3)),
        (2, Field::Ref(sgs)),
        (4, Field::Ref(buffers)),
    ]);
    let bytes = b.finish(root, Some(FILE_IDENTIFIER)).unwrap();
    let msg = format_error(&bytes);
    assert!(msg.contains("far more data"), "{msg}");
}
