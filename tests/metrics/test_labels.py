"""Scores to labels (regionloss.metrics.labels.to_labels): argmax, threshold, NaN checks."""

from __future__ import annotations

import numpy as np
import pytest

import regionloss as rl
from conftest import HAVE_JAX, assert_matches


def test_to_labels(backend):
    logits = np.array([[[0.1, 2.0, -1.0], [3.0, 3.0, 0.0]]])  # (1, 2, 3), channels-last
    labels = rl.to_labels(backend(logits))
    assert_matches(labels, [[1, 0]], backend, dtype=np.int64, rtol=0)  # tie -> lowest index
    first = rl.to_labels(backend(np.moveaxis(logits, -1, 1)), class_axis=1)
    assert_matches(first, [[1, 0]], backend, dtype=np.int64, rtol=0)
    probs = np.array([[[0.2], [0.5], [0.9]]])
    assert_matches(rl.to_labels(backend(probs), class_axis=-1, threshold=0.5), [[0, 1, 1]],
                   backend, dtype=np.int64, rtol=0)
    assert_matches(rl.to_labels(backend(probs[..., 0]), class_axis=None, threshold=0.5),
                   [[0, 1, 1]], backend, dtype=np.int64, rtol=0)


def test_to_labels_errors():
    with pytest.raises(ValueError, match="always 0.*threshold"):
        rl.to_labels(np.zeros((2, 1)), class_axis=-1)
    with pytest.raises(ValueError, match="needs a threshold"):
        rl.to_labels(np.zeros((2, 3)), class_axis=None)
    with pytest.raises(ValueError, match="threshold needs one channel"):
        rl.to_labels(np.zeros((2, 3)), threshold=0.5)
    with pytest.raises(ValueError, match="out of range"):
        rl.to_labels(np.zeros((2, 3)), class_axis=2)


def test_to_labels_refuses_nan_scores(backend):
    """Review finding 2.8: NaN logits turned into labels silently."""
    logits = np.array([[[0.1, 2.0, -1.0], [3.0, np.nan, 0.0]]])
    if backend.name == "dask":  # lazy: values cannot be looked at, no check
        rl.to_labels(backend(logits))
        return
    with pytest.raises(ValueError, match=r"1 NaN value\(s\), the first at index \(0, 1, 1\)"):
        rl.to_labels(backend(logits))
    probs = np.array([[0.2, np.nan, 0.9, np.nan]])
    with pytest.raises(ValueError, match=r"2 NaN value\(s\), the first at index \(0, 1\)"):
        rl.to_labels(backend(probs), class_axis=None, threshold=0.5)
    got = rl.to_labels(backend(probs), class_axis=None, threshold=0.5, validate=False)
    assert_matches(got, [[0, 0, 1, 0]], backend, rtol=0)


@pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")
def test_to_labels_under_jit_does_not_check():
    import jax
    import jax.numpy as jnp

    f = jax.jit(lambda s: rl.to_labels(s, class_axis=None, threshold=0.5))
    got = f(jnp.asarray([0.2, jnp.nan, 0.9]))
    np.testing.assert_array_equal(np.asarray(got), [0, 0, 1])
    with pytest.raises(ValueError, match="NaN"):
        rl.to_labels(jnp.asarray([0.2, jnp.nan, 0.9]), class_axis=None, threshold=0.5)
    with pytest.raises(ValueError, match="threshold must not be NaN"):
        rl.to_labels(np.zeros(3), class_axis=None, threshold=float("nan"))
