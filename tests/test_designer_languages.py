"""Japanese and Chinese prompts: parsed like their English equivalents, unsegmented text read by longest
match (with the substring collisions that brings), prompts we cannot read reported, textures that follow."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pytest

from portraittalker.assets import REPO_ROOT
from portraittalker.avatar import AttributeDesigner, DesignerConfig, parse_prompt
from portraittalker.avatar.vocabulary import attributes as canon
from portraittalker.avatar.vocabulary import en, ja, ko, zh
from portraittalker.avatar.vocabulary.parser import _JA, _ZH, _entries

ICT_NPZ = REPO_ROOT.parent / "shared" / "assets" / "ict_facekit_light.npz"
needs_ict = pytest.mark.skipif(not ICT_NPZ.is_file(), reason="ICT-FaceKit npz not available")
SIZE = 256

# Each list covers every attribute family: age, gender, hair colour/length/baldness, facial hair, eyes, lips,
# makeup, freckles, skin, scene, background, time of day, lighting style/temperature/rim, film grain, vintage.
JAPANESE = [
    ("白いひげの年老いた男性、暖かい照明", "an old man with a white beard, warm lighting"),
    # 老人 is an elderly person of either sex, as Korean 노인 (the same word): not "old man".
    ("白いひげの老人、暖かい照明", "an elderly person with a white beard, warm lighting"),
    ("赤い髪と緑の目の若い女性、そばかす、赤い口紅、柔らかい照明、夜の街、フィルムグレイン",
     "young woman with red hair, green eyes, freckles, red lipstick, soft lighting, night city street, film grain"),
    ("中年の男性、あごひげ、褐色の肌、スタジオ", "middle-aged man, beard, brown skin, studio"),
    ("青い目の金髪の男性、口ひげ、ビーチ、暖かい照明", "blonde man with blue eyes, moustache, beach, warm lighting"),
    ("ハゲの高齢女性、そばかす、夜の森、ビンテージ", "elderly bald woman, freckles, forest at night, vintage"),
    ("ピンクの唇、厚化粧、紫の背景、ドラマチックな照明、逆光",
     "pink lips, heavy makeup, purple background, dramatic lighting, rim light"),
    ("明るい茶色の長い髪、ヘーゼルの瞳、色白の肌", "long light brown hair, hazel eyes, fair skin"),
    ("オフィスにいるスキンヘッドの男性、無精ひげ、自然光", "bald man with stubble in an office, natural lighting"),
    ("図書館の少女、ネオン、寒色の照明", "girl in a library, neon, cold lighting"),
    ("ティーンエイジャー、空、夕焼け", "a teenager, sky, sunset"),
    ("白い背景の黒人女性", "black woman, white background"),
    ("青白い肌の男性", "pale skin man"),
    ("レトロなフィルム写真、ビーチの少年", "retro film photo, boy on the beach"),
    ("琥珀色の瞳のおばあさん", "grandmother with amber eyes"),
    ("45歳の女性、グレーの目", "a 45-year-old woman, grey eyes"),
    ("コーラルのリップ、ひげのない男性、グリーンバック", "coral lips, clean-shaven man, green screen"),
    ("山羊ひげの青年、昼間の公園、ソフトライト", "young man with a goatee, park in daytime, soft light"),
    ("ショートヘアの子供、すっぴん、スタジオ照明", "short haired child, no makeup, studio lighting"),
]
CHINESE = [
    ("一位红色短发绿色眼睛的中年女性，柔和的影棚灯光，夜晚的城市街道",
     "a middle-aged woman with short red hair and green eyes, soft studio lighting, night city street"),
    ("一位白胡子的老人，暖色灯光", "an elderly person with a white beard, warm lighting"),
    ("一个留着白胡子的老男人，温暖的灯光", "an old man with a white beard, warm lighting"),
    ("年轻女性，红色头发，绿色眼睛，雀斑，红色口红，柔和的灯光，夜晚的城市街道，胶片颗粒",
     "young woman with red hair, green eyes, freckles, red lipstick, soft lighting, night city street, film grain"),
    ("中年男性，络腮胡，棕色皮肤，影棚", "middle-aged man, beard, brown skin, studio"),
    ("蓝眼睛的金发男人，八字胡，海滩，温暖的灯光", "blonde man with blue eyes, moustache, beach, warm lighting"),
    ("光头的老年女性，雀斑，夜晚的森林，复古", "elderly bald woman, freckles, forest at night, vintage"),
    ("粉色嘴唇，浓妆，紫色背景，戏剧性灯光，轮廓光",
     "pink lips, heavy makeup, purple background, dramatic lighting, rim light"),
    ("浅棕色的长发，榛色眼睛，白皙的皮肤", "long light brown hair, hazel eyes, fair skin"),
    ("办公室里的光头男人，胡茬，自然光", "bald man with stubble in an office, natural lighting"),
    ("图书馆里的女孩，霓虹灯，冷色调灯光", "girl in a library, neon, cold lighting"),
    ("青少年，天空，日落", "a teenager, sky, sunset"),
    ("白色背景前的黑人女性", "black woman, white background"),
    ("苍白皮肤的男人", "pale skin man"),
    ("复古胶片照片，海边的男孩", "retro film photo, boy on the beach"),
    ("琥珀色眼睛的奶奶", "grandmother with amber eyes"),
    ("45岁的女人，灰色的眼睛", "a 45-year-old woman, grey eyes"),
    ("珊瑚色的嘴唇，没有胡子的男人，绿幕", "coral lips, clean-shaven man, green screen"),
    ("留着山羊胡的青年，白天的公园，柔光", "young man with a goatee, park in daytime, soft light"),
    ("短发的孩子，素颜，影棚灯光", "short haired child, no makeup, studio lighting"),
    # traditional characters
    ("一位紅色短髮綠色眼睛的中年女性，柔和的影棚燈光，夜晚的城市街道",
     "a middle-aged woman with short red hair and green eyes, soft studio lighting, night city street"),
    ("藍眼睛的金髮男人，八字鬍，海灘，溫暖的燈光", "blonde man with blue eyes, moustache, beach, warm lighting"),
    ("辦公室裡的光頭男人，鬍渣，自然光", "bald man with stubble in an office, natural lighting"),
    ("粉紅色嘴唇，濃妝，紫色背景，戲劇性燈光，輪廓光",
     "pink lips, heavy makeup, purple background, dramatic lighting, rim light"),
]


@pytest.mark.parametrize(("prompt", "english"), JAPANESE + CHINESE, ids=[p for p, _ in JAPANESE + CHINESE])
def test_japanese_and_chinese_prompts_parse_like_english(prompt: str, english: str) -> None:
    cjk, ref = parse_prompt(prompt), parse_prompt(english)
    assert cjk.attributes == ref.attributes
    assert cjk.unknown_words == [] and ref.unknown_words == []


def test_the_cases_cover_every_attribute_family() -> None:
    for cases in (JAPANESE, CHINESE):
        said = set().union(*(parse_prompt(p).attributes.model_dump(exclude_none=True) for p, _ in cases))
        assert said == set(canon.AvatarAttributes.model_fields)


# Short keys inside longer words: the longer key (or a guard word) must win.
@pytest.mark.parametrize(("prompt", "expected", "unknown"), [
    # 白 white
    ("白髪の男性", {"hair_color": "white", "gender": "masculine"}, []),
    ("白い肌の女性", {"skin_tone": "fair", "gender": "feminine"}, []),
    ("白人女性", {"skin_tone": "fair", "gender": "feminine"}, []),
    ("白髪交じりの男性", {"hair_color": "salt-and-pepper", "gender": "masculine"}, []),
    ("白昼の街", {"time_of_day": "day", "scene": "city"}, []),
    ("白衣の男性", {"gender": "masculine"}, ["白衣"]),
    ("白天的海滩", {"time_of_day": "day", "scene": "beach"}, []),
    ("白金色头发", {"hair_color": "platinum"}, []),
    ("皮肤白皙的女人", {"skin_tone": "fair", "gender": "feminine"}, []),
    ("蓝天白云", {"scene": "sky"}, []),
    # 赤/红 red, 青/蓝 blue, 黄 yellow, 金 gold
    ("赤ちゃん", {"age": "child"}, []),
    ("青年、青空", {"age": "young", "gender": "masculine", "scene": "sky"}, []),
    ("青白い肌", {"skin_tone": "pale"}, []),
    ("黄昏的海边", {"time_of_day": "sunset", "scene": "beach"}, []),
    ("金属の背景", {}, ["金属"]),
    ("红色口红", {"lip_color": "red"}, []),
    # 祖母 grandmother inside 祖母绿 emerald
    ("祖母绿眼睛的女人", {"eye_color": "green", "gender": "feminine"}, []),
    # 眼/目 eye inside glasses, 海 sea inside pirate, 空 sky inside airport, 发 hair inside glowing
    ("眼鏡をかけた女性", {"gender": "feminine"}, ["眼鏡"]),
    ("戴眼镜的男人", {"gender": "masculine"}, ["眼镜"]),
    ("戴著眼鏡的老先生", {"age": "elderly", "gender": "masculine"}, ["眼鏡"]),
    ("海賊の男", {"gender": "masculine"}, ["海賊"]),
    ("海盗", {}, ["海盗"]),
    ("空港の女性", {"gender": "feminine"}, ["空港"]),
    ("发光的眼睛", {}, ["发光"]),
    # negations are one word
    ("ひげなしの男性", {"facial_hair": "none", "gender": "masculine"}, []),
    ("無精ひげの男", {"facial_hair": "stubble", "gender": "masculine"}, []),
    ("化粧なしの女性", {"makeup": False, "gender": "feminine"}, []),
    ("没有胡子的男人", {"facial_hair": "none", "gender": "masculine"}, []),
    ("他有胡子", {"facial_hair": "beard", "gender": "masculine"}, []),
    # 深 dark inside 深夜 late night; 海军 navy inside 海军蓝
    ("深夜的图书馆", {"time_of_day": "night", "scene": "library"}, []),
    ("海军蓝背景", {"background_color": canon.BACKGROUND_RGB["navy"]}, []),
])
def test_longer_words_win_over_the_keys_inside_them(prompt: str, expected: dict, unknown: list[str]) -> None:
    parsed = parse_prompt(prompt)
    assert parsed.attributes.model_dump(exclude_none=True) == expected
    assert parsed.unknown_words == unknown


def test_colours_attach_across_particles_and_hair_length() -> None:
    assert parse_prompt("髪が赤い").attributes.hair_color == "red"  # noun before the colour
    assert parse_prompt("肌が白い").attributes.skin_tone == "fair"
    a = parse_prompt("明るい茶色の長い髪と濃い茶色のひげ").attributes
    assert (a.hair_color, a.hair_style, a.facial_hair) == ("dark-brown", "long", "beard")
    a = parse_prompt("浅棕色的眼睛，黑色长发").attributes
    assert (a.eye_color, a.hair_color, a.hair_style) == ("hazel", "black", "long")


def test_the_prompt_language_decides_keys_both_languages_have() -> None:
    # 先生: "Mr" in Chinese, "teacher" in Japanese; 青色: teal in Chinese, blue in Japanese.
    assert parse_prompt("王先生，灰色头发").attributes.gender == "masculine"
    assert parse_prompt("先生の女性").attributes.gender == "feminine"
    assert parse_prompt("先生の女性").unknown_words == ["先生"]
    assert parse_prompt("青色の背景").attributes.background_color == canon.BACKGROUND_RGB["blue"]
    assert parse_prompt("青色背景").attributes.background_color == canon.BACKGROUND_RGB["teal"]
    both = {k for k in set(_JA) & set(_ZH) if _JA[k] != _ZH[k]}
    assert both == {"先生", "青色"}  # any new one is a decision to make (and to test here)


def test_ages_in_numbers_and_chinese_numerals() -> None:
    for prompt, years in [("30歳の女性", 30), ("30代の男性", 35), ("三十岁的女人", 30), ("二十多岁的男人", 25),
                          ("十几岁的女孩", 15), ("四十代の女性", 45), ("６０歳の男性", 60)]:
        a = parse_prompt(prompt).attributes
        assert a.age_years == years, prompt
    assert parse_prompt("十几岁的女孩").attributes.age == "teen"


def test_mixed_language_prompt() -> None:
    a = parse_prompt("赤い髪の woman, 夜の街, 柔和的灯光").attributes
    assert (a.hair_color, a.gender, a.scene, a.time_of_day, a.lighting_style) == (
        "red", "feminine", "city", "night", "soft")


def test_every_traditional_key_means_its_simplified_key() -> None:
    entries = _entries(zh)
    traditional = {k.translate(zh.TRADITIONAL): v for k, v in entries.items() if k.translate(zh.TRADITIONAL) != k}
    assert len(traditional) > 200
    assert all(_ZH[k] == v for k, v in traditional.items())
    for key in ("頭髮", "鬍子", "眼睛", "溫暖", "攝影棚", "圖書館", "辦公室", "海灘", "膠片", "復古", "雀斑", "化妝"):
        assert key in _ZH


def test_every_entry_uses_canonical_values() -> None:
    values = {"age": canon.AGES, "gender": canon.GENDERS, "skin_tone": canon.SKIN_TONES,
              "hair_color": canon.HAIR_COLORS, "hair_style": canon.HAIR_STYLES, "facial_hair": canon.FACIAL_HAIR,
              "lip_color": canon.LIP_COLORS, "scene": canon.SCENES, "time_of_day": canon.TIMES_OF_DAY,
              "lighting_style": canon.LIGHTING_STYLES, "light_temperature": canon.LIGHT_TEMPERATURES,
              "makeup": ("true", "false"), "freckles": ("true", "false"), "rim_light": ("true",),
              "film_grain": ("true",), "vintage": ("true",), "background_named": tuple(canon.BACKGROUND_RGB),
              "noun": ("hair", "eyes", "lips", "lipstick", "skin", "background", "beard", "light")}
    colours = {*canon.HAIR_FROM_COLOR, *canon.EYES_FROM_COLOR, *canon.LIPS_FROM_COLOR, *canon.SKIN_FROM_COLOR,
               *canon.BACKGROUND_RGB, *canon.LIGHT_FROM_COLOR}
    for entries in (_JA, _ZH):
        for key, entry in entries.items():
            for kind, value in entry:
                if kind == "age+gender":
                    age, gender = value.split(":")
                    assert age in canon.AGES and gender in canon.GENDERS, key
                elif kind == "color":
                    assert value in colours, key
                elif kind != "unknown":
                    assert value in values[kind], key
    for module in (ja, zh):
        assert set(module.COLORS) >= module.MODIFIERS


def _families(entries: dict) -> Counter:
    noun_family = {"hair": "hair", "eyes": "eyes", "lips": "lips", "lipstick": "lips", "skin": "skin",
                   "background": "scene", "beard": "facial_hair", "light": "lighting"}
    kind_family = {"age": ("age",), "gender": ("gender",), "age+gender": ("age", "gender"), "skin_tone": ("skin",),
                   "hair_color": ("hair",), "hair_style": ("hair",), "facial_hair": ("facial_hair",),
                   "freckles": ("skin details",), "makeup": ("makeup",), "lip_color": ("lips",),
                   "scene": ("scene",), "background_named": ("scene",), "time_of_day": ("time_of_day",),
                   "lighting_style": ("lighting",), "light_temperature": ("lighting",), "rim_light": ("lighting",),
                   "film_grain": ("film",), "vintage": ("film",), "color": ("colour",)}
    counts: Counter = Counter()
    for entry in entries.values():
        found = set()
        for kind, value in entry:
            found.update((noun_family[value],) if kind == "noun" else kind_family.get(kind, ()))
        counts.update(found)
    return counts


def test_japanese_and_chinese_vocabularies_are_at_least_as_rich_as_korean() -> None:
    korean = _families({**{k: (("color", v),) for k, v in ko.COLORS.items()},
                        **{k: (("noun", v),) for k, v in ko.NOUNS.items()},
                        **{k: (v,) for k, v in ko.WORDS.items()}})
    english = _families({**{k: (("color", v),) for k, v in en.COLORS.items()},
                         **{k: (("noun", v),) for k, v in en.NOUNS.items()},
                         **{k: (v,) for k, v in en.WORDS.items()}})
    for counts in (_families(_JA), _families(_entries(zh))):
        for family in set(korean) | set(english):
            assert counts[family] >= korean[family], family
            assert counts[family] > 0, family


@pytest.mark.parametrize("prompt", ["😀🎉", "🙂 👍🏽", "Привет, мир", "สวัสดี", "!!!"])
def test_prompts_we_cannot_read_are_not_understood(prompt: str) -> None:
    parsed = parse_prompt(prompt)
    assert not parsed.understood
    assert parsed.attributes.model_dump(exclude_none=True) == {}
    assert parsed.unknown_words == [w for w in prompt.lower().replace(",", " ").split() if w != "!!!"]


def test_filler_only_and_partly_understood_prompts_are_understood() -> None:
    assert parse_prompt("a portrait photo").understood  # asks for nothing in particular
    assert parse_prompt("肖像写真").understood
    parsed = parse_prompt("🙂 赤い髪の魔法使い")
    assert parsed.understood and parsed.attributes.hair_color == "red"
    assert parsed.unknown_words == ["🙂", "魔法使い"]


# --- designer ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def designer() -> AttributeDesigner:
    from portraittalker.head.ict import ICTFaceKit

    return AttributeDesigner(ICTFaceKit(ICT_NPZ),
                             DesignerConfig(texture_size=SIZE, canvas_width=1024, background_size=64))


@needs_ict
def test_emoji_only_prompt_gives_one_warning_line(designer: AttributeDesigner,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="portraittalker.avatar.designer"):
        avatar = designer.design("😀🎉", seed=0)
    records = [r for r in caplog.records if r.name == "portraittalker.avatar.designer"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    message = records[0].getMessage()
    assert "not understood" in message and "😀🎉" in message and "\n" not in message
    assert avatar.attributes["unknown_words"] == ["😀🎉"]


@needs_ict
def test_partly_understood_prompt_lists_unknown_words_at_info(designer: AttributeDesigner,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="portraittalker.avatar.designer"):
        designer.design("魔法使いの赤い髪の女性 🧙", seed=0)
    records = [r for r in caplog.records if r.name == "portraittalker.avatar.designer"]
    assert [r.levelno for r in records] == [logging.INFO]
    assert "魔法使い" in records[0].getMessage() and "🧙" in records[0].getMessage()


@needs_ict
@pytest.mark.parametrize("prompt", ["赤い髪と緑の目の若い女性、夜の街、ネオン",
                                    "一位红色短发绿色眼睛的中年女性，柔和的影棚灯光，夜晚的城市街道"])
def test_japanese_and_chinese_prompts_change_the_avatar(designer: AttributeDesigner, prompt: str) -> None:
    default = designer.design("😀", seed=3)
    np.testing.assert_array_equal(default.material.albedo, designer.design("a portrait photo", seed=3).material.albedo)
    avatar = designer.design(prompt, seed=3)
    again = designer.design(prompt, seed=3)
    np.testing.assert_array_equal(avatar.material.albedo, again.material.albedo)  # deterministic
    diff = np.abs(avatar.material.albedo.astype(np.int16) - default.material.albedo.astype(np.int16))
    assert diff.mean() > 2.0
    assert avatar.attributes["hair_color"] == "red" and avatar.attributes["scene"] == "city"
    assert avatar.attributes["unknown_words"] == []
    assert not np.array_equal(avatar.background.image, default.background.image)
