"""Run SINGA 3.1's ``examples/onnx`` scripts, unchanged but for their downloads, on our ``singa``.

Report tool for issue #9 ("SINGA users' own code runs unchanged").  For each
example it reads the script from a SINGA git directory at a tag (nothing of
SINGA's is stored in this repository), copies it with the files it imports
into a fresh temporary folder laid out as ``examples/onnx``, applies that
script's listed ``(pattern -> replacement)`` pairs, writes the local files the
replacements name (models from this repository's generators, labels, images,
vocabularies: ``tools/example_inputs.py``), runs it with ``.venv/bin/python``
and prints one row per script: ran to the end (exit 0) or the first error
(exception, message, the example line that raised it, the innermost frame).

Replacements come in three kinds, each listed in :data:`EXAMPLES`/``ENV``/``UPSTREAM``:

* ``data``: download and data lines only (URLs, ``/tmp`` folders, tokenizer
  names, dataset loading) -> local files;
* ``cpu``: ``device.create_cuda_gpu*()`` -> ``device.get_default_device()``,
  applied only where no GPU is present (``--gpu`` keeps the lines);
* ``upstream``: SINGA 3.1's own defects, one so far: four examples import
  ``update_batch_size`` from ``utils.py``, which 3.1 removed from it (its
  3.0 version pinned dim 0 of the first graph input and output); appended to
  the copy of ``utils.py`` unless ``--no-upstream-fixes``;
* ``guide-last-layers`` (``--guide-last-layers`` only): ``training/train.py``
  counts a negative ``last_layers`` as SINGA 3.1 does; singa counts it as the
  ONNX guide does (``docs/singa-api.md``), so the tool translates the value.

Every replacement keeps the script's line count, so the line numbers in the
report are those of SINGA's file.  Packages the examples import and we lack
(Pillow, scikit-learn, transformers, six) go in a folder given by ``--deps``
(added to PYTHONPATH after the repository), e.g.::

    .venv/bin/python -m pip install --target /tmp/singa_examples_deps \\
        pillow==9.5.0 scikit-learn transformers six   # then remove numpy* from it
    .venv/bin/python tools/singa_examples.py --singa-git /work/.mirror/apache+singa/repo \\
        --tag 3.1.0 --deps /tmp/singa_examples_deps [--only resnet18 vgg16] [--timeout 600]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Callable

import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import example_inputs as gen  # noqa: E402

EX = "examples/onnx"
DL = "downloads"  # the temporary folder's stand-in for the scripts' /tmp


@dataclasses.dataclass
class Example:
    """One SINGA example: its path under ``examples/onnx``, the model it loads
    (path under ``downloads/`` and a generator), other files it reads, its
    data replacements, extra files copied from SINGA, and its command line."""

    script: str
    model_path: str
    model: Callable[[], onnx.ModelProto]
    replacements: list[tuple[str, str]]
    files: dict[str, Callable[[str], None]] = dataclasses.field(default_factory=dict)
    copies: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    note: str = ""
    numpy2: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def _image(w: int, h: int, seed: int = 0):
    return lambda path: gen.write_image(path, w, h, seed)


def _classifier(script: str, folder: str, model, dl_quote: str = "'/tmp/'", note: str = ""):
    """The ImageNet classifiers share one shape: a model tarball, synset.txt, kitten.jpg."""
    return Example(
        script, f"{folder}", model,
        [(f"download_dir = {dl_quote}", f"download_dir = '{DL}/'"),
         ("download_model(url)", "pass"),
         ("check_exist_or_download(label_url)", f"'{DL}/synset.txt'"),
         ("check_exist_or_download(image_url)", f"'{DL}/kitten.ppm'")],
        files={"synset.txt": gen.write_labels, "kitten.ppm": _image(320, 240)}, note=note)


def _vocab_zip(root: str):
    def write(path):
        with open(os.path.join(root, EX, "bert", "inputs.json")) as f:
            text = json.dumps(json.load(f))
        gen.write_wordpiece_zip(path, "uncased_L-12_H-768_A-12", text)
    return write


EXAMPLES: dict[str, Example] = {e.script.rsplit("/", 1)[-1][:-3]: e for e in [
    _classifier("resnet18.py", "resnet18v1/resnet18v1.onnx", lambda: gen.torchvision("resnet18")),
    _classifier("mobilenet.py", "mobilenetv2-1.0/mobilenetv2-1.0.onnx",
                lambda: gen.torchvision("mobilenet_v2")),
    _classifier("densenet121.py", "densenet121/model.onnx", lambda: gen.torchvision("densenet121")),
    _classifier("squeezenet.py", "squeezenet1.1/squeezenet1.1.onnx",
                lambda: gen.torchvision("squeezenet1_0"),
                note="SqueezeNet 1.0 (torchvision) for the zoo's 1.1"),
    _classifier("shufflenetv1.py", "shufflenet/model.onnx", lambda: gen.light("shufflenet"),
                dl_quote='"/tmp/"'),
    _classifier("shufflenetv2.py", "model/test_shufflenetv2/model.onnx",
                lambda: gen.torchvision("shufflenet_v2_x1_0")),
    _classifier("vgg16.py", "vgg16/vgg16.onnx", gen.vgg16),
    _classifier("vgg19.py", "vgg19/vgg19.onnx", lambda: gen.light("vgg19")),
    Example("tiny_yolov2.py", "tiny_yolov2/Model.onnx", gen.tiny_yolov2,
            [("download_dir = '/tmp/'", f"download_dir = '{DL}/'"),
             ("download_model(url)", "pass"),
             ("check_exist_or_download(image_url)", f"'{DL}/person.ppm'")],
            files={"person.ppm": _image(640, 424, 1)},
            note="Tiny YOLOv2 layer stack (bench/models) after a 1/255 input scale"),
    Example("fer_emotion.py", "emotion_ferplus/model.onnx", lambda: gen.bench("fer_plus"),
            [("download_dir = '/tmp/'", f"download_dir = '{DL}/'"),
             ("download_model(url)", "pass"),
             ("check_exist_or_download(image_url)", f"'{DL}/fear.ppm'")],
            files={"fear.ppm": _image(200, 200, 2)}, note="FER+ layer stack, bench/models"),
    Example("arcface.py", "resnet100/resnet100.onnx", lambda: gen.bench("arcface"),
            [("download_dir = '/tmp'", f"download_dir = '{DL}'"),
             ("download_model(url)", "pass"),
             ("check_exist_or_download(\n            "
              "'https://angus-doc.readthedocs.io/en/latest/_images/aurelien.jpg')",
              f"(\n            '{DL}/aurelien.ppm')"),
             ("check_exist_or_download(\n            "
              "'https://angus-doc.readthedocs.io/en/latest/_images/gwenn.jpg')",
              f"(\n            '{DL}/gwenn.ppm')")],
            files={"aurelien.ppm": _image(200, 260, 3), "gwenn.ppm": _image(200, 260, 4)},
            note="IResNet-18 (bench/models) for the zoo's ResNet-100"),
    Example("gpt2/gpt2.py", "GPT-2-LM-HEAD/model.onnx", gen.gpt2_lm_head,
            [("download_dir = '/tmp/'", f"download_dir = '{DL}/'"),
             ("download_model(url)", "pass"),
             ("GPT2Tokenizer.from_pretrained('gpt2')",
              f"GPT2Tokenizer.from_pretrained('{DL}/gpt2')")],
            files={"gpt2": lambda p: gen.write_bpe_tokenizer(p, ["<|endoftext|>"])},
            note="2-layer GPT-2 (bench/models) + LM head, vocabulary 8192"),
    Example("ro_bert_a/ro_bert_a.py",
            "roberta-sequence-classification-9/roberta-sequence-classification-9.onnx",
            gen.roberta_classifier,
            [("download_dir = '/tmp/'", f"download_dir = '{DL}/'"),
             ("download_model(url)", "pass"),
             ("RobertaTokenizer.from_pretrained('roberta-base')",
              f"RobertaTokenizer.from_pretrained('{DL}/roberta-base')")],
            files={"roberta-base": lambda p: gen.write_bpe_tokenizer(
                p, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"])},
            note="2-layer RoBERTa (bench/models) + classification head"),
    Example("bert/bert-squad.py", "download_sample_10/bertsquad10.onnx", gen.bert_squad,
            [("download_dir = '/tmp/'", f"download_dir = '{DL}/'"),
             ("download_model(url)", "pass"),
             ("check_exist_or_download(url)", f"'{DL}/uncased_L-12_H-768_A-12.zip'")],
            files={"uncased_L-12_H-768_A-12.zip": None},  # needs inputs.json: see _write_files
            copies=("bert/run_onnx_squad.py", "bert/tokenization.py", "bert/inputs.json"),
            note="2-layer BERT (bench/models) + SQuAD head; vocabulary from inputs.json"),
    Example("training/train.py", "resnet18v1/resnet18v1.onnx", lambda: gen.torchvision("resnet18"),
            [("download_model(model_config['url'])", "pass"),
             ("os.path.join('/tmp', model_config['path'])",
              f"os.path.join('{DL}', model_config['path'])"),
             ("from data import cifar10\n        train_x, train_y, val_x, val_y = cifar10.load()",
              "pass\n        train_x, train_y, val_x, val_y = "
              f"(lambda d: (d['tx'], d['ty'], d['vx'], d['vy']))(np.load('{DL}/cifar10.npz'))")],
            files={"cifar10.npz": lambda p: _cifar_like(p)},
            copies=("training/model.json",), args=("--epoch", "1", "--bs", "8"),
            numpy2=[("(train_loss, train_correct /", "(train_loss[0], train_correct[0] /"),
                    ("(test_correct / (num_val_batch", "(test_correct[0] / (num_val_batch")],
            note="16 train / 8 test random CIFAR-10-shaped images, 1 epoch, batch 8"),
]}

#: Applied only without a GPU: SINGA's examples ask for GPU 0.
ENV = [("device.create_cuda_gpu()", "device.get_default_device()"),
       ("device.create_cuda_gpu_on(local_rank)", "device.get_default_device()")]

#: ``--guide-last-layers``: scripts written for SINGA 3.1's ``last_layers``, which
#: keeps ``layers[:(k+1) % L + 1]`` for a negative k (-3: all but the last layer).
#: singa follows the guide, ``ops[:k]`` (docs/singa-api.md), so SINGA's -3 is our -1.
GUIDE_LAST_LAYERS = {
    "training/train.py": [("last_layers=model_config['last_layers']", "last_layers=-1")],
}

#: Appended to the copy of utils.py (see the module docstring).
UPSTREAM = ("\n\ndef update_batch_size(onnx_model, batch_size):"
            "  # added by tools/singa_examples.py: SINGA 3.1's examples import it\n"
            "    for v in (onnx_model.graph.input[0], onnx_model.graph.output[0]):\n"
            "        v.type.tensor_type.shape.dim[0].dim_value = batch_size\n"
            "    return onnx_model\n")


def _cifar_like(path: str) -> None:
    import numpy as np

    rng = np.random.default_rng(10)
    x = lambda n: rng.standard_normal((n, 3, 32, 32)).astype(np.float32)  # noqa: E731
    y = lambda n: rng.integers(0, 10, n).astype(np.int32)  # noqa: E731
    np.savez(path, tx=x(16), ty=y(16), vx=x(8), vy=y(8))


def replace(text: str, pattern: str, repl: str, where: str) -> str:
    """``text`` with every ``pattern`` replaced; it must occur, and the
    replacement must keep the line count (report line numbers stay SINGA's)."""
    if pattern not in text:
        raise SystemExit(f"{where}: pattern not found: {pattern!r}")
    if pattern.count("\n") != repl.count("\n"):
        raise SystemExit(f"{where}: replacement changes the line count: {pattern!r}")
    return text.replace(pattern, repl)


def _git_show(git_dir: str, tag: str, path: str) -> str:
    return subprocess.run(["git", "--git-dir", git_dir, "show", f"{tag}:{path}"], check=True,
                          capture_output=True, text=True).stdout


def prepare(ex: Example, root: str, git_dir: str, tag: str, cpu: bool, upstream: bool,
            guide_last_layers: bool = False) -> list[str]:
    """Lay out ``root`` for ``ex``; returns the kinds of replacement applied."""
    kinds = ["data"]
    for rel in (ex.script, "utils.py") + ex.copies:
        os.makedirs(os.path.dirname(os.path.join(root, EX, rel)), exist_ok=True)
        text = _git_show(git_dir, tag, f"{EX}/{rel}")
        if rel == ex.script:
            for pat, repl in ex.replacements:
                text = replace(text, pat, repl, rel)
            if ex.numpy2:  # %f of a shape-(1,) array: an error since NumPy 2
                kinds.append("numpy2")
                for pat, repl in ex.numpy2:
                    text = replace(text, pat, repl, rel)
            if guide_last_layers and ex.script in GUIDE_LAST_LAYERS:
                kinds.append("guide-last-layers")
                for pat, repl in GUIDE_LAST_LAYERS[ex.script]:
                    text = replace(text, pat, repl, rel)
            if cpu and any(p in text for p, _ in ENV):
                kinds.append("cpu")
                for pat, repl in ENV:
                    text = text.replace(pat, repl)
            if upstream and "update_batch_size" in text:
                kinds.append("upstream")
        elif rel == "utils.py" and upstream:
            text += UPSTREAM
        with open(os.path.join(root, EX, rel), "w") as f:
            f.write(text)
    cwd = os.path.dirname(os.path.join(root, EX, ex.script))
    dl = os.path.join(cwd, DL)
    os.makedirs(os.path.dirname(os.path.join(dl, ex.model_path)), exist_ok=True)
    model = ex.model()
    onnx.save(model, os.path.join(dl, ex.model_path))
    for name, write in ex.files.items():
        (write or _vocab_zip(root))(os.path.join(dl, name))
    return kinds


_FRAME = re.compile(r'^  File "(.+)", line (\d+), in (.+)$')


def first_error(stderr: str, root: str) -> str:
    """``Type: message`` of the last traceback in ``stderr``, the example line
    it came through and the innermost frame; or the last stderr line."""
    lines = stderr.rstrip().splitlines()
    starts = [i for i, l in enumerate(lines) if l.startswith("Traceback (most recent call last)")]
    if not starts:
        return lines[-1] if lines else "(no output)"
    tb = lines[starts[-1]:]
    frames = [(m.group(1), m.group(2), tb[i + 1].strip() if i + 1 < len(tb) else "")
              for i, l in enumerate(tb) if (m := _FRAME.match(l))]
    exc = next((l for l in tb[1:] if l and not l.startswith(" ")), tb[-1])
    ours = [f for f in frames if f[0].startswith(root)]
    where = ""
    if ours:
        f, n, src = ours[-1]
        where = f" | at {os.path.relpath(f, os.path.join(root, EX))}:{n}: {src}"
    if frames and (not ours or frames[-1] != ours[-1]):
        f, n, _ = frames[-1]
        where += f" | innermost {os.path.relpath(f, ROOT) if f.startswith(ROOT) else f}:{n}"
    return exc + where


def run_one(name: str, ex: Example, args) -> dict:
    root = tempfile.mkdtemp(prefix=f"singa_ex_{name}_")
    t0 = time.perf_counter()
    try:
        kinds = prepare(ex, root, args.singa_git, args.tag, args.cpu, args.upstream,
                        args.guide_last_layers)
    except Exception as e:  # a generator failing is a tool error, shown as such
        return dict(script=ex.script, result="tool error", seconds=0.0,
                    error=f"{type(e).__name__}: {e}", kinds="")
    gen_s = time.perf_counter() - t0
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + ([args.deps] if args.deps else []))
    script = os.path.join(root, EX, ex.script)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([args.python, script, *ex.args], cwd=os.path.dirname(script), env=env,
                              capture_output=True, text=True, timeout=args.timeout)
        rc, err, out = proc.returncode, proc.stderr, proc.stdout
    except subprocess.TimeoutExpired as e:
        rc, err, out = None, (e.stderr or b"").decode(errors="replace"), ""
    secs = time.perf_counter() - t0
    with open(os.path.join(root, "stderr.txt"), "w") as f:
        f.write(err)
    with open(os.path.join(root, "stdout.txt"), "w") as f:
        f.write(out)
    result = "ran" if rc == 0 else ("timeout" if rc is None else "failed")
    error = "" if rc == 0 else (f"timed out after {args.timeout}s" if rc is None
                                else first_error(err, root))
    return dict(script=ex.script, result=result, seconds=round(secs, 1), gen_seconds=round(gen_s, 1),
                error=error, kinds="+".join(kinds), dir=root)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--singa-git", required=True, help="SINGA's git directory")
    p.add_argument("--tag", default="3.1.0")
    p.add_argument("--only", nargs="*", choices=sorted(EXAMPLES), help="examples to run")
    p.add_argument("--deps", help="folder with the examples' extra packages (PIL, sklearn...)")
    p.add_argument("--python", default=os.path.join(ROOT, ".venv", "bin", "python"))
    p.add_argument("--timeout", type=int, default=600, help="seconds per script")
    p.add_argument("--gpu", dest="cpu", action="store_false",
                   help="keep create_cuda_gpu (default: replaced when no GPU is present)")
    p.add_argument("--no-upstream-fixes", dest="upstream", action="store_false")
    p.add_argument("--guide-last-layers", action="store_true",
                   help="translate SINGA 3.1's negative last_layers into the guide's "
                        "(GUIDE_LAST_LAYERS)")
    p.add_argument("--list", action="store_true", help="print the replacements and exit")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    args.python = os.path.abspath(args.python)
    names = args.only or list(EXAMPLES)
    if args.list:
        for n in names:
            print(f"{EXAMPLES[n].script}  (model: {EXAMPLES[n].model_path})")
            for pat, repl in EXAMPLES[n].replacements:
                print(f"    {pat!r}\n      -> {repl!r}")
        return 0
    if args.cpu and "--gpu" not in (argv or sys.argv):
        from singa import device

        args.cpu = device.get_num_gpus() == 0
    rows = []
    for n in names:
        row = run_one(n, EXAMPLES[n], args)
        rows.append(row)
        print(f"{row['script']:24s} {row['result']:8s} {row['seconds']:7.1f}s  [{row['kinds']}]  "
              f"{row['error']}", flush=True)
    print(f"\n{sum(r['result'] == 'ran' for r in rows)}/{len(rows)} ran to the end")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0 if all(r["result"] == "ran" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
