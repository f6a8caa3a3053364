"""Masked brain modelling pretraining speed: brainlens's loop against a plain PyTorch loop of the same model, same process.

Both pretrain the same masked brain model with the same objective on synthetic z-scored voxels (two fMRI-only
stores of random betas) for the same number of samples: brainlens's ``pretrain_mbm`` (reading the stores,
accelerate, warm-up and cosine, gradient clipping, a validation error and a checkpoint after the epoch) against
the bare forward, loss, backward and AdamW step on tensors already in memory. Prints
``mbm_speed: ratio=<brainlens samples/s / plain samples/s>`` with both rates and the peak memory (resident on
CPU, allocated on CUDA).

    python benchmarks/mbm_speed.py                                  # in-silico size on CPU (1,619 voxels, 128 wide, 4 deep)
    python benchmarks/mbm_speed.py --device cuda --size mindvis     # MinD-Vis's size: 4,656 voxels, 1024 wide, 24 deep
    python benchmarks/mbm_speed.py --objective dc-mae               # CAD phase 1 (two masked views per sample)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _plain_loop import peak_mb, timed_steps

SIZES = {"insilico": 1619, "mindvis": 4656}  # voxels per subject


def _synthetic_store(path: Path, n_samples: int, n_voxels: int, seed: int) -> Path:
    from brainlens import store

    rng = np.random.default_rng(seed)
    return store.write(path, betas=rng.standard_normal((n_samples, n_voxels), dtype=np.float32),
                       trial_session=np.repeat(np.arange(n_samples // 100 + 1), 100)[:n_samples],
                       roi=np.zeros(n_voxels, np.int16), roi_names=["all"], dataset="synthetic", subject=str(seed))


def main() -> None:
    from brainlens.decoding.mbm import MaskedBrainModel, MBMConfig, PretrainConfig, pretrain_mbm
    from brainlens.decoding.mbm.mae import MINDVIS_SIZES
    from brainlens.decoding.mbm.pretrain import _parameter_groups

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", choices=sorted(SIZES), default="insilico")
    parser.add_argument("--objective", choices=("sc-mbm", "dc-mae"), default="sc-mbm")
    parser.add_argument("--steps", type=int, default=20, help="training steps per loop (default 20)")
    args = parser.parse_args()

    batch = 100  # MinD-Vis's
    n_voxels = SIZES[args.size]
    sizes = MINDVIS_SIZES if args.size == "mindvis" else {}
    precision = "fp16" if args.device.startswith("cuda") else "no"
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        # two subjects; with the 5 % validation samples held out, the training samples fill args.steps batches
        per_subject = int(np.ceil(batch * args.steps / 2 / 0.95))
        stores = [_synthetic_store(folder / f"sub{k}.h5", per_subject, n_voxels - 40 * k, k) for k in range(2)]
        length = int(np.ceil(n_voxels / 16) * 16)
        config = MBMConfig(length=length, objective=args.objective, **sizes)

        # the plain loop: the same model, loss and optimiser, on tensors in memory
        torch.manual_seed(0)
        model = MaskedBrainModel(config).to(args.device)
        optimiser = torch.optim.AdamW(_parameter_groups(model, 0.05), lr=2.5e-4, betas=(0.9, 0.95))
        samples = torch.randn(batch * args.steps, length)

        def loss_at(step: int) -> torch.Tensor:
            return model(samples[step * batch : (step + 1) * batch].to(args.device))[0]

        seconds = timed_steps(loss_at, optimiser, args.steps, args.device, precision)
        plain = batch * args.steps / seconds
        parameters = sum(p.numel() for p in model.parameters())
        model = optimiser = None  # freed before brainlens's run

        started = time.perf_counter()
        metrics = pretrain_mbm(stores, folder / "mbm", objective=args.objective, model_config=sizes,
                               train=PretrainConfig(epochs=1, batch_size=batch, mixed_precision=precision), device=args.device)
        ours = metrics["n_train"] / (time.perf_counter() - started)
    print(f"mbm_speed: ratio={ours / plain:.3f} (ours={ours:.1f} samples/s plain={plain:.1f} samples/s size={args.size} "
          f"objective={args.objective} parameters={parameters / 1e6:.1f}M length={length} batch={batch} steps={args.steps} "
          f"device={args.device} precision={precision} threads={torch.get_num_threads()} peak_mb={peak_mb(args.device):.0f})")


if __name__ == "__main__":
    main()
