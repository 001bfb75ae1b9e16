"""Reports: a read-only pass over run directories that draws the figures and writes report.md.

base.py reads and groups runs; curves.py, bars.py, compression.py and weights.py each draw a few
figures; document.py puts them together and lists what could not be drawn.
"""
