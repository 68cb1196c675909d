"""A scoring run, end to end: the library call behind ``postcred score``.

Checks the output paths, reads the dump (counting records; malformed ones go to the
rejects file as they are read), hands chunks to an engine (this process, a process pool,
a Dask cluster: :mod:`classifier.engines`), writes the scored chunks in input order,
finds campaigns among the posts (each chunk's posts sketched where it was scored, the
sketches merged here: :mod:`classifier.campaigns`), folds each chunk's posts into the
account tables (:mod:`classifier.accounts`, folded where the chunk was scored), and at the
end writes the campaign files, the account tables (each account's campaigns are those
found here) and the HTML report from the summary of every segment and the records it
lists.  Every output of a run is staged in one :func:`classifier.outputs.all_or_none` set
(the ``outputs`` that :func:`finish_run` receives: an output added to the run is staged
there too) and put in place when the run succeeds; a failed run leaves all of them or
none, and no temporary file.  Derived names (report, rejects, campaign and account files)
are ``<scores stem><suffix>`` (:func:`classifier.outputs.derived_path`).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping

from .accounts import DEFAULT_TZ, AccountsBuilder
from .accounts_files import ACCOUNTS_SUFFIX, DAYS_SUFFIX, RunAccounts
from .campaign_params import CampaignParams
from .engines import Engine, LocalEngine
from .errors import OutputError
from .ingest import dump_name, read_posts
from .model import Model, load_model
from .outputs import OutputSet, all_or_none, check_output_path, derived_path, write_failed
from .process_memory import give_back_large_blocks
from .report_rows import EVIDENCE_PER_SEGMENT
from .scoring import CHUNK_SIZE, TAIL_PIECES, ChunkTask, ScoredChunk, ScoreSummary, post_chunks
from .source import Post, ReadOptions, Reject
from .startup import settle_collector
from .summary import Summary
from .tokens import release_dictionary_pages
from .writers import TABLE_FORMATS, ScoresWriter, format_for

if TYPE_CHECKING:
    from .campaigns import CampaignFinder, CampaignSet
    from .report import ReportRows

#: Per-segment rows kept for the HTML report by default; the summaries count every row.
REPORT_MAX_ROWS = 50_000
PROTECTED = ["labels"]


@dataclass
class ScoreRun:
    """What a run wrote and counted."""

    output: Path
    report: Path | None
    summary: ScoreSummary
    label_counts: dict
    rejects: Path | None = None
    warnings: list[str] = field(default_factory=list)
    #: The campaigns found (None: the run did not look for them) and the files written.
    campaigns: CampaignSet | None = None
    campaign_files: list[Path] = field(default_factory=list)
    #: The account tables' CSVs (None: not written) and what the tables cover.
    accounts_csv: Path | None = None
    account_days_csv: Path | None = None
    accounts_note: str = ""


def default_output(dump: str) -> Path:
    return Path("reports") / f"{dump_name(dump)}.scores.csv"


def side_outputs(dump: str, output: Path, *, report_path: str | Path | None, write_report: bool,
                 rejects_path: str | Path | None, skip: bool, force: bool) -> tuple[Path | None, Path | None]:
    """The report and rejects paths of a run (None: not written), checked: never over an
    input or another output, never inside ``labels/``, never over a file unless ``force``."""
    report = None
    if write_report:
        report = Path(report_path) if report_path else derived_path(output, ".html")
        check_output_path(report, inputs=[dump, output], protected=PROTECTED, force=force)
    rejects = None
    if skip:
        rejects = Path(rejects_path) if rejects_path else derived_path(output, ".rejects.jsonl")
        check_output_path(rejects, inputs=[dump, output, *([report] if report else [])], protected=PROTECTED,
                          force=force)
    return report, rejects


def checked_outputs(dump: str, output: Path, paths: Iterable[Path], *, others: Iterable[Path | None],
                    force: bool) -> tuple[Path, ...]:
    """``paths`` (outputs derived from ``output``), checked as :func:`side_outputs` checks
    its own: never over an input or another output, never inside ``labels/``, never over
    a file unless ``force``."""
    paths = tuple(paths)
    inputs = [dump, output, *(p for p in others if p is not None)]
    for path in paths:
        check_output_path(path, inputs=inputs, protected=PROTECTED, force=force)
    return paths


def campaign_outputs(dump: str, output: Path, *, campaigns: CampaignParams | None, others: list[Path | None],
                     force: bool) -> tuple[Path, Path] | None:
    """The campaign files of a run (None: it does not look for campaigns), beside the
    scores: ``<stem>.campaigns.csv`` and ``<stem>.campaign_summary.csv``."""
    if campaigns is None:
        return None
    from .campaign_files import campaign_paths

    return checked_outputs(dump, output, campaign_paths(output), others=others, force=force)


def account_outputs(dump: str, output: Path, *, write: bool, others: Iterable[Path | None],
                    force: bool) -> tuple[Path, Path] | None:
    """The paths of the account tables' CSVs beside the scores (``<stem>.accounts.csv``,
    ``<stem>.account_days.csv``); None when they are not written."""
    if not write:
        return None
    paths = derived_path(output, ACCOUNTS_SUFFIX), derived_path(output, DAYS_SUFFIX)
    return checked_outputs(dump, output, paths, others=others, force=force)


def run_paths(dump: str, output: Path, *, report_path: str | Path | None, write_report: bool,
              rejects_path: str | Path | None, skip: bool, campaigns: CampaignParams | None,
              write_accounts: bool, force: bool) -> tuple:
    """Every side output of a run, checked against the inputs and each other (any engine):
    ``(report, rejects, campaign files, account CSVs)``, each None when not written."""
    report, rejects = side_outputs(dump, output, report_path=report_path, write_report=write_report,
                                   rejects_path=rejects_path, skip=skip, force=force)
    found = campaign_outputs(dump, output, campaigns=campaigns, others=[report, rejects], force=force)
    accounts = account_outputs(dump, output, write=write_accounts, others=[report, rejects, *(found or ())], force=force)
    return report, rejects, found, accounts


# ---------------------------------------------------------------- rejects


def open_rejects(path: Path | None, outputs: OutputSet) -> RejectsFile | None:
    """The rejects file of a run (None when ``path`` is None: records are not skipped),
    one of the run's ``outputs``."""
    return None if path is None else RejectsFile(path, outputs)


