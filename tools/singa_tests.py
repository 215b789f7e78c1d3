"""Run SINGA 3.1's own Python unit tests (CPU cases) against our ``singa``.

Report tool for issue #9 ("SINGA users' own code runs unchanged").  It reads
``test/python/{test_tensor,test_operation,test_opt,test_onnx}.py`` and the
helper ``cuda_helper.py`` they import from a SINGA git directory at a tag
(nothing of SINGA's is stored in this repository) into a fresh temporary
folder, applies the changes listed in :data:`PATCHES`, runs each file with
``python -m pytest`` (cwd the temporary folder, PYTHONPATH this repository) and
prints per file: collected, passed, failed, errors, skipped, then one line per
failure: test name, exception type and message, and the innermost frame in
``singa/`` (or in SINGA's test file) it came through.

The GPU cases stay in and are skipped by their own guards
(``@unittest.skipIf(not singa_wrap.USE_CUDA, ...)``, ``if singa.USE_CUDA:``);
"CPU tests" below are the collected tests that no guard skipped.

Changes, by kind (``--list`` prints each one):

Only ``onnx-mapping`` applies by default; the others are opt-in (``--with``).

* ``cpu``: ``cuda_helper.py`` is replaced by our stand-in: ``cpu_dev`` is
  ``device.get_default_device()``, ``gpu_dev`` is ``None`` (SINGA's helper
  calls ``create_cuda_gpu()`` when ``singa_wrap.USE_CUDA``);
* ``flags``: a ``conftest.py`` sets each build flag the tests read
  (:data:`FLAGS`) on ``singa.singa_wrap`` to ``False``, only where our module
  does not answer it (the report lists those as missing);
* ``ctensor-global``: ``test_operation.py`` builds an unused module-level
  CTensor (``singa.Tensor`` + ``singa.Gaussian``); without the C++ core the
  whole file would fail to import, so those lines become no-ops;
* ``onnx-mapping``: ``test_onnx.py`` imports ``onnx.mapping``, which the onnx
  wheel no longer has (deprecated in 1.13, removed since); the name is unused, so
  it leaves the import list;
* ``numpy`` (``--with numpy`` only): NumPy has since removed what two tests
  use: ``np.int`` (1.24; ``int`` is what it aliased) in ``test_tensor.py``, and
  a size-1 array as a scalar (``np.arange(depth)``, NumPy 2.x) in
  ``test_operation.py``'s one-hot reference;
* ``ctensor-shape`` (``--with ctensor-shape`` only): ``test_operation.py``
  calls ``dx.shape()`` on what ``creator.backward`` returns (a CTensor in
  SINGA, an array in singa: ``docs/singa-api.md``); ``.shape()`` -> ``.shape``;
* ``ctensor-values`` (``--with ctensor-values`` only): ``test_opt.py``'s
  ``assertTensorEqual`` reads values through CTensor's ``GetFloatValue``;
  replaced by ``tensor.to_numpy(x).reshape(-1)`` to see what lies behind.

Every change keeps the file's line count, so reported line numbers are
SINGA's.  Usage::

    .venv/bin/python tools/singa_tests.py --singa-git /work/.mirror/apache+singa/repo \\
        --tag 3.1.0 [--only test_opt] [--with ctensor-values] [--json out.json|-]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TESTS = "test/python"
FILES = ("test_tensor", "test_operation", "test_opt", "test_onnx")
HELPER = "cuda_helper.py"

# singa_wrap build flags SINGA 3.1's tests read (test_dist reads USE_DIST too;
# SINGA's own device.py reads USE_OPENCL): all False on a CPU-only build
FLAGS = ("USE_CUDA",)

CUDA_HELPER = '''\
# singa_tests stand-in for SINGA's cuda_helper.py: CPU only
from singa import device

gpu_dev = None
cpu_dev = device.get_default_device()
'''

CONFTEST = '''\
# singa_tests: build flags our singa.singa_wrap does not answer, as on a CPU build
from singa import singa_wrap

for _flag in {flags!r}:
    try:
        getattr(singa_wrap, _flag)
    except AttributeError:
        setattr(singa_wrap, _flag, False)
'''

# (kind, file, pattern, replacement, default); patterns must occur and keep the line count
PATCHES = [
    ("ctensor-global", "test_operation.py",
     "CTensor = singa.Tensor\n\ndy = CTensor([2, 1, 2, 2])\nsinga.Gaussian(0.0, 1.0, dy)\n",
     "CTensor = None  # singa_tests: unused CTensor global\n\ndy = None\npass\n", False),
    ("onnx-mapping", "test_onnx.py", "numpy_helper, mapping, ModelProto,",
     "numpy_helper, ModelProto,", True),
    ("numpy", "test_tensor.py", "dtype=np.int)", "dtype=int)", False),
    ("numpy", "test_operation.py", "depth_range = np.arange(depth)",
     "depth_range = np.arange(np.asarray(depth).item())", False),
    ("ctensor-shape", "test_operation.py", re.compile(r"\b(\w+)\.shape\(\)"), r"\1.shape", False),
    ("ctensor-values", "test_opt.py",
     "        x.data.GetFloatValue(int(x.size())),\n        y.data.GetFloatValue(int(y.size())),\n",
     "        tensor.to_numpy(x).reshape(-1),\n        tensor.to_numpy(y).reshape(-1),\n", False),
]
KINDS = ("cpu", "flags") + tuple(dict.fromkeys(k for k, *_ in PATCHES))


def _git_show(git_dir: str, tag: str, path: str) -> str:
    return subprocess.run(["git", "--git-dir", git_dir, "show", f"{tag}:{path}"], check=True,
                          capture_output=True, text=True).stdout


def _patch(text: str, pattern, repl: str, where: str) -> str:
    """``text`` with ``pattern`` (a string, or a one-line regex) replaced; it must occur."""
    if isinstance(pattern, re.Pattern):
        text, n = pattern.subn(repl, text)
        if not n:
            raise SystemExit(f"{where}: pattern not found: {pattern.pattern!r}")
        return text
    if pattern not in text:
        raise SystemExit(f"{where}: pattern not found: {pattern!r}")
    if pattern.count("\n") != repl.count("\n"):
        raise SystemExit(f"{where}: replacement changes the line count: {pattern!r}")
    return text.replace(pattern, repl)


def prepare(root: str, git_dir: str, tag: str, kinds: set[str], files) -> None:
    """Write SINGA's test files (and helper) into ``root`` with ``kinds`` applied."""
    for name in files:
        text = _git_show(git_dir, tag, f"{TESTS}/{name}.py")
        for kind, target, pat, repl, _ in PATCHES:
            if kind in kinds and target == f"{name}.py":
                text = _patch(text, pat, repl, target)
        with open(os.path.join(root, f"{name}.py"), "w") as f:
            f.write(text)
    helper = CUDA_HELPER if "cpu" in kinds else _git_show(git_dir, tag, f"{TESTS}/{HELPER}")
    with open(os.path.join(root, HELPER), "w") as f:
        f.write(helper)
    if "flags" in kinds:
        with open(os.path.join(root, "conftest.py"), "w") as f:
            f.write(CONFTEST.format(flags=FLAGS))


