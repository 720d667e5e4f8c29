"""Distance transforms and pooling windows: the kernel layer's paths against their baselines.

Euclidean distance transform (``regionloss._kernels.distance.euclidean_distance``) of a
batch of masks, every image on its own, against :func:`scipy.ndimage.distance_transform_edt`
called image by image on the same CPU (the baseline, ratio 1):

* ``JAX jit``: the pure ``jax.numpy`` path (lower envelope of parabolas) under
  ``jax.jit``, float32 (JAX's default) and float64 (``jax_enable_x64``);
* ``JAX jit(vmap)``: the same, ``jax.vmap``-ed over the sample axis;
* ``standard NumPy``: the pure array-API fallback on NumPy arrays (what array-api-strict
  and Dask run), with ``--standard``;
* ``PyTorch (SciPy, host copy)`` and ``PyTorch standard``: why PyTorch goes through SciPy.

Masks: ``random`` (each element foreground with probability 1/2: short distances, many
parabolas per line) and ``blob`` (one disk / ball per image of radius about a quarter of
the side at a random centre: long distances outside the blob, few parabolas per line)
and ``corner`` (a single zero element per image, in a corner: the longest distances, and
SciPy's fastest case); ``--kinds`` picks some.
Sizes: (8, 256, 256) and (2, 96, 96, 96); ``--quick``: (4, 64, 64) and (2, 32, 32, 32).
The JAX target is a ratio of at most 5 against SciPy.

``--pooling`` times the 3 x 3 max-pool (soft dilation) of (8, 256, 256, 4) float32
probabilities over the two spatial axes, forward and backward, and clDice's soft skeleton
(3 iterations, 18 pools) of (2, 128, 128, 4) probabilities, forward and backward: the
native paths (the kernel's chain of 1-D ``lax.reduce_window``, one n-D
``lax.reduce_window``, ``torch.nn.functional.max_pool2d``) against the standard
shifted-slices fallback on the same library, and on NumPy the fallback against
``scipy.ndimage.maximum_filter``. ``--torch-threads N`` sets PyTorch's intra-op threads
(on a loaded 2-core machine its default of 2 threads can make small pools much slower).

Usage::

    python benchmarks/bench_distance.py [--quick] [--repeats 15] [--standard] [--pooling]
        [--kinds random blob corner] [--no-edt] [--no-torch] [--torch-threads N]
"""

from __future__ import annotations

import argparse
import contextlib
import sys

import numpy as np

from common import machine, print_comparison, time_interleaved


