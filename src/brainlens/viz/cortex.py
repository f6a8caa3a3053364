"""Per-voxel values drawn on the fsaverage5 flat cortex, fully offline.

nilearn ships the fsaverage5 meshes (pial, sphere, flat sheet) and sulcal depth inside its
package, so nothing here touches the network. Voxels are placed on the cortex through their
vertex index, which in brainlens addresses both hemispheres concatenated, left first::

    0 .. 10241        left hemisphere
    10242 .. 20483    right hemisphere

Figures follow the pycortex look: left hemisphere on the left, right on the right, dorsal up,
both occipital poles meeting in the middle, sulci dark grey and gyri light grey underneath.

Example
-------
>>> import numpy as np
>>> from brainlens.surface import load_fsaverage5
>>> from brainlens.viz import plot_flatmap, save_figure
>>> surface = load_fsaverage5()
>>> pial = surface.concatenated("pial")                  # (20484, 3)
>>> vertices = np.flatnonzero(pial[:, 1] < -40)         # posterior cortex
>>> fig = plot_flatmap(pial[vertices, 1], vertices, colorbar_label="y (mm)")
>>> save_figure(fig, "posterior.png")
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from brainlens.surface import FSAVERAGE5_N_VERTICES, HEMISPHERES, load_fsaverage5

__all__ = ["plot_flatmap"]

# Grey levels of the sulcal background: gyri light, sulci dark.
_GYRUS_GREY = 0.82
_SULCUS_GREY = 0.58
_LEGEND_COLUMNS = 5  # region legend entries per row under the maps


@functools.lru_cache(maxsize=2)
def _triangulation(hemi: str):
    """matplotlib Triangulation of one hemisphere's flat sheet (shared, never masked)."""
    from matplotlib.tri import Triangulation

    surface = load_fsaverage5()
    xy = surface.flat_xy[hemi]
    return Triangulation(xy[:, 0], xy[:, 1], surface.flat_faces[hemi])


def _check_values_vertices(values, vertices) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(values)
    vertices = np.asarray(vertices)
    if values.ndim != 1:
        raise ValueError(f"'values' must be 1-D (n_voxels,); got shape {values.shape}.")
    if vertices.ndim != 1:
        raise ValueError(f"'vertices' must be 1-D (n_voxels,); got shape {vertices.shape}.")
    if len(values) != len(vertices):
        raise ValueError(
            f"'values' and 'vertices' must have the same length; got {len(values)} values "
            f"and {len(vertices)} vertices."
        )
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == bool):
        raise ValueError(f"'values' must be numeric; got dtype {values.dtype}.")
    if not np.issubdtype(vertices.dtype, np.integer):
        raise ValueError(f"'vertices' must be integer vertex indices; got dtype {vertices.dtype}.")
    n_total = 2 * FSAVERAGE5_N_VERTICES
    if len(vertices) and (vertices.min() < 0 or vertices.max() >= n_total):
        bad = vertices[(vertices < 0) | (vertices >= n_total)][0]
        raise ValueError(f"'vertices' must lie in [0, {n_total}); got vertex {bad}.")
    return values, vertices.astype(np.int64)


def _check_labels(labels, n_labels: int, name: str, n_voxels: int) -> np.ndarray:
    """Integer labels in [0, n_labels); NaN means 0 (no label)."""
    labels = np.asarray(labels)
    if labels.shape != (n_voxels,):
        raise ValueError(f"'{name}' must have shape ({n_voxels},), one label per voxel; got {labels.shape}.")
    if labels.dtype == bool:
        labels = labels.astype(np.int64)
    if not np.issubdtype(labels.dtype, np.number):
        raise ValueError(f"'{name}' must hold integer labels; got dtype {labels.dtype}.")
    if labels.dtype.kind == "f":
        labels = np.where(np.isnan(labels), 0.0, labels)
        if not np.all(np.isfinite(labels) & (labels == np.round(labels))):
            bad = labels[~(np.isfinite(labels) & (labels == np.round(labels)))][0]
            raise ValueError(f"'{name}' must hold integer labels; got {bad}.")
    labels = labels.astype(np.int64)
    if len(labels) and (labels.min() < 0 or labels.max() >= n_labels):
        bad = labels[(labels < 0) | (labels >= n_labels)][0]
        raise ValueError(f"'{name}' labels must lie in [0, {n_labels}) to index the names; got {bad}.")
    return labels


