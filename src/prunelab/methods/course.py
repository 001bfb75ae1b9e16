"""The course project's procedure: per-layer magnitude, chosen once, the mask re-applied after each
epoch only (so pruned weights move during an epoch and are zeroed at its end)."""

from prunelab.methods.base import Method
from prunelab.methods.magnitude import criterion

METHOD = Method("course", criterion, enforce="epoch", one_round=True,
                summary="the course project's: one round, mask re-applied after each epoch")
