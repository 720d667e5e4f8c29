r"""Hard-label region metrics: confusion matrices, scores, and a streaming accumulator.

Every metric here is a formula over per-class counts read off one confusion matrix
(rows = reference class, columns = predicted class):

.. math::
    tp_c = M_{cc}, \quad fp_c = \sum_r M_{rc} - tp_c, \quad
    fn_c = \sum_k M_{ck} - tp_c, \quad tn_c = \sum M - tp_c - fp_c - fn_c

Counting (:func:`confusion_matrix`) is the only step that looks at pixels; it uses the
backend's native ``bincount`` (NumPy, CuPy, JAX, PyTorch) or a pure array-API fallback.
Scoring (:func:`score_confusion`) is pure arithmetic on the counts, in float64 wherever
the namespace has it, so dataset-scale counts stay exact. Every public metric function is
``confusion_matrix`` followed by ``score_confusion``, and so is the offline scoring CLI:
they cannot disagree.

Conventions (details in ``docs/metrics.md``):

* **Empty sets.** Where a metric's denominator is zero its value is ``zero_division``:
  NaN by default (left out of every NaN-aware mean), or 1.0 / 0.0 if asked. Dice and IoU of a
  class absent from both reference and prediction are ``zero_division``; of a class absent
  from the reference but predicted they are 0 (the denominator is not zero).
* **Averaging.** ``average="none" | "macro" | "micro" | "weighted"`` over classes;
  ``per_sample=False`` (default) pools the counts of the whole batch first (mmsegmentation's
  mIoU, scikit-learn on flattened arrays, torchmetrics' classification metrics);
  ``per_sample=True`` scores each sample (axis 0) and then takes the NaN-aware mean over
  samples (MONAI's ``DiceMetric``, torchmetrics' ``segmentation.DiceScore``).
* ``include_background=False`` leaves class 0 out of the output and of every average; its
  pixels still count as negatives (tn, and fp/fn of the other classes).
* ``ignore_index``: pixels whose *reference* equals it leave every count.
"""

from __future__ import annotations

import inspect
import math
import numbers
from typing import NamedTuple

from . import _formulas as F
from ._average import (
    average_classes,
    average_samples,
    check_average,
    check_zero_division,
    nan_sum_count,
)
from ._backend import is_concrete, namespace, safe_divide
from ._counting import (
    confusion_counts,
    count_dtype,
    count_float_dtype,
    state_device,
)

__all__ = [
    "METRIC_NAMES",
    "confusion_matrix",
    "class_statistics",
    "score_confusion",
    "dice_score",
    "iou_score",
    "tversky_score",
    "precision",
    "recall",
    "specificity",
    "accuracy",
    "balanced_accuracy",
    "fbeta_score",
    "matthews_corrcoef",
    "mean_iou",
    "to_labels",
    "MetricState",
    "MetricAccumulator",
]

METRIC_NAMES = (
    "dice",
    "iou",
    "tversky",
    "precision",
    "recall",
    "specificity",
    "accuracy",
    "balanced_accuracy",
    "fbeta",
    "mcc",
)

# name -> (allowed options with defaults)
_OPTIONS = {
    "tversky": {"alpha": 0.3, "beta": 0.7},
    "fbeta": {"beta": 1.0},
}


