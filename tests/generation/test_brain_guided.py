import numpy as np
import pytest
import torch

from brainlens.encoding.encoder import RidgeEncoder
from brainlens.generation.guidance import BrainGuidance, Contrast, CustomObjective, RegionMean, SingleVoxel, rerank
from brainlens.generation.pipeline_brain_guided import BrainGuidedPipeline
from tests.backbones.test_backbones import tiny_convnet

diffusers = pytest.importorskip("diffusers")


def tiny_pipeline(seed: int = 0) -> BrainGuidedPipeline:
    torch.manual_seed(seed)
    vae = diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=4,
        sample_size=32,
    )
    unet = diffusers.UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, block_out_channels=(16, 32), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=8, attention_head_dim=4, norm_num_groups=4,
    )
    scheduler = diffusers.DDIMScheduler(num_train_timesteps=100, beta_schedule="linear")
    return BrainGuidedPipeline(vae.eval(), unet.eval(), scheduler)


def tiny_encoder(n_voxels: int = 6) -> RidgeEncoder:
    torch.manual_seed(1)
    backbone = tiny_convnet()
    n_features = sum(c * 4 + c for c in (8, 16, 16, 24))
    return RidgeEncoder(backbone, backbone.layers, 2, torch.zeros(n_features), torch.ones(n_features),
                        torch.randn(n_features, n_voxels), torch.zeros(n_voxels), torch.arange(10, 10 + n_voxels))


def test_objectives_select_the_encoder_columns_of_store_voxels():
    encoder = tiny_encoder()
    predicted = torch.arange(12.0).view(2, 6)
    region = RegionMean(torch.tensor([0, 2]), name="A")
    assert region(predicted).tolist() == [1.0, 7.0]
    contrast = Contrast(region, RegionMean(torch.tensor([1]), name="B"))
    assert contrast(predicted).tolist() == [0.0, 0.0] and contrast.name == "A - B"
    # A − B, not B − A: columns 0 and 2 (means 1 and 7) against 1 and 5 (means 3 and 9)
    later = RegionMean(torch.tensor([1, 5]), name="C")
    assert Contrast(region, later)(predicted).tolist() == [1.0 - 3.0, 7.0 - 9.0]
    assert Contrast(later, region)(predicted).tolist() == [3.0 - 1.0, 9.0 - 7.0]
    assert SingleVoxel.from_store_voxel(encoder, 13)(predicted).tolist() == [3.0, 9.0]
    with pytest.raises(ValueError, match="predicts none of the voxels of voxel 3"):
        SingleVoxel.from_store_voxel(encoder, 3)
    with pytest.raises(ValueError, match="one score per image"):
        CustomObjective(lambda p: p.sum())(predicted)
    with pytest.raises(ValueError, match="guidance scale must be finite"):
        BrainGuidance(encoder, region, scale=float("nan"))


def test_same_seed_same_images_whatever_the_batch():
    pipe = tiny_pipeline()
    a = pipe(num_images=3, num_inference_steps=4, seed=7, batch_size=3).images
    b = pipe(num_images=3, num_inference_steps=4, seed=7, batch_size=2).images
    c = pipe(num_images=3, num_inference_steps=4, seed=8, batch_size=3).images
    assert a.shape == (3, 3, 32, 32) and 0 <= a.min() and a.max() <= 1
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert (a - c).abs().mean() > 1e-3


@pytest.mark.parametrize(("gradient_path", "scheduler"), [("unet", "ddim"), ("x0", "dpm")])
def test_guidance_raises_the_objective(gradient_path, scheduler):
    pipe = tiny_pipeline()
    pipe.use_scheduler(scheduler)
    encoder = tiny_encoder()
    objective = RegionMean(torch.tensor([0, 1, 2]), name="target")
    plain = pipe(BrainGuidance(encoder, objective, scale=0.0), num_images=3, num_inference_steps=4, seed=0)
    guided = pipe(BrainGuidance(encoder, objective, scale=100.0), num_images=3, num_inference_steps=4, seed=0,
                  gradient_path=gradient_path)
    assert (guided.scores > plain.scores + 0.05).all()
    # and lower with the sign flipped
    away = pipe(BrainGuidance(encoder, CustomObjective(lambda p: -objective(p)), scale=100.0), num_images=3,
                num_inference_steps=4, seed=0, gradient_path=gradient_path)
    assert (-away.scores < plain.scores - 0.05).all()


def test_rerank_keeps_the_best():
    encoder = tiny_encoder()
    guidance = BrainGuidance(encoder, RegionMean(torch.tensor([0]), name="v"), scale=1.0)
    images = torch.rand(6, 3, 32, 32)
    with torch.no_grad():
        scores = guidance.score(images)
    best = rerank(guidance, images, keep=2, batch_size=4)
    assert best.tolist() == torch.argsort(scores, descending=True)[:2].tolist()
    with pytest.raises(ValueError, match="keep must be in 1..6"):
        rerank(guidance, images, keep=0)


def test_bad_inputs_are_clear_errors():
    pipe = tiny_pipeline()
    with pytest.raises(ValueError, match="num_inference_steps must be an integer ≥ 1; 0"):
        pipe(num_inference_steps=0)
    with pytest.raises(ValueError, match="gradient_path must be one of"):
        pipe(gradient_path="vae")
    with pytest.raises(ValueError, match="scheduler must be one of"):
        pipe.use_scheduler("euler-ancestral")
    pipe.scheduler = diffusers.EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    with pytest.raises(ValueError, match="EulerDiscreteScheduler is not supported"):
        pipe(num_inference_steps=2)