class RejectsFile:
    """The rejects file of a run, written as rejected records are read (JSONL: record,
    line, reason, raw), so that a dump with millions of bad records does not hold them in
    memory.  Created on the first reject only, staged in the run's ``outputs`` (put in
    place with the other outputs when the run succeeds, removed if it fails)."""

    def __init__(self, path: Path, outputs: OutputSet) -> None:
        self.path = path
        self.count = 0
        self._outputs = outputs
        self._handle = None

    def __call__(self, reject: Reject) -> None:
        if self._handle is None:
            self._handle = self._outputs.open(self.path, "w")
        self._handle.write(json.dumps(reject.to_dict(), ensure_ascii=False) + "\n")
        self.count += 1

    @property
    def written(self) -> Path | None:
        """The file's path once a reject went into it, else None."""
        return self.path if self.count else None


# ---------------------------------------------------------------- chunks in, chunks out


def chunk_tasks(chunks: Iterable[list[Post]], dump: str, fmt: str, *, report_rows: int,
                partition: Callable[[int], str] | None = None, excel_safe: bool = False,
                campaigns: CampaignParams | None = None, tz: str | None = None,
                tables: bool = False, report: bool = True) -> Iterator[ChunkTask]:
    """A task per chunk of posts; the chunks that start before ``report_rows`` segments
    have gone by make their report rows as they are scored; ``report`` False: no report is made
    (the summary's counts per account are left out); ``excel_safe``, ``campaigns``, ``tz``
    and ``tables`` as for :class:`~classifier.scoring.ChunkTask`."""
    evidence = EVIDENCE_PER_SEGMENT if report_rows > 0 else None
    dispatched = 0
    for index, posts in enumerate(chunks):
        task = ChunkTask(index, posts, dump, fmt, partition=partition(index) if partition else None,
                         report_evidence=evidence if dispatched < report_rows else None, excel_safe=excel_safe,
                         campaigns=campaigns, tz=tz, tables=tables, summary_accounts=report)
        dispatched += task.segments
        yield task


