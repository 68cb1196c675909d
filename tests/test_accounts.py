"""Accounts over time: generated dumps with planted behaviour, scored with the real CLI,
then `postcred accounts` on the scores file; the statistics against reference values."""

from __future__ import annotations

import csv
import doctest
import json
from collections import defaultdict
from datetime import date, timedelta

import pytest

from classifier import account_stats, accounts, scorefile
from classifier.account_stats import poisson_tail, theil_sen_slope, two_proportion_p, wilson_interval
from classifier.accounts import BURST_MIN_HISTORY, account_tables
from classifier.technique_counts import parse_technique_counts

from .accounts_dumps import BURST_DAY, BURST_POSTS, DAYS, START, SWITCH_DAY, plan, read_csv, run


@pytest.fixture(scope="module")
def planned():
    return plan()


@pytest.fixture(scope="module")
def scored(account_dumps):
    return account_dumps


def days_of(rows, handle):
    return {row["date"]: row for row in rows if row["handle"] == handle}


def day(offset: int) -> str:
    return (START + timedelta(days=offset)).isoformat()


@pytest.mark.parametrize("dump", ["timed", "dayonly"])
def test_an_account_that_turns_partisan_mid_period_is_seen_day_by_day_and_flagged(scored, dump):
    tables = scored[dump]
    turncoat = days_of(tables["days"], "turncoat")
    assert len(turncoat) == DAYS
    before = [float(row["partisan_share"]) for d, row in turncoat.items() if d < day(SWITCH_DAY)]
    after = [float(row["partisan_share"]) for d, row in turncoat.items() if d >= day(SWITCH_DAY)]
    assert len(before) == SWITCH_DAY and len(after) == DAYS - SWITCH_DAY
    assert max(before) <= 0.2 and min(after) >= 0.8
    row = tables["accounts"]["turncoat"]
    assert row["changed"] == "true"
    assert float(row["share_first_half"]) <= 0.2 and float(row["share_second_half"]) >= 0.8
    assert float(row["change"]) > 0.6 and float(row["change_p"]) < 1e-6
    assert float(row["trend_per_week"]) > 0.1
    assert [name for name, r in tables["accounts"].items() if r["changed"] == "true"] == ["turncoat"]


@pytest.mark.parametrize("dump", ["timed", "dayonly"])
def test_a_planted_burst_day_is_flagged_and_no_steady_day_is(scored, dump):
    tables = scored[dump]
    bursts = [(row["handle"], row["date"]) for row in tables["days"] if row["burst"] == "true"]
    assert bursts == [("burster", day(BURST_DAY))]
    burst_row = days_of(tables["days"], "burster")[day(BURST_DAY)]
    assert int(burst_row["posts"]) == BURST_POSTS and float(burst_row["burst_p"]) < 0.001
    assert tables["accounts"]["burster"]["bursts"] == "1"
    assert tables["accounts"]["steady"]["bursts"] == "0"
    steady = days_of(tables["days"], "steady")
    assert all(row["burst"] == "false" for row in steady.values())
    # Days with too little history have no baseline; the rest do.
    assert all(row["baseline"] == "" for d, row in steady.items() if d < day(BURST_MIN_HISTORY))
    assert all(float(row["baseline"]) >= 1 for d, row in steady.items() if d >= day(BURST_MIN_HISTORY))


def test_posts_per_day_follow_the_plan_in_japan_time(scored, planned):
    """snscrape gives UTC times: cut in Asia/Tokyo they land on the planned days, which the
    day-only timeline gives directly."""
    expected = defaultdict(int)
    for post in planned:
        expected[(post.handle, post.day)] += 1
    for dump in ("timed", "dayonly"):
        got = {(row["handle"], row["date"]): int(row["posts"]) for row in scored[dump]["days"]}
        assert got == dict(expected)


def test_timed_dumps_have_hours_and_day_only_dumps_say_they_have_none(scored, planned):
    timed, dayonly = scored["timed"], scored["dayonly"]
    assert f"hours in Asia/Tokyo ({len(planned)} posts with a time)" in timed["output"]
    assert "dates are day-only (no times): no hours" in dayonly["output"]
    assert all(row["timed_posts"] == "0" and row["hours"] == "" for row in dayonly["days"])
    hours = defaultdict(int)
    for post in planned:
        hours[(post.handle, post.day, post.local.hour)] += 1
    for row in timed["days"]:
        cells = dict(item.split(":") for item in row["hours"].split("; "))
        assert {int(h): int(n) for h, n in cells.items()} == {
            h: n for (handle, d, h), n in hours.items() if handle == row["handle"] and d == row["date"]
        }


