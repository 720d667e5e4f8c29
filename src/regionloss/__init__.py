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
# --- offline scoring (regionloss.scoring / regionloss.cli) -----------------------------
from .scoring import ScoreReport, score
