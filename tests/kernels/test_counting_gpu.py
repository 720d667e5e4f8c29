"""GPU counting kernels: CuPy shared-memory histogram and JAX scatter-free formulations.

Three layers of evidence, so that the CUDA code is exercised on machines without a GPU:

* **CPU emulation** of the CUDA kernels (``_cuda_emulation``): the kernel source is
  compiled by the host C++ compiler with a small CUDA shim (one POSIX thread per CUDA
  thread, a barrier for ``__syncthreads``, real atomics, shared memory filled with garbage
  before each block), and the module's own Python code runs against a NumPy stand-in for
  CuPy whose ``RawModule`` launches the emulated kernel. Checked against an
  ``np.add.at`` reference.
* **nvcc**: every template instantiation compiles for sm_90 (where nvcc is installed).
* **CuPy on a GPU** (skipped elsewhere): the RawKernel against the pure-CuPy reference
  over every integer dtype, both layouts, C across the shared-memory limits.

The JAX formulations run on the CPU here (hypothesis over shapes, dtypes, C and
``ignore_index``, labels out of range, ``ignore_index`` outside the dtype's range).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from regionloss._kernels import counting_cupy as cc

from ._cuda_emulation import CUPY_REASON, fake_cupy
from ._cuda_emulation import have_cxx as _have_cxx

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

INT_DTYPES = [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32,
              np.int64, np.uint64]


# --------------------------------------------------------------------------- reference


def reference_counts(pred, target, C, ignore_index, per_sample):
    """``(counts, n_bad)`` by ``np.add.at`` over exact Python-int labels."""
    pred = np.asarray(pred)
    target = np.asarray(target)
    n = pred.shape[0] if per_sample else 1
    per = pred.size // n if n else 0
    t = target.reshape(n, per).astype(object)
    p = pred.reshape(n, per).astype(object)
    t = np.vectorize(int, otypes=[object])(t) if t.size else t
    p = np.vectorize(int, otypes=[object])(p) if p.size else p
    ignored = (t == ignore_index) if ignore_index is not None else np.zeros(t.shape, bool)
    in_range = (t >= 0) & (t < C) & (p >= 0) & (p < C)
    valid = in_range & ~ignored
    counts = np.zeros((n, C, C), np.int64)
    rows = np.nonzero(valid)
    np.add.at(counts, (rows[0], t[valid].astype(np.int64), p[valid].astype(np.int64)), 1)
    n_bad = int(np.count_nonzero(~in_range & ~ignored))
    return (counts if per_sample else counts[0]), n_bad


def class_reference(counts):
    return (np.diagonal(counts, axis1=-2, axis2=-1), counts.sum(-2), counts.sum(-1))


def label_maps(rng, shape, dtype, C, *, bad_fraction=0.1, ignore_index=None):
    """Random label maps of ``dtype``: mostly classes, some extreme or out-of-range
    values, some ``ignore_index`` (where the dtype holds it)."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return (rng.integers(0, 2, shape).astype(bool), rng.integers(0, 2, shape).astype(bool))
    info = np.iinfo(dtype)
    extremes = [v for v in (C, C + 1, 255, 256, 300, -1, -128, int(info.max), int(info.min),
                            2**31, 2**63 - 1, 2**63, 2**64 - 1)
                if info.min <= v <= info.max]
    extremes = np.array(extremes, dtype=object)

    def one():
        base = rng.integers(0, min(C, int(info.max) + 1), shape).astype(object)
        odd = rng.random(shape) < bad_fraction
        if odd.any():
            base[odd] = rng.choice(extremes, int(odd.sum()))
        if ignore_index is not None and info.min <= ignore_index <= info.max:
            base[rng.random(shape) < 0.1] = ignore_index
        return np.array(base.tolist() if base.ndim else base.item(), dtype=object).astype(dtype)

    return one(), one()


@pytest.fixture
def emulated(monkeypatch):
    """The counting module running its CUDA kernel on the CPU (NumPy in, NumPy out)."""
    if not _have_cxx():
        pytest.skip("no host C++ compiler (g++) to emulate the CUDA kernel")
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy())
    monkeypatch.setattr(cc, "_KERNELS", {})
    monkeypatch.setattr(cc, "_DEVICE_SMS", {})
    return cc


