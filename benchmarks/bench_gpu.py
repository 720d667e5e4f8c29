"""GPU counting and reductions of the kernel layer, against baselines in the same run.

Sections (each skips with its reason when its library or a GPU is missing):

``bw``
    Device copy bandwidth (CuPy, else torch, else JAX): the basis of every "x bound", the
    time to read the inputs once at that rate.
``count_cupy``
    Per-class IoU of label maps (16, 1024, 1024) int32 / int64 / uint8, 19 classes, 5 %
    of the reference ignored (255): the shared-memory histogram kernel
    (``class_counts_cupy``, ``confusion_counts_cupy``, per sample, launch shapes), the
    pure-CuPy reference path, ``cupy.bincount`` by hand (boolean mask), torchmetrics
    ``JaccardIndex`` on CUDA.
``count_jax``
    The same under ``jax.jit`` with each formulation of ``counting_jax`` (class counts
    and matrix; ``pallas`` is the Triton kernel on a GPU), ``jnp.bincount`` by hand, and a class-count sweep over C; runs on JAX's
    default device (``--cpu`` runs it on a CPU-only machine, for ``auto``'s CPU rule).
``stream``
    An accumulator update ``state += counts(pred, target)`` under ``jit`` (JAX) and with
    the CuPy kernel, 64 updates of (8, 1024, 1024): Gpixel/s.
``sums``
    ``fused`` rows first: a CuPy ``dice_loss`` forward on (16, 1024, 1024, 4) float32
    logits (and the channels-first (16, 4, 1024, 1024)) with int64 labels, the fused
    statistics (one kernel from logits and labels) against the previous path
    (probabilities, one-hot, ``soft_sums``; ``sums.USE_FUSED_STATISTICS = False``), also
    with ``ignore_index``, and the fused kernel alone; ``x bound`` against reading logits
    and labels once. Then CuPy soft sums ``(Σ p·y, Σ p, Σ y)`` of (16, 1024, 1024, 4)
    float32, channels-last and channels-first, with and without a per-pixel weight: the
    one-pass kernel against the plain CuPy expressions; ``sum_over`` against ``cupy.sum``,
    a matmul against ones, a transposed copy + trailing sum, and split lengths of the
    two-stage sum.
``torch``
    Soft sums forward+backward on torch CUDA: ``soft_sums`` (where-selected) against the
    plain product sums.

Every contender is checked against a reference before it is timed. Figures: medians of
``--repeats`` (20) calls with [min, max]; ``x bound`` = median / read-once bound, ``x base``
= median / the section's baseline.

Usage::

    python benchmarks/bench_gpu.py [--quick] [--json FILE] [--only SECTION ...] [--cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

RESULTS: dict = {"rows": {}, "skipped": {}, "errors": {}}
JSON_PATH: list = []
SECTIONS = ("bw", "count_cupy", "count_jax", "stream", "sums", "torch")


class Skip(Exception):
    """A section that cannot run here (missing library or device)."""


# --------------------------------------------------------------------------- helpers


def timeit(fn, sync, repeats, warmup=3):
    for _ in range(warmup):
        sync(fn())
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        sync(fn())
        out.append(time.perf_counter() - t)
    return out


def row(section, name, seconds, *, bound=None, base=None, extra=""):
    med = statistics.median(seconds)
    rec = {"ms": 1e3 * med, "min_ms": 1e3 * min(seconds), "max_ms": 1e3 * max(seconds),
           "n": len(seconds), "x_bound": med / bound if bound else None,
           "x_base": med / base if base else None}
    RESULTS["rows"].setdefault(section, {})[name] = rec
    if JSON_PATH:   # after every row: a run stopped by a timeout keeps what it measured
        with open(JSON_PATH[0], "w") as fh:
            json.dump(RESULTS, fh, indent=1, default=str)
    text = f"  {name:<58} {rec['ms']:9.3f} ms [{rec['min_ms']:.3f}, {rec['max_ms']:.3f}]"
    if bound:
        text += f"  x bound {rec['x_bound']:7.2f}"
    if base:
        text += f"  x base {rec['x_base']:6.3f}"
    print(text + extra, flush=True)
    return med


def note(section, key, value):
    RESULTS.setdefault("notes", {}).setdefault(section, {})[key] = value


def cupy_device():
    try:
        import cupy
    except ImportError as exc:
        raise Skip(f"CuPy is not installed ({exc})") from None
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise Skip("CuPy sees no CUDA device")
    except Skip:
        raise
    except Exception as exc:  # noqa: BLE001
        raise Skip(f"CuPy cannot reach a GPU: {type(exc).__name__}: {exc}") from None
    return cupy


def cupy_sync(r):
    import cupy

    cupy.cuda.get_current_stream().synchronize()
    return r


def jax_sync(r):
    import jax

    return jax.block_until_ready(r)


def torch_cuda():
    try:
        import torch
    except ImportError as exc:
        raise Skip(f"torch is not installed ({exc})") from None
    if not torch.cuda.is_available():
        raise Skip("torch sees no CUDA device")
    return torch


def torch_sync(r):
    import torch

    torch.cuda.synchronize()
    return r


def host(x):
    if hasattr(x, "get") and type(x).__module__.startswith("cupy"):
        return x.get()
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def bandwidth():
    return RESULTS.get("bw_Bps", 4.2e12)


def label_data(shape, C, seed=2):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, C, size=shape)
    pred = np.where(rng.random(shape) < 0.8, target, rng.integers(0, C, size=shape))
    target = np.where(rng.random(shape) < 0.05, 255, target)
    m = target != 255
    cm = np.bincount(C * target[m] + pred[m], minlength=C * C).reshape(C, C)
    tp = np.diag(cm).astype(np.float64)
    iou = tp / (cm.sum(0) + cm.sum(1) - tp)
    return pred, target, cm, iou


# --------------------------------------------------------------------------- sections


def sec_bw(args):
    n = (1 << 26) if args.quick else (1 << 28)        # float32 elements: 256 MiB / 1 GiB
    try:
        cupy = cupy_device()
        a = cupy.ones(n, dtype=cupy.float32)
        b = cupy.empty_like(a)
        s = timeit(lambda: cupy.copyto(b, a), cupy_sync, 10)
        how = "cupy.copyto"
    except Skip:
        torch = torch_cuda()
        a = torch.ones(n, device="cuda")
        b = torch.empty_like(a)
        s = timeit(lambda: b.copy_(a), torch_sync, 10)
        how = "torch copy_"
    rate = 2 * 4 * n / statistics.median(s)
    RESULTS["bw_Bps"] = rate
    print(f"  device copy ({how}, {4 * n >> 20} MiB): {rate / 1e12:.2f} TB/s (read + write)")
    del a, b


def iou_from_classes(tp, pc, rc):
    tp = tp.astype("float64")
    return tp / (pc + rc - tp)


def iou_from_matrix(xp, m):
    d = xp.diagonal(m).astype("float64") if hasattr(xp, "diagonal") else xp.diag(m)
    return d / (m.sum(0) + m.sum(1) - d)


def sec_count_cupy(args):
    cupy = cupy_device()
    from regionloss._kernels import counting_cupy as cc

    C = 19
    shape = (4, 512, 512) if args.quick else (16, 1024, 1024)
    pred, target, cm, want = label_data(shape, C)
    sms = int(cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["multiProcessorCount"])
    note("count_cupy", "sms", sms)
    for dt in ("int32", "int64", "uint8"):
        p, t = pred.astype(dt), target.astype(dt)
        bound = 2 * p.nbytes / bandwidth()
        key = f"iou {shape} {dt} C={C}"
        print(f"\n  {key}, 5 % ignored; read-once bound {bound * 1e3:.4f} ms", flush=True)
        cp_, ct_ = cupy.asarray(p), cupy.asarray(t)

        def hand():
            mm = ct_ != 255
            c = cupy.bincount(C * ct_[mm].astype(cupy.int64) + cp_[mm],
                              minlength=C * C).reshape(C, C)
            d = cupy.diag(c).astype(cupy.float64)
            return d / (c.sum(0) + c.sum(1) - d)

        np.testing.assert_allclose(host(hand()), want, rtol=1e-12)
        base = row(key, "cupy.bincount by hand (boolean mask)",
                   timeit(hand, cupy_sync, args.repeats), bound=bound)

        def kern_classes():
            tp, pc, rc, bad = cc.class_counts_cupy(cp_, ct_, num_classes=C, ignore_index=255)
            return iou_from_classes(tp, pc, rc)

        def kern_matrix():
            m, bad = cc.confusion_counts_cupy(cp_, ct_, num_classes=C, ignore_index=255)
            d = cupy.diag(m).astype(cupy.float64)
            return d / (m.sum(0) + m.sum(1) - d)

        def counts_only():
            return cc.class_counts_cupy(cp_, ct_, num_classes=C, ignore_index=255)

        def reference():
            m, bad = cc.confusion_counts_reference(cp_, ct_, num_classes=C, ignore_index=255)
            return m

        np.testing.assert_allclose(host(kern_classes()), want, rtol=1e-12)
        np.testing.assert_allclose(host(kern_matrix()), want, rtol=1e-12)
        np.testing.assert_array_equal(host(reference()), cm)
        np.testing.assert_array_equal(host(counts_only()[0]), np.diag(cm))
        row(key, "kernel class_counts_cupy -> IoU", timeit(kern_classes, cupy_sync, args.repeats),
            bound=bound, base=base)
        row(key, "kernel confusion_counts_cupy -> IoU",
            timeit(kern_matrix, cupy_sync, args.repeats), bound=bound, base=base)
        row(key, "kernel class_counts_cupy (counts only)",
            timeit(counts_only, cupy_sync, args.repeats), bound=bound, base=base)
        row(key, "reference path (cupy.bincount joint index)",
            timeit(reference, cupy_sync, args.repeats), bound=bound, base=base)
        if dt == "int32":
            def per_sample():
                return cc.class_counts_cupy(cp_, ct_, num_classes=C, ignore_index=255,
                                            per_sample=True)
            np.testing.assert_array_equal(host(per_sample()[0]).sum(0), np.diag(cm))
            row(key, "kernel class counts per_sample=True",
                timeit(per_sample, cupy_sync, args.repeats), bound=bound, base=base)
            for threads in (256, 512, 1024):
                for per_sm in (2, 4, 8, 16):
                    blocks = sms * per_sm

                    def launch(threads=threads, blocks=blocks):
                        return cc.class_counts_cupy(cp_, ct_, num_classes=C, ignore_index=255,
                                                    threads=threads, blocks=blocks)
                    np.testing.assert_array_equal(host(launch()[1]), cm.sum(0))
                    row(key, f"kernel class counts, {threads} threads x {per_sm}/SM blocks",
                        timeit(launch, cupy_sync, max(5, args.repeats // 2)), bound=bound,
                        base=base)
        if dt != "uint8":
            try:
                torch = torch_cuda()
                from torchmetrics.classification import JaccardIndex

                tp_, tt_ = torch.from_numpy(p).cuda(), torch.from_numpy(t).cuda()
                met = JaccardIndex(task="multiclass", num_classes=C, ignore_index=255,
                                   average=None, validate_args=False).cuda()

                def tm():
                    met.reset()
                    met.update(tp_.long(), tt_.long())
                    return met.compute()

                np.testing.assert_allclose(host(tm()), want, rtol=1e-5)
                row(key, "torchmetrics JaccardIndex CUDA", timeit(tm, torch_sync, args.repeats),
                    bound=bound, base=base)
                del tp_, tt_
                torch.cuda.empty_cache()
            except (Skip, ImportError) as exc:
                print(f"  torchmetrics skipped: {exc}")
        del cp_, ct_
        cupy.get_default_memory_pool().free_all_blocks()


def _default_platform():
    try:
        import jax

        return jax.default_backend()
    except ImportError:
        return None


def _jax_platform(args):
    try:
        import jax
    except ImportError as exc:
        raise Skip(f"JAX is not installed ({exc})") from None
    platform = jax.default_backend()
    if platform == "cpu" and not args.cpu:
        raise Skip("JAX runs on the CPU here (pass --cpu to measure the CPU formulations)")
    return platform


def sec_count_jax(args):
    platform = _jax_platform(args)
    import jax
    import jax.numpy as jnp
    from regionloss._kernels import counting_jax as cj

    C = 19
    if args.quick:
        shape = (4, 256, 256)
    elif platform == "cpu":
        shape = (16, 1024, 1024) if args.full_cpu else (4, 512, 512)
    else:
        shape = (16, 1024, 1024)
    repeats = args.repeats if platform != "cpu" else max(3, min(args.repeats, 5))
    pred, target, cm, want = label_data(shape, C)
    note("count_jax", "platform", platform)
    dts = ("int32",) if platform == "cpu" else ("int32", "uint8")
    for dt in dts:
        p, t = pred.astype(dt), target.astype(dt)
        bound = 2 * p.nbytes / bandwidth()
        key = f"jax {platform} iou {shape} {dt} C={C}"
        print(f"\n  {key}; read-once bound {bound * 1e3:.4f} ms", flush=True)
        jp, jt = jnp.asarray(p), jnp.asarray(t)

        @jax.jit
        def hand(a, b):
            idx = jnp.where(b == 255, C * C, b.astype(jnp.int32) * C + a.astype(jnp.int32))
            c = jnp.bincount(idx.ravel(), length=C * C + 1)[:-1].reshape(C, C)
            d = jnp.diagonal(c).astype(jnp.float32)
            return d / (c.sum(0) + c.sum(1) - d)

        np.testing.assert_allclose(np.asarray(hand(jp, jt)), want, rtol=1e-6)
        base = row(key, "jnp.bincount by hand (jit)",
                   timeit(lambda: hand(jp, jt), jax_sync, repeats), bound=bound)
        methods = ("auto", "scatter", "compare", "sums", "matmul", "pallas")
        if dt != "int32":
            methods = ("auto", "compare", "pallas")
        if platform == "cpu":   # the Pallas interpreter is a test vehicle, not a path
            methods = tuple(m for m in methods if m != "pallas")
        for method in methods:
            @jax.jit
            def iou(a, b, method=method):
                tp, pc, rc, _ = cj.class_counts_jax(a, b, num_classes=C, ignore_index=255,
                                                    method=method)
                tp = tp.astype(jnp.float32)
                return tp / (pc + rc - tp)

            try:
                np.testing.assert_allclose(np.asarray(iou(jp, jt)), want, rtol=1e-6)
                row(key, f"class_counts_jax method={method} -> IoU",
                    timeit(lambda: iou(jp, jt), jax_sync, repeats), bound=bound, base=base)
            except Exception as exc:  # noqa: BLE001 - report and go on
                print(f"  class counts {method}: {type(exc).__name__}: {exc}")
        for method in (("auto", "scatter", "matmul", "compare", "pallas") if dt == "int32"
                       else ("auto", "pallas")):
            if method == "pallas" and platform == "cpu":
                continue

            @jax.jit
            def matrix(a, b, method=method):
                return cj.confusion_counts_jax(a, b, num_classes=C, ignore_index=255,
                                               method=method)[0]

            try:
                np.testing.assert_array_equal(np.asarray(matrix(jp, jt)), cm)
                row(key, f"confusion_counts_jax method={method}",
                    timeit(lambda: matrix(jp, jt), jax_sync, repeats), bound=bound, base=base)
            except Exception as exc:  # noqa: BLE001
                print(f"  matrix {method}: {type(exc).__name__}: {exc}")
        del jp, jt
    if args.quick:
        return
    # the C sweep behind auto's thresholds (class counts, int32)
    sweep_shape = (8, 1024, 1024) if platform != "cpu" else (4, 256, 256)
    for Cs in (4, 19, 64, 150):
        pred, target, cm, want = label_data(sweep_shape, Cs, seed=3)
        jp, jt = jnp.asarray(pred.astype(np.int32)), jnp.asarray(target.astype(np.int32))
        key = f"jax {platform} class counts sweep {sweep_shape} int32 C={Cs}"
        print(f"\n  {key}", flush=True)
        bound = 2 * 4 * pred.size / bandwidth()
        base = None
        for method in ("scatter", "compare", "matmul", "pallas", "auto"):
            if Cs > cj._SMALL_FORMULATION_CLASSES.get((method, True), Cs) or (
                    method == "pallas" and platform == "cpu"):
                continue
            f = jax.jit(lambda a, b, m=method, Cs=Cs: cj.class_counts_jax(
                a, b, num_classes=Cs, ignore_index=255, method=m)[:3])
            try:
                np.testing.assert_array_equal(np.asarray(f(jp, jt)[0]), np.diag(cm))
                med = row(key, f"method={method}", timeit(lambda: f(jp, jt), jax_sync,
                                                           max(3, repeats // 2)),
                          bound=bound, base=base)
                base = base or med
            except Exception as exc:  # noqa: BLE001
                print(f"  {method}: {type(exc).__name__}: {exc}")


def sec_stream(args):
    C = 19
    small = args.quick or _default_platform() == "cpu"
    shape = (4, 256, 256) if small else (8, 1024, 1024)
    n = 8 if small else 64
    pred, target, cm, want = label_data(shape, C, seed=6)
    px = n * pred.size
    ran = False
    try:
        platform = _jax_platform(args)
        import jax
        import jax.numpy as jnp
        from regionloss._kernels import counting_jax as cj

        jp, jt = jnp.asarray(pred.astype(np.int32)), jnp.asarray(target.astype(np.int32))
        for method in ("auto", "compare", "scatter") + (("pallas",) if platform != "cpu" else ()):
            @jax.jit
            def update(state, a, b, method=method):
                tp, pc, rc, bad = cj.class_counts_jax(a, b, num_classes=C, ignore_index=255,
                                                      method=method)
                return (state[0] + tp, state[1] + pc, state[2] + rc, state[3] + bad)

            zero = jnp.zeros(C, cj.count_dtype())
            init = (zero, zero, zero, jnp.zeros((), cj.count_dtype()))

            def run(update=update):
                s = init
                for _ in range(n):
                    s = update(s, jp, jt)
                return s

            try:
                s = jax_sync(run())
                np.testing.assert_array_equal(np.asarray(s[0]), n * np.diag(cm))
            except Exception as exc:  # noqa: BLE001 - report and go on
                print(f"  jax update {method}: {type(exc).__name__}: {exc}")
                continue
            sec = timeit(run, jax_sync, 3, 1)
            rate = px / statistics.median(sec) / 1e9
            row("stream", f"jax {platform} update method={method}, {n} x {shape}", sec,
                extra=f"  {rate:8.1f} Gpixel/s")
            note("stream", f"jax_{method}_gpix_s", rate)
        ran = True
    except Skip as exc:
        print(f"  jax: skipped ({exc})")
    try:
        cupy = cupy_device()
        from regionloss._kernels import counting_cupy as cc

        cp_, ct_ = cupy.asarray(pred.astype(np.int32)), cupy.asarray(target.astype(np.int32))

        def run_cupy():
            acc = cupy.zeros((3, C), cupy.int64)
            for _ in range(n):
                tp, pc, rc, bad = cc.class_counts_cupy(cp_, ct_, num_classes=C, ignore_index=255)
                acc[0] += tp
                acc[1] += pc
                acc[2] += rc
            return acc

        np.testing.assert_array_equal(host(run_cupy())[0], n * np.diag(cm))
        sec = timeit(run_cupy, cupy_sync, 3, 1)
        rate = px / statistics.median(sec) / 1e9
        row("stream", f"cupy kernel update, {n} x {shape}", sec, extra=f"  {rate:8.1f} Gpixel/s")
        note("stream", "cupy_gpix_s", rate)
        ran = True
    except Skip as exc:
        print(f"  cupy: skipped ({exc})")
    if not ran:
        raise Skip("neither JAX on an accelerator nor CuPy is available")


def sums_fused(args):
    """CuPy ``dice_loss`` forward with the fused statistics against the previous path."""
    cupy = cupy_device()
    import regionloss
    from regionloss._kernels import fused_cupy as F
    from regionloss._kernels import sums as S

    shape = (4, 256, 256, 4) if args.quick else (16, 1024, 1024, 4)
    C = shape[-1]
    rng = np.random.default_rng(1)
    x_np = rng.standard_normal(shape, dtype=np.float32)
    y_np = rng.integers(0, C, size=shape[:-1])
    y_ig = np.where(rng.random(shape[:-1]) < 0.05, 255, y_np)
    for layout in ("channels-last", "channels-first"):
        if layout == "channels-last":
            x, axis = cupy.asarray(x_np), -1
        else:
            x, axis = cupy.ascontiguousarray(cupy.moveaxis(cupy.asarray(x_np), -1, 1)), 1
        y, yi = cupy.asarray(y_np), cupy.asarray(y_ig)
        key = f"fused dice_loss forward {tuple(x.shape)} float32 {layout} + int64 labels"
        bound = (x.nbytes + y.nbytes) / bandwidth()
        print(f"\n  {key}; read-once bound (logits + labels) {bound * 1e3:.4f} ms", flush=True)

        def loss(labels=y, **kw):
            return regionloss.dice_loss(x, labels, class_axis=axis, **kw)

        def previous(labels=y, **kw):
            S.USE_FUSED_STATISTICS = False
            try:
                return loss(labels, **kw)
            finally:
                S.USE_FUSED_STATISTICS = True

        def kernel_only():
            return F.soft_stats_from_logits(
                x, y, None, class_axis=axis, activation="softmax", num_classes=C,
                sum_axes=tuple(a for a in range(1, x.ndim) if a != axis % x.ndim))

        for kw in ({}, {"ignore_index": 255}):
            lab = yi if kw else y
            np.testing.assert_allclose(host(loss(lab, **kw)), host(previous(lab, **kw)),
                                       rtol=1e-5)
        base = row(key, "previous path (probabilities, one-hot, soft_sums)",
                   timeit(previous, cupy_sync, args.repeats), bound=bound)
        med = row(key, "fused statistics (one kernel from logits + labels)",
                  timeit(loss, cupy_sync, args.repeats), bound=bound, base=base)
        note("sums", f"fused_dice_x_bound_{layout}", med / bound)
        row(key, "fused kernel alone (soft_stats_from_logits)",
            timeit(kernel_only, cupy_sync, args.repeats), bound=bound, base=base)
        if layout == "channels-last":
            base_i = row(key, "previous path, ignore_index=255 (5 %)",
                         timeit(lambda: previous(yi, ignore_index=255), cupy_sync,
                                args.repeats), bound=bound)
            row(key, "fused statistics, ignore_index=255 (5 %)",
                timeit(lambda: loss(yi, ignore_index=255), cupy_sync, args.repeats),
                bound=bound, base=base_i)
        del x, y, yi
        cupy.get_default_memory_pool().free_all_blocks()


def sec_sums(args):
    cupy = cupy_device()
    from regionloss._kernels import sums as S

    sums_fused(args)

    shape = (4, 256, 256, 4) if args.quick else (16, 1024, 1024, 4)
    rng = np.random.default_rng(0)
    p_np = rng.random(shape, dtype=np.float32)
    y_np = (rng.random(shape) < 0.25).astype(np.float32)
    w_np = (rng.random(shape[:-1] + (1,)) < 0.95).astype(np.float32)
    for layout in ("channels-last", "channels-first"):
        if layout == "channels-last":
            p, y, w = cupy.asarray(p_np), cupy.asarray(y_np), cupy.asarray(w_np)
            axes = tuple(range(1, len(shape) - 1))
        else:
            mv = lambda a: cupy.ascontiguousarray(cupy.moveaxis(cupy.asarray(a), -1, 1))  # noqa: E731
            p, y, w = mv(p_np), mv(y_np), mv(w_np)
            axes = tuple(range(2, len(shape)))
        ref = [a.astype(np.float64).sum(axis=tuple(range(1, len(shape) - 1)))
               for a in (p_np * y_np, p_np, y_np)]
        refw = [(a * w_np).astype(np.float64).sum(axis=tuple(range(1, len(shape) - 1)))
                for a in (p_np * y_np, p_np, y_np)]
        key = f"soft sums {shape} float32 {layout}, per sample"
        bound = 2 * p.nbytes / bandwidth()
        boundw = (2 * p.nbytes + w.nbytes) / bandwidth()
        print(f"\n  {key}; read-once bound {bound * 1e3:.4f} ms ({boundw * 1e3:.4f} with weight)",
              flush=True)

        def plain():
            return (cupy.sum(p * y, axis=axes), cupy.sum(p, axis=axes), cupy.sum(y, axis=axes))

        def plain_w():
            pw = p * w
            return (cupy.sum(pw * y, axis=axes), cupy.sum(pw, axis=axes),
                    cupy.sum(y * w, axis=axes))

        def fused():
            return S.soft_sums(p, y, None, sum_axes=axes)

        def fused_w():
            return S.soft_sums(p, y, w, sum_axes=axes)

        def generic_w():
            import array_api_compat.cupy as xp

            return S._generic_soft_sums(xp, p, y, w, axes, False)

        for fn, want in ((plain, ref), (fused, ref), (fused_w, refw), (generic_w, refw)):
            for g, e in zip(fn(), want):
                np.testing.assert_allclose(host(g), e, rtol=1e-4)
        base = row(key, "plain cupy: sum(p*y), sum(p), sum(y)",
                   timeit(plain, cupy_sync, args.repeats), bound=bound)
        row(key, "soft_sums (one-pass kernel)", timeit(fused, cupy_sync, args.repeats),
            bound=bound, base=base)
        basew = row(key, "plain cupy with weight (products, 3 sums)",
                    timeit(plain_w, cupy_sync, args.repeats), bound=boundw)
        row(key, "soft_sums with weight (one-pass kernel)",
            timeit(fused_w, cupy_sync, args.repeats), bound=boundw, base=basew)
        row(key, "generic soft_sums with weight (where + sum_over)",
            timeit(generic_w, cupy_sync, args.repeats), bound=boundw, base=basew)
        # sum_over alternatives on one array
        key2 = f"sum over spatial axes {shape} float32 {layout}"
        b1 = p.nbytes / bandwidth()
        want1 = ref[1]
        print(f"\n  {key2}; read-once bound {b1 * 1e3:.4f} ms", flush=True)

        def direct():
            return cupy.sum(p, axis=axes)

        def ones_matmul():
            if layout == "channels-last":
                x3 = p.reshape(shape[0], -1, shape[-1])
                return cupy.matmul(cupy.ones((1, x3.shape[1]), cupy.float32), x3)[:, 0, :]
            x3 = p.reshape(shape[0] * shape[-1], -1)
            return cupy.matmul(x3, cupy.ones(x3.shape[1], cupy.float32)).reshape(shape[0], -1)

        def transposed():
            if layout == "channels-last":
                q = cupy.ascontiguousarray(cupy.moveaxis(p, -1, 1))
                return q.reshape(shape[0], shape[-1], -1).sum(-1)
            return p.reshape(shape[0], shape[-1], -1).sum(-1)

        candidates = {"cupy.sum directly": direct, "sum_over (two-stage, default split)":
                      lambda: S.sum_over(p, axes), "matmul against ones": ones_matmul,
                      "transposed copy + trailing sum": transposed}
        for split in (2048, 32768, 131072):
            candidates[f"sum_over split {split}"] = (
                lambda split=split: S._cupy_sum_over(p, axes, split_len=split))
        base2 = None
        for name, fn in candidates.items():
            np.testing.assert_allclose(host(fn()), want1, rtol=1e-4)
            reps = 3 if name == "cupy.sum directly" and not args.quick else args.repeats
            med = row(key2, name, timeit(fn, cupy_sync, reps, 1), bound=b1, base=base2)
            base2 = base2 or med
        del p, y, w
        cupy.get_default_memory_pool().free_all_blocks()


def sec_torch(args):
    torch = torch_cuda()
    from regionloss._kernels import sums as S

    shape = (4, 4, 256, 256) if args.quick else (16, 4, 1024, 1024)
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(shape, device="cuda", generator=g)
    y = (torch.rand(shape, device="cuda", generator=g) < 0.25).float()
    w = (torch.rand((shape[0], 1) + shape[2:], device="cuda", generator=g) < 0.95).float()
    axes = (2, 3)
    bound = (3 * x.numel() * 4) / bandwidth()   # logits and target read, gradient written
    key = f"torch CUDA soft-Dice fwd+bwd {shape} channels-first"
    print(f"\n  {key}; bound {bound * 1e3:.4f} ms", flush=True)

    def dice(tp, ps, ys):
        return torch.mean(1 - (2 * tp + 1e-5) / (ps + ys + 1e-5))

    def plain():
        xx = x.detach().requires_grad_(True)
        p = torch.softmax(xx, 1)
        v = dice(torch.sum(p * y, axes), torch.sum(p, axes), torch.sum(y, axes))
        v.backward()
        return v

    def plain_w():
        xx = x.detach().requires_grad_(True)
        p = torch.softmax(xx, 1) * w
        v = dice(torch.sum(p * y, axes), torch.sum(p, axes), torch.sum(y * w, axes))
        v.backward()
        return v

    def ours(weight):
        def run():
            xx = x.detach().requires_grad_(True)
            v = dice(*S.soft_sums(torch.softmax(xx, 1), y, weight, sum_axes=axes))
            v.backward()
            return v
        return run

    np.testing.assert_allclose(float(ours(None)()), float(plain()), rtol=1e-5)
    np.testing.assert_allclose(float(ours(w)()), float(plain_w()), rtol=1e-5)
    base = row(key, "plain torch (no weight)", timeit(plain, torch_sync, args.repeats),
               bound=bound)
    row(key, "soft_sums (no weight)", timeit(ours(None), torch_sync, args.repeats),
        bound=bound, base=base)
    basew = row(key, "plain torch (weight multiplied)", timeit(plain_w, torch_sync, args.repeats),
                bound=bound)
    row(key, "soft_sums (weight, where-selected)", timeit(ours(w), torch_sync, args.repeats),
        bound=bound, base=basew)


FUNCS = {"bw": sec_bw, "count_cupy": sec_count_cupy, "count_jax": sec_count_jax,
         "stream": sec_stream, "sums": sec_sums, "torch": sec_torch}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small shapes: a smoke run")
    ap.add_argument("--repeats", type=int, default=None, help="timed calls (20; 5 quick)")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--only", nargs="*", default=None, choices=SECTIONS)
    ap.add_argument("--cpu", action="store_true",
                    help="run the JAX sections on a CPU-only machine too")
    ap.add_argument("--full-cpu", action="store_true",
                    help="with --cpu: the full (16, 1024, 1024) maps (slow)")
    args = ap.parse_args(argv)
    if args.repeats is None:
        args.repeats = 5 if args.quick else 20
    if args.json:
        JSON_PATH.append(args.json)
    try:
        import jax

        print(f"jax {jax.__version__} {jax.devices()}", flush=True)
    except ImportError:
        print("jax not installed")
    for name in SECTIONS:
        if args.only and name not in args.only:
            continue
        print(f"\n=== {name}", flush=True)
        t0 = time.perf_counter()
        try:
            FUNCS[name](args)
        except Skip as exc:
            print(f"  skipped: {exc}")
            RESULTS["skipped"][name] = str(exc)
        except Exception as exc:  # noqa: BLE001 - report and go on
            traceback.print_exc()
            RESULTS["errors"][name] = f"{type(exc).__name__}: {exc}"
        print(f"--- {name}: {time.perf_counter() - t0:.1f} s", flush=True)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(RESULTS, fh, indent=1, default=str)
    return 1 if RESULTS["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
