"""``postcred train``: fit the model on ``labels/`` with an honest evaluation, and save it.

What a run does, in order:

1. load and validate the labels; skip everything when they did not change since the saved
   model (same label-set digest), unless ``force``;
2. analyze every text once (MeCab), for reuse by every fit below;
3. choose the hyper-parameters by **leave-one-topic-out** macro-F1 (a coordinate search:
   one parameter at a time, two passes, starting from the saved model's setting), because
   real dumps arrive on topics nobody labeled; settings within 0.01 of each other are told
   apart by log loss on the real texts of the set (the seed dump), held out from training;
4. report stratified k-fold, leave-one-topic-out and leave-one-source-out figures for the
   chosen parameters, the same with and without marker features, a learning curve, and the
   labels most likely wrong (cleanlab, from out-of-fold probabilities);
5. refuse to replace a model whose leave-one-topic-out macro-F1 is better by more than
   0.01, unless ``accept_worse``;
6. fit on everything, save the Pipeline and its metadata, and write the model card.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.model_selection import LeaveOneGroupOut, StratifiedKFold

from .errors import DependencyError, RegressionError
from .evaluate import binary_metrics, reliability_table
from .labels import load_labels
from .model import (
    DEFAULT_PARAMS,
    META_FILE,
    PACKAGE_MODEL_DIR,
    Model,
    analyze_all,
    build_pipeline,
    make_metadata,
    out_of_fold,
    save_model,
)
from .outputs import atomic_open
from .tokens import QUOTE_MODES, TokenizedText, document_terms

SEARCH_SPACE: dict[str, list] = {
    # Character n-grams (2 to char_ngram_max characters; 0: none) over the text with names,
    # numbers and links as placeholders (classifier/chargrams.py), first: the word and
    # marker settings are then tuned beside them.
    "char_ngram_max": [0, 3, 4, 5],
    "char_min_df": [2, 3],  # 1 was never better and doubled the features (and the time)
    "char_scale": [0.5, 1.0, 1.5, 2.0, 3.0],
    "ngram_max": [1, 2, 3],
    "min_df": [1, 2, 3],
    "C": [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0],
    "class_weight": [None, "balanced"],
    # Proper nouns stay class placeholders (<PLACE>, <PERSON>, <ORG>): with their lemmas kept,
    # the model learned which countries the labels' writers happened to pair with each class
    # (中国 and 日本 towards partisan, ウクライナ and 北朝鮮 towards wire), and the tie-break on
    # the seed favoured names of the seed's own outlets.  A score must not move when a text
    # names another country; "keep" remains a parameter for experiments.
    "proper_nouns": ["class"],
    "quotes": list(QUOTE_MODES),
    "markers": [False, True],
    "marker_scale": [0.2, 0.5, 1.0, 2.0],
    "marker_densities": [False, True],
    # True is Platt (sigmoid) scaling; "isotonic" a monotone step function of the logit.
    "calibrate": [False, True, "isotonic"],
}
REGRESSION_TOLERANCE = 0.01
#: Also report leave-one-topic-out figures with the marker block flipped (the model card's
#: "with and without marker features" comparison).
COMPARE_MARKERS = True
LEARNING_FRACTIONS = (0.25, 0.5, 0.75, 1.0)

Log = Callable[[str], None]


@dataclass
class TrainResult:
    """What a training run did: the model (None when skipped), its metadata and paths."""

    skipped: bool
    model: Model | None
    metadata: dict
    model_dir: Path
    card_paths: tuple[Path, ...] = ()


def saved_metadata(model_dir: Path) -> dict:
    """The metadata saved beside a model, or {} when there is none (or it is unreadable)."""
    meta = Path(model_dir) / META_FILE
    if not meta.exists():
        return {}
    try:
        return json.loads(meta.read_text(encoding="utf-8"))
    except ValueError:
        return {}


class Docs:
    """The labeled texts analyzed once (MeCab runs once per text), with the terms of every
    term setting (proper nouns, quotes) derived from the same tokens on demand."""

    def __init__(self, texts) -> None:
        self._base = analyze_all(texts)
        self._by_mode: dict[tuple[str, str], list[TokenizedText]] = {}

    def get(self, params: dict) -> list[TokenizedText]:
        mode = (params.get("proper_nouns", "class"), params.get("quotes", "mark"))
        if mode not in self._by_mode:
            self._by_mode[mode] = [replace(d, terms=document_terms(d.words, *mode, walk=d.quotes)) for d in self._base]
        return self._by_mode[mode]


def cv_splits(kind: str, y: np.ndarray, frame, k: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test index splits of one CV kind: ``stratified``, ``topic`` or ``source``."""
    if kind == "stratified":
        folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=0)
        return list(folds.split(np.zeros(len(y)), y))
    groups = frame[kind].to_numpy()
    if len(np.unique(groups)) < 2:
        return []
    splits = []
    for train, test in LeaveOneGroupOut().split(np.zeros(len(y)), y, groups):
        if len(np.unique(y[train])) == 2:  # a fold must see both classes to learn anything
            splits.append((train, test))
    return splits


