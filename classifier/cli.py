"""The ``postcred`` command line: a thin layer over the library.

Each command parses options, calls one library function and prints what it did.  Domain
errors become one ``Error: ...`` line and exit code 1; usage errors exit 2 (click's own);
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import click

from .errors import PostcredError
from .source import FORMATS, ReadOptions

HELP_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class PostcredGroup(click.Group):
    """A click group that turns library errors into one clean line (no traceback)."""

    def invoke(self, ctx: click.Context):
        debug = bool(ctx.params.get("debug"))
        try:
            return super().invoke(ctx)
        except PostcredError as exc:
            if debug:
                raise
            raise click.ClickException(str(exc)) from None
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug, not bad input: still one line unless --debug
            if debug:
                raise
            raise click.ClickException(
                f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"
            ) from None


@click.group(cls=PostcredGroup, context_settings=HELP_SETTINGS)
@click.version_option(package_name="postcred")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error instead of one line.")
def cli(debug: bool) -> None:
    """postcred: how much each segment of a Japanese post dump reads like wire-service
    reporting (p_wire) versus partisan commentary, with the propaganda markers that fired.

    Example:

        postcred score seeds/timeline_nhk_reuters_partisan_2024-11-04.txt -o reports/seed.csv
    """
    if not debug:
        warnings.simplefilter("ignore", category=FutureWarning)
    warnings.showwarning = show_warning


def echo_err(message: str) -> None:
    click.echo(message, err=True)


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Library warnings (a model's versions, a missing metadata file) as one ``Warning:`` line."""
    echo_err(f"Warning: {message}")


