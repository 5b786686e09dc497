"""SMPL-family parameters -> BSM-46 (biomech_export.smpl), with a SYNTHETIC SMPL-format model.

The licensed SMPL files are not here. The synthetic model puts our Anny subject's surface into
the SMPL file format (6890 vertices, SMPL's 24-joint tree and axes): the marker-table vertices
carry the matching Anny landmarks, joints sit at the BSM-46 joint centres, skin weights come
from the subject's skinning. This checks the readers, the axis and pose conventions, smplx's
skinning call, the marker picking and the IK; it cannot check that the vertex table points at
the right anatomy on the real SMPL mesh.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from biomech_export import smpl
from biomech_export.cli import main
from core import skeleton as sk
from core.motion import Motion
from tests.conftest import REPO

os.environ.setdefault("ANNY_CACHE_DIR", str(REPO / ".cache" / "anny"))

SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
# SMPL joint -> BSM-46 body whose origin it sits at (None: placed between neighbours).
SMPL_JOINT_BODY = [
    "pelvis", "femur_l", "femur_r", "lumbar", "tibia_l", "tibia_r", None, "talus_l", "talus_r",
    "thorax", "toes_l", "toes_r", "head", "scapula_l", "scapula_r", None, "humerus_l",
    "humerus_r", "ulna_l", "ulna_r", "hand_l", "hand_r", None, None,
]  # fmt: skip
BODY_TO_SMPL_JOINT = {
    "pelvis": 0, "lumbar": 3, "thorax": 9, "head": 12,
    **{f"femur_{s}": j for s, j in (("l", 1), ("r", 2))},
    **{f"tibia_{s}": j for s, j in (("l", 4), ("r", 5))},
    **{f"{b}_{s}": j for b in ("talus", "calcn") for s, j in (("l", 7), ("r", 8))},
    **{f"toes_{s}": j for s, j in (("l", 10), ("r", 11))},
    **{f"scapula_{s}": j for s, j in (("l", 13), ("r", 14))},
    **{f"humerus_{s}": j for s, j in (("l", 16), ("r", 17))},
    **{f"{b}_{s}": j for b in ("ulna", "radius") for s, j in (("l", 18), ("r", 19))},
    **{f"hand_{s}": j for s, j in (("l", 20), ("r", 21))},
}  # fmt: skip


def _affine_row(points: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Weights w (sum 1) with w @ points == target, over the 4 given points."""
    a = np.vstack([points.T, np.ones(len(points))])
    return np.linalg.lstsq(a, np.append(target, 1.0), rcond=None)[0]


@pytest.fixture(scope="module")
def synthetic_model(tmp_path_factory):
    from core.body import default_subject

    subj = default_subject()
    v_os = subj.surface.vertices_m
    table = dict(smpl.SMPL_MARKER_VERTICES)
    # Store the right wrist pair swapped, so the run-time ordering has something to fix.
    table["R_wrist_radius"], table["R_wrist_ulna"] = table["R_wrist_ulna"], table["R_wrist_radius"]
    mindex = {n: i for i, n in enumerate(subj.marker_names)}
    n = smpl.N_VERTS_SMPL
    src = np.full(n, -1)
    for name, vid in table.items():
        src[vid] = subj.marker_vertices[mindex[name]]
    free_slots = np.flatnonzero(src < 0)
    tips = smpl.THUMB_PINKY_VERTICES[n]
    others = np.setdiff1d(np.arange(len(v_os)), src[src >= 0])
    fill = others[np.linspace(0, len(others) - 1, len(free_slots)).astype(int)]
    src[free_slots] = fill
    verts = v_os[src].copy()
    bodies_k, weights_k = subj.surface.skin_bodies[src], subj.surface.skin_weights[src]
    w = np.zeros((n, 24))
    for k in range(bodies_k.shape[1]):
        j = np.array([BODY_TO_SMPL_JOINT[sk.BODY_NAMES[b]] for b in bodies_k[:, k]])
        np.add.at(w, (np.arange(n), j), weights_k[:, k])
    lm = {nm: v_os[subj.marker_vertices[i]] for i, nm in enumerate(subj.marker_names)}
    for s in ("R", "L"):  # finger tips below the styloids: thumb on the radial side
        hand = 21 if s == "R" else 20
        for tip, styloid in (("thumb", "wrist_radius"), ("pinky", "wrist_ulna")):
            vid = tips[f"{s}_{tip}"]
            verts[vid] = lm[f"{s}_{styloid}"] + np.array([0.0, -0.08, 0.0])
            w[vid] = 0.0
            w[vid, hand] = 1.0
    jc = subj.joint_centres_m
    joints = np.zeros((24, 3))
    for j, b in enumerate(SMPL_JOINT_BODY):
        if b is not None:
            joints[j] = jc[sk.BODY[b]]
    joints[6] = 0.5 * (joints[3] + joints[9])
    joints[15] = joints[12] + [0.0, 0.1, 0.0]
    joints[22], joints[23] = joints[20] - [0, 0.08, 0], joints[21] - [0, 0.08, 0]
    jreg = np.zeros((24, n))
    for j in range(24):
        near = np.argsort(np.linalg.norm(verts - joints[j], axis=1))[:4]
        jreg[j, near] = _affine_row(verts[near], joints[j])
    to_smpl = smpl.SMPL_TO_OPENSIM.T  # OpenSim -> SMPL canonical
    keep = np.full(len(v_os), -1)
    keep[src] = np.arange(n)
    faces = keep[subj.surface.faces]
    faces = faces[(faces >= 0).all(1)]
    kintree = np.stack([np.array(SMPL_PARENTS) % (2**32), np.arange(24)])
    folder = tmp_path_factory.mktemp("smpl_models")
    path = folder / "SMPL_NEUTRAL.npz"
    np.savez(
        path,
        v_template=verts @ to_smpl.T,
        shapedirs=np.zeros((n, 3, 10)),
        posedirs=np.zeros((n, 3, 207)),
        J_regressor=jreg,
        weights=w,
        kintree_table=kintree,
        f=faces,
    )
    return path