def _real_option(value, name):
    """A metric option or threshold as a Python float.

    Any real number (Python, NumPy scalars such as ``np.float32(0.5)``) and any concrete
    0-d real array (a JAX or PyTorch scalar array) is accepted. A traced 0-d array (under
    ``jax.jit``) cannot be: options choose the formula, they must be static.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got the bool {value!r}")
    if isinstance(value, numbers.Real):
        return float(value)
    if getattr(value, "shape", None) is not None and tuple(value.shape) == ():
        try:
            xp = namespace(value)
        except TypeError:
            xp = None
        if xp is not None and xp.isdtype(value.dtype, ("real floating", "integral")):
            if not is_concrete(value):
                raise TypeError(
                    f"{name} must be a static number, got a traced or lazy array; under "
                    "jax.jit pass it as a Python float (a static argument)"
                )
            return float(value)
    raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")


def _check_options(metric, options):
    if metric not in METRIC_NAMES:
        raise ValueError(f"metric must be one of {METRIC_NAMES}, got {metric!r}")
    allowed = _OPTIONS.get(metric, {})
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        where = (f"it takes only {sorted(allowed)}" if allowed else "it takes no options")
        raise TypeError(f"metric {metric!r} got unexpected option(s) {unknown}: {where}")
    merged = dict(allowed)
    merged.update(options)
    for key, value in merged.items():
        value = _real_option(value, key)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{key} must be finite and >= 0, got {value}")
        merged[key] = value
    if metric == "fbeta" and merged["beta"] == 0:
        raise ValueError("fbeta: beta must be > 0 (beta = 0 is precision)")
    if metric == "tversky" and merged["alpha"] == 0 and merged["beta"] == 0:
        raise ValueError("tversky: alpha and beta cannot both be 0")
    return merged


def _formula(metric, options):
    """``(formula, micro_formula)``, each ``f(tp, fp, fn, tn, empty)``."""
    if metric == "dice":
        return (lambda tp, fp, fn, tn, e: F.dice(tp, fp, fn, empty=e)), None
    if metric == "iou":
        return (lambda tp, fp, fn, tn, e: F.iou(tp, fp, fn, empty=e)), None
    if metric == "tversky":
        a, b = options["alpha"], options["beta"]
        return (lambda tp, fp, fn, tn, e: F.tversky(tp, fp, fn, alpha=a, beta=b, empty=e)), None
    if metric == "fbeta":
        beta = options["beta"]
        return (lambda tp, fp, fn, tn, e: F.fbeta(tp, fp, fn, tn, beta=beta, empty=e)), None
    if metric == "mcc":
        return (lambda tp, fp, fn, tn, e: F.matthews(tp, fp, fn, tn, empty=e)), None
    if metric == "accuracy":
        # Per class: one-vs-rest (tp + tn) / n. Micro: pixel accuracy, sum(tp) / sum(tp + fn)
        # (summing the one-vs-rest tn over classes would count each pixel C - 2 times).
        return ((lambda tp, fp, fn, tn, e: F.accuracy(tp, fp, fn, tn, empty=e)),
                (lambda tp, fp, fn, tn, e: F.recall(tp, fp, fn, tn, empty=e)))
    fn_ = {"precision": F.precision, "recall": F.recall, "specificity": F.specificity,
           "balanced_accuracy": F.balanced_accuracy}[metric]
    return (lambda tp, fp, fn, tn, e: fn_(tp, fp, fn, tn, empty=e)), None


# --------------------------------------------------------------------------- counting


def confusion_matrix(pred, target, /, *, num_classes, ignore_index=None, per_sample=False,
                     validate=True):
    r"""Confusion matrix of integer label maps: rows = reference class, columns = predicted.

    .. math:: M_{rc} = \#\{\text{pixels } i : target_i = r,\ pred_i = c\}

    Parameters
    ----------
    pred, target : integer arrays of the same shape
        Predicted and reference label maps (no class axis), labels in ``[0, C)``. Turn
        scores into labels with :func:`to_labels`.
    num_classes : int
        The number of classes ``C``.
    ignore_index : int or None, default None
        Pixels whose reference equals it leave every count; any integer (255, -1, a class
        id). The prediction at those pixels is not looked at.
    per_sample : bool, default False
        ``False``: one ``(C, C)`` matrix for the whole batch; ``True``: one per sample,
        ``(N, C, C)``, with axis 0 of the label maps as the sample axis.
    validate : bool, default True
        On concrete arrays, raise ``ValueError`` for a label outside ``[0, C)`` (other than
        ``ignore_index`` in the reference, and any prediction where the reference is
        ignored), naming the value, the array and its position. Under ``jax.jit`` and on
        Dask the values cannot be looked at: such pixels are dropped from every count.
        On CuPy the check reads one scalar back from the device.

    Returns
    -------
    counts : integer array, ``(C, C)`` or ``(N, C, C)``
        int64 (int32 on JAX without x64: see ``docs/metrics.md`` for dataset-scale
        accumulation), in the caller's namespace and on its device.

    Examples
    --------
    >>> import numpy as np, regionloss as rl
    >>> rl.confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), num_classes=2)
    array([[1, 1],
           [0, 1]])
    """
    return confusion_counts(pred, target, num_classes=num_classes, ignore_index=ignore_index,
                            per_sample=per_sample, validate=validate)


def class_statistics(confusion, /):
    r"""Per-class ``(tp, fp, fn, tn)`` of a ``(..., C, C)`` confusion matrix, as floats.

    With :math:`M` the matrix (rows = reference class, columns = predicted class):

    .. math::
        tp_c = M_{cc}, \quad fp_c = \sum_r M_{rc} - tp_c, \quad
        fn_c = \sum_k M_{ck} - tp_c, \quad tn_c = \sum M - tp_c - fp_c - fn_c

    Parameters
    ----------
    confusion : integer or float array, ``(C, C)`` or ``(..., C, C)``
        Counts, as returned by :func:`confusion_matrix`, in any array-API namespace.

    Returns
    -------
    tp, fp, fn, tn : tuple of 4 float arrays, each ``(..., C)``
        float64 wherever the namespace has it (float32 on JAX without x64), so counts up
        to 2**53 stay exact; in the caller's namespace and on its device. ``tn`` counts,
        one-vs-rest, every pixel that is class c in neither map.
    """
    xp = namespace(confusion)
    cm = xp.astype(confusion, count_float_dtype(xp))
    C = cm.shape[-1]
    eye = xp.eye(C, dtype=cm.dtype, device=_device(cm))
    tp = xp.sum(cm * eye, axis=-1)
    support = xp.sum(cm, axis=-1)      # reference pixels per class (row sums)
    predicted = xp.sum(cm, axis=-2)    # predicted pixels per class (column sums)
    total = xp.sum(support, axis=-1, keepdims=True)
    fp = predicted - tp
    fn = support - tp
    tn = total - tp - fp - fn
    return tp, fp, fn, tn


def _device(x):
    from ._backend import device_of

    return device_of(x)


def _check_confusion(xp, confusion):
    shape = tuple(confusion.shape)
    if confusion.ndim not in (2, 3) or shape[-1] != shape[-2]:
        raise ValueError(
            "confusion must be a (C, C) matrix or a stack (N, C, C) of them, rows = "
            f"reference class, columns = predicted class; got shape {shape}"
        )
    if not (xp.isdtype(confusion.dtype, "integral")
            or xp.isdtype(confusion.dtype, "real floating")):
        raise TypeError(f"confusion must hold counts (integer or float), got {confusion.dtype}")


def _score_stats(xp, stats, metric, options, *, average, include_background, zero_division):
    """Per-class stats (..., C) -> values and defined-counts after the class average."""
    if not include_background:
        stats = tuple(s[..., 1:] for s in stats)
    formula, micro = _formula(metric, options)
    return average_classes(xp, stats, formula, average=average,
                           zero_division=zero_division, micro_formula=micro)


def score_confusion(confusion, /, *, metric, average="none", include_background=True,
                    zero_division=float("nan"), return_defined=False, **metric_options):
    r"""Score a confusion matrix with the named metric.

    Parameters
    ----------
    confusion : array, ``(C, C)`` or ``(N, C, C)``
        Counts, rows = reference class, columns = predicted class (as returned by
        :func:`confusion_matrix`), in any array-API namespace. ``(C, C)``: pooled
        statistics; ``(N, C, C)``: one matrix per sample, scored per sample.
    metric : str
        One of :data:`METRIC_NAMES`: ``"dice"`` :math:`2tp/(2tp+fp+fn)`, ``"iou"``
        :math:`tp/(tp+fp+fn)`, ``"tversky"`` :math:`tp/(tp+\alpha fp+\beta fn)`,
        ``"precision"`` :math:`tp/(tp+fp)`, ``"recall"`` :math:`tp/(tp+fn)`,
        ``"specificity"`` :math:`tn/(tn+fp)`, ``"accuracy"`` :math:`(tp+tn)/n` per class
        (micro: pixel accuracy :math:`\sum tp / \sum (tp+fn)`), ``"balanced_accuracy"``
        (recall + specificity) / 2, ``"fbeta"``
        :math:`(1+\beta^2)tp/((1+\beta^2)tp+\beta^2 fn+fp)`, ``"mcc"`` (one-vs-rest
        Matthews correlation).
    average : {"none", "macro", "micro", "weighted"}, default "none"
        ``"none"``: per-class values, ``(C,)`` or ``(N, C)`` (``C - 1`` columns without
        background). ``"macro"``: NaN-aware mean over classes. ``"micro"``: tp, fp, fn, tn
        summed over classes, then the formula. ``"weighted"``: mean weighted by reference
        support, NaN-aware (undefined classes leave the weights too). With ``(N, C, C)``
        input and an average other than ``"none"``, the per-sample values are then
        averaged over samples, NaN-aware, to a 0-d array.
    include_background : bool, default True
        False leaves class 0 out of the output and of every average (its pixels still
        count as negatives of the other classes).
    zero_division : {nan, 0.0, 1.0}, default nan
        The value wherever a denominator is zero. NaN is left out of NaN-aware means;
        0.0 and 1.0 enter them. Any other value is a ``ValueError``.
    return_defined : bool, default False
        Also return how many values with a non-zero denominator went into each output
        value (an integer array of the output's shape: 0/1 per class for ``"none"``, the
        number of defined (sample, class) values for ``"macro"`` / ``"weighted"``, the
        number of samples (or 0/1 pooled) with a defined pooled value for ``"micro"``).
    **metric_options
        ``alpha`` (FP weight, default 0.3) and ``beta`` (FN weight, default 0.7) for
        ``"tversky"``; ``beta`` (default 1.0) for ``"fbeta"``.

    Returns
    -------
    value : float array (float64 where available), or ``(value, defined)``
    """
    xp = namespace(confusion)
    _check_confusion(xp, confusion)
    average = check_average(average)
    zero_division = check_zero_division(zero_division)
    options = _check_options(metric, metric_options)
    C = confusion.shape[-1]
    if not include_background and C < 2:
        raise ValueError(
            f"include_background=False needs at least 2 classes, got num_classes={C}"
        )
    stats = class_statistics(confusion)
    value, defined = _score_stats(xp, stats, metric, options, average=average,
                                  include_background=include_background,
                                  zero_division=zero_division)
    if confusion.ndim == 3 and average != "none":
        value, defined = average_samples(xp, value, defined)
    # NumPy reductions give NumPy scalars (a float subclass): always hand back arrays.
    value, defined = xp.asarray(value), xp.asarray(defined)
    if return_defined:
        return value, defined
    return value


# --------------------------------------------------------------------------- public metrics


def _score(metric, pred, target, *, num_classes, average, per_sample, include_background,
           ignore_index, zero_division, return_defined, validate=True, **options):
    confusion = confusion_matrix(pred, target, num_classes=num_classes,
                                 ignore_index=ignore_index, per_sample=per_sample,
                                 validate=validate)
    return score_confusion(confusion, metric=metric, average=average,
                           include_background=include_background,
                           zero_division=zero_division, return_defined=return_defined,
                           **options)


_COMMON_DOC = """
    Parameters
    ----------
    pred, target : integer arrays of the same shape
        Predicted and reference label maps, labels in ``[0, num_classes)``; with
        ``per_sample=True`` axis 0 is the sample axis. Turn logits or probabilities into
        labels first with :func:`regionloss.to_labels`.
    num_classes : int
        The number of classes ``C``.
    average : {{"none", "macro", "micro", "weighted"}}, default {average!r}
        Class averaging: ``"none"`` gives per-class values, ``(C,)`` pooled or ``(N, C)``
        per sample; ``"macro"`` is the NaN-aware mean over classes; ``"micro"`` sums tp,
        fp, fn, tn over classes before the formula; ``"weighted"`` weights classes by
        their reference support (NaN-aware: undefined classes leave the weights too).
    per_sample : bool, default False
        ``False`` (default) pools the counts of every pixel of the batch first, as
        mmsegmentation's mIoU and scikit-learn on flattened arrays do: the score of a
        dataset then does not depend on how it was cut into samples or batches, and no
        sample with a missing class can turn it into NaN. ``True`` scores each sample
        (axis 0) and then takes the NaN-aware mean over samples (MONAI's ``DiceMetric``).
    include_background : bool, default True
        ``False`` leaves class 0 out of the output (``C - 1`` columns) and of every
        average; its pixels still count as negatives of the other classes.
    ignore_index : int or None, default None
        Pixels whose reference equals it leave every count.
    zero_division : {{nan, 0.0, 1.0}}, default nan
        The value wherever the denominator is zero (NaN is left out of NaN-aware means;
        1.0 or 0.0 enter them). Any other value is a ``ValueError``.
    return_defined : bool, default False
        Also return, as a second array of the value's shape, how many (sample, class)
        values with a non-zero denominator went into each value.
    validate : bool, default True
        Raise ``ValueError`` on labels outside ``[0, C)`` when the arrays are concrete
        (under ``jax.jit`` such pixels are dropped from every count).{options}

    Returns
    -------
    value : float array in the caller's namespace, on its device
        float64 (float32 on JAX without x64); ``()`` when averaged, ``(C,)`` or
        ``(N, C)`` with ``average="none"``. ``(value, defined)`` with
        ``return_defined=True``.
"""


def _make(metric, name, summary, formula, extra_doc="", options=(), average="macro"):
    """Build one public metric function around :func:`_score`.

    ``options``: ``(name, default, description)`` of the metric's own keyword options
    (``alpha``, ``beta``). They are real keyword-only parameters of the public signature
    (``inspect.signature``, ``help``) and of the docstring; the function checks the names.
    """
    option_names = tuple(o[0] for o in options)
    defaults = {o[0]: o[1] for o in options}

    def metric_fn(pred, target, /, *, num_classes, average=average, per_sample=False,
                  include_background=True, ignore_index=None, zero_division=float("nan"),
                  return_defined=False, validate=True, **kwargs):
        unknown = sorted(set(kwargs) - set(option_names))
        if unknown:
            raise TypeError(f"{name}() got unexpected keyword argument(s) {unknown}")
        opts = dict(defaults)
        opts.update(kwargs)
        return _score(metric, pred, target, num_classes=num_classes, average=average,
                      per_sample=per_sample, include_background=include_background,
                      ignore_index=ignore_index, zero_division=zero_division,
                      return_defined=return_defined, validate=validate, **opts)

    signature = inspect.signature(metric_fn)
    params = [p for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD]
    params += [inspect.Parameter(o, inspect.Parameter.KEYWORD_ONLY, default=d,
                                 annotation=float) for o, d in defaults.items()]
    metric_fn.__signature__ = signature.replace(parameters=params)
    option_doc = "".join(f"\n    {o} : float, default {d!r}\n        {text}"
                         for o, d, text in options)
    metric_fn.__name__ = metric_fn.__qualname__ = name
    metric_fn.__module__ = __name__
    metric_fn.__doc__ = (
        f"{summary}\n\n    .. math:: {formula}\n\n    computed per class from hard counts "
        "(one-vs-rest), then averaged over classes as ``average`` says."
        f"{extra_doc}\n" + _COMMON_DOC.format(average=average, options=option_doc)
    )
    return metric_fn


dice_score = _make(
    "dice", "dice_score",
    "Dice score (F1) of integer label maps.",
    r"D = \frac{2\,tp}{2\,tp + fp + fn}",
    "\n\n    A class absent from reference and prediction is ``zero_division``; absent from "
    "the\n    reference but predicted it scores 0. Equals ``1 - dice_loss`` with zero "
    "smoothing\n    on one-hot inputs.",
)
iou_score = _make(
    "iou", "iou_score",
    "Intersection over union (Jaccard index) of integer label maps.",
    r"IoU = \frac{tp}{tp + fp + fn} = \frac{D}{2 - D}",
)
tversky_score = _make(
    "tversky", "tversky_score",
    "Tversky index of integer label maps (alpha weights FP, beta weights FN).",
    r"TI = \frac{tp}{tp + \alpha\,fp + \beta\,fn}",
    "\n\n    Keyword options ``alpha=0.3`` (on false positives) and ``beta=0.7`` (on false "
    "negatives).\n    ``alpha = beta = 0.5`` is Dice, ``alpha = beta = 1`` is IoU.",
    options=(("alpha", 0.3, "Weight of the false positives (>= 0)."),
             ("beta", 0.7, "Weight of the false negatives (>= 0; not both 0).")),
)
precision = _make(
    "precision", "precision",
    "Precision (positive predictive value) of integer label maps.",
    r"P = \frac{tp}{tp + fp}",
    "\n\n    ``zero_division`` for a class that is never predicted.",
)
recall = _make(
    "recall", "recall",
    "Recall (sensitivity, true positive rate) of integer label maps.",
    r"R = \frac{tp}{tp + fn}",
    "\n\n    ``zero_division`` for a class absent from the reference. With "
    "``average=\"macro\"`` this\n    is mmsegmentation's mAcc and scikit-learn's "
    "``balanced_accuracy_score``.",
)
specificity = _make(
    "specificity", "specificity",
    "Specificity (true negative rate) of integer label maps.",
    r"S = \frac{tn}{tn + fp}",
)
accuracy = _make(
    "accuracy", "accuracy",
    "Pixel accuracy of integer label maps (default ``average=\"micro\"``).",
    r"A_{micro} = \frac{\sum_c tp_c}{\sum_c (tp_c + fn_c)}, \qquad "
    r"A_c = \frac{tp_c + tn_c}{tp_c + fp_c + fn_c + tn_c}",
    "\n\n    ``average=\"micro\"`` (the default here) is the pixel accuracy: the fraction of\n"
    "    scored pixels whose label is right (mmsegmentation's aAcc, scikit-learn's\n"
    "    ``accuracy_score`` on flattened maps); with ``include_background=False`` the\n"
    "    fraction of foreground reference pixels labelled right. Per class\n"
    "    (``\"none\"``, ``\"macro\"``, ``\"weighted\"``) it is the one-vs-rest accuracy\n"
    "    ``A_c`` (MONAI's ``ConfusionMatrixMetric`` \"accuracy\"); for mmsegmentation's\n"
    "    per-class Acc / mAcc use :func:`recall`.",
    average="micro",
)
balanced_accuracy = _make(
    "balanced_accuracy", "balanced_accuracy",
    "One-vs-rest balanced accuracy of integer label maps.",
    r"BA_c = \frac{1}{2}\left(\frac{tp}{tp + fn} + \frac{tn}{tn + fp}\right)",
    "\n\n    Per class, (recall + specificity) / 2, undefined where either is. This is NOT\n"
    "    scikit-learn's multi-class ``balanced_accuracy_score``, which is the macro\n"
    "    recall: use ``recall(..., average=\"macro\")`` for that.",
)
fbeta_score = _make(
    "fbeta", "fbeta_score",
    "F-beta score of integer label maps (beta > 1 favours recall).",
    r"F_\beta = \frac{(1 + \beta^2)\,tp}{(1 + \beta^2)\,tp + \beta^2 fn + fp}",
    "\n\n    Keyword option ``beta=1.0`` (F1 = Dice).",
    options=(("beta", 1.0, "Recall counts beta times as much as precision (> 0; 1 is "
                           "F1 = Dice)."),),
)
matthews_corrcoef = _make(
    "mcc", "matthews_corrcoef",
    "One-vs-rest Matthews correlation coefficient of integer label maps.",
    r"MCC_c = \frac{tp\,tn - fp\,fn}{\sqrt{(tp + fp)(tp + fn)(tn + fp)(tn + fn)}}",
    "\n\n    Per class, the binary MCC of class c against the rest (undefined where any\n"
    "    factor of the denominator is 0), then averaged as ``average`` says. This is NOT\n"
    "    scikit-learn's multi-class ``matthews_corrcoef`` (one number from the whole C x C\n"
    "    matrix, Gorodkin's R_K); ``average=\"micro\"`` gives the MCC of the class-summed\n"
    "    one-vs-rest counts, which is not R_K either.",
)


def mean_iou(pred, target, /, *, num_classes, include_background=True, ignore_index=None,
             zero_division=float("nan"), return_defined=False, validate=True):
    r"""Mean IoU (mIoU): the dataset-level macro IoU of semantic segmentation.

    .. math:: mIoU = \frac{1}{|K|} \sum_{c \in K} \frac{tp_c}{tp_c + fp_c + fn_c}

    with tp, fp, fn pooled over every pixel of the batch (``per_sample=False``) and K the
    classes whose IoU is defined (``zero_division=nan``: a class absent from both
    prediction and reference is left out). Same as
    ``iou_score(pred, target, num_classes=C, average="macro", per_sample=False)``: the
    mIoU of mmsegmentation and of torchmetrics' ``JaccardIndex(task="multiclass",
    average="macro")``. For a dataset, stream the counts with :class:`MetricAccumulator`
    (or sum :func:`confusion_matrix` over batches and call :func:`score_confusion`).

    Parameters are those of :func:`iou_score`; returns a 0-d float array.
    """
    return _score("iou", pred, target, num_classes=num_classes, average="macro",
                  per_sample=False, include_background=include_background,
                  ignore_index=ignore_index, zero_division=zero_division,
                  return_defined=return_defined, validate=validate)


# --------------------------------------------------------------------------- scores -> labels


def to_labels(scores, /, *, class_axis=-1, threshold=None, validate=True):
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
    """
    xp = namespace(scores)
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
        threshold = _real_option(threshold, "threshold")
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
    import operator

    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"class_axis={axis} is out of range for an array of {ndim} dims")
    return axis % ndim