class RunCollector:
    """Takes the scored chunks in input order: writes their text to the scores file,
    adds their posts to the account tables, and gathers what the report needs, the
    summary over every record and the first ``max_rows`` records, and the chunks'
    campaign sketches (merged into one finder)."""

    def __init__(self, writer: ScoresWriter | None, max_rows: int, progress: Callable[[int], None] | None = None,
                 accounts: RunAccounts | None = None, temp_folder: Path | None = None) -> None:
        self.writer = writer
        self.max_rows = max_rows
        self.progress = progress
        self.accounts = accounts
        self.segments = 0
        self.kept = 0
        self.summary = Summary()
        self.campaigns: CampaignFinder | None = None
        #: Where campaign detection and the report's rows keep their temporary files (beside
        #: the outputs when that folder exists, else the system's temporary folder).
        self.temp_folder = temp_folder if temp_folder is not None and temp_folder.is_dir() else None
        self._report_rows: ReportRows | None = None

    def add(self, chunk: ScoredChunk) -> None:
        if self.writer is not None:
            self.writer.write(chunk.data)
        if self.accounts is not None:
            self.accounts.add(chunk.posts or (), chunk.segment_rows)
        self.summary.merge(chunk.summary)
        self.segments += chunk.segments
        if chunk.report_entries is not None and self.kept < self.max_rows:
            take = min(chunk.segments, self.max_rows - self.kept)
            rows = self._rows()
            for entry in chunk.report_entries[:take]:
                rows.add_entry(entry)
            self.kept += take
        if chunk.campaigns is not None:
            if self.campaigns is None:
                from .campaigns import CampaignFinder

                self.campaigns = CampaignFinder(chunk.campaigns.params, folder=self.temp_folder)
            self.campaigns.merge(chunk.campaigns)
        if self.progress:
            self.progress(chunk.segments)

    def campaign_set(self, params: CampaignParams) -> CampaignSet:
        """The campaigns among every chunk's posts (call once, at the end)."""
        from .campaigns import CampaignFinder

        finder, self.campaigns = self.campaigns or CampaignFinder(params, folder=self.temp_folder), None
        return finder.finish()

    def close(self) -> None:
        """Remove the temporary files of campaign detection (a run that stopped before its
        end) and of the report's rows."""
        if self.campaigns is not None:
            self.campaigns.close()
            self.campaigns = None
        if self._report_rows is not None:
            self._report_rows.close()
            self._report_rows = None

    def _rows(self) -> ReportRows:
        if self._report_rows is None:
            from .report import ReportRows

            self._report_rows = ReportRows(folder=self.temp_folder)
        return self._report_rows

    def report_rows(self) -> ReportRows:
        """The rows the report lists: each chunk's records were made into the report's
        rows as the chunk came, and wait on disk (:class:`~classifier.report.ReportRows`)."""
        return self._rows()

    def report_run(self) -> dict:
        """What the report's header says about the rows it shows (all, or the first N)."""
        shown = self.kept
        note = {"report_rows": shown, "report_rows_capped": shown < self.segments}
        if shown < self.segments:
            note["report_note"] = (
                f"This report lists the first {shown:,} of {self.segments:,} segments; the counts, "
                "per-account means and technique tables cover all of them. The scores file has every row."
            )
        return note


def finish_run(*, dump: str, output: Path, model: Model, summary: ScoreSummary, collector: RunCollector,
               report_path: Path | None, rejects: RejectsFile | None, outputs: OutputSet,
               empty_note: str, campaigns: CampaignParams | None = None,
               campaign_paths: tuple[Path, Path] | None = None, excel_safe: bool = False) -> ScoreRun:
    """Close a scoring run (any engine): find the campaigns, make the account tables
    (each account's campaigns among them), stage their files and the report in the run's
    ``outputs`` (every output is put in place when the caller's
    :func:`~classifier.outputs.all_or_none` block ends), and say what was written and
    what to warn about."""
    summary.segments = collector.segments
    found, campaign_files, members = None, [], []
    if campaigns is not None:
        from .campaign_files import campaign_rows, write_campaign_csvs

        found = collector.campaign_set(campaigns)
        members = campaign_rows(found)
        if campaign_paths is not None:
            campaign_files = write_campaign_csvs(outputs, found, *campaign_paths, excel_safe=excel_safe)
    accounts = collector.accounts
    tables = accounts.finish(outputs, members, excel_safe=excel_safe) if accounts is not None else None
    if report_path is not None:
        from .report import write_report

        title = "standard input" if dump == "-" else Path(dump).name
        try:
            write_report(report_path, collector.report_rows(), outputs=outputs, title=title,
                         summary=collector.summary.result(), model_meta=model.metadata,
                         run={**summary.to_dict(), **collector.report_run()}, campaigns=found, accounts=tables)
        except OSError as exc:  # a full disk, a quota
            raise write_failed(report_path, exc) from None
    warnings = []
    if summary.records_read == 0:
        warnings.append(f"{'<stdin>' if dump == '-' else dump}: no records found (an empty dump); {empty_note}")
    accounts_csv, days_csv = accounts.csv_paths if accounts is not None and accounts.csv_paths else (None, None)
    return ScoreRun(output, report_path, summary, collector.summary.label_counts(),
                    rejects.written if rejects is not None else None, warnings, campaigns=found,
                    campaign_files=campaign_files, accounts_csv=accounts_csv, account_days_csv=days_csv,
                    accounts_note=tables.note() if tables is not None else "")


