"""Where the simulated subject's voxels sit on fsaverage5, which region each belongs to, and the
retinotopic map of early visual cortex.

Voxels are fsaverage5 vertices (both hemispheres, left first: 0..10241 left, 10242..20483 right).
Positions are worked out on the registration sphere, where every subject shares one coordinate
system, from anchor points given in the pial surface's MNI-like coordinates.

Early visual cortex (V1, V2, V3, hV4) follows the textbook layout: the foveal confluence at the
occipital pole, eccentricity growing log-like along the calcarine, V1 straddling it with the
horizontal meridian at its middle, V2 and V3 as mirrored bands above (lower visual field) and below
(upper visual field), hV4 ventral to V3v. Each hemisphere maps the opposite visual field.
Category regions are patches around anchors taken from the literature's typical MNI positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = [
    "N_VERTICES_PER_HEMI",
    "EARLY_REGIONS",
    "CATEGORY_REGIONS",
    "REGIONS",
    "REGION_CATEGORY",
    "HALVES",
    "STIMULUS_DEGREES",
    "Layout",
    "build_layout",
]

N_VERTICES_PER_HEMI = 10242
EARLY_REGIONS = ("V1", "V2", "V3", "hV4")
# names as NSD's floc ROI files spell them, plus a food region (NSD's food-selective cortex)
CATEGORY_REGIONS = ("OFA", "FFA-1", "FFA-2", "EBA", "FBA-1", "OPA", "PPA", "RSC", "VWFA-1", "VWFA-2", "food")
REGIONS = EARLY_REGIONS + CATEGORY_REGIONS
REGION_CATEGORY = {
    "OFA": "face", "FFA-1": "face", "FFA-2": "face",
    "EBA": "body", "FBA-1": "body",
    "OPA": "place", "PPA": "place", "RSC": "place",
    "VWFA-1": "word", "VWFA-2": "word",
    "food": "food",
}  # fmt: skip
# regions split into two halves with different true preferences: (half names, pial axis, attribute,
# attribute value preferred by each half). Axis 1 is posterior→anterior, axis 0 is |x| medial→lateral.
HALVES = {
    "OPA": (("OPA-posterior", "OPA-anterior"), 1, "indoor", (0.0, 1.0)),
    "food": (("food-medial", "food-lateral"), 0, "warm", (0.0, 1.0)),
}
# the stimulus spans this many degrees of visual angle, as NSD's 8.4° images
STIMULUS_DEGREES = 8.4

# left-hemisphere anchors in pial (MNI-like) millimetres: centre and patch radius (sphere mm);
# the right hemisphere mirrors x. VWFA is left-lateralised: its right-hemisphere patches are smaller.
_ANCHORS = {
    "OFA": ((-40, -80, -8), 10.0),
    "FFA-1": ((-40, -62, -18), 9.0),
    "FFA-2": ((-41, -47, -20), 9.0),
    "EBA": ((-48, -72, 6), 12.0),
    "FBA-1": ((-44, -52, -8), 8.0),
    "OPA": ((-32, -84, 24), 12.0),
    "PPA": ((-26, -44, -10), 11.0),
    "RSC": ((-12, -54, 12), 10.0),
    "VWFA-1": ((-48, -60, -12), 8.5),
    "VWFA-2": ((-50, -46, -12), 8.0),
    "food": ((-32, -68, -16), 9.5),
}
_RIGHT_SCALE = {"VWFA-1": 0.7, "VWFA-2": 0.6}
_POLE = (-12.0, -102.0, 0.0)  # foveal confluence at the occipital pole
_CALCARINE = (-8.0, -76.0, 6.0)  # a point further along the calcarine sulcus
_DORSAL = (-12.0, -92.0, 28.0)  # a point on the dorsal occipital surface, fixes which side is "up"
# visual-cortex mask: vertices within this sphere distance of a region become unlabelled voxels
_MASK_MARGIN = 5.0


@dataclass(frozen=True)
class Layout:
    """The subject's voxels. All arrays have one entry per voxel."""

    vertex: np.ndarray  # (n_voxels,) int64 fsaverage5 vertex, both hemispheres
    hemisphere: np.ndarray  # (n_voxels,) int8, 0 left, 1 right
    roi: np.ndarray  # (n_voxels,) int16 label into roi_names, 0 = unlabelled visual cortex
    roi_names: tuple[str, ...]  # ("", *REGIONS)
    half: np.ndarray  # (n_voxels,) int16 label into half_names, 0 = not in a split region
    half_names: tuple[str, ...]  # ("", "OPA-posterior", "OPA-anterior", "food-medial", "food-lateral")
    prf_x: np.ndarray  # (n_voxels,) float32 degrees, + right; NaN outside early visual cortex
    prf_y: np.ndarray  # (n_voxels,) float32 degrees, + up
    pial: np.ndarray  # (n_voxels, 3) float32 pial coordinates (mm), for anatomical splits and plots

    @property
    def n_voxels(self) -> int:
        return int(self.vertex.size)

    def region_mask(self, name: str) -> np.ndarray:
        """Boolean mask of a region or half by name; unknown names raise KeyError listing the known ones."""
        if name in self.roi_names[1:]:
            return self.roi == self.roi_names.index(name)
        if name in self.half_names[1:]:
            return self.half == self.half_names.index(name)
        known = ", ".join(self.roi_names[1:] + self.half_names[1:])
        raise KeyError(f"unknown region {name!r}; known regions: {known}")


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _meshes() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """(pial, sphere) coordinates per hemisphere, from the fsaverage5 meshes bundled with nilearn."""
    from brainlens.surface import HEMISPHERES, load_fsaverage5

    surface = load_fsaverage5()
    return tuple((surface.pial[hemi], surface.sphere[hemi]) for hemi in HEMISPHERES)


