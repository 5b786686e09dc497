"""SMPL / SMPL-H / SMPL-X parameter sequences -> BSM-46 Motion (virtual markers + IK).

Pipeline (``smpl_to_motion``):

1. read the parameters (:func:`read_smpl_params`): AMASS npz (``poses`` (T, 72|156|165) or
   ``root_orient``/``pose_body``, ``trans``, ``betas``, ``mocap_framerate``), or the dicts that
   4D-Humans, WHAM or GVHMR write (``global_orient``, ``body_pose``, ``betas``, ``transl``) as
   .npz, .pkl or .pt, axis-angle or rotation matrices, possibly one level nested;
2. pose the user's own licensed model file (``--smpl-model``; never downloaded) with
   ``smplx.lbs.lbs`` on the CPU, all frames in batches -> vertices (T, V, 3) metres;
3. turn the source world into OpenSim's frame (X forward, Y up, Z right): the world's up axis
   is the axis nearest to the pelvis' mean up direction (SMPL's body +Y through
   ``global_orient``): +Y for WHAM/GVHMR world outputs, +Z for AMASS, -Y for camera-frame
   4D-Humans outputs; forward is the world axis orthogonal to it nearest the first frame's
   facing (SMPL body +Z). Rows of the rotation are (forward, up, forward x up), so SMPL's
   canonical frame maps as x_os = z_smpl, y_os = y_smpl, z_os = -x_smpl;
4. read our anatomical markers off fixed vertices (:data:`SMPL_MARKER_VERTICES` for the 6890-
   vertex SMPL/SMPL-H topology, :data:`SMPLX_MARKER_VERTICES` for SMPL-X's 10,475). The
   indices are those of the MoSh++/SOMA mocap marker layouts (CMU names in the comments) for
   the markers whose anatomy matches ours; the wrist pair is ordered at run time (radial
   styloid = the one nearer the thumb tip) because "inner/outer wrist" is ambiguous;
5. subject: ``core.body.build_subject`` at the stature of the model's rest mesh (betas,
   zero pose); segment lengths follow Anny's proportions at that stature (no per-segment
   scaling). Marker placement: IK on the rest mesh, then the rest-mesh markers are fixed in the
   solved body frames (OpenSim's marker placement step), so systematic differences between
   the SMPL vertex and our landmark definition do not act as noise in every frame;
6. ``core.ik.solve_ik`` over the sequence; limits hold by construction.
"""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import skeleton as sk
from core.motion import Motion

__all__ = [
    "SmplParams",
    "BodyModelData",
    "SmplConversion",
    "SMPL_MARKER_VERTICES",
    "SMPLX_MARKER_VERTICES",
    "THUMB_PINKY_VERTICES",
    "is_smpl_params",
    "read_smpl_params",
    "load_body_model",
    "smpl_vertices",
    "smpl_to_motion",
]

log = logging.getLogger(__name__)

N_VERTS_SMPL = 6890
N_VERTS_SMPLX = 10475

