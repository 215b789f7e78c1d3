"""Codegen: the ExecutionPlan (plan) and its CPU lowering to NumPy steps (cpu)."""
