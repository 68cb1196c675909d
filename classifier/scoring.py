"""Scoring a dump end to end: the library call behind ``postcred score``.

dump -> posts -> segments -> tokens -> p_wire, label, evidence -> score rows.  The work is
done in chunks so that memory does not grow with the dump; rows are plain dicts, ready for
the CSV/JSONL writers and the report.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import json
import pickle
from collections import Counter, defaultdict
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from .ingest import Post, Reject, read_posts
from .markers import (
    MarkerSpan,
    detect_markers,
    format_marker_counts,
    format_technique_counts,
    load_lexicon,
    marker_counts,
    technique_counts,
)
from .model import Model, explain, load_model, transform_features, wire_probability_of_features
from .segment import Segment, make_segment

if TYPE_CHECKING:
    from .report import ReportRows

CHUNK_SIZE = 1000
#: Per-segment rows kept for the HTML report by default; the summaries count every row.
REPORT_MAX_ROWS = 50_000
TOP_TOKENS = 6
SCORE_COLUMNS = (
    "id", "dump", "line", "line_end", "record", "post_id", "account", "handle", "date", "role",
    "kind", "text", "urls", "hashtags", "mentions", "p_wire", "label", "top_tokens",
    "markers", "techniques",
)
LIST_COLUMNS = ("urls", "hashtags", "mentions")


@dataclass
class ScoreSummary:
    """What a run read, scored and rejected: records read = records scored + rejected."""

    records_read: int = 0
    records_scored: int = 0
    records_rejected: int = 0
    segments: int = 0
    #: The rejected records, when no ``on_reject`` takes them (in-memory runs: score_file).
    rejects: list[Reject] = field(default_factory=list)
    #: Takes each rejected record as it is read (a :class:`RejectsFile`), instead of ``rejects``.
    on_reject: Callable[[Reject], None] | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {
            "records_read": self.records_read,
            "records_scored": self.records_scored,
            "records_rejected": self.records_rejected,
            "segments": self.segments,
        }


def post_segments(post: Post, dump: str) -> list[Segment]:
    """The segments of one post, one per part, in input order."""
    return [
        make_segment(
            dump=dump,
            line=part.line,
            line_end=part.line_end,
            record=post.record,
            post_id=post.post_id,
            account=post.account,
            handle=post.handle,
            date=post.date,
            role=part.role,
            text=part.text,
            kind=post.kind,
        )
        for part in post.parts
    ]


@contextlib.contextmanager
def open_rejects(path: Path | None) -> Iterator[RejectsFile | None]:
    """The rejects file of a run (None when ``path`` is None: records are not skipped),
    put in place when the block ends, or removed if the block fails."""
    if path is None:
        yield None
        return
    with contextlib.ExitStack() as stack:
        yield RejectsFile(path, stack)


class RejectsFile:
    """The rejects file of a run, written as rejected records are read (JSONL: record,
    line, reason, raw), so that a dump with millions of bad records does not hold them in
    memory.  Created on the first reject only, through a temporary file that ``stack``
    renames into place when the run ends (or removes if it fails); see :func:`open_rejects`."""

    def __init__(self, path: Path, stack: contextlib.ExitStack) -> None:
        self.path = path
        self.count = 0
        self._stack = stack
        self._handle = None

    def __call__(self, reject: Reject) -> None:
        from .outputs import atomic_open

        if self._handle is None:
            self._handle = self._stack.enter_context(atomic_open(self.path, "w"))
        self._handle.write(json.dumps(reject.to_dict(), ensure_ascii=False) + "\n")
        self.count += 1

    @property
    def written(self) -> Path | None:
        """The file's path once a reject went into it, else None."""
        return self.path if self.count else None


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
    """Segments of every post, counting records read, scored and rejected into ``summary``."""
    for post in counted_posts(items, summary):
        yield from post_segments(post, dump)


