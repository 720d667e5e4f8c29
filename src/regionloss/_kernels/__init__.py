"""The kernel layer: every piece of regionloss that asks which array library it runs on.

Everything outside this subpackage is written once against the Python array API standard
and never branches on the backend (``tests/test_architecture.py`` enforces it). Code here
may, for one of two reasons: the standard has no such operation (activations, counting,
distance transforms, pooling, host/device moves), or a backend's native operation is
measurably faster than the standard formulation. Every fast path keeps a standard fallback,
a test that both agree, and a benchmark in ``benchmarks/`` that shows why it exists.

Modules
-------
arrays
    Namespaces, devices, concreteness, the dtype policy (accumulation and count dtypes),
    host copies, capability probes.
activations
    Softmax, log-softmax, sigmoid, log-sigmoid (native on JAX and PyTorch).
counting
    Confusion counts from integer label maps (native ``bincount``, a standard fallback),
    with the NumPy block kernels in :mod:`~regionloss._kernels.counting_numpy`.
counting_cupy, counting_jax
    The GPU counting kernels: a privatised shared-memory histogram (CuPy) and
    scatter-free formulations (JAX on accelerators).
sums
    Sums over axes and the one-pass soft statistics (CuPy kernel, PyTorch autograd).
fused_cupy
    The soft statistics straight from logits and a label map in one CuPy kernel (the
    activation, the one-hot comparison and the three sums fused).
skeleton
    Skeletons of hard masks for clDice (scikit-image on the host).
surface
    SciPy / ``cupyx.scipy`` kernels of the boundary metrics.
distance
    Exact Euclidean distance transforms: SciPy, ``cupyx.scipy``, and a pure JAX lower
    envelope that runs under ``jit`` and ``vmap``.
pooling
    Sliding minimum and maximum (native on JAX, PyTorch and CuPy; shifted slices elsewhere).
devices
    Host/device moves and backend availability for the offline scorer.
"""
