"""Review corrections: merging a report's ``corrections.jsonl`` back into ``labels/``.

The report's review mode exports one JSON object per reviewed segment (see
``templates/report.js``)::

    {"id": "...:34", "text": "...", "predicted_label": "wire", "p_wire": 0.55,
     "reviewer_label": "partisan", "decision": "correct", "note": "...",
     "time": "2024-11-05T09:12:00Z", "report_id": "...", "model_hash": "..."}

:func:`merge_corrections` validates every line before it touches anything (a bad line
raises :class:`~classifier.errors.InputError` naming it, and nothing is written), then:

- a text not in ``labels/`` yet is appended to ``labels/corrections.jsonl``: topic from the
  correction (the report's Topic field), else the merge's ``topic``, else an error naming
  the line; source from the correction, else the merge's ``source``, else
  ``review:<dump>`` (the dump the segment came from);
- a text already labeled the same way is skipped, so merging a file twice changes nothing;
- a text labeled the other way is a conflict: listed and left alone, or relabeled in the
  file where it lives when ``overwrite`` is given;
- a segment the reviewer skipped (no reviewer label) is skipped;
- a campaign mark (a line of kind ``campaign`` from the report's Campaigns view:
  coordinated, organic or share_template) is checked and counted, never trained on.

Texts are compared after :func:`~classifier.tokens.normalize` (NFKC, white space
collapsed), the same comparison the labels' duplicate check uses.  Every file is
rewritten atomically; lines that do not change keep their bytes.

A merge holds a lock on the labels folder from reading it to writing it, so two merges at
once run one after the other (the second sees the first's rows); a labels file changed by
anything else meanwhile stops the merge before its rename, and nothing of it is written.

Two warnings, which change nothing: the nouns a merged text would turn into words for its
label (:mod:`classifier.topic_words`, a quick fit before and after the merge), and a topic
no labels row uses yet (leave-one-topic-out evaluation would hold it out on its own).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import InputError, LabelError
from .labels import LABELS, jsonl_line, jsonl_lines, label_files, parse_jsonl_object, read_utf8, validate_label_row
from .outputs import atomic_open, locked
from .tokens import normalize
from .topic_words import TopicWord, topic_words

CORRECTIONS_FILE = "corrections.jsonl"
REVIEW_SOURCE = "review"
DECISIONS = ("confirm", "correct", "skip")
#: The marks a reviewer gives a campaign in the report's Campaigns view.
CAMPAIGN_MARKS = ("coordinated", "organic", "share_template")


@dataclass(frozen=True)
class Correction:
    """One validated line of a corrections file; ``label`` is None when the reviewer
    skipped the segment or only left a note."""

    line: int
    id: str
    text: str
    label: str | None
    predicted_label: str | None = None
    p_wire: float | None = None
    decision: str | None = None
    note: str = ""
    time: str = ""
    report_id: str = ""
    model_hash: str = ""
    topic: str | None = None
    source: str | None = None
    dump: str = ""


@dataclass(frozen=True)
class Outcome:
    """What the merge did with one correction.

    ``where`` is ``file:line`` of the labels row it matched or was written to;
    ``previous`` the label that row had before; ``topic_words`` the nouns the merge makes
    words for its label (added and changed rows only).
    """

    correction: Correction
    action: str  # added, changed, skipped, conflict
    reason: str
    where: str = ""
    previous: str | None = None
    topic_words: tuple[TopicWord, ...] = ()


@dataclass
class MergeResult:
    """Every correction's outcome, and the labels files written (none on a dry run)."""

    outcomes: list[Outcome] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    dry_run: bool = False
    #: Topics given to added rows that no labels row used before.
    new_topics: list[str] = field(default_factory=list)
    #: Campaign marks in the file (kept there for the record, not merged).
    campaign_marks: int = 0

    def of(self, action: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.action == action]

    @property
    def added(self) -> list[Outcome]:
        return self.of("added")

    @property
    def changed(self) -> list[Outcome]:
        return self.of("changed")

    @property
    def skipped(self) -> list[Outcome]:
        return self.of("skipped")

    @property
    def conflicts(self) -> list[Outcome]:
        return self.of("conflict")


# ---------------------------------------------------------------- reading


def _optional_str(obj: dict, name: str, path: Path, number: int) -> str:
    value = obj.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(path, f"field {name!r} must be a string, got {type(value).__name__}", line=number)
    return value


