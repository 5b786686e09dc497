"""Transactional outputs: a command's result appears whole, or the previous one stays.

Every command that writes works in a private staging folder beside its output (``-o OUT``) and
publishes the whole result with one atomic swap (``renameat2(RENAME_EXCHANGE)`` on Linux, two
renames elsewhere), under a lock on OUT, with SIGINT/SIGTERM held back during the swap:

    with interrupts_raise(), output_folder(out, key="export") as txn:
        export_motion(motion, txn.stage, ...)      # everything goes into txn.stage
    print(txn.final(res.osim_path))                # where it is now

- A failure or a signal before the swap leaves OUT exactly as it was (the staging folder is
  removed); after the swap OUT holds the complete new result. Never a mix of the two.
- OUT's own previous result (the files the same command wrote last time, recorded in
  ``OUT/.biomocap-result.json``) is replaced as a whole; anything else in OUT (the user's files,
  another command's results) is carried over unchanged. Nothing is written outside OUT except the
  hidden staging folder and lock file beside it, which are gone when the command ends.
- A second run into the same OUT fails at once with one line (:class:`OutputBusy`).
- A run killed hard (SIGKILL, power loss) leaves at most a hidden staging folder beside OUT; the
  next run into OUT tidies it up (and finishes moving carried-over files, if it was caught there).

Where OUT cannot be swapped as a whole (it is the current folder or holds it, it is a mount point,
or its parent folder is not writable), the result is published entry by entry with the signals
held back: a cancel still cannot split it, only a hard kill in those milliseconds can.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import signal
import stat
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock, the swap is still atomic per rename
    fcntl = None

__all__ = [
    "Interrupted",
    "OutputBusy",
    "OutputFolder",
    "OutputFile",
    "output_folder",
    "output_file",
    "interrupts_raise",
    "signals_held",
    "MANIFEST",
    "check_output",
    "run_with_output",
    "display",
]

log = logging.getLogger(__name__)

MANIFEST = ".biomocap-result.json"
_TAG = ".biomocap-"  # marks our hidden staging folders, lock files and temp files


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; ``exit_code`` is 128 + the signal number (130 / 143)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + int(signum)
        super().__init__(signal.Signals(signum).name)


class OutputBusy(ValueError):
    """Another run is writing the same output."""


_published: list[Path] = []  # outputs published by this process (for the cancel message)


def last_published() -> Path | None:
    return _published[-1] if _published else None


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` (a KeyboardInterrupt) in the main thread,
    so ``finally`` blocks run and the CLI can exit with 130/143 and one line. Handlers are
    restored afterwards (tests call ``main(argv)`` in-process)."""

    def handler(signum, frame):  # noqa: ARG001
        raise Interrupted(signum)

    old = {}
    try:
        for s in (signal.SIGINT, signal.SIGTERM):
            old[s] = signal.signal(s, handler)
    except ValueError:  # not the main thread: leave signals alone
        pass
    _published.clear()
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def interrupted_message(e: KeyboardInterrupt) -> tuple[str, int]:
    """The one line and exit code for a cancel: says whether a result was published."""
    signum = getattr(e, "signum", signal.SIGINT)
    name = signal.Signals(signum).name
    done = last_published()
    if done is not None:
        what = f"{done} had already been written completely"
    else:
        what = "nothing was written; any previous result is unchanged"
    return f"cancelled by {name}: {what}", 128 + int(signum)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back (they arrive when the block ends): for the few renames that
    publish a result.

    Masking alone is not enough: a process-directed signal goes to any thread that does not
    block it (MediaPipe, torch and OpenSim start threads), and Python then runs the handler in
    the main thread at once. So the Python-level handlers are swapped for ones that only record
    the signal, and the signal is raised again, to the restored handlers, after the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    mask = getattr(signal, "pthread_sigmask", None)
    pending: list[int] = []

    def defer(signum, frame):  # noqa: ARG001
        pending.append(signum)

    held = (signal.SIGINT, signal.SIGTERM)
    old_mask = mask(signal.SIG_BLOCK, set(held)) if mask is not None else None
    old = {s: signal.signal(s, defer) for s in held}
    try:
        yield
    finally:
        # A signal sent to the process during the block may still be waiting in the kernel for
        # another thread to take it (on a busy machine that thread may not run for a while): take
        # it here, while it is still blocked, so it is not handled later by whatever handler is
        # installed by then.
        wait = getattr(signal, "sigtimedwait", None)
        while old_mask is not None and wait is not None:
            info = wait(held, 0)
            if info is None:
                break
            pending.append(info.si_signo)
        for s, h in old.items():
            signal.signal(s, h)
        if old_mask is not None:
            mask(signal.SIG_SETMASK, old_mask)  # a signal blocked meanwhile arrives now
        if pending:
            signal.raise_signal(pending[0])


