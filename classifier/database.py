"""Every table of a run in one database: SQLite (stdlib) and Parquet (pyarrow).

Five tables, with keys so that they join without guessing:

``accounts``      one row per account (primary key ``handle``)
``account_days``  one row per account and day (``handle``, ``date``) -> accounts
``posts``         one row per post (``post_id``) -> accounts
``segments``      one row per scored segment (``id``), the scores file's columns -> posts
``campaigns``     one row per campaign (``campaign``), and ``campaign_posts`` (``campaign``,
                  ``post_id``) -> campaigns, posts

The SQLite file declares the foreign keys (checked before the file is put in place),
indexes the columns joins and filters use, and opens in ``sqlite3``, datasette or DuckDB.
A source listing the same post twice (the same ``post_id`` in two records) gives one
``posts`` row whose ``listings`` is 2: the account tables count both listings, as the
scores do, so ``SUM(listings)`` per account equals its ``posts``.  Parquet writes one file
per table into a folder with the same columns (posts: one row per listing).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from .accounts import (
    ACCOUNT_COLUMNS,
    DAY_COLUMNS,
    PARTISAN_BELOW,
    POST_COLUMNS,
    AccountTables,
    ScoredPost,
    local_day_hour,
    time_zone,
)
from .errors import OutputError
from .member_store import MemberStore, scratch_database, stored_members
from .outputs import OutputSet, check_output_path
from .scored import ScoredSegment, csv_cells, csv_columns, from_json_row
from .writers import TABLE_FORMATS

#: Scores-file columns that are not text in the segments table.
SEGMENT_TYPES = {"line": "INTEGER", "line_end": "INTEGER", "record": "INTEGER", "p_wire": "REAL"}
SEGMENT_COLUMNS = tuple((column.name, SEGMENT_TYPES.get(column.name, "TEXT")) for column in csv_columns())
CAMPAIGN_COLUMNS = (
    ("campaign", "TEXT"), ("posts", "INTEGER"), ("accounts", "INTEGER"), ("first_date", "TEXT"),
    ("last_date", "TEXT"), ("mean_p_wire", "REAL"), ("partisan_share", "REAL"),
)
CAMPAIGN_POST_COLUMNS = (("campaign", "TEXT"), ("post_id", "TEXT"), ("similarity", "REAL"))
ROWS_PER_BATCH = 2000
#: Rows of a table written at the end (accounts, account-days, campaigns) held at a time
#: for Parquet, one row group each.
TABLE_ROWS_PER_GROUP = 1 << 16
#: Rows of the posts and segments tables a Parquet row group holds (they are written at
#: the end from the rows staged on disk; a segment's row is a few kB in memory).
STAGED_ROWS_PER_GROUP = 1 << 14
#: Rows turned into Arrow columns at a time on their way to a Parquet row group.
ARROW_SLICE_ROWS = 2048


@dataclass(frozen=True)
class Table:
    """One table of the database: columns (name, SQLite type), key and references."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    references: tuple[tuple[str, str, str], ...] = ()  # (column, table, column)
    indexes: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def ddl(self) -> str:
        lines = [f'"{name}" {kind}' for name, kind in self.columns]
        lines.append("PRIMARY KEY (" + ", ".join(f'"{k}"' for k in self.key) + ")")
        lines += [
            f'FOREIGN KEY ("{column}") REFERENCES "{table}" ("{target}") DEFERRABLE INITIALLY DEFERRED'
            for column, table, target in self.references
        ]
        return f'CREATE TABLE "{self.name}" (\n  ' + ",\n  ".join(lines) + "\n)"

    def index_ddl(self) -> list[str]:
        return [f'CREATE INDEX "{self.name}_{column}" ON "{self.name}" ("{column}")' for column in self.indexes]

    def insert_sql(self, upsert: str = "") -> str:
        marks = ", ".join("?" for _ in self.columns)
        names = ", ".join(f'"{name}"' for name in self.names)
        return f'INSERT INTO "{self.name}" ({names}) VALUES ({marks}){upsert}'

    def values(self, row: Mapping) -> tuple:
        """A row's cells in column order, each converted to its column's type."""
        return tuple(cell(row.get(name), kind) for name, kind in self.columns)


