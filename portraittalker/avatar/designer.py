"""Text prompt -> :class:`Avatar` without model weights: keyword attributes -> identity, texture, scene.

``AttributeDesigner(head).design("young woman with red hair, soft lighting, night city street", seed=3)``

Determinism: every random choice comes from generators seeded by SHA-256 of ``(seed, purpose)`` —
never Python's salted ``hash()`` — so a (prompt, seed) pair always gives the same avatar, and the
same seed keeps the same underlying person (face shape, skin noise) when only attribute words change.
Attributes the prompt leaves open are drawn from the seed with plausible co-occurrence (e.g. older
people are more often grey, bald men are masculine).
"""

from __future__ import annotations

import hashlib
import logging
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from portraittalker.avatar.asset import Avatar
from portraittalker.avatar.config import DesignerConfig
from portraittalker.avatar.scene_presets import background_for, lighting_for
from portraittalker.avatar.texture import (
    EYE_PALETTE,
    HAIR_PALETTE,
    LIP_PALETTE,
    SKIN_PALETTE,
    Look,
    paint_frame,
    paint_textures,
)
from portraittalker.avatar.vocabulary import AvatarAttributes, parse_prompt
from portraittalker.head import disk_cache
from portraittalker.head.params import as_numpy, like, neutral_vertices
from portraittalker.render.scene import Material

if TYPE_CHECKING:
    from portraittalker.head.params import HeadLike

log = logging.getLogger(__name__)

AGE_LEVEL = {"child": 0.0, "teen": 0.1, "young": 0.2, "adult": 0.35, "middle-aged": 0.55, "old": 0.8, "elderly": 1.0}


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from SHA-256 of the parts' text (stable across processes and Python versions)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


def _rng(seed: int, purpose: str) -> np.random.Generator:
    return np.random.default_rng(stable_seed("portraittalker-avatar", seed, purpose))


# --- identity shape directions -----------------------------------------------------------------
_DIRECTIONS: weakref.WeakKeyDictionary[HeadLike, dict[str, np.ndarray]] = weakref.WeakKeyDictionary()
SHAPE_DIRECTION_NAMES = ("jaw_width", "brow_ridge", "nose_size", "sagging", "lip_fullness", "face_size")
_DIRECTIONS_FORMAT = 1  # bump when _fit_shape_directions changes what it computes: old cache files are then ignored


def shape_directions(head: HeadLike) -> dict[str, np.ndarray]:
    """Identity-coefficient directions that best produce named face-shape changes (cached per head).

    Each is the ridge-regularised least-squares fit of the head's identity basis to a hand-made
    displacement field on the face (wider jaw, heavier brow, sagging jowls ...), so the biases work for
    any head model whose identity basis can express them, without knowing what its PCs mean.
    Fitting takes about a second, which the first design of every process paid, so a head loaded from a
    file also keeps them on disk (:mod:`portraittalker.head.disk_cache`), keyed by that file's hash.
    """
    if head in _DIRECTIONS:
        return _DIRECTIONS[head]
    path = _directions_cache_path(head)
    directions = disk_cache.load_arrays(path, SHAPE_DIRECTION_NAMES) if path is not None else None
    if directions is None:
        directions = _fit_shape_directions(head)
        if path is not None:
            disk_cache.store_arrays(path, directions)
    _DIRECTIONS[head] = directions
    return directions


def _directions_cache_path(head: HeadLike) -> Path | None:
    """Cache file of ``head``'s directions: its model file's hash plus what else the fit reads (None: no file)."""
    source = getattr(head, "source_path", None)
    if source is None or not Path(source).is_file():
        return None
    digest = hashlib.sha256(f"shape-directions-v{_DIRECTIONS_FORMAT}-{type(head).__name__}-{head.name}-"
                            f"{head.n_identity}-{head.n_vertices}-{disk_cache.file_digest(source)}".encode())
    # Constructor options (landmark embedding, masks, number of PCs) can change these for the same file.
    for array in (head.landmarks68, head.faces, head.triangle_component):
        values = np.ascontiguousarray(as_numpy(array))
        digest.update(f"{values.dtype}{values.shape}".encode())
        digest.update(values.tobytes())
    digest.update("\x1f".join(head.component_names).encode())
    return disk_cache.cache_dir("shape-directions") / digest.hexdigest()[:32]


