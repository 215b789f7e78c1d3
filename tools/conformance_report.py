"""Write ``docs/conformance.md``: ONNX conformance of singa, suite by suite.

Runs every case of onnx's backend test suites through ``SingaBackend`` on the
``numpy`` and ``c`` targets, exactly as the conformance tests do
(``tests/conformance/_cases.py``: ``by_coverage``, ``check_case``), and the same
cases through onnxruntime and ``onnx.reference.ReferenceEvaluator`` for
comparison.  Suites: ``node`` (``onnx.backend.test.case.node``), ``model`` (the
in-memory cases of ``onnx.backend.test.case.model``), the data-folder kinds
``simple``, ``pytorch-converted``, ``pytorch-operator`` and ``real`` (the light
zoo models of ``data/light``, with the inputs onnx's runner generates).

A failing singa case names its reason (exception and first line, or the largest
error); when onnxruntime misses the stored output as well and singa agrees with
onnxruntime, the case is counted as "stored output does not match the model"
instead.  Not-covered cases are grouped by ``not_covered_reason``.

    .venv/bin/python tools/conformance_report.py              # -> docs/conformance.md
    .venv/bin/python tools/conformance_report.py --suites node --out /tmp/c.md
"""

from __future__ import annotations

import argparse
import collections
import datetime
import os
import platform
import subprocess
import sys
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import onnx  # noqa: E402
import onnx.reference  # noqa: E402
import onnxruntime as ort  # noqa: E402

from singa.sonnx import SingaBackend  # noqa: E402
from tests.conformance import _cases  # noqa: E402

SUITES = ("node", "model", *_cases.DATA_SUITES, "real")
RUNTIMES = ("onnxruntime", "onnx.reference")
PASS = "passed"

ABOUT = {
    "node": "`onnx.backend.test.case.node.collect_testcases()`, one op per case (and its "
            "`_expanded` function-body form).",
    "model": "the in-memory cases of `onnx.backend.test.case.model`: the `simple` folder's "
             "cases as ModelProtos, plus three `test_mod_fmod_0_signed_zero_*`.",
    "simple": "`onnx/backend/test/data/simple`: small hand-made models, stored data sets.",
    "pytorch-converted": "`onnx/backend/test/data/pytorch-converted`: torch.nn modules "
                         "exported by PyTorch (opset 6 to 9).",
    "pytorch-operator": "`onnx/backend/test/data/pytorch-operator`: torch operators exported "
                        "by PyTorch (opset 6 to 9).",
    "real": "the light zoo models of `onnx/backend/test/data/light` (weights are "
            "ConstantOfShape of one value), inputs as onnx's runner generates them "
            "(`generate_dummy_data(seed=0, random=False)`), expected outputs the stored "
            "`light_<name>_output_<i>.pb`.",
}
STORED = ("stored output does not match the model; onnxruntime misses it too and singa "
          "matches onnxruntime")


def load_suite(name: str) -> list:
    """The cases of suite ``name`` (each with its model and data sets)."""
    if name == "node":
        return _cases.load_node_cases()
    if name == "model":
        return [c for c in _cases.load_model_cases() if c.model is not None]
    if name == "real":
        return _cases.load_light_cases()
    return _cases.load_data_cases(name)


def reason(e: BaseException) -> str:
    """One line for a failure: the exception and its first line, or for a
    mismatch the line(s) with the largest differences."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    if isinstance(e, AssertionError):
        # NumPy's message: a headline, counts and largest differences, then the arrays.
        head = []
        for ln in lines:
            if ln.startswith(("ACTUAL:", "DESIRED:", "x:", "y:")):
                if len(ln) < 60 and not ln.endswith(","):  # a shape, a dtype, a few values
                    head.append(ln)
                continue
            if not ln.startswith(("Not equal", "Mismatch at index", "[", "Arrays are not",
                                      "First ")):
                head.append(ln.rstrip(":"))
        if head:
            return ("mismatch: " + "; ".join(head))[:300]
    return f"{type(e).__name__}: {lines[0] if lines else ''}"[:200]


def _quiet(fn, *a) -> str:
    """PASS when ``fn(*a)`` returns, else the failure's reason."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            fn(*a)
            return PASS
        except Exception as e:  # noqa: BLE001 - every failure is a row of the report
            return reason(e)


def run_singa(case, target: str) -> str:
    """PASS or the reason, as ``tests/conformance`` runs ``case`` on ``target``."""
    return _quiet(_cases.check_case, case, SingaBackend, None, target)


def _feeds(model, inputs) -> dict:
    inits = {t.name for t in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in inits]
    return dict(zip(names, [_cases.normalize(x) for x in inputs]))


