"""generalized_dice_score: hand cases, properties, the backend matrix, and parity with
MONAI 1.6.1 ``GeneralizedDiceScore`` and torchmetrics 1.9 ``GeneralizedDiceScore``
(``tests/reference/catalogue.{json,npz}``).

Conventions (``docs/metrics_catalogue.md``): regionloss follows MONAI's weights (an absent
class takes the largest finite weight of its sample, 1 if none) and reproduces every MONAI
case (its ``zero_division`` is 1.0). torchmetrics replaces an infinite weight through a
transposed index: regionloss matches it exactly where no weight is infinite (a sample
with every kept class present, or 'linear' weights) and for the per-class scores (where
the weight cancels), and the test shows that elsewhere the numbers differ.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import regionloss as rl
from conftest import HAVE_JAX, assert_matches, reference_dir, to_numpy

C = 4


def _load():
    directory = reference_dir()
    with open(os.path.join(directory, "catalogue.json"), encoding="utf-8") as fh:
        meta = json.load(fh)
    with np.load(os.path.join(directory, "catalogue.npz")) as npz:
        arrays = {key: npz[key] for key in npz.files}
    return meta, arrays


META, ARRAYS = _load()
CASES = {case["id"]: case for case in META["cases"]}
PRED = ARRAYS["cm_pred"]
WEIGHTING = {"square": "square", "simple": "simple", "uniform": "uniform",
             "linear": "uniform"}   # torchmetrics' 'linear' is regionloss's 'uniform'


def _gds_by_hand(pred, target, num_classes, weighting, first=0):
    """Per-sample GDS in float64, MONAI's rule for absent classes."""
    out = []
    for p, t in zip(pred, target):
        tp = np.array([np.sum((p == c) & (t == c)) for c in range(num_classes)], float)[first:]
        r = np.array([np.sum(t == c) for c in range(num_classes)], float)[first:]
        q = np.array([np.sum(p == c) for c in range(num_classes)], float)[first:]
        with np.errstate(divide="ignore"):
            w = {"square": 1 / r ** 2, "simple": 1 / r, "uniform": np.ones_like(r)}[weighting]
        finite = w[np.isfinite(w)]
        w = np.where(np.isfinite(w), w, finite.max() if finite.size else 1.0)
        den = (w * (r + q)).sum()
        out.append(2 * (w * tp).sum() / den if den else np.nan)
    return np.array(out)


# =========================================================================== hand cases


def test_hand_case_and_weightings():
    pred = np.array([[0, 0, 1, 1, 2, 2]])
    target = np.array([[0, 0, 0, 1, 2, 1]])
    # tp (2, 1, 1), R (3, 2, 1), P (2, 2, 2)
    tp, r, q = np.array([2.0, 1, 1]), np.array([3.0, 2, 1]), np.array([2.0, 2, 2])
    for weighting, w in (("square", 1 / r ** 2), ("simple", 1 / r), ("uniform", np.ones(3))):
        want = 2 * (w * tp).sum() / (w * (r + q)).sum()
        got = rl.generalized_dice_score(pred, target, num_classes=3, weighting=weighting)
        assert got.shape == () and float(got) == pytest.approx(want, rel=1e-12), weighting
    # without the background: classes 1 and 2 only
    w = 1 / r[1:] ** 2
    want = 2 * (w * tp[1:]).sum() / (w * (r + q)[1:]).sum()
    got = rl.generalized_dice_score(pred, target, num_classes=3, include_background=False)
    assert float(got) == pytest.approx(want, rel=1e-12)


def test_absent_classes_max_and_zero():
    pred = np.array([[0, 0, 1, 2], [0, 0, 0, 0]])
    target = np.array([[0, 0, 1, 1], [0, 0, 0, 0]])       # class 2 absent in both samples
    got = to_numpy(rl.generalized_dice_score(pred, target, num_classes=3, reduction="none"))
    # sample 0: w = (1/4, 1/4, max 1/4): tp (2, 1, 0), R + P (4, 3, 1)
    assert got[0] == pytest.approx(2 * (0.5 + 0.25) / (0.25 * 8), rel=1e-12)
    assert got[1] == 1.0                                    # perfect: 2 w·4 / w·8
    zero = to_numpy(rl.generalized_dice_score(pred, target, num_classes=3, reduction="none",
                                              absent_class_weight="zero"))
    assert zero[0] == pytest.approx(2 * (0.5 + 0.25) / (0.25 * 7), rel=1e-12)
    # a sample whose reference has no kept class: weights 1 (MONAI), a prediction of a
    # kept class scores 0, no prediction is the empty 0/0 -> zero_division
    pred2 = np.array([[0, 1, 0], [0, 0, 0]])
    target2 = np.zeros((2, 3), int)
    nobg = to_numpy(rl.generalized_dice_score(pred2, target2, num_classes=2,
                                              include_background=False, reduction="none"))
    assert nobg[0] == 0.0 and np.isnan(nobg[1])
    for zd in (0.0, 1.0):
        v = to_numpy(rl.generalized_dice_score(pred2, target2, num_classes=2,
                                               include_background=False, reduction="none",
                                               zero_division=zd))
        assert v[1] == zd
    # the mean leaves the NaN sample out; 'sum' adds the others
    assert float(rl.generalized_dice_score(pred2, target2, num_classes=2,
                                           include_background=False)) == 0.0