def _fit_shape_directions(head: HeadLike) -> dict[str, np.ndarray]:
    neutral = neutral_vertices(head)
    k = head.n_identity
    params = head.neutral_params(batch_size=k)
    params.identity = like(params.identity, np.eye(k, dtype=np.float32))
    basis = as_numpy(head.deform(params)).astype(np.float64) - neutral[None]  # (k, V, 3)
    lm = neutral[as_numpy(head.landmarks68)]
    names = head.component_names
    comp = np.full(len(neutral), -1)
    comp[as_numpy(head.faces).ravel()] = np.repeat(as_numpy(head.triangle_component), 3)
    face = comp == (names.index("face") if "face" in names else 0)
    p = neutral
    mouth_y, chin_y, brow_y = lm[48:68, 1].mean(), lm[8, 1], lm[17:27, 1].mean()

    def smooth(values: np.ndarray) -> np.ndarray:
        return np.clip(values, 0.0, 1.0) ** 2 * (3 - 2 * np.clip(values, 0.0, 1.0))

    def falloff(centre: np.ndarray, radius: float) -> np.ndarray:
        return np.exp(-(np.linalg.norm(p - centre, axis=1) / radius) ** 2)

    fields: dict[str, np.ndarray] = {}
    d = np.zeros_like(p)
    lower = smooth((mouth_y + 0.01 - p[:, 1]) / 0.03)
    d[:, 0] = 0.004 * np.sign(p[:, 0]) * lower * smooth(np.abs(p[:, 0]) / 0.04)
    fields["jaw_width"] = d.copy()
    d[:] = 0.0
    d[:, 2] = 0.0025 * np.maximum(falloff(lm[19], 0.018), falloff(lm[24], 0.018))
    fields["brow_ridge"] = d.copy()
    nose_centre = lm[30] - [0.0, 0.0, 0.012]
    fields["nose_size"] = 0.12 * (p - nose_centre) * falloff(lm[30], 0.02)[:, None]
    d[:] = 0.0
    jowls = smooth((mouth_y - p[:, 1]) / 0.015) * smooth((p[:, 1] - chin_y + 0.02) / 0.02)
    d[:, 1] = -0.003 * jowls * smooth((np.abs(p[:, 0]) - 0.02) / 0.025)
    d[:, 1] -= 0.0015 * np.maximum(falloff(lm[41] - [0, 0.008, 0], 0.01), falloff(lm[46] - [0, 0.008, 0], 0.01))
    fields["sagging"] = d.copy()
    d[:] = 0.0
    mouth = falloff(lm[62], 0.014) + falloff(lm[66], 0.014)
    d[:, 1] = 0.0015 * np.sign(p[:, 1] - lm[62:67, 1].mean()) * mouth
    d[:, 2] = 0.001 * mouth
    fields["lip_fullness"] = d.copy()
    centre = np.array([0.0, brow_y - 0.03, lm[27, 2] - 0.09])
    fields["face_size"] = 0.04 * (p - centre) * face[:, None]

    a = basis[:, face].reshape(k, -1)
    gram = a @ a.T
    ridge = 1e-3 * np.trace(gram) / k
    directions = {}
    for name, target in fields.items():
        coef = np.linalg.solve(gram + ridge * np.eye(k), a @ target[face].reshape(-1))
        directions[name] = coef.astype(np.float32)
    return directions


