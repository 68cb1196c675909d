"""The report's Accounts view: the account tables as a sortable, paged list whose opened
accounts draw their charts; in a real browser (Debian's chromium) on a generated dump
scored by the CLI, and on a 5,000-account report that must leave the review list one
click from the top."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from bs4 import BeautifulSoup

from classifier.report import render_report, write_report
from classifier.scored import from_json_row

from .accounts_dumps import BURST_DAY, BURST_POSTS, DAYS, START, read_csv, run
from .test_browser import browser, page  # noqa: F401  (fixtures)


def view_data(html: str) -> dict:
    soup = BeautifulSoup(html, "html.parser")
    return json.loads(soup.find("script", id="accounts-data").string)


def segment_row(i: int, handle: str, when: str, p_wire: float, *, name: str = "", techniques=None) -> dict:
    return {"id": f"gen:{i}", "dump": "gen", "line": i, "line_end": i, "record": i, "post_id": f"gen:post{i}",
            "account": name or handle, "handle": handle, "date": when, "role": "post", "kind": "post",
            "text": f"投稿 {i}", "urls": [], "hashtags": [], "mentions": [], "p_wire": p_wire,
            "label": "wire" if p_wire >= 0.5 else "partisan", "top_tokens": [], "evidence": [], "markers": [],
            "techniques": techniques or {}}


def test_the_view_replaces_the_account_and_technique_tables_and_escapes_names():
    hostile = '</script><img src=x onerror=alert(1)>'
    rows = [segment_row(i, "evil" if i % 2 else "calm", f"2024-03-{1 + i:02d}T10:00:00+09:00", 0.2 if i % 2 else 0.9,
                        name=hostile if i % 2 else "静かな人", techniques={"Flag-Waving": 1} if i % 2 else {})
            for i in range(10)]
    html = render_report([from_json_row(r) for r in rows], title="accounts")
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find(id="account-summary") is None and soup.find(id="technique-table") is None
    assert [a["href"] for a in soup.select("nav#sections a")] == ["#overview", "#charts", "#accounts", "#campaigns",
                                                                  "#review"]
    assert soup.find("img") is None and "<img" not in html.replace("&lt;img", "")
    data = view_data(html)
    accounts = {values[0]: dict(zip(data["fields"], values)) for values in data["accounts"]}
    assert accounts["evil"]["name"] == hostile and accounts["evil"]["share"] == 1.0
    assert accounts["evil"]["techniques"] == [["Flag-Waving", 5]]
    # days: offset, posts, partisan posts, burst; heat: weekday * 24 + hour, posts
    assert accounts["calm"]["days"][:8] == [0, 1, 0, 0, 2, 1, 0, 0]
    heat = accounts["calm"]["heat"]
    expected = Counter(datetime(2024, 3, 1 + i).weekday() * 24 + 10 for i in range(0, 10, 2))
    assert dict(zip(heat[::2], heat[1::2])) == expected
    assert data["tz"] == "Asia/Tokyo" and data["day_only"] is False


@pytest.fixture(scope="module")
def timed_report(account_dumps, tmp_path_factory):
    """The generated timed dump scored by the CLI with its report (two processes)."""
    folder = tmp_path_factory.mktemp("accounts-report")
    result = run("score", account_dumps["timed"]["dump"], "-o", folder / "timed.csv", "--jobs", "2", "-q")
    assert result.exit_code == 0, result.output
    return folder / "timed.html", read_csv(folder / "timed.csv")


def shown_handles(p) -> list[str]:
    return p.eval_on_selector_all("#account-rows tr.account", "rows => rows.map(r => r.dataset.handle)")


def test_accounts_sort_open_and_filter_the_review_list(page, timed_report):  # noqa: F811
    path, scores = timed_report
    page.open(path)
    p = page.page
    assert shown_handles(p) == ["turncoat", "steady", "burster"]  # most posts first
    p.click("#accounts-table button.sort[data-sort=change]")
    assert shown_handles(p)[0] == "turncoat"
    p.click("#accounts-table button.sort[data-sort=bursts]")
    assert shown_handles(p)[0] == "burster"
    p.check("#a-changed")
    assert shown_handles(p) == ["turncoat"]
    p.uncheck("#a-changed")

    p.click('tr.account[data-handle="burster"] button.open-account')
    detail = p.locator("tr.account-detail")
    assert detail.count() == 1
    bars = detail.locator("rect.day-bar")
    assert bars.count() == DAYS
    burst = detail.locator("rect.day-bar.burst")
    assert burst.count() == 1
    assert burst.get_attribute("data-date") == START.fromordinal(START.toordinal() + BURST_DAY).isoformat()
    assert burst.get_attribute("data-posts") == str(BURST_POSTS)
    cells = detail.locator("rect.heat-cell")
    assert cells.count() == 7 * 24
    burster_posts = sum(int(c) for c in cells.evaluate_all("cs => cs.map(c => c.dataset.count)"))
    assert burster_posts == len({r["post_id"] for r in scores if r["handle"] == "burster"})
    assert detail.locator("g.technique-bar").count() >= 1

    p.click('tr.account[data-handle="turncoat"] button.open-account')
    turncoat = p.locator('tr.account[data-handle="turncoat"] + tr.account-detail')
    shares = turncoat.locator("circle.day-share").evaluate_all("cs => cs.map(c => parseFloat(c.getAttribute('cy')))")
    assert len(shares) == DAYS and shares[0] > shares[-1]  # partisan share rises: the dot climbs
    turncoat.locator("button.show-segments").click()
    expected = sum(r["handle"] == "turncoat" for r in scores)
    assert page.count() == expected
    assert p.is_visible("#account-filter") and p.text_content("#account-filter-text bdi") == "turncoat"
    assert p.evaluate("document.getElementById('review').getBoundingClientRect().top") < 200
    p.click("#b-clear-account")
    assert page.count() == len(scores)
    page.clean()


def many_accounts(n_accounts: int = 5_000, seed: int = 5) -> list[dict]:
    """Scored rows of ``n_accounts`` accounts, three to eight posts each over a month, with times."""
    rng = random.Random(seed)
    start = datetime(2024, 5, 1, tzinfo=timezone(timedelta(hours=9)))
    rows, i = [], 0
    for a in range(n_accounts):
        lean = rng.random()
        for _ in range(rng.randint(3, 8)):
            when = start + timedelta(days=rng.randrange(30), hours=rng.randrange(24))
            p_wire = round(min(1.0, max(0.0, rng.gauss(lean, 0.2))), 4)
            rows.append(segment_row(i, f"user{a:04d}", when.isoformat(), p_wire,
                                    techniques={"Loaded_Language": 1} if p_wire < 0.3 else {}))
            i += 1
    return rows


def test_five_thousand_accounts_leave_the_review_list_one_click_away(page, tmp_path):  # noqa: F811
    rows = many_accounts()
    path = write_report(tmp_path / "many.html", [from_json_row(r) for r in rows], title="5,000 accounts")
    size = path.stat().st_size
    started = time.monotonic()
    page.open(path)
    p = page.page
    opened = time.monotonic() - started
    paint = p.evaluate("performance.getEntriesByType('paint').map(e => [e.name, Math.round(e.startTime)])")
    assert p.text_content("#accounts-count").endswith("of 5,000 accounts")
    assert p.locator("#account-rows tr.account").count() == 25
    top = p.evaluate("document.getElementById('review').offsetTop")
    print(f"5,000-account report: {size / 1e6:.1f} MB, {len(rows):,} segments, ready in {opened:.2f} s, "
          f"paint {paint}, review section at {top} px")
    assert top < 5_000, top  # the account list is paged: the review section stays near the top
    p.click('nav#sections a[href="#review"]')
    assert p.evaluate("Math.abs(document.getElementById('review').getBoundingClientRect().top)") < 5
    p.locator("#accounts-pager button.page").last.click()
    assert p.text_content("#accounts-count").startswith("page 2 of 200")
    page.clean()


def test_the_view_lists_the_accounts_with_the_most_posts_and_says_how_many_it_left_out(monkeypatch):
    """A dump of more accounts than the view lists: the first ones by posts, each with its
    own days (an account of undated posts among them has none), and a note of the total."""
    from classifier import report_accounts

    plan = {"a": 6, "b": 5, "c": 4, "d": 3, "e": 2}
    rows, i = [], 0
    for handle, posts in plan.items():
        for k in range(posts):
            i += 1
            when = "" if handle == "b" else f"2024-03-{1 + k:02d}T10:00:00+09:00"
            rows.append(segment_row(i, handle, when, 0.2 if k % 2 else 0.9))
    records = [from_json_row(r) for r in rows]
    full_html = render_report(records, title="all")
    full = view_data(full_html)
    assert "with the most posts, of" not in BeautifulSoup(full_html, "html.parser").find(id="accounts-note").get_text()
    monkeypatch.setattr(report_accounts, "REPORT_ACCOUNTS", 3)
    html = render_report(records, title="capped")
    capped = view_data(html)
    assert [values[0] for values in capped["accounts"]] == ["a", "b", "c"]
    assert capped["accounts"] == full["accounts"][:3] and (capped["total"], full["total"]) == (5, 5)
    by_handle = {values[0]: dict(zip(capped["fields"], values)) for values in capped["accounts"]}
    assert by_handle["b"]["days"] == [] and len(by_handle["c"]["days"]) == 4 * 4  # four days, four numbers each
    note = BeautifulSoup(html, "html.parser").find(id="accounts-note").get_text(" ", strip=True)
    assert "The list shows the 3 accounts with the most posts, of 5" in note
