"""Paragraph-length probe texts: the model on the length real news and blog paragraphs run."""

from __future__ import annotations

import hashlib

from classifier.evaluate import evaluate_file
from classifier.labels import load_labels, read_label_file
from classifier.tokens import normalize

from .conftest import LABELS

LONG_PROBES = "probes_long.jsonl"
# Written before the wave-8 (long-form) labels and frozen with them: change it only to fix a
# wrong label, never to suit a model.
LONG_SHA256 = "7766e1cfe5c38366e051074e7e1f55290ca48def6a01d970382905bc0838e171"


def test_long_probes_are_frozen_and_kept_out_of_the_labels(data_dir):
    """40 paragraphs of 130-200 characters (20 calm partisan of issue 12's patterns, every
    direction; 20 wire on the same facts): worth something only while no labels file holds
    them and nobody edits them to suit a model."""
    path = data_dir / LONG_PROBES
    assert hashlib.sha256(path.read_bytes()).hexdigest() == LONG_SHA256
    labels = {normalize(text) for text in load_labels(LABELS).frame["text"]}
    assert not [r["text"] for r in read_label_file(path) if normalize(r["text"]) in labels]


def test_shipped_model_reads_whole_paragraphs(data_dir):
    """A paragraph is labeled by the writer's voice across it: the shipped model got all 40
    right when the file was written; a retrain that loses more than two has lost the long form."""
    metrics = evaluate_file(data_dir / LONG_PROBES)["metrics"]
    figures = {"accuracy": metrics["accuracy"], "partisan recall": metrics["per_class"]["partisan"]["recall"]}
    assert figures["accuracy"] >= 38 / 40 and figures["partisan recall"] >= 19 / 20, figures
