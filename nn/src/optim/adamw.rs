//! AdamW: Adam with decoupled weight decay, as torch.optim.AdamW (amsgrad off).

use inkling_autograd::{Gradients, Tensor};

use super::{par_chunks, Optimizer, ParamStates};
use crate::{Error, Module, ParamRole, Result};

/// AdamW hyperparameters; the defaults are PyTorch's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWConfig {
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the bias-corrected root of the second moment.
    pub eps: f64,
    /// Decoupled weight decay (`p ← p·(1 − lr·wd)`), for [`ParamRole::Weight`] only.
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> AdamWConfig {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// Errors unless `0 ≤ beta1, beta2 < 1` and `eps`, `weight_decay` are finite and ≥ 0.
pub(super) fn check_adam(op: &str, beta1: f64, beta2: f64, eps: f64, wd: f64) -> Result<()> {
    let beta = |b: f64| (0.0..1.0).contains(&b);
    let nonneg = |v: f64| v.is_finite() && v >= 0.0;
    if beta(beta1) && beta(beta2) && nonneg(eps) && nonneg(wd) {
        Ok(())
    } else {
        Err(Error::Config {
            what: format!(
                "{op}: need 0 ≤ betas < 1 and finite eps, weight decay ≥ 0; got betas ({beta1}, \
                 {beta2}), eps {eps}, weight decay {wd}"
            ),
        })
    }
}

/// AdamW with per-parameter `exp_avg`, `exp_avg_sq` and step.
#[derive(Clone, Debug)]
pub struct AdamW {
    cfg: AdamWConfig,
    states: ParamStates,
}

impl AdamW {
    /// An optimizer with empty state; errors on out-of-range hyperparameters.
    pub fn new(cfg: AdamWConfig) -> Result<AdamW> {
        check_adam("adamw", cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay)?;
        Ok(AdamW {
            cfg,
            states: ParamStates::new("adamw", &["exp_avg", "exp_avg_sq"]),
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> AdamWConfig {
        self.cfg
    }
}

/// The moment updates AdamW and LAMB share, with per-step scalars rounded to f32 where PyTorch's
/// kernels round them.
pub(super) struct Moments {
    lerp_w: f32,
    lerp_small: bool,
    beta2: f32,
    one_minus_beta2: f32,
    bc2_sqrt: f32,
    eps: f32,
}

impl Moments {
    pub(super) fn new(beta1: f64, beta2: f64, eps: f64, step: u64) -> Moments {
        let lerp_w = (1.0 - beta1) as f32;
        Moments {
            lerp_w,
            // torch.lerp switches formula at weight 0.5 to stay exact at both ends.
            lerp_small: lerp_w.abs() < 0.5,
            beta2: beta2 as f32,
            one_minus_beta2: (1.0 - beta2) as f32,
            bc2_sqrt: (1.0 - beta2.powf(step as f64)).sqrt() as f32,
            eps: eps as f32,
        }
    }

    /// `m.lerp_(g, 1−β₁); v = v·β₂ + (1−β₂)·g·g`; returns the denominator `√v/√bc₂ + ε`.
    #[inline(always)]
    pub(super) fn update(&self, g: f32, m: &mut f32, v: &mut f32) -> f32 {
        *m = if self.lerp_small {
            *m + self.lerp_w * (g - *m)
        } else {
            g - (g - *m) * (1.0 - self.lerp_w)
        };
        *v = *v * self.beta2 + self.one_minus_beta2 * g * g;
        self.denom(*v)
    }

    /// `√v/√bc₂ + ε`.
    #[inline(always)]
    pub(super) fn denom(&self, v: f32) -> f32 {
        v.sqrt() / self.bc2_sqrt + self.eps
    }
}

/// Per-step scalars of AdamW.
struct Coeffs {
    moments: Moments,
    decay: f32,
    neg_step_size: f32,
}

impl Coeffs {
    fn new(cfg: &AdamWConfig, lr: f32, step: u64, decay: bool) -> Coeffs {
        let lr = f64::from(lr);
        let wd = if decay { cfg.weight_decay } else { 0.0 };
        let bc1 = 1.0 - cfg.beta1.powf(step as f64);
        Coeffs {
            moments: Moments::new(cfg.beta1, cfg.beta2, cfg.eps, step),
            decay: (1.0 - lr * wd) as f32,
            neg_step_size: (-(lr / bc1)) as f32,
        }
    }
}

/// One AdamW update of a chunk, in the operation order of torch's `_single_tensor_adamw`:
/// `p·=1−lr·wd`, the moments, then `p += (−lr/bc₁ · m) / (√v/√bc₂ + ε)`.
fn kernel(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: &Coeffs) {
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let decayed = *p * c.decay;
        let denom = c.moments.update(g, m, v);
        *p = decayed + c.neg_step_size * *m / denom;
    }
}

impl Optimizer for AdamW {
    fn step(&mut self, model: &mut dyn Module, grads: &Gradients, lr: f32) -> Result<()> {
        let cfg = self.cfg;
        self.states.update(model, grads, lr, &mut |u| {
            let c = Coeffs::new(&cfg, lr, u.step, u.role == ParamRole::Weight);
            par_chunks(u.param, u.grad, u.bufs, &|p, g, s| {
                if let [m, v] = s {
                    kernel(p, g, m, v, &c);
                }
            });
        })
    }

    delegate_state!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{assert_close, Tiny, GB, GW};

    fn adamw(wd: f64) -> AdamW {
        AdamW::new(AdamWConfig {
            weight_decay: wd,
            ..AdamWConfig::default()
        })
        .expect("valid config")
    }

    /// Three steps at lr 0.01, weight decay 0.1, reference values from the PyTorch formulas in f64.
    #[test]
    fn adamw_matches_hand_computed_reference() {
        let mut m = Tiny::small();
        let mut opt = adamw(0.1);
        for (gw, gb) in GW.iter().zip(&GB).take(3) {
            let g = m.grads(gw, Some(gb));
            opt.step(&mut m, &g, 0.01).expect("step");
        }
        assert_close(
            &m.w(),
            &[
                0.479_279_668_303_198_8,
                -0.994_836_875_460_229_4,
                1.971_416_062_553_735_8,
                -0.009_720_329_922_440_034,
            ],
            2e-6,
        );
        assert_close(
            &m.b(),
            &[0.082_741_774_086_205_69, -0.179_825_603_089_777_57],
            2e-6,
        );
        assert_eq!(
            m.running.value().data(),
            &[0.25, -0.75],
            "buffers never move"
        );
        assert_eq!(opt.steps(), 3);
    }

    /// The first bias-corrected step is ±lr per element whatever the gradient's size.
    #[test]
    fn adamw_first_step_is_sign_of_gradient() {
        let mut m = Tiny::small();
        let mut opt = adamw(0.0);
        let g = m.grads(&[1e-3, -50.0, 7.0, 0.0], Some(&[2.0, -2.0]));
        opt.step(&mut m, &g, 0.1).expect("step");
        // 1e-3 / (1e-3 + eps) = 0.99999: eps shows at small gradients.
        assert_close(&m.w(), &[0.400_001, -0.9, 1.9, 0.0], 1e-6);
        assert_close(&m.b(), &[0.0, -0.1], 1e-5);
    }

    #[test]
    fn adamw_decays_only_weights() {
        let mut m = Tiny::small();
        let (w0, b0) = (m.w(), m.b());
        let mut opt = adamw(0.5);
        let g = m.grads(&[0.0; 4], Some(&[0.0; 2]));
        opt.step(&mut m, &g, 0.1).expect("step");
        let decay = (1.0 - 0.1f64 * 0.5) as f32;
        let want: Vec<f32> = w0.iter().map(|w| w * decay).collect();
        assert_eq!(m.w(), want);
        assert_eq!(
            m.b(),
            b0,
            "NoDecay parameter unchanged by zero gradient and decay"
        );
    }

    #[test]
    fn adamw_skips_parameters_without_gradient() {
        let mut m = Tiny::small();
        let mut opt = adamw(0.1);
        let g = m.grads(&GW[0], Some(&GB[0]));
        opt.step(&mut m, &g, 0.01).expect("step");
        let b1 = m.b();
        let g = m.grads(&GW[1], None);
        opt.step(&mut m, &g, 0.01).expect("step");
        assert_eq!(m.b(), b1);
        let state = opt.state();
        let step_of = |k: &str| {
            state
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, t)| t.data().to_vec())
        };
        assert_eq!(step_of("fc.bias.step"), Some(vec![0.0, 1.0]));
        assert_eq!(step_of("fc.weight.step"), Some(vec![0.0, 2.0]));
        assert_eq!(step_of("steps"), Some(vec![0.0, 2.0]));
        assert!(step_of("bn.running_mean.exp_avg").is_none());
    }

    /// Parameters larger than one parallel chunk give the same bits as one pass over the whole.
    #[test]
    fn adamw_chunked_update_matches_single_pass() {
        let n = 3 * super::super::CHUNK + 5;
        let wv: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        let gv: Vec<f32> = (0..n)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) / 100.0)
            .collect();
        let mut m = Tiny::new(&[n], &wv, &[0.0, 0.0]);
        let mut opt = adamw(0.05);
        let mut p = wv.clone();
        let (mut mm, mut vv) = (vec![0.0; n], vec![0.0; n]);
        for step in 1..=2 {
            let g = m.grads(&gv, None);
            opt.step(&mut m, &g, 0.003).expect("step");
            let c = Coeffs::new(&opt.config(), 0.003, step, true);
            kernel(&mut p, &gv, &mut mm, &mut vv, &c);
        }
        assert!(m.w() == p, "chunked and single-pass results differ");
    }

    #[test]
    fn adamw_rejects_bad_config() {
        for cfg in [
            AdamWConfig {
                beta1: 1.0,
                ..AdamWConfig::default()
            },
            AdamWConfig {
                beta2: -0.1,
                ..AdamWConfig::default()
            },
            AdamWConfig {
                eps: f64::NAN,
                ..AdamWConfig::default()
            },
            AdamWConfig {
                weight_decay: -1.0,
                ..AdamWConfig::default()
            },
        ] {
            let err = AdamW::new(cfg).expect_err("invalid");
            assert!(err.to_string().contains("adamw"), "{err}");
        }
    }
}