class EchoHandler(logging.Handler):
    """The library's log lines on stderr: warnings as ``Warning: ...`` (always), the rest
    (how a dump is read) as they are, unless ``quiet``."""

    def __init__(self, quiet: bool) -> None:
        super().__init__(logging.WARNING if quiet else logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        echo_err(f"Warning: {message}" if record.levelno >= logging.WARNING else message)


@contextmanager
def library_messages(quiet: bool) -> Iterator[None]:
    """Show the library's log lines (see :class:`EchoHandler`) while a command runs."""
    logger = logging.getLogger("classifier")
    handler = EchoHandler(quiet)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# ---------------------------------------------------------------- campaign options (score, campaigns)


def campaign_options(command):
    """The campaign detection options of ``score`` and ``campaigns``: one definition, each a field of
    ``CampaignParams`` with its default shown."""
    from .campaign_params import CampaignParams

    d = CampaignParams()
    options = [
        click.option("--threshold", type=click.FloatRange(0, 1, min_open=True), default=d.threshold, show_default=True,
                     help="Campaigns: Jaccard similarity of two texts' character 3-gram sets at or above which they match."),
        click.option("--min-chars", type=click.IntRange(3, None), default=d.min_chars, show_default=True,
                     help="Campaigns: Texts shorter than this after normalization are left out (too little to compare)."),
        click.option("--min-accounts", type=click.IntRange(1, None), default=d.min_accounts, show_default=True,
                     help="Campaigns: Distinct accounts a group of matching posts needs to be a campaign."),
        click.option("--num-perm", type=click.IntRange(1, None), default=d.num_perm, show_default=True,
                     help="Campaigns: MinHash signature length."),
        click.option("--bands", type=click.IntRange(1, None), default=d.bands, show_default=True,
                     help="Campaigns: LSH bands (each of num-perm // bands signature positions)."),
        click.option("--window", type=click.IntRange(1, None), default=d.window, show_default=True,
                     help="Campaigns: In an LSH bucket, each text is compared with up to this many others."),
        click.option("--fast-seconds", type=click.IntRange(0, None), default=d.fast_seconds, show_default=True,
                     help="Campaigns: Two accounts' posts this close in time are a fast pair."),
        click.option("--share-p-wire", type=click.FloatRange(0, 1), default=d.share_p_wire, show_default=True,
                     help="Campaigns: Median p_wire at or above which a campaign with links is a share template."),
        click.option("--share-url-share", type=click.FloatRange(0, 1), default=d.share_url_share, show_default=True,
                     help="Campaigns: Share of posts with a link at or above which a high-p_wire campaign is a share template."),
        click.option("--seed", type=int, default=d.seed, show_default=True, help="Campaigns: Seed of the MinHash functions."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


CAMPAIGN_OPTION_NAMES = ("threshold", "min_chars", "min_accounts", "num_perm", "bands", "window", "fast_seconds",
                         "share_p_wire", "share_url_share", "seed")


def campaign_params(options: dict):
    """``CampaignParams`` from the parsed campaign options (a usage error if they clash)."""
    from .campaign_params import CampaignParams

    try:
        return CampaignParams(**{name: options[name] for name in CAMPAIGN_OPTION_NAMES})
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


excel_safe_option = click.option(
    "--excel-safe", is_flag=True,
    help="CSV files safe to open in a spreadsheet: a cell starting with =, +, -, @, a tab or a carriage return "
         "gets a leading ' so that post text never runs as a formula. Off by default: the CSV holds the texts "
         "as they are.")


# ---------------------------------------------------------------- score


@cli.command()
@click.argument("dump", type=click.Path(dir_okay=False, allow_dash=True, path_type=str))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Scores file (.csv or .jsonl), or a database of every table (.sqlite). Default: "
                   "reports/<dump name>.scores.csv. With --engine dask: a folder of partition files.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "sqlite", "parquet"]), default=None,
              help="Format of the output; default from its extension (.csv, .jsonl, .sqlite/.db, .parquet; "
                   "--engine dask: jsonl). sqlite: the segments, posts, accounts, account_days and campaigns "
                   "tables in one SQLite file. parquet: one Parquet file per table in the -o folder (needs the "
                   "dask extra); with --engine dask, Parquet partitions of the scores.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="HTML report path. Default: beside the scores file, <scores stem>.html.")
@click.option("--no-report", is_flag=True, help="Write the scores only, no HTML report.")
@click.option("--model", "model_dir", type=click.Path(path_type=Path), default=None,
              help="Folder (or .joblib file) of a model trained with `postcred train`. Default: the shipped model.")
@click.option("--trust-model", is_flag=True,
              help="Load --model even though this machine did not train it. A model file is code that runs "
                   "when loaded: only for a model whose source you trust.")
@click.option("--input-format", type=click.Choice(["auto", *FORMATS]), default="auto", show_default=True,
              help="Format of the dump. auto detects it from the content: timeline (pasted timeline), x-api "
                   "(X API v2 JSON/JSONL), snscrape (JSONL), tweets-js (an archive's tweets.js or its zip), "
                   "csv, tsv, plain (a post per line, or per paragraph if blank lines separate them), "
                   "lines, paragraphs.")
@click.option("--text-col", default=None, metavar="NAME",
              help="CSV/TSV: header of the text column. Default: the first of text, full_text, content, 本文, ...")
@click.option("--id-col", default=None, metavar="NAME", help="CSV/TSV: header of the post id column (optional).")
@click.option("--author-col", default=None, metavar="NAME",
              help="CSV/TSV: header of the author (@handle) column (optional).")
@click.option("--date-col", default=None, metavar="NAME",
              help="CSV/TSV: header of the date column (optional; normalized to ISO 8601).")
@click.option("--encoding", default=None,
              help="Force the dump's text encoding (e.g. cp932, euc-jp, utf-16). Default: a BOM, else the "
                   "first of UTF-8, EUC-JP, CP932 that decodes the whole file.")
@click.option("--errors", "decode_errors", type=click.Choice(["strict", "replace"]), default="strict", show_default=True,
              help="On undecodable bytes: stop with an error naming the offset, or replace them.")
@click.option("--on-error", type=click.Choice(["stop", "skip"]), default="stop", show_default=True,
              help="On a malformed record: stop with an error naming its line, or skip it, writing it to "
                   "the rejects file and counting it in the summary.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Rejects file for --on-error skip (JSONL: record, line, reason, raw). "
                   "Default: beside the scores file, <scores stem>.rejects.jsonl.")
@click.option("-j", "--jobs", type=click.IntRange(0, None), default=1, show_default=True,
              help="Worker processes scoring in parallel (use the number of cores); 1 scores in this process, "
                   "0 uses one process per CPU this process may run on.")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="local: this machine (with --jobs processes). dask: partitions scored across the Dask "
                   "cluster at --scheduler, written by the workers into the -o folder (needs the dask extra).")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="The Dask scheduler for --engine dask, e.g. tcp://10.0.0.5:8786.")
@click.option("--tz", default="Asia/Tokyo", show_default=True,
              help="The dump's time zone (IANA name) for the account tables: posts with a time are cut into "
                   "days and hours there.")
@click.option("--no-accounts", is_flag=True,
              help="Do not write <scores stem>.accounts.csv and <scores stem>.account_days.csv beside the "
                   "scores (the report's Accounts view stays).")
@click.option("--report-max-rows", type=click.IntRange(0, None), default=None,
              help="Segments listed one by one in the HTML report (default 50,000); its counts, per-account "
                   "means and technique tables always cover every segment, and it says when rows were cut.")
@excel_safe_option
@click.option("--no-campaigns", is_flag=True,
              help="Skip campaign detection (no <scores stem>.campaigns.csv, .campaign_summary.csv, no Campaigns view).")
@campaign_options
@click.option("--force", is_flag=True, help="Replace output files that already exist.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
def score(dump, output, fmt, report_path, no_report, model_dir, trust_model, input_format, text_col, id_col, author_col,
          date_col, encoding, decode_errors, on_error, rejects_path, jobs, engine, scheduler, tz, no_accounts,
          report_max_rows, excel_safe, no_campaigns, force, quiet, **campaign_settings):
    """Score a dump: p_wire, label and evidence for every segment, the campaigns, the account tables and an
    HTML report.

    DUMP is a file (or - for standard input) in any supported format, detected from its
    content: a pasted X/Twitter timeline like the seed, X API v2 JSON/JSONL, snscrape
    JSONL, an archive's tweets.js or zip, CSV/TSV with a text column, or plain text with
    one post per line or paragraph.  See "Input formats" in the README.

    Campaigns (the same or nearly the same text posted by several accounts) are found
    among the posts and written beside the scores: <scores stem>.campaigns.csv and
    <scores stem>.campaign_summary.csv (see "Campaigns" in the README); --no-campaigns
    skips them.

    Example:

        postcred score seeds/timeline_nhk_reuters_partisan_2024-11-04.txt -o reports/seed.csv

        postcred score export.csv --text-col body --on-error skip -o reports/export.csv

        postcred score big.jsonl --jobs 2 --no-report -o reports/big.csv

        postcred score export.jsonl --tz UTC -o reports/export.sqlite

        postcred score big.jsonl --engine dask --scheduler tcp://10.0.0.5:8786 -o /shared/big.scores
    """
    from .startup import import_sklearn_lean, pause_collector, settle_collector

    pause_collector()  # until the model is loaded (run.score_to_files settles it) ...
    click.get_current_context().call_on_close(settle_collector)  # ... or the command ends
    import_sklearn_lean()  # before anything loads scikit-learn: see classifier/startup.py
    from .accounts import time_zone
    from .run import REPORT_MAX_ROWS, score_to_files

    try:
        time_zone(tz)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--tz") from None
    options = {"report_max_rows": REPORT_MAX_ROWS if report_max_rows is None else report_max_rows,
               "excel_safe": excel_safe, "tz": tz, "write_accounts": not no_accounts,
               "campaigns": None if no_campaigns else campaign_params(campaign_settings)}
    if engine == "dask":
        if output is None:
            raise click.UsageError("--engine dask needs -o/--output: the folder the workers write partitions into")
        if jobs != 1:
            raise click.UsageError("--jobs is for --engine local; a Dask cluster has its own workers")
        if fmt == "sqlite":
            raise click.UsageError("--format sqlite is for --engine local; `postcred accounts FOLDER --sqlite FILE` "
                                   "makes the database of a Dask run's partitions")
        from .distributed import score_dask as run_scoring

        options.update(scheduler=scheduler, fmt=fmt or "jsonl")
    else:
        if scheduler:
            raise click.UsageError("--scheduler is for --engine dask")
        table_folder = fmt == "parquet" or (fmt is None and output is not None and output.suffix.lower() == ".parquet")
        if output is None and table_folder:
            raise click.UsageError("--format parquet needs -o/--output: the folder of one Parquet file per table")
        if output is not None and output.is_dir() and not table_folder:
            raise click.BadParameter(f"{output} is a folder; give a scores file path", param_hint="-o/--output")
        from .parallel import available_cpus

        run_scoring = score_to_files
        options.update(fmt=fmt, jobs=jobs or available_cpus())

    read = ReadOptions(input_format=input_format, encoding=encoding, errors=decode_errors, on_error=on_error,
                       text_col=text_col, id_col=id_col, author_col=author_col, date_col=date_col)
    with library_messages(quiet):
        result = run_scoring(
            dump,
            **options,
            output=output,
            report_path=None if no_report else report_path,
            write_report=not no_report,
            model_dir=model_dir,
            trust_model=trust_model,
            read=read,
            force=force,
            progress=not quiet,
            rejects_path=rejects_path,
        )
    for message in result.warnings:
        echo_err(f"Warning: {message}")
    if result.rejects:
        count = result.summary.records_rejected
        echo_err(f"Warning: {count} malformed record{'s' if count != 1 else ''} set aside in {result.rejects}")
    if not quiet:
        s = result.summary
        echo_err(
            f"records read {s.records_read}, scored {s.records_scored}, rejected {s.records_rejected}; "
            f"segments {s.segments} (wire {result.label_counts.get('wire', 0)}, "
            f"partisan {result.label_counts.get('partisan', 0)})"
        )
        echo_err(f"scores: {result.output}")
        if result.campaigns is not None:
            echo_err(f"campaigns: {campaign_counts(result.campaigns)}; {', '.join(map(str, result.campaign_files))}")
        if result.accounts_note:
            echo_err(result.accounts_note)
        if result.accounts_csv:
            echo_err(f"accounts: {result.accounts_csv}, {result.account_days_csv}")
        if result.report:
            echo_err(f"report: {result.report}")


# ---------------------------------------------------------------- accounts


@cli.command()
@click.argument("scores", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", "folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for <stem>.accounts.csv and <stem>.account_days.csv. Default: beside SCORES.")
@click.option("--tz", default="Asia/Tokyo", show_default=True,
              help="The dump's time zone (IANA name): posts with a time are cut into days and hours there.")
@click.option("--sqlite", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write every table (segments, posts, accounts, account_days, campaigns) into this "
                   "SQLite file, with keys and indexes.")
@click.option("--parquet", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write every table as <table>.parquet into this folder (needs the dask extra's pyarrow).")
@click.option("--campaigns", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A campaigns CSV (columns campaign, post_id, ...): list each account's campaigns and "
                   "fill the database's campaign tables.")
@click.option("--change-threshold", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.3,
              show_default=True,
              help="Flag an account as changed when its partisan share moves by more than this between the "
                   "first and second half of its active span.")
@click.option("--min-half-posts", type=click.IntRange(1, None), default=5, show_default=True,
              help="Posts each half of an account's span needs before its change is measured.")
@excel_safe_option
@click.option("--force", is_flag=True, help="Replace output files that already exist.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def accounts(scores, folder, tz, sqlite, parquet, campaigns, change_threshold, min_half_posts, excel_safe, force,
             quiet):
    """Build the account tables of SCORES (a scores file or a Dask output folder) without rescoring.

    Writes <stem>.accounts.csv (one row per account: posts, partisan share with its 95%
    interval, techniques, bursts, trend and change) and <stem>.account_days.csv (one row
    per account and day, with the burst test); see "Accounts" in the README.

    Example:

        postcred accounts reports/seed.csv -o reports --sqlite reports/seed.sqlite
    """
    from .accounts import time_zone
    from .accounts_files import accounts_from_scores

    try:
        time_zone(tz)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--tz") from None
    run = accounts_from_scores(scores, folder=folder, tz=tz, sqlite=sqlite, parquet=parquet, campaigns=campaigns,
                               change_threshold=change_threshold, min_half_posts=min_half_posts, force=force,
                               excel_safe=excel_safe)
    if not quiet:
        echo_err(run.tables.note())
        for path in run.written:
            echo_err(f"wrote {path}")


# ---------------------------------------------------------------- campaigns


@cli.command()
@click.argument("scores", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the campaign files (created if missing).")
@campaign_options
@click.option("--network-max-accounts", type=click.IntRange(2, None), default=1000, show_default=True,
              help="Campaigns with more accounts than this stay out of the account network.")
@excel_safe_option
@click.option("--force", is_flag=True, help="Replace campaign files that already exist.")
@click.option("-q", "--quiet", is_flag=True, help="No summary.")
def campaigns(scores, output_dir, network_max_accounts, excel_safe, force, quiet, **options):
    """Find campaigns (the same or nearly the same text posted by many accounts) in a
    scores file written by `postcred score`, without rescoring.

    SCORES is a scores file (CSV or JSONL) or a Dask engine's output folder.  Writes into
    the -o folder: <stem>.campaigns.csv (one row per post of a campaign),
    <stem>.campaign_summary.csv (one row per campaign), coordination.gexf (accounts linked
    by the campaigns they share, for Gephi), coordination_edges.csv and manifest.json
    (parameters, the input's SHA-256, versions).

    Example:

        postcred campaigns reports/big.scores.csv -o reports/big-campaigns --threshold 0.7
    """
    from .campaign_files import campaigns_from_scores

    run = campaigns_from_scores(scores, output_dir, campaign_params(options),
                                network_max_accounts=network_max_accounts, force=force, excel_safe=excel_safe)
    if quiet:
        return
    echo_err(f"rows {run.rows}; {campaign_counts(run.result)}")
    for path in run.written:
        echo_err(f"wrote {path}")


def campaign_counts(result) -> str:
    """One line of what campaign detection compared and found."""
    counts = result.counts
    kinds = {kind: sum(1 for c in result.campaigns if c.kind == kind) for kind in ("copypasta", "share_template")}
    return (f"post segments {counts.get('posts', 0)} (compared {counts.get('compared', 0)}, too short "
            f"{counts.get('too_short', 0)}); campaigns {len(result.campaigns)} (copypasta {kinds['copypasta']}, "
            f"share templates {kinds['share_template']}) holding {counts.get('posts_in_campaigns', 0)} posts; "
            f"times: {result.time_resolution}")


# ---------------------------------------------------------------- train


@cli.command()
@click.option("--labels", "labels_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("labels"),
              show_default=True, help="Folder of *.jsonl labels files.")
@click.option("--model-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write the model and its metadata. Default: the package's shipped model folder.")
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True, help="Folds of the stratified CV.")
@click.option("--no-search", is_flag=True,
              help="Keep the saved model's hyper-parameters (the defaults when there is none) instead of searching them by leave-one-topic-out CV.")
@click.option("--card-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"),
              show_default=True, help="Where to write model-card.md and model-card.html.")
@click.option("--accept-worse", is_flag=True,
              help="Replace the saved model even if its leave-one-topic-out macro-F1 drops by more than 0.01.")
@click.option("--force", is_flag=True, help="Retrain even if the labels did not change since the saved model.")
def train(labels_dir, model_dir, folds, no_search, card_dir, accept_worse, force):
    """Fit the model on labels/, print its cross-validation figures and save it.

    Hyper-parameters are chosen by leave-one-topic-out CV; stratified, leave-one-topic-out
    and leave-one-source-out figures are printed and saved in the metadata and the model card.

    Example:

        postcred train --labels labels
    """
    from .training import train as run_training

    result = run_training(labels_dir, model_dir, force=force, folds=folds, search=not no_search,
                          accept_worse=accept_worse, card_dir=card_dir, log=click.echo)
    if result.skipped:
        return
    from .modelcard import CV_TITLES

    for name, figures in result.metadata["cv"].items():
        click.echo(format_cv(figures, CV_TITLES.get(name, name)))
    click.echo(f"parameters: {result.metadata['params']}")
    click.echo(f"model: {result.model_dir}")
    for path in result.card_paths:
        click.echo(f"model card: {path}")


def format_cv(m: dict, title: str) -> str:
    """The CV figures as a few aligned lines."""
    lines = [
        f"{title} (n={m['n']}): accuracy {m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}  "
        f"log loss {m['log_loss']:.3f}  Brier {m['brier']:.3f}  ECE {m['ece']:.3f}"
    ]
    for label, c in m["per_class"].items():
        lines.append(
            f"  {label:<9} precision {c['precision']:.3f}  recall {c['recall']:.3f}  "
            f"F1 {c['f1']:.3f}  support {c['support']}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- evaluate


@cli.command()
@click.argument("labeled", type=click.Path(exists=False, dir_okay=False, path_type=Path))
@click.option("--model", "model_dir", type=click.Path(path_type=Path), default=None,
              help="Folder (or .joblib file) of a model trained with `postcred train`. Default: the shipped model.")
@click.option("--trust-model", is_flag=True,
              help="Load --model even though this machine did not train it. A model file is code that runs "
                   "when loaded: only for a model whose source you trust.")
@click.option("--worst", type=click.IntRange(0, 1000), default=10, show_default=True,
              help="How many of the most confident errors to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
def evaluate(labeled, model_dir, trust_model, worst, as_json):
    """Score a labeled JSONL file (labels format) and print how well the model does on it.

    Prints accuracy, macro-F1, per-class precision/recall/F1, the confusion matrix, log loss,
    Brier score, expected calibration error and the worst errors.

    Example:

        postcred evaluate labels/seed.jsonl --json
    """
    import json as json_lib

    from .evaluate import evaluate_file

    report = evaluate_file(labeled, model_dir=model_dir, worst=worst, trust_model=trust_model)
    if as_json:
        click.echo(json_lib.dumps(report, ensure_ascii=False, indent=2))
        return
    click.echo(format_cv(report["metrics"], f"{labeled}"))
    (tn_pp, fp), (fn, tp) = report["metrics"]["confusion"]
    click.echo(f"confusion (rows true, columns predicted; partisan, wire): [[{tn_pp}, {fp}], [{fn}, {tp}]]")
    for e in report["worst_errors"]:
        text = e["text"].replace("\n", " ")
        click.echo(f"  {e['id']}: labeled {e['label']}, p_wire {e['p_wire']:.2f}: {text[:70]}")


# ---------------------------------------------------------------- review


@cli.group()
def review() -> None:
    """Bring the corrections made in a report's review mode back into labels/.

    Example:

        postcred review merge ~/Downloads/corrections.jsonl && postcred train
    """


@review.command("merge", short_help="Merge a report's corrections.jsonl into labels/.")
@click.argument("corrections", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--labels", "labels_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("labels"),
              show_default=True, help="Labels folder; new texts go to its corrections.jsonl.")
@click.option("--overwrite", is_flag=True,
              help="Relabel texts labels/ already has with the other label. Without it, conflicts are only listed.")
@click.option("--dry-run", is_flag=True, help="Show what would be added, changed and skipped; write nothing.")
@click.option("--topic", help="Topic of added rows whose correction has none (the report's Topic field sets one).")
@click.option("--source", help="Source of added rows whose correction has none.  [default: review:<dump>]")
def review_merge(corrections, labels_dir, overwrite, dry_run, topic, source):
    """Merge CORRECTIONS (a report's exported corrections.jsonl) into the labels folder.

    New texts are appended to labels/corrections.jsonl with the reviewer's label, the
    topic set in the report (or --topic; a new text without one is an error) and source
    review:<dump> (or --source). Confirmed segments are training rows too. Texts already
    labeled the same way are skipped, so merging a file twice changes nothing. A text
    labeled the other way is a conflict: listed, and relabeled only with --overwrite.
    Every line is checked first: one bad line stops the merge and nothing is written.
    A warning names the nouns a merged text would make words for its label (a quick fit
    before and after the merge). Then run `postcred train`.

    Example:

        postcred review merge corrections.jsonl --labels labels --topic disasters --dry-run
    """
    from .review import merge_corrections

    result = merge_corrections(corrections, labels_dir, overwrite=overwrite, dry_run=dry_run, topic=topic, source=source)
    for outcome in result.outcomes:
        c = outcome.correction
        where = f" ({outcome.where})" if outcome.where else ""
        click.echo(f"{outcome.action:<8} line {c.line}: {c.id}: {outcome.reason}{where}: {excerpt(c.text)}")
    for outcome in result.outcomes:
        if outcome.topic_words:
            words = ", ".join(map(str, outcome.topic_words))
            click.echo(f"warning  line {outcome.correction.line}: {outcome.correction.id}: "
                       f"the merge makes these nouns of it words for {outcome.correction.label}: {words}")
    if any(outcome.topic_words for outcome in result.outcomes):
        click.echo("a topic should not decide a label: add rows of the other label that use these nouns "
                   "(labels/README.md), or leave the text out")
    for name in result.new_topics:
        click.echo(f"warning  topic {name!r} is new to labels/: leave-one-topic-out will hold it out on its own; "
                   "check the spelling")
    click.echo(
        f"added {len(result.added)}, changed {len(result.changed)}, skipped {len(result.skipped)}, "
        f"conflicts {len(result.conflicts)}"
    )
    if result.campaign_marks:
        click.echo(f"campaign marks {result.campaign_marks}: kept in the export for the record, not merged "
                   "(they are not training rows)")
    if result.conflicts and not overwrite:
        click.echo("conflicts were left as they are; rerun with --overwrite to apply the reviewer's labels")
    if dry_run:
        click.echo("dry run: nothing written")
    elif result.written:
        click.echo("wrote " + ", ".join(str(p) for p in result.written) + "; now run `postcred train`")
    else:
        click.echo("labels unchanged")


def excerpt(text: str, width: int = 40) -> str:
    """The start of a text on one line, for listings."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="postcred")


if __name__ == "__main__":  # pragma: no cover
    main()
