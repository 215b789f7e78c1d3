"""Frontends: ONNX ModelProto -> IR (onnx_import) and autograd tape -> IR (trace)."""
