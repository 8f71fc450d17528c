//! [`QatModel`]: a prepared float graph with fake quantization exactly where its int8 conversion
//! quantizes, trainable as an [`inkling_nn::Model`] (optimizers, clipping and checkpoints see its
//! constants as parameters and its observers as buffers).

use std::collections::HashMap;

use inkling_autograd::ops::{self, FakeQuant, Lsq};
use inkling_autograd::{Error as AgError, Param, Result as AgResult, Tensor};
use inkling_nn::module::join;
use inkling_nn::{Ctx, Model, Module, ParamRole};

use super::interp;
use crate::graph::{Graph, ValueId};
use crate::ptq::qparams::weight_scales;
use crate::ptq::{
    convert, data_range, is_int8_node, is_weighted, quant_plan, weight_axis, QuantPlan,
};
use crate::{Error, QParams, Result};

/// Smallest learned step (an optimizer step may push a scale through 0; conversion's floor).
const MIN_STEP: f32 = 1e-8;

/// Settings of quantization-aware training.
#[derive(Clone, Debug, PartialEq)]
pub struct QatConfig {
    /// Weight of each training batch in the moving-average (EMA) min/max observers, PyTorch's
    /// `MovingAverageMinMaxObserver` rule `r ← r + m·(batch − r)`.
    pub momentum: f32,
    /// Observers stop updating after this many training batches (None: never); from then on the
    /// activation grid is fixed and the weights adapt to it.
    pub freeze_observers_after: Option<u64>,
    /// Learn the scale of every activation group that holds no constant (LSQ; its zero point stays
    /// the calibrated one). Weight scales are not learned: conversion derives them from the
    /// weights (max |w| per channel), and QAT must quantize as the int8 graph will.
    pub lsq: bool,
}

impl Default for QatConfig {
    fn default() -> Self {
        QatConfig {
            momentum: 0.01,
            freeze_observers_after: None,
            lsq: false,
        }
    }
}

/// A graph constant trained as a parameter.
struct Trainable {
    value: ValueId,
    name: String,
    param: Param,
    role: ParamRole,
}

/// A learned activation scale (LSQ) of one parameter group.
struct LearnedScale {
    name: String,
    param: Param,
    zero_point: i32,
    grad_scale: f32,
}

/// Elements of an f32 tensor as a step counter kept exactly in f32 (`hi·2²⁴ + lo`).
fn count_tensor(n: u64) -> Tensor {
    let hi = (n >> 24) as f32;
    let lo = (n & 0xff_ffff) as f32;
    Tensor::from_slice(&[2], &[hi, lo]).expect("two elements")
}

fn count_of(t: &Tensor) -> u64 {
    let d = t.data();
    ((d[0].max(0.0) as u64) << 24) + d[1].max(0.0) as u64
}

/// A float graph prepared for quantization-aware training; see the module docs of [`super`].
pub struct QatModel {
    graph: Graph,
    plan: QuantPlan,
    cfg: QatConfig,
    trainables: Vec<Trainable>,
    trainable_of: HashMap<ValueId, usize>,
    /// Fixed (untrained) constants as tensors.
    fixed: HashMap<ValueId, Tensor>,
    /// Moving-average (lo, hi) per observed activation, as buffers `[2]`.
    observers: Vec<(ValueId, String, Param)>,
    observer_of: HashMap<ValueId, usize>,
    /// Members of each parameter group of int8 values.
    members: HashMap<usize, Vec<ValueId>>,
    /// LSQ scales by group.
    scales: HashMap<usize, LearnedScale>,
    /// Training batches seen (buffer `[2]`, see [`count_tensor`]).
    batches: Param,
    /// Values each of whose reads become the fake-quantized weights of an int8 layer.
    int8_weights: HashMap<ValueId, usize>,
}

/// Names made unique by appending the value id to repeats.
fn unique(name: &str, id: ValueId, taken: &mut std::collections::HashSet<String>) -> String {
    let n = if taken.contains(name) {
        format!("{name}#{}", id.0)
    } else {
        name.to_string()
    };
    taken.insert(n.clone());
    n
}

