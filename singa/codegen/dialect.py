"""The two dialects one kernel text is rendered in: CUDA C (NVRTC) and host C (cc).

A dialect is data, not a code path: what a kernel is prefixed with, how its
loop over elements opens, how pointers are qualified, and a preamble of
helpers.  :mod:`singa.codegen.render` writes every kernel once and asks the
dialect only for these pieces, so CUDA and host sources differ in these lines
alone (compare ``singa-onnx compile --emit-cuda`` with ``--emit-c``).

Storage and arithmetic types: float16 and bfloat16 are stored as their 16 bits
(``unsigned short``) and computed in float, converted on load and store with
round-to-nearest-even (the preamble's ``singa_*`` helpers, the same text in
both dialects); bool is stored as a one-byte C ``bool`` (NumPy's layout).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir.types import DType

# storage C type of each dtype a kernel handles; others (strings, complex,
# float8, 4-bit) are left to the NumPy steps
STORAGE = {
    DType.FLOAT: "float", DType.DOUBLE: "double", DType.FLOAT16: "unsigned short",
    DType.BFLOAT16: "unsigned short", DType.INT8: "signed char", DType.INT16: "short",
    DType.INT32: "int", DType.INT64: "long long", DType.UINT8: "unsigned char",
    DType.UINT16: "unsigned short", DType.UINT32: "unsigned int",
    DType.UINT64: "unsigned long long", DType.BOOL: "bool",
}
_WIDE = {DType.FLOAT16: "h", DType.BFLOAT16: "bf"}


def supported(dt) -> bool:
    """Whether kernels can load and store dtype ``dt``."""
    return dt in STORAGE


def compute_ctype(dt: DType) -> str:
    """The C type expressions of dtype ``dt`` are computed in (float for 16-bit floats)."""
    return "float" if dt in _WIDE else STORAGE[dt]


def load(dt: DType, ref: str) -> str:
    """C expression reading ``ref`` (an lvalue of storage type) as the compute type."""
    w = _WIDE.get(dt)
    return f"singa_{w}2f({ref})" if w else ref


def rounded(dt: DType, expr: str) -> str:
    """``expr`` rounded to dtype ``dt`` but kept in the compute type: a 16-bit float
    result inside a fused group is rounded as the unfused op would store it."""
    w = _WIDE.get(dt)
    return f"singa_{w}2f(singa_f2{w}({expr}))" if w else expr


def store(dt: DType, expr: str) -> str:
    """C expression converting compute-type ``expr`` to the storage type."""
    w = _WIDE.get(dt)
    return f"singa_f2{w}({expr})" if w else f"({STORAGE[dt]})({expr})"


# The 16-bit float conversions, written once over two bit-cast helpers the
# dialects define.  Round to nearest even, subnormals, infinities and NaN as
# IEEE 754 (and NumPy) do.
_HELPERS = r"""
{fn} float singa_h2f(unsigned short h) {{
  unsigned int s = (unsigned int)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1fu) return singa_bits2f(s | 0x7f800000u | (m << 13));
  if (e) return singa_bits2f(s | ((e + 112u) << 23) | (m << 13));
  if (!m) return singa_bits2f(s);
  e = 113u;
  while (!(m & 0x400u)) {{ m <<= 1; e--; }}
  return singa_bits2f(s | (e << 23) | ((m & 0x3ffu) << 13));
}}
{fn} unsigned short singa_f2h(float f) {{
  unsigned int x = singa_f2bits(f), s = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
  if (a >= 0x7f800000u) return (unsigned short)(s | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0u));
  if (a >= 0x477ff000u) return (unsigned short)(s | 0x7c00u);
  if (a < 0x38800000u) {{
    unsigned int e = a >> 23;
    if (e < 102u) return (unsigned short)s;
    unsigned int m = (a & 0x7fffffu) | 0x800000u, shift = 126u - e;
    unsigned int q = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u))) q++;
    return (unsigned short)(s | q);
  }}
  unsigned int r = a - 0x38000000u, q = r >> 13, rem = r & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) q++;
  return (unsigned short)(s | q);
}}
{fn} float singa_bf2f(unsigned short h) {{ return singa_bits2f((unsigned int)h << 16); }}
{fn} unsigned short singa_f2bf(float f) {{
  unsigned int x = singa_f2bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((x >> 16) | 0x40u);
  return (unsigned short)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}}
