//! A traced, prepared float32 graph reproduces the model's own forward pass.

mod common;

use common::{image, small_vit};
use inkling_nn::{Ctx, Model};
use inkling_quant::runtime::{Buf, Session};
use inkling_quant::{passes, trace};

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
