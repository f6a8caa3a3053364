"""Image mosaics and atomic writes of images and figures.

A mosaic is a white canvas of equal tiles separated by ``pad`` pixels (also around the border).
Tile ``k`` of an ``image_grid`` sits in row ``k // nrow``, column ``k % nrow``; its top-left
corner is at::

    x = left + pad + col * (W * scale + pad)
    y = pad + row * (H * scale + label_h + pad)

where ``left`` is the width of the row-label margin (0 without row labels) and ``label_h`` the
height of the caption strip under each tile (0 without labels).

Example
-------
>>> import numpy as np
>>> from brainlens.viz import image_grid, save_image
>>> images = np.zeros((6, 32, 32, 3), dtype=np.uint8)   # (n, H, W, 3)
>>> mosaic = image_grid(images, nrow=3, pad=2)           # 2 rows of 3 tiles
>>> mosaic.size                                          # (3*32 + 4*2, 2*32 + 3*2)
(104, 70)
>>> save_image(mosaic, "grid.png")
"""

from __future__ import annotations

import math
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["category_grid", "image_grid", "save_figure", "save_image"]

_LABEL_SIZE = 10  # px, captions under tiles
_ROW_LABEL_SIZE = 12  # px, row names in the left margin
_BACKGROUND = (255, 255, 255)
_TEXT = (0, 0, 0)


def _check_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"'images' must have shape (n, H, W, 3); got shape {images.shape}.")
    if images.dtype != np.uint8:
        raise ValueError(f"'images' must be uint8; got dtype {images.dtype} with shape {images.shape}.")
    if len(images) == 0 or images.shape[1] == 0 or images.shape[2] == 0:
        raise ValueError(f"'images' must hold at least one non-empty image; got shape {images.shape}.")
    return images


