"""Campaign membership rows on disk, for the database tables written at the end of a run.

A dump of millions of posts can put a million of them in campaigns.  The campaigns CSV
streams its rows, but the database's ``campaigns`` and ``campaign_posts`` tables need
them twice (each (campaign, post) once, and a summary per campaign), and the account
tables need them too: held as dicts, with their texts, they would cost more memory than
the rest of the run.  So they pass once into a temporary SQLite file (stdlib) that keeps
what those tables use, each (campaign, post) once, and are read back from it in order,
a campaign at a time.  The file lies beside the outputs, named as every temporary file of
postcred is (:func:`classifier.outputs.temp_beside`), and is removed when the store
closes or the process ends.  :func:`scratch_database` makes such a file for the other
things a run keeps in SQLite until its end (the rows of a Parquet run,
:mod:`classifier.database`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import weakref
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

from .errors import OutputError
from .outputs import temp_beside

#: What the store keeps of a membership row (:func:`classifier.campaign_files.campaign_rows`
#: has more): what the database's campaign tables and the account tables use.
FIELDS = ("campaign", "post_id", "account", "handle", "date", "p_wire", "similarity")
_BATCH = 4096
_PLAIN = (str, int, float, type(None))


class MemberStore:
    """Campaign membership rows, each (campaign, post) once (the first one given), kept in
    a temporary SQLite file and read back in the order they came."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder or tempfile.gettempdir())
        self._db, self._finalizer = scratch_database(self, self.folder, "campaign-members", self._failed)
        columns = ", ".join(f'"{name}"' + (" TEXT NOT NULL" if name in FIELDS[:2] else "") for name in FIELDS)
        try:
            self._db.execute(f'CREATE TABLE members ({columns}, UNIQUE ("campaign", "post_id"))')
        except sqlite3.Error as exc:
            self.close()
            raise self._failed(exc) from None
        self._insert = f"INSERT OR IGNORE INTO members VALUES ({', '.join('?' * len(FIELDS))})"

    def _failed(self, exc: Exception) -> OutputError:
        return OutputError(f"{self.folder}: cannot write the temporary file of the campaign tables "
                           f"({getattr(exc, 'strerror', None) or exc}); free some space there or score with --no-campaigns")

    def add(self, members: Iterable[Mapping]) -> None:
        """Store membership rows (``campaign``, ``post_id`` and any of the other
        :data:`FIELDS`); a (campaign, post) already stored keeps its first row."""
        for _ in self.passing(members):
            pass

    def passing(self, members: Iterable[Mapping]) -> Iterator[Mapping]:
        """Each of ``members`` in turn, stored as it passes: one pass over rows that are
        made as they are read (a campaign's posts read back from disk) feeds both the
        store and another consumer.  The last rows are stored when the iteration ends."""
        batch = []
        for member in members:
            batch.append(_values(member))
            if len(batch) >= _BATCH:
                self._execute_many(batch)
                batch = []
            yield member
        self._execute_many(batch)

    def _execute_many(self, rows: list[tuple]) -> None:
        try:
            self._db.executemany(self._insert, rows)
        except sqlite3.Error as exc:  # a full disk, a quota
            raise self._failed(exc) from None

    def members(self) -> Iterator[dict]:
        """Every (campaign, post) once, as a row of :data:`FIELDS`, in the order given."""
        yield from self._rows(f"SELECT {_columns()} FROM members ORDER BY rowid")

    def by_campaign(self) -> Iterator[tuple[str, list[dict]]]:
        """(campaign, its rows) for every campaign, campaigns in the order they were first
        given and each one's rows in the order given; one campaign's rows in memory at a
        time."""
        query = (f"SELECT {_columns('m.')} FROM members AS m JOIN "
                 '(SELECT "campaign", MIN(rowid) AS first FROM members GROUP BY "campaign") AS g '
                 'ON g."campaign" = m."campaign" ORDER BY g.first, m.rowid')
        for campaign, rows in groupby(self._rows(query), key=itemgetter("campaign")):
            yield campaign, list(rows)

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM members").fetchone()[0]

    def _rows(self, query: str) -> Iterator[dict]:
        cursor = self._db.execute(query)
        while batch := cursor.fetchmany(_BATCH):
            for values in batch:
                yield dict(zip(FIELDS, values))

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> "MemberStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def scratch_database(owner: object, folder: Path, name: str,
                     failed: Callable[[Exception], Exception]) -> tuple[sqlite3.Connection, weakref.finalize]:
    """A new SQLite file for what a run keeps until its end, in ``folder`` (named as every
    temporary file of postcred is), set up for speed rather than safety (nothing in it
    outlives the run); and the finalizer that closes and removes it, at the latest when
    ``owner`` goes (call it to close).  ``failed`` turns an error into the one the caller
    raises."""
    try:
        path = temp_beside(folder / name)
    except OSError as exc:
        raise failed(exc) from None
    try:
        db = sqlite3.connect(path)
    except sqlite3.Error as exc:
        _close_and_remove(None, path)
        raise failed(exc) from None
    finalizer = weakref.finalize(owner, _close_and_remove, db, path)
    try:
        db.execute("PRAGMA journal_mode = OFF")  # a scratch file: nothing to roll back to
        db.execute("PRAGMA synchronous = OFF")
    except sqlite3.Error as exc:
        finalizer()
        raise failed(exc) from None
    return db, finalizer


@contextlib.contextmanager
def stored_members(members: Iterable[Mapping] | MemberStore, folder: str | Path | None) -> Iterator[MemberStore]:
    """``members`` as a :class:`MemberStore`: the store itself if it is one (its owner
    closes it), else a new one in ``folder`` holding them, closed on leaving."""
    if isinstance(members, MemberStore):
        yield members
        return
    with MemberStore(folder) as store:
        store.add(members)
        yield store


def _values(member: Mapping) -> tuple:
    values = [str(member["campaign"]), str(member["post_id"])]
    for name in FIELDS[2:]:
        value = member.get(name)
        values.append(value if isinstance(value, _PLAIN) else str(value))
    return tuple(values)


def _columns(prefix: str = "") -> str:
    return ", ".join(f'{prefix}"{name}"' for name in FIELDS)


def _close_and_remove(db: sqlite3.Connection | None, path: Path) -> None:
    if db is not None:
        with contextlib.suppress(sqlite3.Error):
            db.close()
    with contextlib.suppress(OSError):
        os.unlink(path)
