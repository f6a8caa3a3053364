"""NSD conversion throughput and peak memory on synthetic sessions of real size.

The script writes its own NSD-layout folder: func1pt8mm sessions of 750 trials on subj01's
(81, 104, 83) grid as ``betas_sessionNN.hdf5`` (int16, h5py shape (750, 83, 104, 81), one chunk per
voxel as NSD ships them, 1.1 GB each), an ``nsdgeneral`` mask of subj01's 15724 voxels (a contiguous
posterior cortical sheet), the design file and a small ``imgBrick`` (the sessions show few distinct
images, so that the betas, not the image copy, set the time). Then, each in a fresh process so that
peak memory is its own, alternating within a round:

- reference: a plain h5py read of one session, written the obvious way: the whole ``betas``
  dataset, then the mask's voxels, divided by 300 (float32);
- brainlens: ``convert_nsd`` of 1, 2, ... sessions (read, z-score, session parts, store write).

Prints ``convert_nsd: ratio=<x> (...)`` where ratio is brainlens's throughput (trials per second,
whole conversion of one session, store included) over the reference's; the details give the peak
resident memory of each process and its growth from 1 session to the most sessions, which should
stay near 1 (memory bounded by one session).

    python benchmarks/convert_nsd.py             # 750 trials per session, 1–3 sessions, 2 rounds
    python benchmarks/convert_nsd.py --quick     # 150 trials per session, 1–2 sessions, 1 round
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GRID = (81, 104, 83)  # subj01 func1pt8mm (X, Y, Z)
N_GENERAL = 15724  # subj01's nsdgeneral voxels
N_IMAGES = 100  # distinct images the synthetic sessions show
DESIGN_SESSIONS = 40


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


# --------------------------------------------------------------------------------------------
# the synthetic NSD folder


def general_mask(grid: tuple[int, int, int] = GRID, n: int = N_GENERAL) -> np.ndarray:
    """A stand-in for nsdgeneral: the outermost n voxels of the posterior 45 % of an ellipsoid brain
    (above its lowest quarter), a cortical sheet spread as widely as visual cortex, since the
    converter's read cost follows the mask's extent. Returns (X, Y, Z) float32 labels: -1 outside
    the brain, 0 in it, 1 in the mask."""
    x, y, z = (np.indices(grid) + 0.5) / np.array(grid)[:, None, None, None]
    radius = np.sqrt(((x - 0.5) / 0.42) ** 2 + ((y - 0.5) / 0.46) ** 2 + ((z - 0.5) / 0.42) ** 2)
    brain = radius <= 1.0
    candidates = np.flatnonzero((brain & (y < 0.45) & (z > 0.25)).ravel())
    chosen = candidates[np.argsort(-radius.ravel()[candidates], kind="stable")[:n]]
    labels = np.where(brain, 0.0, -1.0).astype(np.float32).ravel()
    labels[chosen] = 1.0
    return labels.reshape(grid)


def make_root(root: Path, n_sessions: int, trials: int, seed: int = 0) -> None:
    import h5py
    import nibabel as nib
    import scipy.io

    rng = np.random.default_rng(seed)
    design = root / "nsddata/experiments/nsd/nsd_expdesign.mat"
    design.parent.mkdir(parents=True, exist_ok=True)
    subjectim = np.tile(np.arange(1, 10001), (8, 1))  # 10k index k shows 73k id k (1-based)
    ordering = 1 + np.arange(DESIGN_SESSIONS * trials) % N_IMAGES
    scipy.io.savemat(design, {"masterordering": ordering[None, :].astype(np.float64), "subjectim": subjectim.astype(np.float64),
                              "sharedix": np.arange(1, 1001)[None, :].astype(np.float64)})
    brick = root / "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5"
    brick.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(brick, "w") as f:
        ds = f.create_dataset("imgBrick", shape=(N_IMAGES, 425, 425, 3), dtype=np.uint8, chunks=(1, 425, 425, 3), compression="lzf")
        for k in range(N_IMAGES):
            ds[k] = k
    roi = root / "nsddata/ppdata/subj01/func1pt8mm/roi"
    roi.mkdir(parents=True, exist_ok=True)
    mask = general_mask()
    nib.save(nib.Nifti1Image(mask, np.diag([1.8, 1.8, 1.8, 1.0])), roi / "nsdgeneral.nii.gz")
    brain = mask >= 0
    betas = root / "nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR"
    betas.mkdir(parents=True, exist_ok=True)
    x, y, z = GRID
    for session in range(1, n_sessions + 1):
        with h5py.File(betas / f"betas_session{session:02d}.hdf5", "w") as f:
            ds = f.create_dataset("betas", shape=(trials, z, y, x), dtype=np.int16, chunks=(trials, 1, 1, 1))
            for k in range(z):
                slab = rng.normal(0.0, 450.0, (trials, y, x)) * brain[:, :, k].T  # (trials, Y, X)
                ds[:, k] = slab.astype(np.int16)


# --------------------------------------------------------------------------------------------
# the measured work (each in its own process)


def child_reference(root: Path) -> dict:
    import h5py
    import nibabel as nib

    labels = np.asarray(nib.load(root / "nsddata/ppdata/subj01/func1pt8mm/roi/nsdgeneral.nii.gz").dataobj)
    i, j, k = np.nonzero(labels > 0)
    baseline = _rss_mb()
    start = time.perf_counter()
    with h5py.File(root / "nsddata_betas/ppdata/subj01/func1pt8mm/betas_fithrf_GLMdenoise_RR/betas_session01.hdf5", "r") as f:
        volume = f["betas"][()]  # (trials, Z, Y, X)
    betas = volume[:, k, j, i].astype(np.float32) / 300
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "trials": betas.shape[0], "voxels": betas.shape[1], "baseline_mb": baseline, "peak_mb": _peak_mb()}


def child_convert(root: Path, n_sessions: int, out: Path) -> dict:
    from brainlens.datasets import convert_nsd

    marks: dict[str, float] = {}

    def progress(stage: str, _k: int) -> None:
        marks[stage] = time.perf_counter()

    baseline = _rss_mb()
    start = time.perf_counter()
    convert_nsd(root, 1, out, sessions=range(1, n_sessions + 1), progress=progress)
    seconds = time.perf_counter() - start
    from brainlens import store

    with store.open_store(out) as s:
        trials, voxels = s.n_trials, s.n_voxels
    out.unlink()
    return {"seconds": seconds, "sessions_seconds": marks["sessions"] - start, "trials": trials, "voxels": voxels,
            "baseline_mb": baseline, "peak_mb": _peak_mb()}


def run_child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="150 trials per session, 1–2 sessions, 1 round")
    parser.add_argument("--sessions", type=int, default=None, help="most sessions converted (default 3; 2 with --quick)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of (reference, 1..n sessions) (default 2; 1 with --quick)")
    parser.add_argument("--workdir", default=None, help="folder for the synthetic NSD (default: a temporary folder)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, root = args.child[0], Path(args.child[1])
        result = child_reference(root) if kind == "reference" else child_convert(root, int(args.child[2]), Path(args.child[3]))
        print(json.dumps(result))
        return

    trials = 150 if args.quick else 750
    n_sessions = args.sessions or (2 if args.quick else 3)
    rounds = args.rounds or (1 if args.quick else 2)
    with tempfile.TemporaryDirectory(dir=args.workdir) as folder:
        root = Path(folder) / "nsd"
        started = time.perf_counter()
        make_root(root, n_sessions, trials)
        print(f"wrote {n_sessions} synthetic sessions of {trials} trials in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        results: dict[str, list[dict]] = {}
        for r in range(rounds):
            jobs = [("reference", ("reference", str(root)))]
            jobs += [(f"convert_{n}", ("convert", str(root), str(n), str(Path(folder) / "out.h5"))) for n in range(1, n_sessions + 1)]
            for name, child in jobs:
                result = run_child(*child)
                results.setdefault(name, []).append(result)
                print(f"round {r + 1} {name}: {json.dumps(result)}", file=sys.stderr)

    def best(name: str) -> dict:
        return min(results[name], key=lambda x: x["seconds"])

    ref = best("reference")
    ref_rate = ref["trials"] / ref["seconds"]
    rates = {n: best(f"convert_{n}")["trials"] / best(f"convert_{n}")["seconds"] for n in range(1, n_sessions + 1)}
    peaks = {n: max(x["peak_mb"] for x in results[f"convert_{n}"]) for n in range(1, n_sessions + 1)}
    ratio = rates[1] / ref_rate
    details = [
        f"trials_per_session={trials} grid={'x'.join(map(str, GRID))} voxels={ref['voxels']}",
        f"ref={ref_rate:.0f}trials/s ref_peak={max(x['peak_mb'] for x in results['reference']):.0f}MB",
        "convert=" + ",".join(f"{rates[n]:.0f}" for n in rates) + "trials/s",
        "sessions_stage="
        + ",".join(f"{best(f'convert_{n}')['trials'] / best(f'convert_{n}')['sessions_seconds']:.0f}" for n in rates)
        + "trials/s",
        "peak=" + ",".join(f"{peaks[n]:.0f}" for n in peaks) + "MB",
        f"baseline={best('convert_1')['baseline_mb']:.0f}MB",
        f"peak_growth_{n_sessions}v1={peaks[n_sessions] / peaks[1]:.2f}",
    ]
    print(f"convert_nsd: ratio={ratio:.2f} ({' '.join(details)})")


if __name__ == "__main__":
    main()
