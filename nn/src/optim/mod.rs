//! Optimizers: SGD (momentum, Nesterov), AdamW and LAMB, with per-parameter state keyed by name.
//!
//! All three follow PyTorch's update formulas operation by operation (torch.optim.SGD, torch.optim.AdamW,
//! timm's Lamb), with the hyperparameters in f64 as Python floats are and the per-element math in f32.
//! Weight decay applies only to [`ParamRole::Weight`]; buffers are never touched; a parameter without a
//! gradient in this step is skipped and its state left as it was (its own step counter included, as in
//! PyTorch).
//!
//! State tensors are named `"{param}.{slot}"` (`exp_avg`, `exp_avg_sq`, `momentum_buffer`), plus
//! `"{param}.step"` per parameter and `"steps"` for the optimizer; step counters are `[hi, lo]` f32 pairs
//! (`step = hi·2²⁴ + lo`, both exact integers) so they survive an all-f32 checkpoint exactly.

use std::collections::BTreeMap;

use inkling_autograd::{Gradients, Tensor};
use rayon::prelude::*;

use crate::error::list;
use crate::{Error, Module, ParamRole, Result};

pub use adamw::{AdamW, AdamWConfig};
pub use lamb::{Lamb, LambConfig};
pub use sgd::{Sgd, SgdConfig};

/// Updates a model's parameters from their gradients.
pub trait Optimizer {
    /// One update with learning rate `lr`. Checks every gradient and state shape before changing
    /// anything, so on error the model and the optimizer are as they were.
    fn step(&mut self, model: &mut dyn Module, grads: &Gradients, lr: f32) -> Result<()>;
    /// The state as named tensors, sorted by name (for checkpoints).
    fn state(&self) -> Vec<(String, Tensor)>;
    /// Restores a state from [`Optimizer::state`]; errors on unknown names or inconsistent shapes.
    /// Shapes are checked against the model's parameters at the next step.
    fn load_state(&mut self, state: Vec<(String, Tensor)>) -> Result<()>;
    /// `"sgd"`, `"adamw"` or `"lamb"`.
    fn name(&self) -> &'static str;
    /// Number of steps taken (restored by `load_state`).
    fn steps(&self) -> u64;
}

/// The [`Optimizer`] methods that only read or replace the `states: ParamStates` field.
macro_rules! delegate_state {
    () => {
        fn state(&self) -> Vec<(String, Tensor)> {
            self.states.state()
        }

        fn load_state(&mut self, state: Vec<(String, Tensor)>) -> Result<()> {
            self.states.load(state)
        }

        fn name(&self) -> &'static str {
            self.states.op
        }

        fn steps(&self) -> u64 {
            self.states.steps
        }
    };
}

mod adamw;
mod lamb;
mod sgd;

/// Name of the optimizer-wide step counter in [`Optimizer::state`].
pub const STEPS_KEY: &str = "steps";

/// Elements per parallel task; fixed so that per-chunk partial sums, and hence the results, do not
/// depend on the number of threads.
const CHUNK: usize = 1 << 15;

/// State of one parameter: its own step count and one buffer per slot (same shape as the parameter).
#[derive(Clone, Debug)]
struct Slot {
    step: u64,
    bufs: Vec<Tensor>,
}

/// What an optimizer's element kernel gets for one parameter.
struct Update<'a> {
    role: ParamRole,
    /// This parameter's step number, counting this one (1 on its first update).
    step: u64,
    param: &'a mut [f32],
    grad: &'a [f32],
    bufs: &'a mut [Tensor],
}

/// Per-parameter state keyed by name, shared by the three optimizers.
#[derive(Clone, Debug)]
struct ParamStates {
    /// Optimizer name, for error messages.
    op: &'static str,
    /// Slot names, in the order of `Slot::bufs`.
    slots: &'static [&'static str],
    map: BTreeMap<String, Slot>,
    steps: u64,
}

