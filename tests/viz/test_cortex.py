"""Flat maps on fsaverage5: geometry, rendering, input checks; all offline."""

import socket
import time

import numpy as np
import pytest
from PIL import Image

from brainlens.surface import FSAVERAGE5_N_VERTICES, load_fsaverage5
from brainlens.viz import plot_flatmap, save_figure
from brainlens.viz.cortex import _vertex_means, _vertex_modes

N_TOTAL = 2 * FSAVERAGE5_N_VERTICES


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise RuntimeError("brainlens.viz tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def regions():
    """Three made-up regions as discs on the sphere around posterior vertices: (labels, names)."""
    surface = load_fsaverage5()
    pial, sphere = surface.concatenated("pial"), surface.concatenated("sphere")
    labels = np.zeros(N_TOTAL, dtype=np.int64)
    for k, centre in enumerate([(-10, -100, 0), (-40, -60, -20), (-45, -75, 5)], start=1):
        for h, sign in enumerate((1, -1)):
            part = slice(h * FSAVERAGE5_N_VERTICES, (h + 1) * FSAVERAGE5_N_VERTICES)
            target = np.array(centre, dtype=float) * (sign, 1, 1)
            seed = np.argmin(np.linalg.norm(pial[part] - target, axis=1))
            near = np.linalg.norm(sphere[part] - sphere[part][seed], axis=1) < 14
            labels[part][near] = k
    return labels, ["none", "V1", "FFA", "EBA", "absent"]


def _render(fig, path) -> np.ndarray:
    save_figure(fig, path)
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def test_load_is_offline_and_cached():
    load_fsaverage5.cache_clear()  # read the bundled files again, with the network refused
    surface = load_fsaverage5()
    assert load_fsaverage5() is surface
    for hemi in ("left", "right"):
        assert surface.flat_xy[hemi].shape == (FSAVERAGE5_N_VERTICES, 2)
        assert surface.sulcal_depth[hemi].shape == (FSAVERAGE5_N_VERTICES,)
        assert surface.pial[hemi].shape == surface.sphere[hemi].shape == (FSAVERAGE5_N_VERTICES, 3)
        assert surface.faces[hemi].shape == (20480, 3)
        assert not surface.flat_xy[hemi].flags.writeable


def test_flat_sheet_has_no_medial_wall_or_slivers():
    surface = load_fsaverage5()
    for hemi in ("left", "right"):
        faces, xy, mask = surface.flat_faces[hemi], surface.flat_xy[hemi], surface.flat_mask[hemi]
        assert mask[faces].all()
        assert 500 < (~mask).sum() < 1000  # the medial wall
        corners = xy[faces]
        edges = np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=2)
        assert edges.max() < 6 * np.median(edges)


def test_occipital_poles_meet_in_the_middle():
    surface = load_fsaverage5()
    for hemi, sign in (("left", 1), ("right", -1)):
        occipital = (surface.pial[hemi][:, 1] < -90) & surface.flat_mask[hemi]
        frontal = (surface.pial[hemi][:, 1] > 50) & surface.flat_mask[hemi]
        assert sign * surface.flat_xy[hemi][occipital, 0].mean() > 50
        assert sign * surface.flat_xy[hemi][frontal, 0].mean() < -50


def test_concatenated_is_left_then_right():
    surface = load_fsaverage5()
    pial = surface.concatenated("pial")
    assert pial.shape == (N_TOTAL, 3)
    np.testing.assert_array_equal(pial[FSAVERAGE5_N_VERTICES:], surface.pial["right"])
    assert pial[:FSAVERAGE5_N_VERTICES, 0].mean() < 0 < pial[FSAVERAGE5_N_VERTICES:, 0].mean()
    with pytest.raises(ValueError, match="'name' must be one of"):
        surface.concatenated("white")


def test_flatmap_of_random_subset_is_saved(tmp_path):
    rng = np.random.default_rng(0)
    vertices = rng.choice(N_TOTAL, size=15000, replace=False)
    fig = plot_flatmap(rng.normal(size=15000), vertices, title="random", colorbar_label="z")
    path = tmp_path / "sub" / "random.png"
    pixels = _render(fig, path)
    assert path.is_file() and not list(path.parent.glob(".*.tmp"))
    height, width, _ = pixels.shape
    assert (width, height) == (1500, 690)  # 10 x 4.6 inches at 150 dpi
    saturation = pixels.max(axis=2).astype(int) - pixels.min(axis=2)
    assert (saturation > 60).mean() > 0.05  # coloured data, not only grey background


