"""The report's Campaigns view in a real browser (Debian's chromium through Playwright):
from a segment row to its campaign, the differing characters marked, a mark that survives
a reload and goes out with the review export, hostile text kept as text."""

from __future__ import annotations


import pytest
from click.testing import CliRunner

from classifier.campaigns import find_campaigns, PostRecord
from classifier.campaigns_view import CHANGED, diff_pieces
from classifier.cli import cli
from classifier.report import write_report
from tests.synthetic_campaigns import DumpGenerator, write_snscrape
from tests.test_browser import Page, browser, export, records  # noqa: F401  (the browser fixture)

from .conftest import csv_rows

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser):  # noqa: F811
    p = Page(browser)
    yield p
    p.context.close()


@pytest.fixture(scope="module")
def campaign_report(tmp_path_factory):
    """A generated dump with planted campaigns, scored by the CLI with its report."""
    folder = tmp_path_factory.mktemp("campaign-report")
    posts = DumpGenerator(seed=5).dump(organic=150, campaigns=2, accounts=(6, 8), share_button=6, puppets=8)
    dump = write_snscrape(posts, folder / "dump.jsonl")
    result = CliRunner().invoke(cli, ["score", str(dump), "-o", str(folder / "dump.scores.csv"), "-q"])
    assert result.exit_code == 0, result.output
    rows = csv_rows(folder / "dump.campaigns.csv")
    return folder / "dump.html", rows


def test_an_accounts_campaign_link_brings_the_campaign_into_view(page, campaign_report):
    """The Accounts view lists an account's campaigns (those score found): its link opens
    the campaign in the Campaigns view, on its page, in sight."""
    path, rows = campaign_report
    page.open(path)
    p = page.page
    last = rows[-1]["campaign"]  # the last campaign: on the view's last page when it has several
    handle = next(r["handle"] for r in rows if r["campaign"] == last)
    p.fill("#a-search", handle)
    p.click(f'tr.account[data-handle="{handle}"] button.open-account')
    link = p.locator(f'tr.account[data-handle="{handle}"] + tr.account-detail a.campaign-link[data-campaign="{last}"]')
    assert link.text_content() == f"campaign {last}" and link.get_attribute("href") == f"#campaign-{last}"
    p.select_option("#c-kind", "copypasta")  # a filter the link clears
    link.click()
    article = p.locator(f"article#campaign-{last}")
    assert "target" in article.get_attribute("class")
    assert article.evaluate("a => { const r = a.getBoundingClientRect(); return r.top < innerHeight && r.bottom > 0; }")
    assert p.input_value("#c-kind") == ""


def test_from_a_segment_row_to_its_campaign_and_a_mark_in_the_export(page, campaign_report, tmp_path):
    path, rows = campaign_report
    page.open(path)
    p = page.page
    first = rows[0]  # C0001, the largest campaign: its first post
    members = [r for r in rows if r["campaign"] == first["campaign"]]
    later = members[-1]
    # the segment list: find a later post of the campaign and follow its link
    p.fill("#f-search", later["id"])
    # Wait for the search to apply (it waits for typing to pause), so that its redraw does
    # not come after the click below.
    p.wait_for_function("id => { const rows = [...document.querySelectorAll('#segment-rows tr.segment')];"
                        " return rows.length >= 1 && rows.every(r => r.dataset.id.includes(id)); }", arg=later["id"])
    link = p.locator(f'tr.segment[data-id="{later["id"]}"] button.campaign-link')
    assert link.text_content() == f"campaign {first['campaign']}"
    link.click()
    article = p.locator(f"article#campaign-{first['campaign']}")
    assert "target" in article.get_attribute("class")
    assert article.evaluate("a => { const r = a.getBoundingClientRect(); return r.top < innerHeight && r.bottom > 0; }")
    # the differing characters of the later post are marked, as difflib found them
    expected = [t for kind, t in diff_pieces(first["text"], later["text"]) if kind == CHANGED]
    assert expected
    shown = article.locator(f'tr.campaign-post[data-id="{later["id"]}"] mark.diff').all_text_contents()
    assert shown == expected
    assert article.locator(f'tr.campaign-post[data-id="{first["id"]}"] mark.diff').count() == 0
    # from the campaign back to the segment list
    article.locator(f'tr.campaign-post[data-id="{first["id"]}"] button.show-segment').click()
    assert p.evaluate("document.querySelector('tr.segment.focused').dataset.id") == first["id"]

    # mark it coordinated; the mark survives a reload and goes out with the export
    article.locator("button.mark-coordinated").click()
    assert article.get_attribute("data-mark") == "coordinated"
    assert not p.is_disabled("#b-export")  # a mark alone is worth an export
    p.reload()
    p.wait_for_selector("html[data-ready=true]")
    article = p.locator(f"article#campaign-{first['campaign']}")
    assert article.locator("button.mark-coordinated").get_attribute("aria-pressed") == "true"
    p.select_option("#c-mark", "coordinated")
    assert p.locator("article.campaign").count() == 1
    lines = export(p, tmp_path)
    assert len(lines) == 1
    mark = lines[0]
    assert (mark["kind"], mark["campaign"], mark["first_id"], mark["mark"]) == \
        ("campaign", first["campaign"], first["id"], "coordinated")
    assert mark["ids"] == [r["id"] for r in members] and mark["text"] == first["text"]
    assert mark["report_id"] == p.get_attribute("meta[name=postcred-report-id]", "content")
    # review merge reads the export, counts the mark and trains on nothing of it
    (tmp_path / "labels").mkdir()
    merged = CliRunner().invoke(cli, ["review", "merge", str(tmp_path / "corrections.jsonl"), "--labels",
                                      str(tmp_path / "labels"), "--dry-run"])
    assert merged.exit_code == 0, merged.output
    assert "campaign marks 1" in merged.output and "added 0" in merged.output
    page.clean()


BODY = "みんなで拡散しよう、政府の嘘を許すな！今すぐ声を上げて、この国を守るために立ち上がろう。黙っていたら何も変わらない"
HOSTILE = [
    "<img src=x onerror=alert(1)>" + BODY,
    "<img src=y onerror=alert(2)>" + BODY + "！",
    "</script><script>alert(3)</script>" + BODY,
]


def test_hostile_campaign_text_is_shown_as_text(page, tmp_path):
    rows = [{"id": f"h:{k}", "dump": "h", "line": k, "line_end": k, "record": k, "post_id": str(k),
             "account": f"<b>acct{k}</b>", "handle": f"h{k}", "date": f"2024-11-04T10:0{k}:00+09:00", "role": "post",
             "kind": "post", "text": text, "p_wire": 0.1, "label": "partisan"} for k, text in enumerate(HOSTILE)]
    scored = records(rows)
    found = find_campaigns(PostRecord.from_segment(r) for r in scored)
    assert len(found.campaigns) == 1
    page.open(write_report(tmp_path / "hostile.html", scored, title="hostile", campaigns=found))
    p = page.page
    assert p.locator("article.campaign img, article.campaign script, article.campaign b").count() == 0
    texts = p.eval_on_selector_all("article.campaign .campaign-text", """boxes => boxes.map(box => {
        const copy = box.cloneNode(true);
        copy.querySelectorAll("del").forEach(d => d.remove());  // the first post's characters this one lacks
        return copy.textContent;
    })""")
    assert texts == [post.text for post in found.campaigns[0].posts] and len(texts) == 3
    assert p.locator("article.campaign mark.diff").count() > 0
    page.clean()
