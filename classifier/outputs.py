"""Writing outputs safely: atomic replacement, all-or-none sets of files, and never over
an input or the labels.

Every file is written to a temporary file beside it and renamed over it once complete, so
a reader never sees half a file.  The temporary files are named
``.<name>.postcred-<host>-<pid>-<random>.tmp``: a crash (``kill -9``, power loss) can
leave one behind, and the next write into that folder removes it when its process is
gone or it is over :data:`STALE_AGE` old (:func:`sweep_stale_temps`); a file not named
so is never touched.  The outputs of one run are written together by :func:`all_or_none`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import tempfile
import time
from pathlib import Path
from typing import IO, Iterator

from .errors import OutputError

#: A temporary file of ours older than this (seconds) is stale whoever made it (its pid
#: may have been reused; another machine's process cannot be checked).
STALE_AGE = 7 * 24 * 3600
#: The extensions of a scores file (or of a Dask folder's partitions).
SCORES_EXTENSIONS = (".csv", ".jsonl", ".ndjson", ".json", ".parquet")
#: The extensions a stem leaves out (see :func:`scores_stem`): a scores file's, a database's.
STEM_EXTENSIONS = (*SCORES_EXTENSIONS, ".sqlite", ".sqlite3", ".db")
#: First characters that make a spreadsheet read a cell as a formula (see :func:`excel_safe_cell`).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_TEMP_NAME = re.compile(r"^\..+\.postcred-(?P<host>[0-9a-f]{6})-(?P<pid>[0-9]+)-[a-z0-9_]{8}\.tmp$")
_swept: set[str] = set()


def _host_tag() -> str:
    """Six hex digits naming this machine, so that a pid is checked only where it lives."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


def temp_beside(path: Path) -> Path:
    """A new empty temporary file beside ``path``, named as ours (see the module docstring);
    the first one made in a folder sweeps that folder's stale ones."""
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = str(path.parent.resolve())
    if folder not in _swept:
        _swept.add(folder)
        sweep_stale_temps(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:180]}.postcred-{_host_tag()}-{os.getpid()}-", suffix=".tmp",
                               dir=path.parent)
    os.close(fd)
    return Path(tmp)


def sweep_stale_temps(folder: str | Path, *, now: float | None = None) -> list[Path]:
    """Remove the temporary files of ours in ``folder`` that a crashed run left: those whose
    process (on this machine) has ended, and any over :data:`STALE_AGE` old.  Files not
    named as ours, and those of a running process, are left alone; errors are ignored (a
    sweep never fails a run).  Returns the files removed."""
    now = time.time() if now is None else now
    host = _host_tag()
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if not match:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_AGE
            if old or (match["host"] == host and not _running(int(match["pid"]))):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _fsync(path: Path) -> None:
    """Flush the file at ``path`` to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    A crash or an exception leaves ``path`` as it was (or absent) and removes the
    temporary file, so a reader never sees a half-written output.
    """
    with all_or_none() as outputs:
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