TABLES = (
    Table("accounts", ACCOUNT_COLUMNS, ("handle",)),
    Table("account_days", DAY_COLUMNS, ("handle", "date"), (("handle", "accounts", "handle"),), ("date", "burst")),
    Table("posts", (*POST_COLUMNS, ("listings", "INTEGER")), ("post_id",), (("handle", "accounts", "handle"),),
          ("handle", "day", "label")),
    Table("segments", SEGMENT_COLUMNS, ("id",), (("post_id", "posts", "post_id"),), ("post_id", "handle", "label")),
    Table("campaigns", CAMPAIGN_COLUMNS, ("campaign",)),
    Table("campaign_posts", CAMPAIGN_POST_COLUMNS, ("campaign", "post_id"),
          (("campaign", "campaigns", "campaign"), ("post_id", "posts", "post_id")), ("post_id",)),
)
TABLE = {table.name: table for table in TABLES}


def cell(value, kind: str):
    """``value`` as its column's type: numbers from CSV text, None for an empty cell,
    0/1 for booleans (SQLite has no boolean; a CSV says ``true``/``false``)."""
    if value is None or (value == "" and kind != "TEXT"):
        return None
    if kind == "BOOLEAN":
        if isinstance(value, str):
            return 1 if value.lower() in ("true", "1") else 0
        return int(bool(value))
    if kind == "INTEGER":
        return int(value)
    if kind == "REAL":
        return float(value)
    return value if isinstance(value, str) else str(value)


def flat_segment(row: Mapping) -> Mapping:
    """A segment row with the scores CSV's cells: a CSV row as it is, an in-memory or
    JSONL row flattened as the CSV writer does (lists joined, counts formatted)."""
    if all(value is None or isinstance(value, (str, int, float)) for value in row.values()):
        return row
    columns = csv_columns()
    return dict(zip((column.name for column in columns), csv_cells(from_json_row(row), columns)))


def segment_values(records: Sequence[ScoredSegment]) -> list[tuple]:
    """Scored records as rows of the segments table (the scores CSV's cells, typed): made
    where a chunk is scored, so only these tuples travel back to the writing process."""
    columns = csv_columns()
    names = [column.name for column in columns]
    table = TABLE["segments"]
    return [table.values(dict(zip(names, csv_cells(record, columns)))) for record in records]


