#!/usr/bin/env python3
"""Golden outputs of LiteRT 2.3 + XNNPACK for the float32 ops of Inkling's runtime.

Builds one-op float32 .tflite models (tfl_build.py), runs them with OpResolverType.AUTO on one thread,
asserts that XNNPACK took them (a 'DELEGATE' node), and writes quant/tests/golden/float/<op>.json:
  {"op", "isa", "cases": [{"name", "attrs", "inputs": [{"shape", "hex"}], "output": {"shape", "hex"}}]}
where "hex" is the f32 bit patterns as 8 hex digits each, concatenated, so JSON round-trips exactly.
The Rust test quant/tests/float_golden.rs compares quant::runtime::float against these files.

XNNPACK picks kernels per ISA: the files record the CPU flags they were made on ("isa").
usage: /work/venvs/litert/bin/python make_float_golden.py [--out DIR]
"""
import argparse
import json
import pathlib

import numpy as np
from ai_edge_litert import interpreter as litert
from ai_edge_litert import schema_py_generated as s

from tfl_build import Graph, opts

ADD, SUB, MUL, DIV, SQDIFF = 0, 41, 18, 42, 99
RSQRT, SQRT, MEAN, SOFTMAX, GELU, LOGISTIC, HARD_SWISH = 76, 75, 40, 25, 150, 14, 117
BO = s.BuiltinOptions


def run(model, inputs):
    """Runs `model` in LiteRT with XNNPACK on one thread; fails unless XNNPACK took the graph."""
    it = litert.Interpreter(model_content=model, num_threads=1,
                            experimental_op_resolver_type=litert.OpResolverType.AUTO)
    it.allocate_tensors()
    ops = [d["op_name"] for d in it._get_ops_details()]
    assert "DELEGATE" in ops, f"not delegated: {ops}"
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]).copy()


def hexbits(a):
    return np.ascontiguousarray(a, np.float32).view(np.uint32).astype(">u4").tobytes().hex()


def case(name, inputs, out, **attrs):
    return {"name": name, "attrs": attrs,
            "inputs": [{"shape": list(x.shape), "hex": hexbits(x)} for x in inputs],
            "output": {"shape": list(out.shape), "hex": hexbits(out)}}


def binary_model(code, sa, sb):
    g = Graph()
    a, b = g.input(sa), g.input(sb)
    out_shape = np.broadcast_shapes(tuple(sa), tuple(sb))
    opt = {ADD: (BO.AddOptions, s.AddOptionsT), SUB: (BO.SubOptions, s.SubOptionsT),
           MUL: (BO.MulOptions, s.MulOptionsT), DIV: (BO.DivOptions, s.DivOptionsT),
           SQDIFF: (BO.SquaredDifferenceOptions, s.SquaredDifferenceOptionsT)}[code]
    y = g.op(code, [a, b], out_shape, opt[0], opt[1]())
    return g.finish([y])


def unary_model(code, shape, opt_type=0, opt=None):
    g = Graph()
    x = g.input(shape)
    return g.finish([g.op(code, [x], shape, opt_type, opt)])


def mean_model(shape, axes):
    g = Graph()
    x = g.input(shape)
    out = [1 if i in axes else d for i, d in enumerate(shape)]
    y = g.op(MEAN, [x, g.const(np.array(axes, np.int32))], out, BO.ReducerOptions,
             opts(s.ReducerOptionsT, keepDims=True))
    return g.finish([y])


def layer_norm_model(shape, eps, gamma, beta, variant):
    """LayerNorm over the last axis as TFLite ops; variant in {mul_rsqrt, sqdiff_rsqrt, mul_sqrt_div}."""
    g = Graph()
    x = g.input(shape)
    red = list(shape[:-1]) + [1]
    axis = g.const(np.array([len(shape) - 1], np.int32))
    mean = lambda t: g.op(MEAN, [t, axis], red, BO.ReducerOptions, opts(s.ReducerOptionsT, keepDims=True))
    m = mean(x)
    d = g.op(SUB, [x, m], shape, BO.SubOptions, s.SubOptionsT())
    if variant == "sqdiff_rsqrt":
        sq = g.op(SQDIFF, [x, m], shape, BO.SquaredDifferenceOptions, s.SquaredDifferenceOptionsT())
    else:
        sq = g.op(MUL, [d, d], shape, BO.MulOptions, s.MulOptionsT())
    v = mean(sq)
    ve = g.op(ADD, [v, g.const(np.array([eps], np.float32))], red, BO.AddOptions, s.AddOptionsT())
    if variant == "mul_sqrt_div":
        sd = g.op(SQRT, [ve], red)
        n = g.op(DIV, [d, sd], shape, BO.DivOptions, s.DivOptionsT())
    else:
        r = g.op(RSQRT, [ve], red)
        n = g.op(MUL, [d, r], shape, BO.MulOptions, s.MulOptionsT())
    yg = g.op(MUL, [n, g.const(gamma)], shape, BO.MulOptions, s.MulOptionsT())
    y = g.op(ADD, [yg, g.const(beta)], shape, BO.AddOptions, s.AddOptionsT())
    return g.finish([y])


def f32(rng, shape, scale=1.0, loc=0.0):
    return (rng.standard_normal(shape) * scale + loc).astype(np.float32)


