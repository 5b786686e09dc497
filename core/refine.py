"""2D-informed refinement: one optimisation over the whole sequence.

Unknowns: the joint angles through the bounded map (``kinematics.q_from_free``, so every iterate is
within the limits) and the pelvis trajectory; the skeleton is the subject's and stays fixed, so bone
lengths are constant by construction. Terms (weights in ``RefineConfig``):

* robust 2D reprojection of the keypoints (Geman-McClure, confidence-weighted),
* agreement with the 3D estimate (NeurIK angles and, when given, pelvis-relative 3D keypoints),
* temporal smoothness (second differences of angles and pelvis position),
* foot contact without sliding. Either given contact phases (``RefineInputs.contact_state``, from
  ``core.contacts`` in the world frame): each phase of each contact point has an anchor, the point
  stays at its anchor throughout the phase (no sliding, no lifting; on a treadmill the anchor moves
  with the belt), anchors of phases near the floor are on the floor (Y = 0), those clearly above it
  (a box, a stair) keep their own height; no contact = free, so jumps and flight stay possible; and
  no foot point (contact points, sole outline, toe tips, foot markers: ``RefineInputs.floor_*``)
  goes below the floor (unless a quarter of the contact frames, 0.5 s at least, lie clearly below
  it: then the 'floor' was a raised level such as a box top and Y = 0 is no bound; fewer such
  phases are toes dipped through the floor and go onto it). Or, without given phases, the older heuristic: frames where
  a foot point is low and slow in the initial solution are contact frames; its horizontal motion
  there is penalised.

Runs in phases (pelvis and global position first, then everything), each with early stop, on the
device of the inputs. World frame: Y up; the camera looks along the world's -Z with image Y down
(``Camera.rotation = diag(1, -1, -1)``), i.e. a level camera.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from core import kinematics as K
from core import skeleton as sk
from core.motion import Camera
from core.refine_fk import forward_kinematics_levels as _fk

__all__ = [
    "RefineConfig",
    "Phase",
    "RefineInputs",
    "RefineResult",
    "refine",
    "level_camera_rotation",
    "initial_translation",
]

log = logging.getLogger(__name__)

_ROOT_IDX = [sk.DOF["pelvis_tilt"], sk.DOF["pelvis_list"], sk.DOF["pelvis_rotation"]]


def level_camera_rotation() -> np.ndarray:
    """World (Y up) -> camera (Y down, looking along +Z_c = world -Z)."""
    return np.diag([1.0, -1.0, -1.0])


@dataclass
class Phase:
    name: str
    iterations: int
    lr: float
    optimise_pose: bool  # False: only pelvis angles and position move
    # The robust 2D loss's scale times this: a wide loss first pulls far-off limbs in (a limb
    # 150 px away gets no gradient from a 17 px Geman-McClure), a narrow one then ignores outliers.
    sigma_scale: float = 1.0


@dataclass
class RefineConfig:
    w_2d: float = 1.0
    # Geman-McClure scale as a fraction of the image diagonal. 0.013 since the weak 3D pull
    # (w_3d 1): replay (bank2d_v7), tuning subset / 31 untuned clips at 480x270, 0.03 / 0.02 /
    # 0.013 / 0.01: 8.04 / 7.95 / 7.89 / 7.86 and 8.60 / 8.50 / 8.40 / 8.37 deg, jitter 10.3 /
    # 10.7 / 11.0 / 11.3 m/s^2 (truth 10.2); at 1920x1080 0.02 -> 0.013: 7.43 -> 7.32 and 7.38 ->
    # 7.24 (10 untuned). 0.013 and 0.01 tie on the subset; 0.013 jitters less. Single images,
    # per-frame labels and the NeurIK prior keep 0.02 (core.capture.refinement).
    sigma_px: float = 0.013
    # per rad^2, toward the initial (prior's) angles. 2.0 held the start: with exact 2D and 3D a
    # pose started 15 deg off ended 5 deg off (1.8 with 0.2, 3.4 with 1.0;
    # tests/test_refine_exact.py), and the harness's true-2D+3D ablation stayed ~10 deg off (8.3
    # with 0.2 on 131_01_w0). 1.0 since the lifter's start is flip-averaged and calibrated
    # (core.lift.runtime): replay of the tuning subset (benchmarks/refine_replay.py, 6 synthetic
    # clips + 2 trial views) 0.2 / 1.0 / 2.0: MAE 9.94 / 9.52 / 9.55 deg (synthetic 10.22 / 9.99 /
    # 10.07, trials 9.09 / 8.10 / 7.99); with the raw lifter 1.0-2.0 was no better than 0.2.
    # 4.0 (and w_3d 10) since the lifter bank2d_v4: its start is now better than where the
    # keypoints pull it (replay at bank2d_v4, tuning subset / 31 untuned clips: 1.0 with w_3d 20
    # 8.56 / 9.23 deg, 4.0 8.34 / 8.92, 4.0 with w_3d 10 8.27 / 8.87; 8.0 and 16.0 8.36 on the
    # subset; the untuned trial views' start 8.31 is still better than any refined result).
    # 2.0 (and w_3d 1) since the lifter bank2d_v7: with MediaPipe's world landmarks hardly a
    # 3D target any more (below), a lighter hold is better (replay at bank2d_v7, 39 clips, w_3d
    # 0: prior 1 / 2 / 4 / 16 / 64: tuning subset 7.88 / 7.92 / 7.99 / 8.13 / 8.20 deg, 31
    # untuned clips 8.45 / 8.42 / 8.47 / 8.48 / 8.53; 1 and 2 tie on the subset, 2 holds the
    # start more).
    w_prior_q: float = 2.0
    # Pelvis tilt and list are barely seen by 2D keypoints (two hip points): a forward-tilted
    # pelvis with flexed hips projects almost like an upright one. Hold them to the 3D estimate.
    w_prior_pelvis: float = 30.0
    # Per m^2, pelvis-relative 3D keypoints (RefineInputs.keypoints_3d_rel_m). 1.0 for a video
    # with the lifter (10 before): the capture's 3D keypoints are MediaPipe's world landmarks,
    # whose depth is worse than the lifter's, and at 10 they pulled the refinement off it the
    # same way in every clip (replay, 39 clips, the first refinement's mean signed change of the
    # start: lumbar extension -6.9 deg, hip flexion -5.2; without the target -4.2 and -4.2, the
    # keypoints' own pull). Final angles' MAE by replay (benchmarks/refine_replay.py, bank2d_v7,
    # w_prior_q 2), tuning subset / 31 untuned clips at 480x270, and tuning subset / 10 untuned
    # at 1920x1080: w_3d 10 (with w_prior_q 4) 8.12 / 8.73, 7.61 / 8.07; 2: 7.98 / 8.56, 7.44 /
    # 7.62; 1: 7.95 / 8.50, 7.43 / 7.38; 0: 7.92 / 8.42, 7.40 / 7.29 (the start: 8.05 / 8.45,
    # 7.56 / 7.68). 1 and 0 tie on the subsets; 1 keeps a little of the landmarks' real-image
    # depth: on the demo's man (a 2 m box, then the lawn) it holds his lawn stance foot to 0.093
    # m/s where 0 gave 0.127 (ground_check.py; this number moves by 0.03 between neighbouring
    # settings). The NeurIK prior, single images and per-frame labels set their own
    # (core.capture.refinement).
    w_3d: float = 1.0
    w_smooth_q: float = 20.0
    w_smooth_root: float = 50.0
    # Per rad^2 per frame^4: second differences of the correction (q - start). The refinement
    # moves the prior's start by a smooth correction and keeps the prior's own frame-to-frame
    # motion instead of following each frame's keypoint noise. Harness tuning subset
    # (benchmarks/refine_replay.py, 6 synthetic clips + 2 trial views), against w_smooth_q 20
    # alone: MAE 10.9 -> 10.5 deg, offset-free 8.5 -> 7.7, r 0.59 -> 0.68, jitter 20.5 -> 12.8
    # m/s^2 (truth 10.2); 0 (off) .. 1000 tried, 1000 over-smooths fast motion.
    w_smooth_dq: float = 500.0
    # One offset per DOF besides the per-frame values: the prior's bias over the whole clip is
    # one parameter for Adam instead of T frames the smooth correction couples (slow to move).
    offset_param: bool = True
    w_contact: float = 200.0
    contact_height_m: float = 0.04  # above the clip's lowest foot point
    contact_speed_mps: float = 0.25
    phases: list[Phase] = field(
        default_factory=lambda: [
            # 150/100/300 before the smooth correction: the same angles on the tuning subset
            # with 40 % fewer iterations.
            Phase("global", 80, 0.03, False, sigma_scale=5.0),
            Phase("coarse", 60, 0.01, True, sigma_scale=5.0),
            Phase("all", 200, 0.01, True),
        ]
    )
    early_stop_rel: float = 1e-4  # stop a phase when the loss improves less than this over 25 its
    # Given contact phases (world frame, floor Y = 0):
    w_anchor: float = 3000.0  # per m^2, contact point vs its phase anchor
    w_penetration: float = 3000.0  # per m^2, contact points below the floor
    floor_snap_m: float = 0.1  # a phase whose mean height is within this of Y = 0 is on the floor
    below_floor_share: float = 0.25  # more contact frames this far below Y = 0: no floor bound
    below_floor_s: float = 0.5  # ... and at least this long in all
    # A pelvis turns at most ~400 deg/s even in a fast pivot: steps of the root angles above this
    # per frame (at 30 fps; scaled by the frame rate) are penalised (per rad^2 of the excess).
    max_root_step_deg: float = 12.0
    w_root_step: float = 1000.0


@dataclass
class RefineInputs:
    keypoints_2d_px: np.ndarray  # (T, K, 2)
    confidence: np.ndarray  # (T, K)
    camera: Camera
    offsets_m: np.ndarray  # (24, 3) the subject's skeleton
    keypoint_bodies: np.ndarray  # (K,) body of each keypoint's definition
    keypoint_local_m: np.ndarray  # (K, 3)
    q_init_rad: np.ndarray  # (T, 46)
    root_init_m: np.ndarray  # (T, 3) world frame
    fps: float
    foot_keypoints: tuple[int, ...] = ()  # indices of heel/toe keypoints for the contact term
    keypoints_3d_rel_m: np.ndarray | None = None  # (T, K, 3) pelvis-relative, world axes
    # Contact phases in a world frame with the floor at Y = 0 (core.contacts, core.world):
    contact_bodies: np.ndarray | None = None  # (P,) body of each contact point
    contact_local_m: np.ndarray | None = None  # (P, 3)
    contact_state: np.ndarray | None = None  # (T, P) bool
    belt_velocity_mps: np.ndarray | None = None  # (3,) treadmill belt under the feet
    # Foot points kept above the floor (core.contacts.sole_point_definitions: sole outline, toe
    # tips, foot markers); None: the contact points only.
    floor_bodies: np.ndarray | None = None  # (S,)
    floor_local_m: np.ndarray | None = None  # (S, 3)
    floor: bool = True  # False: the frame has no known floor (no floor or penetration terms)


@dataclass
class RefineResult:
    q_rad: np.ndarray  # (T, 46) within the limits
    root_m: np.ndarray  # (T, 3)
    reprojection_px: np.ndarray  # (T, K) distance of each reprojected keypoint to its detection
    initial_reprojection_px: np.ndarray  # (T, K) same for the initial solution
    contact: np.ndarray  # (T, F) contact weights used for the feet
    keypoints_2d_fit_px: np.ndarray  # (T, K, 2) the fitted body's keypoints, projected
    history: list[dict] = field(default_factory=list)


def initial_translation(
    points_rel_m: np.ndarray, keypoints_px: np.ndarray, conf: np.ndarray, cam: Camera
) -> np.ndarray:
    """Per frame, the translation t (camera frame) that best projects camera-oriented points
    ``points_rel_m`` (T, K, 3) onto ``keypoints_px`` (T, K, 2): linear least squares, as in a PnP
    with known rotation. Returns (T, 3) camera-frame positions of the points' origin."""
    f, cx, cy = cam.focal_px, cam.cx_px, cam.cy_px
    out = np.zeros((points_rel_m.shape[0], 3))
    for i, (p, uv, w) in enumerate(zip(points_rel_m, keypoints_px, conf, strict=True)):
        ok = (w > 0.3) & np.isfinite(uv).all(-1) & np.isfinite(p).all(-1)
        if ok.sum() < 3:
            out[i] = np.nan
            continue
        u, v = uv[ok, 0] - cx, uv[ok, 1] - cy
        x, y, z = p[ok, 0], p[ok, 1], p[ok, 2]
        sw = np.sqrt(w[ok])
        a = np.concatenate(
            [np.stack([f + 0 * u, 0 * u, -u], -1), np.stack([0 * v, f + 0 * v, -v], -1)]
        )
        b = np.concatenate([u * z - f * x, v * z - f * y])
        ww = np.concatenate([sw, sw])
        out[i] = np.linalg.lstsq(a * ww[:, None], b * ww, rcond=None)[0]
    # Fill frames without a solution by interpolation.
    bad = ~np.isfinite(out).all(1)
    if bad.all():
        raise ValueError("no frame has 3 or more confident keypoints to place the person")
    for k in range(3):
        out[bad, k] = np.interp(np.flatnonzero(bad), np.flatnonzero(~bad), out[~bad, k])
    return out


