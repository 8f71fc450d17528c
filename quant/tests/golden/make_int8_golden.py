#!/usr/bin/env python3
"""Builds one-op int8 .tflite models, runs them in LiteRT + XNNPACK and writes the fixtures
that quant/tests/int8_golden.rs replays against Inkling's int8 ops (bit-exact).

usage: /work/venvs/litert/bin/python make_int8_golden.py [--check]
  --check  only compare LiteRT with this file's numpy formulas; write nothing.

Each model is loaded from bytes with the AUTO resolver and one thread, and must contain a
'DELEGATE' node (so XNNPACK, not the builtin kernels, computed the outputs). The numpy formulas
(`ref_*`) restate XNNPACK's arithmetic; every case asserts they agree with LiteRT before it is saved,
so a fixture that was written is one the formula explains.
Fixtures: int8/<op>.json, a list of cases {name, ...inputs and qparams..., "expected": [...]}.
Floats are float32 values written as JSON numbers (exact: every f32 is a double).
"""
import json
import pathlib
import sys

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as S
from ai_edge_litert.interpreter import Interpreter, OpResolverType

OUT = pathlib.Path(__file__).resolve().parent / "int8"
F32 = np.float32
BO = S.BuiltinOperator
OPT = S.BuiltinOptions
TT = S.TensorType


# ---------------------------------------------------------------- model building

def tensor(shape, ttype, q=None, data=None, qdim=0):
    """A tensor spec: q is (scales, zero_points) lists or None; data a numpy array for constants."""
    return dict(shape=list(shape), type=ttype, q=q, data=data, qdim=qdim)


def build(op, opts_type, opts, tensors, op_inputs, op_outputs, version=2):
    """Serialises a one-op model; graph inputs are the tensors without data, in order."""
    bufs = [S.BufferT()]
    tts = []
    for i, t in enumerate(tensors):
        tt = S.TensorT()
        tt.shape = np.array(t["shape"], dtype=np.int32)
        tt.type = t["type"]
        tt.name = f"t{i}"
        if t["q"] is not None:
            qp = S.QuantizationParametersT()
            qp.scale = np.array(t["q"][0], dtype=np.float32)
            qp.zeroPoint = np.array(t["q"][1], dtype=np.int64)
            qp.quantizedDimension = t["qdim"]
            tt.quantization = qp
        if t["data"] is not None:
            b = S.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(t["data"]).tobytes(), dtype=np.uint8)
            bufs.append(b)
            tt.buffer = len(bufs) - 1
        else:
            tt.buffer = 0
        tts.append(tt)
    oc = S.OperatorCodeT()
    oc.builtinCode = op
    oc.deprecatedBuiltinCode = min(op, 127)
    oc.version = version
    o = S.OperatorT()
    o.opcodeIndex = 0
    o.inputs = np.array(op_inputs, dtype=np.int32)
    o.outputs = np.array(op_outputs, dtype=np.int32)
    if opts is not None:
        o.builtinOptionsType = opts_type
        o.builtinOptions = opts
    sg = S.SubGraphT()
    sg.tensors = tts
    sg.inputs = np.array([i for i in op_inputs if i >= 0 and tensors[i]["data"] is None], dtype=np.int32)
    sg.outputs = np.array(op_outputs, dtype=np.int32)
    sg.operators = [o]
    m = S.ModelT()
    m.version = 3
    m.operatorCodes = [oc]
    m.subgraphs = [sg]
    m.buffers = bufs
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def run(model, inputs):
    it = Interpreter(model_content=model, num_threads=1,
                     experimental_op_resolver_type=OpResolverType.AUTO)
    it.allocate_tensors()
    ops = [d["op_name"] for d in it._get_ops_details()]
    assert "DELEGATE" in ops, f"XNNPACK did not take the op: {ops}"
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]).copy()


# ---------------------------------------------------------------- XNNPACK formulas (numpy)

def requant(acc, scale, zp, lo=-128, hi=127):
    """fp32 requantization: clamp(rint_even(f32(acc)·scale)) + zp, all in float32."""
    v = acc.astype(F32) * F32(scale) if np.ndim(scale) == 0 else acc.astype(F32) * scale.astype(F32)
    v = np.clip(v, F32(lo - zp), F32(hi - zp))
    return (np.rint(v).astype(np.int32) + zp).astype(np.int8)


