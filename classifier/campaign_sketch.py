"""Texts made comparable for campaign detection: normalization, character 3-gram shingles,
MinHash signatures and LSH band keys, computed a chunk of texts at a time with numpy.

A campaign pushes the same text with small edits (an emoji swapped, a mention or link
changed, a few characters added) to dodge exact matching.  So a text is first normalized
(NFKC, case-folded, URLs, @mentions and a leading ``RT @x:`` removed, each emoji kept as
one token, white space collapsed), then cut into its set of character 3-grams (shingles).
Two texts are near-identical when the Jaccard similarity of their shingle sets is high;
MinHash signatures estimate it and LSH bands find the pairs worth checking without
comparing every text with every other.

Everything here is vectorized over a chunk: a text's shingles are hashed from its code
points in one numpy pass, and each MinHash permutation is one multiply-add-shift over
all the chunk's shingles.  (datasketch, the usual library, hashes shingle by shingle in
Python and keeps a Python dict entry per band and text; see the README's libraries table
and ``bench/campaigns.py --datasketch`` for the figures that ruled it out at a million
posts.)  Every hash is seeded and independent of the process, so the same text gets the
same sketch in any process, run or machine.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from dataclasses import dataclass
from typing import Iterator

import emoji as emoji_lib
import numpy as np

from .patterns import MENTION_RE, URL_RE
from .spans import span_indices

SHINGLE_SIZE = 3
RT_PREFIX_RE = re.compile(r"^\s*rt\s*@[a-z0-9_]{1,30}\s*:?\s*", re.IGNORECASE)
#: Emoji presentation selectors: invisible, and typed or not by chance (❤ and ❤️ are one emoji).
_SELECTORS = {0xFE0E: None, 0xFE0F: None}
#: An emoji (a ZWJ sequence, a flag, a skin-toned hand...) becomes one character of the
#: Unicode supplementary private use area B, chosen by a hash of the sequence.
_EMOJI_BASE = 0x100000
_EMOJI_SLOTS = 0xFFFE

_U64 = np.uint64
_MASK32 = _U64(0xFFFFFFFF)


@dataclass(frozen=True, slots=True)
class MatchText:
    """A post's text as campaign detection compares it."""

    text: str
    had_url: bool


