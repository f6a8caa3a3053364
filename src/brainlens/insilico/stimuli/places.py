"""Places: indoor rooms in one-point perspective (a living room, bedroom, kitchen or plain room, with
windows, doors, shelves, tables, pictures and plants) and outdoor scenes under a sky (a street, a
city skyline, mountains, a lake or beach, a park). Scenes are painted on the unit square; both kinds
keep the horizon at eye level, so that people and things put in later (by `compose`) can be sized
by perspective, and each returns a `_Backdrop` that tells them where the horizon and floor lie and
names the place's fine kind (the outdoor painter, with lake and beach apart, or the kind of room).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import pi, sin

from ._common import _WHITE, _a, _bands, _jitter, _mix, _named_colour, _pick, _shade, _u


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
    kind: str  # fine kind: "street", "city", "mountains", "lake", "beach", "park", or the kind of room
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
    phrase, short, kind = painter(pen, rng, horizon, low, _SKY_WORDS[sky], sky == "dusk")
    return _Backdrop(phrase, short, kind, horizon, horizon, None)


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
            _pick(rng, ("an outdoor street", "a street")), "street")


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
            _pick(rng, ("an outdoor city", "a city skyline")), "city")


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
            _pick(rng, ("an outdoor landscape", "a mountain landscape")), "mountains")


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
                _pick(rng, ("an outdoor beach", "a beach")), "beach")
    return (_pick(rng, (f"a calm lake surrounded by hills {when}", "an outdoor lake with hills on the far shore")),
            _pick(rng, ("an outdoor lake", "a lake")), "lake")


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
            _pick(rng, ("an outdoor park", "a park")), "park")


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
    return _Backdrop(phrase, short, kind, room.vy, y1, room)


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
