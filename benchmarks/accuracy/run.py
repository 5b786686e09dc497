"""The accuracy harness: one command that renders held-out real motion, captures it and says how
far the joint angles, positions and grounding are from the truth, beside the peer baseline.

    .venv/bin/python benchmarks/accuracy/run.py [--clips N] [--no-trials] [--ablate N]
                                                [--no-peer] [--out DIR] [--label NAME]
    .venv/bin/python benchmarks/accuracy/run.py --smoke      # 1 short clip, a minute

Data (``benchmarks/accuracy/data.py``): >= 30 synthetic clips, windows of the held-out CMU takes
of ``core.mocap.holdout`` (walking, running, jumping, dance, martial arts, turning) on seeded
Anny bodies, looks, scenes and phone-like cameras; and OpenSim's gait2392 walk and Rajagopal run
(IK of their real markers onto BSM-46) from three viewpoints. ``--clips N`` takes the first N
synthetic clips (round-robin over the activities). Methods: ``methods.py``; numbers:
``metrics.py``. Renders, detections and peer results are cached under ``.cache/accuracy/clips``
(deterministic by seed; a re-run renders nothing again); each run writes ``results.json``,
``results.md`` and one JSON per clip under ``--out`` (default
``.cache/accuracy/runs/LABEL``, LABEL = the commit), and resumes where it stopped.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.accuracy import data, methods, report  # noqa: E402
from benchmarks.accuracy.metrics import (  # noqa: E402
    JUDGED_DOFS,
    angle_scores,
    pose_scores,
)

log = logging.getLogger("accuracy")

CACHE = REPO / ".cache" / "accuracy"
LOWER_LIMB = JUDGED_DOFS[:8]
MOTCMP = data.TOOLS / "motcmp.py"


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30
        ).stdout.rstrip()
    except (OSError, subprocess.SubprocessError):
        return ""


def run_meta(args, argv) -> dict:
    dirty = [
        line[3:]
        for line in _git("status", "--porcelain", "--", "core", "biomech_export").splitlines()
        if line[:2].strip() and not line.startswith("??")
    ]
    if args.code_note:
        return {
            "commit": args.code_note,
            "commit_subject": "",
            "dirty": [],
            "started": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
            "seed": args.seed,
            "command": "benchmarks/accuracy/run.py " + " ".join(argv),
        }
    return {
        "commit": _git("rev-parse", "--short=10", "HEAD") or "unknown",
        "commit_subject": _git("log", "-1", "--format=%s")[:120],
        "dirty": dirty,
        "started": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        "seed": args.seed,
        "command": "benchmarks/accuracy/run.py " + " ".join(argv),
    }


# ------------------------------------------------------------------------------ one clip
def _fk_origins(q_rad: np.ndarray, offsets_m: np.ndarray) -> np.ndarray:
    from core import fk_numpy

    q = np.asarray(q_rad, np.float64)
    _, org = fk_numpy.forward_kinematics(q, np.zeros((len(q), 3)), np.asarray(offsets_m))
    return org


def score_method(q_rad, truth, dofs, offsets_m=None) -> dict:
    from core import skeleton as sk

    n = len(truth.q_rad)
    out = {
        "angles": angle_scores(
            methods.q_curves(q_rad, n, dofs), methods.q_curves(truth.q_rad, n, dofs), dofs
        ).as_dict(),
        "violations": sk.limit_violations(np.asarray(q_rad)),
    }
    if offsets_m is not None:
        m = min(n, len(q_rad))
        out["pose"] = pose_scores(
            _fk_origins(q_rad[:m], offsets_m), truth.body_origins_m[:m], truth.fps
        )
    return out


def motcmp_check(q_rad, truth, work: Path, dofs=JUDGED_DOFS) -> float | None:
    """The shared tool's MAE for the capture's angles vs the truth (.mot files), the mean of its
    per-DOF rows over ``dofs``, or None without the tool."""
    if not MOTCMP.is_file():
        return None
    from biomech_export.mot import MotTable, write_mot
    from core import skeleton as sk

    n = min(len(q_rad), len(truth.q_rad))
    t = np.arange(n) / truth.fps
    paths = []
    for name, q in (("pred", q_rad[:n]), ("true", truth.q_rad[:n])):
        table = MotTable(t, tuple(sk.DOF_NAMES), np.rad2deg(np.asarray(q)), True, name)
        paths.append(write_mot(work / f"{name}.mot", table))
    proc = subprocess.run(
        [sys.executable, str(MOTCMP), str(paths[0]), str(paths[1])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "MAE":
            rows[parts[0]] = float(parts[2])
    if not all(d in rows for d in dofs):
        return None
    return float(np.mean([rows[d] for d in dofs]))


def grounding_scores(motion, truth, cap: dict, camera_only: bool = False) -> dict:
    """Camera height/pitch error, contact P/R/F1, sliding, penetration, where the capture
    provides a world frame and contacts (issue 12); otherwise a note. ``camera_only``: the camera
    pose and floor tilt alone (a treadmill trial)."""
    from benchmarks.accuracy import grounding

    if camera_only:
        return grounding.scores(motion, truth, cap, camera_only=True)
    return {**grounding.scores(motion, truth, cap), "contact_rule": truth.contact_rule}


def belt_speed_mps(truth, band_m: float = 0.03) -> float:
    """A treadmill trial's belt speed, as its lab would give it to the capture
    (``--treadmill-speed``): the median horizontal speed of the true foot contact points in the
    frames where each is within ``band_m`` of its lowest height (stance, riding the belt)."""
    p = np.asarray(truth.contact_pos_m, np.float64)  # (T, 4, 3)
    v = np.gradient(p, axis=0) * truth.fps
    low = p[..., 1] < p[..., 1].min(0) + band_m
    return float(np.median(np.linalg.norm(v[..., [0, 2]][low], axis=-1)))


def truth_naming(path: str) -> str:
    """The joint naming of a held-out take's file (``core.mocap.track``: cmu, cgspeed, daz,
    asf): the bank's training takes are put into the AMC convention, a Daz-friendly take's truth
    is its own retarget (``data.load_take``) unless ``--truth bank``, so the two differ by the
    bank's Daz-minus-AMC offset (RESULTS.md, tenth and twelfth sessions). "?" when the file
    cannot be read."""
    from core.mocap.track import find_convention, load_track

    try:
        return find_convention(load_track(path, max_frames=2)).convention.name
    except (OSError, ValueError) as e:
        log.warning("%s: naming not found (%s)", path, e)
        return "?"


def evaluate_clip(spec, kind: str, video: Path, truth, info: dict, args, work: Path) -> dict:
    dofs = LOWER_LIMB if spec.take in data.LOWER_LIMB_TRIALS else JUDGED_DOFS
    res: dict = {
        "kind": kind,
        "activity": spec.activity,
        "take": spec.take,
        "truth_naming": truth_naming(spec.path) if kind == "synthetic" else "markers",
        "truth_convention": spec.truth or ("own" if kind == "synthetic" else "marker IK"),
        "frames": int(len(truth.q_rad)),
        "camera": info.get("camera", {}),
        "subject": info.get("subject", {}).get("height_m"),
        "dofs": list(dofs),
        "methods": {},
    }
    clip_cache = video.parent
    det, detect_s = methods.detections(video, truth.K[0, 0], clip_cache)
    res["found_pct"] = float(100 * np.mean(det.person_found))

    belt = belt_speed_mps(truth) if spec.take in data.TREADMILL_TRIALS else None
    if belt is not None:
        res["treadmill_speed_mps"] = round(belt, 2)
    height = float(truth.height_m) if args.given_height else None
    if height is not None:
        res["given_height_m"] = round(height, 3)
    cap = methods.run_capture(video, det, truth.K[0, 0], work / "capture", belt, height)
    motion = cap["motion"]
    res["methods"]["capture"] = score_method(motion.q_rad, truth, dofs, motion.offsets_m)
    res["methods"]["capture"]["reprojection_px"] = cap["reprojection_px"]
    res["methods"]["capture"]["height_m"] = float(motion.height_m)
    for stage, q in cap["stages"].items():
        res["methods"][stage] = score_method(q, truth, dofs, motion.offsets_m)
    res["stages_recorded"] = sorted(cap["stages"])
    res["notes"] = cap["notes"]
    n = len(truth.q_rad)
    res["timing"] = {
        "frames": n,
        "total_s": detect_s + cap["wall_s"] - cap["timings_s"].get("detect", 0.0),
        # the capture's own "detect" is the cached detections' hand-over: the time they took
        # when made counts instead
        "stages_s": {
            "detect": detect_s,
            **{k: v for k, v in cap["timings_s"].items() if k != "detect"},
        },
    }
    res["motcmp_mae_deg"] = motcmp_check(motion.q_rad, truth, work, dofs)
    try:
        # On a treadmill the belt moves the stance foot: no truth for contact and sliding, but
        # the camera and the floor under the belt are known.
        if spec.take in data.TREADMILL_TRIALS:
            res["grounding"] = grounding_scores(motion, truth, cap, camera_only=True)
        else:
            res["grounding"] = grounding_scores(motion, truth, cap)
    except Exception as e:  # noqa: BLE001 - a harness reports, it does not stop
        log.exception("%s: grounding scores failed", spec.name)
        res["grounding"] = {"note": f"grounding scores failed: {e}"}

    if kind == "synthetic":  # cheap: no capture
        res["methods"]["neurik@true3d"] = score_method(
            methods.neurik_on_truth(truth), truth, dofs, truth.offsets_m
        )
        res["methods"]["ik@true3d"] = score_method(
            methods.ik_on_truth(truth), truth, dofs, truth.offsets_m
        )
    if args.ablate:
        t0 = time.perf_counter()
        q = methods.mp_ik(det, truth)
        res["methods"]["mp+ik"] = score_method(q, truth, dofs, truth.offsets_m)
        res["methods"]["mp+ik"]["wall_s"] = time.perf_counter() - t0
        g = methods.run_capture(
            video, methods.gt2d_detections(det, truth, spec.seed), truth.K[0, 0], work / "gt2d"
        )
        res["methods"]["gt2d"] = score_method(
            g["motion"].q_rad, truth, dofs, g["motion"].offsets_m
        )
        g = methods.run_capture(
            video, methods.gt3d_detections(det, truth, spec.seed), truth.K[0, 0], work / "gt3d"
        )
        res["methods"]["gt3d"] = score_method(
            g["motion"].q_rad, truth, dofs, g["motion"].offsets_m
        )
    if not args.no_peer:
        try:
            peer, secs = methods.run_peer(video, clip_cache / "peer")
            curves = methods.peer_curves(peer, n, truth.fps, dofs)
            true = methods.q_curves(truth.q_rad, n, dofs)
            res["methods"]["peer"] = {"angles": angle_scores(curves, true, dofs).as_dict()}
            res["methods"]["peer"]["wall_s"] = secs
        except (RuntimeError, FileNotFoundError, ValueError, subprocess.TimeoutExpired) as e:
            res["methods"]["peer"] = {"error": str(e)}
    return res


# ------------------------------------------------------------------------------ main
def _clip_list(args) -> list[tuple[str, data.ClipSpec]]:
    out: list[tuple[str, data.ClipSpec]] = []
    if args.smoke:
        spec = data.synthetic_clips(args.seed, truth=args.truth)[0]
        cam = data.CameraSpec(320, 180, 26 / 36 * 320, 26.0, 1.2, 4.0, 40.0, 0.0, 0.0)
        spec = data.ClipSpec(
            "smoke", spec.take, spec.activity, spec.path, spec.start_s, 0.34, spec.seed, cam,
            spec.truth,
        )  # fmt: skip
        return [("synthetic", spec)]
    synth = data.synthetic_clips(args.seed, args.scale, truth=args.truth)
    if args.clips is not None:
        synth = synth[: args.clips]
    out += [("synthetic", s) for s in synth]
    if not args.no_trials:
        trials = [("trial", s) for s in data.trial_clips(args.seed, args.scale)]
        out = trials + out if args.trials_first else out + trials
    return out


def _motion(kind: str, spec, motions: dict, cache: Path, smoke: bool = False):
    if spec.take not in motions:
        if kind == "trial":
            motions[spec.take] = data.load_trial(spec.take, cache)
        else:
            n = int(np.ceil((spec.start_s + spec.seconds) * data.FPS)) + 2 if smoke else None
            truth = "bank" if spec.truth else "own"
            motions[spec.take] = data.load_take(Path(spec.path), cache, max_frames=n, truth=truth)
    return motions[spec.take]


def _clip_dir(cache: Path, kind: str, args) -> Path:
    """The clip cache folder of a synthetic clip or a trial view (the trials' truth is the same
    under every ``--truth``: they are not rendered twice)."""
    if args.smoke:
        return cache / "clips" / "smoke"
    return cache / "clips" / data.clip_subdir(args.seed, args.scale, args.truth, kind)


def run(args, argv) -> dict:
    from benchmarks.accuracy.render import ensure_clip

    cache = Path(args.cache)
    meta = run_meta(args, argv)
    label = args.label or ("smoke" if args.smoke else meta["commit"])
    out = Path(args.out) if args.out else cache / "runs" / label
    out.mkdir(parents=True, exist_ok=True)
    clips = _clip_list(args)
    motions: dict = {}
    results: dict[str, dict] = {}
    notes: list[str] = []
    for i, (kind, spec) in enumerate(clips):
        per_clip = out / "clips" / f"{spec.name}.json"
        if per_clip.is_file() and not args.force:
            results[spec.name] = json.loads(per_clip.read_text())
            clip_dir = _clip_dir(cache, kind, args) / spec.name
            if args.truth_checks and kind == "synthetic":
                _add_truth_checks(results[spec.name], clip_dir, per_clip)
            if args.regrade_grounding and kind == "synthetic":
                _regrade_grounding(results[spec.name], spec, clip_dir, out / "work", per_clip)
            continue
        log.info("[%d/%d] %s (%s, %s)", i + 1, len(clips), spec.name, kind, spec.activity)
        try:
            video, truth, info = ensure_clip(
                spec,
                lambda k=kind, s=spec: _motion(k, s, motions, cache, smoke=args.smoke),
                _clip_dir(cache, kind, args) / spec.name,
            )
            if args.render_only:
                continue
            k = sum(1 for kk, _ in clips[:i] if kk == "synthetic")  # index among synthetic
            ablate = kind == "synthetic" and (args.ablate is None or k < args.ablate)
            a = argparse.Namespace(**{**vars(args), "ablate": ablate})
            res = evaluate_clip(spec, kind, video, truth, info, a, out / "work" / spec.name)
        except Exception as e:  # noqa: BLE001 - one failing clip must not stop the run
            log.exception("%s failed", spec.name)
            res = {"kind": kind, "activity": spec.activity, "error": f"{type(e).__name__}: {e}"}
        from core.motion import atomic_write

        if "error" not in res:
            atomic_write(per_clip, lambda f, r=res: f.write(json.dumps(r, indent=1)))
        results[spec.name] = res
        _write(out, label, meta, results, notes)
    return _write(out, label, meta, results, notes)


def _add_truth_checks(res: dict, clip_dir: Path, per_clip: Path) -> None:
    """Add the cheap methods on the exact landmarks to a clip measured before they existed."""
    from benchmarks.accuracy.render import Truth
    from core.motion import atomic_write

    m = res.get("methods", {})
    if "neurik@true3d" in m or "error" in res:
        return
    truth = Truth.load(clip_dir / "truth.npz")
    dofs = tuple(res.get("dofs", JUDGED_DOFS))
    m["neurik@true3d"] = score_method(methods.neurik_on_truth(truth), truth, dofs, truth.offsets_m)
    m["ik@true3d"] = score_method(methods.ik_on_truth(truth), truth, dofs, truth.offsets_m)
    atomic_write(per_clip, lambda f: f.write(json.dumps(res, indent=1)))


def _regrade_grounding(res: dict, spec, clip_dir: Path, work: Path, per_clip: Path) -> None:
    """Score a clip's grounding again, from the capture's kept motion (``work/<clip>/capture``),
    where it was scored under another contact truth rule than ``render.CONTACT_RULE``; the
    truth is relabelled first (``render.refresh_truth``). The angles stay as measured."""
    from benchmarks.accuracy.render import CONTACT_RULE, refresh_truth
    from core.motion import Motion, atomic_write

    g = res.get("grounding", {})
    if "error" in res or g.get("contact_rule") == CONTACT_RULE:
        return
    bundle = work / spec.name / "capture" / "video.motion.npz"
    if not bundle.is_file():
        log.warning("%s: no kept motion (%s): grounding not regraded", spec.name, bundle)
        return
    truth = refresh_truth(spec, clip_dir)
    res["grounding"] = grounding_scores(Motion.load(bundle), truth, {})
    atomic_write(per_clip, lambda f: f.write(json.dumps(res, indent=1)))
    log.info("%s: grounding regraded under %s", spec.name, CONTACT_RULE)


def _write(out: Path, label: str, meta: dict, results: dict, notes: list[str]) -> dict:
    from core.motion import atomic_write

    run = {"label": label, "meta": meta, "clips": results, "notes": notes}
    synth = {k: v for k, v in results.items() if v.get("kind") == "synthetic" and "methods" in v}
    trials = {k: v for k, v in results.items() if v.get("kind") == "trial" and "methods" in v}
    run["summary"] = {
        "synthetic": report.summarise(synth),
        "trials": report.summarise(trials),
    }
    atomic_write(out / "results.json", lambda f: f.write(json.dumps(run, indent=1, default=float)))
    md = report.markdown(run)
    atomic_write(out / "results.md", lambda f: f.write(md))
    return run


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--smoke", action="store_true", help="one short clip (CI smoke run)")
    p.add_argument("--clips", type=int, default=None, help="first N synthetic clips only")
    p.add_argument("--no-trials", action="store_true", help="skip the marker trials")
    p.add_argument("--trials-first", action="store_true", help="the marker trials before the rest")
    p.add_argument(
        "--ablate", type=int, default=None, help="ablations (gt2d, mp+ik) on the first N clips"
    )
    p.add_argument("--no-peer", action="store_true", help="skip the peer baseline")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--scale",
        type=int,
        default=1,
        help="video size x K (1: 480x270; 4: 1920x1080, a phone's), same cameras otherwise",
    )
    p.add_argument(
        "--truth",
        choices=data.TRUTHS,
        default="own",
        help="the synthetic clips' truth: each take's own retarget (default) or moved into the "
        "motion bank's convention, the one the prior was trained in (rendered apart, in "
        "clips/seedN-bank; RESULTS.md, twelfth session)",
    )
    p.add_argument(
        "--given-height",
        action="store_true",
        help="tell the capture each subject's stature (as a lab user types --height)",
    )
    p.add_argument("--out", type=Path, default=None, help="run folder")
    p.add_argument("--label", default=None, help="run name (default: the commit)")
    p.add_argument("--cache", type=Path, default=CACHE)
    p.add_argument("--force", action="store_true", help="evaluate clips already done again")
    p.add_argument("--render-only", action="store_true", help="render the clips, nothing else")
    p.add_argument(
        "--truth-checks",
        action="store_true",
        help="add neurik@true3d and ik@true3d to clips measured before they existed",
    )
    p.add_argument(
        "--regrade-grounding",
        action="store_true",
        help="score again the grounding of clips measured under an older contact truth rule "
        "(from their kept captures; the angles stay)",
    )
    p.add_argument(
        "--code-note",
        default=None,
        help="what code this is, recorded instead of the git commit (a tree outside git)",
    )
    args = p.parse_args(argv)
    if args.clips is not None and args.clips < 0:
        print("error: --clips must be >= 0", file=sys.stderr)
        return 2
    if not 1 <= args.scale <= 8:
        print(f"error: --scale {args.scale}: use 1 (480x270) to 8", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("opensim", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        from core.hmr.synth.blender import blender_python

        blender_python()
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        run_ = run(args, argv)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    print(report.markdown(run_))
    return 0


if __name__ == "__main__":
    sys.exit(main())
