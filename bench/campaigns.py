"""Campaign detection benchmark: how well planted campaigns are found among organic posts,
how fast and in how much memory detection runs on a million posts, and (optionally) what
datasketch would cost for the same sketches.

Run from the repository root:

    .venv/bin/python bench/campaigns.py                    # quality on 3 seeds, scale on 1,000,000 posts
    .venv/bin/python bench/campaigns.py --quick            # a minute: one seed, 100,000 posts
    .venv/bin/python bench/campaigns.py --datasketch 20000 # adds the datasketch comparison
    .venv/bin/python bench/campaigns.py --seeds --posts 0 --score-cost 3000  # what campaigns add to postcred score

What it does:

1. **Quality** (issue 17's first done-when), per seed: generates a dump with
   ``tests/synthetic_campaigns.py`` (10,000 organic posts: daily life, opinions, sentences of
   ``labels/`` with a comment, the same headline shared by many readers each with their own
   comment; 20 planted campaigns of 5-30 accounts, each copy with 1-5 character edits, an
   emoji swapped or added half the time, @mentions and links added; and 200 share-button
   posts, a headline and its link and nothing else), scores it with the shipped model as
   ``postcred score`` does (``score_to_files``, campaign detection inside the run with its
   default parameters), and counts: planted posts in a campaign that is at least 90% their
   own group (target >= 95%), organic posts in any campaign (target < 0.5%), and where the
   share-button posts went (into campaigns flagged ``share_template``, if all goes well).
2. **Scale**: a fresh process generates 1,000,000 posts (the same generator, p_wire drawn
   at random: detection comes after scoring) in chunks of 50,000 and feeds each chunk's
   records to one ``CampaignFinder``; it times ``add`` (normalization and sketches) and
   ``finish`` (pairs, exact checks, grouping, descriptions) apart from the generation, and
   reports the process's peak RSS (the kernel's high-water mark) and CPU time.  Targets:
   under 5 minutes, under 4 GB.
3. **datasketch** (``--datasketch N``, after ``.venv/bin/pip install datasketch``: it is no
   dependency of postcred): the same N texts sketched by our numpy code and by datasketch
   (``MinHash.update_batch`` on the 3-grams, then ``MinHashLSH.insert`` with the same 25
   bands of 5), time per text and the LSH index's memory per text.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PLANTED_TARGET = 0.95
ORGANIC_TARGET = 0.005
TIME_TARGET_S = 300
RSS_TARGET_MB = 4096


# ---------------------------------------------------------------- quality


def quality(seed: int, organic: int, campaigns: int, share_button: int) -> dict:
    """Generate one dump, score it as ``postcred score`` does (campaign detection inside
    the run, its default parameters); the done-when figures."""
    from classifier.run import score_to_files
    from tests.synthetic_campaigns import DumpGenerator, write_snscrape

    posts = DumpGenerator(seed).dump(organic=organic, campaigns=campaigns, share_button=share_button)
    with tempfile.TemporaryDirectory() as tmp:
        dump = write_snscrape(posts, Path(tmp) / f"campaigns-{seed}.jsonl")
        started = time.perf_counter()
        run = score_to_files(str(dump), output=Path(tmp) / "scores.csv", write_report=False)
        scoring = time.perf_counter() - started
    result = run.campaigns
    group = {post.post_id: post.group for post in posts}
    kind_of = lambda g: "planted" if g.startswith("campaign:") else "share" if g.startswith("share:") else "organic"
    totals = Counter(kind_of(post.group) for post in posts)
    landed = Counter()
    share_in = Counter()
    for campaign in result.campaigns:
        groups = Counter(group[post.post_id] for post in campaign.posts)
        top, count = groups.most_common(1)[0]
        if kind_of(top) == "planted" and count / len(campaign.posts) >= 0.9:
            landed["planted"] += count
        for g, n in groups.items():
            landed[f"{kind_of(g)}_any"] += n
            if kind_of(g) == "share":
                share_in[campaign.kind] += n
    return {
        "seed": seed,
        "posts": len(posts),
        "planted": totals["planted"],
        "organic": totals["organic"],
        "share_button": totals["share"],
        "planted_found": landed["planted"] / totals["planted"],
        "organic_in_campaigns": landed["organic_any"],
        "organic_share": landed["organic_any"] / totals["organic"],
        "share_in_share_template": share_in["share_template"],
        "share_in_copypasta": share_in["copypasta"],
        "campaigns": len(result.campaigns),
        "copypasta": sum(1 for c in result.campaigns if c.kind == "copypasta"),
        "scoring_s": scoring,
    }


# ---------------------------------------------------------------- cost inside postcred score


def score_cost(posts: int, rounds: int) -> dict:
    """Whole-process wall time of ``postcred score`` (no report) on a dump of ``posts``
    distinct organic posts, with campaign detection and with ``--no-campaigns``, the two
    alternating so that the machine's load falls on both alike."""
    import subprocess

    from tests.synthetic_campaigns import DumpGenerator, write_snscrape

    postcred = Path(sys.executable).with_name("postcred")
    times: dict[str, list[float]] = {"with": [], "without": []}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        dump = write_snscrape(DumpGenerator(7).dump(organic=posts, campaigns=0, share_button=0),
                              Path(tmp) / "distinct.jsonl")
        for _ in range(rounds):
            for name, extra in (("with", []), ("without", ["--no-campaigns"])):
                started = time.perf_counter()
                subprocess.run([str(postcred), "score", str(dump), "-o", str(Path(tmp) / "s.csv"), "--no-report",
                                "-q", "--force", *extra], check=True)
                times[name].append(time.perf_counter() - started)
    mean = lambda values: sum(values) / len(values)
    return {"posts": posts, "rounds": rounds, "with": times["with"], "without": times["without"],
            "with_s": mean(times["with"]), "without_s": mean(times["without"]),
            "load_before": load_before, "load_after": os.getloadavg()[0]}


