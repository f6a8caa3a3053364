"""Fitted encoders as functions: images → predicted voxel responses, differentiable, saved to a folder.

An encoder folder holds ``config.json`` (which model, which backbone and layers, which voxels of which
store), ``model.safetensors`` (the read-out; never the backbone's weights, which load by name) and,
after evaluation, ``metrics.json``. :func:`load_encoder` rebuilds any of them as a ``torch.nn.Module``
whose gradient brain-guided synthesis can follow back to the pixels.

>>> encoder, metrics = fit_ridge_encoder("sub1.h5", "insilico-convnet", out="enc")
>>> encoder = load_encoder("enc")
>>> predicted = encoder(images)          # (batch, 3, H, W) in [0, 1] → (batch, n_voxels)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from brainlens._io import save_safetensors, write_json
from brainlens.backbones import Backbone, backbone_for
from brainlens.backbones.cache import FeatureCache, pool_local
from brainlens.encoding import scores
from brainlens.encoding.ridge import DEFAULT_ALPHAS, VoxelRidge
from brainlens.reliability import ncsnr_from_repeats, noise_ceiling
from brainlens.store import SPLITS, Store, StoreError, load_split, open_store

__all__ = [
    "RidgeEncoder", "EncoderEnsemble", "reference_images", "fit_ridge_encoder", "fit_guide_encoder", "guiding_encoders",
    "evaluate_encoder", "load_encoder", "write_json",
]

ENCODER_MODELS = ("ridge", "factortopy")
# A second encoder, on another backbone, saved inside the first one's folder; brain-guided synthesis guides by
# both (their EncoderEnsemble), which drives the category regions further than either alone does
# (benchmarks/RESULTS.md, "Two encoders guide together"). `brainlens encode fit` fits it by default.
GUIDE_FOLDER = "guide"
DEFAULT_GUIDE_BACKBONE = "embedder"


class RidgeEncoder(nn.Module):
    """Backbone tokens → pooled, standardised features → linear read-out per voxel.

    The features are those of :class:`~brainlens.backbones.cache.Features.matrix`: for each layer the
    local tokens averaged onto a ``grid × grid`` map and flattened, then the global token.
    """

    def __init__(
        self,
        backbone: Backbone,
        layers: Sequence[str],
        grid: int,
        feature_mean: torch.Tensor,  # (n_features,)
        feature_std: torch.Tensor,  # (n_features,)
        weight: torch.Tensor,  # (n_features, n_voxels)
        bias: torch.Tensor,  # (n_voxels,)
        voxel_index: torch.Tensor,  # (n_voxels,) int64 voxels of the store this encoder predicts
        info: dict | None = None,
    ):
        super().__init__()
        self.backbone = backbone.eval().requires_grad_(False)
        self.layers = backbone.check_layers(tuple(layers))
        self.grid = int(grid)
        self.register_buffer("feature_mean", feature_mean.float())
        self.register_buffer("feature_std", feature_std.float())
        self.register_buffer("weight", weight.float())
        self.register_buffer("bias", bias.float())
        self.register_buffer("voxel_index", voxel_index.long())
        self.info = dict(info or {})

    @property
    def n_voxels(self) -> int:
        return int(self.weight.shape[1])

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1] → standardised features (B, n_features)."""
        tokens = self.backbone.tokens(images, self.layers)
        pieces = []
        for layer in self.layers:
            pieces += [pool_local(tokens[layer].local, self.grid).flatten(1), tokens[layer].global_]
        return (torch.cat(pieces, dim=1) - self.feature_mean) / self.feature_std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1] → predicted responses (B, n_voxels)."""
        return self.features(images) @ self.weight + self.bias

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = {
            **self.info,
            "model": "ridge",
            "backbone": self.backbone.name,
            "layers": list(self.layers),
            "grid": self.grid,
            "n_voxels": self.n_voxels,
        }
        save_safetensors(folder / "model.safetensors", {name: getattr(self, name) for name in _RIDGE_TENSORS})
        write_json(folder / "config.json", config)

    @classmethod
    def load(cls, folder: str | Path, device: str = "cpu", backbone: Backbone | None = None) -> RidgeEncoder:
        from safetensors.torch import load_file

        folder = Path(folder)
        config = _read_config(folder)
        tensors = load_file(str(folder / "model.safetensors"))
        missing = [name for name in _RIDGE_TENSORS if name not in tensors]
        if missing:
            raise ValueError(f"{folder / 'model.safetensors'}: missing tensor {missing[0]!r}; is this a ridge encoder?")
        backbone = backbone if backbone is not None else backbone_for(config["backbone"])
        info = {k: v for k, v in config.items() if k not in ("model", "backbone", "layers", "grid", "n_voxels")}
        encoder = cls(backbone, config["layers"], config["grid"], *(tensors[name] for name in _RIDGE_TENSORS), info=info)
        return encoder.to(device).eval()


_RIDGE_TENSORS = ("feature_mean", "feature_std", "weight", "bias", "voxel_index")


def _read_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not folder.is_dir():
        raise FileNotFoundError(f"encoder folder not found: {folder}")
    for name in ("config.json", "model.safetensors"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"encoder file missing: {folder / name}")
    try:
        config = json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if config.get("model") not in ENCODER_MODELS:
        raise ValueError(f"{path}: 'model' must be one of {list(ENCODER_MODELS)}; found {config.get('model')!r}")
    return config


def load_encoder(folder: str | Path, device: str = "cpu") -> nn.Module:
    """Load any saved encoder (ridge or FactorTopy) as a frozen, differentiable module: images → voxels."""
    folder = Path(folder)
    config = _read_config(folder)
    if config["model"] == "factortopy":
        from brainlens.encoding.factortopy import FactorTopyEncoder

        return FactorTopyEncoder.load(folder, device=device)
    return RidgeEncoder.load(folder, device=device)


class EncoderEnsemble(nn.Module):
    """Encoders of the same voxels as one: each one's prediction in units of its own spread, averaged.

    An encoder is right about natural images and wrong, in its own way, about images far from them;
    guidance that follows one encoder follows its mistakes too. Encoders on different backbones make
    different mistakes, so guiding by their mean follows mostly the directions they agree on. Each
    encoder's predictions are divided, per voxel, by their standard deviation over ``reference``
    (natural images (N, H, W, 3) uint8, e.g. a store's: :func:`reference_images`), so that none
    outweighs another by the scale of its predictions; the ensemble predicts in those units.

    >>> ensemble = EncoderEnsemble([load_encoder("enc_convnet"), load_encoder("enc_embedder")], reference)
    >>> ensemble(images)                     # (batch, 3, H, W) in [0, 1] → (batch, n_voxels)
    """

    def __init__(self, encoders: Sequence[nn.Module], reference: np.ndarray, batch_size: int = 64):
        super().__init__()
        encoders = list(encoders)
        if len(encoders) < 2:
            raise ValueError(f"an ensemble needs at least two encoders; {len(encoders)} was provided.")
        index = encoders[0].voxel_index
        for k, encoder in enumerate(encoders[1:], start=2):
            if not torch.equal(encoder.voxel_index.cpu(), index.cpu()):
                raise ValueError(
                    f"encoder {k} predicts other voxels than encoder 1 ({encoder.voxel_index.numel()} against "
                    f"{index.numel()}, or in another order): fit every encoder of an ensemble on the same voxels"
                )
        if reference.ndim != 4 or reference.shape[-1] != 3 or len(reference) < 2:
            raise ValueError(f"reference images must be (N ≥ 2, H, W, 3) uint8; got {tuple(reference.shape)}")
        self.encoders = nn.ModuleList(encoder.eval().requires_grad_(False) for encoder in encoders)
        self.register_buffer("voxel_index", index.clone())
        device = str(index.device)
        spreads = [torch.from_numpy(predict_images(encoder, reference, device=device, batch_size=batch_size)).std(0)
                   for encoder in self.encoders]  # each (n_voxels,)
        self.register_buffer("spread", torch.stack(spreads).clamp_min(1e-6).to(device))  # (n_encoders, n_voxels)

    @property
    def n_voxels(self) -> int:
        return int(self.voxel_index.numel())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        predictions = torch.stack([encoder(images) for encoder in self.encoders])  # (n_encoders, B, n_voxels)
        return (predictions / self.spread[:, None]).mean(0)


def reference_images(store: Store | str | Path, n: int = 512) -> np.ndarray:
    """Up to ``n`` of a store's test images (its first images if it has no test split): (n, H, W, 3) uint8."""
    if not isinstance(store, Store):
        with open_store(store) as opened:
            return reference_images(opened, n)
    rows = np.flatnonzero(store.split == SPLITS["test"])
    return store.images_at((rows if rows.size else np.arange(store.n_images))[:n])


def _open(store: Store | str | Path) -> Store:
    return store if isinstance(store, Store) else open_store(store)


def _voxel_index(store: Store, voxels: np.ndarray | str | None) -> np.ndarray:
    if voxels is None:
        return np.arange(store.n_voxels)
    if isinstance(voxels, str):
        return store.region_voxels(voxels)
    index = np.asarray(voxels, dtype=np.int64)
    if index.ndim != 1 or index.size == 0 or index.min() < 0 or index.max() >= store.n_voxels:
        raise ValueError(f"voxels must be 1-D indices in 0..{store.n_voxels - 1} of {store.path}; got {voxels!r}")
    return index


def fit_ridge_encoder(
    store: Store | str | Path,
    backbone: Backbone | str,
    *,
    out: str | Path | None = None,
    layers: Sequence[str] | None = None,
    grid: int = 4,
    voxels: np.ndarray | str | None = None,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    cv: int = 5,
    cache_dir: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = 128,
    progress: Callable[[str, int], None] | None = None,
) -> tuple[RidgeEncoder, dict]:
    """Fit a voxelwise ridge encoder on the store's training images (train and val splits, repeats averaged).

    Features come from ``backbone`` through the feature cache (``cache_dir``, default beside ``out``
    or in a temporary folder), standardised on the training images; each voxel's alpha is chosen by
    ``cv``-fold cross-validation on those images only. The encoder is scored on the test split
    (:func:`evaluate_encoder`); with ``out``, encoder and ``metrics.json`` are saved there.
    ``progress(stage, k)``: stages "features" (images) and "ridge" (voxels).
    """
    store = _open(store)
    voxel_index = _voxel_index(store, voxels)
    splits = [name for name in ("train", "val") if np.any(store.split == SPLITS[name])]
    if "train" not in splits:
        raise StoreError(store.path, "split", "has no 'train' images: an encoder needs training images")
    parts = [load_split(store, name, voxels=voxel_index) for name in splits]
    rows = np.concatenate([p.image_index for p in parts])
    responses = np.concatenate([p.betas for p in parts])  # (n_train_images, V)
    backbone = backbone_for(backbone)

    if cache_dir is None:
        cache_dir = Path(out) / "feature_cache" if out is not None else Path(store.path).with_suffix(".features")
    tick = (lambda stage: (lambda k: progress(stage, k))) if progress else (lambda stage: None)
    features = FeatureCache(cache_dir).get(
        backbone, store, layers=tuple(layers) if layers else None, grid=grid, batch_size=batch_size, device=device,
        progress=tick("features"),
    )
    X = features.matrix(rows)  # (n_train_images, n_features)
    mean = X.mean(0)
    std = np.maximum(X.std(0), 1e-6)  # constant features (e.g. dead channels) stay at zero
    X = (X - mean) / std

    ridge = VoxelRidge(alphas=alphas, cv=cv, device=device).fit(X, responses, progress=tick("ridge"))
    encoder = RidgeEncoder(
        backbone,
        features.layers,
        grid,
        torch.from_numpy(mean),
        torch.from_numpy(std),
        torch.from_numpy(np.asarray(ridge.coef_, dtype=np.float32)),
        torch.from_numpy(np.asarray(ridge.intercept_, dtype=np.float32)),
        torch.from_numpy(voxel_index),
        info={
            "store": str(Path(store.path).resolve()),
            "dataset": store.attrs.get("dataset"),
            "subject": store.attrs.get("subject"),
            "fit_splits": splits,
            "n_train_images": int(len(rows)),
            "cv": cv,
            "alphas": [float(a) for a in alphas],
        },
    ).eval()
    metrics = evaluate_encoder(encoder, store, device=device, batch_size=batch_size)
    metrics["best_alpha_median"] = float(np.median(ridge.best_alphas_))
    if out is not None:
        encoder.save(out)
        write_json(Path(out) / "metrics.json", metrics)
    return encoder, metrics


def fit_guide_encoder(
    encoder_dir: str | Path,
    backbone: Backbone | str = DEFAULT_GUIDE_BACKBONE,
    *,
    store: Store | str | Path | None = None,
    device: str = "cpu",
    progress: Callable[[str, int], None] | None = None,
    **ridge_options,
) -> tuple[RidgeEncoder, dict]:
    """Fit the guide encoder of a fitted encoder: a ridge encoder on ``backbone``, on the same store and voxels,
    saved in ``encoder_dir/guide/`` and named in ``encoder_dir/config.json``, so that :func:`guiding_encoders`
    and brain-guided synthesis find it. ``ridge_options`` go to :func:`fit_ridge_encoder` (``grid``, ``cv``, ...).
    Returns the guide encoder and its test metrics.

    >>> fit_ridge_encoder("sub1.h5", "insilico-convnet", out="enc")
    >>> fit_guide_encoder("enc")                 # enc/guide/: ridge on the shipped embedder's image tower
    """
    folder = Path(encoder_dir)
    config = _read_config(folder)
    name = backbone if isinstance(backbone, str) else backbone.name
    if name == config.get("backbone"):
        raise ValueError(f"the guide encoder needs another backbone than the encoder's own ({name!r}); "
                         f"{name!r} was provided.")
    voxel_index = load_encoder(folder).voxel_index.cpu().numpy()
    store = store if store is not None else config.get("store")
    if store is None:
        raise ValueError(f"{folder / 'config.json'} names no store; pass store= to fit the guide encoder on.")
    guide, metrics = fit_ridge_encoder(store, backbone, out=folder / GUIDE_FOLDER, voxels=voxel_index, device=device,
                                       progress=progress, **ridge_options)
    write_json(folder / "config.json", {**config, "guide": {"folder": GUIDE_FOLDER, "backbone": name}})
    return guide, metrics


def guiding_encoders(encoder_dir: str | Path) -> list[Path]:
    """The folders that guide synthesis for an encoder folder: the folder itself, then its guide encoder when
    its config names one (:func:`fit_guide_encoder`)."""
    folder = Path(encoder_dir)
    guide = _read_config(folder).get("guide")
    if not guide:
        return [folder]
    path = folder / guide["folder"]
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{folder / 'config.json'} names a guide encoder at {path}, which is missing; refit it "
                                f"with `brainlens encode fit` (or pass --no-guide-encoder).")
    return [folder, path]


