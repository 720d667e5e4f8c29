"""Every loss on JAX *without* x64 (JAX's default), in a subprocess.

The rest of the test suite runs JAX with ``JAX_ENABLE_X64=1`` (``conftest.py``), so the
float32 / int32 path that most JAX users get would otherwise never run. Here a child
process with ``JAX_ENABLE_X64=0`` takes every loss (with ``ignore_index``, a ``mask``,
dense targets) through

* ``jax.jit(jax.value_and_grad(...))`` on float32 logits: the value against NumPy
  float64 (float32 tolerance), the gradient against central differences of the NumPy
  float64 loss;
* ``jax.vmap`` over samples against per-sample NumPy calls;
* bfloat16 logits under ``jit``: a float32 result equal to NumPy float64 on the
  bf16-rounded logits;
* the Lovász losses' integer counts (int32 here: ``exact_counts``) against their float
  counts (a 0/1 ``mask``);
* a label out of range: the ``ValueError``, with no warning on the way (counting the bad
  pixels must not ask JAX for int64, which it would refuse with a warning).
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
    import functools
    import warnings

    warnings.simplefilter("error")  # e.g. "Explicitly requested dtype int64 ... not available"

    import numpy as np
    import jax
    import jax.numpy as jnp

    import regionloss as rl
    from regionloss.losses import lovasz

    assert not jax.config.jax_enable_x64, "the child must run without x64"
    F32 = np.dtype("float32")
    P = functools.partial
    LOSSES = {
        "dice": P(rl.dice_loss, ignore_index=255),
        "jaccard": P(rl.jaccard_loss, squared=True, per_sample=False),
        "tversky": P(rl.tversky_loss, include_background=False, class_weights=[0, 1, 2]),
        "focal_tversky": P(rl.focal_tversky_loss, gamma=0.5, ignore_index=255),
        "generalized_dice": P(rl.generalized_dice_loss, ignore_index=255),
        "log_cosh_dice": P(rl.log_cosh_dice_loss, soft_labels=True, activation="sigmoid"),
        "lovasz_softmax": P(rl.lovasz_softmax_loss, ignore_index=255),
        "lovasz_softmax_pooled": P(rl.lovasz_softmax_loss, per_sample=False, classes="all"),
        "lovasz_hinge": P(rl.lovasz_hinge_loss, ignore_index=255),
        "cross_entropy": P(rl.cross_entropy_loss, ignore_index=255, label_smoothing=0.1,
                           class_weights=[1.0, 2.0, 0.5]),
        "focal": P(rl.focal_loss, ignore_index=255, gamma=1.5),
        "focal_sigmoid": P(rl.focal_loss, activation="sigmoid", alpha=0.25),
        "dice_ce": P(rl.dice_ce_loss, ignore_index=255),
        "dice_focal": P(rl.dice_focal_loss, include_background=False),
    }
    # y holds 255 (ignored) pixels: every loss ignores them
    LOSSES = {k: P(f, **{**f.keywords, "ignore_index": 255}) for k, f in LOSSES.items()}

    rng = np.random.default_rng(3)
    N, H, W, C = 2, 3, 4, 3
    x32 = rng.normal(size=(N, H, W, C)).astype(np.float32)
    x64 = x32.astype(np.float64)
    y = rng.integers(0, C, size=(N, H, W))
    y[0, 0, :2] = 255
    mask = rng.random((N, H, W)).astype(np.float32)
    checked = 0


    def close(got, want, what, rtol=1e-5, atol=1e-6):
        global checked
        want = np.asarray(want, np.float64)
        assert isinstance(got, jax.Array), (what, type(got))
        assert tuple(got.shape) == want.shape, (what, got.shape, want.shape)
        assert np.dtype(got.dtype) == F32, (what, got.dtype)
        np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=atol,
                                   err_msg=what)
        checked += 1


    def numeric_grad(f, a, eps=1e-6):
        g = np.zeros_like(a)
        flat = g.reshape(-1)
        for i in range(a.size):
            step = np.zeros(a.size)
            step[i] = eps
            step = step.reshape(a.shape)
            flat[i] = (float(f(a + step)) - float(f(a - step))) / (2 * eps)
        return g


    for name, loss in LOSSES.items():
        for m in (None, mask):
            what = f"{name} mask={m is not None}"
            want = loss(x64, y, mask=None if m is None else m.astype(np.float64))
            value, grad = jax.jit(jax.value_and_grad(
                lambda a, mm: loss(a, y, mask=mm)))(jnp.asarray(x32),
                                                  None if m is None else jnp.asarray(m))
            close(value, want, what)
            mm64 = None if m is None else m.astype(np.float64)
            want_grad = numeric_grad(lambda a: loss(a, y, mask=mm64), x64)
            scale = max(np.abs(want_grad).max(), 1e-3)
            close(grad, want_grad, what + " grad", rtol=1e-4, atol=2e-5 * scale)
        # vmap over samples: one loss per sample, as NumPy per sample
        mapped = jax.vmap(lambda a, b: loss(a[None], b[None]))(jnp.asarray(x32), jnp.asarray(y))
        close(mapped, [loss(x64[n:n + 1], y[n:n + 1]) for n in range(N)], name + " vmap")
        # bfloat16 logits: computed and returned in float32
        xb = jnp.asarray(x32, dtype=jnp.bfloat16)
        got = jax.jit(lambda a: loss(a, y))(xb)
        close(got, loss(np.asarray(xb, np.float64), y), name + " bf16")

    # Lovász: int32 counts (integer label map, no mask) equal float counts (0/1 mask)
    from regionloss._kernels.arrays import count_dtype

    assert count_dtype(jnp) == jnp.int32
    keep = (y != 255)
    y0 = np.where(keep, y, 0)
    for loss in (rl.lovasz_softmax_loss, rl.lovasz_hinge_loss):
        for per_sample in (True, False):
            f = jax.jit(lambda a, l=loss, s=per_sample: l(a, y, ignore_index=255,
                                                            per_sample=s, reduction="none"))
            exact = f(jnp.asarray(x32))
            floats = loss(jnp.asarray(x32), y0, mask=jnp.asarray(keep, dtype=jnp.float32),
                          per_sample=per_sample, reduction="none")
            close(exact, np.asarray(floats, np.float64), f"{loss.__name__} int32 counts",
                  rtol=1e-6, atol=1e-7)

    # a label out of range: the ValueError, no int64 warning on the way
    bad = y.copy()
    bad[1, 2, 3] = 7
    for loss in (rl.dice_loss, rl.lovasz_softmax_loss, rl.cross_entropy_loss):
        try:
            loss(jnp.asarray(x32), jnp.asarray(bad), ignore_index=255)
        except ValueError as exc:
            assert "label 7" in str(exc) and "1 such pixel" in str(exc), str(exc)
        else:
            raise AssertionError(f"{loss.__name__}: no error for label 7")
    print("CHECKED", checked)
    '''
)


def test_every_loss_on_jax_without_x64():
    env = dict(os.environ, JAX_ENABLE_X64="0", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    assert "CHECKED" in proc.stdout
    checked = int(proc.stdout.split("CHECKED")[1].split()[0])
    assert checked >= 14 * 4 + 4, checked
