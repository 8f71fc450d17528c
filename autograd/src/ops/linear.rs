//! `linear`: `y = act(x·Wᵀ + b)` as one GEMM with the bias and activation fused in its epilogue.

use inkling_kernels::gemm::{self, Epilogue, GemmParams};
use inkling_kernels::rows;

use super::{apply, par, Activation, Op, OpKind, Saved};
use crate::{Error, Result, Tensor};

/// `y = act(x·Wᵀ + b)`; x `[.., in]`, W `[out, in]` (PyTorch layout), b `[out]`.
pub fn linear(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    activation: Activation,
) -> Result<Tensor> {
    let op = Linear {
        activation,
        bias: b.is_some(),
        residual: false,
    };
    match b {
        Some(b) => apply(op, &[x, w, b]),
        None => apply(op, &[x, w]),
    }
}

/// `y = x·Wᵀ + b + r`: a linear layer whose output is added to a residual stream in the GEMM's
/// epilogue (no separate pass over y); r has y's shape.
pub fn linear_residual(x: &Tensor, w: &Tensor, b: Option<&Tensor>, r: &Tensor) -> Result<Tensor> {
    let op = Linear {
        activation: Activation::None,
        bias: b.is_some(),
        residual: true,
    };
    match b {
        Some(b) => apply(op, &[x, w, b, r]),
        None => apply(op, &[x, w, r]),
    }
}

#[derive(Debug)]
struct Linear {
    activation: Activation,
    bias: bool,
    residual: bool,
}

impl Linear {
    /// The bias and residual inputs of `xs`, after checking how many there are.
    fn extras<'a>(&self, xs: &[&'a Tensor]) -> Result<(Option<&'a Tensor>, Option<&'a Tensor>)> {
        let want = 2 + usize::from(self.bias) + usize::from(self.residual);
        if xs.len() != want {
            crate::bail_shape!("linear", "expected {want} inputs, got {}", xs.len());
        }
        let b = self.bias.then(|| xs[2]);
        let r = self.residual.then(|| xs[want - 1]);
        Ok((b, r))
    }
}

/// (rows of x, in, out) after checking the shapes of x and W.
fn dims(xs: &[&Tensor]) -> Result<(usize, usize, usize)> {
    const OP: &str = "linear";
    let (x, w) = (xs[0], xs[1]);
    super::expect_rank(OP, w, 2)?;
    let (out, inp) = (w.shape()[0], w.shape()[1]);
    if x.rank() == 0 || x.dim(-1) != inp {
        return Err(Error::ShapeMismatch {
            op: OP,
            lhs: x.shape().to_vec(),
            rhs: w.shape().to_vec(),
        });
    }
    Ok((x.numel() / inp.max(1), inp, out))
}

impl Op for Linear {
    fn kind(&self) -> OpKind {
        OpKind::Linear {
            activation: self.activation,
            bias: self.bias,
            residual: self.residual,
        }
    }

    fn forward(&self, xs: &[&Tensor], save: &mut Saved) -> Result<Tensor> {
        let (bias, residual) = self.extras(xs)?;
        let (m, k, n) = dims(&[xs[0], xs[1]])?;
        if let Some(b) = bias {
            if b.shape() != [n] {
                return Err(Error::ShapeMismatch {
                    op: "linear",
                    lhs: xs[1].shape().to_vec(),
                    rhs: b.shape().to_vec(),
                });
            }
        }
        let ks = inkling_kernels::kernels();
        let mut shape = xs[0].shape().to_vec();
        *shape.last_mut().expect("rank checked") = n;
        let mut y = Tensor::uninit(&shape);
        let activation = match self.activation {
            Activation::None => gemm::Activation::None,
            Activation::Relu => gemm::Activation::Relu,
            Activation::Gelu => gemm::Activation::None,
        };
        if let Some(r) = residual {
            if r.shape() != shape.as_slice() || self.activation != Activation::None {
                return Err(Error::ShapeMismatch {
                    op: "linear residual",
                    lhs: shape,
                    rhs: r.shape().to_vec(),
                });
            }
        }
        let epi = Epilogue {
            bias: bias.map(Tensor::data),
            activation,
            residual: residual.map(Tensor::data),
        };
        let p = GemmParams::new(m, n, k).trans_b();
        gemm::sgemm(ks, &p, xs[0].data(), xs[1].data(), y.data_mut(), &epi)?;
        save.push(xs[0]);
        save.push(xs[1]);
        match self.activation {
            // GELU's backward needs its input: keep the pre-activation and write GELU of it into a
            // new buffer, row blocks in parallel (copy and GELU of a block while it is in cache).
            // Inference keeps nothing: GELU in place.
            Activation::Gelu if !save.recording() => {
                par::map_items(m, y.data_mut(), |_, o| {
                    rows::gelu(ks, o);
                    Ok(())
                })?;
                Ok(y)
            }
            Activation::Gelu => {
                save.push(&y);
                let mut out = Tensor::uninit(y.shape());
                let pre = y.data();
                par::map_items(m, out.data_mut(), |r, o| {
                    o.copy_from_slice(&pre[r.start * n..r.end * n]);
                    rows::gelu(ks, o);
                    Ok(())
                })?;
                Ok(out)
            }
            Activation::Relu => {
                save.push(&y);
                Ok(y)
            }
            Activation::None => Ok(y),
        }
    }

