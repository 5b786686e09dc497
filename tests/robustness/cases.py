"""Hostile inputs and faults for every command that reads or writes, generated in code.

Each :class:`Case` runs one command line (``python -m biomech_export ...`` or ``python -m core
...``) in a folder that already holds earlier results, and is judged:

- GOOD: the expected outcome. For a bad input: non-zero exit, exactly one ``error:`` line that
  names what it should (the file, the option), no traceback, and every file in the folder
  byte-identical afterwards (no earlier result lost or mixed, nothing half-written, no junk).
  For an input that should work (spaces in names, other header forms): exit 0 and a result that
  is checked against an independent reference.
- WEAK: right outcome but a poor message (does not name the file/option) or leftover junk files.
- BAD: traceback or crash, exit 0 with a wrong result, an earlier result changed or lost, or a
  file written outside ``-o``.

Used by ``tests/robustness/test_hostile.py`` (every case must be GOOD) and by
``benchmarks/hostile_sweep.py`` (counts; runs each case in a forked child so a crash is a BAD,
not the end of the sweep).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

GOOD, WEAK, BAD = "GOOD", "WEAK", "BAD"


@dataclass
class Env:
    """A case's folder. ``in_/`` holds inputs, ``res/`` earlier results (see ``build_base``)."""

    root: Path

    @property
    def in_(self) -> Path:
        return self.root / "in"

    @property
    def res(self) -> Path:
        return self.root / "res"

    def p(self, rel: str) -> str:
        return str(self.root / rel)


@dataclass
class Case:
    id: str
    cli: str  # "bx" (biomech_export) or "core"
    argv: Callable[[Env], list[str]]
    expect: str = "error"  # "error" | "ok" | "invalid" (validate: exit 1 naming the problem)
    mention: tuple[str, ...] = ()  # words the error line should contain (case-insensitive)
    prepare: Callable[[Env], None] | None = None
    verify: Callable[[Env, str, str], str | None] | None = None  # ok cases: None or why BAD
    allowed: Callable[[Env], list[Path]] = field(default=lambda env: [])  # ok: may change
    heavy: bool = False  # needs MediaPipe/torch work (seconds)
    note: str = ""


@dataclass
class Outcome:
    verdict: str
    reason: str
    rc: int | None
    err: str


# ----------------------------------------------------------------------------- base results
def base_motion():
    from tests.test_export_roundtrip import smooth_motion

    return smooth_motion(n_frames=6, fps=30.0, seed=3)


def build_base(folder: Path) -> Path:
    """Inputs and earlier results every case starts from (built once, copied per case)."""
    from biomech_export.cli import main as bx

    folder.mkdir(parents=True, exist_ok=True)
    inp, res = folder / "in", folder / "res"
    inp.mkdir(exist_ok=True)
    res.mkdir(exist_ok=True)
    m = base_motion()
    m.save(inp / "w.motion.npz")
    quiet = contextlib.redirect_stdout(io.StringIO())
    with quiet:
        assert bx(["export", str(inp / "w.motion.npz"), "-o", str(res / "export")]) == 0
        assert (
            bx(
                [
                    "ik",
                    str(res / "export/w.osim"),
                    str(res / "export/w.trc"),
                    "-o",
                    str(res / "ik"),
                ]
            )
            == 0
        )
        assert (
            bx(
                [
                    "id",
                    str(res / "export/w.osim"),
                    str(res / "export/w.mot"),
                    "-o",
                    str(res / "id"),
                ]
            )
            == 0
        )
        assert bx(["convert", str(res / "export/w.mot"), "-o", str(res / "conv.motion.npz")]) == 0
    shutil.copy(res / "conv.motion.npz", res / "det.npz")  # stands for an earlier detect
    cap = res / "cap"  # stands for an earlier capture (only its bytes are checked)
    shutil.copytree(res / "export", cap / "opensim")
    shutil.copy(inp / "w.motion.npz", cap / "w.motion.npz")
    (cap / "report.html").write_text("<html>earlier capture</html>\n")
    from PIL import Image

    Image.new("RGB", (96, 64), (128, 128, 128)).save(inp / "gray.png")
    return folder


def snapshot(root: Path) -> dict[str, str]:
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            snap[os.path.relpath(os.path.join(dirpath, d), root) + "/"] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            try:
                snap[os.path.relpath(p, root)] = hashlib.sha1(Path(p).read_bytes()).hexdigest()
            except OSError:
                snap[os.path.relpath(p, root)] = "unreadable"
    return snap


# ----------------------------------------------------------------------------- running
def _main(cli: str):
    if cli == "bx":
        from biomech_export.cli import main
    else:
        from core.cli import main
    return main


def invoke(cli: str, argv: list[str]) -> tuple[int | None, str, str, str]:
    """main(argv) in-process: (exit code, stdout, stderr, crash text or '')."""
    out, err = io.StringIO(), io.StringIO()
    crash = ""
    rc: int | None = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = _main(cli)(argv)
        except SystemExit as e:  # argparse
            rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        except BaseException:  # noqa: BLE001 - a crash is what we are looking for
            crash = traceback.format_exc()
    return rc, out.getvalue(), err.getvalue(), crash


def error_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if re.match(r"^(.*: )?error:", ln.strip())]


