"""2-way identification, vectorised against the plain loop, and the whole reconstruction table by stage.

1. ``two_way_identification`` of brainlens (one correlation matrix, one comparison) against the
   protocol written as a plain per-item loop (for each reconstruction, its correlation with every other
   ground truth compared one at a time), on 1000 pairs of 512-d features, in the same process. Both must
   give the same value. Prints ``two_way_identification: ratio=<loop time / brainlens time>`` (bar ≥ 50).
2. The whole table (``reconstruction_table``, offline rows: PixCorr and SSIM at 425 px, the shipped
   convnet and embedder, MinD-Vis's pair-wise rows) for 1000 pairs of 64 px in-silico images and noisy
   copies, with the seconds of each stage.

    python benchmarks/identification.py            # 1000 pairs
    python benchmarks/identification.py --quick    # 200 pairs
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def two_way_by_loop(truth: np.ndarray, recon: np.ndarray) -> float:
    """MindEye's 2-way identification one comparison at a time: the reference."""
    n = len(truth)

    def pearson(a, b):
        a, b = a - a.mean(), b - b.mean()
        return float(a @ b / np.sqrt((a @ a) * (b @ b)))

    fractions = []
    for j in range(n):
        own = pearson(truth[j], recon[j])
        beaten = 0
        for i in range(n):
            if i != j and pearson(truth[i], recon[j]) < own:
                beaten += 1
        fractions.append(beaten / (n - 1))
    return float(np.mean(fractions))


def bench_identification(n: int, dim: int, repeats: int) -> dict:
    from brainlens.identification import two_way_identification

    rng = np.random.default_rng(0)
    truth = rng.normal(size=(n, dim))
    recon = truth + rng.normal(scale=15.0, size=truth.shape)  # r ≈ 0.07: identification well below 1
    started = time.perf_counter()
    reference = two_way_by_loop(truth, recon)
    loop_seconds = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        value = two_way_identification(truth, recon)
        times.append(time.perf_counter() - started)
    if abs(value - reference) > 1e-12:
        raise SystemExit(f"two_way_identification disagrees with the loop: {value} vs {reference}")
    fast = min(times)
    return {"n": n, "dim": dim, "value": value, "loop_s": round(loop_seconds, 3), "brainlens_s": round(fast, 4),
            "ratio": round(loop_seconds / fast, 1)}


def bench_table(n: int) -> dict:
    from brainlens.evaluation.reconstruction import reconstruction_table
    from brainlens.insilico import stimuli

    truth = stimuli.generate(n, seed=123_000, size=64).images
    rng = np.random.default_rng(1)
    recon = np.clip(truth.astype(np.int16) + rng.integers(-60, 61, size=truth.shape), 0, 255).astype(np.uint8)
    started = time.perf_counter()
    table = reconstruction_table(truth, recon, networks="offline", pairwise=True)
    total = time.perf_counter() - started
    return {"n": n, "total_s": round(total, 1), "seconds": table["seconds"],
            "values": {k: round(table[k], 4) for k in ("pixcorr", "ssim", "insilico_convnet_early", "insilico_embedder",
                                                       "insilico_fine_50way")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 pairs instead of 1000")
    args = parser.parse_args()
    n = 200 if args.quick else 1000
    threads = torch.get_num_threads()
    identification = bench_identification(n, 512, repeats=5)
    print(f"two_way_identification: ratio={identification['ratio']} ({json.dumps(identification)}, torch threads {threads})")
    table = bench_table(n)
    print(f"reconstruction_table: {table['total_s']} s for {n} pairs of 64 px images ({json.dumps(table['seconds'])})")
    print(f"  values: {json.dumps(table['values'])}")


if __name__ == "__main__":
    main()
