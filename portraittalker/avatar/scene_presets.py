"""Lighting rigs and procedural backgrounds from scene words ("soft lighting", "night city street")."""

from __future__ import annotations

import cv2
import numpy as np

from portraittalker.render.scene import Background, DirectionalLight, Lighting

_KEY = (0.45, 0.45, 1.0)
_FILL = (-0.7, 0.1, 0.7)
_RIM = (0.2, 0.6, -1.0)
_TEMPERATURE = {"neutral": (1.0, 1.0, 1.0), "warm": (1.0, 0.84, 0.66), "cold": (0.74, 0.86, 1.0)}


def lighting_for(style: str, temperature: str, rim_light: bool, time_of_day: str | None, scene: str | None) -> Lighting:
    """A :class:`Lighting` (≤ 4 lights) for a style word, a colour temperature and the scene's time of day."""
    tint = np.asarray(_TEMPERATURE[temperature])
    if time_of_day == "sunset" and temperature == "neutral":
        tint = np.asarray((1.0, 0.78, 0.58))
    if time_of_day == "night" and temperature == "neutral":
        tint = np.asarray((0.82, 0.88, 1.0))
    ambient_level, lights = {
        "soft": (0.50, [(_KEY, 0.42, 1.0), (_FILL, 0.28, 1.0)]),
        "studio": (0.30, [(_KEY, 0.70, 1.0), (_FILL, 0.30, 1.0), (_RIM, 0.45, 1.0)]),
        "dramatic": (0.10, [((1.0, 0.35, 0.35), 1.05, 1.0), (_RIM, 0.35, 1.0)]),
        "natural": (0.42, [((0.3, 0.8, 0.8), 0.60, 1.0), (_FILL, 0.15, 1.0)]),
        "neon": (0.18, [((1.0, 0.2, 0.5), 0.75, 0.0), ((-1.0, 0.2, 0.5), 0.75, 0.0)]),
        "default": (0.35, [((0.4, 0.5, 1.0), 0.75, 1.0), ((-0.6, 0.1, 0.6), 0.25, 1.0)]),
    }[style]
    if time_of_day == "night" and style not in ("neon", "dramatic"):
        ambient_level *= 0.6
    if time_of_day == "sunset":
        lights = [((0.9, 0.15, 0.6), 0.85, 1.0), *lights[1:]]
    out: list[DirectionalLight] = []
    for index, (direction, intensity, tinted) in enumerate(lights):
        color = tuple(float(c) for c in (tint if tinted else 1.0) * np.ones(3))
        if style == "neon":  # magenta key, cyan fill: the classic neon-sign look
            color = (1.0, 0.35, 0.85) if index == 0 else (0.3, 0.85, 1.0)
        out.append(DirectionalLight(direction=direction, color=color, intensity=intensity))
    if rim_light and not any(light.direction == _RIM for light in out):
        out.append(DirectionalLight(direction=_RIM, color=tuple(float(c) for c in tint), intensity=0.6))
    ambient = tuple(float(ambient_level * c) for c in (0.6 + 0.4 * tint))
    return Lighting(ambient=ambient, lights=tuple(out[:4]))


def _vertical_gradient(size: int, top: tuple[float, float, float], bottom: tuple[float, float, float]) -> np.ndarray:
    t = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
    row = (1 - t) * np.asarray(top, np.float32) + t * np.asarray(bottom, np.float32)
    return np.repeat(row, size, axis=1)


def _bokeh(image: np.ndarray, rng: np.random.Generator, count: int, colors: list[tuple[float, float, float]],
           radius: tuple[float, float], y_range: tuple[float, float], strength: float) -> None:
    size = image.shape[0]
    layer = np.zeros_like(image)
    for _ in range(count):
        centre = (int(rng.uniform(0, size)), int(rng.uniform(*y_range) * size))
        color = np.asarray(colors[rng.integers(len(colors))]) * rng.uniform(0.4, 1.0)
        cv2.circle(layer, centre, int(rng.uniform(*radius) * size), tuple(float(c) for c in color), -1, cv2.LINE_AA)
    layer = cv2.GaussianBlur(layer, (0, 0), size * 0.006)
    image += strength * layer


