//! Row kernels: every SIMD table against the scalar twin, the scalar twins against f64 math, the
//! backward kernels against central differences, and the safe wrappers' shape errors.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const EPS: f64 = f32::EPSILON as f64;
const SIZES: [usize; 11] = [0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 100];

fn scalar() -> KernelSet {
    KernelSet::for_isa(Isa::Scalar).unwrap()
}

/// The SIMD tables this CPU can run; prints a skip line for the others.
fn simd_sets() -> Vec<KernelSet> {
    let mut out = Vec::new();
    for isa in [Isa::Avx2, Isa::Avx512Vnni, Isa::Neon, Isa::NeonDotprod] {
        match KernelSet::for_isa(isa) {
            Some(ks) => out.push(ks),
            None => eprintln!("skip: row kernels for {isa}: not available on this CPU"),
        }
    }
    out
}

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// `n` values uniform in [lo, hi], stored one element into a longer buffer so the slice is unaligned.
fn unaligned(rng: &mut StdRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n + 1).map(|_| rng.gen_range(lo..=hi)).collect()
}

/// Distance in units in the last place between two finite f32 of the same sign (or both zero).
fn ulps(a: f32, b: f32) -> u32 {
    if a == b {
        return 0;
    }
    let key = |v: f32| {
        let i = v.to_bits() as i32;
        if i < 0 {
            i32::MIN - i
        } else {
            i
        }
    };
    key(a).abs_diff(key(b))
}

fn assert_close(what: &str, got: f32, want: f32, tol: f64) {
    assert!(
        !got.is_nan() && (f64::from(got) - f64::from(want)).abs() <= tol,
        "{what}: got {got:e}, want {want:e} (tolerance {tol:e})"
    );
}

/// erfc(z), z ≥ 0, to about 1e-14 relative: a positive series below 2.5, a continued fraction above.
fn erfc_ref(z: f64) -> f64 {
    let sqrt_pi = std::f64::consts::PI.sqrt();
    if z < 2.5 {
        // erf(z) = 2/√π · e^(−z²) · Σ 2ⁿ z^(2n+1) / (1·3·…·(2n+1)), all terms positive.
        let (mut term, mut sum, mut k) = (z, z, 0.0);
        while term > 1e-18 * sum {
            k += 1.0;
            term *= 2.0 * z * z / (2.0 * k + 1.0);
            sum += term;
        }
        1.0 - 2.0 / sqrt_pi * (-z * z).exp() * sum
    } else {
        let mut f = z;
        for k in (1..=200).rev() {
            f = z + f64::from(k) / 2.0 / f;
        }
        (-z * z).exp() / (sqrt_pi * f)
    }
}

fn gelu_ref(x: f64) -> f64 {
    let z = x / std::f64::consts::SQRT_2;
    let cdf = if z >= 0.0 {
        1.0 - 0.5 * erfc_ref(z)
    } else {
        0.5 * erfc_ref(-z)
    };
    x * cdf
}

fn gelu_tanh_ref(x: f64) -> f64 {
    let u = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044_715 * x * x * x);
    0.5 * x * (1.0 + u.tanh())
}

fn gelu_inputs(rng: &mut StdRng, n: usize) -> Vec<f32> {
    let mut x = unaligned(rng, n, -9.0, 9.0);
    let special = [
        0.0, -0.0, 1e-30, -1e-30, -0.75, 20.0, -20.0, 1e4, -1e4, 1e30, -1e30,
    ];
    for (v, s) in x.iter_mut().skip(1).zip(special) {
        *v = s;
    }
    x
}

#[test]
fn exp_scalar_and_simd_match_f64_within_2_ulp() {
    let mut r = rng(1);
    let mut x: Vec<f32> = (0..4000).map(|_| r.gen_range(-87.0..88.0)).collect();
    x.extend([
        0.0, -0.0, 1e-8, -1e-8, 1.0, -1.0, 88.72, -87.33, 0.346_57, -0.346_57,
    ]);
    let mut sets = simd_sets();
    sets.push(scalar());
    for ks in sets {
        let mut y = x.clone();
        exp(&ks, &mut y);
        for (&xv, &yv) in x.iter().zip(&y) {
            let want = f64::from(xv).exp() as f32;
            let tol = if ks.isa == Isa::Scalar { 1 } else { 2 };
            assert!(
                ulps(yv, want) <= tol,
                "{}: exp({xv}) = {yv:e}, want {want:e}",
                ks.isa
            );
        }
    }
}

