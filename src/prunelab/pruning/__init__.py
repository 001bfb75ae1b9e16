"""Pruning: the Mask value, pure mask criteria, schedules, and the torch.nn.utils.prune backend."""
