"""Soft statistics from logits and integer labels in one CuPy kernel (``_kernels.fused_cupy``).

* **CPU emulation** (``_cuda_emulation``): the CUDA kernel compiled by g++ behind the shim,
  the module's glue on NumPy standing in for CuPy, against a float64 NumPy reference:
  softmax / sigmoid x channels-last / channels-first x per sample / pooled x uint8 /
  int32 / int64 labels (every other integer dtype once) x ``ignore_index`` None / 255 /
  a class id x no weight / per-pixel weight / broadcast mask x C in {1 (sigmoid), 2, 4,
  19, 64}; pixel counts no multiple of the tile, NaN and inf logits wherever a pixel is
  ignored or weighted 0, labels out of range; float64 logits; more samples than grid rows,
  several tiles per block; a shared-memory overrun is caught.
* **The loss path** with the fused statistics (emulated): losses equal the probabilities
  -> ``soft_sums`` path (itself on the emulated CuPy kernel), and the fused path was taken
  exactly where it applies.
* **Pure logic**: plans (what is declined), launch shapes, names; the dispatcher returns
  None off CuPy and for what the kernel does not cover.
* **On a GPU** (``on_device``; skipped elsewhere): the real kernel against the reference and
  against the previous CuPy path, and the CuPy losses with and without it.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import types

import array_api_compat
import numpy as np
import pytest

import regionloss
from regionloss._kernels import counting_cupy as CC
from regionloss._kernels import fused_cupy as F
from regionloss._kernels import sums as S

from ._cuda_emulation import CUPY_REASON, fake_cupy, have_cxx

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

needs_cupy = pytest.mark.skipif(CUPY_REASON is not None, reason=CUPY_REASON or "")

LABEL_DTYPES = [np.uint8, np.int32, np.int64]
OTHER_LABEL_DTYPES = [np.bool_, np.int8, np.int16, np.uint16, np.uint32, np.uint64]


# --------------------------------------------------------------------------- reference


def _matches(labels, value):
    """``labels == value``, all False when the dtype cannot hold ``value``."""
    if value is None:
        return np.zeros(labels.shape, bool)
    if labels.dtype == np.bool_:
        lo, hi = 0, 1
    else:
        info = np.iinfo(labels.dtype)
        lo, hi = int(info.min), int(info.max)
    if not lo <= value <= hi:
        return np.zeros(labels.shape, bool)
    return labels == labels.dtype.type(value)


def reference(logits, labels, weight, *, activation, per_sample, ignore_index):
    """``(Σ w·p·y, Σ w·p, Σ w·y)`` in float64; ``logits`` channels-last ``(N, ..., C)``,
    ``labels`` ``(N, ...)``, ``weight`` the per-pixel weights ``(N, ...)`` or None."""
    x = np.asarray(logits, np.float64)
    C = x.shape[-1]
    w = np.ones(labels.shape) if weight is None else np.asarray(weight, np.float64)
    keep = (w > 0) & ~_matches(labels, ignore_index)
    x = np.where(keep[..., None], x, 0.0)       # nothing of a skipped pixel's logits
    if activation == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        p = e / e.sum(axis=-1, keepdims=True)
    else:
        p = np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))),
                     np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))
    if C == 1:
        cls = np.where(_matches(labels, 1), 0, -1)
    else:
        wide = labels.astype(object)
        in_range = (wide >= 0) & (wide < C)
        cls = np.where(in_range, wide, -1).astype(np.int64)
    y = (cls[..., None] == np.arange(C)).astype(np.float64)
    wk = np.where(keep, w, 0.0)[..., None]
    p = np.where(keep[..., None], p, 0.0)
    axes = tuple(range(1, x.ndim - 1)) if per_sample else tuple(range(x.ndim - 1))
    return np.sum(wk * p * y, axis=axes), np.sum(wk * p, axis=axes), np.sum(wk * y, axis=axes)


def make_case(rng, N, spatial, C, label_dtype, *, ignore_index, weight_kind,
              dtype=np.float32, bad_labels=True):
    """``(logits (N, *spatial, C), labels (N, *spatial), weight, pixel_weight)``.

    ``weight`` is what a caller passes (class axis last, size 1: ``(N, *spatial, 1)`` for
    'pixel', ``(*spatial, 1)`` 0/1 for 'mask', None); ``pixel_weight`` is it broadcast to
    the label shape. Logits are NaN, +inf or -inf wherever a pixel is ignored or weighted
    0; some labels lie outside ``[0, C)``.
    """
    sp = (N,) + tuple(spatial)
    label_dtype = np.dtype(label_dtype)
    logits = rng.standard_normal(sp + (C,)) * 3
    # some pixels with logits far beyond exp's float32 range (softmax needs its max shift)
    logits = np.where(rng.random(sp + (1,)) < 0.1, logits * 60, logits).astype(dtype)
    if label_dtype == np.bool_:
        labels = rng.integers(0, 2, sp).astype(bool)
    else:
        info = np.iinfo(label_dtype)
        labels = rng.integers(0, 2 if C == 1 else C, sp).astype(object)
        if bad_labels:
            extremes = [v for v in (C, C + 1, 77, -1, -100, int(info.max), int(info.min),
                                    2**63 - 1, 2**64 - 1)
                        if info.min <= v <= info.max and v != ignore_index]
            odd = rng.random(sp) < 0.08
            labels[odd] = rng.choice(np.array(extremes, dtype=object), int(odd.sum()))
        if ignore_index is not None and info.min <= ignore_index <= info.max:
            labels[rng.random(sp) < 0.15] = ignore_index
        labels = np.array(labels.tolist(), dtype=object).astype(label_dtype)
    if weight_kind is None:
        weight = pixel = None
    elif weight_kind == "pixel":
        weight = (rng.random(sp + (1,)) * (rng.random(sp + (1,)) < 0.7)).astype(dtype)
        pixel = weight[..., 0]
    else:   # one 0/1 mask for every sample, without the sample axis
        weight = (rng.random(tuple(spatial) + (1,)) < 0.7).astype(dtype)
        pixel = np.broadcast_to(weight[..., 0], sp)
    skipped = _matches(labels, ignore_index)
    if pixel is not None:
        skipped = skipped | (pixel == 0)
    poison = np.array([np.nan, np.inf, -np.inf], dtype)[rng.integers(0, 3, sp + (C,))]
    logits = np.where(skipped[..., None] & (rng.random(sp + (C,)) < 0.7), poison, logits)
    return logits.astype(dtype), labels, weight, pixel


def to_layout(logits, labels, weight, layout, *, label_class_axis=False):
    """The arrays a caller passes for ``layout`` ('last' or 'first'): ``(logits, labels,
    weight, class_axis)``; labels with a size-1 class axis when asked."""
    if layout == "last":
        lab = labels[..., None] if label_class_axis else labels
        return logits, lab, weight, logits.ndim - 1
    x = np.ascontiguousarray(np.moveaxis(logits, -1, 1))
    lab = labels[:, None] if label_class_axis else labels
    w = None
    if weight is not None:
        w = np.ascontiguousarray(np.moveaxis(weight, -1, 0 if weight.ndim < logits.ndim else 1))
    return x, lab, w, 1


def sum_axes_for(ndim, class_axis, per_sample):
    return tuple(a for a in range(ndim) if a != class_axis and (a != 0 or not per_sample))


def check(got, want, dtype=np.float32):
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    for g, e in zip(got, want):
        assert g.dtype == dtype and g.shape == e.shape, (g.dtype, g.shape, e.shape)
        assert np.all(np.isfinite(g))
        np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol)


# --------------------------------------------------------------------------- emulation


@pytest.fixture
def fused_on_cpu(monkeypatch):
    """``fused_cupy`` with NumPy arrays and the emulated CUDA kernel (one multiprocessor)."""
    if not have_cxx():
        pytest.skip("no host C++ compiler (g++) to emulate the CUDA kernel")
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(sms=1))
    monkeypatch.setattr(F, "_KERNELS", {})
    monkeypatch.setattr(CC, "_DEVICE_SMS", {})
    return F


def _emu_cases():
    cases = []
    for activation, layout, C, ld in itertools.product(
            ("softmax", "sigmoid"), ("last", "first"), (1, 2, 4, 19, 64), LABEL_DTYPES):
        if activation == "softmax" and C == 1:
            continue
        cases.append((activation, layout, C, ld))
    return cases


SPATIAL = [(5, 7), (3, 13), (37,)]      # 35, 39, 37 pixels: no multiple of any tile


@pytest.mark.parametrize("activation,layout,C,label_dtype", _emu_cases())
def test_emulated_kernel_matches_reference(fused_on_cpu, activation, layout, C, label_dtype):
    seed = hash((activation, layout, C, np.dtype(label_dtype).name)) % 2**32
    rng = np.random.default_rng(seed)
    class_id = 1 if C <= 2 else C // 2
    combos = itertools.product((None, 255, class_id), (None, "pixel", "mask"))
    for i, (ignore_index, weight_kind) in enumerate(combos):
        logits, labels, weight, pixel = make_case(
            rng, 3, SPATIAL[i % 3], C, label_dtype, ignore_index=ignore_index,
            weight_kind=weight_kind)
        x, lab, w, class_axis = to_layout(logits, labels, weight, layout,
                                          label_class_axis=i % 2 == 1)
        for per_sample in (True, False):
            axes = sum_axes_for(x.ndim, class_axis, per_sample)
            got = F.soft_stats_from_logits(
                x, lab, w, class_axis=class_axis, activation=activation, num_classes=C,
                sum_axes=axes, ignore_index=ignore_index, threads=32,
                blocks=None if per_sample else 2)
            want = reference(logits, labels, pixel, activation=activation,
                             per_sample=per_sample, ignore_index=ignore_index)
            check(got, want)


@pytest.mark.parametrize("activation,layout,C,label_dtype", [
    ("softmax", "last", 64, np.int64), ("softmax", "first", 64, np.int32),
    ("sigmoid", "last", 4, np.uint8), ("softmax", "first", 3, np.int64),
    ("sigmoid", "first", 1, np.int64)])
def test_emulated_float64(fused_on_cpu, activation, layout, C, label_dtype):
    """float64 logits: float64 probabilities and results (the reference to 1e-12)."""
    rng = np.random.default_rng(C)
    for ignore_index, weight_kind in ((None, None), (255, "pixel"), (0, "mask")):
        logits, labels, weight, pixel = make_case(rng, 2, (6, 7), C, label_dtype,
                                                  ignore_index=ignore_index,
                                                  weight_kind=weight_kind, dtype=np.float64)
        x, lab, w, class_axis = to_layout(logits, labels, weight, layout)
        for per_sample in (True, False):
            got = F.soft_stats_from_logits(
                x, lab, w, class_axis=class_axis, activation=activation, num_classes=C,
                sum_axes=sum_axes_for(x.ndim, class_axis, per_sample),
                ignore_index=ignore_index, threads=64)
            check(got, reference(logits, labels, pixel, activation=activation,
                                 per_sample=per_sample, ignore_index=ignore_index),
                  dtype=np.float64)


@pytest.mark.parametrize("label_dtype", OTHER_LABEL_DTYPES)
def test_emulated_other_label_dtypes(fused_on_cpu, label_dtype):
    """Every integer dtype, with its extreme values (2**64 - 1 is out of range, never -1
    or a class), and ignore_index values the dtype cannot hold (they match nothing)."""
    rng = np.random.default_rng(np.dtype(label_dtype).itemsize)
    for layout, C, ignore_index in (("last", 4, 255), ("first", 3, -1), ("last", 2, 300),
                                    ("first", 1, 1)):
        activation = "sigmoid" if C == 1 else "softmax"
        logits, labels, weight, pixel = make_case(rng, 2, (5, 9), C, label_dtype,
                                                  ignore_index=ignore_index,
                                                  weight_kind="pixel")
        x, lab, w, class_axis = to_layout(logits, labels, weight, layout)
        for per_sample in (True, False):
            got = F.soft_stats_from_logits(
                x, lab, w, class_axis=class_axis, activation=activation, num_classes=C,
                sum_axes=sum_axes_for(x.ndim, class_axis, per_sample),
                ignore_index=ignore_index, threads=32)
            check(got, reference(logits, labels, pixel, activation=activation,
                                 per_sample=per_sample, ignore_index=ignore_index))


@pytest.mark.parametrize("layout", ["last", "first"])
@pytest.mark.parametrize("C", [3, 19])
def test_emulated_sample_loop_and_tiles(fused_on_cpu, layout, C):
    """More samples than grid rows (the kernel's sample loop), several tiles per block,
    blocks with no tile of a sample, and the default launch shape."""
    rng = np.random.default_rng(40 + C)
    logits, labels, weight, pixel = make_case(rng, 5, (9, 13), C, np.int32,
                                              ignore_index=255, weight_kind="pixel")
    x, lab, w, class_axis = to_layout(logits, labels, weight, layout)
    want = reference(logits, labels, pixel, activation="softmax", per_sample=True,
                     ignore_index=255)
    n, M = 5, 9 * 13
    kernel = F._kernel(F.fused_kernel_name(np.float32, np.int32, C, "softmax", layout))
    nt = 32
    for gx in (1, 2, 7):            # 117 pixels: 4 tiles of 32
        grid = (gx, 2)
        part = np.zeros((n, 3, C, gx), np.float64)
        kernel(grid, (nt,), (x, np.ascontiguousarray(labels).reshape(n, M),
                             np.ascontiguousarray(np.broadcast_to(pixel, labels.shape)
                                                  ).reshape(n, M).astype(np.float32),
                             np.int64(n), np.int64(M), np.int32(C), np.int32(1), np.int32(1),
                             np.int64(255), part),
               shared_mem=F._smem_bytes(nt, C, 4))
        sums = part.sum(axis=-1)
        for k in range(3):
            np.testing.assert_allclose(sums[:, k], want[k], rtol=2e-5, atol=2e-5)
    got = F.soft_stats_from_logits(x, lab, w, class_axis=class_axis, activation="softmax",
                                   num_classes=C, sum_axes=sum_axes_for(x.ndim, class_axis,
                                                                        True),
                                   ignore_index=255)
    check(got, want)


def test_emulated_overrun_is_caught(fused_on_cpu):
    """The emulator's guard: a launch with less shared memory than the kernel's layout
    needs fails (so the layout computed in Python is the one the kernel uses)."""
    rng = np.random.default_rng(3)
    logits, labels, _, _ = make_case(rng, 1, (40,), 4, np.int64, ignore_index=None,
                                     weight_kind=None)
    kernel = F._kernel(F.fused_kernel_name(np.float32, np.int64, 4, "softmax", "last"))
    part = np.zeros((1, 3, 4, 1), np.float64)
    args = (logits, labels.reshape(1, 40), logits, np.int64(1), np.int64(40), np.int32(4),
            np.int32(0), np.int32(0), np.int64(0), part)
    kernel((1, 1), (32,), args, shared_mem=F._smem_bytes(32, 4, 4))     # fits
    with pytest.raises(AssertionError, match="shared memory"):
        kernel((1, 1), (32,), args, shared_mem=F._smem_bytes(32, 4, 4) - 64)


def test_emulated_noncontiguous_and_empty(fused_on_cpu):
    rng = np.random.default_rng(5)
    logits, labels, weight, pixel = make_case(rng, 2, (8, 10), 4, np.int64, ignore_index=0,
                                              weight_kind="pixel")
    xv, lv, wv = logits[:, ::2, 1::3], labels[:, ::2, 1::3], weight[:, ::2, 1::3]
    assert not xv.flags.c_contiguous
    got = F.soft_stats_from_logits(xv, lv, wv, class_axis=-1, activation="softmax",
                                   num_classes=4, sum_axes=(1, 2), ignore_index=0, threads=32)
    check(got, reference(xv, lv, pixel[:, ::2, 1::3], activation="softmax", per_sample=True,
                         ignore_index=0))
    for shape, axes, out in (((0, 5, 4), (1,), (0, 4)), ((0, 5, 4), (0, 1), (4,)),
                             ((2, 0, 3), (1,), (2, 3)), ((2, 4, 0, 3), (0, 2, 3), (4,))):
        class_axis = 1 if len(shape) == 4 else -1
        x = np.zeros(shape, np.float32)
        lab = np.zeros(tuple(s for i, s in enumerate(shape) if i != class_axis % len(shape)),
                       np.int32)
        got = F.soft_stats_from_logits(x, lab, None, class_axis=class_axis,
                                       activation="softmax",
                                       num_classes=shape[class_axis], sum_axes=axes)
        for g in got:
            assert g.shape == out and g.dtype == np.float32 and not np.any(g)


# --------------------------------------------------------------------------- the loss path


@pytest.fixture
def loss_path_on_cpu(fused_on_cpu, monkeypatch):
    """The loss path on NumPy arrays as if they were CuPy's: the dispatcher (and
    ``soft_sums``) take their CuPy branches, whose kernels run emulated. Returns the list
    of the fused kernel's calls."""
    fake = types.ModuleType("array_api_compat_for_tests")
    fake.__dict__.update(vars(array_api_compat))
    fake.is_cupy_array = lambda x: isinstance(x, np.ndarray)
    monkeypatch.setattr(S, "aac", fake)
    monkeypatch.setattr(S, "_KERNELS", {})
    monkeypatch.setattr(CC, "_DEVICE_SMS", {})
    monkeypatch.setattr(S, "_ROW_THREADS", 64)
    monkeypatch.setattr(S, "_SEGMENT_THREADS", 32)
    calls = []
    real = F.soft_stats_from_logits

    def spy(*args, **kwargs):
        calls.append(kwargs["activation"])
        return real(*args, threads=32, **kwargs)

    monkeypatch.setattr(F, "soft_stats_from_logits", spy)
    return calls