def conv_scales(s_x, s_w, s_y):
    return (F32(s_x) * np.asarray(s_w, dtype=F32)) / F32(s_y)


def ref_quantize(x, s, zp):
    inv = F32(1.0) / F32(s)
    return requant_f(x.astype(F32) * inv, zp)


def requant_f(v, zp):
    v = np.clip(v, F32(-128 - zp), F32(127 - zp))
    return (np.rint(v).astype(np.int32) + zp).astype(np.int8)


def ref_dequantize(q, s, zp):
    return (q.astype(np.int32) - zp).astype(F32) * F32(s)


def ref_fc(x, zx, w, bias, s_x, s_w, s_y, zy):
    acc = (x.astype(np.int32) - zx) @ w.astype(np.int32).T + bias
    return requant(acc, conv_scales(s_x, s_w, s_y), zy)


def add_params(s_a, s_b, s_y, zp_a, zp_b, sign_b):
    r_a = F32(s_a) / F32(s_y)
    r_b = F32(s_b) / F32(s_y)
    mx = max(r_a, r_b)
    exp = int((np.array(mx, dtype=F32).view(np.uint32) >> 23)) - 127
    shift = 20 - exp
    m_a = int(np.rint(np.ldexp(np.float64(r_a), shift)))
    m_b = int(np.rint(np.ldexp(np.float64(r_b), shift))) * sign_b
    bias = (1 << (shift - 1)) - m_a * zp_a - m_b * zp_b
    return m_a, m_b, bias, shift


def ref_add(a, b, qa, qb, qy, sign_b=1):
    m_a, m_b, bias, shift = add_params(qa[0], qb[0], qy[0], qa[1], qb[1], sign_b)
    acc = bias + a.astype(np.int64) * m_a + b.astype(np.int64) * m_b
    acc = ((acc + 2**31) % 2**32 - 2**31)  # int32 wrap
    out = (acc >> shift) + qy[1]
    return np.clip(out, -128, 127).astype(np.int8)


def ref_mul(a, b, qa, qb, qy):
    scale = (F32(qa[0]) * F32(qb[0])) / F32(qy[0])
    acc = (a.astype(np.int32) - qa[1]) * (b.astype(np.int32) - qb[1])
    return requant(acc, scale, qy[1])


def ref_mean(x, axes, qx, qy):
    n = int(np.prod([x.shape[a] for a in axes]))
    s = np.sum(x.astype(np.int32), axis=tuple(axes), keepdims=True) - n * qx[1]
    scale = (F32(qx[0]) / F32(qy[0])) * (F32(1.0) / F32(n))
    return requant(s, scale, qy[1])


def ref_logistic_table(s_in, zp_in, s_out, zp_out):
    x = (np.arange(-128, 128, dtype=np.int32) - zp_in).astype(F32) * F32(s_in)
    y = (F32(1) / (F32(1) + np.exp(-x.astype(np.float64)).astype(F32))).astype(F32)
    return requant_f(y / F32(s_out), zp_out)


def im2col_conv(x, zx, w, bias, stride, pads, s_x, s_w, s_y, zy, depthwise=False):
    n, h, wd, c = x.shape
    if depthwise:
        _, kh, kw, oc = w.shape
    else:
        oc, kh, kw, _ = w.shape
    (pt, pb, pl, pr), (sh, sw) = pads, stride
    xp = np.full((n, h + pt + pb, wd + pl + pr, c), zx, dtype=np.int32)
    xp[:, pt:pt + h, pl:pl + wd, :] = x
    oh = (h + pt + pb - kh) // sh + 1
    ow = (wd + pl + pr - kw) // sw + 1
    acc = np.zeros((n, oh, ow, oc), dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw, :] - zx
            if depthwise:
                acc += patch.astype(np.int64) * w[0, i, j, :].astype(np.int64)
            else:
                acc += patch.astype(np.int64) @ w[:, i, j, :].astype(np.int64).T
    acc = (acc + bias).astype(np.int32)
    return requant(acc, conv_scales(s_x, s_w, s_y), zy)


