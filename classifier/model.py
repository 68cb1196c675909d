"""The model: a scikit-learn Pipeline (MeCab tokens -> TF-IDF [+ markers] -> logistic
regression), its training, cross-validation, persistence and per-segment explanation.

The Pipeline takes raw strings (or already analyzed :class:`~classifier.tokens.TokenizedText`
objects, which pass through untouched), so a notebook can call ``predict_proba`` on a list of
texts, and training can analyze each text once and reuse it across every CV fold.
"""

from __future__ import annotations

import io
import json
import pickle
import platform
import warnings
import zlib
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain, compress
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

import joblib
import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline

from .errors import ModelError
from .chargrams import CHAR_PREFIX, CharNgramVectorizer, chunk_token_contributions, token_contributions
from .labels import LABELS as LABEL_CLASSES
from .tokens import JapaneseTokenizer, TokenizedText, analyze, doc_terms, identity
from .trust import MODELS_DIR, is_trusted, sha256_hex, trust

PACKAGE_MODEL_DIR = MODELS_DIR
MODEL_FILE = "postcred.joblib"
META_FILE = "postcred.json"
WIRE = "wire"
#: A text every loaded model scores once, so that one which cannot fails at load time.
SHAPE_PROBE = "政府は4日、新たな方針を発表したと明らかにした。"

DEFAULT_PARAMS: dict = {
    "ngram_max": 1,
    "min_df": 2,
    "C": 4.0,
    "class_weight": "balanced",
    "proper_nouns": "class",
    "quotes": "mark",
    "markers": False,
    "marker_scale": 0.2,
    "marker_densities": False,
    "char_ngram_max": 0,
    "char_min_df": 2,
    "char_scale": 1.0,
    "calibrate": True,
}
#: The shortest character n-gram of the character block (``char_ngram_max`` 0: no block).
CHAR_NGRAM_MIN = 2

VERSIONED_PACKAGES = ("scikit-learn", "numpy", "scipy", "fugashi", "unidic-lite", "joblib", "emoji")


def logistic_regression(C: float, class_weight=None, max_iter: int = 2000) -> LogisticRegression:
    """The L2-penalized logistic regression of every postcred model.

    Solved in the dual by liblinear: with far more features than texts (word and character
    n-grams), the dual problem has one variable per text and converges in a fraction of a
    second where lbfgs on the primal took ten (measured on ``labels/``: 0.4 s against 8.5 s
    per fit, same predictions).  liblinear penalizes the intercept as one more feature of
    value 1, a negligible difference at the values of ``C`` searched.
    """
    return LogisticRegression(C=C, class_weight=class_weight, solver="liblinear", dual=True,
                              max_iter=max_iter, random_state=0)


class PlattCalibratedLogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression calibrated on its own out-of-fold decision values.

    ``method="sigmoid"`` (Platt scaling) re-scales the logit (``a * logit + b``);
    ``method="isotonic"`` maps it through a monotone step function fitted by isotonic
    regression.  Unlike ``CalibratedClassifierCV`` either way keeps one linear model with
    one ``coef_``, so the per-token explanation (coefficient x feature value) stays exact:
    with sigmoid the contributions, times ``a``, sum to the calibrated logit minus ``b``;
    with isotonic they sum to the logit of the linear model (minus its intercept), which
    decides the order of the texts, and ``p_wire`` is read off that logit by the step
    function (a contribution then says which way and how hard a feature pushed, not by how
    much ``p_wire`` moved).
    """

    def __init__(self, C: float = 1.0, class_weight=None, cv: int = 5, max_iter: int = 2000,
                 method: str = "sigmoid") -> None:
        self.C = C
        self.class_weight = class_weight
        self.cv = cv
        self.max_iter = max_iter
        self.method = method

    def _base(self) -> LogisticRegression:
        return logistic_regression(self.C, self.class_weight, self.max_iter)

    def fit(self, X, y):
        if self.method not in CALIBRATION_METHODS:
            raise ValueError(f"method must be one of {CALIBRATION_METHODS}, got {self.method!r}")
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        decision = np.zeros(len(y))
        folds = StratifiedKFold(n_splits=min(self.cv, np.bincount(np.unique(y, return_inverse=True)[1]).min()),
                                shuffle=True, random_state=0)
        for train, test in folds.split(X, y):
            decision[test] = self._base().fit(X[train], y[train]).decision_function(X[test])
        positive = y == self.classes_[1]
        if self.method == "isotonic":
            self.steps_ = isotonic_steps(decision, positive)
            self.scale_, self.shift_ = 1.0, 0.0
        else:
            scaler = LogisticRegression(C=1e6, max_iter=1000).fit(decision.reshape(-1, 1), positive)
            self.scale_ = float(scaler.coef_[0, 0])
            self.shift_ = float(scaler.intercept_[0])
        self.base_ = self._base().fit(X, y)
        self.coef_ = self.base_.coef_
        self.intercept_ = self.base_.intercept_
        return self

    def decision_function(self, X) -> np.ndarray:
        return self.scale_ * self.base_.decision_function(X) + self.shift_

    def predict_proba(self, X) -> np.ndarray:
        if getattr(self, "method", "sigmoid") == "isotonic":
            p = np.interp(self.base_.decision_function(X), *self.steps_)
        else:
            p = logistic(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]


CALIBRATION_METHODS = ("sigmoid", "isotonic")


def logistic(z: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + e^-z), without overflow for large negative z.

    Written with numpy rather than imported from scipy.special, whose import parses
    hundreds of docstrings (tens of milliseconds of ``postcred score``'s start-up)."""
    z = np.asarray(z, dtype=float)
    p = np.empty_like(z)
    positive = z >= 0
    p[positive] = 1.0 / (1.0 + np.exp(-z[positive]))
    e = np.exp(z[~positive])
    p[~positive] = e / (1.0 + e)
    return p