def missing_flags(python: str, env: dict) -> list[str]:
    """The :data:`FLAGS` our ``singa.singa_wrap`` raises AttributeError for."""
    code = ("from singa import singa_wrap as w\nfor f in %r:\n"
            "    try: getattr(w, f)\n    except AttributeError: print(f)\n" % (FLAGS,))
    out = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True)
    return out.stdout.split()


_SINGA_FRAME = re.compile(r"^(\S*?singa/[\w/]+\.py):(\d+): in (\S+)", re.M)
_TEST_FRAME = re.compile(r"^(test_\w+\.py):(\d+): in (\S+)", re.M)


def _where(text: str, root: str) -> str:
    """The innermost frame in our ``singa/`` (else in the test file) of a --tb=short trace."""
    frames = [m for m in _SINGA_FRAME.finditer(text)
              if os.path.abspath(m.group(1)).startswith(os.path.join(ROOT, "singa"))]
    if frames:
        m = frames[-1]
        return f"{os.path.relpath(os.path.abspath(m.group(1)), ROOT)}:{m.group(2)} {m.group(3)}"
    frames = list(_TEST_FRAME.finditer(text))
    return f"{frames[-1].group(1)}:{frames[-1].group(2)} {frames[-1].group(3)}" if frames else ""


def _reason(el: ET.Element, root: str) -> str:
    msg = (el.get("message") or "").strip()
    text = el.text or ""
    if not msg or msg == "collection failure":  # take the trace's "E " lines
        msg = " ".join(l[1:].strip() for l in text.splitlines() if l.startswith("E ")) or "?"
    msg = " ".join(msg.split())
    return msg if len(msg) <= 300 else msg[:297] + "..."


def parse(xml_path: str, root: str) -> dict:
    """Counts and per-test failures from pytest's junit XML."""
    res = dict(collected=0, passed=0, failed=0, errors=0, skipped=0, failures=[], skips={})
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        name = f"{case.get('classname', '').split('.')[-1]}.{case.get('name')}".lstrip(".")
        bad = case.find("failure")
        err = case.find("error")
        skip = case.find("skipped")
        if err is not None and case.get("classname", "") == "":
            res["errors"] += 1  # a file that did not import: no test collected
            res["failures"].append(dict(test=name, outcome="collection error",
                                        reason=_reason(err, root), where=_where(err.text or "", root)))
            continue
        res["collected"] += 1
        if bad is not None or err is not None:
            el = bad if bad is not None else err
            kind = "failed" if bad is not None else "errors"
            res[kind] += 1
            res["failures"].append(dict(test=name, outcome=kind, reason=_reason(el, root),
                                        where=_where(el.text or "", root)))
        elif skip is not None:
            res["skipped"] += 1
            why = skip.get("message", "")
            res["skips"][why] = res["skips"].get(why, 0) + 1
        else:
            res["passed"] += 1
    return res


