"""Procedural stimulus images for the in-silico subject.

They stand in for natural-scene photographs such as those of the Natural Scenes Dataset. Each
image shows one main category out of `CATEGORIES` and sometimes a second one, drawn from simple
shapes with random pose, scale, rotation, colour, lighting and background clutter, so that a model
trained on them has to learn the category rather than one template. Two binary attributes
(`ATTRIBUTES`) give ground truth for sub-regions: whether a place is indoors, and whether food is
warm-coloured.

Every image comes from its own random generator, seeded by ``(seed, index)``, so any slice of a
stimulus set can be regenerated on its own.

Example
-------
>>> stim = generate(12, seed=0, size=64)
>>> stim.images.shape, stim.labels.shape, stim.attributes.shape
((12, 64, 64, 3), (12, 6), (12, 2))
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from functools import lru_cache
from math import atan2, cos, degrees, pi, radians, sin, sqrt
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

__all__ = ["ATTRIBUTES", "CATEGORIES", "Stimuli", "generate", "to_tensor"]

CATEGORIES = ("face", "body", "place", "food", "word", "object")
ATTRIBUTES = ("indoor", "warm")

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
    """

    images: np.ndarray
    labels: np.ndarray
    category: np.ndarray
    attributes: np.ndarray
    captions: tuple[str, ...]

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
        captions (n,).

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
    captions = []
    for i in range(n):
        rng = np.random.default_rng([seed, start + i])
        main, second, indoor, warm, image, caption = _draw_sample(rng, size, allowed, mix_prob)
        images[i] = image
        category[i] = CATEGORIES.index(main)
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
    return Stimuli(images, labels, category, attributes, tuple(captions))


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


# ---------------------------------------------------------------------------------------------
# One sample: which categories, then drawing at twice the size and finishing.

# Natural companions of each main category, with their weights.
_PARTNERS = {
    "face": (("body", "word", "object", "place", "food"), (0.35, 0.2, 0.2, 0.15, 0.1)),
    "body": (("face", "object", "place", "word", "food"), (0.35, 0.25, 0.25, 0.1, 0.05)),
    "place": (("word", "body", "object", "food", "face"), (0.3, 0.25, 0.2, 0.15, 0.1)),
    "food": (("place", "object", "word", "face", "body"), (0.35, 0.3, 0.2, 0.1, 0.05)),
    "word": (("place", "object", "face", "food", "body"), (0.35, 0.3, 0.15, 0.1, 0.1)),
    "object": (("body", "place", "word", "food", "face"), (0.35, 0.25, 0.2, 0.15, 0.05)),
}


def _draw_sample(rng, size, allowed, mix_prob):
    """One image: (main, second, indoor, warm, pixels (size, size, 3) uint8, caption)."""
    main = _pick(rng, allowed)
    second = None
    if rng.random() < mix_prob:
        second = _pick_weighted(rng, *_PARTNERS[main])
    warm = rng.random() < 0.5 if "food" in (main, second) else None
    indoor = None
    if "place" in (main, second):
        # Food meets a place on a table, and tables stand indoors.
        indoor = "food" in (main, second) or rng.random() < 0.5

    # Drawing at twice the size and shrinking with LANCZOS anti-aliases every edge for free.
    side = 2 * size
    image = Image.new("RGB", (side, side))
    root = _Pen(image, ImageDraw.Draw(image), (float(side), 0.0, 0.0, 0.0, float(side), 0.0))
    if indoor is None:
        caption = _compose(root, rng, main, second, warm)
    else:  # a place is in the image
        caption = _compose_in_place(root, rng, main, second, indoor, warm)
    return main, second, indoor, warm, _finish(image, rng, size), caption


def _finish(image, rng, size):
    """Shrink to (size, size, 3) uint8 under a random lighting gradient, colour cast and grain."""
    pixels = np.asarray(image.resize((size, size), Image.LANCZOS), dtype=np.float32)
    ramp_x, ramp_y = _ramps(size)
    angle = _u(rng, 0.0, 2 * pi)
    light = _u(rng, 0.8, 1.1) + _u(rng, 0.0, 0.35) * (cos(angle) * ramp_x + sin(angle) * ramp_y)
    cast = np.array([_u(rng, 0.92, 1.08) for _ in range(3)], np.float32)
    pixels *= light[:, :, None] * cast
    grain = _u(rng, 0.0, 6.0)
    if grain > 1.0:
        pixels += rng.standard_normal(pixels.shape, dtype=np.float32) * grain
    return np.clip(pixels, 0, 255).astype(np.uint8)


@lru_cache(maxsize=8)
def _ramps(size):
    """Coordinate ramps (size, size) from -1 to 1 along x and along y."""
    ramp = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    return np.broadcast_to(ramp[None, :], (size, size)), np.broadcast_to(ramp[:, None], (size, size))


def _compose(root, rng, main, second, warm):
    """Paint an image without a place on the unit-square pen `root`; returns the caption."""
    if "food" in (main, second):
        _paint_table_top(root, rng)
    else:
        _paint_backdrop(root, rng)
    if second is None:
        half = _u(rng, 0.2, 0.475)
        tilt = _TILT[main]
        pen = root.sub(_centre(rng, half), _centre(rng, half), half, _u(rng, -tilt, tilt))
        return _paint_alone(main, pen, rng, warm)
    if {main, second} == {"face", "body"}:
        return _paint_person_with_face(root, rng, face_main=main == "face")
    main_pen, second_pen = _side_by_side(root, rng, main, second)
    first = _paint_item(main, main_pen, rng, warm)
    other = _paint_item(second, second_pen, rng, warm)
    return f"{first} {_pick(rng, ('next to', 'beside', 'and', 'with'))} {other}"


# Largest tilt in degrees of a category drawn alone; food turns freely inside its own flattened frame.
_TILT = {"face": 20.0, "body": 8.0, "food": 0.0, "word": 25.0, "object": 30.0}


def _centre(rng, half):
    """A centre coordinate that keeps most of a thing of half-width `half` inside the frame."""
    return 0.5 + _u(rng, -1.0, 1.0) * max(0.0, 0.5 - 0.85 * half)


def _side_by_side(root, rng, main, second):
    """Pens for the main thing and a smaller second thing beside it."""
    split = _u(rng, 0.55, 0.68)
    main_left = rng.random() < 0.5
    main_x = split / 2 if main_left else 1 - split / 2
    second_x = split + (1 - split) / 2 if main_left else (1 - split) / 2
    main_half = split / 2 * _u(rng, 0.85, 1.0)
    second_half = (1 - split) / 2 * _u(rng, 0.8, 1.0)
    main_pen = root.sub(main_x, 0.5 + _u(rng, -0.12, 0.12), main_half, _u(rng, -8, 8))
    second_pen = root.sub(second_x, _u(rng, 0.3, 0.72), second_half, _u(rng, -12, 12))
    return main_pen, second_pen


def _paint_alone(category, pen, rng, warm):
    """Paint `category` as the only thing in the image; returns its caption phrase."""
    if category == "face":
        return _paint_faces(pen, rng)
    if category == "body":
        return _paint_people(pen, rng)
    if category == "food":
        return _paint_meal(pen, rng, warm)
    if category == "word":
        return _paint_word(pen, rng, _pick(rng, ("none", "none", "sign", "paper", "board", "label")))
    return _paint_objects(pen, rng)


def _paint_item(category, pen, rng, warm):
    """Paint one category as part of a pair; returns its caption phrase."""
    if category == "face":
        return _paint_faces(pen, rng, count=1)
    if category == "body":
        return _paint_people(pen, rng)
    if category == "food":
        return _paint_dish(_flat_pen(pen, rng), rng, warm)
    if category == "word":
        return _paint_word(pen, rng, _pick(rng, ("sign", "paper", "label", "board")))
    return _paint_objects(pen, rng, count=1)


def _compose_in_place(root, rng, main, second, indoor, warm):
    """Paint a scene that holds a place as main or second category; returns the caption."""
    # A mirrored scene is as natural as the original and doubles the variety of layouts.
    scene = root.sub(1.0, 0.0, 1.0, flip=True) if rng.random() < 0.5 else root
    backdrop = (_paint_indoor if indoor else _paint_outdoor)(scene, rng)
    if main == "place":
        if second is None:
            return backdrop.phrase
        phrase = _insert_small(scene, rng, backdrop, second, warm)
        return f"{backdrop.phrase}{_pick(rng, (' and', ', with', ' with'))} {phrase}"
    phrase = _insert_large(scene, rng, backdrop, main, warm)
    if main == "food":
        return f"{_on_table(phrase)} in {backdrop.short}"
    return f"{phrase} {_pick(rng, ('in', 'in front of'))} {backdrop.short}"


# ---------------------------------------------------------------------------------------------
# Drawing primitives.

_CIRCLE = tuple((cos(2 * pi * k / 32), sin(2 * pi * k / 32)) for k in range(32))


class _Pen:
    """Draws shapes given in a local frame that an affine map ``m`` takes to pixels.

    Painters draw what they paint inside [-1, 1] x [-1, 1] (y down); `sub` nests a frame that is
    moved, scaled, rotated and mirrored, so a painter never needs to know where its thing lies.
    The root pen of an image maps the unit square [0, 1] x [0, 1] onto it; backgrounds and places
    are painted in that frame.
    """

    __slots__ = ("image", "draw", "m")

    def __init__(self, image, draw, m):
        self.image = image
        self.draw = draw
        self.m = m  # (a, b, c, d, e, f): pixel x = a*x + b*y + c, pixel y = d*x + e*y + f

    def sub(self, x, y, scale, angle=0.0, flip=False, squash=1.0):
        """Frame centred at (x, y) of this one, `scale` times as large, turned by `angle` degrees
        (clockwise on screen), mirrored left-right if `flip`, and flattened along y by `squash`."""
        c, s = cos(radians(angle)) * scale, sin(radians(angle)) * scale
        fx = -1.0 if flip else 1.0
        p, q, u, v = c * fx, -s * squash, s * fx, c * squash
        a, b, cc, d, e, f = self.m
        return _Pen(
            self.image,
            self.draw,
            (a * p + b * u, a * q + b * v, a * x + b * y + cc, d * p + e * u, d * q + e * v, d * x + e * y + f),
        )

    @property
    def scale(self):
        """Pixels per local unit."""
        a, b, _, d, e, _ = self.m
        return sqrt(abs(a * e - b * d))

    @property
    def angle(self):
        """Clockwise screen rotation of the local y axis, in radians."""
        return atan2(-self.m[1], self.m[4])

    def xy(self, points):
        a, b, c, d, e, f = self.m
        return [(a * x + b * y + c, d * x + e * y + f) for x, y in points]

    def width(self, w):
        return max(1, round(w * self.scale))

    def poly(self, points, fill, outline=None, width=0.02):
        self.draw.polygon(self.xy(points), fill=fill, outline=outline, width=self.width(width) if outline else 1)

    def rect(self, x0, y0, x1, y1, fill, outline=None, width=0.02):
        self.poly(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), fill, outline, width)

    def ellipse(self, x, y, rx, ry, fill, outline=None, width=0.02):
        self.poly([(x + rx * c, y + ry * s) for c, s in _CIRCLE], fill, outline, width)

    def ring(self, x, y, rx, ry, colour, width):
        self.line([(x + rx * c, y + ry * s) for c, s in _CIRCLE + _CIRCLE[:1]], colour, width)

    def arc(self, x, y, rx, ry, start, end, colour, width, steps=10):
        """Elliptic arc from angle `start` to `end` (radians, clockwise on screen)."""
        angles = [start + (end - start) * k / steps for k in range(steps + 1)]
        self.line([(x + rx * cos(t), y + ry * sin(t)) for t in angles], colour, width)

    def line(self, points, colour, width):
        self.draw.line(self.xy(points), fill=colour, width=self.width(width), joint="curve")

    def limb(self, points, colour, width):
        """A thick line with round ends, for arms, legs and handles."""
        self.line(points, colour, width)
        for x, y in (points[0], points[-1]):
            self.ellipse(x, y, width / 2, width / 2, colour)

    def text(self, lines, colour, box_w, box_h):
        """Centred lines of text fitting a box_w x box_h box around the origin, upright in the frame."""
        reference = _font(48)
        widest = max(reference.getlength(line) for line in lines)
        points = 48 * min(box_w * self.scale / widest, box_h * self.scale / (1.2 * 48 * len(lines)))
        font = _font(max(6, int(points)))
        step = int(font.size * 1.2)
        width = int(max(font.getlength(line) for line in lines)) + 4
        mask = Image.new("L", (width, step * len(lines) + 4))
        writer = ImageDraw.Draw(mask)
        for k, line in enumerate(lines):
            writer.text((width / 2, 2 + k * step), line, fill=255, font=font, anchor="ma")
        mask = mask.rotate(-degrees(self.angle), resample=Image.BILINEAR, expand=True)
        x, y = self.xy([(0.0, 0.0)])[0]
        self.image.paste(colour, (round(x - mask.width / 2), round(y - mask.height / 2)), mask)


@lru_cache(maxsize=None)
def _font(points):
    # Pillow >= 10.1 ships a scalable default font, so no font file is read from the system.
    return ImageFont.load_default(size=points)


def _u(rng, lo, hi):
    return lo + (hi - lo) * rng.random()


def _pick(rng, options):
    return options[int(rng.random() * len(options))]


def _pick_weighted(rng, options, weights):
    r = rng.random() * sum(weights)
    for option, weight in zip(options, weights):
        r -= weight
        if r < 0:
            return option
    return options[-1]


def _count(rng, p_two, p_three):
    r = rng.random()
    return 3 if r < p_three else 2 if r < p_three + p_two else 1


