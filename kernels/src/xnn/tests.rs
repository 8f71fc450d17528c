//! Every table, forced, against the scalar twin in each order: bit for bit, over random data mixed
//! with huge, tiny, subnormal, infinite and NaN values, awkward lengths and unaligned slices. Plus
//! values of the scalar twins themselves and the safe wrappers' shape errors.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

/// 0, 1, primes, and lane multiples ±1 for 8- and 16-lane kernels and their 32/64-element main loops.
const LENGTHS: [usize; 24] = [
    0, 1, 2, 3, 5, 7, 8, 9, 13, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 97, 127, 128, 129, 197,
];
const ORDERS: [SumOrder; 2] = [SumOrder::Avx512f, SumOrder::Avx2];

fn scalar() -> KernelSet {
    KernelSet::for_isa(Isa::Scalar).unwrap()
}

/// Every table this CPU can run, the scalar one included (it must agree with itself trivially, and
/// on ARM the NEON tables must agree with it).
fn sets() -> Vec<KernelSet> {
    Isa::ALL
        .into_iter()
        .filter_map(|isa| {
            let ks = KernelSet::for_isa(isa);
            if ks.is_none() {
                eprintln!("skip: xnn kernels for {isa}: not available on this CPU");
            }
            ks
        })
        .collect()
}

/// A value from a mix of ordinary, huge, tiny, subnormal, zero, infinite and NaN values.
fn value(rng: &mut StdRng, scale: f32) -> f32 {
    let kind = rng.gen_range(0..40);
    special(rng, kind, scale)
}

/// [`value`] without +∞ and NaN, which turn a whole softmax row into NaN.
fn finite_or_minus_inf(rng: &mut StdRng, scale: f32) -> f32 {
    let k = [0, 1, 2, 3, 4, 5, 6, 8, 12, 13][rng.gen_range(0..10)];
    special(rng, k, scale)
}

fn special(rng: &mut StdRng, kind: u32, scale: f32) -> f32 {
    match kind {
        0 => f32::from_bits(rng.gen_range(1..0x0080_0000)), // positive subnormal
        1 => -f32::from_bits(rng.gen_range(1..0x0080_0000)),
        2 => f32::MIN_POSITIVE * rng.gen_range(1.0..1.01),
        3 => rng.gen_range(-1e-30..1e-30),
        4 => -0.0,
        5 => 0.0,
        6 => {
            f32::from_bits(rng.gen_range(0x7000_0000..0x7f80_0000))
                * [1.0, -1.0][rng.gen_range(0..2)]
        }
        7 => f32::INFINITY,
        8 => f32::NEG_INFINITY,
        9 => f32::NAN,
        10 => -f32::NAN,
        11 => f32::from_bits(0x7f80_0000 | rng.gen_range(1..0x0080_0000)), // NaN with a payload
        12 => rng.gen_range(-6.0..6.0),
        _ => rng.gen_range(-scale..scale),
    }
}

/// `n` values, uniform in [−scale, scale] or (`special`) mixed with [`value`]'s specials, stored one
/// element into a longer buffer so that the slice is unaligned.
fn data(rng: &mut StdRng, n: usize, scale: f32, special: bool) -> Vec<f32> {
    let pick = if special { value } else { uniform };
    (0..n + 1).map(|_| pick(rng, scale)).collect()
}

/// A generator of one test value at a scale.
type Pick = fn(&mut StdRng, f32) -> f32;

fn uniform(rng: &mut StdRng, scale: f32) -> f32 {
    rng.gen_range(-scale..scale)
}

/// Equal bits, or both NaN (FMA chooses which NaN operand it propagates by instruction form, so NaN
/// payloads born inside exp are not part of the contract).
fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn assert_same(what: &str, got: &[f32], want: &[f32]) {
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            same(g, w),
            "{what}[{i}]: got {g:e} ({:#010x}), scalar {w:e} ({:#010x})",
            g.to_bits(),
            w.to_bits()
        );
    }
}