def test_the_model_reads_the_planned_texts_as_labeled(scored, planned):
    """The fixture's premise: the labeled texts score clearly on their side."""
    labels = {row["text"]: row["label"] for row in read_csv(scored["timed"]["scores"])}
    agree = sum(labels[p.text] == p.label for p in planned)
    assert agree >= 0.98 * len(planned)


def test_account_rows_count_posts_and_shares(scored, planned):
    rows = scored["timed"]["accounts"]
    assert list(rows) == ["turncoat", "steady", "burster"]  # most posts first
    scores = read_csv(scored["timed"]["scores"])
    for handle, row in rows.items():
        mine = [r for r in scores if r["handle"] == handle]  # one segment per post in this dump
        partisan = sum(float(r["p_wire"]) < 0.5 for r in mine)
        assert int(row["posts"]) == len(mine) == int(row["segments"]) == sum(p.handle == handle for p in planned)
        assert row["first_date"] == START.isoformat() and row["last_date"] == day(DAYS - 1)
        assert float(row["partisan_share"]) == round(partisan / len(mine), 4)
        low, high = wilson_interval(partisan, len(mine))
        assert (float(row["partisan_low"]), float(row["partisan_high"])) == (round(low, 4), round(high, 4))
        assert float(row["mean_p_wire"]) == pytest.approx(sum(float(r["p_wire"]) for r in mine) / len(mine), abs=1e-4)
        assert float(row["posts_per_active_day"]) == round(len(mine) / DAYS, 4)
        assert row["display_name"] and row["timed_posts"] == row["posts"]


def test_time_zone_option_moves_posts_between_days(scored, tmp_path, planned):
    result = run("accounts", scored["timed"]["scores"], "-o", tmp_path, "--tz", "UTC")
    assert result.exit_code == 0, result.output
    utc = defaultdict(int)
    for post in planned:
        utc[(post.handle, post.local.astimezone(accounts.time_zone("UTC")).date().isoformat())] += 1
    got = {(row["handle"], row["date"]): int(row["posts"]) for row in read_csv(tmp_path / "timed.account_days.csv")}
    assert got == dict(utc)
    assert run("accounts", scored["timed"]["scores"], "-o", tmp_path, "--tz", "Mars/Olympus").exit_code == 2


def test_jsonl_scores_and_in_memory_rows_give_the_csv_tables(scored, tmp_path):
    """The tables are a function of the scored rows, whichever form they come in."""
    from classifier import json_row, score_file

    dump = scored["timed"]["dump"]
    scores = tmp_path / "again.jsonl"
    assert run("score", dump, "-o", scores, "--no-report", "--no-accounts").exit_code == 0
    assert not (tmp_path / "again.accounts.csv").exists()
    assert run("accounts", scores, "-o", tmp_path).exit_code == 0
    from_jsonl = read_csv(tmp_path / "again.account_days.csv")
    assert from_jsonl == scored["timed"]["days"]
    records, _ = score_file(dump)
    rows = [json_row(record) for record in records]
    tables = account_tables(rows)
    as_text = [{k: ("" if v is None else ("true" if v is True else "false" if v is False else str(v)))
                for k, v in row.items()} for row in tables.accounts]
    assert as_text == list(scored["timed"]["accounts"].values())
    # A Dask engine's Parquet partitions (JSON text in the nested columns) read the same.
    pq = pytest.importorskip("pyarrow.parquet")
    from classifier.writers import parquet_table

    folder = tmp_path / "parts"
    folder.mkdir()
    for index, start in enumerate(range(0, len(records), 300)):
        pq.write_table(parquet_table(records[start:start + 300]), folder / f"part-{index:05d}.parquet")
    assert run("accounts", folder).exit_code == 0
    assert read_csv(folder / "parts.account_days.csv") == scored["timed"]["days"]


