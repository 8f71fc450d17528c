//! `fake_quant`: affine quantize-dequantize in f32 with a straight-through gradient, per tensor or
//! per channel, as PyTorch's `fake_quantize_per_{tensor,channel}_affine`.

use super::{apply, Op, OpKind, Saved};
use crate::{Result, Tensor};

/// Affine quantization parameters: `q = clamp(round(x/scale) + zero_point, qmin, qmax)`.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeQuant {
    /// Step sizes: one per tensor, or one per channel along `axis`; positive and finite.
    pub scale: Vec<f32>,
    /// Integer offsets, one per scale; each in `[qmin, qmax]`.
    pub zero_point: Vec<i32>,
    /// Smallest integer code.
    pub qmin: i32,
    /// Largest integer code.
    pub qmax: i32,
    /// The channel axis for per-channel parameters; `None` for a single (per-tensor) pair.
    pub axis: Option<usize>,
}

/// `(clamp(round(x/s) + zp, qmin, qmax) − zp)·s` with round-half-to-even, per tensor or per channel;
/// the gradient passes where `round(x/s) + zp` lies in `[qmin, qmax]` and is 0 elsewhere.
///
/// Like PyTorch (and the int8 quantize kernel) `x/s` is computed as `x·(1/s)`; a NaN maps to qmin.
pub fn fake_quant(x: &Tensor, q: &FakeQuant) -> Result<Tensor> {
    const OP: &str = "fake_quant";
    let channels = match q.axis {
        None => 1,
        Some(a) if a < x.rank() => x.shape()[a],
        Some(a) => crate::bail_shape!(OP, "axis {a} out of range for shape {:?}", x.shape()),
    };
    if q.scale.len() != channels || q.zero_point.len() != channels {
        crate::bail_shape!(
            OP,
            "{} scales and {} zero points for {channels} channels (axis {:?}, shape {:?})",
            q.scale.len(),
            q.zero_point.len(),
            q.axis,
            x.shape()
        );
    }
    if q.qmin > q.qmax {
        crate::bail_shape!(OP, "qmin {} > qmax {}", q.qmin, q.qmax);
    }
    if let Some(s) = q.scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        crate::bail_shape!(OP, "scale {s} is not positive and finite");
    }
    if let Some(z) = q.zero_point.iter().find(|&&z| z < q.qmin || z > q.qmax) {
        crate::bail_shape!(OP, "zero point {z} outside [{}, {}]", q.qmin, q.qmax);
    }
    apply(Quantizer(q.clone()), &[x])
}

#[derive(Debug)]
struct Quantizer(FakeQuant);

/// The unclamped integer code `round_half_even(x·inv_scale) + zp` (NaN for NaN; `max` then maps
/// it to qmin, and the in-range test fails for it).
fn code(x: f32, inv_scale: f32, zp: f32) -> f32 {
    (x * inv_scale).round_ties_even() + zp
}

impl Quantizer {
    /// Calls `f(channel, block)` for every contiguous block of `x` that shares one channel's
    /// parameters, with the matching block of `y`.
    fn for_each_block(
        &self,
        x: &[f32],
        y: &mut [f32],
        shape: &[usize],
        f: impl Fn(usize, &[f32], &mut [f32]),
    ) {
        let (channels, inner) = match self.0.axis {
            None => (1, x.len()),
            Some(a) => (shape[a], shape[a + 1..].iter().product()),
        };
        if inner == 0 {
            return;
        }
        for (b, (xb, yb)) in x
            .chunks_exact(inner)
            .zip(y.chunks_exact_mut(inner))
            .enumerate()
        {
            f(b % channels, xb, yb);
        }
    }

    /// The channel's `(1/scale, zero point as f32, qmin, qmax)`.
    fn params(&self, c: usize) -> (f32, f32, f32, f32) {
        let q = &self.0;
        (
            1.0 / q.scale[c],
            q.zero_point[c] as f32,
            q.qmin as f32,
            q.qmax as f32,
        )
    }
}

impl Op for Quantizer {
    fn kind(&self) -> OpKind {
        OpKind::FakeQuant(self.0.clone())
    }

    fn forward(&self, xs: &[&Tensor], save: &mut Saved) -> Result<Tensor> {
        let x = xs[0];
        let mut y = Tensor::uninit(x.shape());
        self.for_each_block(x.data(), y.data_mut(), x.shape(), |c, xb, yb| {
            let (inv, zp, lo, hi) = self.params(c);
            let s = self.0.scale[c];
            for (y, &x) in yb.iter_mut().zip(xb) {
                *y = (code(x, inv, zp).max(lo).min(hi) - zp) * s;
            }
        });
        save.push(x);
        Ok(y)
    }

