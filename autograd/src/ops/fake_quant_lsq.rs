//! `fake_quant_lsq`: per-tensor quantize-dequantize whose scale is an input with the LSQ gradient
//! (Esser et al., "Learned Step Size Quantization", 2020), for quantization-aware training with
//! learned activation scales.

use super::{apply, Op, OpKind, Saved};
use crate::{Result, Tensor};

/// The fixed attributes of a learned-scale fake quantizer.
#[derive(Clone, Debug, PartialEq)]
pub struct Lsq {
    /// Integer offset, in `[qmin, qmax]`.
    pub zero_point: i32,
    /// Smallest integer code.
    pub qmin: i32,
    /// Largest integer code.
    pub qmax: i32,
    /// Factor on the scale's gradient (LSQ uses `1/√(elements per sample · qmax)` so the scale
    /// learns at the pace of the weights).
    pub grad_scale: f32,
}

/// `(clamp(round(x/s) + zp, qmin, qmax) − zp)·s` with `s = scale[0]` (round half to even, `x/s`
/// computed as `x·(1/s)` like [`super::fake_quant`]).
///
/// Gradients: x gets the straight-through estimate (passed where the code is in range, 0
/// elsewhere); s gets LSQ's `Σ g·(round(x/s) − x/s)` over in-range elements plus
/// `Σ g·(qmin − zp)` / `Σ g·(qmax − zp)` over clamped ones, times `grad_scale`. Where the code is
/// clamped this is the exact derivative; in range it treats rounding as the identity, as LSQ does.
pub fn fake_quant_lsq(x: &Tensor, scale: &Tensor, q: &Lsq) -> Result<Tensor> {
    const OP: &str = "fake_quant_lsq";
    if scale.shape() != [1] {
        crate::bail_shape!(OP, "scale must have shape [1], got {:?}", scale.shape());
    }
    let s = scale.data()[0];
    if !(s.is_finite() && s > 0.0) {
        crate::bail_shape!(OP, "scale {s} is not positive and finite");
    }
    if q.qmin > q.qmax || q.zero_point < q.qmin || q.zero_point > q.qmax {
        crate::bail_shape!(
            OP,
            "zero point {} and range [{}, {}] are inconsistent",
            q.zero_point,
            q.qmin,
            q.qmax
        );
    }
    apply(LsqOp(q.clone()), &[x, scale])
}

#[derive(Debug)]
struct LsqOp(Lsq);

impl LsqOp {
    /// (1/s, zp, qmin, qmax) as f32.
    fn params(&self, s: f32) -> (f32, f32, f32, f32) {
        let q = &self.0;
        (1.0 / s, q.zero_point as f32, q.qmin as f32, q.qmax as f32)
    }
}

impl Op for LsqOp {
    fn kind(&self) -> OpKind {
        OpKind::FakeQuantLsq(self.0.clone())
    }

    fn forward(&self, xs: &[&Tensor], save: &mut Saved) -> Result<Tensor> {
        let (x, s) = (xs[0], xs[1].data()[0]);
        let (inv, zp, lo, hi) = self.params(s);
        let mut y = Tensor::uninit(x.shape());
        for (y, &x) in y.data_mut().iter_mut().zip(x.data()) {
            *y = (((x * inv).round_ties_even() + zp).max(lo).min(hi) - zp) * s;
        }
        save.push(x);
        save.push(xs[1]);
        Ok(y)
    }

    fn backward(&self, gy: &Tensor, saved: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let mut v = saved.into_vec();
        let scale = v.pop().expect("forward saved the scale");
        let x = v.pop().expect("forward saved its input");
        let s = scale.data()[0];
        let (inv, zp, lo, hi) = self.params(s);
        let mut gx = needs[0].then(|| Tensor::uninit(x.shape()));
        let mut gs = 0.0f64;
        for (j, (&x, &g)) in x.data().iter().zip(gy.data()).enumerate() {
            let r = (x * inv).round_ties_even();
            let code = r + zp;
            let (pass, ds) = if code < lo {
                (0.0, lo - zp)
            } else if code > hi {
                (0.0, hi - zp)
            } else {
                (g, r - x * inv)
            };
            if let Some(gx) = gx.as_mut() {
                gx.data_mut()[j] = pass;
            }
            gs += g as f64 * ds as f64;
        }
        let gs = needs[1]
            .then(|| Tensor::from_slice(&[1], &[(gs * self.0.grad_scale as f64) as f32]))
            .transpose()?;
        Ok(vec![gx, gs])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck_inputs, rand_tensor, Tol};

