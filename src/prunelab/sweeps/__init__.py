"""Sweeps: a grid or list of settings expanded into ordinary runs, executed in parallel, collected.

spec.py expands a sweep file into RunConfigs, runner.py executes them (reusing finished stages),
collect.py gathers every run's results into CSV files and one SQLite database.
"""
