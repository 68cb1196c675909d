"""The report's rows: one scored segment as the compact array the report's script reads,
and as the JSON text the page embeds.

A row is made where its segment was scored (the chunk kernel, :func:`report_entries`, in
a ``--jobs`` worker or in the run's own process) and crosses to the run as text, with the
few values the rest of the page reads of it (:class:`ReportEntry`): the run keeps the text
on disk (:class:`classifier.report.ReportRows`) and the values in memory.  The records
themselves, with their evidence and its spans, never travel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable

from .model import Contribution
from .scored import ScoredSegment

#: The most evidence features kept per segment in the report (largest |weight| first):
#: enough to explain a score, small enough that a 50,000-segment report stays openable.
EVIDENCE_PER_SEGMENT = 16
#: Columns of the compact row arrays in the embedded JSON (the script maps them back).
ROW_COLUMNS = (
    "id", "post", "line", "account", "handle", "date", "role", "kind", "text",
    "p_wire", "label", "evidence", "markers", "techniques",
)
#: How the report writes JSON (Jinja's ``tojson`` and :func:`row_json`): compact UTF-8, so
#: that Japanese stays readable and small.
JSON_DUMPS_KWARGS = {"ensure_ascii": False, "separators": (",", ":"), "sort_keys": False}
#: How Jinja's ``tojson`` makes JSON safe inside a ``<script>`` element: each of these
#: characters becomes its JSON escape.
SCRIPT_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "'": "\\u0027"}
_MARKER_ID = 3  # in a compact marker: [start, end, technique, marker, kind, weight, text]


def row_json(row: object) -> str:
    """A value as the report's JSON: what ``tojson`` would write for it in the report's
    environment (compact UTF-8 JSON, ``<``, ``>``, ``&`` and ``'`` escaped)."""
    return script_safe(json.dumps(row, **JSON_DUMPS_KWARGS))


def script_safe(text: str) -> str:
    """``text`` with :data:`SCRIPT_UNSAFE`'s characters escaped.  A few C-speed searches
    (most rows hold none of them) rather than ``str.translate``, which looks every
    character of Japanese text up in its table: 38 µs against 0.14 for a row of 560
    characters."""
    if "<" in text or ">" in text or "&" in text or "'" in text:
        for char, escaped in SCRIPT_UNSAFE.items():
            text = text.replace(char, escaped)
    return text


def post_key(record: ScoredSegment) -> str:
    """The post a segment belongs to: its post id, else its dump and record number."""
    return str(record.post_id or f"{record.dump}#{record.record}")


def _strength(contribution: Contribution) -> float:
    return -abs(round(contribution.weight, 4))


def compact_row(record: ScoredSegment, kept: int | None = None) -> list:
    """One segment as the array the report's script reads (see :data:`ROW_COLUMNS`).

    Evidence keeps the strongest :data:`EVIDENCE_PER_SEGMENT` features that have spans,
    each as ``(feature, weight, ((start, end), ...))``; markers become
    ``[start, end, technique, marker, kind, weight, text]``.  Offsets are Python character
    (code point) offsets into the text; the script indexes code points, not UTF-16 units.
    ``kept``: only the record's first ``kept`` contributions with spans are looked at
    (those the run kept for the report).
    """
    evidence = record.evidence if kept is None else record.evidence[:kept]
    strongest = sorted(evidence, key=_strength)[:EVIDENCE_PER_SEGMENT]
    return [
        record.id, post_key(record), record.line, record.account, record.handle, record.date, record.role,
        record.kind, record.text, record.p_wire, record.label,
        [(c.feature, round(c.weight, 4), c.spans) for c in strongest],
        [(m.start, m.end, m.technique, m.marker, m.kind, round(m.weight, 4), m.text) for m in record.markers],
        sorted(name for name, _ in record.techniques),
    ]


@dataclass(frozen=True, slots=True)
class ReportEntry:
    """One segment as the report keeps it: its row as the page's JSON (UTF-8), its id and
    text each followed by a NUL byte (what the report's id is computed from), and what the
    page's summaries, charts, menus and campaign links read: id, account, p_wire, role,
    marker ids (those a marker has) and the strongest evidence weight (|weight| rounded
    as the row writes it; 0 without evidence)."""

    row: bytes
    identity: bytes
    id: str
    account: str
    p_wire: float
    role: str
    markers: tuple[str, ...]
    peak: float


_EVIDENCE, _MARKERS = ROW_COLUMNS.index("evidence"), ROW_COLUMNS.index("markers")


def report_entry(record: ScoredSegment, kept: int | None = None) -> ReportEntry:
    """The :class:`ReportEntry` of one scored segment (``kept`` as for :func:`compact_row`)."""
    row = compact_row(record, kept=kept)
    strongest = row[_EVIDENCE]
    return ReportEntry(
        row=row_json(row).encode("utf-8"),
        identity=record.id.encode("utf-8") + b"\0" + record.text.encode("utf-8") + b"\0",
        id=record.id, account=record.account, p_wire=record.p_wire, role=record.role,
        markers=tuple(m[_MARKER_ID] for m in row[_MARKERS] if m[_MARKER_ID]),
        # The row's evidence is sorted strongest first: its first weight is the strongest.
        peak=abs(strongest[0][1]) if strongest else 0.0,
    )


def report_entries(records: Iterable[ScoredSegment], evidence: int = EVIDENCE_PER_SEGMENT) -> list[ReportEntry]:
    """The entries of a chunk's records, each made from its ``evidence`` strongest
    contributions that have spans (all the report draws)."""
    return [report_entry(record, evidence) for record in records]
