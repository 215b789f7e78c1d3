"""fold_batchnorm: fold an inference BatchNormalization into the Conv before it.

``BN(Conv(x, W, b))`` with statistics known at compile time is
``Conv(x, W * s, (b - mean) * s + B)`` where ``s = scale / sqrt(var + eps)``
scales output channel ``m`` (axis 0 of W).  The rewrite applies when

- the BN runs in inference mode (``training_mode`` 0) and only its first result
  is used;
- its input is the only result of a Conv, used by nothing but this BN;
- the Conv's weight (and bias, if any) and the BN's scale, B, mean and var are
  params or consts of float type, the BN parameters 1-D with one entry per
  output channel.

The folded weight and bias are new values (of the old weight's kind, named
after it: ``<W>_bnfold``, ``<b>_bnfold``) computed in float64 and rounded once,
so a weight shared with another op is left alone; the old ones become dead and
eliminate_dead_code drops them.  The new Conv keeps the Conv's loc and the BN
result's name.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Op, Value
from ._util import new_op, unique_name
from .manager import OpRewrite


def _known(v: Value | None) -> bool:
    return (v is not None and v.kind in ("param", "const") and v.data is not None
            and v.type is not None and v.type.dtype.is_float)


class FoldBatchNorm(OpRewrite):
    op_name = "BatchNormalization"
    name = "fold_batchnorm"

    def rewrite(self, graph: Graph, bn: Op) -> bool:
        from ..ops import OPS

        attrs = OPS["BatchNormalization"].attrs(bn.attrs)
        if attrs.get("training_mode", 0) or len(bn.operands) < 5:
            return False
        if any(r.uses for r in bn.results[1:]):
            return False
        y = bn.operands[0]
        if y is None or y.kind != "op" or y.producer.name != "Conv":
            return False
        conv = y.producer
        if len(conv.results) != 1 or len(y.uses) != 1:
            return False
        w = conv.operands[1] if len(conv.operands) > 1 else None
        b = conv.operands[2] if len(conv.operands) > 2 else None
        stats = bn.operands[1:5]
        if not _known(w) or (b is not None and not _known(b)) or not all(map(_known, stats)):
            return False
        m = w.data.shape[0]
        if any(s.data.shape != (m,) for s in stats) or (b is not None and b.data.shape != (m,)):
            return False
        scale, beta, mean, var = (np.asarray(s.data, dtype=np.float64) for s in stats)
        s = scale / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
        w64 = np.asarray(w.data, dtype=np.float64) * s.reshape((m,) + (1,) * (w.data.ndim - 1))
        b64 = (0.0 if b is None else np.asarray(b.data, dtype=np.float64)) - mean
        b64 = b64 * s + beta
        dt = w.data.dtype
        new_w = self._value(graph, w, w64.astype(dt), f"{w.name or 'conv.W'}_bnfold")
        bname = f"{b.name}_bnfold" if b is not None and b.name else \
            f"{w.name or 'conv'}_bias_bnfold"
        new_b = self._value(graph, w, b64.astype(dt), bname)
        out = bn.results[0]
        fused = new_op(graph, "Conv", [conv.operands[0], new_w, new_b], dict(conv.attrs),
                       conv.loc, [out.name], before=conv)
        fused.results[0].type = out.type if out.type is not None else fused.results[0].type
        out.replace_all_uses_with(fused.results[0])
        graph.erase_op(bn)
        graph.erase_op(conv)
        return True

    @staticmethod
    def _value(graph: Graph, like: Value, data: np.ndarray, name: str) -> Value:
        name = unique_name(graph, name)
        if like.kind == "param":
            return graph.add_param(name, data)
        return graph.add_const(data, name)
