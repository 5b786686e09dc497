"""Optimisation inverse kinematics for BSM-46: markers (or joint centres) -> q, root.

All frames are solved as one batch. Each frame's objective is independent

    sum_m w_tm |x_m(q_t, root_t) - y_tm|^2  +  prior_weight * sum_j (q_tj - q0_j)^2

so the default solver is a batched Levenberg-Marquardt (one 49x49 normal-equation solve per
frame and iteration, Jacobians by forward-mode autodiff through ``core.kinematics``). An optional
temporal smoothness term couples the frames; it is then minimised over the whole sequence with
L-BFGS after the per-frame phases.

Joint limits hold by construction: the solver works on the free values ``u`` and
``q = core.kinematics.q_from_free(u)``.

The prior (``IKConfig.prior_weight_m2``) pulls every limited DOF weakly towards ``q0`` = 0
clipped into its range (the anatomical neutral); it only matters for DOFs the markers do not pin
(with the default 1e-5 m^2/rad^2 a DOF 1 rad from neutral costs as much as one marker 3 mm off).

Targets that are joint centres (body origins) are markers with ``marker_local_m = 0``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from core import kinematics as kin
from core import skeleton as sk

__all__ = [
    "IKPhase",
    "IKConfig",
    "IKProgress",
    "IKResult",
    "solve_ik",
]

log = logging.getLogger(__name__)

_N_PARAMS = sk.N_DOFS + 3  # free values of q (46) then root translation (3)
_MAX_STEP = 1.0  # largest change of a free value (rad, or sigmoid units, or m) per LM step
_ROOT_PARAMS = [
    sk.DOF["pelvis_tilt"],
    sk.DOF["pelvis_list"],
    sk.DOF["pelvis_rotation"],
    46,
    47,
    48,
]


@dataclass(frozen=True)
class IKPhase:
    name: str
    free: str = "all"  # "root": pelvis rotations + translation only; "all": every DOF
    max_iter: int = 100
    rel_tol: float = 1e-7  # stop when no frame's cost drops by more than this fraction...
    abs_tol_m2: float = 1e-12  # ...or more than this (m^2) in an iteration


@dataclass(frozen=True)
class IKConfig:
    phases: tuple[IKPhase, ...] = (
        IKPhase("root", free="root", max_iter=30),
        IKPhase("all", free="all", max_iter=400),
    )
    prior_weight_m2: float = 1e-5  # per rad^2, towards the anatomical neutral (see module doc)
    smoothness_weight: float = 0.0  # m^2 per (rad or m)^2 of frame-to-frame change; 0 = off
    smooth_max_iter: int = 100  # L-BFGS iterations of the smoothness phase
    enforce_limits: bool = True  # False only for diagnostics (how much range a motion needs)
    lambda_init: float = 1.0  # Levenberg-Marquardt damping
    # Frames whose marker RMS stays above restart_rms_m are solved again from `restarts` random
    # in-range starts (seeded, so results are reproducible); the lowest cost wins.
    restarts: int = 3
    restart_rms_m: float = 0.005
    seed: int = 0


@dataclass
class IKProgress:
    phase: str
    iteration: int
    max_iter: int
    rms_m: float  # marker RMS over all frames and observed markers


@dataclass
class IKResult:
    q_rad: Tensor  # (T, 46) radians, within the limits when IKConfig.enforce_limits
    root_m: Tensor  # (T, 3) pelvis origin in the ground frame, metres
    marker_rms_m: Tensor  # (T,) RMS distance of the observed markers, metres (NaN if none)
    iterations: int  # total solver iterations over all phases
    free: Tensor | None = field(default=None, repr=False)  # (T, 46) free values, for warm starts


def _check_inputs(markers, marker_bodies, marker_local, offsets, weights) -> None:
    if markers.dim() != 3 or markers.shape[-1] != 3 or markers.shape[0] < 1:
        raise ValueError(
            f"expected markers_m of shape (T, M, 3) metres, got {tuple(markers.shape)}"
        )
    t, m, _ = markers.shape
    if marker_bodies.shape != (m,):
        raise ValueError(
            f"expected marker_bodies of shape ({m},), got {tuple(marker_bodies.shape)}"
        )
    if marker_bodies.numel() and (marker_bodies.min() < 0 or marker_bodies.max() >= sk.N_BODIES):
        raise ValueError(f"marker_bodies must index BSM-46 bodies (0..{sk.N_BODIES - 1})")
    if marker_local.shape != (m, 3):
        raise ValueError(
            f"expected marker_local_m of shape ({m}, 3), got {tuple(marker_local.shape)}"
        )
    if offsets.shape != (sk.N_BODIES, 3):
        raise ValueError(
            f"expected offsets_m of shape ({sk.N_BODIES}, 3), got {tuple(offsets.shape)}"
        )
    if not (torch.isfinite(marker_local).all() and torch.isfinite(offsets).all()):
        raise ValueError(
            "marker_local_m and offsets_m must be finite (NaN is only for missing markers)"
        )
    if torch.isinf(markers).any():
        raise ValueError("markers_m has inf values; use NaN for missing markers")
    if weights is not None:
        if weights.shape not in ((m,), (t, m)):
            raise ValueError(
                f"expected weights of shape ({m},) or ({t}, {m}), got {tuple(weights.shape)}"
            )
        if not torch.isfinite(weights).all() or (weights < 0).any():
            raise ValueError("weights must be finite and >= 0")
    if not torch.isfinite(markers).any(-1).any():
        raise ValueError("markers_m has no observed value (all NaN)")


def _as_tensor(x, dtype, device) -> Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x).to(
        device=device, dtype=dtype
    )


def _ancestors_or_self() -> np.ndarray:
    """(24, 24) bool: [b, a] is True when body a is b or one of its ancestors."""
    par = sk.parents()
    out = np.zeros((sk.N_BODIES, sk.N_BODIES), dtype=bool)
    for b in range(sk.N_BODIES):
        a = b
        while a >= 0:
            out[b, a] = True
            a = par[a]
    return out


_DOF_BODY = np.array([sk.BODY[d.body] for d in sk.DOFS], dtype=np.int64)
_ANC = _ancestors_or_self()


def fk_with_axes(q: Tensor, root_m: Tensor, offsets_m: Tensor) -> tuple[kin.FKResult, Tensor]:
    """Forward kinematics plus each DOF's rotation axis in the ground frame, (..., 46, 3).

    The pivot of DOF j is the origin of its body, so a point x fixed in that body or a
    descendant moves with dx/dq_j = axis_j x (x - origin)."""
    axes = torch.as_tensor(sk.dof_axes(), dtype=q.dtype, device=q.device)
    dof_rot = kin.axis_angle_matrix(axes, q)
    eye = torch.eye(3, dtype=q.dtype, device=q.device).expand(*q.shape[:-1], 3, 3)
    par = kin._PARENTS
    rots: list[Tensor] = []
    origins: list[Tensor] = []
    world_axes: list[Tensor | None] = [None] * sk.N_DOFS
    for i in range(sk.N_BODIES):
        c = eye if par[i] < 0 else rots[par[i]]
        for j in kin._BODY_DOFS[i]:
            world_axes[j] = c @ axes[j]
            c = c @ dof_rot[..., j, :, :]
        rots.append(c)
        if par[i] < 0:
            origins.append(root_m + offsets_m[i])
        else:
            origins.append(origins[par[i]] + rots[par[i]] @ offsets_m[i])
    fk = kin.FKResult(torch.stack(rots, -3), torch.stack(origins, -2))
    return fk, torch.stack(world_axes, -2)  # type: ignore[arg-type]


class _Problem:
    """Residuals of all frames; per frame [sqrt(w) * (x - y) (3M), prior (46)]."""

    def __init__(self, obs, w, bodies, local, offsets, cfg: IKConfig):
        self.obs, self.w, self.bodies, self.local, self.offsets, self.cfg = (
            obs,
            w,
            bodies,
            local,
            offsets,
            cfg,
        )
        lo, hi = sk.limits_rad()
        limited = np.isfinite(lo)
        # Neutral = 0 kept 5% of the range inside the limits (a target on a limit would pull
        # the sigmoid into saturation for ever).
        span = np.where(limited, hi - lo, 0.0)
        lo_m = np.where(limited, lo, 0.0) + 0.05 * span
        hi_m = np.where(limited, hi, 0.0) - 0.05 * span
        q0 = np.clip(0.0, lo_m, hi_m)
        dev, dt = obs.device, obs.dtype
        self.q0 = torch.as_tensor(q0, dtype=dt, device=dev)
        pw = np.where(limited, math.sqrt(cfg.prior_weight_m2), 0.0)
        self.prior_sqrt = torch.as_tensor(pw, dtype=dt, device=dev)
        anc = _ANC[bodies.cpu().numpy()][:, _DOF_BODY]  # (M, 46): DOF j moves marker m
        self.moves = torch.as_tensor(anc, dtype=dt, device=dev)
        self.dof_body = torch.as_tensor(_DOF_BODY, device=dev)
        self.sqrt_w = w.sqrt()

    def take(self, idx: Tensor) -> _Problem:
        """The same problem restricted to frames ``idx``."""
        sub = object.__new__(_Problem)
        sub.__dict__.update(self.__dict__)
        sub.obs, sub.w, sub.sqrt_w = self.obs[idx], self.w[idx], self.sqrt_w[idx]
        return sub

    def q_of(self, u: Tensor) -> Tensor:
        return kin.q_from_free(u) if self.cfg.enforce_limits else u

    def dq_du(self, u: Tensor) -> Tensor:
        if not self.cfg.enforce_limits:
            return torch.ones_like(u)
        lo, hi = kin._limits(u)
        s = torch.sigmoid(u)
        return torch.where(torch.isfinite(lo), (hi - lo) * s * (1 - s), torch.ones_like(u))

    def points(self, p: Tensor) -> Tensor:
        q, root = self.q_of(p[..., : sk.N_DOFS]), p[..., sk.N_DOFS :]
        fk = kin.forward_kinematics(q, root, self.offsets)
        return kin.body_points(fk, self.bodies, self.local)

    def _stack(self, x: Tensor, q: Tensor) -> Tensor:
        d = (x - self.obs) * self.sqrt_w.unsqueeze(-1)
        prior = (q - self.q0) * self.prior_sqrt
        return torch.cat([d.flatten(-2), prior], -1)

    def residual(self, p: Tensor) -> Tensor:
        """(T, 49) -> (T, 3M + 46)."""
        q = self.q_of(p[..., : sk.N_DOFS])
        return self._stack(self.points(p), q)

    def jacobian(self, p: Tensor) -> tuple[Tensor, Tensor]:
        """Analytic Jacobian (T, 3M + 46, 49) and residual (T, 3M + 46)."""
        u = p[..., : sk.N_DOFS]
        q, root = self.q_of(u), p[..., sk.N_DOFS :]
        fk, waxes = fk_with_axes(q, root, self.offsets)
        x = kin.body_points(fk, self.bodies, self.local)  # (T, M, 3)
        pivots = fk.origins[..., self.dof_body, :]  # (T, 46, 3)
        lever = x.unsqueeze(-2) - pivots.unsqueeze(-3)  # (T, M, 46, 3)
        scale = self.moves * self.dq_du(u).unsqueeze(-2) * self.sqrt_w.unsqueeze(-1)  # (T, M, 46)
        a0, a1, a2 = (waxes[..., k].unsqueeze(-2) for k in range(3))  # (T, 1, 46)
        l0, l1, l2 = lever.unbind(-1)
        t, m = x.shape[0], x.shape[1]
        n_res = 3 * m + sk.N_DOFS
        jac = torch.zeros(t, n_res, _N_PARAMS, dtype=p.dtype, device=p.device)
        jm = jac[:, : 3 * m, : sk.N_DOFS].view(t, m, 3, sk.N_DOFS)
        jm[:, :, 0] = (a1 * l2 - a2 * l1) * scale
        jm[:, :, 1] = (a2 * l0 - a0 * l2) * scale
        jm[:, :, 2] = (a0 * l1 - a1 * l0) * scale
        jr = jac[:, : 3 * m, sk.N_DOFS :].view(t, m, 3, 3)
        eye = torch.eye(3, dtype=p.dtype, device=p.device)
        jr[:] = self.sqrt_w[..., None, None] * eye
        jac[:, 3 * m :, : sk.N_DOFS] = torch.diag_embed(self.prior_sqrt * self.dq_du(u))
        return jac, self._stack(x, q)

    def rms(self, p: Tensor, mask: Tensor) -> tuple[Tensor, float]:
        with torch.no_grad():
            d2 = ((self.points(p) - self.obs) ** 2).sum(-1) * mask
            n = mask.sum(-1)
            per_frame = (d2.sum(-1) / n.clamp_min(1)).sqrt()
            per_frame = torch.where(n > 0, per_frame, torch.full_like(per_frame, float("nan")))
            total = float((d2.sum() / mask.sum().clamp_min(1)).sqrt())
        return per_frame, total


def _pelvis_fixed_points(
    bodies: np.ndarray, local: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Markers that move rigidly with the pelvis: (indices, positions in the pelvis frame)."""
    par = sk.parents()
    idx, pts = [], []
    for m, b in enumerate(bodies):
        if b == sk.BODY["pelvis"]:
            idx.append(m)
            pts.append(local[m])
        elif par[b] == sk.BODY["pelvis"] and np.allclose(local[m], 0.0):
            idx.append(m)  # the joint centre of a pelvis child is fixed in the pelvis
            pts.append(offsets[b])
    return np.asarray(idx, dtype=np.int64), np.asarray(pts, dtype=np.float64).reshape(-1, 3)