def isotonic_steps(decision: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The isotonic map from decision values to probabilities as two plain arrays (the
    fitted thresholds and their probabilities): ``np.interp`` over them is what
    ``IsotonicRegression(out_of_bounds="clip").predict`` computes.

    Kept as arrays rather than the fitted ``IsotonicRegression`` so that loading a model
    does not import ``sklearn.isotonic`` (and with it scipy.stats, a fifth of
    ``postcred score``'s start-up); scikit-learn is imported here, at training time only.
    """
    from sklearn.isotonic import IsotonicRegression

    fitted = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(decision, positive)
    return np.asarray(fitted.X_thresholds_, dtype=float), np.asarray(fitted.y_thresholds_, dtype=float)


def _classifier(p: dict):
    """The last step for hyper-parameters ``p``: ``calibrate`` False (plain logistic
    regression), True or "sigmoid" (Platt scaling), or "isotonic"."""
    if not p["calibrate"]:
        return logistic_regression(p["C"], p["class_weight"])
    method = "sigmoid" if p["calibrate"] is True else p["calibrate"]
    return PlattCalibratedLogisticRegression(C=p["C"], class_weight=p["class_weight"], method=method)


def build_pipeline(**params) -> Pipeline:
    """Build an unfitted Pipeline from hyper-parameters (see :data:`DEFAULT_PARAMS`)."""
    p = {**DEFAULT_PARAMS, **params}
    blocks = [
        (
            "tfidf",
            TfidfVectorizer(
                tokenizer=doc_terms,
                preprocessor=identity,
                lowercase=False,
                token_pattern=None,
                ngram_range=(1, p["ngram_max"]),
                min_df=p["min_df"],
                sublinear_tf=True,
            ),
        )
    ]
    if p["markers"]:
        from .markers import MarkerVectorizer

        blocks.append(("markers", MarkerVectorizer(scale=p["marker_scale"], densities=p["marker_densities"])))
    if p["char_ngram_max"]:
        blocks.append(("chars", CharNgramVectorizer(ngram_range=(CHAR_NGRAM_MIN, p["char_ngram_max"]),
                                                    min_df=p["char_min_df"], quotes=p["quotes"],
                                                    scale=p["char_scale"])))
    return Pipeline(
        [
            ("tokens", JapaneseTokenizer(proper_nouns=p["proper_nouns"], quotes=p["quotes"])),
            ("features", FeatureUnion(blocks)),
            ("clf", _classifier(p)),
        ]
    )


def analyze_all(texts: Iterable[str], proper_nouns: str = "class", quotes: str = "mark") -> list[TokenizedText]:
    """Tokenize every text once, for reuse across CV folds and feature blocks."""
    return [analyze(t, proper_nouns=proper_nouns, quotes=quotes) for t in texts]


def wire_probability(pipeline: Pipeline, docs: Sequence) -> np.ndarray:
    """``p_wire`` for each document (raw strings or analyzed texts)."""
    proba = pipeline.predict_proba(list(docs))
    wire_column = list(pipeline.classes_).index(WIRE)
    return proba[:, wire_column]


def _fit_and_predict(params: dict, train_docs: list, train_y: np.ndarray, test_docs: list) -> np.ndarray:
    return wire_probability(build_pipeline(**params).fit(train_docs, train_y), test_docs)


def out_of_fold(params: dict, docs: list, y: np.ndarray, splits: Iterable, n_jobs: int = 1) -> np.ndarray:
    """Out-of-fold ``p_wire`` for every document under the given train/test splits.

    ``n_jobs`` > 1 runs folds in parallel processes; measured on this 2-core machine with
    ~1,100 labels, shipping the analyzed documents to workers cost more than it saved, so
    the default is sequential.
    """
    from joblib import Parallel, delayed

    splits = list(splits)
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fit_and_predict)(params, [docs[i] for i in train], y[train], [docs[i] for i in test])
        for train, test in splits
    )
    p_wire = np.full(len(y), np.nan)
    for (_, test), predicted in zip(splits, results):
        p_wire[test] = predicted
    return p_wire


def package_versions() -> dict:
    """Versions of the packages a pickled model depends on, for the metadata."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@dataclass
class Model:
    """A fitted Pipeline with the metadata saved beside it."""

    pipeline: Pipeline
    metadata: dict = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return self.metadata.get("labels_digest", "")

    @property
    def sha256(self) -> str:
        """The SHA-256 of the model file it was loaded from or saved to ('' if neither)."""
        return self.metadata.get("sha256", "")

    def p_wire(self, docs: Sequence) -> np.ndarray:
        return wire_probability(self.pipeline, docs)


def save_model(model: Model, directory: str | Path) -> tuple[Path, Path]:
    """Write the Pipeline (see :func:`pipeline_bytes`) and its metadata (JSON) atomically into ``directory``,
    and record the model file's SHA-256 as trusted (see :mod:`classifier.trust`): in the
    package's record when ``directory`` is the shipped model's folder, else in this
    machine's record, so that a model trained here loads here without ``--trust-model``.
    """
    from .outputs import atomic_write_bytes, atomic_write_text

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model_path, meta_path = directory / MODEL_FILE, directory / META_FILE
    data = pipeline_bytes(model.pipeline)
    model.metadata["sha256"] = sha256_hex(data)
    atomic_write_bytes(model_path, data)
    atomic_write_text(meta_path, json.dumps(model.metadata, ensure_ascii=False, indent=2) + "\n")
    trust(model.metadata["sha256"], model_path, shipped=directory.resolve() == PACKAGE_MODEL_DIR.resolve())
    return model_path, meta_path


def pipeline_bytes(pipeline: Pipeline) -> bytes:
    """The model file's bytes: the Pipeline pickled (protocol 5) and zlib-compressed.

    ``joblib.load`` reads such a file (it recognises zlib streams), and
    :func:`_unpickle` reads it with the C unpickler: joblib's own format goes through
    Python's pure-Python unpickler, 0.4 s of ``postcred score``'s start-up for the 55,000
    character n-grams of the vocabulary, against 0.02 s.
    """
    return zlib.compress(pickle.dumps(pipeline, protocol=5), 6)


def model_paths(location: str | Path | None = None) -> tuple[Path, Path]:
    """The model file and its metadata file for ``--model``: the shipped model (None), a
    folder (its ``postcred.joblib`` and ``postcred.json``) or a model file (``other.joblib``
    and ``other.json`` beside it)."""
    if location is None:
        return PACKAGE_MODEL_DIR / MODEL_FILE, PACKAGE_MODEL_DIR / META_FILE
    location = Path(location)
    if location.is_dir() or (not location.exists() and not location.suffix):
        return location / MODEL_FILE, location / META_FILE
    return location, location.with_suffix(".json")


def load_model(location: str | Path | None = None, *, trust_model: bool = False,
               expected_sha256: str | None = None) -> Model:
    """Load a saved model: the shipped one (``location`` None), a model folder, or a model file.

    A model file is code (see :mod:`classifier.trust`): it is unpickled only when the
    SHA-256 of its bytes is the shipped model's or one trained on this machine, unless
    ``trust_model``; ``expected_sha256`` instead demands exactly those bytes (a worker
    process loading the model its parent already accepted).  The bytes are read once, so
    what was checked is what is loaded.  The loaded model's ``metadata["sha256"]`` is that
    hash, whatever the metadata file says.

    Raises :class:`ModelError` when the file is missing, untrusted, unreadable, not a
    postcred model or cannot score; warns when its metadata is missing or it was saved
    with other package versions than those installed.
    """
    model_path, meta_path = model_paths(location)
    data = _read_model_file(model_path)
    digest = sha256_hex(data)
    if expected_sha256 is not None:
        if digest != expected_sha256:
            raise ModelError(f"{model_path}: the model file changed while postcred was running; run again")
    elif not trust_model and not is_trusted(digest):
        raise ModelError(
            f"{model_path}: refusing to load a model this machine did not train and postcred did not ship "
            f"(sha256 {digest[:16]}...): a model file is code that runs when loaded; "
            "pass --trust-model only if you trust where it came from"
        )
    metadata = _read_metadata(meta_path)
    pipeline, sklearn_warning = _unpickle(data, model_path)
    _check_shape(pipeline, model_path)
    if metadata is None:
        warnings.warn(f"{model_path} has no metadata file ({meta_path.name}): the labels it was trained on, "
                      "its figures and package versions are unknown", stacklevel=2)
    _warn_versions(model_path, metadata or {}, sklearn_warning)
    return Model(pipeline=pipeline, metadata={**(metadata or {}), "sha256": digest})


def _read_model_file(model_path: Path) -> bytes:
    try:
        return model_path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{model_path}: model file not found; run `postcred train` to build it") from None
    except IsADirectoryError:
        raise ModelError(f"{model_path}: is a folder, not a model file") from None
    except OSError as exc:
        raise ModelError(f"{model_path}: cannot read the model file ({exc.strerror})") from None


#: Metadata fields other code reads, and the type each must have.
_METADATA_TYPES = {"created": str, "labels_digest": str, "versions": dict, "params": dict, "cv": dict}


def _read_metadata(meta_path: Path) -> dict | None:
    """The metadata beside a model (None when there is none)."""
    try:
        text = meta_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{meta_path}: cannot read the model's metadata ({exc}); run `postcred train`") from None
    try:
        metadata = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ModelError(f"{meta_path}: metadata is not valid JSON ({exc}); run `postcred train`") from None
    if not isinstance(metadata, dict):
        raise ModelError(f"{meta_path}: metadata is not a JSON object; run `postcred train`")
    for name, kind in _METADATA_TYPES.items():
        if name in metadata and not isinstance(metadata[name], kind):
            raise ModelError(f"{meta_path}: metadata field {name!r} is not a JSON "
                             f"{'string' if kind is str else 'object'}; run `postcred train`")
    return metadata


def _unpickle(data: bytes, model_path: Path):
    """The object a (trusted) model file holds, and scikit-learn's version warning if any."""
    from sklearn.exceptions import InconsistentVersionWarning

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pipeline = _load_pipeline(data)
    except Exception as exc:  # joblib/pickle raise many kinds on a corrupt file
        raise ModelError(
            f"{model_path}: cannot load the model ({type(exc).__name__}); it is corrupt or from "
            "an incompatible version: run `postcred train`"
        ) from None
    version = next((w.message for w in caught if isinstance(w.message, InconsistentVersionWarning)), None)
    return pipeline, version


def _load_pipeline(data: bytes):
    """Unpickle a model file: zlib over a plain pickle (what :func:`pipeline_bytes` writes)
    with the C unpickler, anything else (joblib's own format, older postcred models) with
    ``joblib.load``."""
    if data[:1] == b"\x78":
        try:
            raw = zlib.decompress(data)
        except zlib.error:
            raw = None
        if raw is not None and _JOBLIB_ARRAYS not in raw:
            return pickle.loads(raw)
    return joblib.load(io.BytesIO(data))


#: What joblib's own format pickles in place of each array (read only by joblib.load).
_JOBLIB_ARRAYS = b"NumpyArrayWrapper"


#: The Pipeline steps scoring reads by name.
REQUIRED_STEPS = ("tokens", "features", "clf")


def _check_shape(pipeline, model_path: Path) -> None:
    """Refuse what is not a fitted postcred Pipeline, and one that cannot score a text."""
    if not isinstance(pipeline, Pipeline):
        raise ModelError(f"{model_path}: not a fitted postcred model (it holds a {type(pipeline).__name__}); "
                         "run `postcred train`")
    steps = list(pipeline.named_steps)
    if any(step not in steps for step in REQUIRED_STEPS):
        raise ModelError(f"{model_path}: not a postcred model: its Pipeline has the steps {', '.join(steps)}, "
                         f"not {', '.join(REQUIRED_STEPS)}; run `postcred train`")
    classes = sorted(str(c) for c in getattr(pipeline, "classes_", ()))  # unfitted: no classes_
    if classes != sorted(LABEL_CLASSES):
        raise ModelError(f"{model_path}: not a fitted postcred model: it predicts "
                         f"{', '.join(classes) or 'nothing'}, not {' and '.join(LABEL_CLASSES)}; run `postcred train`")
    try:
        docs = pipeline.named_steps["tokens"].transform([SHAPE_PROBE])
        X, occurrences = transform_features(pipeline, docs)
        wire_probability_of_features(pipeline, X)
        explain(pipeline, docs, top=3, X=X, occurrences=occurrences)
    except Exception as exc:  # noqa: BLE001 - any failure here means the model cannot score
        raise ModelError(f"{model_path}: this model cannot score a text ({type(exc).__name__}: {exc}); "
                         "it is from an incompatible version or not a postcred model: run `postcred train`") from None


def _warn_versions(model_path: Path, metadata: dict, sklearn_warning) -> None:
    """Warn when the model was saved with other package versions than those installed."""
    saved = metadata.get("versions", {})
    current = package_versions()
    stale = [k for k in ("scikit-learn", "numpy") if saved.get(k) and saved.get(k) != current.get(k)]
    if stale:
        found = ", ".join(f"{k} {saved[k]}" for k in stale)
        installed = ", ".join(f"{k} {current[k]}" for k in stale)
    elif sklearn_warning is not None and not saved:
        found = f"scikit-learn {sklearn_warning.original_sklearn_version}"
        installed = f"scikit-learn {sklearn_warning.current_sklearn_version}"
    else:
        return
    warnings.warn(f"{model_path} was saved with {found}; installed: {installed}. "
                  "Retrain with `postcred train` if scores look wrong.", stacklevel=3)


def make_metadata(*, labelset, params: dict, cv: dict, extra: dict | None = None) -> dict:
    """The metadata saved beside a model: when, on what labels, how well, with what."""
    frame = labelset.frame
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "labels_digest": labelset.digest,
        "labels_files": list(labelset.files),
        "n_labels": int(len(frame)),
        "class_counts": {k: int(v) for k, v in frame["label"].value_counts().sort_index().items()},
        "params": params,
        "cv": cv,
        "versions": package_versions(),
        **(extra or {}),
    }


class Contribution(NamedTuple):
    """How much one feature moved one segment's logit towards wire (+) or partisan (-).

    ``spans`` are (start, end) character spans of the original text where it occurs.
    A named tuple (immutable, like the dataclass it replaced) because scoring builds tens
    of them per segment.
    """

    feature: str
    surface: str
    weight: float
    spans: tuple[tuple[int, int], ...]


def _linear_parts(pipeline: Pipeline) -> tuple[np.ndarray, float, float]:
    """(coef towards wire, the calibration scale) of the final linear step."""
    clf = pipeline.named_steps["clf"]
    coef = clf.coef_[0]
    if list(clf.classes_).index(WIRE) == 0:
        coef = -coef
    return coef, float(getattr(clf, "scale_", 1.0)), 0.0


class Occurrences(list):
    """Where the word n-gram columns occur in one document: per n-gram length n, the column
    of the n-gram starting at each token (None: not a feature), in token order; and, in
    ``chars``, where its character n-grams are (a :class:`~classifier.chargrams.CharColumns`,
    when the model has that block)."""

    __slots__ = ("chars",)

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.chars = None


def transform_features(pipeline: Pipeline, docs: Sequence[TokenizedText]) -> tuple[sparse.csr_matrix, list[Occurrences] | None]:
    """The feature matrix of analyzed documents, computed once for p_wire and the evidence.

    Equal to ``pipeline.named_steps["features"].transform(docs)``.  The TF-IDF block (and
    the character n-gram block) is counted here in one pass over each document's n-grams
    that also records where every n-gram occurs (the evidence spans need that); the counts
    then go through the fitted vectorizer's own TF-IDF weighting.  Returns the matrix and,
    per document, those occurrences (None when the Pipeline's feature step is not one this
    pass understands, and the step's own ``transform`` was used instead).
    """
    docs = list(docs)
    features = pipeline.named_steps["features"]
    if not isinstance(features, FeatureUnion) or features.transformer_weights:
        return sparse.csr_matrix(features.transform(docs)), None
    blocks = []
    occurrences = None
    offset = 0
    counted_chars = None
    for name, estimator in features.transformer_list:
        if estimator == "drop":
            continue
        counted = _tfidf_counts(estimator, docs, offset) if name == "tfidf" and occurrences is None else None
        if counted is not None:
            block, occurrences = counted
        elif hasattr(estimator, "transform_with_occurrences") and all(isinstance(d, TokenizedText) for d in docs):
            block, counted_chars = estimator.transform_with_occurrences(docs)
        else:
            block = estimator.transform(docs)
        block = sparse.csr_matrix(block)
        offset += block.shape[1]
        blocks.append(block)
    if counted_chars is not None and occurrences is not None:
        for doc_found in occurrences:
            doc_found.chars = counted_chars
    X = blocks[0] if len(blocks) == 1 else sparse.hstack(blocks, format="csr")
    return X, occurrences


def _tfidf_counts(vectorizer, docs: list[TokenizedText], offset: int) -> tuple[sparse.csr_matrix, list[Occurrences]] | None:
    """TF-IDF of ``docs`` as the fitted ``vectorizer`` computes it, with n-gram occurrences;
    None when the vectorizer is not configured the way :func:`build_pipeline` makes it."""
    if not (
        isinstance(vectorizer, TfidfVectorizer)
        and vectorizer.analyzer == "word"
        and vectorizer.tokenizer is doc_terms
        and vectorizer.preprocessor is identity
        and vectorizer.stop_words is None
        and not vectorizer.binary
        and hasattr(vectorizer, "_tfidf")
        and all(isinstance(d, TokenizedText) for d in docs)
    ):
        return None
    vocabulary = vectorizer.vocabulary_
    lookup = vocabulary.get
    min_n, max_n = vectorizer.ngram_range
    indices: list[int] = []
    counts: list[int] = []
    indptr = [0]
    occurrences: list[Occurrences] = []
    for doc in docs:
        terms = doc.terms
        found = Occurrences()
        for n in range(min_n, max_n + 1):
            grams = terms if n == 1 else map(" ".join, zip(*(terms[s:] for s in range(n))))
            found.append((n, list(map(lookup, grams))))  # vocabulary lookups at C speed
        counted = Counter(chain.from_iterable(columns for _, columns in found))  # at C speed too
        counted.pop(None, None)
        columns = sorted(counted)
        indices.extend(columns)
        counts.extend(map(counted.__getitem__, columns))
        indptr.append(len(indices))
        if offset:
            found = Occurrences((n, [None if j is None else offset + j for j in columns_n]) for n, columns_n in found)
        occurrences.append(found)
    X = sparse.csr_matrix(
        (np.asarray(counts, dtype=np.intc), np.asarray(indices, dtype=np.int32), np.asarray(indptr, dtype=np.int32)),
        shape=(len(docs), len(vocabulary)),
        dtype=vectorizer.dtype,
    )
    return vectorizer._tfidf.transform(X, copy=False), occurrences


def wire_probability_of_features(pipeline: Pipeline, X) -> np.ndarray:
    """``p_wire`` from an already computed feature matrix (see :func:`transform_features`)."""
    clf = pipeline.named_steps["clf"]
    return clf.predict_proba(X)[:, list(clf.classes_).index(WIRE)]


class FeatureIndex:
    """Which block (``tfidf``, ``markers``, ``chars``) a column of the feature matrix belongs
    to, and its name within the block, named a block at a time and only when asked.

    The character block alone has tens of thousands of n-grams, and naming every column
    cost about a tenth of a second of each start-up, while the evidence names only columns
    of the other blocks (character n-grams are shown by the words they cover)."""

    def __init__(self, features) -> None:
        if isinstance(features, FeatureUnion):
            parts = [(name, t) for name, t in features.transformer_list if t not in ("drop", None)]
        else:
            parts = [("features", features)]
        self._blocks: list[tuple[str, object, int, int]] = []
        start = 0
        for name, transformer in parts:
            size = len(transformer.vocabulary_) if hasattr(transformer, "vocabulary_") \
                else len(transformer.get_feature_names_out())
            self._blocks.append((name, transformer, start, start + size))
            start += size
        self._starts = [block[2] for block in self._blocks]
        self._names: dict[str, list[str]] = {}

    def block_range(self, name: str) -> tuple[int, int]:
        """The columns [first, last + 1) of block ``name``; (0, 0) without it."""
        for block, _, start, stop in self._blocks:
            if block == name:
                return start, stop
        return 0, 0

    def _block(self, column: int) -> tuple[str, object, int, int]:
        return self._blocks[bisect_right(self._starts, column) - 1]

    def block_of(self, column: int) -> str:
        return self._block(column)[0]

    def name(self, column: int) -> str:
        """The column's feature name without its block prefix (``によると``, ``marker:doubt``)."""
        block, transformer, start, _ = self._block(column)
        names = self._names.get(block)
        if names is None:
            names = self._names[block] = [str(n) for n in transformer.get_feature_names_out()]
        return names[column - start]


_INDEXES: dict[int, tuple[object, FeatureIndex]] = {}


def feature_index(features) -> FeatureIndex:
    """The :class:`FeatureIndex` of a fitted feature block, made once per object."""
    cached = _INDEXES.get(id(features))
    if cached is None or cached[0] is not features:
        if len(_INDEXES) > 8:
            _INDEXES.clear()
        cached = _INDEXES[id(features)] = (features, FeatureIndex(features))
    return cached[1]


def explain(
    pipeline: Pipeline,
    docs: Sequence[TokenizedText],
    top: int | None = None,
    *,
    X=None,
    occurrences: list[Occurrences] | None = None,
    spans: bool = True,
) -> list[list[Contribution]]:
    """Per document, every active feature's contribution ``coef * value`` to the logit,
    largest magnitude first (exact for a linear model: these sum to the logit minus the
    intercept), with the character spans where the feature occurs.

    Parameters
    ----------
    pipeline, docs:
        A fitted postcred Pipeline and analyzed documents.
    top:
        Keep only the ``top`` largest contributions per document (all when None or 0).
    X, occurrences:
        The output of :func:`transform_features` for ``docs``, when the caller already has
        it (scoring does: the features are computed once for p_wire and the evidence).
    spans:
        False to leave ``spans`` empty (the surface is still filled in): cheaper, for
        outputs that show only the top features.
    """
    docs = list(docs)
    features = pipeline.named_steps["features"]
    if X is None:
        X, occurrences = transform_features(pipeline, docs)
    X = sparse.csr_matrix(X)
    X.sort_indices()
    index = feature_index(features)
    coef, scale, _ = _linear_parts(pipeline)
    all_weights = coef[X.indices] * X.data * scale
    all_rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    # The character n-gram block is put back on the text in one go per document (see
    # _char_contributions); every other feature is a contribution of its own.
    low, high = index.block_range("chars")
    is_char = (X.indices >= low) & (X.indices < high) & (all_weights != 0.0)
    own = ~is_char & (all_weights != 0.0)
    columns, weights, rows = X.indices[own], all_weights[own], all_rows[own]
    blocks = dict(features.transformer_list) if isinstance(features, FeatureUnion) else {}
    if top and not spans and occurrences is not None:
        char_tokens = (_char_token_weights(blocks["chars"], docs, X, coef * scale, (low, high), occurrences, flat=True)
                       if high > low else None)
        return _top_contributions(docs, top, (rows, columns, weights), char_tokens, index, blocks, occurrences)
    # Per row, largest |weight| first; ties keep column order, as a stable sort would.
    order = np.lexsort((columns, -np.abs(weights), rows))
    if top:  # no row shows more than ``top`` of its own: only those become Python objects
        first_of_row = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(docs)))])
        order = order[np.arange(len(order)) - first_of_row[rows[order]] < top]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(rows[order], minlength=len(docs)))]).tolist()
    columns, weights = columns[order].tolist(), weights[order].tolist()
    has_marker_spans = hasattr(blocks.get("markers"), "feature_spans")
    char_tokens = _char_token_weights(blocks["chars"], docs, X, coef * scale, (low, high), occurrences) if high > low else None
    out: list[list[Contribution]] = []
    for i, doc in enumerate(docs):
        found = occurrences[i] if occurrences is not None else None
        positions = None
        marker_spans = None
        # The character contributions, strongest first, are merged into the ordered features.
        chars = _char_contributions(doc, char_tokens[i], spans, top) if char_tokens is not None else []
        c = 0
        contributions = []
        for k in range(bounds[i], bounds[i + 1]):
            weight = weights[k]
            while c < len(chars) and abs(chars[c].weight) > abs(weight) and not (top and len(contributions) >= top):
                contributions.append(chars[c])
                c += 1
            if top and len(contributions) >= top:
                break
            j = columns[k]
            feature = index.name(j)
            if index.block_of(j) != "tfidf":
                if marker_spans is None:
                    marker_spans = blocks["markers"].feature_spans(doc) if has_marker_spans else {}
                where, surface = marker_spans.get(feature, ((), feature))
            elif found is None:
                where, surface = _ngram_spans(doc, feature.split(" "))
            elif spans:
                if positions is None:
                    positions = _positions(found)
                where, surface = _occurrence_spans(doc, positions.get(j), feature)
            else:
                where, surface = (), _first_surface(doc, found, j, feature)
            contributions.append(Contribution(feature, surface, weight, tuple(where) if spans else ()))
        contributions.extend(chars[c:])
        out.append(contributions[:top] if top else contributions)
    return out


