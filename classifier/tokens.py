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

import csv
import re
import shlex
import unicodedata
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

import emoji as emoji_lib
from sklearn.base import BaseEstimator, TransformerMixin

from .limits import MAX_SEGMENT_CHARS, segment_too_long

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


class Token(NamedTuple):
    """One token: its text, lemma, coarse kind and span in the original text.

    ``kind`` is the UniDic part of speech (``名詞``, ``動詞``, ``助動詞``...) for words, or
    one of ``URL``, ``USER``, ``HASHTAG``, ``EMOJI`` for the pieces that never reach MeCab.
    ``pos2``/``pos3`` are UniDic's finer levels (``固有名詞``/``人名`` and so on).

    An immutable named tuple rather than a frozen dataclass: a dump of millions of segments
    makes tens of millions of tokens, and a tuple is built several times faster.
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
MECAB_RC = Path(__file__).parent / "mecab_format.rc"
_EOS = "EOS"


def get_tagger():
    """Return this process's fugashi tagger, creating it on first use.

    A fugashi ``GenericTagger`` over unidic-lite, with the output format of
    ``mecab_format.rc`` (one ``surface<TAB>features`` line per token), read by
    :func:`_mecab_tokens`.  Iterating it (``tagger(text)``) gives MeCab nodes as usual.

    A tagger wraps a C object and cannot be pickled, so it is never stored on an estimator:
    each process (a fresh CLI run, a joblib worker, a Dask worker) makes its own once.
    """
    global _tagger
    if _tagger is None:
        import fugashi
        import unidic_lite

        _tagger = fugashi.GenericTagger(f"-d {shlex.quote(unidic_lite.DICDIR)} -r {shlex.quote(str(MECAB_RC))}")
    return _tagger


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """NFKC-normalize ``text`` and map each normalized character back to the original.

    Returns the normalized string and a list ``offsets`` of length ``len(norm) + 1`` where
    ``offsets[i]`` is the index in ``text`` of the character that produced ``norm[i]``.
    Characters are normalized in small clusters (a base character with the marks that
    combine with it, such as half-width voiced marks) so the result equals NFKC of the
    whole string in practice while keeping the map exact.
    """
    n = len(text)
    if text.isascii():
        return text, list(range(n + 1))
    if not text.translate(_COMBINING_CHARS):
        # No combining marks, so every character is a cluster of its own: map each through
        # a per-character NFKC table (C speed) instead of normalizing clusters one by one.
        norm = text.translate(_NFKC_CHARS)
        if len(norm) == n:
            return norm, list(range(n + 1))
        offsets = [i for i, char in enumerate(text) for _ in range(len(_NFKC_CHARS[ord(char)]))]
        offsets.append(n)
        return norm, offsets
    pieces: list[str] = []
    offsets = []
    i = 0
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


def original_span(offsets: list[int], a: int, b: int) -> tuple[int, int]:
    """Map the normalized span [a, b) to the original text (``offsets`` as returned by
    :func:`normalize_with_offsets`).

    The end is the first original index past the character that produced ``norm[b-1]``,
    so a span that covers only part of an expansion ("…" -> "...", "㌔" -> "キロ") still
    maps to the whole original character, never to an empty span.
    """
    start = offsets[a]
    last = offsets[b - 1] if b > a else start
    k = b
    while offsets[k] <= last and k < len(offsets) - 1:
        k += 1
    return start, max(offsets[k], start)


def _combines(char: str) -> bool:
    normalized = unicodedata.normalize("NFKC", char)
    return bool(normalized) and unicodedata.combining(normalized[0]) != 0


class _NFKCTable(dict):
    """``str.translate`` table: code point -> NFKC of that one character, filled on demand."""

    def __missing__(self, code: int) -> str:
        self[code] = value = unicodedata.normalize("NFKC", chr(code))
        return value


class _CombiningTable(dict):
    """``str.translate`` table that keeps only the characters :func:`_combines` is true for."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        self[code] = value = char if _combines(char) else None
        return value


_NFKC_CHARS = _NFKCTable()
_COMBINING_CHARS = _CombiningTable()
_emoji_chars: frozenset[str] | None = None


def _may_hold_emoji(norm: str) -> bool:
    """False when ``norm`` has none of the non-ASCII characters any emoji is made of.

    ``emoji.emoji_list`` walks the text in Python; most segments hold no emoji at all, and
    this one set test (every emoji has a non-ASCII character) lets them skip it.
    """
    global _emoji_chars
    if _emoji_chars is None:
        _emoji_chars = frozenset(c for key in emoji_lib.EMOJI_DATA for c in key if not c.isascii())
    return not norm.isascii() and not _emoji_chars.isdisjoint(norm)