def _kabsch_root(obs: Tensor, mask: Tensor, local_pts: Tensor) -> tuple[Tensor, Tensor]:
    """Weighted Kabsch per frame: world = R @ local + t. obs (T, K, 3), mask (T, K)."""
    w = mask / mask.sum(-1, keepdim=True).clamp_min(1e-12)
    y = torch.nan_to_num(obs)
    cy = (w.unsqueeze(-1) * y).sum(-2)
    cx = (w.unsqueeze(-1) * local_pts).sum(-2)
    h = torch.einsum("tk,tki,tkj->tij", w, local_pts - cx.unsqueeze(-2), y - cy.unsqueeze(-2))
    u, _, vt = torch.linalg.svd(h)
    d = torch.sign(torch.linalg.det(vt.transpose(-1, -2) @ u.transpose(-1, -2)))
    fix = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    r = vt.transpose(-1, -2) @ fix @ u.transpose(-1, -2)
    t = cy - (r @ cx.unsqueeze(-1)).squeeze(-1)
    return r, t


def _initial_params(prob: _Problem, mask: Tensor, bodies_np, local_np, offsets_np) -> Tensor:
    obs = prob.obs
    t_frames = obs.shape[0]
    dt, dev = obs.dtype, obs.device
    q = torch.zeros(t_frames, sk.N_DOFS, dtype=dt, device=dev)
    # Start limited DOFs a little inside their range (a sigmoid at its limit has no gradient).
    lo, hi = kin._limits(q)
    lim = torch.isfinite(lo)
    q = torch.where(
        lim, torch.minimum(torch.maximum(q, lo + 0.05 * (hi - lo)), hi - 0.05 * (hi - lo)), q
    )
    idx, pts = _pelvis_fixed_points(bodies_np, local_np, offsets_np)
    root = torch.zeros(t_frames, 3, dtype=dt, device=dev)
    if len(idx) >= 3:
        m = mask[:, idx]
        r, tr = _kabsch_root(obs[:, idx], m, torch.as_tensor(pts, dtype=dt, device=dev))
        good = m.sum(-1) >= 3
        ang = kin.pelvis_angles_from_matrix(r)
        pel = [sk.DOF["pelvis_tilt"], sk.DOF["pelvis_list"], sk.DOF["pelvis_rotation"]]
        q[:, pel] = torch.where(good.unsqueeze(-1), ang, q[:, pel])
        root = torch.where(good.unsqueeze(-1), tr - prob.offsets[sk.BODY["pelvis"]], root)
        missing = ~good
    else:
        missing = torch.ones(t_frames, dtype=torch.bool, device=dev)
    if missing.any():
        # Translation only: centroid of the observed markers minus their zero-pose centroid.
        p0 = torch.cat([torch.zeros_like(q[:1]), torch.zeros_like(root[:1])], -1)
        zero_pts = prob.points(p0)[0]
        y = torch.nan_to_num(obs)
        n = mask.sum(-1, keepdim=True).clamp_min(1)
        shift = ((y - zero_pts) * mask.unsqueeze(-1)).sum(-2) / n
        root = torch.where(missing.unsqueeze(-1), shift, root)
    u = kin.free_from_q(q) if prob.cfg.enforce_limits else q
    return torch.cat([u, root], -1)


