"""How torch's OpenMP threads wait: passive only where threads would outnumber the cores left to
them (spinning ones were 25x slower there, passive ones 4x slower at batch 1 on free cores:
foundations/wait_policy.py), decided before torch loads, and a user's own choice kept."""

import os
import subprocess
import sys

import pytest

from prunelab.foundations import wait_policy
from prunelab.foundations.wait_policy import CHOSEN, PASSIVE, VARIABLE, choose, decide


@pytest.mark.parametrize("threads, processes, cores, busy, policy", [
    (1, 8, 2, 5, None),  # one thread per process: none ever waits, whatever the load
    (2, 1, 2, 0, None),  # two threads on two free cores: spinning wakes them fastest
    (2, 1, 2, 1, PASSIVE),  # another program holds one of the two cores
    (2, 2, 4, 0, None),  # two workers of two threads on four free cores
    (2, 2, 2, 0, PASSIVE),  # two workers of two threads on two cores: they share them
    (4, 1, 2, 0, PASSIVE),  # more threads than cores
])
def test_the_rule(threads, processes, cores, busy, policy):
    assert choose(threads, processes, cores, busy) == policy


def test_a_users_policy_is_kept_and_prunelabs_own_is_decided_again():
    users = {VARIABLE: "ACTIVE"}
    assert decide(2, 4, users, cores=2, busy=2, workers=True) == "ACTIVE" and users == {VARIABLE: "ACTIVE"}
    ours = {}
    assert decide(2, 2, ours, cores=2, busy=0, workers=True) == PASSIVE
    assert ours == {VARIABLE: PASSIVE, CHOSEN: PASSIVE}
    assert decide(1, 2, ours, cores=2, busy=0, workers=True) is None  # prunelab's value, so replaced
    assert ours == {CHOSEN: ""}


def test_the_policy_workers_inherit_is_set_only_while_they_start(monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    monkeypatch.delenv(CHOSEN, raising=False)
    monkeypatch.setattr(wait_policy, "usable_cores", lambda: 2)
    monkeypatch.setattr(wait_policy, "busy_cores", lambda: 0)
    with wait_policy.for_workers(threads=2, processes=2) as policy:
        assert policy == PASSIVE and os.environ[VARIABLE] == PASSIVE
    assert VARIABLE not in os.environ and CHOSEN not in os.environ
    with wait_policy.for_workers(threads=1, processes=2) as policy:
        assert policy is None and VARIABLE not in os.environ


def environment(**values) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (VARIABLE, CHOSEN, "OMP_NUM_THREADS")}
    return {**env, "PYTHONPATH": os.pathsep.join(sys.path), **values}


def run_python(code: str, env: dict) -> str:
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


POLICY_AFTER_IMPORT = "import prunelab, os; print(os.environ.get('OMP_WAIT_POLICY'))"


def test_importing_prunelab_for_one_thread_leaves_the_default_and_keeps_a_users_choice():
    assert run_python(POLICY_AFTER_IMPORT, environment(OMP_NUM_THREADS="1")) == "None"
    assert run_python(POLICY_AFTER_IMPORT, environment(OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")) == "PASSIVE"
    assert run_python(POLICY_AFTER_IMPORT, environment(OMP_NUM_THREADS="8", OMP_WAIT_POLICY="ACTIVE")) == "ACTIVE"


def test_the_command_line_decides_from_its_threads_before_torch_loads():
    code = ("import sys, os\n"
            "from prunelab.cli.main import main\n"
            "print('torch' in sys.modules)\n"
            "main(['train', '--threads', '1', '--set', 'train.lr=-1'])\n"  # refused after the decision
            "print(os.environ.get('OMP_WAIT_POLICY'))")
    # OMP_NUM_THREADS=8: `import prunelab` alone would choose passive waiting on a machine of fewer cores
    assert run_python(code, environment(OMP_NUM_THREADS="8")).splitlines() == ["False", "None"]
