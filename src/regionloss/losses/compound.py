r"""Compound losses: weighted sums of losses, with shared work computed once.

:func:`combine` takes ``(weight, loss)`` or ``(weight, loss, options)`` pairs and returns a
:class:`CompoundLoss`, a callable ``compound(pred, target, /, *, mask=None, **aux)`` that
returns :math:`\sum_k \lambda_k L_k(\text{pred}, \text{target})`. Every term is built (its
options validated) once, when the compound is built, and configuration conflicts are
errors then, not at call time. At call time the inputs are validated and aligned once, and
what several terms read (probabilities, log-probabilities, soft statistics) is computed
once: Dice and Jaccard with the same statistics options share one set of statistics; a
Dice term and a cross-entropy term with the same activation share one ``log_softmax``
(the probabilities are its ``exp``).

:func:`dice_ce_loss` (nnU-Net's default) and :func:`dice_focal_loss` are ready-made
compounds.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping, Sequence

from .._typing import Array
from .._validate import check_nonnegative, check_reduction
from ._term import LossTerm, prepare_terms, term_fields
from .boundary import BoundaryTerm, HausdorffDTTerm, boundary_loss, hausdorff_dt_loss
from .distance_penalized import (
    DistancePenalizedCETerm,
    distance_penalized_cross_entropy,
)
from .generalized import (
    GeneralizedDiceTerm,
    PenaltyGeneralizedDiceTerm,
    generalized_dice_loss,
    penalty_generalized_dice_loss,
)
from .lovasz import (
    LovaszHingeTerm,
    LovaszSoftmaxTerm,
    lovasz_hinge_loss,
    lovasz_softmax_loss,
)
from .mixed import ComboTerm, ExpLogTerm, combo_loss, exp_log_loss
from .pixelwise import CrossEntropyTerm, FocalTerm, cross_entropy_loss, focal_loss
from .rates import (
    MCCTerm,
    SensitivitySpecificityTerm,
    mcc_loss,
    sensitivity_specificity_loss,
)
from .region import (
    AsymmetricTerm,
    DiceTerm,
    FocalTverskyTerm,
    JaccardTerm,
    LogCoshDiceTerm,
    TverskyTerm,
    asymmetric_loss,
    dice_loss,
    focal_tversky_loss,
    jaccard_loss,
    log_cosh_dice_loss,
    tversky_loss,
)
from .topk import TopKCrossEntropyTerm, topk_cross_entropy
from .topology import ClDiceTerm, DiceClDiceTerm, cldice_loss, dice_cldice_loss
from .wasserstein import (
    GeneralizedWassersteinDiceTerm,
    generalized_wasserstein_dice_loss,
)

__all__ = ["TERM_CLASSES", "combine", "CompoundLoss", "dice_ce_loss", "dice_focal_loss",
           "dice_topk_loss"]

#: The term class of every public loss: what :func:`combine` builds for it. Its fields are
#: the loss's keyword options, with the same defaults (``tests/test_public_api.py``).
TERM_CLASSES: dict[Callable, type] = {
    dice_loss: DiceTerm,
    jaccard_loss: JaccardTerm,
    tversky_loss: TverskyTerm,
    focal_tversky_loss: FocalTverskyTerm,
    asymmetric_loss: AsymmetricTerm,
    log_cosh_dice_loss: LogCoshDiceTerm,
    generalized_dice_loss: GeneralizedDiceTerm,
    penalty_generalized_dice_loss: PenaltyGeneralizedDiceTerm,
    cross_entropy_loss: CrossEntropyTerm,
    focal_loss: FocalTerm,
    lovasz_softmax_loss: LovaszSoftmaxTerm,
    lovasz_hinge_loss: LovaszHingeTerm,
    sensitivity_specificity_loss: SensitivitySpecificityTerm,
    generalized_wasserstein_dice_loss: GeneralizedWassersteinDiceTerm,
    exp_log_loss: ExpLogTerm,
    combo_loss: ComboTerm,
    topk_cross_entropy: TopKCrossEntropyTerm,
    mcc_loss: MCCTerm,
    distance_penalized_cross_entropy: DistancePenalizedCETerm,
    boundary_loss: BoundaryTerm,
    hausdorff_dt_loss: HausdorffDTTerm,
    cldice_loss: ClDiceTerm,
    dice_cldice_loss: DiceClDiceTerm,
}

_SHARED = ("class_axis", "ignore_index", "activation")


def _split_loss(loss) -> tuple[Callable, dict]:
    """A regionloss loss (or a ``functools.partial`` of one) as (function, options)."""
    options: dict = {}
    while isinstance(loss, functools.partial):
        if loss.args:
            raise TypeError(
                f"functools.partial of {loss.func!r} binds positional arguments "
                f"{loss.args!r}; a term may bind keyword options only")
        options = {**loss.keywords, **options}
        loss = loss.func
    return loss, options


def build_term(func, options: dict) -> LossTerm:
    """The term of public loss ``func`` with ``options`` (the others: its defaults)."""
    term_class = TERM_CLASSES[func]
    fields = term_fields(term_class)
    arrays = {"mask", *term_class.aux_names, *term_class.optional_aux_names}
    for name in sorted(arrays & set(options)):
        raise ValueError(f"{func.__name__}: {name} is an array of each call, not an option "
                         f"of a compound; pass it when calling the compound "
                         f"(compound(pred, target, {name}=...))")
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise TypeError(f"{func.__name__} has no option {', '.join(map(repr, unknown))}; "
                        f"its options are {', '.join(sorted(fields))}")
    return term_class(**options)


class CompoundLoss:
    """A weighted sum of losses, built by :func:`combine`; call it like a single loss.

    ``compound(pred, target, /, *, mask=None, **aux)`` returns the 0-d weighted sum.
    ``compound.parts(pred, target, /, *, mask=None, **aux)`` returns each term's
    (unweighted) value as a dict, for logging. ``compound.terms`` lists
    ``(weight, term)``.
    """

    def __init__(self, weights, terms, names):
        self._weights = tuple(weights)
        self._terms = tuple(terms)
        self._names = tuple(names)

    @property
    def terms(self):
        return tuple(zip(self._weights, self._terms))

    def __repr__(self) -> str:
        body = ", ".join(f"{w!r} * {n}" for w, n in zip(self._weights, self._names))
        return f"CompoundLoss({body})"

    def _values(self, pred, target, mask, aux):
        built = []
        for term in self._terms:
            if isinstance(term, LossTerm):
                built.append(term)
        if len(built) < len(self._terms) and (mask is not None or aux):
            raise ValueError(
                "mask (or an auxiliary array) was given, but the compound has a term that is "
                "not a regionloss loss and cannot receive it; apply it inside that term")
        prepared = prepare_terms(built, pred, target, mask, aux) if built else None
        values = []
        for term in self._terms:
            if isinstance(term, LossTerm):
                value = term.evaluate(prepared)
                if prepared.inputs.invalid is not None:  # traced labels out of range: NaN
                    value = prepared.inputs.poison(value)
            else:
                value = term(pred, target)
            values.append(value)
        return values

    def parts(self, pred, target, /, *, mask=None, **aux) -> dict:
        """Each term's unweighted value, keyed by name (``name#2`` for repeats)."""
        out, seen = {}, {}
        for name, value in zip(self._names, self._values(pred, target, mask, aux)):
            seen[name] = seen.get(name, 0) + 1
            out[name if seen[name] == 1 else f"{name}#{seen[name]}"] = value
        return out

    def __call__(self, pred, target, /, *, mask=None, **aux):
        total = None
        for weight, value in zip(self._weights, self._values(pred, target, mask, aux)):
            part = value * weight if weight != 1 else value
            total = part if total is None else total + part
        return total


