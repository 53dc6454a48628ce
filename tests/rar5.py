"""A minimal RAR5 writer (stored, uncompressed files) for test fixtures.

Nothing in Debian main or on PyPI creates RAR archives, and the release ships .rar files,
so the tests build real ones from the RAR5 format description: signature, main header,
one file header per member with its data, end-of-archive header.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

SIGNATURE = b"Rar!\x1a\x07\x01\x00"


def _vint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _block(body: bytes) -> bytes:
    size = _vint(len(body))
    return struct.pack("<I", zlib.crc32(size + body) & 0xFFFFFFFF) + size + body


def write_rar5(path: Path, files: dict[str, bytes]) -> Path:
    """Write ``files`` (archive name -> content) as a RAR5 archive using the 'store' method."""
    parts = [SIGNATURE, _block(_vint(1) + _vint(0) + _vint(0))]  # main header
    for name, data in files.items():
        raw_name = name.encode("utf-8")
        body = (
            _vint(2)  # file header
            + _vint(0x0002)  # header flags: data area present
            + _vint(len(data))  # data size
            + _vint(0x0004)  # file flags: data CRC32 present
            + _vint(len(data))  # unpacked size
            + _vint(0o644)  # attributes (unix mode)
            + struct.pack("<I", zlib.crc32(data) & 0xFFFFFFFF)
            + _vint(0)  # compression: version 0, method 0 = store
            + _vint(1)  # host OS: Unix
            + _vint(len(raw_name))
            + raw_name
        )
        parts += [_block(body), data]
    parts.append(_block(_vint(5) + _vint(0) + _vint(0)))  # end of archive
    path.write_bytes(b"".join(parts))
    return path
