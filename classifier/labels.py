"""The labeled set: reading, validating and fingerprinting ``labels/*.jsonl``.

JSONL here means one JSON value per ``\\n``-terminated line.  Lines are split at ``\\n``
only: ``str.splitlines`` also splits at U+2028, U+2029 and U+0085, which are ordinary
characters inside a JSON string, so a text holding one would be cut in two.  Lines this
package writes escape those characters (:func:`jsonl_line`), so other tools that split
lines like ``splitlines`` read them too.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import InputError, LabelError
from .limits import segment_too_long

LABELS = ("partisan", "wire")
REQUIRED_FIELDS = ("text", "label", "topic", "source")
COLUMNS = ("id", "text", "label", "topic", "source", "hard", "notes", "file")


@dataclass(frozen=True)
class LabelSet:
    """A validated labeled set: a DataFrame (one row per text) and its content hash."""

    frame: pd.DataFrame
    digest: str
    files: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.frame)


def label_files(directory: str | Path) -> list[Path]:
    """The files a labels folder contributes, in name order (``*.jsonl``)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise LabelError(directory, "labels folder not found")
    return sorted(directory.glob("*.jsonl"))


#: Characters ``str.splitlines`` (and JavaScript's line terminators, for U+2028/9) take for
#: line breaks that ``json.dumps`` leaves raw: escaped in the lines this package writes.
_RAW_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}
_RAW_BREAKS_TABLE = str.maketrans(_RAW_BREAKS)
SURROGATE_RE = re.compile(r"[\ud800-\udfff]")


def read_utf8(path: Path, *, error: type[InputError] = LabelError) -> str:
    """A JSONL file's text exactly as stored (no line-break translation), or ``error``
    naming the file (and the byte that is not UTF-8)."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(path, f"not UTF-8 (byte {exc.start})", offset=exc.start) from None
    except OSError as exc:
        raise error(path, f"cannot read: {exc.strerror}") from None


def jsonl_lines(text: str, *, keepends: bool = False) -> list[str]:
    """The lines of a JSONL text, split at ``\\n`` only (never at U+2028, U+2029, U+0085)."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
        return [line + "\n" for line in lines] if keepends else lines
    if keepends:
        return [line + "\n" for line in lines[:-1]] + lines[-1:]
    return lines


def jsonl_line(obj: dict) -> str:
    """One JSONL line (with its ``\\n``): UTF-8 text as is, line-break characters escaped."""
    return json.dumps(obj, ensure_ascii=False).translate(_RAW_BREAKS_TABLE) + "\n"


def read_label_file(path: str | Path) -> list[dict]:
    """Read and validate one JSONL labels file; every problem names its line."""
    path = Path(path)
    rows: list[dict] = []
    text = read_utf8(path)
    for number, line in enumerate(jsonl_lines(text), start=1):
        if not line.strip():
            continue
        rows.append(validate_label_row(line, path, number))
    return rows


def parse_jsonl_object(
    line: str, path: str | Path, number: int, required: tuple[str, ...] = (), *, error: type[InputError] = LabelError
) -> dict:
    """Parse one JSONL line into a dict whose ``required`` fields are non-empty strings,
    or raise ``error`` naming the file and line (shared by labels and corrections files)."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise error(path, f"not valid JSON ({exc.msg})", line=number) from None
    except RecursionError:
        raise error(path, "not valid JSON (nested too deeply)", line=number) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise error(path, f"not valid JSON ({exc})", line=number) from None
    if not isinstance(obj, dict):
        raise error(path, "expected a JSON object", line=number)
    for name in required:
        if not isinstance(obj.get(name), str) or not obj[name].strip():
            raise error(path, f"field {name!r} is missing or empty", line=number)
    bad = _surrogate_field(obj)
    if bad is not None:
        raise error(path, f"field {bad!r} holds an unpaired surrogate (a \\ud800-\\udfff escape alone), "
                          "which no UTF-8 file can hold", line=number)
    if isinstance(obj.get("text"), str) and (reason := segment_too_long(obj["text"])):
        raise error(path, f"field 'text': {reason}", line=number)
    return obj


def _surrogate_field(obj: dict) -> str | None:
    """The first top-level field whose value holds an unpaired surrogate anywhere in it."""
    for name, value in obj.items():
        stack = [name, value]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                if SURROGATE_RE.search(item):
                    return name if isinstance(name, str) and not SURROGATE_RE.search(name) else "(a field name)"
            elif isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
    return None


def validate_label_row(line: str, path: str | Path, number: int) -> dict:
    """Parse one JSONL line of a labels file into a clean row, or raise LabelError."""
    row = parse_jsonl_object(line, path, number, REQUIRED_FIELDS)
    if row["label"] not in LABELS:
        raise LabelError(
            path, f"unknown label {row['label']!r}; expected one of {', '.join(LABELS)}", line=number
        )
    return {
        "id": str(row.get("id") or f"{Path(path).stem}:{number}"),
        "text": row["text"],
        "label": row["label"],
        "topic": row["topic"],
        "source": row["source"],
        "hard": bool(row.get("hard", False)),
        "notes": str(row.get("notes") or ""),
        "file": Path(path).name,
    }


def load_labels(directory: str | Path) -> LabelSet:
    """Load every labels file of ``directory`` into one validated :class:`LabelSet`."""
    files = label_files(directory)
    if not files:
        raise LabelError(directory, "no *.jsonl labels files found")
    rows: list[dict] = []
    for path in files:
        rows.extend(read_label_file(path))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return LabelSet(frame=frame, digest=labels_digest(files), files=tuple(p.name for p in files))


def labels_digest(files: list[Path]) -> str:
    """SHA-256 over the labels files' names and bytes: changes whenever any label changes."""
    h = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.name):
        h.update(path.name.encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()