def background_for(scene: str, time_of_day: str, color: tuple[float, float, float] | None, size: int,
                   rng: np.random.Generator) -> tuple[Background, dict[str, object]]:
    """A :class:`Background` (solid colour or a blurred, depth-of-field-like scene image) and its JSON spec."""
    spec: dict[str, object] = {"scene": scene, "time_of_day": time_of_day}
    if color is not None or scene == "plain":
        solid = tuple(float(c) for c in (color if color is not None else (0.12, 0.12, 0.14)))
        spec.update(kind="color", color=list(solid))
        return Background(color=solid), spec
    night, sunset = time_of_day == "night", time_of_day == "sunset"
    if scene == "studio":
        y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
        radial = np.clip(1.0 - 1.3 * np.hypot(x - 0.5, y - 0.42), 0, 1)[..., None]
        base = np.asarray((0.16, 0.16, 0.17) if night else (0.30, 0.30, 0.32), np.float32)
        image = base * (0.55 + 0.75 * radial)
    elif scene == "city":
        top, bottom = ((0.02, 0.03, 0.08), (0.05, 0.05, 0.08)) if night else \
            ((0.55, 0.35, 0.35), (0.25, 0.2, 0.22)) if sunset else ((0.62, 0.70, 0.80), (0.35, 0.35, 0.38))
        image = _vertical_gradient(size, top, bottom)
        # Building blocks, then out-of-focus street lights and windows.
        for _ in range(14):
            x0 = int(rng.uniform(-0.1, 1.0) * size)
            w, h = int(rng.uniform(0.08, 0.25) * size), int(rng.uniform(0.3, 0.8) * size)
            shade = rng.uniform(0.03, 0.08) if night else rng.uniform(0.25, 0.45)
            cv2.rectangle(image, (x0, size - h), (x0 + w, size), (shade, shade, shade * 1.1), -1)
        lights = [(1.0, 0.75, 0.35), (1.0, 0.45, 0.25), (0.4, 0.7, 1.0), (1.0, 0.3, 0.7)]
        _bokeh(image, rng, 70 if night else 25, lights, (0.015, 0.05), (0.2, 0.95), 0.9 if night else 0.25)
    elif scene == "beach":
        sky_top = (0.35, 0.22, 0.40) if sunset else (0.05, 0.06, 0.15) if night else (0.38, 0.62, 0.90)
        horizon = (0.98, 0.62, 0.35) if sunset else (0.10, 0.12, 0.22) if night else (0.75, 0.86, 0.95)
        image = _vertical_gradient(size, sky_top, horizon)
        sea_y, sand_y = int(0.58 * size), int(0.78 * size)
        sea = (0.45, 0.35, 0.40) if sunset else (0.05, 0.07, 0.12) if night else (0.15, 0.42, 0.62)
        sand = (0.55, 0.42, 0.32) if sunset else (0.12, 0.11, 0.10) if night else (0.86, 0.78, 0.60)
        image[sea_y:sand_y] = _vertical_gradient(size, sea, tuple(0.8 * c for c in sea))[: sand_y - sea_y]
        image[sand_y:] = sand
        if sunset:
            cv2.circle(image, (int(0.7 * size), sea_y), int(0.07 * size), (1.0, 0.8, 0.5), -1, cv2.LINE_AA)
    elif scene == "forest":
        image = _vertical_gradient(size, (0.05, 0.08, 0.06) if night else (0.45, 0.60, 0.40),
                                   (0.02, 0.04, 0.03) if night else (0.12, 0.22, 0.10))
        for _ in range(18):
            x0 = int(rng.uniform(0, 1) * size)
            w = int(rng.uniform(0.02, 0.07) * size)
            shade = rng.uniform(0.05, 0.2) * (0.3 if night else 1.0)
            cv2.rectangle(image, (x0, 0), (x0 + w, size), (shade * 0.9, shade * 0.75, shade * 0.55), -1)
        _bokeh(image, rng, 40, [(0.5, 0.75, 0.3), (0.9, 0.95, 0.6)], (0.01, 0.04), (0.0, 0.7),
               0.15 if night else 0.6)
    elif scene == "office":
        image = _vertical_gradient(size, (0.75, 0.74, 0.70) if not night else (0.22, 0.22, 0.25),
                                   (0.55, 0.52, 0.48) if not night else (0.12, 0.12, 0.14))
        for k in range(3):  # bright windows and a desk line
            x0 = int((0.08 + 0.32 * k) * size)
            glow = (0.95, 0.95, 0.98) if not night else (0.15, 0.2, 0.35)
            cv2.rectangle(image, (x0, int(0.1 * size)), (x0 + int(0.22 * size), int(0.55 * size)), glow, -1)
        cv2.rectangle(image, (0, int(0.72 * size)), (size, size), (0.35, 0.27, 0.20), -1)
    elif scene == "library":
        image = _vertical_gradient(size, (0.25, 0.17, 0.10), (0.12, 0.08, 0.05))
        for row in range(6):
            y0 = int(row / 6 * size)
            for _ in range(30):
                x0 = int(rng.uniform(0, 1) * size)
                w = int(rng.uniform(0.01, 0.03) * size)
                color = np.asarray([(0.45, 0.12, 0.10), (0.15, 0.25, 0.35), (0.40, 0.32, 0.15), (0.2, 0.3, 0.15)]
                                   [rng.integers(4)]) * rng.uniform(0.5, 1.0)
                cv2.rectangle(image, (x0, y0 + int(0.03 * size)), (x0 + w, y0 + int(0.15 * size)),
                              tuple(float(c) for c in color), -1)
    else:  # sky
        image = _vertical_gradient(size, (0.25, 0.45, 0.80) if not sunset else (0.30, 0.20, 0.45),
                                   (0.75, 0.85, 0.95) if not sunset else (0.98, 0.65, 0.40))
        if night:
            image = _vertical_gradient(size, (0.01, 0.02, 0.06), (0.05, 0.06, 0.14))
    # Depth of field: scenes sit far behind the subject, so blur them.
    image = cv2.GaussianBlur(image, (0, 0), size * 0.012)
    image += rng.standard_normal(image.shape).astype(np.float32) * 0.004  # avoid banding in gradients
    pixels = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    spec.update(kind="image", mean_color=[float(c) for c in pixels.reshape(-1, 3).mean(0) / 255.0])
    return Background(color=tuple(float(c) for c in pixels.reshape(-1, 3).mean(0) / 255.0), image=pixels), spec
