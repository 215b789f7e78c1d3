"""Shared by the ops with regions (see :mod:`singa.ir.regions`)."""

from __future__ import annotations


def split_captures(items, attrs) -> tuple[list, list]:
    """(the op's own operands, the captured ones): the last ``attrs["captures"]``."""
    k = int(attrs.get("captures", 0))
    return (list(items[:len(items) - k]), list(items[len(items) - k:])) if k else (
        list(items), [])