LOSS_CASES = [
    ("dice_loss", dict()),
    ("dice_loss", dict(class_axis=1)),
    ("dice_loss", dict(per_sample=False, ignore_index=255)),
    ("dice_loss", dict(class_axis=1, ignore_index=0, mask=True)),
    ("dice_loss", dict(activation="sigmoid", mask=True, per_sample=False)),
    ("dice_loss", dict(class_axis=None, activation="sigmoid")),
    ("dice_loss", dict(include_background=False, reduction="none")),
    ("jaccard_loss", dict(ignore_index=255)),
    ("tversky_loss", dict(class_axis=1, per_sample=False)),
    ("focal_tversky_loss", dict(ignore_index=255, mask=True)),
    ("generalized_dice_loss", dict(class_axis=1)),
    ("dice_ce_loss", dict(ignore_index=255)),
]


def _loss_inputs(rng, kw, C=4):
    kw = dict(kw)
    N, H, W = 2, 9, 11
    binary = kw.get("class_axis", -1) is None
    C = 1 if binary else C
    labels = rng.integers(0, 2 if binary else C, (N, H, W)).astype(np.int64)
    ignore = kw.get("ignore_index")
    if ignore is not None:
        labels[rng.random(labels.shape) < 0.15] = ignore
    logits = (rng.standard_normal((N, H, W, C)) * 2).astype(np.float32)
    skipped = labels == ignore if ignore is not None else np.zeros(labels.shape, bool)
    if kw.pop("mask", False):
        mask = (rng.random((H, W)) < 0.7).astype(np.float32)
        kw["mask"] = mask
        skipped = skipped | (mask == 0)
    logits[skipped] = np.nan            # selection, not products, removes them
    if binary:
        logits = logits[..., 0]
    elif kw.get("class_axis") == 1:
        logits = np.ascontiguousarray(np.moveaxis(logits, -1, 1))
    return logits, labels, kw


