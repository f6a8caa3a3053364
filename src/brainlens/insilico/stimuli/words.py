"""Words: one to three lines of short real words, none of them a category name, in upper, title or
lower case, on a sign, a sheet of paper, a chalkboard or a label, or straight on whatever lies
beneath, in a named colour that contrasts with its background. The fine kind of a word image is
its backing, a value of `_BACKING_KINDS`.
"""

from __future__ import annotations

from ._common import (
    _NUMBERS,
    _WHITE,
    _contrasting_colour,
    _count,
    _jitter,
    _luma,
    _mix,
    _named_colour,
    _pick,
    _u,
)

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
# fine kind of each backing
_BACKING_KINDS = {"none": "plain text", "sign": "sign", "paper": "paper", "board": "chalkboard", "label": "label"}


def _paint_word(pen, rng, backing):
    """One to three lines of words in the unit frame on `backing` (a key of `_BACKINGS`);
    returns (caption phrase, fine kind of the backing)."""
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

    where, kind = _BACKINGS[backing], _BACKING_KINDS[backing]
    if len(words) == 1:
        word = lines[0]
        return _pick(rng, (
            f"the word '{word}' in {name} letters{where}",
            f"{name} text reading '{word}'{where}",
            f"the word '{word}' written in {name}{where}",
            f"'{word}' in large {name} letters{where}",
        )), kind
    quoted = ", ".join(f"'{line}'" for line in lines[:-1]) + f" and '{lines[-1]}'"
    return _pick(rng, (
        f"the words {quoted} in {name} letters{where}",
        f"{name} text reading '{' '.join(lines)}'{where}",
        f"{_NUMBERS[len(lines)]} lines of {name} text{where}, {quoted}",
    )), kind
