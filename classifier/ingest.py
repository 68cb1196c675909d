"""Reading dumps: bytes on disk -> decoded text -> posts (or rejected records).

A :class:`Post` is one input record (one post with its article paragraphs in a pasted
timeline, one JSON object, one CSV row) split into :class:`Part` objects, each of which
becomes one segment.  A record that cannot be read becomes a :class:`Reject` when the
caller asked to skip bad records, else an :class:`~classifier.errors.InputError`.

This module holds what every format shares (opening a file or standard input, choosing
the text encoding, refusing binary files, detecting the format) and the two text layouts
(pasted timeline, plain text); the JSON and CSV readers live in :mod:`classifier.formats`.
Readers are generators and line-oriented readers stream, so a large dump is never held
in memory as one string except by the formats that are one JSON document.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import os
import re
import stat
import sys
import tempfile
import unicodedata
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

from .errors import InputError
from .limits import MAX_SPOOL_BYTES, segment_too_long, size_text

logger = logging.getLogger(__name__)

ATTRIBUTION_RE = re.compile(
    r"^\s*[—―–-]{1,2}\s*(?P<name>.*?)\s*\(@(?P<handle>[A-Za-z0-9_]{1,30})\)\s*(?P<date>.*?)\s*$"
)
_DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%b. %d, %Y", "%Y年%m月%d日", "%Y-%m-%d", "%Y/%m/%d")
_DATETIME_FORMATS = (
    "%a %b %d %H:%M:%S %z %Y",  # Twitter v1.1 and archives: "Mon Nov 04 09:12:00 +0000 2024"
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M %z", "%Y-%m-%d %H:%M:%S %z",  # X Analytics: "2024-11-04 09:12 +0000"
    "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日 %H時%M分",
    "%B %d, %Y %H:%M", "%b %d, %Y %H:%M",
)
PIC_AT_END_RE = re.compile(r"pic\.twitter\.com/\w+\s*$", re.IGNORECASE)
LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")

#: Every ``--input-format`` name, in the order the README documents them.
FORMATS = ("timeline", "x-api", "snscrape", "tweets-js", "csv", "tsv", "plain", "lines", "paragraphs")
ON_ERROR = ("stop", "skip")
DECODE_ERRORS = ("strict", "replace")

#: Tried in this order when no BOM and no ``encoding`` say otherwise.  EUC-JP comes before
#: CP932 because its byte ranges are narrow: Shift_JIS text with any kana fails as EUC-JP,
#: while EUC-JP text often decodes "cleanly" as CP932 mojibake.
DETECT_ORDER = ("utf-8", "euc-jp", "cp932")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)
#: A UTF-8 failure after this many valid non-ASCII characters is a bad byte in a UTF-8
#: file, not a sign of another encoding (CP932 or EUC-JP bytes break UTF-8 at once).
_UTF8_EVIDENCE = 8
_CHUNK = 1 << 20
_SNIFF = 1 << 18
_BINARY_SAMPLE = 8192
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\v\x1b")


@dataclass(slots=True)
class Part:
    """A piece of a post that becomes one segment: lines ``line``..``line_end``."""

    line: int
    line_end: int
    role: str
    text: str


@dataclass(slots=True)
class Post:
    """One input record: who posted it, when, and its parts in input order.

    ``line`` is the physical line where the record starts, set by the JSON readers (whose
    parts may be numbered by record instead), for messages about the whole record; None
    where the parts' lines say it, or where it is unknown.
    """

    record: int
    post_id: str
    account: str
    handle: str
    date: str
    parts: list[Part] = field(default_factory=list)
    kind: str = "post"
    line: int | None = None


@dataclass(slots=True)
class Reject:
    """A record that could not be read, kept so that nothing is lost silently.

    ``line`` is the physical line where the record starts (None where unknown); ``file``
    names the member of an archive the record came from (None for the dump itself).
    """

    record: int
    line: int | None
    reason: str
    raw: str
    file: str | None = None

    def to_dict(self) -> dict:
        """The rejects-file row: record, line, reason, raw (and file for archive members)."""
        row = {"record": self.record, "line": self.line, "reason": self.reason, "raw": self.raw}
        if self.file:
            row["file"] = self.file
        return row


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How to read records: what to do with a bad one, and the CSV/TSV column names."""

    on_error: str = "stop"
    text_col: str | None = None
    id_col: str | None = None
    author_col: str | None = None
    date_col: str | None = None

    @property
    def has_columns(self) -> bool:
        return any((self.text_col, self.id_col, self.author_col, self.date_col))


class RecordError(ValueError):
    """Raised by a format's record converter: this record is malformed (message = why)."""


# ---------------------------------------------------------------- dates


def parse_date(text: str) -> str:
    """Turn ``November 4, 2024`` (and a few other layouts) into ``2024-11-04``; '' if unknown."""
    text = text.strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return ""


