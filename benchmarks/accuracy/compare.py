"""Side-by-side headline numbers of several harness runs (before/after tables).

    .venv/bin/python benchmarks/accuracy/compare.py .cache/accuracy/runs/A .cache/accuracy/runs/B

Only clips measured in every run are compared (a run that stopped early does not skew it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.accuracy.report import _f, summarise  # noqa: E402


def _load(run: Path) -> dict:
    path = run / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"no results.json in {run} (run benchmarks/accuracy/run.py first)")
    r = json.loads(path.read_text())
    clips = {}
    for f in sorted((run / "clips").glob("*.json")):  # the per-clip files are the latest
        clips[f.stem] = json.loads(f.read_text())
    r["clips"] = {k: v for k, v in clips.items() if "methods" in v}
    return r


def compare(runs: list[Path]) -> str:
    loaded = [_load(r) for r in runs]
    common = set.intersection(*(set(r["clips"]) for r in loaded))
    lines = []
    for kind, title in (("synthetic", "Synthetic held-out clips"), ("trial", "Marker trials")):
        names = sorted(n for n in common if loaded[0]["clips"][n]["kind"] == kind)
        if not names:
            continue
        groups = {"all": names}
        if kind == "trial":
            for take in sorted({loaded[0]["clips"][n]["take"] for n in names}):
                groups[take] = [n for n in names if loaded[0]["clips"][n]["take"] == take]
        for g, sub in groups.items():
            lines += [f"{title}, {g} ({len(sub)} clips, the same in every run):", ""]
            lines.append(
                "| run | code | capture MAE | offset-free | r | MPJPE | PA-MPJPE | jitter "
                "(truth) | violations | peer MAE | vs peer |"
            )
            lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
            for r in loaded:
                s = summarise({n: r["clips"][n] for n in sub})
                c, p = s.get("capture", {}), s.get("peer", {})
                gain = (
                    100 * (p["mae_deg"] - c["mae_deg"]) / p["mae_deg"] if c and p else float("nan")
                )
                lines.append(
                    f"| {r['label']} | {r['meta']['commit'][:60]} | **{_f(c.get('mae_deg'))}** | "
                    f"{_f(c.get('mae_offset_free_deg'))} | {_f(c.get('r'), 2)} | "
                    f"{_f(c.get('mpjpe_mm'), 0)} | {_f(c.get('pa_mpjpe_mm'), 0)} | "
                    f"{_f(c.get('jitter_mps2'))} ({_f(c.get('jitter_true_mps2'))}) | "
                    f"{c.get('violations', '-')} | {_f(p.get('mae_deg'))} | {_f(gain, 0)} % |"
                )
            lines.append("")
    # per-frame capture time over the common clips
    lines += ["Capture time per video frame (common clips; this shared machine, loaded):", ""]
    for r in loaded:
        t = [r["clips"][n]["timing"] for n in common if r["clips"][n].get("timing")]
        frames = sum(x["frames"] for x in t)
        if not frames:
            continue
        per: dict[str, float] = {}
        for x in t:
            for k, v in x["stages_s"].items():
                per[k] = per.get(k, 0.0) + v
        total = sum(x["total_s"] for x in t)
        lines.append(
            f"- {r['label']}: {_f(1000 * total / frames, 0)} ms/frame ("
            + ", ".join(f"{k} {_f(1000 * v / frames, 0)}" for k, v in per.items())
            + ")"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("runs", nargs="+", type=Path, help="run folders (with results.json)")
    args = p.parse_args(argv)
    try:
        print(compare(args.runs))
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
