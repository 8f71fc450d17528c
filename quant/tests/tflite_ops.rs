//! Per-op `.tflite` export cases: every op and dtype the exporter emits, each as a tiny hand-built
//! float32 graph exported as built and (where it has an int8 form) after PTQ. Every file is read
//! back and run in our Session; with `INKLING_LITERT_PYTHON` set, LiteRT runs all of them too and
//! must agree (one XNNPACK partition each, int8 bit-exact).

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::write_buf;
use inkling_quant::export::tflite::{read_model, TensorType};
use inkling_quant::export::{to_tflite, ModelInfo};
use inkling_quant::graph::{Act, DType, Graph, Op, Padding, Quant, ValueId};
use inkling_quant::ptq::qparams::asymmetric;
use inkling_quant::ptq::{convert, Calibrator, Observer, ObserverKind};
use inkling_quant::runtime::{Buf, Session};
use inkling_quant::QParams;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How the int8 form of a case is made.
#[derive(Clone, Copy, PartialEq)]
enum Int8 {
    /// No int8 form (a lone float op: PTQ would leave the graph unchanged).
    None,
    /// Calibrate, then `ptq::convert`.
    Ptq,
    /// The op itself in int8 behind a QUANTIZE, built here: `convert` keeps MEAN and LOGISTIC in
    /// float32, but the exporter and the runtime have their int8 forms.
    ByHand,
}

/// One export case: a float32 graph and how to feed and quantize it.
struct Case {
    name: &'static str,
    g: Graph,
    /// Inputs drawn from [0.25, 4) instead of [-2, 2) (RSQRT).
    positive: bool,
    int8: Int8,
}

fn rand_vec(rng: &mut StdRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(lo..hi)).collect()
}

/// A graph with float32 inputs of `shapes`; `body` adds constants and nodes and returns the output.
fn graph(
    seed: u64,
    shapes: &[&[usize]],
    body: impl FnOnce(&mut Graph, &mut StdRng, &[ValueId]) -> ValueId,
) -> Graph {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut g = Graph::default();
    let xs: Vec<ValueId> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| g.add_activation(&format!("x{i}"), s))
        .collect();
    g.inputs = xs.clone();
    let y = body(&mut g, &mut rng, &xs);
    g.outputs = vec![y];
    g
}

/// A random constant of `shape` with entries in [lo, hi).
fn konst(
    g: &mut Graph,
    rng: &mut StdRng,
    name: &str,
    shape: &[usize],
    lo: f32,
    hi: f32,
) -> ValueId {
    let n = shape.iter().product();
    let data = rand_vec(rng, n, lo, hi);
    g.add_const_f32(name, shape, data)
}

/// FULLY_CONNECTED `x[.., k] → [.., n]` with random weights (and bias).
fn fc(g: &mut Graph, rng: &mut StdRng, x: ValueId, n: usize, bias: bool, act: Act) -> ValueId {
    let xs = g.value(x).shape.clone();
    let k = xs[xs.len() - 1];
    let name = format!("fc{}", g.nodes.len());
    let w = konst(g, rng, &format!("{name}.w"), &[n, k], -0.5, 0.5);
    let mut ins = vec![x, w];
    if bias {
        ins.push(konst(g, rng, &format!("{name}.b"), &[n], -0.5, 0.5));
    }
    let mut ys = xs;
    *ys.last_mut().unwrap() = n;
    g.push(&name, Op::FullyConnected { act }, ins, &ys, false)
}

fn case(name: &'static str, g: Graph, int8: Int8) -> Case {
    Case {
        name,
        g,
        positive: false,
        int8,
    }
}

/// A single node `op` on input(s) of `shapes` (plus constants from `consts`) writing `out`.
fn one(
    name: &'static str,
    seed: u64,
    shapes: &[&[usize]],
    op: Op,
    out: &[usize],
    int8: Int8,
    consts: impl FnOnce(&mut Graph, &mut StdRng) -> Vec<ValueId>,
) -> Case {
    let g = graph(seed, shapes, |g, rng, xs| {
        let mut ins = xs.to_vec();
        ins.extend(consts(g, rng));
        g.push(name, op, ins, out, false)
    });
    case(name, g, int8)
}

