"""The loss family against MONAI, segmentation_models_pytorch, optax and PyTorch.

``tests/reference/`` holds fixed inputs and what MONAI 1.6.1 (GeneralizedDiceLoss,
FocalLoss, DiceCELoss, DiceFocalLoss), segmentation_models_pytorch 0.6.0 (LovaszLoss,
FocalLoss), optax 0.2.8 (softmax / sigmoid cross-entropy, sigmoid focal loss,
multiclass_generalized_dice_loss) and torch 2.13.0 (``F.cross_entropy``) returned, with
the gradient of the summed output w.r.t. the logits. This module reproduces every one of
those cases, value AND gradient:

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
  7e-8 and 1.5e-6). Summation
  order differs between the libraries, so bit equality is not expected; a near-tie of
  float32 errors could reorder the sort, which these inputs do not have.

``TABLE`` maps each case to the regionloss call that reproduces it and, where the library
follows a convention regionloss does not adopt, to the rule that turns regionloss's output
into the library's number (the rule is written next to the case).
``docs/equivalence_loss_family.md`` is the readable form; a test checks that it names every
case, and ``test_convention_difference_is_real`` shows that each rule matters.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
from conftest import HAVE_JAX, assert_gradient_close, reference_dir

import regionloss
import regionloss._kernels.arrays

TIGHT = 1e-9
FLOAT32_VALUE, FLOAT32_GRAD = 1e-6, 1e-5  # smp Lovász (float32 throughout)
MONAI_FLOAT32 = 1e-6                       # MONAI focal: float32 inside the library

CASE_IDS = [
    "monai_gdl_square", "monai_gdl_simple", "monai_gdl_uniform", "monai_gdl_batch",
    "monai_focal", "monai_dicece", "monai_dicefocal",
    "smp_lovasz_mc", "smp_lovasz_mc_perimage", "smp_lovasz_mc_ignore", "smp_lovasz_binary",
    "smp_focal_mc",
    "optax_gdl", "optax_ce_int", "optax_bce", "optax_sigmoid_focal",
    "torch_ce_default", "torch_ce_ignore", "torch_ce_weight", "torch_ce_smooth",
]


def _load():
    directory = reference_dir()
    with open(os.path.join(directory, "reference.json"), encoding="utf-8") as fh:
        meta = json.load(fh)
    with np.load(os.path.join(directory, "reference.npz")) as npz:
        arrays = {key: npz[key] for key in npz.files}
    return meta, arrays


META, ARRAYS = _load()
CASES = {case["id"]: case for case in META["cases"]}


# --------------------------------------------------------------------------- rules


def _same(out, mapping):
    """The library's setting is a regionloss setting: the numbers are the same."""
    return out


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
class Mapping:
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


CF = {"class_axis": 1}
MONAI_DICEFOCAL = regionloss.combine(
    (1.0, regionloss.dice_loss),
    (1.0, functools.partial(regionloss.focal_loss, activation="sigmoid")),
    class_axis=1,
)

