"""The HTML report, parsed: policy, embedded data, summary tables and charts.

The browser side (filters, review mode, export) is in test_browser.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
import tempfile
from dataclasses import replace

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from classifier.cli import cli
from classifier.report import (
    HISTOGRAM_ACCOUNTS,
    OTHER_ACCOUNTS,
    SCRIPTS,
    SECTIONS,
    ReportRows,
    environment,
    json_pieces,
    render_report,
    report_id,
)
from classifier.report_rows import EVIDENCE_PER_SEGMENT, compact_row, row_json
from classifier.scored import from_json_row
from classifier.summary import summarize

from .conftest import report_payload

HOSTILE = [
    "<script>document.title='PWNED'</script>",
    "<img src=x onerror=\"document.title='PWNED'\">",
    "</script><script>document.title='PWNED'</script>",
    "<!-- <script>document.title='PWNED'</script>",
    "' \" & </style><style>body{display:none}</style>",
]


def make_row(i: int, text: str, *, account="NHKニュース", p_wire=0.8, markers=None, evidence=None, role="post", post=None):
    """A scored record, written as the JSON row of a scores file."""
    markers = markers or []
    counts: dict[str, int] = {}
    for m in markers:
        counts[m["technique"]] = counts.get(m["technique"], 0) + 1
    return from_json_row({
        "id": f"dump:{i}", "dump": "dump", "line": i, "line_end": i, "record": i, "post_id": post or f"dump:post{i}",
        "account": account, "handle": "h", "date": "2024-11-04", "role": role, "kind": "post", "text": text,
        "urls": [], "hashtags": [], "mentions": [], "p_wire": p_wire, "label": "wire" if p_wire >= 0.5 else "partisan",
        "top_tokens": [], "evidence": evidence if evidence is not None else [], "markers": markers,
        "techniques": counts,
    })


def marker(start, end, technique, name, text, kind="propaganda"):
    return {"start": start, "end": end, "marker": name, "technique": technique, "weight": 1.0, "kind": kind, "text": text}


def soup_of(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def payload_of(soup: BeautifulSoup) -> dict:
    return report_payload(soup)


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


@pytest.fixture(scope="module")
def seed_report(tmp_path_factory, seed_path):
    out = tmp_path_factory.mktemp("report") / "seed.csv"
    result = CliRunner().invoke(cli, ["score", str(seed_path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out.with_name("seed.html").read_text(encoding="utf-8")


def test_policy_allows_only_the_reports_own_script_and_style(seed_report):
    soup = soup_of(seed_report)
    policy = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    code = [s for s in soup.find_all("script") if not s.get("type")]
    assert len(code) == len(SCRIPTS) and not any(s.get("src") for s in code)
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == " ".join(sha256_source(s.string) for s in code)
    assert directives["style-src"] == sha256_source(soup.find("style").string)
    assert directives["img-src"] == "data:"
    assert "unsafe" not in policy and "http" not in policy
    assert not soup.find_all("link") and not soup.find_all(src=True)
    assert not soup.find_all(style=True)  # inline style attributes would be blocked by the policy


def test_seed_report_embeds_every_segment(seed_report, seed_records):
    soup = soup_of(seed_report)
    data = payload_of(soup)
    assert len(data["rows"]) == len(seed_records) == 43
    rows = [dict(zip(data["columns"], values)) for values in data["rows"]]
    assert [r["id"] for r in rows] == [r.id for r in seed_records]
    assert [r["text"] for r in rows] == [r.text for r in seed_records]
    assert soup.find("meta", attrs={"name": "postcred-report-id"})["content"] == data["report_id"]
    assert re.fullmatch(r"[0-9a-f]{16}", data["model_hash"])
    assert soup.find("tbody", id="segment-rows") is not None
    assert "43 segments" in soup.find(id="report-meta").get_text()
    assert "Records read 9, scored 9, rejected 0." in soup.find(id="run-counts").get_text()


def test_seed_summary_tables_and_charts(seed_report):
    soup = soup_of(seed_report)
    labels = {tr.find_all("td")[0].get_text(): int(tr.find_all("td")[1].get_text()) for tr in soup.select("#label-summary tbody tr")}
    assert sum(labels.values()) == 43 and set(labels) == {"wire", "partisan"}
    assert soup.find(id="account-count").get_text().startswith("4 accounts")
    accounts = json.loads(soup.find("script", id="accounts-data").string)["accounts"]
    assert len(accounts) == 4
    histogram_rows = soup.select("#chart-histogram g.hist-row")
    assert len(histogram_rows) == 4
    assert sum(int(r["data-count"]) for r in soup.select("#chart-histogram rect.hist-bar")) == 43
    bars = soup.select("#chart-accounts g.account-bar")
    assert sum(int(b["data-count"]) for b in bars) == 43
    assert all(0.0 <= float(b["data-mean"]) <= 1.0 for b in bars)
    options = [o["value"] for o in soup.select("#f-account option")]
    assert options[0] == "" and len(options) == 5


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_stays_inside_the_json(text):
    rows = [make_row(1, text, account=text), make_row(2, "普通の文。")]
    html = render_report(rows, title=text)
    soup = soup_of(html)
    # the data block, one block of rows, the accounts view's data, the report's own scripts
    assert len(soup.find_all("script")) == 3 + len(SCRIPTS)
    assert not soup.find_all("img") and len(soup.find_all("style")) == 1
    assert soup.title.get_text() == f"postcred: \u2068{text}\u2069"  # isolated: an override cannot leak
    data = payload_of(soup)
    assert data["rows"][0][data["columns"].index("text")] == text
    assert data["rows"][0][data["columns"].index("account")] == text
    for marker in ('id="report-data">', 'class="report-rows">'):
        block = html[html.index(marker) + len(marker):]
        block = block[: block.index("</script>")]
        assert "<" not in block and "&" not in block  # tojson escaped them


def test_markers_make_chips_data_technique_table_and_chart():
    text = "🇷🇺メドベージェフが警告。売国奴どもを許すな！"
    rows = [
        make_row(1, text, account="A", p_wire=0.1, markers=[
            marker(0, 2, "Flag-Waving", "flag_emoji", "🇷🇺"),
            marker(14, 17, "Name-Calling", "slur", "売国奴"),
            marker(19, 22, "Name-Calling", "imperative", "許すな"),
        ]),
        make_row(2, "政府は4日発表した。", account="B", markers=[marker(3, 5, "Sourcing", "attribution", "4日", "credibility")]),
        make_row(3, "印なしの文。", account="B", markers=[]),
    ]
    soup = soup_of(render_report(rows, title="markers"))
    techniques = {g["data-technique"]: int(g["data-count"]) for g in soup.select("#chart-techniques g.technique-bar")}
    assert techniques == {"Name-Calling": 2, "Flag-Waving": 1, "Sourcing": 1}
    view = json.loads(soup.find("script", id="accounts-data").string)
    per_account = {values[0]: dict(zip(view["fields"], values))["techniques"] for values in view["accounts"]}
    assert per_account == {"h": [["Name-Calling", 2], ["Flag-Waving", 1], ["Sourcing", 1]]}  # one handle
    assert [o["value"] for o in soup.select("#f-marker option")][3:] == [
        "t:Name-Calling", "t:Flag-Waving", "t:Sourcing", "m:attribution", "m:flag_emoji", "m:imperative", "m:slur",
    ]
    data = payload_of(soup)
    first = dict(zip(data["columns"], data["rows"][0]))
    assert first["markers"][1] == [14, 17, "Name-Calling", "slur", "propaganda", 1.0, "売国奴"]
    assert first["techniques"] == ["Flag-Waving", "Name-Calling"]


def test_rows_without_markers_render_with_empty_states():
    soup = soup_of(render_report([make_row(1, "文。"), make_row(2, "別の文。", account="")], title="plain"))
    assert soup.find(id="no-techniques") is not None
    assert soup.find(id="technique-table") is None and soup.find("script", id="accounts-data") is not None
    assert "(unknown)" in [o["value"] for o in soup.select("#f-account option")]
    data = payload_of(soup)
    assert dict(zip(data["columns"], data["rows"][0]))["markers"] == []


def test_an_empty_dump_still_renders():
    soup = soup_of(render_report([], title="empty"))
    assert soup.find(id="no-segments").get_text() == "This dump has no segments."
    assert payload_of(soup)["rows"] == []


def test_evidence_keeps_the_strongest_features_with_spans():
    evidence = [{"feature": f"f{i}", "weight": (i - 10) / 10, "spans": [[0, 1]]} for i in range(30)]
    evidence.append({"feature": "nospan", "weight": 9.0, "spans": []})
    compact = compact_row(make_row(1, "文です。", evidence=evidence))
    kept = compact[11]
    assert len(kept) == EVIDENCE_PER_SEGMENT
    assert kept[0] == ("f29", 1.9, ((0, 1),))
    assert [abs(k[1]) for k in kept] == sorted((abs(k[1]) for k in kept), reverse=True)
    assert "nospan" not in [k[0] for k in kept]


def test_report_rows_wait_on_disk_and_come_back_as_the_page_embeds_them():
    evidence = [{"feature": "と述べる", "weight": 1.0, "spans": [[0, 1]]}]
    records = [make_row(i, f"文{i}。<script>'&", account="NHK", evidence=evidence) for i in range(5)]
    rows = ReportRows(records)
    assert len(rows) == 5 and len(rows.peaks) == 5 and rows.ids == [r.id for r in records]
    # What the page embeds, in blocks of rows: the JSON Jinja's tojson writes for them.
    env = environment()
    expected = [env.from_string("{{ rows|tojson }}").render(rows=[compact_row(r) for r in records[k:k + 2]])
                for k in range(0, 5, 2)]
    assert [str(block) for block in rows.blocks(2)] == expected
    assert "<script>" not in "".join(expected) and "\\u003cscript\\u003e" in expected[0]
    # Iterating gives the rows back (JSON arrays as lists).
    assert list(rows) == json.loads(json.dumps([compact_row(r) for r in records]))
    # The rows are not held as Python objects: a row is its JSON, in a file with no name.
    assert rows._rows is not None and not hasattr(rows, "rows")
    rows.close()
    with pytest.raises(ValueError, match="closed"):
        list(rows)


def test_small_accounts_are_pooled_in_the_histogram():
    rows = [make_row(i, f"文{i}。", account=f"acct{i % (HISTOGRAM_ACCOUNTS + 3)}", p_wire=(i % 10) / 10) for i in range(60)]
    soup = soup_of(render_report(rows, title="many"))
    names = [g["data-account"] for g in soup.select("#chart-histogram g.hist-row")]
    assert len(names) == HISTOGRAM_ACCOUNTS + 1 and names[-1] == OTHER_ACCOUNTS
    assert sum(int(r["data-count"]) for r in soup.select("#chart-histogram rect.hist-bar")) == 60


def test_report_id_is_stable_and_follows_rows_and_model():
    rows = [make_row(1, "文。"), make_row(2, "別の文。")]
    assert report_id(rows, "m1") == report_id(list(rows), "m1")
    assert report_id(rows, "m1") != report_id(rows, "m2")
    assert report_id(rows, "m1") != report_id(rows[:1], "m1")
    with ReportRows(rows) as compact:
        assert report_id(compact, "m1") == report_id(rows, "m1")
    a = payload_of(soup_of(render_report(rows, title="t", model_meta={"labels_digest": "x", "created": "1"})))
    b = payload_of(soup_of(render_report(rows, title="t", model_meta={"labels_digest": "x", "created": "2"})))
    assert a["report_id"] != b["report_id"] and a["model_hash"] != b["model_hash"]


def test_review_state_is_keyed_by_dump_not_by_model():
    rows = [make_row(1, "文。"), make_row(2, "別の文。")]
    old = payload_of(soup_of(render_report(rows, title="t", model_meta={"labels_digest": "x", "created": "1"})))
    retrained = payload_of(soup_of(render_report(rows, title="t", model_meta={"labels_digest": "y", "created": "2"})))
    assert old["report_id"] != retrained["report_id"]
    assert old["review_key"] == retrained["review_key"] and old["id_prefix"] == retrained["id_prefix"] == "dump:"
    grown = payload_of(soup_of(render_report([*rows, make_row(3, "三つ目。")], title="t")))
    assert grown["review_key"] == old["review_key"]  # the same dump with more posts: same place
    other = payload_of(soup_of(render_report([replace(r, id="other:" + r.id.split(":")[1]) for r in rows], title="t")))
    assert other["review_key"] != old["review_key"] and other["id_prefix"] == "other:"
    mixed = payload_of(soup_of(render_report([rows[0], replace(rows[1], id="other:2")], title="t")))
    assert mixed["id_prefix"] == ""  # rows of two dumps keep their full ids


def test_sections_come_from_the_registry_and_the_topics_from_the_model(seed_report):
    soup = soup_of(seed_report)
    anchors = [a["href"] for a in soup.select("nav#sections a")]
    assert anchors == [f"#{anchor}" for anchor, _, _ in SECTIONS]
    assert all(soup.find("section", id=anchor) is not None for anchor, _, _ in SECTIONS)
    topics = [o["value"] for o in soup.select("datalist#topic-list option")]
    assert "disasters" in topics and topics == sorted(topics) and len(topics) >= 20
    assert soup.find(id="help") is not None and soup.select("#help-keys kbd")


def test_every_listed_script_is_allowed_by_its_hash(monkeypatch):
    import classifier.report

    view = "window.postcredViews = window.postcredViews || []; window.postcredViews.push({id: 'extra'});"
    real = classifier.report.asset
    monkeypatch.setattr(classifier.report, "SCRIPTS", ("report.js", "view.js"))
    monkeypatch.setattr(classifier.report, "asset", lambda name: view if name == "view.js" else real(name))
    soup = soup_of(render_report([make_row(1, "文。")], title="views"))
    code = [s.string for s in soup.find_all("script") if not s.get("type")]
    assert len(code) == 2 and code[1] == view
    policy = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == " ".join(sha256_source(c) for c in code)


def test_summary_counts_labels_accounts_and_techniques():
    rows = [
        make_row(1, "a", account="A", p_wire=0.9),
        make_row(2, "b", account="A", p_wire=0.3, markers=[marker(0, 1, "Loaded", "x", "b")]),
        make_row(3, "c", account="B", p_wire=0.2),
    ]
    s = summarize(rows)
    assert s["total"] == 3
    assert s["labels"] == [{"label": "wire", "count": 1}, {"label": "partisan", "count": 2}]
    assert [(a["account"], a["count"], round(a["mean_p_wire"], 2), a["wire"], a["partisan"]) for a in s["accounts"]] == [
        ("A", 2, 0.6, 1, 1), ("B", 1, 0.2, 0, 1),
    ]
    assert [(t["technique"], t["count"]) for t in s["techniques"]] == [("Loaded", 1)]


def test_rows_are_written_in_blocks_and_read_back_in_order(monkeypatch, tmp_path):
    import classifier.report

    monkeypatch.setattr(classifier.report, "ROWS_PER_BLOCK", 2)
    rows = [make_row(i, f"文{i}。") for i in range(5)]
    path = classifier.report.write_report(tmp_path / "r.html", rows, title="blocks")
    html = path.read_text(encoding="utf-8")
    soup = soup_of(html)
    assert len(soup.find_all("script", class_="report-rows")) == 3
    data = payload_of(soup)
    assert [r[data["columns"].index("line")] for r in data["rows"]] == [0, 1, 2, 3, 4]


def _without_time(html: str) -> str:
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", "", html)


def test_compiled_templates_are_cached_and_a_bad_cache_is_only_a_miss(monkeypatch, tmp_path):
    """The report's templates compile once per user, into a folder of the user's own;
    a damaged cache file, or a cache folder that cannot be used, changes nothing."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    rows = [make_row(1, "文。"), make_row(2, "<b>別の文</b>。", account="a")]
    first = render_report(rows, title="cached")
    folder = tmp_path / f"_jinja2-cache-{os.getuid()}"
    cached = sorted(folder.iterdir())
    assert cached and stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert _without_time(render_report(rows, title="cached")) == _without_time(first)
    for path in cached:
        path.write_bytes(path.read_bytes()[:40] + b"\x00 not a template \xff" * 3)
    assert _without_time(render_report(rows, title="cached")) == _without_time(first)
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    folder.write_text("a file where the folder should be", encoding="utf-8")  # Jinja finds no safe folder
    assert _without_time(render_report(rows, title="cached")) == _without_time(first)


def test_large_views_are_written_in_pieces_with_the_bytes_of_tojson():
    """The Accounts and Campaigns views go into the page a hundred items at a time, each
    piece escaped as ``tojson`` escapes (no text closes the script element)."""
    view = {"tz": "Asia/Tokyo", "accounts": [[f"</script><a&'{k}>", k, [k, k / 3]] for k in range(250)],
            "total": 250, "note": "日本語 & <b>"}
    expected = environment().from_string("{{ view|tojson }}").render(view=view)
    assert "</script>" not in expected
    assert "".join(json_pieces(view, "accounts", 7)) == expected
    encoded = {**view, "accounts": [row_json(item) for item in view["accounts"]]}
    assert "".join(json_pieces(encoded, "accounts", 7, encoded=True)) == expected
    empty = {"campaigns": [], "total": 0}
    assert "".join(json_pieces(empty, "campaigns")) == environment().from_string("{{ v|tojson }}").render(v=empty)
