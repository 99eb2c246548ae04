"""The disk caches: the ICT head's inflated arrays (keyed by its file), texel geometry (keyed by head geometry and
size) and shape directions (keyed by the head-model file), each built once, then loaded (same arrays)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from portraittalker.assets import ICT_FACEKIT, find_asset
from portraittalker.avatar import designer, texels
from portraittalker.config import load_params
from portraittalker.head import head_from_config
from portraittalker.head import ict_rig as ict


@pytest.fixture
def head():
    return head_from_config(load_params().head)


def test_second_build_loads_the_stored_arrays(head, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTRAITTALKER_CACHE", str(tmp_path))
    built = texels._load_or_build(head, 64)
    stored = list((tmp_path / "texels").glob("*.npz"))
    assert len(stored) == 1 and not list((tmp_path / "texels").glob("*.tmp*"))

    def no_build(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the cached geometry should have been loaded")

    monkeypatch.setattr(texels, "_build", no_build)
    loaded = texels._load_or_build(head, 64)
    for name in texels._ARRAYS:
        assert np.array_equal(getattr(loaded, name), getattr(built, name)), name
        assert getattr(loaded, name).dtype == getattr(built, name).dtype
    monkeypatch.undo()
    monkeypatch.setenv("PORTRAITTALKER_CACHE", str(tmp_path))
    texels._load_or_build(head, 32)  # another size: another key
    assert len(list((tmp_path / "texels").glob("*.npz"))) == 2


def test_broken_cache_file_is_rebuilt(head, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTRAITTALKER_CACHE", str(tmp_path))
    texels._load_or_build(head, 32)
    (path,) = (tmp_path / "texels").glob("*.npz")
    path.write_bytes(b"not a zip file")
    geometry = texels._load_or_build(head, 32)
    assert geometry.position.shape == (32, 32, 3)
    with np.load(path) as stored:  # and the rebuilt one was stored again
        assert np.array_equal(stored["covered"], geometry.covered)


def test_shape_directions_are_fitted_once_then_loaded(head, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTRAITTALKER_CACHE", str(tmp_path))
    fitted = designer._fit_shape_directions(head)
    assert tuple(fitted) == designer.SHAPE_DIRECTION_NAMES  # the names the cache stores
    monkeypatch.setattr(designer, "_DIRECTIONS", type(designer._DIRECTIONS)())  # no in-memory entry
    first = designer.shape_directions(head)
    (path,) = (tmp_path / "shape-directions").glob("*.npz")
    assert not list(path.parent.glob("*.tmp*"))

    def no_fit(*_args: object) -> None:
        raise AssertionError("the cached directions should have been loaded")

    monkeypatch.setattr(designer, "_fit_shape_directions", no_fit)
    monkeypatch.setattr(designer, "_DIRECTIONS", type(designer._DIRECTIONS)())
    loaded = designer.shape_directions(head)
    for name in designer.SHAPE_DIRECTION_NAMES:
        assert np.array_equal(loaded[name], fitted[name]) and np.array_equal(first[name], fitted[name]), name
        assert loaded[name].dtype == np.float32


def test_head_without_a_model_file_keeps_directions_in_memory_only(head, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTRAITTALKER_CACHE", str(tmp_path))
    monkeypatch.setattr(designer, "_DIRECTIONS", type(designer._DIRECTIONS)())
    monkeypatch.setattr(head, "source_path", None)
    designer.shape_directions(head)
    assert not (tmp_path / "shape-directions").exists()


def test_the_ict_head_arrays_are_inflated_once_and_a_broken_entry_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTRAITTALKER_CACHE", str(tmp_path))
    source = find_asset(ICT_FACEKIT)
    first = ict.read_ict_arrays(source)
    (stored,) = (tmp_path / "heads").glob("*.npz")
    with np.load(source) as original:
        for name, values in first.items():
            np.testing.assert_array_equal(values, original[name])
    real_load = np.load

    def no_inflating(path, *args, **kwargs):
        assert Path(path) != source, "the cached arrays should have been read"
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(ict.np, "load", no_inflating)
    again = ict.read_ict_arrays(source)
    assert all(np.array_equal(again[name], first[name]) for name in first)
    monkeypatch.setattr(ict.np, "load", real_load)
    stored.write_bytes(stored.read_bytes()[:1000])  # truncated: rebuilt from the asset
    rebuilt = ict.read_ict_arrays(source)
    assert all(np.array_equal(rebuilt[name], first[name]) for name in first)
    assert stored.stat().st_size > 1000


def test_the_paint_frame_is_built_once_then_loaded_and_a_broken_entry_is_rebuilt(head, tmp_path, monkeypatch):
    from portraittalker.avatar import texture

    monkeypatch.setenv("PORTRAITTALKER_CACHE", str(tmp_path))
    monkeypatch.setattr(texture, "_FRAMES", type(texture._FRAMES)())
    built = texture.paint_frame(head, 64, canvas_width=256)
    (path,) = (tmp_path / "paint-frames").glob("*.npz")
    real_build = texture._build_frame

    def no_build(*_args: object) -> None:
        raise AssertionError("the cached paint frame should have been loaded")

    monkeypatch.setattr(texture, "_build_frame", no_build)
    monkeypatch.setattr(texture, "_FRAMES", type(texture._FRAMES)())
    loaded = texture.paint_frame(head, 64, canvas_width=256)
    for name, value in vars(built).items():
        other = getattr(loaded, name)
        if isinstance(value, np.ndarray):
            assert value.dtype == other.dtype and np.array_equal(value, other), name
        elif isinstance(value, dict):
            assert value.keys() == other.keys() and all(np.array_equal(value[k], other[k]) for k in value), name
        elif name != "geometry":
            assert value == other and type(value) is type(other), name
    path.write_bytes(b"truncated")
    monkeypatch.setattr(texture, "_build_frame", real_build)
    monkeypatch.setattr(texture, "_FRAMES", type(texture._FRAMES)())
    rebuilt = texture.paint_frame(head, 64, canvas_width=256)
    assert np.array_equal(rebuilt.map_x, built.map_x)
    with np.load(path) as stored:
        assert np.array_equal(stored["cavity"], built.cavity)
