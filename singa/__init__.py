"""singa: SINGA's ONNX API on a small graph compiler.

User API: ``from singa import device, tensor, autograd, opt, sonnx``.
"""

__version__ = "0.1.0"
