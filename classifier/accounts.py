"""Accounts over time: a profile per account and per account-day, from scored segments.

The input is any iterable of scored segment rows in input order: the JSON rows
(:func:`~classifier.scored.json_row`) of the records :func:`~classifier.scoring.score_file`
returns, or the rows of a scores file read back by :class:`~classifier.scorefile.ScoreReader`
(CSV cells or JSONL values; both work).  One
streaming pass groups the segments into posts (:class:`ScoredPost`), counts each post for
its account (:class:`AccountColumns`, a few numbers per account in memory) and puts its
numbers aside on disk for its day (:class:`DayLedger`), so memory grows with accounts only,
never with posts or account-days.  :meth:`AccountsBuilder.finish` then reads the posts back
an account at a time and derives, per account, the burst days, the weekly trend of its
partisan share and the change between the halves of its activity (:class:`AccountTables`).

**A post is the unit.**  A post's ``p_wire`` is its own text's: the mean of its
``post``-role segments (one in almost every dump; a timeline post whose text runs over
several lines has more), or of all its segments when it has none (a hashtag-only post).
Its techniques and markers are those of its own words (``post`` and ``hashtags`` roles).
The article paragraphs under a post (role ``body``) are the linked article, not the
account's voice: they count as the account's segments and nothing else.

**Time.**  A date with a time is converted to the dump's time zone (default Asia/Tokyo)
before it is cut into a day and an hour; a time without an offset is taken as already in
that zone; a date alone (the pasted timeline) gives the day and no hour.  ``timed_posts``
says how many posts had a time.  A post without a date counts in ``undated_posts`` only.
"""

from __future__ import annotations

import pickle
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from .account_stats import median, poisson_tail, theil_sen_slope, two_proportion_p, wilson_interval
from .markers import SOURCING
from .scored import ScoredSegment
from .spill import ACCOUNTS, ColumnFile, SpillFile
from .technique_counts import format_technique_counts, technique_counts_of

DEFAULT_TZ = "Asia/Tokyo"
#: A post is partisan when its p_wire is below this (the scores file's label rule).
PARTISAN_BELOW = 0.5
#: Techniques listed per account (the day rows list all of them).
TOP_TECHNIQUES = 5
UNKNOWN_ACCOUNT = "(unknown)"
#: Roles that are the account's own words (``body`` is an article under the post).
OWN_ROLES = frozenset({"post", "hashtags"})

# Bursts: a day is tested against the median of the account's daily post counts over the
# BURST_WINDOW calendar days before it (days without posts count as 0; days before the
# account's first post do not count), floored at BURST_MIN_RATE posts a day.
BURST_WINDOW = 14
#: Prior days (since the account's first post) a day needs before it can be a burst.
BURST_MIN_HISTORY = 7
BURST_MIN_POSTS = 5
BURST_MIN_RATE = 1.0
BURST_P = 0.001

#: The change flag: the partisan share moved by more than the threshold between the first
#: and the second half of an account's active span, each half holding at least the minimum
#: of posts, and a two-proportion test puts the move beyond chance (p < CHANGE_P), so that
#: an account of a dozen posts is not flagged for a coin's swing.
DEFAULT_CHANGE_THRESHOLD = 0.3
DEFAULT_MIN_HALF_POSTS = 5
CHANGE_P = 0.01

#: Columns of the tables (name, type: TEXT, INTEGER, REAL or BOOLEAN): each table's schema
#: is defined here once and used by the CSV, SQLite and Parquet writers.
ACCOUNT_COLUMNS = (
    ("handle", "TEXT"), ("display_name", "TEXT"), ("posts", "INTEGER"), ("segments", "INTEGER"),
    ("undated_posts", "INTEGER"), ("timed_posts", "INTEGER"), ("first_date", "TEXT"), ("last_date", "TEXT"),
    ("active_days", "INTEGER"), ("posts_per_active_day", "REAL"), ("mean_p_wire", "REAL"),
    ("partisan_share", "REAL"), ("partisan_low", "REAL"), ("partisan_high", "REAL"), ("marker_share", "REAL"),
    ("sourced_share", "REAL"), ("top_techniques", "TEXT"), ("campaigns", "TEXT"), ("bursts", "INTEGER"),
    ("trend_per_week", "REAL"), ("share_first_half", "REAL"), ("share_second_half", "REAL"),
    ("change", "REAL"), ("change_p", "REAL"), ("changed", "BOOLEAN"),
)
DAY_COLUMNS = (
    ("handle", "TEXT"), ("date", "TEXT"), ("posts", "INTEGER"), ("timed_posts", "INTEGER"), ("mean_p_wire", "REAL"),
    ("partisan_share", "REAL"), ("marker_share", "REAL"), ("sourced_share", "REAL"), ("techniques", "TEXT"),
    ("hours", "TEXT"), ("baseline", "REAL"), ("burst_p", "REAL"), ("burst", "BOOLEAN"),
)
POST_COLUMNS = (
    ("post_id", "TEXT"), ("handle", "TEXT"), ("display_name", "TEXT"), ("dump", "TEXT"), ("record", "INTEGER"),
    ("date", "TEXT"), ("day", "TEXT"), ("hour", "INTEGER"), ("kind", "TEXT"), ("p_wire", "REAL"),
    ("label", "TEXT"), ("segments", "INTEGER"), ("techniques", "TEXT"), ("propaganda", "BOOLEAN"),
    ("sourced", "BOOLEAN"),
)