    fn backward(&self, gy: &Tensor, saved: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if !needs[0] {
            return Ok(vec![None]);
        }
        let x = saved.into_vec().pop().expect("forward saved its input");
        let mut gx = Tensor::uninit(x.shape());
        gx.data_mut().copy_from_slice(gy.data());
        self.for_each_block(x.data(), gx.data_mut(), x.shape(), |c, xb, gb| {
            let (inv, zp, lo, hi) = self.params(c);
            for (g, &x) in gb.iter_mut().zip(xb) {
                let q = code(x, inv, zp);
                if !(lo <= q && q <= hi) {
                    *g = 0.0;
                }
            }
        });
        Ok(vec![Some(gx)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::rand_tensor;
    use crate::Error;

    fn per_tensor(scale: f32, zp: i32) -> FakeQuant {
        FakeQuant {
            scale: vec![scale],
            zero_point: vec![zp],
            qmin: -128,
            qmax: 127,
            axis: None,
        }
    }

    /// The formula with integer clamping, in f64.
    fn naive(x: f32, s: f32, zp: i32, qmin: i32, qmax: i32) -> (f32, bool) {
        let q = (x as f64 / s as f64).round_ties_even() as i64 + zp as i64;
        let qc = q.clamp(qmin as i64, qmax as i64);
        (((qc - zp as i64) as f64 * s as f64) as f32, q == qc)
    }

    #[test]
    fn fake_quant_matches_the_formula_and_rounds_half_to_even() {
        let x = [0.25, 0.75, -0.25, 1.25, 100.0, -100.0, f32::NAN];
        let x = Tensor::from_slice(&[7], &x).unwrap();
        let y = fake_quant(&x, &per_tensor(0.5, 3)).unwrap();
        // 0.5 → 0, 1.5 → 2, −0.5 → −0, 2.5 → 2; ±200 + 3 clamp to 127 / −128, NaN to qmin.
        assert_eq!(y.data(), [0.0, 1.0, 0.0, 1.0, 62.0, -65.5, -65.5]);
        let x = rand_tensor(&[200], 1);
        let y = fake_quant(&x, &per_tensor(0.013, -7)).unwrap();
        for (&y, &x) in y.data().iter().zip(x.data()) {
            assert_eq!(y, naive(x, 0.013, -7, -128, 127).0, "x = {x}");
        }
    }

    #[test]
    fn fake_quant_per_channel_uses_each_channels_parameters() {
        let mut x = rand_tensor(&[2, 3, 4], 2);
        x.data_mut().iter_mut().for_each(|v| *v *= 3.0);
        let q = FakeQuant {
            scale: vec![0.01, 0.02, 0.05],
            zero_point: vec![0, 5, -3],
            qmin: -20,
            qmax: 20,
            axis: Some(1),
        };
        let y = fake_quant(&x, &q).unwrap();
        for i in 0..2 {
            for c in 0..3 {
                for k in 0..4 {
                    let j = (i * 3 + c) * 4 + k;
                    let e = naive(x.data()[j], q.scale[c], q.zero_point[c], -20, 20).0;
                    assert_eq!(y.data()[j], e);
                }
            }
        }
    }

    #[test]
    fn fake_quant_gradient_is_straight_through_inside_the_range() {
        let mut x = rand_tensor(&[3, 40], 3);
        x.data_mut().iter_mut().for_each(|v| *v *= 2.0);
        let q = FakeQuant {
            scale: vec![0.01, 0.1, 0.005],
            zero_point: vec![10, 0, -100],
            qmin: -128,
            qmax: 127,
            axis: Some(0),
        };
        let xt = x.detach().requires_grad();
        let g = rand_tensor(&[3, 40], 4);
        let grads = fake_quant(&xt, &q)
            .unwrap()
            .backward_with(g.clone())
            .unwrap();
        let gx = grads.wrt(&xt).unwrap();
        let (mut passed, mut blocked) = (0, 0);
        for c in 0..3 {
            for k in 0..40 {
                let j = c * 40 + k;
                let inside = naive(x.data()[j], q.scale[c], q.zero_point[c], -128, 127).1;
                assert_eq!(gx.data()[j], if inside { g.data()[j] } else { 0.0 });
                if inside {
                    passed += 1;
                } else {
                    blocked += 1;
                }
            }
        }
        assert!(
            passed > 10 && blocked > 10,
            "{passed} passed, {blocked} blocked"
        );
    }

    #[test]
    fn fake_quant_rejects_bad_parameters() {
        let x = rand_tensor(&[2, 3], 1);
        let ok = FakeQuant {
            scale: vec![0.1; 3],
            zero_point: vec![0; 3],
            qmin: -8,
            qmax: 7,
            axis: Some(1),
        };
        assert!(fake_quant(&x, &ok).is_ok());
        let bad = [
            FakeQuant {
                axis: Some(2),
                ..ok.clone()
            },
            FakeQuant {
                axis: Some(0),
                ..ok.clone()
            },
            FakeQuant {
                axis: None,
                ..ok.clone()
            },
            FakeQuant {
                zero_point: vec![0; 2],
                ..ok.clone()
            },
            FakeQuant {
                scale: vec![0.1, 0.0, 0.1],
                ..ok.clone()
            },
            FakeQuant {
                scale: vec![0.1, f32::NAN, 0.1],
                ..ok.clone()
            },
            FakeQuant {
                qmin: 8,
                ..ok.clone()
            },
            FakeQuant {
                zero_point: vec![0, 9, 0],
                ..ok.clone()
            },
        ];
        for q in bad {
            assert!(
                matches!(
                    fake_quant(&x, &q),
                    Err(Error::BadShape {
                        op: "fake_quant",
                        ..
                    })
                ),
                "{q:?}"
            );
        }
    }
}
