//! Packing of A and B into the panel layouts the micro-kernels read; transposes are handled here.
//!
//! A panel holds `MR` rows of op(A) for a K block, K-major: `panel[p·MR + i] = op(A)[r0 + i, k0 + p]`.
//! A B panel holds `NR` columns of op(B): `panel[p·NR + j] = op(B)[k0 + p, c0 + j]`. Panel `q` of a
//! block starts at `q·MR·kc` (resp. `q·NR·kc`). Rows / columns past the matrix edge are zero, so the
//! micro-kernel can always compute a full tile.

use std::ops::Range;

/// Packs `op(A)[rows, ks]` into `MR`-row panels (`op(A)` is A, or A stored k×m when `trans`).
///
/// Panics if `a` or `out` is too short; callers check A's span first. `out` needs
/// `ceil(rows.len() / mr)·mr·ks.len()` floats.
pub(crate) fn pack_a(
    a: &[f32],
    lda: usize,
    trans: bool,
    rows: Range<usize>,
    ks: Range<usize>,
    mr: usize,
    out: &mut [f32],
) {
    let kc = ks.len();
    if kc == 0 || rows.is_empty() {
        return;
    }
    let panels = rows.len().div_ceil(mr);
    for (q, panel) in out[..panels * mr * kc]
        .chunks_exact_mut(mr * kc)
        .enumerate()
    {
        let r0 = rows.start + q * mr;
        let mr_eff = mr.min(rows.end - r0);
        let done = mr_eff == mr
            && match mr {
                4 => full_panel::<4>(a, lda, !trans, r0, &ks, panel),
                6 => full_panel::<6>(a, lda, !trans, r0, &ks, panel),
                8 => full_panel::<8>(a, lda, !trans, r0, &ks, panel),
                _ => false,
            };
        if done {
            continue;
        }
        if mr_eff < mr {
            panel.fill(0.0);
        }
        if trans {
            for (p, dst) in panel.chunks_exact_mut(mr).enumerate() {
                let at = (ks.start + p) * lda + r0;
                dst[..mr_eff].copy_from_slice(&a[at..at + mr_eff]);
            }
        } else {
            for i in 0..mr_eff {
                let at = (r0 + i) * lda + ks.start;
                for (dst, &v) in panel.chunks_exact_mut(mr).zip(&a[at..at + kc]) {
                    dst[i] = v;
                }
            }
        }
    }
}

/// Packs `op(B)[ks, cols]` into `NR`-column panels (`op(B)` is B, or B stored n×k when `trans`).
///
/// Panics if `b` or `out` is too short; callers check B's span first. `out` needs
/// `ceil(cols.len() / nr)·nr·ks.len()` floats.
pub(crate) fn pack_b(
    b: &[f32],
    ldb: usize,
    trans: bool,
    ks: Range<usize>,
    cols: Range<usize>,
    nr: usize,
    out: &mut [f32],
) {
    let kc = ks.len();
    if kc == 0 || cols.is_empty() {
        return;
    }
    let panels = cols.len().div_ceil(nr);
    let done = if trans {
        0
    } else {
        let full = cols.len() / nr;
        match nr {
            8 => panels_by_line::<8>(b, ldb, cols.start, full, &ks, out),
            12 => panels_by_line::<12>(b, ldb, cols.start, full, &ks, out),
            16 => panels_by_line::<16>(b, ldb, cols.start, full, &ks, out),
            _ => 0,
        }
    };
    for (q, panel) in out[..panels * nr * kc]
        .chunks_exact_mut(nr * kc)
        .enumerate()
        .skip(done)
    {
        let c0 = cols.start + q * nr;
        let nr_eff = nr.min(cols.end - c0);
        let done = nr_eff == nr
            && match nr {
                8 => full_panel::<8>(b, ldb, trans, c0, &ks, panel),
                12 => full_panel::<12>(b, ldb, trans, c0, &ks, panel),
                16 => full_panel::<16>(b, ldb, trans, c0, &ks, panel),
                _ => false,
            };
        if done {
            continue;
        }
        if nr_eff < nr {
            panel.fill(0.0);
        }
        if trans {
            for j in 0..nr_eff {
                let at = (c0 + j) * ldb + ks.start;
                for (dst, &v) in panel.chunks_exact_mut(nr).zip(&b[at..at + kc]) {
                    dst[j] = v;
                }
            }
        } else {
            for (p, dst) in panel.chunks_exact_mut(nr).enumerate() {
                let at = (ks.start + p) * ldb + c0;
                dst[..nr_eff].copy_from_slice(&b[at..at + nr_eff]);
            }
        }
    }
}

/// Packs `count` full panels of `W` lines each, starting at line `l0`, when element `p` of line `l`
/// is `x[p·ld + l]` (B untransposed): one source row at a time, so B streams in order, once. Panel by
/// panel instead, each K step starts a new cache line `ld` floats on (10 % slower on the 3200×576 B
/// of a ViT weight gradient, Zen 4). A transposed A block is short and stays in L2, and its
/// many write streams made this order slower there. Returns `count`.
fn panels_by_line<const W: usize>(
    x: &[f32],
    ld: usize,
    l0: usize,
    count: usize,
    ks: &Range<usize>,
    out: &mut [f32],
) -> usize {
    let kc = ks.len();
    let out = &mut out[..count * W * kc];
    for p in 0..kc {
        let at = (ks.start + p) * ld + l0;
        let src = &x[at..at + count * W];
        for (q, s) in src.chunks_exact(W).enumerate() {
            let d = q * W * kc + p * W;
            out[d..d + W].copy_from_slice(s);
        }
    }
    count
}

/// Packs one full panel of `W` lines (rows of op(A) or columns of op(B)) for the K range `ks`, with
/// the tile width known at compile time so the copies and gathers are unrolled. `x` holds line `l`,
/// element `p` at `x[(l0 + l)·ld + p]` when `lines_contiguous`, else at `x[p·ld + l0 + l]`.
/// Returns true (so callers can chain it after the full-panel test).
fn full_panel<const W: usize>(
    x: &[f32],
    ld: usize,
    lines_contiguous: bool,
    l0: usize,
    ks: &Range<usize>,
    panel: &mut [f32],
) -> bool {
    let kc = ks.len();
    if lines_contiguous {
        let src: [&[f32]; W] = std::array::from_fn(|l| {
            let at = (l0 + l) * ld + ks.start;
            &x[at..at + kc]
        });
        for (p, dst) in panel[..kc * W].chunks_exact_mut(W).enumerate() {
            for (d, s) in dst.iter_mut().zip(&src) {
                *d = s[p];
            }
        }
    } else {
        for (p, dst) in panel[..kc * W].chunks_exact_mut(W).enumerate() {
            let at = (ks.start + p) * ld + l0;
            dst.copy_from_slice(&x[at..at + W]);
        }
    }
    true
}
