"""The one validation module: option checks and label-range checks, one message style.

Every public function checks its options here, once, and every message names the argument,
what it must be and what it got: ``"per_sample must be True or False; got 'False'"``.
Options that choose formulas or shapes (flags, class axis, ``ignore_index``, reductions)
are plain Python values, static under ``jax.jit``; a truthy stand-in (``1``, ``"yes"``, an
array) is refused rather than read.

Label maps must hold labels in ``[0, num_classes)``; the reference may also hold
``ignore_index`` (any integer, also one outside ``[0, C)``), and wherever it does the
prediction is not looked at. :func:`find_bad_labels` looks at one concrete array (it reads a
handful of scalars back from the device, so call it only on concrete arrays, never under
``jax.jit`` nor on Dask); :func:`check_label_range` raises with the wording::

    label values out of range: target holds label 9 at index (0, 4) (2 such pixel(s)),
    outside [0, num_classes=4) and is not ignore_index=255

Under ``jax.jit`` values cannot be checked by raising: the callers turn such labels into a
NaN result instead (see ``docs/conventions.md``).
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import NamedTuple, Sequence

from ._kernels.arrays import (
    comparable_labels,
    count_dtype,
    device_of,
    is_concrete,
    namespace,
)

__all__ = [
    "ACTIVATIONS",
    "REDUCTIONS",
    "AVERAGES",
    "check_bool",
    "check_flags",
    "check_int",
    "check_real",
    "check_nonnegative",
    "check_options",
    "check_choice",
    "check_class_axis",
    "normalize_axis",
    "check_ignore_index",
    "check_zero_division",
    "check_average",
    "check_reduction",
    "check_activation",
    "check_activation_channels",
    "check_class_weights",
    "check_static_real",
    "check_spacing",
    "is_nan_value",
    "BadLabels",
    "find_bad_labels",
    "describe_bad_labels",
    "bad_labels_message",
    "check_label_range",
    "equal_label",
]

ACTIVATIONS = ("softmax", "sigmoid", None)
REDUCTIONS = ("mean", "sum", "none")
AVERAGES = ("none", "macro", "micro", "weighted")
ZERO_DIVISION_CHOICES = "nan, 0.0 or 1.0"


# --------------------------------------------------------------------------- scalar options


def check_bool(name: str, value) -> bool:
    """``value`` as a Python bool; ``TypeError`` unless it is True or False (or NumPy's).

    A truthy stand-in (``1``, ``"yes"``, ``"False"``, an array) is refused rather than read:
    options such as ``per_sample`` change shapes and formulas, so they must be spelled
    exactly.
    """
    if value is True or value is False:
        return value
    import numpy as np

    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"{name} must be True or False; got {value!r}")


def check_flags(**flags) -> tuple:
    """Each keyword as a Python bool, in order (the rule of :func:`check_bool`)."""
    out = []
    for name, value in flags.items():
        if value is not True and value is not False:
            value = check_bool(name, value)
        out.append(value)
    return tuple(out)


def check_int(name: str, value, *, minimum: int | None = None) -> int:
    """``value`` as a Python int (any integral type, not a bool), ``>= minimum`` if given."""
    if not isinstance(value, bool):
        try:
            value = operator.index(value)
        except TypeError:
            pass
        else:
            if minimum is not None and value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}; got {value}")
            return value
    raise TypeError(f"{name} must be an integer; got {type(value).__name__} {value!r}")


def check_static_real(name: str, value) -> float:
    """``value`` as a Python float: any real number (Python, NumPy scalars) or a concrete
    0-d real array (JAX, PyTorch). A traced 0-d array is refused: such options choose the
    formula, they must be static under ``jax.jit``."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number; got the bool {value!r}")
    if isinstance(value, numbers.Real):
        return float(value)
    if getattr(value, "shape", None) is not None and tuple(value.shape) == ():
        try:
            xp = namespace(value, names=(name,))
        except TypeError:
            xp = None
        if xp is not None and xp.isdtype(value.dtype, ("real floating", "integral")):
            if not is_concrete(value):
                raise TypeError(
                    f"{name} must be a static number; got a traced or lazy array (under "
                    "jax.jit pass it as a Python float, a static argument)")
            return float(value)
    raise TypeError(f"{name} must be a number; got {type(value).__name__} {value!r}")


