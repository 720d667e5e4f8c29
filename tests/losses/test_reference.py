"""Every loss against MONAI, segmentation_models_pytorch, optax and PyTorch.

``tests/reference/`` holds fixed inputs and what MONAI 1.6.1, segmentation_models_pytorch
0.6.0, optax 0.2.8 and PyTorch returned for them, with the gradient of the summed output
w.r.t. the logits (see ``tests/reference/README.md``). Two tables reproduce every case,
value AND gradient: ``TABLE`` the region losses (Dice, IoU/Jaccard, Tversky, Focal
Tversky), ``FAMILY_TABLE`` the rest of the family (generalized Dice, focal, cross-entropy,
Lovász, the Dice + CE / Dice + focal compounds). Their readable forms are
``docs/equivalence_losses.md`` and ``docs/equivalence_loss_family.md``.

Region losses
=============
The MONAI, segmentation_models_pytorch and optax references are all in float64. Every
Dice, IoU/Jaccard, Tversky and Focal Tversky loss case is reproduced, value AND gradient,
to 1e-6 relative:

* the value with NumPy (float64), and the score ``1 - L`` as well, so that a smoothing
  term of the wrong size (1e-5 against 0 moves ``L`` by ~1e-7) cannot hide in a loss near 1;
* the value and the gradient with JAX (x64, under ``jax.jit(jax.value_and_grad(...))``),
  the gradient taken w.r.t. the channels-first logits of the fixture, as the libraries did.

Where the library computes in exact float64 (every case but ``FLOAT32_ROUNDED``), score and
gradient are also held to float64 rounding (``TIGHT`` = 1e-9): some smoothing differences
(MONAI ``jaccard=True``'s ``s/2``) move the score by only ~7e-7 on these inputs.

``TABLE`` maps each case to the regionloss call that reproduces it and, where the library
follows a convention regionloss does not adopt, to the rule that turns regionloss's
``reduction="none"`` output into the library's number. The same table, for readers, is
``docs/equivalence_losses.md``; a test checks that it names every case.

Conventions found (each one is a RULE below, and ``test_convention_difference_is_real``
shows that it matters on these inputs):

* MONAI multiplies each class's loss by its weight and then takes a plain mean over
  samples and classes (weights not normalised): ``mean_{n,c} w_c L_nc``. regionloss's
  ``class_weights`` give ``Σ w_c L_c / Σ w_c``, i.e. MONAI's number times ``C / Σ w``.
* MONAI ``jaccard=True`` is ``1 - (2tp + s)/(2(tp+fp+fn) + s)``: regionloss's Jaccard with
  ``smooth_nr = smooth_dr = s/2``.
* segmentation_models_pytorch (smp) pools the batch (``per_sample=False``), uses no
  smoothing by default (``smooth_nr = smooth_dr = 0``), multiplies the loss of a class absent
  from the batch's target by 0 but still counts it in the class mean, and its smooth ``s``
  enters the Tversky form ``(tp + s)/(tp + α fp + β fn + s)``: in Dice form that is
  ``smooth_nr = smooth_dr = 2s``. Its TverskyLoss applies the focal exponent AFTER the class
  mean: ``(mean_c ...)**γ``; regionloss's ``focal_tversky_loss`` applies it per class.
* optax ``dice_loss`` writes every variant as ``(tp + s)/(tp + α fp + β fn + s)`` with
  ``s = 1`` and ``α = β = 0.5``: Dice with ``smooth_nr = smooth_dr = 2``; its ``reduction``
  averages over classes only and returns one value per sample, shape (N,).
* MONAI ``squared_pred=True`` computes ``Σy²`` as a float32 ``vector_norm(...)**2`` of its
  float32 one-hot target, so its float64 numbers carry float32 rounding (~1e-7 relative per
  (sample, class), 2e-8 in the mean): within 1e-6, not bit-exact.


The rest of the family
======================
The cases of MONAI 1.6.1 (GeneralizedDiceLoss, FocalLoss, DiceCELoss, DiceFocalLoss),
segmentation_models_pytorch 0.6.0 (LovaszLoss, FocalLoss), optax 0.2.8 (softmax / sigmoid
cross-entropy, sigmoid focal loss, multiclass_generalized_dice_loss) and torch 2.13.0
(``F.cross_entropy``) are reproduced, value AND gradient:

* the value with NumPy, and with JAX under ``jax.jit(jax.value_and_grad(...))``, the
  gradient taken w.r.t. the fixture's channels-first logits as the libraries did;
* to float64 rounding (``TIGHT``, 1e-9 relative) where the library computes in exact
  float64 arithmetic, else to the tolerance its own float32 arithmetic allows (below).

Tolerances other than ``TIGHT`` (each a property of the reference, not of regionloss):

* MONAI GeneralizedDiceLoss computes its class weights in float32 (``ground_o.float()``)
  even for float64 inputs: values within 1e-9, gradients within 1e-7 relative.
* MONAI FocalLoss, and the focal part of DiceFocalLoss, cast the input to float32: 1e-6
  relative for values and gradients (measured: 7e-8 and 2e-7).
* segmentation_models_pytorch's Lovász cases were computed in float32 (the library fails
  in float64): regionloss is run on the same float32 logits, in float32, and compared to
  1e-6 relative (values) and 1e-5 relative (gradients, in 2-norm and max-norm; measured:
  7e-8 and 1.5e-6; 1e-4, the float32 rounding bound of the cumulative sums, when JAX runs
  on a GPU, whose reductions run in another order: measured 2.4e-5 on an H200). Summation
  order differs between the libraries, so bit equality is not expected; a near-tie of
  float32 errors could reorder the sort, which these inputs do not have.

``FAMILY_TABLE`` maps each case to the regionloss call that reproduces it and, where the
library follows a convention regionloss does not adopt, to the rule that turns regionloss's
output into the library's number (the rule is written next to the case).
``docs/equivalence_loss_family.md`` is the readable form; a test checks that it names every
case, and ``test_family_convention_difference_is_real`` shows that each rule matters.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
from conftest import HAVE_JAX, REPO_ROOT, assert_gradient_close, reference_dir

import regionloss
import regionloss._kernels.arrays

RTOL = 1e-6   # the contract: value, score 1 - L and gradient, relative
TIGHT = 1e-9  # where the reference is exact float64 arithmetic (all but FLOAT32_ROUNDED)
# MONAI squared_pred: Σy² is a float32 vector_norm(one_hot)**2 inside MONAI (its one-hot is
# float32), ~1e-7 relative per (sample, class) off the exact value; 1e-6 holds, TIGHT not.
FLOAT32_ROUNDED = {"monai_dice_squared"}

LOSS_CASE_ID = re.compile(
    r"^(monai_dice_|monai_tversky|smp_dice_|smp_jaccard_mc$|smp_tversky_mc$|optax_dice_)"
)


# --------------------------------------------------------------------------- fixtures


def _load():
    directory = reference_dir()
    with open(os.path.join(directory, "reference.json"), encoding="utf-8") as fh:
        meta = json.load(fh)
    with np.load(os.path.join(directory, "reference.npz")) as npz:
        arrays = {key: npz[key] for key in npz.files}
    return meta, arrays


META, ARRAYS = _load()
CASES = {case["id"]: case for case in META["cases"]}


def _loss_case_ids():
    """Every Dice/IoU/Tversky/Focal Tversky loss case of MONAI, smp and optax in the fixtures."""
    return sorted(
        case["id"]
        for case in META["cases"]
        if case["kind"] == "loss"
        and case["library"] in ("monai", "segmentation_models_pytorch", "optax")
        and LOSS_CASE_ID.match(case["id"])
        and "error" not in case
    )


# --------------------------------------------------------------------------- rules
# Each rule turns regionloss's output (the call in the table) into the library's number.
# ``out`` is an array of any namespace, ``ctx`` the case's Mapping and the NumPy inputs.


def _same(out, ctx):
    """The library's setting is a regionloss setting: the numbers are the same."""
    return out


