//! Random-data tests of the int8 ops against their definitions written out as plain loops, plus the
//! rejections. (The LiteRT fixtures are replayed in `quant/tests/int8_golden.rs`.)

use inkling_kernels::{Isa, KernelSet};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::{Error, QParams};

fn i8s(rng: &mut StdRng, n: usize, lo: i8) -> Vec<i8> {
    (0..n).map(|_| rng.gen_range(lo..=127)).collect()
}

fn q(rng: &mut StdRng, lo: f32, hi: f32) -> QParams {
    QParams::new(rng.gen_range(lo..hi).exp2(), rng.gen_range(-128..=127))
}

/// The fp32 requantization spelled out: round half to even of the scaled accumulator, clamped.
fn reference_requant(acc: i64, scale: f32, zp: i32, clamp: Clamp) -> i8 {
    let v = (acc as i32 as f32 * scale).round_ties_even() as i64 + zp as i64;
    v.clamp(clamp.min as i64, clamp.max as i64) as i8
}

#[test]
fn linear_equals_the_definition_on_every_kernel_table() {
    let mut rng = StdRng::seed_from_u64(7);
    for &(m, k, n) in &[(1, 1, 1), (5, 3, 7), (9, 70, 33), (17, 129, 5)] {
        let (x_q, y_q) = (q(&mut rng, -6.0, -3.0), q(&mut rng, -3.0, 0.0));
        let (x, w) = (i8s(&mut rng, m * k, -128), i8s(&mut rng, n * k, -127));
        let bias: Vec<i32> = (0..n).map(|_| rng.gen_range(-5000..5000)).collect();
        let sw: Vec<f32> = (0..n)
            .map(|_| rng.gen_range(-9.0f32..-5.0).exp2())
            .collect();
        let clamp = Clamp::relu(y_q);
        let mut want = vec![0i8; m * n];
        for r in 0..m {
            for c in 0..n {
                let acc: i64 = (0..k)
                    .map(|i| (x[r * k + i] as i64 - x_q.zero_point as i64) * w[c * k + i] as i64)
                    .sum::<i64>()
                    + bias[c] as i64;
                let s = (x_q.scale * sw[c]) / y_q.scale;
                want[r * n + c] = reference_requant(acc, s, y_q.zero_point, clamp);
            }
        }
        for isa in [Isa::Scalar, Isa::detect()] {
            let ks = KernelSet::for_isa(isa).expect("available");
            let lin = Int8Linear::with_kernels(ks, &w, n, k, Some(&bias), &sw).unwrap();
            let mut y = vec![0i8; m * n];
            lin.run(&x, m, x_q, y_q, clamp, &mut y).unwrap();
            assert_eq!(y, want, "{isa:?} m={m} k={k} n={n}");
        }
    }
}

/// Direct NHWC convolution (OHWI filter), skipping padded taps.
#[allow(clippy::too_many_arguments)]
fn reference_conv(
    x: &[i8],
    win: &Window,
    filter: &[i8],
    oc: usize,
    depthwise: bool,
    bias: &[i32],
    sw: &[f32],
    (x_q, y_q): (QParams, QParams),
) -> Vec<i8> {
    let [n, h, w, c] = win.input;
    let (kh, kw) = win.kernel;
    let (oh, ow) = win.out_hw().unwrap();
    let mut out = Vec::new();
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..oc {
                    let mut acc = bias[o] as i64;
                    for i in 0..kh {
                        for j in 0..kw {
                            let iy = (oy * win.stride.0 + i) as i64 - win.pads[0] as i64;
                            let ix = (ox * win.stride.1 + j) as i64 - win.pads[2] as i64;
                            if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64 {
                                continue;
                            }
                            let at = ((b * h + iy as usize) * w + ix as usize) * c;
                            let xv = |ci: usize| x[at + ci] as i64 - x_q.zero_point as i64;
                            if depthwise {
                                acc += xv(o / (oc / c)) * filter[(i * kw + j) * oc + o] as i64;
                            } else {
                                for ci in 0..c {
                                    acc += xv(ci) * filter[((o * kh + i) * kw + j) * c + ci] as i64;
                                }
                            }
                        }
                    }
                    let s = (x_q.scale * sw[o]) / y_q.scale;
                    out.push(reference_requant(acc, s, y_q.zero_point, Clamp::NONE));
                }
            }
        }
    }
    out
}