def judge(case: Case, env: Env, before: dict, rc, out: str, err: str, crash: str) -> Outcome:
    after = snapshot(env.root)
    first_err = (error_lines(err) or [""])[0]
    if crash or "Traceback (most recent call last)" in err:
        tail = (crash or err).strip().splitlines()[-1:] or ["?"]
        return Outcome(BAD, f"traceback: {tail[0][:160]}", rc, err)
    changed = sorted(k for k in before if k in after and before[k] != after[k])
    removed = sorted(k for k in before if k not in after)
    added = sorted(k for k in after if k not in before)
    allowed = [str(Path(a).relative_to(env.root)) for a in case.allowed(env)]

    def inside(k: str) -> bool:
        return any(k == a or k.startswith(a.rstrip("/") + "/") for a in allowed)

    if case.expect == "ok":
        if rc != 0:
            return Outcome(
                BAD, f"should work, exit {rc}: {first_err or err.strip()[-160:]}", rc, err
            )
        bad = [k for k in changed + removed + added if not inside(k)]
        if bad:
            return Outcome(BAD, f"wrote outside its output: {bad[:3]}", rc, err)
        if case.verify is not None:
            why = case.verify(env, out, err)
            if why:
                return Outcome(BAD, why, rc, err)
        return Outcome(GOOD, "works", rc, err)
    if rc == 0:
        return Outcome(BAD, "exit 0 (wrong success)", rc, err)
    if changed or removed:
        return Outcome(BAD, f"earlier result changed/lost: {(changed + removed)[:3]}", rc, err)
    if case.expect == "invalid":
        text = (out + err).lower()
        if rc != 1 or "invalid" not in text:
            return Outcome(WEAK, f"validate exit {rc} without INVALID", rc, err)
        missing = [w for w in case.mention if w.lower() not in text]
        if missing:
            return Outcome(WEAK, f"report does not name {missing}", rc, err)
        return Outcome(GOOD, "invalid, named", rc, err)
    lines = error_lines(err)
    if len(lines) != 1:
        return Outcome(WEAK, f"{len(lines)} error lines: {err.strip()[-200:]!r}", rc, err)
    if added:
        outside = [k for k in added if not k.startswith("res/")]
        verdict = BAD if outside else WEAK
        return Outcome(verdict, f"left files behind: {added[:3]}", rc, err)
    missing = [w for w in case.mention if w.lower() not in lines[0].lower()]
    if missing:
        return Outcome(WEAK, f"message lacks {missing}: {lines[0][:200]}", rc, err)
    return Outcome(GOOD, lines[0][:200], rc, err)


def run_case(case: Case, base: Path, work: Path) -> Outcome:
    """Copy ``base`` to ``work``, prepare, run in-process, judge."""
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(base, work, symlinks=True)
    env = Env(work)
    if case.prepare is not None:
        case.prepare(env)
    before = snapshot(work)
    rc, out, err, crash = invoke(case.cli, case.argv(env))
    return judge(case, env, before, rc, out, err, crash)


# ----------------------------------------------------------------------------- file makers
def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")


def _nan_cells(line: str) -> str:
    cells = line.split("\t")
    return "\t".join(cells[:2] + ["NaN"] * (len(cells) - 2))


def _trc_text(env: Env) -> str:
    return (env.res / "export/w.trc").read_text()


def _edit_trc(fn: Callable[[list[str]], list[str]], name: str = "h.trc"):
    def prep(env: Env) -> None:
        lines = _trc_text(env).splitlines()
        _write(env.in_ / name, "\n".join(fn(lines)) + "\n")

    return prep


def _argv_with(cmd: str, a: str, b: str, out: str, option: str):
    def argv(env: Env) -> list[str]:
        return [cmd, env.p(a), env.p(b), "-o", env.p(out), option]

    return argv


def _trc_edit(fn: Callable[[str], str], name: str):
    def prep(env: Env) -> None:
        _write(env.in_ / name, fn(_trc_text(env)))

    return prep


def _mot_text(env: Env) -> str:
    return (env.res / "export/w.mot").read_text()


def _edit_mot(fn: Callable[[str], str], name: str = "h.mot"):
    def prep(env: Env) -> None:
        _write(env.in_ / name, fn(_mot_text(env)))

    return prep


def _mot_rows(text: str, fn: Callable[[list[str], list[str]], list[str]]) -> str:
    """Apply fn(labels, cells) to each data row of a .mot text."""
    head, body = text.split("endheader\n", 1)
    lines = body.splitlines()
    labels = lines[0].split("\t")
    rows = ["\t".join(fn(labels, ln.split("\t"))) for ln in lines[1:] if ln.strip()]
    return head + "endheader\n" + lines[0] + "\n" + "\n".join(rows) + "\n"


def _deg_to_rad_cells(labels: list[str], cells: list[str]) -> list[str]:
    out = []
    for lab, c in zip(labels, cells, strict=True):
        v = float(c)
        out.append(
            c
            if lab in ("time", "pelvis_tx", "pelvis_ty", "pelvis_tz")
            else repr(float(np.deg2rad(v)))
        )
    return out