#[test]
fn gelu_matches_scalar_bit_for_bit() {
    let mut rng = StdRng::seed_from_u64(1);
    let reference = scalar();
    for ks in sets() {
        for &n in &LENGTHS {
            for special in [false, true] {
                let x = data(&mut rng, n, 8.0, special);
                let (mut got, mut want) = (vec![0.0; n], vec![0.0; n]);
                (ks.xnn.gelu)(&x[1..], &mut got);
                (reference.xnn.gelu)(&x[1..], &mut want);
                // GELU has no sum, so even NaN payloads must agree.
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "gelu {} n={n}", ks.isa);
            }
        }
    }
}

#[test]
fn gelu_sweeps_every_exponent() {
    // Every exponent and sign with a few mantissas: subnormal and FTZ edges of each intermediate.
    let x: Vec<f32> = (0u32..512)
        .flat_map(|e| [0u32, 1, 0x3f_ffff, 0x40_0000, 0x7f_ffff].map(move |m| (e << 23) | m))
        .map(f32::from_bits)
        .collect();
    let mut want = vec![0.0; x.len()];
    (scalar().xnn.gelu)(&x, &mut want);
    for ks in sets() {
        let mut got = vec![0.0; x.len()];
        (ks.xnn.gelu)(&x, &mut got);
        assert_same(&format!("gelu sweep {}", ks.isa), &got, &want);
    }
}

#[test]
fn softmax_matches_scalar_bit_for_bit_in_each_order() {
    let mut rng = StdRng::seed_from_u64(2);
    let reference = scalar();
    for ks in sets() {
        for order in ORDERS {
            for &n in &LENGTHS {
                let kinds: [(f32, Pick); 4] = [
                    (10.0, uniform),
                    (100.0, uniform),
                    (200.0, value),
                    (30.0, finite_or_minus_inf),
                ];
                for (scale, pick) in kinds {
                    let x: Vec<f32> = (0..=n).map(|_| pick(&mut rng, scale)).collect();
                    let (mut got, mut want) = (vec![0.0; n], vec![0.0; n]);
                    (ks.xnn.softmax)(&x[1..], &mut got, order);
                    (reference.xnn.softmax)(&x[1..], &mut want, order);
                    assert_same(&format!("softmax {} {order:?} n={n}", ks.isa), &got, &want);
                }
            }
        }
    }
}

#[test]
fn softmax_edge_rows_match_scalar() {
    let nan = f32::NAN;
    let rows: [&[f32]; 6] = [
        &[nan; 19],
        &[f32::NEG_INFINITY; 17],
        &[f32::INFINITY, 1.0, 2.0],
        &[-0.0, 0.0, -0.0, 1e-40, -1e-40],
        &[nan, 1.0, nan, -3.0, 0.5],
        &[-200.0, 0.0, -87.0, -104.0, -0.0, -103.0],
    ];
    for ks in sets() {
        for order in ORDERS {
            for row in rows {
                let (mut got, mut want) = (vec![0.0; row.len()], vec![0.0; row.len()]);
                (ks.xnn.softmax)(row, &mut got, order);
                (scalar().xnn.softmax)(row, &mut want, order);
                assert_same(
                    &format!("softmax {} {order:?} {row:?}", ks.isa),
                    &got,
                    &want,
                );
            }
        }
    }
}

#[test]
fn softmax_orders_group_sums_differently() {
    // 64 terms whose sum depends on the grouping: the orders must differ somewhere, or the tests above
    // would not tell them apart.
    let mut rng = StdRng::seed_from_u64(3);
    let differ = (0..50).any(|_| {
        let x = data(&mut rng, 200, 30.0, false);
        let (mut a, mut b) = (vec![0.0; 200], vec![0.0; 200]);
        (scalar().xnn.softmax)(&x[..200], &mut a, SumOrder::Avx512f);
        (scalar().xnn.softmax)(&x[..200], &mut b, SumOrder::Avx2);
        a != b
    });
    assert!(differ);
}