def _ort_outputs(case):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 4
    sess = ort.InferenceSession(case.model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    return [sess.run(None, _feeds(case.model, ins)) for ins, _ in case.data_sets]


def _ref_outputs(case):
    ref = onnx.reference.ReferenceEvaluator(case.model)
    return [ref.run(None, _feeds(case.model, ins)) for ins, _ in case.data_sets]


OUTPUTS = {"onnxruntime": _ort_outputs, "onnx.reference": _ref_outputs}


def run_other(case, runtime: str):
    """(PASS or reason, its outputs per data set or None) for ``runtime``."""
    box = []

    def go():
        box.append(OUTPUTS[runtime](case))
        for got, (_, expected) in zip(box[0], case.data_sets):
            _cases.compare_outputs(case, list(got), expected)

    return _quiet(go), (box[0] if box else None)


def _agrees(case, ours, theirs) -> bool:
    """Whether singa's outputs (``ours``, per data set) match ``theirs`` at the
    case's tolerances."""
    def go():
        for a, b in zip(ours, theirs):
            _cases.compare_outputs(case, list(a), list(b))
    return _quiet(go) == PASS


def singa_outputs(case, target: str) -> list:
    """SingaBackend's outputs (arrays) for each of ``case``'s data sets."""
    rep = SingaBackend.prepare(case.model, "CPU", target=target)
    return [[_cases.as_numpy(t) for t in rep.run([_cases.normalize(x) for x in ins])]
            for ins, _ in case.data_sets]


def run_suite(name: str, runtimes=RUNTIMES) -> dict:
    """Every case of suite ``name``: coverage, singa per target, the other runtimes."""
    t0 = time.time()
    cases = load_suite(name)
    covered, not_covered = _cases.by_coverage(cases)
    res = {"cases": len(cases), "not_covered": not_covered, "singa": {}, "other": {},
           "stored": {}}
    for target in _cases.TARGETS:
        res["singa"][target] = {c.name: run_singa(c, target) for c in covered}
    other_out = {}
    for rt in runtimes:
        res["other"][rt] = {}
        for c in cases:
            verdict, outs = run_other(c, rt)
            res["other"][rt][c.name] = verdict
            if rt == "onnxruntime":
                other_out[c.name] = outs
    # A mismatch that onnxruntime shares, with singa agreeing with onnxruntime, is
    # the stored output's, not singa's.
    for c in covered:
        ort_v = res["other"].get("onnxruntime", {}).get(c.name)
        for target in _cases.TARGETS:
            v = res["singa"][target][c.name]
            if (v.startswith("mismatch") and ort_v and ort_v.startswith("mismatch")
                    and other_out.get(c.name) is not None):
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    ours = singa_outputs(c, target)
                if _agrees(c, ours, other_out[c.name]):
                    res["singa"][target][c.name] = STORED
                    res["stored"][c.name] = ort_v
    res["non_tensor"] = {c.name: kinds for c in cases if (kinds := _non_tensor(c.model))}
    res["seconds"] = time.time() - t0
    return res


def _non_tensor(model) -> str:
    """The non-tensor kinds among the graph's inputs and outputs ('' when none)."""
    kinds = {vi.type.WhichOneof("value") for vi in [*model.graph.input, *model.graph.output]}
    return ", ".join(sorted(k.replace("_type", "") for k in kinds - {"tensor_type"}))


# ------------------------------------------------------------------ markdown
def _count(verdicts: dict, covered_only=None) -> int:
    return sum(v == PASS for k, v in verdicts.items()
               if covered_only is None or k in covered_only)


def _failures(res) -> list[tuple[str, str, str]]:
    """(case, targets, reason) of singa, one row when both targets agree."""
    rows = []
    names = sorted({n for t in res["singa"].values() for n, v in t.items() if v != PASS})
    for n in names:
        by = collections.defaultdict(list)
        for target, verdicts in res["singa"].items():
            if verdicts[n] != PASS:
                by[verdicts[n]].append(target)
        rows += [(n, ", ".join(ts), why) for why, ts in by.items()]
    return rows


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render(results: dict, seconds: float) -> str:
    """``docs/conformance.md`` from the suites' results."""
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "singa"],
                               capture_output=True, text=True).stdout.strip()
        rev += " (with uncommitted changes in singa/)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        rev = "unknown"
    cmd = " ".join([".venv/bin/python", "tools/conformance_report.py", *sys.argv[1:]])
    out = [
        "# ONNX conformance",
        "",
        "Generated; do not edit.  Produced by",
        "",
        f"    {cmd}",
        "",
        f"on {datetime.date.today().isoformat()}: singa at {rev}, onnx {onnx.__version__}, "
        f"onnxruntime {ort.__version__}, NumPy {np.__version__}, Python "
        f"{platform.python_version()}; {seconds:.0f} s.",
        "",
        "Every case runs through `SingaBackend` on the `numpy` and `c` targets as",
        "`tests/conformance` runs it (`check_case`: the stored outputs at the case's",
        "rtol/atol, onnx's defaults 1e-3/1e-7 unless its `data.json` says otherwise).",
        "A case is *not covered* when one of its ops (in the main graph or in a body) is",
        "not in the table at the model's opset for the op's domain; it is not run on singa.",
        "onnxruntime and `onnx.reference.ReferenceEvaluator` run every case (covered or",
        "not) against the same stored outputs and tolerances.  Counts are cases passed.",
        "",
        "## Summary",
        "",
        "| suite | cases | singa numpy | singa c | onnxruntime | onnx.reference | not covered |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        other = [str(_count(r["other"][rt])) if rt in r["other"] else "-" for rt in RUNTIMES]
        out.append(f"| {name} | {r['cases']} | {_count(r['singa']['numpy'])} | "
                   f"{_count(r['singa']['c'])} | {' | '.join(other)} | "
                   f"{len(r['not_covered'])} |")
    out += ["", "On the covered cases only (the ones singa runs):", "",
            "| suite | covered | singa numpy | singa c | onnxruntime | onnx.reference |",
            "|---|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        cov = set(r["singa"]["numpy"])
        other = [str(_count(r["other"][rt], cov)) if rt in r["other"] else "-"
                 for rt in RUNTIMES]
        out.append(f"| {name} | {len(cov)} | {_count(r['singa']['numpy'])} | "
                   f"{_count(r['singa']['c'])} | {' | '.join(other)} |")
    for name, r in results.items():
        out += ["", f"## {name}", "", f"{r['cases']} cases, {r['seconds']:.0f} s: "
                f"{ABOUT[name]}", ""]
        nt = collections.defaultdict(list)
        for n, kinds in r["non_tensor"].items():
            nt[kinds].append(n)
        out += [f"{len(ns)} cases with {k} graph inputs/outputs: {', '.join(sorted(ns))}."
                for k, ns in sorted(nt.items())] or ["Every graph input and output is a tensor."]
        out.append("")
        fails = _failures(r)
        if fails:
            out += ["### singa failures", "", "| case | target | reason |", "|---|---|---|"]
            out += [f"| {n} | {t} | {_md_cell(w)} |" for n, t, w in fails]
            out.append("")
        else:
            out += ["Every covered case passes on both targets.", ""]
        if r["stored"]:
            out += ["Stored outputs that do not match the model (onnxruntime misses them too):",
                    ""]
            out += [f"- {n}: onnxruntime {_md_cell(w)}" for n, w in sorted(r["stored"].items())]
            out.append("")
        if r["not_covered"]:
            out += ["### not covered", "", "| reason | cases | names |", "|---|---:|---|"]
            by = collections.defaultdict(list)
            for n, why in r["not_covered"].items():
                by[why].append(n)
            for why, ns in sorted(by.items(), key=lambda kv: (-len(kv[1]), kv[0])):
                out.append(f"| {_md_cell(why)} | {len(ns)} | {', '.join(sorted(ns))} |")
            out.append("")
        for rt, verdicts in r["other"].items():
            bad = sorted((n, v) for n, v in verdicts.items() if v != PASS)
            if not bad:
                continue
            out += [f"<details><summary>{rt}: {len(bad)} cases fail</summary>", "",
                    "| case | reason |", "|---|---|"]
            out += [f"| {n} | {_md_cell(v)} |" for n, v in bad]
            out += ["", "</details>", ""]
    return "\n".join(out).rstrip() + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "conformance.md"))
    ap.add_argument("--suites", nargs="+", choices=SUITES, default=list(SUITES))
    ap.add_argument("--no-reference", action="store_true",
                    help="leave onnx.reference out (slow on the large real models)")
    args = ap.parse_args(argv)
    runtimes = ("onnxruntime",) if args.no_reference else RUNTIMES
    t0 = time.time()
    results = {}
    for name in args.suites:
        results[name] = run_suite(name, runtimes)
        r = results[name]
        print(f"{name}: {r['cases']} cases, numpy {_count(r['singa']['numpy'])}, "
              f"c {_count(r['singa']['c'])}, not covered {len(r['not_covered'])} "
              f"({r['seconds']:.0f} s)", file=sys.stderr)
    with open(args.out, "w") as f:
        f.write(render(results, time.time() - t0))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