def _check_names(names, name: str) -> list[str]:
    if isinstance(names, str) or not isinstance(names, Sequence) or len(names) < 2:
        raise ValueError(f"'{name}' must be a list of at least 2 names (index 0 = none); got {names!r}.")
    return [str(n) for n in names]


def _vertex_means(values: np.ndarray, vertices: np.ndarray, n_total: int) -> np.ndarray:
    """Mean of the finite values per vertex; NaN where a vertex has none. Returns (n_total,)."""
    values = values.astype(np.float64)
    finite = np.isfinite(values)
    total = np.bincount(vertices[finite], weights=values[finite], minlength=n_total)
    count = np.bincount(vertices[finite], minlength=n_total)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _vertex_modes(labels: np.ndarray, vertices: np.ndarray, n_total: int) -> np.ndarray:
    """Most frequent label per vertex (ties: smallest label); 0 where no voxel. Returns (n_total,)."""
    out = np.zeros(n_total, dtype=np.int64)
    if len(labels) == 0:
        return out
    n_labels = int(labels.max()) + 1
    key, count = np.unique(vertices * n_labels + labels, return_counts=True)
    vertex, label = key // n_labels, key % n_labels
    order = np.lexsort((label, -count, vertex))  # by vertex, then most frequent, then smallest
    first = np.unique(vertex[order], return_index=True)[1]
    out[vertex[order][first]] = label[order][first]
    return out


def _qualitative_colors(n: int, cmap) -> np.ndarray:
    """RGBA colours for labels 1..n, (n, 4): tab10 / tab20, or the given colormap."""
    from matplotlib.colors import ListedColormap, to_rgba_array

    if cmap is None:
        if n <= 10:
            cmap = "tab10"
        elif n <= 20:
            cmap = "tab20"
        else:
            cmap = "gist_rainbow"
    cmap = _get_cmap(cmap)
    if isinstance(cmap, ListedColormap) and cmap.N >= n:
        return to_rgba_array(cmap.colors[:n])
    return cmap(np.linspace(0.0, 1.0, n))


def _get_cmap(cmap):
    """A matplotlib Colormap from a name or a Colormap."""
    import matplotlib
    from matplotlib.colors import Colormap

    if isinstance(cmap, Colormap):
        return cmap
    if isinstance(cmap, str) and cmap in matplotlib.colormaps:
        return matplotlib.colormaps[cmap]
    raise ValueError(f"'cmap' must be a matplotlib colormap or its name; got cmap={cmap!r}.")


def _sulcal_grey(sulc: np.ndarray) -> np.ndarray:
    """Grey level per vertex in [0, 1], (n,): a soft two-tone map of sulcal depth."""
    scale = np.std(sulc) or 1.0
    step = 0.5 * (1.0 + np.tanh(2.5 * sulc / scale))  # ~0 on gyri, ~1 deep in sulci
    return _GYRUS_GREY + (_SULCUS_GREY - _GYRUS_GREY) * step


