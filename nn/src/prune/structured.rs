//! Structured pruning of a ViT: whole attention heads (their q/k/v rows and biases and their
//! output-projection columns) or MLP hidden channels (fc1 rows and bias, fc2 columns). A pruned
//! unit's output is exactly zero, so the model behaves as if it were removed.

use std::collections::HashMap;

use inkling_autograd::Tensor;

use super::Masks;
use crate::models::VitConfig;
use crate::{Error, Model, Result};

/// The ViT shape and the current values of the named parameters.
fn vit_params(model: &dyn Model) -> Result<(VitConfig, HashMap<String, Tensor>)> {
    let cfg = VitConfig::from_config_json(&model.config_json()).map_err(|e| Error::Config {
        what: format!("structured pruning needs a ViT: {e}"),
    })?;
    let mut params = HashMap::new();
    model.visit("", &mut |name, p, _| {
        params.insert(name.to_string(), p.value().detach());
    });
    Ok((cfg, params))
}

fn param<'a>(params: &'a HashMap<String, Tensor>, name: &str) -> Result<&'a Tensor> {
    params.get(name).ok_or_else(|| Error::Mismatch {
        what: format!("structured pruning: the model has no parameter {name}"),
    })
}

fn check_sparsity(sparsity: f32) -> Result<()> {
    if (0.0..=1.0).contains(&sparsity) {
        Ok(())
    } else {
        Err(Error::Config {
            what: format!("pruning sparsity {sparsity} is not in [0, 1]"),
        })
    }
}

/// Σx² over rows `rows` of a row-major `[_, cols]` matrix.
fn rows_sq(w: &[f32], cols: usize, rows: std::ops::Range<usize>) -> f64 {
    w[rows.start * cols..rows.end * cols]
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum()
}

/// Σx² over columns `cols_r` of a row-major `[_, cols]` matrix.
fn cols_sq(w: &[f32], cols: usize, cols_r: std::ops::Range<usize>) -> f64 {
    w.chunks_exact(cols)
        .flat_map(|row| &row[cols_r.clone()])
        .map(|&v| f64::from(v) * f64::from(v))
        .sum()
}

/// Head scores `[depth][heads]`: the L2 norm of the head's q, k and v rows of `qkv.weight` and its
/// columns of `proj.weight`.
pub fn head_scores(model: &dyn Model) -> Result<Vec<Vec<f64>>> {
    let (cfg, params) = vit_params(model)?;
    let (d, dh) = (cfg.width, cfg.width / cfg.heads);
    (0..cfg.depth)
        .map(|b| {
            let qkv = param(&params, &format!("blocks.{b}.attn.qkv.weight"))?.data();
            let proj = param(&params, &format!("blocks.{b}.attn.proj.weight"))?.data();
            Ok((0..cfg.heads)
                .map(|h| {
                    let r = h * dh..(h + 1) * dh;
                    let sq: f64 = (0..3)
                        .map(|part| rows_sq(qkv, d, part * d + r.start..part * d + r.end))
                        .sum::<f64>()
                        + cols_sq(proj, d, r);
                    sq.sqrt()
                })
                .collect())
        })
        .collect()
}

