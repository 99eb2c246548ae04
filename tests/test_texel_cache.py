"""The disk caches: the ICT rig's arrays (keyed by its file), texel geometry (keyed by head geometry and size), shape
directions (keyed by the head-model file) and paint frames, each built once, then loaded (same arrays)."""

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


def entries(folder: Path) -> list[Path]:
    """The cache entries in ``folder``, failing if a temporary folder was left behind."""
    assert not [path for path in folder.iterdir() if path.name.startswith(".")], "a temporary entry was left"
    return sorted(path for path in folder.iterdir() if path.is_dir())


def test_second_build_loads_the_stored_arrays(head, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTRAITTALKER_CACHE", str(tmp_path))
    built = texels._load_or_build(head, 64)
    assert len(entries(tmp_path / "texels")) == 1

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
    assert len(entries(tmp_path / "texels")) == 2


def test_broken_cache_file_is_rebuilt(head, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTRAITTALKER_CACHE", str(tmp_path))
    texels._load_or_build(head, 32)
    (entry,) = entries(tmp_path / "texels")
    (entry / "covered.npy").write_bytes(b"not an npy file")
    geometry = texels._load_or_build(head, 32)
    assert geometry.position.shape == (32, 32, 3)
    assert np.array_equal(np.load(entry / "covered.npy"), geometry.covered)


def test_shape_directions_are_fitted_once_then_loaded(head, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTRAITTALKER_CACHE", str(tmp_path))
    fitted = designer._fit_shape_directions(head)
    assert tuple(fitted) == designer.SHAPE_DIRECTION_NAMES  # the names the cache stores
    monkeypatch.setattr(designer, "_DIRECTIONS", type(designer._DIRECTIONS)())  # no in-memory entry
    first = designer.shape_directions(head)
    assert len(entries(tmp_path / "shape-directions")) == 1

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


def test_the_ict_rig_arrays_are_derived_once_and_a_broken_entry_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTRAITTALKER_CACHE", str(tmp_path))
    source = find_asset(ICT_FACEKIT)
    first = ict.rig_arrays(source)
    (entry,) = entries(tmp_path / "heads")
    derived = ict._derive_rig_arrays(ict.read_ict_arrays(source))
    assert first.keys() == derived.keys() == set(ict._RIG_ARRAYS)
    for name, values in derived.items():
        assert first[name].dtype == values.dtype and np.array_equal(first[name], values), name

    def no_inflating(*_args: object) -> None:
        raise AssertionError("the cached arrays should have been read")

    monkeypatch.setattr(ict, "read_ict_arrays", no_inflating)
    again = ict.rig_arrays(source)
    assert all(np.array_equal(again[name], first[name]) for name in first)
    assert not again["identity_basis"].flags.writeable  # memory-mapped from the cache, shared by processes
    monkeypatch.undo()
    monkeypatch.setenv("PORTRAITTALKER_CACHE", str(tmp_path))
    stored = entry / "expression_basis.npy"
    stored.write_bytes(stored.read_bytes()[:1000])  # truncated: rebuilt from the asset
    rebuilt = ict.rig_arrays(source)
    assert all(np.array_equal(rebuilt[name], first[name]) for name in first)
    assert stored.stat().st_size > 1000


def test_the_rig_poses_the_head_as_before_the_cache(tmp_path, monkeypatch):
    """The rig built from cached arrays poses vertices exactly as one built from the asset's arrays."""
    monkeypatch.setenv("PORTRAITTALKER_CACHE", str(tmp_path))
    cold = ict.ICTRig()  # builds the entry
    warm = ict.ICTRig()  # reads it back
    params = cold.neutral_params(2)
    params.expression[:] = np.linspace(-0.5, 1.0, params.expression.size, dtype=np.float32).reshape(2, -1)
    params.jaw[:, 0] = 0.2
    params.head_rotation[:, 1] = 0.3
    assert np.array_equal(cold(params), warm(params))
    assert warm.eyeball_slices == cold.eyeball_slices and warm.expression_names == cold.expression_names


def test_the_paint_frame_is_built_once_then_loaded_and_a_broken_entry_is_rebuilt(head, tmp_path, monkeypatch):
    from portraittalker.avatar import texture

    monkeypatch.setenv("PORTRAITTALKER_CACHE", str(tmp_path))
    monkeypatch.setattr(texture, "_FRAMES", type(texture._FRAMES)())
    built = texture.paint_frame(head, 64, canvas_width=256)
    (entry,) = entries(tmp_path / "paint-frames")
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
    (entry / "cavity.npy").write_bytes(b"truncated")
    monkeypatch.setattr(texture, "_build_frame", real_build)
    monkeypatch.setattr(texture, "_FRAMES", type(texture._FRAMES)())
    rebuilt = texture.paint_frame(head, 64, canvas_width=256)
    assert np.array_equal(rebuilt.map_x, built.map_x)
    assert np.array_equal(np.load(entry / "cavity.npy"), built.cavity)
