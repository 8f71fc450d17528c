//! SmoothQuant on a small ViT and on a layer with an outlier channel: the smoothed float graph
//! computes the same function, and smoothing lowers the int8 error when one channel dominates.

mod common;

use common::{input, small_vit};
use inkling_quant::graph::{Act, Graph, Op};
use inkling_quant::passes::{self, lower_layer_norm};
use inkling_quant::ptq::{convert, Calibrator, ObserverKind};
use inkling_quant::runtime::{Buf, Data, Session};
use inkling_quant::smooth::{channel_max, smooth};
use inkling_quant::trace;

/// The graph's first output as floats (dequantized when int8).
fn output(g: &Graph, s: &Session, x: &Buf) -> Vec<f32> {
    let y = s.run(vec![x.clone()]).unwrap().remove(0);
    match y.data {
        Data::F32(v) => v,
        Data::I8(v) => {
            let q = g.value(g.outputs[0]).qparams().unwrap();
            v.iter()
                .map(|&i| (i as i32 - q.zero_point) as f32 * q.scale)
                .collect()
        }
        Data::I32(_) => panic!("int32 output"),
    }
}

/// Largest |a − b| over the largest |a|, across inputs.
fn rel_gap(a: &Graph, b: &Graph, xs: &[Buf]) -> f32 {
    let (sa, sb) = (Session::new(a).unwrap(), Session::new(b).unwrap());
    let (mut gap, mut mag) = (0f32, 0f32);
    for x in xs {
        let (ya, yb) = (output(a, &sa, x), output(b, &sb, x));
        for (p, q) in ya.iter().zip(&yb) {
            gap = gap.max((p - q).abs());
            mag = mag.max(p.abs());
        }
    }
    gap / mag
}

/// Mean squared error of `q`'s outputs against `f`'s.
fn mse(f: &Graph, q: &Graph, xs: &[Buf]) -> f64 {
    let (sf, sq) = (Session::new(f).unwrap(), Session::new(q).unwrap());
    let (mut e, mut n) = (0f64, 0usize);
    for x in xs {
        for (a, b) in output(f, &sf, x).iter().zip(output(q, &sq, x)) {
            e += ((a - b) as f64).powi(2);
            n += 1;
        }
    }
    e / n as f64
}

fn int8(g: &Graph, cal: &[Buf]) -> Graph {
    let mut c = Calibrator::new(g, ObserverKind::MinMax).unwrap();
    for x in cal {
        c.observe(x.clone()).unwrap();
    }
    convert(g, &c.ranges()).unwrap()
}

#[test]
fn smoothing_a_vit_keeps_its_function_and_folds_every_layer_norm() {
    let mut m = small_vit();
    let g = passes::prepare(trace(&mut m, &common::image(1)).unwrap()).unwrap();
    let cal: Vec<Buf> = (0..8).map(|s| input(100 + s)).collect();
    let stats = channel_max(&g, &cal).unwrap();
    let xs: Vec<Buf> = (0..4).map(input).collect();
    for alpha in [0.3, 0.5, 0.8, 1.0] {
        let (s, sum) = smooth(&g, &stats, alpha).unwrap();
        // 2 blocks × (LN1 → q, k, v; LN2 → fc1) + the final norm → head.
        assert_eq!(sum.smoothed.len(), 5, "{sum:#?}");
        assert_eq!(sum.smoothed[0].layers.len(), 3);
        // The attention output and fc2 read a RESHAPE and a GELU: nothing to fold into.
        assert_eq!(sum.skipped.len(), 4, "{sum:#?}");
        assert_eq!(s.nodes.len(), g.nodes.len());
        assert_ne!(s, g);
        let gap = rel_gap(&g, &s, &xs);
        assert!(gap < 1e-5, "α {alpha}: relative gap {gap}");
    }
}

/// x[1, 16, 32] → LayerNorm (channel 5 scaled ×60: an outlier) → FULLY_CONNECTED 32 → 24.
fn outlier_layer() -> Graph {
    let (t, k, n) = (16, 32, 24);
    let mut g = Graph::default();
    let x = g.add_activation("x", &[1, t, k]);
    g.inputs = vec![x];
    let mut gamma: Vec<f32> = (0..k).map(|j| 0.8 + 0.02 * j as f32).collect();
    gamma[5] = 60.0;
    let beta: Vec<f32> = (0..k).map(|j| 0.01 * j as f32 - 0.1).collect();
    let gamma = g.add_const_f32("ln.gamma", &[k], gamma);
    let beta = g.add_const_f32("ln.beta", &[k], beta);
    let w: Vec<f32> = (0..n * k)
        .map(|i| ((i * 7919 % 211) as f32 / 211.0 - 0.5) * 0.3)
        .collect();
    let w = g.add_const_f32("fc.weight", &[n, k], w);
    let ln = g.push(
        "ln",
        Op::LayerNorm { eps: 1e-6 },
        vec![x, gamma, beta],
        &[1, t, k],
        false,
    );
    let fc = Op::FullyConnected { act: Act::None };
    let y = g.push("fc", fc, vec![ln, w], &[1, t, n], false);
    g.outputs = vec![y];
    lower_layer_norm(&mut g);
    g.validate().unwrap();
    g
}

fn tokens(seed: usize) -> Buf {
    let v = (0..16 * 32)
        .map(|i| ((((i + 1) * 2654435761usize) ^ (seed * 40503)) % 997) as f32 / 498.5 - 1.0)
        .collect();
    Buf::f32(&[1, 16, 32], v)
}

#[test]
fn smoothing_an_outlier_channel_lowers_the_int8_error() {
    let g = outlier_layer();
    let cal: Vec<Buf> = (0..16).map(tokens).collect();
    let test: Vec<Buf> = (100..108).map(tokens).collect();
    let plain = mse(&g, &int8(&g, &cal), &test);
    let stats = channel_max(&g, &cal).unwrap();
    let (s, sum) = smooth(&g, &stats, 0.5).unwrap();
    assert!(
        sum.smoothed[0].outlier_ratio_after < sum.smoothed[0].outlier_ratio_before / 4.0,
        "{sum:?}"
    );
    assert!(rel_gap(&g, &s, &test) < 1e-5);
    let smoothed = mse(&g, &int8(&s, &cal), &test);
    assert!(
        smoothed < plain / 2.0,
        "smoothed int8 MSE {smoothed} vs plain {plain}"
    );
}
