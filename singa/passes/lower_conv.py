"""lower_conv: a Conv as columns, one matrix product and a bias Add (kernel targets).

``Conv(x, W, b)`` on 32- or 64-bit floats and static shapes becomes

    %col = Im2Col(%x) {kernel_shape, strides, dilations, pads}   : (N, C*K, P)
    %wm  = Reshape(%W, [M, C*K])
    %y   = MatMul(%wm, %col)                                      : (N, M, P)
    %out = Reshape(%y, [N, M, *out])
    %out = Add(%out, Reshape(%b, [M, 1, ...]))                    (with a bias)

(a 1x1 window at stride 1 without pads needs no columns: ``Reshape(x, [N, C, P])``;
with ``implicit``, on the ``c`` target, a group-1 product of 32-bit floats is one
``ConvGemm(wm, x)``, whose kernel packs the columns from the image).
With G groups the columns are (N, G, C/G*K, P), the weight (G, M/G, C/G*K) and
the product (N, G, M/G, P), batched over images and groups.
On the ``c`` and ``cuda`` targets the columns are a generated kernel, the
product one BLAS call writing into the arena, and the bias Add joins the
activation after it in one fused elementwise kernel that runs in place, which
the NumPy Conv (columns by strided copies, a bias pass, an activation pass)
cannot.  Depthwise convolutions (their own window kernel) and 16-bit floats are
left alone.
"""

from __future__ import annotations

import numpy as np

from ..errors import IRError
from ..ir.graph import Graph, Op
from ._util import new_op
from .manager import OpRewrite


#: Largest column matrix made at once; a bigger batch is lowered in chunks of images.
COLUMN_BYTES = 64 << 20


def _static(v) -> bool:
    return v is not None and v.type is not None and v.type.is_static


class LowerConv(OpRewrite):
    """``implicit`` (the ``c`` target): a group-1 Conv's product is one ``ConvGemm``,
    whose kernel packs the columns straight from the image: no column matrix is
    ever made (nor chunked), and nothing reads it back."""

    op_name = "Conv"
    name = "lower_conv"

    def __init__(self, implicit: bool = False):
        self.implicit = implicit

    def rewrite(self, graph: Graph, conv: Op) -> bool:
        from ..ops import OPS
        from ..ops.conv import _ConvGeom

        x, w = conv.operands[0], conv.operands[1]
        b = conv.operands[2] if len(conv.operands) > 2 else None
        res = conv.results[0]
        if len(conv.results) != 1 or not all(map(_static, [x, w, res] + ([b] if b else []))):
            return False
        dt = x.type.dtype
        if (len(x.type.shape) not in (3, 4) or not dt.is_float or dt.np.itemsize < 4
                or any(v.type.dtype != dt for v in (w, b) if v is not None)):
            return False
        attrs = OPS["Conv"].attrs(conv.attrs)
        g = _ConvGeom("Conv", x.type.shape, w.type.shape, attrs)
        # Depthwise convolutions have a window kernel of their own; a one-channel
        # Conv (group 1: a grey image's first layer) is depthwise in form only and
        # must be lowered, or it stays a NumPy step whose BLAS threads, spinning
        # after the call, starve every kernel after it (FER+: 2.5x slower).
        if (g.g == g.c and g.g > 1 and g.m % g.c == 0) or g.n == 0 or g.p == 0:
            return False

        def shape(*dims):
            return graph.add_const(np.array(dims, np.int64))

        def add(name, operands, attrs=None, names=()):
            return new_op(graph, name, operands, attrs, conv.loc, names, before=conv).results[0]

        ck = g.c // g.g * g.kk  # rows of one group's columns
        trivial = (all(k == 1 for k in g.kernel) and all(s == 1 for s in g.strides)
                   and not any(g.pb) and not any(g.pe))
        wm = add("Reshape", [w, shape(*((g.g,) if g.g > 1 else ()), g.m // g.g, ck)])

        window = {"kernel_shape": list(g.kernel), "strides": list(g.strides),
                  "dilations": list(g.dilations), "pads": list(g.pb) + list(g.pe)}
        implicit = self.implicit and g.g == 1 and not trivial and dt.np.itemsize == 4

        def product(xs, n):
            """The product for the n images of ``xs``: (n, [G,] M/G, P)."""
            lead = (n,) if g.g == 1 else (n, g.g)
            if implicit:
                return add("ConvGemm", [wm, xs], window)
            if trivial:
                col = add("Reshape", [xs, shape(*lead, ck, g.p)])
            else:
                col = add("Im2Col", [xs], window)
                if g.g > 1:  # group-major rows: (N, G, C/G*K, P)
                    col = add("Reshape", [col, shape(*lead, ck, g.p)])
            return add("MatMul", [wm, col])

        # The columns of a big batch would take K times the input's memory: they are
        # made a few images at a time (the memory plan reuses one buffer for them).
        # The chunks' products are joined along the batch, which the kernel
        # targets' arena assembles in place: each product is written in its
        # range of the joined result (codegen.arena), never held twice.
        per_image = g.c * g.kk * g.p * dt.np.itemsize
        step = (g.n if trivial or implicit
                else max(1, min(g.n, COLUMN_BYTES // max(per_image, 1))))
        names = () if b is not None else (res.name,)
        if step >= g.n:
            y = product(x, g.n)
        else:
            parts = []
            for i in range(0, g.n, step):
                j = min(g.n, i + step)
                xs = add("Slice", [x, shape(i), shape(j), shape(0)])
                parts.append(product(xs, j - i))
            y = add("Concat", parts, {"axis": 0})
        out = add("Reshape", [y, shape(*res.type.shape)], names=names)
        if b is not None:
            bias = add("Reshape", [b, shape(g.m, *([1] * g.nd))])
            out = add("Add", [out, bias], names=(res.name,))
        if out.type != res.type:  # the rewrite must compute the Conv's very type
            raise IRError(f"lower_conv: {conv.name} ({conv.loc}) became {out.type}, "
                          f"not {res.type}")
        res.replace_all_uses_with(out)
        graph.erase_op(conv)
        return True
