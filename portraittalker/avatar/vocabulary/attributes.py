"""What a prompt can say about an avatar: the attribute model, its canonical values, and how a colour
word lands on each attribute ("red" + hair -> hair_color "red", "black" + eyes -> eye_color "dark-brown").

Everything here is language independent; the words of each language are in ``en.py``, ``ko.py``, ``ja.py``
and ``zh.py`` and map onto these canonical values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from portraittalker.errors import PortraitTalkerError

SKIN_TONES = ("pale", "fair", "light", "medium", "olive", "tan", "brown", "dark", "deep")
AGES = ("child", "teen", "young", "adult", "middle-aged", "old", "elderly")
GENDERS = ("feminine", "masculine")
HAIR_COLORS = ("platinum", "blonde", "light-brown", "brown", "dark-brown", "black", "auburn", "red", "ginger",
               "grey", "salt-and-pepper", "white", "pink", "blue", "purple", "green")
HAIR_STYLES = ("bald", "short", "long")
FACIAL_HAIR = ("none", "stubble", "moustache", "goatee", "beard")
EYE_COLORS = ("blue", "green", "hazel", "amber", "brown", "dark-brown", "grey")
LIP_COLORS = ("natural", "red", "pink", "coral", "nude", "plum", "dark")
SCENES = ("plain", "studio", "city", "beach", "forest", "office", "sky", "library")
TIMES_OF_DAY = ("day", "night", "sunset")
LIGHTING_STYLES = ("default", "soft", "studio", "dramatic", "natural", "neon")
LIGHT_TEMPERATURES = ("neutral", "warm", "cold")


class AvatarAttributes(BaseModel):
    """What the prompt says about the avatar; ``None`` = not said (resolved later from the seed)."""

    model_config = ConfigDict(extra="forbid")

    skin_tone: str | None = None
    age: str | None = None
    age_years: int | None = None
    gender: str | None = None
    hair_color: str | None = None
    hair_style: str | None = None
    facial_hair: str | None = None
    eye_color: str | None = None
    lip_color: str | None = None
    makeup: bool | None = None
    freckles: bool | None = None
    scene: str | None = None
    time_of_day: str | None = None
    background_color: tuple[float, float, float] | None = None
    lighting_style: str | None = None
    light_temperature: str | None = None
    rim_light: bool | None = None
    film_grain: bool | None = None
    vintage: bool | None = None


@dataclass
class ParsedPrompt:
    """``attributes`` read from a prompt, the words it did not understand, and how many words it had."""

    attributes: AvatarAttributes
    unknown_words: list[str] = field(default_factory=list)
    word_count: int = 0

    @property
    def understood(self) -> bool:
        """False when the prompt set no attribute although it had words we could not read (or no words at
        all): e.g. emoji only, or a language without a vocabulary. A prompt of filler words only ("a portrait
        photo") is understood: it asks for nothing in particular."""
        if self.attributes.model_dump(exclude_none=True):
            return True
        return self.word_count > 0 and not self.unknown_words


class PromptError(PortraitTalkerError, ValueError):
    """The prompt is empty or not usable."""


def age_category(years: int) -> str:
    if years < 13:
        return "child"
    if years < 20:
        return "teen"
    if years < 32:
        return "young"
    if years < 45:
        return "adult"
    if years < 60:
        return "middle-aged"
    if years < 75:
        return "old"
    return "elderly"


# --- canonical colour -> attribute value, per noun the colour describes -----------------------------
BACKGROUND_RGB = {
    "red": (0.55, 0.10, 0.10), "blue": (0.12, 0.25, 0.55), "green": (0.10, 0.60, 0.20), "black": (0.02, 0.02, 0.02),
    "white": (0.95, 0.95, 0.95), "grey": (0.45, 0.45, 0.47), "yellow": (0.85, 0.75, 0.25), "orange": (0.85, 0.45, 0.15),
    "pink": (0.90, 0.60, 0.70), "purple": (0.35, 0.20, 0.50), "brown": (0.35, 0.25, 0.18), "beige": (0.80, 0.72, 0.60),
    "teal": (0.10, 0.45, 0.45), "cream": (0.93, 0.89, 0.78), "navy": (0.08, 0.10, 0.30), "light": (0.85, 0.85, 0.85),
    "dark": (0.08, 0.08, 0.09), "blonde": (0.85, 0.75, 0.45), "olive": (0.45, 0.45, 0.20),
}
HAIR_FROM_COLOR = {
    "red": "red", "ginger": "ginger", "auburn": "auburn", "orange": "ginger", "blonde": "blonde", "yellow": "blonde",
    "platinum": "platinum", "brown": "brown", "black": "black", "grey": "grey", "white": "white", "pink": "pink",
    "blue": "blue", "purple": "purple", "green": "green", "salt-and-pepper": "salt-and-pepper", "dark": "dark-brown",
    "light": "light-brown", "dark-brown": "dark-brown", "light-brown": "light-brown", "cream": "platinum",
    "beige": "blonde", "light-blonde": "platinum", "dark-blonde": "light-brown", "pale": "platinum",
    "dark-red": "auburn", "light-red": "ginger",
}
EYES_FROM_COLOR = {
    "blue": "blue", "green": "green", "hazel": "hazel", "amber": "amber", "brown": "brown", "grey": "grey",
    "dark": "dark-brown", "black": "dark-brown", "dark-brown": "dark-brown", "light-brown": "hazel",
    "light-blue": "blue", "dark-blue": "blue", "light": "blue", "olive": "hazel", "yellow": "amber",
}
LIPS_FROM_COLOR = {
    "red": "red", "crimson": "red", "pink": "pink", "coral": "coral", "orange": "coral", "nude": "nude",
    "beige": "nude", "plum": "plum", "purple": "plum", "dark": "dark", "black": "dark", "dark-red": "plum",
    "light-pink": "pink", "brown": "nude", "natural": "natural",
}
SKIN_FROM_COLOR = {
    "pale": "pale", "fair": "fair", "white": "fair", "light": "light", "olive": "olive", "tan": "tan",
    "brown": "brown", "dark": "dark", "black": "deep", "dark-brown": "dark", "light-brown": "medium",
    "beige": "light", "deep": "deep", "medium": "medium", "golden": "tan",
}
LIGHT_FROM_COLOR = {"warm": "warm", "orange": "warm", "yellow": "warm", "red": "warm", "blue": "cold",
                    "white": "neutral", "teal": "cold", "purple": "cold", "pink": "warm"}
# Colours that can only mean hair when no noun follows ("blonde man", "auburn woman").
HAIR_ONLY_COLORS = {"blonde", "ginger", "auburn", "platinum", "salt-and-pepper"}
