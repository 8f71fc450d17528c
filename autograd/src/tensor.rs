//! `Tensor`: a shape and shared, contiguous, row-major f32 storage, plus its place on the tape.

use std::fmt;
use std::sync::Arc;

use crate::buffer::Buffer;
use crate::tape::NodeRef;
use crate::{Error, Result};

/// A shape plus contiguous row-major f32 data. Cloning shares the storage; writing through
/// [`Tensor::data_mut`] copies it first when it is shared.
#[derive(Clone)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Arc<Buffer>,
    pub(crate) node: Option<NodeRef>,
}

/// Elements of a shape, or an error on overflow.
pub fn numel(op: &'static str, shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::BadShape {
            op,
            what: format!("shape {shape:?} overflows usize"),
        })
}

impl Tensor {
    /// A tensor owning `data`; errors unless `data.len()` equals the product of `shape`.
    pub fn new(shape: &[usize], data: Vec<f32>) -> Result<Tensor> {
        let n = numel("Tensor::new", shape)?;
        if n != data.len() {
            crate::bail_shape!(
                "Tensor::new",
                "shape {shape:?} needs {n} elements, got {}",
                data.len()
            );
        }
        Ok(Tensor::from_buffer(shape.to_vec(), Buffer::from_vec(data)))
    }

    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        Tensor::from_buffer(shape.to_vec(), Buffer::zeros(n))
    }

    /// A tensor filled with `v`.
    pub fn full(shape: &[usize], v: f32) -> Tensor {
        let mut t = Tensor::uninit(shape);
        t.data_mut().fill(v);
        t
    }

    /// A one-element tensor of shape `[]`.
    pub fn scalar(v: f32) -> Tensor {
        Tensor::full(&[], v)
    }

    /// A tensor from a slice (copied).
    pub fn from_slice(shape: &[usize], data: &[f32]) -> Result<Tensor> {
        let n = numel("Tensor::from_slice", shape)?;
        if n != data.len() {
            crate::bail_shape!(
                "Tensor::from_slice",
                "shape {shape:?} needs {n} elements, got {}",
                data.len()
            );
        }
        let mut t = Tensor::uninit(shape);
        t.data_mut().copy_from_slice(data);
        Ok(t)
    }

    /// A tensor whose contents are unspecified (a reused buffer); every element must be written.
    pub fn uninit(shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        Tensor::from_buffer(shape.to_vec(), Buffer::uninit(n))
    }

    fn from_buffer(shape: Vec<usize>, b: Buffer) -> Tensor {
        Tensor {
            shape,
            data: Arc::new(b),
            node: None,
        }
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Size of dimension `i`, counted from the end when negative.
    pub fn dim(&self, i: isize) -> usize {
        let r = self.shape.len() as isize;
        let i = if i < 0 { r + i } else { i };
        self.shape[i as usize]
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.as_slice().len()
    }

    /// The elements, row-major.
    pub fn data(&self) -> &[f32] {
        self.data.as_slice()
    }

    /// The elements for writing; copies the storage first when another tensor shares it.
    pub fn data_mut(&mut self) -> &mut [f32] {
        Arc::make_mut(&mut self.data).as_mut_slice()
    }

    /// The elements as a vector (copied unless this tensor is the only owner).
    pub fn into_vec(self) -> Vec<f32> {
        match Arc::try_unwrap(self.data) {
            Ok(b) => b.into_vec(),
            Err(shared) => shared.as_slice().to_vec(),
        }
    }

    /// The value of a one-element tensor.
    pub fn item(&self) -> Result<f32> {
        match self.data() {
            [v] => Ok(*v),
            _ => Err(Error::NotScalar(self.shape.clone())),
        }
    }

    /// The same data with another shape, off the tape (no gradient flows through it).
    pub fn detach(&self) -> Tensor {
        Tensor {
            shape: self.shape.clone(),
            data: self.data.clone(),
            node: None,
        }
    }

    /// The same storage viewed with another shape (same element count), off the tape; ops use it.
    pub fn with_shape(&self, shape: &[usize]) -> Result<Tensor> {
        let n = numel("reshape", shape)?;
        if n != self.numel() {
            return Err(Error::ShapeMismatch {
                op: "reshape",
                lhs: self.shape.clone(),
                rhs: shape.to_vec(),
            });
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            data: self.data.clone(),
            node: None,
        })
    }

    /// Whether the tape tracks this tensor (a gradient can flow to it).
    pub fn is_tracked(&self) -> bool {
        self.node.is_some_and(|n| n.is_current())
    }

    /// Marks this tensor as a leaf whose gradient [`crate::Gradients::wrt`] returns.
    pub fn requires_grad(mut self) -> Tensor {
        self.node = crate::tape::leaf(&self, None);
        self
    }

    /// Whether two tensors share storage.
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.data();
        write!(f, "Tensor{:?} ", self.shape)?;
        if d.len() <= 8 {
            write!(f, "{d:?}")
        } else {
            write!(f, "[{}, {}, …, {}]", d[0], d[1], d[d.len() - 1])
        }
    }
}
