"""postcred: how much each segment of a Japanese post dump reads like wire-service
reporting (``p_wire``) versus partisan commentary, with the propaganda markers that fired.

The public API, for notebooks and tools::

    from classifier import score_file
    records, summary = score_file("seeds/timeline_nhk_reuters_partisan_2024-11-04.txt")
    records[0].account, records[0].p_wire, records[0].techniques

Each name is imported from its module on first use, so that ``import classifier`` (and
a command that needs only some of it) does not load the model stack.
"""

from __future__ import annotations

from importlib import import_module

#: Public name -> the module that defines it.
_EXPORTS = {
    # reading a dump
    "ReadOptions": "source",
    "Post": "source",
    "Part": "source",
    "Reject": "source",
    "read_posts": "ingest",
    "Segment": "segment",
    # analysis, markers, model
    "analyze": "tokens",
    "TokenizedText": "tokens",
    "detect_markers": "markers",
    "MarkerSpan": "markers",
    "load_model": "model",
    "Model": "model",
    "Contribution": "model",
    # scoring and its record
    "ScoredSegment": "scored",
    "COLUMNS": "scored",
    "json_row": "scored",
    "read_jsonl_scores": "scored",
    "score_file": "scoring",
    "ScoreSummary": "scoring",
    "Summary": "summary",
    "summarize": "summary",
    "score_to_files": "run",
    "ScoreRun": "run",
    "score_dask": "distributed",
    "write_report": "report",
    # errors
    "PostcredError": "errors",
    "InputError": "errors",
    "OutputError": "errors",
    "ModelError": "errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'classifier' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
