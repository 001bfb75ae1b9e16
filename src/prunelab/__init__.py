"""prunelab: prune, quantize and encode small networks, and measure what it costs and buys."""

import os

# Torch's OpenMP threads spin while they wait for work. On cores shared with other processes the
# spinning takes the time the working threads need: with two other processes on two cores an epoch
# went from 2.7 s to about 110 s, and 40 training steps took 25 s spinning against 0.9 s waiting
# passively (benchmarks/oversubscription.py, results/oversubscription.json). Passive waiting costs
# little on free cores. It must be set before torch is first imported; a user's own value is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
