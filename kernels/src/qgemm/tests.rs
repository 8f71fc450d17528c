//! Every qgemm kernel table against an independent reference, bit for bit.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::f32_int4::{f32_qc4w_gemm, Qc4Weights};
use super::int4::{int4_bytes, pack_int4, pack_qs8_weights_int4, unpack_int4};
use super::*;

fn tables() -> Vec<KernelSet> {
    let mut out = Vec::new();
    for isa in Isa::ALL {
        match KernelSet::for_isa(isa) {
            Some(ks) => out.push(ks),
            None => eprintln!("skipping qgemm tests for {isa}: this CPU lacks it"),
        }
    }
    out
}

/// `Σ_k (x − zp)·w + b` in i64, wrapped to i32 like the kernels.
#[allow(clippy::too_many_arguments)]
fn ref_acc(
    m: usize,
    n: usize,
    k: usize,
    x: &[i8],
    ldx: usize,
    zp_x: i8,
    w: &[i8],
    bias: Option<&[i32]>,
) -> Vec<i32> {
    let mut out = vec![0i32; m * n];
    for i in 0..m {
        for c in 0..n {
            let mut s: i64 = bias.map_or(0, |b| b[c] as i64);
            for kk in 0..k {
                s += (x[i * ldx + kk] as i64 - zp_x as i64) * w[c * k + kk] as i64;
            }
            out[i * n + c] = s as i32;
        }
    }
    out
}

/// The formula as written in formats/tflite.md: round, clamp, add the zero point.
fn ref_requant(acc: i32, scale: f32, zp: i8, qmin: i8, qmax: i8) -> i8 {
    let r = (acc as f32 * scale).round_ties_even();
    let (lo, hi) = (
        (qmin as i32 - zp as i32) as f32,
        (qmax as i32 - zp as i32) as f32,
    );
    (r.max(lo).min(hi) as i32 + zp as i32) as i8
}

struct Case {
    m: usize,
    n: usize,
    k: usize,
    ldx_pad: usize,
    ldy_pad: usize,
    zp_x: i8,
    bias: bool,
}

/// Runs both outputs of one case on `ks` from unaligned, strided buffers and compares exactly; also
/// checks that Y's padding between rows is not written.
fn check(ks: &KernelSet, c: &Case, x: &[i8], w: &[i8], rng: &mut StdRng) {
    let (m, n, k) = (c.m, c.n, c.k);
    let ldx = k + c.ldx_pad;
    let ldy = n + c.ldy_pad;
    let bias: Vec<i32> = (0..n).map(|_| rng.gen_range(-50_000..50_000)).collect();
    let bias = c.bias.then_some(&bias[..]);
    let packed = pack_qs8_weights(ks, w, n, k, k).unwrap();
    assert_eq!(packed.unpack(), w);
    let want = ref_acc(m, n, k, x, ldx, c.zp_x, w, bias);
    let what = format!(
        "{} m={m} n={n} k={k} zp={} bias={}",
        ks.qgemm.name, c.zp_x, c.bias
    );

    let ylen = if m == 0 { 0 } else { (m - 1) * ldy + n };
    let mut y32 = vec![i32::MIN + 7; ylen + 1];
    qs8_gemm_i32(ks, m, x, ldx, c.zp_x, &packed, bias, &mut y32[1..], ldy).unwrap();
    for i in 0..m {
        for j in 0..ldy {
            let got = y32.get(1 + i * ldy + j).copied();
            if j < n {
                assert_eq!(got, Some(want[i * n + j]), "{what} i32 at ({i},{j})");
            } else if let Some(g) = got {
                assert_eq!(g, i32::MIN + 7, "{what}: padding ({i},{j}) written");
            }
        }
    }

    // Scales that put most outputs in range and saturate a few, through the constructor.
    let s_x = rng.gen_range(0.01f32..0.1);
    let s_y = rng.gen_range(0.05f32..0.2);
    let target = 0.02 / ((k + 1) as f32).sqrt();
    let s_w: Vec<f32> = (0..n)
        .map(|_| rng.gen_range(0.5f32..2.0) * target * s_y / s_x)
        .collect();
    let zp_y: i8 = rng.gen_range(-20..20);
    let (qmin, qmax) = if rng.gen_bool(0.5) {
        (-128, 127)
    } else {
        (-100, 90)
    };
    let rq = Requant::new(s_x, &s_w, s_y, zp_y, qmin, qmax).unwrap();
    for (cc, s) in rq.scales().iter().enumerate() {
        assert_eq!(*s, (s_x * s_w[cc]) / s_y);
    }
    let mut y8 = vec![0x55u8 as i8; ylen + 1];
    qs8_gemm(ks, m, x, ldx, c.zp_x, &packed, bias, &rq, &mut y8[1..], ldy).unwrap();
    for i in 0..m {
        for j in 0..ldy {
            let got = y8.get(1 + i * ldy + j).copied();
            if j < n {
                let e = ref_requant(want[i * n + j], rq.scales()[j], zp_y, qmin, qmax);
                assert_eq!(
                    got,
                    Some(e),
                    "{what} i8 at ({i},{j}) acc={}",
                    want[i * n + j]
                );
            } else if let Some(g) = got {
                assert_eq!(g, 0x55, "{what}: padding ({i},{j}) written");
            }
        }
    }
}

