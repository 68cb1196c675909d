"""Topic words a merge of corrections would teach the model.

The model should learn register (attribution, reporting verbs, loaded language), not
topics.  A correction is a text the model got wrong, and training on it moves weight onto
its words until the model gets it right; a noun that few labels rows use has nothing
holding it back.  One correction about a tsunami warning, labeled wire, moves 津波 from
+0.35 to +1.01 towards wire and 沿岸 from +0.29 to +1.18 (its word and the character
n-grams cut across it; measured on labels/ of 3,200 rows): the next post about a
tsunami leans wire for its topic alone.

The check is a quick fit, so it measures what it warns about: the model's linear step
(the saved model's hyper-parameters, without the calibration, which leaves the
coefficients as they are) is fitted on the labels before and after the merge, and the
nouns of each merged text whose coefficient towards its label grew by :data:`GAIN` or
more, to :data:`STRONG` or more, are named with both coefficients and the number of
labels rows that use them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .chargrams import char_gram_runs, char_text, feature_name
from .model import CHAR_NGRAM_MIN, DEFAULT_PARAMS, META_FILE, PACKAGE_MODEL_DIR, WIRE, build_pipeline
from .tokens import TokenizedText, analyze

#: The least growth of a noun's coefficient towards the label that counts as taught by the merge.
GAIN = 0.5
#: The least coefficient towards the label, after the merge, worth a warning.
STRONG = 0.5
NOUN = "名詞"


@dataclass(frozen=True, slots=True)
class TopicWord:
    """A noun of a merged text that the merge makes a word for its label.

    ``before`` and ``after`` are its coefficients towards that label (0 when the model had
    no such feature); ``rows`` the labels rows that used it before the merge.
    """

    word: str
    before: float
    after: float
    rows: int

    def __str__(self) -> str:
        used = f"in {self.rows} labels row{'s' if self.rows != 1 else ''}" if self.rows else "in no labels row"
        return f"{self.word} ({self.before:+.2f} -> {self.after:+.2f}, {used})"


def saved_params() -> dict:
    """The shipped model's hyper-parameters (the defaults when its metadata is unreadable)."""
    try:
        params = json.loads((PACKAGE_MODEL_DIR / META_FILE).read_text(encoding="utf-8")).get("params")
    except (OSError, ValueError):
        params = None
    return {**DEFAULT_PARAMS, **params} if isinstance(params, dict) else dict(DEFAULT_PARAMS)


def nouns(doc: TokenizedText) -> dict[str, int]:
    """The nouns of a text as the model's terms (placeholders such as ``<PLACE>`` left
    out), each with the index of its first token."""
    found: dict[str, int] = {}
    for k, (token, term) in enumerate(zip(doc.tokens, doc.terms)):
        if token.kind == NOUN and not term.startswith("<"):
            found.setdefault(term, k)
    return found


def character_shares(doc: TokenizedText, coef: dict[str, float], params: dict) -> dict[int, float]:
    """Per token of ``doc``, its share of the character n-gram block's coefficients: each
    n-gram's coefficient spread over the tokens its characters came from (the way the
    evidence spreads them, see :mod:`classifier.chargrams`); empty without that block.

    Without it a word the labels use once or twice (below the word block's ``min_df``)
    would look untaught while its characters carry it."""
    shares: dict[int, float] = {}
    if not params.get("char_ngram_max"):
        return shares
    text = char_text(doc)
    owner = text.owner
    for n, grams in char_gram_runs(text, (CHAR_NGRAM_MIN, params["char_ngram_max"]), params["quotes"]):
        for i, gram in enumerate(grams):
            weight = coef.get(feature_name(gram))
            if weight:
                for k in owner[i : i + n]:
                    if k >= 0:  # white space between tokens belongs to none
                        shares[k] = shares.get(k, 0.0) + weight / n
    return shares


def coefficients(docs: Sequence[TokenizedText], labels: Sequence[str], params: dict) -> dict[str, float]:
    """Each feature's coefficient towards wire after fitting the model's linear step."""
    try:
        pipeline = build_pipeline(**{**params, "calibrate": False}).fit(list(docs), np.asarray(labels))
    except ValueError:
        # A labels set too small for the saved minimum document counts (pruning leaves no
        # term): every term counts, as it would once the set has grown.
        pipeline = build_pipeline(**{**params, "calibrate": False, "min_df": 1, "char_min_df": 1}).fit(
            list(docs), np.asarray(labels))
    names = pipeline.named_steps["features"].get_feature_names_out()
    clf = pipeline.named_steps["clf"]
    coef = clf.coef_[0] if list(clf.classes_).index(WIRE) == 1 else -clf.coef_[0]
    return {name.split("__", 1)[1]: float(c) for name, c in zip(names, coef)}


def topic_words(
    before: Sequence[tuple[str, str]],
    after: Sequence[tuple[str, str]],
    merged: Sequence[tuple[str, str]],
    params: dict | None = None,
) -> list[list[TopicWord]]:
    """For each merged ``(text, label)``, the nouns the merge makes words for its label.

    ``before`` and ``after`` are the labels' ``(text, label)`` rows without and with the
    merge.  Returns one list per merged text (strongest first); every list is empty when
    either set lacks one of the labels (no model can be fitted).
    """
    if not merged or len({label for _, label in before}) < 2 or len({label for _, label in after}) < 2:
        return [[] for _ in merged]
    params = params or saved_params()
    analyzed: dict[str, TokenizedText] = {}

    def doc(text: str) -> TokenizedText:
        if text not in analyzed:
            analyzed[text] = analyze(text, proper_nouns=params["proper_nouns"], quotes=params["quotes"])
        return analyzed[text]

    old = coefficients([doc(t) for t, _ in before], [y for _, y in before], params)
    new = coefficients([doc(t) for t, _ in after], [y for _, y in after], params)
    rows: dict[str, int] = {}
    for text, _ in before:
        for word in nouns(doc(text)):
            rows[word] = rows.get(word, 0) + 1
    out = []
    for text, label in merged:
        sign = 1.0 if label == WIRE else -1.0
        found = []
        merged_doc = doc(text)
        old_chars, new_chars = character_shares(merged_doc, old, params), character_shares(merged_doc, new, params)
        for word, k in nouns(merged_doc).items():
            was = sign * (old.get(word, 0.0) + old_chars.get(k, 0.0))
            now = sign * (new.get(word, 0.0) + new_chars.get(k, 0.0))
            if now >= STRONG and now - was >= GAIN:
                found.append(TopicWord(word, round(was, 2), round(now, 2), rows.get(word, 0)))
        out.append(sorted(found, key=lambda w: (-w.after, w.word)))
    return out