impl QatModel {
    /// Prepares `g` (float32, prepared: BatchNorm already folded into its convolutions by
    /// `passes::prepare`) for training, observers starting at `ranges` (calibrated, as for PTQ).
    ///
    /// Every f32 constant with more than one element becomes a parameter (weights with decay,
    /// the rest without); one-element constants (LayerNorm's ε, folded scales) stay fixed.
    pub fn new(
        g: Graph,
        ranges: &HashMap<ValueId, (f32, f32)>,
        cfg: QatConfig,
    ) -> Result<QatModel> {
        interp::check(&g)?;
        if !(cfg.momentum > 0.0 && cfg.momentum <= 1.0) {
            return Err(Error::Quant {
                node: "qat".into(),
                what: format!("observer momentum {} must be in (0, 1]", cfg.momentum),
            });
        }
        let plan = quant_plan(&g);
        let mut taken = std::collections::HashSet::new();
        let (mut trainables, mut trainable_of, mut fixed) =
            (Vec::new(), HashMap::new(), HashMap::new());
        let mut int8_weights = HashMap::new();
        let mut weight_role = HashMap::new();
        for n in &g.nodes {
            if is_weighted(&n.op) {
                weight_role.insert(n.inputs[1], ());
                if is_int8_node(n) {
                    int8_weights.insert(n.inputs[1], weight_axis(&n.op));
                }
            }
        }
        let read: std::collections::HashSet<ValueId> = g
            .nodes
            .iter()
            .flat_map(|n| n.inputs.iter().copied())
            .collect();
        for (i, v) in g.values.iter().enumerate() {
            let id = ValueId(i);
            let Some(data) = v.data.as_ref() else {
                continue;
            };
            if !read.contains(&id) {
                continue;
            }
            let d = data.as_f32().ok_or_else(|| Error::Unsupported {
                node: v.name.clone(),
                what: "quantization-aware training needs a float32 graph".into(),
            })?;
            let t = Tensor::from_slice(&v.shape, d)?;
            if d.len() > 1 {
                let role = if weight_role.contains_key(&id) {
                    ParamRole::Weight
                } else {
                    ParamRole::NoDecay
                };
                trainable_of.insert(id, trainables.len());
                trainables.push(Trainable {
                    value: id,
                    name: unique(&v.name, id, &mut taken),
                    param: Param::new(t),
                    role,
                });
            } else {
                fixed.insert(id, t);
            }
        }
        let mut observers = Vec::new();
        let mut observer_of = HashMap::new();
        let mut members: HashMap<usize, Vec<ValueId>> = HashMap::new();
        let mut taken = std::collections::HashSet::new();
        for &v in plan.int8_values() {
            members.entry(plan.group(v)).or_default().push(v);
            let val = g.value(v);
            if val.data.is_some() || plan.fixed(v).is_some() {
                continue;
            }
            let (lo, hi) = ranges.get(&v).copied().ok_or_else(|| Error::Quant {
                node: val.name.clone(),
                what: "was never observed during calibration (no range)".into(),
            })?;
            let name = unique(&format!("qat.observer.{}", val.name), v, &mut taken);
            observer_of.insert(v, observers.len());
            observers.push((v, name, Param::new(Tensor::from_slice(&[2], &[lo, hi])?)));
        }
        let mut m = QatModel {
            graph: g,
            plan,
            cfg,
            trainables,
            trainable_of,
            fixed,
            observers,
            observer_of,
            members,
            scales: HashMap::new(),
            batches: Param::new(count_tensor(0)),
            int8_weights,
        };
        if m.cfg.lsq {
            m.init_scales();
        }
        Ok(m)
    }

    /// One LSQ scale per group of activations only (no constant, no fixed parameters), starting
    /// at the observers' parameters.
    fn init_scales(&mut self) {
        let mut groups: Vec<usize> = self.members.keys().copied().collect();
        groups.sort_unstable();
        for grp in groups {
            let ms = &self.members[&grp];
            let first = ms[0];
            if self.plan.fixed(first).is_some()
                || ms.iter().any(|&v| self.graph.value(v).data.is_some())
            {
                continue;
            }
            let q = self.group_params(grp);
            let per_sample = self.graph.value(first).numel().max(1);
            let name = format!("qat.scale.{}", self.graph.value(first).name);
            let param = Param::new(Tensor::from_slice(&[1], &[q.scale]).expect("one element"));
            self.scales.insert(
                grp,
                LearnedScale {
                    name,
                    param,
                    zero_point: q.zero_point,
                    grad_scale: 1.0 / ((per_sample * 127) as f32).sqrt(),
                },
            );
        }
    }

