//! Data movement on any element type: transpose, concatenation, slicing (row-major).

/// Strides of a row-major shape.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// `out[idx] = x[perm-mapped idx]`: output axis i is input axis `perm[i]`. Trailing axes that stay
/// in place move as contiguous blocks.
pub(crate) fn permute<T: Copy>(x: &[T], shape: &[usize], perm: &[usize], out: &mut [T]) {
    let st = strides(shape);
    let r = perm.len();
    let kept = (0..r).rev().take_while(|&i| perm[i] == i).count();
    let outer = r - kept;
    let block: usize = shape[outer..].iter().product();
    let oshape: Vec<usize> = perm[..outer].iter().map(|&p| shape[p]).collect();
    let ost: Vec<usize> = perm[..outer].iter().map(|&p| st[p]).collect();
    let mut idx = vec![0usize; outer];
    let mut src = 0usize;
    for o in out.chunks_mut(block.max(1)) {
        o.copy_from_slice(&x[src..src + o.len()]);
        // Odometer over the permuted outer axes, keeping the source offset incrementally.
        for d in (0..outer).rev() {
            idx[d] += 1;
            src += ost[d];
            if idx[d] < oshape[d] {
                break;
            }
            src -= ost[d] * oshape[d];
            idx[d] = 0;
        }
    }
}

/// Joins `parts` (data, shape) along `axis` into `out`.
pub(crate) fn concat<T: Copy>(parts: &[(&[T], &[usize])], axis: usize, out: &mut [T]) {
    let Some((_, s0)) = parts.first() else {
        return;
    };
    let outer: usize = s0[..axis].iter().product();
    let mut pos = 0;
    for o in 0..outer {
        for (data, shape) in parts {
            let inner: usize = shape[axis..].iter().product();
            out[pos..pos + inner].copy_from_slice(&data[o * inner..(o + 1) * inner]);
            pos += inner;
        }
    }
}

/// `out = x[begin .. begin + size]` per axis.
pub(crate) fn slice<T: Copy>(
    x: &[T],
    shape: &[usize],
    begin: &[usize],
    size: &[usize],
    out: &mut [T],
) {
    let st = strides(shape);
    let mut idx = vec![0usize; size.len()];
    for o in out.iter_mut() {
        let src: usize = idx
            .iter()
            .zip(begin)
            .zip(&st)
            .map(|((i, b), s)| (i + b) * s)
            .sum();
        *o = x[src];
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < size[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permute_concat_slice_move_the_right_elements() {
        let x: Vec<i8> = (0..6).collect();
        let mut t = vec![0i8; 6];
        permute(&x, &[2, 3], &[1, 0], &mut t);
        assert_eq!(t, [0, 3, 1, 4, 2, 5]);
        // [2, 3, 2] with the last axis kept: blocks of 2 move together.
        let y: Vec<i8> = (0..12).collect();
        let mut u = vec![0i8; 12];
        permute(&y, &[2, 3, 2], &[1, 0, 2], &mut u);
        assert_eq!(u, [0, 1, 6, 7, 2, 3, 8, 9, 4, 5, 10, 11]);
        let mut w = vec![0i8; 12];
        permute(&y, &[2, 3, 2], &[0, 1, 2], &mut w);
        assert_eq!(w, y);
        let mut c = vec![0i8; 8];
        concat(
            &[(&[1, 2][..], &[1, 2][..]), (&x[..6], &[1, 6][..])],
            1,
            &mut c,
        );
        assert_eq!(c, [1, 2, 0, 1, 2, 3, 4, 5]);
        let mut s = vec![0i8; 2];
        slice(&x, &[2, 3], &[1, 1], &[1, 2], &mut s);
        assert_eq!(s, [4, 5]);
    }
}
