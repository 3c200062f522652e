"""A published file kept in a staged folder stays the same file to every reader that compares
name, size and modification time (role databases do), linked or, across file systems, copied."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from warehouse.publish import file_signature, link_or_copy


def test_a_kept_file_is_a_hard_link_on_the_same_file_system(tmp_path):
    source = tmp_path / "a.parquet"
    source.write_bytes(b"rows")
    (tmp_path / "staged").mkdir()

    link_or_copy(source, tmp_path / "staged" / "a.parquet")

    assert (tmp_path / "staged" / "a.parquet").stat().st_ino == source.stat().st_ino


def test_a_kept_file_on_another_file_system_is_copied_with_its_signature(tmp_path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second file system to copy across")
    with tempfile.TemporaryDirectory(dir=shm) as other:
        source = Path(other) / "a.parquet"
        source.write_bytes(b"rows")
        os.utime(source, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
        target = tmp_path / "a.parquet"

        link_or_copy(source, target)

        assert target.read_bytes() == b"rows"
        assert file_signature(target) == file_signature(source)
