"""Sampling speed and peak memory of the shipped diffusion model on CPU.

Our pipeline (`EmbeddingDiffusionPipeline.__call__`: input checks, scheduler, conditioning, VAE decode)
against a plain reference loop written the obvious way (noise → UNet + DDIM step × steps → VAE decode),
same model, same batch, same noise, alternating within each round. The two must give the same images.

Prints `sampling: ratio=<reference time / ours> (...)`: 1.0 means the pipeline adds nothing over the
bare loop; below 1 is overhead. The details give images per second for unconditional sampling (ours and
the reference, both with the main UNet alone), for autoguided unconditional sampling (the main UNet and
the smaller guide UNet per step, the shipped default), for embedding → image with classifier-free
guidance (two UNet passes per step), for unconditional sampling under bfloat16 autocast, and the peak
resident memory of one batch of ours.

    python benchmarks/sampling.py            # batch 16, 25 DDIM steps, 3 rounds
    python benchmarks/sampling.py --quick    # batch 4, 10 steps, 1 round
"""

from __future__ import annotations

import argparse
import gc
import os
import threading
import time
from pathlib import Path

import torch

from brainlens.models import load_pipeline


class Peak:
    """Peak resident memory of this process inside the block, in MB above the level on entry.

    Resets Linux's high-water mark (``5`` into /proc/self/clear_refs) and reads VmHWM after; where
    that is refused, a thread polls VmRSS every 5 ms instead.
    """

    def __enter__(self) -> Peak:
        gc.collect()
        self.base = _status_kb("VmRSS")
        self._poll = None
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            self._high, self._done = self.base, threading.Event()
            self._poll = threading.Thread(target=self._watch, daemon=True)
            self._poll.start()
        return self

    def _watch(self) -> None:
        while not self._done.wait(0.005):
            self._high = max(self._high, _status_kb("VmRSS"))

    def __exit__(self, *exc) -> None:
        if self._poll is None:
            high = _status_kb("VmHWM")
        else:
            self._done.set()
            self._poll.join()
            high = self._high
        self.mb = (high - self.base) / 1024


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/self/status")


@torch.no_grad()
def reference(pipe, batch: int, steps: int, seed: int) -> torch.Tensor:
    """The bare loop: what a user would write with the three components and nothing else."""
    unet, vae, scheduler = pipe.unet, pipe.vae, pipe.scheduler
    latents = torch.randn((batch, *pipe.latent_shape), generator=torch.Generator().manual_seed(seed))
    latents = latents * scheduler.init_noise_sigma
    null = torch.zeros(batch, pipe.embedding_dim)  # "no embedding"
    scheduler.set_timesteps(steps)
    for t in scheduler.timesteps:
        noise = unet(scheduler.scale_model_input(latents, t), t, encoder_hidden_states=None, class_labels=null).sample
        latents = scheduler.step(noise, t, latents).prev_sample
    shift = vae.config.shift_factor or 0.0
    return (vae.decode(latents / vae.config.scaling_factor + shift).sample / 2 + 0.5).clamp(0, 1)


def ours(pipe, batch: int, steps: int, seed: int, embeds: torch.Tensor | None = None, autoguidance: float | None = 1.0) -> torch.Tensor:
    """Our pipeline; `autoguidance` 1 runs the main UNet alone (as the reference does), None the pipeline's default."""
    return pipe(embeds, num_images=None if embeds is not None else batch, num_inference_steps=steps,
                guidance_scale=3.0, autoguidance_scale=autoguidance, generator=torch.Generator().manual_seed(seed),
                output_type="pt").images


def timed(fn) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="batch 4, 10 steps, 1 round")
    parser.add_argument("--batch", type=int, default=None, help="images per call (default 16; 4 with --quick)")
    parser.add_argument("--steps", type=int, default=None, help="DDIM steps (default 25; 10 with --quick)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 3; 1 with --quick)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--model", default="diffusion", help="pipeline: shipped name or folder (default: the shipped one)")
    args = parser.parse_args()
    batch = args.batch or (4 if args.quick else 16)
    steps = args.steps or (10 if args.quick else 25)
    rounds = args.rounds or (1 if args.quick else 3)

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    pipe = load_pipeline(args.model, dtype="float32")
    embeds = torch.nn.functional.normalize(torch.randn(batch, pipe.embedding_dim, generator=torch.Generator().manual_seed(1)), dim=-1)
    ours(pipe, 2, 2, 0)  # warm-up: first calls allocate and pick kernels
    reference(pipe, 2, 2, 0)

    times: dict[str, list[float]] = {"ours": [], "reference": [], "autoguided": [], "guided": [], "bf16": []}
    largest_gap, peak_mb = 0.0, 0.0
    for r in range(rounds):
        with Peak() as peak:
            seconds, mine = timed(lambda: ours(pipe, batch, steps, r))
        peak_mb = max(peak_mb, peak.mb)
        times["ours"].append(seconds)
        seconds, plain = timed(lambda: reference(pipe, batch, steps, r))
        times["reference"].append(seconds)
        largest_gap = max(largest_gap, float((mine - plain).abs().max()))
        times["autoguided"].append(timed(lambda: ours(pipe, batch, steps, r, autoguidance=None))[0])
        times["guided"].append(timed(lambda: ours(pipe, batch, steps, r, embeds))[0])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            times["bf16"].append(timed(lambda: ours(pipe, batch, steps, r))[0])
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)

    best = {k: min(v) for k, v in times.items()}
    rate = {k: batch / v for k, v in best.items()}
    print(f"same images as the reference loop: max |difference| {largest_gap:.2e}")
    print(
        f"sampling: ratio={best['reference'] / best['ours']:.3f} (ours={rate['ours']:.2f}img/s "
        f"reference={rate['reference']:.2f}img/s autoguided={rate['autoguided']:.2f}img/s "
        f"guided={rate['guided']:.2f}img/s bf16={rate['bf16']:.2f}img/s "
        f"peak_mb={peak_mb:.0f} batch={batch} steps={steps} rounds={rounds} threads={torch.get_num_threads()} "
        f"cpus={os.cpu_count()} max_diff={largest_gap:.1e})"
    )


if __name__ == "__main__":
    main()
