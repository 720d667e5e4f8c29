"""Type aliases of the public API.

The array API standard has no single static array type: a function of regionloss accepts
arrays of any library array-api-compat knows (NumPy, CuPy, JAX, PyTorch, Dask, ...) and
returns one of the caller's library. :data:`Array` names that in signatures.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Array"]

#: An array of any array-API library (NumPy, CuPy, JAX, PyTorch, Dask, array-api-strict).
Array = Any
