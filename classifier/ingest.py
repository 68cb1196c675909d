"""Reading dumps: bytes on disk -> decoded text -> posts (or rejected records).

A :class:`~classifier.source.Post` is one input record (one post with its article
paragraphs in a pasted timeline, one JSON object, one CSV row) split into
:class:`~classifier.source.Part` objects, each of which becomes one segment.  A record
that cannot be read becomes a :class:`~classifier.source.Reject` when the caller asked to
skip bad records, else an :class:`~classifier.errors.InputError`.

This module holds what every format shares (opening a file or standard input, choosing
the text encoding, refusing binary files, detecting the format), the two text layouts
(pasted timeline, plain text) and :func:`read_posts`, which picks the reader; the JSON and
CSV readers live in :mod:`classifier.formats`.  Readers are generators and the text
layouts read line by line, so a large dump is never held in memory as one string.
"""

from __future__ import annotations

import codecs
import io
import logging
import os
import re
import stat
import sys
import tempfile
import unicodedata
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, TextIO

from . import formats
from .dates import parse_date
from .errors import InputError
from .formats import header_key, header_names
from .limits import MAX_RECORD_CHARS, MAX_SPOOL_BYTES, segment_too_long, size_text, too_long_reason, with_rest_counted
from .source import (
    DECODE_ERRORS,
    FORMATS,
    LINE_BREAK_RE,
    CutLine,
    Part,
    Post,
    ReadOptions,
    Reject,
    Source,
)

logger = logging.getLogger(__name__)

ATTRIBUTION_RE = re.compile(
    r"^\s*[—―–-]{1,2}\s*(?P<name>.*?)\s*\(@(?P<handle>[A-Za-z0-9_]{1,30})\)\s*(?P<date>.*?)\s*$"
)
PIC_AT_END_RE = re.compile(r"pic\.twitter\.com/\w+\s*$", re.IGNORECASE)

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)
#: A UTF-8 failure after this many valid non-ASCII characters is a bad byte in a UTF-8
#: file, not a sign of another encoding (CP932 or EUC-JP bytes break UTF-8 at once).
_UTF8_EVIDENCE = 8
_CHUNK = 1 << 20
_BINARY_SAMPLE = 8192
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\v\x1b")


# ---------------------------------------------------------------- the pasted timeline


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


def split_lines(text: str) -> list[str]:
    """Physical lines of ``text``: split at CRLF, lone CR and LF only (not at U+2028 etc.)."""
    lines = LINE_BREAK_RE.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def is_hashtag_line(text: str) -> bool:
    """True when a line holds hashtags and nothing else.

    Every white-space separated word must start with ``#``: ``#NATOexpansion``,
    ``#反ロシア#対中露戦`` and ``#露朝(崔善姫外相・訪露)`` are hashtag lines.
    """
    if "#" not in text and "\uff03" not in text and "\ufe5f" not in text:
        return False  # no character NFKC makes a "#" (most lines): no NFKC pass needed to say no
    words = unicodedata.normalize("NFKC", text).split()
    return bool(words) and all(w.startswith("#") and len(w) > 1 for w in words)


def parse_timeline(text: str, dump: str) -> Iterator[Post | Reject]:
    """Parse the pasted-timeline layout (see the seed in ``seeds/``) of a whole text.

    Rules, in order:

    - an attribution line ``— Name (@handle) Month D, YYYY`` closes a post's text;
    - the post's text is the non-empty line right above it; where a blank line comes
      between the previous attribution and this one, the whole block after the last blank
      line is the text (multi-line posts); lines above the first post's text belong to
      that text;
    - lines after the attribution, up to the next post's text, belong to the same post:
      a hashtag-only line has role ``hashtags``; a run of lines that ends with a
      ``pic.twitter.com/...`` link is the rest of the post's own text (role ``post``);
      any other line is an article paragraph (role ``body``), one segment each.

    Every non-empty line lands in exactly one part.  An attribution with no line of its
    own (two attributions in a row) is a :class:`Reject` ("empty text"), not a post
    without segments.  See :func:`timeline_posts` for the same on a stream of lines.
    """
    yield from timeline_posts(enumerate(split_lines(text), start=1), dump)


