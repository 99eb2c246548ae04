"""Export a motion table as an ARKit / Live Link Face CSV (Unreal Live Link, Unity, Blender add-ons).

Layout of Epic's Live Link Face recordings: ``Timecode`` (``HH:MM:SS:FF.mmm``), ``BlendShapeCount`` (61),
the 52 ARKit blendshapes in ARFaceAnchor order (:data:`ARKIT_BLENDSHAPES`, weights in [0, 1]), then
``HeadYaw, HeadPitch, HeadRoll`` and the two eyes' ``Yaw, Pitch, Roll`` (radians). Heads whose
expressions are ARKit shapes with ``_L``/``_R`` suffixes (ICT-FaceKit) map exactly; the jaw, blink and
gaze controls go through the head's own ``driven_weights`` (so the CSV says what the video showed).
``CheekPuff`` and ``BrowInnerUp`` (one shape in ARKit, two in ICT) are averaged; ``TongueOut`` is 0.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from portraittalker.errors import PortraitTalkerError
from portraittalker.head.base import HeadModel
from portraittalker.media.files import atomic_path
from portraittalker.motion.schema import MotionTable

ARKIT_BLENDSHAPES = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft", "EyeSquintLeft",
    "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight",
    "EyeSquintRight", "EyeWideRight", "JawForward", "JawRight", "JawLeft", "JawOpen", "MouthClose", "MouthFunnel",
    "MouthPucker", "MouthRight", "MouthLeft", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft",
    "MouthFrownRight", "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft", "MouthPressRight",
    "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft",
    "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft",
    "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut",
)
POSE_NAMES = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw",
              "RightEyePitch", "RightEyeRoll")
CSV_HEADER = ("Timecode", "BlendShapeCount", *ARKIT_BLENDSHAPES, *POSE_NAMES)


class ExportError(PortraitTalkerError, ValueError):
    """The motion or head cannot be exported in the requested format."""


def arkit_name(name: str) -> str:
    """ICT/ARKit-style ``mouthSmile_L`` -> Live Link ``MouthSmileLeft``."""
    base, _, side = name.partition("_")
    return base[:1].upper() + base[1:] + {"L": "Left", "R": "Right", "": ""}[side]


def timecode(frame: int, fps: float) -> str:
    """Live Link Face timecode ``HH:MM:SS:FF.mmm`` of a frame index (from 00:00:00:00)."""
    rate = round(fps)
    seconds, frames = divmod(int(frame), rate)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}:{frames:02d}.000"


def arkit_weights(motion: MotionTable, head: HeadModel) -> np.ndarray:
    """(N, 61) float32: 52 ARKit weights then head and eye angles, per frame."""
    motion.check_head(head)
    params = motion.to_head_params(head)
    sources: dict[str, np.ndarray] = {}
    for index, name in enumerate(head.expression_names):
        sources[arkit_name(name)] = params.expression[:, index].numpy()
    driven = getattr(head, "driven_weights", None)
    if driven is not None:
        from portraittalker.head.ict import DRIVEN_BLENDSHAPES

        with torch.no_grad():
            weights = driven(params).numpy()
        for index, name in enumerate(DRIVEN_BLENDSHAPES):
            sources[arkit_name(name)] = weights[:, index]
    for merged in ("CheekPuff", "BrowInnerUp"):
        pair = [sources.pop(f"{merged}{side}", None) for side in ("Left", "Right")]
        pair = [p for p in pair if p is not None]
        if pair:
            sources.setdefault(merged, np.mean(pair, axis=0))
    known = [name for name in ARKIT_BLENDSHAPES if name in sources]
    if len(known) < 40:
        raise ExportError(f"head model {head.name!r} does not use ARKit blendshapes (only {len(known)} of 52 "
                          "names match); ARKit CSV export needs ICT-FaceKit")
    n = len(motion)
    out = np.zeros((n, len(ARKIT_BLENDSHAPES) + len(POSE_NAMES)), np.float32)
    for column, name in enumerate(ARKIT_BLENDSHAPES):
        if name in sources:
            out[:, column] = np.clip(sources[name], 0.0, 1.0)
    rotation = params.head_rotation.numpy()  # (pitch, yaw, roll)
    gaze = params.eye_gaze.numpy()  # (yaw, pitch)
    pose = np.stack([rotation[:, 1], rotation[:, 0], rotation[:, 2], gaze[:, 0], gaze[:, 1], np.zeros(n),
                     gaze[:, 0], gaze[:, 1], np.zeros(n)], axis=1)
    out[:, len(ARKIT_BLENDSHAPES):] = pose
    return out


def export_arkit_csv(motion: MotionTable, head: HeadModel, path: str | Path) -> Path:
    """Write the Live Link Face CSV of ``motion`` atomically; returns the path."""
    values = arkit_weights(motion, head)
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        for frame, row in enumerate(values):
            writer.writerow([timecode(frame, motion.fps), len(row), *(f"{v:.6f}" for v in row)])
    return path


def read_arkit_csv(path: str | Path) -> tuple[list[str], np.ndarray]:
    """(timecodes, (N, 61) values) of a Live Link Face CSV; checks the header."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows or tuple(rows[0]) != CSV_HEADER:
        raise ExportError(f"{path}: not a Live Link Face CSV (unexpected header)")
    body = rows[1:]
    for row in body:
        if len(row) != len(CSV_HEADER) or int(row[1]) != len(CSV_HEADER) - 2:
            raise ExportError(f"{path}: malformed row {row[:2]}")
    return [r[0] for r in body], np.asarray([[float(v) for v in r[2:]] for r in body], np.float32)