/// A lone FULLY_CONNECTED `x → [.., 8]` (3-D input: keep_num_dims).
fn fc_case(name: &'static str, seed: u64, x: &[usize], bias: bool, act: Act) -> Case {
    let g = graph(seed, &[x], |g, r, xs| fc(g, r, xs[0], 8, bias, act));
    case(name, g, Int8::Ptq)
}

fn conv(name: &'static str, seed: u64, depthwise: bool, s: usize, p: Padding, act: Act) -> Case {
    let (h, c, o, k): (usize, usize, usize, usize) = (9, 4, 5, 3);
    let oh = match p {
        Padding::Same => h.div_ceil(s),
        Padding::Valid => (h - k) / s + 1,
    };
    let (op, wshape, oc) = if depthwise {
        let op = Op::DepthwiseConv2d {
            stride: (s, s),
            padding: p,
            act,
        };
        (op, [1, k, k, c], c)
    } else {
        let op = Op::Conv2d {
            stride: (s, s),
            padding: p,
            act,
        };
        (op, [o, k, k, c], o)
    };
    one(
        name,
        seed,
        &[&[1, h, h, c]],
        op,
        &[1, oh, oh, oc],
        Int8::Ptq,
        |g, rng| {
            vec![
                konst(g, rng, "w", &wshape, -0.5, 0.5),
                konst(g, rng, "b", &[oc], -0.5, 0.5),
            ]
        },
    )
}

/// FC → `op` (a float island) → FC: in int8 the op sits behind DEQUANTIZE … QUANTIZE.
fn island(name: &'static str, seed: u64, op: Op, positive: bool) -> Case {
    let g = graph(seed, &[&[4, 16]], |g, rng, xs| {
        let a = if positive {
            // Positive weights and bias on positive inputs keep RSQRT's operand positive.
            let w = konst(g, rng, "fc0.w", &[16, 16], 0.05, 0.5);
            let b = konst(g, rng, "fc0.b", &[16], 0.1, 0.5);
            g.push(
                "fc0",
                Op::FullyConnected { act: Act::None },
                vec![xs[0], w, b],
                &[4, 16],
                false,
            )
        } else {
            fc(g, rng, xs[0], 16, true, Act::None)
        };
        let mut ins = vec![a];
        let mut shape = vec![4, 16];
        match op {
            Op::SquaredDifference => ins.push(konst(g, rng, "c", &[16], -1.0, 1.0)),
            Op::Mean { .. } => shape = vec![4, 1],
            _ => {}
        }
        let m = g.push(name, op, ins, &shape, true);
        let m = if shape[1] == 1 {
            // Back to 16 wide so the closing FC has K > 1.
            let c = konst(g, rng, "c", &[1, 16], -1.0, 1.0);
            g.push("bcast", Op::Mul, vec![m, c], &[4, 16], false)
        } else {
            m
        };
        fc(g, rng, m, 8, true, Act::None)
    });
    Case {
        name,
        g,
        positive,
        int8: Int8::Ptq,
    }
}