def _lm_phase(
    prob: _Problem,
    p: Tensor,
    phase: IKPhase,
    cfg: IKConfig,
    mask: Tensor,
    progress: Callable[[IKProgress], None] | None,
) -> tuple[Tensor, int]:
    cols = list(range(_N_PARAMS)) if phase.free == "all" else _ROOT_PARAMS
    if phase.free not in ("all", "root"):
        raise ValueError(f"IKPhase.free must be 'all' or 'root', got {phase.free!r}")
    cols_t = torch.as_tensor(cols, device=p.device)
    eye = torch.eye(len(cols), dtype=p.dtype, device=p.device)
    lam = torch.full((p.shape[0],), cfg.lambda_init, dtype=p.dtype, device=p.device)
    p = p.clone()
    # Frames that have converged leave the active set, so late iterations are cheap.
    active = torch.arange(p.shape[0], device=p.device)
    it = 0
    with torch.no_grad():
        for it in range(1, phase.max_iter + 1):
            sub = prob.take(active)
            pa, la = p[active], lam[active]
            j, r = sub.jacobian(pa)
            cost = (r**2).sum(-1)
            js = j[..., cols_t]
            h = js.transpose(-1, -2) @ js
            g = (js.transpose(-1, -2) @ r.unsqueeze(-1)).squeeze(-1)
            diag = torch.diagonal(h, dim1=-2, dim2=-1)
            damp = diag + 1e-9 * diag.mean(-1, keepdim=True) + 1e-12
            a = h + la[:, None, None] * torch.diag_embed(damp) + 1e-12 * eye
            step = -torch.linalg.solve(a, g)
            # Trust region in the free values: a sigmoid pushed far into saturation stalls.
            step = step.clamp(-_MAX_STEP, _MAX_STEP)
            p_new = pa.clone()
            p_new[:, cols_t] = pa[:, cols_t] + step
            cost_new = (sub.residual(p_new) ** 2).sum(-1)
            better = cost_new < cost
            gain = torch.where(better, cost - cost_new, torch.zeros_like(cost))
            p[active] = torch.where(better.unsqueeze(-1), p_new, pa)
            lam[active] = torch.where(better, (la / 3).clamp_min(1e-9), (la * 4).clamp_max(1e9))
            if progress is not None:
                _, total = prob.rms(p, mask)
                progress(IKProgress(phase.name, it, phase.max_iter, total))
            stalled = (gain <= phase.rel_tol * cost) | (gain <= phase.abs_tol_m2)
            # A frame is done when a step gains (almost) nothing, accepted or at high damping.
            done = stalled & (better | (lam[active] >= 1e6))
            active = active[~done]
            if active.numel() == 0:
                break
    return p, it


