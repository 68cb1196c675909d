"""The report in a real browser: Debian's chromium driven by Playwright.

Nothing is downloaded: Playwright launches ``/usr/bin/chromium`` (``scripts/setup.sh
--browser`` installs it with apt).  Without it these tests skip on a workstation and fail
in CI (where ``CI`` is set), so CI can never pass without running them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from classifier.cli import cli
from classifier.labels import load_labels
from classifier.report import SCRIPTS, write_report
from classifier.scored import from_json_row, json_row

from .conftest import LABELS, ROOT, jsonl_rows

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("POSTCRED_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]

# Records what must never happen on a report page: a script, handler or style the policy
# had to block (an injection that reached the DOM), or a dialog.  Installed before any page
# script runs.
WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found; install it with `sudo apt-get install chromium` (or `bash scripts/setup.sh --browser`)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Page:
    """A page in a fresh browser context (its own localStorage), or in ``context`` (another
    tab of that browser profile), with everything bad it saw."""

    def __init__(self, browser, context=None) -> None:
        if context is None:
            context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
            context.add_init_script(WATCH)
        self.context = context
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))

    def open(self, path: Path) -> None:
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_selector("html[data-ready=true]", timeout=60_000)

    def count(self) -> int:
        return int(self.page.get_attribute("#match-count", "data-count"))

    def ids(self) -> list[str]:
        return self.page.eval_on_selector_all("#segment-rows tr.segment", "rows => rows.map(r => r.dataset.id)")

    def clean(self) -> None:
        assert self.errors == [] and self.dialogs == []
        assert self.page.evaluate("window.__violations") == []


@pytest.fixture
def page(browser):
    p = Page(browser)
    yield p
    p.context.close()


@pytest.fixture(scope="module")
def seed_report(tmp_path_factory, seed_path):
    """The seed scored by the real CLI with the shipped model: (report path, score rows)."""
    folder = tmp_path_factory.mktemp("seed-report")
    result = CliRunner().invoke(cli, ["score", str(seed_path), "-o", str(folder / "seed.jsonl")])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (folder / "seed.jsonl").read_text(encoding="utf-8").splitlines()]
    return folder / "seed.html", rows


def records(rows: list[dict]) -> list:
    """Scored records from rows written as in a JSONL scores file."""
    return [from_json_row(row) for row in rows]


def norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def test_filters_search_sort_and_posts(page, seed_report):
    path, rows = seed_report
    page.open(path)
    p = page.page
    assert page.count() == 43 and len(page.ids()) == 43

    p.select_option("#f-label", "partisan")
    partisan = [r["id"] for r in rows if r["label"] == "partisan"]
    assert page.ids() == partisan and partisan

    p.select_option("#f-label", "")
    p.select_option("#f-account", "ロイター")
    assert page.count() == sum(r["account"] == "ロイター" for r in rows) == 25

    p.select_option("#f-role", "body")
    assert page.ids() == [r["id"] for r in rows if r["account"] == "ロイター" and r["role"] == "body"]

    p.click("#b-reset")
    p.fill("#f-search", "北朝鮮 ｸﾙｽｸ")  # every word must match; half-width kana match after NFKC
    p.wait_for_selector('#match-count:not([data-count="43"])')  # (wait_for_function would need eval)
    expected = [r["id"] for r in rows if "北朝鮮" in r["text"] and "クルスク" in norm(r["text"])]
    assert page.ids() == expected and expected

    p.click("#b-reset")
    p.fill("#f-pmin", "0.85")
    assert page.ids() == [r["id"] for r in rows if r["p_wire"] >= 0.85]
    p.fill("#f-pmax", "0.87")
    assert page.ids() == [r["id"] for r in rows if 0.85 <= r["p_wire"] <= 0.87]

    p.click("#b-reset")
    p.click("button.sort[data-sort=p_wire]")
    p_of = {r["id"]: r["p_wire"] for r in rows}
    shown = [p_of[i] for i in page.ids()]
    assert shown == sorted(shown) and shown[0] == min(p_of.values())
    p.click("button.sort[data-sort=p_wire]")
    shown = [p_of[i] for i in page.ids()]  # ties may come in either order; the values may not
    assert shown == sorted(shown, reverse=True) and shown[0] == max(p_of.values())
    p.click("button.sort[data-sort=account]")
    accounts = p.eval_on_selector_all("#segment-rows tr.segment td.acct > div:first-child", "d => d.map(x => x.textContent)")
    runs = [a for i, a in enumerate(accounts) if i == 0 or accounts[i - 1] != a]
    assert len(runs) == len(set(accounts)) == 4  # each account's segments together

    p.click("#b-queue")
    certainty = sorted(rows, key=lambda r: (abs(r["p_wire"] - 0.5), rows.index(r)))
    assert page.ids() == [r["id"] for r in certainty]
    p.click("#b-reset")  # the queue's order goes too
    assert page.ids() == [r["id"] for r in rows]
    assert p.input_value("#f-sort") == "line" and p.input_value("#f-status") == ""

    techniques = {t for r in rows for t in r.get("techniques", {})}
    if techniques:
        technique = sorted(techniques)[0]
        p.select_option("#f-marker", f"t:{technique}")
        assert page.ids() == [r["id"] for r in rows if technique in r.get("techniques", {})]

    # a body paragraph opens its whole post, article paragraphs included
    p.click("#b-reset")
    body = next(r for r in rows if r["role"] == "body")
    p.locator(f'tr.segment[data-id="{body["id"]}"] button.open-post').click()
    post = p.locator("details.post[open]")
    assert post.count() == 1
    siblings = [r["id"] for r in rows if r["post_id"] == body["post_id"]]
    assert post.locator("tr.segment").evaluate_all("rows => rows.map(r => r.dataset.id)") == siblings
    assert len(siblings) > 2
    page.clean()


def export(p, folder: Path, name: str = "corrections.jsonl", key: str | None = None) -> list[dict]:
    """Press the export button (or a key) and read the downloaded file."""
    with p.expect_download() as info:
        if key:
            p.keyboard.press(key)
        else:
            p.click("#b-export")
    download = info.value
    assert download.suggested_filename == "corrections.jsonl"
    path = folder / name
    download.save_as(path)
    return jsonl_rows(path)


def focused(p) -> str | None:
    return p.evaluate("(document.querySelector('tr.segment.focused') || {dataset: {}}).dataset.id || null")


def test_review_reload_export_and_merge(page, seed_report, tmp_path):
    path, rows = seed_report
    page.open(path)
    p = page.page
    report_id = p.get_attribute("meta[name=postcred-report-id]", "content")
    model_hash = p.get_attribute("meta[name=postcred-model-hash]", "content")

    p.click("#b-queue")  # least certain first
    first, second, third = page.ids()[:3]
    by_id = {r["id"]: r for r in rows}
    other = {"wire": "partisan", "partisan": "wire"}
    p.locator(f'tr.segment[data-id="{second}"] input.note').fill("見出しだが煽り")  # a note keeps it in the queue
    p.locator(f'tr.segment[data-id="{first}"] button.correct').click()
    p.locator(f'tr.segment[data-id="{second}"] button.correct').click()
    p.locator(f'tr.segment[data-id="{third}"] button.skip').click()
    assert third not in page.ids()
    p.click("#b-undo")  # the toast's undo brings it back, undecided
    assert page.ids()[0] == third and page.count() == 41
    assert p.text_content("#progress").startswith("Reviewed 2 of 43 segments: 0 confirmed, 2 corrected, 0 skipped · 1 notes")

    p.reload()
    p.wait_for_selector("html[data-ready=true]")
    assert p.get_attribute("#progress", "data-reviewed") == "2"
    for seg in (first, second):
        row = p.locator(f'tr.segment[data-id="{seg}"]')
        assert row.get_attribute("data-status") == "correct"
        assert row.locator("button.correct").get_attribute("aria-pressed") == "true"
    assert p.locator(f'tr.segment[data-id="{second}"] input.note').input_value() == "見出しだが煽り"
    assert p.locator(f'tr.segment[data-id="{third}"]').get_attribute("data-status") == "unreviewed"
    p.select_option("#f-status", "correct")
    assert sorted(page.ids()) == sorted([first, second])

    lines = export(p, tmp_path)
    exported = tmp_path / "corrections.jsonl"
    assert [line["id"] for line in lines] == [r["id"] for r in rows if r["id"] in (first, second)]
    for line in lines:
        seg = by_id[line["id"]]
        assert line["text"] == seg["text"]
        assert line["predicted_label"] == seg["label"] and line["p_wire"] == seg["p_wire"]
        assert line["reviewer_label"] == other[seg["label"]] and line["decision"] == "correct"
        assert line["report_id"] == report_id and line["model_hash"] == model_hash
        assert line["time"].endswith("Z") and line["dump"] == seg["dump"]
        assert "topic" not in line
    assert {line["id"]: line["note"] for line in lines}[second] == "見出しだが煽り"

    # merge the export into a copy of labels/: the seed is labeled already, so a
    # correction either agrees with it (skipped) or conflicts until --overwrite
    labels = tmp_path / "labels"
    shutil.copytree(LABELS, labels)
    runner = CliRunner()
    listed = runner.invoke(cli, ["review", "merge", str(exported), "--labels", str(labels)])
    assert listed.exit_code == 0, listed.output
    merged = runner.invoke(cli, ["review", "merge", str(exported), "--labels", str(labels), "--overwrite"])
    assert merged.exit_code == 0, merged.output
    frame = load_labels(labels).frame
    for line in lines:
        assert frame.loc[frame["text"] == line["text"], "label"].tolist() == [line["reviewer_label"]]
    again = runner.invoke(cli, ["review", "merge", str(exported), "--labels", str(labels), "--overwrite"])
    assert "added 0, changed 0, skipped 2, conflicts 0" in again.output
    page.clean()


def test_the_queue_moves_with_its_counts(page, seed_report):
    path, rows = seed_report
    page.open(path)
    p = page.page
    p.select_option("#f-pagesize", "25")
    p.click("#b-queue")
    queue = [r["id"] for r in sorted(rows, key=lambda r: (abs(r["p_wire"] - 0.5), rows.index(r)))]
    assert page.ids() == queue[:25] and focused(p) == queue[0]
    assert p.text_content("#match-count").startswith("Showing 1–25 of 43 matching segments")

    p.locator(f'tr.segment[data-id="{queue[0]}"] button.confirm').click()  # a click: the row leaves
    assert page.ids() == queue[1:26] and page.count() == 42
    assert p.text_content("#match-count").startswith("Showing 1–25 of 42 matching segments")
    assert focused(p) == queue[1]
    assert "left the list" in p.text_content("#toast")

    for expected_left in (41, 40, 39):  # keys: each decision takes the focused row out, the next takes its place
        p.keyboard.press("p")
        assert page.count() == expected_left
    assert page.ids()[0] == queue[4] and focused(p) == queue[4]
    assert p.get_attribute("#progress", "data-reviewed") == "4"

    p.keyboard.press("u")  # undo: the last one comes back, focused
    assert page.count() == 40 and page.ids()[0] == queue[3] and focused(p) == queue[3]
    assert p.get_attribute(f'tr.segment[data-id="{queue[3]}"]', "data-status") == "unreviewed"

    for _ in range(24):  # to the last row of the page, then on to the next page
        p.keyboard.press("j")
    assert focused(p) == queue[27] and page.ids()[-1] == queue[27]
    p.keyboard.press("j")
    assert p.text_content("#match-count").startswith("Showing 26–40 of 40 matching segments")
    assert focused(p) == queue[28] and page.ids()[0] == queue[28]
    p.keyboard.press("s")  # the last page's first row leaves; the page keeps its place
    assert page.count() == 39 and focused(p) == queue[29]
    assert p.text_content("#match-count").startswith("Showing 26–39 of 39 matching segments")

    p.click("#b-reset")  # clears the queue too: every segment, input order
    assert page.count() == 43 and p.input_value("#f-sort") == "line"
    page.clean()


def test_keyboard_only_review_of_ten_segments_ends_in_an_export(page, seed_report, tmp_path):
    path, rows = seed_report
    page.open(path)
    p = page.page
    by_id = {r["id"]: r for r in rows}
    ten = [r["id"] for r in rows[:10]]
    keys = ["w", "p", "s", "p", "w", "w", "p", "s", "w", "p"]

    p.keyboard.press("?")
    assert p.is_visible("#help") and "j / k" in p.text_content("#help-keys")
    p.keyboard.press("w")  # the help is open: keys do nothing but close it
    p.keyboard.press("Escape")
    assert not p.is_visible("#help") and p.get_attribute("#progress", "data-reviewed") == "0"

    p.keyboard.press("j")
    assert focused(p) == ten[0]
    p.keyboard.press("j")
    p.keyboard.press("k")
    assert focused(p) == ten[0]
    style = p.eval_on_selector("tr.segment.focused", "tr => getComputedStyle(tr).outlineStyle")
    assert style == "solid"
    for i, key in enumerate(keys):
        assert focused(p) == ten[i]
        if i == 4:  # a note, typed after n; Escape leaves it, and typing in it decided nothing
            p.keyboard.press("n")
            p.keyboard.type("wps 速報の体裁")
            p.keyboard.press("Escape")
            assert p.get_attribute("#progress", "data-reviewed") == "4"
        p.keyboard.press(key)
        box = p.eval_on_selector("tr.segment.focused", "tr => { const r = tr.getBoundingClientRect(); return [r.top, r.bottom, innerHeight]; }")
        assert box[0] >= 0 and box[1] <= box[2], box  # the focused row is scrolled into view
    assert focused(p) == rows[10]["id"]
    assert p.get_attribute("#progress", "data-reviewed") == "10"

    p.focus("#f-topic")  # keys do nothing while typing in a field
    p.keyboard.type("disasters")
    p.keyboard.press("Tab")
    assert p.get_attribute("#progress", "data-reviewed") == "10" and focused(p) == rows[10]["id"]
    p.focus("#segments th button.sort")  # a button is no field: keys act again
    lines = export(p, tmp_path, key="e")
    assert [line["id"] for line in lines] == ten
    wanted = {"w": "wire", "p": "partisan", "s": None}
    for line, key in zip(lines, keys):
        predicted = by_id[line["id"]]["label"]
        assert line["reviewer_label"] == wanted[key]
        assert line["decision"] == ("skip" if key == "s" else "confirm" if wanted[key] == predicted else "correct")
        assert line["topic"] == "disasters"
    assert [line["note"] for line in lines] == [""] * 4 + ["wps 速報の体裁"] + [""] * 5
    assert p.get_attribute("#progress", "data-training") == "8"

    p.reload()  # the topic is remembered with the decisions
    p.wait_for_selector("html[data-ready=true]")
    assert p.input_value("#f-topic") == "disasters" and p.get_attribute("#progress", "data-reviewed") == "10"
    page.clean()


def test_two_tabs_of_one_report_keep_each_others_decisions(browser, seed_report, tmp_path):
    path, rows = seed_report
    a = Page(browser)
    b = Page(browser, a.context)  # another tab of the same browser profile: one localStorage
    try:
        a.open(path)
        b.open(path)
        first, second, third = (r["id"] for r in rows[:3])
        a.page.locator(f'tr.segment[data-id="{first}"] button.correct').click()
        b.page.locator(f'tr.segment[data-id="{second}"] button.confirm').click()
        b.page.locator(f'tr.segment[data-id="{second}"] input.note').fill("tab B")
        a.page.locator(f'tr.segment[data-id="{third}"] button.skip').click()  # A again, after B
        # each tab shows the other's decisions as they happen (the storage event)
        a.page.wait_for_selector(f'tr.segment[data-id="{second}"][data-status="confirm"]')
        b.page.wait_for_selector(f'tr.segment[data-id="{third}"][data-status="skip"]')
        assert a.page.locator(f'tr.segment[data-id="{second}"] input.note').input_value() == "tab B"
        for tab in (a, b):
            assert tab.page.get_attribute("#progress", "data-reviewed") == "3"
        stored = a.page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('pc:')).length")
        assert stored == 3
        for name, tab in (("a.jsonl", a), ("b.jsonl", b)):
            lines = export(tab.page, tmp_path, name)
            assert [(line["id"], line["decision"]) for line in lines] == [
                (first, "correct"), (second, "confirm"), (third, "skip")]
        fresh = Page(browser, a.context)  # a third tab opened later sees all of it
        fresh.open(path)
        assert fresh.page.get_attribute("#progress", "data-reviewed") == "3"
        a.clean()
        b.clean()
    finally:
        a.context.close()


def test_a_retrained_models_report_keeps_the_decisions(page, seed_records, tmp_path):
    rows = [json_row(r) for r in seed_records[:6]]
    old = write_report(tmp_path / "old.html", records(rows), title="dump", model_meta={"labels_digest": "a", "created": "1"})
    flipped = rows[0]["label"]
    retrained_rows = [dict(r) for r in rows]
    retrained_rows[0]["label"] = {"wire": "partisan", "partisan": "wire"}[flipped]  # the new model changed its mind
    retrained_rows[0]["p_wire"] = 1 - retrained_rows[0]["p_wire"]
    new = write_report(tmp_path / "new.html", records(retrained_rows), title="dump",
                       model_meta={"labels_digest": "b", "created": "2"})
    edited_rows = [dict(r) for r in rows]
    edited_rows[1]["text"] += "（追記）"  # the same segment id with another text
    edited = write_report(tmp_path / "edited.html", records(edited_rows), title="dump",
                          model_meta={"labels_digest": "a", "created": "1"})
    p = page.page

    page.open(old)
    other = {"wire": "partisan", "partisan": "wire"}[flipped]
    p.locator(f'tr.segment[data-id="{rows[0]["id"]}"] button.correct').click()  # the reviewer says: the other label
    p.locator(f'tr.segment[data-id="{rows[1]["id"]}"] button.confirm').click()
    p.locator(f'tr.segment[data-id="{rows[2]["id"]}"] input.note').fill("要確認")
    old_id = p.get_attribute("meta[name=postcred-report-id]", "content")

    page.open(new)
    assert p.get_attribute("meta[name=postcred-report-id]", "content") != old_id
    assert p.get_attribute("#progress", "data-reviewed") == "2"
    # the reviewer's label holds: the new model now agrees with it, so it reads as a confirmation
    assert p.get_attribute(f'tr.segment[data-id="{rows[0]["id"]}"]', "data-status") == "confirm"
    assert p.get_attribute(f'tr.segment[data-id="{rows[1]["id"]}"]', "data-status") == "confirm"
    assert p.locator(f'tr.segment[data-id="{rows[2]["id"]}"] input.note').input_value() == "要確認"
    lines = export(p, tmp_path)
    assert [(line["id"], line["reviewer_label"]) for line in lines] == [
        (rows[0]["id"], other), (rows[1]["id"], rows[1]["label"]), (rows[2]["id"], None)]

    page.open(edited)  # a decision never shows on a text the reviewer did not see
    assert p.get_attribute(f'tr.segment[data-id="{rows[1]["id"]}"]', "data-status") == "unreviewed"
    assert p.get_attribute(f'tr.segment[data-id="{rows[0]["id"]}"]', "data-status") == "correct"
    page.clean()


def test_decisions_of_a_report_made_before_move_to_the_new_keys(page, seed_records, tmp_path):
    rows = [json_row(r) for r in seed_records[:3]]
    path = write_report(tmp_path / "r.html", records(rows), title="dump")
    p = page.page
    p.goto(path.resolve().as_uri())
    p.wait_for_selector("html[data-ready=true]")
    report_id = p.get_attribute("meta[name=postcred-report-id]", "content")
    old = {rows[0]["id"]: {"decision": "correct", "label": {"wire": "partisan", "partisan": "wire"}[rows[0]["label"]],
                           "note": "前の形式", "time": "2024-11-05T09:00:00.000Z"},
           "gone:1": {"decision": "skip", "label": None, "note": "", "time": "2024-11-05T09:00:00.000Z"}}
    p.evaluate("([key, value]) => localStorage.setItem(key, value)", [f"postcred-review:{report_id}", json.dumps(old)])
    page.open(path)
    assert p.get_attribute(f'tr.segment[data-id="{rows[0]["id"]}"]', "data-status") == "correct"
    assert p.locator(f'tr.segment[data-id="{rows[0]["id"]}"] input.note').input_value() == "前の形式"
    assert p.evaluate("Object.keys(localStorage).filter(k => k.startsWith('postcred-review:')).length") == 0
    lines = export(p, tmp_path)
    assert [(line["id"], line["time"]) for line in lines] == [(rows[0]["id"], "2024-11-05T09:00:00Z")]
    page.clean()


def test_storage_near_its_limit_offers_the_export(page, seed_report, tmp_path):
    path, rows = seed_report
    p = page.page
    p.goto(path.resolve().as_uri())
    p.wait_for_selector("html[data-ready=true]")
    assert not p.is_visible("#storage-full")
    p.evaluate("localStorage.setItem('other-report', 'x'.repeat(4400000))")  # other reports' decisions
    page.open(path)
    p.locator(f'tr.segment[data-id="{rows[0]["id"]}"] button.skip').click()
    assert p.is_visible("#storage-full") and "% full" in p.text_content("#storage-full")
    assert not p.is_visible("#storage-warning")
    with p.expect_download() as info:
        p.click("#b-export-now")
    assert info.value.suggested_filename == "corrections.jsonl"

    # and now it is full: 10 characters left, too few for a decision (about 32)
    p.evaluate("""() => {
      localStorage.removeItem('other-report');
      let used = 0;
      for (const key of Object.keys(localStorage)) used += key.length + localStorage.getItem(key).length;
      localStorage.setItem('other-report', 'x'.repeat(5242880 - used - 'other-report'.length - 10));
    }""")
    page.open(path)
    p.locator(f'tr.segment[data-id="{rows[1]["id"]}"] button.skip').click()
    assert p.is_visible("#storage-warning")  # not saved: say so; the export still has it
    lines = export(p, tmp_path)
    assert [line["id"] for line in lines] == [rows[0]["id"], rows[1]["id"]]
    p.reload()
    p.wait_for_selector("html[data-ready=true]")
    assert p.get_attribute("#progress", "data-reviewed") == "1"  # only the first was kept
    page.clean()


def hostile_rows() -> list[dict]:
    texts = [
        "<script>document.title='PWNED1'</script>",
        "<img src=x onerror=\"document.title='PWNED2'\">",
        "</script><script>document.title='PWNED3'</script>",
        "前置き<svg onload=\"document.title='PWNED4'\">後<b>太字</b>",
    ]
    rows = []
    for i, text in enumerate(texts, start=1):
        rows.append({
            "id": f"x:{i}", "dump": "x", "line": i, "line_end": i, "record": 1, "post_id": "x:post1",
            "account": "<img src=x onerror=\"document.title='PWNED5'\">", "handle": "<b>h</b>", "date": "2024-11-04",
            "role": "post" if i == 1 else "body", "kind": "post", "text": text, "urls": [], "hashtags": [], "mentions": [],
            "p_wire": 0.3 + 0.1 * i, "label": "wire" if 0.3 + 0.1 * i >= 0.5 else "partisan", "top_tokens": [],
            "evidence": [{"feature": "<img src=x onerror=alert(1)>", "weight": -0.5, "spans": [[0, 8]]}],
            "markers": [{"start": 1, "end": 7, "marker": "<script>alert(2)</script>", "technique": "<i>Loaded</i>",
                         "weight": 1.0, "kind": "propaganda", "text": text[1:7]}],
            "techniques": {"<i>Loaded</i>": 1},
        })
    return rows


def test_hostile_text_is_shown_as_text_and_never_runs(page, tmp_path):
    rows = hostile_rows()
    path = write_report(tmp_path / "hostile.html", records(rows), title="<script>document.title='PWNED0'</script>")
    page.open(path)
    p = page.page
    texts = p.eval_on_selector_all("#segment-rows div.text", "d => d.map(x => x.textContent)")
    assert texts == [r["text"] for r in rows]
    assert p.eval_on_selector_all("#segment-rows td.acct > div:first-child", "d => d.map(x => x.textContent)") == [rows[0]["account"]] * 4
    chips = p.eval_on_selector_all("#segment-rows .chip", "c => c.map(x => x.textContent)")
    assert chips == ["<i>Loaded</i>"] * 4
    p.locator("#segment-rows details.evidence summary").first.click()  # the evidence list renders too
    p.wait_for_selector("#segment-rows details.evidence li")
    assert "<img src=x onerror=alert(1)>" in p.text_content("#segment-rows details.evidence ol")
    p.locator("#segment-rows button.open-post").first.click()  # and the post view
    assert p.locator("details.post[open] tr.segment").count() == 4
    p.select_option("#f-marker", "t:<i>Loaded</i>")
    assert page.count() == 1  # posts view: the one post

    assert p.title() == "postcred: \u2068<script>document.title='PWNED0'</script>\u2069"
    assert p.locator("body img, body svg[onload], body b, body i").count() == 0
    # the accounts view draws the hostile name, handle and technique as text, too
    p.click("#accounts tr.account button.open-account")
    assert p.text_content("#accounts tr.account button.open-account bdi") == rows[0]["account"]
    assert p.text_content("#accounts tr.account div.small bdi") == "<b>h</b>"
    assert p.text_content("#accounts g.technique-bar text") == "<i>Loaded</i>"
    p.click("#accounts button.show-segments")
    assert page.count() == 1 and p.text_content("#account-filter-text bdi") == "<b>h</b>"  # posts view: its post
    assert p.locator("body img, body svg[onload], body b, body i").count() == 0
    # the data block, one block of rows, the accounts view's data, the report's scripts
    assert p.locator("script").count() == 3 + len(SCRIPTS)
    page.clean()

    # the watch does see a handler that reaches the DOM: the same policy blocks it and reports it
    policy = p.get_attribute("meta[http-equiv=Content-Security-Policy]", "content")
    control = tmp_path / "control.html"
    control.write_text(f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
                       '<img src="data:," onerror="document.title=1">', encoding="utf-8")
    p.goto(control.as_uri())
    deadline = time.monotonic() + 5
    while not p.evaluate("window.__violations.length") and time.monotonic() < deadline:
        p.wait_for_timeout(50)
    assert p.evaluate("window.__violations") != []
    assert p.title() == ""


def test_evidence_is_highlighted_and_markers_underlined(page, tmp_path):
    # code-point offsets: the flag is two code points (and four UTF-16 units)
    text = "🇷🇺政府は発表した。売国奴を許すな"
    row = {
        "id": "m:1", "dump": "m", "line": 1, "line_end": 1, "record": 1, "post_id": "m:post1", "account": "A",
        "handle": "a", "date": "", "role": "post", "kind": "post", "text": text, "urls": [], "hashtags": [],
        "mentions": [], "p_wire": 0.3, "label": "partisan", "top_tokens": [],
        "evidence": [
            {"feature": "発表", "weight": 0.4, "spans": [[5, 7]]},
            {"feature": "<FLAG>", "weight": -0.2, "spans": [[0, 2]]},
            {"feature": "売国奴", "weight": -0.9, "spans": [[10, 13]]},
        ],
        "markers": [
            {"start": 0, "end": 2, "marker": "flag_emoji", "technique": "Flag-Waving", "weight": 1.0, "kind": "propaganda", "text": "🇷🇺"},
            {"start": 10, "end": 13, "marker": "slur", "technique": "Name-Calling", "weight": 1.0, "kind": "propaganda", "text": "売国奴"},
            {"start": 14, "end": 17, "marker": "imperative", "technique": "Name-Calling", "weight": 0.5, "kind": "propaganda", "text": "許すな"},
        ],
        "techniques": {"Flag-Waving": 1, "Name-Calling": 2},
    }
    plain = {**row, "id": "m:2", "line": 2, "text": "普通の文。", "evidence": [], "markers": [], "techniques": {}, "p_wire": 0.8, "label": "wire"}
    page.open(write_report(tmp_path / "m.html", records([row, plain]), title="markers"))
    p = page.page
    spans = p.eval_on_selector_all(
        'tr.segment[data-id="m:1"] div.text span',
        "s => s.map(x => ({text: x.textContent, cls: x.className, bg: x.style.backgroundColor, tech: x.dataset.technique || '', title: x.title}))",
    )
    by_text = {s["text"]: s for s in spans}
    assert p.text_content('tr.segment[data-id="m:1"] div.text') == text
    assert set(by_text) == {"🇷🇺", "発表", "売国奴", "許すな"}
    assert by_text["発表"]["cls"] == "ev ev-wire" and by_text["発表"]["bg"].startswith("rgba(47, 111, 181")
    assert by_text["売国奴"]["cls"] == "ev ev-partisan marker" and by_text["売国奴"]["tech"] == "Name-Calling"
    assert by_text["🇷🇺"]["cls"] == "ev ev-partisan marker" and by_text["🇷🇺"]["tech"] == "Flag-Waving"
    assert by_text["許すな"]["cls"] == "marker" and by_text["許すな"]["bg"] == ""
    assert "Name-Calling: slur (propaganda)" in by_text["売国奴"]["title"]

    def alpha(s):
        return float(s["bg"].rstrip(")").split(",")[-1])

    assert alpha(by_text["売国奴"]) > alpha(by_text["発表"]) > alpha(by_text["🇷🇺"])  # intensity follows |weight|
    chips = p.eval_on_selector_all('tr.segment[data-id="m:1"] .chip', "c => c.map(x => x.textContent)")
    assert chips == ["Flag-Waving", "Name-Calling ×2"]
    assert p.locator('tr.segment[data-id="m:2"] .chip, tr.segment[data-id="m:2"] div.text span').count() == 0
    p.locator('tr.segment[data-id="m:1"] .chip', has_text="Name-Calling").click()
    assert page.ids() == ["m:1"] and p.input_value("#f-marker") == "t:Name-Calling"
    p.locator('tr.segment[data-id="m:1"] details.evidence summary').click()
    p.wait_for_selector('tr.segment[data-id="m:1"] details.evidence li')  # filled when first opened
    items = p.eval_on_selector_all('tr.segment[data-id="m:1"] details.evidence li', "l => l.map(x => x.textContent)")
    assert items[0].startswith("売国奴  [売国奴]  -0.900") and len(items) == 3
    page.clean()


def test_only_the_strongest_evidence_is_highlighted_until_asked(page, tmp_path):
    text = "政府は4日、新たな対策を発表したが、ふざけるな、国民を馬鹿にするな、また嘘だ"
    weights = {"ふざけ": -1.5, "発表": 1.2, "馬鹿": -1.1, "政府": 0.9, "嘘": -0.8, "4日": 0.5, "また": -0.3, "対策": 0.2, "国民": -0.1}
    evidence = [{"feature": w, "weight": wt, "spans": [[text.index(w), text.index(w) + len(w)]]} for w, wt in weights.items()]
    row = {
        "id": "e:1", "dump": "e", "line": 1, "line_end": 1, "record": 1, "post_id": "e:p1", "account": "A", "handle": "",
        "date": "", "role": "post", "kind": "post", "text": text, "urls": [], "hashtags": [], "mentions": [],
        "p_wire": 0.4, "label": "partisan", "top_tokens": [], "evidence": evidence,
        "markers": [{"start": text.index("国民"), "end": text.index("国民") + 2, "marker": "m", "technique": "Loaded",
                     "weight": 1.0, "kind": "propaganda", "text": "国民"}],
        "techniques": {"Loaded": 1},
    }
    page.open(write_report(tmp_path / "e.html", records([row]), title="evidence"))
    p = page.page

    def highlighted() -> set[str]:
        return set(p.eval_on_selector_all("div.text span.ev", "s => s.map(x => x.textContent)"))

    strongest = {"発表", "政府", "4日", "ふざけ", "馬鹿", "嘘"}  # the 3 strongest each way
    assert highlighted() == strongest
    assert p.eval_on_selector_all("div.text span.marker", "s => s.map(x => x.textContent + ' ' + x.className)") == ["国民 marker"]
    p.check("#f-allev")
    assert highlighted() == strongest | {"対策", "国民", "また"}
    assert p.eval_on_selector("div.text span.marker", "x => x.className") == "ev ev-partisan marker"  # still underlined
    page.clean()


def test_a_right_to_left_override_in_a_name_stays_inside_it(page, tmp_path):
    rows = [{**r, "account": "\u202eEvil Name", "handle": "\u202eevil"} for r in hostile_rows()[:2]]
    rows = [{**r, "text": "普通の文です。", "markers": [], "techniques": {}, "evidence": []} for r in rows]
    page.open(write_report(tmp_path / "rtl.html", records(rows), title="rtl"))
    p = page.page
    p.select_option("#f-view", "posts")
    summary = p.locator("details.post > summary").first
    assert summary.text_content().startswith("\u202eEvil Name @\u202eevil · 2024-11-04 · 2 segments (2 matching)")
    # laid out left to right after the name: "segments" reads forwards and starts right of the name
    where = summary.evaluate("""s => {
      const name = s.querySelector('bdi.who').getBoundingClientRect();
      const node = [...s.childNodes].find(n => n.nodeType === 3 && n.textContent.includes('segments'));
      const at = node.textContent.indexOf('segments');
      const box = i => { const r = document.createRange(); r.setStart(node, i); r.setEnd(node, i + 1); return r.getBoundingClientRect(); };
      return {nameRight: name.right, s: box(at).left, t: box(at + 7).left};
    }""")
    assert where["nameRight"] <= where["s"] < where["t"], where
    p.select_option("#f-view", "segments")
    p.locator("button.open-post").first.click()
    assert p.locator("#post-filter-text bdi").first.text_content() == "\u202eEvil Name"
    overview = p.eval_on_selector_all("#account-rows tr.account bdi", "b => b.map(x => x.textContent)")
    assert overview == ["\u202eEvil Name", "\u202eevil"]
    page.clean()


def test_a_view_in_its_own_script_joins_the_report(page, tmp_path, monkeypatch):
    import classifier.report

    view = """(window.postcredViews = window.postcredViews || []).push({
      id: "test-view",
      init: function (api) {
        var box = api.el("p", {id: "test-view"});
        box.appendChild(api.bdi(api.rows.length + " rows"));
        document.getElementById("overview").appendChild(box);
        var button = api.el("button", {id: "test-view-show", type: "button"}, "show B");
        button.addEventListener("click", function () { api.showSegments({account: "B"}); });
        box.appendChild(button);
      },
      update: function (api) {
        document.getElementById("test-view").setAttribute("data-decided",
          api.rows.filter(function (row) { return api.status(row); }).length);
      }
    });"""
    real = classifier.report.asset
    monkeypatch.setattr(classifier.report, "SCRIPTS", ("report.js", "test_view.js"))
    monkeypatch.setattr(classifier.report, "asset", lambda name: view if name == "test_view.js" else real(name))
    rows = [{**r, "account": "A" if i % 2 else "B"} for i, r in enumerate(hostile_rows())]
    page.open(write_report(tmp_path / "view.html", records(rows), title="views"))
    p = page.page
    assert p.text_content("#test-view bdi") == "4 rows"
    p.locator(f'tr.segment[data-id="{rows[1]["id"]}"] button.confirm').click()
    assert p.get_attribute("#test-view", "data-decided") == "1"
    p.click("#test-view-show")
    assert page.ids() == [rows[0]["id"], rows[2]["id"]] and p.input_value("#f-account") == "B"
    page.clean()  # both scripts ran under the policy


def test_screenshot_script_shows_keyboard_review(seed_report, tmp_path):
    path, _ = seed_report
    out = tmp_path / "shot.png"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "report_screenshot.py"), "--report", str(path), "--out", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 10_000 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "focused" in done.stdout


def test_fifty_thousand_segments_stay_usable(page, tmp_path, seed_report):
    """Pages, not 50,000 table rows: the report opens, filters and sorts in well under a
    second per action (the limits here are loose, for a busy CI machine)."""
    _, seed_rows = seed_report
    rows = []
    for i in range(50_000):
        base = seed_rows[i % len(seed_rows)]
        p_wire = round((i * 7919 % 10_000) / 10_000, 4)
        rows.append({**base, "id": f"big:{i}", "line": i, "post_id": f"big:post{i // 5}",
                     "account": f"{base['account']}{i % 30}", "p_wire": p_wire,
                     "label": "wire" if p_wire >= 0.5 else "partisan"})
    path = write_report(tmp_path / "big.html", records(rows), title="50k")
    started = time.monotonic()
    page.open(path)
    p = page.page
    assert time.monotonic() - started < 30
    assert page.count() == 50_000
    assert p.locator("#segment-rows tr.segment").count() == 50

    def timed(action) -> float:
        started = time.monotonic()
        action()
        p.evaluate("() => new Promise(done => requestAnimationFrame(() => done()))")
        return time.monotonic() - started

    assert timed(lambda: p.select_option("#f-label", "partisan")) < 5
    assert page.count() == sum(r["label"] == "partisan" for r in rows)
    assert timed(lambda: p.click("button.sort[data-sort=text]")) < 5
    assert timed(lambda: p.click("#b-queue")) < 5
    assert page.ids()[0] == min((r for r in rows if r["label"] == "partisan"), key=lambda r: abs(r["p_wire"] - 0.5))["id"]
    assert timed(lambda: p.locator("#pager-top button.page").last.click()) < 5
    assert p.locator("#segment-rows tr.segment").count() <= 50

    # review state stays compact: ids less the dump name, and one short value per segment
    p.keyboard.press("j")
    assert timed(lambda: [p.keyboard.press(key) for key in "wpwps"]) < 5
    assert p.get_attribute("#progress", "data-reviewed") == "5"
    stored = p.evaluate("Object.keys(localStorage).filter(k => k.startsWith('pc:')).map(k => k + localStorage.getItem(k))")
    assert len(stored) == 5 and all(len(entry) <= 34 for entry in stored), stored
    assert not p.is_visible("#storage-full")
    page.clean()
