//! Results: the record a worker process sends back, and the table / JSON lines printed from it.

use std::fmt::Write as _;

use super::Result;

/// Which measured peak a result is a percentage of.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PeakKey {
    /// The best f32 FMA loop of this CPU (f32 GEMM, and int4 weight-only GEMM, which computes in f32).
    F32,
    /// The int8 dot-product loop of this ISA (the best of any ISA when it has none, e.g. scalar).
    Int8(String),
}

impl PeakKey {
    fn encode(&self) -> String {
        match self {
            PeakKey::F32 => "f32".into(),
            PeakKey::Int8(isa) => format!("int8:{isa}"),
        }
    }
    fn decode(s: &str) -> Result<PeakKey> {
        match s.split_once(':') {
            None if s == "f32" => Ok(PeakKey::F32),
            Some(("int8", isa)) => Ok(PeakKey::Int8(isa.to_string())),
            _ => Err(format!("bad peak key {s:?}").into()),
        }
    }
}

/// One measured kernel at one shape and thread count, as a worker reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Kernel family, e.g. `f32_gemm`.
    pub kernel: String,
    /// Micro-kernel name from the kernel table.
    pub ukernel: String,
    /// The ISA of the kernel table used.
    pub isa: String,
    /// Shape name, e.g. `vit_qkv.dW`.
    pub shape: String,
    /// `nn`, `tn` or `nt`.
    pub op: String,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub threads: usize,
    /// GFLOP/s, or GOP/s for integer kernels (1 MAC = 2 ops).
    pub gops: f64,
    /// Integer kernel (GOP/s) rather than f32 (GFLOP/s).
    pub integer: bool,
    /// Which peak `gops` is a percentage of.
    pub peak: PeakKey,
    /// Ours / the gemm crate, same shape and threads, same run.
    pub vs_gemm: Option<f64>,
    /// Ours / matrixmultiply, same shape and threads, same run.
    pub vs_matrixmultiply: Option<f64>,
    /// Ops per second / our f32 GEMM's FLOP per second at the same shape and threads.
    pub vs_f32: Option<f64>,
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}
fn parse_opt(s: &str) -> Result<Option<f64>> {
    Ok(if s == "-" { None } else { Some(s.parse()?) })
}

impl Record {
    /// The tab-separated line a worker prints.
    pub fn to_line(&self) -> String {
        [
            "record".to_string(),
            self.kernel.clone(),
            self.ukernel.clone(),
            self.isa.clone(),
            self.shape.clone(),
            self.op.clone(),
            self.m.to_string(),
            self.k.to_string(),
            self.n.to_string(),
            self.threads.to_string(),
            self.gops.to_string(),
            (self.integer as u8).to_string(),
            self.peak.encode(),
            opt(self.vs_gemm),
            opt(self.vs_matrixmultiply),
            opt(self.vs_f32),
        ]
        .join("\t")
    }

    /// Parses [`Record::to_line`]'s output.
    pub fn from_line(line: &str) -> Result<Record> {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 16 || f[0] != "record" {
            return Err(format!("unexpected worker output: {line:?}").into());
        }
        Ok(Record {
            kernel: f[1].into(),
            ukernel: f[2].into(),
            isa: f[3].into(),
            shape: f[4].into(),
            op: f[5].into(),
            m: f[6].parse()?,
            k: f[7].parse()?,
            n: f[8].parse()?,
            threads: f[9].parse()?,
            gops: f[10].parse()?,
            integer: f[11] == "1",
            peak: PeakKey::decode(f[12])?,
            vs_gemm: parse_opt(f[13])?,
            vs_matrixmultiply: parse_opt(f[14])?,
            vs_f32: parse_opt(f[15])?,
        })
    }
}

/// A record with its peak and scaling filled in by the parent process.
pub struct Row {
    pub rec: Record,
    /// Name and rate of the peak loop used, at the record's thread count.
    pub peak: Option<(&'static str, f64)>,
    /// Rate at this thread count / rate at 1 thread, same kernel and shape.
    pub vs_1thread: Option<f64>,
}

impl Row {
    fn peak_pct(&self) -> Option<f64> {
        self.peak.map(|(_, p)| 100.0 * self.rec.gops / p)
    }
}

/// Header line of the table.
pub fn table_header() -> String {
    format!(
        "{:<13} {:<11} {:<16} {:<2} {:>14} {:>3} {:>9} {:>14} {:>7} {:>7} {:>7} {:>5}",
        "kernel",
        "isa",
        "shape",
        "op",
        "m×k×n",
        "thr",
        "G(FL)OP/s",
        "% peak",
        "vs gemm",
        "vs mm",
        "vs f32",
        "×1T"
    )
}

fn ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.2}×"))
}