/// Masks removing `round(sparsity · depth · heads)` attention heads: those with the lowest
/// [`head_scores`] after dividing each layer's scores by their L2 norm (Michel et al. 2019), so
/// layers with larger weights do not keep all their heads. Ranked over the whole model because
/// ViT-Tiny has only 3 heads per layer, too few for a per-layer fraction.
pub fn head_masks(model: &dyn Model, sparsity: f32) -> Result<Masks> {
    check_sparsity(sparsity)?;
    let (cfg, params) = vit_params(model)?;
    let scores = head_scores(model)?;
    let normed: Vec<f32> = scores
        .iter()
        .flat_map(|layer| {
            let norm = layer.iter().map(|s| s * s).sum::<f64>().sqrt();
            layer
                .iter()
                .map(move |s| if norm > 0.0 { (s / norm) as f32 } else { 0.0 })
        })
        .collect();
    let keep = &super::magnitude::keep_largest(&[&normed], sparsity)[0];
    let (d, dh) = (cfg.width, cfg.width / cfg.heads);
    let mut masks = Masks::new();
    for b in 0..cfg.depth {
        let heads = &keep[b * cfg.heads..(b + 1) * cfg.heads];
        let kept_dim = |i: usize| heads[(i % d) / dh];
        let qkv_rows: Vec<bool> = (0..3 * d).map(kept_dim).collect();
        let prefix = format!("blocks.{b}.attn");
        let qkv_w: Vec<bool> = qkv_rows.iter().flat_map(|&k| vec![k; d]).collect();
        masks.insert(&format!("{prefix}.qkv.weight"), &[3 * d, d], &qkv_w)?;
        if params.contains_key(&format!("{prefix}.qkv.bias")) {
            masks.insert(&format!("{prefix}.qkv.bias"), &[3 * d], &qkv_rows)?;
        }
        let proj_w: Vec<bool> = (0..d * d).map(|i| kept_dim(i % d)).collect();
        masks.insert(&format!("{prefix}.proj.weight"), &[d, d], &proj_w)?;
    }
    Ok(masks)
}

