"""Make the README's screenshot of the report: keyboard review of the seed dump.

Scores the seed with the shipped model (or takes ``--report``), opens the report in
Debian's chromium through Playwright, and reviews the first segments in input order with
the keyboard only: each is
labeled as ``labels/seed.jsonl`` labels it (``w`` or ``p``), one gets a note (``n``), and
the focus rests on the next segment, its strongest evidence highlighted.

    .venv/bin/python scripts/report_screenshot.py            # writes reports/report-screenshot.png
    .venv/bin/python scripts/report_screenshot.py --out /tmp/shot.png --report reports/seed.html
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "timeline_nhk_reuters_partisan_2024-11-04.txt"
CHROMIUM = Path(os.environ.get("POSTCRED_CHROMIUM", "/usr/bin/chromium"))
REVIEWED = 3  # segments decided before the picture; the fourth has the focus


def seed_labels() -> dict[str, str]:
    """The seed's own labels, by text: what an honest reviewer would answer."""
    lines = (ROOT / "labels" / "seed.jsonl").read_text(encoding="utf-8").split("\n")
    rows = [json.loads(line) for line in lines if line.strip()]
    return {row["text"]: row["label"] for row in rows}


def score_seed(folder: Path) -> Path:
    """Score the seed with the CLI of this environment; the report lands beside the scores."""
    postcred = Path(sys.executable).with_name("postcred")
    subprocess.run([str(postcred), "score", str(SEED), "-o", str(folder / "seed.csv"), "--quiet"], check=True)
    return folder / "seed.html"


def shoot(report: Path, out: Path) -> str:
    """Review the first segments of the queue with keys, photograph, return the focused id."""
    from playwright.sync_api import sync_playwright

    truth = seed_labels()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        page.goto(report.resolve().as_uri())
        page.wait_for_selector("html[data-ready=true]")
        page.fill("#f-topic", "russia_ukraine")
        page.dispatch_event("#f-topic", "change")
        page.evaluate("window.scrollTo(0, document.getElementById('review').offsetTop)")
        page.focus("#b-reset")
        page.keyboard.press("j")
        for i in range(REVIEWED):
            text = page.eval_on_selector("tr.segment.focused div.text", "d => d.textContent")
            if i == 1:
                page.keyboard.press("n")
                page.keyboard.type("attributed, factual")
                page.keyboard.press("Escape")
            page.keyboard.press("w" if truth.get(text, "wire") == "wire" else "p")
        focused = page.get_attribute("tr.segment.focused", "data-id")
        page.evaluate("window.scrollTo(0, document.getElementById('review-bar').getBoundingClientRect().top + scrollY - 8)")
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()
    return focused


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="A report of the seed (default: score the seed now).")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "report-screenshot.png")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} not found; run `bash scripts/setup.sh --browser`", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as folder:
        report = args.report or score_seed(Path(folder))
        focused = shoot(report, args.out)
    print(f"wrote {args.out}; focused {focused}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