@torch.no_grad()
def predict_images(encoder: nn.Module, images: np.ndarray, *, device: str = "cpu", batch_size: int = 128) -> np.ndarray:
    """Predicted responses of (n, H, W, 3) uint8 images: (n, n_voxels) float32."""
    out = []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).to(device)
        out.append(encoder(batch.permute(0, 3, 1, 2).float().div(255.0)).float().cpu().numpy())
    return np.concatenate(out)


def evaluate_encoder(
    encoder: nn.Module,
    store: Store | str | Path,
    *,
    split: str = "test",
    device: str = "cpu",
    batch_size: int = 128,
) -> dict:
    """Score an encoder on a split of the store (repeats averaged), per voxel and per region.

    Returns a JSON-ready dict: ``median_r2``, ``median_r``, ``median_r2_over_nc`` (R² as a fraction of
    the noise ceiling, NSD's formula from the store's ncsnr, or from the split's repeats when the store
    has none), ``algonauts_score``, ``regions`` ({region: the same medians}), ``n_images`` and the
    per-voxel arrays under ``voxels`` (index: the store's voxel of each entry; r2, r, noise_ceiling,
    r2_over_nc; NaN written as null).
    """
    store = _open(store)
    voxel_index = encoder.voxel_index.cpu().numpy()
    if voxel_index.size and voxel_index.max() >= store.n_voxels:
        raise ValueError(
            f"the encoder predicts voxel {int(voxel_index.max())} but {store.path} has {store.n_voxels} voxels: "
            f"is it the store the encoder was fitted on?"
        )
    data = load_split(store, split, voxels=voxel_index)
    predicted = predict_images(encoder.to(device), store.images_at(data.image_index), device=device, batch_size=batch_size)
    r2 = scores.r2_score(data.betas, predicted)
    r = scores.pearson_r(data.betas, predicted)
    n_repeats = int(np.median(data.n_repeats))
    if store.ncsnr is not None:
        ceiling = noise_ceiling(store.ncsnr[voxel_index], n_repeats)
    else:
        trials = load_split(store, split, voxels=voxel_index, average=False)
        ceiling = noise_ceiling(ncsnr_from_repeats(trials.betas, trials.image_index), n_repeats)
    over_nc = scores.normalised_by_ceiling(r2, ceiling)
    per_voxel = {"r2": r2, "r": r, "r2_over_nc": over_nc}
    position = {int(v): k for k, v in enumerate(voxel_index)}
    regions = {}
    for name in store.region_names():
        inside = [position[v] for v in store.region_voxels(name) if int(v) in position]
        if inside:
            regions[name] = np.asarray(inside)
    summary = scores.region_summary(per_voxel, regions)
    return {
        "split": split,
        "n_images": int(len(data.image_index)),
        "n_repeats": n_repeats,
        "n_voxels": int(voxel_index.size),
        "median_r2": float(np.median(r2)),
        "median_r": float(np.median(r)),
        "median_r2_over_nc": _nan_median(over_nc),
        "algonauts_score": scores.algonauts_score(r, ceiling) if np.any(ceiling > 0) else None,
        "regions": {
            name: {"n_voxels": e["n_voxels"], "median_r2": e["r2"], "median_r": e["r"], "median_r2_over_nc": e["r2_over_nc"]}
            for name, e in summary.items()
        },
        "voxels": {
            "index": [int(v) for v in voxel_index],
            "r2": _json_list(r2),
            "r": _json_list(r),
            "noise_ceiling": _json_list(ceiling),
            "r2_over_nc": _json_list(over_nc),
        },
    }


def _nan_median(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else None


def _json_list(values: np.ndarray) -> list:
    return [None if not np.isfinite(v) else round(float(v), 6) for v in values]