# --------------------------------------------------------------------------- atomic exchange
def _libc_renameat2():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_RENAMEAT2 = _libc_renameat2()
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (both must exist). False where the system cannot (then the
    caller falls back to two renames)."""
    if _RENAMEAT2 is None:
        return False
    import ctypes

    rc = _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


# --------------------------------------------------------------------------- lock
class _Lock:
    def __init__(self, path: Path, what: Path) -> None:
        self.path = path
        self.fd: int | None = None
        self.what = what

    def acquire(self) -> None:
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ValueError(
                f"cannot write beside {self.what} ({e.strerror}); choose another -o"
            ) from None
        if fcntl is None:  # pragma: no cover
            return
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            self.fd = None
            raise OutputBusy(
                f"{self.what} is being written by another run; wait for it to finish or "
                "choose another -o"
            ) from None

    def release(self) -> None:
        if self.fd is None:
            return
        # Unlink while still holding the lock: a run that opened the old file fails (busy), a
        # later one creates a fresh file; this run has already finished writing.
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self.fd)
        self.fd = None


def check_output(out: str | Path, kind: str) -> None:
    """ValueError unless ``out`` is absent or a folder (``kind="folder"``) / regular file."""
    _check_writable_target(Path(out), kind)


def _check_writable_target(out: Path, kind: str) -> None:
    if not out.exists() and not out.is_symlink():
        return
    st = os.stat(out) if out.exists() else None
    if kind == "folder":
        if st is None or not stat.S_ISDIR(st.st_mode):
            what = "a file" if st is not None and stat.S_ISREG(st.st_mode) else "not a folder"
            raise ValueError(f"-o {out} is {what}; give a folder for the results")
    else:
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise ValueError(f"-o {out} is a folder; give a file name (e.g. {out}/result)")
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise ValueError(f"-o {out} is not a regular file; give a file name")


def _make_parents(path: Path) -> list[Path]:
    """mkdir -p the parent folders of ``path``; returns those it created (outermost last)."""
    made = []
    p = path.parent
    while not p.exists():
        made.append(p)
        p = p.parent
    for d in reversed(made):
        try:
            d.mkdir()
        except OSError as e:
            _remove_empty(made)
            raise ValueError(
                f"cannot create the folder {d} ({e.strerror}); choose another -o"
            ) from None
    return made


def _remove_empty(dirs: list[Path]) -> None:
    for d in dirs:  # innermost first
        with contextlib.suppress(OSError):
            d.rmdir()


# --------------------------------------------------------------------------- folders
@dataclass
class OutputFolder:
    """A staged output folder. Write into ``stage``; ``final(p)`` maps a staged path to where it
    is after publishing."""

    out: Path
    key: str
    stage: Path = field(init=False)
    published: bool = False
    _inplace: bool = False
    _lock: _Lock | None = None
    _made: list[Path] = field(default_factory=list)
    _txn: str = ""

    def final(self, path: str | Path) -> Path:
        path = Path(path)
        try:
            return self.out / path.relative_to(self.stage)
        except ValueError:
            return path


def _manifest(folder: Path) -> dict:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _ours(name: str) -> bool:
    return name == MANIFEST or _TAG in name


def _rm(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _recover(out: Path, prefix: str, where: Path) -> None:
    """Tidy what a killed run left (we hold the lock, so no run is using it)."""
    man = _manifest(out) if out.is_dir() else {}
    for p in sorted(where.glob(prefix + "*")):
        if p.name.endswith("-lock"):
            continue
        if p.name.startswith(prefix + "old-") and not out.exists():
            p.rename(out)  # killed between the two renames of a non-atomic swap
            log.warning("restored the previous result of %s from %s", out, p.name)
            continue
        if man.get("carry_from") == p.name:
            for e in man.get("carry", []):
                src, dst = p / e, out / e
                if (src.exists() or src.is_symlink()) and not (dst.exists() or dst.is_symlink()):
                    src.rename(dst)
        _rm(p)


def _inplace_reason(out: Path) -> str | None:
    try:
        cwd = Path.cwd().resolve()
    except OSError:  # the working folder was deleted
        cwd = Path("/nonexistent")
    if cwd == out or out in cwd.parents:
        return "it is or holds the current folder"
    if out.exists() and os.path.ismount(out):
        return "it is a mount point"
    if not os.access(out.parent, os.W_OK | os.X_OK):
        return "its parent folder is not writable"
    return None


@contextlib.contextmanager
def output_folder(out: str | Path, *, key: str) -> Iterator[OutputFolder]:
    """Stage a result for folder ``out`` and publish it when the block ends without error.

    ``key`` names the command's result within OUT (e.g. ``"export"``, ``"ik:walk"``): the files
    the same key published last time are replaced as a whole; other entries are kept."""
    out = Path(out).expanduser()
    _check_writable_target(out, "folder")
    out = Path(os.path.realpath(out))  # a symlinked OUT: work on (and swap) its target
    anc = out.parent
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise ValueError(f"cannot create the output folder {out}: {anc} is a file, not a folder")
    made = _make_parents(out)
    txn = OutputFolder(out, key, _made=made, _txn=uuid.uuid4().hex[:12])
    txn._inplace = _inplace_reason(out) is not None
    try:
        if txn._inplace:
            try:
                out.mkdir(exist_ok=True)
            except OSError as e:
                raise ValueError(
                    f"cannot create {out} ({e.strerror}); choose another -o"
                ) from None
            where, prefix = out, _TAG + "stage-"
            lock_path = out / (_TAG + "lock")
        else:
            where, prefix = out.parent, f".{out.name}{_TAG}"
            lock_path = out.parent / f".{out.name}{_TAG}lock"
        txn._lock = _Lock(lock_path, out)
        try:
            # The lock file and the staging folder are made with the signals held: a cancel
            # that came between making one and entering the block that removes it would leave
            # it behind (a held signal is raised at the end of the 'with', inside that block).
            with signals_held():
                txn._lock.acquire()
            _recover(out, prefix, where)
            txn.stage = where / f"{prefix}{txn._txn}"
            try:
                with signals_held():
                    try:
                        txn.stage.mkdir()
                    except OSError as e:
                        raise ValueError(
                            f"cannot write beside {out} ({e.strerror}); choose another -o"
                        ) from None
                yield txn
                _publish(txn)
            finally:
                if not txn.published and txn.stage.exists():
                    shutil.rmtree(txn.stage, ignore_errors=True)
        finally:
            txn._lock.release()
    except BaseException:
        if not txn.published:
            if txn._inplace and out.is_dir() and not any(out.iterdir()) and made:
                with contextlib.suppress(OSError):
                    out.rmdir()
            _remove_empty(made)
        raise


def _new_manifest(txn: OutputFolder, old: dict, entries: list[str], carry: list[str]) -> dict:
    results = {
        k: [e for e in v if e in carry]
        for k, v in old.get("results", {}).items()
        if k != txn.key and isinstance(v, list)
    }
    results = {k: v for k, v in results.items() if v}
    results[txn.key] = entries
    return {"version": 1, "txn": txn._txn, "results": results, "carry": carry}


def _publish(txn: OutputFolder) -> None:
    out, stage = txn.out, txn.stage
    entries = sorted(p.name for p in stage.iterdir() if not _ours(p.name))
    old = _manifest(out) if out.is_dir() else {}
    previous = set(old.get("results", {}).get(txn.key, []))
    existing = [p.name for p in out.iterdir()] if out.is_dir() else []
    carry = sorted(e for e in existing if not _ours(e) and e not in entries and e not in previous)
    if txn._inplace:
        _publish_inplace(txn, entries, old, previous, carry)
        return
    man = _new_manifest(txn, old, entries, carry)
    with signals_held():
        if out.exists():
            mode = stat.S_IMODE(os.stat(out).st_mode)
            os.chmod(stage, mode)
            man["carry_from"] = stage.name
            _write_json(stage / MANIFEST, man)
            if exchange(stage, out):
                displaced = stage
            else:
                displaced = out.parent / f".{out.name}{_TAG}old-{txn._txn}"
                man["carry_from"] = displaced.name
                _write_json(stage / MANIFEST, man)
                out.rename(displaced)
                try:
                    stage.rename(out)
                except OSError:
                    displaced.rename(out)
                    raise
            txn.published = True
            _published.append(out)
            kept = []
            for e in carry:
                try:
                    (displaced / e).rename(out / e)
                except OSError as err:
                    kept.append(e)
                    log.warning("could not move %s back into %s (%s)", e, out, err)
            if kept:  # never delete what was not ours: leave it where the next run finds it
                log.warning(
                    "%s is kept in %s; the next run into %s moves it back", kept, displaced, out
                )
                return
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(stage, 0o777 & ~umask)
            _write_json(stage / MANIFEST, man)
            stage.rename(out)
            displaced = None
            txn.published = True
            _published.append(out)
        # (still holding signals: a cancel now would only leave the old copy lying beside OUT)
        if displaced is not None:
            shutil.rmtree(displaced, ignore_errors=True)
            if displaced.exists():
                log.warning(
                    "could not remove the previous result's folder %s; the next run retries",
                    displaced,
                )


def _publish_inplace(
    txn: OutputFolder, entries: list[str], old: dict, previous: set[str], carry: list[str]
) -> None:
    out, stage = txn.out, txn.stage
    man = _new_manifest(txn, old, entries, carry)
    trash = stage / (_TAG + "old")
    with signals_held():
        trash.mkdir()
        for e in entries:
            src, dst = stage / e, out / e
            if dst.exists() or dst.is_symlink():
                if not exchange(src, dst):
                    dst.rename(trash / e)
                    src.rename(dst)
            else:
                src.rename(dst)
        for e in sorted(previous - set(entries)):
            p = out / e
            if p.exists() or p.is_symlink():
                p.rename(trash / e)
        _write_json(out / MANIFEST, man)
        txn.published = True
        _published.append(out)
        shutil.rmtree(stage, ignore_errors=True)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


# --------------------------------------------------------------------------- single files
@dataclass
class OutputFile:
    """A staged output file: write ``stage`` (a hidden file beside ``out``)."""

    out: Path
    stage: Path
    published: bool = False

    def final(self, path: str | Path) -> Path:
        return self.out if Path(path) == self.stage else Path(path)


@contextlib.contextmanager
def output_file(out: str | Path) -> Iterator[OutputFile]:
    """Stage one output file and replace ``out`` with it (atomically) when the block ends
    without error; the previous file stays until then. A second run into ``out`` fails."""
    out = Path(out).expanduser()
    _check_writable_target(out, "file")
    made = _make_parents(out)
    lock = _Lock(out.parent / f".{out.name}{_TAG}lock", out)
    txn = None
    try:
        try:
            with signals_held():  # as in output_folder: no cancel between lock and cleanup
                lock.acquire()
            for p in out.parent.glob(f".{out.name}{_TAG}*.tmp*"):
                _rm(p)
            # keep the suffixes (.motion.npz) so writers that look at them behave the same
            tail = "".join(out.suffixes)
            stage = out.parent / f".{out.name}{_TAG}{uuid.uuid4().hex[:12]}.tmp{tail}"
            txn = OutputFile(out, stage)
            try:
                yield txn
                if not stage.is_file():
                    raise RuntimeError(f"internal error: nothing was written for {out}")
                with signals_held():
                    os.replace(stage, out)
                    txn.published = True
                    _published.append(out)
            finally:
                _rm(stage)
        finally:
            lock.release()
    except BaseException:
        if txn is None or not txn.published:
            _remove_empty(made)
        raise


# --------------------------------------------------------------------------- command runner
_shown: dict[str, str] = {}  # staging path -> the output it stands for (for messages)


def display(text: object) -> str:
    """``text`` with staging paths replaced by the outputs they become."""
    s = str(text)
    for stage, out in _shown.items():
        s = s.replace(stage, out)
        # as it appears inside JSON progress lines (non-ASCII and backslashes escaped)
        s = s.replace(json.dumps(stage)[1:-1], json.dumps(out)[1:-1])
    return s


class _Rewrite:
    """A text stream that shows staging paths as their final outputs."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, s: str) -> int:
        self._stream.write(display(s))
        return len(s)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


