"""Files replaced whole or not at all, and one writer at a time: the studio's editors and the knowledge
base's index write through these, so a reader (or a crash) sees the old file or the new one, never half."""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def file_mode(path: Path, default: int | None = None) -> int:
    """The permission bits of `path`, so a replaced file keeps its mode; when it does not exist, `default`,
    else what open() would give a new file (0666 less the umask)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        if default is not None:
            return default
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_temporary(path: Path, data: bytes, mode: int | None = None) -> Path:
    """`data` in a new file beside `path`, on disk (fsync) and with `mode` (else mkstemp's 0600).

    Beside, because os.replace is atomic only within one file system; the caller checks the file, then
    renames it onto `path` or removes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return temporary


def replace_file(
    path: Path, data: bytes, mode: int | None = None, check: Callable[[bytes], None] | None = None
) -> None:
    """Replace `path` with `data` atomically. `check` gets the bytes read back from disk and raises to
    leave `path` as it was."""
    temporary = write_temporary(path, data, mode)
    try:
        if check is not None:
            check(temporary.read_bytes())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def sync_directory(directory: Path) -> None:
    """Renames into `directory` survive a crash only once the directory itself is on disk."""
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    except OSError:  # some file systems refuse fsync on a directory; the renames are done all the same
        pass
    finally:
        os.close(handle)


@contextlib.contextmanager
def exclusive_lock(lock_path: Path) -> Iterator[None]:
    """One holder at a time across threads and processes of this machine (flock locks each open file
    description, so two opens in one process exclude each other too); blocks until it is free."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
