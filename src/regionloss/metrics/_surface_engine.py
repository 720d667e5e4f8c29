"""The engine of the boundary metrics: one distance transform per mask for every metric asked.

:func:`run` validates the options shared by every boundary metric and computes each
requested :class:`Spec` per (sample, class) on the bounding box of the two masks, through
the kernel layer (:mod:`regionloss._kernels.surface`: SciPy on NumPy, ``cupyx.scipy`` on
CuPy). The public functions are in :mod:`regionloss.metrics.surface`.
"""

from __future__ import annotations

import math

import numpy as np

from .._kernels import surface as _k
from .._kernels.arrays import namespace
from .._reduce import nanmean
from .._validate import (
    check_bool,
    check_ignore_index,
    check_int,
    check_label_range,
    check_real,
    check_spacing,
    check_zero_division,
    equal_label,
)
from .confusion import check_label_maps

__all__ = ["Spec", "run", "finish", "check_num_classes"]


def check_num_classes(num_classes, include_background: bool) -> int:
    """``num_classes`` as an int >= 1 (>= 2 without the background)."""
    num_classes = check_int("num_classes", num_classes, minimum=1)
    if not include_background and num_classes < 2:
        raise ValueError(
            f"include_background=False drops class 0, which leaves no class with "
            f"num_classes={num_classes}")
    return num_classes


def _check_arrays(pred, target, ignore_index):
    """Namespace, dtype and shape checks from metadata only; NumPy arrays next to another
    library's are converted to it. Returns ``(pred, target)``."""
    _, pred, target, _, _ = check_label_maps(pred, target, num_classes=1,
                                             ignore_index=ignore_index, per_sample=True)
    if pred.ndim not in (3, 4):
        raise ValueError(
            "pred and target must be label maps with a sample axis 0 and 2 or 3 spatial "
            f"axes, (N, H, W) or (N, D, H, W); got shape {tuple(pred.shape)} "
            "(add a sample axis for a single image: x[None])")
    return pred, target


class Spec:
    """One requested metric: what to compute from the two directed distance arrays."""

    __slots__ = ("kind", "q", "mode", "tolerance")

    def __init__(self, kind, *, q=None, mode=None, tolerance=None):
        self.kind = kind            # "hd", "asd" or "nsd"
        self.q = q                  # percentile (hd)
        self.mode = mode            # hd: max / pooled / directed; asd: pooled / mean / directed
        self.tolerance = tolerance  # per class id (nsd)

    def one_empty_value(self, empty_distance: float) -> float:
        """The value when exactly one of the two masks is empty."""
        return 0.0 if self.kind == "nsd" else empty_distance

    def value(self, mod, d_pred, d_target, cls: int):
        """The metric from the directed distances (both non-empty arrays)."""
        if self.kind == "hd":
            if self.mode == "directed":
                return _k.percentile(mod, d_pred, self.q)
            if self.mode == "max":
                return mod.maximum(_k.percentile(mod, d_pred, self.q),
                                   _k.percentile(mod, d_target, self.q))
            return _k.percentile(mod, mod.concatenate((d_pred, d_target)), self.q)
        if self.kind == "asd":
            if self.mode == "directed":
                return mod.mean(d_pred)
            if self.mode == "mean":
                return (mod.mean(d_pred) + mod.mean(d_target)) / 2.0
            return (mod.sum(d_pred) + mod.sum(d_target)) / float(d_pred.size + d_target.size)
        tol = float(self.tolerance[cls])
        within = mod.count_nonzero(d_pred <= tol) + mod.count_nonzero(d_target <= tol)
        return within / float(d_pred.size + d_target.size)