def _top_contributions(docs: list[TokenizedText], top: int, own: tuple[np.ndarray, np.ndarray, np.ndarray],
                       char_tokens: tuple[np.ndarray, np.ndarray] | None, index: FeatureIndex, blocks: dict,
                       occurrences: list[Occurrences]) -> list[list[Contribution]]:
    """:func:`explain`'s ``top`` strongest contributions per document, without spans, the
    ordering done for the whole chunk at once so that only the contributions kept become
    Python objects.

    The same list :func:`explain` makes with spans, cut to ``top``: the features of their
    own (``own``: rows, columns, weights) and one character contribution per distinct word
    surface of a document (its tokens' weights summed in token order) are ordered by
    largest magnitude first; on a tie a feature of its own comes before a character
    contribution, features among themselves in column order, character contributions in
    order of the word's first appearance.
    """
    rows, columns, weights = own
    surfaces: list[str] = []
    if char_tokens is not None:
        char_rows, char_weights, firsts, surfaces = _word_groups(docs, *char_tokens)
    else:
        char_rows = char_weights = firsts = np.zeros(0, dtype=np.int64)
    by_first = np.argsort(firsts, kind="stable")  # own features are in (row, column) order already
    char_rows, char_weights, firsts = char_rows[by_first], char_weights[by_first], firsts[by_first]
    n = len(docs)
    own_count = np.bincount(rows, minlength=n)
    char_count = np.bincount(char_rows, minlength=n)
    # Each one's place in its row: its own features first, then its character contributions.
    place = np.concatenate([
        np.arange(len(rows)) - np.concatenate([[0], np.cumsum(own_count)])[rows],
        np.arange(len(char_rows)) - np.concatenate([[0], np.cumsum(char_count)])[char_rows] + own_count[char_rows],
    ])
    is_char = np.concatenate([np.zeros(len(rows), dtype=np.int8), np.ones(len(char_rows), dtype=np.int8)])
    all_rows = np.concatenate([rows, char_rows]).astype(np.int64, copy=False)
    all_weights = np.concatenate([weights, char_weights]).astype(np.float64, copy=False)
    ties = np.concatenate([columns, firsts]).astype(np.int64, copy=False)
    magnitude = np.abs(all_weights)
    candidates = np.flatnonzero(_among_strongest(all_rows, place, magnitude, own_count + char_count, top))
    # Within a row, largest magnitude first, ties in the order of their places.
    order = candidates[np.lexsort((place[candidates], -magnitude[candidates], all_rows[candidates]))]
    per_row = np.bincount(all_rows[order], minlength=n)
    first_of_row = np.concatenate([[0], np.cumsum(per_row)])
    order = order[np.arange(len(order)) - first_of_row[all_rows[order]] < top]
    bounds = np.concatenate([[0], np.cumsum(np.minimum(per_row, top))]).tolist()
    kept_char = is_char[order].tolist()
    kept_weights, kept_ties = all_weights[order].tolist(), ties[order].tolist()
    marker_block = blocks.get("markers")
    out: list[list[Contribution]] = []
    for i, doc in enumerate(docs):
        marker_spans = None
        contributions = []
        for k in range(bounds[i], bounds[i + 1]):
            weight, tie = kept_weights[k], kept_ties[k]
            if kept_char[k]:
                surface = surfaces[tie]
                contributions.append(Contribution(CHAR_PREFIX + surface, surface, weight, ()))
                continue
            feature = index.name(tie)
            if index.block_of(tie) != "tfidf":
                if marker_spans is None:
                    marker_spans = marker_block.feature_spans(doc) if hasattr(marker_block, "feature_spans") else {}
                surface = marker_spans.get(feature, ((), feature))[1]
            else:
                surface = _first_surface(doc, occurrences[i], tie, feature)
            contributions.append(Contribution(feature, surface, weight, ()))
        out.append(contributions)
    return out


