"""``postcred train``: fit the model on ``labels/``, cross-validate it, save it with metadata.

Training is skipped when the labels did not change since the saved model (the label-set
digest matches), unless ``force``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .labels import LabelSet, load_labels
from .model import (
    DEFAULT_PARAMS,
    META_FILE,
    PACKAGE_MODEL_DIR,
    Model,
    analyze_all,
    build_pipeline,
    make_metadata,
    save_model,
    stratified_cv,
)


@dataclass
class TrainResult:
    """What a training run did: the model (None when skipped), its metadata and paths."""

    skipped: bool
    model: Model | None
    metadata: dict
    model_dir: Path


def saved_digest(model_dir: Path) -> str | None:
    """The labels digest recorded beside a saved model, if there is one."""
    import json

    meta = Path(model_dir) / META_FILE
    if not meta.exists():
        return None
    try:
        return json.loads(meta.read_text(encoding="utf-8")).get("labels_digest")
    except ValueError:
        return None


def train(
    labels_dir: str | Path = "labels",
    model_dir: str | Path | None = None,
    *,
    force: bool = False,
    params: dict | None = None,
    folds: int = 5,
    log: Callable[[str], None] = lambda message: None,
) -> TrainResult:
    """Fit, cross-validate and save the model.

    Parameters
    ----------
    labels_dir:
        Folder of ``*.jsonl`` labels files.
    model_dir:
        Where to write ``postcred.joblib`` and ``postcred.json`` (default: the package's
        shipped model folder).
    force:
        Retrain even when the labels did not change.
    params:
        Hyper-parameters overriding :data:`~classifier.model.DEFAULT_PARAMS`.
    """
    model_dir = Path(model_dir) if model_dir is not None else PACKAGE_MODEL_DIR
    labelset = load_labels(labels_dir)
    if not force and saved_digest(model_dir) == labelset.digest:
        log(f"labels unchanged since the saved model ({labelset.digest[:12]}); nothing to do (use --force)")
        return TrainResult(True, None, {}, model_dir)
    params = {**DEFAULT_PARAMS, **(params or {})}
    docs, y = prepare(labelset, params)
    log(f"{len(y)} labeled segments: " + ", ".join(f"{k} {v}" for k, v in zip(*np.unique(y, return_counts=True))))
    cv, _ = stratified_cv(params, docs, y, k=folds)
    pipeline = build_pipeline(**params).fit(docs, y)
    model = Model(pipeline, make_metadata(labelset=labelset, params=params, cv={"stratified": cv}))
    save_model(model, model_dir)
    return TrainResult(False, model, model.metadata, model_dir)


def prepare(labelset: LabelSet, params: dict) -> tuple[list, np.ndarray]:
    """Analyze every labeled text once; return the documents and the label array."""
    frame = labelset.frame
    return analyze_all(frame["text"], proper_nouns=params["proper_nouns"]), frame["label"].to_numpy()
