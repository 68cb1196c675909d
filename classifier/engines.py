"""Engines: ways to run the scoring kernel over a dump's chunks, results in input order.

Every engine runs the same function, :func:`classifier.scoring.process_chunk`, on the
same :class:`~classifier.scoring.ChunkTask` objects, and gives back the
:class:`~classifier.scoring.ScoredChunk` results in input order through one interface,
:class:`Engine`: a context manager (entering starts the workers, leaving stops them) with
a ``map`` method.  :class:`LocalEngine` scores in this process (``--jobs 1``);
:class:`classifier.parallel.PoolEngine` in worker processes (``--jobs N``);
:class:`classifier.distributed.DaskEngine` on a Dask cluster.  The two that run chunks
elsewhere share :func:`ordered_map`, which keeps a few chunks in flight and yields them in
order, so memory holds a few chunks, never the dump.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterable, Iterator, Protocol, TypeVar

from .model import Model
from .scoring import ChunkTask, ScoredChunk, process_chunk

T = TypeVar("T")
R = TypeVar("R")


class Engine(Protocol):
    """Runs :func:`~classifier.scoring.process_chunk` on tasks, results in input order."""

    def __enter__(self) -> "Engine": ...

    def __exit__(self, *exc) -> None: ...

    def map(self, tasks: Iterable[ChunkTask]) -> Iterator[ScoredChunk]: ...


class Pending(Protocol[R]):
    """A result on its way: a ``concurrent.futures.Future`` or a Dask future."""

    def result(self) -> R: ...


def ordered_map(submit: Callable[[T], Pending[R]], items: Iterable[T], in_flight: int) -> Iterator[R]:
    """``submit`` each item, keeping at most ``in_flight`` results pending, and yield the
    results in input order.  ``items`` is read only as far as needed: a few items ahead
    of the one being yielded."""
    pending: deque[Pending[R]] = deque()
    for item in items:
        pending.append(submit(item))
        if len(pending) >= in_flight:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


class LocalEngine:
    """Scores the chunks in this process, one after the other (``--jobs 1``)."""

    def __init__(self, model: Model) -> None:
        self.model = model

    def __enter__(self) -> "LocalEngine":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def map(self, tasks: Iterable[ChunkTask]) -> Iterator[ScoredChunk]:
        for task in tasks:
            yield process_chunk(self.model, task)