#[test]
fn exp_simd_matches_scalar_on_every_length_and_extreme_inputs() {
    let sc = scalar();
    let mut r = rng(2);
    for ks in simd_sets() {
        for n in SIZES {
            let buf = unaligned(&mut r, n, -100.0, 100.0);
            let (mut a, mut b) = (buf[1..].to_vec(), buf.clone());
            exp(&sc, &mut a);
            exp(&ks, &mut b[1..]);
            for (i, (&p, &q)) in a.iter().zip(&b[1..]).enumerate() {
                // Subnormal results lose relative precision: compare them absolutely.
                let ok = ulps(p, q) <= 2 || (p.abs() < f32::MIN_POSITIVE && (p - q).abs() <= 4e-45);
                assert!(ok, "{} n={n} i={i}: {q:e} vs scalar {p:e}", ks.isa);
            }
        }
        let mut x = vec![
            -1e30,
            -1000.0,
            -104.0,
            -103.0,
            -87.5,
            88.7,
            88.8,
            89.0,
            1000.0,
            1e30,
            f32::NEG_INFINITY,
            f32::INFINITY,
        ];
        exp(&ks, &mut x);
        assert_eq!(&x[..3], &[0.0, 0.0, 0.0], "{}: exp underflow", ks.isa);
        assert!(x[3] > 0.0 && x[3] < 1e-44 && x[4] > 0.0 && x[5].is_finite());
        assert!(x[6..10].iter().all(|v| *v == f32::INFINITY));
        assert_eq!((x[10], x[11]), (0.0, f32::INFINITY));
        let mut nan = [f32::NAN; 3];
        exp(&ks, &mut nan);
        assert!(
            nan.iter().all(|v| v.is_nan()),
            "{}: NaN must propagate",
            ks.isa
        );
    }
}

#[test]
fn gelu_scalar_is_within_2_ulp_of_f64_erf() {
    let sc = scalar();
    let x: Vec<f32> = (-1300..=1300).map(|i| i as f32 * 0.01 + 0.003).collect();
    let mut y = x.clone();
    gelu(&sc, &mut y);
    for (&xv, &yv) in x.iter().zip(&y) {
        let want = gelu_ref(f64::from(xv));
        let tol = 2.0 * EPS * want.abs() + 1e-44;
        assert_close(&format!("gelu({xv})"), yv, want as f32, tol);
    }
}

#[test]
fn gelu_derivatives_match_central_differences() {
    let sc = scalar();
    let h = 1e-4;
    let x: Vec<f32> = (-160..=160).map(|i| i as f32 * 0.05 + 0.001).collect();
    for (name, grad, f) in [
        ("gelu", sc.rows.gelu_grad, gelu_ref as fn(f64) -> f64),
        ("gelu_tanh", sc.rows.gelu_tanh_grad, gelu_tanh_ref),
    ] {
        let mut g = vec![1.0f32; x.len()];
        grad(&x, &mut g);
        for (&xv, &gv) in x.iter().zip(&g) {
            let xf = f64::from(xv);
            let fd = (f(xf + h) - f(xf - h)) / (2.0 * h);
            assert_close(
                &format!("{name}'({xv})"),
                gv,
                fd as f32,
                1e-6 * (1.0 + fd.abs()),
            );
        }
    }
}

#[test]
fn gelu_forms_simd_match_scalar() {
    let sc = scalar();
    let mut r = rng(3);
    for ks in simd_sets() {
        for n in SIZES {
            let x = gelu_inputs(&mut r, n);
            let xs = &x[1..];
            let (mut a, mut b) = (xs.to_vec(), x.clone());
            gelu(&sc, &mut a);
            gelu(&ks, &mut b[1..]);
            let (mut c, mut d) = (xs.to_vec(), x.clone());
            gelu_tanh(&sc, &mut c);
            gelu_tanh(&ks, &mut d[1..]);
            for i in 0..n {
                // f32 evaluation of e^(−x²/2) loses ~x²·ε relatively: GELU's own conditioning.
                let xf = f64::from(xs[i]).abs().min(30.0);
                let tol = (8.0 + 2.0 * xf * xf) * EPS * f64::from(a[i]).abs() + 1e-44;
                assert_close(&format!("{} gelu({})", ks.isa, xs[i]), b[i + 1], a[i], tol);
                let tol = (8.0 + 0.25 * xf.powi(3)) * EPS * f64::from(c[i]).abs() + 1e-44;
                assert_close(
                    &format!("{} gelu_tanh({})", ks.isa, xs[i]),
                    d[i + 1],
                    c[i],
                    tol,
                );
            }
        }
    }
}