def evaluate_params(params: dict, docs: Docs, y: np.ndarray, splits) -> tuple[dict, np.ndarray]:
    """Out-of-fold metrics and p_wire of one parameter setting under given splits."""
    p_wire = out_of_fold(params, docs.get(params), y, splits)
    covered = ~np.isnan(p_wire)
    return binary_metrics(y[covered], p_wire[covered]), p_wire


class Evaluator:
    """Out-of-fold figures of parameter settings under the named CV splits, each computed once.

    The search, the final figures and the marker comparison ask for the same (setting,
    splits) pairs: the second ask is free.
    """

    def __init__(self, docs: Docs, y: np.ndarray, splits: dict[str, list]) -> None:
        self.docs = docs
        self.y = y
        self.splits = splits
        self._done: dict[tuple[str, str], tuple[dict, np.ndarray]] = {}

    def __call__(self, params: dict, kind: str) -> tuple[dict, np.ndarray]:
        key = (json.dumps(params, sort_keys=True), kind)
        if key not in self._done:
            self._done[key] = evaluate_params(params, self.docs, self.y, self.splits[kind])
        return self._done[key]

    def has(self, kind: str) -> bool:
        return bool(self.splits.get(kind))


#: Score differences at most this big are noise (about five texts on each CV of this set):
#: within it the real texts decide.  A wider band let the search drift: a chain of settings
#: each a little worse but with a lower log loss on the 43 real texts.
SEARCH_TIE = 0.002


def selection_score(trial: dict) -> float:
    """What the search maximizes: the mean of leave-one-topic-out and leave-one-source-out
    macro-F1 (topic-out alone when there is a single source).

    A real dump brings topics nobody labeled *and* outlets and voices nobody imitated; a
    setting that wins on topics by learning the labels' voices loses on sources, and the
    reverse, so both count.
    """
    if trial.get("source_macro_f1") is None:
        return trial["macro_f1"]
    return (trial["macro_f1"] + trial["source_macro_f1"]) / 2


def better_trial(candidate: dict, best: dict, top: float | None = None) -> bool:
    """Whether a search trial beats the best so far.

    :func:`selection_score` decides.  Differences within :data:`SEARCH_TIE` are noise, so
    within that band the setting with the lower log loss on the held-out real texts wins
    (when there are real texts), then the lower ECE.  ``top`` is the highest score of the
    settings the search has moved to: a tie-break never takes it more than one band below
    that, so a chain of slightly worse settings cannot walk the search downhill.
    """
    score = selection_score(candidate)
    gap = score - selection_score(best)
    if abs(gap) > SEARCH_TIE:
        return gap > 0
    if top is not None and score < top - SEARCH_TIE:
        return False
    tie_breaks = ("real_log_loss", "ece", "log_loss")
    for key in tie_breaks:
        a, b = candidate.get(key), best.get(key)
        if a is not None and b is not None and round(a, 4) != round(b, 4):
            return a < b
    return False


