"""MindEye's diffusion prior: from the brain's tokens to the embedding an image generator is conditioned on.

A DALL-E 2 style prior: a non-causal transformer reads ``[brain tokens | time token | noisy target tokens]``
(each with a learned position) and predicts the clean target (x₀) at the noisy tokens' positions. Targets
are scaled by √dim, so each value is about unit-sized: L2-normalised embeddings (``unit_tokens``, the shipped
generator's), or CLIP tokens as MindEye gives them (already divided by their class token's norm, Versatile
Diffusion's conditioning). Training noises them on a cosine schedule of ``timesteps`` steps and drops the
brain tokens (to a learned null) for a fraction of samples, so sampling can use classifier-free guidance.
:meth:`DiffusionPrior.sample` runs the whole ancestral (DDPM) chain and returns embeddings in the targets' own
scale.

The defaults fit the in-silico subject (brain tokens 16 × 64 → the shipped diffusion model's one 128-d
embedding); MindEye's NSD prior (width 768, depth 6, 12 heads, 257 × 768 tokens each way) is
``PriorConfig.nsd()``.

>>> prior = DiffusionPrior(PriorConfig(brain_tokens=16, brain_dim=64, n_tokens=1, dim=128))
>>> loss = prior.loss(brain_tokens, target)          # brain_tokens (B, 16, 64), target (B, 1, 128)
>>> embeddings = prior.sample(brain_tokens, generator=torch.Generator().manual_seed(0))   # (B, 1, 128)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PriorConfig", "DiffusionPrior", "cosine_alphas_cumprod"]


@dataclass
class PriorConfig:
    brain_tokens: int  # tokens the prior is conditioned on (the decoder backbone's)
    brain_dim: int  # their width
    n_tokens: int = 1  # target tokens (the shipped diffusion model reads one embedding)
    dim: int = 128  # target width (the shipped embedder's image embedding)
    width: int = 128  # transformer width (MindEye: 768)
    depth: int = 2  # transformer layers (MindEye: 6)
    heads: int = 4  # attention heads (MindEye: 12)
    timesteps: int = 100  # diffusion steps (as MindEye)
    condition_drop: float = 0.2  # brain tokens replaced by the null for this fraction of samples (as MindEye)
    unit_tokens: bool = True  # targets are unit-norm per token (the shipped generator's); False: taken as given (CLIP tokens)

    def __post_init__(self):
        for name in ("brain_tokens", "brain_dim", "n_tokens", "dim", "width", "depth", "heads", "timesteps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"PriorConfig.{name} must be a positive integer; {value!r} was provided.")
        if self.width % self.heads:
            raise ValueError(f"PriorConfig.width ({self.width}) must be a multiple of heads ({self.heads}).")
        if not 0.0 <= self.condition_drop < 1.0:
            raise ValueError(f"PriorConfig.condition_drop must be in [0, 1); {self.condition_drop!r} was provided.")

    @classmethod
    def nsd(cls, **changes) -> PriorConfig:
        """MindEye's prior on NSD: CLIP ViT-L/14 tokens (257 × 768) both as condition and as target."""
        return cls(**{"brain_tokens": 257, "brain_dim": 768, "n_tokens": 257, "dim": 768, "width": 768, "depth": 6,
                      "heads": 12, **changes})

    def to_dict(self) -> dict:
        return asdict(self)


def cosine_alphas_cumprod(timesteps: int) -> torch.Tensor:
    """ᾱ_t for t = 0 … timesteps−1 on Nichol and Dhariwal's cosine schedule (offset 0.008, β clipped at 0.999)."""
    steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((steps + 0.008) / 1.008 * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0).float()