    /// The settings.
    pub fn config(&self) -> &QatConfig {
        &self.cfg
    }

    /// The quantization plan (which values are fake-quantized, grouped as the int8 graph).
    pub fn plan(&self) -> &QuantPlan {
        &self.plan
    }

    /// Training batches seen.
    pub fn batches(&self) -> u64 {
        count_of(self.batches.value())
    }

    /// Whether the observers have stopped updating.
    pub fn observers_frozen(&self) -> bool {
        self.cfg
            .freeze_observers_after
            .is_some_and(|n| self.batches() >= n)
    }

    /// The current value of constant `v`.
    fn const_value(&self, v: ValueId) -> Option<&Tensor> {
        match self.trainable_of.get(&v) {
            Some(&i) => Some(self.trainables[i].param.value()),
            None => self.fixed.get(&v),
        }
    }

    /// Range of one group member now: its observer, or its constant data.
    fn member_range(&self, v: ValueId) -> Option<(f32, f32)> {
        if let Some(&i) = self.observer_of.get(&v) {
            let d = self.observers[i].2.value().data();
            return Some((d[0], d[1]));
        }
        data_range(self.const_value(v)?.data())
    }

    /// The group's parameters from its members' current ranges, as conversion computes them.
    fn group_params(&self, grp: usize) -> QParams {
        let ms = &self.members[&grp];
        let span = ms
            .iter()
            .filter_map(|&v| self.member_range(v))
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
            .unwrap_or((0.0, 0.0));
        self.plan.params(ms[0], span)
    }

    /// Activation ranges for [`convert`]: the observers', or those a learned scale implies.
    pub fn ranges(&self) -> HashMap<ValueId, (f32, f32)> {
        let mut out = HashMap::new();
        for (v, _, p) in &self.observers {
            let grp = self.plan.group(*v);
            let r = match self.scales.get(&grp) {
                Some(ls) => {
                    let s = ls.param.value().data()[0].max(MIN_STEP);
                    if self.plan.is_symmetric(*v) {
                        (-127.0 * s, 127.0 * s)
                    } else {
                        let zp = ls.zero_point as f32;
                        ((-128.0 - zp) * s, (127.0 - zp) * s)
                    }
                }
                None => (p.value().data()[0], p.value().data()[1]),
            };
            out.insert(*v, r);
        }
        out
    }

    /// The float graph with the trained constants.
    pub fn float_graph(&self) -> Graph {
        let mut g = self.graph.clone();
        for t in &self.trainables {
            let v = g.value_mut(t.value);
            v.data = Some(crate::graph::ConstData::F32(
                t.param.value().data().to_vec(),
            ));
        }
        g
    }

    /// The int8 graph: [`Self::float_graph`] converted with [`Self::ranges`] by PTQ's
    /// [`convert`] (so a QAT model exports exactly as a PTQ one with those ranges).
    pub fn convert(&self) -> Result<Graph> {
        convert(&self.float_graph(), &self.ranges())
    }

    /// Logits for NHWC images `[B, H, W, C]` (the graph's layout); `training` updates the
    /// observers (unless frozen) and counts the batch.
    pub fn forward_nhwc(&mut self, x: &Tensor, training: bool) -> AgResult<Tensor> {
        let update = training && !self.observers_frozen();
        let y = Run::new(self, update, true).run(x)?;
        if training {
            let n = self.batches() + 1;
            *self.batches.value_mut() = count_tensor(n);
        }
        Ok(y)
    }

    /// The float graph's own output for NHWC images, without fake quantization (tests: the
    /// interpreter against the runtime).
    pub fn forward_float_nhwc(&mut self, x: &Tensor) -> AgResult<Tensor> {
        Run::new(self, false, false).run(x)
    }

