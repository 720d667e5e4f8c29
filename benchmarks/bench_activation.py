"""Why ``regionloss._kernels.activations`` calls the native softmax on JAX and PyTorch.

Softmax is not in the array API standard, so ``_backend.softmax`` has a generic, stable
version (max-shift, exp, sum, divide) that serves every namespace, and hands JAX and
PyTorch to ``jax.nn.softmax`` / ``torch.softmax``. This times a Dice loss forward+backward
with each, on the same data in the same run:

* JAX: ``jax.jit(jax.value_and_grad(...))``, channels-last logits (the JAX layout);
* PyTorch (CPU, eager): ``loss.backward()``, channels-first logits (the PyTorch layout).

The Dice part is the same array-API code in every row; only the softmax differs
(``regionloss._kernels.activations.softmax(xp, x, axis, native=True/False)``). A ratio above 1 for the
generic row is the cost the native path saves.

    python benchmarks/bench_activation.py            # the recorded figures
    python benchmarks/bench_activation.py --quick    # a smoke run
"""

from __future__ import annotations

import numpy as np

from common import machine, parse_args, print_comparison, time_interleaved

SHAPE = (8, 256, 256, 4)
QUICK_SHAPE = (2, 64, 64, 4)


def dice_from_logits(xp, logits, onehot, *, native: bool, class_axis: int = -1):
    """Softmax (native or generic) over ``class_axis``, then per-sample soft Dice, mean."""
    from regionloss._kernels.activations import softmax

    probs = softmax(xp, logits, class_axis, native=native)
    class_axis = class_axis % logits.ndim
    axes = tuple(i for i in range(1, logits.ndim) if i != class_axis)
    tp = xp.sum(probs * onehot, axis=axes)
    denominator = xp.sum(probs, axis=axes) + xp.sum(onehot, axis=axes)
    return xp.mean(1.0 - (2.0 * tp + 1e-5) / (denominator + 1e-5))


def bench_jax(logits_np, labels_np, args):
    import array_api_compat
    import jax
    import jax.numpy as jnp

    import regionloss

    xp = array_api_compat.array_namespace(jnp.zeros(1))
    logits = jnp.asarray(logits_np)
    labels = jnp.asarray(labels_np)
    onehot = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    steps = {
        "native jax.nn.softmax": jax.jit(jax.value_and_grad(
            lambda x: dice_from_logits(xp, x, onehot, native=True))),
        "generic array-API softmax": jax.jit(jax.value_and_grad(
            lambda x: dice_from_logits(xp, x, onehot, native=False))),
        "regionloss.dice_loss (labels)": jax.jit(jax.value_and_grad(
            lambda x: regionloss.dice_loss(x, labels))),
    }
    values = {name: float(step(logits)[0]) for name, step in steps.items()}
    np.testing.assert_allclose(list(values.values()), values["native jax.nn.softmax"], rtol=1e-5)
    times = time_interleaved({name: (lambda step=step: step(logits)) for name, step in steps.items()},
                             repeats=args.repeats, warmup=args.warmup)
    return print_comparison(f"JAX jit(value_and_grad), logits {logits_np.shape}", times,
                            baseline="native jax.nn.softmax")


def bench_torch(logits_np, labels_np, args):
    try:
        import torch
    except ImportError:
        print("\nPyTorch not installed: skipped")
        return None
    import array_api_compat

    import regionloss

    xp = array_api_compat.array_namespace(torch.zeros(1))
    # channels-first, as PyTorch models produce them
    logits = torch.from_numpy(np.ascontiguousarray(np.moveaxis(logits_np, -1, 1)))
    logits.requires_grad_(True)
    labels = torch.from_numpy(labels_np.astype(np.int64))
    onehot = torch.nn.functional.one_hot(labels, logits.shape[1]).to(logits.dtype)
    onehot = onehot.permute(0, 3, 1, 2).contiguous()

    def step(loss_fn):
        def run():
            logits.grad = None
            loss = loss_fn()
            loss.backward()
            return loss.detach()
        return run

    steps = {
        "native torch.softmax": step(
            lambda: dice_from_logits(xp, logits, onehot, native=True, class_axis=1)),
        "generic array-API softmax": step(
            lambda: dice_from_logits(xp, logits, onehot, native=False, class_axis=1)),
        "regionloss.dice_loss (labels)": step(
            lambda: regionloss.dice_loss(logits, labels, class_axis=1)),
    }
    values = {name: float(run()) for name, run in steps.items()}
    np.testing.assert_allclose(list(values.values()), values["native torch.softmax"], rtol=1e-5)
    times = time_interleaved(steps, repeats=args.repeats, warmup=args.warmup)
    return print_comparison(
        f"PyTorch {torch.__version__} eager forward+backward, {torch.get_num_threads()} "
        f"threads, logits {tuple(logits.shape)} (channels-first)", times,
        baseline="native torch.softmax")


def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv)
    print(machine())
    print(f"repeats {args.repeats}, warm-up {args.warmup}, float32 logits")
    shape = QUICK_SHAPE if args.quick else SHAPE
    rng = np.random.default_rng(0)
    logits = rng.standard_normal(shape, dtype=np.float32)
    labels = rng.integers(0, shape[-1], size=shape[:-1]).astype(np.int32)
    return bench_jax(logits, labels, args), bench_torch(logits, labels, args)


if __name__ == "__main__":
    main()
