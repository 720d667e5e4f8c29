"""The streaming accumulator (regionloss.metrics.accumulator): merge, compute, backends, jit."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import regionloss as rl
from conftest import HAND_C as C
from conftest import HAND_PRED as PRED
from conftest import HAND_TARGET as TARGET
from conftest import assert_matches, label_map_cases, metric_functions
from conftest import jax_only
from conftest import label_maps_of as _maps
from conftest import nanmean_ref as _nanmean

NAN = float("nan")
FUNCS = metric_functions()
label_maps = label_map_cases()


@settings(max_examples=25, deadline=None)
@given(label_maps, st.sampled_from(list(FUNCS)), st.sampled_from([NAN, 0.0, 1.0]),
       st.booleans())
def test_accumulator_merge(params, metric, zd, include_background):
    """merge is associative and equals one big update; compute matches the functions."""
    pred, target, k = _maps(params)
    if not include_background and k < 2:
        return
    acc = rl.MetricAccumulator(metric, num_classes=k, zero_division=zd,
                               include_background=include_background)
    n = pred.shape[0]
    parts = [acc.update(acc.init(), pred[i:i + 1], target[i:i + 1]) for i in range(n)]
    parts.append(acc.init())  # an empty state is the identity
    left = parts[0]
    for s in parts[1:]:
        left = acc.merge(left, s)
    right = parts[-1]
    for s in reversed(parts[:-1]):
        right = acc.merge(s, right)
    big = acc.update(acc.init(), pred, target)
    for a, b, c in zip(left, right, big):
        np.testing.assert_allclose(a, c, rtol=1e-12)
        np.testing.assert_allclose(b, c, rtol=1e-12)
    assert int(big.samples) == n
    kw = dict(num_classes=k, zero_division=zd, include_background=include_background)
    for average in ("none", "macro", "micro", "weighted"):
        pooled = FUNCS[metric](pred, target, average=average, **kw)
        np.testing.assert_allclose(acc.compute(big, average=average), pooled, rtol=1e-12,
                                   equal_nan=True)
        per = FUNCS[metric](pred, target, average=average, per_sample=True, **kw)
        if average == "none":  # the accumulator averages the (N, C) values over samples
            per = _nanmean(per, 0)
        np.testing.assert_allclose(acc.compute(big, average=average, per_sample=True), per,
                                   rtol=1e-12, equal_nan=True)
        v, d = acc.compute(big, average=average, per_sample=True, return_defined=True)
        _, d_fn = FUNCS[metric](pred, target, average=average, per_sample=True,
                                return_defined=True, **kw)
        if average == "none":
            d_fn = d_fn.sum(0)
        np.testing.assert_array_equal(d, d_fn)


def test_accumulator_backends(backend):
    acc = rl.MetricAccumulator("dice", num_classes=C, ignore_index=255)
    state = acc.init(backend(PRED))
    state = acc.update(state, backend(PRED[:1]), backend(TARGET[:1]))
    state = acc.update(state, backend(PRED[1:]), backend(TARGET[1:]))
    for kw in (dict(average="macro"), dict(average="none", per_sample=True),
               dict(average="none"), dict(average="weighted", per_sample=True)):
        got = acc.compute(state, **kw)
        want = acc.compute(acc.update(acc.init(), PRED, TARGET), **kw)
        assert_matches(got, want, backend, rtol=1e-12)


@jax_only
def test_accumulator_jit_scan():
    import jax
    import jax.numpy as jnp

    acc = rl.MetricAccumulator("iou", num_classes=C)
    step = jax.jit(acc.update)
    state = acc.init(jnp.asarray(PRED))
    for i in range(2):
        state = step(state, jnp.asarray(PRED[i:i + 1]), jnp.asarray(TARGET[i:i + 1]))
    assert isinstance(state, rl.MetricState)
    assert state.tp.dtype == jnp.int64  # x64 on in the tests
    np.testing.assert_allclose(np.asarray(acc.compute(state, per_sample=True)),
                               rl.iou_score(PRED, TARGET, num_classes=C, per_sample=True))
    # merge is a pytree sum
    summed = jax.tree_util.tree_map(lambda a, b: a + b, state, state)
    np.testing.assert_array_equal(np.asarray(summed.tp), 2 * np.asarray(state.tp))
