"""Temporary files for what a run needs again only at its end: appended while the posts
stream in, read back piece by piece, so that memory stays flat however long the dump.

Campaign detection (:mod:`classifier.campaign_spill`) and the account tables
(:mod:`classifier.accounts`) keep their per-post numbers here, the report the rows it lists
(:class:`classifier.report.ReportRows`).  The files are made beside
the run's outputs (or in the system's temporary folder) named as every temporary file of
postcred is (:func:`classifier.outputs.temp_beside`: a crashed run's are swept by the next
write into that folder), and unlinked as soon as they are open where the system allows it:
nothing is left behind however the run ends.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from .errors import OutputError
from .outputs import temp_beside
from .spans import span_indices


class SpillPurpose(NamedTuple):
    """What a temporary file is for, as its errors name it: the work, and the option that
    runs without it."""

    what: str
    option: str


CAMPAIGNS = SpillPurpose("campaign detection", "--no-campaigns")
ACCOUNTS = SpillPurpose("the account tables", "--no-accounts")
REPORT = SpillPurpose("the report's rows", "--no-report or a smaller --report-max-rows")


#: Ranges of a temporary file nearer than this are read in one system call (see
#: :meth:`SpillFile.read_ranges`).
READ_GAP = 4096


class SpillFile:
    """A temporary file to append bytes to and read ranges back from."""

    def __init__(self, folder: str | Path | None, name: str, purpose: SpillPurpose = CAMPAIGNS) -> None:
        self.folder = Path(folder or tempfile.gettempdir())
        self.purpose = purpose
        try:
            path = temp_beside(self.folder / name)
            self._handle = open(path, "w+b", buffering=0)  # noqa: SIM115 (closed by close() or the finalizer)
        except OSError as exc:
            raise self._failed(exc) from None
        try:
            os.unlink(path)  # gone from the folder now; the space is freed when the file is closed
            left = None
        except OSError:  # a system that cannot unlink an open file
            left = path
        self.size = 0
        self._finalizer = weakref.finalize(self, _close_and_remove, self._handle, left)

    def append(self, data: bytes | memoryview) -> int:
        """Write ``data`` at the end; returns the offset it starts at."""
        start = self.size
        view = memoryview(data).cast("B")
        self.size += len(view)
        try:
            self._handle.seek(start)
            while view:
                view = view[self._handle.write(view):]
        except OSError as exc:  # a full disk, a quota
            raise self._failed(exc) from None
        return start

    def _failed(self, exc: OSError) -> OutputError:
        return OutputError(f"{self.folder}: cannot write the temporary files of {self.purpose.what} "
                           f"({exc.strerror or exc}); free some space there or score with {self.purpose.option}")

    def read(self, offset: int, size: int) -> bytes:
        self._handle.seek(offset)
        data = self._handle.read(size)
        if len(data) != size:
            raise OSError(f"temporary file of {self.purpose.what}: read {len(data)} of {size} bytes")
        return data

    def read_ranges(self, starts: np.ndarray, ends: np.ndarray, gap: int = READ_GAP) -> np.ndarray:
        """The bytes of the ranges ``starts[i]:ends[i]`` (sorted, not overlapping) laid end
        to end, as uint8: ranges less than ``gap`` bytes apart are read as one stretch
        (one system call for a run of neighbours, not one each), and the bytes between
        them dropped at C speed."""
        starts = np.asarray(starts, dtype=np.int64)
        ends = np.asarray(ends, dtype=np.int64)
        if not starts.size:
            return np.zeros(0, dtype=np.uint8)
        new_stretch = np.concatenate(([True], starts[1:] - ends[:-1] >= gap))
        first = np.flatnonzero(new_stretch)
        stretch_starts = starts[first]
        stretch_ends = np.maximum.reduceat(ends, first)
        fd = self._handle.fileno()
        pieces = []
        for start, end in zip(stretch_starts.tolist(), stretch_ends.tolist()):
            data = os.pread(fd, end - start, start)
            if len(data) != end - start:
                raise OSError(f"temporary file of {self.purpose.what}: read {len(data)} of {end - start} bytes")
            pieces.append(data)
        read = np.frombuffer(b"".join(pieces), dtype=np.uint8)
        # Where each range starts in what was read: its stretch's place there, plus its
        # distance from the stretch's start.
        stretch = np.cumsum(new_stretch) - 1
        placed = (np.cumsum(stretch_ends - stretch_starts) - (stretch_ends - stretch_starts))[stretch]
        return read[span_indices(placed + starts - stretch_starts[stretch], ends - starts)]

    def close(self) -> None:
        self._finalizer()


def _close_and_remove(handle, path: Path | None) -> None:
    handle.close()
    if path is not None:
        try:
            path.unlink()
        except OSError:
            pass


class ColumnFile:
    """Named columns of fixed dtypes (numpy), appended a block of rows at a time to one
    temporary file and read back a whole column at a time or a range of rows at a time:
    what campaign detection and the account tables keep of each post until the end, kept
    out of memory while the posts stream in."""

    def __init__(self, folder: str | Path | None, name: str, dtypes: dict[str, np.dtype | type | str],
                 purpose: SpillPurpose = CAMPAIGNS) -> None:
        self.dtypes = {column: np.dtype(dtype) for column, dtype in dtypes.items()}
        self._file = SpillFile(folder, name, purpose)
        self._blocks: list[tuple[int, int]] = []  # (where a block starts, its rows)
        self.rows = 0

    def append(self, **columns: np.ndarray) -> None:
        """A block of rows: an array per column, every column given, all of one length."""
        if set(columns) != set(self.dtypes):
            raise ValueError(f"columns {sorted(columns)} are not {sorted(self.dtypes)}")
        rows = {np.shape(values)[0] for values in columns.values()}
        if len(rows) != 1:
            raise ValueError("columns of one block must have the same length")
        count = rows.pop()
        if not count:
            return
        pieces = [np.ascontiguousarray(columns[name], dtype=dtype).data.cast("B")
                  for name, dtype in self.dtypes.items()]
        self._blocks.append((self._file.append(b"".join(pieces)), count))
        self.rows += count

    def append_by_column(self, rows: int, column_of: Callable[[str], np.ndarray]) -> None:
        """One block of ``rows`` rows, made a column at a time (``column_of(name)``) and
        written before the next is made, so that only one column is in memory at once."""
        if not rows:
            return
        start = None
        for name, dtype in self.dtypes.items():
            values = np.ascontiguousarray(column_of(name), dtype=dtype)
            if values.shape != (rows,):
                raise ValueError(f"column {name} has {values.shape[0]} rows, not {rows}")
            at = self._file.append(values.data.cast("B"))
            start = at if start is None else start
        self._blocks.append((start, rows))
        self.rows += rows

    def column(self, name: str) -> np.ndarray:
        """Every row of column ``name``, in the order the blocks were appended."""
        dtype = self.dtypes[name]
        out = np.empty(self.rows, dtype=dtype)
        before = 0
        for name_before, dtype_before in self.dtypes.items():
            if name_before == name:
                break
            before += dtype_before.itemsize
        done = 0
        for start, count in self._blocks:
            data = self._file.read(start + before * count, count * dtype.itemsize)
            out[done:done + count] = np.frombuffer(data, dtype=dtype)
            done += count
        return out

    def read_rows(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Rows ``start`` to ``stop`` (excluded) of every column, in the order the blocks
        were appended: only the blocks they lie in are read."""
        out = {name: np.empty(max(stop - start, 0), dtype=dtype) for name, dtype in self.dtypes.items()}
        first = 0
        for where, count in self._blocks:
            lo, hi = max(start, first), min(stop, first + count)
            if lo < hi:
                offset = where
                for name, dtype in self.dtypes.items():
                    data = self._file.read(offset + (lo - first) * dtype.itemsize, (hi - lo) * dtype.itemsize)
                    out[name][lo - start:hi - start] = np.frombuffer(data, dtype=dtype)
                    offset += count * dtype.itemsize
            first += count
            if first >= stop:
                break
        return out

    def close(self) -> None:
        self._file.close()