class SqliteWriter:
    """Writes the tables into a SQLite file at ``path`` (a temporary path, renamed by the
    caller): posts and segments as they stream by, accounts and campaigns at the end."""

    def __init__(self, path: Path, *, name: Path | None = None) -> None:
        self.path = name or path  # the file's final name, for messages
        #: Where the end's temporary files go (:class:`MemberStore`): beside the database.
        self.temp_folder = Path(path).parent
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode = OFF")  # a temporary file, renamed into place when complete
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute("PRAGMA foreign_keys = ON")
        # Indexes from the start: rows arrive before the rows their keys point at (deferred
        # keys), and while any key is unresolved SQLite looks up the children of every new
        # parent row; without an index on the child column that lookup is a full scan.
        for table in TABLES:
            self.db.execute(table.ddl())
            for statement in table.index_ddl():
                self.db.execute(statement)
        self.db.execute("BEGIN")
        posts = TABLE["posts"]
        self._post_sql = posts.insert_sql(' ON CONFLICT ("post_id") DO UPDATE SET "listings" = "listings" + 1')
        self._segment_sql = TABLE["segments"].insert_sql()
        self._posts: list[tuple] = []
        self._segments: list[tuple] = []

    def add_post(self, post: ScoredPost, segments: list[Mapping]) -> None:
        table = TABLE["segments"]
        self.add_chunk([post], [table.values(flat_segment(segment)) for segment in segments])

    def add_chunk(self, posts: Iterable[ScoredPost], segments: list[tuple]) -> None:
        """Add posts and their segments' rows (:func:`segment_values`)."""
        self._posts.extend(TABLE["posts"].values({**post.to_row(), "listings": 1}) for post in posts)
        self._segments.extend(segments)
        if len(self._segments) >= ROWS_PER_BATCH:
            self._flush()

    def _flush(self) -> None:
        self.db.executemany(self._post_sql, self._posts)
        try:
            self.db.executemany(self._segment_sql, self._segments)
        except sqlite3.IntegrityError:
            duplicate = self._duplicate_segment()
            raise OutputError(f"{self.path}: segment id {duplicate!r} appears twice in the scores; "
                              "the database needs unique segment ids") from None
        self._posts, self._segments = [], []

    def _duplicate_segment(self) -> str:
        seen = set()
        for values in self._segments:
            if values[0] in seen or self.db.execute('SELECT 1 FROM segments WHERE id = ?', (values[0],)).fetchone():
                return values[0]
            seen.add(values[0])
        return "?"

    def finish(self, tables: AccountTables, campaign_members: Iterable[Mapping] | MemberStore = ()) -> None:
        """Write the account and campaign tables, index, check every key, commit, close.
        ``campaign_members``: membership rows, or a :class:`MemberStore` of them."""
        self._flush()
        for name, rows in (("accounts", tables.accounts), ("account_days", tables.days)):
            self.db.executemany(TABLE[name].insert_sql(), (TABLE[name].values(row) for row in rows))
        with stored_members(campaign_members, self.temp_folder) as members:
            self._write_campaigns(members, time_zone(tables.tz))
        broken = self.db.execute("PRAGMA foreign_key_check").fetchone()
        if broken:
            raise OutputError(f"{self.path}: a {broken[0]} row points at a missing {broken[2]} row (row {broken[1]})")
        self.db.commit()
        self.db.close()

    def _write_campaigns(self, members: MemberStore, zone) -> None:
        self.db.executemany(TABLE["campaigns"].insert_sql(),
                            (TABLE["campaigns"].values(row) for row in campaign_rows(members.by_campaign(), zone)))
        self.db.executemany(TABLE["campaign_posts"].insert_sql(),
                            (TABLE["campaign_posts"].values(member) for member in members.members()))
        missing = self.db.execute(
            "SELECT campaign, post_id FROM campaign_posts WHERE post_id NOT IN (SELECT post_id FROM posts) LIMIT 1"
        ).fetchone()
        if missing:
            raise OutputError(f"{self.path}: campaign {missing[0]} lists post {missing[1]!r}, which is not in the scores")

    def close(self) -> None:
        """Close the connection (after :meth:`finish`, or when the run fails)."""
        with contextlib.suppress(sqlite3.Error):
            self.db.close()


class ParquetWriter:
    """Writes the tables as one Parquet file per table into a folder (pyarrow, the
    ``dask`` extra).  The posts' and segments' rows wait in a temporary SQLite file beside
    the tables while the run scores (:class:`_StagedRows`) and become Parquet at the end,
    :data:`STAGED_ROWS_PER_GROUP` rows a row group, with the other tables: so pyarrow is
    not even imported while MeCab's dictionary is in memory (its libraries and memory
    pool cost about 90 MB), and the files' metadata does not grow by a row group for every
    few thousand rows scored.  At the end each table passes through :class:`_RowGroups`
    (a few thousand rows held as Python values at a time) and pyarrow is loaded without
    pandas (:func:`_pyarrow`)."""

    def __init__(self, folder: Path, outputs: OutputSet, *, force: bool) -> None:
        if importlib.util.find_spec("pyarrow") is None:
            raise OutputError("Parquet output needs pyarrow: pip install -e '.[dask]'")

        self.folder = folder
        self.paths = {}
        for table in TABLES:
            target = check_output_path(folder / f"{table.name}.parquet", protected=["labels"], force=force)
            self.paths[table.name] = outputs.path(target)
        self._outputs = outputs
        #: Where the run's temporary files go (:class:`_StagedRows`, :class:`MemberStore`): beside the tables.
        self.temp_folder = self.paths["campaign_posts"].parent
        self._batches: dict[str, list[tuple]] = {"posts": [], "segments": []}
        self._staged = outputs.close_with(_StagedRows(self.temp_folder, {name: len(TABLE[name].columns)
                                                                         for name in self._batches}))

    def add_post(self, post: ScoredPost, segments: list[Mapping]) -> None:
        self.add_chunk([post], [TABLE["segments"].values(flat_segment(s)) for s in segments])

    def add_chunk(self, posts: Iterable[ScoredPost], segments: list[tuple]) -> None:
        """Add posts and their segments' rows (:func:`segment_values`)."""
        self._batches["posts"].extend(TABLE["posts"].values({**post.to_row(), "listings": 1}) for post in posts)
        self._batches["segments"].extend(segments)
        if len(self._batches["segments"]) >= ROWS_PER_BATCH:
            self._flush()

    def _flush(self) -> None:
        for name, rows in self._batches.items():
            if rows:
                self._staged.add(name, rows)
                rows.clear()

    def finish(self, tables: AccountTables, campaign_members: Iterable[Mapping] | MemberStore = ()) -> None:
        """Write every table and close every file.  ``campaign_members``: membership rows,
        or a :class:`MemberStore` of them."""
        self._flush()
        for name in self._batches:
            self._write(name, self._staged.rows(name), STAGED_ROWS_PER_GROUP)
        self._staged.close()
        with stored_members(campaign_members, self.temp_folder) as members:
            for name, rows in (
                ("accounts", tables.accounts),
                ("account_days", tables.days),
                ("campaigns", campaign_rows(members.by_campaign(), time_zone(tables.tz))),
                ("campaign_posts", members.members()),
            ):
                self._write(name, (TABLE[name].values(row) for row in rows), TABLE_ROWS_PER_GROUP)

    def _write(self, name: str, values: Iterable[tuple], group_rows: int) -> None:
        """Table ``name``'s file: its rows (value tuples), ``group_rows`` a row group (a
        year of many accounts makes millions of account-days, never all in memory at
        once); a table without rows still gets its file."""
        _, pq = _pyarrow()
        schema = arrow_schema(TABLE[name])
        writer = self._outputs.close_with(pq.ParquetWriter(self.paths[name], schema))
        groups = _RowGroups(writer, TABLE[name], schema, group_rows)
        for row in values:
            groups.append(row)
        groups.close()
        writer.close()


