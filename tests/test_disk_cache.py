"""File digests kept on disk: computed once per file version, recomputed when the file or the entry changes."""

from __future__ import annotations

import hashlib
import os

import numpy as np
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


def test_arrays_round_trip_memory_mapped_and_read_only(tmp_path):
    arrays = {
        "floats": np.arange(12, dtype=np.float32).reshape(3, 4),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3)),
        "names": np.array(["jawOpen", "eyeBlink_L"]),
        "empty": np.zeros((0, 3), np.float32),
        "flags": np.array([True, False]),
    }
    entry = tmp_path / "kind" / "key"
    disk_cache.store_arrays(entry, arrays)
    assert sorted(path.name for path in entry.iterdir()) == sorted(f"{name}.npy" for name in arrays)
    assert [path.name for path in entry.parent.iterdir()] == ["key"]  # no temporary folder left
    loaded = disk_cache.load_arrays(entry)
    assert loaded is not None and loaded.keys() == arrays.keys()
    for name, values in arrays.items():
        assert loaded[name].dtype == values.dtype and np.array_equal(loaded[name], values), name
        assert type(loaded[name]) is np.ndarray and not loaded[name].flags.writeable, name
    assert isinstance(loaded["floats"].base, np.memmap)  # a view of the file, not a copy
    assert disk_cache.load_arrays(entry, ["floats"]).keys() == {"floats"}


def test_missing_or_broken_entries_read_as_none(tmp_path):
    entry = tmp_path / "key"
    assert disk_cache.load_arrays(entry) is None and disk_cache.load_arrays(entry, ["a"]) is None
    disk_cache.store_arrays(entry, {"a": np.ones(1000, np.float32), "b": np.ones(3)})
    assert disk_cache.load_arrays(entry, ["a", "c"]) is None  # an array the entry lacks
    path = entry / "a.npy"
    path.write_bytes(path.read_bytes()[:500])  # truncated
    assert disk_cache.load_arrays(entry, ["a"]) is None and disk_cache.load_arrays(entry) is None
    path.write_bytes(b"garbage")
    assert disk_cache.load_arrays(entry) is None


def test_an_entry_written_first_by_another_process_is_kept(tmp_path):
    entry = tmp_path / "key"
    disk_cache.store_arrays(entry, {"a": np.zeros(4)})
    disk_cache.store_arrays(entry, {"a": np.ones(4)})  # a concurrent writer's rename finds the entry there
    assert np.array_equal(disk_cache.load_arrays(entry)["a"], np.zeros(4))
    assert [path.name for path in tmp_path.iterdir()] == ["key"]


def test_an_unwritable_cache_only_logs(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    disk_cache.store_arrays(blocker / "key", {"a": np.zeros(4)})
    assert "could not store the cache entry" in caplog.text
    assert disk_cache.load_arrays(blocker / "key") is None


def test_a_killed_writers_staging_folder_is_swept_and_entries_get_the_default_mode(tmp_path):
    import subprocess
    import sys

    from portraittalker.media.files import _HOST

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(done.stdout)  # that process has exited
    stale = tmp_path / f".key.{dead_pid}@{_HOST}.abcd1234.tmp"
    stale.mkdir()
    (stale / "a.npy").write_bytes(b"half written")
    live = tmp_path / f".other.{os.getpid()}@{_HOST}.abcd1234.tmp"  # a writer still running: kept
    live.mkdir()
    disk_cache.store_arrays(tmp_path / "key", {"a": np.zeros(4)})
    assert not stale.exists() and live.is_dir()
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "key").stat().st_mode & 0o777 == 0o777 & ~umask