def plot_flatmap(
    values,
    vertices,
    *,
    title: str | None = None,
    cmap=None,
    vmin: float | None = None,
    vmax: float | None = None,
    categorical_names: Sequence[str] | None = None,
    outlines=None,
    colorbar_label: str | None = None,
    ax_pair=None,
):
    """Draw per-voxel values on the fsaverage5 flat maps of both hemispheres.

    Parameters
    ----------
    values : array-like, (n_voxels,)
        One number per voxel. NaN is not drawn. With ``categorical_names``, integer labels:
        ``k`` means ``categorical_names[k]`` and 0 means no label (not drawn).
    vertices : array-like of int, (n_voxels,)
        Each voxel's vertex index in [0, 20484): left hemisphere 0..10241, right 10242..20483.
        Several voxels on one vertex are averaged (labels: the most frequent one wins).
    title : str, optional
        Figure title.
    cmap : str or matplotlib Colormap, optional
        Continuous maps default to ``"viridis"``; categorical maps to ``"tab10"`` (up to 10
        labels) or ``"tab20"`` (up to 20).
    vmin, vmax : float, optional
        Colour limits of a continuous map; default the finite minimum and maximum.
    categorical_names : sequence of str, optional
        Names of the labels in ``values`` (index 0 = none). Draws a region map with one
        legend entry per label present instead of a colourbar.
    outlines : array-like of int (n_voxels,), or tuple (labels, names), optional
        Region label per voxel (0 = none). Borders between regions are drawn as thin black
        lines; with ``names`` (``names[k]`` for label ``k``) each region is also named at its
        centre in each hemisphere.
    colorbar_label : str, optional
        Label under the colourbar of a continuous map.
    ax_pair : (Axes, Axes), optional
        Axes to draw the left and right hemispheres into; default a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        Rendered with the Agg canvas (no display); write it with ``save_figure``.

    Notes
    -----
    Continuous values are Gouraud-shaded on the faces whose three vertices carry a value, so an
    isolated vertex shows nothing. Regions (``categorical_names``) and ``outlines`` follow the
    half-way contour around each region's vertices, so borders are smooth and adjacent regions
    meet without gaps. About 0.3 s per figure once the meshes are loaded (first call ~1.5 s).

    Examples
    --------
    >>> fig = plot_flatmap(np.random.rand(500), np.arange(0, 20000, 40), title="noise")
    """
    values, vertices = _check_values_vertices(values, vertices)
    n_voxels = len(values)
    categorical = categorical_names is not None
    if categorical:
        categorical_names = _check_names(categorical_names, "categorical_names")
        labels = _check_labels(values, len(categorical_names), "values", n_voxels)
    outline_labels = outline_names = None
    if outlines is not None:
        outline_labels, outline_names = _split_outlines(outlines, n_voxels)
    if ax_pair is not None:
        ax_pair = _check_ax_pair(ax_pair)
    if vmin is not None and vmax is not None and vmin > vmax:
        raise ValueError(f"'vmin' must not exceed 'vmax'; got vmin={vmin}, vmax={vmax}.")

    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, Normalize
    from matplotlib.patches import Patch

    surface = load_fsaverage5()
    n_hemi = surface.n_vertices_per_hemi
    n_total = 2 * n_hemi

    if categorical:
        vertex_data = _vertex_modes(labels, vertices, n_total)  # (20484,) int, 0 = none
        colors = _qualitative_colors(len(categorical_names) - 1, cmap)  # (n_labels - 1, 4)
        label_cmap = ListedColormap(colors)
        label_norm = Normalize(0.5, len(categorical_names) - 0.5)
    else:
        vertex_data = _vertex_means(values, vertices, n_total)  # (20484,) float, NaN = none
        finite = vertex_data[np.isfinite(vertex_data)]
        lo = vmin if vmin is not None else (finite.min() if finite.size else 0.0)
        hi = vmax if vmax is not None else (finite.max() if finite.size else 1.0)
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        elif lo > hi:  # only one limit given, on the far side of the data
            lo, hi = (lo, lo + 1.0) if vmin is not None else (hi - 1.0, hi)
        norm = Normalize(lo, hi)
        data_cmap = _get_cmap("viridis" if cmap is None else cmap)
    vertex_outline = None
    if outline_labels is not None:
        vertex_outline = _vertex_modes(outline_labels, vertices, n_total)  # (20484,) int

    fig, axes, own_figure = _make_axes(ax_pair)
    present: set[int] = set()  # region labels drawn in either hemisphere
    for h, (hemi, ax) in enumerate(zip(HEMISPHERES, axes)):
        ax.tripcolor(
            _triangulation(hemi), _sulcal_grey(surface.sulcal_depth[hemi]), shading="gouraud",
            cmap="gray", vmin=0.0, vmax=1.0, zorder=1,
        )
        data = vertex_data[h * n_hemi : (h + 1) * n_hemi]  # (10242,)
        if categorical:
            present.update(_fill_regions(ax, hemi, data, label_cmap, label_norm))
        else:
            _fill_values(ax, hemi, data, data_cmap, norm)
        if vertex_outline is not None:
            _draw_outlines(ax, hemi, vertex_outline[h * n_hemi : (h + 1) * n_hemi], outline_names)
        _frame(ax, hemi)

    if categorical:
        handles = [
            Patch(facecolor=label_cmap(label_norm(k)), edgecolor="none", label=categorical_names[k])
            for k in sorted(present)
        ]
        _add_legend(fig, axes, handles, own_figure)
    else:
        _add_colorbar(fig, axes, ScalarMappable(norm=norm, cmap=data_cmap), vertex_data, colorbar_label, own_figure)
    if title and own_figure:
        fig.suptitle(title, fontsize=12, y=0.97)
    elif title:
        axes[0].set_title(title, fontsize=10, loc="left", pad=14)  # above the hemisphere caption
    return fig


