"""Inference time of ``SingaRep.run`` vs onnxruntime (CPU), per model.

Models: the nine light zoo models shipped in the onnx wheel, the torchvision
graphs of ``tests/e2e/models`` and the graphs of ``bench/models`` (EfficientNet-B0,
Tiny YOLOv2, FER+, an ArcFace-style IResNet-18, and BERT, RoBERTa and GPT-2 at 2
layers of base size, sequence 128; made by ``bench/models/make_zoo.py``).  The light models store every
weight as a ``ConstantOfShape`` of one value; here those become seeded random
initializers (``tests/e2e/models/light.py``, as in
``tests/e2e/test_light_models.py``), so both runtimes see ordinary weights.
The torchvision graphs get their weights from ``tests/e2e/models/weights.py``.

For each model and the same random input: ``prepare`` time (import; the plan
is built on the first run, reported as ``first``), the median of ``--runs``
timed runs after one warm-up for singa and for onnxruntime, taking turns in the
same process (see ``alternate``) so that both see the same machine, and the ratio
singa / onnxruntime, with the round trip of a cache line between the first two
CPUs before and after the timed runs (``placement.py``: on this project's VM,
300 ns or more means its vCPUs share no cache, and every ratio moves).
``--threads N`` limits both to N threads (BLAS, OpenMP,
onnxruntime's intra-op pool); default: the machine's.  ``--target`` picks
singa's code-generation target (default: its default for the CPU).

    python bench/infer.py [--runs 5] [--batch 1] [--threads 1] [--target c] [--block 3]
                          [--models resnet50 tv_resnet18 zoo_bert ...] [--json F]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time


def _threads_from_argv():
    # thread counts must be in the environment before NumPy's BLAS and OpenMP load
    argv = sys.argv
    for i, a in enumerate(argv):
        n = a.split("=", 1)[1] if a.startswith("--threads=") else (
            argv[i + 1] if a == "--threads" and i + 1 < len(argv) else None)
        if n:
            for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
                os.environ[var] = n


_threads_from_argv()

import numpy as np  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

import onnx  # noqa: E402

from singa import sonnx  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import placement  # noqa: E402

LIGHT = ["bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50",
         "shufflenet", "squeezenet", "vgg19", "zfnet512"]
TV_DIR = os.path.join(ROOT, "tests", "e2e", "models")


def _load_module(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def light_model(name: str) -> onnx.ModelProto:
    """A light zoo model with its ConstantOfShape weights made seeded random initializers."""
    light = _load_module(os.path.join(TV_DIR, "light.py"), "bench_light")
    return light.randomized(onnx.load(light.path(name)))


def torchvision_models() -> dict:
    """name -> loader of the torchvision graphs with their deterministic weights."""
    path = os.path.join(TV_DIR, "weights.py")
    if not os.path.exists(path):
        return {}
    mod = _load_module(path, "bench_tv_weights")
    return {f"tv_{n}": (lambda n=n: mod.load(n)) for n in mod.MODELS
            if os.path.exists(os.path.join(TV_DIR, f"{n}.onnx"))}


ZOO_DIR = os.path.join(ROOT, "bench", "models")
ZOO = ["efficientnet_b0", "bert", "roberta", "gpt2", "tiny_yolov2", "fer_plus", "arcface"]


def zoo_models() -> dict:
    """name -> loader of the bench/models graphs with deterministic weights."""
    path = os.path.join(TV_DIR, "weights.py")
    if not os.path.exists(path):
        return {}
    mod = _load_module(path, "bench_tv_weights")
    return {f"zoo_{n}": (lambda n=n: mod.load(os.path.join(ZOO_DIR, f"{n}.onnx"))) for n in ZOO
            if os.path.exists(os.path.join(ZOO_DIR, f"{n}.onnx"))}


def inputs_for(m: onnx.ModelProto, batch: int, seed: int = 0) -> dict:
    """Random inputs: floats in [0, 1); token ids in [2, 8192); masks of ones."""
    rng = np.random.default_rng(seed)
    inits = {t.name for t in m.graph.initializer}
    feeds = {}
    for x in m.graph.input:
        if x.name in inits:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else 1 for d in x.type.tensor_type.shape.dim]
        if dims:
            dims[0] = batch
        dt = onnx.helper.tensor_dtype_to_np_dtype(x.type.tensor_type.elem_type)
        if dt.kind == "f":
            feeds[x.name] = rng.random(tuple(dims)).astype(dt)
        elif "mask" in x.name:
            feeds[x.name] = np.ones(tuple(dims), dt)
        else:
            feeds[x.name] = rng.integers(2, 8192, tuple(dims)).astype(dt)
    return feeds


def alternate(fns, runs: int, block: int = 3, settle: float = 0.1) -> list:
    """Median seconds of each of ``fns``, taking turns: each turn waits ``settle``
    seconds, runs its function once untimed, then ``block`` timed runs, until each
    has ``runs`` timings.

    The pause and the untimed run absorb what the other runtime left behind: both
    keep worker threads spinning after a run (onnxruntime's intra-op pool for about
    20 ms on this machine, OpenMP's for tens of microseconds), and on a small
    machine a run that starts while they spin shares its cores with them (measured
    on SqueezeNet: singa 2.3x slower right after an onnxruntime run, onnxruntime
    1.4x slower right after a singa run).  The untimed run after the pause brings
    caches and clocks back up.  ``block=0`` is plain alternation: no pause, no
    untimed run, one timed run per turn."""
    for fn in fns:
        fn()
    ts = [[] for _ in fns]
    while len(ts[0]) < runs:
        for k, fn in enumerate(fns):
            if block:
                time.sleep(settle)
                fn()
            for _ in range(max(block, 1)):
                t0 = time.perf_counter()
                fn()
                ts[k].append(time.perf_counter() - t0)
    return [statistics.median(t[:runs]) for t in ts]


def bench(name: str, m: onnx.ModelProto, runs: int, batch: int, threads=None,
          target=None, block: int = 3) -> dict:
    import onnxruntime as ort

    feeds = inputs_for(m, batch)
    data = m.SerializeToString()
    t0 = time.perf_counter()
    rep = sonnx.prepare(data, target=target)
    t_prepare = time.perf_counter() - t0
    xs = list(feeds.values())
    t0 = time.perf_counter()
    out = rep.run(xs)
    t_first = time.perf_counter() - t0

    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    t0 = time.perf_counter()
    sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    t_ort_session = time.perf_counter() - t0
    ref = sess.run(None, feeds)
    time.sleep(0.05)  # onnxruntime's workers spin a while after a run: not during the probe
    rt_before = placement.round_trip_ns()
    t_singa, t_ort = alternate([lambda: rep.run(xs), lambda: sess.run(None, feeds)], runs,
                               block)
    time.sleep(0.05)
    rt_after = placement.round_trip_ns()
    err = max(float(np.max(np.abs(np.asarray(o.data, np.float64) - r)) / max(np.max(np.abs(r)), 1e-30))
              for o, r in zip(out, ref))
    return {"model": name, "batch": batch, "prepare_s": t_prepare, "first_run_s": t_first,
            "singa_s": t_singa, "ort_session_s": t_ort_session, "ort_s": t_ort,
            "ratio": t_singa / t_ort, "rel_err": err,
            "round_trip_ns": [rt_before, rt_after]}


def rep_target(target) -> str:
    from singa import device
    from singa.codegen.target import resolve

    return resolve(target, device.get_default_device())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, help="threads for both (default: the machine's)")
    p.add_argument("--block", type=int, default=3,
                   help="timed runs per turn after one untimed run (0: plain alternation)")
    p.add_argument("--target", choices=["numpy", "c"], help="singa's target")
    p.add_argument("--models", nargs="*", help="subset (light names, tv_<name>, zoo_<name>)")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)

    loaders = {n: (lambda n=n: light_model(n)) for n in LIGHT}
    loaders.update(torchvision_models())
    loaders.update(zoo_models())
    names = args.models or list(loaders)
    unknown = [n for n in names if n not in loaders]
    if unknown:
        p.error(f"unknown models {unknown}; known: {sorted(loaders)}")
    head = (f"{'model':<24}{'prepare':>9}{'first':>9}{'singa':>9}{'ort':>9}{'ratio':>8}"
            f"{'rel_err':>10}{'vcpu rt ns':>13}")
    print(f"batch {args.batch}, median of {args.runs} runs taken in turns of {args.block} "
          f"after an untimed one, seconds; threads "
          f"{args.threads or 'default'}; singa target {rep_target(args.target)}")
    print(head)
    results = []
    for n in names:
        try:
            r = bench(n, loaders[n](), args.runs, args.batch, args.threads, args.target,
                      args.block)
        except Exception as e:  # e.g. a graph that reshapes to a fixed batch of 1
            print(f"{n:<24} skipped: {type(e).__name__}: {str(e).splitlines()[0][:110]}",
                  flush=True)
            continue
        results.append(r)
        rt = "/".join("-" if v is None else f"{v:.0f}" for v in r["round_trip_ns"])
        print(f"{n:<24}{r['prepare_s']:9.3f}{r['first_run_s']:9.3f}{r['singa_s']:9.3f}"
              f"{r['ort_s']:9.3f}{r['ratio']:8.2f}{r['rel_err']:10.1e}{rt:>13}", flush=True)
    ratios = [r["ratio"] for r in results]
    if ratios:
        geo = float(np.exp(np.mean(np.log(ratios))))
        print(f"geometric mean ratio singa/ort: {geo:.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