class _Anchors:
    """One anchor per contact phase (see the module text): the anchors' free values and the
    anchor and floor-penetration losses."""

    def __init__(self, inp: RefineInputs, cfg: RefineConfig, q0, root0, offsets, dev, dt) -> None:
        from core.contacts import contact_phases

        state = np.asarray(inp.contact_state, bool)
        if inp.contact_bodies is None or inp.contact_local_m is None:
            raise ValueError("contact_state needs contact_bodies and contact_local_m")
        self.bodies = torch.as_tensor(np.asarray(inp.contact_bodies), device=dev)
        self.local = torch.as_tensor(np.asarray(inp.contact_local_m), dtype=dt, device=dev)
        self.use_floor = inp.floor
        if inp.floor_bodies is not None and inp.floor_local_m is not None:
            self.floor_bodies = torch.as_tensor(np.asarray(inp.floor_bodies), device=dev)
            self.floor_local = torch.as_tensor(np.asarray(inp.floor_local_m), dtype=dt, device=dev)
        else:
            self.floor_bodies, self.floor_local = self.bodies, self.local
        phases = contact_phases(state)
        frames, points, ids, elapsed = [], [], [], []
        for j, (k, a, b) in enumerate(phases):
            frames.append(np.arange(a, b))
            points.append(np.full(b - a, k))
            ids.append(np.full(b - a, j))
            elapsed.append((np.arange(a, b) - a) / inp.fps)
        cat = (lambda x: np.concatenate(x)) if phases else (lambda x: np.zeros(0))
        self.frames = torch.as_tensor(cat(frames).astype(np.int64), device=dev)
        self.points = torch.as_tensor(cat(points).astype(np.int64), device=dev)
        self.ids = torch.as_tensor(cat(ids).astype(np.int64), device=dev)
        v = np.zeros(3) if inp.belt_velocity_mps is None else np.asarray(inp.belt_velocity_mps)
        self.belt = torch.as_tensor(cat(elapsed), dtype=dt, device=dev)[:, None] * torch.as_tensor(
            v, dtype=dt, device=dev
        )
        with torch.no_grad():
            fk0 = _fk(q0, root0, offsets)
            p0 = self.positions(fk0)[self.frames, self.points] - self.belt
            init = torch.zeros(len(phases), 3, dtype=dt, device=dev)
            count = torch.zeros(len(phases), dtype=dt, device=dev)
            init.index_add_(0, self.ids, p0)
            count.index_add_(0, self.ids, torch.ones_like(self.ids, dtype=dt))
            init = init / count.clamp_min(1.0)[:, None]
        below = init[:, 1] < -cfg.floor_snap_m
        self.on_floor = (
            (init[:, 1] < cfg.floor_snap_m)
            if inp.floor
            else torch.zeros(len(phases), dtype=torch.bool, device=dev)
        )
        n_below = float(count[below].sum()) if inp.floor else 0.0
        t_below = len(torch.unique(self.frames[below[self.ids]])) / inp.fps  # seconds
        if n_below > cfg.below_floor_share * float(count.sum()) and t_below >= cfg.below_floor_s:
            # Much of the support lies below Y = 0 (the 'floor' is a box top the person stepped
            # down from): Y = 0 is no lower bound for this clip and every anchor keeps its level.
            self.use_floor = False
            self.on_floor = init[:, 1].abs() < cfg.floor_snap_m
        # Otherwise a phase below the floor is a toe dipped through it in the initial solution
        # (the floor is the lowest well-supported level, core.world): it goes onto the floor.
        self.free = init.clone().requires_grad_(True)
        self.n_phases = len(phases)

    def positions(self, fk: K.FKResult) -> Tensor:
        return K.body_points(fk, self.bodies, self.local)

    def anchors(self) -> Tensor:
        y = torch.where(self.on_floor, torch.zeros_like(self.free[:, 1]), self.free[:, 1])
        return torch.stack([self.free[:, 0], y, self.free[:, 2]], -1)

    def losses(self, fk: K.FKResult) -> tuple[Tensor, Tensor]:
        pts = self.positions(fk)
        zero = pts.new_zeros(())
        la = zero
        if self.n_phases:
            target = self.anchors()[self.ids] + self.belt
            la = (pts[self.frames, self.points] - target).square().sum(-1).mean()
        lp = zero
        if self.use_floor:
            # Summed over the foot points, mean over frames: one toe tip under the floor in one
            # frame costs as much as in a clip of that one frame.
            sole = K.body_points(fk, self.floor_bodies, self.floor_local)
            lp = torch.relu(-sole[..., 1]).square().sum(-1).mean()
        return la, lp


