"""Inputs built to hurt: zip bombs, endless or binary standard input, pipes and FIFOs, NUL
bytes past the binary check, and archives with two members of one name."""

from __future__ import annotations

import json
import os
import threading
import warnings
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from classifier import formats, ingest
from classifier.cli import cli
from classifier.ingest import Post, read_posts

from .conftest import error_line

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ROOT / "tests" / "data" / "formats"
ARCHIVE = FORMATS / "twitter-archive.zip"
TWEETS_JS = (FORMATS / "archive" / "data" / "tweets.js").read_text(encoding="utf-8")
ACCOUNT_JS = (FORMATS / "archive" / "data" / "account.js").read_text(encoding="utf-8")


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def archive(path: Path, members: list[tuple[str, str | bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of a duplicate name, which one test wants
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name, data in members:
                z.writestr(name, data)
    return path


# ---------------------------------------------------------------- zip archives


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    padding = " " * (64 << 20)  # 64 MiB of spaces deflate about a thousand times
    bomb = archive(tmp_path / "bomb.zip", [("data/tweets.js", "window.YTD.tweets.part0 = [" + padding + "]"),
                                           ("data/account.js", ACCOUNT_JS)])
    assert bomb.stat().st_size < 1 << 20
    line = error_line(run("score", bomb, "-o", tmp_path / "s.csv"))
    assert line.startswith(f"Error: {bomb}: zip archive: data/tweets.js unpacks ")
    assert line.endswith(" times its size (more than 100: a zip bomb?)")


def test_an_archive_over_the_size_cap_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "MAX_ARCHIVE_BYTES", 4096)
    big = archive(tmp_path / "big.zip", [("data/tweets.js", TWEETS_JS * 5), ("data/account.js", ACCOUNT_JS)])
    line = error_line(run("score", big, "-o", tmp_path / "s.csv"))
    assert line == (f"Error: {big}: zip archive: its tweets.js files unpack to {len(TWEETS_JS.encode()) * 5 + len(ACCOUNT_JS.encode()):,} "
                    "bytes, more than postcred unpacks (4 KiB); unzip it and score data/tweets.js")


def test_a_member_that_unpacks_past_its_declared_size_is_stopped(tmp_path, monkeypatch):
    """The cap holds while unpacking too, whatever the header declares."""
    monkeypatch.setattr(formats, "MAX_ARCHIVE_BYTES", 1500)
    monkeypatch.setattr(formats, "_check_members", lambda members, label: None)  # a header that lies
    path = archive(tmp_path / "a.zip", [("data/tweets.js", TWEETS_JS * 2), ("data/account.js", ACCOUNT_JS)])
    line = error_line(run("score", path, "-o", tmp_path / "s.csv"))
    assert line == (f"Error: {path}: zip archive unpacks to more than postcred unpacks (1,500 bytes); "
                    "unzip it and score data/tweets.js")


def test_two_members_with_one_name_are_an_error_not_a_silent_drop(tmp_path):
    other = TWEETS_JS.replace("防衛省は11日", "別の本文です。防衛省は11日")
    path = archive(tmp_path / "twice.zip", [("data/tweets.js", TWEETS_JS), ("data/tweets.js", other),
                                            ("data/account.js", ACCOUNT_JS)])
    line = error_line(run("score", path, "-o", tmp_path / "s.csv"))
    assert line == (f"Error: {path}: zip archive holds 2 members named data/tweets.js; unzip tools disagree on "
                    "which one is the archive's, so postcred reads neither")


def test_an_ordinary_archive_still_reads(tmp_path):
    assert len([p for p in read_posts(ARCHIVE) if isinstance(p, Post)]) == 3


# ---------------------------------------------------------------- standard input, pipes, FIFOs


class EndlessStdin:
    """A stream that never ends (``yes | postcred score -``), counting what was read."""

    def __init__(self, line: bytes) -> None:
        self.line = line
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        size = 1 << 16 if size is None or size < 0 else size
        data = (self.line * (size // len(self.line) + 1))[:size]
        self.read_bytes += len(data)
        return data


def test_endless_standard_input_stops_at_the_spool_cap(monkeypatch):
    monkeypatch.setattr(ingest, "MAX_SPOOL_BYTES", 8 << 20)
    endless = EndlessStdin("政府は発表した。\n".encode())
    monkeypatch.setattr(ingest.sys, "stdin", type("Stdin", (), {"buffer": endless})())
    with pytest.raises(ingest.InputError, match=r"<stdin>: more than 8 MiB from a pipe or standard input; "
                                                r"save it to a file and score the file"):
        list(read_posts("-"))
    assert endless.read_bytes <= (8 << 20) + (2 << 20)


def test_binary_standard_input_is_refused_before_it_is_copied(monkeypatch):
    endless = EndlessStdin(b"\x00\x01\x02\x03binary")
    monkeypatch.setattr(ingest.sys, "stdin", type("Stdin", (), {"buffer": endless})())
    with pytest.raises(ingest.InputError, match="<stdin>: looks like a binary file"):
        list(read_posts("-"))
    assert endless.read_bytes == 8192  # only the head was read


def test_binary_stdin_through_the_cli_is_one_line(tmp_path):
    line = error_line(run("score", "-", "-o", tmp_path / "s.csv", input=b"\x00" * 100_000))
    assert line == "Error: <stdin>: looks like a binary file (NUL or control bytes), not a text dump"


def test_a_fifo_is_read_like_a_file(tmp_path):
    fifo = tmp_path / "posts.fifo"
    os.mkfifo(fifo)
    data = (FORMATS / "snscrape.jsonl").read_bytes()

    def write() -> None:
        with open(fifo, "wb") as handle:
            handle.write(data)

    writer = threading.Thread(target=write)
    writer.start()
    result = run("score", fifo, "-o", tmp_path / "s.csv", "--no-report")
    writer.join(10)
    assert result.exit_code == 0, result.output
    assert "records read 3, scored 3, rejected 0" in result.output


def test_process_substitution_is_read_like_a_file(tmp_path):
    read_end, write_end = os.pipe()
    os.write(write_end, (FORMATS / "timeline.txt").read_bytes())
    os.close(write_end)
    try:
        result = run("score", f"/dev/fd/{read_end}", "-o", tmp_path / "s.csv", "--no-report")
    finally:
        os.close(read_end)
    assert result.exit_code == 0, result.output
    assert "records read 2, scored 2, rejected 0" in result.output


# ---------------------------------------------------------------- NUL bytes past the binary check


def nul_csv(tmp_path: Path) -> Path:
    rows = ["text,id"] + [f"政府は{i}日、新たな方針を発表した。{'詳細は後日。' * 20},{i}" for i in range(1, 101)]
    rows[80] = "ここに\x00バイナリ,80"
    path = tmp_path / "nul.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert path.read_bytes().index(b"\x00") > 8192
    return path


def test_a_nul_byte_past_the_first_8_kb_is_a_bad_record_naming_its_line(tmp_path):
    path = nul_csv(tmp_path)
    line = error_line(run("score", path, "-o", tmp_path / "s.csv"))
    assert line == (f"Error: {path}, line 81: holds a NUL byte (binary data, not text) "
                    "(use --on-error skip to set bad records aside)")


def test_skip_sets_the_nul_record_aside_and_no_nul_reaches_the_scores(tmp_path):
    path = nul_csv(tmp_path)
    result = run("score", path, "-o", tmp_path / "s.csv", "--on-error", "skip", "--no-report")
    assert result.exit_code == 0, result.output
    assert "records read 100, scored 99, rejected 1" in result.output
    assert b"\x00" not in (tmp_path / "s.csv").read_bytes()
    reject, = [json.loads(line) for line in (tmp_path / "s.rejects.jsonl").read_text(encoding="utf-8").split("\n") if line]
    assert reject["line"] == 81 and reject["raw"] == "ここに\x00バイナリ"