def _clip(v):
    return 0 if v < 0 else 255 if v > 255 else int(v)


def _shade(colour, factor):
    return tuple(_clip(c * factor) for c in colour)


def _mix(colour, other, t):
    return tuple(_clip(c + (o - c) * t) for c, o in zip(colour, other))


def _jitter(rng, colour, amount):
    return tuple(_clip(c + amount * (2 * rng.random() - 1)) for c in colour)


def _luma(colour):
    return 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]


def _hsv(h, s, v):
    return tuple(_clip(255 * c) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def _muted(rng):
    return _hsv(rng.random(), _u(rng, 0.0, 0.45), _u(rng, 0.3, 0.95))


def _a(word):
    return "an" if word[0] in "aeiou" else "a"


_WHITE = (255, 255, 255)
_NUMBERS = {2: "two", 3: "three"}

_COLOURS = {
    "red": (200, 40, 40),
    "orange": (240, 135, 30),
    "yellow": (240, 205, 45),
    "green": (60, 150, 60),
    "blue": (45, 90, 200),
    "purple": (125, 60, 165),
    "pink": (235, 135, 175),
    "white": (238, 238, 232),
    "black": (32, 32, 34),
    "grey": (128, 128, 128),
    "brown": (120, 75, 40),
    "teal": (30, 140, 145),
}


def _named_colour(rng, names=tuple(_COLOURS)):
    name = _pick(rng, names)
    return name, _jitter(rng, _COLOURS[name], 18)


def _contrasting_colour(rng, background):
    """A named colour whose brightness differs clearly from `background`."""
    options = tuple(name for name, c in _COLOURS.items() if abs(_luma(c) - _luma(background)) > 85)
    return _named_colour(rng, options)


def _bands(pen, y0, y1, top, bottom, x0=-0.1, x1=1.1, steps=10):
    """A vertical colour gradient from `top` at y0 to `bottom` at y1, as horizontal bands."""
    for k in range(steps):
        ya = y0 + (y1 - y0) * k / steps
        yb = y0 + (y1 - y0) * (k + 1) / steps + 0.005
        pen.rect(x0, ya, x1, yb, _mix(top, bottom, (k + 0.5) / steps))


# ---------------------------------------------------------------------------------------------
# Backgrounds for images without a place.


def _paint_backdrop(root, rng):
    """Fill the unit square with a muted background: gradient, blotches, a wall over a surface,
    or a pattern, then scatter low-contrast clutter over it."""
    base = _muted(rng)
    style = rng.random()
    side = root.image.width
    if style < 0.3:
        corners = np.array([_jitter(rng, base, 60) for _ in range(4)], np.uint8).reshape(2, 2, 3)
        root.image.paste(Image.fromarray(corners).resize((side, side), Image.BILINEAR))
    elif style < 0.55:
        k = int(_u(rng, 3, 9))
        noise = np.asarray(base, np.float32) + rng.uniform(-40, 40, (k, k, 3)).astype(np.float32)
        blotches = Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8))
        root.image.paste(blotches.resize((side, side), Image.BILINEAR))
    elif style < 0.8:
        horizon = _u(rng, 0.5, 0.85)
        root.rect(-0.1, -0.1, 1.1, horizon, base)
        root.rect(-0.1, horizon, 1.1, 1.1, _jitter(rng, _shade(base, _u(rng, 0.6, 1.3)), 30))
    else:
        root.rect(-0.1, -0.1, 1.1, 1.1, base)
        stripe = _jitter(rng, base, 30)
        step = _u(rng, 0.06, 0.2)
        pattern = root.sub(0.5, 0.5, 1.0, _pick(rng, (0.0, 90.0, 45.0, -45.0)))
        for k in range(int(1.5 / step) + 1):
            x = -0.75 + k * step
            pattern.rect(x, -0.75, x + step / 2, 0.75, stripe)
    _clutter(root, rng, base, int(_u(rng, 3, 14)))


def _clutter(root, rng, base, count):
    """Random low-contrast shapes, so that no background is a clean template."""
    for _ in range(count):
        colour = _jitter(rng, base, 45)
        x, y, r = rng.random(), rng.random(), _u(rng, 0.03, 0.3)
        kind = rng.random()
        if kind < 0.35:
            root.ellipse(x, y, r, r * _u(rng, 0.4, 1.0), colour)
        elif kind < 0.65:
            root.sub(x, y, r, _u(rng, 0, 90)).rect(-1, -0.6, 1, 0.6, colour)
        elif kind < 0.85:
            root.poly([(x + _u(rng, -r, r), y + _u(rng, -r, r)) for _ in range(3)], colour)
        else:
            root.line([(x, y), (x + _u(rng, -r, r) * 2, y + _u(rng, -r, r) * 2)], colour, _u(rng, 0.005, 0.03))


def _paint_table_top(root, rng):
    """A table top seen from above: wood planks, a checked cloth, marble, or a plain surface."""
    kind = rng.random()
    if kind < 0.35:
        wood = _jitter(rng, _pick(rng, ((150, 100, 60), (190, 150, 100), (100, 65, 40), (210, 190, 160))), 20)
        root.rect(-0.1, -0.1, 1.1, 1.1, wood)
        planks = int(_u(rng, 3, 7))
        boards = root.sub(0.5, 0.5, 0.75, _pick(rng, (0.0, 90.0)) + _u(rng, -6, 6))
        for k in range(planks + 1):
            y = -1 + 2 * k / planks
            boards.line([(-1.5, y), (1.5, y)], _shade(wood, 0.7), 0.012)
        for _ in range(int(_u(rng, 4, 12))):
            y = _u(rng, -1.2, 1.2)
            boards.line([(_u(rng, -1.5, 0), y), (_u(rng, 0, 1.5), y + _u(rng, -0.03, 0.03))], _shade(wood, 0.88), 0.006)
    elif kind < 0.6:
        light = _jitter(rng, (235, 232, 225), 10)
        dark = _mix(light, _named_colour(rng, ("red", "blue", "green", "grey", "yellow", "teal"))[1], 0.6)
        root.rect(-0.1, -0.1, 1.1, 1.1, light)
        cloth = root.sub(0.5, 0.5, 0.75, _u(rng, -20, 20))
        step = _u(rng, 0.12, 0.35)
        cells = int(2 / step) + 2
        for i in range(cells):
            for j in range(cells):
                if (i + j) % 2 == 0:
                    cloth.rect(-1.4 + i * step, -1.4 + j * step, -1.4 + (i + 1) * step, -1.4 + (j + 1) * step, dark)
    elif kind < 0.8:
        stone = _jitter(rng, _pick(rng, ((225, 225, 222), (60, 62, 66), (200, 195, 185))), 12)
        root.rect(-0.1, -0.1, 1.1, 1.1, stone)
        for _ in range(int(_u(rng, 2, 6))):
            points = [(rng.random(), rng.random())]
            for _ in range(4):
                x, y = points[-1]
                points.append((x + _u(rng, -0.2, 0.2), y + _u(rng, -0.2, 0.2)))
            root.line(points, _shade(stone, _u(rng, 0.75, 0.9)), 0.006)
    else:
        _paint_backdrop(root, rng)
        return
    _clutter(root, rng, root.image.getpixel((0, 0)), int(_u(rng, 0, 5)))


# ---------------------------------------------------------------------------------------------
# Faces.

_SKINS = (
    (255, 224, 196), (241, 194, 167), (224, 172, 135), (232, 190, 150),
    (198, 134, 94), (161, 102, 68), (120, 75, 48), (87, 55, 36),
)
_HAIRS = (
    ("black", (25, 22, 22)), ("dark", (55, 38, 28)), ("brown", (105, 68, 40)),
    ("blonde", (222, 190, 120)), ("red", (165, 70, 30)), ("grey", (150, 150, 150)), ("white", (232, 230, 225)),
)
_IRISES = ((60, 40, 25), (70, 110, 160), (80, 120, 70), (40, 30, 25), (110, 80, 40))
_EXPRESSIONS = {"smile": ("smiling", "happy"), "neutral": ("calm", "neutral", "serious"),
                "open": ("surprised",), "frown": ("frowning", "sad")}


def _paint_faces(pen, rng, count=None):
    """One to three faces filling the frame; returns the caption phrase."""
    if count is None:
        count = _count(rng, 0.18, 0.08)
    if count == 1:
        return _face_phrase(rng, _face(pen, rng))
    looks = []
    for k in range(count):
        x = -1 + (2 * k + 1) / count + _u(rng, -0.08, 0.08)
        sub = pen.sub(x, _u(rng, -0.25, 0.25), _u(rng, 0.9, 1.15) * 1.2 / count, _u(rng, -12, 12))
        looks.append(_face(sub, rng))
    number = _NUMBERS[count]
    expression = looks[0][0]
    return _pick(rng, (
        f"{number} faces side by side",
        f"a group of {number} faces",
        f"{number} faces, one of them {expression}",
        f"{number} people's faces close together",
    ))


def _face_phrase(rng, look):
    expression, hair, extra = look
    phrase = _pick(rng, (
        f"{_a(expression)} {expression} face with {hair}",
        f"a close-up of {_a(expression)} {expression} face",
        f"a portrait of {_a(expression)} {expression} face",
        f"the face of a person with {hair}",
        f"a person's face with {hair}",
    ))
    return f"{phrase} {extra}" if extra else phrase


def _face(pen, rng, skin=None, shoulders=True):
    """A head with hair and features in the unit frame, frontal or turned, over a neck and, with
    `shoulders`, the top of a shirt; returns the caption pieces (expression adjective, hair phrase,
    extra phrase or "")."""
    skin = skin or _jitter(rng, _pick(rng, _SKINS), 12)
    dark = _shade(skin, 0.75)
    hair_name, hair = _pick(rng, _HAIRS)
    hair = _jitter(rng, hair, 14)
    style = _pick(rng, ("short", "short", "long", "long", "bald", "curly", "bun"))
    rx, ry = _u(rng, 0.46, 0.58), _u(rng, 0.6, 0.72)
    hy = _u(rng, -0.08, 0.02)
    # Turning the head shifts the features sideways and narrows the far eye.
    turn = _u(rng, -0.5, 0.5) if rng.random() < 0.6 else 0.0

    if style == "long":
        pen.ellipse(0, hy - 0.05, rx * 1.25, ry * 1.12, hair)
        pen.rect(-rx * 1.25, hy, rx * 1.25, hy + ry * _u(rng, 1.1, 1.5), hair)
    if shoulders:
        pen.rect(-rx * 0.4, hy + ry * 0.5, rx * 0.4, 1.2, dark)
        if rng.random() < 0.6:
            pen.ellipse(0, hy + ry * 1.85, rx * 2.0, ry * 0.7, _shade(_named_colour(rng)[1], 0.85))
    for side in (-1, 1):
        if side * turn < 0.15:
            pen.ellipse(side * rx * 0.97 - turn * rx * 0.35, hy + 0.04, rx * 0.16, ry * 0.2, skin, dark, 0.015)
    pen.ellipse(0, hy, rx, ry, skin)
    fx = turn * rx * 0.55

    if style == "bald":
        hair_phrase = "a bald head"
    else:
        _hair_cap(pen, rng, rx, ry, hy, hair, style)
        hair_phrase = {"long": f"long {hair_name} hair", "curly": f"curly {hair_name} hair",
                       "bun": f"{hair_name} hair in a bun"}.get(style, f"short {hair_name} hair")

    ey = hy - ry * _u(rng, 0.0, 0.14)
    sep, ew = rx * _u(rng, 0.36, 0.46), rx * _u(rng, 0.17, 0.22)
    eh = ew * _u(rng, 0.5, 0.7)
    iris = _jitter(rng, _pick(rng, _IRISES), 10)
    gaze = _u(rng, -0.3, 0.3) + turn * 0.4
    closed = rng.random() < 0.08
    brow_lift, brow_tilt = _u(rng, 1.6, 2.6), _u(rng, -0.03, 0.05)
    eyes = []
    for side in (-1, 1):
        near_edge = max(0.0, side * turn)
        x = fx + side * sep * (1 - 0.6 * near_edge)
        w = ew * (1 - 0.9 * near_edge)
        eyes.append((x, w))
        if closed:
            pen.arc(x, ey, w, eh * 0.6, 0.2, pi - 0.2, _shade(skin, 0.5), 0.025)
        else:
            pen.ellipse(x, ey, w, eh, (245, 245, 240), _shade(skin, 0.55), 0.015)
            pen.ellipse(x + gaze * w * 0.5, ey, eh * 0.85, eh * 0.85, iris)
            pen.ellipse(x + gaze * w * 0.5, ey, eh * 0.42, eh * 0.42, (15, 12, 12))
        by = ey - eh * brow_lift
        pen.line([(x - w * 1.1 * side, by + brow_tilt), (x + w * 1.1 * side, by - brow_tilt)],
                 _shade(hair, 0.7), ry * 0.05)

    nose_x = fx + turn * rx * 0.25
    nose_y = hy + ry * _u(rng, 0.2, 0.32)
    pen.line([(nose_x - turn * 0.05, ey + eh), (nose_x + turn * 0.08, nose_y), (nose_x - rx * 0.1, nose_y + 0.02)],
             _shade(skin, 0.62), 0.025)

    beard = style != "long" and rng.random() < 0.15
    if beard:
        chin = [(rx * 0.98 * c, hy + ry * 0.98 * s) for c, s in _CIRCLE[1:16]]
        pen.poly([(rx * 0.95, hy + ry * 0.25)] + chin + [(-rx * 0.95, hy + ry * 0.25), (0, hy + ry * 0.4)], hair)

    mood = _pick(rng, ("smile", "smile", "neutral", "open", "frown"))
    my = hy + ry * _u(rng, 0.46, 0.58)
    mw = rx * _u(rng, 0.26, 0.4) * (1 - 0.3 * abs(turn))
    lips = _mix(skin, (170, 40, 50), _u(rng, 0.35, 0.6))
    if mood == "open":
        pen.ellipse(fx, my, mw * 0.6, mw * 0.5, (90, 20, 25), lips, 0.02)
        pen.rect(fx - mw * 0.4, my - mw * 0.45, fx + mw * 0.4, my - mw * 0.25, (240, 240, 235))
    else:
        bend = {"smile": 0.4, "neutral": 0.05, "frown": -0.3}[mood] * mw
        pen.line([(fx + mw * t, my + bend * (1 - t * t)) for t in (-1, -0.5, 0, 0.5, 1)], lips, 0.04)

    extra = "with a beard" if beard else ""
    if rng.random() < 0.2:
        frame = _pick(rng, ((20, 20, 20), (90, 55, 30), (170, 30, 40), (30, 50, 140)))
        for x, w in eyes:
            pen.ring(x, ey, w * 1.4, eh * 2.2, frame, 0.025)
        (xl, wl), (xr, wr) = eyes
        pen.line([(xl + wl * 1.4, ey), (xr - wr * 1.4, ey)], frame, 0.025)
        extra = "wearing glasses"
    return _pick(rng, _EXPRESSIONS[mood]), hair_phrase, extra


