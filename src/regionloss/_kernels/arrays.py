"""Array namespaces, devices, concreteness, the dtype policy, host copies, capability probes.

The rest of regionloss asks these functions, never a backend directly:

* :func:`namespace` finds the one array-API namespace of a call's arrays (a NumPy array
  next to arrays of one other library converts to it; two other libraries are an error
  naming both arguments) and :func:`align` converts the NumPy ones;
* :func:`is_concrete` tells whether values may be inspected (not a JAX tracer, not Dask);
* the dtype policy: :func:`float_dtype` (accumulation in float32 or better),
  :func:`count_dtype` / :func:`count_float_dtype` (exact counts), :func:`state_device`;
* :func:`to_numpy` copies any array to the host (the offline scorer, the boundary metrics).
"""

from __future__ import annotations

from typing import Any, Sequence

import array_api_compat as aac

__all__ = [
    "namespace",
    "common",
    "library_name",
    "align",
    "result_like",
    "device_of",
    "is_concrete",
    "float_dtype",
    "to_float",
    "count_dtype",
    "count_float_dtype",
    "state_device",
    "comparable_labels",
    "has_take_along_axis",
    "to_numpy",
    "is_array",
]

_LIBRARIES = (
    (aac.is_numpy_array, "NumPy"),
    (aac.is_cupy_array, "CuPy"),
    (aac.is_jax_array, "JAX"),
    (aac.is_torch_array, "PyTorch"),
    (aac.is_dask_array, "Dask"),
    (aac.is_ndonnx_array, "ndonnx"),
    (aac.is_pydata_sparse_array, "sparse"),
)


def library_name(x: Any) -> str:
    """A readable name of the library ``x`` belongs to ("NumPy", "JAX", ...), for messages."""
    for test, name in _LIBRARIES:
        if test(x):
            return name
    module = type(x).__module__.split(".")[0]
    return module or type(x).__name__


def is_array(x: Any) -> bool:
    """True when ``x`` is an array of a library array-api-compat knows (not a list, not a
    Python number)."""
    return aac.is_array_api_obj(x) and not isinstance(x, (bool, int, float, complex))


def namespace(*arrays: Any, names: Sequence[str] | None = None):
    """The array-API namespace shared by ``arrays`` (``None`` entries are skipped).

    NumPy arrays next to arrays of one other library (a NumPy label map next to JAX
    logits) resolve to the other library; :func:`align` then converts them. ``names``
    (the argument names, in order) make the errors name the argument at fault:

    * a list, a Python number or any non-array: ``"pred must be an array (NumPy, CuPy,
      JAX, ...), got list"``;
    * arrays of two libraries other than NumPy (PyTorch next to JAX): both arguments
      and both libraries are named.
    """
    first, kind, mixed = None, None, False
    for a in arrays:
        if a is not None:
            if first is None:
                first, kind = a, type(a)
            elif type(a) is not kind:
                mixed = True
    if not mixed and first is not None:  # the common case: one array type
        if aac.is_array_api_obj(first) and not isinstance(first, (bool, int, float, complex)):
            return aac.array_namespace(first)
    return _mixed_namespace(arrays, names)


def _mixed_namespace(arrays, names):
    """:func:`namespace` for arrays of several types: check each, name the culprits."""
    if names is None:
        names = ("pred", "target", "mask", "array")[: len(arrays)]
        if len(names) < len(arrays):
            names = tuple(f"argument {i}" for i in range(len(arrays)))
    present = []
    for name, a in zip(names, arrays):
        if a is None:
            continue
        if not is_array(a):
            raise TypeError(
                f"{name} must be an array (NumPy, CuPy, JAX, PyTorch, ...), got "
                f"{type(a).__name__}" + (": wrap it with numpy.asarray(...)"
                                         if isinstance(a, (list, tuple)) else ""))
        present.append((name, a))
    if not present:
        raise TypeError("no array given")
    others = [(n, a) for n, a in present if not aac.is_numpy_array(a)]
    chosen = others or present
    first_name, first = chosen[0]
    first_lib = library_name(first)
    for name, a in chosen[1:]:
        lib = library_name(a)
        if lib != first_lib:
            raise TypeError(
                f"{first_name} is a {first_lib} array but {name} is a {lib} array: pass "
                f"arrays of one library (NumPy arrays may accompany any other library)")
    try:
        return aac.array_namespace(*(a for _, a in chosen))
    except TypeError as exc:
        raise TypeError(f"{', '.join(n for n, _ in chosen)}: {exc}") from None


def common(*arrays: Any, names: Sequence[str]):
    """``(xp, arrays...)``: the shared namespace and every array converted to it.

    :func:`namespace` followed by :func:`align` of each array onto the device of the first
    non-NumPy one; ``None`` entries stay ``None``.
    """
    first, kind, mixed = None, None, False
    for a in arrays:
        if a is not None:
            if first is None:
                first, kind = a, type(a)
            elif type(a) is not kind:
                mixed = True
    if not mixed and first is not None and aac.is_array_api_obj(first) and not isinstance(
            first, (bool, int, float, complex)):
        return (aac.array_namespace(first), *arrays)    # one array type: nothing to convert
    xp = namespace(*arrays, names=names)
    if aac.is_numpy_namespace(xp):
        return (xp, *arrays)
    like = result_like(*arrays)
    return (xp, *[align(xp, a, like) for a in arrays])


def result_like(*arrays):
    """The array whose namespace and device a result takes: the first that is not NumPy
    (a NumPy label map next to a JAX one gives a JAX result), else the first."""
    for a in arrays:
        if a is not None and not aac.is_numpy_array(a):
            return a
    return arrays[0]


