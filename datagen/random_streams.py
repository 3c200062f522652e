"""Independent, reproducible random streams named by what they are for.

Every piece of the simulation draws from its own stream, seeded by the run's seed plus stable labels
(a chunk number, a source name, a month). Streams never depend on how many numbers another piece drew
or on scheduling, so the same seed gives the same bytes even when chunks run in parallel.
"""

from __future__ import annotations

import zlib

import numpy as np
import polars as pl
import pyarrow as pa


def stream(seed: int, *labels: str | int) -> np.random.Generator:
    """A generator for (seed, labels...); labels are hashed with CRC32, which is stable across runs."""
    words = [seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF]
    for label in labels:
        words.append(label & 0xFFFFFFFF if isinstance(label, int) else zlib.crc32(str(label).encode()))
    return np.random.default_rng(np.random.SeedSequence(words))


def choice_index(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """Indices drawn with the given (unnormalised) weights; faster than rng.choice for large sizes."""
    cumulative = np.cumsum(np.asarray(weights, dtype=float))
    return np.searchsorted(cumulative, rng.random(size) * cumulative[-1], side="right").clip(
        0, len(cumulative) - 1
    )


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def random_hex(rng: np.random.Generator, size: int, digits: int = 16) -> pl.Series:
    """Random lowercase hex ids (event, session, device ids that must not reveal who they belong to).

    Built from raw random bytes straight into an Arrow string buffer: ten million ids take about a
    second, where formatting them one by one would take minutes.
    """
    raw = np.frombuffer(rng.bytes(size * ((digits + 1) // 2)), dtype=np.uint8)
    nibbles = np.empty(raw.size * 2, dtype=np.uint8)
    nibbles[0::2] = raw >> 4
    nibbles[1::2] = raw & 15
    chars = _HEX_DIGITS[nibbles.reshape(size, 2 * ((digits + 1) // 2))[:, :digits].ravel()]
    offsets = np.arange(size + 1, dtype=np.int64) * digits
    array = pa.LargeStringArray.from_buffers(size, pa.py_buffer(offsets), pa.py_buffer(chars))
    return pl.Series(array).cast(pl.String)