impl ParamStates {
    fn new(op: &'static str, slots: &'static [&'static str]) -> ParamStates {
        ParamStates {
            op,
            slots,
            map: BTreeMap::new(),
            steps: 0,
        }
    }

    fn mismatch(&self, what: String) -> Error {
        Error::Mismatch {
            what: format!("{}: {what}", self.op),
        }
    }

    /// Checks gradient and state shapes against the model and that every state belongs to one of its
    /// parameters, so that the update pass cannot fail half way.
    fn check(&self, model: &dyn Module, grads: &Gradients, lr: f32) -> Result<()> {
        if !lr.is_finite() {
            return Err(self.mismatch(format!("learning rate {lr} is not finite")));
        }
        let mut err = None;
        let mut known = 0usize;
        model.visit("", &mut |name, p, role| {
            if err.is_some() || role == ParamRole::Buffer {
                return;
            }
            let shape = p.value().shape();
            if let Some(g) = grads.param(p.id()) {
                if g.shape() != shape {
                    err.get_or_insert(format!(
                        "gradient of {name} has shape {:?}, the parameter {shape:?}",
                        g.shape()
                    ));
                }
            }
            if let Some(slot) = self.map.get(name) {
                known += 1;
                for (buf, slot_name) in slot.bufs.iter().zip(self.slots) {
                    if buf.shape() != shape {
                        err.get_or_insert(format!(
                            "state {name}.{slot_name} has shape {:?}, the parameter {shape:?}",
                            buf.shape()
                        ));
                    }
                }
            }
        });
        if let Some(e) = err {
            return Err(self.mismatch(e));
        }
        if known != self.map.len() {
            let mut names = Vec::new();
            model.visit("", &mut |name, _, role| {
                if role != ParamRole::Buffer {
                    names.push(name.to_string());
                }
            });
            let unknown: Vec<&str> = self
                .map
                .keys()
                .filter(|k| !names.iter().any(|n| n == *k))
                .map(String::as_str)
                .collect();
            return Err(self.mismatch(format!(
                "state for parameters the model does not have (or are buffers): {}",
                list(&unknown)
            )));
        }
        Ok(())
    }

    /// Runs `f` on every trainable parameter that has a gradient, creating zeroed state on first use.
    fn update(
        &mut self,
        model: &mut dyn Module,
        grads: &Gradients,
        lr: f32,
        f: &mut dyn FnMut(Update<'_>),
    ) -> Result<()> {
        self.check(model, grads, lr)?;
        let (map, slots) = (&mut self.map, self.slots);
        model.visit_mut("", &mut |name, p, role| {
            if role == ParamRole::Buffer {
                return;
            }
            let Some(g) = grads.param(p.id()) else {
                return;
            };
            if !map.contains_key(name) {
                let shape = p.value().shape();
                let bufs = slots.iter().map(|_| Tensor::zeros(shape)).collect();
                map.insert(name.to_string(), Slot { step: 0, bufs });
            }
            let Some(slot) = map.get_mut(name) else {
                return;
            };
            slot.step += 1;
            f(Update {
                role,
                step: slot.step,
                param: p.value_mut().data_mut(),
                grad: g.data(),
                bufs: &mut slot.bufs,
            });
        });
        self.steps += 1;
        Ok(())
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(self.map.len() * (self.slots.len() + 1) + 1);
        for (name, slot) in &self.map {
            for (buf, slot_name) in slot.bufs.iter().zip(self.slots) {
                out.push((format!("{name}.{slot_name}"), buf.clone()));
            }
            out.push((format!("{name}.step"), encode_step(slot.step)));
        }
        out.push((STEPS_KEY.to_string(), encode_step(self.steps)));
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn load(&mut self, state: Vec<(String, Tensor)>) -> Result<()> {
        let mut steps = None;
        let mut parts: BTreeMap<String, (Option<u64>, Vec<Option<Tensor>>)> = BTreeMap::new();
        for (key, t) in state {
            if key == STEPS_KEY {
                let s = decode_step(&t).map_err(|e| self.mismatch(format!("{key}: {e}")))?;
                if steps.replace(s).is_some() {
                    return Err(self.mismatch(format!("state tensor {key} given twice")));
                }
                continue;
            }
            let Some((name, suffix)) = key.rsplit_once('.') else {
                return Err(self.mismatch(format!("unexpected state tensor {key}")));
            };
            let entry = parts
                .entry(name.to_string())
                .or_insert_with(|| (None, vec![None; self.slots.len()]));
            let dup = if suffix == "step" {
                let s = decode_step(&t).map_err(|e| self.mismatch(format!("{key}: {e}")))?;
                entry.0.replace(s).is_some()
            } else if let Some(i) = self.slots.iter().position(|s| *s == suffix) {
                entry.1[i].replace(t.detach()).is_some()
            } else {
                return Err(self.mismatch(format!(
                    "unexpected state tensor {key} (slots: {}, step)",
                    self.slots.join(", ")
                )));
            };
            if dup {
                return Err(self.mismatch(format!("state tensor {key} given twice")));
            }
        }
        let steps = steps.ok_or_else(|| self.mismatch(format!("state lacks {STEPS_KEY}")))?;
        let mut map = BTreeMap::new();
        for (name, (step, bufs)) in parts {
            let step = step.ok_or_else(|| self.mismatch(format!("state lacks {name}.step")))?;
            let mut full = Vec::with_capacity(bufs.len());
            for (buf, slot_name) in bufs.into_iter().zip(self.slots) {
                let buf =
                    buf.ok_or_else(|| self.mismatch(format!("state lacks {name}.{slot_name}")))?;
                if let Some(first) = full.first().map(Tensor::shape) {
                    if buf.shape() != first {
                        return Err(self.mismatch(format!(
                            "state {name}.{slot_name} has shape {:?}, {name}.{} {first:?}",
                            buf.shape(),
                            self.slots[0]
                        )));
                    }
                }
                full.push(buf);
            }
            map.insert(name, Slot { step, bufs: full });
        }
        self.map = map;
        self.steps = steps;
        Ok(())
    }
}

/// A step counter as an exact `[hi, lo]` f32 pair.
fn encode_step(step: u64) -> Tensor {
    let (hi, lo) = (step >> 24, step & ((1 << 24) - 1));
    // Both halves are below 2^24 for any step below 2^48, so the casts are exact.
    let mut t = Tensor::zeros(&[2]);
    t.data_mut().copy_from_slice(&[hi as f32, lo as f32]);
    t
}

fn decode_step(t: &Tensor) -> std::result::Result<u64, String> {
    const LIMIT: f32 = (1u32 << 24) as f32;
    match t.data() {
        [hi, lo] if t.shape() == [2] => {
            let ok = |v: f32| (0.0..LIMIT).contains(&v) && v.fract() == 0.0;
            if ok(*hi) && ok(*lo) {
                Ok(((*hi as u64) << 24) | *lo as u64)
            } else {
                Err(format!(
                    "step counter [{hi}, {lo}] is not a pair of integers below 2^24"
                ))
            }
        }
        _ => Err(format!(
            "step counter has shape {:?}, expected [2]",
            t.shape()
        )),
    }
}

/// An element kernel over a chunk of a parameter, its gradient and its state buffers.
type ChunkFn<'f, R> = dyn Fn(&mut [f32], &[f32], &mut [&mut [f32]]) -> R + Sync + 'f;

/// One parallel task: a chunk of the parameter, of its gradient and of each state buffer.
type Job<'a> = (&'a mut [f32], &'a [f32], Vec<&'a mut [f32]>);

/// Runs `f` over aligned chunks of a parameter, its gradient and its state buffers, in parallel on the
/// kernels' thread pool when the parameter is large. Returns the per-chunk results in chunk order.
fn par_chunks<R: Send>(
    param: &mut [f32],
    grad: &[f32],
    bufs: &mut [Tensor],
    f: &ChunkFn<'_, R>,
) -> Vec<R> {
    let mut bufs: Vec<&mut [f32]> = bufs.iter_mut().map(Tensor::data_mut).collect();
    if param.len() <= CHUNK {
        return vec![f(param, grad, &mut bufs)];
    }
    let mut jobs: Vec<Job<'_>> = param
        .chunks_mut(CHUNK)
        .zip(grad.chunks(CHUNK))
        .map(|(p, g)| (p, g, Vec::with_capacity(bufs.len())))
        .collect();
    for buf in bufs {
        for (job, b) in jobs.iter_mut().zip(buf.chunks_mut(CHUNK)) {
            job.2.push(b);
        }
    }
    let threads = inkling_kernels::threads::num_threads();
    if threads <= 1 {
        return jobs
            .into_iter()
            .map(|(p, g, mut s)| f(p, g, &mut s))
            .collect();
    }
    inkling_kernels::threads::install(threads, || {
        jobs.into_par_iter()
            .map(|(p, g, mut s)| f(p, g, &mut s))
            .collect()
    })
}

/// Σx² in f64 with eight independent accumulators (vectorisable, and the same result on every run).
pub(crate) fn sum_squares(x: &[f32]) -> f64 {
    let mut acc = [0f64; 8];
    add_squares(&mut acc, x);
    acc.iter().sum()
}

/// Adds `x[i]²` to lane `i % 8` of `acc` (for the tail: lane `i` of the remainder), in f64.
pub(crate) fn add_squares(acc: &mut [f64; 8], x: &[f32]) {
    let (chunks, tail) = x.as_chunks::<8>();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f64::from(v) * f64::from(v);
        }
    }
    for (a, &v) in acc.iter_mut().zip(tail) {
        *a += f64::from(v) * f64::from(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{Tiny, GB, GW};

    fn optimizers() -> Vec<Box<dyn Optimizer>> {
        vec![
            Box::new(AdamW::new(AdamWConfig::default()).expect("adamw")),
            Box::new(Lamb::new(LambConfig::default()).expect("lamb")),
            Box::new(
                Sgd::new(SgdConfig {
                    momentum: 0.9,
                    nesterov: true,
                    weight_decay: 1e-3,
                    ..SgdConfig::default()
                })
                .expect("sgd"),
            ),
            Box::new(Sgd::new(SgdConfig::default()).expect("plain sgd")),
        ]
    }

    fn bits(t: &[(String, Tensor)]) -> Vec<(String, Vec<usize>, Vec<u32>)> {
        t.iter()
            .map(|(n, t)| {
                let b = t.data().iter().map(|v| v.to_bits()).collect();
                (n.clone(), t.shape().to_vec(), b)
            })
            .collect()
    }

    #[test]
    fn state_round_trip_continues_bit_for_bit() {
        for (i, mut first) in optimizers().into_iter().enumerate() {
            let mut a = Tiny::small();
            for k in 0..2 {
                // The bias misses its gradient at step 2, so its step count lags.
                let gb = (k == 0).then_some(&GB[k][..]);
                let g = a.grads(&GW[k], gb);
                first.step(&mut a, &g, 0.05).expect("step");
            }
            let mut b = a.duplicate();
            let mut second = optimizers().swap_remove(i);
            second.load_state(first.state()).expect("own state loads");
            assert_eq!(second.steps(), 2);
            assert_eq!(bits(&second.state()), bits(&first.state()));
            for k in 2..4 {
                for (m, opt) in [(&mut a, &mut first), (&mut b, &mut second)] {
                    let g = m.grads(&GW[k], Some(&GB[k]));
                    opt.step(m, &g, 0.05).expect("step");
                }
            }
            let name = first.name();
            let to_bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
            assert_eq!(to_bits(a.w()), to_bits(b.w()), "{name}");
            assert_eq!(to_bits(a.b()), to_bits(b.b()), "{name}");
            assert_eq!(bits(&first.state()), bits(&second.state()), "{name}");
            assert_ne!(a.w(), Tiny::small().w(), "{name} moved the weights");
        }
    }

    #[test]
    fn state_names_and_step_counters() {
        let mut m = Tiny::small();
        let mut opt = AdamW::new(AdamWConfig::default()).expect("adamw");
        let g = m.grads(&GW[0], Some(&GB[0]));
        opt.step(&mut m, &g, 0.1).expect("step");
        let names: Vec<String> = opt.state().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "fc.bias.exp_avg",
                "fc.bias.exp_avg_sq",
                "fc.bias.step",
                "fc.weight.exp_avg",
                "fc.weight.exp_avg_sq",
                "fc.weight.step",
                "steps"
            ]
        );
        for step in [0, 1, (1 << 24) - 1, 1 << 24, (1 << 40) + 12_345] {
            assert_eq!(decode_step(&encode_step(step)), Ok(step));
        }
        for bad in [
            &[0.5, 1.0][..],
            &[-1.0, 0.0],
            &[0.0, 16_777_216.0],
            &[f32::NAN, 0.0],
        ] {
            let t = Tensor::from_slice(&[2], bad).expect("shape");
            assert!(decode_step(&t).is_err(), "{bad:?}");
        }
        assert!(decode_step(&Tensor::scalar(3.0)).is_err());
    }

