"""Marker detectors that no lexicon pattern can express, registered in ``markers.DETECTORS``.

A detector takes one analyzed segment (:class:`~classifier.tokens.TokenizedText`) and
returns the ``(start, end)`` character spans where its marker fires, in the original
text.  A lexicon row with ``match`` = ``detector`` names it and gives the marker id,
technique, weight and condition (see ``lexicons/README.md``); the rules after matching
(``unsourced``, quotations) apply to its spans as to any other.

The two detectors here read the tokens only (numerals, quotation marks), so they need no
offset map and run no regex over the text:

``precise_figure``
    a count or share given to three or more significant digits (1,783人, 2万3456件,
    37.8%) in a sentence that claims deaths, harm or fraud (the words of
    ``lexicons/figure_claims.tsv``): false precision is how an unsourced claim borrows the
    look of a statistic.  Round figures (1万1000人, 3.5%) and figures of other things
    (prices, turnout, statistics releases) are left alone: reporting is full of them.
``quoted_chants``
    a text that is nothing but quotations (protest chants, slogans): 「増税反対!」
    「〇〇は辞めろ!」.  A report of the same chants says who chanted them (「…」と声を
    上げた) and does not fire.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Callable

from .tokens import KIND, SURFACE, Token, TokenizedText

Span = tuple[int, int]

FIGURE_CLAIMS_FILE = "figure_claims.tsv"
_LEXICON_DIR = Path(__file__).parent / "lexicons"

#: Counters after a figure that make it a count of people, cases or a share.
FIGURE_UNITS = frozenset({"人", "件", "例", "名", "%", "パーセント", "世帯", "人分", "頭", "匹", "羽", "か所", "カ所", "箇所"})
#: Multipliers written as numeral tokens inside one figure (2万3456).
FIGURE_MULTIPLIERS = {"万": 10**4, "億": 10**8, "兆": 10**12}
PRECISE_DIGITS = 3

QUOTE_OPEN = frozenset("「『")
QUOTE_CLOSE = frozenset("」』")
#: Token kinds that are not words of the writer's own: punctuation, space, emoji, tags, links.
NOT_WORDS = frozenset({"補助記号", "空白", "記号", "EMOJI", "HASHTAG", "URL", "USER"})
#: How many characters of the writer's own words a text of chants may hold outside its quotations.
CHANT_RESIDUE_CHARS = 3


def _is_numeral(token: Token) -> bool:
    return token.pos2 == "数詞" and (any(c.isdigit() for c in token.surface) or token.surface in FIGURE_MULTIPLIERS)


def _figure_digits(pieces: list[str]) -> str:
    """The significant digits of a figure written as numeral pieces (``["2", "万", "3456"]``,
    ``["1", ",", "783"]``, ``["37", ".", "8"]``): leading and trailing zeros stripped."""
    value, current, decimals = 0, "", ""
    in_decimals = False
    for piece in pieces:
        if piece in FIGURE_MULTIPLIERS:
            value += int(current or "1") * FIGURE_MULTIPLIERS[piece]
            current = ""
        elif piece == ".":
            in_decimals = True
        elif piece == ",":
            continue
        elif in_decimals:
            decimals += piece
        else:
            current += piece
    digits = str(value + int(current or "0")) + decimals
    return digits.strip("0")


_claim_words: tuple[str, ...] | None = None


def figure_claim_words() -> tuple[str, ...]:
    """The words of ``lexicons/figure_claims.tsv`` (first column, read once per process)."""
    global _claim_words
    if _claim_words is None:
        with (_LEXICON_DIR / FIGURE_CLAIMS_FILE).open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
        _claim_words = tuple(row[0].strip() for row in rows if row and row[0].strip())
    return _claim_words


_DIGIT = re.compile(r"\d")
_claims_re: re.Pattern | None = None


def _claims_pattern() -> re.Pattern:
    """One regex finding any word of :func:`figure_claim_words` (built once per process)."""
    global _claims_re
    if _claims_re is None:
        words = sorted(figure_claim_words(), key=len, reverse=True)
        _claims_re = re.compile("|".join(map(re.escape, words)) or r"(?!)")
    return _claims_re


def _sentence_around(text: str, start: int, end: int) -> str:
    """The sentence of ``text`` holding [start, end): up to the nearest 。!? or line break."""
    stops = "。!?！？\n"
    left = max(text.rfind(c, 0, start) for c in stops) + 1
    rights = [k for k in (text.find(c, end) for c in stops) if k >= 0]
    return text[left : min(rights) if rights else len(text)]


def precise_figures(doc: TokenizedText) -> list[Span]:
    """Spans of counts and shares with three or more significant digits in a sentence
    that claims deaths, harm or fraud (see the module docstring); the span covers the
    figure and its unit."""
    if not _DIGIT.search(doc.norm) or not _claims_pattern().search(doc.text):
        return []  # most texts: no figure, or no claim a figure could back (no token pass)
    tokens = doc.tokens
    spans: list[Span] = []
    i = 0
    while i < len(tokens):
        if not _is_numeral(tokens[i]) or tokens[i].surface in FIGURE_MULTIPLIERS:
            i += 1
            continue
        j = i + 1
        while j < len(tokens) and (
            _is_numeral(tokens[j])
            or (tokens[j].surface in (",", ".") and j + 1 < len(tokens) and _is_numeral(tokens[j + 1]))
        ):
            j += 1
        if j < len(tokens) and tokens[j].surface in FIGURE_UNITS:
            pieces = [t.surface for t in tokens[i:j]]
            if all(p.isdigit() or p in FIGURE_MULTIPLIERS or p in (",", ".") for p in pieces) and (
                len(_figure_digits(pieces)) >= PRECISE_DIGITS
            ):
                sentence = _sentence_around(doc.text, tokens[i].start, tokens[j].end)
                if any(word in sentence for word in figure_claim_words()):
                    spans.append((tokens[i].start, tokens[j].end))
        i = j + 1
    return spans


def quoted_chants(doc: TokenizedText) -> list[Span]:
    """One span from the first quotation mark to the last when the text is quotations
    only: at most :data:`CHANT_RESIDUE_CHARS` characters of words outside them, and either
    two quotations or one that exclaims."""
    if not any(q in doc.norm for q in QUOTE_OPEN):
        return []  # most texts quote nothing: no pass over the tokens
    quotes: list[list[int]] = []  # [start, end] of each outermost quotation, end exclusive
    depth = 0
    residue = 0
    exclaims = False
    for word, start, end in zip(doc.words, doc.starts, doc.ends):  # the columns: no Token objects
        surface = word[SURFACE]
        if surface in QUOTE_OPEN:
            if depth == 0:
                quotes.append([start, end])
            depth += 1
        elif surface in QUOTE_CLOSE and depth:
            depth -= 1
            if depth == 0:
                quotes[-1][1] = end
        elif depth:
            exclaims = exclaims or "!" in surface
        elif word[KIND] not in NOT_WORDS:
            residue += len(surface)
    if depth or not quotes or residue > CHANT_RESIDUE_CHARS:
        return []
    if len(quotes) < 2 and not exclaims:
        return []
    return [(quotes[0][0], quotes[-1][1])]


DETECTORS: dict[str, Callable[[TokenizedText], list[Span]]] = {
    "precise_figure": precise_figures,
    "quoted_chants": quoted_chants,
}