TABLE: dict[str, Mapping] = {
    # ---- MONAI GeneralizedDiceLoss: Sudre weights per sample, inf -> max, smooth 1e-5 ----
    "monai_gdl_square": Mapping(regionloss.generalized_dice_loss, "mc2d_logits", "mc2d_labels",
                                {**CF, "weighting": "square"}, grad_rtol=1e-7),
    "monai_gdl_simple": Mapping(regionloss.generalized_dice_loss, "mc2d_logits", "mc2d_labels",
                                {**CF, "weighting": "simple"}, grad_rtol=1e-7),
    "monai_gdl_uniform": Mapping(regionloss.generalized_dice_loss, "mc2d_logits", "mc2d_labels",
                                 {**CF, "weighting": "uniform"}),
    "monai_gdl_batch": Mapping(regionloss.generalized_dice_loss, "mc2d_logits", "mc2d_labels",
                               {**CF, "per_sample": False}, grad_rtol=1e-7),
    # ---- MONAI FocalLoss / DiceCELoss / DiceFocalLoss ------------------------------------
    "monai_focal": Mapping(regionloss.focal_loss, "mc2d_logits", "mc2d_labels",
                           {**CF, "gamma": 2.0}, rule=_monai_focal_over_classes,
                           value_rtol=MONAI_FLOAT32, grad_rtol=MONAI_FLOAT32,
                           note="mean over N·C·H·W elements: regionloss's mean / C"),
    "monai_dicece": Mapping(regionloss.dice_ce_loss, "mc2d_logits", "mc2d_labels", CF),
    "monai_dicefocal": Mapping(MONAI_DICEFOCAL, "mc2d_logits", "mc2d_labels",
                               value_rtol=MONAI_FLOAT32, grad_rtol=MONAI_FLOAT32,
                               spelled="combine((1, dice_loss), (1, partial(focal_loss, "
                                       "activation='sigmoid')), class_axis=1)",
                               note="MONAI's focal part is the sigmoid focal loss"),
    # ---- segmentation_models_pytorch LovaszLoss (float32) and FocalLoss ------------------
    "smp_lovasz_mc": Mapping(regionloss.lovasz_softmax_loss, "mc2d_logits", "mc2d_labels",
                             {**CF, "per_sample": False}, float32=True,
                             value_rtol=FLOAT32_VALUE, grad_rtol=FLOAT32_GRAD),
    "smp_lovasz_mc_perimage": Mapping(regionloss.lovasz_softmax_loss, "mc2d_logits",
                                      "mc2d_labels", CF, float32=True,
                                      value_rtol=FLOAT32_VALUE, grad_rtol=FLOAT32_GRAD),
    "smp_lovasz_mc_ignore": Mapping(regionloss.lovasz_softmax_loss, "mc2d_logits",
                                    "mc2d_labels_ignore",
                                    {**CF, "per_sample": False, "ignore_index": 255},
                                    float32=True, value_rtol=FLOAT32_VALUE,
                                    grad_rtol=FLOAT32_GRAD),
    "smp_lovasz_binary": Mapping(regionloss.lovasz_hinge_loss, "bin2d_logits", "bin2d_mask",
                                 {**CF, "per_sample": False}, num_classes=1, float32=True,
                                 value_rtol=FLOAT32_VALUE, grad_rtol=FLOAT32_GRAD),
    "smp_focal_mc": Mapping(regionloss.focal_loss, "mc2d_logits", "mc2d_labels",
                            {**CF, "activation": "sigmoid"},
                            note="smp multiclass focal is one-vs-rest sigmoid focal"),
    # ---- optax --------------------------------------------------------------------------
    "optax_gdl": Mapping(regionloss.dice_loss, "mc2d_logits", "mc2d_labels",
                         {"smooth_nr": 2.0, "smooth_dr": 2.0, "reduction": "none"},
                         rule=_optax_gdl, layout="channels_last",
                         note="not Sudre's GDL: batch weights on per-sample Dice losses"),
    "optax_ce_int": Mapping(regionloss.cross_entropy_loss, "mc2d_logits", "mc2d_labels",
                            layout="channels_last"),
    "optax_bce": Mapping(regionloss.cross_entropy_loss, "bin2d_logits", "bin2d_mask",
                         {**CF, "activation": "sigmoid"}, num_classes=1),
    "optax_sigmoid_focal": Mapping(regionloss.focal_loss, "bin2d_logits", "bin2d_mask",
                                   {**CF, "activation": "sigmoid", "gamma": 2.0},
                                   num_classes=1),
    # ---- torch F.cross_entropy ----------------------------------------------------------
    "torch_ce_default": Mapping(regionloss.cross_entropy_loss, "mc2d_logits", "mc2d_labels", CF),
    "torch_ce_ignore": Mapping(regionloss.cross_entropy_loss, "mc2d_logits",
                               "mc2d_labels_ignore", {**CF, "ignore_index": 255}),
    "torch_ce_weight": Mapping(regionloss.cross_entropy_loss, "mc2d_logits", "mc2d_labels",
                               {**CF, "class_weights": [0.5, 1.0, 2.0, 1.5]}),
    "torch_ce_smooth": Mapping(regionloss.cross_entropy_loss, "mc2d_logits", "mc2d_labels",
                               {**CF, "label_smoothing": 0.1}),
}


def _arrays(mapping: Mapping, xp_asarray, logits):
    """(pred, target) laid out for regionloss from the channels-first ``logits``."""
    target = ARRAYS[mapping.target]
    if not np.issubdtype(target.dtype, np.integer):
        target = target.astype(np.float32 if mapping.float32 else np.float64)
    if mapping.layout == "channels_first":
        return logits, xp_asarray(target)
    xp = regionloss._kernels.arrays.namespace(logits)
    assert np.issubdtype(target.dtype, np.integer)
    return xp.permute_dims(logits, (0, *range(2, logits.ndim), 1)), xp_asarray(target)


