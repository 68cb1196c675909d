"""Nothing lost, nothing invented: property tests over generated dumps of every format, and
random bytes fed to every reader.

For each format a strategy writes a dump of known records, some of them malformed, in one
of the encodings and line breaks the format meets in the wild.  Reading it back with
``on_error="skip"`` must give every record exactly once, in order: each good record as a
post with its text (and line, where the format has lines), each malformed one as a
reject, and records read = scored + rejected.  With ``on_error="stop"`` the first
malformed record must stop the run with an InputError.  These tests use the tokenizer-free
layers (read_posts + iter_segments) so that they stay fast.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifier.errors import InputError
from classifier.ingest import FORMATS, LINE_BREAK_RE, Post, Reject, parse_attribution, read_posts
from classifier.scoring import ScoreSummary, iter_segments

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HIRAGANA = "".join(chr(c) for c in range(0x3041, 0x3094))
KATAKANA = "".join(chr(c) for c in range(0x30A1, 0x30F5))
KANJI = "政府日本国民首相発表会見経済増税反対真実拡散希望東京大阪時自"  # JIS level 1: in CP932 and EUC-JP
ASCII = "abcdefgxyzABCXYZ0123456789 ,.!?:;'-_=+()%$/"
PUNCT = "、。！？「」（）・ー　"
EMOJI = "🔥😡🇯🇵🙏"
LEGACY = ("cp932", "euc-jp")


@dataclass
class Expect:
    """What reading must give for one record: a post with ``text`` (at ``line``), or a reject."""

    bad: bool
    text: str = ""
    line: int | None = None


def texts(encoding: str, extra: str = "", *, min_size: int = 0) -> st.SearchStrategy[str]:
    """Post text: starts with a hiragana (so it is never blank, and a legacy encoding is
    recognised at the first non-ASCII byte), then characters the encoding can hold."""
    alphabet = HIRAGANA + KATAKANA + KANJI + ASCII + PUNCT + extra + ("" if encoding in LEGACY else EMOJI)
    return st.builds(lambda first, rest: first + rest, st.sampled_from(HIRAGANA),
                     st.text(alphabet, min_size=min_size, max_size=30))


handles = st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=15)
text_encodings = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp932", "euc-jp"])
json_encodings = st.sampled_from(["utf-8", "utf-8-sig", "utf-16"])
newlines = st.sampled_from(["\n", "\r\n", "\r"])


def encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding)


def lines_before(text: str) -> int:
    """How many physical line breaks ``text`` holds (CRLF, CR or LF)."""
    return len(LINE_BREAK_RE.findall(text))


def x_escape(text: str) -> str:
    """X escapes &, < and > in post text; the reader undoes exactly that."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------- generated dumps, per format


@st.composite
def plain_dumps(draw, paragraphs: bool):
    encoding, newline = draw(text_encodings), draw(newlines)
    posts = draw(st.lists(st.lists(texts(encoding), min_size=1, max_size=3 if paragraphs else 1), max_size=8))
    lines: list[str] = []
    expect: list[Expect] = []
    for block in posts:
        if paragraphs and lines:
            lines.extend([""] * draw(st.integers(1, 2)))
        expect.append(Expect(False, "\n".join(t.strip() for t in block), len(lines) + 1))
        lines.extend(block)
    text = newline.join(lines) + (newline if lines else "")
    return {"dump.txt": encode(text, encoding)}, expect, {"input_format": "paragraphs" if paragraphs else "lines"}


@st.composite
def timeline_dumps(draw):
    """Posts (text lines, attribution, body lines, a hashtag line), blank-line separated.

    A malformed post is an attribution with no text: one right after another attribution
    (or at the top), as when a post had only an image."""
    encoding, newline = draw(text_encodings), draw(newlines)
    dash = "―" if encoding in LEGACY else draw(st.sampled_from(["—", "―", "-"]))
    lines: list[str] = []
    expect: list[Expect] = []
    after_attribution = True
    for _ in range(draw(st.integers(0, 6))):
        handle = draw(handles)
        attribution = f"{dash} {draw(texts(encoding))} (@{handle}) November {draw(st.integers(1, 30))}, 2024"
        if after_attribution and draw(st.booleans()):
            lines.append(attribution)
            expect.append(Expect(True, line=len(lines)))
            continue
        if lines:
            lines.append("")
        text = draw(st.lists(texts(encoding), min_size=1, max_size=2))
        expect.append(Expect(False, "\n".join(t.strip() for t in text), len(lines) + 1))
        lines.extend(text)
        lines.append(attribution)
        lines.extend(draw(st.lists(texts(encoding), max_size=2)))
        if draw(st.booleans()):
            lines.append("#" + draw(st.text(KANJI, min_size=1, max_size=5)) + " #" + draw(handles))
        after_attribution = lines[-1] == attribution
    text = newline.join(lines) + newline
    return {"dump.txt": encode(text, encoding)}, expect, {}


