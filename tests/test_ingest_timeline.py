"""The pasted-timeline format: posts, roles, and no line lost or duplicated."""

from __future__ import annotations

from collections import Counter

import pytest

from classifier.ingest import parse_attribution, parse_timeline, read_posts
from classifier.scoring import ScoreSummary, iter_segments
from classifier.source import Reject


def segments_of(path):
    return list(iter_segments(read_posts(path), path.stem, ScoreSummary()))


def covered_lines(segments):
    return Counter(n for s in segments for n in range(s.line, s.line_end + 1))


@pytest.mark.parametrize("name", ["seed", "timeline_other.txt"])
def test_every_nonempty_line_is_in_exactly_one_segment(name, seed_path, data_dir):
    path = seed_path if name == "seed" else data_dir / name
    lines = path.read_text(encoding="utf-8").splitlines()
    segments = segments_of(path)
    attribution = {i + 1 for i, line in enumerate(lines) if parse_attribution(line)}
    expected = {i + 1 for i, line in enumerate(lines) if line.strip()} - attribution
    counts = covered_lines(segments)
    assert set(counts) == expected
    assert max(counts.values()) == 1
    # The text of each segment is made of exactly the lines it claims.
    for s in segments:
        claimed = [lines[k - 1].strip() for k in range(s.line, s.line_end + 1) if lines[k - 1].strip()]
        assert s.text == "\n".join(claimed)


def test_seed_posts_accounts_and_dates(seed_path):
    posts = list(read_posts(seed_path))
    assert len(posts) == 9
    assert [p.handle for p in posts] == [
        "nhk_news", "ReutersJapan", "nhk_news", "ReutersJapan", "ReutersJapan",
        "Reloaded7701", "ShortShort_News", "ReutersJapan", "Reloaded7701",
    ]
    assert posts[5].account == "morpheus🪖Reloaded⚔️地滑り的勝利への覚醒🏆"
    assert posts[0].date == "2024-11-04" and posts[3].date == "2024-11-05"


def test_seed_roles(seed_path):
    by_line = {s.line: s for s in segments_of(seed_path)}
    assert by_line[1].role == "post" and by_line[5].role == "body"
    assert by_line[21].role == "hashtags" and by_line[21].account == "NHKニュース"
    # The rest of a partisan post after its attribution, ending in pic.twitter.com, is post text.
    assert by_line[36].role == "post" and by_line[36].handle == "Reloaded7701"
    assert (by_line[39].line_end, by_line[39].role) == (42, "post")
    assert (by_line[53].line_end, by_line[53].role) == (54, "post")
    assert by_line[55].role == "hashtags" and by_line[56].role == "hashtags"
    assert by_line[56].hashtags == ["反ロシア", "対中露戦"]
    assert by_line[43].account == "ロイター"


def test_segment_fields(seed_path):
    segments = segments_of(seed_path)
    first = segments[0]
    assert first.id == "timeline_nhk_reuters_partisan_2024-11-04:1"
    assert first.urls == ["https://t.co/pxfWRAZr2C"]
    assert first.hashtags == ["nhk_news"]
    assert len({s.id for s in segments}) == len(segments)
    pic = next(s for s in segments if s.line == 39)
    assert pic.urls == ["pic.twitter.com/7DlO78WpsI"]


def test_other_dump_in_same_layout(data_dir):
    segments = segments_of(data_dir / "timeline_other.txt")
    accounts = Counter(s.handle for s in segments)
    assert accounts == {"nhk_news": 4, "ReutersJapan": 2, "truth_jp_2025": 3}
    multi = next(s for s in segments if s.handle == "truth_jp_2025" and s.role == "post")
    assert multi.text.startswith("🔥🔥また増税かよ") and multi.line_end == multi.line + 1
    assert multi.hashtags == ["増税反対", "拡散希望"]
    assert next(s for s in segments if s.text == "#財務省解体").role == "hashtags"
    assert {s.date for s in segments if s.handle == "truth_jp_2025"} == {"2025-01-25"}