def _monai_broadcast_none(out, ctx):
    """MONAI's reduction='none' keeps a broadcastable (N, C, 1, 1) shape: add the axes."""
    assert out.ndim == 2, out.shape
    return out[:, :, None, None]


def _monai_unnormalised_weights(out, ctx):
    """MONAI: loss_nc * w_c, then a plain mean over samples and classes (no / Σw)."""
    xp = regionloss._kernels.arrays.namespace(out)
    w = xp.asarray(np.asarray(ctx.weights), dtype=out.dtype)
    return xp.mean(out * w)


def _class_presence(ctx):
    """[T_c > 0] over the whole batch, from the (non-ignored) target, as smp tests it."""
    target = ARRAYS[ctx.target]
    if np.issubdtype(target.dtype, np.integer):
        ignore_index = ctx.options.get("ignore_index")
        kept = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
        counts = np.array([np.sum((target == c) & kept) for c in range(ctx.num_classes)])
    else:
        counts = np.sum(target, axis=(0,) + tuple(range(2, target.ndim)))
    return counts > 0


def _smp_absent_zeroed(out, ctx):
    """smp: batch-pooled loss per class times [class present in the batch target], mean over
    ALL classes (absent ones count as 0)."""
    xp = regionloss._kernels.arrays.namespace(out)
    assert out.ndim == 1, out.shape
    present = xp.asarray(_class_presence(ctx).astype(np.float64), dtype=out.dtype)
    return xp.mean(out * present)


def _smp_absent_zeroed_then_power(out, ctx):
    """smp TverskyLoss (its focal variant): (mean_c L_c [T_c > 0]) ** gamma, the exponent
    applied AFTER the class mean."""
    return _smp_absent_zeroed(out, ctx) ** ctx.gamma


def _optax_class_mean(out, ctx):
    """optax reduction='mean': mean over classes only, one value per sample, shape (N,)."""
    xp = regionloss._kernels.arrays.namespace(out)
    assert out.ndim == 2, out.shape
    return xp.mean(out, axis=-1)


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Mapping:
    """How regionloss reproduces one reference case."""

    loss: str                      # regionloss public name
    pred: str                      # npz key of the logits (channels-first in the fixture)
    target: str                    # npz key of the target
    options: dict                  # regionloss keywords
    rule: object = _same           # library convention applied to regionloss's output
    layout: str = "channels_first"  # how the arrays are handed to regionloss (see _arrays)
    num_classes: int = 4
    weights: tuple = ()
    gamma: float = 1.0
    note: str = field(default="", compare=False)


CF = {"class_axis": 1}  # the fixture's logits are channels-first
SMP = {"class_axis": 1, "per_sample": False, "smooth_nr": 0.0, "smooth_dr": 0.0,
       "soft_labels": True, "reduction": "none"}
OPTAX_DICE = {"class_axis": -1, "smooth_nr": 2.0, "smooth_dr": 2.0, "reduction": "none"}

