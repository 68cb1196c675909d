"""Writing outputs safely: atomic replacement, and never over an input or the labels."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

from .errors import OutputError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that opens files by name (SQLite,
    Parquet); on success it is synced and renamed over ``path``, on failure removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    A crash or an exception leaves ``path`` as it was (or absent) and removes the
    temporary file, so a reader never sees a half-written output.
    """
    binary = "b" in mode
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=None if binary else encoding, newline=None if binary else newline) as handle:
            yield handle


def _mode_for(path: Path) -> int:
    """Keep an existing file's permissions; give a new one the usual umask-based mode
    (mkstemp's temporary files are private, 0600, which a report or labels file should not be)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w") as handle:
        handle.write(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def check_output_path(path: str | Path, *, inputs: list[str | Path] = (), protected: list[str | Path] = (), force: bool = False) -> Path:
    """Refuse an output path that is an input, lies in a protected folder, or exists without ``force``."""
    path = Path(path)
    resolved = path.resolve()
    for item in inputs:
        if str(item) != "-" and Path(item).resolve() == resolved:
            raise OutputError(f"{path}: refusing to overwrite the input file; choose another output")
    for folder in protected:
        folder = Path(folder).resolve()
        if folder == resolved or folder in resolved.parents:
            raise OutputError(f"{path}: refusing to write inside {folder}; choose another output")
    if path.exists() and not force:
        raise OutputError(f"{path}: already exists; use --force to replace it")
    return path


@contextlib.contextmanager
def locked(folder: str | Path, *, timeout: float = 60.0, what: str = "") -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (``flock`` on the folder itself, so no lock file
    is left behind) while the block runs; another postcred process waits for it.

    Raises :class:`OutputError` when the lock is not free within ``timeout`` seconds, so a
    stuck process is named instead of waited for forever.
    """
    import fcntl
    import time

    folder = Path(folder)
    fd = os.open(folder, os.O_RDONLY)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OutputError(
                        f"{folder}: locked by another postcred process{' (' + what + ')' if what else ''} "
                        f"for over {timeout:.0f} s; try again when it has finished"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