def normalize(text: str) -> str:
    """NFKC-normalize and collapse runs of white space: the form used to compare texts."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _special_spans(norm: str) -> list[tuple[int, int, str]]:
    """Spans of the normalized text that bypass MeCab: URLs, handles, hashtags, emoji."""
    emoji = _may_hold_emoji(norm)
    if not emoji and "/" not in norm and "@" not in norm and "#" not in norm:
        return []  # the common case, decided without running any pattern
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
    for found in emoji_lib.emoji_list(norm) if emoji else ():
        claim(found["match_start"], found["match_end"], "EMOJI")
    spans.sort()
    return spans


def _is_flag(chars: str) -> bool:
    return any(0x1F1E6 <= ord(c) <= 0x1F1FF for c in chars) or "\U0001F3F4" in chars


def _mecab_tokens(norm: str, start: int, end: int, offsets: list[int], identity: bool = False) -> list[Token]:
    """The MeCab tokens of ``norm[start:end]``, with spans in the original text.

    ``identity`` says that ``offsets[i] == i`` throughout (normalization changed no
    character count), which lets the spans skip the offset map.
    """
    chunk = norm[start:end]
    if not chunk.strip():
        return []
    if "\x00" in chunk:  # MeCab reads C strings and would stop at a NUL: make it a space
        chunk = chunk.replace("\x00", " ")
    words = _mecab_words(chunk)
    tokens: list[Token] = []
    new_token = tuple.__new__  # Token(...) without the Python-level __new__: hot loop
    append = tokens.append
    if identity:
        # Every character is its own original (no NFKC expansion) and, if the surfaces add
        # up to the whole chunk, MeCab skipped no white space: spans are running sums.
        pos = start
        for surface, lemma, kind, pos2, pos3 in words:
            begin, pos = pos, pos + len(surface)
            append(new_token(Token, (surface, lemma, kind, begin, pos, pos2, pos3)))
        if pos == end:
            return tokens
        tokens.clear()
    pos = 0
    last = len(offsets) - 1
    find = chunk.find
    for surface, lemma, kind, pos2, pos3 in words:
        found = find(surface, pos)
        if found < 0:
            found = pos
        pos = found + len(surface)
        a, b = start + found, min(start + pos, last)
        begin, end_ = offsets[a], offsets[b]
        if b > a and end_ <= offsets[b - 1]:  # the token ends inside an expanded character
            begin, end_ = original_span(offsets, a, b)
        append(new_token(Token, (surface, lemma, kind, begin, end_, pos2, pos3)))
    return tokens


def _mecab_words(chunk: str) -> list[tuple[str, str, str, str, str]]:
    """(surface, lemma, pos1, pos2, pos3) of each MeCab token of ``chunk``, in order.

    Reads MeCab's formatted output (one ``surface<TAB>features`` line per token, see
    ``mecab_format.rc``) and looks each line up in a table of lines already parsed: a dump
    repeats the same few thousand dictionary entries.  Should a line ever not split (a
    surface holding a line break), the chunk is read node by node instead.
    """
    if len(chunk) > MAX_SEGMENT_CHARS:  # MeCab would crash the process (see classifier.limits)
        raise ValueError(segment_too_long(chunk) or f"a text of {len(chunk):,} characters is too long to tokenize")
    lines = get_tagger().parse(chunk).split("\n")
    if not lines or lines[-1] != _EOS:
        return _node_words(chunk)
    lines.pop()
    table = _WORDS
    words = list(map(table.get, lines))
    if None in words:  # lines not seen before: parse them once
        for k, word in enumerate(words):
            if word is None:
                surface, tab, raw = lines[k].partition("\t")
                if not tab:
                    return _node_words(chunk)
                words[k] = word = _word(surface, raw)
                if len(table) >= _WORDS_MAX:
                    table.clear()
                table[lines[k]] = word
    return words


def _node_words(chunk: str) -> list[tuple[str, str, str, str, str]]:
    """:func:`_mecab_words` from MeCab's nodes, one Python object per token (slower)."""
    return [_word(node.surface, node.feature_raw) for node in get_tagger()(chunk)]


def _word(surface: str, raw: str) -> tuple[str, str, str, str, str]:
    lemma, kind, pos2, pos3 = _parse_feature(raw)
    if lemma is None:  # no lemma field: the surface stands in, glosses cut as below
        lemma = surface.split("-", 1)[0] if "-" in surface[1:] else surface
    elif not lemma:
        lemma = surface
    return surface, lemma, kind, pos2, pos3