def score_segments(model: Model, segments: list[Segment], top: int = TOP_TOKENS, *, evidence: bool = True) -> list[dict]:
    """Score a list of segments: one row per segment with p_wire, label and evidence.

    Each text is analyzed (MeCab) once; the features are computed once and serve both
    p_wire and the explanation; marker detection is memoized per text, so the model's
    marker block and the row's markers share one detection.  ``evidence=False`` leaves
    out the per-feature spans (``row["evidence"]``), which a CSV file would drop anyway.
    """
    if not segments:
        return []
    pipeline = model.pipeline
    docs = pipeline.named_steps["tokens"].transform([s.text for s in segments])
    X, occurrences = transform_features(pipeline, docs)
    p_wire = wire_probability_of_features(pipeline, X).tolist()
    explained = explain(pipeline, docs, None if evidence else top, X=X, occurrences=occurrences, spans=evidence)
    lexicon = load_lexicon()  # once per chunk: the same object the model's marker block uses
    rows = []
    for segment, doc, p, contributions in zip(segments, docs, p_wire, explained):
        row = segment_dict(segment)
        row["p_wire"] = round(p, 4)
        row["label"] = "wire" if p >= 0.5 else "partisan"
        row["top_tokens"] = [
            {"token": c.surface, "feature": c.feature, "weight": round(c.weight, 4)} for c in contributions[:top]
        ]
        if evidence:
            row["evidence"] = [
                {"feature": c.feature, "weight": round(c.weight, 4), "spans": [list(s) for s in c.spans]}
                for c in contributions
                if c.spans
            ]
        spans = detect_markers(doc, lexicon)
        row["markers"] = [marker_dict(span) for span in spans]
        row["techniques"] = technique_counts(spans)
        rows.append(row)
    return rows


_SEGMENT_FIELDS: tuple[str, ...] = ()
_MARKER_FIELDS: tuple[str, ...] = ()


def marker_dict(span: MarkerSpan) -> dict:
    """``span.to_dict()`` without ``dataclasses.asdict`` (a hot path)."""
    global _MARKER_FIELDS
    if not _MARKER_FIELDS:
        _MARKER_FIELDS = tuple(f.name for f in fields(MarkerSpan))
    return {name: getattr(span, name) for name in _MARKER_FIELDS}


def segment_dict(segment: Segment) -> dict:
    """``segment.to_dict()`` without ``dataclasses.asdict``'s deep copy (a hot path)."""
    global _SEGMENT_FIELDS
    if not _SEGMENT_FIELDS:
        _SEGMENT_FIELDS = tuple(f.name for f in fields(Segment))
    row = {name: getattr(segment, name) for name in _SEGMENT_FIELDS}
    for name, value in row.items():
        if isinstance(value, list):
            row[name] = list(value)
    return row


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


def chunked(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def score_posts(
    items: Iterable[Post | Reject],
    dump: str,
    *,
    model: Model | None = None,
    summary: ScoreSummary | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
) -> Iterator[list[dict]]:
    """Score posts chunk by chunk, yielding lists of score rows."""
    model = model or load_model()
    summary = summary if summary is not None else ScoreSummary()
    for chunk in chunked(iter_segments(items, dump, summary), chunk_size):
        with gc_paused():
            rows = score_segments(model, chunk)
        summary.segments += len(rows)
        if progress:
            progress(len(rows))
        yield rows


def score_file(path: str | Path, *, model: Model | None = None, **read_options) -> tuple[list[dict], ScoreSummary]:
    """Score one dump file completely in memory (for notebooks and tests).

    Examples
    --------
    >>> rows, summary = score_file("seeds/timeline_nhk_reuters_partisan_2024-11-04.txt")  # doctest: +SKIP
    >>> rows[0]["account"], rows[0]["label"]  # doctest: +SKIP
    ('NHKニュース', 'wire')
    """
    from .ingest import dump_name

    summary = ScoreSummary()
    rows: list[dict] = []
    for chunk in score_posts(read_posts(path, **read_options), dump_name(path), model=model, summary=summary):
        rows.extend(chunk)
    return rows, summary


# ---------------------------------------------------------------- chunks, for any engine
#
# The unit of work is a list of posts (a few hundred to a few thousand segments).  The
# process that reads the dump counts records and rejects and cuts the posts into chunks;
# whoever scores a chunk (this process, a worker process of ``--jobs``, a Dask worker)
# returns it already formatted for the scores file, a small digest per row for the
# summaries, and the full rows only when the report still wants them.  So the reading
# process does little per segment, and memory holds a few chunks, never the dump.


@dataclass
class ScoredChunk:
    """One scored chunk: what the scores file, the summaries and the report need of it.

    ``packed_rows`` holds the full rows, pickled, when the report wants them: a pickled
    row takes a tenth of the memory of the row's dicts and lists, which matters when tens
    of thousands of rows wait for the report.
    """

    segments: int
    text: str
    fieldnames: list[str] | None
    digest: list[tuple]
    packed_rows: bytes | None = None

    @property
    def rows(self) -> list[dict] | None:
        return None if self.packed_rows is None else pickle.loads(self.packed_rows)


def pack_rows(rows: list[dict]) -> bytes:
    """Rows kept for the report, pickled, with the evidence the report shows.

    The report draws the :data:`~classifier.report.EVIDENCE_PER_SEGMENT` strongest
    features of a segment; the evidence list is already strongest first, so cutting it
    there changes nothing in the report and saves a quarter of each waiting row.  (The
    scores file was written before, with all of it.)
    """
    from .report import EVIDENCE_PER_SEGMENT

    for row in rows:
        if "evidence" in row:
            row["evidence"] = row["evidence"][:EVIDENCE_PER_SEGMENT]
    return pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)