def _pelvis_rotation(q: Tensor) -> Tensor:
    """(T, 3, 3) pelvis orientation from its three DOFs (as in the FK: applied in DOF order)."""
    axes = torch.as_tensor(sk.dof_axes()[_ROOT_IDX], dtype=q.dtype, device=q.device)
    m = K.axis_angle_matrix(axes, q[..., _ROOT_IDX])
    return m[..., 0, :, :] @ m[..., 1, :, :] @ m[..., 2, :, :]


def _gm(r2: Tensor, sigma2: float) -> Tensor:
    return r2 / (r2 + sigma2)


def refine(
    inp: RefineInputs,
    cfg: RefineConfig | None = None,
    *,
    device: str | torch.device = "cpu",
    progress: Callable[[float, str], None] | None = None,
) -> RefineResult:
    cfg = cfg or RefineConfig()
    t = inp.q_init_rad.shape[0]
    dt = torch.float64
    dev = torch.device(device)

    def T(x) -> Tensor:
        return torch.as_tensor(np.asarray(x), dtype=dt, device=dev)

    kp = T(np.nan_to_num(inp.keypoints_2d_px))
    conf = T(np.where(np.isfinite(inp.keypoints_2d_px).all(-1), inp.confidence, 0.0))
    offsets = T(inp.offsets_m)
    bodies = torch.as_tensor(inp.keypoint_bodies, device=dev)
    local = T(inp.keypoint_local_m)
    cam = inp.camera
    rot_c = T(cam.rotation)
    trans_c = T(cam.translation_m)
    diag = float(np.hypot(cam.width_px, cam.height_px))
    sigma2 = (cfg.sigma_px * diag) ** 2

    # Root angles unwrapped (no 360-deg steps): the smoothness and turn-rate terms then see a
    # spurious full turn as the fast turn it is, instead of letting the fit spin through one.
    q_init = np.array(inp.q_init_rad, dtype=np.float64, copy=True)
    q_init[:, _ROOT_IDX] = np.unwrap(q_init[:, _ROOT_IDX], axis=0)
    q0 = T(q_init)
    u = K.free_from_q(q0).clone().requires_grad_(True)
    # One offset per DOF on top of the per-frame values (cfg.offset_param): a correction of the
    # whole clip (the prior's bias) is one step for Adam instead of T coupled ones. Only where
    # frames are coupled (t > 2): for a still image it would only double the step size.
    use_off = cfg.offset_param and t > 2
    u_off = torch.zeros(sk.N_DOFS, dtype=dt, device=dev, requires_grad=use_off)
    root = T(inp.root_init_m).clone().requires_grad_(True)
    k3d = None
    if inp.keypoints_3d_rel_m is not None and cfg.w_3d > 0:
        k3d = T(np.nan_to_num(inp.keypoints_3d_rel_m))
        k3d_ok = T(np.isfinite(inp.keypoints_3d_rel_m).all(-1)) * conf

    def project(points: Tensor) -> Tensor:
        pc = points @ rot_c.T + trans_c
        z = pc[..., 2:3].clamp_min(0.05)
        return torch.cat(
            [
                cam.focal_px * pc[..., :1] / z + cam.cx_px,
                cam.focal_px * pc[..., 1:2] / z + cam.cy_px,
            ],
            -1,
        )

    def points_of(q: Tensor, r: Tensor) -> Tensor:
        return K.body_points(_fk(q, r, offsets), bodies, local)

    with torch.no_grad():
        p_init = points_of(q0, root)
        err0 = (project(p_init) - kp).norm(dim=-1)
        contact = torch.zeros(t, len(inp.foot_keypoints), dtype=dt, device=dev)
        if inp.foot_keypoints and t > 2:
            feet = p_init[:, list(inp.foot_keypoints)]  # (T, F, 3)
            height = feet[..., 1] - feet[..., 1].min()
            speed = torch.zeros_like(height)
            speed[1:] = (feet[1:] - feet[:-1]).norm(dim=-1) * inp.fps
            contact = ((height < cfg.contact_height_m) & (speed < cfg.contact_speed_mps)).to(dt)

    anchors = None
    if inp.contact_state is not None:
        anchors = _Anchors(inp, cfg, q0, T(inp.root_init_m), offsets, dev, dt)
    history: list[dict] = []
    total_its = sum(p.iterations for p in cfg.phases)
    done = 0
    for phase in cfg.phases:
        params = [u, root] if phase.optimise_pose else [root]
        if use_off:
            params.append(u_off)
        if anchors is not None:
            params.append(anchors.free)
        # The global phase moves the pelvis angles only: mask the other gradients.
        mask = torch.zeros(sk.N_DOFS, dtype=dt, device=dev)
        mask[_ROOT_IDX] = 1.0
        if not phase.optimise_pose:
            params.append(u)
        opt = torch.optim.Adam(params, lr=phase.lr)
        # With the pose fixed, every keypoint is fixed in the pelvis frame: the phase needs only
        # the pelvis rotation per iteration, not the whole chain (anchors need the chain).
        rigid = None
        if not phase.optimise_pose and anchors is None:
            with torch.no_grad():
                fk_p = _fk(K.q_from_free(u + u_off), root, offsets)
                r_p, o_p = fk_p.rotations[:, 0], fk_p.origins[:, 0]
                rigid = (K.body_points(fk_p, bodies, local) - o_p[:, None]) @ r_p  # pelvis frame
        # Early stop compares the best loss of each 25-iteration window with the window before:
        # the first window of a phase is Adam's warm-up (a fresh optimiser's first steps move
        # every parameter by ~lr and raise the loss), so no phase stops before 50 iterations.
        recent = previous = float("inf")
        for it in range(phase.iterations):
            q = K.q_from_free(u + u_off)
            if rigid is None:
                fk = _fk(q, root, offsets)
                pts = K.body_points(fk, bodies, local)
            else:
                r_p = _pelvis_rotation(q)
                pts = (root + offsets[0]).unsqueeze(1) + rigid @ r_p.transpose(-1, -2)
            r2 = (project(pts) - kp).square().sum(-1)
            s2 = sigma2 * phase.sigma_scale**2
            # x scale^2: near the optimum every phase pulls like the narrow loss (r^2 / sigma^2).
            gm = _gm(r2, s2) * phase.sigma_scale**2
            loss_2d = (conf * gm).sum() / conf.sum().clamp_min(1.0)
            dq = q - q0
            dq = torch.where(
                torch.isin(
                    torch.arange(sk.N_DOFS, device=dev), torch.tensor(_ROOT_IDX, device=dev)
                ),
                torch.atan2(torch.sin(dq), torch.cos(dq)),
                dq,
            )
            loss_prior = (
                dq.square().mean()
                + (cfg.w_prior_pelvis / cfg.w_prior_q) * dq[..., _ROOT_IDX[:2]].square().mean()
            )
            loss = cfg.w_2d * loss_2d + cfg.w_prior_q * loss_prior
            terms = {"2d": loss_2d.item(), "prior": loss_prior.item()}
            if k3d is not None:
                pelvis = root.unsqueeze(1)
                l3 = (
                    (pts - pelvis - k3d).square().sum(-1) * k3d_ok
                ).sum() / k3d_ok.sum().clamp_min(1.0)
                loss = loss + cfg.w_3d * l3
                terms["3d"] = l3.item()
            if t > 2:
                acc_q = q[2:] - 2 * q[1:-1] + q[:-2]
                acc_r = root[2:] - 2 * root[1:-1] + root[:-2]
                ls = (
                    cfg.w_smooth_q * acc_q.square().mean()
                    + cfg.w_smooth_root * acc_r.square().sum(-1).mean()
                )
                if cfg.w_smooth_dq > 0:
                    acc_d = dq[2:] - 2 * dq[1:-1] + dq[:-2]
                    ls = ls + cfg.w_smooth_dq * acc_d.square().mean()
                loss = loss + ls
                terms["smooth"] = ls.item()
                if cfg.w_root_step > 0:
                    step = q[1:, _ROOT_IDX] - q[:-1, _ROOT_IDX]
                    limit = np.deg2rad(cfg.max_root_step_deg) * 30.0 / inp.fps
                    lr_ = torch.relu(step.abs() - limit).square().sum(-1).mean()
                    loss = loss + cfg.w_root_step * lr_
                    terms["root_step"] = lr_.item()
                if inp.foot_keypoints and anchors is None:
                    feet = pts[:, list(inp.foot_keypoints)]
                    slide = (feet[1:, :, [0, 2]] - feet[:-1, :, [0, 2]]).square().sum(-1)
                    w = contact[1:] * contact[:-1]
                    lc = (slide * w).sum() / w.sum().clamp_min(1.0)
                    loss = loss + cfg.w_contact * lc
                    terms["contact"] = lc.item()
            if anchors is not None:
                la, lp = anchors.losses(fk)
                loss = loss + cfg.w_anchor * la + cfg.w_penetration * lp
                terms["anchor"], terms["penetration"] = la.item(), lp.item()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if not phase.optimise_pose:
                u.grad.mul_(mask)
                if use_off:
                    u_off.grad.mul_(mask)
            opt.step()
            done += 1
            lv = loss.item()
            recent = min(recent, lv)
            if it % 25 == 0:
                if it >= 50 and (previous - recent) < cfg.early_stop_rel * abs(previous):
                    history.append(
                        {
                            "phase": phase.name,
                            "iteration": it,
                            "loss": lv,
                            **terms,
                            "stopped": True,
                        }
                    )
                    break
                if it > 0:
                    previous, recent = recent, float("inf")
                history.append({"phase": phase.name, "iteration": it, "loss": lv, **terms})
                if progress:
                    progress(done / total_its, f"refine {phase.name}: loss {lv:.4f}")
        done = sum(p.iterations for p in cfg.phases[: cfg.phases.index(phase) + 1])

    with torch.no_grad():
        q = K.q_from_free(u + u_off)
        fit_px = project(points_of(q, root))
        err = (fit_px - kp).norm(dim=-1)
    missing = (conf <= 0).cpu().numpy()
    e1 = np.where(missing, np.nan, err.cpu().numpy())
    e0 = np.where(missing, np.nan, err0.cpu().numpy())
    lo, hi = sk.limits_rad()
    q_np = np.clip(
        q.cpu().numpy(),
        np.where(np.isfinite(lo), lo, -np.inf),
        np.where(np.isfinite(hi), hi, np.inf),
    )
    return RefineResult(
        q_np,
        root.detach().cpu().numpy(),
        e1,
        e0,
        contact.cpu().numpy(),
        fit_px.cpu().numpy(),
        history,
    )