class _RowGroups:
    """Rows of one table on their way into a Parquet file: turned into Arrow columns
    :data:`ARROW_SLICE_ROWS` at a time, and written as one row group once ``group_rows``
    are in.  A row group of 16,384 segments held as Python tuples, then as lists of
    column values, cost about 20 MB more than the slices; the row groups are the same."""

    def __init__(self, writer, table: Table, schema, group_rows: int) -> None:
        self._writer, self._table, self._schema = writer, table, schema
        self._group_rows = group_rows
        self._rows: list[tuple] = []
        self._batches: list = []  # Arrow record batches of the row group being made
        self._held = 0  # rows in those batches
        self._written = False

    def append(self, row: tuple) -> None:
        self._rows.append(row)
        if len(self._rows) >= min(ARROW_SLICE_ROWS, self._group_rows - self._held):
            self._convert()
            if self._held >= self._group_rows:
                self._write_group()

    def close(self) -> None:
        """Write the last row group (an empty one when the table has no rows)."""
        self._convert()
        if self._batches or not self._written:
            self._write_group()

    def _convert(self) -> None:
        if not self._rows:
            return
        pa, _ = _pyarrow()
        columns = zip(*self._rows)
        arrays = [pa.array([_arrow_value(v, kind) for v in column], type=field.type)
                  for column, (_, kind), field in zip(columns, self._table.columns, self._schema)]
        self._batches.append(pa.RecordBatch.from_arrays(arrays, schema=self._schema))
        self._held += len(self._rows)
        self._rows = []

    def _write_group(self) -> None:
        pa, _ = _pyarrow()
        table = pa.Table.from_batches(self._batches, schema=self._schema)
        self._writer.write_table(table, row_group_size=max(self._held, 1))
        self._batches, self._held, self._written = [], 0, True


