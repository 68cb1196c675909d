"""The process-pool engine: ``postcred score --jobs N``.

Scoring is CPU-bound Python (MeCab through fugashi, then TF-IDF and the evidence), so
threads would queue on the GIL: ``--jobs N`` runs N worker processes instead.  Each worker
holds the model once (inherited at fork, or loaded by the pool's initializer under the
``spawn`` start method) and its own fugashi Tagger, made on first use.  The reading
process parses the dump, counts records and cuts the posts into chunks; workers run
:func:`classifier.scoring.process_chunk` and return each chunk formatted for the scores
file, which the reading process writes in input order (:func:`classifier.engines.ordered_map`).

Workers die with the reading process: a killed ``postcred score`` (SIGKILL, or SIGTERM,
which Python does not catch) must not leave workers holding a model each in memory,
waiting forever for chunks (:func:`die_with_parent`).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Iterable, Iterator

from .engines import ordered_map
from .model import Model, load_model
from .scoring import ChunkTask, ScoredChunk, process_chunk

#: Chunks queued per worker: enough that a worker never waits for the next chunk while
#: the reading process writes the previous one, few enough that memory stays flat.
IN_FLIGHT_PER_JOB = 3

_model: Model | None = None

#: ``prctl`` option: the signal the kernel sends this process when its parent dies (Linux).
PR_SET_PDEATHSIG = 1
#: Seconds between two looks of a worker's watchdog at its parent.
PARENT_POLL = 1.0


def available_cpus() -> int:
    """The CPUs this process may run on: its affinity, which a container or ``taskset``
    may set below ``os.cpu_count()`` (``--jobs 0`` starts one worker per CPU)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # no sched_getaffinity (macOS, Windows)
        return os.cpu_count() or 1


def die_with_parent(parent: int | None) -> None:
    """End this process when its parent ends, however the parent ends.

    On Linux the kernel kills it (``prctl(PR_SET_PDEATHSIG, SIGKILL)``); everywhere a
    daemon thread also checks every :data:`PARENT_POLL` seconds that the parent is still
    the one it started with, and exits when it is not (the parent died and this process
    was handed to another).  ``parent`` is the pid the parent had when it started this
    worker (None when a fork server started it: its parent is then the server, which
    ends with the run); if it is already gone, this process exits at once.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl: the watchdog alone
            pass
    watched = os.getppid()
    if parent is not None and watched != parent:
        os._exit(1)  # the parent died before the kernel was told to signal its death
    threading.Thread(target=_watch_parent, args=(watched,), name="postcred-parent-watch", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL)
    os._exit(1)


def _init_worker(model_dir: str | None, sha256: str | None, parent: int | None = None) -> None:
    """Pool initializer: tie this worker's life to its parent's (:func:`die_with_parent`),
    and make sure it holds the model and no inherited Tagger.

    Under ``spawn`` the worker loads the model file again, and accepts only the bytes the
    parent loaded (``sha256``): the parent already decided to trust them."""
    global _model
    import warnings

    from . import tokens

    die_with_parent(parent)
    warnings.simplefilter("ignore", category=FutureWarning)
    tokens._tagger = None  # a MeCab tagger is per process; never reuse the parent's
    if _model is None:  # under "fork" the parent's loaded model is already here
        _model = load_model(model_dir, expected_sha256=sha256 or None)


def _ready() -> int:
    return os.getpid()


def _process(task: ChunkTask) -> ScoredChunk:
    return process_chunk(_model, task)


def default_start_method() -> str:
    """``fork`` where the platform has it (workers share the loaded model's pages, and
    start in milliseconds), else ``spawn``."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


class PoolEngine:
    """Runs chunks in ``jobs`` worker processes, yielding them in input order (an
    :class:`~classifier.engines.Engine`).

    Entering starts the workers (before any thread, such as the progress bar's, exists in
    this process, which ``fork`` requires), leaving stops them.

    Parameters
    ----------
    model:
        The loaded model (passed to the workers by ``fork``).
    jobs:
        Worker processes.
    model_dir:
        Where workers load the model from under ``spawn``.
    start_method:
        ``"fork"``, ``"spawn"`` or ``"forkserver"``; default :func:`default_start_method`.
    """

    def __init__(self, model: Model, *, jobs: int, model_dir: str | Path | None = None,
                 start_method: str | None = None) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        self.model = model
        self.jobs = jobs
        self.model_dir = None if model_dir is None else str(model_dir)
        self.start_method = start_method or default_start_method()
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "PoolEngine":
        global _model
        context = multiprocessing.get_context(self.start_method)
        _model = self.model if self.start_method == "fork" else None
        try:
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs, mp_context=context, initializer=_init_worker,
                initargs=(self.model_dir, self.model.sha256,
                          None if self.start_method == "forkserver" else os.getpid())
            )
            # Start every worker now (one task each), so the pool never forks later from
            # a process that has started other threads by then.
            for future in [self._pool.submit(_ready) for _ in range(self.jobs)]:
                future.result()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        finally:
            _model = None
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def map(self, tasks: Iterable[ChunkTask]) -> Iterator[ScoredChunk]:
        """Scored chunks in input order, with at most :data:`IN_FLIGHT_PER_JOB` per worker pending."""
        if self._pool is None:
            raise RuntimeError("PoolEngine.map needs the engine entered (use `with`)")
        pool = self._pool

        def submit(task: ChunkTask) -> Future:
            return pool.submit(_process, task)

        return ordered_map(submit, tasks, self.jobs * IN_FLIGHT_PER_JOB)