def _hair_cap(pen, rng, rx, ry, hy, hair, style):
    """Hair on top of the head, down to a fringe line across the forehead."""
    hairline = hy - ry * _u(rng, 0.3, 0.55)
    side = _u(rng, 0.0, 0.25)
    top = [(rx * 1.07 * cos(t), hy + ry * 1.08 * sin(t))
           for t in (pi * (1 - side * 0.3) + (pi + side * 0.6) * k / 14 for k in range(15))]
    fringe = [(rx * 0.9 * (1 - 2 * k / 6), hairline + _u(rng, -0.05, 0.05)) for k in range(7)]
    pen.poly(top + fringe, hair)
    if style == "curly":
        for k in range(12):
            t = pi * (0.9 + 1.2 * k / 11)
            pen.ellipse(rx * 1.08 * cos(t), hy + ry * 1.05 * sin(t), rx * 0.2, rx * 0.2, hair)
    elif style == "bun":
        pen.ellipse(0, hy - ry * 1.12, rx * 0.35, rx * 0.3, hair)


# ---------------------------------------------------------------------------------------------
# Bodies.

_POSES = {
    "standing": "standing", "walking": "walking", "running": "running", "raised": "with arms raised",
    "waving": "waving", "sitting": "sitting", "jumping": "jumping", "hips": "with hands on hips",
}
# Which poses are seen from the side; the others face the viewer.
_PROFILE_POSES = ("walking", "running", "sitting")
_TROUSERS = ((40, 60, 110), (30, 30, 35), (110, 110, 115), (100, 70, 45), (200, 185, 150))


def _pose_angles(rng, pose):
    """Limb angles in degrees from straight down, positive toward +x, as (shoulder, elbow bend)
    for the back and front arm, then (hip, knee bend) for the back and front leg."""
    standing_legs = (-_u(rng, 2, 7), 0.0, _u(rng, 2, 7), 0.0)
    if pose == "standing":
        return (-_u(rng, 4, 18), -_u(rng, 0, 15), _u(rng, 4, 18), _u(rng, 0, 15)) + standing_legs
    if pose == "walking":
        swing = _u(rng, 15, 30)
        return (-_u(rng, 15, 35), _u(rng, 10, 40), _u(rng, 15, 35), _u(rng, 10, 40),
                -swing, -_u(rng, 10, 35), swing, -_u(rng, 0, 10))
    if pose == "running":
        swing = _u(rng, 30, 50)
        return (-_u(rng, 30, 50), _u(rng, 70, 100), _u(rng, 30, 60), _u(rng, 70, 100),
                -swing, -_u(rng, 50, 90), swing, -_u(rng, 20, 50))
    if pose == "raised":
        return (-_u(rng, 140, 175), _u(rng, -20, 20), _u(rng, 140, 175), _u(rng, -20, 20)) + standing_legs
    if pose == "waving":
        return (-_u(rng, 5, 15), 0.0, _u(rng, 100, 135), _u(rng, 20, 60)) + standing_legs
    if pose == "sitting":
        return (_u(rng, 10, 30), _u(rng, 30, 70), _u(rng, 10, 30), _u(rng, 30, 70),
                _u(rng, 80, 95), -_u(rng, 75, 95), _u(rng, 80, 95), -_u(rng, 75, 95))
    if pose == "jumping":
        return (-_u(rng, 110, 150), -_u(rng, 0, 30), _u(rng, 110, 150), _u(rng, 0, 30),
                -_u(rng, 18, 35), _u(rng, 0, 20), _u(rng, 18, 35), -_u(rng, 0, 20))
    return (-_u(rng, 30, 50), _u(rng, 80, 110), _u(rng, 30, 50), -_u(rng, 80, 110)) + standing_legs


def _joint(x, y, angle, length):
    t = radians(angle)
    return x + sin(t) * length, y + cos(t) * length


def _figure(pen, rng, pose, face=False):
    """A human figure from head top (y=-1) to feet (y=1); returns (top colour name, garment) and,
    with `face`, the face's caption pieces."""
    skin = _jitter(rng, _pick(rng, _SKINS), 12)
    top_name, top = _named_colour(rng)
    garment = _pick(rng, ("shirt", "shirt", "jacket", "dress", "top"))
    legs = top if garment == "dress" else _jitter(rng, _pick(rng, _TROUSERS), 15)
    shoes = _jitter(rng, (35, 30, 30), 20)
    profile = pose in _PROFILE_POSES
    angles = _pose_angles(rng, pose)
    shoulder_y, hip_y = -0.68, -0.02
    shoulder_w, hip_w = (0.05, 0.03) if profile else (0.2, 0.11)
    head_r = 0.18 if face else 0.11
    long_sleeves = rng.random() < 0.5

    def arm(side, shoulder, bend, shade):
        sx = side * shoulder_w
        elbow = _joint(sx, shoulder_y, shoulder, 0.3)
        wrist = _joint(*elbow, shoulder + bend, 0.28)
        pen.limb([(sx, shoulder_y), elbow], _shade(top, shade), 0.09)
        pen.limb([elbow, wrist], _shade(top if long_sleeves else skin, shade), 0.075)
        pen.ellipse(*wrist, 0.045, 0.045, _shade(skin, shade))

    def leg(side, hip, bend, shade):
        hx = side * hip_w
        knee = _joint(hx, hip_y, hip, 0.46)
        ankle = _joint(*knee, hip + bend, 0.45)
        pen.limb([(hx, hip_y), knee], _shade(legs if garment != "dress" else skin, shade), 0.11)
        pen.limb([knee, ankle], _shade(legs if garment != "dress" else skin, shade), 0.095)
        toe = 0.07 if profile else side * 0.04
        pen.ellipse(ankle[0] + toe, ankle[1] + 0.02, 0.08, 0.045, shoes)

    if pose == "sitting":
        seat = _jitter(rng, _pick(rng, ((120, 90, 60), (110, 110, 115), (60, 60, 70))), 15)
        pen.rect(-0.12, hip_y + 0.07, 0.42, hip_y + 0.5, seat)
    back = 0.8 if profile else 1.0
    leg(-1, angles[4], angles[5], back)
    if profile:
        arm(-1, angles[0], angles[1], back)
    leg(1, angles[6], angles[7], 1.0)
    if garment == "dress":
        pen.poly([(-hip_w - 0.06, hip_y - 0.1), (hip_w + 0.06, hip_y - 0.1), (hip_w + 0.2, hip_y + 0.42),
                  (-hip_w - 0.2, hip_y + 0.42)], top)
    pen.rect(-0.05, -0.8, 0.05, shoulder_y + 0.02, _shade(skin, 0.85))
    pen.poly([(-shoulder_w - 0.05, shoulder_y - 0.03), (shoulder_w + 0.05, shoulder_y - 0.03),
              (hip_w + 0.06, hip_y + 0.05), (-hip_w - 0.06, hip_y + 0.05)], top)
    for side in (-1, 1):
        pen.ellipse(side * shoulder_w, shoulder_y + 0.02, 0.07, 0.06, top)
    if not profile:
        arm(-1, angles[0], angles[1], 1.0)
    arm(1, angles[2], angles[3], 1.0)

    head_y = -1 + head_r
    if face:
        look = _face(pen.sub(0.0, head_y + 0.02, head_r / 0.62), rng, skin=skin, shoulders=False)
        return top_name, garment, look
    hair = _jitter(rng, _pick(rng, _HAIRS)[1], 14)
    pen.ellipse(0, head_y, head_r * 0.9, head_r, skin)
    cap = [(head_r * 0.95 * c, head_y + head_r * 1.05 * s) for c, s in _CIRCLE[15:]]
    pen.poly(cap + [(head_r * 0.95, head_y)], hair)
    if profile:
        pen.ellipse(-head_r * 0.5, head_y, head_r * 0.5, head_r * 0.8, hair)
    return top_name, garment, None


def _paint_people(pen, rng, count=None):
    """One to three people filling the frame; returns the caption phrase."""
    if count is None:
        count = _count(rng, 0.25, 0.1)
    pose = _pick(rng, tuple(_POSES))
    same = rng.random() < 0.5
    dressed = []
    for k in range(count):
        x = 0.0 if count == 1 else (-1 + (2 * k + 1) / count) * 0.85 + _u(rng, -0.05, 0.05)
        scale = 1.0 if count == 1 else _u(rng, 0.72, 0.92)
        sub = pen.sub(x, 1 - scale + _u(rng, -0.03, 0.03), scale, _u(rng, -4, 4), flip=rng.random() < 0.5)
        dressed.append(_figure(sub, rng, pose if same or k == 0 else _pick(rng, tuple(_POSES))))
    action = _POSES[pose]
    colour, garment, _ = dressed[0]
    if count == 1:
        return _pick(rng, (
            f"a person {action} in {_a(colour)} {colour} {garment}",
            f"the body of a person {action}",
            f"a full-length view of a person {action}",
            f"a person in {_a(colour)} {colour} {garment}, {action}",
        ))
    number = _NUMBERS[count]
    if same:
        return _pick(rng, (f"{number} people {action}", f"a group of {number} people {action}"))
    return _pick(rng, (f"{number} people side by side", f"a group of {number} people",
                       f"the bodies of {number} people"))


def _paint_person_with_face(root, rng, face_main):
    """A figure whose head shows a face: close framing when the face is main, full length when
    the body is; returns the caption."""
    if face_main:
        pen = root.sub(_u(rng, 0.4, 0.6), _u(rng, 0.85, 1.05), _u(rng, 0.75, 1.0), _u(rng, -6, 6))
        colour, garment, look = _figure(pen, rng, _pick(rng, ("standing", "waving", "raised", "hips")), face=True)
        expression = look[0]
        return (f"{_a(expression)} {expression} face and the upper body of a person in "
                f"{_a(colour)} {colour} {garment}")
    half = _u(rng, 0.35, 0.47)
    pen = root.sub(_centre(rng, half * 0.5), 0.5 + _u(rng, -0.03, 0.03), half, _u(rng, -4, 4))
    pose = _pick(rng, tuple(_POSES))
    colour, garment, look = _figure(pen, rng, pose, face=True)
    expression = look[0]
    return f"a person {_POSES[pose]} in {_a(colour)} {colour} {garment} with {_a(expression)} {expression} face"


# ---------------------------------------------------------------------------------------------
# Places. Scenes are painted on the unit square; both kinds keep the horizon at eye level, so
# that people and things put in later can be sized by perspective.


class _Room:
    """A box-shaped room in one-point perspective.

    Room coordinates: X from -1 (left wall) to 1 (right wall), Y from 0 (floor) to 1 (ceiling),
    depth z from 1 at the back wall toward 0 at the viewer; `at` maps them to the unit square,
    where the back wall spans [x0, x1] x [y0, y1] and (vx, vy) is the vanishing point.
    """

    def __init__(self, x0, x1, y0, y1, vx, vy):
        self.x0, self.x1, self.y0, self.y1, self.vx, self.vy = x0, x1, y0, y1, vx, vy

    def back_x(self, X):
        return self.x0 + (X + 1) * 0.5 * (self.x1 - self.x0)

    def back_y(self, Y):
        return self.y1 + Y * (self.y0 - self.y1)

    def at(self, X, Y, z):
        return self.vx + (self.back_x(X) - self.vx) / z, self.vy + (self.back_y(Y) - self.vy) / z

    def box(self, pen, X0, X1, Y0, Y1, z0, z1, colour):
        """A box over X0..X1, Y0..Y1 and depth z0 (near) to z1 (far), with the faces one sees."""
        at = self.at
        if self.back_x(X0) > self.vx:
            pen.poly([at(X0, Y0, z1), at(X0, Y0, z0), at(X0, Y1, z0), at(X0, Y1, z1)], _shade(colour, 0.75))
        if self.back_x(X1) < self.vx:
            pen.poly([at(X1, Y0, z1), at(X1, Y0, z0), at(X1, Y1, z0), at(X1, Y1, z1)], _shade(colour, 0.75))
        if self.back_y(Y1) > self.vy:
            pen.poly([at(X0, Y1, z1), at(X1, Y1, z1), at(X1, Y1, z0), at(X0, Y1, z0)], _shade(colour, 1.12))
        pen.poly([at(X0, Y0, z0), at(X1, Y0, z0), at(X1, Y1, z0), at(X0, Y1, z0)], colour)