def row_digest(row: dict) -> tuple:
    """What the report's summaries need of a row: (account, handle, p_wire, label, techniques)."""
    from .report import account_name, row_techniques

    return (account_name(row), row.get("handle") or "", float(row["p_wire"]), row["label"], row_techniques(row))


def score_post_chunk(
    model: Model,
    posts: list[Post],
    dump: str,
    *,
    fmt: str,
    fieldnames: list[str] | None = None,
    keep_rows: bool = False,
) -> ScoredChunk:
    """Segment, score and format one chunk of posts (in whichever process runs it).

    The evidence spans are computed only where they are written: in JSONL rows and in
    rows kept for the report.
    """
    segments = [segment for post in posts for segment in post_segments(post, dump)]
    with gc_paused():
        rows = score_segments(model, segments, evidence=fmt != "csv" or keep_rows)
        text, fieldnames = format_rows(rows, fmt, fieldnames)
        digest = [row_digest(row) for row in rows]
    return ScoredChunk(len(rows), text, fieldnames, digest, pack_rows(rows) if keep_rows else None)


def post_chunks(items: Iterable[Post | Reject], summary: ScoreSummary, size: int = CHUNK_SIZE) -> Iterator[list[Post]]:
    """Cut posts into chunks of about ``size`` segments, counting records and rejects."""
    chunk: list[Post] = []
    parts = 0
    for post in counted_posts(items, summary):
        chunk.append(post)
        parts += len(post.parts)
        if parts >= size:
            yield chunk
            chunk, parts = [], 0
    if chunk:
        yield chunk


class LocalScorer:
    """Scores chunks in this process, in order (``--jobs 1``)."""

    def __init__(self, model: Model, dump: str, fmt: str) -> None:
        self.model, self.dump, self.fmt = model, dump, fmt

    def __enter__(self) -> "LocalScorer":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def map(self, chunks: Iterable[list[Post]], keep: Callable[[int], bool]) -> Iterator[ScoredChunk]:
        """Scored chunks in input order; ``keep(segments before this chunk)`` says whether
        the chunk's full rows are wanted (for the report)."""
        fieldnames = None
        dispatched = 0
        for posts in chunks:
            chunk = score_post_chunk(self.model, posts, self.dump, fmt=self.fmt, fieldnames=fieldnames,
                                     keep_rows=keep(dispatched))
            dispatched += chunk.segments
            fieldnames = fieldnames or chunk.fieldnames
            yield chunk


def open_scorer(model: Model, dump: str, fmt: str, *, jobs: int = 1, model_dir: str | Path | None = None):
    """The scorer for ``jobs`` processes: :class:`LocalScorer` or a process pool."""
    if jobs <= 1:
        return LocalScorer(model, dump, fmt)
    from .parallel import ParallelScorer

    return ParallelScorer(model, dump, fmt, jobs=jobs, model_dir=model_dir)


