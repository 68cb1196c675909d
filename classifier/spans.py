"""Index arithmetic on spans laid end to end, shared by the modules that gather many
slices of one array at once (numpy has no "concatenate these slices" of its own)."""

from __future__ import annotations

import numpy as np

__all__ = ["span_indices"]


def span_indices(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indices ``starts[i], ..., starts[i] + lengths[i] - 1`` of every span, in order:
    ``array[span_indices(starts, lengths)]`` is the slices ``array[start:start + length]``
    laid end to end, gathered in one step."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(np.asarray(starts, dtype=np.int64) - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(total, dtype=np.int64) + shift
