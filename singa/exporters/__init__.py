"""Exporters: IR graphs to external formats (ONNX)."""
