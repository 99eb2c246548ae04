"""Procedural UV albedo + specular map from resolved appearance attributes (no learned model).

How it paints: facial features are drawn with OpenCV on a *cylindrical canvas* around the head's
vertical axis (x = azimuth, y = height), placed with the head's 68 landmarks; every atlas texel then
samples that canvas at its own 3-D position (:mod:`portraittalker.avatar.texels`). That keeps the
paint continuous across UV seams and makes it independent of the atlas layout. The eyeballs use their
own polar UV layout (cornea at the UV centre). Colours are display-encoded sRGB in [0, 1], the
encoding :class:`portraittalker.render.scene.Material` expects.

Anything that depends only on the head and resolution (canvas lookup maps, landmark positions, the
baked cavity/occlusion term) is built once per head and cached.
"""

from __future__ import annotations

import functools
import hashlib
import math
import statistics
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from portraittalker.avatar.texels import TexelGeometry, geometry_key, texel_geometry
from portraittalker.head import disk_cache
from portraittalker.head.params import as_numpy, neutral_vertices

if TYPE_CHECKING:
    from portraittalker.head.params import HeadLike

# --- palettes (display sRGB) -----------------------------------------------------------------------
SKIN_PALETTE: dict[str, tuple[float, float, float]] = {
    "pale": (0.93, 0.80, 0.72), "fair": (0.90, 0.74, 0.63), "light": (0.86, 0.68, 0.55),
    "medium": (0.78, 0.58, 0.44), "olive": (0.72, 0.56, 0.40), "tan": (0.66, 0.47, 0.33),
    "brown": (0.52, 0.35, 0.24), "dark": (0.38, 0.25, 0.17), "deep": (0.27, 0.17, 0.12),
}
HAIR_PALETTE: dict[str, tuple[float, float, float]] = {
    "platinum": (0.88, 0.82, 0.68), "blonde": (0.78, 0.62, 0.38), "light-brown": (0.50, 0.36, 0.23),
    "brown": (0.34, 0.22, 0.14), "dark-brown": (0.19, 0.13, 0.09), "black": (0.07, 0.06, 0.06),
    "auburn": (0.43, 0.17, 0.09), "red": (0.58, 0.20, 0.08), "ginger": (0.72, 0.36, 0.15),
    "grey": (0.60, 0.59, 0.58), "salt-and-pepper": (0.36, 0.35, 0.34), "white": (0.90, 0.89, 0.87),
    "pink": (0.90, 0.50, 0.65), "blue": (0.20, 0.35, 0.75), "purple": (0.45, 0.25, 0.60),
    "green": (0.20, 0.55, 0.30),
}
EYE_PALETTE: dict[str, tuple[float, float, float]] = {
    "blue": (0.32, 0.52, 0.74), "green": (0.36, 0.56, 0.34), "hazel": (0.55, 0.44, 0.24),
    "amber": (0.72, 0.50, 0.18), "brown": (0.40, 0.24, 0.12), "dark-brown": (0.22, 0.13, 0.08),
    "grey": (0.56, 0.61, 0.66),
}
LIP_PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.72, 0.08, 0.13), "pink": (0.86, 0.44, 0.56), "coral": (0.90, 0.44, 0.36),
    "nude": (0.74, 0.50, 0.43), "plum": (0.42, 0.11, 0.22), "dark": (0.24, 0.07, 0.09),
}
SCLERA = (0.86, 0.84, 0.80)
TEETH = (0.92, 0.89, 0.80)
GUMS = (0.78, 0.40, 0.42)
MOUTH_SOCKET = (0.40, 0.14, 0.14)
EYE_SOCKET = (0.45, 0.24, 0.22)
LACRIMAL = (0.86, 0.66, 0.63)
IRIS_RADIUS_UV = 0.092  # the eyeball UV is polar around its cornea; the limbus is at this UV radius
PUPIL_RADIUS_UV = 0.034


@dataclass(frozen=True)
class Look:
    """Concrete appearance for painting (what the designer resolved from prompt + seed)."""

    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    eyebrows: tuple[float, float, float]
    iris: tuple[float, float, float]
    lips: tuple[float, float, float] | None  # None = natural lip tone derived from the skin
    lipstick: bool
    bald: bool
    long_hair: bool
    facial_hair: str  # none | stubble | moustache | goatee | beard
    facial_hair_color: tuple[float, float, float]
    grey_fraction: float  # share of white strands mixed into hair (salt-and-pepper, ageing)
    age: float  # 0 = child ... 1 = elderly; drives wrinkles, age spots, teeth and lip tone
    femininity: float  # 0 = masculine ... 1 = feminine; brow thickness, stubble shadow
    freckles: float  # 0 .. 1 density
    makeup: float  # 0 .. 1: eyeshadow, eyeliner, blush
    hairline_offset: float  # metres; + raises the front hairline (receding), seeded per avatar


@dataclass(frozen=True)
class PaintFrame:
    """Per-head painting support, cached: canvas lookup maps, landmark canvas points, masks."""

    geometry: TexelGeometry
    canvas_w: int
    canvas_h: int
    y_top: float
    px_per_m: float  # canvas pixels per metre of height (and roughly of arc length at the face)
    axis_z: float
    map_x: np.ndarray  # (H, W) float32 canvas x of every texel
    map_y: np.ndarray
    landmarks: np.ndarray  # (68, 2) canvas points
    landmarks_3d: np.ndarray  # (68, 3) metres
    cavity: np.ndarray  # (H, W) float32 0 (exposed) .. 1 (deep crease / inside a cavity)
    skin: np.ndarray  # (H, W) bool: face + scalp/neck texels
    parts: dict[str, np.ndarray]  # bool masks of the other parts by name
    part_index: dict[str, np.ndarray]  # flat texel indices of each part (fast gather/scatter)
    eye_radius: np.ndarray  # (H, W) float32 UV distance from the cornea centre (eyeball texels)
    eye_angle: np.ndarray
    ear_theta: tuple[float, float]  # radians
    ear_y: tuple[float, float]

    def canvas_point(self, theta: float, y: float) -> tuple[float, float]:
        return ((theta + math.pi) / (2 * math.pi) * self.canvas_w, (self.y_top - y) * self.px_per_m)

    def theta_y(self, index: int) -> tuple[float, float]:
        x, y = self.landmarks[index]
        return x / self.canvas_w * 2 * math.pi - math.pi, self.y_top - y / self.px_per_m


