"""Fast sums over axes and one-pass soft sums (``regionloss._kernels.sums``).

* The array-API version on NumPy, array-api-strict, JAX and PyTorch (CPU) against a
  float64 NumPy reference, channels-last and channels-first, per sample and pooled,
  with NaN and inf probabilities at weight-0 pixels (they must not reach any sum, nor a
  JAX gradient).
* The CuPy code (two-stage ``sum_over``, the soft-sums CUDA kernel and its glue) run on
  the CPU through the NumPy stand-in for CuPy and the emulated kernel launcher of
  ``_cuda_emulation``; the kernel instantiations compile with nvcc where present.
* On a GPU (skipped elsewhere): CuPy against the reference.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from regionloss._kernels import counting_cupy as CC
from regionloss._kernels import sums as S

from ._cuda_emulation import CUPY_REASON, fake_cupy
from ._cuda_emulation import have_cxx as _have_cxx

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

needs_cupy = pytest.mark.skipif(CUPY_REASON is not None, reason=CUPY_REASON or "")


# --------------------------------------------------------------------------- reference


def soft_reference(p, y, w, axes, squared):
    p = np.asarray(p, np.float64)
    y = np.asarray(y, np.float64)
    w = np.ones(p.shape) if w is None else np.broadcast_to(np.asarray(w, np.float64), p.shape)
    keep = w != 0
    p = np.where(keep, p, 0.0)
    y = np.where(keep, y, 0.0)
    return (np.sum(w * p * y, axis=axes), np.sum(w * (p * p if squared else p), axis=axes),
            np.sum(w * (y * y if squared else y), axis=axes))


LAYOUTS = {
    # name: (shape, class axis)
    "last-2d": ((3, 6, 5, 4), 3),
    "first-2d": ((3, 4, 6, 5), 1),
    "last-3d": ((2, 3, 4, 5, 3), 4),
    "first-3d": ((2, 3, 4, 5, 3), 1),
    "last-1d": ((4, 7, 19), 2),
    "first-1d": ((4, 19, 7), 1),
}


def make_inputs(rng, shape, class_axis, weight_kind, *, poison=True, dtype=np.float32):
    """probs, one-hot-ish target, weight (None / per-pixel / full / broadcast mask); NaN and
    inf probabilities where the weight is 0."""
    p = rng.random(shape).astype(dtype)
    y = (rng.random(shape) < 0.3).astype(dtype)
    pixel = tuple(1 if i == class_axis else s for i, s in enumerate(shape))
    if weight_kind is None:
        return p, y, None
    if weight_kind == "pixel":
        w = rng.random(pixel) * (rng.random(pixel) < 0.6)
    elif weight_kind == "full":
        w = rng.random(shape) * (rng.random(shape) < 0.6)
    else:   # one spatial mask for every sample, broadcast over samples and classes
        mshape = (1,) + pixel[1:]
        w = (rng.random(mshape) < 0.6).astype(np.float64)
    w = w.astype(dtype)
    if poison:
        zero = np.broadcast_to(w, shape) == 0
        bad = zero & (rng.random(shape) < 0.5)
        p = np.where(bad, np.where(rng.random(shape) < 0.5, np.nan, np.inf), p).astype(dtype)
        y = np.where(zero & (rng.random(shape) < 0.2), np.nan, y).astype(dtype)
    return p, y, w


def axes_for(shape, class_axis, per_sample):
    return tuple(a for a in range(len(shape)) if a != class_axis and (a != 0 or not per_sample))


# --------------------------------------------------------------------------- backends


def _numpy():
    return lambda a: a, lambda a: np.asarray(a)


def _strict():
    xps = pytest.importorskip("array_api_strict")
    return lambda a: xps.asarray(a), lambda a: np.asarray(xps.asarray(a, copy=True)._array)


def _jax():
    jnp = pytest.importorskip("jax.numpy")
    return lambda a: jnp.asarray(a), lambda a: np.asarray(a)


def _torch():
    torch = pytest.importorskip("torch")
    return lambda a: torch.from_numpy(np.ascontiguousarray(a)), lambda a: a.numpy()


BACKENDS = {"numpy": _numpy, "strict": _strict, "jax": _jax, "torch": _torch}


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("weight_kind", [None, "pixel", "full", "mask"])
@pytest.mark.parametrize("per_sample,squared", [(True, False), (False, True), (True, True)])
def test_soft_sums_generic(backend, layout, weight_kind, per_sample, squared):
    to, back = BACKENDS[backend]()
    shape, class_axis = LAYOUTS[layout]
    rng = np.random.default_rng(hash((layout, weight_kind, per_sample, squared)) % 2**32)
    p, y, w = make_inputs(rng, shape, class_axis, weight_kind)
    axes = axes_for(shape, class_axis, per_sample)
    got = S.soft_sums(to(p), to(y), None if w is None else to(w), sum_axes=axes,
                      squared=squared)
    want = soft_reference(p, y, w, axes, squared)
    for g, e in zip(got, want):
        g = back(g)
        assert g.dtype == np.float32 and g.shape == e.shape
        assert np.all(np.isfinite(g))
        np.testing.assert_allclose(g, e, rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
def test_soft_sums_precision_dtypes(backend):
    """float64 stays float64 (exactly the reference); float16 accumulates in float32."""
    to, back = BACKENDS[backend]()
    shape, class_axis = LAYOUTS["last-2d"]
    rng = np.random.default_rng(1)
    p, y, w = make_inputs(rng, shape, class_axis, "pixel", dtype=np.float64)
    axes = axes_for(shape, class_axis, True)
    for g, e in zip(S.soft_sums(to(p), to(y), to(w), sum_axes=axes), soft_reference(p, y, w,
                                                                                   axes, False)):
        assert back(g).dtype == np.float64
        np.testing.assert_allclose(back(g), e, rtol=1e-13)
    big = (2, 64, 64, 2)
    p16 = np.full(big, 0.75, np.float16)
    y16 = np.ones(big, np.float16)
    tp, ps, ys = S.soft_sums(to(p16), to(y16), None, sum_axes=(0, 1, 2))
    # 8192 * 0.75 = 6144 per class: exact in float32; float16 accumulation would stall
    np.testing.assert_array_equal(back(ps), np.full(2, 6144.0, np.float32))
    assert back(ps).dtype == np.float32


def test_soft_sums_jax_jit_and_gradient_at_masked_nan():
    """Under jit; the gradient w.r.t. probs is finite everywhere and exactly 0 at the
    weight-0 pixels that hold NaN/inf."""
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    shape, class_axis = LAYOUTS["last-2d"]
    rng = np.random.default_rng(2)
    p, y, w = make_inputs(rng, shape, class_axis, "pixel")
    axes = axes_for(shape, class_axis, True)

    def loss(probs):
        tp, ps, ys = S.soft_sums(probs, jnp.asarray(y), jnp.asarray(w), sum_axes=axes)
        return jnp.sum(1 - (2 * tp + 1) / (ps + ys + 1))

    value, grad = jax.jit(jax.value_and_grad(loss))(jnp.asarray(p))
    assert np.isfinite(float(value))
    grad = np.asarray(grad)
    assert np.all(np.isfinite(grad))
    masked = np.broadcast_to(w, shape) == 0
    assert np.all(grad[masked] == 0) and np.any(grad[~masked] != 0)
    if not jax.config.jax_enable_x64:
        return
    # central differences (float64) at a kept pixel
    idx = tuple(np.argwhere(~masked & np.isfinite(p))[0])
    eps = 1e-4
    pp, pm = p.astype(np.float64).copy(), p.astype(np.float64).copy()
    pp[idx] += eps
    pm[idx] -= eps
    fd = (float(loss(jnp.asarray(pp))) - float(loss(jnp.asarray(pm)))) / (2 * eps)
    np.testing.assert_allclose(grad[idx], fd, rtol=1e-3, atol=1e-6)


def test_soft_sums_torch_gradient_at_masked_nan():
    torch = pytest.importorskip("torch")
    shape, class_axis = LAYOUTS["first-2d"]
    rng = np.random.default_rng(3)
    p, y, w = make_inputs(rng, shape, class_axis, "pixel")
    tp_ = torch.from_numpy(p).requires_grad_(True)
    axes = axes_for(shape, class_axis, True)
    tp, ps, ys = S.soft_sums(tp_, torch.from_numpy(y), torch.from_numpy(w), sum_axes=axes)
    torch.sum(1 - (2 * tp + 1) / (ps + ys + 1)).backward()
    grad = tp_.grad.numpy()
    masked = np.broadcast_to(w, shape) == 0
    assert np.all(np.isfinite(grad)) and np.all(grad[masked] == 0)


@pytest.mark.parametrize("layout", ["last-2d", "first-2d"])
@pytest.mark.parametrize("weight_kind", [None, "pixel", "full", "mask"])
@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("per_sample", [False, True])
def test_torch_path_matches_generic_values_and_gradients(layout, weight_kind, squared,
                                                         per_sample):
    """The PyTorch autograd function against the array-API version differentiated by
    autograd: values and gradients w.r.t. probs and target (float64, NaN-free)."""
    torch = pytest.importorskip("torch")
    import array_api_compat.torch as xpt

    shape, class_axis = LAYOUTS[layout]
    rng = np.random.default_rng(21)
    p, y, w = make_inputs(rng, shape, class_axis, weight_kind, poison=False, dtype=np.float64)
    y = rng.random(shape)     # soft targets, so that their gradient is not trivial
    axes = axes_for(shape, class_axis, per_sample)
    cot = [torch.from_numpy(rng.standard_normal(np.sum(p, axis=axes).shape)) for _ in range(3)]
    results = []
    for fast in (True, False):
        tp_ = torch.from_numpy(p).requires_grad_(True)
        ty_ = torch.from_numpy(y).requires_grad_(True)
        tw = None if w is None else torch.from_numpy(w)
        if fast:
            out = S.soft_sums(tp_, ty_, tw, sum_axes=axes, squared=squared)
        else:
            out = S._generic_soft_sums(xpt, tp_, ty_, tw, axes, squared)
        sum(torch.sum(o * c) for o, c in zip(out, cot)).backward()
        results.append(([o.detach().numpy() for o in out], tp_.grad.numpy(), ty_.grad.numpy()))
    (fo, fgp, fgy), (go, ggp, ggy) = results
    for a, b in zip(fo, go):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(fgp, ggp, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(fgy, ggy, rtol=1e-12, atol=1e-15)
    for a, e in zip(fo, soft_reference(p, y, w, axes, squared)):
        np.testing.assert_allclose(a, e, rtol=1e-12)


def test_torch_path_gradcheck():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(22)
    shape = (2, 3, 4, 3)
    p = torch.from_numpy(rng.random(shape)).requires_grad_(True)
    y = torch.from_numpy(rng.random(shape)).requires_grad_(True)
    w = torch.from_numpy(rng.random((2, 3, 4, 1)) * (rng.random((2, 3, 4, 1)) < 0.7))
    for squared in (False, True):
        for weight in (None, w):
            assert torch.autograd.gradcheck(
                lambda a, b: S.soft_sums(a, b, weight, sum_axes=(1, 2), squared=squared),
                (p, y))


def test_torch_path_half_and_weight_gradient_fallback():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(23)
    shape, class_axis = LAYOUTS["first-2d"]
    p, y, w = make_inputs(rng, shape, class_axis, "pixel", poison=False)
    tp_ = torch.from_numpy(p).to(torch.float16).requires_grad_(True)
    out = S.soft_sums(tp_, torch.from_numpy(y).to(torch.float16), torch.from_numpy(w),
                      sum_axes=(2, 3))
    assert all(o.dtype == torch.float32 for o in out)
    out[0].sum().backward()
    assert tp_.grad.dtype == torch.float16 and torch.isfinite(tp_.grad).all()
    # a weight that needs a gradient takes the generic (autograd) version
    tw = torch.from_numpy(w).requires_grad_(True)
    out = S.soft_sums(torch.from_numpy(p), torch.from_numpy(y), tw, sum_axes=(2, 3))
    out[1].sum().backward()
    np.testing.assert_allclose(tw.grad.numpy(), np.where(w != 0, p, 0).sum(axis=1,
                                                                          keepdims=True),
                               rtol=1e-5)


def test_soft_sums_shape_error():
    with pytest.raises(ValueError):
        S.soft_sums(np.zeros((2, 3)), np.zeros((2, 4)), None, sum_axes=(0,))


# --------------------------------------------------------------------------- sum_over


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_sum_over_generic(backend):
    to, back = BACKENDS[backend]()
    rng = np.random.default_rng(4)
    x = rng.random((3, 5, 7, 2)).astype(np.float32)
    for axes in [(1, 2), (0, 1, 2), (3,), (0, 3), (), -1, (-2, -3)]:
        got = back(S.sum_over(to(x), axes))
        want = np.sum(x.astype(np.float64), axis=axes)
        assert got.dtype == np.float32 and got.shape == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_sum_over_half_precision_accumulates_in_float32():
    jnp = pytest.importorskip("jax.numpy")
    x = np.full((4096, 3), 0.5, np.float16)
    for to in (lambda a: a, jnp.asarray, lambda a: jnp.asarray(a, dtype=jnp.bfloat16)):
        got = np.asarray(S.sum_over(to(x), (0,)))
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, np.full(3, 2048.0, np.float32))


def test_sum_over_axis_errors():
    with pytest.raises(ValueError):
        S.sum_over(np.zeros((2, 3)), (2,))
    with pytest.raises(ValueError):
        S.sum_over(np.zeros((2, 3)), (1, -1))


# --------------------------------------------------------------------------- CuPy on CPU


@pytest.fixture
def cupy_on_cpu(monkeypatch):
    """``sums``' CuPy code with NumPy arrays and the emulated CUDA kernel (1 SM, small
    blocks so that launches are short)."""
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(sms=1))
    monkeypatch.setattr(S, "_KERNELS", {})
    monkeypatch.setattr(CC, "_DEVICE_SMS", {})
    monkeypatch.setattr(S, "_ROW_THREADS", 64)
    monkeypatch.setattr(S, "_SEGMENT_THREADS", 32)
    return S


@settings(max_examples=150, deadline=None)
@given(shape=st.lists(st.integers(1, 9), min_size=1, max_size=5), data=st.data(),
       split=st.integers(2, 40), dtype=st.sampled_from([np.float32, np.float64, np.float16]))
def test_cupy_sum_over_two_stage_on_cpu(shape, data, split, dtype):
    """The split/recursion logic of the CuPy ``sum_over`` (NumPy semantics)."""
    axes = data.draw(st.sets(st.integers(0, len(shape) - 1)))
    x = np.random.default_rng(len(shape) * 31 + split).random(shape).astype(dtype)
    old = (S._DIRECT_MAX_SIZE, S._DIRECT_OUTPUTS)
    saved = sys.modules.get("cupy")
    try:
        sys.modules["cupy"] = fake_cupy()
        S._DIRECT_MAX_SIZE, S._DIRECT_OUTPUTS = 4, 4      # force the split on small arrays
        got = S._cupy_sum_over(x, tuple(sorted(axes)), split_len=split)
    finally:
        S._DIRECT_MAX_SIZE, S._DIRECT_OUTPUTS = old
        if saved is None:
            sys.modules.pop("cupy", None)
        else:
            sys.modules["cupy"] = saved
    want = np.sum(x.astype(np.float64), axis=tuple(sorted(axes)))
    assert got.shape == np.shape(want)
    assert got.dtype == (np.float64 if dtype == np.float64 else np.float32)
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype != np.float64 else 1e-12)


def test_cupy_sum_over_on_cpu_non_contiguous_and_ints(cupy_on_cpu, monkeypatch):
    monkeypatch.setattr(S, "_DIRECT_MAX_SIZE", 4)
    monkeypatch.setattr(S, "_DIRECT_OUTPUTS", 4)
    x = np.random.default_rng(5).random((6, 8, 10, 3)).astype(np.float32)
    xt = x.transpose(0, 2, 1, 3)
    np.testing.assert_allclose(S._cupy_sum_over(xt, (1, 2), split_len=7),
                               xt.sum(axis=(1, 2)), rtol=1e-5)
    xi = (x * 10).astype(np.int32)
    np.testing.assert_array_equal(S._cupy_sum_over(xi, (1, 2)), xi.sum(axis=(1, 2)))


@pytest.mark.parametrize("shape,axes,want", [
    ((3, 6, 5, 4), (1, 2), ("rows", 3, 4, 30, True)),
    ((3, 6, 5, 4), (0, 1, 2), ("rows", 1, 4, 90, False)),
    ((3, 4, 6, 5), (2, 3), ("segments", 3, 4, 30, True)),
    ((3, 4, 6, 5), (0, 2, 3), ("segments", 3, 4, 30, False)),
    ((3, 4), (0,), ("rows", 1, 4, 3, False)),
    ((3, 4, 6, 5), (1, 3), None),
    ((3, 4, 6, 5), (0, 1, 2, 3), None),
    ((7,), (0,), None),
])
def test_soft_layout(shape, axes, want):
    assert S.soft_layout(shape, axes) == want


@pytest.mark.skipif(not _have_cxx(), reason="no host C++ compiler (g++) to emulate CUDA")
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("weight_kind", [None, "pixel", "full", "mask"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_soft_kernel_emulated(cupy_on_cpu, layout, weight_kind, dtype):
    shape, class_axis = LAYOUTS[layout]
    rng = np.random.default_rng(hash((layout, weight_kind, str(dtype))) % 2**32)
    p, y, w = make_inputs(rng, shape, class_axis, weight_kind, dtype=dtype)
    for per_sample, squared in ((True, False), (False, True)):
        axes = axes_for(shape, class_axis, per_sample)
        got = cupy_on_cpu._cupy_soft_sums(p, y, w, axes, squared)
        assert got is not None
        want = soft_reference(p, y, w, axes, squared)
        for g, e in zip(got, want):
            assert g.dtype == dtype and g.shape == e.shape
            np.testing.assert_allclose(g, e, rtol=1e-6 if dtype == np.float32 else 1e-12,
                                       atol=1e-6)


@pytest.mark.skipif(not _have_cxx(), reason="no host C++ compiler (g++) to emulate CUDA")
@pytest.mark.parametrize("C", [1, 3, 19, 65, 100])
def test_cupy_soft_kernel_emulated_class_counts(cupy_on_cpu, C):
    """Row blocks of q*C threads for C below, at and above the row-block width."""
    rng = np.random.default_rng(C)
    for shape, class_axis in (((2, 5, 13, C), 3), ((2, C, 5, 13), 1)):
        p, y, w = make_inputs(rng, shape, class_axis, "pixel")
        axes = axes_for(shape, class_axis, True)
        got = cupy_on_cpu._cupy_soft_sums(p, y, w, axes, False)
        for g, e in zip(got, soft_reference(p, y, w, axes, False)):
            np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6)


def test_cupy_soft_sums_declines_without_layout(cupy_on_cpu):
    p = np.zeros((2, 3, 4, 5), np.float32)
    assert cupy_on_cpu._cupy_soft_sums(p, p, None, (1, 3), False) is None   # odd axes
    big = np.zeros((1, 2, 1100), np.float32)
    assert cupy_on_cpu._cupy_soft_sums(big, big, None, (1,), False) is None  # C > 1024 rows


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
def test_soft_instantiations_compile_with_nvcc(tmp_path):
    names = [S.soft_kernel_name(kind, dt, wm, sq) for kind in ("rows", "segments")
             for dt in ("float32", "float64") for wm in (0, 1, 2) for sq in (False, True)]
    refs = ",\n".join(f"    (void*)&{n}" for n in names)
    src = tmp_path / "soft.cu"
    src.write_text(S.SOFT_SOURCE + f"\nvoid* rl_all[] = {{\n{refs}\n}};\n")
    out = subprocess.run(["nvcc", "-std=c++17", "-arch=sm_90", "-cubin", "-Werror",
                          "all-warnings", "-o", str(tmp_path / "soft.cubin"), str(src)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-4000:]


# --------------------------------------------------------------------------- CuPy on GPU


@needs_cupy
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("weight_kind", [None, "pixel", "full", "mask"])
def test_on_device_cupy_soft_sums(layout, weight_kind):
    import cupy

    shape, class_axis = LAYOUTS[layout]
    rng = np.random.default_rng(hash((layout, weight_kind)) % 2**32)
    for dtype in (np.float32, np.float64, np.float16):
        p, y, w = make_inputs(rng, shape, class_axis, weight_kind, dtype=dtype)
        for per_sample, squared in ((True, False), (False, True), (False, False)):
            axes = axes_for(shape, class_axis, per_sample)
            got = S.soft_sums(cupy.asarray(p), cupy.asarray(y),
                              None if w is None else cupy.asarray(w), sum_axes=axes,
                              squared=squared)
            want = soft_reference(p, y, w, axes, squared)
            for g, e in zip(got, want):
                assert isinstance(g, cupy.ndarray)
                assert g.dtype == (np.float64 if dtype == np.float64 else np.float32)
                np.testing.assert_allclose(g.get(), e, rtol=1e-5, atol=1e-5)


@needs_cupy
@pytest.mark.parametrize("shape,axes", [
    ((16, 64, 64, 4), (1, 2)), ((16, 4, 64, 64), (2, 3)), ((16, 64, 64, 4), (0, 1, 2)),
    ((2, 4, 8, 1000, 7), (1, 3)), ((3, 1 << 18), (1,)), ((1 << 18, 3), (0,)),
    ((5, 7, 11, 13, 2), (0, 2, 3)), ((1 << 19) + 3, (0,))])
def test_on_device_cupy_sum_over(shape, axes):
    import cupy

    x = np.random.default_rng(6).random(shape).astype(np.float32)
    for dtype in (np.float32, np.float64, np.float16):
        xd = cupy.asarray(x.astype(dtype))
        got = S.sum_over(xd, axes)
        assert isinstance(got, cupy.ndarray)
        assert got.dtype == (np.float64 if dtype == np.float64 else np.float32)
        want = np.sum(x.astype(dtype).astype(np.float64), axis=axes)
        np.testing.assert_allclose(got.get(), want, rtol=1e-5)


@needs_cupy
def test_on_device_cupy_soft_sums_large():
    """The workload of the benchmarks, reduced: (4, 256, 256, 4), NaN at masked pixels."""
    import cupy

    shape, class_axis = (4, 256, 256, 4), 3
    rng = np.random.default_rng(7)
    p, y, w = make_inputs(rng, shape, class_axis, "pixel")
    for per_sample in (True, False):
        axes = axes_for(shape, class_axis, per_sample)
        got = S.soft_sums(cupy.asarray(p), cupy.asarray(y), cupy.asarray(w), sum_axes=axes)
        for g, e in zip(got, soft_reference(p, y, w, axes, False)):
            np.testing.assert_allclose(g.get(), e, rtol=1e-5)
