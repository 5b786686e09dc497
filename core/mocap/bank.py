"""The real-motion bank: every CMU take in the shared data except the held-out ones, retargeted
onto BSM-46 at 30 fps, cached under ``.cache/motion_bank`` (built by a command, resumable,
deterministic).

    python -m core.mocap.bank build     # retarget what is missing or stale (nice it: ~40 min CPU)
    python -m core.mocap.bank report    # per-clip tracking error, limits, frames kept

Takes: ``mocap/cmu`` (01_01 and 11_01 as ASF/AMC; the 01_01 BVH is the same take) and
``mocap/cmu_more`` (ASF/AMC of subjects 01-03, Daz-friendly BVH of subjects 02-16 and the dance
folder). A take that exists as AMC and as BVH is counted once, from the AMC (the subject's own
skeleton; the Daz-friendly conversion uses one fixed figure for everybody). Held-out clips
(``core.mocap.holdout``) are never read.

The two source paths disagree by several degrees even after the limb straightening in
``core.mocap.track`` (hips, ankles, spine). The build measures the disagreement on the takes
present in both formats (Daz BVH minus AMC, per DOF, mean over frames and takes) and
``load_bank`` puts every take into ONE convention, chosen at build time (``--convention``,
recorded in ``bank.json``): ``amc`` (the default) moves the Daz-friendly takes toward AMC by that
mean; ``daz`` adds it to the toe-joint takes instead (AMC, and BVH with a toe joint: CMU's 01_01
BVH and AMC agree within 0.3 deg mean per DOF). Heading and MTP are never shifted (Daz-friendly
files have no toe joint: their MTP is not observed).

Measured (deg): Daz minus AMC on the ankle is -14 to -20 for subject 02 (near constant) and -2 to
-8 for subject 03 (SD 9-14 over frames); hip flexion +11 to +17 and +1 to +4; knee and elbow
within 1.2. Against OpenSim's reference IK of real markers (gait2392 walk: ankle 4.8/2.6, hip
flexion 2.9) neither path is right: walks retarget to ankle -5 to +3 (Daz) and +10 to +12 (AMC,
02_01), hip flexion 18-20 (Daz) and 7 (AMC). Bank means: ankle 13-17 in the ``amc`` convention,
2-4 in ``daz``. The lifter trained on ``daz`` (``core/lift/weights/bank2d_v2``) lost its ankle
bias on the marker trials (+13/+19 -> -2/+1 deg) but gained one on hip flexion (+4/+6 -> +14/+16)
and the capture was not better (see its README), so ``amc`` stays the default, the convention of
the shipped ``bank2d``.
``report`` prints the table and the leave-one-subject-out residual. ``convention`` writes the
built default bank's measurement to ``core/mocap/convention.json``, the shipped copy through
which the accuracy harness (``benchmarks/accuracy/run.py --truth bank``) can put its held-out
takes into the same convention (``to_convention``) without the bank being built; run it after a
rebuild that changes the measurement.

A constant angle shift is not a change of convention for the whole body: it also moves the
posture. The 80 shifted Daz-friendly takes lean a median 5.1 deg off their feet (1.7 unshifted;
the AMC-sourced takes 3.9): ``benchmarks/accuracy/RESULTS.md``, twelfth session.

Frames whose retarget misses the source by more than ``BAD_FRAME_MM`` (mean over targets) are
dropped when the bank is loaded (the clip is split there; pieces under 1 s are dropped).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import skeleton as sk
from core.mocap.holdout import check_not_held_out, clip_id, is_held_out

__all__ = [
    "BankClip",
    "bank_convention",
    "bank_sources",
    "build_bank",
    "load_bank",
    "to_convention",
    "write_convention_file",
    "DEFAULT_BANK",
    "main",
]

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BANK = REPO / ".cache" / "motion_bank"
FPS = 30.0
BAD_FRAME_MM = 40.0
MIN_PIECE_S = 1.0
_CODE = ("core/bvh.py", "core/mocap/track.py", "core/mocap/asf_amc.py")
# The convention every take is put into at load time (see the module doc): "amc" subtracts the
# measured Daz-minus-AMC mean from the Daz-friendly takes, "daz" adds it to the toe-joint takes;
# DOFs listed in _NOT_CORRECTED keep their retargeted values (heading: not a pose; MTP: unobserved
# in Daz-friendly files).
CONVENTIONS = ("amc", "daz")
DEFAULT_CONVENTION = "amc"
_NOT_CORRECTED = ("pelvis_rotation", "mtp_angle_r", "mtp_angle_l")
# The shipped copy of the built bank's Daz-minus-AMC measurement (``bank_convention``).
CONVENTION_FILE = Path(__file__).with_name("convention.json")


@dataclass
class BankClip:
    clip: str
    q_rad: np.ndarray  # (T, 46) within the limits, skeleton convention of the bank
    fps: float
    source: str


def _shared_default() -> Path:
    return Path(os.environ.get("BIOMOCAP_SHARED_DATA", REPO.parent / "shared" / "data"))


def bank_sources(shared: Path) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """(training sources in a fixed order, [(Daz BVH, AMC) pairs of the same take])."""
    mocap = Path(shared) / "mocap"
    if not mocap.is_dir():
        raise FileNotFoundError(f"no mocap folder under {shared} (set BIOMOCAP_SHARED_DATA)")
    amc = sorted((mocap / "cmu").glob("*.amc")) + sorted((mocap / "cmu_more").rglob("*.amc"))
    bvh = sorted((mocap / "cmu").glob("*.bvh")) + sorted((mocap / "cmu_more").rglob("*.bvh"))
    by_id: dict[str, Path] = {}
    for p in amc + bvh:  # AMC first: it wins a take present in both formats
        cid = clip_id(p)
        if not is_held_out(cid) and cid not in by_id:
            by_id[cid] = p
    amc_ids = {clip_id(p): p for p in amc}
    pairs = [
        (p, amc_ids[clip_id(p)])
        for p in bvh
        if clip_id(p) in amc_ids and "cmu_more" in p.parts and not is_held_out(p)
    ]
    return [by_id[c] for c in sorted(by_id)], pairs


def _code_hash() -> str:
    h = hashlib.sha1()
    for rel in _CODE:
        h.update((REPO / rel).read_bytes())
    h.update(str(getattr(sk, "SKELETON_CONVENTION", 1)).encode())
    return h.hexdigest()[:10]


def _file_hash(p: Path) -> str:
    return hashlib.sha1(p.read_bytes()).hexdigest()[:12]


def _retarget(path: Path, out: Path, code: str, fps: float = FPS) -> dict:
    """Retarget one take at ``fps`` into ``out`` (npz + json), unless a current copy (at any
    rate) is there."""
    key = f"{_file_hash(path)}-{code}"
    meta_p = out.with_suffix(".json")
    if meta_p.is_file() and out.is_file():
        meta = json.loads(meta_p.read_text())
        if meta.get("key") == key:
            return meta
    from core.bvh import retarget_bvh
    from core.ik import IKConfig
    from core.motion import atomic_write

    # Random restarts only for frames off by more than 15 mm (default 5 mm): the Daz-friendly
    # head points cannot be met closer than ~12 mm, and restarting those frames cost 80 % of
    # the time without changing a single angle by more than 0.3 deg (martial_03, 02_04).
    motion, rep = retarget_bvh(path, target_fps=fps, ik_config=IKConfig(restart_rms_m=0.015))
    err = np.linalg.norm(_model_points(motion) - motion.markers_m, axis=-1)  # (T, targets) metres
    frame_mm = 1e3 * err.mean(1)
    arrays = {
        "q_rad": motion.q_rad.astype(np.float32),
        "root_m": motion.root_m.astype(np.float32),
        "offsets_m": motion.offsets_m.astype(np.float32),
        "frame_error_mm": frame_mm.astype(np.float32),
    }
    atomic_write(out, lambda fh: np.savez(fh, **arrays), binary=True)
    pressing = {k: v for k, v in rep.at_limit_fraction.items() if v > 0.05}
    meta = {
        "key": key,
        "clip": clip_id(path),
        "source": str(path),
        "format": motion.provenance["retarget_bvh"]["format"],
        "naming": rep.convention,
        "unit": rep.unit,
        "fps": motion.fps,
        "n_frames": motion.n_frames,
        "stature_m": rep.stature_m,
        "error_mean_mm": float(np.mean(list(rep.error_mean_mm.values()))),
        "error_p95_max_mm": float(np.max(list(rep.error_p95_mm.values()))),
        "worst_target": max(rep.error_mean_mm, key=rep.error_mean_mm.get),
        "worst_target_mm": float(max(rep.error_mean_mm.values())),
        "bad_frames": int((frame_mm > BAD_FRAME_MM).sum()),
        "limit_violations": int(sk.limit_violations(motion.q_rad)),
        "pressing": pressing,
    }
    atomic_write(meta_p, lambda fh: fh.write(json.dumps(meta, indent=1)))
    return meta


def _model_points(motion) -> np.ndarray:
    import torch

    from core import kinematics as kin

    fk = kin.forward_kinematics(
        torch.from_numpy(motion.q_rad),
        torch.from_numpy(motion.root_m),
        torch.from_numpy(motion.offsets_m),
    )
    return kin.body_points(
        fk, torch.from_numpy(motion.marker_bodies), torch.from_numpy(motion.marker_local_m)
    ).numpy()


def _daz_correction(
    folder: Path, pairs: list[tuple[Path, Path]], code: str, fps: float = FPS
) -> dict:
    """Per-DOF mean bias (rad) of Daz-friendly takes vs the same takes' AMC, and the
    leave-one-subject-out residual MAE (deg) of correcting with the other subjects' mean."""
    diffs: dict[str, list[np.ndarray]] = {}
    for daz, amc in pairs:
        _retarget(daz, folder / "pairs" / f"{clip_id(daz)}_daz.npz", code, fps)
        qa = np.load(folder / "pairs" / f"{clip_id(daz)}_daz.npz")["q_rad"].astype(np.float64)
        _retarget(amc, folder / "clips" / f"{clip_id(amc)}.npz", code, fps)
        qb = np.load(folder / "clips" / f"{clip_id(amc)}.npz")["q_rad"].astype(np.float64)
        n = min(len(qa), len(qb))
        subject = clip_id(daz).split("_")[0]
        diffs.setdefault(subject, []).append(qa[:n] - qb[:n])
    if not diffs:
        return {}
    keep = [sk.DOF[n] for n in _NOT_CORRECTED]
    allv = np.concatenate([d for v in diffs.values() for d in v])
    bias = allv.mean(0)
    bias[keep] = 0.0
    before = np.rad2deg(np.abs(allv)).mean(0)
    loso = {}
    for s in diffs:
        others = [d for k, v in diffs.items() if k != s for d in v]
        if not others:  # one subject: nothing to validate against
            continue
        b = np.concatenate(others).mean(0)
        b[keep] = 0.0
        own = np.concatenate(diffs[s])
        loso[s] = np.rad2deg(np.abs(own - b)).mean(0).tolist()
    return {
        "pairs": [[str(a), str(b)] for a, b in pairs],
        "bias_rad": bias.tolist(),
        "mae_before_deg": before.tolist(),
        "loso_mae_after_deg": loso,
    }