_FRAMES: weakref.WeakKeyDictionary[HeadLike, dict[tuple[int, int], PaintFrame]] = weakref.WeakKeyDictionary()


_FRAME_FORMAT = 1  # bump when _build_frame changes what it computes: old cache files are then ignored
_FRAME_ARRAYS = ("map_x", "map_y", "landmarks", "landmarks_3d", "cavity", "skin", "eye_radius", "eye_angle")
_FRAME_SCALARS = ("canvas_w", "canvas_h", "y_top", "px_per_m", "axis_z")


def paint_frame(head: HeadLike, resolution: int, canvas_width: int = 2048) -> PaintFrame:
    """The head's :class:`PaintFrame`, kept per process and on disk (building it took ~0.2 s of every first
    design; reading it back ~0.05 s)."""
    per_head = _FRAMES.setdefault(head, {})
    key = (resolution, canvas_width)
    if key not in per_head:
        geometry = texel_geometry(head, resolution)
        path = disk_cache.cache_dir("paint-frames") / (
            f"v{_FRAME_FORMAT}-{geometry_key(head, resolution)[:24]}-{_landmarks_key(head)}-{canvas_width}")
        frame = _load_frame(path, geometry)
        if frame is None:
            frame = _build_frame(head, geometry, canvas_width)
            disk_cache.store_arrays(path, _frame_arrays(frame))
        per_head[key] = frame
    return per_head[key]


def _landmarks_key(head: HeadLike) -> str:
    """What the frame reads beyond the texel geometry's inputs: landmarks and component names."""
    digest = hashlib.sha256(np.ascontiguousarray(as_numpy(head.landmarks68), np.int64).tobytes())
    digest.update("\x1f".join(head.component_names).encode())
    return digest.hexdigest()[:16]


def _frame_arrays(frame: PaintFrame) -> dict[str, np.ndarray]:
    arrays = {name: getattr(frame, name) for name in _FRAME_ARRAYS}
    arrays.update({f"part_{name}": mask for name, mask in frame.parts.items()})
    arrays["scalars"] = np.array([getattr(frame, name) for name in _FRAME_SCALARS], np.float64)
    arrays["ears"] = np.array([*frame.ear_theta, *frame.ear_y], np.float64)
    return arrays


def _load_frame(path, geometry: TexelGeometry) -> PaintFrame | None:
    arrays = disk_cache.load_arrays(path)
    if arrays is None or any(name not in arrays for name in (*_FRAME_ARRAYS, "scalars", "ears")):
        return None
    parts = {name[len("part_"):]: mask for name, mask in arrays.items() if name.startswith("part_")}
    canvas_w, canvas_h, y_top, px_per_m, axis_z = arrays["scalars"].tolist()
    ears = arrays["ears"].tolist()
    return PaintFrame(
        geometry=geometry, canvas_w=int(canvas_w), canvas_h=int(canvas_h), y_top=y_top, px_per_m=px_per_m,
        axis_z=axis_z, parts=parts, part_index={name: np.flatnonzero(part) for name, part in parts.items()},
        ear_theta=(ears[0], ears[1]), ear_y=(ears[2], ears[3]), **{name: arrays[name] for name in _FRAME_ARRAYS},
    )


