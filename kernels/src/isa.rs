//! Instruction-set detection and the `INKLING_ISA` override.

use crate::error::{Error, Result};

/// A kernel table: which SIMD instruction set the kernels of a [`crate::KernelSet`] use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable Rust; the reference for every SIMD kernel and the fallback on any CPU.
    Scalar,
    /// x86-64 with AVX2 and FMA (Zen 3, Haswell and later).
    Avx2,
    /// x86-64 with AVX2, FMA and AVX-512 F/BW/VL/VNNI (Zen 4, Ice Lake and later).
    Avx512Vnni,
    /// ARM64 with NEON (every ARMv8-A core).
    Neon,
    /// ARM64 with NEON and the dot-product extension (`sdot`).
    NeonDotprod,
}

impl Isa {
    /// Every ISA, from the most portable to the most specific.
    pub const ALL: [Isa; 5] = [
        Isa::Scalar,
        Isa::Avx2,
        Isa::Avx512Vnni,
        Isa::Neon,
        Isa::NeonDotprod,
    ];

    /// The name used by `INKLING_ISA`, file names and reports.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512Vnni => "avx512vnni",
            Isa::Neon => "neon",
            Isa::NeonDotprod => "neon-dotprod",
        }
    }

    /// Parses an `INKLING_ISA` value (`_` and `-` are interchangeable, case is ignored).
    pub fn parse(s: &str) -> Result<Isa> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        Isa::ALL
            .into_iter()
            .find(|isa| isa.name() == norm)
            .ok_or_else(|| Error::UnknownIsa(s.to_string()))
    }

    /// Whether this CPU can run the kernels of this ISA.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            Isa::Avx2 => has_avx2(),
            Isa::Avx512Vnni => has_avx512vnni(),
            Isa::Neon => has_neon(),
            Isa::NeonDotprod => has_neon_dotprod(),
        }
    }

    /// The ISAs this CPU can run, most portable first.
    pub fn available() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_available()).collect()
    }

    /// The best ISA this CPU can run.
    pub fn detect() -> Isa {
        *Isa::available().last().unwrap_or(&Isa::Scalar)
    }

    /// `INKLING_ISA` if set (an error if unknown or unavailable), else [`Isa::detect`].
    pub fn from_env_or_detect() -> Result<Isa> {
        match std::env::var("INKLING_ISA") {
            Ok(v) if !v.trim().is_empty() => {
                let isa = Isa::parse(&v)?;
                isa.require()?;
                Ok(isa)
            }
            _ => Ok(Isa::detect()),
        }
    }

    /// Ok if this CPU can run the ISA, else an error naming the CPU and what it can run.
    pub fn require(self) -> Result<()> {
        if self.is_available() {
            return Ok(());
        }
        let available: Vec<&str> = Isa::available().into_iter().map(Isa::name).collect();
        Err(Error::IsaUnavailable {
            isa: self.name(),
            cpu: cpu_model(),
            available: available.join(", "),
        })
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}
#[cfg(not(target_arch = "x86_64"))]
fn has_avx2() -> bool {
    false
}

#[cfg(target_arch = "x86_64")]
fn has_avx512vnni() -> bool {
    has_avx2()
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni")
}
#[cfg(not(target_arch = "x86_64"))]
fn has_avx512vnni() -> bool {
    false
}

#[cfg(target_arch = "aarch64")]
fn has_neon() -> bool {
    std::arch::is_aarch64_feature_detected!("neon")
}
#[cfg(not(target_arch = "aarch64"))]
fn has_neon() -> bool {
    false
}

#[cfg(target_arch = "aarch64")]
fn has_neon_dotprod() -> bool {
    has_neon() && std::arch::is_aarch64_feature_detected!("dotprod")
}
#[cfg(not(target_arch = "aarch64"))]
fn has_neon_dotprod() -> bool {
    false
}

/// The SIMD features of this CPU that matter to Inkling, as `lscpu` would name them.
pub fn cpu_features() -> Vec<&'static str> {
    #[allow(unused_mut)]
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($f:tt => $name:expr),*) => { $( if is_x86_feature_detected!($f) { out.push($name); } )* };
        }
        probe!("sse4.2" => "sse4_2", "avx" => "avx", "avx2" => "avx2", "fma" => "fma",
               "avx512f" => "avx512f", "avx512bw" => "avx512bw", "avx512vl" => "avx512vl",
               "avx512vnni" => "avx512_vnni", "avxvnni" => "avx_vnni");
    }
    #[cfg(target_arch = "aarch64")]
    {
        macro_rules! probe {
            ($($f:tt => $name:expr),*) => { $( if std::arch::is_aarch64_feature_detected!($f) { out.push($name); } )* };
        }
        probe!("neon" => "neon", "dotprod" => "dotprod", "i8mm" => "i8mm", "fp16" => "fp16");
    }
    out
}

/// The CPU's model name (`/proc/cpuinfo`), with family and model number on x86, or "unknown CPU".
pub fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        info.lines()
            .find(|l| l.split(':').next().map(str::trim) == Some(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    match (field("model name"), field("cpu family"), field("model")) {
        (Some(name), Some(fam), Some(model)) => format!("{name} (family {fam}, model {model})"),
        (Some(name), _, _) => name,
        _ => field("CPU part")
            .map(|p| format!("ARM CPU part {p}"))
            .unwrap_or_else(|| "unknown CPU".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_round_trip() {
        for isa in Isa::ALL {
            assert_eq!(Isa::parse(isa.name()).unwrap(), isa);
        }
        assert_eq!(Isa::parse("NEON_DOTPROD").unwrap(), Isa::NeonDotprod);
        assert!(matches!(Isa::parse("sse9"), Err(Error::UnknownIsa(_))));
    }

    #[test]
    fn scalar_is_always_available_and_detect_is_available() {
        assert!(Isa::Scalar.is_available());
        assert!(Isa::detect().is_available());
        assert!(Isa::available().contains(&Isa::Scalar));
    }

    /// CI names the ISAs a run must exercise (`INKLING_EXPECT_ISAS=neon,neon-dotprod` under
    /// `QEMU_CPU=max`), so a detection bug cannot turn the SIMD tests into silent skips.
    #[test]
    fn expected_isas_are_detected() {
        let Ok(list) = std::env::var("INKLING_EXPECT_ISAS") else {
            eprintln!("INKLING_EXPECT_ISAS not set: nothing to check");
            return;
        };
        for name in list.split(',').filter(|s| !s.trim().is_empty()) {
            let isa = Isa::parse(name).unwrap();
            assert!(
                isa.is_available(),
                "expected {isa} on this CPU ({}); have {:?}",
                cpu_model(),
                Isa::available()
            );
        }
    }

    #[test]
    fn unavailable_isa_is_an_error_not_a_crash() {
        // x86 never has NEON and ARM never has AVX2, so one of these is always unavailable.
        let missing = if cfg!(target_arch = "aarch64") {
            Isa::Avx2
        } else {
            Isa::Neon
        };
        let err = missing.require().unwrap_err().to_string();
        assert!(err.contains(missing.name()), "{err}");
    }
}