def _fill_values(ax, hemi: str, data: np.ndarray, cmap, norm) -> None:
    """Gouraud-shade the faces whose three vertices carry a finite value; data (10242,)."""
    surface = load_fsaverage5()
    faces = surface.flat_faces[hemi]  # (f, 3)
    keep = faces[np.isfinite(data[faces]).all(axis=1)]
    if len(keep) == 0:
        return
    xy = surface.flat_xy[hemi]
    filled = np.where(np.isfinite(data), data, norm.vmin)  # only vertices of kept faces are shown
    ax.tripcolor(xy[:, 0], xy[:, 1], keep, filled, shading="gouraud", cmap=cmap, norm=norm, zorder=2)


def _fill_regions(ax, hemi: str, labels: np.ndarray, cmap, norm) -> list[int]:
    """Fill each labelled region in its colour; labels (10242,) int, 0 = none. Returns labels drawn."""
    on_sheet = load_fsaverage5().flat_mask[hemi]
    drawn = [int(label) for label in np.unique(labels[on_sheet]) if label != 0]
    for label in drawn:
        # The 0.5 level of the region's indicator gives smooth borders that meet halfway along
        # each edge to a neighbouring region, instead of a saw-tooth of whole faces.
        indicator = (labels == label).astype(np.float64)  # (10242,)
        ax.tricontourf(
            _triangulation(hemi), indicator, levels=[0.5, 1.5], colors=[cmap(norm(label))], zorder=2
        )
    return drawn


def _add_legend(fig, axes, handles, own_figure: bool) -> None:
    """One entry per region drawn: under the maps of our own figure, else right of the pair."""
    if not handles:
        return
    if not own_figure:
        axes[1].legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=7)
        return
    ncol = min(len(handles), _LEGEND_COLUMNS)
    fig.legend(
        handles=handles, loc="lower center", ncol=ncol, frameon=False, fontsize=9, bbox_to_anchor=(0.5, 0.0)
    )
    _fit_legend_height(fig, len(handles))


def _add_colorbar(fig, axes, mappable, vertex_data: np.ndarray, label: str | None, own_figure: bool) -> None:
    """Horizontal colourbar under the maps; arrows where data fall outside the limits."""
    finite = vertex_data[np.isfinite(vertex_data)]
    below = bool(finite.size) and finite.min() < mappable.norm.vmin
    above = bool(finite.size) and finite.max() > mappable.norm.vmax
    extend = {(False, False): "neither", (True, False): "min", (False, True): "max"}.get((below, above), "both")
    if own_figure:
        cax = fig.add_axes((0.375, 0.09, 0.25, 0.035))
        cbar = fig.colorbar(mappable, cax=cax, orientation="horizontal", extend=extend)
    else:
        cbar = fig.colorbar(mappable, ax=list(axes), orientation="horizontal", shrink=0.4, pad=0.02, extend=extend)
    cbar.ax.tick_params(labelsize=8)
    if label:
        cbar.set_label(label, fontsize=9)