def _check_positive_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"'{name}' must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _check_texts(texts, n: int, name: str) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence) or len(texts) != n:
        got = len(texts) if isinstance(texts, Sequence) and not isinstance(texts, str) else repr(texts)
        raise ValueError(f"'{name}' must be a list of {n} strings; got {got}.")
    return [str(t) for t in texts]


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """Shorten ``text`` with '...' until it fits ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..." if text else ""


def _mosaic(
    rows: list[list[np.ndarray | None]],
    tile_hw: tuple[int, int],
    *,
    n_cols: int,
    labels: list[list[str]] | None,
    row_labels: list[str] | None,
    pad: int,
    scale: int,
) -> Image.Image:
    """Compose rows of (H, W, 3) uint8 tiles (None = empty slot) into one image."""
    tile_h, tile_w = tile_hw[0] * scale, tile_hw[1] * scale
    label_font = ImageFont.load_default(size=_LABEL_SIZE)
    row_font = ImageFont.load_default(size=_ROW_LABEL_SIZE)
    label_h = 0
    if labels is not None:
        ascent, descent = label_font.getmetrics()
        label_h = ascent + descent + 2
    left = 0
    if row_labels is not None:
        left = math.ceil(max(row_font.getlength(t) for t in row_labels)) + 2 * pad + 4
    cell_h = tile_h + label_h
    width = left + n_cols * tile_w + (n_cols + 1) * pad
    height = len(rows) * cell_h + (len(rows) + 1) * pad
    canvas = np.empty((height, width, 3), dtype=np.uint8)  # (height, width, 3)
    canvas[:] = _BACKGROUND
    for r, row in enumerate(rows):
        y = pad + r * (cell_h + pad)
        for c, tile in enumerate(row):
            if tile is None:
                continue
            x = left + pad + c * (tile_w + pad)
            if scale > 1:
                tile = np.repeat(np.repeat(tile, scale, axis=0), scale, axis=1)  # nearest neighbour
            canvas[y : y + tile_h, x : x + tile_w] = tile
    image = Image.fromarray(canvas, mode="RGB")
    if labels is None and row_labels is None:
        return image
    draw = ImageDraw.Draw(image)
    for r, _row in enumerate(rows):
        y = pad + r * (cell_h + pad)
        if row_labels is not None:
            draw.text((pad + 2, y + tile_h / 2), row_labels[r], fill=_TEXT, font=row_font, anchor="lm")
        if labels is None:
            continue
        for c, text in enumerate(labels[r]):
            x = left + pad + c * (tile_w + pad)
            text = _fit_text(draw, text, label_font, tile_w)
            draw.text((x + tile_w / 2, y + tile_h + 1), text, fill=_TEXT, font=label_font, anchor="ma")
    return image


def image_grid(
    images,
    *,
    nrow: int | None = None,
    labels: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    pad: int = 2,
    scale: int = 1,
) -> Image.Image:
    """Tile images into one mosaic, filled row by row.

    Parameters
    ----------
    images : array-like of uint8, (n, H, W, 3)
    nrow : int, optional
        Images per row, as in torchvision's ``make_grid``; default ``ceil(sqrt(n))``.
        The grid has ``ceil(n / nrow)`` rows.
    labels : sequence of str, optional
        One caption per image, drawn small under its tile (cut with '...' when too wide).
    row_labels : sequence of str, optional
        One name per row, drawn in a margin at the left.
    pad : int
        Pixels of white between tiles and around the border.
    scale : int
        Integer nearest-neighbour upscaling of every tile.

    Returns
    -------
    PIL.Image.Image
        RGB, ``ncol * W * scale + (ncol + 1) * pad`` (+ row-label margin) wide and
        ``nrows * (H * scale + label_h) + (nrows + 1) * pad`` high, ``ncol = min(nrow, n)``.

    Examples
    --------
    >>> image_grid(np.zeros((5, 8, 8, 3), np.uint8), nrow=2, pad=1).size
    (19, 28)
    """
    images = _check_images(images)
    n, height, width, _ = images.shape
    nrow = math.ceil(math.sqrt(n)) if nrow is None else _check_positive_int(nrow, "nrow", 1)
    pad = _check_positive_int(pad, "pad", 0)
    scale = _check_positive_int(scale, "scale", 1)
    n_cols = min(nrow, n)
    n_rows = math.ceil(n / n_cols)
    rows = [list(images[r * n_cols : (r + 1) * n_cols]) for r in range(n_rows)]
    label_rows = None
    if labels is not None:
        labels = _check_texts(labels, n, "labels")
        label_rows = [labels[r * n_cols : (r + 1) * n_cols] for r in range(n_rows)]
    if row_labels is not None:
        row_labels = _check_texts(row_labels, n_rows, "row_labels")
    return _mosaic(
        rows, (height, width), n_cols=n_cols, labels=label_rows, row_labels=row_labels, pad=pad, scale=scale
    )


def category_grid(images, category, names: Sequence[str], *, per_row: int = 8, scale: int = 2) -> Image.Image:
    """One row per category: row ``k`` shows the first ``per_row`` images of category ``k``.

    Parameters
    ----------
    images : array-like of uint8, (n, H, W, 3)
    category : array-like of int, (n,)
        Category of each image, in [0, len(names)).
    names : sequence of str
        Category names, drawn as row labels at the left. A category without images keeps its
        (empty) row, so row ``k`` is always category ``k``.
    per_row : int
        Most images shown per category.
    scale : int
        Integer nearest-neighbour upscaling of every tile.

    Returns
    -------
    PIL.Image.Image
        Tiles laid out as in :func:`image_grid` with ``pad=2`` and
        ``ncol = min(per_row, largest category)``.

    Examples
    --------
    >>> category_grid(images, labels, ["face", "body", "place"], per_row=6)
    """
    images = _check_images(images)
    category = np.asarray(category)
    if category.shape != (len(images),):
        raise ValueError(f"'category' must have shape ({len(images)},), one per image; got {category.shape}.")
    if not np.issubdtype(category.dtype, np.integer):
        raise ValueError(f"'category' must be integers; got dtype {category.dtype}.")
    if isinstance(names, str) or not isinstance(names, Sequence) or len(names) == 0:
        raise ValueError(f"'names' must be a non-empty list of category names; got {names!r}.")
    names = [str(n) for n in names]
    if category.min() < 0 or category.max() >= len(names):
        bad = category[(category < 0) | (category >= len(names))][0]
        raise ValueError(f"'category' values must lie in [0, {len(names)}) to index 'names'; got {bad}.")
    per_row = _check_positive_int(per_row, "per_row", 1)
    scale = _check_positive_int(scale, "scale", 1)
    rows = [list(images[np.flatnonzero(category == k)[:per_row]]) for k in range(len(names))]
    n_cols = max(1, max(len(row) for row in rows))
    return _mosaic(
        rows, images.shape[1:3], n_cols=n_cols, labels=None, row_labels=names, pad=2, scale=scale
    )


def _atomic_write(path, write: Callable[[object], None]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place.

    Readers never see a half-written file; a failed write leaves any old file untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def save_image(img: Image.Image, path) -> None:
    """Write a PIL image as PNG, atomically, creating the parent folder.

    Examples
    --------
    >>> save_image(image_grid(images), "runs/demo/grid.png")
    """
    if not isinstance(img, Image.Image):
        raise TypeError(f"'img' must be a PIL.Image.Image; got {type(img).__name__}.")
    _atomic_write(path, lambda handle: img.save(handle, format="PNG"))


def save_figure(fig, path, dpi: int = 150) -> None:
    """Write a matplotlib figure as PNG, atomically, creating the parent folder; then close it.

    Examples
    --------
    >>> save_figure(plot_flatmap(values, vertices), "runs/demo/flatmap.png")
    """
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"'fig' must be a matplotlib Figure; got {type(fig).__name__}.")
    try:
        _atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=dpi, facecolor="white"))
    finally:
        if "matplotlib.pyplot" in sys.modules:  # figures made without pyplot are not registered there
            import matplotlib.pyplot as plt

            plt.close(fig)