def parse_correction(line: str, path: str | Path, number: int) -> Correction:
    """Validate one line of a corrections file, or raise :class:`InputError` naming it."""
    path = Path(path)
    obj = parse_jsonl_object(line, path, number, ("id", "text"), error=InputError)
    if "reviewer_label" not in obj and "label" not in obj:
        raise InputError(path, "field 'reviewer_label' is missing (use null for a skipped segment)", line=number)
    label = obj["reviewer_label"] if "reviewer_label" in obj else obj["label"]
    if label is not None and label not in LABELS:
        raise InputError(path, f"unknown label {label!r}; expected one of {', '.join(LABELS)} (or null)", line=number)
    decision = obj.get("decision")
    if decision is not None and decision not in DECISIONS:
        raise InputError(path, f"unknown decision {decision!r}; expected one of {', '.join(DECISIONS)}", line=number)
    if decision in ("confirm", "correct") and label is None:
        raise InputError(path, f"decision {decision!r} needs a reviewer_label", line=number)
    if decision == "skip" and label is not None:
        raise InputError(path, "decision 'skip' with a reviewer_label; drop one of them", line=number)
    predicted = obj.get("predicted_label")
    if predicted is not None and predicted not in LABELS:
        raise InputError(path, f"unknown predicted_label {predicted!r}; expected one of {', '.join(LABELS)}", line=number)
    p_wire = obj.get("p_wire")
    if p_wire is not None:
        if isinstance(p_wire, bool) or not isinstance(p_wire, (int, float)) or not (0.0 <= p_wire <= 1.0) or math.isnan(p_wire):
            raise InputError(path, f"p_wire must be a number from 0 to 1, got {p_wire!r}", line=number)
        p_wire = float(p_wire)
    topic = _optional_name(obj, "topic", path, number)
    source = _optional_name(obj, "source", path, number)
    return Correction(
        line=number,
        id=obj["id"],
        text=obj["text"],
        label=label,
        predicted_label=predicted,
        p_wire=p_wire,
        decision=decision,
        note=_optional_str(obj, "note", path, number).strip(),
        time=_optional_str(obj, "time", path, number),
        report_id=_optional_str(obj, "report_id", path, number),
        model_hash=_optional_str(obj, "model_hash", path, number),
        topic=topic,
        source=source,
        dump=_optional_str(obj, "dump", path, number),
    )


def _optional_name(obj: dict, name: str, path: Path, number: int) -> str | None:
    """A topic or source: a non-empty string when given (an empty one means not given)."""
    value = obj.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not value.strip():
        raise InputError(path, f"field {name!r} must be a non-empty string when given", line=number)
    return value.strip()


def campaign_mark(line: str, path: str | Path, number: int) -> dict | None:
    """The campaign mark on this line of an export (kind ``campaign``), checked; None for
    any other line."""
    if '"campaign"' not in line:
        return None
    obj = parse_jsonl_object(line, path, number, error=InputError)
    if obj.get("kind") != "campaign":
        return None
    for name in ("campaign", "first_id"):
        if not isinstance(obj.get(name), str) or not obj[name]:
            raise InputError(path, f"campaign mark: field {name!r} is missing or empty", line=number)
    if obj.get("mark") not in CAMPAIGN_MARKS:
        raise InputError(path, f"campaign mark: unknown mark {obj.get('mark')!r}; expected one of "
                               f"{', '.join(CAMPAIGN_MARKS)}", line=number)
    return obj


def campaign_marks(path: str | Path) -> list[dict]:
    """The campaign marks of an exported corrections file (checked)."""
    path = Path(path)
    lines = jsonl_lines(read_utf8(path, error=InputError))
    return [mark for number, line in enumerate(lines, start=1) if line.strip()
            for mark in [campaign_mark(line, path, number)] if mark is not None]


def read_corrections(path: str | Path) -> list[Correction]:
    """Read and validate a whole corrections file.

    Besides each line on its own, the file must not give one segment id twice, nor one
    text (after normalization) two different labels: the error names both lines.
    """
    path = Path(path)
    text = read_utf8(path, error=InputError)
    corrections: list[Correction] = []
    by_id: dict[str, Correction] = {}
    by_text: dict[str, Correction] = {}
    for number, line in enumerate(jsonl_lines(text), start=1):
        if not line.strip() or campaign_mark(line, path, number) is not None:
            continue
        c = parse_correction(line, path, number)
        if c.id in by_id:
            raise InputError(path, f"segment {c.id!r} is already on line {by_id[c.id].line}", line=number)
        by_id[c.id] = c
        if c.label is not None:
            key = normalize(c.text)
            first = by_text.get(key)
            if first is not None and first.label != c.label:
                raise InputError(
                    path, f"same text as line {first.line} with the other label ({c.label} vs {first.label})", line=number
                )
            by_text.setdefault(key, c)
        corrections.append(c)
    return corrections


