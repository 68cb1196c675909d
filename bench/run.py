"""postcred benchmark: the figures of issue 13, in one table.

Run from the repository root:

    .venv/bin/python bench/run.py            # the full run (20-30 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # a small run (a few minutes) to try it out
    .venv/bin/python bench/run.py --stages 20000   # where the time goes, stage by stage

What it measures, in a temporary folder:

1. **Throughput.** A dump of ``--segments`` distinct texts (one post per line), each
   joining two sentences drawn at random from the labeled sentences of one class, so the
   texts read like the labeled ones and none repeats (no cache can make any free).  In
   ``--rounds`` rounds, alternating: bare fugashi tokenizing the same lines (surfaces only,
   a fresh process, the loop timed), ``postcred score --jobs 1 --no-report`` and
   ``postcred score --jobs 2 --no-report`` (fresh processes, wall clock from start to
   exit, start-up included).  Each round gives a ratio (postcred --jobs 1 throughput over
   bare fugashi's) and a speed-up (--jobs 2 over --jobs 1), and checks that both scores
   files are byte-identical; the table shows every round and the median.  Beside the
   speed-up, the CPU time of the --jobs 2 run (its workers' included) over the --jobs 1
   run's: what the process pool costs in work.  Near 1.0, a speed-up short of 2x is the
   start-up both pay and the machine's other load, not work the pool adds.  These runs are
   not memory-sampled (their peak RSS is the kernel's record): sampling PSS takes CPU
   from the workers of a ``--jobs 2`` run and from none of a ``--jobs 1`` run.
2. **Memory.** Peak RSS (the kernel's high-water mark of the scoring process) of
   ``postcred score --jobs 1 --no-report`` on pasted-timeline dumps of ``--timeline-mb``
   megabytes (growth per extra megabyte between the smallest and the largest), and on a
   dump of ``--rss-gb`` gigabytes (snscrape-style JSONL, or ``--rss-format timeline``,
   ``x-api``: one X API response on one line, ``csv``: a CSV export of
   ``--csv-accounts`` accounts over a year, nearly a new account-day a post, ``tsv``,
   ``tweets-js``, ``archive``: an archive's zip, or ``plain``).
3. **Start-up.** ``postcred score`` on the seed with its report, ``--startup-runs`` times:
   the median wall clock.
4. The report at ``--report-rows`` segments (the page alone, and what the default report
   adds to a whole run of that many segments against ``--no-report``) and training at
   ``--train-sizes`` labels, for context.

Targets (issue 13): ratio >= 0.30 (aim 0.39); --jobs 2 >= 1.75x with identical files;
peak RSS growth < 0.5 MB per extra MB of timeline; < 500 MB on the 1 GB dump; seed with
its report < 0.9 s.  The table marks each.  On a shared machine absolute figures move with
the load (the table shows the load average); the ratios, measured within one run with
the two sides alternating, move less.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED = ROOT / "seeds" / "timeline_nhk_reuters_partisan_2024-11-04.txt"
SENTENCE_RE = re.compile(r"[^。！？!?]+[。！？!?]?")
RATIO_TARGET = 0.30
RATIO_AIM = 0.39
SPEEDUP_TARGET = 1.75
RSS_TARGET_MB = 500
RSS_GROWTH_TARGET = 0.5  # MB of peak RSS per extra MB of timeline dump
STARTUP_TARGET_S = 0.9


# ---------------------------------------------------------------- data


def labeled_texts(labels_dir: Path) -> list[tuple[str, str]]:
    """(text, label) of every readable line of ``labels/*.jsonl`` (a file being written
    by someone else may end in a partial line: it is skipped)."""
    out = []
    for path in sorted(labels_dir.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and row.get("label") in ("wire", "partisan") and str(row.get("text", "")).strip():
                out.append((" ".join(str(row["text"]).split()), row["label"]))
    if not out:
        raise SystemExit(f"no labeled texts in {labels_dir}")
    return out


def sentence_pools(texts: list[tuple[str, str]]) -> dict[str, list[str]]:
    pools: dict[str, list[str]] = {"wire": [], "partisan": []}
    for text, label in texts:
        pools[label].extend(s.strip() for s in SENTENCE_RE.findall(text) if s.strip())
    return pools


def synthetic_texts(pools: dict[str, list[str]], n: int, *, sentences: tuple[int, int] = (2, 2), seed: int = 0):
    """``n`` (text, label) pairs, each joining sentences of one class drawn at random."""
    rng = random.Random(seed)
    labels = [label for label in ("wire", "partisan") if pools[label]]
    for _ in range(n):
        label = rng.choice(labels)
        k = rng.randint(*sentences)
        yield "".join(rng.choice(pools[label]) for _ in range(k)), label


def distinct_texts(pools: dict[str, list[str]], n: int, *, seed: int = 0) -> list[str]:
    """``n`` texts made as :func:`synthetic_texts` makes them, none twice."""
    seen: set[str] = set()
    texts: list[str] = []
    for text, _ in synthetic_texts(pools, 50 * n + 1000, seed=seed):
        if text not in seen:
            seen.add(text)
            texts.append(text)
            if len(texts) == n:
                return texts
    raise SystemExit(f"could not make {n:,} distinct texts from the labeled sentences")


def write_timeline_dump(path: Path, pools: dict[str, list[str]], size_bytes: int) -> int:
    """A pasted-timeline dump of about ``size_bytes``: posts of one or two text lines, an
    attribution, zero to three article paragraphs and now and then a hashtag line, blank
    lines between posts, like the seed.  Returns the number of posts."""
    rng = random.Random(5)
    texts = synthetic_texts(pools, 10**9, sentences=(1, 3), seed=2)
    months = ("November", "December", "Nov", "Dec")
    posts = written = 0
    with path.open("w", encoding="utf-8") as handle:
        while written < size_bytes:
            posts += 1
            user = posts % 700
            lines = [next(texts)[0] for _ in range(rng.choice((1, 1, 2)))]
            lines.append(f"— アカウント{user} (@user{user}) {rng.choice(months)} {1 + posts % 28}, 2024")
            lines.extend(next(texts)[0] for _ in range(rng.randint(0, 3)))
            if rng.random() < 0.2:
                lines.append(f"#話題{posts % 50} #拡散")
            block = "\n".join(lines) + "\n\n"
            handle.write(block)
            written += len(block.encode("utf-8"))
    return posts


def write_lines_dump(path: Path, texts: list[str]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for text in texts:
            handle.write(text + "\n")


#: Accounts of the CSV memory dump (:func:`write_csv_dump`).
CSV_ACCOUNTS = 20_000


def write_csv_dump(path: Path, pools: dict[str, list[str]], size_bytes: int, accounts: int = CSV_ACCOUNTS,
                   delimiter: str = ",") -> int:
    """A CSV export (id, username, created_at, text) of about ``size_bytes``: posts of
    ``accounts`` accounts (0: every post its own) at random times of 2024, so that nearly
    every post is an account-day of its own, as in a year-long collection of many
    accounts (the account tables' hardest case); returns the number of posts."""
    import csv

    rng = random.Random(7)
    users = [f"user{k:05d}" for k in range(accounts)] if accounts else None
    posts = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(["id", "username", "created_at", "text"])
        while handle.tell() < size_bytes:
            for text, _ in synthetic_texts(pools, 10_000, seed=posts):
                posts += 1
                user = rng.choice(users) if users else f"u{posts:08d}"
                when = (f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                        f"T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z")
                writer.writerow([str(10**17 + posts), user, when, text])
    return posts


def write_jsonl_dump(path: Path, pools: dict[str, list[str]], size_bytes: int) -> int:
    """A snscrape-style JSONL dump of about ``size_bytes``; returns the record count.

    Each record carries what snscrape writes beside the text (the rendered text, the
    author's profile with its description, counts, links): a few kilobytes, as in a real
    export, of which postcred reads the text, author, date and URL.
    """
    rng = random.Random(4)
    records = 0
    written = 0
    everything = pools["wire"] + pools["partisan"]
    with path.open("w", encoding="utf-8") as handle:
        for text, _ in synthetic_texts(pools, 10**9, sentences=(1, 3), seed=1):
            records += 1
            user = records % 5000
            status = 10**17 + records
            bio = "".join(rng.choice(everything) for _ in range(3))
            line = json.dumps({
                "_type": "snscrape.modules.twitter.Tweet",
                "url": f"https://twitter.com/user{user}/status/{status}",
                "date": f"2024-11-{1 + records % 28:02d}T{records % 24:02d}:{records % 60:02d}:00+00:00",
                "rawContent": text,
                "renderedContent": text,
                "id": status,
                "user": {
                    "_type": "snscrape.modules.twitter.User",
                    "username": f"user{user}",
                    "id": 10**9 + user,
                    "displayname": f"アカウント{user}",
                    "rawDescription": bio,
                    "renderedDescription": bio,
                    "descriptionLinks": [{"text": f"example.org/u{user}", "url": f"https://example.org/u{user}"}],
                    "verified": False,
                    "created": "2015-04-01T00:00:00+00:00",
                    "followersCount": rng.randint(0, 10**6),
                    "friendsCount": rng.randint(0, 5000),
                    "statusesCount": rng.randint(0, 10**5),
                    "favouritesCount": rng.randint(0, 10**5),
                    "listedCount": rng.randint(0, 1000),
                    "mediaCount": rng.randint(0, 5000),
                    "location": "日本",
                    "protected": False,
                    "link": {"text": f"example.org/u{user}", "url": f"https://example.org/u{user}"},
                    "profileImageUrl": f"https://pbs.twimg.com/profile_images/{10**12 + user}/photo_normal.jpg",
                    "profileBannerUrl": f"https://pbs.twimg.com/profile_banners/{10**9 + user}/1600000000",
                },
                "replyCount": rng.randint(0, 100),
                "retweetCount": rng.randint(0, 1000),
                "likeCount": rng.randint(0, 5000),
                "quoteCount": rng.randint(0, 50),
                "conversationId": status,
                "lang": "ja",
                "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
                "sourceUrl": "https://mobile.twitter.com",
                "sourceLabel": "Twitter Web App",
                "links": None,
                "media": None,
                "retweetedTweet": None,
                "quotedTweet": None,
                "inReplyToTweetId": None,
                "inReplyToUser": None,
                "mentionedUsers": None,
                "coordinates": None,
                "place": None,
                "hashtags": None,
                "cashtags": None,
                "viewCount": rng.randint(0, 10**5),
            }, ensure_ascii=False) + "\n"
            handle.write(line)
            written += len(line.encode("utf-8"))
            if written >= size_bytes:
                return records
    return records


def write_x_api_dump(path: Path, pools: dict[str, list[str]], size_bytes: int) -> int:
    """One X API v2 search response of about ``size_bytes`` on one line (``data``, then
    ``includes.users``, then ``meta``), as a client that saves a response compactly writes
    it; returns the number of posts."""
    posts = 0
    written = 0
    with path.open("w", encoding="utf-8") as handle:
        handle.write('{"data": [')
        for text, _ in synthetic_texts(pools, 10**9, sentences=(1, 3), seed=6):
            posts += 1
            item = json.dumps({
                "id": str(10**18 + posts), "text": text, "author_id": str(posts % 5000), "lang": "ja",
                "created_at": f"2024-11-{1 + posts % 28:02d}T{posts % 24:02d}:{posts % 60:02d}:00.000Z",
                "public_metrics": {"retweet_count": posts % 97, "reply_count": posts % 13, "like_count": posts % 501,
                                   "quote_count": posts % 7},
                "edit_history_tweet_ids": [str(10**18 + posts)],
            }, ensure_ascii=False)
            handle.write(("," if posts > 1 else "") + item)
            written += len(item.encode("utf-8")) + 1
            if written >= size_bytes:
                break
        users = [{"id": str(u), "username": f"user{u}", "name": f"アカウント{u}"} for u in range(5000)]
        handle.write('], "includes": {"users": ' + json.dumps(users, ensure_ascii=False) + '}, "meta": {"result_count": '
                     + str(posts) + "}}\n")
    return posts


def write_tweets_js_dump(path: Path, pools: dict[str, list[str]], size_bytes: int) -> int:
    """An X/Twitter archive's ``tweets.js`` of about ``size_bytes``: ``window.YTD.tweets.part0
    = [...]`` with each post pretty-printed as the archive writes it (two-space indent,
    ``" : "``, the fields an archive carries beside the text); returns the number of posts."""
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    posts = written = 0
    with path.open("w", encoding="utf-8") as handle:
        handle.write("window.YTD.tweets.part0 = [")
        for text, _ in synthetic_texts(pools, 10**9, sentences=(1, 3), seed=8):
            posts += 1
            status = str(10**18 + posts)
            item = json.dumps({"tweet": {
                "edit_info": {"initial": {"editTweetIds": [status], "editableUntil": "2024-11-01T00:00:00.000Z",
                                          "editsRemaining": "5", "isEditEligible": True}},
                "retweeted": False,
                "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
                "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []},
                "display_text_range": ["0", str(len(text))],
                "favorite_count": str(posts % 501),
                "id_str": status,
                "truncated": False,
                "retweet_count": str(posts % 97),
                "id": status,
                "created_at": f"{days[posts % 7]} {months[posts % 12]} {1 + posts % 28:02d} "
                              f"{posts % 24:02d}:{posts % 60:02d}:00 +0000 2024",
                "favorited": False,
                "full_text": text,
                "lang": "ja",
            }}, ensure_ascii=False, indent=2, separators=(",", " : "))
            block = ("," if posts > 1 else "") + "\n" + item
            handle.write(block)
            written += len(block.encode("utf-8"))
            if written >= size_bytes:
                break
        handle.write("\n]\n")
    return posts


ARCHIVE_ACCOUNT_JS = """window.YTD.account.part0 = [
  {
    "account" : {
      "username" : "bench_archive",
      "accountId" : "42",
      "accountDisplayName" : "ベンチのアーカイブ"
    }
  }
]
"""


def write_archive_dump(path: Path, pools: dict[str, list[str]], size_bytes: int) -> int:
    """An X/Twitter archive's zip: ``data/tweets.js`` of about ``size_bytes`` (as
    :func:`write_tweets_js_dump` writes it, kept under the 1 GiB postcred unpacks from an
    archive) and ``data/account.js``, deflated; returns the number of posts."""
    import zipfile

    from classifier.limits import MAX_ARCHIVE_BYTES

    tweets = path.with_name(path.stem + "-tweets.js")
    posts = write_tweets_js_dump(tweets, pools, min(size_bytes, MAX_ARCHIVE_BYTES - 2**20))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data/account.js", ARCHIVE_ACCOUNT_JS)
        archive.write(tweets, "data/tweets.js")
    tweets.unlink()
    return posts


def write_plain_dump(path: Path, pools: dict[str, list[str]], size_bytes: int) -> int:
    """Plain text of about ``size_bytes``, one post per line; returns the number of posts."""
    posts = written = 0
    with path.open("w", encoding="utf-8") as handle:
        for text, _ in synthetic_texts(pools, 10**9, sentences=(1, 3), seed=9):
            posts += 1
            handle.write(text + "\n")
            written += len(text.encode("utf-8")) + 1
            if written >= size_bytes:
                break
    return posts


# ---------------------------------------------------------------- measurements


def plain_fugashi_tagger():
    """fugashi's own ``Tagger`` over unidic-lite, as a user of fugashi would make it (not
    postcred's tagger, which formats MeCab's output its own way)."""
    import fugashi
    import unidic_lite

    return fugashi.Tagger(f'-d "{unidic_lite.DICDIR}"')


BARE_FUGASHI = """
import sys, time
import fugashi, unidic_lite
tagger = fugashi.Tagger('-d "' + unidic_lite.DICDIR + '"')
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
for text in lines[:200]:  # warm up (dictionary pages, caches)
    tagger(text)
start, cpu = time.perf_counter(), time.process_time()
for text in lines:
    [word.surface for word in tagger(text)]
print(time.perf_counter() - start, time.process_time() - cpu)
"""


def bare_fugashi(dump: Path) -> tuple[float, float]:
    """Seconds (wall clock, CPU) bare fugashi takes to tokenize every line of ``dump``
    (surfaces only), in a fresh process like postcred's, the loop alone timed: the floor
    no scorer goes under."""
    out = subprocess.run([sys.executable, "-c", BARE_FUGASHI, str(dump)], capture_output=True, text=True, check=True)
    wall, cpu = out.stdout.split()
    return float(wall), float(cpu)


# Runs a command from a fresh, small process and reports its resource usage.  Linux
# carries a process's peak RSS across fork and exec (ru_maxrss), so a command started
# straight from this benchmark, which holds the dump and MeCab, would inherit our peak.
LAUNCHER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    json.dump({"status": os.waitstatus_to_exitcode(status), "cpu_s": usage.ru_utime + usage.ru_stime,
               "maxrss_kb": usage.ru_maxrss, "wall_s": wall}, out)
"""


def run_measured(command: list[str], *, cwd: Path, work: Path, sample: bool = True) -> dict:
    """Run ``command``: its wall time, CPU time (user + system, with its worker
    processes), its peak RSS (the kernel's high-water mark of its largest process), and
    (``sample``) memory sampled every 0.2 s: the largest RSS of one process, and over the
    whole process tree the summed RSS and the summed PSS (shared pages, such as MeCab's
    memory-mapped dictionary and the pages forked workers share, counted once).

    The timed throughput runs do not sample (``sample=False``; their sampled fields are
    None): reading a process's PSS makes the kernel walk its pages (about 6 ms of CPU a
    process of a few hundred MB, 19 ms a sample of a ``--jobs 2`` tree), CPU taken from
    the workers when they keep both cores busy, and from nothing a ``--jobs 1`` run uses.
    """
    import psutil

    load = os.getloadavg()[0]
    err_path, usage_path = work / "stderr.txt", work / "usage.json"
    with err_path.open("wb") as err:
        launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(usage_path), *command], cwd=cwd,
                                    stdout=subprocess.DEVNULL, stderr=err)
    process = psutil.Process(launcher.pid)
    peak = {"rss_max": 0, "rss_tree": 0, "pss_tree": 0}
    done = threading.Event()

    def sample_tree() -> None:
        while not done.is_set():
            try:
                tree = process.children(recursive=True)
            except psutil.Error:
                tree = []
            rss = pss = top = 0
            for p in tree:
                try:
                    info = p.memory_full_info()
                except psutil.Error:
                    continue
                rss += info.rss
                pss += getattr(info, "pss", info.rss)
                top = max(top, info.rss)
            peak["rss_max"] = max(peak["rss_max"], top)
            peak["rss_tree"] = max(peak["rss_tree"], rss)
            peak["pss_tree"] = max(peak["pss_tree"], pss)
            done.wait(0.2)

    sampler = threading.Thread(target=sample_tree, daemon=True)
    if sample:
        sampler.start()
    launcher.wait()
    done.set()
    if sample:
        sampler.join()
    usage = json.loads(usage_path.read_text()) if usage_path.exists() else {"status": launcher.returncode}
    if launcher.returncode != 0 or usage["status"] != 0:
        raise SystemExit(f"command failed ({usage['status']}): {' '.join(command)}\n"
                         + err_path.read_text(encoding="utf-8", errors="replace"))
    return {
        "wall_s": usage["wall_s"],  # the command's own, from its fork to its end (not the launcher's start-up)
        "cpu_s": usage["cpu_s"],
        "peak_rss_mb": peak["rss_max"] / 2**20 if sample else None,
        "peak_tree_rss_mb": peak["rss_tree"] / 2**20 if sample else None,
        "peak_tree_pss_mb": peak["pss_tree"] / 2**20 if sample else None,
        "maxrss_mb": usage["maxrss_kb"] / 1024,
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }


def postcred(*args: str) -> list[str]:
    """The command line of ``postcred`` as a user runs it: the console script installed beside
    this Python (``python -m classifier.cli`` only where there is none; it starts about 0.06 s
    slower, running the module as ``__main__``)."""
    script = Path(sys.executable).with_name("postcred")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "classifier.cli", *args]


def count_csv_rows(path: Path) -> int:
    import csv

    with path.open(encoding="utf-8", newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def time_training(texts: list[tuple[str, str]], params: dict) -> float:
    import numpy as np

    from classifier.model import build_pipeline

    X = [t for t, _ in texts]
    y = np.array([label for _, label in texts])
    start = time.perf_counter()
    build_pipeline(**params).fit(X, y)
    return time.perf_counter() - start


def time_report(segments: list[str], work: Path) -> dict:
    """Score ``segments`` in this process (records with evidence), then time the report."""
    from classifier.model import load_model
    from classifier.report import write_report
    from classifier.scoring import gc_paused, score_chunk
    from classifier.source import Part, Post
    from classifier.summary import Summary

    model = load_model()
    posts = [Post(k + 1, f"bench:{k + 1}", f"account{k % 40}", f"user{k % 40}", "", [Part(k + 1, k + 1, "post", text)])
             for k, text in enumerate(segments)]
    records = []
    for start in range(0, len(posts), 1000):
        with gc_paused():
            records.extend(score_chunk(model, posts[start:start + 1000], "bench"))
    path = work / "report.html"
    begin = time.perf_counter()
    write_report(path, records, title="bench", summary=Summary().update(records).result(), model_meta=model.metadata,
                 run={"records_read": len(records), "records_scored": len(records), "records_rejected": 0,
                      "segments": len(records)})
    return {"report_s": time.perf_counter() - begin, "report_mb": path.stat().st_size / 2**20, "rows": len(records)}


def report_cost(segments: list[str], rounds: int, work: Path, log) -> dict:
    """What the default report adds to a whole ``postcred score --jobs 1`` run of
    ``segments`` (each listed in the report): the run with its report and the run with
    ``--no-report``, alternating ``rounds`` times (fresh processes, wall clock); the
    seconds of each (medians) and the report's cost per listed segment."""
    dump = work / "report-cost.txt"
    write_lines_dump(dump, segments)
    runs: dict[str, list[float]] = {"report": [], "no_report": []}
    for k in range(1, rounds + 1):
        for name, extra in (("report", ()), ("no_report", ("--no-report",))):
            log(f"report cost, round {k}/{rounds}: postcred score {'with its report' if not extra else '--no-report'} ...")
            run = run_measured(postcred("score", str(dump), "-o", str(work / "report-cost.csv"), "--input-format", "lines",
                                        "-q", "--force", *extra), cwd=ROOT, work=work, sample=False)
            runs[name].append(run["wall_s"])
    with_report, without = statistics.median(runs["report"]), statistics.median(runs["no_report"])
    return {"segments": len(segments), "report_s": runs["report"], "no_report_s": runs["no_report"],
            "per_segment_us": (with_report - without) / len(segments) * 1e6}


def stage_costs(texts: list[str], work: Path, clock=time.perf_counter) -> list[tuple[str, float]]:
    """Microseconds per segment of each stage of scoring, timed one stage at a time in
    this process (garbage collector paused, as while scoring), on ``texts``; ``clock``
    is ``time.process_time`` for CPU time (on a machine other work keeps busy)."""
    import gc

    from classifier import markers, tokens
    from classifier.ingest import read_posts
    from classifier.model import explain, load_model, transform_features, wire_probability_of_features
    from classifier.accounts import record_posts, time_zone
    from classifier.campaign_params import CampaignParams
    from classifier.scoring import score_chunk, sketch_campaigns
    from classifier.summary import Summary
    from classifier.writers import format_csv, format_jsonl

    dump = work / "stages.txt"
    write_lines_dump(dump, texts)
    model = load_model()
    lexicon = markers.load_lexicon()
    tagger = plain_fugashi_tagger()
    step = model.pipeline.named_steps["tokens"]
    n = len(texts)
    out: list[tuple[str, float]] = []

    def timed(name: str, work):
        start = clock()
        result = work()
        out.append((name, (clock() - start) / n * 1e6))
        return result

    enabled = gc.isenabled()
    gc.disable()
    try:
        timed("bare fugashi: tagger(text), surfaces", lambda: [[w.surface for w in tagger(t)] for t in texts])
        posts = timed("read the dump (read_posts)", lambda: list(read_posts(dump, input_format="lines")))
        normalized = timed("  analyze: NFKC with offsets", lambda: [tokens.normalize_with_offsets(t) for t in texts])
        timed("  analyze: URL, handle, hashtag, emoji spans", lambda: [tokens._special_spans(m) for m, _ in normalized])
        timed("  analyze: entities (URLs, hashtags, mentions)", lambda: [tokens.entities(m) for m, _ in normalized])
        found = timed("  analyze: MeCab tokens with lemma, POS, spans",
                      lambda: [tokens._mecab_tokens(m, 0, len(m), o, o == list(range(len(o)))) for m, o in normalized])
        timed("  analyze: TF-IDF terms", lambda: [tokens.document_terms(words) for words, _, _ in found])
        docs = timed("analyze, all of it (tokens step)", lambda: step.transform(texts))
        timed("markers, detected once onto each text", lambda: [markers.annotate_markers(d, lexicon) for d in docs])
        X, occurrences = timed("features (TF-IDF + marker block)", lambda: transform_features(model.pipeline, docs))
        timed("p_wire (logistic regression)", lambda: wire_probability_of_features(model.pipeline, X))
        timed("evidence: top 6 features (CSV)", lambda: explain(model.pipeline, docs, 6, X=X, occurrences=occurrences,
                                                              spans=False))
        timed("evidence: every feature with spans (JSONL, report)",
              lambda: explain(model.pipeline, docs, X=X, occurrences=occurrences))
        records = timed("score_chunk, CSV records (all of the above but reading)",
                        lambda: score_chunk(model, posts, "bench", evidence=False))
        timed("format CSV", lambda: format_csv(records))
        timed("summary", lambda: Summary().update(records))
        timed("campaign sketches (default campaign parameters)", lambda: sketch_campaigns(records, CampaignParams()))
        timed("account posts (for the account tables)", lambda: record_posts(records, time_zone("UTC")))
        records = score_chunk(model, posts, "bench")
        timed("format JSONL (with evidence)", lambda: format_jsonl(records))
    finally:
        if enabled:
            gc.enable()
    return out


# ---------------------------------------------------------------- main


def throughput_rounds(dump: Path, n: int, rounds: int, work: Path, log) -> list[dict]:
    """``rounds`` rounds of bare fugashi, postcred --jobs 1 and --jobs 2 on ``dump``,
    alternating, each round's scores files compared byte for byte."""
    out = []
    for k in range(1, rounds + 1):
        log(f"round {k}/{rounds}: bare fugashi ...")
        bare, bare_cpu = bare_fugashi(dump)
        runs = {}
        for jobs in (1, 2):
            log(f"round {k}/{rounds}: postcred score --jobs {jobs} ...")
            scores = work / f"scores-j{jobs}.csv"
            runs[jobs] = run_measured(postcred("score", str(dump), "-o", str(scores), "--input-format", "lines",
                                               "--no-report", "-q", "--force", "--jobs", str(jobs)), cwd=ROOT, work=work,
                                      sample=False)
            rows = count_csv_rows(scores)
            if rows != n:
                raise SystemExit(f"--jobs {jobs}: {rows} rows in the scores file, expected {n}")
        identical = (work / "scores-j1.csv").read_bytes() == (work / "scores-j2.csv").read_bytes()
        out.append({"bare_s": bare, "bare_cpu_s": bare_cpu, "jobs1": runs[1], "jobs2": runs[2], "identical": identical,
                    "ratio": bare / runs[1]["wall_s"], "ratio_cpu": bare_cpu / runs[1]["cpu_s"],
                    "speedup": runs[1]["wall_s"] / runs[2]["wall_s"]})
    for jobs in (1, 2):
        (work / f"scores-j{jobs}.csv").unlink()
    return out


def peak_rss(dump: Path, work: Path, *options: str, output: str = "csv") -> dict:
    """``postcred score --jobs 1 --no-report`` on ``dump``: time and peak RSS.  ``output``:
    a CSV scores file, a SQLite database or a folder of Parquet tables (``--format``)."""
    out = work / {"csv": "rss.csv", "sqlite": "rss.sqlite", "parquet": "rss-tables"}[output]
    run = run_measured(postcred("score", str(dump), "-o", str(out), "--format", output, "--no-report", "-q", "--force",
                                *options), cwd=ROOT, work=work)
    run["segments"] = count_segments(out, output)
    run["bytes"] = dump.stat().st_size
    run["output"] = output
    for path in out.parent.glob(out.stem + "*"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return run


def count_segments(out: Path, output: str) -> int:
    """The rows of a run's segments: its scores file's, or its database's segments table."""
    if output == "csv":
        return count_csv_rows(out)
    if output == "sqlite":
        import sqlite3

        with contextlib.closing(sqlite3.connect(out)) as db:
            return db.execute("SELECT COUNT(*) FROM segments").fetchone()[0]
    import pyarrow.parquet as pq

    return pq.ParquetFile(out / "segments.parquet").metadata.num_rows


def seed_startup(runs: int, work: Path) -> dict:
    """``postcred score`` on the seed with its report, ``runs`` times: every wall clock.

    The parts before write gigabytes (the 1 GB dump, its scores, campaign files); the
    kernel writes them back for tens of seconds afterwards, and each seed run's own fsyncs
    (its outputs are written atomically) would wait behind them.  Those writes are flushed
    first (``os.sync``), so that the figure is the seed's start-up, not the tail of the
    memory part; and memory is not sampled (reading a starting process's PSS walks its
    page tables while it faults its pages in)."""
    os.sync()
    walls = [run_measured(postcred("score", str(SEED), "-o", str(work / "seed.csv"), "-q", "--force"),
                          cwd=ROOT, work=work, sample=False)["wall_s"] for _ in range(runs)]
    return {"walls": walls, "median_s": statistics.median(walls)}


def memory_figures(figures: dict, args, pools: dict[str, list[str]], work: Path, log) -> None:
    """The memory part: peak RSS on the pasted-timeline dumps and on the large dump."""
    figures["timeline"] = []
    for size in [float(s) for s in args.timeline_mb.split(",") if s.strip()]:
        path = work / f"timeline-{size:g}mb.txt"
        posts = write_timeline_dump(path, pools, int(size * 2**20))
        log(f"postcred score on a {size:g} MB timeline ({posts:,} posts) ...")
        figures["timeline"].append({"mb": size, "posts": posts, **peak_rss(path, work)})
        path.unlink()

    if args.rss_gb > 0:
        big = work / {"jsonl": "big.jsonl", "timeline": "big.txt", "x-api": "big.json", "csv": "big.csv",
                      "tsv": "big.tsv", "tweets-js": "tweets.js", "archive": "archive.zip",
                      "plain": "big-plain.txt"}[args.rss_format]
        log(f"memory dump: {args.rss_gb:g} GB of {args.rss_format} ...")
        write = {"jsonl": write_jsonl_dump, "timeline": write_timeline_dump, "x-api": write_x_api_dump,
                 "csv": lambda path, pools, size: write_csv_dump(path, pools, size, args.csv_accounts),
                 "tsv": lambda path, pools, size: write_csv_dump(path, pools, size, args.csv_accounts, delimiter="\t"),
                 "tweets-js": write_tweets_js_dump, "archive": write_archive_dump, "plain": write_plain_dump}
        records = write[args.rss_format](big, pools, int(args.rss_gb * 2**30))
        size = dump_bytes(big)
        log(f"postcred score on {size / 2**30:.2f} GB ({records:,} records), --jobs 1 --no-report ...")
        figures["rss"] = {"records": records, "format": args.rss_format, **peak_rss(big, work, output=args.rss_output),
                          "bytes": size}
        big.unlink()


def dump_bytes(path: Path) -> int:
    """The size of a dump as postcred reads it: an archive's zip by what it unpacks to."""
    if path.suffix == ".zip":
        import zipfile

        with zipfile.ZipFile(path) as archive:
            return sum(info.file_size for info in archive.infolist())
    return path.stat().st_size


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=70_000, help="Distinct segments in the throughput dump.")
    parser.add_argument("--rounds", type=int, default=3, help="Alternating rounds of the throughput runs.")
    parser.add_argument("--timeline-mb", default="5,50", help="Sizes (MB) of the pasted-timeline memory dumps.")
    parser.add_argument("--rss-gb", type=float, default=1.0, help="Size of the large memory dump in GB (0: skip).")
    parser.add_argument("--rss-format", choices=("jsonl", "timeline", "x-api", "csv", "tsv", "tweets-js", "archive", "plain"),
                        default="jsonl",
                        help="Format of the large memory dump: snscrape JSONL, a pasted timeline, one X API "
                             "response (a single JSON object on one line), a CSV or TSV export of many accounts "
                             "over a year (--csv-accounts), an archive's tweets.js or its zip, or plain text.")
    parser.add_argument("--rss-output", choices=("csv", "sqlite", "parquet"), default="csv",
                        help="What the large memory dump is scored into: a CSV scores file, a SQLite database or "
                             "a folder of Parquet tables (--format).")
    parser.add_argument("--csv-accounts", type=int, default=CSV_ACCOUNTS,
                        help="Accounts of the CSV memory dump (0: every post its own account).")
    parser.add_argument("--startup-runs", type=int, default=5, help="Runs of postcred score on the seed.")
    parser.add_argument("--report-rows", type=int, default=50_000, help="Segments in the report test (0: skip).")
    parser.add_argument("--train-sizes", default="1000,10000", help="Label counts to time training at.")
    parser.add_argument("--quick", action="store_true",
                        help="A small run: 5,000 segments, 2 rounds, 1 and 5 MB timelines, a 20 MB large dump, "
                             "a 2,000-row report, 1,000 labels.")
    parser.add_argument("--memory-only", action="store_true",
                        help="Only the memory part: the pasted-timeline dumps of --timeline-mb and the dump of --rss-gb.")
    parser.add_argument("--labels", type=Path, default=ROOT / "labels")
    parser.add_argument("--workdir", type=Path, default=None, help="Keep the generated files here.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures as JSON.")
    parser.add_argument("--stages", type=int, default=0, metavar="N",
                        help="Only print where the time goes: each stage of scoring timed on N segments.")
    parser.add_argument("--cpu", action="store_true",
                        help="With --stages: time in CPU time rather than wall-clock time (a busy machine).")
    args = parser.parse_args(argv)
    if args.stages:
        texts = distinct_texts(sentence_pools(labeled_texts(args.labels)), args.stages)
        with tempfile.TemporaryDirectory(prefix="postcred-stages-") as folder:
            costs = stage_costs(texts, Path(folder), time.process_time if args.cpu else time.perf_counter)
        width = max(len(name) for name, _ in costs)
        print(f"where the time goes: {len(texts):,} segments, {'CPU ' if args.cpu else ''}microseconds per segment\n")
        print("\n".join(f"{name:<{width}}  {cost:8.1f}" for name, cost in costs))
        return {"stages": costs}
    if args.quick:
        args.segments, args.rounds, args.timeline_mb, args.rss_gb = 5_000, 2, "1,5", 0.02
        args.report_rows, args.train_sizes, args.startup_runs = 2_000, "1000", 3

    # Every postcred run below starts from the package's bytecode, as after scripts/setup.sh
    # (compiling the modules from source costs each start-up about 0.1 s where bytecode is
    # not written back, PYTHONDONTWRITEBYTECODE).
    compileall.compile_dir(ROOT / "classifier", quiet=1)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="postcred-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    figures: dict = {"segments": args.segments, "cpus": os.cpu_count(), "python": sys.version.split()[0]}
    try:
        labeled = labeled_texts(args.labels)
        pools = sentence_pools(labeled)
        if args.memory_only:
            memory_figures(figures, args, pools, work, log)
            print(format_memory_table(figures))
            return figures
        texts = distinct_texts(pools, args.segments)
        dump = work / "bench.txt"
        write_lines_dump(dump, texts)
        figures.update(chars=sum(len(t) for t in texts), distinct=len(set(texts)), labeled=len(labeled))
        log(f"dump: {len(texts):,} distinct segments, {figures['chars']:,} characters -> {dump}")
        figures["rounds"] = throughput_rounds(dump, len(texts), args.rounds, work, log)

        memory_figures(figures, args, pools, work, log)

        log(f"postcred score on the seed with its report, {args.startup_runs} times ...")
        figures["startup"] = seed_startup(args.startup_runs, work)

        if args.report_rows:
            log(f"report with {args.report_rows:,} segments ...")
            figures["report"] = time_report(texts[: args.report_rows], work)
            figures["report_cost"] = report_cost(texts[: args.report_rows], args.rounds, work, log)

        from classifier.model import load_model

        params = load_model().metadata.get("params", {})
        figures["train"] = {}
        for size in [int(s) for s in args.train_sizes.split(",") if s.strip()]:
            if size <= len(labeled):
                sample = random.Random(2).sample(labeled, size)
            else:
                sample = list(synthetic_texts(pools, size, sentences=(1, 3), seed=3))
            log(f"training on {size:,} labels ...")
            figures["train"][size] = {"seconds": time_training(sample, params),
                                      "source": "labeled texts" if size <= len(labeled) else "recombined sentences"}
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    print(format_table(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
    return figures


def memory_rows(f: dict) -> list[tuple[str, str, str]]:
    """The memory part's rows of the table."""
    mark = lambda ok: "yes" if ok else "NO"  # noqa: E731
    rows = []
    timeline = f.get("timeline") or []
    for t in timeline:
        rows.append((f"{t['bytes'] / 2**20:.1f} MB pasted timeline ({t['segments']:,} segments): peak RSS",
                     f"{t['maxrss_mb']:,.0f} MB", ""))
    if len(timeline) >= 2:
        small, large = timeline[0], timeline[-1]
        growth = (large["maxrss_mb"] - small["maxrss_mb"]) / ((large["bytes"] - small["bytes"]) / 2**20)
        rows.append(("  peak RSS growth per extra MB of timeline", f"{growth:.3f} MB/MB",
                     f"< {RSS_GROWTH_TARGET} MB/MB: {mark(growth < RSS_GROWTH_TARGET)}"))
    if "rss" in f:
        r = f["rss"]
        rows += [
            (f"{r['bytes'] / 2**30:.2f} GB {r['format']} dump ({r['records']:,} records) into {r.get('output', 'csv')},"
             " --jobs 1: time",
             f"{r['wall_s']:,.0f} s", ""),
            ("  peak RSS (kernel high-water mark)", f"{r['maxrss_mb']:,.0f} MB",
             f"< {RSS_TARGET_MB} MB: {mark(r['maxrss_mb'] < RSS_TARGET_MB)}"),
        ]
    return rows


def format_memory_table(f: dict) -> str:
    """The memory part alone (``--memory-only``), as a table."""
    return _table(f"postcred benchmark, memory part: {f['cpus']} CPUs, Python {f['python']}", memory_rows(f))


def format_table(f: dict) -> str:
    """The figures as one plain-text table, each target marked."""
    n, chars = f["segments"], f["chars"]
    mark = lambda ok: "yes" if ok else "NO"  # noqa: E731
    rounds = f["rounds"]
    ratio = statistics.median(r["ratio"] for r in rounds)
    speedup = statistics.median(r["speedup"] for r in rounds)
    bare = statistics.median(n / r["bare_s"] for r in rounds)
    r1 = statistics.median(n / r["jobs1"]["wall_s"] for r in rounds)
    r2 = statistics.median(n / r["jobs2"]["wall_s"] for r in rounds)
    rows = [
        ("bare fugashi: tagger(text), token surfaces (median)", f"{bare:,.0f} seg/s", ""),
        ("postcred score --jobs 1 --no-report, whole process (median)", f"{r1:,.0f} seg/s", ""),
        ("  per segment", f"{1e6 / r1:,.0f} µs", ""),
        ("  ratio to bare fugashi, per round",
         " ".join(f"{r['ratio']:.2f}" for r in rounds), ""),
        ("  ratio to bare fugashi (median)", f"{ratio:.2f}x",
         f">= {RATIO_TARGET:.2f}x: {mark(ratio >= RATIO_TARGET)}; aim {RATIO_AIM:.2f}x"),
        ("  same in CPU time (less moved by other processes), per round",
         " ".join(f"{r['ratio_cpu']:.2f}" for r in rounds), ""),
        ("postcred score --jobs 2 --no-report (median)", f"{r2:,.0f} seg/s", ""),
        ("  speed-up over --jobs 1, per round", " ".join(f"{r['speedup']:.2f}" for r in rounds), ""),
        ("  speed-up over --jobs 1 (median)", f"{speedup:.2f}x",
         f">= {SPEEDUP_TARGET:.2f}x: {mark(speedup >= SPEEDUP_TARGET)}"),
        ("  its CPU time (workers included) over --jobs 1's, per round",
         " ".join(f"{r['jobs2']['cpu_s'] / r['jobs1']['cpu_s']:.2f}" for r in rounds), ""),
        ("  scores files of --jobs 1 and --jobs 2 identical", str(all(r["identical"] for r in rounds)), ""),
        ("  load average before each --jobs 1 run",
         " ".join(f"{r['jobs1']['load_before']:.1f}" for r in rounds), ""),
        ("peak RSS --jobs 1 (kernel high-water mark)", f"{statistics.median(r['jobs1']['maxrss_mb'] for r in rounds):,.0f} MB", ""),
    ]
    rows += memory_rows(f)
    s = f["startup"]
    rows += [
        ("postcred score on the seed with its report, wall clock", " ".join(f"{w:.2f}" for w in s["walls"]), ""),
        ("  median", f"{s['median_s']:.2f} s", f"< {STARTUP_TARGET_S} s: {mark(s['median_s'] < STARTUP_TARGET_S)}"),
    ]
    if "report" in f:
        rep = f["report"]
        rows += [
            (f"report build, {rep['rows']:,} segments", f"{rep['report_s']:.1f} s", ""),
            ("  report file size", f"{rep['report_mb']:.1f} MB", ""),
        ]
    if "report_cost" in f:
        cost = f["report_cost"]
        rows += [
            (f"postcred score --jobs 1 of {cost['segments']:,} segments, with its report, per round",
             " ".join(f"{s:.1f}" for s in cost["report_s"]) + " s", ""),
            ("  the same with --no-report, per round", " ".join(f"{s:.1f}" for s in cost["no_report_s"]) + " s", ""),
            ("  the report's cost per listed segment (medians)", f"{cost['per_segment_us']:,.0f} µs", ""),
        ]
    for size, t in f.get("train", {}).items():
        rows.append((f"training (fit), {int(size):,} labels ({t['source']})", f"{t['seconds']:.1f} s", ""))
    head = (f"postcred benchmark: {n:,} distinct segments ({chars:,} characters, {chars / n:.0f} per segment), "
            f"{len(rounds)} rounds, {f['cpus']} CPUs, Python {f['python']}")
    return _table(head, rows)


def _table(head: str, rows: list[tuple[str, str, str]]) -> str:
    width = max(len(r[0]) for r in rows)
    lines = [head, "", f"{'measure':<{width}}  {'value':>24}  target", f"{'-' * width}  {'-' * 24}  ------"]
    lines += [f"{label:<{width}}  {value:>24}  {target}".rstrip() for label, value, target in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
