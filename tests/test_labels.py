"""Guards on the labeled set: size, balance, variety, and no duplicate or conflicting texts."""

from __future__ import annotations

import json

import pytest

from classifier.errors import LabelError
from classifier.labels import load_labels, read_label_file
from classifier.tokens import normalize

from .conftest import LABELS


@pytest.fixture(scope="module")
def frame():
    return load_labels(LABELS).frame


def test_no_text_appears_twice_after_normalization(frame):
    normalized = frame["text"].map(normalize)
    duplicated = frame.loc[normalized.duplicated(keep=False), ["id", "text", "label"]]
    assert duplicated.empty, duplicated.to_string()


def test_no_text_carries_two_labels(frame):
    labels_per_text = frame.assign(norm=frame["text"].map(normalize)).groupby("norm")["label"].nunique()
    assert (labels_per_text <= 1).all(), labels_per_text[labels_per_text > 1]


def test_size_and_balance(frame):
    assert len(frame) >= 1000
    share = (frame["label"] == "wire").mean()
    assert 0.40 <= share <= 0.60, share


def test_variety(frame):
    assert frame["topic"].nunique() >= 15
    assert frame["hard"].sum() >= 150
    for label, group in frame.groupby("label"):
        assert group["source"].nunique() >= 6, label
        assert group["topic"].nunique() >= 15, label
    lengths = frame["text"].str.len()
    assert lengths.min() < 30 and lengths.max() > 200


def test_seed_is_fully_labeled(frame, seed_records):
    seed_texts = set(frame.loc[frame["file"] == "seed.jsonl", "text"])
    assert {r.text for r in seed_records} <= seed_texts


def test_ids_are_unique(frame):
    assert not frame["id"].duplicated().any()


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"text": "x", "label": "wire", "topic": "t"}', "field 'source' is missing or empty"),
        ('{"text": "", "label": "wire", "topic": "t", "source": "s"}', "field 'text' is missing or empty"),
        ('{"text": "x", "label": "WIRE", "topic": "t", "source": "s"}', "unknown label 'WIRE'"),
        ('["x", "wire"]', "expected a JSON object"),
        ('{"text": "x", "label": "wire",', "not valid JSON"),
    ],
)
def test_bad_label_lines_name_the_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"text": "良い", "label": "partisan", "topic": "t", "source": "s"}, ensure_ascii=False)
    path.write_text(good + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(LabelError) as info:
        read_label_file(path)
    assert str(info.value).startswith(f"{path}, line 2: ")
    assert message in str(info.value)