# ---------------------------------------------------------------- the labels folder


@dataclass
class _LabelFile:
    """A labels file held as its lines, so a merge can change one line and keep the rest.

    ``original`` is the file's text as read (None: the file did not exist), to tell
    whether anything else changed it before the merge writes it back.
    """

    path: Path
    lines: list[str]
    original: str | None = None
    dirty: bool = False

    def text(self) -> str:
        return "".join(line if line.endswith("\n") else line + "\n" for line in self.lines)

    def check_unchanged(self) -> None:
        """Raise :class:`LabelError` when the file on disk is no longer what was read."""
        try:
            now = self.path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            now = None
        if now != self.original:
            raise LabelError(self.path, "changed by another program during the merge; nothing was written "
                                        "to it: run the merge again")


@dataclass
class _Entry:
    file: _LabelFile
    index: int  # index into file.lines
    label: str

    @property
    def where(self) -> str:
        return f"{self.file.path.name}:{self.index + 1}"


def _load_folder(labels_dir: Path) -> tuple[dict[str, _LabelFile], dict[str, _Entry], set[str]]:
    """Every labels file of the folder, validated: files by name, entries by normalized
    text, and every id in use (explicit or the default ``<stem>:<line>``)."""
    files: dict[str, _LabelFile] = {}
    entries: dict[str, _Entry] = {}
    ids: set[str] = set()
    for path in label_files(labels_dir):
        content = read_utf8(path)
        handle = _LabelFile(path, jsonl_lines(content, keepends=True), content)
        files[path.name] = handle
        for index, line in enumerate(handle.lines):
            if not line.strip():
                continue
            row = validate_label_row(line, path, index + 1)
            ids.add(row["id"])
            entries.setdefault(normalize(row["text"]), _Entry(handle, index, row["label"]))
    return files, entries, ids


def _provenance(c: Correction) -> str:
    """Where a reviewed label came from, for the ``notes`` field."""
    parts = ["review"]
    if c.time:
        parts.append(c.time[:10])
    if c.predicted_label:
        said = f"model said {c.predicted_label}"
        if c.p_wire is not None:
            said += f" (p_wire {c.p_wire:.2f})"
        parts.append(said)
    parts.append(f"segment {c.id}")
    if c.report_id:
        parts.append(f"report {c.report_id}")
    if c.model_hash:
        parts.append(f"model {c.model_hash}")
    return "; ".join(parts)


def _notes(c: Correction) -> str:
    return f"{c.note} [{_provenance(c)}]" if c.note else f"[{_provenance(c)}]"


def _rows(files) -> list[dict]:
    """The labels rows of these files as they stand (lines already validated)."""
    return [json.loads(line) for handle in files for line in handle.lines if line.strip()]


def review_source(c: Correction) -> str:
    """The default source of a reviewed row: ``review:<dump>``, the dump it was reviewed in
    (from the export, else the segment id ``<dump>:<line>``), so that leave-one-source-out
    evaluation holds out one reviewed dump at a time."""
    dump = c.dump or c.id.rpartition(":")[0]
    return f"{REVIEW_SOURCE}:{dump}" if dump else REVIEW_SOURCE


def _topic_of(c: Correction, default: str | None, path: Path, topics: set[str]) -> str:
    """The topic of a row a correction adds, or an error naming its line and the fix."""
    topic = c.topic or default
    if topic:
        return topic
    known = ", ".join(sorted(topics)) or "none yet"
    raise InputError(
        path, "no topic for a new labels row: set the Topic field in the report before exporting, "
        f"or pass --topic (the labels use: {known})", line=c.line,
    )


def _with_topic_words(result: MergeResult, before: list[dict], after: list[dict]) -> None:
    """Attach to each added or changed outcome the nouns the merge makes words for its label."""
    merged = [(i, o) for i, o in enumerate(result.outcomes) if o.action in ("added", "changed")]
    if not merged:
        return
    found = topic_words(
        [(r["text"], r["label"]) for r in before],
        [(r["text"], r["label"]) for r in after],
        [(o.correction.text, o.correction.label) for _, o in merged],
    )
    for (i, outcome), words in zip(merged, found):
        result.outcomes[i] = replace(outcome, topic_words=tuple(words))


def _unique_id(base: str, ids: set[str]) -> str:
    candidate, n = base, 2
    while candidate in ids:
        candidate, n = f"{base}~{n}", n + 1
    ids.add(candidate)
    return candidate


