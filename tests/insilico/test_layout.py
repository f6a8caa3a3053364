import numpy as np
import pytest

from brainlens.insilico.layout import CATEGORY_REGIONS, EARLY_REGIONS, HALVES, N_VERTICES_PER_HEMI, build_layout


@pytest.fixture(scope="module")
def layout():
    return build_layout(1)


def test_every_region_present_in_both_hemispheres(layout):
    for k, name in enumerate(layout.roi_names[1:], start=1):
        for hemi in (0, 1):
            assert np.sum((layout.roi == k) & (layout.hemisphere == hemi)) >= 1, (name, hemi)
    assert set(EARLY_REGIONS + CATEGORY_REGIONS) == set(layout.roi_names[1:])


def test_vertices_unique_and_in_range(layout):
    assert np.unique(layout.vertex).size == layout.n_voxels
    assert layout.vertex.min() >= 0 and layout.vertex.max() < 2 * N_VERTICES_PER_HEMI
    left = layout.hemisphere == 0
    assert np.all(layout.vertex[left] < N_VERTICES_PER_HEMI)
    assert np.all(layout.vertex[~left] >= N_VERTICES_PER_HEMI)


def test_everything_is_posterior_visual_cortex(layout):
    assert layout.pial[:, 1].max() < -25  # nothing anterior of occipito-temporal cortex


def test_retinotopy_is_contralateral_with_meridians(layout):
    early = ~np.isnan(layout.prf_x)
    assert np.array_equal(early, np.isin(np.array(layout.roi_names)[layout.roi], EARLY_REGIONS))
    left = layout.hemisphere == 0
    # the left hemisphere maps the right visual field and vice versa
    assert np.all(layout.prf_x[early & left] >= -1e-6)
    assert np.all(layout.prf_x[early & ~left] <= 1e-6)
    # V1: dorsal half (pial z above the calcarine) maps the lower field, ventral half the upper
    v1 = layout.roi == layout.roi_names.index("V1")
    for hemi in (0, 1):
        sel = v1 & (layout.hemisphere == hemi)
        high = layout.pial[sel, 2] > np.median(layout.pial[sel, 2])
        assert np.mean(layout.prf_y[sel][high]) < np.mean(layout.prf_y[sel][~high])
    # eccentricity grows from the occipital pole forward (posterior → anterior)
    ecc = np.hypot(layout.prf_x, layout.prf_y)
    r = np.corrcoef(layout.pial[v1, 1], ecc[v1])[0, 1]
    assert r > 0.6


def test_halves_split_their_region(layout):
    for region, (names, *_rest) in HALVES.items():
        members = layout.region_mask(region)
        first, second = layout.region_mask(names[0]), layout.region_mask(names[1])
        assert np.array_equal(members, first | second)
        assert not np.any(first & second)
        assert abs(int(first.sum()) - int(second.sum())) <= 2 + members.sum() // 5


def test_subjects_differ_but_are_deterministic():
    a, b = build_layout(1), build_layout(2)
    assert a.n_voxels != b.n_voxels or not np.array_equal(a.vertex, b.vertex)
    build_layout.cache_clear()
    again = build_layout(1)
    assert np.array_equal(again.vertex, a.vertex) and np.array_equal(again.roi, a.roi)


def test_unknown_region_lists_known_names(layout):
    with pytest.raises(KeyError, match=r"unknown region 'FFA-3'; known regions: V1, V2"):
        layout.region_mask("FFA-3")
