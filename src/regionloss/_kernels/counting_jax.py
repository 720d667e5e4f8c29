"""Confusion and per-class counts of JAX label maps, in formulations that avoid scatter.

``jnp.bincount`` is a scatter-add: on a GPU it serialises its atomic increments on the
few bins most pixels hit (the diagonal, when prediction and reference mostly agree), so a
count over 16 M pixels took 3.97 ms on an H200 where reading the labels once takes
0.03 ms. The formulations here count with what XLA fuses instead:

``"scatter"``
    ``jnp.bincount`` of the joint index ``target * C + pred`` (static ``length``, spare
    bin for invalid and ignored pixels). One pass, O(1) work per pixel, atomics.
``"compare"``
    Compare-and-sum: ``sum(t == c)`` for every class as *one* reduction of a broadcast
    comparison, pixels split into rows of ``_COMPARE_ROW`` (``(rows, 3, C, _COMPARE_ROW)``
    summed over the last, contiguous axis, then over rows), so that XLA reads every label
    once for all classes. O(C) comparisons per pixel for class counts, O(C**2) for the
    matrix.
``"sums"``
    The same comparisons as a list of separate scalar sums, one per class and kind (the
    formulation measured on the H200: 1.04 ms for the class counts of 16 M pixels, 19
    classes); kept for benchmarks.
``"pallas"``
    A Pallas kernel (Triton on GPUs; the interpreter on CPUs): each program counts
    ``_PALLAS_SUB * _PALLAS_STEPS`` pixels in a loop, comparing a tile of labels with the
    classes (class counts) or multiplying one-hot tiles in registers (the matrix, float32
    accumulation of at most 16384 ones: exact), and writes one row of partial counts;
    XLA sums the rows, and the pixels after the last full program (fewer than one
    program's) are counted by ``"compare"`` / ``"matmul"``. One read of the labels, no
    one-hot in memory, no atomics. For ``C <= 128``.
``"matmul"``
    One-hot products: ``one_hot(t)^T @ one_hot(p)`` per block of pixels, in bfloat16 on
    accelerators (float32 on CPU) with float32 accumulation. Exact: every cell of a
    block's product is an integer of at most the block's pixel count, which is kept at
    or below ``2**24`` (float32 holds every integer up to ``2**24`` exactly, whatever the
    summation order); blocks are summed in the count dtype. Materialises the one-hots
    (``pixels * C`` values), so it is for small ``C``.

``method="auto"`` chooses by platform and ``C`` (:func:`choose_method`):

* CPU: ``"scatter"`` everywhere (25x or more ahead of every other formulation on a
  2-core x86 machine; figures in :func:`choose_method`).
* GPU / TPU: class counts by ``"compare"`` up to ``_COMPARE_MAX_CLASSES`` classes, the
  confusion matrix by ``"compare"`` for ``C * C <= 64``, by ``"matmul"`` up to
  ``_MATMUL_MAX_CLASSES``, else ``"scatter"`` (H200, 16 M pixels, 19 classes:
  compare-and-sum 1.04 ms, one-hot matmul 2.05 ms, scatter 3.97 ms).

All formulations give identical counts (``tests/kernels/test_counting_gpu.py``). Counts
are int64 with ``jax_enable_x64``, else int32 (which wraps past ``2**31 - 1`` pixels in
one cell: count per batch and accumulate on the host, or enable x64). Everything is
static-shaped and works under ``jit`` and ``vmap``; ``per_sample`` is a ``vmap`` over
axis 0 of the pooled count.

References
----------
.. [1] XLA operation semantics, "Scatter", "Reduce" and "DotGeneral",
   https://openxla.org/xla/operation_semantics
"""

from __future__ import annotations

import operator

import numpy as np

__all__ = [
    "confusion_counts_jax",
    "class_counts_jax",
    "choose_method",
    "platform_of",
    "METHODS",
]

METHODS = ("auto", "scatter", "compare", "sums", "matmul", "pallas")

