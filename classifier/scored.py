"""The scored segment: the one record scoring makes per segment, and the columns of it.

A :class:`ScoredSegment` is made once per segment by the scoring kernel
(:func:`classifier.scoring.score_chunk`) and never changes.  Every output is a function
of it: the scores file's rows (CSV, JSONL, Parquet) through :data:`COLUMNS`, defined here
and nowhere else; the report's rows (:func:`classifier.report_rows.compact_row`); the summary
(:class:`classifier.summary.Summary`).  Adding a column to the scores file is adding one
:class:`Column` to :data:`COLUMNS`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from operator import attrgetter
from typing import Callable, Iterator, Mapping

from .markers import MarkerSpan, format_marker_counts, marker_counts
from .technique_counts import format_technique_counts
from .model import Contribution
from .outputs import excel_safe_cell
from .segment import Segment

#: The strongest features listed in ``top_tokens``.
TOP_TOKENS = 6


@dataclass(frozen=True, slots=True)
class ScoredSegment(Segment):
    """A segment with its score, its evidence and its markers.

    ``p_wire`` is rounded to 4 decimals, as every output shows it; ``label`` is ``wire``
    when the unrounded probability is at least 0.5.  ``contributions`` are the features
    that moved the score, strongest first: all of them with their character spans, or
    only the :data:`TOP_TOKENS` strongest without spans when no output of the run shows
    the evidence (a CSV file without a report).  ``markers`` are the marker spans in
    text order, ``techniques`` the count of each technique among them, most frequent first.
    """

    p_wire: float
    label: str
    contributions: tuple[Contribution, ...]
    markers: tuple[MarkerSpan, ...]
    techniques: tuple[tuple[str, int], ...]

    @property
    def evidence(self) -> tuple[Contribution, ...]:
        """The contributions that carry character spans (what can be highlighted)."""
        return tuple(c for c in self.contributions if c.spans)


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the scores file.

    ``value`` gives the column's value in a JSON row (JSONL; Parquet, where nested values
    become JSON text); ``cell`` its CSV cell when that differs (a list joined, counts
    formatted); ``csv=False`` leaves the column out of CSV files.  ``arrow`` is its Parquet
    type: ``string``, ``int64``, ``float64``, ``list`` (of strings) or ``json``.
    """

    name: str
    value: Callable[[ScoredSegment], object]
    cell: Callable[[ScoredSegment], object] | None = None
    csv: bool = True
    arrow: str = "string"


def top_tokens(record: ScoredSegment) -> list[dict]:
    return [{"token": c.surface, "feature": c.feature, "weight": round(c.weight, 4)}
            for c in record.contributions[:TOP_TOKENS]]


def top_tokens_cell(record: ScoredSegment) -> str:
    """``と述べた +1.21 | 🇷🇺 -0.88``: the top tokens as one CSV cell."""
    return " | ".join(f"{c.surface} {round(c.weight, 4):+.2f}" for c in record.contributions[:TOP_TOKENS])


def evidence(record: ScoredSegment) -> list[dict]:
    return [{"feature": c.feature, "weight": round(c.weight, 4), "spans": [list(s) for s in c.spans]}
            for c in record.contributions if c.spans]


def markers(record: ScoredSegment) -> list[dict]:
    return [{"start": m.start, "end": m.end, "marker": m.marker, "technique": m.technique, "weight": m.weight,
             "kind": m.kind, "text": m.text} for m in record.markers]


def markers_cell(record: ScoredSegment) -> str:
    return format_marker_counts(marker_counts(record.markers))


def techniques_cell(record: ScoredSegment) -> str:
    return format_technique_counts(dict(record.techniques))


def _joined(name: str) -> Callable[[ScoredSegment], str]:
    get = attrgetter(name)
    return lambda record: " ".join(get(record))


def _field(name: str, arrow: str = "string") -> Column:
    return Column(name, attrgetter(name), arrow=arrow)


def _entities(name: str) -> Column:
    return Column(name, attrgetter(name), cell=_joined(name), arrow="list")


#: The columns of the scores file, in order.
COLUMNS: tuple[Column, ...] = (
    _field("id"),
    _field("dump"),
    _field("line", "int64"),
    _field("line_end", "int64"),
    _field("record", "int64"),
    _field("post_id"),
    _field("account"),
    _field("handle"),
    _field("date"),
    _field("role"),
    _field("kind"),
    _field("text"),
    _entities("urls"),
    _entities("hashtags"),
    _entities("mentions"),
    _field("p_wire", "float64"),
    _field("label"),
    Column("top_tokens", top_tokens, cell=top_tokens_cell, arrow="json"),
    Column("evidence", evidence, csv=False, arrow="json"),
    Column("markers", markers, cell=markers_cell, arrow="json"),
    Column("techniques", lambda record: dict(record.techniques), cell=techniques_cell, arrow="json"),
)


def json_row(record: ScoredSegment, columns: tuple[Column, ...] | None = None) -> dict:
    """The record as a JSON row (a JSONL line, a Parquet row): every column's value."""
    return {column.name: column.value(record) for column in columns or COLUMNS}


def csv_columns(columns: tuple[Column, ...] | None = None) -> list[Column]:
    """The columns a CSV file holds, in order."""
    return [column for column in columns or COLUMNS if column.csv]


def csv_cells(record: ScoredSegment, columns: list[Column], *, excel_safe: bool = False) -> list:
    """The record's CSV cells for ``columns`` (see :func:`csv_columns`); with
    ``excel_safe``, text a spreadsheet would run as a formula is quoted
    (:func:`classifier.outputs.excel_safe_cell`)."""
    cells = [(column.cell or column.value)(record) for column in columns]
    return [excel_safe_cell(cell) for cell in cells] if excel_safe else cells


def from_json_row(row: Mapping) -> ScoredSegment:
    """The record of one JSON row of a scores file (a JSONL line, as :func:`json_row` makes
    it), for tools that read scores files back; a column the row lacks takes an empty value.

    The file keeps the top tokens (feature, surface, weight) and the evidence (feature,
    weight, spans): the contributions are the top tokens, with their spans where the
    evidence has them, then the rest of the evidence (its surface taken from the text), so
    that ``json_row(from_json_row(row)) == row``.
    """
    get = row.get
    text = get("text") or ""
    evidence = get("evidence") or ()
    spans = {e["feature"]: tuple(tuple(s) for s in e["spans"]) for e in evidence}
    top = [Contribution(t["feature"], t["token"], t["weight"], spans.get(t["feature"], ()))
           for t in get("top_tokens") or ()]
    named = {c.feature for c in top}
    rest = [Contribution(e["feature"], _surface(text, e), e["weight"], spans[e["feature"]])
            for e in evidence if e["feature"] not in named]
    return ScoredSegment(
        get("id", ""), get("dump", ""), get("line", 0), get("line_end", 0), get("record", 0), get("post_id", ""),
        get("account", ""), get("handle", ""), get("date", ""), get("role", ""), get("kind", ""), text,
        list(get("urls") or ()), list(get("hashtags") or ()), list(get("mentions") or ()), get("p_wire", 0.0),
        get("label", ""), tuple(top + rest), tuple(MarkerSpan(**m) for m in get("markers") or ()),
        tuple((get("techniques") or {}).items()),
    )


def _surface(text: str, evidence: dict) -> str:
    if not evidence["spans"]:
        return evidence["feature"]
    start, end = evidence["spans"][0]
    return text[start:end]


def read_jsonl_scores(path) -> Iterator[ScoredSegment]:
    """The records of a JSONL scores file, one line at a time."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield from_json_row(json.loads(line))