def masks(kind: str, shape, seed: int = 0) -> np.ndarray:
    """Bool masks of ``shape`` (N, *spatial): ``random`` or ``blob``."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        return rng.random(shape) < 0.5
    if kind == "corner":
        out = np.ones(shape, dtype=bool)
        out[(slice(None),) + (0,) * (len(shape) - 1)] = False
        return out
    spatial = shape[1:]
    grid = np.indices(spatial).astype(np.float64)
    out = np.zeros(shape, dtype=bool)
    for n in range(shape[0]):
        centre = rng.uniform(0.3, 0.7, size=len(spatial)) * np.asarray(spatial)
        radius = rng.uniform(0.2, 0.3) * min(spatial)
        dist2 = sum((grid[k] - centre[k]) ** 2 for k in range(len(spatial)))
        out[n] = dist2 <= radius ** 2
    return out


def _x64(enabled: bool):
    import jax

    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(enabled)
    from jax.experimental import disable_x64, enable_x64  # older JAX

    return enable_x64() if enabled else disable_x64()


def bench_edt(args) -> None:
    import scipy.ndimage as ndi

    from regionloss._kernels.distance import euclidean_distance

    try:
        import jax
        import jax.numpy as jnp
    except ImportError:  # pragma: no cover
        jax = None
    shapes = [(4, 64, 64), (2, 32, 32, 32)] if args.quick else [(8, 256, 256),
                                                                 (2, 96, 96, 96)]
    for shape in shapes:
        k = len(shape) - 1
        for kind in args.kinds:
            m = masks(kind, shape)
            ref = np.stack([ndi.distance_transform_edt(img) for img in m])
            candidates = {"SciPy per image": lambda m=m: [ndi.distance_transform_edt(img)
                                                          for img in m]}
            if jax is not None:
                for bits in (32, 64):
                    with _x64(bits == 64):
                        mj = jnp.asarray(m)
                        fn = jax.jit(lambda x, k=k: euclidean_distance(x, spatial_ndim=k))
                        vfn = jax.jit(jax.vmap(
                            lambda x, k=k: euclidean_distance(x, spatial_ndim=k)))
                        for name, f in ((f"JAX jit float{bits}", fn),
                                        (f"JAX jit(vmap) float{bits}", vfn)):
                            got = np.asarray(f(mj))
                            err = np.max(np.abs(got - ref) / np.maximum(ref, 1.0))
                            assert err < (1e-12 if bits == 64 else 1e-6), (name, err)

                            def call(f=f, mj=mj, bits=bits):
                                with _x64(bits == 64):
                                    return f(mj)

                            candidates[name] = call
            if args.standard:
                candidates["standard NumPy"] = lambda m=m, k=k: euclidean_distance(
                    m, spatial_ndim=k, method="standard")
            if args.torch:
                import torch

                mt = torch.from_numpy(m)
                candidates["PyTorch (SciPy, host copy)"] = lambda mt=mt, k=k: \
                    euclidean_distance(mt, spatial_ndim=k)
                if args.standard:
                    candidates["PyTorch standard"] = lambda mt=mt, k=k: euclidean_distance(
                        mt, spatial_ndim=k, method="standard")
            times = time_interleaved(candidates, repeats=args.repeats, warmup=args.warmup)
            ratios = print_comparison(f"EDT {shape} {kind} masks", times,
                                      "SciPy per image", target=5.0)
            _ranges(times)
            del ratios


def _ranges(times) -> None:
    """Min-max of each candidate's samples (ms): how much the machine's load scatters."""
    for name, samples in times.items():
        print(f"    {name:<32} range {1e3 * min(samples):8.2f} .. {1e3 * max(samples):8.2f} ms")


def _skeleton(x, method, axes, iterations=3):
    """clDice's soft skeleton spelled with the kernels, so that the pooling path can be
    chosen (``regionloss.distance_maps.soft_skeleton`` always takes ``method="auto"``).
    ``method`` is a kernel method name, or ``"jax-nd"``: one n-D ``lax.reduce_window``
    per pool instead of the kernel's chain of 1-D windows."""
    import array_api_compat

    from regionloss._kernels.pooling import max_pool, min_pool

    xp = array_api_compat.array_namespace(x)
    if method == "jax-nd":
        maxp, minp = _nd_reduce_window(True), _nd_reduce_window(False)
    else:
        def maxp(v, window, axes):
            return max_pool(v, window=window, axes=axes, method=method)

        def minp(v, window, axes):
            return min_pool(v, window=window, axes=axes, method=method)

    def erode(v):
        out = minp(v, (3,), (axes[0],))
        for a in axes[1:]:
            out = xp.minimum(out, minp(v, (3,), (a,)))
        return out

    def dilate(v):
        return maxp(v, (3,) * len(axes), axes)

    def relu(v):
        return xp.where(v > 0, v, xp.zeros_like(v))

    skel = relu(x - dilate(erode(x)))
    for _ in range(iterations):
        x = erode(x)
        delta = relu(x - dilate(erode(x)))
        skel = skel + relu(delta - skel * delta)
    return skel


