"""Aggregate per-clip results into tables: JSON for machines, markdown for people."""

from __future__ import annotations

import math

import numpy as np

SYNTH_METHODS = (
    "capture",
    "surface",
    "neurik",
    "mp+ik",
    "gt2d",
    "gt3d",
    "neurik@true3d",
    "ik@true3d",
    "peer",
)
METHOD_NOTES = {
    "capture": "full pipeline (MediaPipe 2D)",
    "surface": "capture's stages up to the surface fit (refinement's start)",
    "neurik": "NeurIK prior alone (MediaPipe world landmarks)",
    "mp+ik": "MediaPipe world landmarks + optimisation IK (true skeleton)",
    "gt2d": "full pipeline, projected true 2D + noise",
    "gt3d": "full pipeline, true 2D and 3D landmarks + noise",
    "neurik@true3d": "NeurIK prior alone on the exact 3D landmarks",
    "ik@true3d": "optimisation IK on the exact 3D landmarks, true skeleton (check)",
    "peer": "peer: MediaPipe world landmarks -> OpenSim IK (Pose2Sim model)",
}


_KIND_LABEL = {
    "synthetic": "synthetic clips",
    "trial": "overground marker trials",
    "treadmill": "treadmill marker trials (camera only)",
}


def _nanmean(v) -> float:
    v = [x for x in v if x is not None and np.isfinite(x)]
    return float(np.mean(v)) if v else float("nan")


def _f(x, nd=1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{nd}f}"


def summarise(clips: dict[str, dict], methods=SYNTH_METHODS) -> dict[str, dict]:
    """Mean over clips of each method's headline numbers (clips where the method ran)."""
    out = {}
    for m in methods:
        rows = [c["methods"][m] for c in clips.values() if m in c.get("methods", {})]
        rows = [r for r in rows if "angles" in r]
        if not rows:
            continue
        s = {
            "clips": len(rows),
            "mae_deg": _nanmean(r["angles"]["mean_mae_deg"] for r in rows),
            "mae_offset_free_deg": _nanmean(r["angles"]["mean_mae_offset_free_deg"] for r in rows),
            "r": _nanmean(r["angles"]["mean_r"] for r in rows),
            "per_dof_mae_deg": {
                d: _nanmean(r["angles"]["mae_deg"].get(d) for r in rows)
                for d in dict.fromkeys(k for r in rows for k in r["angles"]["mae_deg"])
            },
        }
        for k in ("mpjpe_mm", "pa_mpjpe_mm", "jitter_mps2", "jitter_true_mps2"):
            s[k] = _nanmean(r.get("pose", {}).get(k) for r in rows)
        vio = [r.get("violations") for r in rows if r.get("violations") is not None]
        s["violations"] = int(sum(vio)) if vio else None
        out[m] = s
    return out


def _by_naming(clips: dict[str, dict]) -> list[str]:
    """The capture's MAE and mean signed error (hip flexion, ankle) by the truth's file naming:
    the lifter learns the bank's AMC convention, a Daz-friendly take's truth is its own retarget
    (RESULTS.md, tenth session). Nothing for runs without the naming or the signed errors."""
    groups: dict[str, list[dict]] = {}
    for c in clips.values():
        angles = c.get("methods", {}).get("capture", {}).get("angles", {})
        if c.get("truth_naming") and angles.get("bias_deg"):
            groups.setdefault(c["truth_naming"], []).append(angles)
    if not groups:
        return []
    dofs = ("hip_flexion_r", "hip_flexion_l", "ankle_angle_r", "ankle_angle_l")

    def bias(rows: list[dict], d: str) -> str:
        return _f(_nanmean(r["bias_deg"].get(d) for r in rows))

    out = [
        "Capture by the truth's file naming (mean signed error, capture minus truth, deg; the "
        "lifter learns the bank's AMC convention):",
        "",
        "| naming | clips | MAE | hip flexion r / l | ankle r / l |",
        "|---|---|---|---|---|",
    ]
    for name, rows in sorted(groups.items()):
        out.append(
            f"| {name} | {len(rows)} | {_f(_nanmean(r['mean_mae_deg'] for r in rows))} | "
            f"{bias(rows, dofs[0])} / {bias(rows, dofs[1])} | "
            f"{bias(rows, dofs[2])} / {bias(rows, dofs[3])} |"
        )
    return out + [""]