def test_shipped_model_guided_by_the_truth_drives_the_face_region():
    """The shipped diffusion model steered by the ground-truth brain: the guided images drive FFA-1
    well above the same seeds drawn unguided, and the embedder sees faces in most of them (measured:
    5 of 8, against 1 of 8 unguided)."""
    from brainlens.evaluation.insilico import TruthEncoder, region_response, subject
    from brainlens.evaluation.semantic import category_accuracy
    from brainlens.models.embedder import load_embedder
    from tests.models.shipped import require_shipped

    require_shipped("diffusion")
    truth = subject(1)
    voxels = np.flatnonzero(truth.region_mask("FFA-1"))
    pipe = BrainGuidedPipeline.from_model("diffusion")
    assert pipe.guide_unet is not None and pipe.autoguidance_scale == 1.0  # measured: off under brain guidance
    pipe.use_scheduler("dpm")
    guidance = BrainGuidance(TruthEncoder(truth), RegionMean(torch.as_tensor(voxels), name="FFA-1"), scale=100.0)
    plain = pipe(None, num_images=8, num_inference_steps=25, seed=0).images
    guided = pipe(guidance, num_images=8, num_inference_steps=25, seed=0)
    assert region_response(truth, guided.images, voxels).mean() > region_response(truth, plain, voxels).mean() + 1.0
    embedder = load_embedder("embedder")
    faces_guided = category_accuracy(embedder, guided.images, "face")["category_accuracy"]
    faces_plain = category_accuracy(embedder, plain, "face")["category_accuracy"]
    assert faces_guided >= 0.5 and faces_guided >= faces_plain + 0.25


def _record_first_step(pipe: BrainGuidedPipeline) -> dict:
    """Wrap the scheduler's step so the test sees what the pipeline hands it at the first step."""
    seen = {}
    step = pipe.scheduler.step

    def recording(model_output, t, sample, *args, **kwargs):
        out = step(model_output, t, sample, *args, **kwargs)
        if not seen:
            seen.update(prediction=model_output.detach().clone(), t=int(t), latents=sample.detach().clone(),
                        next_latents=out.prev_sample.detach().clone())
        return out

    pipe.scheduler.step = recording
    return seen


@pytest.mark.parametrize("gradient_path", ["x0", "unet"])
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_one_guided_step_is_the_documented_formula(gradient_path, prediction_type):
    """One guided DDIM step against the module's formula worked by hand:
    x̂0 = (x_t − √(1−ᾱ)ε)/√ᾱ (ε-prediction) or √ᾱ x_t − √(1−ᾱ)v (v-prediction), ε = √(1−ᾱ)x_t + √ᾱ v;
    ε′ = ε − √(1−ᾱ)·scale·∇ₓ objective(encoder(decode(x̂0))), the gradient through the UNet ("unet")
    or with the prediction held fixed ("x0"); then x_prev = √ᾱ_prev·x̂0′ + √(1−ᾱ_prev)·ε′ (DDIM, η = 0)."""
    pipe = tiny_pipeline()
    pipe.scheduler = diffusers.DDIMScheduler(num_train_timesteps=100, beta_schedule="linear", clip_sample=False,
                                             prediction_type=prediction_type)
    encoder = tiny_encoder()
    guidance = BrainGuidance(encoder, RegionMean(torch.tensor([0, 1, 2]), name="target"), scale=300.0)
    seen = _record_first_step(pipe)
    pipe(guidance, num_images=2, num_inference_steps=2, seed=3, gradient_path=gradient_path)

    x_t, t = seen["latents"], seen["t"]
    alpha = pipe.scheduler.alphas_cumprod[t].double()
    alpha_prev = pipe.scheduler.alphas_cumprod[t - 100 // 2].double()
    assert t == 50 and 0.3 < alpha < 0.9  # a step in the middle of the schedule, where √ᾱ and √(1−ᾱ) differ

    def output(x):
        return pipe.unet(x, t, encoder_hidden_states=torch.zeros(len(x), 1, 8)).sample

    def to_x0_and_eps(x, out):
        if prediction_type == "v_prediction":
            return alpha.sqrt() * x - (1 - alpha).sqrt() * out, (1 - alpha).sqrt() * x + alpha.sqrt() * out
        return (x - (1 - alpha).sqrt() * out) / alpha.sqrt(), out

    x = x_t.clone().requires_grad_(True)
    with torch.no_grad():
        fixed = output(x_t)
    out = output(x) if gradient_path == "unet" else fixed
    x0, _ = to_x0_and_eps(x.double(), out.double())
    images = (pipe.vae.decode(x0.float() / pipe.vae.config.scaling_factor).sample / 2 + 0.5).clamp(0, 1)
    gradient = torch.autograd.grad(encoder(images)[:, :3].mean(1).sum(), x)[0].double()

    _, eps = to_x0_and_eps(x_t.double(), fixed.double())
    guided_eps = eps - (1 - alpha).sqrt() * 300.0 * gradient
    assert (guided_eps - eps).norm() > 0.2 * eps.norm()  # the guidance is a large part of the step, not noise
    _, pipe_eps = to_x0_and_eps(x_t.double(), seen["prediction"].double())
    torch.testing.assert_close(pipe_eps, guided_eps, atol=2e-4, rtol=1e-4)

    guided_x0 = (x_t.double() - (1 - alpha).sqrt() * guided_eps) / alpha.sqrt()
    next_latents = alpha_prev.sqrt() * guided_x0 + (1 - alpha_prev).sqrt() * guided_eps
    torch.testing.assert_close(seen["next_latents"].double(), next_latents, atol=2e-4, rtol=1e-4)
