"""Boundary metrics (regionloss.metrics.surface): hand-computed cases, empty masks, ignore_index,
shapes, spacing, errors, the backend matrix, and a brute-force cross-check.

The brute-force reference (``_brute``) shares no code with the library: surface voxels by
shifting NumPy arrays, distances by all-pairs Euclidean distances between scaled voxel
coordinates, percentiles written out (linear interpolation between ranks).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import assert_matches
from regionloss._kernels import surface as kernels
from regionloss.metrics.surface import (
    SURFACE_METRICS,
    average_surface_distance,
    hausdorff_distance,
    surface_dice,
    surface_metrics,
)

INF = math.inf
NAN = math.nan


def _lerp_percentile(values, q):
    """Linear interpolation between ranks, written out (NumPy's default method)."""
    v = sorted(values)
    rank = q / 100.0 * (len(v) - 1)
    lo = math.floor(rank)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (rank - lo)


def _image(shape, *cls_points):
    """An int64 label map with ``(class, [points])`` painted in order."""
    out = np.zeros(shape, dtype=np.int64)
    for cls, points in cls_points:
        for p in points:
            out[p] = cls
    return out


# --------------------------------------------------------------------------- hand cases


def test_single_points_2d_isotropic_and_anisotropic():
    pred = _image((10, 10), (1, [(2, 3)]))[None]
    target = _image((10, 10), (1, [(5, 7)]))[None]
    kw = dict(num_classes=2, include_background=False)
    # (3, 4) voxels apart: 5 in every metric and every direction.
    for q in (100, 95, 50, 0):
        np.testing.assert_allclose(hausdorff_distance(pred, target, percentile=q, **kw), [[5.0]])
    np.testing.assert_allclose(average_surface_distance(pred, target, **kw), [[5.0]])
    np.testing.assert_allclose(surface_dice(pred, target, tolerance=5.0, **kw), [[1.0]])
    np.testing.assert_allclose(surface_dice(pred, target, tolerance=4.99, **kw), [[0.0]])
    # spacing (2, 1): rows count double: sqrt((3 * 2)^2 + 4^2) = sqrt(52)
    got = hausdorff_distance(pred, target, spacing=(2.0, 1.0), **kw)
    np.testing.assert_allclose(got, [[math.sqrt(52.0)]], rtol=0, atol=1e-12)
    got = hausdorff_distance(pred, target, spacing=0.5, **kw)
    np.testing.assert_allclose(got, [[2.5]], rtol=0, atol=1e-12)


def test_parallel_lines_2d():
    pred = _image((8, 10), (1, [(2, c) for c in range(1, 9)]))[None]
    target = _image((8, 10), (1, [(5, c) for c in range(1, 9)]))[None]
    kw = dict(num_classes=2, include_background=False)
    for fn in (hausdorff_distance, average_surface_distance):
        np.testing.assert_allclose(fn(pred, target, **kw), [[3.0]], atol=1e-12)
        np.testing.assert_allclose(fn(pred, target, spacing=(0.5, 1.0), **kw), [[1.5]], atol=1e-12)
        np.testing.assert_allclose(fn(pred, target, spacing=(1.0, 7.0), **kw), [[3.0]], atol=1e-12)


def test_lines_of_different_length_2d_every_combination():
    # pred: row 2, columns 0..9; target: row 5, columns 0..4 (10 and 5 surface voxels).
    pred = _image((8, 10), (1, [(2, c) for c in range(10)]))[None]
    target = _image((8, 10), (1, [(5, c) for c in range(5)]))[None]
    d_pred = [3.0] * 5 + [math.sqrt(9 + k * k) for k in range(1, 6)]  # pred -> target
    d_target = [3.0] * 5                                             # target -> pred
    kw = dict(num_classes=2, include_background=False)

    hd = hausdorff_distance(pred, target, **kw)
    np.testing.assert_allclose(hd, [[math.sqrt(34.0)]], atol=1e-12)
    np.testing.assert_allclose(hausdorff_distance(pred, target, directed=True, **kw),
                               [[math.sqrt(34.0)]], atol=1e-12)
    np.testing.assert_allclose(hausdorff_distance(target, pred, directed=True, **kw),
                               [[3.0]], atol=1e-12)
    hd95_max = max(_lerp_percentile(d_pred, 95), _lerp_percentile(d_target, 95))
    hd95_pool = _lerp_percentile(d_pred + d_target, 95)
    assert hd95_max != pytest.approx(hd95_pool)  # the two combinations really differ here
    np.testing.assert_allclose(hausdorff_distance(pred, target, percentile=95, **kw),
                               [[hd95_max]], atol=1e-12)
    np.testing.assert_allclose(
        hausdorff_distance(pred, target, percentile=95, combine="pooled", **kw),
        [[hd95_pool]], atol=1e-12)
    np.testing.assert_allclose(
        hausdorff_distance(pred, target, percentile=50, directed=True, **kw),
        [[_lerp_percentile(d_pred, 50)]], atol=1e-12)

    asd = sum(d_pred) / len(d_pred)
    np.testing.assert_allclose(average_surface_distance(pred, target, symmetric=False, **kw),
                               [[asd]], atol=1e-12)
    np.testing.assert_allclose(average_surface_distance(pred, target, **kw),
                               [[(sum(d_pred) + sum(d_target)) / 15]], atol=1e-12)
    np.testing.assert_allclose(average_surface_distance(pred, target, combine="mean", **kw),
                               [[(asd + 3.0) / 2]], atol=1e-12)
    # tolerance 3.5: pred 5 threes + sqrt(10); target all 5 -> 11 / 15
    np.testing.assert_allclose(surface_dice(pred, target, tolerance=3.5, **kw), [[11 / 15]])
    np.testing.assert_allclose(surface_dice(pred, target, tolerance=3.0, **kw), [[10 / 15]])


@pytest.mark.parametrize("spacing, scale", [(None, 1.0), ((2.5, 1.0, 1.0), 2.5)])
def test_cubes_3d(spacing, scale):
    # 3x3x3 cube [2:5]^3 and the same cube moved by 2 along axis 0. Both surfaces hold 26
    # voxels (all but the centre); from either side 9 lie at distance 0, 8 at 1, 9 at 2
    # (in steps along axis 0, scaled by spacing[0]).
    target = np.zeros((1, 9, 8, 8), dtype=np.int64)
    pred = np.zeros_like(target)
    target[0, 2:5, 2:5, 2:5] = 1
    pred[0, 4:7, 2:5, 2:5] = 1
    kw = dict(num_classes=2, include_background=False, spacing=spacing)
    d = [0.0] * 9 + [1.0 * scale] * 8 + [2.0 * scale] * 9
    np.testing.assert_allclose(hausdorff_distance(pred, target, **kw), [[2 * scale]])
    np.testing.assert_allclose(hausdorff_distance(pred, target, percentile=95, **kw),
                               [[_lerp_percentile(d, 95)]])
    np.testing.assert_allclose(hausdorff_distance(pred, target, percentile=50, **kw),
                               [[1.0 * scale]])
    np.testing.assert_allclose(average_surface_distance(pred, target, **kw), [[scale]])
    np.testing.assert_allclose(surface_dice(pred, target, tolerance=scale, **kw), [[17 / 26]])
    np.testing.assert_allclose(surface_dice(pred, target, tolerance=2 * scale, **kw), [[1.0]])


def test_large_cube_inside_is_not_surface():
    # A 5x5x5 cube against itself: 0. The interior (3x3x3) is no surface; a hole in its
    # centre creates surface inside, 1 voxel from the outer layer.
    target = np.zeros((1, 7, 7, 7), dtype=np.int64)
    target[0, 1:6, 1:6, 1:6] = 1
    pred = target.copy()
    pred[0, 3, 3, 3] = 0  # a hole: creates 1 + 6 surface voxels inside
    kw = dict(num_classes=2, include_background=False)
    np.testing.assert_allclose(hausdorff_distance(target, target, **kw), [[0.0]])
    # hole voxel (3,3,3) is not in pred; its 6 face neighbours (e.g. (2,3,3)) become
    # surface, and the nearest target surface voxel (e.g. (1,3,3)) is 1 away.
    np.testing.assert_allclose(hausdorff_distance(pred, target, directed=True, **kw), [[1.0]])
    np.testing.assert_allclose(hausdorff_distance(target, pred, directed=True, **kw), [[0.0]])


def test_object_touching_the_border_has_surface_there():
    # A full-width band: its voxels on the image border count as surface (outside the
    # image is outside the mask), so two identical bands score 0 and a band moved by one
    # row scores 1.
    target = np.zeros((1, 6, 5), dtype=np.int64)
    target[0, 0:3, :] = 1
    pred = np.zeros_like(target)
    pred[0, 1:4, :] = 1
    kw = dict(num_classes=2, include_background=False)
    np.testing.assert_allclose(hausdorff_distance(pred, target, **kw), [[1.0]])
    # background (class 0) fills the frame: its surface includes the image border
    full = np.zeros((1, 4, 4), dtype=np.int64)
    np.testing.assert_allclose(hausdorff_distance(full, full, num_classes=1), [[0.0]])


# --------------------------------------------------------------------------- empty masks


def _empty_cases():
    """(N=4, 5, 5) label maps, class 1 per sample: both, pred-empty, target-empty, none."""
    pred = np.zeros((4, 5, 5), dtype=np.int64)
    target = np.zeros((4, 5, 5), dtype=np.int64)
    pred[0, 1, 1] = target[0, 1, 2] = 1   # both present, distance 1
    target[1, 2, 2] = 1                   # pred empty (missed structure)
    pred[2, 3, 3] = 1                     # target empty (spurious structure)
    return pred, target                   # sample 3: both empty


@pytest.mark.parametrize("fn, extra", [
    (hausdorff_distance, {}),
    (hausdorff_distance, {"percentile": 95}),
    (hausdorff_distance, {"percentile": 95, "combine": "pooled"}),
    (hausdorff_distance, {"directed": True}),
    (average_surface_distance, {}),
    (average_surface_distance, {"symmetric": False}),
    (average_surface_distance, {"combine": "mean"}),
])
def test_empty_masks_distances(fn, extra):
    pred, target = _empty_cases()
    kw = dict(num_classes=2, include_background=False, **extra)
    got = fn(pred, target, **kw)
    np.testing.assert_array_equal(got[:, 0], [1.0, INF, INF, NAN])
    got = fn(pred, target, zero_division=0.0, empty_distance=99.0, **kw)
    np.testing.assert_array_equal(got[:, 0], [1.0, 99.0, 99.0, 0.0])
    got = fn(pred, target, empty_distance=NAN, zero_division=1.0, **kw)
    np.testing.assert_array_equal(got[:, 0], [1.0, NAN, NAN, 1.0])


def test_empty_masks_surface_dice():
    pred, target = _empty_cases()
    kw = dict(num_classes=2, include_background=False, tolerance=0.5)
    np.testing.assert_array_equal(surface_dice(pred, target, **kw)[:, 0], [0.0, 0.0, 0.0, NAN])
    got = surface_dice(pred, target, zero_division=1.0, empty_distance=5.0, **kw)
    np.testing.assert_array_equal(got[:, 0], [0.0, 0.0, 0.0, 1.0])
    got = surface_dice(pred, target, num_classes=2, include_background=False, tolerance=1.0)
    np.testing.assert_array_equal(got[:, 0], [1.0, 0.0, 0.0, NAN])


def test_macro_average_skips_nan_keeps_inf():
    pred, target = _empty_cases()
    kw = dict(num_classes=2, include_background=False)
    assert float(hausdorff_distance(pred, target, average="macro", **kw)) == INF
    # without the inf samples: mean of sample 0 (1.0); sample 3 (NaN) is skipped
    got = hausdorff_distance(pred[[0, 3]], target[[0, 3]], average="macro", **kw)
    assert np.ndim(got) == 0 and float(got) == 1.0
    # class mean first, then sample mean: (mean(0, 1) + mean(0)) / 2 with background
    got = hausdorff_distance(pred[[0, 3]], target[[0, 3]], num_classes=2, average="macro")
    per = hausdorff_distance(pred[[0, 3]], target[[0, 3]], num_classes=2)
    np.testing.assert_allclose(per[1], [0.0, NAN])
    np.testing.assert_allclose(got, (np.mean(per[0]) + 0.0) / 2)
    all_nan = hausdorff_distance(pred[[3]], target[[3]], average="macro", **kw)
    assert math.isnan(float(all_nan))


# --------------------------------------------------------------------------- ignore_index


def test_ignore_index_removes_voxels_from_both_masks():
    target = np.zeros((1, 12, 12), dtype=np.int64)
    target[0, 2:6, 2:6] = 1
    pred = target.copy()
    pred[0, 10, 10] = 1                 # a far spurious voxel ...
    kw = dict(num_classes=2, include_background=False)
    assert float(hausdorff_distance(pred, target, **kw)[0, 0]) > 5
    target_ign = target.copy()
    target_ign[0, 9:12, 9:12] = 255     # ... where the reference is ignored
    np.testing.assert_array_equal(hausdorff_distance(pred, target_ign, ignore_index=255, **kw),
                                  [[0.0]])
    # ignoring every voxel of the class empties both masks -> zero_division
    target_all = np.where(target == 1, 255, target)
    pred_all = np.where(target == 1, 0, pred)
    pred_all[0, 10, 10] = 0
    got = hausdorff_distance(pred_all, target_all, ignore_index=255, zero_division=0.0, **kw)
    np.testing.assert_array_equal(got, [[0.0]])
    got = hausdorff_distance(pred_all, target_all, ignore_index=255, **kw)
    np.testing.assert_array_equal(got, [[NAN]])


@pytest.mark.parametrize("ignore_index", [255, -1, 3])
def test_ignore_index_equals_outside_and_creates_surface(ignore_index):
    # Ignoring voxels == putting both masks' voxels there into another class: for class 1
    # the result must equal the one where pred and target are set to class 2 at the
    # ignored voxels. The ignored hole inside the reference object creates surface.
    rng = np.random.default_rng(3)
    target = np.zeros((2, 16, 14), dtype=np.int64)
    target[:, 3:12, 2:11] = 1
    pred = np.zeros_like(target)
    pred[:, 4:13, 3:12] = 1
    ign = np.zeros(target.shape, dtype=bool)
    ign[:, 6:8, 5:8] = True
    ign |= rng.random(target.shape) < 0.03
    target_ign = np.where(ign, ignore_index, target)
    pred_with_ign = np.where(ign & (rng.random(target.shape) < 0.5), ignore_index, pred)
    pred_outside = np.where(ign, 2, pred)
    target_outside = np.where(ign, 2, target)
    for fn, kw in ((hausdorff_distance, {"percentile": 95}), (average_surface_distance, {}),
                   (surface_dice, {"tolerance": 1.0})):
        got = fn(pred_with_ign, target_ign, num_classes=3, ignore_index=ignore_index, **kw)
        want = fn(pred_outside, target_outside, num_classes=3, **kw)
        np.testing.assert_allclose(got[:, 1], want[:, 1], rtol=0, atol=1e-12)
    # the ignored hole did change the surface (new surface voxels next to it)
    got = average_surface_distance(pred_with_ign, target_ign, num_classes=3,
                                   ignore_index=ignore_index)
    plain = average_surface_distance(pred, target, num_classes=3)
    assert np.all(np.abs(got[:, 1] - plain[:, 1]) > 1e-3)


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("spatial", [(9, 7), (5, 6, 4)])
def test_shapes(spatial):
    rng = np.random.default_rng(0)
    pred = rng.integers(0, 3, size=(2,) + spatial)
    target = rng.integers(0, 3, size=(2,) + spatial)
    for fn, kw in ((hausdorff_distance, {}), (average_surface_distance, {}),
                   (surface_dice, {"tolerance": 1.0})):
        assert fn(pred, target, num_classes=3, **kw).shape == (2, 3)
        out = fn(pred, target, num_classes=3, include_background=False, **kw)
        assert out.shape == (2, 2) and out.dtype == np.float64
        full = fn(pred, target, num_classes=3, **kw)
        np.testing.assert_array_equal(out, full[:, 1:])
        assert fn(pred, target, num_classes=3, average="macro", **kw).shape == ()
    res = surface_metrics(pred, target, num_classes=3, tolerance=1.0,
                          include_background=False)
    assert set(res) == {"hd95", "assd", "nsd"}
    assert all(v.shape == (2, 2) for v in res.values())


def test_zero_samples():
    x = np.zeros((0, 4, 4), dtype=np.int64)
    assert hausdorff_distance(x, x, num_classes=2).shape == (0, 2)
    assert math.isnan(float(hausdorff_distance(x, x, num_classes=2, average="macro")))


def test_surface_metrics_equals_single_functions():
    rng = np.random.default_rng(1)
    pred = rng.integers(0, 4, size=(3, 12, 11))
    target = rng.integers(0, 4, size=(3, 12, 11))
    target[0][target[0] == 3] = 0  # an empty reference class
    kw = dict(num_classes=4, spacing=(0.7, 1.3))
    tol = [0.5, 1.0, 1.5, 2.0]
    res = surface_metrics(pred, target, metrics=tuple(SURFACE_METRICS), tolerance=tol, **kw)
    np.testing.assert_array_equal(res["hd"], hausdorff_distance(pred, target, **kw))
    np.testing.assert_array_equal(res["hd95"],
                                  hausdorff_distance(pred, target, percentile=95, **kw))
    np.testing.assert_array_equal(
        res["asd"], average_surface_distance(pred, target, symmetric=False, **kw))
    np.testing.assert_array_equal(res["assd"], average_surface_distance(pred, target, **kw))
    np.testing.assert_array_equal(res["nsd"], surface_dice(pred, target, tolerance=tol, **kw))
    assert list(surface_metrics(pred, target, metrics="assd, hd", **kw)) == ["assd", "hd"]


def test_one_distance_transform_per_mask(monkeypatch):
    """Every metric of one call shares the two distance transforms of each pair."""
    calls = []
    real = kernels.pair_surface_distances

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(kernels, "pair_surface_distances", counting)
    pred, target = _empty_cases()
    surface_metrics(pred, target, num_classes=2, metrics=tuple(SURFACE_METRICS),
                    tolerance=1.0, include_background=False)
    assert len(calls) == 1  # only sample 0 has both masks; empty pairs cost nothing


def test_per_class_tolerance_is_indexed_by_class_id():
    pred = _image((10, 10), (1, [(1, 1)]), (2, [(6, 6)]))[None]
    target = _image((10, 10), (1, [(1, 3)]), (2, [(6, 8)]))[None]  # both 2 apart
    got = surface_dice(pred, target, num_classes=3, include_background=False,
                       tolerance=[0.0, 2.0, 1.0])
    np.testing.assert_array_equal(got, [[1.0, 0.0]])


def test_tolerance_at_an_exact_multiple_of_the_spacing():
    # Three voxels at spacing 0.1 are 0.30000000000000004 apart in float64 (3 * 0.1), so a
    # tolerance of 0.3 excludes them; docs/surface.md explains and suggests a margin.
    pred = _image((1, 8), (1, [(0, 1)]))[None]
    target = _image((1, 8), (1, [(0, 4)]))[None]
    kw = dict(num_classes=2, include_background=False, spacing=0.1)
    d = float(hausdorff_distance(pred, target, **kw)[0, 0])
    assert d == 3 * 0.1 and d > 0.3
    assert float(surface_dice(pred, target, tolerance=0.3, **kw)[0, 0]) == 0.0
    assert float(surface_dice(pred, target, tolerance=0.3 + 1e-9, **kw)[0, 0]) == 1.0
    # spacing 0.5 is exact in binary: 1.5 is within 1.5
    kw["spacing"] = 0.5
    assert float(surface_dice(pred, target, tolerance=1.5, **kw)[0, 0]) == 1.0


def test_percentile_zero_is_the_minimum():
    # NumPy semantics; MONAI treats percentile=0 as "no percentile" (the maximum).
    pred = _image((8, 10), (1, [(2, c) for c in range(10)]))[None]
    target = _image((8, 10), (1, [(5, c) for c in range(5)]))[None]
    got = hausdorff_distance(pred, target, percentile=0, num_classes=2, include_background=False)
    np.testing.assert_allclose(got, [[3.0]])


# --------------------------------------------------------------------------- errors


def _ok():
    x = np.zeros((1, 4, 4), dtype=np.int64)
    return x, x.copy()


@pytest.mark.parametrize("make, kwargs, exc, match", [
    (lambda p, t: (p.astype(float), t), {}, TypeError, "pred must be an integer label map"),
    (lambda p, t: (p, t.astype(np.float32)), {}, TypeError, "target must be an integer"),
    (lambda p, t: (p, t[:, :3]), {}, ValueError, r"same shape.*\(1, 4, 4\).*\(1, 3, 4\)"),
    (lambda p, t: (p[0], t[0]), {}, ValueError, "sample axis 0"),
    (lambda p, t: (p[None, None], t[None, None]), {}, ValueError, "2 or 3 spatial"),
    (lambda p, t: (p, t + 5), {}, ValueError,
     r"^label values out of range: target holds label 5 at index \(0, 0, 0\) \(16 such "
     r"pixel\(s\)\), outside \[0, num_classes=2\)$"),
    (lambda p, t: (p - 1, t), {}, ValueError,
     r"pred holds label -1 at index \(0, 0, 0\) \(16 such pixel\(s\)\)"),
    (lambda p, t: (p, t + 255), {"ignore_index": 254}, ValueError,
     r"target holds label 255 .* and is not ignore_index=254"),
    (lambda p, t: (p, t), {"num_classes": 0}, ValueError, "num_classes must be an integer >= 1"),
    (lambda p, t: (p, t), {"num_classes": 2.0}, TypeError, "num_classes must be an int"),
    (lambda p, t: (p, t), {"num_classes": 1, "include_background": False}, ValueError,
     "leaves no class"),
    (lambda p, t: (p, t), {"spacing": (1.0, 2.0, 3.0)}, ValueError, "one value per spatial axis"),
    (lambda p, t: (p, t), {"spacing": 0.0}, ValueError, "finite and > 0"),
    (lambda p, t: (p, t), {"spacing": (1.0, -1.0)}, ValueError, "finite and > 0"),
    (lambda p, t: (p, t), {"spacing": "1"}, TypeError, "spacing must be"),
    (lambda p, t: (p, t), {"percentile": 101}, ValueError, r"percentile must be a number in \[0, 100\]"),
    (lambda p, t: (p, t), {"percentile": -1}, ValueError, r"percentile must be a number in \[0, 100\]"),
    (lambda p, t: (p, t), {"percentile": NAN}, ValueError, "percentile must be a number, not NaN"),
    (lambda p, t: (p, t), {"combine": "mean"}, ValueError, "combine must be one of"),
    (lambda p, t: (p, t), {"average": "micro"}, ValueError, "cannot be pooled"),
    (lambda p, t: (p, t), {"average": "weighted"}, ValueError, "cannot be pooled"),
    (lambda p, t: (p, t), {"average": "mean"}, ValueError, "average must be"),
    (lambda p, t: (p, t), {"per_sample": False}, ValueError, "different samples"),
    (lambda p, t: (p, t), {"zero_division": "nan"}, TypeError, "zero_division"),
    (lambda p, t: (p, t), {"empty_distance": -1.0}, ValueError, "empty_distance must be a number >= 0"),
    (lambda p, t: (p, t), {"zero_division": INF}, ValueError,
     r"zero_division must be nan, 0.0 or 1.0 .*got inf"),
    (lambda p, t: (p, t), {"zero_division": 5.0}, ValueError,
     r"zero_division must be nan, 0.0 or 1.0"),
    (lambda p, t: (p, t), {"zero_division": 0.5}, ValueError,
     r"zero_division must be nan, 0.0 or 1.0"),
    (lambda p, t: (p, t), {"zero_division": True}, TypeError, "zero_division must be a number"),
    (lambda p, t: (p + 255, t), {"ignore_index": 255}, ValueError,
     r"pred holds label 255 at index \(0, 0, 0\) \(16 such pixel\(s\)\), outside "
     r"\[0, num_classes=2\) where the reference is not ignored"),
    (lambda p, t: (p, t), {"ignore_index": 1.5}, TypeError, "ignore_index must be an int"),
])
def test_errors_hausdorff(make, kwargs, exc, match):
    pred, target = make(*_ok())
    kwargs = {"num_classes": 2, **kwargs}
    with pytest.raises(exc, match=match):
        hausdorff_distance(pred, target, **kwargs)


def test_errors_other_functions():
    pred, target = _ok()
    with pytest.raises(ValueError, match="combine must be one of"):
        average_surface_distance(pred, target, num_classes=2, combine="max")
    with pytest.raises(TypeError, match="tolerance"):
        surface_dice(pred, target, num_classes=2)  # missing keyword
    with pytest.raises(ValueError, match=r"one value per class id \(length num_classes=2"):
        surface_dice(pred, target, num_classes=2, tolerance=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="finite and >= 0"):
        surface_dice(pred, target, num_classes=2, tolerance=-1.0)
    with pytest.raises(ValueError, match="surface Dice needs tolerance"):
        surface_metrics(pred, target, num_classes=2, metrics=("nsd",))
    with pytest.raises(ValueError, match="unknown boundary metric 'hd99'"):
        surface_metrics(pred, target, num_classes=2, metrics=("hd99",))
    with pytest.raises(ValueError, match="at least one"):
        surface_metrics(pred, target, num_classes=2, metrics=())
    # a tolerance is not needed when nsd is not asked for
    assert set(surface_metrics(pred, target, num_classes=2, metrics=("hd",))) == {"hd"}


def test_boolean_masks_and_prediction_under_ignored_voxels():
    pred = np.zeros((1, 6, 6), dtype=bool)
    target = np.zeros((1, 6, 6), dtype=bool)
    pred[0, 1, 1] = target[0, 1, 4] = True
    got = hausdorff_distance(pred, target, num_classes=2, include_background=False)
    np.testing.assert_array_equal(got, [[3.0]])
    # where the reference is ignored, the prediction may hold anything (it is not looked at)
    pred8 = np.zeros((1, 6, 6), dtype=np.uint8)
    target8 = np.zeros((1, 6, 6), dtype=np.uint8)
    pred8[0, 1, 1] = target8[0, 1, 4] = 1
    target8[0, 5, :] = 255
    pred8[0, 5, :] = 77
    got = hausdorff_distance(pred8, target8, num_classes=2, ignore_index=255,
                             include_background=False)
    np.testing.assert_array_equal(got, [[3.0]])
    # an ignore_index the dtype cannot hold ignores nothing
    got = hausdorff_distance(pred8[:, :5], target8[:, :5], num_classes=2, ignore_index=-1,
                             include_background=False)
    np.testing.assert_array_equal(got, [[3.0]])


def test_jax_jit_is_refused_with_a_clear_error():
    jax = pytest.importorskip("jax")
    pred, target = _ok()

    def f(p, t):
        return hausdorff_distance(p, t, num_classes=2)

    with pytest.raises(TypeError, match="cannot run under jax.jit"):
        jax.jit(f)(pred, target)


# --------------------------------------------------------------------------- backends


def test_backend_matrix(backend):
    rng = np.random.default_rng(2)
    pred = rng.integers(0, 3, size=(2, 9, 8))
    target = rng.integers(0, 3, size=(2, 9, 8))
    target[1][target[1] == 2] = 0
    target[0, 0, :3] = 255
    kw = dict(num_classes=3, spacing=(0.8, 1.1), ignore_index=255)
    p, t = backend(pred), backend(target)
    for fn, extra in ((hausdorff_distance, {"percentile": 95}),
                      (average_surface_distance, {}),
                      (surface_dice, {"tolerance": 1.0})):
        # exact shapes: (N, C) and () -- assert_allclose alone would let (1,) pass for ()
        want = fn(pred, target, **kw, **extra)
        assert want.shape == (2, 3)
        assert_matches(fn(p, t, **kw, **extra), want, backend, dtype=np.float64,
                       rtol=1e-12, atol=0)
        want = fn(pred, target, average="macro", **kw, **extra)
        assert want.shape == ()
        assert_matches(fn(p, t, average="macro", **kw, **extra), want, backend,
                       dtype=np.float64, rtol=1e-12)
        want = fn(pred, target, include_background=False, **kw, **extra)
        assert_matches(fn(p, t, include_background=False, **kw, **extra), want, backend,
                       dtype=np.float64, rtol=1e-12)
    res = surface_metrics(p, t, tolerance=1.0, **kw)
    want = surface_metrics(pred, target, tolerance=1.0, **kw)
    assert set(res) == set(want)
    for name, v in res.items():
        assert_matches(v, want[name], backend, dtype=np.float64, rtol=1e-12)


def test_macro_is_zero_dimensional_on_torch():
    """Review finding 1.1: torch's macro average came back with shape (1,)."""
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(0)
    p, t = r.integers(0, 3, (2, 8, 9)), r.integers(0, 3, (2, 8, 9))
    for fn, extra in ((hausdorff_distance, {}), (average_surface_distance, {}),
                      (surface_dice, {"tolerance": 1.0})):
        got = fn(torch.asarray(p), torch.asarray(t), num_classes=3, average="macro", **extra)
        assert isinstance(got, torch.Tensor)
        assert tuple(got.shape) == () and got.dtype == torch.float64
        assert float(got) == float(fn(p, t, num_classes=3, average="macro", **extra))


def test_from_kernel_keeps_shape_dtype_and_namespace(backend):
    """The kernel layer's way back: 0-d stays 0-d, (N, C) stays (N, C), float64."""
    like = backend(np.zeros((1, 2, 2), dtype=np.int64))
    for values in (np.float64(2.5), np.asarray(2.5), np.arange(6.0).reshape(2, 3),
                   np.full((1, 1), np.inf)):
        got = kernels.from_kernel(np, values, like)
        assert_matches(got, values, backend, dtype=np.float64, rtol=0)


def test_macro_uses_the_shared_nanmean(monkeypatch):
    """Review finding 2.2: one NaN-aware mean for overlap and boundary metrics."""
    from regionloss import _reduce as _average
    from regionloss.metrics import _surface_engine as engine

    calls = []

    def spy(xp, values, axis, *args, **kwargs):
        calls.append((tuple(values.shape), axis))
        return _average.nanmean(xp, values, axis, *args, **kwargs)

    monkeypatch.setattr(engine, "nanmean", spy)
    pred, target = _empty_cases()
    got = hausdorff_distance(pred, target, num_classes=2, average="macro")
    assert calls == [((4, 2), -1), ((4,), 0)]
    assert float(got) == INF  # the one-empty samples keep their inf


def test_surface_module_does_not_branch_on_the_backend():
    """Review finding 2.4: the formula module leaves every backend question to the kernels."""
    import inspect

    from regionloss.metrics import surface as surface_mod

    source = inspect.getsource(surface_mod)
    for needle in ("array_api_compat", "aac.", "is_cupy", "import jax", "import torch",
                   "import cupy", "jax_enable_x64", ".device"):
        assert needle not in source, needle


# --------------------------------------------------------------------------- kernels


@pytest.mark.parametrize("shape", [(3, 11, 9), (2, 6, 7, 5)])
def test_bounding_boxes_find_objects_equals_bincount(shape):
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 6, size=shape)          # labels 4, 5 do not exist: C = 4
    labels[0][labels[0] == 2] = 0                    # class 2 absent from sample 0
    valid = rng.random(shape) < 0.9
    for v in (None, valid):
        a_boxes, a_has = kernels.class_boxes(np, labels, v, 4, method="find_objects")
        b_boxes, b_has = kernels.class_boxes(np, labels, v, 4, method="bincount")
        np.testing.assert_array_equal(a_has, b_has)
        np.testing.assert_array_equal(a_boxes, b_boxes)
        assert not a_has[0, 2]
    small = np.zeros((1, 5, 5), dtype=np.int64)
    small[0, 1:3, 2:5] = 1
    boxes, has = kernels.class_boxes(np, small, None, 2)
    np.testing.assert_array_equal(boxes[0, 1], [[1, 3], [2, 5]])
    with pytest.raises(ValueError, match="method"):
        kernels.class_boxes(np, small, None, 2, method="magic")