def combine(*terms: tuple, **shared: Any) -> CompoundLoss:
    r"""A weighted sum of losses as one loss, e.g. ``combine((1.0, dice_loss), (1.0, focal_loss))``.

    .. math::
        L(\text{pred}, \text{target}) = \sum_k \lambda_k\,L_k(\text{pred}, \text{target})

    Parameters
    ----------
    *terms : tuple
        ``(weight, loss)`` or ``(weight, loss, options)``. ``weight`` is a finite number
        >= 0. ``loss`` is a regionloss loss (``regionloss.dice_loss``, ...), a
        ``functools.partial`` of one with keyword options, or any other callable
        ``f(pred, target) -> 0-d array`` (used as it is: no shared work, no mask).
        ``options`` is a dict of that loss's keyword options.
    **shared :
        ``class_axis``, ``ignore_index``, ``activation``: options applied to every
        regionloss term that does not set them itself (``activation`` only to the terms
        that have one; the Lovász hinge takes logits as they are).

    Returns
    -------
    CompoundLoss
        ``compound(pred, target, /, *, mask=None, **aux)``: the weighted sum, a 0-d array.
        ``mask`` reaches every term; auxiliary arrays (``distance_maps=...``) reach the
        terms that read them.

    Raises
    ------
    ValueError, TypeError
        When the compound is built: no terms, a malformed term, a negative or non-finite
        weight, an unknown or invalid option of a term, a shared option a term sets
        differently, terms that read ``pred`` or ``target`` differently (different
        ``class_axis`` or ``ignore_index``), a term on probabilities (``activation=None``)
        next to a term on logits, different reductions, or ``reduction='none'``.

    Notes
    -----
    Terms whose statistics options agree (``activation``, ``per_sample``, ``squared``,
    ``soft_labels``) share one set of soft statistics. Terms may use different
    activations (MONAI's DiceFocalLoss pairs a softmax Dice with a sigmoid focal loss):
    each applies its own to the same logits.

    See Also
    --------
    dice_ce_loss, dice_focal_loss

    Examples
    --------
    >>> import functools, numpy as np, regionloss as rl
    >>> loss = rl.combine((1.0, rl.dice_loss, {"include_background": False}),
    ...                   (0.5, functools.partial(rl.focal_loss, gamma=1.0)), class_axis=1)
    >>> logits = np.zeros((1, 3, 2, 2)); labels = np.array([[[0, 1], [2, 2]]])
    >>> float(loss(logits, labels)) > 0
    True
    """
    unknown = sorted(set(shared) - set(_SHARED))
    if unknown:
        raise TypeError(f"combine() shares only {', '.join(_SHARED)} across terms; got "
                        f"{', '.join(unknown)} (set other options on each term)")
    if not terms:
        raise ValueError("combine() needs at least one (weight, loss) term")
    weights, built, names = [], [], []
    for index, item in enumerate(terms):
        if not isinstance(item, tuple) or len(item) not in (2, 3):
            raise TypeError(f"term {index} must be a tuple (weight, loss) or (weight, loss, "
                            f"options); got {item!r}")
        (weight,) = check_nonnegative(**{f"the weight of term {index}": item[0]})
        loss = item[1]
        if len(item) == 3 and not isinstance(item[2], Mapping):
            raise TypeError(f"term {index}: options must be a dict; got {item[2]!r}")
        options = dict(item[2]) if len(item) == 3 else {}
        if not callable(loss):
            raise TypeError(f"term {index}: the loss must be callable; got {loss!r}")
        func, bound = _split_loss(loss)
        if func not in TERM_CLASSES:
            if options or bound:
                raise TypeError(f"term {index}: options apply to regionloss losses only; "
                                f"{loss!r} is not one")
            weights.append(weight)
            built.append(loss)
            names.append(getattr(loss, "__name__", type(loss).__name__))
            continue
        options = {**bound, **options}
        accepted = term_fields(TERM_CLASSES[func])
        for key, value in shared.items():
            if key not in accepted:  # e.g. the Lovász hinge has no activation (logits)
                continue
            if key in options and options[key] != value:
                raise ValueError(f"term {index} ({func.__name__}) sets {key}={options[key]!r} "
                                 f"but combine() shares {key}={value!r}")
            options[key] = value
        try:
            term = build_term(func, options)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"term {index} ({func.__name__}): {exc}") from None
        weights.append(weight)
        built.append(term)
        names.append(func.__name__)
    _check_conflicts([t for t in built if isinstance(t, LossTerm)])
    return CompoundLoss(weights, built, names)


