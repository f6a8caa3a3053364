"""Time to simulate an in-silico subject and write its store (bar: 10,000 images × 3 repeats in < 2 min).

Prints `simulate: ratio=<budget / measured> (...)`: a ratio ≥ 1 meets the bar. Stage times come from
the progress callbacks (stimuli drawn alongside the ground-truth brain) and the clock (noise, store write).

    python benchmarks/simulate.py            # 10,000 images
    python benchmarks/simulate.py --quick    # 1,000 images
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from brainlens.insilico.brain import InSilicoSubject

BUDGET_SECONDS = 120.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 images instead of 10,000")
    parser.add_argument("--n-images", type=int, default=None)
    args = parser.parse_args()
    n_images = args.n_images or (1000 if args.quick else 10000)
    budget = BUDGET_SECONDS * n_images / 10000

    marks: dict[str, list[float]] = {}

    def progress(stage: str, _k: int) -> None:
        marks.setdefault(stage, [time.perf_counter(), 0.0])[1] = time.perf_counter()

    start = time.perf_counter()
    subject = InSilicoSubject(1)
    built = time.perf_counter()
    simulation = subject.simulate(n_images, progress=progress)
    simulated = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        path = subject.write_store(simulation, Path(folder) / "sub.h5")
        size_mb = path.stat().st_size / 2**20
        written = time.perf_counter()
    total = written - start
    stages = {
        "subject": built - start,
        # stimuli are drawn in a thread while the brain runs, so the two share one figure
        "stimuli_and_brain": marks["brain"][1] - built,
        "noise": simulated - marks["brain"][1],
        "write": written - simulated,
    }
    details = " ".join(f"{k}={v:.1f}s" for k, v in stages.items())
    print(
        f"simulate: ratio={budget / total:.2f} (total={total:.1f}s budget={budget:.0f}s images={n_images} "
        f"trials={simulation.trial_image.size} voxels={subject.n_voxels} store={size_mb:.0f}MB {details})"
    )


if __name__ == "__main__":
    main()