def same_pads(h, w, kh, kw, sh, sw):
    oh, ow = -(-h // sh), -(-w // sw)
    th = max((oh - 1) * sh + kh - h, 0)
    tw = max((ow - 1) * sw + kw - w, 0)
    return (th // 2, th - th // 2, tw // 2, tw - tw // 2)


# ---------------------------------------------------------------- cases

rng = np.random.default_rng(20240607)


def i8(shape):
    return rng.integers(-128, 128, size=shape, dtype=np.int8)


def w8(shape):
    return rng.integers(-127, 128, size=shape, dtype=np.int8)


def scale(lo=-9, hi=-3):
    return float(F32(np.exp2(rng.uniform(lo, hi))))


def zp():
    return int(rng.integers(-128, 128))


def lst(a):
    return np.asarray(a).ravel().tolist()


def f32s(a):
    return [float(v) for v in np.asarray(a, dtype=F32).ravel()]


def check(name, got, want):
    bad = int(np.sum(got.view(np.uint8 if got.dtype == np.int8 else np.uint32).ravel()
                     != want.view(np.uint8 if want.dtype == np.int8 else np.uint32).ravel()))
    print(f"{name:32s} {got.size:6d} values, {bad} differ from the formula")
    if bad:
        raise SystemExit(f"{name}: formula mismatch")


def case_quantize():
    out = []
    for i, n in enumerate([1, 37, 300]):
        s, z = scale(-8, -1), zp()
        # Include exact ties (k + 0.5)·s and out-of-range values.
        k = rng.integers(-300, 300, size=n)
        x = ((k + rng.choice([0.0, 0.5, 0.25], size=n)) * s).astype(F32)
        t = [tensor([n], TT.FLOAT32), tensor([n], TT.INT8, ([s], [z]))]
        got = run(build(BO.QUANTIZE, None, None, t, [0], [1], 1), [x])
        check(f"quantize_{i}", got, ref_quantize(x, s, z))
        out.append(dict(name=f"quantize_{i}", x=f32s(x), y_q=[s, z], expected=lst(got)))
    return out


def case_dequantize():
    out = []
    for i in range(2):
        s, z = scale(-8, 2), zp()
        x = np.arange(-128, 128, dtype=np.int8)
        t = [tensor([256], TT.INT8, ([s], [z])), tensor([256], TT.FLOAT32)]
        got = run(build(BO.DEQUANTIZE, None, None, t, [0], [1], 2), [x])
        check(f"dequantize_{i}", got, ref_dequantize(x, s, z))
        out.append(dict(name=f"dequantize_{i}", x=lst(x), x_q=[s, z],
                        expected=[int(v) for v in got.view(np.uint32)]))
    return out


def case_fc():
    out = []
    for i, (m, k, n) in enumerate([(1, 1, 1), (3, 17, 5), (7, 64, 33), (5, 200, 19)]):
        sx, zx, sy, zy = scale(-6, -3), zp(), scale(-4, 0), zp()
        sw = [scale(-9, -5) for _ in range(n)]
        x, w = i8((m, k)), w8((n, k))
        bias = rng.integers(-3000, 3000, size=n, dtype=np.int32)
        t = [tensor([m, k], TT.INT8, ([sx], [zx])),
             tensor([n, k], TT.INT8, (sw, [0] * n), w),
             tensor([n], TT.INT32, ([float(F32(sx) * F32(v)) for v in sw], [0] * n), bias),
             tensor([m, n], TT.INT8, ([sy], [zy]))]
        opts = S.FullyConnectedOptionsT()
        got = run(build(BO.FULLY_CONNECTED, OPT.FullyConnectedOptions, opts, t, [0, 1, 2], [3], 4), [x])
        check(f"fc_{i}", got, ref_fc(x, zx, w, bias, sx, sw, sy, zy))
        out.append(dict(name=f"fc_{i}", m=m, k=k, n=n, x=lst(x), x_q=[sx, zx], w=lst(w), w_scales=sw,
                        bias=lst(bias), y_q=[sy, zy], expected=lst(got)))
    return out


def conv_case(i, depthwise, n, h, w, c, oc, kh, kw, stride, padding):
    sx, zx, sy, zy = scale(-6, -3), zp(), scale(-4, 0), zp()
    sw = [scale(-9, -5) for _ in range(oc)]
    x = i8((n, h, w, c))
    wt = w8((1, kh, kw, oc)) if depthwise else w8((oc, kh, kw, c))
    bias = rng.integers(-3000, 3000, size=oc, dtype=np.int32)
    pads = same_pads(h, w, kh, kw, *stride) if padding == "SAME" else (0, 0, 0, 0)
    want = im2col_conv(x, zx, wt, bias, stride, pads, sx, sw, sy, zy, depthwise)
    t = [tensor(x.shape, TT.INT8, ([sx], [zx])),
         tensor(wt.shape, TT.INT8, (sw, [0] * oc), wt, qdim=3 if depthwise else 0),
         tensor([oc], TT.INT32, ([float(F32(sx) * F32(v)) for v in sw], [0] * oc), bias),
         tensor(want.shape, TT.INT8, ([sy], [zy]))]
    pad = 0 if padding == "SAME" else 1
    if depthwise:
        o = S.DepthwiseConv2DOptionsT()
        o.depthMultiplier = oc // c
        ot, code, ver = OPT.DepthwiseConv2DOptions, BO.DEPTHWISE_CONV_2D, 3
    else:
        o = S.Conv2DOptionsT()
        ot, code, ver = OPT.Conv2DOptions, BO.CONV_2D, 3
    o.padding, o.strideH, o.strideW = pad, stride[0], stride[1]
    o.dilationHFactor = o.dilationWFactor = 1
    got = run(build(code, ot, o, t, [0, 1, 2], [3], ver), [x])
    name = f"{'dw' if depthwise else 'conv'}_{i}"
    check(name, got, want)
    return dict(name=name, n=n, h=h, w=w, c=c, oc=oc, kh=kh, kw=kw, stride=list(stride),
                pads=list(pads), x=lst(x), x_q=[sx, zx], filter=lst(wt), w_scales=sw, bias=lst(bias),
                y_q=[sy, zy], out_shape=list(got.shape), expected=lst(got))


def case_conv():
    cfg = [(1, 5, 5, 3, 4, 3, 3, (1, 1), "SAME"), (2, 7, 6, 5, 6, 3, 2, (2, 2), "SAME"),
           (1, 8, 8, 2, 3, 4, 4, (4, 4), "VALID"), (1, 6, 9, 4, 7, 1, 3, (1, 2), "VALID")]
    return [conv_case(i, False, *c) for i, c in enumerate(cfg)]


def case_dw():
    cfg = [(1, 5, 5, 3, 3, 3, 3, (1, 1), "SAME"), (2, 7, 6, 8, 8, 3, 3, (2, 2), "SAME"),
           (1, 9, 7, 5, 5, 5, 3, (2, 1), "VALID")]
    return [conv_case(i, True, *c) for i, c in enumerate(cfg)]


def case_bmm():
    out = []
    for i, (bt, m, k, n, adj_y) in enumerate([(1, 3, 4, 5, False), (2, 5, 16, 7, True),
                                              (3, 8, 33, 6, False), (4, 7, 24, 9, True)]):
        sa, za, sb, sy, zy = scale(-6, -3), zp(), scale(-6, -3), scale(-4, 0), zp()
        a, b = i8((bt, m, k)), w8((bt, n, k) if adj_y else (bt, k, n))
        t = [tensor(a.shape, TT.INT8, ([sa], [za])), tensor(b.shape, TT.INT8, ([sb], [0])),
             tensor([bt, m, n], TT.INT8, ([sy], [zy]))]
        o = S.BatchMatMulOptionsT()
        o.adjY = adj_y
        got = run(build(BO.BATCH_MATMUL, OPT.BatchMatMulOptions, o, t, [0, 1], [2], 2), [a, b])
        bb = np.swapaxes(b, 1, 2) if adj_y else b
        acc = np.einsum("bmk,bkn->bmn", a.astype(np.int64) - za, bb.astype(np.int64)).astype(np.int32)
        check(f"bmm_{i}", got, requant(acc, (F32(sa) * F32(sb)) / F32(sy), zy))
        out.append(dict(name=f"bmm_{i}", batch=bt, m=m, k=k, n=n, adj_y=adj_y, a=lst(a), a_q=[sa, za],
                        b=lst(b), b_scale=sb, y_q=[sy, zy], expected=lst(got)))
    return out


def case_binary(kind):
    code, ot, opts = {"add": (BO.ADD, OPT.AddOptions, S.AddOptionsT()),
                      "sub": (BO.SUB, OPT.SubOptions, S.SubOptionsT()),
                      "mul": (BO.MUL, OPT.MulOptions, S.MulOptionsT())}[kind]
    shapes = [([2, 3, 4], [2, 3, 4]), ([4, 5], []), ([1], [3, 7]), ([2, 6, 8], [8]),
              ([3, 1, 5], [1, 4, 5]), ([5, 4, 6], [5, 1, 1])]
    out = []
    for i, (sa_shape, sb_shape) in enumerate(shapes):
        while True:
            qa, qb, qy = [scale(-6, -1), zp()], [scale(-6, -1), zp()], [scale(-6, -1), zp()]
            if kind == "mul":
                r = F32(qa[0]) * F32(qb[0]) / F32(qy[0])
                ok = 2.0**-16 <= r < 2.0**8
            else:
                ok = all(2.0**-10 <= F32(s) / F32(qy[0]) < 2.0**8 for s in (qa[0], qb[0]))
            if ok:
                break
        a, b = i8(sa_shape), i8(sb_shape)
        oshape = list(np.broadcast_shapes(tuple(sa_shape), tuple(sb_shape)))
        t = [tensor(sa_shape, TT.INT8, (*map(lambda v: [v], qa),)),
             tensor(sb_shape, TT.INT8, (*map(lambda v: [v], qb),)),
             tensor(oshape, TT.INT8, (*map(lambda v: [v], qy),))]
        got = run(build(code, ot, opts, t, [0, 1], [2], 2), [a, b])
        ab, bb = np.broadcast_arrays(a, b)
        want = ref_mul(ab, bb, qa, qb, qy) if kind == "mul" else \
            ref_add(ab, bb, qa, qb, qy, -1 if kind == "sub" else 1)
        check(f"{kind}_{i}", got, want.reshape(got.shape))
        out.append(dict(name=f"{kind}_{i}", a_shape=sa_shape, b_shape=sb_shape, a=lst(a), b=lst(b),
                        a_q=qa, b_q=qb, y_q=qy, out_shape=oshape, expected=lst(got)))
    return out


def case_mean():
    out = []
    cfg = [([2, 3, 17], [2], True), ([4, 192], [1], False), ([2, 5, 7, 6], [1, 2], True),
           ([1, 14, 14, 9], [1, 2], False), ([3, 1000], [1], True)]
    for i, (shape, axes, keep) in enumerate(cfg):
        qx, qy = [scale(-6, -2), zp()], [scale(-7, -3), zp()]
        x = i8(shape)
        want = ref_mean(x, axes, qx, qy)
        oshape = list(want.shape) if keep else [d for j, d in enumerate(shape) if j not in axes]
        ax = np.array(axes, dtype=np.int32)
        t = [tensor(shape, TT.INT8, ([qx[0]], [qx[1]])), tensor([len(axes)], TT.INT32, None, ax),
             tensor(oshape, TT.INT8, ([qy[0]], [qy[1]]))]
        o = S.ReducerOptionsT()
        o.keepDims = keep
        got = run(build(BO.MEAN, OPT.ReducerOptions, o, t, [0, 1], [2], 2), [x])
        check(f"mean_{i}", got, want.reshape(got.shape))
        out.append(dict(name=f"mean_{i}", shape=shape, axes=axes, keep_dims=keep, x=lst(x), x_q=qx,
                        y_q=qy, out_shape=oshape, expected=lst(got)))
    return out


def case_logistic():
    out = []
    for i in range(6):
        qx, qy = [scale(-8, 0), zp()], [1.0 / 256, -128]
        x = np.arange(-128, 128, dtype=np.int8)
        t = [tensor([256], TT.INT8, ([qx[0]], [qx[1]])), tensor([256], TT.INT8, ([qy[0]], [qy[1]]))]
        got = run(build(BO.LOGISTIC, None, None, t, [0], [1], 2), [x])
        check(f"logistic_{i}", got, ref_logistic_table(qx[0], qx[1], qy[0], qy[1]))
        out.append(dict(name=f"logistic_{i}", x_q=qx, y_q=qy, expected=lst(got)))
    return out


CASES = {"quantize": case_quantize, "dequantize": case_dequantize, "fully_connected": case_fc,
         "conv2d": case_conv, "depthwise_conv2d": case_dw, "batch_matmul": case_bmm,
         "add": lambda: case_binary("add"), "sub": lambda: case_binary("sub"),
         "mul": lambda: case_binary("mul"), "mean": case_mean, "logistic": case_logistic}


def main():
    only_check = "--check" in sys.argv
    names = [a for a in sys.argv[1:] if not a.startswith("--")] or list(CASES)
    OUT.mkdir(exist_ok=True)
    for name in names:
        cases = CASES[name]()
        if not only_check:
            (OUT / f"{name}.json").write_text(json.dumps(cases, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