def run_file(name: str, root: str, python: str, env: dict, timeout: int) -> dict:
    xml = os.path.join(root, f"{name}.xml")
    cmd = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=short",
           f"--junitxml={xml}", "-o", "junit_family=xunit1", f"{name}.py"]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True,
                              timeout=timeout)
        out = proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else ""
        out += f"\n(timed out after {timeout}s)"
    secs = time.perf_counter() - t0
    with open(os.path.join(root, f"{name}.out.txt"), "w") as f:
        f.write(out)
    if not os.path.exists(xml):
        return dict(file=f"{name}.py", collected=0, passed=0, failed=0, errors=1, skipped=0,
                    failures=[dict(test=name, outcome="no result", reason=out.strip()[-300:],
                                   where="")], skips={}, seconds=round(secs, 1))
    res = parse(xml, root)
    res.update(file=f"{name}.py", seconds=round(secs, 1))
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--singa-git", required=True, help="SINGA's git directory")
    p.add_argument("--tag", default="3.1.0")
    p.add_argument("--only", nargs="*", choices=FILES, help="test files to run")
    p.add_argument("--python", default=os.path.join(ROOT, ".venv", "bin", "python"))
    p.add_argument("--timeout", type=int, default=1200, help="seconds per test file")
    p.add_argument("--with", dest="extra", nargs="*", default=[], choices=KINDS,
                   help="changes to apply besides the default ones")
    p.add_argument("--without", nargs="*", default=[], choices=KINDS,
                   help="default changes to leave out")
    p.add_argument("--list", action="store_true", help="print the changes and exit")
    p.add_argument("--json", help="write the results here ('-': stdout, instead of the table)")
    args = p.parse_args(argv)
    # singa answers SINGA's build flags and raw-tensor calls itself now, so SINGA's
    # own cuda_helper.py and files run as they are; the other kinds are opt-in
    defaults = {k for k, *_, d in PATCHES if d}
    kinds = (defaults | set(args.extra)) - set(args.without)
    if args.list:
        print(f"cpu: {HELPER} ->\n{CUDA_HELPER}")
        print(f"flags: conftest.py sets {', '.join(FLAGS)} = False where singa_wrap lacks them")
        for kind, target, pat, repl, d in PATCHES:
            pat = getattr(pat, "pattern", pat)
            print(f"{kind} ({target}{'' if d else ', --with only'}):\n  {pat!r}\n  -> {repl!r}")
        return 0
    python = os.path.abspath(args.python)
    env = dict(os.environ, PYTHONPATH=ROOT)
    root = tempfile.mkdtemp(prefix="singa_tests_")
    files = args.only or FILES
    prepare(root, args.singa_git, args.tag, kinds, files)
    report = dict(dir=root, tag=args.tag, changes=sorted(kinds),
                  missing_flags=missing_flags(python, env), files=[])
    for name in files:
        report["files"].append(run_file(name, root, python, env, args.timeout))
    tot = {k: sum(f[k] for f in report["files"])
           for k in ("collected", "passed", "failed", "errors", "skipped")}
    tot["cpu_tests"] = tot["collected"] - tot["skipped"]
    report["total"] = tot
    if args.json == "-":
        json.dump(report, sys.stdout, indent=1)
        print()
    else:
        _print(report)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(report, f, indent=1)
    return 0 if tot["failed"] + tot["errors"] == 0 else 1


def _print(report: dict) -> None:
    print(f"SINGA {report['tag']} tests in {report['dir']}  changes: {', '.join(report['changes'])}")
    if report["missing_flags"]:
        print(f"singa.singa_wrap lacks {', '.join(report['missing_flags'])}"
              + (" (set to False by conftest.py)" if "flags" in report["changes"] else ""))
    head = ("file", "collected", "passed", "failed", "errors", "skipped", "seconds")
    print("\n%-18s %9s %6s %6s %6s %7s %8s" % head)
    for f in report["files"]:
        print("%-18s %9d %6d %6d %6d %7d %8.1f" % tuple(f[k] for k in ("file",) + head[1:]))
    t = report["total"]
    print("%-18s %9d %6d %6d %6d %7d" % (("total",) + tuple(t[k] for k in head[1:-1])))
    print(f"\n{t['passed']} of {t['cpu_tests']} CPU tests pass "
          f"({t['skipped']} skipped by SINGA's own guards)")
    broken = [f["file"] for f in report["files"] if f["collected"] == 0 and f["errors"]]
    if broken:
        print(f"(not counted: {', '.join(broken)} did not import, so none of their tests ran)")
    for f in report["files"]:
        if f["failures"]:
            print(f"\n{f['file']}:")
        for x in f["failures"]:
            where = f"  [{x['where']}]" if x["where"] else ""
            print(f"  {x['outcome']:7s} {x['test']}: {x['reason']}{where}")


if __name__ == "__main__":
    sys.exit(main())
