"""File digests kept on disk: computed once per file version, recomputed when the file or the entry changes."""

from __future__ import annotations

import hashlib
import os

import pytest

from portraittalker.head import disk_cache


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTRAITTALKER_CACHE", str(tmp_path / "cache"))
    disk_cache._file_digest.cache_clear()
    yield tmp_path / "cache" / "digests"
    disk_cache._file_digest.cache_clear()


def test_digest_is_stored_and_reused(tmp_path, cache, monkeypatch):
    data = tmp_path / "weights.bin"
    data.write_bytes(b"weights" * 1000)
    expected = hashlib.sha256(data.read_bytes()).hexdigest()
    assert disk_cache.file_digest(data) == expected
    assert [entry.read_text().strip() for entry in cache.iterdir()] == [expected]

    disk_cache._file_digest.cache_clear()  # a new process: read from disk, not hashed again
    monkeypatch.setattr(disk_cache, "file_sha256", lambda path: pytest.fail("hashed again"))
    assert disk_cache.file_digest(data) == expected


def test_a_changed_file_or_a_broken_entry_is_hashed_again(tmp_path, cache):
    data = tmp_path / "weights.bin"
    data.write_bytes(b"a" * 100)
    first = disk_cache.file_digest(data)
    data.write_bytes(b"b" * 101)
    os.utime(data, ns=(1, 2))  # another size and modification time: another entry
    assert disk_cache.file_digest(data) == hashlib.sha256(b"b" * 101).hexdigest() != first
    assert len(list(cache.iterdir())) == 2
    for entry in cache.iterdir():
        entry.write_text("not a digest")
    disk_cache._file_digest.cache_clear()
    assert disk_cache.file_digest(data) == hashlib.sha256(b"b" * 101).hexdigest()
