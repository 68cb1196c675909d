"""Character n-grams over the analyzed text, with names, numbers and links as placeholders.

Word n-grams see lemmas: 述べる, ます, 許す.  Character n-grams see what lemmas hide: the
inflection and register of the surface (しました against したんだよ, 〜とのこと, 〜だろ),
orthography (katakana emphasis, ｗ, repeated marks) and the pieces of words MeCab splits
oddly.  They would also see names, which must never move a score (a text scores the same
whichever country, party or person it names), so the string they are cut from is built from
the analyzed tokens: each token's normalized surface, except that every token whose term is
a placeholder (proper nouns, numbers, URLs, handles, hashtag marks, emoji: see
:func:`classifier.tokens.term_for`) becomes one private-use character standing for its class.

Every character of that string comes from one token, so the evidence can be put back on
the text: :func:`token_contributions` spreads each n-gram's contribution over the tokens it
was cut from, and a segment's explanation gets one character contribution per word (exact:
they sum to the block's share of the logit) instead of one per n-gram, of which a segment
has a hundred and more.
"""

from __future__ import annotations

from itertools import chain, repeat
from typing import NamedTuple, Sequence

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.utils.validation import check_is_fitted

from .tokens import CLASS_TERM_POS2, KIND, PLACEHOLDER_KINDS, POS2, SURFACE, TokenizedText, analyze, term_for

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
    """The placeholder string of one document and, per character, the token it came from.

    ``owner[i]`` is the index in ``tokens`` of the token that produced ``string[i]`` (-1 for
    the white space between two tokens); ``quoted`` says per character whether it lies
    inside a quotation (None when the document quotes nothing).
    """

    string: str
    owner: list[int]
    quoted: list[bool] | None


def feature_name(gram: str) -> str:
    """The feature name of a character n-gram: ``char:`` and the n-gram, its placeholder
    characters written as their terms (``char:<NUM>人``)."""
    return CHAR_PREFIX + gram.translate(_READABLE)


def char_text(doc: TokenizedText) -> CharText:
    """The placeholder string of an analyzed document (see the module docstring).

    Built with comprehensions rather than one loop over the tokens: this runs once per
    segment scored."""
    words, starts, ends = doc.words, doc.starts, doc.ends
    pieces = [
        word[SURFACE] if word[KIND] not in PLACEHOLDER_KINDS and word[POS2] not in CLASS_TERM_POS2 else _placeholder(word)
        for word in words
    ]
    owners = list(range(len(words)))
    gaps = [k for k in range(1, len(words)) if starts[k] > ends[k - 1]]
    for k in reversed(gaps):  # white space between two tokens: one space, owned by no token
        pieces.insert(k, GAP)
        owners.insert(k, -1)
    owner = [k for k, piece in zip(owners, pieces) for _ in piece]
    quoted = _quoted(pieces) if any(q in doc.norm for q in QUOTE_OPEN) else None
    return CharText("".join(pieces), owner, quoted)


def _placeholder(word) -> str:
    """The piece of the placeholder string for a token that may have a class term: its
    placeholder character, or its surface when its term is its lemma (三, a kanji numeral)."""
    term = term_for(word, "class")
    return PLACEHOLDER_CHARS.get(term, OTHER_PLACEHOLDER) if term.startswith("<") else word[SURFACE]


def _quoted(pieces: list[str]) -> list[bool]:
    """Per character of the joined pieces: inside a quotation or not (the brackets not)."""
    quoted: list[bool] = []
    depth = 0
    for piece in pieces:
        if piece in QUOTE_CLOSE and depth:
            depth -= 1
        quoted.extend([depth > 0] * len(piece))
        if piece in QUOTE_OPEN:
            depth += 1
    return quoted


