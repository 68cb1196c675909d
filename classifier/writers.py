"""Scores files: scored records written as CSV, JSONL or Parquet, from :data:`~classifier.scored.COLUMNS`.

The rows of a chunk are made where the chunk is scored (a worker process formats and
encodes its own rows) and written in input order by :class:`ScoresWriter`; a Dask worker writes its
partition file itself (:func:`write_partition`).  Parquet needs pyarrow, imported only
when that format is asked for.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import BinaryIO, Sequence

from . import scored
from .outputs import atomic_open
from .scored import ScoredSegment

TEXT_FORMATS = ("csv", "jsonl")
FORMATS = ("csv", "jsonl", "parquet")
#: Outputs of ``postcred score`` (local engine) that are the database's tables rather than
#: a scores file: one SQLite file, or a folder of one Parquet file per table.
TABLE_FORMATS = ("sqlite", "parquet")


def csv_header() -> list[str]:
    return [column.name for column in scored.csv_columns()]


def format_csv(records: Sequence[ScoredSegment], *, header: bool = False, excel_safe: bool = False) -> str:
    """Records as CSV rows (with the header row first when ``header``; ``excel_safe``:
    see :func:`classifier.scored.csv_cells`)."""
    columns = scored.csv_columns()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow([column.name for column in columns])
    cells = scored.csv_cells
    writer.writerows([cells(record, columns, excel_safe=excel_safe) for record in records])
    return buffer.getvalue()


def format_jsonl(records: Sequence[ScoredSegment]) -> str:
    """Records as JSON lines (every column, the evidence with its spans)."""
    dumps, row = json.dumps, scored.json_row
    return "".join([dumps(row(record), ensure_ascii=False) + "\n" for record in records])


def format_records(records: Sequence[ScoredSegment], fmt: str, *, header: bool = False, excel_safe: bool = False) -> str:
    """Records as the text of a ``csv`` or ``jsonl`` scores file (``header``: CSV's header
    row first; ``excel_safe``: CSV cells safe to open in a spreadsheet, JSONL unchanged)."""
    if fmt == "csv":
        return format_csv(records, header=header, excel_safe=excel_safe)
    if fmt == "jsonl":
        return format_jsonl(records)
    raise ValueError(f"format must be one of {', '.join(TEXT_FORMATS)}, got {fmt!r}")


def format_for(path: str | Path, fmt: str | None = None) -> str:
    """The output format: ``fmt`` if given, else from the extension (.csv, .jsonl/.json,
    .sqlite/.db, .parquet)."""
    if fmt:
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".sqlite", ".sqlite3", ".db"):
        return "sqlite"
    if suffix == ".parquet":
        return "parquet"
    raise ValueError(f"{path}: cannot tell the format from the extension; use --format csv, jsonl or sqlite")


class ScoresWriter:
    """Writes chunks of formatted records (UTF-8 bytes), in order, to an open binary
    handle; a CSV file starts with its header, so an empty dump gives a file with the
    header only."""

    def __init__(self, handle: BinaryIO, fmt: str) -> None:
        if fmt not in TEXT_FORMATS:
            raise ValueError(f"format must be one of {', '.join(TEXT_FORMATS)}, got {fmt!r}")
        self.handle = handle
        if fmt == "csv":
            header = io.StringIO()
            csv.writer(header).writerow(csv_header())
            handle.write(header.getvalue().encode("utf-8"))

    def write(self, data: bytes) -> None:
        """Write a chunk's rows: :func:`format_records`'s text encoded as UTF-8."""
        self.handle.write(data)


def parquet_table(records: Sequence[ScoredSegment]):
    """Records as an Arrow table with one column per :data:`~classifier.scored.COLUMNS`
    entry: scalars as they are, entity lists as lists of strings, nested values (top
    tokens, evidence, markers, techniques) as JSON text, so every partition has the same
    schema."""
    import pyarrow as pa

    types = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "list": pa.list_(pa.string()),
             "json": pa.string()}
    columns = scored.COLUMNS
    arrays = {}
    for column in columns:
        values = [column.value(record) for record in records]
        if column.arrow == "json":
            values = [json.dumps(value, ensure_ascii=False) for value in values]
        elif column.arrow == "list":
            values = [list(value) for value in values]
        arrays[column.name] = pa.array(values, type=types[column.arrow])
    return pa.table(arrays, schema=pa.schema([pa.field(c.name, types[c.arrow]) for c in columns]))


def write_partition(path: str | Path, records: Sequence[ScoredSegment], fmt: str, *, excel_safe: bool = False) -> None:
    """Write one partition file of a Dask run (a complete scores file: CSV with its header)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with atomic_open(path, "wb") as handle:
            pq.write_table(parquet_table(records), handle)
        return
    with atomic_open(path, "w", newline="") as handle:
        handle.write(format_records(records, fmt, header=True, excel_safe=excel_safe))
