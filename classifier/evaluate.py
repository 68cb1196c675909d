"""Metrics for a binary wire/partisan model: the figures `train` and `evaluate` print."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
)

from .labels import LABELS


def expected_calibration_error(y_wire: np.ndarray, p_wire: np.ndarray, bins: int = 10) -> float:
    """ECE with equal-width bins over ``p_wire``: the mean gap between confidence and
    accuracy, weighted by how many predictions fall in each bin."""
    y_wire = np.asarray(y_wire, dtype=float)
    p_wire = np.asarray(p_wire, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p_wire, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(p_wire[mask].mean() - y_wire[mask].mean())
    return float(total)


def reliability_table(y_wire, p_wire, bins: int = 10) -> list[dict]:
    """Per-bin mean predicted p_wire, observed share of wire, and count (for the diagram)."""
    y_wire = np.asarray(y_wire, dtype=float)
    p_wire = np.asarray(p_wire, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p_wire, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        mask = which == b
        rows.append(
            {
                "lo": float(edges[b]),
                "hi": float(edges[b + 1]),
                "count": int(mask.sum()),
                "mean_p": float(p_wire[mask].mean()) if mask.any() else None,
                "share_wire": float(y_wire[mask].mean()) if mask.any() else None,
            }
        )
    return rows


def binary_metrics(y_true: list[str] | np.ndarray, p_wire: np.ndarray, threshold: float = 0.5) -> dict:
    """All the figures for labels ``y_true`` (``wire``/``partisan``) and predicted ``p_wire``.

    Returns accuracy, macro-F1, per-class precision/recall/F1/support, the confusion
    matrix (rows true, columns predicted, in :data:`LABELS` order), log loss, Brier score
    and ECE.
    """
    y_true = np.asarray(y_true)
    p_wire = np.clip(np.asarray(p_wire, dtype=float), 1e-6, 1 - 1e-6)
    y_pred = np.where(p_wire >= threshold, "wire", "partisan")
    y_wire = (y_true == "wire").astype(int)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(LABELS), zero_division=0
    )
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=list(LABELS), average="macro", zero_division=0)),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(LABELS)
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=list(LABELS)).tolist(),
        "log_loss": float(log_loss(y_wire, p_wire, labels=[0, 1])),
        "brier": float(brier_score_loss(y_wire, p_wire)),
        "ece": expected_calibration_error(y_wire, p_wire),
    }


def evaluate_file(path, *, model_dir=None, worst: int = 10, trust_model: bool = False) -> dict:
    """Score a labeled JSONL file with a saved model: metrics and the worst errors.

    ``model_dir`` is a model folder or file (default: the shipped model); ``trust_model``
    loads it even when this machine did not train it (see :mod:`classifier.trust`).

    The worst errors are the rows whose predicted probability is furthest on the wrong side.
    """
    from pathlib import Path

    from .errors import LabelError
    from .labels import read_label_file
    from .model import load_model

    path = Path(path)
    if not path.exists():
        raise LabelError(path, "no such file")
    rows = read_label_file(path)
    if not rows:
        raise LabelError(path, "no labeled rows to evaluate")
    model = load_model(model_dir, trust_model=trust_model)
    p_wire = model.p_wire([r["text"] for r in rows])
    y = np.array([r["label"] for r in rows])
    metrics = binary_metrics(y, p_wire)
    miss = np.where((p_wire >= 0.5) != (y == "wire"))[0]
    miss = sorted(miss, key=lambda i: -abs(p_wire[i] - 0.5))[:worst]
    errors = [
        {"id": rows[i]["id"], "label": rows[i]["label"], "p_wire": round(float(p_wire[i]), 4), "text": rows[i]["text"]}
        for i in miss
    ]
    return {"file": str(path), "model_labels_digest": model.digest, "metrics": metrics, "worst_errors": errors}