@dataclass(frozen=True)
class _Backdrop:
    """What a painted place tells the things put into it (unit-square coordinates)."""

    phrase: str  # caption of the place as the main category
    short: str  # caption of the place as the second category
    eye: float  # height of the horizon, which is at eye level
    floor: float  # top of the visible ground or floor
    room: _Room | None


_SKIES = (  # name, colour at the top, colour at the horizon
    ("blue", (70, 125, 215), (175, 205, 240)),
    ("clear", (110, 160, 230), (215, 230, 245)),
    ("sunset", (70, 70, 140), (250, 160, 90)),
    ("cloudy", (140, 148, 160), (205, 205, 210)),
    ("dusk", (25, 30, 70), (130, 90, 130)),
)
_SKY_WORDS = {"blue": "under a blue sky", "clear": "on a clear day", "sunset": "at sunset",
              "cloudy": "under a cloudy sky", "dusk": "at dusk"}
_FACADES = ((150, 70, 50), (160, 160, 155), (210, 190, 160), (225, 225, 220), (85, 85, 95),
            (200, 210, 225), (230, 210, 150))
_LEAVES = ((50, 110, 50), (70, 130, 60), (40, 90, 50), (100, 140, 60))
_GRASS = ((90, 140, 60), (120, 160, 70), (150, 150, 80), (70, 120, 60))


def _paint_outdoor(pen, rng):
    horizon = _u(rng, 0.32, 0.66)
    sky, zenith, low = _pick(rng, _SKIES)
    low = _jitter(rng, low, 15)
    _bands(pen, -0.1, horizon + 0.01, _jitter(rng, zenith, 15), low)
    if sky in ("blue", "clear", "sunset") and rng.random() < 0.45:
        r = _u(rng, 0.04, 0.08)
        pen.ellipse(_u(rng, 0.1, 0.9), _u(rng, 0.08, horizon - 0.1), r, r, _mix(low, (255, 245, 190), 0.8))
    if sky != "dusk":
        cloud = _mix(low, _WHITE, _u(rng, 0.3, 0.8))
        for _ in range(int(_u(rng, 0, 4))):
            x, y, r = _u(rng, -0.1, 1.1), _u(rng, 0.03, horizon * 0.7), _u(rng, 0.04, 0.12)
            for _ in range(4):
                pen.ellipse(x + _u(rng, -1.5, 1.5) * r, y + _u(rng, -0.3, 0.3) * r, r, r * 0.55, cloud)
    painter = _pick(rng, (_street, _city, _mountains, _lake, _park))
    phrase, short = painter(pen, rng, horizon, low, _SKY_WORDS[sky], sky == "dusk")
    return _Backdrop(phrase, short, horizon, horizon, None)


def _street(pen, rng, horizon, haze, when, night):
    vx = _u(rng, 0.3, 0.7)
    left, right = _u(rng, -0.4, 0.15), _u(rng, 0.85, 1.4)

    def ground(x, s):  # a point on the ground plane: x where it meets the frame bottom, scale s
        return vx + (x - vx) * s, horizon + (1 - horizon) * s

    pen.rect(-0.1, horizon, 1.1, 1.1, _jitter(rng, (150, 148, 140), 20))
    pen.poly([ground(left, 0), ground(right, 2), ground(left, 2)], _jitter(rng, (70, 70, 75), 15))
    middle = (left + right) / 2
    for k in range(8):
        near, far = 1 / (1 + 0.8 * k), 1 / (1.35 + 0.8 * k)
        pen.poly([ground(middle - 0.015, near), ground(middle + 0.015, near),
                  ground(middle + 0.015, far), ground(middle - 0.015, far)], (225, 215, 170))
    glass = (240, 210, 120) if night else _jitter(rng, (70, 90, 115), 20)
    for edge in (left - _u(rng, 0.05, 0.3), right + _u(rng, 0.05, 0.3)):
        blocks, s = [], 1.6
        while s > 0.06:
            far = s * _u(rng, 0.45, 0.75)
            blocks.append((s, far, _u(rng, 0.5, 2.2), _jitter(rng, _pick(rng, _FACADES), 15)))
            s = far
        for near, far, height, colour in reversed(blocks):
            def facade(a, b):  # a: 0 near to 1 far along the street, b: 0 ground to 1 roof
                s = 1 / (1 / near + (1 / far - 1 / near) * a)
                x, y = ground(edge, s)
                return x, y - b * height * (1 - horizon) * s
            pen.poly([facade(0, 0), facade(0, 1), facade(1, 1), facade(1, 0)], colour)
            if abs(facade(0, 0)[0] - facade(1, 0)[0]) < 0.04:
                continue
            rows, cols = min(5, 2 + int(height * 2)), int(_u(rng, 2, 4))
            for i in range(rows):
                for j in range(cols):
                    a0, a1 = (j + 0.25) / cols, (j + 0.7) / cols
                    b0, b1 = (i + 0.3) / rows, (i + 0.75) / rows
                    pen.poly([facade(a0, b0), facade(a0, b1), facade(a1, b1), facade(a1, b0)], glass)
    return (_pick(rng, (f"an outdoor street with buildings {when}", "a city street lined with buildings",
                        f"an empty street {when}", "an outdoor street between tall buildings")),
            _pick(rng, ("an outdoor street", "a street")))


def _city(pen, rng, horizon, haze, when, night):
    water = rng.random() < 0.5
    if water:
        _bands(pen, horizon, 1.1, _mix(haze, (40, 90, 150), 0.5), _jitter(rng, (30, 60, 110), 15), steps=6)
    else:
        _bands(pen, horizon, 1.1, _jitter(rng, (120, 125, 115), 15), _jitter(rng, (80, 90, 70), 15), steps=6)
    glass = (240, 210, 120) if night else _mix(haze, (60, 70, 90), 0.5)
    for depth, tallest in ((0.5, 0.9), (0.0, 0.6)):
        x = _u(rng, -0.12, 0.0)
        while x < 1.05:
            w, h = _u(rng, 0.05, 0.16), _u(rng, 0.08, tallest) * horizon
            colour = _mix(_jitter(rng, _pick(rng, _FACADES), 20), haze, depth)
            pen.rect(x, horizon - h, x + w, horizon + 0.01, _shade(colour, 0.85))
            for k in range(min(10, int(h / 0.05))):
                if rng.random() < 0.7:
                    y = horizon - h + 0.03 + k * 0.05
                    pen.rect(x + w * 0.15, y, x + w * 0.85, y + 0.018, _mix(glass, colour, depth))
            x += w + _u(rng, 0.0, 0.03)
    if water:
        for _ in range(int(_u(rng, 4, 12))):
            y, x = _u(rng, horizon + 0.02, 1.0), rng.random()
            pen.line([(x, y), (x + _u(rng, 0.03, 0.15), y)], _mix(haze, _WHITE, 0.3), 0.006)
    by_water = " by the water" if water else ""
    return (_pick(rng, (f"an outdoor city skyline {when}", f"tall buildings of a city skyline{by_water}",
                        f"a city skyline with tall buildings {when}")),
            _pick(rng, ("an outdoor city", "a city skyline")))


def _mountains(pen, rng, horizon, haze, when, night):
    far_colour = _mix(_jitter(rng, (110, 120, 150), 20), haze, 0.4)
    near_colour = _jitter(rng, _pick(rng, ((90, 110, 70), (110, 95, 75), (80, 90, 95))), 15)
    for colour, tallest in ((far_colour, 0.32), (near_colour, 0.18)):
        x, peaks = -0.15, [(-0.15, horizon + 0.01)]
        while x < 1.15:
            x += _u(rng, 0.08, 0.25)
            peaks.append((x, horizon - _u(rng, 0.01, tallest) * (1.0 if len(peaks) % 2 else 0.4)))
        pen.poly(peaks + [(1.3, horizon + 0.02), (-0.3, horizon + 0.02)], colour)
        if colour is far_colour and rng.random() < 0.5:
            for (xa, ya), (xp, yp), (xb, yb) in zip(peaks, peaks[1:], peaks[2:]):
                if horizon - yp > 0.6 * tallest:
                    pen.poly([(xp, yp), (xp + (xb - xp) * 0.3, yp + (yb - yp) * 0.3),
                              (xp + (xa - xp) * 0.3, yp + (ya - yp) * 0.3)], (240, 240, 245))
    grass = _jitter(rng, _pick(rng, _GRASS), 15)
    _bands(pen, horizon, 1.1, _mix(grass, haze, 0.3), _shade(grass, 0.8), steps=6)
    for base in sorted(_u(rng, horizon + 0.03, 1.1) for _ in range(int(_u(rng, 0, 8)))):
        _tree(pen, rng, rng.random(), base, (base - horizon) * _u(rng, 0.8, 1.6))
    return (_pick(rng, (f"an outdoor landscape with mountains {when}", "mountains and trees in an outdoor landscape",
                        f"a mountain landscape with a valley {when}")),
            _pick(rng, ("an outdoor landscape", "a mountain landscape")))


def _lake(pen, rng, horizon, haze, when, night):
    water = _jitter(rng, (30, 70, 120), 15)
    _bands(pen, horizon, 1.1, _mix(haze, water, 0.5), water, steps=6)
    hills = _mix(_jitter(rng, (50, 90, 60), 20), haze, 0.35)
    for _ in range(int(_u(rng, 2, 6))):
        pen.ellipse(rng.random(), horizon, _u(rng, 0.1, 0.35), _u(rng, 0.02, 0.09), hills)
    pen.rect(-0.1, horizon - 0.004, 1.1, horizon + 0.006, _shade(hills, 0.8))
    for _ in range(int(_u(rng, 5, 14))):
        y, x = _u(rng, horizon + 0.02, 1.0), rng.random()
        pen.line([(x, y), (x + (y - horizon) * _u(rng, 0.2, 0.6), y)], _mix(water, _WHITE, 0.3), 0.005)
    if rng.random() < 0.5:
        top = _u(rng, 0.75, 0.9)
        wave = _u(rng, 0.01, 0.04)
        shore = [(x / 8, top + wave * sin(x * 1.3 + top * 20)) for x in range(-1, 10)]
        pen.poly(shore + [(1.2, 1.2), (-0.2, 1.2)], _jitter(rng, (220, 200, 150), 15))
        return (_pick(rng, (f"an outdoor beach by the sea {when}", "a sandy beach and the sea")),
                _pick(rng, ("an outdoor beach", "a beach")))
    return (_pick(rng, (f"a calm lake surrounded by hills {when}", "an outdoor lake with hills on the far shore")),
            _pick(rng, ("an outdoor lake", "a lake")))


def _park(pen, rng, horizon, haze, when, night):
    grass = _jitter(rng, _pick(rng, _GRASS), 15)
    _bands(pen, horizon, 1.1, _mix(grass, haze, 0.3), _shade(grass, 0.85), steps=6)
    treeline = _mix(_jitter(rng, (40, 80, 45), 15), haze, 0.25)
    for k in range(14):
        pen.ellipse(k / 13 + _u(rng, -0.03, 0.03), horizon, _u(rng, 0.04, 0.1), _u(rng, 0.02, 0.07), treeline)
    if rng.random() < 0.7:
        start, end, bend = _u(rng, 0.2, 0.8), _u(rng, 0.3, 0.7), _u(rng, -0.15, 0.15)
        steps = [k / 8 for k in range(9)]
        edge = [(start + (end - start) * t + bend * sin(pi * t), horizon + (1.05 - horizon) * (1 - t) ** 2,
                 0.16 * (1 - t) + 0.004) for t in steps]
        pen.poly([(x - w, y) for x, y, w in edge] + [(x + w, y) for x, y, w in reversed(edge)],
                 _jitter(rng, (200, 180, 140), 15))
    for base in sorted(_u(rng, horizon + 0.03, 1.15) for _ in range(int(_u(rng, 2, 8)))):
        _tree(pen, rng, rng.random(), base, min(0.7, (base - horizon) * _u(rng, 1.0, 1.8)))
    return (_pick(rng, (f"an outdoor park with trees {when}", "a grassy park with trees",
                        f"an open field with a few trees {when}")),
            _pick(rng, ("an outdoor park", "a park")))


def _tree(pen, rng, x, base, height):
    leaves = _jitter(rng, _pick(rng, _LEAVES), 15)
    trunk = _jitter(rng, (95, 65, 40), 15)
    width = height * 0.06
    pen.rect(x - width, base - height * 0.5, x + width, base, trunk)
    if rng.random() < 0.35:
        for k in range(3):
            y = base - height * (0.3 + 0.22 * k)
            w = height * (0.3 - 0.07 * k)
            pen.poly([(x - w, y), (x + w, y), (x, y - height * 0.35)], _shade(leaves, 0.9 + 0.07 * k))
        return
    r = height * 0.27
    for k in range(3):
        pen.ellipse(x + _u(rng, -0.5, 0.5) * r, base - height * 0.7 + _u(rng, -0.3, 0.3) * r, r, r * 0.9,
                    _shade(leaves, 0.85 + 0.1 * k))


_WALLS = ((230, 220, 200), (240, 240, 235), (200, 215, 230), (205, 225, 200), (190, 190, 195), (240, 225, 170))
_FLOORS = ((150, 100, 60), (190, 150, 100), (110, 75, 50), (170, 170, 175), (120, 60, 50), (90, 110, 130))


