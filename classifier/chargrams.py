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
from typing import Iterable, NamedTuple, Sequence

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.utils.validation import check_is_fitted

from .tokens import (CLASS_TERM_POS2, KIND, PLACEHOLDER_KINDS, POS2, QUOTE_MODES, QUOTED_PREFIX, SURFACE,
                     TokenizedText, analyze, term_for)

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
    """The placeholder string of an analyzed document (see the module docstring)."""
    words, starts, ends = doc.words, doc.starts, doc.ends
    pieces = token_pieces(words)
    owners = list(range(len(words)))
    gaps = [k for k in range(1, len(words)) if starts[k] > ends[k - 1]]
    for k in reversed(gaps):  # white space between two tokens: one space, owned by no token
        pieces.insert(k, GAP)
        owners.insert(k, -1)
    owner = [k for k, piece in zip(owners, pieces) for _ in piece]
    quoted = None
    if doc.quotes is not None:
        inside, after = doc.quotes
        flags = list(inside)
        for k in reversed(gaps):  # white space: quoted when what precedes it leaves a quotation open
            flags.insert(k, after[k - 1])
        quoted = [flag for flag, piece in zip(flags, pieces) for _ in piece]
    return CharText("".join(pieces), owner, quoted)


def token_pieces(words: Iterable) -> list[str]:
    """Per token, its piece of the placeholder string: its normalized surface, or the
    placeholder character of its class term.

    A comprehension rather than a loop: this runs on every token scored."""
    return [
        word[SURFACE] if word[KIND] not in PLACEHOLDER_KINDS and word[POS2] not in CLASS_TERM_POS2 else _placeholder(word)
        for word in words
    ]