    fn lsq(zp: i32, grad_scale: f32) -> Lsq {
        Lsq {
            zero_point: zp,
            qmin: -128,
            qmax: 127,
            grad_scale,
        }
    }

    #[test]
    fn forward_equals_fake_quant_at_the_same_scale() {
        let mut x = rand_tensor(&[3, 50], 4);
        x.data_mut().iter_mut().for_each(|v| *v *= 3.0);
        let s = Tensor::from_slice(&[1], &[0.011]).unwrap();
        let y = fake_quant_lsq(&x, &s, &lsq(-20, 1.0)).unwrap();
        let fq = super::super::fake_quant(
            &x,
            &super::super::FakeQuant {
                scale: vec![0.011],
                zero_point: vec![-20],
                qmin: -128,
                qmax: 127,
                axis: None,
            },
        )
        .unwrap();
        assert_eq!(y.data(), fq.data());
    }

    #[test]
    fn gradients_follow_the_lsq_formula() {
        let mut x = rand_tensor(&[64], 5);
        x.data_mut().iter_mut().for_each(|v| *v *= 2.0);
        let (s, zp, gscale) = (0.01f32, 7, 0.5f32);
        let xs = x.detach().requires_grad();
        let st = Tensor::from_slice(&[1], &[s]).unwrap().requires_grad();
        let y = fake_quant_lsq(&xs, &st, &lsq(zp, gscale)).unwrap();
        let r = rand_tensor(&[64], 6);
        let grads = y.backward_with(r.clone()).unwrap();
        let (mut want_s, mut clamped) = (0.0f64, 0);
        for (j, &xv) in x.data().iter().enumerate() {
            let v = xv as f64 / s as f64;
            let code = v.round_ties_even() + zp as f64;
            let (pass, d) = if code < -128.0 {
                (false, (-128 - zp) as f64)
            } else if code > 127.0 {
                (false, (127 - zp) as f64)
            } else {
                (true, v.round_ties_even() - v)
            };
            clamped += usize::from(!pass);
            want_s += r.data()[j] as f64 * d;
            let gx = grads.wrt(&xs).unwrap().data()[j];
            assert_eq!(gx, if pass { r.data()[j] } else { 0.0 }, "x = {xv}");
        }
        assert!(clamped > 5 && clamped < 60, "both regions are exercised");
        let gs = grads.wrt(&st).unwrap().data()[0] as f64;
        assert!(
            (gs - gscale as f64 * want_s).abs() < 1e-4 * (1.0 + want_s.abs()),
            "{gs}"
        );
    }

    /// Where every code is clamped the output is `(q − zp)·s`, linear in s, so LSQ's gradient is
    /// the true one: central differences must agree.
    #[test]
    fn gradcheck_scale_where_clamped() {
        let mut x = rand_tensor(&[40], 8);
        x.data_mut()
            .iter_mut()
            .for_each(|v| *v = if *v < 0.0 { *v - 3.0 } else { *v + 3.0 });
        let s = Tensor::from_slice(&[1], &[0.01]).unwrap();
        let tol = Tol {
            eps: 1e-4,
            ..Tol::F32
        };
        gradcheck_inputs(
            |xs| fake_quant_lsq(&xs[0], &xs[1], &lsq(3, 1.0)),
            &[x, s],
            &[false, true],
            tol,
        );
    }

    #[test]
    fn rejects_bad_scales() {
        let x = rand_tensor(&[4], 1);
        for bad in [0.0, -1.0, f32::NAN] {
            let s = Tensor::from_slice(&[1], &[bad]).unwrap();
            assert!(fake_quant_lsq(&x, &s, &lsq(0, 1.0)).is_err());
        }
        let s2 = Tensor::from_slice(&[2], &[1.0, 1.0]).unwrap();
        assert!(fake_quant_lsq(&x, &s2, &lsq(0, 1.0)).is_err());
    }
}