def trial_record(params: dict, evaluate: Evaluator) -> dict:
    """One search trial: the setting and its leave-one-topic-out, leave-one-source-out and
    real-text figures, and how long they took."""
    started = time.perf_counter()
    topic, _ = evaluate(params, "topic")
    record = {
        "params": dict(params),
        "macro_f1": topic["macro_f1"],
        "ece": topic["ece"],
        "log_loss": topic["log_loss"],
        "accuracy": topic["accuracy"],
        "partisan_recall": topic["per_class"]["partisan"]["recall"],
    }
    if evaluate.has("source"):
        source, _ = evaluate(params, "source")
        record.update(source_macro_f1=source["macro_f1"], source_ece=source["ece"],
                      source_partisan_recall=source["per_class"]["partisan"]["recall"])
    if evaluate.has("real"):
        real, _ = evaluate(params, "real")
        record.update(real_macro_f1=real["macro_f1"], real_log_loss=real["log_loss"])
    record["score"] = selection_score(record)
    record["seconds"] = round(time.perf_counter() - started, 1)
    return record


def search_params(evaluate: Evaluator, *, start: dict, passes: int = 2, log: Log) -> tuple[dict, list[dict]]:
    """Coordinate search over :data:`SEARCH_SPACE`: one parameter at a time, each value
    tried with the others at their best so far, for ``passes`` passes (see
    :func:`better_trial` for the order of the criteria).

    Returns the best parameters and every trial (see :func:`trial_record`).
    """
    best = dict(start)
    tried: dict[str, dict] = {}

    def trial(params: dict) -> dict:
        key = json.dumps(params, sort_keys=True)
        if key not in tried:
            tried[key] = trial_record(params, evaluate)
            t = tried[key]
            log(f"search: {_changed(params, start)} -> topic-out {t['macro_f1']:.3f}"
                + (f", source-out {t['source_macro_f1']:.3f}" if "source_macro_f1" in t else "")
                + f" ({t['seconds']:.0f} s)")
        return tried[key]

    best_trial = trial(best)
    top = best_trial["score"]
    for _ in range(passes):
        changed = False
        for name, values in SEARCH_SPACE.items():
            for value in values:
                candidate = {**best, name: value}
                result = trial(candidate)
                if better_trial(result, best_trial, top):
                    best, best_trial, changed = candidate, result, True
                    top = max(top, result["score"])
        log(f"search: best so far {best} (score {best_trial['score']:.3f})")
        if not changed:
            break
    return best, list(tried.values())


def _changed(params: dict, start: dict) -> str:
    """The parameters that differ from the starting setting, for the search log."""
    diff = {k: v for k, v in params.items() if start.get(k) != v}
    return ", ".join(f"{k}={v}" for k, v in diff.items()) or "starting setting"


REAL_TEXT_FILES = ("seed",)


def real_text_split(frame) -> tuple[np.ndarray, np.ndarray] | None:
    """Train on the written labels, test on the real ones (files named ``seed*.jsonl``).

    The only texts in the set that nobody here wrote are the seed dump's: how a model
    trained on the rest does on them is the nearest figure to how it does on real dumps.
    """
    real = frame["file"].str.startswith(REAL_TEXT_FILES).to_numpy()
    y = frame["label"].to_numpy()
    if real.all() or not real.any() or len(np.unique(y[~real])) < 2:
        return None
    return np.where(~real)[0], np.where(real)[0]


def learning_curve(params: dict, docs: Docs, y: np.ndarray, frame, fractions=None) -> list[dict]:
    """Leave-one-topic-out macro-F1 when each training fold keeps only a fraction of its rows."""
    rng = np.random.default_rng(0)
    rows = []
    for fraction in fractions or LEARNING_FRACTIONS:
        splits = []
        for train, test in cv_splits("topic", y, frame):
            keep = train if fraction >= 1.0 else rng.choice(train, size=max(4, int(len(train) * fraction)), replace=False)
            if len(np.unique(y[keep])) == 2:
                splits.append((np.sort(keep), test))
        metrics, _ = evaluate_params(params, docs, y, splits)
        rows.append({"fraction": fraction, "n_train": int(len(y) * fraction), "macro_f1": metrics["macro_f1"], "ece": metrics["ece"]})
    return rows


