//! Deterministic data parallelism for ops: tasks write disjoint outputs, and reductions sum
//! per-chunk partials in chunk order, with chunks fixed by the item count alone, so a result does
//! not depend on the thread count.

use std::cell::RefCell;
use std::ops::Range;

use inkling_kernels::threads;
use rayon::prelude::*;

use crate::Result;

/// Partial buffers of a reduction: enough tasks for a few cores, few enough that the partials
/// (one gradient-sized buffer each) stay small.
const REDUCE_CHUNKS: usize = 8;

/// Tasks of a map without reduction: enough to balance uneven items over many cores.
const MAP_CHUNKS: usize = 64;

/// `items` cut into at most `parts` near-equal, non-empty ranges.
fn ranges(items: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.min(items).max(1);
    (0..parts)
        .map(|i| items * i / parts..items * (i + 1) / parts)
        .filter(|r| !r.is_empty())
        .collect()
}

thread_local! {
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on a scratch buffer of `len` elements with unspecified contents, kept per thread so
/// that tasks do not allocate (and fault in) a fresh buffer each time.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut v) => {
            if v.len() < len {
                v.resize(len, 0.0);
            }
            f(&mut v[..len])
        }
        // Nested use on this thread (a task inside a task): a buffer of its own.
        Err(_) => f(&mut vec![0.0; len]),
    })
}

/// Runs `f` in the kernels' thread pool ([`threads::num_threads`] threads).
pub(crate) fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    threads::install(threads::num_threads(), f)
}

/// Runs `f(items, out_chunk)` in parallel over ranges of `items` items, where `out` holds
/// `out.len() / items` elements per item and each task gets the chunk of its items.
pub(crate) fn map_items<F>(items: usize, out: &mut [f32], f: F) -> Result<()>
where
    F: Fn(Range<usize>, &mut [f32]) -> Result<()> + Sync,
{
    if items == 0 {
        return Ok(());
    }
    let per = out.len() / items;
    let mut tasks = Vec::new();
    let mut rest = out;
    for r in ranges(items, MAP_CHUNKS) {
        let (head, tail) = rest.split_at_mut(r.len() * per);
        tasks.push((r, head));
        rest = tail;
    }
    install(|| tasks.into_par_iter().try_for_each(|(r, o)| f(r, o)))
}

