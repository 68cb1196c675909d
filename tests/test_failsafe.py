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

from .conftest import SEED

POSTCRED = [sys.executable, "-m", "classifier.cli"]


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
        if alive(child):
            os.kill(child, signal.SIGKILL)