#[test]
fn gelu_grads_simd_match_scalar() {
    let sc = scalar();
    let mut r = rng(4);
    for ks in simd_sets() {
        for n in SIZES {
            let x = gelu_inputs(&mut r, n);
            let xs = &x[1..];
            let g0 = unaligned(&mut r, n, -2.0, 2.0);
            for tanh in [false, true] {
                let (fs, fk) = if tanh {
                    (sc.rows.gelu_tanh_grad, ks.rows.gelu_tanh_grad)
                } else {
                    (sc.rows.gelu_grad, ks.rows.gelu_grad)
                };
                let mut a = g0[1..].to_vec();
                fs(xs, &mut a);
                let mut b = g0.clone();
                fk(xs, &mut b[1..]);
                for i in 0..n {
                    // Scale: the size of the terms that are summed, times the tail conditioning.
                    let xf = f64::from(xs[i]).abs().min(30.0);
                    let scale = f64::from(g0[i + 1]).abs() * (1.0 + xf * xf);
                    let tol = (16.0 + 2.0 * xf.powi(3)) * EPS * scale + 1e-40;
                    let what = format!("{} gelu_grad(tanh={tanh}, {})", ks.isa, xs[i]);
                    assert_close(&what, b[i + 1], a[i], tol);
                }
            }
        }
    }
}

/// Row inputs for softmax-like kernels: normal values, then rows with huge magnitudes.
fn row_inputs(rng: &mut StdRng, n: usize, case: usize) -> Vec<f32> {
    let span = [4.0, 80.0, 1e4, 1e30][case];
    unaligned(rng, n, -span, span)
}

#[test]
fn softmax_and_log_softmax_simd_match_scalar() {
    let sc = scalar();
    let mut r = rng(5);
    for ks in simd_sets() {
        for n in SIZES {
            for case in 0..4 {
                let x = row_inputs(&mut r, n, case);
                let mut a = x[1..].to_vec();
                (sc.rows.softmax)(&mut a);
                let mut b = x.clone();
                (ks.rows.softmax)(&mut b[1..]);
                for i in 0..n {
                    let tol = (8.0 + n as f64) * EPS * f64::from(a[i]) + 1e-44;
                    assert_close(&format!("{} softmax n={n}", ks.isa), b[i + 1], a[i], tol);
                }
                let mut a = x[1..].to_vec();
                (sc.rows.log_softmax)(&mut a);
                let mut b = x.clone();
                (ks.rows.log_softmax)(&mut b[1..]);
                let xmax = x[1..].iter().fold(0.0f32, |m, v| m.max(v.abs()));
                for i in 0..n {
                    let tol = (8.0 + n as f64) * EPS * (f64::from(xmax) + 1.0);
                    assert_close(
                        &format!("{} log_softmax n={n}", ks.isa),
                        b[i + 1],
                        a[i],
                        tol,
                    );
                }
            }
        }
    }
}

#[test]
fn softmax_rows_sum_to_one_without_nan_on_extreme_inputs() {
    let mut sets = simd_sets();
    sets.push(scalar());
    for ks in sets {
        let mut x = vec![
            3e38,
            -3e38,
            1e30,
            0.0,
            -1e30,
            88.0,
            -88.0,
            1000.0,
            f32::NEG_INFINITY,
        ];
        (ks.rows.softmax)(&mut x);
        assert!(x.iter().all(|v| v.is_finite() && *v >= 0.0), "{}", ks.isa);
        assert_eq!(x[0], 1.0, "{}: the max takes all the mass", ks.isa);
        let mut y = vec![-1e30f32; 17];
        y[16] = 1e30;
        (ks.rows.log_softmax)(&mut y);
        assert!(y.iter().all(|v| !v.is_nan()), "{}", ks.isa);
        assert_eq!(y[16], 0.0, "{}", ks.isa);
    }
}

