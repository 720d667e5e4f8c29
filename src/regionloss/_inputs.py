"""Validation and alignment of a loss call's ``(pred, target, mask, ignore_index)``.

Everything a loss receives passes through :func:`prepare` once, which

* checks shapes, dtypes and options and raises errors that name the argument and the
  shapes or values (value checks only on concrete arrays: never under ``jax.jit``);
* casts the prediction to its accumulation dtype (float32 for half precision);
* gives every array a class axis (``class_axis=None`` inserts one of size 1 at the end);
* turns an integer label map into a one-hot target and ``ignore_index``/``mask`` into one
  per-pixel weight, all without in-place writes or data-dependent shapes;
* removes weight-0 pixels by *selection*: the prediction and the target are set to 0 there
  with ``where``, so a NaN or infinite logit at an ignored pixel reaches no sum and no
  gradient (``0 * nan`` would be NaN);
* under ``jax.jit`` (labels that cannot be inspected), records whether a label lies outside
  ``[0, C)`` and is not ``ignore_index``: :meth:`LossInputs.poison` then makes the loss
  NaN, value and gradient, instead of a plausible number. Eager calls raise instead.

The activation is *not* applied here: distribution losses need log-probabilities, region
losses probabilities; :class:`LossInputs` carries the raw (cast) prediction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from array_api_compat import device as device_of

from ._kernels.arrays import common, comparable_labels, is_concrete, is_floating, to_float
from ._validate import (
    bad_labels_message,
    check_activation_channels,
    describe_bad_labels,
    equal_label,
    find_bad_labels,
    normalize_axis,
)

__all__ = ["LossInputs", "prepare", "check_probabilities"]


@dataclass(frozen=True)
class LossInputs:
    """A loss call's inputs, aligned.

    Attributes
    ----------
    xp : namespace
    pred : array
        The prediction cast to ``dtype``, with a class axis at ``class_axis``; 0 at
        weight-0 pixels.
    target : array
        Dense float target of ``pred``'s shape (one-hot for integer label maps), 0 at
        weight-0 pixels.
    labels : array or None
        The integer label map with a size-1 class axis (integer targets only).
    weight : array or None
        Per-pixel weight with a size-1 class axis (``ignore_index`` and ``mask`` merged),
        or None when every pixel counts fully.
    class_axis : int
        Non-negative position of the class axis in ``pred``.
    num_classes : int
        Size of the class axis (1 when the caller gave ``class_axis=None``).
    had_class_axis : bool
        False when the caller passed ``class_axis=None``.
    dtype : dtype
        The accumulation dtype (float32, or float64 for float64 predictions).
    spatial_axes : tuple of int
        Every axis of ``pred`` but the sample axis 0 and the class axis.
    invalid : 0-d bool array or None
        Traced label maps only: True when a label is out of range (the loss becomes NaN).
    mask_given : bool
        True when the caller passed ``mask``.
    """

    xp: Any
    pred: Any
    target: Any
    labels: Any
    weight: Any
    class_axis: int
    num_classes: int
    had_class_axis: bool
    dtype: Any
    spatial_axes: tuple = ()
    invalid: Any = None
    mask_given: bool = False

    def sum_axes(self, per_sample: bool) -> tuple[int, ...]:
        """Axes summed into statistics: spatial axes, plus the sample axis when pooling."""
        return self.spatial_axes if per_sample else (0,) + self.spatial_axes

    def poison(self, value):
        """``value``, or NaN (value and gradient) when traced labels were out of range."""
        if self.invalid is None:
            return value
        xp = self.xp
        one = xp.asarray(1.0, dtype=value.dtype, device=device_of(value))
        return value * xp.where(self.invalid, xp.asarray(math.nan, dtype=value.dtype,
                                                         device=device_of(value)), one)


def _shape_str(shape) -> str:
    return str(tuple(int(s) for s in shape))


def _concrete_range(xp, x):
    """``(min, max, all finite)`` of a concrete floating array as Python values, or None
    when ``x`` cannot be inspected (a JAX tracer, Dask) or is empty: checks are skipped.

    Two reductions: ``min`` and ``max`` propagate NaN (array API), and an infinity is
    the minimum or the maximum, so both are finite exactly when every element is.
    """
    if not is_concrete(x) or math.prod(x.shape) == 0:
        return None
    lo, hi = xp.min(x), xp.max(x)
    if not is_concrete(lo):  # a concrete constant inside jit still yields tracers
        return None
    lo, hi = float(lo), float(hi)
    return lo, hi, math.isfinite(lo) and math.isfinite(hi)


def check_probabilities(xp, pred, *, name: str = "pred"):
    """``activation=None``: a concrete ``pred`` must hold finite values in [0, 1]."""
    found = _concrete_range(xp, pred)
    if found is None:
        return
    lo, hi, finite = found
    if not finite:
        raise ValueError(f"{name} holds non-finite values (nan or inf) but activation=None "
                         "expects probabilities in [0, 1]")
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(
            f"{name} holds values in [{lo:g}, {hi:g}] but activation=None expects "
            "probabilities in [0, 1]; pass activation='softmax' or 'sigmoid' for logits")


def _check_dense_target(xp, dense, original_dtype):
    """A concrete dense target must hold finite values in [0, 1] (one-hot, soft, 0/1)."""
    found = _concrete_range(xp, dense)
    if found is None:
        return
    lo, hi, finite = found
    if not finite:
        raise ValueError(
            f"target is a dense target of pred's shape (dtype {original_dtype}) and holds "
            "non-finite values (nan or inf); a dense target holds values in [0, 1]")
    if lo < 0 or hi > 1:
        raise ValueError(
            f"target is a dense target of pred's shape (dtype {original_dtype}) with values "
            f"in [{lo:g}, {hi:g}], but a dense target (one-hot, soft labels, 0/1 masks) holds "
            "values in [0, 1]: rescale it (a 0/255 mask: target // 255), or pass an integer "
            "label map of pred's shape without the class axis")


def _check_mask_values(xp, mask):
    """A concrete mask must hold finite, non-negative weights."""
    found = _concrete_range(xp, mask)
    if found is None:
        return
    lo, hi, finite = found
    if not finite:
        raise ValueError("mask holds non-finite values (nan or inf); mask weights must be "
                         "finite and >= 0 (0 removes a pixel)")
    if lo < 0:
        raise ValueError(f"mask holds values in [{lo:g}, {hi:g}]; mask weights must be "
                         "finite and >= 0 (0 removes a pixel)")


def _label_check(xp, labels, num_classes: int, ignore_index, *, binary: bool):
    """Labels must lie in [0, C) (or {0, 1} for a single foreground) or equal ignore_index.

    Concrete labels: raise the shared message of :mod:`regionloss._validate`. Traced labels
    (``jax.jit``): return a 0-d bool array, True when some label is out of range.
    """
    allowed = 2 if binary else num_classes
    if is_concrete(labels):
        if math.prod(labels.shape) == 0:
            return None
        lo, hi = xp.min(labels), xp.max(labels)
        # (a concrete constant inside jit still yields tracers: then the traced rule)
        concrete = is_concrete(lo)
        if concrete and int(lo) >= 0 and int(hi) < allowed:
            return None
    else:
        concrete = False
    if concrete:
        bad = find_bad_labels(labels, num_classes=allowed, ignore_index=ignore_index, xp=xp)
        if bad is None:
            return None
        text = describe_bad_labels("target", bad, num_classes=allowed,
                                   ignore_index=ignore_index)
        if binary:
            text += (" (a single-channel prediction reads a label map as 0 = background, "
                     "1 = foreground)")
        elif ignore_index is None:
            text += "; pass ignore_index=... to leave a label out"
        raise ValueError(bad_labels_message(text))
    out = (labels < 0) | (labels >= allowed)
    if ignore_index is not None:
        out = out & ~equal_label(xp, labels, ignore_index)
    return xp.any(out)


def _target_shape_error(pred_shape, target_shape, class_axis, axis, spatial):
    """The message for a target that fits neither reading, with a layout hint."""
    hint = ""
    ndim = len(pred_shape)
    if class_axis != 1 and ndim >= 3:
        first = tuple(s for i, s in enumerate(pred_shape) if i != 1)
        if tuple(target_shape) == first:
            hint = (f"; the shapes fit channels-first (class axis 1, size {pred_shape[1]}):"
                    " pass class_axis=1")
    return ValueError(
        f"target label map has shape {_shape_str(target_shape)} but pred "
        f"{_shape_str(pred_shape)} without its class axis {axis} is "
        f"{_shape_str(spatial)}{hint}")


def prepare(pred, target, *, class_axis, activation, ignore_index=None, mask=None) -> LossInputs:
    """Validate and align a loss call's inputs (see the module docstring).

    Parameters
    ----------
    pred : array
        Logits or probabilities, sample axis 0, class axis ``class_axis``.
    target : array
        Integer label map (``pred``'s shape without the class axis) or dense target of
        ``pred``'s shape. With ``class_axis=None`` both have the same shape and the dtype
        decides: integer or bool is a label map of 0/1 (+ ``ignore_index``), float is dense.
        A label map for a single-channel prediction is likewise a 0/1 foreground mask.
    class_axis : int or None
    activation : {'softmax', 'sigmoid', None}
        Checked against the channel count; None also checks that ``pred`` holds
        probabilities (concrete arrays).
    ignore_index : int or None
        Label whose pixels leave every sum (integer targets only); already checked by the
        caller's options object.
    mask : array or None
        Per-pixel weights broadcastable to ``pred``'s shape without the class axis
        (finite, >= 0; checked on concrete arrays).
    """
    xp, pred, target, mask = common(pred, target, mask, names=("pred", "target", "mask"))
    if not is_floating(xp, pred.dtype):
        raise TypeError("pred must be a floating-point array (logits or probabilities); got "
                        f"dtype {pred.dtype}")
    if pred.ndim < 2:
        raise ValueError(f"pred has shape {_shape_str(pred.shape)}: it needs a sample axis 0 "
                         "and at least one more axis")

    had_class_axis = class_axis is not None
    if had_class_axis:
        axis = normalize_axis(class_axis, pred.ndim)
        num_classes = pred.shape[axis]
        spatial = tuple(pred.shape[:axis]) + tuple(pred.shape[axis + 1:])
        if target.ndim == pred.ndim - 1:
            is_label_map = True
            if tuple(target.shape) != spatial:
                raise _target_shape_error(pred.shape, target.shape, class_axis, axis, spatial)
            if not xp.isdtype(target.dtype, ("integral", "bool")):
                raise TypeError(
                    "target has pred's shape without the class axis, so it is read as a "
                    f"label map, which needs an integer dtype; got {target.dtype} (use "
                    "integer labels, or a dense target of pred's shape)")
        elif target.ndim == pred.ndim:
            is_label_map = False
            if tuple(target.shape) != tuple(pred.shape):
                raise ValueError(
                    f"dense target has shape {_shape_str(target.shape)} but pred has "
                    f"{_shape_str(pred.shape)}; a dense target must match pred exactly, a "
                    f"label map must be {_shape_str(spatial)}")
        else:
            raise ValueError(
                f"target has shape {_shape_str(target.shape)}; with pred "
                f"{_shape_str(pred.shape)} and class_axis={class_axis} it must be a label map "
                f"{_shape_str(spatial)} or a dense target {_shape_str(pred.shape)}")
    else:
        axis = pred.ndim  # a size-1 class axis is appended below
        num_classes = 1
        spatial = tuple(pred.shape)
        if tuple(target.shape) != spatial:
            raise ValueError(
                f"with class_axis=None, target must have pred's shape "
                f"{_shape_str(pred.shape)}; got {_shape_str(target.shape)}")
        is_label_map = xp.isdtype(target.dtype, ("integral", "bool"))

    if activation == "softmax" and (num_classes == 1 or not had_class_axis):
        check_activation_channels(activation, num_classes if had_class_axis else None)
    if ignore_index is not None and not is_label_map:
        raise ValueError(
            "ignore_index applies to integer label maps, but target is a dense "
            f"{target.dtype} array of pred's shape; pass a per-pixel mask=... instead")

    x = to_float(xp, pred)
    dtype = x.dtype
    if not had_class_axis:
        x = xp.expand_dims(x, axis=axis)

    weight = labels = invalid = None
    if is_label_map:
        labels = target if target.dtype != xp.bool else xp.astype(target, xp.int32)
        labels = comparable_labels(xp, labels)
        if num_classes - 1 > xp.iinfo(labels.dtype).max:
            # class ids must be representable: arange(300, dtype=uint8) would wrap
            labels = xp.astype(labels, xp.int32)
        # a single channel (or no class axis) is one foreground: label 1, as a binary mask
        binary = num_classes == 1
        invalid = _label_check(xp, labels, num_classes, ignore_index, binary=binary)
        labels = xp.expand_dims(labels, axis=axis)
        if binary:
            dense = xp.astype(labels == 1, dtype)
        else:
            shape = [1] * x.ndim
            shape[axis] = num_classes
            ids = xp.reshape(xp.arange(num_classes, dtype=labels.dtype, device=device_of(x)),
                             tuple(shape))
            dense = xp.astype(labels == ids, dtype)
        if ignore_index is not None:
            # range-safe: an ignore_index the label dtype cannot hold matches nothing
            weight = xp.astype(~equal_label(xp, labels, ignore_index), dtype)
    else:
        dense = to_float(xp, target, dtype)
        _check_dense_target(xp, dense, target.dtype)
        if not had_class_axis:
            dense = xp.expand_dims(dense, axis=axis)

    if mask is not None:
        m = _align_mask(xp, mask, spatial, axis, dtype)
        _check_mask_values(xp, m)
        weight = m if weight is None else weight * m

    if weight is not None:
        # weight-0 pixels leave every sum by selection, not by a product with 0
        kept = weight > 0
        zero = xp.zeros((), dtype=dtype, device=device_of(x))
        x = xp.where(kept, x, zero)
        dense = xp.where(kept, dense, zero)
    if activation is None:
        check_probabilities(xp, x)  # after the selection: ignored pixels may hold anything
    spatial_axes = tuple(range(1, axis)) + tuple(range(axis + 1, x.ndim))
    return LossInputs(xp=xp, pred=x, target=dense, labels=labels, weight=weight,
                      class_axis=axis, num_classes=num_classes, had_class_axis=had_class_axis,
                      dtype=dtype, spatial_axes=spatial_axes, invalid=invalid,
                      mask_given=mask is not None)


def _align_mask(xp, mask, spatial, axis, dtype):
    """``mask`` broadcast-checked against the spatial label shape, with a class axis added."""
    mshape = tuple(mask.shape)
    ok = len(mshape) <= len(spatial) and all(
        m in (1, s) for m, s in zip(mshape[::-1], spatial[::-1]))
    if not ok:
        raise ValueError(
            f"mask has shape {_shape_str(mshape)}, which does not broadcast to the target's "
            f"label shape {_shape_str(spatial)} (pred's shape without the class axis)")
    m = to_float(xp, mask, dtype) if mask.dtype != dtype else mask
    # left-pad to the full label rank, then insert the class axis
    m = xp.reshape(m, (1,) * (len(spatial) - len(mshape)) + mshape)
    return xp.expand_dims(m, axis=axis)
