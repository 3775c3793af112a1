"""ARM's uniqueString (`unique_string`): a MurmurHash64 variant written in base32."""

from __future__ import annotations

# uniqueString: ARM hashes the '-'-joined UTF-8 arguments with a MurmurHash64 variant and writes the 64 bits as
# 13 base32 characters (a-z, 2-7), most significant first. Checked against published values: 'test' →
# rbgf3xv4ufgzg, 'hello','world' → a7wkljktk6wne, 'tyeth' → zcztcwvu6iyg6.
_MASK32 = 0xFFFFFFFF


def _rotl32(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & _MASK32


def _fmix32(h: int) -> int:
    h = ((h ^ (h >> 16)) * 0x85EBCA6B) & _MASK32
    h = ((h ^ (h >> 13)) * 0xC2B2AE35) & _MASK32
    return h ^ (h >> 16)


def _murmur64(data: bytes) -> int:
    c1, c2 = 0x239B961B, 0xAB0E9789
    h1 = h2 = 0
    i, n = 0, len(data)
    while i + 8 <= n:
        k1 = int.from_bytes(data[i : i + 4], "little")
        k2 = int.from_bytes(data[i + 4 : i + 8], "little")
        h1 ^= _rotl32((k1 * c1) & _MASK32, 15) * c2 & _MASK32
        h1 = (_rotl32(h1, 19) + h2) & _MASK32
        h1 = (h1 * 5 + 0x561CCD1B) & _MASK32
        h2 ^= _rotl32((k2 * c2) & _MASK32, 17) * c1 & _MASK32
        h2 = (_rotl32(h2, 13) + h1) & _MASK32
        h2 = (h2 * 5 + 0x0BCAA747) & _MASK32
        i += 8
    tail = n - i
    if tail > 0:
        k1 = int.from_bytes(data[i : i + min(tail, 4)], "little")
        h1 ^= _rotl32((k1 * c1) & _MASK32, 15) * c2 & _MASK32
        if tail > 4:
            k2 = int.from_bytes(data[i + 4 : n], "little")
            h2 ^= _rotl32((k2 * c2) & _MASK32, 17) * c1 & _MASK32
    h1 ^= n
    h2 ^= n
    h1 = (h1 + h2) & _MASK32
    h2 = (h2 + h1) & _MASK32
    h1, h2 = _fmix32(h1), _fmix32(h2)
    h1 = (h1 + h2) & _MASK32
    h2 = (h2 + h1) & _MASK32
    return (h2 << 32) | h1


def unique_string(*values: str) -> str:
    """ARM's uniqueString(values...)."""
    digest = _murmur64("-".join(values).encode("utf-8"))
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    letters = []
    for _ in range(13):  # 65 bits: the last letter takes the 4 lowest bits and a zero
        letters.append(alphabet[digest >> 59])
        digest = (digest << 5) & 0xFFFFFFFFFFFFFFFF
    return "".join(letters)