def _knee_sequence(t: int = 8) -> dict[str, np.ndarray]:
    """AMASS-style SMPL-H sequence: Z-up world, right knee bending 0..70 deg."""
    knee = np.deg2rad(np.linspace(0.0, 70.0, t))
    poses = np.zeros((t, 156))
    poses[:, 0:3] = Rotation.from_euler("x", 90, degrees=True).as_rotvec()  # Y-up body -> Z-up
    poses[:, 3 + 3 * 4] = knee  # body joint 5 (R_knee) is body_pose entry 4; +x = flexion
    trans = np.stack([np.linspace(0, 0.5, t), np.zeros(t), np.full(t, 0.9)], 1)
    return {"poses": poses, "trans": trans, "betas": np.zeros(16), "mocap_framerate": 60.0}


def test_amass_knee_bend_comes_out_as_knee_flexion(synthetic_model, tmp_path):
    seq = _knee_sequence()
    src = tmp_path / "walk_amass.npz"
    np.savez(src, **seq, gender="neutral")
    conv = smpl.smpl_to_motion(src, synthetic_model.parent)
    m = conv.motion
    assert m.fps == 60.0 and m.n_frames == 8
    assert conv.wrists_swapped == ["R"]
    want = np.rad2deg(seq["poses"][:, 3 + 3 * 4])
    got = np.rad2deg(m.q_rad[:, sk.DOF["knee_angle_r"]])
    assert np.max(np.abs(got - want)) < 1.0, (got, want)
    others = np.delete(m.q_rad, sk.DOF["knee_angle_r"], axis=1)
    assert np.max(np.abs(np.rad2deg(others))) < 2.0
    assert conv.rest_rms_m < 0.005 and np.nanmax(conv.marker_rms_m) < 0.01
    assert sk.limit_violations(m.q_rad) == 0
    # Z-up world -> OpenSim Y up: the pelvis stays at ~0.9 m height, forward motion horizontal.
    assert abs(np.median(m.root_m[:, 1]) - 0.9) < 0.1
    assert np.ptp(m.root_m[:, 1]) < 0.03 and np.ptp(m.root_m[:, [0, 2]]) > 0.4
    assert "smplx" in m.provenance["convert"]["via"]


def test_cli_convert_smpl(synthetic_model, tmp_path, capsys):
    src = tmp_path / "clip.npz"
    np.savez(src, **_knee_sequence(4))
    out = tmp_path / "clip.motion.npz"
    args = ["convert", str(src), "-o", str(out), "--smpl-model", str(synthetic_model)]
    assert main(args + ["--fps", "30"]) == 0
    m = Motion.load(out)
    assert m.fps == 30.0 and m.n_frames == 4
    assert np.rad2deg(m.q_rad[-1, sk.DOF["knee_angle_r"]]) > 60


