"""Transactional outputs: Ctrl-C/SIGTERM at each moment of a command leaves the old or the new
complete result, a second run into the same OUT fails with one line, a hard kill is tidied up."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.transaction import MANIFEST, output_folder
from tests.conftest import REPO
from tests.robustness.cases import base_motion, snapshot

pytestmark = pytest.mark.opensim


def _bx(argv, capsys):
    from biomech_export.cli import main

    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


@pytest.fixture(scope="module")
def motion_file(tmp_path_factory):
    pytest.importorskip("opensim")
    d = tmp_path_factory.mktemp("txn")
    path = d / "w.motion.npz"
    base_motion().save(path)
    return path


@pytest.fixture
def old_export(motion_file, tmp_path, capsys):
    out = tmp_path / "out"
    rc, _, err = _bx(["export", motion_file, "-o", out, "--name", "old"], capsys)
    assert rc == 0, err
    (out / "notes of mine.txt").write_text("keep me\n")
    return out


def _signal_before(monkeypatch, target: str, sig: int) -> None:
    """Make ``target`` (module.attr) send ``sig`` to this process, then run as usual: the
    handler raises at the next bytecode, i.e. exactly at that moment of the command."""
    mod_name, attr = target.rsplit(".", 1)
    mod = __import__(mod_name, fromlist=[attr])
    original = getattr(mod, attr)

    def hooked(*a, **k):
        os.kill(os.getpid(), sig)
        return original(*a, **k)

    monkeypatch.setattr(mod, attr, hooked)


MOMENTS = [
    "biomech_export.osim_model.write_osim",  # model being written
    "biomech_export.export.write_mot",  # coordinates
    "biomech_export.export.write_trc",  # markers
    "biomech_export.tools.write_ik_setup",  # setups, last files of the staging folder
]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("moment", MOMENTS, ids=[m.rsplit(".", 1)[1] for m in MOMENTS])
def test_export_signal_keeps_old_result(moment, sig, old_export, motion_file, monkeypatch, capsys):
    before = snapshot(old_export)
    _signal_before(monkeypatch, moment, sig)
    rc, out, err = _bx(["export", motion_file, "-o", old_export, "--name", "new"], capsys)
    assert rc == 128 + sig
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cancelled by SIG"), err
    assert "unchanged" in lines[0]
    assert snapshot(old_export) == before  # byte-identical, nothing of "new"
    assert _leftovers(old_export) == []


@pytest.fixture(params=[False, True], ids=["one-thread", "threads"])
def other_threads(request):
    """Optionally a second thread that does not block signals, as MediaPipe, torch and OpenSim
    start: a process-directed signal may then land on it instead of the main thread."""
    if not request.param:
        yield
        return
    import threading

    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    yield
    stop.set()
    t.join()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_publish_completes_the_new_result(
    sig, old_export, motion_file, monkeypatch, capsys, other_threads
):
    """A signal that arrives while the result is being swapped in is held back until the swap
    is done: OUT is the complete new result, and the message says so."""
    _signal_before(monkeypatch, "core.transaction._write_json", sig)
    rc, out, err = _bx(["export", motion_file, "-o", old_export, "--name", "new"], capsys)
    assert rc == 128 + sig
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "written completely" in lines[0], err
    names = {p.name for p in old_export.iterdir()}
    assert {"new.osim", "new.mot", "new.trc", "README.txt", "Geometry"} <= names
    assert not any(n.startswith("old") for n in names), names  # the old subject is gone
    assert (old_export / "notes of mine.txt").read_text() == "keep me\n"
    assert _leftovers(old_export) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ik_signal_keeps_old_result(sig, old_export, monkeypatch, capsys):
    ik = old_export.parent / "ik"
    args = ["ik", old_export / "old.osim", old_export / "old.trc", "-o", ik]
    rc, _, err = _bx(args, capsys)
    assert rc == 0, err
    before = snapshot(ik)
    _signal_before(monkeypatch, "biomech_export.tools.run_ik_setup", sig)
    rc, _, err = _bx(args, capsys)
    assert rc == 128 + sig and len(err.strip().splitlines()) == 1, err
    assert snapshot(ik) == before
    assert _leftovers(ik) == []


def test_convert_signal_keeps_old_file(old_export, tmp_path, monkeypatch, capsys):
    dst = tmp_path / "c.motion.npz"
    rc, _, err = _bx(["convert", old_export / "old.mot", "-o", dst], capsys)
    assert rc == 0, err
    data = dst.read_bytes()
    _signal_before(monkeypatch, "core.motion.atomic_write", signal.SIGINT)
    rc, _, err = _bx(["convert", old_export / "old.mot", "-o", dst], capsys)
    assert rc == 130 and err.startswith("cancelled by SIGINT"), err
    assert dst.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_second_run_into_same_output_fails_with_one_line(old_export, motion_file, capsys):
    before = snapshot(old_export)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), output_folder(old_export, key="export"):  # another run holds OUT
        rc, _, err = _bx(["export", motion_file, "-o", old_export], capsys)
        assert snapshot(old_export) == before
        raise Abort  # the other run fails too: nothing is published
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "being written by another run" in lines[0], err
    assert snapshot(old_export) == before
    assert _leftovers(old_export) == []


def test_hard_kill_leftovers_are_tidied(old_export, motion_file, capsys):
    """What a SIGKILL can leave: an unpublished staging folder, and an old result whose user
    files were not yet carried over into the new one. The next run tidies both."""
    parent = old_export.parent
    stale = parent / f".{old_export.name}.biomocap-deadbeef0001"
    stale.mkdir()
    (stale / "half.osim").write_text("<partial")
    # simulate: swapped, but "notes of mine.txt" still in the displaced old result
    displaced = parent / f".{old_export.name}.biomocap-deadbeef0002"
    displaced.mkdir()
    shutil.move(old_export / "notes of mine.txt", displaced / "notes of mine.txt")
    man = json.loads((old_export / MANIFEST).read_text())
    man.update(carry=["notes of mine.txt"], carry_from=displaced.name)
    (old_export / MANIFEST).write_text(json.dumps(man))
    rc, _, err = _bx(["export", motion_file, "-o", old_export, "--name", "new"], capsys)
    assert rc == 0, err
    assert (old_export / "notes of mine.txt").read_text() == "keep me\n"
    assert _leftovers(old_export) == []
    assert not (old_export / "half.osim").exists()


def test_output_is_current_folder(motion_file, tmp_path, monkeypatch, capsys):
    """-o . cannot be swapped as a whole (the shell sits in it): published entry by entry."""
    work = tmp_path / "here"
    work.mkdir()
    (work / "mine.txt").write_text("x")
    monkeypatch.chdir(work)
    rc, _, err = _bx(["export", motion_file, "-o", ".", "--name", "a"], capsys)
    assert rc == 0, err
    rc, _, err = _bx(["export", motion_file, "-o", ".", "--name", "b"], capsys)
    assert rc == 0, err
    names = sorted(p.name for p in work.iterdir())
    assert "b.osim" in names and "a.osim" not in names and "mine.txt" in names
    assert not [n for n in names if "biomocap-" in n and n != MANIFEST]
    assert Path.cwd() == work.resolve()


def test_symlinked_output_keeps_the_link(motion_file, tmp_path, capsys):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    rc, _, err = _bx(["export", motion_file, "-o", link], capsys)
    assert rc == 0, err
    assert link.is_symlink() and (real / "w.osim").is_file()


def test_sigterm_subprocess_at_stages(motion_file, tmp_path):
    """Real SIGTERM to a real process when its staging folder shows each stage (staging begun,
    model written, coordinates written, setups written): exit 143 with one line and the old
    result byte-identical, or (signal too late) the complete new result; never a mix."""
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "biomech_export", "export", str(motion_file), "-o", str(out)]

    def fresh_old():
        if out.exists():
            shutil.rmtree(out)
        subprocess.run([*cmd, "--name", "old"], env=env, check=True, capture_output=True)
        return snapshot(out)

    old = fresh_old()
    seen = []
    for trigger in ("", "new.osim", "new.mot", "new_Setup_ID.xml"):
        p = subprocess.Popen([*cmd, "--name", "new"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
        t0 = time.monotonic()
        while p.poll() is None and time.monotonic() - t0 < 120:
            stages = [q for q in tmp_path.glob(".out.biomocap-*") if q.is_dir()]
            if stages and (not trigger or (stages[0] / trigger).exists()):
                p.send_signal(signal.SIGTERM)
                break
            time.sleep(0.002)
        _, err = p.communicate(timeout=120)
        assert "Traceback" not in err
        names = {q.name for q in out.iterdir()}
        lines = [ln for ln in err.splitlines() if ln.startswith(("cancelled", "error:"))]
        if p.returncode == 143 and "written completely" not in err:
            assert len(lines) == 1 and lines[0].startswith("cancelled by SIGTERM"), err
            assert snapshot(out) == old
            seen.append(trigger or "staging")
        else:  # the signal came after the swap (or the run ended first): complete new result
            assert p.returncode in (0, 143), (p.returncode, err)
            assert "new.osim" in names and "old.osim" not in names
            old = fresh_old()
        assert _leftovers(out) == []
    print(f"SIGTERM caught mid-run at: {seen}")
    assert len(seen) >= 2, seen  # most stages were caught mid-run


def test_two_rename_fallback(old_export, motion_file, monkeypatch, capsys):
    """Where the system has no atomic exchange, two renames publish; a kill between them
    (OUT missing, old result parked beside it) is undone by the next run."""
    import core.transaction as T

    monkeypatch.setattr(T, "exchange", lambda a, b: False)
    rc, _, err = _bx(["export", motion_file, "-o", old_export, "--name", "new"], capsys)
    assert rc == 0, err
    assert (old_export / "new.osim").is_file() and not (old_export / "old.osim").exists()
    assert (old_export / "notes of mine.txt").is_file()
    assert _leftovers(old_export) == []
    before = snapshot(old_export)
    parked = old_export.parent / f".{old_export.name}.biomocap-old-0123456789ab"
    old_export.rename(parked)  # the state a SIGKILL between the two renames leaves
    rc, _, err = _bx(["export", motion_file, "-o", old_export, "--name", "new"], capsys)
    assert rc == 0, err
    after = snapshot(old_export)
    assert sorted(after) == sorted(before)  # same entries: the parked result came back first
    assert _leftovers(old_export) == []
