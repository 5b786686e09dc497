"""``python -m biomech_export``: OpenSim export, IK/ID, validation and conversion."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("biomech_export")

EPILOG = """examples:
  python -m biomech_export export walk.motion.npz -o out/walk          # .osim .mot .trc setups
  python -m biomech_export export walk.motion.npz -o out/walk --model opencap --static-optimization
  python -m biomech_export ik out/walk/walk.osim out/walk/walk.trc -o out/walk/ik
  python -m biomech_export id model.osim walk_ik.mot -o out/id \\
      --external-loads grf.xml --grf grf.mot --lowpass 6
  python -m biomech_export grf model.osim walk_ik.mot -o out/grf [--treadmill-speed 1.2]
  python -m biomech_export id model.osim walk_ik.mot -o out/id --estimate-grf
  python -m biomech_export validate out/walk/walk.osim out/walk/walk.mot
  python -m biomech_export scale model.osim static.trc -o out/scaled --mass 72
  python -m biomech_export convert hsmr_params.npz -o walk.motion.npz --fps 30
  python -m biomech_export convert gait2392_ik.mot -o walk.motion.npz --height 1.8
  python -m biomech_export convert walk.trc -o walk.motion.npz --subject subject.motion.npz
  python -m biomech_export convert amass.npz -o walk.motion.npz --smpl-model /path/to/models