def check_real(name: str, value, *, minimum: float | None = None,
               maximum: float | None = None, open_minimum: bool = False,
               allow_nan: bool = False, allow_inf: bool = False) -> float:
    """``value`` as a Python float in ``[minimum, maximum]`` (``(minimum, ...`` with
    ``open_minimum``); NaN and infinities refused unless allowed."""
    value = check_static_real(name, value)
    if math.isnan(value):
        if allow_nan:
            return value
        raise ValueError(f"{name} must be a number, not NaN")
    if math.isinf(value) and not allow_inf:
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    low_ok = (minimum is None or (value > minimum if open_minimum else value >= minimum))
    if not low_ok or (maximum is not None and value > maximum):
        if minimum is not None and maximum is not None:
            bounds = f"a number in {'(' if open_minimum else '['}{minimum:g}, {maximum:g}]"
        elif minimum is not None:
            kind = "a number" if allow_inf else "a finite number"
            bounds = f"{kind} {'>' if open_minimum else '>='} {minimum:g}"
        else:
            bounds = f"a number <= {maximum:g}"
        raise ValueError(f"{name} must be {bounds}; got {value!r}")
    return value


def check_spacing(spacing, ndim: int, *, name: str = "spacing"):
    """``spacing`` as a tuple of ``ndim`` positive finite floats, or ``None`` (unit spacing).

    One number (a Python or NumPy real, or a 0-d array) applies to every spatial axis; a
    sequence (or 1-d array) must have one entry per spatial axis. A bool, a string or any
    other value is a ``TypeError``; a wrong length, a non-positive, NaN or infinite entry a
    ``ValueError``. The caller decides what ``None`` means (1 along every axis).
    """
    if spacing is None:
        return None
    if isinstance(spacing, numbers.Real) and not isinstance(spacing, bool):
        values = (spacing,) * ndim
    elif getattr(spacing, "shape", None) == () and not isinstance(spacing, (str, bytes)):
        values = (spacing,) * ndim      # a 0-d array: one number for every axis
    else:
        try:
            if isinstance(spacing, (str, bytes, bool)):
                raise TypeError
            values = tuple(spacing)
        except TypeError:
            raise TypeError(
                f"{name} must be a positive number or a sequence of {ndim} positive numbers "
                f"(one per spatial axis); got {spacing!r}") from None
        if len(values) != ndim:
            raise ValueError(
                f"{name} must have one entry per spatial axis: one value per spatial axis "
                f"({ndim} here), got {len(values)}: {spacing!r}")
    out = []
    for v in values:
        if isinstance(v, (bool, str, bytes)) or not (
                isinstance(v, numbers.Real) or getattr(v, "shape", None) == ()):
            raise TypeError(f"{name} entries must be real numbers; got {v!r} in {spacing!r}")
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} entries must be real numbers; got {v!r} in {spacing!r}") from None
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} entries must be positive and finite (each finite and "
                             f"> 0); got {v!r} in {spacing!r}")
        out.append(v)
    return tuple(out)


def check_nonnegative(**values) -> tuple:
    """Each keyword as a finite float ``>= 0`` (smoothing terms, weights, exponents)."""
    out = []
    for name, value in values.items():
        if type(value) is float or type(value) is int:  # the common case, checked inline
            if not 0 <= value < math.inf:
                raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
            out.append(float(value))
        else:
            out.append(check_real(name, value, minimum=0.0))
    return tuple(out)