# A line of MeCab's output (surface and features) -> the word it stands for.  Building
# fugashi's named tuple of 29 fields for every token would cost more than the tokenization
# itself: the four fields used here are parsed once per distinct line and remembered.
_WORDS: dict[str, tuple[str, str, str, str, str]] = {}
_WORDS_MAX = 50_000  # about 20 MB at most


def _parse_feature(raw: str) -> tuple[str | None, str, str, str]:
    """(lemma, pos1, pos2, pos3) from a UniDic feature string; the lemma is ``""`` where
    UniDic writes ``*`` (use the surface) and None where there is no lemma field (unknown
    words: use the surface, glosses cut)."""
    if '"' in raw:
        fields = next(csv.reader([raw]))
    else:
        fields = raw.split(",")
    lemma = fields[7] if len(fields) > 7 and fields[7] else None
    if lemma == "*":
        lemma = ""
    elif lemma is not None and "-" in lemma[1:]:
        lemma = lemma.split("-", 1)[0]  # UniDic glosses: "ガソリン-gasoline", "円-助数詞"
    return (
        lemma,
        fields[0] or "UNK",
        fields[1] if len(fields) > 1 else "",
        fields[2] if len(fields) > 2 else "",
    )


NAMES_FILE = Path(__file__).parent / "names.tsv"
NAME_CLASSES = {"ORG": "組織名", "PERSON": "人名", "PLACE": "地名"}
_names: dict[str, list[tuple[tuple[str, ...], str, str]]] | None = None


def _name_index() -> dict[str, list[tuple[tuple[str, ...], str, str]]]:
    """``names.tsv`` as MeCab splits each name: first surface -> [(surfaces, name, UniDic
    pos3)], longest first.  Built once per process."""
    global _names
    if _names is None:
        index: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
        with NAMES_FILE.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
        for row in rows:
            if not row or not row[0].strip():
                continue
            name = unicodedata.normalize("NFKC", row[0].strip())
            surfaces = tuple(w[0] for w in _mecab_words(name))
            index.setdefault(surfaces[0], []).append((surfaces, name, NAME_CLASSES[row[1].strip()]))
        for entries in index.values():
            entries.sort(key=lambda entry: -len(entry[0]))
        _names = index
    return _names


def merge_names(tokens: list[Token]) -> list[Token]:
    """Tokens with every name of ``names.tsv`` joined into one proper-noun token.

    MeCab splits some names into common words (立憲民主党 -> 立憲 民主 党, 国民民主党 -> 国民 民主
    党): their pieces would be features of their own, and a party's name would move a
    score.  As one proper noun, each becomes a class term (``<ORG>``) like any other name.
    """
    index = _name_index()
    if index.keys().isdisjoint(map(itemgetter(0), tokens)):  # the common case, at C speed
        return tokens
    out: list[Token] = []
    i, n = 0, len(tokens)
    while i < n:
        token = tokens[i]
        for surfaces, name, pos3 in index.get(token.surface, ()):
            k = len(surfaces)
            if tuple(t.surface for t in tokens[i : i + k]) == surfaces:
                out.append(Token("".join(surfaces), name, "名詞", token.start, tokens[i + k - 1].end, "固有名詞", pos3))
                i += k
                break
        else:
            out.append(token)
            i += 1
    return out


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
    terms: list[str] = []
    append = terms.append
    depth = 0
    mark = quotes == "mark"
    for token in tokens:
        surface, lemma, kind, _, _, pos2, _ = token
        # Only placeholders, numerals and proper nouns have a term other than the lemma.
        term = term_for(token, proper_nouns) if (kind in PLACEHOLDER_KINDS or pos2 in CLASS_TERM_POS2) else lemma
        if surface in QUOTE_CLOSE and depth:
            depth -= 1
        elif mark and depth and not term.startswith("<") and kind not in ("補助記号", "空白"):
            term = QUOTED_PREFIX + term
        if surface in QUOTE_OPEN:
            depth += 1
        append(term)
    return terms


#: Token kinds and UniDic pos2 values whose term may differ from the lemma (see term_for).
PLACEHOLDER_KINDS = frozenset({"URL", "USER", "HASHTAG", "EMOJI"})
CLASS_TERM_POS2 = frozenset({"数詞", "固有名詞"})


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
    identity = len(norm) == len(text) and offsets == list(range(len(offsets)))
    tokens: list[Token] = []
    cursor = 0
    for start, end, kind in _special_spans(norm):
        tokens.extend(_mecab_tokens(norm, cursor, start, offsets, identity))
        surface = norm[start:end]
        tokens.append(Token(surface, surface, kind, *original_span(offsets, start, end)))
        cursor = end
    tokens.extend(_mecab_tokens(norm, cursor, len(norm), offsets, identity))
    tokens = merge_names(tokens)
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
