//! k-means weight sharing on a small ViT: at most 2^b distinct values per layer, 8 bits close to
//! the original weights, sizes as a codebook format stores them.

mod common;

use common::{input, small_vit};
use inkling_quant::graph::{ConstData, Graph};
use inkling_quant::kmeans::{compressed_bytes, kmeans_share};
use inkling_quant::passes;
use inkling_quant::runtime::Session;
use inkling_quant::trace;

fn vit() -> Graph {
    let mut m = small_vit();
    passes::prepare(trace(&mut m, &common::image(1)).unwrap()).unwrap()
}

fn distinct(g: &Graph, name: &str) -> usize {
    let n = g.nodes.iter().find(|n| n.name == name).unwrap();
    let Some(ConstData::F32(w)) = &g.value(n.inputs[1]).data else {
        panic!("{name}: no float weights")
    };
    let mut w = w.clone();
    w.sort_by(f32::total_cmp);
    w.dedup();
    w.len()
}

#[test]
fn eight_bits_reproduce_the_weights_and_two_bits_keep_four_values() {
    let g = vit();
    let (s8, l8) = kmeans_share(&g, 8, 3).unwrap();
    // Patch embedding, 2 blocks × 6 layers, head.
    assert_eq!(l8.len(), 1 + 2 * 6 + 1);
    for l in &l8 {
        assert!(
            l.clusters <= 256 && distinct(&s8, &l.name) == l.clusters,
            "{l:?}"
        );
        assert!(l.sqnr_db > 35.0, "{l:?}");
        assert_eq!(
            l.compressed_bytes,
            l.weights + 4 * l.clusters,
            "one byte per index at 8 bits"
        );
    }
    let (s2, l2) = kmeans_share(&g, 2, 3).unwrap();
    for l in &l2 {
        assert_eq!(distinct(&s2, &l.name), 4, "{l:?}");
        assert!(l.sqnr_db < l8.iter().find(|m| m.name == l.name).unwrap().sqnr_db);
    }
    // The 8-bit graph computes nearly the same logits.
    let (a, b) = (Session::new(&g).unwrap(), Session::new(&s8).unwrap());
    for seed in 0..3 {
        let ya = a.run(vec![input(seed)]).unwrap().remove(0);
        let yb = b.run(vec![input(seed)]).unwrap().remove(0);
        let (ya, yb) = (ya.as_f32().unwrap(), yb.as_f32().unwrap());
        let m = ya.iter().fold(0f32, |m, v| m.max(v.abs()));
        let gap = ya
            .iter()
            .zip(yb)
            .fold(0f32, |m, (p, q)| m.max((p - q).abs()));
        assert!(gap < 0.02 * m, "gap {gap} of {m}");
    }
    // 2 bits: a quarter byte per weight instead of four.
    let all = compressed_bytes(&g, &[]);
    let c2 = compressed_bytes(&s2, &l2);
    let w: usize = l2.iter().map(|l| l.weights).sum();
    assert_eq!(
        all - c2,
        w * 4 - l2.iter().map(|l| l.compressed_bytes).sum::<usize>()
    );
    assert!(kmeans_share(&g, 0, 0).is_err() && kmeans_share(&g, 9, 0).is_err());
}
