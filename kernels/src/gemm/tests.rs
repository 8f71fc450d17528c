//! f32 GEMM tests: every ISA table against an f64 reference (and so against each other), packing by
//! unpacking, micro-kernels against the scalar math, and argument checking.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::epilogue::TileOut;
use super::pack::{pack_a, pack_b};
use super::*;
use crate::Error;

fn seeded(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// The tables this CPU can run, announcing the ones it cannot.
fn tables() -> Vec<KernelSet> {
    Isa::ALL
        .into_iter()
        .filter_map(|isa| {
            let ks = KernelSet::for_isa(isa);
            if ks.is_none() {
                eprintln!("skip: this CPU has no {isa}; its f32 GEMM table is not tested here");
            }
            ks
        })
        .collect()
}

fn rand_vec(rng: &mut StdRng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

#[derive(Clone, Copy, Debug)]
struct Case {
    m: usize,
    n: usize,
    k: usize,
    ta: bool,
    tb: bool,
    alpha: f32,
    beta: f32,
    /// Extra elements per row on every leading dimension.
    pad: usize,
    /// Slices start one element into their allocation, so nothing is aligned.
    unaligned: bool,
    act: Activation,
    bias: bool,
    residual: bool,
    threads: usize,
}

impl Case {
    fn new(m: usize, n: usize, k: usize) -> Case {
        Case {
            m,
            n,
            k,
            ta: false,
            tb: false,
            alpha: 1.0,
            beta: 0.0,
            pad: 0,
            unaligned: false,
            act: Activation::None,
            bias: false,
            residual: false,
            threads: 1,
        }
    }

    /// A case whose options are picked round-robin from `i`, so a sweep covers every combination of
    /// each option with many shapes.
    fn varied(m: usize, n: usize, k: usize, i: usize) -> Case {
        const ACTS: [Activation; 4] = [
            Activation::None,
            Activation::Relu,
            Activation::Gelu,
            Activation::GeluTanh,
        ];
        Case {
            ta: i & 1 != 0,
            tb: i & 2 != 0,
            alpha: [1.0, -0.75, 2.5][i % 3],
            beta: [0.0, 1.0, 0.0, -1.5, 0.0][i % 5],
            pad: [0, 3][(i / 4) % 2],
            unaligned: (i / 3) % 2 == 1,
            act: ACTS[(i / 7) % 4],
            bias: (i / 5).is_multiple_of(2),
            residual: (i / 2) % 3 == 1,
            threads: 1 + (i / 11) % 2,
            ..Case::new(m, n, k)
        }
    }
}

/// A slice of `len` random floats, one element into its allocation when `unaligned`.
struct Buf {
    v: Vec<f32>,
    off: usize,
}

impl Buf {
    fn new(rng: &mut StdRng, len: usize, unaligned: bool) -> Buf {
        let off = usize::from(unaligned);
        Buf {
            v: rand_vec(rng, len + off),
            off,
        }
    }
    fn s(&self) -> &[f32] {
        &self.v[self.off..]
    }
    fn s_mut(&mut self) -> &mut [f32] {
        &mut self.v[self.off..]
    }
}

/// Runs one case on `ks` and checks every element of C (padding included) against an f64 reference.
fn check(ks: &KernelSet, cs: Case, blk: &Blocking, rng: &mut StdRng) {
    let Case { m, n, k, .. } = cs;
    let (ar, ac) = if cs.ta { (k, m) } else { (m, k) };
    let (br, bc) = if cs.tb { (n, k) } else { (k, n) };
    let (lda, ldb, ldc) = (ac + cs.pad, bc + cs.pad, n + cs.pad);
    let a = Buf::new(rng, span("test", "M", ar, ac, lda).unwrap(), cs.unaligned);
    let b = Buf::new(rng, span("test", "M", br, bc, ldb).unwrap(), cs.unaligned);
    let mut c = Buf::new(rng, span("test", "M", m, n, ldc).unwrap(), cs.unaligned);
    if cs.beta == 0.0 {
        c.s_mut().fill(f32::NAN);
    }
    let c0 = c.s().to_vec();
    let bias = Buf::new(rng, n, cs.unaligned);
    let res = Buf::new(rng, span("test", "M", m, n, ldc).unwrap(), cs.unaligned);
    let p = GemmParams {
        m,
        n,
        k,
        alpha: cs.alpha,
        beta: cs.beta,
        trans_a: cs.ta,
        trans_b: cs.tb,
        lda,
        ldb,
        ldc,
    };
    let epi = Epilogue {
        bias: cs.bias.then(|| bias.s()),
        activation: cs.act,
        residual: cs.residual.then(|| res.s()),
    };
    sgemm_with(ks, &p, a.s(), b.s(), c.s_mut(), &epi, cs.threads, blk)
        .unwrap_or_else(|e| panic!("{}: {cs:?}: {e}", ks.gemm.name));

    let (a, b, c, c0) = (a.s(), b.s(), c.s(), &c0);
    let at = |i: usize, l: usize| if cs.ta { a[l * lda + i] } else { a[i * lda + l] } as f64;
    let bt = |l: usize, j: usize| if cs.tb { b[j * ldb + l] } else { b[l * ldb + j] } as f64;
    for i in 0..m {
        for j in 0..ldc.min(c.len().saturating_sub(i * ldc)) {
            let idx = i * ldc + j;
            if j >= n {
                assert!(
                    c[idx].to_bits() == c0[idx].to_bits(),
                    "{}: {cs:?}: padding C[{i},{j}] was written",
                    ks.gemm.name
                );
                continue;
            }
            let (mut dot, mut mag) = (0.0f64, 0.0f64);
            for l in 0..k {
                dot += at(i, l) * bt(l, j);
                mag += (at(i, l) * bt(l, j)).abs();
            }
            let mut pre = cs.alpha as f64 * dot;
            mag *= (cs.alpha as f64).abs();
            if cs.beta != 0.0 {
                pre += cs.beta as f64 * c0[idx] as f64;
                mag += (cs.beta as f64 * c0[idx] as f64).abs();
            }
            if let Some(bias) = epi.bias {
                pre += bias[j] as f64;
                mag += (bias[j] as f64).abs();
            }
            let mut want = match cs.act {
                Activation::None => pre,
                Activation::Relu => pre.max(0.0),
                Activation::Gelu | Activation::GeluTanh => {
                    let mut v = [pre as f32];
                    let f = if cs.act == Activation::Gelu {
                        ks.rows.gelu
                    } else {
                        ks.rows.gelu_tanh
                    };
                    f(&mut v);
                    v[0] as f64
                }
            };
            if let Some(res) = epi.residual {
                want += res[idx] as f64;
                mag += (res[idx] as f64).abs();
            }
            // Each of the k products and the terms after them is rounded at most once per add, and
            // GELU's slope is below 1.13: 2·(k + 4)·ε·Σ|terms| bounds the error.
            let tol = 2.0 * (k as f64 + 4.0) * f32::EPSILON as f64 * mag + 1e-30;
            let got = c[idx] as f64;
            assert!(
                (got - want).abs() <= tol,
                "{}: {cs:?}: C[{i},{j}] = {got}, want {want} (tol {tol:e})",
                ks.gemm.name
            );
        }
    }
}

/// Blocks of a few tiles, so every block edge is reached by small shapes.
fn tiny_blocking(ks: &KernelSet, in_place_max_n: usize) -> Blocking {
    let (mr, nr) = ks.gemm.tile;
    Blocking {
        mc: 2 * mr,
        kc: 8,
        nc: 2 * nr,
        in_place_max_n,
    }
}

/// 0, 1, primes, and one below / at / above the tile, twice the tile plus one.
fn sizes(tile: usize) -> Vec<usize> {
    let mut v = vec![0, 1, 2, 7, 13, tile - 1, tile, tile + 1, 2 * tile + 1];
    v.sort_unstable();
    v.dedup();
    v
}

#[test]
fn every_table_matches_reference_over_edge_shapes() {
    let mut cases = 0;
    for ks in tables() {
        let (mr, nr) = ks.gemm.tile;
        let mut rng = seeded(7);
        let mut i = 0;
        for m in sizes(mr) {
            for n in sizes(nr) {
                for k in [0, 1, 3, 8, 9, 17, 31] {
                    let in_place = [0, usize::MAX][i % 2];
                    check(
                        &ks,
                        Case::varied(m, n, k, i),
                        &tiny_blocking(&ks, in_place),
                        &mut rng,
                    );
                    i += 1;
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 0);
}

#[test]
fn every_option_on_one_shape() {
    // All 4 transposes × every epilogue × α/β × threads, on a shape with edges in M, N and K.
    for ks in tables() {
        let (mr, nr) = ks.gemm.tile;
        let mut rng = seeded(11);
        let (m, n, k) = (3 * mr + 1, 2 * nr + 3, 19);
        for ta in [false, true] {
            for tb in [false, true] {
                for act in [
                    Activation::None,
                    Activation::Relu,
                    Activation::Gelu,
                    Activation::GeluTanh,
                ] {
                    for (alpha, beta, threads) in [(1.0, 0.0, 1), (0.5, 1.0, 2), (-2.0, 0.25, 2)] {
                        let cs = Case {
                            ta,
                            tb,
                            alpha,
                            beta,
                            act,
                            bias: true,
                            residual: true,
                            threads,
                            pad: 1,
                            unaligned: true,
                            ..Case::new(m, n, k)
                        };
                        check(&ks, cs, &tiny_blocking(&ks, usize::MAX), &mut rng);
                        check(&ks, cs, &tiny_blocking(&ks, 0), &mut rng);
                    }
                }
            }
        }
    }
}

#[test]
fn block_edges_plus_minus_one() {
    for ks in tables() {
        let (mr, nr) = ks.gemm.tile;
        let blk = Blocking {
            mc: 3 * mr,
            kc: 16,
            nc: 3 * nr,
            in_place_max_n: 2 * nr,
        };
        let mut rng = seeded(13);
        let mut i = 0;
        for m in [3 * mr - 1, 3 * mr, 3 * mr + 1, 6 * mr + 1] {
            for n in [3 * nr - 1, 3 * nr, 3 * nr + 1] {
                for k in [15, 16, 17, 33] {
                    check(&ks, Case::varied(m, n, k, i), &blk, &mut rng);
                    i += 1;
                }
            }
        }
    }
}

#[test]
fn production_blocking_and_threads() {
    // Default blocks (several K blocks), packed and in-place A, 1 to 3 threads, and a row stride of
    // exactly 4 KiB (which the in-place path avoids).
    for ks in tables() {
        let blk = Blocking::for_tile(ks.gemm.tile);
        let mut rng = seeded(17);
        let k = 2 * blk.kc + 3;
        for (i, (m, n, threads)) in [(37, 45, 1), (37, 45, 2), (50, 300, 2), (23, 29, 3)]
            .into_iter()
            .enumerate()
        {
            let cs = Case {
                threads,
                ..Case::varied(m, n, k, i)
            };
            check(&ks, cs, &blk, &mut rng);
        }
        let cs = Case {
            bias: true,
            threads: 2,
            ..Case::new(9, 20, 1024)
        };
        check(&ks, cs, &blk, &mut rng);
    }
}

#[test]
fn public_entry_uses_default_blocking() {
    let ks = crate::kernels();
    let mut rng = seeded(19);
    let (m, n, k) = (20, 33, 40);
    let a = rand_vec(&mut rng, m * k);
    let b = rand_vec(&mut rng, k * n);
    let mut c = vec![f32::NAN; m * n];
    sgemm(
        ks,
        &GemmParams::new(m, n, k),
        &a,
        &b,
        &mut c,
        &Epilogue::default(),
    )
    .unwrap();
    for i in 0..m {
        for j in 0..n {
            let want: f64 = (0..k)
                .map(|l| a[i * k + l] as f64 * b[l * n + j] as f64)
                .sum();
            let tol = 2.0 * (k as f64 + 4.0) * f32::EPSILON as f64 * k as f64;
            assert!((c[i * n + j] as f64 - want).abs() <= tol);
        }
    }
}

#[test]
fn micro_kernels_match_scalar_math() {
    // Each table's micro-kernel on one full tile, packed and strided A, every store mode.
    for ks in tables() {
        let (mr, nr) = ks.gemm.tile;
        let mut rng = seeded(23);
        for kc in [0, 1, 3, 4, 5, 9] {
            for strided in [false, true] {
                for mode in 0..4 {
                    let (rs, cs) = if strided { (kc + 2, 1) } else { (1, mr) };
                    let a = rand_vec(&mut rng, mr * rs.max(1) + kc * cs + 1);
                    let b = rand_vec(&mut rng, kc * nr);
                    let ldc = nr + 2;
                    let mut c = rand_vec(&mut rng, mr * ldc);
                    let c0 = c.clone();
                    let bias = rand_vec(&mut rng, nr);
                    let res = rand_vec(&mut rng, mr * ldc);
                    let out = TileOut {
                        alpha: [1.0, 0.5, -1.0, 2.0][mode],
                        beta: [0.0, 1.0, 0.0, -0.5][mode],
                        bias: if mode >= 2 {
                            bias.as_ptr()
                        } else {
                            std::ptr::null()
                        },
                        relu: mode == 3,
                        residual: if mode == 1 || mode == 3 {
                            res.as_ptr()
                        } else {
                            std::ptr::null()
                        },
                    };
                    if out.beta == 0.0 {
                        for i in 0..mr {
                            c[i * ldc..i * ldc + nr].fill(f32::NAN);
                        }
                    }
                    // SAFETY: the buffers above cover the tile, the panels and the strided A reads.
                    unsafe {
                        (ks.gemm.ukernel)(
                            kc,
                            a.as_ptr(),
                            rs,
                            cs,
                            b.as_ptr(),
                            c.as_mut_ptr(),
                            ldc,
                            &out,
                        )
                    };
                    for i in 0..mr {
                        for j in 0..ldc {
                            let at = i * ldc + j;
                            if j >= nr {
                                assert_eq!(c[at].to_bits(), c0[at].to_bits(), "padding written");
                                continue;
                            }
                            let (mut s, mut mag) = (0.0f64, 0.0f64);
                            for p in 0..kc {
                                let t = a[i * rs + p * cs] as f64 * b[p * nr + j] as f64;
                                s += t;
                                mag += t.abs();
                            }
                            let mut want = out.alpha as f64 * s;
                            mag = mag * (out.alpha as f64).abs() + 1.0;
                            if out.beta != 0.0 {
                                want += out.beta as f64 * c0[at] as f64;
                            }
                            if mode >= 2 {
                                want += bias[j] as f64;
                            }
                            if out.relu {
                                want = want.max(0.0);
                            }
                            if !out.residual.is_null() {
                                want += res[at] as f64;
                            }
                            let tol = 2.0 * (kc as f64 + 4.0) * f32::EPSILON as f64 * (mag + 4.0);
                            assert!(
                                (c[at] as f64 - want).abs() <= tol,
                                "{} kc={kc} strided={strided} mode={mode} [{i},{j}]: {} vs {want}",
                                ks.gemm.name,
                                c[at]
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Inverse of `pack_a`: `op(A)[r, p]` for the packed rows and K block, plus the padding values.
fn unpack_a(packed: &[f32], rows: usize, kc: usize, mr: usize) -> (Vec<Vec<f32>>, Vec<f32>) {
    let mut out = vec![vec![0.0; kc]; rows];
    let mut pad = Vec::new();
    for q in 0..rows.div_ceil(mr) {
        for p in 0..kc {
            for i in 0..mr {
                let v = packed[q * mr * kc + p * mr + i];
                match out.get_mut(q * mr + i) {
                    Some(row) => row[p] = v,
                    None => pad.push(v),
                }
            }
        }
    }
    (out, pad)
}

#[test]
fn pack_round_trip_with_zero_padding() {
    let mut rng = seeded(29);
    for (mr, nr) in [(4, 8), (6, 16), (8, 12)] {
        for (rows, cols, kc) in [
            (1, 1, 1),
            (3, 17, 5),
            (13, 15, 64),
            (2 * mr + 1, 2 * nr + 1, 7),
        ] {
            for trans in [false, true] {
                let (r0, k0, pad) = (2, 3, 5);
                // A: op(A) has rows r0..r0+rows and K columns k0..k0+kc inside a bigger matrix.
                let (sr, sc) = (r0 + rows, k0 + kc);
                let (stored_r, stored_c) = if trans { (sc, sr) } else { (sr, sc) };
                let ld = stored_c + pad;
                let a = rand_vec(&mut rng, stored_r * ld);
                let opa = |i: usize, p: usize| if trans { a[p * ld + i] } else { a[i * ld + p] };
                let mut out = vec![f32::NAN; rows.div_ceil(mr) * mr * kc];
                pack_a(&a, ld, trans, r0..r0 + rows, k0..k0 + kc, mr, &mut out);
                let (got, padding) = unpack_a(&out, rows, kc, mr);
                for (i, row) in got.iter().enumerate() {
                    for (p, &v) in row.iter().enumerate() {
                        assert_eq!(v, opa(r0 + i, k0 + p), "pack_a trans={trans} [{i},{p}]");
                    }
                }
                assert!(padding.iter().all(|&v| v == 0.0), "pack_a padding not zero");

                // B: op(B) has K rows k0..k0+kc and columns r0..r0+cols.
                let (sr, sc) = (k0 + kc, r0 + cols);
                let (stored_r, stored_c) = if trans { (sc, sr) } else { (sr, sc) };
                let ld = stored_c + pad;
                let b = rand_vec(&mut rng, stored_r * ld);
                let opb = |p: usize, j: usize| if trans { b[j * ld + p] } else { b[p * ld + j] };
                let mut out = vec![f32::NAN; cols.div_ceil(nr) * nr * kc];
                pack_b(&b, ld, trans, k0..k0 + kc, r0..r0 + cols, nr, &mut out);
                for q in 0..cols.div_ceil(nr) {
                    for p in 0..kc {
                        for j in 0..nr {
                            let v = out[q * nr * kc + p * nr + j];
                            let col = q * nr + j;
                            if col < cols {
                                assert_eq!(v, opb(k0 + p, r0 + col), "pack_b trans={trans}");
                            } else {
                                assert_eq!(v, 0.0, "pack_b padding not zero");
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn bad_arguments_are_errors() {
    let ks = KernelSet::for_isa(Isa::Scalar).unwrap();
    let (m, n, k) = (5, 7, 3);
    let a = vec![0.0; m * k];
    let b = vec![0.0; k * n];
    let mut c = vec![0.0; m * n];
    let p = GemmParams::new(m, n, k);
    let none = Epilogue::default();
    let short = |e: Result<()>| matches!(e, Err(Error::TooShort { .. }));
    let shape = |e: Result<()>| matches!(e, Err(Error::BadShape { .. }));
    assert!(short(sgemm(&ks, &p, &a[1..], &b, &mut c, &none)));
    assert!(short(sgemm(&ks, &p, &a, &b[1..], &mut c, &none)));
    assert!(short(sgemm(&ks, &p, &a, &b, &mut c[1..], &none)));
    assert!(short(sgemm(&ks, &p.trans_a(), &a[1..], &b, &mut c, &none)));
    assert!(short(sgemm(&ks, &p.trans_b(), &a, &b[1..], &mut c, &none)));
    let bias = vec![0.0; n - 1];
    let epi = Epilogue {
        bias: Some(&bias),
        ..none
    };
    assert!(short(sgemm(&ks, &p, &a, &b, &mut c, &epi)));
    let res = vec![0.0; m * n - 1];
    let epi = Epilogue {
        residual: Some(&res),
        ..none
    };
    assert!(short(sgemm(&ks, &p, &a, &b, &mut c, &epi)));
    assert!(shape(sgemm(&ks, &p.ld(k - 1, n, n), &a, &b, &mut c, &none)));
    assert!(shape(sgemm(&ks, &p.ld(k, n - 1, n), &a, &b, &mut c, &none)));
    assert!(shape(sgemm(&ks, &p.ld(k, n, n - 1), &a, &b, &mut c, &none)));
    assert!(shape(sgemm(
        &ks,
        &p.trans_a().ld(m - 1, n, n),
        &a,
        &b,
        &mut c,
        &none
    )));
    let huge = GemmParams::new(usize::MAX / 2, 4, 4);
    assert!(sgemm(&ks, &huge, &a, &b, &mut c, &none).is_err());
    let huge = GemmParams::new(3, 4, 4).ld(usize::MAX / 2, 4, 4);
    assert!(sgemm(&ks, &huge, &a, &b, &mut c, &none).is_err());
    // Empty products are fine with empty slices.
    sgemm(&ks, &GemmParams::new(0, 0, 0), &[], &[], &mut [], &none).unwrap();
    sgemm(&ks, &GemmParams::new(0, 5, 3), &[], &b, &mut [], &none).unwrap();
}

#[test]
fn thread_grid_and_parts_cover_everything() {
    for (len, parts, unit) in [(0, 2, 6), (1, 2, 6), (13, 2, 6), (100, 3, 16), (3200, 2, 6)] {
        let ranges: Vec<_> = (0..parts).map(|i| part(len, parts, i, unit)).collect();
        assert_eq!(ranges[0].start, 0);
        assert_eq!(ranges[parts - 1].end, len);
        for w in ranges.windows(2) {
            assert_eq!(w[0].end, w[1].start);
            assert!(w[0].end == len || w[0].end % unit == 0);
        }
    }
    let p = GemmParams::new(3200, 576, 192);
    assert_eq!(thread_grid(2, &p, 6, 16), (2, 1));
    let p = GemmParams::new(192, 576, 3200);
    assert_eq!(thread_grid(2, &p, 6, 16), (1, 2));
    assert_eq!(thread_grid(1, &p, 6, 16), (1, 1));
    let p = GemmParams::new(1, 1, 1);
    assert_eq!(thread_grid(4, &p, 6, 16), (1, 1));
}
