"""`postcred review merge`: corrections from a report flow back into labels/ safely."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from classifier.cli import cli
from classifier.labels import label_files, labels_digest, load_labels
from classifier.review import merge_corrections, read_corrections

from .conftest import LABELS, jsonl_rows

WIRE_TEXT = "政府は4日、新たな経済対策を閣議決定したと発表した。"
PARTISAN_TEXT = "またマスゴミの印象操作😡 絶対に許すな！拡散希望🔥"


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def correction(seg_id, text, reviewer_label, **extra):
    decision = extra.pop("decision", None)
    if decision is None:
        decision = "skip" if reviewer_label is None else "correct"
    row = {
        "id": seg_id, "text": text, "predicted_label": "wire", "p_wire": 0.55,
        "reviewer_label": reviewer_label, "decision": decision, "note": "", "time": "2024-11-05T09:00:00Z",
        "report_id": "r123", "model_hash": "m456",
    }
    row.update(extra)
    return row


@pytest.fixture
def labels(tmp_path):
    folder = tmp_path / "labels"
    folder.mkdir()
    write_jsonl(folder / "base.jsonl", [
        {"text": WIRE_TEXT, "label": "wire", "topic": "economy_prices", "source": "wire_newspaper", "id": "base:1"},
        {"text": PARTISAN_TEXT, "label": "partisan", "topic": "domestic_politics", "source": "social_emoji"},
    ])
    return folder


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_merge_adds_new_texts_skips_known_and_lists_conflicts(tmp_path, labels):
    before = (labels / "base.jsonl").read_bytes()
    corrections = write_jsonl(tmp_path / "corrections.jsonl", [
        correction("d:1", "速報です！！これは陰謀だ、目を覚ませ", "partisan", note="陰謀論の煽り"),
        correction("d:2", "政府は4日、新たな経済対策を閣議決定したと発表した。 ", "wire", decision="confirm"),
        correction("d:3", PARTISAN_TEXT, "wire"),
        correction("d:4", "気象庁は5日、大雨警報を発表した。", None),
        correction("d:5", "日銀は5日、政策金利を据え置くと発表した。", "wire", decision="confirm", topic="economy_prices"),
    ])
    result = run("review", "merge", corrections, "--labels", labels, "--topic", "media_internet")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("added    line 1: d:1: new text, labeled partisan (corrections.jsonl:1)")
    assert lines[1].startswith("skipped  line 2: d:2: already labeled wire (base.jsonl:1)")
    assert lines[2].startswith("conflict line 3: d:3: labeled partisan, the review says wire (base.jsonl:2)")
    assert lines[3].startswith("skipped  line 4: d:4: reviewer skipped it")
    assert "added 2, changed 0, skipped 2, conflicts 1" in lines
    assert "rerun with --overwrite" in result.output
    assert (labels / "base.jsonl").read_bytes() == before  # the conflict was left alone

    added = jsonl_rows(labels / "corrections.jsonl")
    assert [(r["text"], r["label"], r["topic"], r["source"], r["id"]) for r in added] == [
        ("速報です！！これは陰謀だ、目を覚ませ", "partisan", "media_internet", "review:d", "review:d:1"),
        ("日銀は5日、政策金利を据え置くと発表した。", "wire", "economy_prices", "review:d", "review:d:5"),
    ]
    assert added[0]["notes"].startswith("陰謀論の煽り [review; 2024-11-05; model said wire (p_wire 0.55); segment d:1")
    frame = load_labels(labels).frame
    assert len(frame) == 4 and frame["id"].is_unique


def test_merging_twice_changes_nothing(tmp_path, labels):
    corrections = write_jsonl(tmp_path / "c.jsonl", [
        correction("d:1", "速報です！！これは陰謀だ、目を覚ませ", "partisan"),
        correction("d:3", PARTISAN_TEXT, "wire"),
    ])
    assert run("review", "merge", corrections, "--labels", labels, "--overwrite", "--topic", "t").exit_code == 0
    files, digest = snapshot(labels), labels_digest(label_files(labels))
    again = run("review", "merge", corrections, "--labels", labels, "--overwrite", "--topic", "t")
    assert again.exit_code == 0, again.output
    assert "added 0, changed 0, skipped 2, conflicts 0" in again.output
    assert again.output.strip().endswith("labels unchanged")
    assert snapshot(labels) == files
    # `postcred train` skips work when this digest matches the saved model's
    assert labels_digest(label_files(labels)) == digest


def test_overwrite_relabels_in_place_and_keeps_other_lines(tmp_path, labels):
    original = (labels / "base.jsonl").read_text(encoding="utf-8").splitlines()
    corrections = write_jsonl(tmp_path / "c.jsonl", [correction("d:9", PARTISAN_TEXT, "wire", note="報道の引用")])
    result = run("review", "merge", corrections, "--labels", labels, "--overwrite")
    assert result.exit_code == 0, result.output
    assert "changed  line 1: d:9: relabeled partisan -> wire (base.jsonl:2)" in result.output
    assert "added 0, changed 1, skipped 0, conflicts 0" in result.output
    now = (labels / "base.jsonl").read_text(encoding="utf-8").splitlines()
    assert now[0] == original[0]
    row = json.loads(now[1])
    assert row["label"] == "wire" and row["text"] == PARTISAN_TEXT and row["topic"] == "domestic_politics"
    assert row["notes"].startswith("relabeled partisan -> wire by 報道の引用 [review;")
    assert not (labels / "corrections.jsonl").exists()


def test_dry_run_lists_but_writes_nothing(tmp_path, labels):
    before = snapshot(labels)
    corrections = write_jsonl(tmp_path / "c.jsonl", [
        correction("d:1", "速報です！！これは陰謀だ、目を覚ませ", "partisan"),
        correction("d:3", PARTISAN_TEXT, "wire"),
    ])
    result = run("review", "merge", corrections, "--labels", labels, "--overwrite", "--dry-run", "--topic", "t")
    assert result.exit_code == 0, result.output
    assert "added 1, changed 1, skipped 0, conflicts 0" in result.output
    assert "dry run: nothing written" in result.output
    assert snapshot(labels) == before


def test_library_result_lists_outcomes(tmp_path, labels):
    corrections = write_jsonl(tmp_path / "c.jsonl", [
        correction("d:1", "新しい文です。", "partisan"),
        correction("d:2", WIRE_TEXT, "wire", decision="confirm"),
    ])
    result = merge_corrections(corrections, labels, topic="economy_prices")
    assert [(o.action, o.correction.id) for o in result.outcomes] == [("added", "d:1"), ("skipped", "d:2")]
    assert result.written == [labels / "corrections.jsonl"]


GOOD = json.dumps(correction("d:1", "新しい文です。", "partisan"), ensure_ascii=False)


@pytest.mark.parametrize(
    "bad, message",
    [
        (json.dumps(correction("d:2", "別の文。", "neutral")), "unknown label 'neutral'; expected one of partisan, wire"),
        (json.dumps(correction("d:2", "別の文。", "WIRE")), "unknown label 'WIRE'"),
        ('{"id": "d:2", "text": "別の文。", "reviewer_label": "wire",', "not valid JSON"),
        ('["d:2", "wire"]', "expected a JSON object"),
        (json.dumps(correction("d:2", "", "wire")), "field 'text' is missing or empty"),
        (json.dumps({"id": "d:2", "text": "別の文。"}), "field 'reviewer_label' is missing"),
        (json.dumps(correction("d:2", "別の文。", None, decision="correct")), "decision 'correct' needs a reviewer_label"),
        (json.dumps(correction("d:2", "別の文。", "wire", p_wire=1.5)), "p_wire must be a number from 0 to 1"),
        (json.dumps(correction("d:1", "別の文。", "wire")), "segment 'd:1' is already on line 1"),
        (json.dumps(correction("d:2", "新しい文です。", "wire")), "same text as line 1 with the other label"),
    ],
)
def test_a_bad_line_is_named_and_nothing_is_written(tmp_path, labels, bad, message):
    before = snapshot(labels)
    corrections = tmp_path / "c.jsonl"
    corrections.write_text(GOOD + "\n" + bad + "\n", encoding="utf-8")
    result = run("review", "merge", corrections, "--labels", labels)
    assert result.exit_code == 1, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"Error: {corrections}, line 2: "), last
    assert message in last
    assert snapshot(labels) == before


def test_a_bad_labels_file_stops_the_merge(tmp_path, labels):
    (labels / "broken.jsonl").write_text('{"text": "x", "label": "maybe", "topic": "t", "source": "s"}\n', encoding="utf-8")
    before = snapshot(labels)
    corrections = write_jsonl(tmp_path / "c.jsonl", [correction("d:1", "新しい文です。", "partisan")])
    result = run("review", "merge", corrections, "--labels", labels)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith(f"Error: {labels / 'broken.jsonl'}, line 1: unknown label")
    assert snapshot(labels) == before


def test_missing_corrections_file_is_a_usage_error(tmp_path, labels):
    result = run("review", "merge", tmp_path / "nope.jsonl", "--labels", labels)
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_ids_stay_unique_and_blank_lines_are_ignored(tmp_path, labels):
    write_jsonl(labels / "corrections.jsonl", [
        {"text": "前の文。", "label": "wire", "topic": "reviewed", "source": "review", "id": "review:d:1"},
    ])
    corrections = tmp_path / "c.jsonl"
    corrections.write_text("\n" + GOOD + "\n\n", encoding="utf-8")
    assert [c.line for c in read_corrections(corrections)] == [2]
    result = merge_corrections(corrections, labels, topic="t")
    assert [o.action for o in result.outcomes] == ["added"]
    rows = jsonl_rows(labels / "corrections.jsonl")
    assert [r["id"] for r in rows] == ["review:d:1", "review:d:1~2"]


def test_new_rows_need_a_topic_and_get_their_dump_as_source(tmp_path, labels):
    before = snapshot(labels)
    corrections = write_jsonl(tmp_path / "c.jsonl", [
        correction("tweets_2024:3", "新しい文です。", "partisan", topic="local"),
        correction("tweets_2024:4", "別の新しい文です。", "wire", decision="confirm"),
        correction("x:5", "三つ目の新しい文です。", "wire", source="wire_newspaper", dump="reuters_dump"),
    ])
    result = run("review", "merge", corrections, "--labels", labels)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {corrections}, line 2: no topic for a new labels row: set the Topic field in the report before "
        "exporting, or pass --topic (the labels use: domestic_politics, economy_prices)")
    assert snapshot(labels) == before

    result = run("review", "merge", corrections, "--labels", labels, "--topic", "economy_prices", "--source", "my_review")
    assert result.exit_code == 0, result.output
    added = jsonl_rows(labels / "corrections.jsonl")
    assert [(r["topic"], r["source"]) for r in added] == [
        ("local", "my_review"), ("economy_prices", "my_review"), ("economy_prices", "wire_newspaper")]
    assert "warning  topic 'local' is new to labels/" in result.output

    (labels / "corrections.jsonl").unlink()
    merge_corrections(corrections, labels, topic="economy_prices")  # without --source: the dump's name
    added = jsonl_rows(labels / "corrections.jsonl")
    assert [r["source"] for r in added] == ["review:tweets_2024", "review:tweets_2024", "wire_newspaper"]


def test_a_correction_that_would_teach_topic_words_is_named(tmp_path):
    labels = tmp_path / "labels"
    shutil.copytree(LABELS, labels)  # the real labels: the figures a reviewer would see
    tsunami = "津波の到達が心配です。沿岸の皆さんは高台へ避難してください。"
    corrections = write_jsonl(tmp_path / "c.jsonl", [
        correction("d:1", tsunami, "wire", predicted_label="partisan", p_wire=0.17, topic="disasters"),
        correction("d:2", "気象庁は5日、大雨警報を発表した。", "wire", decision="confirm", p_wire=0.97, topic="disasters"),
    ])
    result = run("review", "merge", corrections, "--labels", labels, "--dry-run")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning  line")]
    assert len(warnings) == 1 and warnings[0].startswith("warning  line 1: d:1: the merge makes these nouns of it words for wire: ")
    named = dict(part.split(" (", 1) for part in warnings[0].split(": ", 3)[3].rstrip(")").split("), "))
    assert {"津波", "沿岸"} <= set(named)
    rows = load_labels(labels).frame["text"]
    for word in ("津波", "沿岸"):
        used = int(rows.str.contains(word).sum())
        assert named[word].endswith(f"in {used} labels rows" if used > 1 else "in 1 labels row" if used else "in no labels row")
        if not used:
            assert named[word].startswith("+0.00 -> +")
    assert "add rows of the other label that use these nouns" in result.output

    outcomes = merge_corrections(corrections, labels, dry_run=True).outcomes
    for word in outcomes[0].topic_words:
        assert word.after >= 0.5 and word.after - word.before >= 0.5
    assert outcomes[1].topic_words == ()  # a confirmation of everyday wire words teaches nothing new
