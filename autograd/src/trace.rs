//! Tracing: one forward pass recorded as a list of ops with their attributes, parameters and
//! constants, for the quantization crate to turn into its graph.

use crate::ops::OpKind;
use crate::param::ParamId;
use crate::tape::{self, RawNode};
use crate::{Error, Result, Tensor};

/// One entry of a traced forward pass; inputs refer to earlier entries by index.
#[derive(Clone, Debug)]
pub enum TraceEntry {
    /// The example input given to [`trace`].
    Input {
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A parameter's value at trace time.
    Param {
        /// The parameter's id (map it to a name with the model's `visit`).
        id: ParamId,
        /// Its value.
        value: Tensor,
    },
    /// An untracked tensor an op consumed (a buffer or a tensor built inside the forward pass).
    Const {
        /// Its value.
        value: Tensor,
    },
    /// An op applied to earlier entries.
    Op {
        /// What it computes.
        kind: OpKind,
        /// The entries it reads, in the op's input order.
        inputs: Vec<usize>,
        /// Its output shape.
        shape: Vec<usize>,
    },
}

/// A traced forward pass.
#[derive(Clone, Debug)]
pub struct Trace {
    /// Entries in execution order.
    pub entries: Vec<TraceEntry>,
    /// The entry that is the model's output.
    pub output: usize,
}

/// Runs `f(input)` once, recording every op (parameters and constants included, nothing saved for
/// backward), and returns the recording. The thread's tape is cleared before and after.
pub fn trace(input: &Tensor, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Trace> {
    let grad_was = tape::begin_trace();
    let run = || -> Result<Option<usize>> {
        let x = input.detach().requires_grad();
        let y = f(&x)?;
        Ok(tape::index_of(&y))
    };
    let output = run();
    let raw = tape::end_trace(grad_was);
    let output = output?.ok_or_else(|| Error::BadShape {
        op: "trace",
        what: "the output does not depend on any recorded op".into(),
    })?;
    let mut entries = Vec::with_capacity(raw.len());
    for (i, node) in raw.into_iter().enumerate() {
        entries.push(match node {
            RawNode::Leaf {
                param: Some(id),
                value: Some(value),
                ..
            } => TraceEntry::Param { id, value },
            RawNode::Leaf { shape, .. } if i == 0 => TraceEntry::Input { shape },
            RawNode::Leaf {
                value: Some(value), ..
            } => TraceEntry::Const { value },
            RawNode::Leaf { .. } => {
                return Err(Error::BadShape {
                    op: "trace",
                    what: format!("leaf {i} has no value"),
                })
            }
            RawNode::Op { op, inputs, shape } => TraceEntry::Op {
                kind: op.kind(),
                inputs: inputs
                    .into_iter()
                    .map(|j| {
                        j.ok_or_else(|| Error::BadShape {
                            op: "trace",
                            what: format!("op {i} ({}) has an unrecorded input", op.kind().name()),
                        })
                    })
                    .collect::<Result<_>>()?,
                shape,
            },
        });
    }
    Ok(Trace { entries, output })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ops, Param};

    #[test]
    fn trace_records_params_constants_and_ops() {
        let w = Param::new(Tensor::new(&[2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap());
        let x = Tensor::new(&[1, 3], vec![1., 0., -1.]).unwrap();
        let t = trace(&x, |x| {
            let y = ops::linear(x, &w.tensor(), None, crate::Activation::None)?;
            // An op on an untracked tensor is recorded too, its operand as a constant.
            ops::add(&y, &Tensor::full(&[1, 2], 0.5))
        })
        .unwrap();
        assert_eq!(t.entries.len(), 5);
        assert!(matches!(&t.entries[0], TraceEntry::Input { shape } if shape == &[1, 3]));
        assert!(matches!(&t.entries[1], TraceEntry::Param { id, .. } if *id == w.id()));
        assert!(matches!(&t.entries[2], TraceEntry::Op { inputs, .. } if inputs == &[0, 1]));
        assert!(matches!(&t.entries[3], TraceEntry::Const { value } if value.data() == [0.5, 0.5]));
        match &t.entries[4] {
            TraceEntry::Op {
                kind,
                inputs,
                shape,
            } => {
                assert_eq!(*kind, OpKind::Add);
                assert_eq!(inputs, &[2, 3]);
                assert_eq!(shape, &[1, 2]);
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(t.output, 4);
        // Tracing leaves no tape behind and records nothing afterwards.
        assert_eq!(crate::tape_len(), 0);
        let _ = ops::add(&x, &x).unwrap();
        assert_eq!(crate::tape_len(), 0);
    }

    #[test]
    fn trace_inside_no_grad_still_records_and_restores() {
        let x = Tensor::new(&[2], vec![1., 2.]).unwrap();
        let t = crate::no_grad(|| {
            let t = trace(&x, ops::relu).unwrap();
            assert!(!crate::grad_enabled());
            t
        });
        assert_eq!(t.entries.len(), 2);
    }
}
