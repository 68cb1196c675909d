"""labels/ stays whole: JSONL split at \\n only, line-break characters written escaped, one
merge at a time, nothing written over a file changed meanwhile, and clean errors for deep
nesting, lone surrogates and texts too long to tokenize."""

from __future__ import annotations

import json
import multiprocessing
import time

import pytest
from click.testing import CliRunner

from classifier import review
from classifier.cli import cli
from classifier.errors import LabelError
from classifier.labels import load_labels, read_label_file
from classifier.limits import MAX_SEGMENT_CHARS
from classifier.review import merge_corrections

from .conftest import error_line, jsonl_rows

BREAKS = "一行目\u2028二行目\u2029三行目\x85四行目"
WIRE_TEXT = "政府は4日、新たな経済対策を閣議決定したと発表した。"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def write_jsonl(path, rows):
    """Rows as JSONL with U+2028 and friends unescaped, as JavaScript's JSON.stringify (the
    report's export) and Python's ``ensure_ascii=False`` write them."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def correction(seg_id: str, text: str, label: str = "partisan") -> dict:
    return {"id": seg_id, "text": text, "predicted_label": "wire", "p_wire": 0.6, "reviewer_label": label,
            "decision": "correct", "note": "", "time": "2024-11-05T09:00:00Z", "report_id": "r", "model_hash": "m",
            "topic": "economy"}


@pytest.fixture
def labels(tmp_path):
    folder = tmp_path / "labels"
    folder.mkdir()
    write_jsonl(folder / "base.jsonl", [
        {"text": WIRE_TEXT, "label": "wire", "topic": "economy", "source": "wire_newspaper"},
        {"text": "マスゴミは黙れ！拡散希望🔥", "label": "partisan", "topic": "politics", "source": "social"},
    ])
    return folder


def test_line_break_characters_inside_texts_survive_merge_train_and_evaluate(tmp_path, labels):
    corrections = write_jsonl(tmp_path / "corrections.jsonl", [correction("d:1", BREAKS)])
    first = run("review", "merge", corrections, "--labels", labels)
    assert first.exit_code == 0 and "added 1," in first.output, first.output
    written = (labels / "corrections.jsonl").read_bytes()
    assert "\u2028".encode() not in written and b"\\u2028" in written and b"\\u0085" in written
    assert [r["text"] for r in jsonl_rows(labels / "corrections.jsonl")] == [BREAKS]
    again = run("review", "merge", corrections, "--labels", labels)
    assert again.exit_code == 0 and "added 0, changed 0, skipped 1" in again.output, again.output
    assert BREAKS in set(load_labels(labels).frame["text"])
    evaluated = run("evaluate", labels / "corrections.jsonl", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["metrics"]["n"] == 1


def test_a_labels_file_with_raw_line_break_characters_reads_one_row_per_line(labels):
    write_jsonl(labels / "other.jsonl", [{"text": BREAKS, "label": "wire", "topic": "t", "source": "s"}])
    assert "\u2028".encode() in (labels / "other.jsonl").read_bytes()
    assert [r["text"] for r in read_label_file(labels / "other.jsonl")] == [BREAKS]
    assert len(load_labels(labels)) == 3


def _slow_load(original, pause):
    def load(labels_dir):
        loaded = original(labels_dir)
        time.sleep(pause)  # widen the window between reading labels/ and writing it back
        return loaded
    return load


def _merge_in_child(corrections, labels_dir, queue):
    try:
        result = merge_corrections(corrections, labels_dir)
        queue.put(("ok", len(result.added)))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which asserts on it
        queue.put(("error", str(exc)))


def test_two_merges_at_once_both_land(tmp_path, labels, monkeypatch):
    monkeypatch.setattr(review, "_load_folder", _slow_load(review._load_folder, 0.5))
    files = []
    for k in range(2):
        rows = [correction(f"d{k}:{i}", f"レビュー{k}の{i}件目、政府は発表した。", "wire") for i in range(3)]
        files.append(write_jsonl(tmp_path / f"c{k}.jsonl", rows))
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_merge_in_child, args=(f, labels, queue)) for f in files]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    outcomes = sorted(queue.get(timeout=5) for _ in workers)
    assert outcomes == [("ok", 3), ("ok", 3)], outcomes
    texts = [r["text"] for r in jsonl_rows(labels / "corrections.jsonl")]
    assert sorted(texts) == sorted(f"レビュー{k}の{i}件目、政府は発表した。" for k in range(2) for i in range(3))


def test_a_labels_file_changed_during_the_merge_is_not_overwritten(tmp_path, labels, monkeypatch):
    original = review._load_folder

    def load_then_edit(labels_dir):
        loaded = original(labels_dir)
        with (labels_dir / "base.jsonl").open("a", encoding="utf-8") as handle:  # someone's editor saves
            handle.write(json.dumps({"text": "手で足した行。", "label": "wire", "topic": "t", "source": "s"},
                                    ensure_ascii=False) + "\n")
        return loaded

    monkeypatch.setattr(review, "_load_folder", load_then_edit)
    write_jsonl(labels / "corrections.jsonl", [])
    corrections = write_jsonl(tmp_path / "c.jsonl", [correction("d:1", WIRE_TEXT, "partisan")])
    before = (labels / "base.jsonl").read_bytes()
    line = error_line(run("review", "merge", corrections, "--labels", labels, "--overwrite"), only=True)
    assert line == (f"Error: {labels / 'base.jsonl'}: changed by another program during the merge; "
                    "nothing was written to it: run the merge again")
    assert (labels / "base.jsonl").read_bytes().startswith(before) and "手で足した行" in (labels / "base.jsonl").read_text()
    assert not [p for p in labels.iterdir() if p.name.startswith(".")]


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("line, message", [
    (DEEP, "line 1: not valid JSON (nested too deeply)"),
    ('{"id": "d:1", "text": "ab\\ud800cd", "reviewer_label": "wire"}',
     "line 1: field 'text' holds an unpaired surrogate (a \\ud800-\\udfff escape alone), which no UTF-8 file can hold"),
    ('{"id": "d:1", "text": "ok", "reviewer_label": "wire", "note": {"x": ["\\udc00"]}}',
     "line 1: field 'note' holds an unpaired surrogate"),
    ('{"id": "d:1", "text": "' + "a" * (MAX_SEGMENT_CHARS + 1) + '", "reviewer_label": "wire"}',
     f"line 1: field 'text': a text of {MAX_SEGMENT_CHARS + 1:,} characters; postcred tokenizes at most "
     f"{MAX_SEGMENT_CHARS:,} per segment (a longer one crashes MeCab)"),
    ('{"id": "d:1", "text": "ok", "reviewer_label": "wire", "p_wire": ' + "9" * 5000 + "}",
     "line 1: not valid JSON (Exceeds the limit"),
])
def test_hostile_corrections_lines_are_one_clean_error(tmp_path, labels, line, message):
    corrections = tmp_path / "c.jsonl"
    corrections.write_text(line + "\n", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in labels.iterdir()}
    error = error_line(run("review", "merge", corrections, "--labels", labels), only=True)
    assert error.startswith(f"Error: {corrections}, {message}"), error
    assert {p.name: p.read_bytes() for p in labels.iterdir()} == before


@pytest.mark.parametrize("line, message", [
    (DEEP, "line 3: not valid JSON (nested too deeply)"),
    ('{"text": "\\udfff", "label": "wire", "topic": "t", "source": "s"}', "line 3: field 'text' holds an unpaired surrogate"),
    ('{"text": "' + "x" * (MAX_SEGMENT_CHARS + 1) + '", "label": "wire", "topic": "t", "source": "s"}',
     "line 3: field 'text': a text of 50,001 characters"),
])
@pytest.mark.parametrize("command", ["train", "evaluate", "merge"])
def test_hostile_labels_lines_are_one_clean_error(tmp_path, labels, line, message, command):
    bad = labels / "base.jsonl"
    with bad.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    if command == "train":
        result = run("train", "--labels", labels, "--model-dir", tmp_path / "m", "--card-dir", tmp_path / "card")
    elif command == "evaluate":
        result = run("evaluate", bad)
    else:
        corrections = write_jsonl(tmp_path / "c.jsonl", [correction("d:1", "新しい文。")])
        result = run("review", "merge", corrections, "--labels", labels)
    error = error_line(result, only=True)
    assert error.startswith(f"Error: {bad}, {message}"), error


def test_a_text_at_the_limit_is_read(labels):
    (labels / "long.jsonl").write_text(json.dumps({"text": "あ" * MAX_SEGMENT_CHARS, "label": "wire", "topic": "t",
                                                   "source": "s"}) + "\n", encoding="utf-8")
    assert len(read_label_file(labels / "long.jsonl")) == 1
    # NFKC makes each U+FDFA 18 characters: what MeCab would see is 50,004 long.
    (labels / "long.jsonl").write_text(json.dumps({"text": "ｱ" * 25_002 + "\ufdfa" * 1_389, "label": "wire",
                                                   "topic": "t", "source": "s"}) + "\n", encoding="utf-8")
    with pytest.raises(LabelError, match="a text of 50,004 characters; postcred tokenizes at most 50,000"):
        read_label_file(labels / "long.jsonl")
