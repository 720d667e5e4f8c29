"""cldice_score: hand-computed skeletons, the empty-set policy, pooling and averaging on
counts taken with scikit-image directly, ignore_index, backends (host copies) and the
message when scikit-image is missing.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from conftest import HAVE_JAX, HAVE_TORCH

import regionloss as rl

NAN = math.nan
try:
    from skimage.morphology import skeletonize
except ImportError:  # pragma: no cover - depends on the environment
    skeletonize = None
needs_skimage = pytest.mark.skipif(skeletonize is None,
                                   reason="scikit-image not installed (regionloss[topology])")

C = 3
RNG = np.random.default_rng(5)


def _vessels(rng, shape):
    """Thin random lines of class 1 and 2-pixel bars of class 2."""
    labels = np.zeros(shape, np.int64)
    for n in range(shape[0]):
        for _ in range(2):
            r = rng.integers(1, shape[1] - 1)
            a, b = sorted(rng.integers(0, shape[2], 2))
            labels[n, r, a:b + 1] = 1
            c = rng.integers(1, shape[2] - 2)
            a, b = sorted(rng.integers(0, shape[1], 2))
            labels[n, a:b + 1, c:c + 2] = 2
    return labels


TARGET = _vessels(RNG, (3, 16, 18))
PRED = np.where(RNG.random(TARGET.shape) < 0.93, TARGET, 0)


def counts(pred, target, num_classes=C, valid=None):
    """(N, C) |S_P ∩ T|, |S_P|, |S_T ∩ P|, |S_T| with skimage directly."""
    out = np.zeros((4, pred.shape[0], num_classes))
    for n in range(pred.shape[0]):
        for c in range(num_classes):
            p, t = pred[n] == c, target[n] == c
            if valid is not None:
                p, t = p & valid[n], t & valid[n]
            sp, st = skeletonize(p), skeletonize(t)
            out[:, n, c] = [(sp & t).sum(), sp.sum(), (st & p).sum(), st.sum()]
    return out


def cldice(a, b, c, e):
    with np.errstate(invalid="ignore", divide="ignore"):
        tprec = np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)
        tsens = np.where(e > 0, c / np.where(e > 0, e, 1), 0.0)
        s = tprec + tsens
        cl = np.where(s > 0, 2 * tprec * tsens / np.where(s > 0, s, 1), 0.0)
    return np.where((b == 0) & (e == 0), NAN, cl)


@needs_skimage
def test_hand_computed_broken_line():
    target = np.zeros((1, 7, 9), np.int64)
    target[0, 3, 1:8] = 1
    pred = target.copy()
    pred[0, 3, 4] = 0
    kw = dict(num_classes=2, include_background=False)
    # S_P: the two 3-pixel pieces, inside T (T_prec 1); S_T: 7 pixels, 6 in P (T_sens 6/7)
    assert float(rl.cldice_score(pred, target, part="tprec", **kw)) == 1.0
    assert float(rl.cldice_score(pred, target, part="tsens", **kw)) == pytest.approx(6 / 7)
    assert float(rl.cldice_score(pred, target, **kw)) == pytest.approx(12 / 13)
    # a thin line against itself: 1
    assert float(rl.cldice_score(target, target, **kw)) == 1.0


@needs_skimage
@pytest.mark.parametrize("per_sample", [True, False])
def test_pooling_and_averaging_on_skimage_counts(per_sample):
    a, b, c, e = counts(PRED, TARGET)
    if not per_sample:
        a, b, c, e = (x.sum(0) for x in (a, b, c, e))
    per = cldice(a, b, c, e)
    kw = dict(num_classes=C, per_sample=per_sample)
    np.testing.assert_allclose(rl.cldice_score(PRED, TARGET, average="none", **kw), per)
    macro = np.nanmean(per, axis=-1)
    np.testing.assert_allclose(rl.cldice_score(PRED, TARGET, **kw),
                               np.nanmean(macro) if per_sample else macro)
    micro = cldice(*(x.sum(-1) for x in (a, b, c, e)))
    np.testing.assert_allclose(rl.cldice_score(PRED, TARGET, average="micro", **kw),
                               np.nanmean(micro) if per_sample else micro)
    weighted = np.nansum(per * e, -1) / np.sum(np.where(np.isnan(per), 0, e), -1)
    np.testing.assert_allclose(rl.cldice_score(PRED, TARGET, average="weighted", **kw),
                               np.nanmean(weighted) if per_sample else weighted)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(rl.cldice_score(PRED, TARGET, average="none", part="tprec",
                                                   **kw), np.where(b > 0, a / b, NAN))
        np.testing.assert_allclose(rl.cldice_score(PRED, TARGET, average="none", part="tsens",
                                                   **kw), np.where(e > 0, c / e, NAN))


@needs_skimage
def test_empty_sets():
    pred = np.zeros((3, 8, 8), np.int64)
    target = np.zeros((3, 8, 8), np.int64)
    pred[0, 4, 1:7] = 1                    # sample 0: class 1 predicted, absent from target
    target[1, 2, 1:7] = 1                  # sample 1: class 1 missed
    pred[2, 1, 1:7] = 1                    # sample 2: both present, disjoint
    target[2, 6, 1:7] = 1
    kw = dict(num_classes=2, include_background=False, average="none", per_sample=True)
    for zd in (NAN, 0.0, 1.0):
        np.testing.assert_array_equal(rl.cldice_score(pred, target, zero_division=zd, **kw),
                                      [[0.0], [0.0], [0.0]])
        np.testing.assert_array_equal(
            rl.cldice_score(pred, target, zero_division=zd, part="tprec", **kw),
            [[0.0], [zd], [0.0]])
        np.testing.assert_array_equal(
            rl.cldice_score(pred, target, zero_division=zd, part="tsens", **kw),
            [[zd], [0.0], [0.0]])
        empty = np.zeros((1, 8, 8), np.int64)
        np.testing.assert_array_equal(rl.cldice_score(empty, empty, zero_division=zd, **kw),
                                      [[zd]])
    value, defined = rl.cldice_score(pred, target, num_classes=2, include_background=False,
                                     per_sample=True, return_defined=True)
    assert float(value) == 0.0 and int(defined) == 3


@needs_skimage
def test_a_mask_that_thins_to_nothing_stands_for_its_own_skeleton():
    cube = np.zeros((1, 6, 6, 6), np.int64)
    cube[0, 2:4, 2:4, 2:4] = 1
    assert not skeletonize(cube[0] == 1).any()         # Lee's thinning removes it
    kw = dict(num_classes=2, include_background=False)
    assert float(rl.cldice_score(cube, cube, **kw)) == 1.0
    assert float(rl.cldice_score(cube, np.zeros_like(cube), zero_division=1.0, **kw)) == 0.0


@needs_skimage
def test_ignore_index_removes_pixels_from_both_masks():
    target = TARGET.copy()
    target[0, :, :5] = 255
    valid = target != 255
    per = cldice(*counts(np.where(valid, PRED, 0), target, valid=valid))
    pred = np.where(valid, PRED, 99)          # never looked at under ignored pixels
    got = rl.cldice_score(pred, target, num_classes=C, ignore_index=255, average="none",
                          per_sample=True)
    np.testing.assert_allclose(got, per)


@needs_skimage
def test_three_dimensional_tubes():
    target = np.zeros((1, 10, 10, 10), np.int64)
    target[0, 1:9, 3:6, 3:6] = 1
    pred = target.copy()
    pred[0, 5] = 0
    a, b, c, e = counts(pred, target, num_classes=2)
    got = rl.cldice_score(pred, target, num_classes=2, average="none", per_sample=True)
    np.testing.assert_allclose(got, cldice(a, b, c, e))
    assert 0.5 < float(got[0, 1]) < 1.0


@pytest.mark.parametrize("call, error, match", [
    (lambda: rl.cldice_score(PRED[:, 0], TARGET[:, 0], num_classes=C), ValueError,
     "2 or 3 spatial axes"),
    (lambda: rl.cldice_score(PRED, TARGET, num_classes=C, part="dice"), ValueError,
     "part must be one of 'cldice', 'tprec', 'tsens'"),
    (lambda: rl.cldice_score(PRED, TARGET + 1, num_classes=C), ValueError,
     r"target holds label 3"),
    (lambda: rl.cldice_score(PRED, TARGET, num_classes=C, average="mean"), ValueError,
     "average must be one of"),
])
def test_errors(call, error, match):
    if skeletonize is None and "label" in match:
        pytest.skip("needs scikit-image")
    with pytest.raises(error, match=match):
        call()


def test_missing_scikit_image_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.morphology", None)
    with pytest.raises(ImportError, match=r"pip install 'regionloss\[topology\]'"):
        rl.cldice_score(PRED, TARGET, num_classes=C)


@needs_skimage
@pytest.mark.skipif(not (HAVE_JAX and HAVE_TORCH), reason="JAX and PyTorch needed")
def test_jax_and_torch_are_copied_through_the_host():
    import jax
    import jax.numpy as jnp
    import torch

    want = rl.cldice_score(PRED, TARGET, num_classes=C, average="none", per_sample=True)
    got = rl.cldice_score(jnp.asarray(PRED), jnp.asarray(TARGET), num_classes=C,
                          average="none", per_sample=True)
    assert isinstance(got, jax.Array)
    np.testing.assert_allclose(np.asarray(got), want)
    got = rl.cldice_score(torch.from_numpy(PRED), TARGET, num_classes=C)
    assert isinstance(got, torch.Tensor) and got.shape == ()
    value, defined = rl.cldice_score(torch.from_numpy(PRED), torch.from_numpy(TARGET),
                                     num_classes=C, return_defined=True)
    assert isinstance(defined, torch.Tensor) and defined.dtype == torch.int64
    with pytest.raises(TypeError, match="cannot run under jax.jit"):
        jax.jit(lambda p, t: rl.cldice_score(p, t, num_classes=C))(jnp.asarray(PRED),
                                                                  jnp.asarray(TARGET))
