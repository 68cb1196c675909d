"""Every input format as a user brings it: the sample exports, their encodings, the CLI and
the README's examples."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from classifier.cli import cli
from classifier.errors import InputError
from classifier.dates import normalize_date
from classifier.ingest import Post, decode, detect_format, read_posts, split_lines
from classifier.scoring import ScoreSummary, iter_segments

from .conftest import csv_rows

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ROOT / "tests" / "data" / "formats"
TSV_COLUMNS = {"text_col": "body_text", "author_col": "who", "date_col": "when"}


def posts_of(path, **options) -> list[Post]:
    items = list(read_posts(path, **options))
    assert all(isinstance(item, Post) for item in items), items
    return items


def brief(post: Post, start: str = "") -> tuple:
    """(record, handle, kind, date, first line, text start) of a post; ``start`` is the
    expected text start, kept when the text starts with it."""
    text = post.parts[0].text
    return post.record, post.handle, post.kind, post.date, post.parts[0].line, start if text.startswith(start) else text


# ---------------------------------------------------------------- each sample file

SAMPLES = {
    "timeline.txt": ({}, [
        (1, "nhk_news", "post", "2024-07-05", 1, "気象庁は5日、関東甲信地"),
        (2, "angry_taxpayer", "post", "2024-07-05", 6, "また増税かよ😡 国民を"),
    ]),
    "x_api_search.json": ({}, [
        (1, "ReutersJapan", "post", "2024-11-04T09:12:00+00:00", 1, "日銀は31日の金融政策決"),
        (2, "truth_voice_jp", "post", "2024-11-04T10:30:00+00:00", 2, "マスゴミは絶対に報じない"),
        (3, "truth_voice_jp", "retweet", "2024-11-04T11:00:00+00:00", 3, "RT @Reuters"),
        (4, "truth_voice_jp", "quote", "2024-11-04T11:05:00+00:00", 4, "これが売国政権の正体だ。"),
        (5, "ReutersJapan", "post", "2024-11-04T12:00:00+00:00", 5, "政府は4日、物価高対策を"),
    ]),
    "x_api_stream.jsonl": ({}, [
        (1, "ReutersJapan", "post", "2024-11-04T09:12:00+00:00", 1, "日銀は31日の金融政策決"),
        (2, "truth_voice_jp", "post", "2024-11-04T10:30:00+00:00", 2, "マスゴミは絶対に報じない"),
        (3, "truth_voice_jp", "retweet", "2024-11-04T11:00:00+00:00", 3, "RT @Reuters"),
    ]),
    "snscrape.jsonl": ({}, [
        (1, "kyodo_official", "post", "2024-05-13T08:00:00+00:00", 1, "厚生労働省は13日、新型"),
        (2, "wakeup_japan", "reply", "2024-05-13T09:15:00+00:00", 2, "ワクチンの闇を隠すな！！"),
        (3, "old_scrape", "post", "2019-11-28T01:02:03+00:00", 3, "台風19号の被害で、長野"),
    ]),
    "twitter-archive.zip": ({}, [
        (1, "my_archive", "post", "2023-09-11T03:00:00+00:00", 1, "防衛省は11日、北朝鮮が"),
        (2, "my_archive", "retweet", "2023-09-11T04:30:00+00:00", 2, "RT @nhk_new"),
        (3, "my_archive", "reply", "2023-09-11T05:00:00+00:00", 3, "@someone 政府"),
    ]),
    "excel_cp932.csv": ({}, [
        (1, "nhk_news", "post", "2024-11-04T18:12:00", 2, "政府は4日の閣議で、来年"),
        (2, "angry_taxpayer", "post", "2024-11-04T19:40:00", 3, "また増税か！！\n国民を"),
        (3, "jiji_press", "post", "2024-11-05T07:05:00", 5, "東京株式市場で日経平均株"),
    ]),
    "export_utf16.tsv": (TSV_COLUMNS, [
        (1, "kyodo_official", "post", "2024-11-04T09:00:00", 2, "警察庁は4日、特殊詐欺の"),
        (2, "patriot_2024", "post", "2024-11-04T21:15:00", 3, "売国奴どもを許すな🔥 日"),
    ]),
    "japanese_tool.csv": ({}, [
        (1, "nhk_news", "post", "2024-11-04T18:12:33", 2, "気象庁は4日、関東甲信で"),
        (2, "angry_taxpayer", "post", "2024-11-04T19:40:05", 3, "また増税かよ😡\n国民を"),
        (3, "nhk_news", "post", "2024-11-04T21:03:10", 5, "総務省によりますと、先月"),
        (4, "angry_taxpayer", "post", "2024-11-05T07:15:00", 6, "マスゴミは絶対に報じない"),
        (5, "jijicom", "post", "2024-11-05T09:30:45", 7, "東京株式市場で日経平均株"),
    ]),
    "twarc.csv": ({}, [
        (1, "ReutersJapan", "post", "2024-11-04T09:12:00+00:00", 2, "日銀は31日の金融政策決"),
        (2, "truth_voice_jp", "post", "2024-11-04T10:30:00+00:00", 3, "マスゴミは絶対に報じない<真実>"),
        (3, "truth_voice_jp", "retweet", "2024-11-04T11:00:00+00:00", 4, "日銀は31日の金融政策決"),
        (4, "truth_voice_jp", "quote", "2024-11-04T11:05:00+00:00", 5, "これが売国政権の正体だ。"),
        (5, "ReutersJapan", "reply", "2024-11-04T12:00:00+00:00", 6, "@truth_voice_jp 記事"),
    ]),
    "x_analytics.csv": ({}, [
        (1, "mod_japan_jp", "post", "2024-11-04T09:12:00+00:00", 2, "防衛省は4日、北朝鮮が弾"),
        (2, "mod_japan_jp", "post", "2024-11-04T13:45:00+00:00", 3, "【お知らせ】本日の記者会"),
        (3, "mod_japan_jp", "post", "2024-11-05T00:30:00+00:00", 5, "政府は5日、台風10号の被"),
    ]),
    "plain_lines.txt": ({}, [
        (1, "", "post", "", 1, "消費者庁は5日、電気スト"),
        (2, "", "post", "", 2, "こんな国もう終わりだよ😭"),
        (3, "", "post", "", 3, "#拡散希望 #政治"),
    ]),
    "plain_paragraphs_eucjp.txt": ({}, [
        (1, "", "post", "", 1, "文部科学省は5日、全国学"),
        (2, "", "post", "", 4, "教育を破壊した連中を許さ"),
    ]),
}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_each_sample_reads_into_its_posts(name):
    options, expected = SAMPLES[name]
    posts = posts_of(FORMATS / name, **options)
    assert len(posts) == len(expected)
    assert [brief(p, e[5]) for p, e in zip(posts, expected)] == expected


def test_x_api_forms_agree_and_long_posts_use_note_tweet():
    search = posts_of(FORMATS / "x_api_search.json")
    pages = posts_of(FORMATS / "x_api_twarc.jsonl")
    stream = posts_of(FORMATS / "x_api_stream.jsonl")
    fields = lambda p: (p.post_id, p.account, p.handle, p.date, p.kind, p.parts[0].text)  # noqa: E731
    assert [fields(p) for p in pages] == [fields(p) for p in search]
    assert [fields(p) for p in stream] == [fields(p) for p in search[:3]]
    # Pages hold several posts on one line: their lines are record numbers, so ids stay unique.
    assert [p.parts[0].line for p in pages] == [1, 2, 3, 4, 5]
    assert search[0].account == "ロイター" and search[0].post_id == "1850000000000000001"
    assert search[4].parts[0].text.endswith("経済対策は今月中旬にも閣議決定する見通し。")
    assert "&amp;" not in search[1].parts[0].text and "🔥🔥 & 拡散希望" in search[1].parts[0].text


def test_x_api_jsonl_of_flat_posts_with_inline_author(tmp_path):
    dump = tmp_path / "flat.jsonl"
    rows = [
        {"id": "7", "text": "首相は記者会見で「丁寧に説明する」と述べた。", "created_at": "2024-01-02T03:04:05Z",
         "author": {"username": "jiji", "name": "時事通信"}, "referenced_tweets": [{"type": "replied_to", "id": "6"}]},
        {"id": "8", "text": "嘘つき総理！", "author_id": "99"},
    ]
    dump.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    first, second = posts_of(dump)
    assert (first.handle, first.account, first.kind, first.date) == ("jiji", "時事通信", "reply", "2024-01-02T03:04:05+00:00")
    assert (second.handle, second.account, second.parts[0].line) == ("", "99", 2)  # unresolved author: its id


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("pretty.json", '{"data": [\n  {"id": "1", "text": "あ"},\n  {"id": "2", "text": "い"}\n]}\n', ["Post", "Post"]),
        ("indented.json", json.dumps({"data": [{"id": "1", "text": "あ"}]}, indent=2), ["Post"]),
        ("lines.json", '{"id": "1", "te\n{"id": "2", "text": "い"}\n', ["Reject", "Post"]),
        ("compact.json", json.dumps({"data": [{"id": "1", "text": "あ"}, {"id": "2", "text": "い"}]}), ["Post", "Post"]),
        ("cut.jsonl", '{"data": [{"id": "1", "text": "あ"}, {"id": "2", "text": \n{"id": "3", "text": "う"}\n',
         ["Reject", "Post"]),
    ],
)
def test_json_document_or_json_lines(tmp_path, name, text, expected):
    dump = tmp_path / name
    dump.write_text(text, encoding="utf-8")
    assert [type(item).__name__ for item in read_posts(dump, on_error="skip")] == expected


def test_snscrape_falls_back_to_content_and_url():
    third = posts_of(FORMATS / "snscrape.jsonl")[2]
    assert third.handle == "old_scrape" and third.post_id == "1200000000000000003"
    assert third.account == ""


def test_archive_zip_and_tweets_js_agree_and_read_account():
    from_zip = posts_of(FORMATS / "twitter-archive.zip")
    from_js = posts_of(FORMATS / "archive" / "data" / "tweets.js")
    assert [(p.post_id, p.handle, p.account, p.kind, p.parts[0].text) for p in from_zip] == [
        (p.post_id, p.handle, p.account, p.kind, p.parts[0].text) for p in from_js
    ]
    assert from_zip[0].account == "アーカイブの持ち主"
    assert from_zip[2].parts[0].text.endswith("国民を守る気があるのか>>岸田")  # &gt; unescaped


def test_archive_parts_are_read_in_order(tmp_path):
    def part(n, texts):
        items = [{"tweet": {"id_str": str(n * 10 + i), "full_text": t, "created_at": "Mon Sep 11 03:00:00 +0000 2023"}}
                 for i, t in enumerate(texts)]
        return f"window.YTD.tweets.part{n} = " + json.dumps(items, ensure_ascii=False)

    archive = tmp_path / "twitter-2024.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("data/tweets-part1.js", part(1, ["三つ目", "四つ目"]))
        z.writestr("data/tweets.js", part(0, ["一つ目", "二つ目"]))
        z.writestr("data/tweetdeck.js", "window.YTD.tweetdeck.part0 = [{}]")
    posts = posts_of(archive)
    assert [p.parts[0].text for p in posts] == ["一つ目", "二つ目", "三つ目", "四つ目"]
    assert [p.record for p in posts] == [1, 2, 3, 4] and posts[0].handle == ""


def test_csv_multiline_cell_spans_its_lines_and_columns_are_found():
    posts = posts_of(FORMATS / "excel_cp932.csv")
    second = posts[1]
    assert (second.parts[0].line, second.parts[0].line_end) == (3, 4)
    assert second.parts[0].text == "また増税か！！\n国民をなめるな、絶対に許すな"
    assert [p.post_id for p in posts] == ["1", "2", "3"]


def test_csv_columns_by_option_and_case(tmp_path):
    dump = tmp_path / "d.csv"
    dump.write_text("Post ID,Who,Message Body,Posted\nx1,@abc,本日は晴天なり,2024年11月4日\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 1: no text column; the header has: 'Post ID', 'Who'"):
        list(read_posts(dump))
    post, = posts_of(dump, text_col="message body", id_col="Post ID", author_col="who", date_col="Posted")
    assert (post.post_id, post.handle, post.date, post.parts[0].text) == ("x1", "abc", "2024-11-04", "本日は晴天なり")


def test_plain_modes_and_line_breaks(tmp_path):
    dump = tmp_path / "p.txt"
    dump.write_bytes("一行目\r二行目\r\rつぎの段落\r".encode("utf-8"))
    assert [(p.parts[0].line, p.parts[0].text) for p in posts_of(dump)] == [(1, "一行目\n二行目"), (4, "つぎの段落")]
    assert [p.parts[0].line for p in posts_of(dump, input_format="lines")] == [1, 2, 4]
    lines = FORMATS / "plain_lines.txt"
    assert len(posts_of(lines, input_format="paragraphs")) == 1


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-be-bom", "cp932", "euc-jp"])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_every_encoding_and_line_break_gives_the_same_posts(tmp_path, encoding, newline):
    text = "政府は4日、新しい方針を発表した。\n自民党の幹事長は「丁寧に説明する」と述べた。\n\nふざけるな！ 国民をなめるな\n"
    data = text.replace("\n", newline)
    raw = (codecs_bom_be(data) if encoding == "utf-16-be-bom" else data.encode(encoding))
    dump = tmp_path / "dump.txt"
    dump.write_bytes(raw)
    assert [(p.parts[0].line, p.parts[0].text) for p in posts_of(dump)] == [
        (1, "政府は4日、新しい方針を発表した。\n自民党の幹事長は「丁寧に説明する」と述べた。"),
        (4, "ふざけるな！ 国民をなめるな"),
    ]


def codecs_bom_be(text: str) -> bytes:
    return b"\xfe\xff" + text.encode("utf-16-be")


def test_forced_encoding_and_replace(tmp_path):
    dump = tmp_path / "sjis.txt"
    dump.write_bytes("日本語の文章です。\n".encode("cp932"))
    assert posts_of(dump, encoding="shift_jis")[0].parts[0].text == "日本語の文章です。"
    with pytest.raises(InputError, match=r"byte offset 0: cannot decode as utf-8: byte 0x93 is invalid"):
        list(read_posts(dump, encoding="utf-8"))
    assert "\ufffd" in posts_of(dump, encoding="utf-8", errors="replace")[0].parts[0].text
    mixed = tmp_path / "mixed.txt"
    good = "正しいUTF-8の文章がここに十分に続いています。\n".encode()
    mixed.write_bytes(good + b"\xff\n")
    with pytest.raises(InputError, match=rf"byte offset {len(good)}: cannot decode as UTF-8: byte 0xff"):
        list(read_posts(mixed))
    assert posts_of(mixed, errors="replace")[1].parts[0].text == "\ufffd"


def test_decode_keeps_its_meaning():
    assert decode("\ufeffあ\r\nい".encode("utf-8"), "x") == "あ\r\nい"
    assert decode("あいう".encode("euc-jp"), "x") == "あいう"
    assert split_lines("a\r\nb\rc\nd\u2028e") == ["a", "b", "c", "d\u2028e"]


@pytest.mark.parametrize(
    "head, suffix, expected",
    [
        ("window.YTD.tweets.part0 = [", "", "tweets-js"),
        ('[{"tweet": {"full_text": "x"}}]', "", "tweets-js"),
        ('{"data": [{"id": "1", "text": "x"}], "includes": {}}', "", "x-api"),
        ('{"id": 1, "rawContent": "x", "user": {"username": "u"}}', "", "snscrape"),
        ("a,b\n1,2\n", ".csv", "csv"),
        ("id\ttext\n1\tこんにちは\n", "", "tsv"),
        ("id,本文,date\n1,こんにちは,2024-01-01\n", "", "csv"),
        ("本文\n— NHK (@nhk_news) November 4, 2024\n", "", "timeline"),
        ("ただの文章。, それだけ\n", "", "plain"),
        ("", "", "plain"),
    ],
)
def test_detect_format(head, suffix, expected):
    assert detect_format(head, suffix=suffix) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("November 4, 2024", "2024-11-04"),
        ("2024/11/04", "2024-11-04"),
        ("2024-11-04T09:12:00.000Z", "2024-11-04T09:12:00+00:00"),
        ("2024-11-04T09:12:00.250Z", "2024-11-04T09:12:00.250+00:00"),
        ("Mon Nov 04 09:12:00 +0000 2024", "2024-11-04T09:12:00+00:00"),
        ("2024/11/04 18:12", "2024-11-04T18:12:00"),
        ("2024年11月4日 18時12分", "2024-11-04T18:12:00"),
        ("1730711520", "2024-11-04T09:12:00+00:00"),
        (1730711520000, "2024-11-04T09:12:00+00:00"),
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_date(value, expected):
    assert normalize_date(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "2024-13-45", True, {"a": 1}])
def test_normalize_date_refuses_what_it_cannot_read(value):
    with pytest.raises(ValueError):
        normalize_date(value)


def test_segments_of_every_sample_have_unique_ids():
    for name, (options, expected) in SAMPLES.items():
        summary = ScoreSummary()
        segments = list(iter_segments(read_posts(FORMATS / name, **options), "d", summary))
        assert len({s.id for s in segments}) == len(segments), name
        assert summary.records_read == summary.records_scored == len(expected), name


# ---------------------------------------------------------------- the CLI, as a user runs it


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_every_format_scores_through_the_cli(tmp_path, name):
    options, expected = SAMPLES[name]
    dump = tmp_path / name
    shutil.copy(FORMATS / name, dump)
    flags = [x for key, value in options.items() for x in (f"--{key.replace('_', '-')}", value)]
    out = tmp_path / "scores.csv"
    result = run("score", dump, "-o", out, "--no-report", *flags)
    assert result.exit_code == 0, result.output
    rows = csv_rows(out)
    assert sorted({int(r["record"]) for r in rows}) == [e[0] for e in expected]
    assert all(0.0 <= float(r["p_wire"]) <= 1.0 and r["label"] in ("wire", "partisan") for r in rows)
    n = len(expected)
    assert f"records read {n}, scored {n}, rejected 0; segments {len(rows)}" in result.output


def test_standard_input(tmp_path):
    out = tmp_path / "stdin.jsonl"
    data = (FORMATS / "excel_cp932.csv").read_bytes()
    result = run("score", "-", "-o", out, input=data)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["stdin:2", "stdin:3", "stdin:5"]
    assert (tmp_path / "stdin.html").exists()


def readme_examples() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Input formats", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if "postcred score" in line]


def test_readme_documents_every_format():
    examples = " ".join(readme_examples())
    for name in SAMPLES:
        assert f"tests/data/formats/{name}" in examples, name
    assert "score -" in examples


@pytest.mark.parametrize("command", readme_examples())
def test_readme_examples_run(tmp_path, monkeypatch, command):
    monkeypatch.chdir(ROOT)
    stdin = None
    if "|" in command:
        feed, command = (part.strip() for part in command.split("|", 1))
        stdin = (ROOT / shlex.split(feed)[1]).read_bytes()
    args = shlex.split(command)[1:]
    out = args.index("-o") + 1
    args[out] = str(tmp_path / Path(args[out]).name)
    result = CliRunner().invoke(cli, args, input=stdin)
    assert result.exit_code == 0, result.output
    assert re.search(r"records read (\d+), scored (\d+), rejected (\d+)", result.output)
    assert Path(args[out]).exists()


def _read_all(path, **options) -> list:
    """Every post and reject of a dump, as plain values (or the error that stopped it)."""
    try:
        return [repr(item) for item in read_posts(path, on_error="skip", **options)]
    except InputError as exc:
        return [f"InputError: {exc}"]


JSON_CASES = {
    "x_api_search.json": lambda text: text,
    "compact.json": lambda text: json.dumps(json.loads(text), ensure_ascii=False),
    "pages.json": lambda text: json.dumps([json.loads(text)] * 3, ensure_ascii=False, indent=1),
    "cut.json": lambda text: json.dumps([json.loads(text)] * 3, ensure_ascii=False, indent=1)[:-900],
    "broken.json": lambda text: text.replace('"text":', '"text"', 1),
}


@pytest.mark.parametrize("name", list(JSON_CASES))
def test_json_documents_read_the_same_in_tiny_blocks(tmp_path, monkeypatch, name):
    """Documents are parsed as they are read, a block at a time: blocks of 7 characters
    (every value cut across blocks) give the same posts, rejects and errors as one read."""
    from classifier import formats

    path = tmp_path / name
    path.write_text(JSON_CASES[name]((FORMATS / "x_api_search.json").read_text(encoding="utf-8")), encoding="utf-8")
    whole = _read_all(path)
    monkeypatch.setattr(formats.JsonReader, "BLOCK", 7)
    assert _read_all(path) == whole
    assert whole and (name in ("cut.json", "broken.json")) == any("Reject(" in i or "Error" in i for i in whole)


def test_tweets_js_and_archive_read_the_same_in_tiny_blocks(monkeypatch):
    from classifier import formats

    whole = [_read_all(FORMATS / "twitter-archive.zip"), _read_all(FORMATS / "archive" / "data" / "tweets.js")]
    monkeypatch.setattr(formats.JsonReader, "BLOCK", 7)
    assert [_read_all(FORMATS / "twitter-archive.zip"), _read_all(FORMATS / "archive" / "data" / "tweets.js")] == whole


def test_a_response_on_one_long_line_is_read_as_a_document(tmp_path, monkeypatch):
    """A compact response too long to parse whole while telling the layout is a document,
    read post by post: the same posts as its pretty-printed form."""
    from classifier import formats
    from classifier.ingest import open_source

    compact = tmp_path / "compact.json"
    compact.write_text(json.dumps(json.loads((FORMATS / "x_api_search.json").read_text(encoding="utf-8")),
                                  ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(formats, "LONG_LINE", 100)
    with open_source(compact) as source:
        assert formats._layout(source) == "document"
    assert [repr(p) for p in posts_of(compact)] == [repr(p) for p in posts_of(FORMATS / "x_api_search.json")]
