//! SGD with momentum, dampening, Nesterov momentum and L2 weight decay, as torch.optim.SGD.

use inkling_autograd::{Gradients, Tensor};

use super::{par_chunks, Optimizer, ParamStates};
use crate::{Error, Module, ParamRole, Result};

/// SGD hyperparameters; the defaults are PyTorch's (plain SGD).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SgdConfig {
    /// Momentum factor (0: no momentum buffer).
    pub momentum: f64,
    /// Dampening of the gradient added to the momentum buffer.
    pub dampening: f64,
    /// L2 penalty added to the gradient (`g + wd·p`), for [`ParamRole::Weight`] only.
    pub weight_decay: f64,
    /// Nesterov momentum (needs momentum > 0 and no dampening).
    pub nesterov: bool,
}

/// SGD with an optional per-parameter `momentum_buffer`.
#[derive(Clone, Debug)]
pub struct Sgd {
    cfg: SgdConfig,
    states: ParamStates,
}

impl Sgd {
    /// An optimizer with empty state; errors on out-of-range hyperparameters.
    pub fn new(cfg: SgdConfig) -> Result<Sgd> {
        let nonneg = |v: f64| v.is_finite() && v >= 0.0;
        if !(nonneg(cfg.momentum) && nonneg(cfg.dampening) && nonneg(cfg.weight_decay)) {
            return Err(Error::Config {
                what: format!(
                    "sgd: momentum, dampening and weight decay must be finite and ≥ 0, got {}, {}, {}",
                    cfg.momentum, cfg.dampening, cfg.weight_decay
                ),
            });
        }
        if cfg.nesterov && (cfg.momentum == 0.0 || cfg.dampening != 0.0) {
            return Err(Error::Config {
                what: "sgd: Nesterov momentum needs momentum > 0 and zero dampening".into(),
            });
        }
        let slots: &'static [&'static str] = if cfg.momentum == 0.0 {
            &[]
        } else {
            &["momentum_buffer"]
        };
        Ok(Sgd {
            cfg,
            states: ParamStates::new("sgd", slots),
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> SgdConfig {
        self.cfg
    }
}

/// Per-step scalars, rounded to f32 where PyTorch's kernels round them.
struct Coeffs {
    wd: f32,
    momentum: f32,
    one_minus_dampening: f32,
    nesterov: bool,
    first: bool,
    neg_lr: f32,
}

/// `d = g + wd·p; buf = first ? d : buf·μ + (1−τ)·d; d = nesterov ? d + μ·buf : buf; p += −lr·d`.
fn kernel(p: &mut [f32], g: &[f32], buf: Option<&mut [f32]>, c: &Coeffs) {
    let decay = c.wd != 0.0;
    let Some(buf) = buf else {
        for (p, &g) in p.iter_mut().zip(g) {
            let d = if decay { g + c.wd * *p } else { g };
            *p += c.neg_lr * d;
        }
        return;
    };
    for ((p, &g), b) in p.iter_mut().zip(g).zip(buf.iter_mut()) {
        let d = if decay { g + c.wd * *p } else { g };
        *b = if c.first {
            d
        } else {
            *b * c.momentum + c.one_minus_dampening * d
        };
        let d = if c.nesterov { d + c.momentum * *b } else { *b };
        *p += c.neg_lr * d;
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, model: &mut dyn Module, grads: &Gradients, lr: f32) -> Result<()> {
        let cfg = self.cfg;
        self.states.update(model, grads, lr, &mut |u| {
            let c = Coeffs {
                wd: if u.role == ParamRole::Weight {
                    cfg.weight_decay as f32
                } else {
                    0.0
                },
                momentum: cfg.momentum as f32,
                one_minus_dampening: (1.0 - cfg.dampening) as f32,
                nesterov: cfg.nesterov,
                first: u.step == 1,
                neg_lr: -lr,
            };
            par_chunks(u.param, u.grad, u.bufs, &|p, g, s| {
                kernel(p, g, s.first_mut().map(|b| &mut **b), &c)
            });
        })
    }

    delegate_state!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_close, Tiny, GB, GW};

    fn run(cfg: SgdConfig) -> Tiny {
        let mut m = Tiny::small();
        let mut opt = Sgd::new(cfg).expect("valid config");
        for (gw, gb) in GW.iter().zip(&GB).take(3) {
            let g = m.grads(gw, Some(gb));
            opt.step(&mut m, &g, 0.1).expect("step");
        }
        assert_eq!(
            m.running.value().data(),
            &[0.25, -0.75],
            "buffers never move"
        );
        m
    }

    /// Three steps at lr 0.1, momentum 0.9, weight decay 0.01; references from PyTorch's formulas in f64.
    #[test]
    fn sgd_momentum_matches_hand_computed_reference() {
        let m = run(SgdConfig {
            momentum: 0.9,
            weight_decay: 0.01,
            ..SgdConfig::default()
        });
        assert_close(
            &m.w(),
            &[0.459_630_389_5, -1.026_230_779, 1.880_633_568, -0.027_98],
            1e-6,
        );
        assert_close(&m.b(), &[-0.066, 0.046], 1e-6);
    }

    #[test]
    fn sgd_nesterov_matches_hand_computed_reference() {
        let m = run(SgdConfig {
            momentum: 0.9,
            weight_decay: 0.01,
            nesterov: true,
            ..SgdConfig::default()
        });
        assert_close(
            &m.w(),
            &[
                0.437_227_311_980_5,
                -1.050_646_323_961,
                1.856_876_836_512,
                -0.035_127_8,
            ],
            1e-6,
        );
        assert_close(&m.b(), &[0.0006, 0.0964], 1e-6);
    }

    #[test]
    fn sgd_dampened_plain_and_decay_only_on_weights() {
        let m = run(SgdConfig {
            momentum: 0.5,
            dampening: 0.25,
            ..SgdConfig::default()
        });
        assert_close(&m.w(), &[0.473_125, -1.0175, 1.93625, -0.015], 1e-6);
        assert_close(&m.b(), &[0.01875, -0.04375], 1e-6);
        let m = run(SgdConfig::default());
        assert_close(&m.w(), &[0.475, -1.03, 1.97, -0.01], 1e-6);
        assert_close(&m.b(), &[0.15, -0.125], 1e-6);

        let mut m = Tiny::small();
        let (w0, b0) = (m.w(), m.b());
        let mut opt = Sgd::new(SgdConfig {
            momentum: 0.9,
            weight_decay: 0.5,
            ..SgdConfig::default()
        })
        .expect("valid");
        let g = m.grads(&[0.0; 4], Some(&[0.0; 2]));
        opt.step(&mut m, &g, 0.1).expect("step");
        let want: Vec<f32> = w0.iter().map(|w| w + -0.1 * (0.0 + 0.5 * w)).collect();
        assert_eq!(m.w(), want);
        assert_eq!(m.b(), b0);
    }

    #[test]
    fn sgd_rejects_bad_config() {
        for cfg in [
            SgdConfig {
                nesterov: true,
                ..SgdConfig::default()
            },
            SgdConfig {
                nesterov: true,
                momentum: 0.9,
                dampening: 0.1,
                ..SgdConfig::default()
            },
            SgdConfig {
                momentum: -0.9,
                ..SgdConfig::default()
            },
        ] {
            assert!(Sgd::new(cfg).is_err(), "{cfg:?}");
        }
    }
}
