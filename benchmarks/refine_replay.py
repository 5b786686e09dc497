"""Record the refinement's inputs from harness captures once, then replay refinement variants
on them and score each against the renders' truth (issue 11: tuning the whole-sequence
refinement without paying for detection, lifting and the surface fit every time).

    .venv/bin/python benchmarks/refine_replay.py record -o .cache/refine_replay [--clips N ...]
    .venv/bin/python benchmarks/refine_replay.py replay .cache/refine_replay \\
        --variant default --variant no-filter --group tune

``record`` runs ``core.capture.capture`` on the harness's cached clips (cached MediaPipe
detections, true focal length, as ``benchmarks/accuracy/run.py`` does) up to its first
``core.refine.refine`` call and pickles that call's inputs and configuration plus the subject
(the world stage needs it). ``replay`` runs, per clip, the first refinement with a variant's
configuration, then the capture's own world stage (``core.capture._ground``: floor, contacts and
the contact refinement), and scores the final angles with the harness's metrics (MAE over the
judged DOFs, offset-free MAE, Pearson r, jitter of the pelvis-relative body origins, limit
violations). The start (the prior's angles) is scored too, as ``start``.

    BIOMOCAP_LIFT_CALIBRATE=0 .venv/bin/python benchmarks/refine_replay.py record \\
        -o .cache/refine_replay --clips 6 --no-trials
    .venv/bin/python benchmarks/refine_replay.py bias .cache/refine_replay \\
        -o core/lift/weights/bank2d_v3/mediapipe_bias.json

``bias`` writes the lifter's detector calibration (``core.lift.runtime``, ``calibrate``) from
clips recorded without it (``BIOMOCAP_LIFT_CALIBRATE=0``, with the weights it is for:
``BIOMOCAP_LIFT_WEIGHTS``, default the capture's): the mean error of the refinement's
start (the lifter's angles) per DOF over the ``tune`` group's synthetic clips, mirror-
symmetrised, kept where larger than twice its standard error. ``record --truth bank`` records
the clips whose truth is in the motion bank's convention (``benchmarks/accuracy/run.py --truth
bank`` renders them); there the calibration comes out empty (RESULTS.md, twelfth session).

    .venv/bin/python benchmarks/refine_replay.py floor .cache/refine_replay \\
        --variant default --variant feet --variant SCENE_SECOND_FAMILY=1e9 --per-clip

``floor`` fits the world stage's floor (the feet, then the scene's lines) on each recorded
synthetic clip's floor inputs (cached once per clip: about 2 s each) under variants of
``core.world.FloorConfig`` and its ``SCENE_*`` constants, and scores the camera height, pitch
and tilt against the render's camera: about a second a variant over 33 clips, where the harness
takes 7 minutes.

Groups: ``tune`` is the declared tuning subset (the first 6 synthetic clips and one trial view,
``rajagopal_run_v0``, later ``gait2392_walk_v0`` too); ``held`` is every other recorded clip. Choose settings on ``tune`` only
and report ``held`` separately.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

TUNE = (
    "131_01_w0",
    "09_05_w0",
    "13_13_w0",
    "salsa_05_w0",
    "martial_04_w0",
    "14_08_w0",
    "rajagopal_run_v0",
    "gait2392_walk_v0",  # added when the treadmill belt was looked at (see the report)
)


class _Recorded(Exception):
    """Raised inside the capture once the first refinement's inputs are recorded."""


def _clips(seed: int, n_synth: int | None, trials: bool, scale: int = 1, truth: str = "own"):
    from benchmarks.accuracy import data

    synth = data.synthetic_clips(seed, scale, truth=truth)
    if n_synth is not None:
        synth = synth[:n_synth]
    out = [("synthetic", s) for s in synth]
    if trials:
        out += [("trial", s) for s in data.trial_clips(seed, scale)]
    return out