def _paint_indoor(pen, rng):
    x0, x1 = _u(rng, 0.15, 0.38), _u(rng, 0.62, 0.85)
    y0, y1 = _u(rng, 0.1, 0.3), _u(rng, 0.58, 0.8)
    vx = _u(rng, x0 + 0.15 * (x1 - x0), x1 - 0.15 * (x1 - x0))
    room = _Room(x0, x1, y0, y1, vx, y1 + _u(rng, 0.35, 0.55) * (y0 - y1))
    at = room.at
    wall = _jitter(rng, _pick(rng, _WALLS), 15)
    floor = _jitter(rng, _pick(rng, _FLOORS), 15)
    near = 0.05
    pen.poly([at(-1, 1, 1), at(1, 1, 1), at(1, 1, near), at(-1, 1, near)], _shade(wall, 1.08))
    pen.poly([at(-1, 0, 1), at(1, 0, 1), at(1, 0, near), at(-1, 0, near)], floor)
    pen.poly([at(-1, 0, 1), at(-1, 1, 1), at(-1, 1, near), at(-1, 0, near)], _shade(wall, 0.85))
    pen.poly([at(1, 0, 1), at(1, 1, 1), at(1, 1, near), at(1, 0, near)], _shade(wall, 0.92))
    pen.rect(x0, y0, x1, y1, wall)
    seam = _shade(floor, 0.75)
    for k in range(int(_u(rng, 5, 12))):
        X = -1 + 2 * (k + 0.5) / 10
        pen.line([at(X, 0, 1), at(X, 0, near)], seam, 0.004)
    if rng.random() < 0.4:
        for k in range(1, 8):
            z = 1 / (1 + 0.45 * k)
            pen.line([at(-1, 0, z), at(1, 0, z)], seam, 0.004)
    edge = _shade(wall, 0.7)
    pen.rect(x0, y0, x1, y1, None, edge, 0.005)
    for X, Y in ((-1, 0), (1, 0), (-1, 1), (1, 1)):
        pen.line([at(X, Y, 1), at(X, Y, near)], edge, 0.005)

    kind = _pick(rng, ("living room", "bedroom", "kitchen", "room", "room"))
    features = []
    if rng.random() < 0.7:
        _window(pen, rng, room)
        features.append("a window")
    if rng.random() < 0.5:
        side = _pick(rng, (-1, 1))
        z0 = _u(rng, 0.45, 0.8)
        z1 = z0 * _u(rng, 0.7, 0.8)
        door = _jitter(rng, _pick(rng, ((120, 80, 50), (230, 230, 225), (90, 110, 140))), 15)
        pen.poly([at(side, 0, z0), at(side, 0.72, z0), at(side, 0.72, z1), at(side, 0, z1)], door,
                 _shade(door, 0.6), 0.006)
        features.append("a door")
    if kind == "room" and rng.random() < 0.5:
        colour = _jitter(rng, (140, 100, 65), 20)
        left = _u(rng, -0.9, 0.2)
        room.box(pen, left, left + 0.7, 0.0, 0.7, 0.97, 1.0, colour)
        for k in range(1, 4):
            y = k * 0.7 / 4
            for j in range(6):
                X = left + 0.05 + j * 0.1
                pen.poly([at(X, y, 0.97), at(X + 0.07, y, 0.97), at(X + 0.07, y + 0.12, 0.97), at(X, y + 0.12, 0.97)],
                         _named_colour(rng)[1])
        features.append("a shelf")
    if kind == "bedroom":
        centre = _u(rng, -0.5, 0.5)
        pen.poly([at(centre - 0.5, 0, 1), at(centre + 0.5, 0, 1), at(centre + 0.5, 0.4, 1), at(centre - 0.5, 0.4, 1)],
                 _jitter(rng, (110, 75, 50), 20))
        room.box(pen, centre - 0.45, centre + 0.45, 0.0, 0.2, _u(rng, 0.5, 0.62), 1.0, _named_colour(rng)[1])
        room.box(pen, centre - 0.35, centre + 0.35, 0.2, 0.27, 0.9, 0.98, (240, 240, 235))
    elif kind == "living room":
        sofa = _named_colour(rng)[1]
        centre = _u(rng, -0.5, 0.5)
        rug = _jitter(rng, _pick(rng, _FLOORS), 30)
        pen.poly([at(centre - 0.6, 0, 0.8), at(centre + 0.6, 0, 0.8), at(centre + 0.6, 0, 0.45),
                  at(centre - 0.6, 0, 0.45)], rug)
        room.box(pen, centre - 0.5, centre + 0.5, 0.0, 0.34, 0.95, 1.0, _shade(sofa, 0.9))
        room.box(pen, centre - 0.5, centre + 0.5, 0.0, 0.15, 0.8, 0.95, sofa)
        for end in (centre - 0.5, centre + 0.42):
            room.box(pen, end, end + 0.08, 0.0, 0.22, 0.8, 0.98, _shade(sofa, 0.95))
        features.append("a rug")
    elif kind == "kitchen":
        cabinet = _jitter(rng, _pick(rng, ((240, 240, 235), (160, 110, 70), (100, 130, 150), (200, 200, 200))), 15)
        room.box(pen, -1.0, 1.0, 0.0, 0.33, 0.85, 1.0, cabinet)
        room.box(pen, -1.0, 1.0, 0.33, 0.36, 0.84, 1.0, _jitter(rng, (90, 90, 95), 20))
        for k in range(-1, 2, 1):
            pen.rect(room.back_x(k * 0.6 - 0.25), room.back_y(0.8), room.back_x(k * 0.6 + 0.25), room.back_y(0.55),
                     cabinet, _shade(cabinet, 0.7), 0.004)
    if kind in ("room", "kitchen") and rng.random() < 0.6:
        _table(pen, rng, room, _u(rng, -0.5, 0.5), _u(rng, 0.45, 0.7))
        features.append("a table")
    if rng.random() < 0.3:
        X = _u(rng, -0.9, 0.65)
        pen.rect(room.back_x(X), room.back_y(0.75), room.back_x(X + 0.25), room.back_y(0.5), _named_colour(rng)[1],
                 (60, 45, 30), 0.008)
        features.append("a picture on the wall")
    if rng.random() < 0.3:
        X, z = _pick(rng, (-0.85, 0.75)), _u(rng, 0.6, 0.95)
        room.box(pen, X, X + 0.1, 0.0, 0.1, z * 0.95, z, _jitter(rng, (170, 90, 60), 20))
        x, y = at(X + 0.05, 0.1, z * 0.97)
        r = (room.back_x(0.2) - room.back_x(0.0)) / z
        for _ in range(5):
            pen.ellipse(x + _u(rng, -0.6, 0.6) * r, y - _u(rng, 0.3, 1.2) * r, r * 0.5, r * 0.35,
                        _jitter(rng, (60, 120, 60), 20))
        features.append("a plant")

    items = " and ".join(features[:2])
    if kind == "room":
        phrase = _pick(rng, (f"an indoor room with {items}", f"the inside of a room with {items}")) if items \
            else "an empty indoor room"
    else:
        head = {"living room": "a living room with a sofa", "bedroom": "a bedroom with a bed",
                "kitchen": "an indoor kitchen with cabinets"}[kind]
        phrase = f"{head} and {features[0]}" if features else head
    short = _pick(rng, ("an indoor room", "a room")) if kind == "room" else f"{_a(kind)} {kind}"
    return _Backdrop(phrase, short, room.vy, y1, room)


def _window(pen, rng, room):
    """A window on the back wall or a side wall, showing sky and a strip of green."""
    at = room.at
    if rng.random() < 0.5:
        Xa = _u(rng, -0.8, 0.3)
        corners = [at(Xa, 0.8, 1), at(Xa + 0.45, 0.8, 1), at(Xa + 0.45, 0.4, 1), at(Xa, 0.4, 1)]
    else:
        side, z0 = _pick(rng, (-1, 1)), _u(rng, 0.4, 0.75)
        z1 = z0 * _u(rng, 0.6, 0.75)
        corners = [at(side, 0.8, z0), at(side, 0.8, z1), at(side, 0.4, z1), at(side, 0.4, z0)]
    frame = _jitter(rng, _pick(rng, ((245, 245, 240), (120, 80, 50), (60, 60, 65))), 10)
    (ax, ay), (bx, by), (cx, cy), (dx, dy) = corners
    pen.poly(corners, _jitter(rng, (160, 200, 235), 20))
    # The lower third of the view outside is grass.
    grass_top = [(dx + (ax - dx) * 0.3, dy + (ay - dy) * 0.3), (cx + (bx - cx) * 0.3, cy + (by - cy) * 0.3)]
    pen.poly(grass_top + [(cx, cy), (dx, dy)], _jitter(rng, (90, 140, 80), 20))
    pen.poly(corners, None, frame, 0.012)
    pen.line([((ax + bx) / 2, (ay + by) / 2), ((cx + dx) / 2, (cy + dy) / 2)], frame, 0.01)
    pen.line([((ax + dx) / 2, (ay + dy) / 2), ((bx + cx) / 2, (by + cy) / 2)], frame, 0.01)


def _table(pen, rng, room, centre, depth, width=0.35):
    """A table standing on the floor at X=centre, reaching from depth to 1.35*depth; returns its top
    centre and the top's width and depth on screen, in the unit square."""
    wood = _jitter(rng, _pick(rng, ((150, 100, 60), (190, 150, 100), (230, 230, 225), (90, 60, 40))), 15)
    near, far = depth, depth * 1.35
    for X in (centre - width * 0.9, centre + width * 0.9 - 0.05):
        for z in (far * 0.97, near * 1.03):
            room.box(pen, X, X + 0.05, 0.0, 0.28, z * 0.98, z, _shade(wood, 0.8))
    room.box(pen, centre - width, centre + width, 0.28, 0.31, near, far, wood)
    middle = (near + far) / 2
    x, y = room.at(centre, 0.31, middle)
    across = room.at(centre + width, 0.31, middle)[0] - room.at(centre - width, 0.31, middle)[0]
    along = room.at(centre, 0.31, near)[1] - room.at(centre, 0.31, far)[1]
    return x, y, across, along


def _insert_small(scene, rng, backdrop, category, warm):
    """Put a smaller thing of `category` into a painted place; returns its caption phrase."""
    eye, room = backdrop.eye, backdrop.room
    ground = max(backdrop.floor + 0.03, eye + 0.2)
    if category == "body":
        count = _count(rng, 0.3, 0.15)
        pose = _pick(rng, ("standing", "walking", "running", "waving", "raised"))
        for base in sorted(_u(rng, ground, 0.97) for _ in range(count)):
            height = (base - eye) * _u(rng, 1.0, 1.15)
            _figure(scene.sub(_u(rng, 0.1, 0.9), base - height / 2, height / 2, flip=rng.random() < 0.5), rng, pose)
        return f"{_NUMBERS[count]} people {_POSES[pose]}" if count > 1 else f"a person {_POSES[pose]}"
    if category == "object":
        base = _u(rng, ground, 0.95)
        half = max(0.1, (base - eye) * _u(rng, 0.5, 0.8))
        pen = scene.sub(_u(rng, 0.15, 0.85), base - half * 0.85, half)
        return _paint_objects(pen, rng, count=1, kinds=_INDOOR_OBJECTS if room else _OUTDOOR_OBJECTS)
    if category == "food":
        x, y, across, along = _table(scene, rng, room, _u(rng, -0.3, 0.3), _u(rng, 0.3, 0.45), _u(rng, 0.3, 0.45))
        pen = scene.sub(x, y, across * 0.4, squash=min(1.0, along / across * 2.0))
        return _on_table(_paint_dish(pen.sub(0, 0, 1, _u(rng, 0, 360)), rng, warm))
    if room:
        width = (room.x1 - room.x0) * _u(rng, 0.22, 0.38)
        x = _u(rng, room.x0 + width, room.x1 - width)
        y = _u(rng, room.y0 + width, (room.y0 + room.y1) / 2)
    else:
        base = _u(rng, eye + 0.12, 0.95)
        width = max(0.12, (base - eye) * _u(rng, 0.5, 0.8))
        x = _u(rng, 0.15, 0.85)
        y = base - width * _u(rng, 1.3, 1.8)
        for post in ((x,) if category == "word" else (x - width * 0.6, x + width * 0.6)):
            scene.line([(post, base), (post, y)], (90, 90, 95), width * 0.06)
    if category == "word":
        return _paint_word(scene.sub(x, y, width), rng, _pick(rng, ("sign", "paper", "board")) if room else "sign")
    frame = _jitter(rng, _pick(rng, ((60, 45, 30), (30, 30, 30), (200, 200, 200))), 10)
    scene.rect(x - width * 0.85, y - width, x + width * 0.85, y + width, _muted(rng), frame, width * 0.1)
    face = _paint_faces(scene.sub(x, y + width * 0.1, width * 0.85), rng, count=1)
    return f"{face} in a picture on the wall" if room else f"{face} on a billboard"


def _insert_large(scene, rng, backdrop, category, warm):
    """Put a large thing of `category` in front of a painted place; returns its caption phrase."""
    if category == "food":
        top = _u(rng, 0.45, 0.62)
        wood = _jitter(rng, _pick(rng, ((150, 100, 60), (190, 150, 100), (230, 230, 225), (90, 60, 40))), 15)
        scene.poly([(_u(rng, -0.1, 0.15), top), (_u(rng, 0.85, 1.1), top), (1.5, 1.1), (-0.5, 1.1)], wood)
        half = _u(rng, 0.26, 0.4)
        pen = scene.sub(_u(rng, 0.35, 0.65), top + (1 - top) * _u(rng, 0.45, 0.6), half, squash=_u(rng, 0.5, 0.75))
        return _paint_dish(pen.sub(0, 0, 1, _u(rng, 0, 360)), rng, warm)
    if category == "face":
        half = _u(rng, 0.3, 0.45)
        pen = scene.sub(_centre(rng, half), _u(rng, 0.45, 0.6), half, _u(rng, -10, 10))
        return _paint_faces(pen, rng, count=_count(rng, 0.15, 0.0))
    if category == "body":
        half = _u(rng, 0.32, 0.47)
        return _paint_people(scene.sub(_centre(rng, half * 0.6), 1.0 - half * _u(rng, 0.75, 1.0), half), rng)
    if category == "object":
        half = _u(rng, 0.22, 0.4)
        pen = scene.sub(_centre(rng, half), 1.0 - half * _u(rng, 0.9, 1.3), half, _u(rng, -10, 10))
        return _paint_objects(pen, rng, count=1, kinds=_INDOOR_OBJECTS if backdrop.room else _OUTDOOR_OBJECTS)
    half = _u(rng, 0.28, 0.45)
    x, y = _centre(rng, half), _u(rng, 0.3, 0.55)
    if backdrop.room is None:
        scene.line([(x, y), (x, 1.1)], (90, 90, 95), half * 0.08)
    return _paint_word(scene.sub(x, y, half, _u(rng, -5, 5)), rng, _pick(rng, ("sign", "board", "paper")))


