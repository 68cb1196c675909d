"""Processes and files on failure (issue 14, item 5; and --excel-safe from item 6):
``--jobs`` workers die with their parent, stale temporary files of ours are swept, a
failed run leaves all of its outputs or none, derived names keep the scores file's whole
stem, and CSV cells can be made safe to open in a spreadsheet."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import SEED, csv_rows

POSTCRED = [sys.executable, "-m", "classifier.cli"]
#: The tables ``postcred score`` writes beside the scores by default, after their stem.
RUN_TABLES = (".campaigns.csv", ".campaign_summary.csv", ".accounts.csv", ".account_days.csv")


def run_tables(stem: str) -> list[str]:
    """The names of the tables a run writes beside scores named ``stem``."""
    return [stem + suffix for suffix in RUN_TABLES]


# ---------------------------------------------------------------- workers die with their parent


def children_of(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (an orphan's zombie waits for its reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_jobs_workers_die_with_their_parent(tmp_path, sig):
    """A run whose parent is killed (its standard input still open, so it is mid-run)
    leaves no worker process behind."""
    proc = subprocess.Popen(
        [*POSTCRED, "score", "-", "--input-format", "lines", "--jobs", "2", "--no-report", "-q",
         "-o", str(tmp_path / "out.csv")],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
    )
    workers: list[int] = []
    try:
        proc.stdin.write("共同通信によると、政府は11月4日に発表した。\n".encode() * 50)
        proc.stdin.flush()
        assert wait_for(lambda: len(children_of(proc.pid)) >= 2, 60), "the workers never started"
        time.sleep(0.5)  # past the workers' initializer
        workers = children_of(proc.pid)
        assert len(workers) >= 2
        os.kill(proc.pid, sig)
        proc.wait(timeout=10)
        assert wait_for(lambda: not any(alive(pid) for pid in workers), 5), \
            f"workers {[pid for pid in workers if alive(pid)]} outlived their parent"
    finally:
        for pid in workers or children_of(proc.pid):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()


PARENT_OF_A_WATCHED_CHILD = """
import os, sys, time
from classifier import parallel

pid = os.fork()
if pid == 0:
    parallel.sys.platform = "darwin"  # no prctl: the watchdog thread alone
    parallel.die_with_parent(os.getppid())
    time.sleep(60)
    os._exit(0)
print(pid, flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_worker_watchdog_alone_ends_an_orphaned_worker():
    """Where the kernel cannot signal a parent's death, the worker's watchdog notices it."""
    proc = subprocess.Popen([sys.executable, "-c", PARENT_OF_A_WATCHED_CHILD], stdout=subprocess.PIPE, text=True)
    child = int(proc.stdout.readline())
    try:
        time.sleep(0.3)
        assert alive(child)
        proc.kill()
        proc.wait()
        assert wait_for(lambda: not alive(child), 5), "the orphaned child kept running"
    finally:
        proc.stdout.close()
        if alive(child):
            os.kill(child, signal.SIGKILL)


# ---------------------------------------------------------------- a failed run writes nothing


def run_cli(*args):
    from click.testing import CliRunner

    from classifier.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def snscrape_dump(folder: Path) -> Path:
    """Two good posts around a broken record, so that ``--on-error skip`` writes a rejects file."""
    import json

    good = [json.dumps({"id": str(i), "rawContent": text}, ensure_ascii=False)
            for i, text in enumerate(["政府は25日、方針を決定した。", "共同通信によると、会合は延期された。"])]
    path = folder / "dump.jsonl"
    path.write_text(f"{good[0]}\n{{broken\n{good[1]}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["run.csv", "run.sqlite"])
def test_a_failing_report_leaves_no_output_at_all(tmp_path, monkeypatch, name):
    """The report fails after the scores, rejects, campaign and account tables (or the
    database) are staged (a full disk, half-way through rendering): nothing of the run is
    left, not even a temporary file or the folder it made."""
    import errno

    import classifier.report

    from .conftest import error_line

    dump = snscrape_dump(tmp_path)
    assert run_cli("score", dump, "-o", tmp_path / "ok" / name, "--on-error", "skip").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "ok").iterdir()) == sorted(
        [name, "run.html", "run.rejects.jsonl", *run_tables("run")])  # what the failing run would write
    real = classifier.report.report_chunks

    def fails_half_way(*args, **kwargs):
        chunks = real(*args, **kwargs)
        yield next(chunks)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(classifier.report, "report_chunks", fails_half_way)
    out = tmp_path / "out"
    result = run_cli("score", dump, "-o", out / name, "--on-error", "skip")
    assert error_line(result) == (f"Error: {out / 'run.html'}: cannot write (No space left on device); "
                                  "no output of this run was written")
    assert not out.exists()