class SummaryAccumulator:
    """:func:`classifier.report.summarize` computed chunk by chunk, without keeping rows.

    Counts per label, per account (count, mean p_wire, labels) and per technique over
    every scored segment, so that a report that shows only some of the rows still
    summarizes all of them.  Gives the same dict as ``summarize(all_rows)``.
    """

    def __init__(self) -> None:
        self.total = 0
        self.per_label: dict[str, int] = defaultdict(int)
        self.accounts: dict[tuple[str, str], list] = {}
        self.techniques: Counter = Counter()
        self.technique_accounts: dict[str, Counter] = defaultdict(Counter)

    def add(self, digest: Iterable[tuple]) -> None:
        for account, handle, p_wire, label, techniques in digest:
            self.total += 1
            self.per_label[label] += 1
            entry = self.accounts.get((account, handle))
            if entry is None:
                entry = self.accounts[(account, handle)] = [0, 0.0, Counter()]
            entry[0] += 1
            entry[1] += p_wire
            entry[2][label] += 1
            for technique, count in techniques.items():
                self.techniques[technique] += count
                self.technique_accounts[technique][account] += count

    def result(self) -> dict:
        accounts = [
            {
                "account": name,
                "handle": handle,
                "count": count,
                "mean_p_wire": total / count,
                "wire": labels["wire"],
                "partisan": labels["partisan"],
            }
            for (name, handle), (count, total, labels) in self.accounts.items()
        ]
        accounts.sort(key=lambda a: (-a["count"], a["account"]))
        technique_rows = [
            {"technique": t, "count": c, "accounts": self.technique_accounts[t]}
            for t, c in sorted(self.techniques.items(), key=lambda item: (-item[1], item[0]))
        ]
        return {
            "total": self.total,
            "labels": [{"label": k, "count": self.per_label.get(k, 0)} for k in ("wire", "partisan")],
            "accounts": accounts,
            "techniques": technique_rows,
        }


class RunCollector:
    """Writes scored chunks to the scores file and gathers what the report needs: the
    summary over every row and the first ``max_rows`` rows."""

    def __init__(self, writer: ScoresWriter, max_rows: int, progress: Callable[[int], None] | None = None) -> None:
        self.writer = writer
        self.max_rows = max_rows
        self.progress = progress
        self.segments = 0
        self.kept = 0
        self._packed: list[tuple[bytes, int]] = []
        self.summary = SummaryAccumulator()

    def wants_rows(self, dispatched: int) -> bool:
        return dispatched < self.max_rows

    def add(self, chunk: ScoredChunk) -> None:
        self.writer.write_text(chunk.text, chunk.fieldnames)
        self.summary.add(chunk.digest)
        self.segments += chunk.segments
        if chunk.packed_rows is not None and self.kept < self.max_rows:
            take = min(chunk.segments, self.max_rows - self.kept)
            self._packed.append((chunk.packed_rows, take))
            self.kept += take
        if self.progress:
            self.progress(chunk.segments)

    def report_rows(self) -> ReportRows:
        """The rows kept for the report in its compact form, unpacked one chunk at a time
        so that only one chunk of full score rows is ever in memory (call once, at the end)."""
        from .report import ReportRows

        rows = ReportRows()
        while self._packed:
            packed, take = self._packed.pop(0)
            for row in pickle.loads(packed)[:take]:
                rows.add(row)
        return rows

    def label_counts(self) -> dict:
        return {"wire": self.summary.per_label.get("wire", 0), "partisan": self.summary.per_label.get("partisan", 0)}

    def report_run(self) -> dict:
        """What the report's header says about the rows it shows (all, or the first N)."""
        shown = self.kept
        note = {"report_rows": shown, "report_rows_capped": shown < self.segments}
        if shown < self.segments:
            note["report_note"] = (
                f"This report lists the first {shown:,} of {self.segments:,} segments; the counts, "
                "per-account means and technique tables cover all of them. The scores file has every row."
            )
        return note


def format_top_tokens(tokens: list[dict]) -> str:
    """``と述べた +1.21 | 🇷🇺 -0.88``: the top tokens as one CSV cell."""
    return " | ".join(f"{t['token']} {t['weight']:+.2f}" for t in tokens)


def csv_row(row: dict) -> dict:
    """Flatten a score row for CSV: lists become space-separated, evidence is left out."""
    flat = {k: row.get(k, "") for k in SCORE_COLUMNS}
    for key in LIST_COLUMNS:
        flat[key] = " ".join(row.get(key) or [])
    flat["top_tokens"] = format_top_tokens(row.get("top_tokens") or [])
    flat["markers"] = format_marker_counts(marker_counts(row.get("markers") or []))
    flat["techniques"] = format_technique_counts(row.get("techniques") or {})
    for key, value in row.items():
        if key not in flat and key != "evidence" and not isinstance(value, (list, dict)):
            flat[key] = value
    return flat


