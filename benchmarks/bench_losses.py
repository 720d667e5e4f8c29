"""Dice loss forward+backward under ``jax.jit(jax.value_and_grad(...))``: regionloss against
a hand-written ``jax.numpy`` soft Dice of the same maths, in the same run.

Both compute, per (sample, class), ``1 - (2 Σp·y + 1e-5) / (Σp + Σy + 1e-5)`` from softmax
probabilities and one-hot integer labels, then the mean over classes and samples. The
target is a ratio regionloss / hand-written <= 1.05: the array-API layering must cost
nothing once XLA has compiled it.

    python benchmarks/bench_losses.py            # the recorded figures (benchmarks/README.md)
    python benchmarks/bench_losses.py --quick    # a smoke run on small shapes
"""

from __future__ import annotations

import numpy as np

from common import machine, parse_args, print_comparison, time_interleaved

TARGET = 1.05
SHAPES = [(8, 256, 256, 4), (2, 128, 128, 128, 3)]
QUICK_SHAPES = [(2, 64, 64, 4), (1, 32, 32, 32, 3)]


def handwritten_dice(logits, labels):
    """The baseline: soft Dice as one would write it directly in jax.numpy."""
    import jax
    import jax.numpy as jnp

    probs = jax.nn.softmax(logits, axis=-1)
    onehot = jax.nn.one_hot(labels, logits.shape[-1], dtype=probs.dtype)
    axes = tuple(range(1, logits.ndim - 1))
    tp = jnp.sum(probs * onehot, axis=axes)
    psum = jnp.sum(probs, axis=axes)
    ysum = jnp.sum(onehot, axis=axes)
    score = (2.0 * tp + 1e-5) / (psum + ysum + 1e-5)
    return jnp.mean(1.0 - score)


def regionloss_dice(logits, labels):
    import regionloss

    return regionloss.dice_loss(logits, labels)  # channels-last, softmax, per sample


def xla_cost(step, *args) -> dict:
    """XLA's own estimate of the compiled step: flops and bytes accessed (machine-independent,
    so it shows whether the two programs do the same work even on a noisy machine)."""
    cost = step.lower(*args).compile().cost_analysis()
    if isinstance(cost, (list, tuple)):  # older JAX returns one dict per device
        cost = cost[0]
    return {key: float(cost.get(key, float("nan"))) for key in ("flops", "bytes accessed")}


def main(argv=None) -> dict:
    import jax

    args = parse_args(__doc__.splitlines()[0], argv)
    print(machine())
    print(f"repeats {args.repeats}, warm-up {args.warmup}, float32 logits, integer labels")
    shapes = QUICK_SHAPES if args.quick else SHAPES
    rng = np.random.default_rng(0)
    all_ratios = {}
    for shape in shapes:
        logits = jax.numpy.asarray(rng.standard_normal(shape, dtype=np.float32))
        labels = jax.numpy.asarray(rng.integers(0, shape[-1], size=shape[:-1]), dtype="int32")
        ours = jax.jit(jax.value_and_grad(regionloss_dice))
        base = jax.jit(jax.value_and_grad(handwritten_dice))
        (v1, g1), (v2, g2) = ours(logits, labels), base(logits, labels)
        # same maths: same value and gradient (float32 rounding apart)
        np.testing.assert_allclose(float(v1), float(v2), rtol=1e-5)
        np.testing.assert_allclose(np.asarray(g1), np.asarray(g2), rtol=1e-4,
                                   atol=1e-5 * float(np.max(np.abs(np.asarray(g2)))))
        times = time_interleaved(
            {"hand-written jax.numpy": lambda: base(logits, labels),
             "regionloss.dice_loss": lambda: ours(logits, labels)},
            repeats=args.repeats, warmup=args.warmup)
        ratios = print_comparison(f"Dice forward+backward, logits {shape}", times,
                                  baseline="hand-written jax.numpy", target=TARGET)
        all_ratios[shape] = ratios["regionloss.dice_loss"]
        cost_ours, cost_base = xla_cost(ours, logits, labels), xla_cost(base, logits, labels)
        for key in cost_base:
            print(f"  XLA {key:<15} hand-written {cost_base[key]:.4g}, regionloss "
                  f"{cost_ours[key]:.4g}, ratio {cost_ours[key] / cost_base[key]:.4f}")
    return all_ratios


if __name__ == "__main__":
    main()