def _check_conflicts(terms: list) -> None:
    """Terms of one compound must read ``pred`` and ``target`` alike and reduce alike."""
    if not terms:
        return
    first = terms[0]
    for term in terms[1:]:
        for attr in ("class_axis", "ignore_index"):
            if getattr(term, attr) != getattr(first, attr):
                spelling = ""
                if attr == "class_axis" and None not in (term.class_axis, first.class_axis):
                    spelling = (" (class axes are compared as spelled, before the "
                                "prediction's rank is known: -1 and a positive index name "
                                "different options even where they reach the same axis)")
                raise ValueError(
                    f"{first.name} has {attr}={getattr(first, attr)!r} but {term.name} has "
                    f"{attr}={getattr(term, attr)!r}: the terms of a compound read one "
                    f"prediction and one target, so they must agree{spelling}; pass "
                    f"{attr}=... to combine() to set it once for every term")
    on_probs = [t.name for t in terms if not t.reads_logits and t.input_activation is None]
    on_logits = [t.name for t in terms if t.reads_logits or t.input_activation is not None]
    if on_probs and on_logits:
        raise ValueError(
            f"{', '.join(on_probs)} read pred as probabilities (activation=None) but "
            f"{', '.join(on_logits)} read it as logits: one prediction cannot be both")
    reductions = {t.reduction for t in terms}
    if "none" in reductions:
        raise ValueError("reduction='none' has a different shape for each loss; a compound "
                         "sums 0-d losses ('mean' or 'sum')")
    if len(reductions) > 1:
        raise ValueError(f"the terms reduce differently ({', '.join(sorted(reductions))}); "
                         "use one reduction for every term")


