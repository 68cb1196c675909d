"""The account tables of a scores file on disk: the library call behind ``postcred accounts``.

Reads a scores file (or a Dask output folder) once and writes, all or none:
``<stem>.accounts.csv`` and ``<stem>.account_days.csv`` (always), the SQLite database and
the Parquet folder (on request).  ``<stem>`` is the scores file's stem,
as for the report (:func:`classifier.outputs.scores_stem`: ``reports/seed.csv`` ->
``reports/seed.accounts.csv``, ``run.2024-11-04.csv`` -> ``run.2024-11-04.accounts.csv``).
"""

from __future__ import annotations

import contextlib
import csv
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable, Mapping

from .accounts import (
    ACCOUNT_COLUMNS,
    DAY_COLUMNS,
    DEFAULT_CHANGE_THRESHOLD,
    DEFAULT_MIN_HALF_POSTS,
    DEFAULT_TZ,
    AccountsBuilder,
    AccountTables,
)
from .errors import InputError
from .outputs import atomic_open, check_output_path, excel_safe_cell, scores_stem
from .scorefile import read_scores

ACCOUNTS_SUFFIX = ".accounts.csv"
DAYS_SUFFIX = ".account_days.csv"
#: Columns a campaigns membership file must have (``<stem>.campaigns.csv``).
CAMPAIGN_MEMBER_COLUMNS = ("campaign", "post_id")


@dataclass
class AccountsRun:
    """What :func:`accounts_from_scores` computed and wrote."""

    tables: AccountTables
    accounts_csv: Path
    days_csv: Path
    sqlite: Path | None = None
    parquet: Path | None = None

    @property
    def written(self) -> list[Path]:
        return [p for p in (self.accounts_csv, self.days_csv, self.sqlite, self.parquet) if p is not None]


def table_paths(folder: Path, stem: str) -> tuple[Path, Path]:
    """Where the accounts and account-days CSVs of ``stem`` go in ``folder``."""
    return folder / f"{stem}{ACCOUNTS_SUFFIX}", folder / f"{stem}{DAYS_SUFFIX}"


def write_table_csv(handle: IO[str], columns: tuple[tuple[str, str], ...], rows: Iterable[Mapping], *,
                    excel_safe: bool = False) -> None:
    """Rows as CSV with a header: empty cells for None, ``true``/``false`` for booleans;
    ``excel_safe``: text a spreadsheet would run as a formula quoted (:func:`classifier.outputs.excel_safe_cell`)."""
    writer = csv.writer(handle)
    writer.writerow([name for name, _ in columns])
    booleans = {name for name, kind in columns if kind == "BOOLEAN"}
    safe = excel_safe_cell if excel_safe else (lambda value: value)
    for row in rows:
        writer.writerow([
            ("true" if row[name] else "false") if name in booleans else ("" if row[name] is None else safe(row[name]))
            for name, _ in columns
        ])


def read_campaign_members(path: Path) -> list[dict]:
    """The membership rows of a campaigns CSV (one row per post in a campaign, at least
    ``campaign`` and ``post_id``; ``handle``, ``date``, ``p_wire``, ``similarity`` are used
    when present)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in CAMPAIGN_MEMBER_COLUMNS if name not in (reader.fieldnames or [])]
            if missing:
                raise InputError(path, f"not a campaigns file: missing column {', '.join(missing)}", line=1)
            members = []
            for row in reader:
                if not row["campaign"] or not row["post_id"]:
                    raise InputError(path, "a row without a campaign or a post_id", line=reader.line_num)
                members.append(row)
            return members
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"cannot read the campaigns file ({exc})") from None


def accounts_from_scores(
    scores: str | Path,
    *,
    folder: str | Path | None = None,
    tz: str = DEFAULT_TZ,
    sqlite: str | Path | None = None,
    parquet: str | Path | None = None,
    campaigns: str | Path | None = None,
    change_threshold: float = DEFAULT_CHANGE_THRESHOLD,
    min_half_posts: int = DEFAULT_MIN_HALF_POSTS,
    force: bool = False,
    excel_safe: bool = False,
) -> AccountsRun:
    """Build the account tables of an existing scores file, without rescoring.

    Parameters
    ----------
    scores:
        A scores file (CSV, JSONL) or a ``--engine dask`` output folder.
    folder:
        Where the CSVs go; default beside the scores file (in a Dask folder: inside it).
    sqlite, parquet:
        Also write every table (segments, posts, accounts, account_days, campaigns)
        into this SQLite file, or as Parquet files into this folder.
    campaigns:
        A campaigns CSV (``campaign``, ``post_id``, ...): the accounts table lists each
        account's campaigns and the database gets the campaign tables.
    excel_safe:
        CSV cells a spreadsheet would run as formulas (a display name ``=...``) get a
        leading ``'`` (:func:`classifier.outputs.excel_safe_cell`).

    Examples
    --------
    >>> run = accounts_from_scores("reports/seed.csv", sqlite="reports/seed.sqlite")  # doctest: +SKIP
    >>> run.tables.accounts[0]["handle"]  # doctest: +SKIP
    'ReutersJapan'
    """
    from .database import ParquetWriter, sqlite_output

    scores = Path(scores)
    if not scores.exists():
        raise InputError(scores, "no such file")
    folder = Path(folder) if folder is not None else (scores if scores.is_dir() else scores.parent)
    accounts_csv, days_csv = table_paths(folder, scores_stem(scores))
    outputs = [accounts_csv, days_csv] + [Path(p) for p in (sqlite,) if p is not None]
    for path in outputs:
        check_output_path(path, inputs=[scores, *([campaigns] if campaigns else [])], protected=["labels"], force=force)
    members = read_campaign_members(Path(campaigns)) if campaigns else []
    builder = AccountsBuilder(tz=tz, change_threshold=change_threshold, min_half_posts=min_half_posts,
                              post_campaigns={m["post_id"]: m["campaign"] for m in members})
    with contextlib.ExitStack() as stack:  # every output is renamed into place when it closes, or none
        accounts_handle = stack.enter_context(atomic_open(accounts_csv, "w", newline=""))
        days_handle = stack.enter_context(atomic_open(days_csv, "w", newline=""))
        sinks = []
        if sqlite is not None:
            sinks.append(stack.enter_context(sqlite_output(Path(sqlite))))
        if parquet is not None:
            sinks.append(ParquetWriter(Path(parquet), stack, force=force))
        for post, segments in builder.add_rows(read_scores(scores)):
            for sink in sinks:
                sink.add_post(post, segments)
        tables = builder.finish()
        for sink in sinks:
            sink.finish(tables, members)
        write_table_csv(accounts_handle, ACCOUNT_COLUMNS, tables.accounts, excel_safe=excel_safe)
        write_table_csv(days_handle, DAY_COLUMNS, tables.days, excel_safe=excel_safe)
    return AccountsRun(tables, accounts_csv, days_csv, Path(sqlite) if sqlite else None,
                       Path(parquet) if parquet else None)