def merge_corrections(
    corrections: str | Path,
    labels_dir: str | Path = "labels",
    *,
    overwrite: bool = False,
    dry_run: bool = False,
    topic: str | None = None,
    source: str | None = None,
) -> MergeResult:
    """Merge a report's corrections into a labels folder.

    Parameters
    ----------
    corrections:
        The ``corrections.jsonl`` exported from a report.
    labels_dir:
        The labels folder; new texts go to its ``corrections.jsonl``.
    overwrite:
        Relabel texts that ``labels/`` already has with the other label (in the file
        where they live).  Without it such conflicts are listed and left alone.
    dry_run:
        Work out and return every outcome, but write nothing.
    topic:
        The topic of added rows whose correction has none.  Without it, such a row is an
        error (nothing is written).
    source:
        The source of added rows whose correction has none (default ``review:<dump>``).

    Raises
    ------
    InputError
        A line of ``corrections`` is malformed (nothing is written).
    LabelError
        A labels file is malformed (nothing is written).
    """
    labels_dir = Path(labels_dir)
    corrections = Path(corrections)
    items = read_corrections(corrections)
    marks = len(campaign_marks(corrections))
    label_files(labels_dir)  # the folder must exist before it can be locked
    with locked(labels_dir, what="merging corrections"):
        result = _merge(items, corrections, labels_dir, overwrite=overwrite, dry_run=dry_run, topic=topic,
                        source=source)
    result.campaign_marks = marks
    return result


def _merge(items: list[Correction], corrections: Path, labels_dir: Path, *, overwrite: bool, dry_run: bool,
           topic: str | None, source: str | None) -> MergeResult:
    """The merge itself, with the labels folder locked (see :func:`merge_corrections`)."""
    files, entries, ids = _load_folder(labels_dir)
    before = _rows(files.values())
    topics = {str(row["topic"]) for row in before}
    target = files.get(CORRECTIONS_FILE) or _LabelFile(labels_dir / CORRECTIONS_FILE, [])
    if target.lines and not target.lines[-1].endswith("\n"):
        target.lines[-1] += "\n"
    result = MergeResult(dry_run=dry_run)
    for c in items:
        if c.label is None:
            reason = "reviewer skipped it" if c.decision == "skip" else "no reviewer label (note only)"
            result.outcomes.append(Outcome(c, "skipped", reason))
            continue
        key = normalize(c.text)
        entry = entries.get(key)
        if entry is None:
            row = {
                "text": c.text,
                "label": c.label,
                "topic": _topic_of(c, topic, corrections, topics),
                "source": c.source or source or review_source(c),
                "hard": False,
                "notes": _notes(c),
                "id": _unique_id(f"review:{c.id}", ids),
            }
            if row["topic"] not in topics and row["topic"] not in result.new_topics:
                result.new_topics.append(row["topic"])
            target.lines.append(jsonl_line(row))
            target.dirty = True
            entry = _Entry(target, len(target.lines) - 1, c.label)
            entries[key] = entry
            result.outcomes.append(Outcome(c, "added", f"new text, labeled {c.label}", entry.where))
        elif entry.label == c.label:
            result.outcomes.append(Outcome(c, "skipped", f"already labeled {c.label}", entry.where, entry.label))
        elif not overwrite:
            result.outcomes.append(Outcome(
                c, "conflict", f"labeled {entry.label}, the review says {c.label}", entry.where, entry.label
            ))
        else:
            row = json.loads(entry.file.lines[entry.index])
            previous = row["label"]
            row["label"] = c.label
            note = f"relabeled {previous} -> {c.label} by {_notes(c)}"
            row["notes"] = f"{row['notes']} {note}".strip() if row.get("notes") else note
            entry.file.lines[entry.index] = jsonl_line(row)
            entry.file.dirty = True
            entry.label = c.label
            result.outcomes.append(Outcome(c, "changed", f"relabeled {previous} -> {c.label}", entry.where, previous))
    every = list({id(f): f for f in [*files.values(), target]}.values())
    dirty = [f for f in every if f.dirty]
    for handle in dirty:  # what we are about to write must read back as valid labels
        for index, line in enumerate(handle.lines):
            if line.strip():
                validate_label_row(line, handle.path, index + 1)
    _with_topic_words(result, before, _rows(every))
    if not dry_run:
        for handle in dirty:
            handle.check_unchanged()
        for handle in dirty:
            with atomic_open(handle.path, "w", newline="") as out:
                out.write(handle.text())
                handle.check_unchanged()  # the last moment before the rename
            result.written.append(handle.path)
    return result
