//! Runs a graph node by node: float32 nodes on the autograd ops, int8 nodes with XNNPACK's
//! arithmetic. Intermediate tensors are dropped after their last reader.

use std::borrow::Cow;

use super::float_ref;
use super::tensor::{Buf, Data};
use crate::graph::{err, DType, Graph, ValueId};
use crate::Result;

/// A graph prepared for repeated execution.
pub struct Session<'g> {
    graph: &'g Graph,
    /// For each node, the values whose last reader it is (freed after it runs).
    frees: Vec<Vec<ValueId>>,
    /// Constants as runtime tensors, built once (the graph keeps its own copy for exporters).
    consts: Vec<Option<Buf>>,
    int8: super::int8_exec::Prepared,
    /// Intermediate buffers of the last run, reused as the same values' outputs in the next one
    /// (allocating and faulting in fresh pages per node cost more than some ops themselves).
    spare: std::sync::Mutex<Vec<Option<Data>>>,
}

impl<'g> Session<'g> {
    /// Validates `graph` and prepares it (packs int8 weights).
    pub fn new(graph: &'g Graph) -> Result<Session<'g>> {
        graph.validate()?;
        let mut last = vec![None; graph.values.len()];
        for (i, n) in graph.nodes.iter().enumerate() {
            for &v in &n.inputs {
                last[v.0] = Some(i);
            }
        }
        let mut frees = vec![Vec::new(); graph.nodes.len()];
        for (v, l) in last.iter().enumerate() {
            if let Some(i) = l {
                let id = ValueId(v);
                if graph.value(id).data.is_none() && !graph.outputs.contains(&id) {
                    frees[*i].push(id);
                }
            }
        }
        let int8 = super::int8_exec::Prepared::new(graph)?;
        // Packed int8 weights are read from the kernels' own copy; only the other constants
        // (float weights, biases of float ops, int8 addends) are kept as runtime tensors.
        // Constants read only as weights/bias of packed int8 kernels are not copied again.
        let mut needed = vec![false; graph.values.len()];
        for (i, n) in graph.nodes.iter().enumerate() {
            for (j, &x) in n.inputs.iter().enumerate() {
                if j == 0 || !int8.is_packed(i) {
                    needed[x.0] = true;
                }
            }
        }
        let consts = graph
            .values
            .iter()
            .zip(&needed)
            .map(|(v, &need)| match &v.data {
                Some(c) if need => Some(Buf::from_const(&v.shape, c)),
                _ => None,
            })
            .collect();
        Ok(Session {
            graph,
            frees,
            consts,
            int8,
            spare: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The graph this session runs.
    pub fn graph(&self) -> &Graph {
        self.graph
    }

    /// A value for reading: a live activation or a constant (packed int8 weights read as an empty
    /// placeholder: their kernel holds them).
    fn fetch<'a>(&'a self, live: &'a [Option<Buf>], id: ValueId) -> Result<Cow<'a, Buf>> {
        if let Some(b) = live[id.0].as_ref().or(self.consts[id.0].as_ref()) {
            return Ok(Cow::Borrowed(b));
        }
        let v = self.graph.value(id);
        match &v.data {
            Some(_) => Ok(Cow::Owned(Buf::i8(&[0], Vec::new()))),
            None => Err(err(&v.name, "read before it was computed")),
        }
    }

    /// Runs the graph on `inputs` (in graph input order) and returns its outputs.
    pub fn run(&self, inputs: Vec<Buf>) -> Result<Vec<Buf>> {
        self.run_observed(inputs, &mut |_, _| {})
    }

    /// Like [`Session::run`], calling `observe` with every value a node writes.
    pub fn run_observed(
        &self,
        inputs: Vec<Buf>,
        observe: &mut dyn FnMut(ValueId, &Buf),
    ) -> Result<Vec<Buf>> {
        let g = self.graph;
        if inputs.len() != g.inputs.len() {
            return Err(err(
                "graph",
                &format!("expects {} inputs, got {}", g.inputs.len(), inputs.len()),
            ));
        }
        let mut live: Vec<Option<Buf>> = vec![None; g.values.len()];
        // Another thread running this session meanwhile simply allocates afresh.
        let mut spare = self
            .spare
            .try_lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        spare.resize(g.values.len(), None);
        for (&id, b) in g.inputs.iter().zip(inputs) {
            let v = g.value(id);
            if b.shape != v.shape || b.dtype() != v.dtype {
                return Err(err(
                    &v.name,
                    &format!(
                        "input must be {:?} {:?}, got {:?} {:?}",
                        v.dtype,
                        v.shape,
                        b.dtype(),
                        b.shape
                    ),
                ));
            }
            live[id.0] = Some(b);
        }
        for (i, node) in g.nodes.iter().enumerate() {
            let y = {
                let mut xs = Vec::with_capacity(node.inputs.len());
                for &id in &node.inputs {
                    xs.push(self.fetch(&live, id)?);
                }
                let all_f32 = xs.iter().all(|b| b.dtype() == DType::F32)
                    && g.value(node.outputs[0]).dtype == DType::F32;
                let reuse = spare[node.outputs[0].0].take();
                if all_f32 {
                    let refs: Vec<&Buf> = xs.iter().map(|c| c.as_ref()).collect();
                    float_ref::run(node, &refs, reuse)?
                } else {
                    self.int8.run(g, i, &xs, reuse)?
                }
            };
            let out = node.outputs[0];
            let want = g.value(out);
            if y.shape != want.shape {
                return Err(err(
                    &node.name,
                    &format!("produced shape {:?}, graph says {:?}", y.shape, want.shape),
                ));
            }
            observe(out, &y);
            live[out.0] = Some(y);
            for &f in &self.frees[i] {
                spare[f.0] = live[f.0].take().map(|b| b.data);
            }
        }
        let outs = g
            .outputs
            .iter()
            .map(|&o| {
                live[o.0]
                    .clone()
                    .ok_or_else(|| err("graph", "an output was not computed"))
            })
            .collect();
        if let Ok(mut s) = self.spare.try_lock() {
            *s = spare;
        }
        outs
    }
}