# --------------------------------------------------------------------------- streaming


class MetricState(NamedTuple):
    """Streaming state of one metric: a NamedTuple of arrays (a JAX pytree).

    Every field is additive, so two states merge by ``+`` (:meth:`MetricAccumulator.merge`,
    or ``jax.lax.psum`` across devices).

    Fields
    ------
    confusion : (C, C) integer
        Global counts (rows = reference, columns = prediction): micro, macro, weighted
        and per-class scores pooled over everything seen.
    samples : () integer
        Number of samples seen.
    class_sum, class_count, class_defined : (K,)
        Over samples, per scored class (K = C, or C - 1 without background): sum of the
        per-sample values that are not NaN, how many there were, and how many had a
        non-zero denominator.
    average_sum, average_count, average_defined : (3,)
        The same for the per-sample ``"macro"``, ``"micro"`` and ``"weighted"`` values.
    """

    confusion: object
    samples: object
    class_sum: object
    class_count: object
    class_defined: object
    average_sum: object
    average_count: object
    average_defined: object


_SAMPLE_AVERAGES = ("macro", "micro", "weighted")


class MetricAccumulator:
    """Streaming, mergeable evaluation of one metric over a dataset.

    The object holds only static settings; its methods are pure functions of a
    :class:`MetricState` (a NamedTuple of arrays, hence a JAX pytree), so they can be
    called inside ``jax.jit`` and the states of batches, processes and devices merge by
    addition. The state keeps the global counts *and* the per-sample score sums and
    defined-counts, so the averaging (``"none"``, ``"macro"``, ``"micro"``,
    ``"weighted"``; pooled or per sample) is chosen at :meth:`compute` time.

    Parameters
    ----------
    metric : str
        One of :data:`METRIC_NAMES`.
    num_classes : int
    ignore_index : int or None, default None
    include_background : bool, default True
    zero_division : {nan, 0.0, 1.0}, default nan
        Fixed at construction, because per-sample sums depend on it.
    validate : bool, default True
        Label range check on concrete arrays (see :func:`confusion_matrix`).
    **metric_options
        ``alpha``, ``beta`` for ``"tversky"``; ``beta`` for ``"fbeta"``.

    Examples
    --------
    >>> acc = MetricAccumulator("iou", num_classes=19, ignore_index=255)
    >>> state = acc.init()                                   # doctest: +SKIP
    >>> for pred, target in batches:                         # doctest: +SKIP
    ...     state = acc.update(state, pred, target)
    >>> miou = acc.compute(state, average="macro")           # doctest: +SKIP
    >>> dice_per_image = acc.compute(state, average="macro", per_sample=True)  # +SKIP
    """

    def __init__(self, metric, *, num_classes, ignore_index=None, include_background=True,
                 zero_division=float("nan"), validate=True, **metric_options):
        from ._counting import _check_int

        self.metric = metric
        self.options = _check_options(metric, metric_options)
        self.num_classes = _check_int(num_classes, "num_classes", minimum=1)
        if not include_background and self.num_classes < 2:
            raise ValueError("include_background=False needs at least 2 classes")
        self.ignore_index = (None if ignore_index is None
                             else _check_int(ignore_index, "ignore_index"))
        self.include_background = bool(include_background)
        self.zero_division = check_zero_division(zero_division)
        self.validate = bool(validate)

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
            xp, device = namespace(like), state_device(like)
        ci, cf = count_dtype(xp), count_float_dtype(xp)
        C, K = self.num_classes, self.num_scored
        return MetricState(
            confusion=xp.zeros((C, C), dtype=ci, device=device),
            samples=xp.zeros((), dtype=ci, device=device),
            class_sum=xp.zeros((K,), dtype=cf, device=device),
            class_count=xp.zeros((K,), dtype=ci, device=device),
            class_defined=xp.zeros((K,), dtype=ci, device=device),
            average_sum=xp.zeros((3,), dtype=cf, device=device),
            average_count=xp.zeros((3,), dtype=ci, device=device),
            average_defined=xp.zeros((3,), dtype=ci, device=device),
        )

    def batch_state(self, pred, target, /):
        """The state of one batch of label maps ``(N, ...)`` (axis 0 = samples)."""
        xp = namespace(pred, target)
        per_sample = confusion_counts(pred, target, num_classes=self.num_classes,
                                      ignore_index=self.ignore_index, per_sample=True,
                                      validate=self.validate)
        ci = count_dtype(xp)
        stats = class_statistics(per_sample)
        kwargs = dict(include_background=self.include_background,
                      zero_division=self.zero_division)
        value, defined = _score_stats(xp, stats, self.metric, self.options,
                                      average="none", **kwargs)
        class_sum, class_count = nan_sum_count(xp, value, 0)
        sums, counts, defs = [], [], []
        for average in _SAMPLE_AVERAGES:
            v, d = _score_stats(xp, stats, self.metric, self.options, average=average,
                                **kwargs)
            s, c = nan_sum_count(xp, v, 0)
            sums.append(s)
            counts.append(c)
            defs.append(xp.sum(d, axis=0))
        n = xp.asarray(pred.shape[0], dtype=ci, device=_device(per_sample))
        return MetricState(
            confusion=xp.sum(per_sample, axis=0, dtype=ci),
            samples=n,
            class_sum=class_sum,
            class_count=xp.astype(class_count, ci),
            class_defined=xp.astype(xp.sum(defined, axis=0), ci),
            average_sum=xp.stack(sums),
            average_count=xp.astype(xp.stack(counts), ci),
            average_defined=xp.astype(xp.stack(defs), ci),
        )

    def update(self, state, pred, target, /):
        """``state`` plus one batch of label maps ``(N, ...)``; returns a new state."""
        return self.merge(state, self.batch_state(pred, target))

    @staticmethod
    def merge(a, b, /):
        """The state of everything ``a`` and ``b`` have seen (field-wise addition)."""
        return MetricState(*(x + y for x, y in zip(a, b)))

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
            class (K = C, or C - 1 without background); otherwise ``()``. Pooled
            (``per_sample=False``): the metric of the summed confusion matrix, as
            :func:`score_confusion` gives it. Per sample: the NaN-aware mean over samples
            of the per-sample values (NaN where none was a number: no sample seen, or
            every value undefined with ``zero_division=nan``).
        defined : integer array of ``value``'s shape, only with ``return_defined=True``
            How many values with a non-zero denominator are behind each output value:
            per class and summed over samples for ``"none"``, the (sample, class) count
            for ``"macro"`` / ``"weighted"``, the number of samples with a defined pooled
            value for ``"micro"``; pooled, as :func:`score_confusion` counts them.
        """
        average = check_average(average)
        if not per_sample:
            return score_confusion(state.confusion, metric=self.metric, average=average,
                                   include_background=self.include_background,
                                   zero_division=self.zero_division,
                                   return_defined=return_defined, **self.options)
        xp = namespace(state.class_sum)
        if average == "none":
            total, count, defined = state.class_sum, state.class_count, state.class_defined
        else:
            i = _SAMPLE_AVERAGES.index(average)
            total, count, defined = (state.average_sum[i], state.average_count[i],
                                     state.average_defined[i])
        value = safe_divide(xp, total, xp.astype(count, total.dtype), float("nan"))
        value, defined = xp.asarray(value), xp.asarray(defined)
        if return_defined:
            return value, defined
        return value

