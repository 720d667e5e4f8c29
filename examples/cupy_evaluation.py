"""Evaluate predicted label maps on the GPU with CuPy, streaming over batches.

Everything stays on the device: the label maps are made (or would be loaded) as CuPy
arrays, counted with CuPy's native ``bincount`` and scored there; only the final scores are
copied to the host for printing. Without a CUDA GPU (or without CuPy) the same code runs on
NumPy, with a message saying so.

    python examples/cupy_evaluation.py [--batches 8] [--size 256] [--classes 19]
"""

from __future__ import annotations

import argparse
import sys

import regionloss as rl


def pick_backend():
    """(array module, name): CuPy when it can reach a GPU, else NumPy."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            return cupy, f"CuPy on {cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}"
        reason = "no CUDA GPU visible"
    except ImportError:
        reason = "CuPy is not installed (pip install 'regionloss[cupy]')"
    except Exception as exc:  # noqa: BLE001 - no driver, no device
        reason = f"CuPy cannot reach a GPU ({type(exc).__name__}: {exc})"
    import numpy

    print(f"[cupy_evaluation] {reason}: falling back to NumPy", file=sys.stderr)
    return numpy, "NumPy (CPU fallback)"


def fake_batch(xp, rng_seed, n, size, num_classes):
    """A batch of reference maps and noisy predictions, made directly on the device."""
    rng = xp.random.default_rng(rng_seed)
    target = rng.integers(0, num_classes, size=(n, size, size))
    noise = rng.integers(0, num_classes, size=(n, size, size))
    pred = xp.where(rng.random((n, size, size)) < 0.8, target, noise)
    # 5 % unlabelled reference pixels, as in Cityscapes-style data
    target = xp.where(rng.random((n, size, size)) < 0.05, 255, target)
    return pred, target


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--classes", type=int, default=19)
    args = parser.parse_args(argv)
    xp, name = pick_backend()
    print(f"evaluating {args.batches} batches of {args.batch_size} x {args.size}^2 maps, "
          f"{args.classes} classes, on {name}")

    iou = rl.MetricAccumulator("iou", num_classes=args.classes, ignore_index=255)
    dice = rl.MetricAccumulator("dice", num_classes=args.classes, ignore_index=255)
    first_pred, _ = fake_batch(xp, 0, 1, 2, args.classes)
    iou_state, dice_state = iou.init(first_pred), dice.init(first_pred)  # on the device
    for b in range(args.batches):
        pred, target = fake_batch(xp, b, args.batch_size, args.size, args.classes)
        # Scores from a network would go through rl.to_labels(logits, class_axis=1) first.
        iou_state = iou.update(iou_state, pred, target)
        dice_state = dice.update(dice_state, pred, target)

    per_class = iou.compute(iou_state, average="none")          # dataset-level, (C,)
    miou = iou.compute(iou_state, average="macro")              # mIoU
    # the state's pooled per-class counts serve any one-vs-rest statistic: pixel accuracy
    pixel_acc = xp.sum(iou_state.tp) / xp.sum(iou_state.reference)
    dice_per_image = dice.compute(dice_state, average="macro", per_sample=True)

    def host(x):
        return float(x) if getattr(x, "ndim", 0) == 0 else [round(float(v), 4) for v in x]

    print(f"array type of the results: {type(miou).__module__}.{type(miou).__name__}")
    print(f"per-class IoU: {host(per_class)}")
    print(f"mIoU (pooled): {host(miou):.4f}")
    print(f"pixel accuracy: {host(pixel_acc):.4f}")
    print(f"mean per-image Dice (macro per image, then mean): {host(dice_per_image):.4f}")


if __name__ == "__main__":
    main()