# Row length of the "compare" layout: the summed axis is contiguous and this long.
_COMPARE_ROW = 1024
# "auto" on accelerators: compare-and-sum does O(C) work per pixel for class counts and
# O(C**2) for the matrix; the matmul materialises (pixels, C) one-hots.
_COMPARE_MAX_CLASSES = 64
_COMPARE_MAX_CELLS = 64          # the matrix by "compare" only for C*C <= 64 (C <= 8)
_MATMUL_MAX_CLASSES = 32
# Pixels per matmul block: integers up to 2**24 are exact in float32.
_MATMUL_MAX_BLOCK = 2**24
# Largest C each small-C formulation accepts ((method, class_counts) -> C): the matrix by
# comparisons costs C*C per pixel, "sums" is C*C (or 3*C) separate reductions, and the
# matmul materialises (pixels, C) one-hots.
_SMALL_FORMULATION_CLASSES = {
    ("compare", False): 32, ("sums", False): 32, ("sums", True): 256,
    ("compare", True): 1024, ("matmul", False): 1024, ("matmul", True): 1024,
    ("pallas", False): 128, ("pallas", True): 128,
}
# "pallas": pixels per loop step and steps per program (a program counts
# _PALLAS_SUB * _PALLAS_STEPS pixels; both powers of two, as Triton blocks must be).
_PALLAS_SUB = 256
_PALLAS_STEPS = 64


def _jax():
    import jax
    import jax.numpy as jnp

    return jax, jnp


def count_dtype():
    """int64 with ``jax_enable_x64``, else int32."""
    jax, jnp = _jax()
    return jnp.int64 if jax.config.jax_enable_x64 else jnp.int32


def platform_of(x) -> str:
    """``'cpu'``, ``'gpu'``, ``'tpu'``, ...: where ``x`` lives, or where ``jit`` compiles
    to (``jax.default_backend()``) when ``x`` is a tracer."""
    jax, _ = _jax()
    if not isinstance(x, jax.core.Tracer):
        try:
            return next(iter(x.devices())).platform
        except Exception:  # noqa: BLE001 - not a committed single array
            pass
    return jax.default_backend()


def choose_method(platform: str, num_classes: int, *, class_counts: bool) -> str:
    """The formulation ``method="auto"`` uses.

    ===========  ===============================  =====================================
    platform     class counts (tp, pred, ref)     confusion matrix
    ===========  ===============================  =====================================
    cpu          scatter                          scatter
    gpu, tpu     compare (C <= 64), else scatter  compare (C <= 8), matmul (C <= 32),
                                                  else scatter
    ===========  ===============================  =====================================

    Numbers behind it, label maps of (16, 1024, 1024) int32, 19 classes, 5 % ignored,
    under ``jit`` (``benchmarks/bench_gpu.py``):

    * CPU (2 x86 cores, jax 0.10.2, median of 3; ``--cpu --full-cpu``): class counts
      (then IoU) by scatter 104 ms (``jnp.bincount`` by hand 88 ms), matmul 2.5 s, sums
      4.9 s, compare 5.2 s; the matrix by scatter 87 ms, matmul 4.5 s, compare over a
      minute. Scatter wins by 25x or more: the CPU has no atomics to contend on.
    * H200 (jax 0.11.2): scatter bincount 3.97 ms; compare-and-sum as separate per-class
      sums (``"sums"``) 1.04 ms for the class counts; bfloat16 one-hot matmul 2.05 ms for
      the matrix. ``"compare"`` is the same comparisons as one fused reduction, chosen over
      ``"sums"`` for reading the labels once instead of once per fused group; the
      ``count_jax`` rows of ``bench_gpu.py`` on the device confirm or revise these
      choices, and the C sweep there places the thresholds (``_COMPARE_MAX_CLASSES``,
      ``_MATMUL_MAX_CLASSES``, ``_COMPARE_MAX_CELLS``), which are estimates until then.
    * ``"pallas"`` is opt-in (``method="pallas"``).
    """
    if platform == "cpu":
        return "scatter"
    C = num_classes
    if class_counts:
        return "compare" if C <= _COMPARE_MAX_CLASSES else "scatter"
    if C * C <= _COMPARE_MAX_CELLS:
        return "compare"
    return "matmul" if C <= _MATMUL_MAX_CLASSES else "scatter"


# --------------------------------------------------------------------------- inputs


