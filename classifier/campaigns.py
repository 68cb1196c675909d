"""Campaigns: the same or nearly the same text posted by many accounts.

Organized campaigns show up as one text pushed by many accounts within a short time, often
with small edits (an emoji swapped, a mention or link changed, a word added) to dodge
exact matching.  This module finds them among scored posts and says what they push:

1. each post's own text (role ``post``; article paragraphs and hashtag lines are not
   compared) is normalized (:func:`classifier.campaign_sketch.match_text`); texts shorter
   than ``min_chars`` after that are left out (too little to compare);
2. identical normalized texts are one text; each distinct text gets its character 3-gram
   set and a MinHash signature, chunk by chunk, as posts stream in;
3. at the end, LSH bands propose pairs of texts, the exact Jaccard similarity of their
   3-gram sets is checked (``>= threshold``), and the matching texts are grouped (union-find,
   computed as the connected components of the match graph);
4. a group whose posts come from at least ``min_accounts`` distinct accounts is a campaign:
   its posts, times (first, last, span, median gap between accounts, "fast" pairs of
   posts by two accounts within ``fast_seconds``), median p_wire and top techniques, and a
   guess of its kind (a high-p_wire headline with a link shared by many readers is a
   ``share_template``, not a coordinated ``copypasta``).

Memory holds the posts of the last few thousand records and nothing per account (a post's
account is kept as a 64-bit BLAKE2b key of its name, beside its other numbers); the few
numbers kept of each post, the sketches and what the outputs show of each post wait in
temporary files (:mod:`classifier.campaign_spill`) and are read back a column, a band, a
block of texts or a post at a time; never the score rows.  At the end the candidate pairs
go to disk too, as pairs of rows in the temporary files, and are checked a range of rows
(at most 2 million pairs) at a time.  The result does not
depend on the order posts arrive in: texts are put in a canonical order (by a hash of
their normalized text) before pairs are proposed, and campaigns are numbered by what they
hold.  So a run chunked any way, or split across processes whose finders are merged,
gives the same campaigns as one pass.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date as Date
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping

import numpy as np

from .campaign_params import CampaignParams
from .campaign_sketch import (
    MinHasher,
    band_keys,
    band_pairs,
    estimate_floor,
    match_text,
    merge_unique,
    pair_jaccard,
    shingle_sets,
    shingles_of_codes,
    sorted_unique,
    text_key,
)
from .campaign_spill import PairSpill, SketchStore, SpillFile
from .technique_counts import format_technique_counts, technique_counts_of

if TYPE_CHECKING:
    from .scored import ScoredSegment

#: Campaign kinds: ``copypasta`` (one text pushed by many accounts: the ones to look at),
#: ``share_template`` (a high-p_wire headline with its link: a share button, most likely).
KINDS = ("copypasta", "share_template")
NO_TIME = np.iinfo(np.int64).min
_SEP = "\x1f"
#: What is kept of each post until the end (on disk once spilled), and of each sketched
#: text: its key, where its normalized text ends in the store.
POST_COLUMNS = {"key": np.uint64, "account": np.uint64, "time": np.int64, "day_only": bool, "p_wire": np.float32,
                "url": bool, "end": np.int64}
TEXT_COLUMNS = {"key": np.uint64, "end": np.int64}
#: Candidate pairs gathered in memory (a pair found in several bands kept once) before
#: they are put aside on disk; texts per part of the pairs on disk; and pairs (as
#: written) read back at a time, a range of parts: the pairs are checked a range at a
#: time (2.2 million posts of copypasta made 37 million; 3.5 million posts that share
#: sentences, 410 million as written).
PAIR_BUFFER = 1 << 21
PAIR_PART_TEXTS = 1 << 12
PAIR_RANGE_PAIRS = 1 << 21
#: Likely pairs checked exactly at a time: their texts are read back in bulk and their
#: 3-gram sets rebuilt together (about 300 kB of texts and 2 MB of 3-grams at this size).
EXACT_BATCH = 1 << 10
#: What a campaign keeps of each of its posts (:class:`CampaignPosts`), on disk: where its
#: fields start and end in the store, its time since the campaign's first post, its
#: similarity to the first post and its p_wire (NaN: none).
POST_NUMBERS = np.dtype([("start", "<i8"), ("end", "<i8"), ("offset", "<i8"), ("similarity", "<f8"),
                         ("p_wire", "<f8")])
#: Campaign posts whose numbers are gathered at a time to describe their campaigns.
DESCRIBE_POSTS = 1 << 18
_BLOB_FIELDS = ("id", "post_id", "account", "handle", "date", "kind", "label", "text", "techniques")


@dataclass(frozen=True, slots=True)
class PostRecord:
    """What campaign detection needs of one scored segment."""

    id: str
    post_id: str
    account: str
    handle: str
    date: str
    role: str
    kind: str
    text: str
    p_wire: float | None
    label: str
    techniques: tuple[tuple[str, int], ...] = ()

    @property
    def account_key(self) -> str:
        """The account as campaigns count it: the @handle, else the display name."""
        return self.handle or self.account

    @classmethod
    def from_row(cls, row: Mapping) -> "PostRecord":
        """A record from a score row: an in-memory row, a JSONL row or a CSV row (where
        ``techniques`` is ``Name:2; Other:1`` and ``p_wire`` a string)."""
        p_wire = row.get("p_wire")
        p_wire = None if p_wire in (None, "") else float(p_wire)
        return cls(
            id=str(row.get("id") or ""),
            post_id=str(row.get("post_id") or ""),
            account=str(row.get("account") or ""),
            handle=str(row.get("handle") or ""),
            date=str(row.get("date") or ""),
            role=str(row.get("role") or ""),
            kind=str(row.get("kind") or "post"),
            text=str(row.get("text") or ""),
            p_wire=p_wire,
            label=str(row.get("label") or ""),
            techniques=tuple(technique_counts_of(row.get("techniques")).items()),
        )

    @classmethod
    def from_segment(cls, record: "ScoredSegment") -> "PostRecord":
        """A record from a scored segment, as the scoring kernel makes it."""
        return cls(record.id, record.post_id, record.account, record.handle, record.date, record.role, record.kind,
                   record.text, record.p_wire, record.label, record.techniques)


def parse_time(value: str) -> tuple[int, bool]:
    """Seconds since the epoch of an ISO date, and whether it was a day only.

    A day (``2024-11-04``) is its midnight UTC; a datetime without an offset is read as
    UTC (only differences matter).  ``(NO_TIME, False)`` for an empty value; ValueError
    for one that does not parse.
    """
    value = value.strip()
    if not value:
        return NO_TIME, False
    try:
        if len(value) == 10:
            day = Date.fromisoformat(value)
            return (day - Date(1970, 1, 1)).days * 86_400, True
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"date {value!r} is not an ISO 8601 date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp()), False


# ---------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class CampaignPost:
    """One post of a campaign.  ``offset`` is the time since the campaign's first post (in
    ``time_unit``); ``similarity`` the Jaccard similarity of its 3-grams to the first post's."""

    campaign: str
    id: str
    post_id: str
    account: str
    handle: str
    date: str
    kind: str
    offset: int | None
    similarity: float
    p_wire: float | None
    label: str
    techniques: str
    text: str


