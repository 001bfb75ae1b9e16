"""Runs: settings, run directories named by a hash of their settings, and the staged pipeline."""
