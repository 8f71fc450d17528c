//! The vision transformer (ViT) of timm, pre-norm, class-token pooling, for small doodles.

use inkling_autograd::{ops, Param, Result, Tensor};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::layers::{
    prepend_and_embed, BlockSpec, ClassToken, Dropout, LayerNorm, Linear, PatchEmbed, PosEmbed,
    TransformerBlock,
};
use crate::module::{join, num_trainable};
use crate::{Ctx, Error, Model, Module, ParamRole};

/// timm's ViT LayerNorm epsilon.
const LN_EPS: f32 = 1e-6;

/// A ViT's shape. Serialised into checkpoints (with `"arch": "vit"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VitConfig {
    /// Square input side in pixels.
    pub image_size: usize,
    /// Input channels (1 for doodles).
    pub in_chans: usize,
    /// Square patch side; divides `image_size`.
    pub patch: usize,
    /// Token width D.
    pub width: usize,
    /// Number of transformer blocks.
    pub depth: usize,
    /// Attention heads; divide `width`.
    pub heads: usize,
    /// MLP hidden width.
    pub mlp_dim: usize,
    /// Output classes.
    pub classes: usize,
    /// Dropout after the position embedding, attention projection and in the MLPs.
    #[serde(default)]
    pub dropout: f32,
    /// Bias on the qkv projections.
    #[serde(default = "default_true")]
    pub qkv_bias: bool,
}

fn default_true() -> bool {
    true
}

/// Preset names [`VitConfig::preset`] knows.
pub const PRESETS: [&str; 3] = ["vit-tiny", "vit-6", "vit-small-doodle"];

