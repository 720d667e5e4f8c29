"""The metric state merges across JAX devices: sharded eval step == single device.

Runs in a subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (the flag
must be set before JAX starts, so it cannot run in the test process). Label maps are
sharded over 4 CPU devices along the sample axis; the jitted eval step (``update`` on the
sharded batch, XLA inserting the cross-device sums) and a ``shard_map`` step (per-device
``update``, then ``jax.lax.psum`` of the state pytree) must both give exactly the state and
the scores of one device, with x64 on (int64 counts) and off (int32 counts, float32 scores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import regionloss as rl
from conftest import HAVE_JAX

pytestmark = pytest.mark.skipif(not HAVE_JAX, reason="JAX not installed")

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import regionloss as rl

    assert len(jax.devices()) == 4, jax.devices()
    rng = np.random.default_rng(0)
    target = rng.integers(0, 5, (8, 16, 16))
    pred = np.where(rng.random(target.shape) < 0.6, target, rng.integers(0, 5, target.shape))
    target = np.where(rng.random(target.shape) < 0.05, 255, target)
    target[3] = 255                      # one all-ignored sample
    acc = rl.MetricAccumulator("dice", num_classes=5, ignore_index=255)

    mesh = Mesh(np.array(jax.devices()), ("data",))
    shard = NamedSharding(mesh, P("data"))
    ps, ts = jax.device_put(pred, shard), jax.device_put(target, shard)
    assert len(ps.sharding.device_set) == 4

    def eval_step(state, p, t):
        return acc.update(state, p, t)

    one = jax.devices()[0]
    single = jax.jit(eval_step)(acc.init(jax.device_put(pred, one)),
                                jax.device_put(pred, one), jax.device_put(target, one))
    sharded = jax.jit(eval_step)(acc.init(ps), ps, ts)
    per_device = jax.jit(jax.shard_map(
        lambda p, t: jax.lax.psum(acc.update(acc.init(p), p, t), "data"),
        mesh=mesh, in_specs=(P("data"), P("data")), out_specs=P()))(ps, ts)

    def dump(state):
        out = {f: np.asarray(v).tolist() for f, v in state._asdict().items()}
        out["dtype"] = str(state.tp.dtype)
        for avg in ("none", "macro", "micro", "weighted"):
            for per_sample in (False, True):
                v = acc.compute(state, average=avg, per_sample=per_sample)
                out[f"{avg}/{per_sample}"] = np.asarray(v, dtype=np.float64).tolist()
        return out

    print(json.dumps({"x64": bool(jax.config.jax_enable_x64), "single": dump(single),
                      "sharded": dump(sharded), "shard_map": dump(per_device),
                      "pred": pred.tolist(), "target": target.tolist()}))
    """
)


def _run(x64: bool):
    env = dict(os.environ)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    env["JAX_ENABLE_X64"] = "1" if x64 else "0"
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("x64", [True, False], ids=["x64", "no-x64"])
def test_sharded_equals_single_device(x64):
    out = _run(x64)
    assert out["x64"] is x64
    single, sharded, per_device = out["single"], out["sharded"], out["shard_map"]
    assert single["dtype"] == ("int64" if x64 else "int32")
    for key, value in single.items():
        # exact: the same integer counts, the same float sums
        assert sharded[key] == value, key
        if key == "dtype":
            assert per_device[key] == value
            continue
        np.testing.assert_allclose(np.asarray(per_device[key], dtype=float),
                                   np.asarray(value, dtype=float),
                                   rtol=0 if key in ("tp", "predicted", "reference", "invalid") else 1e-6,
                                   err_msg=key)
    # and the numbers are those of NumPy in float64
    pred, target = np.array(out["pred"]), np.array(out["target"])
    for avg in ("none", "macro", "micro", "weighted"):
        want = rl.dice_score(pred, target, num_classes=5, ignore_index=255, average=avg)
        np.testing.assert_allclose(single[f"{avg}/False"], want, rtol=1e-6 if not x64 else 1e-12)
    state = rl.MetricAccumulator("dice", num_classes=5, ignore_index=255)
    s = state.update(state.init(), pred, target)
    for field in ("tp", "predicted", "reference"):
        np.testing.assert_array_equal(single[field], getattr(s, field))
