"""The loss family's two benchmarks, ratios against a baseline measured in the same run.

1. ``lovasz_softmax_loss`` forward+backward under ``jax.jit(jax.value_and_grad(...))`` on
   (8, 256, 256, 4) channels-last logits, against a hand-written ``jax.numpy`` version of
   the same algorithm (Berman et al.'s: per-class sort of the errors, cumulative sums,
   the Jaccard increments, classes present in the batch). Target ratio <= 1.05.
2. ``dice_ce_loss`` against ``dice_loss(...) + cross_entropy_loss(...)`` called separately:
   JAX forward+backward under ``jit``, and NumPy forward (eager, where sharing the
   prepared inputs and the log-softmax is not left to a compiler). Target ratio <= 1.0
   (the compound costs no more than its two parts).

3. The catalogue: every loss's forward+backward under ``jax.jit(jax.value_and_grad(...))``
   as a multiple of ``dice_loss`` on the same logits, measured in the same run. Target
   ratio <= 2 for every loss but the two that sort (top-k cross-entropy and Dice + top-k;
   the Lovász loss sorts too and is shown for comparison).

Medians of interleaved repeats (``common.time_interleaved``).

    python benchmarks/bench_loss_family.py            # the recorded figures
    python benchmarks/bench_loss_family.py --quick    # a smoke run on small shapes
"""

from __future__ import annotations

import numpy as np

from common import machine, parse_args, print_comparison, time_interleaved

LOVASZ_TARGET = 1.05
COMPOUND_TARGET = 1.0
CATALOGUE_TARGET = 2.0
#: the catalogue's losses, with the options measured (defaults otherwise)
CATALOGUE = {
    "sensitivity_specificity_loss": {},
    "generalized_wasserstein_dice_loss": {},
    "generalized_wasserstein_dice_loss GDL": {"weighting_mode": "GDL"},
    "exp_log_loss": {},
    "combo_loss": {},
    "mcc_loss": {},
    "asymmetric_loss": {},
    "penalty_generalized_dice_loss": {},
    "distance_penalized_cross_entropy": {},
    "topk_cross_entropy": {},
    "dice_topk_loss": {},
    "lovasz_softmax_loss": {},
}
SORTING = ("topk_cross_entropy", "dice_topk_loss", "lovasz_softmax_loss")
SHAPE = (8, 256, 256, 4)
QUICK_SHAPE = (2, 64, 64, 4)


def handwritten_lovasz(logits, labels):
    """The baseline: Lovász-softmax over the pooled batch, written directly in jax.numpy."""
    import jax
    import jax.numpy as jnp

    c = logits.shape[-1]
    probs = jax.nn.softmax(logits, axis=-1).reshape(-1, c).T          # (C, P)
    fg = (labels.reshape(1, -1) == jnp.arange(c)[:, None]).astype(probs.dtype)
    errors = jnp.abs(fg - probs)
    order = jnp.argsort(-errors, axis=-1)
    errors_sorted = jnp.take_along_axis(errors, order, axis=-1)
    fg_sorted = jnp.take_along_axis(fg, order, axis=-1)
    gts = fg_sorted.sum(-1, keepdims=True)
    intersection = gts - jnp.cumsum(fg_sorted, -1)
    union = gts + jnp.cumsum(1.0 - fg_sorted, -1)
    jaccard = 1.0 - intersection / union
    grad = jnp.concatenate([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], -1)
    losses = jnp.sum(errors_sorted * grad, -1)
    present = (gts[:, 0] > 0).astype(losses.dtype)
    return jnp.sum(losses * present) / jnp.sum(present)


def regionloss_lovasz(logits, labels):
    import regionloss

    return regionloss.lovasz_softmax_loss(logits, labels, per_sample=False)


def separate_dice_ce(logits, labels):
    import regionloss

    return regionloss.dice_loss(logits, labels) + regionloss.cross_entropy_loss(logits, labels)


def compound_dice_ce(logits, labels):
    import regionloss

    return regionloss.dice_ce_loss(logits, labels)


def _check_same(a, b, rtol=1e-5):
    (v1, g1), (v2, g2) = a, b
    np.testing.assert_allclose(float(v1), float(v2), rtol=rtol)
    g1, g2 = np.asarray(g1), np.asarray(g2)
    np.testing.assert_allclose(g1, g2, rtol=1e-3, atol=1e-4 * float(np.max(np.abs(g2))))


