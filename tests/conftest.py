"""Shared test fixtures: the backend matrix and conversions to and from NumPy.

Every public function is run through ``backend`` (a parametrised fixture): NumPy,
array-api-strict (catches non-standard calls), JAX eager, PyTorch and Dask where installed,
CuPy where a GPU is present. JAX under ``jit`` is covered by the tests that need it
(a jitted call needs static options, so it is spelled out there).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest

# Run float64 JAX cases exactly: reference numbers are float64.
os.environ.setdefault("JAX_ENABLE_X64", "1")


def _have(module: str) -> bool:
    try:
        importlib.import_module(module)
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return False
    return True


def _cupy_reason() -> str | None:
    """None when CuPy can run here, else why not (shown as the skip reason)."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "CuPy is installed but no CUDA GPU is visible"
    except ImportError:
        return "CuPy is not installed (pip install 'regionloss[cupy]' on a CUDA machine)"
    except Exception as exc:  # noqa: BLE001 - no driver, no device
        return f"CuPy cannot reach a GPU here: {type(exc).__name__}: {exc}"
    return None


CUPY_SKIP_REASON = _cupy_reason()
HAVE_JAX = _have("jax")
HAVE_TORCH = _have("torch")
HAVE_DASK = _have("dask.array")
HAVE_STRICT = _have("array_api_strict")


@dataclass(frozen=True)
class Backend:
    """One array library: how to build its arrays and how to read them back."""

    name: str
    asarray: Callable[[np.ndarray], Any]
    namespace: Callable[[], Any]

    def __call__(self, a):
        return self.asarray(np.asarray(a))

    def __repr__(self) -> str:
        return self.name


def to_numpy(x) -> np.ndarray:
    """Any backend's array as a NumPy array (host copy)."""
    if hasattr(x, "get") and type(x).__module__.startswith("cupy"):
        return x.get()
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    if type(x).__module__.startswith("dask"):
        return np.asarray(x.compute())
    if type(x).__module__.startswith("array_api_strict"):
        import array_api_strict as xps

        return np.asarray(xps.asarray(x, copy=True)._array)
    return np.asarray(x)


def _numpy():
    return Backend("numpy", lambda a: a, lambda: np)


def _strict():
    import array_api_strict as xps

    return Backend("array_api_strict", lambda a: xps.asarray(a), lambda: xps)


def _jax():
    import jax.numpy as jnp

    return Backend("jax", lambda a: jnp.asarray(a), lambda: jnp)


def _torch():
    import torch

    return Backend("torch", lambda a: torch.from_numpy(np.ascontiguousarray(a)), lambda: torch)


def _dask():
    import dask.array as da

    return Backend("dask", lambda a: da.from_array(a, chunks=-1), lambda: da)


def _cupy():
    import cupy

    return Backend("cupy", lambda a: cupy.asarray(a), lambda: cupy)