@st.composite
def delimited_dumps(draw, delimiter: str):
    encoding = draw(text_encodings)
    terminator, quoting = draw(st.sampled_from([("\r\n", csv.QUOTE_MINIMAL), ("\n", csv.QUOTE_MINIMAL),
                                                ("\r", csv.QUOTE_ALL), ("\r\n", csv.QUOTE_ALL)]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=terminator, quoting=quoting)
    writer.writerow(["id", "username", "text", "created_at"])
    expect: list[Expect] = []
    for number in range(1, draw(st.integers(0, 8)) + 1):
        line = lines_before(buffer.getvalue()) + 1
        text = draw(texts(encoding, ',"\t\n'))
        row = [str(number), "@" + draw(handles), text, "2024-11-04 09:12"]
        flaw = draw(st.sampled_from([None, None, None, "extra cell", "empty text", "bad date"]))
        if flaw == "extra cell":
            row.append("余計")
        elif flaw == "empty text":
            row[2] = draw(st.sampled_from(["", " ", "　"]))
        elif flaw == "bad date":
            row[3] = "そのうち"
        writer.writerow(row)
        expect.append(Expect(flaw is not None, text, line))
    name = "dump.csv" if delimiter == "," else "dump.tsv"
    return {name: encode(buffer.getvalue(), encoding)}, expect, {}


def _x_post(draw, number: int, encoding: str) -> tuple[dict, str, str | None]:
    text = draw(texts(encoding, "\n\r\t\"\\&<>{}[]"))
    post = {"id": str(number), "text": x_escape(text), "author_id": str(number % 3), "created_at": "2024-11-04T09:12:00.000Z"}
    flaw = draw(st.sampled_from([None, None, None, "no text", "empty text", "bad date", "not an object"]))
    if flaw == "no text":
        del post["text"]
    elif flaw == "empty text":
        post["text"] = " \n"
    elif flaw == "bad date":
        post["created_at"] = "明日"
    elif flaw == "not an object":
        post = number
    return post, text, flaw


USERS = [{"id": str(i), "username": f"user{i}", "name": f"名前{i}"} for i in range(3)]


@st.composite
def x_api_jsonl_dumps(draw):
    """One post per line: streamed envelopes and flattened posts, blank and broken lines."""
    encoding, newline = draw(json_encodings), draw(st.sampled_from(["\n", "\r\n"]))
    lines: list[str] = []
    expect: list[Expect] = []
    for number in range(1, draw(st.integers(0, 8)) + 1):
        if draw(st.integers(0, 4)) == 0:
            lines.append("")
        post, text, flaw = _x_post(draw, number, encoding)
        line = json.dumps({"data": post, "includes": {"users": USERS}} if draw(st.booleans()) else post,
                          ensure_ascii=draw(st.booleans()))
        if len(line) > 2 and draw(st.integers(0, 5)) == 0:  # (a lone "{" could open a document)
            line, flaw = line[: draw(st.integers(2, len(line) - 1))], "truncated"
        lines.append(line)
        expect.append(Expect(flaw is not None, text, len(lines)))
    # A JSONL file whose first record is not an object cannot be told from plain text.
    first = next((line for line in lines if line), "{")
    options = {} if first.startswith("{") else {"input_format": "x-api"}
    return {"dump.jsonl": encode(newline.join(lines) + newline, encoding)}, expect, options


@st.composite
def x_api_pages_dumps(draw):
    """JSONL of API pages (twarc2): several posts per line, so lines are record numbers."""
    encoding = draw(json_encodings)
    lines: list[str] = []
    expect: list[Expect] = []
    number = 0
    for _ in range(draw(st.integers(0, 4))):
        page = [_x_post(draw, number := number + 1, encoding) for _ in range(draw(st.integers(1, 3)))]
        line = json.dumps({"data": [p for p, _, _ in page], "includes": {"users": USERS}, "meta": {}}, ensure_ascii=False)
        if draw(st.integers(0, 5)) == 0:  # a broken page is one rejected record
            lines.append(line[: len(line) // 2])
            expect.append(Expect(True))
            continue
        lines.append(line)
        expect.extend(Expect(flaw is not None, text) for _, text, flaw in page)
    return {"dump.jsonl": encode("\n".join(lines) + "\n", encoding)}, expect, {}


@st.composite
def x_api_document_dumps(draw):
    """One search response, pretty-printed or compact."""
    encoding = draw(json_encodings)
    page = [_x_post(draw, n, encoding) for n in range(1, draw(st.integers(0, 8)) + 1)]
    document = {"data": [p for p, _, _ in page], "includes": {"users": USERS}, "meta": {"result_count": len(page)}}
    text = json.dumps(document, ensure_ascii=False, indent=draw(st.sampled_from([None, 2])))
    return {"dump.json": encode(text, encoding)}, [Expect(flaw is not None, text) for _, text, flaw in page], {}


@st.composite
def snscrape_dumps(draw):
    encoding = draw(json_encodings)
    lines: list[str] = []
    expect: list[Expect] = []
    for number in range(1, draw(st.integers(0, 8)) + 1):
        text = draw(texts(encoding, "\n\"\\&<>"))
        key = draw(st.sampled_from(["rawContent", "content"]))
        post = {"id": number, "url": f"https://twitter.com/u{number}/status/{number}", key: text,
                "date": "2024-11-04T09:12:00+00:00", "user": {"username": f"u{number}", "displayname": "名"}}
        flaw = draw(st.sampled_from([None, None, None, "no text", "empty text", "truncated"]))
        if flaw == "no text":
            del post[key]
        elif flaw == "empty text":
            post[key] = "\t"
        line = json.dumps(post, ensure_ascii=False)
        if flaw == "truncated":
            line = line[: draw(st.integers(2, len(line) - 1))]
        lines.append(line)
        expect.append(Expect(flaw is not None, text, len(lines)))
    return {"dump.jsonl": encode("\n".join(lines), encoding)}, expect, {}


def _archive_elements(draw, encoding: str) -> tuple[list, list[Expect]]:
    elements, expect = [], []
    for number in range(1, draw(st.integers(0, 6)) + 1):
        text = draw(texts(encoding, "\n\"&<>"))
        element = {"tweet": {"id_str": str(number), "full_text": x_escape(text),
                             "created_at": "Mon Nov 04 09:12:00 +0000 2024"}}
        flaw = draw(st.sampled_from([None, None, None, "no text", "not an object"]))
        if flaw == "no text":
            del element["tweet"]["full_text"]
        elif flaw == "not an object":
            element = [number]
        elements.append(element)
        expect.append(Expect(flaw is not None, text))
    return elements, expect


def _tweets_js(elements: list, part: int, cut: bool = False) -> str:
    """An archive's tweets.js; ``cut``: the file ends inside its last element."""
    head = f"window.YTD.tweets.part{part} = [\n"
    bodies = [json.dumps(e, ensure_ascii=False, indent=2) for e in elements]
    text = head + ",\n".join(bodies) + "\n]\n"
    if cut and bodies:
        start = len(head) + sum(len(b) + 2 for b in bodies[:-1])
        text = text[: start + max(1, len(bodies[-1]) // 2)]
    return text


@st.composite
def tweets_js_dumps(draw):
    elements, expect = _archive_elements(draw, "utf-8")
    if elements and draw(st.integers(0, 3)) == 0:  # the file is cut inside its last element
        expect[-1] = Expect(True)
        return {"tweets.js": _tweets_js(elements, 0, cut=True).encode()}, expect, {}
    return {"tweets.js": _tweets_js(elements, 0).encode()}, expect, {}


@st.composite
def archive_dumps(draw):
    elements, expect = _archive_elements(draw, "utf-8")
    cut = draw(st.integers(0, len(elements)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data/tweets.js", _tweets_js(elements[:cut], 0))
        if cut < len(elements):
            archive.writestr("data/tweets-part1.js", _tweets_js(elements[cut:], 1))
    return {"archive.zip": buffer.getvalue()}, expect, {}


DUMPS = {
    "plain lines": plain_dumps(False),
    "plain paragraphs": plain_dumps(True),
    "timeline": timeline_dumps(),
    "csv": delimited_dumps(","),
    "tsv": delimited_dumps("\t"),
    "x-api jsonl": x_api_jsonl_dumps(),
    "x-api pages": x_api_pages_dumps(),
    "x-api document": x_api_document_dumps(),
    "snscrape": snscrape_dumps(),
    "tweets.js": tweets_js_dumps(),
    "archive zip": archive_dumps(),
}


def read_back(files: dict[str, bytes], options: dict, on_error: str):
    with tempfile.TemporaryDirectory() as folder:
        for name, data in files.items():
            (Path(folder) / name).write_bytes(data)
        path = Path(folder) / next(iter(files))
        items = list(read_posts(path, on_error=on_error, **options))
        summary = ScoreSummary()
        segments = list(iter_segments(iter(items), path.stem, summary))
    return items, segments, summary


@pytest.mark.parametrize("fmt", list(DUMPS))
def test_every_record_is_scored_or_rejected_exactly_once(fmt):
    @SETTINGS
    @given(DUMPS[fmt])
    def check(dump):
        files, expect, options = dump
        items, segments, summary = read_back(files, options, "skip")
        assert [item.record for item in items] == list(range(1, len(expect) + 1))
        assert summary.records_read == len(expect) == summary.records_scored + summary.records_rejected
        assert summary.records_rejected == sum(e.bad for e in expect)
        for item, wanted in zip(items, expect):
            assert isinstance(item, Reject) == wanted.bad, (item, wanted)
            if isinstance(item, Post):
                assert item.parts and item.parts[0].text == wanted.text
                if wanted.line is not None:
                    assert item.parts[0].line == wanted.line
            elif wanted.line is not None:
                assert item.line == wanted.line
        assert {s.record for s in segments} == {i.record for i in items if isinstance(i, Post)}
        assert len({s.id for s in segments}) == len(segments)
        if fmt == "timeline":
            check_timeline_lines(files["dump.txt"], items)
        if any(e.bad for e in expect):
            with pytest.raises(InputError):
                read_back(files, options, "stop")
        else:
            assert [i.record for i in read_back(files, options, "stop")[0]] == [i.record for i in items]

    check()


@pytest.mark.parametrize("fmt", ["x-api pages", "x-api document", "tweets.js", "archive zip"])
def test_json_dumps_read_in_tiny_blocks_keep_every_record(fmt, monkeypatch):
    """The same invariants when JSON is read 11 characters at a time, so that values, line
    breaks and errors fall across the reader's blocks."""
    from classifier import formats

    monkeypatch.setattr(formats.JsonReader, "BLOCK", 11)
    test_every_record_is_scored_or_rejected_exactly_once(fmt)


def check_timeline_lines(data: bytes, items) -> None:
    """Every non-empty line that is not an attribution is in exactly one part."""
    from classifier.ingest import decode, split_lines

    lines = split_lines(decode(data, "dump.txt"))
    covered = [n for item in items if isinstance(item, Post) for p in item.parts for n in range(p.line, p.line_end + 1)
               if lines[n - 1].strip()]
    wanted = [i + 1 for i, line in enumerate(lines) if line.strip() and not parse_attribution(line)]
    assert sorted(covered) == wanted


# ---------------------------------------------------------------- random bytes


PREFIXES = [b"", b"PK\x03\x04", b"window.YTD.tweets.part0 = [", b"{", b"[", b"\xef\xbb\xbf", b"\xff\xfe",
            b"text,id\n", b"id\ttext\n", "本文\n— A (@a) Nov 4, 2024\n".encode()]
JSONISH = st.text('{}[]",:0123456789abcdefnrtul \n\t\\-.eE', max_size=60).map(str.encode)
CSVISH = st.text('"\',\t\n\r abc本文text', max_size=60).map(str.encode)
blobs = st.builds(lambda prefix, body: prefix + body, st.sampled_from(PREFIXES),
                  st.one_of(st.binary(max_size=200), JSONISH, CSVISH))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blobs, st.sampled_from([None, "utf-16", "cp932"]))
def test_random_bytes_give_only_clean_errors(data, encoding):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.dat"
        path.write_bytes(data)
        for fmt in ("auto", *FORMATS):
            for errors in ("strict", "replace"):
                for on_error in ("stop", "skip"):
                    try:
                        for item in read_posts(path, input_format=fmt, encoding=encoding, errors=errors,
                                               on_error=on_error, text_col="text" if fmt in ("csv", "tsv") else None):
                            assert isinstance(item, (Post, Reject))
                            if isinstance(item, Post):
                                assert item.parts and all(part.text.strip() for part in item.parts)
                    except InputError as exc:
                        assert "\n" not in str(exc) and str(exc).startswith(str(path))