def test_a_full_disk_under_the_reports_rows_is_one_error_and_leaves_no_output(tmp_path, monkeypatch):
    """The rows a report lists wait in a temporary file beside the outputs while the dump
    is scored: a disk that fills up under it stops the run with one line naming the folder
    and what to do, and nothing of the run is left."""
    import errno

    import classifier.report
    import classifier.spill

    from .conftest import error_line

    class FullDisk(classifier.spill.SpillFile):
        def append(self, data):
            real_write = self._handle.write

            def write(view):
                raise OSError(errno.ENOSPC, "No space left on device")

            self._handle.write = write if self.purpose is classifier.spill.REPORT else real_write
            return super().append(data)

    monkeypatch.setattr(classifier.report, "SpillFile", FullDisk)
    dump = snscrape_dump(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    result = run_cli("score", dump, "-o", out / "run.csv", "--on-error", "skip")
    assert result.exit_code == 1
    assert error_line(result) == (f"Error: {out}: cannot write the temporary files of the report's rows (No space "
                                  "left on device); free some space there or score with --no-report or a smaller "
                                  "--report-max-rows")
    assert list(out.iterdir()) == []


def test_an_unwritable_report_path_leaves_no_output(tmp_path):
    from .conftest import error_line

    dump = snscrape_dump(tmp_path)
    (tmp_path / "a-file").write_text("not a folder\n", encoding="utf-8")
    result = run_cli("score", dump, "-o", tmp_path / "run.csv", "--report", tmp_path / "a-file" / "run.html",
                     "--on-error", "skip")
    assert "cannot write" in error_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "dump.jsonl"]


def test_a_failed_run_keeps_the_previous_outputs(tmp_path, monkeypatch):
    """With --force over an earlier run's files, a failed rerun leaves the earlier files as they were."""
    import classifier.report

    dump = snscrape_dump(tmp_path)
    assert run_cli("score", dump, "-o", tmp_path / "run.csv", "--on-error", "skip").exit_code == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "dump.jsonl"}
    assert sorted(before) == sorted(["run.csv", "run.html", "run.rejects.jsonl", *run_tables("run")])

    def broken(*args, **kwargs):
        raise OSError(5, "Input/output error")
        yield  # pragma: no cover

    monkeypatch.setattr(classifier.report, "report_chunks", broken)
    (tmp_path / "dump.jsonl").write_text('{"id": "9", "rawContent": "別の本文です。"}\n', encoding="utf-8")
    assert run_cli("score", dump, "-o", tmp_path / "run.csv", "--on-error", "skip", "--force").exit_code == 1
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "dump.jsonl"} == before


