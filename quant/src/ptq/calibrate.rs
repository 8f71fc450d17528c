//! Calibration: run the float32 graph on images and observe every activation.

use std::collections::HashMap;

use crate::graph::{Graph, ValueId};
use crate::runtime::{Buf, Session};
use crate::Result;

use super::{Observer, ObserverKind};

/// Observers for every activation of one float32 graph.
pub struct Calibrator<'g> {
    session: Session<'g>,
    kind: ObserverKind,
    observers: HashMap<ValueId, Observer>,
    images: usize,
}

impl<'g> Calibrator<'g> {
    /// Observers of `kind` on `graph`.
    pub fn new(graph: &'g Graph, kind: ObserverKind) -> Result<Calibrator<'g>> {
        Ok(Calibrator {
            session: Session::new(graph)?,
            kind,
            observers: HashMap::new(),
            images: 0,
        })
    }

    /// Runs one input (the graph's input shape) and records every value it produces.
    pub fn observe(&mut self, input: Buf) -> Result<()> {
        let kind = self.kind;
        let obs = &mut self.observers;
        let input_id = self.session.graph().inputs[0];
        if let Some(x) = input.as_f32() {
            obs.entry(input_id)
                .or_insert_with(|| Observer::new(kind))
                .observe(x);
        }
        self.session.run_observed(vec![input], &mut |id, b| {
            if let Some(x) = b.as_f32() {
                obs.entry(id)
                    .or_insert_with(|| Observer::new(kind))
                    .observe(x);
            }
        })?;
        self.images += 1;
        Ok(())
    }

    /// Number of inputs observed so far.
    pub fn images(&self) -> usize {
        self.images
    }

    /// The chosen range of every observed value.
    pub fn ranges(&self) -> HashMap<ValueId, (f32, f32)> {
        self.observers
            .iter()
            .filter_map(|(&id, o)| o.range().map(|r| (id, r)))
            .collect()
    }
}
