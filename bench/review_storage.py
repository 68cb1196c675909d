"""What a full review costs the browser: characters of localStorage per decision, the share
of the ~5 M characters every file:// report shares, and the time to open a report whose
every segment is decided.

Decisions made with the keyboard (the real code path) give the characters per decision and
the time per key; then every segment gets a decision at once (written by this script in
the report's own format: one key per segment, see ``templates/report.js``), and the report
is opened again to count them back and time the load.

Usage:

    python bench/review_storage.py --segments 50000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_bench import CHROMIUM_ARGS, render, synthetic_rows  # noqa: E402

QUOTA = 5_242_880  # characters (keys and values) Chromium keeps per origin; measured by filling it
KEYED = 200  # decisions made with the keyboard

# The report's key for every segment, computed in the page from its own data blocks with the
# report's hash (FNV-1a over UTF-16 units): "pc:<dump key>:<id less prefix>:<hash>" -> "w<time>".
FILL = """() => {
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const idAt = data.columns.indexOf('id'), textAt = data.columns.indexOf('text');
  const hash = text => { let h = 0x811c9dc5; for (let i = 0; i < text.length; i++) { h ^= text.charCodeAt(i); h = Math.imul(h, 0x01000193); } return (h >>> 0).toString(36); };
  const value = 'w' + Math.floor(Date.now() / 1000).toString(36);
  let chars = 0, n = 0;
  for (const block of document.querySelectorAll('script.report-rows')) {
    for (const row of JSON.parse(block.textContent)) {
      const key = 'pc:' + data.review_key + ':' + row[idAt].slice(data.id_prefix.length) + ':' + hash(row[textAt]);
      localStorage.setItem(key, value);
      chars += key.length + value.length;
      n += 1;
    }
  }
  return [n, chars];
}"""

STORED = """() => Object.keys(localStorage).filter(k => k.startsWith('pc:'))
  .reduce((sum, k) => sum + k.length + localStorage.getItem(k).length, 0)"""


def measure(path: Path, chromium: str, segments: int) -> dict:
    from playwright.sync_api import sync_playwright

    out: dict = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        def open_report() -> float:
            started = time.perf_counter()
            page.goto(path.resolve().as_uri(), timeout=600_000)
            page.wait_for_selector("html[data-ready=true]", timeout=600_000)
            return round(time.perf_counter() - started, 3)

        out["open_seconds_no_decisions"] = open_report()
        page.keyboard.press("j")
        started = time.perf_counter()
        for i in range(KEYED):
            page.keyboard.press("w" if i % 2 else "p")
        out["keyboard_decisions"] = KEYED
        out["seconds_per_key"] = round((time.perf_counter() - started) / KEYED, 4)
        assert page.get_attribute("#progress", "data-reviewed") == str(KEYED)
        out["chars_per_keyed_decision"] = round(page.evaluate(STORED) / KEYED, 2)

        n, chars = page.evaluate(FILL)
        out["decisions_stored"] = n
        out["chars_per_decision"] = round(chars / n, 2)
        out["chars_all_decisions"] = page.evaluate(STORED)
        out["share_of_quota"] = round(out["chars_all_decisions"] / QUOTA, 3)
        out["open_seconds_all_decided"] = open_report()
        out["reviewed_after_reload"] = int(page.get_attribute("#progress", "data-reviewed"))
        out["near_full_warning"] = page.is_visible("#storage-full")
        page.keyboard.press("j")
        page.keyboard.press("p")  # one more decision still saves
        out["saving_after_full_review"] = not page.is_visible("#storage-warning")
        browser.close()
    assert out["reviewed_after_reload"] == segments, out
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=50_000)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "review.html"
        result = render(synthetic_rows(args.segments), path)
        result.update(measure(path, args.chromium, args.segments))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
