"""Readers for exported dumps: X API v2 JSON/JSONL, snscrape JSONL, an X/Twitter archive's
``tweets.js`` (or the archive's zip) and CSV/TSV.

Each reader takes an opened :class:`~classifier.source.Source` and yields
:class:`~classifier.source.Post` and :class:`~classifier.source.Reject` objects, one per
input record, in input order, numbered from 1.  A post's text becomes one part (role
``post``).  Segment line numbers are physical lines where a record has a line of its own
(JSONL with one post per line, CSV/TSV); in a JSON document, a JSONL file of API pages
(several posts per line) and ``tweets.js``, they are record numbers, so ids stay unique.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import re
import struct
import unicodedata
import zipfile
import zlib
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Callable, ContextManager, Iterator, TextIO

from .dates import normalize_date
from .errors import InputError
from .limits import (
    MAX_ARCHIVE_BYTES, MAX_COMPRESSION_RATIO, MAX_LINE_CHARS, MAX_RECORD_CHARS, RATIO_FLOOR, size_text, with_rest_counted,
)
from .source import CutLine, Part, Post, RecordError, Reject, Source

logger = logging.getLogger(__name__)

YTD_PREFIX_RE = re.compile(r"\s*window\.YTD\.[A-Za-z0-9_]+\.part\d+\s*=\s*")
ARCHIVE_TWEETS_RE = re.compile(r"(?:^|/)tweets?(?:-part(\d+))?\.js$")
ARCHIVE_ACCOUNT_RE = re.compile(r"(?:^|/)account\.js$")
STATUS_URL_RE = re.compile(r"https?://(?:www\.|mobile\.)?(?:twitter|x)\.com/(\w+)/status(?:es)?/(\d+)")
SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
JSON_SPACE = " \t\r\n"
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonlines")

#: The CSV/TSV header names of each role (text, id, author, name, date, url), in the order
#: they are tried: ``columns.tsv``, data rather than code.
COLUMNS_FILE = Path(__file__).parent / "columns.tsv"
HEADER_SEPARATORS_RE = re.compile(r"[\s\-]+")
#: Headers that only twarc-csv (``twarc2 csv``) writes: its text is the API's, with ``&amp;``,
#: ``&lt;``, ``&gt;`` escaped and line breaks written as ``\n``.
TWARC_CSV_HEADERS = frozenset({"__twarc.version", "referenced_tweets.retweeted.id", "author.username"})
TWARC_KINDS = (("referenced_tweets.retweeted.id", "retweet"), ("referenced_tweets.quoted.id", "quote"),
               ("referenced_tweets.replied_to.id", "reply"))


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

#: ``expand(value)`` -> ([(post object, context)], is a page of several posts?)
Expand = Callable[[object], tuple[list[tuple[object, object]], bool]]
#: ``convert(post object, context, record number, segment line)`` -> Post, or RecordError.
Convert = Callable[[object, object, int, int], Post]
#: ``open_text(handle, label, errors=...)``: a context manager giving a seekable byte stream
#: (an archive member) as text, its encoding detected (:func:`classifier.ingest.open_text`,
#: passed in by the caller that chose this reader).
OpenText = Callable[..., ContextManager[TextIO]]


# ---------------------------------------------------------------- shared helpers


def _string(value: object, name: str) -> str:
    """A text field as a string: numbers become strings, unpaired surrogates are refused."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RecordError(f"{name!r} is not a string")
    text = str(value)
    if SURROGATE_RE.search(text):
        raise RecordError(f"{name!r} holds an unpaired surrogate, which no text file can hold")
    return text


def _post_text(value: object, name: str) -> str:
    if value is None:
        raise RecordError(f"no {name!r} field")
    if not isinstance(value, str):
        raise RecordError(f"{name!r} is not a string")
    text = _string(value, name)
    if not text.strip():
        raise RecordError(f"empty text in {name!r}")
    return text


def _date(value: object, name: str) -> str:
    try:
        return normalize_date(value)
    except ValueError:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise RecordError(f"{name} {shown} is not a date postcred can read") from None