# ---------------------------------------------------------------- scale


def scale_child(posts: int, chunk: int = 50_000) -> dict:
    """Runs in its own process: detection on ``posts`` generated posts, fed in chunks."""
    from classifier.campaigns import CampaignFinder, PostRecord
    from tests.synthetic_campaigns import DumpGenerator

    generator = DumpGenerator(seed=2024)
    finder = CampaignFinder()
    generating = adding = adding_cpu = 0.0
    done = 0
    planted = 0
    while done < posts:
        size = min(chunk, posts - done)
        started = time.perf_counter()
        batch = generator.dump(organic=size - size // 100, campaigns=2, share_button=size // 100)[:size]
        records = [PostRecord.from_row(post.to_row()) for post in batch]
        planted += sum(1 for post in batch if post.planted)
        generating += time.perf_counter() - started
        started, started_cpu = time.perf_counter(), time.process_time()
        finder.add(records)
        adding += time.perf_counter() - started
        adding_cpu += time.process_time() - started_cpu
        done += len(batch)
        del batch, records
    started, started_cpu = time.perf_counter(), time.process_time()
    result = finder.finish()
    finishing = time.perf_counter() - started
    finishing_cpu = time.process_time() - started_cpu
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "posts": done,
        "planted": planted,
        "generate_s": generating,
        "add_s": adding,
        "finish_s": finishing,
        "detect_s": adding + finishing,
        "add_cpu_s": adding_cpu,
        "finish_cpu_s": finishing_cpu,
        "detect_cpu_s": adding_cpu + finishing_cpu,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "counts": result.counts,
        "campaigns": len(result.campaigns),
    }


