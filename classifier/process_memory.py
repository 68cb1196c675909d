"""How the end of a run gives freed memory back to the system.

The end of a large run (campaign matching, the account tables) makes and frees arrays of
tens of megabytes one after another.  glibc's ``malloc`` serves a block of 128 kB or more
with a mapping of its own, given back when freed, but each time such a block is freed it
raises that threshold to the block's size (up to 32 MB): from then on, arrays of that size
come from the heap, and a freed block in the middle of the heap stays in the process's
resident memory.  On 3.5 million posts this held about 100 MB that no array used.

:func:`give_back_large_blocks` fixes the threshold at 1 MB, which also turns the raising
off.  A run calls it once scoring is done: during scoring, blocks of a few megabytes are
made and freed for every chunk, and mapping each afresh would cost time.
"""

from __future__ import annotations

import ctypes

__all__ = ["give_back_large_blocks"]

#: mallopt(3)'s M_MMAP_THRESHOLD.
_M_MMAP_THRESHOLD = -3
#: Blocks this large or larger get a mapping of their own from then on.
LARGE_BLOCK = 1 << 20


def give_back_large_blocks() -> bool:
    """Have ``malloc`` serve blocks of :data:`LARGE_BLOCK` bytes and more with mappings of
    their own, given back to the system as soon as they are freed; returns whether it
    was set (False off glibc, where nothing is done)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library to ask, or one without mallopt
        return False
    try:
        return bool(mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK))
    except (OSError, ctypes.ArgumentError):
        return False