def _npz_prep(name: str, kind: str):
    def prep(env: Env) -> None:
        p = env.in_ / name
        if kind == "random":
            _write(p, np.random.default_rng(1).bytes(3000))
        elif kind == "empty":
            _write(p, b"")
        elif kind == "truncated":
            data = (env.in_ / "w.motion.npz").read_bytes()
            _write(p, data[: len(data) // 2])
        elif kind == "foreign":
            np.savez(p, a=np.arange(3))
        elif kind == "object":
            np.savez(p, magic=np.array(["biomocap.motion", None], dtype=object))
        elif kind == "nan":
            z = dict(np.load(env.in_ / "w.motion.npz"))
            z["q_rad"] = np.full_like(z["q_rad"], np.nan)
            np.savez(p, **z)
        elif kind == "future":
            z = dict(np.load(env.in_ / "w.motion.npz"))
            z["format_version"] = np.array(99)
            np.savez(p, **z)
        elif kind == "fps0":
            z = dict(np.load(env.in_ / "w.motion.npz"))
            z["fps"] = np.array(0.0)
            np.savez(p, **z)
        elif kind == "noq":
            z = dict(np.load(env.in_ / "w.motion.npz"))
            del z["q_rad"]
            np.savez(p, **z)
        elif kind == "badshape":
            z = dict(np.load(env.in_ / "w.motion.npz"))
            z["q_rad"] = z["q_rad"][:, :10]
            np.savez(p, **z)
        elif kind == "badjson":
            z = dict(np.load(env.in_ / "w.motion.npz"))
            z["provenance_json"] = np.array("{not json")
            np.savez(p, **z)
        # np.savez appends .npz to names without it
        if not p.exists() and p.with_name(p.name + ".npz").exists():
            p.with_name(p.name + ".npz").rename(p)

    return prep


def _tiny_video(path: Path, n: int = 12, truncate: float | None = None) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(n):
            img = np.full((48, 64, 3), (i * 20) % 255, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    if truncate is not None:
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * truncate)])


# ----------------------------------------------------------------------------- verifiers
def _motion_close(path_rel: str, tol_deg: float):
    def verify(env: Env, out: str, err: str) -> str | None:
        from core.motion import Motion

        got = Motion.load(env.root / path_rel)
        ref = base_motion()
        if got.n_frames != ref.n_frames:
            return f"{got.n_frames} frames, expected {ref.n_frames}"
        e = float(np.rad2deg(np.abs(got.q_rad - ref.q_rad)).max())
        return None if e <= tol_deg else f"angles off by up to {e:.1f} deg (tolerance {tol_deg})"

    return verify


def _files_in(folder_rel: str, names: list[str]):
    def verify(env: Env, out: str, err: str) -> str | None:
        missing = [n for n in names if not (env.root / folder_rel / n).is_file()]
        return f"missing {missing}" if missing else None

    return verify


def _osim_loads(folder_rel: str, stem: str):
    def verify(env: Env, out: str, err: str) -> str | None:
        missing = _files_in(folder_rel, [f"{stem}.osim", f"{stem}.mot", f"{stem}.trc"])(
            env, out, err
        )
        if missing:
            return missing
        import opensim

        m = opensim.Model(str(env.root / folder_rel / f"{stem}.osim"))
        m.initSystem()
        return None if m.getCoordinateSet().getSize() == 49 else "model lacks coordinates"

    return verify


def _only_second_export(env: Env, out: str, err: str) -> str | None:
    names = sorted(p.name for p in (env.res / "export").iterdir() if not p.name.startswith("."))
    if any(n.startswith("w.") or n.startswith("w_") for n in names):
        return f"first export's files left beside the second's: {names}"
    return _osim_loads("res/export", "second")(env, out, err)


