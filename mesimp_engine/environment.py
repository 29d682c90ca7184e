"""What a reader needs to judge a run's numbers: versions, CPU and threads (``environment``),
and the cores this process may use (``cores``). Recorded in every ``results.json`` and every
benchmark document."""

import os
import platform
import sys
import time

import numpy as np

import mesimp_engine
from mesimp_engine.kernels import memory


def cores():
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def environment():
    """Versions, CPU and threads: what a reader needs to judge the numbers."""
    env = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        import numba

        env["numba"] = numba.__version__
        env["numba_threads"] = numba.get_num_threads()
        env["numba_disable_jit"] = bool(numba.config.DISABLE_JIT)
    except ImportError:
        env["numba"] = None
    try:
        import torch

        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
    except ImportError:
        env["torch"] = None
    env["mesimp_engine"] = mesimp_engine.__version__
    env["cores"] = cores()  # this process's affinity, which cpu_count does not show
    try:
        from threadpoolctl import threadpool_info

        env["blas"] = [{key: lib.get(key) for key in ("internal_api", "version", "architecture", "num_threads")}
                       for lib in threadpool_info() if lib.get("user_api") == "blas"]
    except ImportError:
        env["blas"] = None
    env["numpy_loaded_before_engine"] = mesimp_engine.NUMPY_LOADED_FIRST
    env["kept_freed_memory"] = memory.kept_freed_memory  # large arrays from the heap (kernels/memory.py)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS"):
        if var in os.environ:
            env[var] = os.environ[var]
    return env


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
