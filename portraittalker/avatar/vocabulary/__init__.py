"""Prompt -> avatar attributes with keyword vocabularies (English, Korean, Japanese, Chinese), no model weights.

Where things are:

- ``attributes.py``: the attributes a prompt can set, their canonical values, and how a colour lands on
  each noun (hair, eyes, lips, skin, background, beard, light);
- ``en.py``, ``ko.py``, ``ja.py``, ``zh.py``: each language's words, by attribute family, as plain tables;
- ``parser.py``: cutting a prompt into words (longest-match scan for Japanese and Chinese, which have no
  spaces) and attaching colours to nouns.

Attributes the prompt does not mention stay ``None``; the designer fills them from the seed.
"""

from __future__ import annotations

from portraittalker.avatar.vocabulary.attributes import (
    AGES,
    EYE_COLORS,
    FACIAL_HAIR,
    GENDERS,
    HAIR_COLORS,
    HAIR_STYLES,
    LIGHT_TEMPERATURES,
    LIGHTING_STYLES,
    LIP_COLORS,
    SCENES,
    SKIN_TONES,
    TIMES_OF_DAY,
    AvatarAttributes,
    ParsedPrompt,
    PromptError,
    age_category,
)
from portraittalker.avatar.vocabulary.parser import parse_prompt

__all__ = [
    "AGES",
    "EYE_COLORS",
    "FACIAL_HAIR",
    "GENDERS",
    "HAIR_COLORS",
    "HAIR_STYLES",
    "LIGHTING_STYLES",
    "LIGHT_TEMPERATURES",
    "LIP_COLORS",
    "SCENES",
    "SKIN_TONES",
    "TIMES_OF_DAY",
    "AvatarAttributes",
    "ParsedPrompt",
    "PromptError",
    "age_category",
    "parse_prompt",
]
