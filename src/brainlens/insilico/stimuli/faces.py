"""Faces: one to three heads filling the frame, frontal or turned, with skin, hair style and colour,
eyes, brows, nose and a mouth that shows an expression, sometimes a beard or glasses, over a neck
and the top of a shirt; `_face` also draws the head of a figure in `bodies`. The fine kind of a face
image is "group" for two or three faces, otherwise the hair of its face (`_Look.kind`): dark, light or
red hair, or bald. (A 64-pixel image shows the hair far more clearly than the few pixels of a mouth.)
"""

from __future__ import annotations

from math import cos, pi, sin
from typing import NamedTuple

from ._common import _CIRCLE, _NUMBERS, _a, _count, _jitter, _mix, _named_colour, _pick, _shade, _u

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


# Fine kind of a face by its hair colour (a name in `_HAIRS`); shades a 64-pixel image mixes up share one.
_HAIR_KINDS = {"black": "dark hair", "dark": "dark hair", "brown": "dark hair", "blonde": "light hair",
               "grey": "light hair", "white": "light hair", "red": "red hair"}


class _Look(NamedTuple):
    """What `_face` drew: the caption pieces, then the hair style and colour name."""

    expression: str  # adjective of the mood, e.g. "happy"
    hair: str  # hair phrase, e.g. "long blonde hair"
    extra: str  # "with a beard", "wearing glasses" or ""
    style: str  # hair style: "short", "long", "bald", "curly" or "bun"
    colour: str  # hair colour, a name in `_HAIRS`

    @property
    def kind(self) -> str:
        """The face's fine kind: "bald", or its hair colour as in `_HAIR_KINDS`."""
        return "bald" if self.style == "bald" else _HAIR_KINDS[self.colour]


def _paint_faces(pen, rng, count=None):
    """One to three faces filling the frame; returns (caption phrase, fine kind: the face's, or "group")."""
    if count is None:
        count = _count(rng, 0.18, 0.08)
    if count == 1:
        look = _face(pen, rng)
        return _face_phrase(rng, look), look.kind
    looks = []
    for k in range(count):
        x = -1 + (2 * k + 1) / count + _u(rng, -0.08, 0.08)
        sub = pen.sub(x, _u(rng, -0.25, 0.25), _u(rng, 0.9, 1.15) * 1.2 / count, _u(rng, -12, 12))
        looks.append(_face(sub, rng))
    number = _NUMBERS[count]
    expression = looks[0].expression
    return _pick(rng, (
        f"{number} faces side by side",
        f"a group of {number} faces",
        f"{number} faces, one of them {expression}",
        f"{number} people's faces close together",
    )), "group"


def _face_phrase(rng, look):
    expression, hair, extra = look.expression, look.hair, look.extra
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
    `shoulders`, the top of a shirt; returns a `_Look`: the caption pieces (expression adjective,
    hair phrase, extra phrase or "") and the hair style and colour."""
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
    return _Look(_pick(rng, _EXPRESSIONS[mood]), hair_phrase, extra, style, hair_name)


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
