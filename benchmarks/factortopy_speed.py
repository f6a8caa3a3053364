"""FactorTopy training speed: samples per second of one training step at the in-silico size, on CPU.

One step = the head's forward on a batch of cached tokens, the loss, backward, and an AdamW update.
Two implementations of the same function run alternately in this process, on the same inputs and
starting weights:

- brainlens: ``_FactorTopyHead`` (each voxel's layer-mixed local feature as one weighted bag of the
  4 × n_layers token cells around its location, via ``embedding_bag``; the read-out applied per voxel
  before anything voxel-sized and batch-sized is kept);
- reference: the published formulation written the obvious way: per layer a 1 × 1 bottleneck, then
  ``grid_sample`` at every voxel's location for every image, mixed with the global token in feature
  space, (batch, voxels, bottleneck) accumulated over layers, then the read-out.

Both give the same predictions (checked: ``max_abs_diff``). Also timed, for scale: running the shipped
backbone's architecture on the fly on a batch of 64-px images (what caching the tokens saves).

Prints ``factortopy_speed: ratio=<reference step time / brainlens step time> (...)``.

    python benchmarks/factortopy_speed.py            # in-silico size: 1619 voxels, batch 64, 15 rounds
    python benchmarks/factortopy_speed.py --quick    # 5 rounds
    python benchmarks/factortopy_speed.py --bottleneck 64 --voxels 15724   # wider bottleneck, NSD's voxel count
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from brainlens.backbones.convnet import ConvNetBackbone
from brainlens.encoding.factortopy import FactorTopyConfig, _FactorTopyHead
from brainlens.models.convnet import ConvNet, ConvNetConfig


def reference_forward(head: _FactorTopyHead, local: list[torch.Tensor], global_: list[torch.Tensor]) -> torch.Tensor:
    """The published model, step by step, with ``head``'s weights: (B, V)."""
    layers, xy, scale = head.selections()
    batch, n_voxels = local[0].shape[0], xy.shape[0]
    grid = xy.view(1, n_voxels, 1, 2).expand(batch, -1, -1, -1)
    feature = torch.zeros(batch, n_voxels, head.readout.shape[1])
    for layer, (layer_input, loc, glo) in enumerate(zip(head.inputs, local, global_)):
        loc = (loc - layer_input.local_mean[:, None, None]) / layer_input.local_std[:, None, None]
        tokens = F.conv2d(loc, layer_input.local.weight[:, :, None, None])  # (B, D, g, g)
        summary = layer_input.global_((glo - layer_input.global_mean) / layer_input.global_std)  # (B, D)
        sampled = F.grid_sample(tokens, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[..., 0]  # (B, D, V)
        mixed = scale[None, :, None] * sampled.transpose(1, 2) + (1 - scale[None, :, None]) * summary[:, None, :]
        feature = feature + layers[None, :, layer, None] * mixed  # (B, V, D)
    return (feature * head.readout).sum(-1) + head.bias


def make_head(n_voxels: int, channels: tuple[int, ...], config: FactorTopyConfig, seed: int) -> _FactorTopyHead:
    torch.manual_seed(seed)
    direction = F.normalize(torch.randn(n_voxels, 3) * torch.tensor([0.3, 1.0, 0.3]) - torch.tensor([0.0, 2.0, 0.0]), dim=1)
    coords = torch.cat([100 * direction, torch.sign(torch.randn(n_voxels, 1))], 1)  # occipital points of the sphere
    head = _FactorTopyHead(channels, coords, config, learned_position=False)
    with torch.no_grad():  # selectors as after some training: spread over layers, places and scales
        for selector in (head.layer_selector, head.space_selector, head.scale_selector):
            selector[-1].weight.normal_(0, 0.3)
            selector[-1].bias.normal_(0, 0.3)
    return head


def time_steps(step, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 rounds instead of 15")
    parser.add_argument("--voxels", type=int, default=None, help="default: the in-silico subject's voxel count")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--bottleneck", type=int, default=None, help="default: FactorTopyConfig's")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rounds = args.rounds or (5 if args.quick else 15)
    if args.voxels is None:
        from brainlens.insilico.layout import build_layout

        args.voxels = build_layout(1).n_voxels
    config = FactorTopyConfig() if args.bottleneck is None else FactorTopyConfig(bottleneck=args.bottleneck)
    channels = ConvNetConfig().widths  # the shipped backbone's four stages
    batch, grid = args.batch_size, config.grid

    generator = torch.Generator().manual_seed(0)
    local = [torch.randn(batch, c, grid, grid, generator=generator) for c in channels]
    global_ = [torch.randn(batch, c, generator=generator) for c in channels]
    target = torch.randn(batch, args.voxels, generator=generator)

    ours = make_head(args.voxels, channels, config, seed=1)
    reference = copy.deepcopy(ours)
    with torch.no_grad():
        max_abs_diff = float((ours(local, global_)[0] - reference_forward(reference, local, global_)).abs().max())

    def stepper(head, forward):
        optimiser = torch.optim.AdamW(head.parameters(), lr=1e-3)

        def step():
            loss = F.mse_loss(forward(head), target)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()

        return step

    step_ours = stepper(ours, lambda head: head(local, global_)[0])
    step_reference = stepper(reference, lambda head: reference_forward(head, local, global_))
    backbone = ConvNetBackbone(ConvNet(ConvNetConfig(vocabulary=("x",)))).eval()
    images = torch.rand(batch, 3, 64, 64, generator=generator)

    def step_backbone():
        with torch.no_grad():
            backbone.tokens(images)

    for step in (step_ours, step_reference, step_backbone):  # warm-up
        step()
    timings = {"ours": [], "reference": [], "backbone": []}
    for _ in range(rounds):  # alternate, so that both see the same machine load
        timings["ours"] += time_steps(step_ours, 1)
        timings["reference"] += time_steps(step_reference, 1)
        timings["backbone"] += time_steps(step_backbone, 1)
    median = {name: statistics.median(values) for name, values in timings.items()}
    rate = {name: batch / seconds for name, seconds in median.items()}
    print(
        f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, threads={args.threads}, "
        f"step seconds (median of {rounds}): " + " ".join(f"{k}={v:.4f}" for k, v in median.items())
    )
    print(
        f"factortopy_speed: ratio={median['reference'] / median['ours']:.2f} (voxels={args.voxels} batch={batch} "
        f"layers={len(channels)} grid={grid} bottleneck={config.bottleneck} ours={rate['ours']:.0f}samples/s "
        f"reference={rate['reference']:.0f}samples/s backbone_on_the_fly={rate['backbone']:.0f}images/s "
        f"max_abs_diff={max_abs_diff:.1e} rounds={rounds} threads={args.threads})"
    )


if __name__ == "__main__":
    main()