def test_change_threshold_and_minimum_posts_per_half(scored, tmp_path):
    result = run("accounts", scored["timed"]["scores"], "-o", tmp_path, "--min-half-posts", "200")
    assert result.exit_code == 0, result.output
    rows = {row["handle"]: row for row in read_csv(tmp_path / "timed.accounts.csv")}
    assert rows["turncoat"]["change"] == "" and rows["turncoat"]["changed"] == "false"
    result = run("accounts", scored["timed"]["scores"], "-o", tmp_path, "--change-threshold", "0.001", "--force")
    rows = {row["handle"]: row for row in read_csv(tmp_path / "timed.accounts.csv")}
    assert {h for h, r in rows.items() if r["changed"] == "true"} == {
        h for h, r in rows.items() if abs(float(r["change"])) > 0.001 and float(r["change_p"]) < 0.01
    } == {"turncoat"}  # the others' halves differ by chance: p well above 0.01


def test_a_small_account_is_not_flagged_for_a_chance_swing():
    """Six posts a half, 2 then 5 partisan: a move of 0.5, but p = 0.08 (chance)."""
    rows = [segment(i, "a", f"2024-03-{1 + i // 2:02d}", 0.1 if flag else 0.9)
            for i, flag in enumerate([1, 0, 0, 1, 0, 0, 1, 1, 1, 1, 1, 0])]
    (row,) = account_tables(rows).accounts
    assert row["change"] == 0.5 and 0.01 < row["change_p"] < 0.1 and row["changed"] is False


# ---------------------------------------------------------------- hand-made rows


def segment(post: int, handle: str, when: str, p_wire: float, *, role="post", techniques=None, line=None) -> dict:
    return {"id": f"d:{line or post}", "dump": "d", "record": post, "post_id": f"p{post}", "account": handle.upper(),
            "handle": handle, "date": when, "role": role, "kind": "post", "p_wire": p_wire,
            "techniques": techniques or {}}


def test_a_post_counts_once_with_its_own_text_score_and_words():
    rows = [
        segment(1, "a", "2024-03-04", 0.9, techniques={"Sourcing": 1}),
        segment(1, "a", "2024-03-04", 0.1, role="body", techniques={"Loaded_Language": 3}, line=2),
        segment(1, "a", "2024-03-04", 0.2, role="hashtags", techniques={"Slogans": 1}, line=3),
        segment(2, "a", "2024-03-05", 0.2, techniques={"Flag-Waving": 2}),
    ]
    tables = account_tables(rows)
    (row,) = tables.accounts
    assert (row["posts"], row["segments"]) == (2, 4)
    assert row["mean_p_wire"] == pytest.approx((0.9 + 0.2) / 2)
    assert row["partisan_share"] == 0.5
    assert row["top_techniques"] == "Flag-Waving:2; Slogans:1"  # the body's Loaded_Language is the article's
    assert row["marker_share"] == 1.0 and row["sourced_share"] == 0.5


def test_bursts_need_history_a_baseline_and_five_posts():
    rows, post = [], 0
    base = date(2024, 1, 1)
    counts = [9] + [1] * 13 + [4] + [1] * 5 + [6] + [0, 0] + [30]
    for offset, count in enumerate(counts):
        for _ in range(count):
            post += 1
            rows.append(segment(post, "a", (base + timedelta(days=offset)).isoformat(), 0.9))
    days = {row["date"]: row for row in account_tables(rows).days}
    first = days[base.isoformat()]
    assert first["baseline"] is None and first["burst"] is False  # no history: not tested
    four = days[(base + timedelta(days=14)).isoformat()]
    assert four["baseline"] == 1.0 and four["burst"] is False  # p = 0.019, and fewer than 5 posts
    six = days[(base + timedelta(days=20)).isoformat()]
    assert six["burst_p"] == pytest.approx(poisson_tail(6, 1.0), rel=1e-2) and six["burst"] is True
    last = days[(base + timedelta(days=23)).isoformat()]
    assert last["baseline"] == 1.0 and last["burst"] is True


