//! Convolution helpers: output sizes and their errors, im2col against a direct convolution, col2im
//! as the adjoint of im2col, depthwise forward/backward against naive loops for every table, and the
//! SIMD plane kernels against the scalar twin.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::KernelSet;

const EPS: f64 = f32::EPSILON as f64;

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn rand_vec(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-1.0..=1.0)).collect()
}

/// Every table this CPU has, scalar first; prints a skip line for the others.
fn all_sets() -> Vec<KernelSet> {
    let mut out = Vec::new();
    for isa in Isa::ALL {
        match KernelSet::for_isa(isa) {
            Some(ks) => out.push(ks),
            None => eprintln!("skip: conv kernels for {isa}: not available on this CPU"),
        }
    }
    out
}

#[test]
fn out_size_formula_and_errors() {
    assert_eq!(conv_out_size(5, 3, 1, 1, 1, 1).unwrap(), 5);
    assert_eq!(conv_out_size(5, 3, 2, 1, 1, 1).unwrap(), 3);
    assert_eq!(conv_out_size(224, 3, 2, 0, 1, 1).unwrap(), 112);
    assert_eq!(conv_out_size(7, 3, 1, 0, 0, 2).unwrap(), 3);
    assert_eq!(conv_out_size(3, 3, 5, 0, 0, 1).unwrap(), 1);
    assert_eq!(conv_out_size(1, 3, 1, 1, 1, 1).unwrap(), 1);
    for (i, k, s, pb, pa, d) in [
        (5, 3, 0, 0, 0, 1),
        (5, 3, 1, 0, 0, 0),
        (5, 0, 1, 0, 0, 1),
        (0, 1, 1, 1, 1, 1),
        (2, 3, 1, 0, 0, 1),
        (5, 3, 1, 0, 0, 3),
        (5, 3, 1, usize::MAX, 1, 1),
        (5, usize::MAX, 1, 0, 0, 2),
    ] {
        let e = conv_out_size(i, k, s, pb, pa, d);
        assert!(e.is_err(), "{:?} should fail", (i, k, s, pb, pa, d));
    }
    let msg = conv_out_size(2, 3, 1, 0, 0, 1).unwrap_err().to_string();
    assert!(msg.contains("padded input"), "{msg}");
    let g = Conv2dGeometry::new(2, 5, 7, 3, 3)
        .stride(2, 1)
        .pad_tlbr(0, 1, 1, 1);
    assert_eq!(g.out_size().unwrap(), (2, 7));
    assert_eq!(g.col_rows().unwrap(), 18);
    assert_eq!(g.col_len().unwrap(), 18 * 14);
    assert!(Conv2dGeometry::new(usize::MAX, 2, 2, 3, 3)
        .pad(1)
        .col_len()
        .is_err());
}

/// Direct convolution `out[co, oy, ox] = Σ w[co, c, ky, kx]·x[c, iy, ix]` in f64.
fn conv_naive(g: &Conv2dGeometry, x: &[f32], w: &[f32], cout: usize) -> Vec<f64> {
    let (oh, ow) = g.out_size().unwrap();
    let (kh, kw) = g.kernel;
    let mut out = vec![0.0; cout * oh * ow];
    for co in 0..cout {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = 0.0;
                for c in 0..g.channels {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy =
                                (oy * g.stride.0 + ky * g.dilation.0) as isize - g.pad[0] as isize;
                            let ix =
                                (ox * g.stride.1 + kx * g.dilation.1) as isize - g.pad[1] as isize;
                            if iy < 0 || ix < 0 || iy >= g.height as isize || ix >= g.width as isize
                            {
                                continue;
                            }
                            let xv = x[(c * g.height + iy as usize) * g.width + ix as usize];
                            let wv = w[((co * g.channels + c) * kh + ky) * kw + kx];
                            acc += f64::from(wv) * f64::from(xv);
                        }
                    }
                }
                out[(co * oh + oy) * ow + ox] = acc;
            }
        }
    }
    out
}

fn geometries() -> Vec<Conv2dGeometry> {
    let mut out = Vec::new();
    for (c, h, w) in [(1, 1, 1), (2, 5, 4), (3, 8, 9), (1, 2, 7)] {
        for (kh, kw) in [(1, 1), (3, 3), (2, 3), (5, 5)] {
            for (sh, sw) in [(1, 1), (2, 2), (3, 1)] {
                for pad in [[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 1, 2], [2, 0, 2, 0]] {
                    for (dh, dw) in [(1, 1), (2, 2), (1, 2)] {
                        out.push(Conv2dGeometry {
                            channels: c,
                            height: h,
                            width: w,
                            kernel: (kh, kw),
                            stride: (sh, sw),
                            pad,
                            dilation: (dh, dw),
                        });
                    }
                }
            }
        }
    }
    out
}

