"""Prompt -> avatar attributes with a keyword vocabulary (English and Korean), no model weights.

Parsing is two passes:
1. The prompt is split into words; every word (or English multi-word phrase, or Korean stem with its
   particles attached) becomes a symbol ``(kind, value)``: ``("color", "red")``, ``("noun", "hair")``,
   ``("age", "young")`` ... Words outside the vocabulary and its stop-word list are reported as unknown.
2. Colours are attached to the nearest following noun ("red hair", "붉은 머리") or, failing that, the
   nearest preceding one ("hair: red"); a colour with no noun nearby is unknown too.

Attributes the prompt does not mention stay ``None``; the designer fills them from the seed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

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
    attributes: AvatarAttributes
    unknown_words: list[str] = field(default_factory=list)


class PromptError(ValueError):
    """The prompt is empty or not usable."""


# Colour words and their canonical value (the noun decides which attribute they set).
_COLORS_EN = {
    "red": "red", "ginger": "ginger", "auburn": "auburn", "copper": "ginger", "blonde": "blonde", "blond": "blonde",
    "golden": "blonde", "platinum": "platinum", "brown": "brown", "chestnut": "brown", "black": "black",
    "jet": "black", "grey": "grey", "gray": "grey", "silver": "grey", "white": "white", "blue": "blue",
    "green": "green", "hazel": "hazel", "amber": "amber", "pink": "pink", "purple": "purple", "violet": "purple",
    "coral": "coral", "nude": "nude", "plum": "plum", "orange": "orange", "yellow": "yellow", "beige": "beige",
    "olive": "olive", "tan": "tan", "tanned": "tan", "dark": "dark", "light": "light", "pale": "pale",
    "fair": "fair", "teal": "teal", "cream": "cream", "crimson": "red", "navy": "navy", "maroon": "plum",
}
_COLORS_KO = {
    "붉은": "red", "빨간": "red", "빨강": "red", "적갈색": "auburn", "주황": "orange", "금색": "blonde",
    "노란": "yellow", "갈색": "brown", "밤색": "brown", "검은": "black", "검정": "black", "까만": "black",
    "흑색": "black", "회색": "grey", "은색": "grey", "흰": "white", "하얀": "white", "흰색": "white",
    "파란": "blue", "푸른": "blue", "파랑": "blue", "초록": "green", "녹색": "green", "분홍": "pink",
    "핑크": "pink", "보라": "purple", "베이지": "beige", "창백한": "pale", "밝은": "light", "어두운": "dark",
    "황갈색": "hazel", "호박색": "amber",
}
_NOUNS_EN = {
    "hair": "hair", "haired": "hair", "hairstyle": "hair", "eyes": "eyes", "eye": "eyes", "eyed": "eyes",
    "lips": "lips", "lip": "lips", "lipstick": "lipstick", "skin": "skin", "skinned": "skin",
    "complexion": "skin", "background": "background", "backdrop": "background", "wall": "background",
    "beard": "beard", "bearded": "beard", "light": "light", "lighting": "light", "lights": "light",
}
_NOUNS_KO = {
    "머리카락": "hair", "머리": "hair", "헤어": "hair", "눈동자": "eyes", "눈": "eyes", "입술": "lips",
    "립스틱": "lipstick", "피부": "skin", "배경": "background", "수염": "beard", "조명": "light",
}
# Self-contained words: (attribute, value).
_WORDS_EN: dict[str, tuple[str, str]] = {
    # age
    "child": ("age", "child"), "kid": ("age", "child"), "boy": ("age+gender", "child:masculine"),
    "girl": ("age+gender", "child:feminine"), "teen": ("age", "teen"), "teenager": ("age", "teen"),
    "teenage": ("age", "teen"), "young": ("age", "young"), "youthful": ("age", "young"), "adult": ("age", "adult"),
    "middle-aged": ("age", "middle-aged"), "old": ("age", "old"), "older": ("age", "old"), "aged": ("age", "old"),
    "elderly": ("age", "elderly"), "senior": ("age", "elderly"), "grandmother": ("age+gender", "elderly:feminine"),
    "grandma": ("age+gender", "elderly:feminine"), "grandfather": ("age+gender", "elderly:masculine"),
    "grandpa": ("age+gender", "elderly:masculine"), "wrinkled": ("age", "old"),
    # gender presentation
    "woman": ("gender", "feminine"), "women": ("gender", "feminine"), "female": ("gender", "feminine"),
    "lady": ("gender", "feminine"), "she": ("gender", "feminine"), "her": ("gender", "feminine"),
    "feminine": ("gender", "feminine"), "man": ("gender", "masculine"), "men": ("gender", "masculine"),
    "male": ("gender", "masculine"), "guy": ("gender", "masculine"), "gentleman": ("gender", "masculine"),
    "he": ("gender", "masculine"), "his": ("gender", "masculine"), "masculine": ("gender", "masculine"),
    # hair
    "redhead": ("hair_color", "red"), "brunette": ("hair_color", "brown"), "bald": ("hair_style", "bald"),
    "shaved": ("hair_style", "bald"), "long": ("hair_style", "long"), "short": ("hair_style", "short"),
    # facial hair
    "beard": ("facial_hair", "beard"), "bearded": ("facial_hair", "beard"), "moustache": ("facial_hair", "moustache"),
    "mustache": ("facial_hair", "moustache"), "goatee": ("facial_hair", "goatee"),
    "stubble": ("facial_hair", "stubble"), "unshaven": ("facial_hair", "stubble"),
    "clean-shaven": ("facial_hair", "none"), "beardless": ("facial_hair", "none"),
    # skin details and makeup
    "freckles": ("freckles", "true"), "freckled": ("freckles", "true"), "makeup": ("makeup", "true"),
    "make-up": ("makeup", "true"), "eyeliner": ("makeup", "true"), "eyeshadow": ("makeup", "true"),
    "lipstick": ("lip_color", "red"),
    # scene
    "studio": ("scene", "studio"), "city": ("scene", "city"), "street": ("scene", "city"),
    "urban": ("scene", "city"), "downtown": ("scene", "city"), "beach": ("scene", "beach"),
    "sea": ("scene", "beach"), "ocean": ("scene", "beach"), "seaside": ("scene", "beach"),
    "forest": ("scene", "forest"), "woods": ("scene", "forest"), "trees": ("scene", "forest"),
    "park": ("scene", "forest"), "office": ("scene", "office"), "workplace": ("scene", "office"),
    "sky": ("scene", "sky"), "library": ("scene", "library"), "night": ("time_of_day", "night"),
    "nighttime": ("time_of_day", "night"), "evening": ("time_of_day", "sunset"), "sunset": ("time_of_day", "sunset"),
    "dusk": ("time_of_day", "sunset"), "sunrise": ("time_of_day", "sunset"), "day": ("time_of_day", "day"),
    "daylight": ("time_of_day", "day"), "daytime": ("time_of_day", "day"), "sunny": ("time_of_day", "day"),
    # lighting
    "soft": ("lighting_style", "soft"), "diffuse": ("lighting_style", "soft"), "gentle": ("lighting_style", "soft"),
    "dramatic": ("lighting_style", "dramatic"), "moody": ("lighting_style", "dramatic"),
    "chiaroscuro": ("lighting_style", "dramatic"), "cinematic": ("lighting_style", "dramatic"),
    "natural": ("lighting_style", "natural"), "neon": ("lighting_style", "neon"),
    "warm": ("light_temperature", "warm"), "cold": ("light_temperature", "cold"),
    "cool": ("light_temperature", "cold"), "backlit": ("rim_light", "true"), "rim": ("rim_light", "true"),
    # film look
    "grain": ("film_grain", "true"), "grainy": ("film_grain", "true"), "film": ("film_grain", "true"),
    "analog": ("film_grain", "true"), "35mm": ("film_grain", "true"), "vintage": ("vintage", "true"),
    "retro": ("vintage", "true"),
}
_PHRASES_EN: dict[str, tuple[str, str]] = {
    "middle aged": ("age", "middle-aged"), "clean shaven": ("facial_hair", "none"),
    "salt and pepper": ("color", "salt-and-pepper"), "salt-and-pepper": ("color", "salt-and-pepper"),
    "golden hour": ("time_of_day", "sunset"), "green screen": ("background_named", "green"),
    "rim light": ("rim_light", "true"), "rim lighting": ("rim_light", "true"),
    "film grain": ("film_grain", "true"), "high contrast": ("lighting_style", "dramatic"),
    "studio lighting": ("lighting_style", "studio"), "studio light": ("lighting_style", "studio"),
    "heavy makeup": ("makeup", "true"), "no makeup": ("makeup", "false"), "no beard": ("facial_hair", "none"),
    "full beard": ("facial_hair", "beard"), "old man": ("age+gender", "old:masculine"),
    "old woman": ("age+gender", "old:feminine"), "young man": ("age+gender", "young:masculine"),
    "young woman": ("age+gender", "young:feminine"),
}
_WORDS_KO: dict[str, tuple[str, str]] = {
    "어린이": ("age", "child"), "아이": ("age", "child"), "어린": ("age", "child"),
    "소년": ("age+gender", "child:masculine"),
    "소녀": ("age+gender", "child:feminine"), "십대": ("age", "teen"), "청소년": ("age", "teen"),
    "젊은": ("age", "young"), "청년": ("age+gender", "young:masculine"), "중년": ("age", "middle-aged"),
    "나이든": ("age", "old"), "나이 든": ("age", "old"), "늙은": ("age", "old"), "노인": ("age", "elderly"),
    "할머니": ("age+gender", "elderly:feminine"), "할아버지": ("age+gender", "elderly:masculine"),
    "여성": ("gender", "feminine"), "여자": ("gender", "feminine"), "남성": ("gender", "masculine"),
    "남자": ("gender", "masculine"), "금발": ("hair_color", "blonde"), "백발": ("hair_color", "white"),
    "은발": ("hair_color", "grey"), "흑발": ("hair_color", "black"), "갈색머리": ("hair_color", "brown"),
    "빨간머리": ("hair_color", "red"), "대머리": ("hair_style", "bald"), "긴": ("hair_style", "long"),
    "짧은": ("hair_style", "short"), "턱수염": ("facial_hair", "beard"), "콧수염": ("facial_hair", "moustache"),
    "염소수염": ("facial_hair", "goatee"), "수염": ("facial_hair", "beard"), "면도한": ("facial_hair", "none"),
    "주근깨": ("freckles", "true"), "화장": ("makeup", "true"), "메이크업": ("makeup", "true"),
    "립스틱": ("lip_color", "red"), "스튜디오": ("scene", "studio"), "도시": ("scene", "city"),
    "거리": ("scene", "city"), "길거리": ("scene", "city"), "해변": ("scene", "beach"), "바다": ("scene", "beach"),
    "숲": ("scene", "forest"), "공원": ("scene", "forest"), "사무실": ("scene", "office"),
    "하늘": ("scene", "sky"), "도서관": ("scene", "library"), "밤": ("time_of_day", "night"),
    "야경": ("time_of_day", "night"), "노을": ("time_of_day", "sunset"), "일몰": ("time_of_day", "sunset"),
    "석양": ("time_of_day", "sunset"), "낮": ("time_of_day", "day"), "부드러운": ("lighting_style", "soft"),
    "은은한": ("lighting_style", "soft"), "극적인": ("lighting_style", "dramatic"),
    "드라마틱한": ("lighting_style", "dramatic"), "자연광": ("lighting_style", "natural"),
    "네온": ("lighting_style", "neon"), "따뜻한": ("light_temperature", "warm"),
    "차가운": ("light_temperature", "cold"), "역광": ("rim_light", "true"), "림라이트": ("rim_light", "true"),
    "필름": ("film_grain", "true"), "그레인": ("film_grain", "true"), "빈티지": ("vintage", "true"),
    "레트로": ("vintage", "true"), "까무잡잡한": ("skin_tone", "tan"), "구릿빛": ("skin_tone", "tan"),
    "흑인": ("skin_tone", "deep"), "하얀피부": ("skin_tone", "fair"),
}
_STOPWORDS_EN = {
    "a", "an", "the", "with", "and", "of", "in", "on", "at", "by", "for", "to", "from", "wearing", "has", "having",
    "is", "who", "which", "that", "their", "they", "them", "very", "slightly", "bit", "little", "person", "people",
    "portrait", "photo", "photograph", "picture", "image", "headshot", "face", "talking", "head", "closeup",
    "close-up", "close", "up", "realistic", "photorealistic", "high", "quality", "detailed", "hd", "4k", "8k",
    "shot", "style", "look", "looking", "looks", "standing", "sitting", "front", "colored", "coloured",
    "toned", "tone", "eyed", "haired", "scene", "setting", "into", "camera", "some", "lots", "few", "against",
    "behind", "outdoors", "outside", "indoors", "inside", "background", "lighting", "light", "color", "colour",
}
_STOPWORDS_KO = {
    "그리고", "사람", "얼굴", "사진", "초상화", "인물", "있는", "가진", "하는", "된", "및", "모습", "스타일", "색",
    "색의", "색깔", "배경", "조명", "빛", "입은", "쓴", "약간", "매우", "아주",
}
# Korean particles/endings that may be glued to a vocabulary stem.
_KO_SUFFIXES = ("으로", "에서", "이고", "이며", "이다", "의", "을", "를", "이", "가", "은", "는", "에", "와", "과",
                "로", "도", "인", "한", "색", "빛")
# Stems ordered longest first, so "눈동자" wins over "눈" and "턱수염" over "수염".
_KO_STEMS = sorted({*_COLORS_KO, *_NOUNS_KO, *_WORDS_KO}, key=len, reverse=True)
_MODIFIERS = {"light", "dark", "pale", "bright", "deep"}  # "dark brown hair", "light blue eyes"
_AGE_NUMBER = re.compile(r"(\d{1,3})\s*(?:-|\s)?\s*(?:years?|yrs?|yo|y/o)(?:\s*-?\s*old)?|(\d{1,3})\s*(?:살|세)")
_AGE_DECADE = re.compile(r"(\d0)\s*(?:'?s\b|대)")
_WORD = re.compile(r"[0-9a-z]+(?:[-'][0-9a-z]+)*|[\uac00-\ud7a3]+")


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


def _korean_symbol(token: str) -> tuple[str, str] | None:
    """Longest vocabulary stem that ``token`` starts with, if the rest is a known particle (or nothing)."""
    for stem in _KO_STEMS:
        if token.startswith(stem):
            rest = token[len(stem):].removeprefix("색")  # "초록색의" = 초록 + 색 + 의
            if rest == "" or rest in _KO_SUFFIXES or rest.rstrip("의을를이가은는에") == "":
                if stem in _COLORS_KO:
                    return ("color", _COLORS_KO[stem])
                if stem in _NOUNS_KO:
                    return ("noun", _NOUNS_KO[stem])
                return _WORDS_KO[stem]
    return None


@dataclass
class _Symbol:
    kind: str
    value: str
    word: str


def _symbolise(text: str) -> tuple[list[_Symbol], list[str]]:
    words = _WORD.findall(text)
    symbols: list[_Symbol] = []
    unknown: list[str] = []
    i = 0
    while i < len(words):
        for span in (3, 2):
            phrase = " ".join(words[i:i + span])
            if span <= len(words) - i and phrase in _PHRASES_EN:
                kind, value = _PHRASES_EN[phrase]
                symbols.append(_Symbol(kind, value, phrase))
                i += span
                break
        else:
            word = words[i]
            i += 1
            if "-" in word and word not in _WORDS_EN and word not in _COLORS_EN and word not in _PHRASES_EN:
                words[i:i] = word.split("-")  # "red-haired" -> "red", "haired"
                continue
            if word.isdigit():
                continue  # numbers are handled by the age patterns
            if word in _COLORS_EN:
                symbols.append(_Symbol("color", _COLORS_EN[word], word))
                if word in _NOUNS_EN:  # "light" is both a colour modifier and a noun
                    symbols[-1].kind = "color|noun"
            elif word in _NOUNS_EN:
                symbols.append(_Symbol("noun", _NOUNS_EN[word], word))
            elif word in _WORDS_EN:
                kind, value = _WORDS_EN[word]
                symbols.append(_Symbol(kind, value, word))
            elif "\uac00" <= word[0] <= "\ud7a3":
                found = _korean_symbol(word)
                if found is not None:
                    symbols.append(_Symbol(found[0], found[1], word))
                elif word not in _STOPWORDS_KO and word.rstrip("의을를이가은는에") not in _STOPWORDS_KO:
                    unknown.append(word)
            elif word not in _STOPWORDS_EN and not word.endswith(("years", "year")):
                unknown.append(word)
    return symbols, unknown


_BACKGROUND_RGB = {
    "red": (0.55, 0.10, 0.10), "blue": (0.12, 0.25, 0.55), "green": (0.10, 0.60, 0.20), "black": (0.02, 0.02, 0.02),
    "white": (0.95, 0.95, 0.95), "grey": (0.45, 0.45, 0.47), "yellow": (0.85, 0.75, 0.25), "orange": (0.85, 0.45, 0.15),
    "pink": (0.90, 0.60, 0.70), "purple": (0.35, 0.20, 0.50), "brown": (0.35, 0.25, 0.18), "beige": (0.80, 0.72, 0.60),
    "teal": (0.10, 0.45, 0.45), "cream": (0.93, 0.89, 0.78), "navy": (0.08, 0.10, 0.30), "light": (0.85, 0.85, 0.85),
    "dark": (0.08, 0.08, 0.09), "blonde": (0.85, 0.75, 0.45), "olive": (0.45, 0.45, 0.20),
}
_HAIR_FROM_COLOR = {
    "red": "red", "ginger": "ginger", "auburn": "auburn", "orange": "ginger", "blonde": "blonde", "yellow": "blonde",
    "platinum": "platinum", "brown": "brown", "black": "black", "grey": "grey", "white": "white", "pink": "pink",
    "blue": "blue", "purple": "purple", "green": "green", "salt-and-pepper": "salt-and-pepper", "dark": "dark-brown",
    "light": "light-brown", "dark-brown": "dark-brown", "light-brown": "light-brown", "cream": "platinum",
    "beige": "blonde", "light-blonde": "platinum", "dark-blonde": "light-brown", "pale": "platinum",
    "dark-red": "auburn", "light-red": "ginger",
}
_EYES_FROM_COLOR = {
    "blue": "blue", "green": "green", "hazel": "hazel", "amber": "amber", "brown": "brown", "grey": "grey",
    "dark": "dark-brown", "black": "dark-brown", "dark-brown": "dark-brown", "light-brown": "hazel",
    "light-blue": "blue", "dark-blue": "blue", "light": "blue", "olive": "hazel", "yellow": "amber",
}
_LIPS_FROM_COLOR = {
    "red": "red", "crimson": "red", "pink": "pink", "coral": "coral", "orange": "coral", "nude": "nude",
    "beige": "nude", "plum": "plum", "purple": "plum", "dark": "dark", "black": "dark", "dark-red": "plum",
    "light-pink": "pink", "brown": "nude", "natural": "natural",
}
_SKIN_FROM_COLOR = {
    "pale": "pale", "fair": "fair", "white": "fair", "light": "light", "olive": "olive", "tan": "tan",
    "brown": "brown", "dark": "dark", "black": "deep", "dark-brown": "dark", "light-brown": "medium",
    "beige": "light", "deep": "deep", "medium": "medium", "golden": "tan",
}
_HAIR_ONLY_COLORS = {"blonde", "ginger", "auburn", "platinum", "salt-and-pepper"}
_PERSON_NOUNS = {"woman", "man", "person", "girl", "boy", "lady", "guy", "gentleman", "female", "male", "child",
                 "kid", "teenager", "여성", "남성", "여자", "남자", "사람"}


def parse_prompt(prompt: str) -> ParsedPrompt:
    """Read avatar attributes out of ``prompt`` (English and/or Korean)."""
    if not isinstance(prompt, str):
        raise PromptError(f"prompt must be a string, got {type(prompt).__name__}")
    text = unicodedata.normalize("NFKC", prompt).lower().strip()
    if not text:
        raise PromptError("prompt is empty: describe the avatar, e.g. 'young woman with red hair, soft lighting'")
    values: dict[str, object] = {}

    def put(key: str, value: object) -> None:
        values[key] = value

    # Ages written as numbers ("45-year-old", "45 years old", "45살", "20대", "in her 30s") beat age words.
    years: int | None = None
    if match := _AGE_NUMBER.search(text):
        years = int(match.group(1) or match.group(2))
        text = text[: match.start()] + " " + text[match.end():]
    elif match := _AGE_DECADE.search(text):
        years = int(match.group(1)) + 5
        text = text[: match.start()] + " " + text[match.end():]

    symbols, unknown = _symbolise(text)
    words = [s.word for s in symbols]
    used = [False] * len(symbols)
    for index, symbol in enumerate(symbols):
        if symbol.kind == "age+gender":
            age, gender = symbol.value.split(":")
            put("age", age)
            put("gender", gender)
            used[index] = True
        elif symbol.kind not in ("color", "noun", "color|noun", "background_named"):
            raw = symbol.value
            put(symbol.kind, True if raw == "true" else False if raw == "false" else raw)
            used[index] = True
        elif symbol.kind == "background_named":
            put("background_color", _BACKGROUND_RGB[symbol.value])
            used[index] = True

    # Colours (with an optional light/dark modifier) attach to the nearest noun.
    index = 0
    while index < len(symbols):
        symbol = symbols[index]
        if "color" not in symbol.kind or used[index]:
            index += 1
            continue
        color, span = symbol.value, 1
        nxt = symbols[index + 1] if index + 1 < len(symbols) else None
        if symbol.word in _MODIFIERS and nxt is not None and nxt.kind.startswith("color") and "noun" not in nxt.kind:
            color, span = f"{symbol.value}-{nxt.value}", 2
        noun_index = _find_noun(symbols, index + span, forward=True)
        if noun_index is None:
            noun_index = _find_noun(symbols, index - 1, forward=False)
        if noun_index is None and symbol.kind == "color|noun":  # a bare "light" means lighting
            used[index] = True
            index += 1
            continue
        person = index + span < len(words) and words[index + span] in _PERSON_NOUNS
        if person and color in _SKIN_FROM_COLOR:  # "black woman", "pale man"
            put("skin_tone", _SKIN_FROM_COLOR[color])
            used[index:index + span] = [True] * span
            index += span
            continue
        if noun_index is None and color in _HAIR_ONLY_COLORS:  # "blonde man", "auburn woman"
            put("hair_color", _HAIR_FROM_COLOR[color])
        elif noun_index is None:
            unknown.append(" ".join(s.word for s in symbols[index:index + span]))
        else:
            noun = symbols[noun_index].value
            ok = _apply_color(put, noun, color)
            if not ok:
                unknown.append(" ".join(s.word for s in symbols[index:index + span]) + " " + symbols[noun_index].word)
            used[noun_index] = True
        used[index:index + span] = [True] * span
        index += span

    # Nouns that mean something on their own when no colour claimed them.
    for index, symbol in enumerate(symbols):
        if symbol.kind == "noun" and not used[index]:
            if symbol.value == "beard":
                put("facial_hair", values.get("facial_hair", "beard"))
            elif symbol.value == "lipstick" and "lip_color" not in values:
                put("lip_color", "red")

    if years is not None:
        put("age_years", years)
        put("age", age_category(years))
    attributes = AvatarAttributes(**values)
    return ParsedPrompt(attributes=attributes, unknown_words=unknown)


def _find_noun(symbols: list[_Symbol], start: int, forward: bool) -> int | None:
    """Index of the noun a colour describes: up to two symbols ahead, or the one just before it."""
    step = 1 if forward else -1
    for offset in range(3 if forward else 1):
        index = start + step * offset
        if not 0 <= index < len(symbols):
            return None
        kind = symbols[index].kind
        if kind == "noun":
            return index
        if kind == "color|noun":  # "light": a noun unless it modifies a following noun ("light hair")
            following = symbols[index + 1].kind if index + 1 < len(symbols) else ""
            if not forward or following != "noun":
                return index
        if forward and "color" not in kind:
            return None  # "red hair" must be adjacent apart from other colours ("red and white hair")
    return None


def _apply_color(put: Callable[[str, object], None], noun: str, color: str) -> bool:
    table = {"hair": _HAIR_FROM_COLOR, "eyes": _EYES_FROM_COLOR, "lips": _LIPS_FROM_COLOR,
             "lipstick": _LIPS_FROM_COLOR, "skin": _SKIN_FROM_COLOR, "beard": _HAIR_FROM_COLOR,
             "background": _BACKGROUND_RGB, "light": {"warm": "warm", "orange": "warm", "yellow": "warm",
                                                       "red": "warm", "blue": "cold", "white": "neutral",
                                                       "teal": "cold", "purple": "cold", "pink": "warm"}}[noun]
    base = color.split("-")[-1] if color not in table else color
    if base not in table:
        return False
    value = table[base]
    if noun == "hair":
        put("hair_color", value)
    elif noun == "eyes":
        put("eye_color", value)
    elif noun in ("lips", "lipstick"):
        put("lip_color", value)
    elif noun == "skin":
        put("skin_tone", value)
    elif noun == "beard":
        put("facial_hair", "beard")
        put("hair_color", value)  # the beard colour and the hair colour are one attribute
    elif noun == "background":
        put("background_color", value)
    else:
        put("light_temperature", value)
    return True