def _check(pred, target, num_classes, ignore_index, per_sample, method):
    jax, jnp = _jax()
    for name, a in (("pred", pred), ("target", target)):
        dt = np.dtype(a.dtype)
        if dt.kind not in "iub":
            raise TypeError(f"{name} must be an integer or bool label map, got dtype {dt}")
    if tuple(pred.shape) != tuple(target.shape):
        raise ValueError(f"pred and target must have the same shape, got pred "
                         f"{tuple(pred.shape)} and target {tuple(target.shape)}")
    if isinstance(num_classes, bool):
        raise TypeError(f"num_classes must be an integer, got {num_classes!r}")
    C = operator.index(num_classes)
    if C < 1:
        raise ValueError(f"num_classes must be >= 1, got {C}")
    if ignore_index is not None:
        if isinstance(ignore_index, bool):
            raise TypeError(f"ignore_index must be an int or None, got {ignore_index!r}")
        ignore_index = operator.index(ignore_index)
    if per_sample and pred.ndim < 1:
        raise ValueError("per_sample=True needs a sample axis 0; got a 0-d label map")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return C, ignore_index


def _check_method(method, C, class_counts):
    """Refuse formulations whose work or program size grows too fast with ``C``."""
    limit = _SMALL_FORMULATION_CLASSES[(method, class_counts)] if (
        (method, class_counts) in _SMALL_FORMULATION_CLASSES) else None
    if limit is not None and C > limit:
        what = "class counts" if class_counts else "the confusion matrix"
        raise ValueError(
            f"method={method!r} computes {what} of {C} classes with too many comparisons "
            f"(or separate reductions); it is for C <= {limit}: use 'scatter' or 'auto'")


def _dtype_range(dt):
    dt = np.dtype(dt)
    if dt.kind == "b":
        return 0, 1
    info = np.iinfo(dt)
    return int(info.min), int(info.max)


def _codes(x, C):
    """Class index of every label as int32, -1 outside ``[0, C)``; the range test runs
    in the label's own dtype (no wrap of a wide label into range)."""
    _, jnp = _jax()
    if x.dtype == jnp.bool_:
        x = x.astype(jnp.int32)
    lo, hi = _dtype_range(x.dtype)
    ok = None
    if lo < 0:
        ok = x >= jnp.asarray(0, dtype=x.dtype)
    if C <= hi:
        below = x < jnp.asarray(C, dtype=x.dtype)
        ok = below if ok is None else ok & below
    wide = x.astype(jnp.int32)   # exact where ok: C - 1 < 2**31
    return wide if ok is None else jnp.where(ok, wide, -1)


def _valid_codes(pred, target, C, ignore_index):
    """``(tv, pv, n_bad)``: class codes (int32, flat) that are -1 unless the pixel is
    valid (reference not ignored, both labels in range), and the invalid-pixel count."""
    _, jnp = _jax()
    t = target.reshape(-1) if target.ndim != 1 else target
    p = pred.reshape(-1) if pred.ndim != 1 else pred
    tc, pc = _codes(t, C), _codes(p, C)
    lo, hi = _dtype_range(t.dtype)
    valid = (tc >= 0) & (pc >= 0)
    if ignore_index is not None and lo <= ignore_index <= hi:
        if t.dtype == jnp.bool_:
            scored = t != bool(ignore_index)
        else:
            scored = t != jnp.asarray(ignore_index, dtype=t.dtype)
        n_bad = jnp.sum(scored & ~valid, dtype=count_dtype())
        valid = valid & scored
    else:
        n_bad = jnp.sum(~valid, dtype=count_dtype())
    tv = jnp.where(valid, tc, -1)
    pv = jnp.where(valid, pc, -1)
    return tv, pv, n_bad


# --------------------------------------------------------------------------- formulations
# Each takes flat valid codes (P,) and returns int counts; (C, C) or (3, C).


def _scatter_matrix(tv, pv, C):
    _, jnp = _jax()
    cells = C * C
    idx_dtype = jnp.int32 if cells + 1 < 2**31 else jnp.int64
    joint = jnp.where(tv >= 0, tv.astype(idx_dtype) * C + pv.astype(idx_dtype), cells)
    counts = jnp.bincount(joint, length=cells + 1)[:cells]
    return counts.astype(count_dtype()).reshape(C, C)