    /// The values the forward pass fake-quantizes per tensor, and those it fake-quantizes per
    /// channel (weights), for tests and reports.
    pub fn fake_quantized(&self) -> (Vec<ValueId>, Vec<ValueId>) {
        let mut w: Vec<ValueId> = self.int8_weights.keys().copied().collect();
        w.sort_unstable();
        (self.plan.int8_values().to_vec(), w)
    }
}

/// One forward pass: values computed so far, their fake-quantized forms and group parameters.
struct Run<'m> {
    m: &'m mut QatModel,
    update: bool,
    /// Fake quantization on (off only to compare the interpreter with the float runtime).
    quantize: bool,
    val: Vec<Option<Tensor>>,
    fq: Vec<Option<Tensor>>,
    group_q: HashMap<usize, QParams>,
}

fn err(what: String) -> AgError {
    AgError::BadShape { op: "qat", what }
}

impl<'m> Run<'m> {
    fn new(m: &'m mut QatModel, update: bool, quantize: bool) -> Run<'m> {
        let n = m.graph.values.len();
        Run {
            m,
            update,
            quantize,
            val: vec![None; n],
            fq: vec![None; n],
            group_q: HashMap::new(),
        }
    }

    fn run(mut self, x: &Tensor) -> AgResult<Tensor> {
        let input = self.m.graph.inputs[0];
        let want = &self.m.graph.value(input).shape;
        if x.rank() != want.len() || x.shape()[1..] != want[1..] {
            return Err(err(format!(
                "input shape {:?} does not fit the graph's {:?}",
                x.shape(),
                want
            )));
        }
        let batch = x.dim(0);
        self.val[input.0] = Some(x.clone());
        for ni in 0..self.m.graph.nodes.len() {
            let node = self.m.graph.nodes[ni].clone();
            let int8 = self.quantize && is_int8_node(&node);
            let weighted = is_weighted(&node.op);
            let mut ins = Vec::with_capacity(node.inputs.len());
            for (i, &v) in node.inputs.iter().enumerate() {
                let t = if weighted && i >= 1 {
                    if int8 && i == 1 {
                        self.weight(v)?
                    } else {
                        self.float(v)?
                    }
                } else if int8 {
                    self.int8(v)?
                } else {
                    self.float(v)?
                };
                ins.push(t);
            }
            let y = interp::run_node(&node, &ins, batch)?;
            let out = node.outputs[0];
            self.val[out.0] = Some(y);
            if int8 {
                // An int8 node writes int8: every reader sees the quantized value.
                let q = self.int8(out)?;
                self.val[out.0] = Some(q);
            }
        }
        let o = self.m.graph.outputs[0];
        self.val[o.0]
            .take()
            .ok_or_else(|| err(format!("{} is never computed", self.m.graph.value(o).name)))
    }

    /// The float value of `v` (a constant as a tracked parameter or a fixed tensor).
    fn float(&mut self, v: ValueId) -> AgResult<Tensor> {
        if let Some(t) = &self.val[v.0] {
            return Ok(t.clone());
        }
        let t = match self.m.trainable_of.get(&v) {
            Some(&i) => self.m.trainables[i].param.tensor(),
            None => self.m.fixed.get(&v).cloned().ok_or_else(|| {
                err(format!(
                    "{} is read before it is written",
                    self.m.graph.value(v).name
                ))
            })?,
        };
        self.val[v.0] = Some(t.clone());
        Ok(t)
    }

    /// Weights fake-quantized per output channel, symmetric in [−127, 127], at conversion's
    /// scales (max |w| per channel / 127, from the current weights).
    fn weight(&mut self, v: ValueId) -> AgResult<Tensor> {
        let w = self.float(v)?;
        let axis = self.m.int8_weights[&v];
        let channels = w.shape()[axis];
        let inner: usize = w.shape()[axis + 1..].iter().product();
        let scale = weight_scales(w.data(), channels, |j| (j / inner.max(1)) % channels);
        ops::fake_quant(
            &w,
            &FakeQuant {
                scale,
                zero_point: vec![0; channels],
                qmin: -127,
                qmax: 127,
                axis: Some(axis),
            },
        )
    }

    /// Folds this batch into `v`'s moving-average observer.
    fn observe(&mut self, v: ValueId, x: &Tensor) {
        let Some(&i) = self.m.observer_of.get(&v) else {
            return;
        };
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for &e in x.data() {
            if e.is_finite() {
                lo = lo.min(e);
                hi = hi.max(e);
            }
        }
        if lo > hi {
            return;
        }
        let mom = self.m.cfg.momentum;
        let p = self.m.observers[i].2.value_mut().data_mut();
        p[0] += mom * (lo - p[0]);
        p[1] += mom * (hi - p[1]);
    }

    /// The int8 form of `v` (fake-quantized per tensor at its group's parameters).
    fn int8(&mut self, v: ValueId) -> AgResult<Tensor> {
        if let Some(t) = &self.fq[v.0] {
            return Ok(t.clone());
        }
        let x = self.float(v)?;
        if self.update {
            self.observe(v, &x);
        }
        let grp = self.m.plan.group(v);
        let y = if let Some(ls) = self.m.scales.get_mut(&grp) {
            // Keep the learned step positive (an optimizer step may have pushed it through 0).
            let s = &mut ls.param.value_mut().data_mut()[0];
            *s = s.max(MIN_STEP);
            let lsq = Lsq {
                zero_point: ls.zero_point,
                qmin: -128,
                qmax: 127,
                grad_scale: ls.grad_scale,
            };
            ops::fake_quant_lsq(&x, &ls.param.tensor(), &lsq)?
        } else {
            let q = match self.group_q.get(&grp) {
                Some(q) => *q,
                None => {
                    let q = self.m.group_params(grp);
                    self.group_q.insert(grp, q);
                    q
                }
            };
            ops::fake_quant(
                &x,
                &FakeQuant {
                    scale: vec![q.scale],
                    zero_point: vec![q.zero_point],
                    qmin: -128,
                    qmax: 127,
                    axis: None,
                },
            )?
        };
        self.fq[v.0] = Some(y.clone());
        Ok(y)
    }
}

impl Module for QatModel {
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param, ParamRole)) {
        for t in &self.trainables {
            f(&join(prefix, &t.name), &t.param, t.role);
        }
        let mut scales: Vec<&LearnedScale> = self.scales.values().collect();
        scales.sort_by(|a, b| a.name.cmp(&b.name));
        for s in scales {
            f(&join(prefix, &s.name), &s.param, ParamRole::NoDecay);
        }
        for (_, name, p) in &self.observers {
            f(&join(prefix, name), p, ParamRole::Buffer);
        }
        f(
            &join(prefix, "qat.batches"),
            &self.batches,
            ParamRole::Buffer,
        );
    }

    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param, ParamRole)) {
        for t in &mut self.trainables {
            f(&join(prefix, &t.name), &mut t.param, t.role);
        }
        let mut scales: Vec<&mut LearnedScale> = self.scales.values_mut().collect();
        scales.sort_by(|a, b| a.name.cmp(&b.name));
        for s in scales {
            f(&join(prefix, &s.name), &mut s.param, ParamRole::NoDecay);
        }
        for (_, name, p) in &mut self.observers {
            f(&join(prefix, name), p, ParamRole::Buffer);
        }
        f(
            &join(prefix, "qat.batches"),
            &mut self.batches,
            ParamRole::Buffer,
        );
    }
}

impl Model for QatModel {
    /// NCHW images (as every model takes) → logits; the graph runs NHWC.
    fn forward(&mut self, x: &Tensor, ctx: &Ctx) -> AgResult<Tensor> {
        let nhwc = ops::permute(x, &[0, 2, 3, 1])?;
        self.forward_nhwc(&nhwc, ctx.training)
    }

    fn config_json(&self) -> String {
        format!(
            "{{\"arch\":\"qat\",\"momentum\":{},\"freeze_observers_after\":{},\"lsq\":{}}}",
            self.cfg.momentum,
            self.cfg
                .freeze_observers_after
                .map_or("null".to_string(), |n| n.to_string()),
            self.cfg.lsq
        )
    }

    fn input_shape(&self) -> [usize; 3] {
        let s = &self.graph.value(self.graph.inputs[0]).shape;
        [s[3], s[1], s[2]]
    }
}