def test_missing_model_names_the_option(tmp_path, capsys):
    src = tmp_path / "clip.npz"
    np.savez(src, **_knee_sequence(2))
    assert main(["convert", str(src), "-o", str(tmp_path / "x.motion.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--smpl-model" in err[0]
    assert main(["convert", str(src), "-o", str(tmp_path / "x.motion.npz"),
                 "--smpl-model", str(tmp_path / "nowhere")]) == 2  # fmt: skip
    assert "--smpl-model" in capsys.readouterr().err


def test_readers_agree_across_layouts(tmp_path):
    """AMASS axis-angle, a 4D-Humans-style pkl with rotation matrices and a GVHMR-style nested
    dict give the same parameters."""
    import pickle

    import torch

    rng = np.random.default_rng(0)
    t = 5
    go = rng.normal(0, 0.5, (t, 3))
    body = rng.normal(0, 0.3, (t, 23, 3))
    transl = rng.normal(0, 1, (t, 3))
    betas = rng.normal(0, 1, 10)
    amass = tmp_path / "a.npz"
    np.savez(amass, poses=np.concatenate([go, body.reshape(t, -1)], 1), trans=transl,
             betas=betas, mocap_frame_rate=np.array(120.0))  # fmt: skip
    mats = tmp_path / "b.pkl"
    with open(mats, "wb") as f:
        pickle.dump(
            {
                "global_orient": Rotation.from_rotvec(go).as_matrix()[:, None],
                "body_pose": Rotation.from_rotvec(body.reshape(-1, 3))
                .as_matrix()
                .reshape(t, 23, 3, 3),
                "betas": np.tile(betas, (t, 1)),
                "transl": transl,
            },
            f,
        )
    nested = tmp_path / "c.pt"
    torch.save(
        {
            "smpl_params_incam": {"body_pose": torch.zeros(t, 63)},
            "smpl_params_global": {
                "global_orient": torch.tensor(go),
                "body_pose": torch.tensor(body[:, :21].reshape(t, 63)),
                "betas": torch.tensor(betas)[None].expand(t, 10),
                "transl": torch.tensor(transl),
            },
        },
        nested,
    )
    a, b, c = (smpl.read_smpl_params(p) for p in (amass, mats, nested))
    assert a.layout == "amass" and b.layout == "dict" and a.fps == 120.0 and b.fps is None
    assert a.family == b.family == "smpl" and c.family == "smplh/smplx"

    def same_rot(x, y):
        d = Rotation.from_rotvec(x.reshape(-1, 3)).inv() * Rotation.from_rotvec(y.reshape(-1, 3))
        return np.max(d.magnitude()) < 1e-6

    assert same_rot(a.global_orient, b.global_orient) and same_rot(a.body_pose, b.body_pose)
    assert same_rot(c.global_orient, go) and same_rot(c.body_pose, body[:, :21])
    for p in (a, b, c):
        np.testing.assert_allclose(p.transl_m, transl)
        np.testing.assert_allclose(p.betas, betas)
    assert smpl.is_smpl_params(amass) and smpl.is_smpl_params(mats)


def test_unknown_layout_lists_keys(tmp_path):
    bad = tmp_path / "bad.pkl"
    import pickle

    with open(bad, "wb") as f:
        pickle.dump({"rotations": np.zeros((3, 24, 4)), "fps": 30}, f)
    with pytest.raises(ValueError, match="rotations"):
        smpl.read_smpl_params(bad)
    skel = tmp_path / "skel.npz"
    np.savez(skel, poses=np.zeros((3, 46)))
    assert not smpl.is_smpl_params(skel)


def test_world_axes_and_tables():
    # AMASS Z-up: body +Y along world +Z must become OpenSim +Y; result is a rotation.
    go = np.tile(Rotation.from_euler("x", 90, degrees=True).as_rotvec(), (3, 1))
    r = smpl.world_to_opensim(go)
    np.testing.assert_allclose(r @ [0, 0, 1], [0, 1, 0], atol=1e-12)
    assert np.isclose(np.linalg.det(r), 1.0)
    # Identity orientation (Y-up world): SMPL's canonical map.
    np.testing.assert_allclose(smpl.world_to_opensim(np.zeros((2, 3))), smpl.SMPL_TO_OPENSIM)
    for table, nv in ((smpl.SMPL_MARKER_VERTICES, 6890), (smpl.SMPLX_MARKER_VERTICES, 10475)):
        vals = list(table.values())
        assert len(set(vals)) == len(vals) and max(vals) < nv
        from core.landmarks import landmark_names

        assert set(table) <= set(landmark_names())
