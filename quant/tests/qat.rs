//! Quantization-aware training on the small ViT: the interpreter against the float runtime, its
//! gradients against finite differences, fake quantization exactly where conversion quantizes,
//! export identical to PTQ, and bit-exact resumption.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::{image, input, small_vit};
use inkling_autograd::gradcheck::{gradcheck, rand_tensor, Tol};
use inkling_autograd::{clear_tape, ops, Tensor};
use inkling_nn::checkpoint::{load_model_tensors, model_tensors};
use inkling_nn::models::{Vit, VitConfig};
use inkling_nn::optim::{AdamW, AdamWConfig, Optimizer};
use inkling_nn::{Model, Module};
use inkling_quant::graph::{DType, Graph, Op, Quant, ValueId};
use inkling_quant::ptq::{convert, Calibrator, ObserverKind};
use inkling_quant::qat::{QatConfig, QatModel};
use inkling_quant::runtime::{Buf, Session};
use inkling_quant::{passes, trace};

fn prepared(m: &mut Vit) -> Graph {
    let [c, h, w] = m.input_shape();
    passes::prepare(trace(m, &Tensor::zeros(&[1, c, h, w])).unwrap()).unwrap()
}

fn calibrated(g: &Graph, images: u32) -> HashMap<ValueId, (f32, f32)> {
    let mut cal = Calibrator::new(g, ObserverKind::MinMax).unwrap();
    for s in 0..images {
        cal.observe(input(100 + s)).unwrap();
    }
    cal.ranges()
}

/// `n` images as one NHWC batch (C = 1, so NCHW data is NHWC data).
fn batch(seeds: &[u32]) -> Tensor {
    let data: Vec<f32> = seeds.iter().flat_map(|&s| image(s).into_vec()).collect();
    Tensor::new(&[seeds.len(), 28, 28, 1], data).unwrap()
}

#[test]
fn interpreter_matches_the_float_runtime_at_batch_1_and_3() {
    let g = prepared(&mut small_vit());
    let ranges = calibrated(&g, 4);
    let mut m = QatModel::new(g.clone(), &ranges, QatConfig::default()).unwrap();
    let s = Session::new(&g).unwrap();
    let seeds = [3, 4, 5];
    let y = m.forward_float_nhwc(&batch(&seeds)).unwrap();
    assert_eq!(y.shape(), [3, 10]);
    let mut worst = 0f32;
    for (i, &seed) in seeds.iter().enumerate() {
        let want = s.run(vec![input(seed)]).unwrap();
        let want = want[0].as_f32().unwrap();
        let got = &y.data()[i * 10..(i + 1) * 10];
        let one = m.forward_float_nhwc(&batch(&[seed])).unwrap();
        assert_eq!(one.data(), got, "batch 1 and batch 3 agree bit for bit");
        for (a, b) in got.iter().zip(want) {
            worst = worst.max((a - b).abs() / (1.0 + b.abs()));
        }
    }
    assert!(worst < 1e-5, "interpreter vs runtime: {worst}");
}

fn tiny_vit() -> Vit {
    let cfg = VitConfig {
        image_size: 8,
        in_chans: 1,
        patch: 4,
        width: 8,
        depth: 1,
        heads: 2,
        mlp_dim: 16,
        classes: 3,
        dropout: 0.0,
        qkv_bias: true,
    };
    Vit::new(cfg, 3).unwrap()
}

/// Ranges observed on `n` random tiny-ViT inputs `[1, 8, 8, 1]`.
fn tiny_ranges(g: &Graph, n: u64) -> HashMap<ValueId, (f32, f32)> {
    let mut cal = Calibrator::new(g, ObserverKind::MinMax).unwrap();
    for s in 0..n {
        let x = rand_tensor(&[1, 8, 8, 1], 50 + s);
        cal.observe(Buf::f32(&[1, 8, 8, 1], x.into_vec())).unwrap();
    }
    cal.ranges()
}

