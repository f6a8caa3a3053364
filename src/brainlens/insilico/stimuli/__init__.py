"""Procedural stimulus images for the in-silico subject.

They stand in for natural-scene photographs such as those of the Natural Scenes Dataset. Each
image shows one main category out of `CATEGORIES` and sometimes a second one, drawn from simple
shapes with random pose, scale, rotation, colour, lighting and background clutter, so that a model
trained on them has to learn the category rather than one template. Two binary attributes
(`ATTRIBUTES`) give ground truth for sub-regions: whether a place is indoors, and whether food is
warm-coloured. Each image also gets one fine class out of `FINE_CLASSES`, the kind of its main
category's thing as the generator drew it (an object's kind, a dish, a scene, a pose, a face's
hair, a word's backing): the ground truth of an n-way top-1 metric such as MinD-Vis's.

Every image comes from its own random generator, seeded by ``(seed, index)``, so any slice of a
stimulus set can be regenerated on its own.

The drawing lives in submodules: `_common` holds the drawing primitives and shared backdrops,
`faces`, `bodies`, `places`, `food`, `words` and `objects` paint one category each, and
`compose` puts one sample together from them.

Example
-------
>>> stim = generate(12, seed=0, size=64)
>>> stim.images.shape, stim.labels.shape, stim.attributes.shape
((12, 64, 64, 3), (12, 6), (12, 2))
>>> FINE_CLASSES[stim.fine_class[0]].split("/")[0] == CATEGORIES[stim.category[0]]
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .compose import _draw_sample

__all__ = ["ATTRIBUTES", "CATEGORIES", "FINE_CLASSES", "Stimuli", "generate", "to_tensor"]

CATEGORIES = ("face", "body", "place", "food", "word", "object")
ATTRIBUTES = ("indoor", "warm")
# Fine classes, "<category>/<kind>", grouped by category in the order of `CATEGORIES`. The order is part
# of the data (`Stimuli.fine_class` and stores index into it): changing it renumbers the classes. The kind
# is that of the main category's thing, merged where a 64-pixel image cannot tell kinds apart:
#   face    "group" for two or three faces, else the face's hair: dark (black, dark or brown), light
#           (blonde, grey or white) or red hair, or bald; the expression is a few pixels at 64 px
#   body    the pose of the (first) figure; hands on hips count as standing, and waving and raised
#           arms as "arms up"
#   place   the outdoor scene (street, city, mountains, lake, beach, park) or the kind of room
#   food    the food of the (first, larger) dish
#   word    what the words are written on ("plain text": straight on the background)
#   object  the kind of the first object; a van counts as a car, a cup as a mug, an alarm clock as
#           a clock, one book as books, and each kind of ball is a class of its own
FINE_CLASSES = (
    "face/dark hair", "face/light hair", "face/red hair", "face/bald", "face/group",
    "body/standing", "body/walking", "body/running", "body/arms up", "body/sitting", "body/jumping",
    "place/street", "place/city", "place/mountains", "place/lake", "place/beach", "place/park",
    "place/living room", "place/bedroom", "place/kitchen", "place/room",
    "food/red apples", "food/oranges", "food/strawberries", "food/carrots", "food/bananas", "food/cookies",
    "food/fries", "food/sausages", "food/pizza", "food/cake", "food/bread", "food/sandwich",
    "food/salad", "food/broccoli", "food/green apples", "food/peas", "food/cucumber", "food/kiwi",
    "food/limes", "food/grapes", "food/beans",
    "word/plain text", "word/sign", "word/paper", "word/chalkboard", "word/label",
    "object/car", "object/mug", "object/chair", "object/lamp", "object/bottle", "object/hammer",
    "object/scissors", "object/beach ball", "object/basketball", "object/soccer ball", "object/tennis ball",
    "object/clock", "object/umbrella", "object/house", "object/books", "object/bicycle",
)
_FINE_INDEX = {name: k for k, name in enumerate(FINE_CLASSES)}

# Weight of a second category in `labels`; the main category always has 1.0.
_SECOND_WEIGHT = 0.5
# Report progress in chunks so that a progress bar costs nothing next to the drawing.
_PROGRESS_EVERY = 64


@dataclass(frozen=True)
class Stimuli:
    """A set of stimulus images with their ground truth.

    Attributes
    ----------
    images : ndarray, shape (n, size, size, 3), uint8
    labels : ndarray, shape (n, 6), float32
        How much of each category in `CATEGORIES` the image holds: 1.0 for the main category,
        0.5 for a second category, 0 otherwise.
    category : ndarray, shape (n,), int64
        Index of the main category into `CATEGORIES`.
    attributes : ndarray, shape (n, 2), float32
        `ATTRIBUTES` as 1/0; NaN where they do not apply (``indoor`` without a place,
        ``warm`` without food).
    captions : tuple of str, length n
    fine_class : ndarray, shape (n,), int64
        Index of the image's fine class into `FINE_CLASSES`: the kind of its main category's thing.
    """

    images: np.ndarray
    labels: np.ndarray
    category: np.ndarray
    attributes: np.ndarray
    captions: tuple[str, ...]
    fine_class: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def generate(
    n: int,
    seed: int = 0,
    size: int = 64,
    *,
    start: int = 0,
    mix_prob: float = 0.2,
    categories: Sequence[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Stimuli:
    """Draw `n` stimulus images.

    Parameters
    ----------
    n : int
        Number of images.
    seed : int
        Seed of the stimulus set; the same seed gives byte-identical images.
    size : int
        Side of the square images in pixels, at least 16.
    start : int
        Global index of the first image: image ``i`` is drawn from
        ``np.random.default_rng([seed, start + i])`` alone, so ``generate(10, s, start=5)``
        equals images 5..14 of ``generate(15, s)``.
    mix_prob : float
        Probability that an image holds a second category besides its main one.
    categories : sequence of str, optional
        Restrict the main category to these names from `CATEGORIES`; second categories are
        not restricted (set ``mix_prob=0`` for pure images).
    progress : callable, optional
        Called with the number of images finished since its last call.

    Returns
    -------
    Stimuli
        images (n, size, size, 3) uint8, labels (n, 6), category (n,), attributes (n, 2),
        captions (n,), fine_class (n,).

    Example
    -------
    >>> faces = generate(4, seed=1, categories=["face"], mix_prob=0.0)
    >>> faces.category.tolist(), faces.labels[:, 0].tolist()
    ([0, 0, 0, 0], [1.0, 1.0, 1.0, 1.0])
    """
    if n < 0:
        raise ValueError(f"n must be >= 0; n={n!r} was provided.")
    if seed < 0:
        raise ValueError(f"seed must be >= 0; seed={seed!r} was provided.")
    if size < 16:
        raise ValueError(f"size must be >= 16 pixels; size={size!r} was provided.")
    if start < 0:
        raise ValueError(f"start must be >= 0; start={start!r} was provided.")
    if not 0.0 <= mix_prob <= 1.0:
        raise ValueError(f"mix_prob must be in [0, 1]; mix_prob={mix_prob!r} was provided.")
    allowed = _check_categories(categories)

    images = np.empty((n, size, size, 3), np.uint8)
    labels = np.zeros((n, len(CATEGORIES)), np.float32)
    category = np.empty(n, np.int64)
    attributes = np.full((n, len(ATTRIBUTES)), np.nan, np.float32)
    fine_class = np.empty(n, np.int64)
    captions = []
    for i in range(n):
        rng = np.random.default_rng([seed, start + i])
        main, second, indoor, warm, image, caption, fine = _draw_sample(rng, size, allowed, mix_prob)
        images[i] = image
        category[i] = CATEGORIES.index(main)
        fine_class[i] = _FINE_INDEX[fine]
        labels[i, category[i]] = 1.0
        if second is not None:
            labels[i, CATEGORIES.index(second)] = _SECOND_WEIGHT
        if indoor is not None:
            attributes[i, 0] = float(indoor)
        if warm is not None:
            attributes[i, 1] = float(warm)
        captions.append(caption)
        if progress is not None and (i + 1) % _PROGRESS_EVERY == 0:
            progress(_PROGRESS_EVERY)
    if progress is not None and n % _PROGRESS_EVERY:
        progress(n % _PROGRESS_EVERY)
    return Stimuli(images, labels, category, attributes, tuple(captions), fine_class)


def _check_categories(categories: Sequence[str] | None) -> tuple[str, ...]:
    if categories is None:
        return CATEGORIES
    if isinstance(categories, str):
        categories = [categories]
    unknown = [name for name in categories if name not in CATEGORIES]
    if unknown:
        raise ValueError(
            f"categories must be among {CATEGORIES}; {unknown!r} was provided."
        )
    if not categories:
        raise ValueError(f"categories must name at least one of {CATEGORIES}; [] was provided.")
    return tuple(dict.fromkeys(categories))


def to_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) uint8 → (N, 3, H, W) float in [0, 1]; float tensors (N, 3, H, W) pass through."""
    if isinstance(images, torch.Tensor):
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"image tensors must be (N, 3, H, W); got shape {tuple(images.shape)}.")
        return images.float() if images.dtype != torch.float32 else images
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be (N, H, W, 3) uint8; got shape {images.shape} dtype {images.dtype}.")
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0)
