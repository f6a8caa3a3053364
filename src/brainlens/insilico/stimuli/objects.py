"""Objects: everyday things (a car or van, a mug or cup, a chair, a lamp, a bottle, a hammer,
scissors, a ball, a clock, an umbrella, a toy house, books, a bicycle) in named colours, one to three
to an image. Each painter fills the unit frame with one thing and returns its caption phrase and fine
kind: its key in `_OBJECTS`, except that a ball names its sport ("beach ball", "basketball", ...).
A van counts as a car, a cup as a mug, an alarm clock as a clock and one book as books.
"""

from __future__ import annotations

from math import cos, pi, sin

from ._common import (
    _NUMBERS,
    _WHITE,
    _a,
    _contrasting_colour,
    _count,
    _jitter,
    _mix,
    _named_colour,
    _pick,
    _shade,
    _u,
)


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
    return f"{_a(name)} {name} {'van' if van else 'car'}", "car"


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
    return f"{_a(name)} {name} {'cup on a saucer' if cup else 'mug'}", "mug"


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
    return ("a wooden chair" if name == "brown" else f"{_a(name)} {name} chair"), "chair"


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
    return f"a lamp with {_a(name)} {name} shade", "lamp"


def _bottle(pen, rng):
    name, glass = _named_colour(rng, ("green", "brown", "blue", "white", "red", "teal"))
    pen.rect(-0.15, -0.95, 0.15, -0.8, _named_colour(rng)[1])
    pen.poly([(-0.32, 0.95), (0.32, 0.95), (0.32, -0.2), (0.13, -0.48), (0.13, -0.82), (-0.13, -0.82),
              (-0.13, -0.48), (-0.32, -0.2)], glass, _shade(glass, 0.7), 0.02)
    pen.rect(-0.32, 0.1, 0.32, 0.6, _jitter(rng, (235, 230, 210), 20))
    pen.line([(-0.2, -0.15), (-0.2, 0.85)], _mix(glass, _WHITE, 0.4), 0.05)
    return f"{_a(name)} {name} bottle", "bottle"


def _hammer(pen, rng):
    name, grip = _named_colour(rng, ("brown", "red", "yellow", "black", "blue", "orange"))
    metal = _jitter(rng, (150, 150, 155), 15)
    pen = pen.sub(0, 0, 1, _u(rng, -60, 60))
    pen.rect(-0.08, -0.55, 0.08, 0.95, grip, _shade(grip, 0.7), 0.015)
    pen.rect(-0.1, 0.4, 0.1, 0.95, _shade(grip, 0.75))
    pen.rect(-0.5, -0.8, 0.3, -0.5, metal, _shade(metal, 0.7), 0.015)
    pen.rect(-0.62, -0.78, -0.5, -0.52, _shade(metal, 0.85))
    pen.poly([(0.3, -0.8), (0.7, -0.95), (0.62, -0.75), (0.3, -0.62)], metal)
    return f"a hammer with {_a(name)} {name} handle", "hammer"


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
    return f"a pair of {name} scissors", "scissors"


# fine kind of each kind of ball
_BALLS = {"beach": "beach ball", "basket": "basketball", "soccer": "soccer ball", "tennis": "tennis ball"}


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
    return phrase, _BALLS[kind]


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
    return ("an alarm clock" if alarm else f"{_a(name)} {name} wall clock"), "clock"


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
    return f"{_a(name)} {name} umbrella", "umbrella"


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
    return f"a toy house with {_a(roof_name)} {roof_name} roof", "house"


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
        return f"a stack of {_NUMBERS.get(count, 'four')} books", "books"
    name, cover = _named_colour(rng)
    pen.poly([(0.55, -0.85), (0.68, -0.78), (0.68, 0.92), (0.55, 0.85)], pages)
    pen.rect(-0.6, -0.85, 0.55, 0.85, cover, _shade(cover, 0.6), 0.02)
    pen.rect(-0.6, -0.85, -0.45, 0.85, _shade(cover, 0.75))
    pen.rect(-0.3, -0.55, 0.4, -0.3, _mix(cover, _WHITE, 0.5))
    return f"{_a(name)} {name} book", "books"


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
    return f"{_a(name)} {name} bicycle", "bicycle"


_OBJECTS = {
    "car": _car, "mug": _mug, "chair": _chair, "lamp": _lamp, "bottle": _bottle, "hammer": _hammer,
    "scissors": _scissors, "ball": _ball, "clock": _clock, "umbrella": _umbrella, "house": _toy_house,
    "books": _books, "bicycle": _bicycle,
}
_INDOOR_OBJECTS = ("chair", "lamp", "ball", "books", "bottle", "mug", "clock")
_OUTDOOR_OBJECTS = ("car", "car", "bicycle", "ball", "umbrella")


def _paint_objects(pen, rng, count=None, kinds=tuple(_OBJECTS)):
    """One to three objects of `kinds` in the unit frame; returns (caption phrase, fine kind of the
    first object)."""
    if count is None:
        count = _count(rng, 0.2, 0.05)
    if count == 1:
        return _OBJECTS[_pick(rng, kinds)](pen, rng)
    phrases, first = [], None
    for k in range(count):
        x = (-1 + (2 * k + 1) / count) * 0.95
        sub = pen.sub(x, _u(rng, -0.3, 0.3), _u(rng, 0.85, 1.1) * 1.2 / count, _u(rng, -15, 15))
        phrase, kind = _OBJECTS[_pick(rng, kinds)](sub, rng)
        phrases.append(phrase)
        first = first or kind
    return ", ".join(phrases[:-1]) + f" and {phrases[-1]}", first
