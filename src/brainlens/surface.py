"""The fsaverage5 cortical surface that every stage places voxels on, read offline.

nilearn ships the fsaverage5 meshes (pial, sphere, flat sheet) and sulcal depth inside its package, so
nothing here touches the network. A brainlens vertex index addresses both hemispheres concatenated, left
first: 0 .. 10241 left, 10242 .. 20483 right. The in-silico layout places its regions on this surface,
FactorTopy measures distances on its sphere, and :mod:`brainlens.viz.cortex` draws its flat sheet.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["FSAVERAGE5_N_VERTICES", "HEMISPHERES", "Surface", "load_fsaverage5"]

FSAVERAGE5_N_VERTICES = 10242  # per hemisphere
HEMISPHERES = ("left", "right")

# A flat-sheet face whose longest edge exceeds this multiple of the median edge length spans
# one of the relaxation cuts; drawn, it would be a long sliver across the map.
_MAX_EDGE_RATIO = 5.0


@dataclass(frozen=True)
class Surface:
    """fsaverage5 geometry for both hemispheres, each field keyed by ``"left"`` / ``"right"``.

    Arrays are read-only and indexed by the per-hemisphere vertex index 0 .. 10241.
    """

    flat_xy: dict[str, np.ndarray]  # (10242, 2) mm on the flat sheet; meaningless where ~flat_mask
    flat_mask: dict[str, np.ndarray]  # (10242,) bool, vertex lies on the flat sheet (not medial wall)
    flat_faces: dict[str, np.ndarray]  # (n_flat_faces, 3) int, sheet faces with the cut slivers dropped
    faces: dict[str, np.ndarray]  # (20480, 3) int, faces of the closed pial / sphere meshes
    sulcal_depth: dict[str, np.ndarray]  # (10242,) FreeSurfer sulc, positive in sulci
    pial: dict[str, np.ndarray]  # (10242, 3) mm
    sphere: dict[str, np.ndarray]  # (10242, 3) radius 100
    n_vertices_per_hemi: int = FSAVERAGE5_N_VERTICES

    def concatenated(self, name: str) -> np.ndarray:
        """One field with both hemispheres stacked, left first: ``(20484, ...)``.

        ``name`` is one of ``"flat_xy"``, ``"flat_mask"``, ``"sulcal_depth"``, ``"pial"``, ``"sphere"``;
        row ``i`` then belongs to brainlens vertex index ``i``.
        """
        allowed = ("flat_xy", "flat_mask", "sulcal_depth", "pial", "sphere")
        if name not in allowed:
            raise ValueError(f"'name' must be one of {allowed}. {name!r} was provided.")
        field = getattr(self, name)
        return np.concatenate([field["left"], field["right"]], axis=0)


def _read_only(array: np.ndarray, dtype) -> np.ndarray:
    out = np.array(array, dtype=dtype)
    out.setflags(write=False)
    return out


def _sheet_faces(xy: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Drop the few flat-sheet faces stretched across a cut; xy (n, 2), faces (f, 3)."""
    corners = xy[faces]  # (f, 3, 2)
    edges = np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=2)  # (f, 3)
    longest = edges.max(axis=1)
    return faces[longest <= _MAX_EDGE_RATIO * np.median(edges)]


def _bundled_fsaverage5() -> Path:
    """nilearn's folder of fsaverage5 meshes, found without importing nilearn (its import costs seconds)."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("brainlens.surface needs nilearn's bundled fsaverage5 meshes: pip install 'nilearn>=0.10.3'")
    folder = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "fsaverage5"
    if not folder.is_dir():
        raise FileNotFoundError(f"nilearn's fsaverage5 meshes are not where they should be: {folder}")
    return folder


def _gifti_arrays(path: Path) -> list[np.ndarray]:
    import nibabel

    if not path.is_file():
        raise FileNotFoundError(f"fsaverage5 mesh file missing from nilearn's data: {path}")
    return [array.data for array in nibabel.load(path).darrays]


@functools.lru_cache(maxsize=1)
def load_fsaverage5() -> Surface:
    """Load the fsaverage5 meshes and sulcal depth bundled with nilearn (no download).

    Returns
    -------
    Surface
        Cached: every call returns the same object.
    """
    folder = _bundled_fsaverage5()
    fields: dict[str, dict[str, np.ndarray]] = {
        key: {} for key in ("flat_xy", "flat_mask", "flat_faces", "faces", "sulcal_depth", "pial", "sphere")
    }
    for hemi in HEMISPHERES:
        flat_coordinates, flat_faces = _gifti_arrays(folder / f"flat_{hemi}.gii.gz")
        pial, faces = _gifti_arrays(folder / f"pial_{hemi}.gii.gz")
        sphere, _ = _gifti_arrays(folder / f"sphere_{hemi}.gii.gz")
        (sulcal,) = _gifti_arrays(folder / f"sulc_{hemi}.gii.gz")
        xy = np.asarray(flat_coordinates, dtype=np.float64)[:, :2]  # the sheet lies in z = 0
        sheet = _sheet_faces(xy, np.asarray(flat_faces, dtype=np.int64))
        on_sheet = np.zeros(len(xy), dtype=bool)
        on_sheet[sheet.ravel()] = True  # medial-wall vertices belong to no sheet face
        fields["flat_xy"][hemi] = _read_only(xy, np.float64)
        fields["flat_mask"][hemi] = _read_only(on_sheet, bool)
        fields["flat_faces"][hemi] = _read_only(sheet, np.int64)
        fields["faces"][hemi] = _read_only(faces, np.int64)
        fields["sulcal_depth"][hemi] = _read_only(sulcal, np.float64)
        fields["pial"][hemi] = _read_only(pial, np.float64)
        fields["sphere"][hemi] = _read_only(sphere, np.float64)
    for hemi in HEMISPHERES:
        for key, field in fields.items():
            if key not in ("flat_faces", "faces") and len(field[hemi]) != FSAVERAGE5_N_VERTICES:
                raise ValueError(
                    f"nilearn's fsaverage5 {key} has {len(field[hemi])} {hemi} vertices, "
                    f"expected {FSAVERAGE5_N_VERTICES}."
                )
    return Surface(**fields)
