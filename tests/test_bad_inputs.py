"""Bad and edge inputs, table-driven: every public function, NumPy / JAX eager / ``jax.jit``.

The library's promise is that every number it returns is the documented one: bad input gets
a clear error naming the argument (eager), NaN where the jit-time policy says NaN, or the
documented value (limits of non-finite logits, empty inputs). Each table row states the
outcome, and each row is run on every backend it applies to.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import regionloss as rl
from conftest import HAVE_JAX

if HAVE_JAX:
    import jax
    import jax.numpy as jnp

C = 3
RNG = np.random.default_rng(2024)
LOGITS = RNG.normal(size=(2, 4, 5, C)).astype(np.float32)       # channels-last
LABELS = RNG.integers(0, C, size=(2, 4, 5))
IGNORED = LABELS.copy()
IGNORED[0, 1, 2] = IGNORED[1, 3, 0] = 255

# every loss, with the options that make a valid call on (LOGITS, LABELS)
LOSSES = {
    "dice_loss": rl.dice_loss,
    "jaccard_loss": rl.jaccard_loss,
    "tversky_loss": rl.tversky_loss,
    "focal_tversky_loss": rl.focal_tversky_loss,
    "asymmetric_loss": rl.asymmetric_loss,
    "log_cosh_dice_loss": rl.log_cosh_dice_loss,
    "generalized_dice_loss": rl.generalized_dice_loss,
    "penalty_generalized_dice_loss": rl.penalty_generalized_dice_loss,
    "cross_entropy_loss": rl.cross_entropy_loss,
    "focal_loss": rl.focal_loss,
    "lovasz_softmax_loss": rl.lovasz_softmax_loss,
    "lovasz_hinge_loss": rl.lovasz_hinge_loss,
    "dice_ce_loss": rl.dice_ce_loss,
    "dice_focal_loss": rl.dice_focal_loss,
    "combine": lambda pred, target, mask=None, **shared: rl.combine(
        (1.0, rl.dice_loss), (0.5, rl.focal_loss), **shared)(pred, target, mask=mask),
}
SIGMOID_LOSSES = [n for n in LOSSES if n not in ("lovasz_hinge_loss", "combine")]

BACKENDS = ["numpy"] + (["jax", "jit"] if HAVE_JAX else [])


def _run(backend, fn, *arrays, **kwargs):
    """``fn(*arrays, **kwargs)`` on one backend; the result as a NumPy array."""
    if backend == "numpy":
        return np.asarray(fn(*arrays, **kwargs))
    arrays = [None if a is None else jnp.asarray(a) for a in arrays]
    call = functools.partial(fn, **kwargs)
    if backend == "jit":
        call = jax.jit(call)
    return np.asarray(call(*arrays))


def _loss(name, backend, x, y, **kwargs):
    mask = kwargs.pop("mask", None)
    fn = LOSSES[name]
    if mask is None:
        return _run(backend, lambda a, b: fn(a, b, **kwargs), x, y)
    return _run(backend, lambda a, b, m: fn(a, b, mask=m, **kwargs), x, y, mask)


def _grad(name, x, y, jit=False, **kwargs):
    """The JAX gradient of a loss w.r.t. the logits (NumPy array)."""
    mask = kwargs.pop("mask", None)
    fn = LOSSES[name]

    def f(a):
        if mask is None:
            return fn(a, jnp.asarray(y), **kwargs)
        return fn(a, jnp.asarray(y), mask=jnp.asarray(mask), **kwargs)

    g = jax.grad(f)
    return np.asarray((jax.jit(g) if jit else g)(jnp.asarray(x)))


# =========================================================================== non-finite logits


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("bad", [math.nan, math.inf], ids=["nan", "inf"])
def test_non_finite_logit_at_a_scored_pixel_is_never_a_finite_loss(backend, name, bad):
    x = LOGITS.copy()
    x[0, 1, 1, 0] = bad
    got = _loss(name, backend, x, LABELS)
    assert not np.isfinite(got), f"{name} gave the finite {got} for a {bad} logit"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("bad, how", [(math.nan, "ignore_index"), (math.inf, "mask"),
                                      (-math.inf, "ignore_index")],
                         ids=["nan-ignore_index", "inf-mask", "-inf-ignore_index"])
def test_non_finite_logits_at_removed_pixels_change_nothing(backend, name, bad, how):
    x = LOGITS.copy()
    removed = IGNORED == 255
    x[removed] = bad                      # every class of the removed pixels
    kwargs = (dict(ignore_index=255) if how == "ignore_index"
              else dict(mask=(~removed).astype(np.float32)))
    target = IGNORED if how == "ignore_index" else LABELS
    clean = LOGITS.copy()
    clean[removed] = 0.0
    got = _loss(name, backend, x, target, **kwargs)
    want = _loss(name, "numpy", clean, target, **dict(kwargs))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    if backend != "numpy" and name != "combine":
        g = _grad(name, x, target, jit=backend == "jit", **dict(kwargs))
        g_clean = _grad(name, clean, target, **dict(kwargs))
        assert np.isfinite(g).all()
        np.testing.assert_allclose(g, g_clean, rtol=1e-5, atol=1e-7)
        assert (g[removed] == 0).all()


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
@pytest.mark.parametrize("name", [n for n in LOSSES if n != "combine"])
def test_property_nan_at_removed_pixels_leaves_value_and_gradient(name):
    """Hypothesis-style sweep over random removed sets and random non-finite values."""
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=4, deadline=None)
    @given(seed=st.integers(0, 2**16), bad=st.sampled_from([math.nan, math.inf, -math.inf]))
    def check(seed, bad):
        rng = np.random.default_rng(seed)
        removed = rng.random(LABELS.shape) < 0.3
        target = np.where(removed, 255, LABELS)
        x = np.where(removed[..., None], np.float32(bad), LOGITS)
        clean = np.where(removed[..., None], np.float32(0.0), LOGITS)
        want = _loss(name, "numpy", clean, target, ignore_index=255)
        got = _loss(name, "jax", x, target, ignore_index=255)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        g = _grad(name, x, target, ignore_index=255)
        np.testing.assert_allclose(g, _grad(name, clean, target, ignore_index=255),
                                   rtol=1e-5, atol=1e-7)

    del hypothesis
    check()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["cross_entropy_loss", "focal_loss", "dice_ce_loss",
                                  "dice_focal_loss", "combine", "dice_loss"])
def test_minus_inf_on_a_class_without_target_mass_is_the_limit(backend, name):
    """Class masking: ``-inf`` on a class the target never names gives the limit, on every
    backend and under jit alike (PyTorch's and optax's value)."""
    x = np.array([[[-np.inf, 0.0, 0.0], [-np.inf, 2.0, -1.0]]], np.float32)
    y = np.array([[1, 1]])
    got = _loss(name, backend, x, y)
    # the limit: class 0 has probability exactly 0
    want = _loss(name, "numpy", x[..., 1:], y - 1)
    if name in ("dice_loss", "combine", "dice_ce_loss", "dice_focal_loss"):
        # the Dice part still scores class 0 (an empty class predicted empty): compare the
        # value with a large finite negative logit instead
        far = np.where(np.isinf(x), np.float32(-1e4), x)
        want = _loss(name, "numpy", far, y)
    assert np.isfinite(got)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    if backend != "numpy" and name != "combine":
        g = _grad(name, x, y, jit=backend == "jit")
        assert np.isfinite(g).all()


def test_cross_entropy_minus_inf_equals_pytorch():
    torch = pytest.importorskip("torch")
    x = np.array([[[-np.inf, 0.0, 0.0]]], np.float32)
    y = np.array([[1]])
    want = float(torch.nn.functional.cross_entropy(torch.from_numpy(x[0]), torch.from_numpy(y[0])))
    assert float(rl.cross_entropy_loss(x, y)) == pytest.approx(want, rel=1e-6)
    assert want == pytest.approx(math.log(2), rel=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigmoid_infinite_logits_have_the_binary_cross_entropy_limits(backend):
    x = np.array([[np.inf, -np.inf, np.inf, -np.inf]], np.float32)
    y = np.array([[1.0, 0.0, 0.0, 1.0]], np.float32)
    per = _run(backend, lambda a, b: rl.cross_entropy_loss(a, b, class_axis=None,
                                                           activation="sigmoid",
                                                           reduction="none"), x, y)
    np.testing.assert_array_equal(per, [[0.0, 0.0, np.inf, np.inf]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_focal_tversky_and_lovasz_hinge_propagate_nan(backend):
    x = np.zeros((1, 2, 2, 2), np.float32)
    x[0, 0, 0] = np.nan
    y = np.array([[[0, 1], [1, 1]]])
    assert np.isnan(_run(backend, rl.focal_tversky_loss, x, y))
    h = np.array([[[np.nan, -0.5, 2.0]]], np.float32)
    assert np.isnan(_run(backend, lambda a, b: rl.lovasz_hinge_loss(a, b, class_axis=None),
                         h, np.array([[[1, 0, 1]]])))


# =========================================================================== empty inputs


EMPTY_SHAPES = [((0, 4, C), (0, 4)), ((2, 0, C), (2, 0)), ((2, 0, 3, C), (2, 0, 3))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("shapes", EMPTY_SHAPES, ids=["no-samples", "no-pixels", "no-rows"])
def test_no_pixels_behaves_like_all_ignored(backend, name, shapes):
    x = np.zeros(shapes[0], np.float32)
    y = np.zeros(shapes[1], np.int64)
    got = _loss(name, backend, x, y)
    ignored = _loss(name, "numpy", np.zeros((1, 2, C), np.float32), np.full((1, 2), 255),
                    ignore_index=255)
    assert np.isfinite(got) and float(got) == 0.0
    assert float(ignored) == 0.0
    if backend != "numpy" and name != "combine":
        g = _grad(name, x, y, jit=backend == "jit")
        assert g.shape == x.shape and np.isfinite(g).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("metric", sorted({m.function for m in
                                           rl.metrics._table.METRICS.values()}))
def test_metrics_of_no_pixels_are_zero_division(backend, metric):
    fn = getattr(rl, metric)
    p = np.zeros((2, 0), np.int64)
    for zd in (math.nan, 0.0, 1.0):
        got = _run(backend, lambda a, b: fn(a, b, num_classes=C, zero_division=zd), p, p)
        np.testing.assert_array_equal(got, np.float64(zd))


# =========================================================================== the jit-time labels


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("bad", [C, -1, 255])
def test_jit_out_of_range_label_makes_every_loss_nan(name, bad):
    y = LABELS.copy()
    y[1, 2, 3] = bad
    with pytest.raises(ValueError, match=f"label {bad}"):
        _loss(name, "numpy", LOGITS, y)
    assert np.isnan(_loss(name, "jit", LOGITS, y))
    # declared as ignore_index it is fine
    assert np.isfinite(_loss(name, "jit", LOGITS, y, ignore_index=bad))
    if name != "combine":
        g = _grad(name, LOGITS, y, jit=True)   # NaN wherever a gradient flows
        assert np.isnan(g).any() and (np.isnan(g) | (g == 0)).all()


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
@pytest.mark.parametrize("metric", sorted({m.function for m in
                                           rl.metrics._table.METRICS.values()} | {"mean_iou"}))
@pytest.mark.parametrize("average", ["none", "macro"])
def test_jit_out_of_range_label_makes_every_metric_nan(metric, average):
    fn = getattr(rl, metric)
    kw = dict(num_classes=C) if metric == "mean_iou" else dict(num_classes=C, average=average)
    t = LABELS.copy()
    t[0, 0, 0] = 255                   # the most common evaluation bug: 255 not declared
    with pytest.raises(ValueError, match="label 255"):
        fn(LABELS, t, **kw)
    got = np.asarray(jax.jit(lambda a, b: fn(a, b, **kw))(jnp.asarray(LABELS), jnp.asarray(t)))
    assert np.isnan(got).all()
    ok = np.asarray(jax.jit(lambda a, b: fn(a, b, ignore_index=255, **kw))(
        jnp.asarray(LABELS), jnp.asarray(t)))
    assert not np.isnan(ok).all()


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
def test_jit_accumulator_records_invalid_pixels():
    acc = rl.MetricAccumulator("iou", num_classes=C)
    y5 = np.arange(10).reshape(2, 5) % 5          # labels 3 and 4 are out of range
    update = jax.jit(acc.update)
    state = update(acc.init(jnp.asarray(y5)), jnp.asarray(y5 % C), jnp.asarray(y5))
    assert int(state.invalid) == 4
    assert np.isnan(np.asarray(jax.jit(acc.compute)(state))).all()
    with pytest.raises(ValueError, match="saw 4 pixel"):
        acc.compute(state)                                   # concrete: an error
    clean = update(acc.init(jnp.asarray(y5)), jnp.asarray(y5 % C), jnp.asarray(y5 % C))
    assert float(acc.compute(clean)) == 1.0


# =========================================================================== flags and options


FLAG_CALLS = [
    ("dice_score per_sample", lambda v: rl.dice_score(LABELS, LABELS, num_classes=C,
                                                      per_sample=v)),
    ("iou_score include_background", lambda v: rl.iou_score(LABELS, LABELS, num_classes=C,
                                                            include_background=v)),
    ("confusion_matrix validate", lambda v: rl.confusion_matrix(LABELS, LABELS,
                                                                num_classes=C, validate=v)),
    ("to_labels validate", lambda v: rl.to_labels(LOGITS, validate=v)),
    ("score_confusion return_defined", lambda v: rl.score_confusion(
        np.eye(C, dtype=np.int64), metric="dice", return_defined=v)),
    ("MetricAccumulator include_background", lambda v: rl.MetricAccumulator(
        "dice", num_classes=C, include_background=v)),
    ("MetricAccumulator.compute per_sample", lambda v: rl.MetricAccumulator(
        "dice", num_classes=C).compute(rl.MetricAccumulator("dice", num_classes=C).init(),
                                       per_sample=v)),
    ("hausdorff_distance directed", lambda v: rl.hausdorff_distance(
        LABELS, LABELS, num_classes=C, directed=v)),
    ("average_surface_distance symmetric", lambda v: rl.average_surface_distance(
        LABELS, LABELS, num_classes=C, symmetric=v)),
    ("surface_dice include_background", lambda v: rl.surface_dice(
        LABELS, LABELS, num_classes=C, tolerance=1.0, include_background=v)),
    ("dice_loss per_sample", lambda v: rl.dice_loss(LOGITS, LABELS, per_sample=v)),
    ("lovasz_softmax_loss per_sample", lambda v: rl.lovasz_softmax_loss(LOGITS, LABELS,
                                                                        per_sample=v)),
]


@pytest.mark.parametrize("call", [c for _, c in FLAG_CALLS], ids=[n for n, _ in FLAG_CALLS])
@pytest.mark.parametrize("value", ["False", "no", 1, 0, None, np.array(True)],
                         ids=["str-False", "str-no", "1", "0", "None", "array"])
def test_flags_are_never_read_by_truthiness(call, value):
    arg = None
    for name, c in FLAG_CALLS:
        if c is call:
            arg = name.split()[-1]
    with pytest.raises(TypeError, match=f"{arg} must be True or False"):
        call(value)


@pytest.mark.parametrize("call, error, match", [
    (lambda: rl.dice_ce_loss(LOGITS, LABELS, dice_weight=-1), ValueError, "dice_weight"),
    (lambda: rl.dice_ce_loss(LOGITS, LABELS, ce_weight=math.nan), ValueError, "ce_weight"),
    (lambda: rl.dice_focal_loss(LOGITS, LABELS, focal_weight=-2), ValueError, "focal_weight"),
    (lambda: rl.tversky_loss(LOGITS, LABELS, alpha=0, beta=0), ValueError,
     "alpha and beta cannot both be 0"),
    (lambda: rl.focal_tversky_loss(LOGITS, LABELS, alpha=0, beta=0), ValueError,
     "alpha and beta cannot both be 0"),
    (lambda: rl.tversky_score(LABELS, LABELS, num_classes=C, alpha=0, beta=0), ValueError,
     "alpha and beta cannot both be 0"),
    (lambda: rl.dice_loss(np.moveaxis(LOGITS, -1, 1), LABELS), ValueError,
     "pass class_axis=1"),
    (lambda: rl.dice_score(LOGITS, LABELS, num_classes=C), TypeError, "to_labels"),
    (lambda: rl.dice_score(np.moveaxis(LOGITS, -1, 1).astype(np.int64), LABELS,
                           num_classes=C), ValueError, "to_labels"),
    (lambda: rl.dice_score([0, 1], [0, 1], num_classes=2), TypeError,
     "pred must be an array .* got list"),
    (lambda: rl.dice_loss([[0.0, 1.0]], np.array([0]), class_axis=None), TypeError,
     "pred must be an array"),
    (lambda: rl.score_confusion(np.array([[1, -1], [0, 2]]), metric="dice"), ValueError,
     "negative count.*int32.*x64"),
    (lambda: rl.score_confusion(np.array([[1.0, np.nan], [0, 2]]), metric="dice"),
     ValueError, "non-finite"),
    (lambda: rl.class_statistics(np.zeros((2, 3))), ValueError, r"\(C, C\).*\(2, 3\)"),
    (lambda: rl.class_statistics(np.array([[1, -3], [0, 2]])), ValueError, "negative"),
])
def test_option_and_input_messages_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_numpy_bfloat16_logits_compute_in_float32():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = LOGITS.astype(ml_dtypes.bfloat16)
    got = rl.dice_loss(x, LABELS)
    assert got.dtype == np.float32
    assert float(got) == pytest.approx(float(rl.dice_loss(x.astype(np.float32), LABELS)))


# =========================================================================== arrays of two libraries


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
def test_numpy_next_to_jax_works_everywhere():
    t = jnp.asarray(LABELS)
    for got in (rl.dice_score(LABELS, t, num_classes=C), rl.dice_score(t, LABELS, num_classes=C),
                rl.confusion_matrix(LABELS, t, num_classes=C),
                rl.hausdorff_distance(LABELS, t, num_classes=C, average="macro"),
                rl.dice_loss(jnp.asarray(LOGITS), LABELS), rl.dice_loss(LOGITS, t)):
        assert isinstance(got, jax.Array)
    assert float(rl.dice_score(LABELS, t, num_classes=C)) == 1.0


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
def test_two_libraries_other_than_numpy_name_both():
    torch = pytest.importorskip("torch")
    for call in (lambda: rl.dice_score(torch.asarray(LABELS), jnp.asarray(LABELS), num_classes=C),
                 lambda: rl.dice_loss(torch.asarray(LOGITS), jnp.asarray(LABELS)),
                 lambda: rl.hausdorff_distance(torch.asarray(LABELS), jnp.asarray(LABELS),
                                               num_classes=C)):
        with pytest.raises(TypeError, match="pred is a PyTorch array but target is a JAX array"):
            call()


def test_surface_metric_torch_next_to_numpy_works():
    torch = pytest.importorskip("torch")
    got = rl.hausdorff_distance(torch.asarray(LABELS), LABELS, num_classes=C)
    assert isinstance(got, torch.Tensor) and (got.numpy() == 0).all()


# =========================================================================== streaming states


def test_states_merge_with_plus_and_refuse_other_shapes():
    acc = rl.MetricAccumulator("dice", num_classes=C)
    s = acc.update(acc.init(), LABELS, LABELS)
    both = s + s
    assert isinstance(both, rl.MetricState)
    np.testing.assert_array_equal(both.tp, 2 * s.tp)
    assert float(acc.compute(both)) == 1.0
    other = rl.MetricAccumulator("dice", num_classes=2)
    with pytest.raises(ValueError, match="cannot merge metric states of different shapes"):
        s + other.init()
    with pytest.raises(ValueError, match="does not belong to this accumulator"):
        acc.merge(s, other.init())
    with pytest.raises(ValueError, match="does not belong to this accumulator"):
        acc.compute(other.init())
    with pytest.raises(TypeError, match="must be a MetricState"):
        acc.compute(tuple(s))


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
def test_state_plus_is_a_pytree_that_psum_reduces():
    acc = rl.MetricAccumulator("iou", num_classes=C)
    y = jnp.asarray(LABELS)
    state = acc.update(acc.init(y), y, y)
    stacked = jax.tree_util.tree_map(lambda a: jnp.stack([a, a]), state)
    summed = jax.vmap(lambda s: jax.lax.psum(s, "d"), axis_name="d")(stacked)
    one = jax.tree_util.tree_map(lambda a: a[0], summed)
    assert isinstance(one, rl.MetricState)
    np.testing.assert_array_equal(np.asarray(one.tp), 2 * np.asarray(state.tp))
    np.testing.assert_array_equal(np.asarray((state + state).reference),
                                  np.asarray(one.reference))