def _scatter_classes(tv, pv, C):
    _, jnp = _jax()
    if C <= 1024:
        m = _scatter_matrix(tv, pv, C)
        return jnp.stack([jnp.diagonal(m), jnp.sum(m, axis=0), jnp.sum(m, axis=1)])

    def count(keep, code):
        return jnp.bincount(jnp.where(keep, code, C), length=C + 1)[:C]

    ok = tv >= 0
    out = jnp.stack([count(ok & (tv == pv), tv), count(ok, pv), count(ok, tv)])
    return out.astype(count_dtype())


def _rows(x, fill):
    """``x`` (P,) as ``(rows, _COMPARE_ROW)``, padded with ``fill`` (fused into the
    consumer by XLA)."""
    _, jnp = _jax()
    P = x.shape[0]
    k = min(_COMPARE_ROW, max(P, 1))
    rows = -(-P // k)
    if rows * k != P:
        x = jnp.pad(x, (0, rows * k - P), constant_values=fill)
    return x.reshape(rows, k)


def _compare_classes(tv, pv, C):
    _, jnp = _jax()
    ids = jnp.arange(C, dtype=jnp.int32)[None, :, None]
    t = _rows(tv, -1)[:, None, :]        # (rows, 1, k)
    p = _rows(pv, -1)[:, None, :]
    t_is, p_is = t == ids, p == ids        # (rows, C, k), never materialised
    hits = jnp.stack([t_is & p_is, p_is, t_is], axis=1)    # (rows, 3, C, k)
    per_row = jnp.sum(hits, axis=-1, dtype=jnp.int32)       # <= k per row: exact
    return jnp.sum(per_row, axis=0, dtype=count_dtype())


def _compare_matrix(tv, pv, C):
    _, jnp = _jax()
    joint = jnp.where(tv >= 0, tv * C + pv, -1)
    cells = jnp.arange(C * C, dtype=jnp.int32)[None, :, None]
    per_row = jnp.sum(_rows(joint, -1)[:, None, :] == cells, axis=-1, dtype=jnp.int32)
    return jnp.sum(per_row, axis=0, dtype=count_dtype()).reshape(C, C)


def _sums_classes(tv, pv, C):
    _, jnp = _jax()
    dt = count_dtype()
    tp = [jnp.sum((tv == c) & (pv == c), dtype=dt) for c in range(C)]
    pc = [jnp.sum(pv == c, dtype=dt) for c in range(C)]
    rc = [jnp.sum(tv == c, dtype=dt) for c in range(C)]
    return jnp.stack([jnp.stack(tp), jnp.stack(pc), jnp.stack(rc)])


def _sums_matrix(tv, pv, C):
    _, jnp = _jax()
    dt = count_dtype()
    rows = [jnp.stack([jnp.sum((tv == r) & (pv == c), dtype=dt) for c in range(C)])
            for r in range(C)]
    return jnp.stack(rows)


def _matmul_block(C):
    """Pixels per one-hot block: large enough that the (blocks, C, C) partial products
    stay small next to the labels, at most ``2**24`` (exact in float32)."""
    want = max(4096, 4 * C * C)
    return min(_MATMUL_MAX_BLOCK, 1 << (want - 1).bit_length())


def _matmul_matrix(tv, pv, C, platform):
    jax, jnp = _jax()
    oh_dtype = jnp.float32 if platform == "cpu" else jnp.bfloat16
    P = tv.shape[0]
    k = min(_matmul_block(C), max(P, 1))
    m = P // k
    total = jnp.zeros((C, C), dtype=count_dtype())

    def block_counts(t, p):   # (b, k) codes -> (C, C) counts, exact per block
        a = jax.nn.one_hot(t, C, dtype=oh_dtype)
        b = jax.nn.one_hot(p, C, dtype=oh_dtype)
        prod = jnp.einsum("bkc,bkd->bcd", a, b, preferred_element_type=jnp.float32)
        return jnp.sum(prod.astype(count_dtype()), axis=0)

    if m:
        total = total + block_counts(tv[:m * k].reshape(m, k), pv[:m * k].reshape(m, k))
    if m * k != P:
        total = total + block_counts(tv[m * k:].reshape(1, -1), pv[m * k:].reshape(1, -1))
    return total


def _matmul_classes(tv, pv, C, platform):
    _, jnp = _jax()
    m = _matmul_matrix(tv, pv, C, platform)
    return jnp.stack([jnp.diagonal(m), jnp.sum(m, axis=0), jnp.sum(m, axis=1)])


def _pallas_counts(tv, pv, C, platform, class_counts):
    """Counts of the pixels of the full programs by the Pallas kernel, the rest by XLA."""
    jax, jnp = _jax()
    from jax.experimental import pallas as pl

    CP = max(16, 1 << (C - 1).bit_length())     # classes padded to a power of two
    sub, steps = _PALLAS_SUB, _PALLAS_STEPS
    block = sub * steps
    P = tv.shape[0]
    G = P // block
    interpret = platform == "cpu"
    dt = count_dtype()
    if class_counts:
        total = jnp.zeros((3, C), dt)
    else:
        total = jnp.zeros((C, C), dt)
    if G:
        def classes_kernel(t_ref, p_ref, tp_ref, pc_ref, rc_ref):
            ids = jnp.arange(CP, dtype=jnp.int32)[None, :]

            def body(i, acc):
                ti = t_ref[pl.ds(i * sub, sub)][:, None] == ids     # (sub, CP)
                pi = p_ref[pl.ds(i * sub, sub)][:, None] == ids
                return (acc[0] + jnp.sum(ti & pi, axis=0, dtype=jnp.int32),
                        acc[1] + jnp.sum(pi, axis=0, dtype=jnp.int32),
                        acc[2] + jnp.sum(ti, axis=0, dtype=jnp.int32))

            z = jnp.zeros((CP,), jnp.int32)
            tp, pc, rc = jax.lax.fori_loop(0, steps, body, (z, z, z))
            tp_ref[...] = tp[None, :]
            pc_ref[...] = pc[None, :]
            rc_ref[...] = rc[None, :]

        def matrix_kernel(t_ref, p_ref, m_ref):
            ids = jnp.arange(CP, dtype=jnp.int32)[None, :]

            def body(i, acc):
                a = (t_ref[pl.ds(i * sub, sub)][:, None] == ids).astype(jnp.float16)
                b = (p_ref[pl.ds(i * sub, sub)][:, None] == ids).astype(jnp.float16)
                return acc + jnp.dot(a.T, b, preferred_element_type=jnp.float32)

            acc = jax.lax.fori_loop(0, steps, body, jnp.zeros((CP, CP), jnp.float32))
            m_ref[...] = acc.astype(jnp.int32)[None]   # <= 16384 per cell: exact

        in_spec = pl.BlockSpec((block,), lambda i: (i,))
        if class_counts:
            spec = pl.BlockSpec((1, CP), lambda i: (i, 0))
            parts = pl.pallas_call(
                classes_kernel, grid=(G,), in_specs=[in_spec, in_spec], out_specs=[spec] * 3,
                out_shape=[jax.ShapeDtypeStruct((G, CP), jnp.int32)] * 3,
                interpret=interpret)(tv, pv)
            total = total + jnp.stack([jnp.sum(q.astype(dt), axis=0)[:C] for q in parts])
        else:
            spec = pl.BlockSpec((1, CP, CP), lambda i: (i, 0, 0))
            part = pl.pallas_call(
                matrix_kernel, grid=(G,), in_specs=[in_spec, in_spec], out_specs=spec,
                out_shape=jax.ShapeDtypeStruct((G, CP, CP), jnp.int32),
                interpret=interpret)(tv, pv)
            total = total + jnp.sum(part.astype(dt), axis=0)[:C, :C]
    if G * block != P:
        t_tail, p_tail = tv[G * block:], pv[G * block:]
        if class_counts:
            total = total + _compare_classes(t_tail, p_tail, C)
        else:
            total = total + _matmul_matrix(t_tail, p_tail, C, platform)
    return total


def _pooled(pred, target, C, ignore_index, method, platform, class_counts):
    """Counts of one (flattened) map pair: ``(counts, n_bad)``."""
    tv, pv, n_bad = _valid_codes(pred, target, C, ignore_index)
    if class_counts:
        if method == "scatter":
            out = _scatter_classes(tv, pv, C)
        elif method == "compare":
            out = _compare_classes(tv, pv, C)
        elif method == "sums":
            out = _sums_classes(tv, pv, C)
        elif method == "pallas":
            out = _pallas_counts(tv, pv, C, platform, True)
        else:
            out = _matmul_classes(tv, pv, C, platform)
    else:
        if method == "scatter":
            out = _scatter_matrix(tv, pv, C)
        elif method == "compare":
            out = _compare_matrix(tv, pv, C)
        elif method == "sums":
            out = _sums_matrix(tv, pv, C)
        elif method == "pallas":
            out = _pallas_counts(tv, pv, C, platform, False)
        else:
            out = _matmul_matrix(tv, pv, C, platform)
    return out.astype(count_dtype()), n_bad


def _count(pred, target, num_classes, ignore_index, per_sample, method, class_counts):
    jax, jnp = _jax()
    pred = jnp.asarray(pred)
    target = jnp.asarray(target)
    C, ignore_index = _check(pred, target, num_classes, ignore_index, per_sample, method)
    platform = platform_of(target)
    if method == "auto":
        method = choose_method(platform, C, class_counts=class_counts)
    _check_method(method, C, class_counts)
    if not per_sample:
        return _pooled(pred, target, C, ignore_index, method, platform, class_counts)
    n = pred.shape[0]
    shape = (3, C) if class_counts else (C, C)
    if n == 0:
        return (jnp.zeros((0,) + shape, dtype=count_dtype()),
                jnp.zeros((), dtype=count_dtype()))
    flat = (n, -1)
    counts, bad = jax.vmap(
        lambda p, t: _pooled(p, t, C, ignore_index, method, platform, class_counts)
    )(pred.reshape(flat), target.reshape(flat))
    return counts, jnp.sum(bad, dtype=count_dtype())


# --------------------------------------------------------------------------- public


def confusion_counts_jax(pred, target, *, num_classes, ignore_index=None, per_sample=False,
                         method="auto"):
    """Confusion counts of two JAX label maps (rows = reference, columns = prediction).

    .. math::
        M_{rc} = \\#\\{i : t_i = r,\\; p_i = c,\\; t_i \\ne \\text{ignore}\\}

    Parameters
    ----------
    pred, target : JAX arrays of one shape
        Predicted and reference label maps, any integer dtype or bool.
    num_classes : int
        ``C``; labels outside ``[0, C)`` are invalid.
    ignore_index : int or None
        Reference label whose pixels leave every count. Any Python int; one the
        reference's dtype cannot hold matches nothing.
    per_sample : bool
        Count each sample (axis 0) apart.
    method : {"auto", "scatter", "compare", "sums", "matmul", "pallas"}
        The formulation (module docstring); ``"auto"``: :func:`choose_method`.

    Returns
    -------
    counts : int array, (C, C) or (N, C, C)
        int64 with ``jax_enable_x64``, else int32.
    n_bad : int array, 0-d
        Pixels whose reference is not ``ignore_index`` and whose reference or prediction
        lies outside ``[0, C)``; they are in no count.
    """
    return _count(pred, target, num_classes, ignore_index, per_sample, method, False)


def class_counts_jax(pred, target, *, num_classes, ignore_index=None, per_sample=False,
                     method="auto"):
    """One-vs-rest counts per class of two JAX label maps.

    Over the valid pixels (reference not ``ignore_index``, both labels in ``[0, C)``)::

        tp[c] = #{t = c and p = c},  pred_count[c] = #{p = c},  ref_count[c] = #{t = c}

    Parameters
    ----------
    pred, target, num_classes, ignore_index, per_sample, method
        As in :func:`confusion_counts_jax`.

    Returns
    -------
    tp, pred_count, ref_count : int arrays, (C,) or (N, C)
    n_bad : int array, 0-d
    """
    out, n_bad = _count(pred, target, num_classes, ignore_index, per_sample, method, True)
    return out[..., 0, :], out[..., 1, :], out[..., 2, :], n_bad