def open_engine(model: Model, *, jobs: int = 1, model_dir: str | Path | None = None) -> Engine:
    """The engine for ``jobs`` processes: this process, or a pool of worker processes."""
    if jobs <= 1:
        return LocalEngine(model)
    from .parallel import PoolEngine

    return PoolEngine(model, jobs=jobs, model_dir=model_dir)


def score_to_files(
    dump: str,
    *,
    output: str | Path | None = None,
    fmt: str | None = None,
    report_path: str | Path | None = None,
    write_report: bool = True,
    model_dir: str | Path | None = None,
    trust_model: bool = False,
    read: ReadOptions | None = None,
    force: bool = False,
    progress: bool = False,
    rejects_path: str | Path | None = None,
    jobs: int = 1,
    report_max_rows: int = REPORT_MAX_ROWS,
    excel_safe: bool = False,
    campaigns: CampaignParams | None = CampaignParams(),
    write_accounts: bool = True,
    tz: str = DEFAULT_TZ,
    post_campaigns: Mapping[str, str | Iterable[str]] | None = None,
) -> ScoreRun:
    """Score a dump file (``"-"``: standard input) and write the scores file, the
    campaign files, the account tables and (optionally) the HTML report.

    ``model_dir`` is a model folder or file (default: the shipped model); ``trust_model``
    loads it even when this machine did not train it (see :mod:`classifier.trust`).

    Outputs are checked first (never over the input or ``labels/``, never over an existing
    file unless ``force``) and written atomically.  ``read`` says how to read the dump
    (:class:`~classifier.source.ReadOptions`); with ``on_error="skip"`` malformed records
    go to a rejects file (JSONL: record, line, reason, raw; default
    ``<scores stem>.rejects.jsonl`` beside the scores), written only when there are any.

    The dump is read, scored and written chunk by chunk (``jobs`` processes score chunks
    in parallel, written in input order), so memory does not grow with the dump.  The
    report's summaries count every segment; its per-segment rows stop after
    ``report_max_rows``, and it says so.

    ``excel_safe`` makes the CSV files safe to open in a spreadsheet: a cell starting
    with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``
    (:func:`classifier.outputs.excel_safe_cell`); off, the files hold the texts as they are.

    ``campaigns`` are the campaign detection parameters (None: no campaign detection):
    campaigns among the posts go to ``<scores stem>.campaigns.csv`` and
    ``<scores stem>.campaign_summary.csv`` beside the scores, into the account tables'
    ``campaigns`` column, the database's campaign tables and the report.

    ``write_accounts`` writes ``<stem>.accounts.csv`` and ``<stem>.account_days.csv``
    beside the scores (:mod:`classifier.accounts`; times cut into days and hours in
    ``tz``); ``post_campaigns`` (post_id -> campaign ids, known before the run) adds
    campaigns to those the run finds.
    ``fmt`` ``"sqlite"`` (or an output ending in ``.sqlite``/``.db``) writes every table
    (segments, posts, accounts, account_days, campaigns) into one SQLite file instead of a
    scores file, ``"parquet"`` one Parquet file per table into the ``output`` folder
    (:mod:`classifier.database`).

    Examples
    --------
    >>> run = score_to_files("seeds/timeline_nhk_reuters_partisan_2024-11-04.txt", output="reports/seed.csv")  # doctest: +SKIP
    """
    read = read or ReadOptions()
    output = Path(output) if output is not None else default_output(dump)
    try:
        fmt = format_for(output, fmt)
    except ValueError as exc:
        raise OutputError(str(exc)) from None
    tables = fmt in TABLE_FORMATS
    if not tables:
        check_output_path(output, inputs=[dump], protected=PROTECTED, force=force)
    report_path, rejects_path, found_paths, csv_paths = run_paths(
        dump, output, report_path=report_path, write_report=write_report, rejects_path=rejects_path,
        skip=read.on_error == "skip", campaigns=campaigns, write_accounts=write_accounts, force=force)
    model = load_model(model_dir, trust_model=trust_model)
    settle_collector()  # the start-up's pause of the collector, if any, ends here
    items = read_posts(dump, read)
    report_rows = max(report_max_rows, 0) if report_path is not None else 0
    with all_or_none() as outputs:
        rejects = open_rejects(rejects_path, outputs)
        summary = ScoreSummary(on_reject=rejects)
        writer, sink = open_scores(outputs, output, fmt, dump=dump, force=force)
        accounts = run_accounts(tz, csv_paths, sink, report=report_path is not None, post_campaigns=post_campaigns,
                                folder=output.parent)
        with open_engine(model, jobs=jobs, model_dir=model_dir) as engine, ProgressBar(progress) as advance:
            collector = outputs.close_with(RunCollector(writer, report_rows, advance, accounts,
                                                        temp_folder=output.parent))
            chunks = post_chunks(items, summary, CHUNK_SIZE, tail_pieces=TAIL_PIECES if jobs > 1 else 1)
            tasks = chunk_tasks(chunks, dump_name(dump), fmt, report_rows=report_rows,
                                excel_safe=excel_safe, campaigns=campaigns, tz=tz if accounts is not None else None,
                                tables=tables, report=report_path is not None)
            for chunk in engine.map(tasks):
                collector.add(chunk)
        release_dictionary_pages()  # nothing tokenizes from here on (see classifier.tokens)
        give_back_large_blocks()  # the end's large arrays, once freed, leave resident memory
        return finish_run(dump=dump, output=output, model=model, summary=summary, collector=collector,
                          report_path=report_path, rejects=rejects, outputs=outputs,
                          empty_note="the scores file has no rows", campaigns=campaigns,
                          campaign_paths=found_paths, excel_safe=excel_safe)