#[test]
fn convolutions_equal_the_definition() {
    let mut rng = StdRng::seed_from_u64(11);
    let shapes = [
        ([2, 9, 7, 3], (3, 3), (1, 1), Padding::Same, 5),
        ([1, 10, 11, 4], (5, 2), (2, 3), Padding::Same, 4),
        ([1, 6, 6, 2], (1, 1), (1, 1), Padding::Valid, 6),
        ([3, 8, 5, 6], (2, 4), (3, 1), Padding::Valid, 6),
    ];
    for (input, kernel, stride, padding, oc) in shapes {
        let win = Window::new(input, kernel, stride, padding).unwrap();
        let (qs, c) = ((q(&mut rng, -6.0, -3.0), q(&mut rng, -3.0, 0.0)), input[3]);
        let x = i8s(&mut rng, input.iter().product(), -128);
        let bias: Vec<i32> = (0..oc).map(|_| rng.gen_range(-3000..3000)).collect();
        let sw: Vec<f32> = (0..oc)
            .map(|_| rng.gen_range(-9.0f32..-5.0).exp2())
            .collect();
        let (oh, ow) = win.out_hw().unwrap();
        let mut y = vec![0i8; input[0] * oh * ow * oc];

        let f = i8s(&mut rng, oc * kernel.0 * kernel.1 * c, -127);
        let conv = Int8Conv2d::new(&f, oc, kernel, c, Some(&bias), &sw).unwrap();
        conv.run(&x, &win, qs.0, qs.1, Clamp::NONE, &mut y).unwrap();
        assert_eq!(
            y,
            reference_conv(&x, &win, &f, oc, false, &bias, &sw, qs),
            "conv {win:?}"
        );

        if oc % c == 0 {
            let f = i8s(&mut rng, kernel.0 * kernel.1 * oc, -127);
            let dw = Int8DepthwiseConv2d::new(&f, oc, kernel, Some(&bias), &sw).unwrap();
            dw.run(&x, &win, qs.0, qs.1, Clamp::NONE, &mut y).unwrap();
            assert_eq!(
                y,
                reference_conv(&x, &win, &f, oc, true, &bias, &sw, qs),
                "dw {win:?}"
            );
        }
    }
}

#[test]
fn batch_matmul_gemm_and_scalar_paths_equal_the_definition() {
    let mut rng = StdRng::seed_from_u64(5);
    for (bt, m, k, n, adj_y, broadcast, lo) in [
        (3, 4, 9, 5, false, false, -127),
        (3, 4, 9, 5, true, false, -128),
        (2, 7, 16, 3, false, true, -128),
        (4, 1, 33, 8, true, true, -127),
    ] {
        let (a_q, y_q) = (q(&mut rng, -6.0, -3.0), q(&mut rng, -3.0, 0.0));
        let b_q = QParams::new(rng.gen_range(-6.0f32..-3.0).exp2(), 0);
        let bb = if broadcast { 1 } else { bt };
        let a = i8s(&mut rng, bt * m * k, -128);
        let mut b = i8s(&mut rng, bb * k * n, lo);
        if lo == -128 {
            b[0] = -128; // forces the scalar path
        }
        let bshape = if adj_y { [bb, n, k] } else { [bb, k, n] };
        let mut y = vec![0i8; bt * m * n];
        batch_matmul(
            Operand::new(&a, &[bt, m, k], a_q),
            Operand::new(&b, &bshape, b_q),
            adj_y,
            y_q,
            Clamp::NONE,
            &mut y,
        )
        .unwrap();
        let s = (a_q.scale * b_q.scale) / y_q.scale;
        for i in 0..bt {
            let ib = if broadcast { 0 } else { i };
            for r in 0..m {
                for j in 0..n {
                    let acc: i64 = (0..k)
                        .map(|kk| {
                            let bv = if adj_y {
                                b[(ib * n + j) * k + kk]
                            } else {
                                b[(ib * k + kk) * n + j]
                            };
                            (a[(i * m + r) * k + kk] as i64 - a_q.zero_point as i64) * bv as i64
                        })
                        .sum();
                    let want = reference_requant(acc, s, y_q.zero_point, Clamp::NONE);
                    assert_eq!(y[(i * m + r) * n + j], want, "batch {i} row {r} col {j}");
                }
            }
        }
    }
}

