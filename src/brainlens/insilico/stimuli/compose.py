"""Composition of one sample: `_draw_sample` picks the main category and sometimes a natural second
one, then paints at twice the size either one category alone or two side by side over a backdrop or
table top, or a place from `places` with the other category put into it at a size its perspective
allows, builds the caption from the renderers' phrases, and `_finish` shrinks the image under a
random lighting gradient, colour cast and grain.

Renderers return their caption phrase with the fine kind of what they painted (an object's kind, a
dish, a place, a pose, a face's hair or "group", a word's backing); the sample's fine class is
``"<main category>/<kind>"`` of the main category's thing: the first (largest) one where several are
painted, the inserted one where the main category is put into a place.
"""

from __future__ import annotations

from functools import lru_cache
from math import cos, pi, sin

import numpy as np
from PIL import Image, ImageDraw

from ._common import (
    _NUMBERS,
    _centre,
    _count,
    _jitter,
    _muted,
    _paint_backdrop,
    _paint_table_top,
    _Pen,
    _pick,
    _pick_weighted,
    _u,
)
from .bodies import _POSES, _figure, _paint_people, _paint_person_with_face
from .faces import _paint_faces
from .food import _flat_pen, _on_table, _paint_dish, _paint_meal
from .objects import _INDOOR_OBJECTS, _OUTDOOR_OBJECTS, _paint_objects
from .places import _paint_indoor, _paint_outdoor, _table
from .words import _paint_word

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
    """One image: (main, second, indoor, warm, pixels (size, size, 3) uint8, caption, fine class
    "<main>/<kind>")."""
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
        caption, kind = _compose(root, rng, main, second, warm)
    else:  # a place is in the image
        caption, kind = _compose_in_place(root, rng, main, second, indoor, warm)
    return main, second, indoor, warm, _finish(image, rng, size), caption, f"{main}/{kind}"


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
    """Paint an image without a place on the unit-square pen `root`; returns (caption, fine kind of
    the main category)."""
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
    first, kind = _paint_item(main, main_pen, rng, warm)
    other, _ = _paint_item(second, second_pen, rng, warm)
    return f"{first} {_pick(rng, ('next to', 'beside', 'and', 'with'))} {other}", kind


# Largest tilt in degrees of a category drawn alone; food turns freely inside its own flattened frame.
_TILT = {"face": 20.0, "body": 8.0, "food": 0.0, "word": 25.0, "object": 30.0}


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
    """Paint `category` as the only thing in the image; returns (caption phrase, fine kind)."""
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
    """Paint one category as part of a pair; returns (caption phrase, fine kind)."""
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
    """Paint a scene that holds a place as main or second category; returns (caption, fine kind of
    the main category)."""
    # A mirrored scene is as natural as the original and doubles the variety of layouts.
    scene = root.sub(1.0, 0.0, 1.0, flip=True) if rng.random() < 0.5 else root
    backdrop = (_paint_indoor if indoor else _paint_outdoor)(scene, rng)
    if main == "place":
        if second is None:
            return backdrop.phrase, backdrop.kind
        phrase = _insert_small(scene, rng, backdrop, second, warm)
        return f"{backdrop.phrase}{_pick(rng, (' and', ', with', ' with'))} {phrase}", backdrop.kind
    phrase, kind = _insert_large(scene, rng, backdrop, main, warm)
    if main == "food":
        return f"{_on_table(phrase)} in {backdrop.short}", kind
    return f"{phrase} {_pick(rng, ('in', 'in front of'))} {backdrop.short}", kind


# ---------------------------------------------------------------------------------------------
# Putting things into a painted place.


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
        return _paint_objects(pen, rng, count=1, kinds=_INDOOR_OBJECTS if room else _OUTDOOR_OBJECTS)[0]
    if category == "food":
        x, y, across, along = _table(scene, rng, room, _u(rng, -0.3, 0.3), _u(rng, 0.3, 0.45), _u(rng, 0.3, 0.45))
        pen = scene.sub(x, y, across * 0.4, squash=min(1.0, along / across * 2.0))
        return _on_table(_paint_dish(pen.sub(0, 0, 1, _u(rng, 0, 360)), rng, warm)[0])
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
        return _paint_word(scene.sub(x, y, width), rng, _pick(rng, ("sign", "paper", "board")) if room else "sign")[0]
    frame = _jitter(rng, _pick(rng, ((60, 45, 30), (30, 30, 30), (200, 200, 200))), 10)
    scene.rect(x - width * 0.85, y - width, x + width * 0.85, y + width, _muted(rng), frame, width * 0.1)
    face, _ = _paint_faces(scene.sub(x, y + width * 0.1, width * 0.85), rng, count=1)
    return f"{face} in a picture on the wall" if room else f"{face} on a billboard"


def _insert_large(scene, rng, backdrop, category, warm):
    """Put a large thing of `category` in front of a painted place; returns (caption phrase, fine kind)."""
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
