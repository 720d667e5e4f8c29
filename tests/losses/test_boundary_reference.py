"""The boundary and topology losses and the distance maps against the reference fixtures.

``tests/reference/boundary.{json,npz}`` hold fixed inputs and what SciPy 1.17.1, the
boundary-loss authors' definition (``one_hot2dist``, ``SurfaceLoss``) and MONAI 1.6.1
(``HausdorffDTLoss``, ``SoftclDiceLoss``, ``SoftDiceclDiceLoss``) returned for them, with the
gradient of the summed output w.r.t. the logits, in float64 (``tests/reference/README.md``).

Every loss case is reproduced, value AND gradient:

* the value with NumPy (float64);
* value and gradient with PyTorch autograd through regionloss (the binding of the fixtures);
* value and gradient with JAX under ``jax.jit(jax.value_and_grad(...))`` for one case of each
  loss, with the logits moved to channels-last (``class_axis=-1``), so that both layouts
  and the JAX distance transform are held to the reference.

Tolerances: ``TIGHT`` (1e-9 relative) where the reference is exact float64 arithmetic;
``RTOL`` (1e-6) for MONAI's ``HausdorffDTLoss``, which stores its distance fields in
float32 (``d**alpha`` carries float32 rounding, ~1e-7 relative per element; the fixtures
differ from the float64 value by up to ~1e-9 in the means).

``TABLE`` maps each case to the regionloss call that reproduces it, and where MONAI reduces
differently, to the RULE that turns regionloss's ``reduction="none"`` output into MONAI's.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np
import pytest
from conftest import HAVE_JAX, HAVE_TORCH, assert_gradient_close, reference_dir

import regionloss as rl
from regionloss._kernels.arrays import namespace

TIGHT = 1e-9
RTOL = 1e-6  # MONAI HausdorffDTLoss: float32 distance fields


def _load():
    directory = reference_dir()
    with open(os.path.join(directory, "boundary.json"), encoding="utf-8") as fh:
        meta = json.load(fh)
    with np.load(os.path.join(directory, "boundary.npz")) as npz:
        arrays = {key: npz[key] for key in npz.files}
    return meta, arrays


META, ARRAYS = _load()
CASES = {case["id"]: case for case in META["cases"]}


# --------------------------------------------------------------------------- rules


def _same(out, n):
    return out


def _trailing(out, n):
    """MONAI reduction='none' keeps a broadcastable (N, C', 1, ...) shape."""
    xp = namespace(out)
    for _ in range(n):
        out = xp.expand_dims(out, axis=-1)
    return out


def _batch_trailing(out, n):
    """MONAI batch=True, reduction='none': (1, C', 1, ...) from regionloss's (K,)."""
    xp = namespace(out)
    return _trailing(xp.expand_dims(out, axis=0), n)


def _sum_all(out, n):
    """MONAI reduction='sum' adds every (sample, class) value."""
    return namespace(out).sum(out)


@dataclass(frozen=True)
class Mapping:
    loss: str
    pred: str
    target: str
    options: dict
    rule: object = _same
    maps: dict = field(default_factory=dict)   # boundary loss: signed_distance_map options
    softmax_first: bool = False                # the case passes softmax probabilities


HD, CL, DCL, BL = "hausdorff_dt_loss", "cldice_loss", "dice_cldice_loss", "boundary_loss"
B2, B3, ML = ("b2d_logits", "b2d_target"), ("b3d_logits", "b3d_target"), (
    "b2d_ml_logits", "b2d_ml_target")
SIG = {"activation": "sigmoid"}

TABLE: dict[str, Mapping] = {
    # ---- the boundary-loss authors' SurfaceLoss on one_hot2dist maps, idc = foreground
    "kervadec_surface_2d": Mapping(BL, *B2, {}, maps={"num_classes": 4}),
    "kervadec_surface_3d": Mapping(BL, *B3, {}, maps={"num_classes": 3,
                                                      "spacing": (2.5, 0.7, 0.7)}),
    # ---- MONAI HausdorffDTLoss
    "monai_hddt_softmax_2d": Mapping(HD, *B2, {}),
    "monai_hddt_softmax_bg_2d": Mapping(HD, *B2, {"include_background": True}),
    "monai_hddt_softmax_alpha1_2d": Mapping(HD, *B2, {"alpha": 1.0}),
    "monai_hddt_softmax_none_2d": Mapping(HD, *B2, {"reduction": "none"}, rule=_trailing),
    "monai_hddt_softmax_batch_2d": Mapping(HD, *B2, {"per_sample": False}),
    "monai_hddt_softmax_batch_none_2d": Mapping(HD, *B2, {"per_sample": False,
                                                          "reduction": "none"},
                                                rule=_batch_trailing),
    "monai_hddt_softmax_bg_alpha1_sum_2d": Mapping(
        HD, *B2, {"include_background": True, "alpha": 1.0, "reduction": "none"},
        rule=_sum_all),
    "monai_hddt_softmax_3d": Mapping(HD, *B3, {}),
    "monai_hddt_softmax_bg_3d": Mapping(HD, *B3, {"include_background": True}),
    "monai_hddt_softmax_alpha1_3d": Mapping(HD, *B3, {"alpha": 1.0}),
    "monai_hddt_softmax_batch_none_3d": Mapping(HD, *B3, {"per_sample": False,
                                                          "reduction": "none"},
                                                rule=_batch_trailing),
    "monai_hddt_sigmoid_bg_2d": Mapping(HD, *ML, {**SIG, "include_background": True}),
    "monai_hddt_sigmoid_2d": Mapping(HD, *ML, SIG),
    "monai_hddt_sigmoid_bg_none_2d": Mapping(HD, *ML, {**SIG, "include_background": True,
                                                       "reduction": "none"}, rule=_trailing),
    "monai_hddt_sigmoid_bg_batch_alpha1_2d": Mapping(
        HD, *ML, {**SIG, "include_background": True, "per_sample": False, "alpha": 1.0,
                  "reduction": "none"}, rule=_batch_trailing),
    # ---- MONAI SoftclDiceLoss / SoftDiceclDiceLoss (defaults shared)
    "monai_softcldice_default_2d": Mapping(CL, *B2, {}),
    "monai_softcldice_iter5_2d": Mapping(CL, *B2, {"iterations": 5}),
    "monai_softcldice_nobg_2d": Mapping(CL, *B2, {"include_background": False}),
    "monai_softcldice_none_2d": Mapping(CL, *B2, {"reduction": "none"}),
    "monai_softcldice_probs_2d": Mapping(CL, *B2, {"activation": None}, softmax_first=True),
    "monai_softcldice_default_3d": Mapping(CL, *B3, {}),
    "monai_softcldice_iter5_3d": Mapping(CL, *B3, {"iterations": 5}),
    "monai_softcldice_none_3d": Mapping(CL, *B3, {"reduction": "none"}),
    "monai_softcldice_probs_3d": Mapping(CL, *B3, {"activation": None}, softmax_first=True),
    "monai_softcldice_sigmoid_2d": Mapping(CL, *ML, SIG),
    "monai_softdicecldice_default_2d": Mapping(DCL, *B2, {}),
    "monai_softdicecldice_alpha03_2d": Mapping(DCL, *B2, {"alpha": 0.3}),
    "monai_softdicecldice_default_3d": Mapping(DCL, *B3, {}),
    "monai_softdicecldice_alpha03_3d": Mapping(DCL, *B3, {"alpha": 0.3}),
}
# MONAI broadcasts SoftDiceclDiceLoss(reduction='none') to (N, C, 1, N): a rule over two
# regionloss calls (test_softdicecldice_none_broadcast below)
BROADCAST_NONE = "monai_softdicecldice_none_2d"

# one JAX case per loss (and per activation of the Hausdorff loss), channels-last
JAX_CASES = ["kervadec_surface_3d", "monai_hddt_softmax_2d", "monai_hddt_sigmoid_bg_none_2d",
             "monai_softcldice_default_3d", "monai_softdicecldice_alpha03_2d"]


def _rtol(case_id):
    return RTOL if case_id.startswith("monai_hddt") else TIGHT


def _inputs(case_id):
    m = TABLE[case_id]
    x = ARRAYS[m.pred].astype(np.float64)
    y = ARRAYS[m.target]
    if y.dtype == np.float32:
        y = y.astype(np.float64)
    return x, y


def _call(case_id, x, y, *, lib, class_axis=1):
    """The regionloss call of the case on ``lib``'s arrays (``x`` channels-first unless
    ``class_axis=-1``), then the case's rule."""
    m = TABLE[case_id]
    fn = getattr(rl, m.loss)
    options = {**m.options, "class_axis": class_axis}
    if m.softmax_first:
        x = lib.softmax(x, class_axis)
    if m.loss == BL:
        labels = np.asarray(ARRAYS[m.target])
        maps = rl.signed_distance_map(labels, class_axis=class_axis, **m.maps)
        out = fn(x, lib.asarray(maps), **options)
    else:
        out = fn(x, y, **options)
    spatial = x.ndim - 2
    return m.rule(out, spatial)


class _NumPy:
    @staticmethod
    def softmax(x, axis):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    asarray = staticmethod(np.asarray)


def _expected(case_id):
    case = CASES[case_id]
    return (np.asarray(ARRAYS[case["expected"]["value"]], dtype=np.float64),
            ARRAYS[case["expected"]["grad"]])


def _assert_value(got, want, case_id, rtol):
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == want.shape, f"{case_id}: shape {got.shape} != {want.shape}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=0, err_msg=case_id)


# --------------------------------------------------------------------------- the table


def test_table_covers_every_loss_case():
    losses = {c["id"] for c in META["cases"] if c["library"] == "monai"
              or c["id"].startswith("kervadec_surface")}
    assert losses == set(TABLE) | {BROADCAST_NONE}


@pytest.mark.parametrize("case_id", sorted(TABLE))
def test_value_numpy(case_id):
    x, y = _inputs(case_id)
    want, _ = _expected(case_id)
    _assert_value(_call(case_id, x, y, lib=_NumPy), want, case_id, _rtol(case_id))


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch not installed")
@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad:UserWarning")
@pytest.mark.parametrize("case_id", sorted(TABLE))
def test_value_and_gradient_torch(case_id):
    import torch

    class _Torch:
        softmax = staticmethod(lambda x, axis: torch.softmax(x, axis))
        asarray = staticmethod(torch.from_numpy)

    x, y = _inputs(case_id)
    want, want_grad = _expected(case_id)
    xt = torch.from_numpy(x).requires_grad_(True)
    out = _call(case_id, xt, torch.from_numpy(np.ascontiguousarray(y)), lib=_Torch)
    out.sum().backward()
    _assert_value(out.detach().numpy(), want, case_id, _rtol(case_id))
    assert_gradient_close(xt.grad.numpy(), want_grad, case_id, _rtol(case_id))


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
@pytest.mark.parametrize("case_id", JAX_CASES)
def test_value_and_gradient_jax_jit_channels_last(case_id):
    import jax
    import jax.numpy as jnp

    class _Jax:
        softmax = staticmethod(jax.nn.softmax)
        asarray = staticmethod(jnp.asarray)

    x, y = _inputs(case_id)
    want, want_grad = _expected(case_id)
    last = np.moveaxis(x, 1, -1)
    y_last = np.moveaxis(y, 1, -1) if y.ndim == x.ndim else y

    def f(a):
        return jnp.sum(_call(case_id, a, jnp.asarray(y_last), lib=_Jax, class_axis=-1))

    value, grad = jax.jit(jax.value_and_grad(f))(jnp.asarray(last))
    np.testing.assert_allclose(float(value), want.sum(), rtol=_rtol(case_id), err_msg=case_id)
    assert_gradient_close(np.moveaxis(np.asarray(grad), -1, 1), want_grad, case_id,
                          _rtol(case_id))


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch not installed")
def test_softdicecldice_none_broadcast():
    """MONAI's SoftDiceclDiceLoss(reduction='none') is (N, C, 1, N): (1 − α) Dice[n, c] +
    α clDice[m], from regionloss's Dice (smooth 1) and clDice per sample."""
    import torch

    x = torch.from_numpy(ARRAYS["b2d_logits"].astype(np.float64)).requires_grad_(True)
    y = torch.from_numpy(ARRAYS["b2d_target"])
    dice = rl.dice_loss(x, y, class_axis=1, smooth_nr=1.0, smooth_dr=1.0, reduction="none")
    cl = rl.cldice_loss(x, y, class_axis=1, reduction="none")
    out = 0.5 * dice[:, :, None, None] + 0.5 * cl[None, None, None, :]
    out.sum().backward()
    want, want_grad = _expected(BROADCAST_NONE)
    _assert_value(out.detach().numpy(), want, BROADCAST_NONE, TIGHT)
    assert_gradient_close(x.grad.numpy(), want_grad, BROADCAST_NONE, TIGHT)
    # regionloss's own 'none' is the per-sample total, whose mean is the 'mean' loss
    total = rl.dice_cldice_loss(x.detach(), y, class_axis=1, reduction="none")
    np.testing.assert_allclose(total.numpy(), 0.5 * dice.detach().numpy().mean(axis=1)
                               + 0.5 * cl.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(float(total.mean()), float(rl.dice_cldice_loss(
        x.detach(), y, class_axis=1)), rtol=1e-12)


def test_reduction_conventions_differ_where_the_rules_say():
    """The RULEs matter: regionloss's own 'sum' is not MONAI's on these inputs."""
    x, y = _inputs("monai_hddt_softmax_bg_alpha1_sum_2d")
    want, _ = _expected("monai_hddt_softmax_bg_alpha1_sum_2d")
    own = float(rl.hausdorff_dt_loss(x, y, class_axis=1, include_background=True, alpha=1.0,
                                     reduction="sum"))
    assert abs(own - float(want)) > 0.1
    np.testing.assert_allclose(own * 4, float(want), rtol=RTOL)   # C' = 4 classes


# --------------------------------------------------------------------------- distance maps


def _scipy_case(case_id):
    case = CASES[case_id]
    masks = ARRAYS[case["inputs"][0]]
    if case["options"]["inverted"]:
        masks = ~masks
    return masks, case["options"]["sampling"], ARRAYS[case["expected"]["value"]]


@pytest.mark.parametrize("case_id", sorted(c for c in CASES if c.startswith("scipy_edt")))
def test_distance_transform_equals_scipy(case_id):
    """SciPy's numbers everywhere but an image without a zero element, which is inf here
    (SciPy measures to a phantom element just outside the array)."""
    masks, sampling, want = _scipy_case(case_id)
    got = np.asarray(rl.distance_transform(masks, spacing=sampling))
    no_zero = masks.reshape(len(masks), -1).all(axis=1)
    np.testing.assert_allclose(got[~no_zero], want[~no_zero], rtol=1e-12, atol=1e-12)
    assert no_zero.any() and np.isinf(got[no_zero]).all()


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
def test_distance_transform_jax_jit_and_vmap_equal_scipy():
    import jax
    import jax.numpy as jnp

    masks, sampling, want = _scipy_case("scipy_edt_3d_aniso")
    keep = ~masks.reshape(len(masks), -1).all(axis=1)
    f = jax.jit(lambda m: rl.distance_transform(m, spacing=sampling))
    np.testing.assert_allclose(np.asarray(f(jnp.asarray(masks)))[keep], want[keep],
                               rtol=1e-12, atol=1e-12)
    per = jax.jit(jax.vmap(lambda m: rl.distance_transform(m[None], spacing=sampling)[0]))
    np.testing.assert_allclose(np.asarray(per(jnp.asarray(masks)))[keep], want[keep],
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case_id", ["kervadec_sdm_2d", "kervadec_sdm_2d_aniso",
                                     "kervadec_sdm_3d", "kervadec_sdm_3d_aniso"])
def test_signed_distance_map_equals_the_authors_definition(case_id):
    """one_hot2dist, except a class filling the whole image: 0 here (no boundary), SciPy's
    phantom-element numbers in the authors' code."""
    case = CASES[case_id]
    labels = ARRAYS[case["inputs"][0]]
    want = ARRAYS[case["expected"]["value"]]
    got = np.asarray(rl.signed_distance_map(labels, num_classes=case["options"]["num_classes"],
                                            spacing=case["options"]["resolution"],
                                            class_axis=1))
    full = np.stack([[np.all(labels[n] == c) for c in range(want.shape[1])]
                     for n in range(len(labels))])
    np.testing.assert_allclose(got[~full], want[~full], rtol=0, atol=1e-12)
    assert (got[full] == 0).all()
    assert full.any() == case_id.startswith("kervadec_sdm_2d")


def test_signed_distance_map_truncated_like_the_authors_pipeline():
    """Their data pipeline stores the maps in the int32 one-hot's dtype (truncation)."""
    case = CASES["kervadec_sdm_2d_pipeline_int32"]
    labels = ARRAYS[case["inputs"][0]]
    want = ARRAYS[case["expected"]["value"]]
    got = np.trunc(np.asarray(rl.signed_distance_map(labels, num_classes=4, class_axis=1)))
    full = np.stack([[np.all(labels[n] == c) for c in range(4)] for n in range(len(labels))])
    np.testing.assert_array_equal(got[~full].astype(np.int32), want[~full])
    # and the boundary loss accepts such integer maps as they are
    x = ARRAYS["b2d_logits"].astype(np.float64)
    a = rl.boundary_loss(x, want, class_axis=1)
    b = rl.boundary_loss(x, want.astype(np.float64), class_axis=1)
    assert float(a) == float(b)
