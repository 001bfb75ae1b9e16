"""Importing prunelab makes torch's OpenMP threads wait passively (spinning ones were 25x slower
on shared cores: benchmarks/oversubscription.py), unless the user chose a policy."""

import os
import subprocess
import sys


def policy_after_import(env: dict) -> str:
    code = "import prunelab, os; print(os.environ['OMP_WAIT_POLICY'])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_import_sets_passive_waiting_and_keeps_a_users_choice():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    assert policy_after_import(env) == "PASSIVE"
    assert policy_after_import({**env, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
