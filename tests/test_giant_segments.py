"""A text long enough to crash MeCab never reaches it: a dump's record is rejected (its line
named), and the tokenizer refuses it, in one process or with --jobs 2.

These run the CLI in a child process: before the limit, MeCab's segmentation fault took
the whole process down (exit -11), which in this process would end the test session.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from classifier.limits import MAX_SEGMENT_CHARS, segment_too_long

CLI = "from classifier.cli import main; main()"
POST = "政府は4日、新たな経済対策を閣議決定したと発表した。"
#: Each of these crashed MeCab in one parse call (see classifier/limits.py).
LATIN_RUN = "a" * 200_000
DATA_URL = "data:image/png;base64," + base64.b64encode(bytes(range(256)) * 3_000).decode()  # 1 MB
BIG_POST = "政府は四日、新たな方針を発表した。" * 100_000  # 1.7 million characters, 5 MB


def postcred(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def jsonl_dump(tmp_path: Path, giant: str) -> Path:
    rows = [{"id": "1", "text": POST}, {"id": "2", "text": giant}, {"id": "3", "text": POST + "続報。"}]
    path = tmp_path / "dump.jsonl"
    path.write_text("".join(json.dumps({**r, "user": {"username": "u"}, "rawContent": r["text"]},
                                       ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("giant", [LATIN_RUN, DATA_URL, BIG_POST], ids=["latin run", "data url", "5 MB post"])
def test_a_giant_record_stops_the_run_naming_its_line(tmp_path, giant):
    dump = jsonl_dump(tmp_path, giant)
    done = postcred("score", dump, "-o", tmp_path / "s.csv", cwd=tmp_path)
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    length = f"{len(giant):,}"
    assert done.stderr.strip().splitlines()[-1] == (
        f"Error: {dump}, line 2: a text of {length} characters; postcred tokenizes at most "
        f"{MAX_SEGMENT_CHARS:,} per segment (a longer one crashes MeCab): a data: URL, an encoded blob or a "
        "broken quote? (use --on-error skip to set bad records aside)")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_skip_sets_a_giant_record_aside_and_scores_the_rest(tmp_path, jobs):
    dump = jsonl_dump(tmp_path, LATIN_RUN)
    done = postcred("score", dump, "-o", tmp_path / "s.csv", "--on-error", "skip", "--jobs", jobs, "--no-report",
                    cwd=tmp_path)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "records read 3, scored 2, rejected 1" in done.stderr
    reject, = [json.loads(line) for line in (tmp_path / "s.rejects.jsonl").read_text(encoding="utf-8").split("\n") if line]
    assert reject["line"] == 2 and reject["raw"] == LATIN_RUN
    assert reject["reason"].startswith("a text of 200,000 characters")


def test_a_giant_paragraph_in_a_timeline_is_rejected_with_its_post(tmp_path):
    dump = tmp_path / "timeline.txt"
    dump.write_text(f"{POST}\n— NHKニュース (@nhk_news) November 4, 2024\n{LATIN_RUN}\n\n"
                    f"{POST}続報。\n— NHKニュース (@nhk_news) November 4, 2024\n", encoding="utf-8")
    done = postcred("score", dump, "-o", tmp_path / "s.csv", "--on-error", "skip", "--no-report", cwd=tmp_path)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "records read 2, scored 1, rejected 1" in done.stderr


def test_the_tokenizer_refuses_what_would_crash_mecab(tmp_path):
    code = ("from classifier.tokens import analyze\n"
            "try:\n    analyze('a' * 200_000)\nexcept ValueError as exc:\n    print('refused:', exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.startswith("refused: a text of 200,000 characters")


@pytest.mark.parametrize("text, too_long", [
    ("あ" * MAX_SEGMENT_CHARS, False),
    ("あ" * (MAX_SEGMENT_CHARS + 1), True),
    ("\ufdfa" * 2_777, False),   # 49,986 characters once NFKC-normalized
    ("\ufdfa" * 2_778, True),    # 50,004
])
def test_the_limit_counts_what_mecab_would_see(text, too_long):
    assert (segment_too_long(text) is not None) == too_long


def test_a_giant_paragraph_is_counted_not_kept_and_rejected_with_its_length(tmp_path):
    """A plain dump whose one blank line comes early is one paragraph after it: the reader
    stops keeping its text past MAX_RECORD_CHARS characters (a gigabyte of it would
    otherwise be held whole), counts the rest, and refuses it with its whole length; the
    rejects file keeps its first MAX_RECORD_CHARS characters and says how many were left."""
    from classifier.limits import MAX_RECORD_CHARS

    lines = [f"{POST}{k}" for k in range(MAX_RECORD_CHARS // len(POST) + 50)]
    giant = "\n".join(lines)
    dump = tmp_path / "plain.txt"
    dump.write_text(f"{POST}\n\n" + giant + f"\n\n{POST}続報。\n", encoding="utf-8")
    done = postcred("score", dump, "-o", tmp_path / "s.csv", "--input-format", "paragraphs", cwd=tmp_path)
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert done.stderr.strip().splitlines()[-1].startswith(f"Error: {dump}, line 3: a text of {len(giant):,} characters")
    done = postcred("score", dump, "-o", tmp_path / "s.csv", "--input-format", "paragraphs", "--on-error", "skip",
                    "--no-report", cwd=tmp_path)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "records read 3, scored 2, rejected 1" in done.stderr
    reject, = [json.loads(line) for line in (tmp_path / "s.rejects.jsonl").read_text(encoding="utf-8").split("\n") if line]
    assert reject["line"] == 3 and reject["reason"].startswith(f"a text of {len(giant):,} characters")
    assert reject["raw"] == (giant[:MAX_RECORD_CHARS] + f"\n[... {len(giant) - MAX_RECORD_CHARS:,} more characters, "
                             f"to line {len(lines) + 2:,}, not kept]")


@pytest.mark.parametrize("flaw", ["a quote too many", "a comma missing"])
def test_the_text_after_a_json_break_is_counted_not_kept(tmp_path, flaw):
    """A tweets.js whose second post is broken is rejected from the break on, as one record:
    its rejects row keeps the first MAX_RECORD_CHARS characters after the break and says how
    many more there were, and up to which line (a gigabyte after an early break would
    otherwise be held whole, and written whole into the rejects file)."""
    from classifier.limits import MAX_RECORD_CHARS

    def item(k: int) -> str:
        return json.dumps({"tweet": {"id_str": str(k), "created_at": "Mon Nov 04 09:00:00 +0000 2024",
                                     "full_text": f"{POST}{k}"}}, ensure_ascii=False, indent=2)

    rest = ",\n".join(item(k) for k in range(3, 40_000))  # about 4 MB: several read blocks
    if flaw == "a quote too many":  # the value does not parse: read on, in case it was cut by a block
        broken = item(2).replace('"full_text"', '"full_text" "', 1)
        text = f"window.YTD.tweets.part0 = [\n{item(1)},\n{broken},\n{rest}\n]\n"
    else:  # the value parses, what follows it does not: the break is found with one block read
        broken = item(2)
        text = f"window.YTD.tweets.part0 = [\n{item(1)}\n{broken},\n{rest}\n]\n"
    dump = tmp_path / "tweets.js"
    dump.write_text(text, encoding="utf-8")
    done = postcred("score", dump, "-o", tmp_path / "s.csv", "--on-error", "skip", "--no-report", "--no-campaigns",
                    cwd=tmp_path)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "records read 2, scored 1, rejected 1" in done.stderr
    reject, = [json.loads(line) for line in (tmp_path / "s.rejects.jsonl").read_text(encoding="utf-8").split("\n") if line]
    start = text.index(broken)
    after = text[start:]
    assert reject["line"] == text[:start].count("\n") + 1
    assert reject["raw"] == (after[:MAX_RECORD_CHARS] + f"\n[... {len(after) - MAX_RECORD_CHARS:,} more characters, "
                             f"to line {text.count(chr(10)) + 1:,}, not kept]")


def test_a_giant_line_is_counted_not_kept(tmp_path):
    """One line of a million characters in a plain dump (a file with no line break, as a
    gigabyte of it would be): the reader keeps its first MAX_RECORD_CHARS characters,
    counts the rest, and refuses it with its whole length; the lines after it are read."""
    from classifier.limits import MAX_RECORD_CHARS

    giant = "あ" * 1_000_000
    dump = tmp_path / "plain.txt"
    dump.write_text(f"{POST}\n{giant}\n{POST}続報。\n", encoding="utf-8")
    done = postcred("score", dump, "-o", tmp_path / "s.csv", "--input-format", "lines", "--on-error", "skip",
                    "--no-report", cwd=tmp_path)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "records read 3, scored 2, rejected 1" in done.stderr
    reject, = [json.loads(line) for line in (tmp_path / "s.rejects.jsonl").read_text(encoding="utf-8").split("\n") if line]
    assert reject["line"] == 2 and reject["reason"].startswith("a text of 1,000,000 characters")
    assert reject["raw"] == giant[:MAX_RECORD_CHARS] + f"\n[... {1_000_000 - MAX_RECORD_CHARS:,} more characters, to line 2, not kept]"


def _reads(path: Path, **options) -> list:
    from classifier.ingest import read_posts

    return list(read_posts(path, on_error="skip", **options))


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv"])
def test_a_line_longer_than_a_format_reads_is_one_reject_and_reading_goes_on(tmp_path, monkeypatch, fmt):
    """A JSONL or CSV/TSV line longer than MAX_LINE_CHARS (here made small) is refused with
    its length, without being held whole: its first characters are kept, and the records
    after it are read as usual."""
    from classifier import formats
    from classifier.source import Post, Reject

    monkeypatch.setattr(formats, "MAX_LINE_CHARS", 5_000)
    giant = "い" * 12_345
    if fmt == "jsonl":
        rows = [json.dumps({"id": k, "text": text, "user": {"username": "u"}, "rawContent": text}, ensure_ascii=False)
                for k, text in enumerate([POST, giant, POST + "続報。"], start=1)]
        giant_line = rows[1]
    else:
        sep = "," if fmt == "csv" else "\t"
        rows = [sep.join(["id", "text"])] + [sep.join([str(k), text]) for k, text in
                                              enumerate([POST, giant, POST + "続報。"], start=1)]
        giant_line = rows[2]
    dump = tmp_path / f"dump.{fmt}"
    dump.write_text("\n".join(rows) + "\n", encoding="utf-8")
    items = _reads(dump)
    assert [type(i) for i in items] == [Post, Reject, Post]
    reject = items[1]
    assert reject.line == (2 if fmt == "jsonl" else 3)
    assert reject.reason.startswith(f"a line of {len(giant_line):,} characters; postcred reads lines of at most 5,000")
    if fmt == "jsonl":
        assert reject.raw == giant_line[:5_000] + f"\n[... {len(giant_line) - 5_000:,} more characters of this line, not kept]"
    else:
        assert reject.raw == giant_line[:5_000] + f"\n[... {len(giant_line) - 5_000:,} more characters, not kept]"
    assert [p.parts[0].text for p in (items[0], items[2])] == [POST, POST + "続報。"]


def test_a_timeline_line_too_long_is_refused_with_its_post(tmp_path):
    """In a pasted timeline, a giant line is kept only in part: the post it belongs to is
    rejected, its text saying how much was left out, and the next post is read."""
    from classifier.limits import MAX_RECORD_CHARS

    giant = "う" * 600_000
    dump = tmp_path / "timeline.txt"
    dump.write_text(f"{POST}\n— NHK (@nhk_news) Nov 4, 2024\n\n{giant}\n— 誰か (@someone) Nov 4, 2024\n\n"
                    f"{POST}続報。\n— NHK (@nhk_news) Nov 4, 2024\n", encoding="utf-8")
    items = _reads(dump, input_format="timeline")
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["Post", "Reject", "Post"], kinds
    reject = items[1]
    assert reject.line == 4
    assert reject.raw == giant[:MAX_RECORD_CHARS] + f"\n[... {600_000 - MAX_RECORD_CHARS:,} more characters of this line, not kept]"


def test_a_json_value_too_long_to_hold_is_refused_with_what_is_wrong(tmp_path, monkeypatch):
    """A tweets.js post whose text runs on past JsonReader.MAX_VALUE characters (here made
    small) is refused as a value still open after that many, not as JSON "cut short";
    the text from it on is the reject's, kept only in part."""
    from classifier import formats
    from classifier.source import Post, Reject

    monkeypatch.setattr(formats.JsonReader, "MAX_VALUE", 3_000)
    monkeypatch.setattr(formats.JsonReader, "BLOCK", 500)

    def item(k: int, text: str) -> str:
        return json.dumps({"tweet": {"id_str": str(k), "created_at": "Mon Nov 04 09:00:00 +0000 2024",
                                     "full_text": text}}, ensure_ascii=False, indent=2)

    dump = tmp_path / "tweets.js"
    dump.write_text(f"window.YTD.tweets.part0 = [\n{item(1, POST)},\n{item(2, 'え' * 10_000)},\n{item(3, POST)}\n]\n",
                    encoding="utf-8")
    items = _reads(dump)
    assert [type(i) for i in items] == [Post, Reject]
    assert items[1].reason == ("a JSON value still open after 3,000 characters; postcred reads at most that much of "
                               "one record (a quote left open?)")
    assert items[1].line == 9 and "え" * 100 in items[1].raw
