"""Normalization and MeCab tokenization (fugashi + unidic-lite).

Every text is tokenized once.  The result, a :class:`TokenizedText`, carries the tokens with
their character spans in the *original* text, so that the model's evidence and the marker
spans can be highlighted in place, and it carries the TF-IDF terms, so that the vectorizer
and the marker detectors reuse the same analysis instead of running MeCab again.

Why lemmas and placeholders: a model that must carry over to topics and outlets it never saw
should learn register ("発表した", "と述べた", "許さない"), not names.  URLs, user handles,
numbers and (by default) proper nouns become class placeholders; emoji stay tokens of their
own; words become their UniDic lemma.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable

import emoji as emoji_lib
from sklearn.base import BaseEstimator, TransformerMixin

URL_RE = re.compile(
    r"(?:https?://|(?<![A-Za-z0-9.\-])(?:pic\.twitter\.com|t\.co|x\.com|twitter\.com)/)[^\s<>\"'「」『』（）()、。]+",
    re.IGNORECASE,
)
MENTION_RE = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{1,30}")
HASHTAG_RE = re.compile(r"(?<![A-Za-z0-9_&/])#[^\s#@.,!?;:'\"()\[\]{}<>。、！？「」『』（）【】・]+")

URL_TERM = "<URL>"
PIC_TERM = "<PIC>"
USER_TERM = "<USER>"
HASHTAG_TERM = "<HASHTAG>"
EMOJI_TERM = "<EMOJI>"
FLAG_TERM = "<FLAG>"
NUM_TERM = "<NUM>"
PROPER_TERMS = {"人名": "<PERSON>", "地名": "<PLACE>", "組織名": "<ORG>"}
PROPER_OTHER_TERM = "<NAME>"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its text, lemma, coarse kind and span in the original text.

    ``kind`` is the UniDic part of speech (``名詞``, ``動詞``, ``助動詞``...) for words, or
    one of ``URL``, ``USER``, ``HASHTAG``, ``EMOJI`` for the pieces that never reach MeCab.
    ``pos2``/``pos3`` are UniDic's finer levels (``固有名詞``/``人名`` and so on).
    """

    surface: str
    lemma: str
    kind: str
    start: int
    end: int
    pos2: str = ""
    pos3: str = ""


@dataclass(slots=True)
class TokenizedText:
    """A text with its normalized form, tokens and TF-IDF terms (one term per token).

    ``offsets`` is the map of :func:`normalize_with_offsets` (``offsets[i]`` is the index in
    ``text`` of the character that produced ``norm[i]``), kept so that matches on ``norm``
    (the marker regexes) map back to the original text without normalizing again; it may be
    empty for texts built by hand, and is then recomputed where needed.
    """

    text: str
    norm: str
    tokens: list[Token]
    terms: list[str] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.tokens)


_tagger = None


def get_tagger():
    """Return this process's fugashi Tagger, creating it on first use.

    A Tagger wraps a C object and cannot be pickled, so it is never stored on an estimator:
    each process (a fresh CLI run, a joblib worker, a Dask worker) makes its own once.
    """
    global _tagger
    if _tagger is None:
        import fugashi
        import unidic_lite

        _tagger = fugashi.Tagger(f'-d "{unidic_lite.DICDIR}"')
    return _tagger


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """NFKC-normalize ``text`` and map each normalized character back to the original.

    Returns the normalized string and a list ``offsets`` of length ``len(norm) + 1`` where
    ``offsets[i]`` is the index in ``text`` of the character that produced ``norm[i]``.
    Characters are normalized in small clusters (a base character with the marks that
    combine with it, such as half-width voiced marks) so the result equals NFKC of the
    whole string in practice while keeping the map exact.
    """
    pieces: list[str] = []
    offsets: list[int] = []
    i = 0
    n = len(text)
    while i < n:
        j = i + 1
        while j < n and _combines(text[j]):
            j += 1
        cluster = unicodedata.normalize("NFKC", text[i:j])
        pieces.append(cluster)
        offsets.extend([i] * len(cluster))
        i = j
    offsets.append(n)
    return "".join(pieces), offsets


def _combines(char: str) -> bool:
    normalized = unicodedata.normalize("NFKC", char)
    return bool(normalized) and unicodedata.combining(normalized[0]) != 0


