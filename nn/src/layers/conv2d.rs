//! `Conv2d` (NCHW, optional groups) and `DepthwiseConv2d` (one filter per channel).

use inkling_autograd::ops::{self, Conv2dSpec};
use inkling_autograd::{Param, Result, Tensor};
use rand::Rng;

use super::init;
use crate::module::join;
use crate::{Error, Module, ParamRole};

/// A 2-D convolution: x `[N, C, H, W]`, weight `[O, C/groups, kh, kw]`, bias `[O]`.
#[derive(Debug)]
pub struct Conv2d {
    /// `[O, C/groups, kh, kw]`.
    pub weight: Param,
    /// `[O]`.
    pub bias: Option<Param>,
    /// Stride, symmetric padding and groups.
    pub spec: Conv2dSpec,
}

/// Errors unless channels split into `groups` and stride and kernel are nonzero.
fn check_conv(
    what: &str,
    c: usize,
    o: usize,
    k: (usize, usize),
    spec: &Conv2dSpec,
) -> crate::Result<()> {
    let bad = spec.groups == 0
        || c == 0
        || o == 0
        || !c.is_multiple_of(spec.groups)
        || !o.is_multiple_of(spec.groups)
        || k.0 == 0
        || k.1 == 0
        || spec.stride.0 == 0
        || spec.stride.1 == 0;
    if bad {
        return Err(Error::Config {
            what: format!(
                "{what}: {c} → {o} channels, kernel {k:?}, {spec:?} is not a valid convolution"
            ),
        });
    }
    Ok(())
}

impl Conv2d {
    /// PyTorch's default initialisation: weight and bias U(±1/√fan_in), fan_in = C/groups·kh·kw.
    pub fn new(
        in_ch: usize,
        out_ch: usize,
        kernel: (usize, usize),
        spec: Conv2dSpec,
        bias: bool,
        rng: &mut impl Rng,
    ) -> crate::Result<Conv2d> {
        check_conv("conv2d", in_ch, out_ch, kernel, &spec)?;
        let cg = in_ch / spec.groups;
        let fan_in = cg * kernel.0 * kernel.1;
        Ok(Conv2d {
            weight: Param::new(init::torch_default(
                &[out_ch, cg, kernel.0, kernel.1],
                fan_in,
                rng,
            )),
            bias: bias.then(|| Param::new(init::torch_default(&[out_ch], fan_in, rng))),
            spec,
        })
    }

    /// `[N, C, H, W]` → `[N, O, H', W']`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let b = self.bias.as_ref().map(Param::tensor);
        ops::conv2d(x, &self.weight.tensor(), b.as_ref(), &self.spec)
    }
}

/// A depthwise convolution: x `[N, C, H, W]`, weight `[C, 1, kh, kw]`, bias `[C]`.
#[derive(Debug)]
pub struct DepthwiseConv2d {
    /// `[C, 1, kh, kw]`.
    pub weight: Param,
    /// `[C]`.
    pub bias: Option<Param>,
    /// Stride and symmetric padding; groups equals the channel count.
    pub spec: Conv2dSpec,
}

impl DepthwiseConv2d {
    /// PyTorch's default initialisation (fan_in = kh·kw).
    pub fn new(
        channels: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        bias: bool,
        rng: &mut impl Rng,
    ) -> crate::Result<DepthwiseConv2d> {
        let spec = Conv2dSpec {
            stride,
            padding,
            groups: channels,
        };
        check_conv("depthwise_conv2d", channels, channels, kernel, &spec)?;
        let fan_in = kernel.0 * kernel.1;
        Ok(DepthwiseConv2d {
            weight: Param::new(init::torch_default(
                &[channels, 1, kernel.0, kernel.1],
                fan_in,
                rng,
            )),
            bias: bias.then(|| Param::new(init::torch_default(&[channels], fan_in, rng))),
            spec,
        })
    }

    /// `[N, C, H, W]` → `[N, C, H', W']`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let b = self.bias.as_ref().map(Param::tensor);
        ops::depthwise_conv2d(x, &self.weight.tensor(), b.as_ref(), &self.spec)
    }
}

/// Visits `weight` (decayed) and `bias` (not).
fn visit_wb(
    prefix: &str,
    w: &Param,
    b: Option<&Param>,
    f: &mut dyn FnMut(&str, &Param, ParamRole),
) {
    f(&join(prefix, "weight"), w, ParamRole::Weight);
    if let Some(b) = b {
        f(&join(prefix, "bias"), b, ParamRole::NoDecay);
    }
}

fn visit_wb_mut(
    prefix: &str,
    w: &mut Param,
    b: Option<&mut Param>,
    f: &mut dyn FnMut(&str, &mut Param, ParamRole),
) {
    f(&join(prefix, "weight"), w, ParamRole::Weight);
    if let Some(b) = b {
        f(&join(prefix, "bias"), b, ParamRole::NoDecay);
    }
}

impl Module for Conv2d {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param, ParamRole)) {
        visit_wb(prefix, &self.weight, self.bias.as_ref(), f);
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param, ParamRole)) {
        visit_wb_mut(prefix, &mut self.weight, self.bias.as_mut(), f);
    }
}

