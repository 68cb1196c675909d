"""Model files are code: only trusted model files are loaded, and a model of another shape,
version or without metadata gets a clear line, never an internal error."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sys
from pathlib import Path

import joblib
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from classifier import trust
from classifier.cli import cli
from classifier.errors import ModelError
from classifier.model import MODEL_FILE, PACKAGE_MODEL_DIR, Model, load_model, save_model
from classifier.ingest import read_posts
from classifier.parallel import ParallelScorer

from .conftest import ROOT, error_line, report_payload

FORMATS = ROOT / "tests" / "data" / "formats"
SHIPPED = PACKAGE_MODEL_DIR / MODEL_FILE
DUMP = FORMATS / "timeline.txt"

#: A pickle that, when loaded, creates the file named in its argument: what a hostile
#: model would do (with something worse than creating a file).
HOSTILE = '''
import os, sys, joblib

class Payload:
    def __reduce__(self):
        return (open, (sys.argv[2], "w"))

joblib.dump(Payload(), sys.argv[1])
'''


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def hostile_model(folder: Path, marker: Path) -> Path:
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MODEL_FILE
    subprocess.run([sys.executable, "-c", HOSTILE, str(path), str(marker)], check=True)
    assert not marker.exists()
    return path


def foreign_copy_of_the_shipped_model(folder: Path) -> Path:
    """The shipped Pipeline saved again with other compression: a sound model whose bytes
    no record holds (a model someone else trained)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MODEL_FILE
    joblib.dump(load_model().pipeline, path, compress=1)
    shutil.copy(PACKAGE_MODEL_DIR / "postcred.json", folder / "postcred.json")
    return path


def test_the_shipped_model_matches_its_trusted_record():
    record = (PACKAGE_MODEL_DIR / "postcred.sha256").read_text(encoding="utf-8")
    assert record == f"{hashlib.sha256(SHIPPED.read_bytes()).hexdigest()}  {MODEL_FILE}\n", (
        "classifier/models/postcred.joblib does not match classifier/models/postcred.sha256: `postcred train` "
        "writes both; after a retrain commit both (or run `cd classifier/models && sha256sum postcred.joblib "
        "> postcred.sha256` for a model you built yourself)"
    )


@pytest.mark.parametrize("command", ["score", "evaluate"])
def test_a_model_that_runs_code_when_loaded_is_refused_and_runs_nothing(tmp_path, command):
    marker = tmp_path / "pwned"
    folder = tmp_path / "model"
    hostile_model(folder, marker)
    # A record beside the model is no trust: the sender would ship it too.
    digest = hashlib.sha256((folder / MODEL_FILE).read_bytes()).hexdigest()
    (folder / "postcred.sha256").write_text(f"{digest}  {MODEL_FILE}\n")
    (folder / "postcred.json").write_text(json.dumps({"sha256": digest}))
    args = (["score", DUMP, "-o", tmp_path / "s.csv"] if command == "score"
            else ["evaluate", ROOT / "labels" / "seed.jsonl"])
    line = error_line(run(*args, "--model", folder))
    assert line.startswith(f"Error: {folder / MODEL_FILE}: refusing to load a model this machine did not train")
    assert "a model file is code that runs when loaded; pass --trust-model" in line
    assert not marker.exists()
    assert not (tmp_path / "s.csv").exists()


def test_trust_model_is_the_users_explicit_choice(tmp_path):
    marker = tmp_path / "ran"
    folder = tmp_path / "model"
    hostile_model(folder, marker)
    line = error_line(run("score", DUMP, "-o", tmp_path / "s.csv", "--model", folder, "--trust-model"))
    assert marker.exists()  # the flag does load it: that is why it must be asked for
    assert "not a fitted postcred model" in line


def test_a_model_trained_here_loads_without_trust_model_and_a_changed_one_does_not(tmp_path, machine_trust_record):
    folder = tmp_path / "mine"
    model_path, _ = save_model(Model(load_model().pipeline, {"labels_digest": "x" * 64}), folder)
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    assert digest in machine_trust_record.read_text()
    assert load_model(folder).sha256 == digest
    result = run("score", DUMP, "-o", tmp_path / "s.csv", "--model", folder)
    assert result.exit_code == 0, result.output
    data = bytearray(model_path.read_bytes())
    data[-1] ^= 1
    model_path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="refusing to load"):
        load_model(folder)


