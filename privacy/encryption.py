"""AES-256-GCM encryption of whole files, streamed in chunks so a large file never sits in memory.

Used for what must not be readable from the disk alone: the restricted (full-identifier) marts and
every backup. The format is the STREAM construction: one random 8-byte prefix per file, a 4-byte
chunk counter in every nonce, and the chunk index plus a "last chunk" flag authenticated with each
chunk, so reordering, truncating or flipping a byte is detected rather than decrypted to garbage.

    header: MAGIC (8) | key id (16, ascii hex) | nonce prefix (8) | chunk size (4, big-endian)
    body:   chunk_0 ... chunk_n, each ciphertext + 16-byte tag; chunk_n is flagged last

The key id is a public fingerprint of the key, so a wrong key is reported as a wrong key instead
of as corruption.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privacy.errors import CorruptFileError, WrongKeyError
from privacy.keys import Key

MAGIC = b"CDPAES01"
HEADER = struct.Struct(">8s16s8sI")
TAG_BYTES = 16
DEFAULT_CHUNK_BYTES = 4 << 20
SUFFIX = ".enc"


def encrypt_stream(
    source: BinaryIO, target: BinaryIO, key: Key, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> None:
    prefix = os.urandom(8)
    header = HEADER.pack(MAGIC, key.key_id.encode("ascii"), prefix, chunk_bytes)
    target.write(header)
    cipher = AESGCM(key.material)
    for index, chunk, last in _chunks(source, chunk_bytes):
        target.write(cipher.encrypt(_nonce(prefix, index), chunk, _aad(header, index, last)))


def decrypt_stream(source: BinaryIO, target: BinaryIO, key: Key, name: str = "<stream>") -> None:
    header = source.read(HEADER.size)
    if len(header) < HEADER.size:
        raise CorruptFileError(f"{name}: too short to be an encrypted file ({len(header)} bytes)")
    magic, key_id, prefix, chunk_bytes = HEADER.unpack(header)
    if magic != MAGIC:
        raise CorruptFileError(f"{name}: not a CDP encrypted file (bad magic bytes)")
    if key_id.decode("ascii", "replace") != key.key_id:
        raise WrongKeyError(
            f"{name}: encrypted with key {key_id.decode('ascii', 'replace')}, but the configured key "
            f"({key.origin}) is {key.key_id}; use the key the file was written with"
        )
    cipher = AESGCM(key.material)
    for index, sealed, last in _chunks(source, chunk_bytes + TAG_BYTES):
        try:
            target.write(cipher.decrypt(_nonce(prefix, index), sealed, _aad(header, index, last)))
        except InvalidTag as exc:
            raise CorruptFileError(
                f"{name}: chunk {index} failed authentication: the file is damaged, truncated or was "
                "tampered with; restore it from a backup"
            ) from exc


def encrypt_bytes(data: bytes, key: Key) -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, key)
    return out.getvalue()


def decrypt_bytes(data: bytes, key: Key, name: str = "<bytes>") -> bytes:
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(data), out, key, name)
    return out.getvalue()


def encrypt_file(source: Path, target: Path, key: Key, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
    """Encrypt `source` to `target` through a temporary file, so a crash never leaves half a file."""
    _atomic(target, lambda out: _with_input(source, lambda src: encrypt_stream(src, out, key, chunk_bytes)))


def write_encrypted(data: bytes, target: Path, key: Key) -> None:
    _atomic(target, lambda out: encrypt_stream(io.BytesIO(data), out, key))


def read_encrypted(path: Path, key: Key) -> bytes:
    if not path.is_file():
        raise CorruptFileError(f"{path}: encrypted file not found")
    out = io.BytesIO()
    with path.open("rb") as source:
        decrypt_stream(source, out, key, str(path))
    return out.getvalue()


def _with_input(path: Path, action) -> None:
    with path.open("rb") as source:
        action(source)


def _atomic(target: Path, write) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    try:
        with partial.open("wb") as out:
            write(out)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _chunks(source: BinaryIO, size: int) -> Iterator[tuple[int, bytes, bool]]:
    """Chunks with a look-ahead so the last one is known (an empty input is one empty last chunk)."""
    index = 0
    current = source.read(size)
    while True:
        following = source.read(size)
        last = not following
        yield index, current, last
        if last:
            return
        index += 1
        current = following


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + struct.pack(">I", index)


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return header + struct.pack(">I?", index, last)
