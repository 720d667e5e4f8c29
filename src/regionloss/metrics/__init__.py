"""Metrics: confusion-matrix scores of integer label maps, streaming, and boundary metrics.

Every confusion-matrix metric is one row of :mod:`regionloss.metrics._table` and one short
``def`` (:mod:`~regionloss.metrics.overlap`, :mod:`~regionloss.metrics.rates`,
:mod:`~regionloss.metrics.agreement`) over :func:`~regionloss.metrics.confusion.score_labels`;
:class:`MetricAccumulator` streams them; :mod:`~regionloss.metrics.surface` holds the
boundary metrics.
"""

from ._table import METRIC_ALIASES, METRIC_NAMES
from .accumulator import MetricAccumulator, MetricState
from .agreement import (
    fowlkes_mallows_index,
    informedness,
    markedness,
    matthews_corrcoef,
    prevalence_threshold,
)
from .boundary_overlap import boundary_iou
from .confusion import class_statistics, confusion_matrix, score_confusion
from .generalized import generalized_dice_score
from .labels import to_labels
from .overlap import dice_score, fbeta_score, iou_score, mean_iou, tversky_score
from .rates import (
    accuracy,
    balanced_accuracy,
    false_discovery_rate,
    false_negative_rate,
    false_omission_rate,
    false_positive_rate,
    negative_predictive_value,
    precision,
    recall,
    specificity,
)
from .surface import (
    SURFACE_METRICS,
    average_surface_distance,
    hausdorff_distance,
    surface_dice,
    surface_metrics,
)
from .topology import cldice_score

__all__ = [
    "accuracy",
    "average_surface_distance",
    "balanced_accuracy",
    "boundary_iou",
    "class_statistics",
    "cldice_score",
    "confusion_matrix",
    "dice_score",
    "false_discovery_rate",
    "false_negative_rate",
    "false_omission_rate",
    "false_positive_rate",
    "fbeta_score",
    "fowlkes_mallows_index",
    "generalized_dice_score",
    "hausdorff_distance",
    "informedness",
    "iou_score",
    "markedness",
    "matthews_corrcoef",
    "mean_iou",
    "METRIC_ALIASES",
    "METRIC_NAMES",
    "MetricAccumulator",
    "MetricState",
    "negative_predictive_value",
    "precision",
    "prevalence_threshold",
    "recall",
    "score_confusion",
    "specificity",
    "surface_dice",
    "SURFACE_METRICS",
    "surface_metrics",
    "to_labels",
    "tversky_score",
]
