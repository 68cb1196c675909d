"""Writing outputs safely: atomic replacement, and never over an input or the labels."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

from .errors import OutputError


class AtomicOutputs:
    """Outputs written all-or-none: the one way postcred writes files.

    Each output is written to a temporary file beside its path (:meth:`open`,
    :meth:`path`, :meth:`write`).  When the ``with`` block ends without an error, every
    temporary file is synced to disk first and then renamed over its path; if the block
    fails, every temporary file is removed and no output changes.  So a run that writes
    several files (scores, report, campaign files) leaves all of them or none.

    Examples
    --------
    >>> with AtomicOutputs() as outputs:  # doctest: +SKIP
    ...     outputs.write("a.csv", "x\\n")
    ...     handle = outputs.open("b.html")
    ...     handle.write("<p>")
    """

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []
        self._handles: list[IO] = []

    def __enter__(self) -> "AtomicOutputs":
        return self

    def path(self, path: str | Path) -> Path:
        """A temporary path that becomes ``path`` when the block succeeds (for writers that
        open files by name: SQLite, Parquet)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        self._staged.append((Path(tmp), path))
        return Path(tmp)

    def open(self, path: str | Path, mode: str = "w", encoding: str | None = "utf-8",
             newline: str | None = None) -> IO:
        """A file open for writing that becomes ``path`` when the block succeeds (closed
        by the block's end, or earlier by the caller)."""
        binary = "b" in mode
        handle = open(self.path(path), mode, encoding=None if binary else encoding,
                      newline=None if binary else newline)
        self._handles.append(handle)
        return handle

    def write(self, path: str | Path, content: str | bytes) -> Path:
        """``content`` (text as UTF-8) as the whole of ``path``; returns ``path``."""
        with self.open(path, "wb") as handle:
            handle.write(content.encode("utf-8") if isinstance(content, str) else content)
        return Path(path)

    def __exit__(self, kind, value, traceback) -> None:
        try:
            for handle in self._handles:
                handle.close()
            if kind is None:
                self._commit()
        finally:
            for tmp, _ in self._staged:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            self._staged, self._handles = [], []

    def _commit(self) -> None:
        for tmp, _ in self._staged:  # everything on disk before anything is renamed
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for tmp, path in self._staged:
            os.chmod(tmp, _mode_for(path))
            os.replace(tmp, path)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that opens files by name (SQLite,
    Parquet); on success it is synced and renamed over ``path``, on failure removed."""
    with AtomicOutputs() as outputs:
        yield outputs.path(path)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    A crash or an exception leaves ``path`` as it was (or absent) and removes the
    temporary file, so a reader never sees a half-written output.
    """
    with AtomicOutputs() as outputs:
        yield outputs.open(path, mode, encoding, newline)


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
