"""Segments: the unit postcred scores (one post's text, one article paragraph, one hashtag line).

A :class:`Segment` is plain data with the provenance a reviewer needs (dump, line, post,
account) and the entities of its text (URLs, hashtags, mentions).  Scoring makes its
records (:class:`~classifier.scored.ScoredSegment`, a segment with its scores) straight
from the posts and the analyzed texts, whose analysis found the entities already; the
functions here give the segments of a dump without scoring it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from .source import Part, Post
from .tokens import entities

@dataclass(frozen=True, slots=True)
class Segment:
    """One scored unit of a dump.

    ``id`` is stable across runs: ``<dump name>:<first line number>`` (or record number for
    formats without lines).  ``line_end`` is the last input line the segment covers.  The
    field order is the column order of the scores file.
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
    kind: str
    text: str
    urls: list[str]
    hashtags: list[str]
    mentions: list[str]


def provenance(post: Post, part: Part, dump: str) -> tuple:
    """The fields of the segment of ``part`` up to its text (id to text, in field order):
    the one place a segment's provenance is taken from its post."""
    return (f"{dump}:{part.line}", dump, part.line, part.line_end, post.record, post.post_id, post.account,
            post.handle, post.date, part.role, post.kind, part.text)


def extract_entities(text: str) -> tuple[list[str], list[str], list[str]]:
    """The URLs, hashtags (without ``#``) and @handles (without ``@``) of ``text``, matched
    on its NFKC form (see :func:`classifier.tokens.entities`)."""
    return entities(unicodedata.normalize("NFKC", text))


def post_segments(post: Post, dump: str) -> list[Segment]:
    """The segments of one post, one per part, in input order, with their entities."""
    return [Segment(*provenance(post, part, dump), *extract_entities(part.text)) for part in post.parts]