def time_zone(name: str) -> ZoneInfo:
    """The named IANA time zone (``Asia/Tokyo``, ``UTC``, ``Europe/Berlin``).

    Raises
    ------
    ValueError
        The name is not a time zone this system knows.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as Asia/Tokyo or UTC") from None


def local_day_hour(value: str, tz: ZoneInfo) -> tuple[date | None, int | None]:
    """The day and hour of an ISO date in ``tz``: ``(day, hour)``, ``(day, None)`` for a
    date without a time, ``(None, None)`` for an empty or unreadable one.

    >>> local_day_hour("2024-11-04T20:30:00+00:00", ZoneInfo("Asia/Tokyo"))
    (datetime.date(2024, 11, 5), 5)
    """
    value = (value or "").strip()
    if not value:
        return None, None
    try:
        if len(value) == 10:
            return date.fromisoformat(value), None
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None, None
    if moment.tzinfo is not None:
        moment = moment.astimezone(tz)
    return moment.date(), moment.hour


def account_key(handle: str, display_name: str) -> str:
    """What identifies an account: its @handle, else its display name, else ``(unknown)``."""
    return handle or display_name or UNKNOWN_ACCOUNT


@dataclass(frozen=True, slots=True)
class ScoredPost:
    """One post, folded from its scored segments: the unit of the account tables."""

    post_id: str
    handle: str
    display_name: str
    dump: str
    record: int | None
    date: str
    day: date | None
    hour: int | None
    kind: str
    p_wire: float
    segments: int
    techniques: tuple[tuple[str, int], ...]

    #: Any propaganda marker in the post's own words (credibility markers aside).
    propaganda: bool
    #: Any credibility (sourcing) marker in the post's own words.
    sourced: bool

    @property
    def partisan(self) -> bool:
        return self.p_wire < PARTISAN_BELOW

    @property
    def label(self) -> str:
        return "partisan" if self.partisan else "wire"

    def to_row(self) -> dict:
        """The post as a row of the posts table (:data:`POST_COLUMNS`)."""
        return {
            "post_id": self.post_id, "handle": self.handle, "display_name": self.display_name, "dump": self.dump,
            "record": self.record, "date": self.date, "day": self.day.isoformat() if self.day else "",
            "hour": self.hour, "kind": self.kind, "p_wire": round(self.p_wire, 4), "label": self.label,
            "segments": self.segments, "techniques": format_technique_counts(dict(self.techniques)),
            "propaganda": self.propaganda, "sourced": self.sourced,
        }


def fold_post(segments: list[Mapping], tz: ZoneInfo) -> ScoredPost:
    """One post from its segment rows (see the module docstring for the rules)."""
    first = segments[0]
    own = [s for s in segments if s.get("role") == "post"] or segments
    p_wire = sum(float(s["p_wire"]) for s in own) / len(own)
    techniques: Counter = Counter()
    for segment in segments:
        if segment.get("role") in OWN_ROLES:
            techniques.update(technique_counts_of(segment.get("techniques")))
    record = first.get("record")
    date_text = str(first.get("date") or "")
    day, hour = local_day_hour(date_text, tz)
    handle = str(first.get("handle") or "")
    display_name = str(first.get("account") or "")
    return ScoredPost(
        post_id=str(first.get("post_id") or f"{first.get('dump', '')}#{record}"),
        handle=account_key(handle, display_name),
        display_name=display_name,
        dump=str(first.get("dump") or ""),
        record=int(record) if record not in (None, "") else None,
        date=date_text,
        day=day,
        hour=hour,
        kind=str(first.get("kind") or "post"),
        p_wire=p_wire,
        segments=len(segments),
        techniques=tuple(sorted(techniques.items(), key=lambda item: (-item[1], item[0]))),
        propaganda=any(name != SOURCING for name in techniques),
        sourced=SOURCING in techniques,
    )


def record_row(record: ScoredSegment) -> dict:
    """The fields of a scored record that the account tables read, as a segment row (the
    scores file's values of these columns, without formatting the rest)."""
    return {
        "dump": record.dump, "record": record.record, "post_id": record.post_id, "account": record.account,
        "handle": record.handle, "date": record.date, "role": record.role, "kind": record.kind,
        "p_wire": record.p_wire, "techniques": dict(record.techniques),
    }


def record_posts(records: Sequence[ScoredSegment], tz: ZoneInfo) -> list[ScoredPost]:
    """The posts of a chunk of scored records (a chunk holds whole posts): what the scoring
    kernel sends back for the account tables, where the chunk was scored."""
    return [post for post, _ in iter_posts(map(record_row, records), tz)]


def iter_posts(rows: Iterable[Mapping], tz: ZoneInfo) -> Iterator[tuple[ScoredPost, list[Mapping]]]:
    """Each post with its segment rows: a post is a run of consecutive segments of the same
    record (scores files keep a post's segments together, in every engine)."""
    current: list[Mapping] = []
    current_key = None
    for row in rows:
        key = (row.get("dump"), row.get("record"), row.get("post_id"))
        if current and key != current_key:
            yield fold_post(current, tz), current
            current = []
        current_key = key
        current.append(row)
    if current:
        yield fold_post(current, tz), current


class Tally:
    """Post counts and sums of a set of posts (an account-day, an account, a half).

    Slotted, with the technique and hour counts made only when a post has any: an
    account-day is the unit of memory, and a dump can hold millions of them."""

    __slots__ = ("posts", "timed", "p_sum", "partisan", "propaganda", "sourced", "techniques", "hours")

    def __init__(self) -> None:
        self.posts = self.timed = self.partisan = self.propaganda = self.sourced = 0
        self.p_sum = 0.0
        self.techniques: dict[str, int] | None = None
        self.hours: dict[int, int] | None = None

    def add(self, post: ScoredPost) -> None:
        self.add_numbers(post.p_wire, post.partisan, post.propaganda, post.sourced, post.hour, post.techniques)

    def add_numbers(self, p_wire: float, partisan: bool, propaganda: bool, sourced: bool, hour: int | None,
                    techniques: Iterable[tuple[str, int]]) -> None:
        """Add one post, given by the numbers a tally reads of it."""
        self.posts += 1
        self.p_sum += p_wire
        self.partisan += partisan
        self.propaganda += propaganda
        self.sourced += sourced
        if hour is not None:
            self.timed += 1
            if self.hours is None:
                self.hours = {}
            self.hours[hour] = self.hours.get(hour, 0) + 1
        if techniques:
            self._count(techniques)

    def merge(self, other: "Tally") -> None:
        self.posts += other.posts
        self.timed += other.timed
        self.p_sum += other.p_sum
        self.partisan += other.partisan
        self.propaganda += other.propaganda
        self.sourced += other.sourced
        if other.techniques:
            self._count(other.techniques.items())
        if other.hours:
            if self.hours is None:
                self.hours = {}
            for hour, count in other.hours.items():
                self.hours[hour] = self.hours.get(hour, 0) + count

    def _count(self, items: Iterable[tuple[str, int]]) -> None:
        if self.techniques is None:
            self.techniques = {}
        for name, count in items:
            self.techniques[name] = self.techniques.get(name, 0) + count

    def share(self, count: int) -> float | None:
        return round(count / self.posts, 4) if self.posts else None

    def ranked_techniques(self, *, credibility: bool = True) -> dict[str, int]:
        """Technique counts, most frequent first (ties by name); ``credibility=False``
        leaves the credibility side (``Sourcing``) out."""
        ranked = sorted((self.techniques or {}).items(), key=lambda item: (-item[1], item[0]))
        return {name: count for name, count in ranked if credibility or name != SOURCING}


class DayLedger:
    """The numbers of every dated post of a pass, kept on disk while the posts stream in,
    and read back at the end account by account, each account's posts grouped into days.

    Per post (:data:`LEDGER_COLUMNS`): the account's number, the day, the hour (-1: none),
    p_wire and the three flags; its techniques go to a second file, one row per (post,
    technique).  Nothing grows in memory with the posts or the account-days: a dump of a
    year of posts by many accounts has about as many account-days as posts (3.5 million
    posts of 20,000 accounts: 2.8 million), and holding a row per account-day in memory
    grew a run by about 300 bytes a post.  :meth:`arrange` sorts the files by the order
    the tables list the accounts in, then day, then input order, so that :meth:`accounts`
    reads them back front to back, one account's posts at a time.
    """

    #: Posts buffered in memory before a block is written.
    BLOCK = 16_384

    def __init__(self, folder: str | Path | None = None) -> None:
        #: Where the files go: ``folder`` when it is one, else the system's temporary folder.
        self.folder = folder if folder is not None and Path(folder).is_dir() else None
        self.posts = 0
        self._technique_ids: dict[str, int] = {}
        self.technique_names: list[str] = []
        self._buffer = {name: array(code) for name, code in _LEDGER_CODES.items()}
        self._technique_buffer = {name: array(code) for name, code in _TECHNIQUE_CODES.items()}
        self._files: tuple[ColumnFile, ColumnFile] | None = None
        self._arranged: tuple[ColumnFile, ColumnFile, np.ndarray, np.ndarray] | None = None
        self._accounts = 0

    def add(self, account: int, post: ScoredPost) -> None:
        """Put a dated post aside for account number ``account``."""
        buffer = self._buffer
        buffer["post"].append(self.posts)
        buffer["account"].append(account)
        buffer["day"].append(post.day.toordinal())
        buffer["hour"].append(-1 if post.hour is None else post.hour)
        buffer["p_wire"].append(post.p_wire)
        buffer["partisan"].append(post.partisan)
        buffer["propaganda"].append(post.propaganda)
        buffer["sourced"].append(post.sourced)
        for name, count in post.techniques:
            number = self._technique_ids.get(name)
            if number is None:
                number = self._technique_ids[name] = len(self.technique_names)
                self.technique_names.append(name)
            self._technique_buffer["post"].append(self.posts)
            self._technique_buffer["technique"].append(number)
            self._technique_buffer["count"].append(count)
        self.posts += 1
        if len(buffer["post"]) >= self.BLOCK:
            self._flush()

    def _flush(self) -> None:
        if self._files is None:
            self._files = (ColumnFile(self.folder, "account-posts", LEDGER_COLUMNS, ACCOUNTS),
                           ColumnFile(self.folder, "account-techniques", TECHNIQUE_COLUMNS, ACCOUNTS))
        posts, techniques = self._files
        posts.append(**{name: np.frombuffer(column, dtype=LEDGER_COLUMNS[name]) for name, column in self._buffer.items()})
        techniques.append(**{name: np.frombuffer(column, dtype=TECHNIQUE_COLUMNS[name])
                             for name, column in self._technique_buffer.items()})
        self._buffer = {name: array(code) for name, code in _LEDGER_CODES.items()}
        self._technique_buffer = {name: array(code) for name, code in _TECHNIQUE_CODES.items()}

    def arrange(self, rank: np.ndarray) -> None:
        """Sort the posts by ``rank[account]`` (where the tables list the account), day and
        input order, and their technique rows with them, into new files (the old ones let
        go); a column at a time, so that at most a few arrays of one number per post are
        in memory at once."""
        self._accounts = len(rank)
        if not self.posts:
            return
        self._flush()
        posts, techniques = self._files
        self._files = None
        accounts = rank[posts.column("account")]
        per_rank = np.bincount(accounts, minlength=len(rank))
        key = accounts.astype(np.int64) << 32
        del accounts
        key |= posts.column("day").astype(np.int64)
        order = np.argsort(key, kind="stable")  # stable: a day's posts stay in input order
        del key
        sorted_posts = ColumnFile(self.folder, "account-posts-sorted", LEDGER_COLUMNS, ACCOUNTS)
        sorted_posts.append_by_column(len(order), lambda name: posts.column(name)[order])
        posts.close()
        place = np.empty(len(order), dtype=np.int64)
        place[order] = np.arange(len(order))  # where each post (by input number) now stands
        del order
        technique_place = place[techniques.column("post")]
        del place
        technique_order = np.argsort(technique_place, kind="stable")
        per_post = np.bincount(technique_place, minlength=self.posts)
        del technique_place
        sorted_techniques = ColumnFile(self.folder, "account-techniques-sorted", TECHNIQUE_COLUMNS, ACCOUNTS)
        sorted_techniques.append_by_column(len(technique_order), lambda name: techniques.column(name)[technique_order])
        techniques.close()
        technique_ends = np.concatenate([[0], np.cumsum(per_post)])
        self._arranged = (sorted_posts, sorted_techniques, np.cumsum(per_rank), technique_ends)

    def accounts(self) -> Iterator[tuple[dict[str, np.ndarray], list[tuple[str, int]], np.ndarray]]:
        """Per account, in the order of :meth:`arrange`'s ranks: its posts (a column per
        name of :data:`LEDGER_COLUMNS`, by day then input order), its technique rows as
        (name, count) pairs, and where each post's rows begin among them (one more entry
        than posts)."""
        if self._arranged is None:
            empty = {name: np.zeros(0, dtype=dtype) for name, dtype in LEDGER_COLUMNS.items()}
            for _ in range(self._accounts):
                yield empty, [], np.zeros(1, dtype=np.int64)
            return
        posts, techniques, post_ends, technique_ends = self._arranged
        names = self.technique_names
        post_ends = post_ends.tolist()
        starts = [0, *post_ends[:-1]]
        technique_rows = _slices(techniques, technique_ends[post_ends].tolist())
        for start, end, columns, rows in zip(starts, post_ends, _slices(posts, post_ends), technique_rows):
            pairs = [(names[t], c) for t, c in zip(rows["technique"].tolist(), rows["count"].tolist())]
            yield columns, pairs, technique_ends[start:end + 1] - technique_ends[start]


#: Rows of a ledger file read at a time at the end (:func:`_slices`).
WINDOW_ROWS = 1 << 16


def _slices(source: ColumnFile, ends: list[int]) -> Iterator[dict[str, np.ndarray]]:
    """The consecutive row ranges of ``source`` that end at each of ``ends`` (ascending),
    the first starting at row 0: read :data:`WINDOW_ROWS` rows or more at a time, not a
    range at a time (an account often has a post or two)."""
    loaded = source.read_rows(0, 0)
    low = high = start = 0
    for end in ends:
        if end > high:
            low, high = start, max(end, min(start + WINDOW_ROWS, source.rows))
            loaded = source.read_rows(low, high)
        yield {name: column[start - low:end - low] for name, column in loaded.items()}
        start = end


#: The per-post columns of a :class:`DayLedger` (with ``array`` codes to buffer them in).
LEDGER_COLUMNS = {"post": np.int64, "account": np.int32, "day": np.int32, "hour": np.int8, "p_wire": np.float64,
                  "partisan": np.bool_, "propaganda": np.bool_, "sourced": np.bool_}
_LEDGER_CODES = {"post": "q", "account": "i", "day": "i", "hour": "b", "p_wire": "d", "partisan": "B",
                 "propaganda": "B", "sourced": "B"}
TECHNIQUE_COLUMNS = {"post": np.int64, "technique": np.int32, "count": np.int64}
_TECHNIQUE_CODES = {"post": "q", "technique": "i", "count": "q"}


def day_tallies(columns: dict[str, np.ndarray], techniques: list[tuple[str, int]], technique_ends: np.ndarray
                ) -> dict[date, Tally]:
    """One account's posts (a :meth:`DayLedger.accounts` item) as a :class:`Tally` per
    day, the days in the order their first post came, each day's posts added in input
    order (as the pass would have added them)."""
    days: dict[int, Tally] = {}
    firsts: dict[int, int] = {}
    rows = zip(columns["post"].tolist(), columns["day"].tolist(), columns["hour"].tolist(),
               columns["p_wire"].tolist(), columns["partisan"].tolist(), columns["propaganda"].tolist(),
               columns["sourced"].tolist())
    ends = technique_ends.tolist()
    for k, (post, day, hour, p_wire, partisan, propaganda, sourced) in enumerate(rows):
        tally = days.get(day)
        if tally is None:
            tally = days[day] = Tally()
            firsts[day] = post
        tally.add_numbers(p_wire, partisan, propaganda, sourced, None if hour < 0 else hour,
                          techniques[ends[k]:ends[k + 1]])
    return {date.fromordinal(day): days[day] for day in sorted(days, key=firsts.__getitem__)}


@dataclass(slots=True)
class AccountTally:
    """One account as the tables are made of it at the end: what the pass kept of it in
    :class:`AccountColumns` (counts, latest display name, campaigns, a tally of its
    undated posts) and its days (date -> :class:`Tally`, read from the pass's
    :class:`DayLedger`), made one account at a time."""

    handle: str
    number: int = 0
    display_name: str = ""
    segments: int = 0
    posts: int = 0
    undated: Tally | None = None
    days: dict[date, Tally] = field(default_factory=dict)
    campaigns: set[str] | None = None

    @property
    def undated_posts(self) -> int:
        return self.undated.posts if self.undated is not None else 0

    def total(self) -> Tally:
        total = Tally()
        if self.undated is not None:
            total.merge(self.undated)
        for day in self.days.values():
            total.merge(day)
        return total


class CampaignLinks:
    """Which campaigns each account is in: one 64-bit integer a link (the account's number
    in the high half, the campaign's in the low half), each campaign id kept once.  A run
    whose campaigns hold millions of posts links an account to each of its campaigns; a
    set of ids per account cost about 60 bytes a link."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}
        self._ids: list[str] = []
        self._links = array("q")  # joined since the last look-up
        self._sorted = np.zeros(0, np.int64)  # every link before it, each once, in order

    def join(self, account: int, campaigns: Iterable[str]) -> None:
        for campaign in campaigns:
            number = self._numbers.get(campaign)
            if number is None:
                number = self._numbers[campaign] = len(self._ids)
                self._ids.append(campaign)
            self._links.append(account << 32 | number)

    def of(self, account: int) -> set[str] | None:
        """The account's campaign ids (None: it is in none)."""
        if self._links:
            self._sorted = np.unique(np.concatenate((self._sorted, np.frombuffer(self._links, dtype=np.int64))))
            self._links = array("q")
        lo, hi = np.searchsorted(self._sorted, [account << 32, (account + 1) << 32]).tolist()
        if lo == hi:
            return None
        return {self._ids[number] for number in (self._sorted[lo:hi] & 0xFFFFFFFF).tolist()}


class AccountColumns:
    """What a pass keeps in memory of each account, as columns indexed by the account's
    number (its posts' account in the :class:`DayLedger`): a dump may hold hundreds of
    thousands of accounts of a post or two, and an object per account cost twice as much.
    The undated posts' tallies and the campaigns are kept only for the accounts that
    have any."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}
        self.handles: list[str] = []
        self.display_names: list[str] = []
        #: When ``display_names[k]`` was seen: day ordinal x 25 + hour + 1 (0 without an
        #: hour); -1 before any.
        self.name_seen = array("q")
        self.posts = array("q")
        self.segments = array("q")
        self.undated: dict[int, Tally] = {}
        self.campaigns = CampaignLinks()

    def __len__(self) -> int:
        return len(self.handles)

    def number(self, handle: str) -> int:
        """The account's number, a new one for a handle not seen before."""
        number = self.numbers.get(handle)
        if number is None:
            number = self.numbers[handle] = len(self.handles)
            self.handles.append(handle)
            self.display_names.append("")
            self.name_seen.append(-1)
            self.posts.append(0)
            self.segments.append(0)
        return number

    def add(self, post: ScoredPost) -> int:
        """Count ``post`` for its account; returns the account's number."""
        number = self.number(post.handle)
        self.segments[number] += post.segments
        self.posts[number] += 1
        when = (post.day or date.min).toordinal() * 25 + (0 if post.hour is None else post.hour + 1)
        if post.display_name and when >= self.name_seen[number]:
            self.display_names[number], self.name_seen[number] = post.display_name, when  # the name on its latest post
        if post.day is None:
            self.undated.setdefault(number, Tally()).add(post)
        return number

    def join_campaigns(self, number: int, campaigns: Iterable[str]) -> None:
        self.campaigns.join(number, campaigns)

    def ranked(self) -> list[int]:
        """The account numbers in the tables' order: most posts first, then by handle."""
        posts, handles = self.posts, self.handles
        return sorted(range(len(handles)), key=lambda k: (-posts[k], handles[k]))

    def tally(self, number: int) -> AccountTally:
        """The account's :class:`AccountTally`, without its days."""
        return AccountTally(self.handles[number], number, self.display_names[number], self.segments[number],
                            self.posts[number], self.undated.get(number), {}, self.campaigns.of(number))


class DayRows:
    """The account-day rows of :class:`AccountTables`, made an account at a time each time
    they are read (a CSV, the database, the report read them once each), so that they are
    never all in memory at once: iterate over them, ``len()`` counts them."""

    __slots__ = ("_opened", "_count")

    def __init__(self, opened: Callable[[], Iterator[AccountTally]], count: int) -> None:
        self._opened, self._count = opened, count

    def __iter__(self) -> Iterator[dict]:
        for account in self._opened():
            yield from account_days(account)

    def __len__(self) -> int:
        return self._count


class AccountRows:
    """The account rows of :class:`AccountTables` (dicts with the columns of
    :data:`ACCOUNT_COLUMNS`), kept as tuples and, past :data:`BLOCK` rows, on disk a block at
    a time: a dump may hold hundreds of thousands of accounts, and a row held as a dict
    costs about 1.5 KB.  Iterate over them, ``len()`` counts them, ``rows[i]`` is one."""

    #: Rows pickled to the temporary file at a time.
    BLOCK = 4096
    _NAMES = tuple(name for name, _ in ACCOUNT_COLUMNS)

    def __init__(self, folder: str | Path | None = None) -> None:
        self._folder = folder
        self._file: SpillFile | None = None
        self._blocks: list[tuple[int, int]] = []  # (where, bytes) of each pickled block
        self._tail: list[tuple] = []
        self._count = 0
        self._block_rows = self.BLOCK

    def append(self, row: Mapping) -> None:
        self._tail.append(tuple(row[name] for name in self._NAMES))
        self._count += 1
        if len(self._tail) >= self._block_rows:
            if self._file is None:
                self._file = SpillFile(self._folder, "account-rows", ACCOUNTS)
            data = pickle.dumps(self._tail, protocol=pickle.HIGHEST_PROTOCOL)
            self._blocks.append((self._file.append(data), len(data)))
            self._tail = []

    def _block(self, number: int) -> list[tuple]:
        if number == len(self._blocks):
            return self._tail
        where, size = self._blocks[number]
        return pickle.loads(self._file.read(where, size))  # noqa: S301 (this process's own file)

    def __iter__(self) -> Iterator[dict]:
        names = self._NAMES
        for number in range(len(self._blocks) + 1):
            for values in self._block(number):
                yield dict(zip(names, values))

    def __getitem__(self, index: int) -> dict:
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError("account row index out of range")
        number, within = divmod(index, self._block_rows)
        return dict(zip(self._NAMES, self._block(number)[within]))

    def __len__(self) -> int:
        return self._count


@dataclass
class AccountTables:
    """The account tables of a run: one row per account and one per account-day, as plain
    dicts with the columns of :data:`ACCOUNT_COLUMNS` and :data:`DAY_COLUMNS` (None for an
    empty cell), and what the run's note says about them.  The account rows
    (:class:`AccountRows`) wait on disk once there are many; the day rows
    (:class:`DayRows`) are made as they are read, in account order then date order."""

    accounts: AccountRows
    days: DayRows
    posts: int
    timed_posts: int
    undated_posts: int
    tz: str

    @property
    def day_only(self) -> bool:
        """True when no post carried a time of day (a pasted timeline): no hours exist."""
        return self.timed_posts == 0

    def note(self) -> str:
        """One line on what the tables cover."""
        bursts = changed = 0
        for row in self.accounts:  # one pass: the rows may be read back from disk
            bursts += row["bursts"]
            changed += row["changed"]
        parts = [f"accounts {len(self.accounts):,}, posts {self.posts:,}, account-days {len(self.days):,}",
                 f"bursts {bursts:,}", f"changed {changed:,}"]
        note = "; ".join(parts)
        if self.undated_posts:
            note += f"; {self.undated_posts:,} posts without a date"
        if self.posts and self.day_only:
            note += "; dates are day-only (no times): no hours"
        elif self.timed_posts:
            note += f"; hours in {self.tz} ({self.timed_posts:,} posts with a time)"
        return note


class AccountsBuilder:
    """Accumulates posts into account tallies in one pass; :meth:`finish` makes the tables.

    Parameters
    ----------
    tz:
        The dump's time zone (an IANA name): times are cut into days and hours there.
    change_threshold, min_half_posts:
        An account is flagged ``changed`` when its partisan share differs by more than
        ``change_threshold`` between the first and second half of its active span, each
        half holding at least ``min_half_posts`` posts.
    post_campaigns:
        post_id -> campaign id, or an iterable of campaign ids, when campaigns are known
        before the pass (an earlier ``postcred campaigns`` run); campaigns found after it
        join through :meth:`add_campaign_members`.

    Examples
    --------
    >>> builder = AccountsBuilder(tz="UTC")
    >>> for post, segments in iter_posts(rows, builder.zone):  # doctest: +SKIP
    ...     builder.add(post)
    >>> tables = builder.finish()  # doctest: +SKIP
    """

    def __init__(self, *, tz: str = DEFAULT_TZ, change_threshold: float = DEFAULT_CHANGE_THRESHOLD,
                 min_half_posts: int = DEFAULT_MIN_HALF_POSTS,
                 post_campaigns: Mapping[str, str | Iterable[str]] | None = None,
                 folder: str | Path | None = None) -> None:
        if not 0 < change_threshold < 1:
            raise ValueError(f"change_threshold must lie between 0 and 1, got {change_threshold}")
        if min_half_posts < 1:
            raise ValueError(f"min_half_posts must be at least 1, got {min_half_posts}")
        self.tz = tz
        self.zone = time_zone(tz)
        self.change_threshold = change_threshold
        self.min_half_posts = min_half_posts
        self.post_campaigns = post_campaigns or {}
        self.accounts = AccountColumns()
        self.ledger = DayLedger(folder)

    def add(self, post: ScoredPost) -> None:
        number = self.accounts.add(post)
        if post.day is not None:
            self.ledger.add(number, post)
        campaigns = self.post_campaigns.get(post.post_id)
        if campaigns is not None:
            self.accounts.join_campaigns(number, campaign_ids(campaigns))

    def add_rows(self, rows: Iterable[Mapping]) -> Iterator[tuple[ScoredPost, list[Mapping]]]:
        """Add the posts of ``rows`` (segment rows), passing each post and its segments on
        (for a writer that stores them as well)."""
        for post, segments in iter_posts(rows, self.zone):
            self.add(post)
            yield post, segments

    def add_campaign_members(self, members: Iterable[tuple[str, str]]) -> None:
        """Join campaigns found after the pass: ``(handle, campaign)`` pairs, the handle as
        in the posts (its account key)."""
        numbers = self.accounts.numbers
        for handle, campaign in members:
            if handle in numbers:
                self.accounts.join_campaigns(numbers[handle], (str(campaign),))

    def finish(self) -> AccountTables:
        """The tables: accounts by posts (most first), days by account and date.

        The account rows are made here, an account's day tallies opened one account at a
        time; the day rows are made from the tallies again each time they are read
        (:class:`DayRows`), so the tables keep the builder's tallies, never every day row."""
        ordered = self.accounts.ranked()
        rank = np.empty(len(ordered), dtype=np.int32)
        rank[ordered] = np.arange(len(ordered), dtype=np.int32)
        self.ledger.arrange(rank)
        account_rows, timed, days, undated = AccountRows(self.ledger.folder), 0, 0, 0
        for opened in self._opened(ordered):
            total, day_rows = opened.total(), account_days(opened)
            account_rows.append(self._account_row(opened, total, day_rows))
            timed += total.timed
            days += len(day_rows)
            undated += opened.undated_posts
        return AccountTables(
            accounts=account_rows,
            days=DayRows(partial(self._opened, ordered), days),
            posts=sum(self.accounts.posts),
            timed_posts=timed,
            undated_posts=undated,
            tz=self.tz,
        )

    def _opened(self, ordered: list[int]) -> Iterator[AccountTally]:
        """The accounts in table order, each with its days (read from the ledger)."""
        for number, (columns, techniques, technique_ends) in zip(ordered, self.ledger.accounts()):
            account = self.accounts.tally(number)
            account.days = day_tallies(columns, techniques, technique_ends)
            yield account

    def _account_row(self, account: AccountTally, total: Tally, days: list[dict]) -> dict:
        active = sorted(account.days)
        partisan_low = partisan_high = None
        if total.posts:
            partisan_low, partisan_high = (round(x, 4) for x in wilson_interval(total.partisan, total.posts))
        dated = total.posts - account.undated_posts
        first_half, second_half = halves(account)
        change = change_p = None
        if first_half.posts >= self.min_half_posts and second_half.posts >= self.min_half_posts:
            change = round(second_half.partisan / second_half.posts - first_half.partisan / first_half.posts, 4)
            change_p = two_proportion_p(first_half.partisan, first_half.posts, second_half.partisan, second_half.posts)
        top = list(total.ranked_techniques(credibility=False).items())[:TOP_TECHNIQUES]
        return {
            "handle": account.handle,
            "display_name": account.display_name,
            "posts": total.posts,
            "segments": account.segments,
            "undated_posts": account.undated_posts,
            "timed_posts": total.timed,
            "first_date": active[0].isoformat() if active else None,
            "last_date": active[-1].isoformat() if active else None,
            "active_days": len(active),
            "posts_per_active_day": round(dated / len(active), 4) if active else None,
            "mean_p_wire": round(total.p_sum / total.posts, 4) if total.posts else None,
            "partisan_share": total.share(total.partisan),
            "partisan_low": partisan_low,
            "partisan_high": partisan_high,
            "marker_share": total.share(total.propaganda),
            "sourced_share": total.share(total.sourced),
            "top_techniques": format_technique_counts(dict(top)),
            "campaigns": "; ".join(sorted(account.campaigns or (), key=_natural)),
            "bursts": sum(row["burst"] for row in days),
            "trend_per_week": weekly_trend(account),
            "share_first_half": first_half.share(first_half.partisan),
            "share_second_half": second_half.share(second_half.partisan),
            "change": change,
            "change_p": None if change_p is None else float(f"{change_p:.3g}"),
            "changed": change is not None and abs(change) > self.change_threshold and change_p < CHANGE_P,
        }


def account_days(account: AccountTally) -> list[dict]:
    """The day rows of one account, in date order, with each day's burst test.

    A day with at least :data:`BURST_MIN_HISTORY` calendar days of the account's history
    before it gets a ``baseline``: the median of the account's post counts on the
    :data:`BURST_WINDOW` days before it (0 on days without posts; days before its first
    post left out), floored at :data:`BURST_MIN_RATE`.  ``burst_p`` is P(X >= posts) for
    X ~ Poisson(baseline), and the day is a ``burst`` when it holds at least
    :data:`BURST_MIN_POSTS` posts and ``burst_p`` < :data:`BURST_P`.
    """
    if not account.days:
        return []
    first = min(account.days)
    rows = []
    for day in sorted(account.days):
        tally = account.days[day]
        baseline = burst_p = None
        history = (day - first).days
        if history >= BURST_MIN_HISTORY:
            window = [
                _posts_on(account, day - timedelta(days=back))
                for back in range(1, min(BURST_WINDOW, history) + 1)
            ]
            baseline = max(median(window), BURST_MIN_RATE)
            burst_p = poisson_tail(tally.posts, baseline)
        rows.append({
            "handle": account.handle,
            "date": day.isoformat(),
            "posts": tally.posts,
            "timed_posts": tally.timed,
            "mean_p_wire": round(tally.p_sum / tally.posts, 4),
            "partisan_share": tally.share(tally.partisan),
            "marker_share": tally.share(tally.propaganda),
            "sourced_share": tally.share(tally.sourced),
            "techniques": format_technique_counts(tally.ranked_techniques()),
            "hours": "; ".join(f"{hour:02d}:{n}" for hour, n in sorted((tally.hours or {}).items())),
            "baseline": baseline,
            "burst_p": None if burst_p is None else float(f"{burst_p:.3g}"),
            "burst": burst_p is not None and tally.posts >= BURST_MIN_POSTS and burst_p < BURST_P,
        })
    return rows


def _posts_on(account: AccountTally, day: date) -> int:
    tally = account.days.get(day)
    return tally.posts if tally else 0


def halves(account: AccountTally) -> tuple[Tally, Tally]:
    """The account's posts in the first and the second half of its active span (first to
    last day with posts): a span of n days puts days 0 .. ceil(n/2)-1 in the first half."""
    first, second = Tally(), Tally()
    if not account.days:
        return first, second
    start, end = min(account.days), max(account.days)
    span = (end - start).days + 1
    for day, tally in account.days.items():
        (first if (day - start).days < span / 2 else second).merge(tally)
    return first, second


def weekly_trend(account: AccountTally) -> float | None:
    """The Theil-Sen slope of the account's weekly partisan share (share per week, weeks
    from Monday in the dump's time zone), over the weeks it posted in; None with fewer
    than two such weeks."""
    weeks: dict[int, list[int]] = {}
    for day, tally in account.days.items():
        counts = weeks.setdefault((day.toordinal() - 1) // 7, [0, 0])  # date.min, ordinal 1, is a Monday
        counts[0] += tally.partisan
        counts[1] += tally.posts
    ordered = sorted(weeks.items())
    slope = theil_sen_slope([week for week, _ in ordered], [partisan / posts for _, (partisan, posts) in ordered])
    return None if slope is None else round(slope, 4)


def campaign_ids(campaigns: str | Iterable[str]) -> set[str]:
    """One campaign id or several, as a set of strings."""
    return {campaigns} if isinstance(campaigns, str) else {str(c) for c in campaigns}


def _natural(text: str) -> tuple:
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def account_tables(rows: Iterable[Mapping], **options) -> AccountTables:
    """The account tables of scored segment rows (one pass; options as :class:`AccountsBuilder`).

    Examples
    --------
    >>> from classifier import json_row, score_file  # doctest: +SKIP
    >>> records, _ = score_file("seeds/timeline_nhk_reuters_partisan_2024-11-04.txt")  # doctest: +SKIP
    >>> account_tables(map(json_row, records)).accounts[0]["handle"]  # doctest: +SKIP
    'ReutersJapan'
    """
    builder = AccountsBuilder(**options)
    for _ in builder.add_rows(rows):
        pass
    return builder.finish()
