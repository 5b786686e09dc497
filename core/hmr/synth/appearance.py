"""What a synthetic person looks like: skin tone, hair, and clothing by mesh region.

Every face of the Anny mesh belongs to the body that skins most of its vertices
(:func:`dominant_body_per_face`, shared with ``benchmarks/capture_synthetic_eval.py``) and has a
position along that segment (0 at the joint, 1 at the next joint down the chain) in the zero pose.
Clothing is a choice of regions on that map: a top (torso, down to a random hem over the pelvis;
sleeveless, short or long sleeves ending at a random point; plain or horizontally striped), a
bottom (shorts, knee-length, cropped or full-length legs), shoes (sometimes boots, sometimes
barefoot) and hair (a cap over the crown and the back of the head down to a random nape line;
sometimes bald). Colours are linear RGB for Blender.

Skin tones are drawn uniformly along the 10 swatches of the Monk Skin Tone scale (Monk 2019,
Google's published sRGB values), interpolated, with a small brightness and hue jitter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core import skeleton as sk

__all__ = [
    "MATERIALS",
    "Appearance",
    "FaceGeometry",
    "dominant_body_per_face",
    "face_geometry",
    "sample_appearance",
    "random_colour",
    "srgb_to_linear",
    "skin_tone",
]

MATERIALS = ("skin", "hair", "top", "top_stripe", "bottom", "shoes")
M = {n: i for i, n in enumerate(MATERIALS)}

MONK_SKIN_TONES = (
    "f6ede4",
    "f3e7db",
    "f7ead0",
    "eadaba",
    "d7bd96",
    "a07e56",
    "825c43",
    "604134",
    "3a312a",
    "292420",
)
_HAIR = (  # sRGB, probability
    ((0.05, 0.04, 0.035), 0.30),  # black
    ((0.17, 0.11, 0.07), 0.25),  # dark brown
    ((0.33, 0.20, 0.12), 0.12),  # brown
    ((0.55, 0.40, 0.27), 0.08),  # light brown
    ((0.78, 0.65, 0.45), 0.08),  # blonde
    ((0.45, 0.16, 0.08), 0.05),  # auburn
    ((0.55, 0.55, 0.55), 0.07),  # grey
    ((0.82, 0.80, 0.78), 0.05),  # white
)
# Segment ends: body -> the body whose origin ends it.
_LIMB_END = {
    **{f"humerus_{s}": f"ulna_{s}" for s in "rl"},
    **{f"ulna_{s}": f"hand_{s}" for s in "rl"},
    **{f"radius_{s}": f"hand_{s}" for s in "rl"},
    **{f"femur_{s}": f"tibia_{s}" for s in "rl"},
    **{f"tibia_{s}": f"talus_{s}" for s in "rl"},
}
_TORSO = ("lumbar", "thorax", "scapula_r", "scapula_l")
_FEET = tuple(f"{b}_{s}" for b in ("talus", "calcn", "toes") for s in "rl")


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _hex(h: str) -> np.ndarray:
    return np.array([int(h[i : i + 2], 16) / 255.0 for i in (0, 2, 4)])


def skin_tone(rng: np.random.Generator) -> np.ndarray:
    """Linear RGB of a skin tone along the Monk scale, with a little jitter."""
    tones = np.stack([_hex(h) for h in MONK_SKIN_TONES])
    u = rng.uniform(0, len(tones) - 1)
    i = min(int(u), len(tones) - 2)
    c = tones[i] * (1 - (u - i)) + tones[i + 1] * (u - i)
    c = c * rng.uniform(0.93, 1.05) * rng.uniform(0.97, 1.03, 3)
    return srgb_to_linear(np.clip(c, 0, 1))


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """Linear RGB of a clothing or object colour: a third greys/black/white, the rest any hue;
    one in six dark."""
    h = rng.uniform(0, 1)
    s = rng.uniform(0.0, 0.15) if rng.random() < 0.33 else rng.uniform(0.2, 0.95)
    v = rng.uniform(0.06, 0.3) if rng.random() < 1 / 6 else rng.uniform(0.3, 1.0)
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return srgb_to_linear(np.array(rgb))


def _hair_colour(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.03:  # dyed
        return random_colour(rng)
    cols, p = zip(*_HAIR, strict=True)
    c = np.array(cols[rng.choice(len(cols), p=np.array(p) / sum(p))])
    return srgb_to_linear(np.clip(c * rng.uniform(0.85, 1.15), 0, 1))


def dominant_body_per_face(subject, body_value: np.ndarray | None = None) -> np.ndarray:
    """(F,) per face: the body that skins most of each vertex, voted over the face's three
    vertices (the value two share, else the first's). With ``body_value`` (24,), the vote is over
    those values (e.g. a material per body) instead of the body indices."""
    s = subject.surface
    top = s.skin_bodies[np.arange(len(s.skin_bodies)), np.argmax(s.skin_weights, 1)]
    if body_value is not None:
        top = np.asarray(body_value)[top]
    vm = top[np.asarray(s.faces)]  # (F, 3)
    return np.where(vm[:, 1] == vm[:, 2], vm[:, 1], vm[:, 0])


@dataclass(frozen=True)
class FaceGeometry:
    body: np.ndarray  # (F,) dominant body
    along: np.ndarray  # (F,) 0 at the segment's joint .. 1 at the next joint (limbs; else 0)
    centroid_m: np.ndarray  # (F, 3) zero pose, pelvis origin at 0, OpenSim axes
    head_local_m: np.ndarray  # (F, 3) centroid relative to the head joint (C7/T1)
    head_top_m: float  # highest head point above the head joint
    scale: float  # stature / 1.75 m


def face_geometry(subject) -> FaceGeometry:
    verts = np.asarray(subject.surface.vertices_m)
    faces = np.asarray(subject.surface.faces)
    jc = np.asarray(subject.joint_centres_m)
    body = dominant_body_per_face(subject)
    cen = verts[faces].mean(1)
    along = np.zeros(len(faces))
    for b, e in _LIMB_END.items():
        sel = body == sk.BODY[b]
        a, z = jc[sk.BODY[b]], jc[sk.BODY[e]]
        d = z - a
        along[sel] = (cen[sel] - a) @ d / (d @ d)
    head = cen - jc[sk.BODY["head"]]
    on_head = body == sk.BODY["head"]
    return FaceGeometry(
        body=body,
        along=along,
        centroid_m=cen,
        head_local_m=head,
        head_top_m=float(head[on_head, 1].max()),
        scale=float(subject.height_m) / 1.75,
    )


def _in(body: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    return np.isin(body, [sk.BODY[n] for n in names])


@dataclass(frozen=True)
class Appearance:
    face_material: np.ndarray  # (F,) uint8 index into MATERIALS
    material_rgb: np.ndarray  # (len(MATERIALS), 3) linear RGB
    style: str  # e.g. "short-sleeves/shorts/shoes/hair"


def sample_appearance(rng: np.random.Generator, g: FaceGeometry) -> Appearance:
    s = g.scale
    b = g.body
    mat = np.full(len(b), M["skin"], dtype=np.uint8)
    bodies = {n: b == i for n, i in sk.BODY.items()}
    words = []

    # Bottom: the pelvis below the hem, and the legs down to where the garment ends.
    hem = rng.uniform(-0.10, 0.06) * s  # top's hem relative to the pelvis origin (mid-ASIS)
    pelvis = bodies["pelvis"]
    mat[pelvis] = M["bottom"]
    u = rng.random()
    if u < 0.3:
        thigh, shank, kind = rng.uniform(0.25, 0.75), -1.0, "shorts"
    elif u < 0.4:
        thigh, shank, kind = 1.01, 0.05, "knee-length"
    elif u < 0.55:
        thigh, shank, kind = 1.01, rng.uniform(0.4, 0.75), "cropped"
    else:
        thigh, shank, kind = 1.01, 1.01, "trousers"
    words.append(kind)
    legs = (_in(b, ("femur_r", "femur_l")) & (g.along < thigh)) | (
        _in(b, ("tibia_r", "tibia_l")) & (g.along < shank)
    )
    mat[legs] = M["bottom"]

    # Top: torso, pelvis above the hem, sleeves.
    top = _in(b, _TORSO) | (pelvis & (g.centroid_m[:, 1] > hem))
    u = rng.random()
    if u < 0.15:
        upper, fore, kind = 0.08, -1.0, "sleeveless"
    elif u < 0.55:
        upper, fore, kind = rng.uniform(0.25, 0.6), -1.0, "short-sleeves"
    else:
        upper, fore, kind = 1.01, rng.uniform(0.7, 1.0), "long-sleeves"
    words.append(kind)
    top |= _in(b, ("humerus_r", "humerus_l")) & (g.along < upper)
    top |= _in(b, ("ulna_r", "ulna_l", "radius_r", "radius_l")) & (g.along < fore)
    mat[top] = M["top"]
    if rng.random() < 0.2:
        period = rng.uniform(0.03, 0.12) * s
        stripe = np.floor(g.centroid_m[:, 1] / period + rng.uniform(0, 1)) % 2 == 1
        mat[top & stripe] = M["top_stripe"]
        words.append("striped")

    # Feet: shoes, boots or bare.
    u = rng.random()
    if u < 0.08:
        words.append("barefoot")
    else:
        feet = _in(b, _FEET)
        if u < 0.25:
            feet |= _in(b, ("tibia_r", "tibia_l")) & (g.along > rng.uniform(0.6, 0.85))
            words.append("boots")
        else:
            feet |= _in(b, ("tibia_r", "tibia_l")) & (g.along > 0.97)
            words.append("shoes")
        mat[feet] = M["shoes"]

    # Hair: crown and the back of the head.
    skin = skin_tone(rng)
    if rng.random() < 0.1:
        hair_rgb = skin
        words.append("bald")
    else:
        hl = g.head_local_m
        crown = hl[:, 1] > g.head_top_m - rng.uniform(0.05, 0.085) * s
        back = (hl[:, 0] < rng.uniform(-0.03, 0.0) * s) & (hl[:, 1] > rng.uniform(0.08, 0.15) * s)
        mat[bodies["head"] & (crown | back)] = M["hair"]
        hair_rgb = _hair_colour(rng)
        words.append("hair")

    rgb = np.zeros((len(MATERIALS), 3))
    rgb[M["skin"]] = skin
    rgb[M["hair"]] = hair_rgb
    rgb[M["top"]] = random_colour(rng)
    rgb[M["top_stripe"]] = random_colour(rng)
    rgb[M["bottom"]] = rgb[M["top"]] if rng.random() < 0.08 else random_colour(rng)
    rgb[M["shoes"]] = random_colour(rng)
    return Appearance(mat, rgb, "/".join(words))