impl Module for DepthwiseConv2d {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param, ParamRole)) {
        visit_wb(prefix, &self.weight, self.bias.as_ref(), f);
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param, ParamRole)) {
        visit_wb_mut(prefix, &mut self.weight, self.bias.as_mut(), f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testutil::check_grads;
    use inkling_autograd::gradcheck::{rand_tensor, Tol};
    use rand::SeedableRng;

    /// Which input channel (within the group) and tap `(ky, kx)` output channel `oc` picks.
    fn tap(oc: usize, cg: usize, kh: usize, kw: usize) -> (usize, usize, usize) {
        (oc % cg, oc % kh, oc / kh % kw)
    }

    /// Filters `[O, Cg, kh, kw]` that are 1 at [`tap`] and 0 elsewhere.
    fn one_hot(shape: &[usize]) -> Tensor {
        let [o, cg, kh, kw] = shape.try_into().unwrap();
        let mut w = Tensor::zeros(shape);
        for oc in 0..o {
            let (ci, ky, kx) = tap(oc, cg, kh, kw);
            w.data_mut()[((oc * cg + ci) * kh + ky) * kw + kx] = 1.0;
        }
        w
    }

    /// With [`one_hot`] filters, `y[n, o, i, j] = b[o] + x[n, g·cg + ci, i·sh + ky − ph, j·sw + kx
    /// − pw]` (0 outside the image): indexing, stride, padding and the group split checked
    /// without a convolution loop (autograd checks the op against one).
    fn check_shifted(x: &Tensor, y: &Tensor, w: &[usize], bias: Option<&Param>, spec: &Conv2dSpec) {
        let [n, c, h, wd] = x.shape().try_into().unwrap();
        let [o, cg, kh, kw] = w.try_into().unwrap();
        let (oh, ow) = (
            (h + 2 * spec.padding.0 - kh) / spec.stride.0 + 1,
            (wd + 2 * spec.padding.1 - kw) / spec.stride.1 + 1,
        );
        assert_eq!(y.shape(), [n, o, oh, ow]);
        for (idx, &got) in y.data().iter().enumerate() {
            let (ni, oc, i, j) = (
                idx / (o * oh * ow),
                idx / (oh * ow) % o,
                idx / ow % oh,
                idx % ow,
            );
            let (ci, ky, kx) = tap(oc, cg, kh, kw);
            let ch = oc / (o / spec.groups) * cg + ci;
            let iy = (i * spec.stride.0 + ky)
                .checked_sub(spec.padding.0)
                .filter(|&v| v < h);
            let ix = (j * spec.stride.1 + kx)
                .checked_sub(spec.padding.1)
                .filter(|&v| v < wd);
            let xv = match (iy, ix) {
                (Some(iy), Some(ix)) => x.data()[((ni * c + ch) * h + iy) * wd + ix],
                _ => 0.0,
            };
            let b = bias.map_or(0.0, |b| b.value().data()[oc]);
            approx::assert_abs_diff_eq!(got, xv + b, epsilon = 1e-6);
        }
    }

    #[test]
    fn conv2d_one_hot_filters_shift_the_input() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for (groups, stride, pad) in [(1, 1, 1), (2, 2, 0), (1, 2, 1), (3, 1, 2)] {
            let spec = Conv2dSpec {
                stride: (stride, stride + 1),
                padding: (pad, pad),
                groups,
            };
            let mut conv = Conv2d::new(6, 6, (3, 2), spec, true, &mut rng).unwrap();
            *conv.weight.value_mut() = one_hot(conv.weight.value().shape());
            let x = rand_tensor(&[2, 6, 7, 6], 2);
            let y = conv.forward(&x).unwrap();
            check_shifted(
                &x,
                &y,
                conv.weight.value().shape(),
                conv.bias.as_ref(),
                &conv.spec,
            );
        }
    }

    #[test]
    fn depthwise_one_hot_filters_shift_the_input() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for (k, stride, bias) in [(3, 1, true), (3, 2, false), (5, 1, true), (5, 2, true)] {
            let mut dw =
                DepthwiseConv2d::new(5, (k, k), (stride, stride), (k / 2, k / 2), bias, &mut rng)
                    .unwrap();
            *dw.weight.value_mut() = one_hot(dw.weight.value().shape());
            let x = rand_tensor(&[2, 5, 7, 6], 4);
            let y = dw.forward(&x).unwrap();
            check_shifted(
                &x,
                &y,
                dw.weight.value().shape(),
                dw.bias.as_ref(),
                &dw.spec,
            );
        }
    }

    #[test]
    fn gradcheck_conv_layers() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let spec = Conv2dSpec {
            stride: (2, 1),
            padding: (1, 1),
            groups: 1,
        };
        let mut conv = Conv2d::new(2, 3, (3, 2), spec, true, &mut rng).unwrap();
        let x = rand_tensor(&[2, 2, 5, 4], 6);
        assert_eq!(
            check_grads(&mut conv, &x, true, Tol::F32, |_| true, |l, x| l.forward(x)),
            2
        );
        for k in [3, 5] {
            let mut dw = DepthwiseConv2d::new(2, (k, k), (1, 1), (1, 1), true, &mut rng).unwrap();
            let x = rand_tensor(&[2, 2, 5, 5], 7);
            assert_eq!(
                check_grads(&mut dw, &x, true, Tol::F32, |_| true, |l, x| l.forward(x)),
                2
            );
        }
    }

    #[test]
    fn conv_rejects_bad_configs() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let spec = Conv2dSpec {
            stride: (1, 1),
            padding: (0, 0),
            groups: 2,
        };
        assert!(matches!(
            Conv2d::new(3, 4, (3, 3), spec, true, &mut rng),
            Err(Error::Config { .. })
        ));
        let spec = Conv2dSpec {
            stride: (0, 1),
            padding: (0, 0),
            groups: 1,
        };
        assert!(Conv2d::new(3, 4, (3, 3), spec, true, &mut rng).is_err());
        assert!(DepthwiseConv2d::new(3, (0, 3), (1, 1), (0, 0), true, &mut rng).is_err());
    }
}
