from functools import partial

import pytest
import torch

from brainlens.evaluation import semantic
from brainlens.evaluation.semantic import BRAINDIVE_CATEGORIES, category_accuracy
from brainlens.generation.synthesis import SynthesisConfig, region_category
from brainlens.insilico.stimuli import generate, to_tensor
from brainlens.models.embedder import category_probabilities
from tests.models.shipped import require_shipped

N_PER_CATEGORY = 24
# a region of each BrainDiVE category, as synthesis names its target
REGIONS = {"FFA-1": "face", "OPA": "place", "EBA": "body", "VWFA-1": "word", "food": "food"}


@pytest.fixture(scope="module")
def embedder():
    from brainlens.models.embedder import load_embedder

    require_shipped("embedder")
    return load_embedder()


def _images(category: str):
    """Pure in-silico images of one category (no second category), (N_PER_CATEGORY, 3, 64, 64) in [0, 1]."""
    return to_tensor(generate(N_PER_CATEGORY, seed=5, size=64, categories=[category], mix_prob=0.0).images)


@pytest.mark.parametrize("region", list(REGIONS))
def test_shipped_embedder_finds_the_category_of_each_target(embedder, region):
    """As synthesis scores a region's images: images of the region's category are classified as it
    (measured: 24 of 24 for faces, places and bodies, 23 of 24 for words and food)."""
    target = region_category(region)
    assert target == REGIONS[region]
    metrics = category_accuracy(embedder, _images(target), target, style=SynthesisConfig(region=region).category_prompts)
    shares = metrics["category_shares"]
    assert list(shares) == list(BRAINDIVE_CATEGORIES)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert metrics["category_accuracy"] == shares[target] >= 0.9
    assert max(share for name, share in shares.items() if name != target) <= 0.1


def test_shares_count_every_image_across_batches(embedder, monkeypatch):
    """A set of all five categories in equal parts, ordered by category and classified in batches of
    32: each category holds a fifth of it, which only holds if every batch is scored."""
    monkeypatch.setattr(semantic, "category_probabilities", partial(category_probabilities, batch_size=32))
    images = torch.cat([_images(name) for name in BRAINDIVE_CATEGORIES])  # (120, 3, 64, 64), by category
    metrics = category_accuracy(embedder, images, "word")
    shares = metrics["category_shares"]
    assert sum(shares.values()) == pytest.approx(1.0)
    for name in BRAINDIVE_CATEGORIES:
        assert shares[name] == pytest.approx(0.2, abs=0.03), (name, shares)
    assert metrics["category_accuracy"] == shares["word"]


def test_fine_class_n_way_scores_seen_images_perfectly_and_others_near_chance(embedder):
    import numpy as np

    from brainlens.identification import n_way_top1
    from brainlens.models.embedder import fine_class_probabilities

    seen = generate(24, seed=77, size=64)
    itself = semantic.fine_class_n_way(seen.images, seen.images, embedder, trials=200)
    assert itself["mean"] == 1.0 and itself["n"] == 50 and itself["n_classes"] >= 50
    # another image as the "reconstruction": the value equals n_way_top1 on the classifier's own outputs
    others = seen.images[np.roll(np.arange(24), 1)]
    shifted = semantic.fine_class_n_way(seen.images, others, embedder, trials=200)
    probabilities = fine_class_probabilities(embedder, to_tensor(others))
    labels = fine_class_probabilities(embedder, to_tensor(seen.images)).argmax(1).numpy()
    assert shifted["mean"] == pytest.approx(n_way_top1(probabilities, labels, n=50, trials=200)["mean"])
    assert shifted["mean"] < 0.8
    # S samples per brain: the seen image and a wrong one; the max takes the better sample
    both = np.stack([seen.images, others], axis=1)  # (24, 2, 64, 64, 3)
    two = semantic.fine_class_n_way(seen.images, both, embedder, trials=200)
    assert two["max"] == 1.0 and two["mean"] == pytest.approx((1.0 + shifted["mean"]) / 2)
    with pytest.raises(ValueError, match="same number of brains; got 24 and 23"):
        semantic.fine_class_n_way(seen.images, others[:23], embedder)