@pytest.mark.parametrize(
    "line, expected",
    [
        ("— NHKニュース (@nhk_news) November 4, 2024", ("NHKニュース", "nhk_news", "2024-11-04")),
        ("— 🇯🇵真実★の会 (@a_b) Nov 5, 2024", ("🇯🇵真実★の会", "a_b", "2024-11-05")),
        ("- Name (@x) 2024年11月4日", ("Name", "x", "2024-11-04")),
        ("— 何か (@handle) と言った", None),
        ("― 引用 (@someone) だけ", None),
        ("ロイター (@ReutersJapan) November 4, 2024", None),
    ],
)
def test_parse_attribution(line, expected):
    assert parse_attribution(line) == expected


def test_text_without_any_attribution_is_one_rejected_record():
    """Read as a timeline, lines with no attribution line anywhere are not dropped: they
    are one record, refused, saying why (before, the dump read as empty)."""
    reject, = parse_timeline("\nただの文章\nもう一行", "x")
    assert isinstance(reject, Reject) and (reject.record, reject.line, reject.raw) == (1, 2, "\nただの文章\nもう一行")
    assert reject.reason.startswith("no attribution line")


@pytest.mark.parametrize(
    "text, urls, hashtags, mentions",
    [
        ("詳細は https://x.com/a#b と @nhk_news ＃拡散希望 #NHK", ["https://x.com/a#b"], ["拡散希望", "NHK"], ["nhk_news"]),
        ("ＵＲＬ：ｈｔｔｐｓ：／／ｔ．ｃｏ／ａｂｃ　＠ｕｓｅｒ", ["https://t.co/abc"], [], ["user"]),
        ("pic.twitter.com/9WrR7KU1kE #a #a", ["pic.twitter.com/9WrR7KU1kE"], ["a", "a"], []),
        ("メールは a@b ではない。比率は1/2", [], [], []),
        ("エンティティのない普通の文。", [], [], []),
    ],
)
def test_extract_entities(text, urls, hashtags, mentions):
    from classifier.segment import extract_entities

    assert extract_entities(text) == (urls, hashtags, mentions)


@pytest.mark.parametrize(
    "line, hashtags",
    [
        ("#拡散 #話題", True),
        ("＃全角のタグ ＃もう一つ", True),  # the full-width number sign, as typed on a Japanese keyboard
        ("\ufe5f小さい番号記号", True),  # the small number sign: NFKC makes it "#" too
        ("#タグ と本文", False),
        ("#", False),
        ("本文だけの行", False),
    ],
)
def test_hashtag_lines_in_a_plain_dump(tmp_path, line, hashtags):
    dump = tmp_path / "lines.txt"
    dump.write_text(f"{line}\n", encoding="utf-8")
    (post,) = read_posts(dump, input_format="lines")
    assert post.parts[0].role == ("hashtags" if hashtags else "post")


def _random_timeline(rng) -> str:
    """A timeline whose stretches between attributions are now short, now long runs of
    lines with or without blank lines among them, before the first attribution too."""
    lines = []
    for k in range(rng.randint(1, 8)):
        for _ in range(rng.choice([0, 1, 2, rng.randint(5, 60)])):
            lines.append("" if rng.random() < rng.choice([0.0, 0.1, 0.5]) else
                         rng.choice(["本文の段落です。", "#拡散希望", "写真 pic.twitter.com/abc", "続きの文"]) * rng.randint(1, 4))
        lines.append(f"— 記者{k} (@user{k}) Nov {k + 1}, 2024")
    for _ in range(rng.choice([0, 3, 40])):
        lines.append(rng.choice(["", "後の段落。", "#タグ"]))
    return "\n".join(lines) + "\n"


