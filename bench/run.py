"""postcred benchmark: scoring throughput against bare MeCab, parallel speed-up, memory,
training time and report size, in one table.

Run from the repository root:

    .venv/bin/python bench/run.py            # the full run (about 10-15 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # a small run (about a minute) to try it out

What it does, in a temporary folder:

1. builds a dump of ``--segments`` segments (one post per line) from the labeled texts
   in ``labels/``: each segment joins two sentences drawn at random from the labeled
   sentences of one class, so the texts read like the labeled ones and almost never
   repeat (no cache can make them free);
2. times bare fugashi on the same texts: ``tagger(text)`` with each token's surface (the
   floor: no scorer can tokenize for less), and, for context, fugashi with each token's
   features parsed (``word.feature``, what the scorer needs: lemma and part of speech);
3. runs ``postcred score`` on the dump as a user would (a fresh process, the scores file
   written, no report) with ``--jobs 1`` and ``--jobs 2``, and checks the row counts;
4. streams a dump of ``--rss-gb`` GB (snscrape-style JSONL) through ``postcred score
   --jobs 2 --no-report``, sampling the resident memory of the whole process tree;
5. scores ``--report-rows`` segments with the report on, and times the report alone;
6. times training (tokenization, TF-IDF, logistic regression) on 1,000 and 10,000
   labeled texts (the 10,000 are sentence recombinations like the dump).

Targets (issue 7): scoring >= 50% of bare fugashi throughput; --jobs 2 >= 1.7x --jobs 1;
peak RSS < 500 MB on the 1 GB dump.  The table marks each.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SENTENCE_RE = re.compile(r"[^。！？!?]+[。！？!?]?")
RATIO_TARGET = 0.5
SPEEDUP_TARGET = 1.7
RSS_TARGET_MB = 500


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


def write_lines_dump(path: Path, texts: list[str]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for text in texts:
            handle.write(text + "\n")


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


# ---------------------------------------------------------------- measurements


def plain_fugashi_tagger():
    """fugashi's own ``Tagger`` over unidic-lite, as a user of fugashi would make it (not
    postcred's tagger, which formats MeCab's output its own way)."""
    import fugashi
    import unidic_lite

    return fugashi.Tagger(f'-d "{unidic_lite.DICDIR}"')


def bare_fugashi(texts: list[str]) -> dict:
    """Seconds for bare tokenization, and for tokenization with features, of ``texts``."""
    tagger = plain_fugashi_tagger()
    for text in texts[:200]:  # warm up (dictionary pages, caches)
        tagger(text)
    start, cpu = time.perf_counter(), time.process_time()
    for text in texts:
        [word.surface for word in tagger(text)]
    bare, bare_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    for text in texts:
        [(word.surface, word.feature.lemma, word.feature.pos1) for word in tagger(text)]
    features, features_cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"bare_s": bare, "bare_cpu_s": bare_cpu, "features_s": features, "features_cpu_s": features_cpu}


# Runs a command from a fresh, small process and reports its resource usage.  Linux
# carries a process's peak RSS across fork and exec (ru_maxrss), so a command started
# straight from this benchmark, which holds the dump and MeCab, would inherit our peak.
LAUNCHER = """
import json, os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"status": os.waitstatus_to_exitcode(status), "cpu_s": usage.ru_utime + usage.ru_stime,
               "maxrss_kb": usage.ru_maxrss}, out)
