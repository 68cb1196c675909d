"""Scoring on a Dask cluster: ``postcred score --engine dask --scheduler ADDRESS``.

For dumps too large for one machine.  This process reads the dump (reading is a small part
of the work), counts records and rejects, and cuts the posts into partitions; the cluster
scores them.  The model is sent to every worker once (``Client.scatter(broadcast=True)``)
and each task receives it by reference; each worker process makes its own fugashi Tagger
on first use.  Workers write their partition straight into the output folder
(``part-00000.jsonl``, ``part-00001.jsonl``, ... or ``.csv``/``.parquet``), which must be
on storage they can all reach (a shared file system), and send back only what the
report's summaries need, plus the first rows for the report.  Partitions are numbered in
input order, so reading the files in name order gives the rows in input order: the same
rows as ``--engine local``.

Dask is an optional extra (``pip install -e .[dask]``): it is imported only here, and only
when this engine is asked for.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import uuid
from collections import deque
from pathlib import Path
from typing import Callable

from .errors import OutputError, PostcredError
from .ingest import Post, dump_name, read_posts
from .model import Model, load_model
from .scoring import (
    LIST_COLUMNS,
    REPORT_MAX_ROWS,
    RunCollector,
    ScoredChunk,
    ScoreRun,
    ScoreSummary,
    ScoresWriter,
    finish_run,
    format_rows,
    gc_paused,
    open_rejects,
    pack_rows,
    post_chunks,
    row_digest,
    score_segments,
    post_segments,
    _progress_bar,
)

FORMATS = ("jsonl", "csv", "parquet")
#: Segments per partition: large enough that task overhead (milliseconds) is noise next
#: to scoring (a few seconds), small enough to spread over many workers.
PARTITION_SIZE = 20_000
#: Partitions queued per worker thread, so that no worker waits while memory stays flat.
IN_FLIGHT_PER_THREAD = 2

# One fugashi Tagger serves a whole worker process (tokens.get_tagger), and a MeCab
# tagger must not parse two texts at once: worker threads take turns.  (Scoring holds the
# GIL anyway, so threads gain nothing here; run workers with --nthreads 1.)
_SCORING_LOCK = threading.Lock()


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise PostcredError(
            "the dask engine needs Dask: pip install -e '.[dask]' (or pip install 'dask[distributed]' pyarrow)"
        ) from None
    return distributed


def partition_path(folder: Path, index: int, fmt: str) -> Path:
    """The file of partition ``index``: ``part-00000.jsonl`` and so on."""
    return Path(folder) / f"part-{index:05d}.{fmt}"


def score_partition(
    model: Model,
    posts: list[Post],
    dump: str,
    index: int,
    folder: str,
    fmt: str,
    fieldnames: list[str] | None,
    keep_rows: bool,
) -> ScoredChunk:
    """Score one partition on a worker and write its file; return the digest (and rows
    when the report wants them), never the formatted text."""
    segments = [segment for post in posts for segment in post_segments(post, dump)]
    with _SCORING_LOCK, gc_paused():
        rows = score_segments(model, segments, evidence=fmt != "csv" or keep_rows)
        digest = [row_digest(row) for row in rows]
        path = partition_path(Path(folder), index, fmt)
        if fmt == "parquet":
            _write_parquet(path, rows)
        else:
            text, fieldnames = format_rows(rows, fmt, fieldnames, header=True)
            _write_text(path, text)
    return ScoredChunk(len(rows), "", fieldnames, digest, pack_rows(rows) if keep_rows else None)


def _write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def parquet_table(rows: list[dict]):
    """Score rows as an Arrow table: scalars as they are, ``urls``/``hashtags``/``mentions``
    as lists of strings, the nested fields (top tokens, evidence, markers, techniques) as
    JSON text, so every partition has the same schema."""
    import pyarrow as pa

    if not rows:
        return pa.table({})
    types = {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string()}
    schema = []
    for key, value in rows[0].items():
        if key in LIST_COLUMNS:
            schema.append(pa.field(key, pa.list_(pa.string())))
        else:
            schema.append(pa.field(key, types.get(type(value), pa.string())))
    records = [
        {
            key: (list(value or []) if key in LIST_COLUMNS
                  else json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value)
            for key, value in row.items()
        }
        for row in rows
    ]
    return pa.Table.from_pylist(records, schema=pa.schema(schema))


def _write_parquet(path: Path, rows: list[dict]) -> None:
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(parquet_table(rows), tmp)
    os.replace(tmp, path)


def _check_folder(folder: Path, *, dump: str, force: bool) -> list[Path]:
    """Refuse an output folder that is a file, lies in ``labels/`` or holds partitions
    (unless ``force``); return the partitions of an older run, to remove."""
    from .outputs import check_output_path

    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: is a file; the dask engine writes a folder of partition files")
    old = sorted(folder.glob("part-*.*")) if folder.is_dir() else []
    check_output_path(folder, inputs=[dump], protected=["labels"], force=True)
    if old and not force:
        raise OutputError(f"{folder}: already holds scores partitions; use --force to replace them")
    return old


def score_dask(
    dump: str,
    *,
    output: str | Path,
    scheduler: str | None = None,
    client=None,
    fmt: str = "jsonl",
    report_path: str | Path | None = None,
    write_report: bool = True,
    model_dir: str | Path | None = None,
    trust_model: bool = False,
    force: bool = False,
    progress: bool = False,
    report_max_rows: int = REPORT_MAX_ROWS,
    partition_size: int = PARTITION_SIZE,
    rejects_path: str | Path | None = None,
    **read_options,
) -> ScoreRun:
    """Score a dump on a Dask cluster into a folder of partition files (and the report).

    Parameters
    ----------
    dump:
        The dump file, read by this process with :func:`classifier.ingest.read_posts`.
    output:
        The output folder; partition ``i`` is ``part-<i>.<fmt>``, in input order.
    scheduler, client:
        The scheduler's address (``tcp://host:8786``), or a connected
        ``distributed.Client`` (then ``scheduler`` is ignored).
    fmt:
        ``"jsonl"`` (default, with the evidence), ``"csv"`` (each partition with its
        header) or ``"parquet"``.
    report_path, write_report, report_max_rows:
        The HTML report, written by this process: summaries over every segment, the
        first ``report_max_rows`` rows listed.  Default path: ``<output stem>.html``
        beside the folder.
    partition_size:
        About how many segments one task scores.
    read_options:
        Passed to :func:`~classifier.ingest.read_posts` (``input_format``, ``encoding``,
        ``errors``, ``on_error``, ``text_col``...).

    Examples
    --------
    >>> run = score_dask("big.jsonl", output="scores/big", scheduler="tcp://10.0.0.5:8786")  # doctest: +SKIP
    """
    if fmt not in FORMATS:
        raise OutputError(f"the dask engine writes {', '.join(FORMATS)}, not {fmt!r}")
    distributed = _import_distributed()
    from .outputs import check_output_path

    folder = Path(output)
    old_partitions = _check_folder(folder, dump=dump, force=force)
    if write_report:
        report_path = Path(report_path) if report_path else folder.with_name(folder.name.split(".")[0] + ".html")
        check_output_path(report_path, inputs=[dump], protected=["labels"], force=force)
    if read_options.get("on_error") == "skip":
        rejects_path = Path(rejects_path) if rejects_path else folder.with_name(folder.name.split(".")[0] + ".rejects.jsonl")
        check_output_path(rejects_path, inputs=[dump], protected=["labels"], force=force)
    model = load_model(model_dir, trust_model=trust_model)
    folder.mkdir(parents=True, exist_ok=True)
    for path in old_partitions:  # no partition of an older run may stay behind
        path.unlink()
    own_client = client is None
    if own_client:
        if not scheduler:
            raise PostcredError("the dask engine needs --scheduler ADDRESS (e.g. tcp://10.0.0.5:8786)")
        try:
            client = distributed.Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise PostcredError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    name = dump_name(dump)
    with open_rejects(rejects_path if read_options.get("on_error") == "skip" else None) as rejects:
        summary = ScoreSummary(on_reject=rejects)
        try:
            threads = max(sum(client.nthreads().values()), 1)
            model_ref = client.scatter(model, broadcast=True)
            items = read_posts(dump, **read_options)
            with _progress_bar(progress) as advance:
                collector = RunCollector(_NoWriter(), max(report_max_rows, 0) if write_report else 0, advance)
                for chunk in _map_partitions(client, model_ref, post_chunks(items, summary, partition_size), name,
                                             str(folder.resolve()), fmt, collector.wants_rows,
                                             threads * IN_FLIGHT_PER_THREAD):
                    collector.add(chunk)
        finally:
            if own_client:
                client.close()
        return finish_run(dump=dump, output=folder, model=model, summary=summary, collector=collector,
                          report_path=report_path if write_report else None, rejects=rejects,
                          empty_note="no partition was written")


def _map_partitions(client, model_ref, chunks, dump: str, folder: str, fmt: str,
                    keep: Callable[[int], bool], in_flight: int):
    """Submit partitions with at most ``in_flight`` pending; yield results in input order.
    The first partition runs alone: it fixes the CSV columns for the others."""
    dispatched = 0
    index = 0
    run = uuid.uuid4().hex[:12]

    def submit(posts: list[Post], fieldnames):
        nonlocal dispatched, index
        future = client.submit(score_partition, model_ref, posts, dump, index, folder, fmt, fieldnames,
                               keep(dispatched), pure=False, key=f"postcred-score-{run}-{index:05d}")
        dispatched += sum(len(post.parts) for post in posts)
        index += 1
        return future

    chunks = iter(chunks)
    first = next(chunks, None)
    if first is None:
        return
    head = submit(first, None).result()
    yield head
    pending: deque = deque()
    for posts in chunks:
        pending.append(submit(posts, head.fieldnames))
        if len(pending) >= in_flight:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


class _NoWriter(ScoresWriter):
    """The workers write the partition files; the collector has nothing to write here."""

    def __init__(self) -> None:
        super().__init__(None, "jsonl")

    def write_text(self, text: str, fieldnames) -> None:
        return None
