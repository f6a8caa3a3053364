"""MindEye's brain → image-token network: a residual MLP backbone and a per-token projector; with several
subjects, MindEye2's shared-subject form.

The backbone maps a subject's voxels (z-scored, repeats averaged at test) to the target's tokens: Linear(V →
hidden), one per subject (MindEye2: each subject's voxels into one shared space), then LayerNorm, GELU,
Dropout(0.5); ``n_blocks`` residual blocks of Linear(hidden → hidden), LayerNorm,
GELU, Dropout(0.15); Linear(hidden → n_tokens · dim). The projector, applied to each token, gives the
embedding the contrastive losses and retrieval compare with the target: LayerNorm, GELU, Linear(dim →
projector), LayerNorm, GELU, Linear(projector → projector), LayerNorm, GELU, Linear(projector → dim). At
MindEye's NSD sizes (:meth:`MindEyeConfig.nsd`: 15,724 voxels, hidden 4096, 257 × 768 tokens, projector 2048)
the backbone and projector have about 940 M parameters (1,061 M with the prior's 46 M and the low-level head's
67 M); the defaults fit the in-silico subject (about 7 M; 8.3 M with the prior and the low-level head).

>>> config = MindEyeConfig(n_voxels=1619)          # 16 × 64 embedder tokens
>>> model = MindEye(config)
>>> tokens, projected = model(voxels)              # (B, 16, 64) each
>>> shared = MindEye(MindEyeConfig(n_voxels={"s2": 1540, "s3": 1702}))   # MindEye2: a linear layer per subject
>>> tokens, projected = shared(voxels_s2, subject="s2")
>>> full = MindEye(MindEyeConfig(n_voxels=1619, prior_dim=128, low_level_shape=(4, 16, 16)))
>>> tokens, projected, latents = full.predict(voxels)   # latents (B, 4, 16, 16); full.prior samples embeddings
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from brainlens.decoding.low_level import LowLevelHead
from brainlens.decoding.prior import DiffusionPrior, PriorConfig

__all__ = ["MindEyeConfig", "MindEye"]


# the subject name of a single-subject model
SUBJECT = "subject"


@dataclass
class MindEyeConfig:
    # the subject's voxels (read in the store's order), or {subject name: voxels} for one linear layer each
    n_voxels: int | dict[str, int]
    n_tokens: int = 16  # target tokens (embedder-tokens: 16; CLIP ViT-L/14: 257)
    dim: int = 64  # width of each target token (embedder-tokens: 64; CLIP ViT-L/14: 768)
    hidden: int = 1024  # backbone width (MindEye: 4096)
    n_blocks: int = 4  # residual blocks (as MindEye)
    dropout_first: float = 0.5  # after the first layer (as MindEye)
    dropout_blocks: float = 0.15  # inside each block (as MindEye)
    projector: int = 512  # projector width (MindEye: 2048)
    prior_dim: int = 0  # width of the embedding the diffusion prior predicts (0: no prior)
    prior_tokens: int = 1  # tokens of that embedding (the shipped diffusion model: 1 × 128; Versatile Diffusion: 257 × 768)
    prior_width: int = 128  # the prior transformer's width (MindEye: 768)
    prior_depth: int = 2  # its layers (MindEye: 6)
    prior_heads: int = 4  # its attention heads (MindEye: 12)
    prior_unit_tokens: bool = True  # the prior's targets are unit-norm tokens (the shipped generator's); False for CLIP tokens
    low_level_shape: tuple[int, int, int] | None = None  # the VAE latent the low-level head predicts (None: no head)
    low_level_width: int = 32  # channels of the low-level head's upsampler (MindEye: 64)

    def __post_init__(self):
        if isinstance(self.n_voxels, int):
            self.n_voxels = {SUBJECT: self.n_voxels}
        if not isinstance(self.n_voxels, dict) or not self.n_voxels:
            raise ValueError(f"MindEyeConfig.n_voxels must be a positive integer or {{subject: voxels}}; {self.n_voxels!r} was provided.")
        for subject, count in self.n_voxels.items():
            if not isinstance(count, int) or count < 1:
                raise ValueError(f"MindEyeConfig.n_voxels[{subject!r}] must be a positive integer; {count!r} was provided.")
        for name in ("n_tokens", "dim", "hidden", "projector"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"MindEyeConfig.{name} must be a positive integer; {value!r} was provided.")
        if self.low_level_shape is not None:
            self.low_level_shape = tuple(int(v) for v in self.low_level_shape)
            if len(self.low_level_shape) != 3 or min(self.low_level_shape) < 1:
                raise ValueError(f"MindEyeConfig.low_level_shape must be (channels, height, width); {self.low_level_shape!r} was provided.")
        if not isinstance(self.prior_dim, int) or self.prior_dim < 0:
            raise ValueError(f"MindEyeConfig.prior_dim must be an integer >= 0; {self.prior_dim!r} was provided.")
        if not isinstance(self.n_blocks, int) or self.n_blocks < 0:
            raise ValueError(f"MindEyeConfig.n_blocks must be an integer >= 0; {self.n_blocks!r} was provided.")
        for name in ("dropout_first", "dropout_blocks"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"MindEyeConfig.{name} must be in [0, 1); {getattr(self, name)!r} was provided.")

    @classmethod
    def nsd(cls, n_voxels: int = 15724, **changes) -> MindEyeConfig:
        """MindEye's sizes on NSD (subject 1's nsdgeneral voxels, CLIP ViT-L/14's 257 × 768 tokens)."""
        return cls(**{"n_voxels": n_voxels, "n_tokens": 257, "dim": 768, "hidden": 4096, "projector": 2048,
                      "prior_dim": 768, "prior_tokens": 257, "prior_width": 768, "prior_depth": 6, "prior_heads": 12,
                      "prior_unit_tokens": False, "low_level_shape": (4, 64, 64), "low_level_width": 64, **changes})

    def prior_config(self) -> PriorConfig | None:
        if not self.prior_dim:
            return None
        return PriorConfig(brain_tokens=self.n_tokens, brain_dim=self.dim, n_tokens=self.prior_tokens, dim=self.prior_dim,
                           width=self.prior_width, depth=self.prior_depth, heads=self.prior_heads,
                           unit_tokens=self.prior_unit_tokens)

    def to_dict(self) -> dict:
        values = asdict(self)
        if values["low_level_shape"] is not None:
            values["low_level_shape"] = list(values["low_level_shape"])
        return values


