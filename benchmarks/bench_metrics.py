"""Per-class IoU from label maps: regionloss against hand-written and library baselines.

The issue-3 benchmark: label maps of shape (16, 512, 512), 19 classes, 5 % of reference
pixels set to 255 (ignored). Every contender computes the 19 per-class IoUs of the pooled
batch, in one run, and the script prints medians and ratios against the hand-written
``numpy.bincount`` baseline (lower is faster):

* ``numpy.bincount by hand``: ``m = t != 255; bincount(C * t[m] + p[m])`` then the IoU.
* ``regionloss numpy``: ``iou_score(..., average="none")`` (native bincount path, label
  range validated).
* ``regionloss numpy, generic bincount path``: the bincount path CuPy, JAX and PyTorch
  share, run on NumPy: why NumPy has its own specialisation.
* ``regionloss numpy, standard path``: the pure array-API fallback (comparisons against
  ``arange(C)``), which array-api-strict and Dask use: why the native path exists.
* ``regionloss jax (jit)``: the same call jitted, inputs already on the device.
* ``regionloss cupy``: on the GPU when CuPy sees one (device-synchronised timing).
* ``sklearn.metrics.confusion_matrix`` on the non-ignored pixels, then the IoU.
* ``torchmetrics JaccardIndex(task="multiclass", ignore_index=255, average=None,
  validate_args=False)`` where installed.

Targets (issue 3): regionloss numpy >= 2x faster than torchmetrics, and within 1.2x of
the hand-written bincount.

Usage::

    python benchmarks/bench_metrics.py            # the issue's size
    python benchmarks/bench_metrics.py --quick    # a few seconds, small maps
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np


def make_data(shape, num_classes, ignore_fraction, seed=0):
    """Reference labels with ``ignore_fraction`` set to 255; predictions 70 % right."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, num_classes, shape, dtype=np.int64)
    noise = rng.integers(0, num_classes, shape, dtype=np.int64)
    pred = np.where(rng.random(shape) < 0.7, target, noise)
    target = np.where(rng.random(shape) < ignore_fraction, 255, target)
    return pred, target