def scale(posts: int) -> dict:
    load = os.getloadavg()[0]
    out = subprocess.run([sys.executable, __file__, "--scale-child", str(posts)], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    figures["load_before"] = load
    figures["load_after"] = os.getloadavg()[0]
    return figures


# ---------------------------------------------------------------- datasketch


def datasketch_comparison(texts: int) -> dict:
    """Sketch the same texts with our numpy code and with datasketch."""
    import numpy as np
    from datasketch import MinHash, MinHashLSH

    from classifier.campaign_sketch import MinHasher, band_keys, match_text, shingle_sets
    from tests.synthetic_campaigns import DumpGenerator

    posts = DumpGenerator(seed=99).dump(organic=int(texts * 1.05), campaigns=0)
    normalized = [t for t in (match_text(p.text).text for p in posts) if len(t) >= 20][:texts]
    hasher = MinHasher(128, 1)
    started = time.perf_counter()
    for lo in range(0, len(normalized), 5000):
        signatures = hasher.signatures(shingle_sets(normalized[lo:lo + 5000]))
        band_keys(signatures, 25)
    ours = time.perf_counter() - started
    grams = [[t[i:i + 3].encode("utf-8") for i in range(len(t) - 2)] for t in normalized]
    started = time.perf_counter()
    sketches = []
    for g in grams:
        m = MinHash(num_perm=128, seed=1)
        m.update_batch(g)
        sketches.append(m)
    minhash = time.perf_counter() - started
    tracemalloc.start()
    started = time.perf_counter()
    lsh = MinHashLSH(num_perm=128, params=(25, 5))
    for i, m in enumerate(sketches):
        lsh.insert(i, m)
    inserting = time.perf_counter() - started
    lsh_bytes, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n = len(normalized)
    return {
        "texts": n,
        "ours_us_per_text": ours / n * 1e6,
        "datasketch_minhash_us_per_text": minhash / n * 1e6,
        "datasketch_lsh_insert_us_per_text": inserting / n * 1e6,
        "datasketch_lsh_bytes_per_text": lsh_bytes / n,
        "ours_index_bytes_per_text": 25 * 4 + 128,
        "numpy": np.__version__,
    }


# ---------------------------------------------------------------- report


def ok(good: bool) -> str:
    """A target's mark in the table."""
    return "yes" if good else "NO"


def table(rows: list[tuple[str, str, str]]) -> str:
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    return "\n".join(f"{name:<{width}}  {value:>{value_width}}  {target}".rstrip() for name, value, target in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3], help="quality dumps, one per seed")
    parser.add_argument("--organic", type=int, default=10_000)
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--share-button", type=int, default=200)
    parser.add_argument("--posts", type=int, default=1_000_000, help="posts of the scale run (0: skip it)")
    parser.add_argument("--datasketch", type=int, default=0, metavar="N", help="compare with datasketch on N texts")
    parser.add_argument("--quick", action="store_true", help="one seed, 100,000 posts")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--score-cost", type=int, default=0, metavar="N",
                        help="postcred score on N distinct posts with and without --no-campaigns, alternating")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --score-cost")
    parser.add_argument("--scale-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale_child:
        print(json.dumps(scale_child(args.scale_child)))
        return
    if args.quick:
        args.seeds, args.posts = args.seeds[:1], min(args.posts, 100_000)
    figures: dict = {"cpus": os.cpu_count(), "python": sys.version.split()[0], "quality": [], "scale": None}
    rows: list[tuple[str, str, str]] = []
    for seed in args.seeds:
        q = quality(seed, args.organic, args.campaigns, args.share_button)
        figures["quality"].append(q)
        rows += [
            (f"seed {seed}: {q['posts']:,} posts ({q['organic']:,} organic, {q['planted']} planted in "
             f"{args.campaigns} campaigns, {q['share_button']} share-button)", "", ""),
            ("  planted posts in a campaign >= 90% their own group", f"{q['planted_found']:.1%}",
             f">= 95%: {ok(q['planted_found'] >= PLANTED_TARGET)}"),
            ("  organic posts in any campaign", f"{q['organic_in_campaigns']} = {q['organic_share']:.2%}",
             f"< 0.5%: {ok(q['organic_share'] < ORGANIC_TARGET)}"),
            ("  share-button posts in share_template / copypasta campaigns",
             f"{q['share_in_share_template']} / {q['share_in_copypasta']}", ""),
            ("  campaigns (copypasta)", f"{q['campaigns']} ({q['copypasta']})", ""),
            ("  postcred score with campaign detection (wall)", f"{q['scoring_s']:.1f} s", ""),
        ]
    if args.posts:
        s = scale(args.posts)
        figures["scale"] = s
        rows += [
            (f"scale: {s['posts']:,} posts ({s['counts'].get('distinct_texts', 0):,} distinct texts), "
             f"load average {s['load_before']:.1f} before, {s['load_after']:.1f} after", "", ""),
            ("  detection wall time (add + finish)", f"{s['detect_s']:.0f} s ({s['add_s']:.0f} + {s['finish_s']:.0f})",
             f"< 300 s: {ok(s['detect_s'] < TIME_TARGET_S)}"),
            ("  detection CPU time (add + finish)",
             f"{s['detect_cpu_s']:.0f} s ({s['add_cpu_s']:.0f} + {s['finish_cpu_s']:.0f})", ""),
            ("  CPU time of the process (generation included)", f"{s['cpu_s']:.0f} s", ""),
            ("  generating the posts (not counted)", f"{s['generate_s']:.0f} s", ""),
            ("  peak RSS (kernel high-water mark)", f"{s['peak_rss_mb']:,.0f} MB",
             f"< 4 GB: {ok(s['peak_rss_mb'] < RSS_TARGET_MB)}"),
            ("  LSH candidate pairs / checked exactly / matching",
             f"{s['counts']['candidate_pairs']:,} / {s['counts']['checked_pairs']:,} / {s['counts']['matching_pairs']:,}", ""),
            ("  campaigns / posts in campaigns", f"{s['campaigns']:,} / {s['counts']['posts_in_campaigns']:,}", ""),
        ]
    if args.score_cost:
        c = score_cost(args.score_cost, args.rounds)
        figures["score_cost"] = c
        rows += [
            (f"postcred score on {c['posts']:,} distinct posts ({c['rounds']} rounds, alternating; "
             f"load average {c['load_before']:.1f} before, {c['load_after']:.1f} after)", "", ""),
            ("  whole process, campaigns on (mean, each)", f"{c['with_s']:.2f} s",
             " ".join(f"{t:.2f}" for t in c["with"])),
            ("  whole process, --no-campaigns (mean, each)", f"{c['without_s']:.2f} s",
             " ".join(f"{t:.2f}" for t in c["without"])),
            ("  cost of campaigns", f"{c['with_s'] - c['without_s']:+.2f} s "
                                    f"({(c['with_s'] / c['without_s'] - 1):+.1%})", ""),
        ]
    if args.datasketch:
        d = datasketch_comparison(args.datasketch)
        figures["datasketch"] = d
        rows += [
            (f"sketches of {d['texts']:,} texts (normalized before either)", "", ""),
            ("  ours (numpy): 3-grams, 128 MinHash values, 25 band keys", f"{d['ours_us_per_text']:.0f} µs/text", ""),
            ("  datasketch MinHash.update_batch, 128 permutations", f"{d['datasketch_minhash_us_per_text']:.0f} µs/text", ""),
            ("  datasketch MinHashLSH.insert, 25 bands of 5", f"{d['datasketch_lsh_insert_us_per_text']:.0f} µs/text", ""),
            ("  LSH index memory: datasketch / ours", f"{d['datasketch_lsh_bytes_per_text']:,.0f} / "
                                                      f"{d['ours_index_bytes_per_text']} bytes/text", ""),
        ]
    print(f"campaign detection benchmark, {os.cpu_count()} CPUs, Python {figures['python']}\n")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
