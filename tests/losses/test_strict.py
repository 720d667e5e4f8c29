"""Every loss on array-api-strict with its strictest settings.

* ``boolean_indexing=False, data_dependent_shapes=False``: the JAX rules (no boolean-mask
  indexing, no data-dependent shapes) enforced on a second library, for every loss with
  label maps, ``ignore_index``, ``mask`` and dense targets.
* ``api_version='2023.12'``: a namespace without ``take_along_axis`` (added in 2024.12)
  must take the Lovász losses' flat fallback, chosen by ``__array_api_version__`` (the
  attribute is still there and raises when called).

The flags are process-wide: each test sets them in a ``with`` block that restores the
previous ones, whatever happens inside.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np
import pytest

import regionloss as rl
from conftest import HAVE_STRICT, assert_matches
from regionloss._kernels.arrays import has_take_along_axis, namespace
from regionloss.losses import lovasz

pytestmark = pytest.mark.skipif(not HAVE_STRICT, reason="array-api-strict not installed")


@contextlib.contextmanager
def strict_flags(**flags):
    """array-api-strict with ``flags`` inside the block, the previous flags after it."""
    import array_api_strict as xps

    saved = xps.get_array_api_strict_flags()
    xps.set_array_api_strict_flags(**flags)
    try:
        yield xps
    finally:
        xps.set_array_api_strict_flags(**saved)


class _Strict:
    """The ``backend`` interface of conftest's ``assert_matches`` for array-api-strict."""

    name = "array_api_strict"

    def asarray(self, a):
        import array_api_strict as xps

        return xps.asarray(np.asarray(a))

    __call__ = asarray


LOSSES = {
    "dice": rl.dice_loss,
    "jaccard": functools.partial(rl.jaccard_loss, squared=True),
    "tversky": functools.partial(rl.tversky_loss, soft_labels=True),
    "focal_tversky": functools.partial(rl.focal_tversky_loss, per_sample=False),
    "generalized_dice": rl.generalized_dice_loss,
    "log_cosh_dice": functools.partial(rl.log_cosh_dice_loss, reduction="none"),
    "lovasz_softmax": rl.lovasz_softmax_loss,
    "lovasz_softmax_pooled": functools.partial(rl.lovasz_softmax_loss, per_sample=False,
                                               classes="all"),
    "lovasz_hinge": rl.lovasz_hinge_loss,
    "cross_entropy": functools.partial(rl.cross_entropy_loss, class_weights=[1, 2, 0.5],
                                       label_smoothing=0.1),
    "focal": functools.partial(rl.focal_loss, alpha=[1.0, 0.5, 2.0]),
    "focal_sigmoid": functools.partial(rl.focal_loss, activation="sigmoid", gamma=1.5),
    "dice_ce": rl.dice_ce_loss,
    "dice_focal": functools.partial(rl.dice_focal_loss, include_background=False),
    "compound": rl.combine((1.0, rl.dice_loss), (0.5, rl.lovasz_softmax_loss),
                           (2.0, rl.cross_entropy_loss)),
}


def _inputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 5, 3)).astype(np.float32)  # channels-last
    y = rng.integers(0, 3, size=(2, 4, 5))
    y_ign = np.where(rng.random(y.shape) < 0.2, 255, y)
    mask = rng.random((2, 4, 5)).astype(np.float32)
    dense = np.eye(3, dtype=np.float32)[y]
    return x, y, y_ign, mask, dense


def _calls(loss):
    """(args, kwargs) of the calls each loss is checked on (a compound takes no options)."""
    x, y, y_ign, mask, dense = _inputs()
    if isinstance(loss, rl.CompoundLoss):
        return [((x, y), {}), ((x, y), {"mask": mask}), ((x, dense), {})]
    return [((x, y), {}),
            ((x, y_ign), {"ignore_index": 255}),
            ((x, y_ign), {"ignore_index": 255, "mask": mask}),
            ((x, y), {"ignore_index": 0}),  # a class id
            ((x, dense), {"mask": mask})]


def _check_every_call(loss):
    backend = _Strict()
    for (x, target), kwargs in _calls(loss):
        want = np.asarray(loss(x, target, **kwargs))
        strict_kwargs = {k: (backend(v) if k == "mask" else v) for k, v in kwargs.items()}
        got = loss(backend(x), backend(target), **strict_kwargs)
        assert_matches(got, want, backend, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_loss_without_boolean_indexing_or_data_dependent_shapes(name):
    with strict_flags(boolean_indexing=False, data_dependent_shapes=False):
        _check_every_call(LOSSES[name])


@pytest.mark.parametrize("name", ["lovasz_softmax", "lovasz_softmax_pooled", "lovasz_hinge",
                                  "dice", "cross_entropy", "compound"])
def test_losses_on_array_api_2023_12(name):
    with strict_flags(api_version="2023.12"):
        _check_every_call(LOSSES[name])


def test_take_along_last_chooses_by_api_version():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(2, 3, 7))
    order = np.argsort(-values, axis=-1, kind="stable")
    want = np.take_along_axis(values, order, axis=-1)
    import array_api_strict as xps

    xp = namespace(xps.zeros(1))
    assert has_take_along_axis(xp)
    with strict_flags(api_version="2023.12") as xps:
        xp = namespace(xps.zeros(1))
        assert xp.__array_api_version__ == "2023.12"
        assert hasattr(xp, "take_along_axis")  # present, but raises when called
        assert not has_take_along_axis(xp)
        got = lovasz.take_along_last(xp, xps.asarray(values), xps.asarray(order))
        np.testing.assert_array_equal(np.asarray(got), want)
    assert xps.get_array_api_strict_flags()["api_version"] != "2023.12"  # restored