def text_key(norm: str) -> int:
    """64-bit BLAKE2b of a normalized text (stable across processes, unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(norm.encode("utf-8"), digest_size=8).digest(), "little")


class _EmojiTable:
    """Every emoji sequence of the ``emoji`` package (without presentation selectors),
    and patterns for the characters one may start with: a text holding none of them
    (most posts) is left as it is after two scans in C; in the others each emoji is
    matched longest first.  (``emoji.replace_emoji`` walks every character in Python, a
    third of a millisecond per post.)"""

    def __init__(self) -> None:
        sequences = {key.translate(_SELECTORS) for key in emoji_lib.EMOJI_DATA}
        sequences.discard("")
        self.sequences = frozenset(sequences)
        self.longest = max(len(s) for s in sequences)
        starts = {s[0] for s in sequences if not s[0].isascii()}
        astral = sorted(c for c in starts if c >= "\U00010000")
        # Two patterns, because re tests a class of BMP characters against a bitmap but
        # one of astral characters against each of its ranges: astral emoji are found by
        # the one range that holds them all (the lookup below tells emoji from the rest).
        self.bmp = re.compile("[" + "".join(re.escape(c) for c in sorted(c for c in starts if c < "\U00010000")) + "]")
        self.astral = re.compile(f"[{re.escape(astral[0])}-{re.escape(astral[-1])}]")
        self.anywhere = re.compile(f"{self.bmp.pattern}|{self.astral.pattern}|[#*0-9]\u20e3")

    def tokens(self, text: str) -> str:
        """``text`` with each emoji replaced by its one-character token."""
        if self.bmp.search(text) is None and self.astral.search(text) is None and "\u20e3" not in text:
            return text
        pieces, done = [], 0
        for found in self.anywhere.finditer(text):
            at = found.start()
            if at < done:
                continue
            for size in range(min(self.longest, len(text) - at), 0, -1):
                if text[at:at + size] in self.sequences:
                    pieces += (text[done:at], _emoji_token(text[at:at + size]))
                    done = at + size
                    break
        pieces.append(text[done:])
        return "".join(pieces)


_emoji_table: _EmojiTable | None = None


def _emoji_token(chars: str) -> str:
    return chr(_EMOJI_BASE + zlib.crc32(chars.encode("utf-8")) % _EMOJI_SLOTS)


def emoji_tokens(text: str) -> str:
    """``text`` without presentation selectors, each emoji one private-use character."""
    global _emoji_table
    if _emoji_table is None:
        _emoji_table = _EmojiTable()
    if "\ufe0f" in text or "\ufe0e" in text:
        text = text.translate(_SELECTORS)
    return _emoji_table.tokens(text)


def match_text(text: str) -> MatchText:
    """Normalize a post's text for comparison.

    NFKC, a leading ``RT @handle:`` removed, URLs and @mentions removed, case-folded,
    each emoji one character (a private-use token), white space collapsed.

    >>> match_text("RT @abc: 拡散希望🇯🇵 https://t.co/x  @def ＡＢＣ").text[:4]
    '拡散希望'
    """
    norm = RT_PREFIX_RE.sub("", unicodedata.normalize("NFKC", text), count=1)
    had_url = False
    if "/" in norm:
        norm, found = URL_RE.subn(" ", norm)
        had_url = found > 0
    if "@" in norm:
        norm = MENTION_RE.sub(" ", norm)
    norm = emoji_tokens(norm.casefold()) if not norm.isascii() else norm.casefold()
    return MatchText(" ".join(norm.split()), had_url)


# ---------------------------------------------------------------- hashing


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a fast, well-spread 64-bit hash of 64-bit integers."""
    with np.errstate(over="ignore"):
        z = x + _U64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
        return z ^ (z >> _U64(31))


@dataclass(frozen=True, slots=True)
class Shingles:
    """The shingle sets of a chunk of texts, as one sorted array per text laid end to end
    (CSR): text ``i`` holds ``values[starts[i]:starts[i] + counts[i]]``, sorted, unique."""

    values: np.ndarray  # uint32
    counts: np.ndarray  # int64

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate(([0], np.cumsum(self.counts)[:-1])).astype(np.int64)


def shingle_sets(texts: list[str]) -> Shingles:
    """The character 3-gram sets of ``texts`` (each at least 3 characters long), each
    3-gram hashed to 32 bits from its three code points."""
    if not texts:
        return Shingles(np.zeros(0, np.uint32), np.zeros(0, np.int64))
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    return shingles_of_codes(np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32), lengths)


