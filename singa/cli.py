"""The ``singa-onnx`` command: inspect, run and compile ONNX models.

::

    singa-onnx info MODEL
    singa-onnx run MODEL [--input name=file.npy ...] [--output out.npz] [--seed S]
    singa-onnx compile MODEL [--dump-ir DIR] [--print-plan] [--last-layers K] [--dot FILE]
                       [--target numpy|c|cuda] [--emit-c DIR] [--emit-cuda DIR]

Every failure prints exactly one ``error: ...`` line on stderr (an unsupported-op
list continues on indented lines), never a traceback:

- exit status 2: the command line itself is wrong, whatever the model and files
  (an unknown option, a missing argument, ``--seed`` not a non-negative integer,
  an ``--input-shape`` dim that is not a positive integer, an unknown target);
- exit status 1: something named on the command line cannot be used: the model
  (not a regular file, malformed, unsupported), an ``--input`` file (missing, not
  a regular file, not a ``.npy`` array, a name the model does not have, a wrong
  shape), the device, or an output path that cannot be written.

Outputs go to exactly the paths given: ``--output`` is written as given, with or
without an ``.npz`` suffix (the archive is written through a file object, so NumPy
adds nothing); ``--dot`` likewise; ``--dump-ir``, ``--emit-c`` and ``--emit-cuda``
are folders, created if missing.  Output paths are checked before the model is
loaded: an existing directory, device or FIFO where a file is wanted, a missing or
unwritable parent folder, or a file where a folder is wanted is refused.  Nothing
else is written.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys

import numpy as np

from .errors import InputError, SingaError


class CommandError(Exception):
    """A path named on the command line cannot be used; ``main`` prints it and
    exits with status 1.  It never leaves :func:`main`."""


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one ``error:`` line (status 2), no usage dump."""

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


# ------------------------------------------------------------------ arguments

def _shape_arg(text: str) -> tuple[str, tuple[int, ...]]:
    name, sep, dims = text.rpartition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected name=1x3x224x224, got {text!r}")
    shape = []
    for d in dims.lower().split("x") if dims else ():
        if not d.strip().isdigit() or int(d) <= 0:
            raise argparse.ArgumentTypeError(f"bad shape {dims!r} in {text!r}: every dim "
                                             f"must be a positive integer, got {d!r}")
        shape.append(int(d))
    return name, tuple(shape)


def _seed_arg(text: str) -> int:
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if seed < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return seed


