"""Benchmark of offline scoring (``regionloss score``) against a plain medpy loop.

Scores N pairs (default 200) of 512 x 512 PNG masks with 5 classes:

* ``medpy loop``: read both PNGs with Pillow, then ``medpy.metric.binary.dc(pred == c,
  target == c)`` for each class c: the plain loop a NumPy user writes (Dice only);
* ``regionloss serial``: ``regionloss.score(PRED, TARGET, num_classes=5)`` (Dice and IoU,
  the full confusion matrix per case, label checks, per-class mean/std/pooled values);
* ``regionloss --workers W``: the same in W local processes (pool start-up included).

and, to show where the time goes, on the same masks held in memory (no file reading):

* ``read only``: Pillow decoding both PNGs, the floor shared by every end-to-end loop;
* ``medpy dc x5`` versus the scorer's counting kernel (``scoring._count_numpy``, with
  ``score_confusion``) and the library's general ``confusion_matrix`` (the standard path
  the kernel replaces on NumPy): why the fast path exists.

Every figure is the median of ``--repeats`` runs in this one process, reported as cases per
second and as a ratio against the medpy loop of the same run. No figure is asserted.

    python benchmarks/bench_cli.py            # 200 pairs, 3 repeats, 2 workers
    python benchmarks/bench_cli.py --quick    # 40 pairs, 1 repeat (a smoke run)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np

SIZE = 512
NUM_CLASSES = 5


def make_pair(rng: np.random.Generator):
    """A reference of 4 ellipses (classes 1-4) and a prediction that errs at the borders."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    ref = np.zeros((SIZE, SIZE), np.uint8)
    pred = np.zeros((SIZE, SIZE), np.uint8)
    for c in range(1, NUM_CLASSES):
        cy, cx = rng.uniform(80, SIZE - 80, size=2)
        ry, rx = rng.uniform(20, 90, size=2)
        ref[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = c
        dy, dx = rng.normal(0, 2.0, size=2)
        grow = rng.uniform(0.9, 1.1)
        pred[((yy - cy - dy) / (ry * grow)) ** 2 + ((xx - cx - dx) / (rx * grow)) ** 2 <= 1] = c
    noise = rng.random((SIZE, SIZE)) < 0.002  # scattered wrong pixels
    pred = np.where(noise, rng.integers(0, NUM_CLASSES, size=(SIZE, SIZE)), pred).astype(np.uint8)
    return pred, ref


def make_dataset(root: str, n: int, seed: int = 0) -> tuple[str, str]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    pred_dir, ref_dir = os.path.join(root, "pred"), os.path.join(root, "ref")
    os.makedirs(pred_dir, exist_ok=True)
    os.makedirs(ref_dir, exist_ok=True)
    for i in range(n):
        pred, ref = make_pair(rng)
        Image.fromarray(pred).save(os.path.join(pred_dir, f"case_{i:04d}.png"))
        Image.fromarray(ref).save(os.path.join(ref_dir, f"case_{i:04d}.png"))
    return pred_dir, ref_dir


def _read(path):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image)


def medpy_loop(pred_dir, ref_dir, names):
    from medpy.metric.binary import dc

    out = np.empty((len(names), NUM_CLASSES))
    for i, name in enumerate(names):
        pred = _read(os.path.join(pred_dir, name))
        ref = _read(os.path.join(ref_dir, name))
        for c in range(NUM_CLASSES):
            out[i, c] = dc(pred == c, ref == c)
    return out