@pytest.mark.parametrize("name,kw", LOSS_CASES)
def test_loss_path_fused_equals_previous_path(loss_path_on_cpu, monkeypatch, name, kw):
    rng = np.random.default_rng(len(name) + len(kw))
    logits, labels, kw = _loss_inputs(rng, kw)
    fn = getattr(regionloss, name)
    fused = fn(logits, labels, **kw)
    assert loss_path_on_cpu, "the fused statistics were not used"
    monkeypatch.setattr(S, "USE_FUSED_STATISTICS", False)
    n_calls = len(loss_path_on_cpu)
    previous = fn(logits, labels, **kw)
    assert len(loss_path_on_cpu) == n_calls
    assert fused.dtype == previous.dtype == np.float32
    assert np.all(np.isfinite(fused))
    np.testing.assert_allclose(fused, previous, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("kw", [dict(squared=True), dict(soft_labels=True),
                                dict(activation=None), dict(dense=True)])
def test_loss_path_keeps_previous_path_elsewhere(loss_path_on_cpu, kw):
    """Squared or soft-label statistics, probabilities and dense targets: no fused call."""
    rng = np.random.default_rng(9)
    logits, labels, _ = _loss_inputs(rng, {})
    kw = dict(kw)
    target = labels
    if kw.pop("dense", False):
        target = (labels[..., None] == np.arange(4)).astype(np.float32)
    if "activation" in kw:
        e = np.exp(logits - logits.max(-1, keepdims=True))
        logits = e / e.sum(-1, keepdims=True)
    value = regionloss.dice_loss(logits, target, **kw)
    assert np.isfinite(value)
    assert loss_path_on_cpu == []


# --------------------------------------------------------------------------- pure logic


def test_dispatcher_returns_none_off_cupy():
    x = np.zeros((2, 3, 4), np.float32)
    y = np.zeros((2, 3), np.int64)
    kw = dict(class_axis=-1, activation="softmax", num_classes=4, sum_axes=(1,))
    assert S.fused_soft_statistics(x, y, None, **kw) is None
    for mod in ("jax.numpy", "torch", "array_api_strict"):
        try:
            lib = __import__(mod, fromlist=["asarray"])
        except ImportError:
            continue
        to = lib.from_numpy if mod == "torch" else lib.asarray
        assert S.fused_soft_statistics(to(x), to(y), None, **kw) is None


def test_dispatcher_declines_what_the_kernel_does_not_cover(fused_on_cpu, monkeypatch):
    fake = types.ModuleType("array_api_compat_for_tests")
    fake.__dict__.update(vars(array_api_compat))
    fake.is_cupy_array = lambda x: isinstance(x, np.ndarray)
    monkeypatch.setattr(S, "aac", fake)
    x = np.zeros((2, 5, 6, 4), np.float32)
    y = np.zeros((2, 5, 6), np.int64)
    kw = dict(class_axis=-1, activation="softmax", num_classes=4, sum_axes=(1, 2))
    assert S.fused_soft_statistics(x, y, None, **kw) is not None      # covered
    declined = [
        (x.astype(np.float16), y, None, kw),                              # dtype
        (np.zeros((2, 3, 65), np.float32), np.zeros((2, 3), np.int64), None,
         dict(kw, num_classes=65, sum_axes=(1,))),                         # C > 64
        (x, y, None, dict(kw, sum_axes=(1,))),                             # odd axes
        (x, y, None, dict(kw, sum_axes=(0, 1, 2, 3))),                     # class summed
        (np.zeros((2, 5, 4, 6), np.float32), y, None,
         dict(kw, class_axis=2)),                                          # class axis 2
        (x, y, np.ones((2, 5, 6, 4), np.float32), kw),                     # per-class weight
        (x, y, None, dict(kw, activation=None)),                           # probabilities
        (x[..., :1], y, None, dict(kw, num_classes=1)),                    # softmax of 1
        (x, y.astype(np.float32), None, kw),                               # float labels
    ]
    for args in declined:
        a, b, w, k = args
        assert S.fused_soft_statistics(a, b, w, **k) is None, k
    monkeypatch.setattr(S, "USE_FUSED_STATISTICS", False)
    assert S.fused_soft_statistics(x, y, None, **kw) is None


def test_plan_errors_and_layouts():
    x = np.zeros((2, 5, 6, 4), np.float32)
    y = np.zeros((2, 5, 6), np.uint8)
    kw = dict(class_axis=-1, activation="softmax", num_classes=4)
    assert F.fused_plan(x, y, None, sum_axes=(1, 2), **kw) == ("last", 2, 30, 3, 4, True)
    assert F.fused_plan(x, y[..., None], None, sum_axes=(0, 1, 2), **kw) == (
        "last", 1, 60, 3, 4, False)
    xf = np.zeros((2, 4, 5, 6), np.float32)
    kf = dict(kw, class_axis=1)
    assert F.fused_plan(xf, y, None, sum_axes=(2, 3), **kf) == ("first", 2, 30, 1, 4, True)
    assert F.fused_plan(xf, y[:, None], np.zeros((5, 6)), sum_axes=(0, 2, 3), **kf) == (
        "first", 2, 30, 1, 4, False)
    assert F.fused_plan(np.zeros((3, 4)), np.zeros(3, int), None, sum_axes=(), **kw) == (
        "last", 3, 1, 1, 4, True)
    with pytest.raises(ValueError, match="num_classes"):
        F.fused_plan(x, y, None, sum_axes=(1, 2), **dict(kw, num_classes=5))
    with pytest.raises(ValueError, match="labels of shape"):
        F.fused_plan(x, y[:, :4], None, sum_axes=(1, 2), **kw)
    with pytest.raises(ValueError, match="broadcast"):
        F.fused_plan(x, y, np.zeros((3, 5, 6, 1)), sum_axes=(1, 2), **kw)
    with pytest.raises(TypeError):
        F.fused_plan(x, y, None, sum_axes=(1, 2), ignore_index=True, **kw)
    with pytest.raises(F.Unsupported):
        F.fused_plan(x, y, None, sum_axes=(1, 2), **dict(kw, activation="relu"))
    assert issubclass(F.Unsupported, ValueError)


def test_names_and_class_bound():
    assert [F.class_bound(c) for c in (1, 2, 3, 4, 5, 19, 32, 33, 64)] == [
        1, 2, 4, 4, 8, 32, 32, 64, 64]
    assert F.fused_kernel_name(np.float32, np.uint8, 19, "softmax", "last") == \
        "rl_fused_soft<float, unsigned char, 32, 0, 0>"
    assert F.fused_kernel_name(np.float64, np.int64, 1, "sigmoid", "first") == \
        "rl_fused_soft<double, long long, 1, 1, 1>"


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 200_000), pixels=st.integers(1, 2**40), C=st.integers(1, 64),
       itemsize=st.sampled_from([4, 8]), sms=st.integers(1, 200),
       threads=st.sampled_from([None, 1, 32, 64, 96, 100, 200, 256, 1000, 1024]),
       blocks=st.sampled_from([None, 1, 7, 100_000]))