def shingles_of_codes(codes: np.ndarray, lengths: np.ndarray) -> Shingles:
    """:func:`shingle_sets` of texts given as their code points laid end to end (uint32)
    and each one's length in characters: texts read back from disk in bulk need never
    become Python strings one by one."""
    if not lengths.size:
        return Shingles(np.zeros(0, np.uint32), np.zeros(0, np.int64))
    if lengths.min() < SHINGLE_SIZE:
        raise ValueError(f"every text needs at least {SHINGLE_SIZE} characters")
    codes = codes.astype(np.uint64)
    total = codes.size
    # A code point fits in 21 bits: three of them pack into one 63-bit integer exactly.
    packed = (codes[:-2] << _U64(42)) | (codes[1:-1] << _U64(21)) | codes[2:]
    ends = np.cumsum(lengths)
    doc = np.repeat(np.arange(lengths.size, dtype=np.uint64), lengths)[: total - 2]
    valid = np.arange(total - 2) + (SHINGLE_SIZE - 1) < np.repeat(ends, lengths)[: total - 2]
    hashed = _mix64(packed[valid]) >> _U64(32)
    keys = sorted_unique((doc[valid] << _U64(32)) | hashed)
    counts = np.bincount((keys >> _U64(32)).astype(np.int64), minlength=lengths.size)
    return Shingles((keys & _MASK32).astype(np.uint32), counts.astype(np.int64))


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` by sorting (numpy's hash-based unique is many times slower here)."""
    values = np.sort(values)
    if values.size:
        values = values[np.concatenate(([True], values[1:] != values[:-1]))]
    return values


class MinHasher:
    """MinHash signatures of shingle sets with ``num_perm`` seeded hash functions.

    Each function is Dietzfelbinger's multiply-add-shift, ``(a·x + b) >> 32`` in 64-bit
    arithmetic with a random odd ``a``: a 2-universal hash of 32-bit shingles into 32
    bits, one vectorized pass over a chunk's shingles per function.  The fraction of
    positions where two signatures agree estimates the Jaccard similarity of the sets.
    """

    def __init__(self, num_perm: int = 128, seed: int = 1) -> None:
        if num_perm < 1:
            raise ValueError(f"num_perm must be at least 1, got {num_perm}")
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self.a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) | _U64(1)
        self.b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)

    def signatures(self, shingles: Shingles) -> np.ndarray:
        """A ``(texts, num_perm)`` uint32 array: each text's signature.

        One hash function at a time over the chunk's shingles, in place in one buffer: a
        chunk's few hundred thousand shingles stay in the CPU cache, where evaluating all
        functions at once in a large temporary array ran ten times slower.  The shift is
        taken after the minimum, on one value per text: the high 32 bits of the smallest
        64-bit value are the smallest of the high 32 bits."""
        n = shingles.counts.size
        out = np.empty((self.num_perm, n), dtype=np.uint64)
        if n == 0:
            return out.T.astype(np.uint32)
        values = shingles.values.astype(np.uint64)
        hashed = np.empty_like(values)
        starts = shingles.starts
        for k in range(self.num_perm):
            np.multiply(values, self.a[k], out=hashed)
            np.add(hashed, self.b[k], out=hashed)
            np.minimum.reduceat(hashed, starts, out=out[k])
        np.right_shift(out, _U64(32), out=out)
        return np.ascontiguousarray(out.T, dtype=np.uint32)


def band_keys(signatures: np.ndarray, bands: int) -> np.ndarray:
    """A ``(texts, bands)`` uint32 array: a hash of each band of ``rows = num_perm //
    bands`` signature positions.  Two texts land in one LSH bucket of a band when all of
    the band's positions agree, which for Jaccard similarity ``s`` happens with
    probability ``s ** rows`` (32 bits keep unrelated texts apart: a million texts share
    a key by chance about a hundred times per band, a few extra pairs to check)."""
    n, num_perm = signatures.shape
    rows = num_perm // bands
    if bands < 1 or rows < 1:
        raise ValueError(f"bands must be between 1 and num_perm ({num_perm}), got {bands}")
    keys = np.zeros((n, bands), dtype=np.uint64)
    sig = signatures.astype(np.uint64)
    for r in range(rows):
        keys = _mix64(keys ^ sig[:, r:bands * rows:rows])
    return (keys >> _U64(32)).astype(np.uint32)


# ---------------------------------------------------------------- LSH candidates, exact check


def band_pairs(column: np.ndarray, window: int, most: int = 1 << 19) -> Iterator[np.ndarray]:
    """The candidate pairs of one LSH band: texts (rows of ``column``, the band's keys)
    that share a bucket, as uint64 ``i << 32 | j`` with ``i < j``; arrays of at most
    ``most`` pairs, for each distance in row order between the two texts of a bucket (1 to
    ``window``) in turn, none twice in the band, not sorted.  A caller gathers a pair found
    in several bands once (:func:`sorted_unique`, :func:`merge_unique`).

    Within a bucket, texts are taken in row order and each is paired with the up to
    ``window`` texts after it: every pair of a bucket of up to ``window + 1`` texts, and a
    chain through larger buckets (texts that unrelated ones crowd into one bucket only by
    chance are not compared with all of them).  Row order is the caller's canonical order,
    so the pairs do not depend on the order texts were read in.

    A stable sort keeps each bucket's texts in row order, so the first of two is the
    smaller row; what is kept per text is 32-bit (a band of 3.5 million texts made
    arrays of 28 MB each in 64 bits), and the texts still paired at the next distance
    shrink as the distance grows."""
    order = np.argsort(column, kind="stable").astype(np.int32)
    ranked = column[order]
    same_as_next = ranked[1:] == ranked[:-1]
    if not same_as_next.any():
        return
    # Keep only texts in buckets of two or more, and how many texts follow each in its bucket.
    in_run = np.zeros(column.size, dtype=bool)
    in_run[1:] |= same_as_next
    in_run[:-1] |= same_as_next
    del same_as_next
    members = order[in_run]
    del order
    ranked = ranked[in_run]
    del in_run
    starts = np.flatnonzero(np.concatenate(([True], ranked[1:] != ranked[:-1]))).astype(np.int32)
    del ranked
    sizes = np.diff(np.append(starts, np.int32(members.size)))
    after = np.repeat(starts + sizes, sizes)  # where each text's bucket ends, less where it is
    del starts, sizes
    after -= np.arange(1, members.size + 1, dtype=np.int32)
    live = np.flatnonzero(after).astype(np.int32)
    for offset in range(1, window + 1):
        live = live[after[live] >= offset]
        if live.size == 0:
            break
        for lo in range(0, live.size, most):
            part = live[lo:lo + most]
            pairs = members[part].astype(np.uint64)
            np.left_shift(pairs, _U64(32), out=pairs)
            np.bitwise_or(pairs, members[part + offset].astype(np.uint64), out=pairs)
            yield pairs


def merge_unique(base: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Two sorted arrays of unique values as one: the values of ``new`` not in ``base``
    inserted where they belong (one new array, never a concatenation of both sorted again:
    a band adds few pairs to the millions found before it)."""
    if base.size == 0:
        return new
    at = np.searchsorted(base, new)
    fresh = base[np.minimum(at, base.size - 1)] != new
    return np.insert(base, at[fresh], new[fresh])


def pair_jaccard(shingles: Shingles, pairs: np.ndarray, batch: int = 200_000) -> np.ndarray:
    """Exact Jaccard similarity of each pair (``i << 32 | j``) of shingle sets, batched.

    Each set is sorted, so tagging every value with its pair number keeps both sides
    sorted, and one ``searchsorted`` counts the values the two sets share."""
    out = np.empty(pairs.size, dtype=np.float64)
    starts, counts = shingles.starts, shingles.counts
    for lo in range(0, pairs.size, batch):
        chunk = pairs[lo:lo + batch]
        left = (chunk >> _U64(32)).astype(np.int64)
        right = (chunk & _MASK32).astype(np.int64)
        tagged_left, _ = _tagged(shingles.values, starts[left], counts[left])
        tagged_right, owner = _tagged(shingles.values, starts[right], counts[right])
        at = np.minimum(np.searchsorted(tagged_left, tagged_right), tagged_left.size - 1)
        shared = np.bincount(owner[tagged_left[at] == tagged_right], minlength=chunk.size)
        out[lo:lo + chunk.size] = shared / (counts[left] + counts[right] - shared)
    return out


def _tagged(values: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sets ``values[start:start + count]`` laid end to end, each value tagged with its
    set's number in the high 32 bits (so the whole array is sorted), and those numbers."""
    owner = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    picked = values[span_indices(starts, counts)].astype(np.uint64)
    return (owner.astype(np.uint64) << _U64(32)) | picked, owner


def estimate_floor(threshold: float, num_perm: int) -> float:
    """The MinHash estimate below which a pair is dropped without the exact check: four
    standard errors under ``threshold`` (a pair at the threshold falls below it about
    three times in 100,000)."""
    return threshold - 4.0 * (threshold * (1.0 - threshold) / num_perm) ** 0.5