TABLE: dict[str, Mapping] = {
    # ---- MONAI DiceLoss / TverskyLoss: per (sample, class) sums, smooth 1e-5, mean -------
    "monai_dice_default": Mapping("dice_loss", "mc2d_logits", "mc2d_labels", CF),
    "monai_dice_nobg": Mapping("dice_loss", "mc2d_logits", "mc2d_labels",
                               {**CF, "include_background": False}),
    "monai_dice_batch": Mapping("dice_loss", "mc2d_logits", "mc2d_labels", {**CF, "per_sample": False},
                                 note="batch=True"),
    "monai_dice_squared": Mapping("dice_loss", "mc2d_logits", "mc2d_labels",
                                  {**CF, "squared": True},
                                  note="squared_pred=True; MONAI's float32 one-hot norm "
                                       "rounds by ~1e-7"),
    "monai_dice_jaccard": Mapping("jaccard_loss", "mc2d_logits", "mc2d_labels",
                                  {**CF, "smooth_nr": 5e-6, "smooth_dr": 5e-6},
                                  note="jaccard=True is 1-(2tp+s)/(2(tp+fp+fn)+s): "
                                       "regionloss Jaccard with s/2"),
    "monai_dice_none": Mapping("dice_loss", "mc2d_logits", "mc2d_labels",
                               {**CF, "reduction": "none"}, rule=_monai_broadcast_none),
    "monai_dice_weight": Mapping("dice_loss", "mc2d_logits", "mc2d_labels",
                                 {**CF, "reduction": "none"}, rule=_monai_unnormalised_weights,
                                 weights=(0.5, 1.0, 2.0, 1.5),
                                 note="MONAI: mean_{n,c} w_c L_nc, not normalised by Σw"),
    "monai_dice_ignore": Mapping("dice_loss", "mc2d_logits", "mc2d_labels_ignore",
                                 {**CF, "ignore_index": 255}),
    "monai_dice_sigmoid_bin": Mapping("dice_loss", "bin2d_logits", "bin2d_mask",
                                      {**CF, "activation": "sigmoid"}, num_classes=1),
    "monai_dice_sigmoid_ml": Mapping("dice_loss", "ml2d_logits", "ml2d_target",
                                     {**CF, "activation": "sigmoid"}, num_classes=3),
    "monai_dice_soft_label": Mapping("dice_loss", "mc2d_logits", "soft2d_target",
                                     {**CF, "soft_labels": True}),
    "monai_dice_soft_target_hardformula": Mapping("dice_loss", "mc2d_logits", "soft2d_target",
                                                  CF),
    "monai_dice_3d": Mapping("dice_loss", "mc3d_logits", "mc3d_labels", CF, num_classes=3),
    "monai_tversky": Mapping("tversky_loss", "mc2d_logits", "mc2d_labels",
                             {**CF, "alpha": 0.3, "beta": 0.7}),
    "monai_tversky_batch": Mapping("tversky_loss", "mc2d_logits", "mc2d_labels",
                                   {**CF, "alpha": 0.3, "beta": 0.7, "per_sample": False}),
    # ---- segmentation_models_pytorch: batch-pooled, smooth 0, absent classes zeroed ------
    "smp_dice_mc": Mapping("dice_loss", "mc2d_logits", "mc2d_labels", SMP,
                           rule=_smp_absent_zeroed),
    "smp_dice_mc_smooth1": Mapping("dice_loss", "mc2d_logits", "mc2d_labels",
                                   {**SMP, "smooth_nr": 2.0, "smooth_dr": 2.0},
                                   rule=_smp_absent_zeroed,
                                   note="smp smooth=s is (tp+s)/(tp+fp/2+fn/2+s): Dice with 2s"),
    "smp_dice_mc_ignore": Mapping("dice_loss", "mc2d_logits", "mc2d_labels_ignore",
                                  {**SMP, "ignore_index": 255}, rule=_smp_absent_zeroed),
    "smp_dice_binary": Mapping("dice_loss", "bin2d_logits", "bin2d_mask",
                               {**SMP, "activation": "sigmoid"}, rule=_smp_absent_zeroed,
                               num_classes=1),
    "smp_dice_multilabel": Mapping("dice_loss", "ml2d_logits", "ml2d_target",
                                   {**SMP, "activation": "sigmoid"}, rule=_smp_absent_zeroed,
                                   num_classes=3),
    "smp_jaccard_mc": Mapping("jaccard_loss", "mc2d_logits", "mc2d_labels", SMP,
                              rule=_smp_absent_zeroed),
    "smp_tversky_mc": Mapping("tversky_loss", "mc2d_logits", "mc2d_labels",
                              {**SMP, "alpha": 0.3, "beta": 0.7},
                              rule=_smp_absent_zeroed_then_power, gamma=0.75,
                              note="smp's gamma is applied after the class mean"),
    # ---- optax dice_loss: (tp+1)/(tp+α fp+β fn+1), per sample, mean over classes only ----
    "optax_dice_default": Mapping("dice_loss", "mc2d_logits", "mc2d_labels", OPTAX_DICE,
                                  rule=_optax_class_mean, layout="channels_last"),
    "optax_dice_tversky": Mapping("tversky_loss", "mc2d_logits", "mc2d_labels",
                                  {**OPTAX_DICE, "alpha": 0.3, "beta": 0.7,
                                   "smooth_nr": 1.0, "smooth_dr": 1.0},
                                  rule=_optax_class_mean, layout="channels_last"),
    "optax_dice_ignore_bg": Mapping("dice_loss", "mc2d_logits", "mc2d_labels",
                                    {**OPTAX_DICE, "include_background": False},
                                    rule=_optax_class_mean, layout="channels_last"),
    "optax_dice_none": Mapping("dice_loss", "mc2d_logits", "mc2d_labels", OPTAX_DICE,
                               layout="channels_last"),
    "optax_dice_binary": Mapping("dice_loss", "bin2d_logits", "bin2d_mask",
                                 {**OPTAX_DICE, "class_axis": None, "activation": "sigmoid"},
                                 rule=_optax_class_mean, layout="no_class_axis", num_classes=1,
                                 note="optax picks sigmoid for a last axis of size 1"),
}


def _arrays(mapping: Mapping, xp_asarray, logits):
    """The case's (pred, target) laid out for regionloss, from the channels-first ``logits``.

    ``logits`` is passed in (rather than read from the fixture) so that the gradient is taken
    w.r.t. the fixture's channels-first layout, as the libraries' gradients were.
    """
    target = ARRAYS[mapping.target]
    dense = not np.issubdtype(target.dtype, np.integer)
    if dense:
        target = target.astype(np.float64)
    if mapping.layout == "channels_first":
        return logits, xp_asarray(target)
    xp = regionloss._kernels.arrays.namespace(logits)
    if mapping.layout == "channels_last":
        pred = xp.permute_dims(logits, (0, *range(2, logits.ndim), 1))
        if dense:
            target = np.moveaxis(target, 1, -1)
        return pred, xp_asarray(target)
    if mapping.layout == "no_class_axis":
        assert logits.shape[1] == 1
        pred = xp.reshape(logits, (logits.shape[0], *logits.shape[2:]))
        return pred, xp_asarray(target[:, 0])
    raise AssertionError(mapping.layout)


