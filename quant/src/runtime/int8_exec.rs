//! int8 nodes of a session: weights packed once, then XNNPACK's arithmetic op by op.

use std::borrow::Cow;

use super::tensor::Buf;
use crate::graph::Graph;
use crate::{Error, Result};

/// Per-node prepared state for the int8 nodes of a graph.
pub(crate) struct Prepared {}

impl Prepared {
    pub(crate) fn new(_g: &Graph) -> Result<Prepared> {
        Ok(Prepared {})
    }

    pub(crate) fn run(&self, g: &Graph, i: usize, _xs: &[Cow<'_, Buf>]) -> Result<Buf> {
        let n = &g.nodes[i];
        Err(Error::Unsupported {
            node: n.name.clone(),
            what: format!("{} on int8 operands is not implemented", n.op.name()),
        })
    }
}