def test_drawn_image_depends_on_values(tmp_path):
    rng = np.random.default_rng(1)
    vertices = rng.permutation(N_TOTAL)
    values = rng.normal(size=len(vertices))
    first = _render(plot_flatmap(values, vertices, vmin=-2, vmax=2), tmp_path / "a.png")
    again = _render(plot_flatmap(values, vertices, vmin=-2, vmax=2), tmp_path / "b.png")
    other = _render(plot_flatmap(-values, vertices, vmin=-2, vmax=2), tmp_path / "c.png")
    np.testing.assert_array_equal(first, again)
    assert (np.abs(first.astype(int) - other).sum(axis=2) > 30).mean() > 0.2


def test_categorical_map_with_outlines(tmp_path, regions):
    from matplotlib.colors import to_rgb

    labels, names = regions
    vertices = np.flatnonzero(labels > 0)
    fig = plot_flatmap(
        labels[vertices], vertices, categorical_names=names, outlines=(labels[vertices], names), title="regions"
    )
    legend = [text.get_text() for text in fig.legends[0].get_texts()]
    assert legend == ["V1", "FFA", "EBA"]  # present labels only
    drawn_names = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert {"V1", "FFA", "EBA"} <= drawn_names and "absent" not in drawn_names
    pixels = _render(fig, tmp_path / "regions.png").astype(int)

    def share(rgb):
        target = np.round(np.array(to_rgb(rgb)) * 255)
        return (np.abs(pixels - target).sum(axis=2) < 12).mean()

    assert share("tab:blue") > 1e-3 and share("tab:orange") > 1e-3 and share("tab:green") > 1e-3
    assert share("tab:red") == 0  # label 4 ("absent") is not drawn
    assert share("black") > 1e-4  # outlines


def test_outlines_without_names_and_ax_pair(regions):
    from matplotlib.figure import Figure

    labels, _ = regions
    fig = Figure()
    axes = fig.subplots(1, 2)
    rng = np.random.default_rng(2)
    out = plot_flatmap(rng.random(N_TOTAL), np.arange(N_TOTAL), outlines=labels, ax_pair=axes, title="t")
    assert out is fig
    assert all(ax.collections for ax in axes)


def test_nan_values_are_not_drawn():
    values = np.full(N_TOTAL, np.nan)
    values[:FSAVERAGE5_N_VERTICES] = 1.0  # left hemisphere only
    fig = plot_flatmap(values, np.arange(N_TOTAL))
    left, right = fig.axes[:2]
    assert len(left.collections) == 2 and len(right.collections) == 1  # background + data / background


def test_flatmap_is_fast():
    rng = np.random.default_rng(3)
    load_fsaverage5()
    start = time.perf_counter()
    fig = plot_flatmap(rng.normal(size=20000), rng.choice(N_TOTAL, 20000, replace=False))
    fig.canvas.draw()
    assert time.perf_counter() - start < 3.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(values=np.zeros((3, 2)), vertices=np.arange(3)), r"'values' must be 1-D .*\(3, 2\)"),
        (dict(values=np.zeros(3), vertices=np.zeros((3, 1), int)), r"'vertices' must be 1-D .*\(3, 1\)"),
        (dict(values=np.zeros(3), vertices=np.arange(4)), r"same length; got 3 values and 4 vertices"),
        (dict(values=np.zeros(2), vertices=np.array([0, N_TOTAL])), rf"'vertices' .*got vertex {N_TOTAL}"),
        (dict(values=np.zeros(2), vertices=np.array([-1, 0])), r"'vertices' .*got vertex -1"),
        (dict(values=np.zeros(2), vertices=np.array([0.0, 1.0])), r"'vertices' must be integer.*float64"),
        (dict(values=np.array([0, 3]), vertices=np.arange(2), categorical_names=["none", "a"]), r"'values'.*got 3"),
        (dict(values=np.zeros(2), vertices=np.arange(2), outlines=np.zeros(3, int)), r"'outlines' .*\(2,\).*\(3,\)"),
        (dict(values=np.zeros(2), vertices=np.arange(2), cmap="not-a-map"), r"cmap='not-a-map'"),
        (dict(values=np.zeros(2), vertices=np.arange(2), vmin=2, vmax=1), r"vmin=2, vmax=1"),
        (dict(values=np.zeros(2), vertices=np.arange(2), ax_pair=(1, 2)), r"'ax_pair'"),
    ],
)
def test_bad_input_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_flatmap(**kwargs)


def test_voxels_sharing_a_vertex():
    vertices = np.array([5, 5, 7, 7, 7])
    means = _vertex_means(np.array([1.0, 3.0, np.nan, 2.0, 4.0]), vertices, 10)
    assert means[5] == 2.0 and means[7] == 3.0 and np.isnan(means[0])
    modes = _vertex_modes(np.array([2, 1, 3, 3, 1]), vertices, 10)
    assert modes[5] == 1 and modes[7] == 3 and modes[0] == 0
