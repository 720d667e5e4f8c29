"""The metrics on JAX *without* x64 (JAX's default), in a subprocess.

The rest of the test suite runs JAX with ``JAX_ENABLE_X64=1`` (``conftest.py``), so the
float32 / int32 path that most JAX users get would otherwise never run. Here a child
process with ``JAX_ENABLE_X64=0`` loops over every metric, every ``average``, both
``per_sample`` values, ``return_defined``, ``mean_iou``, ``confusion_matrix``,
``class_statistics``, ``to_labels``, the streaming accumulator (eager and jitted) and the
boundary metrics, and checks against NumPy float64:

* values to float32 tolerance (``rtol=1e-5``), exact shapes;
* the documented dtypes: counts and defined-counts int32, scores float32, labels int32,
  boundary metrics float32.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import HAVE_JAX

pytestmark = pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")

SCRIPT = textwrap.dedent(
    r'''
    import numpy as np
    import jax
    import jax.numpy as jnp

    import regionloss as rl

    assert not jax.config.jax_enable_x64, "the child must run without x64"
    F32, I32 = np.dtype("float32"), np.dtype("int32")
    RTOL, ATOL = 1e-5, 1e-6
    checked = 0


    def same(got, want, dtype, what):
        global checked
        assert isinstance(got, jax.Array), (what, type(got))
        want = np.asarray(want)
        assert tuple(got.shape) == want.shape, (what, got.shape, want.shape)
        assert np.dtype(got.dtype) == dtype, (what, got.dtype, dtype)
        np.testing.assert_allclose(np.asarray(got, dtype=np.float64), want, rtol=RTOL,
                                   atol=ATOL, equal_nan=True, err_msg=what)
        checked += 1


    rng = np.random.default_rng(7)
    C = 4
    target = rng.integers(0, C, (3, 6, 7))
    target[1][target[1] == 3] = 0                     # a class absent from one sample
    pred = np.where(rng.random(target.shape) < 0.6, target, rng.integers(0, C, target.shape))
    target = np.where(rng.random(target.shape) < 0.1, 255, target)
    jp, jt = jnp.asarray(pred), jnp.asarray(target)
    assert jp.dtype == jnp.int32

    from regionloss.metrics._table import METRICS

    FUNCS = {name: getattr(rl, spec.function) for name, spec in METRICS.items()}
    assert tuple(FUNCS) == rl.METRIC_NAMES
    base = dict(num_classes=C, ignore_index=255)
    for name, fn in FUNCS.items():
        for average in ("none", "macro", "micro", "weighted"):
            for per_sample in (False, True):
                # (include_background=False for the per-sample runs only: time)
                for include_background in ((True, False) if per_sample else (True,)):
                    kw = dict(base, average=average, per_sample=per_sample,
                              include_background=include_background)
                    want_v, want_d = fn(pred, target, return_defined=True, **kw)
                    got_v, got_d = fn(jp, jt, return_defined=True, **kw)
                    what = f"{name} {kw}"
                    same(got_v, want_v, F32, what)
                    same(got_d, want_d, I32, what + " defined")

    same(rl.mean_iou(jp, jt, **base), rl.mean_iou(pred, target, **base), F32, "mean_iou")

    # counts and statistics
    for per_sample in (False, True):
        cm = rl.confusion_matrix(jp, jt, per_sample=per_sample, **base)
        same(cm, rl.confusion_matrix(pred, target, per_sample=per_sample, **base), I32,
             "confusion_matrix")
        for got, want in zip(rl.class_statistics(cm),
                             rl.class_statistics(np.asarray(cm).astype(np.int64))):
            same(got, want, F32, "class_statistics")
        same(rl.score_confusion(cm, metric="dice", average="macro"),
             rl.score_confusion(np.asarray(cm).astype(np.int64), metric="dice",
                                average="macro"), F32, "score_confusion")

    # under jit as well
    f = jax.jit(lambda p, t: rl.iou_score(p, t, average="none", per_sample=True, **base))
    same(f(jp, jt), rl.iou_score(pred, target, average="none", per_sample=True, **base), F32,
         "jit iou")

    # to_labels
    logits = rng.normal(size=(3, 5, 6, C)).astype(np.float32)
    same(rl.to_labels(jnp.asarray(logits)), np.argmax(logits, -1), I32, "to_labels argmax")
    same(rl.to_labels(jnp.asarray(np.moveaxis(logits, -1, 1)), class_axis=1),
         np.argmax(logits, -1), I32, "to_labels class_axis=1")
    same(rl.to_labels(jnp.asarray(logits[..., :1]), threshold=0.0),
         (logits[..., 0] >= 0).astype(np.int64), I32, "to_labels threshold")
    same(jax.jit(rl.to_labels)(jnp.asarray(logits)), np.argmax(logits, -1), I32,
         "to_labels jit")

    # the streaming accumulator: eager and jitted updates, every compute mode
    for name in ("fbeta",):
        acc = rl.MetricAccumulator(name, num_classes=C, ignore_index=255)
        state = acc.init(jp)
        assert state.tp.dtype == jnp.int32 and state.samples.dtype == jnp.int32
        assert state.class_sum.dtype == jnp.float32 and state.average_sum.dtype == jnp.float32
        step = jax.jit(acc.update)
        state = acc.update(state, jp[:1], jt[:1])
        state = step(state, jp[1:], jt[1:])
        ref = acc.update(acc.init(), pred, target)
        for average in ("none", "macro", "micro", "weighted"):
            for per_sample in (False, True):
                v, d = acc.compute(state, average=average, per_sample=per_sample,
                                   return_defined=True)
                wv, wd = acc.compute(ref, average=average, per_sample=per_sample,
                                     return_defined=True)
                same(v, wv, F32, f"accumulator {name} {average} {per_sample}")
                same(d, wd, I32, f"accumulator {name} {average} {per_sample} defined")

    # boundary metrics: float32 in the caller's namespace, exact shapes
    sp = rng.integers(0, 3, (2, 9, 8))
    st = rng.integers(0, 3, (2, 9, 8))
    skw = dict(num_classes=3, spacing=(0.8, 1.1))
    for average in ("none", "macro"):
        same(rl.hausdorff_distance(jnp.asarray(sp), jnp.asarray(st), percentile=95,
                                   average=average, **skw),
             rl.hausdorff_distance(sp, st, percentile=95, average=average, **skw), F32,
             f"hd95 {average}")
        same(rl.surface_dice(jnp.asarray(sp), jnp.asarray(st), tolerance=1.0,
                             average=average, **skw),
             rl.surface_dice(sp, st, tolerance=1.0, average=average, **skw), F32,
             f"nsd {average}")
    res = rl.surface_metrics(jnp.asarray(sp), jnp.asarray(st), tolerance=1.0, **skw)
    want = rl.surface_metrics(sp, st, tolerance=1.0, **skw)
    for key in want:
        same(res[key], want[key], F32, f"surface_metrics {key}")

    print(f"checked {checked}")
    '''
)


def test_every_metric_without_x64():
    env = dict(os.environ, JAX_ENABLE_X64="0", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    checked = int(proc.stdout.strip().rsplit(" ", 1)[-1])
    assert checked >= 280, proc.stdout  # every check above ran
