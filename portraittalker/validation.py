"""Checks of user-given values (CLI options, manifest cells, params.yaml keys) with messages that name them.

Each check returns the clean value or raises :class:`InvalidValueError` whose message starts with ``name``
(``--pitch``, ``manifest jobs.csv line 3, column seed``, ``params.yaml render.image_size`` …).
"""

from __future__ import annotations

import math
import numbers

from portraittalker.errors import PortraitTalkerError

SEED_MAX = 2**32 - 1
YAW_RANGE_DEG = (-180.0, 180.0)
PITCH_RANGE_DEG = (-85.0, 85.0)  # at ±90° the camera looks straight down its up vector: no image
IMAGE_SIZE_RANGE = (64, 2048)
FPS_RANGE = (1, 120)


class InvalidValueError(PortraitTalkerError, ValueError):
    """A user-given value is out of its allowed range or not a number."""


def _number(value: object, name: str, what: str) -> float:
    if isinstance(value, bool):
        raise InvalidValueError(f"{name} must be {what}, got {value!r}")
    if isinstance(value, str):
        value = value.strip()
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidValueError(f"{name} must be {what}, got {value!r}") from None


def check_whole(value: object, name: str, low: int, high: int) -> int:
    what = f"a whole number from {low} to {high}"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        number = int(value)
    else:
        real = _number(value, name, what)
        if not math.isfinite(real) or real != int(real):
            raise InvalidValueError(f"{name} must be {what}, got {value!r}")
        number = int(real)
    if not low <= number <= high:
        raise InvalidValueError(f"{name} must be {what}, got {number}")
    return number


def check_seed(value: object, name: str = "seed") -> int:
    return check_whole(value, name, 0, SEED_MAX)


def check_angle(value: object, name: str, valid: tuple[float, float]) -> float:
    low, high = valid
    what = f"a finite angle in degrees from {low:g} to {high:g}"
    number = _number(value, name, what)
    if not math.isfinite(number) or not low <= number <= high:
        raise InvalidValueError(f"{name} must be {what}, got {value!r}")
    return number


def check_yaw(value: object, name: str = "yaw_deg") -> float:
    return check_angle(value, name, YAW_RANGE_DEG)


def check_pitch(value: object, name: str = "pitch_deg") -> float:
    return check_angle(value, name, PITCH_RANGE_DEG)


def check_image_size(value: object, name: str = "render.image_size") -> int:
    low, high = IMAGE_SIZE_RANGE
    what = f"an even number of pixels from {low} to {high} (H.264 stores colour at half resolution)"
    try:
        size = check_whole(value, name, low, high)
    except InvalidValueError:
        raise InvalidValueError(f"{name} must be {what}, got {value!r}") from None
    if size % 2:
        raise InvalidValueError(f"{name} must be {what}, got {size}")
    return size


def check_fps(value: object, name: str = "video.fps") -> int:
    return check_whole(value, name, *FPS_RANGE)