class CampaignPosts(Sequence):
    """The posts of one campaign, in time order, as :class:`CampaignPost` records.

    Nothing of them is in memory: their numbers (where each post's fields lie, its time
    offset, similarity and p_wire: :data:`POST_NUMBERS`) wait in one temporary file, and
    what is shown of each (ids, names, date, label, text, techniques) in another, read
    back when posts are asked for.  A run whose campaigns hold millions of posts would
    otherwise keep 40 bytes a post, and their texts.  The files live as long as the
    campaigns do."""

    __slots__ = ("campaign", "_fields", "_numbers", "_at", "_count")

    def __init__(self, campaign: str, fields: SpillFile, numbers: SpillFile, at: int, count: int) -> None:
        self.campaign = campaign
        self._fields, self._numbers = fields, numbers
        self._at, self._count = at, count

    def renamed(self, campaign: str) -> "CampaignPosts":
        """The same posts, of campaign ``campaign``."""
        return CampaignPosts(campaign, self._fields, self._numbers, self._at, self._count)

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(self[k] for k in range(len(self))[index])
        size = len(self)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("campaign post index out of range")
        return self._post(*self._rows(index, index + 1)[0])

    def __iter__(self):
        for numbers in self._rows(0, self._count):
            yield self._post(*numbers)

    def _rows(self, first: int, stop: int) -> list[tuple]:
        """The numbers of posts ``first`` to ``stop - 1``, as Python values."""
        width = POST_NUMBERS.itemsize
        data = self._numbers.read(self._at + first * width, (stop - first) * width)
        return np.frombuffer(data, POST_NUMBERS).tolist()

    def _post(self, start: int, end: int, offset: int, similarity: float, p_wire: float) -> CampaignPost:
        row = _unpack(self._fields.read(start, end - start))
        return CampaignPost(
            campaign=self.campaign, id=row["id"], post_id=row["post_id"], account=row["account"], handle=row["handle"],
            date=row["date"], kind=row["kind"], offset=None if offset == NO_TIME else offset,
            similarity=similarity, p_wire=None if math.isnan(p_wire) else p_wire, label=row["label"],
            techniques=row["techniques"], text=row["text"],
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and tuple(self) == tuple(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CampaignPosts({self.campaign!r}, {len(self)} posts)"


@dataclass(frozen=True, slots=True)
class Campaign:
    """A group of matching posts from at least ``min_accounts`` accounts.

    ``time_unit`` is ``s`` when every dated post carries a time, ``day`` when some carry a
    day only (a pasted timeline), ``""`` when none is dated; ``span`` and ``median_gap`` (the
    median time between one account's first post and the next account's) are in it, and
    ``fast_pairs`` (pairs of posts by two accounts within ``fast_seconds``) is None unless
    times are in seconds.
    """

    id: str
    kind: str
    posts: Sequence[CampaignPost]
    accounts: int
    texts: int
    first: str
    last: str
    time_unit: str
    span: int | None
    median_gap: float | None
    fast_pairs: int | None
    median_p_wire: float | None
    top_techniques: str
    url_share: float

    @property
    def text(self) -> str:
        """The first post's text."""
        return self.posts[0].text


@dataclass(frozen=True, slots=True)
class CampaignSet:
    """Every campaign of a run, most suspicious first (share templates last), and what the
    run compared: counts of posts seen, compared, left out; the dump's time resolution."""

    campaigns: tuple[Campaign, ...]
    params: CampaignParams
    counts: dict = field(default_factory=dict)
    time_resolution: str = "none"


# ---------------------------------------------------------------- the finder


class _Columns:
    """Named numpy columns filled chunk by chunk; :meth:`column` joins a column's chunks
    into one array once (and keeps that), so memory never holds a column twice for long."""

    def __init__(self, *names: str) -> None:
        self._parts: dict[str, list[np.ndarray]] = {name: [] for name in names}

    def append(self, **arrays: np.ndarray) -> None:
        for name, array in arrays.items():
            self._parts[name].append(array)

    def column(self, name: str, dtype, width: int | None = None) -> np.ndarray:
        parts = self._parts[name]
        if len(parts) != 1:
            joined = np.concatenate(parts) if parts else np.zeros((0, width) if width else 0, dtype=dtype)
            parts.clear()
            parts.append(joined)
        return parts[0]

    def extend(self, other: "_Columns") -> None:
        for name, parts in other._parts.items():
            self._parts[name].extend(parts)


class CampaignFinder:
    """Streaming campaign detection: :meth:`add` chunks of records as they come (any
    order, any chunking), :meth:`merge` finders fed apart, then :meth:`finish`.

    Kept in memory: the posts not yet written out (at most ``chunk_size``), nothing per
    account (an account is a 64-bit key of its name: among 10 million accounts, two share
    one with a chance of about 3 in a million).  Everything else waits on disk
    (:class:`~classifier.campaign_spill.SketchStore`,
    in ``folder`` or the system's temporary folder), written ``chunk_size`` posts at a
    time: each text's LSH band keys and the low byte of each MinHash value (enough to
    estimate similarity), each post's fields (ids, names, date, text, techniques), and
    the few numbers per post and per text that the end needs (:data:`POST_COLUMNS`,
    :data:`TEXT_COLUMNS`: a text's key, account key, time, p_wire, whether it had a
    link, where its fields end), so that memory stays flat however many posts come.  :meth:`finish` reads the band keys one band at
    a time, the signatures a block of texts at a time, and rebuilds exact 3-gram sets only
    for the texts that need checking.  A finder fed in a worker process holds its chunk in
    memory (no file) and is pickled back whole.

    Examples
    --------
    >>> finder = CampaignFinder()
    >>> finder.add(PostRecord.from_row(row) for row in rows)  # doctest: +SKIP
    >>> result = finder.finish()  # doctest: +SKIP
    """

    def __init__(self, params: CampaignParams | None = None, *, folder: str | Path | None = None) -> None:
        self.params = params or CampaignParams()
        self.folder = folder
        self._hasher = MinHasher(self.params.num_perm, self.params.seed)
        self._pending: list[tuple[PostRecord, str, bool, int, tuple[int, bool]]] = []
        # Not yet on disk: posts' columns and fields, sketched texts (and the post that brought each).
        self._posts = _Columns(*(name for name in POST_COLUMNS if name != "end"))
        self._buffer = _Columns("bands", "signature", "key")
        self._norms: list[str] = []
        self._blobs: list[bytes] = []
        self._store: SketchStore | None = None
        self.counts: Counter = Counter()

    def add(self, records: Iterable[PostRecord]) -> None:
        """Take records (segments of any role; only posts' own texts are compared).

        Raises ValueError for a record whose date does not parse."""
        for record in records:
            if record.role != "post":
                self.counts["other_roles"] += 1
                continue
            self.counts["posts"] += 1
            moment = parse_time(record.date)
            normalized = match_text(record.text)
            if len(normalized.text) < self.params.min_chars:
                self.counts["too_short"] += 1
                continue
            self._pending.append((record, normalized.text, normalized.had_url, text_key(normalized.text), moment))
            if len(self._pending) >= self.params.chunk_size:
                self._flush()

    def add_rows(self, rows: Iterable[Mapping]) -> None:
        """Take score rows (dicts)."""
        self.add(PostRecord.from_row(row) for row in rows)

    def add_segments(self, records: Iterable["ScoredSegment"]) -> "CampaignFinder":
        """Take scored segments as the scoring kernel makes them, and sketch them at once
        (a finder fed in a worker process goes back with its work done); returns self."""
        self.add(PostRecord.from_segment(record) for record in records)
        self._flush()
        return self

    def _flush(self) -> None:
        """Sketch the pending posts' texts (each distinct one once) and keep their columns."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        new_texts, new_keys, seen = [], [], set()
        for _, norm, _, key, _ in pending:
            if key not in seen:
                seen.add(key)
                new_texts.append(norm)
                new_keys.append(key)
        signatures = self._hasher.signatures(shingle_sets(new_texts))
        self._buffer.append(bands=band_keys(signatures, self.params.bands), signature=signatures.astype(np.uint8),
                            key=np.array(new_keys, dtype=np.uint64))
        self._norms += new_texts
        times = [moment for *_, moment in pending]
        self._posts.append(
            key=np.array([key for _, _, _, key, _ in pending], dtype=np.uint64),
            account=np.array([text_key(r.account_key) for r, *_ in pending], dtype=np.uint64),
            time=np.array([t for t, _ in times], dtype=np.int64),
            day_only=np.array([d for _, d in times], dtype=bool),
            p_wire=np.array([np.nan if r.p_wire is None else r.p_wire for r, *_ in pending], dtype=np.float32),
            url=np.array([url for _, _, url, _, _ in pending], dtype=bool),
        )
        self._blobs.extend(_pack(record) for record, *_ in pending)
        self._spill_if_full()

    def _spill_if_full(self) -> None:
        if len(self._blobs) >= self.params.chunk_size:
            self._spill()

    def _spill(self) -> None:
        """Move the buffered sketches and fields to the temporary files."""
        if not self._blobs:
            return
        p = self.params
        store = self._open_store()
        text_ends, post_ends = store.add(self._buffer.column("bands", np.uint32, p.bands),
                                         self._buffer.column("signature", np.uint8, p.num_perm),
                                         self._norms, self._blobs)
        store.post_columns.append(end=post_ends, **{name: self._posts.column(name, dtype)
                                                    for name, dtype in POST_COLUMNS.items() if name != "end"})
        store.text_columns.append(key=self._buffer.column("key", np.uint64), end=text_ends)
        self._posts = _Columns(*(name for name in POST_COLUMNS if name != "end"))
        self._buffer = _Columns("bands", "signature", "key")
        self._norms, self._blobs = [], []

    def _open_store(self) -> SketchStore:
        if self._store is None:
            p = self.params
            self._store = SketchStore(self.folder, p.num_perm, p.bands, post_columns=POST_COLUMNS,
                                      text_columns=TEXT_COLUMNS)
        return self._store

    def merge(self, other: "CampaignFinder") -> "CampaignFinder":
        """Take in what another finder (same parameters) was fed; returns self."""
        if other.params != self.params:
            raise ValueError("cannot merge campaign finders with different parameters")
        self._flush()
        other._flush()
        if other._store is not None:  # a finder that has spilled: its files are copied into ours
            self._spill()
            other._spill()
            store = self._open_store()
            text_shift, post_shift = store.extend(other._store)
            theirs = other._store.post_columns
            store.post_columns.append(**{name: theirs.column(name) for name in POST_COLUMNS if name != "end"},
                                      end=theirs.column("end") + post_shift)
            theirs = other._store.text_columns
            store.text_columns.append(key=theirs.column("key"), end=theirs.column("end") + text_shift)
            other.close()
        self._buffer.extend(other._buffer)
        self._norms += other._norms
        self._blobs += other._blobs
        self._posts.extend(other._posts)
        self.counts.update(other.counts)
        self._spill_if_full()
        return self

    def close(self) -> None:
        """Remove the temporary files (:meth:`finish` does it; for a finder given up)."""
        if self._store is not None:
            self._store.close()
            self._store = None

    # ------------------------------------------------------------ finishing

    def finish(self) -> CampaignSet:
        """Match the texts, group them and describe every campaign; the temporary files
        are removed whatever happens."""
        self._flush()
        self._spill()
        try:
            found = self._find()
        except BaseException:
            self.close()
            raise
        if self._store is not None:
            self._store.close_sketches()  # the posts' fields stay, for the campaigns to read
            self._store = None
        return found

    def _find(self) -> CampaignSet:
        p = self.params
        accounts = self.counts["accounts"] = int(np.unique(self._column("post", "account")).size)
        # With fewer accounts than a campaign needs (a dump without authors has one, ""), no
        # group could qualify: no pair is compared.
        matching = accounts >= p.min_accounts
        groups = self._matching_groups(self._canonical_texts()[1]) if matching else None
        keys, rows = self._canonical_texts()  # again: not held while the pairs are matched
        if groups is None:
            groups = np.arange(keys.size, dtype=np.int32)
        post_keys = self._column("post", "key")
        self.counts.update(compared=int(post_keys.size), distinct_texts=int(keys.size))
        text_of_post = np.searchsorted(keys, post_keys).astype(np.int32)
        del post_keys, keys
        group_of_post = groups[text_of_post] if text_of_post.size else np.zeros(0, np.int32)
        del groups
        members = _qualifying_groups(group_of_post, self._column("post", "account"), p.min_accounts)
        del group_of_post
        resolution = _resolution(self._column("post", "time"), self._column("post", "day_only"))
        text_ends = self._column("text", "end")
        # The campaigns are described a batch at a time, each batch's posts' columns cut
        # down to them as they are read, so that at most one column of every post is in
        # memory; each description keeps its posts' numbers on disk (CampaignPosts).
        campaigns = []
        for batch in _batches(members, DESCRIBE_POSTS):
            context = self._campaign_posts(np.concatenate(batch), text_of_post, rows, text_ends)
            first = 0
            for indices in batch:
                campaigns.append(_describe(np.arange(first, first + indices.size), context, p))
                first += indices.size
        del members
        campaigns.sort(key=_rank)
        numbered = tuple(_numbered(c, f"C{i:04d}") for i, c in enumerate(campaigns, 1))
        del campaigns
        self.counts["campaigns"] = len(numbered)
        self.counts["posts_in_campaigns"] = sum(len(c.posts) for c in numbered)
        return CampaignSet(numbered, p, dict(sorted(self.counts.items())), resolution)

    def _campaign_posts(self, chosen: np.ndarray, text_of_post: np.ndarray, rows: np.ndarray,
                        text_ends: np.ndarray) -> "_PostColumns":
        """The columns of the posts ``chosen`` (their indices), each read whole and cut down
        to them before the next is read."""
        ends = self._column("post", "end")
        starts = np.where(chosen > 0, ends[chosen - 1], 0)
        ends = ends[chosen]
        return _PostColumns(text_of_post[chosen], self._column("post", "account")[chosen],
                            self._column("post", "time")[chosen], self._column("post", "day_only")[chosen],
                            self._column("post", "p_wire")[chosen], self._column("post", "url")[chosen],
                            starts, ends, self._store, rows, text_ends)

    def _matching_groups(self, rows: np.ndarray) -> np.ndarray:
        """The group of each distinct text (in key order; ``rows``: their rows in the
        store): the connected components of the pairs that match.

        LSH proposes candidate pairs band by band; they are put aside on disk
        (:class:`~classifier.campaign_spill.PairSpill`) as pairs of rows in the store (so
        by where their signatures and texts lie, not by key) and read back a range of
        rows at a time, each pair once; a range's pairs are estimated by their
        signatures, the likely ones checked exactly, and the matching ones joined into
        the groups found so far.  So memory holds a range's pairs, never all of them, and
        the signatures of a range's first texts lie in one block: with pairs by key, a
        range's texts lay in every block, and each stretch of pairs read every pair of
        blocks (1.3 TB read in 15 minutes from 3.5 million texts, hours to go)."""
        p = self.params
        floor = estimate_floor(p.threshold, p.num_perm)
        # The fewest agreeing positions whose share reaches the floor (the share computed as
        # the estimate always was), so that no array of shares is made.
        least = next(count for count in range(p.num_perm + 2) if count > p.num_perm or count / p.num_perm >= floor)
        self.counts.update(candidate_pairs=0, checked_pairs=0, matching_pairs=0)
        if not rows.size:
            return np.zeros(0, dtype=np.int32)
        representative = np.arange(self._store.texts, dtype=np.int32)  # by row in the store
        spill = PairSpill(self.folder, self._store.texts, PAIR_PART_TEXTS)
        try:
            self._propose_pairs(rows, spill)
            text_ends = self._column("text", "end")
            for pairs in spill.ranges(PAIR_RANGE_PAIRS):
                self.counts["candidate_pairs"] += int(pairs.size)
                likely = pairs[self._signature_agreement(pairs) >= least]
                del pairs
                self.counts["checked_pairs"] += int(likely.size)
                similar = likely[self._exact_jaccard(likely, text_ends) >= p.threshold]
                self.counts["matching_pairs"] += int(similar.size)
                representative = _joined(representative, similar)
        finally:
            spill.close()
        return np.unique(representative, return_inverse=True)[1][rows].astype(np.int32)

    def _propose_pairs(self, rows: np.ndarray, spill: PairSpill) -> None:
        """Every band's candidate pairs (:func:`~classifier.campaign_sketch.band_pairs`),
        gathered in memory up to :data:`PAIR_BUFFER` pairs (a pair found in several bands
        kept once), then put aside in ``spill``: one band of a large dump can make tens of
        millions of pairs, so the buffer is put aside as soon as it is full, in the
        middle of a band too."""
        def put_aside(found: np.ndarray) -> None:
            spill.add(_store_pairs(found, rows))

        found = np.zeros(0, dtype=np.uint64)
        for band in range(self.params.bands):
            pieces, held = [], 0
            for piece in band_pairs(self._store.band(band)[rows], self.params.window):
                pieces.append(piece)
                held += piece.size
                if held >= PAIR_BUFFER // 4:
                    found, pieces, held = merge_unique(found, sorted_unique(np.concatenate(pieces))), [], 0
                    found = _put_aside_if_full(found, put_aside)
            if pieces:
                found = _put_aside_if_full(merge_unique(found, sorted_unique(np.concatenate(pieces))), put_aside)
        put_aside(found)

    def _canonical_texts(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct texts sorted by key, each once whatever the finders merged: keys, and
        their rows in the temporary files (the first that brought each)."""
        keys = self._column("text", "key")
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        first = np.concatenate(([True], keys[1:] != keys[:-1])) if keys.size else np.zeros(0, dtype=bool)
        return keys[first], order[first].astype(np.int32)  # rows fit in 32 bits, as in the pairs

    def _signature_agreement(self, pairs: np.ndarray, batch: int = 16_384, stretch: int = PAIR_RANGE_PAIRS) -> np.ndarray:
        """How many MinHash positions (their low bytes) each pair of texts (rows in the
        store, the smaller first) shares, the signatures read from the temporary file one
        block of rows at a time: the pairs are taken, ``stretch`` pairs at a time, by the
        blocks their two texts are in, so two blocks are in memory at once, and the
        bookkeeping of one stretch of pairs, not of all of them (32-bit rows and block
        numbers)."""
        out = np.zeros(pairs.size, dtype=np.uint16)
        for start in range(0, pairs.size, stretch):
            self._agreement_of(pairs[start:start + stretch], out[start:start + stretch], batch)
        return out

    def _agreement_of(self, pairs: np.ndarray, out: np.ndarray, batch: int) -> None:
        """:meth:`_signature_agreement` of one stretch of pairs, into ``out``."""
        low = (pairs >> np.uint64(32)).astype(np.int32)
        high = (pairs & np.uint64(0xFFFFFFFF)).astype(np.int32)
        size = self._store.signature_block_rows()
        group = (low // size) * (self._store.texts // size + 1) + high // size
        order = np.argsort(group, kind="stable")
        group = group[order]
        cuts = np.flatnonzero(group[1:] != group[:-1]) + 1
        del group
        loaded: dict[int, np.ndarray] = {}
        for run in np.split(order, cuts):
            a, b = int(low[run[0]]) // size, int(high[run[0]]) // size
            for block in [k for k in loaded if k not in (a, b)]:
                del loaded[block]
            for block in (a, b):
                if block not in loaded:
                    loaded[block] = self._store.signature_rows(block * size, min((block + 1) * size, self._store.texts))
            for lo in range(0, run.size, batch):
                part = run[lo:lo + batch]
                same = loaded[a][low[part] - a * size] == loaded[b][high[part] - b * size]
                out[part] = np.count_nonzero(same, axis=1)

    def _column(self, table: str, name: str) -> np.ndarray:
        """A column of what was kept of every post (``table`` ``"post"``) or every sketched
        text (``"text"``), read back from the store."""
        if self._store is None:
            return np.zeros(0, dtype=(POST_COLUMNS if table == "post" else TEXT_COLUMNS)[name])
        return (self._store.post_columns if table == "post" else self._store.text_columns).column(name)

    def _exact_jaccard(self, pairs: np.ndarray, text_ends: np.ndarray, batch: int = EXACT_BATCH) -> np.ndarray:
        """Exact Jaccard similarity of each pair of texts (rows in the store), their 3-gram
        sets rebuilt from their normalized texts (only the texts a batch of pairs needs,
        read in bulk; ``text_ends``: where each sketched text ends in the store)."""
        out = np.zeros(pairs.size)
        for lo in range(0, pairs.size, batch):
            chunk = pairs[lo:lo + batch]
            ends = np.concatenate((chunk >> np.uint64(32), chunk & np.uint64(0xFFFFFFFF))).astype(np.int64)
            needed = np.unique(ends)
            starts = np.where(needed > 0, text_ends[needed - 1], 0)
            codes, lengths = self._store.text_codes(starts, text_ends[needed])
            local = np.searchsorted(needed, ends).astype(np.uint64)
            local_pairs = (local[:chunk.size] << np.uint64(32)) | local[chunk.size:]
            out[lo:lo + chunk.size] = pair_jaccard(shingles_of_codes(codes, lengths), local_pairs)
        return out


def find_campaigns(records: Iterable[PostRecord], params: CampaignParams | None = None) -> CampaignSet:
    """Campaigns among ``records`` in one call (see :class:`CampaignFinder`)."""
    finder = CampaignFinder(params)
    finder.add(records)
    return finder.finish()


# ---------------------------------------------------------------- helpers


def _pack(record: PostRecord) -> bytes:
    """What the outputs show of a post, as one UTF-8 string of fields separated by US."""
    fields = (record.id, record.post_id, record.account, record.handle, record.date, record.kind, record.label,
              record.text, format_technique_counts(record.techniques))
    joined = _SEP.join(fields)
    if joined.count(_SEP) != len(fields) - 1:  # a field holding the separator itself
        joined = _SEP.join(f.replace(_SEP, " ") for f in fields)
    return joined.encode("utf-8")


def _unpack(blob: bytes) -> dict:
    return dict(zip(_BLOB_FIELDS, blob.decode("utf-8").split(_SEP)))


def _put_aside_if_full(found: np.ndarray, put_aside: Callable[[np.ndarray], None]) -> np.ndarray:
    """``found``, or, once it holds :data:`PAIR_BUFFER` pairs, nothing: put aside."""
    if found.size < PAIR_BUFFER:
        return found
    put_aside(found)
    return np.zeros(0, dtype=np.uint64)


def _store_pairs(pairs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Pairs of texts by key order (uint64 ``i << 32 | j``) as pairs of their rows in the
    store (``rows``), the smaller row first."""
    left = rows[(pairs >> np.uint64(32)).astype(np.int64)]
    right = rows[(pairs & np.uint64(0xFFFFFFFF)).astype(np.int64)]
    out = np.minimum(left, right).astype(np.uint64)
    np.maximum(left, right, out=right)
    del left
    np.left_shift(out, np.uint64(32), out=out)
    np.bitwise_or(out, right.astype(np.uint64), out=out)
    return out


def _joined(representative: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Union-find by arrays: ``representative[i]`` is the smallest text of the group text
    ``i`` is in so far; the groups that ``pairs`` (uint64 ``i << 32 | j``) join are made
    one, represented by their smallest text.  Joining the matching pairs a batch at a
    time gives the connected components of all of them, whatever the batches."""
    if pairs.size == 0:
        return representative
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    left = representative[(pairs >> np.uint64(32)).astype(np.int64)]
    right = representative[(pairs & np.uint64(0xFFFFFFFF)).astype(np.int64)]
    nodes = np.unique(np.concatenate((left, right)))  # the groups these pairs touch
    size = nodes.size
    graph = coo_matrix((np.ones(left.size, dtype=np.int8),
                        (np.searchsorted(nodes, left), np.searchsorted(nodes, right))), shape=(size, size))
    del left, right
    count, component = connected_components(graph, directed=False)
    smallest = np.full(count, representative.size, dtype=representative.dtype)
    np.minimum.at(smallest, component, nodes)
    moved = np.arange(representative.size, dtype=representative.dtype)
    moved[nodes] = smallest[component]
    return moved[representative]


def _batches(members: list[np.ndarray], posts: int) -> Iterator[list[np.ndarray]]:
    """``members`` (each group's post indices) in runs of consecutive groups of about
    ``posts`` posts (a group larger than that is a run of its own)."""
    batch, held = [], 0
    for indices in members:
        if batch and held + indices.size > posts:
            yield batch
            batch, held = [], 0
        batch.append(indices)
        held += indices.size
    if batch:
        yield batch


def _qualifying_groups(groups: np.ndarray, accounts: np.ndarray, min_accounts: int) -> list[np.ndarray]:
    """Post indices of each group with at least ``min_accounts`` distinct accounts."""
    if groups.size == 0:
        return []
    order = np.lexsort((accounts, groups))
    grouped, by = groups[order], accounts[order]
    first = np.ones(order.size, dtype=bool)  # the first post of each (group, account)
    first[1:] = (grouped[1:] != grouped[:-1]) | (by[1:] != by[:-1])
    del order, by
    per_group = np.bincount(grouped[first], minlength=int(groups.max()) + 1)
    del grouped, first
    wanted = per_group >= max(min_accounts, 1)
    wanted &= np.bincount(groups, minlength=wanted.size) >= 2
    chosen = np.flatnonzero(wanted[groups])
    if chosen.size == 0:
        return []
    order = chosen[np.argsort(groups[chosen], kind="stable")]
    cuts = np.flatnonzero(np.diff(groups[order])) + 1
    return np.split(order, cuts)


@dataclass(frozen=True, slots=True)
class _PostColumns:
    text: np.ndarray  # each post's distinct text (its number in key order)
    account: np.ndarray
    time: np.ndarray
    day_only: np.ndarray
    p_wire: np.ndarray
    url: np.ndarray
    starts: np.ndarray  # where each post's fields start in the store
    ends: np.ndarray  # and where they end
    store: SketchStore
    text_rows: np.ndarray  # each distinct text's row in the store
    text_ends: np.ndarray  # where each row's normalized text ends in the store

    def span(self, post: int) -> tuple[int, int]:
        return int(self.starts[post]), int(self.ends[post])

    def fields(self, post: int) -> dict:
        start, end = self.span(post)
        return _unpack(self.store.posts.read(start, end - start))

    def normalized(self, text: int) -> str:
        return self.store.text(*_byte_range(self.text_ends, int(self.text_rows[text])))


def _byte_range(ends: np.ndarray, i: int) -> tuple[int, int]:
    """Where item ``i`` of a spilled file lies, from where each item ends (each starts
    where the previous one ends)."""
    return (int(ends[i - 1]) if i else 0), int(ends[i])


def _describe(indices: np.ndarray, posts: _PostColumns, params: CampaignParams) -> Campaign:
    """A campaign of the posts at ``indices``, its posts in time order (undated last)."""
    rows = [posts.fields(int(i)) for i in indices]
    times = posts.time[indices]
    order = sorted(range(indices.size), key=lambda k: (bool(times[k] == NO_TIME), int(times[k]), rows[k]["post_id"],
                                                       rows[k]["handle"], rows[k]["text"]))
    indices, times, rows = indices[order], times[order], [rows[k] for k in order]
    dated = times != NO_TIME
    day_only = bool(posts.day_only[indices][dated].any())
    unit = "" if not dated.any() else ("day" if day_only else "s")
    scale = 86_400 if unit == "day" else 1
    texts = posts.text[indices]
    similarity = _similarity_to_first([posts.normalized(text) for text in texts.tolist()])
    first_time = times[0] if dated.any() else NO_TIME
    accounts = posts.account[indices]
    technique_totals: Counter = Counter()
    for row in rows:
        technique_totals.update(technique_counts_of(row["techniques"]))
    spans = [posts.span(int(index)) for index in indices]
    offsets = [int((times[k] - first_time) // scale) if dated[k] else NO_TIME for k in range(indices.size)]
    numbers = np.empty(indices.size, dtype=POST_NUMBERS)
    numbers["start"], numbers["end"] = [start for start, _ in spans], [end for _, end in spans]
    numbers["offset"] = offsets
    numbers["similarity"] = [round(float(value), 3) for value in similarity]
    numbers["p_wire"] = [value if np.isnan(value) else round(float(value), 4) for value in posts.p_wire[indices]]
    campaign_posts = CampaignPosts("", posts.store.posts, posts.store.campaign_numbers,
                                   posts.store.campaign_numbers.append(numbers.data), indices.size)
    dated_dates = [row["date"] for row, ok in zip(rows, dated) if ok]
    p_wire = posts.p_wire[indices]
    median_p_wire = None if np.isnan(p_wire).all() else round(float(np.nanmedian(p_wire)), 4)
    url_share = round(float(posts.url[indices].mean()), 3)
    share = median_p_wire is not None and median_p_wire >= params.share_p_wire and url_share >= params.share_url_share
    return Campaign(
        id="",
        kind="share_template" if share else "copypasta",
        posts=campaign_posts,
        accounts=len(set(accounts.tolist())),
        texts=len(set(texts.tolist())),
        first=dated_dates[0] if dated_dates else "",
        last=dated_dates[-1] if dated_dates else "",
        time_unit=unit,
        span=int((times[dated][-1] - times[dated][0]) // scale) if dated.any() else None,
        median_gap=_median_gap(times[dated], accounts[dated], scale),
        fast_pairs=_fast_pairs(times[dated], accounts[dated], params.fast_seconds) if unit == "s" else None,
        median_p_wire=median_p_wire,
        top_techniques=format_technique_counts(sorted(technique_totals.items(), key=lambda kv: (-kv[1], kv[0]))[:3]),
        url_share=url_share,
    )


def _similarity_to_first(texts: list[str]) -> np.ndarray:
    """Jaccard similarity of each normalized text's 3-grams to the first text's."""
    shingles = shingle_sets(texts)
    return pair_jaccard(shingles, np.arange(len(texts), dtype=np.uint64))


def _median_gap(times: np.ndarray, accounts: np.ndarray, scale: int) -> float | None:
    """Median time between consecutive accounts' first posts in the campaign."""
    if times.size == 0:
        return None
    first_of: dict[int, int] = {}
    for time, account in zip(times.tolist(), accounts.tolist()):
        first_of[account] = min(time, first_of.get(account, time))
    firsts = np.sort(np.array(list(first_of.values())))
    if firsts.size < 2:
        return None
    return round(float(np.median(np.diff(firsts))) / scale, 2)


def _fast_pairs(times: np.ndarray, accounts: np.ndarray, window: int) -> int:
    """Pairs of posts by two different accounts at most ``window`` seconds apart."""
    order = np.lexsort((times, accounts))
    times, accounts = times[order], accounts[order]
    same = 0
    for start, end in _runs(accounts):
        if end - start > 1:
            same += _pairs_within(times[start:end], window)
    return _pairs_within(times, window) - same


def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of equal values in a sorted array."""
    cuts = np.flatnonzero(values[1:] != values[:-1]) + 1
    bounds = np.concatenate(([0], cuts, [values.size])).tolist()
    return list(zip(bounds[:-1], bounds[1:]))


def _pairs_within(times: np.ndarray, window: int) -> int:
    ordered = np.sort(times)
    return int((np.searchsorted(ordered, ordered + window, side="right") - np.arange(ordered.size) - 1).sum())


def _rank(campaign: Campaign) -> tuple:
    """Copypasta before share templates; then more accounts, more fast pairs, a shorter
    span first; then what the campaign holds (so numbering never depends on input order)."""
    return (
        KINDS.index(campaign.kind), -campaign.accounts, -(campaign.fast_pairs or 0),
        campaign.span if campaign.span is not None else float("inf"),
        campaign.first, campaign.posts[0].post_id, campaign.posts[0].text,
    )


def _numbered(campaign: Campaign, name: str) -> Campaign:
    from dataclasses import replace

    return replace(campaign, id=name, posts=campaign.posts.renamed(name))


def _resolution(times: np.ndarray, days: np.ndarray) -> str:
    """``seconds``, ``day`` (a pasted timeline's dates), ``mixed`` or ``none``."""
    dated = times != NO_TIME
    if not dated.any():
        return "none"
    day_only = days[dated]
    if day_only.all():
        return "day"
    return "mixed" if day_only.any() else "seconds"