def _placeholder(word) -> str:
    """The piece of the placeholder string for a token that may have a class term: its
    placeholder character, or its surface when its term is its lemma (三, a kanji numeral)."""
    term = term_for(word, "class")
    return PLACEHOLDER_CHARS.get(term, OTHER_PLACEHOLDER) if term.startswith("<") else word[SURFACE]


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
        evidence back on the tokens.  Scoring calls this once per chunk of segments.

        The n-grams are never cut as strings: the chunk's placeholder strings become one
        array of letters (see :class:`VocabularyKeys`), every n-gram an integer key, all
        looked up at once in a hash table of the vocabulary's keys.  The n-grams are cut
        and looked up as strings instead (the same occurrences) for a small batch while
        the table is not built yet (building it costs as much as about a hundred segments
        of string lookups: a run on a few dozen segments, or a model's load-time check,
        would pay more than it saves) and for a vocabulary whose keys would not fit in 63
        bits (a very wide n-gram range)."""
        check_is_fitted(self, "vocabulary_")
        docs = list(docs)
        keys = vocabulary_keys(self.vocabulary_, tuple(self.ngram_range), build=len(docs) >= KEYS_BATCH)
        positions = (self._positions_by_keys(docs, keys) if keys is not None
                     else self._positions_by_strings(docs))
        counts = sparse.csr_matrix((np.ones(len(positions.columns)), (positions.docs, positions.columns)),
                                   shape=(len(docs), len(self.vocabulary_)))
        counts.sum_duplicates()
        return self._weighted(counts), positions

    def _positions_by_keys(self, docs: list[TokenizedText], keys: "VocabularyKeys") -> "CharPositions":
        """The occurrences of the vocabulary's n-grams in ``docs``, by integer keys: in
        order of length, then of place in the chunk."""
        chars = chunk_chars(docs, mark_quotes=self.quotes == "mark")
        letters = keys.letter_ids(chars.codes)
        doc_of_char = np.repeat(np.arange(len(docs)), np.diff(chars.char_offsets))
        doc_end = chars.char_offsets[1:][doc_of_char]
        found = []
        low, high = self.ngram_range
        for n in range(low, high + 1):
            starts = np.flatnonzero(np.arange(n, len(letters) + n) <= doc_end)  # the n-gram stays in its document
            columns = keys.columns(letters, chars.quoted, starts, n)
            known = columns >= 0
            found.append((columns[known], starts[known], np.full(int(known.sum()), n, dtype=np.int64)))
        columns, starts, lengths = (np.concatenate(parts) for parts in zip(*found))
        return CharPositions(columns=columns, docs=doc_of_char[starts], starts=starts, lengths=lengths,
                             owner=chars.owner, char_offsets=chars.char_offsets, token_offsets=chars.token_offsets)

    def _positions_by_strings(self, docs: list[TokenizedText]) -> "CharPositions":
        """The occurrences of the vocabulary's n-grams in ``docs``, each n-gram cut as a
        string and looked up in the vocabulary: in order of document, length and place."""
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
        return CharPositions(
            columns=columns[known], docs=np.asarray(docs_of, dtype=np.int64)[known],
            starts=np.asarray(starts, dtype=np.int64)[known], lengths=np.asarray(lengths, dtype=np.int64)[known],
            owner=_owner_array(owners), char_offsets=np.asarray(char_offsets, dtype=np.int64),
            token_offsets=np.asarray(token_offsets, dtype=np.int64),
        )


class ChunkChars(NamedTuple):
    """The placeholder strings of a chunk of documents laid end to end, as arrays.

    ``codes`` holds the code point of every character, ``owner`` the index (within its
    document) of the token it came from, the white space between two tokens given to the
    token before it; ``quoted`` whether it lies inside a quotation, for the n-grams that
    start there to carry the ``q:`` mark (all False without ``mark_quotes``).
    ``char_offsets`` and ``token_offsets`` say where each document's characters and
    tokens begin (one more entry than documents).
    """

    codes: np.ndarray
    owner: np.ndarray
    quoted: np.ndarray
    char_offsets: np.ndarray
    token_offsets: np.ndarray


def chunk_chars(docs: Sequence[TokenizedText], mark_quotes: bool = True) -> ChunkChars:
    """The chunk's placeholder strings (what :func:`char_text` makes of each document), in
    one pass of array work over the whole chunk: each white space between two tokens is
    appended to the piece of the token before it, which then owns it."""
    pieces = token_pieces(chain.from_iterable(doc.words for doc in docs))
    n_tokens = len(pieces)
    token_offsets = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum([len(doc.words) for doc in docs], out=token_offsets[1:])
    token_lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=n_tokens)
    gap_after = _gaps_after(docs, token_offsets)
    quoted_tokens = _quoted_tokens(docs, token_offsets) if mark_quotes else None
    for k in np.flatnonzero(gap_after).tolist():
        pieces[k] += GAP
    lengths = token_lengths + gap_after
    ends_of_pieces = np.cumsum(lengths)
    char_offsets = np.concatenate([[0], ends_of_pieces])[token_offsets]
    codes = np.frombuffer("".join(pieces).encode("utf-32-le"), dtype=np.uint32)
    token_of_char = np.repeat(np.arange(n_tokens), lengths)
    doc_of_token = np.repeat(np.arange(len(docs)), np.diff(token_offsets))
    owner = token_of_char - token_offsets[doc_of_token[token_of_char]]
    quoted = np.zeros(len(codes), dtype=bool)
    if quoted_tokens is not None:
        inside, after = quoted_tokens
        quoted = np.repeat(inside, lengths)
        quoted[ends_of_pieces[gap_after] - 1] = after[gap_after]  # a white space: as what follows its token
    return ChunkChars(codes, owner, quoted, char_offsets, token_offsets)


def _gaps_after(docs: Sequence[TokenizedText], token_offsets: np.ndarray) -> np.ndarray:
    """Per token of the chunk: whether white space separates it from the next token of
    its document (the next one starts after it ends)."""
    n_tokens = int(token_offsets[-1])
    starts = np.fromiter(chain.from_iterable(doc.starts for doc in docs), dtype=np.int64, count=n_tokens)
    ends = np.fromiter(chain.from_iterable(doc.ends for doc in docs), dtype=np.int64, count=n_tokens)
    gap_after = np.zeros(n_tokens, dtype=bool)
    if n_tokens:
        gap_after[:-1] = starts[1:] > ends[:-1]
        gap_after[token_offsets[1:] - 1] = False  # never across two documents
    return gap_after


def _quoted_tokens(docs: Sequence[TokenizedText], token_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Per token of the chunk: inside a quotation, and is what follows it (the documents'
    :attr:`~classifier.tokens.TokenizedText.quotes`); None when no document opens a
    quotation (most chunks)."""
    n_tokens = int(token_offsets[-1])
    inside = np.zeros(n_tokens, dtype=bool)
    after = np.zeros(n_tokens, dtype=bool)
    any_quoted = False
    for i, doc in enumerate(docs):
        if doc.quotes is not None:
            a, b = int(token_offsets[i]), int(token_offsets[i + 1])
            inside[a:b], after[a:b] = doc.quotes
            any_quoted = True
    return (inside, after) if any_quoted else None


