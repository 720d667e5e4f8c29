"""Shared test fixtures: the backend matrix, conversions to and from NumPy, and the hand
cases several test modules share.

Every public function is run through ``backend`` (a parametrised fixture): NumPy,
array-api-strict (catches non-standard calls), JAX eager, PyTorch and Dask where installed,
CuPy where a GPU is present. JAX under ``jit`` is covered by the tests that need it
(a jitted call needs static options, so it is spelled out there).

The test tree mirrors ``src/regionloss``: ``tests/kernels/``, ``tests/losses/`` and
``tests/metrics/`` are packages (``__init__.py``), so that modules of one basename in two
folders do not clash; this directory is on ``sys.path`` (pytest's default ``prepend``
import mode), so every test module imports its helpers with ``from conftest import ...``.
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


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


# --------------------------------------------------------------------------- markers, JAX

jax_only = pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
torch_only = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch not installed")


def jax_x64():
    """The ``jax`` module with x64 on (as ``JAX_ENABLE_X64=1`` above: float64 cases exact)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


@pytest.fixture(params=[p for p in BACKEND_PARAMS if p.id != "dask"])
def concrete_backend(request) -> Backend:
    """Backends whose arrays can be looked at (Dask is lazy: tested apart)."""
    return request.param()


def softmax_np(x, axis=-1):
    """Softmax in NumPy (float64 reference)."""
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


# --------------------------------------------------------------------------- losses

NO_SMOOTH = dict(smooth_nr=0.0, smooth_dr=0.0)

