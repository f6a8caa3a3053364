"""The brain-conditioned latent diffusion model of MinD-Vis (DC-LDM) and CAD: a pretrained fMRI encoder drives a
latent diffusion UNet through its cross-attention and, "double conditioning", through its timestep embedding.

    voxels (B, V) ─ wrap-pad ─ fMRI encoder ─ tokens (B, 1 + P, W)
        ─ channel mapper (Conv1d over tokens, 1 + P → T) ─ width mapper (Linear W → D) ─ context (B, T, D)
    context ─ the UNet's cross-attention (keys and values)
    context ─ Conv1d T → 1 ─ Linear D → E ─ added to the timestep embedding (through the UNet's class embedding)

Trained: the encoder, the mappers, the time-conditioning projection, and the UNet's cross-attention layers with
their norms; the rest of the UNet is frozen (MinD-Vis's split). A UNet with cross-attention blocks (Stable
Diffusion's) is conditioned through them. The shipped in-silico UNet has self-attention only: a cross-attention
layer is added after each of its self-attention layers, its output zero at the start so that the model starts as
the shipped one. A UNet with no attention layers at all has nowhere to read the context: an error.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
from torch import nn

from brainlens.decoding.mbm.mae import MaskedBrainModel

__all__ = ["BrainLDMConfig", "BrainConditioner", "BrainLDM", "CrossAttentionAdapter"]


@dataclass(frozen=True)
class BrainLDMConfig:
    context_tokens: int = 77  # T: the cross-attention context's length (MinD-Vis: 77, as CLIP's text)
    condition_dropout: float = 0.1  # classifier-free guidance: the condition dropped to zero for this share of samples
    adapter_head_dim: int = 32  # heads of the cross-attention added to a UNet without it: width / this

    def __post_init__(self):
        if isinstance(self.context_tokens, bool) or not isinstance(self.context_tokens, int) or self.context_tokens < 1:
            raise ValueError(f"BrainLDMConfig.context_tokens must be a positive integer; {self.context_tokens!r} was provided.")
        if not 0.0 <= self.condition_dropout < 1.0:
            raise ValueError(f"BrainLDMConfig.condition_dropout must be in [0, 1); {self.condition_dropout!r} was provided.")
        if isinstance(self.adapter_head_dim, bool) or not isinstance(self.adapter_head_dim, int) or self.adapter_head_dim < 1:
            raise ValueError(f"BrainLDMConfig.adapter_head_dim must be a positive integer; {self.adapter_head_dim!r} was provided.")

    def to_dict(self) -> dict:
        return asdict(self)


class BrainConditioner(nn.Module):
    """Padded voxels (B, L) → (context (B, T, D) for cross-attention, time condition (B, D) for the timestep embedding)."""

    def __init__(self, encoder: MaskedBrainModel, context_tokens: int, context_dim: int):
        super().__init__()
        self.encoder = encoder
        for name, parameter in encoder.named_parameters():  # the MAE's decoder plays no part here
            if name.startswith(("decoder_", "mask_token")):
                parameter.requires_grad = False
        n_tokens = encoder.config.n_patches + 1  # the CLS token and one per patch
        self.channel_mapper = nn.Sequential(  # mixes tokens: 1 + P → T (MinD-Vis: two 1 × 1 convolutions over tokens)
            nn.Conv1d(n_tokens, max(context_tokens, n_tokens // 2), 1), nn.Conv1d(max(context_tokens, n_tokens // 2), context_tokens, 1))
        self.width_mapper = nn.Linear(encoder.config.width, context_dim)
        self.time_pool = nn.Conv1d(context_tokens, 1, 1)  # the context's tokens → one vector for the timestep embedding

    def forward(self, voxels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.encoder.encode(voxels)  # (B, 1 + P, W)
        context = self.width_mapper(self.channel_mapper(tokens))  # (B, T, D)
        return context, self.time_pool(context)[:, 0]  # (B, T, D), (B, D)


class CrossAttentionAdapter(nn.Module):
    """A UNet self-attention layer followed by a new cross-attention layer on the brain context (residual, its
    output projection zero at the start). diffusers calls a self-attention block's layers without the context, so
    the adapter reads it from the :class:`BrainLDM` that owns it, for the length of one forward pass."""

    def __init__(self, self_attention: nn.Module, channels: int, context_dim: int, head_dim: int, groups: int, owner: BrainLDM):
        from diffusers.models.attention_processor import Attention

        super().__init__()
        self.self_attention = self_attention
        heads = max(1, channels // head_dim)
        self.cross = Attention(query_dim=channels, cross_attention_dim=context_dim, heads=heads, dim_head=channels // heads,
                               norm_num_groups=groups, residual_connection=True, bias=True, out_bias=True)
        nn.init.zeros_(self.cross.to_out[0].weight)
        nn.init.zeros_(self.cross.to_out[0].bias)
        object.__setattr__(self, "_owner", owner)  # not a submodule: the owner holds the adapter, not the reverse

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        hidden_states = self.self_attention(hidden_states, *args, **kwargs)
        return self.cross(hidden_states, encoder_hidden_states=self._owner.current_context)


def _native_cross_attention(unet) -> bool:
    blocks = [*unet.down_blocks, unet.mid_block, *unet.up_blocks]
    return any(getattr(block, "has_cross_attention", False) for block in blocks if block is not None)


class BrainLDM(nn.Module):
    """The fMRI encoder and mappers (:class:`BrainConditioner`) and a diffusers ``UNet2DConditionModel``.

    ``model(noisy_latents, timesteps, voxels, keep)`` → the UNet's prediction; ``keep`` (B,) bool: False drops that
    sample's condition to zero (classifier-free guidance; training drops ``condition_dropout`` of them)."""

    def __init__(self, encoder: MaskedBrainModel, unet, config: BrainLDMConfig = BrainLDMConfig()):
        super().__init__()
        self.config = config
        context_dim = int(unet.config.cross_attention_dim)
        self.conditioner = BrainConditioner(encoder, config.context_tokens, context_dim)
        self.unet = unet
        self.current_context: torch.Tensor | None = None
        self.native = _native_cross_attention(unet)
        if not self.native:
            self._add_cross_attention(context_dim)
        time_dim = unet.time_embedding.linear_2.out_features
        if unet.class_embedding is None:  # Stable Diffusion: a new projection into the timestep embedding, zero at first
            unet.class_embedding = nn.Linear(context_dim, time_dim)
            nn.init.zeros_(unet.class_embedding.weight)
            nn.init.zeros_(unet.class_embedding.bias)
            self.time_mapper = nn.Identity()
        else:  # the shipped UNet's embedding projection: the condition is mapped to its input (zero stays zero,
            # the shipped model's unconditional input)
            self.time_mapper = nn.Linear(context_dim, int(unet.config.projection_class_embeddings_input_dim), bias=False)
        self._freeze()

    def _add_cross_attention(self, context_dim: int) -> None:
        found = 0
        for block in [*self.unet.down_blocks, self.unet.mid_block, *self.unet.up_blocks]:
            attentions = getattr(block, "attentions", None)
            if block is None or attentions is None:
                continue
            for k, attention in enumerate(attentions):
                channels = attention.to_q.in_features
                groups = attention.group_norm.num_groups if attention.group_norm is not None else 1
                attentions[k] = CrossAttentionAdapter(attention, channels, context_dim, self.config.adapter_head_dim, groups, self)
                found += 1
        if not found:
            raise ValueError("the UNet has neither cross-attention nor self-attention layers: nowhere for the brain "
                             "condition to enter (MinD-Vis conditions a UNet through its cross-attention).")

    def _freeze(self) -> None:
        """Train the conditioner, the time conditioning and the cross-attention (with its norms); freeze the rest."""
        for name, parameter in self.unet.named_parameters():
            parameter.requires_grad = self.trains_unet_parameter(name)

    def trains_unet_parameter(self, name: str) -> bool:
        if name.startswith("class_embedding."):
            return True
        if self.native:  # BasicTransformerBlock: attn2 is the cross-attention, norm2 its norm
            return ".transformer_blocks." in name and (".attn2." in name or ".norm2." in name)
        return ".cross." in name

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    def trained_state(self) -> dict[str, torch.Tensor]:
        """The trained parameters (what a decoder folder stores; the frozen UNet comes from its base model)."""
        return {name: value for name, value in self.state_dict().items()
                if not name.startswith("unet.") or self.trains_unet_parameter(name.removeprefix("unet."))}

    @contextmanager
    def _context(self, context: torch.Tensor):
        self.current_context = context
        try:
            yield
        finally:
            self.current_context = None

    def condition(self, voxels: torch.Tensor, keep: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded voxels (B, L) → (context (B, T, D), time condition (B, D)), zero where ``keep`` is False."""
        context, time_condition = self.conditioner(voxels)
        if keep is not None:
            context = context * keep[:, None, None].to(context.dtype)
            time_condition = time_condition * keep[:, None].to(time_condition.dtype)
        return context, time_condition

    def predict(self, latents: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor, time_condition: torch.Tensor) -> torch.Tensor:
        """The UNet's prediction for latents (B, C, h, w) at timesteps (B,) under a condition from :meth:`condition`."""
        with self._context(context):
            return self.unet(latents, timesteps, encoder_hidden_states=context,
                             class_labels=self.time_mapper(time_condition)).sample

    def forward(self, latents: torch.Tensor, timesteps: torch.Tensor, voxels: torch.Tensor,
                keep: torch.Tensor | None = None) -> torch.Tensor:
        return self.predict(latents, timesteps, *self.condition(voxels, keep))