def grounding_table(clips: dict[str, dict]) -> list[str]:
    """The grounding section of a run's clips (markdown lines; none without grounding)."""
    g_rows = [(n, c["grounding"]) for n, c in clips.items() if c.get("grounding")]
    if not g_rows:
        return []
    lines = ["#### Grounding (capture vs the renders' truth)", ""]
    keys = sorted(
        {
            k
            for _, g in g_rows
            for k, v in g.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
    )
    # One column per kind of clip: the synthetic renders (the targets), the
    # overground marker trials and the treadmill ones (camera pose only), never pooled.
    kind_of = {
        n: "treadmill" if g.get("camera_only") else clips[n].get("kind", "synthetic")
        for n, g in g_rows
    }
    measured = {kind_of[n] for n, g in g_rows if any(v in keys for v in g)}
    kinds = [k for k in ("synthetic", "trial", "treadmill") if k in measured]
    if kinds:
        lines.append(
            "| quantity | " + " | ".join(f"{_KIND_LABEL[k]}: median | clips" for k in kinds) + " |"
        )
        lines.append("|---|" + "---|---|" * len(kinds))
        for k in keys:
            share = k.endswith("_within_sd")  # 0/1 per clip: the mean is the coverage
            cells = []
            for kind in kinds:
                vals = [
                    g[k]
                    for n, g in g_rows
                    if kind_of[n] == kind
                    and isinstance(g.get(k), (int, float))
                    and np.isfinite(g[k])
                ]
                value = (np.mean if share else np.median)(vals) if vals else None
                cells.append(f"{_f(float(value), 3) if vals else '-'} | {len(vals)}")
            label = f"{k} (mean: share of clips)" if share else k
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    notes = sorted({g.get("note") for _, g in g_rows if g.get("note")})
    rules: dict[str, int] = {}
    for _, g in g_rows:
        if "contact_f1" in g:
            rule = g.get("contact_rule", "stance-level-v2 or older")
            rules[rule] = rules.get(rule, 0) + 1
    notes += [f"contact truth rule {r}: {n} clips" for r, n in sorted(rules.items())]
    lines += [""] + [f"- {n}" for n in notes] + [""]
    return lines


def markdown(run: dict) -> str:
    """The run as markdown tables."""
    lines = [f"### Run `{run['label']}`", ""]
    meta = run["meta"]
    lines.append(
        f"Commit `{meta['commit']}`{' + uncommitted changes in ' + ', '.join(meta['dirty']) if meta['dirty'] else ''}; "
        f"{meta['started']} UTC; seed {meta['seed']}; {meta['command']}"
    )
    lines.append("")
    synth = {k: v for k, v in run["clips"].items() if v.get("kind") == "synthetic"}
    trials = {k: v for k, v in run["clips"].items() if v.get("kind") == "trial"}
    for title, clips in (
        ("Synthetic held-out clips", synth),
        ("Rendered marker trials (vs their marker IK)", trials),
    ):
        if not clips:
            continue
        s = summarise(clips)
        lines += [f"#### {title}: {len(clips)} clips", ""]
        lines.append(
            "| method | clips | MAE deg | offset-free MAE | r | MPJPE mm | PA-MPJPE mm | "
            "jitter m/s² (truth) | violations |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for m, r in s.items():
            lines.append(
                f"| {m}: {METHOD_NOTES.get(m, '')} | {r['clips']} | **{_f(r['mae_deg'])}** | "
                f"{_f(r['mae_offset_free_deg'])} | {_f(r['r'], 2)} | {_f(r['mpjpe_mm'], 0)} | "
                f"{_f(r['pa_mpjpe_mm'], 0)} | {_f(r['jitter_mps2'])} ({_f(r['jitter_true_mps2'])}) | "
                f"{r['violations'] if r['violations'] is not None else '-'} |"
            )
        if "capture" in s and "peer" in s:
            ours, peer = s["capture"]["mae_deg"], s["peer"]["mae_deg"]
            lines += ["", f"Capture vs peer: {_f(ours)} vs {_f(peer)} deg MAE "
                      f"({_f(100 * (peer - ours) / peer, 0)} % lower)."]  # fmt: skip
        lines += ["", "Per-DOF MAE (deg):", ""]
        dof_names = list(next(iter(s.values()))["per_dof_mae_deg"])
        lines.append("| method | " + " | ".join(d.replace("_", " ") for d in dof_names) + " |")
        lines.append("|---|" + "---|" * len(dof_names))
        for m, r in s.items():
            lines.append(
                f"| {m} | " + " | ".join(_f(r["per_dof_mae_deg"].get(d)) for d in dof_names) + " |"
            )
        lines.append("")
        # per activity (synthetic) or per trial
        groups: dict[str, list[str]] = {}
        for name, c in clips.items():
            groups.setdefault(c["activity"], []).append(name)
        lines.append("| group | clips | " + " | ".join(s) + " |")
        lines.append("|---|---|" + "---|" * len(s))
        for g, names in groups.items():
            sub = summarise({n: clips[n] for n in names})
            lines.append(
                f"| {g} | {len(names)} | "
                + " | ".join(_f(sub.get(m, {}).get("mae_deg")) for m in s)
                + " |"
            )
        lines.append("")
        lines += _by_naming(clips)
    lines += grounding_table(run["clips"])
    # timing
    t = [c["timing"] for c in run["clips"].values() if c.get("timing")]
    if t:
        frames = sum(x["frames"] for x in t)
        lines += ["#### Capture time (this machine, per video frame)", ""]
        per = {}
        for x in t:
            for k, v in x["stages_s"].items():
                per[k] = per.get(k, 0.0) + v
        lines.append(
            f"{frames} frames: total {_f(1000 * sum(x['total_s'] for x in t) / frames, 0)} ms/frame "
            "("
            + ", ".join(f"{k} {_f(1000 * v / frames, 0)}" for k, v in per.items())
            + " ms/frame)"
        )
        peer = [c["methods"]["peer"].get("wall_s") for c in run["clips"].values()
                if "peer" in c.get("methods", {})]  # fmt: skip
        peer = [p for p in peer if p]
        if peer:
            lines.append(f"; peer baseline {_f(1000 * sum(peer) / frames, 0)} ms/frame")
        lines.append("")
    # per clip
    lines += ["#### Per clip (MAE deg)", ""]
    lines.append("| clip | activity | frames | camera | capture | gt2d | peer | motcmp check |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for name, c in run["clips"].items():
        m = c.get("methods", {})

        def mae(k, m=m):
            return _f(m.get(k, {}).get("angles", {}).get("mean_mae_deg"))

        cam = c.get("camera", {})
        lines.append(
            f"| {name} | {c['activity']} | {c.get('frames', '-')} | "
            f"{cam.get('size', '')} h {cam.get('height_m', '-')} m, d {cam.get('distance_m', '-')} m, "
            f"pitch {cam.get('pitch_deg', '-')}, f {cam.get('focal_px', '-')} px | {mae('capture')} | "
            f"{mae('gt2d')} | {mae('peer')} | {_f(c.get('motcmp_mae_deg'))} |"
        )
    errs = [(n, c["error"]) for n, c in run["clips"].items() if c.get("error")]
    if errs:
        lines += ["", "Clips that failed:", ""] + [f"- {n}: {e}" for n, e in errs]
    notes = run.get("notes") or []
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"
