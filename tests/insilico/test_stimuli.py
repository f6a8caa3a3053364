"""Tests for brainlens.insilico.stimuli: shapes, determinism, ground truth, captions and variety."""

import re

import numpy as np
import pytest

from brainlens.insilico.stimuli import ATTRIBUTES, CATEGORIES, Stimuli, generate

# Words a caption may use to name each category; kept here, apart from the module, as the spec.
CATEGORY_WORDS = {
    "face": {"face", "faces"},
    "body": {"body", "bodies", "person", "people"},
    "place": {"room", "bedroom", "kitchen", "indoor", "outdoor", "street", "city", "landscape", "lake",
              "sea", "beach", "park", "field"},
    "food": {"food", "plate", "bowl", "board", "fruit", "apples", "strawberries", "carrots", "bananas",
             "cookies", "fries", "sausages", "pizza", "cake", "bread", "sandwich", "salad", "broccoli",
             "peas", "cucumber", "kiwi", "limes", "grapes", "beans"},
    "word": {"word", "words", "text", "letters", "sign"},
    "object": {"object", "objects", "car", "van", "mug", "cup", "chair", "lamp", "bottle", "hammer",
               "scissors", "ball", "basketball", "clock", "umbrella", "house", "book", "books", "bicycle"},
}
INDOOR_WORDS = {"indoor", "room", "bedroom", "kitchen"}
OUTDOOR_WORDS = {"outdoor", "street", "city", "landscape", "lake", "sea", "beach", "park", "field"}
WARM_WORDS = {"red", "orange", "yellow", "brown", "golden"}

N = 600  # images in the shared set: about 100 per category


def words_of(caption):
    return set(re.findall(r"[a-z]+", caption.lower()))


@pytest.fixture(scope="module")
def stim():
    return generate(N, seed=0, size=32)


@pytest.fixture(scope="module")
def held_out():
    return generate(300, seed=0, size=32, start=N)


def test_shapes_dtypes_and_ranges(stim):
    assert isinstance(stim, Stimuli)
    assert len(stim) == N
    assert stim.images.shape == (N, 32, 32, 3) and stim.images.dtype == np.uint8
    assert stim.labels.shape == (N, len(CATEGORIES)) and stim.labels.dtype == np.float32
    assert stim.category.shape == (N,) and stim.category.dtype == np.int64
    assert stim.attributes.shape == (N, len(ATTRIBUTES)) and stim.attributes.dtype == np.float32
    assert isinstance(stim.captions, tuple) and len(stim.captions) == N
    assert all(isinstance(c, str) and c for c in stim.captions)
    assert stim.category.min() >= 0 and stim.category.max() < len(CATEGORIES)
    assert set(np.unique(stim.labels)) <= {0.0, 0.5, 1.0}
    # Pictures use the whole intensity range rather than a flat colour.
    assert stim.images.std() > 30


@pytest.mark.parametrize("size", [32, 96])
def test_any_size(size):
    out = generate(4, seed=2, size=size)
    assert out.images.shape == (4, size, size, 3)


def test_empty():
    out = generate(0, seed=0, size=16)
    assert len(out) == 0 and out.images.shape == (0, 16, 16, 3) and out.captions == ()


def test_same_seed_identical_and_other_seed_different():
    a, b, c = generate(12, seed=3, size=32), generate(12, seed=3, size=32), generate(12, seed=4, size=32)
    assert a.images.tobytes() == b.images.tobytes()
    assert a.captions == b.captions
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.attributes, b.attributes)
    assert not np.array_equal(a.images, c.images)
    assert a.captions != c.captions


def test_start_generates_any_slice_independently():
    whole = generate(15, seed=5, size=32)
    part = generate(10, seed=5, size=32, start=5)
    np.testing.assert_array_equal(part.images, whole.images[5:])
    np.testing.assert_array_equal(part.labels, whole.labels[5:])
    np.testing.assert_array_equal(part.category, whole.category[5:])
    np.testing.assert_array_equal(part.attributes, whole.attributes[5:])
    assert part.captions == whole.captions[5:]