"""


def _cmd_export(a: argparse.Namespace) -> int:
    from biomech_export.export import export_motion
    from core.motion import Motion

    motion = Motion.load(a.motion)
    name = a.name or a.motion.name.removesuffix(".npz").removesuffix(".motion")
    res = export_motion(motion, a.output, name=name, c3d=a.c3d, sex=a.sex, source=str(a.motion))
    print(f"wrote {res.folder} (see {res.readme_path.name})")
    if a.model == "opencap":
        from biomech_export.opencap import export_opencap, static_optimization_report

        oc = export_opencap(motion, a.output, name=name)
        print(
            f"wrote {oc.osim_path.name} ({oc.n_muscles} muscles), {oc.mot_path.name}, "
            f"{oc.trc_path.name}, {oc.scale_setup_path.name}, {oc.ik_setup_path.name} "
            f"(IK marker RMS {oc.marker_rms_m * 1e3:.1f} mm, max {oc.marker_max_m * 1e3:.1f} mm; "
            f"per marker: {name}_opencap_markers.tsv)"
        )
        if a.static_optimization:
            so = static_optimization_report(oc, a.output, name=name)
            print(
                f"wrote {so.activations_path.name} and {so.plot_path.name} (static optimisation)"
            )
    elif a.static_optimization:
        raise ValueError("--static-optimization needs --model opencap (a model with muscles)")
    return 0


def _range(v: list[float] | None) -> tuple[float, float] | None:
    return None if v is None else (float(v[0]), float(v[1]))


def _cmd_ik(a: argparse.Namespace) -> int:
    from biomech_export.tools import run_ik

    res = run_ik(
        a.model,
        a.markers,
        a.output,
        name=a.name,
        time_range_s=_range(a.time_range),
        setup_template=a.setup_template,
        unclamped=a.unclamped,
    )
    print(
        f"wrote {res.mot_path} (marker RMS {res.marker_rms_m * 1e3:.1f} mm, "
        f"max {res.marker_max_m * 1e3:.1f} mm; setup {res.setup_path.name})"
    )
    return 0


def _cmd_id(a: argparse.Namespace) -> int:
    from biomech_export.tools import run_id

    if getattr(a, "estimate_grf", False):
        return _cmd_id_estimated_grf(a)
    if getattr(a, "contacts", None) is not None or getattr(a, "treadmill_speed", None) is not None:
        raise ValueError("--contacts and --treadmill-speed need --estimate-grf")
    res = run_id(
        a.model,
        a.coordinates,
        a.output,
        name=a.name,
        external_loads=a.external_loads,
        grf_path=a.grf,
        time_range_s=_range(a.time_range),
        lowpass_hz=a.lowpass,
    )
    print(f"wrote {res.sto_path} (setup {res.setup_path.name})")
    return 0


def _cmd_id_estimated_grf(a: argparse.Namespace) -> int:
    from biomech_export.dynamics import inverse_dynamics_with_estimated_grf

    if a.external_loads is not None or a.grf is not None:
        raise ValueError("--estimate-grf replaces --external-loads/--grf: give one or the other")
    res = inverse_dynamics_with_estimated_grf(
        a.model,
        a.coordinates,
        a.output,
        name=a.name,
        contacts_path=a.contacts,
        treadmill_speed_m_s=a.treadmill_speed,
        lowpass_hz=a.lowpass,
        time_range_s=_range(a.time_range),
    )
    print(f"wrote {res.id_sto_path} (setup {res.setup_path.name}; GRF {res.grf.mot_path.name})")
    print(
        f"pelvis residual force (RMS): {res.residual_before_bw:.3f} BW without GRF -> "
        f"{res.residual_after_bw:.3f} BW with estimated GRF; moment "
        f"{res.residual_moment_before_nm:.1f} -> {res.residual_moment_after_nm:.1f} N m"
    )
    print(
        f"plots: {res.grf.plot_path.name}, {res.moments_plot_path.name}; "
        f"summary {res.summary_path.name}"
    )
    return 0


def _cmd_grf(a: argparse.Namespace) -> int:
    from biomech_export.dynamics import estimate_grf

    res = estimate_grf(
        a.model,
        a.motion,
        a.output,
        name=a.name,
        contacts_path=a.contacts,
        treadmill_speed_m_s=a.treadmill_speed,
        lowpass_hz=a.lowpass,
    )
    est = res.estimate
    peaks = ", ".join(f"{s} {est.loads.force_n[s][:, 1].max() / est.weight_n:.2f}" for s in "rl")
    print(
        f"wrote {res.mot_path}, {res.xml_path.name}, {res.plot_path.name} "
        f"({est.mass_kg:.1f} kg; peak vertical GRF {peaks} BW; contacts {est.contacts.source})"
    )
    return 0


def _cmd_validate(a: argparse.Namespace) -> int:
    from biomech_export.validate import validate_files

    rep = validate_files(
        a.model,
        a.coordinates,
        plausibility=not a.no_plausibility,
        external_loads=a.external_loads,
        grf_path=a.grf,
    )
    for w in rep.warnings:
        print(f"warning: {w}")
    for p in rep.problems:
        print(f"problem: {p}")
    resid = (
        ""
        if rep.residual_peak_bw is None
        else f", peak ID residual {rep.residual_peak_bw:.2f} body weights"
    )
    print(
        f"{'OK' if rep.ok else 'INVALID'}: {rep.n_frames} frames, "
        f"{rep.n_coordinates} model coordinates{resid}"
    )
    return 0 if rep.ok else 1


def _cmd_scale(a: argparse.Namespace) -> int:
    from biomech_export.scale import scale_model

    res = scale_model(
        a.model,
        a.static,
        a.output,
        name=a.name,
        mass_kg=a.mass,
        height_m=a.height,
        setup_template=a.setup_template,
        marker_set=a.marker_set,
        time_range_s=_range(a.time_range),
    )
    print(
        f"wrote {res.osim_path} (static-trial marker RMS before marker placement "
        f"{res.marker_rms_m * 1e3:.1f} mm; setup {res.setup_path.name})"
    )
    return 0


def _cmd_convert(a: argparse.Namespace) -> int:
    from biomech_export import convert

    src: Path = a.input
    suffix = src.suffix.lower()
    mass = 75.0 if a.mass is None else a.mass
    if suffix in (".mot", ".sto"):
        motion = convert.mot_to_motion(
            src, height_m=a.height, mass_kg=mass, fps=a.fps, allow_partial=a.allow_partial
        )
    elif suffix in (".pkl", ".pt") or (suffix == ".npz" and convert.is_smpl_params(src)):
        motion = convert.smpl_params_to_motion(
            src, a.smpl_model, gender=a.gender, fps=a.fps, mass_kg=a.mass
        )
    elif suffix == ".npz":
        motion = convert.skel_params_to_motion(
            src, fps=a.fps or 30.0, height_m=a.height, mass_kg=mass
        )
    elif suffix == ".trc":
        from core.motion import Motion

        if a.subject is None:
            raise ValueError(
                "converting a .trc needs --subject SUBJECT.motion.npz (its skeleton "
                "and marker set)"
            )
        motion = convert.trc_to_motion(src, Motion.load(a.subject))
    elif suffix == ".bvh":
        motion = convert.bvh_to_motion(src)
    else:
        raise ValueError(
            f"cannot convert {src.name}: expected .mot/.sto, .trc, SKEL/HSMR .npz, "
            "SMPL-family .npz/.pkl/.pt or .bvh"
        )
    out = motion.save(a.output)
    print(f"wrote {out} ({motion.n_frames} frames)")
    return 0


def _grf_options(s: argparse.ArgumentParser, *, lowpass: bool) -> None:
    s.add_argument(
        "--contacts",
        type=Path,
        help="foot contacts .sto (time, heel_r, toe_r, heel_l, toe_l; 0..1) from the capture; "
        "default: estimated from foot height and speed",
    )
    s.add_argument(
        "--treadmill-speed",
        type=float,
        metavar="M_PER_S",
        help="belt speed: a stance foot moves backward at it (default: detected from the feet)",
    )
    if lowpass:
        s.add_argument(
            "--lowpass",
            type=float,
            default=6.0,
            metavar="HZ",
            help="low-pass cut-off for the coordinates, Hz (0: none; default 6)",
        )


def _files(s: argparse.ArgumentParser, *positionals: tuple[str, str | None]) -> None:
    """Positional input files (name, help)."""
    for name, help_ in positionals:
        s.add_argument(name, type=Path, help=help_)


def _output(
    s: argparse.ArgumentParser, output_help: str | None = None, name_help: str | None = None
) -> None:
    """-o/--output (required) and --name."""
    s.add_argument("-o", "--output", type=Path, required=True, help=output_help)
    s.add_argument("--name", help=name_help)


def _time_range(s: argparse.ArgumentParser) -> None:
    s.add_argument("--time-range", type=float, nargs=2, metavar=("START", "END"))


def _loads(s: argparse.ArgumentParser, xml_help: str) -> None:
    """--external-loads and --grf (measured ground reactions)."""
    s.add_argument("--external-loads", type=Path, help=xml_help)
    s.add_argument("--grf", type=Path, help="ground reaction .mot replacing the XML's data file")


_STEM_HELP = "file stem (default: from the motion file)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m biomech_export",
        description="BSM-46 motions to and from OpenSim: scaled .osim, .mot, .trc, IK, ID.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("export", help="motion.npz -> folder with .osim, .mot, .trc, setups")
    _files(s, ("motion", "NAME.motion.npz"))
    _output(s, "output folder", _STEM_HELP)
    s.add_argument(
        "--sex",
        choices=("male", "female"),
        default="male",
        help="de Leva table for segment masses",
    )
    s.add_argument("--c3d", action="store_true", help="also write the markers as C3D")
    s.add_argument(
        "--model",
        choices=("bsm46", "opencap"),
        default="bsm46",
        help="opencap: also the motion on OpenCap's LaiUhlrich2022 (80 muscles): scaled from "
        "our virtual markers, OpenSim IK, NAME_opencap.osim/.mot/.trc + Scale/IK setups",
    )
    s.add_argument(
        "--static-optimization",
        action="store_true",
        help="with --model opencap: estimate the GRF from the kinematics and run OpenSim static "
        "optimisation (activations .sto and a plot of leg muscles)",
    )
    s.set_defaults(func=_cmd_export)

    s = sub.add_parser("ik", help="OpenSim inverse kinematics: .trc + .osim -> .mot")
    _files(s, ("model", None), ("markers", ".trc marker file"))
    _output(s)
    _time_range(s)
    s.add_argument("--setup-template", type=Path, help="take the task set from this IK setup")
    s.add_argument(
        "--unclamped",
        action="store_true",
        help="solve on a copy without coordinate clamping (tighter fit, may leave "
        "the joint ranges)",
    )
    s.set_defaults(func=_cmd_ik)

    s = sub.add_parser("id", help="OpenSim inverse dynamics: .osim + .mot [+ GRF] -> .sto")
    _files(s, ("model", None), ("coordinates", ".mot coordinates (e.g. IK output)"))
    _output(s)
    _loads(s, "ExternalLoads .xml")
    _time_range(s)
    s.add_argument(
        "--lowpass",
        type=float,
        default=6.0,
        help="low-pass cut-off for the coordinates, Hz (OpenSim's filter; 0: none; default 6)",
    )
    s.add_argument(
        "--estimate-grf",
        action="store_true",
        help="estimate the ground reactions from the kinematics (see 'grf') and run ID with "
        "them; also writes ID without them, the pelvis residuals and plots",
    )
    _grf_options(s, lowpass=False)
    s.add_argument(
        "--allow-partial",
        action="store_true",
        help="run although the coordinates file lacks model coordinates (set to 0) or has "
        "unknown columns (default: error listing them)",
    )
    s.set_defaults(func=_cmd_id)

    s = sub.add_parser(
        "grf",
        help="ground reaction forces from kinematics alone: .osim + .mot -> GRF .mot/.xml/.png",
        description="Whole-body Newton-Euler on the model's mass distribution gives the total "
        "external force and moment; foot contacts split it between the feet (centre of "
        "pressure on each foot's heel-toe line, free moment). Writes OUT/NAME_grf.mot "
        "(Rajagopal/OpenCap columns), OUT/NAME_grf.xml (ExternalLoads on calcn_r/calcn_l) "
        "and OUT/NAME_grf.png.",
        epilog="example:\n  python -m biomech_export grf model.osim walk_ik.mot -o out/grf "
        "--treadmill-speed 1.2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _files(
        s,
        ("model", "OpenSim model with calcn_r/l and toes_r/l bodies"),
        ("motion", ".mot coordinates for that model (e.g. IK output)"),
    )
    _output(s, "output folder", _STEM_HELP)
    _grf_options(s, lowpass=True)
    s.set_defaults(func=_cmd_grf)

    s = sub.add_parser("validate", help="check a model + .mot pair; non-zero exit with reasons")
    _files(s, ("model", None), ("coordinates", None))
    _loads(s, "ExternalLoads .xml for the residual check")
    s.add_argument(
        "--no-plausibility",
        action="store_true",
        help="only check that the pair is usable (skip steps, root, floor and residual checks)",
    )
    s.set_defaults(func=_cmd_validate)

    s = sub.add_parser(
        "scale",
        help="scale a model (ours, OpenCap's LaiUhlrich2022, or any with --setup-template) to a "
        "static-trial .trc; writes the Scale setup beside the result",
    )
    _files(s, ("model", ".osim to scale"), ("static", "static-trial .trc"))
    _output(s, "output folder", "name of the scaled model (default: MODEL_scaled)")
    s.add_argument("--mass", type=float, help="subject mass, kg (default: the model's)")
    s.add_argument("--height", type=float, help="subject height, m (recorded in the setup)")
    s.add_argument(
        "--setup-template",
        type=Path,
        help="Scale setup whose measurements (and marker-placer weights) to use",
    )
    s.add_argument(
        "--marker-set", type=Path, help="MarkerSet .xml replacing the model's markers first"
    )
    _time_range(s)
    s.set_defaults(func=_cmd_scale)

    s = sub.add_parser("convert", help="another model's .mot, SKEL/HSMR .npz or BVH -> motion.npz")
    s.add_argument("input", type=Path)
    s.add_argument("-o", "--output", type=Path, required=True, help="NAME.motion.npz")
    s.add_argument("--fps", type=float, default=None)
    s.add_argument("--height", type=float, default=1.75, help="subject height, m")
    s.add_argument(
        "--mass",
        type=float,
        default=None,
        help="subject mass, kg (default 75; SMPL input: from the body volume)",
    )
    s.add_argument(
        "--subject", type=Path, help="motion.npz giving skeleton + markers (.trc input)"
    )
    s.add_argument(
        "--smpl-model",
        type=Path,
        help="your SMPL/SMPL-H/SMPL-X model file or folder (SMPL-family parameter input)",
    )
    s.add_argument(
        "--gender",
        choices=("neutral", "male", "female"),
        default=None,
        help="SMPL model gender (default: from the file, else neutral)",
    )
    s.add_argument(
        "--allow-partial",
        action="store_true",
        help=".mot/.sto input: ignore columns that are no BSM-46 coordinate (default: error)",
    )
    s.set_defaults(func=_cmd_convert)
    return p


# Where each command writes (folder or file) and the name of its result inside a folder: the
# output is staged and published whole by core.transaction (never a mix of old and new).
_OUTPUTS = {
    "export": ("folder", lambda a: "export"),
    "ik": ("folder", lambda a: f"ik:{a.name or Path(a.markers).stem}"),
    "id": ("folder", lambda a: f"id:{a.name or Path(a.coordinates).stem}"),
    "grf": ("folder", lambda a: f"grf:{a.name or Path(a.motion).stem}"),
    "scale": ("folder", lambda a: f"scale:{a.name or ''}"),
    "convert": ("file", None),
    "validate": (None, None),
}
# Numeric options: valid range and unit (checked for every command that has them).
_NUMBERS = {
    "height": (0.5, 2.6, "m", "subject height"),
    "mass": (10.0, 300.0, "kg", "subject mass"),
    "fps": (0.1, 10000.0, "Hz", "frame rate"),
    "treadmill_speed": (0.0, 15.0, "m/s", "treadmill belt speed"),
}


def _check_args(a: argparse.Namespace) -> None:
    import math

    from core.options import check_time_range, safe_name

    for attr, (lo, hi, unit, what) in _NUMBERS.items():
        v = getattr(a, attr, None)
        if v is not None and not (math.isfinite(v) and lo <= v <= hi):
            opt = "--" + attr.replace("_", "-")
            raise ValueError(f"{opt} ({what}) must lie in {lo:g}..{hi:g} {unit}, got {v:g}")
    lp = getattr(a, "lowpass", None)
    if lp is not None and not (math.isfinite(lp) and 0 <= lp <= 1000):
        raise ValueError(f"--lowpass must be 0 (no filter) or a cut-off in 0..1000 Hz, got {lp:g}")
    if getattr(a, "name", None) is not None:
        try:
            a.name = safe_name(a.name)
        except argparse.ArgumentTypeError as e:
            raise ValueError(f"--name: {e}") from None
    check_time_range(getattr(a, "time_range", None))
    if a.command == "ik":
        from biomech_export.inputs import check_ik_inputs

        check_ik_inputs(a.model, a.markers, a.time_range, a.setup_template)
    elif a.command == "convert" and Path(a.input).suffix.lower() == ".npz":
        from biomech_export.inputs import check_npz

        check_npz(a.input)
    elif a.command == "id" and not getattr(a, "estimate_grf", False):
        from biomech_export.inputs import check_id_inputs

        check_id_inputs(
            a.model, a.coordinates, a.time_range, allow_partial=getattr(a, "allow_partial", False)
        )


def _output_of(a: argparse.Namespace) -> tuple[str | None, str]:
    if a.command in _OUTPUTS:
        kind, key = _OUTPUTS[a.command]
        return kind, key(a) if key else ""
    out = getattr(a, "output", None)
    if out is None:
        return None, ""
    return ("file" if Path(out).suffix and not Path(out).is_dir() else "folder"), a.command


def main(argv: list[str] | None = None) -> int:
    from core.transaction import (
        display,
        exit_code,
        interrupted_message,
        interrupts_raise,
        run_with_output,
    )

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        with interrupts_raise():
            _check_args(args)
            kind, key = _output_of(args)
            return exit_code(
                run_with_output(args.func, args, kind=kind, key=key), argv is not None
            )
    except KeyboardInterrupt as e:
        line, code = interrupted_message(e)
        print(line, file=sys.stderr)
        return exit_code(code, argv is not None)
    except OSError as e:
        what = f"{e.strerror}: {e.filename}" if e.strerror and e.filename else str(e)
        print(f"error: {' '.join(display(what).split())}", file=sys.stderr)
        return exit_code(2, argv is not None)
    except (ValueError, ImportError, RuntimeError) as e:
        print(f"error: {' '.join(display(e).split())}", file=sys.stderr)
        return exit_code(2, argv is not None)