# ----------------------------------------------------------------------------- the cases
def _cases() -> list[Case]:
    C: list[Case] = []
    ex = lambda src, *extra: lambda env: ["export", env.p(src), "-o", env.p("res/export"), *extra]  # noqa: E731

    # ---- export: bad motion bundles
    for kind in ("random", "empty", "truncated", "foreign", "object", "nan", "future", "fps0",
                 "noq", "badshape", "badjson"):  # fmt: skip
        C.append(Case(f"export-npz-{kind}", "bx", ex(f"in/{kind}.motion.npz"),
                      mention=(f"{kind}.motion.npz",), prepare=_npz_prep(f"{kind}.motion.npz", kind)))  # fmt: skip
    C.append(Case("export-missing", "bx", ex("in/nope.motion.npz"), mention=("nope.motion.npz",)))
    C.append(Case("export-input-is-dir", "bx", ex("in"), mention=("in",)))
    C.append(Case("export-o-is-file", "bx",
                  lambda env: ["export", env.p("in/w.motion.npz"), "-o", env.p("res/conv.motion.npz")],
                  mention=("conv.motion.npz",)))  # fmt: skip
    C.append(Case("export-o-dev-zero", "bx",
                  lambda env: ["export", env.p("in/w.motion.npz"), "-o", "/dev/zero"],
                  mention=("/dev/zero", "not a folder")))  # fmt: skip
    C.append(Case("export-o-under-file", "bx",
                  lambda env: ["export", env.p("in/w.motion.npz"), "-o", env.p("res/conv.motion.npz/sub")],
                  mention=("conv.motion.npz",)))  # fmt: skip
    for bad in ("", "../x", "a/b", "..", "x\ty"):
        C.append(Case(f"export-name-{bad!r}", "bx", ex("in/w.motion.npz", "--name", bad),
                      mention=("name",)))  # fmt: skip
    for sex in ("other", ""):
        C.append(
            Case(
                f"export-sex-{sex!r}", "bx", ex("in/w.motion.npz", "--sex", sex), mention=("sex",)
            )
        )
    C.append(Case("export-unknown-option", "bx", ex("in/w.motion.npz", "--frobnicate"),
                  mention=("frobnicate",)))  # fmt: skip
    # ---- export: inputs that must work
    for label, nm in (("space", "my walk"), ("accent", "José ñandú"), ("cjk", "步行"),
                      ("dots", "walk.v2"), ("dash-start", "-walk")):  # fmt: skip

        def argv(env, nm=nm):
            return ["export", env.p("in/w.motion.npz"), "-o", env.p("res/export"), f"--name={nm}"]

        C.append(Case(f"export-name-ok-{label}", "bx", argv, expect="ok",
                      verify=_osim_loads("res/export", nm), allowed=lambda env: [env.res / "export"]))  # fmt: skip
    for label, fname in (("space", "my walk.motion.npz"), ("accent", "Zoë café.motion.npz")):

        def prep(env, fname=fname):
            shutil.copy(env.in_ / "w.motion.npz", env.in_ / fname)

        stem = fname.removesuffix(".motion.npz")
        C.append(Case(f"export-file-ok-{label}", "bx",
                      (lambda f: lambda env: ["export", env.p(f"in/{f}"), "-o", env.p("new out/é")])(fname),
                      expect="ok", prepare=prep, verify=_osim_loads("new out/é", stem),
                      allowed=lambda env: [env.root / "new out"]))  # fmt: skip

    def prep_second(env):
        shutil.copy(env.in_ / "w.motion.npz", env.in_ / "second.motion.npz")

    C.append(Case("export-second-subject-replaces", "bx", ex("in/second.motion.npz"), expect="ok",
                  prepare=prep_second, verify=_only_second_export,
                  allowed=lambda env: [env.res / "export"]))  # fmt: skip

    def prep_user_file(env):
        _write(env.res / "export/my notes.txt", "mine\n")

    def keep_user_file(env, out, err):
        p = env.res / "export/my notes.txt"
        return None if p.is_file() and p.read_text() == "mine\n" else "the user's file was lost"

    C.append(Case("export-keeps-user-files", "bx", ex("in/w.motion.npz"), expect="ok",
                  prepare=prep_user_file, verify=keep_user_file,
                  allowed=lambda env: [env.res / "export"]))  # fmt: skip

    # ---- ik
    def ik(model, trc, *extra):
        return lambda env: ["ik", env.p(model), env.p(trc), "-o", env.p("res/ik"), *extra]  # noqa: E731

    OS, TRC = "res/export/w.osim", "res/export/w.trc"
    C.append(Case("ik-missing-model", "bx", ik("in/nope.osim", TRC), mention=("nope.osim",)))
    C.append(Case("ik-missing-trc", "bx", ik(OS, "in/nope.trc"), mention=("nope.trc",)))
    C.append(Case("ik-model-garbage", "bx", ik("in/g.osim", TRC), mention=("g.osim",),
                  prepare=lambda env: _write(env.in_ / "g.osim", "<OpenSimDocument><Model>")))  # fmt: skip
    C.append(Case("ik-model-empty", "bx", ik("in/e.osim", TRC), mention=("e.osim",),
                  prepare=lambda env: _write(env.in_ / "e.osim", "")))  # fmt: skip
    trc_faults = {
        "header-only": lambda ls: ls[:5],
        "garbage": lambda ls: ["hello world"] * 8,
        "no-pathfiletype": lambda ls: ls[1:],
        "nan-rows": lambda ls: ls[:6] + [_nan_cells(ln) for ln in ls[6:]],
        "text-cell": lambda ls: ls[:7] + [ls[7].replace(ls[7].split("\t")[5], "abc", 1)] + ls[8:],
        "ragged-long": lambda ls: ls[:7] + [ls[7] + "\t1.0\t2.0"] + ls[8:],
        "ragged-short": lambda ls: ls[:7] + ["\t".join(ls[7].split("\t")[:7])] + ls[8:],
        "units-inch": lambda ls: ls[:2] + [ls[2].replace("mm", "in")] + ls[3:],
        "rate-zero": lambda ls: ls[:2] + ["\t".join(["0", "0", *ls[2].split("\t")[2:]])] + ls[3:],
        "nmarkers-too-many": lambda ls: ls[:2] + [ls[2].replace("\t72\t", "\t99\t")] + ls[3:],
        "time-backwards": lambda ls: ls[:6] + ls[6:][::-1],
        "no-rows-blank": lambda ls: ls[:6] + ["", ""],
        "binary": lambda ls: [
            "PathFileType\t4\t(X/Y/Z)\tx",
            "\x00\x01\x02" * 30,
            "\x00",
            "",
            "",
            "",
        ],
    }
    for label, fn in trc_faults.items():
        C.append(Case(f"ik-trc-{label}", "bx", ik(OS, f"in/{label}.trc"), mention=(f"{label}.trc",),
                      prepare=_edit_trc(fn, f"{label}.trc")))  # fmt: skip
    C.append(Case("ik-trc-unknown-markers", "bx", ik(OS, "in/u.trc"), mention=("u.trc",),
                  prepare=_edit_trc(lambda ls: ls[:3] + [re.sub(r"(\w+_\d)", r"zz\1", ls[3])] + ls[4:], "u.trc")))  # fmt: skip
    for label, rng in (("reversed", ("0.1", "0.0")), ("nan", ("nan", "0.1")), ("outside", ("5", "6")),
                       ("inf", ("0", "inf"))):  # fmt: skip
        C.append(Case(f"ik-time-range-{label}", "bx", ik(OS, TRC, "--time-range", *rng),
                      mention=("time",)))  # fmt: skip
    C.append(Case("ik-setup-template-garbage", "bx",
                  lambda env: ["ik", env.p(OS), env.p(TRC), "-o", env.p("res/ik"), "--setup-template", env.p("in/t.xml")],
                  mention=("t.xml",), prepare=lambda env: _write(env.in_ / "t.xml", "not xml")))  # fmt: skip
    for bad in ("../x", "a/b", ""):
        C.append(Case(f"ik-name-{bad!r}", "bx", ik(OS, TRC, "--name", bad), mention=("name",)))
    C.append(Case("ik-o-is-file", "bx", lambda env: ["ik", env.p(OS), env.p(TRC), "-o", env.p("res/conv.motion.npz")],
                  mention=("conv.motion.npz",)))  # fmt: skip

    def ik_space_ok(env, out, err):
        return _files_in("res/ik", ["my walk_ik.mot", "my walk_Setup_IK.xml"])(env, out, err)

    def prep_space_inputs(env):
        d = env.root / "in dir é"
        shutil.copytree(env.res / "export", d)

    C.append(Case("ik-space-names-ok", "bx",
                  lambda env: ["ik", env.p("in dir é/w.osim"), env.p("in dir é/w.trc"), "-o", env.p("res/ik"),
                               "--name", "my walk"],
                  expect="ok", prepare=prep_space_inputs, verify=ik_space_ok,
                  allowed=lambda env: [env.res / "ik"]))  # fmt: skip

    def rajagopal_trc_prep(env):
        src = _shared("opensim/rajagopal_walk_run/ExpData/motion_capture_walk.trc")
        shutil.copy(src, env.in_ / "raj.trc")

    def rajagopal_verify(env, out, err):
        from biomech_export.trc import read_trc

        t = read_trc(env.in_ / "raj.trc")
        if t.markers_m.shape != (238, 41, 3) or t.marker_names[0] != "R.Shoulder":
            return f"read {t.markers_m.shape}, first {t.marker_names[:1]}"
        x0 = t.markers_m[0, 0] * 1000
        if not np.allclose(x0, [-652.630, 1529.542, -94.520], atol=1e-3):
            return f"first marker {x0}, expected the file's -652.630 1529.542 -94.520"
        return None

    # ---- convert
    def cv(src, *extra):
        return lambda env: ["convert", env.p(src), "-o", env.p("res/conv.motion.npz"), *extra]  # noqa: E731

    C.append(Case("convert-missing", "bx", cv("in/nope.mot"), mention=("nope.mot",)))
    C.append(Case("convert-unknown-suffix", "bx", cv("in/x.fbx"), mention=("x.fbx",),
                  prepare=lambda env: _write(env.in_ / "x.fbx", "x")))  # fmt: skip
    C.append(Case("convert-o-is-dir", "bx", lambda env: ["convert", env.p("res/export/w.mot"), "-o", env.p("res/ik")],
                  mention=("ik",)))  # fmt: skip
    for opt, vals in (("--height", ("0", "-1", "nan", "inf", "9")), ("--mass", ("0", "-70", "nan")),
                      ("--fps", ("0", "-30", "nan", "inf"))):  # fmt: skip
        for v in vals:
            C.append(Case(f"convert{opt}={v}", "bx", cv("res/export/w.mot", f"{opt}={v}"),
                          mention=(opt,)))  # fmt: skip
    mot_faults = {
        "misspelt": lambda t: t.replace("knee_angle_r", "knee_angel_r").replace(
            "hip_flexion_l", "hip_flex_l"
        ),
        "all-unknown": lambda t: re.sub(
            r"(?m)^(time)\t(.*)$",
            lambda m: "time\t" + "\t".join("x_" + c for c in m.group(2).split("\t")),
            t,
        ),
        "deg-as-rad": lambda t: t.replace("inDegrees=yes", "inDegrees=no"),
        "rad-as-deg": lambda t: _mot_rows(t, _deg_to_rad_cells),
        "no-endheader": lambda t: t.replace("endheader\n", ""),
        "header-only": lambda t: (
            t.split("endheader\n")[0]
            + "endheader\n"
            + t.split("endheader\n")[1].splitlines()[0]
            + "\n"
        ),
        "row-short": lambda t: _mot_rows(
            t, lambda labs, c: c[:-3] if c[0].startswith("0.1") else c
        ),
        "text-cell": lambda t: _mot_rows(t, lambda labs, c: [c[0], "abc", *c[2:]]),
        "nan-rows": lambda t: _mot_rows(t, lambda labs, c: [c[0]] + ["nan"] * (len(c) - 1)),
        "time-backwards": lambda t: _mot_rows(t, lambda labs, c: [repr(-float(c[0])), *c[1:]]),
        "empty": lambda t: "",
        "binary": lambda t: "\x00\x01" * 100,
    }
    for label, fn in mot_faults.items():
        C.append(Case(f"convert-mot-{label}", "bx", cv(f"in/{label}.mot"), mention=(f"{label}.mot",),
                      prepare=_edit_mot(fn, f"{label}.mot")))  # fmt: skip
    C.append(Case("convert-mot-misspelt-allow-partial", "bx", cv("in/misspelt.mot", "--allow-partial"),
                  expect="ok", prepare=_edit_mot(mot_faults["misspelt"], "misspelt.mot"),
                  allowed=lambda env: [env.res / "conv.motion.npz"]))  # fmt: skip
    C.append(Case("convert-mot-ok-space-name", "bx",
                  lambda env: ["convert", env.p("in/mon fichier é.mot"), "-o", env.p("res/conv é.motion.npz")],
                  expect="ok", prepare=lambda env: shutil.copy(env.res / "export/w.mot", env.in_ / "mon fichier é.mot"),
                  verify=_motion_close("res/conv é.motion.npz", 1e-4),
                  allowed=lambda env: [env.res / "conv é.motion.npz"]))  # fmt: skip
    for kind in ("random", "empty", "foreign", "object", "truncated"):
        C.append(Case(f"convert-npz-{kind}", "bx", cv(f"in/{kind}.npz"), mention=(f"{kind}.npz",),
                      prepare=_npz_prep(f"{kind}.npz", kind)))  # fmt: skip

    def prep_skel_bad(env):
        np.savez(env.in_ / "skel.npz", poses=np.zeros((4, 10)))

    C.append(
        Case(
            "convert-skel-bad-shape",
            "bx",
            cv("in/skel.npz"),
            mention=("skel.npz",),
            prepare=prep_skel_bad,
        )
    )

    def trc_cv(src):
        return lambda env: [
            "convert",
            env.p(src),
            "-o",
            env.p("res/conv.motion.npz"),
            "--subject",
            env.p("in/w.motion.npz"),
        ]  # noqa: E731

    C.append(Case("convert-trc-no-subject", "bx", cv("res/export/w.trc"), mention=("--subject",)))
    C.append(Case("convert-trc-subject-garbage", "bx",
                  lambda env: ["convert", env.p("res/export/w.trc"), "-o", env.p("res/conv.motion.npz"),
                               "--subject", env.p("in/random.npz")],
                  mention=("random.npz",), prepare=_npz_prep("random.npz", "random")))  # fmt: skip
    C.append(Case("convert-trc-nan-rows", "bx", trc_cv("in/nan-rows.trc"), mention=("nan-rows.trc",),
                  prepare=_edit_trc(trc_faults["nan-rows"], "nan-rows.trc"), heavy=True))  # fmt: skip

    def double_tab(ls):
        # an empty column after Time throughout (exporters that pad the first columns)
        out = ls[:3]
        out.append(ls[3].replace("Frame#\tTime\t", "Frame#\tTime\t\t", 1))
        out.append("\t" + ls[4])
        out += [
            ln.replace("\t", "\t\t", 2).replace("\t\t", "\t", 1) if ln.strip() else ln
            for ln in ls[5:]
        ]
        return out

    C.append(Case("convert-trc-double-tab-ok", "bx", trc_cv("in/dt.trc"), expect="ok",
                  prepare=_edit_trc(double_tab, "dt.trc"), verify=_motion_close("res/conv.motion.npz", 3.0),
                  allowed=lambda env: [env.res / "conv.motion.npz"], heavy=True))  # fmt: skip
    C.append(Case("trc-rajagopal-header-ok", "bx",
                  lambda env: ["convert", env.p("in/raj.trc"), "-o", env.p("res/raj.motion.npz")],
                  mention=("--subject",), prepare=rajagopal_trc_prep,
                  note="reads the Rajagopal double-tab header; the conversion itself needs --subject"))  # fmt: skip
    C.append(Case("trc-rajagopal-read-ok", "bx", lambda env: ["--help"], expect="ok",
                  prepare=rajagopal_trc_prep, verify=rajagopal_verify))  # fmt: skip
    # BVH (reader owned by core/bvh.py; listed to report what fails)
    bvh_ok = (
        "HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
        " End Site\n {\n  OFFSET 0 1 0\n }\n}\nMOTION\nFrames: 2\nFrame Time: 0.033333\n0 0 0 0 0 0\n0 0 0 0 0 0\n"
    )
    for label, text in (("unbalanced", bvh_ok.replace("}\n}\n", "}\n", 1)),
                        ("frame-time-0", bvh_ok.replace("0.033333", "0")),
                        ("garbage", "hello"), ("short-rows", bvh_ok.replace("0 0 0 0 0 0\n0 0 0 0 0 0", "0 0 0\n0 0"))):  # fmt: skip
        C.append(Case(f"convert-bvh-{label}", "bx", cv(f"in/{label}.bvh"), mention=(f"{label}.bvh",),
                      prepare=(lambda t, n: lambda env: _write(env.in_ / n, t))(text, f"{label}.bvh"),
                      note="BVH reader belongs to core/bvh.py"))  # fmt: skip

    # ---- id
    def idc(model, mot, *extra):
        return lambda env: ["id", env.p(model), env.p(mot), "-o", env.p("res/id"), *extra]  # noqa: E731

    MOT = "res/export/w.mot"
    C.append(Case("id-missing-mot", "bx", idc(OS, "in/nope.mot"), mention=("nope.mot",)))
    C.append(Case("id-missing-model", "bx", idc("in/nope.osim", MOT), mention=("nope.osim",)))
    for label in ("misspelt", "all-unknown", "deg-as-rad", "nan-rows", "header-only", "no-endheader", "row-short",
                  "rad-as-deg"):  # fmt: skip
        C.append(Case(f"id-mot-{label}", "bx", idc(OS, f"in/{label}.mot"), mention=(f"{label}.mot",),
                      prepare=_edit_mot(mot_faults[label], f"{label}.mot")))  # fmt: skip
    for v in ("nan", "-5", "inf"):
        C.append(
            Case(f"id-lowpass={v}", "bx", idc(OS, MOT, f"--lowpass={v}"), mention=("--lowpass",))
        )
    C.append(Case("id-grf-without-loads", "bx",
                  lambda env: ["id", env.p(OS), env.p(MOT), "-o", env.p("res/id"), "--grf", env.p(MOT)],
                  mention=("external",)))  # fmt: skip
    C.append(Case("id-loads-missing", "bx", lambda env: ["id", env.p(OS), env.p(MOT), "-o", env.p("res/id"),
                                                         "--external-loads", env.p("in/nope.xml")],
                  mention=("nope.xml",)))  # fmt: skip
    C.append(
        Case(
            "id-time-range-reversed",
            "bx",
            idc(OS, MOT, "--time-range", "0.1", "0"),
            mention=("time",),
        )
    )
    C.append(Case("id-name-escape", "bx", idc(OS, MOT, "--name", "../x"), mention=("name",)))
    C.append(Case("id-model-garbage", "bx", idc("in/g.osim", MOT), mention=("g.osim",),
                  prepare=lambda env: _write(env.in_ / "g.osim", "<OpenSimDocument>")))  # fmt: skip

    # ---- validate (a report, not an output: exit 1 naming the problem)
    va = lambda model, mot: lambda env: ["validate", env.p(model), env.p(mot)]  # noqa: E731
    C.append(
        Case(
            "validate-missing",
            "bx",
            va(OS, "in/nope.mot"),
            expect="invalid",
            mention=("nope.mot",),
        )
    )
    C.append(Case("validate-deg-as-rad", "bx", va(OS, "in/d.mot"), expect="invalid", mention=("radians",),
                  prepare=_edit_mot(mot_faults["deg-as-rad"], "d.mot")))  # fmt: skip
    C.append(Case("validate-misspelt", "bx", va(OS, "in/m.mot"), expect="invalid", mention=("knee_angle_r",),
                  prepare=_edit_mot(mot_faults["misspelt"], "m.mot")))  # fmt: skip
    C.append(Case("validate-model-garbage", "bx", va("in/g.osim", MOT), expect="invalid", mention=("g.osim",),
                  prepare=lambda env: _write(env.in_ / "g.osim", "<OpenSimDocument>")))  # fmt: skip
    C.append(Case("validate-mot-binary", "bx", va(OS, "in/b.mot"), expect="invalid", mention=("b.mot",),
                  prepare=_edit_mot(mot_faults["binary"], "b.mot")))  # fmt: skip

    # ---- core capture / detect: options and inputs rejected before any heavy work
    cap = lambda src, *extra: lambda env: ["capture", env.p(src), "-o", env.p("res/cap"), *extra]  # noqa: E731
    IMG = "in/gray.png"
    for opt, vals in (("--height", ("0", "-1.7", "nan", "3.5")), ("--mass", ("0", "-5", "nan", "inf")),
                      ("--fps", ("0", "-30", "nan")), ("--focal", ("0", "-100", "nan")),
                      ("--fov", ("0", "180", "nan", "-40")), ("--start", ("-5", "nan")),
                      ("--end", ("-1", "inf"))):  # fmt: skip
        for v in vals:
            C.append(Case(f"capture{opt}={v}", "core", cap(IMG, f"{opt}={v}"), mention=(opt,)))
    C.append(Case("capture-end-before-start", "core", cap(IMG, "--start", "2", "--end", "1"),
                  mention=("--end",)))  # fmt: skip
    C.append(Case("capture-missing", "core", cap("in/nope.mp4"), mention=("nope.mp4",)))
    C.append(Case("capture-dir", "core", cap("in"), mention=("in",)))
    C.append(Case("capture-o-is-file", "core", lambda env: ["capture", env.p(IMG), "-o", env.p("res/conv.motion.npz")],
                  mention=("conv.motion.npz",)))  # fmt: skip
    C.append(Case("capture-o-dev-zero", "core", lambda env: ["capture", env.p(IMG), "-o", "/dev/zero"],
                  mention=("/dev/zero", "not a folder")))  # fmt: skip
    C.append(
        Case("capture-person-bogus", "core", cap(IMG, "--person", "tallest"), mention=("tallest",))
    )
    C.append(
        Case("capture-device-bogus", "core", cap(IMG, "--device", "tpu"), mention=("device",))
    )
    C.append(Case("capture-hmr-checkpoint-missing", "core", cap(IMG, "--hmr", "mq", "--hmr-checkpoint", "in/none"),
                  mention=("none",), heavy=True))  # fmt: skip
    for label, prep in (("random", lambda env: _write(env.in_ / "v.mp4", np.random.default_rng(2).bytes(5000))),
                        ("empty", lambda env: _write(env.in_ / "v.mp4", b"")),
                        ("text-as-png", lambda env: _write(env.in_ / "v.png", "not an image"))):  # fmt: skip
        src = "in/v.png" if "png" in label else "in/v.mp4"
        C.append(Case(f"capture-video-{label}", "core", cap(src), mention=(Path(src).name,), prepare=prep,
                      heavy=True))  # fmt: skip
    C.append(
        Case("capture-no-person", "core", cap(IMG), mention=("gray.png", "no person"), heavy=True)
    )
    C.append(Case("capture-truncated-video", "core", cap("in/t.mp4"), mention=("t.mp4",),
                  prepare=lambda env: _tiny_video(env.in_ / "t.mp4", 30, truncate=0.4), heavy=True,
                  note="no person in the synthetic clip: the decode warning is checked in test_video_warning"))  # fmt: skip

    def det(src, *extra):
        return lambda env: ["detect", env.p(src), "-o", env.p("res/det.npz"), *extra]  # noqa: E731

    for opt, v in (("--start", "-5"), ("--fov", "0"), ("--focal", "nan"), ("--end", "-2")):
        C.append(Case(f"detect{opt}={v}", "core", det(IMG, f"{opt}={v}"), mention=(opt,)))
    C.append(Case("detect-missing", "core", det("in/nope.mp4"), mention=("nope.mp4",)))
    C.append(Case("detect-o-is-dir", "core", lambda env: ["detect", env.p(IMG), "-o", env.p("res/cap")],
                  mention=("cap",)))  # fmt: skip
    C.append(Case("detect-no-person", "core", det(IMG), mention=("gray.png",), heavy=True))
    C.append(Case("retarget-bvh-garbage", "core", lambda env: ["retarget-bvh", env.p("in/g.bvh"), "-o", env.p("res/conv.motion.npz")],
                  mention=("g.bvh",), prepare=lambda env: _write(env.in_ / "g.bvh", "hello"),
                  note="BVH reader belongs to core/bvh.py"))  # fmt: skip
    # ---- more reader variants: what must work, what must be refused
    crlf_bom = {
        "crlf": lambda t: t.replace("\n", "\r\n"),
        "bom": lambda t: "\ufeff" + t,
    }
    for label, fn in crlf_bom.items():
        C.append(Case(f"convert-mot-{label}-ok", "bx", cv(f"in/{label}.mot"), expect="ok",
                      prepare=_edit_mot(fn, f"{label}.mot"), verify=_motion_close("res/conv.motion.npz", 1e-4),
                      allowed=lambda env: [env.res / "conv.motion.npz"]))  # fmt: skip
        trc_prep = _trc_edit(fn, f"{label}.trc")
        if label == "bom":  # OpenSim's own .trc reader refuses it: a clear error, before IK
            C.append(Case("ik-trc-bom", "bx", ik(OS, "in/bom.trc"), mention=("bom.trc", "byte-order"),
                          prepare=trc_prep))  # fmt: skip
            continue
        C.append(Case(f"ik-trc-{label}-ok", "bx", ik(OS, f"in/{label}.trc"), expect="ok", prepare=trc_prep,
                      verify=_files_in("res/ik", [f"{label}_ik.mot"]), allowed=lambda env: [env.res / "ik"]))  # fmt: skip
    C.append(Case("convert-mot-duplicate-column", "bx", cv("in/dup.mot"), mention=("dup.mot", "knee_angle_r"),
                  prepare=_edit_mot(lambda t: t.replace("knee_angle_l", "knee_angle_r"), "dup.mot")))  # fmt: skip
    C.append(Case("convert-sto-id-output", "bx", lambda env: ["convert", env.p("res/id/w_id.sto"), "-o", env.p("res/conv.motion.npz")],
                  mention=("w_id.sto",)))  # fmt: skip
    C.append(Case("ik-trc-decimal-comma", "bx", ik(OS, "in/comma.trc"), mention=("comma.trc", "line"),
                  prepare=_edit_trc(lambda ls: ls[:6] + [ln.replace(".", ",") for ln in ls[6:]], "comma.trc")))  # fmt: skip
    C.append(
        Case(
            "validate-trc-as-mot",
            "bx",
            va(OS, "res/export/w.trc"),
            expect="invalid",
            mention=("w.trc",),
        )
    )

    # ---- other helpers' commands get the same option checks and staged outputs
    for opt, v in (("--treadmill-speed", "nan"), ("--treadmill-speed", "-2"), ("--lowpass", "nan"),
                   ("--name", "../x")):  # fmt: skip
        C.append(Case(f"grf{opt}={v}", "bx",
                      _argv_with("grf", OS, MOT, "res/id", f"{opt}={v}"),
                      mention=(opt,)))  # fmt: skip
    for opt, v in (("--mass", "0"), ("--height", "nan"), ("--name", "a/b")):
        C.append(Case(f"scale{opt}={v}", "bx",
                      _argv_with("scale", OS, TRC, "res/id", f"{opt}={v}"),
                      mention=(opt,)))  # fmt: skip
    C.append(Case("capture--treadmill-speed=nan", "core", cap(IMG, "--treadmill-speed=nan"),
                  mention=("--treadmill-speed",)))  # fmt: skip

    # ---- outputs on file systems that refuse writes (read-only /sys, /proc)
    for label, o in (("sys", "/sys/biomocap-out"), ("proc", "/proc/biomocap-out")):

        def ro_export(env, o=o):
            return ["export", env.p("in/w.motion.npz"), "-o", o]

        def ro_convert(env, o=o):
            return ["convert", env.p("res/export/w.mot"), "-o", o + "/c.motion.npz"]

        def ro_ik(env, o=o):
            return ["ik", env.p("res/export/w.osim"), env.p("res/export/w.trc"), "-o", o]

        C.append(Case(f"export-o-readonly-{label}", "bx", ro_export, mention=(o,)))
        C.append(Case(f"convert-o-readonly-{label}", "bx", ro_convert, mention=(o,)))
        C.append(Case(f"ik-o-readonly-{label}", "bx", ro_ik, mention=(o,)))
    return C


def _shared(rel: str) -> Path:
    root = Path(
        os.environ.get("BIOMOCAP_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared/data")
    )
    p = root / rel
    if not p.exists():
        raise FileNotFoundError(f"reference data not found: {p}")
    return p


CASES = _cases()
