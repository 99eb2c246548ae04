"""The motion-model checkpoint file without torch: its format tag, head identity check and a numpy reader.

A checkpoint is written by ``torch.save`` (:func:`portraittalker.motion.checkpoint.save_checkpoint`): a zip holding
``data.pkl`` and one raw little-endian file per tensor storage. :func:`read_checkpoint_arrays` reads it into the same
dict with numpy arrays in place of tensors, through a pickle reader that accepts only what a checkpoint contains
(tensors, ordered dicts and plain values; like ``torch.load(weights_only=True)``), so ``generate`` needs no torch.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from portraittalker.errors import PortraitTalkerError
from portraittalker.head.params import as_numpy

if TYPE_CHECKING:
    from portraittalker.head.params import HeadLike

CHECKPOINT_FORMAT = "portraittalker.motion-model/1"
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "default.pt"  # the packaged model `--motion model` loads
TRAIN_HINT = "train one with `portraittalker train` or `dvc repro train`"

# torch's legacy storage classes (what torch.save records per storage) -> numpy dtypes
_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16, "LongStorage": np.int64,
    "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class CheckpointError(PortraitTalkerError, ValueError):
    """A file is not a readable motion-model checkpoint."""


class HeadMismatchError(CheckpointError):
    """The checkpoint was trained for a different head model than the one it is used with."""


def head_fingerprint(head: HeadLike) -> str:
    """sha256 over the head's name, expression names, lip-vertex ids and lip geometry/bases."""
    digest = hashlib.sha256()
    digest.update(json.dumps([head.name, list(head.expression_names), int(head.n_vertices)]).encode())
    lips = as_numpy(head.lip_vertices).astype(np.int64)
    digest.update(lips.tobytes())
    if all(hasattr(head, n) for n in ("neutral", "expression_basis", "driven_basis")):
        # A linear blendshape head (ICT): exact stored data, identical bytes on every machine.
        cols = np.stack([lips * 3, lips * 3 + 1, lips * 3 + 2], -1).reshape(-1)
        digest.update(np.ascontiguousarray(as_numpy(head.neutral)[lips], np.float32).tobytes())
        for name in ("expression_basis", "driven_basis"):
            digest.update(np.ascontiguousarray(as_numpy(getattr(head, name))[:, cols], np.float32).tobytes())
    else:  # computed geometry, rounded to 10 µm so floating-point noise cannot change the hash
        params = head.neutral_params(1 + head.n_expression)
        expression = np.zeros((1 + head.n_expression, head.n_expression), np.float32)
        expression[1:] = np.eye(head.n_expression)
        params.expression = params.expression.new_tensor(expression)
        vertices = as_numpy(head.deform(params))[:, lips]
        digest.update(np.round(vertices * 1e5).astype(np.int64).tobytes())
    return digest.hexdigest()


def head_identity(head: HeadLike) -> dict[str, Any]:
    return {"name": head.name, "expression_names": list(head.expression_names), "fingerprint": head_fingerprint(head)}


def check_head(identity: dict[str, Any], head: HeadLike, source: str = "checkpoint") -> None:
    if identity["name"] != head.name or list(identity["expression_names"]) != list(head.expression_names):
        raise HeadMismatchError(
            f"{source} was trained for head model {identity['name']!r} ({len(identity['expression_names'])} "
            f"expressions), not {head.name!r} ({head.n_expression} expressions)"
        )
    if identity["fingerprint"] != head_fingerprint(head):
        raise HeadMismatchError(
            f"{source} was trained for a different version of head model {head.name!r} "
            "(same name and expressions but different geometry; fingerprint mismatch)"
        )


def check_payload(payload: Any, path: Path) -> dict[str, Any]:
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"{path} is not a motion-model checkpoint (format {found!r}, expected {CHECKPOINT_FORMAT})"
        )
    return payload


def missing_checkpoint(path: Path) -> FileNotFoundError:
    return FileNotFoundError(f"motion-model checkpoint not found: {path} ({TRAIN_HINT})")


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple[int, ...], stride: tuple[int, ...],
                    *_: Any) -> np.ndarray:
    if not size:
        return storage[offset].copy()
    if offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) >= len(storage):
        raise CheckpointError(f"a tensor of shape {tuple(size)} runs past its storage of {len(storage)} elements")
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size), strides=[s * item for s in stride])
    return np.ascontiguousarray(view)


class _StorageType:
    def __init__(self, name: str) -> None:
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _CheckpointUnpickler(pickle.Unpickler):
    """``data.pkl`` of a torch zip checkpoint, tensors as numpy arrays; any other global is refused."""

    def __init__(self, handle: Any, archive: zipfile.ZipFile, prefix: str, source: Path) -> None:
        super().__init__(handle)
        self.archive, self.prefix, self.source = archive, prefix, source
        self.storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise CheckpointError(f"{self.source}: unsupported object {module}.{name} in the checkpoint")

    def persistent_load(self, saved_id: Any) -> np.ndarray:
        if not (isinstance(saved_id, tuple) and saved_id[0] == "storage" and isinstance(saved_id[1], _StorageType)):
            raise CheckpointError(f"{self.source}: unsupported storage record {saved_id!r}")
        storage_type, key = saved_id[1], str(saved_id[2])
        if key not in self.storages:
            raw = self.archive.read(f"{self.prefix}data/{key}")
            self.storages[key] = np.frombuffer(raw, storage_type.dtype.newbyteorder("<"))
        return self.storages[key]


def read_checkpoint_arrays(path: str | Path) -> dict[str, Any]:
    """A checkpoint as saved, tensors as numpy arrays (read-only views are copied; nothing shares the file)."""
    path = Path(path)
    if not path.is_file():
        raise missing_checkpoint(path)
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
            if len(pickles) != 1:
                raise CheckpointError(f"{path} is not a torch zip checkpoint (no single data.pkl)")
            prefix = pickles[0][: -len("data.pkl")]
            byteorder = f"{prefix}byteorder"
            if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
                raise CheckpointError(f"{path} was saved big-endian, which this reader does not handle")
            with archive.open(pickles[0]) as handle:
                payload = _CheckpointUnpickler(handle, archive, prefix, path).load()
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path} is not a readable motion-model checkpoint: {error}") from error
    return check_payload(payload, path)


def dequantised(payload: dict[str, Any]) -> dict[str, np.ndarray]:
    """The state dict in float32 where the packaged copy stores int8 rows with one scale each."""
    scales = payload.get("int8_scales") or {}
    return {key: (as_numpy(value).astype(np.float32) * as_numpy(scales[key]).reshape(-1, *([1] * (value.ndim - 1)))
                  if key in scales else as_numpy(value)) for key, value in payload["state_dict"].items()}
