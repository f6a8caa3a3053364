"""Food: dishes seen from above, a plate, bowl or board (or the bare table) holding food of one
palette, warm (apples, oranges, strawberries, carrots, bananas, cookies, fries, sausages, pizza,
cake, bread, a sandwich) or green (salad, broccoli, green apples, peas, cucumber, kiwi, limes,
grapes, beans); a squashed frame makes a dish look seen at an angle. The fine kind of a food image
is the food of its (first) dish, a name in `_WARM_DISHES` or `_GREEN_DISHES`.
"""

from __future__ import annotations

from math import cos, pi, sin, sqrt

from ._common import _WHITE, _a, _jitter, _mix, _pick, _shade, _u


def _paint_meal(pen, rng, warm):
    """Food as the only category: one dish, sometimes two, sometimes with cutlery; returns (caption
    phrase, fine kind of the first, larger dish)."""
    flat = pen.sub(0, 0, 1, squash=_u(rng, 0.6, 1.0))
    if rng.random() < 0.2:
        first, kind = _paint_dish(flat.sub(-0.45, -0.25, 0.55, _u(rng, 0, 360)), rng, warm)
        second, _ = _paint_dish(flat.sub(0.5, 0.35, 0.45, _u(rng, 0, 360)), rng, warm)
        return f"{first} and {second}", kind
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
    """A container with food of one palette (warm or green) in the unit frame; returns (caption phrase,
    fine kind: the name of the dish)."""
    kind, painter = _pick(rng, _WARM_DISHES if warm else _GREEN_DISHES)
    return painter(pen, rng), kind


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
        for _ in range(4):
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
    for _ in range(int(_u(rng, 14, 24))):
        t, d = _u(rng, 0, 2 * pi), radius * sqrt(rng.random()) * 0.85
        _leaf(pen, rng, d * cos(t), d * sin(t), radius * _u(rng, 0.18, 0.3))
    cucumber = _slice((40, 110, 40), (190, 220, 150), (200, 225, 170), (230, 240, 200))
    for _ in range(int(_u(rng, 0, 5))):
        t, d = _u(rng, 0, 2 * pi), radius * sqrt(rng.random()) * 0.7
        cucumber(pen, rng, d * cos(t), d * sin(t), radius * 0.14)
    return _dish_phrase(rng, container, _pick(rng, ("green salad", "fresh green salad leaves")))


# (fine kind, painter) of each dish; `_paint_dish` picks one with equal chance.
_WARM_DISHES = (
    ("red apples", lambda pen, rng: _scattered(pen, rng, ("plate", "bowl", None), (3, 8), _fruit((190, 30, 35)),
                                               "red apples")),
    ("oranges", lambda pen, rng: _scattered(pen, rng, ("bowl", "plate", None), (3, 7),
                                            _fruit((240, 135, 25), stem=False), "ripe orange fruit")),
    ("strawberries", lambda pen, rng: _scattered(pen, rng, ("plate", "bowl"), (5, 12), _strawberry,
                                                 "red strawberries")),
    ("carrots", lambda pen, rng: _scattered(pen, rng, ("board", "plate", None), (3, 7), _carrot, "orange carrots")),
    ("bananas", lambda pen, rng: _scattered(pen, rng, ("plate", "bowl", None), (2, 5), _banana, "yellow bananas")),
    ("cookies", lambda pen, rng: _scattered(pen, rng, ("plate", "board", None), (4, 9), _cookie, "brown cookies")),
    ("fries", lambda pen, rng: _scattered(pen, rng, ("plate", "bowl"), (10, 22), _stick((235, 190, 60), 0.9, 0.3),
                                          "yellow french fries")),
    ("sausages", lambda pen, rng: _scattered(pen, rng, ("plate", "board"), (3, 6), _stick((150, 80, 40), 1.4, 0.45),
                                             "brown sausages")),
    ("pizza", _pizza),
    ("cake", _cake),
    ("bread", _bread),
    ("sandwich", _sandwich),
)
_GREEN_DISHES = (
    ("salad", _salad),
    ("broccoli", lambda pen, rng: _scattered(pen, rng, ("plate", "bowl", None), (4, 9), _floret, "green broccoli")),
    ("green apples", lambda pen, rng: _scattered(pen, rng, ("plate", "bowl", None), (3, 8), _fruit((140, 190, 60)),
                                                 "green apples")),
    ("peas", lambda pen, rng: _scattered(pen, rng, ("bowl", "plate"), (25, 45),
                                         _fruit((90, 160, 50), stem=False, shine=0.3), "green peas")),
    ("cucumber", lambda pen, rng: _scattered(pen, rng, ("plate", "board"), (5, 12),
                                             _slice((40, 110, 40), (190, 220, 150), (200, 225, 170), (230, 240, 200)),
                                             "sliced green cucumber")),
    ("kiwi", lambda pen, rng: _scattered(pen, rng, ("plate", "board"), (4, 9),
                                         _slice((120, 100, 60), (110, 170, 50), (220, 230, 190), (20, 20, 15)),
                                         "green kiwi slices")),
    ("limes", lambda pen, rng: _scattered(pen, rng, ("bowl", "plate", None), (3, 7), _fruit((70, 160, 50), stem=False),
                                          "green limes")),
    ("grapes", lambda pen, rng: _scattered(pen, rng, ("bowl", "plate"), (3, 6), _grapes, "green grapes")),
    ("beans", lambda pen, rng: _scattered(pen, rng, ("plate", "bowl"), (8, 16), _stick((70, 150, 50), 1.5, 0.25),
                                          "green beans")),
)