def _emu_cases():
    """(target dtype, pred dtype, C, ignore_index, per_sample) covering every mode."""
    same = [(d, d) for d in INT_DTYPES]
    mixed = [(np.uint8, np.int64), (np.int64, np.uint8), (np.bool_, np.int32),
             (np.uint64, np.int8), (np.int16, np.uint32)]
    cases = []
    rng = np.random.default_rng(7)
    ignores = [None, 255, -1, 0, 300]
    for i, (td, pd) in enumerate(same + mixed):
        for C in (1, 2, 19, 110, 111, 150):
            cases.append((td, pd, C, ignores[(i + C) % 5], bool(rng.integers(0, 2))))
    return cases


@pytest.mark.parametrize("td,pd,C,ignore_index,per_sample", _emu_cases())
def test_emulated_kernel_matches_reference(emulated, td, pd, C, ignore_index, per_sample):
    rng = np.random.default_rng(C * 1000 + INT_DTYPES.index(td) * 10 + INT_DTYPES.index(pd))
    shape = (3, 7, 11)   # 77 pixels per sample: not a multiple of the block size
    t, _ = label_maps(rng, shape, td, C, ignore_index=ignore_index)
    _, p = label_maps(rng, shape, pd, C)
    want, want_bad = reference_counts(p, t, C, ignore_index, per_sample)
    kw = dict(num_classes=C, ignore_index=ignore_index, per_sample=per_sample, threads=32,
              blocks=3)
    counts, n_bad = emulated.confusion_counts_cupy(p, t, **kw)
    assert counts.dtype == np.int64 and n_bad.dtype == np.int64 and n_bad.shape == ()
    np.testing.assert_array_equal(counts, want)
    assert int(n_bad) == want_bad
    tp, pc, rc, n_bad2 = emulated.class_counts_cupy(p, t, **kw)
    for got, exp in zip((tp, pc, rc), class_reference(want)):
        np.testing.assert_array_equal(got, exp)
    assert int(n_bad2) == want_bad
    # the reference path (the oracle on a GPU) agrees as well
    ref, ref_bad = emulated.confusion_counts_reference(p, t, num_classes=C,
                                                       ignore_index=ignore_index,
                                                       per_sample=per_sample)
    np.testing.assert_array_equal(ref, want)
    assert int(ref_bad) == want_bad
    for got, exp in zip(emulated.class_counts_reference(
            p, t, num_classes=C, ignore_index=ignore_index, per_sample=per_sample)[:3],
            class_reference(want)):
        np.testing.assert_array_equal(got, exp)