def suspect_labels(frame, y: np.ndarray, p_wire: np.ndarray, top: int = 25) -> list[dict]:
    """The labels most likely wrong, ranked by cleanlab from out-of-fold probabilities."""
    from cleanlab.filter import find_label_issues

    classes = np.array(["partisan", "wire"])
    probs = np.column_stack([1 - p_wire, p_wire])
    y_index = (y == "wire").astype(int)
    ranked = find_label_issues(labels=y_index, pred_probs=probs, return_indices_ranked_by="self_confidence")
    out = []
    for i in ranked[:top]:
        row = frame.iloc[int(i)]
        out.append({"id": row["id"], "text": row["text"], "label": row["label"], "p_wire": round(float(p_wire[i]), 3),
                    "suggested": classes[int(p_wire[i] >= 0.5)], "topic": row["topic"], "source": row["source"]})
    return out


def top_features(model: Model, n: int = 25) -> dict[str, list[dict]]:
    """The features with the largest coefficients towards each class."""
    features = model.pipeline.named_steps["features"]
    clf = model.pipeline.named_steps["clf"]
    names = features.get_feature_names_out()
    coef = clf.coef_[0] if list(clf.classes_).index("wire") == 1 else -clf.coef_[0]
    order = np.argsort(coef)
    pretty = [name.split("__", 1)[1] for name in names]
    return {
        "wire": [{"feature": pretty[j], "coef": round(float(coef[j]), 3)} for j in order[::-1][:n]],
        "partisan": [{"feature": pretty[j], "coef": round(float(coef[j]), 3)} for j in order[:n]],
    }


def start_params(previous: dict, params: dict | None, search: bool) -> dict:
    """The hyper-parameters training starts from: ``params`` over the saved model's over
    :data:`~classifier.model.DEFAULT_PARAMS`.

    Starting from the saved model's setting keeps a retrain on a few new labels where the
    last search ended unless the search finds better (a coordinate search from the defaults
    can stop at another local optimum).  For a search, saved values the search space no
    longer holds fall back to the defaults.
    """
    saved = dict(previous.get("params") or {})
    if search:
        saved = {k: v for k, v in saved.items() if k not in SEARCH_SPACE or v in SEARCH_SPACE[k]}
    return {**DEFAULT_PARAMS, **saved, **(params or {})}


