"""What the speed benchmarks share: the plain PyTorch training loop they measure brainlens against, and peak memory."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable

import torch


def peak_mb(device: str) -> float:
    """Peak memory so far in MiB: allocated on CUDA, resident on CPU."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_steps(loss_at: Callable[[int], torch.Tensor], optimiser: torch.optim.Optimizer, steps: int, device: str,
                precision: str) -> float:
    """Seconds for ``steps`` bare steps: ``loss_at(step)`` under autocast (fp16 when ``precision`` says so),
    backward through a gradient scaler, the optimiser step; nothing else."""
    scaler = torch.amp.GradScaler(enabled=precision == "fp16")
    started = time.perf_counter()
    for step in range(steps):
        with torch.autocast(device.split(":")[0], dtype=torch.float16, enabled=precision == "fp16"):
            loss = loss_at(step)
        optimiser.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimiser)
        scaler.update()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - started