class _StagedRows:
    """Rows of some tables (value tuples, in the order added) in a temporary SQLite file,
    read back in order a batch at a time: what a Parquet run writes only at its end."""

    def __init__(self, folder: Path, widths: dict[str, int]) -> None:
        self.folder = folder
        self._db, self.close = scratch_database(self, folder, "parquet-rows", self._failed)
        self._inserts = {}
        try:
            for name, width in widths.items():
                self._db.execute(f'CREATE TABLE "{name}" ({", ".join(f"c{k}" for k in range(width))})')
                self._inserts[name] = f'INSERT INTO "{name}" VALUES ({", ".join("?" * width)})'
        except sqlite3.Error as exc:
            self.close()
            raise self._failed(exc) from None

    def _failed(self, exc: Exception) -> OutputError:
        return OutputError(f"{self.folder}: cannot write the temporary file of the Parquet tables "
                           f"({getattr(exc, 'strerror', None) or exc}); free some space there")

    def add(self, name: str, rows: list[tuple]) -> None:
        try:
            self._db.executemany(self._inserts[name], rows)
        except sqlite3.Error as exc:  # a full disk, a quota
            raise self._failed(exc) from None

    def rows(self, name: str) -> Iterator[tuple]:
        """The rows of table ``name`` in the order added."""
        yield from self._db.execute(f'SELECT * FROM "{name}" ORDER BY rowid')


def campaign_rows(groups: Iterable[tuple[str, list[Mapping]]], zone) -> Iterator[dict]:
    """One summary row per campaign from its member posts (``groups``: (campaign, its
    membership rows), as :meth:`MemberStore.by_campaign` gives them; rows with
    ``post_id`` and, where known, ``handle``, ``date`` and ``p_wire``); a summary cell is
    empty when no member has its column."""
    for campaign, posts in groups:
        days = sorted(d.isoformat() for d in (local_day_hour(str(p.get("date") or ""), zone)[0] for p in posts) if d)
        p_wires = [float(p["p_wire"]) for p in posts if p.get("p_wire") not in (None, "")]
        handles = {p.get("handle") for p in posts if p.get("handle")}
        yield {
            "campaign": campaign,
            "posts": len({p["post_id"] for p in posts}),
            "accounts": len(handles) if handles else None,
            "first_date": days[0] if days else None,
            "last_date": days[-1] if days else None,
            "mean_p_wire": round(sum(p_wires) / len(p_wires), 4) if p_wires else None,
            "partisan_share": round(sum(p < PARTISAN_BELOW for p in p_wires) / len(p_wires), 4) if p_wires else None,
        }


class _RefusePandas:
    """An import finder that makes ``import pandas`` fail (see :func:`_pyarrow`)."""

    def find_spec(self, name: str, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("pandas is not loaded for Parquet output", name=name)
        return None


@functools.cache
def _pyarrow():
    """pyarrow and pyarrow.parquet, imported so that pyarrow does not load pandas.

    The first array pyarrow builds from Python values asks whether pandas is installed,
    importing it (about 40 MB of a run's resident memory, at its end); the tables'
    values are plain Python objects, so no pandas type can reach it.  When pandas is not
    loaded yet, that first question is asked while ``import pandas`` is refused: pyarrow
    then takes pandas as absent for such checks, and still imports it if a caller later
    asks for pandas objects (``Table.to_pandas``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if "pandas" not in sys.modules:
        refuse = _RefusePandas()
        sys.meta_path.insert(0, refuse)
        try:
            pa.array([], type=pa.int64())
        finally:
            sys.meta_path.remove(refuse)
    return pa, pq


def arrow_schema(table: Table):
    pa, _ = _pyarrow()

    types = {"TEXT": pa.string(), "INTEGER": pa.int64(), "REAL": pa.float64(), "BOOLEAN": pa.bool_()}
    return pa.schema([pa.field(name, types[kind]) for name, kind in table.columns])


def _arrow_value(value, kind: str):
    return bool(value) if kind == "BOOLEAN" and value is not None else value


def open_tables(outputs: OutputSet, path: Path, fmt: str, *, force: bool) -> SqliteWriter | ParquetWriter:
    """The tables writer of a run whose output is ``sqlite`` (one file) or ``parquet`` (a
    folder of one file per table), staged in the run's ``outputs``: put in place with its
    other outputs once :meth:`~SqliteWriter.finish` has run, or removed if the run fails."""
    if fmt == "sqlite":
        tmp = outputs.path(path)
        tmp.unlink()  # sqlite3 makes its own file
        return outputs.close_with(SqliteWriter(tmp, name=path))
    if fmt == "parquet":
        return ParquetWriter(path, outputs, force=force)
    raise ValueError(f"tables format must be one of {', '.join(TABLE_FORMATS)}, got {fmt!r}")
