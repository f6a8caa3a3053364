"""Brain LDM fine-tuning speed: brainlens's ``fit_ldm`` against a plain PyTorch loop of the same model, same process.

Both fine-tune the same brain-conditioned latent diffusion model (a masked brain model encoder, the mappers, the
UNet's cross-attention and time conditioning trained, the rest frozen) for the same number of samples on a
synthetic paired store (random images and betas): brainlens's loop (reading the store, VAE latents, accelerate,
warm-up and cosine, gradient clipping, the validation losses and a checkpoint after the epoch) against the bare
noise, forward, loss, backward and AdamW step on latents already in memory. Prints
``ldm_speed: ratio=<brainlens samples/s / plain samples/s>`` with both rates and the peak memory.

    python benchmarks/ldm_speed.py                                  # in-silico size on CPU: the shipped diffusion model
    python benchmarks/ldm_speed.py --device cuda --size sd          # Stable Diffusion 1.5's UNet and VAE (random weights),
                                                                    # MinD-Vis's encoder (4,656 voxels, 1024 wide, 24 deep), fp16
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _plain_loop import peak_mb, timed_steps

SIZES = {"insilico": (1619, 64), "sd": (4656, 256)}  # voxels, image pixels (MinD-Vis samples 256 px)


def _paired_store(path: Path, n_train: int, n_voxels: int, size: int) -> Path:
    from brainlens import store

    rng = np.random.default_rng(0)
    n_images = n_train + 20  # 10 validation and 10 test images
    split = np.zeros(n_images, np.int8)
    split[-20:-10], split[-10:] = 1, 2
    return store.write(path, images=rng.integers(0, 256, (n_images, size, size, 3), dtype=np.uint8),
                       betas=rng.standard_normal((n_images, n_voxels), dtype=np.float32), trial_image=np.arange(n_images),
                       trial_session=np.zeros(n_images, np.int32), split=split, roi=np.zeros(n_voxels, np.int16),
                       roi_names=["all"], dataset="synthetic", subject="1")


def _stable_diffusion(folder: Path) -> str:
    """Stable Diffusion 1.5's UNet and VAE architecture with random weights (a one-layer text encoder beside them)."""
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    (folder / "vocab.json").write_text(json.dumps({"<|startoftext|>": 0, "<|endoftext|>": 1}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    pipe = diffusers.StableDiffusionPipeline(
        vae=diffusers.AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                                    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                                    sample_size=512),
        text_encoder=CLIPTextModel(CLIPTextConfig(vocab_size=2, hidden_size=768, intermediate_size=64, num_hidden_layers=1,
                                                  num_attention_heads=12, max_position_embeddings=77)),
        tokenizer=CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt")),
        unet=diffusers.UNet2DConditionModel(sample_size=32, cross_attention_dim=768),  # SD 1.5's UNet, at 256 px
        scheduler=diffusers.DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                          clip_sample=False, steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder / "sd")
    return str(folder / "sd")


def main() -> None:
    from brainlens.decoding.ldm.fit import LDM_TRAIN_DEFAULTS, _DiffusionLoss, fit_ldm
    from brainlens.decoding.ldm.model import BrainLDM
    from brainlens.decoding.mbm import MaskedBrainModel, MBMConfig, PretrainConfig
    from brainlens.decoding.mbm.mae import MINDVIS_SIZES
    from brainlens.decoding.mbm.pretrain import _parameter_groups, save_mbm
    from brainlens.models import load_pipeline

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", choices=sorted(SIZES), default="insilico")
    parser.add_argument("--steps", type=int, default=10, help="training steps per loop (default 10)")
    parser.add_argument("--batch", type=int, help="batch size (default: 16 in-silico, 5 at SD size as MinD-Vis)")
    args = parser.parse_args()

    n_voxels, size = SIZES[args.size]
    batch = args.batch or (5 if args.size == "sd" else LDM_TRAIN_DEFAULTS["batch_size"])
    precision = "fp16" if args.device.startswith("cuda") else "no"
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        diffusion = _stable_diffusion(folder) if args.size == "sd" else "diffusion"
        store = _paired_store(folder / "sub1.h5", batch * args.steps, n_voxels, size)
        config = MBMConfig(length=int(np.ceil(n_voxels / 16) * 16), **(MINDVIS_SIZES if args.size == "sd" else {}))
        save_mbm(folder / "mbm", MaskedBrainModel(config), {"kind": "masked-brain-model", "model": config.to_dict(),
                                                           "corpus": {"subjects": []}}, {})

        # the plain loop: the same model, loss and optimiser, on latents in memory
        pipe = load_pipeline(diffusion, dtype=torch.float32)
        torch.manual_seed(0)
        objective = _DiffusionLoss(BrainLDM(MaskedBrainModel(config), pipe.unet), pipe.scheduler).to(args.device)
        optimiser = torch.optim.AdamW(_parameter_groups(objective, 0.01), lr=1e-4, betas=(0.9, 0.95))
        latent = (int(pipe.unet.config.in_channels), int(pipe.unet.config.sample_size), int(pipe.unet.config.sample_size))
        voxels, latents = torch.randn(batch * args.steps, config.length), torch.randn(batch * args.steps, *latent)
        trained = sum(p.numel() for p in objective.parameters() if p.requires_grad)

        def loss_at(step: int) -> torch.Tensor:
            rows = slice(step * batch, (step + 1) * batch)
            return objective(voxels[rows].to(args.device), latents[rows].to(args.device))[0]

        seconds = timed_steps(loss_at, optimiser, args.steps, args.device, precision)
        plain = batch * args.steps / seconds
        objective = optimiser = pipe = None  # freed before brainlens's run

        started = time.perf_counter()
        train = PretrainConfig(**{**LDM_TRAIN_DEFAULTS, "epochs": 1, "batch_size": batch, "mixed_precision": precision})
        metrics = fit_ldm(store, folder / "ldm", encoder=folder / "mbm", diffusion=diffusion, train=train, device=args.device)
        ours = metrics["n_train_trials"] / (time.perf_counter() - started)
    print(f"ldm_speed: ratio={ours / plain:.3f} (ours={ours:.2f} samples/s plain={plain:.2f} samples/s size={args.size} "
          f"trained={trained / 1e6:.1f}M voxels={n_voxels} batch={batch} steps={args.steps} device={args.device} "
          f"precision={precision} threads={torch.get_num_threads()} peak_mb={peak_mb(args.device):.0f})")


if __name__ == "__main__":
    main()