def _nd_reduce_window(largest):
    """One n-D ``lax.reduce_window`` over every pooled axis at once (for comparison)."""
    from jax import lax

    def pool(v, window, axes):
        dims = [1] * v.ndim
        for a, w in zip(axes, window):
            dims[a % v.ndim] = w
        init = np.asarray(-np.inf if largest else np.inf, dtype=v.dtype)
        return lax.reduce_window(v, init, lax.max if largest else lax.min, tuple(dims),
                                 (1,) * v.ndim, [(d // 2, d // 2) for d in dims])
    return pool


def bench_pooling(args) -> None:
    """One 3 x 3 max-pool, and a soft skeleton (3 iterations: 18 pools), per path."""
    import scipy.ndimage as ndi

    from regionloss._kernels.pooling import max_pool

    shape = (2, 64, 64, 4) if args.quick else (8, 256, 256, 4)
    skel_shape = (2, 32, 32, 4) if args.quick else (2, 128, 128, 4)
    skel_repeats = min(args.repeats, 5)
    rng = np.random.default_rng(0)
    x = rng.random(shape, dtype=np.float32)
    w = rng.random(shape, dtype=np.float32)
    xs = rng.random(skel_shape, dtype=np.float32)
    ws = rng.random(skel_shape, dtype=np.float32)
    kw = dict(window=(3, 3), axes=(1, 2))

    times = time_interleaved({
        "scipy maximum_filter": lambda: ndi.maximum_filter(x, size=(1, 3, 3, 1),
                                                           mode="nearest"),
        "standard (shifted slices)": lambda: max_pool(x, **kw, method="standard"),
    }, repeats=args.repeats, warmup=args.warmup)
    print_comparison(f"NumPy max-pool 3x3 {shape}, forward", times, "scipy maximum_filter")

    try:
        import jax
        import jax.numpy as jnp
    except ImportError:  # pragma: no cover
        jax = None
    if jax is not None:
        xj, wj, xsj, wsj = (jnp.asarray(a) for a in (x, w, xs, ws))

        def pool_step(method):
            if method == "jax-nd":
                nd = _nd_reduce_window(True)
                return jax.jit(jax.value_and_grad(
                    lambda v: jnp.sum(wj * nd(v, kw["window"], kw["axes"]))))
            return jax.jit(jax.value_and_grad(
                lambda v: jnp.sum(wj * max_pool(v, **kw, method=method))))

        def skel_step(method):
            return jax.jit(jax.value_and_grad(
                lambda v: jnp.sum(wsj * _skeleton(v, method, (1, 2)))))

        native, nd, standard = pool_step("jax"), pool_step("jax-nd"), pool_step("standard")
        times = time_interleaved({"lax.reduce_window": lambda: native(xj),
                                  "n-D reduce_window": lambda: nd(xj),
                                  "standard (shifted slices)": lambda: standard(xj)},
                                 repeats=args.repeats, warmup=args.warmup)
        print_comparison(f"JAX max-pool 3x3 {shape}, jit forward+backward", times,
                         "lax.reduce_window")
        native, nd, standard = skel_step("jax"), skel_step("jax-nd"), skel_step("standard")
        times = time_interleaved({"lax.reduce_window": lambda: native(xsj),
                                  "n-D reduce_window": lambda: nd(xsj),
                                  "standard (shifted slices)": lambda: standard(xsj)},
                                 repeats=skel_repeats, warmup=1)
        print_comparison(f"JAX soft skeleton (3 iterations) {skel_shape}, jit "
                         "forward+backward", times, "lax.reduce_window")
    if args.torch:
        import torch

        def torch_step(method, a, b, fn):
            v = torch.from_numpy(a).requires_grad_(True)
            (torch.from_numpy(b) * fn(v, method)).sum().backward()
            return v.grad

        def pool(v, method):
            return max_pool(v, **kw, method=method)

        def skel(v, method):
            return _skeleton(v, method, (1, 2))

        times = time_interleaved(
            {"F.max_pool2d": lambda: torch_step("torch", x, w, pool),
             "standard (shifted slices)": lambda: torch_step("standard", x, w, pool)},
            repeats=args.repeats, warmup=args.warmup)
        print_comparison(f"PyTorch max-pool 3x3 {shape}, forward+backward", times,
                         "F.max_pool2d")
        times = time_interleaved(
            {"F.max_pool2d": lambda: torch_step("torch", xs, ws, skel),
             "standard (shifted slices)": lambda: torch_step("standard", xs, ws, skel)},
            repeats=skel_repeats, warmup=1)
        print_comparison(f"PyTorch soft skeleton (3 iterations) {skel_shape}, "
                         "forward+backward", times, "F.max_pool2d")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes, few repeats")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--standard", action="store_true",
                        help="also time the pure array-API fallback (slow on blobs)")
    parser.add_argument("--no-torch", dest="torch", action="store_false",
                        help="skip the PyTorch candidates")
    parser.add_argument("--pooling", action="store_true", help="time the pooling paths too")
    parser.add_argument("--no-edt", dest="edt", action="store_false",
                        help="skip the distance transforms")
    parser.add_argument("--kinds", nargs="+", default=["random", "blob", "corner"],
                        choices=["random", "blob", "corner"], help="mask kinds to time")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch.set_num_threads(N) before timing")
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 15
    if args.warmup is None:
        args.warmup = 1 if args.quick else 2
    if args.torch:
        try:
            import torch
        except ImportError:  # pragma: no cover
            args.torch = False
        else:
            if args.torch_threads:
                torch.set_num_threads(args.torch_threads)
    print(machine())
    if args.edt:
        bench_edt(args)
    if args.pooling:
        bench_pooling(args)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