fn cases() -> Vec<Case> {
    let mut v = vec![
        fc_case("fc_2d_bias", 1, &[4, 16], true, Act::None),
        fc_case("fc_3d_nobias", 2, &[2, 5, 16], false, Act::None),
        fc_case("fc_2d_relu", 3, &[4, 16], true, Act::Relu),
        fc_case("fc_3d_bias_relu", 4, &[2, 5, 16], true, Act::Relu),
        conv("conv_same_s1", 5, false, 1, Padding::Same, Act::None),
        conv("conv_valid_s1", 6, false, 1, Padding::Valid, Act::None),
        conv("conv_same_s2_relu", 7, false, 2, Padding::Same, Act::Relu),
        conv("conv_valid_s2", 8, false, 2, Padding::Valid, Act::None),
        conv("dw_same_s1", 9, true, 1, Padding::Same, Act::None),
        conv("dw_valid_s1", 10, true, 1, Padding::Valid, Act::None),
        conv("dw_same_s2", 11, true, 2, Padding::Same, Act::None),
        conv("dw_valid_s2_relu", 12, true, 2, Padding::Valid, Act::Relu),
    ];
    let bmms = [
        ("bmm_3d", &[2][..], false),
        ("bmm_3d_adj_y", &[2][..], true),
        ("bmm_4d", &[1, 2][..], false),
        ("bmm_4d_adj_y", &[1, 2][..], true),
    ];
    for (i, (name, lead, adj_y)) in bmms.into_iter().enumerate() {
        // Two activations, as attention's Q·Kᵀ and P·V: [.., 4, 8] · [.., 8, 5].
        let dims = |r: usize, c: usize| [lead, &[r, c]].concat();
        let b = if adj_y { dims(5, 8) } else { dims(8, 5) };
        let op = Op::BatchMatmul {
            adj_x: false,
            adj_y,
        };
        let out = dims(4, 5);
        v.push(one(
            name,
            13 + i as u64,
            &[&dims(4, 8), &b],
            op,
            &out,
            Int8::Ptq,
            |_, _| vec![],
        ));
    }
    let s: &[usize] = &[2, 3, 8];
    for (i, (op, two, bcast, cst)) in [
        (Op::Add, "add_2act", "add_2act_bcast", "add_const"),
        (Op::Sub, "sub_2act", "sub_2act_bcast", "sub_const"),
        (Op::Mul, "mul_2act", "mul_2act_bcast", "mul_const"),
    ]
    .into_iter()
    .enumerate()
    {
        let seed = 20 + 3 * i as u64;
        v.push(one(
            two,
            seed,
            &[s, s],
            op.clone(),
            s,
            Int8::Ptq,
            |_, _| vec![],
        ));
        v.push(one(
            bcast,
            seed + 1,
            &[s, &[2, 1, 8]],
            op.clone(),
            s,
            Int8::Ptq,
            |_, _| vec![],
        ));
        v.push(one(cst, seed + 2, &[s], op, s, Int8::Ptq, |g, r| {
            vec![konst(g, r, "c", &[8], -1.0, 1.0)]
        }));
    }
    let none = |_: &mut Graph, _: &mut StdRng| vec![];
    let mean_last = Op::Mean {
        axes: vec![2],
        keep_dims: true,
    };
    let mean_hw = Op::Mean {
        axes: vec![1, 2],
        keep_dims: false,
    };
    v.extend([
        one(
            "mean_last_keep",
            30,
            &[&[2, 6, 16]],
            mean_last.clone(),
            &[2, 6, 1],
            Int8::ByHand,
            none,
        ),
        one(
            "mean_hw",
            31,
            &[&[1, 5, 5, 8]],
            mean_hw,
            &[1, 8],
            Int8::ByHand,
            none,
        ),
        one(
            "logistic",
            32,
            &[&[4, 16]],
            Op::Logistic,
            &[4, 16],
            Int8::ByHand,
            none,
        ),
        one(
            "reshape",
            33,
            &[&[2, 3, 8]],
            Op::Reshape { shape: vec![6, 8] },
            &[6, 8],
            Int8::Ptq,
            none,
        ),
        one(
            "transpose",
            34,
            &[&[2, 3, 4, 5]],
            Op::Transpose {
                perm: vec![0, 2, 1, 3],
            },
            &[2, 4, 3, 5],
            Int8::Ptq,
            none,
        ),
        one(
            "concat_const",
            35,
            &[&[2, 3, 8]],
            Op::Concat { axis: 1 },
            &[2, 4, 8],
            Int8::Ptq,
            |g, r| vec![konst(g, r, "cls", &[2, 1, 8], -1.0, 1.0)],
        ),
        one(
            "strided_slice",
            36,
            &[&[2, 6, 8]],
            Op::Slice {
                begin: vec![0, 1, 2],
                size: vec![2, 4, 5],
            },
            &[2, 4, 5],
            Int8::Ptq,
            none,
        ),
        one(
            "softmax",
            37,
            &[&[4, 16]],
            Op::Softmax,
            &[4, 16],
            Int8::None,
            none,
        ),
        one(
            "gelu",
            38,
            &[&[4, 16]],
            Op::Gelu,
            &[4, 16],
            Int8::None,
            none,
        ),
        one(
            "hard_swish",
            39,
            &[&[4, 16]],
            Op::HardSwish,
            &[4, 16],
            Int8::None,
            none,
        ),
        one(
            "squared_difference",
            40,
            &[&[4, 16], &[4, 16]],
            Op::SquaredDifference,
            &[4, 16],
            Int8::None,
            none,
        ),
        Case {
            positive: true,
            ..one(
                "rsqrt",
                41,
                &[&[4, 16]],
                Op::Rsqrt,
                &[4, 16],
                Int8::None,
                none,
            )
        },
        island("island_softmax", 42, Op::Softmax, false),
        island("island_gelu", 43, Op::Gelu, false),
        island("island_hard_swish", 44, Op::HardSwish, false),
        island(
            "island_squared_difference",
            45,
            Op::SquaredDifference,
            false,
        ),
        island("island_rsqrt", 46, Op::Rsqrt, true),
        island(
            "island_mean",
            47,
            Op::Mean {
                axes: vec![1],
                keep_dims: true,
            },
            false,
        ),
        island("island_logistic", 48, Op::Logistic, false),
    ]);
    v
}

