"""The shipped model: fresh with respect to labels/, loads in a fresh process, right on the seed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from classifier.labels import label_files, labels_digest, load_labels
from classifier.model import META_FILE, PACKAGE_MODEL_DIR, load_model
from classifier.errors import ModelError
from classifier.tokens import normalize

from .conftest import LABELS, ROOT

WIRE_HANDLES = {"nhk_news", "ReutersJapan"}


def test_shipped_model_matches_labels():
    meta = json.loads((PACKAGE_MODEL_DIR / META_FILE).read_text(encoding="utf-8"))
    assert meta["labels_digest"] == labels_digest(label_files(LABELS)), (
        "the shipped model is stale: run `postcred train` and commit classifier/models/"
    )


def test_metadata_records_what_a_reviewer_needs():
    meta = load_model().metadata
    for key in ("created", "labels_digest", "class_counts", "cv", "versions", "params"):
        assert key in meta
    cv = meta["cv"]["stratified"]
    assert {"accuracy", "macro_f1", "per_class", "log_loss"} <= set(cv)
    assert meta["versions"]["scikit-learn"]


def test_seed_wire_accounts_score_wire_and_partisan_accounts_partisan(seed_rows):
    wrong = [
        (r["handle"], r["line"], r["p_wire"])
        for r in seed_rows
        if (r["label"] == "wire") != (r["handle"] in WIRE_HANDLES)
    ]
    assert wrong == []
    assert len(seed_rows) == 43


def test_rows_carry_scores_and_top_tokens(seed_rows):
    for row in seed_rows:
        assert 0.0 <= row["p_wire"] <= 1.0
        assert row["label"] in ("wire", "partisan")
        assert row["top_tokens"] and all("weight" in t for t in row["top_tokens"])


def test_model_loads_and_predicts_in_a_fresh_process():
    code = (
        "from classifier.model import load_model; m = load_model(); "
        "print(m.p_wire(['政府は4日、新たな方針を発表した。', '🔥売国奴を許すな！拡散希望🔥'])[0] > 0.5)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "True"


def test_missing_and_corrupt_models_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="model file not found"):
        load_model(tmp_path)
    (tmp_path / "postcred.joblib").write_bytes(b"not a pickle at all")
    with pytest.raises(ModelError, match="corrupt"):
        load_model(tmp_path)


def test_shipped_model_on_probe_texts_kept_out_of_the_labels(data_dir):
    """462 texts written to probe the model (news of many kinds, among them the unattributed
    narrative sentences of articles; commentary of every direction, from blogs, forums and
    reviews; relayed news with and without a comment), never added to labels/: a retrained
    model that gets more than a few of them wrong has lost something."""
    rows = [json.loads(line) for line in (data_dir / "probes.jsonl").read_text(encoding="utf-8").splitlines()]
    labels = {normalize(text) for text in load_labels(LABELS).frame["text"]}
    assert not [r["text"] for r in rows if normalize(r["text"]) in labels]  # still held out
    p_wire = load_model().p_wire([r["text"] for r in rows])
    wrong = [(r["label"], round(float(p), 2), r["text"][:40])
             for r, p in zip(rows, p_wire) if (p >= 0.5) != (r["label"] == "wire")]
    assert len(wrong) <= 18, wrong  # 7 of 462 wrong when this test was last changed
