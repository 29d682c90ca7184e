"""The kernels' tests again with ``NUMBA_DISABLE_JIT=1`` (a real subprocess): every kernel
then runs as plain Python, its twin paths included, and must give the same answers. The
top-k contract, its kernels and the vector passes (issue 3 asks for it), and the engine's
small products."""

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent
FILES = ["sparsity/test_topk.py", "kernels/test_topk_kernels.py", "kernels/test_compress_keys.py",
         "kernels/test_small_products.py"]


def test_kernel_tests_pass_without_the_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *[str(TESTS / f) for f in FILES]],
                          capture_output=True, text=True, env=env, timeout=900, cwd=TESTS.parent)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