def align(xp, x, like):
    """``x`` as an array of ``xp`` on ``like``'s device (converts NumPy inputs; else as is)."""
    if x is None or not aac.is_numpy_array(x) or aac.is_numpy_namespace(xp):
        return x
    return xp.asarray(x, device=device_of(like))


def device_of(x: Any):
    """The device ``x`` lives on (``array_api_compat.device``)."""
    return aac.device(x)


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds values that may be inspected (not a JAX tracer, not Dask).

    Value checks (labels in range, ...) run only on concrete arrays, so that they never
    break ``jax.jit`` or force a Dask graph to compute.
    """
    if aac.is_jax_array(x):
        # array-api-compat calls every JAX array lazy; only tracers (jit, grad, vmap) are.
        import jax

        return not isinstance(x, jax.core.Tracer)
    return not aac.is_lazy_array(x)


def _is_numpy_extension_float(dtype) -> bool:
    """A NumPy extension floating dtype (ml_dtypes' bfloat16, float8_*): NumPy reports
    kind 'V', so the array API does not call it floating."""
    name = getattr(dtype, "name", "")
    return getattr(dtype, "kind", "") == "V" and (name.startswith("bfloat") or
                                                 name.startswith("float"))


def is_floating(xp, dtype) -> bool:
    """True for a real floating dtype, NumPy's ml_dtypes extension floats included."""
    return _is_numpy_extension_float(dtype) or xp.isdtype(dtype, "real floating")


def float_dtype(xp, dtype):
    """The accumulation dtype for an input of ``dtype``: float64 stays float64, else float32.

    Half-precision inputs (float16, bfloat16 on every backend, NumPy's ml_dtypes bfloat16
    included), integers and booleans all accumulate in float32, so sums over a 512x512
    image cannot overflow (float16 overflows at 65504).
    """
    if dtype == xp.float64:
        return xp.float64
    return xp.float32


def to_float(xp, x, dtype=None):
    """Cast ``x`` to ``dtype`` (default: its accumulation dtype); no copy when it already is."""
    if dtype is None:
        dtype = xp.float64 if x.dtype == xp.float64 else xp.float32
    if x.dtype == dtype:
        return x
    if _is_numpy_extension_float(x.dtype):
        return x.astype(dtype)  # (NumPy's astype; the array API's refuses a 'V' dtype)
    return xp.astype(x, dtype)


def _jax_x64() -> bool:
    import jax

    return bool(jax.config.jax_enable_x64)


def count_dtype(xp):
    """The integer dtype counts come back in: int64, or int32 on JAX without x64."""
    if aac.is_jax_namespace(xp) and not _jax_x64():
        return xp.int32
    return xp.int64


def count_float_dtype(xp):
    """The floating dtype counts are converted to before any formula.

    float64 wherever the namespace has it, so dataset-scale counts (up to 2**53) stay exact;
    float32 on JAX without x64 (exact up to 2**24 per count; relative error ~6e-8 beyond).
    """
    if aac.is_jax_namespace(xp) and not _jax_x64():
        return xp.float32
    return xp.float64


def state_device(like):
    """The device for new count/state arrays made to go with the array ``like``.

    ``like``'s device, except for a JAX array sharded over several devices (its sharding
    splits axis 0, which would not fit a (C, C) state): None there, i.e. JAX's default
    placement, which ``jit`` replicates or moves as needed.
    """
    device = aac.device(like)
    if aac.is_jax_array(like) and not hasattr(device, "platform"):
        # a Sharding rather than a single Device
        devices = getattr(device, "device_set", None)
        if devices is not None and len(devices) == 1:
            return next(iter(devices))
        return None
    return device


def comparable_labels(xp, labels):
    """``labels`` in an integer dtype every comparison and reduction works on.

    PyTorch implements almost nothing (no ``==``, ``>=``, ``min``) for uint16, uint32 and
    uint64 on the CPU, and 16-bit PNG label maps arrive as uint16 through
    ``torch.from_numpy``: those become int64 (a uint64 label of 2**63 or more wraps, as
    PyTorch casts). Every other namespace keeps its dtype, without a copy.
    """
    if aac.is_torch_namespace(xp):
        import torch

        if labels.dtype in (torch.uint16, torch.uint32, torch.uint64):
            return labels.to(torch.int64)
    return labels


def has_take_along_axis(xp) -> bool:
    """True when ``xp`` implements ``take_along_axis`` (array API 2024.12 and later).

    Decided by the namespace's ``__array_api_version__``, not by ``hasattr``: array-api-
    strict pinned to an older version still has the attribute, and raises when called.
    """
    version = getattr(xp, "__array_api_version__", None)
    return (isinstance(version, str) and version >= "2024.12"
            and hasattr(xp, "take_along_axis"))


def to_numpy(x: Any):
    """``x`` as a NumPy array on the host (a copy for device arrays; NumPy as it is).

    CuPy and PyTorch (any device) are copied; JAX must be concrete (a tracer raises a
    ``TypeError`` saying why); Dask is computed; anything else goes through DLPack or the
    buffer protocol.
    """
    import numpy as np

    if aac.is_numpy_array(x):
        return np.asarray(x)
    if aac.is_cupy_array(x):
        return x.get()
    if aac.is_jax_array(x):
        if not is_concrete(x):
            raise TypeError(
                "this function cannot run under jax.jit, grad or vmap: its work depends on "
                "the data. Call it on concrete arrays, outside the traced function."
            )
        return np.asarray(x)
    if aac.is_torch_array(x):
        return x.detach().cpu().numpy()
    if aac.is_dask_array(x):
        return np.asarray(x.compute())
    try:
        return np.from_dlpack(x)
    except Exception:  # noqa: BLE001 - not DLPack-capable: the buffer protocol / __array__
        return np.asarray(x)