/// Random inputs for every graph input.
fn inputs(c: &Case, seed: u64) -> Vec<Buf> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (lo, hi) = if c.positive { (0.25, 4.0) } else { (-2.0, 2.0) };
    c.g.inputs
        .iter()
        .map(|&i| {
            let s = &c.g.value(i).shape;
            Buf::f32(s, rand_vec(&mut rng, s.iter().product(), lo, hi))
        })
        .collect()
}

/// MinMax ranges of every value over 8 random inputs: the Calibrator for one-input graphs, the
/// same observers driven by hand for two-input ones (the Calibrator feeds one input).
fn calibrate(c: &Case) -> HashMap<ValueId, (f32, f32)> {
    if c.g.inputs.len() == 1 {
        let mut cal = Calibrator::new(&c.g, ObserverKind::MinMax).unwrap();
        for s in 0..8 {
            cal.observe(inputs(c, 1000 + s).remove(0)).unwrap();
        }
        return cal.ranges();
    }
    let session = Session::new(&c.g).unwrap();
    let mut obs: HashMap<ValueId, Observer> = HashMap::new();
    for s in 0..8 {
        let xs = inputs(c, 1000 + s);
        for (&id, x) in c.g.inputs.iter().zip(&xs) {
            obs.entry(id)
                .or_insert_with(|| Observer::new(ObserverKind::MinMax))
                .observe(x.as_f32().unwrap());
        }
        session
            .run_observed(xs, &mut |id, b| {
                obs.entry(id)
                    .or_insert_with(|| Observer::new(ObserverKind::MinMax))
                    .observe(b.as_f32().unwrap())
            })
            .unwrap();
    }
    obs.iter()
        .filter_map(|(&id, o)| o.range().map(|r| (id, r)))
        .collect()
}

/// The case's one node in int8: QUANTIZE → op (int8 in, int8 out).
fn int8_by_hand(g: &Graph, ranges: &HashMap<ValueId, (f32, f32)>) -> Graph {
    let mut q = g.clone();
    let (x, y) = (g.inputs[0], g.outputs[0]);
    let (lo, hi) = ranges[&x];
    let shape = g.value(x).shape.clone();
    let xq = q.push("x.quant", Op::Quantize, vec![x], &shape, false);
    q.nodes.rotate_right(1);
    q.nodes[1].inputs[0] = xq;
    let yq = match g.nodes[0].op {
        Op::Logistic => QParams::new(1.0 / 256.0, -128),
        _ => {
            let (lo, hi) = ranges[&y];
            asymmetric(lo, hi)
        }
    };
    for (v, p) in [(xq, asymmetric(lo, hi)), (y, yq)] {
        let val = q.value_mut(v);
        val.dtype = DType::I8;
        val.quant = Some(Quant::PerTensor(p));
    }
    q
}