@pytest.mark.parametrize("mode_C", [(0, 5), (1, 150), (2, 150), (3, 5)])
def test_emulated_sample_loop_and_default_launch(emulated, mode_C):
    """More samples than grid rows (the kernel's sample loop), and the default launch
    shape (512 threads, blocks from the multiprocessor count)."""
    mode, C = mode_C
    rng = np.random.default_rng(mode)
    t, p = label_maps(rng, (5, 9, 13), np.int32, C, ignore_index=255)
    want, want_bad = reference_counts(p, t, C, 255, True)
    cells = 3 * C if mode in (2, 3) else C * C
    buf = np.zeros(5 * cells + 1, np.uint64)
    kernel = emulated._kernel(t.dtype, p.dtype, mode)
    nb = C if mode == 1 else (3 * C if mode == 2 else C * C)
    kernel((2, 2), (64,), (t, p, np.int64(5), np.int64(t.size // 5), np.int32(C),
                           np.int32(1), np.int64(255), buf, buf[5 * cells:]),
           shared_mem=4 * (nb + 1))
    out = buf[:-1].view(np.int64).reshape(5, -1)
    if mode in (2, 3):
        out = out.reshape(5, 3, C)
        for k, exp in enumerate(class_reference(want)):
            np.testing.assert_array_equal(out[:, k], exp)
    else:
        np.testing.assert_array_equal(out.reshape(5, C, C), want)
    assert int(buf[-1]) == want_bad
    # default launch through the public function
    counts, n_bad = emulated.confusion_counts_cupy(p, t, num_classes=C, ignore_index=255,
                                                   per_sample=True)
    np.testing.assert_array_equal(counts, want)
    assert int(n_bad) == want_bad


@pytest.mark.parametrize("shape,per_sample", [((0,), False), ((0, 4), True), ((3, 0), True),
                                              ((3, 0), False), ((), False)])
def test_emulated_empty_and_scalar_maps(emulated, shape, per_sample):
    t = np.zeros(shape, np.uint8)
    p = np.zeros(shape, np.uint8)
    want, want_bad = reference_counts(p, t, 4, None, per_sample)
    counts, n_bad = emulated.confusion_counts_cupy(p, t, num_classes=4, per_sample=per_sample)
    np.testing.assert_array_equal(counts, want)
    assert counts.shape == want.shape and int(n_bad) == want_bad


def test_emulated_noncontiguous_input(emulated):
    rng = np.random.default_rng(3)
    t, p = label_maps(rng, (4, 10, 12), np.int16, 6, ignore_index=-1)
    t, p = t[:, ::2, 1::3], p.transpose(0, 2, 1)[:, 1::3, ::2].transpose(0, 2, 1)
    assert t.shape == p.shape
    want, want_bad = reference_counts(p, t, 6, -1, True)
    counts, n_bad = emulated.confusion_counts_cupy(p, t, num_classes=6, ignore_index=-1,
                                                   per_sample=True, threads=64, blocks=2)
    np.testing.assert_array_equal(counts, want)
    assert int(n_bad) == want_bad


def test_reference_path_for_many_classes(emulated, monkeypatch):
    """Above the shared-memory limits the reference (bincount) path counts."""
    monkeypatch.setattr(cc, "DIAG_MAX_CLASSES", 20)
    monkeypatch.setattr(cc, "CLASS_MAX_CLASSES", 20)
    monkeypatch.setattr(cc, "FULL_MAX_CLASSES", 4)
    assert cc.kernel_mode(25, class_counts=False) is None
    assert cc.kernel_mode(25, class_counts=True) is None
    rng = np.random.default_rng(4)
    t, p = label_maps(rng, (2, 30), np.int32, 25, ignore_index=3)
    want, want_bad = reference_counts(p, t, 25, 3, False)
    counts, n_bad = cc.confusion_counts_cupy(p, t, num_classes=25, ignore_index=3)
    np.testing.assert_array_equal(counts, want)
    tp, pc, rc, bad2 = cc.class_counts_cupy(p, t, num_classes=25, ignore_index=3)
    for got, exp in zip((tp, pc, rc), class_reference(want)):
        np.testing.assert_array_equal(got, exp)
    assert int(n_bad) == int(bad2) == want_bad


# --------------------------------------------------------------------------- pure logic


def test_kernel_modes_follow_shared_memory():
    assert cc.FULL_MAX_CLASSES == 110 and (110 * 110 + 1) * 4 <= 48 * 1024 < (111 * 111 + 1) * 4
    assert (cc.CLASS_MAX_CLASSES * 3 + 1) * 4 <= 48 * 1024
    assert (cc.DIAG_MAX_CLASSES + 1) * 4 <= 48 * 1024
    assert [cc.kernel_mode(C, class_counts=False) for C in (1, 110, 111, 12287, 12288)] == \
        [0, 0, 1, 1, None]
    assert [cc.kernel_mode(C, class_counts=True) for C in (1, 110, 111, 4095, 4096)] == \
        [3, 3, 2, 2, None]


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 200_000), pixels=st.integers(1, 2**40), smem=st.integers(8, 49152),
       sms=st.integers(1, 200), threads=st.sampled_from([None, 32, 256, 1024]))
