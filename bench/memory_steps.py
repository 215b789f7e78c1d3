"""Where a plan's memory goes: NumPy's allocations per step of one run.

Prepares one of ``bench/infer.py``'s models on a target, runs it once (plans,
caches), then runs it again with tracemalloc on, which counts every NumPy
array (NumPy reports its allocations to it) but not the C target's arena.
Prints the overall peak and the steps with the highest peaks: what was live
before the step, after it, its peak, and its transient (the peak above both:
temporaries of the step itself), in MiB above the live memory at the start of
the run.  ``bench/memory.py`` measures the whole process's RSS instead.

    python bench/memory_steps.py zoo_bert [--batch 64] [--target numpy] [--top 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

MB = 1 << 20


def profile(name: str, batch: int, target: str) -> list:
    """(step index, op, live before, live after, peak) in bytes for each step of
    the second run of ``name`` at ``batch`` on ``target``."""
    import infer
    from singa import sonnx
    from singa.runtime import executor

    loaders = {n: (lambda n=n: infer.light_model(n)) for n in infer.LIGHT}
    loaders.update(infer.torchvision_models())
    loaders.update(infer.zoo_models())
    m = loaders[name]()
    xs = list(infer.inputs_for(m, batch).values())
    rep = sonnx.prepare(m.SerializeToString(), target=target)
    del m
    rep.run(xs)
    rows = []
    step = executor._step

    def traced(plan, s, *args):
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        step(plan, s, *args)
        after, peak = tracemalloc.get_traced_memory()
        rows.append((s.index, s.op, before, after, peak))

    executor._step = traced
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        rep.run(xs)
    finally:
        tracemalloc.stop()
        executor._step = step
    return [(i, op, b - base, a - base, p - base) for i, op, b, a, p in rows]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--target", default="numpy", choices=["numpy", "c"])
    ap.add_argument("--top", type=int, default=20, help="steps to list, by peak")
    args = ap.parse_args(argv)
    rows = profile(args.model, args.batch, args.target)
    if not rows:
        print("no steps ran")
        return 0
    print(f"{args.model} batch {args.batch} on {args.target}: peak "
          f"{max(r[4] for r in rows) / MB:.0f} MiB of NumPy arrays over {len(rows)} steps")
    print(f"{'step':>5s} {'op':40s} {'before':>8s} {'after':>8s} {'peak':>8s} {'transient':>9s}")
    for i, op, b, a, p in sorted(sorted(rows, key=lambda r: -r[4])[:args.top]):
        print(f"{i:5d} {op[:40]:40s} {b / MB:8.0f} {a / MB:8.0f} {p / MB:8.0f} "
              f"{(p - max(a, b)) / MB:9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
