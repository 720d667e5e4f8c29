"""The kernel layer: every backend-specific piece of regionloss.

Code that asks which array library it is given (NumPy, CuPy, JAX, PyTorch, ...), imports
one of them, or calls a library outside the array API standard (SciPy, ``cupyx``,
``jax.lax``, ``torch.nn.functional``) lives in this subpackage and nowhere else. Each
module here offers one operation with a native fast path per library and a standard
(pure array-API) fallback that gives the same result; the rest of the package calls these
functions and never branches on the backend itself. Nothing is imported here, so that
``import regionloss`` stays free of optional libraries.
"""
