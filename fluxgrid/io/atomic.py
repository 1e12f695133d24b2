"""Atomic writes: build outputs at a temporary path next to the target, then move them in.

A failed or interrupted write leaves the previous file or store untouched and no partial
output behind.

Examples
--------
>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
>>> with atomic_path(target) as tmp:
...     _ = tmp.write_text("done")
>>> target.read_text()
'done'
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import OutputExistsError

__all__ = ["atomic_path", "check_writable", "recover_interrupted_swap", "remove_path"]

_BACKUP_SUFFIX = ".fluxgrid-old"


def remove_path(path: Path) -> None:
    """Delete a file or directory tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def check_writable(path: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse an existing ``path`` unless ``overwrite``; return it as a :class:`Path`."""
    path = Path(path)
    recover_interrupted_swap(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"{path} exists; pass overwrite=True (command line: --overwrite) to replace it, "
            "or choose another output path"
        )
    return path


def recover_interrupted_swap(path: str | os.PathLike) -> None:
    """Restore ``path`` from its backup if a previous swap was interrupted midway.

    A directory swap renames the old store to ``<path>.fluxgrid-old`` and the new one into
    place; if the process died between the two renames, the backup is moved back.
    """
    path = Path(path)
    backup = path.with_name(path.name + _BACKUP_SUFFIX)
    if backup.exists():
        if path.exists():
            remove_path(backup)
        else:
            os.replace(backup, path)


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path; on success move it onto ``target``.

    Works for single files and for directories (Zarr stores). For files the move is one
    atomic ``os.replace``; for directories the old tree is first renamed to a backup, the
    new one moved in, and the backup deleted (an interruption in between is repaired by
    :func:`recover_interrupted_swap` on the next access). On any exception the temporary
    path is removed and the target is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_interrupted_swap(target)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
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
    except BaseException:
        remove_path(tmp)
        raise