# ---------------------------------------------------------------------------------------------
# Food. Dishes are seen from above; a squashed frame makes them look seen at an angle.


def _paint_meal(pen, rng, warm):
    """Food as the only category: one dish, sometimes two, sometimes with cutlery."""
    flat = pen.sub(0, 0, 1, squash=_u(rng, 0.6, 1.0))
    if rng.random() < 0.2:
        first = _paint_dish(flat.sub(-0.45, -0.25, 0.55, _u(rng, 0, 360)), rng, warm)
        second = _paint_dish(flat.sub(0.5, 0.35, 0.45, _u(rng, 0, 360)), rng, warm)
        return f"{first} and {second}"
    if rng.random() < 0.3:
        metal = _jitter(rng, (190, 190, 195), 15)
        flat.rect(1.05, -0.7, 1.13, 0.8, metal)
        flat.rect(-1.13, -0.1, -1.05, 0.8, metal)
        for k in range(4):
            flat.line([(-1.15 + k * 0.035, -0.7), (-1.15 + k * 0.035, -0.1)], metal, 0.015)
    return _paint_dish(flat.sub(0, 0, 1, _u(rng, 0, 360)), rng, warm)


def _flat_pen(pen, rng):
    return pen.sub(0, 0, 1, squash=_u(rng, 0.6, 1.0)).sub(0, 0, 1, _u(rng, 0, 360))


def _paint_dish(pen, rng, warm):
    """A container with food of one palette (warm or green) in the unit frame; returns the phrase."""
    return _pick(rng, _WARM_DISHES if warm else _GREEN_DISHES)(pen, rng)


def _container(pen, rng, kinds):
    """Draw a plate, bowl or board (or nothing, for None); returns its name and the radius food may fill."""
    kind = _pick(rng, kinds)
    if kind == "plate":
        colour = _jitter(rng, _pick(rng, ((240, 240, 235), (235, 230, 215), (200, 220, 235), (60, 60, 65))), 8)
        pen.ellipse(0, 0, 1.0, 1.0, colour, _shade(colour, 0.75), 0.02)
        pen.ellipse(0, 0, 0.72, 0.72, _shade(colour, 0.94))
        return kind, 0.72
    if kind == "bowl":
        colour = _jitter(rng, _pick(rng, ((240, 240, 235), (70, 100, 160), (40, 40, 45), (200, 200, 205))), 10)
        pen.ellipse(0, 0, 0.95, 0.95, colour, _shade(colour, 0.7), 0.02)
        pen.ellipse(0, 0.04, 0.8, 0.78, _shade(colour, 0.78))
        return kind, 0.72
    if kind == "board":
        wood = _jitter(rng, (185, 140, 90), 20)
        pen.rect(0.9, -0.12, 1.25, 0.12, wood, _shade(wood, 0.7), 0.02)
        pen.rect(-0.95, -0.85, 0.95, 0.85, wood, _shade(wood, 0.7), 0.02)
        for k in range(4):
            y = _u(rng, -0.8, 0.8)
            pen.line([(-0.9, y), (0.9, y + _u(rng, -0.05, 0.05))], _shade(wood, 0.9), 0.01)
        return kind, 0.78
    return None, 0.9


def _on_table(phrase):
    return phrase if phrase.endswith("on a table") else f"{phrase} on a table"


def _dish_phrase(rng, container, food):
    if container == "plate":
        return _pick(rng, (f"a plate of {food}", f"{food} on a plate", f"a plate with {food}"))
    if container == "bowl":
        return _pick(rng, (f"a bowl of {food}", f"{food} in a bowl"))
    if container == "board":
        return f"{food} on a wooden board"
    return _pick(rng, (f"{food} on a table", f"fresh {food}"))


def _scattered(pen, rng, kinds, counts, item, food):
    """A container holding a few to many small items drawn by item(pen, rng, x, y, r)."""
    container, radius = _container(pen, rng, kinds)
    n = int(_u(rng, *counts))
    r = radius * 0.95 / (0.3 + sqrt(n))
    turn = _u(rng, 0, 2 * pi)
    for k in range(n):
        distance = (radius - r * 0.7) * sqrt((k + 0.5) / n)
        angle = turn + k * 2.39996  # the golden angle packs items evenly
        item(pen, rng, distance * cos(angle) + _u(rng, -0.3, 0.3) * r,
             distance * sin(angle) + _u(rng, -0.3, 0.3) * r, r * _u(rng, 0.85, 1.1))
    return _dish_phrase(rng, container, food)


def _fruit(colour, stem=True, shine=0.45):
    def item(pen, rng, x, y, r):
        c = _jitter(rng, colour, 18)
        pen.ellipse(x, y, r, r * 0.95, c, _shade(c, 0.7), r * 0.08)
        pen.ellipse(x - r * 0.35, y - r * 0.35, r * 0.28, r * 0.2, _mix(c, _WHITE, shine))
        if stem:
            pen.line([(x, y), (x + r * 0.2, y - r * 0.3)], (90, 60, 30), r * 0.12)
    return item


def _slice(rim, flesh, centre, seeds):
    def item(pen, rng, x, y, r):
        pen.ellipse(x, y, r, r, _jitter(rng, rim, 10))
        pen.ellipse(x, y, r * 0.85, r * 0.85, _jitter(rng, flesh, 10))
        pen.ellipse(x, y, r * 0.3, r * 0.3, centre)
        for k in range(8):
            t = k * pi / 4
            pen.ellipse(x + r * 0.5 * cos(t), y + r * 0.5 * sin(t), r * 0.07, r * 0.11, seeds)
    return item


def _stick(colour, length, width):
    def item(pen, rng, x, y, r):
        c = _jitter(rng, colour, 15)
        stick = pen.sub(x, y, r * length, _u(rng, 0, 180))
        stick.limb([(-0.9, 0), (0.9, 0)], c, width)
        stick.line([(-0.6, -width * 0.2), (0.5, -width * 0.2)], _mix(c, _WHITE, 0.3), width * 0.2)
    return item


def _strawberry(pen, rng, x, y, r):
    berry = pen.sub(x, y, r, _u(rng, 0, 360))
    red = _jitter(rng, (200, 30, 40), 15)
    berry.poly([(-0.85, -0.5), (-0.4, -0.85), (0.4, -0.85), (0.85, -0.5), (0.5, 0.4), (0, 0.95), (-0.5, 0.4)], red)
    for sx, sy in ((-0.4, -0.4), (0.3, -0.5), (0, -0.1), (-0.3, 0.3), (0.35, 0.15), (0, 0.55)):
        berry.ellipse(sx, sy, 0.06, 0.08, (240, 210, 90))


def _carrot(pen, rng, x, y, r):
    carrot = pen.sub(x, y, r * 1.8, _u(rng, 0, 360))
    orange = _jitter(rng, (235, 120, 30), 15)
    carrot.poly([(-0.9, -0.2), (-0.9, 0.2), (0.9, 0.02), (0.9, -0.02)], orange)
    for k in range(3):
        carrot.line([(-0.5 + k * 0.4, -0.15), (-0.45 + k * 0.4, 0.1)], _shade(orange, 0.8), 0.04)


def _banana(pen, rng, x, y, r):
    banana = pen.sub(x, y, r * 1.9, _u(rng, 0, 360))
    yellow = _jitter(rng, (240, 205, 60), 15)
    outer = [(0.9 * cos(t), 0.5 * sin(t) - 0.2) for t in (pi * (0.15 + 0.7 * k / 8) for k in range(9))]
    inner = [(0.75 * cos(t), 0.3 * sin(t) - 0.2) for t in (pi * (0.85 - 0.7 * k / 8) for k in range(9))]
    banana.poly(outer + inner, yellow, _shade(yellow, 0.75), 0.03)
    banana.ellipse(outer[0][0], outer[0][1], 0.06, 0.06, (90, 60, 30))


def _cookie(pen, rng, x, y, r):
    dough = _jitter(rng, (185, 130, 70), 15)
    pen.ellipse(x, y, r, r, dough, _shade(dough, 0.8), r * 0.06)
    for _ in range(5):
        pen.ellipse(x + _u(rng, -0.6, 0.6) * r, y + _u(rng, -0.6, 0.6) * r, r * 0.13, r * 0.11, (70, 40, 25))


def _floret(pen, rng, x, y, r):
    green = _jitter(rng, (50, 120, 50), 15)
    pen.limb([(x, y), (x + r * 0.6, y + r * 0.6)], (150, 190, 110), r * 0.35)
    for k in range(6):
        t = k * pi / 3
        pen.ellipse(x + r * 0.4 * cos(t), y + r * 0.4 * sin(t), r * 0.42, r * 0.42, _shade(green, _u(rng, 0.85, 1.15)))


def _leaf(pen, rng, x, y, r):
    green = _jitter(rng, _pick(rng, ((90, 160, 60), (60, 130, 50), (130, 190, 80), (40, 100, 45))), 15)
    leaf = pen.sub(x, y, r * 1.3, _u(rng, 0, 360))
    leaf.ellipse(0, 0, 1.0, 0.5, green, _shade(green, 0.8), 0.04)
    leaf.line([(-0.9, 0), (0.9, 0)], _mix(green, _WHITE, 0.3), 0.05)


def _grapes(pen, rng, x, y, r):
    green = _jitter(rng, (170, 205, 100), 15)
    for k in range(7):
        t = k * 2.4
        pen.ellipse(x + r * 0.5 * sqrt(k / 7) * cos(t), y + r * 0.5 * sqrt(k / 7) * sin(t), r * 0.32, r * 0.32,
                    green, _shade(green, 0.75), r * 0.04)


def _pizza(pen, rng):
    container, _ = _container(pen, rng, ("board", "plate", None))
    pen.ellipse(0, 0, 0.86, 0.86, _jitter(rng, (205, 145, 65), 15))
    pen.ellipse(0, 0, 0.74, 0.74, _jitter(rng, (195, 50, 30), 15))
    for _ in range(int(_u(rng, 6, 12))):
        pen.ellipse(_u(rng, -0.5, 0.5), _u(rng, -0.5, 0.5), _u(rng, 0.12, 0.25), _u(rng, 0.1, 0.2),
                    _jitter(rng, (245, 205, 90), 15))
    for _ in range(int(_u(rng, 0, 8))):
        pen.ellipse(_u(rng, -0.5, 0.5), _u(rng, -0.5, 0.5), 0.1, 0.1, (150, 35, 30))
    for k in range(int(_u(rng, 0, 4))):
        t = k * pi / 4 + 0.3
        pen.line([(-0.86 * cos(t), -0.86 * sin(t)), (0.86 * cos(t), 0.86 * sin(t))], (150, 100, 45), 0.015)
    food = _pick(rng, ("a pizza with red tomato sauce and yellow cheese", "a pizza with red sauce"))
    return f"{food} on {_a(container)} {container}" if container else food


def _cake(pen, rng):
    container, _ = _container(pen, rng, ("plate", "board"))
    chocolate = rng.random() < 0.5
    sponge = _jitter(rng, (100, 60, 35) if chocolate else (225, 175, 90), 12)
    pen.ellipse(0, 0, 0.7, 0.7, sponge, _shade(sponge, 0.7), 0.02)
    cream = _jitter(rng, (245, 235, 215), 8)
    for k in range(10):
        t = k * pi / 5
        pen.ellipse(0.55 * cos(t), 0.55 * sin(t), 0.08, 0.08, cream)
        if k % 2 == 0:
            pen.ellipse(0.55 * cos(t), 0.55 * sin(t), 0.05, 0.05, (190, 20, 40))
    return f"a brown chocolate cake on {_a(container)} {container}" if chocolate else \
        f"a golden yellow cake with red cherries on {_a(container)} {container}"


def _bread(pen, rng):
    container, _ = _container(pen, rng, ("board", "board", None))
    crust = _jitter(rng, (190, 125, 60), 15)
    loaves = int(_u(rng, 1, 3))
    for k in range(loaves):
        loaf = pen.sub(0, (k - (loaves - 1) / 2) * 0.7, 1.0 if loaves == 1 else 0.7, _u(rng, -10, 10))
        loaf.ellipse(0, 0, 0.8, 0.45, crust, _shade(crust, 0.7), 0.02)
        for j in range(4):
            x = -0.45 + j * 0.3
            loaf.line([(x - 0.08, -0.25), (x + 0.08, 0.25)], _mix(crust, (245, 220, 160), 0.6), 0.05)
    food = "a loaf of golden brown bread" if loaves == 1 else "two loaves of brown bread"
    return f"{food} on a wooden board" if container else f"{food} on a table"


