"""Reading the campaign store's texts back in bulk: byte ranges of a temporary file read
a stretch at a time, texts decoded together, and the exact Jaccard check built on them,
against the same things done one text at a time."""

from __future__ import annotations

import random

import numpy as np
import pytest

from classifier.campaign_sketch import pair_jaccard, shingle_sets, shingles_of_codes
from classifier.campaign_spill import SketchStore
from classifier.spill import SpillFile

PIECES = ["増税", "許さない", "政府は", "発表した", "🇯🇵", "👍🏽", "ｱｲｳ", "abc", "。", " ", "𠮷野家", "ä"]


def random_texts(count: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(PIECES) for _ in range(rng.randint(2, 12))) for _ in range(count)]


@pytest.mark.parametrize("gap", [1, 64, 1 << 20])
def test_byte_ranges_read_together_are_the_ranges_read_one_by_one(tmp_path, gap):
    """Near ranges are read in one stretch and the bytes between them dropped: whatever
    the gap, the result is each range's bytes in order."""
    rng = random.Random(gap)
    spill = SpillFile(tmp_path, "bytes")
    spill.append(bytes(rng.randrange(256) for _ in range(20_000)))
    bounds = sorted(rng.sample(range(20_000), 600))
    starts = np.array(bounds[0::2])
    ends = np.array(bounds[1::2])
    keep = rng.sample(range(len(starts)), 120)
    starts, ends = starts[sorted(keep)], ends[sorted(keep)]
    expected = b"".join(spill.read(int(a), int(b - a)) for a, b in zip(starts, ends))
    assert spill.read_ranges(starts, ends, gap=gap).tobytes() == expected
    assert spill.read_ranges(starts[:0], ends[:0], gap=gap).size == 0
    spill.close()


def test_texts_read_in_bulk_are_the_texts_and_their_lengths(tmp_path):
    """Texts of one, two, three and four UTF-8 bytes a character come back as their code
    points and their lengths in characters, as when read and decoded one at a time."""
    texts = random_texts(300)
    store = SketchStore(tmp_path, 8, 2)
    ends, _ = store.add(np.zeros((len(texts), 2)), np.zeros((len(texts), 8)), texts, [])
    starts = np.concatenate(([0], ends[:-1]))
    chosen = np.array(sorted(random.Random(5).sample(range(len(texts)), 90)))
    codes, lengths = store.text_codes(starts[chosen], ends[chosen])
    wanted = [store.text(int(starts[i]), int(ends[i])) for i in chosen]
    assert wanted == [texts[i] for i in chosen]
    assert lengths.tolist() == [len(t) for t in wanted]
    assert codes.tobytes().decode("utf-32-le") == "".join(wanted)
    store.close()


def test_exact_jaccard_from_codes_is_the_one_from_strings():
    texts = [t for t in random_texts(200, seed=9) if len(t) >= 3]
    pairs = np.array([(i << 32) | j for i in range(0, len(texts), 7) for j in range(i + 1, len(texts), 5)],
                     dtype=np.uint64)
    lengths = np.array([len(t) for t in texts], dtype=np.int64)
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
    from_codes = pair_jaccard(shingles_of_codes(codes, lengths), pairs)
    from_strings = pair_jaccard(shingle_sets(texts), pairs)
    assert np.array_equal(from_codes, from_strings)
    assert 0 < np.count_nonzero(from_codes) < pairs.size


def test_span_indices_gather_the_slices_end_to_end():
    """``array[span_indices(starts, lengths)]`` is the slices laid end to end, empty ones
    (and none at all) included."""
    from classifier.spans import span_indices

    array = np.arange(100) * 3
    starts, lengths = np.array([5, 0, 40, 97, 12]), np.array([3, 0, 4, 3, 1])
    expected = np.concatenate([array[s:s + n] for s, n in zip(starts, lengths)])
    assert np.array_equal(array[span_indices(starts, lengths)], expected)
    assert span_indices(np.zeros(0, int), np.zeros(0, int)).size == 0