# --------------------------------------------------------------------------- ready-made


def dice_ce_loss(pred: Array, target: Array, /, *, class_axis: int | None = -1,
                 activation: str | None = "softmax", ignore_index: int | None = None,
                 mask: Array | None = None, include_background: bool = True,
                 class_weights: Sequence[float] | Array | None = None,
                 per_sample: bool = True, smooth_nr: float = 1e-5, smooth_dr: float = 1e-5,
                 squared: bool = False, soft_labels: bool = False,
                 label_smoothing: float = 0.0, dice_weight: float = 1.0,
                 ce_weight: float = 1.0, reduction: str = "mean") -> Array:
    r"""Dice + cross-entropy, ``dice_weight · Dice + ce_weight · CE`` (nnU-Net's default, 1 and 1).

    .. math::
        L = \lambda_{dice}\,L_{Dice} + \lambda_{ce}\,L_{CE}

    with :math:`L_{Dice}` = :func:`regionloss.dice_loss` and :math:`L_{CE}` =
    :func:`regionloss.cross_entropy_loss` (binary cross-entropy with
    ``activation='sigmoid'``), computed on one set of prepared inputs and one
    log-softmax. Equal to calling the two losses separately and adding them.

    Parameters
    ----------
    pred, target : arrays
        Logits and an integer label map or dense target (see :func:`dice_loss`).
    class_axis, activation, ignore_index, mask :
        Reach both parts. ``activation`` is 'softmax' or 'sigmoid' (cross-entropy
        needs logits).
    include_background, class_weights, per_sample, smooth_nr, smooth_dr, squared, soft_labels :
        Reach the Dice part only (see :func:`dice_loss`).
    label_smoothing : float, default 0.0
        Reaches the cross-entropy part only.
    dice_weight, ce_weight : float >= 0, default 1.0
    reduction : {'mean', 'sum'}, default 'mean'
        Of both parts (see each loss); 'none' is not available for a sum.

    Returns
    -------
    array
        0-d, in ``pred``'s namespace and device.

    See Also
    --------
    combine, dice_loss, cross_entropy_loss

    References
    ----------
    .. [1] F. Isensee et al., "nnU-Net: a self-configuring method for deep learning-based
       biomedical image segmentation", Nature Methods 18, 2021 (Dice + CE, weights 1 and 1).
    .. [2] MONAI ``DiceCELoss``.

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> logits = np.zeros((1, 2, 2, 3), dtype=np.float32)
    >>> labels = np.array([[[0, 1], [2, 2]]])
    >>> total = regionloss.dice_ce_loss(logits, labels)
    >>> parts = regionloss.dice_loss(logits, labels) + regionloss.cross_entropy_loss(logits, labels)
    >>> bool(abs(float(total) - float(parts)) < 1e-6)
    True
    """
    dice_weight, ce_weight = check_nonnegative(dice_weight=dice_weight, ce_weight=ce_weight)
    check_reduction(reduction, ("mean", "sum"))
    dice = DiceTerm(class_axis=class_axis, activation=activation, ignore_index=ignore_index,
                    include_background=include_background, class_weights=class_weights,
                    per_sample=per_sample, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
                    squared=squared, soft_labels=soft_labels, reduction=reduction)
    ce = CrossEntropyTerm(class_axis=class_axis, activation=activation,
                          ignore_index=ignore_index, label_smoothing=label_smoothing,
                          reduction=reduction)
    return CompoundLoss((dice_weight, ce_weight), (dice, ce), ("dice_loss", "cross_entropy_loss"))(
        pred, target, mask=mask)