def char_gram_runs(text: CharText, ngram_range: tuple[int, int], quotes: str = "mark") -> list[tuple[int, list[str]]]:
    """The character n-grams of ``text``, one run per length n: ``(n, grams)`` where
    ``grams[i]`` starts at position i of the placeholder string.

    With ``quotes="mark"`` an n-gram that starts inside a quotation carries the ``q:``
    prefix, as quoted words do (see :func:`classifier.tokens.document_terms`): a report
    quoting a chant should not read like the chant.
    """
    string, quoted = text.string, text.quoted
    low, high = ngram_range
    mark = quotes == "mark" and quoted is not None and any(quoted)
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

    def _table(self) -> "_GramTable":
        return _gram_table((tuple(self.ngram_range), self.quotes))

    def _counts(self, X: list, table: "_GramTable") -> sparse.csr_matrix:
        """Documents x ids of the setting's n-gram table, raw counts."""
        table.make_room()
        rows = [table.ids_of(doc if isinstance(doc, TokenizedText) else analyze(str(doc)), self) for doc in X]
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        indices = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int32)
        counts = sparse.csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(rows), len(table)))
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
        table = self._table()
        counts = self._counts(list(X), table)
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        kept = np.flatnonzero(df >= self.min_df)
        kept = kept[np.argsort(table.rank()[kept], kind="stable")]  # the vocabulary in sorted order
        self.vocabulary_ = dict(zip(table.names()[kept].tolist(), range(len(kept))))
        column = np.full(len(table), -1, dtype=np.int64)
        column[kept] = np.arange(len(kept))
        table.remember(self.vocabulary_, column)
        self.transformer_ = TfidfTransformer(sublinear_tf=True).fit(self._columns(counts, column))
        return self

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``char:`` and the n-gram, its placeholders written as their terms (``char:<NUM>人``)."""
        check_is_fitted(self, "vocabulary_")
        return np.asarray([feature_name(g) for g in self.vocabulary_], dtype=object)

    def transform(self, X) -> sparse.csr_matrix:
        check_is_fitted(self, "vocabulary_")
        X = list(X)
        if len(X) > _MEMO_SIZE:  # a large batch: in chunks, so that the memo stays bounded
            return sparse.vstack([self.transform(X[k : k + _MEMO_SIZE]) for k in range(0, len(X), _MEMO_SIZE)],
                                 format="csr")
        table = self._table()
        counts = self._counts(X, table)
        return self._weighted(self._columns(counts, table.columns_of(self.vocabulary_)))

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

    def transform_with_occurrences(self, docs: Sequence[TokenizedText]) -> tuple[sparse.csr_matrix, "CharPositions"]:
        """:meth:`transform`, and where the n-grams of these documents are (a
        :class:`CharPositions`), which :func:`token_contributions` reads to put the block's
        evidence back on the tokens.  Scoring calls this once per chunk of segments; the
        vocabulary lookups run at C speed and nothing is memoized."""
        check_is_fitted(self, "vocabulary_")
        lookup = self.vocabulary_.get
        grams: list[str] = []
        starts: list[int] = []
        lengths: list[int] = []
        docs_of: list[int] = []
        owners: list[list[int]] = []
        char_offsets = [0]
        token_offsets = [0]
        for i, doc in enumerate(docs):
            text = char_text(doc)
            base = char_offsets[-1]
            for n, run in char_gram_runs(text, tuple(self.ngram_range), self.quotes):
                grams.extend(run)
                starts.extend(range(base, base + len(run)))
                lengths.extend([n] * len(run))
                docs_of.extend([i] * len(run))
            owners.append(text.owner)
            char_offsets.append(base + len(text.string))
            token_offsets.append(token_offsets[-1] + len(doc.words))
        columns = np.fromiter(map(lookup, grams, repeat(-1)), dtype=np.int64, count=len(grams))
        known = columns >= 0
        positions = CharPositions(
            columns=columns[known], docs=np.asarray(docs_of, dtype=np.int64)[known],
            starts=np.asarray(starts, dtype=np.int64)[known], lengths=np.asarray(lengths, dtype=np.int64)[known],
            owner=_owner_array(owners), char_offsets=np.asarray(char_offsets, dtype=np.int64),
            token_offsets=np.asarray(token_offsets, dtype=np.int64),
        )
        counts = sparse.csr_matrix((np.ones(len(positions.columns)), (positions.docs, positions.columns)),
                                   shape=(len(docs), len(self.vocabulary_)))
        counts.sum_duplicates()
        return self._weighted(counts), positions


class CharPositions(NamedTuple):
    """Where the character n-grams of a chunk of documents are, as flat arrays.

    Per occurrence of an n-gram that is a feature: its vocabulary ``columns``, the
    ``docs`` it is in, the chunk-wide character index it ``starts`` at and its length (n).
    Per character of the chunk's placeholder strings laid end to end: the ``owner`` token
    (its index within its document; white space between tokens belongs to the token before
    it).  ``char_offsets`` and ``token_offsets`` say where each document's characters and
    tokens begin (one more entry than documents).
    """

    columns: np.ndarray
    docs: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    owner: np.ndarray
    char_offsets: np.ndarray
    token_offsets: np.ndarray

    @property
    def n_docs(self) -> int:
        return len(self.char_offsets) - 1


def _owner_array(owners: list[list[int]]) -> np.ndarray:
    """The documents' owner lists end to end, white space (-1) given to the token before it."""
    owner = np.fromiter(chain.from_iterable(owners), dtype=np.int64)
    gaps = np.flatnonzero(owner < 0)
    owner[gaps] = owner[gaps - 1]  # white space never opens a string: there is a token before it
    return owner


