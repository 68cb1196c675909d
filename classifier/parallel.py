"""Multi-process scoring for ``postcred score --jobs N``.

Scoring is CPU-bound Python (MeCab through fugashi, then TF-IDF and the evidence), so
threads would queue on the GIL: ``--jobs N`` runs N worker processes instead.  Each worker
holds the model once (inherited at fork, or loaded by the pool's initializer under the
``spawn`` start method) and its own fugashi Tagger, made on first use.  The reading
process parses the dump, counts records and cuts the posts into chunks; workers return
each chunk formatted for the scores file (see :func:`classifier.scoring.score_post_chunk`),
and the chunks are written in input order.  Only a few chunks are in flight at a time, so
memory does not grow with the dump.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .ingest import Post
from .model import Model, load_model
from .scoring import ScoredChunk, score_post_chunk

#: Chunks queued per worker: enough that a worker never waits for the next chunk while
#: the reading process writes the previous one, few enough that memory stays flat.
IN_FLIGHT_PER_JOB = 3

_model: Model | None = None


def available_cpus() -> int:
    """The CPUs this process may run on: its affinity, which a container or ``taskset``
    may set below ``os.cpu_count()`` (``--jobs 0`` starts one worker per CPU)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # no sched_getaffinity (macOS, Windows)
        return os.cpu_count() or 1


def _init_worker(model_dir: str | None, sha256: str | None) -> None:
    """Pool initializer: make sure this worker holds the model and no inherited Tagger.

    Under ``spawn`` the worker loads the model file again, and accepts only the bytes the
    parent loaded (``sha256``): the parent already decided to trust them."""
    global _model
    import warnings

    from . import tokens

    warnings.simplefilter("ignore", category=FutureWarning)
    tokens._tagger = None  # a MeCab tagger is per process; never reuse the parent's
    if _model is None:  # under "fork" the parent's loaded model is already here
        _model = load_model(model_dir, expected_sha256=sha256 or None)


def _ready() -> int:
    return os.getpid()


def _score_chunk(posts: list[Post], dump: str, fmt: str, fieldnames: list[str] | None, keep_rows: bool) -> ScoredChunk:
    return score_post_chunk(_model, posts, dump, fmt=fmt, fieldnames=fieldnames, keep_rows=keep_rows)


def default_start_method() -> str:
    """``fork`` where the platform has it (workers share the loaded model's pages, and
    start in milliseconds), else ``spawn``."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


class ParallelScorer:
    """Scores chunks of posts in ``jobs`` worker processes, yielding them in input order.

    Use it as a context manager: entering starts the workers (before any thread, such as
    the progress bar's, exists in this process, which ``fork`` requires), leaving stops
    them.

    Parameters
    ----------
    model:
        The loaded model (passed to the workers by ``fork``).
    dump:
        The dump's name, the prefix of segment ids.
    fmt:
        ``"csv"`` or ``"jsonl"``: the format the workers write chunks in.
    jobs:
        Worker processes.
    model_dir:
        Where workers load the model from under ``spawn``.
    start_method:
        ``"fork"``, ``"spawn"`` or ``"forkserver"``; default :func:`default_start_method`.
    """

    def __init__(
        self,
        model: Model,
        dump: str,
        fmt: str,
        *,
        jobs: int,
        model_dir: str | Path | None = None,
        start_method: str | None = None,
    ) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        self.model = model
        self.dump = dump
        self.fmt = fmt
        self.jobs = jobs
        self.model_dir = None if model_dir is None else str(model_dir)
        self.start_method = start_method or default_start_method()
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "ParallelScorer":
        global _model
        context = multiprocessing.get_context(self.start_method)
        _model = self.model if self.start_method == "fork" else None
        try:
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs, mp_context=context, initializer=_init_worker,
                initargs=(self.model_dir, self.model.sha256)
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

    def map(self, chunks: Iterable[list[Post]], keep: Callable[[int], bool]) -> Iterator[ScoredChunk]:
        """Scored chunks in input order; ``keep(segments before this chunk)`` says whether a
        chunk's full rows should come back (for the report).

        The first chunk is scored alone: it fixes the CSV columns, which every later chunk
        then uses, so the chunks join into one file with one header.
        """
        if self._pool is None:
            raise RuntimeError("ParallelScorer.map needs the scorer entered (use `with`)")
        pool = self._pool
        chunks = iter(chunks)
        dispatched = 0

        def submit(posts: list[Post], fieldnames: list[str] | None) -> Future:
            nonlocal dispatched
            future = pool.submit(_score_chunk, posts, self.dump, self.fmt, fieldnames, keep(dispatched))
            dispatched += sum(len(post.parts) for post in posts)
            return future

        first = next(chunks, None)
        if first is None:
            return
        head = submit(first, None).result()
        fieldnames = head.fieldnames
        yield head
        pending: deque[Future] = deque()
        limit = self.jobs * IN_FLIGHT_PER_JOB
        for posts in chunks:
            pending.append(submit(posts, fieldnames))
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