#: Lines as a reader sees them: (physical line number, text).
Numbered = list[tuple[int, str]]

#: More characters than this between two attribution lines are not held (a post with its
#: article pasted after it is tens of thousands): the post they would belong to is
#: refused as too long, and reading goes on with the next attribution.
MAX_REGION_CHARS = 5 * MAX_RECORD_CHARS
#: Nor more lines than this (a held line costs about 150 bytes however short it is).
MAX_REGION_LINES = 20_000


@dataclass(slots=True)
class _Pending:
    """A post whose attribution has been read, waiting for the lines after it."""

    record: int
    at: int  # the attribution's line
    attribution_line: str
    attribution: tuple[str, str, str]
    text: Part | None
    refused: Reject | None = None  # set when its text was too long to hold


class _Region:
    """The lines since the last attribution.  Up to :data:`MAX_REGION_CHARS` characters
    they are all held; past that the region *overflows*: it keeps the lines it holds (the
    start of a reject's text), the non-empty lines since the last blank one (the next
    post's text, while that stays under :data:`~classifier.limits.MAX_RECORD_CHARS`
    characters) and the last non-empty line, and only counts the rest."""

    def __init__(self) -> None:
        self.lines: Numbered = []  # a run of blank lines as its first one
        self.held = 0  # characters of ``lines`` (each with its line break)
        self.chars = 0  # characters of every line added
        self.overflow = False
        self.blank_after_overflow = False
        self.tail: Numbered = []  # past the overflow: the non-empty lines since the last blank one
        self.tail_chars = 0
        self.tail_start = 0
        self.last: tuple[int, str] | None = None  # the last non-empty line
        self.end = 0  # the last line's number

    def add(self, number: int, line: str) -> None:
        size = len(line) + 1
        self.chars += size
        self.end = number
        blank = not line.strip()
        if not blank:
            self.last = (number, line)
        if not self.overflow:
            if blank and self.lines and not self.lines[-1][1].strip():
                return  # a run of blank lines is held as its first: only where it lies counts
            self.lines.append((number, line))
            self.held += size
            self.overflow = self.held > MAX_REGION_CHARS or len(self.lines) > MAX_REGION_LINES
        elif blank:
            self.blank_after_overflow = True
            self.tail, self.tail_chars = [], 0
        else:
            if not self.tail_chars:
                self.tail_start = number
            self.tail_chars += size
            if self.tail_chars <= MAX_RECORD_CHARS or not self.tail:  # its first line, at least
                self.tail.append((number, line))

    def split(self, *, first: bool) -> tuple[Numbered | None, Part | None, Reject | None]:
        """The lines that go with the last post (None when they could not all be held,
        so that post is refused), and the next post's text: its part, or the reject that
        refuses it when it could not be held (``first``: no post came before)."""
        if not self.overflow:
            start = _text_start(self.lines, first=first)
            return self.lines[:start], _text_part([item for item in self.lines[start:] if item[1].strip()]), None
        if self.last is None:  # blank lines only: no text, nothing for the last post
            return [], None, None
        if first:  # the first post's text starts at the first non-empty line and runs on
            return [], None, _too_long_text(self.lines, self.chars)
        # As _text_start says: the next text is the non-empty lines after the last blank
        # line, or, when none follows it (or there is no blank line), the last line.
        if self.blank_after_overflow:  # the last post's lines run on past what was held
            if not self.tail_chars:
                return None, _text_part([self.last]), None
            if self.tail_chars <= MAX_RECORD_CHARS:
                return None, _text_part(self.tail), None
            return None, None, _too_long_text(self.tail, self.tail_chars)
        blanks = [k for k, (_, line) in enumerate(self.lines) if not line.strip()]
        after = [*self.lines[blanks[-1] + 1 :], *self.tail] if blanks else []
        if not after:  # the last post's lines run on to the last line, the text (the tail holds its first line)
            last = len(self.lines) - 1 - next(k for k, (_, line) in enumerate(reversed(self.lines)) if line.strip())
            rest = None if self.tail_chars else self.lines[:last]
            return rest, _text_part([self.last]), None
        rest = self.lines[: blanks[-1] + 1]  # the last post's lines end at the last blank line held
        chars = sum(len(line) + 1 for _, line in self.lines[blanks[-1] + 1 :]) + self.tail_chars
        if chars <= MAX_RECORD_CHARS:
            return rest, _text_part(after), None
        return rest, None, _too_long_text(after, chars)

    def refuse(self, pending: _Pending, *, to_end: bool) -> Reject:
        """The reject of the post whose lines after its attribution could not all be held:
        those up to the next post's text (the tail, or else the last line), or all of
        them (``to_end``: no post follows)."""
        if to_end:
            chars, end = self.chars, self.end
        elif self.blank_after_overflow and self.tail_chars:
            chars, end = self.chars - self.tail_chars, self.tail_start - 1
        else:
            chars, end = self.chars - len(self.last[1]) - 1, self.last[0] - 1
        return Reject(pending.record, pending.at,
                      f"{chars:,} characters of lines after its attribution (to line {end:,}); postcred "
                      f"holds at most {MAX_REGION_CHARS:,} characters or {MAX_REGION_LINES:,} lines between two "
                      "attribution lines (not a pasted timeline?)",
                      f"{pending.attribution_line}\n{_kept(self.lines, chars)}")