def _sandwich(pen, rng):
    container, _ = _container(pen, rng, ("plate", "board"))
    for side in (-1, 1):
        half = pen.sub(side * 0.3, 0, 0.7, 90 + side * 90)
        half.poly([(-0.8, -0.7), (0.8, -0.7), (-0.8, 0.8)], _jitter(rng, (205, 155, 85), 10))
        half.poly([(-0.7, -0.6), (0.6, -0.6), (-0.7, 0.6)], _jitter(rng, (240, 220, 170), 10))
        half.line([(0.8, -0.7), (-0.8, 0.8)], (200, 40, 40), 0.08)
        half.line([(0.7, -0.62), (-0.72, 0.7)], (245, 200, 60), 0.06)
    return f"a sandwich with yellow cheese and red tomato on {_a(container)} {container}"


def _salad(pen, rng):
    container, radius = _container(pen, rng, ("bowl", "bowl", "plate"))
    for k in range(int(_u(rng, 14, 24))):
        t, d = _u(rng, 0, 2 * pi), radius * sqrt(rng.random()) * 0.85
        _leaf(pen, rng, d * cos(t), d * sin(t), radius * _u(rng, 0.18, 0.3))
    cucumber = _slice((40, 110, 40), (190, 220, 150), (200, 225, 170), (230, 240, 200))
    for k in range(int(_u(rng, 0, 5))):
        t, d = _u(rng, 0, 2 * pi), radius * sqrt(rng.random()) * 0.7
        cucumber(pen, rng, d * cos(t), d * sin(t), radius * 0.14)
    return _dish_phrase(rng, container, _pick(rng, ("green salad", "fresh green salad leaves")))


_WARM_DISHES = (
    lambda pen, rng: _scattered(pen, rng, ("plate", "bowl", None), (3, 8), _fruit((190, 30, 35)), "red apples"),
    lambda pen, rng: _scattered(pen, rng, ("bowl", "plate", None), (3, 7), _fruit((240, 135, 25), stem=False),
                                "ripe orange fruit"),
    lambda pen, rng: _scattered(pen, rng, ("plate", "bowl"), (5, 12), _strawberry, "red strawberries"),
    lambda pen, rng: _scattered(pen, rng, ("board", "plate", None), (3, 7), _carrot, "orange carrots"),
    lambda pen, rng: _scattered(pen, rng, ("plate", "bowl", None), (2, 5), _banana, "yellow bananas"),
    lambda pen, rng: _scattered(pen, rng, ("plate", "board", None), (4, 9), _cookie, "brown cookies"),
    lambda pen, rng: _scattered(pen, rng, ("plate", "bowl"), (10, 22), _stick((235, 190, 60), 0.9, 0.3),
                                "yellow french fries"),
    lambda pen, rng: _scattered(pen, rng, ("plate", "board"), (3, 6), _stick((150, 80, 40), 1.4, 0.45),
                                "brown sausages"),
    _pizza,
    _cake,
    _bread,
    _sandwich,
)
_GREEN_DISHES = (
    _salad,
    lambda pen, rng: _scattered(pen, rng, ("plate", "bowl", None), (4, 9), _floret, "green broccoli"),
    lambda pen, rng: _scattered(pen, rng, ("plate", "bowl", None), (3, 8), _fruit((140, 190, 60)), "green apples"),
    lambda pen, rng: _scattered(pen, rng, ("bowl", "plate"), (25, 45), _fruit((90, 160, 50), stem=False, shine=0.3),
                                "green peas"),
    lambda pen, rng: _scattered(pen, rng, ("plate", "board"), (5, 12),
                                _slice((40, 110, 40), (190, 220, 150), (200, 225, 170), (230, 240, 200)),
                                "sliced green cucumber"),
    lambda pen, rng: _scattered(pen, rng, ("plate", "board"), (4, 9),
                                _slice((120, 100, 60), (110, 170, 50), (220, 230, 190), (20, 20, 15)),
                                "green kiwi slices"),
    lambda pen, rng: _scattered(pen, rng, ("bowl", "plate", None), (3, 7), _fruit((70, 160, 50), stem=False),
                                "green limes"),
    lambda pen, rng: _scattered(pen, rng, ("bowl", "plate"), (3, 6), _grapes, "green grapes"),
    lambda pen, rng: _scattered(pen, rng, ("plate", "bowl"), (8, 16), _stick((70, 150, 50), 1.5, 0.25),
                                "green beans"),
)


# ---------------------------------------------------------------------------------------------
# Words.

# Short real words, none of them a category name, so captions stay unambiguous.
_WORDS = (
    "go", "up", "no", "on", "yes", "art", "sun", "sky", "map", "joy", "ice", "box", "key", "run", "fun",
    "zoo", "sale", "open", "stop", "exit", "love", "time", "rain", "gold", "wind", "fire", "moon", "star",
    "free", "news", "play", "jazz", "bank", "west", "east", "snow", "kind", "hope", "wild", "calm", "fast",
    "slow", "help", "info", "hotel", "music", "river", "dream", "light", "happy", "water", "north", "south",
    "quiet", "radio", "pixel", "ocean", "cloud", "storm", "tiger", "piano", "dance", "magic", "sport",
    "metro", "train", "garden", "ticket", "museum", "studio", "system", "travel", "island", "bridge",
    "school", "planet", "silver", "summer", "winter", "rocket", "danger", "animal", "energy", "puzzle",
    "welcome", "freedom", "holiday", "library", "morning", "evening", "station", "concert", "theatre",
    "machine", "harbour", "journey", "kingdom", "network", "weekend", "airport", "science", "history",
    "sunshine", "birthday", "question", "universe", "language", "vacation", "festival", "tomorrow",
    "together", "dinosaur", "treasure", "calendar", "magazine", "pharmacy", "elephant", "adventure",
    "wonderful", "direction", "knowledge", "yesterday", "celebrate",
)
_BACKINGS = {"none": "", "sign": " on a sign", "paper": " on a sheet of paper", "board": " on a chalkboard",
             "label": " on a label"}


def _paint_word(pen, rng, backing):
    """One to three lines of words in the unit frame on `backing` (a key of `_BACKINGS`);
    returns the caption phrase."""
    words = []
    for _ in range(_count(rng, 0.3, 0.1)):
        word = _pick(rng, _WORDS)
        if word not in words:
            words.append(word)
    case = rng.random()
    lines = [w.upper() if case < 0.4 else w.capitalize() if case < 0.7 else w for w in words]
    half_w = _u(rng, 0.75, 1.0)
    half_h = min(0.95, 0.3 + 0.2 * len(lines)) * _u(rng, 0.75, 1.0)
    if backing == "label":
        half_w, half_h = half_w * 0.8, half_h * 0.7
    if backing == "sign":
        background = _named_colour(rng, ("red", "blue", "green", "white", "yellow", "black", "brown", "teal"))[1]
        border = _WHITE if _luma(background) < 128 else (30, 30, 30)
        pen.rect(-half_w, -half_h, half_w, half_h, background, border, 0.04)
    elif backing == "paper":
        background = _jitter(rng, (240, 236, 225), 10)
        pen.rect(-half_w + 0.04, -half_h + 0.04, half_w + 0.04, half_h + 0.04, (90, 90, 90))
        pen.rect(-half_w, -half_h, half_w, half_h, background)
        for k in range(1, 8):
            y = -half_h + 2 * half_h * k / 8
            pen.line([(-half_w, y), (half_w, y)], _mix(background, (120, 150, 220), 0.35), 0.008)
    elif backing == "board":
        background = _jitter(rng, _pick(rng, ((40, 70, 50), (35, 35, 38))), 10)
        pen.rect(-half_w - 0.07, -half_h - 0.07, half_w + 0.07, half_h + 0.07, _jitter(rng, (140, 95, 55), 15))
        pen.rect(-half_w, -half_h, half_w, half_h, background)
    elif backing == "label":
        background = _jitter(rng, _pick(rng, ((245, 245, 240), (250, 230, 120), (230, 240, 250))), 8)
        pen.rect(-half_w, -half_h, half_w, half_h, background, (60, 60, 60), 0.025)
    else:
        x, y = pen.xy([(0.0, 0.0)])[0]
        side = pen.image.width - 1
        background = pen.image.getpixel((min(side, max(0, int(x))), min(side, max(0, int(y)))))
    name, colour = _contrasting_colour(rng, background)
    pen.text(lines, colour, 2 * half_w * 0.86, 2 * half_h * 0.8)

    where = _BACKINGS[backing]
    if len(words) == 1:
        word = lines[0]
        return _pick(rng, (
            f"the word '{word}' in {name} letters{where}",
            f"{name} text reading '{word}'{where}",
            f"the word '{word}' written in {name}{where}",
            f"'{word}' in large {name} letters{where}",
        ))
    quoted = ", ".join(f"'{line}'" for line in lines[:-1]) + f" and '{lines[-1]}'"
    return _pick(rng, (
        f"the words {quoted} in {name} letters{where}",
        f"{name} text reading '{' '.join(lines)}'{where}",
        f"{_NUMBERS[len(lines)]} lines of {name} text{where}, {quoted}",
    ))


# ---------------------------------------------------------------------------------------------
# Objects. Each painter fills the unit frame with one thing and returns its caption phrase.


def _car(pen, rng):
    name, paint = _named_colour(rng)
    dark = _shade(paint, 0.6)
    glass = _jitter(rng, (150, 185, 210), 15)
    pen = pen.sub(0, 0, 1, flip=rng.random() < 0.5)
    van = rng.random() < 0.25
    if van:
        pen.poly([(-0.95, 0.28), (-0.95, -0.55), (0.45, -0.55), (0.8, -0.12), (0.95, -0.05), (0.95, 0.28)],
                 paint, dark, 0.02)
        pen.poly([(0.5, -0.47), (0.74, -0.14), (0.5, -0.14)], glass)
        pen.rect(-0.85, -0.45, -0.1, -0.15, glass)
        pen.rect(0.0, -0.45, 0.4, -0.15, glass)
    else:
        roof, back, front = _u(rng, -0.5, -0.36), _u(rng, -0.72, -0.5), _u(rng, 0.45, 0.65)
        middle = (back + front) / 2
        pen.poly([(-0.95, 0.28), (-0.95, -0.08), (back, -0.15), (back + 0.22, roof), (front - 0.25, roof),
                  (front, -0.14), (0.95, -0.06), (0.95, 0.28)], paint, dark, 0.02)
        top = roof + 0.05
        pen.poly([(back + 0.07, -0.15), (back + 0.25, top), (middle - 0.03, top), (middle - 0.03, -0.15)], glass)
        pen.poly([(middle + 0.03, -0.15), (middle + 0.03, top), (front - 0.27, top), (front - 0.07, -0.15)], glass)
    pen.line([(0.0, -0.12), (0.0, 0.2)], dark, 0.015)
    pen.ellipse(0.9, 0.0, 0.05, 0.04, (250, 240, 180))
    pen.rect(-0.95, -0.04, -0.89, 0.06, (200, 30, 30))
    for x in (-0.58, 0.58):
        pen.ellipse(x, 0.28, 0.2, 0.2, (25, 25, 25))
        pen.ellipse(x, 0.28, 0.1, 0.1, (170, 170, 175))
    return f"{_a(name)} {name} {'van' if van else 'car'}"


def _mug(pen, rng):
    name, colour = _named_colour(rng)
    cup = rng.random() < 0.4
    if cup:
        saucer = _jitter(rng, (235, 235, 230), 10)
        pen.ellipse(-0.05, 0.62, 0.85, 0.18, saucer, _shade(saucer, 0.75), 0.02)
    pen.ring(0.42, 0.0, 0.25, 0.28, _shade(colour, 0.85), 0.1)
    pen.poly([(-0.5, -0.55), (0.4, -0.55), (0.34, 0.58), (-0.44, 0.58)], colour)
    pen.ellipse(-0.05, 0.58, 0.39, 0.06, colour)
    pen.ellipse(-0.05, -0.55, 0.45, 0.1, _shade(colour, 0.9))
    pen.ellipse(-0.05, -0.54, 0.39, 0.07, _jitter(rng, (90, 55, 35), 20))
    if rng.random() < 0.4:
        pen.poly([(-0.49, -0.1), (0.38, -0.1), (0.37, 0.05), (-0.48, 0.05)], _contrasting_colour(rng, colour)[1])
    pen.line([(-0.35, -0.4), (-0.31, 0.45)], _mix(colour, _WHITE, 0.35), 0.05)
    return f"{_a(name)} {name} {'cup on a saucer' if cup else 'mug'}"


def _chair(pen, rng):
    name, colour = _named_colour(rng, ("brown", "red", "blue", "black", "white", "green", "yellow", "grey"))
    dark = _shade(colour, 0.7)
    pen = pen.sub(0, 0, 1, flip=rng.random() < 0.5)
    for top, bottom in (((0.35, 0.12), (0.37, 0.8)), ((-0.55, 0.12), (-0.57, 0.85))):
        pen.line([top, bottom], dark, 0.06)
    for x in (-0.55, 0.35):
        pen.line([(x, 0.12), (x, -0.9)], colour, 0.08)
    if rng.random() < 0.5:
        pen.poly([(-0.55, -0.9), (0.35, -0.9), (0.35, -0.3), (-0.55, -0.3)], colour)
    else:
        pen.rect(-0.55, -0.9, 0.35, -0.75, colour)
        for x in (-0.3, -0.1, 0.1):
            pen.line([(x, -0.75), (x, 0.1)], colour, 0.05)
    pen.poly([(-0.55, 0.1), (0.35, 0.1), (0.6, 0.32), (-0.3, 0.32)], _shade(colour, 1.1), dark, 0.02)
    pen.rect(-0.3, 0.32, 0.6, 0.38, dark)
    for x in (-0.28, 0.58):
        pen.line([(x, 0.36), (x + 0.02, 0.98)], colour, 0.07)
    return "a wooden chair" if name == "brown" else f"{_a(name)} {name} chair"