class _Block(nn.Module):
    """One residual block: x + Dropout(GELU(LayerNorm(Linear(x))))."""

    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(width, width), nn.LayerNorm(width), nn.GELU(), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class MindEye(nn.Module):
    """voxels (B, n_voxels of ``subject``) → (backbone tokens (B, n_tokens, dim), projected tokens (B, n_tokens, dim))."""

    def __init__(self, config: MindEyeConfig):
        super().__init__()
        self.config = config
        width = config.hidden
        self.subject_layers = nn.ModuleDict({name: nn.Linear(count, width) for name, count in config.n_voxels.items()})
        self.first = nn.Sequential(nn.LayerNorm(width), nn.GELU(), nn.Dropout(config.dropout_first))
        self.blocks = nn.Sequential(*[_Block(width, config.dropout_blocks) for _ in range(config.n_blocks)])
        self.out = nn.Linear(width, config.n_tokens * config.dim)
        p = config.projector
        self.projector = nn.Sequential(
            nn.LayerNorm(config.dim), nn.GELU(), nn.Linear(config.dim, p),
            nn.LayerNorm(p), nn.GELU(), nn.Linear(p, p),
            nn.LayerNorm(p), nn.GELU(), nn.Linear(p, config.dim),
        )
        prior = config.prior_config()
        self.prior = None if prior is None else DiffusionPrior(prior)
        shape = config.low_level_shape
        self.low_level = None if shape is None else LowLevelHead(width, shape, config.low_level_width)

    @property
    def subjects(self) -> tuple[str, ...]:
        return tuple(self.subject_layers)

    def shared(self, voxels: torch.Tensor, subject: str | None = None) -> torch.Tensor:
        """voxels (B, V) of ``subject`` (the only one by default) → the shared space (B, hidden)."""
        if subject is None:
            if len(self.subject_layers) != 1:
                raise ValueError(f"this decoder reads several subjects {list(self.subjects)}; name one (subject=...).")
            subject = self.subjects[0]
        if subject not in self.subject_layers:
            raise ValueError(f"unknown subject {subject!r}; this decoder reads {list(self.subjects)}.")
        expected = self.config.n_voxels[subject]
        if voxels.ndim != 2 or voxels.shape[1] != expected:
            raise ValueError(f"voxels must be (batch, {expected}) for subject {subject!r}; got {tuple(voxels.shape)}.")
        return self.subject_layers[subject](voxels)

    def backbone(self, voxels: torch.Tensor, subject: str | None = None) -> torch.Tensor:
        """voxels (B, V) → tokens (B, n_tokens, dim): what the diffusion prior and regression read."""
        return self.tokens_from_shared(self.shared(voxels, subject))

    def _tokens(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.out(hidden).view(len(hidden), self.config.n_tokens, self.config.dim)

    def tokens_from_shared(self, shared: torch.Tensor) -> torch.Tensor:
        """The shared space (B, hidden) → tokens (B, n_tokens, dim): the layers every subject shares."""
        return self._tokens(self.blocks(self.first(shared)))

    def heads_from_shared(self, shared: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The shared space (B, hidden) → (tokens (B, n_tokens, dim), low-level latents (B, C, h, w) or None)."""
        hidden = self.blocks(self.first(shared))  # (B, hidden)
        return self._tokens(hidden), None if self.low_level is None else self.low_level(hidden)

    def forward(self, voxels: torch.Tensor, subject: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.backbone(voxels, subject)
        return tokens, self.projector(tokens)  # the projector acts on each token

    def predict(self, voxels: torch.Tensor, subject: str | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """voxels (B, V) → (backbone tokens, projected tokens, low-level latents or None): what reconstruction reads."""
        tokens, latents = self.heads_from_shared(self.shared(voxels, subject))
        return tokens, self.projector(tokens), latents