def _restart_bad_frames(
    prob: _Problem, p: Tensor, mask: Tensor, cfg: IKConfig
) -> tuple[Tensor, int]:
    """Re-solve frames stuck in a local minimum from random in-range starts; keep the best."""
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    main = next((ph for ph in cfg.phases if ph.free == "all"), IKPhase("all"))
    all_phase = IKPhase("restart", "all", min(main.max_iter, 150), main.rel_tol, main.abs_tol_m2)
    iterations = 0
    for _ in range(cfg.restarts):
        rms, _ = prob.rms(p, mask)
        bad = torch.nonzero(rms > cfg.restart_rms_m).flatten()
        if bad.numel() == 0:
            break
        sub = prob.take(bad)
        start = p[bad].clone()
        rnd = (torch.rand(bad.numel(), sk.N_DOFS, generator=gen, dtype=p.dtype) * 2 - 1).to(
            p.device
        )
        lo, _hi = kin._limits(start)
        limited = torch.isfinite(lo)
        start[:, : sk.N_DOFS] = torch.where(limited, 1.5 * rnd, start[:, : sk.N_DOFS])
        if not cfg.enforce_limits:
            start[:, : sk.N_DOFS] = torch.where(limited, 0.5 * rnd, start[:, : sk.N_DOFS])
        cand, it = _lm_phase(sub, start, all_phase, cfg, mask[bad], None)
        iterations += it
        with torch.no_grad():
            old = (sub.residual(p[bad]) ** 2).sum(-1)
            new = (sub.residual(cand) ** 2).sum(-1)
        p = p.clone()
        p[bad] = torch.where((new < old).unsqueeze(-1), cand, p[bad])
        log.debug("IK restart: %d frames tried, %d improved", bad.numel(), int((new < old).sum()))
    return p, iterations


