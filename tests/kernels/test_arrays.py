"""Array helpers of the kernel layer (regionloss._kernels.arrays): concreteness, namespace
resolution and alignment of mixed inputs, the accumulation dtype policy."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import HAVE_DASK, HAVE_STRICT, HAVE_TORCH, jax_only, torch_only
from conftest import jax_x64 as _jax
from regionloss._kernels import arrays


# --------------------------------------------------------------------------- concreteness


def test_is_concrete_numpy():
    assert arrays.is_concrete(np.zeros(3))


@jax_only
def test_is_concrete_jax_eager_and_traced():
    jax = _jax()
    jnp = jax.numpy
    assert arrays.is_concrete(jnp.zeros(3))
    seen = {}

    def f(a):
        seen["jit"] = arrays.is_concrete(a)
        return a

    jax.jit(f)(jnp.zeros(3))
    jax.grad(lambda a: (seen.__setitem__("grad", arrays.is_concrete(a)), jnp.sum(a))[1])(
        jnp.zeros(3))
    jax.vmap(lambda a: (seen.__setitem__("vmap", arrays.is_concrete(a)), a)[1])(jnp.zeros((2, 3)))
    assert seen == {"jit": False, "grad": False, "vmap": False}


@pytest.mark.skipif(not HAVE_DASK, reason="Dask not installed")
def test_is_concrete_dask_is_false():
    import dask.array as da

    assert not arrays.is_concrete(da.zeros(3, chunks=-1))


@torch_only
def test_is_concrete_torch():
    import torch

    assert arrays.is_concrete(torch.zeros(3))
    assert arrays.is_concrete(torch.zeros(3, requires_grad=True))


# --------------------------------------------------------------------------- namespace / align


@jax_only
def test_namespace_prefers_the_non_numpy_array_and_align_converts():
    import array_api_compat as aac

    jax = _jax()
    jnp = jax.numpy
    logits = jnp.zeros((2, 3))
    labels = np.array([0, 1])
    xp = arrays.namespace(labels, logits, None)
    assert aac.is_jax_namespace(xp)
    aligned = arrays.align(xp, labels, logits)
    assert isinstance(aligned, jax.Array)
    assert arrays.device_of(aligned) == arrays.device_of(logits)
    np.testing.assert_array_equal(np.asarray(aligned), labels)
    assert arrays.align(xp, logits, logits) is logits  # not NumPy: as is
    assert arrays.align(xp, None, logits) is None


def test_namespace_of_numpy_only_and_align_is_a_no_op_there():
    import array_api_compat as aac

    a = np.zeros(2)
    xp = arrays.namespace(a, None, np.ones(3))
    assert aac.is_numpy_namespace(xp)
    assert arrays.align(xp, a, a) is a


@pytest.mark.skipif(not HAVE_STRICT, reason="array-api-strict not installed")
def test_namespace_strict_and_mixing_two_non_numpy_libraries_is_an_error():
    import array_api_strict as xps

    xp = arrays.namespace(xps.zeros(2), np.zeros(2))
    assert xp is arrays.namespace(xps.zeros(1))
    aligned = arrays.align(xp, np.array([1.0, 2.0]), xps.zeros(2))
    assert type(aligned).__module__.startswith("array_api_strict")
    if HAVE_TORCH:
        import torch

        with pytest.raises(TypeError):
            arrays.namespace(xps.zeros(2), torch.zeros(2))


def test_float_dtype_and_to_float():
    assert arrays.float_dtype(np, np.float64) == np.float64
    for dtype in (np.float16, np.float32, np.int64, np.bool_):
        assert arrays.float_dtype(np, np.dtype(dtype)) == np.float32
    x = np.zeros(3, np.float32)
    assert arrays.to_float(np, x) is x
    assert arrays.to_float(np, np.zeros(3, np.float16)).dtype == np.float32
