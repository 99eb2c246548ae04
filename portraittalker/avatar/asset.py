"""The avatar asset: what a talking head looks like, saved as a folder every later stage reads.

Folder layout (format version :data:`AVATAR_FORMAT_VERSION`)::

    avatar.json      prompt, seed, head model, identity coefficients, attributes, material scalars,
                     lighting, background spec, film grain, source, format version
    albedo.png       UV albedo in the head's texture-atlas layout (portraittalker.render.mesh), sRGB
    specular.png     optional 8-bit specular-map scale (0..255 -> 0..1)
    background.png   optional background image (when the background is not a solid colour)
    vertex_offsets.npy  optional (V, 3) float32 per-vertex offsets in metres, added to the identity shape
                     before expressions and pose (learnt displacements of the appearance optimiser)

Writers: the attribute designer ("attribute-designer"), SDS optimisation ("sds") and photo fitting
("photo-fit"). Saving is atomic: everything is written into a temporary sibling folder that then
replaces the target in one rename.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image

from portraittalker.errors import PortraitTalkerError
from portraittalker.render.scene import Background, DirectionalLight, Lighting, Material

if TYPE_CHECKING:
    from portraittalker.head.params import HeadLike

AVATAR_FORMAT_VERSION = 1
AvatarSource = Literal["attribute-designer", "sds", "photo-fit"]
SOURCES: tuple[str, ...] = ("attribute-designer", "sds", "photo-fit")
JSON_NAME, ALBEDO_NAME, SPECULAR_NAME, BACKGROUND_NAME = "avatar.json", "albedo.png", "specular.png", "background.png"
OFFSETS_NAME = "vertex_offsets.npy"


class AvatarFormatError(PortraitTalkerError, ValueError):
    """An avatar folder or an Avatar object is malformed; the message names the file/field and the problem."""


class AvatarHeadMismatchError(AvatarFormatError):
    """The avatar was made for a different head model than the one it is being used with."""


@dataclass
class Avatar:
    identity: np.ndarray  # (n_identity,) float32 identity coefficients of ``head_model``
    material: Material
    lighting: Lighting
    background: Background
    head_model: str
    prompt: str = ""
    seed: int = 0
    source: AvatarSource = "attribute-designer"
    film_grain: float = 0.0
    attributes: dict[str, Any] = field(default_factory=dict)
    background_spec: dict[str, Any] = field(default_factory=dict)
    vertex_offsets: np.ndarray | None = None  # (V, 3) float32 metres, optional

    def __post_init__(self) -> None:
        self.identity = np.asarray(self.identity, dtype=np.float32)
        if self.vertex_offsets is not None:
            self.vertex_offsets = np.asarray(self.vertex_offsets, dtype=np.float32)
        self.validate()

    def validate(self, head: HeadLike | None = None) -> None:
        """Raise :class:`AvatarFormatError` on any inconsistent field (and a head mismatch, if given)."""
        if self.identity.ndim != 1 or not np.all(np.isfinite(self.identity)):
            raise AvatarFormatError(f"identity must be a finite 1-D vector, got shape {self.identity.shape}")
        albedo = self.material.albedo
        if not (isinstance(albedo, np.ndarray) and albedo.ndim == 3 and albedo.shape[2] == 3
                and albedo.dtype == np.uint8):
            raise AvatarFormatError(f"material.albedo must be (H, W, 3) uint8, got "
                                    f"{getattr(albedo, 'shape', None)} {getattr(albedo, 'dtype', type(albedo))}")
        spec = self.material.specular_map
        if spec is not None and (spec.shape != albedo.shape[:2] or not np.all((spec >= 0) & (spec <= 1))):
            raise AvatarFormatError(f"material.specular_map must be (H, W) = {albedo.shape[:2]} in [0, 1], "
                                    f"got {spec.shape}")
        if self.source not in SOURCES:
            raise AvatarFormatError(f"source must be one of {SOURCES}, got {self.source!r}")
        if not (math.isfinite(self.film_grain) and 0.0 <= self.film_grain <= 1.0):
            raise AvatarFormatError(f"film_grain must be in [0, 1], got {self.film_grain}")
        offsets = self.vertex_offsets
        if offsets is not None and (offsets.ndim != 2 or offsets.shape[1] != 3 or not np.all(np.isfinite(offsets))):
            raise AvatarFormatError(f"vertex_offsets must be a finite (V, 3) array, got {offsets.shape}")
        if head is not None:
            check_head(self.head_model, len(self.identity), head, where="avatar")
            if offsets is not None and offsets.shape[0] != head.n_vertices:
                raise AvatarHeadMismatchError(f"avatar: vertex_offsets has {offsets.shape[0]} rows, head "
                                              f"{head.name!r} has {head.n_vertices} vertices")

    # --- persistence -------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": AVATAR_FORMAT_VERSION,
            "source": self.source,
            "prompt": self.prompt,
            "seed": int(self.seed),
            "head_model": self.head_model,
            "identity": [float(x) for x in self.identity],
            "attributes": self.attributes,
            "material": {"specular": float(self.material.specular), "shininess": float(self.material.shininess),
                         "albedo": ALBEDO_NAME,
                         "specular_map": SPECULAR_NAME if self.material.specular_map is not None else None},
            "lighting": {"ambient": list(self.lighting.ambient),
                         "lights": [{"direction": list(light.direction), "color": list(light.color),
                                     "intensity": float(light.intensity)} for light in self.lighting.lights]},
            "background": {**self.background_spec, "color": [float(c) for c in self.background.color],
                           "image": BACKGROUND_NAME if self.background.image is not None else None},
            "film_grain": float(self.film_grain),
            **({"geometry": {"vertex_offsets": OFFSETS_NAME}} if self.vertex_offsets is not None else {}),
        }

    def save(self, directory: str | Path) -> Path:
        """Write the avatar folder atomically; an existing folder at ``directory`` is replaced."""
        self.validate()
        target = Path(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        try:
            Image.fromarray(self.material.albedo).save(staging / ALBEDO_NAME)
            if self.material.specular_map is not None:
                spec8 = np.clip(np.round(self.material.specular_map * 255.0), 0, 255).astype(np.uint8)
                Image.fromarray(spec8).save(staging / SPECULAR_NAME)
            if self.background.image is not None:
                Image.fromarray(np.asarray(self.background.image, dtype=np.uint8)).save(staging / BACKGROUND_NAME)
            if self.vertex_offsets is not None:
                np.save(staging / OFFSETS_NAME, self.vertex_offsets.astype(np.float32))
            (staging / JSON_NAME).write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n",
                                             encoding="utf-8")
            # Swap in: move the old folder aside first so a crash never leaves a half-written avatar.
            old = None
            if target.exists():
                old = target.parent / f".{target.name}.old-{os.getpid()}"
                os.replace(target, old)
            os.replace(staging, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return target

    @classmethod
    def load(cls, directory: str | Path, expected_head: HeadLike | None = None) -> Avatar:
        """Read an avatar folder; ``expected_head`` also checks the head model name and identity size."""
        folder = Path(directory)
        if not folder.is_dir():
            raise AvatarFormatError(f"avatar folder not found: {folder}")
        meta_path = folder / JSON_NAME
        if not meta_path.is_file():
            raise AvatarFormatError(f"{meta_path}: missing (not an avatar folder?)")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise AvatarFormatError(f"{meta_path}: not valid JSON ({error})") from error
        if not isinstance(meta, dict):
            raise AvatarFormatError(f"{meta_path}: expected a JSON object")
        version = meta.get("format_version")
        if version != AVATAR_FORMAT_VERSION:
            raise AvatarFormatError(f"{meta_path}: format_version {version!r} is not supported "
                                    f"(this code reads version {AVATAR_FORMAT_VERSION})")
        try:
            head_model = str(meta["head_model"])
            identity = np.asarray(meta["identity"], dtype=np.float32)
            if expected_head is not None:
                check_head(head_model, len(identity), expected_head, where=str(meta_path))
            material_meta = meta["material"]
            albedo = _read_image(folder / material_meta.get("albedo", ALBEDO_NAME), mode="RGB")
            specular_map = None
            if material_meta.get("specular_map"):
                specular_map = _read_image(folder / material_meta["specular_map"], mode="L").astype(np.float32) / 255.0
                if specular_map.shape != albedo.shape[:2]:
                    raise AvatarFormatError(f"{folder / material_meta['specular_map']}: size {specular_map.shape} "
                                            f"differs from the albedo's {albedo.shape[:2]}")
            material = Material(albedo=albedo, specular=float(material_meta["specular"]),
                                shininess=float(material_meta["shininess"]), specular_map=specular_map)
            light_meta = meta["lighting"]
            lighting = Lighting(
                ambient=_triple(light_meta["ambient"], "lighting.ambient"),
                lights=tuple(DirectionalLight(direction=_triple(light["direction"], "light.direction"),
                                              color=_triple(light["color"], "light.color"),
                                              intensity=float(light["intensity"])) for light in light_meta["lights"]),
            )
            background_meta = dict(meta["background"])
            image_name = background_meta.pop("image", None)
            background = Background(color=_triple(background_meta.pop("color"), "background.color"),
                                    image=_read_image(folder / image_name, mode="RGB") if image_name else None)
            offsets = None
            offsets_name = dict(meta.get("geometry") or {}).get("vertex_offsets")
            if offsets_name:
                offsets_path = folder / offsets_name
                if not offsets_path.is_file():
                    raise AvatarFormatError(f"{offsets_path}: missing (the avatar folder is incomplete)")
                offsets = np.load(offsets_path, allow_pickle=False)
                if expected_head is not None and offsets.shape[0] != expected_head.n_vertices:
                    raise AvatarHeadMismatchError(f"{offsets_path}: {offsets.shape[0]} rows, head "
                                                  f"{expected_head.name!r} has {expected_head.n_vertices} vertices")
            return cls(identity=identity, material=material, lighting=lighting, background=background,
                       head_model=head_model, prompt=str(meta.get("prompt", "")), seed=int(meta.get("seed", 0)),
                       source=meta.get("source", "attribute-designer"), film_grain=float(meta.get("film_grain", 0.0)),
                       attributes=dict(meta.get("attributes", {})), background_spec=background_meta,
                       vertex_offsets=offsets)
        except KeyError as error:
            raise AvatarFormatError(f"{meta_path}: missing field {error}") from error
        except (TypeError, ValueError) as error:
            if isinstance(error, AvatarFormatError):
                raise
            raise AvatarFormatError(f"{meta_path}: malformed field ({error})") from error


def check_head(head_model: str, n_identity: int, head: HeadLike, where: str) -> None:
    if head_model != head.name:
        raise AvatarHeadMismatchError(f"{where}: made for head model {head_model!r}, but the head in use is "
                                      f"{head.name!r}; design the avatar again for this head")
    if n_identity != head.n_identity:
        raise AvatarHeadMismatchError(f"{where}: has {n_identity} identity coefficients, head {head.name!r} "
                                      f"expects {head.n_identity}")


def _triple(values: Any, name: str) -> tuple[float, float, float]:
    out = tuple(float(v) for v in values)
    if len(out) != 3:
        raise AvatarFormatError(f"{name} must have 3 numbers, got {len(out)}")
    return out  # type: ignore[return-value]


def _read_image(path: Path, mode: str) -> np.ndarray:
    if not path.is_file():
        raise AvatarFormatError(f"{path}: missing (the avatar folder is incomplete)")
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert(mode)).copy()
    except OSError as error:
        raise AvatarFormatError(f"{path}: unreadable image ({error})") from error
