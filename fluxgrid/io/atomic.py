"""Atomic, exclusive writes: build outputs beside the target, then move them in, under a lock.

What every writer of fluxgrid (cube Zarr stores, NetCDF maps, run directories, recipe output
folders, configs, tables) gets through :func:`atomic_path` and :func:`check_writable`:

* **Nothing half-written.** The output is built at a temporary sibling
  ``.NAME.tmp-XXXXXXXX`` and moved onto ``NAME`` only when complete; a failed or interrupted
  write leaves the previous file or store untouched and no partial output at ``NAME``.
* **One writer at a time.** For the whole write the lock file ``.NAME.lock`` beside the
  target is held: one JSON line ``{"pid", "host", "started", "time", "token", "target",
  "command"}``, created with ``O_CREAT | O_EXCL`` (so exactly one process can create it) and
  removed when the write ends, successfully or not. A second writer of the same target,
  in another process, gets :class:`~fluxgrid.errors.OutputLockedError` naming the target,
  the holding process (pid, host, start time) and the lock file. Inside one thread the lock
  is re-entrant (a writer may call another writer of the same target).
* **Stale locks are taken over.** A lock left by a process that is gone (same host and the
  pid not running, a zombie, or the pid now belonging to a process started after the lock
  was written), or an empty lock file older than :data:`EMPTY_LOCK_SECONDS`, is removed with
  a :class:`~fluxgrid.errors.FluxgridWarning` naming its process. A lock written on another
  host is never taken over automatically (its process cannot be checked from here); the
  error says to delete the lock file once no process there writes the target.
* **Leftovers of killed writers are removed.** Once the lock is taken, temporary siblings
  ``.NAME.tmp-*`` of the target are removed with a warning: a live writer of that target
  would hold the lock, so they belong to writes that were killed.
* **No lost update.** :func:`check_writable` notes the state of the target; if another
  process writes the target between that check and this process's own write, the write is
  refused (nothing is moved in) instead of silently replacing the other result.
* **Clear refusals.** An existing output without ``overwrite`` raises
  :class:`~fluxgrid.errors.OutputExistsError`; a read-only folder or a file where a folder
  must be raises :class:`~fluxgrid.errors.OutputPathError` naming the path.

Examples
--------
>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
>>> with atomic_path(target) as tmp:
...     _ = tmp.write_text("done")
>>> target.read_text()
'done'
>>> lock_path(target).exists()  # released
False
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import FluxgridWarning, OutputExistsError, OutputLockedError, OutputPathError

__all__ = [
    "EMPTY_LOCK_SECONDS",
    "atomic_path",
    "check_writable",
    "lock_holder",
    "lock_path",
    "recover_interrupted_swap",
    "remove_path",
    "write_lock",
]

_BACKUP_SUFFIX = ".fluxgrid-old"
_TMP_MARK = ".tmp-"

#: an empty (or unreadable) lock file older than this many seconds is stale: its writer died
#: between creating and filling it
EMPTY_LOCK_SECONDS = 10.0

#: absolute target -> [(pid, thread), depth, token] of the locks this process holds
_HELD: dict[str, list[Any]] = {}
_HELD_GUARD = threading.Lock()
#: absolute target -> its state when check_writable last looked at it (None: absent)
_SEEN: dict[str, tuple[int, int, int] | None] = {}


def remove_path(path: Path) -> None:
    """Delete a file or directory tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _absolute(path: str | os.PathLike) -> Path:
    return Path(os.path.abspath(os.fspath(path)))


def lock_path(target: str | os.PathLike) -> Path:
    """The lock file of ``target``: ``.NAME.lock`` in the same folder.

    Examples
    --------
    >>> lock_path("/data/maps/nee.nc").name
    '.nee.nc.lock'
    """
    target = _absolute(target)
    return target.with_name(f".{target.name}.lock")


