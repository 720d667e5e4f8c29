"""Benchmark of offline scoring (``regionloss score``) against plain medpy loops.

Scores N pairs (default 200) of 512 x 512 PNG masks with 5 classes and reports, in one run
(candidates interleaved, medians of ``--repeats``), cases per second and every ratio:

(a) end to end, files on disk: ``regionloss.score(PRED, TARGET, num_classes=5)`` serially
    and with ``workers=W`` (pool start-up included). It reads both PNGs, checks shapes and
    labels, computes the full 5 x 5 confusion matrix per case, Dice AND IoU per case and
    class, and the per-class mean / std / pooled values;
(b) the medpy loop reading with the same reader (Pillow): ``medpy.metric.binary.dc(pred ==
    c, target == c)`` for each class c, Dice only: the fair end-to-end baseline;
(c) the same medpy loop reading with medpy's own ``medpy.io.load`` (what a medpy user
    writes), when it works here;
(d) compute only, masks already in memory: regionloss's counting + metrics
    (``confusion_matrix`` then ``score_confusion`` for Dice and IoU) per case, against
    medpy ``dc`` per class, and against ``dc`` + ``jc`` per class (Dice and IoU, what our
    default output holds); plus reading alone, the floor every end-to-end loop shares:
    ``np.asarray(Image.open(path))`` (Pillow decodes into its own memory, then copies it
    out through ``tobytes``) against regionloss's reader
    ``regionloss.scoring.readers.read_mask``;
(e) the reports of the run: rendering the summary CSV, the per-case CSV and the HTML page
    (tables only, and with its plots when matplotlib is installed), and writing them
    together (:func:`regionloss.scoring.files.write_atomic`), against the scoring run
    itself: what ``--output report.html`` adds to a run.

Each baseline is the plain code a user would write. The serial scorer's throughput is
printed as a ratio against (b) and (c), next to the ceiling that reading the files sets.
No figure is asserted.

    python benchmarks/bench_cli.py            # 200 pairs, 5 repeats, 2 workers
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


def medpy_loop_medpy_io(pred_dir, ref_dir, names):
    """The loop a medpy user writes: medpy.io.load, then dc per class."""
    from medpy.io import load
    from medpy.metric.binary import dc

    out = np.empty((len(names), NUM_CLASSES))
    for i, name in enumerate(names):
        pred, _ = load(os.path.join(pred_dir, name))
        ref, _ = load(os.path.join(ref_dir, name))
        for c in range(NUM_CLASSES):
            out[i, c] = dc(pred == c, ref == c)
    return out


def interleaved(candidates, repeats):
    """Median seconds of each zero-argument callable, timed round-robin; last results."""
    times = {label: [] for label in candidates}
    results = {}
    for _ in range(repeats):
        for label, fn in candidates.items():
            start = time.perf_counter()
            results[label] = fn()
            times[label].append(time.perf_counter() - start)
    return {label: statistics.median(v) for label, v in times.items()}, results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="40 pairs, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.pairs, args.repeats = 40, 1

    import regionloss
    from regionloss.scoring.files import write_atomic
    from regionloss.scoring.plots import have_matplotlib
    from regionloss.scoring.readers import read_mask
    from regionloss.metrics import confusion_matrix, score_confusion

    try:
        from medpy.metric.binary import dc, jc
        have_medpy = True
    except ImportError:
        have_medpy = False
    warnings.simplefilter("ignore", RuntimeWarning)  # medpy's 0/0 on absent classes

    print(f"regionloss {regionloss.__version__}, numpy {np.__version__}, Python "
          f"{platform.python_version()}, {os.cpu_count()} CPU(s), {platform.machine()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{args.pairs} pairs of {SIZE}x{SIZE} PNG masks, {NUM_CLASSES} classes; "
          f"median of {args.repeats} interleaved run(s)\n")
    C = NUM_CLASSES
    with tempfile.TemporaryDirectory() as root:
        pred_dir, ref_dir = make_dataset(root, args.pairs)
        names = sorted(os.listdir(ref_dir))
        n = len(names)
        regionloss.score(pred_dir, ref_dir, num_classes=C)  # warm-up (imports)

        # ---- (a), (b), (c): end to end
        e2e = {}
        if have_medpy:
            medpy_loop(pred_dir, ref_dir, names[:2])  # warm-up (imports)
            e2e["(b) medpy loop, Pillow reader (read + dc per class)"] = (
                lambda: medpy_loop(pred_dir, ref_dir, names))
            try:
                medpy_loop_medpy_io(pred_dir, ref_dir, names[:2])
                e2e["(c) medpy loop, medpy.io.load (read + dc per class)"] = (
                    lambda: medpy_loop_medpy_io(pred_dir, ref_dir, names))
            except Exception as exc:  # noqa: BLE001 - e.g. no SimpleITK/ITK back-end
                print(f"(c) medpy.io.load does not work here: {type(exc).__name__}: {exc}\n")
        serial = "(a) regionloss score, serial"
        parallel = f"(a) regionloss score, --workers {args.workers} (pool start-up incl.)"
        e2e[serial] = lambda: regionloss.score(pred_dir, ref_dir, num_classes=C)
        e2e[parallel] = lambda: regionloss.score(pred_dir, ref_dir, num_classes=C,
                                                 workers=args.workers)
        # ---- (d): compute only, masks in memory
        arrays = [(_read(os.path.join(pred_dir, f)), _read(os.path.join(ref_dir, f)))
                  for f in names]

        def ours_per_case():
            out = []
            for p, t in arrays:
                cm = confusion_matrix(p, t, num_classes=C)
                out.append((score_confusion(cm, metric="dice", average="none"),
                            score_confusion(cm, metric="iou", average="none")))
            return out

        def ours_as_scorer():
            cms = np.stack([confusion_matrix(p, t, num_classes=C) for p, t in arrays])
            return (score_confusion(cms, metric="dice", average="none"),
                    score_confusion(cms, metric="iou", average="none"))

        mem = {
            "read only (Pillow, both PNGs)": lambda: [
                (_read(os.path.join(pred_dir, f)), _read(os.path.join(ref_dir, f)))
                for f in names],
            "read only (regionloss reader, both PNGs)": lambda: [
                (read_mask(os.path.join(pred_dir, f)).array,
                 read_mask(os.path.join(ref_dir, f)).array) for f in names],
            "regionloss per case: confusion_matrix, Dice, IoU": ours_per_case,
            "regionloss as the scorer: matrices, then Dice, IoU on the stack": ours_as_scorer,
        }
        if have_medpy:
            mem["medpy dc per class"] = lambda: [[dc(p == c, t == c) for c in range(C)]
                                                 for p, t in arrays]
            mem["medpy dc + jc per class"] = lambda: [
                [(dc(p == c, t == c), jc(p == c, t == c)) for c in range(C)]
                for p, t in arrays]
        for fn in mem.values():
            fn()  # warm-up
        # One round-robin over everything: drift of a shared machine hits all alike.
        all_t, all_r = interleaved({**e2e, **mem}, args.repeats)
        e2e_t = {k: all_t[k] for k in e2e}
        mem_t = {k: all_t[k] for k in mem}
        report = all_r[serial]
        assert np.array_equal(report.confusion, all_r[parallel].confusion)
        for label in e2e:
            if label.startswith(("(b)", "(c)")):
                np.testing.assert_allclose(report.per_case["dice"], all_r[label],
                                           equal_nan=True)
        for (p1, t1), (p2, t2) in zip(all_r["read only (Pillow, both PNGs)"],
                                      all_r["read only (regionloss reader, both PNGs)"]):
            assert np.array_equal(p1, p2) and np.array_equal(t1, t2)
        if have_medpy:
            np.testing.assert_allclose(np.asarray(all_r[
                "regionloss as the scorer: matrices, then Dice, IoU on the stack"][0]),
                np.array(all_r["medpy dc per class"]), equal_nan=True)

        # ---- (e): the reports of one run, against the run
        report = all_r[serial]
        out_dir = os.path.join(root, "reports")
        os.makedirs(out_dir)
        rep_c = {
            "(a) regionloss score, serial (the run)": lambda: regionloss.score(
                pred_dir, ref_dir, num_classes=C),
            "summary CSV + per-case CSV": lambda: (report.to_csv(), report.per_case_csv()),
            "HTML page, tables only": lambda: report.to_html(plots=False),
        }
        if have_matplotlib():
            rep_c["HTML page with plots (matplotlib)"] = lambda: report.to_html()
        rep_c["writing CSV + per-case CSV + HTML together"] = lambda: write_atomic({
            os.path.join(out_dir, "r.csv"): report.to_csv(),
            os.path.join(out_dir, "c.csv"): report.per_case_csv(),
            os.path.join(out_dir, "r.html"): report.to_html(plots=False)})
        for fn in rep_c.values():
            fn()  # warm-up (matplotlib's import, font cache)
        rep_t, _ = interleaved(rep_c, args.repeats)

    def show(title, table, base_label):
        base = table.get(base_label)
        print(title)
        head = f"vs {base_label[:3]}" if base else ""
        print(f"  {'':62s} {'cases/s':>9s} {'ms/case':>8s} {head:>9s}")
        for label, seconds in table.items():
            ratio = f"{base / seconds:8.2f}x" if base else ""
            print(f"  {label:62s} {n / seconds:9.1f} {1e3 * seconds / n:8.3f} {ratio:>9s}")
        print()

    b_label = "(b) medpy loop, Pillow reader (read + dc per class)"
    c_label = "(c) medpy loop, medpy.io.load (read + dc per class)"
    show("end to end (files on disk)", e2e_t, b_label if have_medpy else None)
    show("compute only (masks in memory)", mem_t, "medpy dc per class" if have_medpy else None)
    run_label = "(a) regionloss score, serial (the run)"
    print(f"reports of one run of {n} cases (ms, and as a share of the run):")
    for label, seconds in rep_t.items():
        share = "" if label == run_label else f"{100 * seconds / rep_t[run_label]:7.1f} %"
        print(f"  {label:62s} {1e3 * seconds:9.1f} ms {share}")
    if not have_matplotlib():
        print("  (matplotlib is not installed: no plots timed; pip install 'regionloss[report]')")
    print()
    if not have_medpy:
        print("medpy is not installed: no baseline (pip install medpy)")
        return 0
    ours_mem = mem_t["regionloss per case: confusion_matrix, Dice, IoU"]
    ours_scorer = mem_t["regionloss as the scorer: matrices, then Dice, IoU on the stack"]
    read = mem_t["read only (Pillow, both PNGs)"]
    print("ratios (throughput of regionloss / throughput of the baseline):")
    print(f"  {'reading: regionloss reader':48s} vs np.asarray(Image.open): "
          f"{read / mem_t['read only (regionloss reader, both PNGs)']:6.2f}x")
    for label in (serial, parallel):
        for base in (b_label, c_label):
            if base in e2e_t:
                print(f"  {label[4:]:48s} vs {base[:3]}: {e2e_t[base] / e2e_t[label]:6.2f}x")
    for label, ours_t in (("compute only, per case", ours_mem),
                          ("compute only, as the scorer", ours_scorer)):
        print(f"  {label:48s} vs medpy dc:      {mem_t['medpy dc per class'] / ours_t:6.2f}x")
        print(f"  {label:48s} vs medpy dc + jc: "
              f"{mem_t['medpy dc + jc per class'] / ours_t:6.2f}x")
    ratio = e2e_t[b_label] / e2e_t[serial]
    print(f"\nserial throughput against the medpy loop (same reader): {ratio:.2f}x")
    if c_label in e2e_t:
        ratio_c = e2e_t[c_label] / e2e_t[serial]
        print(f"                against the loop with medpy.io.load: {ratio_c:.2f}x")
    ceiling = e2e_t[b_label] / read
    print(f"reading alone (Pillow) runs at {ceiling:.2f}x the (b) loop's throughput: no serial "
          "scorer of these files can beat (b) by more.")
    print(f"per case: our serial run {1e3 * e2e_t[serial] / n:.2f} ms; reading alone "
          f"{1e3 * read / n:.2f} ms, counting + Dice + IoU alone {1e3 * ours_scorer / n:.2f} ms "
          "(measured apart, so they need not add up)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
