//! Data movement on any element type: transpose, concatenation, slicing (row-major).

/// Strides of a row-major shape.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// `out[idx] = x[perm-mapped idx]`: output axis i is input axis `perm[i]`.
pub(crate) fn permute<T: Copy>(x: &[T], shape: &[usize], perm: &[usize], out: &mut [T]) {
    let st = strides(shape);
    let oshape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let ost: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
    let mut idx = vec![0usize; oshape.len()];
    for o in out.iter_mut() {
        let src: usize = idx.iter().zip(&ost).map(|(i, s)| i * s).sum();
        *o = x[src];
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < oshape[d] {
                break;
            }
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