def _input_arg(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected name=file.npy, got {text!r}")
    return name, path


def _check_output_file(option: str, path: str) -> None:
    """CommandError unless ``path`` can be created or overwritten as a regular file."""
    if os.path.lexists(path) and not os.path.isfile(path):
        what = "a directory" if os.path.isdir(path) else "not a regular file"
        raise CommandError(f"{option} {path!r} is {what}; give a file path")
    if os.path.isfile(path) and not os.access(path, os.W_OK):
        raise CommandError(f"{option} {path!r}: file is not writable")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        why = "is not a folder" if os.path.lexists(parent) else "does not exist"
        raise CommandError(f"{option} {path!r}: {parent!r} {why}")
    _check_parent(option, path)


def _check_output_dir(option: str, path: str) -> None:
    """CommandError unless ``path`` is, or can be made, a writable folder."""
    if os.path.lexists(path):
        if not os.path.isdir(path):
            raise CommandError(f"{option} {path!r} exists and is not a folder")
        if not os.access(path, os.W_OK):
            raise CommandError(f"{option} {path!r}: folder is not writable")
        return
    _check_parent(option, path)


def _check_parent(option: str, path: str) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(parent):  # folders makedirs would create
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise CommandError(f"{option} {path!r}: {parent!r} is not a folder")
    if not os.access(parent, os.W_OK):
        raise CommandError(f"{option} {path!r}: folder {parent!r} is not writable")


def _load_input(name: str, path: str) -> np.ndarray:
    """The array in ``.npy`` file ``path``; InputError for anything else."""
    from .frontends.onnx_data import open_regular

    with open_regular(path, f"--input {name} file", InputError) as f:
        try:
            magic = f.read(6)
            f.seek(0)
            if magic == b"\x93NUMPY":
                return np.load(f, allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise InputError(f"--input {name}={path}: cannot load: {e}") from None
    what = "an .npz archive" if magic.startswith(b"PK") else "not a .npy file (no NumPy header)"
    raise InputError(f"--input {name}={path}: {what}; give one array saved with numpy.save")


def _fmt_type(vi) -> str:
    from .frontends.onnx_import import _Symbols, _value_type

    try:
        return str(_value_type(vi, _Symbols(()), "value"))
    except SingaError as e:
        return f"<{e}>"


def random_input(v, rng: np.random.Generator, fill_symbols: int = 1) -> np.ndarray:
    """A seeded random array for graph input ``v`` (symbolic dims -> ``fill_symbols``)."""
    t = v.type
    if t is None or t.shape is None:
        raise InputError(f"input {v.name!r} has no shape; give it with --input")
    shape = tuple(d if isinstance(d, int) else fill_symbols for d in t.shape)
    dt = t.dtype.np
    if dt.kind == "f":
        return rng.standard_normal(shape).astype(dt)
    if dt.kind in "iu":
        return rng.integers(0, 2, shape).astype(dt)  # 0/1: valid as indices and as sizes
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    raise InputError(f"input {v.name!r}: cannot make random {t.dtype.short} data; give it "
                     f"with --input")


def _summary(name: str, a: np.ndarray) -> str:
    line = f"{name}: {a.dtype}{list(a.shape)}"
    if a.size and a.dtype.kind in "biuf":
        f = a.astype(np.float64)
        line += f"  min {f.min():.6g}  max {f.max():.6g}  mean {f.mean():.6g}"
    return line


# ------------------------------------------------------------------ commands

def cmd_info(args) -> int:
    from .frontends.onnx_import import load_proto, model_opset, unsupported_ops

    proto, _ = load_proto(args.model)
    gp = proto.graph
    inits = {t.name for t in gp.initializer} | {s.values.name for s in gp.sparse_initializer}
    out = [f"model: {args.model}", f"graph: {gp.name or '-'}",
           f"ir_version: {proto.ir_version}", f"producer: {proto.producer_name or '-'} "
           f"{proto.producer_version}".rstrip()]
    try:
        out.append(f"opset: {model_opset(proto)}")
    except SingaError as e:
        out.append(f"opset: <{e}>")
    others = [f"{o.domain}:{o.version}" for o in proto.opset_import
              if o.domain not in ("", "ai.onnx")]
    if others:
        out.append("other opsets: " + ", ".join(others))
    out.append("inputs:")
    out += [f"  {vi.name}: {_fmt_type(vi)}" for vi in gp.input if vi.name not in inits]
    out.append("outputs:")
    out += [f"  {vi.name}: {_fmt_type(vi)}" for vi in gp.output]
    count = sum(int(np.prod(t.dims, dtype=np.int64)) for t in gp.initializer)
    count += sum(int(np.prod(s.dims, dtype=np.int64)) for s in gp.sparse_initializer)
    out.append(f"parameters: {count} in {len(inits)} initializers")
    hist = collections.Counter((n.domain + "." if n.domain not in ("", "ai.onnx") else "")
                               + n.op_type for n in gp.node)
    out.append(f"ops: {len(gp.node)} nodes, {len(hist)} kinds")
    width = max((len(k) for k in hist), default=0)
    out += [f"  {k:<{width}}  {n}" for k, n in sorted(hist.items(), key=lambda kv: (-kv[1], kv[0]))]
    try:
        missing = unsupported_ops(proto)
    except SingaError:
        missing = []
    if missing:
        out.append("unsupported:")
        out += [f"  {op} (opset {v}): {len(names)} node(s)" for op, v, names in missing]
    print("\n".join(out))
    return 0


def cmd_run(args) -> int:
    from . import sonnx

    if args.output:
        _check_output_file("--output", args.output)
    given = {}
    for name, path in args.input or []:
        if name in given:
            raise InputError(f"--input {name} given twice")
        given[name] = _load_input(name, path)
    rep = sonnx.prepare(args.model, device=args.device)
    unknown = sorted(set(given) - set(rep.input_names))
    if unknown:
        raise InputError(f"--input names {unknown}, the model's inputs are {rep.input_names}")
    rng = np.random.default_rng(args.seed)
    arrays = [given[v.name] if v.name in given else random_input(v, rng)
              for v in rep.graph.inputs]
    for v, a in zip(rep.graph.inputs, arrays):
        src = "file" if v.name in given else f"random, seed {args.seed}"
        print(_summary(f"input {v.name}", np.asarray(a)) + f"  ({src})")
    outs = rep.run(arrays, last_layers=args.last_layers)
    names = rep.output_names if args.last_layers is None else [f"output_{i}" for i in
                                                               range(len(outs))]
    result = {}
    for name, t in zip(names, outs):
        a = np.asarray(t)
        result[name] = a
        print(_summary(f"output {name}", a))
    if args.output:
        try:
            with open(args.output, "wb") as f:  # a file object: NumPy adds no suffix
                np.savez(f, **result)
        except OSError as e:
            raise CommandError(f"cannot write --output {args.output!r}: "
                               f"{e.strerror or e}") from None
        print(f"wrote {args.output}")
    return 0


def graph_to_networkx(graph):
    """The IR graph as a ``networkx.DiGraph`` (nodes: inputs, ops, outputs; edges: values)."""
    import networkx as nx

    from .ir.printer import format_type

    G = nx.DiGraph(name=graph.name)
    src = {}
    for i, v in enumerate(graph.inputs):
        G.add_node(f"in{i}", label=f"{v.name}\n{format_type(v.type)}", kind="input")
        src[v] = f"in{i}"
    for k, op in enumerate(graph.ops):
        G.add_node(f"op{k}", label=f"{op.name}\n{op.loc}" if op.loc else op.name, kind="op")
        for r in op.results:
            src[r] = f"op{k}"
        for v in op.operands:
            if v is not None and v in src:
                G.add_edge(src[v], f"op{k}", label=format_type(v.type))
    for i, v in enumerate(graph.outputs):
        G.add_node(f"out{i}", label=f"{v.name}\n{format_type(v.type)}", kind="output")
        if v in src:
            G.add_edge(src[v], f"out{i}", label=format_type(v.type))
    return G


def to_dot(G) -> str:
    """DOT text of a networkx graph from :func:`graph_to_networkx` (no pydot needed)."""
    def q(s) -> str:
        return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    shapes = {"input": "ellipse", "output": "ellipse", "op": "box"}
    lines = [f"digraph {q(G.graph.get('name', 'graph'))} {{", "  rankdir=TB;"]
    for n, d in G.nodes(data=True):
        lines.append(f"  {q(n)} [label={q(d.get('label', n))}, "
                     f"shape={shapes.get(d.get('kind'), 'box')}];")
    for a, b, d in G.edges(data=True):
        lines.append(f"  {q(a)} -> {q(b)} [label={q(d.get('label', ''))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def cmd_compile(args) -> int:
    from .compiler import compile as compile_model

    if args.dot:
        _check_output_file("--dot", args.dot)
    for option, folder in (("--dump-ir", args.dump_ir), ("--emit-c", args.emit_c),
                           ("--emit-cuda", args.emit_cuda)):
        if folder:
            _check_output_dir(option, folder)
    shapes = dict(args.input_shape or [])
    target = args.target
    if target == "cuda" and not str(args.device).lower().startswith(("cuda", "gpu")):
        # no GPU asked for: the same kernels, launched through the host dialect,
        # so the plan can be printed and the CUDA sources emitted anywhere
        print("# target cuda on the CPU: plan built with the host dialect of the same kernels",
              file=sys.stderr)
        target = "c"
    cm = compile_model(args.model, device=args.device, last_layers=args.last_layers,
                       input_shapes=shapes, target=target)
    shown = False
    for folder, dialect in ((args.emit_c, "c"), (args.emit_cuda, "cuda")):
        if folder:
            os.makedirs(folder, exist_ok=True)
            files = cm._plan.sources(dialect)
            for name, src in files.items():
                with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
                    f.write(src)
            print(f"wrote {len(files)} {dialect} kernels to {folder}")
            shown = True
    if args.dump_ir:
        paths = cm.dump(args.dump_ir)
        print(f"wrote {len(paths)} files to {args.dump_ir}")
        shown = True
    if args.dot:
        with open(args.dot, "w", encoding="utf-8") as f:
            f.write(to_dot(graph_to_networkx(cm.optimized)))
        print(f"wrote {args.dot}")
        shown = True
    if args.print_plan:
        print(cm.plan, end="")
        shown = True
    if args.print_ir or not shown:
        print(cm.ir, end="")
    for name, secs in cm.timings:
        print(f"# {name}: {secs * 1e3:.1f} ms", file=sys.stderr)
    return 0


# ------------------------------------------------------------------ main

def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="singa-onnx", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    i = sub.add_parser("info", help="inputs, outputs, opset, op histogram, parameter count")
    i.add_argument("model")
    i.set_defaults(func=cmd_info)

    r = sub.add_parser("run", help="run the model on given or seeded random inputs")
    r.add_argument("model")
    r.add_argument("--input", action="append", type=_input_arg, metavar="NAME=FILE.npy")
    r.add_argument("--output", metavar="OUT.npz",
                   help="save the outputs as an .npz archive at exactly this path")
    r.add_argument("--seed", type=_seed_arg, default=0,
                   help="seed of the random inputs (a non-negative integer)")
    r.add_argument("--last-layers", type=int, default=None)
    r.add_argument("--device", default="CPU")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("compile", help="run the pass pipeline; print IR / plan, dump them")
    c.add_argument("model")
    c.add_argument("--dump-ir", metavar="DIR", help="write the IR after each pass and the plan")
    c.add_argument("--print-plan", action="store_true")
    c.add_argument("--print-ir", action="store_true", help="print the IR (the default output)")
    c.add_argument("--last-layers", type=int, default=None)
    c.add_argument("--dot", metavar="FILE", help="write the optimised graph as Graphviz DOT")
    c.add_argument("--input-shape", action="append", type=_shape_arg, metavar="NAME=1x3x224x224",
                   help="specialise on a concrete input shape")
    c.add_argument("--device", default="CPU")
    c.add_argument("--target", choices=("numpy", "c", "cuda"), default=None,
                   help="code generation target (default: $SINGA_TARGET, else cuda on a GPU, "
                        "c on the CPU)")
    c.add_argument("--emit-c", metavar="DIR", help="write every generated kernel as host C")
    c.add_argument("--emit-cuda", metavar="DIR", help="write every generated kernel as CUDA C")
    c.set_defaults(func=cmd_compile)
    return p


def main(argv=None) -> int:
    """Entry point of ``singa-onnx`` (and ``python -m singa``)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SingaError as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except CommandError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except MemoryError as e:  # one not already named by a ResourceError
        print(f"error: out of memory{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
