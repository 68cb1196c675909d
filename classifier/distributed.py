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

import threading
import uuid
from pathlib import Path
from typing import Iterable, Iterator

from .accounts import DEFAULT_TZ
from .campaign_params import CampaignParams
from .engines import ordered_map
from .errors import OutputError, PostcredError
from .ingest import dump_name, read_posts
from .model import Model, load_model
from .outputs import all_or_none, check_output_path
from .run import (
    PROTECTED,
    REPORT_MAX_ROWS,
    ProgressBar,
    RunCollector,
    ScoreRun,
    chunk_tasks,
    finish_run,
    open_rejects,
    run_accounts,
    run_paths,
)
from .scoring import ChunkTask, ScoredChunk, ScoreSummary, post_chunks, process_chunk
from .source import ReadOptions
from .startup import settle_collector
from .writers import FORMATS

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


def _process_on_worker(model: Model, task: ChunkTask) -> ScoredChunk:
    """:func:`~classifier.scoring.process_chunk` on a Dask worker (which writes the partition file)."""
    with _SCORING_LOCK:
        return process_chunk(model, task)


class DaskEngine:
    """Runs chunks (partitions) on a Dask cluster, yielding them in input order (an
    :class:`~classifier.engines.Engine`).

    The model goes to every worker once (``Client.scatter(broadcast=True)``) and each task
    receives it by reference.  At most ``in_flight`` partitions are pending at a time.
    """

    def __init__(self, client, model: Model, *, in_flight: int) -> None:
        self.client = client
        self.model = model
        self.in_flight = in_flight
        self._model_ref = None
        self._run = uuid.uuid4().hex[:12]

    def __enter__(self) -> "DaskEngine":
        self._model_ref = self.client.scatter(self.model, broadcast=True)
        return self

    def __exit__(self, *exc) -> None:
        self._model_ref = None

    def map(self, tasks: Iterable[ChunkTask]) -> Iterator[ScoredChunk]:
        def submit(task: ChunkTask):
            return self.client.submit(_process_on_worker, self._model_ref, task, pure=False,
                                      key=f"postcred-score-{self._run}-{task.index:05d}")

        return ordered_map(submit, tasks, self.in_flight)


def _check_folder(folder: Path, *, dump: str, force: bool) -> list[Path]:
    """Refuse an output folder that is a file, lies in ``labels/`` or holds partitions
    (unless ``force``); return the partitions of an older run, to remove."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: is a file; the dask engine writes a folder of partition files")
    old = sorted(folder.glob("part-*.*")) if folder.is_dir() else []
    check_output_path(folder, inputs=[dump], protected=PROTECTED, force=True)
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
    read: ReadOptions | None = None,
    force: bool = False,
    progress: bool = False,
    report_max_rows: int = REPORT_MAX_ROWS,
    partition_size: int = PARTITION_SIZE,
    rejects_path: str | Path | None = None,
    excel_safe: bool = False,
    campaigns: CampaignParams | None = CampaignParams(),
    write_accounts: bool = True,
    tz: str = DEFAULT_TZ,
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
    read:
        How to read the dump (:class:`~classifier.source.ReadOptions`).
    partition_size:
        About how many segments one task scores.
    excel_safe:
        CSV partitions safe to open in a spreadsheet (see :func:`classifier.run.score_to_files`).
    campaigns:
        Campaign detection parameters (None: none): each worker sketches its partition's
        posts, this process merges the sketches and writes ``<output stem>.campaigns.csv``
        and ``<output stem>.campaign_summary.csv`` beside the folder, the same campaigns
        as a run in one process.
    write_accounts, tz:
        The account tables' CSVs, beside the folder (``<output stem>.accounts.csv``,
        ``.account_days.csv``), from the posts each worker folds in time zone ``tz``.

    Examples
    --------
    >>> run = score_dask("big.jsonl", output="scores/big", scheduler="tcp://10.0.0.5:8786")  # doctest: +SKIP
    """
    if fmt not in FORMATS:
        raise OutputError(f"the dask engine writes {', '.join(FORMATS)}, not {fmt!r}")
    read = read or ReadOptions()
    distributed = _import_distributed()
    folder = Path(output)
    old_partitions = _check_folder(folder, dump=dump, force=force)
    report_path, rejects_path, found_paths, csv_paths = run_paths(
        dump, folder, report_path=report_path, write_report=write_report, rejects_path=rejects_path,
        skip=read.on_error == "skip", campaigns=campaigns, write_accounts=write_accounts, force=force)
    model = load_model(model_dir, trust_model=trust_model)
    settle_collector()  # the start-up's pause of the collector, if any, ends here
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
    resolved = folder.resolve()
    report_rows = max(report_max_rows, 0) if report_path is not None else 0
    accounts = run_accounts(tz, csv_paths, None, report=report_path is not None, folder=folder)
    with all_or_none() as outputs:
        rejects = open_rejects(rejects_path, outputs)
        summary = ScoreSummary(on_reject=rejects)
        try:
            threads = max(sum(client.nthreads().values()), 1)
            chunks = post_chunks(read_posts(dump, read), summary, partition_size)
            tasks = chunk_tasks(chunks, dump_name(dump), fmt, report_rows=report_rows,
                                partition=lambda index: str(partition_path(resolved, index, fmt)),
                                excel_safe=excel_safe, campaigns=campaigns, tz=tz if accounts is not None else None,
                                report=report_path is not None)
            with DaskEngine(client, model, in_flight=threads * IN_FLIGHT_PER_THREAD) as engine, \
                    ProgressBar(progress) as advance:
                collector = outputs.close_with(RunCollector(None, report_rows, advance, accounts,
                                                            temp_folder=resolved.parent))
                for chunk in engine.map(tasks):
                    collector.add(chunk)
        finally:
            if own_client:
                client.close()
        return finish_run(dump=dump, output=folder, model=model, summary=summary, collector=collector,
                          report_path=report_path, rejects=rejects, outputs=outputs,
                          empty_note="no partition was written", campaigns=campaigns, campaign_paths=found_paths,
                          excel_safe=excel_safe)
