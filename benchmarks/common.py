"""A tiny timing helper shared by the benchmarks: warm-up, repeats, medians, ratios.

Candidates are timed interleaved (A, B, B, A, A, B, ...) so that drift of the machine
(turbo, other processes) hits them alike; each figure is the median of the repeats, and
every comparison is a ratio against a baseline measured in the same run: the ratio of the
medians, and the median of the per-round ratios ("paired"), which is steadier on a shared
machine because the two calls of a round see the same load.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from typing import Any, Callable


def parse_args(description: str, argv=None) -> argparse.Namespace:
    """``--quick`` (small shapes, few repeats: a smoke run), ``--repeats``, ``--warmup``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="small shapes and few repeats (a smoke run, not a measurement)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed calls per candidate (default 20, 3 with --quick)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="untimed calls per candidate first (default 3, 1 with --quick)")
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 20
    if args.warmup is None:
        args.warmup = 1 if args.quick else 3
    return args


def block(out: Any) -> Any:
    """Wait until ``out`` is computed (JAX dispatches asynchronously; others are no-ops)."""
    try:
        import jax
    except ImportError:  # pragma: no cover - a benchmark without JAX
        return out
    return jax.block_until_ready(out)


def time_interleaved(candidates: dict[str, Callable[[], Any]], *, repeats: int,
                     warmup: int) -> dict[str, list[float]]:
    """Seconds per call of each zero-argument callable, measured round-robin."""
    for fn in candidates.values():
        for _ in range(warmup):
            block(fn())
    times: dict[str, list[float]] = {name: [] for name in candidates}
    order = list(candidates.items())
    for round_ in range(repeats):
        # alternate the order each round, so that neither candidate always runs first
        for name, fn in (order if round_ % 2 == 0 else order[::-1]):
            start = time.perf_counter()
            block(fn())
            times[name].append(time.perf_counter() - start)
    return times


def median_ms(samples: list[float]) -> float:
    return 1e3 * statistics.median(samples)


def machine() -> str:
    """One line naming the machine, for the record."""
    try:
        import jax

        jax_version = f"jax {jax.__version__} ({jax.default_backend()})"
    except ImportError:  # pragma: no cover
        jax_version = "no jax"
    return (f"{platform.machine()} {os.cpu_count()} CPU(s), Python {platform.python_version()}, "
            f"{jax_version}")


def print_comparison(title: str, times: dict[str, list[float]], baseline: str,
                     target: float | None = None) -> dict[str, float]:
    """Print the median of each candidate and its ratio to ``baseline``; return the ratios."""
    base = statistics.median(times[baseline])
    print(f"\n{title}")
    print(f"  {'candidate':<34} {'median ms':>10} {'ratio':>7} {'paired':>7}")
    ratios = {}
    for name, samples in times.items():
        ratio = statistics.median(samples) / base
        paired = statistics.median(t / b for t, b in zip(samples, times[baseline]))
        ratios[name] = ratio
        flag = ""
        if target is not None and name != baseline:
            flag = "  ok" if ratio <= target else f"  ABOVE TARGET {target}"
        print(f"  {name:<34} {median_ms(samples):>10.2f} {ratio:>7.3f} {paired:>7.3f}{flag}")
    return ratios
