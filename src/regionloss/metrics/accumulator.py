"""Streaming, mergeable evaluation: :class:`MetricAccumulator` and its :class:`MetricState`.

The accumulator holds only static settings; its methods are pure functions of a state (a
NamedTuple of arrays, hence a JAX pytree), so they run inside ``jax.jit`` and states of
batches, processes and devices merge by addition: ``state_a + state_b`` (field-wise, also
for a state reduced by ``jax.lax.psum``). Every merge and every ``compute`` checks that the
state's shapes are the accumulator's.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .._formulas import safe_divide
from .._kernels.arrays import (
    count_dtype,
    count_float_dtype,
    device_of,
    is_concrete,
    namespace,
    state_device,
)
from .._reduce import nan_sum_count
from .._stats import count_statistics
from .._validate import (
    check_average,
    check_flags,
    check_ignore_index,
    check_int,
    check_zero_division,
)
from ._table import metric_options, resolve_metric
from .confusion import _class_counts, _score, check_label_maps

__all__ = ["MetricState", "MetricAccumulator"]


def _check_counts(xp, state) -> None:
    """A concrete state's counts must be non-negative (an int32 wrap looks like this)."""
    for name in ("tp", "predicted", "reference"):
        field = getattr(state, name)
        if field.shape[0] and int(xp.min(field)) < 0:
            raise ValueError(
                f"the state's {name} counts hold a negative value; counts are >= 0. On JAX "
                "without x64, int32 counts wrap past 2**31 - 1 pixels of one class: enable "
                "jax.config.update('jax_enable_x64', True), or accumulate smaller batches' "
                "counts in a NumPy int64 state")


class MetricState(NamedTuple):
    """Streaming state of one metric: a NamedTuple of arrays (a JAX pytree).

    Every field is additive: ``state_a + state_b`` is the state of everything both have
    seen (field by field; a plain tuple would concatenate), and ``jax.lax.psum`` merges
    the states of devices.

    Attributes
    ----------
    tp, predicted, reference : (C,) integer
        Per-class counts pooled over everything seen: pixels labelled ``c`` in both maps,
        in the prediction, in the reference (the diagonal, column sums and row sums of
        the confusion matrix). Every one-vs-rest statistic follows from them, so micro,
        macro, weighted and per-class scores of the pooled counts come from them without
        a ``C x C`` matrix (use :func:`regionloss.confusion_matrix` for the matrix).
    samples : () integer
        Number of samples seen.
    class_sum, class_count, class_defined : (K,)
        Over samples, per scored class (K = C, or C - 1 without background): sum of the
        per-sample values that are not NaN, how many there were, and how many had a
        non-zero denominator.
    average_sum, average_count, average_defined : (3,)
        The same for the per-sample ``"macro"``, ``"micro"`` and ``"weighted"`` values.
    invalid : () integer
        Pixels seen with a label outside ``[0, C)`` that is not ``ignore_index`` (only
        counted where they could not raise: under ``jax.jit``). ``compute`` of a state
        with invalid pixels is NaN, and an error on concrete states.
    """

    tp: object
    predicted: object
    reference: object
    samples: object
    class_sum: object
    class_count: object
    class_defined: object
    average_sum: object
    average_count: object
    average_defined: object
    invalid: object

    def __add__(self, other):
        """Field-wise sum: the state of everything ``self`` and ``other`` have seen."""
        if not isinstance(other, MetricState):
            return NotImplemented
        _check_same_shapes(self, other)
        return MetricState(*(a + b for a, b in zip(self, other)))


def _shapes(state) -> tuple:
    return tuple(tuple(getattr(f, "shape", ())) for f in state)


def _check_same_shapes(a, b, names=("the first state", "the second state")) -> None:
    if _shapes(a) != _shapes(b):
        raise ValueError(
            f"cannot merge metric states of different shapes: {names[0]} counts "
            f"{a.tp.shape[0]} classes and scores {a.class_sum.shape[0]}, {names[1]} counts "
            f"{b.tp.shape[0]} and scores {b.class_sum.shape[0]}; both must come from "
            "accumulators with the same num_classes and include_background")


_SAMPLE_AVERAGES = ("macro", "micro", "weighted")


