"""Cost of one brain-guided denoising step over one unguided step: same pipeline, model and batch.

The published method (BrainDiVE) differentiates through the UNet, decodes the estimated clean latent
through the VAE and runs the encoder at every step. Timed side by side, alternating, in one process:

- ``unguided``: the UNet alone (plus the scheduler step);
- ``guided-unet``: the published gradient path, through the UNet, the VAE decoder and the encoder;
- ``guided-x0``: the cheaper path, the noise prediction held fixed (no backward through the UNet);
- ``guided-unet/every-2``: the published path on every other step (the mean cost per step);
- ``guided-x0/two-encoders`` (shipped model only): the cheaper path guided by two encoders together
  (an :class:`~brainlens.encoding.encoder.EncoderEnsemble` of ridge encoders on the convnet and the embedder).

Prints ``guidance_overhead: ratio=<guided-unet / unguided> (...)`` with the other ratios in the details.

    python benchmarks/guidance_overhead.py                 # shipped diffusion model + ridge encoder on the shipped convnet, CPU
    python benchmarks/guidance_overhead.py --quick         # tiny random components
    python benchmarks/guidance_overhead.py --sd --device cuda --fp16   # Stable Diffusion 2.1 base's architecture at 512 px,
                                                                       # random weights, ridge on a CLIP ViT-B/16-sized backbone
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from brainlens.encoding.encoder import EncoderEnsemble, RidgeEncoder
from brainlens.generation.guidance import BrainGuidance, RegionMean
from brainlens.generation.pipeline_brain_guided import BrainGuidedPipeline


def tiny_pipeline() -> BrainGuidedPipeline:
    import diffusers

    vae = diffusers.AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                                  up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=4, latent_channels=4)
    unet = diffusers.UNet2DConditionModel(
        sample_size=16, block_out_channels=(16, 32), layers_per_block=1, cross_attention_dim=8, attention_head_dim=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        norm_num_groups=4,
    )
    return BrainGuidedPipeline(vae, unet, diffusers.DDIMScheduler())


def sd21_base_pipeline() -> BrainGuidedPipeline:
    """Stable Diffusion 2.1 base's VAE and UNet configurations with random weights (no text encoder:
    the empty prompt's embedding is stood in by zeros of its shape, which costs the same)."""
    import diffusers

    vae = diffusers.AutoencoderKL(
        block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4, sample_size=512,
        scaling_factor=0.18215,
    )
    unet = diffusers.UNet2DConditionModel(
        sample_size=64, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, cross_attention_dim=1024,
        attention_head_dim=(5, 10, 20, 20), use_linear_projection=True,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    )
    scheduler = diffusers.DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                        clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = BrainGuidedPipeline(vae, unet, scheduler)
    # 77 tokens of the empty prompt, as SD's text encoder would give
    pipe._unconditional = lambda batch, device, dtype: {"encoder_hidden_states": torch.zeros(batch, 77, 1024, device=device, dtype=dtype)}
    return pipe


def ridge_encoder(backbone, n_voxels: int, grid: int = 4) -> RidgeEncoder:
    with torch.no_grad():
        tokens = backbone.tokens(torch.rand(1, 3, 64, 64))
    n_features = sum(t.local.shape[1] * grid * grid + t.global_.shape[1] for t in tokens.values())
    return RidgeEncoder(backbone, backbone.layers, grid, torch.zeros(n_features), torch.ones(n_features),
                        torch.randn(n_features, n_voxels) / n_features**0.5, torch.zeros(n_voxels), torch.arange(n_voxels))


def build(args):
    if args.quick:
        from brainlens.backbones.convnet import ConvNetBackbone
        from brainlens.models.convnet import ConvNet, ConvNetConfig

        return tiny_pipeline(), ridge_encoder(ConvNetBackbone(ConvNet(ConvNetConfig(vocabulary=("x",)))), 200), None, "tiny random"
    if args.sd:
        import transformers

        from brainlens.backbones.hf import _CLIP_MEAN, _CLIP_STD, HFVisionBackbone

        vision = transformers.CLIPVisionModel(transformers.CLIPVisionConfig(image_size=224, patch_size=16))
        backbone = HFVisionBackbone(vision, "clip-vit-b16 (random)", 224, _CLIP_MEAN, _CLIP_STD)
        return sd21_base_pipeline(), ridge_encoder(backbone, 15724, grid=2), None, "SD 2.1 base architecture, random weights"
    from brainlens.backbones import load_backbone

    pipe = BrainGuidedPipeline.from_model("diffusion")
    pipe.use_autoguidance(args.autoguidance)
    convnet = ridge_encoder(load_backbone("insilico-convnet"), 1619)
    reference = torch.randint(0, 256, (32, 64, 64, 3), dtype=torch.uint8).numpy()
    pair = EncoderEnsemble([convnet, ridge_encoder(load_backbone("embedder"), 1619)], reference)
    return pipe, convnet, pair, "shipped diffusion + insilico-convnet ridge"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny random components")
    parser.add_argument("--sd", action="store_true", help="Stable Diffusion 2.1 base's architecture (use a GPU)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--fp16", action="store_true", help="half-precision diffusion model")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=6, help="denoising steps per timed run")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds")
    parser.add_argument("--autoguidance", type=float, default=1.0,
                        help="shipped model: autoguidance scale of every variant (default 1, off, as synthesis runs it; "
                        "2.5 adds the guide UNet to each step)")
    args = parser.parse_args()
    torch.manual_seed(0)
    pipe, encoder, pair, what = build(args)
    pipe = pipe.to(args.device)
    if args.fp16:
        pipe = pipe.to(torch_dtype=torch.float16)
    encoder = encoder.to(args.device)
    guidance = BrainGuidance(encoder, RegionMean(torch.arange(min(50, encoder.n_voxels)), name="region"), scale=100.0)
    variants = {
        "unguided": dict(guidance=None),
        "guided-unet": dict(guidance=guidance, gradient_path="unet"),
        "guided-x0": dict(guidance=guidance, gradient_path="x0"),
        "guided-unet/every-2": dict(guidance=guidance, gradient_path="unet", guidance_every=2),
    }
    if pair is not None:
        pair_guidance = BrainGuidance(pair.to(args.device), guidance.objective, scale=100.0)
        variants["guided-x0/two-encoders"] = dict(guidance=pair_guidance, gradient_path="x0")

    def run(options) -> float:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        pipe(num_images=args.batch, num_inference_steps=args.steps, batch_size=args.batch, **options)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return (time.perf_counter() - start) / args.steps

    for options in variants.values():  # warm-up
        pipe(num_images=args.batch, num_inference_steps=2, batch_size=args.batch, **options)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, options in variants.items():
            times[name].append(run(options))
    per_step = {name: statistics.median(values) for name, values in times.items()}
    base = per_step["unguided"]
    peak = f" peak_gpu_mb={torch.cuda.max_memory_allocated() / 2**20:.0f}" if args.device.startswith("cuda") else ""
    details = " ".join(f"{name}={value * 1000:.0f}ms/step({value / base:.2f}x)" for name, value in per_step.items())
    what += f", autoguidance {args.autoguidance:g}" if not (args.quick or args.sd) else ""
    print(f"guidance_overhead: ratio={per_step['guided-unet'] / base:.2f} ({what}; device={args.device} "
          f"fp16={args.fp16} batch={args.batch} {details}{peak})")


if __name__ == "__main__":
    main()
