"""Normalization and MeCab tokenization (fugashi + unidic-lite).

Every text is tokenized once.  The result, a :class:`TokenizedText`, carries the tokens with
their character spans in the *original* text, so that the model's evidence and the marker
spans can be highlighted in place, and it carries the TF-IDF terms, so that the vectorizer
and the marker detectors reuse the same analysis instead of running MeCab again.

The tokens are kept as columns: ``words`` (one tuple per token, shared by every token of
the same MeCab output line: surface, lemma, part of speech, term), ``starts`` and ``ends``.
A dump of millions of segments makes tens of millions of tokens, and a token object for
each would cost more than MeCab's own analysis; ``TokenizedText.tokens`` builds
:class:`Token` objects on demand for the code that wants them.

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
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import accumulate, compress
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple, Sequence

import emoji as emoji_lib
from sklearn.base import BaseEstimator, TransformerMixin

from .limits import MAX_SEGMENT_CHARS, segment_too_long
from .patterns import HASHTAG_RE, MENTION_RE, URL_RE

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
    """One token: its text, lemma, coarse kind, TF-IDF term and span in the original text.

    ``kind`` is the UniDic part of speech (``名詞``, ``動詞``, ``助動詞``...) for words, or
    one of ``URL``, ``USER``, ``HASHTAG``, ``EMOJI`` for the pieces that never reach MeCab.
    ``pos2``/``pos3`` are UniDic's finer levels (``固有名詞``/``人名`` and so on).  ``term`` is
    the token's TF-IDF term with proper nouns as class placeholders (see :func:`term_for`).
    ``key`` is one character standing for the lemma (see :func:`lemma_key`).  The fields
    up to ``key`` are the token's :data:`Word`.
    """

    surface: str
    lemma: str
    kind: str
    pos2: str
    pos3: str
    term: str
    key: str
    start: int
    end: int


#: What a token is, apart from where: (surface, lemma, kind, pos2, pos3, term, key), the
#: fields of :class:`Token` up to ``key``.  One tuple serves every token of the same MeCab line.
Word = tuple[str, str, str, str, str, str, str]
SURFACE, LEMMA, KIND, POS2, POS3, TERM, KEY = range(7)
#: The lemma key of the words that carry no lemma of their own (see :func:`lemma_key`).
NO_KEY = "\x00"
_KEYLESS_KINDS = frozenset({"補助記号", "空白", "URL", "USER"})


@dataclass(slots=True)
class TokenizedText:
    """A text with its normalized form, tokens and TF-IDF terms (one term per token), and
    the annotations later stages add to it, so that each is computed once per text.

    The tokens are three columns: ``words`` (a :data:`Word` per token), ``starts`` and
    ``ends`` (each token's span in ``text``); :attr:`tokens` gives them as :class:`Token`
    objects.  ``offsets`` is the map of :func:`normalize_with_offsets` (``offsets[i]`` is
    the index in ``text`` of the character that produced ``norm[i]``), kept so that
    matches on ``norm`` (the marker regexes) map back to the original text without
    normalizing again; it may be empty for texts built by hand, and is then recomputed
    where needed.

    ``urls``, ``hashtags`` (without ``#``) and ``mentions`` (without ``@``) are the
    entities :func:`analyze` found while it set URLs, hashtags and handles apart from
    MeCab.  ``markers`` is set by :func:`classifier.markers.annotate_markers` (the spans
    of the lexicon named by ``markers_key``), so that the model's marker features, the
    evidence and the scores file share one detection.
    """

    text: str
    norm: str
    words: list[Word]
    starts: list[int]
    ends: list[int]
    terms: list[str] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list, repr=False)
    urls: list[str] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    markers: tuple | None = field(default=None, repr=False)  # of MarkerSpan (classifier.markers)
    markers_key: str = field(default="", repr=False)
    _tokens: list[Token] | None = field(default=None, init=False, repr=False, compare=False)
    _keys: str | None = field(default=None, init=False, repr=False, compare=False)
    _emoji: list[int] | None = field(default=None, init=False, repr=False, compare=False)
    _quotes: tuple[list[bool], list[bool]] | None | bool = field(default=False, init=False, repr=False, compare=False)

    @property
    def tokens(self) -> list[Token]:
        """The tokens as :class:`Token` objects (built on first use)."""
        if self._tokens is None:
            new = tuple.__new__
            self._tokens = [new(Token, (*word, start, end)) for word, start, end in zip(self.words, self.starts, self.ends)]
        return self._tokens

    @property
    def lemma_keys(self) -> str:
        """The lemma keys (see :func:`lemma_key`) of the words that carry a lemma, as one
        string: equal runs of lemmas are equal substrings (made on first use)."""
        if self._keys is None:
            self._keys = "".join(map(itemgetter(KEY), self.words)).replace(NO_KEY, "")
        return self._keys

    @property
    def emoji(self) -> list[int]:
        """The indices of the emoji tokens, in order (found on first use, at C speed): the
        marker detectors and the marker block all ask, and most texts have none."""
        if self._emoji is None:
            kinds = list(map(itemgetter(KIND), self.words))
            self._emoji = list(compress(range(len(kinds)), map("EMOJI".__eq__, kinds))) if "EMOJI" in kinds else []
        return self._emoji

    @property
    def quotes(self) -> tuple[list[bool], list[bool]] | None:
        """Per token, whether it lies inside a quotation and whether what follows it does
        (see :func:`quote_walk`); None when the text opens no quotation (most texts).
        Walked once per text: the word terms and the character n-grams both read it."""
        if self._quotes is False:
            opens = any(q in self.norm for q in QUOTE_OPEN)
            self._quotes = quote_walk(list(map(itemgetter(SURFACE), self.words))) if opens else None
        return self._quotes

    def __len__(self) -> int:
        return len(self.words)


_tagger = None
MECAB_RC = Path(__file__).parent / "mecab_format.rc"
_EOS = "EOS"


def get_tagger():
    """Return this process's fugashi tagger, creating it on first use.

    A fugashi ``GenericTagger`` over unidic-lite, with the output format of
    ``mecab_format.rc`` (one ``surface<TAB>features`` line per token), read by
    :func:`_mecab_words`.  Iterating it (``tagger(text)``) gives MeCab nodes as usual.

    A tagger wraps a C object and cannot be pickled, so it is never stored on an estimator:
    each process (a fresh CLI run, a joblib worker, a Dask worker) makes its own once.
    """
    global _tagger
    if _tagger is None:
        import fugashi
        import unidic_lite

        _tagger = fugashi.GenericTagger(f"-d {shlex.quote(unidic_lite.DICDIR)} -r {shlex.quote(str(MECAB_RC))}")
    return _tagger


#: madvise(2)'s MADV_DONTNEED on Linux: a range's pages leave the process's resident set.
_MADV_DONTNEED = 4


def release_dictionary_pages() -> int:
    """Let the pages of MeCab's memory-mapped dictionary leave this process's resident
    memory, and return how many bytes of mappings were advised (0 when this process has
    no tagger, or off Linux).

    MeCab maps unidic-lite's files read-only and shared (``sys.dic``, 188 MB, and
    ``matrix.bin``, 72 MB); tokenizing a large dump touches nearly all of them, so they
    make about 250 MB of a run's resident memory.  ``madvise(MADV_DONTNEED)`` unmaps the
    pages from this process only: they stay in the system's file cache, the tagger stays
    usable, and a later tokenization maps back, page by page, what it reads.  A scoring run
    calls this once its last chunk is scored, since campaign matching, the account tables
    and the files written after them never tokenize.
    """
    if _tagger is None:
        return 0
    import ctypes

    import unidic_lite

    folder = str(Path(unidic_lite.DICDIR).resolve())
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            lines = maps.readlines()
    except (OSError, AttributeError):
        return 0
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    released = 0
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or "w" in fields[1] or not fields[5].strip().startswith(folder):
            continue  # only the dictionary's read-only mappings: no page of them was ever written
        start, end = (int(x, 16) for x in fields[0].split("-"))
        if madvise(start, end - start, _MADV_DONTNEED) == 0:
            released += end - start
    return released


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """NFKC-normalize ``text`` and map each normalized character back to the original.

    Returns the normalized string and a list ``offsets`` of length ``len(norm) + 1`` where
    ``offsets[i]`` is the index in ``text`` of the character that produced ``norm[i]``.
    Characters are normalized in small clusters (a base character with the marks that
    combine with it, such as half-width voiced marks) so the result equals NFKC of the
    whole string in practice while keeping the map exact.
    """
    norm, offsets, _ = _normalized(text)
    return norm, offsets


def _normalized(text: str) -> tuple[str, list[int], bool]:
    """:func:`normalize_with_offsets`, and whether the offsets are the identity (every
    normalized character at the index of its original)."""
    n = len(text)
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return text, list(range(n + 1)), True  # already normalized (most posts): one C-level check
    if not text.translate(_COMBINING_CHARS):
        # No combining marks, so every character is a cluster of its own: map each through
        # a per-character NFKC table (C speed) instead of normalizing clusters one by one.
        norm = text.translate(_NFKC_CHARS)
        if len(norm) == n:
            return norm, list(range(n + 1)), True
        offsets = [i for i, char in enumerate(text) for _ in range(len(_NFKC_CHARS[ord(char)]))]
        offsets.append(n)
        return norm, offsets, False
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
    return "".join(pieces), offsets, offsets == list(range(n + 1))


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


def entities(norm: str) -> tuple[list[str], list[str], list[str]]:
    """The URLs, hashtags (without ``#``) and @handles (without ``@``) of a normalized
    text, each in order with duplicates kept; URLs are blanked out before hashtags and
    handles are looked for (``https://x.com/a#b`` holds no hashtag)."""
    if "/" not in norm and "#" not in norm and "@" not in norm:
        return [], [], []  # most segments: no URL needs a slash, no hashtag, no handle
    urls = [m.group(0) for m in URL_RE.finditer(norm)]
    rest = URL_RE.sub(lambda m: " " * len(m.group(0)), norm) if urls else norm
    hashtags = [m.group(0)[1:] for m in HASHTAG_RE.finditer(rest)]
    mentions = [m.group(0)[1:] for m in MENTION_RE.finditer(rest)]
    return urls, hashtags, mentions


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


Columns = tuple[list[Word], list[int], list[int]]
_SPACE_RE = re.compile(r"\s+")


def _mecab_tokens(norm: str, start: int, end: int, offsets: list[int], identity: bool = False) -> Columns:
    """The MeCab tokens of ``norm[start:end]`` as columns (words, starts, ends), with spans
    in the original text.

    ``identity`` says that ``offsets[i] == i`` throughout (normalization changed no
    character count), which lets the spans skip the offset map.
    """
    chunk = norm[start:end]
    if not chunk.strip():
        return [], [], []
    if "\x00" in chunk:  # MeCab reads C strings and would stop at a NUL: make it a space
        chunk = chunk.replace("\x00", " ")
    words = _mecab_words(chunk)
    if identity:
        # Every character is its own original (no NFKC expansion) and, if the surfaces add
        # up to the whole chunk, MeCab skipped no white space: spans are running sums.
        surfaces = list(map(itemgetter(SURFACE), words))
        bounds = list(accumulate(map(len, surfaces), initial=start))
        if bounds[-1] == end:
            return words, bounds[:-1], bounds[1:]
        if "".join(surfaces) == _SPACE_RE.sub("", chunk):
            # MeCab skipped white space, and nothing else: the surfaces are the other
            # characters in order, so the running sums are right up to the white space
            # skipped before each character.
            starts, ends = _shifted_past_spaces(chunk, start, bounds)
            return words, starts, ends
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    last = len(offsets) - 1
    find = chunk.find
    for word in words:
        surface = word[SURFACE]
        found = find(surface, pos)
        if found < 0:
            found = pos
        pos = found + len(surface)
        a, b = start + found, min(start + pos, last)
        begin, end_ = offsets[a], offsets[b]
        if b > a and end_ <= offsets[b - 1]:  # the token ends inside an expanded character
            begin, end_ = original_span(offsets, a, b)
        starts.append(begin)
        ends.append(end_)
    return words, starts, ends


def _shifted_past_spaces(chunk: str, start: int, bounds: list[int]) -> tuple[list[int], list[int]]:
    """Token spans from the running sums ``bounds`` of surfaces that leave out the white
    space of ``chunk`` (which begins at ``start``): a token's first character moves right
    by the white space before it, and so does its last.  One step per run of white space
    (a few a text), each moving a slice of the spans at C speed, not one per character."""
    starts, ends = bounds[:-1], bounds[1:]
    out_starts: list[int] = []
    out_ends: list[int] = []
    done_starts = done_ends = 0
    shift = 0  # white space skipped so far
    for run in _SPACE_RE.finditer(chunk):
        at = start + run.start() - shift  # where the run sits among the characters kept
        k = bisect_left(starts, at, done_starts)  # tokens starting at or after it
        out_starts.extend(map(shift.__add__, starts[done_starts:k]))
        done_starts = k
        k = bisect_right(ends, at, done_ends)  # tokens whose last character is after it
        out_ends.extend(map(shift.__add__, ends[done_ends:k]))
        done_ends = k
        shift += run.end() - run.start()
    out_starts.extend(map(shift.__add__, starts[done_starts:]))
    out_ends.extend(map(shift.__add__, ends[done_ends:]))
    return out_starts, out_ends


def _mecab_words(chunk: str) -> list[Word]:
    """The :data:`Word` of each MeCab token of ``chunk``, in order.

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
    if words.count(None):  # lines not seen before: parse them once
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


def _node_words(chunk: str) -> list[Word]:
    """:func:`_mecab_words` from MeCab's nodes, one Python object per token (slower)."""
    return [_word(node.surface, node.feature_raw) for node in get_tagger()(chunk)]


def _word(surface: str, raw: str) -> Word:
    lemma, kind, pos2, pos3 = _parse_feature(raw)
    if lemma is None:  # no lemma field: the surface stands in, glosses cut as below
        lemma = surface.split("-", 1)[0] if "-" in surface[1:] else surface
    elif not lemma:
        lemma = surface
    return make_word(surface, lemma, kind, pos2, pos3)


def make_word(surface: str, lemma: str, kind: str, pos2: str = "", pos3: str = "") -> Word:
    """A :data:`Word`, its class term and lemma key computed once (:func:`term_for`,
    :func:`lemma_key`)."""
    return (surface, lemma, kind, pos2, pos3, _class_term(surface, lemma, kind, pos2, pos3), lemma_key(lemma, kind))


def lemma_key(lemma: str, kind: str) -> str:
    """One character standing for a lemma, the same for every word of that lemma, so that
    runs of lemmas compare as strings, at C speed (``"".join`` of the keys, then a regex or
    a substring search): the repetition detectors' quick test.  Punctuation, white space,
    URLs and handles, which carry no lemma of their own, share :data:`NO_KEY`.  Two lemmas
    may share a key (it is taken from the lemma's hash): a test on keys can say "maybe",
    never a wrong "no"."""
    if kind in _KEYLESS_KINDS:
        return NO_KEY
    return chr(0x100 + hash(lemma) % 0xD700)


# A line of MeCab's output (surface and features) -> the word it stands for.  Building
# fugashi's named tuple of 29 fields for every token would cost more than the tokenization
# itself: the fields used here are parsed once per distinct line and remembered.
_WORDS: dict[str, Word] = {}
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
_names: dict[str, list[tuple[tuple[str, ...], Word]]] | None = None


def _name_index() -> dict[str, list[tuple[tuple[str, ...], Word]]]:
    """``names.tsv`` as MeCab splits each name: first surface -> [(surfaces, the name's
    word)], longest first.  Built once per process."""
    global _names
    if _names is None:
        index: dict[str, list[tuple[tuple[str, ...], Word]]] = {}
        with NAMES_FILE.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
        for row in rows:
            if not row or not row[0].strip():
                continue
            name = unicodedata.normalize("NFKC", row[0].strip())
            surfaces = tuple(w[SURFACE] for w in _mecab_words(name))
            word = make_word("".join(surfaces), name, "名詞", "固有名詞", NAME_CLASSES[row[1].strip()])
            index.setdefault(surfaces[0], []).append((surfaces, word))
        for entries in index.values():
            entries.sort(key=lambda entry: -len(entry[0]))
        _names = index
    return _names


def merge_names(words: list[Word], starts: list[int], ends: list[int]) -> Columns:
    """Tokens (as columns) with every name of ``names.tsv`` joined into one proper-noun token.

    MeCab splits some names into common words (立憲民主党 -> 立憲 民主 党, 国民民主党 -> 国民 民主
    党): their pieces would be features of their own, and a party's name would move a
    score.  As one proper noun, each becomes a class term (``<ORG>``) like any other name.
    """
    index = _name_index()
    surfaces = list(map(itemgetter(SURFACE), words))
    matches: list[tuple[int, int, Word]] = []  # (first token, tokens, the name's word)
    after = 0
    for i in compress(range(len(words)), map(index.__contains__, surfaces)):  # a name's first word (C speed)
        if i < after:
            continue
        for names, word in index[surfaces[i]]:
            k = len(names)
            if tuple(surfaces[i : i + k]) == names:
                matches.append((i, k, word))
                after = i + k
                break
    if not matches:
        return words, starts, ends  # the common case: the columns as they are
    out_words: list[Word] = []
    out_starts: list[int] = []
    out_ends: list[int] = []
    done = 0
    for i, k, word in matches:
        out_words.extend(words[done:i])
        out_starts.extend(starts[done:i])
        out_ends.extend(ends[done:i])
        out_words.append(word)
        out_starts.append(starts[i])
        out_ends.append(ends[i + k - 1])
        done = i + k
    out_words.extend(words[done:])
    out_starts.extend(starts[done:])
    out_ends.extend(ends[done:])
    return out_words, out_starts, out_ends


def _class_term(surface: str, lemma: str, kind: str, pos2: str, pos3: str) -> str:
    if kind == "URL":
        return PIC_TERM if "pic.twitter.com" in surface.lower() else URL_TERM
    if kind == "USER":
        return USER_TERM
    if kind == "HASHTAG":
        return HASHTAG_TERM
    if kind == "EMOJI":
        return FLAG_TERM if _is_flag(surface) else EMOJI_TERM
    if pos2 == "数詞" and any(ch.isdigit() for ch in surface):
        return NUM_TERM
    if pos2 == "固有名詞":
        return PROPER_TERMS.get(pos3, PROPER_OTHER_TERM)
    return lemma


def term_for(token: Word | Token, proper_nouns: str = "class") -> str:
    """The TF-IDF term of a token: a placeholder for URLs, handles, numbers and emoji,
    optionally a class placeholder for proper nouns (``proper_nouns="class"``, the term a
    :data:`Word` carries), else the lemma."""
    if proper_nouns != "class" and token[POS2] == "固有名詞" and token[KIND] not in PLACEHOLDER_KINDS:
        return token[LEMMA]
    return token[TERM]


QUOTE_OPEN = "「『“〝"
QUOTE_CLOSE = "」』”〟"
QUOTED_PREFIX = "q:"
QUOTE_MODES = ("mark", "keep")


def quote_walk(surfaces: Sequence[str]) -> tuple[list[bool], list[bool]]:
    """Per token (given by its surface): whether it lies inside a quotation (the opening
    and closing marks of the outermost one do not) and whether what follows it does."""
    inside: list[bool] = []
    after: list[bool] = []
    depth = 0
    for surface in surfaces:
        if surface in QUOTE_CLOSE and depth:
            depth -= 1
        inside.append(depth > 0)
        if surface in QUOTE_OPEN:
            depth += 1
        after.append(depth > 0)
    return inside, after


def document_terms(words: Sequence[Word | Token], proper_nouns: str = "class", quotes: str = "mark",
                   norm: str | None = None, walk: tuple[list[bool], list[bool]] | None | bool = False) -> list[str]:
    """The TF-IDF terms of a token sequence (words or tokens), one per token.

    With ``quotes="mark"`` the words inside 「」『』“” carry a ``q:`` prefix: a wire report
    quoting loaded language (「断じて許さない」と非難した) should not read like the loaded
    language itself, so quoted words become features of their own.  ``walk`` is the
    words' :func:`quote_walk` when the caller has it (``TokenizedText.quotes``: None, when
    nothing is quoted); otherwise ``norm``, the normalized text the words were cut from,
    tells at once whether anything can be quoted (every character of a surface is one of
    its characters), and the words are walked here.
    """
    if proper_nouns == "class":
        terms = list(map(itemgetter(TERM), words))
    else:
        terms = [term_for(word, proper_nouns) for word in words]
    if quotes != "mark":
        return terms
    if walk is False:
        text = norm if norm is not None else "".join(map(itemgetter(SURFACE), words))
        walk = quote_walk(list(map(itemgetter(SURFACE), words))) if any(q in text for q in QUOTE_OPEN) else None
    if walk is None:
        return terms  # nothing is quoted (most texts)
    for k in compress(range(len(terms)), walk[0]):
        word = words[k]
        # A closing mark is not quoted, even the inner one of a nested quotation.
        if (not terms[k].startswith("<") and word[KIND] not in ("補助記号", "空白")
                and word[SURFACE] not in QUOTE_CLOSE):
            terms[k] = QUOTED_PREFIX + terms[k]
    return terms


#: Token kinds whose term is a placeholder (see term_for).
PLACEHOLDER_KINDS = frozenset({"URL", "USER", "HASHTAG", "EMOJI"})
#: Parts of speech (UniDic level 2) whose term may be a class placeholder (numbers, proper nouns).
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
    quotes:
        ``"mark"`` to give quoted words terms of their own (see :func:`document_terms`).

    Examples
    --------
    >>> doc = analyze("NHKによると、4日に発表した🇯🇵 https://t.co/x")
    >>> "<URL>" in doc.terms and "<FLAG>" in doc.terms
    True
    """
    norm, offsets, identity = _normalized(text)
    special = _special_spans(norm)
    if not special:
        words, starts, ends = _mecab_tokens(norm, 0, len(norm), offsets, identity)
    else:
        words, starts, ends = [], [], []
        cursor = 0
        for start, end, kind in special:
            for column, part in zip((words, starts, ends), _mecab_tokens(norm, cursor, start, offsets, identity)):
                column.extend(part)
            surface = norm[start:end]
            begin, stop = original_span(offsets, start, end)
            words.append(make_word(surface, surface, kind))
            starts.append(begin)
            ends.append(stop)
            cursor = end
        for column, part in zip((words, starts, ends), _mecab_tokens(norm, cursor, len(norm), offsets, identity)):
            column.extend(part)
    words, starts, ends = merge_names(words, starts, ends)
    walk = quote_walk(list(map(itemgetter(SURFACE), words))) if any(q in norm for q in QUOTE_OPEN) else None
    terms = document_terms(words, proper_nouns, quotes, walk=walk)
    urls, hashtags, mentions = entities(norm)
    doc = TokenizedText(text, norm, words, starts, ends, terms, offsets, urls, hashtags, mentions)
    doc._quotes = walk
    return doc


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
