"""Runtime: the plan executor (executor) and eager execution of IR graphs for training (autograd_runner)."""