BACKEND_PARAMS = [
    pytest.param(_numpy, id="numpy"),
    pytest.param(_strict, id="array_api_strict",
                 marks=pytest.mark.skipif(not HAVE_STRICT, reason="array-api-strict not installed")),
    pytest.param(_jax, id="jax",
                 marks=pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")),
    pytest.param(_torch, id="torch",
                 marks=pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch not installed")),
    pytest.param(_dask, id="dask",
                 marks=pytest.mark.skipif(not HAVE_DASK, reason="Dask not installed")),
    pytest.param(_cupy, id="cupy",
                 marks=pytest.mark.skipif(CUPY_SKIP_REASON is not None,
                                          reason=str(CUPY_SKIP_REASON))),
]


@pytest.fixture(params=BACKEND_PARAMS)
def backend(request) -> Backend:
    """Each array backend in turn (see module docstring)."""
    return request.param()


def assert_same_namespace(result, backend: Backend):
    """The result must come back as an array of the caller's library, not a Python float."""
    import array_api_compat as aac

    assert not isinstance(result, (float, int)), "returned a Python scalar, not an array"
    got = aac.array_namespace(result)
    want = aac.array_namespace(backend.asarray(np.zeros(1)))
    assert got == want, f"result namespace {got} differs from the input's {want}"


def assert_matches(got, want, backend: Backend, *, dtype=None, **tolerance):
    """``got`` is an array of ``backend``'s library, of ``want``'s exact shape, equal to it.

    ``np.testing.assert_allclose`` alone broadcasts (a ``(1,)`` result passes against a
    ``()`` expectation): the shape is compared first, as a tuple. ``want`` is anything
    NumPy can read (computed on NumPy, by hand, or a reference number). ``dtype``, when
    given, is the NumPy dtype the result must read back as. ``tolerance``: keywords of
    ``assert_allclose`` (``rtol``, ``atol``; ``equal_nan`` is True unless given).
    """
    assert_same_namespace(got, backend)
    want = np.asarray(want)
    assert tuple(got.shape) == want.shape, (
        f"result shape {tuple(got.shape)} differs from the expected {want.shape}")
    host = to_numpy(got)
    assert host.shape == want.shape, f"host copy has shape {host.shape}, expected {want.shape}"
    if dtype is not None:
        assert host.dtype == np.dtype(dtype), f"result dtype {host.dtype}, expected {dtype}"
    tolerance.setdefault("equal_nan", True)
    np.testing.assert_allclose(host, want, **tolerance)


REFERENCE_DIR = os.path.join(os.path.dirname(__file__), "reference")


def reference_dir() -> str:
    """The reference fixtures (a copy of the team's ``shared/reference``, kept in the repo
    so that the tests that prove our numbers against other libraries always run)."""
    return os.environ.get("REGIONLOSS_REFERENCE_DIR", REFERENCE_DIR)


def finite_difference(f, x, eps=1e-6):
    """Central finite differences of the scalar function ``f`` at the float64 array ``x``."""
    grad = np.zeros_like(x)
    flat = grad.reshape(-1)
    for i in range(x.size):
        step = np.zeros(x.size)
        step[i] = eps
        step = step.reshape(x.shape)
        flat[i] = (float(f(x + step)) - float(f(x - step))) / (2 * eps)
    return grad


def logits_and_labels(*, n_max=3, pixels_max=5, c_min=2, c_max=4, bound=6.0):
    """Hypothesis strategy: channels-last float64 logits (N, P, C) and labels (N, P) in [0, C)."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def draw_case(draw):
        n = draw(st.integers(1, n_max))
        p = draw(st.integers(1, pixels_max))
        c = draw(st.integers(c_min, c_max))
        logits = draw(hnp.arrays(np.float64, (n, p, c),
                                 elements=st.floats(-bound, bound, allow_nan=False, width=64)))
        labels = draw(hnp.arrays(np.int64, (n, p), elements=st.integers(0, c - 1)))
        return logits, labels

    return draw_case()


# 255 and -1 lie outside the classes; 0 and 1 are class ids (every case has >= 2 classes)
IGNORE_VALUES = [255, -1, 0, 1]


def ignored_and_kept(y, keep, ignore):
    """``y`` with the pixels outside ``keep`` set to ``ignore``, and the pixels that are
    really kept: with ``ignore`` a class id, that class's own pixels are ignored as well."""
    y_ignored = np.where(keep, y, ignore)
    return y_ignored, y_ignored != ignore


def assert_gradient_close(got, want, case_id, rtol):
    """Gradients compared as a whole, relative in 2-norm and in max-norm.

    (Element by element, components that are zero up to rounding cannot be compared
    relatively.)
    """
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == want.shape, f"{case_id}: grad shape {got.shape} != {want.shape}"
    assert np.all(np.isfinite(got)), f"{case_id}: non-finite gradient"
    err2 = np.linalg.norm(got - want) / np.linalg.norm(want)
    errmax = np.max(np.abs(got - want)) / np.max(np.abs(want))
    assert err2 <= rtol and errmax <= rtol, (
        f"{case_id}: gradient differs by {err2:.2e} (2-norm), {errmax:.2e} (max-norm), "
        f"relative; tolerance {rtol:g}"
    )
