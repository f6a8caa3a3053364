"""Fine classes of the in-silico stimuli: each image's kind of main-category thing, as the generator drew it."""

import re

import numpy as np
import pytest

from brainlens.insilico.stimuli import CATEGORIES, FINE_CLASSES, generate

N = 4000  # the rarest classes (one kind of ball) hold about 0.25 % of the images: about 10 here


@pytest.fixture(scope="module")
def stim():
    return generate(N, seed=0, size=16)


def _names(stim):
    return [FINE_CLASSES[k] for k in stim.fine_class]


# What the caption of an image of each class says, kept here apart from the generator as the spec: a pattern
# that the main category's phrase (the caption's first of the patterns of its category) must match. Faces say
# their hair only in some captions, and groups of bodies in various poses say no pose; those captions match no
# pattern of their category and are not checked (bald and group captions are).
CAPTION_PATTERNS = {
    "face/dark hair": r"\b(black|dark|brown) hair\b",
    "face/light hair": r"\b(blonde|grey|white) hair\b",
    "face/red hair": r"\bred hair\b",
    "face/bald": r"\bbald\b",
    "face/group": r"\b(two|three) (faces|people's faces)\b",
    "body/standing": r"\b(standing|hands on hips)\b",
    "body/walking": r"\bwalking\b",
    "body/running": r"\brunning\b",
    "body/arms up": r"\b(waving|arms raised)\b",
    "body/sitting": r"\bsitting\b",
    "body/jumping": r"\bjumping\b",
    "place/street": r"\bstreet\b",
    "place/city": r"\bcity skyline\b",
    "place/mountains": r"\bmountains?\b",
    "place/lake": r"\blake\b",
    "place/beach": r"\bbeach\b",
    "place/park": r"\b(park|field)\b",
    "place/living room": r"\bliving room\b",
    "place/bedroom": r"\bbedroom\b",
    "place/kitchen": r"\bkitchen\b",
    "place/room": r"\b(indoor room|a room)\b",
    "food/red apples": r"\bred apples\b",
    "food/oranges": r"\borange fruit\b",
    "food/strawberries": r"\bstrawberries\b",
    "food/carrots": r"\bcarrots\b",
    "food/bananas": r"\bbananas\b",
    "food/cookies": r"\bcookies\b",
    "food/fries": r"\bfries\b",
    "food/sausages": r"\bsausages\b",
    "food/pizza": r"\bpizza\b",
    "food/cake": r"\bcake\b",
    "food/bread": r"\bbread\b",
    "food/sandwich": r"\bsandwich\b",
    "food/salad": r"\bsalad\b",
    "food/broccoli": r"\bbroccoli\b",
    "food/green apples": r"\bgreen apples\b",
    "food/peas": r"\bpeas\b",
    "food/cucumber": r"\bcucumber\b",
    "food/kiwi": r"\bkiwi\b",
    "food/limes": r"\blimes\b",
    "food/grapes": r"\bgrapes\b",
    "food/beans": r"\bbeans\b",
    "word/sign": r"\bon a sign\b",
    "word/paper": r"\bsheet of paper\b",
    "word/chalkboard": r"\bchalkboard\b",
    "word/label": r"\bon a label\b",
    "object/car": r"\b(car|van)\b",
    "object/mug": r"\b(mug|cup)\b",
    "object/chair": r"\bchair\b",
    "object/lamp": r"\blamp\b",
    "object/bottle": r"\bbottle\b",
    "object/hammer": r"\bhammer\b",
    "object/scissors": r"\bscissors\b",
    "object/beach ball": r"\bbeach ball\b",
    "object/basketball": r"\bbasketball\b",
    "object/soccer ball": r"\bsoccer ball\b",
    "object/tennis ball": r"\btennis ball\b",
    "object/clock": r"\bclock\b",
    "object/umbrella": r"\bumbrella\b",
    "object/house": r"\btoy house\b",
    "object/books": r"\bbooks?\b",
    "object/bicycle": r"\bbicycle\b",
}
# Classes whose captions always say them: a face's hair and a pose of mixed groups may go unsaid.
ALWAYS_SAID = {name for name in FINE_CLASSES if name.split("/")[0] in ("place", "food", "word", "object")}
ALWAYS_SAID = (ALWAYS_SAID | {"face/group"}) - {"word/plain text"}