def _compute(pred, target, *, num_classes, specs: dict, spacing, ignore_index,
             include_background, zero_division, empty_distance):
    """Every spec of ``specs`` as a (N, C or C-1) array of the kernel library (NumPy/CuPy)."""
    mod, p = _k.to_kernel(pred)
    _, t = _k.to_kernel(target)
    spatial_ndim = p.ndim - 1
    spacing = check_spacing(spacing, spatial_ndim) or (1.0,) * spatial_ndim
    check_label_range(p, t, num_classes=num_classes, ignore_index=ignore_index)
    valid = None if ignore_index is None else ~equal_label(namespace(t), t, ignore_index)
    boxes_p, has_p = _k.class_boxes(mod, p, valid, num_classes)
    boxes_t, has_t = _k.class_boxes(mod, t, valid, num_classes)

    classes = list(range(num_classes)) if include_background else list(range(1, num_classes))
    n_samples = p.shape[0]
    shape = (n_samples, len(classes))
    empty_distance = math.inf if empty_distance is None else empty_distance
    host = {name: np.full(shape, np.nan) for name in specs}
    computed = {name: [] for name in specs}  # (n, j, value) of the pairs with both masks
    for n in range(n_samples):
        for j, c in enumerate(classes):
            a, b = bool(has_p[n, c]), bool(has_t[n, c])
            if not a and not b:
                for name in specs:
                    host[name][n, j] = zero_division
                continue
            if a != b:
                for name, spec in specs.items():
                    host[name][n, j] = spec.one_empty_value(empty_distance)
                continue
            start = np.minimum(boxes_p[n, c, :, 0], boxes_t[n, c, :, 0])
            stop = np.maximum(boxes_p[n, c, :, 1], boxes_t[n, c, :, 1])
            box = (n,) + tuple(slice(int(s), int(e)) for s, e in zip(start, stop))
            pm = p[box] == c
            tm = t[box] == c
            if valid is not None:
                pm &= valid[box]
                tm &= valid[box]
            d_pred, d_target = _k.pair_surface_distances(mod, pm, tm, spacing)
            for name, spec in specs.items():
                computed[name].append((n, j, spec.value(mod, d_pred, d_target, c)))

    out = {}
    for name in specs:
        # one scatter of the computed pairs into the (N, C) array of the empty-pair values
        # (on CuPy: one host -> device copy of the small table, values stay on the GPU)
        arr = mod.asarray(host[name])
        if computed[name]:
            rows = mod.asarray([r[0] for r in computed[name]], dtype=mod.int64)
            cols = mod.asarray([r[1] for r in computed[name]], dtype=mod.int64)
            vals = mod.stack([mod.asarray(r[2], dtype=mod.float64) for r in computed[name]])
            arr[rows, cols] = vals
        out[name] = arr
    return mod, out


def _macro(values):
    """Mean over classes (NaN skipped, inf kept), then over samples (NaN skipped): 0-d.

    ``values`` is the (N, K) kernel result (NumPy or CuPy); the NaN-aware mean is the
    overlap metrics' own (:func:`regionloss._reduce.nanmean`), NaN where nothing is left.
    """
    xp = namespace(values)
    return nanmean(xp, nanmean(xp, values, -1), 0)


def run(pred, target, *, num_classes, specs, spacing, ignore_index, include_background,
         zero_division, empty_distance):
    """Validate the common options, compute every spec, return (kernel module, results)."""
    ignore_index = check_ignore_index(ignore_index)
    pred, target = _check_arrays(pred, target, ignore_index)
    include_background = check_bool("include_background", include_background)
    num_classes = check_num_classes(num_classes, include_background)
    zero_division = check_zero_division(zero_division)
    if empty_distance is not None:
        empty_distance = check_real("empty_distance", empty_distance, minimum=0.0,
                                    allow_nan=True, allow_inf=True)
    kwargs = dict(num_classes=num_classes, specs=specs, spacing=spacing,
                  ignore_index=ignore_index, include_background=include_background,
                  zero_division=zero_division, empty_distance=empty_distance)
    with _k.kernel_device(pred):
        mod, out = _compute(pred, target, **kwargs)
    return mod, out


def finish(mod, values, average, like):
    """Average as asked, then hand back in ``like``'s namespace and device, shape kept."""
    if average == "macro":
        values = _macro(values)
    return _k.from_kernel(mod, values, like)