def _unescape(text: str) -> str:
    """X's API and archives escape only ``&``, ``<`` and ``>`` in post text; undo exactly that."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _json_reason(exc: Exception, *, with_line: bool = False) -> str:
    """One line saying why JSON did not parse (``with_line``: name the line, too).  An error
    from a :class:`JsonReader` carries its place in the whole stream as its cause."""
    if isinstance(exc, json.JSONDecodeError):
        what = exc.msg.replace(" starting at", "")
        located = exc.__cause__ if isinstance(exc.__cause__, _Located) else None
        line, column = (located.line, located.column) if located else (exc.lineno, exc.colno)
        where = f"line {line}, column {column}" if with_line else f"column {column}"
        cut = "Unterminated" in exc.msg or (located.cut if located else exc.pos >= len(exc.doc.rstrip()))
        return f"not valid JSON: {what[:1].lower()}{what[1:]} at {where}" + (" (cut short?)" if cut else "")
    if isinstance(exc, RecursionError):
        return "not valid JSON (nested too deeply)"
    if isinstance(exc, _ValueTooLong):
        return str(exc)
    return f"not valid JSON ({exc})"  # e.g. an integer of more than 4300 digits


def _make_post(record: int, at: int, post_id: object, account: str, handle: str, date: str, text: str,
               kind: str, dump: str) -> Post:
    return Post(
        record=record,
        post_id=_string(post_id, "id") or f"{dump}:post{record}",
        account=account,
        handle=handle,
        date=date,
        parts=[Part(at, at, "post", text)],
        kind=kind,
    )


def _layout(source: Source) -> str:
    """``"jsonl"`` (one JSON value per line) or ``"document"`` (one JSON value in the file).

    A ``.jsonl``/``.ndjson`` file is JSONL.  Otherwise (``.json``, standard input) a first
    line that parses on its own means JSONL, one starting with ``[`` a document.
    When the first line does not parse, it is a broken JSONL record if the next line is a
    JSON object on its own, or if the file's head, parsed as one document, breaks before
    the first token of a later line; else the file is a pretty-printed document.
    """
    if source.suffix in JSONL_SUFFIXES:
        return "jsonl"
    first = None
    for line in _leading_lines(source):
        if line is None:  # a line too long to parse whole here
            if first is None:
                first = LONG_LINE_MARK  # JSONL only if the next line is a record of its own
                continue
            break
        line = line.strip()
        if not line:
            continue
        if first is None:
            first = line
            if first.startswith("["):
                return "document"
            if _parses(first):
                return "jsonl"
            continue
        if _parses(line, dict):
            return "jsonl"
        break
    if first is None:
        return "jsonl"
    if first is LONG_LINE_MARK:
        return "document"  # one long line: a document (a compact response), read as it is parsed
    head = source.head()
    start = len(head) - len(head.lstrip(JSON_SPACE + "\ufeff"))
    end_of_first = head.find("\n", start)
    try:
        json.JSONDecoder().raw_decode(head, start)
        return "document"
    except json.JSONDecodeError as exc:
        if end_of_first == -1:
            return "jsonl"
        rest = head[end_of_first:]
        next_token = end_of_first + len(rest) - len(rest.lstrip(JSON_SPACE))
        return "document" if exc.pos > next_token else "jsonl"
    except (ValueError, RecursionError):
        return "jsonl"


#: A line longer than this (characters) is not read whole to tell the layout: a compact
#: response saved on one line can be gigabytes; it is read as a document, as it is parsed.
LONG_LINE = 1 << 20
LONG_LINE_MARK = "<a long line>"


def _leading_lines(source: Source) -> Iterator[str | None]:
    """The lines of the dump from its start, each read only up to :data:`LONG_LINE`
    characters: None stands for a longer line (skipped, not held)."""
    for _, line in source.lines(LONG_LINE):
        yield None if isinstance(line, CutLine) else line


def _parses(line: str, kind: type = object) -> bool:
    try:
        return isinstance(json.loads(line), kind)
    except (ValueError, RecursionError):
        return False


#: How near the buffer's end a JSON syntax error must be to be blamed on the cut: the
#: longest token a block can end inside (``\uXXXX``, ``false``) and then some.
_CUT_MARGIN = 16


class JsonReader:
    """JSON values read one after another from a text stream (or a string), never the whole
    stream at once: the text not read yet is held in a buffer of about :attr:`BLOCK`
    characters, more only while one value is longer.  Keeps the line and column of the
    read position, for error messages.
    """

    BLOCK = 1 << 20
    #: A value still incomplete with this much text after its start is malformed, not cut
    #: by the buffer: reading stops there instead of holding the rest of the dump.
    MAX_VALUE = MAX_LINE_CHARS

    def __init__(self, source: str | TextIO, start: int = 0) -> None:
        self._stream = None if isinstance(source, str) else source
        self.buf = source if isinstance(source, str) else ""
        self.pos = 0
        self._line, self._column, self._mark = 1, 1, 0  # line and column of buf[_mark]
        self.eof = self._stream is None
        self._decoder = json.JSONDecoder()
        if start:
            self.pos = start

    def _more(self) -> bool:
        """Read another block (dropping what was read before); False at the end."""
        if self.eof:
            return False
        block = self._stream.read(self.BLOCK)
        if not block:
            self.eof = True
            return False
        self._advance(self.pos)
        self.buf = self.buf[self.pos :] + block
        self._mark -= self.pos
        self.pos = 0
        return True

    def _advance(self, pos: int) -> None:
        """Move the line/column mark to ``pos``."""
        newlines = self.buf.count("\n", self._mark, pos)
        if newlines:
            self._line += newlines
            self._column = pos - self.buf.rfind("\n", self._mark, pos)
        else:
            self._column += pos - self._mark
        self._mark = pos

    def line_at(self, pos: int | None = None) -> int:
        self._advance(self.pos if pos is None else pos)
        return self._line

    def ensure(self, size: int) -> str:
        """The next ``size`` characters (fewer at the end), read in if need be."""
        while len(self.buf) - self.pos < size and self._more():
            pass
        return self.buf[self.pos : self.pos + size]

    def skip_space(self) -> str:
        """Skip JSON white space; the next character ("" at the end)."""
        while True:
            self.pos = _SPACE_RUN.match(self.buf, self.pos).end()
            if self.pos < len(self.buf) or not self._more():
                return self.buf[self.pos : self.pos + 1]

    def take(self, char: str) -> bool:
        """Consume ``char`` if it comes next (after white space)."""
        if self.skip_space() == char:
            self.pos += 1
            return True
        return False

    def value(self) -> tuple[object, str]:
        """Parse the value at the read position (after white space): (value, its text).
        Raises ValueError (a ``json.JSONDecodeError`` located in the whole stream) or
        RecursionError."""
        self.skip_space()
        while True:
            try:
                value, end = self._decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self._maybe_cut(exc):
                    if self._more_for_value():
                        continue
                    if len(self.buf) - self.pos >= self.MAX_VALUE:
                        raise _ValueTooLong(f"a JSON value still open after {self.MAX_VALUE:,} characters; postcred "
                                            "reads at most that much of one record (a quote left open?)") from None
                line, column = self.locate(exc.pos)
                raise json.JSONDecodeError(exc.msg, exc.doc, exc.pos) from _Located(line, column, exc.pos >= len(self.buf.rstrip()))
            if end == len(self.buf) and not isinstance(value, (dict, list, str)) and self._more_for_value():
                continue  # a number or literal at the end of the buffer may go on in the next block
            raw = self.buf[self.pos : end]
            self.pos = end
            return value, raw

    def _maybe_cut(self, exc: json.JSONDecodeError) -> bool:
        """Whether the error may come from the buffer's end cutting the value short, so that
        reading on may mend it: it sits at the end (an escape, a number, a name cut short),
        or a string runs on to the end.  Any other error stays wherever the block ends."""
        return exc.pos >= len(self.buf) - _CUT_MARGIN or exc.msg.startswith("Unterminated string")

    def _more_for_value(self) -> bool:
        return len(self.buf) - self.pos < self.MAX_VALUE and self._more()

    def locate(self, pos: int) -> tuple[int, int]:
        """The line and column of ``pos`` in the whole stream."""
        self._advance(pos)
        return self._line, self._column

    def rest(self) -> str:
        """The text not read yet, for a reject: everything from a break on.

        At most :data:`~classifier.limits.MAX_RECORD_CHARS` characters of it are kept; the
        rest is read block by block and only counted (a break near the start of a
        gigabyte of JSON would otherwise hold the gigabyte), and the text ends saying how
        many characters, up to which line, were not kept.
        """
        kept = self.buf[self.pos : self.pos + MAX_RECORD_CHARS]
        dropped = len(self.buf) - self.pos - len(kept)
        last = self._line + self.buf.count("\n", self._mark)  # the line of the buffer's end
        self.buf, self.pos, self._mark = "", 0, 0
        while self._stream is not None and not self.eof:
            block = self._stream.read(self.BLOCK)
            if not block:
                break
            last += block.count("\n")
            if len(kept) < MAX_RECORD_CHARS:
                room = MAX_RECORD_CHARS - len(kept)
                kept += block[:room]
                block = block[room:]
            dropped += len(block)
        self.eof = True
        return with_rest_counted(kept, dropped, to_line=last)


class _ValueTooLong(ValueError):
    """A JSON value that would have to be held past :attr:`JsonReader.MAX_VALUE` characters."""


class _Located(Exception):
    """Where a JSON error is in the whole stream (attached as the error's cause)."""

    def __init__(self, line: int, column: int, cut: bool) -> None:
        super().__init__(line, column, cut)
        self.line, self.column, self.cut = line, column, cut


_SPACE_RUN = re.compile(r"[ \t\r\n]*")


def iter_json_array(source: str | TextIO | JsonReader, start: int = 0) -> Iterator[tuple[int, object, str, str | None]]:
    """Elements of the JSON array that starts at ``source[start:]`` (a string, a text
    stream or a :class:`JsonReader`), parsed one at a time as they are read.

    Yields ``(line, value, raw, error)``: ``line`` is where the element starts, ``raw``
    its source text.  On a syntax error (a truncated file) the rest of the text is yielded
    once with ``error`` set and iteration stops, so nothing after a break is lost silently.
    """
    reader = source if isinstance(source, JsonReader) else JsonReader(source, start)
    if reader.skip_space() != "[":
        yield reader.line_at(), None, reader.rest(), "expected a JSON array"
        return
    reader.pos += 1
    if not reader.take("]"):
        while True:
            reader.skip_space()
            line = reader.line_at()
            try:
                value, raw = reader.value()
            except (ValueError, RecursionError) as exc:
                yield line, None, reader.rest(), _json_reason(exc, with_line=True)
                return
            yield line, value, raw, None
            if reader.take(","):
                continue
            if reader.take("]"):
                break
            yield reader.line_at(), None, reader.rest(), "expected ',' or ']' after an array element (a truncated file?)"
            return
    reader.take(";")
    if reader.skip_space():
        yield reader.line_at(), None, reader.rest(), "unexpected text after the JSON array"


def _json_records(source: Source, expand: Expand, convert: Convert,
                  *, documents: tuple[str, ...] = ("array",)) -> Iterator[Post | Reject]:
    """Posts of a JSON dump, JSONL or one document, through ``expand`` and ``convert``.

    ``expand(value)`` returns the posts of one JSON value (each with a context, such as
    the page's users) and whether it is a page; ``convert`` builds a post or raises
    :class:`RecordError`.  In JSONL a post's segment line is its physical line, unless the
    file holds pages (then record numbers, as in documents).  A document is read as it is
    parsed, one array element (or one post of a response's ``data``) at a time.
    """
    if _layout(source) == "jsonl":
        source.detail = "JSON lines"
        yield from _jsonl_records(source, expand, convert)
        return
    source.detail = "one JSON document"
    with source.open_text() as text:
        reader = JsonReader(text)
        if reader.skip_space() != "[" and "object" in documents:
            yield from _object_records(source, reader, expand, convert)
            return
        record = 0
        for line, value, raw, error in iter_json_array(reader):
            if error:
                record += 1
                yield Reject(record, line, error, raw)
                continue
            try:
                items, _ = expand(value)
            except RecordError as exc:
                record += 1
                yield Reject(record, line, str(exc), raw)
                continue
            for item, context in items:
                record += 1
                yield _convert(convert, item, context, record, record, line, raw if len(items) == 1 else None)


def _object_records(source: Source, reader: JsonReader, expand: Expand, convert: Convert) -> Iterator[Post | Reject]:
    """Posts of a document that is one JSON value, such as an X API response
    (``{"data": [...], "includes": {...}, "meta": {...}}``): a value that does not parse or
    holds no posts stops the run.  The posts of a ``data`` list are read in a second pass,
    one at a time, once the first has checked the whole document and kept the rest of it
    (the users of ``includes``), so a response of any size is never held in memory."""
    try:
        members, data_list = _document_members(reader)
        value = dict(members, data=[_PROBE]) if data_list else members
        items, _ = expand(value)
    except json.JSONDecodeError as exc:
        located = exc.__cause__ if isinstance(exc.__cause__, _Located) else None
        raise InputError(source.label, _json_reason(exc), line=located.line if located else exc.lineno) from None
    except RecordError as exc:
        raise InputError(source.label, str(exc)) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(source.label, _json_reason(exc)) from None
    if data_list:
        context = items[0][1]  # every post of the response has the same context (its users)
        items = ((post, context) for post in _document_posts(source))
    for record, (item, context) in enumerate(items, start=1):
        yield _convert(convert, item, context, record, record, None, None)


#: Stands for the posts of a document's ``data`` list while the rest of it is expanded.
_PROBE = object()


def _document_members(reader: JsonReader) -> tuple[object, bool]:
    """The document's value, checked to its end, with a ``data`` list of an object left out
    (its posts parsed one at a time and dropped): (value, whether such a list was left out)."""
    if reader.skip_space() != "{":
        value, _ = reader.value()
        _expect_end(reader)
        return value, False
    reader.pos += 1
    members: dict = {}
    data_list = False
    if not reader.take("}"):
        while True:
            reader.skip_space()
            key, _ = reader.value()
            if not isinstance(key, str):
                raise _syntax_error(reader, "Expecting property name enclosed in double quotes")
            if not reader.take(":"):
                raise _syntax_error(reader, "Expecting ':' delimiter")
            if key == "data" and reader.skip_space() == "[":
                for _ in _elements(reader):
                    pass
                members.pop("data", None)
                data_list = True
            else:
                members[key], _ = reader.value()
                data_list = data_list and key != "data"
            if reader.take(","):
                continue
            if reader.take("}"):
                break
            raise _syntax_error(reader, "Expecting ',' delimiter")
    _expect_end(reader)
    return members, data_list


def _document_posts(source: Source) -> Iterator[object]:
    """The posts of the document's ``data`` list, read again one at a time (the first pass
    checked the document)."""
    with source.open_text() as text:
        reader = JsonReader(text)
        reader.take("{")
        while True:
            reader.skip_space()
            key, _ = reader.value()
            reader.take(":")
            if key == "data" and reader.skip_space() == "[":
                yield from _elements(reader)
                return
            reader.value()
            reader.take(",")


def _elements(reader: JsonReader) -> Iterator[object]:
    """The elements of the array at the read position, one at a time; a syntax error raises."""
    reader.pos += 1  # the "["
    if reader.take("]"):
        return
    while True:
        reader.skip_space()
        value, _ = reader.value()
        yield value
        if reader.take(","):
            continue
        if reader.take("]"):
            return
        raise _syntax_error(reader, "Expecting ',' delimiter")


def _expect_end(reader: JsonReader) -> None:
    if reader.skip_space():
        raise _syntax_error(reader, "Extra data")


def _syntax_error(reader: JsonReader, message: str) -> json.JSONDecodeError:
    """A JSON syntax error at the read position, located in the whole stream."""
    error = json.JSONDecodeError(message, reader.buf, reader.pos)
    line, column = reader.locate(reader.pos)
    error.__cause__ = _Located(line, column, reader.pos >= len(reader.buf.rstrip()))
    return error


def _jsonl_records(source: Source, expand: Expand, convert: Convert) -> Iterator[Post | Reject]:
    record = 0
    pages: bool | None = None
    for line, raw in source.lines(MAX_LINE_CHARS):
        if not raw.strip():
            continue
        if isinstance(raw, CutLine):
            record += 1
            yield Reject(record, line, _line_too_long(raw), raw.kept(MAX_RECORD_CHARS))
            continue
        try:
            value = json.loads(raw)
            items, is_page = expand(value)
        except (ValueError, RecursionError) as exc:
            record += 1
            reason = str(exc) if isinstance(exc, RecordError) else _json_reason(exc)
            yield Reject(record, line, reason, raw)
            continue
        if pages is None:
            pages = is_page
        if not pages and len(items) > 1:
            record += 1
            yield Reject(record, line, f"holds {len(items)} posts, but this file has one post per line "
                                       "(as on its first line), so they cannot have a line each", raw)
            continue
        for item, context in items:
            record += 1
            yield _convert(convert, item, context, record, record if pages else line, line,
                           raw if len(items) == 1 else None)


def _convert(convert: Convert, item: object, context: object, record: int, at: int, line: int | None,
             raw: str | None) -> Post | Reject:
    try:
        post = convert(item, context, record, at)
        post.line = line
        return post
    except RecordError as exc:
        return Reject(record, line, str(exc), raw if raw is not None else json.dumps(item, ensure_ascii=False))


# ---------------------------------------------------------------- X API v2


def read_x_api(source: Source) -> Iterator[Post | Reject]:
    """X API v2: a response (``data``, ``includes.users``), a list of them, JSONL of pages
    (as twarc2 writes), JSONL of streamed ``{"data": {...}}`` envelopes, or flattened posts.

    The text is ``note_tweet.text`` (long posts) when present, else ``text``; the author is
    ``author_id`` looked up in ``includes.users`` (or an inline ``author`` object); a
    ``referenced_tweets`` entry marks a retweet, quote or reply.
    """
    yield from _json_records(source, _x_api_items, lambda item, users, record, at: _x_api_post(item, users, record, at, source.name),
                             documents=("array", "object"))


def _x_api_items(value: object) -> tuple[list, bool]:
    if isinstance(value, list):  # a list of responses or of posts, inside a document
        items = []
        for element in value:
            items.extend(_x_api_items(element)[0])
        return items, True
    if not isinstance(value, dict):
        raise RecordError("expected a JSON object (an X API v2 post or response)")
    if "data" in value:
        users = _users(value.get("includes"))
        data = value["data"]
        if isinstance(data, list):
            return [(post, users) for post in data], True
        if isinstance(data, dict):
            return [(data, users)], False
        if data is None:
            return [], False
        raise RecordError("'data' is neither a post nor a list of posts")
    if "text" in value or "note_tweet" in value:
        return [(value, {})], False
    if "meta" in value or "errors" in value:
        return [], False  # a page with no posts (no results, or only API errors)
    raise RecordError("not an X API v2 post or response (no 'text' and no 'data'); check --input-format")


def _users(includes: object) -> dict[str, dict]:
    users = includes.get("users") if isinstance(includes, dict) else None
    return {str(u["id"]): u for u in users or () if isinstance(u, dict) and "id" in u} if isinstance(users, list) else {}


def _x_api_post(post: object, users: dict, record: int, at: int, dump: str) -> Post:
    if not isinstance(post, dict):
        raise RecordError("a post must be a JSON object")
    note = post.get("note_tweet")
    if isinstance(note, dict) and isinstance(note.get("text"), str) and note["text"].strip():
        text = _string(note["text"], "note_tweet.text")
    else:
        text = _post_text(post.get("text"), "text")
    author_id = _string(post.get("author_id"), "author_id")
    user = users.get(author_id) or (post["author"] if isinstance(post.get("author"), dict) else {})
    handle = _string(user.get("username"), "username")
    account = _string(user.get("name"), "name") or (author_id if not handle else "")
    refs = post.get("referenced_tweets") if isinstance(post.get("referenced_tweets"), list) else []
    kinds = {ref.get("type") for ref in refs if isinstance(ref, dict) and isinstance(ref.get("type"), str)}
    kind = next((k for t, k in (("retweeted", "retweet"), ("quoted", "quote"), ("replied_to", "reply")) if t in kinds), "post")
    return _make_post(record, at, post.get("id"), account, handle, _date(post.get("created_at"), "created_at"),
                      _unescape(text), kind, dump)


# ---------------------------------------------------------------- snscrape


def read_snscrape(source: Source) -> Iterator[Post | Reject]:
    """snscrape's JSONL (``snscrape --jsonl twitter-search ...``), or a JSON array of its posts.

    Text is ``rawContent`` (snscrape 0.5+) or ``content`` (older); the author is
    ``user.username`` (else taken from ``url``); ``retweetedTweet``, ``quotedTweet`` and
    ``inReplyToTweetId`` mark retweets, quotes and replies.
    """
    yield from _json_records(source, lambda value: ([(value, None)], False),
                             lambda item, _, record, at: _snscrape_post(item, record, at, source.name))


def _snscrape_post(post: object, record: int, at: int, dump: str) -> Post:
    if not isinstance(post, dict):
        raise RecordError("expected a JSON object (an snscrape post)")
    name = "rawContent" if post.get("rawContent") is not None else "content"
    if post.get(name) is None:
        raise RecordError("no 'rawContent' or 'content' field: not an snscrape post")
    text = _unescape(_post_text(post.get(name), name))  # snscrape keeps the API's &amp; &lt; &gt;
    user = post.get("user") if isinstance(post.get("user"), dict) else {}
    url = _string(post.get("url"), "url")
    from_url = STATUS_URL_RE.search(url)
    handle = _string(user.get("username"), "user.username") or (from_url.group(1) if from_url else "")
    account = _string(user.get("displayname"), "user.displayname")
    kind = ("retweet" if post.get("retweetedTweet") else "quote" if post.get("quotedTweet")
            else "reply" if post.get("inReplyToTweetId") else "post")
    post_id = post.get("id") or (from_url.group(2) if from_url else url)
    return _make_post(record, at, post_id, account, handle, _date(post.get("date"), "date"), text, kind, dump)


# ---------------------------------------------------------------- X/Twitter archive


def read_tweets_js(source: Source, open_text: OpenText) -> Iterator[Post | Reject]:
    """An X/Twitter archive's ``data/tweets.js`` (``window.YTD.tweets.part0 = [...]``), its
    parts (``tweets-part1.js``...), or the archive's zip (whose members ``open_text`` reads).

    The account comes from ``account.js`` (inside the zip, or beside ``tweets.js``).
    Retweets are posts whose text starts ``RT @``; replies have ``in_reply_to_status_id``;
    a quote links to another post's status URL.  Each file is read as it is parsed.
    """
    if source.is_zip:
        yield from _archive_records(source, open_text)
        return
    beside = source.path.with_name("account.js") if source.path else None
    found = beside is not None and beside.is_file()
    account = _account(beside.read_text(encoding="utf-8", errors="replace")) if found else {}
    _say_account(source, str(beside) if found else None)
    with source.open_text() as text:
        yield from _tweets_js_records(JsonReader(text), None, source.name, account, [0])


def _say_account(source: Source, account_file: str | None) -> None:
    """Name the account file in the line that says how the dump is read, or warn there is none."""
    if account_file:
        source.detail += f"{'; ' if source.detail else ''}account from {account_file}"
    else:
        logger.warning("%s: no account.js %s, so the posts' @handle and display name stay empty "
                       "(score the archive's zip, or put its data/account.js beside tweets.js)",
                       source.label, "in the archive" if source.is_zip else "beside it")


def _tweets_js_records(reader: JsonReader, member: str | None, dump: str, account: dict,
                       counter: list[int]) -> Iterator[Post | Reject]:
    """The posts of one ``tweets.js`` file (``counter`` numbers records across the files)."""
    reader.skip_space()
    prefix = YTD_PREFIX_RE.match(reader.ensure(256))
    if prefix:
        reader.pos += prefix.end()
    for line, value, raw, error in iter_json_array(reader):
        counter[0] += 1
        record = counter[0]
        if error:
            yield Reject(record, line, error, raw, member)
            continue
        try:
            yield _archive_post(value, record, dump, account)
        except RecordError as exc:
            yield Reject(record, line, str(exc), raw, member)


def _archive_records(source: Source, open_text: OpenText) -> Iterator[Post | Reject]:
    """The posts of an archive's zip: its ``tweets.js`` parts in order, each member read as
    it is parsed and never past the archive's byte budget (whatever its header declares);
    a damaged archive stops the run."""
    try:
        with zipfile.ZipFile(source.handle) as archive:
            members = [i for i in archive.infolist() if ARCHIVE_TWEETS_RE.search(i.filename)]
            if not members:
                raise InputError(source.label, "zip archive without a tweets.js (an X/Twitter archive has data/tweets.js)")
            members.sort(key=lambda i: int(ARCHIVE_TWEETS_RE.search(i.filename).group(1) or 0))
            accounts = [i for i in archive.infolist() if ARCHIVE_ACCOUNT_RE.search(i.filename)]
            _check_members(members + accounts, source.label)
            source.detail = ", ".join(i.filename for i in members)
            budget = [MAX_ARCHIVE_BYTES]
            account = {}
            if accounts:
                with _member_text(archive, accounts[0], source, budget, open_text) as text:
                    account = _account(text.read())
            _say_account(source, accounts[0].filename if accounts else None)
            counter = [0]
            for info in members:
                label = f"{source.label}:{info.filename}"
                with _member_text(archive, info, source, budget, open_text) as text:
                    yield from _tweets_js_records(JsonReader(text), label, source.name, account, counter)
    except InputError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, NotImplementedError, RuntimeError,
            EOFError, OSError, KeyError, ValueError) as exc:  # what a damaged or encrypted archive raises
        raise InputError(source.label, f"corrupt or unreadable zip archive ({type(exc).__name__}: {exc})") from None


def _check_members(members: list[zipfile.ZipInfo], label: str) -> None:
    """Refuse, before unpacking anything, an archive whose members postcred reads have one
    name twice (zip tools disagree on which one counts) or declare more than the limits."""
    names = [i.filename for i in members]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise InputError(label, f"zip archive holds {names.count(twice[0])} members named {twice[0]}; "
                                "unzip tools disagree on which one is the archive's, so postcred reads neither")
    total = sum(i.file_size for i in members)
    if total > MAX_ARCHIVE_BYTES:
        raise InputError(label, f"zip archive: its tweets.js files unpack to {total:,} bytes, more than postcred "
                                f"unpacks ({size_text(MAX_ARCHIVE_BYTES)}); unzip it and score data/tweets.js")
    for i in members:
        if i.file_size > RATIO_FLOOR and i.file_size > MAX_COMPRESSION_RATIO * max(i.compress_size, 1):
            raise InputError(label, f"zip archive: {i.filename} unpacks {i.file_size // max(i.compress_size, 1):,} "
                                    f"times its size (more than {MAX_COMPRESSION_RATIO}: a zip bomb?)")


@contextlib.contextmanager
def _member_text(archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: Source, budget: list[int],
                 open_text: OpenText) -> Iterator[TextIO]:
    """A member as decoded text, read as it is used and counted against what is left of
    the archive's byte budget."""
    label = f"{source.label}:{info.filename}"
    with archive.open(info) as member:
        counted = io.BufferedReader(_Budgeted(member, budget, source.label))
        with open_text(counted, label, errors=source.errors) as text:
            yield text


class _Budgeted(io.RawIOBase):
    """An archive member's bytes, each unpacked byte counted once against the archive's
    budget (its encoding is checked in a first pass and the text read in a second)."""

    def __init__(self, member: BinaryIO, budget: list[int], label: str) -> None:
        self._member = member
        self._budget = budget
        self._label = label
        self._counted = 0  # how far into the member the budget has paid for

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._member.seek(offset, whence)

    def tell(self) -> int:
        return self._member.tell()

    def readinto(self, buffer) -> int:
        data = self._member.read(len(buffer))
        buffer[: len(data)] = data
        reached = self._member.tell()
        if reached > self._counted:
            self._budget[0] -= reached - self._counted
            self._counted = reached
            if self._budget[0] < 0:
                raise InputError(self._label, f"zip archive unpacks to more than postcred unpacks "
                                              f"({size_text(MAX_ARCHIVE_BYTES)}); unzip it and score data/tweets.js")
        return len(data)


def _account(text: str) -> dict:
    """``{"username", "accountDisplayName"}`` from an archive's ``account.js`` ({} if unreadable)."""
    prefix = YTD_PREFIX_RE.match(text)
    for _, value, _, error in iter_json_array(text, prefix.end() if prefix else 0):
        if not error and isinstance(value, dict) and isinstance(value.get("account"), dict):
            return value["account"]
    return {}


def _archive_post(value: object, record: int, dump: str, account: dict) -> Post:
    post = value.get("tweet", value) if isinstance(value, dict) else None
    if not isinstance(post, dict):
        raise RecordError("expected a JSON object (an archive post, {\"tweet\": {...}})")
    name = "full_text" if post.get("full_text") is not None else "text"
    if post.get(name) is None:
        raise RecordError("no 'full_text' field: not an archive post")
    text = _unescape(_post_text(post.get(name), name))
    user = post.get("user") if isinstance(post.get("user"), dict) else {}
    handle = _string(user.get("screen_name") or account.get("username"), "username")
    display = _string(user.get("name") or account.get("accountDisplayName"), "accountDisplayName")
    urls = (post.get("entities") or {}).get("urls") if isinstance(post.get("entities"), dict) else None
    links = [u.get("expanded_url") or "" for u in urls or () if isinstance(u, dict)] if isinstance(urls, list) else []
    if text.startswith("RT @"):
        kind = "retweet"
    elif post.get("is_quote_status") or post.get("quoted_status_id_str") or any(STATUS_URL_RE.search(str(u)) for u in links):
        kind = "quote"
    elif post.get("in_reply_to_status_id_str") or post.get("in_reply_to_status_id"):
        kind = "reply"
    else:
        kind = "post"
    post_id = post.get("id_str") or post.get("id")
    return _make_post(record, record, post_id, display, handle, _date(post.get("created_at"), "created_at"),
                      text, kind, dump)


# ---------------------------------------------------------------- CSV / TSV


def read_delimited(source: Source, delimiter: str) -> Iterator[Post | Reject]:
    """CSV (``delimiter=","``) or TSV (``"\\t"``) with a header row.

    The text column is ``--text-col`` or the first header of ``columns.tsv``'s text names;
    id, author and date columns are optional (given, or found by the names of
    ``columns.tsv``); a twarc-csv file's kinds come from its ``referenced_tweets.*``
    columns, and its text is unescaped as the X API reader unescapes it.  A
    record's segment line is the physical line where its row starts (a quoted cell may
    span lines).  A row with the wrong number of cells, an empty text or a bad date is a
    malformed record; so is a quote left open to the end of the file.
    """
    consumed: list[str] = []
    cut: list[CutLine] = []  # a line too long to keep, in the row being read

    def feed() -> Iterator[str]:
        for _, line in source.lines(MAX_LINE_CHARS):
            consumed.append(line)
            if isinstance(line, CutLine):
                cut.append(line)
            yield line + "\n"

    reader = csv.reader(feed(), delimiter=delimiter, strict=True)
    rows = iter(reader)
    last_line, record = 0, 0
    columns: _Columns | None = None
    while True:
        try:
            row = next(rows)
            error = None
        except StopIteration:
            break
        except csv.Error as exc:
            row, error = None, _csv_reason(str(exc))
        first, last_line = last_line + 1, reader.line_num
        raw = "\n".join(consumed)
        consumed.clear()
        if row == [] and error is None:
            continue  # a blank line is no record
        if cut:  # whatever the parser made of a line's first characters, its row is refused
            error = _line_too_long(cut[0])
            whole = len(raw) + sum(line.length - len(line) for line in cut)
            raw = raw[:MAX_RECORD_CHARS]
            raw = with_rest_counted(raw, whole - len(raw))
            cut.clear()
        if columns is None:
            if error:
                raise InputError(source.label, f"cannot read the header row: {error}", line=first)
            columns = _Columns.resolve(row, source, first)
            continue
        record += 1
        if error:
            yield Reject(record, first, error, raw)
            continue
        try:
            yield columns.post(row, record, first, last_line, source.name)
        except RecordError as exc:
            yield Reject(record, first, str(exc), raw)


def _line_too_long(line: CutLine) -> str:
    return (f"a line of {line.length:,} characters; postcred reads lines of at most {MAX_LINE_CHARS:,} "
            "in this format (a file without line breaks, or not this format?)")


def _csv_reason(message: str) -> str:
    if "unexpected end of data" in message:
        return "a quoted cell is never closed (it runs to the end of the file)"
    if "field larger than field limit" in message:
        return f"a cell is longer than {csv.field_size_limit()} characters (an unclosed quote?)"
    return f"not valid CSV ({message})"


class _Columns:
    """Which cells of a row hold the text, id, author, display name, date and (twarc-csv)
    the referenced posts that set the kind."""

    ROLES = ("text", "id", "author", "date", "name", "url")

    def __init__(self, header: list[str], found: dict[str, int | None], twarc: bool) -> None:
        self.header = header
        self.found = found
        self.text = found["text"]
        self.ident, self.author, self.name, self.date = found["id"], found["author"], found["name"], found["date"]
        self.twarc = twarc
        keys = [header_key(h) for h in header]
        self.kinds = [(keys.index(name), kind) for name, kind in TWARC_KINDS if name in keys] if twarc else []

    @classmethod
    def resolve(cls, header: list[str], source: Source, line: int) -> "_Columns":
        header = [h.strip().lstrip("\ufeff") for h in header]
        keys = [header_key(h) for h in header]
        options = source.options
        given = {"text": options.text_col, "id": options.id_col, "author": options.author_col,
                 "date": options.date_col, "name": None, "url": None}
        found: dict[str, int | None] = {}
        for role in cls.ROLES:
            name = given[role]
            if name is not None:
                where = [k for k, h in enumerate(header) if h == name] or [k for k, key in enumerate(keys)
                                                                           if key == header_key(name)]
                if not where:
                    raise InputError(source.label, f"no column {name!r} for --{role}-col; the header has: "
                                                   f"{_listing(header)}", line=line)
                found[role] = where[0]
                continue
            taken = {k for k in found.values() if k is not None}
            found[role] = next((keys.index(c) for c in header_names()[role] if c in keys and keys.index(c) not in taken),
                               None)
        if found["text"] is None:
            raise InputError(source.label, f"no text column; the header has: {_listing(header)}; "
                                           "name the text column with --text-col", line=line)
        columns = cls(header, found, twarc=bool(TWARC_CSV_HEADERS & set(keys)))
        source.detail = columns.describe()
        return columns

    def describe(self) -> str:
        """``text=本文, id=ID, author=ユーザー名, date=投稿日時``: the columns chosen, for the
        line that says how a dump is read (a role without a column says ``(none)``)."""
        shown = [f"{role}={self.header[k] if k is not None else '(none)'}" for role, k in self.found.items()
                 if k is not None or role not in ("name", "url")]
        if self.found["url"] is not None and (self.author is None or self.ident is None):
            shown[-1] += " (for the " + " and ".join(
                what for what, k in (("@handle", self.author), ("id", self.ident)) if k is None) + ")"
        if self.twarc:
            shown.append("twarc-csv (kinds from referenced_tweets.*, text unescaped)")
        return ", ".join(shown)

    def post(self, row: list[str], record: int, line: int, line_end: int, dump: str) -> Post:
        if len(row) < len(self.header) or any(cell.strip() for cell in row[len(self.header):]):
            raise RecordError(f"has {len(row)} cells, the header has {len(self.header)} "
                              "(an unquoted delimiter or a broken quote?)")
        text = row[self.text]
        if not text.strip():
            raise RecordError(f"empty text in column {self.header[self.text]!r}")
        cell = lambda index: row[index].strip() if index is not None else ""  # noqa: E731
        date = _date(cell(self.date), f"date in column {self.header[self.date]!r}") if self.date is not None else ""
        kind = next((kind for k, kind in self.kinds if row[k].strip()), "post")
        if self.twarc:
            text = _unescape(text.replace("\\n", "\n"))
        link = STATUS_URL_RE.search(cell(self.found["url"]))
        return Post(
            record=record,
            post_id=cell(self.ident) or (link.group(2) if link else "") or f"{dump}:post{record}",
            account=cell(self.name),
            handle=cell(self.author).lstrip("@") or (link.group(1) if link else ""),
            date=date,
            parts=[Part(line, line_end, "post", text)],
            kind=kind,
        )


def _listing(header: list[str]) -> str:
    shown = ", ".join(repr(h) for h in header[:12])
    return shown + (f" and {len(header) - 12} more" if len(header) > 12 else "")