# Our marker -> SMPL/SMPL-H vertex (MoSh++ CMU layout label in the comment).
SMPL_MARKER_VERTICES: dict[str, int] = {
    "R_ASIS": 4343,  # RFWT front waist
    "L_ASIS": 857,  # LFWT
    "R_PSIS": 6544,  # RBWT back waist
    "L_PSIS": 3122,  # LBWT
    "R_thigh": 4927,  # RTHI
    "L_thigh": 1454,  # LTHI
    "R_knee": 4538,  # RKNE lateral knee
    "L_knee": 1053,  # LKNE
    "R_mknee": 4544,  # RKNI medial knee
    "L_mknee": 1058,  # LKNI
    "R_shank": 4568,  # RSHN shin
    "L_shank": 1082,  # LSHN
    "R_ankle": 6728,  # RANK lateral malleolus
    "L_ankle": 3327,  # LANK
    "R_calc": 6786,  # RHEE
    "L_calc": 3387,  # LHEE
    "R_toe": 6633,  # RTOE
    "L_toe": 3233,  # LTOE
    "R_5meta": 6747,  # RMT5
    "L_5meta": 3346,  # LMT5
    "R_1meta": 6736,  # RMT1
    "L_1meta": 3336,  # LMT1
    "R_Shoulder": 5322,  # RSHO acromion
    "L_Shoulder": 1861,  # LSHO
    "R_arm": 4918,  # RUPA upper arm
    "L_arm": 1443,  # LUPA
    "R_elbow_lat": 5135,  # RELB
    "L_elbow_lat": 1666,  # LELB
    "R_elbow_med": 5194,  # RELBIN
    "L_elbow_med": 1725,  # LELBIN
    "R_wrist_radius": 5573,  # RIWR / ROWR: ordered at run time (see _order_wrists)
    "R_wrist_ulna": 5568,
    "L_wrist_radius": 2112,  # LIWR / LOWR
    "L_wrist_ulna": 2108,
    "R_hand_index": 5635,  # RFIN
    "L_hand_index": 2174,  # LFIN
    "R_head_front": 3512,  # RFHD
    "L_head_front": 0,  # LFHD
    "R_head_back": 3694,  # RBHD
    "L_head_back": 182,  # LBHD
    "C7": 3470,
    "T10": 3016,
    "CLAV": 3171,
    "STRN": 3506,
}

# Our marker -> SMPL-X vertex (SOMA's SMPL-X marker superset).
SMPLX_MARKER_VERTICES: dict[str, int] = {
    "R_ASIS": 6248,  # RFWT
    "L_ASIS": 3486,  # LFWT
    "R_PSIS": 8391,  # RBWT
    "L_PSIS": 5697,  # LBWT
    "R_thigh": 6832,  # RTHI
    "L_thigh": 4088,  # LTHI
    "R_knee": 6443,  # RKNE
    "L_knee": 3682,  # LKNE
    "R_mknee": 6449,  # RKNI
    "L_mknee": 3688,  # LKNI
    "R_ankle": 8576,  # RANK
    "L_ankle": 5882,  # LANK
    "R_calc": 8634,  # RHEE
    "L_calc": 8846,  # LHEE
    "R_toe": 8481,  # RTOE
    "L_toe": 5787,  # LTOE
    "R_5meta": 8595,  # RMT5
    "L_5meta": 5901,  # LMT5
    "R_1meta": 8584,  # RMT1
    "L_1meta": 5890,  # LMT1
    "R_Shoulder": 6627,  # RSHO
    "L_Shoulder": 4481,  # LSHO
    "R_elbow_lat": 7040,  # RELB
    "L_elbow_lat": 4302,  # LELB
    "R_elbow_med": 7099,  # RELBIN
    "L_elbow_med": 4363,  # LELBIN
    "R_wrist_radius": 7462,  # RIWR / ROWR: ordered at run time
    "R_wrist_ulna": 7458,
    "L_wrist_radius": 4726,  # LIWR / LOWR
    "L_wrist_ulna": 4722,
    "R_hand_index": 7524,  # RFIN
    "L_hand_index": 4788,  # LFIN
    "R_head_front": 2198,  # RFHD
    "L_head_front": 707,  # LFHD
    "R_head_back": 3066,  # RBHD
    "L_head_back": 2026,  # LBHD
    "C7": 3832,
    "T10": 5623,
    "CLAV": 5533,
    "STRN": 5531,
}

# Thumb and little-finger tips (the vertices smplx itself uses for the OpenPose hand tips).
THUMB_PINKY_VERTICES: dict[int, dict[str, int]] = {
    N_VERTS_SMPL: {"R_thumb": 6191, "R_pinky": 6133, "L_thumb": 2746, "L_pinky": 2673},
    N_VERTS_SMPLX: {"R_thumb": 8079, "R_pinky": 8022, "L_thumb": 5361, "L_pinky": 5286},
}

