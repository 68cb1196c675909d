"""Character n-grams over the analyzed text, with names, numbers and links as placeholders.

Word n-grams see lemmas: 述べる, ます, 許す.  Character n-grams see what lemmas hide: the
inflection and register of the surface (しました against したんだよ, 〜とのこと, 〜だろ),
orthography (katakana emphasis, ｗ, repeated marks) and the pieces of words MeCab splits
oddly.  They would also see names, which must never move a score (a text scores the same
whichever country, party or person it names), so the string they are cut from is built from
the analyzed tokens: each token's normalized surface, except that every token whose term is
a placeholder (proper nouns, numbers, URLs, handles, hashtag marks, emoji: see
:func:`classifier.tokens.term_for`) becomes one private-use character standing for its class.

Every character of that string comes from one token, so an n-gram found at a position maps
back to character spans of the original text (exactly, where the token's surface has the
length of its original span; else to the whole token): the evidence of a character n-gram
can be highlighted like any other.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple, Sequence

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.utils.validation import check_is_fitted

from .tokens import CLASS_TERM_POS2, PLACEHOLDER_KINDS, TokenizedText, analyze, term_for

#: One private-use character per placeholder term (any other placeholder: the last one).
PLACEHOLDER_CHARS = {
    term: chr(0xE000 + k)
    for k, term in enumerate(
        ("<URL>", "<PIC>", "<USER>", "<HASHTAG>", "<EMOJI>", "<FLAG>", "<NUM>", "<PERSON>", "<PLACE>", "<ORG>", "<NAME>")
    )
}
OTHER_PLACEHOLDER = chr(0xE0FF)
_READABLE = str.maketrans({char: term for term, char in PLACEHOLDER_CHARS.items()} | {OTHER_PLACEHOLDER: "<NAME>"})
#: Prefix of the feature names: a character n-gram reads ``char:しました``, ``char:<NUM>人``.
CHAR_PREFIX = "char:"
GAP = " "  # white space between two tokens
QUOTE_OPEN = "「『“〝"
QUOTE_CLOSE = "」』”〟"
QUOTED_PREFIX = "q:"
QUOTE_MODES = ("mark", "keep")


class CharText(NamedTuple):
    """The placeholder string of one document and, per character, where it came from.

    ``origin[i]`` is the (start, end) span in the original text of the character
    ``string[i]`` (a whole token for a placeholder or a token whose normalization changed
    its length); ``quoted[i]`` says whether it lies inside a quotation.
    """

    string: str
    origin: list[tuple[int, int]]
    quoted: list[bool]


def char_text(doc: TokenizedText) -> CharText:
    """The placeholder string of an analyzed document (see the module docstring)."""
    pieces: list[str] = []
    origin: list[tuple[int, int]] = []
    quoted: list[bool] = []
    depth = 0
    previous_end = None
    for token in doc.tokens:
        if previous_end is not None and token.start > previous_end:
            pieces.append(GAP)
            origin.append((previous_end, token.start))
            quoted.append(depth > 0)
        previous_end = token.end
        surface = token.surface
        if surface in QUOTE_CLOSE and depth:
            depth -= 1
        inside = depth > 0
        if token.kind in PLACEHOLDER_KINDS or token.pos2 in CLASS_TERM_POS2:
            term = term_for(token, "class")
            if term.startswith("<"):
                pieces.append(PLACEHOLDER_CHARS.get(term, OTHER_PLACEHOLDER))
                origin.append((token.start, token.end))
                quoted.append(inside)
                continue
        pieces.append(surface)
        if len(surface) == token.end - token.start:
            origin.extend((token.start + k, token.start + k + 1) for k in range(len(surface)))
        else:
            origin.extend((token.start, token.end) for _ in surface)
        quoted.extend(inside for _ in surface)
        if surface in QUOTE_OPEN:
            depth += 1
    return CharText("".join(pieces), origin, quoted)


def char_gram_runs(text: CharText, ngram_range: tuple[int, int], quotes: str = "mark") -> list[tuple[int, list[str]]]:
    """The character n-grams of ``text``, one run per length n: ``(n, grams)`` where
    ``grams[i]`` starts at position i of the placeholder string.

    With ``quotes="mark"`` an n-gram that starts inside a quotation carries the ``q:``
    prefix, as quoted words do (see :func:`classifier.tokens.document_terms`): a report
    quoting a chant should not read like the chant.
    """
    string, quoted = text.string, text.quoted
    low, high = ngram_range
    mark = quotes == "mark" and any(quoted)
    runs = []
    for n in range(low, high + 1):
        cut = [string[i : i + n] for i in range(len(string) - n + 1)]
        if mark:
            cut = [QUOTED_PREFIX + g if quoted[i] else g for i, g in enumerate(cut)]
        runs.append((n, cut))
    return runs


def char_grams(text: CharText, ngram_range: tuple[int, int], quotes: str = "mark") -> list[str]:
    """Every character n-gram of ``text``, shortest first (see :func:`char_gram_runs`)."""
    return [g for _, run in char_gram_runs(text, ngram_range, quotes) for g in run]


#: Where each n-gram column occurs in one document: column -> (n, [first position, ...]).
Found = dict[int, tuple[int, list[int]]]


def note_occurrences(found: Found, columns: Iterable[int | None], n: int) -> None:
    """Record in ``found`` where the n-grams of one run occur: ``columns[k]`` is the
    vocabulary column of the n-gram at position k (None: not a feature).  Shared by the
    word block (positions index tokens) and the character block (placeholder string)."""
    for k, j in enumerate(columns):
        if j is None:
            continue
        seen = found.get(j)
        if seen is None:
            found[j] = (n, [k])
        else:
            seen[1].append(k)


def occurrence_counts(found_per_doc: Sequence[Found], n_columns: int) -> sparse.csr_matrix:
    """The documents x columns count matrix of the occurrences :func:`note_occurrences` noted."""
    indices: list[int] = []
    counts: list[int] = []
    indptr = [0]
    for found in found_per_doc:
        columns = sorted(found)
        indices.extend(columns)
        counts.extend(len(found[j][1]) for j in columns)
        indptr.append(len(indices))
    return sparse.csr_matrix(
        (np.asarray(counts, dtype=np.float64), np.asarray(indices, dtype=np.int32), np.asarray(indptr, dtype=np.int32)),
        shape=(len(found_per_doc), n_columns),
    )


class CharNgramVectorizer(TransformerMixin, BaseEstimator):
    """TF-IDF of character n-grams of the placeholder string, for the Pipeline's FeatureUnion.

    Computes what ``TfidfVectorizer(analyzer=..., min_df=min_df, sublinear_tf=True)`` would
    (vocabulary in sorted order, smoothed idf, unit-norm rows) without its per-n-gram Python
    loop: each text's n-grams are cut once per process and kept as integer ids, so that the
    dozens of fits of a cross-validation (one per fold and setting) are sparse-matrix work.

    Parameters
    ----------
    ngram_range : tuple (min_n, max_n), default=(2, 4)
        Lengths of the character n-grams.
    min_df : int, default=2
        Keep n-grams found in at least this many training documents.
    quotes : {"mark", "keep"}, default="mark"
        Whether n-grams inside quotations are features of their own.
    scale : float, default=1.0
        Multiplier of the block (its rows have unit norm before it): how much the character
        evidence weighs beside the word block under the classifier's single L2 penalty.

    Examples
    --------
    >>> vec = CharNgramVectorizer(min_df=1).fit([analyze("ロシア外務省は声明を発表しました。")])
    >>> "char:しました" in vec.get_feature_names_out()
    True
    >>> any("ロシア" in name for name in vec.get_feature_names_out())  # a name is a placeholder
    False
    """

    def __init__(self, ngram_range=(2, 4), min_df: int = 2, quotes: str = "mark", scale: float = 1.0) -> None:
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.quotes = quotes
        self.scale = scale

    def _ids(self, doc) -> np.ndarray:
        """The n-grams of one document as ids of this process's n-gram table (memoized)."""
        doc = doc if isinstance(doc, TokenizedText) else analyze(str(doc))
        key = (doc.text, tuple(self.ngram_range), self.quotes)
        cached = _GRAM_IDS.get(key)
        if cached is not None and cached[0] is doc.tokens:
            return cached[1]
        grams = char_grams(char_text(doc), tuple(self.ngram_range), self.quotes)
        table = _GRAM_TABLE
        ids = np.fromiter((table.setdefault(g, len(table)) for g in grams), dtype=np.int64, count=len(grams))
        _GRAM_IDS[key] = (doc.tokens, ids)
        return ids

    def _counts(self, X: list) -> sparse.csr_matrix:
        """Documents x n-gram table ids, raw counts.  The memo and the table are cleared
        (only) before a call that would overflow them, never while ids are being read."""
        if len(_GRAM_IDS) + len(X) > _MEMO_SIZE or len(_GRAM_TABLE) > _TABLE_SIZE:
            _GRAM_IDS.clear()
            _GRAM_TABLE.clear()
            _COLUMNS.clear()
        rows = [self._ids(doc) for doc in X]
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        indices = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        counts = sparse.csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(rows), len(_GRAM_TABLE)))
        counts.sum_duplicates()
        return counts

    def fit(self, X, y=None):
        low, high = self.ngram_range
        if not (1 <= low <= high):
            raise ValueError(f"ngram_range must be (min_n, max_n) with 1 <= min_n <= max_n, got {self.ngram_range!r}")
        if self.quotes not in QUOTE_MODES:
            raise ValueError(f"quotes must be one of {QUOTE_MODES}, got {self.quotes!r}")
        if not (isinstance(self.scale, (int, float)) and self.scale > 0):
            raise ValueError(f"scale must be a positive number, got {self.scale!r}")
        counts = self._counts(list(X))
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        kept = np.flatnonzero(df >= self.min_df)
        names = list(_GRAM_TABLE)  # insertion order: id -> n-gram
        order = sorted(kept.tolist(), key=names.__getitem__)
        self.vocabulary_ = {names[i]: column for column, i in enumerate(order)}
        self.transformer_ = TfidfTransformer(sublinear_tf=True).fit(counts[:, order])
        column = np.full(len(names), -1, dtype=np.int64)
        column[order] = np.arange(len(order))
        _remember_columns(self.vocabulary_, column)
        return self

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``char:`` and the n-gram, its placeholders written as their terms (``char:<NUM>人``)."""
        check_is_fitted(self, "vocabulary_")
        return np.asarray([CHAR_PREFIX + g.translate(_READABLE) for g in self.vocabulary_], dtype=object)

    def transform(self, X) -> sparse.csr_matrix:
        check_is_fitted(self, "vocabulary_")
        X = list(X)
        if len(X) > _MEMO_SIZE:  # a large batch: in chunks, so that the memo stays bounded
            return sparse.vstack([self.transform(X[k : k + _MEMO_SIZE]) for k in range(0, len(X), _MEMO_SIZE)],
                                 format="csr")
        counts = self._counts(X)
        return self._weighted(self._columns(counts, self._table_columns()))

    def _table_columns(self) -> np.ndarray:
        """n-gram table id -> vocabulary column (-1: not a feature), for the current table.

        Known right after :meth:`fit`; rebuilt from the vocabulary (one lookup per feature)
        for a model loaded from disk or after the table was cleared.  Ids added to the table
        since are n-grams the fit never saw: -1.
        """
        cached = _COLUMNS.get(id(self.vocabulary_))
        if cached is None or cached[0] is not self.vocabulary_:
            column = np.full(len(_GRAM_TABLE), -1, dtype=np.int64)
            table = _GRAM_TABLE
            for gram, j in self.vocabulary_.items():
                i = table.get(gram)
                if i is not None:
                    column[i] = j
            cached = _remember_columns(self.vocabulary_, column)
        column = cached[1]
        if len(column) < len(_GRAM_TABLE):
            column = np.concatenate([column, np.full(len(_GRAM_TABLE) - len(column), -1, dtype=np.int64)])
        return column

    def _columns(self, counts: sparse.csr_matrix, column: np.ndarray) -> sparse.csr_matrix:
        """The counts re-indexed from n-gram table ids to vocabulary columns (others dropped)."""
        counts = counts.tocoo()
        mapped = column[counts.col]
        keep = mapped >= 0
        return sparse.csr_matrix((counts.data[keep], (counts.row[keep], mapped[keep])),
                                 shape=(counts.shape[0], len(self.vocabulary_)))

    def _weighted(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        X = sparse.csr_matrix(self.transformer_.transform(counts))
        return X * self.scale if self.scale != 1.0 else X

    def transform_with_occurrences(
        self, docs: Sequence[TokenizedText], offset: int = 0
    ) -> tuple[sparse.csr_matrix, list[dict[int, tuple[int, list[int]]]], list[CharText]]:
        """:meth:`transform`, and per document where each column's n-gram occurs.

        Returns the matrix, per document ``{offset + column: (n, [position, ...])}`` (the
        positions index the placeholder string) and the placeholder strings themselves,
        which :func:`ngram_spans` turns into character spans of the original text.  Scoring
        calls this once per chunk of segments; nothing is memoized.
        """
        check_is_fitted(self, "vocabulary_")
        lookup = self.vocabulary_.get
        found_per_doc: list[Found] = []
        texts: list[CharText] = []
        for doc in docs:
            text = char_text(doc)
            texts.append(text)
            found: Found = {}
            for n, grams in char_gram_runs(text, tuple(self.ngram_range), self.quotes):
                note_occurrences(found, map(lookup, grams), n)
            found_per_doc.append(found)
        X = occurrence_counts(found_per_doc, len(self.vocabulary_))
        occurrences = [{offset + j: where for j, where in found.items()} for found in found_per_doc]
        return self._weighted(X), occurrences, texts


def ngram_spans(text: CharText, n: int, positions: Sequence[int]) -> list[tuple[int, int]]:
    """Character spans of the original text covered by the n-grams at ``positions``."""
    return [(text.origin[i][0], text.origin[i + n - 1][1]) for i in positions]


# Training fits a vectorizer per fold and setting on the same analyzed texts: their n-grams are
# cut once and kept as ids of one table of n-grams (both cleared together when full).
_GRAM_IDS: dict[tuple, tuple[object, np.ndarray]] = {}
_GRAM_TABLE: dict[str, int] = {}
_COLUMNS: dict[int, tuple[dict, np.ndarray]] = {}  # id(vocabulary_) -> (vocabulary_, table columns)
_MEMO_SIZE = 6000  # a label set's worth of texts
_TABLE_SIZE = 2_000_000  # distinct n-grams: about 200 MB at most


def _remember_columns(vocabulary: dict, column: np.ndarray) -> tuple[dict, np.ndarray]:
    if len(_COLUMNS) >= 64:
        _COLUMNS.clear()
    _COLUMNS[id(vocabulary)] = (vocabulary, column)
    return _COLUMNS[id(vocabulary)]
