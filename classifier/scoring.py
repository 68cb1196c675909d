"""Scoring a dump end to end: the library call behind ``postcred score``.

dump -> posts -> segments -> tokens -> p_wire, label, evidence -> score rows.  The work is
done in chunks so that memory does not grow with the dump; rows are plain dicts, ready for
the CSV/JSONL writers and the report.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .ingest import Post, Reject, read_posts
from .markers import detect_markers, format_marker_counts, format_technique_counts, marker_counts, technique_counts
from .model import Model, explain, load_model
from .segment import Segment, make_segment

CHUNK_SIZE = 1000
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
    rejects: list[Reject] = field(default_factory=list)

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


def iter_segments(items: Iterable[Post | Reject], dump: str, summary: ScoreSummary) -> Iterator[Segment]:
    """Segments of every post, counting records read, scored and rejected into ``summary``."""
    for item in items:
        summary.records_read += 1
        if isinstance(item, Reject):
            summary.records_rejected += 1
            summary.rejects.append(item)
            continue
        summary.records_scored += 1
        yield from post_segments(item, dump)


def score_segments(model: Model, segments: list[Segment], top: int = TOP_TOKENS) -> list[dict]:
    """Score a list of segments: one row per segment with p_wire, label and evidence."""
    if not segments:
        return []
    docs = model.pipeline.named_steps["tokens"].transform([s.text for s in segments])
    p_wire = model.p_wire(docs)
    evidence = explain(model.pipeline, docs, top=None)
    rows = []
    for segment, doc, p, contributions in zip(segments, docs, p_wire, evidence):
        row = segment.to_dict()
        row["p_wire"] = round(float(p), 4)
        row["label"] = "wire" if p >= 0.5 else "partisan"
        row["top_tokens"] = [
            {"token": c.surface, "feature": c.feature, "weight": round(c.weight, 4)} for c in contributions[:top]
        ]
        row["evidence"] = [
            {"feature": c.feature, "weight": round(c.weight, 4), "spans": [list(s) for s in c.spans]}
            for c in contributions
            if c.spans
        ]
        spans = detect_markers(doc)
        row["markers"] = [span.to_dict() for span in spans]
        row["techniques"] = technique_counts(spans)
        rows.append(row)
    return rows


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
        for row in rows:
            if self.fmt == "jsonl":
                self.handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                continue
            flat = csv_row(row)
            if self._csv is None:
                self._csv = csv.DictWriter(self.handle, fieldnames=list(flat), extrasaction="ignore")
                self._csv.writeheader()
            self._csv.writerow(flat)

    def close(self) -> None:
        if self.fmt == "csv" and self._csv is None:
            csv.DictWriter(self.handle, fieldnames=list(SCORE_COLUMNS)).writeheader()


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
    input_format: str = "auto",
    encoding: str | None = None,
    errors: str = "strict",
    force: bool = False,
    progress: bool = False,
) -> ScoreRun:
    """Score a dump file and write the scores file and (optionally) the HTML report.

    Outputs are checked first (never over the input or ``labels/``, never over an existing
    file unless ``force``) and written atomically.
    """
    from .errors import OutputError
    from .ingest import dump_name
    from .outputs import atomic_open, check_output_path
    from .report import write_report as write_html

    output = Path(output) if output is not None else default_output(dump)
    try:
        fmt = format_for(output, fmt)
    except ValueError as exc:
        raise OutputError(str(exc)) from None
    check_output_path(output, inputs=[dump], protected=["labels"], force=force)
    if write_report:
        report_path = Path(report_path) if report_path else output.with_name(output.name.split(".")[0] + ".html")
        check_output_path(report_path, inputs=[dump, output], protected=["labels"], force=force)
    model = load_model(model_dir)
    summary = ScoreSummary()
    label_counts = {"wire": 0, "partisan": 0}
    kept: list[dict] = []
    items = read_posts(dump, input_format=input_format, encoding=encoding, errors=errors)
    with _progress_bar(progress) as advance, atomic_open(output, "w", newline="") as handle:
        writer = ScoresWriter(handle, fmt)
        for rows in score_posts(items, dump_name(dump), model=model, summary=summary, progress=advance):
            writer.write(rows)
            for row in rows:
                label_counts[row["label"]] += 1
            if write_report:
                kept.extend(rows)
        writer.close()
    if write_report:
        write_html(report_path, kept, title=Path(dump).name, model_meta=model.metadata, run=summary.to_dict())
    return ScoreRun(output, report_path if write_report else None, summary, label_counts)


class _progress_bar:
    """A rich progress bar on stderr when asked and stderr is a terminal; else a no-op."""

    def __init__(self, enabled: bool) -> None:
        import sys

        self.enabled = enabled and sys.stderr.isatty()
        self._progress = None

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TextColumn("segments"), TimeElapsedColumn(),
            console=Console(stderr=True), transient=True,
        )
        self._progress.start()
        task = self._progress.add_task("score", total=None)
        return lambda n: self._progress.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
