"""The loss catalogue against MONAI, segmentation_models_pytorch and nnU-Net.

``tests/reference/catalogue.{json,npz}`` hold fixed inputs and what MONAI 1.6.1
(``GeneralizedWassersteinDiceLoss``), segmentation_models_pytorch 0.6.0 (``MCCLoss``) and
nnU-Net 2.8.1 (``TopKLoss``) returned, with the gradient of the summed output w.r.t. the
logits. Every case is reproduced, value AND gradient: the value with NumPy, value and
gradient with JAX under ``jax.jit(jax.value_and_grad(...))``.

Tolerances (each a property of the reference, not of regionloss): 1e-9 relative where
the library computes in float64; MONAI's 'GDL' weighting computes its class weights
``1 / (V + 1)`` in float32, so values agree to 1e-8 and gradients to 1e-7 there.

``TABLE`` maps each case to the regionloss call; ``docs/loss_catalogue.md`` is the
readable form (a test checks that it names every case).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

import regionloss as rl
from conftest import HAVE_JAX, assert_gradient_close, reference_dir

TIGHT = 1e-9


def _load():
    directory = reference_dir()
    with open(os.path.join(directory, "catalogue.json"), encoding="utf-8") as fh:
        meta = json.load(fh)
    with np.load(os.path.join(directory, "catalogue.npz")) as npz:
        arrays = {key: npz[key] for key in npz.files}
    return meta, arrays


META, ARRAYS = _load()
CASES = {case["id"]: case for case in META["cases"]}


def _smp_pooled(loss):
    """smp pools the batch and every channel into one binary problem: flatten first."""
    def call(x, y, **options):
        return loss(x.reshape(1, -1), y.reshape(1, -1), class_axis=None, **options)

    return call


@dataclass(frozen=True)
class Mapping:
    """How regionloss reproduces one reference case."""

    call: Callable
    pred: str
    target: str
    options: dict = field(default_factory=dict)
    value_rtol: float = TIGHT
    grad_rtol: float = TIGHT
    spelled: str = ""


CF = {"class_axis": 1}
GWDL = rl.generalized_wasserstein_dice_loss
FLOAT32_ALPHA = dict(value_rtol=1e-8, grad_rtol=1e-7)


def _gwdl(case_id):
    o = CASES[case_id]["options"]
    dist = None if o["dist_matrix"] == "eye" else ARRAYS["gwdl_dist_custom"]
    three_d = case_id.endswith("_3d")
    options = {**CF, "dist_matrix": dist, "weighting_mode": o["weighting_mode"],
               "reduction": o["reduction"]}
    extra = FLOAT32_ALPHA if o["weighting_mode"] == "GDL" else {}
    return Mapping(GWDL, "c3d_logits" if three_d else "c2d_logits",
                   "c3d_labels" if three_d else "c2d_labels", options, **extra)


TABLE: dict[str, Mapping] = {
    **{cid: _gwdl(cid) for cid in CASES if cid.startswith("monai_gwdl")},
    "smp_mcc_binary": Mapping(rl.mcc_loss, "mcc_logits", "mcc_mask",
                              {**CF, "activation": "sigmoid"}),
    "smp_mcc_binary_eps0": Mapping(rl.mcc_loss, "mcc_logits", "mcc_mask",
                                   {**CF, "activation": "sigmoid", "smooth": 0.0}),
    "smp_mcc_binary_nhw": Mapping(rl.mcc_loss, "mcc_logits", "mcc_mask",
                                  {**CF, "activation": "sigmoid"}),
    "smp_mcc_multichannel": Mapping(_smp_pooled(rl.mcc_loss), "mcc_ml_logits", "mcc_ml_target",
                                    {"activation": "sigmoid"},
                                    spelled="mcc_loss(x.reshape(1, -1), y.reshape(1, -1), "
                                            "class_axis=None, activation='sigmoid')"),
    "nnunet_topk_k10": Mapping(rl.topk_cross_entropy, "c2d_logits", "c2d_labels",
                               {**CF, "k": 10}),
    "nnunet_topk_k25": Mapping(rl.topk_cross_entropy, "c2d_logits", "c2d_labels",
                               {**CF, "k": 25}),
    "nnunet_topk_k10_ignore255": Mapping(rl.topk_cross_entropy, "c2d_logits",
                                         "c2d_labels_ignore",
                                         {**CF, "k": 10, "ignore_index": 255}),
    "nnunet_topk_k10_3d": Mapping(rl.topk_cross_entropy, "c3d_logits", "c3d_labels",
                                  {**CF, "k": 10}),
}
LOSS_CASES = sorted(cid for cid, c in CASES.items() if c["kind"] == "loss")


def test_table_covers_every_loss_case():
    assert sorted(TABLE) == LOSS_CASES


def _inputs(mapping):
    x = ARRAYS[mapping.pred].astype(np.float64)     # exactly the libraries' float64 input
    y = ARRAYS[mapping.target]
    if y.dtype.kind == "f":
        y = y.astype(np.float64)
    return x, y


def _expected(case_id):
    case = CASES[case_id]
    return ARRAYS[case["expected"]["value"]], ARRAYS[case["expected"]["grad"]]


@pytest.mark.parametrize("case_id", LOSS_CASES)
def test_value_numpy(case_id):
    mapping = TABLE[case_id]
    x, y = _inputs(mapping)
    got = np.asarray(mapping.call(x, y, **mapping.options))
    want, _ = _expected(case_id)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=mapping.value_rtol, atol=0)


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
@pytest.mark.parametrize("case_id", LOSS_CASES)
def test_value_and_gradient_jax_jit(case_id):
    import jax

    jax.config.update("jax_enable_x64", True)
    mapping = TABLE[case_id]
    x, y = _inputs(mapping)
    y_j = jax.numpy.asarray(y)

    def summed(a):   # the fixtures' gradient is of the summed output
        return jax.numpy.sum(mapping.call(a, y_j, **mapping.options))

    value, grad = jax.jit(jax.value_and_grad(summed))(jax.numpy.asarray(x))
    want, want_grad = _expected(case_id)
    np.testing.assert_allclose(float(value), np.sum(want), rtol=mapping.value_rtol)
    assert_gradient_close(np.asarray(grad), want_grad, case_id, mapping.grad_rtol)


def test_smp_pools_channels_where_regionloss_averages_classes():
    """The rule of the multichannel case matters: per-channel MCC averaged is another number."""
    x, y = _inputs(TABLE["smp_mcc_multichannel"])
    pooled = float(_smp_pooled(rl.mcc_loss)(x, y, activation="sigmoid"))
    per_class = float(rl.mcc_loss(x, y, class_axis=1, activation="sigmoid"))
    want, _ = _expected("smp_mcc_multichannel")
    assert pooled == pytest.approx(float(want), rel=1e-12)
    assert abs(per_class - pooled) > 1e-5


def test_nnunet_counts_ignored_voxels_as_zero_losses():
    """Where fewer scored voxels than the count have a positive loss the conventions part:
    nnU-Net averages the zeros of the ignored voxels in, regionloss only the scored ones."""
    torch = pytest.importorskip("torch")
    x, y = _inputs(TABLE["nnunet_topk_k10_ignore255"])
    y = y.copy()
    y[:, :, 4:] = 255                       # 4 of 32 columns kept: < 256 scored voxels
    count = int(y.size * 50 / 100)          # k = 50: 1024 selected > 512 scored
    ours = float(rl.topk_cross_entropy(x, y, k=50, class_axis=1, ignore_index=255))
    ce = torch.nn.functional.cross_entropy(torch.from_numpy(x), torch.from_numpy(y),
                                           ignore_index=255, reduction="none").numpy()
    nnunet_rule = np.sort(ce.ravel())[::-1][:count].mean()   # zeros of ignored voxels in
    scored = ce[y != 255]
    assert ours == pytest.approx(scored.mean(), rel=1e-12)
    assert nnunet_rule == pytest.approx(scored.sum() / count, rel=1e-12)
    assert ours > nnunet_rule * 1.5


def test_docs_name_every_case():
    path = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "loss_catalogue.md")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    missing = [cid for cid in LOSS_CASES if f"`{cid}`" not in text]
    assert not missing, f"docs/loss_catalogue.md does not name {missing}"


def test_gwdl_matrix_normalisation_matters():
    """MONAI divides the matrix by its maximum: the custom matrix (max 2) scaled by 1/2
    gives the same numbers, and without the normalisation they would differ."""
    x, y = _inputs(TABLE["monai_gwdl_custom_default_mean"])
    M = ARRAYS["gwdl_dist_custom"].astype(np.float64)
    a = float(GWDL(x, y, dist_matrix=M, class_axis=1))
    b = float(GWDL(x, y, dist_matrix=M / 2, class_axis=1))
    assert a == pytest.approx(b, rel=1e-12)
    # the unnormalised errors, by hand: W doubles, the Dice ratio changes
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    W = np.einsum("nchw,nchw->nhw", p, M[:, y].transpose(1, 0, 2, 3))
    alpha = (y != 0).astype(float)
    tp = (alpha * (1 - W)).sum((1, 2))
    raw = 1 - (2 * tp + 1e-5) / (2 * tp + W.sum((1, 2)) + 1e-5)
    assert abs(raw.mean() - a) > 1e-3