class DiffusionPrior(nn.Module):
    """brain tokens (B, brain_tokens, brain_dim) → embeddings (B, n_tokens, dim), by denoising."""

    def __init__(self, config: PriorConfig):
        super().__init__()
        self.config = config
        w = config.width
        self.brain_in = nn.Linear(config.brain_dim, w)
        self.null_brain = nn.Parameter(torch.zeros(config.brain_tokens, config.brain_dim))
        self.target_in = nn.Linear(config.dim, w)
        self.time_mlp = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.positions = nn.Parameter(torch.randn(config.brain_tokens + 1 + config.n_tokens, w) * 0.02)
        layer = nn.TransformerEncoderLayer(w, config.heads, dim_feedforward=4 * w, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, config.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(w)
        self.target_out = nn.Linear(w, config.dim)
        self.register_buffer("alphas_cumprod", cosine_alphas_cumprod(config.timesteps), persistent=False)

    def _time_embedding(self, t: torch.Tensor) -> torch.Tensor:
        """Sinusoidal features of the step (B,) → (B, width)."""
        half = self.config.width // 2
        frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
        angles = t.float()[:, None] * frequencies[None]
        features = torch.cat([angles.sin(), angles.cos()], -1)
        if features.shape[1] < self.config.width:
            features = F.pad(features, (0, self.config.width - features.shape[1]))
        return self.time_mlp(features)

    def _check_brain(self, brain: torch.Tensor) -> None:
        expected = (self.config.brain_tokens, self.config.brain_dim)
        if brain.ndim != 3 or tuple(brain.shape[1:]) != expected:
            raise ValueError(f"brain tokens must be (batch, {expected[0]}, {expected[1]}); got {tuple(brain.shape)}.")

    def forward(self, noisy: torch.Tensor, t: torch.Tensor, brain: torch.Tensor) -> torch.Tensor:
        """The clean target predicted from noisy targets (B, n_tokens, dim) at steps t (B,), given brain tokens."""
        sequence = torch.cat([self.brain_in(brain), self._time_embedding(t)[:, None], self.target_in(noisy)], 1)
        hidden = self.transformer(sequence + self.positions)  # (B, brain_tokens + 1 + n_tokens, width)
        return self.target_out(self.norm(hidden[:, -self.config.n_tokens :]))

    def scaled(self, target: torch.Tensor) -> torch.Tensor:
        """Embeddings (B, n_tokens, dim) → the space the prior denoises in: (unit norm per token,) times √dim."""
        target = F.normalize(target.float(), dim=-1) if self.config.unit_tokens else target.float()
        return target * math.sqrt(self.config.dim)

    def loss(self, brain: torch.Tensor, target: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """MSE of the predicted clean target at a random step, with condition dropout (training)."""
        self._check_brain(brain)
        batch = len(brain)
        x0 = self.scaled(target)
        t = torch.randint(0, self.config.timesteps, (batch,), device=brain.device, generator=generator)
        noise = torch.randn(x0.shape, device=brain.device, generator=generator)
        a = self.alphas_cumprod[t][:, None, None]
        noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
        dropped = torch.rand(batch, device=brain.device, generator=generator) < self.config.condition_drop
        brain = torch.where(dropped[:, None, None], self.null_brain.to(brain.dtype).expand_as(brain), brain)
        return F.mse_loss(self(noisy, t, brain).float(), x0)

    @torch.no_grad()
    def sample(self, brain: torch.Tensor, *, guidance: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Embeddings (B, n_tokens, dim) drawn by the full ancestral chain, unit-norm per token with ``unit_tokens``
        and otherwise in the targets' scale; ``guidance`` > 1 extrapolates
        away from the unconditional prediction (classifier-free guidance), 1 turns it off."""
        self._check_brain(brain)
        batch, device = len(brain), brain.device
        null = self.null_brain.to(brain.dtype).expand_as(brain)
        shape = (batch, self.config.n_tokens, self.config.dim)

        def noise() -> torch.Tensor:  # drawn where the generator lives (a CPU generator may drive a GPU run)
            return torch.randn(shape, generator=generator, device=device if generator is None else generator.device).to(device)

        x = noise()
        abar = self.alphas_cumprod
        for step in reversed(range(self.config.timesteps)):
            t = torch.full((batch,), step, device=device, dtype=torch.long)
            x0 = self(x, t, brain).float()
            if guidance != 1.0:
                unconditional = self(x, t, null).float()
                x0 = unconditional + guidance * (x0 - unconditional)
            if step == 0:
                x = x0
                break
            a_t, a_prev = abar[step], abar[step - 1]
            beta = 1 - a_t / a_prev
            mean = (a_prev.sqrt() * beta / (1 - a_t)) * x0 + ((1 - beta).sqrt() * (1 - a_prev) / (1 - a_t)) * x
            variance = beta * (1 - a_prev) / (1 - a_t)
            x = mean + variance.sqrt() * noise()
        return F.normalize(x, dim=-1) if self.config.unit_tokens else x / math.sqrt(self.config.dim)