def token_contributions(positions: CharPositions, weights: sparse.csr_matrix) -> list[np.ndarray]:
    """The character n-gram block's contributions spread over the tokens the n-grams were
    cut from: per document, an array of one weight per token.

    ``weights`` is documents x block columns: each column's contribution to the logit
    (coefficient x value).  A column's contribution is shared equally by its occurrences
    in the document and, within one, by its characters; a character's share goes to the
    token it came from.  Each document's token weights sum to its row of ``weights``, so
    the explanation stays exact while a segment gets one character contribution per token,
    not one per n-gram (a hundred and more).
    """
    n_columns = weights.shape[1]
    keys = positions.docs * n_columns + positions.columns
    unique, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    weights = sparse.csr_matrix(weights)
    weights.sort_indices()
    rows = np.repeat(np.arange(weights.shape[0]), np.diff(weights.indptr))
    weight_keys = rows * n_columns + weights.indices
    slot = np.searchsorted(weight_keys, unique)
    slot_ok = slot < len(weight_keys)
    found = np.zeros(len(unique))
    found[slot_ok] = np.where(weight_keys[slot[slot_ok]] == unique[slot_ok], weights.data[slot[slot_ok]], 0.0)
    share = found[inverse] / (positions.lengths * counts[inverse])
    per_char = np.zeros(len(positions.owner))
    for n in np.unique(positions.lengths).tolist():
        these = positions.lengths == n
        for offset in range(n):
            np.add.at(per_char, positions.starts[these] + offset, share[these])
    char_doc = np.repeat(np.arange(positions.n_docs), np.diff(positions.char_offsets))
    token = positions.token_offsets[char_doc] + positions.owner
    per_token = np.bincount(token, weights=per_char, minlength=int(positions.token_offsets[-1]))
    return [per_token[a:b] for a, b in zip(positions.token_offsets[:-1], positions.token_offsets[1:])]