    fn backward(&self, gy: &Tensor, saved: Saved, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let ks = inkling_kernels::kernels();
        let mut s = saved.into_vec().into_iter();
        let (x, w) = (s.next().expect("saved x"), s.next().expect("saved w"));
        let (m, k, n) = dims(&[&x, &w])?;
        // ∂/∂(pre-activation), row blocks in parallel.
        let g = match self.activation {
            Activation::None => gy.clone(),
            act => {
                let saved_y = s.next().expect("saved (pre-)activation");
                let mut g = Tensor::uninit(gy.shape());
                let (gyd, yd) = (gy.data(), saved_y.data());
                par::map_items(m, g.data_mut(), |r, o| {
                    let span = r.start * n..r.end * n;
                    o.copy_from_slice(&gyd[span.clone()]);
                    if act == Activation::Gelu {
                        rows::gelu_backward(ks, &yd[span], o)?;
                    } else {
                        for (g, &y) in o.iter_mut().zip(&yd[span]) {
                            if y <= 0.0 {
                                *g = 0.0;
                            }
                        }
                    }
                    Ok(())
                })?;
                g
            }
        };
        let none = Epilogue::default();
        let dx = if needs[0] {
            let mut dx = Tensor::uninit(x.shape());
            let p = GemmParams::new(m, k, n);
            gemm::sgemm(ks, &p, g.data(), w.data(), dx.data_mut(), &none)?;
            Some(dx)
        } else {
            None
        };
        let dw = if needs[1] {
            let mut dw = Tensor::uninit(w.shape());
            let p = GemmParams::new(n, k, m).trans_a();
            gemm::sgemm(ks, &p, g.data(), x.data(), dw.data_mut(), &none)?;
            Some(dw)
        } else {
            None
        };
        let mut grads = vec![dx, dw];
        if self.bias {
            grads.push(if needs[2] {
                let gd = g.data();
                let db = par::map_reduce_items(m, None, n, |r, _, acc| {
                    for row in gd[r.start * n..r.end * n].chunks_exact(n) {
                        for (d, v) in acc.iter_mut().zip(row) {
                            *d += v;
                        }
                    }
                    Ok(())
                })?;
                Some(Tensor::new(&[n], db)?)
            } else {
                None
            });
        }
        if self.residual {
            grads.push(needs[grads.len()].then(|| gy.clone()));
        }
        Ok(grads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{gradcheck, rand_tensor, Tol};

    #[test]
    fn gradcheck_linear() {
        for act in [Activation::None, Activation::Relu, Activation::Gelu] {
            let x = rand_tensor(&[2, 3, 7], 1);
            let w = rand_tensor(&[5, 7], 2);
            let b = rand_tensor(&[5], 3);
            gradcheck(
                |xs| linear(&xs[0], &xs[1], Some(&xs[2]), act),
                &[x.clone(), w.clone(), b],
                Tol::F32,
            );
            gradcheck(|xs| linear(&xs[0], &xs[1], None, act), &[x, w], Tol::F32);
        }
    }

    #[test]
    fn gradcheck_linear_residual() {
        let x = rand_tensor(&[2, 3, 7], 1);
        let w = rand_tensor(&[5, 7], 2);
        let b = rand_tensor(&[5], 3);
        let r = rand_tensor(&[2, 3, 5], 4);
        gradcheck(
            |xs| linear_residual(&xs[0], &xs[1], Some(&xs[2]), &xs[3]),
            &[x.clone(), w.clone(), b.clone(), r.clone()],
            Tol::F32,
        );
        gradcheck(
            |xs| linear_residual(&xs[0], &xs[1], None, &xs[2]),
            &[x.clone(), w.clone(), r.clone()],
            Tol::F32,
        );
        // Equal to linear + add.
        let fused = linear_residual(&x, &w, Some(&b), &r).unwrap();
        let plain =
            crate::ops::add(&linear(&x, &w, Some(&b), Activation::None).unwrap(), &r).unwrap();
        for (a, p) in fused.data().iter().zip(plain.data()) {
            assert!((a - p).abs() <= 1e-6 * (1.0 + p.abs()));
        }
        assert!(linear_residual(&x, &w, None, &rand_tensor(&[2, 3, 4], 5)).is_err());
    }

    #[test]
    fn linear_matches_naive() {
        let x = rand_tensor(&[4, 3], 4);
        let w = rand_tensor(&[2, 3], 5);
        let b = rand_tensor(&[2], 6);
        let y = linear(&x, &w, Some(&b), Activation::None).unwrap();
        for i in 0..4 {
            for j in 0..2 {
                let mut r = b.data()[j];
                for k in 0..3 {
                    r += x.data()[i * 3 + k] * w.data()[j * 3 + k];
                }
                approx::assert_abs_diff_eq!(y.data()[i * 2 + j], r, epsilon = 1e-5);
            }
        }
    }

    #[test]
    fn linear_rejects_bad_shapes() {
        let x = rand_tensor(&[4, 3], 4);
        let w = rand_tensor(&[2, 4], 5);
        assert!(matches!(
            linear(&x, &w, None, Activation::None),
            Err(Error::ShapeMismatch { op: "linear", .. })
        ));
    }
}
