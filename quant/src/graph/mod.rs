//! The one graph type: values (shape, dtype, quantization), constant data, and nodes in execution
//! order. Tracing builds it, passes rewrite it, the runtime executes it, exporters serialize it.

mod op;
mod value;

pub use op::{Act, Op, Padding};
pub use value::{ConstData, DType, Quant, Value, ValueId};

use crate::{Error, Result};

/// One op application: reads `inputs`, writes `outputs` (one value for every op we emit today).
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// A readable name (the layer it came from), used in errors and reports.
    pub name: String,
    /// What it computes.
    pub op: Op,
    /// Values read, in the op's operand order.
    pub inputs: Vec<ValueId>,
    /// Values written.
    pub outputs: Vec<ValueId>,
    /// Stays float32 in an int8 graph (LayerNorm, softmax, GELU: XNNPACK runs them in float).
    pub float_island: bool,
}

/// A dataflow graph; `nodes` are in a valid execution order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    /// Every value; a [`ValueId`] indexes this.
    pub values: Vec<Value>,
    /// Nodes in execution order.
    pub nodes: Vec<Node>,
    /// Graph inputs (fed by the caller).
    pub inputs: Vec<ValueId>,
    /// Graph outputs.
    pub outputs: Vec<ValueId>,
}

impl Graph {
    /// The value `id`.
    pub fn value(&self, id: ValueId) -> &Value {
        &self.values[id.0]
    }

    /// The value `id`, mutably.
    pub fn value_mut(&mut self, id: ValueId) -> &mut Value {
        &mut self.values[id.0]
    }

    /// Adds a value and returns its id.
    pub fn add_value(&mut self, v: Value) -> ValueId {
        self.values.push(v);
        ValueId(self.values.len() - 1)
    }

    /// Adds a float32 constant.
    pub fn add_const_f32(&mut self, name: &str, shape: &[usize], data: Vec<f32>) -> ValueId {
        self.add_value(Value::constant(name, shape, ConstData::F32(data)))
    }

    /// Adds a float32 activation value (no data) of `shape`.
    pub fn add_activation(&mut self, name: &str, shape: &[usize]) -> ValueId {
        self.add_value(Value::activation(name, shape, DType::F32))
    }

    /// Appends a node writing one new float32 value of `shape`; returns that value.
    pub fn push(
        &mut self,
        name: &str,
        op: Op,
        inputs: Vec<ValueId>,
        shape: &[usize],
        float_island: bool,
    ) -> ValueId {
        let out = self.add_activation(name, shape);
        self.nodes.push(Node {
            name: name.to_string(),
            op,
            inputs,
            outputs: vec![out],
            float_island,
        });
        out
    }

    /// The node that writes `id`, if any.
    pub fn producer(&self, id: ValueId) -> Option<usize> {
        self.nodes.iter().position(|n| n.outputs.contains(&id))
    }

    /// Indices of the nodes that read `id`.
    pub fn consumers(&self, id: ValueId) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].inputs.contains(&id))
            .collect()
    }

    /// Replaces every read of `from` (and a graph output `from`) with `to`.
    pub fn replace_uses(&mut self, from: ValueId, to: ValueId) {
        for n in &mut self.nodes {
            for i in &mut n.inputs {
                if *i == from {
                    *i = to;
                }
            }
        }
        for o in &mut self.outputs {
            if *o == from {
                *o = to;
            }
        }
    }

    /// Counts nodes per op name (for reports and tests).
    pub fn op_counts(&self) -> std::collections::BTreeMap<&'static str, usize> {
        let mut m = std::collections::BTreeMap::new();
        for n in &self.nodes {
            *m.entry(n.op.name()).or_insert(0) += 1;
        }
        m
    }

    /// Checks ids, that every read value is a constant, an input or written earlier, and that
    /// constant data matches its shape.
    pub fn validate(&self) -> Result<()> {
        let mut ready: Vec<bool> = self.values.iter().map(|v| v.data.is_some()).collect();
        for &i in &self.inputs {
            *ready
                .get_mut(i.0)
                .ok_or_else(|| err("graph", "input id out of range"))? = true;
        }
        for v in &self.values {
            if let Some(d) = &v.data {
                if d.len() != v.numel() {
                    return Err(err(
                        &v.name,
                        &format!("constant holds {} elements, shape {:?}", d.len(), v.shape),
                    ));
                }
            }
        }
        for n in &self.nodes {
            for &i in &n.inputs {
                if !*ready
                    .get(i.0)
                    .ok_or_else(|| err(&n.name, "input id out of range"))?
                {
                    return Err(err(
                        &n.name,
                        &format!("reads {} before it is written", self.values[i.0].name),
                    ));
                }
            }
            for &o in &n.outputs {
                *ready
                    .get_mut(o.0)
                    .ok_or_else(|| err(&n.name, "output id out of range"))? = true;
            }
        }
        for &o in &self.outputs {
            if !*ready
                .get(o.0)
                .ok_or_else(|| err("graph", "output id out of range"))?
            {
                return Err(err("graph", "an output is never written"));
            }
        }
        Ok(())
    }
}

/// A [`Error::Graph`] naming `node`.
pub(crate) fn err(node: &str, what: &str) -> Error {
    Error::Graph {
        node: node.to_string(),
        what: what.to_string(),
    }
}