# --------------------------------------------------------------------------- output folders
def _check_folder(path: Path) -> None:
    """Refuse an output whose folder cannot hold it (a file in the way, no write permission)."""
    ancestor = _absolute(path).parent
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputPathError(
            f"cannot write {path}: {ancestor} is a file, not a folder; choose an output path "
            f"inside a folder, or move {ancestor} out of the way"
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputPathError(
            f"cannot write {path}: the folder {ancestor} is read-only for this user; choose "
            "another output path, or make the folder writable"
        )


def _make_folder(path: Path) -> None:
    """Create the folder of ``path``, or say clearly why it cannot be."""
    _check_folder(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputPathError(
            f"cannot write {path}: its folder {path.parent} cannot be created "
            f"({err.strerror or err}); choose another output path"
        ) from err


def _unwritable(path: Path, what: Path, err: OSError) -> OutputPathError:
    return OutputPathError(
        f"cannot write {path}: {what} cannot be created in {what.parent} "
        f"({err.strerror or err}: a read-only folder or file system?); choose another output "
        "path, or make the folder writable"
    )


def _denied_at(err: OSError, tmp: Path) -> bool:
    """Whether ``err`` is a refused write at the temporary path (not e.g. an input file)."""
    if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
        return False
    names = [n for n in (err.filename, err.filename2) if n is not None]
    return any(str(tmp) in os.fsdecode(n) for n in names) or not names


# --------------------------------------------------------------------------- lock files
def _read_lock(lock: Path) -> tuple[tuple[int, int], dict[str, Any] | None] | None:
    """(identity, content) of a lock file; content ``None`` when empty or unreadable."""
    try:
        st = lock.stat()
        text = lock.read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return (0, 0), None
    try:
        content = json.loads(text)
    except ValueError:
        content = None
    if not isinstance(content, dict):
        content = None
    return (st.st_ino, st.st_mtime_ns), content


def lock_holder(target: str | os.PathLike) -> dict[str, Any] | None:
    """What the lock file of ``target`` says (pid, host, started, command), or ``None``.

    Examples
    --------
    >>> lock_holder("/nonexistent/out.nc") is None
    True
    """
    found = _read_lock(lock_path(target))
    return None if found is None else found[1]


def _proc_stat(pid: int) -> tuple[str, float | None] | None:
    """(state letter, start time in seconds since the epoch) from /proc, if there is one."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        fields = text[text.rindex(")") + 2 :].split()
        btime = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
        return fields[0], btime + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _stale_reason(holder: dict[str, Any]) -> str | None:
    """Why the process of a lock is gone, or ``None`` when it may still be writing."""
    if holder.get("host") != socket.gethostname():
        return None  # cannot be checked from here
    pid = holder.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return f"it names no process id (pid={pid!r})"
    if pid == os.getpid():
        with _HELD_GUARD:
            mine = {entry[2] for entry in _HELD.values()}
        if holder.get("token") in mine:
            return None  # another thread of this process writes the target
        return f"process {pid} is this process, which holds no such lock"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"process {pid} is not running"
    except PermissionError:
        pass  # alive, another user's
    stat = _proc_stat(pid)
    if stat is None:
        return None
    state, started = stat
    if state == "Z":
        return f"process {pid} has exited (zombie)"
    written = holder.get("time")
    if started is not None and isinstance(written, int | float) and started > written + 1.0:
        return f"pid {pid} now belongs to a process started after the lock was written"
    return None


def _describe(holder: dict[str, Any] | None) -> str:
    if holder is None:
        return "a process that has not filled in the lock file yet"
    text = f"process {holder.get('pid')} on host {holder.get('host')}"
    if holder.get("started"):
        text += f" (since {holder['started']})"
    if holder.get("command"):
        text += f", command: {holder['command']}"
    return text


def _locked_error(target: Path, lock: Path, holder: dict[str, Any] | None) -> OutputLockedError:
    here = holder is not None and holder.get("host") == socket.gethostname()
    where = "" if here or holder is None else " on that host"
    return OutputLockedError(
        f"{target} is being written by {_describe(holder)}; it holds the lock file {lock}. "
        f"Wait for that run to finish, or write to another output path; if no fluxgrid "
        f"process{where} writes {target.name} any more, delete {lock}"
    )


@contextmanager
def _takeover_guard(lock: Path) -> Iterator[bool]:
    """Exclusive right to remove a stale ``lock`` (``False``: another process has it now)."""
    guard = lock.with_name(lock.name + ".takeover")
    try:
        fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        try:
            if time.time() - guard.stat().st_mtime > EMPTY_LOCK_SECONDS:
                guard.unlink()
        except FileNotFoundError:
            pass
        yield False
        return
    os.close(fd)
    try:
        yield True
    finally:
        guard.unlink(missing_ok=True)


def _take_over(target: Path, lock: Path, found: tuple[tuple[int, int], dict | None]) -> bool:
    """Remove ``lock`` if stale; ``True`` when the caller should try to create it again."""
    identity, holder = found
    if holder is None:
        try:
            age = time.time() - lock.stat().st_mtime
        except FileNotFoundError:
            return True
        if age < EMPTY_LOCK_SECONDS:
            time.sleep(0.05)  # being filled in by its writer right now
            return True
        reason = f"the lock file is empty or unreadable and {age:.0f} s old"
    else:
        reason = _stale_reason(holder)
        if reason is None:
            return False
    with _takeover_guard(lock) as mine:
        if not mine:
            time.sleep(0.05)
            return True
        again = _read_lock(lock)
        if again is None or again[0] != identity:
            return True  # replaced meanwhile: look again
        lock.unlink(missing_ok=True)
    warnings.warn(
        f"{target}: took over the stale lock {lock} of {_describe(holder)}: {reason}",
        FluxgridWarning,
        stacklevel=4,
    )
    return True


def _acquire(target: Path) -> tuple[Path, str]:
    """Create the lock file of ``target`` (or take over a stale one); return it and its token."""
    lock = lock_path(target)
    _make_folder(target)
    token = uuid.uuid4().hex
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "time": time.time(),
        "token": token,
        "target": str(_absolute(target)),
        "command": " ".join(sys.argv)[:300],
    }
    for _ in range(200):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            found = _read_lock(lock)
            if found is None or _take_over(target, lock, found):
                continue
            raise _locked_error(target, lock, found[1]) from None
        except OSError as err:
            raise _unwritable(target, lock, err) from err
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(record) + "\n")
        return lock, token
    found = _read_lock(lock)
    raise _locked_error(target, lock, None if found is None else found[1])


def _release(lock: Path, token: str) -> None:
    """Remove ``lock`` if it is still the one this writer created."""
    found = _read_lock(lock)
    if found is not None and found[1] is not None and found[1].get("token") == token:
        lock.unlink(missing_ok=True)


def _remove_stale_temporaries(target: Path) -> None:
    """Delete ``.NAME.tmp-*`` siblings: leftovers of killed writes (the lock is held here)."""
    prefix = f".{target.name}{_TMP_MARK}"
    try:
        leftovers = sorted(p for p in target.parent.iterdir() if p.name.startswith(prefix))
    except OSError:
        return
    for path in leftovers:
        remove_path(path)
    if leftovers:
        warnings.warn(
            f"{target}: removed {len(leftovers)} temporary path(s) left by an interrupted "
            f"write: {', '.join(p.name for p in leftovers)}",
            FluxgridWarning,
            stacklevel=4,
        )


@contextmanager
def write_lock(target: str | os.PathLike) -> Iterator[Path]:
    """Hold the exclusive lock file ``.NAME.lock`` of ``target`` for the block.

    Re-entrant inside one thread; another process (or thread) asking for the same target
    meanwhile gets :class:`~fluxgrid.errors.OutputLockedError`. Stale locks are taken over
    and stale temporary siblings removed, as the module docstring says. The lock is removed
    when the block ends, also on an exception.

    Parameters
    ----------
    target
        The output (file or folder) about to be written; it need not exist.

    Yields
    ------
    pathlib.Path
        The lock file.

    Raises
    ------
    OutputLockedError
        A live process holds the lock (the message names it and the lock file).
    OutputPathError
        The folder of ``target`` is read-only or a file is where a folder must be.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "nee.nc"
    >>> with write_lock(target) as lock:
    ...     lock_holder(target)["pid"] == os.getpid()
    True
    """
    target = Path(target)
    key = str(_absolute(target))
    me = (os.getpid(), threading.get_ident())
    with _HELD_GUARD:
        held = _HELD.get(key)
        if held is not None and held[0] == me:
            held[1] += 1
    if held is not None and held[0] == me:
        try:
            yield lock_path(target)
        finally:
            with _HELD_GUARD:
                held[1] -= 1
        return
    lock, token = _acquire(target)
    with _HELD_GUARD:
        _HELD[key] = [me, 1, token]
    try:
        _remove_stale_temporaries(target)
        yield lock
    finally:
        with _HELD_GUARD:
            _HELD.pop(key, None)
        _release(lock, token)


def _locked_elsewhere(target: Path) -> tuple[Path, dict[str, Any] | None] | None:
    """The lock of ``target`` and its holder when a live writer other than this thread has it."""
    with _HELD_GUARD:
        held = _HELD.get(str(_absolute(target)))
    if held is not None and held[0] == (os.getpid(), threading.get_ident()):
        return None
    lock = lock_path(target)
    found = _read_lock(lock)
    if found is None:
        return None
    holder = found[1]
    if holder is None:
        try:
            fresh = time.time() - lock.stat().st_mtime < EMPTY_LOCK_SECONDS
        except FileNotFoundError:
            return None
        return (lock, None) if fresh else None
    return (lock, holder) if _stale_reason(holder) is None else None


# --------------------------------------------------------------------------- writes
def _state(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def check_writable(path: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse ``path`` early if it cannot be written; return it as a :class:`Path`.

    Checks, before any work is done: the output exists and ``overwrite`` is not given
    (:class:`~fluxgrid.errors.OutputExistsError`); another process is writing it now
    (:class:`~fluxgrid.errors.OutputLockedError`); its folder is read-only or a file
    (:class:`~fluxgrid.errors.OutputPathError`). The state of ``path`` is noted, and
    :func:`atomic_path` refuses to move a result in if another process wrote ``path`` since.
    """
    path = Path(path)
    _check_folder(path)
    busy = _locked_elsewhere(path)
    if busy is not None:
        raise _locked_error(path, *busy)
    recover_interrupted_swap(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"{path} exists; pass overwrite=True (command line: --overwrite) to replace it, "
            "or choose another output path"
        )
    _SEEN[str(_absolute(path))] = _state(path)
    return path


def recover_interrupted_swap(path: str | os.PathLike) -> None:
    """Restore ``path`` from its backup if a previous swap was interrupted midway.

    A directory swap renames the old store to ``<path>.fluxgrid-old`` and the new one into
    place; if the process died between the two renames, the backup is moved back. Nothing is
    done while another process holds the lock of ``path`` (it may be mid-swap).
    """
    path = Path(path)
    backup = path.with_name(path.name + _BACKUP_SUFFIX)
    if not backup.exists() or _locked_elsewhere(path) is not None:
        return
    if path.exists():
        remove_path(backup)
    else:
        os.replace(backup, path)


def _check_unchanged(target: Path) -> None:
    """Refuse when another process wrote ``target`` since :func:`check_writable` saw it."""
    key = str(_absolute(target))
    if key not in _SEEN:
        return
    seen = _SEEN.pop(key)
    if _state(target) == seen:
        return
    what = "appeared" if seen is None else "changed"
    raise OutputLockedError(
        f"{target} {what} while this process was preparing its own output (another run or "
        "program wrote it meanwhile); nothing was written. Check that result, then run again with "
        "overwrite=True (command line: --overwrite) to replace it, or choose another output path"
    )


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path; on success move it onto ``target``, under its lock.

    Works for single files and for directories (Zarr stores). The lock ``.NAME.lock`` is
    held from before the temporary path is made until the result is in place
    (:func:`write_lock`). For files the move is one atomic ``os.replace``; for directories
    the old tree is first renamed to a backup, the new one moved in, and the backup deleted
    (an interruption in between is repaired by :func:`recover_interrupted_swap` on the next
    access). On any exception the temporary path is removed and the target is left as it
    was.

    Raises
    ------
    OutputLockedError
        Another process writes ``target`` now, or wrote it since :func:`check_writable`.
    OutputPathError
        The folder is read-only or a file is in the way.
    """
    target = Path(target)
    with write_lock(target):
        _check_unchanged(target)
        recover_interrupted_swap(target)
        tmp = target.with_name(f".{target.name}{_TMP_MARK}{uuid.uuid4().hex[:8]}")
        try:
            yield tmp
            if not tmp.exists():
                raise FileNotFoundError(f"nothing was written to the temporary path {tmp}")
            if tmp.is_dir() and target.exists():
                backup = target.with_name(target.name + _BACKUP_SUFFIX)
                os.replace(target, backup)
                os.replace(tmp, target)
                remove_path(backup)
            else:
                os.replace(tmp, target)
        except OSError as err:
            remove_path(tmp)
            if _denied_at(err, tmp):
                raise _unwritable(target, tmp, err) from err
            raise
        except BaseException:
            remove_path(tmp)
            raise
