"""The counting kernels (regionloss._kernels.counting, regionloss._kernels.counting_numpy):
every path (native ``bincount``, the NumPy block kernels "joint" and "sparse", the pure
array-API "standard" fallback) against every other and against an independent
``np.add.at`` reference, with the dtype edges (narrow, signed, unsigned 64-bit labels).

The kernels are reached through :func:`regionloss.metrics.confusion.count_labels` (the
public ``confusion_matrix`` with the ``method`` chosen), so the label checks that wrap them
are exercised too. The public function's own contract lives in
``tests/metrics/test_confusion.py``.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import regionloss as rl
from conftest import BACKEND_PARAMS, HAVE_JAX, assert_same_namespace, to_numpy
from conftest import HAND_PRED as PRED
from conftest import HAND_TARGET as TARGET
from regionloss._kernels import counting_numpy as _counting
from regionloss.metrics.confusion import count_labels as confusion_counts


def _random(rng, shape, C, ignore, frac=0.1):
    target = rng.integers(0, C, shape)
    pred = rng.integers(0, C, shape)
    if ignore is not None:
        target = np.where(rng.random(shape) < frac, ignore, target)
    return pred, target


@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("ignore", [None, 255, -1, 0])
def test_paths_agree(backend, per_sample, ignore):
    """Native bincount (NumPy special, generic) and the comparison path give one result."""
    rng = np.random.default_rng(3)
    pred, target = _random(rng, (3, 9, 7), 5, ignore)
    results = {}
    for method in ("auto", "native", "standard"):
        try:
            out = confusion_counts(backend(pred), backend(target), num_classes=5,
                                   ignore_index=ignore, per_sample=per_sample, method=method)
        except ValueError as exc:  # no bincount in this namespace
            assert method == "native" and "no bincount" in str(exc)
            continue
        assert_same_namespace(out, backend)
        results[method] = to_numpy(out)
    want = np.zeros((3, 5, 5) if per_sample else (5, 5), dtype=np.int64)
    for n in range(3):
        for t, p in zip(target[n].ravel(), pred[n].ravel()):
            if t != ignore:
                if per_sample:
                    want[n, t, p] += 1
                else:
                    want[t, p] += 1
    for method, got in results.items():
        np.testing.assert_array_equal(got, want, err_msg=method)


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(1, 5), min_size=2, max_size=3).map(tuple),
    C=st.integers(1, 6),
    seed=st.integers(0, 2**16),
    per_sample=st.booleans(),
    dtype=st.sampled_from(["uint8", "int16", "int32", "int64"]),
)
def test_paths_agree_property(shape, C, seed, per_sample, dtype):
    rng = np.random.default_rng(seed)
    pred, target = _random(rng, shape, C, 200, frac=0.3)
    pred, target = pred.astype(dtype), target.astype(dtype)
    kw = dict(num_classes=C, ignore_index=200, per_sample=per_sample)
    auto = confusion_counts(pred, target, **kw)
    for method in ("native", "standard"):
        np.testing.assert_array_equal(confusion_counts(pred, target, method=method, **kw), auto)
    # every non-ignored pixel is counted once
    assert int(auto.sum()) == int((target != 200).sum())
    assert auto.dtype == np.int64


def test_narrow_labels_do_not_wrap():
    """uint8 labels with 19 classes: target * 19 + pred would wrap in uint8."""
    rng = np.random.default_rng(0)
    pred, target = _random(rng, (2, 16, 16), 19, 255)
    pred8, target8 = pred.astype(np.uint8), target.astype(np.uint8)
    np.testing.assert_array_equal(
        rl.confusion_matrix(pred8, target8, num_classes=19, ignore_index=255),
        rl.confusion_matrix(pred, target, num_classes=19, ignore_index=255))


# ------------------------------------------------------------------ NumPy kernels agree
#
# NumPy has two kernels of its own (regionloss._kernels.counting_numpy): "joint" (one bincount
# over the joint index built in intp) and "sparse" (bincount of the disagreeing pixels only,
# the diagonal from class sizes, block by block, handing blocks it declines to "joint").
# They, the generic native bincount path and the pure array-API comparison path must give
# the same counts, the same drops (validate=False) and the same errors (validate=True).

ALL_METHODS = ("auto", "sparse", "joint", "native", "standard")


@contextlib.contextmanager
def _small_blocks(block):
    """Tiny blocks and no size threshold, so small inputs cross block boundaries and
    mix sparse and joint blocks (hypothesis does not mix with monkeypatch)."""
    saved = _counting._NP_BLOCK, _counting._NP_SPARSE_MIN_PIXELS
    _counting._NP_BLOCK, _counting._NP_SPARSE_MIN_PIXELS = block, 0
    try:
        yield
    finally:
        _counting._NP_BLOCK, _counting._NP_SPARSE_MIN_PIXELS = saved


def _all_paths(pred, target, **kw):
    out = {}
    for method in ALL_METHODS:
        try:
            out[method] = confusion_counts(pred, target, method=method, **kw)
        except ValueError as exc:
            out[method] = f"ValueError: {exc}"
    return out


def _reference(pred, target, *, num_classes, ignore_index=None, per_sample=False,
               validate=True):
    """Independent reference: exact Python-int comparisons, then ``np.add.at``.

    Returns int64 counts, or the string "error" where a validating call must raise.
    """
    C = num_classes
    t, p = target.astype(object), pred.astype(object)    # exact, whatever the dtype
    ignored = (t == ignore_index).astype(bool) if ignore_index is not None else \
        np.zeros(t.shape, bool)
    in_range = ((t >= 0) & (t < C) & (p >= 0) & (p < C)).astype(bool)
    if validate and np.any(~in_range & ~ignored):
        return "error"
    use = in_range & ~ignored
    rows, cols = t[use].astype(np.int64), p[use].astype(np.int64)
    if per_sample:
        sample = np.broadcast_to(
            np.arange(t.shape[0]).reshape((-1,) + (1,) * (t.ndim - 1)), t.shape)
        out = np.zeros((t.shape[0], C, C), np.int64)
        np.add.at(out, (sample[use], rows, cols), 1)
    else:
        out = np.zeros((C, C), np.int64)
        np.add.at(out, (rows, cols), 1)
    return out


def _assert_all_equal(results, want=None):
    """Every path gives one result (and, given ``want`` from :func:`_reference`, that one)."""
    if want is not None:
        for method, got in results.items():
            if isinstance(want, str):
                assert isinstance(got, str) and got.startswith(
                    "ValueError: label values out of range"), (method, got)
            else:
                assert not isinstance(got, str), (method, got)
                np.testing.assert_array_equal(got, want, err_msg=method)
    ref = results["standard"]
    for method, got in results.items():
        if isinstance(ref, str) or isinstance(got, str):
            assert isinstance(got, str) and got == ref, (method, got, ref)
        else:
            assert got.dtype == np.int64, method
            np.testing.assert_array_equal(got, ref, err_msg=method)


@settings(max_examples=120, deadline=None)
@given(
    shape=st.sampled_from([(1,), (7,), (3, 40), (2, 5, 9), (4, 3, 3, 3), (0, 5)]),
    C=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
    per_sample=st.booleans(),
    dtype=st.sampled_from(["uint8", "int8", "int16", "uint16", "int32", "int64", "uint64"]),
    wide_c=st.sampled_from([None, None, 129, 200, 256, 300]),   # int8 only
    ignore=st.sampled_from([None, 255, 100, -1, -100, -128, 0, "last", "C"]),
    agree=st.floats(0, 1),
    bad=st.sampled_from([None, "target", "pred", "both", "pred_at_ignored"]),
    negative=st.booleans(),
    validate=st.booleans(),
    block=st.sampled_from([None, 16, 50]),
)
def test_every_path_agrees_property(shape, C, seed, per_sample, dtype, wide_c, ignore,
                                    agree, bad, negative, validate, block):
    """All five paths against each other and against the np.add.at reference, with
    int8 maps up to C = 300 (an int8 -100 must never read as class 156) and large
    negative labels (-100, -128) as bad labels and as ignore_index."""
    rng = np.random.default_rng(seed)
    if dtype == "int8" and wide_c is not None:
        C = wide_c
    ignore = {"last": C - 1, "C": C}.get(ignore, ignore)
    info = np.iinfo(dtype)
    if ignore is not None and not info.min <= ignore <= info.max:
        ignore = None
    top = min(C, int(info.max) + 1)           # class labels the dtype can hold

    def out_of_range(k):   # a bad label the dtype holds: C + k, or a large negative one
        if (negative and info.min < 0) or C + k > info.max:
            value = [-128, -100, -1][k % 3]
        else:
            value = C + k
        return value if value != ignore else -127

    target = rng.integers(0, top, shape)
    pred = np.where(rng.random(shape) < agree, target, rng.integers(0, top, shape))
    if ignore is not None:
        ignored = rng.random(shape) < 0.2
        target = np.where(ignored, ignore, target)
        pred = np.where(ignored & (rng.random(shape) < 0.5), out_of_range(0), pred)
    if bad is not None and target.size and (C <= info.max or info.min < 0):
        i = int(rng.integers(target.size))
        if bad == "target" and target.flat[i] != ignore:
            target.flat[i] = out_of_range(5)
        elif bad == "pred" and target.flat[i] != ignore:
            pred.flat[i] = out_of_range(7)
        elif bad == "both":                                # agreeing, both out of range
            target.flat[i] = pred.flat[i] = out_of_range(6)
        elif bad == "pred_at_ignored" and ignore is not None:
            target.flat[i], pred.flat[i] = ignore, out_of_range(9)  # never looked at
    target, pred = target.astype(dtype), pred.astype(dtype)
    kw = dict(num_classes=C, ignore_index=ignore, per_sample=per_sample and len(shape) > 1,
              validate=validate)
    ctx = _small_blocks(block) if block else contextlib.nullcontext()
    with ctx:
        results = _all_paths(pred, target, **kw)
    _assert_all_equal(results, _reference(pred, target, **kw))


@pytest.mark.parametrize("dtype", ["uint8", "int16", "int64"])
@pytest.mark.parametrize("ignore", [None, 255, -1, 2])
@pytest.mark.parametrize("per_sample", [False, True])
def test_paths_agree_on_masks_bigger_than_a_block(dtype, ignore, per_sample):
    """Real-size masks (several blocks; both kernels picked inside one call): clustered
    errors (sparse blocks) in one half, noise (joint blocks) in the other."""
    if ignore == -1 and dtype == "uint8":
        ignore = None
    rng = np.random.default_rng(7)
    C = 5
    yy, xx = np.mgrid[:512, :640]
    target = ((yy // 40 + xx // 64) % C).astype(np.int64)
    pred = np.roll(target, 3, axis=1)                      # errors at the borders only
    noisy = rng.random(target.shape) < 0.6
    noisy[:256] = False                                    # first half: few errors
    pred = np.where(noisy, rng.integers(0, C, target.shape), pred)
    if ignore is not None:
        target = np.where(rng.random(target.shape) < 0.05, ignore, target)
    target = np.stack([target, target[::-1]]).astype(dtype)
    pred = np.stack([pred, pred[::-1]]).astype(dtype)
    assert target[0].size > _counting._NP_BLOCK
    _assert_all_equal(_all_paths(pred, target, num_classes=C, ignore_index=ignore,
                                 per_sample=per_sample))


def test_sparse_kernel_reports_bad_labels_like_the_others():
    """A label out of range in a block the sparse kernel declines: same message."""
    target = np.zeros((3, 100, 100), np.uint8)
    pred = target.copy()
    pred[2, 50, 60] = 9
    with _small_blocks(1000):
        for method in ("auto", "sparse", "joint", "standard"):
            with pytest.raises(ValueError, match=r"pred holds label 9 at index \(2, 50, 60\)"):
                confusion_counts(pred, target, num_classes=4, method=method)


def test_bool_masks_on_numpy_kernels():
    rng = np.random.default_rng(1)
    t = rng.random((3, 50, 50)) < 0.3
    p = t ^ (rng.random(t.shape) < 0.05)
    want = confusion_counts(p.astype(np.int64), t.astype(np.int64), num_classes=2,
                            method="standard")
    for method in ("auto", "sparse", "joint"):
        np.testing.assert_array_equal(confusion_counts(p, t, num_classes=2, method=method),
                                      want)
        np.testing.assert_array_equal(   # bool against integer labels
            confusion_counts(p, t.astype(np.uint8), num_classes=2, method=method), want)


def test_numpy_kernels_need_numpy():
    xps = pytest.importorskip("array_api_strict")
    with pytest.raises(ValueError, match="method='sparse' is a NumPy kernel"):
        confusion_counts(xps.asarray(PRED), xps.asarray(TARGET), num_classes=3,
                         method="sparse")


# ------------------------------------------------------------ dtype edges


@pytest.mark.parametrize("per_sample", [False, True])
def test_int8_negative_labels_with_more_than_128_classes(per_sample):
    """int8 -1 / -100 with C > 128 are out of range, never class 255 / 156."""
    t = np.zeros((2, 4), np.int8)
    p = t.copy()
    t[1, 0] = -1
    p[0, 1] = -100
    for method in ALL_METHODS:
        with pytest.raises(ValueError, match="target holds label -1 at index \\(1, 0\\)"):
            confusion_counts(p, t, num_classes=256, per_sample=per_sample, method=method)
        # ignored by the reference: -1 leaves, the prediction -100 is still out of range
        with pytest.raises(ValueError, match="pred holds label -100 at index \\(0, 1\\)"):
            confusion_counts(p, t, num_classes=200, ignore_index=-1, per_sample=per_sample,
                             method=method)
        p[0, 1] = 0
        got = confusion_counts(p, t, num_classes=200, ignore_index=-1, per_sample=per_sample,
                               method=method)
        want = np.zeros((2, 200, 200), np.int64)
        want[0, 0, 0], want[1, 0, 0] = 4, 3
        np.testing.assert_array_equal(got, want if per_sample else want.sum(0), method)
        p[0, 1] = -100


def test_int8_negative_labels_over_blocks():
    """Many pixels (sparse kernel, blocks, byte table declined): -100 is no class."""
    t = np.zeros(70000, np.int8)
    p = t.copy()
    t[5] = p[5] = -100
    t[6] = -128
    for method in ("auto", "sparse", "joint", "native"):  # (standard: too slow at C=200)
        got = confusion_counts(p, t, num_classes=200, ignore_index=-128, validate=False,
                               method=method)
        assert got[0, 0] == 69998 and got.sum() == 69998, method
        with pytest.raises(ValueError, match="label -100 at index \\(5,\\)"):
            confusion_counts(p, t, num_classes=200, ignore_index=-128, method=method)


@pytest.fixture(params=[p for p in BACKEND_PARAMS if p.id not in ("dask",)])
def uint64_backend(request):
    conv = request.param()
    try:
        conv(np.zeros(1, np.uint64))
    except Exception as exc:  # pragma: no cover - a namespace without uint64
        pytest.skip(f"no uint64: {exc}")
    return conv


def test_uint64_with_int64_does_not_wrap_onto_ignore_index(uint64_backend):
    """2**64 - 1 next to int64 labels and ignore_index=-1: out of range, not ignored."""
    huge = 2**64 - 1
    # (PyTorch reads a uint64 scalar back as int64, so _labels' message cannot name the
    # label there; the counting kernel still raises)
    named = ".*" if "torch" in repr(uint64_backend) else str(huge)
    target = np.array([[0, 1, -1, 2]], np.int64)
    pred = np.array([[0, 1, 2, huge]], np.uint64)
    with pytest.raises(ValueError, match="label values out of range" if named == ".*" else
                       f"pred holds label {named} at index \\(0, 3\\)"):
        confusion_counts(uint64_backend(pred), uint64_backend(target), num_classes=3,
                         ignore_index=-1)
    # the other way round: a uint64 reference cannot hold -1, its 2**64 - 1 is a bad label
    with pytest.raises(ValueError, match="label values out of range" if named == ".*" else
                       f"target holds label {named}"):
        confusion_counts(uint64_backend(target.clip(0)),
                         uint64_backend(np.array([[0, 1, huge, 2]], np.uint64)),
                         num_classes=3, ignore_index=-1)
    # ... and pixels holding 2**64 - 1 pass when it *is* ignore_index
    got = confusion_counts(uint64_backend(np.array([[0, 1, 2, 7]], np.uint64)),
                           uint64_backend(np.array([[0, 1, 2, huge]], np.uint64)),
                           num_classes=3, ignore_index=huge)
    np.testing.assert_array_equal(to_numpy(got), np.eye(3, dtype=np.int64))


@pytest.mark.parametrize("method", ALL_METHODS)
def test_uint64_mixed_paths_numpy(method):
    huge = 2**64 - 1
    target = np.array([0, 1, -1, 2, 2], np.int64)
    pred = np.array([0, 1, huge, 2, 1], np.uint64)
    got = confusion_counts(pred, target, num_classes=3, ignore_index=-1, method=method)
    np.testing.assert_array_equal(got, [[1, 0, 0], [0, 1, 0], [0, 1, 1]])
    t2 = np.array([0, 1, huge, 2, 2], np.uint64)
    with pytest.raises(ValueError, match=f"target holds label {huge}"):
        confusion_counts(target.clip(0), t2, num_classes=3, ignore_index=-1, method=method)
    got = confusion_counts(t2.astype(np.int64).clip(0), t2, num_classes=3,
                           ignore_index=2**63 + 1, validate=False, method=method)
    np.testing.assert_array_equal(got, [[1, 0, 0], [0, 1, 0], [0, 0, 2]])


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("method", ALL_METHODS)
@pytest.mark.parametrize("shape", [(3,), (3000,), (2, 70000)])
def test_huge_uint64_labels_raise_no_runtime_warning(method, shape):
    """Labels >= 2**63 are out of range: a ValueError, and no 'invalid value' warning
    from a float round trip on the way (the test turns warnings into errors)."""
    target = np.zeros(shape, np.uint64)
    pred = target.copy()
    target.flat[1] = 2**64 - 1
    pred.flat[2] = 2**63
    pred.flat[0] = 2**63 + 12345
    C = 300 if target.size <= 3000 else 5   # (the standard path is slow at C=300)
    with pytest.raises(ValueError, match="label values out of range"):
        confusion_counts(pred, target, num_classes=C, method=method)
    got = confusion_counts(pred, target, num_classes=C, method=method, validate=False)
    assert int(got[0, 0]) == target.size - 3


@pytest.mark.parametrize("ignore", [2**40, 2**63, 2**64, -1, 300])
def test_ignore_index_outside_the_dtype_never_matches(concrete_backend, ignore):
    """An ignore_index the reference's dtype cannot hold matches nothing (no
    OverflowError from comparing a uint8 map with 2**40), and is named in messages."""
    target = np.array([[0, 1, 2, 2]], np.uint8)
    pred = np.array([[0, 1, 1, 0]], np.uint8)
    got = confusion_counts(concrete_backend(pred), concrete_backend(target), num_classes=3,
                           ignore_index=ignore)
    np.testing.assert_array_equal(to_numpy(got), [[1, 0, 0], [0, 1, 0], [1, 1, 0]])
    target[0, 3] = 255
    with pytest.raises(ValueError, match=f"label 255 .*not ignore_index={ignore}"):
        confusion_counts(concrete_backend(pred), concrete_backend(target), num_classes=3,
                         ignore_index=ignore)


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
def test_ignore_index_outside_the_dtype_under_jit():
    import jax
    import jax.numpy as jnp

    target = jnp.asarray(np.array([[0, 1, 2, 2]], np.uint8))
    pred = jnp.asarray(np.array([[0, 1, 1, 0]], np.uint8))
    for ignore in (2**40, 2**63, -1):
        f = jax.jit(lambda a, b, ig=ignore: confusion_counts(a, b, num_classes=3,
                                                             ignore_index=ig))
        np.testing.assert_array_equal(np.asarray(f(pred, target)),
                                      [[1, 0, 0], [0, 1, 0], [1, 1, 0]])