def _regionloss(mapping: Mapping, logits, xp_asarray):
    """The library's number computed by regionloss: the call of the table, then its rule."""
    pred, target = _arrays(mapping, xp_asarray, logits)
    out = getattr(regionloss, mapping.loss)(pred, target, **mapping.options)
    return mapping.rule(out, mapping)


def _expected(case_id):
    exp = CASES[case_id]["expected"]
    return ARRAYS[exp["value"]], ARRAYS[exp["grad"]]


def _assert_value(got, want, case_id):
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == want.shape, f"{case_id}: shape {got.shape} != reference {want.shape}"
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=0, err_msg=f"{case_id}: loss")
    np.testing.assert_allclose(1.0 - got, 1.0 - want, rtol=RTOL, atol=0,
                               err_msg=f"{case_id}: score 1 - L")
    if case_id not in FLOAT32_ROUNDED:
        # the reference is exact float64 arithmetic: so is ours, to rounding. This tighter
        # check is what separates smoothing 1e-5 from 5e-6 (MONAI jaccard=True).
        np.testing.assert_allclose(1.0 - got, 1.0 - want, rtol=TIGHT, atol=0,
                                   err_msg=f"{case_id}: score 1 - L, float64 rounding")


# --------------------------------------------------------------------------- tests


def test_table_covers_every_reference_loss_case():
    """Every Dice/IoU/Tversky/Focal Tversky case of MONAI, smp and optax has a mapping."""
    ids = _loss_case_ids()
    assert len(ids) == 27, ids
    assert set(TABLE) == set(ids), sorted(set(TABLE) ^ set(ids))


def test_equivalence_doc_names_every_case():
    """``docs/equivalence_losses.md`` is the readable form of TABLE: it names every case."""
    path = os.path.join(REPO_ROOT, "docs", "equivalence_losses.md")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    missing = [case_id for case_id in TABLE if f"`{case_id}`" not in text]
    assert not missing, f"docs/equivalence_losses.md does not name {missing}"


@pytest.mark.parametrize("case_id", sorted(TABLE))
def test_value_numpy(case_id):
    """NumPy float64: the loss and the score 1 - L, to 1e-6 relative."""
    mapping = TABLE[case_id]
    want, _ = _expected(case_id)
    logits = ARRAYS[mapping.pred].astype(np.float64)
    got = _regionloss(mapping, logits, np.asarray)
    _assert_value(got, want, case_id)


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
@pytest.mark.parametrize("case_id", sorted(TABLE))
def test_value_and_grad_jax(case_id):
    """JAX x64 under jit(value_and_grad): value and d(sum of output)/d(logits), to 1e-6."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)  # as conftest's JAX_ENABLE_X64=1
    mapping = TABLE[case_id]
    want, want_grad = _expected(case_id)
    logits = jnp.asarray(ARRAYS[mapping.pred].astype(np.float64))
    assert logits.dtype == jnp.float64

    def summed(x):
        out = _regionloss(mapping, x, jnp.asarray)
        return jnp.sum(out), out

    (_, value), grad = jax.jit(jax.value_and_grad(summed, has_aux=True))(logits)
    assert value.dtype == jnp.float64
    _assert_value(value, want, case_id)
    assert bool(jnp.all(jnp.isfinite(grad))), case_id
    # MONAI's float32 rounding in squared_pred moves components of 1e-6 by 1e-11
    assert_gradient_close(grad, want_grad, case_id,
                          RTOL if case_id in FLOAT32_ROUNDED else TIGHT)


# --------------------------------------------------------------------------- conventions


def _call(case_id, **changes):
    """regionloss's number (NumPy float64) for the case with some options changed, no rule."""
    mapping = TABLE[case_id]
    pred, target = _arrays(mapping, np.asarray, ARRAYS[mapping.pred].astype(np.float64))
    options = {**mapping.options, **changes}
    return np.asarray(getattr(regionloss, mapping.loss)(pred, target, **options))