class VocabularyKeys:
    """A fitted character vocabulary as integer keys, to look a chunk's n-grams up at once.

    Every character of the vocabulary is a *letter* (1, 2, ...; 0 for any other
    character); an n-gram of letters l1..ln is the integer l1 B^(n-1) + ... + ln in base B
    (the number of letters + 1), plus B^n when it starts inside a quotation (its
    vocabulary entry reads ``q:`` and the n-gram).  An n-gram holding a character the
    vocabulary never saw has a 0 digit, which no key of the vocabulary has.  Each length
    has its keys in a :class:`KeyTable`, with the vocabulary column of each.

    A vocabulary entry that starts with ``q:`` is also an n-gram of its own letters (two
    more), as the string lookup would take it.  Built from ``vocabulary_`` at first use
    (see :func:`vocabulary_keys`), with array work only (a model is loaded at every
    start-up), and never stored in the model file.
    """

    def __init__(self, letters: np.ndarray, tables: dict[int, "KeyTable"]) -> None:
        self.letters = letters
        self.base = len(letters) + 1
        self.tables = tables

    @classmethod
    def of(cls, vocabulary: dict[str, int], ngram_range: tuple[int, int]) -> "VocabularyKeys | None":
        """The keys of a vocabulary, or None when they would not fit in a signed 64-bit
        integer (a quoted n-gram of the longest length is the largest key)."""
        grams = list(vocabulary)
        lengths = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
        codes = np.frombuffer("".join(grams).encode("utf-32-le"), dtype=np.uint32)
        letters = np.unique(codes)
        low, high = ngram_range
        if 2 * (len(letters) + 1) ** high >= 2**63:
            return None
        keys = cls(letters, {})
        ids = keys.letter_ids(codes)
        starts = np.cumsum(lengths) - lengths
        columns = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(grams))
        prefix = [ord(c) for c in QUOTED_PREFIX]
        marked = lengths > len(prefix)
        for k, code in enumerate(prefix):
            marked[marked] &= codes[starts[marked] + k] == code
        for n in range(low, high + 1):
            plain = np.flatnonzero(lengths == n)
            quoted = np.flatnonzero(marked & (lengths == n + len(prefix)))
            entry_starts = np.concatenate([starts[plain], starts[quoted] + len(prefix)])
            is_quoted = np.concatenate([np.zeros(len(plain), np.int64), np.ones(len(quoted), np.int64)])
            entry_keys = keys.keys_at(ids, entry_starts, is_quoted, n)
            keys.tables[n] = KeyTable(entry_keys, np.concatenate([columns[plain], columns[quoted]]))
        return keys

    def letter_ids(self, codes: np.ndarray) -> np.ndarray:
        """The letter of each code point (0: not a character of the vocabulary)."""
        if not len(self.letters):
            return np.zeros(len(codes), dtype=np.int64)
        at = np.searchsorted(self.letters, codes)
        at[at == len(self.letters)] = 0
        return np.where(self.letters[at] == codes, at + 1, 0)

    def keys_at(self, letters: np.ndarray, starts: np.ndarray, quoted: np.ndarray, n: int) -> np.ndarray:
        """The key of the n-gram of ``letters`` starting at each of ``starts`` (``quoted``:
        1 where it starts inside a quotation, else 0)."""
        keys = np.zeros(len(starts), dtype=np.int64)
        for k in range(n):
            keys = keys * self.base + letters[starts + k]
        return keys + quoted * self.base**n

    def columns(self, letters: np.ndarray, quoted: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
        """The vocabulary column of the n-gram starting at each of ``starts`` in the
        letters of a chunk (-1: not a feature)."""
        return self.tables[n].get(self.keys_at(letters, starts, quoted[starts], n))


class KeyTable:
    """A hash table from non-negative 64-bit keys to values, looked up for a whole array
    of keys at once: open addressing with linear probing, Fibonacci hashing, a
    power-of-two number of home slots (at most a quarter of them used).

    Built with one sort instead of key by key: in order of home slot, each key takes its
    home or, if taken, the slot after the previous key's (a running maximum), so every
    slot from a key's home to its own is taken and a lookup walks from the home until it
    meets the key or an empty slot.  The table ends with room for the longest walk, so no
    walk wraps around.

    A sorted array and ``np.searchsorted`` would do the same in half the code, but its
    binary search misses the cache at every step: measured on 1,000 segments with the
    shipped model, the character n-grams of a segment cost 33 us with it, 25 with this."""

    EMPTY = -1
    _MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, keys: np.ndarray, values: np.ndarray) -> None:
        bits = max(4, int(4 * len(keys) - 1).bit_length())
        self.shift = np.uint64(64 - bits)
        home = self._home(keys)
        order = np.argsort(home, kind="stable")
        home = home[order]
        rank = np.arange(len(keys))
        slots = rank + np.maximum.accumulate(home - rank) if len(keys) else home
        self.probes = int((slots - home).max()) + 1 if len(keys) else 0
        self.keys = np.full((1 << bits) + self.probes, self.EMPTY, dtype=np.int64)
        self.values = np.full(len(self.keys), -1, dtype=np.int64)
        self.keys[slots] = keys[order]
        self.values[slots] = values[order]

    def _home(self, keys: np.ndarray) -> np.ndarray:
        return ((keys.astype(np.uint64) * self._MULTIPLIER) >> self.shift).astype(np.int64)

    def get(self, keys: np.ndarray) -> np.ndarray:
        """The value of each key (-1 for a key not in the table)."""
        found = np.full(len(keys), -1, dtype=np.int64)
        pending = np.arange(len(keys))
        slots = self._home(keys)
        for _ in range(self.probes):  # no key sits further than that from its home slot
            held = self.keys[slots]
            hit = held == keys[pending]
            found[pending[hit]] = self.values[slots[hit]]
            going = ~hit & (held != self.EMPTY)
            if not going.any():
                break
            pending, slots = pending[going], slots[going] + 1
        return found


