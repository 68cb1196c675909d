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
  posts of the campaigns found, and the numbers of those posts (:data:`POST_NUMBERS
  <classifier.campaigns.POST_NUMBERS>`), a campaign's together;
- at the end, the candidate pairs of texts of every band (:class:`PairSpill`), as pairs of
  rows in this store, read back a range of rows (at most a few million pairs) at a time.

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
    """Pairs of texts (uint64 ``i << 32 | j``, ``i < j``) put aside in one temporary file,
    cut into parts by ``i`` (``part_texts`` texts each), and read back a range of
    consecutive parts at a time, sorted, each pair once: the candidate pairs of many
    bands, where a pair found in several bands is written as many times, are then held a
    range at a time, never all at once.

    A range is as many parts as fit in ``most`` pairs as written (at least one part), so
    its size follows how many pairs there are, not how many texts: where texts crowd into
    large LSH buckets, a range covers fewer texts."""

    def __init__(self, folder: str | Path | None, texts: int, part_texts: int) -> None:
        parts = max(1, -(-texts // max(part_texts, 1)))
        self._bounds = (np.arange(1, parts, dtype=np.uint64) * np.uint64(max(part_texts, 1))) << np.uint64(32)
        self._file = SpillFile(folder, "campaign-pairs")
        #: Each add's pairs, part by part: where they start in the file, and how many each part got.
        self._starts: list[int] = []
        self._counts: list[np.ndarray] = []

    def add(self, pairs: np.ndarray) -> None:
        """Put ``pairs`` aside (any order, duplicates allowed)."""
        if not pairs.size:
            return
        pairs = np.sort(pairs.astype(np.uint64, copy=False))
        cuts = np.searchsorted(pairs, self._bounds)
        self._starts.append(self._file.append(pairs.data))
        self._counts.append(np.diff(np.concatenate(([0], cuts, [pairs.size]))).astype(np.int64))

    def ranges(self, most: int) -> Iterator[np.ndarray]:
        """The pairs of each range in turn, sorted and unique (so all of them, in order)."""
        if not self._counts:
            return
        counts = np.stack(self._counts)  # adds x parts
        per_part = counts.sum(axis=0)
        # Where each add's part p starts in the file: the add's start plus the parts before p.
        starts = np.asarray(self._starts, dtype=np.int64)[:, None] + 8 * (np.cumsum(counts, axis=1) - counts)
        first = 0
        while first < per_part.size:
            last = first + 1
            held = int(per_part[first])
            while last < per_part.size and held + int(per_part[last]) <= most:
                held += int(per_part[last])
                last += 1
            yield self._read(starts[:, first:last], counts[:, first:last], held)
            first = last

    def _read(self, starts: np.ndarray, counts: np.ndarray, held: int) -> np.ndarray:
        """The pairs of some consecutive parts (each add's share of them is one piece of the
        file), sorted and unique."""
        pairs = np.empty(held, dtype=np.uint64)
        done = 0
        for start, count in zip(starts[:, 0].tolist(), counts.sum(axis=1).tolist()):
            if count:
                pairs[done:done + count] = np.frombuffer(self._file.read(start, count * 8), dtype=np.uint64)
                done += count
        pairs.sort()
        return pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))] if pairs.size else pairs

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
        #: The numbers of each campaign's posts, written as campaigns are described
        #: (:class:`~classifier.campaigns.CampaignPosts`).
        self.campaign_numbers = SpillFile(folder, "campaign-numbers")
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

    def text_codes(self, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The normalized texts whose bytes lie at ``starts[i]:ends[i]`` (sorted), read in
        bulk: their code points laid end to end (uint32) and each one's length in
        characters.  Thousands of texts at a time cost a few system calls and one decoding,
        not a read and a string each."""
        data = self._texts.read_ranges(starts, ends)
        if not data.size:
            return np.zeros(0, dtype=np.uint32), np.zeros(len(starts), dtype=np.int64)
        # A character's first byte is any byte but a UTF-8 continuation byte (10xxxxxx).
        first_bytes = np.concatenate(([0], np.cumsum((data & 0xC0) != 0x80, dtype=np.int64)))
        byte_ends = np.cumsum(np.asarray(ends, dtype=np.int64) - np.asarray(starts, dtype=np.int64))
        chars = np.diff(first_bytes[byte_ends], prepend=0)
        codes = np.frombuffer(data.tobytes().decode("utf-8").encode("utf-32-le"), dtype=np.uint32)
        return codes, chars

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

    def close_sketches(self) -> None:
        """Remove the band keys, signatures, texts and columns (the posts' fields and the
        campaigns' numbers stay while referenced)."""
        for spilled in (self._bands, self._signatures, self._texts, self.post_columns, self.text_columns):
            spilled.close()

    def close(self) -> None:
        self.close_sketches()
        self.posts.close()
        self.campaign_numbers.close()