def _differs(got, want, rtol=RTOL):
    """True when ``got`` misses ``want`` (or its score) by more than ``rtol``."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return True
    return not (np.allclose(got, want, rtol=rtol, atol=0)
                and np.allclose(1 - got, 1 - want, rtol=rtol, atol=0))


def test_convention_difference_is_real():
    """Each library rule above is needed: without it the numbers differ on these inputs."""
    value = {case_id: _expected(case_id)[0] for case_id in TABLE}

    # MONAI class weights are not normalised: regionloss's weighted mean times Σw / C.
    w = TABLE["monai_dice_weight"].weights
    ours = _call("monai_dice_weight", reduction="mean", class_weights=w)
    assert _differs(ours, value["monai_dice_weight"])
    _assert_value(ours * sum(w) / len(w), value["monai_dice_weight"], "monai_dice_weight")

    # MONAI jaccard=True scales the smoothing. regionloss's default 1e-5 moves 1 - L by only
    # 7e-7 relative here (the mean is dominated by present classes): caught at float64
    # rounding (TIGHT), not at 1e-6, hence the tighter check in _assert_value.
    assert _differs(_call("monai_dice_jaccard", smooth_nr=1e-5, smooth_dr=1e-5),
                    value["monai_dice_jaccard"], rtol=TIGHT)

    # smp: no smoothing (the default 1e-5 shows at TIGHT only) and a pooled batch.
    assert _differs(np.mean(_call("smp_dice_mc", smooth_nr=1e-5, smooth_dr=1e-5)),
                    value["smp_dice_mc"], rtol=TIGHT)
    assert _differs(np.mean(_call("smp_dice_mc", per_sample=True)), value["smp_dice_mc"])
    # smp smooth=1 is Dice-form smoothing 2, not 1.
    assert _differs(np.mean(_call("smp_dice_mc_smooth1", smooth_nr=1.0, smooth_dr=1.0)),
                    value["smp_dice_mc_smooth1"])

    # smp's focal exponent after the class mean differs from regionloss's per-class one ...
    per_class_focal = regionloss.focal_tversky_loss(
        *_arrays(TABLE["smp_tversky_mc"], np.asarray,
                 ARRAYS["mc2d_logits"].astype(np.float64)),
        alpha=0.3, beta=0.7, gamma=0.75, class_axis=1, per_sample=False,
        smooth_nr=0.0, smooth_dr=0.0)
    assert _differs(per_class_focal, value["smp_tversky_mc"])
    # ... and, every class being present in this batch, smp's number is exactly the
    # documented after-the-mean variant tversky_loss(...) ** gamma.
    assert _class_presence(TABLE["smp_tversky_mc"]).all()
    after_mean = _call("smp_tversky_mc", reduction="mean") ** 0.75
    _assert_value(after_mean, value["smp_tversky_mc"], "smp_tversky_mc")

    # optax smooths with 1 in the Tversky form (2 in Dice form) and averages classes only.
    assert _differs(np.mean(_call("optax_dice_default", smooth_nr=1e-5, smooth_dr=1e-5), -1),
                    value["optax_dice_default"])
    assert _differs(np.mean(_call("optax_dice_default", smooth_nr=1.0, smooth_dr=1.0), -1),
                    value["optax_dice_default"])
    assert _differs(_call("optax_dice_default", reduction="mean"), value["optax_dice_default"])
    # optax's Dice (α = β = 0.5, smooth 1) is regionloss's Tversky(0.5, 0.5) with smooth 1.
    pred, target = _arrays(TABLE["optax_dice_none"], np.asarray,
                           ARRAYS["mc2d_logits"].astype(np.float64))
    tversky_form = regionloss.tversky_loss(pred, target, alpha=0.5, beta=0.5, smooth_nr=1.0,
                                           smooth_dr=1.0, reduction="none")
    _assert_value(tversky_form, value["optax_dice_none"], "optax_dice_none")


def test_smp_absent_class_rule():
    """The smp rule zeroes a class absent from the batch target but keeps it in the mean.

    The fixtures have every class somewhere in each batch, so the rule is checked here on
    a batch without class 3 against the hand-written smp formula
    mean_c (1 - 2tp_c / (P_c + T_c)) [T_c > 0] (MONAI's notes and the fixture's hand check)."""
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(2, 4, 6, 5)) * 2
    labels = rng.integers(0, 3, size=(2, 6, 5))
    out = regionloss.dice_loss(logits, labels, **SMP)
    present = np.bincount(labels.ravel(), minlength=4) > 0
    assert present.tolist() == [True, True, True, False]
    got = np.mean(np.asarray(out) * present)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.moveaxis(np.eye(4)[labels], -1, 1)
    tp, psum, ysum = (p * y).sum((0, 2, 3)), p.sum((0, 2, 3)), y.sum((0, 2, 3))
    want = np.mean((1 - 2 * tp / (psum + ysum)) * present)
    np.testing.assert_allclose(got, want, rtol=1e-12)


# --------------------------------------------------------------------------- beyond the fixtures
# Options the libraries above do not offer (per-class focal exponent, weights indexed by class
# id without the background, per-pixel masks, reduction='sum'), checked against a separate
# NumPy implementation of the definitions, written here from the formulas alone.


def _oracle(pred, target, *, loss, alpha=0.3, beta=0.7, gamma=0.75, ignore_index=None,
            mask=None, include_background=True, class_weights=None, per_sample=True,
            smooth=1e-5, reduction="mean"):
    """Channels-first logits (N, C, ...), integer labels (N, ...); softmax; float64."""
    n, c = pred.shape[:2]
    p = np.exp(pred - pred.max(1, keepdims=True))
    p = p / p.sum(1, keepdims=True)
    y = np.stack([(target == k) for k in range(c)], axis=1).astype(np.float64)
    keep = np.ones(target.shape)
    if ignore_index is not None:
        keep = keep * (target != ignore_index)
    if mask is not None:
        keep = keep * np.broadcast_to(mask, target.shape)
    w_px = keep[:, None]  # per-pixel weight, linear in every sum: tp = Σ w·p·y
    axes = tuple(range(2, p.ndim)) if per_sample else (0,) + tuple(range(2, p.ndim))
    tp = (w_px * p * y).sum(axes)
    fp, fn = (w_px * p).sum(axes) - tp, (w_px * y).sum(axes) - tp
    w_tp, w_fp, w_fn = {"dice": (2.0, 1.0, 1.0), "jaccard": (1.0, 1.0, 1.0)}.get(
        loss, (1.0, alpha, beta))
    score = (w_tp * tp + smooth) / (w_tp * tp + w_fp * fp + w_fn * fn + smooth)
    per_class = 1.0 - score
    if loss == "focal_tversky":
        per_class = per_class ** gamma
    first = 0 if include_background else 1
    per_class = per_class[..., first:]
    if reduction == "none":
        return per_class
    w = np.ones(c) if class_weights is None else np.asarray(class_weights, np.float64)
    w = w[first:]
    class_mean = (per_class * w).sum(-1) / w.sum()
    if not per_sample:
        return class_mean
    return class_mean.sum() if reduction == "sum" else class_mean.mean()


ORACLE_CASES = {
    "focal_tversky_per_class": dict(loss="focal_tversky"),
    "focal_tversky_gamma2_pooled": dict(loss="focal_tversky", gamma=2.0, per_sample=False),
    "tversky_weights_no_background": dict(loss="tversky", include_background=False,
                                          class_weights=[9.0, 1.0, 2.0, 3.0]),
    "dice_weights_sum": dict(loss="dice", class_weights=[0.5, 1.0, 2.0, 1.5], reduction="sum"),
    "jaccard_mask_ignore": dict(loss="jaccard", ignore_index=-1, mask="random"),
    "dice_ignore_class_id": dict(loss="dice", ignore_index=2),
    "focal_tversky_none_no_background": dict(loss="focal_tversky", alpha=0.7, beta=0.3,
                                             include_background=False, reduction="none"),
}


@pytest.mark.parametrize("name", sorted(ORACLE_CASES))
@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
def test_options_against_numpy_oracle(name, layout):
    options = dict(ORACLE_CASES[name])
    loss = options.pop("loss")
    rng = np.random.default_rng(7)
    logits = 3 * rng.standard_normal((3, 4, 9, 7))
    labels = rng.integers(0, 4, size=(3, 9, 7))
    labels[0][labels[0] == 3] = 1                       # class 3 absent from sample 0
    if options.get("ignore_index") is not None:
        labels[rng.random(labels.shape) < 0.15] = options["ignore_index"]
    if options.get("mask") == "random":
        options["mask"] = rng.random((3, 9, 7)) * (rng.random((3, 9, 7)) < 0.8)
    want = _oracle(logits, labels, loss=loss, **options)
    function = {"dice": regionloss.dice_loss, "jaccard": regionloss.jaccard_loss,
                "tversky": regionloss.tversky_loss,
                "focal_tversky": regionloss.focal_tversky_loss}[loss]
    if loss not in ("tversky", "focal_tversky"):
        options.pop("alpha", None), options.pop("beta", None)
    pred = logits if layout == "channels_first" else np.moveaxis(logits, 1, -1)
    got = function(pred, labels, class_axis=1 if layout == "channels_first" else -1, **options)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=0)


# =========================================================================== the rest of the family


def _accelerated() -> bool:
    """True when JAX computes on a GPU or TPU (its reductions run in another order)."""
    try:
        import jax

        return jax.default_backend() != "cpu"
    except ImportError:
        return False


# smp Lovász (float32 throughout). The gradient is built from cumulative sums over up to
# 768 pixels in float32: its rounding bound is n * eps ~ 1e-4 relative. On the CPU the
# summation order stays close to smp's (measured 1.5e-6, held to 1e-5); a GPU sums in
# another order (measured on an H200: 1.1e-5 and 2.4e-5), held to the bound, 1e-4.
FLOAT32_VALUE, FLOAT32_GRAD = 1e-6, (1e-4 if _accelerated() else 1e-5)
MONAI_FLOAT32 = 1e-6                       # MONAI focal: float32 inside the library

CASE_IDS = [
    "monai_gdl_square", "monai_gdl_simple", "monai_gdl_uniform", "monai_gdl_batch",
    "monai_focal", "monai_dicece", "monai_dicefocal",
    "smp_lovasz_mc", "smp_lovasz_mc_perimage", "smp_lovasz_mc_ignore", "smp_lovasz_binary",
    "smp_focal_mc",
    "optax_gdl", "optax_ce_int", "optax_bce", "optax_sigmoid_focal",
    "torch_ce_default", "torch_ce_ignore", "torch_ce_weight", "torch_ce_smooth",
]


# --------------------------------------------------------------------------- rules


def _monai_focal_over_classes(out, mapping):
    """MONAI FocalLoss averages -(1 - p_c)^γ log p_c · y_c over all N·C·H·W elements: the
    per-pixel softmax focal loss (regionloss's mean over pixels) divided by C."""
    return out / mapping.num_classes


def _optax_gdl(out, mapping):
    """optax multiclass_generalized_dice_loss is not Sudre's GDL: w_c = 1/(V_c² + 1e-7), V_c
    the class volume over the whole batch, normalised to Σ_c w_c = C; then the mean over
    samples and classes of w_c · (1 − Dice_nc), per-sample Dice with optax's smooth 1
    (regionloss's Dice with smooth_nr = smooth_dr = 2)."""
    xp = regionloss._kernels.arrays.namespace(out)
    labels = ARRAYS[mapping.target]
    volumes = np.bincount(labels.ravel(), minlength=mapping.num_classes).astype(np.float64)
    w = 1.0 / (volumes ** 2 + 1e-7)
    w = w / w.sum() * mapping.num_classes
    return xp.mean(out * xp.asarray(w, dtype=out.dtype))


@dataclass(frozen=True)
class FamilyMapping:
    """How regionloss reproduces one reference case."""

    call: Callable                 # regionloss loss (or compound) taking (pred, target, **options)
    pred: str                      # npz key of the channels-first logits
    target: str                    # npz key of the target
    options: dict = field(default_factory=dict)
    rule: Callable = _same
    layout: str = "channels_first"  # or "channels_last": logits moved to (N, H, W, C)
    num_classes: int = 4
    float32: bool = False          # run regionloss in float32, as the library did
    value_rtol: float = TIGHT
    grad_rtol: float = TIGHT
    spelled: str = ""              # the regionloss call as the docs write it
    note: str = field(default="", compare=False)


MONAI_DICEFOCAL = regionloss.combine(
    (1.0, regionloss.dice_loss),
    (1.0, functools.partial(regionloss.focal_loss, activation="sigmoid")),
    class_axis=1,
)

FAMILY_TABLE: dict[str, FamilyMapping] = {
    # ---- MONAI GeneralizedDiceLoss: Sudre weights per sample, inf -> max, smooth 1e-5 ----
    "monai_gdl_square": FamilyMapping(regionloss.generalized_dice_loss, "mc2d_logits",
                                      "mc2d_labels", {**CF, "weighting": "square"},
                                      grad_rtol=1e-7),
    "monai_gdl_simple": FamilyMapping(regionloss.generalized_dice_loss, "mc2d_logits",
                                      "mc2d_labels", {**CF, "weighting": "simple"},
                                      grad_rtol=1e-7),
    "monai_gdl_uniform": FamilyMapping(regionloss.generalized_dice_loss, "mc2d_logits",
                                       "mc2d_labels", {**CF, "weighting": "uniform"}),
    "monai_gdl_batch": FamilyMapping(regionloss.generalized_dice_loss, "mc2d_logits",
                                     "mc2d_labels", {**CF, "per_sample": False},
                                     grad_rtol=1e-7),
    # ---- MONAI FocalLoss / DiceCELoss / DiceFocalLoss ------------------------------------
    "monai_focal": FamilyMapping(regionloss.focal_loss, "mc2d_logits", "mc2d_labels",
                                 {**CF, "gamma": 2.0}, rule=_monai_focal_over_classes,
                                 value_rtol=MONAI_FLOAT32, grad_rtol=MONAI_FLOAT32,
                                 note="mean over N·C·H·W elements: regionloss's mean / C"),
    "monai_dicece": FamilyMapping(regionloss.dice_ce_loss, "mc2d_logits", "mc2d_labels", CF),
    "monai_dicefocal": FamilyMapping(MONAI_DICEFOCAL, "mc2d_logits", "mc2d_labels",
                                     value_rtol=MONAI_FLOAT32, grad_rtol=MONAI_FLOAT32,
                                     spelled="combine((1, dice_loss), (1, partial(focal_loss, "
                                             "activation='sigmoid')), class_axis=1)",
                                     note="MONAI's focal part is the sigmoid focal loss"),
    # ---- segmentation_models_pytorch LovaszLoss (float32) and FocalLoss ------------------
    "smp_lovasz_mc": FamilyMapping(regionloss.lovasz_softmax_loss, "mc2d_logits", "mc2d_labels", {**CF, "per_sample": False},
                                    float32=True,
                                   value_rtol=FLOAT32_VALUE, grad_rtol=FLOAT32_GRAD),
    "smp_lovasz_mc_perimage": FamilyMapping(regionloss.lovasz_softmax_loss, "mc2d_logits",
                                            "mc2d_labels", CF, float32=True,
                                            value_rtol=FLOAT32_VALUE, grad_rtol=FLOAT32_GRAD),
    "smp_lovasz_mc_ignore": FamilyMapping(regionloss.lovasz_softmax_loss, "mc2d_logits",
                                          "mc2d_labels_ignore",
                                          {**CF, "per_sample": False, "ignore_index": 255},
                                          float32=True, value_rtol=FLOAT32_VALUE,
                                          grad_rtol=FLOAT32_GRAD),
    "smp_lovasz_binary": FamilyMapping(regionloss.lovasz_hinge_loss, "bin2d_logits", "bin2d_mask",
                                       {**CF, "per_sample": False}, num_classes=1, float32=True,
                                       value_rtol=FLOAT32_VALUE, grad_rtol=FLOAT32_GRAD),
    "smp_focal_mc": FamilyMapping(regionloss.focal_loss, "mc2d_logits", "mc2d_labels",
                                  {**CF, "activation": "sigmoid"},
                                  note="smp multiclass focal is one-vs-rest sigmoid focal"),
    # ---- optax --------------------------------------------------------------------------
    "optax_gdl": FamilyMapping(regionloss.dice_loss, "mc2d_logits", "mc2d_labels",
                               {"smooth_nr": 2.0, "smooth_dr": 2.0, "reduction": "none"},
                               rule=_optax_gdl, layout="channels_last",
                               note="not Sudre's GDL: batch weights on per-sample Dice losses"),
    "optax_ce_int": FamilyMapping(regionloss.cross_entropy_loss, "mc2d_logits", "mc2d_labels",
                                  layout="channels_last"),
    "optax_bce": FamilyMapping(regionloss.cross_entropy_loss, "bin2d_logits", "bin2d_mask",
                               {**CF, "activation": "sigmoid"}, num_classes=1),
    "optax_sigmoid_focal": FamilyMapping(regionloss.focal_loss, "bin2d_logits", "bin2d_mask",
                                         {**CF, "activation": "sigmoid", "gamma": 2.0},
                                         num_classes=1),
    # ---- torch F.cross_entropy ----------------------------------------------------------
    "torch_ce_default": FamilyMapping(regionloss.cross_entropy_loss, "mc2d_logits",
                                      "mc2d_labels", CF),
    "torch_ce_ignore": FamilyMapping(regionloss.cross_entropy_loss, "mc2d_logits",
                                     "mc2d_labels_ignore", {**CF, "ignore_index": 255}),
    "torch_ce_weight": FamilyMapping(regionloss.cross_entropy_loss, "mc2d_logits", "mc2d_labels",
                                     {**CF, "class_weights": [0.5, 1.0, 2.0, 1.5]}),
    "torch_ce_smooth": FamilyMapping(regionloss.cross_entropy_loss, "mc2d_logits", "mc2d_labels",
                                     {**CF, "label_smoothing": 0.1}),
}


def _family_arrays(mapping: FamilyMapping, xp_asarray, logits):
    """(pred, target) laid out for regionloss from the channels-first ``logits``."""
    target = ARRAYS[mapping.target]
    if not np.issubdtype(target.dtype, np.integer):
        target = target.astype(np.float32 if mapping.float32 else np.float64)
    if mapping.layout == "channels_first":
        return logits, xp_asarray(target)
    xp = regionloss._kernels.arrays.namespace(logits)
    assert np.issubdtype(target.dtype, np.integer)
    return xp.permute_dims(logits, (0, *range(2, logits.ndim), 1)), xp_asarray(target)


def _family_regionloss(mapping: FamilyMapping, logits, xp_asarray):
    pred, target = _family_arrays(mapping, xp_asarray, logits)
    return mapping.rule(mapping.call(pred, target, **mapping.options), mapping)


def _family_expected(case_id):
    exp = CASES[case_id]["expected"]
    return ARRAYS[exp["value"]].astype(np.float64), ARRAYS[exp["grad"]]


def _logits(mapping):
    return ARRAYS[mapping.pred].astype(np.float32 if mapping.float32 else np.float64)


def _family_assert_value(got, want, case_id, rtol):
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == want.shape, f"{case_id}: shape {got.shape} != reference {want.shape}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=0, err_msg=f"{case_id}: loss")


# --------------------------------------------------------------------------- tests


def test_table_covers_every_family_case():
    """Every MONAI GDL/Focal/DiceCE/DiceFocal, smp Lovász/Focal, optax CE/BCE/focal/GDL and
    torch cross-entropy case of the fixtures has a mapping."""
    ids = sorted(
        c["id"] for c in META["cases"]
        if c["kind"] == "loss" and "error" not in c and (
            c["id"].startswith(("monai_gdl", "monai_focal", "monai_dicece", "monai_dicefocal",
                                "smp_lovasz", "smp_focal", "optax_gdl", "optax_ce",
                                "optax_bce", "optax_sigmoid_focal", "torch_ce")))
    )
    assert ids == sorted(CASE_IDS)
    assert set(FAMILY_TABLE) == set(CASE_IDS)


def test_family_equivalence_doc_names_every_case():
    path = os.path.join(REPO_ROOT, "docs", "equivalence_loss_family.md")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    missing = [case_id for case_id in FAMILY_TABLE if f"`{case_id}`" not in text]
    assert not missing, f"docs/equivalence_loss_family.md does not name {missing}"


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_family_value_numpy(case_id):
    mapping = FAMILY_TABLE[case_id]
    want, _ = _family_expected(case_id)
    got = _family_regionloss(mapping, _logits(mapping), np.asarray)
    _family_assert_value(got, want, case_id, mapping.value_rtol)


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_family_value_and_grad_jax(case_id):
    import jax
    import jax.numpy as jnp

    mapping = FAMILY_TABLE[case_id]
    want, want_grad = _family_expected(case_id)
    logits = jnp.asarray(_logits(mapping))
    assert logits.dtype == (jnp.float32 if mapping.float32 else jnp.float64)

    def summed(x):
        out = _family_regionloss(mapping, x, jnp.asarray)
        return jnp.sum(out), out

    (_, value), grad = jax.jit(jax.value_and_grad(summed, has_aux=True))(logits)
    _family_assert_value(value, want, case_id, mapping.value_rtol)
    assert_gradient_close(grad, want_grad, case_id, mapping.grad_rtol)


def _family_differs(got, want, rtol=1e-6):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=0)


