"""Little-endian integers, LEB128 varints and length-checked reads: the bricks of format version 3.

A ``Reader`` never reads past the bytes it was given: every ``take`` compares the length asked for
with what is left before slicing, so a forged count is refused before it sizes anything. Varints are
unsigned LEB128 (7 bits a byte, least significant group first, high bit = more follows), accepted
only in their shortest form and below 2**32, so every value has exactly one encoding.
"""

from __future__ import annotations

from prunelab.errors import PrunelabError

VARINT_LIMIT = 2**32  # every count and dimension in the file is below this


def varint(value: int) -> bytes:
    if not isinstance(value, int) or not 0 <= value < VARINT_LIMIT:
        raise PrunelabError(f"cannot store {value!r} as a file integer (0..2**32-1)")
    return _leb128(value)


def text(value: str) -> bytes:
    """A string as varint byte length + UTF-8."""
    encoded = value.encode("utf-8")
    return varint(len(encoded)) + encoded


class Reader:
    """Reads ``data`` front to back; ``what`` arguments name the field in error messages."""

    def __init__(self, data: bytes):
        self.data, self.offset = data, 0

    @property
    def left(self) -> int:
        return len(self.data) - self.offset

    def take(self, count: int) -> bytes:
        if count > self.left:
            raise PrunelabError(f"compressed model is truncated (needs {count} bytes at offset "
                                f"{self.offset}, {self.left} left)")
        chunk = self.data[self.offset : self.offset + count]
        self.offset += count
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def varint(self, what: str, low: int = 0, high: int = VARINT_LIMIT - 1) -> int:
        value, shift, start = 0, 0, self.offset
        while True:
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
            if shift >= 35:
                raise PrunelabError(f"{what}: integer at offset {start} is too long")
        if value >= VARINT_LIMIT or self.offset - start != len(_leb128(value)):
            raise PrunelabError(f"{what}: integer at offset {start} is not in its shortest form below 2**32")
        if not low <= value <= high:
            raise PrunelabError(f"{what} {value} is out of range ({low}..{high})")
        return value

    def text(self, what: str) -> str:
        raw = self.take(self.varint(f"length of {what}"))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PrunelabError(f"{what} is not UTF-8 text") from None

    def end(self) -> None:
        if self.left:
            raise PrunelabError(f"compressed model has {self.left} unexpected trailing bytes")


def _leb128(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
