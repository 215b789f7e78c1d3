"""Peak memory of ``prepare`` + ``run`` for singa and onnxruntime, per model and batch.

Each measurement runs in a fresh subprocess (peak RSS only grows, so one process
per runtime, model and batch): it loads the model, prepares it, runs it twice
on random inputs (``bench/infer.py``'s models and inputs) and reports
``ru_maxrss`` together with the RSS it started with after the imports, so the
runtime's own footprint (model, plan, buffers) is the difference.  Printed side
by side with the ratio singa / onnxruntime of that footprint.

    python bench/memory.py [--batch 1 64] [--models tv_resnet18 zoo_bert ...] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = ["tv_resnet18", "tv_mobilenet_v2", "tv_densenet121", "zoo_efficientnet_b0",
           "zoo_bert", "zoo_gpt2", "zoo_tiny_yolov2", "zoo_arcface"]

CHILD = r"""
import json, resource, sys
sys.path.insert(0, {here!r}); sys.path.insert(0, {root!r})
import numpy as np
import infer
name, batch, runtime = {name!r}, {batch}, {runtime!r}
loaders = {{n: (lambda n=n: infer.light_model(n)) for n in infer.LIGHT}}
loaders.update(infer.torchvision_models()); loaders.update(infer.zoo_models())
m = loaders[name]()
feeds = infer.inputs_for(m, batch)
data = m.SerializeToString()
del m
if runtime == "singa":
    from singa import sonnx
    import singa.codegen.cpu  # noqa: F401 - imported by prepare anyway; not the model's
else:
    import onnxruntime as ort
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if runtime == "singa":
    rep = sonnx.prepare(data)
    xs = list(feeds.values())
    for _ in range(2):
        rep.run(xs)
else:
    so = ort.SessionOptions(); so.log_severity_level = 3
    sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    for _ in range(2):
        sess.run(None, feeds)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"base_mb": base / 1024, "peak_mb": peak / 1024}}))
"""


def measure(name: str, batch: int, runtime: str, timeout: int = 900) -> dict:
    code = CHILD.format(here=HERE, root=os.path.dirname(HERE), name=name, batch=batch,
                        runtime=runtime)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": last[:160]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, nargs="*", default=[1, 64])
    ap.add_argument("--models", nargs="*", default=DEFAULT)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    rows = []
    print(f"{'model':24s} {'batch':>5s} {'singa MB':>9s} {'ort MB':>9s} {'ratio':>6s}"
          "   (peak RSS minus RSS after imports)")
    for name in args.models:
        for batch in args.batch:
            s, o = measure(name, batch, "singa"), measure(name, batch, "ort")
            row = {"model": name, "batch": batch, "singa": s, "ort": o}
            rows.append(row)
            if "error" in s or "error" in o:
                print(f"{name:24s} {batch:5d}  error: {s.get('error') or o.get('error')}")
                continue
            ds, do = s["peak_mb"] - s["base_mb"], o["peak_mb"] - o["base_mb"]
            row["ratio"] = ds / do if do > 0 else None
            print(f"{name:24s} {batch:5d} {ds:9.0f} {do:9.0f} {ds / max(do, 1e-9):6.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
