//! A traced, prepared float32 graph reproduces the model's own forward pass.

use inkling_autograd::Tensor;
use inkling_nn::models::vit::{Vit, VitConfig};
use inkling_nn::{Ctx, Model};
use inkling_quant::runtime::{Buf, Session};
use inkling_quant::{passes, trace};

fn small_vit() -> Vit {
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

fn image(seed: u32) -> Tensor {
    let data = (0..784)
        .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    Tensor::new(&[1, 1, 28, 28], data).unwrap()
}

#[test]
fn vit_graph_matches_forward() {
    let mut m = small_vit();
    let g = passes::prepare(trace(&mut m, &image(1)).unwrap()).unwrap();
    let counts = g.op_counts();
    assert_eq!(
        counts.get("FULLY_CONNECTED"),
        Some(&(2 * 6 + 1)),
        "{counts:?}"
    );
    assert_eq!(counts.get("BATCH_MATMUL"), Some(&4));
    assert_eq!(counts.get("CONV_2D"), Some(&1));
    assert!(!counts.contains_key("layer_norm") && !counts.contains_key("attention"));
    assert_eq!(g.value(g.inputs[0]).shape, [1, 28, 28, 1], "{counts:?}");
    let s = Session::new(&g).unwrap();
    for seed in [3, 4] {
        let x = image(seed);
        let want = inkling_autograd::no_grad(|| m.forward(&x, &Ctx::eval())).unwrap();
        let got = s
            .run(vec![Buf::f32(&[1, 28, 28, 1], x.data().to_vec())])
            .unwrap();
        let got = got[0].as_f32().unwrap();
        let scale = want.data().iter().fold(0f32, |a, v| a.max(v.abs()));
        for (a, b) in got.iter().zip(want.data()) {
            assert!((a - b).abs() <= 1e-5 * scale.max(1.0), "{a} vs {b}");
        }
    }
}