def _lamp(pen, rng):
    name, shade = _named_colour(rng)
    metal = _jitter(rng, _pick(rng, ((160, 160, 165), (40, 40, 42), (185, 150, 80))), 10)
    pen.ellipse(0, 0.88, 0.35, 0.08, metal)
    if rng.random() < 0.5:
        pen.limb([(0, 0.88), (0, -0.25)], metal, 0.06)
        top = 0.0
    else:
        top = _u(rng, -0.3, 0.3)
        pen.limb([(0, 0.88), (-0.35, 0.2), (top, -0.25)], metal, 0.06)
    pen.ellipse(top, -0.15, 0.14, 0.09, (255, 240, 190))
    pen.poly([(top - 0.28, -0.9), (top + 0.28, -0.9), (top + 0.6, -0.2), (top - 0.6, -0.2)], shade,
             _shade(shade, 0.7), 0.02)
    return f"a lamp with {_a(name)} {name} shade"


def _bottle(pen, rng):
    name, glass = _named_colour(rng, ("green", "brown", "blue", "white", "red", "teal"))
    pen.rect(-0.15, -0.95, 0.15, -0.8, _named_colour(rng)[1])
    pen.poly([(-0.32, 0.95), (0.32, 0.95), (0.32, -0.2), (0.13, -0.48), (0.13, -0.82), (-0.13, -0.82),
              (-0.13, -0.48), (-0.32, -0.2)], glass, _shade(glass, 0.7), 0.02)
    pen.rect(-0.32, 0.1, 0.32, 0.6, _jitter(rng, (235, 230, 210), 20))
    pen.line([(-0.2, -0.15), (-0.2, 0.85)], _mix(glass, _WHITE, 0.4), 0.05)
    return f"{_a(name)} {name} bottle"


def _hammer(pen, rng):
    name, grip = _named_colour(rng, ("brown", "red", "yellow", "black", "blue", "orange"))
    metal = _jitter(rng, (150, 150, 155), 15)
    pen = pen.sub(0, 0, 1, _u(rng, -60, 60))
    pen.rect(-0.08, -0.55, 0.08, 0.95, grip, _shade(grip, 0.7), 0.015)
    pen.rect(-0.1, 0.4, 0.1, 0.95, _shade(grip, 0.75))
    pen.rect(-0.5, -0.8, 0.3, -0.5, metal, _shade(metal, 0.7), 0.015)
    pen.rect(-0.62, -0.78, -0.5, -0.52, _shade(metal, 0.85))
    pen.poly([(0.3, -0.8), (0.7, -0.95), (0.62, -0.75), (0.3, -0.62)], metal)
    return f"a hammer with {_a(name)} {name} handle"


def _scissors(pen, rng):
    name, colour = _named_colour(rng, ("red", "blue", "black", "orange", "green", "yellow", "purple"))
    metal = _jitter(rng, (190, 190, 195), 10)
    pen = pen.sub(0, 0, 1, _u(rng, -40, 40))
    for side in (-1, 1):
        pen.poly([(-side * 0.1, 0.1), (side * 0.06, -0.12), (side * 0.42, -0.95), (side * 0.34, -0.97)], metal,
                 _shade(metal, 0.6), 0.015)
        pen.limb([(0, -0.05), (-side * 0.3, 0.35)], colour, 0.09)
        pen.ring(-side * 0.4, 0.58, 0.24, 0.28, colour, 0.1)
    pen.ellipse(0, -0.05, 0.06, 0.06, _shade(metal, 0.6))
    return f"a pair of {name} scissors"


def _ball(pen, rng):
    kind = _pick(rng, ("beach", "basket", "soccer", "tennis"))
    pen = pen.sub(0, 0, 1, _u(rng, 0, 360))
    if kind == "beach":
        names = [_named_colour(rng, ("red", "yellow", "blue", "green", "orange", "white")) for _ in range(3)]
        pen.ellipse(0, 0, 0.9, 0.9, names[0][1])
        for k in range(6):
            t0, t1 = k * pi / 3, (k + 1) * pi / 3
            arc = [(0.9 * cos(t0 + (t1 - t0) * j / 4), 0.9 * sin(t0 + (t1 - t0) * j / 4)) for j in range(5)]
            pen.poly([(0, 0)] + arc, names[k % 3][1])
        pen.ellipse(0, 0, 0.15, 0.15, _WHITE)
        phrase = f"a {names[0][0]} and {names[1][0]} beach ball"
    elif kind == "basket":
        orange = _jitter(rng, (225, 110, 30), 15)
        pen.ellipse(0, 0, 0.9, 0.9, orange, (40, 25, 20), 0.03)
        pen.line([(-0.9, 0), (0.9, 0)], (40, 25, 20), 0.035)
        pen.line([(0, -0.9), (0, 0.9)], (40, 25, 20), 0.035)
        pen.arc(-1.05, 0, 0.6, 0.75, -0.85, 0.85, (40, 25, 20), 0.035)
        pen.arc(1.05, 0, 0.6, 0.75, pi - 0.85, pi + 0.85, (40, 25, 20), 0.035)
        phrase = "an orange basketball"
    elif kind == "soccer":
        pen.ellipse(0, 0, 0.9, 0.9, (240, 240, 240), (40, 40, 40), 0.03)
        corners = [-pi / 2 + k * 2 * pi / 5 for k in range(5)]
        pen.poly([(0.28 * cos(t), 0.28 * sin(t)) for t in corners], (30, 30, 30))
        for t in corners:
            pen.line([(0.28 * cos(t), 0.28 * sin(t)), (0.9 * cos(t), 0.9 * sin(t))], (30, 30, 30), 0.03)
            patch = t + pi / 5
            pen.ellipse(0.74 * cos(patch), 0.74 * sin(patch), 0.14, 0.14, (30, 30, 30))
        phrase = "a black and white soccer ball"
    else:
        felt = _jitter(rng, (215, 225, 60), 15)
        pen.ellipse(0, 0, 0.9, 0.9, felt)
        pen.arc(-1.05, 0, 0.55, 0.75, -0.8, 0.8, _WHITE, 0.05)
        pen.arc(1.05, 0, 0.55, 0.75, pi - 0.8, pi + 0.8, _WHITE, 0.05)
        phrase = "a yellow tennis ball"
    pen.ellipse(-0.4, -0.4, 0.18, 0.12, (255, 255, 255))
    return phrase


def _clock(pen, rng):
    name, rim = _named_colour(rng)
    alarm = rng.random() < 0.35
    if alarm:
        for side in (-1, 1):
            pen.ellipse(side * 0.55, -0.82, 0.28, 0.2, _shade(rim, 0.85))
            pen.line([(side * 0.5, 0.7), (side * 0.7, 0.98)], _shade(rim, 0.7), 0.07)
    pen.ellipse(0, 0, 0.9, 0.9, rim)
    pen.ellipse(0, 0, 0.75, 0.75, (245, 245, 238))
    for k in range(12):
        t = k * pi / 6
        tick = 0.04 if k % 3 == 0 else 0.02
        pen.line([(0.6 * cos(t), 0.6 * sin(t)), (0.7 * cos(t), 0.7 * sin(t))], (30, 30, 30), tick)
    hour, minute = _u(rng, 0, 2 * pi), _u(rng, 0, 2 * pi)
    pen.limb([(0, 0), (0.35 * cos(hour), 0.35 * sin(hour))], (20, 20, 20), 0.06)
    pen.limb([(0, 0), (0.58 * cos(minute), 0.58 * sin(minute))], (20, 20, 20), 0.04)
    pen.ellipse(0, 0, 0.05, 0.05, (200, 30, 30))
    return "an alarm clock" if alarm else f"{_a(name)} {name} wall clock"


def _umbrella(pen, rng):
    name, colour = _named_colour(rng)
    stripes = _contrasting_colour(rng, colour)[1] if rng.random() < 0.4 else colour
    pen = pen.sub(0, 0, 1, _u(rng, -25, 25))
    apex = (0.0, -0.85)
    rim = [(0.95 * cos(pi + k * pi / 6), -0.1 - 0.1 * sin(k * pi / 6)) for k in range(7)]
    dome = [(0.95 * cos(pi + k * pi / 12), -0.1 + 0.75 * sin(pi + k * pi / 12)) for k in range(13)]
    hem = []
    for (xa, ya), (xb, yb) in zip(rim[::-1], rim[-2::-1]):
        hem += [(xa, ya), ((xa + xb) / 2, (ya + yb) / 2 - 0.07)]
    pen.poly(dome + hem + [rim[0]], colour)
    for k in range(1, 6, 2):
        pen.poly([apex, rim[k], rim[k + 1]], stripes)
    for tip in rim:
        pen.line([apex, tip], _shade(colour, 0.6), 0.015)
    pen.line([(0, -0.95), (0, 0.7)], (50, 45, 45), 0.04)
    pen.arc(0.12, 0.7, 0.12, 0.14, 0.0, pi, (50, 45, 45), 0.05)
    return f"{_a(name)} {name} umbrella"


def _toy_house(pen, rng):
    wall_name, wall = _named_colour(rng, ("white", "yellow", "pink", "blue", "orange"))
    roof_name, roof = _named_colour(rng, ("red", "brown", "blue", "green", "grey", "black"))
    pen.rect(0.3, -0.75, 0.45, -0.35, _shade(roof, 0.8))
    pen.rect(-0.6, -0.15, 0.6, 0.85, wall, _shade(wall, 0.7), 0.02)
    pen.poly([(-0.8, -0.1), (0.0, -0.8), (0.8, -0.1)], roof)
    pen.rect(-0.12, 0.35, 0.18, 0.85, _jitter(rng, (110, 70, 40), 15))
    glass = (170, 205, 235)
    pen.rect(-0.48, 0.05, -0.22, 0.32, glass, _WHITE, 0.03)
    pen.line([(-0.35, 0.05), (-0.35, 0.32)], _WHITE, 0.02)
    pen.rect(0.26, 0.05, 0.5, 0.32, glass, _WHITE, 0.03)
    return f"a toy house with {_a(roof_name)} {roof_name} roof"


def _books(pen, rng):
    pages = (240, 235, 215)
    if rng.random() < 0.5:
        count = int(_u(rng, 2, 5))
        y = 0.9
        for _ in range(count):
            height, half = _u(rng, 0.2, 0.32), _u(rng, 0.6, 0.9)
            x = _u(rng, -0.1, 0.1)
            cover = _named_colour(rng)[1]
            pen.rect(x - half, y - height, x + half, y, cover, _shade(cover, 0.6), 0.015)
            pen.rect(x + half - 0.1, y - height + 0.04, x + half - 0.02, y - 0.04, pages)
            y -= height
        return f"a stack of {_NUMBERS.get(count, 'four')} books"
    name, cover = _named_colour(rng)
    pen.poly([(0.55, -0.85), (0.68, -0.78), (0.68, 0.92), (0.55, 0.85)], pages)
    pen.rect(-0.6, -0.85, 0.55, 0.85, cover, _shade(cover, 0.6), 0.02)
    pen.rect(-0.6, -0.85, -0.45, 0.85, _shade(cover, 0.75))
    pen.rect(-0.3, -0.55, 0.4, -0.3, _mix(cover, _WHITE, 0.5))
    return f"{_a(name)} {name} book"


def _bicycle(pen, rng):
    name, colour = _named_colour(rng)
    pen = pen.sub(0, 0, 1, flip=rng.random() < 0.5)
    tyre = (30, 30, 30)
    rear, crank, seat, head, front = (-0.55, 0.35), (-0.05, 0.35), (-0.22, -0.2), (0.38, -0.25), (0.55, 0.35)
    for x, y in (rear, front):
        pen.ring(x, y, 0.38, 0.38, tyre, 0.06)
        pen.ellipse(x, y, 0.05, 0.05, (150, 150, 150))
    for a, b in ((rear, crank), (rear, seat), (seat, crank), (seat, head), (head, crank), (head, front)):
        pen.line([a, b], colour, 0.05)
    pen.ellipse(seat[0] - 0.02, seat[1] - 0.08, 0.13, 0.045, tyre)
    pen.line([head, (0.33, -0.45), (0.47, -0.47)], (60, 60, 60), 0.04)
    pen.line([(crank[0] - 0.1, crank[1] + 0.1), (crank[0] + 0.1, crank[1] - 0.1)], (60, 60, 60), 0.04)
    return f"{_a(name)} {name} bicycle"


_OBJECTS = {
    "car": _car, "mug": _mug, "chair": _chair, "lamp": _lamp, "bottle": _bottle, "hammer": _hammer,
    "scissors": _scissors, "ball": _ball, "clock": _clock, "umbrella": _umbrella, "house": _toy_house,
    "books": _books, "bicycle": _bicycle,
}
_INDOOR_OBJECTS = ("chair", "lamp", "ball", "books", "bottle", "mug", "clock")
_OUTDOOR_OBJECTS = ("car", "car", "bicycle", "ball", "umbrella")


def _paint_objects(pen, rng, count=None, kinds=tuple(_OBJECTS)):
    """One to three objects of `kinds` in the unit frame; returns the caption phrase."""
    if count is None:
        count = _count(rng, 0.2, 0.05)
    if count == 1:
        return _OBJECTS[_pick(rng, kinds)](pen, rng)
    phrases = []
    for k in range(count):
        x = (-1 + (2 * k + 1) / count) * 0.95
        sub = pen.sub(x, _u(rng, -0.3, 0.3), _u(rng, 0.85, 1.1) * 1.2 / count, _u(rng, -15, 15))
        phrases.append(_OBJECTS[_pick(rng, kinds)](sub, rng))
    return ", ".join(phrases[:-1]) + f" and {phrases[-1]}"


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