class AttributeDesigner:
    """Designs an :class:`Avatar` for ``head`` from a text prompt with a keyword vocabulary."""

    def __init__(self, head: HeadLike, config: DesignerConfig | None = None) -> None:
        self.head = head
        self.config = config or DesignerConfig()

    def design(self, prompt: str, seed: int = 0) -> Avatar:
        if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        parsed = parse_prompt(prompt)
        if not parsed.understood:  # e.g. emoji only, or a language without a vocabulary: say so, once
            log.warning("prompt not understood, no word of it is in the avatar vocabulary (%s): the avatar comes "
                        "from the seed alone", ", ".join(parsed.unknown_words) or repr(prompt))
        elif parsed.unknown_words:
            log.info("prompt words not in the avatar vocabulary (ignored): %s", ", ".join(parsed.unknown_words))
        resolved = resolve_attributes(parsed.attributes, int(seed), self.config)
        identity = self._identity(resolved, int(seed))  # each part draws from its own seeded stream
        look = look_for(resolved, _rng(int(seed), "look"))
        frame = paint_frame(self.head, self.config.texture_size, self.config.canvas_width)
        albedo, specular_map = paint_textures(frame, look, _rng(int(seed), "texture"))
        lighting = lighting_for(resolved.lighting_style or "default", resolved.light_temperature or "neutral",
                                bool(resolved.rim_light), resolved.time_of_day, resolved.scene)
        background, background_spec = background_for(resolved.scene or "plain", resolved.time_of_day or "day",
                                                     resolved.background_color, self.config.background_size,
                                                     _rng(int(seed), "background"))
        grain = 0.0
        if resolved.film_grain:
            grain = self.config.film_grain_strength
        if resolved.vintage:
            grain = max(grain, self.config.film_grain_strength * 1.3)
        attributes = resolved.model_dump(mode="json")
        attributes["from_prompt"] = sorted(parsed.attributes.model_dump(exclude_none=True))
        attributes["unknown_words"] = parsed.unknown_words
        return Avatar(
            identity=identity,
            material=Material(albedo=albedo, specular=self.config.specular, shininess=self.config.shininess,
                              specular_map=specular_map),
            lighting=lighting, background=background, background_spec=background_spec, head_model=self.head.name,
            prompt=prompt, seed=int(seed), source="attribute-designer", film_grain=float(grain),
            attributes=attributes,
        )

    def identity(self, prompt: str, seed: int = 0) -> np.ndarray:
        """The (n_identity,) shape coefficients :meth:`design` gives ``prompt`` and ``seed``, without painting:
        generation poses the frames with them while the textures are painted."""
        return self._identity(resolve_attributes(parse_prompt(prompt).attributes, int(seed), self.config), int(seed))

    def _identity(self, attributes: AvatarAttributes, seed: int) -> np.ndarray:
        rng = _rng(seed, "identity")
        identity = rng.standard_normal(self.head.n_identity).astype(np.float32) * self.config.identity_scale
        directions = shape_directions(self.head)
        masculine = 1.0 if attributes.gender == "masculine" else -1.0
        age = AGE_LEVEL[attributes.age or "adult"]
        weights = {
            "jaw_width": 0.8 * masculine,
            "brow_ridge": 0.8 * masculine,
            "nose_size": 0.5 * masculine + (-0.8 if age < 0.15 else 0.0),
            "lip_fullness": -0.5 * masculine - 0.6 * max(age - 0.5, 0.0),
            "sagging": 2.0 * max(age - 0.4, 0.0) - 0.3,
            "face_size": 0.25 * masculine + (-0.8 if age < 0.05 else -0.4 if age < 0.15 else 0.0),
        }
        bias = sum(w * directions[name] for name, w in weights.items())
        # Keep the bias within a plausible range of the identity space (coefficients are ~N(0, 1), so a
        # random identity has a norm of about sqrt(n_identity) * identity_scale).
        norm = float(np.linalg.norm(bias))
        limit = 6.0
        if norm > limit:
            bias *= limit / norm
        return (identity + self.config.attribute_shape_strength * bias).astype(np.float32)


def _choice(rng: np.random.Generator, options: dict[str, float]) -> str:
    names = list(options)
    probabilities = np.asarray([options[n] for n in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=probabilities / probabilities.sum()))]