#[test]
fn mean_matches_scalar_bit_for_bit_in_each_order() {
    let mut rng = StdRng::seed_from_u64(4);
    let reference = scalar();
    for ks in sets() {
        for order in ORDERS {
            for &n in &LENGTHS {
                for special in [false, true] {
                    let x = data(&mut rng, n, 1e3, special);
                    let scale = 1.0 / n.max(1) as f32;
                    let got = (ks.xnn.mean)(&x[1..], scale, order);
                    let want = (reference.xnn.mean)(&x[1..], scale, order);
                    assert!(
                        same(got, want),
                        "mean {} {order:?} n={n}: {got:e} vs {want:e}",
                        ks.isa
                    );
                }
            }
            // Cancelling terms near the smallest normal: the partial sums go subnormal and flush.
            for &n in &LENGTHS {
                let x: Vec<f32> = (0..n)
                    .map(|i| f32::MIN_POSITIVE * (1.0 + i as f32 / 64.0) * [1.0, -1.0][i % 2])
                    .collect();
                let got = (ks.xnn.mean)(&x, 0.5, order);
                let want = (reference.xnn.mean)(&x, 0.5, order);
                assert!(same(got, want), "mean {} {order:?} tiny n={n}", ks.isa);
            }
        }
    }
}

#[test]
fn mean_cols_matches_scalar_bit_for_bit() {
    let mut rng = StdRng::seed_from_u64(5);
    let reference = scalar();
    for ks in sets() {
        for rows in [1, 2, 7, 49] {
            for &cols in &LENGTHS {
                let x = data(&mut rng, rows * cols, 1e3, cols % 2 == 1);
                let scale = 1.0 / rows as f32;
                let (mut got, mut want) = (vec![0.0; cols], vec![0.0; cols]);
                (ks.xnn.mean_cols)(&x[1..], scale, &mut got);
                (reference.xnn.mean_cols)(&x[1..], scale, &mut want);
                assert_same(&format!("mean_cols {} {rows}x{cols}", ks.isa), &got, &want);
            }
        }
    }
}

#[test]
fn scalar_twins_give_known_values() {
    let ks = scalar();
    let mut y = [0.0; 5];
    (ks.xnn.gelu)(&[0.0, 1.0, -1.0, 10.0, 1e-40], &mut y);
    // GELU(±1) = ±0.8413447·… and 1 − 0.8413447; beyond the clamp GELU(x) = x; subnormals flush.
    assert_eq!(y[0], 0.0);
    assert!((y[1] - 0.841_344_7).abs() < 2e-7, "{}", y[1]);
    assert!((y[2] + 0.158_655_26).abs() < 2e-7, "{}", y[2]);
    assert_eq!(y[3], 10.0);
    assert_eq!(y[4].to_bits(), 0);
    let mut s = [0.0; 3];
    (ks.xnn.softmax)(&[1.0, 2.0, 3.0], &mut s, SumOrder::Avx2);
    for (got, want) in s.iter().zip([0.090_030_57, 0.244_728_48, 0.665_240_94]) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    let x: Vec<f32> = (1..=100).map(|i| i as f32).collect();
    assert_eq!((ks.xnn.mean)(&x, 0.01, SumOrder::Avx512f), 50.5);
    let mut m = [0.0; 2];
    (ks.xnn.mean_cols)(&[1.0, 10.0, 3.0, 20.0], 0.5, &mut m);
    assert_eq!(m, [2.0, 15.0]);
    assert_eq!(ftz(-1e-40).to_bits(), (-0.0f32).to_bits());
}

#[test]
fn safe_wrappers_check_shapes() {
    let ks = scalar();
    let mut y = [0.0; 3];
    assert!(gelu(&ks, &[1.0; 4], &mut y).is_err());
    assert!(softmax(&ks, Rows::new(2, 2), &[1.0; 4], &mut y, SumOrder::Avx2).is_err());
    assert!(mean_rows(&ks, Rows::new(3, 0), &[], &mut y, SumOrder::Avx2).is_err());
    assert!(mean_rows(&ks, Rows::new(3, 2), &[1.0; 5], &mut y, SumOrder::Avx2).is_err());
    assert!(mean_cols(&ks, Rows::new(0, 3), &[], &mut y).is_err());
    assert!(mean_cols(&ks, Rows::new(2, 3), &[1.0; 6], &mut y[..2]).is_err());
    mean_rows(
        &ks,
        Rows::new(3, 2),
        &[1.0, 3.0, 2.0, 2.0, -1.0, 1.0],
        &mut y,
        SumOrder::Avx2,
    )
    .unwrap();
    assert_eq!(y, [2.0, 2.0, 0.0]);
}