fn rand_x(rng: &mut StdRng, m: usize, ldx: usize) -> Vec<i8> {
    // One extra leading element: the kernels get a slice that starts at an odd address.
    (0..m * ldx + 1).map(|_| rng.gen()).collect()
}

fn rand_w(rng: &mut StdRng, n: usize, k: usize) -> Vec<i8> {
    (0..n * k).map(|_| rng.gen_range(-127..=127)).collect()
}

#[test]
fn every_table_matches_reference_over_edge_shapes() {
    let mut rng = StdRng::seed_from_u64(4);
    let mut cases = 0;
    for ks in tables() {
        let (mr, nr, kr) = ks.qgemm.tile;
        let ms = [0, 1, mr.saturating_sub(1).max(2), mr, mr + 1, 2 * mr + 1];
        let ns = [0, 1, nr - 1, nr, nr + 1, 2 * nr + 1];
        let ks_ = [0, 1, 3, kr + 1, 2 * kr - 1, 16, 17, 37];
        for &m in &ms {
            for &n in &ns {
                for &k in &ks_ {
                    let c = Case {
                        m,
                        n,
                        k,
                        ldx_pad: (m + n) % 3,
                        ldy_pad: (k % 2) * 3,
                        zp_x: [-128, 0, 127, 5][(m + n + k) % 4],
                        bias: (m + k) % 2 == 0,
                    };
                    let x = rand_x(&mut rng, m, k + c.ldx_pad);
                    let w = rand_w(&mut rng, n, k);
                    check(&ks, &c, &x[1..], &w, &mut rng);
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 0);
}

#[test]
fn extremes_cannot_saturate() {
    // x ∈ {−128, 127} and w = ±127: an i16 pair of u8×s8 products (vpmaddubsw on x + 128) would
    // reach 2·255·127 and saturate; every path here must stay exact.
    let mut rng = StdRng::seed_from_u64(5);
    for ks in tables() {
        let (mr, nr, _) = ks.qgemm.tile;
        let (m, n, k) = (mr + 1, nr + 1, 67);
        for (xv, wv) in [(-128i8, -127i8), (-128, 127), (127, 127), (127, -127)] {
            for zp_x in [-128i8, 0, 127] {
                let x = vec![xv; m * k + 1];
                let w = vec![wv; n * k];
                let c = Case {
                    m,
                    n,
                    k,
                    ldx_pad: 0,
                    ldy_pad: 0,
                    zp_x,
                    bias: true,
                };
                check(&ks, &c, &x[1..], &w, &mut rng);
            }
        }
        // Mixed signs at the extremes.
        let x: Vec<i8> = (0..m * k + 1)
            .map(|i| if i % 3 == 0 { 127 } else { -128 })
            .collect();
        let w: Vec<i8> = (0..n * k)
            .map(|i| if i % 5 < 2 { 127 } else { -127 })
            .collect();
        let c = Case {
            m,
            n,
            k,
            ldx_pad: 0,
            ldy_pad: 0,
            zp_x: -128,
            bias: false,
        };
        check(&ks, &c, &x[1..], &w, &mut rng);
    }
}

#[test]
fn requant_rounds_ties_to_even_on_every_path() {
    // K = 1, x = 1, w = 1, zp 0: acc = 1 + bias[c]. scale 0.5 makes every odd acc an exact tie.
    for ks in tables() {
        let (mr, nr, _) = ks.qgemm.tile;
        let n = 2 * nr + 3;
        let m = mr + 1;
        let x = vec![1i8; m];
        let w = vec![1i8; n];
        let packed = pack_qs8_weights(&ks, &w, n, 1, 1).unwrap();
        let bias: Vec<i32> = (0..n as i32).map(|c| c - n as i32 / 2).collect();
        for (scale, zp) in [(0.5f32, 0i8), (0.5, 3), (0.25, -7)] {
            let rq = Requant::from_scales(vec![scale; n], zp, -128, 127).unwrap();
            let mut y = vec![0i8; m * n];
            qs8_gemm(&ks, m, &x, 1, 0, &packed, Some(&bias), &rq, &mut y, n).unwrap();
            for i in 0..m {
                for c in 0..n {
                    let acc = 1 + bias[c];
                    let want = ref_requant(acc, scale, zp, -128, 127);
                    assert_eq!(
                        y[i * n + c],
                        want,
                        "{} acc={acc} scale={scale}",
                        ks.qgemm.name
                    );
                }
            }
        }
        // Hand-checked ties: 0.5 → 0, 1.5 → 2, 2.5 → 2, −0.5 → 0, −1.5 → −2, −2.5 → −2.
        let rq = Requant::from_scales(vec![0.5; 6], 0, -128, 127).unwrap();
        let w = vec![1i8; 6];
        let packed = pack_qs8_weights(&ks, &w, 6, 1, 1).unwrap();
        let bias = [0, 2, 4, -2, -4, -6];
        let mut y = [0i8; 6];
        qs8_gemm(&ks, 1, &[1], 1, 0, &packed, Some(&bias), &rq, &mut y, 6).unwrap();
        assert_eq!(y, [0, 2, 2, 0, -2, -2], "{}", ks.qgemm.name);
        assert_eq!(rq.apply(5, 0).unwrap(), 2);
        assert!(rq.apply(5, 6).is_err());
    }
}

#[test]
fn requant_clamps_exactly_at_the_extremes() {
    // K = 1, x = 1, w = 1: acc = 1 + bias[c], with biases spanning i32 (acc·scale far past the
    // float→int range on both sides) and ones just around the clamp bounds; full and partial tiles,
    // zero points at ±127 (the SIMD epilogues add zp in saturating i16) and narrow ranges.
    let mut rng = StdRng::seed_from_u64(9);
    for ks in tables() {
        let (mr, nr, _) = ks.qgemm.tile;
        let (m, n) = (2 * mr + 1, 3 * nr + 1);
        let x = vec![1i8; m];
        let w = vec![1i8; n];
        let packed = pack_qs8_weights(&ks, &w, n, 1, 1).unwrap();
        for (scale, zp, qmin, qmax) in [
            (255.9f32, 127i8, -128i8, 127i8),
            (255.9, -127, -128, 127),
            (1.0, 127, -100, 90),
            (1.0, -127, -100, 90),
            (0.75, 5, -3, 3),
            (1e-3, -128, -128, 127),
        ] {
            let bias: Vec<i32> = (0..n)
                .map(|c| match c % 4 {
                    0 => [i32::MIN + 1, i32::MAX - 1, -1, 0][(c / 4) % 4],
                    1 => (qmin as i32 - zp as i32 + rng.gen_range(-3..3)) * 4 / 3,
                    2 => (qmax as i32 - zp as i32 + rng.gen_range(-3..3)) * 4 / 3,
                    _ => rng.gen(),
                })
                .collect();
            let rq = Requant::from_scales(vec![scale; n], zp, qmin, qmax).unwrap();
            let mut y = vec![0i8; m * n];
            qs8_gemm(&ks, m, &x, 1, 0, &packed, Some(&bias), &rq, &mut y, n).unwrap();
            for i in 0..m {
                for c in 0..n {
                    let acc = 1i32.wrapping_add(bias[c]);
                    let want = ref_requant(acc, scale, zp, qmin, qmax);
                    assert_eq!(
                        y[i * n + c],
                        want,
                        "{} ({i},{c}) acc={acc} scale={scale} zp={zp} [{qmin},{qmax}]",
                        ks.qgemm.name
                    );
                }
            }
        }
    }
}

#[test]
fn large_enough_to_thread_matches_reference() {
    let mut rng = StdRng::seed_from_u64(6);
    for ks in tables() {
        let c = Case {
            m: 301,
            n: 64,
            k: 256,
            ldx_pad: 1,
            ldy_pad: 2,
            zp_x: -3,
            bias: true,
        };
        let x = rand_x(&mut rng, c.m, c.k + 1);
        let w = rand_w(&mut rng, c.n, c.k);
        check(&ks, &c, &x[1..], &w, &mut rng);
    }
}

#[test]
fn thread_counts_give_identical_results() {
    // M below one row block (ViT-Tiny's 50 tokens, a single row) splits over column panels; N not a
    // multiple of any NR leaves a partial last panel; M = 300 also splits over row blocks.
    let shapes = [
        (50, 576, 192),
        (1, 200, 64),
        (50, 50, 64),
        (7, 37, 768),
        (300, 70, 256),
    ];
    let mut rng = StdRng::seed_from_u64(7);
    for ks in tables() {
        for &(m, n, k) in &shapes {
            let (ldx, ldy) = (k + 3, n + 2);
            let x = rand_x(&mut rng, m, ldx);
            let w = rand_w(&mut rng, n, k);
            let bias: Vec<i32> = (0..n).map(|_| rng.gen_range(-50_000..50_000)).collect();
            let packed = pack_qs8_weights(&ks, &w, n, k, k).unwrap();
            let s_w: Vec<f32> = (0..n).map(|_| rng.gen_range(0.5f32..2.0) * 3e-4).collect();
            let rq = Requant::new(0.05, &s_w, 0.1, 4, -128, 127).unwrap();
            let want = ref_acc(m, n, k, &x[1..], ldx, -5, &w, Some(&bias));
            let ylen = (m - 1) * ldy + n;
            let mut first: Option<(Vec<i32>, Vec<i8>)> = None;
            for threads in [1, 2, 3] {
                let what = format!("{} m={m} n={n} k={k} threads={threads}", ks.qgemm.name);
                let (xs, b) = (&x[1..], Some(&bias[..]));
                let mut y32 = vec![i32::MIN + 7; ylen];
                run(
                    "t", &ks, m, xs, ldx, -5, &packed, b, &mut y32, ldy, None, threads,
                )
                .unwrap();
                let mut y8 = vec![0x55u8 as i8; ylen];
                run(
                    "t",
                    &ks,
                    m,
                    xs,
                    ldx,
                    -5,
                    &packed,
                    b,
                    &mut y8,
                    ldy,
                    Some(&rq),
                    threads,
                )
                .unwrap();
                for (i, row) in y32.chunks(ldy).enumerate() {
                    assert_eq!(&row[..n], &want[i * n..][..n], "{what} row {i}");
                    assert!(
                        row[n..].iter().all(|&v| v == i32::MIN + 7),
                        "{what}: padding"
                    );
                }
                assert!(
                    y8.chunks(ldy).all(|r| r[n..].iter().all(|&v| v == 0x55)),
                    "{what}"
                );
                match &first {
                    None => first = Some((y32, y8)),
                    Some((f32s, f8s)) => {
                        assert_eq!(&y32, f32s, "{what}: i32 differs from 1 thread");
                        assert_eq!(&y8, f8s, "{what}: i8 differs from 1 thread");
                    }
                }
            }
        }
    }
}

#[test]
fn bad_shapes_are_errors() {
    let ks = KernelSet::for_isa(Isa::Scalar).unwrap();
    let w = vec![1i8; 3 * 5];
    assert!(pack_qs8_weights(&ks, &w, 3, 5, 4).is_err(), "ldw < k");
    assert!(pack_qs8_weights(&ks, &w, 4, 5, 5).is_err(), "short W");
    assert!(pack_qs8_weights(&ks, &[-128], 1, 1, 1).is_err(), "w = -128");
    assert!(
        pack_qs8_weights(&ks, &w, usize::MAX, 2, 2).is_err(),
        "overflow"
    );
    let p = pack_qs8_weights(&ks, &w, 3, 5, 5).unwrap();
    let x = vec![0i8; 2 * 5];
    let mut y = vec![0i32; 2 * 3];
    assert!(qs8_gemm_i32(&ks, 2, &x, 5, 0, &p, None, &mut y, 3).is_ok());
    assert!(
        qs8_gemm_i32(&ks, 3, &x, 5, 0, &p, None, &mut y, 3).is_err(),
        "short X"
    );
    assert!(
        qs8_gemm_i32(&ks, 2, &x, 4, 0, &p, None, &mut y, 3).is_err(),
        "ldx < k"
    );
    assert!(
        qs8_gemm_i32(&ks, 2, &x, 5, 0, &p, None, &mut y[..5], 3).is_err(),
        "short Y"
    );
    assert!(
        qs8_gemm_i32(&ks, 2, &x, 5, 0, &p, None, &mut y, 2).is_err(),
        "ldy < n"
    );
    assert!(
        qs8_gemm_i32(&ks, 2, &x, 5, 0, &p, Some(&[1, 2]), &mut y, 3).is_err(),
        "bias"
    );
    assert!(
        qs8_gemm_i32(&ks, usize::MAX, &x, 5, 0, &p, None, &mut y, 3).is_err(),
        "overflow"
    );
    let rq = Requant::from_scales(vec![0.5; 2], 0, -128, 127).unwrap();
    let mut y8 = vec![0i8; 6];
    assert!(
        qs8_gemm(&ks, 2, &x, 5, 0, &p, None, &rq, &mut y8, 3).is_err(),
        "rq channels"
    );
    for other in tables()
        .into_iter()
        .filter(|o| o.qgemm.name != ks.qgemm.name)
    {
        assert!(
            qs8_gemm_i32(&other, 2, &x, 5, 0, &p, None, &mut y, 3).is_err(),
            "table"
        );
    }
    for s in [256.0, f32::NAN, f32::INFINITY, 0.0, -1.0] {
        assert!(
            Requant::from_scales(vec![s], 0, -128, 127).is_err(),
            "scale {s}"
        );
    }
    assert!(Requant::new(1.0, &[300.0], 1.0, 0, -128, 127).is_err());
    assert!(
        Requant::new(1.0, &[1.0], 0.0, 0, -128, 127).is_err(),
        "s_y = 0"
    );
    assert!(
        Requant::from_scales(vec![1.0], 0, 5, 4).is_err(),
        "qmin > qmax"
    );
    assert!(Requant::from_scales(vec![255.9], 0, -128, 127).is_ok());
}

#[test]
fn int4_pack_unpack_round_trip() {
    assert!(pack_int4(&[8], &mut [0]).is_err());
    assert!(pack_int4(&[-9], &mut [0]).is_err());
    assert!(pack_int4(&[1, 2, 3], &mut [0]).is_err(), "short out");
    assert!(unpack_int4(&[0], &mut [0i8; 3]).is_err(), "short packed");
    let mut b = [0xffu8; 2];
    pack_int4(&[-8, 7, 3], &mut b).unwrap();
    assert_eq!(
        b,
        [0x78, 0x03],
        "low nibble first, odd count leaves a final low nibble"
    );
    pack_int4(&[1, -1], &mut b[..1]).unwrap();
    assert_eq!(b[0], 0xf1);
    let mut rng = StdRng::seed_from_u64(7);
    for count in [0, 1, 2, 3, 31, 64, 101] {
        let mut v: Vec<i8> = (0..count).map(|_| rng.gen_range(-8..=7)).collect();
        if count > 1 {
            v[0] = -8;
            v[count - 1] = 7;
        }
        let mut p = vec![0u8; int4_bytes(count)];
        pack_int4(&v, &mut p).unwrap();
        let mut back = vec![0i8; count];
        unpack_int4(&p, &mut back).unwrap();
        assert_eq!(back, v, "count {count}");
    }
}

#[test]
fn int8_x_int4_matches_reference() {
    let mut rng = StdRng::seed_from_u64(8);
    for ks in tables() {
        let (mr, nr, _) = ks.qgemm.tile;
        for (m, n, k) in [(mr + 1, nr + 1, 33), (3, 5, 7), (1, 2 * nr + 1, 64)] {
            let w: Vec<i8> = (0..n * k).map(|_| rng.gen_range(-8..=7)).collect();
            let mut p = vec![0u8; int4_bytes(n * k)];
            pack_int4(&w, &mut p).unwrap();
            let packed = pack_qs8_weights_int4(&ks, &p, n, k).unwrap();
            assert_eq!(packed.unpack(), w);
            let x = rand_x(&mut rng, m, k);
            let want = ref_acc(m, n, k, &x[1..], k, 9, &w, None);
            let mut y = vec![0i32; m * n];
            qs8_gemm_i32(&ks, m, &x[1..], k, 9, &packed, None, &mut y, n).unwrap();
            assert_eq!(y, want, "{} m={m} n={n} k={k}", ks.qgemm.name);
        }
        assert!(
            pack_qs8_weights_int4(&ks, &[0u8; 2], 3, 3).is_err(),
            "short int4 buffer"
        );
    }
}

/// f32 × int4 against dequantize-then-matmul in f64, tolerance (K + 2)·ε·Σ|x·w| per output.
fn check_f32_int4(ks: &KernelSet, m: usize, n: usize, k: usize, block: Option<usize>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let q: Vec<i8> = (0..n * k).map(|_| rng.gen_range(-8..=7)).collect();
    let mut p = vec![0u8; int4_bytes(n * k)];
    pack_int4(&q, &mut p).unwrap();
    let blocks = block.map_or(1, |b| k.div_ceil(b).max(1));
    let scales: Vec<f32> = (0..n * blocks)
        .map(|_| rng.gen_range(0.01f32..0.1))
        .collect();
    let w = match block {
        None => Qc4Weights::per_channel(&p, n, k, &scales).unwrap(),
        Some(b) => Qc4Weights::blockwise(&p, n, k, b, &scales).unwrap(),
    };
    let deq = w.dequantize();
    for c in 0..n {
        for kk in 0..k {
            let s = scales[c * blocks + block.map_or(0, |b| kk / b)];
            assert_eq!(deq[c * k + kk], q[c * k + kk] as f32 * s);
        }
    }
    let ldx = k + 1;
    let ldy = n + 2;
    let x: Vec<f32> = (0..m * ldx + 1)
        .map(|_| rng.gen_range(-2.0f32..2.0))
        .collect();
    let bias: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    let mut y = vec![f32::NAN; m * ldy + 1];
    f32_qc4w_gemm(ks, m, &x[1..], ldx, &w, Some(&bias), &mut y[1..], ldy).unwrap();
    for i in 0..m {
        for c in 0..n {
            let (mut s, mut mag) = (bias[c] as f64, bias[c].abs() as f64);
            for kk in 0..k {
                let t = x[1 + i * ldx + kk] as f64 * deq[c * k + kk] as f64;
                s += t;
                mag += t.abs();
            }
            let tol = (k + 2) as f64 * f32::EPSILON as f64 * mag;
            let got = y[1 + i * ldy + c] as f64;
            assert!(
                (got - s).abs() <= tol,
                "m={m} n={n} k={k} ({i},{c}): {got} vs {s}"
            );
        }
    }
}

#[test]
fn f32_x_int4_matches_dequantized_reference() {
    let ks = crate::kernels();
    for (m, n, k) in [(0, 3, 5), (1, 1, 1), (3, 5, 7), (7, 17, 64), (5, 33, 100)] {
        check_f32_int4(ks, m, n, k, None, (m * 100 + k) as u64);
        for b in [32, 64, 128] {
            check_f32_int4(ks, m, n, k, Some(b), (m * 100 + k + b) as u64);
        }
    }
    check_f32_int4(ks, 4, 20, 129, Some(32), 1);
    check_f32_int4(ks, 2, 3, 0, Some(32), 2);
}

#[test]
fn f32_x_int4_bad_shapes_are_errors() {
    let ks = crate::kernels();
    let p = [0u8; 8];
    assert!(
        Qc4Weights::per_channel(&p, 4, 5, &[1.0; 4]).is_err(),
        "short packed"
    );
    assert!(
        Qc4Weights::per_channel(&p, 3, 5, &[1.0; 2]).is_err(),
        "scales"
    );
    assert!(
        Qc4Weights::blockwise(&p, 3, 5, 0, &[1.0; 3]).is_err(),
        "block 0"
    );
    assert!(
        Qc4Weights::blockwise(&p, 2, 8, 4, &[1.0; 2]).is_err(),
        "blockwise scales"
    );
    assert!(
        Qc4Weights::per_channel(&p, 2, 5, &[1.0, f32::NAN]).is_err(),
        "NaN scale"
    );
    let w = Qc4Weights::blockwise(&p, 2, 8, 4, &[1.0; 4]).unwrap();
    let x = [0f32; 16];
    let mut y = [0f32; 4];
    assert!(f32_qc4w_gemm(ks, 2, &x, 8, &w, None, &mut y, 2).is_ok());
    assert!(
        f32_qc4w_gemm(ks, 3, &x, 8, &w, None, &mut y, 2).is_err(),
        "short X"
    );
    assert!(
        f32_qc4w_gemm(ks, 2, &x, 7, &w, None, &mut y, 2).is_err(),
        "ldx"
    );
    assert!(
        f32_qc4w_gemm(ks, 2, &x, 8, &w, None, &mut y[..3], 2).is_err(),
        "short Y"
    );
    assert!(
        f32_qc4w_gemm(ks, 2, &x, 8, &w, Some(&[0.0]), &mut y, 2).is_err(),
        "bias"
    );
}