#[test]
fn interpreter_gradients_match_finite_differences() {
    let g = prepared(&mut tiny_vit());
    let ranges = tiny_ranges(&g, 2);
    let m = std::cell::RefCell::new(QatModel::new(g, &ranges, QatConfig::default()).unwrap());
    // Through every op of the lowered ViT (conv, concat, lowered LayerNorm with rsqrt, BMM,
    // softmax, GELU, slice) with respect to the input, at batch 2…
    let tol = Tol {
        atol: 1e-3,
        rtol: 2e-2,
        eps: 1e-2,
    };
    let x = rand_tensor(&[2, 8, 8, 1], 9);
    gradcheck(
        |xs| m.borrow_mut().forward_float_nhwc(&xs[0]),
        std::slice::from_ref(&x),
        tol,
    );
    // …and with respect to parameters (the patch filter and a q projection), by central
    // differences of L = Σ y·r along each parameter's own gradient direction.
    let mut m = m.into_inner();
    let r = rand_tensor(&[2, 3], 11);
    let loss = |m: &mut QatModel| -> f64 {
        let y = inkling_autograd::no_grad(|| m.forward_float_nhwc(&x)).unwrap();
        y.data()
            .iter()
            .zip(r.data())
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum()
    };
    for name in [
        "patch_embed.proj.weight",
        "blocks.0.attn.qkv.q.weight",
        "cls_token",
    ] {
        clear_tape();
        let y = m.forward_float_nhwc(&x).unwrap();
        let grads = y.backward_with(r.clone()).unwrap();
        let mut id = None;
        m.visit("", &mut |n, p, _| {
            if n == name {
                id = Some(p.id());
            }
        });
        let g = grads
            .param(id.unwrap_or_else(|| panic!("{name} is a parameter")))
            .unwrap()
            .clone();
        let gnorm: f64 = g
            .data()
            .iter()
            .map(|&v| (v as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(gnorm > 0.0, "{name} has a gradient");
        let eps = 1e-2 / gnorm as f32;
        let shift = |m: &mut QatModel, k: f32| {
            m.visit_mut("", &mut |n, p, _| {
                if n == name {
                    for (w, &d) in p.value_mut().data_mut().iter_mut().zip(g.data()) {
                        *w += k * d;
                    }
                }
            })
        };
        shift(&mut m, eps);
        let up = loss(&mut m);
        shift(&mut m, -2.0 * eps);
        let down = loss(&mut m);
        shift(&mut m, eps);
        let numeric = (up - down) / (2.0 * eps as f64);
        let analytic = gnorm * gnorm;
        assert!(
            (numeric - analytic).abs() <= 2e-2 * analytic + 1e-4,
            "{name}: numeric {numeric} vs analytic {analytic}"
        );
    }
}

/// One training step: forward in training mode, cross-entropy, backward, AdamW at `lr`.
fn step(m: &mut QatModel, opt: &mut AdamW, x: &Tensor, labels: &[usize], lr: f32) {
    clear_tape();
    let logits = m.forward_nhwc(x, true).unwrap();
    let loss = ops::cross_entropy(&logits, labels, 0.1).unwrap();
    let grads = loss.backward().unwrap();
    opt.step(m, &grads, lr).unwrap();
}

fn adamw() -> AdamW {
    AdamW::new(AdamWConfig {
        weight_decay: 0.04,
        ..Default::default()
    })
    .unwrap()
}

/// Names of the values a converted graph holds in int8: per tensor (activations and constants,
/// QUANTIZE outputs under their source's name) and per channel (weights).
fn int8_names(q: &Graph) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut per_tensor, mut per_channel) = (BTreeSet::new(), BTreeSet::new());
    let quantized: BTreeSet<ValueId> = q
        .nodes
        .iter()
        .filter(|n| n.op == Op::Quantize)
        .map(|n| n.outputs[0])
        .collect();
    for n in &q.nodes {
        for &i in n.inputs.iter().chain(&n.outputs) {
            let v = q.value(i);
            match (&v.dtype, &v.quant) {
                (DType::I8, Some(Quant::PerChannel { .. })) => {
                    per_channel.insert(v.name.clone());
                }
                (DType::I8, Some(Quant::PerTensor(_))) => {
                    let name = match quantized.contains(&i) {
                        true => v.name.trim_end_matches(".quant").to_string(),
                        false => v.name.clone(),
                    };
                    per_tensor.insert(name);
                }
                _ => {}
            }
        }
    }
    (per_tensor, per_channel)
}

#[test]
fn fake_quantization_sits_exactly_where_conversion_quantizes() {
    let g = prepared(&mut small_vit());
    let ranges = calibrated(&g, 4);
    let m = QatModel::new(g.clone(), &ranges, QatConfig::default()).unwrap();
    let (acts, weights) = m.fake_quantized();
    // The converted graph names an int8 node's output after the node, anything else after the
    // value: the same rule maps QAT's fake-quantized values to names.
    let name_in_int8 = |v: ValueId| match g.producer(v) {
        Some(p) if inkling_quant::ptq::is_int8_node(&g.nodes[p]) => g.nodes[p].name.clone(),
        _ => g.value(v).name.clone(),
    };
    let want_t: BTreeSet<String> = acts.iter().map(|&v| name_in_int8(v)).collect();
    let want_c: BTreeSet<String> = weights.iter().map(|&v| g.value(v).name.clone()).collect();
    let (got_t, got_c) = int8_names(&convert(&g, &ranges).unwrap());
    assert_eq!(want_t, got_t);
    assert_eq!(want_c, got_c);
    // Weights of all 2·4 + 2 = 10 FC layers and the patch convolution; activations include the
    // class token (a constant in the CONCATENATION group), never a LayerNorm-internal value.
    assert_eq!(want_c.len(), 2 * 6 + 2);
    assert!(want_t.contains("cls_token"));
    assert!(!want_t
        .iter()
        .any(|n| n.contains("rstd") || n.contains("centered")));
}

#[test]
fn with_frozen_observers_and_zero_lr_qat_converts_exactly_like_ptq() {
    let g = prepared(&mut small_vit());
    let ranges = calibrated(&g, 4);
    let cfg = QatConfig {
        freeze_observers_after: Some(0),
        ..QatConfig::default()
    };
    let mut m = QatModel::new(g.clone(), &ranges, cfg).unwrap();
    let mut opt = adamw();
    for s in 0..2 {
        step(&mut m, &mut opt, &batch(&[s, s + 1]), &[1, 7], 0.0);
    }
    assert_eq!(m.batches(), 2);
    assert_eq!(m.convert().unwrap(), convert(&g, &ranges).unwrap());
}

