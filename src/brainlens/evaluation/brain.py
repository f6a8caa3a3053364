"""Brain-space fidelity of reconstructions: would the brain respond to the reconstruction as it did to
the seen image?

Pixel and feature metrics ask whether a reconstruction looks like the seen image to a network. Here the
judge is a brain: the in-silico subject's ground truth (exact: its noiseless responses), or a fitted
brainlens encoder on real data (its predictions, as MindEye2 checks reconstructions with an encoding
model). For each pair, the correlation across voxels of the responses to the seen image and to its
reconstruction, over all voxels and per region; and 2-way identification in voxel space, which discounts
the response profile that every image shares.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import nn

from brainlens.evaluation.image import as_float_images
from brainlens.identification import paired_correlation, two_way_identification
from brainlens.insilico.brain import InSilicoSubject

__all__ = ["brain_correlation", "brain_responses"]


def brain_responses(brain, images, *, batch_size: int = 64, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """The brain's responses to images (uint8 (N, H, W, 3) or float (N, 3, H, W) in [0, 1]): (N, V) float64.

    ``brain`` is an :class:`~brainlens.insilico.brain.InSilicoSubject` (noiseless truth) or a module
    images → voxels (a loaded brainlens encoder).
    """
    images = as_float_images(images)
    if isinstance(brain, InSilicoSubject):
        return brain.respond(images, batch_size=batch_size, progress=progress).astype(np.float64)
    if not isinstance(brain, nn.Module):
        raise TypeError(f"brain must be an InSilicoSubject or an encoder module (images → voxels); got {type(brain).__name__}.")
    device = next(iter(brain.buffers()), torch.empty(0)).device
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size].to(device)
            out.append(brain(batch).double().cpu().numpy())
            if progress is not None:
                progress(len(batch))
    return np.concatenate(out)


def _default_regions(brain) -> dict[str, np.ndarray]:
    if not isinstance(brain, InSilicoSubject):
        return {}
    masks = {name: brain.region_mask(name) for name in brain.layout.roi_names[1:]}
    return {name: mask for name, mask in masks.items() if mask.any()}


def brain_correlation(
    brain,
    truth_images,
    recon_images,
    *,
    regions: Mapping[str, np.ndarray] | None = None,
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """How alike the brain's responses to each seen image and its reconstruction are.

    brain: an :class:`~brainlens.insilico.brain.InSilicoSubject` (ground truth) or an encoder module;
    truth_images, recon_images: N pairs (uint8 (N, H, W, 3) or float (N, 3, H, W) in [0, 1]);
    regions: name → boolean mask over the brain's voxels (V,), by default the subject's regions (none for
    an encoder unless given).

    Returns ``correlation`` (mean over pairs of the Pearson r across all voxels), ``correlation_per_image``
    (N,), ``regions`` (name → mean r across that region's voxels), ``two_way_identification`` (voxel
    space, chance 0.5), ``n_voxels`` and ``brain`` (what judged: "in-silico subject K (ground truth)" or
    "encoder").
    """
    truth = as_float_images(truth_images, "truth_images")
    recon = as_float_images(recon_images, "recon_images")
    if len(truth) != len(recon):
        raise ValueError(f"truth_images and recon_images must hold the same number of images; got {len(truth)} and {len(recon)}.")
    if len(truth) < 2:
        raise ValueError(f"brain fidelity needs at least 2 pairs; {len(truth)} was provided.")
    seen = brain_responses(brain, truth, batch_size=batch_size, progress=progress)  # (N, V)
    made = brain_responses(brain, recon, batch_size=batch_size, progress=progress)  # (N, V)
    regions = _default_regions(brain) if regions is None else dict(regions)
    for name, mask in regions.items():
        mask = np.asarray(mask)
        if mask.shape != (seen.shape[1],) or mask.dtype != bool:
            raise ValueError(f"region {name!r}: the mask must be boolean ({seen.shape[1]},) over the brain's voxels; "
                             f"got {mask.dtype} {mask.shape}.")
        if mask.sum() < 2:
            raise ValueError(f"region {name!r} has {int(mask.sum())} voxels; a correlation across voxels needs at least 2.")

    def paired_r(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return paired_correlation(a, b, ("responses to the seen images", "responses to the reconstructions")).numpy()

    per_image = paired_r(seen, made)
    described = f"in-silico subject {brain.subject} (ground truth)" if isinstance(brain, InSilicoSubject) else "encoder"
    return {
        "brain": described,
        "n_voxels": int(seen.shape[1]),
        "correlation": float(per_image.mean()),
        "correlation_per_image": per_image,
        "regions": {name: float(paired_r(seen[:, mask], made[:, mask]).mean()) for name, mask in regions.items()},
        "two_way_identification": two_way_identification(seen, made),
    }