class CommandFailed(Exception):
    """The command returned a non-zero code: nothing is published."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _attach_log_errors(e: BaseException, folder: Path) -> None:
    """A tool's "see X.log" points into the staging folder, which is removed with the failed
    result: put the log's error lines into the message instead."""
    import re

    msg = str(e)
    window = "messages window" in msg  # OpenSim's GUI wording: the details are in its log
    if not e.args or not (window or (".log" in msg and str(folder) in msg)):
        return
    errs = []
    for log_path in sorted(Path(folder).glob("*.log")):
        with contextlib.suppress(OSError):
            for ln in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
                if "error" in ln.lower() and ln.strip() not in errs:
                    errs.append(ln.strip())
    msg = re.sub(r";? ?see \S+\.log", "", msg)
    msg = re.sub(r",? ?please see messages window for details\.?", "", msg)
    e.args = (msg + (f" (OpenSim: {' | '.join(errs[:2])[:300]})" if errs else ""),)


def run_with_output(func, args, *, kind: str | None, key: str = "") -> int:
    """Run ``func(args)`` with ``args.output`` pointing at a staging folder (``kind="folder"``)
    or file (``"file"``), publishing it when ``func`` returns 0. Messages it prints name the
    final paths. ``kind=None``: just run it."""
    if kind is None:
        return int(func(args) or 0)
    ctx = output_folder(args.output, key=key) if kind == "folder" else output_file(args.output)
    final = args.output
    try:
        with ctx as txn:
            _shown[str(txn.stage)] = str(txn.out)
            old_out, old_err = sys.stdout, sys.stderr
            sys.stdout, sys.stderr = _Rewrite(old_out), _Rewrite(old_err)
            args.output = txn.stage
            try:
                code = int(func(args) or 0)
            except (RuntimeError, ValueError) as e:
                _attach_log_errors(e, txn.stage if kind == "folder" else txn.stage.parent)
                raise
            finally:
                args.output = final
                sys.stdout, sys.stderr = old_out, old_err
            if code != 0:
                raise CommandFailed(code)
    except CommandFailed as e:
        return e.code
    return 0


def exit_code(code: int, argv_given: bool) -> int:
    """What a CLI's ``main`` returns. Run as a program (``argv`` not given) and failing, the
    process ends here: OpenSim's C++ objects left by an interrupted call can crash the
    interpreter's teardown (a segfault after the one-line message), so it is skipped."""
    if code != 0 and not argv_given:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    return code