def test_undated_posts_and_accounts_without_handles():
    rows = [segment(1, "", "", 0.1), segment(2, "b", "not a date", 0.8), segment(3, "b", "2024-03-04T10:00:00", 0.8)]
    rows[0]["account"] = ""
    tables = account_tables(rows, tz="UTC")
    by_handle = {row["handle"]: row for row in tables.accounts}
    assert by_handle["(unknown)"]["undated_posts"] == 1 and by_handle["(unknown)"]["active_days"] == 0
    assert by_handle["b"]["undated_posts"] == 1 and by_handle["b"]["timed_posts"] == 1
    assert [(row["handle"], row["date"], row["hours"]) for row in tables.days] == [("b", "2024-03-04", "10:1")]
    assert "2 posts without a date" in tables.note()


# ---------------------------------------------------------------- statistics


def test_statistics_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    for k, rate in [(5, 1.0), (6, 1.0), (25, 2.0), (3, 3.0), (1, 0.5), (400, 150.0), (12, 30.0)]:
        assert poisson_tail(k, rate) == pytest.approx(stats.poisson.sf(k - 1, rate), rel=1e-9, abs=1e-300)
    xs, ys = [0, 1, 2, 3, 5, 8], [0.1, 0.0, 0.4, 0.9, 0.7, 1.0]
    assert theil_sen_slope(xs, ys) == pytest.approx(stats.theilslopes(ys, xs).slope)
    assert theil_sen_slope([4], [1.0]) is None
    for a, n, b, m in [(2, 20, 12, 20), (0, 84, 84, 84), (30, 61, 25, 65)]:
        reference = stats.chi2_contingency([[a, n - a], [b, m - b]], correction=False).pvalue
        assert two_proportion_p(a, n, b, m) == pytest.approx(reference, rel=1e-6, abs=1e-300)
    assert two_proportion_p(0, 5, 0, 9) == 1.0
    for successes, trials in [(0, 5), (5, 5), (42, 100)]:
        low, high = wilson_interval(successes, trials)
        reference = stats.binomtest(successes, trials).proportion_ci(method="wilson")
        assert (low, high) == pytest.approx((reference.low, reference.high))


def test_module_examples_hold():
    for module in (account_stats, accounts, scorefile):
        assert doctest.testmod(module).failed == 0


# ---------------------------------------------------------------- bad input


def test_a_file_that_is_no_scores_file_is_one_error_line(tmp_path):
    bad = tmp_path / "notes.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    result = run("accounts", bad)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {bad}, line 1: not a postcred scores file: missing columns id, post_id, account, handle, date, role, p_wire"
    )
    assert not list(tmp_path.glob("notes.*.csv"))


def test_a_bad_p_wire_names_its_line(scored, tmp_path):
    lines = scored["timed"]["scores"].read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = next(csv.reader([lines[3]]))
    cells[header.index("p_wire")] = "1.7"
    bad = tmp_path / "bad.csv"
    with open(bad, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *csv.reader(lines[1:3]), cells])
    result = run("accounts", bad, "--sqlite", tmp_path / "bad.sqlite", "--parquet", tmp_path / "pq")
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {bad}, line 4: p_wire must lie between 0 and 1, got 1.7"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]  # a failed run leaves no output


def test_broken_jsonl_scores_name_the_line(tmp_path):
    bad = tmp_path / "s.jsonl"
    row = {"id": "x:1", "post_id": "1", "account": "", "handle": "h", "date": "", "role": "post", "p_wire": 0.5}
    bad.write_text(json.dumps(row) + "\n{oops\n", encoding="utf-8")
    result = run("accounts", bad)
    assert result.exit_code == 1
    assert result.output.strip().startswith(f"Error: {bad}, line 2: not valid JSON")


def test_existing_tables_need_force(scored, tmp_path):
    scores = scored["timed"]["scores"]
    assert run("accounts", scores, "-o", tmp_path).exit_code == 0
    again = run("accounts", scores, "-o", tmp_path)
    assert again.exit_code == 1
    assert again.output.strip() == f"Error: {tmp_path / 'timed.accounts.csv'}: already exists; use --force to replace it"
    assert run("accounts", scores, "-o", tmp_path, "--force").exit_code == 0