_FPS_KEYS = ("mocap_framerate", "mocap_frame_rate", "fps", "frame_rate", "framerate")
_BODY_KEYS = ("body_pose", "pose_body", "poses")


# ---------------------------------------------------------------------------- parameters


@dataclass
class SmplParams:
    global_orient: np.ndarray  # (T, 3) axis-angle, radians
    body_pose: np.ndarray  # (T, J, 3) axis-angle; J = 23 (SMPL) or 21 (SMPL-H / SMPL-X)
    transl_m: np.ndarray  # (T, 3)
    betas: np.ndarray  # (B,) shape coefficients (mean over frames when given per frame)
    extra_pose: np.ndarray | None  # (T, K, 3) joints after the body (hands, jaw...) or None
    fps: float | None
    gender: str | None
    layout: str  # "amass" or "dict"
    keys: tuple[str, ...] = ()

    @property
    def n_frames(self) -> int:
        return int(self.global_orient.shape[0])

    @property
    def family(self) -> str:
        """'smpl' (23 body joints) or 'smplh/smplx' (21)."""
        return "smpl" if self.body_pose.shape[1] == 23 else "smplh/smplx"


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    if hasattr(x, "toarray"):
        x = x.toarray()
    return np.asarray(x)


def _gender(value) -> str | None:
    """'neutral' / 'male' / 'female' from a str, bytes or 0-d array (AMASS), else None."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = _to_numpy(value).reshape(-1)[0]
    value = value.decode() if isinstance(value, bytes) else str(value)
    value = value.strip().lower()
    return value if value in ("neutral", "male", "female") else None


def _load_dict(path: Path) -> dict:
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=True) as z:
            d = {k: z[k] for k in z.files}
    elif suffix == ".pkl":
        with open(path, "rb") as f:
            try:
                d = pickle.load(f, encoding="latin1")
            except ModuleNotFoundError as e:
                raise ValueError(
                    f"{path}: the pickle needs the module {e.name!r}; install it or save the "
                    "arrays as .npz"
                ) from e
    elif suffix == ".pt":
        import torch

        d = torch.load(path, map_location="cpu", weights_only=True)
    else:
        raise ValueError(f"{path}: expected an .npz, .pkl or .pt file of SMPL parameters")
    if not isinstance(d, dict):
        raise ValueError(f"{path}: expected a dictionary of arrays, found {type(d).__name__}")
    return d


def _find_param_dict(d: dict) -> tuple[dict, str]:
    """The dict holding the body parameters (top level or one level down, 'global' preferred)."""
    if any(k in d for k in _BODY_KEYS):
        return d, ""
    nested = [(k, v) for k, v in d.items() if isinstance(v, dict) and "body_pose" in v]
    if not nested:
        return d, ""
    nested.sort(key=lambda kv: "global" not in str(kv[0]))
    return nested[0][1], str(nested[0][0])


def _as_axis_angle(x: np.ndarray, t: int, what: str) -> np.ndarray:
    """(T, ..., 3) axis-angle or (T, ..., 3, 3) rotation matrices -> (T, J, 3) axis-angle."""
    from scipy.spatial.transform import Rotation

    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] != t:
        x = x.reshape(t, -1) if x.size % t == 0 else x
    if x.shape[0] != t:
        raise ValueError(f"{what}: expected {t} frames, got shape {x.shape}")
    if x.ndim >= 3 and x.shape[-2:] == (3, 3):
        mats = x.reshape(-1, 3, 3)
        return Rotation.from_matrix(mats).as_rotvec().reshape(t, -1, 3)
    if x.size % (t * 3):
        raise ValueError(f"{what}: cannot read shape {x.shape} as axis-angle triples")
    return x.reshape(t, -1, 3)


def read_smpl_params(path: str | Path) -> SmplParams:
    """Read a SMPL-family parameter sequence (AMASS npz or a 4D-Humans/WHAM/GVHMR dict)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SMPL parameter file not found: {path}")
    raw = _load_dict(path)
    d, where = _find_param_dict(raw)
    keys = tuple(sorted(str(k) for k in raw))
    arr = {k: _to_numpy(v) for k, v in d.items() if not isinstance(v, (dict, str))}
    gender = _gender(d.get("gender"))
    extra = None
    if "poses" in arr and arr["poses"].ndim == 2 and arr["poses"].shape[1] in (72, 156, 165):
        poses = arr["poses"].astype(np.float64)
        t = poses.shape[0]
        p = poses.reshape(t, -1, 3)
        go = p[:, 0]
        nb = 23 if poses.shape[1] == 72 else 21
        body = p[:, 1 : 1 + nb]
        extra = p[:, 1 + nb :] if p.shape[1] > 1 + nb else None
        transl = arr.get("trans", arr.get("transl"))
        layout = "amass"
    elif "root_orient" in arr and "pose_body" in arr:
        t = arr["root_orient"].shape[0]
        go = arr["root_orient"].reshape(t, 3)
        body = _as_axis_angle(arr["pose_body"], t, "pose_body")
        transl = arr.get("trans", arr.get("transl"))
        layout = "amass"
    elif "global_orient" in arr and "body_pose" in arr:
        go_raw = arr["global_orient"]
        t = go_raw.shape[0]
        go = _as_axis_angle(go_raw, t, "global_orient")
        if go.shape[1] != 1:
            raise ValueError(
                f"{path}: global_orient must hold one rotation per frame, got {go_raw.shape}"
            )
        go = go[:, 0]
        body = _as_axis_angle(arr["body_pose"], t, "body_pose")
        transl = arr.get("transl", arr.get("trans"))
        layout = "dict"
    else:
        raise ValueError(
            f"{path}: not a known SMPL parameter layout (expected AMASS 'poses' (T, 72|156|165) "
            f"or 'global_orient' + 'body_pose'); keys found: {list(keys)}"
            + (f", in {where!r}: {sorted(arr)}" if where else "")
        )
    if body.shape[1] not in (21, 23):
        raise ValueError(
            f"{path}: body pose has {body.shape[1]} joints; expected 23 (SMPL) or 21 "
            "(SMPL-H / SMPL-X)"
        )
    transl = np.zeros((t, 3)) if transl is None else np.asarray(transl, np.float64).reshape(t, 3)
    betas = arr.get("betas")
    betas = np.zeros(10) if betas is None else np.asarray(betas, np.float64)
    if betas.ndim == 2:
        betas = betas.mean(0)
    betas = betas.reshape(-1)
    fps = next((float(np.asarray(arr[k]).reshape(-1)[0]) for k in _FPS_KEYS if k in arr), None)
    for name, v in (("global_orient", go), ("body_pose", body), ("transl", transl)):
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{path}: {name} contains NaN or inf")
    return SmplParams(go, body, transl, betas, extra, fps, gender, layout, keys)


