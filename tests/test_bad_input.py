"""Bad input gets one clear line and a non-zero exit, never a traceback; bad records can be
set aside in a rejects file; outputs are never half-written or written over inputs."""

from __future__ import annotations

import csv
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from classifier.cli import cli
from classifier.errors import InputError

from .conftest import csv_rows

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ROOT / "tests" / "data" / "formats"
BROKEN = FORMATS / "broken"


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def one_error_line(result) -> str:
    """The single error line of a failed run (asserting there is exactly one, and no
    traceback; the line saying how the dump is read, and warnings, may come before it)."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.strip().splitlines() if not line.startswith(("read as ", "Warning: "))]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: "), lines[0]
    return lines[0]


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def corrupt_zip(tmp_path: Path) -> Path:
    good = (FORMATS / "twitter-archive.zip").read_bytes()
    return write(tmp_path, "archive.zip", good[:40] + b"\x00garbage" * 20)


def zip_without_tweets(tmp_path: Path) -> Path:
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "not an archive")
    return path


# (name, how to make the dump, extra options, the error line after "Error: <dump>")
CASES = [
    ("binary", lambda t: BROKEN / "binary.png", [], ": looks like a binary file (NUL or control bytes), not a text dump"),
    ("truncated jsonl", lambda t: BROKEN / "truncated.jsonl", [],
     ", line 2: not valid JSON: unterminated string at column 52 (cut short?) "
     "(use --on-error skip to set bad records aside)"),
    ("wrong encoding", lambda t: BROKEN / "latin1.txt", [],
     ", byte offset 6: cannot decode as UTF-8, EUC-JP or CP932: byte 0xe9 is invalid (use --encoding, or --errors replace)"),
    ("forced wrong encoding", lambda t: FORMATS / "excel_cp932.csv", ["--encoding", "utf-8"],
     ", byte offset 3: cannot decode as utf-8: byte 0x93 is invalid (use --encoding, or --errors replace)"),
    ("unknown encoding", lambda t: FORMATS / "timeline.txt", ["--encoding", "klingon"], ": unknown encoding 'klingon'"),
    ("csv without text column", lambda t: BROKEN / "no_text_column.csv", [],
     ", line 1: no text column; the header has: 'id', 'user', 'likes'; name the text column with --text-col"),
    ("csv, named column missing", lambda t: FORMATS / "excel_cp932.csv", ["--text-col", "body"],
     ", line 1: no column 'body' for --text-col; the header has: 'ID', '投稿日時', 'ユーザー名', '本文', 'いいね'"),
    ("csv row with a stray cell", lambda t: write(t, "rows.csv", "text,id\nよい行,1\n悪い,行,2\n"), [],
     ", line 3: has 3 cells, the header has 2 (an unquoted delimiter or a broken quote?) "
     "(use --on-error skip to set bad records aside)"),
    ("csv quote never closed", lambda t: write(t, "quote.csv", 'text,id\nよい行,1\n"閉じない,2\n次の行,3\n'), [],
     ", line 3: a quoted cell is never closed (it runs to the end of the file) "
     "(use --on-error skip to set bad records aside)"),
    ("csv bad date", lambda t: write(t, "date.csv", "text,date\n本文,きのう\n"), [],
     ", line 2: date in column 'date' 'きのう' is not a date postcred can read "
     "(use --on-error skip to set bad records aside)"),
    ("json document broken", lambda t: write(t, "page.json", '{\n  "data": [\n    {"text": "a"\n'), [],
     ", line 4: not valid JSON: expecting ',' delimiter at column 1 (cut short?)"),
    ("json, not a known format", lambda t: write(t, "other.jsonl", '{"foo": 1}\n'), [],
     ", line 1: not an X API v2 post or response (no 'text' and no 'data'); check --input-format "
     "(use --on-error skip to set bad records aside)"),
    ("x api post without text", lambda t: write(t, "x.jsonl", '{"data": {"id": "1", "author_id": "2"}}\n'), [],
     ", line 1: no 'text' field (use --on-error skip to set bad records aside)"),
    ("tweets.js element without text", lambda t: write(t, "tweets.js", 'window.YTD.tweets.part0 = [\n {"tweet": {"id_str": "1"}}\n]'),
     [], ", line 2: no 'full_text' field: not an archive post (use --on-error skip to set bad records aside)"),
    ("timeline post without text", lambda t: write(t, "tl.txt", "本文\n— A (@a) Nov 4, 2024\n— B (@b) Nov 4, 2024\n"), [],
     ", line 3: empty text: an attribution line with no post text above it "
     "(use --on-error skip to set bad records aside)"),
    ("corrupt zip", corrupt_zip, [], ": corrupt or unreadable zip archive"),
    ("zip without tweets.js", zip_without_tweets, [],
     ": zip archive without a tweets.js (an X/Twitter archive has data/tweets.js)"),
    ("zip read as csv", lambda t: FORMATS / "twitter-archive.zip", ["--input-format", "csv"],
     ": is a zip archive; only --input-format tweets-js reads archives, not csv"),
    ("column option on json", lambda t: FORMATS / "snscrape.jsonl", ["--text-col", "rawContent"],
     ": --text-col, --id-col, --author-col and --date-col apply to csv and tsv input, not snscrape"),
    ("missing file", lambda t: t / "nope.jsonl", [], ": no such file"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_broken_input_is_one_line_error(tmp_path, case):
    _, make, options, expected = case
    dump = make(tmp_path)
    result = run("score", dump, "-o", tmp_path / "out" / "s.csv", *options)
    line = one_error_line(result)
    assert line.startswith(f"Error: {dump}{expected}"), line
    assert not (tmp_path / "out" / "s.csv").exists()


def test_bad_label_is_one_line_error(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    shutil.copy(BROKEN / "bad_label.jsonl", labels / "a.jsonl")
    line = one_error_line(run("train", "--labels", labels, "--model-dir", tmp_path / "m"))
    assert line == f"Error: {labels / 'a.jsonl'}, line 2: unknown label 'propaganda'; expected one of partisan, wire"


@pytest.mark.parametrize("model", ["corrupt", "missing", "incompatible"])
def test_bad_model_is_one_line_error(tmp_path, model):
    folder = tmp_path / "model"
    if model == "corrupt":
        shutil.copytree(BROKEN / "corrupt_model", folder)
        expected = "); it is corrupt or from an incompatible version: run `postcred train`"
    elif model == "missing":
        folder.mkdir()
        expected = "model file not found; run `postcred train` to build it"
    else:
        import joblib

        folder.mkdir()
        joblib.dump({"not": "a pipeline"}, folder / "postcred.joblib")
        expected = "not a fitted postcred model (it holds a dict); run `postcred train`"
    line = one_error_line(run("score", FORMATS / "timeline.txt", "-o", tmp_path / "s.csv", "--model", folder,
                              *(["--trust-model"] if model != "missing" else [])))
    assert line.startswith(f"Error: {folder / 'postcred.joblib'}: ") and expected in line, line


def test_debug_shows_the_traceback(tmp_path):
    result = run("--debug", "score", BROKEN / "binary.png", "-o", tmp_path / "s.csv")
    assert result.exit_code != 0
    assert isinstance(result.exception, InputError)  # raised, not turned into one line


def test_empty_file_scores_to_an_empty_result_with_a_warning(tmp_path):
    out = tmp_path / "empty.csv"
    result = run("score", BROKEN / "empty.txt", "-o", out)
    assert result.exit_code == 0, result.output
    assert f"Warning: {BROKEN / 'empty.txt'}: no records found (an empty dump)" in result.output
    assert "records read 0, scored 0, rejected 0; segments 0" in result.output
    with out.open(encoding="utf-8", newline="") as handle:
        assert list(csv.reader(handle))[1:] == []


def test_skip_writes_rejects_with_the_raw_record(tmp_path):
    lines = (FORMATS / "snscrape.jsonl").read_text(encoding="utf-8").splitlines()
    broken = [lines[0], lines[1][:70], "", '{"rawContent": "   "}', lines[2], "[1, 2"]
    dump = write(tmp_path, "dump.jsonl", "\n".join(broken) + "\n")
    out = tmp_path / "out" / "dump.scores.csv"
    result = run("score", dump, "-o", out, "--on-error", "skip")
    assert result.exit_code == 0, result.output
    rejects_path = tmp_path / "out" / "dump.rejects.jsonl"
    assert f"Warning: 3 malformed records set aside in {rejects_path}" in result.output
    assert "records read 5, scored 2, rejected 3" in result.output
    rejects = [json.loads(line) for line in rejects_path.read_text(encoding="utf-8").splitlines()]
    assert [(r["record"], r["line"], r["raw"]) for r in rejects] == [
        (2, 2, lines[1][:70]), (3, 4, '{"rawContent": "   "}'), (5, 6, "[1, 2")]
    assert rejects[1]["reason"] == "empty text in 'rawContent'"
    scored = csv_rows(out)
    assert [(r["record"], r["line"]) for r in scored] == [("1", "1"), ("4", "5")]


def test_rejects_stream_to_their_file_not_to_memory(tmp_path):
    from classifier.run import score_to_files
    from classifier.source import ReadOptions

    good = json.dumps({"id": "1", "rawContent": "政府は25日、方針を決定した。"}, ensure_ascii=False)
    dump = write(tmp_path, "many.jsonl", "\n".join([good] + ["{broken"] * 500 + [good]) + "\n")
    run_ = score_to_files(str(dump), output=tmp_path / "many.csv", write_report=False,
                          read=ReadOptions(on_error="skip", input_format="snscrape"))
    assert run_.summary.records_rejected == 500 and run_.summary.rejects == []  # none held in memory
    assert run_.rejects == tmp_path / "many.rejects.jsonl"
    rows = [json.loads(line) for line in run_.rejects.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in rows] == list(range(2, 502))
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_no_rejects_file_when_nothing_is_rejected(tmp_path):
    from classifier.run import score_to_files
    from classifier.source import ReadOptions

    dump = write(tmp_path, "ok.txt", "一行目の本文\n二行目の本文\n")
    run_ = score_to_files(str(dump), output=tmp_path / "ok.csv", write_report=False,
                          read=ReadOptions(on_error="skip", input_format="lines"))
    assert run_.rejects is None and not (tmp_path / "ok.rejects.jsonl").exists()


def test_skip_on_csv_keeps_the_rows_after_a_bad_one(tmp_path):
    dump = write(tmp_path, "t.csv", 'text,id\n一行目の本文,1\n,2\n"複数行の\n本文",3\n余計な,セル,4\n最後,5\n')
    rejects = tmp_path / "bad.jsonl"
    result = run("score", dump, "-o", tmp_path / "s.csv", "--no-report", "--on-error", "skip", "--rejects", rejects)
    assert result.exit_code == 0, result.output
    assert "records read 5, scored 3, rejected 2" in result.output
    rows = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert [(r["record"], r["line"], r["raw"]) for r in rows] == [(2, 3, ",2"), (4, 6, "余計な,セル,4")]
    scored = csv_rows((tmp_path / "s.csv"))
    assert [(r["line"], r["line_end"], r["text"]) for r in scored] == [
        ("2", "2", "一行目の本文"), ("4", "5", "複数行の\n本文"), ("7", "7", "最後")]


def test_skip_on_a_truncated_archive_rejects_the_rest(tmp_path):
    text = (FORMATS / "archive" / "data" / "tweets.js").read_text(encoding="utf-8")
    cut = text[: text.index('"id_str": "1700000000000000003"')]
    dump = write(tmp_path, "tweets.js", cut)
    result = run("score", dump, "-o", tmp_path / "s.csv", "--no-report", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert "records read 3, scored 2, rejected 1" in result.output
    reject, = [json.loads(line) for line in (tmp_path / "s.rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert reject["record"] == 3 and cut.endswith(reject["raw"]) and reject["raw"].lstrip().startswith("{")


# ---------------------------------------------------------------- safe outputs


def test_existing_rejects_file_needs_force(tmp_path):
    dump = write(tmp_path, "d.jsonl", '{"rawContent": "本文"}\n{"bad"\n')
    rejects = write(tmp_path, "d.rejects.jsonl", "keep me\n")
    result = run("score", dump, "-o", tmp_path / "d.csv", "--on-error", "skip")
    assert one_error_line(result) == f"Error: {rejects}: already exists; use --force to replace it"
    assert rejects.read_text() == "keep me\n"
    assert run("score", dump, "-o", tmp_path / "d.csv", "--on-error", "skip", "--force").exit_code == 0
    assert json.loads(rejects.read_text(encoding="utf-8"))["raw"] == '{"bad"'


@pytest.mark.parametrize("target", ["rejects", "report", "output"])
def test_never_writes_over_the_input(tmp_path, target):
    dump = write(tmp_path, "d.jsonl", '{"rawContent": "本文"}\n')
    before = dump.read_bytes()
    options = {"output": ["-o", dump], "report": ["-o", tmp_path / "s.csv", "--report", dump],
               "rejects": ["-o", tmp_path / "s.csv", "--on-error", "skip", "--rejects", dump]}[target]
    line = one_error_line(run("score", dump, *options, "--force"))
    assert "refusing to overwrite the input file" in line
    assert dump.read_bytes() == before


def test_never_writes_inside_labels(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "labels").mkdir()
    dump = write(tmp_path, "d.jsonl", '{"rawContent": "本文"}\n')
    line = one_error_line(run("score", dump, "-o", "s.csv", "--on-error", "skip", "--rejects", "labels/r.jsonl"))
    assert "refusing to write inside" in line and not (tmp_path / "labels" / "r.jsonl").exists()


def test_a_failed_run_leaves_the_old_output_and_no_temporary_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    scores = write(out, "s.csv", "old scores\n")
    result = run("score", BROKEN / "truncated.jsonl", "-o", scores, "--no-report", "--force")
    assert result.exit_code == 1
    assert scores.read_text() == "old scores\n"
    assert sorted(p.name for p in out.iterdir()) == ["s.csv"]