class OutputSet:
    """The files of one run, staged as temporary files and put in place together (see
    :func:`all_or_none`, which makes one and commits or discards it)."""

    def __init__(self) -> None:
        self._staged: dict[Path, Path] = {}  # final path -> temporary file
        self._handles: list = []  # anything with close(): files, database connections, writers
        self._made: list[Path] = []  # folders made for the outputs, removed again if the set is discarded

    def path(self, path: str | Path) -> Path:
        """A temporary file that becomes ``path`` when the set is committed, for a writer
        that opens files by name (SQLite, Parquet): close it before the block ends, or
        hand its writer to :meth:`close_with`."""
        path = Path(path)
        if path in self._staged:
            raise ValueError(f"{path} is already an output of this run")
        missing = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]
        try:
            tmp = temp_beside(path)
        except OSError as exc:
            raise write_failed(path, exc) from None
        self._made.extend(missing)
        self._staged[path] = tmp
        return tmp

    def close_with(self, resource):
        """Close ``resource`` (anything with ``close()``: a database connection, a Parquet
        writer on a :meth:`path`) before the set is committed or discarded; returns it."""
        self._handles.append(resource)
        return resource

    def open(self, path: str | Path, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None) -> IO:
        """An open temporary file that becomes ``path`` when the set is committed (closed
        then, if the caller has not closed it)."""
        tmp = self.path(path)
        binary = "b" in mode
        handle = open(tmp, mode, encoding=None if binary else encoding, newline=None if binary else newline)
        self._handles.append(handle)
        return handle

    def write_text(self, path: str | Path, text: str) -> Path:
        """``text`` (UTF-8, newlines as given) as the whole of ``path``; returns ``path``."""
        with self.open(path, "w", newline="") as handle:
            handle.write(text)
        return Path(path)

    def write_bytes(self, path: str | Path, data: bytes) -> Path:
        """``data`` as the whole of ``path``; returns ``path``."""
        with self.open(path, "wb") as handle:
            handle.write(data)
        return Path(path)

    @property
    def paths(self) -> list[Path]:
        """The final paths staged so far, in the order they were added."""
        return list(self._staged)

    def commit(self) -> None:
        """Put every staged file in place: all are synced to disk first, then renamed one
        by one.  If one cannot be, the ones already renamed are undone (a replaced file
        comes back from a hard link kept until the end) and the rest removed, and
        :class:`OutputError` names the file."""
        path = next(iter(self._staged), None)  # the file named if closing fails
        try:
            self._close(strict=True)
            for path, tmp in self._staged.items():
                _fsync(tmp)
        except OSError as exc:
            self.discard()
            raise write_failed(path, exc) from None
        except BaseException:
            self.discard()
            raise
        done: list[tuple[Path, Path | None]] = []
        try:
            for path, tmp in list(self._staged.items()):
                backup = _link_backup(path)
                try:
                    os.chmod(tmp, _mode_for(path))
                    os.replace(tmp, path)
                except BaseException:
                    if backup is not None:
                        backup.unlink(missing_ok=True)
                    raise
                done.append((path, backup))
                del self._staged[path]
        except OSError as exc:
            self._undo(done)
            self.discard()
            raise write_failed(path, exc) from None
        except BaseException:
            self._undo(done)
            self.discard()
            raise
        for _, backup in done:
            if backup is not None:
                with contextlib.suppress(OSError):
                    backup.unlink()

    def discard(self) -> None:
        """Remove every staged temporary file, and the folders made for them if they are
        empty; the final paths are left as they were."""
        self._close()
        for tmp in self._staged.values():
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._staged.clear()
        for folder in sorted(set(self._made), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()
        self._made.clear()

    def _close(self, strict: bool = False) -> None:
        """Close every open handle; ``strict``: let the first failure through (a file whose
        last bytes could not be written must not be put in place)."""
        while self._handles:
            handle = self._handles.pop()
            if strict:
                handle.close()
            else:
                with contextlib.suppress(Exception):  # closing never hides the error being handled
                    handle.close()

    @staticmethod
    def _undo(done: list[tuple[Path, Path | None]]) -> None:
        for path, backup in reversed(done):
            with contextlib.suppress(OSError):
                if backup is not None:
                    os.replace(backup, path)
                else:
                    path.unlink()


def write_failed(path: Path, exc: OSError) -> OutputError:
    """The error of an output that could not be written: none of the run's outputs were."""
    return OutputError(f"{path}: cannot write ({exc.strerror or exc}); no output of this run was written")


def _link_backup(path: Path) -> Path | None:
    """A hard link to the file at ``path`` (None if there is none, or links are not
    supported), named as our temporary files so that a crash leaves nothing lasting."""
    if not path.is_file():
        return None
    backup = temp_beside(path)
    try:
        backup.unlink()
        os.link(path, backup)
    except OSError:
        with contextlib.suppress(OSError):
            backup.unlink()
        return None
    return backup


@contextlib.contextmanager
def all_or_none() -> Iterator[OutputSet]:
    """Write the outputs of a run all together, or none of them.

    Inside the block, stage each output with ``outputs.open(path, mode)`` (a file handle),
    ``outputs.path(path)`` (a temporary path for writers that open by name: close them
    inside the block) or ``outputs.write_text``/``write_bytes``.  When the block ends
    normally every file is synced and renamed into place; when it raises (a failed write,
    Ctrl-C), every temporary file is removed and no existing file changes.

    Example::

        with all_or_none() as outputs:
            scores = outputs.open("reports/seed.csv", "w", newline="")
            ...
            outputs.write_text("reports/seed.html", html)

    Renames cannot be one atomic step: a crash between two renames (not an error, which
    undoes them) can leave the first in place.
    """
    outputs = OutputSet()
    try:
        yield outputs
    except BaseException:
        outputs.discard()
        raise
    outputs.commit()


def scores_stem(scores: str | Path) -> str:
    """The stem every file derived from a scores file is named by (report, rejects,
    accounts and campaign tables): its name without a scores or database extension and
    without a final ``.scores``.  ``seed.csv`` and ``seed.scores.csv`` -> ``seed``;
    ``run.2024-11-04.csv`` -> ``run.2024-11-04``; a Dask folder ``big.scores`` -> ``big``."""
    name = Path(scores).name
    for extension in STEM_EXTENSIONS:
        if name.lower().endswith(extension) and len(name) > len(extension):
            name = name[: -len(extension)]
            break
    if name.lower().endswith(".scores") and len(name) > len(".scores"):
        name = name[: -len(".scores")]
    return name


def derived_path(scores: str | Path, suffix: str, folder: str | Path | None = None) -> Path:
    """``<scores stem><suffix>`` in ``folder`` (default: beside the scores file)."""
    scores = Path(scores)
    return Path(folder if folder is not None else scores.parent) / f"{scores_stem(scores)}{suffix}"


def excel_safe_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text: a string starting with ``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return gets a leading ``'`` (a post reading
    ``=HYPERLINK(...)`` would otherwise run as a formula when the CSV is opened).  Other
    values are returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


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