def is_smpl_params(path: str | Path) -> bool:
    """True when ``path`` reads as a SMPL-family parameter file (cheap key check for .npz)."""
    path = Path(path)
    if path.suffix.lower() in (".pkl", ".pt"):
        return True
    if path.suffix.lower() != ".npz" or not path.is_file():
        return False
    with np.load(path, allow_pickle=False) as z:
        files = set(z.files)
        if "poses" in files:
            shape = z["poses"].shape
            return len(shape) == 2 and shape[1] in (72, 156, 165)
    return bool({"body_pose", "pose_body"} & files)


# ---------------------------------------------------------------------------- model


@dataclass
class BodyModelData:
    path: Path
    v_template: np.ndarray  # (V, 3) metres, SMPL canonical frame (Y up, facing +Z)
    shapedirs: np.ndarray  # (V, 3, S)
    posedirs: np.ndarray  # (P, V*3) as smplx.lbs wants it
    j_regressor: np.ndarray  # (J, V)
    parents: np.ndarray  # (J,) int, -1 for the root
    weights: np.ndarray  # (V, J)

    @property
    def n_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def n_joints(self) -> int:
        return int(self.parents.shape[0])


def _candidates(folder: Path, gender: str) -> list[Path]:
    g, gu = gender.lower(), gender.upper()
    out = []
    for t in ("smplx", "smplh", "smpl"):
        tu = t.upper()
        for ext in ("npz", "pkl"):
            out += [folder / f"{tu}_{gu}.{ext}", folder / t / f"{tu}_{gu}.{ext}"]
        out += [folder / t / g / "model.npz", folder / g / "model.npz"]
    return out