def test_a_region_too_long_to_hold_refuses_its_post_and_changes_no_other(monkeypatch):
    """With the held lines between attributions capped (here to a few hundred characters
    and a few dozen lines), every record still comes out once, in order; a record that is
    a post is the same post as when everything is held; the others are refused, saying
    why.  Which records are refused is all that the cap may change."""
    import random

    from classifier import ingest

    texts = [_random_timeline(random.Random(seed)) for seed in range(300)]
    wholes = [list(parse_timeline(text, "x")) for text in texts]
    monkeypatch.setattr(ingest, "MAX_REGION_CHARS", 150)
    monkeypatch.setattr(ingest, "MAX_REGION_LINES", 12)
    monkeypatch.setattr(ingest, "MAX_RECORD_CHARS", 60)
    refused = 0
    for seed, (text, whole) in enumerate(zip(texts, wholes)):
        capped = list(parse_timeline(text, "x"))
        assert [i.record for i in capped] == [i.record for i in whole], seed
        for held, kept in zip(whole, capped):
            if isinstance(kept, Reject) and not isinstance(held, Reject):
                refused += 1
                assert kept.reason and kept.raw, seed
            else:
                assert kept == held, seed
    assert refused > 100  # the cap was reached, in many ways


def test_a_huge_stretch_between_attributions_is_refused_and_the_next_post_read(monkeypatch):
    """Past the cap, the post whose lines run on is refused with their length and the
    line they end on; the next post's text (after the last blank line) is read as usual."""
    from classifier import ingest

    monkeypatch.setattr(ingest, "MAX_REGION_CHARS", 200)
    body = "\n".join(f"段落{k}。" * 5 for k in range(100))
    text = f"最初の投稿\n— A (@a) Nov 4, 2024\n{body}\n\n次の投稿の本文\n— B (@b) Nov 4, 2024\n"
    first, second = parse_timeline(text, "x")
    assert isinstance(first, Reject) and first.record == 1 and first.line == 2
    end = 2 + 100 + 1
    assert first.reason.startswith(f"{len(body) + 2:,} characters of lines after its attribution (to line {end}); ")
    assert first.raw.startswith("— A (@a) Nov 4, 2024\n段落0。") and "more characters, not kept]" in first.raw
    assert [p.text for p in second.parts] == ["次の投稿の本文"] and second.handle == "b"


@pytest.mark.parametrize("case", ["no blank line", "to the end"])
def test_a_refused_post_counts_only_its_own_lines(case, monkeypatch):
    """With no blank line, the next post's text is the last line before its attribution,
    and the refused post's lines stop above it; after the last attribution, every line
    is the last post's."""
    from classifier import ingest

    monkeypatch.setattr(ingest, "MAX_REGION_CHARS", 200)
    body = "\n".join(f"段落{k}。" * 5 for k in range(100))
    tail = "次の投稿の本文\n— B (@b) Nov 4, 2024\n" if case == "no blank line" else ""
    text = f"最初の投稿\n— A (@a) Nov 4, 2024\n{body}\n{tail}"
    first, *rest = parse_timeline(text, "x")
    assert isinstance(first, Reject)
    assert first.reason.startswith(f"{len(body) + 1:,} characters of lines after its attribution (to line 102); ")
    if case == "no blank line":
        assert [p.text for p in rest[0].parts] == ["次の投稿の本文"]
    else:
        assert rest == []


@pytest.mark.parametrize("text", [
    "最初\n— A (@a) Nov 4, 2024\n" + "\n" * 40 + "次\n— B (@b) Nov 4, 2024\n",
    "最初\n— A (@a) Nov 4, 2024\n" + "\n" * 40 + "— B (@b) Nov 4, 2024\n",
    "\n" * 40 + "本文だけ\n",
    "\n" * 40 + "本文\n— A (@a) Nov 4, 2024\n" + "\n \n" * 30,
])
def test_blank_lines_do_not_fill_the_held_lines(text, monkeypatch):
    """A run of blank lines is held as one line (where it lies is all that counts), so
    blank lines alone never reach the cap (here 12 lines): the records are those read
    when every line is held."""
    from classifier import ingest

    whole = list(parse_timeline(text, "x"))
    monkeypatch.setattr(ingest, "MAX_REGION_LINES", 12)
    assert list(parse_timeline(text, "x")) == whole