    fn adamw_state(edit: impl FnOnce(&mut Vec<(String, Tensor)>)) -> Result<AdamW> {
        let mut m = Tiny::small();
        let mut opt = AdamW::new(AdamWConfig::default())?;
        let g = m.grads(&GW[0], Some(&GB[0]));
        opt.step(&mut m, &g, 0.1)?;
        let mut state = opt.state();
        edit(&mut state);
        let mut fresh = AdamW::new(AdamWConfig::default())?;
        fresh.load_state(state)?;
        Ok(fresh)
    }

    fn expect_err(r: Result<AdamW>, needle: &str) {
        match r {
            Ok(_) => panic!("expected an error mentioning {needle:?}"),
            Err(e) => assert!(e.to_string().contains(needle), "{e} lacks {needle:?}"),
        }
    }

    #[test]
    fn load_state_rejects_inconsistent_state() {
        expect_err(
            adamw_state(|s| s.retain(|(n, _)| n != "steps")),
            "lacks steps",
        );
        expect_err(
            adamw_state(|s| s.retain(|(n, _)| n != "fc.bias.exp_avg_sq")),
            "lacks fc.bias.exp_avg_sq",
        );
        expect_err(
            adamw_state(|s| s.retain(|(n, _)| n != "fc.bias.step")),
            "lacks fc.bias.step",
        );
        expect_err(
            adamw_state(|s| s.push(("fc.bias.momentum_buffer".into(), Tensor::zeros(&[2])))),
            "unexpected state tensor fc.bias.momentum_buffer",
        );
        expect_err(
            adamw_state(|s| s.push(("steps".into(), Tensor::zeros(&[2])))),
            "steps",
        );
        expect_err(
            adamw_state(|s| s.push(("fc.bias.exp_avg".into(), Tensor::zeros(&[2])))),
            "given twice",
        );
        expect_err(
            adamw_state(|s| {
                for (n, t) in s.iter_mut() {
                    if n == "fc.weight.exp_avg" {
                        *t = Tensor::zeros(&[4]);
                    }
                }
            }),
            "fc.weight.exp_avg_sq has shape [2, 2], fc.weight.exp_avg [4]",
        );
        expect_err(
            adamw_state(|s| s.push(("weird".into(), Tensor::zeros(&[2])))),
            "unexpected state tensor weird",
        );
        let ok = adamw_state(|_| {}).expect("unchanged state loads");
        assert_eq!(ok.steps(), 1);
    }

