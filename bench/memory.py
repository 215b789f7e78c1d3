"""Peak memory of ``prepare`` + ``run`` for singa and onnxruntime, per model and batch.

Each measurement runs in a fresh subprocess (peak RSS only grows, so one process
per runtime, model and batch): it loads the model, prepares it, runs it twice
on random inputs (``bench/infer.py``'s models and inputs) and reports its peak
RSS together with the RSS it started with after the imports, so the runtime's
own footprint (model, plan, buffers) is the difference.  The peak is reset
there (``/proc/self/clear_refs``; ``ru_maxrss`` where that is missing), so the
transient memory of making the model's weights does not hide a smaller
footprint.  Printed side
by side: singa on each of ``--targets`` (default its two CPU targets, ``c``
and ``numpy``), onnxruntime, and the ratio singa / onnxruntime of that footprint.

    python bench/memory.py [--batch 1 64] [--targets c numpy] [--models tv_resnet18 ...]
                           [--json F]
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
name, batch, runtime, target = {name!r}, {batch}, {runtime!r}, {target!r}
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
def rss(field):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(field + ":"))
try:  # forget the peak so far: from here on VmHWM is this runtime's own
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base, peak_of = rss("VmRSS"), lambda: rss("VmHWM")
except OSError:
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_of = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if runtime == "singa":
    rep = sonnx.prepare(data, target=target)
    xs = list(feeds.values())
    for _ in range(2):
        rep.run(xs)
else:
    so = ort.SessionOptions(); so.log_severity_level = 3
    sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    for _ in range(2):
        sess.run(None, feeds)
peak = peak_of()
print(json.dumps({{"base_mb": base / 1024, "peak_mb": peak / 1024}}))
"""


def measure(name: str, batch: int, runtime: str, target=None, timeout: int = 900) -> dict:
    """Footprint of one runtime ('singa' on ``target``, or 'ort') in a fresh process."""
    code = CHILD.format(here=HERE, root=os.path.dirname(HERE), name=name, batch=batch,
                        runtime=runtime, target=target)
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
    ap.add_argument("--targets", nargs="*", default=["c", "numpy"], choices=["c", "numpy"],
                    help="singa's code-generation targets to measure")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    rows = []
    head = "".join(f" {t + ' MB':>9s} {'ratio':>6s}" for t in args.targets)
    print(f"{'model':24s} {'batch':>5s}{head} {'ort MB':>9s}"
          "   (peak RSS minus RSS after imports; ratio: singa / onnxruntime)")
    for name in args.models:
        for batch in args.batch:
            o = measure(name, batch, "ort")
            row = {"model": name, "batch": batch, "ort": o}
            rows.append(row)
            line = f"{name:24s} {batch:5d}"
            for t in args.targets:
                s = row[t] = measure(name, batch, "singa", t)
                if "error" in s or "error" in o:
                    line += f"  error: {s.get('error') or o.get('error')}"
                    continue
                ds, do = s["peak_mb"] - s["base_mb"], o["peak_mb"] - o["base_mb"]
                row[f"ratio_{t}"] = ds / do if do > 0 else None
                line += f" {ds:9.0f} {ds / max(do, 1e-9):6.2f}"
            if "error" not in o:
                line += f" {o['peak_mb'] - o['base_mb']:9.0f}"
            print(line, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