def _regionloss(mapping: Mapping, logits, xp_asarray):
    pred, target = _arrays(mapping, xp_asarray, logits)
    return mapping.rule(mapping.call(pred, target, **mapping.options), mapping)


def _expected(case_id):
    exp = CASES[case_id]["expected"]
    return ARRAYS[exp["value"]].astype(np.float64), ARRAYS[exp["grad"]]


def _logits(mapping):
    return ARRAYS[mapping.pred].astype(np.float32 if mapping.float32 else np.float64)


def _assert_value(got, want, case_id, rtol):
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
    assert set(TABLE) == set(CASE_IDS)


def test_equivalence_doc_names_every_case():
    path = os.path.join(os.path.dirname(__file__), os.pardir, "docs",
                        "equivalence_loss_family.md")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    missing = [case_id for case_id in TABLE if f"`{case_id}`" not in text]
    assert not missing, f"docs/equivalence_loss_family.md does not name {missing}"


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_value_numpy(case_id):
    mapping = TABLE[case_id]
    want, _ = _expected(case_id)
    got = _regionloss(mapping, _logits(mapping), np.asarray)
    _assert_value(got, want, case_id, mapping.value_rtol)


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_value_and_grad_jax(case_id):
    import jax
    import jax.numpy as jnp

    mapping = TABLE[case_id]
    want, want_grad = _expected(case_id)
    logits = jnp.asarray(_logits(mapping))
    assert logits.dtype == (jnp.float32 if mapping.float32 else jnp.float64)

    def summed(x):
        out = _regionloss(mapping, x, jnp.asarray)
        return jnp.sum(out), out

    (_, value), grad = jax.jit(jax.value_and_grad(summed, has_aux=True))(logits)
    _assert_value(value, want, case_id, mapping.value_rtol)
    assert_gradient_close(grad, want_grad, case_id, mapping.grad_rtol)


def _differs(got, want, rtol=1e-6):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=0)


def test_convention_difference_is_real():
    """Each rule and each non-default option above matters on these inputs."""
    value = {case_id: _expected(case_id)[0] for case_id in TABLE}
    x = ARRAYS["mc2d_logits"].astype(np.float64)
    y = ARRAYS["mc2d_labels"]

    # MONAI focal: regionloss's mean over pixels is C times MONAI's mean over elements
    assert _differs(regionloss.focal_loss(x, y, class_axis=1), value["monai_focal"])
    # MONAI DiceFocal's sigmoid focal part: the softmax dice_focal_loss is another number
    assert _differs(regionloss.dice_focal_loss(x, y, class_axis=1), value["monai_dicefocal"])
    # smp focal (one-vs-rest sigmoid) is not the softmax focal loss
    assert _differs(regionloss.focal_loss(x, y, class_axis=1), value["smp_focal_mc"])
    # optax's GDL is not Sudre's
    xl = np.moveaxis(x, 1, -1)
    for weighting in ("square", "simple", "uniform"):
        assert _differs(regionloss.generalized_dice_loss(xl, y, weighting=weighting),
                        value["optax_gdl"])
    # MONAI GDL is per sample by default; batch=True is per_sample=False
    assert _differs(regionloss.generalized_dice_loss(x, y, class_axis=1, per_sample=False),
                    value["monai_gdl_square"])
    # the absent-class rule matters once a class is absent from a sample: sample 1 of the
    # fixture lacks classes 2 and 3 ('zero' drops their weight, 'max' is MONAI's)
    assert _differs(regionloss.generalized_dice_loss(x, y, class_axis=1,
                                                     absent_class_weight="zero"),
                    value["monai_gdl_square"])
    # smp Lovász pools the batch (per_image=False) by default; regionloss's default is per
    # sample. Per sample, 'present' matters: sample 1 lacks classes 2 and 3
    x32 = x.astype(np.float32)
    assert _differs(regionloss.lovasz_softmax_loss(x32, y, class_axis=1),
                    value["smp_lovasz_mc"])
    assert _differs(regionloss.lovasz_softmax_loss(x32, y, class_axis=1, classes="all"),
                    value["smp_lovasz_mc_perimage"])
    # PyTorch's weighted mean is normalised by Σ w_{y_i}: the plain mean of weighted losses
    # (BCEWithLogits-style) is another number
    w = np.array([0.5, 1.0, 2.0, 1.5])
    none = np.asarray(regionloss.cross_entropy_loss(x, y, class_axis=1, class_weights=w,
                                                    reduction="none"))
    assert _differs(none.mean(), value["torch_ce_weight"])
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
