"""singa: SINGA's ONNX API on a small graph compiler.

User API: ``from singa import device, tensor, autograd, opt, sonnx``.
"""

__version__ = "0.1.0"


def __getattr__(name):
    # ``singa.compile`` without importing the compiler (and the op table) on ``import singa``.
    if name == "compile":
        from .compiler import compile

        return compile
    raise AttributeError(f"module 'singa' has no attribute {name!r}")
