"""Build one-op (or small) float32 .tflite models with the flatc object API shipped in ai_edge_litert.

Only what make_float_golden.py needs: float32/int32 tensors, constant buffers, builtin ops with options.
"""
import numpy as np
from ai_edge_litert import schema_py_generated as s
import flatbuffers

F32, I32 = s.TensorType.FLOAT32, s.TensorType.INT32


class Graph:
    """A single-subgraph model under construction."""

    def __init__(self):
        self.tensors, self.buffers, self.ops, self.codes = [], [s.BufferT()], [], []
        self.inputs, self.outputs = [], []

    def tensor(self, shape, dtype=F32, data=None):
        """Adds a tensor; `data` (a numpy array) makes it a constant with its own buffer."""
        t = s.TensorT()
        t.shape, t.type, t.name = list(shape), dtype, f"t{len(self.tensors)}".encode()
        if data is not None:
            b = s.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def input(self, shape):
        i = self.tensor(shape)
        self.inputs.append(i)
        return i

    def const(self, arr):
        arr = np.asarray(arr)
        return self.tensor(arr.shape, I32 if arr.dtype == np.int32 else F32, arr)

    def op(self, code, ins, out_shape, opt_type=0, opt=None, version=1):
        """Appends an op with a fresh float32 output tensor; returns that tensor's index."""
        if code not in self.codes:
            self.codes.append(code)
        out = self.tensor(out_shape)
        o = s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = self.codes.index(code), list(ins), [out]
        o.builtinOptionsType, o.builtinOptions = opt_type, opt
        self.ops.append(o)
        return out

    def finish(self, outputs):
        self.outputs = list(outputs)
        m = s.ModelT()
        m.version = 3
        m.operatorCodes = []
        for c in self.codes:
            oc = s.OperatorCodeT()
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = c, min(c, 127), 1
            m.operatorCodes.append(oc)
        g = s.SubGraphT()
        g.tensors, g.inputs, g.outputs, g.operators = self.tensors, self.inputs, self.outputs, self.ops
        m.subgraphs, m.buffers = [g], self.buffers
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def opts(cls, **fields):
    o = cls()
    for k, v in fields.items():
        setattr(o, k, v)
    return o
