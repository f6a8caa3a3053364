"""FactorTopy: a voxelwise encoder that says which layer, place and scale of a network each voxel reads.

The model of Brain Decodes Deep Nets (Yang, Gee & Shi, CVPR 2024). For every voxel v, three selectors
pick what to read from a frozen backbone's tokens:

- **layer**: weights p_v over the backbone's layers (a softmax);
- **space**: a location xy_v in the image, where the voxel samples each layer's local token grid
  (bilinear interpolation, so the location is continuous and learned by gradient);
- **scale**: s_v in [0, 1], how much of the local token (1) against the global token (0) it reads.

The selectors are not free per-voxel parameters but small networks of the voxel's position on the
cortex, so neighbouring voxels make similar choices and the maps they draw are smooth. Each layer's
tokens first pass a linear bottleneck to a common width; a per-voxel linear read-out of the selected
feature predicts the response::

    f_v(image) = s_v · Σ_l p_vl · sample(T_l, xy_v) + (1 − s_v) · Σ_l p_vl · g_l      (bottleneck features)
    y_v(image) = w_v · f_v(image) + b_v

Two regularisers act early in training and fade to zero: the layer selector's entropy (rewarded, so
the softmax does not lock onto one layer before the read-out has learned anything) and the scale
selector's distance from 0.5 (for the same reason). Both were in the published model.

Cortical positions come from the store: for fsaverage5 surface voxels, the point of the registration
sphere (mm) and the hemisphere; for volume voxels, the voxel index scaled to mm. A store without voxel
locations (GOD, HCP), or on a surface whose meshes are not bundled (fsaverage, fsaverage6), gets a
learned embedding per voxel instead: the selectors still work, but neighbouring voxels no longer
share their choices.

Training (:func:`fit_factortopy`) reads the backbone's tokens once through the feature cache (local
tokens average-pooled onto a ``grid × grid`` map, as the published model pools them to 8 × 8), so an
epoch costs only the selectors and the read-out; the fitted :class:`FactorTopyEncoder` runs the
backbone itself and is differentiable from the pixels, for brain-guided synthesis.

>>> encoder = fit_factortopy("sub1.h5", "insilico-convnet", "ft")     # checkpoints and encoder in ft/
>>> predicted = encoder(images)          # images (B, 3, H, W) in [0, 1] → (B, n_voxels)
>>> encoder.layer_weights()              # (n_voxels, n_layers); space_xy() (n_voxels, 2); scale_weights() (n_voxels,)
>>> encoder = FactorTopyEncoder.load("ft")
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from brainlens._io import save_safetensors
from brainlens._io import write_json as _write_json
from brainlens.backbones import Backbone, backbone_for
from brainlens.backbones.cache import FeatureCache, Features, backbone_fingerprint, image_fingerprint, pool_local
from brainlens.encoding import scores
from brainlens.store import SPLITS, Store, StoreError, load_split, open_store

__all__ = ["FactorTopyConfig", "FactorTopyEncoder", "fit_factortopy", "cortical_coordinates", "COORDINATES"]

# where the selector networks' input comes from (see cortical_coordinates)
COORDINATES = ("auto", "surface", "volume", "embedding")
_LOSSES = ("smooth_l1", "mse")
# the surface whose registration sphere brainlens bundles; other surfaces fall back to an embedding
_SPHERE_SPACE = "fsaverage5"
_SPHERE_VERTICES = 10242  # per hemisphere
# volume spaces name their voxel size like NSD's "func1pt8mm"; without one, assume this many mm
_DEFAULT_VOXEL_MM = 2.0
_CHECKPOINTS = "checkpoints"
_RUN_FILE = "run.json"
_DONE_FILE = "epoch.json"
# mixed local tokens held at once (voxels × batch × bottleneck); more voxels are processed in chunks
_CHUNK_ELEMENTS = 2**25


@dataclass(frozen=True)
class FactorTopyConfig:
    """The model and its regularisers. Training length, batch size and learning rate are arguments of
    :func:`fit_factortopy`."""

    # width every layer's tokens are projected to: narrow enough that voxels must choose among layers
    # (16 suits the shipped 4-stage convnet; the published model used 128 for 12 ViT-B layers of 768)
    bottleneck: int = 16
    grid: int = 8  # local tokens are average-pooled onto grid × grid before sampling (the published model: 8)
    hidden: int = 128  # width of the two hidden layers of each selector network
    frequencies: int = 16  # Fourier features per cortical axis fed to the selector networks
    min_wavelength_mm: float = 4.0  # finest cortical detail the selectors can follow (≈ fsaverage5 vertex spacing)
    max_wavelength_mm: float = 400.0  # coarsest: about a hemisphere
    coordinates: str = "auto"  # "auto", "surface", "volume" or "embedding"; see cortical_coordinates
    embedding_dim: int = 32  # width of the learned per-voxel position, when there are no coordinates
    # weight of the layer-entropy regulariser; > 0 rewards spread-out layer weights, as the published model
    # (rewarding sharp choices instead, −0.1, sent every in-silico voxel to the first layer within an epoch)
    entropy_weight: float = 0.1
    scale_weight: float = 0.1  # weight of the scale regulariser, (s − 0.5)² averaged over voxels
    regularise_fraction: float = 0.3  # both regularisers fade linearly to zero over this fraction of training
    loss: str = "smooth_l1"  # "smooth_l1" (the published model's, robust to outlying betas) or "mse"
    smooth_l1_beta: float = 0.1  # where smooth L1 turns from quadratic to linear (z-scored units)
    weight_decay: float = 3e-4  # AdamW weight decay on all trained weights
    warmup_fraction: float = 0.05  # learning rate ramps up linearly over this fraction of training, then cosine decay
    val_fraction: float = 0.1  # training images held out for validation when the store has no "val" split

    def __post_init__(self) -> None:
        for name in ("bottleneck", "grid", "hidden", "frequencies", "embedding_dim"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"FactorTopyConfig.{name} must be a positive integer; {value!r} was provided.")
        for name in ("min_wavelength_mm", "smooth_l1_beta"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"FactorTopyConfig.{name} must be positive; {value!r} was provided.")
        if self.max_wavelength_mm < self.min_wavelength_mm:
            raise ValueError(
                f"FactorTopyConfig.max_wavelength_mm must be ≥ min_wavelength_mm ({self.min_wavelength_mm}); "
                f"{self.max_wavelength_mm!r} was provided."
            )
        if self.coordinates not in COORDINATES:
            raise ValueError(f"FactorTopyConfig.coordinates must be one of {list(COORDINATES)}; {self.coordinates!r} was provided.")
        if self.loss not in _LOSSES:
            raise ValueError(f"FactorTopyConfig.loss must be one of {list(_LOSSES)}; {self.loss!r} was provided.")
        for name in ("scale_weight", "weight_decay"):
            if getattr(self, name) < 0:
                raise ValueError(f"FactorTopyConfig.{name} must be ≥ 0; {getattr(self, name)!r} was provided.")
        for name in ("regularise_fraction", "warmup_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"FactorTopyConfig.{name} must be in [0, 1]; {getattr(self, name)!r} was provided.")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"FactorTopyConfig.val_fraction must be in (0, 1); {self.val_fraction!r} was provided.")

    @classmethod
    def from_dict(cls, values: dict) -> FactorTopyConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown FactorTopyConfig field {unknown[0]!r}; known fields: {sorted(known)}")
        return cls(**values)


# --------------------------------------------------------------------------------------------
# where each voxel sits


def cortical_coordinates(store: Store, voxel_index: np.ndarray, mode: str = "auto") -> tuple[str, np.ndarray, str]:
    """Positions that the selector networks read, for the voxels ``voxel_index`` of ``store``.

    Returns ``(mode, coords, note)``: coords is (V, 4) float32, three coordinates in mm and a side
    (−1 left hemisphere, +1 right, 0 for volumes). Modes:

    - "surface": fsaverage5 vertices → the point of the fsaverage5 registration sphere (radius 100 mm),
      where every subject shares one coordinate system. Both hemispheres' spheres sit on the same
      origin, hence the side column.
    - "volume": voxel indices (i, j, k) times the voxel size in mm (read from the space name, e.g.
      "func1pt8mm", else 2 mm).
    - "embedding": no coordinates (zeros); the model learns a position per voxel.
    - "auto": "surface" for fsaverage5 stores, "volume" for volume stores, "embedding" otherwise;
      ``note`` says why when it falls back.
    """
    if mode not in COORDINATES:
        raise ValueError(f"coordinates must be one of {list(COORDINATES)}; {mode!r} was provided.")
    voxel_index = np.asarray(voxel_index, dtype=np.int64)
    n = voxel_index.size
    if mode == "embedding":
        return "embedding", np.zeros((n, 4), np.float32), "asked for a learned per-voxel position"
    if not store.has_location:
        if mode != "auto":
            raise ValueError(f"coordinates={mode!r} needs voxel locations, but {store.path} has none; use 'embedding' or 'auto'.")
        return "embedding", np.zeros((n, 4), np.float32), "the store gives no voxel locations: a learned position per voxel"
    vertex, ijk = store.vertex, store.ijk
    if vertex is not None:
        if store.space != _SPHERE_SPACE:
            if mode != "auto":
                raise ValueError(
                    f"coordinates={mode!r}: only {_SPHERE_SPACE} meshes are bundled, {store.path} is on {store.space!r}; "
                    f"use 'embedding' or 'auto'."
                )
            note = f"no bundled sphere for {store.space!r} (only {_SPHERE_SPACE}): a learned position per voxel"
            return "embedding", np.zeros((n, 4), np.float32), note
        if mode == "volume":
            raise ValueError(f"coordinates='volume' but {store.path} locates its voxels on a surface ({store.space}).")
        from brainlens.surface import load_fsaverage5

        vertex = vertex[voxel_index]
        sphere = load_fsaverage5().concatenated("sphere")[vertex]  # (V, 3) mm
        side = np.where(vertex >= _SPHERE_VERTICES, 1.0, -1.0)
        return "surface", np.column_stack([sphere, side]).astype(np.float32), ""
    if mode == "surface":
        raise ValueError(f"coordinates='surface' but {store.path} locates its voxels in a volume ({store.space}).")
    match = re.search(r"(\d+)(?:pt(\d+))?mm", store.space)
    size = float(f"{match.group(1)}.{match.group(2) or 0}") if match else _DEFAULT_VOXEL_MM
    coords = ijk[voxel_index].astype(np.float64) * size
    return "volume", np.column_stack([coords, np.zeros(n)]).astype(np.float32), ""


# --------------------------------------------------------------------------------------------
# the model


class _FourierPosition(nn.Module):
    """(V, 4) coordinates (x, y, z mm, side) → (V, 6·frequencies + 1) features: sines and cosines of each
    axis at log-spaced wavelengths, then the side."""

    def __init__(self, frequencies: int, min_wavelength: float, max_wavelength: float):
        super().__init__()
        wavelengths = torch.logspace(math.log10(min_wavelength), math.log10(max_wavelength), frequencies, dtype=torch.float64)
        self.register_buffer("omega", (2 * math.pi / wavelengths).float(), persistent=False)
        self.n_out = 6 * frequencies + 1

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        phase = (coords[:, :3, None] * self.omega).flatten(1)  # (V, 3·frequencies)
        return torch.cat([phase.sin(), phase.cos(), coords[:, 3:]], dim=1)


def _selector(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(n_in, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, n_out))
    # every voxel starts undecided: equal layer weights, the image centre, half local and half global
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


class _LayerInput(nn.Module):
    """One layer's tokens, standardised per channel, through the bottleneck."""

    def __init__(self, channels: int, width: int):
        super().__init__()
        self.local = nn.Linear(channels, width, bias=False)
        self.global_ = nn.Linear(channels, width, bias=False)
        for name in ("local_mean", "global_mean"):
            self.register_buffer(name, torch.zeros(channels))
        for name in ("local_std", "global_std"):
            self.register_buffer(name, torch.ones(channels))

    def forward(self, local: torch.Tensor, global_: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """local (B, C, g, g), global_ (B, C) → cells (g·g, B, D) in row-major order (y, then x), summary (B, D)."""
        cells = local.flatten(2).permute(2, 0, 1)  # (g·g, B, C)
        cells = (cells - self.local_mean) / self.local_std
        return self.local(cells), self.global_((global_ - self.global_mean) / self.global_std)


def _bilinear_corners(xy: torch.Tensor, grid: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The four grid cells around each location and their bilinear weights, as ``grid_sample`` with
    ``align_corners=False`` and zero padding reads them: xy (V, 2) in [−1, 1] → cells (V, 4) int64
    (row-major index y·grid + x), weights (V, 4), differentiable in xy. Cells outside the grid get weight 0."""
    position = ((xy + 1) * grid - 1) / 2  # (V, 2) in cell units, cell centres at integers
    low = position.detach().floor()
    frac = position - low  # (V, 2)
    cells, weights = [], []
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        x, y = low[:, 0] + dx, low[:, 1] + dy
        wx = frac[:, 0] if dx else 1 - frac[:, 0]
        wy = frac[:, 1] if dy else 1 - frac[:, 1]
        inside = (x >= 0) & (x < grid) & (y >= 0) & (y < grid)
        cells.append((y.clamp(0, grid - 1) * grid + x.clamp(0, grid - 1)).long())
        weights.append(wx * wy * inside)
    return torch.stack(cells, 1), torch.stack(weights, 1)


def _local_readout(table: torch.Tensor, index: torch.Tensor, bag_weights: torch.Tensor, readout: torch.Tensor) -> torch.Tensor:
    """Σ over each voxel's bag of token rows, then its read-out: table (L·g·g, B·D), index and
    bag_weights (V, 4L), readout (V, D) → (V, B)."""
    n_voxels, width = readout.shape
    mixed = F.embedding_bag(index, table, per_sample_weights=bag_weights, mode="sum")  # (V, B·D)
    return torch.bmm(mixed.view(n_voxels, -1, width), readout.unsqueeze(-1)).squeeze(-1)


class _FactorTopyHead(nn.Module):
    """Everything FactorTopy trains: pooled tokens of each layer → (predicted responses, regularisers).

    Kept apart from the backbone so that training can run on cached tokens (and be wrapped for
    distributed training) while the encoder runs the same head on live backbone tokens.
    """

    def __init__(self, channels: Sequence[int], coords: torch.Tensor, config: FactorTopyConfig, learned_position: bool):
        super().__init__()
        n_voxels = int(coords.shape[0])
        self.n_layers = len(channels)
        self.grid = config.grid
        self.register_buffer("coords", coords.float())  # (V, 4) cortical position of each voxel
        self.inputs = nn.ModuleList(_LayerInput(c, config.bottleneck) for c in channels)
        if learned_position:
            self.position = None
            self.embedding = nn.Parameter(torch.randn(n_voxels, config.embedding_dim) * 0.5)
            n_in = config.embedding_dim
        else:
            self.position = _FourierPosition(config.frequencies, config.min_wavelength_mm, config.max_wavelength_mm)
            self.embedding = None
            n_in = self.position.n_out
        self.layer_selector = _selector(n_in, config.hidden, self.n_layers)
        self.space_selector = _selector(n_in, config.hidden, 2)
        self.scale_selector = _selector(n_in, config.hidden, 1)
        bound = 1 / math.sqrt(config.bottleneck)
        self.readout = nn.Parameter(torch.empty(n_voxels, config.bottleneck).uniform_(-bound, bound))  # (V, D)
        self.bias = nn.Parameter(torch.zeros(n_voxels))  # (V,)

    def selections(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(layer weights (V, L), location xy (V, 2) in [−1, 1], local weight (V,))."""
        position = self.embedding if self.position is None else self.position(self.coords)
        layers = torch.softmax(self.layer_selector(position), dim=-1)
        xy = torch.tanh(self.space_selector(position))
        scale = torch.sigmoid(self.scale_selector(position)).squeeze(-1)
        return layers, xy, scale

    def forward(self, local: Sequence[torch.Tensor], global_: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """local: per layer (B, C_l, g, g); global_: per layer (B, C_l).

        Returns predictions (B, V), the layer selector's normalised negative entropy and the scale
        selector's mean squared distance from 0.5 (scalars; the regularisers).
        """
        layers, xy, scale = self.selections()
        n_voxels, n_cells = xy.shape[0], self.grid**2
        cells, summaries = zip(*(layer_input(loc, glo) for layer_input, loc, glo in zip(self.inputs, local, global_)))
        batch, width = summaries[0].shape
        table = torch.cat(cells, 0).reshape(self.n_layers * n_cells, batch * width)  # row l·g·g + cell: (B·D)
        # A voxel's local feature, Σ_l p_l · bilinear(T_l, xy), is one weighted sum of 4·L table rows:
        # the four cells around xy in every layer, weighted by layer weight × bilinear weight.
        corner_cells, corner_weights = _bilinear_corners(xy, self.grid)  # (V, 4)
        offsets = n_cells * torch.arange(self.n_layers, device=xy.device)
        index = (corner_cells[:, None, :] + offsets[None, :, None]).reshape(n_voxels, -1)  # (V, 4L)
        bag_weights = (layers[:, :, None] * corner_weights[:, None, :]).reshape(n_voxels, -1).to(table.dtype)
        readout = self.readout.to(table.dtype)
        chunk = max(1, _CHUNK_ELEMENTS // (batch * width))
        if n_voxels <= chunk:
            from_local = _local_readout(table, index, bag_weights, readout)  # (V, B)
        else:
            # bounded memory for whole-cortex models: each chunk's mixed tokens are recomputed in backward
            from_local = torch.cat(
                [
                    checkpoint(
                        _local_readout, table, index[i : i + chunk], bag_weights[i : i + chunk], readout[i : i + chunk], use_reentrant=False
                    )
                    for i in range(0, n_voxels, chunk)
                ]
            )
        # the global token needs no sampling: the read-out of each layer's summary, mixed by layer weight
        from_global = torch.einsum("bld,vd->blv", torch.stack(summaries, 1), readout)  # (B, L, V)
        from_global = (from_global * layers.t().to(from_global.dtype)).sum(1)  # (B, V)
        predicted = scale * from_local.t() + (1 - scale) * from_global + self.bias
        negative_entropy = (layers * torch.log(layers.clamp_min(1e-12))).sum(-1).mean() / math.log(max(self.n_layers, 2))
        scale_spread = (scale - 0.5).pow(2).mean()
        return predicted, negative_entropy, scale_spread


class FactorTopyEncoder(nn.Module):
    """A frozen backbone and a FactorTopy head: images (B, 3, H, W) in [0, 1] → predicted voxels (B, V).

    Differentiable from the pixels. Build with :func:`fit_factortopy` or :meth:`load`.

    Parameters
    ----------
    backbone : Backbone
        The frozen feature extractor (kept in eval mode, never trained).
    layers : sequence of str
        The backbone layers the selectors choose among, early → late.
    coords : array (V, 4)
        Each voxel's cortical position (see :func:`cortical_coordinates`).
    voxel_index : array (V,)
        The store's voxels this encoder predicts.
    config : FactorTopyConfig
    coordinates : str
        "surface", "volume" or "embedding": how ``coords`` were made ("embedding" learns a position per voxel).
    info : dict
        Provenance written to config.json (store path, training history, ...).
    """

    def __init__(
        self,
        backbone: Backbone,
        layers: Sequence[str],
        coords: np.ndarray | torch.Tensor,
        voxel_index: np.ndarray | torch.Tensor,
        config: FactorTopyConfig = FactorTopyConfig(),
        coordinates: str = "surface",
        info: dict | None = None,
    ):
        super().__init__()
        if not isinstance(backbone, Backbone):
            raise TypeError(f"backbone must be a brainlens Backbone; got {type(backbone).__name__}")
        if not isinstance(config, FactorTopyConfig):
            raise TypeError(f"config must be a FactorTopyConfig; got {type(config).__name__}")
        if coordinates not in COORDINATES[1:]:
            raise ValueError(f"coordinates must be one of {list(COORDINATES[1:])}; {coordinates!r} was provided.")
        self.backbone = backbone.eval().requires_grad_(False)
        self.layers = backbone.check_layers(tuple(layers))
        if not self.layers:
            raise ValueError(f"layers must name at least one layer of backbone {backbone.name!r}; {list(layers)!r} was provided.")
        coords = torch.as_tensor(np.asarray(coords, dtype=np.float32))
        voxel_index = torch.as_tensor(np.asarray(voxel_index, dtype=np.int64))
        if coords.ndim != 2 or coords.shape[1] != 4 or coords.shape[0] != voxel_index.numel() or voxel_index.ndim != 1:
            raise ValueError(
                f"coords must be (n_voxels, 4) and voxel_index (n_voxels,); got {tuple(coords.shape)} and {tuple(voxel_index.shape)}."
            )
        if voxel_index.numel() == 0:
            raise ValueError("voxel_index is empty: an encoder needs at least one voxel.")
        self.config = config
        self.coordinates = coordinates
        self.info = dict(info or {})
        self.register_buffer("voxel_index", voxel_index)
        with torch.no_grad():
            probe = backbone.tokens(torch.full((1, 3, 32, 32), 0.5, device=_device_of(backbone)), self.layers)
        self.channels = tuple(int(probe[layer].global_.shape[1]) for layer in self.layers)
        self.head = _FactorTopyHead(self.channels, coords, config, learned_position=coordinates == "embedding")

    # -- prediction -------------------------------------------------------------------------
    @property
    def n_voxels(self) -> int:
        return int(self.voxel_index.numel())

    def tokens(self, images: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """images (B, 3, H, W) → per layer the local tokens pooled to (B, C, grid, grid), and the global (B, C)."""
        self.backbone.check_images(images)
        if not torch.is_floating_point(images):
            raise TypeError(f"images must be a float tensor in [0, 1]; got dtype {images.dtype}")
        if not torch.isfinite(images).all():
            raise ValueError("images hold NaN or infinite values; they must be finite, in [0, 1]")
        tokens = self.backbone.tokens(images, self.layers)
        local = [pool_local(tokens[layer].local, self.config.grid) for layer in self.layers]
        return local, [tokens[layer].global_ for layer in self.layers]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) float in [0, 1] → predicted responses (B, V)."""
        return self.head(*self.tokens(images))[0]

    def train(self, mode: bool = True) -> FactorTopyEncoder:
        super().train(mode)
        self.backbone.eval()  # the backbone is frozen: its batch-norm statistics never change
        return self

    # -- what each voxel selected -----------------------------------------------------------
    @torch.no_grad()
    def layer_weights(self) -> torch.Tensor:
        """(V, n_layers): each voxel's softmax weights over ``layers`` (early → late)."""
        return self.head.selections()[0]

    @torch.no_grad()
    def space_xy(self) -> torch.Tensor:
        """(V, 2): each voxel's location in the image, x right and y down, −1 … 1 from edge to edge.

        For the in-silico stimulus (``STIMULUS_DEGREES`` wide), degrees right = x · 4.2 and up = −y · 4.2.
        """
        return self.head.selections()[1]

    @torch.no_grad()
    def scale_weights(self) -> torch.Tensor:
        """(V,): each voxel's weight of the local token against the global one (1 = all local)."""
        return self.head.selections()[2]

    @torch.no_grad()
    def mean_layer(self) -> torch.Tensor:
        """(V,): expected layer position under the layer weights, 0 (first layer) … n_layers − 1."""
        weights = self.layer_weights()
        return weights @ torch.arange(weights.shape[1], dtype=weights.dtype, device=weights.device)

    # -- files -----------------------------------------------------------------------------
    def config_dict(self) -> dict:
        return {
            **self.info,
            "model": "factortopy",
            "backbone": self.backbone.name,
            "backbone_fingerprint": backbone_fingerprint(self.backbone),
            "layers": list(self.layers),
            "coordinates": self.coordinates,
            "factortopy": asdict(self.config),
            "n_voxels": self.n_voxels,
            "voxel_index": self.voxel_index.cpu().tolist(),
        }

    def save(self, folder: str | Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` (the head only; the backbone loads by name)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_safetensors(folder / "model.safetensors", self.head.state_dict())
        _write_json(folder / "config.json", self.config_dict())

    @classmethod
    def load(cls, folder: str | Path, device: str = "cpu", backbone: Backbone | None = None) -> FactorTopyEncoder:
        """Rebuild a saved encoder; the backbone loads by its name (``brainlens.backbones.load_backbone``)
        unless given. A backbone whose weights differ from the ones trained on is an error."""
        from safetensors.torch import load_file

        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"encoder folder not found: {folder}")
        for name in ("config.json", "model.safetensors"):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"encoder file missing: {folder / name}")
        try:
            config = json.loads((folder / "config.json").read_text())
        except ValueError as err:
            raise ValueError(f"{folder / 'config.json'}: not valid JSON ({err})") from err
        if config.get("model") != "factortopy":
            raise ValueError(f"{folder / 'config.json'}: 'model' must be 'factortopy'; found {config.get('model')!r}")
        backbone = backbone if backbone is not None else backbone_for(config["backbone"])
        expected = config.get("backbone_fingerprint")
        if expected and backbone_fingerprint(backbone) != expected:
            raise ValueError(
                f"{folder}: backbone {backbone.name!r} does not have the weights this encoder was trained on "
                f"(fingerprint {backbone_fingerprint(backbone)}, trained on {expected})"
            )
        tensors = load_file(str(folder / "model.safetensors"))
        if "coords" not in tensors:
            raise ValueError(f"{folder / 'model.safetensors'}: missing tensor 'coords'; is this a FactorTopy encoder?")
        reserved = ("model", "backbone", "backbone_fingerprint", "layers", "coordinates", "factortopy", "n_voxels", "voxel_index")
        encoder = cls(
            backbone,
            config["layers"],
            tensors["coords"],
            np.asarray(config["voxel_index"], dtype=np.int64),
            FactorTopyConfig.from_dict(config["factortopy"]),
            coordinates=config["coordinates"],
            info={k: v for k, v in config.items() if k not in reserved},
        )
        encoder.head.load_state_dict(tensors)
        return encoder.to(device).eval()


def _device_of(module: nn.Module) -> torch.device:
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


# --------------------------------------------------------------------------------------------
# training


def fit_factortopy(
    store: Store | str | os.PathLike,
    backbone: Backbone | str,
    out: str | os.PathLike,
    *,
    voxels: np.ndarray | str | None = None,
    layers: Sequence[str] | None = None,
    config: FactorTopyConfig = FactorTopyConfig(),
    epochs: int = 15,
    batch_size: int = 64,
    lr: float = 5e-3,
    device: str = "cpu",
    resume: bool = False,
    seed: int = 0,
    progress: Callable[[str, dict], None] | None = None,
    cache_dir: str | os.PathLike | None = None,
    features: Features | None = None,
    mixed_precision: str = "no",
    keep_checkpoints: int = 2,
) -> FactorTopyEncoder:
    """Train a FactorTopy encoder on the store's training images (repeats averaged) with ``accelerate``.

    Validation R² on the store's "val" split (or, when it has none, on ``config.val_fraction`` of the
    training images, held out whole so that no image's repeats sit on both sides) is computed after
    every epoch. Each epoch ends with a checkpoint in ``out/checkpoints/epoch_K`` (model, optimiser
    and random states; the last ``keep_checkpoints`` are kept). With ``resume``, training continues
    after the last complete checkpoint and ends with the same weights as an uninterrupted run;
    without it, earlier checkpoints in ``out`` are discarded. The final encoder is saved in ``out``
    (``config.json``, ``model.safetensors``) beside ``training.json`` (the per-epoch history).

    Parameters
    ----------
    store : Store or path
    backbone : Backbone or str
        The frozen feature extractor, or its name for ``load_backbone``.
    out : path
        Folder for checkpoints, the final encoder and (by default) the feature cache.
    voxels : indices, region name or None
        The store's voxels to model (default all).
    layers : sequence of str, optional
        Backbone layers to choose among (default all).
    config : FactorTopyConfig
    epochs, batch_size, lr : training length, images per step, peak AdamW learning rate
        (linear warm-up, then cosine decay to zero).
    device : str
        "cpu" keeps everything on the CPU; anything else lets ``accelerate`` place the work on its GPU
        (one per process under ``accelerate launch``).
    seed : int
        Initial weights and the order of the training images follow from it alone.
    progress : callable, optional
        ``progress(event, values)``: "features" ({"images": k} as the cache fills), "step" ({"epoch",
        "step", "steps", "loss"}) after every step, "epoch" ({"epoch", "epochs", "train_loss",
        "val_r2_median", "val_r2_mean", "seconds"}) after every epoch's checkpoint, and "resume"
        ({"epoch"}) when a run continues.
    cache_dir : path, optional
        Feature cache folder (default ``out/feature_cache``); tokens are computed once per image set.
    features : Features, optional
        Tokens already extracted with :class:`~brainlens.backbones.cache.FeatureCache` (grid
        ``config.grid``) for every image of the store; checked against the store's images.
    mixed_precision : str
        Passed to ``accelerate``: "no", "fp16" or "bf16".

    Returns
    -------
    FactorTopyEncoder, in eval mode, on ``device``.
    """
    accelerate = _import_accelerate()
    _check_training_arguments(config, epochs, batch_size, lr, keep_checkpoints, mixed_precision, seed)
    store = store if isinstance(store, Store) else open_store(store)
    backbone = backbone_for(backbone)
    layers = backbone.check_layers(tuple(layers) if layers is not None else None)
    if not layers:
        raise ValueError(f"layers must name at least one layer of backbone {backbone.name!r}; an empty list was provided.")
    out = Path(out)
    voxel_index = _voxel_index(store, voxels)
    train, val, val_source = _split_rows(store, voxel_index, config.val_fraction, seed)
    mode, coords, coords_note = cortical_coordinates(store, voxel_index, config.coordinates)

    accelerator = _accelerator(accelerate, device, mixed_precision)
    # the cache is written by one process; the others wait for it and then read it
    if features is None:
        with accelerator.main_process_first():
            tick = None if progress is None else (lambda k: progress("features", {"images": k}))
            features = FeatureCache(cache_dir if cache_dir is not None else out / "feature_cache").get(
                backbone, store, layers=layers, grid=config.grid, device=str(accelerator.device), progress=tick
            )
    _check_features(features, store, layers, config.grid, np.concatenate([train.image_index, val.image_index]))

    run = {
        "store": str(Path(store.path).resolve()),
        "backbone": backbone.name,
        "backbone_fingerprint": backbone_fingerprint(backbone),
        "layers": list(layers),
        "voxels": hashlib.sha1(voxel_index.tobytes()).hexdigest()[:16],
        "n_voxels": int(voxel_index.size),
        "factortopy": asdict(config),
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "num_processes": accelerator.num_processes,
    }
    checkpoints = out / _CHECKPOINTS
    start_epoch, history = 0, []
    if resume:
        _check_same_run(checkpoints, run)
    if accelerator.is_main_process:
        if not resume and checkpoints.exists():
            shutil.rmtree(checkpoints)  # a fresh run: stale checkpoints must never be resumed into it
        checkpoints.mkdir(parents=True, exist_ok=True)
        _write_json(checkpoints / _RUN_FILE, run)
    accelerator.wait_for_everyone()

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = FactorTopyEncoder(
            backbone,
            layers,
            coords,
            voxel_index,
            config,
            coordinates=mode,
            info={
                "store": run["store"],
                "dataset": store.attrs.get("dataset"),
                "subject": store.attrs.get("subject"),
                "coordinates_note": coords_note,
                "val_source": val_source,
                "n_train_images": int(train.image_index.size),
                "n_val_images": int(val.image_index.size),
            },
        )
    head = encoder.head
    _set_input_statistics(head, features, layers, train.image_index)
    with torch.no_grad():
        head.bias.copy_(torch.from_numpy(train.betas.mean(0)))

    optimiser = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=config.weight_decay)
    head, optimiser = accelerator.prepare(head, optimiser)
    if resume:
        last = _last_checkpoint(checkpoints)
        if last is not None:
            accelerator.load_state(str(last))
            done = json.loads((last / _DONE_FILE).read_text())
            start_epoch, history = int(done["epoch"]), list(done["history"])
            if progress is not None:
                progress("resume", {"epoch": start_epoch})

    shard = slice(accelerator.process_index, None, accelerator.num_processes)
    steps_per_epoch = math.ceil(train.image_index.size / batch_size)
    if train.image_index.size - (steps_per_epoch - 1) * batch_size < accelerator.num_processes:
        steps_per_epoch -= 1  # a last batch too small to give every process an image is left out
    if steps_per_epoch < 1:
        raise ValueError(f"{train.image_index.size} training images cannot be shared by {accelerator.num_processes} processes")
    total_steps = epochs * steps_per_epoch
    targets = torch.from_numpy(train.betas)
    for epoch in range(start_epoch, epochs):
        started = time.perf_counter()
        head.train()
        # the order of each epoch depends on (seed, epoch) only, so a resumed run sees the same batches
        order = torch.randperm(train.image_index.size, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).numpy()
        total, count = 0.0, 0
        for step in range(steps_per_epoch):
            rows = order[step * batch_size : (step + 1) * batch_size][shard]
            global_step = epoch * steps_per_epoch + step
            for group in optimiser.param_groups:
                group["lr"] = lr * _lr_factor(global_step, total_steps, config.warmup_fraction)
            local, global_ = _batch_tokens(features, layers, train.image_index[rows], accelerator.device)
            y = targets[rows].to(accelerator.device)
            with accelerator.autocast():
                predicted, negative_entropy, scale_spread = head(local, global_)
                fit = _fit_loss(predicted.float(), y, config)
                fade = _fade(global_step, total_steps, config.regularise_fraction)
                loss = fit + fade * (config.entropy_weight * negative_entropy + config.scale_weight * scale_spread)
            optimiser.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            optimiser.step()
            total += float(fit.detach()) * len(rows)
            count += len(rows)
            if progress is not None:
                progress("step", {"epoch": epoch + 1, "step": step + 1, "steps": steps_per_epoch, "loss": float(fit.detach())})
        r2 = _validation_r2(accelerator.unwrap_model(head), features, layers, val, accelerator.device)
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": total / max(count, 1),
                "val_r2_median": float(np.median(r2)),
                "val_r2_mean": float(np.mean(r2)),
                "seconds": time.perf_counter() - started,
            }
        )
        _save_checkpoint(accelerator, checkpoints, epoch + 1, history, keep_checkpoints)
        if progress is not None:
            progress("epoch", {**history[-1], "epochs": epochs})

    encoder.head = accelerator.unwrap_model(head).float()
    encoder.info["history"] = history
    encoder.info["epochs"] = epochs
    encoder.info["batch_size"] = batch_size
    encoder.info["lr"] = lr
    encoder.info["seed"] = seed
    if history:
        encoder.info["val_r2_median"] = history[-1]["val_r2_median"]
    encoder.eval()
    if accelerator.is_main_process:
        encoder.save(out)
        _write_json(out / "training.json", {"run": run, "history": history})
    accelerator.wait_for_everyone()
    return encoder.to(device if device == "cpu" else accelerator.device)


def _import_accelerate():
    try:
        import accelerate
    except ImportError as err:
        raise ImportError("fit_factortopy trains with Hugging Face accelerate: pip install accelerate (a dependency of brainlens)") from err
    return accelerate


def _accelerator(accelerate, device: str, mixed_precision: str):
    """An Accelerator for this fit. accelerate keeps one state per process and refuses another precision
    or device later on; in a single process (not under ``accelerate launch``) a new fit may choose
    again, so the old state is dropped first."""
    try:
        return accelerate.Accelerator(cpu=device == "cpu", mixed_precision=mixed_precision)
    except ValueError as err:
        from accelerate.state import AcceleratorState, GradientState, PartialState

        if "already been initialized" not in str(err) or PartialState().num_processes != 1:
            raise
        AcceleratorState._reset_state()
        GradientState._reset_state()
        return accelerate.Accelerator(cpu=device == "cpu", mixed_precision=mixed_precision)


def _check_training_arguments(config, epochs, batch_size, lr, keep_checkpoints, mixed_precision, seed) -> None:
    if not isinstance(config, FactorTopyConfig):
        raise TypeError(f"config must be a FactorTopyConfig; got {type(config).__name__}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("keep_checkpoints", keep_checkpoints)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer; {value!r} was provided.")
    if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a positive number; {lr!r} was provided.")
    if mixed_precision not in ("no", "fp16", "bf16"):
        raise ValueError(f"mixed_precision must be one of ['no', 'fp16', 'bf16']; {mixed_precision!r} was provided.")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; {seed!r} was provided.")


def _voxel_index(store: Store, voxels: np.ndarray | str | Sequence[int] | None) -> np.ndarray:
    if voxels is None:
        return np.arange(store.n_voxels, dtype=np.int64)
    if isinstance(voxels, str):
        return store.region_voxels(voxels)
    index = np.asarray(voxels)
    if index.dtype == bool:
        if index.shape != (store.n_voxels,):
            raise ValueError(f"a boolean voxels mask must have shape ({store.n_voxels},) for {store.path}; got {index.shape}.")
        index = np.flatnonzero(index)
    if index.ndim != 1 or index.size == 0 or not np.issubdtype(index.dtype, np.integer):
        raise ValueError(f"voxels must be a region name or non-empty 1-D integer indices; got shape {index.shape} dtype {index.dtype}.")
    if index.min() < 0 or index.max() >= store.n_voxels:
        bad = index[(index < 0) | (index >= store.n_voxels)][0]
        raise ValueError(f"voxels: index {bad} is outside 0..{store.n_voxels - 1} ({store.path} has {store.n_voxels} voxels).")
    if np.unique(index).size != index.size:
        raise ValueError("voxels: indices must not repeat.")
    return index.astype(np.int64)


@dataclass(frozen=True)
class _Rows:
    image_index: np.ndarray  # (n,) images of the store
    betas: np.ndarray  # (n, V) float32, repeats averaged


def _split_rows(store: Store, voxel_index: np.ndarray, val_fraction: float, seed: int) -> tuple[_Rows, _Rows, str]:
    """Training and validation images with their averaged responses; validation is the "val" split, or
    whole images held out of "train" when the store has none."""
    split = store.split
    if not np.any(split == SPLITS["train"]):
        raise StoreError(store.path, "split", "has no 'train' images: FactorTopy needs training images")
    train = load_split(store, "train", voxels=voxel_index)
    _check_finite_betas(store, "train", train.betas, train.image_index, voxel_index)
    if np.any(split == SPLITS["val"]):
        val = load_split(store, "val", voxels=voxel_index)
        _check_finite_betas(store, "val", val.betas, val.image_index, voxel_index)
        source = "val split"
    else:
        n = train.image_index.size
        n_val = int(round(val_fraction * n))
        if n < 4 or n_val < 2 or n - n_val < 2:
            raise StoreError(
                store.path,
                "split",
                f"has no 'val' images and only {n} training images: too few to hold out validation images "
                f"(val_fraction={val_fraction})",
            )
        held = np.zeros(n, dtype=bool)
        held[np.random.default_rng([seed, 17]).permutation(n)[:n_val]] = True
        source = f"{n_val} training images held out (no val split)"
        return _Rows(train.image_index[~held], train.betas[~held]), _Rows(train.image_index[held], train.betas[held]), source
    if val.image_index.size < 2:
        raise StoreError(store.path, "split", f"has {val.image_index.size} 'val' image; validation R² needs at least 2")
    return _Rows(train.image_index, train.betas), _Rows(val.image_index, val.betas), source


def _check_finite_betas(store: Store, split: str, betas: np.ndarray, images: np.ndarray, voxel_index: np.ndarray) -> None:
    finite = np.isfinite(betas)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise StoreError(
            store.path,
            "betas",
            f"the {split!r} responses to image {images[row]} at voxel {voxel_index[col]} are {betas[row, col]} "
            f"({int((~finite).sum())} non-finite values): run `brainlens validate` on the store",
        )


def _check_features(features: Features, store: Store, layers: tuple[str, ...], grid: int, rows: np.ndarray) -> None:
    """Cached tokens must be of this store's images, of these layers, on this grid, and finite."""
    if not isinstance(features, Features):
        raise TypeError(f"features must be a brainlens Features (from FeatureCache); got {type(features).__name__}")
    if features.n_images != store.n_images:
        raise ValueError(f"features hold {features.n_images} images but {store.path} has {store.n_images}: they are of other images")
    missing = [layer for layer in layers if layer not in features.layers]
    if missing:
        raise ValueError(f"features lack layer {missing[0]!r}; they hold {list(features.layers)}")
    if features.grid != grid:
        raise ValueError(f"features are pooled to a {features.grid}×{features.grid} grid; FactorTopyConfig.grid is {grid}")
    key = features.folder / "key.json"
    if key.is_file():
        recorded = json.loads(key.read_text()).get("images")
        if recorded is not None and recorded != image_fingerprint(store):
            raise ValueError(f"features in {features.folder} were extracted from other images than those of {store.path}")
    rows = np.unique(rows)
    for layer in layers:
        for kind, array in (("local", features.local[layer]), ("global", features.global_[layer])):
            for start in range(0, rows.size, 1024):
                block = np.asarray(array[rows[start : start + 1024]], dtype=np.float32)
                finite = np.isfinite(block.reshape(len(block), -1)).all(1)
                if not finite.all():
                    image = rows[start + int(np.flatnonzero(~finite)[0])]
                    raise ValueError(
                        f"features of layer {layer!r} ({kind} tokens) are not finite for image {image} "
                        f"({int((~finite).sum())} images in this block); re-extract them"
                    )


def _set_input_statistics(head: _FactorTopyHead, features: Features, layers: tuple[str, ...], rows: np.ndarray) -> None:
    """Per-channel mean and standard deviation of each layer's tokens over the training images."""
    rows = np.unique(rows)
    for layer_input, layer in zip(head.inputs, layers):
        local_sum = local_sq = global_sum = global_sq = 0.0
        for start in range(0, rows.size, 512):
            chunk = rows[start : start + 512]
            local = np.asarray(features.local[layer][chunk], dtype=np.float64)  # (n, C, g, g)
            global_ = np.asarray(features.global_[layer][chunk], dtype=np.float64)  # (n, C)
            local_sum = local_sum + local.sum((0, 2, 3))
            local_sq = local_sq + (local**2).sum((0, 2, 3))
            global_sum = global_sum + global_.sum(0)
            global_sq = global_sq + (global_**2).sum(0)
        n_local = rows.size * features.grid**2
        for prefix, total, squares, n in (("local", local_sum, local_sq, n_local), ("global", global_sum, global_sq, rows.size)):
            mean = total / n
            std = np.sqrt(np.maximum(squares / n - mean**2, 0.0))
            getattr(layer_input, f"{prefix}_mean").copy_(torch.from_numpy(mean))
            # dead channels (constant over the images) stay at zero instead of blowing up
            getattr(layer_input, f"{prefix}_std").copy_(torch.from_numpy(np.maximum(std, 1e-6)))


def _batch_tokens(features: Features, layers: tuple[str, ...], images: np.ndarray, device) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    local = [torch.from_numpy(np.asarray(features.local[layer][images], dtype=np.float32)).to(device) for layer in layers]
    global_ = [torch.from_numpy(np.asarray(features.global_[layer][images], dtype=np.float32)).to(device) for layer in layers]
    return local, global_


def _fit_loss(predicted: torch.Tensor, target: torch.Tensor, config: FactorTopyConfig) -> torch.Tensor:
    if config.loss == "mse":
        return F.mse_loss(predicted, target)
    return F.smooth_l1_loss(predicted, target, beta=config.smooth_l1_beta)


def _lr_factor(step: int, total: int, warmup_fraction: float) -> float:
    warmup = warmup_fraction * total
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _fade(step: int, total: int, fraction: float) -> float:
    """Weight of the regularisers: 1 at the start, falling linearly to 0 at ``fraction`` of training."""
    span = fraction * total
    return max(0.0, 1.0 - step / span) if span > 0 else 0.0


@torch.no_grad()
def _validation_r2(head: _FactorTopyHead, features: Features, layers: tuple[str, ...], val: _Rows, device) -> np.ndarray:
    head.eval()
    predicted = []
    for start in range(0, val.image_index.size, 256):
        local, global_ = _batch_tokens(features, layers, val.image_index[start : start + 256], device)
        predicted.append(head(local, global_)[0].float().cpu().numpy())
    return scores.r2_score(val.betas, np.concatenate(predicted))


def _checkpoint_epoch(path: Path) -> int | None:
    match = re.fullmatch(r"epoch_(\d+)", path.name)
    return int(match.group(1)) if match and (path / _DONE_FILE).is_file() else None


def _last_checkpoint(checkpoints: Path) -> Path | None:
    complete = [(epoch, path) for path in checkpoints.glob("epoch_*") if (epoch := _checkpoint_epoch(path)) is not None]
    return max(complete)[1] if complete else None


def _save_checkpoint(accelerator, checkpoints: Path, epoch: int, history: list, keep: int) -> None:
    """accelerate's state of this epoch, written beside and renamed into place once whole."""
    final = checkpoints / f"epoch_{epoch:04d}"
    partial = checkpoints / f"epoch_{epoch:04d}.partial"
    if accelerator.is_main_process and partial.exists():
        shutil.rmtree(partial)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    if accelerator.is_main_process:
        _write_json(partial / _DONE_FILE, {"epoch": epoch, "history": history})
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
        complete = sorted(path for path in checkpoints.glob("epoch_*") if _checkpoint_epoch(path) is not None)
        for old in complete[:-keep]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()


def _check_same_run(checkpoints: Path, run: dict) -> None:
    """Resuming into checkpoints of a different run (other data, model or settings) is an error."""
    path = checkpoints / _RUN_FILE
    if not path.is_file():
        return
    before = json.loads(path.read_text())
    changed = sorted(key for key in set(before) | set(run) if before.get(key) != run.get(key))
    if changed:
        details = "; ".join(f"{key}: {before.get(key)!r} → {run.get(key)!r}" for key in changed[:3])
        raise ValueError(
            f"cannot resume from {checkpoints}: it was written by a run with other settings ({details}); "
            f"resume with the same settings, or start over without resume"
        )
