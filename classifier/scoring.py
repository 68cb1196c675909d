"""The scoring kernel: chunks of posts in, :class:`~classifier.scored.ScoredSegment` records out.

dump -> posts -> (this module) analyzed texts -> markers -> features -> p_wire and
evidence -> one record per segment.  Each stage runs once per segment: the tokenizer
analyzes a text once (normalization, tokens, entities), the markers are detected once
onto the analyzed text (:func:`~classifier.markers.annotate_markers`, read by the model's
marker block and by the record), the features are computed once for p_wire and the
evidence.

Work goes in chunks of about :data:`CHUNK_SIZE` segments, so memory does not grow with
the dump.  :func:`process_chunk` is the unit every engine runs (in this process, in a
worker process, on a Dask worker): it scores a chunk and returns what the run needs of
it (:class:`ScoredChunk`): the chunk formatted for the scores file (UTF-8 bytes), its summary, and its
records when the report lists them.
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass, field, fields
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from .accounts import ScoredPost, record_posts, time_zone
from .ingest import dump_name, read_posts
from .markers import annotate_markers, load_lexicon, technique_counts
from .model import Model, explain, load_model, transform_features, wire_probability_of_features
from .report_rows import ReportEntry, report_entries
from .scored import TOP_TOKENS, ScoredSegment
from .segment import Segment, post_segments, provenance
from .source import Part, Post, ReadOptions, Reject
from .summary import Summary
from .writers import format_records, write_partition

if TYPE_CHECKING:
    from .campaign_params import CampaignParams
    from .campaigns import CampaignFinder

CHUNK_SIZE = 1000
#: The pieces a pool run's last chunk is cut into (:func:`post_chunks`).
TAIL_PIECES = 4


@dataclass
class ScoreSummary:
    """What a run read, scored and rejected: records read = records scored + rejected."""

    records_read: int = 0
    records_scored: int = 0
    records_rejected: int = 0
    segments: int = 0
    #: The rejected records, when no ``on_reject`` takes them (in-memory runs: score_file).
    rejects: list[Reject] = field(default_factory=list)
    #: Takes each rejected record as it is read (a rejects file), instead of ``rejects``.
    on_reject: Callable[[Reject], None] | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {
            "records_read": self.records_read,
            "records_scored": self.records_scored,
            "records_rejected": self.records_rejected,
            "segments": self.segments,
        }


def counted_posts(items: Iterable[Post | Reject], summary: ScoreSummary) -> Iterator[Post]:
    """The posts among ``items``, counting records read, scored and rejected into ``summary``
    (each reject goes to ``summary.on_reject``, else into ``summary.rejects``): the single
    place where records are counted."""
    for item in items:
        summary.records_read += 1
        if isinstance(item, Reject):
            summary.records_rejected += 1
            if summary.on_reject is not None:
                summary.on_reject(item)
            else:
                summary.rejects.append(item)
            continue
        summary.records_scored += 1
        yield item


def iter_segments(items: Iterable[Post | Reject], dump: str, summary: ScoreSummary) -> Iterator[Segment]:
    """Segments of every post (without scoring them), counting records into ``summary``."""
    for post in counted_posts(items, summary):
        yield from post_segments(post, dump)


def post_chunks(items: Iterable[Post | Reject], summary: ScoreSummary, size: int = CHUNK_SIZE, *,
                tail_pieces: int = 1) -> Iterator[list[Post]]:
    """Cut posts into chunks of about ``size`` segments, counting records and rejects.

    ``tail_pieces`` > 1 cuts the dump's last chunk into that many pieces (whole posts,
    about ``size / tail_pieces`` segments each): a pool's workers then end within a
    piece of each other, where one would otherwise wait, idle, for the other to score a
    whole chunk.  A full chunk is held until the next post comes, to know whether it is
    the last.
    """
    chunk: list[Post] = []
    held: list[Post] | None = None
    parts = 0
    for post in counted_posts(items, summary):
        if held is not None:
            yield held
            held = None
        chunk.append(post)
        parts += len(post.parts)
        if parts >= size:
            if tail_pieces > 1:
                held = chunk
            else:
                yield chunk
            chunk, parts = [], 0
    last = held if held is not None else chunk
    if tail_pieces > 1 and last:
        yield from _pieces(last, max(size // tail_pieces, 1))
    elif last:
        yield last


def _pieces(posts: list[Post], size: int) -> Iterator[list[Post]]:
    """``posts`` cut into runs of at least ``size`` segments (the last one may have fewer)."""
    piece: list[Post] = []
    parts = 0
    for post in posts:
        piece.append(post)
        parts += len(post.parts)
        if parts >= size:
            yield piece
            piece, parts = [], 0
    if piece:
        yield piece


@contextlib.contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while a chunk is scored.

    A chunk allocates tens of thousands of small tuples (tokens) that live until the chunk
    is written; the collector would walk them again and again (a third of the run time),
    yet they hold no reference cycles and are freed by reference counting.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def score_chunk(model: Model, posts: list[Post], dump: str, *, evidence: bool | int = True) -> list[ScoredSegment]:
    """Score every segment of ``posts``: one :class:`ScoredSegment` each, in input order.

    ``evidence=True`` keeps every contribution with its character spans (JSONL and
    Parquet scores files); ``False`` only the :data:`~classifier.scored.TOP_TOKENS`
    strongest, without spans (enough for a CSV file); a number ``n``, the strongest
    contributions with spans as far as the ``n``-th of them that has spans (the report's
    evidence: a segment's few dozen contributions need not all be put back on its text).
    """
    parts = [(post, part) for post in posts for part in post.parts]
    if not parts:
        return []
    pipeline = model.pipeline
    docs = pipeline.named_steps["tokens"].transform([part.text for _, part in parts])
    lexicon = load_lexicon()
    markers = [annotate_markers(doc, lexicon) for doc in docs]
    X, occurrences = transform_features(pipeline, docs)
    p_wire = wire_probability_of_features(pipeline, X).tolist()
    if evidence is True or evidence is False:
        explained = explain(pipeline, docs, None if evidence else TOP_TOKENS, X=X, occurrences=occurrences,
                            spans=evidence)
    else:
        explained = _strongest_with_spans(pipeline, docs, X, occurrences, evidence)
    return [
        ScoredSegment(*provenance(post, part, dump), doc.urls, doc.hashtags, doc.mentions, round(p, 4),
                      "wire" if p >= 0.5 else "partisan", tuple(contributions), spans,
                      tuple(technique_counts(spans).items()))
        for (post, part), doc, p, contributions, spans in zip(parts, docs, p_wire, explained, markers)
    ]


#: Contributions put back on the text beyond the number with spans asked for: a feature
#: without spans (a density) among a segment's strongest is rare, and a segment short of
#: spans among them is explained again in full.
SPARE_CONTRIBUTIONS = 8


def _strongest_with_spans(pipeline, docs: list, X, occurrences: list, wanted: int) -> list[list]:
    """Per document, its strongest contributions with their spans, as many as hold the
    ``wanted`` strongest that have spans: the first :data:`SPARE_CONTRIBUTIONS` more than
    ``wanted`` (and at least the scores file's top tokens), and every one for a document
    whose first ones hold fewer with spans.  The lists begin as
    :func:`~classifier.model.explain`'s full lists do (the same order), so what is read of
    them is the same."""
    cut = max(wanted + SPARE_CONTRIBUTIONS, TOP_TOKENS)
    explained = explain(pipeline, docs, cut, X=X, occurrences=occurrences, spans=True)
    short = [i for i, contributions in enumerate(explained)
             if len(contributions) >= cut and sum(1 for c in contributions if c.spans) < wanted]
    if short:
        again = explain(pipeline, [docs[i] for i in short], X=X[short], occurrences=[occurrences[i] for i in short],
                        spans=True)
        for i, contributions in zip(short, again):
            explained[i] = contributions
    return explained


@dataclass(frozen=True, slots=True)
class ChunkTask:
    """One chunk of posts and what to make of it (see :func:`process_chunk`).

    ``fmt`` is the scores file's format; ``partition`` the file a Dask worker writes the
    chunk to (None: the chunk's text goes back to the run, which writes it);
    ``report_evidence`` the evidence kept per record when the report lists this chunk's
    records (None: it does not); ``excel_safe`` quotes CSV cells a spreadsheet would run
    as formulas (:func:`classifier.outputs.excel_safe_cell`); ``campaigns`` the campaign
    detection parameters when the run looks for campaigns (None: it does not); ``tz`` the
    time zone the chunk's posts are folded in for the account tables (None: no account
    tables); ``tables`` True when the run's output is the database tables (SQLite,
    Parquet), whose segment rows go back instead of text; ``summary_accounts`` False when
    no report shows the summary's counts per account (:class:`~classifier.summary.Summary`).
    """

    index: int
    posts: list[Post]
    dump: str
    fmt: str
    partition: str | None = None
    report_evidence: int | None = None
    excel_safe: bool = False
    campaigns: CampaignParams | None = None
    tz: str | None = None
    tables: bool = False
    summary_accounts: bool = True

    @property
    def segments(self) -> int:
        return sum(len(post.parts) for post in self.posts)

    def __reduce__(self):
        # Pickled (to a worker process, a Dask worker) with its posts as plain tuples:
        # pickle writes and reads those in C, where a dataclass instance costs a Python
        # call each way (about 5 ms a chunk of 1,000 posts, on the reading process's CPU).
        return _unpickle_task, tuple(pack_posts(self.posts) if name == "posts" else getattr(self, name)
                                     for name in _TASK_FIELDS)


_TASK_FIELDS = tuple(f.name for f in fields(ChunkTask))
_POST_FIELDS = tuple(f.name for f in fields(Post))
_PARTS = _POST_FIELDS.index("parts")
_post_values = attrgetter(*_POST_FIELDS)
_part_values = attrgetter(*(f.name for f in fields(Part)))


def pack_posts(posts: list[Post]) -> tuple:
    """Posts as tuples of their fields (parts as tuples too): what a chunk's posts are
    pickled as (:func:`unpack_posts` makes them again)."""
    packed = []
    for post in posts:
        values = _post_values(post)
        packed.append((*values[:_PARTS], tuple(map(_part_values, values[_PARTS])), *values[_PARTS + 1:]))
    return tuple(packed)


def unpack_posts(packed: tuple) -> list[Post]:
    """The posts :func:`pack_posts` packed."""
    posts = []
    for values in packed:
        post = Post(*values)
        post.parts = [Part(*part) for part in post.parts]
        posts.append(post)
    return posts


def _unpickle_task(*values) -> ChunkTask:
    named = dict(zip(_TASK_FIELDS, values))
    named["posts"] = unpack_posts(named["posts"])
    return ChunkTask(**named)


@dataclass
class ScoredChunk:
    """What a run needs of one scored chunk: its size, its rows for the scores file as
    UTF-8 bytes, ready to write (empty when a worker wrote them; bytes cross from a worker
    to the run as they are, where a string is decoded on the way back and encoded again to
    be written), its summary, its segments as the report lists them (when it does: each
    made into its row's JSON here, so that no record, with its evidence and spans, is
    pickled to the run and back), its posts
    sketched for campaign detection (a finder the run merges into its own), its posts for
    the account tables, and its rows of the database's segments table."""

    segments: int
    data: bytes
    summary: Summary
    report_entries: list[ReportEntry] | None = None
    campaigns: CampaignFinder | None = None
    posts: list[ScoredPost] | None = None
    segment_rows: list[tuple] | None = None

    def __reduce__(self):
        # Pickled (back from a worker) with its posts and report entries as tuples of their
        # fields, for the same reason as ChunkTask's posts: a frozen dataclass costs a
        # Python call per instance to pickle and to load, tuples none.
        return _unpickle_chunk, tuple(_packed(name, getattr(self, name)) for name in _CHUNK_FIELDS)


_CHUNK_FIELDS = tuple(f.name for f in fields(ScoredChunk))
#: The chunk's fields that are lists of frozen records, and the fields of each record.
_RECORD_FIELDS = {"posts": (ScoredPost, attrgetter(*(f.name for f in fields(ScoredPost)))),
                  "report_entries": (ReportEntry, attrgetter(*(f.name for f in fields(ReportEntry))))}


def _packed(name: str, value):
    if value is None or name not in _RECORD_FIELDS:
        return value
    return tuple(map(_RECORD_FIELDS[name][1], value))


def _unpickle_chunk(*values) -> ScoredChunk:
    named = dict(zip(_CHUNK_FIELDS, values))
    for name, (kind, _) in _RECORD_FIELDS.items():
        if named[name] is not None:
            named[name] = [kind(*fields_) for fields_ in named[name]]
    return ScoredChunk(**named)


def process_chunk(model: Model, task: ChunkTask) -> ScoredChunk:
    """Score one chunk and make of it what the run needs: the one function every engine runs.

    The evidence spans are computed only where they are shown: every contribution's in
    JSONL scores files, the strongest ones of each segment the report lists.
    """
    every_span = task.fmt != "csv" and not task.tables
    evidence = every_span or (task.report_evidence if task.report_evidence is not None else False)
    segment_rows = None
    with gc_paused():
        records = score_chunk(model, task.posts, task.dump, evidence=evidence)
        if task.partition is not None:
            write_partition(task.partition, records, task.fmt, excel_safe=task.excel_safe)
            data = b""
        elif task.tables:
            from .database import segment_values

            data, segment_rows = b"", segment_values(records)
        else:
            data = format_records(records, task.fmt, excel_safe=task.excel_safe).encode("utf-8")
        summary = Summary(accounts=task.summary_accounts).update(records)
        entries = None if task.report_evidence is None else report_entries(records, task.report_evidence)
        finder = None if task.campaigns is None else sketch_campaigns(records, task.campaigns)
        posts = None if task.tz is None else record_posts(records, time_zone(task.tz))
    return ScoredChunk(len(records), data, summary, entries, campaigns=finder, posts=posts, segment_rows=segment_rows)


def sketch_campaigns(records: list[ScoredSegment], params: CampaignParams) -> CampaignFinder:
    """A chunk's posts sketched for campaign detection: a finder the run merges with every
    other chunk's (the result does not depend on how the dump was cut or where chunks ran)."""
    from .campaigns import CampaignFinder

    return CampaignFinder(params).add_segments(records)


def score_file(path: str | Path, *, model: Model | None = None, options: ReadOptions | None = None,
               **changes) -> tuple[list[ScoredSegment], ScoreSummary]:
    """Score one dump file completely in memory (for notebooks and tests).

    ``options`` (and keyword ``changes`` to them) say how to read the dump, as for
    :func:`~classifier.ingest.read_posts`.

    Examples
    --------
    >>> records, summary = score_file("seeds/timeline_nhk_reuters_partisan_2024-11-04.txt")  # doctest: +SKIP
    >>> records[0].account, records[0].label  # doctest: +SKIP
    ('NHKニュース', 'wire')
    """
    model = model or load_model()
    summary = ScoreSummary()
    dump = dump_name(path)
    records: list[ScoredSegment] = []
    for posts in post_chunks(read_posts(path, options, **changes), summary):
        with gc_paused():
            records.extend(score_chunk(model, posts, dump))
    summary.segments = len(records)
    return records, summary