def record(args) -> int:
    import core.hmr
    import core.refine
    from benchmarks.accuracy import methods
    from benchmarks.accuracy.data import TREADMILL_TRIALS
    from benchmarks.accuracy.render import Truth
    from benchmarks.accuracy.run import belt_speed_mps
    from core.capture import CaptureOptions, Progress, capture

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from benchmarks.accuracy.data import clip_subdir

    for kind, spec in _clips(args.seed, args.clips, not args.no_trials, args.scale, args.truth):
        if args.only and spec.name not in args.only:
            continue
        dest = out / f"{spec.name}.pkl"
        if dest.is_file() and not args.force:
            continue
        clip = Path(args.cache) / "clips" / clip_subdir(args.seed, args.scale, args.truth, kind)
        clip = clip / spec.name
        video, truth_path = clip / "video.mp4", clip / "truth.npz"
        if not (video.is_file() and truth_path.is_file()):
            print(f"{spec.name}: not rendered in {clip}; run benchmarks/accuracy/run.py first")
            continue
        truth = Truth.load(truth_path)
        det, _ = methods.detections(video, truth.K[0, 0], clip)
        rec: dict = {}
        orig_refine, orig_surface = core.refine.refine, core.hmr.estimate_surface

        def surface(*a, _orig=orig_surface, rec=rec, **k):
            s = _orig(*a, **k)
            rec["subject"] = s.subject
            return s

        def first_refine(inp, cfg=None, rec=rec, **k):
            rec["inp"], rec["cfg"] = inp, cfg
            raise _Recorded

        core.refine.refine, core.hmr.estimate_surface = first_refine, surface
        t0 = time.perf_counter()
        try:
            with open(os.devnull, "w") as devnull, methods.instrumented(det):
                # instrumented() wraps core.refine.refine again: put ours underneath it
                capture(
                    video,
                    CaptureOptions(
                        output=out / "work", focal_px=truth.K[0, 0], overlay=False,
                        export_opensim=False,
                    ),
                    progress=Progress(jsonl=True, stream=devnull),
                )  # fmt: skip
        except _Recorded:
            pass
        finally:
            core.refine.refine, core.hmr.estimate_surface = orig_refine, orig_surface
        if "inp" not in rec:
            print(f"{spec.name}: the capture made no refinement call")
            continue
        rec.update(
            name=spec.name,
            kind=kind,
            take=spec.take,
            truth=str(truth_path),
            focal_px=float(truth.K[0, 0]),
            # the harness captures a treadmill trial with its belt speed (run.belt_speed_mps)
            treadmill_speed_mps=belt_speed_mps(truth) if spec.take in TREADMILL_TRIALS else None,
        )
        tmp = dest.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(rec, f)
        tmp.replace(dest)
        print(f"{spec.name}: recorded in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


# ------------------------------------------------------------------------------ variants
# BlazePose-33 indices (core.neurik.markersets.blazepose33) by part, for ``kp=`` variants
KEYPOINT_GROUPS = {
    "face": tuple(range(11)),
    "face_no_nose": tuple(range(1, 11)),
    "hands": tuple(range(17, 23)),
    "wrists": (15, 16),
    "feet": tuple(range(27, 33)),
}


def variant_config(name: str, base):
    """A named change of today's ``RefineConfig()`` (``base``: the recorded configuration):
    ``default``, ``recorded`` or ``key=value[,key=value...]`` over ``RefineConfig`` fields, plus
    ``phases=G/C/A`` (the three phases' iterations), ``contact=N`` (the world stage's contact
    phase's iterations), ``contact.lr=X`` (its learning rate), ``contact.FIELD=V`` (a
    ``RefineConfig`` field for the contact refinement only), ``cc.FIELD=V`` (a ``ContactConfig``
    field of the world stage's contact detector) and ``kp=GROUP:W`` (the 2D keypoints
    of a group, ``KEYPOINT_GROUPS``, weighted W times their confidence; ``+`` joins several).
    Returns the configuration, the contact refinement's changes ({"iterations": N, "lr": X,
    field: value}; {} for none) and the keypoint weights ({} for none)."""
    import dataclasses as dc

    from core.refine import RefineConfig

    # The capture passes RefineConfig() for a video: 'default' is today's defaults (a recorded
    # configuration is the defaults of when it was recorded; 'recorded' replays it, with today's
    # defaults for the fields it predates).
    cfg = RefineConfig()
    if name == "recorded" and base is not None:
        known = {f.name for f in dc.fields(RefineConfig)}
        cfg = RefineConfig(**{k: v for k, v in vars(base).items() if k in known})
    contact, kp_weights = {}, {}
    if name in ("default", "recorded"):
        return cfg, contact, kp_weights
    for part in name.split(","):
        key, _, value = part.partition("=")
        if key == "phases":
            its = [int(x) for x in value.split("/")]
            cfg.phases = [
                dc.replace(p, iterations=i) for p, i in zip(cfg.phases, its, strict=True)
            ]
            continue
        if key == "contact":
            contact["iterations"] = int(value)
            continue
        if key == "contact.lr":
            contact["lr"] = float(value)
            continue
        if key.startswith("cc."):
            from core.contacts import ContactConfig

            field = key.partition(".")[2]
            probe = ContactConfig()
            _set_field(probe, field, value, name)
            contact.setdefault("detector", {})[field] = getattr(probe, field)
            continue
        if key.startswith("contact."):
            field = key.partition(".")[2]
            probe = RefineConfig()
            _set_field(probe, field, value, name)
            contact[field] = getattr(probe, field)
            continue
        if key == "kp":
            for item in value.split("+"):
                group, _, w = item.partition(":")
                if group not in KEYPOINT_GROUPS:
                    raise SystemExit(f"error: keypoint group {group!r}: {sorted(KEYPOINT_GROUPS)}")
                for i in KEYPOINT_GROUPS[group]:
                    kp_weights[i] = float(w)
            continue
        _set_field(cfg, key, value, name)
    return cfg, contact, kp_weights


def _set_field(cfg, key: str, value: str, variant: str) -> None:
    """``cfg.key = value``, converted to the field's type (bool: ``1``)."""
    if not hasattr(cfg, key):
        raise SystemExit(f"error: {type(cfg).__name__} has no field {key!r} (variant {variant!r})")
    old = getattr(cfg, key)
    setattr(cfg, key, type(old)(value) if not isinstance(old, bool) else value == "1")


def _ground(rec: dict, inp, cfg, res):
    """The capture's world stage (``core.capture._ground``) on a recorded clip's inputs."""
    import core.capture as C
    from core.neurik.markersets import blazepose33

    opts = C.CaptureOptions(
        output=Path("/nonexistent"), focal_px=rec["focal_px"],
        treadmill_speed_mps=rec.get("treadmill_speed_mps"),
    )  # fmt: skip
    with open(os.devnull, "w") as devnull:
        return C._ground(
            inp, cfg, res, rec["subject"], blazepose33(), inp.fps, opts, "cpu",
            C.Progress(jsonl=True, stream=devnull),
        )  # fmt: skip


def replay_one(
    rec: dict, cfg, contact: dict | None = None, kp_weights: dict | None = None
) -> dict:
    import dataclasses as dc

    import core.refine

    refine = core.refine.refine
    inp = rec["inp"]
    if kp_weights:
        conf = np.array(inp.confidence, dtype=np.float64)
        for i, w in kp_weights.items():
            conf[:, i] *= w
        inp = dc.replace(inp, confidence=conf)
    t0 = time.perf_counter()
    res = refine(inp, cfg, device="cpu")
    t1 = time.perf_counter()

    def contact_refine(inp2, cfg2, **k):  # the world stage's call, with the variant's changes
        changes = {f: v for f, v in (contact or {}).items() if f != "detector"}
        phase = {key: changes.pop(key) for key in ("iterations", "lr") if key in changes}
        if phase:
            cfg2 = dc.replace(cfg2, phases=[dc.replace(p, **phase) for p in cfg2.phases])
        if changes:
            cfg2 = dc.replace(cfg2, **changes)
        return refine(inp2, cfg2, **k)

    import core.contacts

    detect = core.contacts.detect_contacts
    detector = (contact or {}).get("detector")

    def detect_with(*a, **k):  # the world stage's contact detector, the variant's settings
        return detect(*a, **k, cfg=core.contacts.ContactConfig(**detector))

    core.refine.refine = contact_refine
    if detector:
        core.contacts.detect_contacts = detect_with
    try:
        grounded = _ground(rec, inp, cfg, res)
    finally:
        core.refine.refine = refine
        core.contacts.detect_contacts = detect
    t2 = time.perf_counter()
    n = len(inp.q_init_rad)
    return {
        "q": grounded.result.q_rad,
        "q_first": res.q_rad,
        "feet": _feet(grounded, rec),
        "refine_ms": 1000 * (t1 - t0) / n,
        "world_ms": 1000 * (t2 - t1) / n,
        "its": sum(h.get("iteration", 0) for h in res.history if h.get("stopped")) or None,
    }


def _feet(grounded, rec) -> dict:
    """Sliding of the contact points over the truth's planted phases (3+ frames; median and
    90th percentile, m) and their deepest floor penetration (m), as the harness measures them
    (``benchmarks.accuracy.grounding``); {} without a floor."""
    from benchmarks.accuracy.grounding import planted_phases
    from benchmarks.accuracy.render import Truth
    from core.contacts import contact_positions
    from core.metrics import contact_f1, floor_penetration, foot_sliding_per_phase

    if grounded.contacts is None:
        return {}
    truth = Truth.load(Path(rec["truth"]))
    res = grounded.result
    pts = contact_positions(
        res.q_rad, res.root_m, rec["subject"].offsets_m, grounded.contact_bodies,
        grounded.contact_local_m,
    )  # fmt: skip
    n = min(len(pts), len(truth.contact))
    slide = foot_sliding_per_phase(pts[:n], planted_phases(truth, n), truth.fps)
    out = {
        "penetration_max": float(np.max(floor_penetration(pts[:n]))),
        "contact_f1": contact_f1(np.asarray(grounded.contacts[:n]), np.asarray(truth.contact[:n])),
    }
    if len(slide):
        out.update(
            sliding_median=float(np.median(slide)), sliding_p90=float(np.percentile(slide, 90))
        )
    return out


def score(q, rec) -> dict:
    from benchmarks.accuracy.data import LOWER_LIMB_TRIALS
    from benchmarks.accuracy.metrics import JUDGED_DOFS
    from benchmarks.accuracy.render import Truth
    from benchmarks.accuracy.run import LOWER_LIMB, score_method

    truth = Truth.load(Path(rec["truth"]))
    dofs = LOWER_LIMB if rec["take"] in LOWER_LIMB_TRIALS else JUDGED_DOFS
    s = score_method(q, truth, dofs, rec["subject"].offsets_m)
    a = s["angles"]
    return {
        "mae": a["mean_mae_deg"],
        "mae_of": a["mean_mae_offset_free_deg"],
        "r": a["mean_r"],
        "jitter": s["pose"]["jitter_mps2"],
        "jitter_true": s["pose"]["jitter_true_mps2"],
        "violations": s["violations"],
        "per_dof": a["mae_deg"],
    }


def replay(args) -> int:
    folder = Path(args.folder)
    paths = sorted(folder.glob("*.pkl"))
    if not paths:
        print(f"error: no recorded clips in {folder}; run 'record' first", file=sys.stderr)
        return 2
    recs = []
    for p in paths:
        name = p.stem
        group = "tune" if name in TUNE else "held"
        if args.group != "all" and group != args.group:
            continue
        if args.only and name not in args.only:
            continue
        with open(p, "rb") as f:
            recs.append((group, pickle.load(f)))
    out = Path(args.json) if args.json else None
    results: dict = json.loads(out.read_text()) if out and out.is_file() else {}
    for vname in args.variant:
        rows = results.setdefault(vname, {})
        for group, rec in recs:
            if rec["name"] in rows and not args.force:
                continue
            row: dict = {"group": group}
            if vname == "start":
                row.update(score(rec["inp"].q_init_rad, rec))
            else:
                cfg, contact, kp_weights = variant_config(vname, rec["cfg"])
                r = replay_one(rec, cfg, contact, kp_weights)
                row.update(score(r["q"], rec))
                first = score(r["q_first"], rec)
                row["first"] = {k: first[k] for k in ("mae", "r", "jitter")}
                if out:  # the angles too, for post-processing experiments
                    np.savez_compressed(
                        out.parent / f"{out.stem}-{_safe(vname)}-{rec['name']}.npz",
                        q=r["q"],
                        q_first=r["q_first"],
                    )
                row["refine_ms"], row["world_ms"] = r["refine_ms"], r["world_ms"]
                row.update(r["feet"])
            rows[rec["name"]] = row
            print(
                f"{vname:40s} {rec['name']:18s} MAE {row['mae']:5.2f} of {row['mae_of']:5.2f} "
                f"r {row['r']:.3f} jit {row['jitter']:5.1f} ({row['jitter_true']:4.1f}) "
                f"viol {row['violations']} "
                + (
                    f"ms {row['refine_ms']:.0f}+{row['world_ms']:.0f}"
                    if "refine_ms" in row
                    else ""
                ),
                flush=True,
            )
            if out:
                tmp = out.with_suffix(".tmp")
                tmp.write_text(json.dumps(results, indent=1))
                tmp.replace(out)
    summarise(results, args.variant, [r["name"] for _, r in recs])
    return 0


def bias(args) -> int:
    """The lifter's per-DOF MediaPipe bias from the tuning clips' recorded starts."""
    from benchmarks.accuracy.render import Truth
    from core import skeleton as sk
    from core.lift.runtime import mirror_q

    folder = Path(args.folder)
    errs, names = [], []
    for p in sorted(folder.glob("*.pkl")):
        with open(p, "rb") as f:
            rec = pickle.load(f)
        if rec["name"] not in TUNE or rec["kind"] != "synthetic":
            continue
        truth = Truth.load(Path(rec["truth"]))
        q0 = rec["inp"].q_init_rad
        n = min(len(q0), len(truth.q_rad))
        errs.append(np.rad2deg(q0[:n] - truth.q_rad[:n]).mean(0))
        names.append(rec["name"])
    if len(errs) < 3:
        print(
            f"error: {len(errs)} tuning clips recorded in {folder}; record them first",
            file=sys.stderr,
        )
        return 2
    e = np.array(errs)
    e = np.concatenate([e, mirror_q(e)])  # each clip and its mirror image: a symmetric bias
    mean = e.mean(0)
    se = e.std(0, ddof=1) / np.sqrt(len(errs))  # the mirrored copies are not new clips
    keep = (np.abs(mean) > 2 * se) & (np.arange(sk.N_DOFS) >= 3)  # not the pelvis
    table = {
        "bias_deg": {sk.DOF_NAMES[i]: round(float(mean[i]), 2) for i in np.flatnonzero(keep)},
        "standard_error_deg": {
            sk.DOF_NAMES[i]: round(float(se[i]), 2) for i in np.flatnonzero(keep)
        },
        "clips": names,
        "command": "python benchmarks/refine_replay.py bias " + " ".join(sys.argv[2:]),
        "what": "mean error of the lifter's angles (flip-averaged, uncalibrated) on MediaPipe "
        "detections of the harness's declared tuning clips, mirror-symmetrised; subtracted by "
        "core.lift.runtime.lift",
    }
    out = Path(args.out)
    out.write_text(json.dumps(table, indent=1) + "\n")
    print(f"{out}: {int(keep.sum())} DOFs from {len(names)} clips")
    for k, v in table["bias_deg"].items():
        print(f"  {k:22s} {v:6.2f} +- {table['standard_error_deg'][k]:.2f} deg")
    return 0


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def summarise(results: dict, variants, names) -> None:
    keys = ("mae", "mae_of", "r", "jitter", "jitter_true", "refine_ms", "world_ms")
    for group in ("tune", "held", "synthetic-held", "trial-held"):
        print(f"\n{group}:")
        print(f"{'variant':40s} " + " ".join(f"{k:>11s}" for k in keys) + "  n")
        for v in variants:
            rows = [
                r for n, r in results.get(v, {}).items() if n in names and _in_group(n, r, group)
            ]
            if not rows:
                continue
            vals = [np.mean([r.get(k, np.nan) for r in rows]) for k in keys]
            line = f"{v:40s} " + " ".join(f"{x:11.2f}" for x in vals) + f"  {len(rows)}"
            first = [r["first"]["mae"] for r in rows if "first" in r]
            if first:  # before the world stage, on the same clips
                line += f"  (before the world stage {np.mean(first):.2f})"
            slide = [r["sliding_p90"] for r in rows if "sliding_p90" in r]
            if slide:  # the harness's headline: median over clips of each clip's p90
                pen = max(r["penetration_max"] for r in rows if "penetration_max" in r)
                f1 = np.median([r["contact_f1"] for r in rows if "contact_f1" in r])
                line += f"  sliding p90 {100 * np.median(slide):.1f} cm, penetration max "
                line += f"{100 * pen:.1f} cm, contact F1 {f1:.3f}"
            print(line)


def _is_trial(name: str) -> bool:
    """Whether a recorded clip is a view of a marker trial (``data.TRIALS``: NAME_vK)."""
    from benchmarks.accuracy.data import TRIALS

    return name.rsplit("_v", 1)[0] in {t[0] for t in TRIALS}


def _in_group(name: str, row: dict, group: str) -> bool:
    trial = _is_trial(name)
    if group == "tune":
        return row["group"] == "tune"
    if group == "held":
        return row["group"] == "held"
    if group == "synthetic-held":
        return row["group"] == "held" and not trial
    return row["group"] == "held" and trial


class _Caught(Exception):
    pass


def _world_stage_call(rec: dict, module, name: str) -> dict:
    """The arguments of the world stage's first call of ``module.name`` on a recorded clip
    (today's first refinement, then ``core.capture._ground`` up to that call): {"args",
    "kwargs"}, or {} where the stage never makes it."""
    import core.refine

    inp = rec["inp"]
    cfg = core.refine.RefineConfig()
    res = core.refine.refine(inp, cfg, device="cpu")
    caught: dict = {}
    orig = getattr(module, name)

    def catch(*a, **k):
        caught["args"], caught["kwargs"] = a, k
        raise _Caught

    setattr(module, name, catch)
    try:
        _ground(rec, inp, cfg, res)
    except _Caught:
        pass
    finally:
        setattr(module, name, orig)
    return caught


def contact_inputs(rec: dict) -> dict | None:
    """The world stage's ``detect_contacts`` call on a recorded clip (today's first refinement,
    then the floor): its arguments, or None where the clip finds no floor."""
    import core.contacts

    return _world_stage_call(rec, core.contacts, "detect_contacts") or None


def contact_config(name: str):
    """``default`` or ``key=value[,key=value]`` over ``core.contacts.ContactConfig``."""
    from core.contacts import ContactConfig

    cfg = ContactConfig()
    if name == "default":
        return cfg
    for part in name.split(","):
        key, _, value = part.partition("=")
        _set_field(cfg, key, value, name)
    return cfg


def contacts(args) -> int:
    """Contact-detector variants on the recorded synthetic clips against the renders' contact
    truth (``benchmarks.accuracy.render``'s rule): the world stage's contact inputs are made
    once per clip (cached beside the recordings), then each ``ContactConfig`` variant is scored
    (frame x point precision, recall, F1; pooled and mean per clip). The contact refinement's
    feedback is not replayed: confirm a choice with the harness."""
    from benchmarks.accuracy.render import CONTACT_RULE, Truth
    from core.contacts import detect_contacts
    from core.metrics import contact_precision_recall

    folder = Path(args.folder)
    cache = folder / "contact_inputs"
    cache.mkdir(exist_ok=True)
    clips = []
    for p in sorted(folder.glob("*.pkl")):
        group = "tune" if p.stem in TUNE else "held"
        if _is_trial(p.stem) or (args.group != "all" and group != args.group):
            continue  # synthetic clips only (the treadmill trials have no contact truth)
        with open(p, "rb") as f:
            rec = pickle.load(f)
        truth = Truth.load(Path(rec["truth"]))
        if truth.contact_rule != CONTACT_RULE:
            print(f"error: {rec['truth']} follows contact rule {truth.contact_rule!r}: relabel "
                  "it (benchmarks/accuracy/run.py --render-only)", file=sys.stderr)  # fmt: skip
            return 2
        c = cache / f"{p.stem}.pkl"
        if c.is_file():
            with open(c, "rb") as f:
                caught = pickle.load(f)
        else:
            caught = contact_inputs(rec)
            with open(c, "wb") as f:
                pickle.dump(caught, f)
            print(f"{p.stem}: contact inputs recorded", flush=True)
        if caught:
            clips.append((p.stem, group, caught, np.asarray(truth.contact, bool)))
    print(f"{'variant':50s} {'P':>6s} {'R':>6s} {'F1':>6s} {'clip F1':>8s}  n")
    for v in args.variant or ["default"]:
        cfg = contact_config(v)
        tp = fp = fn = 0
        f1s = []
        for _, _, caught, true in clips:
            r = detect_contacts(*caught["args"], **{**caught["kwargs"], "cfg": cfg})
            pred = r.probability[: len(true)] > 0.5
            t = true[: len(pred)]
            tp += int((pred & t).sum())
            fp += int((pred & ~t).sum())
            fn += int((~pred & t).sum())
            p_, r_ = contact_precision_recall(r.probability[: len(t)], t)
            f1s.append(2 * p_ * r_ / max(p_ + r_, 1e-9))
        p_, r_ = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
        print(
            f"{v:50s} {p_:6.3f} {r_:6.3f} {2 * p_ * r_ / max(p_ + r_, 1e-9):6.3f} "
            f"{np.median(f1s):8.3f}  {len(f1s)}"
        )
    return 0


# ------------------------------------------------------------------------------ the floor
def floor_inputs(rec: dict) -> dict | None:
    """The world stage's floor inputs on a recorded clip (today's first refinement): the feet's
    ``estimate_floor`` call (sole points in the level-camera frame, foot confidence, the body's
    vertical as the prior, a treadmill belt) and the scene's line segments of the clip's video
    (``core.world.scene_line_segments``, as a capture finds them), plus what the truth says of
    the camera: its up direction in the level-camera frame, height above Y = 0 and the truth's
    stance level. None where the first refinement left no two frames."""
    import core.world
    from benchmarks.accuracy.render import Truth

    caught = _world_stage_call(rec, core.world, "estimate_floor")
    if not caught:
        return None
    inp = rec["inp"]
    truth = Truth.load(Path(rec["truth"]))
    video = Path(rec["truth"]).parent / "video.mp4"
    times = np.arange(len(inp.q_init_rad)) / inp.fps
    frames = core.world.scene_frames(video, times, inp.keypoints_2d_px, inp.camera.width_px)
    up_cam = np.asarray(truth.R_cam_world, np.float64) @ np.array([0.0, 1.0, 0.0])
    return {
        **caught,
        "segments": core.world.scene_line_segments(frames),
        "intrinsics": np.asarray(inp.camera.intrinsics, np.float64),
        "up_true": core.world.LEVEL_CAMERA_ROTATION @ up_cam,
        "camera_height_true_m": float(truth.cam_height_m),
        "stance_level_m": float(truth.stance_level_m),
    }


SCENE_CONSTANTS = (
    "SCENE_TILT_DEG",
    "SCENE_MIN_TOL_DEG",
    "SCENE_MAX_TOL_DEG",
    "SCENE_SECOND_FAMILY",
)


def floor_variant(name: str):
    """(FloorConfig, scene lines on, {core.world constant: value}) of ``default``, ``feet``
    (no scene lines) or ``key=value[,key=value]`` over ``core.world.FloorConfig`` and the scene
    lines' constants (``SCENE_TILT_DEG=2``: their names in ``core.world``)."""
    from core.world import FloorConfig

    cfg, constants = FloorConfig(), {}
    if name in ("default", "feet"):
        return cfg, name == "default", constants
    for part in name.split(","):
        key, _, value = part.partition("=")
        if key in SCENE_CONSTANTS:
            constants[key] = float(value)
        else:
            _set_field(cfg, key, value, name)
    return cfg, True, constants


def floor_scores(inputs: dict, cfg, scene: bool = True) -> dict | None:
    """The capture's floor (``estimate_floor``, then ``floor_with_scene_lines`` when ``scene``)
    on recorded ``floor_inputs`` under ``cfg``, scored against the truth: camera height error
    (m, signed: capture minus truth), pitch error (deg, signed) and the floor normal's tilt
    from the true one (deg). None where no floor is found."""
    import core.world as W

    (sole, fps), kw = inputs["args"][:2], inputs["kwargs"]
    fit = W.estimate_floor(sole, fps, **{**kw, "cfg": cfg})
    if scene:
        fit, _ = W.floor_with_scene_lines(
            fit, sole, fps, kw.get("conf"), None, inputs["intrinsics"], cfg=cfg,
            belt_velocity_mps=kw.get("belt_velocity_mps"), prior_up=kw.get("prior_up"),
            segments=inputs["segments"],
        )  # fmt: skip
    if fit is None:
        return None
    up_true = np.asarray(inputs["up_true"], np.float64)
    pitch = W.pitch_roll_from_up(fit.up)[0] - W.pitch_roll_from_up(up_true)[0]
    return {
        "camera_height_err_m": float(-fit.offset_m - inputs["camera_height_true_m"]),
        "pitch_err_deg": float(pitch),
        "tilt_err_deg": float(np.degrees(np.arccos(np.clip(fit.up @ up_true, -1.0, 1.0)))),
    }


def floor(args) -> int:
    """Floor-fit variants on the recorded synthetic clips against the renders' camera: the
    floor inputs are made once per clip (cached beside the recordings, ``floor_inputs``), then
    each variant's floor is fitted in milliseconds. Prints per variant the median absolute
    camera-height error (all, tune, held), the clips within 10 cm, the median signed error,
    and the median absolute pitch and tilt errors; ``--per-clip`` adds each clip's row. The
    contact refinement that follows the floor is not replayed: confirm a choice with the
    harness (benchmarks/accuracy/run.py)."""
    import core.world as W

    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"error: {folder} is not a folder of recordings (refine_replay.py record -o "
              "FOLDER makes one)", file=sys.stderr)  # fmt: skip
        return 2
    cache = folder / "floor_inputs"
    cache.mkdir(exist_ok=True)
    clips = []
    for p in sorted(folder.glob("*.pkl")):
        group = "tune" if p.stem in TUNE else "held"
        if _is_trial(p.stem):
            continue  # synthetic clips only: the harness reports the overground trial apart
        c = cache / f"{p.stem}.pkl"
        if c.is_file():
            with open(c, "rb") as f:
                inputs = pickle.load(f)
        else:
            with open(p, "rb") as f:
                rec = pickle.load(f)
            inputs = floor_inputs(rec)
            with open(c, "wb") as f:
                pickle.dump(inputs, f)
            print(f"{p.stem}: floor inputs recorded", flush=True)
        if inputs:
            clips.append((p.stem, group, inputs))
    if not clips:
        print(
            f"error: no recorded synthetic clips in {folder}: record them first "
            "(benchmarks/refine_replay.py record -o FOLDER)",
            file=sys.stderr,
        )
        return 2
    print(
        f"{'variant':44s} {'|dh| m':>7s} {'tune':>6s} {'held':>6s} {'<10cm':>6s} "
        f"{'signed':>7s} {'pitch':>6s} {'tilt':>6s}  floors"
    )
    for v in args.variant or ["default"]:
        cfg, scene, constants = floor_variant(v)
        saved = {k: getattr(W, k) for k in constants}
        rows = []
        try:
            for k, value in constants.items():
                setattr(W, k, value)
            for name, group, inputs in clips:
                s = floor_scores(inputs, cfg, scene)
                if s is not None:
                    rows.append((name, group, s))
        finally:
            for k, value in saved.items():
                setattr(W, k, value)
        if not rows:
            print(f"{v:44s} no floor on any clip")
            continue
        dh = np.array([s["camera_height_err_m"] for _, _, s in rows])
        tune = np.array([g == "tune" for _, g, _ in rows])

        def med(x):
            return float(np.median(x)) if len(x) else float("nan")

        print(
            f"{v:44s} {med(abs(dh)):7.3f} {med(abs(dh[tune])):6.3f} {med(abs(dh[~tune])):6.3f} "
            f"{int((abs(dh) < 0.10).sum()):6d} {med(dh):+7.3f} "
            f"{med([abs(s['pitch_err_deg']) for _, _, s in rows]):6.2f} "
            f"{med([s['tilt_err_deg'] for _, _, s in rows]):6.2f}  {len(rows)}/{len(clips)}"
        )
        if args.per_clip:
            for name, group, s in rows:
                print(
                    f"    {name:16s} {group:4s} {s['camera_height_err_m']:+.3f} m  "
                    f"pitch {s['pitch_err_deg']:+.2f}  tilt {s['tilt_err_deg']:.2f} deg"
                )
    return 0


