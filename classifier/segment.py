"""Segments: the unit postcred scores (one post's text, one article paragraph, one hashtag line).

A :class:`Segment` is plain data with the provenance a reviewer needs (dump, line, post,
account) and the entities extracted from its text (URLs, hashtags, mentions).
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass, field

from .tokens import HASHTAG_RE, MENTION_RE, URL_RE

ROLES = ("post", "body", "hashtags")


@dataclass(slots=True)
class Segment:
    """One scored unit of a dump.

    ``id`` is stable across runs: ``<dump name>:<first line number>`` (or record number for
    formats without lines).  ``line_end`` is the last input line the segment covers.
    """

    id: str
    dump: str
    line: int
    line_end: int
    record: int
    post_id: str
    account: str
    handle: str
    date: str
    role: str
    text: str
    urls: list[str] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    kind: str = "post"

    def to_dict(self) -> dict:
        return asdict(self)


def extract_entities(text: str) -> tuple[list[str], list[str], list[str]]:
    """The URLs, hashtags (without ``#``) and @handles (without ``@``) of ``text``, each in
    order with duplicates kept, matched on its NFKC form (URLs blanked out before hashtags
    and handles are looked for: ``https://x.com/a#b`` holds no hashtag)."""
    norm = unicodedata.normalize("NFKC", text)
    if "/" not in norm and "#" not in norm and "@" not in norm:
        return [], [], []  # most segments: no URL needs a slash, no hashtag, no handle
    urls = [m.group(0) for m in URL_RE.finditer(norm)]
    rest = _without_urls(norm) if urls else norm
    hashtags = [m.group(0)[1:] for m in HASHTAG_RE.finditer(rest)]
    mentions = [m.group(0)[1:] for m in MENTION_RE.finditer(rest)]
    return urls, hashtags, mentions


def _without_urls(norm: str) -> str:
    return URL_RE.sub(lambda m: " " * len(m.group(0)), norm)


def make_segment(
    *,
    dump: str,
    line: int,
    line_end: int | None = None,
    record: int,
    post_id: str,
    account: str = "",
    handle: str = "",
    date: str = "",
    role: str = "post",
    text: str,
    kind: str = "post",
) -> Segment:
    """Build a segment and extract its URLs, hashtags and mentions."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    urls, hashtags, mentions = extract_entities(text)
    return Segment(
        id=f"{dump}:{line}",
        dump=dump,
        line=line,
        line_end=line if line_end is None else line_end,
        record=record,
        post_id=post_id,
        account=account,
        handle=handle,
        date=date,
        role=role,
        text=text,
        urls=urls,
        hashtags=hashtags,
        mentions=mentions,
        kind=kind,
    )