class _GramTable:
    """The n-grams of one setting (n-gram range, quote mode) seen in this process, each
    with an integer id, and the memo of each text's n-grams as ids.

    Training fits a vectorizer per fold and per setting on the same analyzed texts: their
    n-grams are cut once and counted as integers.  One table per setting keeps the id
    space (the width of the count matrices) to what that setting produces.
    """

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.memo: dict[str, tuple[object, np.ndarray]] = {}
        self._columns: dict[int, tuple[dict, np.ndarray]] = {}
        self._names: tuple[int, np.ndarray] | None = None
        self._rank: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def make_room(self) -> None:
        """Start afresh when the memo or the table has passed its bound, before a call
        (never while ids are being read): a call adds at most :data:`_MEMO_SIZE` texts."""
        if len(self.memo) >= _MEMO_SIZE or len(self.ids) > _TABLE_SIZE:
            self.__init__()

    def ids_of(self, doc: TokenizedText, vectorizer: "CharNgramVectorizer") -> np.ndarray:
        cached = self.memo.get(doc.text)
        if cached is not None and cached[0] is doc.words:
            return cached[1]
        grams = char_grams(char_text(doc), tuple(vectorizer.ngram_range), vectorizer.quotes)
        table = self.ids
        ids = np.fromiter((table.setdefault(g, len(table)) for g in grams), dtype=np.int32, count=len(grams))
        self.memo[doc.text] = (doc.words, ids)
        return ids

    def names(self) -> np.ndarray:
        """id -> n-gram, as an array (rebuilt when the table grew)."""
        if self._names is None or self._names[0] != len(self.ids):
            self._names = (len(self.ids), np.asarray(list(self.ids), dtype=object))
        return self._names[1]

    def rank(self) -> np.ndarray:
        """id -> the n-gram's place in sorted order (rebuilt when the table grew)."""
        if self._rank is None or self._rank[0] != len(self.ids):
            rank = np.empty(len(self.ids), dtype=np.int64)
            rank[np.argsort(self.names().astype(str), kind="stable")] = np.arange(len(self.ids))
            self._rank = (len(self.ids), rank)
        return self._rank[1]

    def remember(self, vocabulary: dict, column: np.ndarray) -> None:
        if len(self._columns) >= 64:
            self._columns.clear()
        self._columns[id(vocabulary)] = (vocabulary, column)

    def columns_of(self, vocabulary: dict) -> np.ndarray:
        """id -> vocabulary column (-1: not a feature), for the table as it is now.

        Known right after :meth:`CharNgramVectorizer.fit`; rebuilt from the vocabulary (one
        lookup per feature) for a model loaded from disk or after the table started afresh.
        Ids added since are looked up in the vocabulary: for a fitted vectorizer they are
        n-grams the fit never saw (-1), but a model loaded from disk meets its vocabulary's
        n-grams one batch at a time, and a later batch's must count as the first's did.
        """
        cached = self._columns.get(id(vocabulary))
        if cached is None or cached[0] is not vocabulary:
            column = np.full(len(self.ids), -1, dtype=np.int64)
            for gram, j in vocabulary.items():
                i = self.ids.get(gram)
                if i is not None:
                    column[i] = j
            self.remember(vocabulary, column)
            cached = (vocabulary, column)
        column = cached[1]
        if len(column) < len(self.ids):  # n-grams met since: a loaded model's vocabulary may hold them
            lookup = vocabulary.get
            added = self.names()[len(column):].tolist()
            column = np.concatenate([column, np.fromiter(map(lookup, added, repeat(-1)), dtype=np.int64, count=len(added))])
            self.remember(vocabulary, column)
        return column


def _gram_table(setting: tuple) -> _GramTable:
    """The table of one setting; the two most recently used settings are kept."""
    table = _TABLES.pop(setting, None) or _GramTable()
    _TABLES[setting] = table  # most recent last
    while len(_TABLES) > _TABLES_KEPT:
        _TABLES.pop(next(iter(_TABLES)))
    return table


_TABLES: dict[tuple, _GramTable] = {}
_TABLES_KEPT = 2
_MEMO_SIZE = 10000  # a label set's worth of texts: their ids take about 20 MB
_TABLE_SIZE = 1_000_000  # distinct n-grams of one setting: about 100 MB at most
