"""What a timing was measured on, so a number can be read next to the machine that produced it."""

import os
import platform
from pathlib import Path

import torch


def describe_machine() -> dict:
    """Processor, CPU count, torch threads and version, how its OpenMP threads waited (None: the
    runtime's spinning default; foundations/wait_policy.py), and the load when measured."""
    return {
        "processor": processor_name(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.machine()}",
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def processor_name() -> str:
    """The CPU model: platform.processor() is often empty on Linux, /proc/cpuinfo says it."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"