def run_accounts(tz: str, csv_paths: tuple[Path, Path] | None, sink, *, report: bool,
                 post_campaigns: Mapping[str, str | Iterable[str]] | None = None,
                 folder: Path | None = None) -> RunAccounts | None:
    """The account tables of a run, when anything shows them: their CSVs, the database
    tables, the report's Accounts view (None: the chunks' posts are not even folded).
    Their temporary files go to ``folder`` (beside the outputs; see :class:`~classifier.accounts.DayLedger`)."""
    if csv_paths is None and sink is None and not report:
        return None
    return RunAccounts(AccountsBuilder(tz=tz, post_campaigns=post_campaigns, folder=folder), csv_paths, sink)


def open_scores(outputs: OutputSet, output: Path, fmt: str, *, dump: str,
                force: bool) -> tuple[ScoresWriter | None, object | None]:
    """The run's main output, staged in ``outputs``: a scores file's writer (CSV, JSONL),
    or the database tables' writer (SQLite, Parquet: :func:`classifier.database.open_tables`)."""
    if fmt in TABLE_FORMATS:
        from .database import open_tables

        if fmt == "parquet" and output.exists() and not output.is_dir():
            raise OutputError(f"{output}: is a file; --format parquet writes a folder of one file per table")
        check_output_path(output, inputs=[dump], protected=PROTECTED, force=force or fmt == "parquet")
        return None, open_tables(outputs, output, fmt, force=force)
    return ScoresWriter(outputs.open(output, "wb"), fmt), None


class ProgressBar:
    """A rich progress bar on stderr for runs that last: it appears once scoring has taken
    more than :attr:`DELAY` seconds, only when asked (not ``--quiet``) and stderr is a
    terminal; otherwise the returned ``advance(n)`` does nothing."""

    DELAY = 2.0

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._progress = None
        self._task = None
        self._done = 0
        self._started = 0.0

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        self._started = time.monotonic()

        def advance(n: int) -> None:
            self._done += n
            elapsed = time.monotonic() - self._started
            if self._progress is None:
                if elapsed < self.DELAY:
                    return
                self._start()
            rate = f"{self._done / elapsed:,.0f} segments/s" if elapsed > 0 else ""
            self._progress.update(self._task, completed=self._done, rate=rate)

        return advance

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("scoring"), BarColumn(), TextColumn("{task.completed:,} segments"),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
            console=Console(stderr=True), transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("score", total=None, rate="")

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