def vocabulary_keys(vocabulary: dict[str, int], ngram_range: tuple[int, int],
                    build: bool = True) -> VocabularyKeys | None:
    """The :class:`VocabularyKeys` of a fitted vocabulary, built at first use (unless
    ``build`` is False) and kept for this process (the most recent few); None when its
    keys would not fit, or are not built and ``build`` is False."""
    key = (id(vocabulary), ngram_range)
    cached = _KEYS.get(key)
    if cached is None or cached[0] is not vocabulary:
        if not build:
            return None
        if len(_KEYS) >= _KEYS_KEPT:
            _KEYS.pop(next(iter(_KEYS)))
        cached = _KEYS[key] = (vocabulary, VocabularyKeys.of(vocabulary, ngram_range))
    return cached[1]


_KEYS: dict[tuple[int, tuple[int, int]], tuple[dict, VocabularyKeys | None]] = {}
_KEYS_KEPT = 4
#: The batch size from which scoring builds the integer keys of a vocabulary.
KEYS_BATCH = 200


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
    cut from: per document, an array of one weight per token (see
    :func:`chunk_token_contributions`)."""
    per_token, offsets = chunk_token_contributions(positions, weights)
    return [per_token[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]


def chunk_token_contributions(positions: CharPositions, weights: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """The character n-gram block's contributions spread over the tokens the n-grams were
    cut from, for the whole chunk: one weight per token of the documents laid end to end,
    and where each document's tokens begin (one more entry than documents).

    ``weights`` is documents x block columns: each column's contribution to the logit
    (coefficient x value).  A column's contribution is shared equally by its occurrences
    in the document and, within one, by its characters; a character's share goes to the
    token it came from.  Each document's token weights sum to its row of ``weights``, so
    the explanation stays exact while a segment gets one character contribution per token,
    not one per n-gram (a hundred and more).
    """
    n_columns = weights.shape[1]
    keys = positions.docs * n_columns + positions.columns
    weights = sparse.csr_matrix(weights)
    weights.sort_indices()
    rows = np.repeat(np.arange(weights.shape[0]), np.diff(weights.indptr))
    weight_keys = rows * n_columns + weights.indices
    # Each occurrence's entry of ``weights`` (none: the column weighs nothing in that
    # document); the occurrences of one entry counted on it.
    slot = np.searchsorted(weight_keys, keys)
    slot[slot == len(weight_keys)] = 0
    has_weight = weight_keys[slot] == keys if len(weight_keys) else np.zeros(len(keys), dtype=bool)
    slot = slot[has_weight]
    counts = np.bincount(slot, minlength=len(weight_keys))
    share = np.zeros(len(keys))
    share[has_weight] = weights.data[slot] / (positions.lengths[has_weight] * counts[slot])
    # Each character's shares added in one pass, in the order of the n-grams' lengths and
    # of their characters (one bincount: a sequential sum, as np.add.at would do, faster).
    chars, shares = [], []
    for n in np.unique(positions.lengths).tolist():
        these = positions.lengths == n
        for offset in range(n):
            chars.append(positions.starts[these] + offset)
            shares.append(share[these])
    per_char = np.bincount(np.concatenate(chars or [np.zeros(0, np.int64)]),
                           weights=np.concatenate(shares or [np.zeros(0)]), minlength=len(positions.owner))
    char_doc = np.repeat(np.arange(positions.n_docs), np.diff(positions.char_offsets))
    token = positions.token_offsets[char_doc] + positions.owner
    per_token = np.bincount(token, weights=per_char, minlength=int(positions.token_offsets[-1]))
    return per_token, np.asarray(positions.token_offsets)


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
