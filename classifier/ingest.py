"""Reading dumps: bytes on disk -> decoded text -> posts (or rejected records).

A :class:`Post` is one input record (one post with its article paragraphs in a pasted
timeline, one JSON object, one CSV row) split into :class:`Part` objects, each of which
becomes one segment.  A record that cannot be read becomes a :class:`Reject` when the
caller asked to skip bad records, else an :class:`~classifier.errors.InputError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator

from .errors import InputError
from .segment import is_hashtag_line

ATTRIBUTION_RE = re.compile(
    r"^\s*[—―–-]{1,2}\s*(?P<name>.*?)\s*\(@(?P<handle>[A-Za-z0-9_]{1,30})\)\s*(?P<date>.*?)\s*$"
)
_DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%b. %d, %Y", "%Y年%m月%d日", "%Y-%m-%d", "%Y/%m/%d")
PIC_AT_END_RE = re.compile(r"pic\.twitter\.com/\w+\s*$", re.IGNORECASE)


@dataclass(slots=True)
class Part:
    """A piece of a post that becomes one segment: lines ``line``..``line_end``."""

    line: int
    line_end: int
    role: str
    text: str


@dataclass(slots=True)
class Post:
    """One input record: who posted it, when, and its parts in input order."""

    record: int
    post_id: str
    account: str
    handle: str
    date: str
    parts: list[Part] = field(default_factory=list)
    kind: str = "post"


@dataclass(slots=True)
class Reject:
    """A record that could not be read, kept so that nothing is lost silently."""

    record: int
    line: int | None
    reason: str
    raw: str


def parse_date(text: str) -> str:
    """Turn ``November 4, 2024`` (and a few other layouts) into ``2024-11-04``; '' if unknown."""
    text = text.strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return ""


def parse_attribution(line: str) -> tuple[str, str, str] | None:
    """Parse ``— Display Name (@handle) Month D, YYYY`` into (name, handle, ISO date).

    Returns None when the line is not an attribution line.  The display name may hold
    emoji and symbols; the date must parse, so that an ordinary line that happens to start
    with a dash and mention a handle is not taken for an attribution.
    """
    m = ATTRIBUTION_RE.match(line)
    if not m:
        return None
    date = parse_date(m.group("date"))
    if not date:
        return None
    return m.group("name"), m.group("handle"), date


def parse_timeline(text: str, dump: str) -> Iterator[Post]:
    """Parse the pasted-timeline layout (see the seed in ``seeds/``).

    Rules, in order:

    - an attribution line ``— Name (@handle) Month D, YYYY`` closes a post's text;
    - the post's text is the non-empty line right above it; where a blank line separates
      the previous post's lines from this one, the whole block after the blank line is the
      text (multi-line posts); lines above the first post's text belong to that text;
    - lines after the attribution, up to the next post's text, belong to the same post:
      a hashtag-only line has role ``hashtags``; a run of lines that ends with a
      ``pic.twitter.com/...`` link is the rest of the post's own text (role ``post``);
      any other line is an article paragraph (role ``body``), one segment each.

    Every non-empty line lands in exactly one part.
    """
    lines = text.splitlines()
    attributions = [(i, a) for i, line in enumerate(lines) if (a := parse_attribution(line))]
    if not attributions:
        return
    text_starts: list[int] = []
    previous_end = -1
    for index, (at, _) in enumerate(attributions):
        start = _text_start(lines, previous_end + 1, at, first=index == 0)
        text_starts.append(start)
        previous_end = at
    for index, (at, (name, handle, date)) in enumerate(attributions):
        post = Post(
            record=index + 1,
            post_id=f"{dump}:post{index + 1}",
            account=name,
            handle=handle,
            date=date,
        )
        start = text_starts[index]
        text_lines = [k for k in range(start, at) if lines[k].strip()]
        if text_lines:
            post.parts.append(
                Part(text_lines[0] + 1, text_lines[-1] + 1, "post", _join(lines, text_lines))
            )
        stop = text_starts[index + 1] if index + 1 < len(attributions) else len(lines)
        post.parts.extend(_continuation_parts(lines, at + 1, stop))
        yield post


def _text_start(lines: list[str], lo: int, at: int, *, first: bool) -> int:
    """Index of the first line of the text of the post whose attribution is at ``at``."""
    nonempty = [k for k in range(lo, at) if lines[k].strip()]
    if not nonempty:
        return at
    if first:
        return nonempty[0]
    blanks = [k for k in range(lo, at) if not lines[k].strip() and k > nonempty[0]]
    if blanks:
        after = [k for k in nonempty if k > blanks[-1]]
        if after:
            return after[0]
    return nonempty[-1]


def _continuation_parts(lines: list[str], lo: int, hi: int) -> Iterator[Part]:
    """Parts for the lines after an attribution: hashtags, the rest of the post, body."""
    indexes = [k for k in range(lo, hi) if lines[k].strip()]
    last_pic = max((k for k in indexes if PIC_AT_END_RE.search(lines[k])), default=None)
    run: list[int] = []
    for k in indexes:
        if is_hashtag_line(lines[k]):
            yield from _flush_post_run(lines, run)
            run = []
            yield Part(k + 1, k + 1, "hashtags", lines[k].strip())
        elif last_pic is not None and k <= last_pic:
            run.append(k)
            if k == last_pic or PIC_AT_END_RE.search(lines[k]):
                yield from _flush_post_run(lines, run)
                run = []
        else:
            yield Part(k + 1, k + 1, "body", lines[k].strip())
    yield from _flush_post_run(lines, run)


def _flush_post_run(lines: list[str], run: list[int]) -> Iterator[Part]:
    if run:
        yield Part(run[0] + 1, run[-1] + 1, "post", _join(lines, run))


def _join(lines: list[str], indexes: list[int]) -> str:
    return "\n".join(lines[k].strip() for k in indexes)


def parse_plain(text: str, dump: str) -> Iterator[Post]:
    """Plain text: one post per blank-line separated paragraph, or per line if no blank lines."""
    lines = text.splitlines()
    has_paragraphs = any(not l.strip() for l in lines) and sum(1 for l in lines if l.strip()) > 1
    blocks: list[list[int]] = []
    current: list[int] = []
    for k, line in enumerate(lines):
        if line.strip():
            current.append(k)
            if not has_paragraphs:
                blocks.append(current)
                current = []
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    for number, block in enumerate(blocks, start=1):
        role = "hashtags" if all(is_hashtag_line(lines[k]) for k in block) else "post"
        yield Post(
            record=number,
            post_id=f"{dump}:post{number}",
            account="",
            handle="",
            date="",
            parts=[Part(block[0] + 1, block[-1] + 1, role, _join(lines, block))],
        )


def decode(data: bytes, path: str | Path, *, encoding: str | None = None, errors: str = "strict") -> str:
    """Decode a dump's bytes: UTF-8 (with or without BOM) unless ``encoding`` is given.

    An undecodable byte is an :class:`InputError` naming its offset, unless
    ``errors="replace"``.
    """
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(path, "looks like a binary file (NUL bytes), not a text dump")
    codec = encoding or "utf-8-sig"
    try:
        return data.decode(codec, errors=errors)
    except UnicodeDecodeError as exc:
        raise InputError(
            path,
            f"cannot decode as {codec}: byte 0x{data[exc.start]:02x} is invalid "
            "(use --encoding, or --errors replace)",
            offset=exc.start,
        ) from None
    except LookupError:
        raise InputError(path, f"unknown encoding {encoding!r}") from None


def detect_format(text: str) -> str:
    """Guess the format of decoded text: ``timeline`` if it has attribution lines, else ``plain``."""
    for line in text.splitlines():
        if parse_attribution(line):
            return "timeline"
    return "plain"


PARSERS = {"timeline": parse_timeline, "plain": parse_plain}


def read_posts(
    path: str | Path,
    *,
    input_format: str = "auto",
    encoding: str | None = None,
    errors: str = "strict",
) -> Iterator[Post | Reject]:
    """Read a dump file and yield its posts (and rejected records).

    Parameters
    ----------
    path:
        The dump file.
    input_format:
        ``"auto"`` (detect from content), ``"timeline"`` or ``"plain"``.
    encoding, errors:
        See :func:`decode`.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, not a dump file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror}") from None
    text = decode(data, path, encoding=encoding, errors=errors)
    fmt = detect_format(text) if input_format == "auto" else input_format
    if fmt not in PARSERS:
        raise InputError(path, f"unknown input format {fmt!r}; choose from {', '.join(PARSERS)}")
    yield from PARSERS[fmt](text, dump_name(path))


def dump_name(path: str | Path) -> str:
    """The name a dump's segment ids start with: its file name without the extension."""
    return Path(path).stem if str(path) != "-" else "stdin"