def specials():
    """Values every elementwise op should see: zeros, tiny, huge, the GELU/sigmoid saturation points."""
    v = [0.0, -0.0, 1e-30, -1e-30, 1e-7, -1e-7, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 5.0, -5.0, 6.0, -6.0,
         9.0, -9.0, 10.0, -10.0, 20.0, -20.0, 87.0, -87.0, 88.7, -88.7, 100.0, -100.0, 1e30, -1e30]
    return np.array(v, np.float32)


def gen_binary(rng):
    cases = []
    shapes = [([4, 1, 24], [3, 1]), ([2, 37], [2, 37]), ([5, 19], [1]), ([1], [6, 7]), ([2, 3, 1, 5], [4, 1])]
    for name, code in [("add", ADD), ("sub", SUB), ("mul", MUL), ("div", DIV), ("squared_difference", SQDIFF)]:
        for sa, sb in shapes:
            a, b = f32(rng, sa, 3.0), f32(rng, sb, 3.0)
            if code == DIV:
                b = np.where(np.abs(b) < 1e-3, np.float32(1.5), b).astype(np.float32)
            cases.append(case(f"{name}_{sa}_{sb}", [a, b], run(binary_model(code, sa, sb), [a, b]), op=name))
    return cases


def gen_unary(rng, name, code, values, opt_type=0, opt=None):
    x = values.astype(np.float32)
    return [case(f"{name}_{x.size}", [x], run(unary_model(code, list(x.shape), opt_type, opt), [x]))]


def gen_mean(rng):
    cases = []
    for shape, axes in [([4, 192], [1]), ([2, 768], [1]), ([4, 50], [1]), ([2, 3, 5], [2]),
                        ([1, 1], [1]), ([2, 7], [1]), ([2, 33], [1]), ([2, 65], [1]), ([1, 129], [1]),
                        ([2, 7, 7, 24], [1, 2]), ([1, 4, 4, 8], [1, 2]), ([1, 13, 5, 3], [1, 2])]:
        x = f32(rng, shape, 2.0, 0.7)
        cases.append(case(f"mean_{shape}_{axes}", [x], run(mean_model(shape, axes), [x]), axes=axes))
    return cases


def gen_softmax(rng):
    cases = []
    for shape, sc in [([12, 50], 3.0), ([2, 197], 5.0), ([3, 1], 1.0), ([2, 7], 1.0), ([2, 16], 4.0),
                      ([2, 17], 4.0), ([2, 33], 2.0), ([2, 64], 8.0), ([2, 65], 8.0), ([1, 129], 30.0),
                      ([2, 40], 60.0)]:
        x = f32(rng, shape, sc)
        m = unary_model(SOFTMAX, shape, BO.SoftmaxOptions, opts(s.SoftmaxOptionsT, beta=1.0))
        cases.append(case(f"softmax_{shape}", [x], run(m, [x])))
    return cases


def gen_layer_norm(rng):
    cases = []
    for variant in ["mul_rsqrt", "sqdiff_rsqrt", "mul_sqrt_div"]:
        for shape, eps in [([8, 192], 1e-6), ([4, 192], 1e-5)]:
            x = f32(rng, shape, 1.5, 0.3)
            gamma, beta = f32(rng, [shape[-1]], 0.2, 1.0), f32(rng, [shape[-1]], 0.1)
            y = run(layer_norm_model(shape, eps, gamma, beta, variant), [x])
            c = case(f"layer_norm_{variant}_{shape}", [x, gamma, beta], y, variant=variant, eps=eps)
            cases.append(c)
    return cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(pathlib.Path(__file__).parent / "float"))
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    flags = open("/proc/cpuinfo").read().split("flags")[1].split("\n")[0].split()
    isa = "avx512f" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"
    rng = np.random.default_rng(20240607)
    wide = lambda n, lo, hi: np.concatenate([specials(), rng.uniform(lo, hi, n).astype(np.float32)])
    pos = np.concatenate([np.array([1e-30, 1e-20, 1e-6, 1e-5, 0.25, 1.0, 2.0, 4.0, 1e6, 3e38], np.float32),
                          np.exp(rng.uniform(-25, 25, 1014)).astype(np.float32)])
    sets = {
        "binary": gen_binary(rng),
        "rsqrt": gen_unary(rng, "rsqrt", RSQRT, pos),
        "sqrt": gen_unary(rng, "sqrt", SQRT, pos),
        "gelu": gen_unary(rng, "gelu", GELU, np.concatenate([wide(1506, -8, 8), f32(rng, [768])]),
                          BO.GeluOptions, opts(s.GeluOptionsT, approximate=False)),
        "logistic": gen_unary(rng, "logistic", LOGISTIC, wide(994, -30, 30)),
        "hard_swish": gen_unary(rng, "hard_swish", HARD_SWISH, wide(994, -8, 8), BO.HardSwishOptions,
                                s.HardSwishOptionsT()),
        "mean": gen_mean(rng),
        "softmax": gen_softmax(rng),
        "layer_norm": gen_layer_norm(rng),
    }
    for op, cases in sets.items():
        path = out / f"{op}.json"
        path.write_text(json.dumps({"op": op, "isa": isa, "cases": cases}, separators=(",", ":")) + "\n")
        print(f"{path}: {len(cases)} cases, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
