"""An exact set of user subs in about 32 bytes per user (a Python set of str would take ~150).

Used to make sure every user is written once, even if a paginated listing repeats one. Open
addressing over two arrays of 64-bit halves of the 128-bit UUID, linear probing, grown at half full.
"""

from __future__ import annotations

import hashlib
import uuid
from array import array

_MASK64 = (1 << 64) - 1


def _key(sub: str) -> tuple[int, int]:
    try:
        k = uuid.UUID(sub).int
    except (ValueError, AttributeError, TypeError):
        k = int.from_bytes(hashlib.blake2b(str(sub).encode(), digest_size=16).digest(), "big")
    hi, lo = k >> 64, k & _MASK64
    if hi == 0 and lo == 0:  # (0, 0) marks an empty slot
        lo = 1
    return hi, lo


class SeenSubs:
    def __init__(self, capacity: int = 1024):
        size = 1
        while size < capacity * 2:
            size <<= 1
        self._alloc(size)
        self._count = 0

    def _alloc(self, size: int) -> None:
        self._size = size
        self._hi = array("Q", bytes(8 * size))
        self._lo = array("Q", bytes(8 * size))

    def __len__(self) -> int:
        return self._count

    def add(self, sub: str) -> bool:
        """Add ``sub``; True if it was new, False if it was already there."""
        hi, lo = _key(sub)
        if self._insert(hi, lo):
            self._count += 1
            if self._count * 2 > self._size:
                self._grow()
            return True
        return False

    def __contains__(self, sub: str) -> bool:
        hi, lo = _key(sub)
        mask = self._size - 1
        i = (lo ^ hi) & mask
        while True:
            h, lw = self._hi[i], self._lo[i]
            if h == 0 and lw == 0:
                return False
            if h == hi and lw == lo:
                return True
            i = (i + 1) & mask

    def _insert(self, hi: int, lo: int) -> bool:
        mask = self._size - 1
        i = (lo ^ hi) & mask
        his, los = self._hi, self._lo
        while True:
            h, lw = his[i], los[i]
            if h == 0 and lw == 0:
                his[i], los[i] = hi, lo
                return True
            if h == hi and lw == lo:
                return False
            i = (i + 1) & mask

    def _grow(self) -> None:
        old_hi, old_lo = self._hi, self._lo
        self._alloc(self._size * 2)
        for h, lw in zip(old_hi, old_lo, strict=True):
            if h or lw:
                self._insert(h, lw)