# --- glTF 2.0 binary (GLB) ----------------------------------------------------------------------------------
GLB_MAGIC, GLB_JSON, GLB_BIN = 0x46546C67, 0x4E4F534A, 0x004E4942
FLOAT, UINT32 = 5126, 5125


def _quaternion(matrix: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations -> (N, 4) unit quaternions (x, y, z, w)."""
    m = matrix.astype(np.float64)
    w = np.sqrt(np.maximum(0.0, 1.0 + m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2])) / 2
    x = np.sqrt(np.maximum(0.0, 1.0 + m[:, 0, 0] - m[:, 1, 1] - m[:, 2, 2])) / 2
    y = np.sqrt(np.maximum(0.0, 1.0 - m[:, 0, 0] + m[:, 1, 1] - m[:, 2, 2])) / 2
    z = np.sqrt(np.maximum(0.0, 1.0 - m[:, 0, 0] - m[:, 1, 1] + m[:, 2, 2])) / 2
    x = np.copysign(x, m[:, 2, 1] - m[:, 1, 2])
    y = np.copysign(y, m[:, 0, 2] - m[:, 2, 0])
    z = np.copysign(z, m[:, 1, 0] - m[:, 0, 1])
    q = np.stack([x, y, z, w], 1)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def export_glb(avatar, head: HeadModel, path: str | Path, motion: MotionTable | None = None) -> Path:
    """Textured head (identity and offsets baked in), expression blendshapes as morph targets, and the motion
    as a 25 fps animation of morph weights plus head rotation/translation about the head's pivot.

    Node ``head_pose`` (at the pivot, animated rotation + translation) holds node ``head`` (the mesh, its
    vertices relative to the pivot). Morph targets are the free expressions then, for ICT, the jaw/blink/
    gaze-driven shapes (names in ``mesh.extras.targetNames``, read by Blender and three.js). The eyeballs'
    gaze rotation is not animated (the eyelid look shapes are).
    """
    import io
    import json
    import struct

    from PIL import Image

    from portraittalker.render.mesh import build_split_mesh, build_texture_atlas

    avatar.validate(head)
    if not (hasattr(head, "expression_basis") and hasattr(head, "neutral")):
        raise ExportError(f"GLB export needs a head with linear blendshape bases (ICT-FaceKit), not {head.name!r}")
    split = build_split_mesh(head, build_texture_atlas(head))
    ids = split.vertex_ids
    with torch.no_grad():
        params = head.neutral_params(1)
        params.identity = torch.as_tensor(avatar.identity)[None]
        rest = head.deform(params)[0].numpy().astype(np.float32)
    if avatar.vertex_offsets is not None:
        rest = rest + avatar.vertex_offsets
    pivot = head.pivot.cpu().numpy().astype(np.float32)
    positions = rest[ids] - pivot  # the mesh node sits at -pivot inside the posed node
    faces = split.faces.astype(np.int64)
    normals_all = np.zeros_like(rest)
    corners = rest[faces]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    for k in range(3):
        np.add.at(normals_all, faces[:, k], face_normals)
    normals = normals_all[ids] / np.maximum(np.linalg.norm(normals_all[ids], axis=1, keepdims=True), 1e-12)
    uvs = np.stack([split.uvs[:, 0], 1.0 - split.uvs[:, 1]], 1).astype(np.float32)  # glTF v points down
    names = list(head.expression_names)
    bases = [head.expression_basis.cpu().numpy().reshape(len(names), -1, 3)]
    if hasattr(head, "driven_basis"):
        from portraittalker.head.ict import DRIVEN_BLENDSHAPES

        names += list(DRIVEN_BLENDSHAPES)
        bases.append(head.driven_basis.cpu().numpy().reshape(len(DRIVEN_BLENDSHAPES), -1, 3))
    deltas = np.concatenate(bases)[:, ids].astype(np.float32)  # (K, S, 3)
    png = io.BytesIO()
    Image.fromarray(avatar.material.albedo).save(png, format="PNG")

    blob = bytearray()
    views: list[dict] = []
    accessors: list[dict] = []

    def add_view(data: bytes, target: int | None = None) -> int:
        while len(blob) % 4:
            blob.append(0)
        view = {"buffer": 0, "byteOffset": len(blob), "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        blob.extend(data)
        views.append(view)
        return len(views) - 1

    def add_accessor(array: np.ndarray, kind: str, component: int = FLOAT, target: int | None = 34962,
                     bounds: bool = False) -> int:
        accessor = {"bufferView": add_view(np.ascontiguousarray(array).tobytes(), target), "componentType": component,
                    "count": int(array.shape[0]), "type": kind}
        if bounds:
            flat = array.reshape(array.shape[0], -1)
            accessor["min"], accessor["max"] = flat.min(0).tolist(), flat.max(0).tolist()
        accessors.append(accessor)
        return len(accessors) - 1

    attributes = {"POSITION": add_accessor(positions, "VEC3", bounds=True), "NORMAL": add_accessor(normals, "VEC3"),
                  "TEXCOORD_0": add_accessor(uvs, "VEC2")}
    indices = add_accessor(split.triangles.astype(np.uint32).reshape(-1), "SCALAR", UINT32, target=34963)
    targets = [{"POSITION": add_accessor(delta, "VEC3", bounds=True)} for delta in deltas]
    image_view = add_view(png.getvalue())
    gltf: dict = {
        "asset": {"version": "2.0", "generator": "portraittalker"},
        "scene": 0, "scenes": [{"nodes": [0]}],
        "nodes": [{"name": "head_pose", "translation": pivot.tolist(), "children": [1]},
                  {"name": "head", "mesh": 0}],
        "meshes": [{"name": avatar.head_model, "primitives": [{"attributes": attributes, "indices": indices,
                                                               "material": 0, "targets": targets}],
                    "weights": [0.0] * len(names), "extras": {"targetNames": names}}],
        "materials": [{"name": "skin", "pbrMetallicRoughness": {"baseColorTexture": {"index": 0},
                                                                 "metallicFactor": 0.0, "roughnessFactor": 0.7}}],
        "textures": [{"source": 0, "sampler": 0}], "images": [{"bufferView": image_view, "mimeType": "image/png"}],
        "samplers": [{"magFilter": 9729, "minFilter": 9987, "wrapS": 33071, "wrapT": 33071}],
    }
    if motion is not None:
        motion.check_head(head)
        frames = motion.to_head_params(head)
        n = len(motion)
        weights = [frames.expression.numpy()]
        if hasattr(head, "driven_weights"):
            with torch.no_grad():
                weights.append(head.driven_weights(frames).numpy())
        weights = np.concatenate(weights, 1).astype(np.float32)
        from portraittalker.head.base import euler_to_matrix

        rotation = _quaternion(euler_to_matrix(frames.head_rotation).numpy())
        translation = (pivot[None] + frames.head_translation.numpy()).astype(np.float32)
        times = add_accessor((np.arange(n) / motion.fps).astype(np.float32), "SCALAR", target=None, bounds=True)
        samplers = [{"input": times, "output": add_accessor(weights.reshape(-1), "SCALAR", target=None),
                     "interpolation": "LINEAR"},
                    {"input": times, "output": add_accessor(rotation, "VEC4", target=None), "interpolation": "LINEAR"},
                    {"input": times, "output": add_accessor(translation, "VEC3", target=None),
                     "interpolation": "LINEAR"}]
        gltf["animations"] = [{"name": "talk", "samplers": samplers, "channels": [
            {"sampler": 0, "target": {"node": 1, "path": "weights"}},
            {"sampler": 1, "target": {"node": 0, "path": "rotation"}},
            {"sampler": 2, "target": {"node": 0, "path": "translation"}}]}]
    while len(blob) % 4:
        blob.append(0)
    gltf["buffers"] = [{"byteLength": len(blob)}]
    gltf["bufferViews"], gltf["accessors"] = views, accessors
    text = json.dumps(gltf, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(struct.pack("<III", GLB_MAGIC, 2, total) + struct.pack("<II", len(text), GLB_JSON) + text
                        + struct.pack("<II", len(blob), GLB_BIN) + bytes(blob))
    return path


def read_glb(path: str | Path) -> tuple[dict, bytes]:
    """(glTF JSON, binary chunk) of a GLB file; checks the container."""
    import json
    import struct

    data = Path(path).read_bytes()
    magic, version, length = struct.unpack_from("<III", data, 0)
    if magic != GLB_MAGIC or version != 2 or length != len(data):
        raise ExportError(f"{path}: not a glTF 2.0 binary")
    json_length, kind = struct.unpack_from("<II", data, 12)
    if kind != GLB_JSON:
        raise ExportError(f"{path}: first chunk is not JSON")
    gltf = json.loads(data[20 : 20 + json_length])
    offset = 20 + json_length
    bin_length, kind = struct.unpack_from("<II", data, offset)
    if kind != GLB_BIN:
        raise ExportError(f"{path}: second chunk is not BIN")
    return gltf, data[offset + 8 : offset + 8 + bin_length]


def glb_accessor(gltf: dict, blob: bytes, index: int) -> np.ndarray:
    """Decode accessor ``index`` (tightly packed FLOAT / UINT32) to an array."""
    accessor = gltf["accessors"][index]
    view = gltf["bufferViews"][accessor["bufferView"]]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[accessor["type"]]
    dtype = np.float32 if accessor["componentType"] == FLOAT else np.uint32
    start = view.get("byteOffset", 0) + accessor.get("byteOffset", 0)
    array = np.frombuffer(blob, dtype=dtype, count=accessor["count"] * width, offset=start)
    return array.reshape(accessor["count"], width) if width > 1 else array
