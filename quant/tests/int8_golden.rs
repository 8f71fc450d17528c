//! Replays int8 fixtures recorded from LiteRT 2.3.0 + XNNPACK (tests/golden/make_int8_golden.py)
//! and requires Inkling's int8 ops to reproduce every output exactly.

use std::path::PathBuf;

use inkling_quant::runtime::int8::{
    add, batch_matmul, dequantize, mean, mul, quantize, sub, Clamp, Int8Conv2d,
    Int8DepthwiseConv2d, Int8Linear, LogisticTable, Operand, Window,
};
use inkling_quant::QParams;
use serde_json::Value;

fn cases(op: &str) -> Vec<Value> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/int8/{op}.json"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let v: Value = serde_json::from_str(&text).expect("fixture JSON");
    let list = v.as_array().expect("a list of cases").clone();
    assert!(!list.is_empty(), "{op}: no cases");
    list
}

fn ints<T: TryFrom<i64>>(v: &Value, key: &str) -> Vec<T> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} missing"))
        .iter()
        .map(|x| {
            T::try_from(x.as_i64().expect("integer"))
                .ok()
                .expect("in range")
        })
        .collect()
}

fn floats(v: &Value, key: &str) -> Vec<f32> {
    v[key]
        .as_array()
        .expect("floats")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn num(v: &Value, key: &str) -> usize {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} missing")) as usize
}

fn qp(v: &Value, key: &str) -> QParams {
    let q = v[key].as_array().expect("qparams");
    QParams::new(q[0].as_f64().unwrap() as f32, q[1].as_i64().unwrap() as i32)
}

fn assert_same(v: &Value, got: &[i8]) {
    let want: Vec<i8> = ints(v, "expected");
    let bad = got.iter().zip(&want).filter(|(a, b)| a != b).count();
    assert_eq!(got.len(), want.len(), "{}: output length", v["name"]);
    assert_eq!(
        bad,
        0,
        "{}: {bad} of {} outputs differ from LiteRT",
        v["name"],
        want.len()
    );
}

#[test]
fn quantize_matches_litert() {
    for v in cases("quantize") {
        let x = floats(&v, "x");
        let mut y = vec![0i8; x.len()];
        quantize(&x, qp(&v, "y_q"), &mut y).unwrap();
        assert_same(&v, &y);
    }
}

#[test]
fn dequantize_matches_litert() {
    for v in cases("dequantize") {
        let x: Vec<i8> = ints(&v, "x");
        let mut y = vec![0f32; x.len()];
        dequantize(&x, qp(&v, "x_q"), &mut y).unwrap();
        let want: Vec<u32> = ints(&v, "expected");
        let got: Vec<u32> = y.iter().map(|f| f.to_bits()).collect();
        assert_eq!(got, want, "{}", v["name"]);
    }
}

#[test]
fn fully_connected_matches_litert() {
    for v in cases("fully_connected") {
        let (m, k, n) = (num(&v, "m"), num(&v, "k"), num(&v, "n"));
        let bias: Vec<i32> = ints(&v, "bias");
        let lin = Int8Linear::new(
            &ints::<i8>(&v, "w"),
            n,
            k,
            Some(&bias),
            &floats(&v, "w_scales"),
        )
        .unwrap();
        let mut y = vec![0i8; m * n];
        lin.run(
            &ints::<i8>(&v, "x"),
            m,
            qp(&v, "x_q"),
            qp(&v, "y_q"),
            Clamp::NONE,
            &mut y,
        )
        .unwrap();
        assert_same(&v, &y);
    }
}

fn window(v: &Value) -> Window {
    let st: Vec<usize> = ints(v, "stride");
    let p: Vec<usize> = ints(v, "pads");
    Window {
        input: [num(v, "n"), num(v, "h"), num(v, "w"), num(v, "c")],
        kernel: (num(v, "kh"), num(v, "kw")),
        stride: (st[0], st[1]),
        pads: [p[0], p[1], p[2], p[3]],
    }
}

/// Replays conv-like fixtures: `run(v, window, filter, bias, scales, x, out)` computes one case.
fn conv_like(op: &str, run: impl Fn(&Value, &Window, &[i8], &[i32], &[f32], &[i8], &mut [i8])) {
    for v in cases(op) {
        let win = window(&v);
        let (oh, ow) = win.out_hw().unwrap();
        let mut y = vec![0i8; win.input[0] * oh * ow * num(&v, "oc")];
        let (f, x): (Vec<i8>, Vec<i8>) = (ints(&v, "filter"), ints(&v, "x"));
        let bias: Vec<i32> = ints(&v, "bias");
        run(&v, &win, &f, &bias, &floats(&v, "w_scales"), &x, &mut y);
        assert_same(&v, &y);
    }
}