def dice_focal_loss(pred: Array, target: Array, /, *, class_axis: int | None = -1,
                    activation: str | None = "softmax", ignore_index: int | None = None,
                    mask: Array | None = None, include_background: bool = True,
                    class_weights: Sequence[float] | Array | None = None,
                    per_sample: bool = True, smooth_nr: float = 1e-5,
                    smooth_dr: float = 1e-5, squared: bool = False,
                    soft_labels: bool = False, gamma: float = 2.0,
                    alpha: float | Sequence[float] | None = None, dice_weight: float = 1.0,
                    focal_weight: float = 1.0, reduction: str = "mean") -> Array:
    r"""Dice + focal loss, ``dice_weight · Dice + focal_weight · Focal``.

    .. math::
        L = \lambda_{dice}\,L_{Dice} + \lambda_{focal}\,L_{Focal}

    with :math:`L_{Dice}` = :func:`regionloss.dice_loss` and :math:`L_{Focal}` =
    :func:`regionloss.focal_loss`, both with the same ``activation``. (MONAI's
    DiceFocalLoss pairs a softmax Dice with a *sigmoid* focal loss; that is
    ``combine((1, dice_loss), (1, functools.partial(focal_loss, activation="sigmoid")))``.)

    Parameters
    ----------
    pred, target : arrays
    class_axis, activation, ignore_index, mask :
        Reach both parts (``activation``: 'softmax' or 'sigmoid').
    include_background, class_weights, per_sample, smooth_nr, smooth_dr, squared, soft_labels :
        Reach the Dice part only.
    gamma, alpha :
        Reach the focal part only (see :func:`focal_loss`).
    dice_weight, focal_weight : float >= 0, default 1.0
    reduction : {'mean', 'sum'}, default 'mean'

    Returns
    -------
    array
        0-d, in ``pred``'s namespace and device.

    See Also
    --------
    combine, dice_loss, focal_loss

    References
    ----------
    .. [1] W. Zhu et al., "AnatomyNet: deep learning for fast and fully automated
       whole-volume segmentation of head and neck anatomy", Medical Physics 46, 2019
       (Dice + focal).

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> logits = np.zeros((1, 2, 2, 3), dtype=np.float32)
    >>> labels = np.array([[[0, 1], [2, 2]]])
    >>> bool(float(regionloss.dice_focal_loss(logits, labels)) > 0)
    True
    """
    dice_weight, focal_weight = check_nonnegative(dice_weight=dice_weight,
                                                  focal_weight=focal_weight)
    check_reduction(reduction, ("mean", "sum"))
    dice = DiceTerm(class_axis=class_axis, activation=activation, ignore_index=ignore_index,
                    include_background=include_background, class_weights=class_weights,
                    per_sample=per_sample, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
                    squared=squared, soft_labels=soft_labels, reduction=reduction)
    focal = FocalTerm(gamma=gamma, alpha=alpha, class_axis=class_axis, activation=activation,
                      ignore_index=ignore_index, reduction=reduction)
    return CompoundLoss((dice_weight, focal_weight), (dice, focal),
                        ("dice_loss", "focal_loss"))(pred, target, mask=mask)


