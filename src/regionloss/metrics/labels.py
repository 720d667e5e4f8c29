"""Scores to labels: the argmax over classes, or a threshold of one foreground channel."""

from __future__ import annotations

import math

from .._kernels.arrays import count_dtype, is_concrete, namespace
from .._typing import Array
from .._validate import check_bool, check_class_axis, check_static_real

__all__ = ["to_labels"]


def to_labels(scores: Array, /, *, class_axis: int | None = -1,
              threshold: float | None = None, validate: bool = True) -> Array:
    r"""Turn logits or probabilities into an integer label map.

    .. math:: \hat y_i = \arg\max_c s_{ic} \quad\text{or}\quad
              \hat y_i = [\, s_i \ge t \,]

    Parameters
    ----------
    scores : float array
        Logits or probabilities.
    class_axis : int or None, default -1
        ``threshold=None``: the axis to take the argmax over (mutually exclusive classes,
        softmax outputs; logits give the same labels as their softmax). With a threshold:
        a size-1 channel axis to drop, or ``None`` when ``scores`` has no class axis.
    threshold : float or None, default None
        For a single sigmoid output: label 1 where ``scores >= threshold``, else 0 (use
        0.5 on probabilities, 0.0 on logits).
    validate : bool, default True
        On concrete floating-point arrays, raise ``ValueError`` when ``scores`` holds NaN
        (naming how many and where the first is): a NaN has no label, and an argmax or a
        threshold would silently turn it into one (the NaN's class, or 0). Under
        ``jax.jit`` and on Dask the values cannot be looked at: no check runs there, and
        NaN scores give whatever the backend's argmax or comparison gives.

    Returns
    -------
    labels : integer array (int64, int32 on JAX without x64), ``scores``' shape without
        the class axis. Ties of the argmax go to the lowest class index.

    Raises
    ------
    ValueError
        ``scores`` holds NaN (concrete arrays, ``validate=True``), or the axis and
        threshold options do not fit its shape.

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> rl.to_labels(np.array([[0.1, 0.9], [0.8, 0.2]]), class_axis=-1)
    array([1, 0])
    >>> rl.to_labels(np.array([0.2, 0.7]), class_axis=None, threshold=0.5)
    array([0, 1])
    """
    xp = namespace(scores, names=("scores",))
    validate = check_bool("validate", validate)
    if threshold is None:
        if class_axis is None:
            raise ValueError("to_labels: class_axis=None needs a threshold (a single "
                             "foreground map); for class scores give class_axis")
        axis = _axis(class_axis, scores.ndim)
        if scores.shape[axis] < 2:
            raise ValueError(
                f"to_labels: argmax over class_axis={class_axis} of size "
                f"{scores.shape[axis]} is always 0; for one sigmoid channel pass "
                "threshold=0.5 (probabilities) or threshold=0.0 (logits)"
            )
    else:
        threshold = check_static_real("threshold", threshold)
        if math.isnan(threshold):
            raise ValueError("to_labels: threshold must not be NaN")
        if class_axis is not None:
            axis = _axis(class_axis, scores.ndim)
            if scores.shape[axis] != 1:
                raise ValueError(
                    f"to_labels: threshold needs one channel, but class_axis={class_axis} "
                    f"has size {scores.shape[axis]} (shape {tuple(scores.shape)}); use "
                    "threshold=None for an argmax over classes"
                )
    if validate and xp.isdtype(scores.dtype, "real floating") and is_concrete(scores):
        _check_no_nan(xp, scores)
    if threshold is None:
        labels = xp.argmax(scores, axis=axis)
    else:
        if class_axis is not None:
            scores = xp.squeeze(scores, axis=axis)
        labels = scores >= threshold
    want = count_dtype(xp)
    return labels if labels.dtype == want else xp.astype(labels, want)


def _check_no_nan(xp, scores):
    """Raise ``ValueError`` naming the NaN scores (concrete arrays only)."""
    flat = xp.reshape(xp.isnan(scores), (-1,))
    n_nan = int(xp.count_nonzero(flat))
    if n_nan == 0:
        return
    first = int(xp.argmax(xp.astype(flat, xp.int8)))
    position = []
    for size in reversed(tuple(scores.shape)):
        position.append(first % size)
        first //= size
    raise ValueError(
        f"to_labels: scores hold {n_nan} NaN value(s), the first at index "
        f"{tuple(reversed(position))} of shape {tuple(scores.shape)}; a NaN has no label "
        "(an argmax or a threshold would silently make one up): check the model output, "
        "or pass validate=False to skip this check"
    )


def _axis(axis, ndim):
    axis = check_class_axis(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"class_axis={axis} is out of range for an array of {ndim} dims")
    return axis % ndim