#[test]
fn conv2d_matches_litert() {
    conv_like("conv2d", |v, win, f, bias, sw, x, y| {
        let conv =
            Int8Conv2d::new(f, num(v, "oc"), win.kernel, win.input[3], Some(bias), sw).unwrap();
        conv.run(x, win, qp(v, "x_q"), qp(v, "y_q"), Clamp::NONE, y)
            .unwrap();
    });
}

#[test]
fn depthwise_conv2d_matches_litert() {
    conv_like("depthwise_conv2d", |v, win, f, bias, sw, x, y| {
        let dw = Int8DepthwiseConv2d::new(f, num(v, "oc"), win.kernel, Some(bias), sw).unwrap();
        dw.run(x, win, qp(v, "x_q"), qp(v, "y_q"), Clamp::NONE, y)
            .unwrap();
    });
}

#[test]
fn same_padding_matches_the_fixtures() {
    use inkling_quant::runtime::int8::Padding;
    for v in cases("conv2d").iter().chain(&cases("depthwise_conv2d")) {
        let w = window(v);
        let same = Window::new(w.input, w.kernel, w.stride, Padding::Same).unwrap();
        let valid = Window::new(w.input, w.kernel, w.stride, Padding::Valid).unwrap();
        assert!(w == same || w == valid, "{}: pads {:?}", v["name"], w.pads);
    }
}

#[test]
fn batch_matmul_matches_litert() {
    for v in cases("batch_matmul") {
        let (b, m, k, n) = (num(&v, "batch"), num(&v, "m"), num(&v, "k"), num(&v, "n"));
        let adj_y = v["adj_y"].as_bool().unwrap();
        let (a, bm): (Vec<i8>, Vec<i8>) = (ints(&v, "a"), ints(&v, "b"));
        let bshape = if adj_y { [b, n, k] } else { [b, k, n] };
        let b_q = QParams::new(v["b_scale"].as_f64().unwrap() as f32, 0);
        let mut y = vec![0i8; b * m * n];
        batch_matmul(
            Operand::new(&a, &[b, m, k], qp(&v, "a_q")),
            Operand::new(&bm, &bshape, b_q),
            adj_y,
            qp(&v, "y_q"),
            Clamp::NONE,
            &mut y,
        )
        .unwrap();
        assert_same(&v, &y);
    }
}

type BinaryOp = fn(Operand, Operand, QParams, Clamp, &mut [i8]) -> inkling_quant::Result<()>;

fn binary(op: &str, f: BinaryOp) {
    for v in cases(op) {
        let (sa, sb): (Vec<usize>, Vec<usize>) = (ints(&v, "a_shape"), ints(&v, "b_shape"));
        let (a, b): (Vec<i8>, Vec<i8>) = (ints(&v, "a"), ints(&v, "b"));
        let mut y = vec![0i8; ints::<i64>(&v, "expected").len()];
        f(
            Operand::new(&a, &sa, qp(&v, "a_q")),
            Operand::new(&b, &sb, qp(&v, "b_q")),
            qp(&v, "y_q"),
            Clamp::NONE,
            &mut y,
        )
        .unwrap();
        assert_same(&v, &y);
    }
}

#[test]
fn add_matches_litert() {
    binary("add", add);
}

#[test]
fn sub_matches_litert() {
    binary("sub", sub);
}

#[test]
fn mul_matches_litert() {
    binary("mul", mul);
}

#[test]
fn mean_matches_litert() {
    for v in cases("mean") {
        let shape: Vec<usize> = ints(&v, "shape");
        let axes: Vec<usize> = ints(&v, "axes");
        let mut y = vec![0i8; ints::<i64>(&v, "expected").len()];
        mean(
            &ints::<i8>(&v, "x"),
            &shape,
            &axes,
            qp(&v, "x_q"),
            qp(&v, "y_q"),
            &mut y,
        )
        .unwrap();
        assert_same(&v, &y);
    }
}

#[test]
fn logistic_matches_litert() {
    for v in cases("logistic") {
        let t = LogisticTable::new(qp(&v, "x_q"), qp(&v, "y_q")).unwrap();
        let x: Vec<i8> = (-128..=127).collect();
        let mut y = vec![0i8; 256];
        t.apply(&x, &mut y).unwrap();
        assert_same(&v, &y);
    }
}
