"""64-byte aligned allocation (mesimp_engine.kernels.memory) and the engine's use of it; the
command line keeps large arrays' memory in the heap (glibc), and says so."""

import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from mesimp_engine import ops
from mesimp_engine.kernels import memory
from mesimp_engine.graph import Graph
from mesimp_engine.nn import Linear
from mesimp_engine.parameter import Parameter


@pytest.mark.parametrize("shape", [(0,), (1,), (3, 5), (1000, 77), (2, 3, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint8])
def test_aligned_empty_is_aligned_contiguous_and_writable(shape, dtype):
    a = memory.aligned_empty(shape, dtype)
    assert a.shape == shape and a.dtype == dtype
    assert a.flags.c_contiguous and a.flags.writeable
    assert memory.is_aligned(a) or a.size == 0  # an empty array has no data to align
    a[...] = 7
    assert np.all(a == 7)


def test_empty_aligns_from_the_threshold():
    big = memory.empty((memory.ALIGN_FROM_BYTES // 4,), np.float32)
    assert memory.is_aligned(big)
    small = memory.empty((3,), np.float32)
    assert small.shape == (3,) and small.dtype == np.float32


def test_as_aligned_copies_only_large_misaligned_arrays():
    n = memory.ALIGN_FROM_BYTES // 4 + 16
    misaligned = memory.aligned_empty((n + 1,), np.float32)[1:]
    misaligned[:] = np.arange(n)
    assert not memory.is_aligned(misaligned)
    fixed = memory.as_aligned(misaligned)
    assert memory.is_aligned(fixed) and np.array_equal(fixed, misaligned)
    assert memory.as_aligned(fixed) is fixed
    small = np.arange(5.0)
    assert memory.as_aligned(small) is small
    transposed = memory.as_aligned(np.ones((300, 200), np.float32).T)
    assert transposed.flags.c_contiguous and memory.is_aligned(transposed)


def test_zeros_like():
    z = memory.zeros_like(np.ones((400, 300), np.float32))
    assert z.shape == (400, 300) and z.dtype == np.float32 and not z.any() and memory.is_aligned(z)


def test_engine_arrays_are_aligned():
    """What the kernels stream over: weights, their gradients, products, lookups, concatenations."""
    layer = Linear(2400, 500, rng=0)
    assert memory.is_aligned(layer.weight.value) and memory.is_aligned(layer.weight.grad)
    p = Parameter(np.ones((300, 100), np.float32)[:, ::1])
    assert memory.is_aligned(p.value)
    table = Parameter(np.random.default_rng(0).standard_normal((100, 50)).astype(np.float32))
    Graph()
    ids = np.random.default_rng(1).integers(0, 100, size=(400, 8))
    looked = ops.lookup(table, ids)
    joined = ops.concat([looked, looked], axis=1)
    product = layer(np.ones((64, 2400), np.float32))
    assert memory.is_aligned(looked.value) and memory.is_aligned(joined.value)
    assert memory.is_aligned(product.value)


def _kept(env):
    code = ("from mesimp_engine.kernels.memory import keep_freed_memory; import numpy as np; "
            "kept = keep_freed_memory(); a = np.ones(50_000_000 // 8); del a; print(kept)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting is glibc's")
def test_keep_freed_memory_applies_unless_the_user_set_glibc():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    assert _kept(env) == "True"
    assert _kept(dict(env, MALLOC_MMAP_THRESHOLD_="131072")) == "False"  # the user's own setting wins


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting is glibc's")
def test_the_command_line_keeps_freed_memory_and_says_so(tmp_path, prepared_data):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    proc = subprocess.run([sys.executable, "-m", "mesimp_engine", "train", "--task", "mnist", "--hidden", "8",
                           "--epochs", "1", "--limit-train", "50", "--limit-eval", "50", "--no-progress",
                           "--data-dir", str(prepared_data), "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "run" / "results.json").read_text())["environment"]["kept_freed_memory"] is True