def check_choice(name: str, value, choices: Sequence):
    """``value`` if it is one of ``choices`` (compared by equality; bools are never choices)."""
    if not isinstance(value, bool):
        for choice in choices:
            if value is choice or (type(value) is type(choice) and value == choice):
                return value
    raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def is_nan_value(value) -> bool:
    """True for a Python float NaN (``zero_division=float('nan')``)."""
    return isinstance(value, float) and math.isnan(value)


def check_zero_division(zero_division) -> float:
    """``zero_division`` (the value of a metric whose denominator is zero) as a float.

    NaN (the default: left out of every NaN-aware mean), 0.0 or 1.0 (entering the means
    like any other value): the rule of every metric of the library and of the CLI's
    ``--zero-division``. Any real number type is accepted; a bool, a string or another
    value is an error.
    """
    if isinstance(zero_division, bool) or not isinstance(zero_division, numbers.Real):
        raise TypeError(
            f"zero_division must be a number ({ZERO_DIVISION_CHOICES}); got "
            f"{type(zero_division).__name__} {zero_division!r}")
    value = float(zero_division)
    if not (math.isnan(value) or value in (0.0, 1.0)):
        raise ValueError(
            f"zero_division must be {ZERO_DIVISION_CHOICES} (the value of a metric whose "
            f"denominator is zero); got {zero_division!r}")
    return value


def check_average(average) -> str:
    """``average`` of a metric (``None`` is read as ``"none"``)."""
    return "none" if average is None else check_choice("average", average, AVERAGES)


def check_reduction(reduction, choices: Sequence = REDUCTIONS) -> str:
    """``reduction`` of a loss: 'mean', 'sum' or 'none' (or the given subset)."""
    if type(reduction) is str and reduction in choices:
        return reduction
    return check_choice("reduction", reduction, choices)


def check_activation(activation, choices: Sequence = ACTIVATIONS, *,
                     name: str = "activation"):
    """``activation``: 'softmax', 'sigmoid' or None (or the given subset)."""
    if activation is None and None in choices:
        return None
    return check_choice(name, activation, choices)


def check_activation_channels(activation, num_channels: int | None, *,
                              name: str = "activation") -> None:
    """Softmax needs at least two channels (``num_channels=None``: no class axis)."""
    if activation == "softmax" and (num_channels is None or num_channels == 1):
        what = "no class axis (class_axis=None)" if num_channels is None else "1 channel"
        raise ValueError(
            f"{name}='softmax' over {what} is constant 1: use activation='sigmoid' for a "
            "single foreground channel, or activation=None for probabilities")


def check_options(obj, checks: dict) -> None:
    """Check (and normalise in place) the options of a frozen options object, by table.

    ``checks`` maps an attribute name to its kind: ``"flag"`` (True or False),
    ``"nonnegative"`` (a finite float >= 0), ``"positive"`` (a finite float > 0),
    ``"fraction"`` (a float in [0, 1]), ``"class_axis"``, ``"ignore_index"``, or a tuple of
    allowed choices (``REDUCTIONS``, ``ACTIVATIONS``, ...). Each value is checked with the
    rule of the matching ``check_*`` function, and stored back as the plain Python value
    (``np.bool_`` as ``bool``, ``np.float32`` as ``float``), so options are static under
    ``jax.jit``. One call per options object: the common values are checked inline.
    """
    set_ = object.__setattr__
    for name, kind in checks.items():
        value = getattr(obj, name)
        if kind == "flag":
            if value is not True and value is not False:
                set_(obj, name, check_bool(name, value))
        elif kind == "nonnegative":
            if type(value) is not float or not 0.0 <= value < math.inf:
                set_(obj, name, check_real(name, value, minimum=0.0))
        elif kind == "positive":
            set_(obj, name, check_real(name, value, minimum=0.0, open_minimum=True))
        elif kind == "fraction":
            if type(value) is not float or not 0.0 <= value <= 1.0:
                set_(obj, name, check_real(name, value, minimum=0.0, maximum=1.0))
        elif kind == "class_axis":
            if value is not None and type(value) is not int:
                set_(obj, name, check_class_axis(value))
        elif kind == "ignore_index":
            if value is not None and type(value) is not int:
                set_(obj, name, check_ignore_index(value))
        elif not (value is None or type(value) is str) or value not in kind:
            check_choice(name, value, kind)