def _too_long_text(lines: Numbered, chars: int) -> Reject:
    """The reject of a post text of ``chars`` characters, of which ``lines`` (one at least)
    were held (its record numbered by the caller)."""
    first = next((n for n, line in lines if line.strip()), lines[0][0])
    return Reject(0, first, too_long_reason(chars), _kept(lines, chars))


def _kept(lines: Numbered, chars: int) -> str:
    """The start of ``lines``' text, saying how many of its ``chars`` characters were not kept."""
    text = "\n".join(line for _, line in lines)[:MAX_RECORD_CHARS]
    more = chars - len(text) - 1
    return with_rest_counted(text, more)


def timeline_posts(numbered: Iterable[tuple[int, str]], dump: str) -> Iterator[Post | Reject]:
    """:func:`parse_timeline` over (line number, text) pairs read one at a time.

    Only the lines since the last attribution are held: which of them open the next
    post's text, and which are the last post's hashtags, pictures and paragraphs, is known
    when the next attribution (or the end) arrives.  So memory follows the longest post,
    not the dump.  Past :data:`MAX_REGION_CHARS` characters between two attributions (a
    file that is not a timeline, or a gigabyte pasted into one) the lines are counted, not
    held (:class:`_Region`), and the post they belong to is refused.  Lines with no
    attribution anywhere are one refused record.
    """
    pending: _Pending | None = None
    region = _Region()
    record = 0
    for number, line in numbered:
        if isinstance(line, CutLine):
            line = line.kept(MAX_RECORD_CHARS)
        attribution = parse_attribution(line) if "(@" in line else None  # the regex needs "(@"
        if attribution is None:
            region.add(number, line)
            continue
        record += 1
        rest, text, refused = region.split(first=pending is None)
        if pending is not None:
            yield _timeline_post(pending, rest, region, dump)
        if refused is not None:
            refused = replace(refused, record=record)
        pending = _Pending(record, number, line, attribution, text, refused)
        region = _Region()
    if pending is not None:
        yield _timeline_post(pending, None if region.overflow else region.lines, region, dump, to_end=True)
    elif region.last is not None:
        yield Reject(1, next((n for n, line in region.lines if line.strip()), region.last[0]),
                     "no attribution line (— Name (@handle) Month D, YYYY) in the whole dump: not a pasted timeline? "
                     "(--input-format plain reads a post per line)", _kept(region.lines, region.chars))


def _text_start(region: Numbered, *, first: bool) -> int:
    """Where in ``region`` (the lines between two attributions) the next post's text starts."""
    nonempty = [k for k, (_, line) in enumerate(region) if line.strip()]
    if not nonempty:
        return len(region)
    if first:
        return nonempty[0]
    # A blank line anywhere since the previous attribution starts this post's text block
    # (before its first line too: the previous post may have no lines after its attribution).
    blanks = [k for k, (_, line) in enumerate(region) if not line.strip()]
    if blanks:
        after = [k for k in nonempty if k > blanks[-1]]
        if after:
            return after[0]
    return nonempty[-1]