#[test]
fn im2col_times_weights_equals_direct_convolution() {
    let mut r = rng(1);
    let (mut valid, mut invalid) = (0, 0);
    for g in geometries() {
        let mut x = rand_vec(&mut r, g.input_len().unwrap());
        let Ok((oh, ow)) = g.out_size() else {
            invalid += 1;
            let mut cols = vec![0.0; 4];
            assert!(im2col(&g, &x, &mut cols).is_err());
            assert!(col2im(&g, &cols, &mut x).is_err());
            continue;
        };
        valid += 1;
        let k = g.col_rows().unwrap();
        let cout = 2;
        let w = rand_vec(&mut r, cout * k);
        let mut cols = vec![f32::NAN; g.col_len().unwrap()];
        im2col(&g, &x, &mut cols).unwrap();
        let want = conv_naive(&g, &x, &w, cout);
        let n = oh * ow;
        for co in 0..cout {
            for j in 0..n {
                let got: f64 = (0..k)
                    .map(|l| f64::from(w[co * k + l]) * f64::from(cols[l * n + j]))
                    .sum();
                let tol = 1e-12 * (1.0 + want[co * n + j].abs());
                assert!((got - want[co * n + j]).abs() <= tol, "{g:?} co={co} j={j}");
            }
        }
    }
    assert!(
        valid > 300 && invalid > 50,
        "{valid} valid, {invalid} invalid"
    );
}

#[test]
fn col2im_is_the_adjoint_of_im2col_and_accumulates() {
    let mut r = rng(2);
    for g in geometries() {
        if g.out_size().is_err() {
            continue;
        }
        let x = rand_vec(&mut r, g.input_len().unwrap());
        let y = rand_vec(&mut r, g.col_len().unwrap());
        let mut cols = vec![0.0; y.len()];
        im2col(&g, &x, &mut cols).unwrap();
        let x0 = rand_vec(&mut r, x.len());
        let mut back = x0.clone();
        col2im(&g, &y, &mut back).unwrap();
        let lhs: f64 = cols
            .iter()
            .zip(&y)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum();
        let rhs: f64 = x
            .iter()
            .zip(back.iter().zip(&x0))
            .map(|(a, (b, b0))| f64::from(*a) * (f64::from(*b) - f64::from(*b0)))
            .sum();
        let scale: f64 = y.iter().map(|v| f64::from(v.abs())).sum::<f64>() + 1.0;
        assert!((lhs - rhs).abs() <= 1e-5 * scale, "{g:?}: {lhs} vs {rhs}");
    }
}

#[test]
fn im2col_rejects_wrong_lengths() {
    let g = Conv2dGeometry::new(2, 4, 4, 3, 3).pad(1);
    let (x, mut cols) = (vec![0.0; 32], vec![0.0; 18 * 16]);
    assert!(im2col(&g, &x, &mut cols).is_ok());
    assert!(im2col(&g, &x[..31], &mut cols).is_err());
    assert!(im2col(&g, &x, &mut cols[..17]).is_err());
    let mut x = x;
    assert!(col2im(&g, &cols[1..], &mut x).is_err());
    assert!(col2im(&g, &cols, &mut x[1..]).is_err());
    assert!(im2col(&g.stride(0, 1), &x, &mut cols).is_err());
}

struct DwRef {
    y: Vec<f64>,
    dx: Vec<f64>,
    dw: Vec<f64>,
    db: Vec<f64>,
    /// Σ|terms| per output, per dx entry and per dw entry, for tolerances.
    y_abs: Vec<f64>,
    dx_abs: Vec<f64>,
    dw_abs: Vec<f64>,
}

/// Naive depthwise forward and all three gradients in f64.
fn dw_naive(
    g: &Conv2dGeometry,
    batch: usize,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    dy: &[f32],
) -> DwRef {
    let (oh, ow) = g.out_size().unwrap();
    let (c, h, wd) = (g.channels, g.height, g.width);
    let mut r = DwRef {
        y: vec![0.0; batch * c * oh * ow],
        dx: vec![0.0; batch * c * h * wd],
        dw: vec![0.0; c * 9],
        db: vec![0.0; c],
        y_abs: vec![0.0; batch * c * oh * ow],
        dx_abs: vec![0.0; batch * c * h * wd],
        dw_abs: vec![0.0; c * 9],
    };
    for n in 0..batch {
        for ch in 0..c {
            let p = n * c + ch;
            for oy in 0..oh {
                for ox in 0..ow {
                    let o = (p * oh + oy) * ow + ox;
                    let d = f64::from(dy[o]);
                    r.y[o] = f64::from(b[ch]);
                    r.y_abs[o] = f64::from(b[ch].abs());
                    r.db[ch] += d;
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let iy = (oy * g.stride.0 + ky) as isize - g.pad[0] as isize;
                            let ix = (ox * g.stride.1 + kx) as isize - g.pad[1] as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                continue;
                            }
                            let i = (p * h + iy as usize) * wd + ix as usize;
                            let (xv, wv) = (f64::from(x[i]), f64::from(w[ch * 9 + ky * 3 + kx]));
                            r.y[o] += wv * xv;
                            r.y_abs[o] += (wv * xv).abs();
                            r.dx[i] += wv * d;
                            r.dx_abs[i] += (wv * d).abs();
                            r.dw[ch * 9 + ky * 3 + kx] += d * xv;
                            r.dw_abs[ch * 9 + ky * 3 + kx] += (d * xv).abs();
                        }
                    }
                }
            }
        }
    }
    r
}