def test_launch_shape_invariants(n, pixels, smem, sms, threads):
    (gx, gy), (nt,) = cc.launch_shape(n, pixels, smem_bytes=smem, sms=sms, threads=threads)
    assert 1 <= gy <= 65535 and gy <= n and 1 <= gx < 2**31
    assert 1 <= nt <= 1024
    # a block never sees 2**31 pixels of a sample: its 32-bit bins cannot overflow
    per_block = -(-pixels // (gx * nt)) * nt
    assert per_block < 2**32 - 1
    assert gx <= max(-(-pixels // nt), -(-pixels // 2**31))


def test_launch_shape_checks_threads():
    for bad in (0, 1025):
        with pytest.raises(ValueError, match=r"threads must be in \[1, 1024\]"):
            cc.launch_shape(1, 100, smem_bytes=64, sms=1, threads=bad)


def test_emulated_counting_respects_the_kernel_thread_limit(emulated, monkeypatch):
    # a kernel whose registers allow fewer threads than asked: the launch shrinks to fit
    # (the emulator refuses a block above the limit) and the counts do not change
    from . import _cuda_emulation as E

    monkeypatch.setattr(E.EmulatedFunction, "max_threads_per_block", lambda self: 64)
    rng = np.random.default_rng(2)
    pred, target = rng.integers(0, 5, (2, 300)), rng.integers(0, 5, (2, 300))
    got = cc.confusion_counts_cupy(pred, target, num_classes=5, ignore_index=None,
                                   per_sample=True, threads=1024)
    want = np.stack([np.bincount(t * 5 + p, minlength=25).reshape(5, 5)
                     for p, t in zip(pred, target)])
    counts, n_bad = got
    np.testing.assert_array_equal(np.asarray(counts), want)
    assert int(n_bad) == 0


@pytest.mark.parametrize("dtype,ignore,want", [
    (np.uint8, 255, (1, 255)), (np.uint8, 300, (0, 0)), (np.uint8, -1, (0, 0)),
    (np.int8, -1, (1, -1)), (np.int8, 255, (0, 0)), (np.bool_, 1, (1, 1)),
    (np.bool_, 2, (0, 0)), (np.uint64, 2**64 - 1, (1, -1)), (np.uint64, 2**63, (1, -2**63)),
    (np.int64, -2**63, (1, -2**63)), (np.int32, 2**40, (0, 0)), (np.int32, None, (0, 0))])
def test_ignore_bits(dtype, ignore, want):
    assert cc._reachable_ignore(dtype, ignore) == want


def test_kernel_names():
    assert cc.kernel_name(np.uint8, np.int64, 3) == "rl_count<unsigned char, long long, 3>"
    assert cc.kernel_name(np.bool_, np.uint64, 0) == "rl_count<bool, unsigned long long, 0>"


def test_module_imports_without_cupy():
    """The module (and its reference functions) import without CuPy; calling needs it."""
    code = ("import sys; sys.modules['cupy'] = None\n"
            "from regionloss._kernels import counting_cupy, counting_jax, sums\n"
            "import numpy as np\n"
            "try:\n"
            "    counting_cupy.confusion_counts_cupy(np.zeros(3, int), np.zeros(3, int), "
            "num_classes=2)\n"
            "except ImportError:\n"
            "    print('needs cupy')\n")
    env = dict(os.environ)
    src = os.path.dirname(os.path.dirname(os.path.dirname(cc.__file__)))
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    assert out.stdout.strip() == "needs cupy"


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
def test_every_instantiation_compiles_with_nvcc(tmp_path):
    names = [cc.kernel_name(td, pd, mode) for td in INT_DTYPES for pd in INT_DTYPES
             for mode in range(4)]
    refs = ",\n".join(f"    (void*)&{n}" for n in names)
    src = tmp_path / "count.cu"
    src.write_text(cc.KERNEL_SOURCE + f"\nvoid* rl_all[] = {{\n{refs}\n}};\n")
    out = subprocess.run(["nvcc", "-std=c++17", "-arch=sm_90", "-cubin", "-Werror",
                          "all-warnings", "-o", str(tmp_path / "count.cubin"), str(src)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-4000:]


# --------------------------------------------------------------------------- JAX

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
from regionloss._kernels import counting_jax as cj  # noqa: E402

JAX_METHODS = ["scatter", "compare", "sums", "matmul"]


def _jax_dtypes():
    out = [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32]
    if jax.config.jax_enable_x64:
        out += [np.int64, np.uint64]
    return out


def _check_jax(p, t, C, ignore_index, per_sample, method, *, jit=False):
    want, want_bad = reference_counts(p, t, C, ignore_index, per_sample)
    kw = dict(num_classes=C, ignore_index=ignore_index, per_sample=per_sample, method=method)
    f = cj.confusion_counts_jax
    g = cj.class_counts_jax
    if jit:
        f = jax.jit(lambda a, b: cj.confusion_counts_jax(a, b, **kw))
        g = jax.jit(lambda a, b: cj.class_counts_jax(a, b, **kw))
        counts, n_bad = f(jnp.asarray(p), jnp.asarray(t))
        tp, pc, rc, bad2 = g(jnp.asarray(p), jnp.asarray(t))
    else:
        counts, n_bad = f(jnp.asarray(p), jnp.asarray(t), **kw)
        tp, pc, rc, bad2 = g(jnp.asarray(p), jnp.asarray(t), **kw)
    dt = jnp.int64 if jax.config.jax_enable_x64 else jnp.int32
    assert counts.dtype == dt and n_bad.dtype == dt and n_bad.shape == ()
    np.testing.assert_array_equal(np.asarray(counts), want)
    assert int(n_bad) == want_bad
    for got, exp in zip((tp, pc, rc), class_reference(want)):
        assert got.dtype == dt
        np.testing.assert_array_equal(np.asarray(got), exp)
    assert int(bad2) == want_bad


@settings(max_examples=40, deadline=None)
@given(data=st.data(), method=st.sampled_from(JAX_METHODS),
       shape=st.sampled_from([(1, 1), (2, 3), (3, 5, 7), (2, 33), (4, 1, 9)]),
       C=st.sampled_from([1, 2, 3, 19]), per_sample=st.booleans(),
       ignore_index=st.sampled_from([None, 255, -1, 0, 300, 2**40]))
def test_jax_formulations_match_reference(data, method, shape, C, per_sample, ignore_index):
    dtype = data.draw(st.sampled_from(_jax_dtypes()))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    t, _ = label_maps(rng, shape, dtype, C, ignore_index=ignore_index)
    _, p = label_maps(rng, shape, dtype, C)
    _check_jax(p, t, C, ignore_index, per_sample, method)


@pytest.mark.parametrize("method", JAX_METHODS + ["auto"])
@pytest.mark.parametrize("per_sample", [False, True])
def test_jax_under_jit(method, per_sample):
    rng = np.random.default_rng(11)
    t, p = label_maps(rng, (3, 40, 41), np.int32, 5, ignore_index=255)
    _check_jax(p, t, 5, 255, per_sample, method, jit=True)


@pytest.mark.parametrize("method", JAX_METHODS)
def test_jax_under_vmap(method):
    rng = np.random.default_rng(12)
    t, p = label_maps(rng, (4, 6, 7), np.uint8, 4, ignore_index=255)
    f = jax.vmap(lambda a, b: cj.confusion_counts_jax(a, b, num_classes=4, ignore_index=255,
                                                      method=method))
    counts, bad = f(jnp.asarray(p), jnp.asarray(t))
    want, _ = reference_counts(p, t, 4, 255, True)
    np.testing.assert_array_equal(np.asarray(counts), want)
    assert np.asarray(bad).shape == (4,)


@pytest.mark.parametrize("method", ["compare", "matmul"])
def test_jax_blocks_and_tails(method, monkeypatch):
    """Pixel counts that are not multiples of the row / block length (padding, tails)."""
    monkeypatch.setattr(cj, "_COMPARE_ROW", 16)
    monkeypatch.setattr(cj, "_MATMUL_MAX_BLOCK", 16)
    monkeypatch.setattr(cj, "_matmul_block", lambda C: 16)
    rng = np.random.default_rng(13)
    for n in (1, 17, 50):
        t, p = label_maps(rng, (2, n), np.int16, 3, ignore_index=-1)
        for per_sample in (False, True):
            _check_jax(p, t, 3, -1, per_sample, method)


@pytest.mark.parametrize("C", [1, 3, 19, 40])
def test_jax_pallas_kernel_interpreted(C, monkeypatch):
    """The Pallas kernel (interpreter on the CPU), programs of 32 pixels so that several
    programs and a tail run; class counts and the matrix, pooled and per sample, jit."""
    monkeypatch.setattr(cj, "_PALLAS_SUB", 16)
    monkeypatch.setattr(cj, "_PALLAS_STEPS", 2)
    rng = np.random.default_rng(C)
    for n, per_sample, jit in ((70, False, True), (64, True, False), (5, False, False)):
        t, _ = label_maps(rng, (2, n), np.int16, C, ignore_index=-1)
        _, p = label_maps(rng, (2, n), np.int16, C)
        _check_jax(p, t, C, -1, per_sample, "pallas", jit=jit)


def test_jax_pallas_refuses_many_classes():
    x = jnp.zeros((2, 3), jnp.int32)
    with pytest.raises(ValueError, match="pallas"):
        cj.class_counts_jax(x, x, num_classes=129, method="pallas")


def test_jax_matmul_is_exact_per_block():
    """Each matmul block holds at most 2**24 pixels, where float32 counts are exact."""
    for C in (1, 2, 19, 150, 1000, 5000):
        k = cj._matmul_block(C)
        assert 4096 <= k <= 2**24 and k & (k - 1) == 0


def test_jax_empty_per_sample():
    z = jnp.zeros((0, 4), jnp.int32)
    counts, bad = cj.confusion_counts_jax(z, z, num_classes=3, per_sample=True)
    assert counts.shape == (0, 3, 3) and int(bad) == 0
    tp, pc, rc, bad = cj.class_counts_jax(z, z, num_classes=3, per_sample=True)
    assert tp.shape == (0, 3)


def test_jax_choose_method_rule():
    assert cj.choose_method("cpu", 19, class_counts=True) == "scatter"
    assert cj.choose_method("cpu", 19, class_counts=False) == "scatter"
    assert cj.choose_method("gpu", 19, class_counts=True) == "compare"
    assert cj.choose_method("gpu", 150, class_counts=True) == "scatter"
    assert cj.choose_method("gpu", 4, class_counts=False) == "compare"
    assert cj.choose_method("gpu", 19, class_counts=False) == "matmul"
    assert cj.choose_method("gpu", 150, class_counts=False) == "scatter"
    assert cj.choose_method("tpu", 19, class_counts=True) == "compare"


def test_jax_platform_detection():
    x = jnp.zeros(3, jnp.int32)
    assert cj.platform_of(x) == jax.devices()[0].platform
    seen = []
    jax.jit(lambda a: seen.append(cj.platform_of(a)) or a)(x)
    assert seen == [jax.default_backend()]


@pytest.mark.parametrize("bad", [
    dict(num_classes=0), dict(num_classes=True), dict(num_classes=2, ignore_index=True),
    dict(num_classes=2, method="nope")])
def test_jax_option_errors(bad):
    x = jnp.zeros((2, 3), jnp.int32)
    with pytest.raises((TypeError, ValueError)):
        cj.confusion_counts_jax(x, x, **bad)


def test_jax_dtype_and_shape_errors():
    x = jnp.zeros((2, 3), jnp.int32)
    with pytest.raises(TypeError):
        cj.confusion_counts_jax(x.astype(jnp.float32), x, num_classes=2)
    with pytest.raises(ValueError):
        cj.confusion_counts_jax(x, x[:, :2], num_classes=2)


# --------------------------------------------------------------------------- on a GPU
# (test names carry "on_device": benchmarks/gpu_check.sh selects them with -k on_device)

needs_cupy = pytest.mark.skipif(CUPY_REASON is not None, reason=CUPY_REASON or "")

GPU_CLASSES = [1, 2, 19, 104, 105, 110, 111, 150, 1000]
GPU_IGNORES = [None, 255, -1, 0, 300]


@needs_cupy
@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("C", GPU_CLASSES)
def test_on_device_cupy_kernel_matches_reference(dtype, C):
    import cupy

    rng = np.random.default_rng(C + 17 * INT_DTYPES.index(dtype))
    shape = (3, 37, 29)        # 1073 pixels per sample: no multiple of any block size
    for ignore_index in GPU_IGNORES:
        t, _ = label_maps(rng, shape, dtype, C, ignore_index=ignore_index)
        _, p = label_maps(rng, shape, dtype, C)
        ct, cp_ = cupy.asarray(t), cupy.asarray(p)
        for per_sample in (False, True):
            kw = dict(num_classes=C, ignore_index=ignore_index, per_sample=per_sample)
            counts, n_bad = cc.confusion_counts_cupy(cp_, ct, **kw)
            ref, ref_bad = cc.confusion_counts_reference(cp_, ct, **kw)
            assert isinstance(counts, cupy.ndarray) and counts.dtype == cupy.int64
            assert n_bad.shape == () and n_bad.dtype == cupy.int64
            np.testing.assert_array_equal(counts.get(), ref.get())
            assert int(n_bad) == int(ref_bad)
            tp, pc, rc, bad2 = cc.class_counts_cupy(cp_, ct, **kw)
            rtp, rpc, rrc, rbad = cc.class_counts_reference(cp_, ct, **kw)
            for a, b in ((tp, rtp), (pc, rpc), (rc, rrc)):
                np.testing.assert_array_equal(a.get(), b.get())
            assert int(bad2) == int(rbad) == int(n_bad)
            if C <= 19:   # the host reference too (cheap for small C)
                want, want_bad = reference_counts(p, t, C, ignore_index, per_sample)
                np.testing.assert_array_equal(counts.get(), want)
                assert int(n_bad) == want_bad


@needs_cupy
@pytest.mark.parametrize("td,pd", [(np.uint8, np.int64), (np.int64, np.uint8),
                                   (np.bool_, np.int32), (np.uint64, np.int8)])
def test_on_device_cupy_mixed_dtypes(td, pd):
    import cupy

    rng = np.random.default_rng(5)
    t, _ = label_maps(rng, (4, 301), td, 19, ignore_index=255)
    _, p = label_maps(rng, (4, 301), pd, 19)
    for per_sample in (False, True):
        want, want_bad = reference_counts(p, t, 19, 255, per_sample)
        counts, n_bad = cc.confusion_counts_cupy(cupy.asarray(p), cupy.asarray(t),
                                                 num_classes=19, ignore_index=255,
                                                 per_sample=per_sample)
        np.testing.assert_array_equal(counts.get(), want)
        assert int(n_bad) == want_bad


@needs_cupy
@pytest.mark.parametrize("shape,per_sample", [((0,), False), ((0, 4), True), ((3, 0), True),
                                              ((), False), ((1,), True)])
def test_on_device_cupy_empty_and_tiny(shape, per_sample):
    import cupy

    t = cupy.zeros(shape, cupy.int32)
    want, _ = reference_counts(np.zeros(shape, np.int32), np.zeros(shape, np.int32), 3, None,
                               per_sample)
    counts, n_bad = cc.confusion_counts_cupy(t, t, num_classes=3, per_sample=per_sample)
    np.testing.assert_array_equal(counts.get(), want)
    assert int(n_bad) == 0


@needs_cupy
def test_on_device_cupy_sample_loop_and_launch_shapes():
    """More samples than grid rows, and explicit launch shapes."""
    import cupy

    rng = np.random.default_rng(9)
    t, p = label_maps(rng, (70000, 3), np.uint8, 4, ignore_index=255)
    want, want_bad = reference_counts(p, t, 4, 255, True)
    ct, cp_ = cupy.asarray(t), cupy.asarray(p)
    counts, n_bad = cc.confusion_counts_cupy(cp_, ct, num_classes=4, ignore_index=255,
                                             per_sample=True)
    np.testing.assert_array_equal(counts.get(), want)
    assert int(n_bad) == want_bad
    for threads, blocks in ((32, 1), (1024, 7), (256, 5000)):
        counts, _ = cc.confusion_counts_cupy(cp_, ct, num_classes=4, ignore_index=255,
                                             threads=threads, blocks=blocks)
        np.testing.assert_array_equal(counts.get(), want.sum(0))


@pytest.mark.skipif(jax.default_backend() == "cpu", reason="JAX runs on the CPU here")
def test_on_device_jax_formulations():
    """Every JAX formulation on the accelerator JAX runs on, under jit, per sample and
    pooled, against the host reference (bfloat16 one-hot products must stay exact)."""
    rng = np.random.default_rng(10)
    limits = cj._SMALL_FORMULATION_CLASSES
    for C, layouts in ((2, (True,)), (19, (False, True)), (150, (True,))):
        t, p = label_maps(rng, (2, 97, 61), np.int32, C, ignore_index=255)
        jp, jt = jnp.asarray(p), jnp.asarray(t)
        for per_sample in layouts:
            want, want_bad = reference_counts(p, t, C, 255, per_sample)
            kw = dict(num_classes=C, ignore_index=255, per_sample=per_sample)
            for method in JAX_METHODS + ["auto"]:
                if C <= limits.get((method, False), C):
                    f = jax.jit(lambda a, b, m=method: cj.confusion_counts_jax(a, b, method=m,
                                                                               **kw))
                    counts, bad = f(jp, jt)
                    np.testing.assert_array_equal(np.asarray(counts), want)
                    assert int(bad) == want_bad
                if C <= limits.get((method, True), C):
                    g = jax.jit(lambda a, b, m=method: cj.class_counts_jax(a, b, method=m, **kw))
                    tp, pc, rc, bad = g(jp, jt)
                    for got, exp in zip((tp, pc, rc), class_reference(want)):
                        np.testing.assert_array_equal(np.asarray(got), exp)
                    assert int(bad) == want_bad
    # 16.8 M pixels (more than 2**24) in one sample: many matmul blocks and a tail
    t = rng.integers(0, 19, (1, 4100, 4100)).astype(np.uint8)
    p = np.where(rng.random(t.shape) < 0.8, t, rng.integers(0, 19, t.shape)).astype(np.uint8)
    t[rng.random(t.shape) < 0.05] = 255
    m = t != 255
    want = np.bincount(19 * t[m].astype(np.int64) + p[m], minlength=361).reshape(19, 19)
    jp, jt = jnp.asarray(p), jnp.asarray(t)
    for method in ("matmul", "scatter", "auto"):
        f = jax.jit(lambda a, b, m_=method: cj.confusion_counts_jax(
            a, b, num_classes=19, ignore_index=255, method=m_)[0])
        np.testing.assert_array_equal(np.asarray(f(jp, jt)), want)
    for method in ("compare", "sums", "auto"):
        g = jax.jit(lambda a, b, m_=method: cj.class_counts_jax(
            a, b, num_classes=19, ignore_index=255, method=m_)[:3])
        for got, exp in zip(g(jp, jt), class_reference(want)):
            np.testing.assert_array_equal(np.asarray(got), exp)


@pytest.mark.skipif(jax.default_backend() == "cpu", reason="JAX runs on the CPU here")
def test_on_device_jax_pallas():
    """The Pallas kernel compiled for the accelerator (Triton on a GPU)."""
    rng = np.random.default_rng(14)
    for C in (2, 19, 100):
        t, p = label_maps(rng, (2, 40000), np.int32, C, ignore_index=255)   # 2 programs + tail
        _check_jax(p, t, C, 255, True, "pallas", jit=True)
        _check_jax(p, t, C, 255, False, "pallas", jit=True)
    t = rng.integers(0, 19, (1, 4100, 4100)).astype(np.uint8)
    p = np.where(rng.random(t.shape) < 0.8, t, rng.integers(0, 19, t.shape)).astype(np.uint8)
    t[rng.random(t.shape) < 0.05] = 255
    m = t != 255
    want = np.bincount(19 * t[m].astype(np.int64) + p[m], minlength=361).reshape(19, 19)
    jp, jt = jnp.asarray(p), jnp.asarray(t)
    counts = jax.jit(lambda a, b: cj.confusion_counts_jax(
        a, b, num_classes=19, ignore_index=255, method="pallas")[0])(jp, jt)
    np.testing.assert_array_equal(np.asarray(counts), want)
    got = jax.jit(lambda a, b: cj.class_counts_jax(
        a, b, num_classes=19, ignore_index=255, method="pallas")[:3])(jp, jt)
    for g, e in zip(got, class_reference(want)):
        np.testing.assert_array_equal(np.asarray(g), e)
