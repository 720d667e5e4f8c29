"""Where the offline scorer counts (host or GPU), and which runtimes in this process run
native threads.

The scorer reads mask files on the host, as NumPy arrays, and counts either there or on a
CUDA GPU through CuPy. Everything it needs to know about CuPy is here: whether it can be
used (:func:`require_backend`), and how a host label map gets to the device
(:func:`to_backend`); results come back through :func:`~regionloss._kernels.arrays.to_numpy`.

:func:`threaded_runtimes` answers the question a process pool asks before it forks: JAX,
PyTorch, CuPy and TensorFlow start native threads that Python's ``threading`` module does
not see, and forking a process that runs them can deadlock the child.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["BACKENDS", "require_backend", "to_backend", "threaded_runtimes"]

#: Where counting can run.
BACKENDS = ("numpy", "cupy")

#: Runtimes that start native threads as soon as they are imported (or first used).
_THREADED_RUNTIMES = ("jax", "torch", "cupy", "tensorflow")


def require_backend(backend: str) -> None:
    """Check that ``backend`` can run here, before any file is read.

    Raises
    ------
    ImportError
        ``"cupy"`` and CuPy is not installed (the message gives the ``pip install`` line).
    RuntimeError
        ``"cupy"`` and CuPy sees no CUDA device.
    ValueError
        ``backend`` is not one of :data:`BACKENDS`.
    """
    if backend == "numpy":
        return
    if backend != "cupy":
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}; "
                         f"got {backend!r}")
    try:
        import cupy
    except ImportError as exc:
        raise ImportError(
            "backend 'cupy' needs CuPy, which is not installed: pip install 'regionloss[cupy]'"
        ) from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - no driver, no runtime: "no device" either way
        raise RuntimeError(f"backend 'cupy': CuPy cannot reach a CUDA device "
                           f"({type(exc).__name__}: {exc})") from exc
    if count < 1:
        raise RuntimeError("backend 'cupy': CuPy sees no CUDA device")


def to_backend(array: Any, backend: str) -> Any:
    """The host (NumPy) ``array`` as an array of ``backend``: itself for ``"numpy"``, a
    device copy for ``"cupy"``."""
    if backend == "numpy":
        return array
    import cupy

    return cupy.asarray(array)


def threaded_runtimes() -> tuple[str, ...]:
    """The runtimes imported in this process that run native threads (empty: none)."""
    return tuple(name for name in _THREADED_RUNTIMES if name in sys.modules)
