"""Make the small sample dataset in ``examples/data/`` (deterministic; needs Pillow).

Eight 2-D cases of 160 x 192 pixels with 4 classes (0 background, 1 liver, 2 kidney,
3 tumour), written as 8-bit greyscale PNGs holding class indices:

    examples/data/reference/case_00.png ... case_07.png   reference masks
    examples/data/prediction/case_00.png ... case_07.png  "predicted" masks

The predictions are the references perturbed the way real models err: shifted by a pixel
or two, dilated or eroded, a spurious blob here, a missed tumour there (case_03), a tumour
predicted where there is none (case_05), so that every number in the report is interesting.

Run from anywhere: ``python examples/make_sample_data.py [OUTPUT_DIR]``.
"""

from __future__ import annotations

import os
import sys

import numpy as np

H, W = 160, 192
CLASS_NAMES = ("background", "liver", "kidney", "tumour")


def _ellipse(cy, cx, ry, rx, angle=0.0):
    yy, xx = np.mgrid[:H, :W].astype(np.float64)
    c, s = np.cos(angle), np.sin(angle)
    dy, dx = yy - cy, xx - cx
    u = (c * dx + s * dy) / rx
    v = (-s * dx + c * dy) / ry
    return u * u + v * v <= 1.0


def _grow(mask, steps):
    """Dilate (steps > 0) or erode (steps < 0) with a 4-neighbour cross, NumPy only."""
    out = mask.copy()
    for _ in range(abs(steps)):
        p = np.pad(out, 1, constant_values=not (steps > 0))
        nb = [p[1:-1, 1:-1], p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]]
        out = np.logical_or.reduce(nb) if steps > 0 else np.logical_and.reduce(nb)
    return out


def make_case(index: int, rng: np.random.Generator):
    """(reference, prediction) uint8 label maps for case ``index``."""
    liver = _ellipse(70 + rng.uniform(-6, 6), 80 + rng.uniform(-8, 8),
                     38 + rng.uniform(-5, 5), 52 + rng.uniform(-6, 6), rng.uniform(-0.4, 0.4))
    kidney = _ellipse(105 + rng.uniform(-5, 5), 150 + rng.uniform(-5, 5),
                      16 + rng.uniform(-3, 3), 11 + rng.uniform(-2, 2), rng.uniform(-0.5, 0.5))
    tumour = _ellipse(65 + rng.uniform(-10, 10), 75 + rng.uniform(-12, 12),
                      7 + rng.uniform(-2, 4), 9 + rng.uniform(-2, 4)) & liver
    ref = np.zeros((H, W), np.uint8)
    ref[liver] = 1
    ref[kidney] = 2
    if index != 5:  # case_05 has no tumour in the reference
        ref[tumour] = 3

    shift = rng.integers(-2, 3, size=2)
    p_liver = _grow(np.roll(liver, tuple(shift), axis=(0, 1)), int(rng.integers(-2, 3)))
    p_kidney = _grow(np.roll(kidney, tuple(rng.integers(-2, 3, size=2)), axis=(0, 1)),
                     int(rng.integers(-1, 2)))
    p_tumour = _grow(tumour, int(rng.integers(-1, 3))) & p_liver
    pred = np.zeros((H, W), np.uint8)
    pred[p_liver] = 1
    pred[p_kidney] = 2
    if index != 3:  # case_03: the tumour is missed
        pred[p_tumour] = 3
    if index in (1, 6):  # a spurious kidney blob
        pred[_ellipse(30, 160, 5, 6)] = 2
    return ref, pred


def main(out_dir: str | None = None) -> None:
    from PIL import Image

    out_dir = out_dir or os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
    rng = np.random.default_rng(20260501)
    for sub in ("reference", "prediction"):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    for i in range(8):
        ref, pred = make_case(i, rng)
        Image.fromarray(ref).save(os.path.join(out_dir, "reference", f"case_{i:02d}.png"),
                                            optimize=True)
        Image.fromarray(pred).save(os.path.join(out_dir, "prediction", f"case_{i:02d}.png"),
                                             optimize=True)
    with open(os.path.join(out_dir, "classes.txt"), "w", encoding="utf-8") as f:
        f.write(",".join(CLASS_NAMES) + "\n")
    print(f"wrote 8 reference and 8 predicted masks under {out_dir}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