"""


# glibc's libmvec has vector forms of these libm functions (float and double).
# glibc declares them for the vectoriser only under -ffast-math, whose
# finite-math assumptions would break NaN and inf semantics; declaring them
# "simd" here lets a kernel loop call e.g. _ZGVeN16v_expf on 16 floats at once.
_VECTOR_UNARY = ("acos", "acosh", "asin", "asinh", "atan", "atanh", "cbrt", "cos", "cosh",
                 "erf", "erfc", "exp", "exp2", "expm1", "log", "log10", "log1p", "log2", "sin",
                 "sinh", "tan", "tanh")
_VECTOR_BINARY = ("pow", "atan2", "hypot")


def vector_math() -> str:
    """``declare simd`` declarations of the libmvec functions (host dialect)."""
    lines = []
    for name in _VECTOR_UNARY + _VECTOR_BINARY:
        for t, suffix in (("float", "f"), ("double", "")):
            args = ", ".join([t] * (2 if name in _VECTOR_BINARY else 1))
            # parenthesised: tgmath.h defines the names as macros
            lines += ["#pragma omp declare simd notinbranch", f"{t} ({name}{suffix})({args});"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Dialect:
    """What differs between the CUDA and the host rendering of one kernel."""

    name: str
    kernel_prefix: str  # before ``void name(...)``
    helper_prefix: str  # before helper functions
    restrict: str
    infinity: str  # a float +inf expression (NVRTC has no __builtin_inf)
    includes: str
    bitcasts: str  # defines singa_f2bits / singa_bits2f with helper_prefix
    loop: str  # opens the loop over ``i`` in [0, {n}); ``{n}`` is the element count
    suffix: str  # file extension of emitted sources
    parallel: str = ""  # line before the loop splitting it over threads, for big loops
    parallel_min: int = 0  # work items from which ``parallel`` is emitted
    # the same for loops of independent straight-line items (elementwise
    # kernels), marked vectorisable: on one thread, and split over threads
    simd: str = ""
    parallel_simd: str = ""
    inner_simd: str = ""  # SINGA_SIMD: marks an inner loop of a kernel body vectorisable
    inner_simd_sum: str = ""  # SINGA_SIMD_SUM(v): the same for a loop summing into ``v``
    # SINGA_SIMD_REDUCING(clauses): ... with these OpenMP reduction clauses
    inner_simd_reducing: str = ""
    # opens a loop over rows ``i0`` of a kernel with rows (None: one flat loop,
    # each item computing its row: on a GPU neighbouring threads take neighbouring
    # columns, so loads stay coalesced)
    row_loop: str | None = None
    declarations: str = ""  # after the includes (host: vector math)

    def preamble(self) -> str:
        return (self.includes + self.declarations + f"#define SINGA_RESTRICT {self.restrict}\n"
                + f"#define SINGA_SIMD {self.inner_simd}\n"
                + "#define SINGA_PRAGMA(x) _Pragma(#x)\n"
                + f"#define SINGA_SIMD_SUM(v) {self.inner_simd_sum}\n"
                + f"#define SINGA_SIMD_REDUCING(clauses) {self.inner_simd_reducing}\n"
                + f"#define SINGA_INF ({self.infinity})\n"
                + self.bitcasts.format(fn=self.helper_prefix)
                + _HELPERS.format(fn=self.helper_prefix))


CUDA = Dialect(
    name="cuda",
    kernel_prefix='extern "C" __global__ void',
    helper_prefix="static __device__ __forceinline__",
    restrict="__restrict__",
    infinity="__int_as_float(0x7f800000)",
    includes="",
    bitcasts=("{fn} unsigned int singa_f2bits(float f) {{ return __float_as_uint(f); }}\n"
              "{fn} float singa_bits2f(unsigned int u) {{ return __uint_as_float(u); }}\n"),
    loop=("for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < {n}LL;"
          " i += (long long)blockDim.x * gridDim.x)"),
    suffix=".cu",
)

HOST = Dialect(
    name="c",
    kernel_prefix="void",
    helper_prefix="static inline",
    restrict="restrict",
    infinity="INFINITY",
    # tgmath: exp(float) is expf, as CUDA's overloads are; stdbool for bool
    includes="#include <tgmath.h>\n#include <stdbool.h>\n#include <string.h>\n",
    bitcasts=("{fn} unsigned int singa_f2bits(float f) {{ unsigned int u; "
              "memcpy(&u, &f, 4); return u; }}\n"
              "{fn} float singa_bits2f(unsigned int u) {{ float f; memcpy(&f, &u, 4); "
              "return f; }}\n"),
    loop="for (long long i = 0; i < {n}LL; ++i)",
    suffix=".c",
    # big loops are split over the cores; small ones stay on the calling thread
    parallel="#pragma omp parallel for schedule(static)",
    parallel_min=1 << 15,
    # without "simd" GCC leaves an OpenMP-outlined loop scalar (vector math included)
    simd="#pragma omp simd",
    parallel_simd="#pragma omp parallel for simd schedule(static)",
    inner_simd="_Pragma(\"omp simd\")",
    inner_simd_sum="SINGA_PRAGMA(omp simd reduction(+:v))",
    inner_simd_reducing="SINGA_PRAGMA(omp simd clauses)",
    row_loop="for (long long i0 = 0; i0 < {rows}LL; ++i0)",
    declarations=vector_math(),
)

DIALECTS = {"cuda": CUDA, "c": HOST}
