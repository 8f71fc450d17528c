//! Gradient checks through whole layers: the input's and every trainable parameter's analytic
//! gradient against central differences of `L = Σ f(m, x)·r`, the loss summed in f64.

use inkling_autograd::gradcheck::{rand_tensor, Tol};
use inkling_autograd::{clear_tape, no_grad, Result, Tensor};

use crate::{Module, ParamRole};

/// Sets element `j` of the `k`-th parameter (visit order) to `g(old)`; returns the old value.
fn update<M: Module>(m: &mut M, k: usize, j: usize, g: &dyn Fn(f32) -> f32) -> f32 {
    let (mut i, mut old) = (0, 0.0);
    m.visit_mut("", &mut |_, p, _| {
        if i == k {
            let d = &mut p.value_mut().data_mut()[j];
            old = *d;
            *d = g(old);
        }
        i += 1;
    });
    old
}

/// Worst excess of `|a − n|` over the tolerance, as (excess, index, analytic, numeric).
fn compare(
    analytic: &Tensor,
    tol: Tol,
    mut numeric: impl FnMut(usize) -> f64,
) -> (f64, usize, f64, f64) {
    let mut worst = (f64::NEG_INFINITY, 0, 0.0, 0.0);
    for (j, &a) in analytic.data().iter().enumerate() {
        let n = numeric(j);
        let a = a as f64;
        let excess = (a - n).abs() - (tol.atol + tol.rtol * a.abs().max(n.abs()));
        if excess > worst.0 {
            worst = (excess, j, a, n);
        }
    }
    worst
}

/// Checks the gradient of `x` (when `check_x`) and of every trainable parameter whose name
/// `select` accepts; panics naming the worst element. Returns how many parameters were checked.
pub(crate) fn check_grads<M: Module>(
    m: &mut M,
    x: &Tensor,
    check_x: bool,
    tol: Tol,
    select: impl Fn(&str) -> bool,
    f: impl Fn(&mut M, &Tensor) -> Result<Tensor>,
) -> usize {
    clear_tape();
    let xt = if check_x {
        x.detach().requires_grad()
    } else {
        x.detach()
    };
    let y = f(m, &xt).expect("forward");
    let r = rand_tensor(y.shape(), 0x5eed);
    let grads = y.backward_with(r.clone()).expect("backward");
    let loss = |m: &mut M, x: &Tensor| {
        let y = no_grad(|| f(m, x)).expect("forward");
        let terms = y.data().iter().zip(r.data());
        terms.map(|(&y, &r)| y as f64 * r as f64).sum::<f64>()
    };
    let h = tol.eps as f64;
    if check_x {
        let analytic = grads.wrt(&xt).expect("the input received no gradient");
        assert_eq!(analytic.shape(), x.shape());
        let (excess, j, a, n) = compare(analytic, tol, |j| {
            let mut probe = x.detach();
            probe.data_mut()[j] += tol.eps;
            let up = loss(m, &probe);
            probe.data_mut()[j] -= 2.0 * tol.eps;
            (up - loss(m, &probe)) / (2.0 * h)
        });
        assert!(
            excess <= 0.0,
            "input element {j}: analytic {a} vs numeric {n}"
        );
    }
    let mut params = Vec::new();
    m.visit("", &mut |name, p, role| {
        params.push((
            name.to_string(),
            p.id(),
            role != ParamRole::Buffer && select(name),
        ));
    });
    let mut checked = 0;
    for (k, (name, id, wanted)) in params.into_iter().enumerate() {
        if !wanted {
            continue;
        }
        let analytic = grads
            .param(id)
            .unwrap_or_else(|| panic!("{name} received no gradient"))
            .clone();
        let (excess, j, a, n) = compare(&analytic, tol, |j| {
            let orig = update(m, k, j, &|v| v + tol.eps);
            let up = loss(m, x);
            update(m, k, j, &|_| orig - tol.eps);
            let down = loss(m, x);
            update(m, k, j, &|_| orig);
            (up - down) / (2.0 * h)
        });
        assert!(
            excess <= 0.0,
            "{name} element {j}: analytic {a} vs numeric {n}"
        );
        checked += 1;
    }
    checked
}

/// `"name:Role"` for every parameter `m` visits under `prefix`, in visit order.
pub(crate) fn names_and_roles(m: &dyn Module, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    m.visit(prefix, &mut |n, _, r| out.push(format!("{n}:{r:?}")));
    out
}

/// Whether every element of `p` equals `v`.
pub(crate) fn all_equal(p: Option<&inkling_autograd::Param>, v: f32) -> bool {
    p.is_some_and(|p| p.value().data().iter().all(|&x| x == v))
}

/// A block's parameters with their roles, in visit order (timm's state-dict order).
pub(crate) const BLOCK_PARAMS: [&str; 12] = [
    "norm1.weight:NoDecay",
    "norm1.bias:NoDecay",
    "attn.qkv.weight:Weight",
    "attn.qkv.bias:NoDecay",
    "attn.proj.weight:Weight",
    "attn.proj.bias:NoDecay",
    "norm2.weight:NoDecay",
    "norm2.bias:NoDecay",
    "mlp.fc1.weight:Weight",
    "mlp.fc1.bias:NoDecay",
    "mlp.fc2.weight:Weight",
    "mlp.fc2.bias:NoDecay",
];