def test_output_set_undoes_renames_when_one_fails(tmp_path):
    """If one file of a set cannot be put in place, those already renamed are undone:
    a replaced file comes back, a new one goes."""
    from classifier.errors import OutputError
    from classifier.outputs import all_or_none

    (tmp_path / "old.csv").write_text("old\n", encoding="utf-8")
    (tmp_path / "blocker").mkdir()
    with pytest.raises(OutputError, match="blocker"):
        with all_or_none() as outputs:
            outputs.write_text(tmp_path / "old.csv", "new\n")
            outputs.write_text(tmp_path / "new.csv", "new\n")
            outputs.write_text(tmp_path / "blocker", "a file cannot replace a folder\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "old.csv"]
    assert (tmp_path / "old.csv").read_text(encoding="utf-8") == "old\n"


# ---------------------------------------------------------------- stale temporary files


def test_stale_temp_files_of_ours_are_swept_on_the_next_run(tmp_path):
    """A crash leaves ``.<name>.postcred-<host>-<pid>-<random>.tmp``; the next run writing
    into that folder removes those of ended processes and very old ones, and nothing else."""
    from classifier import outputs

    host = outputs._host_tag()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [f".run.csv.postcred-{host}-{dead.pid}-abcd_123.tmp", ".run.html.postcred-0a1b2c-4242-zzzzzzzz.tmp"]
    kept = [
        f".run.csv.postcred-{host}-{os.getpid()}-live0000.tmp",  # a running process's
        ".run.csv.postcred-0a1b2c-4242-other000.tmp",  # another machine's, recent
        ".notes.txt.a1b2c3d4.tmp", "run.tmp", ".run.csv.postcred-x.tmp", "mine.postcred-0a1b2c-1-abcdefgh.tmp",
    ]
    for name in stale + kept:
        (tmp_path / name).write_text("left behind\n", encoding="utf-8")
    week_ago = time.time() - outputs.STALE_AGE - 60
    os.utime(tmp_path / stale[1], (week_ago, week_ago))
    os.utime(tmp_path / kept[-1], (week_ago, week_ago))  # not named as ours: never touched
    result = subprocess.run([*POSTCRED, "score", SEED, "-o", tmp_path / "seed.csv", "--no-report", "-q"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept + ["seed.csv", *run_tables("seed")])


def test_killed_run_leaves_temp_files_that_the_next_run_removes(tmp_path):
    """kill -9 mid-run leaves no file under a final name, and the next run cleans up after it."""
    proc = subprocess.Popen([*POSTCRED, "score", "-", "--input-format", "lines", "-q", "-o", tmp_path / "run.csv"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc.stdin.write("共同通信によると、政府は11月4日に発表した。\n".encode() * 5000)
    proc.stdin.flush()
    assert wait_for(lambda: any(p.name.endswith(".tmp") for p in tmp_path.iterdir()), 60)
    proc.kill()
    proc.wait()
    proc.stdin.close()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left and all(name.startswith(".run.") and name.endswith(".tmp") for name in left), left
    result = subprocess.run([*POSTCRED, "score", SEED, "-o", tmp_path / "run.csv", "-q"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["run.csv", "run.html", *run_tables("run")])


# ---------------------------------------------------------------- derived names


@pytest.mark.parametrize(("output", "report", "rejects"), [
    ("run.2024-11-04.csv", "run.2024-11-04.html", "run.2024-11-04.rejects.jsonl"),
    ("seed.scores.jsonl", "seed.html", "seed.rejects.jsonl"),
    ("seed.csv", "seed.html", "seed.rejects.jsonl"),
])
def test_derived_names_keep_the_whole_scores_stem(tmp_path, output, report, rejects):
    dump = snscrape_dump(tmp_path)
    result = run_cli("score", dump, "-o", tmp_path / output, "--on-error", "skip", "-q")
    assert result.exit_code == 0, result.output
    stem = report.removesuffix(".html")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["dump.jsonl", output, report, rejects,
                                                                 *run_tables(stem)])


@pytest.mark.parametrize(("scores", "stem"), [
    ("run.2024-11-04.csv", "run.2024-11-04"), ("seed.scores.csv", "seed"), ("big.scores", "big"),
    ("a.b.jsonl", "a.b"), ("x.parquet", "x"), ("scores.csv", "scores"), (".csv", ".csv"), ("run.sqlite", "run"),
])
def test_scores_stem(scores, stem):
    from classifier.outputs import scores_stem

    assert scores_stem(Path("reports") / scores) == stem


# ---------------------------------------------------------------- --excel-safe


FORMULA_POSTS = [
    ("=HYPERLINK(\"http://example.invalid\",\"詳細はこちら\")", "@evil_one"),
    ("+81 3 0000 0000 に今すぐ電話を", "=cmd|' /C calc'!A0"),
    ("-5%の下落だと政府は発表した。", "-minus"),
    ("@someone 政府は発表した。", "普通の名前"),
    ("共同通信によると、会合は延期された。", "+plus"),
]


def formula_dump(folder: Path) -> Path:
    import json

    path = folder / "formulas.jsonl"
    path.write_text("".join(
        json.dumps({"id": str(i), "rawContent": text, "user": {"username": f"user{i}", "displayname": name},
                    "date": f"2024-11-04T0{i}:00:00+00:00"}, ensure_ascii=False) + "\n"
        for i, (text, name) in enumerate(FORMULA_POSTS)), encoding="utf-8")
    return path


def test_excel_safe_quotes_formula_cells_and_is_off_by_default(tmp_path):
    dump = formula_dump(tmp_path)
    assert run_cli("score", dump, "-o", tmp_path / "raw.csv", "--no-report", "-q").exit_code == 0
    result = run_cli("score", dump, "-o", tmp_path / "safe.csv", "--no-report", "-q", "--excel-safe")
    assert result.exit_code == 0, result.output
    raw, safe = csv_rows(tmp_path / "raw.csv"), csv_rows(tmp_path / "safe.csv")
    texts = [text for text, _ in FORMULA_POSTS]
    assert [row["text"] for row in raw] == texts  # by default the CSV holds the texts as they are
    assert [row["text"] for row in safe] == ["'" + text if text[0] in "=+-@" else text for text in texts]
    assert [row["account"] for row in safe] == ["'@evil_one", "'=cmd|' /C calc'!A0", "'-minus", "普通の名前", "'+plus"]
    for before, after in zip(raw, safe):  # numbers and plain cells do not change
        assert (before["p_wire"], before["line"], before["label"]) == (after["p_wire"], after["line"], after["label"])
        assert before["mentions"] == after["mentions"].removeprefix("'")
    tables = tmp_path / "jsonl"  # the tables beside safe.jsonl are those beside safe.csv: another folder
    assert run_cli("score", dump, "-o", tables / "safe.jsonl", "--no-report", "-q", "--excel-safe").exit_code == 0
    assert run_cli("score", dump, "-o", tables / "raw.jsonl", "--no-report", "-q").exit_code == 0
    assert (tables / "safe.jsonl").read_bytes() == (tables / "raw.jsonl").read_bytes()


def test_excel_safe_on_the_accounts_tables(tmp_path):
    dump = formula_dump(tmp_path)
    assert run_cli("score", dump, "-o", tmp_path / "f.csv", "--no-report", "-q").exit_code == 0
    assert run_cli("accounts", tmp_path / "f.csv", "-o", tmp_path / "raw", "-q").exit_code == 0
    result = run_cli("accounts", tmp_path / "f.csv", "-o", tmp_path / "safe", "-q", "--excel-safe")
    assert result.exit_code == 0, result.output
    raw = {row["handle"]: row["display_name"] for row in csv_rows(tmp_path / "raw" / "f.accounts.csv")}
    safe = {row["handle"]: row["display_name"] for row in csv_rows(tmp_path / "safe" / "f.accounts.csv")}
    assert raw["user1"] == "=cmd|' /C calc'!A0" and safe["user1"] == "'=cmd|' /C calc'!A0"
    assert safe["user0"] == "'@evil_one" and safe["user3"] == raw["user3"] == "普通の名前"


@pytest.mark.parametrize(("cell", "safe"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@A1", "'@A1"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
    ("a=1", "a=1"), ("", ""), ("'=1", "'=1"), (-1.5, -1.5), (3, 3), (None, None),
])
def test_excel_safe_cell(cell, safe):
    from classifier.outputs import excel_safe_cell

    assert excel_safe_cell(cell) == safe


def test_excel_safe_on_the_campaign_csvs():
    from classifier.campaign_files import csv_text

    rows = [{"campaign": 1, "text": "=HYPERLINK(\"x\")"}, {"campaign": 2, "text": "本文"}]
    assert csv_text(rows, ("campaign", "text")) == 'campaign,text\n1,"=HYPERLINK(""x"")"\n2,本文\n'
    assert csv_text(rows, ("campaign", "text"), excel_safe=True) == 'campaign,text\n1,"\'=HYPERLINK(""x"")"\n2,本文\n'
