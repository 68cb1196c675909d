"""What reading a dump deals in: how to read it, the opened dump, and what comes out.

:class:`ReadOptions` says how to read (format, encoding, what to do with a bad record, the
CSV/TSV columns) and travels as one object from the CLI to every reader.  A
:class:`Source` is an opened dump: a seekable byte handle with its codec, read as lines,
as a whole or by its head.  A reader turns it into :class:`Post` objects (one input
record each, made of :class:`Part` objects, one per segment) and :class:`Reject` objects
(records that could not be read).

These types live here, apart from :mod:`classifier.ingest` (which opens dumps and picks a
reader) and :mod:`classifier.formats` (the JSON and CSV readers), because both use them.
"""

from __future__ import annotations

import io
import re
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator, TextIO

from .limits import with_rest_counted

#: Every ``--input-format`` name, in the order the README documents them.
FORMATS = ("timeline", "x-api", "snscrape", "tweets-js", "csv", "tsv", "plain", "lines", "paragraphs")
ON_ERROR = ("stop", "skip")
DECODE_ERRORS = ("strict", "replace")
LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")
_SNIFF = 1 << 18


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How to read a dump: passed as one object from the CLI through scoring to the readers.

    Parameters
    ----------
    input_format:
        ``"auto"`` (detect from the content) or one of :data:`FORMATS`.
    encoding, errors:
        Force a text encoding (None: a BOM, else UTF-8, EUC-JP or CP932); ``"strict"``
        stops at an undecodable byte, ``"replace"`` replaces it.
    on_error:
        ``"stop"``: a malformed record stops the run; ``"skip"``: it is set aside as a
        :class:`Reject`.
    text_col, id_col, author_col, date_col:
        CSV/TSV header names (the text column is detected when not given).
    """

    input_format: str = "auto"
    encoding: str | None = None
    errors: str = "strict"
    on_error: str = "stop"
    text_col: str | None = None
    id_col: str | None = None
    author_col: str | None = None
    date_col: str | None = None

    def __post_init__(self) -> None:
        if self.on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {self.on_error!r}")
        if self.errors not in DECODE_ERRORS:
            raise ValueError(f"errors must be one of {DECODE_ERRORS}, got {self.errors!r}")

    @property
    def has_columns(self) -> bool:
        return any((self.text_col, self.id_col, self.author_col, self.date_col))


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


class RecordError(ValueError):
    """Raised by a format's record converter: this record is malformed (message = why)."""


class CutLine(str):
    """The first characters of a physical line too long to keep (see :meth:`Source.lines`);
    ``length`` is the whole line's."""

    length: int

    def kept(self, size: int) -> str:
        """Its first ``size`` characters, and a line saying how many more there were: the
        text of a reject."""
        kept = self[:size]
        return with_rest_counted(kept, self.length - len(kept), of_line=True)


def _cut_line(kept: str, length: int) -> CutLine:
    line = CutLine(kept)
    line.length = length
    return line


def _skip_to_line_end(readline, read: str) -> int:
    """Read on to the end of the line begun by ``read`` (its characters past the limit),
    keeping nothing; how many characters of it there were, the break left out."""
    count = len(read)
    while not read.endswith("\n"):
        read = readline(_SKIP_BLOCK)
        if not read:
            return count
        count += len(read)
    return count - 1


_SKIP_BLOCK = 1 << 20


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
    #: How the reader read the dump (a CSV's columns, a JSON layout), for the line that says so.
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

    def lines(self, limit: int | None = None) -> Iterator[tuple[int, str]]:
        """(line number, text) for every physical line, streamed; CRLF and lone CR are breaks.

        A line longer than ``limit`` characters comes as a :class:`CutLine`: its first
        ``limit`` characters, the rest read block by block and only counted, so that one
        giant line (a gigabyte with no line break) costs no more memory than a short one.
        """
        self.handle.seek(self.start)
        wrapper = io.TextIOWrapper(self.handle, encoding=self.codec, errors=self.errors, newline=None)
        try:
            readline = wrapper.readline
            size = -1 if limit is None else limit + 1
            number = 0
            while line := readline(size):
                number += 1
                if line.endswith("\n"):
                    yield number, line[:-1]
                elif len(line) < size or limit is None:
                    yield number, line  # the last line, without a break
                else:
                    yield number, _cut_line(line[:limit], limit + _skip_to_line_end(readline, line[limit:]))
        finally:
            # A reader that stops early (an error) may close this generator after the
            # dump's handle was closed; detaching keeps the wrapper from closing it twice.
            with suppress(ValueError):
                wrapper.detach()

    @contextmanager
    def open_text(self) -> Iterator[TextIO]:
        """The decoded text as a stream, read as it is used; line breaks normalized to ``\\n``."""
        self.handle.seek(self.start)
        wrapper = io.TextIOWrapper(self.handle, encoding=self.codec, errors=self.errors, newline=None)
        try:
            yield wrapper
        finally:
            with suppress(ValueError):
                wrapper.detach()

    def head(self, size: int = _SNIFF) -> str:
        """The first ``size`` bytes decoded (a cut character at the end is replaced)."""
        self.handle.seek(self.start)
        return LINE_BREAK_RE.sub("\n", self.handle.read(size).decode(self.codec, errors="replace"))
