"""Prompt text -> :class:`AvatarAttributes`, in two passes.

1. The prompt is cut into words and every word becomes symbols ``(kind, value)``: ``("color", "red")``,
   ``("noun", "hair")``, ``("age", "young")`` ...
   - English: words split on spaces and punctuation, two- and three-word phrases first (``en.py``);
   - Korean: a vocabulary stem with its particles attached (``ko.py``);
   - Japanese and Chinese, written without spaces: a longest-match scan of each run of kana/hanzi over the
     merged ja + zh keys (``ja.py``, ``zh.py``). Unmatched characters between keys form the unknown words;
   - anything else (emoji, other scripts) is an unknown word.
   Words outside the vocabularies and their stop-word lists are reported as unknown.
2. Colours are attached to the nearest following noun ("red hair", "붉은 머리", "赤い髪", "红色的头发") or,
   failing that, the nearest preceding one ("hair: red", "髪が赤い"); a colour with no noun nearby is unknown.

Everything is plain table look-ups in a fixed order: the same prompt always gives the same attributes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from portraittalker.avatar.vocabulary import en, ja, ko, zh
from portraittalker.avatar.vocabulary.attributes import (
    BACKGROUND_RGB,
    EYES_FROM_COLOR,
    HAIR_FROM_COLOR,
    HAIR_ONLY_COLORS,
    LIGHT_FROM_COLOR,
    LIPS_FROM_COLOR,
    SKIN_FROM_COLOR,
    AvatarAttributes,
    ParsedPrompt,
    PromptError,
    age_category,
)

Entry = tuple[tuple[str, str], ...]  # the symbols one key stands for; () = a stop word


def _entries(module: ModuleType) -> dict[str, Entry]:
    """One language's keys -> symbols; a key listed in two tables of the language is an error."""
    out: dict[str, Entry] = {}

    def add(key: str, entry: Entry) -> None:
        if key in out and out[key] != entry:
            raise ValueError(f"{module.__name__}: {key!r} is in two tables ({out[key]} and {entry})")
        out[key] = entry

    for key, color in module.COLORS.items():
        add(key, (("color", color),))
    for key, noun in module.NOUNS.items():
        add(key, (("noun", noun),))
    for key, value in module.WORDS.items():
        add(key, (value,) if isinstance(value[0], str) else tuple(value))
    for key in module.GUARDS:
        add(key, (("unknown", ""),))
    for key in module.STOPWORDS:
        add(key, ())
    return out


def _with_traditional(entries: dict[str, Entry]) -> dict[str, Entry]:
    out = dict(entries)
    for key, entry in entries.items():
        variant = key.translate(zh.TRADITIONAL)
        if variant != key and out.setdefault(variant, entry) != entry:
            raise ValueError(f"zh: traditional {variant!r} of {key!r} is already a key with another meaning")
    return out


_JA = _entries(ja)
_ZH = _with_traditional(_entries(zh))
# The two share the script: every key is matched in both, and where both languages have a key the
# prompt's language decides (kana present -> Japanese, otherwise Chinese).
_CJK_LEXICONS = {"ja": {**_ZH, **_JA}, "zh": {**_JA, **_ZH}}
_CJK_MAX_KEY = max(map(len, _CJK_LEXICONS["ja"]))
_CJK_MODIFIERS = ja.MODIFIERS | zh.MODIFIERS | {m.translate(zh.TRADITIONAL) for m in zh.MODIFIERS}
_MODIFIERS = en.MODIFIERS | _CJK_MODIFIERS
_PERSON_NOUNS = (en.PERSON_NOUNS | ko.PERSON_NOUNS | ja.PERSON_NOUNS | zh.PERSON_NOUNS
                 | {p.translate(zh.TRADITIONAL) for p in zh.PERSON_NOUNS})

# Korean stems ordered longest first, so "눈동자" wins over "눈" and "턱수염" over "수염".
_KO_STEMS = sorted({*ko.COLORS, *ko.NOUNS, *ko.WORDS}, key=len, reverse=True)