def _nearest(pial: np.ndarray, point: np.ndarray) -> int:
    return int(np.argmin(np.linalg.norm(pial - point, axis=1)))


def _sphere_distance(sphere: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Great-circle distance (sphere mm) from every vertex to one point of the sphere."""
    radius = np.linalg.norm(centre)
    cos = np.clip(_unit(sphere) @ _unit(centre), -1.0, 1.0)
    return radius * np.arccos(cos)


def _retinotopy(pial: np.ndarray, sphere: np.ndarray, sign: float, rng: np.random.Generator):
    """Early visual labels and pRF centres of one hemisphere.

    Returns (label (n,) int16 index into REGIONS+1 or 0, ecc (n,), elevation angle (n,) degrees).
    """
    mirror = np.array([sign, 1.0, 1.0])
    pole = sphere[_nearest(pial, np.array(_POLE) * mirror)]
    calcarine = sphere[_nearest(pial, np.array(_CALCARINE) * mirror)]
    dorsal = sphere[_nearest(pial, np.array(_DORSAL) * mirror)]
    normal = _unit(pole)

    def tangent(points: np.ndarray) -> np.ndarray:
        # direction from the pole in its tangent plane, scaled by the great-circle distance
        flat = points - np.outer(points @ normal, normal)
        norm = np.linalg.norm(flat, axis=-1, keepdims=True)
        return flat / np.maximum(norm, 1e-9) * _sphere_distance(points, pole)[..., None]

    e_u = _unit(tangent(calcarine[None])[0])
    e_v = np.cross(normal, e_u)
    if tangent(dorsal[None])[0] @ e_v < 0:
        e_v = -e_v
    coords = tangent(sphere)
    u, v = coords @ e_u, coords @ e_v  # u along the calcarine (mm), v towards dorsal (mm)

    length = np.linalg.norm(tangent(calcarine[None])[0]) * rng.uniform(1.55, 1.75)
    width = rng.uniform(6.5, 7.5)  # each band's width (sphere mm)
    max_ecc, fovea = 9.0, 0.7
    ecc = fovea * np.expm1(np.clip(u, 0, None) / length * np.log1p(max_ecc / fovea))
    # the distance bound keeps the antipode (no direction in the tangent plane) out
    inside = (u > -0.08 * length) & (u < length) & (_sphere_distance(sphere, pole) < 1.2 * length)
    band = np.where(v >= 0, v, -v) / width  # 0..1 V1, 1..2 V2, 2..3 V3, 3..4 hV4 (ventral)
    up = v < 0  # ventral bands map the upper visual field
    label = np.zeros(u.size, dtype=np.int16)
    elevation = np.full(u.size, np.nan)
    for k, (lo, hi) in enumerate([(0, 1), (1, 2), (2, 3)], start=1):
        sel = inside & (band >= lo) & (band < hi)
        label[sel] = k
    # V1: horizontal meridian in the middle, vertical meridians at its borders;
    # V2 and V3 mirror it, meeting V1 at the vertical and each other at the horizontal meridian
    folded = np.select([band < 1, band < 2], [band, 2 - band], band - 2)
    elevation = np.where(up, 90.0, -90.0) * np.clip(folded, 0, 1)
    hv4 = inside & up & (band >= 3) & (band < 4) & (u > 0.1 * length)
    label[hv4] = 4
    elevation = np.where(hv4, 90.0 - 180.0 * (band - 3), elevation)
    return label, ecc, elevation


@lru_cache(maxsize=16)
def build_layout(subject: int = 1) -> Layout:
    """The voxel layout of in-silico subject ``subject`` (seeded; subjects differ in details)."""
    rng = np.random.default_rng([7, int(subject)])
    vertex, hemisphere, roi, half, prf_x, prf_y, pial_out = [], [], [], [], [], [], []
    for hemi, (pial, sphere) in enumerate(_meshes()):
        sign = 1.0 if hemi == 0 else -1.0
        mirror = np.array([sign, 1.0, 1.0])
        label, ecc, elevation = _retinotopy(pial, sphere, sign, rng)
        # category patches: nearest anchor within its radius, never over early visual cortex
        best = np.full(label.size, np.inf)
        category_label = np.zeros(label.size, dtype=np.int16)
        for name, (anchor, radius) in _ANCHORS.items():
            jitter = rng.normal(0, 2.5, 3) * np.array([1, 1, 0.6])
            centre = sphere[_nearest(pial, (np.array(anchor) + jitter) * mirror)]
            radius = radius * rng.uniform(0.85, 1.15) * (_RIGHT_SCALE.get(name, 1.0) if hemi else 1.0)
            distance = _sphere_distance(sphere, centre) / radius
            take = (distance < 1) & (distance < best) & (label == 0)
            best[take] = distance[take]
            category_label[take] = 1 + REGIONS.index(name)
        label = np.where(label > 0, label, category_label)
        labelled = np.flatnonzero(label > 0)
        # unlabelled visual cortex around the regions, as NSD's nsdgeneral mask holds
        near = np.min(
            [_sphere_distance(sphere, sphere[i]) for i in labelled[:: max(1, labelled.size // 400)]], axis=0
        )
        keep = np.flatnonzero((label > 0) | (near < _MASK_MARGIN))
        halves = np.zeros(label.size, dtype=np.int16)
        for k, (region, ((_, _), axis, _, _)) in enumerate(HALVES.items()):
            members = np.flatnonzero(label == 1 + REGIONS.index(region))
            position = np.abs(pial[members, 0]) if axis == 0 else pial[members, 1]
            second = position > np.median(position)
            halves[members] = np.where(second, 2 * k + 2, 2 * k + 1)

        angle = np.deg2rad(elevation)
        early = (label >= 1) & (label <= len(EARLY_REGIONS))
        x = np.where(early, sign * ecc * np.cos(angle), np.nan)
        y = np.where(early, ecc * np.sin(angle), np.nan)
        vertex.append(keep + hemi * N_VERTICES_PER_HEMI)
        hemisphere.append(np.full(keep.size, hemi, dtype=np.int8))
        roi.append(label[keep])
        half.append(halves[keep])
        prf_x.append(x[keep])
        prf_y.append(y[keep])
        pial_out.append(pial[keep])
    half_names = ("",) + tuple(name for (names, *_rest) in HALVES.values() for name in names)
    return Layout(
        vertex=np.concatenate(vertex).astype(np.int64),
        hemisphere=np.concatenate(hemisphere),
        roi=np.concatenate(roi).astype(np.int16),
        roi_names=("",) + REGIONS,
        half=np.concatenate(half).astype(np.int16),
        half_names=half_names,
        prf_x=np.concatenate(prf_x).astype(np.float32),
        prf_y=np.concatenate(prf_y).astype(np.float32),
        pial=np.concatenate(pial_out).astype(np.float32),
    )
