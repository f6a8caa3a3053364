"""The masked brain model: MinD-Vis's sparse-coded masked autoencoder of fMRI (SC-MBM), with CAD's
double-contrastive objective (DC-MAE) as an option.

A sample is one subject's voxel vector, wrap-padded to ``length`` (a multiple of ``patch_size``). It is cut
into 1-D patches of ``patch_size`` voxels, each embedded far wider than a patch (the "sparse coding":
MinD-Vis embeds 16 voxels in 1,024 dimensions), given fixed sin-cos positions and a CLS token, and read by a
ViT encoder. Training hides ``mask_ratio`` of the patches; a lighter decoder fills mask tokens in at the
hidden places and predicts every patch's voxels; the loss is the MSE on the hidden patches only, against the
unnormalised voxels (as MinD-Vis).

DC-MAE (CAD phase 1) masks each sample twice (views A and B) and adds two InfoNCE terms on the whole
reconstructed voxel vectors (cosine similarity, in-batch negatives, temperature 0.1): A's reconstruction
against the original sample (weight 1) and against B's reconstruction (weight 0.5), with the MSE term kept.

>>> model = MaskedBrainModel(MBMConfig(length=1728))
>>> loss, parts = model.loss(voxels)               # voxels (B, 1728), SC-MBM
>>> tokens = model.encode(voxels)                  # (B, 1 + 108, 128): CLS then one token per patch, no masking
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MBMConfig", "MaskedBrainModel", "OBJECTIVES", "MINDVIS_SIZES", "info_nce", "sincos_positions"]

OBJECTIVES = ("sc-mbm", "dc-mae")
# MinD-Vis's published sizes (CAD shares them)
MINDVIS_SIZES = {"width": 1024, "depth": 24, "heads": 16, "decoder_width": 512, "decoder_depth": 8, "decoder_heads": 16}


@dataclass
class MBMConfig:
    length: int  # voxels per sample after wrap-padding; a multiple of patch_size
    patch_size: int = 16  # voxels per patch (MinD-Vis: 16)
    width: int = 128  # encoder embedding, 8 × a patch (MinD-Vis: 1024, 64 ×)
    depth: int = 4  # encoder blocks (MinD-Vis: 24)
    heads: int = 8  # (MinD-Vis: 16)
    decoder_width: int = 64  # (MinD-Vis: 512)
    decoder_depth: int = 2  # (MinD-Vis: 8)
    decoder_heads: int = 4  # (MinD-Vis: 16)
    mlp_ratio: float = 1.0  # as MinD-Vis
    mask_ratio: float = 0.75  # as MinD-Vis
    objective: str = "sc-mbm"  # "sc-mbm" (MinD-Vis) or "dc-mae" (CAD phase 1)
    temperature: float = 0.1  # DC-MAE's InfoNCE temperature (CAD)
    self_contrast_weight: float = 1.0  # DC-MAE: A's reconstruction against the original (CAD)
    cross_contrast_weight: float = 0.5  # DC-MAE: A's reconstruction against B's (CAD)
    mse_weight: float = 1.0  # the masked-patch MSE (CAD's code turns it off; kept on here)

    def __post_init__(self):
        for name in ("length", "patch_size", "width", "depth", "heads", "decoder_width", "decoder_depth", "decoder_heads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MBMConfig.{name} must be a positive integer; {value!r} was provided.")
        if self.length % self.patch_size:
            raise ValueError(f"MBMConfig.patch_size {self.patch_size} does not divide the padded length {self.length}; "
                             f"pad to a multiple of it (e.g. {math.ceil(self.length / self.patch_size) * self.patch_size}).")
        if self.width % self.heads or self.decoder_width % self.decoder_heads:
            raise ValueError(f"MBMConfig: width {self.width} and decoder_width {self.decoder_width} must divide by their heads "
                             f"({self.heads}, {self.decoder_heads}).")
        if not 0.0 <= self.mask_ratio < 1.0:
            raise ValueError(f"MBMConfig.mask_ratio must be in [0, 1); {self.mask_ratio!r} was provided.")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"MBMConfig.objective must be one of {', '.join(OBJECTIVES)}; {self.objective!r} was provided.")

    @property
    def n_patches(self) -> int:
        return self.length // self.patch_size

    @classmethod
    def mindvis(cls, length: int, objective: str = "sc-mbm") -> MBMConfig:
        """MinD-Vis's published sizes (and CAD's, which shares them)."""
        return cls(length=length, objective=objective, **MINDVIS_SIZES)

    def to_dict(self) -> dict:
        return asdict(self)


def sincos_positions(width: int, n_positions: int) -> torch.Tensor:
    """Fixed 1-D sin-cos positions as MAE: (1 + n_positions, width), the CLS token's row zero."""
    frequencies = 1.0 / 10000 ** (torch.arange(width // 2, dtype=torch.float64) / (width / 2))  # (width/2,)
    angles = torch.arange(n_positions, dtype=torch.float64)[:, None] * frequencies[None]  # (n, width/2)
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    return torch.cat([torch.zeros(1, width, dtype=torch.float64), table]).float()


def _blocks(width: int, depth: int, heads: int, mlp_ratio: float) -> nn.ModuleList:
    """Pre-norm ViT blocks (attention and a GELU MLP, each residual)."""
    return nn.ModuleList(
        nn.TransformerEncoderLayer(width, heads, dim_feedforward=max(1, int(width * mlp_ratio)), dropout=0.0,
                                   activation="gelu", batch_first=True, norm_first=True, layer_norm_eps=1e-6)
        for _ in range(depth)
    )


def info_nce(query: torch.Tensor, positive: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE with in-batch negatives: query and positive (B, D), row i of each a pair; cosine logits / temperature."""
    logits = F.normalize(query, dim=-1) @ F.normalize(positive, dim=-1).T / temperature  # (B, B)
    return F.cross_entropy(logits, torch.arange(len(query), device=query.device))


class MaskedBrainModel(nn.Module):
    def __init__(self, config: MBMConfig):
        super().__init__()
        self.config = config
        c = config
        # patch embedding: a strided 1-D convolution over the voxel vector
        self.patch_embed = nn.Conv1d(1, c.width, kernel_size=c.patch_size, stride=c.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.width))
        self.register_buffer("positions", sincos_positions(c.width, c.n_patches)[None], persistent=False)
        self.blocks = _blocks(c.width, c.depth, c.heads, c.mlp_ratio)
        self.norm = nn.LayerNorm(c.width, eps=1e-6)
        # the decoder
        self.decoder_embed = nn.Linear(c.width, c.decoder_width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c.decoder_width))
        self.register_buffer("decoder_positions", sincos_positions(c.decoder_width, c.n_patches)[None], persistent=False)
        self.decoder_blocks = _blocks(c.decoder_width, c.decoder_depth, c.decoder_heads, c.mlp_ratio)
        self.decoder_norm = nn.LayerNorm(c.decoder_width, eps=1e-6)
        self.decoder_pred = nn.Linear(c.decoder_width, c.patch_size)
        self._initialise()

    def _initialise(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.xavier_uniform_(self.patch_embed.weight.view(self.config.width, -1))  # as a linear layer
        nn.init.zeros_(self.patch_embed.bias)
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)

    # -- shapes -----------------------------------------------------------------------------------
    def _check(self, voxels: torch.Tensor) -> None:
        if voxels.ndim != 2 or voxels.shape[1] != self.config.length:
            raise ValueError(f"the masked brain model reads (batch, {self.config.length}) padded voxel vectors; "
                             f"got shape {tuple(voxels.shape)}.")

    def patchify(self, voxels: torch.Tensor) -> torch.Tensor:
        """(B, length) → (B, n_patches, patch_size)."""
        return voxels.view(len(voxels), self.config.n_patches, self.config.patch_size)

    # -- the encoder -------------------------------------------------------------------------------
    def _embed(self, voxels: torch.Tensor) -> torch.Tensor:
        """(B, length) → patch tokens with positions (B, n_patches, width)."""
        return self.patch_embed(voxels[:, None]).transpose(1, 2) + self.positions[:, 1:]

    def _encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Patch tokens (B, n, width) → CLS prepended, through the blocks: (B, 1 + n, width)."""
        cls = (self.cls_token + self.positions[:, :1]).expand(len(tokens), -1, -1)
        x = torch.cat([cls, tokens], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def encode(self, voxels: torch.Tensor) -> torch.Tensor:
        """The encoder alone, nothing masked: (B, length) → (B, 1 + n_patches, width), the CLS token first."""
        self._check(voxels)
        return self._encode_tokens(self._embed(voxels))

    def _masked_encode(self, voxels: torch.Tensor, mask_ratio: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Random masking per sample → (latent (B, 1 + kept, width), mask (B, n) 1 where hidden, restore (B, n))."""
        tokens = self._embed(voxels)
        batch, n, width = tokens.shape
        kept = int(n * (1 - mask_ratio))
        order = torch.rand(batch, n, device=voxels.device).argsort(dim=1)  # the first `kept` stay visible
        restore = order.argsort(dim=1)
        visible = torch.gather(tokens, 1, order[:, :kept, None].expand(-1, -1, width))
        mask = torch.ones(batch, n, device=voxels.device)
        mask[:, :kept] = 0
        mask = torch.gather(mask, 1, restore)
        return self._encode_tokens(visible), mask, restore

    # -- the decoder -------------------------------------------------------------------------------
    def _decode(self, latent: torch.Tensor, restore: torch.Tensor) -> torch.Tensor:
        """Latent (B, 1 + kept, width) → every patch's voxels (B, n_patches, patch_size)."""
        x = self.decoder_embed(latent)
        batch, n = restore.shape
        fill = self.mask_token.expand(batch, n - (x.shape[1] - 1), -1)
        patches = torch.cat([x[:, 1:], fill], dim=1)
        patches = torch.gather(patches, 1, restore[..., None].expand(-1, -1, x.shape[2]))  # back in voxel order
        x = torch.cat([x[:, :1], patches], dim=1) + self.decoder_positions
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]

    def reconstruct(self, voxels: torch.Tensor, mask_ratio: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask, encode, decode: (B, length) → (prediction (B, n_patches, patch_size), mask (B, n_patches))."""
        self._check(voxels)
        latent, mask, restore = self._masked_encode(voxels, self.config.mask_ratio if mask_ratio is None else mask_ratio)
        return self._decode(latent, restore), mask

    def masked_mse(self, voxels: torch.Tensor, prediction: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-sample MSE over the hidden patches: (B,)."""
        per_patch = ((prediction - self.patchify(voxels)) ** 2).mean(dim=-1)  # (B, n)
        return (per_patch * mask).sum(1) / mask.sum(1).clamp_min(1)

    def forward(self, voxels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training loss of the configured objective (voxels (B, length)), and its parts (detached)."""
        return self.loss(voxels)

    def loss(self, voxels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training loss of the configured objective, and its parts (detached)."""
        c = self.config
        prediction, mask = self.reconstruct(voxels)
        mse = self.masked_mse(voxels, prediction, mask).mean()
        if c.objective == "sc-mbm":
            return mse, {"mse": mse.detach()}
        second, _ = self.reconstruct(voxels)  # view B, masked independently
        flat_a, flat_b = prediction.flatten(1), second.flatten(1)
        self_contrast = info_nce(flat_a, voxels, c.temperature)
        cross_contrast = info_nce(flat_a, flat_b, c.temperature)
        total = c.mse_weight * mse + c.self_contrast_weight * self_contrast + c.cross_contrast_weight * cross_contrast
        return total, {"mse": mse.detach(), "self_contrast": self_contrast.detach(), "cross_contrast": cross_contrast.detach()}
