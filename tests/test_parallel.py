"""Scoring at scale on one machine: ``--jobs N`` worker processes write the same scores
file as one process, chunks stream with bounded read-ahead, the report keeps exact
summaries while listing only the first rows, and the fast paths equal the plain ones."""

from __future__ import annotations

import io
import json
import os
import pickle
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from classifier import run
from classifier.campaign_params import CampaignParams
from classifier.cli import cli
from classifier.engines import LocalEngine
from classifier.ingest import read_posts
from classifier.model import explain, load_model, transform_features, wire_probability_of_features
from classifier.parallel import IN_FLIGHT_PER_JOB, PoolEngine
from classifier.run import score_to_files
from classifier.scored import json_row
from classifier.scoring import ChunkTask, ScoreSummary, post_chunks, process_chunk, score_chunk, score_file
from classifier.source import ReadOptions
from classifier.summary import Summary, summarize
from classifier.writers import format_csv

LINES = ReadOptions(input_format="lines")

from .conftest import csv_rows, report_payload

ROOT = Path(__file__).resolve().parents[1]


def labeled_rows(limit: int = 400) -> list[tuple[str, str]]:
    """(text, label) of the first ``limit`` readable labels, the text on one line."""
    rows = []
    for path in sorted((ROOT / "labels").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                rows.append((" ".join(str(row["text"]).split()), str(row["label"])))
            except (ValueError, KeyError, TypeError):
                continue  # a labels file being written may end in a partial line
            if len(rows) >= limit:
                return rows
    return rows


def labeled_texts(limit: int = 400) -> list[str]:
    return [text for text, _ in labeled_rows(limit)]


@pytest.fixture(scope="module")
def lines_dump(tmp_path_factory) -> Path:
    """2,300 labeled texts, one post per line: three chunks of CHUNK_SIZE segments."""
    texts = labeled_texts()
    path = tmp_path_factory.mktemp("dump") / "lines.txt"
    path.write_text("\n".join(texts[k % len(texts)] for k in range(2300)) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def model():
    return load_model()


def test_jobs_2_writes_the_same_csv_as_jobs_1(tmp_path, lines_dump):
    one = score_to_files(str(lines_dump), output=tmp_path / "one.csv", write_report=False, read=LINES)
    two = score_to_files(str(lines_dump), output=tmp_path / "two.csv", write_report=False, read=LINES, jobs=2)
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    rows = csv_rows(tmp_path / "two.csv")
    assert len(rows) == 2300 == two.summary.segments == one.summary.segments
    assert [int(r["line"]) for r in rows] == list(range(1, 2301))  # input order across chunks
    assert two.label_counts == one.label_counts
    assert sum(two.label_counts.values()) == 2300


def test_jobs_2_jsonl_rows_equal_the_library_records(tmp_path, seed_path, seed_records):
    score_to_files(str(seed_path), output=tmp_path / "seed.jsonl", write_report=False, jobs=2)
    rows = [json.loads(line) for line in (tmp_path / "seed.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows == [json_row(record) for record in seed_records]
    assert all(row["evidence"] for row in rows)


def tasks_of(posts, fmt: str, sizes=(4,)):
    """Tasks of the seed's posts: the first chunks of ``sizes`` posts, then the rest."""
    cuts, start = [], 0
    for size in sizes:
        cuts.append(posts[start:start + size])
        start += size
    cuts.append(posts[start:])
    return [ChunkTask(index, chunk, "seed", fmt, report_evidence=16 if index == 0 else None)
            for index, chunk in enumerate(cuts)]


def test_spawned_workers_load_the_model_themselves(seed_path, model):
    tasks = tasks_of(list(read_posts(seed_path)), "jsonl")
    local = list(LocalEngine(model).map(tasks))
    with PoolEngine(model, jobs=2, start_method="spawn") as engine:
        spawned = list(engine.map(tasks))
    assert [c.data for c in spawned] == [c.data for c in local]
    assert [c.summary.result() for c in spawned] == [c.summary.result() for c in local]
    assert [c.report_entries for c in spawned] == [c.report_entries for c in local] and spawned[0].report_entries


def test_a_chunk_crosses_to_a_worker_and_back_intact(seed_path, model):
    """Tasks and scored chunks pickle as tuples (classifier.scoring): every field arrives."""
    posts = list(read_posts(seed_path))
    posts[0].line = 7  # a field most readers leave at its default
    task = ChunkTask(3, posts, "seed", "csv", report_evidence=16, excel_safe=True, campaigns=CampaignParams(),
                     tz="Asia/Tokyo")
    assert pickle.loads(pickle.dumps(task, pickle.HIGHEST_PROTOCOL)) == task
    chunk = process_chunk(model, task)
    back = pickle.loads(pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL))
    assert chunk.posts and back.posts == chunk.posts
    assert chunk.report_entries and back.report_entries == chunk.report_entries
    assert (back.segments, back.data) == (chunk.segments, chunk.data)
    assert back.summary.result() == chunk.summary.result() and back.campaigns is not None


def test_pool_reads_only_a_few_chunks_ahead(seed_path, model):
    posts = list(read_posts(seed_path))
    pulled = 0

    def tasks():
        nonlocal pulled
        for index in range(40):
            pulled += 1
            yield ChunkTask(index, posts[:2], "seed", "csv")

    with PoolEngine(model, jobs=2) as engine:
        results = engine.map(tasks())
        next(results)
        assert pulled == 2 * IN_FLIGHT_PER_JOB
        next(results)
        assert pulled == 2 * IN_FLIGHT_PER_JOB + 1
        assert sum(1 for _ in results) == 38
    assert pulled == 40


def test_chunks_are_about_size_segments_and_count_every_record(seed_path):
    summary = ScoreSummary()
    chunks = list(post_chunks(read_posts(seed_path), summary, size=10))
    sizes = [sum(len(p.parts) for p in chunk) for chunk in chunks]
    assert sum(sizes) == 43
    assert all(size >= 10 for size in sizes[:-1])
    assert summary.records_read == summary.records_scored == 9 and summary.records_rejected == 0


def test_a_pool_runs_last_chunk_comes_in_pieces(lines_dump):
    whole = list(post_chunks(read_posts(lines_dump, LINES), ScoreSummary(), size=1000))
    summary = ScoreSummary()
    cut = list(post_chunks(read_posts(lines_dump, LINES), summary, size=1000, tail_pieces=4))
    assert [len(chunk) for chunk in whole] == [1000, 1000, 300]
    assert [len(chunk) for chunk in cut] == [1000, 1000, 250, 50]  # the last in pieces of 1000 // 4
    assert [post for chunk in cut for post in chunk] == [post for chunk in whole for post in chunk]
    assert summary.records_read == summary.records_scored == 2300


def test_chunk_summaries_merged_equal_the_summary_of_all(seed_records):
    merged = Summary()
    for start in range(0, len(seed_records), 7):  # chunk by chunk, as engines return them
        merged.merge(Summary().update(seed_records[start:start + 7]))
    got, expected = merged.result(), summarize(seed_records)
    for a, b in zip(got["accounts"], expected["accounts"]):
        assert a.pop("mean_p_wire") == pytest.approx(b.pop("mean_p_wire"), rel=1e-12)
    assert got == expected


def test_a_summary_without_accounts_counts_labels_and_techniques_alike(seed_records):
    """A run without a report keeps no counts per account (they grow with the accounts),
    and its label and technique counts are those of the full summary."""
    merged = Summary(accounts=False)
    for start in range(0, len(seed_records), 7):
        merged.merge(Summary(accounts=False).update(seed_records[start:start + 7]))
    full = summarize(seed_records)
    assert merged.accounts == {} and merged.technique_accounts == {}
    assert merged.label_counts() == {row["label"]: row["count"] for row in full["labels"]}
    assert dict(merged.techniques) == {row["technique"]: row["count"] for row in full["techniques"]}


def test_report_lists_the_first_rows_and_summarizes_all(tmp_path, seed_path, monkeypatch):
    import classifier.report

    seen = {}
    real = classifier.report.report_chunks

    def spy(rows, **kwargs):  # the run writes the report's pieces onto its own stack of outputs
        seen.update(rows=list(rows), **kwargs)  # the rows' temporary file goes with the run
        return real(rows, **kwargs)

    monkeypatch.setattr(classifier.report, "report_chunks", spy)
    result = score_to_files(str(seed_path), output=tmp_path / "s.csv", report_max_rows=10)
    assert result.summary.segments == 43
    line = classifier.report.ROW_COLUMNS.index("line")
    assert [r[line] for r in seen["rows"]] == [r.line for r in score_file(seed_path)[0][:10]]
    assert seen["summary"]["total"] == 43
    assert sum(item["count"] for item in seen["summary"]["labels"]) == 43
    assert seen["run"]["report_rows"] == 10 and seen["run"]["report_rows_capped"] is True
    assert "first 10 of 43 segments" in seen["run"]["report_note"]
    soup = BeautifulSoup((tmp_path / "s.html").read_text(encoding="utf-8"), "html.parser")
    payload = report_payload(soup)
    assert len(payload["rows"]) == 10
    assert "43 segments" in soup.find(id="report-meta").get_text()
    assert "first 10 of 43 segments" in soup.find(id="report-cap").get_text()


def test_uncapped_report_says_nothing_was_cut(tmp_path, seed_path, monkeypatch):
    import classifier.report

    seen = {}
    monkeypatch.setattr(classifier.report, "report_chunks", lambda rows, **kw: seen.update(rows=rows, **kw) or [])
    score_to_files(str(seed_path), output=tmp_path / "s.csv")
    assert len(seen["rows"]) == 43
    assert seen["run"]["report_rows_capped"] is False and "report_note" not in seen["run"]


def test_cli_jobs_and_report_max_rows(tmp_path, seed_path):
    out = tmp_path / "seed.csv"
    result = CliRunner().invoke(cli, ["score", str(seed_path), "-o", str(out), "--jobs", "2",
                                      "--report-max-rows", "5"])
    assert result.exit_code == 0, result.output
    assert "segments 43 (wire" in result.output
    assert len(csv_rows(out)) == 43
    soup = BeautifulSoup((tmp_path / "seed.html").read_text(encoding="utf-8"), "html.parser")
    assert len(report_payload(soup)["rows"]) == 5
    assert "first 5 of 43 segments" in soup.find(id="report-cap").get_text()
    uncapped = CliRunner().invoke(cli, ["score", str(seed_path), "-o", str(tmp_path / "all.csv")])
    assert uncapped.exit_code == 0, uncapped.output
    assert BeautifulSoup((tmp_path / "all.html").read_text(encoding="utf-8"), "html.parser").find(id="report-cap") is None


def test_cli_jobs_0_starts_one_worker_per_cpu(tmp_path, seed_path, monkeypatch):
    import classifier.parallel

    started = []
    real = run.score_to_files

    def spy(*args, **kwargs):
        started.append(kwargs["jobs"])
        return real(*args, **kwargs)

    monkeypatch.setattr(classifier.parallel, "available_cpus", lambda: 2)
    monkeypatch.setattr(run, "score_to_files", spy)
    auto = CliRunner().invoke(cli, ["score", str(seed_path), "-o", str(tmp_path / "auto.csv"), "-j", "0", "--no-report"])
    one = CliRunner().invoke(cli, ["score", str(seed_path), "-o", str(tmp_path / "one.csv"), "--no-report"])
    assert auto.exit_code == 0 and one.exit_code == 0, auto.output + one.output
    assert started == [2, 1]
    assert (tmp_path / "auto.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    monkeypatch.undo()
    assert 1 <= classifier.parallel.available_cpus() <= (os.cpu_count() or 1)


@pytest.mark.parametrize("args, message", [
    (["--jobs", "-1"], "Invalid value for '-j' / '--jobs'"),
    (["--scheduler", "tcp://x:1"], "--scheduler is for --engine dask"),
    (["--format", "sqlite", "--engine", "dask"], "--format sqlite is for --engine local"),
])
def test_cli_rejects_options_of_the_other_engine(tmp_path, seed_path, args, message):
    result = CliRunner().invoke(cli, ["score", str(seed_path), "-o", str(tmp_path / "x.csv"), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_fast_features_and_explanation_equal_the_pipeline(model):
    texts = labeled_texts(300) + ["", "🇯🇵🇯🇵!!", "https://t.co/x @user #タグ", "草" * 50]
    texts += ["".join(texts[k : k + 40]) for k in (0, 100)]  # rows of hundreds of contributions
    docs = model.pipeline.named_steps["tokens"].transform(texts)
    X, occurrences = transform_features(model.pipeline, docs)
    expected = model.pipeline.named_steps["features"].transform(docs)
    assert occurrences is not None
    assert (abs(X - expected)).max() == 0
    assert list(wire_probability_of_features(model.pipeline, X)) == list(model.p_wire(texts))
    full = explain(model.pipeline, docs)
    short = explain(model.pipeline, docs, 6, X=X, occurrences=occurrences, spans=False)
    for a, b in zip(full, short):
        assert [(c.feature, c.surface, c.weight) for c in a[:6]] == [(c.feature, c.surface, c.weight) for c in b]
        assert all(c.spans == () for c in b)
    for doc, contributions in zip(docs, full):
        for c in contributions:
            assert all(doc.text[s:e] for s, e in c.spans)


def test_csv_rows_equal_with_and_without_evidence(model, seed_path):
    posts = list(read_posts(seed_path))
    with_evidence = score_chunk(model, posts, "seed")
    without = score_chunk(model, posts, "seed", evidence=False)
    assert all(not record.evidence for record in without)
    assert any(len(a.contributions) > len(b.contributions) for a, b in zip(with_evidence, without))
    assert format_csv(with_evidence, header=True) == format_csv(without, header=True)


@pytest.mark.parametrize("spare", [0, 8])
def test_the_reports_evidence_is_the_full_lists_strongest_with_spans(model, seed_path, tmp_path, monkeypatch,
                                                                    spare):
    """Asked for the strongest ``n`` contributions that have spans, a segment gets a
    beginning of its full list holding them; with no spare contributions, segments whose
    first ones include a feature without spans (the density of exclamation marks) are
    explained again in full."""
    import classifier.scoring

    monkeypatch.setattr(classifier.scoring, "SPARE_CONTRIBUTIONS", spare)
    shouted = tmp_path / "shouted.txt"
    shouted.write_text("増税反対！今すぐ撤回しろ！\n「ダム建設を止めろ！」\n選挙に行こう！みんなで行こう！\n",
                       encoding="utf-8")
    posts = list(read_posts(seed_path)) + list(read_posts(shouted, input_format="lines"))
    full = score_chunk(model, posts, "seed")
    redone = 0
    for wanted in (1, 6, 16, 40):
        cut = score_chunk(model, posts, "seed", evidence=wanted)
        for a, b in zip(full, cut):
            assert a.contributions[:len(b.contributions)] == b.contributions
            assert a.evidence[:wanted] == b.evidence[:wanted]
            redone += len(b.contributions) > max(wanted + spare, 6)
        assert format_csv(cut, header=True) == format_csv(full, header=True)
    assert redone if spare == 0 else not redone


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_and_after_the_delay(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with run.ProgressBar(True) as advance:
        advance(10)
    assert run.ProgressBar(True).enabled is False  # not a terminal
    monkeypatch.setattr(sys, "stderr", _Terminal())
    quick = run.ProgressBar(True)
    with quick as advance:
        advance(10)
        assert quick._progress is None  # a short run shows no bar
    assert run.ProgressBar(False).enabled is False  # --quiet
    monkeypatch.setattr(run.ProgressBar, "DELAY", 0.0)
    slow = run.ProgressBar(True)
    with slow as advance:
        advance(10)
        advance(5)
        assert slow._progress is not None
        assert slow._progress.tasks[0].completed == 15


def test_fast_explanation_with_a_marker_block_equals_the_plain_one():
    import numpy as np

    from classifier.model import build_pipeline

    rows = labeled_rows(400)
    texts = [text for text, _ in rows]
    y = np.array([label for _, label in rows])
    if len(set(y)) < 2:
        pytest.skip("the labels need both classes")
    pipeline = build_pipeline(markers=True, calibrate=True).fit(texts, y)
    docs = pipeline.named_steps["tokens"].transform(texts[:150] + ["拡散希望🇯🇵🇯🇵!! 売国奴は許さない"])
    X, occurrences = transform_features(pipeline, docs)
    plain = pipeline.named_steps["features"].transform(docs)
    assert abs(X - plain).max() == 0
    fast = explain(pipeline, docs, X=X, occurrences=occurrences)
    searched = explain(pipeline, docs, X=plain, occurrences=None)  # spans found by searching the terms
    assert fast == searched
    assert any(c.feature.startswith("marker:") and c.spans for c in fast[-1])


def test_rows_made_where_segments_are_scored_render_as_the_full_records(seed_records):
    """A chunk's report entries, made from each record's strongest evidence only, give
    the page the full records give."""
    from classifier.report import ReportRows, render_report
    from classifier.report_accounts import tables_of_records
    from classifier.report_rows import EVIDENCE_PER_SEGMENT, report_entries
    from classifier.summary import summarize

    assert any(len(record.evidence) > EVIDENCE_PER_SEGMENT for record in seed_records)
    kept = ReportRows()
    for entry in report_entries(seed_records, EVIDENCE_PER_SEGMENT):
        kept.add_entry(entry)

    def payload(rows, **context):
        soup = BeautifulSoup(render_report(rows, title="seed", **context), "html.parser")
        return report_payload(soup)

    context = {"summary": summarize(seed_records), "accounts": tables_of_records(seed_records)}
    assert payload(kept, **context) == payload(seed_records)
