"""SHA-256 whose state can be saved and restored: a snapshot that spans several Lambda runs still
gets the SHA-256 of its whole object in the manifest, without reading it back.

Python's hashlib cannot export its state, so this calls OpenSSL's libcrypto (which the Python
runtime already links for hashlib) through ctypes: ``SHA256_CTX`` is a plain 112-byte structure. If
libcrypto cannot be loaded, a pure-Python SHA-256 with the same interface is used (correct, slower).

A saved state is read back from S3, so it is untrusted: it is never copied into native memory as it
is. Both implementations save the same *portable* state, ``h`` (8 big-endian words), the byte count
(8 bytes, big-endian) and the bytes of the unfinished block (``count % 64`` of them), which
:func:`parse_state` checks in pure Python (exact length, the count the caller expects); the OpenSSL
context is then built from those checked fields (``num`` < 64, ``md_len`` 32), so no state, however
crafted, makes libcrypto read or write outside its buffers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct

_CTX_SIZE = 112  # sizeof(SHA256_CTX): h[8], Nl, Nh, data[16], num, md_len (32-bit words)
_CTX = struct.Struct("=8III64sII")  # native order, as libcrypto lays it out
_BLOCK = 64
MAX_STATE_BYTES = 40 + _BLOCK - 1


class StateError(ValueError):
    """A saved SHA-256 state that is not one this module saves."""


def parse_state(state: bytes, expected_bytes: int | None = None) -> tuple[list[int], int, bytes]:
    """(h, byte count, unfinished block) of a portable state; :class:`StateError` saying what is wrong."""
    if not isinstance(state, bytes | bytearray) or not 40 <= len(state) <= MAX_STATE_BYTES:
        raise StateError(f"a saved SHA-256 state is 40 to {MAX_STATE_BYTES} bytes, not {len(state)}")
    h = list(struct.unpack(">8I", state[:32]))
    count = struct.unpack(">Q", state[32:40])[0]
    buf = bytes(state[40:])
    if len(buf) != count % _BLOCK:
        raise StateError(f"a saved SHA-256 state of {count} bytes holds {len(buf)} unfinished bytes, "
                         f"not {count % _BLOCK}")
    if count >= 1 << 61:
        raise StateError("a saved SHA-256 state counts more bytes than SHA-256 can hash")
    if expected_bytes is not None and count != expected_bytes:
        raise StateError(f"the saved SHA-256 state has hashed {count} bytes, not the {expected_bytes} written")
    return h, count, buf


def portable_state(h: list[int], count: int, buf: bytes) -> bytes:
    return struct.pack(">8I", *h) + struct.pack(">Q", count) + bytes(buf)


def _load_libcrypto():
    names = [ctypes.util.find_library("crypto"), "libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.dylib"]
    for name in names:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            for fn in ("SHA256_Init", "SHA256_Update", "SHA256_Final"):
                getattr(lib, fn)
        except (OSError, AttributeError):
            continue
        lib.SHA256_Update.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.SHA256_Init.argtypes = [ctypes.c_void_p]
        lib.SHA256_Final.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        return lib
    return None


_LIB = _load_libcrypto()


class _OpenSSLSha256:
    kind = "openssl"

    def __init__(self, state: bytes | None = None):
        if state is None:
            self._ctx = ctypes.create_string_buffer(_CTX_SIZE)
            _LIB.SHA256_Init(self._ctx)
        else:  # built from checked fields: never the saved bytes themselves
            h, count, buf = parse_state(state)
            bits = count * 8
            raw = _CTX.pack(*h, bits & _M, bits >> 32, buf.ljust(_BLOCK, b"\0"), len(buf), 32)
            self._ctx = ctypes.create_string_buffer(raw, _CTX_SIZE)

    def update(self, data: bytes) -> None:
        _LIB.SHA256_Update(self._ctx, bytes(data), len(data))

    def state(self) -> bytes:
        *h, low, high, data, num, _md_len = _CTX.unpack(self._ctx.raw)
        return portable_state(h, ((high << 32) | low) // 8, data[:num])

    def hexdigest(self) -> str:
        ctx = ctypes.create_string_buffer(self._ctx.raw, _CTX_SIZE)  # Final consumes the context
        out = ctypes.create_string_buffer(32)
        _LIB.SHA256_Final(out, ctx)
        return out.raw.hex()


_K = [
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
    0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
    0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
    0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
    0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
    0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
    0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
]
_H0 = [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19]
_M = 0xFFFFFFFF


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & _M


def _compress(h: list[int], block: bytes) -> list[int]:
    w = list(struct.unpack(">16I", block))
    for i in range(16, 64):
        s0 = _rotr(w[i - 15], 7) ^ _rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
        s1 = _rotr(w[i - 2], 17) ^ _rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
        w.append((w[i - 16] + s0 + w[i - 7] + s1) & _M)
    a, b, c, d, e, f, g, hh = h
    for i in range(64):
        t1 = (hh + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ (~e & g)) + _K[i] + w[i]) & _M
        t2 = ((_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) & _M
        a, b, c, d, e, f, g, hh = (t1 + t2) & _M, a, b, c, (d + t1) & _M, e, f, g
    return [(x + y) & _M for x, y in zip(h, (a, b, c, d, e, f, g, hh), strict=True)]


class _PurePythonSha256:
    kind = "python"

    def __init__(self, state: bytes | None = None):
        if state is None:
            self._h, self._length, self._buf = list(_H0), 0, b""
        else:
            self._h, self._length, self._buf = parse_state(state)

    def update(self, data: bytes) -> None:
        self._length += len(data)
        buf = self._buf + bytes(data)
        whole = len(buf) - len(buf) % 64
        for i in range(0, whole, 64):
            self._h = _compress(self._h, buf[i:i + 64])
        self._buf = buf[whole:]

    def state(self) -> bytes:
        return portable_state(self._h, self._length, self._buf)

    def hexdigest(self) -> str:
        bits = self._length * 8
        tail = self._buf + b"\x80" + b"\x00" * ((55 - len(self._buf)) % 64) + struct.pack(">Q", bits)
        h = self._h
        for i in range(0, len(tail), 64):
            h = _compress(h, tail[i:i + 64])
        return struct.pack(">8I", *h).hex()


def new(state: bytes | None = None, *, kind: str | None = None):
    """A resumable SHA-256; ``state`` from a previous ``.state()`` (of either kind: the state is portable)."""
    use = kind or ("openssl" if _LIB is not None else "python")
    if use == "openssl":
        if _LIB is None:
            raise RuntimeError("libcrypto cannot be loaded here")
        return _OpenSSLSha256(state)
    return _PurePythonSha256(state)
