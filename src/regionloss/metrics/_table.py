"""The table of confusion-matrix metrics: one row per metric, the only place a metric's
formula, micro formula and options are declared.

Each row names a formula of :mod:`regionloss._formulas` on per-class ``(tp, fp, fn, tn)``
(one-vs-rest), the formula used for ``average="micro"`` when it is not the same one on the
class-summed statistics, and the metric's own keyword options with their defaults. Adding a
metric is one row here plus one short ``def`` in :mod:`regionloss.metrics.overlap` or
:mod:`regionloss.metrics.rates` (see ``docs/architecture.md``).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from .. import _formulas as F
from .._validate import check_real

__all__ = ["Metric", "METRICS", "METRIC_NAMES", "METRIC_ALIASES", "resolve_metric",
           "metric_options"]


@dataclasses.dataclass(frozen=True)
class Metric:
    """One metric of the table.

    Attributes
    ----------
    name : str
        The metric's name in :func:`regionloss.score_confusion`, the accumulator and the CLI.
    formula : callable
        ``formula(tp, fp, fn, tn, *, empty, **options)`` per class.
    micro : callable or None
        The formula for ``average="micro"`` (None: ``formula`` on class-summed statistics).
    options : dict
        The metric's own keyword options and their defaults.
    function : str
        The public function that computes it.
    """

    name: str
    formula: Callable
    micro: Callable | None = None
    options: dict = dataclasses.field(default_factory=dict)
    function: str = ""


def _dice(tp, fp, fn, tn, *, empty):
    return F.dice(tp, fp, fn, empty=empty)


def _iou(tp, fp, fn, tn, *, empty):
    return F.iou(tp, fp, fn, empty=empty)


def _tversky(tp, fp, fn, tn, *, empty, alpha, beta):
    return F.tversky(tp, fp, fn, alpha=alpha, beta=beta, empty=empty)


def _pixel_accuracy(tp, fp, fn, tn, *, empty):
    # micro accuracy is the pixel accuracy Σtp / Σ(tp + fn): summing the one-vs-rest tn
    # over classes would count each pixel C - 2 times
    return F.recall(tp, fp, fn, tn, empty=empty)


#: Every confusion-matrix metric, by name (the order of the documentation table).
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("dice", _dice, function="dice_score"),
    Metric("iou", _iou, function="iou_score"),
    Metric("tversky", _tversky, options={"alpha": 0.3, "beta": 0.7}, function="tversky_score"),
    Metric("fbeta", F.fbeta, options={"beta": 1.0}, function="fbeta_score"),
    Metric("precision", F.precision, function="precision"),
    Metric("recall", F.recall, function="recall"),
    Metric("specificity", F.specificity, function="specificity"),
    Metric("npv", F.negative_predictive_value, function="negative_predictive_value"),
    Metric("fpr", F.false_positive_rate, function="false_positive_rate"),
    Metric("fnr", F.false_negative_rate, function="false_negative_rate"),
    Metric("fdr", F.false_discovery_rate, function="false_discovery_rate"),
    Metric("for", F.false_omission_rate, function="false_omission_rate"),
    Metric("accuracy", F.accuracy, micro=_pixel_accuracy, function="accuracy"),
    Metric("balanced_accuracy", F.balanced_accuracy, function="balanced_accuracy"),
    Metric("mcc", F.matthews, function="matthews_corrcoef"),
    Metric("informedness", F.informedness, function="informedness"),
    Metric("markedness", F.markedness, function="markedness"),
    Metric("fowlkes_mallows", F.fowlkes_mallows, function="fowlkes_mallows_index"),
    Metric("prevalence_threshold", F.prevalence_threshold, function="prevalence_threshold"),
)}

#: The names of the metrics of the table, in table order: the ``metric`` argument of
#: ``score_confusion`` and ``MetricAccumulator`` and the names ``regionloss score
#: --metrics`` takes (each also under the other names of ``METRIC_ALIASES``).
METRIC_NAMES = tuple(METRICS)

#: Other names of the same metrics (MONAI's ``ConfusionMatrixMetric`` names included:
#: spaces and hyphens read as underscores, case ignored).
METRIC_ALIASES = {
    "f1": "dice", "f1_score": "dice",
    "jaccard": "iou", "threat_score": "iou", "critical_success_index": "iou", "csi": "iou",
    "sensitivity": "recall", "tpr": "recall", "hit_rate": "recall",
    "true_positive_rate": "recall",
    "tnr": "specificity", "selectivity": "specificity", "true_negative_rate": "specificity",
    "ppv": "precision", "positive_predictive_value": "precision",
    "negative_predictive_value": "npv",
    "fall_out": "fpr", "false_positive_rate": "fpr",
    "miss_rate": "fnr", "false_negative_rate": "fnr",
    "false_discovery_rate": "fdr",
    "false_omission_rate": "for",
    "matthews_correlation_coefficient": "mcc",
    "bookmaker_informedness": "informedness", "youden_index": "informedness",
    "fowlkes_mallows_index": "fowlkes_mallows", "fm": "fowlkes_mallows",
    "pt": "prevalence_threshold",
}


def resolve_metric(name) -> Metric:
    """The table row of ``name`` (a name or an alias); ``ValueError`` naming the choices."""
    if isinstance(name, str):
        key = name.strip().lower().replace(" ", "_").replace("-", "_")
        key = METRIC_ALIASES.get(key, key)
        if key in METRICS:
            return METRICS[key]
    raise ValueError(f"metric must be one of {', '.join(METRIC_NAMES)} (or an alias: "
                     f"{', '.join(sorted(METRIC_ALIASES))}); got {name!r}")


def metric_options(metric: Metric, options: dict) -> dict:
    """The metric's options with defaults filled in and checked (finite, >= 0)."""
    unknown = sorted(set(options) - set(metric.options))
    if unknown:
        takes = (f"it takes only {', '.join(sorted(metric.options))}" if metric.options
                 else "it takes no options")
        raise TypeError(f"metric {metric.name!r} got unexpected option(s) "
                        f"{', '.join(unknown)}: {takes}")
    merged = {**metric.options, **options}
    for key, value in merged.items():
        merged[key] = check_real(key, value, minimum=0.0)
    if metric.name == "fbeta" and merged["beta"] == 0:
        raise ValueError("beta must be > 0 for fbeta (beta = 0 is precision)")
    if metric.name == "tversky" and merged["alpha"] == 0 and merged["beta"] == 0:
        raise ValueError("alpha and beta cannot both be 0 for tversky (the index would be 1 "
                         "whatever the prediction)")
    return merged