def median_time(fn, repeats, sync=lambda r: r):
    """Median wall time of ``fn()`` over ``repeats`` runs after one warm-up call."""
    sync(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sync(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def iou_from_cm(cm):
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return tp / union


def contenders(pred, target, C, *, quick):
    """``[(name, fn, sync)]`` of everything available here; each fn returns (C,) IoUs."""
    import regionloss as rl
    from regionloss import _counting

    out = []

    def hand():
        m = target != 255
        cm = np.bincount(C * target[m] + pred[m], minlength=C * C).reshape(C, C)
        return iou_from_cm(cm)

    out.append(("numpy.bincount by hand", hand, lambda r: r))
    out.append(("regionloss numpy",
                lambda: rl.iou_score(pred, target, num_classes=C, ignore_index=255,
                                     average="none"), lambda r: r))

    def generic():
        cm = _counting.confusion_counts(pred, target, num_classes=C, ignore_index=255,
                                        method="native")
        return rl.score_confusion(cm, metric="iou", average="none")

    out.append(("regionloss numpy, generic bincount path", generic, lambda r: r))

    def standard():
        cm = _counting.confusion_counts(pred, target, num_classes=C, ignore_index=255,
                                        method="standard")
        return rl.score_confusion(cm, metric="iou", average="none")

    out.append(("regionloss numpy, standard path", standard, lambda r: r))

    try:
        import jax
        import jax.numpy as jnp

        jp, jt = jax.device_put(jnp.asarray(pred)), jax.device_put(jnp.asarray(target))
        f = jax.jit(lambda p, t: rl.iou_score(p, t, num_classes=C, ignore_index=255,
                                              average="none"))
        out.append((f"regionloss jax (jit, {jax.default_backend()})",
                    lambda: f(jp, jt), lambda r: r.block_until_ready()))
    except ImportError:
        print("jax not installed: skipped", file=sys.stderr)

    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            cp, ct = cupy.asarray(pred), cupy.asarray(target)
            sync = lambda r: (cupy.cuda.get_current_stream().synchronize(), r)[1]  # noqa: E731
            out.append(("regionloss cupy",
                        lambda: rl.iou_score(cp, ct, num_classes=C, ignore_index=255,
                                             average="none"), sync))
            out.append(("regionloss cupy, validate=False",
                        lambda: rl.iou_score(cp, ct, num_classes=C, ignore_index=255,
                                             average="none", validate=False), sync))

            def cupy_hand():
                m = ct != 255
                cm = cupy.bincount(C * ct[m] + cp[m], minlength=C * C).reshape(C, C)
                tp = cupy.diag(cm).astype(cupy.float64)
                return tp / (cm.sum(0) + cm.sum(1) - tp)

            out.append(("cupy.bincount by hand", cupy_hand, sync))
    except Exception as exc:  # noqa: BLE001 - no CuPy or no GPU
        print(f"cupy: skipped ({type(exc).__name__}: {exc})", file=sys.stderr)

    try:
        from sklearn.metrics import confusion_matrix as sk_cm

        def sklearn():
            m = target != 255
            return iou_from_cm(sk_cm(target[m], pred[m], labels=list(range(C))))

        out.append(("sklearn.metrics.confusion_matrix", sklearn, lambda r: r))
    except ImportError:
        print("scikit-learn not installed: skipped", file=sys.stderr)

    try:
        import torch
        from torchmetrics.classification import JaccardIndex

        tp_, tt_ = torch.from_numpy(pred), torch.from_numpy(target)
        metric = JaccardIndex(task="multiclass", num_classes=C, ignore_index=255,
                              average=None, validate_args=False)

        def tm():
            metric.reset()
            metric.update(tp_, tt_)
            return metric.compute()

        out.append(("torchmetrics JaccardIndex", tm, lambda r: r))
        out.append(("regionloss torch",
                    lambda: rl.iou_score(tp_, tt_, num_classes=C, ignore_index=255,
                                         average="none"), lambda r: r))
    except ImportError:
        print("torch/torchmetrics not installed: skipped", file=sys.stderr)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small maps, few repeats")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    shape = (2, 128, 128) if args.quick else (16, 512, 512)
    repeats = args.repeats or (3 if args.quick else 7)
    C = 19
    pred, target = make_data(shape, C, 0.05)
    print(f"per-class IoU, label maps {shape} int64, {C} classes, 5 % reference = 255; "
          f"median of {repeats} runs")

    results = []
    reference = None
    for name, fn, sync in contenders(pred, target, C, quick=args.quick):
        value = np.asarray(_to_host(sync(fn())), dtype=np.float64)
        if reference is None:
            reference = value
        elif not np.allclose(value, reference, rtol=1e-5, equal_nan=True):
            raise AssertionError(f"{name} disagrees with the hand-written baseline")
        # The comparison fallback is ~100x slower: one timed run is enough to show it.
        n = min(repeats, 1 if "standard path" in name and not args.quick else repeats)
        results.append((name, median_time(fn, n, sync)))

    base = results[0][1]
    times = dict(results)
    print(f"{'contender':42s} {'median ms':>10s} {'vs hand bincount':>17s}")
    for name, t in results:
        print(f"{name:42s} {t * 1e3:10.2f} {t / base:16.2f}x")
    ours = times["regionloss numpy"]
    print(f"\nregionloss numpy / hand bincount: {ours / base:.2f}x (target <= 1.2x)")
    if "torchmetrics JaccardIndex" in times:
        print(f"torchmetrics / regionloss numpy: {times['torchmetrics JaccardIndex'] / ours:.2f}x"
              " faster (target >= 2x)")
    print(f"generic bincount path / numpy path: "
          f"{times['regionloss numpy, generic bincount path'] / ours:.2f}x")
    print(f"standard (comparison) path / numpy path: "
          f"{times['regionloss numpy, standard path'] / ours:.1f}x")


def _to_host(x):
    if type(x).__module__.startswith("cupy"):
        return x.get()
    if type(x).__module__.startswith("torch"):
        return x.numpy()
    return x


if __name__ == "__main__":
    main()