def _first_match(caption, category):
    """The class of `category` whose pattern matches earliest in the caption (ties: the longest match), or None."""
    found = []
    for name, pattern in CAPTION_PATTERNS.items():
        if name.startswith(category + "/"):
            match = re.search(pattern, caption)
            if match:
                found.append((match.start(), -len(match.group()), name))
    return min(found)[2] if found else None


def test_fine_classes_are_named_by_category_in_order():
    assert len(FINE_CLASSES) >= 50 and len(set(FINE_CLASSES)) == len(FINE_CLASSES)
    categories = [name.split("/")[0] for name in FINE_CLASSES]
    assert all(re.fullmatch(r"[a-z]+/[a-z][a-z ]*[a-z]", name) for name in FINE_CLASSES), FINE_CLASSES
    # grouped by category, in the order of CATEGORIES, every category with at least two classes
    assert list(dict.fromkeys(categories)) == list(CATEGORIES)
    assert categories == sorted(categories, key=CATEGORIES.index)
    assert min(categories.count(c) for c in CATEGORIES) >= 2
    assert set(CAPTION_PATTERNS) | {"word/plain text"} == set(FINE_CLASSES)


def test_every_image_gets_a_class_of_its_main_category(stim):
    assert stim.fine_class.shape == (N,) and stim.fine_class.dtype == np.int64
    assert stim.fine_class.min() >= 0 and stim.fine_class.max() < len(FINE_CLASSES)
    for name, category in zip(_names(stim), stim.category):
        assert name.split("/")[0] == CATEGORIES[category], (name, CATEGORIES[category])


def test_every_class_occurs_and_classes_are_balanced_ish(stim):
    counts = np.bincount(stim.fine_class, minlength=len(FINE_CLASSES))
    assert counts.min() >= 3, dict(zip(FINE_CLASSES, counts))
    # measured over 5,000 images: 12 (soccer ball) to 263 (dark hair) of an expected 79 per class
    assert counts.max() < 0.08 * N, dict(zip(FINE_CLASSES, counts))


def test_pure_images_of_each_category_cover_its_classes():
    for category in CATEGORIES:
        out = generate(600, seed=3, size=16, categories=[category], mix_prob=0.0)
        assert {FINE_CLASSES[k] for k in out.fine_class} == {n for n in FINE_CLASSES if n.startswith(category + "/")}


def test_fine_classes_are_deterministic_and_sliceable():
    whole = generate(40, seed=5, size=16)
    again = generate(40, seed=5, size=16)
    part = generate(25, seed=5, size=16, start=15)
    np.testing.assert_array_equal(whole.fine_class, again.fine_class)
    np.testing.assert_array_equal(part.fine_class, whole.fine_class[15:])
    assert generate(0, seed=0, size=16).fine_class.shape == (0,)


def test_captions_say_the_fine_class(stim):
    """The independent check: the main category's phrase comes first in a caption, so the first kind of that
    category the caption names is the image's class (where the caption names one)."""
    said = {name: 0 for name in FINE_CLASSES}
    for caption, name, category in zip(stim.captions, _names(stim), stim.category):
        first = _first_match(caption.lower(), CATEGORIES[category])
        if name == "word/plain text":
            assert first is None, (name, caption)
            continue
        if name in ALWAYS_SAID:
            assert first is not None, (name, caption)
        if first is not None:
            assert first == name, (name, caption)
            said[name] += 1
    assert all(count > 0 for name, count in said.items() if name != "word/plain text"), said


def test_mixed_images_keep_the_main_categorys_class():
    mixed = generate(600, seed=9, size=16, mix_prob=1.0)
    for caption, k, category in zip(mixed.captions, mixed.fine_class, mixed.category):
        first = _first_match(caption.lower(), CATEGORIES[category])
        if FINE_CLASSES[k] != "word/plain text" and first is not None:
            assert first == FINE_CLASSES[k], (FINE_CLASSES[k], caption)


def test_simulated_store_holds_the_fine_classes(tmp_path):
    from brainlens import store
    from brainlens.insilico.brain import InSilicoSubject

    subject = InSilicoSubject(1)
    sim = subject.simulate(24, n_test=4, n_val=2, trials_per_session=72)
    path = subject.write_store(sim, tmp_path / "sub1.h5")
    with store.open_store(path) as s:
        fine_class, names = s.fine_classes
        assert names == list(FINE_CLASSES) and s.info()["has_fine_classes"]
        np.testing.assert_array_equal(fine_class, sim.stimuli.fine_class)
        categories = np.array([CATEGORIES.index(names[k].split("/")[0]) for k in fine_class])
        np.testing.assert_array_equal(categories, s.file["truth/category"][()])