#[test]
fn qat_evaluation_forward_tracks_the_int8_runtime() {
    let g = prepared(&mut small_vit());
    let ranges = calibrated(&g, 8);
    let mut m = QatModel::new(g, &ranges, QatConfig::default()).unwrap();
    let q = m.convert().unwrap();
    let s = Session::new(&q).unwrap();
    let out = q.value(q.outputs[0]);
    let Some(Quant::PerTensor(oq)) = out.quant else {
        panic!("int8 logits")
    };
    let mut worst = 0f32;
    for seed in 20..24 {
        let fq = m.forward_nhwc(&batch(&[seed]), false).unwrap();
        let y = s.run(vec![input(seed)]).unwrap();
        let codes = y[0].as_i8().unwrap();
        for (&a, &c) in fq.data().iter().zip(codes) {
            let b = (c as i32 - oq.zero_point) as f32 * oq.scale;
            worst = worst.max((a - b).abs() / oq.scale);
        }
    }
    // The fake-quantized float program rounds where the int8 graph does; what is left is the
    // integer arithmetic's own rounding (requantization, islands on dequantized values).
    assert!(
        worst <= 4.0,
        "QAT forward vs int8 runtime: {worst} output steps"
    );
}

#[test]
fn resuming_from_saved_state_continues_bit_exactly() {
    let g = prepared(&mut small_vit());
    let ranges = calibrated(&g, 4);
    let cfg = QatConfig {
        freeze_observers_after: Some(3),
        ..QatConfig::default()
    };
    let xs: Vec<Tensor> = (0..5).map(|s| batch(&[s, s + 10, s + 20])).collect();
    let labels = [[0, 3, 9], [1, 2, 4], [5, 6, 7], [8, 0, 1], [2, 2, 3]];
    let mut straight = QatModel::new(g.clone(), &ranges, cfg.clone()).unwrap();
    let mut opt = adamw();
    for (x, l) in xs.iter().zip(&labels) {
        step(&mut straight, &mut opt, x, l, 1e-3);
    }
    let mut first = QatModel::new(g.clone(), &ranges, cfg.clone()).unwrap();
    let mut opt1 = adamw();
    for (x, l) in xs.iter().zip(&labels).take(2) {
        step(&mut first, &mut opt1, x, l, 1e-3);
    }
    let (saved, saved_opt) = (model_tensors(&first), opt1.state());
    drop(first);
    let mut resumed = QatModel::new(g, &ranges, cfg).unwrap();
    load_model_tensors(&mut resumed, &saved).unwrap();
    let mut opt2 = adamw();
    opt2.load_state(saved_opt).unwrap();
    for (x, l) in xs.iter().zip(&labels).skip(2) {
        step(&mut resumed, &mut opt2, x, l, 1e-3);
    }
    let (a, b) = (model_tensors(&straight), model_tensors(&resumed));
    assert_eq!(a.len(), b.len());
    for ((na, ta), (nb, tb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        assert_eq!(ta.data(), tb.data(), "{na}");
    }
    assert!(straight.observers_frozen());
    assert_eq!(straight.convert().unwrap(), resumed.convert().unwrap());
}

#[test]
fn lsq_learns_scales_that_conversion_uses() {
    let g = prepared(&mut small_vit());
    let ranges = calibrated(&g, 4);
    let cfg = QatConfig {
        lsq: true,
        ..QatConfig::default()
    };
    let mut m = QatModel::new(g, &ranges, cfg).unwrap();
    let mut scales = Vec::new();
    m.visit("", &mut |n, p, _| {
        if n.starts_with("qat.scale.") {
            scales.push((n.to_string(), p.value().data()[0]));
        }
    });
    assert!(scales.len() > 10, "{scales:?}");
    let mut opt = adamw();
    for s in 0..3 {
        step(
            &mut m,
            &mut opt,
            &batch(&[s, s + 5]),
            &[s as usize, 4],
            1e-3,
        );
    }
    let mut moved = 0;
    let mut learned = HashMap::new();
    m.visit("", &mut |n, p, _| {
        if let Some((_, s0)) = scales.iter().find(|(name, _)| name == n) {
            moved += usize::from(p.value().data()[0] != *s0);
            learned.insert(n.to_string(), p.value().data()[0]);
        }
    });
    assert!(
        moved > scales.len() / 2,
        "{moved} of {} scales moved",
        scales.len()
    );
    // The converted q projection output carries its learned step.
    let q = m.convert().unwrap();
    let name = "blocks.0.attn.qkv.q";
    let s = learned[&format!("qat.scale.{name}")];
    let v = q.values.iter().find(|v| v.name == name).unwrap();
    let Some(Quant::PerTensor(p)) = v.quant else {
        panic!("{name} is int8")
    };
    assert!((p.scale - s).abs() <= 1e-6 * s, "{} vs {s}", p.scale);
}
