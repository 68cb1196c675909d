"""The labeled set: reading, validating and fingerprinting ``labels/*.jsonl``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import InputError, LabelError

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


def read_utf8(path: Path, *, error: type[InputError] = LabelError) -> str:
    """A JSONL file's text, or ``error`` naming the file (and the byte that is not UTF-8)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(path, f"not UTF-8 (byte {exc.start})", offset=exc.start) from None
    except OSError as exc:
        raise error(path, f"cannot read: {exc.strerror}") from None


def read_label_file(path: str | Path) -> list[dict]:
    """Read and validate one JSONL labels file; every problem names its line."""
    path = Path(path)
    rows: list[dict] = []
    text = read_utf8(path)
    for number, line in enumerate(text.splitlines(), start=1):
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
    if not isinstance(obj, dict):
        raise error(path, "expected a JSON object", line=number)
    for name in required:
        if not isinstance(obj.get(name), str) or not obj[name].strip():
            raise error(path, f"field {name!r} is missing or empty", line=number)
    return obj


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
