"""Plain PyTorch training and evaluation loops, and the per-step mask hook."""