/// Broadcast `data` of `shape` to `out` the slow way (index arithmetic per element).
fn expand(data: &[i8], shape: &[usize], out: &[usize]) -> Vec<i8> {
    let total: usize = out.iter().product();
    (0..total)
        .map(|flat| {
            let (mut rem, mut src, mut stride) = (flat, 0, 1);
            for (d, &od) in out.iter().enumerate().rev() {
                let i = rem % od;
                rem /= od;
                if let Some(&sd) = (d + shape.len()).checked_sub(out.len()).map(|j| &shape[j]) {
                    src += if sd == 1 { 0 } else { i * stride };
                    stride *= sd;
                }
            }
            data[src]
        })
        .collect()
}

#[test]
fn binary_ops_broadcast_like_equal_shapes_and_stay_within_one_step() {
    let mut rng = StdRng::seed_from_u64(3);
    let pairs: [(&[usize], &[usize]); 5] = [
        (&[2, 3, 4], &[2, 3, 4]),
        (&[4, 5], &[]),
        (&[1], &[3, 7]),
        (&[2, 6, 8], &[8]),
        (&[3, 1, 5], &[2, 1, 4, 1]),
    ];
    for (sa, sb) in pairs {
        let (a_q, b_q, y_q) = (
            q(&mut rng, -5.0, -2.0),
            q(&mut rng, -5.0, -2.0),
            q(&mut rng, -4.0, -1.0),
        );
        let a = i8s(&mut rng, sa.iter().product(), -128);
        let b = i8s(&mut rng, sb.iter().product(), -128);
        let shape = broadcast_shape(sa, sb).unwrap();
        let (ea, eb) = (expand(&a, sa, &shape), expand(&b, sb, &shape));
        let len = ea.len();
        for (name, op) in [
            ("add", add as fn(_, _, _, _, &mut [i8]) -> _),
            ("sub", sub),
            ("mul", mul),
        ] {
            let (mut y, mut y_eq) = (vec![0i8; len], vec![0i8; len]);
            op(
                Operand::new(&a, sa, a_q),
                Operand::new(&b, sb, b_q),
                y_q,
                Clamp::NONE,
                &mut y,
            )
            .unwrap();
            op(
                Operand::new(&ea, &shape, a_q),
                Operand::new(&eb, &shape, b_q),
                y_q,
                Clamp::NONE,
                &mut y_eq,
            )
            .unwrap();
            assert_eq!(y, y_eq, "{name} {sa:?} {sb:?}");
            // Against real arithmetic: fixed point / fp32 rounding is within one step of the exact result.
            for i in 0..len {
                let ra = (ea[i] as f64 - a_q.zero_point as f64) * a_q.scale as f64;
                let rb = (eb[i] as f64 - b_q.zero_point as f64) * b_q.scale as f64;
                let r = match name {
                    "add" => ra + rb,
                    "sub" => ra - rb,
                    _ => ra * rb,
                };
                let exact = (r / y_q.scale as f64 + y_q.zero_point as f64).clamp(-128.0, 127.0);
                assert!(
                    (y[i] as f64 - exact).abs() <= 1.0,
                    "{name}[{i}]: {} vs {exact}",
                    y[i]
                );
            }
        }
    }
}

#[test]
fn mean_equals_the_definition() {
    let mut rng = StdRng::seed_from_u64(9);
    for (shape, axes) in [
        (vec![3, 4, 5], vec![2]),
        (vec![2, 5, 6, 3], vec![1, 2]),
        (vec![4, 3, 2], vec![0, 2]),
    ] {
        let (x_q, y_q) = (q(&mut rng, -5.0, -2.0), q(&mut rng, -6.0, -3.0));
        let x = i8s(&mut rng, shape.iter().product(), -128);
        let kept: Vec<usize> = (0..shape.len()).filter(|d| !axes.contains(d)).collect();
        let out_len: usize = kept.iter().map(|&d| shape[d]).product();
        let mut y = vec![0i8; out_len];
        mean(&x, &shape, &axes, x_q, y_q, &mut y).unwrap();
        let n: usize = axes.iter().map(|&d| shape[d]).product();
        let mut sums = vec![0i64; out_len];
        for (flat, &v) in x.iter().enumerate() {
            let (mut rem, mut o, mut st) = (flat, 0, 1);
            for d in (0..shape.len()).rev() {
                let i = rem % shape[d];
                rem /= shape[d];
                if !axes.contains(&d) {
                    o += i * st;
                    st *= shape[d];
                }
            }
            sums[o] += v as i64 - x_q.zero_point as i64;
        }
        let s = (x_q.scale / y_q.scale) * (1.0 / n as f32);
        let want: Vec<i8> = sums
            .iter()
            .map(|&a| reference_requant(a, s, y_q.zero_point, Clamp::NONE))
            .collect();
        assert_eq!(y, want, "{shape:?} over {axes:?}");
    }
}