# --------------------------------------------------------------------------- axes and labels


def check_class_axis(class_axis):
    """``class_axis`` as an int or None (not a bool); its range is checked per call."""
    if class_axis is None:
        return None
    if not isinstance(class_axis, bool):
        try:
            return operator.index(class_axis)
        except TypeError:
            pass
    raise TypeError(f"class_axis must be an int or None; got {class_axis!r}")


def normalize_axis(class_axis, ndim: int, *, name: str = "class_axis") -> int:
    """``class_axis`` as a non-negative axis of an ``ndim``-d array (never axis 0)."""
    axis = class_axis if type(class_axis) is int else check_class_axis(class_axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={class_axis} is out of range for an array with {ndim} axes")
    axis %= ndim
    if axis == 0:
        raise ValueError(
            f"{name}={class_axis} points at axis 0, which is always the sample axis; "
            "use class_axis=1 (channels-first) or -1 (channels-last)")
    return axis


def check_ignore_index(ignore_index):
    """``ignore_index`` as a Python int, or None.

    A bool is refused (``True`` would silently mean label 1), and so is a float or an
    array: the ignored label is a static option compared with integer labels.
    """
    if ignore_index is None:
        return None
    if not isinstance(ignore_index, bool):
        try:
            return operator.index(ignore_index)
        except TypeError:
            pass
    raise TypeError(f"ignore_index must be an int or None; got {ignore_index!r}")


def check_class_weights(xp, class_weights, num_classes: int, dtype, device,
                        *, include_background: bool, name: str = "class_weights"):
    """``class_weights`` as an array of length ``num_classes`` (validated when concrete).

    Weights are indexed by class id, background included even when it is dropped; they
    must be finite, non-negative, and not all zero over the kept classes.
    """
    if class_weights is None:
        return None
    import numpy as np

    try:
        host = np.asarray(class_weights, dtype=np.float64)
    except (TypeError, ValueError, RuntimeError):
        # an array of another library (on a device): check its shape, trust its values
        host = None
    shape = tuple(getattr(class_weights, "shape", ())) if host is None else host.shape
    if len(shape) != 1 or shape[0] != num_classes:
        raise ValueError(
            f"{name} must have one weight per class of the prediction (length "
            f"{num_classes}, indexed by class id, background included); got shape {shape}")
    if host is not None:
        kept = host if include_background else host[1:]
        if not np.all(np.isfinite(host)) or np.any(host < 0):
            raise ValueError(f"{name} must be finite and non-negative; got {host.tolist()}")
        if not np.any(kept > 0):
            raise ValueError(
                f"{name} of the kept classes sum to zero ({kept.tolist()}): the weighted "
                "class mean would be undefined")
        return xp.asarray(host, dtype=dtype, device=device)
    return xp.astype(xp.asarray(class_weights, device=device), dtype)


# --------------------------------------------------------------------------- label ranges

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
    return device_of(x)


def _unravel(flat_index: int, shape) -> tuple:
    position = []
    rest = flat_index
    for size in reversed(tuple(shape)):
        position.append(rest % size)
        rest //= size
    return tuple(reversed(position))


def find_bad_labels(labels, /, *, num_classes: int, ignore_index=None,
                    reference=None, xp=None) -> BadLabels | None:
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
    xp : namespace, optional
        ``labels``' namespace, when the caller knows it (and ``labels`` is already an
        integer dtype every comparison works on).

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
    if xp is None:
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
