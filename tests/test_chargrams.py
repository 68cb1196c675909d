"""Character n-grams: cut from the placeholder string (never a name), equal to what
scikit-learn's TfidfVectorizer computes, and explained with the characters they came from."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from classifier.chargrams import (CharNgramVectorizer, char_gram_runs, char_grams, char_text, feature_name,
                                  vocabulary_keys)
from classifier.labels import load_labels
from classifier.model import build_pipeline, explain, load_model, transform_features, wire_probability_of_features
from classifier.tokens import analyze

from .conftest import LABELS

WIRE = [
    "ロシア外務省は11日、声明を発表しました。",
    "警察によりますと、男は容疑を認めているということです。",
    "気象庁は大雨への警戒を呼びかけています。",
    "中国政府の報道官は記者会見で「注視している」と述べた。",
]
PARTISAN = [
    "政府はまた国民の知らないところで増税を決めたんだよ！許せない🔥",
    "マスゴミは絶対に報じない。拡散希望 https://t.co/abc",
    "「増税反対!」「岸田は辞めろ!」",
    "こんな国、もう終わってるだろｗｗｗ",
]


@pytest.mark.parametrize(
    "template",
    ["{}外務省は声明を発表しました。", "{}の連中はまた嘘をついているんだよ！", "{}寄りの報道ばかり流すテレビ局にはうんざりだ。"],
)
def test_names_never_reach_the_character_ngrams(template):
    strings = {char_text(analyze(template.format(name))).string
               for name in ("中国", "アメリカ", "ロシア", "ウクライナ", "韓国", "イスラエル", "台湾")}
    assert len(strings) == 1, strings
    grams = char_grams(char_text(analyze(template.format("ロシア"))), (1, 5))
    assert not [g for g in grams if "ロ" in g or "シア" in g]


def test_numbers_links_and_emoji_are_placeholders_too():
    text = char_text(analyze("11月5日に1万1000人 https://t.co/x 🔥 @someone"))
    assert not any(c.isdigit() for c in text.string)
    assert "t.co" not in text.string and "🔥" not in text.string and "someone" not in text.string


def test_the_vectorizer_computes_what_tfidf_vectorizer_would():
    docs = [analyze(t) for t in WIRE + PARTISAN]
    ours = CharNgramVectorizer(ngram_range=(2, 4), min_df=2).fit(docs[:6])
    grams = [char_grams(char_text(d), (2, 4)) for d in docs]
    reference = TfidfVectorizer(analyzer=lambda g: g, lowercase=False, min_df=2, sublinear_tf=True).fit(grams[:6])
    assert ours.vocabulary_ == reference.vocabulary_
    assert abs(ours.transform(docs[6:]) - reference.transform(grams[6:])).max() < 1e-12
    counted, _ = ours.transform_with_occurrences(docs[6:])
    assert abs(counted - ours.transform(docs[6:])).max() < 1e-12


def test_quoted_ngrams_are_features_of_their_own():
    names = CharNgramVectorizer(min_df=1).fit([analyze("「増税反対!」と訴えた")]).get_feature_names_out()
    assert "char:q:増税" in names and "char:増税" not in names
    assert "char:と訴" in names


@pytest.fixture(scope="module")
def pipeline():
    docs = [analyze(t) for t in (WIRE + PARTISAN) * 2]
    y = np.array((["wire"] * 4 + ["partisan"] * 4) * 2)
    return build_pipeline(char_ngram_max=4, char_min_df=1, min_df=1, markers=True).fit(docs, y)


def test_character_evidence_is_one_contribution_per_word_with_its_span(pipeline):
    doc = analyze("気象庁は、大雨への警戒を呼びかけています。")
    contributions = explain(pipeline, [doc])[0]
    chars = [c for c in contributions if c.feature.startswith("char:")]
    assert chars
    assert len({c.feature for c in chars}) == len(chars)  # one entry per word, its places together
    for c in chars:
        assert c.feature == "char:" + c.surface
        assert c.spans and all(doc.text[s:e] == c.surface for s, e in c.spans)
    assert len(chars) <= len(doc.tokens)


def test_the_character_block_is_spread_over_words_exactly(pipeline):
    """The per-word character contributions add up to what the character n-grams
    contribute to the logit, n-gram by n-gram."""
    doc = analyze("政府は国民の知らないところで増税を決めたんだよ！許せない")
    X, _ = transform_features(pipeline, [doc])
    features = pipeline.named_steps["features"]
    names = list(features.get_feature_names_out())
    clf = pipeline.named_steps["clf"]
    wire = list(clf.classes_).index("wire")
    coef = clf.coef_[0] if wire == 1 else -clf.coef_[0]
    row = X.tocsr()[0]
    block = sum(coef[j] * v * clf.scale_ for j, v in zip(row.indices, row.data) if names[j].startswith("chars__"))
    spread = sum(c.weight for c in explain(pipeline, [doc])[0] if c.feature.startswith("char:"))
    assert spread == pytest.approx(block)


def test_explanations_sum_to_the_logit_and_agree_with_and_without_the_fast_path(pipeline):
    docs = [analyze(t) for t in ("政府は国民の知らないところで法改正を進めている。", "日銀は金利を据え置いた。")]
    X, occurrences = transform_features(pipeline, docs)
    assert abs(X - pipeline.named_steps["features"].transform(docs)).max() < 1e-12
    fast = explain(pipeline, docs, X=X, occurrences=occurrences)
    slow = explain(pipeline, docs)
    clf = pipeline.named_steps["clf"]
    logits = clf.decision_function(X)
    for i in range(len(docs)):
        assert [(c.feature, c.spans) for c in fast[i]] == [(c.feature, c.spans) for c in slow[i]]
        intercept = clf.scale_ * clf.intercept_[0] + clf.shift_
        assert sum(c.weight for c in fast[i]) == pytest.approx(logits[i] - intercept)


def test_a_pipeline_with_character_ngrams_pickles(tmp_path, pipeline):
    joblib.dump(pipeline, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    texts = ["台風で3人がけがをしました。", "売国奴は出ていけ！"]
    assert np.allclose(loaded.predict_proba(texts), pipeline.predict_proba(texts))


def test_isotonic_calibration_keeps_the_explanation_of_the_linear_logit():
    docs = [analyze(t) for t in (WIRE + PARTISAN) * 3]
    y = np.array((["wire"] * 4 + ["partisan"] * 4) * 3)
    fitted = build_pipeline(char_ngram_max=3, char_min_df=1, min_df=1, calibrate="isotonic").fit(docs, y)
    p = fitted.predict_proba(docs)[:, list(fitted.classes_).index("wire")]
    assert ((p >= 0.5) == (y == "wire")).all()
    clf = fitted.named_steps["clf"]
    X, _ = transform_features(fitted, docs[:1])
    contributions = explain(fitted, docs[:1])[0]
    assert sum(c.weight for c in contributions) == pytest.approx(clf.base_.decision_function(X)[0] - clf.intercept_[0])


def test_a_loaded_model_scores_a_batch_the_same_whatever_it_scored_before():
    """The table of n-grams is per process and grows batch by batch; the n-grams of a loaded
    model's vocabulary first met in a later batch count as they would have in the first
    (they were dropped: ``Model.p_wire`` and ``postcred evaluate`` scored every batch after
    the first with part of its character features missing)."""
    from classifier import chargrams
    from classifier.model import load_model

    first = ["気象庁は5日、関東地方に大雨警報を発表した。", "政府は新たな経済対策をまとめた。"]
    later = ["外務省報道官は記者会見で、周辺国に自制を求めたと明らかにした。",
             "マスコミは絶対に報じないけど、これが真実だよね😡 #拡散希望",
             "厚生労働省によると、新規感染者は前の週より1割ほど減った。"]
    def features(model, texts):
        return model.pipeline[:-1].transform(texts).toarray()

    chargrams._TABLES.clear()
    alone = features(load_model(), later)
    chargrams._TABLES.clear()
    model = load_model()
    features(model, first)
    after = features(model, later)
    assert after.shape == alone.shape and (after == alone).all()


EDGE_TEXTS = [
    "「増税反対!」と 訴えた q:増税 の人",  # a quotation, white space, and a literal "q:" beside a quoted n-gram
    "「 言った 」「『二重』の 引用」”閉じ",  # white space inside quotations, nested and stray brackets
    "Breaking news from Tokyo today 🔥 @someone https://t.co/x",
    "",
    "   ",
    "ｗｗｗ　すごい　ｗｗｗ！！",
]


def _occurrences(positions):
    """A CharPositions as comparable rows (its occurrences in any order)."""
    rows = sorted(zip(positions.docs.tolist(), positions.lengths.tolist(), positions.starts.tolist(),
                      positions.columns.tolist()))
    return rows, positions.owner.tolist(), positions.char_offsets.tolist(), positions.token_offsets.tolist()


@pytest.mark.parametrize("quotes", ["mark", "keep"])
def test_integer_keys_find_the_ngrams_the_strings_find(quotes):
    """Scoring looks the n-grams up as integer keys; cut as strings and looked up in the
    vocabulary they must be the same occurrences, in every corner of the placeholder string."""
    docs = [analyze(t) for t in WIRE + PARTISAN + EDGE_TEXTS]
    vectorizer = CharNgramVectorizer(ngram_range=(2, 4), min_df=1, quotes=quotes).fit(docs)
    assert "q:増税" in vectorizer.vocabulary_ or quotes == "keep"
    keys = vocabulary_keys(vectorizer.vocabulary_, (2, 4))
    by_keys = vectorizer._positions_by_keys(docs[::-1], keys)
    assert _occurrences(by_keys) == _occurrences(vectorizer._positions_by_strings(docs[::-1]))
    counted, _ = vectorizer.transform_with_occurrences(docs)
    assert abs(counted - vectorizer.transform(docs)).max() < 1e-12


def test_a_vocabulary_too_wide_for_integer_keys_is_looked_up_by_strings():
    docs = [analyze(t) for t in WIRE + PARTISAN]
    vectorizer = CharNgramVectorizer(ngram_range=(2, 12), min_df=1).fit(docs)
    assert vocabulary_keys(vectorizer.vocabulary_, (2, 12)) is None
    counted, positions = vectorizer.transform_with_occurrences(docs)
    assert abs(counted - vectorizer.transform(docs)).max() < 1e-12
    assert len(positions.columns) > 0


def _reference_char_evidence(pipeline, doc) -> dict[str, tuple[float, tuple]]:
    """The character evidence of one document computed the plain way: each n-gram cut as
    a string, its contribution shared by its occurrences and their characters, each
    character's share given to its token, the tokens of the same text added together."""
    features = pipeline.named_steps["features"]
    vectorizer = dict(features.transformer_list)["chars"]
    names = list(features.get_feature_names_out())
    clf = pipeline.named_steps["clf"]
    coef = clf.coef_[0] if list(clf.classes_).index("wire") == 1 else -clf.coef_[0]
    row = features.transform([doc]).tocsr()
    contribution = {names[j]: coef[j] * v * getattr(clf, "scale_", 1.0) for j, v in zip(row.indices, row.data)}
    text = char_text(doc)
    owner = list(text.owner)
    for i, k in enumerate(owner):
        if k < 0:
            owner[i] = owner[i - 1]  # white space: the token before it
    runs = char_gram_runs(text, tuple(vectorizer.ngram_range), vectorizer.quotes)
    seen = {}
    for n, grams in runs:
        for gram in grams:
            seen[gram] = seen.get(gram, 0) + 1
    per_token = [0.0] * len(doc.words)
    for n, grams in runs:
        for i, gram in enumerate(grams):
            weight = contribution.get("chars__" + feature_name(gram), 0.0)
            for k in owner[i : i + n]:
                per_token[k] += weight / (seen[gram] * n)
    grouped: dict[str, list] = {}
    for k, weight in enumerate(per_token):
        if weight:
            surface = doc.text[doc.starts[k] : doc.ends[k]]
            entry = grouped.setdefault(surface, [0.0, []])
            entry[0] += weight
            entry[1].append((doc.starts[k], doc.ends[k]))
    return {"char:" + surface: (weight, tuple(where)) for surface, (weight, where) in grouped.items()}


