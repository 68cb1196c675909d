"""Generated dumps for the account tests: accounts whose behaviour over time is planted.

Eight weeks of posts (from Monday 2024-03-04, times in Japan time) by three accounts:

``turncoat``  five posts a day, wire-style for the first four weeks, partisan after;
``burster``   one to three posts a day of either style, and BURST_POSTS on BURST_DAY;
``steady``    two to four posts a day of either style, every day.

The texts are labeled texts of ``labels/`` (single-line, not marked hard), each used once,
so the shipped model scores them clearly (tests check that it reads at least 98% of them as
labeled; the account figures are checked against the scores, not against the labels).  The same plan is written as snscrape JSONL
(times in UTC, as snscrape gives them) and as a pasted timeline (day-only dates).
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from classifier.cli import cli

from .conftest import LABELS

START = date(2024, 3, 4)
DAYS = 56
SWITCH_DAY = 28
BURST_DAY = 40
BURST_POSTS = 25
#: Five a day: one text the model reads against its label still leaves the day at 0.2 or 0.8.
TURNCOAT_PER_DAY = 5
JST = ZoneInfo("Asia/Tokyo")
NAMES = {"turncoat": "変わる人", "burster": "連投さん", "steady": "いつもの人"}


@dataclass(frozen=True)
class PlannedPost:
    handle: str
    local: datetime
    text: str
    label: str

    @property
    def day(self) -> str:
        return self.local.date().isoformat()


def label_texts() -> dict[str, list[str]]:
    """Labeled texts by label, in file order: one line, 15-140 characters, no link."""
    texts: dict[str, list[str]] = {"wire": [], "partisan": []}
    for path in sorted(LABELS.glob("written-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            text = row["text"]
            if row.get("hard") or "\n" in text or not 15 <= len(text) <= 140 or "http" in text or "pic." in text:
                continue
            texts[row["label"]].append(text)
    return texts


def plan(seed: int = 15) -> list[PlannedPost]:
    """The posts of the three accounts, in time order."""
    rng = random.Random(seed)
    pools = label_texts()
    for pool in pools.values():
        rng.shuffle(pool)

    def post(handle: str, day: int, label: str) -> PlannedPost:
        moment = datetime.combine(START + timedelta(days=day), datetime.min.time(), JST)
        moment += timedelta(hours=rng.randrange(24), minutes=rng.randrange(60))
        return PlannedPost(handle, moment, pools[label].pop(), label)

    posts = []
    for day in range(DAYS):
        posts += [post("turncoat", day, "wire" if day < SWITCH_DAY else "partisan") for _ in range(TURNCOAT_PER_DAY)]
        count = BURST_POSTS if day == BURST_DAY else rng.randint(1, 3)
        posts += [post("burster", day, rng.choice(("wire", "partisan"))) for _ in range(count)]
        posts += [post("steady", day, rng.choice(("wire", "partisan"))) for _ in range(rng.choice((2, 3, 3, 4)))]
    return sorted(posts, key=lambda p: p.local)


def write_snscrape(path: Path, posts: list[PlannedPost]) -> Path:
    """snscrape JSONL: one post per line, the time in UTC with its offset."""
    lines = []
    for number, p in enumerate(posts, start=1):
        lines.append(json.dumps({
            "url": f"https://twitter.com/{p.handle}/status/{1_800_000_000 + number}",
            "date": p.local.astimezone(timezone.utc).isoformat(),
            "id": 1_800_000_000 + number,
            "rawContent": p.text,
            "user": {"username": p.handle, "displayname": NAMES[p.handle]},
        }, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_timeline(path: Path, posts: list[PlannedPost]) -> Path:
    """A pasted timeline: each post's text above its attribution line, dated by day only."""
    lines = []
    for p in posts:
        lines.append(p.text)
        lines.append(f"— {NAMES[p.handle]} (@{p.handle}) {p.local:%B} {p.local.day}, {p.local.year}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(*args):
    """``postcred ARGS`` in this process."""
    return CliRunner().invoke(cli, list(map(str, args)))


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def score_planned_dumps(folder: Path) -> dict:
    """The plan as snscrape JSONL (``timed``) and as a pasted timeline (``dayonly``), each
    scored by `postcred score` (which writes the account tables beside the scores), and
    the scores file turned into account tables again by `postcred accounts` (into
    ``again/``, with the SQLite database): paths, printed notes and the tables' rows of
    `score`'s CSVs."""
    posts = plan()
    out = {}
    for name, write, suffix in (("timed", write_snscrape, "jsonl"), ("dayonly", write_timeline, "txt")):
        dump = write(folder / f"{name}.{suffix}", posts)
        scores = folder / f"{name}.csv"
        scored = run("score", dump, "-o", scores, "--no-report")
        assert scored.exit_code == 0, scored.output
        result = run("accounts", scores, "-o", folder / "again", "--sqlite", folder / f"{name}.sqlite")
        assert result.exit_code == 0, result.output
        out[name] = {
            "dump": dump,
            "scores": scores,
            "sqlite": folder / f"{name}.sqlite",
            "output": result.output,
            "score_output": scored.output,
            "again": folder / "again",
            "accounts": {row["handle"]: row for row in read_csv(folder / f"{name}.accounts.csv")},
            "days": read_csv(folder / f"{name}.account_days.csv"),
        }
    return out
