"""An exact set of user subs in about 32 bytes per user (a Python set of str would take ~150).

Used to make sure every user is written once, even if a paginated listing repeats one. Open
addressing over two arrays of 64-bit halves of the 128-bit UUID, linear probing, grown at half full.

A snapshot that continues in another Lambda run carries the set over (``save`` / ``restore``): the two
arrays as they are, compressed (the empty half of the slots costs next to nothing), so that restoring
is a copy, not a million insertions.
"""

from __future__ import annotations

import hashlib
import struct
import sys
import uuid
import zlib
from array import array
from collections.abc import Iterable, Iterator

_MASK64 = (1 << 64) - 1
_HEADER = struct.Struct("<4sBxxxQQ")  # magic, byte order (0 little, 1 big), slots, count
_MAGIC = b"SUBS"
_CHUNK = 1 << 20


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

    # -- carried over to the next run ---------------------------------------------------------------

    def save(self) -> Iterator[bytes]:
        """The set as compressed chunks (at most ~1 MiB of input each); ``restore`` reads them back."""
        yield _HEADER.pack(_MAGIC, 0 if sys.byteorder == "little" else 1, self._size, self._count)
        packer = zlib.compressobj(1)
        for table in (self._hi, self._lo):
            view = memoryview(table).cast("B")
            for start in range(0, len(view), _CHUNK):
                out = packer.compress(view[start:start + _CHUNK])
                if out:
                    yield out
        yield packer.flush()

    @classmethod
    def restore(cls, chunks: Iterable[bytes]) -> SeenSubs:
        """The set ``save`` wrote; ``ValueError`` saying what does not fit."""
        parts = iter(chunks)
        head = b""
        for part in parts:
            head += part
            if len(head) >= _HEADER.size:
                break
        if len(head) < _HEADER.size:
            raise ValueError("the saved set of subs has no header")
        magic, order, size, count = _HEADER.unpack(head[:_HEADER.size])
        rest = head[_HEADER.size:]
        if magic != _MAGIC or order != (0 if sys.byteorder == "little" else 1):
            raise ValueError("the saved set of subs is not one this function wrote on this platform")
        if size < 2 or size & (size - 1) or size > 1 << 40 or count * 2 > size:
            raise ValueError(f"the saved set of subs is malformed ({count} subs in {size} slots)")
        seen = cls.__new__(cls)
        seen._alloc(size)
        seen._count = count
        views = [memoryview(seen._hi).cast("B"), memoryview(seen._lo).cast("B")]
        unpacker = zlib.decompressobj()
        at = 0
        total = 16 * size

        def put(data: bytes) -> None:
            nonlocal at
            if at + len(data) > total:
                raise ValueError("the saved set of subs is longer than its header says")
            while data:
                table, offset = divmod(at, 8 * size)
                n = min(len(data), 8 * size - offset)
                views[table][offset:offset + n] = data[:n]
                data, at = data[n:], at + n

        try:
            put(unpacker.decompress(rest))
            for part in parts:
                put(unpacker.decompress(part))
            put(unpacker.flush())
        except zlib.error as exc:
            raise ValueError(f"the saved set of subs is damaged: {exc}") from None
        if at != total or not unpacker.eof:
            raise ValueError("the saved set of subs is shorter than its header says")
        return seen
