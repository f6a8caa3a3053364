"""MindEye's brain → image-token network: a residual MLP backbone and a per-token projector.

The backbone maps a subject's voxels (z-scored, repeats averaged at test) to the target's tokens: Linear(V →
hidden), LayerNorm, GELU, Dropout(0.5); ``n_blocks`` residual blocks of Linear(hidden → hidden), LayerNorm,
GELU, Dropout(0.15); Linear(hidden → n_tokens · dim). The projector, applied to each token, gives the
embedding the contrastive losses and retrieval compare with the target: LayerNorm, GELU, Linear(dim →
projector), LayerNorm, GELU, Linear(projector → projector), LayerNorm, GELU, Linear(projector → dim). At
MindEye's NSD sizes (:meth:`MindEyeConfig.nsd`: 15,724 voxels, hidden 4096, 257 × 768 tokens, projector 2048)
the network has about 940 M parameters; the defaults fit the in-silico subject (about 7 M).

>>> config = MindEyeConfig(n_voxels=1619)          # 16 × 64 embedder tokens
>>> model = MindEye(config)
>>> tokens, projected = model(voxels)              # (B, 16, 64) each
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["MindEyeConfig", "MindEye"]


@dataclass
class MindEyeConfig:
    n_voxels: int  # the subject's voxels (the decoder reads exactly these, in the store's order)
    n_tokens: int = 16  # target tokens (embedder-tokens: 16; CLIP ViT-L/14: 257)
    dim: int = 64  # width of each target token (embedder-tokens: 64; CLIP ViT-L/14: 768)
    hidden: int = 1024  # backbone width (MindEye: 4096)
    n_blocks: int = 4  # residual blocks (as MindEye)
    dropout_first: float = 0.5  # after the first layer (as MindEye)
    dropout_blocks: float = 0.15  # inside each block (as MindEye)
    projector: int = 512  # projector width (MindEye: 2048)

    def __post_init__(self):
        for name in ("n_voxels", "n_tokens", "dim", "hidden", "projector"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"MindEyeConfig.{name} must be a positive integer; {value!r} was provided.")
        if not isinstance(self.n_blocks, int) or self.n_blocks < 0:
            raise ValueError(f"MindEyeConfig.n_blocks must be an integer >= 0; {self.n_blocks!r} was provided.")
        for name in ("dropout_first", "dropout_blocks"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"MindEyeConfig.{name} must be in [0, 1); {getattr(self, name)!r} was provided.")

    @classmethod
    def nsd(cls, n_voxels: int = 15724, **changes) -> MindEyeConfig:
        """MindEye's sizes on NSD (subject 1's nsdgeneral voxels, CLIP ViT-L/14's 257 × 768 tokens)."""
        return cls(**{"n_voxels": n_voxels, "n_tokens": 257, "dim": 768, "hidden": 4096, "projector": 2048, **changes})

    def to_dict(self) -> dict:
        return asdict(self)


class _Block(nn.Module):
    """One residual block: x + Dropout(GELU(LayerNorm(Linear(x))))."""

    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(width, width), nn.LayerNorm(width), nn.GELU(), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class MindEye(nn.Module):
    """voxels (B, n_voxels) → (backbone tokens (B, n_tokens, dim), projected tokens (B, n_tokens, dim))."""

    def __init__(self, config: MindEyeConfig):
        super().__init__()
        self.config = config
        width = config.hidden
        self.first = nn.Sequential(nn.Linear(config.n_voxels, width), nn.LayerNorm(width), nn.GELU(), nn.Dropout(config.dropout_first))
        self.blocks = nn.Sequential(*[_Block(width, config.dropout_blocks) for _ in range(config.n_blocks)])
        self.out = nn.Linear(width, config.n_tokens * config.dim)
        p = config.projector
        self.projector = nn.Sequential(
            nn.LayerNorm(config.dim), nn.GELU(), nn.Linear(config.dim, p),
            nn.LayerNorm(p), nn.GELU(), nn.Linear(p, p),
            nn.LayerNorm(p), nn.GELU(), nn.Linear(p, config.dim),
        )

    def backbone(self, voxels: torch.Tensor) -> torch.Tensor:
        """voxels (B, n_voxels) → tokens (B, n_tokens, dim): what the diffusion prior and regression read."""
        if voxels.ndim != 2 or voxels.shape[1] != self.config.n_voxels:
            raise ValueError(f"voxels must be (batch, {self.config.n_voxels}); got {tuple(voxels.shape)}.")
        hidden = self.blocks(self.first(voxels))  # (B, hidden)
        return self.out(hidden).view(len(voxels), self.config.n_tokens, self.config.dim)

    def forward(self, voxels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.backbone(voxels)
        return tokens, self.projector(tokens)  # the projector acts on each token
