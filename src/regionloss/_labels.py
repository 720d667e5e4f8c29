"""The label-range check shared by every function that takes integer label maps.

A label map must hold labels in ``[0, num_classes)``. The reference may also hold
``ignore_index`` (any integer, also one outside ``[0, C)``), and wherever it does the
prediction is not looked at, so anything goes there. Everything else is an error, which
must name the array, the first offending value, where it is and how many there are.

* :func:`find_bad_labels` looks at one concrete array (NumPy, CuPy, PyTorch, eager JAX,
  array-api-strict, ...) and returns a :class:`BadLabels` record, or ``None`` when every
  label is allowed. Written against the array API; it reads a handful of scalars back
  from the device, so call it only on concrete arrays (``_backend.is_concrete``), never
  under ``jax.jit`` nor on Dask.
* :func:`describe_bad_labels` words one record; :func:`bad_labels_message` joins the
  records of the reference and the prediction into the one ``ValueError`` message;
  :func:`check_label_range` does all three and raises.

The wording is that of :func:`regionloss.confusion_matrix` (``_counting``), e.g.::

    label values out of range: target holds label 9 at index (0, 4) (2 such pixel(s)),
    outside [0, num_classes=4) and is not ignore_index=255
"""

from __future__ import annotations

from typing import NamedTuple

from ._backend import comparable_labels, namespace

__all__ = [
    "BadLabels",
    "find_bad_labels",
    "describe_bad_labels",
    "bad_labels_message",
    "check_label_range",
    "equal_label",
]

_PRED_SUFFIX = (" where the reference is not ignored (a prediction must name a class "
                "wherever the reference is scored)")


class BadLabels(NamedTuple):
    """The labels of one array that lie outside ``[0, num_classes)`` and are not excused.

    Fields
    ------
    value : int
        The first offending label (C order).
    position : tuple of int
        Its index in the array.
    count : int
        How many elements are offending.
    """

    value: int
    position: tuple
    count: int


def _int_range(xp, dtype):
    """``(min, max)`` a value of the integer ``dtype`` can take."""
    info = xp.iinfo(dtype)
    return int(info.min), int(info.max)


def equal_label(xp, x, value):
    """``x == value``, all False when ``value`` is out of the range of ``x``'s dtype.

    (An ``ignore_index`` of -1 or 255 next to a uint8 or int8 map: comparing with a Python
    int the dtype cannot hold is an error in some namespaces, and can never be true.)
    """
    lo, hi = _int_range(xp, x.dtype)
    if lo <= value <= hi:
        return x == value
    return xp.zeros(x.shape, dtype=xp.bool, device=_device(x))


def _device(x):
    from ._backend import device_of

    return device_of(x)


def _unravel(flat_index: int, shape) -> tuple:
    position = []
    rest = flat_index
    for size in reversed(tuple(shape)):
        position.append(rest % size)
        rest //= size
    return tuple(reversed(position))


def find_bad_labels(labels, /, *, num_classes: int, ignore_index=None,
                    reference=None) -> BadLabels | None:
    """The labels of ``labels`` outside ``[0, num_classes)`` that are not excused.

    Parameters
    ----------
    labels : integer (or boolean) array, concrete
        The label map to check (reference or prediction).
    num_classes : int
        Allowed labels are ``0 .. num_classes - 1``.
    ignore_index : int or None
        With ``reference=None`` (``labels`` *is* the reference): elements equal to it are
        allowed. With ``reference`` given (``labels`` is the prediction): elements where
        ``reference == ignore_index`` are allowed, whatever they hold.
    reference : array of ``labels``' shape, optional
        The reference label map, when ``labels`` is the prediction.

    Returns
    -------
    BadLabels or None
        ``None`` when every element is allowed; else the first offending value (C order),
        its position and the number of offending elements.

    Notes
    -----
    One ``min`` and one ``max`` decide the common case (every label in range) without
    building a mask; only a failing array pays for the masks and the position.
    """
    xp = namespace(labels)
    if xp.isdtype(labels.dtype, "bool"):
        labels = xp.astype(labels, xp.int8)
    labels = comparable_labels(xp, labels)
    size = 1
    for s in labels.shape:
        size *= int(s)
    if size == 0:
        return None
    lo, hi = int(xp.min(labels)), int(xp.max(labels))
    if lo >= 0 and hi < num_classes:
        return None
    dtype_lo, dtype_hi = _int_range(xp, labels.dtype)
    bad = labels < 0 if dtype_lo < 0 else xp.zeros(labels.shape, dtype=xp.bool,
                                                   device=_device(labels))
    if num_classes <= dtype_hi:
        bad = bad | (labels >= num_classes)
    if ignore_index is not None:
        if reference is None:
            bad = bad & ~equal_label(xp, labels, ignore_index)
        else:
            if xp.isdtype(reference.dtype, "bool"):
                reference = xp.astype(reference, xp.int8)
            reference = comparable_labels(xp, reference)
            bad = bad & ~equal_label(xp, reference, ignore_index)
    flat = xp.reshape(bad, (-1,))
    from ._counting import count_dtype  # (_counting imports this module)

    # a sum, not count_nonzero: the latter needs array API 2024.12
    count = int(xp.sum(xp.astype(flat, count_dtype(xp))))
    if count == 0:
        return None
    first = int(xp.argmax(xp.astype(flat, xp.int8)))
    value = int(xp.reshape(labels, (-1,))[first])
    return BadLabels(value, _unravel(first, labels.shape), count)


def describe_bad_labels(name: str, bad: BadLabels, *, num_classes: int, ignore_index=None,
                        prediction: bool = False) -> str:
    """One array's part of the message.

    ``prediction=False`` (the reference): ``ignore_index`` is named as the other allowed
    value. ``prediction=True``: the text says that the prediction is checked only where
    the reference is scored.
    """
    text = (f"{name} holds label {bad.value} at index {bad.position} ({bad.count} such "
            f"pixel(s)), outside [0, num_classes={num_classes})")
    if prediction:
        return text + _PRED_SUFFIX
    if ignore_index is not None:
        text += f" and is not ignore_index={ignore_index}"
    return text


def bad_labels_message(*parts: str | None) -> str:
    """The ``ValueError`` message from the parts of :func:`describe_bad_labels`."""
    return "label values out of range: " + "; ".join(p for p in parts if p is not None)


def check_label_range(pred, target, /, *, num_classes: int, ignore_index=None,
                      pred_name: str = "pred", target_name: str = "target") -> None:
    """Raise ``ValueError`` naming the out-of-range labels of a (prediction, reference) pair.

    Both arrays must be concrete and of one shape. The reference is checked first (it
    may hold ``ignore_index``), then the prediction where the reference is not ignored;
    the message names both when both are at fault.
    """
    bad_t = find_bad_labels(target, num_classes=num_classes, ignore_index=ignore_index)
    bad_p = find_bad_labels(pred, num_classes=num_classes, ignore_index=ignore_index,
                            reference=target)
    if bad_t is None and bad_p is None:
        return
    parts = [
        None if bad_t is None else describe_bad_labels(
            target_name, bad_t, num_classes=num_classes, ignore_index=ignore_index),
        None if bad_p is None else describe_bad_labels(
            pred_name, bad_p, num_classes=num_classes, prediction=True),
    ]
    raise ValueError(bad_labels_message(*parts))
