"""MindEye training speed: brainlens's training loop against a plain PyTorch loop of the same model, same process.

Both train MindEye, with its diffusion prior and low-level head, with SoftCLIP on the same synthetic batches
(random z-scored voxels, random targets) for the same number of steps; brainlens's loop
(``brainlens.decoding.fit._train_mindeye``: accelerate, OneCycle, a checkpoint after the epoch, a validation
retrieval of 32 images) against the bare forward, loss, backward and AdamW step. Prints
``decoding_speed: ratio=<brainlens samples/s / plain samples/s>`` with both rates and the peak memory (resident
on CPU, allocated on CUDA).

    python benchmarks/decoding_speed.py                                 # in-silico size on CPU (1,619 voxels, 16 × 64)
    python benchmarks/decoding_speed.py --device cuda --size nsd        # MindEye's NSD size, fp16 (needs a GPU)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _plain_loop import peak_mb, timed_steps


def main() -> None:
    from brainlens.decoding.data import TrainingData
    from brainlens.decoding.fit import TrainConfig, _train_mindeye
    from brainlens.decoding.losses import soft_clip_loss
    from brainlens.decoding.mindeye import MindEye, MindEyeConfig
    from brainlens.decoding.targets import TargetSpace

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", choices=("insilico", "nsd"), default="insilico")
    parser.add_argument("--steps", type=int, default=60, help="training steps per loop (default 60)")
    args = parser.parse_args()

    # with the diffusion prior and the low-level head, as decode fit trains them (in-silico: the shipped generator's
    # 128-d embedding and 8 × 16 × 16 latent; NSD: 257 × 768 tokens and Stable Diffusion's 4 × 64 × 64 latent)
    if args.size == "insilico":
        config = MindEyeConfig(n_voxels=1619, prior_dim=128, low_level_shape=(8, 16, 16))
    else:
        config = MindEyeConfig.nsd()
    n_voxels = config.n_voxels["subject"]
    batch = 32
    n_images = batch * args.steps
    rng = np.random.default_rng(0)
    data = TrainingData(
        trial_betas=rng.standard_normal((n_images, n_voxels), dtype=np.float32), trial_image=np.arange(n_images),
        train_targets=rng.standard_normal((n_images, config.n_tokens, config.dim), dtype=np.float32),
        train_images=np.arange(n_images),
        val_betas=rng.standard_normal((32, n_voxels), dtype=np.float32),
        val_targets=rng.standard_normal((32, config.n_tokens, config.dim), dtype=np.float32), val_images=np.arange(32),
        train_embeddings=rng.standard_normal((n_images, config.prior_tokens, config.prior_dim), dtype=np.float32),
        train_latents=rng.standard_normal((n_images, *config.low_level_shape), dtype=np.float32),
        val_embeddings=rng.standard_normal((32, config.prior_tokens, config.prior_dim), dtype=np.float32),
        val_latents=rng.standard_normal((32, *config.low_level_shape), dtype=np.float32),
    )
    precision = "fp16" if args.device.startswith("cuda") and args.size == "nsd" else "no"
    train = replace(TrainConfig(epochs=1, batch_size=batch, mixed_precision=precision, prior_weight=30.0), mixco_fraction=0.0)
    space = TargetSpace("synthetic", "none", config.n_tokens, config.dim)

    # the plain loop: the same model, loss and optimiser, nothing else
    torch.manual_seed(0)
    model = MindEye(config).to(args.device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-4)
    voxels_all = torch.from_numpy(data.trial_betas)
    targets_all = F.normalize(torch.from_numpy(data.train_targets).flatten(1), dim=-1)
    embeddings_all, latents_all = torch.from_numpy(data.train_embeddings), torch.from_numpy(data.train_latents)

    def loss_at(step: int) -> torch.Tensor:
        rows = slice(step * batch, (step + 1) * batch)
        tokens, latents = model.heads_from_shared(model.shared(voxels_all[rows].to(args.device)))
        projected = model.projector(tokens)
        return (soft_clip_loss(F.normalize(projected.float().flatten(1), dim=-1), targets_all[rows].to(args.device), 0.005)
                + 30 * model.prior.loss(tokens, embeddings_all[rows].to(args.device))
                + 0.5 * F.l1_loss(latents.float(), latents_all[rows].to(args.device)))

    seconds = timed_steps(loss_at, optimiser, args.steps, args.device, precision)
    plain = n_images / seconds
    parameters = sum(p.numel() for p in model.parameters())
    model = optimiser = None  # freed before brainlens's run

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        _train_mindeye({"subject": data}, space, config, train, Path(folder), device=args.device, resume=False, progress=None)
        ours = n_images / (time.perf_counter() - started)
    print(f"decoding_speed: ratio={ours / plain:.3f} (ours={ours:.1f} samples/s plain={plain:.1f} samples/s "
          f"size={args.size} parameters={parameters / 1e6:.1f}M batch={batch} steps={args.steps} device={args.device} "
          f"precision={precision} threads={torch.get_num_threads()} peak_mb={peak_mb(args.device):.0f})")


if __name__ == "__main__":
    main()