def median_time(fn, repeats):
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="40 pairs, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.pairs, args.repeats = 40, 1

    import regionloss
    from regionloss import scoring
    from regionloss.metrics import confusion_matrix, score_confusion

    try:
        import medpy  # noqa: F401
        have_medpy = True
    except ImportError:
        have_medpy = False
    warnings.simplefilter("ignore", RuntimeWarning)  # medpy's 0/0 on absent classes

    print(f"regionloss {regionloss.__version__}, numpy {np.__version__}, Python "
          f"{platform.python_version()}, {os.cpu_count()} CPU(s), {platform.machine()}")
    print(f"{args.pairs} pairs of {SIZE}x{SIZE} PNG masks, {NUM_CLASSES} classes; "
          f"median of {args.repeats} run(s)\n")
    with tempfile.TemporaryDirectory() as root:
        pred_dir, ref_dir = make_dataset(root, args.pairs)
        names = sorted(os.listdir(ref_dir))
        n = len(names)
        regionloss.score(pred_dir, ref_dir, num_classes=NUM_CLASSES)  # warm-up (imports)

        candidates = []
        if have_medpy:
            medpy_loop(pred_dir, ref_dir, names[:2])  # warm-up (imports)
            candidates.append(("medpy loop (read + dc per class)",
                               lambda: medpy_loop(pred_dir, ref_dir, names)))
        candidates.append(("regionloss serial (read + confusion + dice, iou)",
                           lambda: regionloss.score(pred_dir, ref_dir, num_classes=NUM_CLASSES)))
        candidates.append((f"regionloss --workers {args.workers} (pool start-up included)",
                           lambda: regionloss.score(pred_dir, ref_dir, num_classes=NUM_CLASSES,
                                                    workers=args.workers)))
        # Interleaved (A, B, C, A, B, C, ...): drift of a shared machine hits all alike.
        times = {label: [] for label, _ in candidates}
        results = {}
        for _ in range(args.repeats):
            for label, fn in candidates:
                start = time.perf_counter()
                results[label] = fn()
                times[label].append(time.perf_counter() - start)
        rows = [(label, statistics.median(times[label])) for label, _ in candidates]
        base = rows[0][1] if have_medpy else None
        t_serial = rows[-2][1]
        report, report_w = results[rows[-2][0]], results[rows[-1][0]]
        assert np.array_equal(report.confusion, report_w.confusion)
        if have_medpy:
            np.testing.assert_allclose(report.per_case["dice"], results[rows[0][0]],
                                       equal_nan=True)

        # In memory: where the time goes.
        arrays = [(_read(os.path.join(pred_dir, f)), _read(os.path.join(ref_dir, f)))
                  for f in names]
        t_read, _ = median_time(lambda: [(_read(os.path.join(pred_dir, f)),
                                          _read(os.path.join(ref_dir, f))) for f in names],
                                args.repeats)
        memory_rows = [("read only (Pillow, both PNGs)", t_read)]
        if have_medpy:
            from medpy.metric.binary import dc

            t_mdc, _ = median_time(lambda: [[dc(p == c, t == c) for c in range(NUM_CLASSES)]
                                            for p, t in arrays], args.repeats)
            memory_rows.append(("medpy dc per class", t_mdc))
        t_fast, _ = median_time(lambda: [score_confusion(
            scoring._count_numpy(p, t, NUM_CLASSES, None), metric="dice") for p, t in arrays],
            args.repeats)
        memory_rows.append(("scorer kernel (_count_numpy) + score_confusion", t_fast))
        t_lib, _ = median_time(lambda: [score_confusion(
            confusion_matrix(p, t, num_classes=NUM_CLASSES), metric="dice") for p, t in arrays],
            args.repeats)
        memory_rows.append(("library confusion_matrix + score_confusion", t_lib))

    def show(title, table, ref_time):
        print(title)
        print(f"  {'':58s} {'cases/s':>10s} {'ms/case':>9s} {'vs medpy':>9s}")
        for label, seconds in table:
            ratio = f"{ref_time / seconds:8.2f}x" if ref_time else "      n/a"
            print(f"  {label:58s} {n / seconds:10.1f} {1e3 * seconds / n:9.3f} {ratio}")
        print()

    show("end to end (files on disk)", rows, base)
    show("in memory (arrays already read)", memory_rows,
         dict(memory_rows).get("medpy dc per class"))
    if base:
        ratio = base / t_serial
        verdict = "met" if ratio >= 5 else "NOT met"
        print(f"target: serial throughput >= 5x the medpy loop: {ratio:.2f}x, {verdict}")
        floor = base / t_read
        print(f"(reading the PNGs alone runs at {floor:.2f}x the medpy loop's throughput: "
              "no scorer reading these files can go faster serially)")
    else:
        print("medpy is not installed: no baseline (pip install medpy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