def main(argv: list[str] | None = None) -> int:
    from benchmarks.accuracy.data import TRUTHS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record", help="record the first refinement's inputs per clip")
    r.add_argument("-o", "--out", type=Path, required=True)
    r.add_argument("--cache", type=Path, default=REPO / ".cache" / "accuracy")
    r.add_argument("--clips", type=int, default=None, help="first N synthetic clips")
    r.add_argument("--no-trials", action="store_true")
    r.add_argument("--only", nargs="*", default=None, help="these clip names only")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--scale", type=int, default=1, help="the harness's clips rendered at x K")
    r.add_argument(
        "--truth", choices=TRUTHS, default="own",
        help="the harness's synthetic truth convention (benchmarks/accuracy/run.py --truth)",
    )  # fmt: skip
    r.add_argument("--force", action="store_true")
    s = sub.add_parser("replay", help="replay refinement variants and score them")
    s.add_argument("folder", type=Path)
    s.add_argument(
        "--variant",
        action="append",
        default=None,
        help="'start', 'default' or key=value[,key=value] over RefineConfig (repeatable)",
    )
    s.add_argument("--group", choices=("tune", "held", "all"), default="tune")
    s.add_argument("--only", nargs="*", default=None)
    s.add_argument("--json", type=Path, default=None, help="results file (resumed)")
    s.add_argument("--force", action="store_true")
    c = sub.add_parser("contacts", help="contact-detector variants against the contact truth")
    c.add_argument("folder", type=Path)
    c.add_argument(
        "--variant", action="append", default=None,
        help="'default' or key=value[,key=value] over core.contacts.ContactConfig (repeatable)",
    )  # fmt: skip
    c.add_argument("--group", choices=("tune", "held", "all"), default="tune")
    fl = sub.add_parser("floor", help="floor-fit variants against the renders' camera")
    fl.add_argument("folder", type=Path)
    fl.add_argument(
        "--variant", action="append", default=None,
        help="'default', 'feet' (no scene lines) or key=value[,key=value] over "
        "core.world.FloorConfig and its SCENE_* constants (repeatable)",
    )  # fmt: skip
    fl.add_argument("--per-clip", action="store_true", help="each clip's errors too")
    b = sub.add_parser("bias", help="the lifter's MediaPipe bias from the tuning clips")
    b.add_argument("folder", type=Path)
    b.add_argument("-o", "--out", type=Path, required=True)
    args = p.parse_args(argv)
    if args.cmd == "record":
        return record(args)
    if args.cmd == "bias":
        return bias(args)
    if args.cmd == "contacts":
        return contacts(args)
    if args.cmd == "floor":
        return floor(args)
    args.variant = args.variant or ["start", "default"]
    with contextlib.suppress(KeyboardInterrupt):
        return replay(args)
    return 1


if __name__ == "__main__":
    sys.exit(main())