def resolve_attributes(attributes: AvatarAttributes, seed: int, config: DesignerConfig) -> AvatarAttributes:
    """Fill every attribute the prompt left open from the seed (co-occurrences kept plausible)."""
    rng = _rng(seed, "attributes")
    values = attributes.model_dump()
    # Draw every choice in a fixed order whether it is used or not, so one attribute word in the
    # prompt does not change the random draws of the others.
    draws = {key: rng.random() for key in ("gender", "age", "skin", "hair", "style", "facial", "eyes", "freckles",
                                           "bald")}

    def pick(key: str, options: dict[str, float]) -> str:
        return _choice(np.random.default_rng(stable_seed(seed, key, draws[key])), options)

    if values["gender"] is None:
        values["gender"] = "feminine" if draws["gender"] < 0.5 else "masculine"
    if values["age"] is None:
        values["age"] = pick("age", {"young": 0.4, "adult": 0.35, "middle-aged": 0.2, "old": 0.05})
    if values["skin_tone"] is None:
        red_haired = values["hair_color"] in ("red", "ginger", "auburn") or values["freckles"]
        values["skin_tone"] = pick("skin", {"pale": 1.0, "fair": 1.0, "light": 1.0} if red_haired else
                                   dict.fromkeys(SKIN_PALETTE, 1.0))
    age = AGE_LEVEL[values["age"]]
    dark_skin = values["skin_tone"] in ("brown", "dark", "deep")
    masculine = values["gender"] == "masculine"
    if values["hair_style"] is None:
        bald_chance = 0.35 * max(age - 0.4, 0) / 0.6 if masculine else 0.0
        values["hair_style"] = "bald" if draws["bald"] < bald_chance else ("short" if masculine else "long")
    if values["hair_color"] is None:
        if age >= 0.8:
            options = {"grey": 0.45, "white": 0.35, "salt-and-pepper": 0.2}
        elif dark_skin:
            options = {"black": 0.7, "dark-brown": 0.3}
        elif age >= 0.55:
            options = {"salt-and-pepper": 0.35, "dark-brown": 0.25, "brown": 0.2, "grey": 0.2}
        else:
            options = {"black": 0.25, "dark-brown": 0.25, "brown": 0.2, "light-brown": 0.12, "blonde": 0.12,
                       "auburn": 0.03, "red": 0.03}
        values["hair_color"] = pick("hair", options)
    if values["facial_hair"] is None:
        if masculine and age >= 0.15:
            values["facial_hair"] = pick("facial", {"none": 0.5, "stubble": 0.2, "beard": 0.15, "moustache": 0.08,
                                                    "goatee": 0.07})
        else:
            values["facial_hair"] = "none"
    if values["eye_color"] is None:
        values["eye_color"] = pick("eyes", {"dark-brown": 0.6, "brown": 0.4} if dark_skin else
                                   {"brown": 0.35, "dark-brown": 0.15, "blue": 0.2, "green": 0.1, "hazel": 0.12,
                                    "grey": 0.08})
    if values["freckles"] is None:
        chance = 0.5 if values["hair_color"] in ("red", "ginger", "auburn") and not dark_skin else 0.04
        values["freckles"] = bool(draws["freckles"] < chance)
    values["makeup"] = bool(values["makeup"])
    values["lip_color"] = values["lip_color"] or "natural"
    values["scene"] = values["scene"] or ("sky" if values["time_of_day"] == "sunset" else config.default_scene)
    values["time_of_day"] = values["time_of_day"] or "day"
    values["lighting_style"] = values["lighting_style"] or (
        "studio" if values["scene"] == "studio" and config.default_lighting == "default" else config.default_lighting)
    values["light_temperature"] = values["light_temperature"] or "neutral"
    values["rim_light"] = bool(values["rim_light"])
    values["film_grain"] = bool(values["film_grain"])
    values["vintage"] = bool(values["vintage"])
    return AvatarAttributes(**values)


def look_for(attributes: AvatarAttributes, rng: np.random.Generator) -> Look:
    """Concrete colours and painting strengths for resolved attributes."""
    age = AGE_LEVEL[attributes.age or "adult"]
    if attributes.age_years is not None:
        age = float(np.clip((attributes.age_years - 10) / 70, 0, 1))
    skin = np.asarray(SKIN_PALETTE[attributes.skin_tone or "light"]) * rng.uniform(0.97, 1.03)
    hair_name = attributes.hair_color or "brown"
    hair = np.asarray(HAIR_PALETTE[hair_name]) * rng.uniform(0.92, 1.08)
    grey_fraction = {"salt-and-pepper": 0.35}.get(hair_name, 0.0)
    if hair_name not in ("grey", "white", "salt-and-pepper", "platinum") and age > 0.55:
        grey_fraction = 0.08 + 0.3 * (age - 0.55)
    feminine = 1.0 if attributes.gender == "feminine" else 0.0
    # Brows follow the hair but stay darker; grey/white-haired people keep slightly darker brows.
    brows = hair * (0.7 if hair_name not in ("grey", "white", "platinum") else 0.85)
    if hair_name in ("pink", "blue", "purple", "green"):
        brows = np.asarray(HAIR_PALETTE["dark-brown"])
    makeup = 0.7 if attributes.makeup else 0.0
    lips = None if attributes.lip_color in (None, "natural") else LIP_PALETTE[attributes.lip_color]
    receding = 0.0 if feminine else rng.uniform(0.0, 0.012) * (0.3 + age)
    return Look(
        skin=tuple(float(c) for c in np.clip(skin, 0, 1)),
        hair=tuple(float(c) for c in np.clip(hair, 0, 1)),
        eyebrows=tuple(float(c) for c in np.clip(brows, 0, 1)),
        iris=tuple(float(c) for c in np.clip(np.asarray(EYE_PALETTE[attributes.eye_color or "brown"])
                                             * rng.uniform(0.92, 1.08), 0, 1)),
        lips=lips, lipstick=lips is not None,
        bald=attributes.hair_style == "bald", long_hair=attributes.hair_style == "long",
        facial_hair=attributes.facial_hair or "none",
        facial_hair_color=tuple(float(c) for c in np.clip(hair * 0.85, 0, 1)),
        grey_fraction=float(grey_fraction), age=float(age), femininity=feminine,
        freckles=0.8 if attributes.freckles else 0.0, makeup=makeup, hairline_offset=float(receding),
    )
