"""What a capture is asked to do: :class:`CaptureOptions`, and the checks of them that need no
stage (device, prior, surface method, output folder)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CaptureOptions",
    "PRIORS",
    "DEFAULT_PRIOR",
    "resolve_device",
    "resolve_prior",
    "resolve_threads",
    "default_threads",
]


@dataclass
class CaptureOptions:
    output: Path
    device: str = "auto"  # auto | cpu | cuda
    fps: float | None = None  # override the clip's frame rate (timestamps are used otherwise)
    focal_px: float | None = None
    fov_deg: float | None = None
    start_s: float | None = None
    end_s: float | None = None
    person: str | None = None
    height_m: float | None = None
    mass_kg: float | None = None
    overlay: bool = True
    export_opensim: bool = True
    name: str | None = None
    hmr: str = "fit"  # body-surface method: "fit" (optimisation) or "mq" (MQ-HMR network)
    hmr_refine: str = "query"  # MQ-HMR test-time refinement: "query", "params" or "none"
    hmr_checkpoint: str = "small"  # MQ-HMR weights: a shipped configuration name or a folder
    treadmill_speed_mps: float | None = None  # belt speed: planted feet move backward (-X) at it
    dynamics: bool = False  # GRF from the kinematics + OpenSim ID (biomech_export.dynamics)
    # 3D prior: "lift" (core.lift, 2D keypoints -> angles) or "neurik" (MediaPipe world landmarks);
    # None: the environment's BIOMOCAP_PRIOR, else DEFAULT_PRIOR
    prior: str | None = None
    # the floor's tilt also from the scene's horizontal lines (core.horizon), not the feet alone
    scene_lines: bool = True
    # the refinement corrects the prior smoothly over time (core.refine w_smooth_dq + per-DOF
    # offset); False: frame by frame, each frame's 2D fit first (pseudo-labels of single images)
    smooth_correction: bool = True
    # torch's intra-op threads on the CPU; None: OMP_NUM_THREADS when set, else DEFAULT_THREADS
    threads: int | None = None


PRIORS = ("lift", "neurik")
# The lifter by the harness (--clips 12 + the 6 trials, same code, lift-8778c65 vs neurik-8778c65):
# synthetic 11.7 -> 10.5 deg, trials 11.2 -> 10.8 (gait2392 10.8 -> 11.7, Rajagopal 11.7 -> 10.0)
DEFAULT_PRIOR = "lift"


# The CPU stages are many small batched solves (a clip's frames x 46 angles): one thread avoids
# OpenMP's hand-over and, on a busy core, its spin-waits. Refinement on recorded inputs
# (131_01_w0, 2-core machine, the other core busy): 90 frames 52 ms/frame on one thread, 604 on
# two; 900 frames 28 vs 592 (benchmarks/capture_benchmark.py, 1080p 4 s: refine 5.6 vs 53 s).
DEFAULT_THREADS = 1


def default_threads() -> int:
    """Torch threads when none are asked for: OMP_NUM_THREADS when set, else DEFAULT_THREADS."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(env) if env.isdigit() and int(env) > 0 else DEFAULT_THREADS


def resolve_threads(opts: CaptureOptions) -> int:
    """Torch threads for this capture: the option, else :func:`default_threads`."""
    return int(opts.threads) if opts.threads is not None else default_threads()


def resolve_device(name: str) -> str:
    """The device to run on: `auto` is CUDA when a GPU is present, else the CPU; names checked."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda requested but no CUDA GPU is available; use --device cpu")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; use auto, cpu or cuda")
    return name


def resolve_prior(opts: CaptureOptions) -> str:
    """The 3D prior this capture uses: the option, else BIOMOCAP_PRIOR, else DEFAULT_PRIOR."""
    prior = opts.prior or os.environ.get("BIOMOCAP_PRIOR") or DEFAULT_PRIOR
    if prior not in PRIORS:
        raise ValueError(f"unknown prior {prior!r}; use one of {', '.join(PRIORS)}")
    return prior


def check_options(opts: CaptureOptions) -> None:
    """Option values no stage needs to see first: checked before anything long starts."""
    if opts.treadmill_speed_mps is not None and not (0 <= opts.treadmill_speed_mps <= 10):
        raise ValueError(
            f"--treadmill-speed must lie in 0..10 m/s, got {opts.treadmill_speed_mps}"
        )
    if opts.threads is not None and not (1 <= opts.threads <= 1024):
        raise ValueError(f"--threads must lie in 1..1024, got {opts.threads}")
    if opts.fps is not None and not (1 <= opts.fps <= 1000):
        raise ValueError(f"--fps must lie in 1..1000, got {opts.fps}")


def output_folder(opts: CaptureOptions) -> Path:
    """The output folder, created and checked writable."""
    out = Path(opts.output)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create the output folder {out}: {e.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ValueError(f"the output folder {out} is not writable; choose another with -o")
    return out
