"""Voxelwise ridge with a per-voxel alpha by K-fold CV: brainlens's VoxelRidge against himalaya's RidgeCV.

Protocol (BENCHMARKS.md): 3000 samples × 1000 features × 30000 voxels, float32, 20 log-spaced alphas,
3 contiguous folds on the first 80 % of the samples (the same folds for every method), held-out R²
on the last 20 %. Peers: himalaya's ``RidgeCV`` on each of its CPU backends ("numpy", "torch"; the
faster one counts) and scikit-learn's ``RidgeCV`` (which has no per-target alpha with K-fold CV, so
it is fitted voxel by voxel on a few voxels and its time scaled to all of them). Methods alternate
in one process: a first round runs ours and each himalaya backend, later rounds ours and the
faster backend; each method's best time counts. Peak memory is the process's resident high-water
mark during a fit above what it held before the fit: the inputs, already resident, are not counted;
the fitted coefficients are.

Ends with one line:
``ridge_vs_himalaya: ratio=<himalaya time / ours> dR2_median=<..> dR2_p99=<..> peak_mb=<ours>``,
where dR2 is |held-out R² of ours - of himalaya| over voxels. The bar: ratio ≥ 5 with
dR2_median ≤ 0.002 and dR2_p99 ≤ 0.01.

    python benchmarks/ridge_vs_himalaya.py             # 3000 × 1000 × 30000
    python benchmarks/ridge_vs_himalaya.py --quick     # 600 × 200 × 3000
    python benchmarks/ridge_vs_himalaya.py --scale     # ours alone at 10k, 30k, 100k, 300k voxels
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import threading
import time
from pathlib import Path

import numpy as np
import torch

from brainlens.encoding.ridge import VoxelRidge

ALPHAS = np.logspace(-2, 7, 20)
N_FOLDS = 3
SCALE_VOXELS = (10_000, 30_000, 100_000, 300_000)


def make_data(n_samples: int, n_features: int, n_voxels: int, seed: int = 0, chunk: int = 10_000):
    """Synthetic encoding data, float32: X (n_samples, n_features), Y (n_samples, n_voxels).

    Features have a decaying spectrum in a random basis (like a vision network's layer); each voxel
    reads a random mix of 32 feature directions, plus an offset and unit noise, with a signal-to-noise
    ratio log-uniform from 0.1 to 3 (true R² from 0.01 to 0.9) and one voxel in ten pure noise.
    Y is filled in chunks of voxels, so making it needs no more memory than Y itself.
    """
    rng = np.random.default_rng(seed)
    scales = 1.0 / np.sqrt(1.0 + np.arange(n_features) / 10.0)
    basis, _ = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    X = ((rng.standard_normal((n_samples, n_features)) * scales) @ basis.T).astype(np.float32)
    readout = X @ rng.standard_normal((n_features, 32)).astype(np.float32)  # (n_samples, 32)
    snr = 10 ** rng.uniform(-1.0, 0.5, n_voxels)
    snr[rng.random(n_voxels) < 0.1] = 0.0
    Y = np.empty((n_samples, n_voxels), dtype=np.float32)
    for start in range(0, n_voxels, chunk):
        cols = slice(start, min(start + chunk, n_voxels))
        k = cols.stop - cols.start
        signal = readout @ rng.standard_normal((32, k)).astype(np.float32)
        signal *= (snr[cols] / signal.std(0)).astype(np.float32)
        signal += rng.standard_normal((n_samples, k), dtype=np.float32)
        signal += rng.standard_normal(k).astype(np.float32)
        Y[:, cols] = signal
    return X, Y


def r2_per_voxel(Y: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Held-out R² per voxel, float64, the same formula for every method."""
    Y = Y.astype(np.float64)
    sse = ((Y - prediction) ** 2).sum(0)
    sst = ((Y - Y.mean(0)) ** 2).sum(0)
    return 1.0 - sse / sst


class PeakMemory:
    """Peak resident memory of this process during a block, in MB above what it held on entry.

    Linux keeps a resettable high-water mark (write 5 to /proc/self/clear_refs, read VmHWM); where
    that is not allowed, a thread samples the resident size every 5 ms.
    """

    def __enter__(self) -> PeakMemory:
        gc.collect()
        try:  # hand freed heap back to the system so that the baseline is what is really in use
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass
        self.start = _status_kb("VmRSS")
        self._stop = threading.Event()
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self._thread = None
        except OSError:
            self._sampled = self.start
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self._sampled = max(self._sampled, _status_kb("VmRSS"))

    def __exit__(self, *exc) -> None:
        if self._thread is None:
            peak = _status_kb("VmHWM")
        else:
            self._stop.set()
            self._thread.join()
            peak = self._sampled
        self.mb = (peak - self.start) / 1024


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def fit_ours(X, Y, X_test, chunk_size):
    with PeakMemory() as memory:
        start = time.perf_counter()
        model = VoxelRidge(alphas=ALPHAS, cv=N_FOLDS, fit_intercept=True, chunk_size=chunk_size).fit(X, Y)
        seconds = time.perf_counter() - start
    return seconds, memory.mb, model.predict(X_test), model.best_alphas_


def fit_himalaya(backend_name, X, Y, X_test):
    from himalaya.backend import set_backend
    from himalaya.ridge import RidgeCV

    backend = set_backend(backend_name, on_error="raise")
    with PeakMemory() as memory:
        start = time.perf_counter()
        model = RidgeCV(alphas=ALPHAS.astype(np.float32), cv=N_FOLDS, fit_intercept=True).fit(X, Y)
        seconds = time.perf_counter() - start
    prediction = backend.to_numpy(model.predict(X_test))
    return seconds, memory.mb, prediction, backend.to_numpy(model.best_alphas_)


def fit_sklearn(X, Y, X_test, voxels):
    """scikit-learn's RidgeCV, one voxel at a time (its K-fold CV shares one alpha over targets)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold

    predictions = np.empty((X_test.shape[0], voxels.size))
    best = np.empty(voxels.size)
    with PeakMemory() as memory:
        start = time.perf_counter()
        for k, v in enumerate(voxels):
            model = RidgeCV(alphas=ALPHAS, cv=KFold(N_FOLDS), fit_intercept=True).fit(X, Y[:, v])
            predictions[:, k] = model.predict(X_test)
            best[k] = model.alpha_
        seconds = time.perf_counter() - start
    return seconds, memory.mb, predictions, best


def compare(args) -> None:
    n_samples, n_features, n_voxels = (600, 200, 3000) if args.quick else (3000, 1000, 30_000)
    n_voxels = args.voxels or n_voxels
    X_all, Y_all = make_data(n_samples, n_features, n_voxels, seed=args.seed)
    n_train = int(round(0.8 * n_samples))
    X, Y, X_test, Y_test = X_all[:n_train], Y_all[:n_train], X_all[n_train:], Y_all[n_train:]
    print(
        f"data: {n_train} training + {n_samples - n_train} held-out samples × {n_features} features × "
        f"{n_voxels} voxels, float32, {ALPHAS.size} alphas {ALPHAS[0]:g}..{ALPHAS[-1]:g}, cv={N_FOLDS}; "
        f"torch threads={torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    runs: dict[str, list[tuple[float, float]]] = {}
    results = {}

    def run(name, fit):
        seconds, peak_mb, prediction, best_alphas = fit()
        runs.setdefault(name, []).append((seconds, peak_mb))
        results[name] = (r2_per_voxel(Y_test, prediction), best_alphas)
        print(f"  {name:<16} fit {seconds:8.2f} s   peak +{peak_mb:8.0f} MB", flush=True)

    # first calls pay for thread pools and lazy loading; keep that out of the timings
    warm = n_features + 100
    fit_ours(X[:warm], Y[:warm, :50], X_test, args.chunk_size)
    for backend in ("numpy", "torch"):
        fit_himalaya(backend, X[:warm], Y[:warm, :50], X_test)
    print("round 1")
    run("ours", lambda: fit_ours(X, Y, X_test, args.chunk_size))
    for backend in ("numpy", "torch"):
        run(f"himalaya-{backend}", lambda: fit_himalaya(backend, X, Y, X_test))
    fastest = min(("numpy", "torch"), key=lambda b: runs[f"himalaya-{b}"][0][0])
    for round_ in range(2, args.rounds + 1):
        print(f"round {round_}")
        run("ours", lambda: fit_ours(X, Y, X_test, args.chunk_size))
        run(f"himalaya-{fastest}", lambda: fit_himalaya(fastest, X, Y, X_test))

    sk_voxels = np.linspace(0, n_voxels - 1, args.sklearn_voxels).round().astype(int)
    seconds, sk_peak, prediction, sk_best = fit_sklearn(X, Y, X_test, sk_voxels)
    sk_scaled = seconds * n_voxels / sk_voxels.size
    print(
        f"  {'sklearn':<16} fit {seconds:8.2f} s on {sk_voxels.size} voxels, one at a time "
        f"→ {sk_scaled:.0f} s scaled to {n_voxels}   peak +{sk_peak:.0f} MB",
        flush=True,
    )

    ours_s, ours_mb = min(runs["ours"])
    him_name = f"himalaya-{fastest}"
    him_s, him_mb = min(runs[him_name])
    r2_ours, alphas_ours = results["ours"]
    r2_him, alphas_him = results[him_name]
    delta = np.abs(r2_ours - r2_him)
    same_alpha = np.mean(np.isclose(alphas_ours, alphas_him, rtol=1e-3))
    sk_delta = np.abs(r2_ours[sk_voxels] - r2_per_voxel(Y_test[:, sk_voxels], prediction))
    sk_same = np.mean(np.isclose(alphas_ours[sk_voxels], sk_best, rtol=1e-3))
    print(f"summary (best time of each method; load average now {os.getloadavg()[0]:.1f})")
    print(f"  ours            {ours_s:8.2f} s  peak +{ours_mb:.0f} MB  median held-out R² {np.median(r2_ours):.4f}")
    print(
        f"  {him_name:<15} {him_s:8.2f} s  peak +{him_mb:.0f} MB  median held-out R² {np.median(r2_him):.4f}  "
        f"ratio {him_s / ours_s:.2f}"
    )
    print(f"  sklearn (scaled) {sk_scaled:7.0f} s  ratio {sk_scaled / ours_s:.0f}")
    print(
        f"  |ΔR²| ours vs himalaya: median {np.median(delta):.2e}, p99 {np.percentile(delta, 99):.2e}, "
        f"max {delta.max():.2e}; same alpha on {100 * same_alpha:.1f} % of voxels"
    )
    print(
        f"  |ΔR²| ours vs sklearn on its {sk_voxels.size} voxels: max {sk_delta.max():.2e}; "
        f"same alpha on {100 * sk_same:.0f} %"
    )
    print(
        f"ridge_vs_himalaya: ratio={him_s / ours_s:.2f} dR2_median={np.median(delta):.2e} "
        f"dR2_p99={np.percentile(delta, 99):.2e} peak_mb={ours_mb:.0f}"
    )


def scale(args) -> None:
    n_samples, n_features = (600, 200) if args.quick else (3000, 1000)
    n_train = int(round(0.8 * n_samples))  # the training part of the comparison's samples
    print(
        f"ours alone: {n_train} samples × {n_features} features, cv={N_FOLDS}, chunk_size={args.chunk_size}; "
        f"torch threads={torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}"
    )
    rows = []
    X, Y = make_data(n_features + 100, n_features, 50, seed=args.seed)
    fit_ours(X, Y, X[:1], args.chunk_size)  # first calls pay for thread pools and lazy loading
    for n_voxels in SCALE_VOXELS:
        X, Y = make_data(n_train, n_features, n_voxels, seed=args.seed)
        seconds, peak_mb, _, _ = fit_ours(X, Y, X[:1], args.chunk_size)
        coef_mb = n_features * n_voxels * 4 / 2**20
        rows.append((n_voxels, seconds, peak_mb))
        print(
            f"  {n_voxels:>7} voxels: fit {seconds:8.1f} s ({1e6 * seconds / n_voxels:6.0f} µs/voxel)   "
            f"peak +{peak_mb:6.0f} MB (coef_ {coef_mb:.0f} MB of it)   inputs {Y.nbytes / 2**20:.0f} MB   "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        del X, Y
    largest_voxels, largest_s, largest_mb = rows[-1]
    print(
        f"ridge_scale: voxels={largest_voxels} fit_s={largest_s:.1f} peak_mb={largest_mb:.0f} "
        f"us_per_voxel={1e6 * largest_s / largest_voxels:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="600 samples × 200 features × 3000 voxels")
    parser.add_argument("--scale", action="store_true", help="ours alone at 10k, 30k, 100k and 300k voxels")
    parser.add_argument("--voxels", type=int, default=None, help="override the number of voxels")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of ours vs himalaya (default 3)")
    parser.add_argument("--sklearn-voxels", type=int, default=5, help="voxels fitted by scikit-learn (default 5)")
    parser.add_argument("--chunk-size", type=int, default=2048, help="VoxelRidge chunk_size (default 2048)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.scale:
        scale(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