class MetricAccumulator:
    """Streaming, mergeable evaluation of one metric over a dataset.

    The object holds only static settings; its methods are pure functions of a
    :class:`MetricState`, so they can be called inside ``jax.jit`` and the states of
    batches, processes and devices merge by addition. The state keeps the global counts
    *and* the per-sample score sums and defined-counts, so the averaging (``"none"``,
    ``"macro"``, ``"micro"``, ``"weighted"``; pooled or per sample) is chosen at
    :meth:`compute` time.

    Parameters
    ----------
    metric : str
        A name of :data:`METRIC_NAMES` or an alias.
    num_classes : int
    ignore_index : int or None, default None
    include_background : bool, default True
    zero_division : {nan, 0.0, 1.0}, default nan
        Fixed at construction, because per-sample sums depend on it.
    validate : bool, default True
        Labels outside ``[0, C)``: on concrete arrays :meth:`update` raises naming them;
        under ``jax.jit`` the state counts them (``invalid``) and :meth:`compute` gives
        NaN. ``False``: such pixels are dropped, silently.
    **metric_options
        ``alpha``, ``beta`` for ``"tversky"``; ``beta`` for ``"fbeta"``.

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> acc = rl.MetricAccumulator("iou", num_classes=3, ignore_index=255)
    >>> state = acc.init()
    >>> for pred, target in [(np.array([[0, 1]]), np.array([[0, 1]])),
    ...                      (np.array([[2, 2]]), np.array([[2, 255]]))]:
    ...     state = acc.update(state, pred, target)
    >>> float(acc.compute(state, average="macro"))
    1.0
    """

    def __init__(self, metric, *, num_classes, ignore_index=None, include_background=True,
                 zero_division=float("nan"), validate=True, **metric_options_):
        spec = resolve_metric(metric)
        self.metric = spec.name
        self._spec = spec
        self.options = metric_options(spec, metric_options_)
        self.num_classes = check_int("num_classes", num_classes, minimum=1)
        self.include_background, self.validate = check_flags(
            include_background=include_background, validate=validate)
        if not self.include_background and self.num_classes < 2:
            raise ValueError("include_background=False needs at least 2 classes; got "
                             f"num_classes={self.num_classes}")
        self.ignore_index = check_ignore_index(ignore_index)
        self.zero_division = check_zero_division(zero_division)

    def __repr__(self):
        return (f"MetricAccumulator({self.metric!r}, num_classes={self.num_classes}, "
                f"ignore_index={self.ignore_index}, "
                f"include_background={self.include_background}, "
                f"zero_division={self.zero_division}, **{self.options})")

    @property
    def num_scored(self) -> int:
        """Number of scored classes (C, or C - 1 without background)."""
        return self.num_classes - (0 if self.include_background else 1)

    def init(self, like=None):
        """An empty state in ``like``'s namespace and on its device (NumPy if None)."""
        if like is None:
            import numpy as np

            xp, device = namespace(np.zeros(0)), None
        else:
            xp, device = namespace(like, names=("like",)), state_device(like)
        ci, cf = count_dtype(xp), count_float_dtype(xp)
        C, K = self.num_classes, self.num_scored
        return MetricState(
            tp=xp.zeros((C,), dtype=ci, device=device),
            predicted=xp.zeros((C,), dtype=ci, device=device),
            reference=xp.zeros((C,), dtype=ci, device=device),
            samples=xp.zeros((), dtype=ci, device=device),
            class_sum=xp.zeros((K,), dtype=cf, device=device),
            class_count=xp.zeros((K,), dtype=ci, device=device),
            class_defined=xp.zeros((K,), dtype=ci, device=device),
            average_sum=xp.zeros((3,), dtype=cf, device=device),
            average_count=xp.zeros((3,), dtype=ci, device=device),
            average_defined=xp.zeros((3,), dtype=ci, device=device),
            invalid=xp.zeros((), dtype=ci, device=device),
        )

    def batch_state(self, pred, target, /):
        """The state of one batch of label maps ``(N, ...)`` (axis 0 = samples)."""
        xp, pred, target, _, _ = check_label_maps(
            pred, target, num_classes=self.num_classes, ignore_index=self.ignore_index,
            per_sample=True)
        tp, predicted, reference, n_invalid = _class_counts(
            pred, target, self.num_classes, self.ignore_index, True, self.validate)
        ci = count_dtype(xp)
        stats = count_statistics(tp, predicted, reference, float_dtype=count_float_dtype(xp))
        kwargs = dict(include_background=self.include_background,
                      zero_division=self.zero_division)
        value, defined = _score(xp, stats, self._spec, self.options, average="none",
                                **kwargs)
        class_sum, class_count = nan_sum_count(xp, value, 0)
        sums, counts, defs = [], [], []
        for average in _SAMPLE_AVERAGES:
            v, d = _score(xp, stats, self._spec, self.options, average=average, **kwargs)
            s, c = nan_sum_count(xp, v, 0)
            sums.append(s)
            counts.append(c)
            defs.append(xp.sum(d, axis=0))
        pooled = [xp.sum(c, axis=0, dtype=ci) for c in (tp, predicted, reference)]
        device = device_of(pooled[0])
        n_invalid = (xp.zeros((), dtype=ci, device=device) if n_invalid is None
                     else xp.astype(n_invalid, ci))
        return MetricState(
            tp=pooled[0],
            predicted=pooled[1],
            reference=pooled[2],
            samples=xp.asarray(pred.shape[0], dtype=ci, device=device),
            class_sum=class_sum,
            class_count=xp.astype(class_count, ci),
            class_defined=xp.astype(xp.sum(defined, axis=0), ci),
            average_sum=xp.stack(sums),
            average_count=xp.astype(xp.stack(counts), ci),
            average_defined=xp.astype(xp.stack(defs), ci),
            invalid=n_invalid,
        )

    def update(self, state, pred, target, /):
        """``state`` plus one batch of label maps ``(N, ...)``; returns a new state."""
        return self.merge(state, self.batch_state(pred, target))

    def _check_state(self, state, name="state"):
        if not isinstance(state, MetricState):
            raise TypeError(f"{name} must be a MetricState (from init, update or merge); got "
                            f"{type(state).__name__}")
        C, K = self.num_classes, self.num_scored
        if tuple(state.tp.shape) != (C,) or tuple(state.class_sum.shape) != (K,):
            raise ValueError(
                f"{name} does not belong to this accumulator: it counts "
                f"{tuple(state.tp.shape)[0]} classes and scores "
                f"{tuple(state.class_sum.shape)[0]}, but this accumulator has "
                f"num_classes={C} and scores {K} classes "
                f"(include_background={self.include_background})")

    def merge(self, a, b, /):
        """The state of everything ``a`` and ``b`` have seen (field-wise addition)."""
        self._check_state(a, "the first state")
        self._check_state(b, "the second state")
        return a + b

    def compute(self, state, /, *, average="macro", per_sample=False, return_defined=False):
        """The metric over everything ``state`` has seen.

        Parameters
        ----------
        average : {"none", "macro", "micro", "weighted"}, default "macro"
        per_sample : bool, default False
            ``False``: the metric of the pooled counts (dataset level). ``True``: the
            NaN-aware mean over samples of the per-sample values.
        return_defined : bool, default False
            Also return the number of defined values behind each output value.

        Returns
        -------
        value : float array in the state's namespace, on its device
            float64 (float32 on JAX without x64). ``average="none"``: ``(K,)`` per scored
            class (K = C, or C - 1 without background); otherwise ``()``. NaN (every
            element) when the state saw labels out of range under ``jax.jit``.
        defined : integer array of ``value``'s shape, only with ``return_defined=True``
            How many values with a non-zero denominator are behind each output value.

        Raises
        ------
        ValueError
            The state has other shapes than this accumulator's, or (concrete states) it
            saw labels out of range, or holds negative counts.
        """
        self._check_state(state)
        average = check_average(average)
        per_sample, return_defined = check_flags(per_sample=per_sample,
                                                 return_defined=return_defined)
        xp = namespace(state.class_sum, names=("state",))
        invalid = None
        if is_concrete(state.invalid):
            n_invalid = int(state.invalid)
            if n_invalid:
                raise ValueError(
                    f"the state saw {n_invalid} pixel(s) with a label outside [0, "
                    f"num_classes={self.num_classes}) that is not ignore_index="
                    f"{self.ignore_index}; its metric would be meaningless")
            _check_counts(xp, state)
        else:
            invalid = state.invalid > 0
        if not per_sample:
            stats = count_statistics(state.tp, state.predicted, state.reference,
                                     float_dtype=count_float_dtype(xp))
            value, defined = _score(xp, stats, self._spec, self.options, average=average,
                                    include_background=self.include_background,
                                    zero_division=self.zero_division)
            value, defined = xp.asarray(value), xp.asarray(defined)
        else:
            if average == "none":
                total, count, defined = state.class_sum, state.class_count, state.class_defined
            else:
                i = _SAMPLE_AVERAGES.index(average)
                total, count, defined = (state.average_sum[i], state.average_count[i],
                                         state.average_defined[i])
            value = safe_divide(xp, total, xp.astype(count, total.dtype), float("nan"))
            value, defined = xp.asarray(value), xp.asarray(defined)
        if invalid is not None:
            value = xp.where(invalid, xp.asarray(math.nan, dtype=value.dtype), value)
        return (value, defined) if return_defined else value

