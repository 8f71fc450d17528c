//! `inkling bench kernels` runs end to end and its JSON lines carry sane figures.

use std::process::Command;

fn inkling() -> Command {
    Command::new(env!("CARGO_BIN_EXE_inkling"))
}

#[test]
fn quick_json_run_prints_one_sane_object_per_line() {
    let out = inkling()
        .args(["bench", "kernels", "--quick", "--json", "--threads", "1,2"])
        .args(["--filter", "sq128"])
        .output()
        .expect("running inkling");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "inkling failed: {stderr}");
    // The CPU header goes to stderr in JSON mode.
    assert!(stderr.contains("CPU:"), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(!lines.is_empty(), "no result lines; stderr: {stderr}");
    let mut threads_seen = Vec::new();
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
            panic!("not JSON ({e}): {line}");
        });
        for key in [
            "cpu",
            "kernel",
            "isa",
            "m",
            "k",
            "n",
            "threads",
            "gflops",
            "peak_pct",
            "vs_gemm",
            "vs_matrixmultiply",
        ] {
            assert!(v.get(key).is_some(), "missing {key}: {line}");
        }
        assert!(v["shape"].as_str().unwrap().contains("sq128"), "{line}");
        assert_eq!(
            (v["m"].as_u64(), v["k"].as_u64(), v["n"].as_u64()),
            (Some(128), Some(128), Some(128))
        );
        let gflops = v["gflops"].as_f64().unwrap();
        assert!(gflops > 0.0 && gflops.is_finite(), "{line}");
        let pct = v["peak_pct"].as_f64().unwrap();
        // Only sanity: on a shared machine a quick peak sample can be starved, so the ratio has no
        // upper bound a test may rely on (speed is judged by benchmarks, not tests).
        assert!(pct > 0.0 && pct.is_finite(), "{line}");
        if v["kernel"] == "f32_gemm" && cfg!(feature = "anchors") {
            assert!(v["vs_gemm"].as_f64().unwrap() > 0.0, "{line}");
            assert!(v["vs_matrixmultiply"].as_f64().unwrap() > 0.0, "{line}");
        } else {
            assert!(
                v["vs_gemm"].is_null() && v["vs_matrixmultiply"].is_null(),
                "{line}"
            );
        }
        threads_seen.push(v["threads"].as_u64().unwrap());
    }
    assert!(
        threads_seen.contains(&1) && threads_seen.contains(&2),
        "{threads_seen:?}"
    );
}

#[test]
fn a_filter_that_selects_nothing_is_an_error() {
    let out = inkling()
        .args(["bench", "kernels", "--quick", "--filter", "no-such-kernel"])
        .output()
        .expect("running inkling");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("selects no benchmark"));
}

#[test]
fn an_unknown_isa_is_a_clear_error_at_startup() {
    let out = inkling()
        .args(["bench", "kernels", "--quick"])
        .env("INKLING_ISA", "sse9")
        .output()
        .expect("running inkling");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("INKLING_ISA") && err.contains("sse9"), "{err}");
}