def _timeline_post(pending: _Pending, rest: Numbered | None, region: _Region, dump: str, *,
                   to_end: bool = False) -> Post | Reject:
    """The post of one attribution, its text part and the parts of the lines after it
    (``rest``, from ``region``; None when they could not all be held: the post is
    refused; ``to_end``: the region is the dump's last)."""
    if pending.refused is not None:
        return pending.refused
    if rest is None:
        return region.refuse(pending, to_end=to_end)
    name, handle, date = pending.attribution
    post = Post(record=pending.record, post_id=f"{dump}:post{pending.record}", account=name, handle=handle, date=date)
    if pending.text is not None:
        post.parts.append(pending.text)
    post.parts.extend(_continuation_parts(rest))
    if post.parts:
        return post
    return Reject(pending.record, pending.at, "empty text: an attribution line with no post text above it",
                  pending.attribution_line)


def _continuation_parts(lines: Numbered) -> Iterator[Part]:
    """Parts for the lines after an attribution: hashtags, the rest of the post, body."""
    nonempty = [(number, line) for number, line in lines if line.strip()]
    last_pic = max((k for k, (_, line) in enumerate(nonempty) if PIC_AT_END_RE.search(line)), default=None)
    run: Numbered = []
    for k, (number, line) in enumerate(nonempty):
        if is_hashtag_line(line):
            yield from _post_run(run)
            run = []
            yield Part(number, number, "hashtags", line.strip())
        elif last_pic is not None and k <= last_pic:
            run.append((number, line))
            if k == last_pic or PIC_AT_END_RE.search(line):
                yield from _post_run(run)
                run = []
        else:
            yield Part(number, number, "body", line.strip())
    yield from _post_run(run)


def _post_run(run: Numbered) -> Iterator[Part]:
    if run:
        yield _text_part(run)


def _text_part(lines: Numbered) -> Part | None:
    """The lines of a post's own text as one part (role ``post``), or None if there are none."""
    if not lines:
        return None
    return Part(lines[0][0], lines[-1][0], "post", "\n".join(line.strip() for _, line in lines))


# ---------------------------------------------------------------- plain text


def has_paragraphs(numbered: Iterable[tuple[int, str]]) -> bool:
    """True when a blank line separates two non-empty lines (so posts are paragraphs)."""
    seen_text = blank_after_text = False
    for _, line in numbered:
        if line.strip():
            if blank_after_text:
                return True
            seen_text = True
        elif seen_text:
            blank_after_text = True
    return False


def plain_posts(numbered: Iterable[tuple[int, str]], dump: str, *, paragraphs: bool) -> Iterator[Post | Reject]:
    """Posts from numbered lines: one per non-empty line, or one per blank-line paragraph.

    A post whose lines are all hashtags gets role ``hashtags``; lines are stripped and a
    paragraph's lines joined with ``\\n``.  A paragraph that grows past
    :data:`~classifier.limits.MAX_RECORD_CHARS` characters is refused (a
    :class:`Reject` naming its first line and its length): the rest of its lines are
    counted, not kept (a file whose only blank line comes early is one paragraph).
    """
    number = 0
    block: list[tuple[int, str]] = []
    held = 0  # characters of the block's text so far (its lines stripped, joined by "\n")

    def flush() -> Post | Reject:
        nonlocal number
        number += 1
        texts = [line.strip() for _, line in block]
        if held > MAX_RECORD_CHARS:
            text = "\n".join(texts)[:MAX_RECORD_CHARS]
            return Reject(number, block[0][0], too_long_reason(held),
                          with_rest_counted(text, held - len(text), to_line=last_line))
        role = "hashtags" if all(is_hashtag_line(t) for t in texts) else "post"
        return Post(
            record=number, post_id=f"{dump}:post{number}", account="", handle="", date="",
            parts=[Part(block[0][0], block[-1][0], role, "\n".join(texts))],
        )

    last_line = 0
    for line_number, line in numbered:
        if line.strip():
            if held <= MAX_RECORD_CHARS:
                block.append((line_number, line))
            held += (line.length if isinstance(line, CutLine) else len(line.strip())) + (1 if held else 0)
            last_line = line_number
            if not paragraphs:
                yield flush()
                block, held = [], 0
        elif block:
            yield flush()
            block, held = [], 0
    if block:
        yield flush()