def test_the_shipped_model_scores_and_explains_as_the_plain_path_on_labeled_texts():
    """p_wire and the evidence of the scoring path (integer keys, whole-chunk arrays)
    against the plain path (strings, one document at a time) on a few hundred labeled texts."""
    texts = list(load_labels(LABELS).frame["text"])[::12]
    assert len(texts) >= 250
    model = load_model()
    docs = model.pipeline.named_steps["tokens"].transform(texts)
    X, occurrences = transform_features(model.pipeline, docs)
    chars = dict(model.pipeline.named_steps["features"].transformer_list)["chars"]
    assert vocabulary_keys(chars.vocabulary_, tuple(chars.ngram_range), build=False) is not None  # the key path ran
    assert np.abs(wire_probability_of_features(model.pipeline, X) - model.p_wire(texts)).max() < 1e-12
    explained = explain(model.pipeline, docs, X=X, occurrences=occurrences)
    for doc, contributions in zip(docs, explained):
        chars = {c.feature: (c.weight, c.spans) for c in contributions if c.feature.startswith("char:")}
        reference = _reference_char_evidence(model.pipeline, doc)
        assert chars.keys() == reference.keys()
        for feature, (weight, spans) in chars.items():
            assert spans == reference[feature][1]
            assert abs(weight - reference[feature][0]) < 1e-12
        weights = [abs(c.weight) for c in contributions]
        assert all(a >= b - 1e-12 for a, b in zip(weights, weights[1:]))  # strongest first