#[test]
fn logistic_table_is_monotone_and_saturates() {
    let t = LogisticTable::new(QParams::new(0.1, 0), QParams::new(1.0 / 256.0, -128)).unwrap();
    let ys: Vec<i8> = (-128..=127).map(|v| t.lookup(v)).collect();
    assert!(ys.windows(2).all(|p| p[0] <= p[1]));
    assert_eq!(t.lookup(0), 0); // σ(0) = 0.5 = 128/256 → −128 + 128
    assert_eq!((ys[0], ys[255]), (-128, 127)); // σ(±12.8)
}

#[test]
fn quantize_uses_the_reciprocal_and_rounds_half_to_even() {
    let mut y = [0i8; 4];
    quantize(&[0.5, 1.5, -2.5, 1000.0], QParams::new(1.0, 3), &mut y).unwrap();
    assert_eq!(y, [3, 5, 1, 127]);
    let mut f = [0f32; 2];
    dequantize(&[-128, 127], QParams::new(0.5, -1), &mut f).unwrap();
    assert_eq!(f, [-63.5, 64.0]);
}

fn is_quant(r: crate::Result<()>, needle: &str) -> bool {
    matches!(r, Err(Error::Quant { ref what, .. }) if what.contains(needle))
}

#[test]
fn scale_limits_and_bad_operands_are_rejected() {
    assert!(is_quant(
        check_add_scales("ADD", 1.0, 2.0, 1.0 / 1024.0 * 0.5e-3),
        "2^-10, 2^8"
    ));
    assert!(is_quant(
        check_add_scales("ADD", 300.0, 1.0, 1.0),
        "2^-10, 2^8"
    ));
    assert!(check_add_scales("ADD", 1.0 / 1024.0, 255.0, 1.0).is_ok());
    assert!(is_quant(
        check_mul_scales("MUL", 1e-3, 1e-3, 1.0).map(drop),
        "2^-16, 2^8"
    ));
    assert!(check_mul_scales("MUL", 1.0 / 256.0, 1.0 / 256.0, 1.0).is_ok());
    assert!(is_quant(
        check_conv_scales("FC", 16.0, &[16.0], 1.0).map(drop),
        "(0, 256)"
    ));
    assert!(is_quant(
        check_qparams("X", "input", QParams::new(0.1, 128)),
        "zero point"
    ));
    assert!(is_quant(
        check_qparams("X", "input", QParams::new(0.0, 0)),
        "scale"
    ));

    assert!(is_quant(
        Int8Linear::new(&[-128, 1], 1, 2, None, &[0.1]).map(drop),
        "-128"
    ));
    assert!(matches!(
        Int8Linear::new(&[1, 2, 3], 2, 2, None, &[0.1]),
        Err(Error::Graph { .. })
    ));
    let (a, b) = ([1i8; 6], [1i8; 6]);
    let qa = QParams::new(0.1, 0);
    let bmm = batch_matmul(
        Operand::new(&a, &[1, 2, 3], qa),
        Operand::new(&b, &[1, 3, 2], QParams::new(0.1, 5)),
        false,
        qa,
        Clamp::NONE,
        &mut [0i8; 4],
    );
    assert!(is_quant(bmm, "zero point 5 must be 0"));
    let r = add(
        Operand::new(&a, &[2, 3], qa),
        Operand::new(&b, &[3, 2], qa),
        qa,
        Clamp::NONE,
        &mut [0i8; 6],
    );
    assert!(matches!(r, Err(Error::Graph { .. })));
    let r = mean(&a, &[2, 3], &[1, 1], qa, qa, &mut [0i8; 2]);
    assert!(matches!(r, Err(Error::Graph { .. })));
}
