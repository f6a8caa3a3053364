"""Pictures of brains and images: cortical flat maps and image mosaics.

``cortex`` draws per-voxel values on the fsaverage5 flat maps (:mod:`brainlens.surface`, bundled with nilearn);
``images`` tiles stimuli into mosaics; ``table`` draws a table of figures. All write PNGs atomically with ``save_figure`` /
``save_image``. matplotlib and nilearn are imported only when a function needs them.
"""

from brainlens.viz.cortex import plot_flatmap
from brainlens.viz.images import category_grid, image_grid, save_figure, save_image
from brainlens.viz.table import table_figure

__all__ = [
    "category_grid",
    "image_grid",
    "plot_flatmap",
    "save_figure",
    "save_image",
    "table_figure",
]