class ScoresWriter:
    """Writes score rows as CSV or JSONL to an open text handle, chunk by chunk."""

    def __init__(self, handle, fmt: str) -> None:
        if fmt not in ("csv", "jsonl"):
            raise ValueError(f"format must be 'csv' or 'jsonl', got {fmt!r}")
        self.handle = handle
        self.fmt = fmt
        self._csv = None

    def write(self, rows: list[dict]) -> None:
        text, self._csv = format_rows(rows, self.fmt, self._csv)
        self.handle.write(text)

    def write_text(self, text: str, fieldnames: list[str] | None) -> None:
        """Write rows already formatted by :func:`format_rows` (in a worker process)."""
        self.handle.write(text)
        if self._csv is None:
            self._csv = fieldnames

    def close(self) -> None:
        if self.fmt == "csv" and self._csv is None:
            csv.DictWriter(self.handle, fieldnames=list(SCORE_COLUMNS)).writeheader()


def format_rows(
    rows: list[dict], fmt: str, fieldnames: list[str] | None = None, *, header: bool | None = None
) -> tuple[str, list[str] | None]:
    """Score rows as the text of a CSV or JSONL file, and the CSV columns.

    With ``fieldnames=None`` the CSV text starts with a header made from the first row's
    columns; later chunks pass those columns back and get rows only, so chunks formatted
    apart (in worker processes) join into one file.  ``header=True`` writes the header
    even with given columns (a file per partition).
    """
    if fmt == "jsonl":
        dumps = json.dumps
        return "".join([dumps(row, ensure_ascii=False) + "\n" for row in rows]), fieldnames
    if fmt != "csv":
        raise ValueError(f"format must be 'csv' or 'jsonl', got {fmt!r}")
    if not rows:
        return "", fieldnames
    flat = [csv_row(row) for row in rows]
    buffer = io.StringIO()
    if header is None:
        header = fieldnames is None
    if fieldnames is None:
        fieldnames = list(flat[0])
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, extrasaction="ignore")
    if header:
        writer.writeheader()
    writer.writerows(flat)
    return buffer.getvalue(), fieldnames


def format_for(path: str | Path, fmt: str | None = None) -> str:
    """The output format: ``fmt`` if given, else from the extension (.csv, .jsonl/.json)."""
    if fmt:
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise ValueError(f"{path}: cannot tell the format from the extension; use --format csv or jsonl")


@dataclass
class ScoreRun:
    """What ``score_to_files`` wrote and counted."""

    output: Path
    report: Path | None
    summary: ScoreSummary
    label_counts: dict
    rejects: Path | None = None
    warnings: list[str] = field(default_factory=list)


def default_output(dump: str) -> Path:
    from .ingest import dump_name

    return Path("reports") / f"{dump_name(dump)}.scores.csv"


