//! The per-layer sparsity report: how many elements of each weight are exactly zero.

use serde::{Deserialize, Serialize};

use super::prunable;
use crate::Module;

/// Zeros in one parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSparsity {
    /// Parameter name (`blocks.3.mlp.fc1.weight`).
    pub name: String,
    /// Elements.
    pub params: usize,
    /// Elements exactly zero.
    pub zeros: usize,
    /// `zeros / params`.
    pub sparsity: f64,
}

/// Zeros of every linear and convolution weight of `model` (the head included, so a report
/// shows it unpruned), in visiting order. Biases are not listed: they are never pruned alone.
pub fn sparsity_report(model: &dyn Module) -> Vec<LayerSparsity> {
    let names = prunable(model, true);
    let mut out = Vec::with_capacity(names.len());
    model.visit("", &mut |name, p, _| {
        if names.iter().any(|n| n == name) {
            let d = p.value().data();
            let zeros = d.iter().filter(|&&v| v == 0.0).count();
            out.push(LayerSparsity {
                name: name.to_string(),
                params: d.len(),
                zeros,
                sparsity: zeros as f64 / d.len().max(1) as f64,
            });
        }
    });
    out
}

/// The rows whose names pass `filter` summed into one row named `name` (the overall sparsity).
pub fn total(report: &[LayerSparsity], name: &str, filter: impl Fn(&str) -> bool) -> LayerSparsity {
    let (zeros, params) = report
        .iter()
        .filter(|l| filter(&l.name))
        .fold((0usize, 0usize), |(z, n), l| (z + l.zeros, n + l.params));
    LayerSparsity {
        name: name.to_string(),
        params,
        zeros,
        sparsity: zeros as f64 / params.max(1) as f64,
    }
}

/// Whether a report row belongs to the model body (everything but the classifier head).
pub fn is_body(name: &str) -> bool {
    !name.starts_with("head.")
}

/// The report as an aligned text table, with a total row over the body (head excluded).
pub fn sparsity_table(report: &[LayerSparsity]) -> String {
    let sum = total(report, "total (without head)", is_body);
    let width = report
        .iter()
        .chain([&sum])
        .map(|l| l.name.len())
        .max()
        .unwrap_or(5);
    let row = |l: &LayerSparsity| {
        format!(
            "{:<width$} {:>10} {:>10} {:>8.2}%\n",
            l.name,
            l.params,
            l.zeros,
            100.0 * l.sparsity
        )
    };
    let mut s = format!(
        "{:<width$} {:>10} {:>10} {:>9}\n",
        "layer", "params", "zeros", "sparsity"
    );
    for l in report {
        s.push_str(&row(l));
    }
    s.push_str(&row(&sum));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Tiny;

    #[test]
    fn report_counts_exact_zeros_of_weights_only() {
        let m = Tiny::new(&[2, 3], &[0.0, 1.0, -0.0, 2.0, 0.0, 3.0], &[0.0, 0.0]);
        let r = sparsity_report(&m);
        assert_eq!(
            r,
            [LayerSparsity {
                name: "fc.weight".into(),
                params: 6,
                zeros: 3,
                sparsity: 0.5,
            }]
        );
        let t = sparsity_table(&r);
        assert!(t.contains("fc.weight"), "{t}");
        assert!(t.contains("50.00%"), "{t}");
        assert!(t.contains("total (without head)"), "{t}");
        assert_eq!(total(&r, "all", |_| true).sparsity, 0.5);
        assert_eq!(total(&r, "none", |_| false).sparsity, 0.0);
    }
}