def normalize_date(value: object) -> str:
    """Normalize a record's date to ISO 8601; '' when there is none.

    A value with only a day becomes ``YYYY-MM-DD``; a value with a time keeps it, with its
    UTC offset when the source gives one (``2024-11-04T09:12:00+00:00``).  Unix epoch
    seconds or milliseconds become UTC datetimes.  Raises ``ValueError`` for anything else,
    so that a bad date is reported instead of silently dropped.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"not a date: {value!r}")
    text = str(value).strip()
    if not text:
        return ""
    if re.fullmatch(r"\d{10}|\d{13}|\d{10}\.\d+", text):
        seconds = float(text) / (1000 if len(text) == 13 else 1)
        try:
            return _iso(datetime.fromtimestamp(seconds, timezone.utc))
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"not a date: {value!r}") from None
    if not _ISO_DAY_RE.fullmatch(text):
        try:  # the common case (X API, snscrape), and fast
            return _iso(datetime.fromisoformat(text))
        except ValueError:
            pass
    # A dump uses one layout throughout: try the one that worked last time first.
    for fmt in sorted(_ALL_FORMATS, key=lambda f: f != _last_format[0]):
        try:
            moment = datetime.strptime(text, fmt)
        except ValueError:
            continue
        _last_format[0] = fmt
        return moment.date().isoformat() if fmt in _DATE_FORMATS else _iso(moment)
    raise ValueError(f"not a date: {value!r}")


_ISO_DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ALL_FORMATS = _DATE_FORMATS + _DATETIME_FORMATS
_last_format = [_DATE_FORMATS[0]]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")


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


def parse_timeline(text: str, dump: str) -> Iterator[Post | Reject]:
    """Parse the pasted-timeline layout (see the seed in ``seeds/``).

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
    without segments.
    """
    lines = split_lines(text)
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
        if post.parts:
            yield post
        else:
            yield Reject(index + 1, at + 1, "empty text: an attribution line with no post text above it", lines[at])


def _text_start(lines: list[str], lo: int, at: int, *, first: bool) -> int:
    """Index of the first line of the text of the post whose attribution is at ``at``."""
    nonempty = [k for k in range(lo, at) if lines[k].strip()]
    if not nonempty:
        return at
    if first:
        return nonempty[0]
    # A blank line anywhere since the previous attribution starts this post's text block
    # (before its first line too: the previous post may have no lines after its attribution).
    blanks = [k for k in range(lo, at) if not lines[k].strip()]
    if blanks:
        after = [k for k in nonempty if k > blanks[-1]]
        if after:
            return after[0]
    return nonempty[-1]


def _continuation_parts(lines: list[str], lo: int, hi: int) -> Iterator[Part]:
    """Parts for the lines after an attribution: hashtags, the rest of the post, body."""
    from .segment import is_hashtag_line  # lazily: segment pulls in the tokenizer stack

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


# ---------------------------------------------------------------- plain text


def parse_plain(text: str, dump: str) -> Iterator[Post]:
    """Plain text: one post per blank-line separated paragraph, or per line if no blank lines."""
    numbered = list(enumerate(split_lines(text), start=1))
    yield from plain_posts(numbered, dump, paragraphs=has_paragraphs(numbered))


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


def plain_posts(numbered: Iterable[tuple[int, str]], dump: str, *, paragraphs: bool) -> Iterator[Post]:
    """Posts from numbered lines: one per non-empty line, or one per blank-line paragraph.

    A post whose lines are all hashtags gets role ``hashtags``; lines are stripped and a
    paragraph's lines joined with ``\\n``.
    """
    from .segment import is_hashtag_line  # lazily: segment pulls in the tokenizer stack

    number = 0
    block: list[tuple[int, str]] = []

    def flush() -> Post:
        nonlocal number
        number += 1
        texts = [line.strip() for _, line in block]
        role = "hashtags" if all(is_hashtag_line(t) for t in texts) else "post"
        return Post(
            record=number, post_id=f"{dump}:post{number}", account="", handle="", date="",
            parts=[Part(block[0][0], block[-1][0], role, "\n".join(texts))],
        )

    for line_number, line in numbered:
        if line.strip():
            block.append((line_number, line))
            if not paragraphs:
                yield flush()
                block = []
        elif block:
            yield flush()
            block = []
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


# ---------------------------------------------------------------- an opened dump


@dataclass
class Source:
    """An opened dump: a seekable byte handle, how to decode it, and how to name it.

    ``label`` names the dump in messages (its path, ``<stdin>``, ``archive.zip:member``);
    ``name`` starts its segment ids.  ``codec`` is None for a zip archive.
    """

    label: str
    name: str
    handle: BinaryIO
    codec: str | None
    start: int
    errors: str
    suffix: str
    path: Path | None
    options: ReadOptions = field(default_factory=ReadOptions)
    detail: str = ""

    @property
    def is_zip(self) -> bool:
        return self.codec is None

    @property
    def encoding(self) -> str:
        """The encoding as a user names it: ``utf-8-sig`` for UTF-8 with a BOM, ``zip``."""
        if self.codec is None:
            return "zip"
        if self.start:
            return "utf-8-sig" if self.codec == "utf-8" else f"{self.codec} with BOM"
        return self.codec

    def lines(self) -> Iterator[tuple[int, str]]:
        """(line number, text) for every physical line, streamed; CRLF and lone CR are breaks."""
        self.handle.seek(self.start)
        wrapper = io.TextIOWrapper(self.handle, encoding=self.codec, errors=self.errors, newline=None)
        try:
            for number, line in enumerate(wrapper, start=1):
                yield number, line[:-1] if line.endswith("\n") else line
        finally:
            # A reader that stops early (an error) may close this generator after the
            # dump's handle was closed; detaching keeps the wrapper from closing it twice.
            with suppress(ValueError):
                wrapper.detach()

    def text(self) -> str:
        """The whole decoded text, line breaks normalized to ``\\n``."""
        self.handle.seek(self.start)
        wrapper = io.TextIOWrapper(self.handle, encoding=self.codec, errors=self.errors, newline=None)
        try:
            return wrapper.read()
        finally:
            wrapper.detach()

    def head(self, size: int = _SNIFF) -> str:
        """The first ``size`` bytes decoded (a cut character at the end is replaced)."""
        self.handle.seek(self.start)
        return LINE_BREAK_RE.sub("\n", self.handle.read(size).decode(self.codec, errors="replace"))


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


#: The CSV/TSV header names of each role (text, id, author, name, date), in the order they are
#: tried: ``columns.tsv``, data rather than code.
COLUMNS_FILE = Path(__file__).parent / "columns.tsv"
HEADER_SEPARATORS_RE = re.compile(r"[\s\-]+")


def header_key(header: str) -> str:
    """How header names are compared: NFKC, lower case, runs of spaces and ``-`` read as
    ``_`` (``Tweet id``, ``tweet-id`` and ``TWEET_ID`` are one name; ``ＩＤ`` is ``id``)."""
    return HEADER_SEPARATORS_RE.sub("_", unicodedata.normalize("NFKC", header).strip().lower())


@lru_cache(maxsize=1)
def header_names() -> dict[str, tuple[str, ...]]:
    """Role -> the header keys of that role, in the order ``columns.tsv`` lists them."""
    names: dict[str, list[str]] = {}
    with COLUMNS_FILE.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            names.setdefault(row["role"], []).append(header_key(row["header"]))
    return {role: tuple(keys) for role, keys in names.items()}


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
    yield from parse_timeline(source.text(), source.name)


def _read_plain(source: Source, paragraphs: bool | None = None) -> Iterator[Post]:
    if paragraphs is None:
        paragraphs = has_paragraphs(source.lines())
    source.detail = "one post per paragraph" if paragraphs else "one post per line"
    yield from plain_posts(source.lines(), source.name, paragraphs=paragraphs)


def _readers() -> dict[str, Callable[[Source], Iterator[Post | Reject]]]:
    from . import formats  # formats builds on this module's Post/Part/Reject

    return {
        "timeline": _read_timeline,
        "x-api": formats.read_x_api,
        "snscrape": formats.read_snscrape,
        "tweets-js": formats.read_tweets_js,
        "csv": lambda source: formats.read_delimited(source, ","),
        "tsv": lambda source: formats.read_delimited(source, "\t"),
        "plain": _read_plain,
        "lines": lambda source: _read_plain(source, paragraphs=False),
        "paragraphs": lambda source: _read_plain(source, paragraphs=True),
    }


def read_posts(
    path: str | Path,
    *,
    input_format: str = "auto",
    encoding: str | None = None,
    errors: str = "strict",
    on_error: str = "stop",
    text_col: str | None = None,
    id_col: str | None = None,
    author_col: str | None = None,
    date_col: str | None = None,
) -> Iterator[Post | Reject]:
    """Read a dump file and yield its posts (and rejected records), in input order.

    Every input record comes out exactly once: as a :class:`Post` with at least one part,
    or as a :class:`Reject`.

    Parameters
    ----------
    path:
        The dump file, or ``"-"`` for standard input.
    input_format:
        ``"auto"`` (detect from content) or one of :data:`FORMATS`.
    encoding, errors:
        See :func:`choose_codec`; ``errors`` is ``"strict"`` or ``"replace"``.
    on_error:
        ``"stop"``: a malformed record raises :class:`InputError` naming the file and its
        line (or record); ``"skip"``: it is yielded as a :class:`Reject`.
    text_col, id_col, author_col, date_col:
        CSV/TSV header names; the text column is detected when not given.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    if input_format != "auto" and input_format not in FORMATS:
        raise InputError(path if str(path) != "-" else "<stdin>",
                         f"unknown input format {input_format!r}; choose from {', '.join(FORMATS)}")
    options = ReadOptions(on_error, text_col, id_col, author_col, date_col)
    with open_source(path, encoding=encoding, errors=errors, options=options) as source:
        fmt = _choose_format(source, input_format)
        announced = False
        for item in _readers()[fmt](source):
            if not announced:  # once the reader has looked at the dump (a CSV's header, a JSON layout)
                _announce(source, fmt)
                announced = True
            if isinstance(item, Post):
                item = _checked(item, fmt)
            if isinstance(item, Reject) and on_error == "stop":
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
