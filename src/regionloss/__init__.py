"""regionloss: region-based segmentation losses and metrics on any array-API backend.

Dice, IoU (Jaccard), Tversky, Focal Tversky and their family, written once against the
Python array API standard: the same functions run on NumPy, CuPy and JAX (under ``jit``,
``grad`` and ``vmap``), and on PyTorch and Dask through array-api-compat.

Importing this package loads NumPy and array-api-compat only: JAX, CuPy, PyTorch, SciPy
and Dask are imported lazily, by the functions that need them.
"""

__version__ = "0.1.0"

# --- losses (regionloss.losses) --------------------------------------------------------
from .losses import dice_loss, focal_tversky_loss, iou_loss, jaccard_loss, tversky_loss
# --- loss family: generalized Dice, log-cosh Dice, Lovasz, CE, focal, compounds ---------
from .compound import CompoundLoss, combine, dice_ce_loss, dice_focal_loss  # noqa: E402
from .distribution import cross_entropy_loss, focal_loss  # noqa: E402
from .losses import generalized_dice_loss, log_cosh_dice_loss  # noqa: E402
from .lovasz import lovasz_hinge_loss, lovasz_softmax_loss  # noqa: E402
# --- metrics (regionloss.metrics) ------------------------------------------------------
from .metrics import (  # noqa: E402
    METRIC_NAMES,
    MetricAccumulator,
    MetricState,
    accuracy,
    balanced_accuracy,
    class_statistics,
    confusion_matrix,
    dice_score,
    fbeta_score,
    iou_score,
    matthews_corrcoef,
    mean_iou,
    precision,
    recall,
    score_confusion,
    specificity,
    to_labels,
    tversky_score,
)
# --- boundary metrics (regionloss.surface) ---------------------------------------------
from .surface import (  # noqa: E402
    SURFACE_METRICS,
    average_surface_distance,
    hausdorff_distance,
    surface_dice,
    surface_metrics,
)
# --- offline scoring (regionloss.scoring / regionloss.cli) -----------------------------
from .scoring import ScoreReport, score

__all__ = [
    "accuracy",
    "average_surface_distance",
    "balanced_accuracy",
    "class_statistics",
    "combine",
    "CompoundLoss",
    "confusion_matrix",
    "cross_entropy_loss",
    "dice_ce_loss",
    "dice_focal_loss",
    "dice_loss",
    "dice_score",
    "fbeta_score",
    "focal_loss",
    "focal_tversky_loss",
    "generalized_dice_loss",
    "hausdorff_distance",
    "iou_loss",
    "iou_score",
    "jaccard_loss",
    "log_cosh_dice_loss",
    "lovasz_hinge_loss",
    "lovasz_softmax_loss",
    "matthews_corrcoef",
    "mean_iou",
    "METRIC_NAMES",
    "MetricAccumulator",
    "MetricState",
    "precision",
    "recall",
    "score",
    "score_confusion",
    "ScoreReport",
    "specificity",
    "surface_dice",
    "SURFACE_METRICS",
    "surface_metrics",
    "to_labels",
    "tversky_loss",
    "tversky_score",
]
