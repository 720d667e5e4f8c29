"""Boundary metrics: HD95 and ASSD on (2, 128, 128, 128) label maps, regionloss vs medpy / MONAI.

Three foreground classes (ellipsoids and a box, a few thousand voxels each) occupy a small
part of each volume; the prediction is the reference shifted by up to 2 voxels, dilated or
eroded once, with a small spurious island. Every contender computes HD95 and ASSD for the
3 foreground classes of both samples (background excluded), in one run, and the table
reports medians over repeats and ratios against the medpy loop:

* ``medpy loop``: ``medpy.metric.binary.hd95`` and ``assd`` per (sample, class) (each call
  erodes and distance-transforms the full volume, twice);
* ``MONAI``: ``HausdorffDistanceMetric(percentile=95)`` and
  ``SurfaceDistanceMetric(symmetric=True)`` on one-hot tensors (when installed);
* ``regionloss surface_metrics``: one call for both metrics (one distance transform per
  mask, confined to the bounding box of the pair);
* ``regionloss, two calls``: ``hausdorff_distance`` then ``average_surface_distance``;
* ``regionloss CuPy``: the same on CuPy arrays, on the GPU (when a GPU is present).

``--kernels`` also times the two bounding-box kernels (``find_objects`` vs ``bincount``).
``--quick`` runs a (2, 64, 64, 64) batch with one repeat in a few seconds.

Usage::

    python benchmarks/bench_surface.py [--quick] [--repeats 5] [--kernels] [--no-monai]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np

from regionloss._kernels import surface as kernels
from regionloss.metrics.surface import average_surface_distance, hausdorff_distance, surface_metrics


def make_data(size: int, seed: int = 0):
    """(2, size, size, size) int64 reference and prediction with 3 small classes."""
    rng = np.random.default_rng(seed)
    grid = np.indices((size,) * 3).astype(np.float32)
    s = size / 128.0
    target = np.zeros((2,) + (size,) * 3, dtype=np.int64)
    pred = np.zeros_like(target)
    from scipy import ndimage

    for n in range(2):
        for c in (1, 2, 3):
            centre = rng.uniform(0.25, 0.75, size=3) * size
            radii = rng.uniform(6, 12, size=3) * s
            if c == 3:
                lo = np.floor(centre - radii).astype(int)
                hi = np.ceil(centre + radii).astype(int)
                mask = np.zeros((size,) * 3, dtype=bool)
                mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = True
            else:
                mask = (((grid - centre[:, None, None, None]) / radii[:, None, None, None]) ** 2
                        ).sum(0) <= 1.0
            target[n][mask] = c
            moved = np.roll(mask, tuple(rng.integers(-2, 3, size=3)), axis=(0, 1, 2))
            moved = (ndimage.binary_dilation(moved) if rng.random() < 0.5
                     else ndimage.binary_erosion(moved))
            island = rng.integers(4, size - 6, size=3)
            moved[island[0]:island[0] + 2, island[1]:island[1] + 2, island[2]:island[2] + 2] = True
            pred[n][moved] = c
    return pred, target


def timed(fn, repeats: int, sync=None):
    times = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        if sync is not None:
            sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="(2, 64, 64, 64), one repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--kernels", action="store_true", help="also time the box kernels")
    ap.add_argument("--no-monai", action="store_true")
    ap.add_argument("--no-medpy", action="store_true")
    args = ap.parse_args(argv)
    size = args.size or (64 if args.quick else 128)
    repeats = 1 if args.quick else args.repeats
    pred, target = make_data(size)
    C = 4
    frac = np.mean(target > 0)
    print(f"data: (2, {size}, {size}, {size}) int64, 3 foreground classes, "
          f"{100 * frac:.2f}% of the voxels foreground; HD95 + ASSD for classes 1..3 of "
          f"both samples; median of {repeats} run(s)")
    rows = []

    def ours_one_call():
        return surface_metrics(pred, target, num_classes=C, metrics=("hd95", "assd"),
                               include_background=False)

    def ours_two_calls():
        return (hausdorff_distance(pred, target, num_classes=C, percentile=95,
                                   include_background=False),
                average_surface_distance(pred, target, num_classes=C,
                                         include_background=False))

    t_ours, res = timed(ours_one_call, repeats)
    t_two, _ = timed(ours_two_calls, repeats)

    t_medpy = None
    if not args.no_medpy:
        try:
            from medpy.metric import binary as mb
        except ImportError:
            print("medpy not installed: no medpy baseline")
        else:
            def medpy_loop():
                out = np.zeros((2, 2, C - 1))
                for n in range(2):
                    for c in range(1, C):
                        p, t = pred[n] == c, target[n] == c
                        out[0, n, c - 1] = mb.hd95(p, t)
                        out[1, n, c - 1] = mb.assd(p, t)
                return out

            t_medpy, med = timed(medpy_loop, repeats)
            # sanity: same numbers under the matching options (medpy's hd95 is pooled)
            pooled = hausdorff_distance(pred, target, num_classes=C, percentile=95,
                                        combine="pooled", include_background=False)
            assert np.allclose(pooled, med[0], atol=1e-9), "hd95 differs from medpy"
            assert np.allclose(res["assd"], med[1], atol=1e-9), "assd differs from medpy"
            rows.append(("medpy loop (hd95 + assd)", t_medpy))

    if not args.no_monai:
        try:
            import torch
            from monai.metrics import HausdorffDistanceMetric, SurfaceDistanceMetric
        except ImportError:
            print("MONAI not installed: no MONAI baseline")
        else:
            def onehot(x):
                return torch.from_numpy(np.ascontiguousarray(
                    np.moveaxis(np.eye(C, dtype=np.float32)[x], -1, 1)))

            yp, yt = onehot(pred), onehot(target)

            def monai_run():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    hd = HausdorffDistanceMetric(include_background=False, percentile=95,
                                                 reduction="none")
                    sd = SurfaceDistanceMetric(include_background=False, symmetric=True,
                                               reduction="none")
                    hd(y_pred=yp, y=yt)
                    sd(y_pred=yp, y=yt)
                    return hd.aggregate().numpy(), sd.aggregate().numpy()

            t_monai, (mhd, msd) = timed(monai_run, repeats)
            assert np.allclose(mhd, res["hd95"], rtol=1e-4, atol=1e-4), "hd95 differs from MONAI"
            assert np.allclose(msd, res["assd"], rtol=1e-5, atol=1e-5), "assd differs from MONAI"
            rows.append(("MONAI (one-hot, CPU)", t_monai))

    rows.append(("regionloss surface_metrics (NumPy)", t_ours))
    rows.append(("regionloss two calls (NumPy)", t_two))

    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no GPU")
    except Exception:  # noqa: BLE001
        cupy = None
    if cupy is not None:
        cp_pred, cp_target = cupy.asarray(pred), cupy.asarray(target)
        sync = cupy.cuda.Device().synchronize

        def ours_gpu():
            return surface_metrics(cp_pred, cp_target, num_classes=C,
                                   metrics=("hd95", "assd"), include_background=False)

        ours_gpu()  # warm-up: kernel compilation
        sync()
        t_gpu, gres = timed(ours_gpu, max(repeats, 3), sync)
        for k in gres:
            assert np.allclose(gres[k].get(), res[k], rtol=1e-6, atol=1e-9), f"CuPy {k} differs"
        rows.append(("regionloss surface_metrics (CuPy, GPU)", t_gpu))

        def ours_gpu_bg():
            return surface_metrics(cp_pred, cp_target, num_classes=C,
                                   metrics=("hd95", "assd"))

        def ours_cpu_bg():
            return surface_metrics(pred, target, num_classes=C, metrics=("hd95", "assd"))

        ours_gpu_bg()
        sync()
        t_gbg, _ = timed(ours_gpu_bg, max(repeats, 3), sync)
        t_cbg, _ = timed(ours_cpu_bg, repeats)
        rows.append(("  with background class (NumPy)", t_cbg))
        rows.append(("  with background class (CuPy, GPU)", t_gbg))

    base = t_medpy if t_medpy is not None else t_ours
    base_name = "medpy loop" if t_medpy is not None else "regionloss NumPy"
    print(f"\n| contender | median s | speed-up vs {base_name} |\n|---|---:|---:|")
    for name, t in rows:
        print(f"| {name} | {t:.4f} | {base / t:.1f}x |")

    if args.kernels:
        valid = None
        print("\n| bounding boxes of every class, both maps | median s | ratio |\n|---|---:|---:|")
        t_fo, _ = timed(lambda: [kernels.class_boxes(np, x, valid, C, method="find_objects")
                                 for x in (pred, target)], max(repeats, 3))
        t_bc, _ = timed(lambda: [kernels.class_boxes(np, x, valid, C, method="bincount")
                                 for x in (pred, target)], max(repeats, 3))
        print(f"| bincount (standard, NumPy) | {t_bc:.4f} | 1.0x |")
        print(f"| find_objects (NumPy fast path) | {t_fo:.4f} | {t_bc / t_fo:.1f}x |")
        if cupy is not None:
            t_cb, _ = timed(lambda: [kernels.class_boxes(cupy, x, valid, C, method="bincount")
                                     for x in (cp_pred, cp_target)], max(repeats, 3), sync)
            print(f"| bincount (CuPy, GPU) | {t_cb:.4f} | {t_bc / t_cb:.1f}x |")


if __name__ == "__main__":
    main()
