"""Campaign detection's bulky per-post data kept on disk while a run goes on.

A finder keeps in memory only the posts not yet written out
(:class:`~classifier.campaigns.CampaignFinder`).  What it needs again only at the end goes
to temporary files, written a block of posts at a time and read back piece by piece:

- the few numbers kept of each post and each sketched text (its key, account, time,
  p_wire, where its fields end: :class:`ColumnFile`), read back a column at a time;
- each sketched text's LSH band keys, band-major within a block (the candidate pairs are
  found one band at a time, so a band is read as one column);
- each sketched text's MinHash signature bytes, row by row (the estimate of a pair's
  similarity reads the signatures of a range of texts at a time);
- each sketched text, normalized, read back only for the pairs the exact check compares
  and the posts of the campaigns found;
- each post's packed fields (ids, names, date, text, techniques), read back only for the
  posts of the campaigns found;
- at the end, the candidate pairs of texts of every band (:class:`PairSpill`), read back a
  range of texts at a time.

The files are made beside the run's outputs (or in the system's temporary folder) named as
every temporary file of postcred is (:func:`classifier.outputs.temp_beside`: a crashed
run's are swept by the next write into that folder), and unlinked as soon as they are
open where the system allows it: nothing is left behind however the run ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .spill import ColumnFile, SpillFile

#: Signature rows read at a time when estimating pairs' similarity (4 MB of 128-byte rows).
SIGNATURE_BLOCK_BYTES = 4 << 20


def _append_all(target: SpillFile, pieces: list[bytes]) -> np.ndarray:
    """Append ``pieces`` as one write; returns where each ends in ``target``."""
    start = target.append(b"".join(pieces))
    return start + np.cumsum(np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces)))


def _copy(source: SpillFile, target: SpillFile, piece: int = 8 << 20) -> None:
    for at in range(0, source.size, piece):
        target.append(source.read(at, min(piece, source.size - at)))


class PairSpill:
    """Pairs of texts (uint64 ``i << 32 | j``, ``i < j``) put aside by ranges of ``i`` in
    one temporary file, and read back a range at a time, sorted, each pair once: the
    candidate pairs of many bands, where a pair found in several bands is written as
    many times, are then held a range at a time, never all at once.  ``parts`` ranges of
    ``texts // parts`` texts each."""

    def __init__(self, folder: str | Path | None, texts: int, parts: int) -> None:
        parts = max(1, min(parts, texts))
        self._bounds = (np.arange(1, parts, dtype=np.uint64) * np.uint64(max(texts, 1) // parts)) << np.uint64(32)
        self._file = SpillFile(folder, "campaign-pairs")
        self._pieces: list[list[tuple[int, int]]] = [[] for _ in range(parts)]  # (where, how many) per range

    def add(self, pairs: np.ndarray) -> None:
        """Put ``pairs`` aside (any order, duplicates allowed)."""
        pairs = np.sort(pairs.astype(np.uint64, copy=False))
        cuts = np.searchsorted(pairs, self._bounds).tolist()
        for part, (lo, hi) in enumerate(zip([0, *cuts], [*cuts, pairs.size])):
            if hi > lo:
                self._pieces[part].append((self._file.append(pairs[lo:hi].data), hi - lo))

    def __iter__(self) -> Iterator[np.ndarray]:
        """The pairs of each range in turn, sorted and unique (so all of them, in order);
        each range is let go once read."""
        for part, pieces in enumerate(self._pieces):
            pairs = np.empty(sum(count for _, count in pieces), dtype=np.uint64)
            done = 0
            for where, count in pieces:
                pairs[done:done + count] = np.frombuffer(self._file.read(where, count * 8), dtype=np.uint64)
                done += count
            self._pieces[part] = []
            pairs.sort()
            yield pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))] if pairs.size else pairs

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True, slots=True)
class _Block:
    """One spilled block: where its band keys start, and its number of texts."""

    bands_at: int
    texts: int


class SketchStore:
    """The spilled sketches (band keys, signature bytes) of texts and packed fields of posts,
    in the order they were added: text ``i`` is the ``i``-th sketched text, post ``j`` the
    ``j``-th post."""

    def __init__(self, folder: str | Path | None, num_perm: int, bands: int, *,
                 post_columns: dict | None = None, text_columns: dict | None = None) -> None:
        self.num_perm, self.bands_per_text = num_perm, bands
        self._bands = SpillFile(folder, "campaign-bands")
        self._signatures = SpillFile(folder, "campaign-signatures")
        self._texts = SpillFile(folder, "campaign-texts")
        self.posts = SpillFile(folder, "campaign-posts")
        #: The caller's numbers per post and per text (:class:`ColumnFile`; none by default).
        self.post_columns = ColumnFile(folder, "campaign-post-columns", post_columns or {})
        self.text_columns = ColumnFile(folder, "campaign-text-columns", text_columns or {})
        self._blocks: list[_Block] = []
        self.texts = 0

    def add(self, bands: np.ndarray, signatures: np.ndarray, texts: list[str],
            blobs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """Append a block of texts (their sketches and normalized texts) and of posts'
        packed fields; returns where each text's and each post's bytes end in their files
        (each starts where the previous one ends)."""
        if bands.shape[0]:
            at = self._bands.append(np.ascontiguousarray(bands.T, dtype=np.uint32).data)
            self._blocks.append(_Block(at, bands.shape[0]))
            self._signatures.append(np.ascontiguousarray(signatures, dtype=np.uint8).data)
            self.texts += bands.shape[0]
        encoded = [text.encode("utf-8") for text in texts]
        return _append_all(self._texts, encoded), _append_all(self.posts, blobs)

    def text(self, start: int, end: int) -> str:
        """A normalized text, by where its bytes start and end."""
        return self._texts.read(start, end - start).decode("utf-8")

    def extend(self, other: "SketchStore") -> tuple[int, int]:
        """Append everything ``other`` holds; returns the shifts of its texts' and its posts'
        byte offsets."""
        for block in other._blocks:
            data = other._bands.read(block.bands_at, block.texts * self.bands_per_text * 4)
            self._blocks.append(_Block(self._bands.append(data), block.texts))
        _copy(other._signatures, self._signatures)
        self.texts += other.texts
        shifts = self._texts.size, self.posts.size
        _copy(other._texts, self._texts)
        _copy(other.posts, self.posts)
        return shifts

    def band(self, band: int) -> np.ndarray:
        """Band ``band``'s key of every text, in the order they were added."""
        parts = [np.frombuffer(self._bands.read(block.bands_at + band * block.texts * 4, block.texts * 4), np.uint32)
                 for block in self._blocks]
        return np.concatenate(parts) if parts else np.zeros(0, np.uint32)

    def signature_rows(self, first: int, stop: int) -> np.ndarray:
        """The signature bytes of texts ``first`` to ``stop - 1``, one row each."""
        width = self.num_perm
        data = self._signatures.read(first * width, (stop - first) * width)
        return np.frombuffer(data, np.uint8).reshape(stop - first, width)

    def signature_block_rows(self) -> int:
        """How many signature rows :meth:`signature_rows` should read at a time."""
        return max(1, SIGNATURE_BLOCK_BYTES // self.num_perm)

    def post_bytes(self, start: int, end: int) -> bytes:
        return self.posts.read(start, end - start)

    def close_sketches(self) -> None:
        """Remove the band keys, signatures, texts and columns (the posts' fields stay while
        referenced)."""
        for spilled in (self._bands, self._signatures, self._texts, self.post_columns, self.text_columns):
            spilled.close()

    def close(self) -> None:
        self.close_sketches()
        self.posts.close()