def train(
    labels_dir: str | Path = "labels",
    model_dir: str | Path | None = None,
    *,
    force: bool = False,
    accept_worse: bool = False,
    search: bool = True,
    params: dict | None = None,
    folds: int = 5,
    card_dir: str | Path | None = "reports",
    log: Log = lambda message: None,
) -> TrainResult:
    """Fit, evaluate and save the model; see the module docstring for the steps.

    Parameters
    ----------
    labels_dir:
        Folder of ``*.jsonl`` labels files.
    model_dir:
        Where to write ``postcred.joblib`` and ``postcred.json`` (default: the package's
        shipped model folder).
    force:
        Retrain even when the labels did not change.
    accept_worse:
        Replace the saved model even if the new one is worse on leave-one-topic-out macro-F1.
    search:
        Choose hyper-parameters by leave-one-topic-out CV; else keep the starting ones
        (:func:`start_params`) as they are.
    params:
        Hyper-parameters (the search starts from them) over the saved model's and
        :data:`~classifier.model.DEFAULT_PARAMS`; see :func:`start_params`.
    card_dir:
        Where to write ``model-card.md`` and ``model-card.html``; None for no card.
    """
    model_dir = Path(model_dir) if model_dir is not None else PACKAGE_MODEL_DIR
    labelset = load_labels(labels_dir)
    previous = saved_metadata(model_dir)
    if not force and previous.get("labels_digest") == labelset.digest:
        log(f"labels unchanged since the saved model ({labelset.digest[:12]}); nothing to do (use --force)")
        return TrainResult(True, None, previous, model_dir)
    check_training_dependencies(card=card_dir is not None)
    started = time.perf_counter()
    frame = labelset.frame
    y = frame["label"].to_numpy()
    log(f"{len(y)} labeled segments: " + ", ".join(f"{k} {v}" for k, v in zip(*np.unique(y, return_counts=True))))
    docs = Docs(frame["text"])
    params = start_params(previous, params, search)
    real = real_text_split(frame)
    source_splits = cv_splits("source", y, frame)
    evaluate = Evaluator(docs, y, {
        "topic": cv_splits("topic", y, frame),
        "source": source_splits if len(source_splits) >= 2 else [],
        "real": [real] if real is not None else [],
        "stratified": cv_splits("stratified", y, frame, folds),
    })
    grouped = len(evaluate.splits["topic"]) >= 2
    if search and grouped:
        params, trials = search_params(evaluate, start=params, log=log)
        extra: dict = {"search": trials, "search_info": {
            "ran": True, "date": _now(), "labels_digest": labelset.digest, "n_labels": int(len(y)),
            "settings": len(trials), "seconds": round(time.perf_counter() - started, 1), "criterion": SEARCH_CRITERION,
        }}
    else:
        extra = kept_search(previous, searched=search and not grouped)
    cv = {}
    cv["stratified"], oof = evaluate(params, "stratified")
    if evaluate.has("real"):
        cv["real_out"], _ = evaluate(params, "real")
    if grouped:
        cv["topic_out"], oof = evaluate(params, "topic")
        if evaluate.has("source"):
            cv["source_out"], source_oof = evaluate(params, "source")
            extra["source_recall"] = group_accuracy(frame, "source", source_oof)
        if COMPARE_MARKERS:
            other = {**params, "markers": not params["markers"]}
            cv["topic_out_markers_" + ("off" if params["markers"] else "on")], _ = evaluate(other, "topic")
        extra["learning_curve"] = learning_curve(params, docs, y, frame)
        extra["reliability"] = reliability_table((y == "wire").astype(int), oof)
    extra["suspect_labels"] = suspect_labels(frame, y, oof)
    _guard_regression(previous, cv, accept_worse)
    pipeline = build_pipeline(**params).fit(docs.get(params), y)
    model = Model(pipeline, make_metadata(labelset=labelset, params=params, cv=cv, extra=extra))
    model.metadata["top_features"] = top_features(model)
    model.metadata["data"] = data_statistics(frame)
    model.metadata["training_seconds"] = round(time.perf_counter() - started, 1)
    card_paths = save_model_and_card(model, model_dir, None if card_dir is None else Path(card_dir), oof=oof, y=y)
    return TrainResult(False, model, model.metadata, model_dir, card_paths)


SEARCH_CRITERION = "mean of leave-one-topic-out and leave-one-source-out macro-F1"
#: Import names of the ``train`` extra (pyproject.toml): cleanlab ranks the suspect labels,
#: matplotlib draws the model card's charts.
TRAIN_EXTRA = {"cleanlab": "the labels most likely wrong", "matplotlib": "the model card's charts"}


def check_training_dependencies(*, card: bool = True) -> None:
    """Raise :class:`DependencyError` naming what to install when a package of the ``train``
    extra is missing (matplotlib only when a model card is written).

    Runs before any work and any write, so that a retrain without the extra changes nothing
    on disk (it used to replace the model, then fail on the card).
    """
    missing = []
    for name, what in TRAIN_EXTRA.items():
        if name == "matplotlib" and not card:
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(f"{name} ({what})")
    if missing:
        raise DependencyError(
            "`postcred train` needs the `train` extra, and " + ", ".join(missing)
            + (" is" if len(missing) == 1 else " are") + " not installed: run `pip install -e '.[train]'` "
            "in the postcred folder (or `pip install 'postcred[train]'`); nothing was changed"
        )