def test_labels_category_and_attributes_agree(stim):
    rows = np.arange(N)
    assert np.all(stim.labels[rows, stim.category] == 1.0)
    assert np.all((stim.labels == 1.0).sum(1) == 1)
    assert np.all((stim.labels == 0.5).sum(1) <= 1)

    place = stim.labels[:, CATEGORIES.index("place")] > 0
    food = stim.labels[:, CATEGORIES.index("food")] > 0
    indoor, warm = stim.attributes[:, 0], stim.attributes[:, 1]
    np.testing.assert_array_equal(~np.isnan(indoor), place)
    np.testing.assert_array_equal(~np.isnan(warm), food)
    assert set(np.unique(indoor[place])) == {0.0, 1.0}
    assert set(np.unique(warm[food])) == {0.0, 1.0}
    # Places alone are indoor half the time (food pulls mixed places indoors).
    pure_place = place & (stim.labels.sum(1) == 1.0)
    assert 0.35 < indoor[pure_place].mean() < 0.65
    assert 0.35 < warm[food].mean() < 0.65


def test_categories_equally_frequent_and_mix_fraction(stim):
    counts = np.bincount(stim.category, minlength=len(CATEGORIES))
    assert counts.min() > 70 and counts.max() < 130, counts  # 100 expected, sd about 9
    mixed = (stim.labels == 0.5).any(1).mean()
    assert abs(mixed - 0.2) < 0.05


@pytest.mark.parametrize("mix_prob", [0.0, 1.0])
def test_mix_prob_extremes(mix_prob):
    out = generate(30, seed=6, size=16, mix_prob=mix_prob)
    assert (out.labels == 0.5).any(1).mean() == mix_prob


def test_categories_restricts_main_category():
    out = generate(20, seed=7, size=16, categories=["face", "word"])
    assert set(out.category.tolist()) == {CATEGORIES.index("face"), CATEGORIES.index("word")}
    pure = generate(10, seed=7, size=16, categories=["food"], mix_prob=0.0)
    assert np.all(pure.category == CATEGORIES.index("food"))
    assert np.all(pure.labels.sum(1) == 1.0)


def test_captions_name_their_categories_and_attributes(stim):
    for caption, labels, (indoor, warm) in zip(stim.captions, stim.labels, stim.attributes):
        words = words_of(caption)
        for k in np.flatnonzero(labels):
            assert words & CATEGORY_WORDS[CATEGORIES[k]], (CATEGORIES[k], caption)
        if indoor == 1:
            assert words & INDOOR_WORDS, caption
        elif indoor == 0:
            assert words & OUTDOOR_WORDS and not words & {"indoor", "room"}, caption
        if warm == 1:
            assert words & WARM_WORDS, caption
        elif warm == 0:
            assert "green" in words, caption


def test_captions_are_varied(stim):
    assert len(set(stim.captions)) > 0.8 * N


def test_images_vary_within_each_category(stim):
    # Measured: mean pairwise correlation about 0.3 for places (sky above ground) and about 0
    # for the other categories.
    gray = stim.images.astype(np.float64).mean(-1).reshape(N, -1)
    for k, name in enumerate(CATEGORIES):
        x = gray[stim.category == k]
        x = (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-9)
        r = x @ x.T / x.shape[1]
        n = len(x)
        mean_r = (r.sum() - n) / (n * (n - 1))
        assert mean_r < 0.45, (name, mean_r)


def test_raw_pixels_do_not_give_the_category_away(stim, held_out):
    # A nearest-class-mean classifier on raw pixels measured 0.30-0.34 accuracy (chance 0.17).
    train = stim.images.reshape(N, -1).astype(np.float64)
    test = held_out.images.reshape(len(held_out), -1).astype(np.float64)
    means = np.stack([train[stim.category == k].mean(0) for k in range(len(CATEGORIES))])
    distances = ((test[:, None, :] - means[None]) ** 2).sum(-1)
    accuracy = (distances.argmin(1) == held_out.category).mean()
    assert accuracy < 0.5, accuracy


def test_progress_reports_every_image():
    calls = []
    generate(70, seed=8, size=16, progress=calls.append)
    assert sum(calls) == 70 and all(k > 0 for k in calls)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"n": -1}, "-1"),
        ({"n": 2, "size": 8}, "size=8"),
        ({"n": 2, "seed": -3}, "-3"),
        ({"n": 2, "start": -1}, "start=-1"),
        ({"n": 2, "mix_prob": 1.5}, "1.5"),
        ({"n": 2, "categories": ["face", "fish"]}, "fish"),
        ({"n": 2, "categories": []}, "[]"),
    ],
)
def test_bad_input_raises_naming_the_value(kwargs, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)):
        generate(**kwargs)


def test_unknown_category_lists_known_names():
    with pytest.raises(ValueError) as error:
        generate(1, categories=["fish"])
    assert all(name in str(error.value) for name in CATEGORIES)