def test_launch_shape_invariants(n, pixels, C, itemsize, sms, threads, blocks):
    (gx, gy), (nt,), smem = F.fused_launch(n, pixels, C, itemsize, sms=sms, threads=threads,
                                           blocks=blocks)
    assert F.class_bound(C) <= nt <= 1024 and nt >= C
    assert smem == F._smem_bytes(nt, C, itemsize) <= 48 * 1024
    assert 1 <= gy <= min(n, 65535)
    assert 1 <= gx <= max(1, -(-pixels // nt)) and gx < 2**31
    if threads is None:
        assert nt >= 64     # the default never starves a block of threads


def test_launch_shape_never_narrower_than_the_classes():
    # a thread count that is not the class bound times a power of two, halved for shared
    # memory, must stop at the bound (the kernel needs one thread per class)
    for threads in range(1, 1025):
        for C in (33, 50, 64):
            (_, _), (nt,), smem = F.fused_launch(4, 10_000, C, 8, sms=132, threads=threads)
            assert nt >= F.class_bound(C) and smem <= 48 * 1024, (threads, C, nt)
    for bad in (0, 1025, -3):
        with pytest.raises(ValueError, match=r"threads must be in \[1, 1024\]"):
            F.fused_launch(1, 100, 4, 4, sms=1, threads=bad)
    for bad in (2.5, True):
        with pytest.raises(TypeError):
            F.fused_launch(1, 100, 4, 4, sms=1, threads=bad)


def test_kernel_thread_limit_reads_both_cupy_spellings():
    class Method:
        def max_threads_per_block(self):
            return 384

    class Attribute:
        max_threads_per_block = 640

    assert CC.kernel_thread_limit(Method()) == 384
    assert CC.kernel_thread_limit(Attribute()) == 640
    assert CC.kernel_thread_limit(object()) == 1024


def test_emulated_launch_respects_the_kernel_thread_limit(fused_on_cpu, monkeypatch):
    # a kernel whose registers allow fewer threads than asked: the launch shrinks to fit
    # (the emulator refuses a block above the limit) and the sums do not change
    from . import _cuda_emulation as E

    monkeypatch.setattr(E.EmulatedFunction, "max_threads_per_block", lambda self: 64)
    rng = np.random.default_rng(5)
    # 1600 pixels a sample: the smaller blocks make a wider grid than the first shape
    logits, labels, weight, pixel = make_case(rng, 2, (40, 40), 4, np.int64,
                                              ignore_index=None, weight_kind=None)
    axes = sum_axes_for(logits.ndim, logits.ndim - 1, True)
    got = F.soft_stats_from_logits(logits, labels, None, class_axis=-1, activation="softmax",
                                   num_classes=4, sum_axes=axes, ignore_index=None,
                                   threads=1024)
    want = reference(logits, labels, pixel, activation="softmax", per_sample=True,
                     ignore_index=None)
    check(got, want)


def test_module_imports_without_cupy():
    code = ("import sys; sys.modules['cupy'] = None\n"
            "from regionloss._kernels import fused_cupy, sums\n"
            "import numpy as np\n"
            "try:\n"
            "    fused_cupy.soft_stats_from_logits(np.zeros((2, 3), np.float32), "
            "np.zeros(2, int), None, class_axis=1, activation='softmax', num_classes=3, "
            "sum_axes=())\n"
            "except ImportError:\n"
            "    print('needs cupy')\n")
    env = dict(os.environ)
    src = os.path.dirname(os.path.dirname(os.path.dirname(F.__file__)))
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    assert out.stdout.strip() == "needs cupy"


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
def test_fused_instantiations_compile_with_nvcc(tmp_path):
    names = [F.fused_kernel_name(dt, ld, C, act, layout)
             for dt in (np.float32, np.float64) for ld in (np.uint8, np.int32, np.int64)
             for C in (1, 4, 64) for act in ("softmax", "sigmoid") for layout in ("last", "first")
             if not (act == "softmax" and C == 1)]
    refs = ",\n".join(f"    (void*)&{n}" for n in names)
    src = tmp_path / "fused.cu"
    src.write_text(F.FUSED_SOURCE + f"\nvoid* rl_all[] = {{\n{refs}\n}};\n")
    out = subprocess.run(["nvcc", "-std=c++17", "-arch=sm_90", "-cubin", "-Werror",
                          "all-warnings", "-o", str(tmp_path / "fused.cubin"), str(src)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-4000:]


# --------------------------------------------------------------------------- on a GPU
# (test names carry "on_device": benchmarks/gpu_check.sh selects them with -k on_device)


def _previous_cupy_path(x, lab, w, class_axis, activation, C, axes, ignore_index):
    """Probabilities, one-hot and weights as the loss path builds them, then soft_sums."""
    import array_api_compat.cupy as xp
    import cupy

    from regionloss._kernels.activations import activate

    nd = x.ndim
    labels = lab if lab.ndim == nd else cupy.expand_dims(lab, class_axis)
    keep = cupy.ones(labels.shape, bool)
    if ignore_index is not None:
        keep = ~cupy.asarray(_matches(cupy.asnumpy(labels), ignore_index))
    weight = None
    if w is not None:
        ww = w.reshape((1,) * (nd - w.ndim) + tuple(w.shape))
        keep &= ww > 0
        weight = cupy.where(keep, ww, 0).astype(x.dtype)
    elif ignore_index is not None:
        weight = keep.astype(x.dtype)
    xs = cupy.where(keep, x, 0) if weight is not None else x
    p = activate(xp, xs, activation, class_axis)
    shape = [1] * nd
    shape[class_axis] = C
    if C == 1:
        y = (labels == 1).astype(x.dtype)
    else:
        y = (labels == cupy.arange(C).reshape(shape)).astype(x.dtype)
    if weight is not None:
        p = cupy.where(keep, p, 0)
        y = cupy.where(keep, y, 0)
    return S.soft_sums(p, y, weight, sum_axes=axes, selected=True)


def _device_cases():
    cases = []
    for activation, layout, C in itertools.product(("softmax", "sigmoid"), ("last", "first"),
                                                   (1, 2, 4, 19, 64)):
        if activation == "softmax" and C == 1:
            continue
        cases.append((activation, layout, C, np.int64))
    for ld in (np.uint8, np.int32):
        for layout in ("last", "first"):
            cases.append(("softmax", layout, 4, ld))
            cases.append(("sigmoid", layout, 19, ld))
    return cases


@needs_cupy
@pytest.mark.parametrize("activation,layout,C,label_dtype", _device_cases())
def test_fused_kernel_matches_reference_on_device(activation, layout, C, label_dtype):
    import cupy

    rng = np.random.default_rng(hash((activation, layout, C)) % 2**32)
    class_id = 1 if C <= 2 else C // 2
    for i, (ignore_index, weight_kind) in enumerate(itertools.product(
            (None, 255, class_id), (None, "pixel", "mask"))):
        logits, labels, weight, pixel = make_case(
            rng, 3, ((37, 29), (41,), (7, 5, 9))[i % 3], C, label_dtype,
            ignore_index=ignore_index, weight_kind=weight_kind)
        x, lab, w, class_axis = to_layout(logits, labels, weight, layout,
                                          label_class_axis=i % 2 == 1)
        dx, dl = cupy.asarray(x), cupy.asarray(lab)
        dw = None if w is None else cupy.asarray(w)
        for per_sample in (True, False):
            axes = sum_axes_for(x.ndim, class_axis, per_sample)
            got = F.soft_stats_from_logits(dx, dl, dw, class_axis=class_axis,
                                           activation=activation, num_classes=C,
                                           sum_axes=axes, ignore_index=ignore_index)
            assert all(isinstance(g, cupy.ndarray) for g in got)
            check([cupy.asnumpy(g) for g in got],
                  reference(logits, labels, pixel, activation=activation,
                            per_sample=per_sample, ignore_index=ignore_index))
            # the previous path: probabilities, one-hot (all 0 for labels out of range)
            prev = _previous_cupy_path(dx, dl, dw, class_axis, activation, C, axes,
                                       ignore_index)
            for g, e in zip(got, prev):
                np.testing.assert_allclose(cupy.asnumpy(g), cupy.asnumpy(e), rtol=2e-5,
                                           atol=2e-5)


@needs_cupy
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_kernel_large_on_device(dtype):
    """(4, 256, 256, 4) and its channels-first copy: many blocks and tiles, NaN logits at
    ignored pixels, against the previous CuPy path and the reference; launch shapes."""
    import cupy

    rng = np.random.default_rng(8)
    logits, labels, weight, pixel = make_case(rng, 4, (256, 256), 4, np.int64,
                                              ignore_index=255, weight_kind="pixel",
                                              dtype=dtype, bad_labels=False)
    for layout in ("last", "first"):
        x, lab, w, class_axis = to_layout(logits, labels, weight, layout)
        dx, dl, dw = cupy.asarray(x), cupy.asarray(lab), cupy.asarray(w)
        for per_sample in (True, False):
            axes = sum_axes_for(x.ndim, class_axis, per_sample)
            want = reference(logits, labels, pixel, activation="softmax",
                             per_sample=per_sample, ignore_index=255)
            prev = _previous_cupy_path(dx, dl, dw, class_axis, "softmax", 4, axes, 255)
            for threads, blocks in ((None, None), (64, 1), (1024, 5000), (128, 33)):
                got = F.soft_stats_from_logits(dx, dl, dw, class_axis=class_axis,
                                               activation="softmax", num_classes=4,
                                               sum_axes=axes, ignore_index=255,
                                               threads=threads, blocks=blocks)
                check([cupy.asnumpy(g) for g in got], want, dtype=np.dtype(dtype))
                for g, e in zip(got, prev):
                    np.testing.assert_allclose(cupy.asnumpy(g), cupy.asnumpy(e), rtol=1e-5)


@needs_cupy
@pytest.mark.parametrize("name,kw", LOSS_CASES)
def test_fused_losses_match_previous_path_on_device(name, kw, monkeypatch):
    import cupy

    rng = np.random.default_rng(len(name) * 7 + len(kw))
    logits, labels, kw = _loss_inputs(rng, kw)
    fn = getattr(regionloss, name)
    dkw = {k: (cupy.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    calls = []
    real = F.soft_stats_from_logits
    monkeypatch.setattr(F, "soft_stats_from_logits",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    fused = fn(cupy.asarray(logits), cupy.asarray(labels), **dkw)
    assert calls, "the fused statistics were not used"
    assert isinstance(fused, cupy.ndarray)
    monkeypatch.setattr(S, "USE_FUSED_STATISTICS", False)
    previous = fn(cupy.asarray(logits), cupy.asarray(labels), **dkw)
    host = fn(logits, labels, **kw)
    assert fused.dtype == previous.dtype == host.dtype
    assert bool(cupy.all(cupy.isfinite(fused)))
    np.testing.assert_allclose(cupy.asnumpy(fused), cupy.asnumpy(previous), rtol=2e-5,
                               atol=1e-6)
    np.testing.assert_allclose(cupy.asnumpy(fused), host, rtol=2e-5, atol=1e-6)
