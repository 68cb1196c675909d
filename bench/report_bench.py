"""How the HTML report scales: render time and file size for N segments, and (with
--browser) how long Debian's chromium takes to open it, filter, sort and page.

The rows are the seed's scored records repeated with fresh ids, spread over 30 accounts and
posts of five segments, with p_wire spread over [0, 1]: realistic text and evidence per
row, at any count.

Usage:

    python bench/report_bench.py --segments 50000 --browser --json reports/report-bench.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "timeline_nhk_reuters_partisan_2024-11-04.txt"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]


def synthetic_rows(n: int) -> list:
    """``n`` scored records built from the seed's (scored once with the shipped model)."""
    from dataclasses import replace

    from classifier import score_file

    seed_records, _ = score_file(SEED)
    rows = []
    for i in range(n):
        base = seed_records[i % len(seed_records)]
        p_wire = round((i * 7919 % 10_000) / 10_000, 4)
        rows.append(replace(base, id=f"bench:{i}", line=i + 1, post_id=f"bench:post{i // 5}",
                            account=f"{base.account} {i % 30}", p_wire=p_wire,
                            label="wire" if p_wire >= 0.5 else "partisan"))
    return rows


def render(rows: list, path: Path) -> dict:
    from classifier.model import load_model
    from classifier.report import write_report

    meta = load_model().metadata
    started = time.perf_counter()
    write_report(path, rows, title=f"bench {len(rows)}", model_meta=meta)
    return {"segments": len(rows), "render_seconds": round(time.perf_counter() - started, 3),
            "bytes": path.stat().st_size}


def browse(path: Path, chromium: str) -> dict:
    """Seconds to open the report and to apply a filter, a search, two sorts and a page turn."""
    from playwright.sync_api import sync_playwright

    timings: dict[str, float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        started = time.perf_counter()
        page.goto(path.resolve().as_uri(), timeout=300_000)
        page.wait_for_selector("html[data-ready=true]", timeout=300_000)
        timings["open_seconds"] = round(time.perf_counter() - started, 3)

        def timed(name: str, action) -> None:
            started = time.perf_counter()
            action()
            page.evaluate("() => new Promise(done => requestAnimationFrame(() => done()))")
            timings[name] = round(time.perf_counter() - started, 3)

        timed("filter_label_seconds", lambda: page.select_option("#f-label", "partisan"))

        def search() -> None:
            page.fill("#f-search", "北朝鮮")
            page.wait_for_selector('#match-count:not([data-count="%s"])' % page.get_attribute("#match-count", "data-count"))

        timed("search_seconds", search)
        timed("sort_text_seconds", lambda: page.click("button.sort[data-sort=text]"))
        timed("review_queue_seconds", lambda: page.click("#b-queue"))
        timed("last_page_seconds", lambda: page.locator("#pager-top button.page").last.click())
        timings["rows_in_dom"] = page.locator("#segment-rows tr.segment").count()
        browser.close()
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=50_000)
    parser.add_argument("--browser", action="store_true", help="Also time chromium opening, filtering and sorting it.")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--json", type=Path, default=None, help="Write the figures to this JSON file too.")
    parser.add_argument("--keep", type=Path, default=None, help="Keep the generated report at this path.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "bench.html"
        result = render(synthetic_rows(args.segments), path)
        if args.browser:
            result.update(browse(path, args.chromium))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