/// Masks removing `round(sparsity · mlp_dim)` hidden channels of every block's MLP: those with the
/// lowest L2 norm of their fc1 row and fc2 column (per layer: each MLP has hundreds of channels).
pub fn mlp_masks(model: &dyn Model, sparsity: f32) -> Result<Masks> {
    check_sparsity(sparsity)?;
    let (cfg, params) = vit_params(model)?;
    let (d, hid) = (cfg.width, cfg.mlp_dim);
    let mut masks = Masks::new();
    for b in 0..cfg.depth {
        let prefix = format!("blocks.{b}.mlp");
        let fc1 = param(&params, &format!("{prefix}.fc1.weight"))?.data();
        let fc2 = param(&params, &format!("{prefix}.fc2.weight"))?.data();
        let scores: Vec<f32> = (0..hid)
            .map(|j| (rows_sq(fc1, d, j..j + 1) + cols_sq(fc2, hid, j..j + 1)).sqrt() as f32)
            .collect();
        let keep = &super::magnitude::keep_largest(&[&scores], sparsity)[0];
        let fc1_w: Vec<bool> = keep.iter().flat_map(|&k| vec![k; d]).collect();
        masks.insert(&format!("{prefix}.fc1.weight"), &[hid, d], &fc1_w)?;
        masks.insert(&format!("{prefix}.fc1.bias"), &[hid], keep)?;
        let fc2_w: Vec<bool> = (0..d * hid).map(|i| keep[i % hid]).collect();
        masks.insert(&format!("{prefix}.fc2.weight"), &[d, hid], &fc2_w)?;
    }
    Ok(masks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Vit;
    use crate::testutil::tiny_vit;
    use crate::{Ctx, Module};
    use inkling_autograd::gradcheck::rand_tensor;
    use inkling_autograd::no_grad;

    fn vit(seed: u64) -> Vit {
        let cfg = tiny_vit(8, 2, 2, 6);
        Vit::new(cfg, seed).unwrap()
    }

    /// Scales head 1 of block 0 down so that it is the one pruned at 25 % (1 head of 4).
    #[test]
    fn head_pruning_zeroes_exactly_the_heads_rows_and_columns() {
        let mut m = vit(1);
        m.visit_mut("", &mut |name, p, _| {
            let w = p.value_mut().data_mut();
            if name == "blocks.0.attn.qkv.weight" {
                for part in 0..3 {
                    w[(part * 8 + 4) * 8..(part * 8 + 8) * 8]
                        .iter_mut()
                        .for_each(|v| *v *= 1e-3);
                }
            }
            if name == "blocks.0.attn.proj.weight" {
                for (i, v) in w.iter_mut().enumerate() {
                    if i % 8 >= 4 {
                        *v *= 1e-3;
                    }
                }
            }
        });
        let masks = head_masks(&m, 0.25).unwrap();
        assert_eq!(
            masks.len(),
            6,
            "qkv weight, qkv bias, proj weight × 2 blocks"
        );
        masks.apply(&mut m);
        let get = |name: &str| {
            let mut out = None;
            m.visit("", &mut |n, p, _| {
                if n == name {
                    out = Some(p.value().data().to_vec());
                }
            });
            out.unwrap()
        };
        let qkv = get("blocks.0.attn.qkv.weight");
        let bias = get("blocks.0.attn.qkv.bias");
        for row in 0..24 {
            let pruned = row % 8 >= 4;
            let r = &qkv[row * 8..(row + 1) * 8];
            assert_eq!(r.iter().all(|&v| v == 0.0), pruned, "qkv row {row}");
            // The biases start at zero, so only the pruned ones are checked.
            if pruned {
                assert_eq!(bias[row], 0.0);
            }
        }
        let proj = get("blocks.0.attn.proj.weight");
        for (i, &v) in proj.iter().enumerate() {
            assert_eq!(v == 0.0, i % 8 >= 4, "proj element {i}");
        }
        // Block 1 keeps both heads.
        assert!(get("blocks.1.attn.proj.weight").iter().all(|&v| v != 0.0));
        assert_eq!(masks.zeros(), 3 * 4 * 8 + 3 * 4 + 8 * 4);
    }

    /// A pruned MLP channel contributes nothing: the output equals that of a model whose fc2
    /// column alone was zeroed.
    #[test]
    fn mlp_pruning_zeroes_rows_and_columns_and_the_channel_output() {
        let mut m = vit(2);
        let masks = mlp_masks(&m, 0.5).unwrap();
        assert_eq!(masks.len(), 6);
        let fc1 = masks
            .get("blocks.1.mlp.fc1.weight")
            .unwrap()
            .data()
            .to_vec();
        let fc2 = masks
            .get("blocks.1.mlp.fc2.weight")
            .unwrap()
            .data()
            .to_vec();
        let bias = masks.get("blocks.1.mlp.fc1.bias").unwrap().data().to_vec();
        assert_eq!(bias.iter().filter(|&&v| v == 0.0).count(), 3);
        for j in 0..6 {
            assert!(fc1[j * 8..(j + 1) * 8].iter().all(|&v| v == bias[j]));
            assert!((0..8).all(|r| fc2[r * 6 + j] == bias[j]));
        }
        let x = rand_tensor(&[2, 1, 8, 8], 9);
        masks.apply(&mut m);
        let y = no_grad(|| m.forward(&x, &Ctx::eval())).unwrap();
        // Zero the pruned fc1 rows back to random values: the fc2 columns still silence them.
        let mut m2 = vit(2);
        let only_fc2: Masks = {
            let mut o = Masks::new();
            for (n, t) in masks.iter() {
                if n.ends_with("fc2.weight") {
                    let keep: Vec<bool> = t.data().iter().map(|&v| v == 1.0).collect();
                    o.insert(n, t.shape(), &keep).unwrap();
                }
            }
            o
        };
        only_fc2.apply(&mut m2);
        let y2 = no_grad(|| m2.forward(&x, &Ctx::eval())).unwrap();
        assert_eq!(y.data(), y2.data());
    }

    #[test]
    fn head_scores_are_row_and_column_norms() {
        let mut m = vit(3);
        m.visit_mut("", &mut |name, p, _| {
            if name == "blocks.1.attn.qkv.weight" || name == "blocks.1.attn.proj.weight" {
                p.value_mut().data_mut().fill(1.0);
            }
        });
        let s = head_scores(&m).unwrap();
        // 3·4 rows of 8 ones plus 8 rows × 4 columns of ones: √(96 + 32).
        assert_eq!(s[1], vec![128f64.sqrt(); 2]);
        assert!(head_masks(&m, 1.5).is_err());
    }
}
