"""Bodies: full-length human figures in one of several poses (standing, walking, running, sitting,
jumping, waving, ...), seen from the front or the side, dressed in a coloured top or dress, alone or
in groups of two or three; and a figure whose head shows a face from `faces`, for images that hold
both a face and a body. The fine kind of a body image is the pose of its (first) figure, a key of
`_POSES`, with the poses a 64-pixel image mixes up merged as in `_POSE_KINDS`.
"""

from __future__ import annotations

from math import cos, radians, sin

from ._common import _CIRCLE, _NUMBERS, _a, _centre, _count, _jitter, _named_colour, _pick, _shade, _u
from .faces import _HAIRS, _SKINS, _face

_POSES = {
    "standing": "standing", "walking": "walking", "running": "running", "raised": "with arms raised",
    "waving": "waving", "sitting": "sitting", "jumping": "jumping", "hips": "with hands on hips",
}
# Fine kind of the poses that do not stand for themselves: at 64 pixels hands on hips look like
# standing, and a waving arm like raised arms.
_POSE_KINDS = {"raised": "arms up", "waving": "arms up", "hips": "standing"}
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
    """A human figure from head top (y=-1) to feet (y=1); returns (top colour name, garment, look):
    with `face`, look is the face's `faces._Look`, otherwise None."""
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
    """One to three people filling the frame; returns (caption phrase, fine kind: the first figure's pose)."""
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
    action, kind = _POSES[pose], _POSE_KINDS.get(pose, pose)
    colour, garment, _ = dressed[0]
    if count == 1:
        return _pick(rng, (
            f"a person {action} in {_a(colour)} {colour} {garment}",
            f"the body of a person {action}",
            f"a full-length view of a person {action}",
            f"a person in {_a(colour)} {colour} {garment}, {action}",
        )), kind
    number = _NUMBERS[count]
    if same:
        return _pick(rng, (f"{number} people {action}", f"a group of {number} people {action}")), kind
    return _pick(rng, (f"{number} people side by side", f"a group of {number} people",
                       f"the bodies of {number} people")), kind


def _paint_person_with_face(root, rng, face_main):
    """A figure whose head shows a face: close framing when the face is main, full length when
    the body is; returns (caption, fine kind of the main category: the face's or the pose's)."""
    if face_main:
        pen = root.sub(_u(rng, 0.4, 0.6), _u(rng, 0.85, 1.05), _u(rng, 0.75, 1.0), _u(rng, -6, 6))
        colour, garment, look = _figure(pen, rng, _pick(rng, ("standing", "waving", "raised", "hips")), face=True)
        expression = look.expression
        return (f"{_a(expression)} {expression} face and the upper body of a person in "
                f"{_a(colour)} {colour} {garment}"), look.kind
    half = _u(rng, 0.35, 0.47)
    pen = root.sub(_centre(rng, half * 0.5), 0.5 + _u(rng, -0.03, 0.03), half, _u(rng, -4, 4))
    pose = _pick(rng, tuple(_POSES))
    colour, garment, look = _figure(pen, rng, pose, face=True)
    expression = look.expression
    caption = f"a person {_POSES[pose]} in {_a(colour)} {colour} {garment} with {_a(expression)} {expression} face"
    return caption, _POSE_KINDS.get(pose, pose)