_WIDEST_ROW = 256


def _among_strongest(rows: np.ndarray, place: np.ndarray, magnitude: np.ndarray, row_sizes: np.ndarray,
                     top: int) -> np.ndarray:
    """Which entries are at least as strong as the ``top``-th strongest of their row (every
    entry of a row with fewer): a superset of each row's ``top`` strongest, found without
    sorting, so that only a few entries a row need to be sorted.

    The magnitudes are laid out as a matrix of rows, partitioned row by row; rows longer
    than :data:`_WIDEST_ROW` (a rare, very long segment) keep all their entries rather than
    widen the matrix for every row."""
    keep = np.ones(len(rows), dtype=bool)
    if not len(rows):
        return keep
    width = int(min(row_sizes.max(), _WIDEST_ROW))
    if width <= top:
        return keep
    fits = row_sizes[rows] <= width
    matrix = np.full((len(row_sizes), width), -1.0)
    matrix[rows[fits], place[fits]] = magnitude[fits]
    threshold = np.partition(matrix, width - top, axis=1)[:, width - top]
    keep[fits] = magnitude[fits] >= threshold[rows[fits]]
    return keep


def _word_groups(docs: list[TokenizedText], per_token: np.ndarray,
                 token_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The character contributions of a chunk grouped by word surface within each document:
    per group its document, its weight (its tokens' weights summed in token order) and the
    index, in the returned surfaces, of its first token; the surfaces are those of the
    tokens with a weight, in order."""
    has_weight = per_token != 0.0
    surfaces: list[str] = []
    for doc in docs:
        surfaces.extend(map(doc.text.__getitem__, map(slice, doc.starts, doc.ends)))
    surfaces = list(compress(surfaces, has_weight.tolist()))
    ids = dict(zip(dict.fromkeys(surfaces), range(len(surfaces))))  # each surface a number, at C speed
    surface_ids = np.fromiter(map(ids.__getitem__, surfaces), dtype=np.int64, count=len(surfaces))
    token_docs = np.repeat(np.arange(len(docs), dtype=np.int64), np.diff(token_offsets))[has_weight]
    keys = token_docs * max(len(ids), 1) + surface_ids
    unique, firsts, groups = np.unique(keys, return_index=True, return_inverse=True)
    weights = np.bincount(groups.reshape(-1), weights=per_token[has_weight], minlength=len(unique))
    return unique // max(len(ids), 1), weights, firsts, surfaces


def _positions(found: Occurrences) -> dict[int, tuple[int, list[int]]]:
    """Column -> (n, the token indices where its n-gram starts), from a document's occurrences."""
    positions: dict[int, tuple[int, list[int]]] = {}
    for n, columns in found:
        for k, j in enumerate(columns):
            if j is not None:
                seen = positions.get(j)
                if seen is None:
                    positions[j] = (n, [k])
                else:
                    seen[1].append(k)
    return positions


def _first_surface(doc: TokenizedText, found: Occurrences, j: int, feature: str) -> str:
    """The text of the first occurrence of column ``j``'s n-gram (searched at C speed)."""
    for n, columns in found:
        k = -1
        while True:
            try:
                k = columns.index(j, k + 1)
            except ValueError:
                break
            surface = doc.text[doc.starts[k] : doc.ends[k + n - 1]]
            if surface:
                return surface
    return feature


def _occurrence_spans(doc: TokenizedText, found: tuple[int, list[int]] | None,
                      feature: str) -> tuple[list[tuple[int, int]], str]:
    """Spans and surface of one n-gram feature from its recorded occurrences."""
    if not found:
        return [], feature
    n, positions = found
    starts, ends = doc.starts, doc.ends
    surface = ""
    where = []
    for k in positions:
        start, end = starts[k], ends[k + n - 1]
        if not surface and end > start:
            surface = doc.text[start:end]
        where.append((start, end))
    return where, surface or feature


def _char_token_weights(vectorizer, docs: list[TokenizedText], X: sparse.csr_matrix, coef: np.ndarray,
                        block: tuple[int, int], occurrences: list[Occurrences] | None, *, flat: bool = False):
    """Per document, the character n-gram block's contribution to the logit on each token
    (see :func:`classifier.chargrams.token_contributions`), for the whole chunk at once;
    ``flat``: the chunk's token weights end to end and where each document's begin."""
    low, high = block
    positions = occurrences[0].chars if occurrences else None
    if positions is None or positions.n_docs != len(docs) or any(o.chars is not positions for o in occurrences):
        _, positions = vectorizer.transform_with_occurrences(docs)  # a caller that passed its own matrix
    contributions = sparse.csr_matrix(X[:, low:high].multiply(coef[low:high]))
    return (chunk_token_contributions if flat else token_contributions)(positions, contributions)


def _char_contributions(doc: TokenizedText, per_token: np.ndarray, spans: bool,
                        top: int | None = None) -> list[Contribution]:
    """A document's character n-gram evidence as one contribution per word: the tokens
    with a weight, those of the same text together, strongest first, ties in order of
    first appearance (only the ``top`` strongest when given).  The feature reads ``char:``
    and that text (``char:しました``).

    The order is one sort whose key is a list's ``__getitem__`` (C speed), not a Python
    function called per word."""
    grouped: dict[str, list] = {}
    starts, ends, text = doc.starts, doc.ends, doc.text
    weights = per_token.tolist()
    for k in compress(range(len(weights)), weights):  # the tokens with a weight
        start, end = starts[k], ends[k]
        surface = text[start:end]
        entry = grouped.get(surface)
        if entry is None:
            grouped[surface] = [weights[k], [(start, end)]]
        else:
            entry[0] += weights[k]
            entry[1].append((start, end))
    items = list(grouped.items())
    strength = [-abs(entry[0]) for entry in grouped.values()]
    order = sorted(range(len(items)), key=strength.__getitem__)  # stable: ties keep their order
    return [Contribution(CHAR_PREFIX + surface, surface, weight, tuple(where) if spans else ())
            for surface, (weight, where) in map(items.__getitem__, order[:top] if top else order)]


def _ngram_spans(doc: TokenizedText, gram: list[str]) -> tuple[list[tuple[int, int]], str]:
    spans = []
    surface = ""
    n = len(gram)
    for k in range(len(doc.terms) - n + 1):
        if doc.terms[k : k + n] == gram:
            start, end = doc.starts[k], doc.ends[k + n - 1]
            spans.append((start, end))
            if not surface:
                surface = doc.text[start:end]
    return spans, surface or " ".join(gram)
