"""The reading process's share of ``postcred score --jobs 2``: its CPU, and what crosses to the workers.

Run from the repository root:

    .venv/bin/python bench/pool.py                    # 20,000 distinct segments, 3 runs
    .venv/bin/python bench/pool.py --segments 70000 --runs 1

With two cores and two workers, every CPU-second the reading process spends (reading the
dump, pickling chunks out and loading them back, writing rows, folding posts into the
account tables, merging campaign sketches) is a second a worker does not get.  These
figures hold on a busy machine, where wall-clock speed-ups do not:

1. **One chunk** of ``CHUNK_SIZE`` segments of the benchmark's distinct-text dump
   (:mod:`bench.run`), scored as a ``postcred score`` run scores it (campaigns and account
   tables on, CSV): the bytes pickled out (the task) and back (the scored chunk) per
   segment, and the CPU milliseconds of pickling and loading them on each side (the best
   of 7 repeats of 10).
2. **Whole runs**: ``postcred score --jobs 2 --no-report`` on the dump, ``--runs`` times,
   in a fresh process that reports its own CPU seconds (all its threads) and its
   workers'; the same on a one-segment dump gives the part that does not grow with the
   dump (imports, the model, starting the workers, the end of the run), and the rest,
   divided by the segments, is the reading process's CPU per segment.
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import statistics
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run import distinct_texts, labeled_texts, sentence_pools, write_lines_dump  # noqa: E402  (bench/run.py)

#: Runs ``postcred score`` in this process and prints its CPU and its workers' as JSON.
RUN_AND_REPORT = """
import json, resource, sys
from classifier.cli import cli
try:
    cli(sys.argv[1:])
except SystemExit as exc:
    if exc.code:
        raise
own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"reader_cpu_s": own.ru_utime + own.ru_stime, "workers_cpu_s": workers.ru_utime + workers.ru_stime}))
"""


def chunk_crossing(dump: Path) -> dict:
    """Bytes and CPU of one chunk's trip to a worker and back."""
    from classifier.campaign_params import CampaignParams
    from classifier.ingest import read_posts
    from classifier.model import load_model
    from classifier.run import chunk_tasks
    from classifier.scoring import CHUNK_SIZE, ScoreSummary, post_chunks, process_chunk
    from classifier.source import ReadOptions

    model = load_model()
    gc.freeze()  # as postcred score does once the model is loaded
    chunks = post_chunks(read_posts(dump, ReadOptions(input_format="lines")), ScoreSummary(), CHUNK_SIZE)
    task = next(chunk_tasks(chunks, "bench", "csv", report_rows=0, campaigns=CampaignParams(), tz="Asia/Tokyo"))
    result = process_chunk(model, task)
    out, back = pickle.dumps(task, pickle.HIGHEST_PROTOCOL), pickle.dumps(result, pickle.HIGHEST_PROTOCOL)

    def best_ms(work) -> float:
        return min(timeit.repeat(work, number=10, repeat=7)) / 10 * 1e3

    n = task.segments
    return {
        "segments": n, "out_bytes_per_segment": len(out) / n, "back_bytes_per_segment": len(back) / n,
        "task_dumps_ms": best_ms(lambda: pickle.dumps(task, pickle.HIGHEST_PROTOCOL)),
        "task_loads_ms": best_ms(lambda: pickle.loads(out)),
        "result_dumps_ms": best_ms(lambda: pickle.dumps(result, pickle.HIGHEST_PROTOCOL)),
        "result_loads_ms": best_ms(lambda: pickle.loads(back)),
    }


def run_cpu(dump: Path, work: Path) -> dict:
    """CPU seconds of ``postcred score --jobs 2 --no-report`` on ``dump``: its own, its workers'."""
    command = [sys.executable, "-c", RUN_AND_REPORT, "score", str(dump), "-o", str(work / "scores.csv"),
               "--input-format", "lines", "--no-report", "-q", "--force", "--jobs", "2"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=20_000, help="Distinct segments in the dump.")
    parser.add_argument("--runs", type=int, default=3, help="Runs of postcred score --jobs 2 (and of the one-segment dump).")
    parser.add_argument("--labels", type=Path, default=ROOT / "labels")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="postcred-pool-") as folder:
        work = Path(folder)
        texts = distinct_texts(sentence_pools(labeled_texts(args.labels)), args.segments)
        dump, tiny = work / "dump.txt", work / "one.txt"
        write_lines_dump(dump, texts)
        write_lines_dump(tiny, texts[:1])
        crossing = chunk_crossing(dump)
        runs, fixed = [], []
        for _ in range(args.runs):  # alternating, so that both see the same moments of the machine
            runs.append(run_cpu(dump, work))
            fixed.append(run_cpu(tiny, work))
    reader = statistics.median(r["reader_cpu_s"] for r in runs)
    base = statistics.median(r["reader_cpu_s"] for r in fixed)
    c = crossing
    print(f"one chunk of {c['segments']:,} segments: out {c['out_bytes_per_segment']:,.0f} bytes a segment, "
          f"back {c['back_bytes_per_segment']:,.0f}")
    print(f"  reading process: task dumps {c['task_dumps_ms']:.1f} ms + result loads {c['result_loads_ms']:.1f} ms"
          f" = {c['task_dumps_ms'] + c['result_loads_ms']:.1f} ms a chunk")
    print(f"  worker: task loads {c['task_loads_ms']:.1f} ms + result dumps {c['result_dumps_ms']:.1f} ms"
          f" = {c['task_loads_ms'] + c['result_dumps_ms']:.1f} ms a chunk")
    print(f"postcred score --jobs 2 --no-report, {args.segments:,} segments, {args.runs} runs:")
    print("  reading process CPU s   " + " ".join(f"{r['reader_cpu_s']:.2f}" for r in runs))
    print("  workers' CPU s          " + " ".join(f"{r['workers_cpu_s']:.2f}" for r in runs))
    print("  one-segment dump, reading process CPU s   " + " ".join(f"{r['reader_cpu_s']:.2f}" for r in fixed))
    print(f"  reading process CPU a segment (medians, less the one-segment run): "
          f"{(reader - base) / args.segments * 1e6:.1f} µs")
    return {"crossing": crossing, "runs": runs, "fixed": fixed}


if __name__ == "__main__":
    main()
