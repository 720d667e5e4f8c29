"""Per-class IoU from label maps: regionloss against hand-written and library baselines.

The issue-3 benchmark: label maps of shape (16, 512, 512), 19 classes, 5 % of reference
pixels set to 255 (ignored). Every contender computes the 19 per-class IoUs of the pooled
batch, in one run, and the script prints medians and ratios against the hand-written
``numpy.bincount`` baseline (lower is faster):

* ``numpy.bincount by hand``: ``m = t != 255; bincount(C * t[m] + p[m])`` then the IoU.
* ``regionloss numpy``: ``iou_score(..., average="none")`` (NumPy counting kernels,
  label range validated).
* ``regionloss numpy, generic bincount path``: the bincount path CuPy, JAX and PyTorch
  share, run on NumPy: why NumPy has its own kernels.
* ``regionloss numpy, standard path``: the pure array-API fallback (comparisons against
  ``arange(C)``), which array-api-strict and Dask use: why the native path exists.
* ``regionloss jax (jit)``: the same call jitted, inputs already on the device.
* ``regionloss cupy``: on the GPU when CuPy sees one (device-synchronised timing).
* ``sklearn.metrics.confusion_matrix`` on the non-ignored pixels, then the IoU.
* ``torchmetrics JaccardIndex(task="multiclass", ignore_index=255, average=None,
  validate_args=False)`` where installed.

Targets (issue 3): regionloss numpy >= 2x faster than torchmetrics, and within 1.2x of
the hand-written bincount.

A second section, "numpy kernels", times the NumPy counting kernels of
``regionloss._kernels.counting`` against each other (``confusion_counts(method=...)``: ``auto``,
``sparse`` = disagreement-only bincount + class sizes, ``joint`` = one joint-index bincount,
``native`` = the generic path CuPy/JAX/torch share) on the issue's random labels and on
realistic masks (ellipses, errors at the borders, mostly agreeing), pooled and per sample,
uint8 and int64, one 512 x 512 image and batches: the measurements behind ``auto``'s choice.

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
    from regionloss.metrics.confusion import count_labels

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
        cm = count_labels(pred, target, num_classes=C, ignore_index=255, method="native")
        return rl.score_confusion(cm, metric="iou", average="none")

    out.append(("regionloss numpy, generic bincount path", generic, lambda r: r))

    def standard():
        cm = count_labels(pred, target, num_classes=C, ignore_index=255, method="standard")
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
    parser.add_argument("--no-kernels", action="store_true",
                        help="skip the 'numpy kernels' section")
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
    if not args.no_kernels:
        kernel_section(args.quick, repeats)


def blob_masks(n, size, num_classes, *, ignore=None, seed=0):
    """Realistic label maps: ellipses per class, a prediction that errs at the borders
    (shifted, scaled) plus 0.2 % scattered noise; ``ignore`` fills a 5 % band (void)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    pred = np.zeros((n, size, size), np.uint8)
    target = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        for c in range(1, num_classes):
            cy, cx = rng.uniform(0.15 * size, 0.85 * size, 2)
            ry, rx = rng.uniform(0.04 * size, 0.18 * size, 2)
            target[i][((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = c
            dy, dx = rng.normal(0, 2, 2)
            g = rng.uniform(0.9, 1.1)
            pred[i][((yy - cy - dy) / (ry * g)) ** 2 + ((xx - cx - dx) / (rx * g)) ** 2 <= 1] = c
        if ignore is not None:
            target[i][:, : size // 20] = ignore
    noise = rng.random(pred.shape) < 0.002
    pred = np.where(noise, rng.integers(0, num_classes, pred.shape), pred).astype(np.uint8)
    return pred, target


def kernel_section(quick, repeats):
    """Interleaved medians of the NumPy kernels on several kinds of input."""
    from regionloss.metrics.confusion import count_labels as confusion_counts

    n = 2 if quick else 16
    size = 128 if quick else 512
    issue_p, issue_t = make_data((n, size, size), 19, 0.05)
    b19p, b19t = blob_masks(n, size, 19, ignore=255, seed=1)
    b5p, b5t = blob_masks(n, size, 5, seed=2)
    one_p, one_t = blob_masks(1, size, 5, seed=3)
    small_p, small_t = blob_masks(64 if not quick else 8, 64, 3, seed=4)
    rng = np.random.default_rng(5)
    noisy_t = rng.integers(0, 19, (n // 2, size, size)).astype(np.uint8)
    noisy_p = np.where(rng.random(noisy_t.shape) < 0.1,
                       rng.integers(0, 19, noisy_t.shape), noisy_t).astype(np.uint8)
    cases = [
        (f"issue data {issue_t.shape} int64 C19 ign255", issue_p, issue_t, 19, 255),
        (f"masks {b19t.shape} uint8 C19 ign255", b19p, b19t, 19, 255),
        (f"masks {b19t.shape} int64 C19 ign255", b19p.astype(np.int64),
         b19t.astype(np.int64), 19, 255),
        (f"masks {b5t.shape} int16 C5", b5p.astype(np.int16), b5t.astype(np.int16), 5, None),
        (f"scattered 10 % errors {noisy_t.shape} uint8 C19", noisy_p, noisy_t, 19, None),
        (f"one mask {one_t[0].shape} uint8 C5", one_p[0], one_t[0], 5, None),
        (f"small masks {small_t.shape} uint8 C3", small_p, small_t, 3, None),
    ]
    methods = ("auto", "sparse", "joint", "native")
    order_rng = np.random.default_rng(0)
    print(f"\nnumpy kernels: confusion_counts(method=...), median ms of {repeats} interleaved "
          "runs (ratio: method / auto)")
    print(f"{'input':44s} {'per_sample':>10s} " + " ".join(f"{m:>15s}" for m in methods))
    for label, p, t, C, ignore in cases:
        for per_sample in (False, True):
            if per_sample and p.ndim < 3:
                continue
            fns = {m: (lambda m=m: confusion_counts(p, t, num_classes=C, ignore_index=ignore,
                                                    per_sample=per_sample, method=m))
                   for m in methods}
            ref = fns["native"]()
            times = {m: [] for m in methods}
            for m in methods:
                assert np.array_equal(fns[m](), ref), m          # and a warm-up
            for _ in range(repeats):
                # a fresh random order per run: no method always follows the same one (a
                # rotation would keep "auto" right after "native"'s big allocations)
                for m in order_rng.permutation(methods):
                    start = time.perf_counter()
                    fns[m]()
                    times[m].append(time.perf_counter() - start)
            med = {m: statistics.median(v) for m, v in times.items()}
            print(f"{label:44s} {str(per_sample):>10s} " + " ".join(
                f"{med[m] * 1e3:8.2f} ({med[m] / med['auto']:4.2f})" for m in methods))

    # The joint path for one-byte labels: a 256-entry lookup table (one gather) against the
    # multiply + range masks + ignore mask of the general joint kernel, on uint8 issue data.
    from regionloss._kernels import counting_numpy as _counting

    p8, t8 = issue_p.astype(np.uint8), issue_t.astype(np.uint8)
    fns = {"byte table": lambda: _counting._numpy_byte_counts(p8, t8, 19, 255),
           "joint kernel": lambda: _counting._numpy_joint_counts(p8, t8, 19, 255, False)}
    assert np.array_equal(fns["byte table"]()[0], fns["joint kernel"]()[0])
    times = {k: [] for k in fns}
    for r in range(repeats):
        for k in (list(fns) if r % 2 else list(fns)[::-1]):
            start = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\none-byte labels {t8.shape} C19 ign255, whole array: byte table "
          f"{med['byte table'] * 1e3:.2f} ms, joint kernel {med['joint kernel'] * 1e3:.2f} ms "
          f"({med['joint kernel'] / med['byte table']:.2f}x)")


def _to_host(x):
    if type(x).__module__.startswith("cupy"):
        return x.get()
    if type(x).__module__.startswith("torch"):
        return x.numpy()
    return x


if __name__ == "__main__":
    main()