_LATIN = "0-9a-z\u00df-\u00f6\u00f8-\u024f"
_CJK = "\u3005\u3006\u3040-\u309f\u30a0-\u30fa\u30fc-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = re.compile("[\u3040-\u309f\u30a0-\u30fa\u30fc-\u30ff\u31f0-\u31ff]")
_TOKEN = re.compile(rf"(?P<latin>[{_LATIN}]+(?:[-'][{_LATIN}]+)*)|(?P<hangul>[\uac00-\ud7a3]+)|(?P<cjk>[{_CJK}]+)")
_AGE_NUMBER = re.compile(r"(\d{1,3})\s*(?:-|\s)?\s*(?:years?|yrs?|yo|y/o)(?:\s*-?\s*old)?"
                         r"|(\d{1,3})\s*(?:살|세|歳|才|岁|歲)")
_AGE_DECADE = re.compile(r"(\d0)\s*(?:'?s\b|대|代|多岁|多歲|几岁|幾歲|来岁|來歲)")
# Ages in Chinese numerals (三十岁, 二十多岁, 四十代) are turned into digits first.
_CJK_NUMERAL = re.compile(r"[一二两兩三四五六七八九十]+(?=\s*(?:多|几|幾|来|來)?\s*(?:岁|歲|歳|才|代))")
_DIGITS = {"一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _cjk_number(match: re.Match[str]) -> str:
    text = match.group()
    tens, _, ones = text.partition("十")
    if "十" not in text:
        value = _DIGITS.get(text, 0) if len(text) == 1 else 0
    else:
        value = (_DIGITS.get(tens, 0) if tens else 1) * 10 + (_DIGITS.get(ones, 0) if ones else 0)
    return str(value) if value else text


def _korean_symbol(token: str) -> tuple[str, str] | None:
    """Longest vocabulary stem that ``token`` starts with, if the rest is a known particle (or nothing)."""
    for stem in _KO_STEMS:
        if token.startswith(stem):
            rest = token[len(stem):].removeprefix("색")  # "초록색의" = 초록 + 색 + 의
            if rest == "" or rest in ko.SUFFIXES or rest.rstrip("의을를이가은는에") == "":
                if stem in ko.COLORS:
                    return ("color", ko.COLORS[stem])
                if stem in ko.NOUNS:
                    return ("noun", ko.NOUNS[stem])
                return ko.WORDS[stem]
    return None


@dataclass
class _Symbol:
    kind: str
    value: str
    word: str


def _is_wordy(char: str) -> bool:
    """Part of a word in a script without a vocabulary (letters, digits, marks, emoji and their joiners)."""
    return ord(char) > 127 and (unicodedata.category(char)[0] in "LMNS" or char == "\u200d") \
        and unicodedata.category(char) not in ("Sm", "Sc")


def _tokens(text: str) -> list[tuple[str, str]]:
    """``(script, word)`` in prompt order; script is latin, hangul, cjk or other (no vocabulary)."""
    tokens: list[tuple[str, str]] = []

    def others(gap: str) -> None:
        run = ""
        for char in gap + " ":
            if _is_wordy(char):
                run += char
            elif run:
                tokens.append(("other", run))
                run = ""

    position = 0
    for match in _TOKEN.finditer(text):
        others(text[position:match.start()])
        tokens.append((str(match.lastgroup), match.group()))
        position = match.end()
    others(text[position:])
    return tokens


def _scan_cjk(run: str, lexicon: dict[str, Entry], symbols: list[_Symbol], unknown: list[str]) -> None:
    """Longest-match scan of an unsegmented kana/hanzi run; unmatched stretches become unknown words."""
    pending = ""
    i = 0
    while i < len(run):
        for length in range(min(_CJK_MAX_KEY, len(run) - i), 0, -1):
            key = run[i:i + length]
            entry = lexicon.get(key)
            if entry is not None:
                break
        else:
            pending += run[i]
            i += 1
            continue
        if pending:
            unknown.append(pending)
            pending = ""
        for kind, value in entry:
            if kind == "unknown":  # a guard: a word we know we do not understand
                unknown.append(key)
            else:
                symbols.append(_Symbol(kind, value, key))
        i += length
    if pending:
        unknown.append(pending)


def _symbolise(text: str) -> tuple[list[_Symbol], list[str], int]:
    words = _tokens(text)
    word_count = len(words)
    lexicon = _CJK_LEXICONS["ja" if _KANA.search(text) else "zh"]
    symbols: list[_Symbol] = []
    unknown: list[str] = []
    i = 0
    while i < len(words):
        script, word = words[i]
        if script == "latin":
            for span in (3, 2):
                phrase = " ".join(w for _, w in words[i:i + span])
                if (span <= len(words) - i and all(s == "latin" for s, _ in words[i:i + span])
                        and phrase in en.PHRASES):
                    kind, value = en.PHRASES[phrase]
                    symbols.append(_Symbol(kind, value, phrase))
                    i += span
                    break
            else:
                i += 1
                if "-" in word and word not in en.WORDS and word not in en.COLORS and word not in en.PHRASES:
                    words[i:i] = [("latin", part) for part in word.split("-")]  # "red-haired" -> "red", "haired"
                    continue
                if word.isdigit():
                    continue  # numbers are handled by the age patterns
                if word in en.COLORS:
                    symbols.append(_Symbol("color", en.COLORS[word], word))
                    if word in en.NOUNS:  # "light" is both a colour modifier and a noun
                        symbols[-1].kind = "color|noun"
                elif word in en.NOUNS:
                    symbols.append(_Symbol("noun", en.NOUNS[word], word))
                elif word in en.WORDS:
                    kind, value = en.WORDS[word]
                    symbols.append(_Symbol(kind, value, word))
                elif word not in en.STOPWORDS and not word.endswith(("years", "year")):
                    unknown.append(word)
            continue
        i += 1
        if script == "hangul":
            found = _korean_symbol(word)
            if found is not None:
                symbols.append(_Symbol(found[0], found[1], word))
            elif word not in ko.STOPWORDS and word.rstrip("의을를이가은는에") not in ko.STOPWORDS:
                unknown.append(word)
        elif script == "cjk":
            _scan_cjk(word, lexicon, symbols, unknown)
        else:
            unknown.append(word)
    return symbols, unknown, word_count


def parse_prompt(prompt: str) -> ParsedPrompt:
    """Read avatar attributes out of ``prompt`` (English, Korean, Japanese and/or Chinese)."""
    if not isinstance(prompt, str):
        raise PromptError(f"prompt must be a string, got {type(prompt).__name__}")
    text = unicodedata.normalize("NFKC", prompt).lower().strip()
    if not text:
        raise PromptError("prompt is empty: describe the avatar, e.g. 'young woman with red hair, soft lighting'")
    values: dict[str, object] = {}

    def put(key: str, value: object) -> None:
        values[key] = value

    # Ages written as numbers ("45-year-old", "45 years old", "45살", "20대", "in her 30s", "30歳", "三十岁",
    # "20代", "二十多岁") beat age words.
    text = _CJK_NUMERAL.sub(_cjk_number, text)
    years: int | None = None
    age_words = 0
    if match := _AGE_NUMBER.search(text):
        years = int(match.group(1) or match.group(2))
        text = text[: match.start()] + " " + text[match.end():]
        age_words = 1
    elif match := _AGE_DECADE.search(text):
        years = int(match.group(1)) + 5
        text = text[: match.start()] + " " + text[match.end():]
        age_words = 1

    symbols, unknown, word_count = _symbolise(text)
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
            put("background_color", BACKGROUND_RGB[symbol.value])
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
        if person and color in SKIN_FROM_COLOR:  # "black woman", "pale man"
            put("skin_tone", SKIN_FROM_COLOR[color])
            used[index:index + span] = [True] * span
            index += span
            continue
        if noun_index is None and color in HAIR_ONLY_COLORS:  # "blonde man", "auburn woman"
            put("hair_color", HAIR_FROM_COLOR[color])
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
    return ParsedPrompt(attributes=attributes, unknown_words=unknown, word_count=word_count + age_words)


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
        if forward and "color" not in kind and kind != "hair_style":
            # "red hair" must be adjacent apart from other colours ("red and white hair") or a hair length
            # ("明るい茶色の長い髪" = light brown long hair, "红色长发")
            return None
    return None


def _apply_color(put: Callable[[str, object], None], noun: str, color: str) -> bool:
    table = {"hair": HAIR_FROM_COLOR, "eyes": EYES_FROM_COLOR, "lips": LIPS_FROM_COLOR,
             "lipstick": LIPS_FROM_COLOR, "skin": SKIN_FROM_COLOR, "beard": HAIR_FROM_COLOR,
             "background": BACKGROUND_RGB, "light": LIGHT_FROM_COLOR}[noun]
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