def test_reductions_pooling_and_ignore_index():
    rng = np.random.default_rng(5)
    p = rng.integers(0, 3, size=(3, 5, 5))
    t = rng.integers(0, 3, size=(3, 5, 5))
    none = to_numpy(rl.generalized_dice_score(p, t, num_classes=3, reduction="none"))
    np.testing.assert_allclose(none, _gds_by_hand(p, t, 3, "square"), rtol=1e-12)
    assert float(rl.generalized_dice_score(p, t, num_classes=3)) == pytest.approx(none.mean())
    assert float(rl.generalized_dice_score(p, t, num_classes=3, reduction="sum")) == \
        pytest.approx(none.sum())
    pooled = rl.generalized_dice_score(p, t, num_classes=3, per_sample=False)
    flat = rl.generalized_dice_score(p.reshape(1, -1), t.reshape(1, -1), num_classes=3)
    assert pooled.shape == () and float(pooled) == pytest.approx(float(flat), rel=1e-12)
    # ignore_index removes the pixels from every count
    t_ign = t.copy()
    t_ign[:, 0] = 255
    got = rl.generalized_dice_score(p, t_ign, num_classes=3, ignore_index=255,
                                    reduction="none")
    np.testing.assert_allclose(to_numpy(got), _gds_by_hand(p[:, 1:], t[:, 1:], 3, "square"),
                               rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 4), st.booleans())
def test_property_bounds_identities_and_perfect(seed, c, bg):
    rng = np.random.default_rng(seed)
    p = rng.integers(0, c, size=(2, 7))
    t = rng.integers(0, c, size=(2, 7))
    got = to_numpy(rl.generalized_dice_score(p, t, num_classes=c, include_background=bg,
                                             reduction="none"))
    ok = ~np.isnan(got)
    assert np.all((got[ok] >= 0) & (got[ok] <= 1 + 1e-12))
    # uniform weights: the Dice of the counts pooled over the kept classes (micro)
    uni = rl.generalized_dice_score(p, t, num_classes=c, weighting="uniform",
                                    include_background=bg, reduction="none")
    micro = np.array([float(rl.dice_score(p[n:n + 1], t[n:n + 1], num_classes=c,
                                          average="micro", include_background=bg))
                      for n in range(2)])
    np.testing.assert_allclose(to_numpy(uni), micro, rtol=1e-12)
    # a perfect prediction scores 1 wherever anything is scored
    perfect = to_numpy(rl.generalized_dice_score(t, t, num_classes=c, include_background=bg,
                                                 reduction="none"))
    kept_present = [np.any(t[n] >= (0 if bg else 1)) for n in range(2)]
    np.testing.assert_allclose(perfect[kept_present], 1.0, rtol=1e-12)


def test_one_class_is_dice():
    rng = np.random.default_rng(1)
    p = rng.integers(0, 2, size=(3, 9))
    t = rng.integers(0, 2, size=(3, 9))
    for weighting in ("square", "simple", "uniform"):
        got = rl.generalized_dice_score(p, t, num_classes=2, weighting=weighting,
                                        include_background=False, reduction="none")
        want = rl.dice_score(p, t, num_classes=2, average="none", per_sample=True,
                             include_background=False)[:, 0]
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), rtol=1e-12)


def test_backend_matrix(backend):
    rng = np.random.default_rng(2)
    p = rng.integers(0, C, size=(2, 6, 6))
    t = rng.integers(0, C, size=(2, 6, 6))
    t[0, 0] = 255
    for kw in (dict(), dict(reduction="none"), dict(per_sample=False, weighting="simple")):
        want = rl.generalized_dice_score(p, t, num_classes=C, ignore_index=255, **kw)
        got = rl.generalized_dice_score(backend(p), backend(t), num_classes=C,
                                        ignore_index=255, **kw)
        assert_matches(got, want, backend, rtol=1e-12)


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
def test_jit_equals_eager():
    import jax

    t = ARRAYS["cm_target"]
    fn = jax.jit(lambda a, b: rl.generalized_dice_score(a, b, num_classes=C,
                                                        reduction="none"))
    np.testing.assert_allclose(np.asarray(fn(PRED, t)),
                               to_numpy(rl.generalized_dice_score(PRED, t, num_classes=C,
                                                                  reduction="none")),
                               rtol=1e-6)