def normalize(text: str) -> str:
    """NFKC-normalize and collapse runs of white space: the form used to compare texts."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _special_spans(norm: str) -> list[tuple[int, int, str]]:
    """Spans of the normalized text that bypass MeCab: URLs, handles, hashtags, emoji."""
    spans: list[tuple[int, int, str]] = []
    taken = [False] * len(norm)

    def claim(start: int, end: int, kind: str) -> None:
        if any(taken[start:end]):
            return
        for k in range(start, end):
            taken[k] = True
        spans.append((start, end, kind))

    for m in URL_RE.finditer(norm):
        claim(m.start(), m.end(), "URL")
    for m in MENTION_RE.finditer(norm):
        claim(m.start(), m.end(), "USER")
    for m in HASHTAG_RE.finditer(norm):
        claim(m.start(), m.start() + 1, "HASHTAG")
    for found in emoji_lib.emoji_list(norm):
        claim(found["match_start"], found["match_end"], "EMOJI")
    spans.sort()
    return spans


def _is_flag(chars: str) -> bool:
    return any(0x1F1E6 <= ord(c) <= 0x1F1FF for c in chars) or "\U0001F3F4" in chars


def _mecab_tokens(norm: str, start: int, end: int, offsets: list[int]) -> Iterable[Token]:
    chunk = norm[start:end]
    if not chunk.strip():
        return
    pos = 0
    for word in get_tagger()(chunk):
        surface = word.surface
        found = chunk.find(surface, pos)
        if found < 0:
            found = pos
        pos = found + len(surface)
        feature = word.feature
        lemma = getattr(feature, "lemma", None) or surface
        if lemma == "*":
            lemma = surface
        elif "-" in lemma[1:]:
            lemma = lemma.split("-", 1)[0]  # UniDic glosses: "ガソリン-gasoline", "円-助数詞"
        a, b = start + found, start + found + len(surface)
        yield Token(
            surface=surface,
            lemma=lemma,
            kind=getattr(feature, "pos1", None) or "UNK",
            start=offsets[a],
            end=offsets[b] if b < len(offsets) else offsets[-1],
            pos2=getattr(feature, "pos2", None) or "",
            pos3=getattr(feature, "pos3", None) or "",
        )


def term_for(token: Token, proper_nouns: str = "class") -> str:
    """The TF-IDF term of a token: a placeholder for URLs, handles, numbers and emoji,
    optionally a class placeholder for proper nouns, else the lemma."""
    if token.kind == "URL":
        return PIC_TERM if "pic.twitter.com" in token.surface.lower() else URL_TERM
    if token.kind == "USER":
        return USER_TERM
    if token.kind == "HASHTAG":
        return HASHTAG_TERM
    if token.kind == "EMOJI":
        return FLAG_TERM if _is_flag(token.surface) else EMOJI_TERM
    if token.pos2 == "数詞" and any(ch.isdigit() for ch in token.surface):
        return NUM_TERM
    if proper_nouns == "class" and token.pos2 == "固有名詞":
        return PROPER_TERMS.get(token.pos3, PROPER_OTHER_TERM)
    return token.lemma


QUOTE_OPEN = "「『“〝"
QUOTE_CLOSE = "」』”〟"
QUOTED_PREFIX = "q:"
QUOTE_MODES = ("mark", "keep")


def document_terms(tokens: list[Token], proper_nouns: str = "class", quotes: str = "mark") -> list[str]:
    """The TF-IDF terms of a token sequence, one per token.

    With ``quotes="mark"`` the words inside 「」『』“” carry a ``q:`` prefix: a wire report
    quoting loaded language (「断じて許さない」と非難した) should not read like the loaded
    language itself, so quoted words become features of their own.
    """
    terms = []
    depth = 0
    for token in tokens:
        term = term_for(token, proper_nouns)
        surface = token.surface
        if surface in QUOTE_CLOSE and depth:
            depth -= 1
        elif quotes == "mark" and depth and not term.startswith("<") and token.kind not in ("補助記号", "空白"):
            term = QUOTED_PREFIX + term
        if surface in QUOTE_OPEN:
            depth += 1
        terms.append(term)
    return terms


def analyze(text: str, *, proper_nouns: str = "class", quotes: str = "mark") -> TokenizedText:
    """Normalize and tokenize one text.

    Parameters
    ----------
    text:
        The raw segment text.
    proper_nouns:
        ``"class"`` to replace proper nouns by ``<PERSON>``/``<PLACE>``/``<ORG>``/``<NAME>``
        terms, ``"keep"`` to keep their lemmas.

    Examples
    --------
    >>> doc = analyze("NHKによると、4日に発表した🇯🇵 https://t.co/x")
    >>> "<URL>" in doc.terms and "<FLAG>" in doc.terms
    True
    """
    norm, offsets = normalize_with_offsets(text)
    tokens: list[Token] = []
    cursor = 0
    for start, end, kind in _special_spans(norm):
        tokens.extend(_mecab_tokens(norm, cursor, start, offsets))
        surface = norm[start:end]
        tokens.append(Token(surface, surface, kind, offsets[start], offsets[end]))
        cursor = end
    tokens.extend(_mecab_tokens(norm, cursor, len(norm), offsets))
    terms = document_terms(tokens, proper_nouns, quotes)
    return TokenizedText(text=text, norm=norm, tokens=tokens, terms=terms, offsets=offsets)


def doc_terms(doc: TokenizedText) -> list[str]:
    """The TF-IDF tokenizer: a module-level callable so that a Pipeline using it pickles."""
    return doc.terms


def identity(doc):
    """The TF-IDF preprocessor: documents arrive already analyzed."""
    return doc


class JapaneseTokenizer(TransformerMixin, BaseEstimator):
    """Pipeline step that turns raw texts into :class:`TokenizedText` objects.

    Stateless (``fit`` learns nothing); it exists so that the saved Pipeline takes raw
    strings and tokenizes each exactly once for every feature block after it.

    Parameters
    ----------
    proper_nouns : {"class", "keep"}, default="class"
        How proper nouns become terms; see :func:`analyze`.
    quotes : {"mark", "keep"}, default="mark"
        Whether quoted words get terms of their own; see :func:`document_terms`.
    """

    def __init__(self, proper_nouns: str = "class", quotes: str = "mark") -> None:
        self.proper_nouns = proper_nouns
        self.quotes = quotes

    def fit(self, X, y=None):
        if self.proper_nouns not in ("class", "keep"):
            raise ValueError(f"proper_nouns must be 'class' or 'keep', got {self.proper_nouns!r}")
        if self.quotes not in QUOTE_MODES:
            raise ValueError(f"quotes must be one of {QUOTE_MODES}, got {self.quotes!r}")
        return self

    def transform(self, X) -> list[TokenizedText]:
        """Analyze raw strings; already analyzed texts pass through untouched."""
        quotes = getattr(self, "quotes", "keep")  # models pickled before the option existed
        return [
            x if isinstance(x, TokenizedText) else analyze(str(x), proper_nouns=self.proper_nouns, quotes=quotes)
            for x in X
        ]