# ---------------------------------------------------------------- bytes -> text


@dataclass(slots=True)
class _Validation:
    ok: bool
    offset: int = 0
    byte: int = 0
    non_ascii: int = 0


def _validate(handle: BinaryIO, start: int, codec: str, *, count: bool = False) -> _Validation:
    """Decode the whole stream once, in chunks, and report the first undecodable byte."""
    handle.seek(start)
    decoder = codecs.getincrementaldecoder(codec)("strict")
    offset, non_ascii = start, 0
    while chunk := handle.read(_CHUNK):
        pending = decoder.getstate()[0]
        try:
            out = decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            data = pending + chunk
            if count:
                good = data[: exc.start].decode(codec, "ignore")
                non_ascii += len(good) - len(good.encode("ascii", "ignore"))
            return _Validation(False, offset - len(pending) + exc.start, data[exc.start], non_ascii)
        offset += len(chunk)
        if count and non_ascii < _UTF8_EVIDENCE:
            non_ascii += len(out) - len(out.encode("ascii", "ignore"))
    pending = decoder.getstate()[0]
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return _Validation(False, offset - len(pending) + exc.start, pending[exc.start], non_ascii)
    return _Validation(True, non_ascii=non_ascii)


def _normalize_encoding(encoding: str, label: str) -> str:
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise InputError(label, f"unknown encoding {encoding!r}") from None
    if not getattr(info, "_is_text_encoding", True):
        raise InputError(label, f"{encoding!r} is not a text encoding")
    # Excel's and Windows' "Shift_JIS" is CP932 (a superset: NEC and IBM characters).
    return {"shift_jis": "cp932", "utf-8-sig": "utf-8"}.get(info.name, info.name)


def _bom(head: bytes) -> tuple[str | None, int]:
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, len(bom)
    return None, 0


def _family(codec: str) -> str:
    return codec[:6] if codec.startswith(("utf-16", "utf-32")) else codec


def looks_binary(head: bytes) -> bool:
    """True for bytes no text dump holds: NUL, or many control characters."""
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in _TEXT_CONTROLS)
    return bool(head) and controls * 10 > len(head)


def choose_codec(handle: BinaryIO, label: str, *, encoding: str | None = None, errors: str = "strict") -> tuple[str, int]:
    """The codec to read ``handle`` with and the number of BOM bytes to skip.

    A BOM decides (UTF-8, UTF-16, UTF-32); else ``encoding`` if given; else the first of
    UTF-8, EUC-JP and CP932 that decodes the whole file.  With ``errors="strict"`` an
    undecodable byte is an :class:`InputError` naming its offset; binary files are refused.
    """
    handle.seek(0)
    head = handle.read(_BINARY_SAMPLE)
    bom_codec, start = _bom(head)
    codec = bom_codec
    if encoding:
        forced = _normalize_encoding(encoding, label)
        if not (bom_codec and _family(forced) == _family(bom_codec)):
            # "utf-16"/"utf-32" without a BOM: little-endian, as Windows writes them.
            codec, start = {"utf-16": "utf-16-le", "utf-32": "utf-32-le"}.get(forced, forced), 0
    _refuse_binary(head, label, codec)
    if codec:
        check = _validate(handle, start, codec) if errors == "strict" else _Validation(True)
        if not check.ok:
            raise _decode_error(label, codec, check)
        return codec, start
    utf8 = _validate(handle, 0, "utf-8", count=True)
    if utf8.ok:
        return "utf-8", 0
    if utf8.non_ascii < _UTF8_EVIDENCE:
        # EUC-JP before CP932, for its narrow byte ranges: Shift_JIS text with any kana
        # fails as EUC-JP, while EUC-JP text often decodes "cleanly" as CP932 mojibake.
        euc = _validate(handle, 0, "euc-jp")
        if euc.ok:
            # SS2/SS3 bytes mean half-width kana or JIS X 0212 in EUC-JP, both rare, but are
            # common kanji lead bytes in CP932 ("自" is 8E A9): prefer CP932 when it fits too.
            if _has_bytes(handle, b"\x8e\x8f") and _validate(handle, 0, "cp932").ok:
                return "cp932", 0
            return "euc-jp", 0
        if _validate(handle, 0, "cp932").ok:
            return "cp932", 0
    if errors == "strict":
        raise _decode_error(label, "UTF-8" if utf8.non_ascii >= _UTF8_EVIDENCE else "UTF-8, EUC-JP or CP932", utf8)
    return "utf-8", 0