"""


def run_measured(command: list[str], *, cwd: Path, work: Path) -> dict:
    """Run ``command``: its wall time, CPU time (user + system, with its worker
    processes), its peak RSS (the kernel's high-water mark of its largest process), and
    memory sampled every 0.2 s: the largest RSS of one process, and over the whole
    process tree the summed RSS and the summed PSS (shared pages, such as MeCab's
    memory-mapped dictionary and the pages forked workers share, counted once)."""
    import psutil

    load = os.getloadavg()[0]
    err_path, usage_path = work / "stderr.txt", work / "usage.json"
    start = time.perf_counter()
    with err_path.open("wb") as err:
        launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(usage_path), *command], cwd=cwd,
                                    stdout=subprocess.DEVNULL, stderr=err)
    process = psutil.Process(launcher.pid)
    peak = {"rss_max": 0, "rss_tree": 0, "pss_tree": 0}
    done = threading.Event()

    def sample() -> None:
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

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    launcher.wait()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    usage = json.loads(usage_path.read_text()) if usage_path.exists() else {"status": launcher.returncode}
    if launcher.returncode != 0 or usage["status"] != 0:
        raise SystemExit(f"command failed ({usage['status']}): {' '.join(command)}\n"
                         + err_path.read_text(encoding="utf-8", errors="replace"))
    return {
        "wall_s": wall,
        "cpu_s": usage["cpu_s"],
        "peak_rss_mb": peak["rss_max"] / 2**20,
        "peak_tree_rss_mb": peak["rss_tree"] / 2**20,
        "peak_tree_pss_mb": peak["pss_tree"] / 2**20,
        "maxrss_mb": usage["maxrss_kb"] / 1024,
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }


def postcred(*args: str) -> list[str]:
    return [sys.executable, "-m", "classifier.cli", *args]


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
    """Score ``segments`` in this process (rows with evidence), then time the report."""
    from classifier.model import load_model
    from classifier.report import write_report
    from classifier.scoring import SummaryAccumulator, gc_paused, row_digest, score_segments
    from classifier.segment import make_segment

    model = load_model()
    rows = []
    for start in range(0, len(segments), 1000):
        chunk = [make_segment(dump="bench", line=start + k + 1, record=start + k + 1, post_id=f"bench:{start + k + 1}",
                              account=f"account{(start + k) % 40}", text=text)
                 for k, text in enumerate(segments[start:start + 1000])]
        with gc_paused():
            rows.extend(score_segments(model, chunk))
    summary = SummaryAccumulator()
    summary.add(row_digest(row) for row in rows)
    path = work / "report.html"
    begin = time.perf_counter()
    write_report(path, rows, title="bench", summary=summary.result(), model_meta=model.metadata,
                 run={"records_read": len(rows), "records_scored": len(rows), "records_rejected": 0,
                      "segments": len(rows)})
    return {"report_s": time.perf_counter() - begin, "report_mb": path.stat().st_size / 2**20, "rows": len(rows)}


def stage_costs(texts: list[str], work: Path) -> list[tuple[str, float]]:
    """Microseconds per segment of each stage of scoring, timed one stage at a time in
    this process (garbage collector paused, as while scoring), on ``texts``."""
    import gc

    from classifier import markers, tokens
    from classifier.ingest import read_posts
    from classifier.model import explain, load_model, transform_features, wire_probability_of_features
    from classifier.scoring import format_rows, post_segments, score_segments

    dump = work / "stages.txt"
    write_lines_dump(dump, texts)
    model = load_model()
    lexicon = markers.load_lexicon()
    tagger = plain_fugashi_tagger()
    n = len(texts)
    out: list[tuple[str, float]] = []

    def timed(name: str, work):
        start = time.perf_counter()
        result = work()
        out.append((name, (time.perf_counter() - start) / n * 1e6))
        return result

    enabled = gc.isenabled()
    gc.disable()
    try:
        timed("bare fugashi: tagger(text), surfaces", lambda: [[w.surface for w in tagger(t)] for t in texts])
        posts = timed("read the dump (read_posts)", lambda: list(read_posts(dump, input_format="lines")))
        segments = timed("segments (post_segments: URLs, hashtags, mentions)",
                         lambda: [s for p in posts for s in post_segments(p, "bench")])
        normalized = timed("  analyze: NFKC with offsets", lambda: [tokens.normalize_with_offsets(t) for t in texts])
        timed("  analyze: URL, handle, hashtag, emoji spans", lambda: [tokens._special_spans(m) for m, _ in normalized])
        found = timed("  analyze: MeCab tokens with lemma, POS, spans",
                      lambda: [tokens._mecab_tokens(m, 0, len(m), o, o == list(range(len(o)))) for m, o in normalized])
        timed("  analyze: TF-IDF terms", lambda: [tokens.document_terms(t) for t in found])
        docs = timed("analyze, all of it (tokens step)", lambda: model.pipeline.named_steps["tokens"].transform(texts))
        X, occurrences = timed("features (TF-IDF, once)", lambda: transform_features(model.pipeline, docs))
        timed("p_wire (logistic regression)", lambda: wire_probability_of_features(model.pipeline, X))
        timed("evidence: top 6 features (CSV)", lambda: explain(model.pipeline, docs, 6, X=X, occurrences=occurrences,
                                                              spans=False))
        timed("evidence: every feature with spans (JSONL, report)",
              lambda: explain(model.pipeline, docs, X=X, occurrences=occurrences))
        markers._CACHE.clear()
        timed("markers (detect_markers)", lambda: [markers.detect_markers(d, lexicon) for d in docs])
        markers._CACHE.clear()
        rows = timed("score_segments, CSV rows (all of the above but reading)",
                     lambda: score_segments(model, segments, evidence=False))
        timed("format CSV", lambda: format_rows(rows, "csv"))
        markers._CACHE.clear()
        rows = score_segments(model, segments)
        timed("format JSONL (with evidence)", lambda: format_rows(rows, "jsonl"))
    finally:
        if enabled:
            gc.enable()
    return out


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=200_000, help="Segments in the throughput dump.")
    parser.add_argument("--rss-gb", type=float, default=1.0, help="Size of the memory-test dump in GB (0: skip).")
    parser.add_argument("--report-rows", type=int, default=50_000, help="Segments in the report test.")
    parser.add_argument("--train-sizes", default="1000,10000", help="Label counts to time training at.")
    parser.add_argument("--quick", action="store_true",
                        help="A small run: 5,000 segments, a 20 MB memory dump, a 2,000-row report, 1,000 labels.")
    parser.add_argument("--labels", type=Path, default=ROOT / "labels")
    parser.add_argument("--workdir", type=Path, default=None, help="Keep the generated files here.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures as JSON.")
    parser.add_argument("--stages", type=int, default=0, metavar="N",
                        help="Only print where the time goes: each stage of scoring timed on N segments.")
    args = parser.parse_args(argv)
    if args.stages:
        texts = [t for t, _ in synthetic_texts(sentence_pools(labeled_texts(args.labels)), args.stages)]
        with tempfile.TemporaryDirectory(prefix="postcred-stages-") as folder:
            costs = stage_costs(texts, Path(folder))
        width = max(len(name) for name, _ in costs)
        print(f"where the time goes: {len(texts):,} segments, microseconds per segment\n")
        print("\n".join(f"{name:<{width}}  {cost:8.1f}" for name, cost in costs))
        return {"stages": costs}
    if args.quick:
        args.segments, args.rss_gb, args.report_rows, args.train_sizes = 5_000, 0.02, 2_000, "1000"

    work = args.workdir or Path(tempfile.mkdtemp(prefix="postcred-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    figures: dict = {"segments": args.segments, "cpus": os.cpu_count(), "python": sys.version.split()[0]}
    try:
        labeled = labeled_texts(args.labels)
        pools = sentence_pools(labeled)
        texts = [t for t, _ in synthetic_texts(pools, args.segments)]
        chars = sum(len(t) for t in texts)
        dump = work / "bench.txt"
        write_lines_dump(dump, texts)
        figures.update(chars=chars, distinct=len(set(texts)), labeled=len(labeled))
        log(f"dump: {len(texts):,} segments, {chars:,} characters, {len(set(texts)):,} distinct -> {dump}")

        log("bare fugashi ...")
        figures.update(bare_fugashi(texts))

        tiny = work / "tiny.txt"
        write_lines_dump(tiny, texts[:1])
        log("postcred start-up (a one-line dump) ...")
        figures["startup"] = run_measured(postcred("score", str(tiny), "-o", str(work / "tiny.csv"), "--input-format",
                                                   "lines", "--no-report", "-q", "--force"), cwd=ROOT, work=work)
        for jobs in (1, 2):
            log(f"postcred score --jobs {jobs} ...")
            out = work / f"scores-j{jobs}.csv"
            run = run_measured(postcred("score", str(dump), "-o", str(out), "--input-format", "lines", "--no-report",
                                        "-q", "--force", "--jobs", str(jobs)), cwd=ROOT, work=work)
            rows = count_csv_rows(out)
            if rows != len(texts):
                raise SystemExit(f"--jobs {jobs}: {rows} rows in the scores file, expected {len(texts)}")
            figures[f"jobs{jobs}"] = run
        figures["jobs_identical"] = (work / "scores-j1.csv").read_bytes() == (work / "scores-j2.csv").read_bytes()
        for jobs in (1, 2):
            (work / f"scores-j{jobs}.csv").unlink()

        if args.rss_gb > 0:
            big = work / "big.jsonl"
            log(f"memory dump: {args.rss_gb:g} GB ...")
            records = write_jsonl_dump(big, pools, int(args.rss_gb * 2**30))
            log(f"postcred score on {big.stat().st_size / 2**30:.2f} GB ({records:,} records), --jobs 1 --no-report ...")
            run = run_measured(postcred("score", str(big), "-o", str(work / "big.csv"), "--no-report", "-q",
                                        "--force"), cwd=ROOT, work=work)
            rows = count_csv_rows(work / "big.csv")
            if rows != records:
                raise SystemExit(f"memory dump: {rows} rows in the scores file, expected {records}")
            figures["rss"] = {"bytes": big.stat().st_size, "records": records, **run}
            big.unlink()
            (work / "big.csv").unlink()

        log(f"report with {args.report_rows:,} segments ...")
        figures["report"] = time_report(texts[: args.report_rows], work)
        head = work / "report-dump.txt"
        write_lines_dump(head, texts[: args.report_rows])
        log(f"postcred score with the report on {args.report_rows:,} segments ...")
        figures["report"]["cli"] = run_measured(postcred("score", str(head), "-o", str(work / "report.csv"),
                                                         "--input-format", "lines", "-q", "--force"), cwd=ROOT, work=work)

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


def format_table(f: dict) -> str:
    """The figures as one plain-text table, each target marked."""
    n, chars = f["segments"], f["chars"]
    mark = lambda ok: "yes" if ok else "NO"  # noqa: E731
    bare = n / f["bare_s"]
    bare_cpu = n / f["bare_cpu_s"]
    features = n / f["features_s"]
    j1, j2 = f["jobs1"], f["jobs2"]
    r1, r2 = n / j1["wall_s"], n / j2["wall_s"]
    r1_cpu = n / j1["cpu_s"]
    steady = n / max(j1["wall_s"] - f["startup"]["wall_s"], 1e-9)
    ratio, ratio_cpu = r1 / bare, r1_cpu / bare_cpu
    speedup = r2 / r1
    rows = [
        ("bare fugashi: tagger(text), token surfaces", f"{bare:,.0f} seg/s", ""),
        ("  same, characters", f"{chars / f['bare_s']:,.0f} chr/s", ""),
        ("fugashi with features (word.feature: lemma, POS)", f"{features:,.0f} seg/s", ""),
        ("postcred score --jobs 1: end to end, scores file written", f"{r1:,.0f} seg/s", ""),
        ("  same, characters", f"{chars / j1['wall_s']:,.0f} chr/s", ""),
        ("  same, without the start-up (" + f"{f['startup']['wall_s']:.1f} s)", f"{steady:,.0f} seg/s", ""),
        ("  ratio to bare fugashi (wall clock)", f"{ratio:.0%}", f">= 50%: {mark(ratio >= RATIO_TARGET)}"),
        ("  ratio to bare fugashi (CPU time)", f"{ratio_cpu:.0%}", f">= 50%: {mark(ratio_cpu >= RATIO_TARGET)}"),
        ("  ratio to fugashi with features (wall clock)", f"{r1 / features:.0%}", ""),
        ("postcred score --jobs 2", f"{r2:,.0f} seg/s", ""),
        ("  speed-up over --jobs 1 (wall clock)", f"{speedup:.2f}x", f">= 1.7x: {mark(speedup >= SPEEDUP_TARGET)}"),
        ("  scores files of --jobs 1 and --jobs 2 identical", str(f["jobs_identical"]), ""),
        ("  load average before --jobs 1 / --jobs 2", f"{j1['load_before']:.1f} / {j2['load_before']:.1f}", ""),
        ("peak RSS --jobs 1 (kernel high-water mark)", f"{j1['maxrss_mb']:,.0f} MB", ""),
        ("peak RSS --jobs 2: largest process / sampled tree RSS / PSS",
         f"{j2['maxrss_mb']:,.0f} / {j2['peak_tree_rss_mb']:,.0f} / {j2['peak_tree_pss_mb']:,.0f} MB", ""),
    ]
    if "rss" in f:
        r = f["rss"]
        rows += [
            (f"{r['bytes'] / 2**30:.2f} GB JSONL dump ({r['records']:,} posts), --jobs 1: time",
             f"{r['wall_s']:,.0f} s", ""),
            ("  peak RSS (kernel high-water mark)", f"{r['maxrss_mb']:,.0f} MB",
             f"< 500 MB: {mark(r['maxrss_mb'] < RSS_TARGET_MB)}"),
            ("  RSS sampled every 0.2 s: peak", f"{r['peak_rss_mb']:,.0f} MB", ""),
            ("  PSS sampled (MeCab's mapped dictionary counted once)", f"{r['peak_tree_pss_mb']:,.0f} MB", ""),
        ]
    rep = f["report"]
    rows += [
        (f"report build, {rep['rows']:,} segments", f"{rep['report_s']:.1f} s", ""),
        ("  report file size", f"{rep['report_mb']:.1f} MB", ""),
    ]
    if "cli" in rep:
        rows += [
            (f"postcred score with the report, {rep['rows']:,} segments: time", f"{rep['cli']['wall_s']:.1f} s", ""),
            ("  peak RSS (the report's rows are built at the end)", f"{rep['cli']['maxrss_mb']:,.0f} MB", ""),
        ]
    for size, t in f.get("train", {}).items():
        rows.append((f"training (fit), {int(size):,} labels ({t['source']})", f"{t['seconds']:.1f} s", ""))
    head = (f"postcred benchmark: {n:,} segments ({chars:,} characters, {chars / n:.0f} per segment, "
            f"{f['distinct']:,} distinct), {f['cpus']} CPUs, Python {f['python']}")
    width = max(len(r[0]) for r in rows)
    lines = [head, "", f"{'measure':<{width}}  {'value':>24}  target", f"{'-' * width}  {'-' * 24}  ------"]
    lines += [f"{label:<{width}}  {value:>24}  {target}".rstrip() for label, value, target in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
