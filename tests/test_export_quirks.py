"""Real exports as analysts bring them, read without flags: Japanese tools' CSV headers,
twarc-csv, X Analytics, escaped entities, a tweets.js without its account.js, and the one
line that says how a dump was read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from classifier.cli import cli
from classifier.formats import COLUMNS_FILE, header_names
from classifier.ingest import Post, detect_format, read_posts

from .conftest import csv_rows

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ROOT / "tests" / "data" / "formats"


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def posts(path, **options) -> list[Post]:
    items = list(read_posts(path, **options))
    assert all(isinstance(item, Post) for item in items), items
    return items


def test_a_japanese_tools_csv_reads_without_flags_and_takes_the_post_id_not_the_users(tmp_path):
    dump = tmp_path / "export.txt"  # no .csv extension: the header alone tells
    shutil.copy(FORMATS / "japanese_tool.csv", dump)
    read = posts(dump)
    assert [p.post_id for p in read] == [f"185370000000000000{k}" for k in range(1, 6)]  # ツイートID, not ID
    assert [p.account for p in read][:2] == ["NHKニュース", "怒れる納税者"]
    assert all(p.date.startswith("2024-11-0") and "T" in p.date for p in read)
    result = run("score", dump, "-o", tmp_path / "s.csv", "--no-report")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "read as csv (utf-8-sig): text=ツイート本文, id=ツイートID, author=ユーザー名, date=ツイート時刻, name=名前")


def test_twarc_csv_gives_kinds_authors_and_unescaped_text():
    read = posts(FORMATS / "twarc.csv")
    assert [p.kind for p in read] == ["post", "post", "retweet", "quote", "reply"]
    assert [(p.handle, p.account) for p in read][:2] == [("ReutersJapan", "ロイター"), ("truth_voice_jp", "真実の声🇯🇵")]
    first, second = read[0].parts[0].text, read[1].parts[0].text
    assert "\n円相場&株価" in first and "\\n" not in first and "&amp;" not in first
    assert "<真実>" in second
    assert read[0].post_id == "1853800000000000001"  # id, not author_id or conversation_id


def test_x_analytics_gives_the_handle_from_the_permalink_and_dates_with_their_offset():
    read = posts(FORMATS / "x_analytics.csv")
    assert {p.handle for p in read} == {"mod_japan_jp"}
    assert read[0].date == "2024-11-04T09:12:00+00:00"
    assert read[0].post_id == "1853900000000000001"


def test_snscrape_text_is_unescaped_like_the_apis(tmp_path):
    row = json.loads((FORMATS / "snscrape.jsonl").read_text(encoding="utf-8").split("\n")[0])
    row["rawContent"] = "円安&amp;物価高で&lt;緊急&gt;会見、と政府が発表した。"
    dump = tmp_path / "s.jsonl"
    dump.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    assert posts(dump)[0].parts[0].text == "円安&物価高で<緊急>会見、と政府が発表した。"


def test_archive_text_is_unescaped_like_the_apis(tmp_path):
    text = (FORMATS / "archive" / "data" / "tweets.js").read_text(encoding="utf-8")
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "tweets.js").write_text(text.replace("防衛省は11日", "防衛省&amp;気象庁は11日"), encoding="utf-8")
    shutil.copy(FORMATS / "archive" / "data" / "account.js", folder / "account.js")
    assert posts(folder / "tweets.js")[0].parts[0].text.startswith("防衛省&気象庁は11日")


def test_a_bare_tweets_js_warns_that_handles_will_be_empty(tmp_path):
    bare = tmp_path / "tweets.js"
    shutil.copy(FORMATS / "archive" / "data" / "tweets.js", bare)
    result = run("score", bare, "-o", tmp_path / "s.csv", "--no-report", "--quiet")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        f"Warning: {bare}: no account.js beside it, so the posts' @handle and display name stay empty "
        "(score the archive's zip, or put its data/account.js beside tweets.js)")
    rows = csv_rows((tmp_path / "s.csv"))
    assert {r["handle"] for r in rows} == {""}
    beside = run("score", FORMATS / "archive" / "data" / "tweets.js", "-o", tmp_path / "t.csv", "--no-report", "-q")
    assert beside.exit_code == 0 and "Warning" not in beside.output, beside.output


@pytest.mark.parametrize("name, options, line", [
    ("timeline.txt", [], "read as timeline (utf-8)"),
    ("x_api_search.json", [], "read as x-api (utf-8): one JSON document"),
    ("x_api_twarc.jsonl", [], "read as x-api (utf-8): JSON lines"),
    ("snscrape.jsonl", [], "read as snscrape (utf-8): JSON lines"),
    ("twitter-archive.zip", [], "read as tweets-js (zip): data/tweets.js; account from data/account.js"),
    ("excel_cp932.csv", [], "read as csv (cp932): text=本文, id=ID, author=ユーザー名, date=投稿日時"),
    ("export_utf16.tsv", ["--text-col", "body_text", "--author-col", "who", "--date-col", "when"],
     "read as tsv (utf-16-le with BOM): text=body_text, id=(none), author=who, date=when"),
    ("x_analytics.csv", [], "read as csv (utf-8): text=Tweet text, id=Tweet id, author=(none), date=time, "
                            "url=Tweet permalink (for the @handle)"),
    ("plain_lines.txt", [], "read as plain (utf-8-sig): one post per line"),
    ("plain_paragraphs_eucjp.txt", [], "read as plain (euc-jp): one post per paragraph"),
])
def test_every_run_says_how_it_read_the_dump(tmp_path, name, options, line):
    result = run("score", FORMATS / name, "-o", tmp_path / "s.csv", "--no-report", *options)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == line
    quiet = run("score", FORMATS / name, "-o", tmp_path / "q.csv", "--no-report", "-q", *options)
    assert quiet.output == ""


def test_the_header_names_are_data_and_each_belongs_to_one_role():
    names = header_names()
    assert {"text", "id", "author", "name", "date", "url"} <= set(names)
    seen: dict[str, str] = {}
    for role, keys in names.items():
        for key in keys:
            assert key not in seen, f"{key!r} is listed for {seen[key]} and {role} in {COLUMNS_FILE.name}"
            seen[key] = role
    assert names["id"][-1] == "id"  # a bare id only when no post-id column is there


@pytest.mark.parametrize("header, expected", [
    ("ツイートID,ツイート時刻,ツイート本文", "csv"),
    ("Tweet id,Tweet permalink,Tweet text,time", "csv"),
    ("ＩＤ\tＴＥＸＴ", "tsv"),
    ("id,name,age", "plain"),
])
def test_detect_a_table_by_its_text_header(header, expected):
    assert detect_format(header + "\n1,2,3\n") == expected