fn assert_all_close(what: &str, got: &[f32], want: &[f64], abs: &[f64], k: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for i in 0..got.len() {
        let tol = k * EPS * abs[i] + 1e-30;
        let diff = (f64::from(got[i]) - want[i]).abs();
        assert!(
            diff <= tol,
            "{what}[{i}]: got {}, want {} (tol {tol:e})",
            got[i],
            want[i]
        );
    }
}

#[test]
fn depthwise_forward_and_backward_match_naive_loops_for_every_table() {
    let mut r = rng(3);
    let sizes = [1, 2, 3, 5, 8, 9, 17];
    let (batch, c) = (2, 3);
    let mut checked = 0;
    for ks in all_sets() {
        for &h in &sizes {
            for &wd in &sizes {
                for s in [1, 2] {
                    for pad in [[0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 1, 1], [2, 1, 0, 2]] {
                        let g = Conv2dGeometry::new(c, h, wd, 3, 3)
                            .stride(s, s)
                            .pad_tlbr(pad[0], pad[1], pad[2], pad[3]);
                        let x = rand_vec(&mut r, batch * c * h * wd);
                        let w = rand_vec(&mut r, c * 9);
                        let b = rand_vec(&mut r, c);
                        let Ok((oh, ow)) = g.out_size() else {
                            let mut y = vec![0.0; 16];
                            assert!(dwconv3x3(&ks, &g, batch, &x, &w, None, &mut y).is_err());
                            continue;
                        };
                        let dy = rand_vec(&mut r, batch * c * oh * ow);
                        let want = dw_naive(&g, batch, &x, &w, &b, &dy);
                        let what = format!("{} {g:?}", ks.isa);
                        let mut y = vec![f32::NAN; dy.len()];
                        dwconv3x3(&ks, &g, batch, &x, &w, Some(&b), &mut y).unwrap();
                        assert_all_close(&format!("y {what}"), &y, &want.y, &want.y_abs, 12.0);
                        dwconv3x3(&ks, &g, batch, &x, &w, None, &mut y).unwrap();
                        let no_bias: Vec<f64> = want
                            .y
                            .iter()
                            .enumerate()
                            .map(|(i, v)| v - f64::from(b[(i / (oh * ow)) % c]))
                            .collect();
                        assert_all_close(
                            &format!("y/nobias {what}"),
                            &y,
                            &no_bias,
                            &want.y_abs,
                            12.0,
                        );
                        let mut dx = vec![f32::NAN; x.len()];
                        dwconv3x3_backward_input(&ks, &g, batch, &dy, &w, &mut dx).unwrap();
                        assert_all_close(&format!("dx {what}"), &dx, &want.dx, &want.dx_abs, 12.0);
                        // Weight and bias gradients add to what is there.
                        let (mut dw, mut db) = (vec![1.0f32; c * 9], vec![-1.0f32; c]);
                        dwconv3x3_backward_weight(&ks, &g, batch, &x, &dy, &mut dw, Some(&mut db))
                            .unwrap();
                        let dw_want: Vec<f64> = want.dw.iter().map(|v| v + 1.0).collect();
                        let dw_abs: Vec<f64> = want.dw_abs.iter().map(|v| v + 1.0).collect();
                        let k = 4.0 + (batch * oh * ow) as f64;
                        assert_all_close(&format!("dw {what}"), &dw, &dw_want, &dw_abs, k);
                        let db_want: Vec<f64> = want.db.iter().map(|v| v - 1.0).collect();
                        let db_abs = vec![1.0 + (batch * oh * ow) as f64; c];
                        assert_all_close(&format!("db {what}"), &db, &db_want, &db_abs, k);
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 300, "{checked}");
}

#[test]
fn depthwise_simd_plane_kernels_match_scalar_with_unaligned_strided_input() {
    let sc = KernelSet::for_isa(Isa::Scalar).unwrap();
    let mut r = rng(4);
    for ks in all_sets().into_iter().filter(|k| k.isa != Isa::Scalar) {
        for (oh, ow) in [(1, 1), (2, 7), (3, 8), (1, 9), (4, 16), (2, 17), (5, 33)] {
            for (sh, sw) in [(1, 1), (2, 2), (1, 2), (2, 1), (1, 3)] {
                for extra in [0, 1, 5] {
                    let ldx = (ow - 1) * sw + 3 + extra;
                    let len = ((oh - 1) * sh + 2) * ldx + (ow - 1) * sw + 3;
                    // One element of offset makes every load unaligned.
                    let xbuf = rand_vec(&mut r, len + 1);
                    let x = &xbuf[1..];
                    let w: [f32; 9] = rand_vec(&mut r, 9).try_into().unwrap();
                    let p = DwPlane {
                        oh,
                        ow,
                        sh,
                        sw,
                        ldx,
                    };
                    let (mut a, mut b) = (vec![0.0; oh * ow], vec![0.0; oh * ow + 1]);
                    (sc.conv.dw3x3)(&p, x, &w, 0.5, &mut a);
                    (ks.conv.dw3x3)(&p, x, &w, 0.5, &mut b[1..]);
                    for i in 0..a.len() {
                        let tol = 12.0 * EPS * 10.5;
                        let what = format!("{} {p:?} i={i}", ks.isa);
                        assert!(
                            (a[i] - b[i + 1]).abs() as f64 <= tol,
                            "{what}: {} vs {}",
                            b[i + 1],
                            a[i]
                        );
                    }
                    let dy = rand_vec(&mut r, oh * ow + 1);
                    let ga = (sc.conv.dw3x3_grad_w)(&p, x, &dy[1..]);
                    let gb = (ks.conv.dw3x3_grad_w)(&p, x, &dy[1..]);
                    for k in 0..9 {
                        let tol = (4.0 + (oh * ow) as f64) * EPS * (oh * ow) as f64;
                        assert!(
                            (ga[k] - gb[k]).abs() as f64 <= tol,
                            "{} {p:?} tap {k}",
                            ks.isa
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn depthwise_rejects_bad_shapes() {
    let ks = KernelSet::for_isa(Isa::Scalar).unwrap();
    let g = Conv2dGeometry::new(2, 4, 4, 3, 3).pad(1);
    let (x, w, b) = (vec![0.0; 32], vec![0.0; 18], vec![0.0; 2]);
    let mut y = vec![0.0; 32];
    assert!(dwconv3x3(&ks, &g, 1, &x, &w, Some(&b), &mut y).is_ok());
    assert!(dwconv3x3(&ks, &g, 2, &x, &w, Some(&b), &mut y).is_err());
    assert!(dwconv3x3(&ks, &g, 1, &x, &w[..17], Some(&b), &mut y).is_err());
    assert!(dwconv3x3(&ks, &g, 1, &x, &w, Some(&b[..1]), &mut y).is_err());
    assert!(dwconv3x3(&ks, &g, 1, &x, &w, None, &mut y[..31]).is_err());
    let five = Conv2dGeometry::new(2, 4, 4, 5, 5).pad(2);
    assert!(dwconv3x3(&ks, &five, 1, &x, &w, None, &mut y).is_err());
    assert!(dwconv3x3(&ks, &g.dilation(2, 2), 1, &x, &w, None, &mut y).is_err());
    assert!(dwconv3x3(&ks, &g.stride(0, 1), 1, &x, &w, None, &mut y).is_err());
    assert!(dwconv3x3(
        &ks,
        &Conv2dGeometry::new(2, 2, 4, 3, 3),
        1,
        &x[..16],
        &w,
        None,
        &mut y
    )
    .is_err());
    let huge = Conv2dGeometry::new(2, 4, 4, 3, 3).pad_tlbr(usize::MAX - 3, 0, 0, 0);
    assert!(dwconv3x3(&ks, &huge, 1, &x, &w, None, &mut y).is_err());
    let mut dx = vec![0.0; 32];
    assert!(dwconv3x3_backward_input(&ks, &g, 1, &y, &w, &mut dx).is_ok());
    assert!(dwconv3x3_backward_input(&ks, &g, 1, &y[..31], &w, &mut dx).is_err());
    assert!(dwconv3x3_backward_input(&ks, &g, 1, &y, &w, &mut dx[..31]).is_err());
    let mut dw = vec![0.0; 18];
    let mut db = vec![0.0; 2];
    assert!(dwconv3x3_backward_weight(&ks, &g, 1, &x, &y, &mut dw, Some(&mut db)).is_ok());
    assert!(dwconv3x3_backward_weight(&ks, &g, 1, &x, &y, &mut dw[..9], None).is_err());
    assert!(dwconv3x3_backward_weight(&ks, &g, 1, &x, &y, &mut dw, Some(&mut db[..1])).is_err());
    // Empty batches and channel counts are valid no-ops.
    assert!(dwconv3x3(&ks, &g, 0, &[], &w, None, &mut []).is_ok());
}
