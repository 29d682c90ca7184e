"""The BLAS policy: the product (through ``kernels.blas.matmul``) is NumPy's at any size, and
importing the package before NumPy shortens OpenBLAS's spin after each call unless the user
chose a value (a fresh interpreter each, since OpenBLAS reads the setting when NumPy loads
it)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from mesimp_engine.kernels.blas import SMALL_PRODUCT, matmul


@pytest.mark.parametrize("shape", [(3, 4, 5), (600, 600, 300)])
def test_matmul_is_numpy_product(shape):
    m, k, n = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    assert (m * k * n < SMALL_PRODUCT) == (shape == (3, 4, 5))
    np.testing.assert_allclose(matmul(a, b), a @ b, rtol=1e-5, atol=1e-5)
    out = np.empty((m, n), np.float32)
    assert matmul(a, b, out=out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)


def _probe(code, **env):
    environ = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    environ.update(env)
    done = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True)
    return done.stdout.split()


PROBE = ("import os, mesimp_engine; "
         "print(mesimp_engine.NUMPY_LOADED_FIRST, os.environ.get('OPENBLAS_THREAD_TIMEOUT'))")


def test_engine_first_sets_short_blas_spin():
    assert _probe(PROBE) == ["False", "4"]


def test_user_setting_is_kept():
    assert _probe(PROBE, OPENBLAS_THREAD_TIMEOUT="20") == ["False", "20"]


def test_numpy_first_is_recorded_and_left_alone():
    assert _probe("import numpy; " + PROBE.replace("import os, ", "import os; import ")) == ["True", "None"]