/// Like [`map_items`] (with `out` optional), and each task also accumulates into its own zeroed
/// partial of `partial_len` elements; returns the partials summed in chunk order.
pub(crate) fn map_reduce_items<F>(
    items: usize,
    out: Option<&mut [f32]>,
    partial_len: usize,
    f: F,
) -> Result<Vec<f32>>
where
    F: Fn(Range<usize>, Option<&mut [f32]>, &mut [f32]) -> Result<()> + Sync,
{
    let chunks = ranges(items, REDUCE_CHUNKS);
    let mut partials = vec![0.0f32; chunks.len() * partial_len];
    if items == 0 {
        return Ok(vec![0.0; partial_len]);
    }
    let per = out.as_ref().map_or(0, |o| o.len() / items);
    let mut tasks = Vec::with_capacity(chunks.len());
    let mut rest = out;
    let mut prest = partials.as_mut_slice();
    for r in chunks {
        let o = match rest.take() {
            Some(o) => {
                let (head, tail) = o.split_at_mut(r.len() * per);
                rest = Some(tail);
                Some(head)
            }
            None => None,
        };
        let (p, ptail) = prest.split_at_mut(partial_len);
        prest = ptail;
        tasks.push((r, o, p));
    }
    install(|| tasks.into_par_iter().try_for_each(|(r, o, p)| f(r, o, p)))?;
    let mut parts = partials.chunks_exact(partial_len.max(1));
    let mut sum = parts.next().map_or_else(Vec::new, <[f32]>::to_vec);
    sum.resize(partial_len, 0.0);
    for p in parts {
        for (s, v) in sum.iter_mut().zip(p) {
            *s += v;
        }
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tensor;

    #[test]
    fn ranges_cover_items_once() {
        for (items, parts) in [(1, 8), (7, 8), (8, 8), (65, 8), (3, 64)] {
            let rs = ranges(items, parts);
            assert!(rs.len() <= parts);
            let flat: Vec<usize> = rs.into_iter().flatten().collect();
            assert_eq!(flat, (0..items).collect::<Vec<_>>());
        }
    }

    #[test]
    fn map_reduce_sums_partials_and_fills_outputs() {
        let mut out = vec![0.0f32; 10 * 2];
        let sum = map_reduce_items(10, Some(&mut out), 3, |r, o, p| {
            let o = o.expect("output given");
            for (j, i) in r.enumerate() {
                o[2 * j] = i as f32;
                o[2 * j + 1] = -(i as f32);
                p[0] += i as f32;
                p[2] += 1.0;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(sum, vec![45.0, 0.0, 10.0]);
        for i in 0..10 {
            assert_eq!(out[2 * i], i as f32);
            assert_eq!(out[2 * i + 1], -(i as f32));
        }
    }

    /// Output and input gradients of `f` on tracked copies of `inputs`, seeded with fixed values.
    fn run_with_grads(f: &dyn Fn(&[Tensor]) -> Result<Tensor>, inputs: &[Tensor]) -> Vec<Vec<f32>> {
        crate::clear_tape();
        let xs: Vec<Tensor> = inputs.iter().map(|x| x.detach().requires_grad()).collect();
        let y = f(&xs).unwrap();
        let seed = crate::gradcheck::rand_tensor(y.shape(), 9);
        let grads = y.backward_with(seed).unwrap();
        let mut out = vec![y.data().to_vec()];
        out.extend(xs.iter().map(|x| grads.wrt(x).unwrap().data().to_vec()));
        out
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        use crate::gradcheck::rand_tensor;
        use crate::ops::*;
        let spec = Conv2dSpec {
            stride: (1, 1),
            padding: (1, 1),
            groups: 1,
        };
        let dw_spec = Conv2dSpec { groups: 3, ..spec };
        type Case = (Box<dyn Fn(&[Tensor]) -> Result<Tensor>>, Vec<Tensor>);
        let cases: Vec<Case> = vec![
            (
                Box::new(|xs| attention(&xs[0], 2)),
                vec![rand_tensor(&[9, 6, 12], 1)],
            ),
            (
                Box::new(move |xs| conv2d(&xs[0], &xs[1], Some(&xs[2]), &spec)),
                vec![
                    rand_tensor(&[11, 3, 5, 5], 2),
                    rand_tensor(&[4, 3, 3, 3], 3),
                    rand_tensor(&[4], 4),
                ],
            ),
            (
                Box::new(move |xs| depthwise_conv2d(&xs[0], &xs[1], Some(&xs[2]), &dw_spec)),
                vec![
                    rand_tensor(&[11, 3, 5, 5], 5),
                    rand_tensor(&[3, 1, 3, 3], 6),
                    rand_tensor(&[3], 7),
                ],
            ),
            (
                Box::new(|xs| layer_norm(&xs[0], &xs[1], &xs[2], 1e-5)),
                vec![
                    rand_tensor(&[300, 7], 8),
                    rand_tensor(&[7], 9),
                    rand_tensor(&[7], 10),
                ],
            ),
            (
                Box::new(|xs| matmul(&xs[0], &xs[1], true, false)),
                vec![rand_tensor(&[13, 4, 3], 11), rand_tensor(&[4, 5], 12)],
            ),
        ];
        // Other tests may run meanwhile: they see a different thread count, which by this very
        // property does not change their results.
        for (f, inputs) in &cases {
            threads::set_num_threads(1);
            let one = run_with_grads(f.as_ref(), inputs);
            threads::set_num_threads(3);
            let three = run_with_grads(f.as_ref(), inputs);
            threads::set_num_threads(0);
            assert_eq!(one, three);
        }
    }
}