def test_model_option_loads_the_named_file_with_its_own_metadata(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(SHIPPED, folder / "other.joblib")
    (folder / "other.json").write_text(json.dumps({"labels_digest": "a" * 64, "created": "2024-11-04T00:00:00+00:00"}))
    (folder / MODEL_FILE).write_bytes(b"the folder's own model, which must not be read")
    model = load_model(folder / "other.joblib")
    assert model.digest == "a" * 64
    result = run("score", DUMP, "-o", tmp_path / "s.csv", "--model", folder / "other.joblib")
    assert result.exit_code == 0, result.output


def test_a_model_without_metadata_warns_and_scores(tmp_path):
    folder = tmp_path / "bare"
    folder.mkdir()
    shutil.copy(SHIPPED, folder / MODEL_FILE)
    result = run("score", DUMP, "-o", tmp_path / "s.csv", "--model", folder)
    assert result.exit_code == 0, result.output
    assert (f"Warning: {folder / MODEL_FILE} has no metadata file (postcred.json): the labels it was trained on, "
            "its figures and package versions are unknown") in result.output


def test_a_model_from_other_package_versions_warns(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    shutil.copy(SHIPPED, folder / MODEL_FILE)
    meta = json.loads((PACKAGE_MODEL_DIR / "postcred.json").read_text())
    meta["versions"]["scikit-learn"] = "0.24.2"
    (folder / "postcred.json").write_text(json.dumps(meta))
    result = run("score", DUMP, "-o", tmp_path / "s.csv", "--model", folder)
    assert result.exit_code == 0, result.output
    assert f"Warning: {folder / MODEL_FILE} was saved with scikit-learn 0.24.2; installed: scikit-learn " in result.output


def other_pipelines():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    texts = ["aa bb", "cc dd", "aa cc", "bb dd"]
    foreign = Pipeline([("vec", TfidfVectorizer()), ("lr", LogisticRegression())]).fit(texts, ["wire", "partisan"] * 2)
    shipped = load_model().pipeline
    relabeled = Pipeline(list(shipped.steps))
    clf = joblib.load(io.BytesIO(_dumped(shipped.named_steps["clf"])))
    clf.classes_ = clf.classes_.astype(object)
    clf.classes_[:] = ["neg", "pos"]
    relabeled.steps[-1] = ("clf", clf)
    narrow = Pipeline(list(shipped.steps))
    small = LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0]], ["partisan", "wire"])
    narrow.steps[-1] = ("clf", small)
    return {
        "a dict": ({"not": "a pipeline"}, "not a fitted postcred model (it holds a dict)"),
        "other steps": (foreign, "not a postcred model: its Pipeline has the steps vec, lr, not tokens, features, clf"),
        "other classes": (relabeled, "not a fitted postcred model: it predicts neg, pos, not partisan and wire"),
        "other width": (narrow, "this model cannot score a text (ValueError: "),
    }


def _dumped(obj) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("case", ["a dict", "other steps", "other classes", "other width"])
def test_a_model_of_another_shape_is_a_clear_error(tmp_path, case):
    obj, message = other_pipelines()[case]
    folder = tmp_path / "model"
    folder.mkdir()
    joblib.dump(obj, folder / MODEL_FILE)
    line = error_line(run("score", DUMP, "-o", tmp_path / "s.csv", "--model", folder, "--trust-model"))
    assert line.startswith(f"Error: {folder / MODEL_FILE}: {message}"), line


def test_the_report_names_the_model_file_by_its_bytes(tmp_path):
    result = run("score", DUMP, "-o", tmp_path / "s.csv")
    assert result.exit_code == 0, result.output
    payload = report_payload(BeautifulSoup((tmp_path / "s.html").read_text(encoding="utf-8"), "html.parser"))
    assert payload["model_hash"] == hashlib.sha256(SHIPPED.read_bytes()).hexdigest()[:16]


def test_spawned_workers_load_exactly_the_bytes_the_parent_accepted(tmp_path):
    folder = tmp_path / "foreign"
    foreign_copy_of_the_shipped_model(folder)
    model = load_model(folder, trust_model=True)
    chunks = [list(read_posts(DUMP))]
    with ParallelScorer(model, "d", "csv", jobs=1, model_dir=folder, start_method="spawn") as scorer:
        assert sum(c.segments for c in scorer.map(chunks, keep=lambda n: False)) > 0
    (folder / MODEL_FILE).write_bytes(SHIPPED.read_bytes())  # another (even trusted) file in its place
    with pytest.raises(ModelError, match="the model file changed while postcred was running"):
        load_model(folder, expected_sha256=model.sha256)  # what such a worker does


def test_the_machine_record_lives_in_the_users_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert trust.machine_record() == tmp_path / "data" / "postcred" / "trusted-models.sha256"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert trust.machine_record() == Path.home() / ".local" / "share" / "postcred" / "trusted-models.sha256"


def test_training_into_the_package_rewrites_the_shipped_record(tmp_path, monkeypatch, machine_trust_record):
    """`postcred train` without --model-dir writes the shipped model: its record must follow,
    so the retrained model loads in a fresh clone (where no machine record exists)."""
    import classifier.model as model_module

    pipeline = load_model().pipeline
    package = tmp_path / "package_models"
    monkeypatch.setattr(model_module, "PACKAGE_MODEL_DIR", package)
    monkeypatch.setattr(trust, "SHIPPED_RECORD", package / "postcred.sha256")
    before = machine_trust_record.read_text() if machine_trust_record.exists() else ""
    model_path, _ = save_model(Model(pipeline, {"labels_digest": "y" * 64}), package)
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    assert (package / "postcred.sha256").read_text() == f"{digest}  {MODEL_FILE}\n"
    assert (machine_trust_record.read_text() if machine_trust_record.exists() else "") == before
    assert trust.is_trusted(digest)