# The loss hand case: one sample, four pixels, two classes, channels-last probabilities
# (activation=None).
HAND_PROBS = np.array([[[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]])
HAND_LABELS = np.array([[0, 1, 1, 1]])
# class 0: tp 0.9, sum p 2.0, sum y 1 -> fp 1.1, fn 0.1
# class 1: tp 1.9, sum p 2.0, sum y 3 -> fp 0.1, fn 1.1

# The inputs of the error tables: (N, pixels, C) channels-last zeros and in-range labels.
ERR_PRED = np.zeros((2, 3, 4))
ERR_LABELS = np.zeros((2, 3), dtype=np.int64)


def loss_matrix_inputs(opts, seed):
    """Inputs of a loss's backend matrix: float32 logits (2, 4, 5, 4) channels-last (moved
    to channels-first for ``class_axis=1``), labels (255 at ~20% of the pixels when
    ``ignore_index`` is set) and a 0/1 float32 mask."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 4, 5, 4)).astype(np.float32)  # channels-last by default
    y = rng.integers(0, 4, size=(2, 4, 5))
    if opts.get("class_axis") == 1:
        x = np.moveaxis(x, -1, 1).copy()
    if "ignore_index" in opts:
        y = np.where(rng.random(y.shape) < 0.2, 255, y)
    mask = (rng.random((2, 4, 5)) < 0.8).astype(np.float32)
    return x, y, mask


def check_loss_on_backend(loss, opts, backend, *, seed):
    """``loss`` with ``opts`` on ``backend`` arrays equals it on NumPy, with and without a
    mask, and returns an array of ``backend``'s namespace (the backend matrix of a loss)."""
    x, y, mask = loss_matrix_inputs(opts, seed)
    got = loss(backend(x), backend(y), **opts)
    assert_same_namespace(got, backend)
    np.testing.assert_allclose(to_numpy(got), to_numpy(loss(x, y, **opts)),
                               rtol=2e-5, atol=1e-6)
    got_mask = loss(backend(x), backend(y), mask=backend(mask), **opts)
    np.testing.assert_allclose(to_numpy(got_mask), to_numpy(loss(x, y, mask=mask, **opts)),
                               rtol=2e-5, atol=1e-6)


# --------------------------------------------------------------------------- metrics
# Two samples of six pixels, four classes (class 3 absent from both everywhere; class 2
# absent from sample 1's reference but predicted once there).
#   sample 0 (target, pred): (0,0) (0,1) (1,1) (1,1) (2,2) (2,0)
#   sample 1 (target, pred): (0,0) (0,2) (0,1) (1,1) (1,1) (1,1)
HAND_TARGET = np.array([[0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 1]])
HAND_PRED = np.array([[0, 1, 1, 1, 2, 0], [0, 2, 1, 1, 1, 1]])
HAND_C = 4
# hand-counted per (sample, class): tp, fp, fn, tn
HAND_STATS = np.array([
    [[1, 1, 1, 3], [2, 1, 0, 3], [1, 0, 1, 4], [0, 0, 0, 6]],
    [[1, 0, 2, 3], [3, 1, 0, 2], [0, 1, 0, 5], [0, 0, 0, 6]],
], dtype=float)


def _div(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, np.nan, a / np.where(b == 0, 1, b))


def ref_metric(name, tp, fp, fn, tn, alpha=0.3, beta=0.7, fbeta=1.0):
    """Per-class values with NaN where the denominator is zero (plain NumPy, written here
    independently of ``regionloss._formulas``)."""
    if name == "dice":
        return _div(2 * tp, 2 * tp + fp + fn)
    if name == "iou":
        return _div(tp, tp + fp + fn)
    if name == "tversky":
        return _div(tp, tp + alpha * fp + beta * fn)
    if name == "precision":
        return _div(tp, tp + fp)
    if name == "recall":
        return _div(tp, tp + fn)
    if name == "specificity":
        return _div(tn, tn + fp)
    if name == "accuracy":
        return _div(tp + tn, tp + fp + fn + tn)
    if name == "balanced_accuracy":
        return (_div(tp, tp + fn) + _div(tn, tn + fp)) / 2
    if name == "fbeta":
        b2 = fbeta**2
        return _div((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp)
    if name == "mcc":
        return _div(tp * tn - fp * fn, np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))
    if name == "npv":
        return _div(tn, tn + fn)
    if name == "fpr":
        return _div(fp, fp + tn)
    if name == "fnr":
        return _div(fn, fn + tp)
    if name == "fdr":
        return _div(fp, fp + tp)
    if name == "for":
        return _div(fn, fn + tn)
    if name == "informedness":
        return _div(tp, tp + fn) + _div(tn, tn + fp) - 1
    if name == "markedness":
        return _div(tp, tp + fp) + _div(tn, tn + fn) - 1
    if name == "fowlkes_mallows":
        return _div(tp, np.sqrt((tp + fp) * (tp + fn)))
    if name == "prevalence_threshold":
        tpr, fpr = _div(tp, tp + fn), _div(fp, fp + tn)
        return _div(np.sqrt(tpr * fpr) - fpr, tpr - fpr)
    raise AssertionError(name)


def nanmean_ref(x, axis):
    """NaN-aware mean in plain NumPy: NaN where every value is NaN (no warning)."""
    x = np.asarray(x, dtype=float)
    n = np.sum(~np.isnan(x), axis=axis)
    s = np.nansum(x, axis=axis)
    return np.where(n == 0, np.nan, s / np.maximum(n, 1))


def metric_functions() -> dict:
    """The public metric functions the table-driven tests run, by metric name."""
    import regionloss as rl

    return {
        "dice": rl.dice_score, "iou": rl.iou_score, "tversky": rl.tversky_score,
        "precision": rl.precision, "recall": rl.recall, "specificity": rl.specificity,
        "accuracy": rl.accuracy, "balanced_accuracy": rl.balanced_accuracy,
        "fbeta": rl.fbeta_score, "mcc": rl.matthews_corrcoef,
    }


def label_map_cases():
    """Hypothesis strategy: ``(n, size, classes, seed)`` for :func:`label_maps_of`."""
    from hypothesis import strategies as st

    return st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(2, 5),
                     st.integers(0, 2**16))


def label_maps_of(params):
    """``(pred, target, classes)``: random label maps (n, size, size) that agree on about
    half of the pixels."""
    n, size, classes, seed = params
    rng = np.random.default_rng(seed)
    target = rng.integers(0, classes, (n, size, size))
    pred = np.where(rng.random(target.shape) < 0.5, target,
                    rng.integers(0, classes, target.shape))
    return pred, target, classes