def build_bank(
    shared: Path,
    folder: Path = DEFAULT_BANK,
    reverse: bool = False,
    fps: float = FPS,
    start: int = 0,
    convention: str = DEFAULT_CONVENTION,
) -> dict:
    """Retarget every training take (missing or stale ones only) and write ``bank.json``
    (``convention``: the one ``load_bank`` puts every take into, see the module doc).
    ``reverse`` walks the takes from the end (a second worker on the same folder); the index
    keeps the fixed order. ``fps`` below 30 retargets fewer frames (IK is the cost);
    ``load_bank`` interpolates every take to 30 fps."""
    from core.motion import atomic_write

    if convention not in CONVENTIONS:
        raise ValueError(f"unknown bank convention {convention!r}; use one of {CONVENTIONS}")
    sources, pairs = bank_sources(shared)
    code = _code_hash()
    (folder / "clips").mkdir(parents=True, exist_ok=True)
    (folder / "pairs").mkdir(parents=True, exist_ok=True)
    daz = _daz_correction(folder, pairs, code, fps)
    order = [clip_id(p) for p in sources]

    def write_index() -> dict:
        # Every current take on disk (a second worker's too), in the fixed order: the index is
        # rewritten after each take, so training can start on a bank that is still growing.
        done = []
        for cid in order:
            meta_p = folder / "clips" / f"{cid}.json"
            if meta_p.is_file() and (folder / "clips" / f"{cid}.npz").is_file():
                meta = json.loads(meta_p.read_text())
                if meta.get("key", "").endswith(code):
                    done.append(meta)
        index = {
            "fps": FPS,
            "skeleton_convention": int(getattr(sk, "SKELETON_CONVENTION", 1)),
            "code": code,
            "bad_frame_mm": BAD_FRAME_MM,
            "daz_correction": daz,
            "convention": convention,  # how load_bank applies bias_rad
            "complete": len(done) == len(order),
            "clips": done,
        }
        atomic_write(folder / "bank.json", lambda fh: fh.write(json.dumps(index, indent=1)))
        return index

    walk = list(reversed(sources)) if reverse else list(sources)
    walk = walk[start:] + walk[:start]  # a third worker starts in the middle
    for i, path in enumerate(walk, 1):
        check_not_held_out(path, "the motion bank")
        meta = _retarget(path, folder / "clips" / f"{clip_id(path)}.npz", code, fps)
        log.info(
            "[%d/%d] %s: %d frames, %s, tracking %.1f mm",
            i,
            len(sources),
            meta["clip"],
            meta["n_frames"],
            meta["naming"],
            meta["error_mean_mm"],
        )
        write_index()
    index = write_index()
    return index