def _smooth_phase(
    prob: _Problem,
    p: Tensor,
    cfg: IKConfig,
    mask: Tensor,
    progress: Callable[[IKProgress], None] | None,
) -> tuple[Tensor, int]:
    x = p.detach().clone().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [x],
        lr=1.0,
        max_iter=cfg.smooth_max_iter,
        history_size=20,
        line_search_fn="strong_wolfe",
        tolerance_change=1e-14,
        tolerance_grad=1e-12,
    )
    n_eval = 0

    def closure() -> Tensor:
        nonlocal n_eval
        opt.zero_grad()
        r = prob.residual(x)
        val = torch.cat([prob.q_of(x[:, : sk.N_DOFS]), x[:, sk.N_DOFS :]], -1)
        smooth = ((val[1:] - val[:-1]) ** 2).sum()
        loss = (r**2).sum() + cfg.smoothness_weight * smooth
        loss.backward()
        n_eval += 1
        return loss

    opt.step(closure)
    if progress is not None:
        _, total = prob.rms(x.detach(), mask)
        progress(IKProgress("smooth", n_eval, cfg.smooth_max_iter, total))
    return x.detach(), n_eval


def solve_ik(
    markers_m,
    marker_bodies,
    marker_local_m,
    offsets_m,
    weights=None,
    init: IKResult | None = None,
    config: IKConfig | None = None,
    progress: Callable[[IKProgress], None] | None = None,
) -> IKResult:
    """Joint angles and root that put the model's markers on ``markers_m``.

    markers_m: (T, M, 3) metres in the ground frame, NaN for missing; marker_bodies: (M,) BSM-46
    body indices; marker_local_m: (M, 3) marker positions in their body's frame (0 for joint
    centres); offsets_m: (24, 3) the subject's skeleton; weights: (M,) or (T, M), >= 0.
    Tensors keep their device (CUDA when given); numpy inputs are solved in float64 on the CPU.
    """
    cfg = config or IKConfig()
    if isinstance(markers_m, Tensor):
        dtype, device = markers_m.dtype, markers_m.device
        if not dtype.is_floating_point:
            dtype = torch.float64
    else:
        dtype, device = torch.float64, torch.device("cpu")
    obs = _as_tensor(markers_m, dtype, device)
    bodies = _as_tensor(marker_bodies, torch.int64, device)
    local = _as_tensor(marker_local_m, dtype, device)
    offsets = _as_tensor(offsets_m, dtype, device)
    w = None if weights is None else _as_tensor(weights, dtype, device)
    _check_inputs(obs, bodies, local, offsets, w)
    t_frames, m, _ = obs.shape
    mask = torch.isfinite(obs).all(-1).to(dtype)
    w = torch.ones(m, dtype=dtype, device=device) if w is None else w
    w = w.expand(t_frames, m) * mask
    mask = mask * (w > 0)  # the RMS counts the markers that were used
    prob = _Problem(torch.nan_to_num(obs), w, bodies, local, offsets, cfg)
    prob_obs_nan = obs  # kept for the Kabsch start (NaN-aware through the mask)

    if init is not None:
        if init.q_rad.shape != (t_frames, sk.N_DOFS) or init.root_m.shape != (t_frames, 3):
            raise ValueError(
                f"init must have q_rad ({t_frames}, {sk.N_DOFS}) and root_m ({t_frames}, 3), got "
                f"{tuple(init.q_rad.shape)} and {tuple(init.root_m.shape)}"
            )
        q0 = init.q_rad.to(device=device, dtype=dtype)
        u0 = (
            init.free.to(device=device, dtype=dtype)
            if init.free is not None
            else (kin.free_from_q(q0, eps=1e-4) if cfg.enforce_limits else q0)
        )
        p = torch.cat([u0, init.root_m.to(device=device, dtype=dtype)], -1)
    else:
        prob.obs = prob_obs_nan
        p = _initial_params(
            prob, mask, bodies.cpu().numpy(), local.cpu().numpy(), offsets.cpu().numpy()
        )
        prob.obs = torch.nan_to_num(obs)

    # The root phase fits the pelvis to the pelvis-fixed markers where a frame has 3 of them.
    idx, _ = _pelvis_fixed_points(bodies.cpu().numpy(), local.cpu().numpy(), offsets.cpu().numpy())
    pel = torch.zeros(m, dtype=dtype, device=device)
    pel[torch.as_tensor(idx, dtype=torch.int64, device=device)] = 1.0
    enough = ((w * pel) > 0).sum(-1, keepdim=True) >= 3
    prob_root = _Problem(prob.obs, torch.where(enough, w * pel, w), bodies, local, offsets, cfg)

    iterations = 0
    for phase in cfg.phases:
        p, it = _lm_phase(
            prob_root if phase.free == "root" else prob, p, phase, cfg, mask, progress
        )
        iterations += it
        log.debug(
            "IK phase %s: %d iterations, rms %.2f mm", phase.name, it, 1e3 * prob.rms(p, mask)[1]
        )
    if cfg.restarts > 0:
        p, it = _restart_bad_frames(prob, p, mask, cfg)
        iterations += it
    if cfg.smoothness_weight > 0 and t_frames > 1:
        p, it = _smooth_phase(prob, p, cfg, mask, progress)
        iterations += it
    rms, total = prob.rms(p, mask)
    log.info(
        "IK: %d frames, %d markers, %d iterations, marker RMS %.2f mm",
        t_frames,
        m,
        iterations,
        1e3 * total,
    )
    u = p[:, : sk.N_DOFS]
    return IKResult(prob.q_of(u).detach(), p[:, sk.N_DOFS :].detach(), rms, iterations, u.detach())
