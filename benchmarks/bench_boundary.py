"""Boundary and topology losses: the JAX distance transform, the Hausdorff
distance-transform loss and clDice against their baselines, on the same CPU.

* ``--edt``: the Euclidean distance transform of (8, 256, 256) masks, ``jax.jit`` of the
  kernel's pure ``jax.numpy`` path (the code path of ``bench_distance.py``), against
  :func:`scipy.ndimage.distance_transform_edt` image by image (baseline, ratio 1).
* ``--hd``: ``hausdorff_dt_loss`` forward + backward on (8, 4, 256, 256) logits and labels:
  regionloss under ``jax.jit(jax.value_and_grad(...))`` (float32, channels-last) and
  regionloss on PyTorch (channels-first, its fields through SciPy), against MONAI's
  ``HausdorffDTLoss(softmax=True, to_onehot_y=True)`` on the same PyTorch tensors
  (baseline): the same loss value, checked first.
* ``--cldice``: ``cldice_loss`` forward + backward on (8, 4, 256, 256), the same three
  contenders against MONAI's ``SoftclDiceLoss(softmax=True, to_onehot_y=True)``.

Ratios are of medians over interleaved repeats, with the range of each candidate's
samples. MONAI must be importable (a virtual environment with ``monai``); run with
``PYTHONPATH=src``::

    python benchmarks/bench_boundary.py [--quick] [--repeats 10] [--edt] [--hd] [--cldice]
        [--torch-threads N]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from bench_distance import _ranges, masks
from common import machine, print_comparison, time_interleaved


def bench_edt(args) -> None:
    import jax
    import jax.numpy as jnp
    import scipy.ndimage as ndi

    from regionloss._kernels.distance import euclidean_distance

    shape = (4, 64, 64) if args.quick else (8, 256, 256)
    for kind in ("random", "blob"):
        m = masks(kind, shape)
        ref = np.stack([ndi.distance_transform_edt(img) for img in m])
        mj = jnp.asarray(m)
        fn = jax.jit(lambda x: euclidean_distance(x, spatial_ndim=2))
        got = np.asarray(fn(mj))
        assert np.max(np.abs(got - ref) / np.maximum(ref, 1.0)) < 1e-6
        times = time_interleaved({
            "SciPy per image": lambda m=m: [ndi.distance_transform_edt(img) for img in m],
            "JAX jit (float32)": lambda mj=mj: fn(mj),
        }, repeats=args.repeats, warmup=args.warmup)
        print_comparison(f"EDT {shape} {kind} masks", times, "SciPy per image")
        _ranges(times)


def _inputs(args):
    shape = (2, 4, 64, 64) if args.quick else (8, 4, 256, 256)
    rng = np.random.default_rng(0)
    labels = np.zeros((shape[0],) + shape[2:], np.int64)
    grid = np.indices(shape[2:])
    for n in range(shape[0]):        # a few discs and a vessel per image
        for c in range(1, shape[1]):
            centre = rng.uniform(0.2, 0.8, 2) * np.asarray(shape[2:])
            radius = rng.uniform(0.05, 0.15) * shape[2]
            labels[n][((grid[0] - centre[0]) ** 2 + (grid[1] - centre[1]) ** 2)
                      <= radius ** 2] = c
        labels[n, :, shape[3] // 2 - 1:shape[3] // 2 + 1] = shape[1] - 1
    onehot = np.moveaxis(np.eye(shape[1])[labels], -1, 1)
    logits = (4.0 * onehot - 2.0 + rng.normal(size=shape)).astype(np.float32)
    return logits, labels


def bench_loss(args, which: str) -> None:
    import jax
    import jax.numpy as jnp
    import monai
    import torch

    import regionloss as rl

    logits, labels = _inputs(args)
    if which == "hd":
        ours, title = rl.hausdorff_dt_loss, "hausdorff_dt_loss vs MONAI HausdorffDTLoss"
        theirs = monai.losses.HausdorffDTLoss(softmax=True, to_onehot_y=True)
    else:
        ours, title = rl.cldice_loss, "cldice_loss vs MONAI SoftclDiceLoss"
        theirs = monai.losses.SoftclDiceLoss(softmax=True, to_onehot_y=True)

    xt = torch.from_numpy(logits)
    yt = torch.from_numpy(labels)

    def monai_step():
        x = xt.clone().requires_grad_(True)
        loss = theirs(x, yt[:, None])
        loss.backward()
        return loss.detach(), x.grad

    def torch_step():
        x = xt.clone().requires_grad_(True)
        loss = ours(x, yt, class_axis=1)
        loss.backward()
        return loss.detach(), x.grad

    xj = jnp.asarray(np.moveaxis(logits, 1, -1))
    yj = jnp.asarray(labels)
    step = jax.jit(jax.value_and_grad(lambda a, b: ours(a, b)))

    v_monai = float(monai_step()[0])
    v_torch = float(torch_step()[0])
    v_jax = float(step(xj, yj)[0])
    print(f"\n{title}: logits {logits.shape} float32; values MONAI {v_monai:.6f}, "
          f"regionloss PyTorch {v_torch:.6f}, regionloss JAX {v_jax:.6f}")
    assert abs(v_torch - v_monai) <= 1e-5 * abs(v_monai) + 1e-6
    assert abs(v_jax - v_monai) <= 1e-4 * abs(v_monai) + 1e-6
    times = time_interleaved({
        "MONAI (PyTorch) fwd+bwd": monai_step,
        "regionloss PyTorch fwd+bwd": torch_step,
        "regionloss JAX jit fwd+bwd": lambda: step(xj, yj),
    }, repeats=args.repeats, warmup=args.warmup)
    print_comparison(title, times, "MONAI (PyTorch) fwd+bwd")
    _ranges(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--edt", action="store_true")
    parser.add_argument("--hd", action="store_true")
    parser.add_argument("--cldice", action="store_true")
    parser.add_argument("--torch-threads", type=int, default=None)
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 10)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    if not (args.edt or args.hd or args.cldice):
        args.edt = args.hd = args.cldice = True
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    print(machine())
    try:
        import torch

        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} intra-op thread(s)")
    except ImportError:  # pragma: no cover
        pass
    if args.edt:
        bench_edt(args)
    for which in ("hd", "cldice"):
        if getattr(args, which):
            try:
                import monai  # noqa: F401
            except ImportError:
                print(f"\n--{which}: MONAI is not installed here; skipped", file=sys.stderr)
                continue
            bench_loss(args, which)


if __name__ == "__main__":
    main()