    #[test]
    fn step_errors_change_nothing() {
        let mut m = Tiny::small();
        let (w0, b0) = (m.w(), m.b());
        let check = |opt: &mut AdamW, m: &mut Tiny, grads: &Gradients, lr: f32, needle: &str| {
            let before = bits(&opt.state());
            let err = opt.step(m, grads, lr).expect_err(needle);
            assert!(err.to_string().contains(needle), "{err} lacks {needle:?}");
            assert_eq!(bits(&opt.state()), before);
            assert_eq!((m.w(), m.b()), (w0.clone(), b0.clone()));
        };
        // State whose slots fit each other but not the parameter.
        let mut opt = adamw_state(|s| {
            for (n, t) in s.iter_mut() {
                if n.starts_with("fc.weight.exp_avg") {
                    *t = Tensor::zeros(&[4]);
                }
            }
        })
        .expect("consistent");
        let g = m.grads(&GW[1], Some(&GB[1]));
        check(
            &mut opt,
            &mut m,
            &g,
            0.1,
            "fc.weight.exp_avg has shape [4], the parameter [2, 2]",
        );
        // State for a parameter the model lacks.
        let mut opt = adamw_state(|s| {
            s.retain(|(n, _)| !n.starts_with("fc.bias"));
            s.push(("head.bias.exp_avg".into(), Tensor::zeros(&[2])));
            s.push(("head.bias.exp_avg_sq".into(), Tensor::zeros(&[2])));
            s.push(("head.bias.step".into(), encode_step(1)));
        })
        .expect("consistent");
        check(
            &mut opt,
            &mut m,
            &g,
            0.1,
            "does not have (or are buffers): head.bias",
        );
        // A gradient of the wrong shape, and a NaN learning rate.
        let mut opt = AdamW::new(AdamWConfig::default()).expect("adamw");
        let mut g = m.grads(&GW[1], Some(&GB[1]));
        g.insert_param(m.b.id(), Tensor::zeros(&[3]));
        check(
            &mut opt,
            &mut m,
            &g,
            0.1,
            "gradient of fc.bias has shape [3], the parameter [2]",
        );
        let g = m.grads(&GW[1], Some(&GB[1]));
        check(&mut opt, &mut m, &g, f32::NAN, "not finite");
        assert_eq!(opt.steps(), 0);
    }

    #[test]
    fn sum_squares_is_exact_on_small_integers() {
        let x: Vec<f32> = (0..37).map(|i| i as f32 - 18.0).collect();
        let want: f64 = x.iter().map(|&v| f64::from(v * v)).sum();
        assert_eq!(sum_squares(&x), want);
        assert_eq!(sum_squares(&[]), 0.0);
    }
}
