"""Batch-1 latency and memory of one .tflite file in LiteRT (XNNPACK via the AUTO resolver).

usage: litert_bench.py MODEL RUNS THREADS  ->  one JSON line on stdout
Written by `inkling report`; needs: pip install ai-edge-litert numpy.
"""
import json
import statistics
import sys
import time

import numpy as np
from ai_edge_litert import interpreter as litert


def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


path, runs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, "rb").read()
# Python, numpy and LiteRT are loaded by now: what the model adds is measured from here.
base_kb = status_kb("VmRSS")
it = litert.Interpreter(model_content=data, num_threads=threads,
                        experimental_op_resolver_type=litert.OpResolverType.AUTO)
it.allocate_tensors()
partitions = [o["op_name"] for o in it._get_ops_details()].count("DELEGATE")
d = it.get_input_details()[0]
n = int(np.prod(d["shape"]))
x = ((np.arange(n) * 7919) % 256 / 128.0 - 1.0).reshape(d["shape"]).astype(d["dtype"])
for _ in range(10):
    it.set_tensor(d["index"], x)
    it.invoke()
times = []
for _ in range(runs):
    t0 = time.perf_counter()
    it.set_tensor(d["index"], x)
    it.invoke()
    times.append((time.perf_counter() - t0) * 1e3)
print(json.dumps({
    "median_ms": statistics.median(times),
    "partitions": partitions,
    "model_rss_mb": (status_kb("VmHWM") - base_kb) / 1024.0,
    "process_peak_rss_mb": status_kb("VmHWM") / 1024.0,
}))
