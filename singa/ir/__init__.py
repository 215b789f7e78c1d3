"""The typed SSA IR: types, values, ops, graphs, their text form and verifier."""

from .types import DType, TensorType, Dim  # noqa: F401