fn softmax_f64(x: &[f64]) -> Vec<f64> {
    let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// Checks a kernel gradient `grad(x, w)` of `L(x) = Σ w·f(x)` against central differences in f64.
fn check_fd(what: &str, x: &[f32], grad: &[f32], loss: impl Fn(&[f64]) -> f64) {
    let h = 1e-5;
    let xf: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let gmax = grad.iter().fold(1e-3f64, |m, v| m.max(f64::from(v.abs())));
    for i in 0..x.len() {
        let (mut p, mut m) = (xf.clone(), xf.clone());
        p[i] += h;
        m[i] -= h;
        let fd = (loss(&p) - loss(&m)) / (2.0 * h);
        // The f32 kernel carries ~n·ε relative error; the difference quotient ~1e-9.
        let tol = 1e-5 * gmax * (1.0 + (x.len() as f64).sqrt());
        assert_close(&format!("{what} d/dx[{i}]"), grad[i], fd as f32, tol);
    }
}

#[test]
fn softmax_backwards_match_central_differences() {
    let mut r = rng(6);
    let mut sets = simd_sets();
    sets.push(scalar());
    for ks in sets {
        for n in [1, 7, 9, 17] {
            let x = unaligned(&mut r, n, -3.0, 3.0)[1..].to_vec();
            let w = unaligned(&mut r, n, -1.0, 1.0)[1..].to_vec();
            let wf: Vec<f64> = w.iter().map(|&v| f64::from(v)).collect();
            let mut y = x.clone();
            (ks.rows.softmax)(&mut y);
            let mut g = w.clone();
            (ks.rows.softmax_backward)(&y, &mut g);
            let loss = |x: &[f64]| softmax_f64(x).iter().zip(&wf).map(|(a, b)| a * b).sum();
            check_fd(&format!("{} softmax n={n}", ks.isa), &x, &g, loss);
            let mut y = x.clone();
            (ks.rows.log_softmax)(&mut y);
            let mut g = w.clone();
            (ks.rows.log_softmax_backward)(&y, &mut g);
            let loss = |x: &[f64]| {
                softmax_f64(x)
                    .iter()
                    .zip(&wf)
                    .map(|(a, b)| a.ln() * b)
                    .sum()
            };
            check_fd(&format!("{} log_softmax n={n}", ks.isa), &x, &g, loss);
        }
    }
}

#[test]
fn softmax_backwards_simd_match_scalar() {
    let sc = scalar();
    let mut r = rng(7);
    for ks in simd_sets() {
        for n in SIZES {
            let mut y = unaligned(&mut r, n, -2.0, 2.0)[1..].to_vec();
            (sc.rows.softmax)(&mut y);
            let g0 = unaligned(&mut r, n, -1.0, 1.0);
            for log in [false, true] {
                let (fs, fk) = if log {
                    (sc.rows.log_softmax_backward, ks.rows.log_softmax_backward)
                } else {
                    (sc.rows.softmax_backward, ks.rows.softmax_backward)
                };
                let yy: Vec<f32> = if log {
                    y.iter().map(|v| v.max(1e-30).ln()).collect()
                } else {
                    y.clone()
                };
                let mut a = g0[1..].to_vec();
                fs(&yy, &mut a);
                let mut b = g0.clone();
                fk(&yy, &mut b[1..]);
                for i in 0..n {
                    let tol = (8.0 + 2.0 * n as f64) * EPS * 2.0;
                    let what = format!("{} softmax_backward(log={log}) n={n}", ks.isa);
                    assert_close(&what, b[i + 1], a[i], tol);
                }
            }
        }
    }
}

fn layer_norm_f64(x: &[f64], gamma: &[f32], beta: &[f32], eps: f64) -> Vec<f64> {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let rstd = 1.0 / (var + eps).sqrt();
    x.iter()
        .zip(gamma.iter().zip(beta))
        .map(|(v, (g, b))| (v - mean) * rstd * f64::from(*g) + f64::from(*b))
        .collect()
}

#[test]
fn layer_norm_simd_matches_scalar() {
    let sc = scalar();
    let mut r = rng(8);
    for ks in simd_sets() {
        for n in SIZES.into_iter().filter(|&n| n > 0) {
            for offset in [0.0f32, 100.0] {
                let x: Vec<f32> = unaligned(&mut r, n, -2.0, 2.0)
                    .iter()
                    .map(|v| v + offset)
                    .collect();
                let gamma = unaligned(&mut r, n, -1.5, 1.5);
                let beta = unaligned(&mut r, n, -1.0, 1.0);
                let mut a = vec![0.0; n];
                let sa = (sc.rows.layer_norm)(&x[1..], &gamma[1..], &beta[1..], 1e-5, &mut a);
                let mut b = vec![f32::NAN; n + 1];
                let sb = (ks.rows.layer_norm)(&x[1..], &gamma[1..], &beta[1..], 1e-5, &mut b[1..]);
                // Mean and variance carry ~n·ε relative error, amplified by |mean|/std in x − mean.
                let k = (16.0 + n as f64) * EPS * (1.0 + f64::from(offset));
                assert_close(
                    "mean",
                    sb.mean,
                    sa.mean,
                    k * f64::from(sa.mean.abs()) + 1e-6,
                );
                assert_close("rstd", sb.rstd, sa.rstd, k * f64::from(sa.rstd) * 100.0);
                for i in 0..n {
                    let xhat = f64::from((x[i + 1] - sa.mean) * sa.rstd).abs();
                    let tol = k * (f64::from(gamma[i + 1].abs()) * (xhat + 1.0) + 1.0) * 10.0;
                    assert_close(&format!("{} layer_norm n={n}", ks.isa), b[i + 1], a[i], tol);
                }
            }
        }
    }
}

#[test]
fn layer_norm_backward_matches_central_differences_and_accumulates() {
    let mut r = rng(9);
    let mut sets = simd_sets();
    sets.push(scalar());
    for ks in sets {
        for n in [1, 2, 7, 9, 17] {
            let x = unaligned(&mut r, n, -2.0, 2.0)[1..].to_vec();
            let gamma = unaligned(&mut r, n, -1.5, 1.5)[1..].to_vec();
            let beta = unaligned(&mut r, n, -1.0, 1.0)[1..].to_vec();
            let w = unaligned(&mut r, n, -1.0, 1.0)[1..].to_vec();
            let eps = 1e-3;
            let mut y = vec![0.0; n];
            let stats = (ks.rows.layer_norm)(&x, &gamma, &beta, eps, &mut y);
            let (mut dx, mut dgamma, mut dbeta) = (vec![f32::NAN; n], vec![0.5; n], vec![0.25; n]);
            (ks.rows.layer_norm_backward)(&x, &gamma, stats, &w, &mut dx, &mut dgamma, &mut dbeta);
            let loss = |x: &[f64]| -> f64 {
                let y = layer_norm_f64(x, &gamma, &beta, f64::from(eps));
                y.iter().zip(&w).map(|(a, b)| a * f64::from(*b)).sum()
            };
            check_fd(&format!("{} layer_norm n={n}", ks.isa), &x, &dx, loss);
            // dγ = Σ dy·x̂ and dβ = Σ dy, added to what was there.
            let xf: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
            let mean = xf.iter().sum::<f64>() / n as f64;
            let var = xf.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            for i in 0..n {
                let xhat = (xf[i] - mean) / (var + f64::from(eps)).sqrt();
                let want = 0.5 + f64::from(w[i]) * xhat;
                assert_close("dgamma", dgamma[i], want as f32, 1e-5 * (1.0 + want.abs()));
                assert_close("dbeta", dbeta[i], 0.25 + w[i], 1e-6);
            }
        }
    }
}

#[test]
fn layer_norm_backward_simd_matches_scalar() {
    let sc = scalar();
    let mut r = rng(10);
    for ks in simd_sets() {
        for n in SIZES.into_iter().filter(|&n| n > 0) {
            let x = unaligned(&mut r, n, -2.0, 2.0);
            let gamma = unaligned(&mut r, n, -1.5, 1.5);
            let dy = unaligned(&mut r, n, -1.0, 1.0);
            let acc = unaligned(&mut r, n, -1.0, 1.0);
            let mut y = vec![0.0; n];
            let stats = (sc.rows.layer_norm)(&x[1..], &gamma[1..], &gamma[1..], 1e-5, &mut y);
            let mut outs = Vec::new();
            for set in [&sc, &ks] {
                let (mut dx, mut dg, mut db) = (vec![0.0; n + 1], acc.clone(), acc.clone());
                (set.rows.layer_norm_backward)(
                    &x[1..],
                    &gamma[1..],
                    stats,
                    &dy[1..],
                    &mut dx[1..],
                    &mut dg[1..],
                    &mut db[1..],
                );
                outs.push((dx, dg, db));
            }
            let tol = (16.0 + 4.0 * n as f64) * EPS * 4.0 * f64::from(stats.rstd);
            for i in 1..=n {
                let what = format!("{} layer_norm_backward n={n}", ks.isa);
                assert_close(&what, outs[1].0[i], outs[0].0[i], tol);
                assert_close(&what, outs[1].1[i], outs[0].1[i], 8.0 * EPS * 4.0);
                assert_eq!(outs[1].2[i], outs[0].2[i], "{what}: dbeta");
            }
        }
    }
}

#[test]
fn reductions_simd_match_scalar() {
    let sc = scalar();
    let mut r = rng(11);
    for ks in simd_sets() {
        for n in SIZES.into_iter().chain([64, 65, 1000]) {
            let x = unaligned(&mut r, n, -3.0, 3.0);
            let xs = &x[1..];
            let abs: f64 = xs.iter().map(|v| f64::from(v.abs())).sum();
            let tol = n as f64 * EPS * abs + 1e-30;
            assert_close("sum", (ks.rows.sum)(xs), (sc.rows.sum)(xs), tol);
            let sq: f64 = xs.iter().map(|v| f64::from(v * v)).sum();
            let tol = n as f64 * EPS * sq + 1e-30;
            assert_close("sum_sq", (ks.rows.sum_sq)(xs), (sc.rows.sum_sq)(xs), tol);
            assert_eq!((ks.rows.max)(xs), (sc.rows.max)(xs), "{} max n={n}", ks.isa);
        }
        assert_eq!((ks.rows.max)(&[]), f32::NEG_INFINITY);
        assert_eq!((ks.rows.max)(&[-1e38, -3e38]), -1e38);
    }
}

#[test]
fn quantize_rounds_half_to_even_and_clamps() {
    let mut sets = simd_sets();
    sets.push(scalar());
    for ks in sets {
        // scale 0.5 (inverse exactly 2): x·2 lands exactly on the ties.
        let x = [
            0.25,
            0.75,
            1.25,
            -0.25,
            -0.75,
            -1.25,
            63.25,
            63.75,
            -64.25,
            1e30,
            -1e30,
            f32::NAN,
        ];
        let want: [i8; 12] = [0, 2, 2, 0, -2, -2, 126, 127, -128, 127, -128, -128];
        let mut q = [0i8; 12];
        quantize(&ks, &x, 0.5, 0, &mut q).unwrap();
        assert_eq!(q, want, "{}", ks.isa);
        // With a zero point the clamp is on q, not on the scaled value.
        let x = [60.0, 58.75, -60.0, -69.25, -69.0];
        let mut q = [0i8; 5];
        quantize(&ks, &x, 0.5, 10, &mut q).unwrap();
        assert_eq!(q, [127, 127, -110, -128, -128], "{}", ks.isa);
    }
}

#[test]
fn quantize_and_dequantize_simd_match_scalar_exactly() {
    let sc = scalar();
    let mut r = rng(12);
    for ks in simd_sets() {
        for n in SIZES.into_iter().chain([32, 63, 64, 65]) {
            for (scale, zp) in [(0.5f32, 0), (0.023_7, -3), (0.1, 127), (0.01, -128)] {
                let mut x = unaligned(&mut r, n, -4.0, 4.0);
                // Put exact ties and out-of-range values in.
                for (i, v) in x.iter_mut().enumerate().skip(1).step_by(5) {
                    *v = (i as f32 - 40.5) * scale;
                }
                let (mut a, mut b) = (vec![0i8; n], vec![0i8; n + 1]);
                quantize(&sc, &x[1..], scale, zp, &mut a).unwrap();
                quantize(&ks, &x[1..], scale, zp, &mut b[1..]).unwrap();
                assert_eq!(
                    a,
                    &b[1..],
                    "{} quantize n={n} scale={scale} zp={zp}",
                    ks.isa
                );
                let (mut fa, mut fb) = (vec![0.0f32; n], vec![0.0f32; n + 1]);
                dequantize(&sc, &a, scale, zp, &mut fa).unwrap();
                dequantize(&ks, &b[1..], scale, zp, &mut fb[1..]).unwrap();
                assert_eq!(fa, &fb[1..], "{} dequantize n={n}", ks.isa);
            }
        }
        let all: Vec<i8> = (-128..=127).collect();
        let (mut a, mut b) = (vec![0.0; 256], vec![0.0; 256]);
        dequantize(&sc, &all, 0.037, 5, &mut a).unwrap();
        dequantize(&ks, &all, 0.037, 5, &mut b).unwrap();
        assert_eq!(a, b, "{}", ks.isa);
        assert_eq!(a[0], (-133.0f32) * 0.037);
    }
}

#[test]
fn safe_wrappers_reject_bad_shapes() {
    let ks = scalar();
    let mut x = vec![0.0f32; 12];
    let mut g = vec![0.0f32; 11];
    assert!(gelu_backward(&ks, &x, &mut g).is_err());
    assert!(gelu_tanh_backward(&ks, &x, &mut g).is_err());
    assert!(softmax(&ks, Rows::new(3, 5), &mut x).is_err());
    assert!(softmax(&ks, Rows::new(usize::MAX, 2), &mut x).is_err());
    assert!(softmax(&ks, Rows::new(3, 4), &mut x).is_ok());
    assert!(softmax(&ks, Rows::new(0, 0), &mut []).is_ok());
    assert!(softmax_backward(&ks, Rows::new(3, 4), &x, &mut g).is_err());
    assert!(log_softmax(&ks, Rows::new(4, 4), &mut x).is_err());
    assert!(log_softmax_backward(&ks, Rows::new(1, 12), &x, &mut g).is_err());
    let mut out = vec![0.0; 3];
    assert!(row_sums(&ks, Rows::new(3, 4), &x, &mut out).is_ok());
    assert!(row_sums(&ks, Rows::new(4, 3), &x, &mut out).is_err());
    assert!(row_sums_sq(&ks, Rows::new(2, 6), &x, &mut out).is_err());
    assert!(row_max(&ks, Rows::new(3, 0), &[], &mut out).is_ok());
    assert_eq!(out, [f32::NEG_INFINITY; 3]);

    let p = LayerNorm {
        shape: Rows::new(3, 4),
        eps: 1e-5,
    };
    let (gamma, beta) = (vec![1.0; 4], vec![0.0; 4]);
    let mut y = vec![0.0; 12];
    let mut stats = vec![RowStats::default(); 3];
    assert!(layer_norm(&ks, &p, &x, &gamma, &beta, &mut y, Some(&mut stats)).is_ok());
    assert!(layer_norm(&ks, &p, &x, &gamma[..3], &beta, &mut y, None).is_err());
    assert!(layer_norm(&ks, &p, &x, &gamma, &beta, &mut y[..11], None).is_err());
    assert!(layer_norm(&ks, &p, &x, &gamma, &beta, &mut y, Some(&mut stats[..2])).is_err());
    let zero = LayerNorm {
        shape: Rows::new(3, 0),
        eps: 1e-5,
    };
    assert!(layer_norm(&ks, &zero, &[], &[], &[], &mut [], None).is_err());
    let nan_eps = LayerNorm { eps: f32::NAN, ..p };
    assert!(layer_norm(&ks, &nan_eps, &x, &gamma, &beta, &mut y, None).is_err());
    let (mut dx, mut dg, mut db) = (vec![0.0; 12], vec![0.0; 4], vec![0.0; 4]);
    let ok = layer_norm_backward(
        &ks,
        &p,
        &x,
        &gamma,
        &stats,
        &y,
        LayerNormGrads {
            dx: &mut dx,
            dgamma: &mut dg,
            dbeta: &mut db,
        },
    );
    assert!(ok.is_ok());
    let bad = layer_norm_backward(
        &ks,
        &p,
        &x,
        &gamma,
        &stats,
        &y,
        LayerNormGrads {
            dx: &mut dx,
            dgamma: &mut dg[..3],
            dbeta: &mut db,
        },
    );
    assert!(bad.is_err());

    let mut q = vec![0i8; 12];
    assert!(quantize(&ks, &x, 0.1, 0, &mut q[..11]).is_err());
    assert!(quantize(&ks, &x, 0.0, 0, &mut q).is_err());
    assert!(quantize(&ks, &x, f32::NAN, 0, &mut q).is_err());
    assert!(quantize(&ks, &x, 1e-45, 0, &mut q).is_err());
    assert!(quantize(&ks, &x, 0.1, 128, &mut q).is_err());
    assert!(dequantize(&ks, &q, 0.1, -129, &mut x).is_err());
    assert!(dequantize(&ks, &q[..5], 0.1, 0, &mut x).is_err());
    assert!(dequantize(&ks, &q, 0.1, 0, &mut x).is_ok());
}

/// GELU′ in f64 from the series/continued-fraction erfc above.
fn gelu_grad_ref(x: f64) -> f64 {
    let z = x / std::f64::consts::SQRT_2;
    let cdf = if z >= 0.0 {
        1.0 - 0.5 * erfc_ref(z)
    } else {
        0.5 * erfc_ref(-z)
    };
    cdf + x * (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// The AVX2 erf-GELU (Φ(−|x|) = e^(−x²/2)·½erfcx, exp and erfcx both relative) against f64 on
/// [−10, 10]: GELU within 6 ulp of itself, GELU′ within 4 ulp of |Φ| + |xφ| (the sum cancels near
/// x ≈ −0.75). Measured: 3.3 and 2.6 ulp. NEON keeps the erfc-polynomial form, checked only against
/// the scalar twin above.
#[test]
fn gelu_avx2_matches_f64_erf_on_a_dense_grid() {
    let n = 200_001;
    let x: Vec<f32> = (0..n)
        .map(|i| (-10.0 + 20.0 * i as f64 / (n - 1) as f64) as f32)
        .collect();
    for ks in simd_sets() {
        if !matches!(ks.isa, Isa::Avx2 | Isa::Avx512Vnni) {
            continue;
        }
        let mut y = x.clone();
        gelu(&ks, &mut y);
        let mut d = vec![1.0f32; n];
        (ks.rows.gelu_grad)(&x, &mut d);
        let (mut fwd, mut bwd) = (0.0f64, 0.0f64);
        for i in 0..n {
            let xf = f64::from(x[i]);
            let pdf = (-0.5 * xf * xf).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let (want, dwant) = (gelu_ref(xf), gelu_grad_ref(xf));
            let cdf = dwant - xf * pdf;
            let ef = (f64::from(y[i]) - want).abs();
            let eg = (f64::from(d[i]) - dwant).abs() / (cdf + xf.abs() * pdf);
            if want != 0.0 {
                fwd = fwd.max(ef / want.abs());
            }
            bwd = bwd.max(eg);
            assert!(
                ef <= 6.0 * EPS * want.abs(),
                "{} gelu({xf}): {} vs {want}",
                ks.isa,
                y[i]
            );
            assert!(
                eg <= 4.0 * EPS,
                "{} gelu'({xf}): {} vs {dwant}",
                ks.isa,
                d[i]
            );
        }
        eprintln!(
            "{}: gelu within {:.2} ulp, gelu' within {:.2} ulp of |Φ| + |xφ|",
            ks.isa,
            fwd / EPS,
            bwd / EPS
        );
    }
}

#[test]
fn gelu_avx2_limits_and_nan() {
    for ks in simd_sets() {
        if !matches!(ks.isa, Isa::Avx2 | Isa::Avx512Vnni) {
            continue;
        }
        let x = [
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1e30,
            -1e30,
            20.5,
            -20.5,
            0.0,
        ];
        let mut y = x;
        gelu(&ks, &mut y);
        assert_eq!(y[0], f32::INFINITY, "{}", ks.isa);
        assert_eq!(y[1], 0.0, "{}", ks.isa);
        assert!(y[2].is_nan(), "{}: NaN must propagate", ks.isa);
        assert_eq!(&y[3..], [1e30, 0.0, 20.5, 0.0, 0.0], "{}", ks.isa);
        let mut g = [2.0f32; 8];
        (ks.rows.gelu_grad)(&x, &mut g);
        assert_eq!((g[0], g[1]), (2.0, 0.0), "{}", ks.isa);
        assert!(g[2].is_nan(), "{}: NaN must propagate", ks.isa);
        assert_eq!(&g[3..7], [2.0, 0.0, 2.0, 0.0], "{}", ks.isa);
        assert_close(&format!("{} gelu'(0)", ks.isa), g[7], 1.0, 2.0 * EPS);
    }
}

/// The documented relative-error bound of each table's estimate, plus the reference's own rounding.
fn rsqrt_bound(isa: Isa) -> f64 {
    let hw = match isa {
        Isa::Avx512Vnni => 2f64.powi(-14),             // vrsqrt14ps
        Isa::Avx2 => 1.5 * 2f64.powi(-12),             // vrsqrtps
        Isa::Neon | Isa::NeonDotprod => 2f64.powi(-7), // frsqrte: ~8 bits; not run on ARM here
        Isa::Scalar => 0.0,
    };
    hw + EPS
}

/// Positive normal f32 across the whole exponent range, one element into the buffer (unaligned).
fn rsqrt_inputs(r: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n + 1)
        .map(|_| r.gen_range(1.0f32..2.0) * 2f32.powi(r.gen_range(-126..=127)))
        .collect()
}

#[test]
fn rsqrt_estimate_simd_within_its_bound_of_scalar() {
    let sc = scalar();
    let mut r = rng(20);
    let lens = SIZES
        .into_iter()
        .chain([2, 3, 5, 13, 32, 47, 48, 49, 63, 64, 65, 97, 1031]);
    for n in lens {
        let x = rsqrt_inputs(&mut r, n);
        let mut want = vec![0.0; n];
        rsqrt_estimate(&sc, &x[1..], &mut want).unwrap();
        for (&v, &w) in x[1..].iter().zip(&want) {
            let exact = 1.0 / f64::from(v).sqrt();
            assert!(
                (f64::from(w) - exact).abs() <= EPS / 2.0 * exact,
                "scalar 1/√{v:e}: {w:e}"
            );
        }
        for ks in simd_sets() {
            let mut got = vec![f32::NAN; n + 1];
            rsqrt_estimate(&ks, &x[1..], &mut got[1..]).unwrap();
            let bound = rsqrt_bound(ks.isa);
            for i in 0..n {
                let (g, w) = (f64::from(got[i + 1]), f64::from(want[i]));
                assert!(
                    (g - w).abs() <= bound * w,
                    "{} n={n} x={:e}: {g:e} vs {w:e} (rel {:e} > {bound:e})",
                    ks.isa,
                    x[i + 1],
                    (g - w).abs() / w
                );
            }
        }
    }
}

#[test]
fn rsqrt_estimate_tail_elements_take_the_body_instruction() {
    // Each element alone (all tail) must give the bits it gets inside a full vector.
    let mut r = rng(21);
    let x = rsqrt_inputs(&mut r, 67);
    for ks in simd_sets().into_iter().chain([scalar()]) {
        let mut all = vec![0.0; x.len()];
        rsqrt_estimate(&ks, &x, &mut all).unwrap();
        for (i, &v) in x.iter().enumerate() {
            let mut one = [0.0];
            rsqrt_estimate(&ks, &[v], &mut one).unwrap();
            assert_eq!(one[0].to_bits(), all[i].to_bits(), "{} x={v:e}", ks.isa);
        }
    }
}

#[test]
fn rsqrt_estimate_special_values() {
    let x = [
        0.0,
        -0.0,
        f32::INFINITY,
        -1.0,
        -f32::INFINITY,
        f32::NAN,
        1.0,
        4.0,
    ];
    for ks in simd_sets().into_iter().chain([scalar()]) {
        let mut y = [0.0; 8];
        rsqrt_estimate(&ks, &x, &mut y).unwrap();
        assert_eq!(y[0], f32::INFINITY, "{}", ks.isa);
        assert_eq!(y[1], f32::NEG_INFINITY, "{}", ks.isa);
        assert_eq!(y[2].to_bits(), 0, "{} +∞ → +0", ks.isa);
        assert!(
            y[3].is_nan() && y[4].is_nan() && y[5].is_nan(),
            "{}: {y:?}",
            ks.isa
        );
        let tol = rsqrt_bound(ks.isa);
        assert!((f64::from(y[6]) - 1.0).abs() <= tol, "{}: {}", ks.isa, y[6]);
        assert!(
            (f64::from(y[7]) - 0.5).abs() <= tol * 0.5,
            "{}: {}",
            ks.isa,
            y[7]
        );
    }
    let mut out = [0.0; 2];
    assert!(rsqrt_estimate(&scalar(), &x, &mut out).is_err());
    assert!(rsqrt_estimate(&scalar(), &[], &mut []).is_ok());
}