# --------------------------------------------------------------------------- brute force


def _brute_surface(mask):
    """Voxels of ``mask`` with a face neighbour outside it (outside the image counts)."""
    padded = np.pad(mask, 1, constant_values=False)
    inner = np.ones_like(mask)
    for axis in range(mask.ndim):
        for step in (-1, 1):
            shifted = np.roll(padded, step, axis=axis)
            inner &= shifted[tuple(slice(1, -1) for _ in range(mask.ndim))]
    return mask & ~inner


def _brute(pred_mask, target_mask, spacing):
    """Directed distances by all pairs of scaled surface-voxel coordinates."""
    sp = np.asarray(spacing, dtype=float)
    a = np.argwhere(_brute_surface(pred_mask)) * sp
    b = np.argwhere(_brute_surface(target_mask)) * sp
    dist = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    return dist.min(axis=1), dist.min(axis=0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    ndim=st.sampled_from([2, 3]),
    spacing=st.tuples(st.sampled_from([0.5, 0.7, 1.0, 1.9]), st.sampled_from([0.6, 1.0, 2.5]),
                      st.sampled_from([1.0, 0.3])),
)
def test_matches_brute_force(data, ndim, spacing):
    shape = tuple(data.draw(st.integers(1, 7)) for _ in range(ndim))
    seed = data.draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    pred = rng.integers(0, 3, size=(1,) + shape) * (rng.random((1,) + shape) < 0.7)
    target = rng.integers(0, 3, size=(1,) + shape) * (rng.random((1,) + shape) < 0.7)
    sp = spacing[:ndim]
    q = data.draw(st.sampled_from([100.0, 95.0, 50.0, 12.5]))
    tol = data.draw(st.sampled_from([0.4, 1.1, 2.05]))
    res = {
        "max": hausdorff_distance(pred, target, num_classes=3, spacing=sp, percentile=q),
        "pooled": hausdorff_distance(pred, target, num_classes=3, spacing=sp, percentile=q,
                                     combine="pooled"),
        "assd": average_surface_distance(pred, target, num_classes=3, spacing=sp),
        "nsd": surface_dice(pred, target, num_classes=3, spacing=sp, tolerance=tol),
    }
    for c in range(3):
        pm, tm = pred[0] == c, target[0] == c
        if not pm.any() or not tm.any():
            continue
        dp, dt = _brute(pm, tm, sp)
        want_max = max(_lerp_percentile(list(dp), q), _lerp_percentile(list(dt), q))
        want_pool = _lerp_percentile(list(dp) + list(dt), q)
        np.testing.assert_allclose(res["max"][0, c], want_max, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(res["pooled"][0, c], want_pool, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(res["assd"][0, c], np.concatenate([dp, dt]).mean(),
                                   rtol=1e-12, atol=1e-12)
        within = (np.sum(dp <= tol) + np.sum(dt <= tol)) / (dp.size + dt.size)
        np.testing.assert_allclose(res["nsd"][0, c], within, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), shift=st.integers(-2, 2))
def test_properties(seed, shift):
    rng = np.random.default_rng(seed)
    target = (rng.random((2, 10, 9)) < 0.4).astype(np.int64)
    pred = np.roll(target, shift, axis=1)
    pred[:, rng.integers(0, 10), rng.integers(0, 9)] ^= 1
    kw = dict(num_classes=2, spacing=(0.9, 1.3))
    hd = hausdorff_distance(pred, target, **kw)
    hd95 = hausdorff_distance(pred, target, percentile=95, **kw)
    assd = average_surface_distance(pred, target, **kw)
    nsd = surface_dice(pred, target, tolerance=1.0, **kw)
    fin = np.isfinite(hd)
    # symmetric in (pred, target): max-combined HD, pooled ASSD, NSD
    np.testing.assert_array_equal(hd, hausdorff_distance(target, pred, **kw))
    np.testing.assert_allclose(assd, average_surface_distance(target, pred, **kw), rtol=1e-12)
    np.testing.assert_allclose(nsd, surface_dice(target, pred, tolerance=1.0, **kw))
    assert np.all(hd95[fin] <= hd[fin] + 1e-12) and np.all(assd[fin] <= hd[fin] + 1e-12)
    assert np.all(hd95[fin] >= 0)
    nsd_fin = nsd[np.isfinite(nsd)]
    assert np.all((nsd_fin >= 0) & (nsd_fin <= 1))
    # identical maps: distances 0, surface Dice 1
    np.testing.assert_array_equal(hausdorff_distance(target, target, **kw)[fin], 0.0)
    np.testing.assert_array_equal(surface_dice(target, target, tolerance=0.0, **kw)[fin], 1.0)


# --------------------------------------------------------------------------- CuPy (GPU)


def _cupy_or_skip():
    from conftest import CUPY_SKIP_REASON

    if CUPY_SKIP_REASON is not None:
        pytest.skip(CUPY_SKIP_REASON)
    import cupy

    return cupy


@pytest.mark.parametrize("spatial", [(17, 15), (9, 8, 7)])
def test_cupy_stays_on_device_and_matches_numpy(spatial):
    cupy = _cupy_or_skip()
    rng = np.random.default_rng(5)
    pred = rng.integers(0, 4, size=(3,) + spatial)
    target = rng.integers(0, 4, size=(3,) + spatial)
    target[1][target[1] == 3] = 0
    target[2, 0] = 255
    kw = dict(num_classes=4, spacing=(0.7,) + (1.3,) * (len(spatial) - 1), ignore_index=255,
              tolerance=[0.5, 1.0, 1.5, 2.0])
    want = surface_metrics(pred, target, metrics=tuple(SURFACE_METRICS), **kw)
    got = surface_metrics(cupy.asarray(pred), cupy.asarray(target),
                          metrics=tuple(SURFACE_METRICS), **kw)
    for name in want:
        assert isinstance(got[name], cupy.ndarray)
        # CuPy's EDT picks near-tied features in float32 with anisotropic sampling
        np.testing.assert_allclose(got[name].get(), want[name], rtol=1e-6, atol=1e-9)
    # the kernels: CuPy bincount boxes == NumPy find_objects boxes
    valid = target != 255
    a = kernels.class_boxes(np, pred, valid, 4, method="find_objects")
    b = kernels.class_boxes(cupy, cupy.asarray(pred), cupy.asarray(valid), 4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="needs NumPy"):
        kernels.class_boxes(cupy, cupy.asarray(pred), None, 4, method="find_objects")


def test_cupy_branches_with_a_numpy_stand_in(monkeypatch):
    """The CuPy-only branches (device-to-host reads, the bincount boxes, the assembly) run
    here with a NumPy stand-in named ``cupy``, so that they are exercised without a GPU.
    The real CuPy test above runs where a GPU is present."""
    import types

    import scipy.ndimage

    from regionloss.metrics import surface as surface_mod

    class DeviceArray(np.ndarray):
        def get(self):
            return np.asarray(self)

    def on_device(fn):
        def wrapped(*args, **kwargs):
            out = fn(*args, **kwargs)
            return out.view(DeviceArray) if isinstance(out, np.ndarray) else out
        return wrapped

    fake = types.ModuleType("cupy")
    fake.int64, fake.float64, fake.nan = np.int64, np.float64, np.nan
    for name in ("where", "arange", "bincount", "asarray", "stack", "unique", "max", "min",
                 "maximum", "concatenate", "mean", "sum", "count_nonzero", "percentile",
                 "isnan"):
        setattr(fake, name, on_device(getattr(np, name)))
    assert kernels.is_cupy_module(fake)
    monkeypatch.setattr(kernels, "to_kernel", lambda x: (fake, np.asarray(x).view(DeviceArray)))
    monkeypatch.setattr(kernels, "ndimage_for", lambda mod: scipy.ndimage)

    rng = np.random.default_rng(6)
    pred = rng.integers(0, 3, size=(2, 12, 10))
    target = rng.integers(0, 3, size=(2, 12, 10))
    target[1][target[1] == 2] = 0
    target[0, :2] = 255
    kw = dict(num_classes=3, spacing=(0.9, 1.2), ignore_index=255)
    from regionloss.metrics import _surface_engine as engine

    _, got = engine.run(pred, target, specs={
        "hd95": engine.Spec("hd", q=95.0, mode="max"),
        "assd": engine.Spec("asd", mode="pooled"),
        "nsd": engine.Spec("nsd", tolerance=np.full(3, 1.0))},
        include_background=True, zero_division=NAN, empty_distance=None, **kw)
    monkeypatch.undo()
    np.testing.assert_array_equal(got["hd95"], hausdorff_distance(pred, target, percentile=95,
                                                                  **kw))
    np.testing.assert_array_equal(got["assd"], average_surface_distance(pred, target, **kw))
    np.testing.assert_array_equal(got["nsd"], surface_dice(pred, target, tolerance=1.0, **kw))
    with pytest.raises(ValueError, match=r"target holds label 7 at index"):
        monkeypatch.setattr(kernels, "to_kernel",
                            lambda x: (fake, np.asarray(x).view(DeviceArray)))
        hausdorff_distance(pred, np.where(target == 1, 7, target), **kw)


def test_label_error_is_the_overlap_metrics_message():
    """One label-range helper: the same bad maps, the same words as dice_score."""
    import regionloss as rl

    pred, target = _ok()
    target[0, 1, 2] = 9
    pred[0, 3, 3] = -1
    for ignore_index in (None, 255):
        with pytest.raises(ValueError) as ours:
            hausdorff_distance(pred, target, num_classes=2, ignore_index=ignore_index)
        with pytest.raises(ValueError) as theirs:
            rl.dice_score(pred, target, num_classes=2, ignore_index=ignore_index)
        assert str(ours.value) == str(theirs.value)
        assert "target holds label 9 at index (0, 1, 2)" in str(ours.value)
        assert "pred holds label -1 at index (0, 3, 3)" in str(ours.value)


# --------------------------------------------------------------------------- label dtypes


def test_surface_ignore_index_outside_label_dtype_matches_nothing():
    pytest.importorskip("scipy")
    import regionloss as rl

    p = np.zeros((1, 6, 6), np.uint8)
    t = np.zeros((1, 6, 6), np.uint8)
    p[0, 1:3, 1:3] = 1
    t[0, 2:4, 2:4] = 1
    got = rl.hausdorff_distance(p, t, num_classes=2, ignore_index=300)
    want = rl.hausdorff_distance(p, t, num_classes=2)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
