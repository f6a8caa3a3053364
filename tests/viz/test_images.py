"""Image mosaics and atomic writes."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from brainlens.viz import category_grid, image_grid, save_figure, save_image
from brainlens.viz.images import _atomic_write


def _solid(n: int, height: int = 6, width: int = 4) -> np.ndarray:
    """n images (n, H, W, 3), image k filled with a colour unique to k."""
    colours = np.stack([np.arange(n) * 7 + 10, 200 - np.arange(n) * 5, np.full(n, 33)], axis=1)
    return np.broadcast_to(colours[:, None, None, :], (n, height, width, 3)).astype(np.uint8)


@pytest.mark.parametrize(
    ("n", "nrow", "pad", "scale", "size"),
    [
        (6, 3, 2, 1, (3 * 4 + 4 * 2, 2 * 6 + 3 * 2)),
        (5, 2, 1, 1, (2 * 4 + 3 * 1, 3 * 6 + 4 * 1)),
        (5, None, 0, 2, (3 * 8, 2 * 12)),  # nrow defaults to ceil(sqrt(5)) = 3
        (2, 8, 3, 3, (2 * 12 + 3 * 3, 18 + 2 * 3)),  # never more columns than images
        (1, None, 2, 1, (4 + 4, 6 + 4)),
    ],
)
def test_grid_size(n, nrow, pad, scale, size):
    grid = image_grid(_solid(n), nrow=nrow, pad=pad, scale=scale)
    assert grid.mode == "RGB"
    assert grid.size == size


@pytest.mark.parametrize(("nrow", "pad", "scale"), [(3, 2, 1), (4, 3, 2), (1, 0, 3)])
def test_tiles_land_where_expected(nrow, pad, scale):
    images = _solid(7)
    pixels = np.asarray(image_grid(images, nrow=nrow, pad=pad, scale=scale))
    tile_h, tile_w = 6 * scale, 4 * scale
    for k in range(7):
        row, col = divmod(k, nrow)
        y, x = pad + row * (tile_h + pad), pad + col * (tile_w + pad)
        expected = np.broadcast_to(images[k, 0, 0], (tile_h, tile_w, 3))
        np.testing.assert_array_equal(pixels[y : y + tile_h, x : x + tile_w], expected)
    if pad:
        assert (pixels[:pad] == 255).all()  # white border


def test_labels_and_row_labels_shift_tiles_consistently():
    images = _solid(4, height=20, width=30)
    plain = image_grid(images, nrow=2)
    labelled = np.asarray(image_grid(images, nrow=2, labels=list("abcd"), row_labels=["first row", "second"]))
    assert labelled.shape[1] > plain.size[0] and labelled.shape[0] > plain.size[1]
    # Find tile 3 by its colour; it must sit right of tile 2 and below tile 1.
    where = [np.argwhere((labelled == images[k, 0, 0]).all(axis=2)).min(axis=0) for k in range(4)]
    assert where[3][0] == where[2][0] > where[1][0] == where[0][0]
    assert where[3][1] == where[1][1] > where[2][1] == where[0][1]
    assert where[1][1] - where[0][1] == 30 + 2
    # Caption text is drawn in the strip under the tile.
    y, x = where[0]
    assert (labelled[y + 20 : y + 33, x : x + 30] < 128).any()


def _caption_strip(text: str, tile_w: int, height: int, pad: int) -> np.ndarray:
    """A tile's caption strip with the gaps either side, as image_grid draws it: ``text`` centred
    1 pixel below the tile, in the 10-pixel default font."""
    strip = Image.new("RGB", (tile_w + 2 * pad, height), "white")
    ImageDraw.Draw(strip).text((pad + tile_w / 2, 1), text, fill="black", font=ImageFont.load_default(size=10), anchor="ma")
    return np.asarray(strip)


def test_long_labels_are_cut_to_the_tile():
    caption, tile_w, tile_h, pad = "a very long caption indeed", 48, 8, 4
    grid = image_grid(_solid(2, height=tile_h, width=tile_w), labels=[caption, "b"], pad=pad)
    assert grid.size[0] == 2 * tile_w + 3 * pad
    # kept: the longest beginning of the caption that fits the tile with "..." after it
    font = ImageFont.load_default(size=10)
    fits = [k for k in range(len(caption)) if font.getlength(caption[:k] + "...") <= tile_w]
    kept = caption[: max(fits)] + "..."
    assert 2 < max(fits) < len(caption) - 5  # a real cut, neither all nor nothing of the caption
    pixels = np.asarray(grid)
    label_h = grid.size[1] - tile_h - 2 * pad
    rows = slice(pad + tile_h, pad + tile_h + label_h)
    # under each tile exactly that text, and nothing spilling into the gaps or the next tile's strip
    np.testing.assert_array_equal(pixels[rows, : tile_w + 2 * pad], _caption_strip(kept, tile_w, label_h, pad))
    np.testing.assert_array_equal(pixels[rows, tile_w + pad :], _caption_strip("b", tile_w, label_h, pad))


def test_category_grid_rows_follow_categories():
    images = _solid(9)
    category = np.array([2, 0, 2, 1, 0, 2, 2, 0, 2])
    names = ["faces", "bodies", "places", "empty"]
    pixels = np.asarray(category_grid(images, category, names, per_row=3, scale=2))
    tile_h, pad = 12, 2
    assert pixels.shape[0] == 4 * tile_h + 5 * pad  # one row per name, the empty one too
    top = {}
    for k in range(9):
        hits = np.argwhere((pixels == images[k, 0, 0]).all(axis=2))
        if len(hits):
            top[k] = tuple(hits.min(axis=0))
    for k, (y, _x) in top.items():
        assert (y - pad) // (tile_h + pad) == category[k]
    # Category 2 has five images but only the first three are shown, in order.
    assert sorted(k for k in top if category[k] == 2) == [0, 2, 5]
    assert top[0][1] < top[2][1] < top[5][1]
    assert top[1][1] == top[3][1] == top[0][1]  # first column aligned after the name margin
    assert top[0][1] > 2 * pad + 20  # room for the names at the left
    empty_row = pixels[pad + 3 * (tile_h + pad) : pad + 3 * (tile_h + pad) + tile_h, top[0][1] :]
    assert (empty_row == 255).all()


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (np.zeros((2, 4, 4, 3), np.float32), r"'images' must be uint8; got dtype float32 with shape \(2, 4, 4, 3\)"),
        (np.zeros((2, 4, 4), np.uint8), r"'images' must have shape \(n, H, W, 3\); got shape \(2, 4, 4\)"),
        (np.zeros((2, 4, 4, 4), np.uint8), r"got shape \(2, 4, 4, 4\)"),
        (np.zeros((0, 4, 4, 3), np.uint8), r"at least one"),
    ],
)
def test_bad_images_are_refused(images, match):
    with pytest.raises(ValueError, match=match):
        image_grid(images)
    with pytest.raises(ValueError, match=match):
        category_grid(images, np.zeros(len(images), int), ["a"])


def test_bad_arguments_are_refused():
    images = _solid(3)
    with pytest.raises(ValueError, match="'labels' must be a list of 3 strings; got 2"):
        image_grid(images, labels=["a", "b"])
    with pytest.raises(ValueError, match="'row_labels' must be a list of 1 strings"):
        image_grid(images, nrow=3, row_labels=["a", "b"])
    with pytest.raises(ValueError, match="'nrow' must be an integer >= 1; got 0"):
        image_grid(images, nrow=0)
    with pytest.raises(ValueError, match="'category' values must lie in \\[0, 2\\).*got 2"):
        category_grid(images, np.array([0, 1, 2]), ["a", "b"])
    with pytest.raises(ValueError, match=r"'category' must have shape \(3,\)"):
        category_grid(images, np.array([0, 1]), ["a", "b"])


def test_save_image_round_trip(tmp_path):
    grid = image_grid(_solid(4))
    path = tmp_path / "new" / "folder" / "grid.png"
    save_image(grid, path)
    with Image.open(path) as img:
        assert img.format == "PNG"
        np.testing.assert_array_equal(np.asarray(img), np.asarray(grid))
    assert sorted(p.name for p in path.parent.iterdir()) == ["grid.png"]
    with pytest.raises(TypeError, match="'img' must be a PIL.Image.Image"):
        save_image(np.zeros((2, 2, 3), np.uint8), path)


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"old")

    def fail(handle):
        handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        _atomic_write(path, fail)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_save_figure_writes_png_and_closes(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [1, 0])
    path = tmp_path / "fig.png"
    save_figure(fig, path, dpi=100)
    assert not plt.fignum_exists(fig.number)
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size == (200, 100)
