"""The character's soles at rest, for foot locking: vertices of the meshes it deforms that follow
its foot and toe bones, or (no mesh) points on the floor under its foot and toe bones."""

from __future__ import annotations

import numpy as np

from .logic.footlock import FootSoles, soles_from_points

_PREFIXES = ("DEF-", "ORG-", "MCH-")


def _base(name: str) -> str:
    for p in _PREFIXES:
        if name.startswith(p):
            name = name[len(p) :]
    return name.replace("_fk", "")


def _subtree(bone) -> set[str]:
    return {bone.name, *(c.name for c in bone.children_recursive)}


def _deformed_meshes(arm):
    import bpy

    return [
        o
        for o in bpy.data.objects
        if o.type == "MESH"
        and any(m.type == "ARMATURE" and m.object is arm for m in o.modifiers)
        and len(o.data.vertices)
    ]


def _owner_of_groups(arm, foot: str, toe: str | None) -> dict[str, int]:
    """Vertex-group name -> 0 (moves with the foot bone) or 1 (with the toe bone)."""
    bones = arm.data.bones
    toe_set = _subtree(bones[toe]) if toe else set()
    foot_set = _subtree(bones[foot]) - toe_set
    out = {}
    for b in bones:
        if b.name in toe_set or (toe and _base(b.name) == _base(toe)):
            out[b.name] = 1
        elif b.name in foot_set or _base(b.name) == _base(foot):
            out[b.name] = 0
    return out


def _mesh_points(arm, owners: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices mostly weighted to the foot/toe bones: rest points (armature space), owner
    (0 foot, 1 toe) and whether nothing else moves them (>= 95 % of their weight)."""
    pts, own, rigid = [], [], []
    arm_inv = np.array(arm.matrix_world.inverted())
    for obj in _deformed_meshes(arm):
        gi = {g.index: owners[g.name] for g in obj.vertex_groups if g.name in owners}
        if not gi:
            continue
        m = arm_inv @ np.array(obj.matrix_world)
        co = np.empty(len(obj.data.vertices) * 3)
        obj.data.vertices.foreach_get("co", co)
        co = co.reshape(-1, 3) @ m[:3, :3].T + m[:3, 3]
        all_groups = {g.index for g in obj.vertex_groups}
        for v in obj.data.vertices:
            w = [0.0, 0.0]
            total = 0.0
            for g in v.groups:
                if g.group in all_groups:
                    total += g.weight
                if g.group in gi:
                    w[gi[g.group]] += g.weight
            if total > 0 and (w[0] + w[1]) >= 0.5 * total:
                pts.append(co[v.index])
                own.append(0 if w[0] >= w[1] else 1)
                rigid.append((w[0] + w[1]) >= 0.95 * total)
    return np.array(pts).reshape(-1, 3), np.array(own, dtype=np.int64), np.array(rigid, bool)


def _bone_points(arm, foot: str, toe: str | None, up, floor_h: float):
    bones = arm.data.bones
    fb = bones[foot]
    pts = [np.array(fb.head_local), np.array(fb.tail_local)]
    own = [0, 0]
    if toe:
        pts.append(np.array(bones[toe].tail_local))
        own.append(1)
    pts = np.array(pts)
    pts = pts - ((pts @ up) - floor_h)[:, None] * up  # onto the floor under each point
    return pts, np.array(own)


def target_soles(arm, roles: dict[str, str], up, forward, floor_h: float) -> dict[str, FootSoles]:
    """side -> FootSoles in armature space (rest)."""
    out = {}
    for s in "lr":
        foot, toe = roles.get(f"foot_{s}"), roles.get(f"toe_{s}")
        if foot is None:
            continue
        pts, own, rigid = _mesh_points(arm, _owner_of_groups(arm, foot, toe))
        if len(pts) < 4:
            pts, own = _bone_points(arm, foot, toe, np.asarray(up), floor_h)
            rigid = None
        out[s] = soles_from_points(pts, own, np.asarray(up), np.asarray(forward), rigid)
    return out
