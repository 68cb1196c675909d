"""Technique counts as one CSV cell (``Flag-Waving:2; Loaded_Language:1``): written by the
scores file's ``techniques`` column and the campaign files, read back by the commands that
work on scores files.  One definition of the cell, in a module light enough for
``postcred campaigns`` and ``postcred accounts`` to import without the model's libraries."""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping


def format_technique_counts(counts: Mapping[str, int] | Iterable[tuple[str, int]]) -> str:
    """``Flag-Waving:2; Loaded_Language:1``: technique counts as one CSV cell.

    >>> format_technique_counts({"Flag-Waving": 2, "Doubt": 1})
    'Flag-Waving:2; Doubt:1'
    """
    pairs = counts.items() if isinstance(counts, Mapping) else counts
    return "; ".join(f"{name}:{n}" for name, n in pairs)


def parse_technique_counts(text: str) -> dict[str, int]:
    """``Flag-Waving:2; Loaded_Language:1`` (a scores CSV cell) back into counts.

    >>> parse_technique_counts("Flag-Waving:2; Name_Calling,Labeling:1")
    {'Flag-Waving': 2, 'Name_Calling,Labeling': 1}
    """
    counts: dict[str, int] = {}
    for item in text.split(";"):
        item = item.strip()
        if not item:
            continue
        name, _, count = item.rpartition(":")
        if not name or not count.strip().isdigit():
            raise ValueError(f"techniques cell is not 'Technique:count; ...': {text!r}")
        counts[name.strip()] = counts.get(name.strip(), 0) + int(count)
    return counts


def technique_counts_of(value: object) -> dict[str, int]:
    """A row's technique counts, however the row holds them: a dict (in memory, JSONL), a
    CSV cell, a list of technique names, or nothing.

    >>> technique_counts_of(["Doubt", "Doubt"]), technique_counts_of(None)
    ({'Doubt': 2}, {})
    """
    if not value:
        return {}
    if isinstance(value, Mapping):
        return {str(name): int(count) for name, count in value.items() if count}
    if isinstance(value, str):
        return parse_technique_counts(value)
    if isinstance(value, (list, tuple)):
        return dict(Counter(str(name) for name in value))
    raise ValueError(f"techniques must be counts or a 'Technique:count; ...' cell, got {type(value).__name__}")