/// One table line.
pub fn table_line(row: &Row) -> String {
    let r = &row.rec;
    let label = match &r.peak {
        PeakKey::F32 => "f32",
        PeakKey::Int8(isa) => match isa.as_str() {
            "avx2" => "i8 avx2",
            "avx512vnni" => "i8 vnni",
            "neon" => "i8 neon",
            "neon-dotprod" => "i8 sdot",
            _ => "i8 best",
        },
    };
    let pct = row
        .peak_pct()
        .map_or_else(|| "-".into(), |p| format!("{p:.1}% {label}"));
    format!(
        "{:<13} {:<11} {:<16} {:<2} {:>14} {:>3} {:>9.1} {:>14} {:>7} {:>7} {:>7} {:>5}",
        r.kernel,
        r.isa,
        r.shape,
        r.op,
        format!("{}×{}×{}", r.m, r.k, r.n),
        r.threads,
        r.gops,
        pct,
        ratio(r.vs_gemm),
        ratio(r.vs_matrixmultiply),
        ratio(r.vs_f32),
        ratio(row.vs_1thread)
    )
}

/// `s` as a JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number, or `null` when absent or not finite.
fn json_num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{}", (v * 1e4).round() / 1e4),
        _ => "null".into(),
    }
}

/// One JSON object for `row` (no trailing newline).
pub fn json_line(row: &Row, cpu: &str) -> String {
    let r = &row.rec;
    let unit = if r.integer { "GOP/s" } else { "GFLOP/s" };
    format!(
        concat!(
            "{{\"cpu\":{},\"kernel\":{},\"ukernel\":{},\"isa\":{},\"shape\":{},\"op\":{},",
            "\"m\":{},\"k\":{},\"n\":{},\"threads\":{},\"gflops\":{},\"unit\":{},",
            "\"peak\":{},\"peak_gflops\":{},\"peak_pct\":{},\"vs_gemm\":{},",
            "\"vs_matrixmultiply\":{},\"vs_f32\":{},\"vs_1thread\":{}}}"
        ),
        json_str(cpu),
        json_str(&r.kernel),
        json_str(&r.ukernel),
        json_str(&r.isa),
        json_str(&r.shape),
        json_str(&r.op),
        r.m,
        r.k,
        r.n,
        r.threads,
        json_num(Some(r.gops)),
        json_str(unit),
        row.peak
            .map_or_else(|| "null".into(), |(name, _)| json_str(name)),
        json_num(row.peak.map(|(_, p)| p)),
        json_num(row.peak_pct()),
        json_num(r.vs_gemm),
        json_num(r.vs_matrixmultiply),
        json_num(r.vs_f32),
        json_num(row.vs_1thread),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            kernel: "f32_gemm".into(),
            ukernel: "f32_gemm_6x16__avx2".into(),
            isa: "avx2".into(),
            shape: "vit_qkv.dW".into(),
            op: "tn".into(),
            m: 192,
            k: 3200,
            n: 576,
            threads: 2,
            gops: 201.25,
            integer: false,
            peak: PeakKey::Int8("avx512vnni".into()),
            vs_gemm: Some(0.97),
            vs_matrixmultiply: None,
            vs_f32: Some(3.5),
        }
    }

    #[test]
    fn records_round_trip_through_the_worker_line() {
        let r = sample();
        assert_eq!(Record::from_line(&r.to_line()).unwrap(), r);
        assert!(Record::from_line("record\tx").is_err());
    }

    #[test]
    fn json_escapes_and_uses_null_for_missing_figures() {
        assert_eq!(json_str("a\"b\\c\n"), r#""a\"b\\c\u000a""#);
        let row = Row {
            rec: sample(),
            peak: None,
            vs_1thread: None,
        };
        let line = json_line(&row, "CPU \"x\"");
        assert!(line.contains(r#""cpu":"CPU \"x\"""#), "{line}");
        assert!(line.contains(r#""peak_pct":null"#), "{line}");
        assert!(line.contains(r#""vs_matrixmultiply":null"#), "{line}");
        assert!(line.contains(r#""gflops":201.25"#), "{line}");
    }
}
