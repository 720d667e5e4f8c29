"""Data-parallel training: the losses on a batch sharded over 4 devices.

A JAX training step under ``jax.jit`` whose batch is split over several devices must give
the single-device loss and gradient: the per-sample statistics are sums over each sample's
own pixels, and the batch-pooled ones (``per_sample=False``) are sums over the whole batch
that XLA has to all-reduce across devices. Both are checked, for the four losses, in
float32 (as trained) and float64 (to rounding), with ``ignore_index`` pixels in the batch.

JAX fixes the number of CPU devices when it starts, so the check runs in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=4``; the batch is placed with
``jax.sharding.NamedSharding`` over a 1-D mesh on its sample axis.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import HAVE_JAX

pytestmark = [pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed"),
              pytest.mark.slow]  # one subprocess, ~10 s on 2 CPU cores

N_DEVICES = 4

SCRIPT = textwrap.dedent(
    """
    import json
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P

    import regionloss

    devices = jax.devices()
    assert len(devices) == N_DEVICES, devices
    mesh = jax.make_mesh((N_DEVICES,), ("batch",))
    batch = NamedSharding(mesh, P("batch"))

    rng = np.random.default_rng(0)
    n, h, w, c = 2 * N_DEVICES, 12, 10, 3
    logits_np = 3 * rng.standard_normal((n, h, w, c))
    labels_np = rng.integers(0, c, size=(n, h, w))
    labels_np[rng.random((n, h, w)) < 0.1] = 255
    labels_np[1] = np.where(labels_np[1] == 2, 0, labels_np[1])  # a class absent from sample 1

    losses = {
        "dice_loss": regionloss.dice_loss,
        "jaccard_loss": regionloss.jaccard_loss,
        "tversky_loss": regionloss.tversky_loss,
        "focal_tversky_loss": regionloss.focal_tversky_loss,
    }
    results = []
    for dtype in ("float32", "float64"):
        logits = jnp.asarray(logits_np, dtype=dtype)
        labels = jnp.asarray(labels_np)
        logits_sharded = jax.device_put(logits, batch)
        labels_sharded = jax.device_put(labels, batch)
        shards = logits_sharded.addressable_shards
        assert len(shards) == N_DEVICES and shards[0].data.shape[0] == n // N_DEVICES
        for name, loss in losses.items():
            for per_sample in (True, False):
                def objective(x, y, loss=loss, per_sample=per_sample):
                    return loss(x, y, ignore_index=255, per_sample=per_sample)

                step = jax.jit(jax.value_and_grad(objective))
                value_1, grad_1 = step(logits, labels)
                value_n, grad_n = step(logits_sharded, labels_sharded)
                assert len(grad_n.sharding.device_set) == N_DEVICES
                v1, vn = float(value_1), float(value_n)
                g1, gn = np.asarray(grad_1, np.float64), np.asarray(grad_n, np.float64)
                results.append({
                    "loss": name, "per_sample": per_sample, "dtype": dtype,
                    "value": v1, "value_sharded": vn,
                    "value_dtype": str(value_n.dtype),
                    "value_rel": abs(vn - v1) / abs(v1),
                    "grad_rel": float(np.max(np.abs(gn - g1)) / np.max(np.abs(g1))),
                    "grad_finite": bool(np.all(np.isfinite(gn))),
                    "grad_batch_sharded": bool(
                        grad_n.sharding.is_equivalent_to(batch, grad_n.ndim)),
                })
    print("RESULTS " + json.dumps(results))
    """
)

TOLERANCE = {"float32": 1e-5, "float64": 1e-12}


@pytest.fixture(scope="module")
def sharded_results():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                        f" --xla_force_host_platform_device_count={N_DEVICES}").strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["JAX_ENABLE_X64"] = "1"
    code = f"N_DEVICES = {N_DEVICES}\n" + SCRIPT
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, f"sharded run failed:\n{proc.stdout}\n{proc.stderr}"
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS "))
    return json.loads(line[len("RESULTS "):])


def test_every_configuration_ran(sharded_results):
    configs = {(r["loss"], r["per_sample"], r["dtype"]) for r in sharded_results}
    assert len(configs) == 4 * 2 * 2


@pytest.mark.parametrize("per_sample", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sharded_equals_single_device(sharded_results, per_sample, dtype):
    """Same value and gradient with the batch on 1 device or split over 4."""
    rows = [r for r in sharded_results if r["per_sample"] == per_sample and r["dtype"] == dtype]
    assert len(rows) == 4
    tol = TOLERANCE[dtype]
    for r in rows:
        what = f"{r['loss']}(per_sample={per_sample}, {dtype})"
        assert r["value_dtype"] == dtype, what
        assert 0.0 < r["value"] < 1.0, what
        assert r["value_rel"] <= tol, f"{what}: value {r['value_sharded']} vs {r['value']}"
        assert r["grad_finite"], what
        assert r["grad_rel"] <= tol, f"{what}: gradient differs by {r['grad_rel']:.2e}"
        # the gradient stays where its logits are: split over the devices on the batch axis
        assert r["grad_batch_sharded"], what


def test_per_sample_and_pooled_differ(sharded_results):
    """The two settings are different numbers (so both checks above check something)."""
    for dtype in ("float32", "float64"):
        for loss in ("dice_loss", "jaccard_loss", "tversky_loss", "focal_tversky_loss"):
            per_sample, pooled = (
                next(r["value"] for r in sharded_results
                     if r["loss"] == loss and r["dtype"] == dtype and r["per_sample"] is flag)
                for flag in (True, False)
            )
            assert abs(per_sample - pooled) > 1e-3, (loss, dtype, per_sample, pooled)