def load_body_model(path: str | Path | None, gender: str = "neutral") -> BodyModelData:
    """Load the user's SMPL / SMPL-H / SMPL-X model file (or find it in a folder laid out as
    ``smplx.create`` expects, or AMASS's ``smplh/<gender>/model.npz``)."""
    if path is None:
        raise ValueError(
            "SMPL-family parameters need the body model: pass --smpl-model PATH (your licensed "
            "SMPL/SMPL-H/SMPL-X model file or the folder holding it; it is never downloaded)"
        )
    p = Path(path)
    if p.is_dir():
        found = [c for c in _candidates(p, gender) if c.is_file()]
        if not found:
            raise FileNotFoundError(
                f"--smpl-model {p}: no {gender} model file found (looked for e.g. "
                f"SMPL_{gender.upper()}.pkl, smplx/SMPLX_{gender.upper()}.npz, "
                f"smplh/{gender.lower()}/model.npz)"
            )
        p = found[0]
    elif not p.is_file():
        raise FileNotFoundError(f"--smpl-model {p}: no such file or folder")
    d = _load_dict(p)
    need = ("v_template", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights")
    missing = [k for k in need if k not in d]
    if missing:
        raise ValueError(f"--smpl-model {p}: not a SMPL-family model file (missing {missing})")
    v = _to_numpy(d["v_template"]).astype(np.float64)
    posedirs = _to_numpy(d["posedirs"]).astype(np.float64)
    parents = _to_numpy(d["kintree_table"])[0].astype(np.int64).copy()
    parents[0] = -1
    return BodyModelData(
        path=p,
        v_template=v,
        shapedirs=_to_numpy(d["shapedirs"]).astype(np.float64),
        posedirs=posedirs.reshape(-1, posedirs.shape[-1]).T.copy(),
        j_regressor=_to_numpy(d["J_regressor"]).astype(np.float64),
        parents=parents,
        weights=_to_numpy(d["weights"]).astype(np.float64),
    )


def _full_pose(params: SmplParams, n_joints: int) -> np.ndarray:
    """(T, n_joints, 3): root, body joints (21 or 23 mapped onto the model), then extras."""
    t = params.n_frames
    out = np.zeros((t, n_joints, 3))
    out[:, 0] = params.global_orient
    nb_model = 23 if n_joints == 24 else 21
    nb = min(nb_model, params.body_pose.shape[1])
    out[:, 1 : 1 + nb] = params.body_pose[:, :nb]
    if params.extra_pose is not None and nb == nb_model == params.body_pose.shape[1]:
        k = min(params.extra_pose.shape[1], n_joints - 1 - nb_model)
        out[:, 1 + nb_model : 1 + nb_model + k] = params.extra_pose[:, :k]
    return out


def smpl_vertices(
    model: BodyModelData, params: SmplParams, batch: int = 256, rest: bool = False
) -> np.ndarray:
    """Posed vertices (T, V, 3) in the source world frame, metres (``rest``: (1, V, 3) zero
    pose, no translation), by ``smplx.lbs.lbs`` on the CPU."""
    import torch
    from smplx.lbs import lbs

    s = model.shapedirs.shape[-1]
    betas = np.zeros(s)
    k = min(s, params.betas.shape[0])
    betas[:k] = params.betas[:k]
    consts = [
        torch.as_tensor(a, dtype=torch.float64)
        for a in (model.v_template, model.shapedirs, model.posedirs, model.j_regressor)
    ]
    parents = torch.as_tensor(model.parents)
    weights = torch.as_tensor(model.weights, dtype=torch.float64)
    pose = np.zeros((1, model.n_joints, 3)) if rest else _full_pose(params, model.n_joints)
    out = []
    with torch.no_grad():
        for i in range(0, pose.shape[0], batch):
            p = torch.as_tensor(pose[i : i + batch].reshape(-1, model.n_joints * 3))
            b = torch.as_tensor(betas).expand(p.shape[0], -1)
            verts, _ = lbs(b, p, *consts, parents, weights)
            out.append(verts.numpy())
    v = np.concatenate(out, 0)
    if not rest:
        v = v + params.transl_m[:, None, :]
    return v


# ---------------------------------------------------------------------------- frames


# SMPL canonical (Y up, facing +Z, X = subject's left) -> OpenSim (X forward, Y up, Z right).
SMPL_TO_OPENSIM = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])


