"""Readers for exported dumps: X API v2 JSON/JSONL, snscrape JSONL, an X/Twitter archive's
``tweets.js`` (or the archive's zip) and CSV/TSV.

Each reader takes an opened :class:`~classifier.ingest.Source` and yields
:class:`~classifier.ingest.Post` and :class:`~classifier.ingest.Reject` objects, one per
input record, in input order, numbered from 1.  A post's text becomes one part (role
``post``).  Segment line numbers are physical lines where a record has a line of its own
(JSONL with one post per line, CSV/TSV); in a JSON document, a JSONL file of API pages
(several posts per line) and ``tweets.js``, they are record numbers, so ids stay unique.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import struct
import zipfile
import zlib
from typing import Callable, Iterator

from .errors import InputError
from .ingest import (
    Part, Post, RecordError, Reject, Source, decode, header_key, header_names, normalize_date,
)
from .limits import MAX_ARCHIVE_BYTES, MAX_COMPRESSION_RATIO, RATIO_FLOOR, size_text

logger = logging.getLogger(__name__)

YTD_PREFIX_RE = re.compile(r"\s*window\.YTD\.[A-Za-z0-9_]+\.part\d+\s*=\s*")
ARCHIVE_TWEETS_RE = re.compile(r"(?:^|/)tweets?(?:-part(\d+))?\.js$")
ARCHIVE_ACCOUNT_RE = re.compile(r"(?:^|/)account\.js$")
STATUS_URL_RE = re.compile(r"https?://(?:www\.|mobile\.)?(?:twitter|x)\.com/(\w+)/status(?:es)?/(\d+)")
SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
JSON_SPACE = " \t\r\n"
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonlines")

#: Headers that only twarc-csv (``twarc2 csv``) writes: its text is the API's, with ``&amp;``,
#: ``&lt;``, ``&gt;`` escaped and line breaks written as ``\n``.
TWARC_CSV_HEADERS = frozenset({"__twarc.version", "referenced_tweets.retweeted.id", "author.username"})
TWARC_KINDS = (("referenced_tweets.retweeted.id", "retweet"), ("referenced_tweets.quoted.id", "quote"),
               ("referenced_tweets.replied_to.id", "reply"))

#: ``expand(value)`` -> ([(post object, context)], is a page of several posts?)
Expand = Callable[[object], tuple[list[tuple[object, object]], bool]]
#: ``convert(post object, context, record number, segment line)`` -> Post, or RecordError.
Convert = Callable[[object, object, int, int], Post]


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
    """One line saying why JSON did not parse (``with_line``: name the line, too)."""
    if isinstance(exc, json.JSONDecodeError):
        what = exc.msg.replace(" starting at", "")
        where = f"line {exc.lineno}, column {exc.colno}" if with_line else f"column {exc.colno}"
        cut = "Unterminated" in exc.msg or exc.pos >= len(exc.doc.rstrip())
        return f"not valid JSON: {what[:1].lower()}{what[1:]} at {where}" + (" (cut short?)" if cut else "")
    if isinstance(exc, RecursionError):
        return "not valid JSON (nested too deeply)"
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
    for _, line in source.lines():
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


def _parses(line: str, kind: type = object) -> bool:
    try:
        return isinstance(json.loads(line), kind)
    except (ValueError, RecursionError):
        return False


def iter_json_array(text: str, start: int = 0) -> Iterator[tuple[int, object, str, str | None]]:
    """Elements of the JSON array that starts at ``text[start:]``, parsed one at a time.

    Yields ``(line, value, raw, error)``: ``line`` is where the element starts, ``raw``
    its source text.  On a syntax error (a truncated file) the rest of the text is yielded
    once with ``error`` set and iteration stops, so nothing after a break is lost silently.
    """
    decoder = json.JSONDecoder()
    pos = _skip_space(text, start)
    line = 1 + text.count("\n", 0, pos)
    if text[pos:pos + 1] != "[":
        yield line, None, text[pos:], "expected a JSON array"
        return
    pos = _skip_space(text, pos + 1)
    if text[pos:pos + 1] == "]":
        pos += 1
    else:
        while True:
            line += text.count("\n", start, pos)
            start = pos
            try:
                value, end = decoder.raw_decode(text, pos)
            except (ValueError, RecursionError) as exc:
                yield line, None, text[pos:], _json_reason(exc, with_line=True)
                return
            yield line, value, text[pos:end], None
            pos = _skip_space(text, end)
            if text[pos:pos + 1] == ",":
                pos = _skip_space(text, pos + 1)
                continue
            if text[pos:pos + 1] == "]":
                pos += 1
                break
            line += text.count("\n", start, pos)
            start = pos
            yield line, None, text[pos:], "expected ',' or ']' after an array element (a truncated file?)"
            return
    rest = _skip_space(text, pos)
    if text[rest:rest + 1] == ";":
        rest = _skip_space(text, rest + 1)
    if rest < len(text):
        yield 1 + text.count("\n", 0, rest), None, text[rest:], "unexpected text after the JSON array"


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in JSON_SPACE:
        pos += 1
    return pos


def _json_records(source: Source, expand: Expand, convert: Convert,
                  *, documents: tuple[str, ...] = ("array",)) -> Iterator[Post | Reject]:
    """Posts of a JSON dump, JSONL or one document, through ``expand`` and ``convert``.

    ``expand(value)`` returns the posts of one JSON value (each with a context, such as
    the page's users) and whether it is a page; ``convert`` builds a post or raises
    :class:`RecordError`.  In JSONL a post's segment line is its physical line, unless the
    file holds pages (then record numbers, as in documents).
    """
    if _layout(source) == "jsonl":
        source.detail = "JSON lines"
        yield from _jsonl_records(source, expand, convert)
        return
    source.detail = "one JSON document"
    text = source.text()
    body = text.lstrip(JSON_SPACE)
    record = 0
    if body.startswith("[") or "object" not in documents:
        for line, value, raw, error in iter_json_array(text):
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
        return
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(source.label, _json_reason(exc), line=exc.lineno) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(source.label, _json_reason(exc)) from None
    try:
        items, _ = expand(value)
    except RecordError as exc:
        raise InputError(source.label, str(exc)) from None
    for item, context in items:
        record += 1
        yield _convert(convert, item, context, record, record, None, None)


def _jsonl_records(source: Source, expand: Expand, convert: Convert) -> Iterator[Post | Reject]:
    record = 0
    pages: bool | None = None
    for line, raw in source.lines():
        if not raw.strip():
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


def read_tweets_js(source: Source) -> Iterator[Post | Reject]:
    """An X/Twitter archive's ``data/tweets.js`` (``window.YTD.tweets.part0 = [...]``), its
    parts (``tweets-part1.js``...), or the archive's zip.

    The account comes from ``account.js`` (inside the zip, or beside ``tweets.js``).
    Retweets are posts whose text starts ``RT @``; replies have ``in_reply_to_status_id``;
    a quote links to another post's status URL.
    """
    if source.is_zip:
        parts, account, account_name = _archive_members(source)
        source.detail = ", ".join(name.split(":", 1)[1] for name, _ in parts)
    else:
        parts = [(None, source.text())]
        beside = source.path.with_name("account.js") if source.path else None
        found = beside is not None and beside.is_file()
        account = _account(beside.read_text(encoding="utf-8", errors="replace")) if found else {}
        account_name = str(beside) if found else None
    if account_name:
        source.detail += f"{'; ' if source.detail else ''}account from {account_name}"
    else:
        logger.warning("%s: no account.js %s, so the posts' @handle and display name stay empty "
                       "(score the archive's zip, or put its data/account.js beside tweets.js)",
                       source.label, "in the archive" if source.is_zip else "beside it")
    record = 0
    for member, text in parts:
        prefix = YTD_PREFIX_RE.match(text)
        for line, value, raw, error in iter_json_array(text, prefix.end() if prefix else 0):
            record += 1
            if error:
                yield Reject(record, line, error, raw, member)
                continue
            try:
                yield _archive_post(value, record, source.name, account)
            except RecordError as exc:
                yield Reject(record, line, str(exc), raw, member)


def _archive_members(source: Source) -> tuple[list[tuple[str, str]], dict, str | None]:
    """The archive's tweets files (label, text) in order, its account, and the account
    file's name (None when it has none)."""
    try:
        with zipfile.ZipFile(source.handle) as archive:
            members = [i for i in archive.infolist() if ARCHIVE_TWEETS_RE.search(i.filename)]
            if not members:
                raise InputError(source.label, "zip archive without a tweets.js (an X/Twitter archive has data/tweets.js)")
            members.sort(key=lambda i: int(ARCHIVE_TWEETS_RE.search(i.filename).group(1) or 0))
            accounts = [i for i in archive.infolist() if ARCHIVE_ACCOUNT_RE.search(i.filename)]
            _check_members(members + accounts, source.label)
            budget = [MAX_ARCHIVE_BYTES]
            parts = [(f"{source.label}:{i.filename}", _member_text(archive, i, source, budget)) for i in members]
            account = _account(_member_text(archive, accounts[0], source, budget)) if accounts else {}
            account_name = accounts[0].filename if accounts else None
    except InputError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, NotImplementedError, RuntimeError,
            EOFError, OSError, KeyError, ValueError) as exc:  # what a damaged or encrypted archive raises
        raise InputError(source.label, f"corrupt or unreadable zip archive ({type(exc).__name__}: {exc})") from None
    return parts, account, account_name


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


def _member_text(archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: Source, budget: list[int]) -> str:
    """A member's decoded text, unpacked chunk by chunk and never past what is left of the
    archive's byte budget, whatever its header declares."""
    label = f"{source.label}:{info.filename}"
    chunks = []
    with archive.open(info) as member:
        while chunk := member.read(1 << 20):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise InputError(source.label, f"zip archive unpacks to more than postcred unpacks "
                                               f"({size_text(MAX_ARCHIVE_BYTES)}); unzip it and score data/tweets.js")
            chunks.append(chunk)
    return decode(b"".join(chunks), label, errors=source.errors).replace("\r\n", "\n").replace("\r", "\n")


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

    def feed() -> Iterator[str]:
        for _, line in source.lines():
            consumed.append(line)
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