impl VitConfig {
    /// A named preset for 1-channel 28×28 doodles, patch 4 (49 patches + class token):
    /// - `vit-tiny`: ViT-Tiny, width 192, depth 12, 3 heads, MLP 768 (5.42 M parameters at 345 classes);
    /// - `vit-6`: the same with 6 blocks (the reference PyTorch anchor's model);
    /// - `vit-small-doodle`: width 64, depth 4, 2 heads, MLP 128 (≈ 0.14 M parameters), the README's
    ///   minutes-on-2-cores job.
    pub fn preset(name: &str, classes: usize) -> crate::Result<VitConfig> {
        let base = VitConfig {
            image_size: 28,
            in_chans: 1,
            patch: 4,
            width: 192,
            depth: 12,
            heads: 3,
            mlp_dim: 768,
            classes,
            dropout: 0.0,
            qkv_bias: true,
        };
        let cfg = match name {
            "vit-tiny" => base,
            "vit-6" => VitConfig { depth: 6, ..base },
            "vit-small-doodle" => VitConfig {
                width: 64,
                depth: 4,
                heads: 2,
                mlp_dim: 128,
                ..base
            },
            _ => {
                return Err(Error::Config {
                    what: format!(
                        "unknown ViT preset {name:?} (known: {})",
                        PRESETS.join(", ")
                    ),
                })
            }
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Errors on a zero size, a width not divisible by the heads, an image not divisible into
    /// patches, or a dropout outside [0, 1).
    pub fn validate(&self) -> crate::Result<()> {
        let sizes = [
            ("image_size", self.image_size),
            ("in_chans", self.in_chans),
            ("patch", self.patch),
            ("width", self.width),
            ("depth", self.depth),
            ("heads", self.heads),
            ("mlp_dim", self.mlp_dim),
            ("classes", self.classes),
        ];
        let bad = |what: String| Err(Error::Config { what });
        if let Some((name, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return bad(format!("ViT config: {name} must be nonzero"));
        }
        if !self.width.is_multiple_of(self.heads) {
            return bad(format!(
                "ViT config: width {} is not divisible by {} heads",
                self.width, self.heads
            ));
        }
        if !self.image_size.is_multiple_of(self.patch) {
            return bad(format!(
                "ViT config: image size {} is not divisible by patch {}",
                self.image_size, self.patch
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!(
                "ViT config: dropout {} is not in [0, 1)",
                self.dropout
            ));
        }
        Ok(())
    }

    /// Tokens per image: patches plus the class token.
    pub fn tokens(&self) -> usize {
        (self.image_size / self.patch).pow(2) + 1
    }

    /// The config a checkpoint stored by [`Model::config_json`]; errors on another architecture.
    pub fn from_config_json(json: &str) -> crate::Result<VitConfig> {
        let bad = |what: String| Error::Config { what };
        let mut v: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| bad(format!("model config is not JSON: {e}")))?;
        let arch = v.as_object_mut().and_then(|m| m.remove("arch"));
        if arch.as_ref().and_then(|a| a.as_str()) != Some("vit") {
            return Err(bad(format!(
                "model config is for architecture {arch:?}, not \"vit\""
            )));
        }
        let cfg: VitConfig =
            serde_json::from_value(v).map_err(|e| bad(format!("ViT config: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }
}

/// A ViT classifier, parameters named as in timm's `VisionTransformer`.
#[derive(Debug)]
pub struct Vit {
    cfg: VitConfig,
    /// `patch_embed.proj.*`.
    pub patch_embed: PatchEmbed,
    /// `cls_token`.
    pub cls_token: ClassToken,
    /// `pos_embed`.
    pub pos_embed: PosEmbed,
    /// After the position embedding.
    pub pos_drop: Dropout,
    /// `blocks.{i}.*`.
    pub blocks: Vec<TransformerBlock>,
    /// Final `norm.*`.
    pub norm: LayerNorm,
    /// Classifier `head.*` on the class token.
    pub head: Linear,
}

impl Vit {
    /// A model initialised as timm's ViT from `seed`: the same seed gives the same parameters.
    pub fn new(cfg: VitConfig, seed: u64) -> crate::Result<Vit> {
        cfg.validate()?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let d = cfg.width;
        let patch_embed = PatchEmbed::new(cfg.in_chans, d, cfg.patch, &mut rng)?;
        let cls_token = ClassToken::new(d, 1e-6, &mut rng);
        let pos_embed = PosEmbed::new(cfg.tokens(), d, &mut rng);
        let spec = BlockSpec {
            dim: d,
            heads: cfg.heads,
            mlp_dim: cfg.mlp_dim,
            qkv_bias: cfg.qkv_bias,
            dropout: cfg.dropout,
            eps: LN_EPS,
        };
        // Dropout salts: 0 for pos_drop, then 3 per block.
        let blocks = (0..cfg.depth)
            .map(|i| TransformerBlock::new(&spec, 1 + 3 * i as u64, &mut rng))
            .collect::<crate::Result<Vec<_>>>()?;
        Ok(Vit {
            patch_embed,
            cls_token,
            pos_embed,
            pos_drop: Dropout::new(cfg.dropout, 0)?,
            blocks,
            norm: LayerNorm::new(d, LN_EPS),
            head: Linear::new(d, cfg.classes, true, &mut rng),
            cfg,
        })
    }

    /// The model's config.
    pub fn config(&self) -> &VitConfig {
        &self.cfg
    }

    /// Number of trainable scalars.
    pub fn num_params(&self) -> usize {
        num_trainable(self)
    }
}

impl Model for Vit {
    /// `[N, in_chans, image_size, image_size]` → logits `[N, classes]`.
    fn forward(&mut self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let c = &self.cfg;
        if x.rank() != 4 || x.shape()[1..] != [c.in_chans, c.image_size, c.image_size] {
            inkling_autograd::bail_shape!(
                "vit",
                "expected images [N, {}, {}, {}], got {:?}",
                c.in_chans,
                c.image_size,
                c.image_size,
                x.shape()
            );
        }
        let n = x.dim(0);
        let tokens = self.patch_embed.forward(x)?;
        let mut h = prepend_and_embed(&self.cls_token, &self.pos_embed, &tokens)?;
        h = self.pos_drop.forward(&h, ctx)?;
        for blk in &self.blocks {
            h = blk.forward(&h, ctx)?;
        }
        // The norm is per token: normalising only the class token gives timm's `norm(x)[:, 0]`.
        let cls = ops::reshape(&ops::slice(&h, 1, 0, 1)?, &[n, c.width])?;
        self.head.forward(&self.norm.forward(&cls)?)
    }

    fn config_json(&self) -> String {
        let mut m = serde_json::Map::new();
        m.insert("arch".into(), "vit".into());
        if let Ok(serde_json::Value::Object(cfg)) = serde_json::to_value(&self.cfg) {
            m.extend(cfg);
        }
        serde_json::Value::Object(m).to_string()
    }

    fn input_shape(&self) -> [usize; 3] {
        [self.cfg.in_chans, self.cfg.image_size, self.cfg.image_size]
    }
}

impl Module for Vit {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param, ParamRole)) {
        self.cls_token.visit(&join(prefix, "cls_token"), f);
        self.pos_embed.visit(&join(prefix, "pos_embed"), f);
        self.patch_embed.visit(&join(prefix, "patch_embed"), f);
        for (i, blk) in self.blocks.iter().enumerate() {
            blk.visit(&join(prefix, &format!("blocks.{i}")), f);
        }
        self.norm.visit(&join(prefix, "norm"), f);
        self.head.visit(&join(prefix, "head"), f);
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param, ParamRole)) {
        self.cls_token.visit_mut(&join(prefix, "cls_token"), f);
        self.pos_embed.visit_mut(&join(prefix, "pos_embed"), f);
        self.patch_embed.visit_mut(&join(prefix, "patch_embed"), f);
        for (i, blk) in self.blocks.iter_mut().enumerate() {
            blk.visit_mut(&join(prefix, &format!("blocks.{i}")), f);
        }
        self.norm.visit_mut(&join(prefix, "norm"), f);
        self.head.visit_mut(&join(prefix, "head"), f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testutil::{check_grads, names_and_roles, BLOCK_PARAMS};
    use inkling_autograd::gradcheck::{rand_tensor, Tol};
    use inkling_autograd::{clear_tape, no_grad};

    fn tiny(classes: usize) -> VitConfig {
        VitConfig {
            image_size: 8,
            in_chans: 1,
            patch: 4,
            width: 8,
            depth: 2,
            heads: 2,
            mlp_dim: 16,
            classes,
            dropout: 0.0,
            qkv_bias: true,
        }
    }

    #[test]
    fn vit_tiny_345_has_5_418_393_params() {
        // patch_embed 192·1·4·4 + 192 = 3 264; cls_token 192; pos_embed 50·192 = 9 600;
        // per block: norm1 384, qkv 192·576 + 576 = 111 168, proj 192·192 + 192 = 37 056, norm2 384,
        // fc1 192·768 + 768 = 148 224, fc2 768·192 + 192 = 147 648 → 444 864, × 12 = 5 338 368;
        // norm 384; head 192·345 + 345 = 66 585. Total 5 418 393.
        let vit = Vit::new(VitConfig::preset("vit-tiny", 345).unwrap(), 0).unwrap();
        assert_eq!(vit.num_params(), 5_418_393);
        // vit-6 drops 6 blocks.
        let vit6 = Vit::new(VitConfig::preset("vit-6", 345).unwrap(), 0).unwrap();
        assert_eq!(vit6.num_params(), 5_418_393 - 6 * 444_864);
    }

    #[test]
    fn presets_and_validation() {
        let s = VitConfig::preset("vit-small-doodle", 10).unwrap();
        assert_eq!(
            (s.patch, s.width, s.depth, s.heads, s.mlp_dim, s.classes),
            (4, 64, 4, 2, 128, 10)
        );
        assert_eq!(s.tokens(), 50);
        assert!(matches!(
            VitConfig::preset("vit-huge", 10),
            Err(Error::Config { .. })
        ));
        assert!(VitConfig::preset("vit-tiny", 0).is_err());
        let bad = [
            VitConfig {
                heads: 3,
                ..tiny(2)
            },
            VitConfig {
                patch: 3,
                ..tiny(2)
            },
            VitConfig {
                depth: 0,
                ..tiny(2)
            },
            VitConfig {
                in_chans: 0,
                ..tiny(2)
            },
            VitConfig {
                dropout: 1.0,
                ..tiny(2)
            },
        ];
        for cfg in bad {
            assert!(cfg.validate().is_err(), "{cfg:?}");
            assert!(Vit::new(cfg, 0).is_err());
        }
        tiny(2).validate().unwrap();
    }

    #[test]
    fn config_json_round_trips_and_names_the_arch() {
        let vit = Vit::new(
            VitConfig {
                dropout: 0.1,
                ..tiny(3)
            },
            0,
        )
        .unwrap();
        let json = vit.config_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["arch"], "vit");
        assert_eq!(v["width"], 8);
        assert_eq!(VitConfig::from_config_json(&json).unwrap(), *vit.config());
        let other = json.replace("\"vit\"", "\"mobilevit\"");
        assert!(VitConfig::from_config_json(&other).is_err());
        assert!(VitConfig::from_config_json("{\"arch\":\"vit\",\"width\":8}").is_err());
        // Optional fields take their defaults.
        let short = r#"{"arch":"vit","image_size":8,"in_chans":1,"patch":4,"width":8,"depth":2,"heads":2,"mlp_dim":16,"classes":3}"#;
        assert_eq!(VitConfig::from_config_json(short).unwrap(), tiny(3));
    }

    #[test]
    fn tiny_vit_forward_shape_and_determinism() {
        let x = rand_tensor(&[3, 1, 8, 8], 1);
        let logits = |seed| {
            let mut vit = Vit::new(tiny(5), seed).unwrap();
            no_grad(|| vit.forward(&x, &Ctx::eval())).unwrap()
        };
        let a = logits(7);
        assert_eq!(a.shape(), [3, 5]);
        assert!(a.data().iter().all(|v| v.is_finite()));
        assert_eq!(a.data(), logits(7).data());
        assert_ne!(a.data(), logits(8).data());
        // Images differ, so logits differ per row.
        assert_ne!(a.data()[..5], a.data()[5..10]);
    }

    #[test]
    fn tiny_vit_forward_rejects_wrong_images() {
        let mut vit = Vit::new(tiny(2), 0).unwrap();
        for shape in [&[2, 1, 8, 7][..], &[2, 3, 8, 8], &[1, 8, 8], &[]] {
            let r = vit.forward(&Tensor::zeros(shape), &Ctx::eval());
            assert!(
                matches!(r, Err(inkling_autograd::Error::BadShape { op: "vit", .. })),
                "{shape:?}"
            );
        }
    }

    #[test]
    fn tiny_vit_param_names_and_roles() {
        let vit = Vit::new(tiny(3), 0).unwrap();
        let names = names_and_roles(&vit, "");
        let mut want: Vec<String> = [
            "cls_token:NoDecay",
            "pos_embed:NoDecay",
            "patch_embed.proj.weight:Weight",
            "patch_embed.proj.bias:NoDecay",
        ]
        .map(String::from)
        .to_vec();
        for i in 0..2 {
            want.extend(BLOCK_PARAMS.iter().map(|p| format!("blocks.{i}.{p}")));
        }
        want.extend(
            [
                "norm.weight:NoDecay",
                "norm.bias:NoDecay",
                "head.weight:Weight",
                "head.bias:NoDecay",
            ]
            .map(String::from),
        );
        assert_eq!(names, want);
        let mut shapes = std::collections::HashMap::new();
        vit.visit("", &mut |n, p, _| {
            shapes.insert(n.to_string(), p.value().shape().to_vec());
        });
        assert_eq!(shapes["cls_token"], [1, 1, 8]);
        assert_eq!(shapes["pos_embed"], [1, 5, 8]);
        assert_eq!(shapes["patch_embed.proj.weight"], [8, 1, 4, 4]);
        assert_eq!(shapes["blocks.1.attn.qkv.weight"], [24, 8]);
        assert_eq!(shapes["blocks.0.mlp.fc1.weight"], [16, 8]);
        assert_eq!(shapes["head.weight"], [3, 8]);
        // visit_mut walks the same names in the same order.
        let mut vit = vit;
        let mut again = Vec::new();
        vit.visit_mut("m", &mut |n, _, r| again.push(format!("{n}:{r:?}")));
        assert_eq!(
            again,
            want.iter().map(|n| format!("m.{n}")).collect::<Vec<_>>()
        );
    }

    #[test]
    fn tiny_vit_loss_gradients_match_finite_differences() {
        let mut vit = Vit::new(tiny(3), 3).unwrap();
        // Unit-scale parameters instead of the 0.02 init, so every gradient is far above the
        // finite-difference noise.
        let mut s = 100;
        vit.visit_mut("", &mut |_, p, _| {
            s += 1;
            let mut t = rand_tensor(p.value().shape(), s);
            t.data_mut().iter_mut().for_each(|v| *v *= 0.5);
            *p.value_mut() = t;
        });
        let x = rand_tensor(&[2, 1, 8, 8], 4);
        let labels = [2, 0];
        let selected = [
            "cls_token",
            "pos_embed",
            "patch_embed.proj.weight",
            "blocks.0.attn.qkv.weight",
            "blocks.1.mlp.fc1.bias",
            "blocks.0.norm2.weight",
            "head.weight",
        ];
        let tol = Tol {
            atol: 1e-3,
            rtol: 1e-2,
            eps: 1e-2,
        };
        let n = check_grads(
            &mut vit,
            &x,
            true,
            tol,
            |name| selected.contains(&name),
            |m, x| ops::cross_entropy(&m.forward(x, &Ctx::eval())?, &labels, 0.1),
        );
        assert_eq!(n, selected.len());
    }

    #[test]
    fn tiny_vit_overfits_eight_images() {
        let mut vit = Vit::new(tiny(2), 11).unwrap();
        let x = rand_tensor(&[8, 1, 8, 8], 12);
        let labels = [0, 1, 1, 0, 1, 0, 0, 1];
        let accuracy = |vit: &mut Vit| {
            let logits = no_grad(|| vit.forward(&x, &Ctx::eval())).unwrap();
            let right = logits
                .data()
                .chunks(2)
                .zip(labels)
                .filter(|(l, y)| usize::from(l[1] > l[0]) == *y)
                .count();
            right as f32 / 8.0
        };
        assert!(accuracy(&mut vit) < 1.0);
        let lr = 0.2;
        let mut steps = 0;
        while accuracy(&mut vit) < 1.0 && steps < 300 {
            clear_tape();
            let loss =
                ops::cross_entropy(&vit.forward(&x, &Ctx::train(steps)).unwrap(), &labels, 0.0)
                    .unwrap();
            let grads = loss.backward().unwrap();
            vit.visit_mut("", &mut |name, p, _| {
                let g = grads
                    .param(p.id())
                    .unwrap_or_else(|| panic!("{name}: no gradient"));
                for (w, g) in p.value_mut().data_mut().iter_mut().zip(g.data()) {
                    *w -= lr * g;
                }
            });
            steps += 1;
        }
        assert_eq!(accuracy(&mut vit), 1.0, "not fitted after {steps} steps");
    }
}