def world_to_opensim(global_orient: np.ndarray) -> np.ndarray:
    """Rotation (3, 3) taking the source world into OpenSim axes (see the module doc)."""
    from scipy.spatial.transform import Rotation

    r = Rotation.from_rotvec(global_orient).as_matrix()  # (T, 3, 3) body -> world
    up = r[:, :, 1].mean(0)
    axes = np.eye(3)
    i = int(np.argmax(np.abs(up)))
    u = axes[i] * np.sign(up[i])
    face = r[0, :, 2] - (r[0, :, 2] @ u) * u
    cand = [a * s for a in axes if abs(a @ u) < 0.5 for s in (1.0, -1.0)]
    f = max(cand, key=lambda c: float(c @ face))
    return np.stack([f, u, np.cross(f, u)])


# ---------------------------------------------------------------------------- markers


def marker_table(n_vertices: int) -> dict[str, int]:
    if n_vertices == N_VERTS_SMPL:
        return dict(SMPL_MARKER_VERTICES)
    if n_vertices == N_VERTS_SMPLX:
        return dict(SMPLX_MARKER_VERTICES)
    raise ValueError(
        f"body model has {n_vertices} vertices; the marker tables know SMPL/SMPL-H "
        f"({N_VERTS_SMPL}) and SMPL-X ({N_VERTS_SMPLX})"
    )


def _order_wrists(table: dict[str, int], rest_vertices: np.ndarray) -> list[str]:
    """Swap each wrist pair so that 'radius' is the vertex nearer the thumb tip; returns the
    sides swapped."""
    tips = THUMB_PINKY_VERTICES[rest_vertices.shape[0]]
    swapped = []
    for s in ("R", "L"):
        a, b = table[f"{s}_wrist_radius"], table[f"{s}_wrist_ulna"]
        thumb, pinky = rest_vertices[tips[f"{s}_thumb"]], rest_vertices[tips[f"{s}_pinky"]]

        def thumbness(v: int, thumb: np.ndarray = thumb, pinky: np.ndarray = pinky) -> float:
            x = rest_vertices[v]
            return float(np.linalg.norm(x - pinky) - np.linalg.norm(x - thumb))

        if thumbness(b) > thumbness(a):
            table[f"{s}_wrist_radius"], table[f"{s}_wrist_ulna"] = b, a
            swapped.append(s)
    return swapped


# ---------------------------------------------------------------------------- conversion


