//! PTQ of a small ViT end to end: calibrate, convert, run in int8, export float and int8 `.tflite`
//! and check both in LiteRT (when `INKLING_LITERT_PYTHON` is set): one XNNPACK partition, int8
//! logits equal to ours.

mod common;

use common::{input, vit_graphs as graphs, write_buf};
use inkling_quant::export::{tflite::read_model, to_tflite, ModelInfo};
use inkling_quant::graph::DType;
use inkling_quant::ptq::layer_errors;
use inkling_quant::runtime::Session;

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[test]
fn int8_vit_tracks_float_and_is_all_int8_but_the_islands() {
    let (g, q) = graphs();
    let counts = q.op_counts();
    // Every block: LN ×2, softmax and GELU islands, each behind one DEQUANTIZE … QUANTIZE.
    assert_eq!(counts.get("QUANTIZE"), Some(&(1 + 2 * 4 + 1)), "{counts:?}");
    assert_eq!(q.value(q.outputs[0]).dtype, DType::I8);
    let fs = Session::new(&g).unwrap();
    let qs = Session::new(&q).unwrap();
    let oq = q.value(q.outputs[0]).qparams().unwrap();
    for seed in 0..4 {
        let f = fs.run(vec![input(seed)]).unwrap();
        let i = qs.run(vec![input(seed)]).unwrap();
        let deq: Vec<f32> = i[0]
            .as_i8()
            .unwrap()
            .iter()
            .map(|&v| (v as i32 - oq.zero_point) as f32 * oq.scale)
            .collect();
        let c = cosine(f[0].as_f32().unwrap(), &deq);
        assert!(c > 0.95, "int8 logits cosine to float {c}");
    }
}

#[test]
fn vit_tflite_files_run_in_litert_like_ours() {
    let (g, q) = graphs();
    let info = ModelInfo {
        classes: (0..10).map(|i| format!("class{i}")).collect(),
        input_shape: vec![1, 28, 28, 1],
        invert: false,
        mean: 0.0,
        std: 1.0,
        precision: "int8".into(),
    };
    let fbytes = to_tflite(&g, &info).unwrap();
    let qbytes = to_tflite(&q, &info).unwrap();
    assert!(
        qbytes.len() * 2 < fbytes.len(),
        "{} vs {}",
        qbytes.len(),
        fbytes.len()
    );
    // Our reader takes both back.
    for b in [&fbytes, &qbytes] {
        let m = read_model(b).unwrap();
        assert!(m.subgraphs[0].operators.len() > 10);
    }
    let Some(dir) = common::litert_dir("int8_vit") else {
        return;
    };
    for (name, graph, bytes) in [("vit_f32", &g, &fbytes), ("vit_int8", &q, &qbytes)] {
        std::fs::write(dir.join(format!("{name}.tflite")), bytes).unwrap();
        let s = Session::new(graph).unwrap();
        let x = input(7);
        let y = s.run(vec![x.clone()]).unwrap();
        write_buf(&dir.join(format!("{name}.in0.npy")), &x);
        write_buf(&dir.join(format!("{name}.out0.npy")), &y[0]);
    }
    std::fs::write(dir.join("vit_f32.json"), r#"{"atol": 1e-4}"#).unwrap();
    let log = common::litert_check(&dir, &[]);
    assert!(log.contains("2/2 models passed"), "{log}");
}

#[test]
fn layer_report_covers_compute_layers_with_sane_errors() {
    let (g, q) = graphs();
    let inputs: Vec<_> = (0..4).map(|s| input(200 + s)).collect();
    let rep = layer_errors(&g, &q, &inputs).unwrap();
    // 13 FULLY_CONNECTED, 4 BATCH_MATMUL, 1 CONV_2D, and the int8 ADDs are reported; data movement is not.
    assert!(
        rep.iter().filter(|l| l.op == "FULLY_CONNECTED").count() == 13,
        "{rep:?}"
    );
    assert!(rep.iter().all(|l| l.op != "RESHAPE" && l.op != "TRANSPOSE"));
    for l in &rep {
        assert!(l.sqnr_db > 10.0 && l.cosine > 0.95, "{l:?}");
    }
}

#[test]
fn a_session_reused_across_inputs_gives_what_a_fresh_one_gives() {
    let (g, q) = graphs();
    for graph in [&g, &q] {
        let s = Session::new(graph).unwrap();
        let a1 = s.run(vec![input(31)]).unwrap();
        let b = s.run(vec![input(32)]).unwrap();
        let a2 = s.run(vec![input(31)]).unwrap();
        assert_eq!(a1, a2);
        assert_eq!(
            b,
            Session::new(graph).unwrap().run(vec![input(32)]).unwrap()
        );
        assert_ne!(a1, b);
    }
}