def _daz_bias(index: dict) -> np.ndarray | None:
    """The Daz-minus-AMC mean per DOF (rad) a bank index holds, or None without pairs."""
    bias = (index.get("daz_correction") or {}).get("bias_rad")
    return None if bias is None else np.array(bias, dtype=np.float64)


def to_convention(
    q_rad: np.ndarray, naming: str, daz_minus_amc_rad: np.ndarray, convention: str
) -> np.ndarray:
    """A retargeted take's angles (``naming``: its file's joint naming, ``core.mocap.track``)
    put into the bank's ``convention`` (module doc): "amc" subtracts the Daz-minus-AMC mean from
    a Daz-friendly take, "daz" adds it to every other take; clipped to the joint limits. The
    harness's ``--truth bank`` puts its held-out takes through the same step
    (``benchmarks.accuracy.data.load_take``), so that their truth follows the convention the
    prior was trained in."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown bank convention {convention!r}; use one of {CONVENTIONS}")
    bias = np.array(daz_minus_amc_rad, dtype=np.float64)
    bias[[sk.DOF[n] for n in _NOT_CORRECTED]] = 0.0
    if (convention == "daz") == (naming == "daz"):
        return np.asarray(q_rad, dtype=np.float64)
    lo, hi = sk.limits_rad()
    lo, hi = np.where(np.isfinite(lo), lo, -np.inf), np.where(np.isfinite(hi), hi, np.inf)
    sign = 1.0 if convention == "daz" else -1.0
    return np.clip(np.asarray(q_rad, dtype=np.float64) + sign * bias, lo, hi)


def bank_convention(folder: Path = DEFAULT_BANK) -> tuple[np.ndarray, str, str]:
    """(Daz-minus-AMC mean per DOF in rad, the bank's convention, where they were read): from
    the built bank's ``bank.json`` where there is one, else from :data:`CONVENTION_FILE` (the
    shipped copy of the measurement, written by ``python -m core.mocap.bank convention``), so
    that a fresh clone's harness puts its truth into the same convention without building the
    bank. Raises FileNotFoundError when neither is there."""
    index_p = Path(folder) / "bank.json"
    if index_p.is_file():
        index = json.loads(index_p.read_text())
        bias = _daz_bias(index)
        if bias is not None:
            return bias, index.get("convention", DEFAULT_CONVENTION), str(index_p)
    if not CONVENTION_FILE.is_file():
        raise FileNotFoundError(
            f"no {CONVENTION_FILE} and no built bank at {folder}: "
            "run: python -m core.mocap.bank build"
        )
    data = json.loads(CONVENTION_FILE.read_text())
    deg = data["daz_minus_amc_deg"]
    bias = np.deg2rad([float(deg.get(n, 0.0)) for n in sk.DOF_NAMES])
    return bias, data["convention"], str(CONVENTION_FILE)


def write_convention_file(folder: Path = DEFAULT_BANK, path: Path | None = None) -> Path:
    """Write the built bank's Daz-minus-AMC measurement and convention to ``path`` (default
    :data:`CONVENTION_FILE`), the copy a fresh clone reads without the bank."""
    index_p = Path(folder) / "bank.json"
    if not index_p.is_file():
        raise FileNotFoundError(
            f"no motion bank at {folder}; run: python -m core.mocap.bank build"
        )
    index = json.loads(index_p.read_text())
    bias = _daz_bias(index)
    if bias is None:
        raise ValueError(f"{index_p}: no Daz/AMC pairs were measured (daz_correction is empty)")
    deg = np.rad2deg(bias)
    daz = index["daz_correction"]
    data = {
        "what": "mean Daz-friendly BVH minus AMC of the same CMU takes, per DOF (deg), as "
        "measured by core.mocap.bank build; the bank puts every take into 'convention' with it",
        "convention": index.get("convention", DEFAULT_CONVENTION),
        "pairs": [[Path(a).name, Path(b).name] for a, b in daz.get("pairs", [])],
        "bank_code": index.get("code"),
        "daz_minus_amc_deg": {n: round(float(deg[i]), 3) for n, i in sk.DOF.items()},
    }
    out = Path(path) if path is not None else CONVENTION_FILE
    from core.motion import atomic_write

    atomic_write(out, lambda fh: fh.write(json.dumps(data, indent=1) + "\n"))
    return out


def load_bank(folder: Path = DEFAULT_BANK) -> list[BankClip]:
    """The bank's clips, bad frames cut out, all takes in the index's ``convention`` (AMC or
    Daz-friendly, see the module doc), in the current skeleton convention. Raises
    FileNotFoundError with the build command if it is missing."""
    index_p = Path(folder) / "bank.json"
    if not index_p.is_file():
        raise FileNotFoundError(
            f"no motion bank at {folder}; build it with: python -m core.mocap.bank build"
        )
    index = json.loads(index_p.read_text())
    conv = int(index.get("skeleton_convention", 1))
    bias = _daz_bias(index)
    bias = np.zeros(sk.N_DOFS) if bias is None else bias
    convention = index.get("convention", DEFAULT_CONVENTION)
    out = []
    for meta in index["clips"]:
        check_not_held_out(meta["clip"], "training")
        with np.load(Path(folder) / "clips" / f"{meta['clip']}.npz") as z:
            q = z["q_rad"].astype(np.float64)
            bad = z["frame_error_mm"] > index.get("bad_frame_mm", BAD_FRAME_MM)
        q = to_convention(q, meta["naming"], bias, convention)
        if hasattr(sk, "to_current_convention"):
            q = sk.to_current_convention(q, conv)
        fps = float(meta["fps"])
        if abs(fps - FPS) > 0.5:  # linear in time (the heading unwrapped first)
            q, bad = _resample(q, bad, fps, FPS)
            fps = FPS
        edges = np.flatnonzero(np.diff(np.r_[1, bad.astype(int), 1]))  # good runs between
        starts, ends = edges[::2], edges[1::2]
        for k, (a, b) in enumerate(zip(starts, ends, strict=True)):
            if (b - a) / fps >= MIN_PIECE_S:
                name = meta["clip"] if len(starts) == 1 else f"{meta['clip']}#{k}"
                out.append(BankClip(name, q[a:b], fps, meta["source"]))
    return out


def _resample(
    q: np.ndarray, bad: np.ndarray, fps: float, to_fps: float
) -> tuple[np.ndarray, np.ndarray]:
    heading = sk.DOF["pelvis_rotation"]
    q = q.copy()
    q[:, heading] = np.unwrap(q[:, heading])
    t_old = np.arange(len(q)) / fps
    t_new = np.arange(int(np.floor(t_old[-1] * to_fps)) + 1) / to_fps
    out = np.stack([np.interp(t_new, t_old, q[:, j]) for j in range(q.shape[1])], 1)
    near = np.clip(np.round(t_new * fps).astype(int), 0, len(q) - 1)
    return out, bad[near]  # convex blends of in-limit frames stay in the limits


def report(folder: Path = DEFAULT_BANK) -> str:
    index_p = Path(folder) / "bank.json"
    if not index_p.is_file():
        raise FileNotFoundError(
            f"no motion bank at {folder}; run: python -m core.mocap.bank build"
        )
    index = json.loads(index_p.read_text())
    lines = [
        f"{'clip':12s} {'naming':8s} {'frames':>6s} {'s':>5s} {'track mm':>8s} {'p95max':>6s} "
        f"{'bad':>4s} {'viol':>4s}  worst target"
    ]
    total = 0
    for m in index["clips"]:
        total += m["n_frames"] - m["bad_frames"]
        lines.append(
            f"{m['clip']:12s} {m['naming']:8s} {m['n_frames']:6d} {m['n_frames'] / m['fps']:5.1f} "
            f"{m['error_mean_mm']:8.1f} {m['error_p95_max_mm']:6.1f} {m['bad_frames']:4d} "
            f"{m['limit_violations']:4d}  {m['worst_target']} {m['worst_target_mm']:.1f}"
        )
    kept = sum(len(c.q_rad) for c in load_bank(folder))
    lines.append(
        f"{len(index['clips'])} takes, {total} good frames retargeted of "
        f"{sum(m['n_frames'] for m in index['clips'])}; "
        f"{kept} frames at 30 fps ({kept / FPS / 60:.1f} min) in pieces >= {MIN_PIECE_S:g} s; "
        "skeleton convention "
        f"{index['skeleton_convention']}"
    )
    daz = index.get("daz_correction") or {}
    if daz:
        lines.append(
            "Daz-friendly vs AMC (BVH minus AMC of the same take, deg; bank convention "
            f"{index.get('convention', DEFAULT_CONVENTION)!r}), mean |diff| before and "
            "leave-one-subject-out after correction:"
        )
        show = [
            "pelvis_tilt",
            "hip_flexion_r",
            "hip_adduction_r",
            "knee_angle_r",
            "ankle_angle_r",
            "hip_flexion_l",
            "knee_angle_l",
            "ankle_angle_l",
            "lumbar_extension",
            "shoulder_r_x",
            "elbow_flexion_r",
            "elbow_flexion_l",
        ]
        lines.append(
            f"{'DOF':18s} {'bias':>6s} {'before':>6s} "
            + " ".join(f"{'after ' + s:>9s}" for s in daz["loso_mae_after_deg"])
        )
        for n in show:
            i = sk.DOF[n]
            lines.append(
                f"{n:18s} {np.rad2deg(daz['bias_rad'][i]):+6.1f} {daz['mae_before_deg'][i]:6.1f} "
                + " ".join(f"{v[i]:9.1f}" for v in daz["loso_mae_after_deg"].values())
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m core.mocap.bank",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("command", choices=["build", "report", "list", "convention"])
    p.add_argument("--shared-data", type=Path, default=None, help="default $BIOMOCAP_SHARED_DATA")
    p.add_argument("--bank", type=Path, default=DEFAULT_BANK)
    p.add_argument("--reverse", action="store_true", help="build from the last take (2nd worker)")
    p.add_argument("--fps", type=float, default=FPS, help="retarget rate (load resamples to 30)")
    p.add_argument("--start", type=int, default=0, help="begin at this take (another worker)")
    p.add_argument(
        "--convention", choices=CONVENTIONS, default=DEFAULT_CONVENTION,
        help="put every take into the AMC or the Daz-friendly convention (module doc)",
    )  # fmt: skip
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    shared = args.shared_data or _shared_default()
    try:
        if args.command == "build":
            build_bank(
                shared, args.bank, reverse=args.reverse, fps=args.fps, start=args.start,
                convention=args.convention,
            )  # fmt: skip
            print(report(args.bank))
        elif args.command == "report":
            print(report(args.bank))
        elif args.command == "convention":
            print(f"wrote {write_convention_file(args.bank)}")
        else:
            sources, pairs = bank_sources(shared)
            for s in sources:
                print(s)
            print(f"{len(sources)} takes; {len(pairs)} Daz/AMC pairs for the bias check")
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