@dataclass
class SmplConversion:
    motion: Motion
    marker_rms_m: np.ndarray  # (T,) IK marker RMS per frame
    rest_rms_m: float  # marker RMS of the placement IK on the rest mesh
    stature_m: float  # rest-mesh stature
    wrists_swapped: list[str] = field(default_factory=list)


def smpl_to_motion(
    path: str | Path,
    model_path: str | Path | None,
    *,
    gender: str | None = None,
    fps: float | None = None,
    mass_kg: float | None = None,
) -> SmplConversion:
    """SMPL/SMPL-H/SMPL-X parameters -> BSM-46 Motion through virtual markers and IK."""
    from core.body import build_subject
    from core.ik import solve_ik

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    params = read_smpl_params(path)
    gender = gender or params.gender or "neutral"
    model = load_body_model(model_path, gender)
    fps = fps if fps is not None else params.fps
    if fps is None:
        raise ValueError(f"{path}: the file gives no frame rate; pass --fps")
    table = marker_table(model.n_vertices)

    rest = smpl_vertices(model, params, rest=True)[0]
    swapped = _order_wrists(table, rest)
    stature = float(rest[:, 1].max() - rest[:, 1].min())
    subject = build_subject(height_m=float(np.clip(stature, 0.55, 2.5)), mass_kg=mass_kg)
    index = {n: i for i, n in enumerate(subject.marker_names)}
    names = tuple(n for n in subject.marker_names if n in table)
    used = np.array([index[n] for n in names])
    vids = np.array([table[n] for n in names])
    bodies = subject.marker_bodies[used]

    # Marker placement on the rest mesh (canonical SMPL frame -> OpenSim).
    rest_m = (rest[vids] @ SMPL_TO_OPENSIM.T)[None]
    placed = solve_ik(rest_m, bodies, subject.marker_local_m[used], subject.offsets_m)
    rest_rms = float(placed.marker_rms_m[0])
    from core import fk_numpy

    rot, org = fk_numpy.forward_kinematics(
        placed.q_rad.numpy(), placed.root_m.numpy(), subject.offsets_m
    )
    local = np.einsum("mji,mj->mi", rot[0, bodies], rest_m[0] - org[0, bodies])

    # The sequence.
    r_world = world_to_opensim(params.global_orient)
    verts = smpl_vertices(model, params)
    obs = verts[:, vids] @ r_world.T
    res = solve_ik(obs, bodies, local, subject.offsets_m)
    rms = res.marker_rms_m.numpy()
    q = np.clip(res.q_rad.numpy(), *sk.limits_rad())
    prov = {
        "convert": {
            "from": str(path),
            "format": f"SMPL-family params ({params.layout}, {params.family} body pose)",
            "via": "smplx.lbs vertices -> virtual markers -> core.ik onto BSM-46",
            "body_model": str(model.path),
            "model_vertices": model.n_vertices,
            "gender": gender,
            "world_to_opensim": r_world.tolist(),
            "stature_m": stature,
            "markers_used": list(names),
            "wrist_pairs_swapped": swapped,
            "placement_rest_rms_m": rest_rms,
            "marker_rms_m_median": float(np.nanmedian(rms)),
            "marker_rms_m_max": float(np.nanmax(rms)),
        }
    }
    log.info(
        "%s: %d frames, %d markers, rest RMS %.1f mm, IK RMS median %.1f mm",
        path,
        params.n_frames,
        len(names),
        1e3 * rest_rms,
        1e3 * float(np.nanmedian(rms)),
    )
    motion = Motion(
        fps=float(fps),
        q_rad=q,
        root_m=res.root_m.numpy(),
        offsets_m=subject.offsets_m,
        height_m=subject.height_m,
        mass_kg=subject.mass_kg,
        marker_names=names,
        marker_bodies=bodies,
        marker_local_m=local,
        markers_m=obs,
        shape=subject.shape,
        shape_labels=subject.shape_labels,
        provenance=prov,
    )
    return SmplConversion(motion, rms, rest_rms, stature, swapped)
