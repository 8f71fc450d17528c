//! Constant folding: nodes whose operands are all constants are computed once.

use crate::graph::{ConstData, DType, Graph, Op};
use crate::runtime::{run_node_f32, Buf, Data};
use crate::Result;

/// Replaces every float32 node with only constant operands by its result.
pub fn fold_constants(g: &mut Graph) -> Result<()> {
    let mut i = 0;
    while i < g.nodes.len() {
        let n = &g.nodes[i];
        let foldable = !matches!(n.op, Op::Quantize | Op::Dequantize)
            && n.inputs.iter().all(|&x| {
                let v = g.value(x);
                v.data.is_some() && v.dtype == DType::F32
            });
        if !foldable {
            i += 1;
            continue;
        }
        let xs: Vec<Buf> = n
            .inputs
            .iter()
            .map(|&x| {
                let v = g.value(x);
                Buf::from_const(&v.shape, v.data.as_ref().expect("checked above"))
            })
            .collect();
        let refs: Vec<&Buf> = xs.iter().collect();
        let y = run_node_f32(n, &refs)?;
        let out = n.outputs[0];
        if let Data::F32(d) = y.data {
            let v = g.value_mut(out);
            v.shape = y.shape;
            v.data = Some(ConstData::F32(d));
        }
        g.nodes.remove(i);
    }
    Ok(())
}