def planted_rows(seed: int = 3) -> list[dict]:
    """1,500 posts of 40 accounts over 60 days: times, day-only dates and no dates, a
    technique or two (as counts, or as a CSV cell that may list a count of 0), a body
    paragraph now and then."""
    import random

    rng = random.Random(seed)
    rows = []
    for post in range(1, 1501):
        handle = f"acct{rng.randrange(40):02d}"
        day_ = date(2024, 1, 1) + timedelta(days=rng.randrange(60))
        when = rng.choice([f"{day_}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00+09:00", day_.isoformat(), ""])
        techniques = {name: rng.randrange(3) for name in rng.sample(["Doubt", "Slogans", "Sourcing", "Flag-Waving"],
                                                                    rng.randrange(3))}
        if rng.random() < 0.5:  # as a scores CSV cell, which keeps a count of 0 (Doubt:0)
            techniques = "; ".join(f"{name}:{count}" for name, count in techniques.items())
        rows.append(segment(post, handle, when, round(rng.random(), 4), techniques=techniques))
        if rng.random() < 0.1:
            rows.append(segment(post, handle, when, 0.5, role="body", techniques={"Doubt": 1}, line=10_000 + post))
    return rows


def test_account_days_match_a_direct_count_however_the_ledger_is_cut(tmp_path, monkeypatch):
    """The account-day rows equal a direct count of the posts, in table order; cutting the
    on-disk ledger into many blocks and reading it back a few rows at a time changes
    nothing; its temporary files are gone from their folder."""
    rows = planted_rows()
    expected: dict[tuple[str, str], list] = defaultdict(lambda: [0, 0, 0.0, 0, defaultdict(int), defaultdict(int)])
    posts_of: dict[str, int] = defaultdict(int)
    for row in rows:
        if row["role"] != "post":
            continue
        posts_of[row["handle"]] += 1
        if not row["date"]:
            continue
        day_, hour = accounts.local_day_hour(row["date"], accounts.time_zone("Asia/Tokyo"))
        tally = expected[(row["handle"], day_.isoformat())]
        tally[0] += 1
        tally[1] += hour is not None
        tally[2] += row["p_wire"]
        tally[3] += row["p_wire"] < 0.5
        listed = row["techniques"]
        for name, count in (parse_technique_counts(listed) if isinstance(listed, str) else listed).items():
            if count or isinstance(listed, str):  # a CSV cell lists a 0; counts in memory drop it
                tally[4][name] += count
        if hour is not None:
            tally[5][hour] += 1
    order = sorted(expected, key=lambda key: (-posts_of[key[0]], key[0], key[1]))

    default = account_tables(rows, folder=tmp_path)
    assert [(row["handle"], row["date"]) for row in default.days] == order
    for row in default.days:
        posts, timed, p_sum, partisan, techniques, hours = expected[(row["handle"], row["date"])]
        assert (row["posts"], row["timed_posts"]) == (posts, timed)
        assert row["mean_p_wire"] == pytest.approx(p_sum / posts, abs=1e-4)
        assert row["partisan_share"] == round(partisan / posts, 4)
        ranked = sorted(techniques.items(), key=lambda item: (-item[1], item[0]))
        assert row["techniques"] == "; ".join(f"{name}:{count}" for name, count in ranked)
        assert row["hours"] == "; ".join(f"{hour:02d}:{n}" for hour, n in sorted(hours.items()))
    assert list(tmp_path.iterdir()) == []  # unlinked as soon as they were open

    monkeypatch.setattr(accounts.DayLedger, "BLOCK", 7)
    monkeypatch.setattr(accounts, "WINDOW_ROWS", 5)
    cut = account_tables(rows, folder=tmp_path)
    assert list(cut.accounts) == list(default.accounts)
    assert list(cut.days) == list(default.days) == list(cut.days)  # read twice: the same rows


def test_account_rows_read_back_from_disk_are_the_rows(tmp_path, monkeypatch):
    """Past a block of rows the account rows wait on disk: iterating, indexing and the
    note read the same rows as when they all stay in memory."""
    rows = planted_rows(seed=5)
    kept = account_tables(rows, folder=tmp_path)
    monkeypatch.setattr(accounts.AccountRows, "BLOCK", 3)
    spilled = account_tables(rows, folder=tmp_path)
    assert len(spilled.accounts) == len(kept.accounts) == 40
    assert list(spilled.accounts) == list(kept.accounts)
    assert [spilled.accounts[k] for k in (0, 4, 39, -1)] == [kept.accounts[k] for k in (0, 4, 39, -1)]
    assert spilled.note() == kept.note()
    with pytest.raises(IndexError):
        spilled.accounts[40]
    assert list(tmp_path.iterdir()) == []
