"""Pictures of brains and images: cortical flat maps and image mosaics.

``cortex`` draws per-voxel values on the fsaverage5 flat maps bundled with nilearn (offline);
``images`` tiles stimuli into mosaics. Both write PNGs atomically with ``save_figure`` /
``save_image``. matplotlib and nilearn are imported only when a function needs them.
"""

from brainlens.viz.cortex import FSAVERAGE5_N_VERTICES, Surface, load_fsaverage5, plot_flatmap
from brainlens.viz.images import category_grid, image_grid, save_figure, save_image

__all__ = [
    "FSAVERAGE5_N_VERTICES",
    "Surface",
    "category_grid",
    "image_grid",
    "load_fsaverage5",
    "plot_flatmap",
    "save_figure",
    "save_image",
]
