"""Drawing primitives and shared backdrops: `_Pen`, which draws shapes given in a local frame that
an affine map takes to pixels, so a painter never needs to know where its thing lies; the random
helpers (`_u`, `_pick`, `_count`, `_centre`, ...), colour helpers and named colours every renderer
uses; and the backgrounds of images without a place, a muted backdrop (gradient, blotches, a wall
over a surface or a pattern) under low-contrast clutter, or a table top seen from above for food.
"""

from __future__ import annotations

import colorsys
from functools import cache
from math import atan2, cos, degrees, pi, radians, sin, sqrt

import numpy as np
from PIL import Image, ImageDraw, ImageFont

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


@cache
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


def _centre(rng, half):
    """A centre coordinate that keeps most of a thing of half-width `half` inside the frame."""
    return 0.5 + _u(rng, -1.0, 1.0) * max(0.0, 0.5 - 0.85 * half)


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
