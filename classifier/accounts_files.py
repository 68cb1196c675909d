"""The account tables of a scores file on disk: the library call behind ``postcred accounts``.

Reads a scores file (or a Dask output folder) once and writes, all or none:
``<stem>.accounts.csv`` and ``<stem>.account_days.csv`` (always), the SQLite database and
the Parquet folder (on request).  ``<stem>`` is the scores file's stem, as for the report
(:func:`classifier.outputs.derived_path`: ``reports/seed.csv`` ->
``reports/seed.accounts.csv``, ``run.2024-11-04.csv`` -> ``run.2024-11-04.accounts.csv``).
"""

from __future__ import annotations

import contextlib
import csv
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable, Iterator, Mapping, Sequence

import numpy as np

from .accounts import (
    ACCOUNT_COLUMNS,
    DAY_COLUMNS,
    DEFAULT_CHANGE_THRESHOLD,
    DEFAULT_MIN_HALF_POSTS,
    DEFAULT_TZ,
    AccountsBuilder,
    AccountTables,
    ScoredPost,
    account_key,
    campaign_ids,
)
from .campaign_sketch import text_key
from .errors import InputError
from .member_store import FIELDS as MEMBER_FIELDS
from .member_store import MemberStore
from .outputs import OutputSet, all_or_none, check_output_path, derived_path, excel_safe_cell
from .scorefile import ScoreReader

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


def write_tables_csv(outputs: OutputSet, tables: AccountTables, accounts_csv: Path, days_csv: Path, *,
                     excel_safe: bool = False) -> None:
    """Stage the accounts and account-days CSVs in ``outputs`` (put in place with the
    other outputs of the run, or not at all); ``excel_safe`` as for :func:`write_table_csv`."""
    with_table = ((accounts_csv, ACCOUNT_COLUMNS, tables.accounts), (days_csv, DAY_COLUMNS, tables.days))
    for path, columns, rows in with_table:
        with outputs.open(path, "w", newline="") as handle:
            write_table_csv(handle, columns, rows, excel_safe=excel_safe)


def campaign_members_of(post_campaigns: Mapping[str, str | Iterable[str]] | None) -> list[dict]:
    """Membership rows (``campaign``, ``post_id``) of a post_id -> campaign ids mapping."""
    return [{"campaign": campaign, "post_id": post_id}
            for post_id, campaigns in (post_campaigns or {}).items() for campaign in sorted(campaign_ids(campaigns))]


class RunAccounts:
    """The account tables of a scoring run (``postcred score``), fed as the chunks come in.

    Each chunk's posts (folded where the chunk was scored) go into ``builder``, and with
    the chunk's segment rows into ``sink`` when the run writes the database tables
    (:func:`classifier.database.open_tables`).  :meth:`finish` makes the tables and
    stages them in the run's outputs: the CSVs at ``csv_paths`` (None: not written) and
    the database's account and campaign tables.
    """

    def __init__(self, builder: AccountsBuilder, csv_paths: tuple[Path, Path] | None, sink=None) -> None:
        self.builder = builder
        self.csv_paths = csv_paths
        self.sink = sink

    def add(self, posts: Sequence[ScoredPost], segment_rows: list[tuple] | None = None) -> None:
        add = self.builder.add
        for post in posts:
            add(post)
        if self.sink is not None:
            self.sink.add_chunk(posts, segment_rows or [])

    def finish(self, outputs: OutputSet, campaign_members: Iterable[Mapping] = (), *,
               excel_safe: bool = False) -> AccountTables:
        """Make the tables and stage them in the run's ``outputs``.  ``campaign_members``
        are the rows of the campaigns the run found (``campaign``, ``post_id``, ``handle``,
        ``account``, ...: :func:`classifier.campaign_files.campaign_rows`): each account
        lists its campaigns, and the database gets them with those of ``post_campaigns``."""
        if self.sink is None:
            tables = self._tables(campaign_members)
        else:
            # The database needs the rows again: they pass once, into a store on disk
            # (a large dump's campaign posts, held as rows, would outgrow the run).
            with MemberStore(self.sink.temp_folder) as store:
                store.add(campaign_members_of(self.builder.post_campaigns))
                tables = self._tables(store.passing(campaign_members))
                self.sink.finish(tables, store)
        if self.csv_paths is not None:
            write_tables_csv(outputs, tables, *self.csv_paths, excel_safe=excel_safe)
        return tables

    def _tables(self, campaign_members: Iterable[Mapping]) -> AccountTables:
        self.builder.add_campaign_members(
            (account_key(str(m.get("handle") or ""), str(m.get("account") or "")), str(m["campaign"]))
            for m in campaign_members)
        return self.builder.finish()


