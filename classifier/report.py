"""The HTML report: one self-contained, autoescaped file built from score rows.

Python prepares plain data (summary tables, rows); the Jinja2 template only loops and
formats.  Nothing is loaded from the network, and the page carries a Content Security
Policy that forbids it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from .outputs import atomic_write_text

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def environment() -> Environment:
    """The Jinja2 environment: package templates, autoescape on, undefined names fail."""
    env = Environment(
        loader=PackageLoader("classifier", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda value: f"{100 * float(value):.0f}%"
    env.filters["signed"] = lambda value: f"{float(value):+.2f}"
    return env


def summarize(rows: Iterable[dict]) -> dict:
    """Counts per predicted label and per-account mean p_wire with counts."""
    per_label: dict[str, int] = defaultdict(int)
    per_account: dict[tuple[str, str], list[float]] = defaultdict(list)
    total = 0
    for row in rows:
        total += 1
        per_label[row["label"]] += 1
        per_account[(row.get("account") or "(unknown)", row.get("handle") or "")].append(float(row["p_wire"]))
    accounts = [
        {"account": name, "handle": handle, "count": len(ps), "mean_p_wire": sum(ps) / len(ps)}
        for (name, handle), ps in per_account.items()
    ]
    accounts.sort(key=lambda a: (-a["count"], a["account"]))
    return {
        "total": total,
        "labels": [{"label": k, "count": per_label.get(k, 0)} for k in ("wire", "partisan")],
        "accounts": accounts,
    }


def report_id(rows: list[dict], model_digest: str) -> str:
    """A stable id for a report: the same dump scored by the same model gives the same id."""
    h = hashlib.sha256(model_digest.encode())
    for row in rows:
        h.update(row["id"].encode())
        h.update(b"\0")
        h.update(row["text"].encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def render_report(rows: list[dict], *, title: str, summary: dict | None = None, model_meta: dict | None = None, run: dict | None = None) -> str:
    """Render the report HTML for score rows."""
    model_meta = model_meta or {}
    template = environment().get_template("report.html")
    return template.render(
        title=title,
        csp=CSP,
        rows=rows,
        summary=summary or summarize(rows),
        run=run or {},
        model={"digest": model_meta.get("labels_digest", "")[:12], "created": model_meta.get("created", "")},
        report_id=report_id(rows, model_meta.get("labels_digest", "")),
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def write_report(path: str | Path, rows: list[dict], **kwargs) -> Path:
    """Render and write the report atomically; returns its path."""
    path = Path(path)
    atomic_write_text(path, render_report(rows, **kwargs))
    return path