def test_family_convention_difference_is_real():
    """Each rule and each non-default option above matters on these inputs."""
    value = {case_id: _family_expected(case_id)[0] for case_id in FAMILY_TABLE}
    x = ARRAYS["mc2d_logits"].astype(np.float64)
    y = ARRAYS["mc2d_labels"]

    # MONAI focal: regionloss's mean over pixels is C times MONAI's mean over elements
    assert _family_differs(regionloss.focal_loss(x, y, class_axis=1), value["monai_focal"])
    # MONAI DiceFocal's sigmoid focal part: the softmax dice_focal_loss is another number
    assert _family_differs(regionloss.dice_focal_loss(x, y, class_axis=1), value["monai_dicefocal"])
    # smp focal (one-vs-rest sigmoid) is not the softmax focal loss
    assert _family_differs(regionloss.focal_loss(x, y, class_axis=1), value["smp_focal_mc"])
    # optax's GDL is not Sudre's
    xl = np.moveaxis(x, 1, -1)
    for weighting in ("square", "simple", "uniform"):
        assert _family_differs(regionloss.generalized_dice_loss(xl, y, weighting=weighting),
                        value["optax_gdl"])
    # MONAI GDL is per sample by default; batch=True is per_sample=False
    assert _family_differs(regionloss.generalized_dice_loss(x, y, class_axis=1, per_sample=False),
                    value["monai_gdl_square"])
    # the absent-class rule matters once a class is absent from a sample: sample 1 of the
    # fixture lacks classes 2 and 3 ('zero' drops their weight, 'max' is MONAI's)
    assert _family_differs(regionloss.generalized_dice_loss(x, y, class_axis=1,
                                                     absent_class_weight="zero"),
                    value["monai_gdl_square"])
    # smp Lovász pools the batch (per_image=False) by default; regionloss's default is per
    # sample. Per sample, 'present' matters: sample 1 lacks classes 2 and 3
    x32 = x.astype(np.float32)
    assert _family_differs(regionloss.lovasz_softmax_loss(x32, y, class_axis=1),
                    value["smp_lovasz_mc"])
    assert _family_differs(regionloss.lovasz_softmax_loss(x32, y, class_axis=1, classes="all"),
                    value["smp_lovasz_mc_perimage"])
    # PyTorch's weighted mean is normalised by Σ w_{y_i}: the plain mean of weighted losses
    # (BCEWithLogits-style) is another number
    w = np.array([0.5, 1.0, 2.0, 1.5])
    none = np.asarray(regionloss.cross_entropy_loss(x, y, class_axis=1, class_weights=w,
                                                    reduction="none"))
    assert _family_differs(none.mean(), value["torch_ce_weight"])
    np.testing.assert_allclose(none.sum() / w[y].sum(), value["torch_ce_weight"], rtol=TIGHT)


def test_torch_cross_entropy_with_weights_and_smoothing_live():
    """PyTorch's convention for label smoothing WITH class weights (no fixture case): each
    class's log-probability weighted by its class weight inside the smoothing term, the
    mean normalised by Σ w_{y_i}. Checked against torch itself when it is installed."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 5, 3)) * 2
    y = rng.integers(0, 4, size=(2, 5, 3))
    y[0, 0, 0] = 255
    w = [0.5, 1.0, 2.0, 1.5]
    want = torch.nn.functional.cross_entropy(
        torch.from_numpy(x), torch.from_numpy(y), weight=torch.tensor(w, dtype=torch.float64),
        ignore_index=255, label_smoothing=0.2).item()
    got = regionloss.cross_entropy_loss(x, y, class_axis=1, class_weights=w, ignore_index=255,
                                        label_smoothing=0.2)
    np.testing.assert_allclose(float(got), want, rtol=1e-12)