def score_to_files(
    dump: str,
    *,
    output: str | Path | None = None,
    fmt: str | None = None,
    report_path: str | Path | None = None,
    write_report: bool = True,
    model_dir: str | Path | None = None,
    trust_model: bool = False,
    input_format: str = "auto",
    encoding: str | None = None,
    errors: str = "strict",
    force: bool = False,
    progress: bool = False,
    on_error: str = "stop",
    rejects_path: str | Path | None = None,
    text_col: str | None = None,
    id_col: str | None = None,
    author_col: str | None = None,
    date_col: str | None = None,
    jobs: int = 1,
    report_max_rows: int = REPORT_MAX_ROWS,
) -> ScoreRun:
    """Score a dump file (``"-"``: standard input) and write the scores file and
    (optionally) the HTML report.

    ``model_dir`` is a model folder or file (default: the shipped model); ``trust_model``
    loads it even when this machine did not train it (see :mod:`classifier.trust`).

    Outputs are checked first (never over the input or ``labels/``, never over an existing
    file unless ``force``) and written atomically.  With ``on_error="skip"`` malformed
    records go to a rejects file (JSONL: record, line, reason, raw; default
    ``<scores stem>.rejects.jsonl`` beside the scores), written only when there are any.

    The dump is read, scored and written chunk by chunk (``jobs`` processes score chunks
    in parallel, written in input order), so memory does not grow with the dump.  The
    report's summaries count every segment; its per-segment rows stop after
    ``report_max_rows``, and it says so.
    """
    from .errors import OutputError
    from .ingest import dump_name
    from .outputs import atomic_open, check_output_path

    output = Path(output) if output is not None else default_output(dump)
    try:
        fmt = format_for(output, fmt)
    except ValueError as exc:
        raise OutputError(str(exc)) from None
    check_output_path(output, inputs=[dump], protected=["labels"], force=force)
    if write_report:
        report_path = Path(report_path) if report_path else output.with_name(output.name.split(".")[0] + ".html")
        check_output_path(report_path, inputs=[dump, output], protected=["labels"], force=force)
    if on_error == "skip":
        rejects_path = Path(rejects_path) if rejects_path else output.with_name(output.name.split(".")[0] + ".rejects.jsonl")
        check_output_path(rejects_path, inputs=[dump, output, *([report_path] if write_report else [])],
                          protected=["labels"], force=force)
    model = load_model(model_dir, trust_model=trust_model)
    items = read_posts(dump, input_format=input_format, encoding=encoding, errors=errors, on_error=on_error,
                       text_col=text_col, id_col=id_col, author_col=author_col, date_col=date_col)
    with open_rejects(rejects_path if on_error == "skip" else None) as rejects:
        summary = ScoreSummary(on_reject=rejects)
        with (
            open_scorer(model, dump_name(dump), fmt, jobs=jobs, model_dir=model_dir) as scorer,
            _progress_bar(progress) as advance,
            atomic_open(output, "w", newline="") as handle,
        ):
            writer = ScoresWriter(handle, fmt)
            collector = RunCollector(writer, max(report_max_rows, 0) if write_report else 0, advance)
            for chunk in scorer.map(post_chunks(items, summary), keep=collector.wants_rows):
                collector.add(chunk)
            writer.close()
        return finish_run(dump=dump, output=output, model=model, summary=summary, collector=collector,
                          report_path=report_path if write_report else None, rejects=rejects,
                          empty_note="the scores file has no rows")


def finish_run(*, dump: str, output: Path, model: Model, summary: ScoreSummary, collector: "RunCollector",
               report_path: Path | None, rejects: RejectsFile | None, empty_note: str) -> ScoreRun:
    """Close a scoring run (local or Dask): write the report, and say what was written
    (the rejects file is in place once the caller's ExitStack closes) and what to warn about."""
    from .report import write_report as write_html

    summary.segments = collector.segments
    if report_path is not None:
        title = "standard input" if dump == "-" else Path(dump).name
        write_html(report_path, collector.report_rows(), title=title, summary=collector.summary.result(),
                   model_meta=model.metadata, run={**summary.to_dict(), **collector.report_run()})
    written_rejects = rejects.written if rejects is not None else None
    warnings = []
    if summary.records_read == 0:
        warnings.append(f"{'<stdin>' if dump == '-' else dump}: no records found (an empty dump); {empty_note}")
    return ScoreRun(output, report_path, summary, collector.label_counts(), written_rejects, warnings)


class _progress_bar:
    """A rich progress bar on stderr for runs that last: it appears once scoring has taken
    more than :attr:`DELAY` seconds, only when asked (not ``--quiet``) and stderr is a
    terminal; otherwise the returned ``advance(n)`` does nothing."""

    DELAY = 2.0

    def __init__(self, enabled: bool) -> None:
        import sys

        self.enabled = enabled and sys.stderr.isatty()
        self._progress = None
        self._task = None
        self._done = 0
        self._started = 0.0

    def __enter__(self):
        import time

        if not self.enabled:
            return lambda n: None
        self._started = time.monotonic()

        def advance(n: int) -> None:
            self._done += n
            elapsed = time.monotonic() - self._started
            if self._progress is None:
                if elapsed < self.DELAY:
                    return
                self._start()
            rate = f"{self._done / elapsed:,.0f} segments/s" if elapsed > 0 else ""
            self._progress.update(self._task, completed=self._done, rate=rate)

        return advance

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("scoring"), BarColumn(), TextColumn("{task.completed:,} segments"),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
            console=Console(stderr=True), transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("score", total=None, rate="")

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