def _build_frame(head: HeadLike, geometry: TexelGeometry, canvas_w: int) -> PaintFrame:
    names = head.component_names
    neutral = neutral_vertices(head)
    comp_of_vertex = np.zeros(len(neutral), dtype=np.int64)
    faces = as_numpy(head.faces)
    comp_of_vertex[faces.ravel()] = np.repeat(as_numpy(head.triangle_component), 3)
    skin_ids = [names.index(n) for n in ("face", "head_neck") if n in names]
    surface = neutral[np.isin(comp_of_vertex, skin_ids)]
    y_top = float(surface[:, 1].max()) + 0.01
    y_bottom = float(surface[:, 1].min()) - 0.01
    canvas_h = canvas_w // 2
    px_per_m = canvas_h / (y_top - y_bottom)
    upper = surface[surface[:, 1] > np.median(surface[:, 1])]
    axis_z = float(0.5 * (upper[:, 2].min() + upper[:, 2].max()))

    p = geometry.position
    theta = np.arctan2(p[..., 0], p[..., 2] - axis_z)
    map_x = ((theta + np.pi) / (2 * np.pi) * canvas_w).astype(np.float32)
    map_y = ((y_top - p[..., 1]) * px_per_m).astype(np.float32)
    lm3 = neutral[as_numpy(head.landmarks68)]
    lm_theta = np.arctan2(lm3[:, 0], lm3[:, 2] - axis_z)
    landmarks = np.stack([(lm_theta + np.pi) / (2 * np.pi) * canvas_w, (y_top - lm3[:, 1]) * px_per_m], axis=1)

    # Cavity: how far a texel lies inside the outermost surface at its (azimuth, height) — nostrils,
    # mouth corners, eye corners and ear folds — from a per-column maximum radius.
    radius_v = np.hypot(surface[:, 0], surface[:, 2] - axis_z)
    th_v = np.arctan2(surface[:, 0], surface[:, 2] - axis_z)
    grid = (canvas_w // 8, canvas_h // 8)
    gx = np.clip(((th_v + np.pi) / (2 * np.pi) * grid[0]).astype(int), 0, grid[0] - 1)
    gy = np.clip(((y_top - surface[:, 1]) * px_per_m / 8).astype(int), 0, grid[1] - 1)
    outer = np.zeros((grid[1], grid[0]), dtype=np.float32)
    np.maximum.at(outer, (gy, gx), radius_v.astype(np.float32))
    outer = cv2.dilate(outer, np.ones((3, 3), np.uint8))
    outer = cv2.GaussianBlur(outer, (0, 0), 1.0)
    r_texel = np.hypot(p[..., 0], p[..., 2] - axis_z)
    outer_at = cv2.remap(outer, map_x / 8, map_y / 8, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    cavity = np.clip((outer_at - r_texel - 0.002) / 0.012, 0.0, 1.0).astype(np.float32)

    comp = geometry.component
    skin = np.isin(comp, skin_ids)
    cavity[~skin] = 0.0
    # Below the chin the neck flares into the shoulders, which a per-column maximum misreads as a cavity.
    chin_y = float(lm3[8, 1])
    cavity *= np.clip((p[..., 1] - chin_y) / 0.01, 0.0, 1.0)
    # Radial depth only means something where the surface faces sideways (not near the crown's pole).
    cavity *= np.clip((0.8 - np.abs(geometry.normal[..., 1])) / 0.3, 0.0, 1.0)

    def mask(*prefixes: str) -> np.ndarray:
        ids = [i for i, n in enumerate(names) if n.startswith(prefixes)]
        return np.isin(comp, ids)

    parts = {
        "face": mask("face"), "mouth_socket": mask("mouth_socket"), "eye_socket": mask("eye_socket"),
        "gums_tongue": mask("gums_tongue"), "teeth": mask("teeth"), "eyeball": mask("eyeball"),
        "lacrimal": mask("lacrimal"), "eyelashes": mask("eyelashes"),
    }
    uv = geometry.tile_uv - 0.5
    eye_radius = np.hypot(uv[..., 0], uv[..., 1]).astype(np.float32)
    eye_angle = np.arctan2(uv[..., 1], uv[..., 0]).astype(np.float32)

    # Ears: the face vertices that stand out sideways beyond the skull.
    face_v = neutral[comp_of_vertex == names.index("face")] if "face" in names else surface
    side = face_v[np.abs(face_v[:, 0]) > 0.85 * np.abs(face_v[:, 0]).max()]
    ear_th = np.abs(np.arctan2(side[:, 0], side[:, 2] - axis_z))
    return PaintFrame(
        geometry=geometry, canvas_w=canvas_w, canvas_h=canvas_h, y_top=y_top, px_per_m=px_per_m, axis_z=axis_z,
        map_x=map_x, map_y=map_y, landmarks=landmarks, landmarks_3d=lm3, cavity=cavity, skin=skin, parts=parts,
        part_index={name: np.flatnonzero(part) for name, part in parts.items()},
        eye_radius=eye_radius, eye_angle=eye_angle,
        ear_theta=(float(ear_th.min()), float(ear_th.max())),
        ear_y=(float(np.percentile(side[:, 1], 2)), float(np.percentile(side[:, 1], 90))),
    )


# --- canvas helpers --------------------------------------------------------------------------------
class _Canvas:
    """A float32 single-channel drawing surface in canvas coordinates (sub-pixel precise cv2 drawing)."""

    SHIFT = 3

    def __init__(self, frame: PaintFrame) -> None:
        self.frame = frame
        self.image = np.zeros((frame.canvas_h, frame.canvas_w), dtype=np.float32)

    def mm(self, value: float) -> float:
        return value * 1e-3 * self.frame.px_per_m

    def _pts(self, points: np.ndarray) -> np.ndarray:
        return np.round(np.asarray(points, dtype=np.float64) * (1 << self.SHIFT)).astype(np.int32)

    def polygon(self, points: np.ndarray, value: float = 1.0) -> None:
        cv2.fillPoly(self.image, [self._pts(points)], value, cv2.LINE_AA, self.SHIFT)

    def polyline(self, points: np.ndarray, thickness_mm: float, value: float = 1.0) -> None:
        thickness = max(1, round(self.mm(thickness_mm)))
        cv2.polylines(self.image, [self._pts(points)], False, value, thickness, cv2.LINE_AA, self.SHIFT)

    def circle(self, centre: tuple[float, float], radius_px: float, value: float = 1.0) -> None:
        c = self._pts(centre)
        cv2.circle(self.image, (int(c[0]), int(c[1])), max(1, round(radius_px * (1 << self.SHIFT))), value, -1,
                   cv2.LINE_AA, self.SHIFT)

    def blur(self, sigma_mm: float) -> _Canvas:
        sigma = self.mm(sigma_mm)
        if sigma > 3.0:  # wide blurs are done at reduced resolution (same result, a fraction of the cost)
            factor = max(2, int(sigma // 2))
            h, w = self.image.shape
            small = cv2.resize(self.image, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
            small = cv2.GaussianBlur(small, (0, 0), sigma / factor)
            self.image = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        elif sigma > 0.3:
            self.image = cv2.GaussianBlur(self.image, (0, 0), sigma)
        return self


def _sample(frame: PaintFrame, canvas: np.ndarray) -> np.ndarray:
    """Canvas (h, w[, c]) -> atlas (H, W[, c]) by each texel's canvas position (any canvas resolution)."""
    scale = canvas.shape[1] / frame.canvas_w
    map_x, map_y = (frame.map_x, frame.map_y) if scale == 1 else (frame.map_x * scale, frame.map_y * scale)
    return cv2.remap(canvas, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


def _noise(rng: np.random.Generator, shape: tuple[int, int], cells: tuple[int, int]) -> np.ndarray:
    """Smooth zero-mean unit-ish noise: a (cells) random grid upsampled bicubically to ``shape`` (h, w)."""
    grid = rng.standard_normal((cells[1], cells[0])).astype(np.float32)
    return cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, n: int = 16) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _lerp(image: np.ndarray, color: np.ndarray | tuple[float, ...] | Callable[[np.ndarray], np.ndarray],
          weight: np.ndarray) -> None:
    """In place: image = image + weight * (color - image) where ``weight`` (H, W) is non-zero.

    ``color`` is an RGB triple, or a function of the touched-texel mask returning (N, 3) colours.
    Only touched texels are computed: most features cover a small part of the atlas.
    """
    touched = weight > 1e-3
    if not touched.any():
        return
    target = color(touched) if callable(color) else np.asarray(color, dtype=np.float32)
    image[touched] += weight[touched][:, None].astype(np.float32) * (target - image[touched])


# --- the painter -----------------------------------------------------------------------------------
# The steps below draw in a fixed order: several take draws from the one ``rng``, so reordering them would
# change every texture painted for a given seed.
def paint_textures(frame: PaintFrame, look: Look, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Paint the albedo (H, W, 3) uint8 and specular map (H, W) float32 in [0, 1] for ``look``."""
    variation = _skin_variation(frame, look, rng)
    weights = _feature_weights(frame, look, rng)
    albedo = _compose_albedo(frame, look, variation, weights)
    spec = _specular_map(frame, look, weights)
    fine = variation[..., 2]
    _paint_inner_parts(frame, albedo, spec, look, rng, fine)
    return (np.clip(albedo, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), np.clip(spec, 0.0, 1.0)


@dataclass
class _FeatureWeights:
    """Every painted feature sampled into the atlas: (H, W) float32 weights, plus the hair-strand noise."""

    redness: np.ndarray
    lips: np.ndarray
    brows: np.ndarray
    creases: np.ndarray
    spots: np.ndarray
    hair: np.ndarray
    beard: np.ndarray
    shadow: np.ndarray  # eyeshadow
    liner: np.ndarray
    strands: np.ndarray


def _mm(frame: PaintFrame, value: float) -> float:
    return value * 1e-3 * frame.px_per_m


def _offset(frame: PaintFrame, index: int, dx_mm: float = 0.0, dy_mm: float = 0.0) -> np.ndarray:
    """Landmark ``index`` moved by dx (towards the subject's left, +x) and dy (up) in mm."""
    return frame.landmarks[index] + [_mm(frame, dx_mm), -_mm(frame, dy_mm)]


def _sides(index_right: int, index_left: int) -> list[tuple[int, float]]:
    """(landmark, outward sign) for the subject's right (-x) and left (+x) features."""
    return [(index_right, -1.0), (index_left, 1.0)]


def _rgb(values: tuple[float, ...] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def _skin_variation(frame: PaintFrame, look: Look, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3): tone offset (low-frequency blotches + mottling, stronger with age), blotch and fine noise."""
    half = (frame.canvas_h // 2, frame.canvas_w // 2)  # smooth noise needs no full-resolution canvas
    variation = cv2.merge([
        _noise(rng, half, (24, 12)) * 0.035 + _noise(rng, half, (160, 80)) * (0.012 + 0.012 * look.age),
        _noise(rng, half, (24, 12)),
        _noise(rng, half, (400, 200)),
    ])
    return _sample(frame, variation)


def _feature_weights(frame: PaintFrame, look: Look, rng: np.random.Generator) -> _FeatureWeights:
    """Draw every feature on its own canvas, then sample them all into the atlas."""
    red = _redness_canvas(frame, look)
    lips = _lips_canvas(frame)
    brows = _brows_canvas(frame, look)
    makeup, liner = _makeup_canvases(frame, look)
    creases = _creases_canvas(frame, look, rng)
    spots = _spots_canvas(frame, look, rng)
    hair = _hair_canvas(frame, look, rng)
    beard = _beard_canvas(frame, look, lips)
    # Sample every canvas at once (cv2.remap takes up to 4 channels).
    sampled_a = _sample(frame, np.stack([red.image, lips.image, brows.image, creases.image], -1))
    sampled_b = _sample(frame, np.stack([spots.image, hair.image, beard.image, makeup.image], -1))
    return _FeatureWeights(
        redness=sampled_a[..., 0], lips=sampled_a[..., 1], brows=sampled_a[..., 2], creases=sampled_a[..., 3],
        spots=sampled_b[..., 0], hair=sampled_b[..., 1], beard=sampled_b[..., 2], shadow=sampled_b[..., 3],
        liner=_sample(frame, liner.image), strands=_strand_noise(frame, rng),
    )


def _redness_canvas(frame: PaintFrame, look: Look) -> _Canvas:
    """Cheeks, nose, ears, chin: smooth blobs."""
    lm = frame.landmarks
    red = _Canvas(frame)
    for cheek, sign in _sides(2, 14):
        centre = 0.55 * lm[cheek] + 0.45 * lm[31 if sign < 0 else 35] + [0.0, -_mm(frame, 4.0)]
        red.circle(tuple(centre), _mm(frame, 13.0), 0.65 + 0.35 * look.makeup)
    red.circle(tuple(_offset(frame, 30, 0, 3)), _mm(frame, 7.0), 0.55)
    red.circle(tuple(_offset(frame, 8, 0, 6)), _mm(frame, 9.0), 0.25)
    for sign in (-1.0, 1.0):
        theta = sign * 0.5 * (frame.ear_theta[0] + frame.ear_theta[1])
        red.circle(frame.canvas_point(theta, 0.5 * (frame.ear_y[0] + frame.ear_y[1])), _mm(frame, 22.0), 0.6)
    return red.blur(7.0)


def _lips_canvas(frame: PaintFrame) -> _Canvas:
    """Outer and inner lip contours filled."""
    lips = _Canvas(frame)
    lips.polygon(frame.landmarks[48:60])
    lips.polygon(frame.landmarks[60:68])
    return lips.blur(0.5)


def _brows_canvas(frame: PaintFrame, look: Look) -> _Canvas:
    """Tapered strokes along 17-21 and 22-26 (inner end thicker), thinner when feminine."""
    brows = _Canvas(frame)
    thickness = 6.0 - 2.2 * look.femininity
    for indices in (list(range(17, 22)), list(range(26, 21, -1))):  # outer -> inner
        points = frame.landmarks[indices] + [0.0, _mm(frame, 2.0)]
        for k in range(len(points) - 1):
            t = (k + 0.5) / (len(points) - 1)
            brows.polyline(points[k:k + 2], thickness * (0.45 + 0.55 * t))
    return brows.blur(0.6)


def _makeup_canvases(frame: PaintFrame, look: Look) -> tuple[_Canvas, _Canvas]:
    """(eyeshadow on the upper lids, eyeliner along the upper lid edge); empty without makeup."""
    lm = frame.landmarks
    makeup = _Canvas(frame)
    liner = _Canvas(frame)
    if look.makeup > 0:
        for eye, brow in ((list(range(36, 40)), list(range(17, 22))), (list(range(42, 46)), list(range(22, 27)))):
            upper_lid = lm[eye]
            brow_line = 0.45 * lm[brow[::-1]] + 0.55 * np.stack([upper_lid[0], upper_lid[1], upper_lid[2],
                                                                upper_lid[3], upper_lid[3]])[::-1]
            makeup.polygon(np.concatenate([upper_lid, brow_line[::-1]]), look.makeup)
            liner.polyline(upper_lid + np.array([0.0, -_mm(frame, 0.4)]), 1.0, look.makeup)
        makeup.blur(2.0)
        liner.blur(0.3)
    return makeup, liner


def _creases_canvas(frame: PaintFrame, look: Look, rng: np.random.Generator) -> _Canvas:
    """Wrinkles and creases of age (from middle age on): forehead lines, crow's feet, nasolabial folds, bags."""
    lm = frame.landmarks
    offset = functools.partial(_offset, frame)
    creases = _Canvas(frame)
    wrinkle = float(np.clip((look.age - 0.3) / 0.7, 0.0, 1.0))
    if wrinkle > 0:
        brow_y = lm[17:27, 1].mean()
        for k, height in enumerate((11.0, 18.0, 25.0)):
            xs = np.linspace(lm[18, 0] - _mm(frame, 4), lm[25, 0] + _mm(frame, 4), 24)
            ys = brow_y - _mm(frame, height) + _mm(frame, 1.2) * np.sin(xs / _mm(frame, 14.0) + k + rng.uniform(0, 3))
            creases.polyline(np.stack([xs, ys], 1), 0.55, 0.5 + 0.5 * wrinkle)
        for corner, sign in _sides(36, 45):
            start = offset(corner, 4 * sign, 0)
            for angle in (-25.0, 0.0, 25.0):
                a = math.radians(angle)
                end = start + np.array([sign * _mm(frame, 9.0) * math.cos(a), -_mm(frame, 9.0) * math.sin(a)])
                creases.polyline(np.stack([start, end]), 0.45, 0.35 + 0.65 * wrinkle)
        for wing, mouth, sign in ((31, 48, -1.0), (35, 54, 1.0)):
            fold = _bezier(offset(wing, 5 * sign, -1), offset(mouth, 10 * sign, 8), offset(mouth, 5 * sign, -8))
            creases.polyline(fold, 0.9, 0.6 + 0.4 * wrinkle)
            creases.polyline(np.stack([offset(mouth, 1 * sign, -3), offset(mouth, 3 * sign, -14)]), 0.6,
                             wrinkle)
        for lower in ([41, 40, 39], [46, 47, 42]):
            bag = lm[lower] + np.array([0.0, _mm(frame, 5.0)])
            creases.polyline(bag, 0.6, 0.5 * wrinkle)
        for sign in (-1.0, 1.0):
            creases.polyline(np.stack([offset(21 if sign < 0 else 22, -3 * sign, -2),
                                       offset(21 if sign < 0 else 22, -2.4 * sign, 8)]), 0.5, wrinkle)
        creases.blur(0.35)
    creases.image *= wrinkle
    return creases


def _spots_canvas(frame: PaintFrame, look: Look, rng: np.random.Generator) -> _Canvas:
    """Freckles across nose and cheeks, and a few age spots on the forehead and temples."""
    lm = frame.landmarks
    spots = _Canvas(frame)
    face_w = abs(lm[16, 0] - lm[0, 0])
    if look.freckles > 0:
        n = int(500 * look.freckles)
        centre = 0.5 * (lm[29] + lm[30])
        pts = centre + rng.standard_normal((n, 2)) * [0.33 * face_w, _mm(frame, 16.0)]
        for (x, y), r, v in zip(pts, rng.uniform(0.25, 0.8, n), rng.uniform(0.35, 0.9, n), strict=True):
            spots.circle((x, y), _mm(frame, r), v)
    if look.age > 0.6:
        n = int(40 * (look.age - 0.5))
        pts = np.stack([rng.uniform(lm[0, 0], lm[16, 0], n), rng.uniform(lm[19, 1] - _mm(frame, 35), lm[29, 1], n)],
                       1)
        for (x, y), r in zip(pts, rng.uniform(0.5, 1.5, n), strict=True):
            spots.circle((x, y), _mm(frame, r), 0.3)
    return spots.blur(0.25)


def _hair_canvas(frame: PaintFrame, look: Look, rng: np.random.Generator) -> _Canvas:
    """Hair cap: everything above a hairline drawn in (azimuth, height), ears excluded; a ragged edge."""
    hair = _Canvas(frame)
    eye_y = float(frame.landmarks_3d[36:48, 1].mean())
    brow_y3 = float(frame.landmarks_3d[17:27, 1].mean())
    top = frame.y_top - 0.01
    front_y = brow_y3 + 0.58 * (top - brow_y3) + look.hairline_offset
    ear_lo, ear_hi = frame.ear_theta
    ear_bottom, ear_top = frame.ear_y
    if look.bald:
        # Horseshoe fringe around the back of the head.
        knots = [(60.0, ear_top + 0.004), (85.0, ear_top + 0.015), (140.0, ear_top + 0.01),
                 (180.0, ear_top + 0.006)]
        lower = [(180.0, -0.045), (140.0, -0.035), (math.degrees(ear_hi) + 6, ear_bottom), (85.0, ear_top - 0.01),
                 (64.0, eye_y - 0.012)]
    else:
        nape = -0.085 if look.long_hair else -0.045
        ear_front = math.degrees(ear_lo)
        knots = [(0.0, front_y), (20.0, front_y + 0.002), (36.0, front_y + 0.006 + 0.5 * look.hairline_offset),
                 (46.0, front_y - 0.004), (56.0, front_y - 0.02), (ear_front - 22, eye_y + 0.012),
                 (ear_front - 17, eye_y - 0.004), (ear_front - 15, ear_bottom + 0.022),
                 (ear_front - 9, ear_bottom + 0.022), (ear_front - 6, ear_top - 0.008),
                 (ear_front - 2, ear_top + 0.004), (ear_front + 6, ear_top + 0.009),
                 (math.degrees(ear_hi) + 2, ear_top + 0.004), (math.degrees(ear_hi) + 8, ear_bottom),
                 (150.0, nape + 0.01), (180.0, nape)]
        lower = []
    for sign in (-1.0, 1.0):
        outline = [frame.canvas_point(sign * math.radians(t), y) for t, y in knots]
        if lower:
            outline += [frame.canvas_point(sign * math.radians(t), y) for t, y in lower]
        else:
            outline += [frame.canvas_point(sign * math.pi, top + 0.05), frame.canvas_point(0.0, top + 0.05)]
        hair.polygon(np.array(outline))
    hair.blur(1.8)
    # A ragged hairline: push the mask's edge around with fine noise.
    edge_noise = _noise(rng, (frame.canvas_h, frame.canvas_w), (600, 300)) * 0.35
    hair.image = np.clip((hair.image - 0.5 + edge_noise * (1 - np.abs(2 * hair.image - 1))) * 3.0 + 0.5, 0, 1)
    return hair


def _beard_canvas(frame: PaintFrame, look: Look, lips: _Canvas) -> _Canvas:
    """Facial hair regions (beard/stubble, goatee, moustache), kept off the lips."""
    beard = _Canvas(frame)
    if look.facial_hair == "none":
        return beard
    offset = functools.partial(_offset, frame)
    ear_lo, _ = frame.ear_theta
    ear_bottom, _ = frame.ear_y
    moustache = [offset(48, -3, 2), offset(49, 0, 3.5), offset(50, 0, 3.2), offset(51, 0, 3.0),
                 offset(52, 0, 3.2), offset(53, 0, 3.5), offset(54, 3, 2), offset(54, 4, -6),
                 offset(35, 3, -1), offset(33, 0, -2.5), offset(31, -3, -1), offset(48, -4, -6)]
    chin = [offset(48, -4, -4), offset(57, -8, -3), offset(57, 0, -2.5), offset(57, 8, -3), offset(54, 4, -4),
            offset(54, 8, -14), offset(8, 12, -4), offset(8, 0, -8), offset(8, -12, -4), offset(48, -8, -14)]
    if look.facial_hair in ("beard", "stubble"):
        burn_theta, burn_y = ear_lo - math.radians(15), ear_bottom + 0.022  # where the sideburn ends
        outline = [frame.canvas_point(-burn_theta, burn_y),
                   frame.canvas_point(-(burn_theta - math.radians(8)), burn_y - 0.012),
                   offset(31, -20, -12), offset(48, -6, 6), offset(33, 0, -2.5),
                   offset(54, 6, 6), offset(35, 20, -12),
                   frame.canvas_point(burn_theta - math.radians(8), burn_y - 0.012),
                   frame.canvas_point(burn_theta, burn_y),
                   frame.canvas_point(burn_theta + math.radians(7), burn_y - 0.006),
                   frame.canvas_point(ear_lo - 0.05, ear_bottom - 0.01),
                   offset(12, 6, -26), offset(8, 0, -42), offset(4, -6, -26),
                   frame.canvas_point(-(ear_lo - 0.05), ear_bottom - 0.01),
                   frame.canvas_point(-(burn_theta + math.radians(7)), burn_y - 0.006)]
        beard.polygon(np.array(outline))
    elif look.facial_hair == "goatee":
        beard.polygon(np.array(moustache))
        beard.polygon(np.array(chin))
    else:
        beard.polygon(np.array(moustache))
    beard.blur(3.0 if look.facial_hair == "stubble" else 2.0)
    beard.image = np.clip(beard.image - lips.image * 1.5, 0.0, 1.0)
    return beard


def _strand_noise(frame: PaintFrame, rng: np.random.Generator) -> np.ndarray:
    """Streaks along meridians (hair flows from the crown downwards), sampled into the atlas.

    Cheap anisotropic noise: few rows, stretched vertically; normalised to unit variance.
    """
    ch, cw = frame.canvas_h, frame.canvas_w
    streaks = cv2.GaussianBlur(rng.standard_normal((ch // 12, cw)).astype(np.float32), (0, 0), sigmaX=0.6)
    streaks = cv2.resize(streaks / max(float(streaks.std()), 1e-6), (cw, ch), interpolation=cv2.INTER_LINEAR)
    return _sample(frame, streaks * 0.35)


def _compose_albedo(frame: PaintFrame, look: Look, variation: np.ndarray, w: _FeatureWeights) -> np.ndarray:
    """Skin tone, then each feature blended over it in a fixed order, then baked occlusion. (H, W, 3) float32."""
    size = frame.geometry.resolution
    albedo = np.empty((size, size, 3), dtype=np.float32)
    fine = variation[..., 2]
    skin_rgb = _rgb(look.skin)
    albedo[:] = skin_rgb
    albedo *= (1.0 + variation[..., 0] + 0.012 * fine)[..., None]
    blotch = variation[..., 1]
    _lerp(albedo, skin_rgb * _rgb((1.05, 0.80, 0.80)), np.clip(w.redness * (0.55 + 0.15 * blotch), 0.0, 0.8))
    if look.age > 0.4:  # ageing: slightly sallower, less saturated skin
        grey = albedo.mean(axis=-1, keepdims=True)
        albedo += np.float32((look.age - 0.4) * 0.25) * (grey * _rgb((1.02, 1.0, 0.93)) - albedo)

    _lerp(albedo, skin_rgb * _rgb((0.72, 0.56, 0.46)), np.clip(w.spots, 0, 1) * 0.6)
    _lerp(albedo, _rgb(look.lips) if look.lips is not None else _natural_lips(look), w.lips)
    _lerp(albedo, skin_rgb * _rgb((0.80, 0.62, 0.72)), w.shadow * 0.45)
    _lerp(albedo, (0.05, 0.04, 0.05), np.clip(w.liner, 0, 1) * 0.85)
    touched = w.creases > 1e-3  # creases darken by multiplying, so they follow the underlying tone
    albedo[touched] *= (1.0 - 0.28 * np.clip(w.creases[touched], 0, 1))[:, None]
    _lerp(albedo, look.eyebrows, np.clip(w.brows * (0.78 + 0.25 * w.strands), 0.0, 0.92))
    _paint_facial_hair(albedo, look, w, fine)
    w.hair *= frame.skin  # scalp and neck only (the specular map uses this masked weight too)
    _lerp(albedo, lambda at: _hair_color(look, w.strands[at][:, None]), w.hair)

    # Baked ambient occlusion in creases and cavities (nostrils, mouth corners, behind the ears).
    albedo *= (1.0 - 0.55 * frame.cavity)[..., None]
    return albedo


def _natural_lips(look: Look) -> np.ndarray:
    """Redder than the skin on light skin, a darker mauve-brown on dark skin."""
    skin_rgb = _rgb(look.skin)
    lightness = float(skin_rgb.mean())
    natural_lips = skin_rgb * _rgb((0.90, 0.62, 0.64)) + _rgb((0.06, 0.0, 0.0)) * lightness
    return np.clip(natural_lips * (0.75 + 0.25 * lightness) * (1 - 0.15 * look.age), 0, 1)


def _paint_facial_hair(albedo: np.ndarray, look: Look, w: _FeatureWeights, fine: np.ndarray) -> None:
    facial_color = _rgb(look.facial_hair_color)
    if look.facial_hair == "stubble":
        dots = np.clip(w.strands * 0.8 + fine * 0.6, 0, 1)
        _lerp(albedo, facial_color, w.beard * (0.22 + 0.3 * dots))
    elif look.facial_hair != "none":
        _lerp(albedo, lambda at: facial_color * (1.0 + 0.3 * w.strands[at][:, None]),
              np.clip(w.beard * (0.85 + 0.25 * w.strands), 0, 1))


def _hair_color(look: Look, local: np.ndarray) -> np.ndarray:
    """(N, 3) hair colours for (N, 1) strand noise, with a share of white strands."""
    color = _rgb(look.hair) * (1.0 + 0.28 * local)
    if look.grey_fraction > 0:
        # share of white strands (the normal quantile; statistics, not scipy.special: that import costs ~0.2 s)
        threshold = statistics.NormalDist().inv_cdf(1.0 - min(max(look.grey_fraction, 1e-3), 1 - 1e-3))
        whiteness = np.clip((local / 0.35 - threshold) * 1.2 + 0.5, 0, 0.85)
        color += whiteness * (_rgb(HAIR_PALETTE["white"]) - color)
    return color


def _specular_map(frame: PaintFrame, look: Look, w: _FeatureWeights) -> np.ndarray:
    """(H, W) float32: glossier when young and on (painted) lips, matte under hair and in cavities."""
    size = frame.geometry.resolution
    spec = np.full((size, size), 0.45, dtype=np.float32)
    spec[:] = 0.40 + 0.15 * (1 - look.age) + (0.2 + 0.25 * float(look.lipstick)) * w.lips
    spec *= 1.0 - 0.75 * np.maximum(w.hair, w.beard * float(look.facial_hair not in ("none", "stubble")))
    spec *= 1.0 - 0.7 * frame.cavity
    return spec


def oral_occlusion(front: np.ndarray, deepest: float, frontmost: float) -> np.ndarray:
    """Light reaching the inside of the mouth: ``deepest`` at the back (``front`` 0) .. ``frontmost`` at the front."""
    return deepest + (frontmost - deepest) * front


def _paint_inner_parts(frame: PaintFrame, albedo: np.ndarray, spec: np.ndarray, look: Look,
                       rng: np.random.Generator, fine: np.ndarray) -> None:
    flat_rgb, flat_spec, flat_fine = albedo.reshape(-1, 3), spec.reshape(-1), fine.reshape(-1)
    index = frame.part_index

    def fill(name: str, color: np.ndarray | tuple[float, ...], specular: float) -> None:
        flat_rgb[index[name]] = color
        flat_spec[index[name]] = specular

    positions = frame.geometry.position.reshape(-1, 3)

    def depth_shade(name: str) -> np.ndarray:
        """(n, 1) 0 at the part's deepest texel .. 1 at its front (largest z)."""
        z = positions[index[name], 2]
        return np.clip((z - z.min()) / max(float(np.ptp(z)), 1e-6), 0, 1)[:, None] if len(z) else z[:, None]

    # The oral cavity's ambient occlusion: the lips shade what lies behind them, the back teeth and tongue most.
    # Unshaded, the teeth of a slightly open mouth are as bright as a smile's, which looks wrong and makes a face
    # tracker put the inner lip on the teeth's edge: MediaPipe then reads a 5 mm lip gap on our renders as closed
    # and a wide one as ~20% less open (measured on 1200 rendered frames), so lip sync is judged, and looks, damped.
    # Behind the teeth the cavity is nearly black, as in video of real mouths: with the socket and tongue lit at
    # ~0.4 MediaPipe read a jaw-only opening as closed up to a 6.8 mm lip gap, with them at the values below from
    # ~5 mm on, and a 14.6 mm gap as 0.071 instead of 0.049 (mouth-opening units; a swept jaw, 512²).
    if len(index["mouth_socket"]):
        socket_ao = oral_occlusion(depth_shade("mouth_socket"), 0.07, 0.15)
        fill("mouth_socket", np.asarray(MOUTH_SOCKET, np.float32) * socket_ao, 0.35 * socket_ao[:, 0])
    gums = index["gums_tongue"]
    gums_ao = oral_occlusion(depth_shade("gums_tongue"), 0.05, 0.09)
    fill("gums_tongue", np.asarray(GUMS, np.float32) * (1.0 + 0.04 * flat_fine[gums])[:, None] * gums_ao,
         0.75 * 0.4 * gums_ao[:, 0])
    stain = np.asarray([1.0, 0.97, 0.88] if look.age > 0.6 else [1.0, 1.0, 1.0], np.float32)
    teeth_ao = oral_occlusion(depth_shade("teeth"), 0.25, 0.55)
    fill("teeth", np.asarray(TEETH, np.float32) * stain * (1.0 + 0.02 * flat_fine[index["teeth"]])[:, None] * teeth_ao,
         0.7 * teeth_ao[:, 0])
    fill("eye_socket", EYE_SOCKET, 0.3)
    fill("lacrimal", LACRIMAL, 1.0)
    fill("eyelashes", np.asarray(look.eyebrows, np.float32) * 0.5, 0.1)

    idx = index["eyeball"]
    if len(idx):
        r = frame.eye_radius.reshape(-1)[idx]
        angle = frame.eye_angle.reshape(-1)[idx]
        color = np.empty((len(idx), 3), dtype=np.float32)
        # Sclera: off-white, a little pinker towards the back.
        color[:] = SCLERA
        back = np.clip((r - 0.2) / 0.3, 0, 1)[:, None]
        color += back * (np.asarray([0.90, 0.70, 0.68]) - color)
        iris = np.asarray(look.iris, dtype=np.float32)
        # Iris: radial fibres (angular noise), darker limbal ring, lighter collarette near the pupil.
        n_fibres = 90
        phases = rng.uniform(0, 2 * np.pi, 3)
        fibres = (np.sin(angle * n_fibres + phases[0]) * 0.5 + np.sin(angle * 37 + phases[1]) * 0.3
                  + np.sin(angle * 13 + phases[2] + r * 40) * 0.2)
        t = np.clip(r / IRIS_RADIUS_UV, 0, 1)[:, None]
        iris_color = iris * (0.82 + 0.22 * fibres[:, None]) * (1.15 - 0.45 * t**3)
        collarette = np.exp(-(((r - 1.6 * PUPIL_RADIUS_UV) / (0.35 * PUPIL_RADIUS_UV)) ** 2))[:, None]
        iris_color = iris_color + collarette * 0.25 * (np.asarray([0.75, 0.6, 0.35]) - iris_color)
        limbus = np.clip((r - (IRIS_RADIUS_UV - 0.012)) / 0.012, 0, 1)[:, None]
        iris_color = iris_color * (1.0 - 0.55 * limbus)
        in_iris = np.clip((IRIS_RADIUS_UV + 0.004 - r) / 0.008, 0, 1)[:, None]
        color += in_iris * (iris_color - color)
        pupil = np.clip((PUPIL_RADIUS_UV + 0.003 - r) / 0.006, 0, 1)[:, None]
        color += pupil * (np.asarray([0.02, 0.02, 0.025]) - color)
        flat_rgb[idx] = color
        flat_spec[idx] = 1.0