def read_campaign_members(path: Path) -> Iterator[dict]:
    """The membership rows of a campaigns CSV (one row per post in a campaign, at least
    ``campaign`` and ``post_id``; ``handle``, ``date``, ``p_wire``, ``similarity`` are used
    when present), read one at a time, each with only the columns the tables use
    (:data:`MEMBER_FIELDS`): the posts' texts stay in the file."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in CAMPAIGN_MEMBER_COLUMNS if name not in (reader.fieldnames or [])]
            if missing:
                raise InputError(path, f"not a campaigns file: missing column {', '.join(missing)}", line=1)
            for row in reader:
                if not row["campaign"] or not row["post_id"]:
                    raise InputError(path, "a row without a campaign or a post_id", line=reader.line_num)
                yield {name: row[name] for name in MEMBER_FIELDS if name in row}
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"cannot read the campaigns file ({exc})") from None


class CampaignsOfPosts:
    """post_id -> the campaign ids a campaigns file gives it (``get``, as the account
    builder asks), in about 12 bytes a membership: a 64-bit BLAKE2b key of the post id
    and a campaign number, sorted once all are in.  A dict of strings would cost about
    200 bytes a membership, and a gigabyte dump's campaigns hold nearly two million posts.
    (Two post ids sharing a key, about one chance in ten million among ten million posts,
    would share their campaigns.)"""

    def __init__(self) -> None:
        self._keys = array("Q")
        self._numbers = array("q")
        self._names: list[str] = []
        self._number_of: dict[str, int] = {}
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None

    def collect(self, members: Iterable[Mapping]) -> Iterator[Mapping]:
        """Each of ``members`` in turn, its (post, campaign) noted as it passes."""
        for member in members:
            campaign = str(member["campaign"])
            number = self._number_of.get(campaign)
            if number is None:
                number = self._number_of[campaign] = len(self._names)
                self._names.append(campaign)
            self._keys.append(text_key(str(member["post_id"])))
            self._numbers.append(number)
            yield member

    def get(self, post_id: str, default: list[str] | None = None) -> list[str] | None:
        if self._sorted is None:
            keys = np.frombuffer(self._keys, dtype=np.uint64)
            order = np.argsort(keys, kind="stable")
            self._sorted = keys[order], np.frombuffer(self._numbers, dtype=np.int64)[order]
            self._keys, self._numbers = array("Q"), array("q")
        keys, numbers = self._sorted
        key = np.uint64(text_key(post_id))
        first = int(np.searchsorted(keys, key, "left"))
        if first == keys.size or keys[first] != key:
            return default
        last = int(np.searchsorted(keys, key, "right"))
        return [self._names[n] for n in numbers[first:last]]


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
    scores = Path(scores)
    if not scores.exists():
        raise InputError(scores, "no such file")
    folder = Path(folder) if folder is not None else (scores if scores.is_dir() else scores.parent)
    accounts_csv, days_csv = derived_path(scores, ACCOUNTS_SUFFIX, folder), derived_path(scores, DAYS_SUFFIX, folder)
    for path in [accounts_csv, days_csv] + [Path(p) for p in (sqlite,) if p is not None]:
        check_output_path(path, inputs=[scores, *([campaigns] if campaigns else [])], protected=["labels"], force=force)
    post_campaigns = CampaignsOfPosts()
    with contextlib.ExitStack() as stack:
        # The campaigns file's rows pass once, into a store on disk (the database tables
        # read them again) and into the post -> campaign lookup the builder asks.
        members: MemberStore | tuple = ()
        if campaigns:
            members = stack.enter_context(MemberStore(folder))
            members.add(post_campaigns.collect(read_campaign_members(Path(campaigns))))
        builder = AccountsBuilder(tz=tz, change_threshold=change_threshold, min_half_posts=min_half_posts,
                                  post_campaigns=post_campaigns, folder=folder)
        tables = _write_account_tables(scores, builder, members, accounts_csv, days_csv, sqlite, parquet,
                                       force=force, excel_safe=excel_safe)
    return AccountsRun(tables, accounts_csv, days_csv, Path(sqlite) if sqlite else None,
                       Path(parquet) if parquet else None)


def _write_account_tables(scores: Path, builder: AccountsBuilder, members: MemberStore | tuple, accounts_csv: Path,
                          days_csv: Path, sqlite: str | Path | None, parquet: str | Path | None, *, force: bool,
                          excel_safe: bool) -> AccountTables:
    """One pass over the scores file into ``builder`` (and the databases asked for), then
    every table written, all files or none."""
    from .database import open_tables

    with all_or_none() as outputs:  # every output is put in place together, or none
        sinks = []
        if sqlite is not None:
            sinks.append(open_tables(outputs, Path(sqlite), "sqlite", force=force))
        if parquet is not None:
            sinks.append(open_tables(outputs, Path(parquet), "parquet", force=force))
        for post, segments in builder.add_rows(ScoreReader(scores)):
            for sink in sinks:
                sink.add_post(post, segments)
        tables = builder.finish()
        for sink in sinks:
            sink.finish(tables, members)
        write_tables_csv(outputs, tables, accounts_csv, days_csv, excel_safe=excel_safe)
    return tables