def dice_topk_loss(pred: Array, target: Array, /, *, class_axis: int | None = -1,
                   activation: str | None = "softmax", ignore_index: int | None = None,
                   mask: Array | None = None, include_background: bool = True,
                   class_weights: Sequence[float] | Array | None = None,
                   per_sample: bool = True, smooth_nr: float = 1e-5,
                   smooth_dr: float = 1e-5, squared: bool = False,
                   soft_labels: bool = False, k: float = 10.0, label_smoothing: float = 0.0,
                   dice_weight: float = 1.0, topk_weight: float = 1.0,
                   reduction: str = "mean") -> Array:
    r"""Dice + top-k cross-entropy, ``dice_weight · Dice + topk_weight · TopK`` (1 and 1).

    .. math::
        L = \lambda_{dice}\,L_{Dice} + \lambda_{topk}\,L_{TopK}

    with :math:`L_{Dice}` = :func:`regionloss.dice_loss` and :math:`L_{TopK}` =
    :func:`regionloss.topk_cross_entropy` (the mean cross-entropy of the ``k`` % hardest
    pixels of the batch), computed on one set of prepared inputs and one log-softmax:
    nnU-Net's "Dice + TopK" loss. Equal to calling the two losses separately and adding
    them.

    Parameters
    ----------
    pred, target : arrays
        Logits and an integer label map or dense target (see :func:`dice_loss`).
    class_axis, activation, ignore_index, mask :
        Reach both parts (``activation``: 'softmax' or 'sigmoid').
    include_background, class_weights, per_sample, smooth_nr, smooth_dr, squared, soft_labels :
        Reach the Dice part only (see :func:`dice_loss`).
    k : float in (0, 100], default 10
        Reaches the top-k part (the percentage of pixels kept, pooled over the batch).
    label_smoothing : float, default 0.0
        Reaches the top-k part.
    dice_weight, topk_weight : float >= 0, default 1.0
    reduction : {'mean', 'sum'}, default 'mean'

    Returns
    -------
    array
        0-d, in ``pred``'s namespace and device.

    See Also
    --------
    combine, dice_loss, topk_cross_entropy, dice_ce_loss

    References
    ----------
    .. [1] F. Isensee et al., "nnU-Net: a self-configuring method for deep learning-based
       biomedical image segmentation", Nature Methods 18, 2021 (``DC_and_topk_loss``).
    .. [2] J. Ma et al., "Loss odyssey in medical image segmentation", Medical Image
       Analysis 71, 2021 (Dice + TopK among the best compounds).

    Examples
    --------
    >>> import numpy as np, regionloss
    >>> logits = np.zeros((1, 2, 2, 3), dtype=np.float32)
    >>> labels = np.array([[[0, 1], [2, 2]]])
    >>> total = regionloss.dice_topk_loss(logits, labels, k=50)
    >>> parts = (regionloss.dice_loss(logits, labels)
    ...          + regionloss.topk_cross_entropy(logits, labels, k=50))
    >>> bool(abs(float(total) - float(parts)) < 1e-6)
    True
    """
    dice_weight, topk_weight = check_nonnegative(dice_weight=dice_weight,
                                                 topk_weight=topk_weight)
    check_reduction(reduction, ("mean", "sum"))
    dice = DiceTerm(class_axis=class_axis, activation=activation, ignore_index=ignore_index,
                    include_background=include_background, class_weights=class_weights,
                    per_sample=per_sample, smooth_nr=smooth_nr, smooth_dr=smooth_dr,
                    squared=squared, soft_labels=soft_labels, reduction=reduction)
    topk = TopKCrossEntropyTerm(k=k, class_axis=class_axis, activation=activation,
                                ignore_index=ignore_index, label_smoothing=label_smoothing,
                                reduction=reduction)
    return CompoundLoss((dice_weight, topk_weight), (dice, topk),
                        ("dice_loss", "topk_cross_entropy"))(pred, target, mask=mask)
