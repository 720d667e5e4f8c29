"""Bad and edge inputs of the boundary and topology family, table-driven (the style of
``tests/test_bad_inputs.py``): NumPy and ``jax.jit``.

Every row states the documented outcome: a clear error naming the argument (eager), NaN
where the jit-time label policy says NaN, or the documented value (non-finite logits at
removed pixels change nothing, no pixels behave like all pixels ignored). Jitted functions
are built once per (loss, options) and reused, so each compiles once per shape.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from conftest import HAVE_JAX

import regionloss as rl

if HAVE_JAX:
    import jax
    import jax.numpy as jnp

C = 3
RNG = np.random.default_rng(2025)
LOGITS = RNG.normal(size=(2, 4, 5, C)).astype(np.float32)       # channels-last
LABELS = RNG.integers(0, C, size=(2, 4, 5))
IGNORED = LABELS.copy()
IGNORED[0, 1, 2] = IGNORED[1, 3, 0] = 255


def _maps(target, ignore_index=None):
    """The signed distance maps of a label map (NumPy), as the data pipeline makes them."""
    return np.asarray(rl.signed_distance_map(np.asarray(target), num_classes=C,
                                             ignore_index=ignore_index))


def _boundary(pred, target, maps, **kwargs):
    """boundary_loss with the label map passed as ``target=`` (ignore_index needs it)."""
    return rl.boundary_loss(pred, maps, target=target, **kwargs)


def _compound(pred, target, maps, mask=None, **shared):
    return rl.combine((1.0, rl.dice_loss), (0.5, rl.boundary_loss), **shared)(
        pred, target, mask=mask, distance_maps=maps)


# each loss as f(pred, target, maps, **kwargs); maps are ignored by the others
LOSSES = {
    "boundary_loss": _boundary,
    "hausdorff_dt_loss": lambda p, t, m, **kw: rl.hausdorff_dt_loss(p, t, **kw),
    "cldice_loss": lambda p, t, m, **kw: rl.cldice_loss(p, t, **kw),
    "dice_cldice_loss": lambda p, t, m, **kw: rl.dice_cldice_loss(p, t, **kw),
    "combine": _compound,
}
BACKENDS = ["numpy"] + (["jit"] if HAVE_JAX else [])


@functools.lru_cache(maxsize=None)
def _jitted(name, options, grad=False):
    fn = functools.partial(LOSSES[name], **dict(options))
    if grad:
        return jax.jit(jax.grad(lambda p, t, m, mask: fn(p, t, m, **(
            {} if mask is None else {"mask": mask}))))
    return jax.jit(lambda p, t, m, mask: fn(p, t, m, **({} if mask is None else
                                                        {"mask": mask})))


def _loss(name, backend, x, y, maps=None, mask=None, **kwargs):
    if maps is None:
        maps = _maps(np.where(y == 255, 0, y)) if name in ("boundary_loss", "combine") \
            else np.zeros(x.shape, np.float32)
    if backend == "numpy":
        kw = dict(kwargs) if mask is None else dict(kwargs, mask=mask)
        return np.asarray(LOSSES[name](x, y, maps, **kw))
    f = _jitted(name, tuple(sorted(kwargs.items())))
    return np.asarray(f(jnp.asarray(x), jnp.asarray(y), jnp.asarray(maps),
                        None if mask is None else jnp.asarray(mask)))


def _grad(name, x, y, maps=None, mask=None, **kwargs):
    if maps is None:
        maps = _maps(np.where(y == 255, 0, y)) if name in ("boundary_loss", "combine") \
            else np.zeros(x.shape, np.float32)
    g = _jitted(name, tuple(sorted(kwargs.items())), grad=True)
    return np.asarray(g(jnp.asarray(x), jnp.asarray(y), jnp.asarray(maps),
                        None if mask is None else jnp.asarray(mask)))


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
    removed = IGNORED == 255
    x = LOGITS.copy()
    x[removed] = bad
    clean = LOGITS.copy()
    clean[removed] = 0.0
    if how == "ignore_index":
        kwargs, target, mask = dict(ignore_index=255), IGNORED, None
    else:
        kwargs, target, mask = {}, LABELS, (~removed).astype(np.float32)
    maps = _maps(target, ignore_index=255 if how == "ignore_index" else None)
    got = _loss(name, backend, x, target, maps, mask, **kwargs)
    want = _loss(name, "numpy", clean, target, maps, mask, **kwargs)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    if backend == "jit" and how == "ignore_index":   # (one compiled gradient per loss)
        g = _grad(name, x, target, maps, mask, **kwargs)
        g_clean = _grad(name, clean, target, maps, mask, **kwargs)
        assert np.isfinite(g).all()
        np.testing.assert_allclose(g, g_clean, rtol=1e-5, atol=1e-7)
        assert (g[removed] == 0).all()


# =========================================================================== empty inputs


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(LOSSES))
def test_no_pixels_behaves_like_all_ignored(backend, name):
    x = np.zeros((2, 0, 3, C), np.float32)
    y = np.zeros((2, 0, 3), np.int64)
    got = _loss(name, backend, x, y, maps=np.zeros(x.shape, np.float32))
    ignored = _loss(name, "numpy", np.zeros((2, 1, 3, C), np.float32), np.full((2, 1, 3), 255),
                    maps=np.zeros((2, 1, 3, C), np.float32), ignore_index=255)
    assert np.isfinite(got)
    np.testing.assert_allclose(got, ignored, rtol=1e-6)
    # (clDice keeps MONAI's smoothing: empty against empty scores 1 − 2 / (2 + 1e-4))
    expected = {"cldice_loss": 1 - 2 / (2 + 1e-4), "dice_cldice_loss": 0.5 * (1 - 2 / 2.0001)}
    assert float(got) == pytest.approx(expected.get(name, 0.0), abs=1e-7)


# =========================================================================== the jit-time labels


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("bad", [C, 255])
def test_jit_out_of_range_label_makes_every_loss_nan(name, bad):
    y = LABELS.copy()
    y[1, 2, 3] = bad
    maps = _maps(LABELS)
    with pytest.raises(ValueError, match=f"label {bad}"):
        _loss(name, "numpy", LOGITS, y, maps)
    assert np.isnan(_loss(name, "jit", LOGITS, y, maps))
    if bad == 255:    # declared as ignore_index it is fine
        assert np.isfinite(_loss(name, "jit", LOGITS, y, maps, ignore_index=bad))
    elif name != "combine":
        g = _grad(name, LOGITS, y, maps, ignore_index=255)   # NaN wherever a gradient flows
        assert np.isnan(g).any() and (np.isnan(g) | (g == 0)).all()


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
@pytest.mark.parametrize("average", ["none", "macro"])
def test_jit_out_of_range_label_makes_boundary_iou_nan(average):
    t = LABELS.copy()
    t[0, 0, 0] = 255
    kw = dict(num_classes=C, average=average)
    with pytest.raises(ValueError, match="label 255"):
        rl.boundary_iou(LABELS, t, **kw)
    got = np.asarray(jax.jit(lambda a, b: rl.boundary_iou(a, b, **kw))(jnp.asarray(LABELS),
                                                                      jnp.asarray(t)))
    assert np.isnan(got).all()
    ok = np.asarray(jax.jit(lambda a, b: rl.boundary_iou(a, b, ignore_index=255, **kw))(
        jnp.asarray(LABELS), jnp.asarray(t)))
    assert not np.isnan(ok).all()


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
def test_cldice_score_under_jit_is_refused_with_a_clear_error():
    pytest.importorskip("skimage")
    with pytest.raises(TypeError, match="cannot run under jax.jit"):
        jax.jit(lambda a, b: rl.cldice_score(a, b, num_classes=C))(jnp.asarray(LABELS),
                                                                   jnp.asarray(LABELS))


@pytest.mark.parametrize("zd", [math.nan, 0.0, 1.0])
def test_metrics_of_no_pixels_are_zero_division(zd):
    p = np.zeros((2, 0, 3), np.int64)
    np.testing.assert_array_equal(rl.boundary_iou(p, p, num_classes=C, zero_division=zd),
                                  np.float64(zd))
    pytest.importorskip("skimage")
    np.testing.assert_array_equal(rl.cldice_score(p, p, num_classes=C, zero_division=zd),
                                  np.float64(zd))


# =========================================================================== flags and options


FLAG_CALLS = [
    ("boundary_loss per_sample", lambda v: rl.boundary_loss(LOGITS, _maps(LABELS),
                                                            per_sample=v)),
    ("boundary_loss include_background", lambda v: rl.boundary_loss(
        LOGITS, _maps(LABELS), include_background=v)),
    ("hausdorff_dt_loss per_sample", lambda v: rl.hausdorff_dt_loss(LOGITS, LABELS,
                                                                    per_sample=v)),
    ("cldice_loss per_class", lambda v: rl.cldice_loss(LOGITS, LABELS, per_class=v)),
    ("dice_cldice_loss include_background", lambda v: rl.dice_cldice_loss(
        LOGITS, LABELS, include_background=v)),
    ("boundary_iou return_defined", lambda v: rl.boundary_iou(LABELS, LABELS, num_classes=C,
                                                              return_defined=v)),
    ("cldice_score validate", lambda v: rl.cldice_score(LABELS, LABELS, num_classes=C,
                                                        validate=v)),
]


@pytest.mark.parametrize("call", [c for _, c in FLAG_CALLS], ids=[n for n, _ in FLAG_CALLS])
@pytest.mark.parametrize("value", ["False", 1, None, np.array(True)],
                         ids=["str-False", "1", "None", "array"])
def test_flags_are_never_read_by_truthiness(call, value):
    arg = [name for name, c in FLAG_CALLS if c is call][0].split()[-1]
    with pytest.raises(TypeError, match=f"{arg} must be True or False"):
        call(value)


@pytest.mark.parametrize("call, error, match", [
    (lambda: rl.hausdorff_dt_loss(LOGITS, LABELS, alpha=-1.0), ValueError,
     "alpha must be a finite number > 0"),
    (lambda: rl.hausdorff_dt_loss(LOGITS, LABELS, spacing="1"), TypeError,
     "spacing must be a positive number"),
    (lambda: rl.hausdorff_dt_loss(LOGITS, LABELS, activation="relu"), ValueError,
     "activation must be one of"),
    (lambda: rl.cldice_loss(LOGITS, LABELS, iterations=True), TypeError,
     "iterations must be an integer"),
    (lambda: rl.cldice_loss(LOGITS, LABELS, smooth_nr=math.nan), ValueError,
     "smooth_nr must be a number, not NaN"),
    (lambda: rl.dice_cldice_loss(LOGITS, LABELS, alpha=-0.1), ValueError,
     r"alpha must be a number in \[0, 1\]"),
    (lambda: rl.dice_cldice_loss(LOGITS, LABELS, reduction="avg"), ValueError,
     "reduction must be one of"),
    (lambda: rl.boundary_loss(LOGITS, _maps(LABELS), ignore_index=255), ValueError,
     "ignore_index needs the label map"),
    (lambda: rl.boundary_loss(LOGITS, _maps(LABELS)[..., :2]), ValueError,
     "one map per class"),
    (lambda: rl.boundary_loss(LOGITS, [[0.0]]), TypeError, "distance_maps must be an array"),
    (lambda: rl.boundary_loss(np.moveaxis(LOGITS, -1, 1), _maps(LABELS), class_axis=1),
     ValueError, "distance_maps has shape"),
    (lambda: rl.combine((1.0, rl.boundary_loss))(LOGITS, LABELS), TypeError,
     "missing distance_maps"),
    (lambda: rl.boundary_iou(LABELS, LABELS, num_classes=C, dilation_ratio=math.inf),
     ValueError, "dilation_ratio must be a finite number"),
    (lambda: rl.boundary_iou(LOGITS, LABELS, num_classes=C), TypeError, "to_labels"),
    (lambda: rl.cldice_score(LABELS, LABELS, num_classes=C, part=None), ValueError,
     "part must be one of"),
])
def test_option_and_input_messages_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
def test_two_libraries_other_than_numpy_name_both():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="pred is a PyTorch array but distance_maps is a JAX"):
        rl.boundary_loss(torch.asarray(LOGITS), jnp.asarray(_maps(LABELS)))
    # a NumPy array next to any library is converted to it
    got = rl.boundary_loss(jnp.asarray(LOGITS), _maps(LABELS))
    assert isinstance(got, jax.Array)