def main(argv=None) -> dict:
    import jax

    args = parse_args(__doc__.splitlines()[0], argv)
    print(machine())
    print(f"repeats {args.repeats}, warm-up {args.warmup}, float32 logits, integer labels")
    shape = QUICK_SHAPE if args.quick else SHAPE
    rng = np.random.default_rng(0)
    logits_np = rng.standard_normal(shape, dtype=np.float32)
    labels_np = rng.integers(0, shape[-1], size=shape[:-1]).astype(np.int32)
    logits, labels = jax.numpy.asarray(logits_np), jax.numpy.asarray(labels_np)
    results = {}

    # 1. Lovász-softmax, jit(value_and_grad)
    ours = jax.jit(jax.value_and_grad(regionloss_lovasz))
    base = jax.jit(jax.value_and_grad(handwritten_lovasz))
    _check_same(ours(logits, labels), base(logits, labels))
    times = time_interleaved({"hand-written jax.numpy": lambda: base(logits, labels),
                              "regionloss.lovasz_softmax_loss": lambda: ours(logits, labels)},
                             repeats=args.repeats, warmup=args.warmup)
    ratios = print_comparison(f"Lovasz-softmax forward+backward under jit, logits {shape}",
                              times, baseline="hand-written jax.numpy", target=LOVASZ_TARGET)
    results["lovasz_jax"] = ratios["regionloss.lovasz_softmax_loss"]

    # 2a. dice_ce_loss vs the two parts, JAX jit(value_and_grad)
    comp = jax.jit(jax.value_and_grad(compound_dice_ce))
    sep = jax.jit(jax.value_and_grad(separate_dice_ce))
    _check_same(comp(logits, labels), sep(logits, labels))
    times = time_interleaved({"dice_loss + cross_entropy_loss": lambda: sep(logits, labels),
                              "dice_ce_loss": lambda: comp(logits, labels)},
                             repeats=args.repeats, warmup=args.warmup)
    ratios = print_comparison(f"Dice + CE forward+backward under jit (JAX), logits {shape}",
                              times, baseline="dice_loss + cross_entropy_loss",
                              target=COMPOUND_TARGET)
    results["dice_ce_jax"] = ratios["dice_ce_loss"]

    # 2b. the same on NumPy, forward (eager)
    np.testing.assert_allclose(float(compound_dice_ce(logits_np, labels_np)),
                               float(separate_dice_ce(logits_np, labels_np)), rtol=1e-5)
    times = time_interleaved(
        {"dice_loss + cross_entropy_loss": lambda: separate_dice_ce(logits_np, labels_np),
         "dice_ce_loss": lambda: compound_dice_ce(logits_np, labels_np)},
        repeats=args.repeats, warmup=args.warmup)
    ratios = print_comparison(f"Dice + CE forward (NumPy), logits {shape}", times,
                              baseline="dice_loss + cross_entropy_loss", target=COMPOUND_TARGET)
    results["dice_ce_numpy"] = ratios["dice_ce_loss"]

    # 3. the catalogue, each as a multiple of dice_loss
    import functools

    import regionloss

    candidates = {"dice_loss": jax.jit(jax.value_and_grad(regionloss.dice_loss))}
    for label, options in CATALOGUE.items():
        fn = getattr(regionloss, label.split()[0])
        candidates[label] = jax.jit(jax.value_and_grad(functools.partial(fn, **options)))
    for fn in candidates.values():
        value, grad = fn(logits, labels)
        assert np.isfinite(float(value)) and bool(jax.numpy.all(jax.numpy.isfinite(grad)))
    calls = {k: functools.partial(f, logits, labels) for k, f in candidates.items()}
    # the same loss with its maps computed once (distance_penalty_map) and passed in
    maps = regionloss.distance_penalty_map(labels, num_classes=shape[-1])
    with_maps = jax.jit(jax.value_and_grad(
        lambda x, y, m: regionloss.distance_penalized_cross_entropy(x, y, penalty_maps=m)))
    np.testing.assert_allclose(float(with_maps(logits, labels, maps)[0]),
                               float(candidates["distance_penalized_cross_entropy"](
                                   logits, labels)[0]), rtol=1e-5)
    calls["distance_penalized_cross_entropy, penalty_maps"] = functools.partial(
        with_maps, logits, labels, maps)
    # what the distance-penalized loss spends on its maps: the distance transforms of the
    # N·C class masks alone (forward only: no gradient flows through them)
    from regionloss.distance_maps import distance_transform

    masks = (labels[:, None] == jax.numpy.arange(shape[-1])[None, :, None, None])
    masks = masks.reshape((-1,) + shape[1:-1])
    edt = jax.jit(distance_transform)
    calls["(distance transforms alone)"] = functools.partial(edt, masks)
    times = time_interleaved(calls, repeats=args.repeats, warmup=args.warmup)
    ratios = print_comparison(
        f"Catalogue forward+backward under jit (JAX), logits {shape}, as a multiple of "
        f"dice_loss (target <= {CATALOGUE_TARGET:g} except {', '.join(SORTING)})", times,
        baseline="dice_loss")
    for label, ratio in ratios.items():
        if label != "dice_loss" and not label.startswith("("):
            results[f"catalogue {label}"] = ratio
    above = [k for k, r in ratios.items()
             if r > CATALOGUE_TARGET and k not in SORTING and not k.startswith("(")]
    print(f"  above {CATALOGUE_TARGET:g}x (sorting losses excepted): {above or 'none'}")
    return results


if __name__ == "__main__":
    main()