def kept_search(previous: dict, *, searched: bool = False) -> dict:
    """The search record of a run that did not search: the saved model's, marked as kept.

    ``--no-search`` keeps the saved model's hyper-parameters, so the search that chose them
    is still the one that counts; the card says so instead of "0 settings".  ``searched``
    is a search that could not run (fewer than two topics).
    """
    trials = list(previous.get("search") or [])
    info = dict(previous.get("search_info") or {})
    if trials and not info:  # a model saved before the search was described
        info = {"date": previous.get("created"), "labels_digest": previous.get("labels_digest"),
                "n_labels": previous.get("n_labels"), "settings": len(trials)}
    info["ran"] = False
    info["reason"] = ("fewer than two topics: no leave-one-topic-out search possible" if searched
                      else "--no-search: the saved model's hyper-parameters were kept" if previous.get("params")
                      else "--no-search and no saved model: the default hyper-parameters were used")
    return {"search": trials, "search_info": info}


def save_model_and_card(model: Model, model_dir: Path, card_dir: Path | None, *, oof, y) -> tuple[Path, ...]:
    """Write the model, its metadata and the model card together: all of them or none.

    The card is rendered in memory first (a failure there writes nothing), written to
    temporary files beside its targets, then the model is saved; only when that succeeded
    are the card files renamed into place.  A failure while saving the model removes the
    temporary card files and leaves the old card with the old model.
    """
    if card_dir is None:
        save_model(model, model_dir)
        return ()
    from .modelcard import render_model_card

    pages = render_model_card(model.metadata, oof=oof, y=y)
    paths = tuple(card_dir / name for name in pages)
    with contextlib.ExitStack() as stack:
        for path, text in zip(paths, pages.values()):
            stack.enter_context(atomic_open(path)).write(text)
        save_model(model, model_dir)
    return paths


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _guard_regression(previous: dict, cv: dict, accept_worse: bool) -> None:
    old = previous.get("cv", {}).get("topic_out", {}).get("macro_f1")
    new = cv.get("topic_out", {}).get("macro_f1")
    if old is None or new is None or accept_worse:
        return
    if new < old - REGRESSION_TOLERANCE:
        raise RegressionError(
            f"the new model's leave-one-topic-out macro-F1 {new:.3f} is lower than the saved model's "
            f"{old:.3f} by more than {REGRESSION_TOLERANCE}; fix the labels or rerun with --accept-worse"
        )


def group_accuracy(frame, column: str, p_wire: np.ndarray) -> list[dict]:
    """Per group (a source, say), held out in turn: its label and the share scored right,
    worst first: which voices the model does not carry over to."""
    right = (p_wire >= 0.5) == (frame["label"].to_numpy() == "wire")
    rows = []
    for group, index in frame.groupby(column).indices.items():
        labels = frame["label"].iloc[index]
        rows.append({column: group, "label": labels.mode().iloc[0] if labels.nunique() == 1 else "mixed",
                     "n": int(len(index)), "right": round(float(right[index].mean()), 3)})
    return sorted(rows, key=lambda r: r["right"])


def data_statistics(frame) -> dict:
    """Counts by label, topic and source, hard cases, and text lengths by label."""
    lengths = frame["text"].str.len()
    return {
        "by_label": frame["label"].value_counts().sort_index().to_dict(),
        "by_topic": {t: g["label"].value_counts().to_dict() for t, g in frame.groupby("topic")},
        "by_source": frame["source"].value_counts().sort_index().to_dict(),
        "hard": int(frame["hard"].sum()),
        "length": {
            label: {q: int(lengths[frame["label"] == label].quantile(v)) for q, v in (("p10", 0.1), ("median", 0.5), ("p90", 0.9))}
            for label in sorted(frame["label"].unique())
        },
    }
