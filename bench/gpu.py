"""The device check for a lent GPU: correctness of the ``cuda`` target, then
its speed against torch on the same GPU, in one run of under eight minutes.

    PYTHONPATH=. python3 bench/gpu.py [--budget 420] [--out DIR]
    python bench/gpu.py --dry-run     # steps 2 and 3 on the CPU with target c

1. Environment: GPU, CuPy, torch; the two ceilings (device-to-device copy
   bandwidth, float32 GEMM rate through CuPy).
2. Conformance on ``cuda``: every covered ONNX node case (in name order, until
   a third of the budget is spent) through ``SingaBackend`` on a CUDA device,
   against the cases' stored outputs; failures listed with their error.
3. End-to-end models on ``cuda`` (the torchvision graphs of tests/e2e/models
   with their deterministic weights) against onnxruntime on the CPU:
   ||out - ref|| / ||ref||, poisoned arena first so that unwritten outputs show.
4. Timing at batch 1 and 32, median of CUDA-event-timed runs after warm-up:
   singa ``cuda``; torch eager; torch eager replayed as a CUDA graph;
   ``torch.compile``.  Models: ResNet18 and MobileNetV2 (torchvision when
   installed there, else the same architectures defined below).

Prints a table last; writes everything to ``OUT/gpu.json`` (``$OUT`` on the
device machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import traceback

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e", "models"))

T0 = time.perf_counter()
DEVICE, TARGET = "CUDA", "cuda"  # --dry-run: "CPU", "c" (checks this script without a GPU)


def elapsed() -> float:
    return time.perf_counter() - T0


def log(*a):
    print(f"[{elapsed():6.1f}s]", *a, flush=True)


# ---------------------------------------------------------------- 1. environment

def environment() -> dict:
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    env = {"gpu": props["name"].decode() if isinstance(props["name"], bytes) else props["name"],
           "cupy": cupy.__version__, "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion()}
    try:
        import torch

        env["torch"] = torch.__version__
    except Exception as e:
        env["torch"] = f"missing ({e})"
    n = 1 << 28  # 1 GiB of float32
    a = cupy.random.random(n // 4, dtype=cupy.float32)
    b = cupy.empty_like(a)
    env["copy_GBps"] = 2 * a.nbytes / _event_time(lambda: b.__setitem__(Ellipsis, a)) / 1e9
    m = cupy.random.random((8192, 8192), dtype=cupy.float32)
    env["sgemm_TFLOPs"] = 2 * 8192 ** 3 / _event_time(lambda: m @ m) / 1e12
    return env


def _event_time(fn, warm: int = 3, reps: int = 20) -> float:
    """Median seconds of ``fn`` measured with CUDA events."""
    import cupy

    for _ in range(warm):
        fn()
    cupy.cuda.Device().synchronize()
    ts = []
    for _ in range(reps):
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        ts.append(cupy.cuda.get_elapsed_time(start, stop) / 1e3)
    return statistics.median(ts)


# ---------------------------------------------------------------- 2. conformance

def conformance(budget_s: float) -> dict:
    from onnx.backend.test.runner import Runner

    from singa.sonnx import SingaBackend
    from singa.tensor import to_numpy
    from tests.conformance._cases import by_coverage, load_node_cases, normalize

    covered, _ = by_coverage(load_node_cases())
    passed, failed, start = 0, {}, elapsed()
    for case in covered:
        if elapsed() - start > budget_s:
            break
        try:
            rep = SingaBackend.prepare(case.model, DEVICE, target=TARGET)
            for inputs, expected in case.data_sets:
                got = rep.run([normalize(x) for x in inputs])
                Runner.assert_similar_outputs([normalize(x) for x in expected],
                                              [to_numpy(t) for t in got],
                                              rtol=case.rtol, atol=case.atol,
                                              model_dir=case.name)
            passed += 1
        except Exception as e:
            failed[case.name] = f"{type(e).__name__}: {str(e)[:300]}"
    return {"covered": len(covered), "run": passed + len(failed), "passed": passed,
            "failed": failed}


# ---------------------------------------------------------------- 3. e2e models

def e2e() -> dict:
    import onnxruntime as ort
    import weights

    from singa import sonnx
    from singa.tensor import to_numpy

    out = {}
    for name in weights.MODELS:
        try:
            m = weights.load(name)
            x = weights.make_input(2, seed=7)
            sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
            ref = sess.run(None, {m.graph.input[0].name: x})[0].astype(np.float64)
            rep = sonnx.prepare(m, DEVICE, target=TARGET, fold_params=True)
            got = [np.asarray(to_numpy(rep.run([x])[0]), np.float64)]
            plan = next(iter(rep.executor._cache.values())).plan
            for _ in range(2):  # every arena poisoned (NaN): unwritten results show
                for arena in list(plan.pool._free) if plan.pool else []:
                    arena.memory.fill(255)
                got.append(np.asarray(to_numpy(rep.run([x])[0]), np.float64))
            t = plan.traffic()
            out[name] = {"rel_err": max(float(np.linalg.norm(g - ref) / np.linalg.norm(ref))
                                        for g in got),
                         "finite": all(bool(np.isfinite(g).all()) for g in got),
                         "steps": t["launches"], "kernels": t["kernel_launches"],
                         "op_by_op": t["op_by_op_launches"], "segments": len(plan.segments),
                         "MB": t["bytes"] / 1e6, "op_by_op_MB": t["op_by_op_bytes"] / 1e6}
        except Exception as e:
            out[name] = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}
    return out


# ---------------------------------------------------------------- 4. timing

def torch_models():
    """name -> torch module constructor: torchvision's where it is installed,
    else the same architectures written out here."""
    import torch.nn as nn

    try:
        import torchvision

        return {"resnet18": torchvision.models.resnet18,
                "mobilenet_v2": torchvision.models.mobilenet_v2}
    except Exception:
        pass

    def bn_act(cin, cout, k, s, groups=1, act=nn.ReLU):
        return [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False),
                nn.BatchNorm2d(cout)] + ([act(inplace=True)] if act else [])

    class Basic(nn.Module):
        def __init__(self, cin, cout, s):
            super().__init__()
            self.body = nn.Sequential(*bn_act(cin, cout, 3, s), *bn_act(cout, cout, 3, 1,
                                                                          act=None))
            self.down = (nn.Sequential(*bn_act(cin, cout, 1, s, act=None))
                         if s != 1 or cin != cout else nn.Identity())

        def forward(self, x):
            return (self.body(x) + self.down(x)).relu()

    def resnet18():
        layers, cin = bn_act(3, 64, 7, 2) + [nn.MaxPool2d(3, 2, 1)], 64
        for cout, s in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [Basic(cin, cout, s), Basic(cout, cout, 1)]
            cin = cout
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000))

    class Inverted(nn.Module):
        def __init__(self, cin, cout, s, t):
            super().__init__()
            h = cin * t
            ex = bn_act(cin, h, 1, 1, act=nn.ReLU6) if t != 1 else []
            self.body = nn.Sequential(*ex, *bn_act(h, h, 3, s, groups=h, act=nn.ReLU6),
                                      *bn_act(h, cout, 1, 1, act=None))
            self.res = s == 1 and cin == cout

        def forward(self, x):
            return x + self.body(x) if self.res else self.body(x)

    def mobilenet_v2():
        layers, cin = bn_act(3, 32, 3, 2, act=nn.ReLU6), 32
        for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                           (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
            for i in range(n):
                layers.append(Inverted(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += bn_act(cin, 1280, 1, 1, act=nn.ReLU6)
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                             nn.Linear(1280, 1000))

    return {"resnet18": resnet18, "mobilenet_v2": mobilenet_v2}


def time_singa(name: str, batch: int) -> float:
    import cupy
    import weights

    from singa import sonnx

    rep = sonnx.prepare(weights.load(name), DEVICE, target=TARGET, fold_params=True)
    x = cupy.asarray(weights.make_input(batch, seed=1))
    return _event_time(lambda: rep.run([x]))


def time_torch(ctor, batch: int) -> dict:
    import torch

    model = ctor().cuda().eval()
    x = torch.randn(batch, 3, 224, 224, device="cuda")
    res = {}

    def ev(fn):
        for _ in range(5):
            fn()
        torch.cuda.synchronize()
        ts = []
        for _ in range(30):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            ts.append(a.elapsed_time(b) / 1e3)
        return statistics.median(ts)

    with torch.inference_mode():
        res["eager"] = ev(lambda: model(x))
        try:
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    model(x)
            torch.cuda.current_stream().wait_stream(s)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                model(x)
            res["cuda_graph"] = ev(g.replay)
        except Exception as e:
            res["cuda_graph_error"] = f"{type(e).__name__}: {e}"
        try:
            compiled = torch.compile(model)
            compiled(x)
            res["compile"] = ev(lambda: compiled(x))
        except Exception as e:
            res["compile_error"] = f"{type(e).__name__}: {e}"
    return res


def timing(budget_s: float) -> list:
    rows, start = [], elapsed()
    ctors = torch_models()
    for name in ("resnet18", "mobilenet_v2"):
        for batch in (1, 32):
            if elapsed() - start > budget_s:
                rows.append({"model": name, "batch": batch, "skipped": "time budget"})
                continue
            row = {"model": name, "batch": batch}
            try:
                row["singa_cuda"] = time_singa(name, batch)
            except Exception as e:
                row["singa_error"] = f"{type(e).__name__}: {e}"
            try:
                row.update(time_torch(ctors[name], batch))
            except Exception as e:
                row["torch_error"] = f"{type(e).__name__}: {e}"
            rows.append(row)
            log("timed", row)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=420.0, help="seconds for the whole check")
    p.add_argument("--out", default=os.environ.get("OUT", "."))
    p.add_argument("--dry-run", action="store_true",
                   help="conformance and models on the CPU with target c, no timing")
    args = p.parse_args(argv)
    report = {}
    if args.dry_run:
        global DEVICE, TARGET
        DEVICE, TARGET = "CPU", "c"
        report["conformance"] = conformance(args.budget / 3)
        report["e2e"] = e2e()
        report["timing"] = []
        return _summary(args, report)
    try:
        report["env"] = environment()
        log("env", report["env"])
    except Exception as e:
        report["env"] = {"error": f"{type(e).__name__}: {e}"}
        log("no usable GPU:", report["env"])
        _write(args.out, report)
        return 1
    report["conformance"] = conformance(args.budget / 3)
    c = report["conformance"]
    log(f"conformance on cuda: {c['passed']}/{c['run']} passed ({c['covered']} covered)")
    report["e2e"] = e2e()
    log("e2e", {k: {kk: v.get(kk) for kk in ("rel_err", "error")} for k, v in report["e2e"].items()})
    report["timing"] = timing(max(30.0, args.budget - elapsed()))
    return _summary(args, report)


def _summary(args, report) -> int:
    _write(args.out, report)
    c = report["conformance"]
    print("\nconformance: {passed}/{run} ({covered} covered); failures: {n}".format(
        n=len(c["failed"]), **c))
    for name, failure in list(c["failed"].items())[:15]:
        print(f"  {name}: {failure[:150]}")
    print(f"\n{'model':<20}{'rel_err':>10}{'launch':>7}{'kern':>6}{'op-by-op':>9}{'segs':>6}"
          f"{'MB':>8}{'op-by-op MB':>12}")
    for name, r in report["e2e"].items():
        if "error" in r:
            print(f"{name:<20} ERROR {r['error'][:100]}")
        else:
            print(f"{name:<20}{r['rel_err']:10.1e}{r['steps']:7d}{r['kernels']:6d}"
                  f"{r['op_by_op']:9d}{r['segments']:6d}{r['MB']:8.1f}{r['op_by_op_MB']:12.1f}")
    cols = ("singa_cuda", "eager", "cuda_graph", "compile")
    print(f"\n{'model':<14}{'batch':>6}" + "".join(f"{c + ' ms':>15}" for c in cols))
    for r in report["timing"]:
        print(f"{r['model']:<14}{r['batch']:>6}" + "".join(
            f"{r[c] * 1e3:15.3f}" if c in r else f"{'-':>15}" for c in cols))
        for k in ("singa_error", "torch_error", "cuda_graph_error", "compile_error", "skipped"):
            if k in r:
                print(f"   {k}: {str(r[k])[:160]}")
    print(f"\ntotal {elapsed():.0f} s")
    return 0


def _write(folder: str, report: dict) -> None:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "gpu.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, default=str)


if __name__ == "__main__":
    sys.exit(main())
