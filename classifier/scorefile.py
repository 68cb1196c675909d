"""Reading back a scores file that ``postcred score`` wrote, without rescoring.

Commands that work on scores (``postcred accounts``, ``postcred campaigns``) read them here: a CSV or JSONL
scores file, or the folder of ``part-*`` files the Dask engine writes (``.csv``,
``.jsonl`` or ``.parquet``, in partition order).  Rows come back as they are stored (a CSV
row as strings, a JSONL row as its JSON values) after the checks every consumer relies
on: the columns a scores file has, a ``p_wire`` between 0 and 1, technique counts that
parse.  A bad row is one :class:`~classifier.errors.InputError` naming the file and line.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Iterator

from .errors import InputError
from .outputs import SCORES_EXTENSIONS
from .technique_counts import parse_technique_counts

__all__ = ["REQUIRED_COLUMNS", "ScoreReader", "check_row", "partition_files"]

#: Columns every consumer of a scores file needs (the rest are optional).
REQUIRED_COLUMNS = ("id", "post_id", "account", "handle", "date", "role", "p_wire")
#: Columns a Parquet partition stores as JSON text (see ``writers.parquet_table``).
JSON_TEXT_COLUMNS = ("top_tokens", "evidence", "markers", "techniques")


class ScoreReader:
    """The rows of a scores file (or of a Dask output folder), in file order, remembering
    where the last row read came from (:attr:`file`, :attr:`line`) so that a consumer
    that finds something wrong in a row can name it (:meth:`error`).  ``required`` are the
    columns the file must have (default :data:`REQUIRED_COLUMNS`).  Iterating raises
    :class:`~classifier.errors.InputError` when the path does not exist, is not a scores
    file, or a row is malformed.

    Examples
    --------
    >>> reader = ScoreReader("reports/seed.csv")  # doctest: +SKIP
    >>> for row in reader:  # doctest: +SKIP
    ...     if not row["text"]:
    ...         raise reader.error("a row without text")
    """

    def __init__(self, path: str | Path, *, required: tuple[str, ...] = REQUIRED_COLUMNS) -> None:
        self.path = Path(path)
        self.required = required
        self.file = self.path
        self.line: int | None = None

    def files(self) -> list[Path]:
        """The files read: the file itself, or a Dask folder's partitions in order."""
        if self.path.is_dir():
            return partition_files(self.path)
        if not self.path.exists():
            raise InputError(self.path, "no such file")
        return [self.path]

    def __iter__(self) -> Iterator[dict]:
        for part in self.files():
            self.file, self.line = part, None
            for line, row in _read_file(part, self.required):
                self.line = line
                yield row

    def error(self, message: str) -> InputError:
        """An :class:`InputError` naming the file and line of the last row read."""
        return InputError(self.file, message, line=self.line)


def partition_files(folder: Path) -> list[Path]:
    """The ``part-*`` files of a Dask output folder, in partition order."""
    parts = sorted(p for p in folder.glob("part-*") if p.suffix.lower() in SCORES_EXTENSIONS)
    if not parts:
        raise InputError(folder, "a folder without part-* scores files; give a scores file or a `--engine dask` output folder")
    return parts


def _read_file(path: Path, required: tuple[str, ...] = REQUIRED_COLUMNS) -> Iterator[tuple[int, dict]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _read_csv(path, required)
    elif suffix in (".jsonl", ".ndjson", ".json"):
        rows = _read_jsonl(path, required)
    elif suffix == ".parquet":
        rows = _read_parquet(path, required)
    else:
        raise InputError(path, "cannot tell the scores format from the extension; expected .csv, .jsonl or .parquet")
    for line, row in rows:
        check_row(path, line, row)
        yield line, row


def _read_csv(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
            _check_columns(path, header, required)
            for row in reader:
                if None in row or None in row.values():
                    raise InputError(path, "a row with the wrong number of cells", line=reader.line_num)
                yield reader.line_num, row
        except csv.Error as exc:
            raise InputError(path, f"not valid CSV ({exc})", line=reader.line_num) from None
        except UnicodeDecodeError as exc:
            raise InputError(path, f"not UTF-8 ({exc.reason})", offset=exc.start) from None


def _read_jsonl(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    checked = False
    with open(path, encoding="utf-8-sig") as handle:
        try:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise InputError(path, f"not valid JSON ({exc.msg})", line=number) from None
                if not isinstance(row, dict):
                    raise InputError(path, "a scores row must be a JSON object", line=number)
                if not checked:
                    _check_columns(path, list(row), required, line=number)
                    checked = True
                yield number, row
        except UnicodeDecodeError as exc:
            raise InputError(path, f"not UTF-8 ({exc.reason})") from None


def _read_parquet(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(path, "reading Parquet needs pyarrow (pip install -e '.[dask]')") from None
    try:
        table = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise InputError(path, f"not a Parquet file ({exc})") from None
    _check_columns(path, table.schema_arrow.names, required)
    number = 0
    for batch in table.iter_batches(batch_size=2000):
        for row in batch.to_pylist():
            number += 1
            for name in JSON_TEXT_COLUMNS:
                if isinstance(row.get(name), str):
                    row[name] = json.loads(row[name])
            yield number, row


def _check_columns(path: Path, columns: list[str], required: tuple[str, ...] = REQUIRED_COLUMNS, line: int = 1) -> None:
    missing = [name for name in required if name not in columns]
    if missing:
        raise InputError(
            path, f"not a postcred scores file: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
            line=line,
        )


def check_row(path: Path, line: int, row: dict) -> None:
    """Refuse a row whose ``p_wire`` is not a probability or whose techniques do not parse."""
    try:
        p_wire = float(row["p_wire"])
    except (TypeError, ValueError):
        raise InputError(path, f"p_wire is not a number: {row.get('p_wire')!r}", line=line) from None
    if not 0.0 <= p_wire <= 1.0 or math.isnan(p_wire):
        raise InputError(path, f"p_wire must lie between 0 and 1, got {p_wire}", line=line)
    techniques = row.get("techniques")
    if isinstance(techniques, str):
        try:
            parse_technique_counts(techniques)
        except ValueError as exc:
            raise InputError(path, str(exc), line=line) from None
    elif techniques is not None and not isinstance(techniques, dict):
        raise InputError(path, f"techniques must be an object of counts, got {type(techniques).__name__}", line=line)
