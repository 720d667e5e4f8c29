"""Losses: region (Dice family), generalized Dice, pixel-wise, Lovász, and compounds.

Every loss is a ``def`` with positional-only arrays and keyword-only options that builds
its term (:mod:`regionloss.losses._term`) and evaluates it; :func:`combine` builds several
terms and evaluates them on one set of prepared inputs.
"""

from .boundary import boundary_loss, hausdorff_dt_loss
from .compound import (
    CompoundLoss,
    combine,
    dice_ce_loss,
    dice_focal_loss,
    dice_topk_loss,
)
from .distance_penalized import distance_penalized_cross_entropy
from .generalized import generalized_dice_loss, penalty_generalized_dice_loss
from .lovasz import lovasz_hinge_loss, lovasz_softmax_loss
from .mixed import combo_loss, exp_log_loss
from .pixelwise import cross_entropy_loss, focal_loss
from .rates import mcc_loss, sensitivity_specificity_loss
from .region import (
    asymmetric_loss,
    dice_loss,
    focal_tversky_loss,
    iou_loss,
    jaccard_loss,
    log_cosh_dice_loss,
    tversky_loss,
)
from .topk import topk_cross_entropy
from .topology import cldice_loss, dice_cldice_loss
from .wasserstein import generalized_wasserstein_dice_loss

__all__ = [
    "asymmetric_loss",
    "boundary_loss",
    "cldice_loss",
    "combine",
    "CompoundLoss",
    "cross_entropy_loss",
    "dice_ce_loss",
    "dice_cldice_loss",
    "dice_focal_loss",
    "dice_loss",
    "focal_loss",
    "focal_tversky_loss",
    "generalized_dice_loss",
    "hausdorff_dt_loss",
    "iou_loss",
    "jaccard_loss",
    "log_cosh_dice_loss",
    "lovasz_hinge_loss",
    "lovasz_softmax_loss",
    "penalty_generalized_dice_loss",
    "tversky_loss",
    "sensitivity_specificity_loss",
    "generalized_wasserstein_dice_loss",
    "exp_log_loss",
    "combo_loss",
    "topk_cross_entropy",
    "dice_topk_loss",
    "mcc_loss",
    "distance_penalized_cross_entropy",
]