def _refuse_binary(head: bytes, label: str, codec: str | None) -> None:
    """Refuse a file whose first bytes no text dump holds (UTF-16 and UTF-32 hold NULs)."""
    if not (codec or "").startswith(("utf-16", "utf-32")) and looks_binary(head):
        raise InputError(label, "looks like a binary file (NUL or control bytes), not a text dump")


def _has_bytes(handle: BinaryIO, values: bytes) -> bool:
    handle.seek(0)
    pattern = re.compile(b"[" + re.escape(values) + b"]")
    while chunk := handle.read(_CHUNK):
        if pattern.search(chunk):
            return True
    return False


def _decode_error(label: str, codec: str, check: _Validation) -> InputError:
    return InputError(
        label,
        f"cannot decode as {codec}: byte 0x{check.byte:02x} is invalid (use --encoding, or --errors replace)",
        offset=check.offset,
    )


def decode(data: bytes, path: str | Path, *, encoding: str | None = None, errors: str = "strict") -> str:
    """Decode a dump's bytes (BOM, else ``encoding``, else UTF-8, EUC-JP or CP932).

    An undecodable byte is an :class:`InputError` naming its offset, unless
    ``errors="replace"``; a binary file is an :class:`InputError` too.  Line breaks are
    left as they are.
    """
    codec, start = choose_codec(io.BytesIO(data), str(path), encoding=encoding, errors=errors)
    return data[start:].decode(codec, errors=errors)


@contextmanager
def open_text(handle: BinaryIO, label: str, *, errors: str = "strict") -> Iterator[TextIO]:
    """A seekable byte stream (an archive member) as text, its encoding chosen as for a
    dump (:func:`choose_codec`), read as it is used; line breaks normalized to ``\\n``."""
    codec, start = choose_codec(handle, label, errors=errors)
    handle.seek(start)
    text = io.TextIOWrapper(handle, encoding=codec, errors=errors, newline=None)
    try:
        yield text
    finally:
        with suppress(ValueError):
            text.detach()


# ---------------------------------------------------------------- an opened dump


@contextmanager
def open_source(path: str | Path, *, encoding: str | None = None, errors: str = "strict",
                options: ReadOptions | None = None) -> Iterator[Source]:
    """Open a dump (``"-"`` is standard input, spooled to a temporary file) as a :class:`Source`."""
    if errors not in DECODE_ERRORS:
        raise ValueError(f"errors must be one of {DECODE_ERRORS}, got {errors!r}")
    label, real = ("<stdin>", None) if str(path) == "-" else (str(path), Path(path))
    handle = _open_stdin(encoding) if real is None else _open_file(real, encoding)
    try:
        head = handle.read(4)
        if head.startswith(_ZIP_MAGIC) and not encoding:
            codec, start = None, 0
        else:
            codec, start = choose_codec(handle, label, encoding=encoding, errors=errors)
        yield Source(label=label, name=dump_name(path), handle=handle, codec=codec, start=start, errors=errors,
                     suffix=real.suffix.lower() if real else "", path=real, options=options or ReadOptions())
    finally:
        handle.close()