def _check_ax_pair(ax_pair) -> tuple:
    from matplotlib.axes import Axes

    pair = tuple(ax_pair) if np.iterable(ax_pair) else (ax_pair,)
    if len(pair) != 2 or not all(isinstance(ax, Axes) for ax in pair):
        raise ValueError(f"'ax_pair' must be two matplotlib Axes (left, right); got {ax_pair!r}.")
    return pair


def _split_outlines(outlines, n_voxels: int) -> tuple[np.ndarray, list[str] | None]:
    """Accept ``labels`` or ``(labels, names)``; check labels index the names."""
    names = None
    if (
        isinstance(outlines, tuple)
        and len(outlines) == 2
        and isinstance(outlines[1], Sequence)
        and not isinstance(outlines[1], str)
        and all(isinstance(n, str) for n in outlines[1])
    ):
        outlines, names = outlines
        names = _check_names(names, "outlines names")
    n_labels = len(names) if names is not None else np.iinfo(np.int64).max
    return _check_labels(outlines, n_labels, "outlines", n_voxels), names


def _draw_outlines(ax, hemi: str, vertex_labels: np.ndarray, names: list[str] | None) -> None:
    """Thin black region borders (half-way contours) and, with names, each region named at its centre."""
    import matplotlib.patheffects as path_effects

    surface = load_fsaverage5()
    xy = surface.flat_xy[hemi]
    on_sheet = surface.flat_mask[hemi]
    regions = [label for label in np.unique(vertex_labels[on_sheet]) if label != 0]
    for label in regions:
        indicator = (vertex_labels == label).astype(np.float64)  # (10242,)
        ax.tricontour(_triangulation(hemi), indicator, levels=[0.5], colors="black", linewidths=0.7, zorder=3)
    if names is None:
        return
    for label in regions:
        members = np.flatnonzero((vertex_labels == label) & on_sheet)
        centre = xy[members].mean(axis=0)
        # The member vertex nearest the mean keeps the name inside curved regions.
        anchor = xy[members[np.argmin(np.linalg.norm(xy[members] - centre, axis=1))]]
        ax.text(
            anchor[0], anchor[1], names[label], ha="center", va="center", fontsize=7, zorder=4,
            path_effects=[path_effects.withStroke(linewidth=2.0, foreground="white")],
        )


def _make_axes(ax_pair):
    """Figure and (left, right) axes; a new Agg-backed figure unless ``ax_pair`` is given."""
    if ax_pair is not None:
        return ax_pair[0].figure, tuple(ax_pair), False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.0, 4.6), facecolor="white")
    FigureCanvasAgg(fig)
    bottom = 0.17
    left_ax = fig.add_axes((0.01, bottom, 0.485, 0.92 - bottom))
    right_ax = fig.add_axes((0.505, bottom, 0.485, 0.92 - bottom))
    return fig, (left_ax, right_ax), True


def _fit_legend_height(fig, n_entries: int) -> None:
    """Grow the figure downward so a legend of several rows does not cover the maps."""
    rows = max(1, -(-n_entries // _LEGEND_COLUMNS))
    if rows <= 1:
        return
    extra = 0.22 * (rows - 1)  # inches per extra legend row
    width, height = fig.get_size_inches()
    fig.set_size_inches(width, height + extra)
    scale = height / (height + extra)
    for ax in fig.axes:
        x0, y0, w, h = ax.get_position().bounds
        ax.set_position((x0, 1.0 - (1.0 - y0) * scale, w, h * scale))


def _frame(ax, hemi: str) -> None:
    """Equal aspect, no axes, tight limits around the sheet, small hemisphere caption."""
    surface = load_fsaverage5()
    xy = surface.flat_xy[hemi][surface.flat_mask[hemi]]  # (n_on_sheet, 2)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    margin = 0.02 * (hi - lo)
    ax.set_xlim(lo[0] - margin[0], hi[0] + margin[0])
    ax.set_ylim(lo[1] - margin[1], hi[1] + margin[1])
    ax.set_aspect("equal")
    ax.set_axis_off()
    caption = "Left hemisphere" if hemi == "left" else "Right hemisphere"
    ax.text(0.5, 1.0, caption, transform=ax.transAxes, ha="center", va="bottom", fontsize=8, color="0.35")
