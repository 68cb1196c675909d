"""Campaign detection as a library: normalization, planted campaigns among organic posts,
shuffled controls, order independence, time figures and kinds."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from classifier.campaign_sketch import match_text
from classifier.campaigns import (
    CampaignFinder,
    CampaignParams,
    PostRecord,
    find_campaigns,
    parse_time,
)
from classifier.errors import OutputError
from classifier.technique_counts import technique_counts_of
from tests.synthetic_campaigns import DumpGenerator, shuffled_copy

BASE = "政府は国民の声を聞かずに増税を決めた。こんな横暴を許してはいけない。今すぐ撤回を求めよう"


def record(text: str, handle: str, date: str = "", *, p_wire: float | None = 0.1, role: str = "post",
           post_id: str | None = None, techniques=()) -> PostRecord:
    post_id = post_id or f"{handle}-{abs(hash((text, date))) % 10**8}"
    return PostRecord(id=f"dump:{post_id}", post_id=post_id, account=handle.upper(), handle=handle, date=date,
                      role=role, kind="post", text=text, p_wire=p_wire, label="wire" if (p_wire or 0) >= 0.5 else "partisan",
                      techniques=tuple(techniques))


@pytest.fixture(scope="module")
def dump():
    return DumpGenerator(seed=11).dump(organic=1500, campaigns=5, accounts=(5, 12), share_button=30)


@pytest.fixture(scope="module")
def found(dump):
    return find_campaigns(PostRecord.from_row(post.to_row()) for post in dump)


# ---------------------------------------------------------------- normalization


@pytest.mark.parametrize(
    "a, b",
    [
        ("ＡＢＣ　テスト", "abc テスト"),  # NFKC and case folding
        ("RT @someone: 拡散希望です", "拡散希望です"),  # a leading RT @x: goes
        ("見て https://t.co/abc123 これ", "見て これ"),  # URLs go
        ("@user1 @user2 ふざけるな", "ふざけるな"),  # mentions go
        ("許さない❤️", "許さない❤"),  # presentation selectors do not count
        ("改行\n\nと  空白", "改行 と 空白"),  # white space collapses
    ],
)
def test_normalization_makes_these_the_same(a, b):
    assert match_text(a).text == match_text(b).text


@pytest.mark.parametrize("a, b", [("許さない🔥", "許さない💢"), ("許さない🇯🇵", "許さない🇺🇸"), ("#増税反対", "#増税賛成")])
def test_normalization_keeps_emoji_and_hashtags_apart(a, b):
    assert match_text(a).text != match_text(b).text


def test_an_emoji_is_one_token():
    plain, family = match_text("あいう"), match_text("あいう👨‍👩‍👧")
    assert len(family.text) == len(plain.text) + 1
    assert match_text("ok https://x.com/a").had_url and not match_text("ok").had_url


# ---------------------------------------------------------------- planted campaigns


def test_planted_campaigns_are_found_and_organic_posts_are_not(dump, found):
    group = {post.post_id: post.group for post in dump}
    planted = Counter(post.group for post in dump if post.planted)
    landed = Counter()
    organic_in = 0
    for campaign in found.campaigns:
        groups = Counter(group[post.post_id] for post in campaign.posts)
        top, count = groups.most_common(1)[0]
        if top.startswith("campaign:") and count / len(campaign.posts) >= 0.9:
            landed[top] += count
        organic_in += sum(n for g, n in groups.items() if g == "" or g.startswith("headline:"))
        if top.startswith("campaign:"):
            assert campaign.kind == "copypasta"
    assert sum(landed.values()) / sum(planted.values()) >= 0.9, (landed, planted)
    organic = sum(1 for post in dump if post.group == "" or post.group.startswith("headline:"))
    assert organic_in / organic < 0.01


def test_share_button_posts_are_flagged_as_share_templates(dump, found):
    share_posts = {post.post_id for post in dump if post.group.startswith("share:")}
    for campaign in found.campaigns:
        ids = {post.post_id for post in campaign.posts}
        if ids <= share_posts:
            assert campaign.kind == "share_template"
    kinds = [campaign.kind for campaign in found.campaigns]
    assert kinds == sorted(kinds, key=("copypasta", "share_template").index), "share templates are ranked last"


def test_shuffled_controls_yield_nothing(dump):
    rng = random.Random(5)
    controls = [shuffled_copy(post, rng) for post in dump if post.planted]
    assert len(controls) > 20
    assert find_campaigns(PostRecord.from_row(post.to_row()) for post in controls).campaigns == ()


def test_copies_with_small_edits_match_and_the_first_post_leads():
    texts = [BASE, BASE.replace("横暴", "暴挙") + "🔥", "@abc " + BASE[:-2] + "う!", BASE + " https://t.co/x"]
    records = [record(text, f"acct{i}", f"2024-11-04T09:00:{10 * i:02d}+00:00") for i, text in enumerate(texts)]
    (campaign,) = find_campaigns(records).campaigns
    assert [post.handle for post in campaign.posts] == ["acct0", "acct1", "acct2", "acct3"]
    assert campaign.posts[0].similarity == 1.0 and campaign.posts[3].similarity == 1.0
    assert all(0.6 <= post.similarity < 1.0 for post in campaign.posts[1:3])


def test_the_same_account_repeating_itself_is_no_campaign():
    records = [record(BASE, "solo", f"2024-11-04T09:0{i}:00+00:00", post_id=str(i)) for i in range(5)]
    assert find_campaigns(records).campaigns == ()
    (campaign,) = find_campaigns(records, CampaignParams(min_accounts=1)).campaigns
    assert len(campaign.posts) == 5 and campaign.accounts == 1


def test_short_texts_and_other_roles_are_left_out():
    records = [record("増税反対!!", f"a{i}") for i in range(5)]
    records += [record(BASE, f"b{i}", role="body") for i in range(5)]
    result = find_campaigns(records)
    assert result.campaigns == ()
    assert result.counts["too_short"] == 5 and result.counts["other_roles"] == 5
    assert len(find_campaigns(records[:5], CampaignParams(min_chars=5)).campaigns) == 1


def test_threshold_decides_what_matches():
    edited = BASE[:20] + "あ" + BASE[21:40] + "い" + BASE[41:]
    records = [record(BASE, "a"), record(edited, "b")]
    assert len(find_campaigns(records).campaigns) == 1
    assert find_campaigns(records, CampaignParams(threshold=0.95)).campaigns == ()


# ---------------------------------------------------------------- order and chunking


def signature(result) -> list:
    return [(c.id, c.kind, tuple(p.post_id for p in c.posts), c.first, c.fast_pairs) for c in result.campaigns]


def test_same_campaigns_whatever_the_order_and_chunking(dump, found):
    records = [PostRecord.from_row(post.to_row()) for post in dump]
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    small_chunks = find_campaigns(shuffled, CampaignParams(chunk_size=97))
    halves = [CampaignFinder(), CampaignFinder()]
    for i, rec in enumerate(shuffled):
        halves[i % 2].add([rec])
    merged = halves[1].merge(halves[0]).finish()
    assert signature(small_chunks) == signature(found) == signature(merged)
    assert found.campaigns, "the dump has campaigns to compare"


def test_finders_that_spilled_to_disk_merge_into_the_same_campaigns(dump, found, tmp_path):
    """Finders of small chunks put their sketches in temporary files as they go; merged
    (files copied into the other's), they find what one pass in memory found, and leave
    no file in their folder, whether they finish or are given up."""
    records = [PostRecord.from_row(post.to_row()) for post in dump]
    params = CampaignParams(chunk_size=150)
    halves = [CampaignFinder(params, folder=tmp_path), CampaignFinder(params, folder=tmp_path)]
    for i, rec in enumerate(records):
        halves[i % 3 == 0].add([rec])
    for half in halves:
        half._flush()
    assert all(half._store is not None and half._store.texts > 0 for half in halves), "both halves spilled"
    merged = halves[0].merge(halves[1]).finish()
    assert signature(merged) == signature(found)
    assert [c.posts for c in merged.campaigns] == [c.posts for c in found.campaigns]
    given_up = CampaignFinder(params, folder=tmp_path)
    given_up.add(records[:400])
    given_up.close()
    assert list(tmp_path.iterdir()) == []


def test_pairs_put_aside_and_checked_a_range_at_a_time_find_the_same_campaigns(dump, found, tmp_path, monkeypatch):
    """The candidate pairs go to disk when the in-memory buffer fills and come back a
    range of texts at a time, each range checked and joined into the groups found so far:
    with a tiny buffer and tiny ranges (many of each), the same campaigns and the same
    counts of candidate, checked and matching pairs as one range held in memory."""
    import classifier.campaigns as campaigns

    monkeypatch.setattr(campaigns, "PAIR_BUFFER", 64)
    monkeypatch.setattr(campaigns, "PAIR_PART_TEXTS", 50)
    monkeypatch.setattr(campaigns, "PAIR_RANGE_PAIRS", 100)
    finder = CampaignFinder(folder=tmp_path)
    finder.add(PostRecord.from_row(post.to_row()) for post in dump)
    pieces, ranges = [], []
    original_add, original_ranges = campaigns.PairSpill.add, campaigns.PairSpill.ranges
    monkeypatch.setattr(campaigns.PairSpill, "add", lambda self, pairs: pieces.append(pairs.size) or original_add(self, pairs))

    def counted_ranges(self, most):
        for pairs in original_ranges(self, most):
            ranges.append(pairs.size)
            yield pairs

    monkeypatch.setattr(campaigns.PairSpill, "ranges", counted_ranges)
    ranged = finder.finish()
    assert len(pieces) > 3, "the buffer was put aside several times"
    assert len(ranges) > 3 and sum(ranges) == found.counts["candidate_pairs"], "read back a range at a time"
    assert signature(ranged) == signature(found)
    assert [c.posts for c in ranged.campaigns] == [c.posts for c in found.campaigns]
    assert ranged.counts == found.counts and found.counts["matching_pairs"] > 0
    assert list(tmp_path.iterdir()) == []


def test_campaigns_described_a_few_posts_at_a_time_are_the_same(dump, found, tmp_path, monkeypatch):
    """The campaigns are described a batch of their posts at a time, each batch's columns
    read from disk apart: batches of 5 posts (most campaigns a batch of their own, some
    split across none) give the same campaigns, posts and numbers as one batch."""
    import classifier.campaigns as campaigns

    monkeypatch.setattr(campaigns, "DESCRIBE_POSTS", 5)
    batches = []
    original = campaigns._batches
    monkeypatch.setattr(campaigns, "_batches", lambda members, posts: (batches.append(len(b)) or b
                                                                       for b in original(members, posts)))
    finder = CampaignFinder(folder=tmp_path)
    finder.add(PostRecord.from_row(post.to_row()) for post in dump)
    batched = finder.finish()
    assert len(batches) > 3 and sum(batches) == len(found.campaigns)
    assert signature(batched) == signature(found)
    assert [c.posts for c in batched.campaigns] == [c.posts for c in found.campaigns]
    assert [list(c.posts) for c in batched.campaigns] == [[c.posts[k] for k in range(len(c.posts))]
                                                          for c in found.campaigns]


def test_a_folder_that_cannot_hold_the_temporary_files_is_one_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    finder = CampaignFinder(CampaignParams(chunk_size=1), folder=blocker / "sub")
    with pytest.raises(OutputError, match="cannot write the temporary files of campaign detection"):
        finder.add([record(BASE, "a")])


def test_merging_needs_the_same_parameters():
    with pytest.raises(ValueError, match="different parameters"):
        CampaignFinder().merge(CampaignFinder(CampaignParams(threshold=0.7)))


# ---------------------------------------------------------------- time and kinds


def test_times_span_gap_and_fast_pairs():
    seconds = [0, 30, 50, 200, 1000]
    records = [record(BASE, f"acct{i}", f"2024-11-04T09:{s // 60:02d}:{s % 60:02d}+09:00") for i, s in enumerate(seconds)]
    records.append(record(BASE + "!", "acct0", "2024-11-04T09:00:20+09:00"))  # the same account again
    (c,) = find_campaigns(records).campaigns
    assert (c.time_unit, c.span, c.first, c.last) == ("s", 1000, "2024-11-04T09:00:00+09:00", "2024-11-04T09:16:40+09:00")
    # first posts per account 0, 30, 50, 200, 1000: gaps 30, 20, 150, 800
    assert c.median_gap == 90.0
    # pairs of different accounts within 60 s: (0,30) (0,50) (20,30) (20,50) (30,50); not (0,20), one account
    assert c.fast_pairs == 5
    assert [p.offset for p in c.posts] == [0, 20, 30, 50, 200, 1000]
    assert find_campaigns(records, CampaignParams(fast_seconds=10)).campaigns[0].fast_pairs == 1  # (20, 30)


def test_day_only_dates_say_so_and_count_days():
    records = [record(BASE, f"acct{i}", f"2024-11-0{d}") for i, d in enumerate((4, 4, 6))]
    result = find_campaigns(records)
    (c,) = result.campaigns
    assert (c.time_unit, c.span, c.median_gap, c.fast_pairs) == ("day", 2, 1.0, None)
    assert result.time_resolution == "day"
    undated = find_campaigns([record(BASE, "a"), record(BASE, "b")])
    assert undated.time_resolution == "none" and undated.campaigns[0].span is None


def test_headline_with_link_from_many_readers_is_a_share_template():
    headline = "政府、物価高対策で新たな給付を検討 来月にも決定へ https://t.co/abcdef"
    share = [record(headline, f"reader{i}", p_wire=0.93) for i in range(6)]
    push = [record(BASE, f"bot{i}", p_wire=0.05, techniques=[("Loaded_Language", 2)]) for i in range(3)]
    result = find_campaigns(share + push)
    assert [(c.kind, c.accounts) for c in result.campaigns] == [("copypasta", 3), ("share_template", 6)]
    assert result.campaigns[0].top_techniques == "Loaded_Language:6"
    assert result.campaigns[1].median_p_wire == 0.93 and result.campaigns[1].url_share == 1.0
    low = [record(headline, f"reader{i}", p_wire=0.2) for i in range(3)]
    assert find_campaigns(low).campaigns[0].kind == "copypasta"


# ---------------------------------------------------------------- records


def test_records_from_csv_and_jsonl_rows():
    csv_row = {"id": "d:1", "post_id": "1", "account": "A", "handle": "a", "date": "2024-11-04", "role": "post",
               "kind": "post", "text": BASE, "p_wire": "0.25", "label": "partisan",
               "techniques": "Name_Calling,Labeling:2; Slogans:1"}
    rec = PostRecord.from_row(csv_row)
    assert rec.p_wire == 0.25 and rec.techniques == (("Name_Calling,Labeling", 2), ("Slogans", 1))
    assert PostRecord.from_row({**csv_row, "techniques": {"Slogans": 1}, "p_wire": 0.25}).techniques == (("Slogans", 1),)
    assert PostRecord.from_row({**csv_row, "handle": ""}).account_key == "A"
    assert technique_counts_of("") == {} and technique_counts_of(["Doubt", "Doubt"]) == {"Doubt": 2}
    with pytest.raises(ValueError, match="techniques"):
        technique_counts_of("nonsense")
    with pytest.raises(ValueError, match="techniques"):
        PostRecord.from_row({**csv_row, "techniques": "nonsense"})


@pytest.mark.parametrize("value, expected", [
    ("2024-11-04", (1730678400, True)),
    ("2024-11-04T09:00:00+09:00", (1730678400, False)),
    ("2024-11-04T00:00:00", (1730678400, False)),
    ("2024-11-04T00:00:00Z", (1730678400, False)),
])
def test_parse_time(value, expected):
    assert parse_time(value) == expected


def test_a_bad_date_is_an_error():
    with pytest.raises(ValueError, match="not an ISO 8601 date"):
        find_campaigns([record(BASE, "a", "yesterday")])


def test_posts_of_fewer_accounts_than_a_campaign_needs_are_not_compared():
    """Without authors (every post's account is "") or with one account, no group could
    reach min_accounts: the pairs are not compared at all, and no campaign comes out, as
    when they are compared; with two accounts the same texts make a campaign."""
    texts = [BASE + f"{k % 3}" for k in range(30)]

    def finder_counts(handles):
        found = find_campaigns(record(t, h, post_id=f"p{k}") for k, (t, h) in enumerate(zip(texts, handles)))
        return found.campaigns, found.counts

    for handles in ([""] * 30, ["solo"] * 30):
        campaigns, counts = finder_counts(handles)
        assert campaigns == () and counts["accounts"] == 1 and "candidate_pairs" not in counts
    campaigns, counts = finder_counts(["a", "b"] * 15)
    assert len(campaigns) == 1 and len(campaigns[0].posts) == 30 and counts["accounts"] == 2
    assert counts["matching_pairs"] > 0