def _open_file(path: Path, encoding: str | None = None) -> BinaryIO:
    """A dump file opened for reading; a pipe, FIFO or device (``<(cmd)``, ``/dev/stdin``)
    is copied to a temporary file first, as standard input is, because readers seek."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, not a dump file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror}") from None
    if stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        return handle
    with handle:
        return _spool(handle, str(path), encoding)


def _open_stdin(encoding: str | None = None) -> BinaryIO:
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise InputError("<stdin>", "no standard input to read")
    return _spool(stream, "<stdin>", encoding)


def _spool(stream: BinaryIO, label: str, encoding: str | None) -> BinaryIO:
    """Copy a stream to a temporary file, refusing binary data before copying anything but
    its first bytes, and a stream longer than :data:`~classifier.limits.MAX_SPOOL_BYTES`."""
    try:
        head = stream.read(_BINARY_SAMPLE)
    except OSError as exc:
        raise InputError(label, f"cannot read: {exc.strerror}") from None
    if not (head.startswith(_ZIP_MAGIC) and not encoding):
        forced = _normalize_encoding(encoding, label) if encoding else None
        _refuse_binary(head, label, _bom(head)[0] or forced)
    spool = tempfile.TemporaryFile()
    try:
        spool.write(head)
        size = len(head)
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > MAX_SPOOL_BYTES:
                raise InputError(label, f"more than {size_text(MAX_SPOOL_BYTES)} from a pipe or standard input; "
                                        "save it to a file and score the file")
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


# ---------------------------------------------------------------- formats


def detect_format(text: str, *, suffix: str = "", columns: bool = False) -> str:
    """Guess the format of decoded text (its first few hundred KiB are enough).

    In order: ``tweets-js`` (``window.YTD.``), a JSON family (``snscrape`` when its keys
    show, ``tweets-js`` for an archive's array without the prefix, else ``x-api``), ``csv``
    or ``tsv`` by extension or when column options are given, ``timeline`` when an
    attribution line is present, ``csv``/``tsv`` when the first line is a header with a
    text column, else ``plain``.
    """
    body = text.lstrip("\ufeff \t\r\n")
    if body.startswith("window.YTD."):
        return "tweets-js"
    if body[:1] in ("{", "["):
        if re.search(r'"(rawContent|renderedContent|displayname)"\s*:', body):
            return "snscrape"
        if re.search(r'"tweet"\s*:\s*\{|"full_text"\s*:', body):
            return "tweets-js"
        return "x-api"
    if suffix == ".csv":
        return "csv"
    if suffix in (".tsv", ".tab"):
        return "tsv"
    lines = split_lines(text)
    first = next((line for line in lines if line.strip()), "")
    if columns:
        return "tsv" if "\t" in first else "csv"
    if any(parse_attribution(line) for line in lines):
        return "timeline"
    cells = [header_key(c.strip().strip('"').lstrip("\ufeff")) for c in first.split("\t" if "\t" in first else ",")]
    if len(cells) >= 2 and all(0 < len(c) <= 40 for c in cells) and set(cells) & set(header_names()["text"]):
        return "tsv" if "\t" in first else "csv"
    return "plain"


def _read_timeline(source: Source) -> Iterator[Post | Reject]:
    yield from timeline_posts(source.lines(MAX_RECORD_CHARS), source.name)


def _read_plain(source: Source, paragraphs: bool | None = None) -> Iterator[Post]:
    if paragraphs is None:
        paragraphs = has_paragraphs(source.lines(MAX_RECORD_CHARS))
    source.detail = "one post per paragraph" if paragraphs else "one post per line"
    yield from plain_posts(source.lines(MAX_RECORD_CHARS), source.name, paragraphs=paragraphs)


#: The reader of each ``--input-format``.
READERS: dict[str, Callable[[Source], Iterator[Post | Reject]]] = {
    "timeline": _read_timeline,
    "x-api": formats.read_x_api,
    "snscrape": formats.read_snscrape,
    "tweets-js": lambda source: formats.read_tweets_js(source, open_text),
    "csv": lambda source: formats.read_delimited(source, ","),
    "tsv": lambda source: formats.read_delimited(source, "\t"),
    "plain": _read_plain,
    "lines": lambda source: _read_plain(source, paragraphs=False),
    "paragraphs": lambda source: _read_plain(source, paragraphs=True),
}


def read_posts(path: str | Path, options: ReadOptions | None = None, **changes) -> Iterator[Post | Reject]:
    """Read a dump file and yield its posts (and rejected records), in input order.

    Every input record comes out exactly once: as a :class:`~classifier.source.Post` with
    at least one part, or as a :class:`~classifier.source.Reject`.

    Parameters
    ----------
    path:
        The dump file, or ``"-"`` for standard input.
    options:
        How to read it (:class:`~classifier.source.ReadOptions`: format, encoding, what to
        do with a malformed record, CSV/TSV columns); ``on_error="stop"`` makes a
        malformed record raise :class:`InputError` naming the file and its line (or
        record), ``"skip"`` yields it as a :class:`~classifier.source.Reject`.
    changes:
        Fields of ``options`` to change, for short calls: ``read_posts(path,
        input_format="lines")``.

    Examples
    --------
    >>> posts = list(read_posts("seeds/timeline_nhk_reuters_partisan_2024-11-04.txt"))  # doctest: +SKIP
    """
    options = replace(options or ReadOptions(), **changes) if changes else options or ReadOptions()
    if options.input_format != "auto" and options.input_format not in FORMATS:
        raise InputError(path if str(path) != "-" else "<stdin>",
                         f"unknown input format {options.input_format!r}; choose from {', '.join(FORMATS)}")
    with open_source(path, encoding=options.encoding, errors=options.errors, options=options) as source:
        fmt = _choose_format(source, options.input_format)
        announced = False
        for item in READERS[fmt](source):
            if not announced:  # once the reader has looked at the dump (a CSV's header, a JSON layout)
                _announce(source, fmt)
                announced = True
            if isinstance(item, Post):
                item = _checked(item, fmt)
            if isinstance(item, Reject) and options.on_error == "stop":
                raise InputError(
                    item.file or source.label,
                    f"{item.reason} (use --on-error skip to set bad records aside)",
                    line=item.line,
                    record=item.record if item.line is None else None,
                )
            yield item
        if not announced:
            _announce(source, fmt)


def _announce(source: Source, fmt: str) -> None:
    """Say, in one line, how the dump is read: ``read as csv (utf-8-sig): text=本文, ...``."""
    detail = f": {source.detail}" if source.detail else ""
    logger.info("read as %s (%s)%s", fmt, source.encoding, detail)


#: Formats whose parts' ``line`` is always a physical line (in the JSON formats it may be
#: the record number instead, see :mod:`classifier.formats`).
_LINE_FORMATS = frozenset({"timeline", "csv", "tsv", "plain", "lines", "paragraphs"})


def _checked(post: Post, fmt: str) -> Post | Reject:
    """The post, or a :class:`Reject` when it cannot be scored: no text, a segment longer
    than MeCab survives (:mod:`classifier.limits`), or a NUL byte (binary data past the
    head of the file, where the binary check looks)."""
    if not post.parts:
        return Reject(post.record, None, "empty text", "")
    reason = None
    for part in post.parts:
        reason = segment_too_long(part.text)
        if reason is None and "\x00" in part.text:
            reason = "holds a NUL byte (binary data, not text)"
        if reason:
            break
    if reason is None and any("\x00" in field for field in (post.post_id, post.account, post.handle, post.date)):
        reason = "holds a NUL byte (binary data, not text)"
    if reason is None:
        return post
    line = post.line if post.line is not None else post.parts[0].line if fmt in _LINE_FORMATS else None
    return Reject(post.record, line, reason, "\n".join(part.text for part in post.parts))


def _choose_format(source: Source, input_format: str) -> str:
    if source.is_zip:
        if input_format not in ("auto", "tweets-js"):
            raise InputError(source.label, f"is a zip archive; only --input-format tweets-js reads archives, not {input_format}")
        return "tweets-js"
    fmt = input_format
    if fmt == "auto":
        fmt = detect_format(source.head(), suffix=source.suffix, columns=source.options.has_columns)
    if source.options.has_columns and fmt not in ("csv", "tsv"):
        raise InputError(source.label, f"--text-col, --id-col, --author-col and --date-col apply to csv and tsv input, not {fmt}")
    return fmt


def dump_name(path: str | Path) -> str:
    """The name a dump's segment ids start with: its file name without the extension."""
    return Path(path).stem if str(path) != "-" else "stdin"