/// The int8 output dequantized, and its parameters.
fn real(g: &Graph, b: &Buf) -> (Vec<f32>, QParams) {
    let q = g.value(g.outputs[0]).qparams().expect("int8 output");
    let v = b.as_i8().expect("int8 output");
    let r = v
        .iter()
        .map(|&x| (x as i32 - q.zero_point) as f32 * q.scale)
        .collect();
    (r, q)
}

/// Exports `g`, reads the file back, runs our Session on `xs`, checks the file against the graph
/// and writes the case files into `dir` (when given). Returns the output.
fn export_and_run(name: &str, g: &Graph, xs: &[Buf], dir: Option<&Path>) -> Buf {
    let info = ModelInfo {
        input_shape: g.value(g.inputs[0]).shape.clone(),
        precision: "per-op".into(),
        ..ModelInfo::default()
    };
    let bytes = to_tflite(g, &info).unwrap_or_else(|e| panic!("{name}: export failed: {e}"));
    let m = read_model(&bytes).unwrap_or_else(|e| panic!("{name}: read back failed: {e}"));
    let sg = &m.subgraphs[0];
    assert_eq!(sg.operators.len(), g.nodes.len(), "{name}");
    for (op, n) in sg.operators.iter().zip(&g.nodes) {
        let want = match g.value(n.outputs[0]).dtype {
            DType::I8 => TensorType::I8,
            _ => TensorType::F32,
        };
        assert_eq!(
            sg.tensors[op.outputs[0] as usize].dtype, want,
            "{name}: {}",
            n.name
        );
    }
    let y = Session::new(g).unwrap().run(xs.to_vec()).unwrap().remove(0);
    if let Some(dir) = dir {
        std::fs::write(dir.join(format!("{name}.tflite")), &bytes).unwrap();
        for (i, x) in xs.iter().enumerate() {
            write_buf(&dir.join(format!("{name}.in{i}.npy")), x);
        }
        write_buf(&dir.join(format!("{name}.out0.npy")), &y);
    }
    y
}

#[test]
fn every_op_exports_and_runs_like_litert() {
    let dir = common::litert_dir("tflite_ops");
    let mut files = 0;
    for c in cases() {
        let xs = inputs(&c, 7);
        let fname = format!("{}_f32", c.name);
        let fy = export_and_run(&fname, &c.g, &xs, dir.as_deref());
        files += 1;
        if c.int8 == Int8::None {
            continue;
        }
        let ranges = calibrate(&c);
        let q = match c.int8 {
            Int8::Ptq => convert(&c.g, &ranges).unwrap(),
            _ => int8_by_hand(&c.g, &ranges),
        };
        let counts = q.op_counts();
        assert!(counts.contains_key("QUANTIZE"), "{}: {counts:?}", c.name);
        if c.name.starts_with("island") {
            assert!(counts.contains_key("DEQUANTIZE"), "{}: {counts:?}", c.name);
        }
        let qname = format!("{}_int8", c.name);
        let qy = export_and_run(&qname, &q, &xs, dir.as_deref());
        files += 1;
        // int8 tracks float: within a few output steps plus the inputs' rounding carried through.
        // int8 tracks float: within a few output steps, once the float output is clipped to the
        // calibrated range (a fresh input may leave it).
        let (r, q) = real(&q, &qy);
        let (lo, hi) = (
            (-128 - q.zero_point) as f32 * q.scale,
            (127 - q.zero_point) as f32 * q.scale,
        );
        let f: Vec<f32> = fy
            .as_f32()
            .unwrap()
            .iter()
            .map(|v| v.clamp(lo, hi))
            .collect();
        let worst = f
            .iter()
            .zip(&r)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        let steps = worst / q.scale;
        assert!(
            steps <= 2.0,
            "{qname}: max |int8 − float| = {steps} output steps"
        );
    }
    let Some(dir) = dir else {
        return;
    };
    let log = common::litert_check(&dir, &[]);
    assert!(
        log.contains(&format!("{files}/{files} models passed")),
        "{log}"
    );
}