# =========================================================================== MONAI


MONAI_CASES = sorted(cid for cid in CASES if cid.startswith("monai_gds_"))
TM_CASES = sorted(cid for cid in CASES if cid.startswith("torchmetrics_gds_"))


def _monai(case):
    """regionloss's call for a MONAI GeneralizedDiceScore setting."""
    o = case["options"]
    target = ARRAYS[case["inputs"][1]]
    kw = dict(num_classes=C, include_background=o.get("include_background", True),
              ignore_index=o.get("ignore_index"))
    reduction = o["reduction"]
    if reduction in ("mean", "sum"):            # classes summed: the generalized score
        return rl.generalized_dice_score(PRED, target, weighting=WEIGHTING[o["weight_type"]],
                                         reduction=reduction, zero_division=1.0, **kw)
    # 'none' / 'mean_batch': per class, where the weight cancels: Dice (0/0 -> 1)
    per_class = to_numpy(rl.dice_score(PRED, target, average="none", per_sample=True,
                                       zero_division=1.0, **kw))
    return per_class if reduction == "none" else per_class.mean(0)


@pytest.mark.parametrize("case_id", MONAI_CASES)
def test_monai(case_id):
    case = CASES[case_id]
    want = ARRAYS[case["expected"]["value"]]
    got = to_numpy(_monai(case))
    assert got.size == want.size
    # MONAI's weights are float32: 1e-7 relative
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-7, atol=0)


# =========================================================================== torchmetrics


def _torchmetrics(case):
    o = case["options"]
    target = ARRAYS[case["inputs"][1]]
    bg = o["include_background"]
    if o["per_class"]:   # the weight cancels: Dice per (sample, class), 0/0 -> 0
        v = to_numpy(rl.dice_score(PRED, target, num_classes=C, average="none",
                                   per_sample=True, include_background=bg,
                                   zero_division=0.0))
    else:
        v = to_numpy(rl.generalized_dice_score(PRED, target, num_classes=C,
                                               weighting=WEIGHTING[o["weight_type"]],
                                               include_background=bg, reduction="none",
                                               zero_division=0.0))
    return v.mean(0) if "module" in case["id"] else v


def _infinite_weight_rows(case):
    """Samples where a kept class is absent from the reference (an infinite weight)."""
    target = ARRAYS[case["inputs"][1]]
    first = 0 if case["options"]["include_background"] else 1
    return np.array([any(not np.any(target[n] == c) for c in range(first, C))
                     for n in range(len(target))])


@pytest.mark.parametrize("case_id", TM_CASES)
def test_torchmetrics_where_conventions_agree(case_id):
    case = CASES[case_id]
    want = ARRAYS[case["expected"]["value"]]
    got = _torchmetrics(case)
    assert got.shape == want.shape
    o = case["options"]
    if o["per_class"] or o["weight_type"] == "linear":
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)   # float32 library
        return
    if "module" in case_id:   # a mean over samples that include quirky ones
        assert abs(float(got) - float(want)) > 1e-3
        return
    quirky = _infinite_weight_rows(case)
    assert quirky.any() and not quirky.all()
    np.testing.assert_allclose(got[~quirky], want[~quirky], rtol=1e-6)
    # where a weight was infinite, torchmetrics' replacement gives other numbers (except
    # where the score is 0 whatever the weights: no true positive at all)
    assert np.any(np.abs(got[quirky] - want[quirky]) > 1e-2)


def test_monai_and_torchmetrics_agree_with_each_other_where_no_weight_is_infinite():
    case = CASES["torchmetrics_gds_square_pooled_bg"]
    tm = ARRAYS[case["expected"]["value"]]
    ours = to_numpy(rl.generalized_dice_score(PRED, ARRAYS["cm_target"], num_classes=C,
                                              reduction="none"))
    monai_mean = float(ARRAYS[CASES["monai_gds_square_mean_bg"]["expected"]["value"]][0])
    assert float(ours.mean()) == pytest.approx(monai_mean, rel=1e-7)
    assert ours[0] == pytest.approx(float(tm[0]), rel=1e-6)     # sample 0: all classes
    assert not math.isclose(float(ours[2]), float(tm[2]), rel_tol=1e-3)
