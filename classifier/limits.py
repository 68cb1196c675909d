"""Limits on what postcred takes in: the longest segment MeCab survives, and how much an
archive may unpack to and standard input (or a pipe) may bring.

Segments
--------
MeCab (through fugashi) dies with a segmentation fault, taking the whole process with it
and past any error handling, on one very long text.  Measured with fugashi 1.5 and
unidic-lite 1.0.8 on one ``tagger.parse`` call: 193,750 ASCII letters crash it
(192,968 do not), split into runs or not (``("a" * 100_000 + "政") * 2`` crashes too);
203,906 digits, 301,562 kanji, 1.5 million characters of ordinary Japanese sentences and
a 1 MB base64 ``data:`` URL crash it as well.

A segment is therefore refused when its text, NFKC-normalized as the tokenizer sees it
(normalization can make one character into up to 18), is longer than
:data:`MAX_SEGMENT_CHARS`: about a quarter of the smallest crash measured, and twice the
longest post X allows (25,000 characters).  Every way text reaches MeCab applies this
check: dumps (a bad record), labels and corrections files (an error naming the line), and
the tokenizer itself (a ``ValueError``, for texts given straight to the library).
"""

from __future__ import annotations

import unicodedata

MAX_SEGMENT_CHARS = 50_000
#: NFKC turns one character into at most 18 (U+FDFA); shorter texts need no normalizing.
_MAX_NFKC_GROWTH = 18


def segment_too_long(text: str) -> str | None:
    """Why ``text`` is too long to tokenize, in one line, or None when it is not."""
    length = len(text)
    if length * _MAX_NFKC_GROWTH > MAX_SEGMENT_CHARS:
        length = max(length, len(unicodedata.normalize("NFKC", text)))
    if length <= MAX_SEGMENT_CHARS:
        return None
    return too_long_reason(length)


def too_long_reason(length: int) -> str:
    """The one line that refuses a text of ``length`` characters (over :data:`MAX_SEGMENT_CHARS`)."""
    return (f"a text of {length:,} characters; postcred tokenizes at most {MAX_SEGMENT_CHARS:,} per segment "
            "(a longer one crashes MeCab): a data: URL, an encoded blob or a broken quote?")


#: A reader stops keeping the text of a record that has grown past this many characters
#: (it is refused: see :func:`segment_too_long`) and only counts the rest, so that a dump
#: whose one paragraph runs for a gigabyte costs no more memory than a small one; the
#: rejects file gets the first this many characters of it.
MAX_RECORD_CHARS = 4 * MAX_SEGMENT_CHARS


def with_rest_counted(kept: str, more: int, *, of_line: bool = False, to_line: int | None = None) -> str:
    """The text a reject keeps of a record too long to hold: its ``kept`` start, then a
    line saying how many ``more`` characters were not kept (``of_line``: of one physical
    line; ``to_line``: running to that line of the dump).  ``kept`` alone when nothing
    was left out."""
    if more <= 0:
        return kept
    what = " of this line" if of_line else ""
    upto = f", to line {to_line:,}" if to_line is not None else ""
    return f"{kept}\n[... {more:,} more characters{what}{upto}, not kept]"


#: A physical line of a JSONL or CSV/TSV dump longer than this many characters is refused
#: without being held whole (its first characters are kept for the rejects file, the rest
#: counted).  An X API page of 500 posts with their expansions, saved with ``\uXXXX``
#: escapes, comes to a few million characters on one line; a CSV cell holds at most
#: :func:`csv.field_size_limit` characters.  Reading up to the limit costs about 6 bytes
#: of memory a character (50 MB here).
MAX_LINE_CHARS = 8 << 20

#: An archive's members that postcred reads (``tweets*.js``, ``account.js``) may unpack to
#: this many bytes in all: they are decoded and parsed in memory.  A bigger archive can be
#: unzipped and its ``data/tweets.js`` scored as a file.
MAX_ARCHIVE_BYTES = 1 << 30
#: Nor may a member of over :data:`RATIO_FLOOR` bytes unpack to more than this many times its
#: compressed size: X archives' JSON compresses about 5 to 10 times; a zip bomb, a thousand.
MAX_COMPRESSION_RATIO = 100
RATIO_FLOOR = 1 << 20
#: Standard input, a pipe or a FIFO is copied to a temporary file (the readers need to seek)
#: up to this many bytes; a file on disk has no such cap, so a bigger dump can be saved to
#: a file and scored from there.
MAX_SPOOL_BYTES = 4 << 30


def size_text(size: int) -> str:
    """``1 GiB``, ``4 GiB``, ``512 MiB``: a byte count as the limits are written."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size:,} bytes"
